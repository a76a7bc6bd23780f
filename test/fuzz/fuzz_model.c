/*
 * test/fuzz/fuzz_model.c
 *	  libFuzzer target: reading model blobs and training states.
 *
 * Whatever the bytes, reading must either fail with a status or give a
 * model that scores, encodes back to the same bytes, and (as a training
 * state) trains without touching memory it does not own.  The first byte
 * picks what the rest is:
 *
 *	0	a model blob, as is
 *	1	a valid model blob of a shape taken from the input, with the rest of
 *		the input XORed over it and the checksum recomputed: this reaches
 *		the checks behind the checksum, which random bytes rarely pass
 *	2	a training state, as is
 *	3	a valid training state with rows, damaged like 1 (header and model
 *		checksums recomputed), then trained
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mixrec/crc32c.h"
#include "mixrec/fit.h"
#include "mixrec/kernels.h"
#include "mixrec/model.h"
#include "mixrec/predict.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Choose the kernels once, as _PG_init does
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	KernelsInit();
	return 0;
}

/*
 * Decode a model blob; on success score a row and check the round trip
 */
static void
TryModel(const uint8_t *blob, size_t len)
{
	MixrecModel model;
	MixrecError err;
	float	   *storage;
	float	   *x;
	float	   *work;
	float	   *soup;
	double	   *out;
	uint8_t    *again;

	/*
	 * The header alone, from a copy of just its first bytes (so a read past
	 * them is caught), must agree with the full decode wherever that passes
	 */
	{
		size_t		avail = len < MIXREC_HEADER_MAX_BYTES ? len : MIXREC_HEADER_MAX_BYTES;
		uint8_t    *head = malloc(avail ? avail : 1);
		MixrecModel peeked;
		int			peek_ok;

		memcpy(head, blob, avail);
		peek_ok = ModelPeekHeader(head, avail, len, &peeked, &err) == MIXREC_OK;
		free(head);
		if (ModelDecodeHeader(blob, len, &model, &err) != MIXREC_OK)
			return;
		if (!peek_ok || memcmp(&peeked.shape, &model.shape, sizeof(model.shape)) != 0 ||
			peeked.flags != model.flags || peeked.alpha != model.alpha)
			abort();
	}
	storage = malloc(sizeof(float) * ModelFloatCount(&model.shape, model.flags));
	ModelBindStorage(&model, storage);
	if (ModelDecodeArrays(blob, len, &model, &err) != MIXREC_OK)
	{
		free(storage);
		return;
	}
	x = calloc(MlpInputDim(&model.shape), sizeof(float));
	work = malloc(sizeof(float) * ScoreWorkFloats(&model, 1));
	soup = malloc(sizeof(float) * MlpParamCount(&model.shape));
	out = malloc(sizeof(double) * MlpOutputDim(&model.shape));
	ScoreSoupParams(&model, model.alpha, soup);
	for (int mode = SCORE_BLEND; mode <= SCORE_SOUP; mode++)
		ScoreRows(&model, (ScoreMode) mode, model.alpha, soup, x, 1, work, out);
	again = malloc(len);
	ModelEncode(&model, again);
	if (memcmp(again, blob, len) != 0)
		abort();				/* a valid blob must encode back to itself */
	free(again);
	free(out);
	free(soup);
	free(work);
	free(x);
	free(storage);
}

/*
 * Open a training state; on success add a row, flush, and reopen it
 */
static void
TryState(const uint8_t *bytes, size_t len)
{
	uint8_t    *copy = aligned_alloc(8, (len + 8) & ~(size_t) 7);
	FitState	state;
	FitWork		work;
	MixrecError err;
	float	   *floats;
	unsigned char *scratch;

	memcpy(copy, bytes, len);
	if (FitStateOpen(copy, len, &state, 1, &err) != MIXREC_OK)
	{
		free(copy);
		return;
	}
	floats = malloc(sizeof(float) * FitWorkFloats(&state));
	scratch = aligned_alloc(8, (FitWorkBytes(&state) + 8) & ~(size_t) 7);
	FitWorkBind(&work, &state, floats, scratch);
	{
		float	   *x = calloc(MlpInputDim(&state.model.shape), sizeof(float));
		float		y[1] = {1.0f};

		if (MlpOutputDim(&state.model.shape) == 1)
			FitStateAdd(&state, x, y, 1.0f, 1, 1, &work);
		free(x);
	}
	FitStateFlush(&state, &work);
	/* Training may diverge (then the model check fails), never crash */
	(void) FitStateOpen(copy, len, &state, 1, &err);
	free(scratch);
	free(floats);
	free(copy);
}

/*
 * A valid model of a small shape taken from the input
 */
static uint8_t *
MakeModel(const uint8_t *data, size_t size, uint32_t flags, MixrecModel *model, float **storage,
		  size_t *len)
{
	uint8_t    *blob;

	memset(model, 0, sizeof(*model));
	model->shape.n_hidden = size > 0 ? data[0] % 3 : 1;
	model->shape.dims[0] = size > 1 ? 1 + data[1] % 9 : 3;
	for (int i = 1; i <= model->shape.n_hidden; i++)
		model->shape.dims[i] = size > 2 ? 1 + (data[2] >> (2 * i)) % 5 : 4;
	model->shape.dims[model->shape.n_hidden + 1] = 1;
	model->alpha = 0.5;
	model->flags = flags;
	*storage = calloc(ModelFloatCount(&model->shape, flags), sizeof(float));
	ModelBindStorage(model, *storage);
	ModelInitParams(model, 7, MODEL_INIT_INDEPENDENT);
	if (flags & MIXREC_FLAG_STANDARDIZE)
		for (int j = 0; j < MlpInputDim(&model->shape); j++)
			model->std[j] = 1.0f;
	if (flags & MIXREC_FLAG_OPTIMIZER)
		model->adam = AdamDefaults();
	*len = ModelEncodedSize(model);
	blob = malloc(*len);
	ModelEncode(model, blob);
	return blob;
}

/*
 * Recompute a blob's trailing checksum
 */
static void
Reseal(uint8_t *blob, size_t len)
{
	uint32_t	crc = Crc32c(blob, len - 4);

	for (int i = 0; i < 4; i++)
		blob[len - 4 + i] = (uint8_t) (crc >> (8 * i));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;

	switch (data[0] % 4)
	{
		case 0:
			TryModel(data + 1, size - 1);
			break;
		case 1:
			{
				MixrecModel model;
				float	   *storage;
				size_t		len;
				uint8_t    *blob = MakeModel(data + 1, size - 1, (data[0] >> 2) & MIXREC_FLAG_ALL,
											 &model, &storage, &len);

				for (size_t i = 4; i < size && i - 4 < len - 4; i++)
					blob[i - 4] ^= data[i];
				Reseal(blob, len);
				TryModel(blob, len);
				free(blob);
				free(storage);
			}
			break;
		case 2:
			TryState(data + 1, size - 1);
			break;
		case 3:
			{
				MixrecModel model;
				float	   *storage;
				size_t		model_len;
				uint8_t    *blob = MakeModel(data + 1, size - 1, MIXREC_FLAG_OPTIMIZER |
											 ((data[0] >> 2) & MIXREC_FLAG_STANDARDIZE),
											 &model, &storage, &model_len);
				size_t		len = FitStateBytes(&model, 2, 2);
				uint8_t    *state_bytes = aligned_alloc(8, (len + 8) & ~(size_t) 7);
				MixrecError err;
				FitState	state;

				if (FitStateCreate(state_bytes, len, &model, 2, 2, MIXREC_FIT_SHUFFLE, 1, &err) == MIXREC_OK)
				{
					/* Damage everything after the magic, then make every checksum agree */
					for (size_t i = 4; i < size && i < len; i++)
						state_bytes[i] ^= data[i];
					if (FitStateOpen(state_bytes, len, &state, 0, &err) == MIXREC_OK &&
						state.header.model_len <= len - MIXREC_FIT_HEADER_BYTES &&
						state.header.model_len >= 4 &&
						state.header.pool_rows <= state.header.pool_capacity &&
						(size_t) state.header.pool_rows * state.header.row_bytes <=
						len - MIXREC_FIT_HEADER_BYTES - state.header.model_len)
					{
						Reseal(state.model_blob, state.header.model_len);
						state.header.pool_crc = Crc32cUpdate(Crc32cStart(), state.pool,
															 (size_t) state.header.pool_rows * state.header.row_bytes);
						FitStateWriteHeader(&state);
					}
					TryState(state_bytes, len);
				}
				free(state_bytes);
				free(blob);
				free(storage);
			}
			break;
	}
	return 0;
}

/*
 * test/fuzz/fuzz_model.c
 *	  libFuzzer target: reading model blobs, input transforms and training
 *	  states.
 *
 * Whatever the bytes, reading must either fail with a status or give a
 * model that scores, encodes back to the same bytes, and (as a training
 * state) trains without touching memory it does not own; a transform that
 * passes TransformCheck must load into exactly the memory it asked for,
 * encode every kind of value into finite inputs or fail with a status,
 * find each vocabulary entry at its own index, and rebuild from its loaded
 * form into the same bytes.  The first byte picks what the rest is
 * (test/fuzz/regressions/ holds inputs of each kind):
 *
 *	0	a model blob, as is, and the same bytes as a transform section
 *	1	a valid model blob of a shape taken from the input (with an input
 *		transform, format version 2, when bit 4 of the first byte is set;
 *		its categorical columns embedded when bit 5 is, their tables
 *		stepped lazily when bit 6 is), with the rest of the input XORed
 *		over it and the checksum recomputed: this reaches the checks behind
 *		the checksum, which random bytes rarely pass
 *	2	a training state, as is
 *	3	a valid training state with rows, damaged like 1 (header and model
 *		checksums recomputed), then trained; its model has a transform
 *		with embedded categorical columns when bits 5 and 6 of the first
 *		byte are 0 and 1 (tables stepped lazily when bit 7 is set), a
 *		combination the older inputs of test/fuzz/regressions do not have
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixrec/crc32c.h"
#include "mixrec/fit.h"
#include "mixrec/kernels.h"
#include "mixrec/model.h"
#include "mixrec/predict.h"
#include "mixrec/random.h"
#include "mixrec/transform.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void TryTransform(const uint8_t *section, size_t len, uint32_t input_dim);

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
			peeked.flags != model.flags || peeked.alpha != model.alpha ||
			peeked.transform_len != model.transform_len)
			abort();
	}
	/* A transform that decoded must pass on its own and work */
	if (model.flags & MIXREC_FLAG_TRANSFORM)
	{
		size_t		memory_size;

		if (TransformCheck(model.transform, model.transform_len,
						   (uint32_t) MlpInputDim(&model.shape), &memory_size, &err) != MIXREC_OK)
			abort();
		TryTransform(model.transform, model.transform_len, (uint32_t) MlpInputDim(&model.shape));
	}
	storage = malloc(sizeof(float) * ModelFloatCount(&model));
	ModelBindStorage(&model, storage);
	if (ModelDecodeArrays(blob, len, &model, &err) != MIXREC_OK)
	{
		free(storage);
		return;
	}
	x = calloc(MlpInputDim(&model.shape), sizeof(float));
	work = malloc(sizeof(float) * ScoreWorkFloats(&model, 1));
	soup = malloc(sizeof(float) * ModelParamCount(&model));
	out = malloc(sizeof(double) * MlpOutputDim(&model.shape));
	ScoreSoupParams(&model, model.alpha, soup);
	for (int mode = SCORE_BLEND; mode <= SCORE_SOUP; mode++)
		ScoreRows(&model, (ScoreMode) mode, model.alpha, soup, x, 1, work, out);
	/* Inputs that name no row of an embedding table read the out-of-vocabulary row */
	for (int i = 0; i < MlpInputDim(&model.shape); i++)
	{
		static const float hostile[] = {NAN, -1.0f, 2.5f, 1e30f, 16777216.0f, -INFINITY};

		x[i] = hostile[i % 6];
	}
	ScoreRows(&model, SCORE_BLEND, model.alpha, NULL, x, 1, work, out);
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
	if (state.model.flags & MIXREC_FLAG_TRANSFORM)
		TryTransform(state.model.transform, state.model.transform_len,
					 (uint32_t) MlpInputDim(&state.model.shape));
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
 * Encode one column in every way the host may call it: each result is a
 * status, or finite inputs inside the column and nothing written outside
 */
static void
EncodeEveryWay(const Transform *t, uint32_t column, float *x)
{
	const TransformColumn *c = &t->columns[column];
	static const double numbers[] = {0.0, 1.5, -1e6, 1e300, -INFINITY, NAN};
	TransformText items[8];
	size_t		n_items = 0;
	double	   *elements = malloc(sizeof(double) * (c->length + 1));
	unsigned char *element_null = malloc(c->length + 1);
	TransformValue values[24];
	int			n_values = 0;
	MixrecError err;

	memset(values, 0, sizeof(values));
	values[n_values++].isnull = 1;
	for (int i = 0; i < 6; i++)
		values[n_values++].number = numbers[i];
	for (uint32_t v = 0; v < c->vocab_size && n_items < 6; v++)
	{
		uint64_t	count;

		TransformVocabEntry(t, column, v, &items[n_items], &count);
		if (items[n_items].isnull || TransformVocabLookup(t, column, items[n_items].data,
														  items[n_items].len) != (int32_t) v)
			abort();			/* distinct entries: each is found at its own index */
		n_items++;
	}
	items[n_items++] = (TransformText) {"\xff\xfe", 2, 0};
	items[n_items++] = (TransformText) {NULL, 0, 1};
	for (size_t i = 0; i < n_items; i++)
	{
		values[n_values].text = items[i];
		values[n_values++].number = 1.0;
	}
	values[n_values].items = items;
	values[n_values++].n_items = n_items;
	for (uint32_t e = 0; e < c->length; e++)
	{
		elements[e] = 0.25 * e;
		element_null[e] = e % 2;
	}
	values[n_values].elements = elements;
	values[n_values].element_null = element_null;
	values[n_values++].n_elements = c->length;
	values[n_values].elements = elements;
	values[n_values++].n_elements = c->length + 1;

	for (int i = 0; i < n_values; i++)
	{
		x[t->input_dim] = 12345.0f;
		if (TransformEncodeColumn(t, column, &values[i], x, &err) == MIXREC_OK)
			for (uint32_t j = c->position; j < c->position + c->width; j++)
				if (!isfinite(x[j]))
					abort();
		if (x[t->input_dim] != 12345.0f)
			abort();
	}
	free(element_null);
	free(elements);
}

/*
 * Rebuild a loaded transform from its own fields: a valid section is
 * canonical, so this must give back its bytes
 */
static void
Rebuild(const Transform *t, const uint8_t *section, size_t len)
{
	TransformColumnSpec *specs = calloc(t->n_columns, sizeof(TransformColumnSpec));
	uint8_t    *again;
	uint32_t	dim;
	MixrecError err;

	for (uint32_t i = 0; i < t->n_columns; i++)
	{
		const TransformColumn *c = &t->columns[i];
		TransformColumnSpec *s = &specs[i];
		double	   *stats = malloc(sizeof(double) * (2 * (size_t) c->length + 1));
		TransformText *vocab = malloc(sizeof(TransformText) * ((size_t) c->vocab_size + 1));
		uint64_t   *counts = malloc(sizeof(uint64_t) * ((size_t) c->vocab_size + 1));

		s->name = c->name;
		s->type_name = c->type_name;
		s->kind = c->kind;
		s->flags = c->flags;
		s->length = c->length;
		s->rows = c->rows;
		s->nulls = c->nulls;
		s->mean = c->mean;
		s->std = c->std;
		for (uint32_t e = 0; c->kind == TRANSFORM_DENSE && e < c->length; e++)
			TransformElementStats(t, i, e, &stats[e], &stats[c->length + e]);
		s->element_mean = stats;
		s->element_std = stats + c->length;
		s->vocab_size = c->vocab_size;
		for (uint32_t v = 0; v < c->vocab_size; v++)
			TransformVocabEntry(t, i, v, &vocab[v], &counts[v]);
		s->vocab = vocab;
		s->vocab_count = counts;
	}
	again = malloc(len);
	if (TransformSectionSize(specs, t->n_columns) != len ||
		TransformBuild(specs, t->n_columns, again, len, &dim, &err) != MIXREC_OK ||
		dim != t->input_dim || memcmp(again, section, len) != 0)
		abort();
	free(again);
	for (uint32_t i = 0; i < t->n_columns; i++)
	{
		free((void *) specs[i].element_mean);
		free((void *) specs[i].vocab);
		free((void *) specs[i].vocab_count);
	}
	free(specs);
}

/*
 * Check a transform section; when it passes, load it into exactly the
 * memory it asked for, encode every column every way, standardise, rebuild
 */
static void
TryTransform(const uint8_t *section, size_t len, uint32_t input_dim)
{
	size_t		memory_size;
	MixrecError err;
	void	   *memory;
	const Transform *t;
	float	   *x;
	float	   *mean;
	float	   *std;

	if (TransformCheck(section, len, input_dim, &memory_size, &err) != MIXREC_OK)
		return;
	memory = malloc(memory_size);
	t = TransformLoad(section, len, memory, memory_size);
	if (t == NULL || t->input_dim != input_dim)
		abort();
	x = malloc(sizeof(float) * ((size_t) input_dim + 1));
	for (uint32_t i = 0; i < t->n_columns; i++)
	{
		if (TransformFindColumn(t, t->columns[i].name) != (int) i)
			abort();			/* names are unique */
		EncodeEveryWay(t, i, x);
	}
	mean = malloc(sizeof(float) * input_dim);
	std = malloc(sizeof(float) * input_dim);
	TransformStandardization(t, mean, std);
	for (uint32_t j = 0; j < input_dim; j++)
		if (!isfinite(mean[j]) || !isfinite(std[j]) || !(std[j] > 0.0f))
			abort();
	Rebuild(t, section, len);
	free(std);
	free(mean);
	free(x);
	free(memory);
}

/*
 * A valid transform of input_dim inputs, its columns' kinds, flags and
 * sizes drawn from a seed (every kind, vocabularies of 0..11 entries so
 * both lookups are reached; with embed, categorical columns embedded in 1
 * to 3 dimensions).  A seed, not input bytes: the bytes after the first
 * few are the damage XORed over the whole blob, which must be mostly zero
 * for the header to survive.  The caller frees the section.
 */
static uint8_t *
MakeTransform(uint64_t seed, uint32_t input_dim, int embed, uint32_t *len)
{
	MixrecRandom rng;
	static char names[64][8];
	static char texts[16][8];
	static TransformText vocab[16];
	static uint64_t counts[16];
	static const double means[4] = {0.5, -1.0, 0.0, 2.0};
	static const double stds[4] = {1.0, 0.0, 3.0, 0.5};
	TransformColumnSpec specs[64];
	uint32_t	n = 0;
	uint32_t	remaining = input_dim;
	uint8_t    *section;
	uint32_t	dim;
	MixrecError err;

	RandomSeed(&rng, seed);
	for (int i = 0; i < 16; i++)
	{
		snprintf(texts[i], sizeof(texts[i]), "v%d", i);
		vocab[i] = (TransformText) {texts[i], strlen(texts[i]), 0};
		counts[i] = 16 - i;
	}
	for (; remaining > 0 && n < 64; n++)
	{
		uint8_t		b = (uint8_t) (RandomNext(&rng) >> 56);
		TransformColumnSpec *s = &specs[n];
		uint32_t	width;

		memset(s, 0, sizeof(*s));
		snprintf(names[n], sizeof(names[n]), "c%u", (unsigned) n);
		s->name = names[n];
		s->type_name = "t";
		s->kind = (TransformKind) (1 + b % 6);
		s->length = 1;
		s->rows = 10;
		s->nulls = b % 3;
		s->mean = 0.5;
		s->std = (b & 1) ? 0.0 : 1.5;
		s->element_mean = means;
		s->element_std = stds;
		s->vocab = vocab;
		s->vocab_count = counts;
		switch (s->kind)
		{
			case TRANSFORM_NUMERIC:
				s->flags = (b >> 3) & (TRANSFORM_MISSING | TRANSFORM_LOG);
				break;
			case TRANSFORM_BOOLEAN:
				s->flags = (b >> 3) & TRANSFORM_MISSING;
				break;
			case TRANSFORM_CATEGORICAL:
				s->flags = (b & 0x80) ? TRANSFORM_FROM_INTEGER : 0;
				s->vocab_size = (b >> 3) % 12;
				if (embed)
				{
					s->flags |= TRANSFORM_EMBED;
					s->length = 1 + (b >> 5) % 3;
				}
				break;
			case TRANSFORM_MULTI_HOT:
				s->vocab_size = (b >> 3) % 12;
				break;
			case TRANSFORM_DENSE:
				s->length = 1 + (b >> 3) % 4;
				s->flags = (b >> 7) & TRANSFORM_MISSING;
				break;
			case TRANSFORM_TIME:
				s->flags = (((b >> 3) & 1) ? TRANSFORM_MISSING : 0) |
					(((b >> 4) & 1) ? TRANSFORM_DAY_TIME : 0);
				s->mean = 1.7e9;
				break;
		}
		width = TransformWidth(s->kind, s->flags, s->length, s->vocab_size);
		if (width > remaining)
		{
			/* Fill what is left with one plain number */
			s->kind = TRANSFORM_NUMERIC;
			s->flags = 0;
			s->length = 1;
			s->vocab_size = 0;
			width = 1;
		}
		remaining -= width;
	}
	*len = (uint32_t) TransformSectionSize(specs, n);
	section = malloc(*len ? *len : 1);
	if (*len == 0 || TransformBuild(specs, n, section, *len, &dim, &err) != MIXREC_OK ||
		dim != input_dim)
		abort();
	return section;
}

/*
 * A valid model of a small shape taken from the input; with
 * MIXREC_FLAG_TRANSFORM, of 1..32 inputs with a transform that the caller
 * frees, whose categorical columns are embedded with embed (their tables
 * stepped lazily with lazy)
 */
static uint8_t *
MakeModel(const uint8_t *data, size_t size, uint32_t flags, int embed, int lazy,
		  MixrecModel *model, float **storage, size_t *len)
{
	uint8_t    *blob;

	memset(model, 0, sizeof(*model));
	model->shape.n_hidden = size > 0 ? data[0] % 3 : 1;
	model->shape.dims[0] = size > 1 ? 1 + data[1] % 9 : 3;
	if (flags & MIXREC_FLAG_TRANSFORM)
	{
		uint32_t	section_len;
		uint8_t    *section;

		model->shape.dims[0] = 1 + (size > 1 ? data[1] : 2) % 32;
		section = MakeTransform(size > 2 ? data[0] | data[1] << 8 | data[2] << 16 : 1,
								(uint32_t) model->shape.dims[0], embed, &section_len);
		ModelAttachTransform(model, section, section_len);
	}
	for (int i = 1; i <= model->shape.n_hidden; i++)
		model->shape.dims[i] = size > 2 ? 1 + (data[2] >> (2 * i)) % 5 : 4;
	model->shape.dims[model->shape.n_hidden + 1] = 1;
	model->alpha = 0.5;
	model->flags = flags;
	*storage = calloc(ModelFloatCount(model), sizeof(float));
	ModelBindStorage(model, *storage);
	ModelInitParams(model, 7, MODEL_INIT_INDEPENDENT);
	if (flags & MIXREC_FLAG_STANDARDIZE)
		for (int j = 0; j < MlpInputDim(&model->shape); j++)
			model->std[j] = 1.0f;
	if (flags & MIXREC_FLAG_OPTIMIZER)
	{
		model->adam = AdamDefaults();
		model->adam.lazy_embeddings = lazy;
	}
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
			if (size >= 9)
				TryTransform(data + 1, size - 1, (uint32_t) data[5] | (uint32_t) data[6] << 8 |
							 (uint32_t) data[7] << 16 | (uint32_t) data[8] << 24);
			break;
		case 1:
			{
				MixrecModel model;
				float	   *storage;
				size_t		len;
				uint8_t    *blob = MakeModel(data + 1, size - 1, (data[0] >> 2) & MIXREC_FLAG_ALL,
											 (data[0] >> 5) & 1, (data[0] >> 6) & 1,
											 &model, &storage, &len);

				for (size_t i = 4; i < size && i - 4 < len - 4; i++)
					blob[i - 4] ^= data[i];
				Reseal(blob, len);
				TryModel(blob, len);
				free((void *) model.transform);
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
				int			embed = (data[0] & 0x60) == 0x40;
				uint8_t    *blob = MakeModel(data + 1, size - 1, MIXREC_FLAG_OPTIMIZER |
											 ((data[0] >> 2) & MIXREC_FLAG_STANDARDIZE) |
											 (embed ? MIXREC_FLAG_TRANSFORM : 0),
											 embed, (data[0] >> 7) & 1,
											 &model, &storage, &model_len);
				size_t		len = FitStateBytes(&model, 2, 2);
				uint8_t    *state_bytes = aligned_alloc(8, (len + 8) & ~(size_t) 7);
				MixrecError err;
				FitState	state;

				if (FitStateCreate(state_bytes, len, &model, 2, 2, 1, MIXREC_FIT_SHUFFLE, 1, &err) == MIXREC_OK)
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
				free((void *) model.transform);
				free(blob);
				free(storage);
			}
			break;
	}
	return 0;
}

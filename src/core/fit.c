/*
 * src/core/fit.c
 *	  Training states: streamed mini-batch Adam in one flat buffer.
 *
 * Design (the layout is in include/mixrec/fit.h): a state holds a model
 * with its Adam state, and a pool of rows not yet trained on.  A row is
 * appended to the pool and the pool's running checksum extended; when the
 * pool is full, its rows are unpacked into the scratch arrays of a
 * FitWork, shuffled with the state's own generator (a window of
 * pool_capacity rows, so memory stays bounded whatever the data size), and
 * trained in batches with TrainStep; then the pool empties and the model is
 * sealed with a fresh checksum.  The header, rewritten after every change
 * with its own checksum, carries the counters.  The state is thus valid
 * (every byte under a checksum) between any two calls, which is what lets
 * a database ship it between processes and machines.
 *
 * Two flushed states average into one, weighted by the rows each has seen
 * (model averaging, as used for data-parallel epochs): an epoch run in
 * parallel is local SGD with averaging, not the same computation as a
 * serial epoch.
 */
#include <math.h>
#include <string.h>

#include "mixrec/bytes.h"
#include "mixrec/crc32c.h"
#include "mixrec/fit.h"
#include "mixrec/random.h"

#define FIT_MAGIC			"MXRS"

static size_t Pad8(size_t n);
static size_t RowBytes(const MlpShape *shape);
static void TrainPool(FitState *state, FitWork *work);

static size_t
Pad8(size_t n)
{
	return (n + 7) & ~(size_t) 7;
}

/*
 * Bytes of one pooled row: x, y and w as float32, o and c, padding
 */
static size_t
RowBytes(const MlpShape *shape)
{
	return sizeof(float) * (MlpInputDim(shape) + MlpOutputDim(shape) + 1) + 4;
}





/*
 * Size a state
 */
size_t
FitStateBytes(const MixrecModel *model, int batch_size, int pool_batches)
{
	return MIXREC_FIT_HEADER_BYTES + Pad8(ModelEncodedSize(model)) +
		(size_t) batch_size * pool_batches * RowBytes(&model->shape);
}

/*
 * Write the header, with a fresh checksum over bytes 16..127
 */
void
FitStateWriteHeader(FitState *state)
{
	uint8_t    *p = state->bytes;
	const FitHeader *h = &state->header;
	double		sums[3] = {h->loss_total, h->loss_open, h->loss_commercial};

	memset(p, 0, MIXREC_FIT_HEADER_BYTES);
	memcpy(p, FIT_MAGIC, 4);
	p[4] = MIXREC_FIT_STATE_VERSION;
	PutU32(p + 8, h->total_len);
	PutU32(p + 16, h->model_len);
	PutU32(p + 20, h->batch_size);
	PutU32(p + 24, h->pool_capacity);
	PutU32(p + 28, h->pool_rows);
	PutU32(p + 32, h->row_bytes);
	PutU32(p + 36, h->pool_crc);
	PutU64(p + 40, h->rows_seen);
	PutU64(p + 48, h->steps);
	for (int i = 0; i < 3; i++)
	{
		uint64_t	bits;

		memcpy(&bits, &sums[i], 8);
		PutU64(p + 56 + 8 * i, bits);
	}
	for (int i = 0; i < 4; i++)
		PutU64(p + 80 + 8 * i, h->rng[i]);
	PutU32(p + 112, h->flags);
	p[116] = (uint8_t) (h->partitions & 0xff);
	p[117] = (uint8_t) (h->partitions >> 8);
	p[118] = (uint8_t) (h->states & 0xff);
	p[119] = (uint8_t) (h->states >> 8);
	PutU64(p + 120, h->rows_skipped);
	PutU32(p + 12, Crc32c(p + 16, MIXREC_FIT_HEADER_BYTES - 16));
}

/*
 * Create a state from a model with optimiser state
 */
MixrecStatus
FitStateCreate(uint8_t *bytes, size_t len, const MixrecModel *model, int batch_size,
			   int pool_batches, int partitions, uint32_t flags, uint64_t seed,
			   MixrecError *err)
{
	FitState	state;
	MixrecRandom rng;
	MixrecStatus status;

	if (!(model->flags & MIXREC_FLAG_OPTIMIZER))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "a training state needs a model with optimizer state");
	if (batch_size < 1 || pool_batches < 1 ||
		(size_t) batch_size * pool_batches > MIXREC_MAX_POOL_ROWS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "batch size %d times %d batches is outside 1..%d pooled rows",
						  batch_size, pool_batches, MIXREC_MAX_POOL_ROWS);
	if (len != FitStateBytes(model, batch_size, pool_batches))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "wrong buffer size for a training state");
	if (partitions < 1 || partitions > MIXREC_MAX_PARTITIONS)
		return MixrecFail(err, MIXREC_ERR_LIMIT, "partitions %d is outside 1..%d",
						  partitions, MIXREC_MAX_PARTITIONS);

	memset(&state, 0, sizeof(state));
	state.bytes = bytes;
	state.header.total_len = (uint32_t) len;
	state.header.model_len = (uint32_t) ModelEncodedSize(model);
	state.header.batch_size = (uint32_t) batch_size;
	state.header.pool_capacity = (uint32_t) batch_size * pool_batches;
	state.header.row_bytes = (uint32_t) RowBytes(&model->shape);
	state.header.pool_crc = Crc32cStart();
	if (flags & ~(uint32_t) MIXREC_FIT_FLAGS)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "unknown training state flags 0x%x", (unsigned) flags);
	state.header.flags = flags;
	state.header.partitions = (uint16_t) partitions;
	state.header.states = 1;
	RandomSeed(&rng, seed);
	memcpy(state.header.rng, rng.s, sizeof(rng.s));

	memset(bytes + MIXREC_FIT_HEADER_BYTES, 0, len - MIXREC_FIT_HEADER_BYTES);
	ModelEncode(model, bytes + MIXREC_FIT_HEADER_BYTES);
	FitStateWriteHeader(&state);

	/* Open it once, verified: proves what we wrote */
	status = FitStateOpen(bytes, len, &state, 1, err);
	return status;
}

/*
 * Open a state in place
 */
MixrecStatus
FitStateOpen(uint8_t *bytes, size_t len, FitState *state, int verify, MixrecError *err)
{
	FitHeader  *h = &state->header;
	MixrecStatus status;
	size_t		expected;

	memset(state, 0, sizeof(*state));
	state->bytes = bytes;
	if (len < MIXREC_FIT_HEADER_BYTES || memcmp(bytes, FIT_MAGIC, 4) != 0)
		return MixrecFail(err, MIXREC_ERR_CORRUPT, "not a mixrec training state (bad magic number)");
	if (bytes[4] != MIXREC_FIT_STATE_VERSION || bytes[5] != 0 || bytes[6] != 0 || bytes[7] != 0)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "training state version %u is not supported (this build reads version %d)",
						  (unsigned) (bytes[4] | (bytes[5] << 8)), MIXREC_FIT_STATE_VERSION);
	h->total_len = GetU32(bytes + 8);
	if (h->total_len != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "training state is %s: its header says %u bytes, got %zu",
						  len < h->total_len ? "truncated" : "longer than its header says",
						  (unsigned) h->total_len, len);
	if (verify && GetU32(bytes + 12) != Crc32c(bytes + 16, MIXREC_FIT_HEADER_BYTES - 16))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "training state checksum mismatch: the state is corrupt");

	h->model_len = GetU32(bytes + 16);
	h->batch_size = GetU32(bytes + 20);
	h->pool_capacity = GetU32(bytes + 24);
	h->pool_rows = GetU32(bytes + 28);
	h->row_bytes = GetU32(bytes + 32);
	h->pool_crc = GetU32(bytes + 36);
	h->rows_seen = GetU64(bytes + 40);
	h->steps = GetU64(bytes + 48);
	{
		double		sums[3];

		for (int i = 0; i < 3; i++)
		{
			uint64_t	bits = GetU64(bytes + 56 + 8 * i);

			memcpy(&sums[i], &bits, 8);
		}
		h->loss_total = sums[0];
		h->loss_open = sums[1];
		h->loss_commercial = sums[2];
	}
	for (int i = 0; i < 4; i++)
		h->rng[i] = GetU64(bytes + 80 + 8 * i);
	h->flags = GetU32(bytes + 112);
	h->partitions = (uint16_t) (bytes[116] | (bytes[117] << 8));
	h->states = (uint16_t) (bytes[118] | (bytes[119] << 8));
	h->rows_skipped = GetU64(bytes + 120);

	if (verify)
	{
		if (h->model_len > len - MIXREC_FIT_HEADER_BYTES)
			return MixrecFail(err, MIXREC_ERR_CORRUPT, "training state is too short for its model");
		if (h->batch_size < 1 || h->pool_capacity < h->batch_size ||
			h->pool_capacity % h->batch_size != 0 || h->pool_capacity > MIXREC_MAX_POOL_ROWS ||
			h->pool_rows >= h->pool_capacity || (h->flags & ~(uint32_t) MIXREC_FIT_FLAGS) ||
			h->partitions < 1 || h->partitions > MIXREC_MAX_PARTITIONS || h->states < 1 ||
			!isfinite(h->loss_total) || !isfinite(h->loss_open) || !isfinite(h->loss_commercial))
			return MixrecFail(err, MIXREC_ERR_CORRUPT, "training state header is invalid");
	}

	/* Even for a state of our own, never point outside the buffer */
	if (h->model_len > len - MIXREC_FIT_HEADER_BYTES ||
		h->pool_capacity > MIXREC_MAX_POOL_ROWS || h->pool_rows >= h->pool_capacity ||
		h->batch_size < 1 || h->batch_size > h->pool_capacity ||
		h->partitions < 1 || h->partitions > MIXREC_MAX_PARTITIONS)
		return MixrecFail(err, MIXREC_ERR_CORRUPT, "training state header is invalid");
	state->model_blob = bytes + MIXREC_FIT_HEADER_BYTES;
	if ((status = ModelBindInPlace(state->model_blob, h->model_len, &state->model, verify,
								   err)) != MIXREC_OK)
		return status;
	if (!(state->model.flags & MIXREC_FLAG_OPTIMIZER))
		return MixrecFail(err, MIXREC_ERR_CORRUPT, "training state holds a model without optimizer state");
	state->pool = state->model_blob + Pad8(h->model_len);
	if (MIXREC_FIT_HEADER_BYTES + Pad8(h->model_len) +
		(size_t) h->pool_capacity * h->row_bytes != len ||
		h->row_bytes != RowBytes(&state->model.shape))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "training state size does not match its contents");

	if (verify)
	{
		const MlpShape *shape = &state->model.shape;
		size_t		d_in = MlpInputDim(shape);
		size_t		d_out = MlpOutputDim(shape);

		if (h->row_bytes != RowBytes(shape))
			return MixrecFail(err, MIXREC_ERR_CORRUPT, "training state row size does not match its model");
		expected = MIXREC_FIT_HEADER_BYTES + Pad8(h->model_len) +
			(size_t) h->pool_capacity * h->row_bytes;
		if (expected != len)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "training state size does not match its contents: expected %zu bytes, got %zu",
							  expected, len);
		for (const uint8_t *p = state->model_blob + h->model_len, *end = bytes + len;
			 p < end; p++)
			if (*p != 0 && (p < state->pool || p >= state->pool + (size_t) h->pool_rows * h->row_bytes))
				return MixrecFail(err, MIXREC_ERR_CORRUPT,
								  "training state has data in its unused bytes");
		if (Crc32cUpdate(Crc32cStart(), state->pool, (size_t) h->pool_rows * h->row_bytes) != h->pool_crc)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "training state checksum mismatch: its pooled rows are corrupt");
		for (uint32_t r = 0; r < h->pool_rows; r++)
		{
			const uint8_t *row = state->pool + (size_t) r * h->row_bytes;
			float		values[1];

			for (size_t j = 0; j < d_in + d_out + 1; j++)
			{
				memcpy(values, row + 4 * j, 4);
				if (!isfinite(values[0]) ||
					(j >= d_in && j < d_in + d_out && !(values[0] >= 0.0f && values[0] <= 1.0f)) ||
					(j == d_in + d_out && values[0] < 0.0f))
					return MixrecFail(err, MIXREC_ERR_CORRUPT,
									  "training state pooled row %u holds an invalid value", (unsigned) r);
			}
			if (row[4 * (d_in + d_out + 1)] > 1 || row[4 * (d_in + d_out + 1) + 1] > 1)
				return MixrecFail(err, MIXREC_ERR_CORRUPT,
								  "training state pooled row %u holds an invalid domain", (unsigned) r);
		}
	}
	return MIXREC_OK;
}

/*
 * Size the scratch space of a pool
 */
size_t
FitWorkFloats(const FitState *state)
{
	const MlpShape *shape = &state->model.shape;
	size_t		rows = state->header.pool_capacity;

	return TrainWorkFloats(&state->model, (int) state->header.batch_size) +
		rows * (MlpInputDim(shape) + MlpOutputDim(shape) + 1);
}

size_t
FitWorkBytes(const FitState *state)
{
	return Pad8(TrainWorkBytes(&state->model, (int) state->header.batch_size)) +
		sizeof(uint32_t) * (state->header.pool_capacity + 1) +
		2 * (size_t) state->header.pool_capacity;
}

/*
 * Carve a FitWork out of caller-provided storage (bytes 8-byte aligned)
 */
void
FitWorkBind(FitWork *work, const FitState *state, float *floats, unsigned char *bytes)
{
	const MlpShape *shape = &state->model.shape;
	size_t		rows = state->header.pool_capacity;
	int			batch = (int) state->header.batch_size;

	TrainWorkBind(&work->train, &state->model, batch, floats, bytes);
	floats += TrainWorkFloats(&state->model, batch);
	bytes += Pad8(TrainWorkBytes(&state->model, batch));	/* keeps the order array aligned */
	work->x = floats;
	work->y = work->x + rows * MlpInputDim(shape);
	work->w = work->y + rows * MlpOutputDim(shape);
	work->order = (uint32_t *) bytes;
	bytes += sizeof(uint32_t) * (rows + 1);
	work->o = bytes;
	work->c = bytes + rows;
}

/*
 * Train the pooled rows in (shuffled) batches and empty the pool
 */
static void
TrainPool(FitState *state, FitWork *work)
{
	FitHeader  *h = &state->header;
	const MlpShape *shape = &state->model.shape;
	size_t		d_in = MlpInputDim(shape);
	size_t		d_out = MlpOutputDim(shape);
	size_t		n = h->pool_rows;
	TrainData	data;
	double		lr;

	for (size_t r = 0; r < n; r++)
	{
		const uint8_t *row = state->pool + r * h->row_bytes;

		memcpy(work->x + r * d_in, row, sizeof(float) * d_in);
		memcpy(work->y + r * d_out, row + 4 * d_in, sizeof(float) * d_out);
		memcpy(work->w + r, row + 4 * (d_in + d_out), sizeof(float));
		work->o[r] = row[4 * (d_in + d_out + 1)];
		work->c[r] = row[4 * (d_in + d_out + 1) + 1];
		work->order[r] = (uint32_t) r;
	}
	if (h->flags & MIXREC_FIT_SHUFFLE)
	{
		MixrecRandom rng;

		memcpy(rng.s, h->rng, sizeof(rng.s));
		for (size_t i = n - 1; i > 0 && n > 1; i--)
		{
			size_t		j = RandomBelow(&rng, i + 1);
			uint32_t	swap = work->order[i];

			work->order[i] = work->order[j];
			work->order[j] = swap;
		}
		memcpy(h->rng, rng.s, sizeof(rng.s));
	}

	/*
	 * An epoch split over K partial states takes batches of batch_size / K
	 * rows in each (the caller's division), so that every partition makes
	 * the serial run's number of Adam steps, and the average of their
	 * models moves as far as one serial model.  Adam normalises each step
	 * by the gradient's root mean square, which a batch K times smaller
	 * inflates by up to sqrt(K) with sampling noise: the learning rate is
	 * scaled by sqrt(K) to keep the step, Adam's square-root scaling rule
	 * (Malladi et al., "On the SDEs and Scaling Rules for Adaptive Gradient
	 * Algorithms", 2022).  The model keeps its own rate: only the steps
	 * taken here use the scaled one.
	 */
	lr = state->model.adam.lr;
	if (h->partitions > 1)
		state->model.adam.lr = lr * sqrt((double) h->partitions);

	data.input_dim = (int) d_in;
	data.output_dim = (int) d_out;
	data.rows = n;
	data.x = work->x;
	data.y = work->y;
	data.w = work->w;
	data.o = work->o;
	data.c = work->c;
	for (size_t first = 0; first < n; first += h->batch_size)
	{
		int			rows = (int) (n - first < h->batch_size ? n - first : h->batch_size);
		LossValue	loss;

		if (work->train.cancel)
			work->train.cancel();
		loss = TrainStep(&state->model, &data, work->order + first, rows, &work->train);

		h->loss_total += loss.total * rows;
		h->loss_open += loss.open * rows;
		h->loss_commercial += loss.commercial * rows;
		h->steps++;
	}
	state->model.adam.lr = lr;
	/* Unused bytes stay zero, so a state's bytes depend on its contents alone */
	memset(state->pool, 0, n * h->row_bytes);
	h->pool_rows = 0;
	h->pool_crc = Crc32cStart();
	ModelSeal(state->model_blob, h->model_len, &state->model);
}

/*
 * Append one row to the pool, training it when full
 */
void
FitStateAdd(FitState *state, const float *x, const float *y, float w, unsigned char o,
			unsigned char c, FitWork *work)
{
	FitHeader  *h = &state->header;
	const MlpShape *shape = &state->model.shape;
	size_t		d_in = MlpInputDim(shape);
	size_t		d_out = MlpOutputDim(shape);
	uint8_t    *row;

	/* A full pool is trained as soon as it fills; never write past it */
	if (h->pool_rows >= h->pool_capacity)
		TrainPool(state, work);
	row = state->pool + (size_t) h->pool_rows * h->row_bytes;
	memcpy(row, x, sizeof(float) * d_in);
	memcpy(row + 4 * d_in, y, sizeof(float) * d_out);
	memcpy(row + 4 * (d_in + d_out), &w, sizeof(float));
	row[4 * (d_in + d_out + 1)] = o;
	row[4 * (d_in + d_out + 1) + 1] = c;
	row[4 * (d_in + d_out + 1) + 2] = 0;
	row[4 * (d_in + d_out + 1) + 3] = 0;
	h->pool_crc = Crc32cUpdate(h->pool_crc, row, h->row_bytes);
	h->pool_rows++;
	h->rows_seen++;
	if (h->pool_rows == h->pool_capacity)
		TrainPool(state, work);
	FitStateWriteHeader(state);
}

/*
 * Train the rows left in the pool
 */
void
FitStateFlush(FitState *state, FitWork *work)
{
	if (state->header.pool_rows > 0)
		TrainPool(state, work);
	FitStateWriteHeader(state);
}

/*
 * Check that two states train the same model the same way
 */
MixrecStatus
FitStateCompatible(const FitState *a, const FitState *b, MixrecError *err)
{
	const MixrecModel *ma = &a->model;
	const MixrecModel *mb = &b->model;

	if (ma->shape.n_hidden != mb->shape.n_hidden ||
		memcmp(ma->shape.dims, mb->shape.dims, sizeof(int) * (ma->shape.n_hidden + 2)) != 0)
		return MixrecFail(err, MIXREC_ERR_DIMENSION,
						  "cannot combine training states of different model shapes");
	/* Rows encoded by two transforms are not the same inputs */
	if (((ma->flags ^ mb->flags) & MIXREC_FLAG_TRANSFORM) ||
		((ma->flags & MIXREC_FLAG_TRANSFORM) &&
		 (ma->transform_len != mb->transform_len ||
		  memcmp(ma->transform, mb->transform, ma->transform_len) != 0)))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "cannot combine training states with different input transforms");
	if (ma->flags != mb->flags || ma->alpha != mb->alpha ||
		ma->adam.kind != mb->adam.kind || ma->adam.lr != mb->adam.lr ||
		ma->adam.beta1 != mb->adam.beta1 || ma->adam.beta2 != mb->adam.beta2 ||
		ma->adam.eps != mb->adam.eps || ma->adam.weight_decay != mb->adam.weight_decay ||
		ma->adam.lazy_embeddings != mb->adam.lazy_embeddings)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "cannot combine training states with different alpha or optimizer settings");
	if (a->header.batch_size != b->header.batch_size ||
		a->header.pool_capacity != b->header.pool_capacity ||
		a->header.flags != b->header.flags)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "cannot combine training states with different batch sizes or shuffling");
	if (a->header.partitions != b->header.partitions)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "cannot combine training states for %u and %u partitions",
						  (unsigned) a->header.partitions, (unsigned) b->header.partitions);
	if ((ma->flags & MIXREC_FLAG_STANDARDIZE) &&
		(memcmp(ma->mean, mb->mean, sizeof(float) * MlpInputDim(&ma->shape)) != 0 ||
		 memcmp(ma->std, mb->std, sizeof(float) * MlpInputDim(&ma->shape)) != 0))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "cannot combine training states with different standardization");
	return MIXREC_OK;
}

/*
 * Average b into a, weighted by rows seen; both must be flushed
 */
void
FitStateAverage(FitState *a, const FitState *b)
{
	FitHeader  *ha = &a->header;
	const FitHeader *hb = &b->header;
	size_t		params = ModelParamCount(&a->model);
	/* Parameters and first moments are averaged alike, second moments too */
	float	   *pa[2 * MIXREC_MODELS] = {a->model.params[MIXREC_OPEN], a->model.params[MIXREC_COMMERCIAL],
	a->model.m[MIXREC_OPEN], a->model.m[MIXREC_COMMERCIAL]};
	const float *pb[2 * MIXREC_MODELS] = {b->model.params[MIXREC_OPEN], b->model.params[MIXREC_COMMERCIAL],
	b->model.m[MIXREC_OPEN], b->model.m[MIXREC_COMMERCIAL]};
	float	  **va = a->model.v;
	float	  *const *vb = b->model.v;
	double		total = (double) ha->rows_seen + (double) hb->rows_seen;
	float		wa;
	float		wb;

	if (hb->rows_seen > 0 && ha->rows_seen > 0)
	{
		/* Both weights from the same symmetric expression: a+b == b+a */
		wa = (float) ((double) ha->rows_seen / total);
		wb = (float) ((double) hb->rows_seen / total);
		for (int k = 0; k < 2 * MIXREC_MODELS; k++)
			for (size_t i = 0; i < params; i++)
				pa[k][i] = wa * pa[k][i] + wb * pb[k][i];
		for (int k = 0; k < MIXREC_MODELS; k++)
			for (size_t i = 0; i < params; i++)
				va[k][i] = wa * va[k][i] + wb * vb[k][i];
	}
	else if (hb->rows_seen > 0)
	{
		for (int k = 0; k < 4; k++)
			memcpy(pa[k], pb[k], sizeof(float) * params);
		for (int k = 0; k < 2; k++)
			memcpy(va[k], vb[k], sizeof(float) * params);
	}

	if (b->model.step > a->model.step)
		a->model.step = b->model.step;
	ha->rows_seen += hb->rows_seen;
	ha->rows_skipped += hb->rows_skipped;
	ha->states = (uint16_t) (ha->states + hb->states > UINT16_MAX ? UINT16_MAX :
							 ha->states + hb->states);
	ha->steps += hb->steps;
	ha->loss_total += hb->loss_total;
	ha->loss_open += hb->loss_open;
	ha->loss_commercial += hb->loss_commercial;
	for (int i = 0; i < 4; i++)
		ha->rng[i] ^= hb->rng[i];
	ModelSeal(a->model_blob, ha->model_len, &a->model);
	FitStateWriteHeader(a);
}

/*
 * src/core/model_format.c
 *	  The portable binary format of a model (format versions 1 and 2).
 *
 * Every integer and float is little-endian, whatever the host.  There is
 * no padding: fields are read and written byte by byte, so a blob may sit
 * at any address.
 *
 *	offset	bytes	field
 *	0		4		magic "MXRC"
 *	4		2		format version: 2 with an input transform, else 1
 *	6		2		reserved, zero
 *	8		4		flags: 0x1 standardisation, 0x2 optimiser state,
 *					0x4 input transform (set in version 2, never in 1)
 *	12		4		total length in bytes, checksum included
 *	16		4		k, the number of hidden layers (0..16)
 *	20		4(k+2)	dims: input, hidden[0..k-1], output (1..65536 each)
 *	..		8		alpha (float64, 0..1)
 *	if flags & 0x4 (version 2 only):
 *	..		4		T, bytes of the input transform (at least 1)
 *	..		4		E, numbers in one model's embedding tables (what the
 *					transform's embedded columns imply; 0 without them)
 *	if flags & 0x2, the optimiser settings (56 bytes):
 *	..		4		kind: 0 Adam (L2 weight decay), 1 AdamW (decoupled)
 *	..		4		embedding tables: 0 stepped like every parameter, 1
 *					lazily (SparseAdam); 1 only with E > 0
 *	..		8		step: Adam steps taken (int64)
 *	..		40		lr, beta1, beta2, eps, weight_decay (float64 each)
 *	then float32 arrays, P = parameters of one model (its MLP's, then E of
 *	its embedding tables), D = input dim:
 *	..		8D		if flags & 0x1: mean[D], std[D]
 *	..		8P		open[P], commercial[P], each in state_dict order, then
 *					the tables in column order, each [rows][dim]
 *	..		16P		if flags & 0x2: m_open, v_open, m_commercial, v_commercial
 *	..		T		if flags & 0x4: the input transform, laid out as
 *					src/core/transform.c describes
 *	last	4		CRC-32C of every byte before it
 *
 * Everything before the arrays is a multiple of 4 bytes, so the arrays are
 * 4-byte aligned when the blob is (ModelBindInPlace relies on it); the
 * transform, of any length, comes after them for that reason.  A model
 * without a transform is written as version 1, byte for byte as before
 * version 2 existed, so older readers still read it; a model with
 * embeddings sets fields that older readers of version 2 require to be
 * zero, so they refuse it rather than misread it.
 *
 * Reading validates, in this order, before anything is used: the length
 * can hold a header, the magic, the version, the declared length against
 * the actual one, the checksum, the flags the version allows, the shape
 * and its limits, the transform's length, the exact length they imply,
 * the scalars, the transform (TransformCheck, with every byte present),
 * and finally (ModelDecodeArrays) that every array value is finite.  A
 * newer format version must keep reading every older one.
 */
#include <math.h>
#include <string.h>

#include "mixrec/bytes.h"
#include "mixrec/crc32c.h"
#include "mixrec/model.h"
#include "mixrec/transform.h"

#define FORMAT_MAGIC		"MXRC"
#define FIXED_HEADER_BYTES	20		/* up to the dims */
#define TRANSFORM_BYTES		8		/* the transform's length and 4 reserved */
#define OPTIMIZER_BYTES		56
#define CHECKSUM_BYTES		4

/* How much of a blob a reader checks, and what it may point into */
typedef enum DecodeMode
{
	DECODE_PEEK,				/* the header only, perhaps of a partial blob */
	DECODE_TRUSTED,				/* a whole blob this code wrote */
	DECODE_VERIFY				/* a whole blob from elsewhere */
} DecodeMode;

static size_t ScalarsSize(const MlpShape *shape, uint32_t flags);
static size_t HeaderSize(const MlpShape *shape, uint32_t flags);
static size_t TransformPart(const MixrecModel *model);
static MixrecStatus Reclassify(MixrecError *err, const char *context);
static void PutFloats(uint8_t *p, const float *values, size_t n);
static void GetFloats(const uint8_t *p, float *values, size_t n);
static void GetOptimizer(const uint8_t *p, MixrecModel *model);
static MixrecStatus CheckPrologue(const uint8_t *blob, size_t avail, size_t len,
								  MixrecError *err);
static MixrecStatus DecodeHeaderFields(const uint8_t *blob, size_t avail, size_t len,
									   MixrecModel *model, MixrecError *err);
static MixrecStatus DecodeHeader(const uint8_t *blob, size_t avail, size_t len,
								 MixrecModel *model, DecodeMode mode, MixrecError *err);

/*
 * Turn an error found inside a blob into a corruption error with context
 */
static MixrecStatus
Reclassify(MixrecError *err, const char *context)
{
	char		detail[MIXREC_ERROR_LEN];

	if (err == NULL)
		return MIXREC_ERR_CORRUPT;
	memcpy(detail, err->message, sizeof(detail));
	return MixrecFail(err, MIXREC_ERR_CORRUPT, "%s: %s", context, detail);
}

/*
 * Write float32 values little-endian
 */
static void
PutFloats(uint8_t *p, const float *values, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, values, n * sizeof(float));
#else
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &values[i], sizeof(bits));
		PutU32(p + 4 * i, bits);
	}
#endif
}

/*
 * Read little-endian float32 values
 */
static void
GetFloats(const uint8_t *p, float *values, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(values, p, n * sizeof(float));
#else
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	bits = GetU32(p + 4 * i);

		memcpy(&values[i], &bits, sizeof(bits));
	}
#endif
}

/*
 * The optimizer block (OPTIMIZER_BYTES): the kind, 4 bytes of padding, the
 * step and the five hyperparameters.  Reads only; the callers check.
 */
static void
GetOptimizer(const uint8_t *p, MixrecModel *model)
{
	model->adam.kind = (AdamKind) GetU32(p);
	model->step = (int64_t) GetU64(p + 8);
	model->adam.lr = GetF64(p + 16);
	model->adam.beta1 = GetF64(p + 24);
	model->adam.beta2 = GetF64(p + 32);
	model->adam.eps = GetF64(p + 40);
	model->adam.weight_decay = GetF64(p + 48);
	model->adam.lazy_embeddings = (int) GetU32(p + 4);
}

/*
 * Compute the size of everything before the optimiser settings: the fixed
 * fields, dims, alpha and the transform's length
 */
static size_t
ScalarsSize(const MlpShape *shape, uint32_t flags)
{
	size_t		size = FIXED_HEADER_BYTES + 4 * (size_t) (shape->n_hidden + 2) + 8;

	if (flags & MIXREC_FLAG_TRANSFORM)
		size += TRANSFORM_BYTES;
	return size;
}

/*
 * Compute the size of everything before the float arrays
 */
static size_t
HeaderSize(const MlpShape *shape, uint32_t flags)
{
	size_t		size = ScalarsSize(shape, flags);

	if (flags & MIXREC_FLAG_OPTIMIZER)
		size += OPTIMIZER_BYTES;
	return size;
}

/*
 * Count the transform's bytes in a model's encoding
 */
static size_t
TransformPart(const MixrecModel *model)
{
	return (model->flags & MIXREC_FLAG_TRANSFORM) ? model->transform_len : 0;
}

/*
 * Compute the encoded size of a model
 */
size_t
ModelEncodedSize(const MixrecModel *model)
{
	return HeaderSize(&model->shape, model->flags) +
		sizeof(float) * ModelFloatCount(model) +
		TransformPart(model) + CHECKSUM_BYTES;
}

/*
 * Encode a model into exactly ModelEncodedSize() bytes
 */
void
ModelEncode(const MixrecModel *model, uint8_t *out)
{
	size_t		total = ModelEncodedSize(model);
	uint8_t    *p = out;
	const MlpShape *shape = &model->shape;
	size_t		params = ModelParamCount(model);

	memcpy(p, FORMAT_MAGIC, 4);
	/* Version 1 unless the model needs 2: older readers keep reading it */
	PutU16(p + 4, (model->flags & MIXREC_FLAG_TRANSFORM) ? 2 : 1);
	PutU16(p + 6, 0);
	PutU32(p + 8, model->flags);
	PutU32(p + 12, (uint32_t) total);
	PutU32(p + 16, (uint32_t) shape->n_hidden);
	p += FIXED_HEADER_BYTES;
	for (int i = 0; i < shape->n_hidden + 2; i++, p += 4)
		PutU32(p, (uint32_t) shape->dims[i]);
	PutF64(p, model->alpha);
	p += 8;

	if (model->flags & MIXREC_FLAG_TRANSFORM)
	{
		PutU32(p, model->transform_len);
		PutU32(p + 4, (uint32_t) model->embed_floats);
		p += TRANSFORM_BYTES;
	}
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		PutU32(p, (uint32_t) model->adam.kind);
		PutU32(p + 4, model->embed_floats > 0 ? (uint32_t) model->adam.lazy_embeddings : 0);
		PutU64(p + 8, (uint64_t) model->step);
		PutF64(p + 16, model->adam.lr);
		PutF64(p + 24, model->adam.beta1);
		PutF64(p + 32, model->adam.beta2);
		PutF64(p + 40, model->adam.eps);
		PutF64(p + 48, model->adam.weight_decay);
		p += OPTIMIZER_BYTES;
	}

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		PutFloats(p, model->mean, MlpInputDim(shape));
		p += 4 * (size_t) MlpInputDim(shape);
		PutFloats(p, model->std, MlpInputDim(shape));
		p += 4 * (size_t) MlpInputDim(shape);
	}
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		PutFloats(p, model->params[k], params);
		p += 4 * params;
	}
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
		for (int k = 0; k < MIXREC_MODELS; k++)
		{
			PutFloats(p, model->m[k], params);
			p += 4 * params;
			PutFloats(p, model->v[k], params);
			p += 4 * params;
		}
	if (model->flags & MIXREC_FLAG_TRANSFORM)
	{
		memcpy(p, model->transform, model->transform_len);
		p += model->transform_len;
	}

	PutU32(p, Crc32c(out, total - CHECKSUM_BYTES));
}

/*
 * Bind a model's arrays to the floats inside a blob
 */
MixrecStatus
ModelBindInPlace(uint8_t *blob, size_t len, MixrecModel *model, int verify,
				 MixrecError *err)
{
	MixrecStatus status;
	size_t		offset;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	return MixrecFail(err, MIXREC_ERR_ARGUMENT,
					  "training states are supported on little-endian hosts only");
#endif
	if (((uintptr_t) blob) % sizeof(float) != 0)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "model blob is not aligned");

	/*
	 * The same header checks as every reader; a trusted blob skips the
	 * checksum and the transform's scan.  The transform now points into the
	 * blob.
	 */
	if ((status = DecodeHeader(blob, len, len, model, verify ? DECODE_VERIFY : DECODE_TRUSTED,
							   err)) != MIXREC_OK)
		return status;
	offset = HeaderSize(&model->shape, model->flags);
	ModelBindStorage(model, (float *) (blob + offset));
	if (verify && (status = ModelCheck(model, err)) != MIXREC_OK)
		return Reclassify(err, "model is invalid");
	return MIXREC_OK;
}

/*
 * Write a bound-in-place model's step count and a fresh checksum
 */
void
ModelSeal(uint8_t *blob, size_t len, const MixrecModel *model)
{
	/* The step follows the optimiser's kind and 4 reserved bytes */
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
		PutU64(blob + ScalarsSize(&model->shape, model->flags) + 8, (uint64_t) model->step);
	PutU32(blob + len - CHECKSUM_BYTES, Crc32c(blob, len - CHECKSUM_BYTES));
}

/*
 * Return the format version of a validated blob
 */
int
ModelBlobVersion(const uint8_t *blob)
{
	return GetU16(blob + 4);
}

/*
 * Return the checksum a blob carries in its last four bytes
 */
uint32_t
ModelStoredChecksum(const uint8_t *blob, size_t len)
{
	return GetU32(blob + len - CHECKSUM_BYTES);
}

/*
 * Check the fixed fields every reader checks first: magic, version, the
 * declared length against the blob's length (of which avail bytes are
 * here, avail >= 4)
 */
static MixrecStatus
CheckPrologue(const uint8_t *blob, size_t avail, size_t len, MixrecError *err)
{
	uint16_t	version;
	uint32_t	declared;

	if (len < 4 || memcmp(blob, FORMAT_MAGIC, 4) != 0)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "not a mixrec model (bad magic number)");
	if (len < FIXED_HEADER_BYTES || avail < FIXED_HEADER_BYTES)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model is truncated: %zu bytes cannot hold a header", len);

	version = GetU16(blob + 4);
	if (version == 0 || version > MIXREC_FORMAT_VERSION)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model format version %u is not supported (this build reads format versions up to %d)",
						  (unsigned) version, MIXREC_FORMAT_VERSION);

	declared = GetU32(blob + 12);
	if (declared != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model is %s: its header says %u bytes, got %zu",
						  len < declared ? "truncated" : "longer than its header says",
						  (unsigned) declared, len);
	return MIXREC_OK;
}

/*
 * Validate the header fields after the prologue and fill the model's
 * scalars: flags (as the version allows them), shape and its limits, the
 * transform's length, the exact length they imply, alpha, the optimiser
 * settings.  Only the first avail bytes of the len-byte blob are read.
 */
static MixrecStatus
DecodeHeaderFields(const uint8_t *blob, size_t avail, size_t len, MixrecModel *model,
				   MixrecError *err)
{
	uint32_t	n_hidden;
	uint16_t	version = GetU16(blob + 4);
	const uint8_t *p;
	size_t		scalars;
	size_t		expected;
	MixrecStatus status;

	model->flags = GetU32(blob + 8);
	if (model->flags & ~(uint32_t) MIXREC_FLAG_ALL)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "unknown model flags 0x%x", (unsigned) model->flags);
	if (version == 1 && (model->flags & MIXREC_FLAG_TRANSFORM))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model format version 1 cannot carry an input transform (flag 0x%x)",
						  (unsigned) MIXREC_FLAG_TRANSFORM);
	if (version >= 2 && !(model->flags & MIXREC_FLAG_TRANSFORM))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model format version %u needs an input transform, and the model has none",
						  (unsigned) version);
	if (GetU16(blob + 6) != 0)
		return MixrecFail(err, MIXREC_ERR_CORRUPT, "reserved header field is not zero");

	n_hidden = GetU32(blob + 16);
	if (n_hidden > MIXREC_MAX_HIDDEN_LAYERS)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "a model has at most %d hidden layers, got %u",
						  MIXREC_MAX_HIDDEN_LAYERS, (unsigned) n_hidden);
	model->shape.n_hidden = (int) n_hidden;
	scalars = ScalarsSize(&model->shape, model->flags);
	if (len < scalars + CHECKSUM_BYTES)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model is truncated: %zu bytes cannot hold its layer sizes", len);
	if (avail < scalars)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "only %zu bytes of the model's header were read", avail);

	p = blob + FIXED_HEADER_BYTES;
	for (uint32_t i = 0; i < n_hidden + 2; i++, p += 4)
	{
		uint32_t	dim = GetU32(p);

		if (dim < 1 || dim > MIXREC_MAX_UNITS)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "layer size %u of the model is outside 1..%d",
							  (unsigned) dim, MIXREC_MAX_UNITS);
		model->shape.dims[i] = (int) dim;
	}
	if ((status = MlpShapeCheck(&model->shape, err)) != MIXREC_OK)
		return status;

	/* p is at alpha; the transform's length follows it */
	if (model->flags & MIXREC_FLAG_TRANSFORM)
	{
		model->transform_len = GetU32(p + 8);
		model->embed_floats = GetU32(p + 12);
		if (model->embed_floats > TRANSFORM_MAX_EMBED_FLOATS)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "model embedding tables of %zu numbers exceed the %d allowed",
							  model->embed_floats, TRANSFORM_MAX_EMBED_FLOATS);
		/* At most len keeps the sum below from wrapping on any host */
		if (model->transform_len < 1 || model->transform_len > len)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "model input transform of %u bytes is impossible in a model of %zu bytes",
							  (unsigned) model->transform_len, len);
	}

	expected = ModelEncodedSize(model);
	if (expected != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model size does not match its shape: expected %zu bytes, got %zu",
						  expected, len);
	if (avail < HeaderSize(&model->shape, model->flags))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "only %zu bytes of the model's header were read", avail);

	model->alpha = GetF64(p);
	p = blob + scalars;
	if (!(model->alpha >= 0.0 && model->alpha <= 1.0))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model alpha must be between 0 and 1, got %g", model->alpha);

	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		uint32_t	kind = GetU32(p);

		if (kind > ADAM_DECOUPLED)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "unknown optimizer kind %u in the model", (unsigned) kind);
		if (GetU32(p + 4) > (model->embed_floats > 0 ? 1u : 0u))
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "unknown embedding optimizer %u in the model", (unsigned) GetU32(p + 4));
		GetOptimizer(p, model);
		if ((status = AdamConfigCheck(&model->adam, err)) != MIXREC_OK)
			return Reclassify(err, "model optimizer state is invalid");
		if (model->step < 0)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "model optimizer step is negative");
	}
	return MIXREC_OK;
}

/*
 * Read and validate a header: the one parser behind every reader.  Only
 * the first avail bytes of the len-byte blob are read.  A whole blob
 * (avail == len, unless peeking) gets its transform pointed into it;
 * verifying also checks the checksum before the fields are trusted, and
 * the transform after them.
 */
static MixrecStatus
DecodeHeader(const uint8_t *blob, size_t avail, size_t len, MixrecModel *model,
			 DecodeMode mode, MixrecError *err)
{
	MixrecStatus status;
	size_t		memory_size;
	size_t		declared_embed;

	memset(model, 0, sizeof(*model));
	if (avail > len)
		avail = len;
	if (avail < 4)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "not a mixrec model (bad magic number)");
	if ((status = CheckPrologue(blob, avail, len, err)) != MIXREC_OK)
		return status;
	if (mode != DECODE_PEEK && avail != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "only %zu bytes of the model were read", avail);
	if (mode == DECODE_VERIFY &&
		Crc32c(blob, len - CHECKSUM_BYTES) != ModelStoredChecksum(blob, len))
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model checksum mismatch: the model is corrupt");
	if ((status = DecodeHeaderFields(blob, avail, len, model, err)) != MIXREC_OK)
		return status;

	if (mode == DECODE_PEEK || !(model->flags & MIXREC_FLAG_TRANSFORM))
		return MIXREC_OK;
	if (mode == DECODE_VERIFY &&
		TransformCheck(blob + len - CHECKSUM_BYTES - model->transform_len, model->transform_len,
					   (uint32_t) MlpInputDim(&model->shape), &memory_size, err) != MIXREC_OK)
		return Reclassify(err, "model input transform is invalid");
	declared_embed = model->embed_floats;
	ModelAttachTransform(model, blob + len - CHECKSUM_BYTES - model->transform_len,
						 model->transform_len);
	if (model->embed_floats != declared_embed)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model says its embedding tables hold %zu numbers, but its transform's take %zu",
						  declared_embed, model->embed_floats);
	return MIXREC_OK;
}

/*
 * Validate a blob's header, length, checksum and transform; fill the
 * model's scalars and point its transform into the blob
 */
MixrecStatus
ModelDecodeHeader(const uint8_t *blob, size_t len, MixrecModel *model,
				  MixrecError *err)
{
	return DecodeHeader(blob, len, len, model, DECODE_VERIFY, err);
}

/*
 * Read the header of a len-byte blob from its first avail bytes, without
 * the checksum and the transform, which need every byte
 */
MixrecStatus
ModelPeekHeader(const uint8_t *blob, size_t avail, size_t len, MixrecModel *model,
				MixrecError *err)
{
	return DecodeHeader(blob, avail, len, model, DECODE_PEEK, err);
}

/*
 * Copy a validated blob's arrays into bound storage and check them
 */
MixrecStatus
ModelDecodeArrays(const uint8_t *blob, size_t len, MixrecModel *model,
				  MixrecError *err)
{
	size_t		offset = HeaderSize(&model->shape, model->flags);
	size_t		floats = ModelFloatCount(model);
	MixrecStatus status;

	/* ModelDecodeHeader proved this, but a wrong call order must not overrun */
	if (offset + 4 * floats + TransformPart(model) + CHECKSUM_BYTES != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "model size does not match its shape");

	/* Arrays are bound contiguously in storage order, one copy reads them all */
	GetFloats(blob + offset, model->mean ? model->mean : model->params[MIXREC_OPEN], floats);

	if ((status = ModelCheck(model, err)) != MIXREC_OK)
		return Reclassify(err, "model is invalid");
	return MIXREC_OK;
}

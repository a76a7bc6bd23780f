/*
 * include/mixrec/model.h
 *	  A mixrec model (the open and commercial MLPs, alpha, standardisation,
 *	  optional Adam state and optional input transform) and its portable
 *	  binary format.
 *
 * A MixrecModel does not own memory: its arrays point into one float buffer
 * of ModelFloatCount() floats that the caller provides (ModelBindStorage),
 * and its input transform, if any, is a section (include/mixrec/transform.h)
 * that lives wherever the caller keeps it.  The binary layout is documented
 * in src/core/model_format.c.
 */
#ifndef MIXREC_MODEL_H
#define MIXREC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/adam.h"
#include "mixrec/mlp.h"
#include "mixrec/status.h"
#include "mixrec/transform.h"

/*
 * The newest format version.  A model is written as version 1 unless it
 * carries an input transform, which needs version 2; every version up to
 * this one is read.
 */
#define MIXREC_FORMAT_VERSION		2

/* Model flags; any other bit in a blob is rejected */
#define MIXREC_FLAG_STANDARDIZE		0x0001	/* carries mean and std */
#define MIXREC_FLAG_OPTIMIZER		0x0002	/* carries Adam moments and step */
#define MIXREC_FLAG_TRANSFORM		0x0004	/* carries an input transform (version 2) */
#define MIXREC_FLAG_ALL				0x0007

typedef enum ModelInitKind
{
	MODEL_INIT_INDEPENDENT = 0, /* each model from its own draw */
	MODEL_INIT_SHARED = 1		/* both models start from the same weights */
} ModelInitKind;

/* The two MLPs of a model, as indexes of its arrays */
#define MIXREC_OPEN				0
#define MIXREC_COMMERCIAL		1
#define MIXREC_MODELS			2

typedef struct MixrecModel
{
	MlpShape	shape;
	double		alpha;			/* weight of the open model, in [0, 1] */
	uint32_t	flags;

	/* with MIXREC_FLAG_STANDARDIZE, else NULL: [input_dim] each */
	float	   *mean;
	float	   *std;

	/*
	 * [ModelParamCount] each: params[MIXREC_OPEN], params[MIXREC_COMMERCIAL]:
	 * the MLP's parameters (MlpParamCount), then its embedding tables
	 */
	float	   *params[MIXREC_MODELS];

	/* with MIXREC_FLAG_OPTIMIZER, else NULL / zero: Adam's moments of each */
	AdamConfig	adam;
	int64_t		step;			/* Adam steps taken so far */
	float	   *m[MIXREC_MODELS];
	float	   *v[MIXREC_MODELS];

	/*
	 * with MIXREC_FLAG_TRANSFORM, else 0 / NULL: the input transform's
	 * section, transform_len bytes, not owned by the model
	 */
	uint32_t	transform_len;
	const uint8_t *transform;

	/*
	 * The transform's embedded columns: each model's parameters go on after
	 * its MLP's with one table per column, in column order, each [rows][dim]
	 * row-major like nn.Embedding.weight, embed_floats numbers in all.
	 * Set with the transform (ModelAttachTransform, or decoding).
	 */
	uint32_t	n_embed;
	TransformEmbedding embed[TRANSFORM_MAX_EMBEDDINGS];
	size_t		embed_floats;
} MixrecModel;

/*
 * Give a model its input transform (a section that passed TransformCheck,
 * kept where the caller keeps it): sets the flag and the embedding tables'
 * layout.  Before ModelFloatCount and ModelBindStorage.
 */
extern void ModelAttachTransform(MixrecModel *model, const uint8_t *section, uint32_t len);

/* Parameters of each of the two models: the MLP's and the embedding tables' */
extern size_t ModelParamCount(const MixrecModel *model);
/* Floats of storage a model of this shape, flags and transform needs */
extern size_t ModelFloatCount(const MixrecModel *model);
/* Point the model's arrays into storage (shape, flags, transform set) */
extern void ModelBindStorage(MixrecModel *model, float *storage);

/*
 * Embeddings.  An embedded column's first input holds the row of its table
 * (include/mixrec/transform.h); ModelEmbedRow reads it, taking any value
 * that is not a row number (NaN, negative, fractional, too large: a forged
 * input) as the out-of-vocabulary row, so no input reads outside a table.
 * ModelEmbedInputs copies rows x[rows][input_dim] to out, replacing each
 * embedded column's inputs with its row of the tables in params (one of
 * the model's parameter sets, or soup parameters of the same layout).
 */
extern const float *ModelEmbedTable(const MixrecModel *model, const float *params, uint32_t table);
extern uint32_t ModelEmbedRow(const TransformEmbedding *embedding, float value);
extern void ModelEmbedInputs(const MixrecModel *model, const float *params, const float *x,
							 int rows, float *out);

/*
 * Fill both parameter sets like PyTorch's default initialisation:
 * nn.Linear's, and N(0, 1) for nn.Embedding's tables
 */
extern void ModelInitParams(MixrecModel *model, uint64_t seed,
							ModelInitKind kind);

/*
 * Validate alpha, optimiser settings, every array of a bound model, and
 * its input transform (TransformCheck against the input dim)
 */
extern MixrecStatus ModelCheck(const MixrecModel *model, MixrecError *err);

/* Encoding */
extern size_t ModelEncodedSize(const MixrecModel *model);
extern void ModelEncode(const MixrecModel *model, uint8_t *out);

/*
 * Decoding in two steps: ModelDecodeHeader validates everything that can be
 * checked without storage (magic, version, length, checksum, shape, limits,
 * scalars, and the whole input transform with TransformCheck) and fills the
 * model's shape, flags, alpha, optimiser settings, transform_len and
 * embedding layout, and points model->transform into the blob: a caller
 * that keeps the model longer than the blob copies the section and points
 * there (ModelAttachTransform).  The caller
 * then binds ModelFloatCount() floats of storage and calls
 * ModelDecodeArrays, which copies the arrays and checks that every value is
 * finite and every scale positive (the transform must be set by then).
 */
extern MixrecStatus ModelDecodeHeader(const uint8_t *blob, size_t len,
									  MixrecModel *model, MixrecError *err);
extern MixrecStatus ModelDecodeArrays(const uint8_t *blob, size_t len,
									  MixrecModel *model, MixrecError *err);

/*
 * Read the header of a len-byte blob from its first avail bytes (at least
 * MIXREC_HEADER_MAX_BYTES of a longer blob), validating what the header
 * alone can show but not the checksum: for listing stored models without
 * reading their weights.  It fills transform_len and embed_floats but not
 * transform and the embedding layout (the section is at the end of the
 * blob).  What it returns is not proof that
 * the blob is intact.
 */
#define MIXREC_HEADER_MAX_BYTES		(20 + 4 * (MIXREC_MAX_HIDDEN_LAYERS + 2) + 8 + 8 + 56)
extern MixrecStatus ModelPeekHeader(const uint8_t *blob, size_t avail, size_t len,
									MixrecModel *model, MixrecError *err);

/*
 * Work on a blob in place (little-endian hosts, 4-byte aligned blob): bind
 * the model's arrays to the floats inside the blob, and its transform to
 * the section inside it.  With verify, the blob is validated like
 * ModelDecodeHeader + ModelDecodeArrays do (checksum, shape, transform,
 * finiteness); without (a blob this code wrote itself), the header goes
 * through the same parser and checks, and only the checksum and the scans
 * of every array value and of the transform are skipped.  After changing
 * the arrays or the step, ModelSeal writes the step and a fresh checksum.
 */
extern MixrecStatus ModelBindInPlace(uint8_t *blob, size_t len, MixrecModel *model,
									 int verify, MixrecError *err);
extern void ModelSeal(uint8_t *blob, size_t len, const MixrecModel *model);

/* The format version of a blob that passed ModelDecodeHeader */
extern int	ModelBlobVersion(const uint8_t *blob);

/* The checksum stored in the last four bytes of a blob (len >= 4) */
extern uint32_t ModelStoredChecksum(const uint8_t *blob, size_t len);

#endif							/* MIXREC_MODEL_H */

/*
 * include/mixrec/transform.h
 *	  The input transform of a model trained from typed columns: which
 *	  columns it reads, how each becomes inputs of the MLPs, and the
 *	  statistics and vocabularies fitted on the training rows.
 *
 * A transform is a section of a model blob (format version 2, flag
 * MIXREC_FLAG_TRANSFORM; layout in src/core/transform.c).  The host
 * converts each column's value of a row to a TransformValue (a number, a
 * text, a list of texts or a list of numbers, with NULLs) and the core
 * writes the inputs that column fills: TransformEncodeColumn.  The inputs
 * are then standardised with the model's mean and std like any array of
 * features; TransformStandardization gives the mean and std a transform
 * implies (the fitted statistics for numbers, dense elements and times,
 * 0 and 1 for indicator inputs), so indicators pass through unchanged.
 *
 * Inputs each kind fills, in this order, from the column's position:
 *	NUMERIC		the value (after the log scale with TRANSFORM_LOG);
 *				[missing]
 *	BOOLEAN		1 for true, 0 for false; [missing]
 *	CATEGORICAL	one per vocabulary entry, in vocabulary order, then the
 *				out-of-vocabulary bucket, then the NULL bucket; embedded
 *				(TRANSFORM_EMBED), length inputs instead: the first holds
 *				the row of the column's embedding table (the vocabulary
 *				index; vocab_size out of vocabulary; vocab_size + 1 NULL)
 *				and the others 0, and the model puts the table's row in
 *				their place (ModelEmbedInputs, include/mixrec/model.h)
 *	MULTI_HOT	the same inputs as CATEGORICAL; every element of the list
 *				sets its entry's input (or a bucket) to 1
 *	DENSE		one per element (length of them); [missing]
 *	TIME		seconds since 1970-01-01 00:00:00 UTC; with
 *				TRANSFORM_DAY_TIME the time of day as (sin, cos) of
 *				2*pi*second_of_day/86400; the day of the week as (sin, cos)
 *				of 2*pi*weekday/7 (weekday 0 is Sunday); [missing]
 * where [missing] is present with TRANSFORM_MISSING: 1 for a NULL, else 0.
 *
 * A NULL writes: NUMERIC and TIME the column's mean (0 after
 * standardisation) and 0 for the cyclic pairs; BOOLEAN 0; DENSE each
 * element's mean; CATEGORICAL and MULTI_HOT the NULL bucket (also for a
 * NULL element of a list).  A NULL element inside a DENSE value writes that
 * element's mean.  A value not in the vocabulary sets the out-of-vocabulary
 * bucket; never an error.
 *
 * Like the rest of the core, nothing here allocates: TransformCheck says how
 * much memory TransformLoad needs, and the caller provides it.
 */
#ifndef MIXREC_TRANSFORM_H
#define MIXREC_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/status.h"

typedef enum TransformKind
{
	TRANSFORM_NUMERIC = 1,
	TRANSFORM_BOOLEAN = 2,
	TRANSFORM_CATEGORICAL = 3,
	TRANSFORM_MULTI_HOT = 4,
	TRANSFORM_DENSE = 5,
	TRANSFORM_TIME = 6
} TransformKind;

/* Column flags; any other bit, or a bit its kind does not take, is rejected */
#define TRANSFORM_MISSING		0x01	/* NUMERIC, BOOLEAN, DENSE, TIME: a 0/1 NULL input */
#define TRANSFORM_LOG			0x02	/* NUMERIC: sign(x) * log1p(|x|) before standardising */
#define TRANSFORM_DAY_TIME		0x04	/* TIME: the time-of-day pair (timestamps, not dates) */
#define TRANSFORM_FROM_INTEGER	0x08	/* CATEGORICAL: an integer column, read as its text */
#define TRANSFORM_EMBED			0x10	/* CATEGORICAL: an embedding of length dimensions */

/* Limits a transform must respect */
#define TRANSFORM_MAX_COLUMNS	1600	/* as many as a PostgreSQL row can have */
#define TRANSFORM_MAX_NAME		63		/* bytes of a column name or a type name */
#define TRANSFORM_MAX_VALUE		1024	/* bytes of a vocabulary entry */
#define TRANSFORM_MAX_VOCABULARY 65534	/* entries of one column's vocabulary */
#define TRANSFORM_MAX_LENGTH	65536	/* elements of a DENSE column's values */
#define TRANSFORM_MAX_EMBED_DIM	1024	/* dimensions of an embedding */
#define TRANSFORM_MAX_EMBED_VOCABULARY ((1 << 24) - 2)	/* entries of an embedded column */
#define TRANSFORM_MAX_EMBEDDINGS 32		/* embedded columns of a transform */
#define TRANSFORM_MAX_EMBED_FLOATS (64 * 1024 * 1024)	/* numbers of one model's tables */

/*
 * An embedded column: its table has rows = vocabulary entries + 2 (the
 * out-of-vocabulary and NULL rows) of dim numbers each
 */
typedef struct TransformEmbedding
{
	uint32_t	column;
	uint32_t	position;		/* the first of the dim inputs it fills */
	uint32_t	dim;
	uint32_t	rows;
} TransformEmbedding;

/* A text: a category, a list element or a vocabulary entry */
typedef struct TransformText
{
	const char *data;
	size_t		len;
	int			isnull;
} TransformText;

/* One column's value in one row, as the host converts it */
typedef struct TransformValue
{
	int			isnull;			/* the whole value is NULL */
	double		number;			/* NUMERIC (before the log scale); BOOLEAN 0 or
								 * 1; TIME in seconds since 1970-01-01 UTC */
	TransformText text;			/* CATEGORICAL */
	const TransformText *items; /* MULTI_HOT: n_items elements */
	size_t		n_items;
	const double *elements;		/* DENSE: n_elements numbers... */
	const unsigned char *element_null;	/* ...and their NULL flags, or NULL */
	size_t		n_elements;
} TransformValue;

/*
 * One column as the trainer describes it to TransformBuild.  Statistics are
 * over the training rows: rows counted, NULLs among them, and the mean and
 * population standard deviation of the non-NULL values (after the log scale;
 * for TIME, of the seconds).  A DENSE column has per-element statistics
 * instead; a CATEGORICAL or MULTI_HOT column its vocabulary, most frequent
 * first, each entry with the number of times it was counted.
 */
typedef struct TransformColumnSpec
{
	const char *name;			/* NUL-terminated, 1..TRANSFORM_MAX_NAME bytes */
	const char *type_name;		/* the SQL type trained on, e.g. "text[]" */
	TransformKind kind;
	uint32_t	flags;
	uint32_t	length;			/* DENSE: elements per value; embedded
								 * CATEGORICAL: dimensions; else 1 */
	uint64_t	rows;
	uint64_t	nulls;
	double		mean;
	double		std;
	const double *element_mean; /* DENSE: [length] each */
	const double *element_std;
	uint32_t	vocab_size;		/* CATEGORICAL, MULTI_HOT; else 0 */
	const TransformText *vocab; /* [vocab_size], none NULL, all distinct */
	const uint64_t *vocab_count;	/* [vocab_size] */
} TransformColumnSpec;

/* A column of a loaded transform */
typedef struct TransformColumn
{
	const char *name;			/* NUL-terminated copies in the load memory */
	const char *type_name;
	TransformKind kind;
	uint32_t	flags;
	uint32_t	position;		/* first input it fills */
	uint32_t	width;			/* inputs it fills */
	uint32_t	length;
	uint64_t	rows;
	uint64_t	nulls;
	double		mean;
	double		std;
	uint32_t	vocab_size;
	const void *internal;		/* element statistics, vocabulary and its index */
} TransformColumn;

/* A loaded transform: read-only, usable from any number of callers */
typedef struct Transform
{
	uint32_t	n_columns;
	uint32_t	input_dim;		/* inputs of all columns together */
	const TransformColumn *columns;
} Transform;

/* "numeric", "categorical", "multi_hot", ...: a kind as SQL spells it */
extern const char *TransformKindName(uint32_t kind);

/* The inputs a column of this description fills */
extern uint32_t TransformWidth(TransformKind kind, uint32_t flags, uint32_t length,
							   uint32_t vocab_size);

/*
 * Building: the section's exact size for these columns (0 if they break a
 * limit TransformBuild would report), and the section itself.  TransformBuild
 * validates the specs as TransformCheck validates a section, writes exactly
 * TransformSectionSize() bytes to out (out_size at least that), and gives the
 * number of inputs.
 */
extern size_t TransformSectionSize(const TransformColumnSpec *columns, uint32_t n_columns);
extern MixrecStatus TransformBuild(const TransformColumnSpec *columns, uint32_t n_columns,
								   uint8_t *out, size_t out_size, uint32_t *input_dim,
								   MixrecError *err);

/*
 * Reading: TransformCheck validates every byte of a section for a model of
 * input_dim inputs (MIXREC_ERR_CORRUPT with a sentence otherwise) and gives
 * the bytes of memory TransformLoad needs; TransformLoad builds the loaded
 * form of a checked section in that memory (aligned for any type), which
 * holds copies of what it needs: the section may be freed afterwards.  It
 * gives NULL only for less memory than TransformCheck asked for, or a
 * section that did not pass TransformCheck (not supported otherwise).
 */
extern MixrecStatus TransformCheck(const uint8_t *section, size_t len, uint32_t input_dim,
								   size_t *memory_size, MixrecError *err);
extern const Transform *TransformLoad(const uint8_t *section, size_t len, void *memory,
									  size_t memory_size);

/*
 * The embedded columns of a section that passed TransformCheck, in column
 * order, into out[TRANSFORM_MAX_EMBEDDINGS]: their number, and in floats
 * the numbers of all their tables.  Given other bytes, it reads none
 * beyond len (what it gives is then meaningless).
 */
extern uint32_t TransformEmbeddings(const uint8_t *section, size_t len,
									TransformEmbedding *out, size_t *floats);

/* A column by name (exact bytes), or -1 */
extern int	TransformFindColumn(const Transform *transform, const char *name);

/*
 * Write the inputs of one column for one row into x[position .. position +
 * width) of an input vector of input_dim floats.  Fails, writing nothing
 * useful, on a non-finite number (MIXREC_ERR_NONFINITE) or a DENSE value of
 * the wrong length (MIXREC_ERR_DIMENSION), with a sentence naming the
 * column and the sizes.
 */
extern MixrecStatus TransformEncodeColumn(const Transform *transform, uint32_t column,
										  const TransformValue *value, float *x,
										  MixrecError *err);

/* The standardisation a transform implies: [input_dim] each */
extern void TransformStandardization(const Transform *transform, float *mean, float *std);

/* A DENSE column's element statistics */
extern void TransformElementStats(const Transform *transform, uint32_t column,
								  uint32_t element, double *mean, double *std);

/* A vocabulary entry (index < vocab_size), most frequent first */
extern void TransformVocabEntry(const Transform *transform, uint32_t column, uint32_t index,
								TransformText *entry, uint64_t *count);

/* The vocabulary index of a text, or -1 */
extern int32_t TransformVocabLookup(const Transform *transform, uint32_t column,
									const char *data, size_t len);

#endif							/* MIXREC_TRANSFORM_H */

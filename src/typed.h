/*
 * src/typed.h
 *	  Typed feature columns: which columns of a source are features, which
 *	  kind of input each becomes, how its values are read, and the
 *	  bounded counting of categories.
 *
 * The core (include/mixrec/transform.h) turns a column's value into the
 * MLPs' inputs once the value is a TransformValue; this layer decides the
 * kinds from PostgreSQL types (src/typed_columns.c), reads Datums into
 * TransformValues (src/typed_values.c), counts categories in bounded memory
 * (src/vocabulary.c), fits a transform from a source's rows
 * (src/transform_fit.c) and binds a model's transform to the columns of a
 * row type (src/transform_bind.c).
 */
#ifndef MIXREC_TYPED_H
#define MIXREC_TYPED_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "mixrec/model.h"
#include "mixrec/transform.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Defaults of the per-column options (README "Typed columns") */
#define TYPED_DEFAULT_TOP_K			1000
#define TYPED_DEFAULT_EMBED_TOP_K	100000	/* an embedded column's */
#define TYPED_DEFAULT_MIN_FREQUENCY	5

/*
 * How a column's Datum becomes a TransformValue: chosen once per column
 * (TypedReaderInit), used for every row (TypedValueRead)
 */
typedef enum TypedReadKind
{
	READ_NUMBER,				/* int2/4/8, float4/8, numeric -> number */
	READ_BOOL,					/* bool -> number 0/1 */
	READ_TEXT,					/* text, varchar, bpchar (trailing blanks
								 * dropped), name -> text */
	READ_OUTPUT_TEXT,			/* enums, integers read as categories: the
								 * type's output function -> text */
	READ_TEXT_ARRAY,			/* text[], varchar[], bpchar[], enum[] -> items */
	READ_NUMBER_ARRAY,			/* float4[], float8[], int2/4/8[], numeric[] ->
								 * elements */
	READ_VECTOR,				/* pgvector's vector -> elements */
	READ_DATE,					/* date -> seconds at midnight UTC */
	READ_TIMESTAMP,				/* timestamp (read as UTC) -> seconds */
	READ_TIMESTAMPTZ			/* timestamptz -> seconds */
} TypedReadKind;

typedef struct TypedReader
{
	TypedReadKind read;
	Oid			type;			/* the column's type (a domain's base type) */
	Oid			elemtype;		/* arrays: the element type (its base type) */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	FmgrInfo	output;			/* READ_OUTPUT_TEXT: of type, or of elemtype */
} TypedReader;

/* A feature column of a source, as training chooses it */
typedef struct TypedColumn
{
	const char *name;
	AttrNumber	attno;			/* in the source's row */
	Oid			type;			/* as declared (for messages and the model) */
	TransformKind kind;
	uint32		flags;			/* TRANSFORM_LOG, _DAY_TIME, _FROM_INTEGER; the
								 * fit adds TRANSFORM_MISSING */
	int			top_k;			/* CATEGORICAL, MULTI_HOT */
	int			min_frequency;
	bool		top_k_given;	/* by the transform argument */
	int			embed_dim;		/* CATEGORICAL with TRANSFORM_EMBED, else 0 */
	TypedReader reader;
} TypedColumn;

/* src/typed_columns.c */

/*
 * Choose the feature columns of a source's row: the columns named in
 * features (a list of C strings; NIL: every column not in excluded), each
 * with the kind its type implies unless overrides (a jsonb object, or NULL)
 * say otherwise, and embedded as embed (a jsonb object of dimensions by
 * column, or NULL) says.  Errors: a name that is no column or appears
 * twice, a duplicate column name in the source among the features, an
 * excluded column listed as a feature, an unsupported type (with a hint to
 * cast), an override naming an unknown column or option, a kind the type
 * cannot take, or an embedding of a column that is not categorical or of
 * a dimension out of range.  Allocates in the current context.
 */
extern TypedColumn *TypedColumnsChoose(TupleDesc desc, List *features, List *excluded,
									   Jsonb *overrides, Jsonb *embed, int *n_columns);

/*
 * Parse a features argument: true and the column names if it is a list of
 * plain column names (quoted or not), false if it is anything else (an
 * expression: the dense-array path)
 */
extern bool TypedParseNames(const char *features, List **names);

/* The SQL spelling of a column type, as the model stores it */
extern char *TypedTypeName(Oid type, int32 typmod);

/* src/typed_values.c */

/*
 * Prepare to read values of a type as a kind (flags as in TypedColumn);
 * false if the type cannot be read as that kind
 */
extern bool TypedReaderInit(TypedReader *reader, Oid type, TransformKind kind, uint32 flags,
							MemoryContext context);

/*
 * Read one value.  Whatever it allocates (detoasted values, texts, arrays)
 * is in the current memory context, for the caller to reset; out points
 * into it.  Infinite dates and timestamps and NaN numbers are errors naming
 * the column.
 */
extern void TypedValueRead(const TypedReader *reader, const char *column, Datum value,
						   bool isnull, TransformValue *out);

/*
 * A row's place in [0, 1) for the validation split, from a hash of its
 * feature values (natts of them, described by the attributes of desc at
 * attnos, or 1..natts when attnos is NULL; values and nulls are by
 * attribute, values[attno - 1], as a deformed row has them) and the seed:
 * the same for the row read by column and for ROW(those columns), in the
 * same order (mixrec_holdout(record))
 */
extern double TypedRowHoldout(TupleDesc desc, const AttrNumber *attnos, int natts,
							  const Datum *values, const bool *nulls, uint64 seed);

/* src/vocabulary.c */

/*
 * Counts of a column's distinct values in at most `capacity` counters (the
 * space-saving algorithm): exact while the column has at most capacity
 * distinct values; beyond, the most frequent values are kept and each
 * count is at most (rows / capacity) too high.  Values longer than
 * TRANSFORM_MAX_VALUE bytes are not counted (they score as out of
 * vocabulary).  Memory: about capacity * (value length + 64) bytes, in a
 * context of its own under the given one.
 */
typedef struct Vocabulary Vocabulary;

extern Vocabulary *VocabularyCreate(int capacity, MemoryContext parent);
extern void VocabularyAdd(Vocabulary *vocabulary, const char *data, size_t len);
extern bool VocabularyExact(const Vocabulary *vocabulary);

/*
 * The at most top_k values counted at least min_frequency times, most
 * frequent first, ties in byte order; arrays allocated in the current
 * context.  Returns their number.
 */
extern int	VocabularyTop(const Vocabulary *vocabulary, int top_k, int64 min_frequency,
						  TransformText **values, uint64 **counts);
extern void VocabularyFree(Vocabulary *vocabulary);

/* src/transform_fit.c */

/*
 * Fit the transform of these columns on the training rows of a source (a
 * FROM item): one pass, skipping the rows whose holdout value (a float8 SQL
 * expression over the source's row) is below validation_fraction.  Returns the transform section, in the caller's
 * context.
 */
extern uint8 *TransformFit(const char *from, const TypedColumn *columns, int n_columns,
						   double validation_fraction, const char *holdout,
						   uint32 *section_len, uint32 *input_dim);

/* src/transform_bind.c: a model's transform bound to a row type */

typedef struct TransformBinding
{
	const Transform *transform;
	TupleDesc	desc;			/* the row type bound to */
	AttrNumber *attnos;			/* [n_columns] */
	TypedReader *readers;		/* [n_columns] */
} TransformBinding;

/* The loaded transform of a model, or NULL for a model of array features */
extern const Transform *ModelTransformLoad(const MixrecModel *model, MemoryContext context);
/* A transform section validated (for input_dim inputs) and loaded */
extern const Transform *TransformLoadSection(const uint8 *section, uint32 len, uint32 input_dim,
											 MemoryContext context);

/*
 * Bind to a row type: every column of the transform must be a column of
 * desc of a type that can be read as its kind, else an error naming the
 * column, the type trained on and the type given.  The attributes of desc
 * before first_attno are not considered (a query's own leading columns).
 */
extern TransformBinding *TransformBind(const Transform *transform, TupleDesc desc,
									   AttrNumber first_attno, bool by_position,
									   MemoryContext context);

/* Encode a row (its values and nulls by attribute) into input_dim floats */
extern void TransformEncodeRow(const TransformBinding *binding, const Datum *values,
							   const bool *nulls, float *x);

/*
 * Records of any row type, each bound once: what mixrec_score(model, row),
 * the aggregates and the readers of ROW(...) columns keep per call site
 */
typedef struct RecordEncoder
{
	MemoryContext context;		/* holds the bindings */
	const Transform *transform;
	bool		by_position;	/* rows are mixrec's own ROW() of the model's
								 * columns, in order; else matched by name */
	Oid			typid;			/* the row type last bound, InvalidOid if none */
	int32		typmod;
	uint64		identifier;		/* of its descriptor (typcache) */
	struct TypeCacheEntry *typentry;	/* of a named row type, kept */
	TransformBinding *binding;
	Datum	   *values;			/* [natts] of that row type */
	bool	   *nulls;
} RecordEncoder;

extern void RecordEncoderInit(RecordEncoder *encoder, const Transform *transform,
							  bool by_position, MemoryContext context);
extern void RecordEncode(RecordEncoder *encoder, Datum record, float *x);

/* ROW() of a transform's columns for a query; typed NULLs where !present[c] */
extern char *TransformRowSql(const Transform *transform, const bool *present);

/*
 * Which of a transform's columns a row type has, by name (present[c]):
 * the part of a model's row that comes from one relation when the rest
 * comes from another (users and items).  Returns how many it has.
 */
extern int	TransformColumnsIn(const Transform *transform, TupleDesc desc, bool *present);

/* The features of a scoring function's query for a model (NULL transform: arrays) */
extern const char *TypedFeaturesArgument(const Transform *transform, const char *features,
										 const char *what);

/* The values of a record, deformed by the encoder (for the holdout hash) */
extern TupleDesc RecordDeform(RecordEncoder *encoder, Datum record);

#endif							/* MIXREC_TYPED_H */

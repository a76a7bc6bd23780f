/*
 * src/embeddings_sql.c
 *	  The embedding tables of a model's embedded columns, read in SQL:
 *	  mixrec_embeddings lists an embedded column's vectors, and
 *	  mixrec_similar finds the vocabulary entries nearest to one.
 *
 * An embedded column (include/mixrec/transform.h, TRANSFORM_EMBED) has a
 * table in each of the two models, [rows][dim] like nn.Embedding.weight:
 * row i for vocabulary entry i, then the out-of-vocabulary row, then the
 * NULL row (include/mixrec/model.h).  mixrec_embeddings returns the
 * vocabulary's rows in that order, and with include_special the two last
 * rows too, both with value NULL: WITH ORDINALITY numbers every row as its
 * row of the table, counting from 1.
 *
 * mixrec_similar ranks the other vocabulary entries of a column by cosine
 * similarity to one entry's vector: in the open model's table, in the
 * commercial model's, or ("blend") alpha times the first plus (1 - alpha)
 * times the second, alpha being the model's.  A zero vector has cosine 0
 * with every vector.  Sums are taken in double over the float32 tables.
 * One pass over the table keeps the k best in a heap of k entries (the
 * worst at its root), so the memory is O(k) whatever the vocabulary; ties
 * go to the entry first in the vocabulary (the more frequent one).  The
 * out-of-vocabulary and NULL rows are no entries and are never returned.
 *
 * Both take a model bytea or a registered model's name (RegistryModel: the
 * caller's privileges and the registry's row-level security decide, as for
 * every function that reads a model by name).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "serve.h"
#include "typed.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_embeddings);
PG_FUNCTION_INFO_V1(mixrec_embeddings_name);
PG_FUNCTION_INFO_V1(mixrec_similar);
PG_FUNCTION_INFO_V1(mixrec_similar_name);

/* What mixrec_similar compares: one table, or both blended */
typedef enum SimilarMode
{
	SIMILAR_BLEND,
	SIMILAR_OPEN,
	SIMILAR_COMMERCIAL
} SimilarMode;

/* An embedded column of a loaded model */
typedef struct EmbeddedColumn
{
	const MixrecModel *model;
	const Transform *transform;
	uint32		column;			/* in the transform */
	const TransformEmbedding *embedding;
	const float *tables[MIXREC_MODELS]; /* the open and commercial tables */
} EmbeddedColumn;

/* The most characters of a value an error message shows */
#define SHOWN_VALUE_CHARS	64


static char *EmbeddedNames(const MixrecModel *model, const Transform *transform);
static char *ShownValue(text *value);
static void EmbeddedColumnFind(const MixrecModel *model, const char *name,
							   EmbeddedColumn *out);
static Datum RowArray(const float *row, uint32 dim);
static void EmbeddingsRows(FunctionCallInfo fcinfo, const MixrecModel *model,
						   const char *column_name, bool include_special);
static SimilarMode SimilarModeFromText(text *mode);
static int	SimilarK(int32 k);
static double Dot(const float *a, const float *b, uint32 dim);
static double Cosine(double dot, double norm_a, double norm_b);
static void SimilarRows(FunctionCallInfo fcinfo, const MixrecModel *model,
						const char *column_name, text *value, int k, SimilarMode mode);

/*
 * The names of a model's embedded columns, quoted, for a hint
 */
static char *
EmbeddedNames(const MixrecModel *model, const Transform *transform)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (uint32 t = 0; t < model->n_embed; t++)
		appendStringInfo(&buf, "%s\"%s\"", t > 0 ? ", " : "",
						 transform->columns[model->embed[t].column].name);
	return buf.data;
}

/*
 * A value for a message: its first SHOWN_VALUE_CHARS characters
 */
static char *
ShownValue(text *value)
{
	char	   *shown = text_to_cstring(value);
	int			len = (int) strlen(shown);
	int			cut = pg_mbcharcliplen(shown, len, SHOWN_VALUE_CHARS);

	if (cut == len)
		return shown;
	shown[cut] = '\0';
	return psprintf("%s...", shown);
}

/*
 * Find an embedded column of a model by name, or fail saying why not: the
 * model has no embedded column, no column of that name, or that column is
 * not embedded
 */
static void
EmbeddedColumnFind(const MixrecModel *model, const char *name, EmbeddedColumn *out)
{
	const Transform *transform = ModelTransformLoad(model, CurrentMemoryContext);
	const TransformColumn *column;
	int			c;

	if (model->n_embed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the model has no embedded columns"),
				 transform == NULL ?
				 errdetail("It takes an array of features.") :
				 errdetail("None of its %u typed columns is embedded.", transform->n_columns),
				 errhint("Train it with embed => '{\"column\": dimensions}' to embed a categorical column.")));

	c = TransformFindColumn(transform, name);
	if (c < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the model has no column \"%s\"", name),
				 errhint("Its embedded columns are %s.", EmbeddedNames(model, transform))));
	column = &transform->columns[c];

	memset(out, 0, sizeof(*out));
	for (uint32 t = 0; t < model->n_embed; t++)
		if (model->embed[t].column == (uint32) c)
		{
			out->embedding = &model->embed[t];
			for (int k = 0; k < MIXREC_MODELS; k++)
				out->tables[k] = ModelEmbedTable(model, model->params[k], t);
		}
	if (out->embedding == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of the model is not embedded", name),
				 errdetail("It is a %s column of type %s%s.", TransformKindName(column->kind),
						   column->type_name,
						   column->kind == TRANSFORM_CATEGORICAL ? ", one-hot encoded" : ""),
				 errhint("Its embedded columns are %s.", EmbeddedNames(model, transform))));
	Assert(column->kind == TRANSFORM_CATEGORICAL && (column->flags & TRANSFORM_EMBED));
	Assert(out->embedding->rows == column->vocab_size + 2);
	out->model = model;
	out->transform = transform;
	out->column = (uint32) c;
}

/*
 * A table row as a real[]
 */
static Datum
RowArray(const float *row, uint32 dim)
{
	Datum	   *elements = palloc_array(Datum, dim);

	for (uint32 i = 0; i < dim; i++)
		elements[i] = Float4GetDatum(row[i]);
	return PointerGetDatum(construct_array(elements, (int) dim, FLOAT4OID, sizeof(float4),
										   true, TYPALIGN_INT));
}

/*
 * One row per vocabulary entry of an embedded column (and with
 * include_special, the out-of-vocabulary and NULL rows): value, open,
 * commercial
 */
static void
EmbeddingsRows(FunctionCallInfo fcinfo, const MixrecModel *model, const char *column_name,
			   bool include_special)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EmbeddedColumn found;
	uint32		rows;
	MemoryContext row_context;

	InitMaterializedSRF(fcinfo, 0);
	EmbeddedColumnFind(model, column_name, &found);
	rows = found.embedding->rows - (include_special ? 0 : 2);

	/* The tuplestore copies each row: what building it allocates goes */
	row_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec embeddings row",
										ALLOCSET_SMALL_SIZES);
	for (uint32 r = 0; r < rows; r++)
	{
		MemoryContext old = MemoryContextSwitchTo(row_context);
		uint32		dim = found.embedding->dim;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		CHECK_FOR_INTERRUPTS(); /* a vocabulary may have millions of entries */
		if (r < found.embedding->rows - 2)
		{
			TransformText entry;
			uint64_t	count;

			TransformVocabEntry(found.transform, found.column, r, &entry, &count);
			values[0] = PointerGetDatum(cstring_to_text_with_len(entry.data, (int) entry.len));
		}
		else
			nulls[0] = true;	/* the out-of-vocabulary row, then the NULL row */
		values[1] = RowArray(found.tables[MIXREC_OPEN] + (size_t) r * dim, dim);
		values[2] = RowArray(found.tables[MIXREC_COMMERCIAL] + (size_t) r * dim, dim);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_context);
	}
	MemoryContextDelete(row_context);
}

/*
 * mixrec_embeddings(model bytea, column_name text, include_special boolean)
 * returns table (value text, open real[], commercial real[])
 */
Datum
mixrec_embeddings(PG_FUNCTION_ARGS)
{
	EmbeddingsRows(fcinfo, ModelFromBytea(PG_GETARG_BYTEA_PP(0)),
				   text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_BOOL(2));
	return (Datum) 0;
}

/*
 * mixrec_embeddings(model_name text, column_name text, version int,
 *	 include_special boolean) returns table (value text, open real[],
 *	 commercial real[])
 */
Datum
mixrec_embeddings_name(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column_name must not be NULL")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("include_special must not be NULL")));
	EmbeddingsRows(fcinfo, RegistryModel(fcinfo, 0, 2), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_GETARG_BOOL(3));
	return (Datum) 0;
}

/*
 * Parse mixrec_similar's mode
 */
static SimilarMode
SimilarModeFromText(text *mode)
{
	char	   *name = text_to_cstring(mode);

	if (strcmp(name, "blend") == 0)
		return SIMILAR_BLEND;
	if (strcmp(name, "open") == 0)
		return SIMILAR_OPEN;
	if (strcmp(name, "commercial") == 0)
		return SIMILAR_COMMERCIAL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("mode must be \"blend\", \"open\" or \"commercial\", got \"%s\"", name)));
	pg_unreachable();
}

/*
 * Check mixrec_similar's k
 */
static int
SimilarK(int32 k)
{
	if (k < 1 || k > MIXREC_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, got %d", MIXREC_MAX_K, k)));
	return (int) k;
}

/*
 * The dot product of two float32 vectors, summed in double
 */
static double
Dot(const float *a, const float *b, uint32 dim)
{
	double		sum = 0.0;

	for (uint32 i = 0; i < dim; i++)
		sum += (double) a[i] * (double) b[i];
	return sum;
}

/*
 * A cosine from a dot product and the two vectors' squared norms: 0 when
 * either vector is zero
 */
static double
Cosine(double dot, double norm_a, double norm_b)
{
	if (norm_a == 0.0 || norm_b == 0.0)
		return 0.0;
	return dot / (sqrt(norm_a) * sqrt(norm_b));
}

/*
 * The k vocabulary entries of an embedded column most similar to value's
 */
static void
SimilarRows(FunctionCallInfo fcinfo, const MixrecModel *model, const char *column_name,
			text *value, int k, SimilarMode mode)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EmbeddedColumn found;
	const TransformEmbedding *embedding;
	int32		target;
	uint32		entries;
	uint32		dim;
	double		weight[MIXREC_MODELS];
	double		target_norm[MIXREC_MODELS];
	const float *target_row[MIXREC_MODELS];
	TopItem    *heap;
	int			size = 0;

	InitMaterializedSRF(fcinfo, 0);
	EmbeddedColumnFind(model, column_name, &found);
	embedding = found.embedding;
	entries = embedding->rows - 2;
	dim = embedding->dim;

	target = TransformVocabLookup(found.transform, found.column, VARDATA_ANY(value),
								  VARSIZE_ANY_EXHDR(value));
	if (target < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value \"%s\" is not in the vocabulary of column \"%s\"",
						ShownValue(value), column_name),
				 errhint("It is out of vocabulary: it scores with the column's out-of-vocabulary row, which stands for every value outside its %u entries.",
						 (unsigned) entries)));

	/* The weight of each model's cosine */
	weight[MIXREC_OPEN] = mode == SIMILAR_BLEND ? model->alpha : mode == SIMILAR_OPEN ? 1.0 : 0.0;
	weight[MIXREC_COMMERCIAL] = mode == SIMILAR_BLEND ? 1.0 - model->alpha :
		mode == SIMILAR_COMMERCIAL ? 1.0 : 0.0;
	for (int m = 0; m < MIXREC_MODELS; m++)
	{
		target_row[m] = found.tables[m] + (size_t) target * dim;
		target_norm[m] = Dot(target_row[m], target_row[m], dim);
	}

	MemoryBudgetCheck((double) k * sizeof(TopItem), "finding similar entries",
					  psprintf("It keeps the %d best of %u entries.", k, (unsigned) entries));
	heap = palloc_array(TopItem, k);
	for (uint32 e = 0; e < entries; e++)
	{
		TopItem		item = {0.0, (int) e};

		CHECK_FOR_INTERRUPTS(); /* a vocabulary may have millions of entries */
		if (e == (uint32) target)
			continue;
		for (int m = 0; m < MIXREC_MODELS; m++)
		{
			const float *row = found.tables[m] + (size_t) e * dim;

			if (weight[m] == 0.0)
				continue;
			item.score += weight[m] * Cosine(Dot(target_row[m], row, dim), target_norm[m],
												  Dot(row, row, dim));
		}
		TopPush(heap, &size, k, item);
	}

	qsort(heap, size, sizeof(TopItem), TopCompareDesc);
	for (int i = 0; i < size; i++)
	{
		TransformText entry;
		uint64_t	count;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		TransformVocabEntry(found.transform, found.column, (uint32) heap[i].item, &entry, &count);
		values[0] = PointerGetDatum(cstring_to_text_with_len(entry.data, (int) entry.len));
		values[1] = Float8GetDatum(heap[i].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * mixrec_similar(model bytea, column_name text, value text, k int, mode
 *	 text) returns table (value text, similarity float8)
 */
Datum
mixrec_similar(PG_FUNCTION_ARGS)
{
	int			k = SimilarK(PG_GETARG_INT32(3));
	SimilarMode mode = SimilarModeFromText(PG_GETARG_TEXT_PP(4));

	SimilarRows(fcinfo, ModelFromBytea(PG_GETARG_BYTEA_PP(0)),
				text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_TEXT_PP(2), k, mode);
	return (Datum) 0;
}

/*
 * mixrec_similar(model_name text, column_name text, value text, k int, mode
 *	 text, version int) returns table (value text, similarity float8)
 */
Datum
mixrec_similar_name(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"model_name", "column_name", "value", "k", "mode"};
	int			k;
	SimilarMode mode;

	/* version (argument 5) may be NULL: the active version */
	for (int i = 0; i < lengthof(names); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
	k = SimilarK(PG_GETARG_INT32(3));
	mode = SimilarModeFromText(PG_GETARG_TEXT_PP(4));
	SimilarRows(fcinfo, RegistryModel(fcinfo, 0, 5), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				PG_GETARG_TEXT_PP(2), k, mode);
	return (Datum) 0;
}

/*
 * src/interchange.c
 *	  mixrec_export and mixrec_import: models as PyTorch-shaped JSON.
 *
 * The interchange form is
 *
 *	{"format": "mixrec", "version": 1, "alpha": 0.5, "input_dim": 8,
 *	 "hidden": [16], "output_dim": 1,
 *	 "standardize": {"mean": [...], "std": [...]} or null,
 *	 "open": {"0.weight": [[...]], "0.bias": [...], "2.weight": ..., ...},
 *	 "commercial": {...},
 *	 "transform": null or {"columns": [...]}}
 *
 * where "open" and "commercial" are the state_dict() of
 * nn.Sequential(Linear, ReLU, Linear, ...): Linear layer l is module 2l,
 * its weight is [out][in].  A model with embedded columns adds to each
 * "<column>.weight", the weight of that column's nn.Embedding: [rows][dim],
 * row i for vocabulary entry i, then the out-of-vocabulary row, then the
 * NULL row (include/mixrec/model.h); a column named like a Linear module
 * ("0", "2", ...) would give its table a layer's key, so such a model is
 * refused both ways.  Weights are printed as the shortest decimals that
 * read back as the same float32 values.  Optimiser state (and so the
 * embedding optimiser) is not part of the interchange form (like a
 * state_dict of the modules alone).
 *
 * "transform" is the input transform of a model trained from typed columns
 * (include/mixrec/transform.h), null for a model of array features.  Each
 * column is an object:
 *
 *	every kind		"name", "type", "kind" ("numeric", "boolean",
 *					"categorical", "multi_hot", "dense" or "time"),
 *					"position" (its first input, from 0), "width" (inputs it
 *					fills), "missing" (its 0/1 NULL input), "rows", "nulls",
 *					"mean", "std"
 *	numeric			"scale": "standard" or "log"
 *	time			"day_time": the time-of-day pair
 *	categorical		"from_integer": an integer column read as its text;
 *					"embed": the dimensions of its embedding, only for an
 *					embedded column (so a model without embeddings exports
 *					as it did before they existed)
 *	dense			"length", "element_mean", "element_std" ([length] each)
 *	categorical and
 *	multi_hot		"vocabulary" (texts, most frequent first) and "counts"
 *
 * Its doubles are printed as the shortest decimals that read back as the
 * same float64 values, and its counts as integers, so a model imported
 * from an export carries the very same transform section.  The interchange
 * version stays 1: the key is optional on import (missing means null), so
 * every earlier export still imports.
 *
 * Import accepts nothing else: every key must be known and present (only
 * "standardize" and "transform" may be missing, meaning null), every shape
 * must agree with input_dim, hidden and output_dim (and each embedding
 * table with its column's vocabulary and "embed"), and every number must
 * be a finite value within the range of real.  Each error names the key
 * and position.  A transform is rebuilt with the core's TransformBuild,
 * which applies its own rules (names, flags, statistics, vocabularies
 * without duplicates); "position" and "width", which follow from the rest,
 * must agree with it, and its inputs must be input_dim.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(mixrec_export);
PG_FUNCTION_INFO_V1(mixrec_import);

#define INTERCHANGE_VERSION 1

/* The keys of a transform column, by kind (see the file's comment) */
#define TRANSFORM_COMMON_KEYS	"name", "type", "kind", "position", "width", "missing", \
	"rows", "nulls", "mean", "std"
#define TRANSFORM_MAX_KEYS		16

static void AppendFloats(StringInfo buf, const float *values, int n);
static void AppendModel(StringInfo buf, const MixrecModel *model,
						const Transform *transform, const float *params);
static bool EmbedKeyClashes(const MlpShape *shape, const char *column);
static void AppendJsonText(StringInfo buf, const char *data, size_t len,
						   const char *what, uint32 column);
static void AppendDoubles(StringInfo buf, const double *values, uint32 n);
static void AppendTransformColumn(StringInfo buf, const Transform *transform,
								  uint32 c);
static void AppendTransform(StringInfo buf, const Transform *transform);
pg_noreturn static void ImportError(const char *fmt,...) pg_attribute_printf(1, 2);
static bool GetKey(JsonbContainer *object, const char *key, JsonbValue *out);
static void RequireKey(JsonbContainer *object, const char *key, const char *where,
					   JsonbValue *out);
static void CheckKeys(JsonbContainer *object, const char *where,
					  const char *const *allowed, int n_allowed);
static JsonbContainer *ExpectContainer(const JsonbValue *value, bool array,
									   const char *what);
static double ExpectNumber(const JsonbValue *value, const char *what, int index);
static uint64 ExpectInteger(const JsonbValue *value, const char *what, int index,
							 uint64 max);
static bool ExpectBool(const JsonbValue *value, const char *what);
static char *ExpectString(const JsonbValue *value, const char *what);
static int	ExpectDim(JsonbContainer *top, const char *key, int min, int max);
static void ReadFloatArray(JsonbContainer *array, int n, const char *what,
						   float *out);
static void ReadMlp(JsonbContainer *object, const MlpShape *shape,
					const char *which, float *params);
static void ReadTable(JsonbContainer *object, const TransformEmbedding *embedding,
					  const char *column, const char *key, const char *which, float *table);
static void ReadModel(JsonbContainer *object, const MixrecModel *model,
					  const Transform *transform, const char *which, float *params);
static TransformKind ReadKind(JsonbContainer *object, const char *where);
static int	TransformColumnKeys(TransformKind kind, const char **keys);
static uint32 ReadFlag(JsonbContainer *object, const char *key, const char *where,
					   uint32 flag);
static uint64 ReadInteger(JsonbContainer *object, const char *key, const char *where,
						  uint64 max);
static double ReadNumber(JsonbContainer *object, const char *key, const char *where);
static void ReadDoubleArray(JsonbContainer *object, const char *key, const char *where,
							uint32 n, double **out);
static void ReadVocabulary(JsonbContainer *object, const char *where,
						   TransformColumnSpec *spec);
static void ReadTransformColumn(const JsonbValue *value, int index,
								TransformColumnSpec *spec, uint32 *position,
								uint32 *width);
static uint8 *ReadTransform(const JsonbValue *value, int input_dim, uint32 *len);

/*
 * Append floats as a JSON array of the shortest numbers that read back
 * exactly as the same float32 values
 */
static void
AppendFloats(StringInfo buf, const float *values, int n)
{
	char		digits[FLOAT_SHORTEST_DECIMAL_LEN];

	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		float_to_shortest_decimal_buf(values[i], digits);
		appendStringInfoString(buf, digits);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Whether an embedded column's key "<column>.weight" would be the key of
 * a Linear layer's weight (a column named "0", "2", ...)
 */
static bool
EmbedKeyClashes(const MlpShape *shape, const char *column)
{
	char		module[16];

	for (int l = 0; l < MlpLayerCount(shape); l++)
	{
		snprintf(module, sizeof(module), "%d", 2 * l);
		if (strcmp(module, column) == 0)
			return true;
	}
	return false;
}

/*
 * Append one model as a state_dict-shaped JSON object: its MLP's layers,
 * then the tables of its embedded columns (transform is the model's, or
 * NULL for a model without one)
 */
static void
AppendModel(StringInfo buf, const MixrecModel *model, const Transform *transform,
			const float *params)
{
	const MlpShape *shape = &model->shape;

	appendStringInfoChar(buf, '{');
	for (int l = 0; l < MlpLayerCount(shape); l++)
	{
		int			n_in = shape->dims[l];
		int			n_out = shape->dims[l + 1];
		const float *weight = params + MlpWeightOffset(shape, l);

		appendStringInfo(buf, "%s\"%d.weight\": [", l > 0 ? ", " : "", 2 * l);
		for (int r = 0; r < n_out; r++)
		{
			if (r > 0)
				appendStringInfoString(buf, ", ");
			AppendFloats(buf, weight + (size_t) r * n_in, n_in);
		}
		appendStringInfo(buf, "], \"%d.bias\": ", 2 * l);
		AppendFloats(buf, params + MlpBiasOffset(shape, l), n_out);
	}
	for (uint32 t = 0; t < model->n_embed; t++)
	{
		const TransformEmbedding *embedding = &model->embed[t];
		const char *name = transform->columns[embedding->column].name;
		const float *table = ModelEmbedTable(model, params, t);
		char	   *key = psprintf("%s.weight", name);

		if (EmbedKeyClashes(shape, name))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot export the embedding table of column \"%s\": its key \"%s\" is the key of a Linear layer's weight",
							name, key),
					 errhint("Give the column another name in the source (AS ...) and train the model again.")));
		appendStringInfoString(buf, ", ");
		AppendJsonText(buf, key, strlen(key), "name", embedding->column);
		appendStringInfoString(buf, ": [");
		for (uint32 r = 0; r < embedding->rows; r++)
		{
			CHECK_FOR_INTERRUPTS(); /* a table may have millions of rows */
			if (r > 0)
				appendStringInfoString(buf, ", ");
			AppendFloats(buf, table + (size_t) r * embedding->dim, (int) embedding->dim);
		}
		appendStringInfoChar(buf, ']');
		pfree(key);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Append bytes of the database's text (a name or a vocabulary entry of a
 * transform) as a JSON string; a model from elsewhere may hold bytes that
 * are no such text, which JSON cannot carry
 */
static void
AppendJsonText(StringInfo buf, const char *data, size_t len, const char *what,
			   uint32 column)
{
	char	   *copy;

	/* Named by number: the name may be what is not valid */
	if (len > MaxAllocSize - 1 || !pg_verifymbstr(data, (int) len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("cannot export transform column %u: its %s is not valid text in the database encoding",
						(unsigned) column + 1, what)));
	copy = pnstrdup(data, len);
	escape_json(buf, copy);
	pfree(copy);
}

/*
 * Append doubles as a JSON array of the shortest numbers that read back
 * exactly as the same float64 values
 */
static void
AppendDoubles(StringInfo buf, const double *values, uint32 n)
{
	appendStringInfoChar(buf, '[');
	for (uint32 i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		AppendJsonDouble(buf, values[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append one column of a transform as a JSON object
 */
static void
AppendTransformColumn(StringInfo buf, const Transform *transform, uint32 c)
{
	const TransformColumn *column = &transform->columns[c];

	appendStringInfoString(buf, "{\"name\": ");
	AppendJsonText(buf, column->name, strlen(column->name), "name", c);
	appendStringInfoString(buf, ", \"type\": ");
	AppendJsonText(buf, column->type_name, strlen(column->type_name), "type name", c);
	appendStringInfo(buf, ", \"kind\": \"%s\", \"position\": %u, \"width\": %u, \"missing\": %s",
					 TransformKindName(column->kind), (unsigned) column->position,
					 (unsigned) column->width,
					 (column->flags & TRANSFORM_MISSING) ? "true" : "false");
	if (column->kind == TRANSFORM_NUMERIC)
		appendStringInfo(buf, ", \"scale\": \"%s\"",
						 (column->flags & TRANSFORM_LOG) ? "log" : "standard");
	if (column->kind == TRANSFORM_TIME)
		appendStringInfo(buf, ", \"day_time\": %s",
						 (column->flags & TRANSFORM_DAY_TIME) ? "true" : "false");
	if (column->kind == TRANSFORM_CATEGORICAL)
		appendStringInfo(buf, ", \"from_integer\": %s",
						 (column->flags & TRANSFORM_FROM_INTEGER) ? "true" : "false");
	/* Only when embedded: exports of other models stay as they were */
	if (column->kind == TRANSFORM_CATEGORICAL && (column->flags & TRANSFORM_EMBED))
		appendStringInfo(buf, ", \"embed\": %u", (unsigned) column->length);
	appendStringInfo(buf, ", \"rows\": " UINT64_FORMAT ", \"nulls\": " UINT64_FORMAT ", \"mean\": ",
					 (uint64) column->rows, (uint64) column->nulls);
	AppendJsonDouble(buf, column->mean);
	appendStringInfoString(buf, ", \"std\": ");
	AppendJsonDouble(buf, column->std);

	if (column->kind == TRANSFORM_DENSE)
	{
		double	   *mean = palloc_array(double, column->length);
		double	   *std = palloc_array(double, column->length);

		for (uint32 e = 0; e < column->length; e++)
			TransformElementStats(transform, c, e, &mean[e], &std[e]);
		appendStringInfo(buf, ", \"length\": %u, \"element_mean\": ", (unsigned) column->length);
		AppendDoubles(buf, mean, column->length);
		appendStringInfoString(buf, ", \"element_std\": ");
		AppendDoubles(buf, std, column->length);
		pfree(mean);
		pfree(std);
	}
	else if (column->kind == TRANSFORM_CATEGORICAL || column->kind == TRANSFORM_MULTI_HOT)
	{
		uint64	   *counts = palloc_array(uint64, Max(column->vocab_size, 1));

		appendStringInfoString(buf, ", \"vocabulary\": [");
		for (uint32 i = 0; i < column->vocab_size; i++)
		{
			TransformText entry;
			uint64_t	count;

			CHECK_FOR_INTERRUPTS();
			TransformVocabEntry(transform, c, i, &entry, &count);
			if (i > 0)
				appendStringInfoString(buf, ", ");
			AppendJsonText(buf, entry.data, entry.len, "vocabulary", c);
			counts[i] = count;
		}
		appendStringInfoString(buf, "], \"counts\": [");
		for (uint32 i = 0; i < column->vocab_size; i++)
			appendStringInfo(buf, "%s" UINT64_FORMAT, i > 0 ? ", " : "", counts[i]);
		appendStringInfoChar(buf, ']');
		pfree(counts);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Append a model's input transform as JSON, null (transform NULL) for a
 * model of array features
 */
static void
AppendTransform(StringInfo buf, const Transform *transform)
{
	if (transform == NULL)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoString(buf, "{\"columns\": [");
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		if (c > 0)
			appendStringInfoString(buf, ", ");
		AppendTransformColumn(buf, transform, c);
	}
	appendStringInfoString(buf, "]}");
}

/*
 * Export a model's weights in the interchange form
 *
 * mixrec_export(model bytea) returns jsonb
 */
Datum
mixrec_export(PG_FUNCTION_ARGS)
{
	MixrecModel *model;
	const MlpShape *shape;
	const Transform *transform;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	model = ModelFromBytea(PG_GETARG_BYTEA_PP(0));
	shape = &model->shape;
	transform = ModelTransformLoad(model, CurrentMemoryContext);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format\": \"mixrec\", \"version\": %d, \"alpha\": ",
					 INTERCHANGE_VERSION);
	AppendJsonDouble(&buf, model->alpha);
	appendStringInfo(&buf, ", \"input_dim\": %d, \"hidden\": [", MlpInputDim(shape));
	for (int i = 1; i <= shape->n_hidden; i++)
		appendStringInfo(&buf, "%s%d", i > 1 ? ", " : "", shape->dims[i]);
	appendStringInfo(&buf, "], \"output_dim\": %d, \"standardize\": ", MlpOutputDim(shape));
	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		appendStringInfoString(&buf, "{\"mean\": ");
		AppendFloats(&buf, model->mean, MlpInputDim(shape));
		appendStringInfoString(&buf, ", \"std\": ");
		AppendFloats(&buf, model->std, MlpInputDim(shape));
		appendStringInfoChar(&buf, '}');
	}
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"open\": ");
	AppendModel(&buf, model, transform, model->params[MIXREC_OPEN]);
	appendStringInfoString(&buf, ", \"commercial\": ");
	AppendModel(&buf, model, transform, model->params[MIXREC_COMMERCIAL]);
	appendStringInfoString(&buf, ", \"transform\": ");
	AppendTransform(&buf, transform);
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * Raise an error about the JSON being imported
 */
static void
ImportError(const char *fmt,...)
{
	char		message[512];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid mixrec model JSON: %s", message)));
	pg_unreachable();
}

/*
 * Look up a key of an object
 */
static bool
GetKey(JsonbContainer *object, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(object, key, strlen(key), out) != NULL;
}

/*
 * Look up a key that must be there
 */
static void
RequireKey(JsonbContainer *object, const char *key, const char *where, JsonbValue *out)
{
	if (!GetKey(object, key, out))
		ImportError("%s is missing \"%s\"", where, key);
}

/*
 * Reject keys that are not in the allowed list
 */
static void
CheckKeys(JsonbContainer *object, const char *where, const char *const *allowed,
		  int n_allowed)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	v;
	JsonbIteratorToken token;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (int i = 0; i < n_allowed && !known; i++)
			known = strlen(allowed[i]) == (size_t) v.val.string.len &&
				memcmp(allowed[i], v.val.string.val, v.val.string.len) == 0;
		if (!known)
			ImportError("%s has an unexpected key \"%.*s\"", where,
						v.val.string.len, v.val.string.val);
	}
}

/*
 * Require an array or an object
 */
static JsonbContainer *
ExpectContainer(const JsonbValue *value, bool array, const char *what)
{
	if (value->type != jbvBinary ||
		(array ? !JsonContainerIsArray(value->val.binary.data) :
		 !JsonContainerIsObject(value->val.binary.data)) ||
		JsonContainerIsScalar(value->val.binary.data))
		ImportError("%s must be %s, got %s", what, array ? "an array" : "an object",
					JsonValueKind(value));
	return value->val.binary.data;
}

/*
 * Require a finite number; index >= 0 names an element of what
 */
static double
ExpectNumber(const JsonbValue *value, const char *what, int index)
{
	char		name[256];
	double		number;

	if (index >= 0)
		snprintf(name, sizeof(name), "%s element %d", what, index);
	else
		snprintf(name, sizeof(name), "%s", what);

	if (value->type != jbvNumeric)
		ImportError("%s must be a number, got %s", name, JsonValueKind(value));
	if (numeric_is_nan(value->val.numeric) || numeric_is_inf(value->val.numeric))
		ImportError("%s must be finite", name);
	number = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
												NumericGetDatum(value->val.numeric)));
	if (!isfinite(number))
		ImportError("%s is out of range", name);
	if (index >= 0 && fabs(number) > FLT_MAX)
		ImportError("%s (%g) is out of range for real", name, number);
	return number;
}

/*
 * Require a whole number within [0, max], read exactly (a count may be
 * beyond the 2^53 a double holds exactly); index as for ExpectNumber
 */
static uint64
ExpectInteger(const JsonbValue *value, const char *what, int index, uint64 max)
{
	char		name[256];
	char	   *digits;
	const char *p;
	uint64		number = 0;

	if (index >= 0)
		snprintf(name, sizeof(name), "%s element %d", what, index);
	else
		snprintf(name, sizeof(name), "%s", what);
	what = name;

	if (value->type != jbvNumeric)
		ImportError("%s must be a number, got %s", what, JsonValueKind(value));
	if (numeric_is_nan(value->val.numeric) || numeric_is_inf(value->val.numeric))
		ImportError("%s must be finite", what);
	/* numeric_out writes plain decimals, never an exponent */
	digits = DatumGetCString(DirectFunctionCall1(numeric_out,
												 NumericGetDatum(value->val.numeric)));
	for (p = digits; *p >= '0' && *p <= '9'; p++)
	{
		uint64		digit = (uint64) (*p - '0');

		if (number > (max - digit) / 10)
			ImportError("%s must be an integer between 0 and " UINT64_FORMAT ", got %s",
						what, max, digits);
		number = number * 10 + digit;
	}
	if (*p == '.')
		for (p++; *p == '0'; p++)
			;
	if (p == digits || *p != '\0')
		ImportError("%s must be an integer between 0 and " UINT64_FORMAT ", got %s",
					what, max, digits);
	pfree(digits);
	return number;
}

/*
 * Require true or false
 */
static bool
ExpectBool(const JsonbValue *value, const char *what)
{
	if (value->type != jbvBool)
		ImportError("%s must be a boolean, got %s", what, JsonValueKind(value));
	return value->val.boolean;
}

/*
 * Require a string; a NUL-terminated copy (jsonb strings hold no NUL)
 */
static char *
ExpectString(const JsonbValue *value, const char *what)
{
	if (value->type != jbvString)
		ImportError("%s must be a string, got %s", what, JsonValueKind(value));
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/*
 * Read a top-level integer key within [min, max]
 */
static int
ExpectDim(JsonbContainer *top, const char *key, int min, int max)
{
	JsonbValue	v;
	double		number;

	if (!GetKey(top, key, &v))
		ImportError("key \"%s\" is missing", key);
	number = ExpectNumber(&v, key, -1);
	if (number != floor(number) || number < min || number > max)
		ImportError("%s must be an integer between %d and %d, got %g", key, min, max, number);
	return (int) number;
}

/*
 * Read an array of exactly n finite float32 values
 */
static void
ReadFloatArray(JsonbContainer *array, int n, const char *what, float *out)
{
	int			size = JsonContainerSize(array);

	if (size != n)
		ImportError("%s has %d elements, expected %d", what, size, n);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(array, i);

		out[i] = (float) ExpectNumber(v, what, i);
		pfree(v);
	}
}

/*
 * Read the layers of a state_dict-shaped MLP (its keys checked by the
 * caller)
 */
static void
ReadMlp(JsonbContainer *object, const MlpShape *shape, const char *which,
		float *params)
{
	int			layers = MlpLayerCount(shape);
	char	  **keys = palloc_array(char *, 2 * layers);
	MemoryContext row_context = AllocSetContextCreate(CurrentMemoryContext,
													  "mixrec import row",
													  ALLOCSET_SMALL_SIZES);

	for (int l = 0; l < layers; l++)
	{
		keys[2 * l] = psprintf("%d.weight", 2 * l);
		keys[2 * l + 1] = psprintf("%d.bias", 2 * l);
	}

	for (int l = 0; l < layers; l++)
	{
		int			n_in = shape->dims[l];
		int			n_out = shape->dims[l + 1];
		JsonbValue	v;
		JsonbContainer *weight;
		char	   *what;

		if (!GetKey(object, keys[2 * l], &v))
			ImportError("%s is missing \"%s\"", which, keys[2 * l]);
		what = psprintf("%s \"%s\"", which, keys[2 * l]);
		weight = ExpectContainer(&v, true, what);
		if (JsonContainerSize(weight) != (uint32) n_out)
			ImportError("%s has %d rows, expected %d (the output size of layer %d)",
						what, (int) JsonContainerSize(weight), n_out, l);
		for (int r = 0; r < n_out; r++)
		{
			MemoryContext old = MemoryContextSwitchTo(row_context);
			JsonbValue *row = getIthJsonbValueFromContainer(weight, r);
			char	   *row_what = psprintf("%s row %d", what, r);

			CHECK_FOR_INTERRUPTS(); /* a layer may have 65,536 rows */

			ReadFloatArray(ExpectContainer(row, true, row_what), n_in, row_what,
						   params + MlpWeightOffset(shape, l) + (size_t) r * n_in);
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_context);
		}

		if (!GetKey(object, keys[2 * l + 1], &v))
			ImportError("%s is missing \"%s\"", which, keys[2 * l + 1]);
		what = psprintf("%s \"%s\"", which, keys[2 * l + 1]);
		ReadFloatArray(ExpectContainer(&v, true, what), n_out, what,
					   params + MlpBiasOffset(shape, l));
	}
	MemoryContextDelete(row_context);
}

/*
 * Read an embedded column's table: exactly rows arrays of dim finite
 * float32 values
 */
static void
ReadTable(JsonbContainer *object, const TransformEmbedding *embedding, const char *column,
		  const char *key, const char *which, float *table)
{
	JsonbValue	v;
	JsonbContainer *rows;
	char	   *what = psprintf("%s \"%s\"", which, key);
	MemoryContext row_context;

	if (!GetKey(object, key, &v))
		ImportError("%s is missing \"%s\", the embedding table of column \"%s\" (%u rows of %u)",
					which, key, column, (unsigned) embedding->rows, (unsigned) embedding->dim);
	rows = ExpectContainer(&v, true, what);
	if (JsonContainerSize(rows) != embedding->rows)
		ImportError("%s has %u rows, expected %u (%u vocabulary entries, then the out-of-vocabulary and NULL rows)",
					what, (unsigned) JsonContainerSize(rows), (unsigned) embedding->rows,
					(unsigned) embedding->rows - 2);
	row_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec import row",
										ALLOCSET_SMALL_SIZES);
	for (uint32 r = 0; r < embedding->rows; r++)
	{
		MemoryContext old = MemoryContextSwitchTo(row_context);
		JsonbValue *row = getIthJsonbValueFromContainer(rows, r);
		char	   *row_what = psprintf("%s row %u", what, (unsigned) r);

		CHECK_FOR_INTERRUPTS(); /* a table may have millions of rows */
		ReadFloatArray(ExpectContainer(row, true, row_what), (int) embedding->dim, row_what,
					   table + (size_t) r * embedding->dim);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_context);
	}
	MemoryContextDelete(row_context);
}

/*
 * Read one model: the MLP's layers, then a table per embedded column
 * (transform is the model's, NULL for a model without one); no other key
 */
static void
ReadModel(JsonbContainer *object, const MixrecModel *model, const Transform *transform,
		  const char *which, float *params)
{
	const MlpShape *shape = &model->shape;
	int			layers = MlpLayerCount(shape);
	int			n_keys = 2 * layers + (int) model->n_embed;
	char	  **keys = palloc_array(char *, n_keys);
	float	   *table = params + MlpParamCount(shape);

	for (int l = 0; l < layers; l++)
	{
		keys[2 * l] = psprintf("%d.weight", 2 * l);
		keys[2 * l + 1] = psprintf("%d.bias", 2 * l);
	}
	for (uint32 t = 0; t < model->n_embed; t++)
	{
		const char *name = transform->columns[model->embed[t].column].name;

		if (EmbedKeyClashes(shape, name))
			ImportError("embedded column \"%s\" cannot have a table: its key \"%s.weight\" is the key of a Linear layer's weight",
						name, name);
		keys[2 * layers + t] = psprintf("%s.weight", name);
	}
	CheckKeys(object, which, (const char *const *) keys, n_keys);

	ReadMlp(object, shape, which, params);
	for (uint32 t = 0; t < model->n_embed; t++)
	{
		ReadTable(object, &model->embed[t], transform->columns[model->embed[t].column].name,
				  keys[2 * layers + t], which, table);
		table += (size_t) model->embed[t].rows * model->embed[t].dim;
	}
}

/*
 * Read a transform column's kind
 */
static TransformKind
ReadKind(JsonbContainer *object, const char *where)
{
	JsonbValue	v;
	char	   *name;

	RequireKey(object, "kind", where, &v);
	name = ExpectString(&v, psprintf("%s \"kind\"", where));
	for (int kind = TRANSFORM_NUMERIC; kind <= TRANSFORM_TIME; kind++)
		if (strcmp(name, TransformKindName((TransformKind) kind)) == 0)
			return (TransformKind) kind;
	ImportError("%s has unknown kind \"%s\" (known kinds: \"numeric\", \"boolean\", \"categorical\", \"multi_hot\", \"dense\", \"time\")",
				where, name);
}

/*
 * List the keys a transform column of a kind has; return their number
 */
static int
TransformColumnKeys(TransformKind kind, const char **keys)
{
	static const char *const common[] = {TRANSFORM_COMMON_KEYS};
	int			n = 0;

	for (int i = 0; i < lengthof(common); i++)
		keys[n++] = common[i];
	switch (kind)
	{
		case TRANSFORM_NUMERIC:
			keys[n++] = "scale";
			break;
		case TRANSFORM_BOOLEAN:
			break;
		case TRANSFORM_CATEGORICAL:
			keys[n++] = "from_integer";
			keys[n++] = "embed";	/* only when embedded */
			keys[n++] = "vocabulary";
			keys[n++] = "counts";
			break;
		case TRANSFORM_MULTI_HOT:
			keys[n++] = "vocabulary";
			keys[n++] = "counts";
			break;
		case TRANSFORM_DENSE:
			keys[n++] = "length";
			keys[n++] = "element_mean";
			keys[n++] = "element_std";
			break;
		case TRANSFORM_TIME:
			keys[n++] = "day_time";
			break;
	}
	Assert(n <= TRANSFORM_MAX_KEYS);
	return n;
}

/*
 * Read a boolean key of a transform column: flag if true, else 0
 */
static uint32
ReadFlag(JsonbContainer *object, const char *key, const char *where, uint32 flag)
{
	JsonbValue	v;

	RequireKey(object, key, where, &v);
	return ExpectBool(&v, psprintf("%s \"%s\"", where, key)) ? flag : 0;
}

/*
 * Read a whole-number key of a transform column within [0, max]
 */
static uint64
ReadInteger(JsonbContainer *object, const char *key, const char *where, uint64 max)
{
	JsonbValue	v;

	RequireKey(object, key, where, &v);
	return ExpectInteger(&v, psprintf("%s \"%s\"", where, key), -1, max);
}

/*
 * Read a finite number key of a transform column
 */
static double
ReadNumber(JsonbContainer *object, const char *key, const char *where)
{
	JsonbValue	v;

	RequireKey(object, key, where, &v);
	return ExpectNumber(&v, psprintf("%s \"%s\"", where, key), -1);
}

/*
 * Read an array of exactly n finite float64 values within the range of
 * real (what the core accepts as statistics)
 */
static void
ReadDoubleArray(JsonbContainer *object, const char *key, const char *where, uint32 n,
				double **out)
{
	JsonbValue	v;
	JsonbContainer *array;
	char	   *what = psprintf("%s \"%s\"", where, key);
	uint32		size;
	MemoryContext scratch;

	RequireKey(object, key, where, &v);
	array = ExpectContainer(&v, true, what);
	size = JsonContainerSize(array);
	if (size != n)
		ImportError("%s has %u elements, expected %u (its \"length\")", what,
					(unsigned) size, (unsigned) n);
	*out = palloc_array(double, Max(n, 1));
	/* What reading a number allocates goes, element by element */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "mixrec import element",
									ALLOCSET_SMALL_SIZES);
	for (uint32 i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scratch);

		CHECK_FOR_INTERRUPTS();
		(*out)[i] = ExpectNumber(getIthJsonbValueFromContainer(array, i), what, (int) i);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
}

/*
 * Read the vocabulary and counts of a categorical or multi-hot column (its
 * flags read: an embedded column may have more entries); the entries point
 * into the JSON
 */
static void
ReadVocabulary(JsonbContainer *object, const char *where, TransformColumnSpec *spec)
{
	JsonbValue	v;
	JsonbContainer *vocabulary;
	JsonbContainer *counts;
	char	   *vocabulary_what = psprintf("%s \"vocabulary\"", where);
	char	   *counts_what = psprintf("%s \"counts\"", where);
	uint32		n;
	TransformText *entries;
	uint64	   *entry_counts;
	MemoryContext scratch;
	uint32		max_entries = (spec->flags & TRANSFORM_EMBED) ?
		TRANSFORM_MAX_EMBED_VOCABULARY : TRANSFORM_MAX_VOCABULARY;

	RequireKey(object, "vocabulary", where, &v);
	vocabulary = ExpectContainer(&v, true, vocabulary_what);
	n = JsonContainerSize(vocabulary);
	if (n > max_entries)
		ImportError("%s has %u entries, more than the %u allowed", vocabulary_what,
					(unsigned) n, (unsigned) max_entries);
	RequireKey(object, "counts", where, &v);
	counts = ExpectContainer(&v, true, counts_what);
	if (JsonContainerSize(counts) != n)
		ImportError("%s has %u elements, but \"vocabulary\" has %u", counts_what,
					(unsigned) JsonContainerSize(counts), (unsigned) n);

	entries = palloc0_array(TransformText, Max(n, 1));
	entry_counts = palloc_array(uint64, Max(n, 1));
	/* As in ReadDoubleArray; the texts stay in the JSON */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "mixrec import element",
									ALLOCSET_SMALL_SIZES);
	for (uint32 i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scratch);
		JsonbValue *entry = getIthJsonbValueFromContainer(vocabulary, i);

		CHECK_FOR_INTERRUPTS();
		if (entry->type != jbvString)
			ImportError("%s element %u must be a string, got %s", vocabulary_what,
						(unsigned) i, JsonValueKind(entry));
		entries[i].data = entry->val.string.val;
		entries[i].len = entry->val.string.len;
		entry_counts[i] = ExpectInteger(getIthJsonbValueFromContainer(counts, i), counts_what,
										(int) i, PG_UINT64_MAX);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	spec->vocab_size = n;
	spec->vocab = entries;
	spec->vocab_count = entry_counts;
}

/*
 * Read one column of a transform into a spec for TransformBuild, with the
 * position and width it claims (which TransformBuild does not take)
 */
static void
ReadTransformColumn(const JsonbValue *value, int index, TransformColumnSpec *spec,
					uint32 *position, uint32 *width)
{
	char	   *where = psprintf("transform \"columns\" element %d", index);
	JsonbContainer *object = ExpectContainer(value, false, where);
	const char *keys[TRANSFORM_MAX_KEYS];
	JsonbValue	v;

	memset(spec, 0, sizeof(*spec));
	RequireKey(object, "name", where, &v);
	spec->name = ExpectString(&v, psprintf("%s \"name\"", where));
	where = psprintf("transform column \"%s\"", spec->name);
	spec->kind = ReadKind(object, where);
	CheckKeys(object, where, keys, TransformColumnKeys(spec->kind, keys));

	RequireKey(object, "type", where, &v);
	spec->type_name = ExpectString(&v, psprintf("%s \"type\"", where));
	*position = (uint32) ReadInteger(object, "position", where, PG_UINT32_MAX);
	*width = (uint32) ReadInteger(object, "width", where, PG_UINT32_MAX);
	spec->rows = ReadInteger(object, "rows", where, PG_UINT64_MAX);
	spec->nulls = ReadInteger(object, "nulls", where, PG_UINT64_MAX);
	spec->mean = ReadNumber(object, "mean", where);
	spec->std = ReadNumber(object, "std", where);

	spec->flags = ReadFlag(object, "missing", where, TRANSFORM_MISSING);
	if ((spec->kind == TRANSFORM_CATEGORICAL || spec->kind == TRANSFORM_MULTI_HOT) &&
		(spec->flags & TRANSFORM_MISSING))
		ImportError("%s is %s, which has no \"missing\" input (its NULL bucket stands for NULL)",
					where, TransformKindName(spec->kind));
	spec->length = 1;
	switch (spec->kind)
	{
		case TRANSFORM_NUMERIC:
			{
				char	   *scale;

				RequireKey(object, "scale", where, &v);
				scale = ExpectString(&v, psprintf("%s \"scale\"", where));
				if (strcmp(scale, "log") == 0)
					spec->flags |= TRANSFORM_LOG;
				else if (strcmp(scale, "standard") != 0)
					ImportError("%s \"scale\" must be \"standard\" or \"log\", got \"%s\"",
								where, scale);
				break;
			}
		case TRANSFORM_BOOLEAN:
			break;
		case TRANSFORM_CATEGORICAL:
			spec->flags |= ReadFlag(object, "from_integer", where, TRANSFORM_FROM_INTEGER);
			if (GetKey(object, "embed", &v))
			{
				uint64		dim = ExpectInteger(&v, psprintf("%s \"embed\"", where), -1,
												PG_UINT32_MAX);

				if (dim < 1 || dim > TRANSFORM_MAX_EMBED_DIM)
					ImportError("%s \"embed\" must be an integer between 1 and %d, got " UINT64_FORMAT,
								where, TRANSFORM_MAX_EMBED_DIM, dim);
				spec->flags |= TRANSFORM_EMBED;
				spec->length = (uint32) dim;
			}
			ReadVocabulary(object, where, spec);
			break;
		case TRANSFORM_MULTI_HOT:
			ReadVocabulary(object, where, spec);
			break;
		case TRANSFORM_DENSE:
			{
				double	   *element_mean;
				double	   *element_std;

				spec->length = (uint32) ReadInteger(object, "length", where, PG_UINT32_MAX);
				ReadDoubleArray(object, "element_mean", where, spec->length, &element_mean);
				ReadDoubleArray(object, "element_std", where, spec->length, &element_std);
				spec->element_mean = element_mean;
				spec->element_std = element_std;
				break;
			}
		case TRANSFORM_TIME:
			spec->flags |= ReadFlag(object, "day_time", where, TRANSFORM_DAY_TIME);
			break;
	}
}

/*
 * Rebuild a transform section from its JSON form for a model of
 * input_dim inputs
 */
static uint8 *
ReadTransform(const JsonbValue *value, int input_dim, uint32 *len)
{
	static const char *const transform_keys[] = {"columns"};
	JsonbContainer *object = ExpectContainer(value, false, "transform");
	JsonbContainer *columns;
	JsonbValue	v;
	int			n;
	TransformColumnSpec *specs;
	uint32	   *positions;
	uint32	   *widths;
	uint32		inputs = 0;
	uint32		built_inputs;
	size_t		size;
	uint8	   *section;
	MixrecError err;

	CheckKeys(object, "transform", transform_keys, lengthof(transform_keys));
	RequireKey(object, "columns", "transform", &v);
	columns = ExpectContainer(&v, true, "transform \"columns\"");
	n = (int) JsonContainerSize(columns);
	if (n > TRANSFORM_MAX_COLUMNS)
		ImportError("transform \"columns\" has %d elements, more than the %d columns a transform may have",
					n, TRANSFORM_MAX_COLUMNS);
	specs = palloc0_array(TransformColumnSpec, Max(n, 1));
	positions = palloc_array(uint32, Max(n, 1));
	widths = palloc_array(uint32, Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *column = getIthJsonbValueFromContainer(columns, i);

		ReadTransformColumn(column, i, &specs[i], &positions[i], &widths[i]);
		pfree(column);
	}

	/* The core's rules: names, shapes, limits, statistics, vocabularies */
	size = TransformSectionSize(specs, (uint32) n);
	if (size == 0)
	{
		if (TransformBuild(specs, (uint32) n, NULL, 0, &built_inputs, &err) == MIXREC_OK)
			elog(ERROR, "a transform the core cannot size was built");
		ImportError("transform: %s", CoreMessage(&err));
	}
	if (size > MaxAllocSize)
		ImportError("the transform takes %zu bytes, more than a model can hold", size);
	section = palloc(size);
	if (TransformBuild(specs, (uint32) n, section, size, &built_inputs, &err) != MIXREC_OK)
		ImportError("transform: %s", CoreMessage(&err));

	/* What follows from the rest must agree with it */
	for (int i = 0; i < n; i++)
	{
		uint32		w = TransformWidth(specs[i].kind, specs[i].flags, specs[i].length,
									   specs[i].vocab_size);

		if (positions[i] != inputs)
			ImportError("transform column \"%s\" has position %u, but the columns before it fill %u inputs",
						specs[i].name, (unsigned) positions[i], (unsigned) inputs);
		if (widths[i] != w)
			ImportError("transform column \"%s\" has width %u, but a %s column of its shape fills %u inputs",
						specs[i].name, (unsigned) widths[i], TransformKindName(specs[i].kind),
						(unsigned) w);
		inputs += w;
	}
	Assert(inputs == built_inputs);
	if (built_inputs != (uint32) input_dim)
		ImportError("the transform fills %u inputs, but input_dim is %d",
					(unsigned) built_inputs, input_dim);
	*len = (uint32) size;
	return section;
}

/*
 * Build a model from the interchange form
 *
 * mixrec_import(model jsonb) returns bytea
 */
Datum
mixrec_import(PG_FUNCTION_ARGS)
{
	static const char *const top_keys[] = {"format", "version", "alpha", "input_dim",
	"hidden", "output_dim", "standardize", "open", "commercial", "transform"};
	static const char *const standardize_keys[] = {"mean", "std"};
	Jsonb	   *json;
	JsonbContainer *top;
	JsonbContainer *hidden;
	JsonbValue	v;
	MlpShape	shape;
	MixrecModel *model;
	const Transform *transform;
	MixrecError err;
	bool		has_standardize;
	uint8	   *section = NULL;
	uint32		section_len = 0;
	double		alpha;
	int			version;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model JSON must not be NULL")));
	json = PG_GETARG_JSONB_P(0);
	top = &json->root;
	if (!JsonContainerIsObject(top))
		ImportError("the model must be a JSON object");
	CheckKeys(top, "the model", top_keys, lengthof(top_keys));

	if (!GetKey(top, "format", &v))
		ImportError("key \"format\" is missing");
	if (v.type != jbvString || v.val.string.len != 6 ||
		memcmp(v.val.string.val, "mixrec", 6) != 0)
		ImportError("format must be \"mixrec\"");
	version = ExpectDim(top, "version", 1, INT_MAX);
	if (version > INTERCHANGE_VERSION)
		ImportError("interchange version %d is not supported (this build reads version %d)",
					version, INTERCHANGE_VERSION);

	memset(&shape, 0, sizeof(shape));
	if (!GetKey(top, "hidden", &v))
		ImportError("key \"hidden\" is missing");
	hidden = ExpectContainer(&v, true, "hidden");
	if (JsonContainerSize(hidden) > MIXREC_MAX_HIDDEN_LAYERS)
		ImportError("a model has at most %d hidden layers, got %d",
					MIXREC_MAX_HIDDEN_LAYERS, (int) JsonContainerSize(hidden));
	shape.n_hidden = JsonContainerSize(hidden);
	shape.dims[0] = ExpectDim(top, "input_dim", 1, MIXREC_MAX_UNITS);
	for (int i = 0; i < shape.n_hidden; i++)
	{
		JsonbValue *size = getIthJsonbValueFromContainer(hidden, i);
		double		number = ExpectNumber(size, "hidden layer size", -1);

		if (number != floor(number) || number < 1 || number > MIXREC_MAX_UNITS)
			ImportError("hidden layer size %d must be an integer between 1 and %d, got %g",
						i + 1, MIXREC_MAX_UNITS, number);
		shape.dims[i + 1] = (int) number;
	}
	shape.dims[shape.n_hidden + 1] = ExpectDim(top, "output_dim", 1, MIXREC_MAX_UNITS);
	if (MlpShapeCheck(&shape, &err) != MIXREC_OK)
		ReportCoreError(&err);

	if (!GetKey(top, "alpha", &v))
		ImportError("key \"alpha\" is missing");
	alpha = ExpectNumber(&v, "alpha", -1);
	if (!(alpha >= 0.0 && alpha <= 1.0))
		ImportError("alpha must be between 0 and 1, got %g", alpha);

	/* Before the arrays, which are sized by input_dim, not by the transform */
	if (GetKey(top, "transform", &v) && v.type != jbvNull)
		section = ReadTransform(&v, shape.dims[0], &section_len);

	has_standardize = GetKey(top, "standardize", &v) && v.type != jbvNull;
	model = ModelAllocate(&shape, has_standardize ? MIXREC_FLAG_STANDARDIZE : 0, section,
						  section_len);
	model->alpha = alpha;
	if (has_standardize)
	{
		JsonbContainer *standardize = ExpectContainer(&v, false, "standardize");
		JsonbValue	part;

		CheckKeys(standardize, "standardize", standardize_keys, lengthof(standardize_keys));
		if (!GetKey(standardize, "mean", &part))
			ImportError("standardize is missing \"mean\"");
		ReadFloatArray(ExpectContainer(&part, true, "standardize mean"), shape.dims[0],
					   "standardize mean", model->mean);
		if (!GetKey(standardize, "std", &part))
			ImportError("standardize is missing \"std\"");
		ReadFloatArray(ExpectContainer(&part, true, "standardize std"), shape.dims[0],
					   "standardize std", model->std);
	}

	/* The embedded columns' names key their tables */
	transform = model->n_embed > 0 ? ModelTransformLoad(model, CurrentMemoryContext) : NULL;
	if (!GetKey(top, "open", &v))
		ImportError("key \"open\" is missing");
	ReadModel(ExpectContainer(&v, false, "open"), model, transform, "open",
			  model->params[MIXREC_OPEN]);
	if (!GetKey(top, "commercial", &v))
		ImportError("key \"commercial\" is missing");
	ReadModel(ExpectContainer(&v, false, "commercial"), model, transform, "commercial",
			  model->params[MIXREC_COMMERCIAL]);

	if (ModelCheck(model, &err) != MIXREC_OK)
		ReportCoreError(&err);
	PG_RETURN_BYTEA_P(ModelToBytea(model));
}

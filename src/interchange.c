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
 *	 "commercial": {...}}
 *
 * where "open" and "commercial" are the state_dict() of
 * nn.Sequential(Linear, ReLU, Linear, ...): Linear layer l is module 2l,
 * its weight is [out][in].  Weights are printed * as the shortest decimals that read back as the same float32 values.  Optimiser state is not part of
 * the interchange form (like a state_dict of the modules alone).
 *
 * Import accepts nothing else: every key must be known and present (only
 * "standardize" may be missing, meaning null), every shape must agree with
 * input_dim, hidden and output_dim, and every number must be a finite
 * value within the range of real.  Each error names the key and position.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(mixrec_export);
PG_FUNCTION_INFO_V1(mixrec_import);

#define INTERCHANGE_VERSION 1

static void AppendFloats(StringInfo buf, const float *values, int n);
static void AppendMlp(StringInfo buf, const MlpShape *shape, const float *params);
static void ImportError(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
static bool GetKey(JsonbContainer *object, const char *key, JsonbValue *out);
static void CheckKeys(JsonbContainer *object, const char *where,
					  const char *const *allowed, int n_allowed);
static JsonbContainer *ExpectContainer(const JsonbValue *value, bool array,
									   const char *what);
static double ExpectNumber(const JsonbValue *value, const char *what, int index);
static int	ExpectDim(JsonbContainer *top, const char *key, int min, int max);
static void ReadFloatArray(JsonbContainer *array, int n, const char *what,
						   float *out);
static void ReadMlp(JsonbContainer *object, const MlpShape *shape,
					const char *which, float *params);

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
 * Append one MLP as a state_dict-shaped JSON object
 */
static void
AppendMlp(StringInfo buf, const MlpShape *shape, const float *params)
{
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
	appendStringInfoChar(buf, '}');
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
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	model = ModelFromBytea(PG_GETARG_BYTEA_PP(0));
	shape = &model->shape;

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
	AppendMlp(&buf, shape, model->params[MIXREC_OPEN]);
	appendStringInfoString(&buf, ", \"commercial\": ");
	AppendMlp(&buf, shape, model->params[MIXREC_COMMERCIAL]);
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
 * Read one state_dict-shaped MLP
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
	CheckKeys(object, which, (const char *const *) keys, 2 * layers);

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
 * Build a model from the interchange form
 *
 * mixrec_import(model jsonb) returns bytea
 */
Datum
mixrec_import(PG_FUNCTION_ARGS)
{
	static const char *const top_keys[] = {"format", "version", "alpha", "input_dim",
	"hidden", "output_dim", "standardize", "open", "commercial"};
	static const char *const standardize_keys[] = {"mean", "std"};
	Jsonb	   *json;
	JsonbContainer *top;
	JsonbContainer *hidden;
	JsonbValue	v;
	MlpShape	shape;
	MixrecModel *model;
	MixrecError err;
	bool		has_standardize;
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

	has_standardize = GetKey(top, "standardize", &v) && v.type != jbvNull;
	model = ModelAllocate(&shape, has_standardize ? MIXREC_FLAG_STANDARDIZE : 0);
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

	if (!GetKey(top, "open", &v))
		ImportError("key \"open\" is missing");
	ReadMlp(ExpectContainer(&v, false, "open"), &shape, "open", model->params[MIXREC_OPEN]);
	if (!GetKey(top, "commercial", &v))
		ImportError("key \"commercial\" is missing");
	ReadMlp(ExpectContainer(&v, false, "commercial"), &shape, "commercial",
			model->params[MIXREC_COMMERCIAL]);

	if (ModelCheck(model, &err) != MIXREC_OK)
		ReportCoreError(&err);
	PG_RETURN_BYTEA_P(ModelToBytea(model));
}

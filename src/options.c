/*
 * src/options.c
 *	  The training options: one table, its parsers and its serialiser.
 *
 * Design: each training option is one row of OptionTable: its name, its
 * type, the scopes that accept it, the field of TrainOptions it sets, its
 * default (as JSON text) and its bounds.  Values reach the table three
 * ways, all converted to a JsonbValue first and then set by one function,
 * OptionSet, so every way in has the same checks and the same messages:
 *
 *	- the SQL arguments of mixrec_train, matched to rows by argument name
 *	  (OptionsFromArguments);
 *	- a jsonb object: the options of mixrec_train_model and of the
 *	  mixrec_fit aggregates (OptionsFromJsonb);
 *	- the defaults, which are the table's JSON texts (OptionsDefaults).
 *
 * OptionsToJsonb writes options back, as mixrec_train hands them to
 * mixrec_train_model and the registry stores them, and as a streamed
 * training hands an epoch's options to mixrec_fit_state.  Limits that the
 * core checks (Adam's settings, the hidden sizes) are left to the core, so
 * that no limit is written twice; OptionsCheck runs those checks and the
 * ones between options.
 *
 * Memory: everything is allocated in the caller's current context.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mixrec.h"
#include "mixrec/adam.h"
#include "mixrec/fit.h"
#include "options.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

/* Limits of the PostgreSQL layer: the core has no limit on these */
#define MAX_EPOCHS			100000
#define MAX_BATCH_SIZE		65536	/* rows of a batch, batches of a pool */
#define MAX_NEGATIVES		100		/* negatives drawn per positive */
#define MAX_ROUNDS			1024	/* partial aggregates per streamed epoch */

/*
 * The core's limit on the rows of a pool (MIXREC_MAX_POOL_ROWS) is checked
 * in OptionsCheck too, before the state's memory is allocated
 */

typedef enum OptionType
{
	OPTION_INT,					/* int field, SQL int */
	OPTION_INT64,				/* uint64 field, SQL bigint */
	OPTION_FLOAT8,				/* double field, SQL float8 */
	OPTION_BOOL,				/* bool field, SQL boolean */
	OPTION_CHOICE,				/* enum or bool field, SQL text: one of choices */
	OPTION_HIDDEN,				/* MlpShape field, SQL int[]: the hidden sizes */
	OPTION_NAMES,				/* List * of C strings, SQL text[]: column names */
	OPTION_OBJECT,				/* Jsonb * field, SQL jsonb: a JSON object */
	OPTION_TEXT					/* const char * field, SQL text: a name */
} OptionType;

typedef struct OptionChoice
{
	const char *name;
	int			value;
} OptionChoice;

typedef struct OptionDef
{
	const char *name;
	OptionType	type;
	int			scopes;			/* OPTIONS_TRAIN, OPTIONS_FIT */
	size_t		offset;			/* of the field in TrainOptions */
	size_t		size;			/* of the field */
	const char *default_json;	/* "null": not set, the field is zero */
	double		min;			/* NaN: no bound here (the core checks) */
	double		max;
	bool		below_max;		/* max itself is out of range */
	const OptionChoice *choices;	/* OPTION_CHOICE, ending with a NULL name */
} OptionDef;

#define FIELD(field) offsetof(TrainOptions, field), sizeof(((TrainOptions *) 0)->field)
#define BOTH (OPTIONS_TRAIN | OPTIONS_FIT)
#define NONE NAN

static const OptionChoice optimizers[] = {{"adam", ADAM_L2}, {"adamw", ADAM_DECOUPLED}, {NULL, 0}};
static const OptionChoice inits[] = {
	{"independent", MODEL_INIT_INDEPENDENT}, {"shared", MODEL_INIT_SHARED}, {NULL, 0}
};
static const OptionChoice on_invalids[] = {{"error", false}, {"skip", true}, {NULL, 0}};
static const OptionChoice embed_optimizers[] = {
	{"auto", EMBED_OPTIMIZER_AUTO}, {"dense", EMBED_OPTIMIZER_DENSE}, {"lazy", EMBED_OPTIMIZER_LAZY},
	{NULL, 0}
};
static const OptionChoice methods[] = {
	{"auto", TRAIN_AUTO}, {"memory", TRAIN_MEMORY}, {"stream", TRAIN_STREAM}, {NULL, 0}
};
static const OptionChoice samplings[] = {
	{"uniform", NEGATIVE_UNIFORM}, {"popularity", NEGATIVE_POPULARITY}, {NULL, 0}
};

/*
 * The training options, in the order of mixrec_train's arguments.  A new
 * option is a row here, a field of TrainOptions, an argument of
 * mixrec_train (if it is to be one) and its documentation in README.md.
 */
static const OptionDef OptionTable[] = {
	{"alpha", OPTION_FLOAT8, BOTH, FIELD(alpha), "0.5", 0, 1},
	{"hidden", OPTION_HIDDEN, OPTIONS_TRAIN, FIELD(shape), "[64]", NONE, NONE},
	{"epochs", OPTION_INT, OPTIONS_TRAIN, FIELD(epochs), "10", 1, MAX_EPOCHS},
	{"batch_size", OPTION_INT, BOTH, FIELD(batch_size), "256", 1, MAX_BATCH_SIZE},
	{"learning_rate", OPTION_FLOAT8, BOTH, FIELD(adam.lr), "0.001", NONE, NONE},
	{"beta1", OPTION_FLOAT8, BOTH, FIELD(adam.beta1), "0.9", NONE, NONE},
	{"beta2", OPTION_FLOAT8, BOTH, FIELD(adam.beta2), "0.999", NONE, NONE},
	{"eps", OPTION_FLOAT8, BOTH, FIELD(adam.eps), "1e-8", NONE, NONE},
	{"weight_decay", OPTION_FLOAT8, BOTH, FIELD(adam.weight_decay), "0", NONE, NONE},
	{"optimizer", OPTION_CHOICE, BOTH, FIELD(adam.kind), "\"adam\"", NONE, NONE, false, optimizers},
	{"validation_fraction", OPTION_FLOAT8, OPTIONS_TRAIN, FIELD(validation_fraction), "0.1", 0, 1, true},
	{"patience", OPTION_INT, OPTIONS_TRAIN, FIELD(patience), "null", 1, NONE},
	{"standardize", OPTION_BOOL, OPTIONS_TRAIN, FIELD(standardize), "true", NONE, NONE},
	{"shuffle", OPTION_BOOL, BOTH, FIELD(shuffle), "true", NONE, NONE},
	{"init", OPTION_CHOICE, OPTIONS_TRAIN, FIELD(init), "\"independent\"", NONE, NONE, false, inits},
	{"seed", OPTION_INT64, BOTH, FIELD(seed), "42", NONE, NONE},
	{"on_invalid", OPTION_CHOICE, BOTH, FIELD(skip_invalid), "\"error\"", NONE, NONE, false, on_invalids},
	{"method", OPTION_CHOICE, OPTIONS_TRAIN, FIELD(method), "\"auto\"", NONE, NONE, false, methods},
	{"pool_batches", OPTION_INT, OPTIONS_FIT, FIELD(pool_batches), "8", 1, MAX_BATCH_SIZE},
	/* Partitioned epochs (src/core/fit.c, TrainPool; src/train_stream.c) */
	{"partitions", OPTION_INT, BOTH, FIELD(partitions), "null", 1, MIXREC_MAX_PARTITIONS},
	{"rounds", OPTION_INT, OPTIONS_TRAIN, FIELD(rounds), "null", 1, MAX_ROUNDS},
	{"exclude", OPTION_NAMES, OPTIONS_TRAIN, FIELD(exclude), "null", NONE, NONE},
	{"transform", OPTION_OBJECT, OPTIONS_TRAIN, FIELD(transform), "null", NONE, NONE},
	{"embed", OPTION_OBJECT, OPTIONS_TRAIN, FIELD(embed), "null", NONE, NONE},
	{"embed_optimizer", OPTION_CHOICE, BOTH, FIELD(embed_optimizer), "\"auto\"", NONE, NONE,
	false, embed_optimizers},
	/* Training from positives only (src/train_negatives.c) */
	{"items", OPTION_TEXT, OPTIONS_TRAIN, FIELD(items), "null", NONE, NONE},
	{"item_id", OPTION_TEXT, OPTIONS_TRAIN, FIELD(item_id), "null", NONE, NONE},
	{"negatives", OPTION_INT, OPTIONS_TRAIN, FIELD(negatives), "4", 1, MAX_NEGATIVES},
	{"negative_sampling", OPTION_CHOICE, OPTIONS_TRAIN, FIELD(negative_sampling), "\"uniform\"",
	 NONE, NONE, false, samplings},
};

static const OptionDef *OptionFind(const char *name, int len, int scope);
static char *OptionNames(int scope);
static void OptionSet(const OptionDef *def, const JsonbValue *value, TrainOptions *opts);
static void OptionSetHidden(const JsonbValue *value, TrainOptions *opts);
static void OptionSetNames(const OptionDef *def, const JsonbValue *value, TrainOptions *opts);
static void OptionSetNamesArray(const OptionDef *def, ArrayType *array, TrainOptions *opts);
static void OptionSetObject(const OptionDef *def, const JsonbValue *value, TrainOptions *opts);
static void CheckRange(const OptionDef *def, double value, const char *shown);
static void StoreInteger(void *field, size_t size, int64 value);
static int64 LoadInteger(const void *field, size_t size);

/*
 * Find the option of a scope with this name, or NULL
 */
static const OptionDef *
OptionFind(const char *name, int len, int scope)
{
	for (int i = 0; i < lengthof(OptionTable); i++)
		if ((OptionTable[i].scopes & scope) && strlen(OptionTable[i].name) == len &&
			memcmp(OptionTable[i].name, name, len) == 0)
			return &OptionTable[i];
	return NULL;
}

/*
 * "a, b and c": the names of a scope's options, for a hint
 */
static char *
OptionNames(int scope)
{
	StringInfoData buf;
	int			n = 0;
	int			total = 0;

	for (int i = 0; i < lengthof(OptionTable); i++)
		total += (OptionTable[i].scopes & scope) != 0;
	initStringInfo(&buf);
	for (int i = 0; i < lengthof(OptionTable); i++)
		if (OptionTable[i].scopes & scope)
		{
			n++;
			appendStringInfo(&buf, "%s%s", n == 1 ? "" : n == total ? " and " : ", ",
							 OptionTable[i].name);
		}
	return buf.data;
}

/*
 * Refuse a value outside the option's bounds; shown is the value as given
 */
static void
CheckRange(const OptionDef *def, double value, const char *shown)
{
	bool		has_min = !isnan(def->min);
	bool		has_max = !isnan(def->max);

	if (has_min && has_max && !def->below_max && !(value >= def->min && value <= def->max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %.15g and %.15g, got %s", def->name, def->min, def->max,
						shown)));
	if (has_min && has_max && def->below_max && !(value >= def->min && value < def->max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least %.15g and below %.15g, got %s", def->name, def->min,
						def->max, shown)));
	if (has_min && !has_max && !(value >= def->min))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least %.15g, got %s", def->name, def->min, shown)));
}

/*
 * Write an integer into a field of 1, 4 or 8 bytes
 */
static void
StoreInteger(void *field, size_t size, int64 value)
{
	if (size == sizeof(bool))
		*(bool *) field = value != 0;
	else if (size == sizeof(int32))
		*(int32 *) field = (int32) value;
	else if (size == sizeof(int64))
		*(int64 *) field = value;
	else
		elog(ERROR, "option field of %zu bytes", size);
}

/*
 * Read an integer from a field of 1, 4 or 8 bytes
 */
static int64
LoadInteger(const void *field, size_t size)
{
	if (size == sizeof(bool))
		return *(const bool *) field;
	if (size == sizeof(int32))
		return *(const int32 *) field;
	if (size == sizeof(int64))
		return *(const int64 *) field;
	elog(ERROR, "option field of %zu bytes", size);
}

/*
 * Set the hidden sizes from a JSON array of integers
 */
static void
OptionSetHidden(const JsonbValue *value, TrainOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	element;
	JsonbIteratorToken token;
	Datum	   *sizes;
	int			n = 0;

	if (value->type != jbvBinary || !JsonContainerIsArray(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hidden must be an array of integers, got %s", JsonValueKind(value))));
	sizes = palloc_array(Datum, JsonContainerSize(value->val.binary.data) + 1);
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &element, true)) != WJB_DONE)
	{
		double		size;

		if (token != WJB_ELEM)
			continue;
		if (element.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hidden must be an array of integers, got %s in it",
							JsonValueKind(&element))));
		size = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
												  NumericGetDatum(element.val.numeric)));
		if (size != floor(size) || fabs(size) > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hidden layer size %d must be an integer, got %g", n + 1, size)));
		sizes[n++] = Int32GetDatum((int32) size);
	}
	/* The core's limits, with the same messages as an int[] argument */
	ModelHiddenFromArray(construct_array(sizes, n, INT4OID, sizeof(int32), true, TYPALIGN_INT),
						 &opts->shape);
}

/*
 * Set a list of names from a JSON array of strings
 */
static void
OptionSetNames(const OptionDef *def, const JsonbValue *value, TrainOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	element;
	JsonbIteratorToken token;
	List	   *names = NIL;

	if (value->type != jbvBinary || !JsonContainerIsArray(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an array of column names, got %s", def->name,
						JsonValueKind(value))));
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &element, true)) != WJB_DONE)
	{
		if (token != WJB_ELEM)
			continue;
		if (element.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be an array of column names, got %s in it", def->name,
							JsonValueKind(&element))));
		names = lappend(names, pnstrdup(element.val.string.val, element.val.string.len));
	}
	*(List **) ((char *) opts + def->offset) = names;
}

/*
 * Set a list of names from a text[] argument
 */
static void
OptionSetNamesArray(const OptionDef *def, ArrayType *array, TrainOptions *opts)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *names = NIL;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array of column names", def->name)));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", def->name)));
		names = lappend(names, TextDatumGetCString(elems[i]));
	}
	*(List **) ((char *) opts + def->offset) = names;
}

/*
 * Set a JSON object option
 */
static void
OptionSetObject(const OptionDef *def, const JsonbValue *value, TrainOptions *opts)
{
	if (value->type != jbvBinary || !JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object, got %s", def->name, JsonValueKind(value))));
	*(Jsonb **) ((char *) opts + def->offset) = JsonbValueToJsonb((JsonbValue *) value);
}

/*
 * Set one option from a JSON value, after checking its type and bounds
 */
static void
OptionSet(const OptionDef *def, const JsonbValue *value, TrainOptions *opts)
{
	char	   *field = (char *) opts + def->offset;

	if (value->type == jbvNull)
	{
		if (strcmp(def->default_json, "null") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", def->name)));
		memset(field, 0, def->size);
		return;
	}

	switch (def->type)
	{
		case OPTION_INT:
		case OPTION_INT64:
		case OPTION_FLOAT8:
			{
				Datum		numeric;
				double		number;
				char	   *shown;

				if (value->type != jbvNumeric)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s must be %s, got %s", def->name,
									def->type == OPTION_FLOAT8 ? "a number" : "an integer",
									JsonValueKind(value))));
				numeric = NumericGetDatum(value->val.numeric);
				number = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, numeric));
				if (def->type == OPTION_FLOAT8)
				{
					CheckRange(def, number, psprintf("%g", number));
					*(double *) field = number;
					break;
				}
				shown = DatumGetCString(DirectFunctionCall1(numeric_out, numeric));
				if (numeric_is_nan(value->val.numeric) || numeric_is_inf(value->val.numeric) ||
					!DatumGetBool(DirectFunctionCall2(numeric_eq, numeric,
													  DirectFunctionCall2(numeric_trunc, numeric,
																		  Int32GetDatum(0)))))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s must be an integer, got %s", def->name, shown)));
				CheckRange(def, number, shown);
				if (def->type == OPTION_INT64)
					StoreInteger(field, def->size,
								 DatumGetInt64(DirectFunctionCall1(numeric_int8, numeric)));
				else
				{
					/* An int option has bounds within int, or is checked here */
					if (number < PG_INT32_MIN || number > PG_INT32_MAX)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("%s must be an integer, got %s", def->name, shown)));
					StoreInteger(field, def->size, (int64) number);
				}
				break;
			}
		case OPTION_BOOL:
			if (value->type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s must be true or false, got %s", def->name, JsonValueKind(value))));
			*(bool *) field = value->val.boolean;
			break;
		case OPTION_CHOICE:
			{
				char	   *text;
				StringInfoData valid;
				int			n = 0;

				if (value->type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s must be a string, got %s", def->name, JsonValueKind(value))));
				text = pnstrdup(value->val.string.val, value->val.string.len);
				for (const OptionChoice *c = def->choices; c->name; c++)
					if (strcmp(c->name, text) == 0)
					{
						StoreInteger(field, def->size, c->value);
						return;
					}
				initStringInfo(&valid);
				while (def->choices[n].name)
					n++;
				for (int i = 0; i < n; i++)
					appendStringInfo(&valid, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? " and " : ", ",
									 def->choices[i].name);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown %s \"%s\"", def->name, text),
						 errhint("Valid values are %s.", valid.data)));
			}
			break;
		case OPTION_HIDDEN:
			OptionSetHidden(value, opts);
			break;
		case OPTION_NAMES:
			OptionSetNames(def, value, opts);
			break;
		case OPTION_OBJECT:
			OptionSetObject(def, value, opts);
			break;
		case OPTION_TEXT:
			if (value->type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s must be a string, got %s", def->name, JsonValueKind(value))));
			*(const char **) field = pnstrdup(value->val.string.val, value->val.string.len);
			break;
	}
}

/*
 * Set the table's defaults of the options of these scopes; other fields
 * are zero
 */
void
OptionsDefaults(TrainOptions *opts, int scopes)
{
	StringInfoData json;

	memset(opts, 0, sizeof(*opts));
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < lengthof(OptionTable); i++)
		if (OptionTable[i].scopes & scopes)
			appendStringInfo(&json, "%s\"%s\": %s", json.len > 1 ? ", " : "",
							 OptionTable[i].name, OptionTable[i].default_json);
	appendStringInfoChar(&json, '}');
	OptionsFromJsonb(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data))),
					 scopes, opts);
}

/*
 * Set the options of a scope given in a jsonb object; NULL gives none
 */
void
OptionsFromJsonb(Jsonb *options, int scope, TrainOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	if (options == NULL)
		return;
	if (!JsonContainerIsObject(&options->root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		const OptionDef *def;

		if (token != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &value, true);
		def = OptionFind(key.val.string.val, key.val.string.len, scope);
		if (def == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\"",
							pnstrdup(key.val.string.val, key.val.string.len)),
					 errhint("Options are %s.", OptionNames(scope))));
		OptionSet(def, &value, opts);
	}
}

/*
 * The argument names of the calling SQL function; sets *nargs and *types
 */
char	  **
FunctionArguments(FunctionCallInfo fcinfo, int *nargs, Oid **types)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	char	  **names;
	char	   *modes;

	if (!HeapTupleIsValid(proc))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	*nargs = get_func_arg_info(proc, types, &names, &modes);
	ReleaseSysCache(proc);
	if (names == NULL)
		elog(ERROR, "function %u has no argument names", fcinfo->flinfo->fn_oid);
	return names;
}

/*
 * Set the options of a scope from the arguments of the calling SQL
 * function that are named like them; its other arguments are left alone
 */
void
OptionsFromArguments(FunctionCallInfo fcinfo, int scope, TrainOptions *opts)
{
	int			nargs;
	Oid		   *types;
	char	  **names = FunctionArguments(fcinfo, &nargs, &types);

	for (int i = 0; i < nargs && i < PG_NARGS(); i++)
	{
		const OptionDef *def = OptionFind(names[i], strlen(names[i]), scope);
		static const Oid sql_types[] = {
			[OPTION_INT] = INT4OID, [OPTION_INT64] = INT8OID, [OPTION_FLOAT8] = FLOAT8OID,
			[OPTION_BOOL] = BOOLOID, [OPTION_CHOICE] = TEXTOID, [OPTION_HIDDEN] = INT4ARRAYOID,
			[OPTION_NAMES] = TEXTARRAYOID, [OPTION_OBJECT] = JSONBOID, [OPTION_TEXT] = TEXTOID
		};
		JsonbValue	value;

		if (def == NULL)
			continue;
		if (types[i] != sql_types[def->type])
			elog(ERROR, "argument %s has type %u, the option takes %u", def->name, types[i],
				 sql_types[def->type]);
		if (PG_ARGISNULL(i))
			value.type = jbvNull;
		else if (def->type == OPTION_HIDDEN)
		{
			ModelHiddenFromArray(PG_GETARG_ARRAYTYPE_P(i), &opts->shape);
			continue;
		}
		else if (def->type == OPTION_NAMES)
		{
			OptionSetNamesArray(def, PG_GETARG_ARRAYTYPE_P(i), opts);
			continue;
		}
		else if (def->type == OPTION_OBJECT)
		{
			Jsonb	   *object = PG_GETARG_JSONB_P(i);

			value.type = jbvBinary;
			value.val.binary.data = &object->root;
			value.val.binary.len = VARSIZE(object) - VARHDRSZ;
		}
		else if (def->type == OPTION_BOOL)
		{
			value.type = jbvBool;
			value.val.boolean = PG_GETARG_BOOL(i);
		}
		else if (def->type == OPTION_CHOICE || def->type == OPTION_TEXT)
		{
			text	   *arg = PG_GETARG_TEXT_PP(i);

			value.type = jbvString;
			value.val.string.val = VARDATA_ANY(arg);
			value.val.string.len = VARSIZE_ANY_EXHDR(arg);
		}
		else
		{
			value.type = jbvNumeric;
			value.val.numeric = DatumGetNumeric(DirectFunctionCall1(def->type == OPTION_INT ? int4_numeric :
																	def->type == OPTION_INT64 ? int8_numeric :
																	float8_numeric,
																	PG_GETARG_DATUM(i)));
		}
		OptionSet(def, &value, opts);
	}
}

/*
 * Check the options of a scope together: Adam's settings (by the core's
 * rules), and what one option asks of another
 */
void
OptionsCheck(const TrainOptions *opts, int scope)
{
	MixrecError err;

	if (AdamConfigCheck(&opts->adam, &err) != MIXREC_OK)
		ReportCoreError(&err);
	if ((scope & OPTIONS_TRAIN) && opts->patience > 0 && opts->validation_fraction == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patience needs a validation set, but validation_fraction is 0")));
	if ((scope & OPTIONS_FIT) && (int64) opts->batch_size * opts->pool_batches > MIXREC_MAX_POOL_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("batch_size times pool_batches must be at most %d", MIXREC_MAX_POOL_ROWS)));
}

/*
 * Write the options of a scope as a jsonb object
 */
Jsonb *
OptionsToJsonb(const TrainOptions *opts, int scope)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < lengthof(OptionTable); i++)
	{
		const OptionDef *def = &OptionTable[i];
		const char *field = (const char *) opts + def->offset;

		if (!(def->scopes & scope))
			continue;
		appendStringInfo(&json, "%s\"%s\": ", json.len > 1 ? ", " : "", def->name);
		switch (def->type)
		{
			case OPTION_INT:
			case OPTION_INT64:
				if (LoadInteger(field, def->size) == 0 && strcmp(def->default_json, "null") == 0)
					appendStringInfoString(&json, "null");
				else
					appendStringInfo(&json, INT64_FORMAT, LoadInteger(field, def->size));
				break;
			case OPTION_FLOAT8:
				AppendJsonDouble(&json, *(const double *) field);
				break;
			case OPTION_BOOL:
				appendStringInfoString(&json, *(const bool *) field ? "true" : "false");
				break;
			case OPTION_CHOICE:
				{
					int64		current = LoadInteger(field, def->size);
					const OptionChoice *c = def->choices;

					while (c->name && c->value != current)
						c++;
					if (c->name == NULL)
						elog(ERROR, "option %s has no value " INT64_FORMAT, def->name, current);
					appendStringInfo(&json, "\"%s\"", c->name);
				}
				break;
			case OPTION_HIDDEN:
				appendStringInfoChar(&json, '[');
				for (int h = 1; h <= opts->shape.n_hidden; h++)
					appendStringInfo(&json, "%s%d", h > 1 ? ", " : "", opts->shape.dims[h]);
				appendStringInfoChar(&json, ']');
				break;
			case OPTION_NAMES:
				{
					List	   *names = *(List *const *) field;
					ListCell   *lc;

					if (names == NIL)
					{
						appendStringInfoString(&json, "null");
						break;
					}
					appendStringInfoChar(&json, '[');
					foreach(lc, names)
					{
						if (foreach_current_index(lc) > 0)
							appendStringInfoString(&json, ", ");
						escape_json(&json, lfirst(lc));
					}
					appendStringInfoChar(&json, ']');
				}
				break;
			case OPTION_OBJECT:
				{
					Jsonb	   *object = *(Jsonb *const *) field;

					if (object == NULL)
						appendStringInfoString(&json, "null");
					else
						appendStringInfoString(&json, JsonbToCString(NULL, &object->root,
																	 VARSIZE(object)));
				}
				break;
			case OPTION_TEXT:
				if (*(const char *const *) field == NULL)
					appendStringInfoString(&json, "null");
				else
					escape_json(&json, *(const char *const *) field);
				break;
		}
	}
	appendStringInfoChar(&json, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

/*
 * Whether a model's embedding tables step lazily (SparseAdam) or with the
 * rest (Adam): as asked; on "auto", as the model being continued did, or
 * lazily once its tables have more than EMBED_LAZY_ROWS rows, where a
 * dense step's cost (every row) outgrows a batch's
 */
int
OptionsLazyEmbeddings(const TrainOptions *opts, const MixrecModel *model)
{
	size_t		rows = 0;

	if (model->n_embed == 0)
		return 0;
	if (opts->embed_optimizer != EMBED_OPTIMIZER_AUTO)
		return opts->embed_optimizer == EMBED_OPTIMIZER_LAZY;
	if ((model->flags & MIXREC_FLAG_OPTIMIZER) && model->step > 0)
		return model->adam.lazy_embeddings;
	for (uint32 t = 0; t < model->n_embed; t++)
		rows += model->embed[t].rows;
	return rows > EMBED_LAZY_ROWS;
}

/*
 * src/train_version.c
 *	  mixrec_train: train a model and store it as a new version.
 *
 * Two kinds of SQL meet here.  The source, features, label, domain and
 * weight are the caller's own SQL, to be resolved in the caller's
 * search_path, like the query they would type.  The registry work (may
 * this role train this name, which model to warm-start from, numbering,
 * retention, the insert) is mixrec's own, and must not be steered by
 * whatever functions or operators sit in a schema on that search_path: a
 * superuser's nightly pg_cron job would otherwise run an attacker's
 * function.  A function with a pinned search_path cannot do both, since
 * its SET clause holds for everything it calls.  So this C function, which
 * changes no setting, calls three functions by their schema-qualified
 * names, with every argument passed as a typed parameter (the training
 * options as one jsonb, built from the arguments named like options by
 * src/options.c):
 *
 *	1. mixrec_train_begin (PL/pgSQL, pinned): checks the name and the
 *	   caller's right to it, and returns the model to start from;
 *	2. mixrec_train_model (C): trains, in the caller's search_path;
 *	3. mixrec_train_store (PL/pgSQL, pinned): stores the new version.
 *
 * An incremental training (since => column, src/train_since.c) asks
 * mixrec_train_watermark (PL/pgSQL, pinned) between steps 1 and 2 for the
 * active version's watermark and weights, trains on the rows above it, and
 * adds the new watermark to the metrics; with no such rows it stores
 * nothing and returns no row.
 *
 * All three run in the caller's transaction: a failure or a cancel in any
 * of them leaves the registry as it was.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "options.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_train);

/*
 * mixrec_train's arguments that are not training options, by name: the
 * training options are the arguments named like a row of src/options.c
 */
enum
{
	ARG_MODEL_NAME = 0,
	ARG_SOURCE,
	ARG_FEATURES,
	ARG_LABEL,
	ARG_DOMAIN,
	ARG_WEIGHT,
	ARG_WARM_START,
	ARG_INITIAL_MODEL,
	ARG_SINCE,
	ARG_COUNT
};

static const char *const arg_names[ARG_COUNT] = {
	"model_name", "source", "features", "label", "domain", "weight", "warm_start",
	"initial_model", "since"
};

static void FindArguments(FunctionCallInfo fcinfo, int *positions);
static char *QualifiedCall(const char *schema, const char *function, int nargs);
static SPITupleTable *CallStep(const char *schema, const char *function, int nargs, Oid *types,
							   Datum *values, const char *nulls);
static Datum OptionsOfArguments(FunctionCallInfo fcinfo);
static bool SinceStart(const char *schema, Datum model_name, const char *source,
					   bool incremental, SinceColumn *since, char **watermark,
					   Datum *start_model);
static Datum JsonbAddSince(Datum object, const SinceColumn *since, const char *watermark,
						   bool metrics);

/*
 * Find the positions of mixrec_train's arguments that are not options
 */
static void
FindArguments(FunctionCallInfo fcinfo, int *positions)
{
	int			nargs;
	Oid		   *types;
	char	  **names = FunctionArguments(fcinfo, &nargs, &types);

	for (int a = 0; a < ARG_COUNT; a++)
	{
		positions[a] = -1;
		for (int i = 0; i < nargs; i++)
			if (strcmp(names[i], arg_names[a]) == 0)
				positions[a] = i;
		if (positions[a] < 0 || positions[a] >= PG_NARGS())
			elog(ERROR, "mixrec_train has no argument %s", arg_names[a]);
	}
}

/*
 * "SELECT * FROM schema.function($1, ..., $n)"
 */
static char *
QualifiedCall(const char *schema, const char *function, int nargs)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT * FROM %s.%s(", schema, function);
	for (int i = 1; i <= nargs; i++)
		appendStringInfo(&query, "%s$%d", i > 1 ? ", " : "", i);
	appendStringInfoChar(&query, ')');
	return query.data;
}

/*
 * Run one step of the training, schema.function(params), and return its
 * rows (at least one)
 */
static SPITupleTable *
CallStep(const char *schema, const char *function, int nargs, Oid *types, Datum *values,
		 const char *nulls)
{
	if (SPI_execute_with_args(QualifiedCall(schema, function, nargs), nargs, types, values,
							  nulls, false, 1) != SPI_OK_SELECT || SPI_processed < 1)
		elog(ERROR, "%s returned no row", function);
	return SPI_tuptable;
}

/*
 * The options jsonb, from the arguments named like options: what
 * mixrec_train_model reads, and what the registry stores as the config
 */
static Datum
OptionsOfArguments(FunctionCallInfo fcinfo)
{
	TrainOptions opts;

	OptionsDefaults(&opts, OPTIONS_TRAIN);
	OptionsFromArguments(fcinfo, OPTIONS_TRAIN, &opts);
	OptionsCheck(&opts, OPTIONS_TRAIN);
	return JsonbPGetDatum(OptionsToJsonb(&opts, OPTIONS_TRAIN));
}

/*
 * Prepare an incremental training: find the column, the active version's
 * watermark (and then its weights, in *start_model) and the rows above it;
 * false when there are none, though there is a watermark
 */
static bool
SinceStart(const char *schema, Datum model_name, const char *source, bool incremental,
		   SinceColumn *since, char **watermark, Datum *start_model)
{
	Datum		args[2] = {model_name, CStringGetTextDatum(since->column)};
	Oid			types[2] = {TEXTOID, TEXTOID};
	bool		isnull;

	SinceResolve(since, source, since->column);
	*watermark = NULL;
	/* warm_start => false: every row, and a new watermark */
	if (incremental &&
		SPI_execute_with_args(QualifiedCall(schema, "mixrec_train_watermark", 2), 2, types,
							  args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mixrec_train_watermark failed");
	if (incremental && SPI_processed == 1)
	{
		if (SPI_tuptable->tupdesc->natts != 2 ||
			TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != BYTEAOID ||
			TupleDescAttr(SPI_tuptable->tupdesc, 1)->atttypid != TEXTOID)
			elog(ERROR, "mixrec_train_watermark returned an unexpected result");
		*start_model = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		*watermark = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	SinceScan(since, source, *watermark);
	if (*watermark == NULL && since->rows == 0 && since->null_rows > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("since column \"%s\" is NULL in every row of the source", since->column),
				 errdetail("Rows whose since column is NULL are never read.")));
	if (*watermark && since->rows == 0)
	{
		ereport(NOTICE,
				(errmsg("model \"%s\": no rows newer than watermark %s",
						TextDatumGetCString(model_name), *watermark),
				 errdetail("No new version was stored.")));
		return false;
	}
	return true;
}

/*
 * Add what an incremental training read to its metrics ("since": {column,
 * type, watermark, previous_watermark, rows, null_rows}) or to its config
 * ("since": column)
 */
static Datum
JsonbAddSince(Datum object, const SinceColumn *since, const char *watermark, bool metrics)
{
	Datum		args[7] = {object, CStringGetTextDatum(since->column),
		CStringGetTextDatum(since->type_name), since->upto ? CStringGetTextDatum(since->upto) : 0,
		watermark ? CStringGetTextDatum(watermark) : 0, Int64GetDatum(since->rows),
	Int64GetDatum(since->null_rows)};
	char		nulls[7] = {' ', ' ', ' ', since->upto ? ' ' : 'n', watermark ? ' ' : 'n', ' ', ' '};
	Oid			types[7] = {JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
	const char *query = metrics ?
		"SELECT $1 OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('since', "
		"pg_catalog.jsonb_build_object('column', $2, 'type', $3, 'watermark', $4, "
		"'previous_watermark', $5, 'rows', $6, 'null_rows', $7))" :
		"SELECT $1 OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('since', $2)";
	bool		isnull;

	if (SPI_execute_with_args(query, metrics ? 7 : 2, types, args, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not add the watermark to the metrics");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

/*
 * Train on the rows of a table, view or query and store a new active version
 *
 * mixrec_train(model_name, source, features, label, domain, weight, alpha,
 *	 hidden, epochs, batch_size, learning_rate, beta1, beta2, eps,
 *	 weight_decay, optimizer, validation_fraction, patience, standardize,
 *	 shuffle, init, seed, warm_start, initial_model, on_invalid, method, ..., since)
 *	 returns table (model, version, epochs_run, train_loss, validation_loss,
 *	 validation_auc)
 */
Datum
mixrec_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
	int			pos[ARG_COUNT];
	Datum		values[ARG_COUNT];
	char		nulls[ARG_COUNT];
	Datum		options;
	Datum		start_model;
	bool		start_isnull;
	Datum		weights;
	Datum		metrics;
	bool		isnull;
	SPITupleTable *stored;
	MemoryContext caller = CurrentMemoryContext;
	SinceColumn since = {0};
	char	   *watermark = NULL;
	Datum		train_source;
	bool		incremental;

	InitMaterializedSRF(fcinfo, 0);
	FindArguments(fcinfo, pos);
	for (int a = 0; a < ARG_COUNT; a++)
	{
		values[a] = PG_ARGISNULL(pos[a]) ? (Datum) 0 : PG_GETARG_DATUM(pos[a]);
		nulls[a] = PG_ARGISNULL(pos[a]) ? 'n' : ' ';
	}

	/*
	 * warm_start NULL (the default) is false, except with since, where it
	 * continues the version that carries the watermark; an explicit false
	 * with since trains a new model on every row and stores a watermark
	 */
	incremental = nulls[ARG_SINCE] != 'n' && nulls[ARG_SOURCE] != 'n' &&
		(nulls[ARG_WARM_START] == 'n' || DatumGetBool(values[ARG_WARM_START]));
	if (nulls[ARG_WARM_START] == 'n')
	{
		values[ARG_WARM_START] = BoolGetDatum(false);
		nulls[ARG_WARM_START] = ' ';
	}
	if (nulls[ARG_SINCE] != 'n' && nulls[ARG_INITIAL_MODEL] != 'n')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give since or initial_model, not both"),
				 errdetail("An incremental training continues the active version of the model.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* 1. May this role train the name; the model to start from */
	{
		Datum		begin_values[3] = {values[ARG_MODEL_NAME], values[ARG_WARM_START],
		values[ARG_INITIAL_MODEL]};
		char		begin_nulls[3] = {nulls[ARG_MODEL_NAME], nulls[ARG_WARM_START],
		nulls[ARG_INITIAL_MODEL]};
		Oid			begin_types[3] = {TEXTOID, BOOLOID, BYTEAOID};

		SPITupleTable *begun = CallStep(schema, "mixrec_train_begin", 3, begin_types,
										begin_values, begin_nulls);

		start_model = SPI_getbinval(begun->vals[0], begun->tupdesc, 1, &start_isnull);
	}
	options = OptionsOfArguments(fcinfo);

	/* Incremental: the rows above the active version's watermark, if any */
	train_source = values[ARG_SOURCE];
	if (nulls[ARG_SINCE] != 'n' && nulls[ARG_SOURCE] != 'n')
	{
		const char *source = TextDatumGetCString(values[ARG_SOURCE]);

		since.column = TextDatumGetCString(values[ARG_SINCE]);
		if (!SinceStart(schema, values[ARG_MODEL_NAME], source, incremental, &since,
						&watermark, &start_model))
		{
			SPI_finish();
			return (Datum) 0;
		}
		/* Continuing the watermark's version is a warm start, recorded so */
		if (watermark)
		{
			start_isnull = false;
			values[ARG_WARM_START] = BoolGetDatum(true);
		}
		train_source = CStringGetTextDatum(SinceSource(&since, source, watermark));
	}

	/*
	 * 2. Train, in the caller's search_path: mixrec_train_model takes
	 * source, features, label, domain, weight, the options, the starting
	 * model and the name
	 */
	{
		Datum		train_values[8] = {train_source, values[ARG_FEATURES],
			values[ARG_LABEL], values[ARG_DOMAIN], values[ARG_WEIGHT], options, start_model,
		values[ARG_MODEL_NAME]};
		char		train_nulls[8] = {nulls[ARG_SOURCE], nulls[ARG_FEATURES],
			nulls[ARG_LABEL], nulls[ARG_DOMAIN], nulls[ARG_WEIGHT], ' ',
		start_isnull ? 'n' : ' ', nulls[ARG_MODEL_NAME]};
		Oid			train_types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
		BYTEAOID, TEXTOID};

		SPITupleTable *trained = CallStep(schema, "mixrec_train_model", 8, train_types,
										  train_values, train_nulls);

		if (trained->tupdesc->natts != 2 ||
			TupleDescAttr(trained->tupdesc, 0)->atttypid != BYTEAOID ||
			TupleDescAttr(trained->tupdesc, 1)->atttypid != JSONBOID)
			elog(ERROR, "mixrec_train_model returned an unexpected result");
		weights = SPI_getbinval(trained->vals[0], trained->tupdesc, 1, &isnull);
		metrics = SPI_getbinval(trained->vals[0], trained->tupdesc, 2, &isnull);
	}
	if (since.column && nulls[ARG_SOURCE] != 'n')
	{
		metrics = JsonbAddSince(metrics, &since, watermark, true);
		options = JsonbAddSince(options, &since, watermark, false);
	}

	/*
	 * 3. Store it: the name, the source's arguments, the options, how the
	 * training started, the weights and the metrics.  Writing the row cannot
	 * be interrupted (for a model at the parameter limit it takes seconds),
	 * so a cancel that came during the training is honoured here, before it
	 * starts.
	 */
	CHECK_FOR_INTERRUPTS();
	{
		Datum		store_values[11] = {values[ARG_MODEL_NAME], values[ARG_SOURCE],
			values[ARG_FEATURES], values[ARG_LABEL], values[ARG_DOMAIN], values[ARG_WEIGHT],
			options, values[ARG_WARM_START], BoolGetDatum(nulls[ARG_INITIAL_MODEL] != 'n'),
		weights, metrics};
		char		store_nulls[11] = {nulls[ARG_MODEL_NAME], nulls[ARG_SOURCE],
			nulls[ARG_FEATURES], nulls[ARG_LABEL], nulls[ARG_DOMAIN], nulls[ARG_WEIGHT], ' ',
		nulls[ARG_WARM_START], ' ', ' ', ' '};
		Oid			store_types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		JSONBOID, BOOLOID, BOOLOID, BYTEAOID, JSONBOID};

		stored = CallStep(schema, "mixrec_train_store", 11, store_types, store_values,
						  store_nulls);
	}
	if (stored->tupdesc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "mixrec_train_store returned %d columns, expected %d",
			 stored->tupdesc->natts, rsinfo->setDesc->natts);
	for (uint64 i = 0; i < stored->numvals; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		tuplestore_puttuple(rsinfo->setResult, stored->vals[i]);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return (Datum) 0;
}

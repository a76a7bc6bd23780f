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
	ARG_COUNT
};

static const char *const arg_names[ARG_COUNT] = {
	"model_name", "source", "features", "label", "domain", "weight", "warm_start",
	"initial_model"
};

static void FindArguments(FunctionCallInfo fcinfo, int *positions);
static char *QualifiedCall(const char *schema, const char *function, int nargs);
static SPITupleTable *CallStep(const char *schema, const char *function, int nargs, Oid *types,
							   Datum *values, const char *nulls);
static Datum OptionsOfArguments(FunctionCallInfo fcinfo);

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
 * Train on the rows of a table, view or query and store a new active version
 *
 * mixrec_train(model_name, source, features, label, domain, weight, alpha,
 *	 hidden, epochs, batch_size, learning_rate, beta1, beta2, eps,
 *	 weight_decay, optimizer, validation_fraction, patience, standardize,
 *	 shuffle, init, seed, warm_start, initial_model, on_invalid, method)
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

	InitMaterializedSRF(fcinfo, 0);
	FindArguments(fcinfo, pos);
	for (int a = 0; a < ARG_COUNT; a++)
	{
		values[a] = PG_ARGISNULL(pos[a]) ? (Datum) 0 : PG_GETARG_DATUM(pos[a]);
		nulls[a] = PG_ARGISNULL(pos[a]) ? 'n' : ' ';
	}

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

	/*
	 * 2. Train, in the caller's search_path: mixrec_train_model takes
	 * source, features, label, domain, weight, the options, the starting
	 * model and the name
	 */
	{
		Datum		train_values[8] = {values[ARG_SOURCE], values[ARG_FEATURES],
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

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
 * names, with every argument passed as a typed parameter:
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
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_train);

/* mixrec_train's arguments, in the order of its SQL declaration */
enum
{
	ARG_MODEL_NAME = 0,
	ARG_SOURCE,
	ARG_SEED = 21,
	ARG_WARM_START,
	ARG_INITIAL_MODEL,
	ARG_ON_INVALID,
	ARG_METHOD,
	TRAIN_NARGS
};

static char *QualifiedCall(const char *schema, const char *function, int nargs);

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
	Oid		   *arg_types;
	int			nargs;
	Datum		values[TRAIN_NARGS + 2];
	char		nulls[TRAIN_NARGS + 2];
	Oid			types[TRAIN_NARGS + 2];
	Datum		start_model;
	bool		start_isnull;
	Datum		weights;
	Datum		metrics;
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;

	InitMaterializedSRF(fcinfo, 0);
	(void) get_func_signature(fcinfo->flinfo->fn_oid, &arg_types, &nargs);
	if (nargs != TRAIN_NARGS || PG_NARGS() != TRAIN_NARGS)
		elog(ERROR, "mixrec_train expects %d arguments, got %d", TRAIN_NARGS, nargs);
	for (int i = 0; i < TRAIN_NARGS; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		types[i] = arg_types[i];
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

		if (SPI_execute_with_args(QualifiedCall(schema, "mixrec_train_begin", 3), 3, begin_types,
								  begin_values, begin_nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "mixrec_train_begin returned no row");
		start_model = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &start_isnull);
	}

	/*
	 * 2. Train, in the caller's search_path: mixrec_train_model takes
	 * source..seed, the starting model, on_invalid, model_name, method
	 */
	{
		Datum		train_values[25];
		char		train_nulls[25];
		Oid			train_types[25];
		int			n = 0;

		for (int i = ARG_SOURCE; i <= ARG_SEED; i++, n++)
		{
			train_values[n] = values[i];
			train_nulls[n] = nulls[i];
			train_types[n] = types[i];
		}
		train_values[n] = start_model;
		train_nulls[n] = start_isnull ? 'n' : ' ';
		train_types[n++] = BYTEAOID;
		train_values[n] = values[ARG_ON_INVALID];
		train_nulls[n] = nulls[ARG_ON_INVALID];
		train_types[n++] = TEXTOID;
		train_values[n] = values[ARG_MODEL_NAME];
		train_nulls[n] = nulls[ARG_MODEL_NAME];
		train_types[n++] = TEXTOID;
		train_values[n] = values[ARG_METHOD];
		train_nulls[n] = nulls[ARG_METHOD];
		train_types[n++] = TEXTOID;
		Assert(n == lengthof(train_values));

		if (SPI_execute_with_args(QualifiedCall(schema, "mixrec_train_model", n), n, train_types,
								  train_values, train_nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 2 ||
			TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != BYTEAOID ||
			TupleDescAttr(SPI_tuptable->tupdesc, 1)->atttypid != JSONBOID)
			elog(ERROR, "mixrec_train_model returned an unexpected result");
		weights = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		metrics = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	}

	/*
	 * 3. Store it: every argument, then the weights and the metrics.  Writing
	 * the row cannot be interrupted (for a model at the parameter limit it
	 * takes seconds), so a cancel that came during the training is honoured
	 * here, before it starts.
	 */
	CHECK_FOR_INTERRUPTS();
	values[TRAIN_NARGS] = weights;
	nulls[TRAIN_NARGS] = ' ';
	types[TRAIN_NARGS] = BYTEAOID;
	values[TRAIN_NARGS + 1] = metrics;
	nulls[TRAIN_NARGS + 1] = ' ';
	types[TRAIN_NARGS + 1] = JSONBOID;
	if (SPI_execute_with_args(QualifiedCall(schema, "mixrec_train_store", TRAIN_NARGS + 2),
							  TRAIN_NARGS + 2, types, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mixrec_train_store failed");
	if (SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "mixrec_train_store returned %d columns, expected %d",
			 SPI_tuptable->tupdesc->natts, rsinfo->setDesc->natts);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * src/registry.c
 *	  Reading models from the registry table mixrec_models.
 *
 * The scoring, prediction and evaluation functions take a model by name;
 * they read its weights here, once per query (the callers cache what they
 * read), with an ordinary SPI query under the caller's snapshot, so a
 * query sees one consistent version even while a retraining commits a new
 * one, and the next query sees the new one.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mixrec.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/*
 * Fetch a model's weights: its active version (version < 0) or the given
 * one.  The result lives in the caller's memory context.
 */
bytea *
RegistryFetch(FunctionCallInfo fcinfo, const char *name, int32 version, int32 *found_version)
{
	MemoryContext caller = CurrentMemoryContext;
	const char *schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
	char	   *query;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		weights_null;
	bool		version_null;
	bytea	   *weights;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);

	/*
	 * The query runs under the caller's search_path, where anyone who may
	 * create objects in a schema ahead of pg_catalog could define an "="
	 * on text that matches every name: the operators are schema-qualified.
	 * It runs with the caller's privileges, so row-level security on the
	 * registry decides which models the caller can read.
	 */
	query = psprintf("SELECT weights, version FROM %s.mixrec_models "
					 "WHERE name OPERATOR(pg_catalog.=) $1 "
					 "AND CASE WHEN $2 OPERATOR(pg_catalog.<) 0 THEN active "
					 "ELSE version OPERATOR(pg_catalog.=) $2 END",
					 schema);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the model registry");
	if (SPI_processed == 0)
	{
		if (version < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no active version", name),
					 errhint("Train it with mixrec_train, or activate a version with mixrec_activate.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	}

	/* The table is the extension's, but its owner can alter it */
	if (SPI_tuptable->tupdesc->natts != 2 ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 1) != BYTEAOID ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 2) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model registry mixrec_models has unexpected column types"),
				 errdetail("Columns weights and version must be bytea and integer.")));
	weights = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &weights_null));
	*found_version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &version_null));
	if (weights_null || version_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model \"%s\" has a NULL %s in the registry", name,
						weights_null ? "weights" : "version")));
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);
		Size		len = VARSIZE_ANY_EXHDR(weights);
		bytea	   *copy = palloc(len + VARHDRSZ);

		SET_VARSIZE(copy, len + VARHDRSZ);
		memcpy(VARDATA(copy), VARDATA_ANY(weights), len);
		MemoryContextSwitchTo(spi);
		weights = copy;
	}
	SPI_finish();
	return weights;
}

/*
 * Read a model from the registry: the name in argument name_arg, the
 * version in version_arg (NULL: the active version)
 */
MixrecModel *
RegistryModel(FunctionCallInfo fcinfo, int name_arg, int version_arg)
{
	int32		version = -1;
	int32		found;
	bytea	   *blob;

	if (PG_ARGISNULL(name_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_name must not be NULL")));
	if (!PG_ARGISNULL(version_arg))
	{
		version = PG_GETARG_INT32(version_arg);
		if (version < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("version must be positive, got %d", version)));
	}
	blob = RegistryFetch(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(name_arg)), version, &found);
	BlasEnsureThreads();
	return ModelFromBytea(blob);
}

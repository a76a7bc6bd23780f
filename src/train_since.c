/*
 * src/train_since.c
 *	  Incremental training: the rows of a source newer than a watermark.
 *
 * mixrec_train(..., since => 'column') reads only the rows whose column is
 * greater than the watermark the active version stored, continues that
 * version, and stores the largest value it read as the new watermark.  This
 * file builds the SQL of it; src/train_version.c runs the steps.
 *
 * The column must be of a type whose order is the order of time: a date, a
 * timestamp with or without time zone, or an integer.  The watermark is kept
 * as text in the version's metrics, written by to_jsonb, which gives dates
 * and times in ISO 8601 whatever DateStyle and TimeZone say, so that any
 * session reads it back as the same value.  It is compared in the column's
 * own type, as a literal cast to that type, never as text.
 *
 * The largest value is read first, then the training reads the rows between
 * the old watermark (excluded) and that value (included): a row committed
 * while the training reads, with a value above it, is left for the next
 * run rather than lost.  A row committed later with a value at or below the
 * watermark is never read (values that go backwards), as documented.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mixrec.h"
#include "training.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

static bool SinceTypeAllowed(Oid type);

/*
 * May a column of this type (or a domain over it) be a since column?
 */
static bool
SinceTypeAllowed(Oid type)
{
	switch (getBaseType(type))
	{
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case DATEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return true;
		default:
			return false;
	}
}

/*
 * Find the since column among the source's columns and check its type
 */
void
SinceResolve(SinceColumn *since, const char *source, const char *column)
{
	TupleDesc	desc = SourceColumns(SourceFrom(source), "source");

	since->column = column;
	since->type = InvalidOid;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			since->type = att->atttypid;
	}
	if (!OidIsValid(since->type))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("since column \"%s\" does not exist in the source", column)));
	if (!SinceTypeAllowed(since->type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("since column \"%s\" is of type %s", column, format_type_be(since->type)),
				 errdetail("A since column is of type timestamp, timestamptz, date, smallint, integer or bigint.")));
	/* Schema-qualified, so that no type of the caller's search_path stands in */
	since->type_sql = format_type_extended(since->type, -1, FORMAT_TYPE_FORCE_QUALIFY);
	since->type_name = format_type_be(since->type);
}

/*
 * The condition "(column) > watermark AND (column) <= upto" in the column's
 * own type; either bound may be NULL (none)
 */
char *
SinceCondition(const SinceColumn *since, const char *watermark, const char *upto)
{
	StringInfoData cond;
	const char *column = quote_identifier(since->column);

	initStringInfo(&cond);
	appendStringInfoString(&cond, "true");
	if (watermark)
		appendStringInfo(&cond, " AND (%s) OPERATOR(pg_catalog.>) %s::%s", column,
						 quote_literal_cstr(watermark), since->type_sql);
	if (upto)
		appendStringInfo(&cond, " AND (%s) OPERATOR(pg_catalog.<=) %s::%s", column,
						 quote_literal_cstr(upto), since->type_sql);
	return cond.data;
}

/*
 * Count the rows above the watermark (NULL: every row) and find the largest
 * value among them; count the rows whose column is NULL, which are skipped
 */
void
SinceScan(SinceColumn *since, const char *source, const char *watermark)
{
	const char *column = quote_identifier(since->column);
	char	   *query;
	SPIPlanPtr	plan;
	static const Oid types[3] = {TEXTOID, INT8OID, INT8OID};
	static const SourceShape shape = {
		.arguments = "source and since",
		.columns = "since",
		.ncolumns = 3,
		.types = types,
	};
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;

	query = psprintf("SELECT pg_catalog.jsonb_extract_path_text(pg_catalog.to_jsonb(pg_catalog.max(%s)), VARIADIC '{}'::pg_catalog.text[]), "
					 "pg_catalog.count(%s), pg_catalog.count(*) OPERATOR(pg_catalog.-) pg_catalog.count(%s) "
					 "FROM %s WHERE (%s) OR (%s) IS NULL",
					 column, column, column, SourceFrom(source),
					 SinceCondition(since, watermark, NULL), column);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(query, 0, NULL, 0, &shape);
	if (SPI_execute_plan(plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the since column's scan returned no row");
	since->upto = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	/* SPI_finish frees what was allocated since SPI_connect */
	if (since->upto)
		since->upto = MemoryContextStrdup(caller, since->upto);
	since->rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											  &isnull));
	since->null_rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												   3, &isnull));
	SPI_finish();
}

/*
 * The source the training reads: the rows above the watermark, up to the
 * largest value the scan found
 */
char *
SinceSource(const SinceColumn *since, const char *source, const char *watermark)
{
	return psprintf("SELECT * FROM %s WHERE (%s) IS NOT NULL AND %s", SourceFrom(source),
					quote_identifier(since->column),
					SinceCondition(since, watermark, since->upto));
}

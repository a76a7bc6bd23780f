/*
 * src/source.c
 *	  The source layer: resolving, preparing and reading the rows of a source.
 *
 * A source is a table or view name, or a query.  Every statement mixrec
 * assembles around the caller's text (the source and column expressions)
 * must be exactly one SELECT: the raw parser must accept it as one
 * (CheckOneSelect), so that no argument can end it and start another, and
 * its plan's result columns must be the number and types the C code will
 * read (SourcePrepare), since an argument can still shift the columns (a
 * comma, a comment).  What mixrec writes around the arguments is
 * schema-qualified by its callers; the arguments themselves are resolved
 * under the caller's search_path, as written.
 *
 * Rows are read through a read-only SPI cursor, in batches of fetch_rows:
 * SourceNext checks for interrupts, frees each batch before fetching the
 * next, and resets a batch context the caller may allocate per-row values
 * in.  While the cursor is open, an error context callback (as COPY's
 * "COPY t, line N") adds "<what> row N" to any error raised while the
 * caller processes row N, so no message needs to carry the row number.
 * mixrec_predict, which takes its rows from the executor through a
 * DestReceiver rather than a cursor, uses the same callback
 * (SourceRowContextPush).
 */
#include "postgres.h"

#include "compat.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "source.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

/* The alias of a query source in the statements mixrec assembles */
#define SOURCE_QUERY_ALIAS "mixrec_source"

static bool SourceIsQuery(const char *source);
static Oid	SourceRelid(const char *source);
static const char *Together(const char *arguments);
static void CheckOneSelect(const char *query, const char *arguments);
static char *TypeList(int n, const Oid *types, TupleDesc desc);
static void SourceRowCallback(void *arg);

/*
 * Resolve a relation name and return it schema-qualified and quoted
 */
const char *
SourceRelation(const char *source)
{
	Oid			relid = SourceRelid(source);

	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * The relation a source names, locked for reading, after checking its kind
 */
static Oid
SourceRelid(const char *source)
{
	char	   *copy = pstrdup(source);
	List	   *parts;
	List	   *names;
	RangeVar   *rv;
	Oid			relid;
	char		kind;

	if (!SplitIdentifierString(copy, '.', &parts) || parts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" is neither a table or view name nor a query", source),
				 errhint("A query starts with SELECT, WITH, VALUES or TABLE.")));
	names = stringToQualifiedNameList(source, NULL);
	rv = makeRangeVarFromNameList(names);
	relid = RangeVarGetRelid(rv, AccessShareLock, false);
	kind = get_rel_relkind(relid);

	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_FOREIGN_TABLE && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", source)));
	return relid;
}

/*
 * How a statement whose FROM is SourceFrom(source) names the source's row:
 * the alias SourceFrom gives a query, or the relation's own name
 */
char *
SourceRowReference(const char *source)
{
	if (SourceIsQuery(source))
		return pstrdup(SOURCE_QUERY_ALIAS);
	return pstrdup(quote_identifier(get_rel_name(SourceRelid(source))));
}

/*
 * Return the FROM item for a source: a resolved, quoted relation, or the
 * query as a subquery
 */
char *
SourceFrom(const char *source)
{
	if (SourceIsQuery(source))
		return psprintf("(%s) AS " SOURCE_QUERY_ALIAS, source);
	return pstrdup(SourceRelation(source));
}

/*
 * Is a source a query (rather than a relation's name)?
 */
static bool
SourceIsQuery(const char *source)
{
	static const char *const query_words[] = {"select", "with", "values", "table"};
	const char *p = source;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
		p++;
	for (int i = 0; i < lengthof(query_words); i++)
	{
		size_t		len = strlen(query_words[i]);

		if (pg_strncasecmp(p, query_words[i], len) == 0 &&
			(p[len] == '\0' || p[len] == ' ' || p[len] == '\t' || p[len] == '\n' ||
			 p[len] == '\r' || p[len] == '(' || p[len] == '*'))
			return true;
	}
	return false;
}

/*
 * "together " when a message names several arguments ("source and
 * features"), nothing for one
 */
static const char *
Together(const char *arguments)
{
	return strstr(arguments, " and ") ? "together " : "";
}

/*
 * Prove that a query assembled from arguments is exactly one SELECT: an
 * argument cannot end it and start another.  A syntax error is reported
 * against this query, not the caller's (whose text the parser's error
 * position would point into).
 */
static void
CheckOneSelect(const char *query, const char *arguments)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *parsed = NIL;

	PG_TRY();
	{
		parsed = raw_parser(query, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must %sform one SELECT", arguments, Together(arguments)),
				 errdetail("%s in the query: %s", edata->message, query)));
	}
	PG_END_TRY();
	if (list_length(parsed) != 1 ||
		!IsA(linitial_node(RawStmt, parsed)->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must %sform one SELECT", arguments, Together(arguments)),
				 errdetail("The query: %s", query)));
}

/*
 * The result columns of a statement SourcePrepare prepared: one SELECT that
 * returns rows (NULL for anything else)
 */
TupleDesc
SourcePlanColumns(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;

	if (list_length(sources) != 1)
		return NULL;
	source = linitial(sources);
	if (source->commandTag != CMDTAG_SELECT)
		return NULL;
	return source->resultDesc;
}

/*
 * Name n types, for messages: the given ones, or a descriptor's columns'
 */
static char *
TypeList(int n, const Oid *types, TupleDesc desc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		Oid			type = desc ? TupleDescAttr(desc, i)->atttypid : types[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, OidIsValid(type) ? format_type_be(type) : "any type");
	}
	return buf.data;
}

/*
 * Prepare a statement assembled from arguments, and prove that it reads
 * what the C code expects before any Datum is read
 *
 * The raw parser must see exactly one SELECT (CheckOneSelect), and so must
 * the plan; then the result columns must be exactly shape->ncolumns (at
 * least, with more_columns), each of exactly the type in shape->types,
 * where one is given.  An argument that shifts the columns (a comma or a
 * comment in it) would otherwise make the caller read a Datum as another
 * type.  The plan is prepared with cursor_options (SPI_prepare_cursor), in
 * the current SPI connection.
 */
SPIPlanPtr
SourcePrepare(const char *query, int nargs, Oid *argtypes, int cursor_options,
			  const SourceShape *shape)
{
	SPIPlanPtr	plan;
	TupleDesc	desc;

	CheckOneSelect(query, shape->arguments);
	plan = SPI_prepare_cursor(query, nargs, argtypes, cursor_options);
	if (plan == NULL)
		elog(ERROR, "could not prepare the query: %s", SPI_result_code_string(SPI_result));

	/* A SELECT INTO or a rule can still make it something else */
	desc = SourcePlanColumns(plan);
	if (desc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must %sform one SELECT that returns rows", shape->arguments,
						Together(shape->arguments)),
				 errdetail("The query: %s", query)));

	/*
	 * The columns checked below must be the columns the rows come in, also
	 * when the plan is made again before or while it runs (a table altered
	 * meanwhile, in this session or another; a streamed training runs its
	 * plan once per epoch).  A plan of fixed result refuses to be replanned
	 * into other columns, as a prepared statement does.
	 */
	((CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)))->fixed_result = true;

	if (desc->natts < shape->ncolumns ||
		(desc->natts > shape->ncolumns && !shape->more_columns))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must give %s%d column%s, the query gives %d", shape->columns,
						shape->more_columns ? "at least " : "", shape->ncolumns,
						shape->ncolumns == 1 ? "" : "s", desc->natts),
				 errdetail("The query: %s", query)));
	if (shape->types)
		for (int i = 0; i < shape->ncolumns; i++)
			if (OidIsValid(shape->types[i]) &&
				TupleDescAttr(desc, i)->atttypid != shape->types[i])
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("%s must give columns of types (%s), the query gives (%s)",
								shape->columns, TypeList(shape->ncolumns, shape->types, NULL),
								TypeList(desc->natts, NULL, desc)),
						 errdetail("The query: %s", query)));
	return plan;
}

/*
 * Add the row being processed to an error's context
 */
static void
SourceRowCallback(void *arg)
{
	SourceRowContext *context = (SourceRowContext *) arg;

	if (context->row > 0)
		errcontext("%s row %lld", context->what, (long long) context->row);
}

/*
 * Install the error context of the rows of `what`; no row yet
 */
void
SourceRowContextPush(SourceRowContext *context, const char *what)
{
	context->what = what;
	context->row = 0;
	context->callback.callback = SourceRowCallback;
	context->callback.arg = context;
	context->callback.previous = error_context_stack;
	error_context_stack = &context->callback;
}

/*
 * Remove the error context SourceRowContextPush installed
 */
void
SourceRowContextPop(SourceRowContext *context)
{
	Assert(error_context_stack == &context->callback);
	error_context_stack = context->callback.previous;
}

/*
 * Open a read-only cursor over a statement SourcePrepare prepared, in the
 * current SPI connection; `what` names its rows in error contexts
 */
void
SourceOpen(SourceCursor *cursor, SPIPlanPtr plan, const char *what, int fetch_rows)
{
	MemoryContext caller = CurrentMemoryContext;

	memset(cursor, 0, sizeof(*cursor));
	cursor->fetch_rows = fetch_rows;
	cursor->batch_context = AllocSetContextCreate(caller, "mixrec source batch",
												  ALLOCSET_DEFAULT_SIZES);
	cursor->portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	/*
	 * SPI leaves its procedure context current, which SPI_finish frees:
	 * whatever the caller allocates between rows (and SourceNext restores
	 * after each fetch) must go where the caller was
	 */
	MemoryContextSwitchTo(caller);
	SourceRowContextPush(&cursor->context, what);
}

/*
 * The next row, or NULL after the last; its number is in the error context
 * until the next call
 *
 * The tuple lives until the next call, which frees the batch it came in
 * when it fetches the next one (and resets the batch context).  The
 * caller's memory context is kept across the fetch.
 */
HeapTuple
SourceNext(SourceCursor *cursor)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		row = cursor->context.row;

	if (cursor->table == NULL || cursor->next == cursor->table->numvals)
	{
		/* A fetch error belongs to no row of ours */
		cursor->context.row = 0;
		if (cursor->table != NULL)
			SPI_freetuptable(cursor->table);
		cursor->table = NULL;
		MemoryContextReset(cursor->batch_context);
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(cursor->portal, true, cursor->fetch_rows);
		MemoryContextSwitchTo(caller);
		if (SPI_processed == 0)
		{
			SPI_freetuptable(SPI_tuptable);
			return NULL;
		}
		cursor->table = SPI_tuptable;
		cursor->desc = SPI_tuptable->tupdesc;
		cursor->next = 0;
	}
	else if ((row & 1023) == 0)
		CHECK_FOR_INTERRUPTS();
	cursor->context.row = row + 1;
	return cursor->table->vals[cursor->next++];
}

/*
 * Close the cursor, free the last batch and remove the error context
 */
void
SourceClose(SourceCursor *cursor)
{
	SourceRowContextPop(&cursor->context);
	if (cursor->table != NULL)
		SPI_freetuptable(cursor->table);
	cursor->table = NULL;
	SPI_cursor_close(cursor->portal);
	MemoryContextDelete(cursor->batch_context);
}

/*
 * src/source.h
 *	  The source layer of the PostgreSQL layer: how rows enter mixrec.
 *
 * A source is a table, view or query named by the caller.  SourceFrom turns
 * it into a FROM item; SourcePrepare prepares a statement assembled around
 * it and proves its result columns before any Datum is read; SourceOpen,
 * SourceNext and SourceClose read the rows through a read-only cursor in
 * batches, with an error context that names the row ("source row N") of
 * any error raised while the caller processes it.  The values of a row are
 * converted by the datum layer (datum.h).
 */
#ifndef MIXREC_SOURCE_H
#define MIXREC_SOURCE_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"

/*
 * The result columns a statement assembled from arguments must have
 * (SourcePrepare)
 */
typedef struct SourceShape
{
	const char *arguments;		/* every argument in the statement, for messages */
	const char *columns;		/* the arguments that give its columns, for messages */
	int			ncolumns;		/* exactly this many columns... */
	bool		more_columns;	/* ...or at least, and the rest unread */
	const Oid  *types;			/* [ncolumns] the exact types, InvalidOid where the
								 * caller checks; NULL: the caller checks them all */
} SourceShape;

/*
 * The row being processed, for the error context: "<what> row <row>".  Row
 * 0 means no row is being processed, and adds nothing.
 */
typedef struct SourceRowContext
{
	ErrorContextCallback callback;
	const char *what;			/* "source", "items", "users" */
	int64		row;
} SourceRowContext;

/* An open cursor over a prepared statement */
typedef struct SourceCursor
{
	Portal		portal;
	int			fetch_rows;
	SPITupleTable *table;		/* the current batch, NULL before the first */
	uint64		next;			/* index of the next row in table */
	TupleDesc	desc;			/* the rows' descriptor, once a batch is read */
	MemoryContext batch_context;	/* reset with each batch: for the caller's
									 * per-row allocations */
	SourceRowContext context;
} SourceCursor;

extern char *SourceFrom(const char *source);
extern const char *SourceRelation(const char *source);
extern char *SourceRowReference(const char *source);
extern SPIPlanPtr SourcePrepare(const char *query, int nargs, Oid *argtypes,
								int cursor_options, const SourceShape *shape);
extern TupleDesc SourcePlanColumns(SPIPlanPtr plan);

extern void SourceOpen(SourceCursor *cursor, SPIPlanPtr plan, const char *what, int fetch_rows);
extern HeapTuple SourceNext(SourceCursor *cursor);
extern void SourceClose(SourceCursor *cursor);

extern void SourceRowContextPush(SourceRowContext *context, const char *what);
extern void SourceRowContextPop(SourceRowContext *context);

#endif							/* MIXREC_SOURCE_H */

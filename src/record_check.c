/*
 * src/record_check.c
 *	  Checking that a row value's bytes fit its row type, and an array's its
 *	  header, before they are read.
 *
 * heap_deform_tuple and deconstruct_array trust their input: a length that
 * runs past the value, or a pointer stored where an inline value belongs,
 * makes them read memory that is not the value's.  The values mixrec reads
 * as rows are normally well formed, but not always: a PL/pgSQL variable
 * of a table's row type, filled before ALTER TABLE ... ALTER COLUMN ...
 * TYPE, can reach a function with its old bytes under the new row type
 * (PostgreSQL stops some such statements itself, 18 fewer than 15).  So every
 * row value is walked once against its descriptor before it is deformed,
 * and every array against its own header before its elements are read; a
 * value that does not fit is an error, never a read past its end.
 *
 * What the walk cannot tell is bytes that fit but mean something else (an
 * integer's four bytes read as a date): those are values like any other,
 * and the type's own functions check them as they would any input.
 */
#include "postgres.h"

#include "compat.h"
#include "record_check.h"
#include "utils/builtins.h"

static size_t VarlenaCheck(const char *p, size_t avail, const char *column, int number);
pg_noreturn static void NotMatching(const char *column, int number, const char *detail);

/*
 * Report a value whose bytes do not fit its type: attribute `number` of a
 * row value (column NULL), or element `number` of an array in a column
 */
static void
NotMatching(const char *column, int number, const char *detail)
{
	if (column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("attribute %d of the row value does not match its row type: %s", number, detail),
				 errhint("A row variable filled before its table or type was altered keeps the old layout; read the row again.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("element %d of the array in column \"%s\" does not match its type: %s",
					number, column, detail)));
}

/*
 * The size of the inline varlena at p, which must fit in avail bytes
 */
static size_t
VarlenaCheck(const char *p, size_t avail, const char *column, int number)
{
	size_t		size;

	if (avail < 1)
		NotMatching(column, number, "it runs past the end of the value");
	/* A row or array holds its values inline, never a pointer to elsewhere */
	if (VARATT_IS_1B_E(p))
		NotMatching(column, number, "it holds a pointer where a value belongs");
	if (VARATT_IS_1B(p))
		size = VARSIZE_1B(p);
	else
	{
		if (avail < VARHDRSZ)
			NotMatching(column, number, "it runs past the end of the value");
		size = VARSIZE_4B(p);
		if (size < VARHDRSZ)
			NotMatching(column, number, "its length is shorter than its header");
	}
	if (size < 1 || size > avail)
		NotMatching(column, number, "it runs past the end of the value");
	return size;
}

/*
 * Check that a row value's attributes, as desc lays them out, lie within
 * the value
 */
void
RecordCheckLayout(HeapTupleHeader header, TupleDesc desc)
{
	size_t		len = HeapTupleHeaderGetDatumLength(header);
	size_t		hoff = header->t_hoff;
	int			natts = HeapTupleHeaderGetNatts(header);
	bool		hasnulls = (header->t_infomask & HEAP_HASNULL) != 0;
	const char *data;
	size_t		size;
	size_t		off = 0;

	if (len < SizeofHeapTupleHeader || hoff < SizeofHeapTupleHeader || hoff > len ||
		(hasnulls && SizeofHeapTupleHeader + BITMAPLEN(natts) > hoff))
		NotMatching(NULL, 0, "its header does not fit it");
	data = (const char *) header + hoff;
	size = len - hoff;

	for (int i = 0; i < Min(natts, desc->natts); i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (hasnulls && att_isnull(i, header->t_bits))
			continue;
		if (att->attlen > 0)
		{
			off = att_align_nominal(off, att->attalign);
			if (off + att->attlen > size)
				NotMatching(NULL, i + 1, "it runs past the end of the row");
			off += att->attlen;
		}
		else if (att->attlen == -1)
		{
			/* A short varlena is not aligned; its first byte tells */
			if (off >= size)
				NotMatching(NULL, i + 1, "it runs past the end of the row");
			off = att_align_pointer(off, att->attalign, -1, data + off);
			if (off >= size)
				NotMatching(NULL, i + 1, "it runs past the end of the row");
			off += VarlenaCheck(data + off, size - off, NULL, i + 1);
		}
		else
		{
			/* A cstring: its terminator within the row */
			size_t		n;

			if (off >= size)
				NotMatching(NULL, i + 1, "it runs past the end of the row");
			n = strnlen(data + off, size - off);
			if (n == size - off)
				NotMatching(NULL, i + 1, "it runs past the end of the row");
			off += n + 1;
		}
	}
}

/*
 * Check that a detoasted array's header, dimensions, NULL bitmap and
 * elements lie within it
 */
void
ArrayCheckLayout(ArrayType *array, int16 elmlen, char elmalign, const char *column)
{
	size_t		size = VARSIZE(array);
	int			ndim;
	int			nitems;
	size_t		offset;
	size_t		off;
	const char *data;
	bits8	   *bitmap;

	if (size < sizeof(ArrayType))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" holds an array that does not match its type: %zu bytes",
						column, size)));
	ndim = ARR_NDIM(array);
	if (ndim < 0 || ndim > MAXDIM || ARR_OVERHEAD_NONULLS(ndim) > size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" holds an array that does not match its type: %d dimensions in %zu bytes",
						column, ndim, size)));
	for (int d = 0; d < ndim; d++)
		if (ARR_DIMS(array)[d] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("column \"%s\" holds an array that does not match its type: dimension %d has length %d",
							column, d + 1, ARR_DIMS(array)[d])));
	/* Both raise their own errors on overflow */
	nitems = ArrayGetNItems(ndim, ARR_DIMS(array));
	ArrayCheckBounds(ndim, ARR_DIMS(array), ARR_LBOUND(array));

	offset = ARR_HASNULL(array) ? (size_t) array->dataoffset : ARR_OVERHEAD_NONULLS(ndim);
	if (array->dataoffset < 0 || offset > size ||
		(ARR_HASNULL(array) && ARR_OVERHEAD_WITHNULLS(ndim, nitems) > offset))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" holds an array that does not match its type: %d elements do not fit in %zu bytes",
						column, nitems, size)));
	data = (const char *) array + offset;
	size -= offset;
	bitmap = ARR_NULLBITMAP(array);
	off = 0;
	for (int i = 0; i < nitems; i++)
	{
		if (bitmap && !(bitmap[i / 8] & (1 << (i % 8))))
			continue;
		if (elmlen > 0)
		{
			off = att_align_nominal(off, elmalign) + elmlen;
			if (off > size)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("column \"%s\" holds an array that does not match its type: %d elements do not fit in %zu bytes",
								column, nitems, (size_t) VARSIZE(array))));
		}
		else
		{
			off = att_align_nominal(off, elmalign);
			if (elmlen == -1)
				off += VarlenaCheck(data + off, off < size ? size - off : 0, column, i + 1);
			else
			{
				size_t		n = off < size ? strnlen(data + off, size - off) : 0;

				if (off >= size || n == size - off)
					NotMatching(column, i + 1, "it runs past the end of the array");
				off += n + 1;
			}
		}
	}
}

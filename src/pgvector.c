/*
 * src/pgvector.c
 *	  pgvector's vector type, found and read at run time.
 *
 * The type is the one named "vector" among the members of the extension
 * "vector" (pg_depend rows of deptype 'e'), wherever the extension's
 * schema is.  Its oid is cached per backend and forgotten on any change to
 * pg_type (a syscache callback), so DROP and CREATE EXTENSION vector, or
 * ALTER EXTENSION vector SET SCHEMA, in this or another session, are seen
 * by the next lookup.  Where no such extension exists the lookup answers
 * InvalidOid, cached the same way.
 *
 * A value is pgvector's varlena (src/vector.h in pgvector):
 *
 *	offset	bytes	field
 *	0		4		varlena header
 *	4		2		dim		int16, 1 .. 16000
 *	6		2		unused	int16, 0
 *	8		4*dim	x		float4, finite
 *
 * A value comes from outside (a binary-coercible cast can hand over any
 * bytes), so the header and the size are checked before anything is read,
 * and the elements are copied with memcpy; their finiteness is the caller's
 * check, shared with arrays.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "pgvector.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#define VECTOR_HEADER_BYTES (VARHDRSZ + 2 * sizeof(int16))

static Oid	vector_oid = InvalidOid;
static bool vector_known = false;
static bool callback_registered = false;

static void ForgetVectorType(Datum arg, int cacheid, uint32 hashvalue);
static Oid	FindVectorType(void);
static struct varlena *VectorDetoast(Datum value, int *dim, const char *what);

/*
 * Syscache callback: a type was created, changed or dropped
 */
static void
ForgetVectorType(Datum arg, int cacheid, uint32 hashvalue)
{
	vector_known = false;
	vector_oid = InvalidOid;
}

/*
 * Look the type up: the base type named "vector" that belongs to the
 * extension "vector"
 */
static Oid
FindVectorType(void)
{
	Oid			extension = get_extension_oid("vector", true);
	Oid			found = InvalidOid;
	Relation	depend;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	if (!OidIsValid(extension))
		return InvalidOid;

	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (!OidIsValid(found) && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		HeapTuple	type_tuple;

		if (dep->classid != TypeRelationId || dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		type_tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(dep->objid));
		if (!HeapTupleIsValid(type_tuple))
			continue;
		{
			Form_pg_type type = (Form_pg_type) GETSTRUCT(type_tuple);

			/* A varlena base type, as pgvector declares it */
			if (strcmp(NameStr(type->typname), "vector") == 0 &&
				type->typtype == TYPTYPE_BASE && type->typlen == -1)
				found = dep->objid;
		}
		ReleaseSysCache(type_tuple);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return found;
}

/*
 * The oid of pgvector's vector type in this database, or InvalidOid
 */
Oid
PgvectorTypeOid(void)
{
	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(TYPEOID, ForgetVectorType, (Datum) 0);
		callback_registered = true;
	}
	if (!vector_known)
	{
		vector_oid = FindVectorType();
		vector_known = true;
	}
	return vector_oid;
}

/*
 * Is this pgvector's vector?
 */
bool
PgvectorIsVector(Oid type)
{
	Oid			vector = PgvectorTypeOid();

	return OidIsValid(vector) && type == vector;
}

/*
 * Is this a type named "vector" that is not pgvector's (the extension is
 * not created in this database, or another type has that name)?
 */
bool
PgvectorNamedVector(Oid type)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	bool		named;

	if (!HeapTupleIsValid(tuple))
		return false;
	named = strcmp(NameStr(((Form_pg_type) GETSTRUCT(tuple))->typname), "vector") == 0;
	ReleaseSysCache(tuple);
	return named && !PgvectorIsVector(type);
}

/*
 * Detoast a vector and check its header and size; the caller frees the
 * result if it is not the value itself
 */
static struct varlena *
VectorDetoast(Datum value, int *dim, const char *what)
{
	/* A short or compressed value comes back with a 4-byte header */
	struct varlena *vector = pg_detoast_datum((struct varlena *) DatumGetPointer(value));
	Size		size = VARSIZE(vector);
	int16		d;
	int16		unused;

	if (size < VECTOR_HEADER_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s: a vector of %zu bytes is shorter than a vector's %zu-byte header",
						what, size, (Size) VECTOR_HEADER_BYTES)));
	memcpy(&d, VARDATA(vector), sizeof(int16));
	memcpy(&unused, VARDATA(vector) + sizeof(int16), sizeof(int16));
	if (d < 1 || d > PGVECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s: a vector with %d dimensions, outside 1 to %d", what, d,
						PGVECTOR_MAX_DIM)));
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s: a vector whose unused header field is %d, not 0", what, unused)));
	if (size != VECTOR_HEADER_BYTES + sizeof(float) * d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s: a vector of %d dimensions takes %zu bytes, this one has %zu",
						what, d, VECTOR_HEADER_BYTES + sizeof(float) * d, size)));
	*dim = d;
	return vector;
}

/*
 * The dimensions of a vector
 */
int
PgvectorDim(Datum value, const char *what)
{
	int			dim;
	struct varlena *vector = VectorDetoast(value, &dim, what);

	if ((Pointer) vector != DatumGetPointer(value))
		pfree(vector);
	return dim;
}

/*
 * Copy a vector of exactly `expected` dimensions into out, with the
 * message of an array of the wrong length otherwise
 */
void
PgvectorRead(Datum value, int expected, float *out, const char *what,
			 const char *expected_detail)
{
	int			dim;
	struct varlena *vector = VectorDetoast(value, &dim, what);

	if (dim != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s have %d elements, expected %d", what, dim, expected),
				 expected_detail ? errdetail("%s", expected_detail) : 0));
	memcpy(out, (const char *) vector + VECTOR_HEADER_BYTES, sizeof(float) * dim);
	if ((Pointer) vector != DatumGetPointer(value))
		pfree(vector);
}

/*
 * A palloc'd copy of a vector's elements, and their number
 */
float *
PgvectorCopy(Datum value, int *dim, const char *what)
{
	struct varlena *vector = VectorDetoast(value, dim, what);
	float	   *out = palloc(sizeof(float) * *dim);

	memcpy(out, (const char *) vector + VECTOR_HEADER_BYTES, sizeof(float) * *dim);
	if ((Pointer) vector != DatumGetPointer(value))
		pfree(vector);
	return out;
}

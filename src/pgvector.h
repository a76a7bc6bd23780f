/*
 * src/pgvector.h
 *	  pgvector's vector type, recognised at run time.
 *
 * mixrec neither builds against pgvector nor names its types in SQL, so
 * CREATE EXTENSION mixrec works without it; where the extension "vector"
 * is created in the database, the datum layer reads its values as feature
 * arrays.  Only the datum layer (src/datum.c) calls these.
 */
#ifndef MIXREC_PGVECTOR_H
#define MIXREC_PGVECTOR_H

#include "postgres.h"

/* pgvector's limit on a vector's dimensions (VECTOR_MAX_DIM in its vector.h) */
#define PGVECTOR_MAX_DIM 16000

extern Oid	PgvectorTypeOid(void);
extern bool PgvectorIsVector(Oid type);
extern bool PgvectorNamedVector(Oid type);
extern int	PgvectorDim(Datum value, const char *what);
extern float *PgvectorCopy(Datum value, int *dim, const char *what);
extern void PgvectorRead(Datum value, int expected, float *out, const char *what,
						 const char *expected_detail);

#endif							/* MIXREC_PGVECTOR_H */

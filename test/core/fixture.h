/*
 * test/core/fixture.h
 *	  Reading the PyTorch reference records of test/fixtures/torch_reference.txt.
 *
 * The file is a list of records "<name> <count>" followed by count numbers;
 * lines starting with '#' are comments.
 */
#ifndef MIXREC_TEST_FIXTURE_H
#define MIXREC_TEST_FIXTURE_H

#include <stddef.h>

typedef struct FixtureRecord
{
	char		name[96];
	size_t		count;
	double	   *values;
} FixtureRecord;

typedef struct Fixture
{
	size_t		n_records;
	FixtureRecord *records;
} Fixture;

extern int	FixtureLoad(Fixture *fixture, const char *path);
extern void FixtureFree(Fixture *fixture);
/* Find a record; aborts the test program when it is missing */
extern const FixtureRecord *FixtureGet(const Fixture *fixture, const char *fmt,...);
extern double FixtureScalar(const Fixture *fixture, const char *fmt,...);
/* Copy a record's values as floats into a new array (caller frees) */
extern float *FixtureFloats(const FixtureRecord *record);

#endif							/* MIXREC_TEST_FIXTURE_H */

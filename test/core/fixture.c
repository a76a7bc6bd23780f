/*
 * test/core/fixture.c
 *	  Reading the PyTorch reference records.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static const FixtureRecord *FixtureFind(const Fixture *fixture, const char *name);

/*
 * Load every record of a fixture file; returns 0 on success
 */
int
FixtureLoad(Fixture *fixture, const char *path)
{
	FILE	   *file = fopen(path, "r");
	size_t		capacity = 64;
	int			c;

	if (file == NULL)
		return -1;
	fixture->n_records = 0;
	fixture->records = malloc(capacity * sizeof(FixtureRecord));

	while ((c = fgetc(file)) != EOF)
	{
		FixtureRecord *record;

		if (c == '#')
		{
			while ((c = fgetc(file)) != EOF && c != '\n')
				;
			continue;
		}
		if (c == '\n' || c == ' ' || c == '\t' || c == '\r')
			continue;
		ungetc(c, file);

		if (fixture->n_records == capacity)
		{
			capacity *= 2;
			fixture->records = realloc(fixture->records, capacity * sizeof(FixtureRecord));
		}
		record = &fixture->records[fixture->n_records];
		if (fscanf(file, "%95s %zu", record->name, &record->count) != 2)
			break;
		record->values = malloc((record->count + 1) * sizeof(double));
		for (size_t i = 0; i < record->count; i++)
			if (fscanf(file, "%lf", &record->values[i]) != 1)
			{
				fprintf(stderr, "fixture %s: record %s is short\n", path, record->name);
				fclose(file);
				return -1;
			}
		fixture->n_records++;
	}
	fclose(file);
	return 0;
}

/*
 * Free what FixtureLoad read
 */
void
FixtureFree(Fixture *fixture)
{
	for (size_t i = 0; i < fixture->n_records; i++)
		free(fixture->records[i].values);
	free(fixture->records);
	fixture->records = NULL;
	fixture->n_records = 0;
}

/*
 * Look a record up by name
 */
static const FixtureRecord *
FixtureFind(const Fixture *fixture, const char *name)
{
	for (size_t i = 0; i < fixture->n_records; i++)
		if (strcmp(fixture->records[i].name, name) == 0)
			return &fixture->records[i];
	fprintf(stderr, "Bail out! fixture record %s is missing\n", name);
	printf("Bail out! fixture record %s is missing\n", name);
	exit(1);
}

/*
 * Look a record up by a formatted name
 */
const FixtureRecord *
FixtureGet(const Fixture *fixture, const char *fmt,...)
{
	char		name[96];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(name, sizeof(name), fmt, args);
	va_end(args);
	return FixtureFind(fixture, name);
}

/*
 * Read a one-value record
 */
double
FixtureScalar(const Fixture *fixture, const char *fmt,...)
{
	char		name[96];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(name, sizeof(name), fmt, args);
	va_end(args);
	return FixtureFind(fixture, name)->values[0];
}

/*
 * Copy a record's values as floats
 */
float *
FixtureFloats(const FixtureRecord *record)
{
	float	   *out = malloc((record->count + 1) * sizeof(float));

	for (size_t i = 0; i < record->count; i++)
		out[i] = (float) record->values[i];
	return out;
}

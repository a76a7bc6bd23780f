/*
 * src/train_typed.c
 *	  Deciding between array features and typed columns, and preparing a
 *	  training from typed columns.
 *
 * features is either one array column or expression (the dense block that
 * mixrec has always read) or typed columns: a list of column names, or
 * NULL for every column of the source but the label, domain, weight and
 * those in exclude.  A single name is the dense block if it names an array
 * of numbers, as it always has, so every existing call means what it did.
 *
 * For typed columns the transform is fitted first (src/transform_fit.c),
 * or taken from the model being continued, and the training then reads
 * ROW("a", "b", ...) of the feature columns in place of the array: every
 * reader of rows (in memory, streamed, the mixrec_fit aggregates) encodes
 * that record with the model's transform, so the rest of the training is
 * the training of array features.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datum.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mixrec.h"
#include "options.h"
#include "training.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static bool IsNumberArray(Oid type);
static const char *PlainName(const char *argument);
static List *ExcludedColumns(const TrainOptions *opts, const TrainArguments *args,
							 TupleDesc desc, bool all_columns);
static void CheckSameColumns(const Transform *transform, List *names);

/*
 * The columns of a source (a FROM item), without reading a row; what names
 * the argument that gave it, for messages ("source", "items")
 */
TupleDesc
SourceColumns(const char *from, const char *what)
{
	SourceShape any = {
		.arguments = what,
		.columns = what,
		.ncolumns = 0,
		.more_columns = true,
	};
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	desc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	desc = SourceProbe(psprintf("SELECT * FROM %s", from), &any, NULL);
	/* SPI_finish frees what was allocated since SPI_connect */
	MemoryContextSwitchTo(caller);
	desc = CreateTupleDescCopy(desc);
	SPI_finish();
	return desc;
}

/*
 * Is this the type of a dense block of features: an array of numbers, or
 * pgvector's vector?
 */
static bool
IsNumberArray(Oid type)
{
	Oid			element = get_element_type(getBaseType(type));

	/* A "vector" that is not pgvector's goes too, for the datum layer's message */
	if (DatumIsVectorType(getBaseType(type)) || DatumNamedVector(type))
		return true;
	return element == FLOAT4OID || element == FLOAT8OID || element == INT2OID ||
		element == INT4OID || element == INT8OID || element == NUMERICOID;
}

/*
 * The column an argument names, if it is one plain column name; else NULL
 */
static const char *
PlainName(const char *argument)
{
	List	   *names;

	if (argument == NULL || !TypedParseNames(argument, &names) || list_length(names) != 1)
		return NULL;
	return linitial(names);
}

/*
 * The columns that are not features: the label, domain and weight where
 * they are columns, and exclude's, each of which must be a column
 */
static List *
ExcludedColumns(const TrainOptions *opts, const TrainArguments *args, TupleDesc desc,
				bool all_columns)
{
	List	   *excluded = NIL;
	const char *label = PlainName(args->label);
	ListCell   *lc;

	/* mixrec_prepare may have no label; mixrec_train always has one */
	if (all_columns && args->label != NULL && label == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features => NULL reads every column but the label, so label must be a column name, got \"%s\"",
						args->label),
				 errhint("Name the expression in the source query (SELECT ..., rating >= 4 AS liked FROM ...) and give label => 'liked', or list the feature columns.")));
	if (label)
		excluded = lappend(excluded, (char *) label);
	if (PlainName(args->domain))
		excluded = lappend(excluded, (char *) PlainName(args->domain));
	if (PlainName(args->weight))
		excluded = lappend(excluded, (char *) PlainName(args->weight));
	foreach(lc, opts->exclude)
	{
		const char *name = lfirst(lc);
		bool		found = false;

		for (int i = 0; i < desc->natts && !found; i++)
			found = !TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("exclude: \"%s\" is not a column of the source", name)));
		excluded = lappend(excluded, (char *) name);
	}
	return excluded;
}

/*
 * A model being continued reads the columns it was trained on: a list of
 * features given with it must name the same ones
 */
static void
CheckSameColumns(const Transform *transform, List *names)
{
	ListCell   *lc;
	bool		same = list_length(names) == (int) transform->n_columns;

	foreach(lc, names)
		same = same && TransformFindColumn(transform, lfirst(lc)) >= 0;
	if (!same)
	{
		StringInfoData columns;

		initStringInfo(&columns);
		for (uint32 c = 0; c < transform->n_columns; c++)
			appendStringInfo(&columns, "%s%s", c ? ", " : "", transform->columns[c].name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model to continue was trained on the columns %s", columns.data),
				 errhint("Give features => NULL (or those columns) to continue it, or train a new model.")));
	}
}

/*
 * Decide whether a training reads typed columns and, if so, prepare it:
 * fit the transform (or take the given model's), and point args->features
 * at ROW() of the feature columns.  Returns false for array features,
 * leaving args alone.
 */
bool
TypedTrainingPrepare(TrainOptions *opts, TrainArguments *args, const char *schema)
{
	const Transform *given = opts->initial ? ModelTransformLoad(opts->initial, CurrentMemoryContext) : NULL;
	List	   *names = NIL;
	bool		listed = args->features != NULL && TypedParseNames(args->features, &names);
	char	   *from = SourceFrom(args->source);
	TupleDesc	desc;
	TypedTraining *typed;

	if (args->features != NULL && !listed)
		goto array_features;	/* an expression */

	desc = SourceColumns(from, "source");
	if (listed && list_length(names) == 1)
	{
		const char *name = linitial(names);
		bool		array = true;	/* not a column: the expression path says why */

		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
				array = IsNumberArray(TupleDescAttr(desc, i)->atttypid);
		if (array)
			goto array_features;
	}

	typed = palloc0(sizeof(TypedTraining));

	/*
	 * The validation split hashes every column of the source's row, not
	 * just the features: rows of equal features (a frequent category) must
	 * not all fall on one side
	 */
	typed->holdout = psprintf("%s.mixrec_holdout(ROW(%s.*), '%lld'::pg_catalog.int8)",
							  quote_identifier(schema), SourceRowReference(args->source),
							  (long long) opts->seed);
	typed->round_hash = psprintf("%s.mixrec_holdout(ROW(%s.*), $3)", quote_identifier(schema),
								 SourceRowReference(args->source));
	if (given)
	{
		if (opts->transform != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("transform cannot change the columns of a model being continued")));
		if (opts->embed != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("embed cannot change the columns of a model being continued")));
		if (listed)
			CheckSameColumns(given, names);
		typed->section = (uint8 *) opts->initial->transform;
		typed->section_len = opts->initial->transform_len;
		typed->transform = given;
	}
	else
	{
		int			n_columns;
		uint32		input_dim;
		List	   *excluded = ExcludedColumns(opts, args, desc, !listed);
		TypedColumn *columns = TypedColumnsChoose(desc, names, excluded, opts->transform,
												  opts->embed, &n_columns);

		if (opts->initial != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the model to continue takes an array of features, not typed columns"),
					 errhint("Give features => the array column it was trained on.")));
		typed->section = TransformFit(from, columns, n_columns, opts->validation_fraction,
									  typed->holdout, &typed->section_len, &input_dim);
		typed->transform = TransformLoadSection(typed->section, typed->section_len, input_dim,
												CurrentMemoryContext);
	}
	typed->row = TransformRowSql(typed->transform, NULL);
	args->features = typed->row;
	args->typed = typed;
	return true;

array_features:
	if (given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model to continue was trained on typed columns, not an array of features"),
				 errhint("Give features => NULL (or its columns) to continue it.")));
	if (opts->exclude != NIL || opts->transform != NULL || opts->embed != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exclude, transform and embed apply to typed columns, but features is the array \"%s\"",
						args->features)));
	return false;
}

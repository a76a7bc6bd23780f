/*
 * src/typed_columns.c
 *	  Typed feature columns: which columns of a source are features, and
 *	  which kind of input each becomes.
 *
 * A features argument that is a list of plain column names
 * (TypedParseNames) trains from those columns as they are; anything else is
 * an expression of feature arrays.  Without a features argument every
 * column of the source but the excluded ones (the label, domain and weight,
 * and those listed in exclude) is a feature.
 *
 * A column's kind follows from its type, through domains: numbers are
 * numeric, booleans boolean, texts and enums categorical, arrays of them
 * multi-hot, arrays of numbers dense, dates and timestamps times.  Which
 * types a kind can read is decided in one place, TypedReaderInit
 * (src/typed_values.c): a column's default kind is the first of Kinds its
 * type can be read as, and an override is accepted exactly when the type
 * can be read as the kind asked for, so training, overrides and scoring
 * accept the same types.
 *
 * The transform argument, a jsonb object, overrides columns by name:
 *
 *	{"zip": "categorical",
 *	 "price": {"scale": "log"},
 *	 "tags": {"top_k": 200, "min_frequency": 10}}
 *
 * a string is a kind; an object holds options (OptionNames): "kind",
 * "top_k" and "min_frequency" (categorical and multi-hot columns) and
 * "scale" (numeric columns: "standard" or "log").
 *
 * Memory: everything is allocated in the caller's current context.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "mixrec.h"
#include "parser/scansup.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

/* Columns a hint names at most */
#define HINT_COLUMNS	10

typedef struct KindEntry
{
	const char *name;
	TransformKind kind;
} KindEntry;

/*
 * The kinds by name, in the order a column's default kind is chosen: an
 * integer, which can be read as numeric or categorical, is numeric unless
 * told otherwise; every other type can be read as one kind only
 */
static const KindEntry Kinds[] = {
	{"numeric", TRANSFORM_NUMERIC},
	{"boolean", TRANSFORM_BOOLEAN},
	{"categorical", TRANSFORM_CATEGORICAL},
	{"multi_hot", TRANSFORM_MULTI_HOT},
	{"dense", TRANSFORM_DENSE},
	{"time", TRANSFORM_TIME},
};

static const char *const OptionNames = "\"kind\", \"top_k\", \"min_frequency\" and \"scale\"";

/* One column's override, as given */
typedef struct Override
{
	bool		has_kind;
	TransformKind kind;
	bool		has_top_k;
	int			top_k;
	bool		has_min_frequency;
	int			min_frequency;
	bool		has_scale;
	bool		log_scale;
} Override;

static bool IsIdentifierStart(unsigned char c);
static bool IsIdentifierPart(unsigned char c);
static bool IsNameList(const char *features);
static bool TypeTakesKind(Oid type, TransformKind kind);
static char *KindNames(Oid type, const char *conjunction);
static int	CountColumns(TupleDesc desc, const char *name, AttrNumber *attno);
static bool NameListed(List *names, const char *name);
static char *ColumnsHint(TupleDesc desc, const char *name);
static AttrNumber *ChooseAttnos(TupleDesc desc, List *features, List *excluded, int *n);
static void ColumnSetKind(TypedColumn *column, TransformKind kind);
static void ColumnDefault(TypedColumn *column, Form_pg_attribute attr);
static TransformKind OverrideKind(const char *column, const JsonbValue *value);
static int	OverrideInteger(const char *column, const char *option, const JsonbValue *value,
							int min, int max);
static void OverrideParse(const TypedColumn *typed, const JsonbValue *value, Override *override);
static void OverrideApply(TypedColumn *column, const Override *override);
static void OverridesApply(TypedColumn *columns, int n, Jsonb *overrides);
static TypedColumn *FeatureColumn(TypedColumn *columns, int n, const char *name,
								 const char *argument);
static void EmbedParse(TypedColumn *columns, int n, Jsonb *embed);
static void ColumnFinish(TypedColumn *column);

/*
 * Can a byte start an unquoted identifier, as the SQL scanner has it?
 */
static bool
IsIdentifierStart(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || IS_HIGHBIT_SET(c);
}

/*
 * Can a byte continue an unquoted identifier?
 */
static bool
IsIdentifierPart(unsigned char c)
{
	return IsIdentifierStart(c) || (c >= '0' && c <= '9') || c == '$';
}

/*
 * Is the text a comma-separated list of column names, each an unquoted
 * identifier or a non-empty double-quoted one?
 *
 * SplitIdentifierString alone would accept more: it takes any run of bytes
 * other than commas and blanks as a name, so "ARRAY[a,b]" and "(f)" would
 * be names.  SQL keywords are accepted as names: none of them is an
 * expression of feature arrays, so the better message is the one for a
 * column that is not there.
 */
static bool
IsNameList(const char *features)
{
	const char *p = features;

	while (scanner_isspace(*p))
		p++;
	if (*p == '\0')
		return false;
	for (;;)
	{
		if (*p == '"')
		{
			int			len = 0;

			for (p++;; p++, len++)
			{
				if (*p == '\0')
					return false;
				if (*p == '"' && p[1] == '"')
					p++;
				else if (*p == '"')
					break;
			}
			if (len == 0)
				return false;
			p++;
		}
		else
		{
			if (!IsIdentifierStart((unsigned char) *p))
				return false;
			while (IsIdentifierPart((unsigned char) *p))
				p++;
		}
		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			return true;
		if (*p != ',')
			return false;
		p++;
		while (scanner_isspace(*p))
			p++;
	}
}

/*
 * Parse a features argument: true and the column names (unquoted ones
 * downcased, long ones truncated, as SQL does) if it is a list of plain
 * column names, false otherwise
 */
bool
TypedParseNames(const char *features, List **names)
{
	char	   *copy;

	*names = NIL;
	if (!IsNameList(features))
		return false;
	copy = pstrdup(features);
	if (!SplitIdentifierString(copy, ',', names))
		elog(ERROR, "could not split the names of features \"%s\"", features);
	return true;
}

/*
 * The SQL spelling of a type (with its modifier, if any), cut to
 * TRANSFORM_MAX_NAME bytes at a character boundary
 *
 * format_type_with_typemod rather than format_type_be, also without a
 * modifier: char without a length is then "bpchar", where format_type_be
 * would write "character", which SQL reads as char(1).
 */
char *
TypedTypeName(Oid type, int32 typmod)
{
	char	   *name = format_type_with_typemod(type, typmod);
	int			len = strlen(name);

	if (len > TRANSFORM_MAX_NAME)
		name[pg_mbcliplen(name, len, TRANSFORM_MAX_NAME)] = '\0';
	return name;
}

/*
 * Can values of a type be read as a kind?
 */
static bool
TypeTakesKind(Oid type, TransformKind kind)
{
	TypedReader reader;

	return TypedReaderInit(&reader, type, kind, 0, CurrentMemoryContext);
}

/*
 * "\"numeric\" or \"categorical\"": the kinds a type can be read as (with
 * InvalidOid: all kinds), joined with conjunction
 */
static char *
KindNames(Oid type, const char *conjunction)
{
	const char *names[lengthof(Kinds)];
	int			n = 0;
	StringInfoData buf;

	for (int i = 0; i < lengthof(Kinds); i++)
		if (!OidIsValid(type) || TypeTakesKind(type, Kinds[i].kind))
			names[n++] = Kinds[i].name;
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? conjunction : ", ",
						 names[i]);
	return buf.data;
}

/*
 * The number of columns of desc with this name; *attno is the first one's
 */
static int
CountColumns(TupleDesc desc, const char *name, AttrNumber *attno)
{
	int			count = 0;

	for (int i = desc->natts - 1; i >= 0; i--)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
		{
			count++;
			*attno = attr->attnum;
		}
	}
	return count;
}

/*
 * Is the name in a list of names?
 */
static bool
NameListed(List *names, const char *name)
{
	ListCell   *cell;

	foreach(cell, names)
		if (strcmp((const char *) lfirst(cell), name) == 0)
			return true;
	return false;
}

/*
 * A hint for a name that is not a column of desc: the column it may have
 * meant if only the case differs (an unquoted name is downcased), else the
 * source's columns (the first HINT_COLUMNS of them)
 */
static char *
ColumnsHint(TupleDesc desc, const char *name)
{
	StringInfoData buf;
	int			total = 0;
	int			shown = 0;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		if (pg_strcasecmp(NameStr(attr->attname), name) == 0)
			return psprintf("Perhaps you meant column \"%s\": a name that is not all lower case must be double-quoted.",
							NameStr(attr->attname));
		total++;
	}
	if (total == 0)
		return pstrdup("The source has no columns.");

	initStringInfo(&buf);
	appendStringInfoString(&buf, total <= HINT_COLUMNS ? "The columns of the source are " :
						   psprintf("The source has %d columns, among them ", total));
	for (int i = 0; i < desc->natts && shown < HINT_COLUMNS; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		int			last = Min(total, HINT_COLUMNS) - 1;

		if (attr->attisdropped)
			continue;
		appendStringInfo(&buf, "%s\"%s\"",
						 shown == 0 ? "" : shown == last ? " and " : ", ",
						 NameStr(attr->attname));
		shown++;
	}
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/*
 * The attribute numbers of the feature columns, in the order listed (or,
 * with no list, the source's order), after checking the names
 */
static AttrNumber *
ChooseAttnos(TupleDesc desc, List *features, List *excluded, int *n)
{
	AttrNumber *attnos = palloc_array(AttrNumber, Max(desc->natts, 1));
	ListCell   *cell;

	*n = 0;
	if (features == NIL)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);
			AttrNumber	attno;

			if (attr->attisdropped || NameListed(excluded, NameStr(attr->attname)))
				continue;
			if (CountColumns(desc, NameStr(attr->attname), &attno) > 1)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("the source has more than one column named \"%s\"",
								NameStr(attr->attname)),
						 errhint("Give the columns distinct names in the source query.")));
			attnos[(*n)++] = attr->attnum;
		}
		return attnos;
	}

	foreach(cell, features)
	{
		const char *name = (const char *) lfirst(cell);
		AttrNumber	attno = InvalidAttrNumber;
		int			count = CountColumns(desc, name, &attno);

		if (count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("features: column \"%s\" is not a column of the source", name),
					 errhint("%s", ColumnsHint(desc, name))));
		for (ListCell *earlier = list_head(features); earlier != cell;
			 earlier = lnext(features, earlier))
			if (strcmp((const char *) lfirst(earlier), name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("features: column \"%s\" is listed more than once", name)));
		if (NameListed(excluded, name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("features: column \"%s\" is excluded from the features", name),
					 errdetail("It is the label, the domain or the weight, or it is listed in exclude.")));
		if (count > 1)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("the source has more than one column named \"%s\"", name),
					 errhint("Give the columns distinct names in the source query.")));
		attnos[(*n)++] = attno;
	}
	return attnos;
}

/*
 * Give a column a kind its type can be read as, with the flags the kind
 * takes from the type; an error naming the column, its type and the kind
 * otherwise
 */
static void
ColumnSetKind(TypedColumn *column, TransformKind kind)
{
	if (!TypedReaderInit(&column->reader, column->type, kind, 0, CurrentMemoryContext))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("transform: column \"%s\" of type %s cannot be \"%s\"", column->name,
						format_type_be(column->type), TransformKindName(kind)),
				 errhint("A column of type %s can be %s.", format_type_be(column->type),
						 KindNames(column->type, " or "))));
	column->kind = kind;
	column->flags = 0;
	if (kind == TRANSFORM_CATEGORICAL && column->reader.read == READ_OUTPUT_TEXT &&
		(column->reader.type == INT2OID || column->reader.type == INT4OID ||
		 column->reader.type == INT8OID))
		column->flags |= TRANSFORM_FROM_INTEGER;
	if (column->reader.read == READ_TIMESTAMP || column->reader.read == READ_TIMESTAMPTZ)
		column->flags |= TRANSFORM_DAY_TIME;
	if (kind == TRANSFORM_CATEGORICAL || kind == TRANSFORM_MULTI_HOT)
	{
		column->top_k = TYPED_DEFAULT_TOP_K;
		column->min_frequency = TYPED_DEFAULT_MIN_FREQUENCY;
	}
	else
	{
		column->top_k = 0;
		column->min_frequency = 0;
	}
}

/*
 * Describe a source's column as a feature of the kind its type implies
 */
static void
ColumnDefault(TypedColumn *column, Form_pg_attribute attr)
{
	column->name = pstrdup(NameStr(attr->attname));
	column->attno = attr->attnum;
	column->type = attr->atttypid;
	for (int i = 0; i < lengthof(Kinds); i++)
		if (TypeTakesKind(column->type, Kinds[i].kind))
		{
			ColumnSetKind(column, Kinds[i].kind);
			return;
		}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" has type %s, which mixrec cannot use as a feature",
					column->name, format_type_be(column->type)),
			 errhint("Cast it in the source query (for example SELECT col::text AS col ...) or leave it out with exclude.")));
}

/*
 * The kind a JSON string names
 */
static TransformKind
OverrideKind(const char *column, const JsonbValue *value)
{
	char	   *name;

	if (value->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: kind of column \"%s\" must be a string, got %s", column,
						JsonValueKind(value))));
	name = pnstrdup(value->val.string.val, value->val.string.len);
	for (int i = 0; i < lengthof(Kinds); i++)
		if (strcmp(Kinds[i].name, name) == 0)
			return Kinds[i].kind;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("transform: unknown kind \"%s\" for column \"%s\"", name, column),
			 errhint("Kinds are %s.", KindNames(InvalidOid, " and "))));
}

/*
 * An integer option of a column, in [min, max]
 */
static int
OverrideInteger(const char *column, const char *option, const JsonbValue *value, int min,
				int max)
{
	Datum		numeric;
	char	   *shown;
	double		number;

	if (value->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: %s of column \"%s\" must be an integer, got %s", option,
						column, JsonValueKind(value))));
	numeric = NumericGetDatum(value->val.numeric);
	shown = DatumGetCString(DirectFunctionCall1(numeric_out, numeric));
	number = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, numeric));
	if (number != floor(number))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: %s of column \"%s\" must be an integer, got %s", option,
						column, shown)));
	if (!(number >= min && number <= max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: %s of column \"%s\" must be between %d and %d, got %s",
						option, column, min, max, shown)));
	return (int) number;
}

/*
 * Parse one column's override: a kind, or an object of options
 */
static void
OverrideParse(const TypedColumn *typed, const JsonbValue *value, Override *override)
{
	const char *column = typed->name;
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	option;
	JsonbIteratorToken token;

	memset(override, 0, sizeof(*override));
	if (value->type == jbvString)
	{
		override->has_kind = true;
		override->kind = OverrideKind(column, value);
		return;
	}
	if (value->type != jbvBinary || !JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: column \"%s\" must be given a kind (a string) or an object of options, got %s",
						column, JsonValueKind(value)),
				 errhint("Give a kind, as in {\"%s\": \"%s\"}, or an object of options among %s.",
						 column, TransformKindName(typed->kind), OptionNames)));

	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (token != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &option, true);
		name = pnstrdup(key.val.string.val, key.val.string.len);
		if (strcmp(name, "kind") == 0)
		{
			override->has_kind = true;
			override->kind = OverrideKind(column, &option);
		}
		else if (strcmp(name, "top_k") == 0)
		{
			override->has_top_k = true;
			override->top_k = OverrideInteger(column, name, &option, 1,
											  typed->embed_dim > 0 ? TRANSFORM_MAX_EMBED_VOCABULARY :
											  TRANSFORM_MAX_VOCABULARY);
		}
		else if (strcmp(name, "min_frequency") == 0)
		{
			override->has_min_frequency = true;
			override->min_frequency = OverrideInteger(column, name, &option, 1, PG_INT32_MAX);
		}
		else if (strcmp(name, "scale") == 0)
		{
			char	   *scale;

			if (option.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("transform: scale of column \"%s\" must be a string, got %s",
								column, JsonValueKind(&option))));
			scale = pnstrdup(option.val.string.val, option.val.string.len);
			if (strcmp(scale, "standard") != 0 && strcmp(scale, "log") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("transform: unknown scale \"%s\" for column \"%s\"", scale,
								column),
						 errhint("Valid values are \"standard\" and \"log\".")));
			override->has_scale = true;
			override->log_scale = strcmp(scale, "log") == 0;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("transform: unknown option \"%s\" for column \"%s\"", name, column),
					 errhint("Options are %s.", OptionNames)));
	}
}

/*
 * Apply a column's override: first its kind, then the options, each of
 * which must suit the kind
 */
static void
OverrideApply(TypedColumn *column, const Override *override)
{
	bool		vocabulary;

	if (override->has_kind)
		ColumnSetKind(column, override->kind);
	vocabulary = column->kind == TRANSFORM_CATEGORICAL || column->kind == TRANSFORM_MULTI_HOT;

	if ((override->has_top_k || override->has_min_frequency) && !vocabulary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: %s applies to categorical and multi_hot columns only, and column \"%s\" is %s",
						override->has_top_k ? "top_k" : "min_frequency", column->name,
						TransformKindName(column->kind))));
	if (override->has_scale && column->kind != TRANSFORM_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform: scale applies to numeric columns only, and column \"%s\" is %s",
						column->name, TransformKindName(column->kind))));

	if (override->has_top_k)
	{
		column->top_k = override->top_k;
		column->top_k_given = true;
	}
	if (override->has_min_frequency)
		column->min_frequency = override->min_frequency;
	if (override->has_scale && override->log_scale)
		column->flags |= TRANSFORM_LOG;
}

/*
 * The feature column of this name, or an error naming the argument that
 * named it
 */
static TypedColumn *
FeatureColumn(TypedColumn *columns, int n, const char *name, const char *argument)
{
	for (int i = 0; i < n; i++)
		if (strcmp(columns[i].name, name) == 0)
			return &columns[i];
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s: \"%s\" is not a feature column", argument, name)));
}

/*
 * Apply the transform argument, an object keyed by feature column names
 */
static void
OverridesApply(TypedColumn *columns, int n, Jsonb *overrides)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	if (!JsonContainerIsObject(&overrides->root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform must be a JSON object"),
				 errhint("For example {\"zip\": \"categorical\", \"price\": {\"scale\": \"log\"}}.")));

	it = JsonbIteratorInit(&overrides->root);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;
		TypedColumn *column;
		Override	override;

		if (token != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &value, true);
		name = pnstrdup(key.val.string.val, key.val.string.len);
		column = FeatureColumn(columns, n, name, "transform");
		OverrideParse(column, &value, &override);
		OverrideApply(column, &override);
	}
}

/*
 * Read the embed argument: the dimension of each embedded column.  An
 * integer column named there is categorical (by its text), as user and
 * item ids usually are integers; the transform argument comes after.
 */
static void
EmbedParse(TypedColumn *columns, int n, Jsonb *embed)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	if (!JsonContainerIsObject(&embed->root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embed must be a JSON object of dimensions by column"),
				 errhint("For example {\"user_id\": 16, \"movie_id\": 16}.")));
	it = JsonbIteratorInit(&embed->root);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;
		TypedColumn *column;
		double		dim = 0;
		bool		integral = false;

		if (token != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &value, true);
		name = pnstrdup(key.val.string.val, key.val.string.len);
		column = FeatureColumn(columns, n, name, "embed");
		if (value.type == jbvNumeric)
		{
			dim = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													 NumericGetDatum(value.val.numeric)));
			integral = dim == floor(dim);
		}
		if (!integral || !(dim >= 1 && dim <= TRANSFORM_MAX_EMBED_DIM))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("embed: the dimension of column \"%s\" must be an integer from 1 to %d, got %s",
							name, TRANSFORM_MAX_EMBED_DIM,
							value.type == jbvNumeric ?
							DatumGetCString(DirectFunctionCall1(numeric_out,
																NumericGetDatum(value.val.numeric))) :
							JsonValueKind(&value))));
		if (column->kind != TRANSFORM_CATEGORICAL &&
			TypeTakesKind(column->type, TRANSFORM_CATEGORICAL) &&
			column->kind == TRANSFORM_NUMERIC)
			ColumnSetKind(column, TRANSFORM_CATEGORICAL);
		column->embed_dim = (int) dim;
	}
}

/*
 * Settle what depends on several arguments: an embedded column must be
 * categorical, and gets an embedding's default vocabulary size
 */
static void
ColumnFinish(TypedColumn *column)
{
	if (column->embed_dim > 0)
	{
		if (column->kind != TRANSFORM_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("embed: column \"%s\" is %s (type %s), and only categorical columns can be embedded",
							column->name, TransformKindName(column->kind),
							format_type_be(column->type)),
					 errhint("Embed a text, enum or integer column of identifiers.")));
		column->flags |= TRANSFORM_EMBED;
		if (!column->top_k_given)
			column->top_k = TYPED_DEFAULT_EMBED_TOP_K;
	}
}

/*
 * Choose the feature columns of a source's row and their kinds
 */
TypedColumn *
TypedColumnsChoose(TupleDesc desc, List *features, List *excluded, Jsonb *overrides,
				   Jsonb *embed, int *n_columns)
{
	int			n;
	AttrNumber *attnos = ChooseAttnos(desc, features, excluded, &n);
	TypedColumn *columns;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source has no feature columns"),
				 errdetail("Every column of the source is the label, the domain or the weight, or is listed in exclude.")));
	if (n > TRANSFORM_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%d feature columns are more than the limit of %d", n,
						TRANSFORM_MAX_COLUMNS)));

	columns = palloc0_array(TypedColumn, n);
	for (int i = 0; i < n; i++)
		ColumnDefault(&columns[i], TupleDescAttr(desc, attnos[i] - 1));
	if (embed != NULL)
		EmbedParse(columns, n, embed);
	if (overrides != NULL)
		OverridesApply(columns, n, overrides);
	for (int i = 0; i < n; i++)
		ColumnFinish(&columns[i]);

	*n_columns = n;
	return columns;
}

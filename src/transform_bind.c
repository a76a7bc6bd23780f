/*
 * src/transform_bind.c
 *	  A model's input transform bound to the columns of a row type.
 *
 * A model trained from typed columns reads them by name wherever it scores:
 * a table's row, a join's, a subquery's, or the rows of a source.  Binding
 * resolves each column of the transform to an attribute of the row type
 * once, checks that its type can be read as the kind the column was
 * trained as, and prepares the reader (src/typed_values.c); each row then
 * costs one deform and one conversion per column.  Extra attributes are
 * ignored.
 *
 * An anonymous ROW(a, b, c) has no column names (PostgreSQL calls its
 * fields f1, f2, ...): when names do not match and the row has exactly the
 * model's columns in that form, it is read by position, so that ROW() of
 * the model's columns, in the model's order, works too.  mixrec's own
 * queries pass typed columns as such a ROW() and bind by position outright
 * (by_position): a model whose columns are themselves named f1, f2, ...
 * in another order must not be read by those names.
 *
 * A record's row type can change under a long-lived call site (ALTER TABLE
 * in the same session): the binding is keyed by the type and the typcache's
 * identifier of its descriptor, never by the type alone.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "record_check.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

static void CheckEncoding(const Transform *transform);
static bool IsAnonymousRow(TupleDesc desc, AttrNumber first_attno, int n_columns);
static AttrNumber FindAttribute(TupleDesc desc, AttrNumber first_attno, const char *name);
static uint64 RowTypeIdentifier(RecordEncoder *encoder, Oid typid, int32 typmod);

/*
 * A transform section, validated for a model of input_dim inputs and
 * loaded into context
 */
const Transform *
TransformLoadSection(const uint8 *section, uint32 len, uint32 input_dim, MemoryContext context)
{
	MixrecError err;
	size_t		memory_size;
	void	   *memory;

	const Transform *transform;

	if (TransformCheck(section, len, input_dim, &memory_size, &err) != MIXREC_OK)
		ReportCoreError(&err);
	MemoryBudgetCheck((double) memory_size, "a model's input transform",
					  psprintf("Its %u bytes of typed columns take this much once loaded.", len));
	memory = MemoryContextAllocHuge(context, memory_size);
	transform = TransformLoad(section, len, memory, memory_size);
	CheckEncoding(transform);
	return transform;
}

/*
 * The core checks a transform's structure; its texts (column and type
 * names, which reach messages, and vocabulary entries, which
 * mixrec_feature_info returns as text) must also be valid in the
 * database's encoding, which only the host knows
 */
static void
CheckEncoding(const Transform *transform)
{
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];

		CHECK_FOR_INTERRUPTS();
		if (!pg_verifymbstr(column->name, strlen(column->name), true) ||
			!pg_verifymbstr(column->type_name, strlen(column->type_name), true))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("model is invalid: the name or type of its typed column %u is not valid in the database's encoding",
							c + 1)));
		for (uint32 i = 0; i < column->vocab_size; i++)
		{
			TransformText entry;
			uint64_t	count;

			TransformVocabEntry(transform, c, i, &entry, &count);
			if (!pg_verifymbstr(entry.data, (int) entry.len, true))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("model is invalid: entry %u of the vocabulary of column \"%s\" is not valid in the database's encoding",
								i + 1, column->name)));
		}
	}
}

/*
 * The transform of a model, loaded into context, or NULL for a model of
 * array features
 */
const Transform *
ModelTransformLoad(const MixrecModel *model, MemoryContext context)
{
	if (!(model->flags & MIXREC_FLAG_TRANSFORM))
		return NULL;
	return TransformLoadSection(model->transform, model->transform_len,
								MlpInputDim(&model->shape), context);
}

/*
 * Does desc, from first_attno on, look like ROW() of n_columns values:
 * exactly that many attributes, named f1, f2, ...?
 */
static bool
IsAnonymousRow(TupleDesc desc, AttrNumber first_attno, int n_columns)
{
	if (desc->natts - (first_attno - 1) != n_columns)
		return false;
	for (int i = 0; i < n_columns; i++)
	{
		char		expected[16];

		snprintf(expected, sizeof(expected), "f%d", i + 1);
		if (strcmp(NameStr(TupleDescAttr(desc, first_attno - 1 + i)->attname), expected) != 0)
			return false;
	}
	return true;
}

/*
 * The attribute of desc named name, from first_attno on; 0 if none; an
 * error if more than one
 */
static AttrNumber
FindAttribute(TupleDesc desc, AttrNumber first_attno, const char *name)
{
	AttrNumber	found = 0;

	for (int i = first_attno - 1; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped || strcmp(NameStr(attr->attname), name) != 0)
			continue;
		if (found != 0)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("the row has more than one column named \"%s\"", name),
					 errhint("Give the columns distinct names.")));
		found = (AttrNumber) (i + 1);
	}
	return found;
}

/*
 * Bind a transform to a row type (see the file's comment)
 */
TransformBinding *
TransformBind(const Transform *transform, TupleDesc desc, AttrNumber first_attno,
			  bool by_position, MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	TransformBinding *binding = palloc0(sizeof(TransformBinding));

	binding->transform = transform;
	binding->desc = desc;
	binding->attnos = palloc_array(AttrNumber, transform->n_columns);
	binding->readers = palloc0_array(TypedReader, transform->n_columns);

	/* mixrec's own ROW() of the model's columns: position is the meaning */
	if (by_position && desc->natts - (first_attno - 1) != (int) transform->n_columns)
		elog(ERROR, "a row of %d fields for a model of %u typed columns",
			 desc->natts - (first_attno - 1), transform->n_columns);
	for (uint32 c = 0; c < transform->n_columns && !by_position; c++)
		if (FindAttribute(desc, first_attno, transform->columns[c].name) == 0 &&
			IsAnonymousRow(desc, first_attno, transform->n_columns))
			by_position = true;

	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];
		AttrNumber	attno = by_position ? (AttrNumber) (first_attno + c) :
			FindAttribute(desc, first_attno, column->name);
		Oid			type;

		if (attno == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("the row has no column \"%s\", which the model was trained on as %s",
							column->name, column->type_name),
					 errhint("Give the row every column the model was trained on, by name (mixrec_feature_info lists them).")));
		type = TupleDescAttr(desc, attno - 1)->atttypid;
		if (!TypedReaderInit(&binding->readers[c], type, column->kind, column->flags, context))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" was trained as %s (%s) but is %s here",
							column->name, column->type_name, TransformKindName(column->kind),
							format_type_be(type)),
					 errhint("Cast the column to %s.", column->type_name)));
		binding->attnos[c] = attno;
	}
	MemoryContextSwitchTo(old);
	return binding;
}

/*
 * Encode a row into the model's input vector
 */
void
TransformEncodeRow(const TransformBinding *binding, const Datum *values, const bool *nulls,
				   float *x)
{
	const Transform *transform = binding->transform;

	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		int			i = binding->attnos[c] - 1;
		TransformValue value;
		MixrecError err;

		TypedValueRead(&binding->readers[c], transform->columns[c].name, values[i], nulls[i],
					   &value);
		if (TransformEncodeColumn(transform, c, &value, x, &err) != MIXREC_OK)
			ReportCoreError(&err);
	}
}

/*
 * An encoder with nothing bound yet
 */
void
RecordEncoderInit(RecordEncoder *encoder, const Transform *transform, bool by_position,
				  MemoryContext context)
{
	memset(encoder, 0, sizeof(*encoder));
	encoder->by_position = by_position;
	encoder->context = AllocSetContextCreate(context, "mixrec record encoder",
											 ALLOCSET_SMALL_SIZES);
	encoder->transform = transform;
	encoder->typid = InvalidOid;
}

/*
 * What identifies a row type's current descriptor: a registered record
 * type never changes; a named composite type's descriptor has the
 * typcache's identifier, which changes with it.  The typcache entry lives
 * as long as the backend, so the encoder keeps it (one hash lookup less
 * per row), and looks again once the typcache has dropped the descriptor.
 */
static uint64
RowTypeIdentifier(RecordEncoder *encoder, Oid typid, int32 typmod)
{
	TypeCacheEntry *entry = encoder->typentry;

	if (typid == RECORDOID)
		return (uint64) (uint32) typmod;
	if (entry == NULL || entry->type_id != typid || entry->tupDesc == NULL)
		encoder->typentry = entry = lookup_type_cache(typid, TYPECACHE_TUPDESC);
	if (entry->tupDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("type %s is not composite", format_type_be(typid))));
	return entry->tupDesc_identifier;
}

/*
 * Deform a record into the encoder's arrays, binding its row type first if
 * it is new; returns the row type's descriptor
 */
TupleDesc
RecordDeform(RecordEncoder *encoder, Datum record)
{
	HeapTupleHeader header = DatumGetHeapTupleHeader(record);
	Oid			typid = HeapTupleHeaderGetTypeId(header);
	int32		typmod = HeapTupleHeaderGetTypMod(header);
	uint64		identifier = RowTypeIdentifier(encoder, typid, typmod);
	HeapTupleData tuple;

	if (encoder->binding == NULL || typid != encoder->typid || typmod != encoder->typmod ||
		identifier != encoder->identifier)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);
		MemoryContext old;
		TupleDesc	copy;

		encoder->binding = NULL;
		MemoryContextReset(encoder->context);
		old = MemoryContextSwitchTo(encoder->context);
		copy = CreateTupleDescCopy(desc);
		ReleaseTupleDesc(desc);
		encoder->values = palloc_array(Datum, Max(copy->natts, 1));
		encoder->nulls = palloc_array(bool, Max(copy->natts, 1));
		MemoryContextSwitchTo(old);
		encoder->binding = TransformBind(encoder->transform, copy, 1, encoder->by_position,
										 encoder->context);
		encoder->typid = typid;
		encoder->typmod = typmod;
		encoder->identifier = identifier;
	}

	tuple.t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = header;
	RecordCheckLayout(header, encoder->binding->desc);
	heap_deform_tuple(&tuple, encoder->binding->desc, encoder->values, encoder->nulls);
	return encoder->binding->desc;
}

/*
 * Encode a record into the model's input vector
 */
void
RecordEncode(RecordEncoder *encoder, Datum record, float *x)
{
	(void) RecordDeform(encoder, record);
	TransformEncodeRow(encoder->binding, encoder->values, encoder->nulls, x);
}

/*
 * The SQL of ROW() of a transform's columns, in the model's order, quoted:
 * the features mixrec's own queries read typed columns through.  Columns
 * not present (present[c] false, when present is given) are a NULL of a
 * type of their kind, for a row whose other columns come from elsewhere.
 */
char *
TransformRowSql(const Transform *transform, const bool *present)
{
	StringInfoData row;

	initStringInfo(&row);
	appendStringInfoString(&row, "ROW(");
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];
		const char *placeholder = "NULL::pg_catalog.float8";

		appendStringInfoString(&row, c ? ", " : "");
		if (present == NULL || present[c])
		{
			appendStringInfoString(&row, quote_identifier(column->name));
			continue;
		}
		switch (column->kind)
		{
			case TRANSFORM_NUMERIC:
				break;
			case TRANSFORM_BOOLEAN:
				placeholder = "NULL::pg_catalog.bool";
				break;
			case TRANSFORM_CATEGORICAL:
				placeholder = "NULL::pg_catalog.text";
				break;
			case TRANSFORM_MULTI_HOT:
				placeholder = "NULL::pg_catalog.text[]";
				break;
			case TRANSFORM_DENSE:
				placeholder = "NULL::pg_catalog.float8[]";
				break;
			case TRANSFORM_TIME:
				placeholder = "NULL::pg_catalog.timestamptz";
				break;
		}
		appendStringInfoString(&row, placeholder);
	}
	appendStringInfoChar(&row, ')');
	return row.data;
}

/*
 * Which of a transform's columns desc has, by name
 */
int
TransformColumnsIn(const Transform *transform, TupleDesc desc, bool *present)
{
	int			n = 0;

	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		present[c] = false;
		for (int i = 0; i < desc->natts; i++)
			present[c] |= !TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), transform->columns[c].name) == 0;
		n += present[c];
	}
	return n;
}

/*
 * The features a scoring function reads for a model: the argument itself
 * for a model of array features (which must give it); for a model of typed
 * columns, ROW() of its columns, which the argument may leave NULL or must
 * list exactly
 */
const char *
TypedFeaturesArgument(const Transform *transform, const char *features, const char *what)
{
	List	   *names;
	ListCell   *lc;
	bool		same;

	if (transform == NULL)
	{
		if (features == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL: the model takes an array of features", what)));
		return features;
	}
	if (features == NULL)
		return TransformRowSql(transform, NULL);
	same = TypedParseNames(features, &names) && list_length(names) == (int) transform->n_columns;
	foreach(lc, names)
		same = same && TransformFindColumn(transform, lfirst(lc)) >= 0;
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model was trained on typed columns, so %s must be NULL (or list exactly its columns), got \"%s\"",
						what, features),
				 errhint("mixrec_feature_info lists the model's columns; the source must have them by name.")));
	return TransformRowSql(transform, NULL);
}

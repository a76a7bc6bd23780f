/*
 * src/model_bytea.c
 *	  Models as bytea: reading, writing, creating and describing them.
 *
 * A model bytea is decoded by the core (magic, version, length, checksum,
 * shape, limits, input transform, finiteness) into a MixrecModel whose
 * arrays live in one palloc'd block of the current memory context, and its
 * input transform, if any, in another.  Callers that keep a model
 * across calls (the scorer's fn_extra cache) switch to a longer-lived
 * context first.
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "mixrec.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_init);
PG_FUNCTION_INFO_V1(mixrec_info);
PG_FUNCTION_INFO_V1(mixrec_shape);

static void AppendShapeJson(StringInfo buf, int version, Size bytes,
							const MixrecModel *model);

static int	ErrcodeForStatus(MixrecStatus status);
static ModelInitKind InitKindFromText(text *name);

/*
 * Map a core status to a SQLSTATE
 */
static int
ErrcodeForStatus(MixrecStatus status)
{
	switch (status)
	{
		case MIXREC_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case MIXREC_ERR_DIMENSION:
		case MIXREC_ERR_NONFINITE:
			return ERRCODE_DATA_EXCEPTION;
		case MIXREC_ERR_CORRUPT:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case MIXREC_ERR_ARGUMENT:
		case MIXREC_OK:
			break;
	}
	return ERRCODE_INVALID_PARAMETER_VALUE;
}

/*
 * Raise an error the core reported
 */
void
ReportCoreError(const MixrecError *err)
{
	ereport(ERROR,
			(errcode(ErrcodeForStatus(err->status)),
			 errmsg("%s", CoreMessage(err))));
	pg_unreachable();
}

/*
 * A core message as text valid in the database's encoding: a message about
 * a forged model can quote its bytes (a column name, a vocabulary entry),
 * which must not reach a client as they are; such bytes are written \xNN.
 * Every message of the core goes through here on its way to ereport.
 */
const char *
CoreMessage(const MixrecError *err)
{
	StringInfoData escaped;

	if (pg_verifymbstr(err->message, strlen(err->message), true))
		return err->message;
	initStringInfo(&escaped);
	for (const unsigned char *p = (const unsigned char *) err->message; *p; p++)
	{
		if (*p < 0x80)
			appendStringInfoChar(&escaped, (char) *p);
		else
			appendStringInfo(&escaped, "\\x%02x", *p);
	}
	return escaped.data;
}

/*
 * Check an alpha given by the user
 */
void
ModelCheckAlpha(double alpha, const char *what)
{
	if (!(alpha >= 0.0 && alpha <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1, got %g", what, alpha)));
}

/*
 * Allocate a model and its storage in the current memory context; with a
 * transform (checked; kept by the caller), the model reads its rows with
 * it and has its embedding tables
 */
MixrecModel *
ModelAllocate(const MlpShape *shape, uint32 flags, const uint8 *transform, uint32 transform_len)
{
	MixrecModel *model = palloc0(sizeof(MixrecModel));
	Size		floats;

	model->shape = *shape;
	model->flags = flags & ~MIXREC_FLAG_TRANSFORM;
	if (transform != NULL)
		ModelAttachTransform(model, transform, transform_len);
	floats = ModelFloatCount(model);
	MemoryBudgetCheck(sizeof(float) * (double) floats, "a model",
					  psprintf("Its two MLPs have %zu parameters each%s%s.", MlpParamCount(shape),
							   model->embed_floats > 0 ?
							   psprintf(" and its embedding tables %zu numbers", model->embed_floats) : "",
							   (flags & MIXREC_FLAG_OPTIMIZER) ? ", with Adam's two moments for each" : ""));
	/* MIXREC_MAX_PARAMS keeps this below MaxAllocSize for every valid shape */
	ModelBindStorage(model, palloc0_array(float, floats));
	return model;
}

/*
 * Decode and validate a model bytea
 */
MixrecModel *
ModelFromBytea(bytea *blob)
{
	const uint8 *data = (const uint8 *) VARDATA_ANY(blob);
	Size		len = VARSIZE_ANY_EXHDR(blob);
	MixrecModel header;
	MixrecModel *model;
	MixrecError err;

	if (ModelDecodeHeader(data, len, &header, &err) != MIXREC_OK)
		ReportCoreError(&err);

	/* The header points into the blob, which may be a detoasted copy */
	model = ModelAllocate(&header.shape, header.flags,
						  (header.flags & MIXREC_FLAG_TRANSFORM) ?
						  memcpy(palloc(header.transform_len), header.transform,
								 header.transform_len) : NULL,
						  header.transform_len);
	model->alpha = header.alpha;
	model->adam = header.adam;
	model->step = header.step;
	if (ModelDecodeArrays(data, len, model, &err) != MIXREC_OK)
		ReportCoreError(&err);
	return model;
}

/*
 * Encode a model as a new bytea
 */
bytea *
ModelToBytea(const MixrecModel *model)
{
	Size		len = ModelEncodedSize(model);
	bytea	   *result;

	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model of %zu bytes is too large to store", len)));
	result = palloc(len + VARHDRSZ);
	SET_VARSIZE(result, len + VARHDRSZ);
	ModelEncode(model, (uint8 *) VARDATA(result));
	return result;
}

/*
 * Read hidden layer sizes from an int[] into shape->n_hidden and dims[1..]
 */
void
ModelHiddenFromArray(ArrayType *hidden, MlpShape *shape)
{
	Datum	   *sizes;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(hidden) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("hidden must be a one-dimensional array, got %d dimensions",
						ARR_NDIM(hidden))));
	deconstruct_array(hidden, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &sizes, &nulls, &n);
	if (n > MIXREC_MAX_HIDDEN_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a model has at most %d hidden layers, got %d",
						MIXREC_MAX_HIDDEN_LAYERS, n)));
	shape->n_hidden = n;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("hidden layer size %d is NULL", i + 1)));
		shape->dims[i + 1] = DatumGetInt32(sizes[i]);
		if (shape->dims[i + 1] < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hidden layer size %d must be positive, got %d",
							i + 1, shape->dims[i + 1])));
	}
}

/*
 * Parse the init argument
 */
static ModelInitKind
InitKindFromText(text *name)
{
	char	   *kind = text_to_cstring(name);

	if (strcmp(kind, "independent") == 0)
		return MODEL_INIT_INDEPENDENT;
	if (strcmp(kind, "shared") == 0)
		return MODEL_INIT_SHARED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown init \"%s\"", kind),
			 errhint("Valid values are \"independent\" and \"shared\".")));
	pg_unreachable();
}

/*
 * Reject a NULL argument by name
 */
#define CheckArgNotNull(argno, name) \
	do { \
		if (PG_ARGISNULL(argno)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be NULL", (name)))); \
	} while (0)

/*
 * Create a freshly initialised model
 *
 * mixrec_init(input_dim, hidden, output_dim, alpha, seed, init)
 */
Datum
mixrec_init(PG_FUNCTION_ARGS)
{
	MlpShape	shape;
	int			n_sizes;
	MixrecModel *model;
	MixrecError err;
	double		alpha;
	ModelInitKind kind;

	CheckArgNotNull(0, "input_dim");
	CheckArgNotNull(1, "hidden");
	CheckArgNotNull(2, "output_dim");
	CheckArgNotNull(3, "alpha");
	CheckArgNotNull(4, "seed");
	CheckArgNotNull(5, "init");

	memset(&shape, 0, sizeof(shape));
	ModelHiddenFromArray(PG_GETARG_ARRAYTYPE_P(1), &shape);
	n_sizes = shape.n_hidden;
	shape.dims[0] = PG_GETARG_INT32(0);
	if (shape.dims[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input_dim must be positive, got %d", shape.dims[0])));
	shape.dims[n_sizes + 1] = PG_GETARG_INT32(2);
	if (shape.dims[n_sizes + 1] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("output_dim must be positive, got %d", shape.dims[n_sizes + 1])));
	if (MlpShapeCheck(&shape, &err) != MIXREC_OK)
		ReportCoreError(&err);

	alpha = PG_GETARG_FLOAT8(3);
	ModelCheckAlpha(alpha, "alpha");
	kind = InitKindFromText(PG_GETARG_TEXT_PP(5));

	model = ModelAllocate(&shape, 0, NULL, 0);
	model->alpha = alpha;
	ModelInitParams(model, (uint64) PG_GETARG_INT64(4), kind);
	PG_RETURN_BYTEA_P(ModelToBytea(model));
}

/*
 * Open a JSON object describing a model with the members mixrec_info and
 * mixrec_shape share: format version, size, shape, alpha
 */
static void
AppendShapeJson(StringInfo buf, int version, Size bytes, const MixrecModel *model)
{
	const MlpShape *shape = &model->shape;

	appendStringInfo(buf, "{\"format_version\": %d, \"bytes\": %zu, \"input_dim\": %d, \"hidden\": [",
					 version, bytes, MlpInputDim(shape));
	for (int i = 1; i <= shape->n_hidden; i++)
		appendStringInfo(buf, "%s%d", i > 1 ? ", " : "", shape->dims[i]);
	appendStringInfo(buf, "], \"output_dim\": %d, \"alpha\": ", MlpOutputDim(shape));
	AppendJsonDouble(buf, model->alpha);
}

/*
 * Describe a model as jsonb
 *
 * mixrec_info(model)
 */
Datum
mixrec_info(PG_FUNCTION_ARGS)
{
	bytea	   *blob;
	MixrecModel *model;
	StringInfoData buf;
	size_t		params;

	CheckArgNotNull(0, "model");
	blob = PG_GETARG_BYTEA_PP(0);
	model = ModelFromBytea(blob);
	params = ModelParamCount(model);

	initStringInfo(&buf);
	AppendShapeJson(&buf, ModelBlobVersion((const uint8 *) VARDATA_ANY(blob)),
					VARSIZE_ANY_EXHDR(blob), model);
	appendStringInfo(&buf, ", \"parameters\": {\"open\": %zu, \"commercial\": %zu, \"total\": %zu}, "
					 "\"standardize\": %s, \"typed_columns\": ",
					 params, params, 2 * params,
					 (model->flags & MIXREC_FLAG_STANDARDIZE) ? "true" : "false");
	/* A model of typed columns: how many (mixrec_feature_info has them all) */
	if (model->flags & MIXREC_FLAG_TRANSFORM)
		appendStringInfo(&buf, "%u", ModelTransformLoad(model, CurrentMemoryContext)->n_columns);
	else
		appendStringInfoString(&buf, "null");
	/* Embedded columns: their tables' sizes */
	if (model->n_embed > 0)
	{
		const Transform *transform = ModelTransformLoad(model, CurrentMemoryContext);

		appendStringInfoString(&buf, ", \"embeddings\": {");
		for (uint32 t = 0; t < model->n_embed; t++)
		{
			appendStringInfo(&buf, "%s", t > 0 ? ", " : "");
			escape_json(&buf, transform->columns[model->embed[t].column].name);
			appendStringInfo(&buf, ": {\"rows\": %u, \"dim\": %u}",
							 model->embed[t].rows, model->embed[t].dim);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, ", \"optimizer\": ");
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		const double settings[] = {model->adam.lr, model->adam.beta1, model->adam.beta2,
		model->adam.eps, model->adam.weight_decay};
		const char *const names[] = {"lr", "beta1", "beta2", "eps", "weight_decay"};

		appendStringInfo(&buf, "{\"kind\": \"%s\", \"step\": %lld",
						 model->adam.kind == ADAM_DECOUPLED ? "adamw" : "adam",
						 (long long) model->step);
		if (model->n_embed > 0)
			appendStringInfo(&buf, ", \"embeddings\": \"%s\"",
							 model->adam.lazy_embeddings ? "lazy" : "dense");
		for (int i = 0; i < lengthof(settings); i++)
		{
			appendStringInfo(&buf, ", \"%s\": ", names[i]);
			AppendJsonDouble(&buf, settings[i]);
		}
		appendStringInfoChar(&buf, '}');
	}
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * Describe a model's shape from its header alone
 *
 * mixrec_shape(model) returns jsonb
 *
 * Listing a registry must not read and check every byte of every model: a
 * model at the parameter limit is hundreds of megabytes.  This reads only
 * the first bytes of a stored value (a slice of a TOASTed one) and its
 * length, and validates what they can show; the checksum, which needs
 * every byte, is left to the functions that use the weights.
 */
Datum
mixrec_shape(PG_FUNCTION_ARGS)
{
	Size		len = toast_raw_datum_size(PG_GETARG_DATUM(0)) - VARHDRSZ;
	bytea	   *head = PG_GETARG_BYTEA_P_SLICE(0, 0, MIXREC_HEADER_MAX_BYTES);
	MixrecModel model;
	MixrecError err;
	StringInfoData buf;

	if (ModelPeekHeader((const uint8 *) VARDATA(head), VARSIZE(head) - VARHDRSZ, len,
						&model, &err) != MIXREC_OK)
		ReportCoreError(&err);

	initStringInfo(&buf);
	AppendShapeJson(&buf, ModelBlobVersion((const uint8 *) VARDATA(head)), len, &model);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * src/evaluate.c
 *	  mixrec_evaluate: how good a registered model is on the rows of a source.
 *
 * For each of the open, commercial and blended models, over the rows that
 * count for it (open: domain 'open' or NULL; commercial: 'commercial' or
 * NULL; blend: every row):
 *
 *	log_loss	scikit-learn's log_loss: probabilities clipped to
 *				[eps, 1 - eps] with eps the float64 epsilon
 *	auc			ROC AUC, exact, ties counted half (the Mann-Whitney
 *				statistic, as roc_auc_score); NULL, with a NOTICE, when the
 *				rows hold only one class
 *	accuracy	share of rows where (probability >= 0.5) = (label >= 0.5)
 *
 * and, with a user_id, over users, ranking each user's rows (all of them,
 * whatever their domain) by the model's probability:
 *
 *	precision_at_k	mean over users of (positives in the top k) / k
 *	recall_at_k		mean over users with a positive of (positives in the
 *					top k) / (the user's positives)
 *	ndcg_at_k		mean over users of scikit-learn's ndcg_score(k): the
 *					label as gain, 1/log2(rank + 1) discounts, tied scores
 *					sharing the average gain of their group; 0 for a user
 *					without a positive
 *
 * Rows are read into memory (within mixrec.train_memory) and scored in
 * blocks with one matrix product per layer.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "datum.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/metrics.h"
#include "mixrec/predict.h"
#include "mixrec/train.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_evaluate);

#define EVAL_BLOCK_ROWS		1024
#define EVAL_FETCH_ROWS		10000

/*
 * What each row costs once read, counted against the budget as it is read:
 * three probabilities, and while one model's metrics are computed, its
 * positive flags and AUC pairs, then the ranking metrics' order, gains and
 * scores
 */
#define EVAL_WORK_ROW_BYTES	(3 * sizeof(double) + 1 + 2 * sizeof(double) + \
							 sizeof(uint32) + 3 * sizeof(double))
/* palloc's overhead per user id string, roughly its chunk header */
#define EVAL_ID_OVERHEAD	16

/* The rows of an evaluation */
typedef struct EvalRows
{
	Size		n;
	Size		capacity;
	int			dim;
	float	   *x;
	double	   *y;
	unsigned char *o;
	unsigned char *c;
	char	  **users;			/* NULL without a user_id */
} EvalRows;

static const char *const model_names[] = {"open", "commercial", "blend"};

/*
 * The columns EvalRead reads: features, label and domain as the source has
 * them (the datum layer converts and checks them), and the user id as text
 */
static const Oid eval_types[] = {InvalidOid, InvalidOid, InvalidOid, TEXTOID};
static const SourceShape eval_shape = {
	.arguments = "source, features, label, domain and user_id",
	.columns = "features, label, domain and user_id",
	.ncolumns = lengthof(eval_types),
	.types = eval_types,
};

static void EvalRead(EvalRows *rows, const char *query, bool with_users, int dim,
					 const Transform *transform);
static char *EvalQuery(const char *source, const char *features, const char *label,
					   const char *domain, const char *user_id);
static double LogLoss(const double *p, const EvalRows *rows, const unsigned char *include,
					  Size *counted);
static double Accuracy(const double *p, const EvalRows *rows, const unsigned char *include);
static void UserMetrics(const EvalRows *rows, const double *p, int k, double *precision,
						double *recall, double *ndcg, int *users);
static void EvalScore(const MixrecModel *model, const EvalRows *rows, MemoryContext context,
					  double *p[3]);
static void EmitMetric(ReturnSetInfo *rsinfo, const char *model, const char *metric,
					   double value, bool isnull);

/*
 * Read the rows: features, label, domain flags, user ids
 */
static void
EvalRead(EvalRows *rows, const char *query, bool with_users, int dim, const Transform *transform)
{
	RecordEncoder encoder;
	MemoryContext context = CurrentMemoryContext;
	SPIPlanPtr	plan;
	TupleDesc	columns;
	SourceCursor cursor;
	HeapTuple	tuple;
	Oid			features_type;
	Oid			label_type;
	Oid			domain_type;
	Size		budget = MemoryBudget();
	Size		row_bytes = sizeof(float) * dim + sizeof(double) + 2 + sizeof(char *) +
		EVAL_WORK_ROW_BYTES;
	double		id_bytes = 0;

	memset(rows, 0, sizeof(*rows));
	rows->dim = dim;
	plan = SourcePrepare(query, 0, NULL, 0, &eval_shape);
	columns = SourcePlanColumns(plan);
	features_type = TupleDescAttr(columns, 0)->atttypid;
	/* Typed columns come as the ROW() mixrec wrote, which the encoder checks */
	if (transform)
		RecordEncoderInit(&encoder, transform, true, context);
	else
		DatumCheckFeaturesType(features_type, "features");
	label_type = TupleDescAttr(columns, 1)->atttypid;
	DatumCheckLabelType(label_type);
	domain_type = TupleDescAttr(columns, 2)->atttypid;
	DatumCheckDomainType(domain_type);
	MemoryContextSwitchTo(context);
	SourceOpen(&cursor, plan, "source", EVAL_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		bool		isnull;
		Datum		value;
		float		label;
		Size		r = rows->n;

		if (r == rows->capacity)
		{
			Size		capacity = Max(rows->capacity * 2, 1024);

			MemoryBudgetCheck((double) capacity * row_bytes + id_bytes, "evaluation",
							  psprintf("Room for %zu rows of %zu bytes (features, label, domain and the metrics' work) and %.0f bytes of user ids.",
									   capacity, row_bytes, id_bytes));
			rows->x = rows->capacity ? repalloc_huge(rows->x, sizeof(float) * dim * capacity) :
				MemoryContextAllocHuge(context, sizeof(float) * dim * capacity);
			rows->y = rows->capacity ? repalloc_huge(rows->y, sizeof(double) * capacity) :
				MemoryContextAllocHuge(context, sizeof(double) * capacity);
			rows->o = rows->capacity ? repalloc_huge(rows->o, capacity) :
				MemoryContextAllocHuge(context, capacity);
			rows->c = rows->capacity ? repalloc_huge(rows->c, capacity) :
				MemoryContextAllocHuge(context, capacity);
			rows->users = rows->capacity ? repalloc_huge(rows->users, sizeof(char *) * capacity) :
				MemoryContextAllocHuge(context, sizeof(char *) * capacity);
			rows->capacity = capacity;
		}

		value = SPI_getbinval(tuple, cursor.desc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features are NULL")));
		if (transform)
		{
			/* What reading the columns allocates goes with the fetch */
			MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);

			RecordEncode(&encoder, value, rows->x + r * dim);
			MemoryContextSwitchTo(old);
		}
		else
			DatumFeatures(value, features_type, dim, rows->x + r * dim, false, NULL, NULL);

		value = SPI_getbinval(tuple, cursor.desc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("label is NULL")));
		DatumLabel(value, label_type, 1, &label, false, NULL);
		rows->y[r] = label;

		rows->o[r] = rows->c[r] = 1;
		value = SPI_getbinval(tuple, cursor.desc, 3, &isnull);
		if (!isnull)
			DatumDomain(value, domain_type, &rows->o[r], &rows->c[r]);

		rows->users[r] = NULL;
		if (with_users)
		{
			value = SPI_getbinval(tuple, cursor.desc, 4, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("user_id is NULL")));
			rows->users[r] = TextDatumGetCString(value);
			id_bytes += strlen(rows->users[r]) + 1 + EVAL_ID_OVERHEAD;
			if ((double) rows->capacity * row_bytes + id_bytes > budget)
				MemoryBudgetCheck((double) rows->capacity * row_bytes + id_bytes, "evaluation",
								  psprintf("Room for %zu rows of %zu bytes (features, label, domain and the metrics' work) and %.0f bytes of user ids.",
										   rows->capacity, row_bytes, id_bytes));
		}
		rows->n++;
	}
	SourceClose(&cursor);
	MemoryContextSwitchTo(context);
}

/*
 * Build the query of the evaluation rows: the columns as the source has
 * them, but for the user id, compared as text
 */
static char *
EvalQuery(const char *source, const char *features, const char *label, const char *domain,
		  const char *user_id)
{
	return psprintf("SELECT (%s), (%s), %s, %s FROM %s", features, label,
					domain ? psprintf("(%s)", domain) : "NULL::pg_catalog.text",
					user_id ? psprintf("(%s)::pg_catalog.text", user_id) : "NULL::pg_catalog.text",
					SourceFrom(source));
}

/*
 * Mean log loss of probabilities clipped like scikit-learn's
 */
static double
LogLoss(const double *p, const EvalRows *rows, const unsigned char *include, Size *counted)
{
	return MetricLogLoss(p, rows->y, include, rows->n, counted);
}

/*
 * Share of rows classified right at the threshold 0.5
 */
static double
Accuracy(const double *p, const EvalRows *rows, const unsigned char *include)
{
	return MetricAccuracy(p, rows->y, include, rows->n);
}

/*
 * Ranking metrics over users
 */
static void
UserMetrics(const EvalRows *rows, const double *p, int k, double *precision, double *recall,
			double *ndcg, int *users)
{
	void	   *scratch = MemoryContextAllocHuge(CurrentMemoryContext,
												 MetricRankingScratchBytes(rows->n));
	MetricRanking ranking = MetricRankingAtK((const char *const *) rows->users, rows->y, p,
											 rows->n, k, scratch, MixrecCheckInterrupts);

	*precision = ranking.precision;
	*recall = ranking.recall;
	*ndcg = ranking.ndcg;
	*users = (int) ranking.users;
	pfree(scratch);
}

/*
 * Append one result row
 */
static void
EmitMetric(ReturnSetInfo *rsinfo, const char *model, const char *metric, double value, bool isnull)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, isnull || !isfinite(value)};

	values[0] = CStringGetTextDatum(model);
	values[1] = CStringGetTextDatum(metric);
	values[2] = Float8GetDatum(value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The probabilities of the open and commercial models and of their blend
 * for every row, scored in blocks
 */
static void
EvalScore(const MixrecModel *model, const EvalRows *rows, MemoryContext context, double *p[3])
{
	float	   *work;

	for (int m = 0; m < 3; m++)
		p[m] = MemoryContextAllocHuge(context, sizeof(double) * rows->n);
	work = MemoryContextAllocHuge(context, sizeof(float) * ScoreWorkFloats(model, EVAL_BLOCK_ROWS));
	for (Size first = 0; first < rows->n; first += EVAL_BLOCK_ROWS)
	{
		int			n = (int) Min((Size) EVAL_BLOCK_ROWS, rows->n - first);
		const float *x = rows->x + first * rows->dim;

		CHECK_FOR_INTERRUPTS();
		ScoreRows(model, SCORE_OPEN, model->alpha, NULL, x, n, work, p[0] + first);
		ScoreRows(model, SCORE_COMMERCIAL, model->alpha, NULL, x, n, work, p[1] + first);
	}
	for (Size r = 0; r < rows->n; r++)
		p[2][r] = model->alpha * p[0][r] + (1.0 - model->alpha) * p[1][r];
	pfree(work);
}

/*
 * Evaluate a registered model on the rows of a source
 *
 * mixrec_evaluate(model_name, source, features, label, domain, user_id, k, version)
 *	 returns table (model text, metric text, value float8)
 */
Datum
mixrec_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext context = CurrentMemoryContext;
	MixrecModel *model;
	const char *source;
	const char *features;
	const char *label;
	const char *domain = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	const char *user_id = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	int			k;
	EvalRows	rows;
	double	   *p[3];
	char	   *query;
	const Transform *transform;

	/* features may be NULL: the columns of a model of typed columns */
	for (int i = 1; i <= 3; i += 2)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", i == 1 ? "source" : "label")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	features = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	label = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	k = PG_GETARG_INT32(6);
	if (k < 1 || k > MIXREC_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, got %d", MIXREC_MAX_K, k)));

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryModel(fcinfo, 0, 7);
	if (MlpOutputDim(&model->shape) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("mixrec_evaluate needs a model with one output, this model has %d",
						MlpOutputDim(&model->shape))));

	transform = ModelTransformLoad(model, context);
	features = TypedFeaturesArgument(transform, features, "features");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	query = EvalQuery(source, features, label, domain, user_id);
	MemoryContextSwitchTo(context);
	EvalRead(&rows, query, user_id != NULL, MlpInputDim(&model->shape), transform);
	SPI_finish();
	MemoryContextSwitchTo(context);
	if (rows.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to evaluate")));

	EvalScore(model, &rows, context, p);
	for (int m = 0; m < 3; m++)
	{
		const unsigned char *include = m == 0 ? rows.o : m == 1 ? rows.c : NULL;
		unsigned char *positive = palloc(rows.n);
		double	   *pairs = MemoryContextAllocHuge(context, sizeof(double) * 2 * rows.n);
		Size		counted;
		double		loss = LogLoss(p[m], &rows, include, &counted);
		double		auc;

		bool		any_positive = false;

		for (Size r = 0; r < rows.n; r++)
		{
			positive[r] = rows.y[r] >= 0.5;
			if (positive[r] && (include == NULL || include[r]))
				any_positive = true;
		}
		auc = MetricAuc(p[m], positive, include, rows.n, pairs);
		if (counted > 0 && isnan(auc))
			ereport(NOTICE,
					(errmsg("AUC of the %s model is undefined: its rows hold only %s labels",
							model_names[m], any_positive ? "positive" : "negative")));

		EmitMetric(rsinfo, model_names[m], "rows", (double) counted, false);
		EmitMetric(rsinfo, model_names[m], "log_loss", loss, counted == 0);
		EmitMetric(rsinfo, model_names[m], "auc", auc, false);
		EmitMetric(rsinfo, model_names[m], "accuracy", Accuracy(p[m], &rows, include), counted == 0);
		if (user_id)
		{
			double		precision;
			double		recall;
			double		ndcg;
			int			users;

			UserMetrics(&rows, p[m], k, &precision, &recall, &ndcg, &users);
			EmitMetric(rsinfo, model_names[m], "precision_at_k", precision, false);
			EmitMetric(rsinfo, model_names[m], "recall_at_k", recall, false);
			EmitMetric(rsinfo, model_names[m], "ndcg_at_k", ndcg, false);
			if (m == 2)
				EmitMetric(rsinfo, "all", "users", users, false);
		}
		pfree(positive);
		pfree(pairs);
	}
	return (Datum) 0;
}

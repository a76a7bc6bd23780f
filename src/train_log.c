/*
 * src/train_log.c
 *	  The bookkeeping both training paths share: the per-epoch record (its
 *	  JSON, its NOTICE, the progress line in pg_stat_activity, early
 *	  stopping), the divergence check, the evaluation work area and the
 *	  result row of mixrec_train_model.
 *
 * src/train_memory.c (in memory) and src/train_stream.c (one pass over the source
 * per epoch) both call these; neither calls the other's internals.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/train.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "tcop/tcopprot.h"
#include "training.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

static void AppendEpochJson(StringInfo buf, int epoch, const LossValue *train,
							const TrainEval *eval, bool has_eval, double rows_per_second,
							double elapsed_ms);
static void ReportEpoch(const TrainOptions *opts, int epoch, const LossValue *train,
						const TrainEval *eval, bool has_eval, double rows_per_second);
static void ReportProgress(const TrainOptions *opts, int epoch, double last_loss);

/*
 * Stop a training whose parameters or moments left the finite numbers
 * (a finite loss does not prove they did not)
 */
void
CheckDiverged(const MixrecModel *model, int epoch, double lr)
{
	MixrecError err;

	if (ModelCheck(model, &err) != MIXREC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training diverged in epoch %d: %s", epoch, CoreMessage(&err)),
				 errhint("Lower learning_rate (now %g), or standardize the features.", lr)));
}

/*
 * Append one epoch's metrics as a JSON object
 */
static void
AppendEpochJson(StringInfo buf, int epoch, const LossValue *train, const TrainEval *eval,
				bool has_eval, double rows_per_second, double elapsed_ms)
{
	const char *const names[] = {
		"train_loss", "train_loss_open", "train_loss_commercial",
		"validation_loss", "validation_loss_open", "validation_loss_commercial",
		"validation_auc_open", "validation_auc_commercial", "validation_auc_blend",
		"rows_per_second", "elapsed_ms"
	};
	double		values[lengthof(names)];

	values[0] = train->total;
	values[1] = train->open;
	values[2] = train->commercial;
	values[3] = has_eval ? eval->loss.total : NAN;
	values[4] = has_eval ? eval->loss.open : NAN;
	values[5] = has_eval ? eval->loss.commercial : NAN;
	values[6] = has_eval ? eval->auc_open : NAN;
	values[7] = has_eval ? eval->auc_commercial : NAN;
	values[8] = has_eval ? eval->auc_blend : NAN;
	values[9] = rows_per_second;
	values[10] = elapsed_ms;

	appendStringInfo(buf, "{\"epoch\": %d", epoch);
	for (int i = 0; i < lengthof(names); i++)
	{
		appendStringInfo(buf, ", \"%s\": ", names[i]);
		AppendNullableDouble(buf, values[i]);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Send the NOTICE of one epoch
 */
static void
ReportEpoch(const TrainOptions *opts, int epoch, const LossValue *train,
			const TrainEval *eval, bool has_eval, double rows_per_second)
{
	if (has_eval)
		ereport(NOTICE,
				(errmsg("epoch %d/%d: train loss %.4f (open %.4f, commercial %.4f), validation loss %.4f, AUC open %.3f, commercial %.3f, blend %.3f, %.0f rows/s",
						epoch, opts->epochs, train->total, train->open, train->commercial,
						eval->loss.total, eval->auc_open, eval->auc_commercial,
						eval->auc_blend, rows_per_second)));
	else
		ereport(NOTICE,
				(errmsg("epoch %d/%d: train loss %.4f (open %.4f, commercial %.4f), %.0f rows/s",
						epoch, opts->epochs, train->total, train->open, train->commercial,
						rows_per_second)));
}

/*
 * Show the progress in pg_stat_activity.query, ahead of the query itself:
 * the running epoch, and the loss of the one before
 */
static void
ReportProgress(const TrainOptions *opts, int epoch, double last_loss)
{
	char	   *line;

	if (isfinite(last_loss))
		line = psprintf("/* mixrec_train %s: epoch %d/%d, train loss %.4f after epoch %d */ %s",
						opts->model_name, epoch, opts->epochs, last_loss, epoch - 1,
						debug_query_string ? debug_query_string : "");
	else
		line = psprintf("/* mixrec_train %s: epoch %d/%d */ %s",
						opts->model_name, epoch, opts->epochs,
						debug_query_string ? debug_query_string : "");
	pgstat_report_activity(STATE_RUNNING, line);
	pfree(line);
}

/*
 * Milliseconds since start
 */
double
ElapsedMs(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * Start the per-epoch record of a training run that started at start
 * (elapsed times count from there: reading the rows included)
 */
void
EpochLogStart(EpochLog *log, const TrainOptions *opts, instr_time start)
{
	memset(log, 0, sizeof(*log));
	log->opts = opts;
	log->best_loss = INFINITY;
	log->last_loss = NAN;
	log->start = start;
	initStringInfo(&log->json);
}

/*
 * Begin an epoch: honour a cancel, show the progress
 */
void
EpochLogBegin(EpochLog *log, int epoch)
{
	CHECK_FOR_INTERRUPTS();
	ReportProgress(log->opts, epoch, log->last_loss);
}

/*
 * Record a finished epoch: its JSON, its NOTICE, the best epoch so far.
 * Returns EPOCH_BEST when this epoch has the best validation loss yet,
 * EPOCH_STOP when early stopping ends the training, else EPOCH_GO_ON.
 */
EpochVerdict
EpochLogEnd(EpochLog *log, int epoch, const LossValue *train, const TrainEval *eval,
			double rows, double epoch_ms)
{
	double		rows_per_second = rows / Max(epoch_ms / 1000.0, 1e-9);

	if (epoch > 1)
		appendStringInfoString(&log->json, ", ");
	AppendEpochJson(&log->json, epoch, train, eval, eval != NULL, rows_per_second,
					ElapsedMs(log->start));
	ReportEpoch(log->opts, epoch, train, eval, eval != NULL, rows_per_second);
	log->last_loss = train->total;
	log->epochs_run = epoch;

	if (eval != NULL && eval->loss.total < log->best_loss)
	{
		log->best_loss = eval->loss.total;
		log->best_epoch = epoch;
		return EPOCH_BEST;
	}
	if (log->opts->patience > 0 && epoch - log->best_epoch >= log->opts->patience)
	{
		log->stopped_early = true;
		return EPOCH_STOP;
	}
	return EPOCH_GO_ON;
}

/*
 * Build the metrics of a training run; fields are extra JSON members
 */
char *
EpochLogMetrics(EpochLog *log, const char *fields)
{
	StringInfoData metrics;

	initStringInfo(&metrics);
	appendStringInfo(&metrics, "{%s, \"epochs_run\": %d, \"stopped_early\": %s, "
					 "\"best_epoch\": %s, \"elapsed_ms\": ",
					 fields, log->epochs_run, log->stopped_early ? "true" : "false",
					 log->best_epoch > 0 ? psprintf("%d", log->best_epoch) : "null");
	AppendJsonDouble(&metrics, ElapsedMs(log->start));
	appendStringInfo(&metrics, ", \"epochs\": [%s]}", log->json.data);
	return metrics.data;
}

/*
 * Set up scratch space to evaluate n_rows validation rows: a TrainWork for
 * chunks (larger than training batches: no gradients, fewer BLAS calls)
 * that honours a cancel between chunks, and the scratch TrainEvaluate
 * needs, which is returned
 */
void *
EvaluationWork(const MixrecModel *model, int batch_size, Size n_rows, TrainWork *work)
{
	const MlpShape *shape = &model->shape;
	int			chunk = (int) Min((Size) Max(batch_size, 1024), n_rows);

	TrainWorkBind(work, model, chunk,
				  MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * TrainWorkFloats(model, chunk)),
				  MemoryContextAllocHuge(CurrentMemoryContext, TrainWorkBytes(model, chunk)));
	/* A large validation set is scored in one core call: check between chunks */
	work->cancel = MixrecCheckInterrupts;
	return MemoryContextAllocHuge(CurrentMemoryContext,
								  TrainEvalScratchBytes(n_rows, MlpOutputDim(shape)));
}

/*
 * Return (weights, metrics) as the function's result row
 */
Datum
TrainResult(FunctionCallInfo fcinfo, bytea *weights, const char *metrics)
{
	TupleDesc	result_desc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mixrec_train_model must return a record");
	result[0] = PointerGetDatum(weights);
	result[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics));
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc), result, result_nulls));
}

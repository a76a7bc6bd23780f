/*
 * src/core/train.c
 *	  Mini-batch Adam steps on both models, and evaluation.
 *
 * Design: the caller owns the data and one TrainWork of scratch space
 * sized by TrainWorkFloats/TrainWorkBytes, so a training run allocates
 * once, up front, and a step allocates nothing.  A step copies its rows
 * into the contiguous batch buffers (the rows may be any permutation of
 * the data), then forward, loss, backward and Adam for the open and the
 * commercial model in turn.  The loss of each model is normalised by its
 * own sum of weights in the batch, so a batch with no open (or commercial)
 * rows leaves that model's gradient at zero; Adam still steps it, as
 * torch.optim.Adam does for a parameter whose gradient is zero.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixrec/adam.h"
#include "mixrec/mlp.h"
#include "mixrec/train.h"

static void GatherRows(const TrainData *data, const uint32_t *rows, int n,
					   TrainWork *work);

/*
 * Size the float scratch space of a TrainWork
 */
size_t
TrainWorkFloats(const MlpShape *shape, int batch)
{
	size_t		rows = (size_t) batch;

	return rows * MlpInputDim(shape) +	/* x */
		rows * MlpOutputDim(shape) +	/* y */
		rows +					/* w */
		2 * MlpActivationFloats(shape, batch) +
		2 * rows * MlpOutputDim(shape) +	/* dlogits */
		2 * MlpParamCount(shape) +	/* gradients */
		MlpBackwardWorkFloats(shape, batch);
}

/*
 * Size the byte scratch space of a TrainWork (domain flags)
 */
size_t
TrainWorkBytes(int batch)
{
	return 2 * (size_t) batch;
}

/*
 * Carve a TrainWork out of caller-provided storage
 */
void
TrainWorkBind(TrainWork *work, const MlpShape *shape, int batch, float *floats,
			  unsigned char *bytes)
{
	size_t		rows = (size_t) batch;
	float	   *p = floats;

	work->batch = batch;
	work->x = p;
	p += rows * MlpInputDim(shape);
	work->y = p;
	p += rows * MlpOutputDim(shape);
	work->w = p;
	p += rows;
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		work->acts[k] = p;
		p += MlpActivationFloats(shape, batch);
	}
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		work->dlogits[k] = p;
		p += rows * MlpOutputDim(shape);
	}
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		work->grad[k] = p;
		p += MlpParamCount(shape);
	}
	work->backward = p;
	work->o = bytes;
	work->c = bytes + rows;
	work->cancel = NULL;
}

/*
 * Copy the listed rows into the batch buffers
 */
static void
GatherRows(const TrainData *data, const uint32_t *rows, int n, TrainWork *work)
{
	size_t		d_in = data->input_dim;
	size_t		d_out = data->output_dim;

	for (int i = 0; i < n; i++)
	{
		size_t		r = rows[i];

		memcpy(work->x + i * d_in, data->x + r * d_in, sizeof(float) * d_in);
		memcpy(work->y + i * d_out, data->y + r * d_out, sizeof(float) * d_out);
		work->w[i] = data->w ? data->w[r] : 1.0f;
		work->o[i] = data->o ? data->o[r] : 1;
		work->c[i] = data->c ? data->c[r] : 1;
	}
}

/*
 * Take one Adam step of both models on a mini-batch
 */
LossValue
TrainStep(MixrecModel *model, const TrainData *data, const uint32_t *rows, int n,
		  TrainWork *work)
{
	const MlpShape *shape = &model->shape;
	size_t		params = MlpParamCount(shape);
	LossBatch	batch;
	LossValue	loss;

	GatherRows(data, rows, n, work);
	batch.rows = n;
	batch.outputs = data->output_dim;
	batch.y = work->y;
	batch.w = work->w;
	batch.o = work->o;
	batch.c = work->c;

	for (int k = 0; k < MIXREC_MODELS; k++)
		MlpForward(shape, model->params[k], work->x, n, work->acts[k]);
	loss = LossBlended(model->alpha, &batch,
					   MlpLogits(shape, work->acts[MIXREC_OPEN], n),
					   MlpLogits(shape, work->acts[MIXREC_COMMERCIAL], n),
					   work->dlogits[MIXREC_OPEN], work->dlogits[MIXREC_COMMERCIAL]);

	model->step++;
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		MlpBackward(shape, model->params[k], work->x, n, work->acts[k], work->dlogits[k],
					work->grad[k], work->backward);
		AdamStep(&model->adam, model->step, model->params[k], work->grad[k], model->m[k],
				 model->v[k], params);
	}
	return loss;
}

/*
 * Size the scratch space of TrainEvaluate, in bytes
 */
size_t
TrainEvalScratchBytes(size_t n, int output_dim)
{
	return sizeof(double) * 5 * n + /* three probabilities, AUC pairs */
		sizeof(float) * (3 * n * output_dim + n) +	/* logits twice, y, w */
		3 * n;					/* o, c, positive */
}

/*
 * Evaluate loss and AUCs over a set of rows
 */
TrainEval
TrainEvaluate(const MixrecModel *model, const TrainData *data,
			  const uint32_t *rows, size_t n, TrainWork *work, void *scratch)
{
	const MlpShape *shape = &model->shape;
	size_t		d_out = data->output_dim;
	double	   *p_open = scratch;
	double	   *p_commercial = p_open + n;
	double	   *p_blend = p_commercial + n;
	double	   *pairs = p_blend + n;
	float	   *logits[MIXREC_MODELS] = {(float *) (pairs + 2 * n),
	(float *) (pairs + 2 * n) + n * d_out};
	float	   *y_all = logits[MIXREC_COMMERCIAL] + n * d_out;
	float	   *w_all = y_all + n * d_out;
	unsigned char *o_all = (unsigned char *) (w_all + n);
	unsigned char *c_all = o_all + n;
	unsigned char *positive = c_all + n;
	LossBatch	batch;
	TrainEval	result;

	/* Logits chunk by chunk; labels, weights and flags gathered alongside */
	for (size_t start = 0; start < n; start += work->batch)
	{
		int			chunk = (int) (n - start < (size_t) work->batch ? n - start : (size_t) work->batch);

		if (work->cancel)
			work->cancel();
		GatherRows(data, rows + start, chunk, work);
		for (int k = 0; k < MIXREC_MODELS; k++)
		{
			MlpForward(shape, model->params[k], work->x, chunk, work->acts[k]);
			memcpy(logits[k] + start * d_out, MlpLogits(shape, work->acts[k], chunk),
				   sizeof(float) * chunk * d_out);
		}
		memcpy(y_all + start * d_out, work->y, sizeof(float) * chunk * d_out);
		memcpy(w_all + start, work->w, sizeof(float) * chunk);
		memcpy(o_all + start, work->o, chunk);
		memcpy(c_all + start, work->c, chunk);
	}

	batch.rows = (int) n;
	batch.outputs = (int) d_out;
	batch.y = y_all;
	batch.w = w_all;
	batch.o = o_all;
	batch.c = c_all;
	result.loss = LossBlended(model->alpha, &batch, logits[MIXREC_OPEN],
							  logits[MIXREC_COMMERCIAL], NULL, NULL);

	for (size_t i = 0; i < n; i++)
	{
		p_open[i] = Sigmoid(logits[MIXREC_OPEN][i * d_out]);
		p_commercial[i] = Sigmoid(logits[MIXREC_COMMERCIAL][i * d_out]);
		p_blend[i] = model->alpha * p_open[i] + (1.0 - model->alpha) * p_commercial[i];
		positive[i] = y_all[i * d_out] >= 0.5f;
	}
	result.auc_open = MetricAuc(p_open, positive, o_all, n, pairs);
	result.auc_commercial = MetricAuc(p_commercial, positive, c_all, n, pairs);
	result.auc_blend = MetricAuc(p_blend, positive, NULL, n, pairs);
	return result;
}

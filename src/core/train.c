/*
 * src/core/train.c
 *	  Mini-batch Adam steps on both models, and evaluation.
 *
 * Design: the caller owns the data and one TrainWork of scratch space
 * sized by TrainWorkFloats/TrainWorkBytes, so a training run allocates
 * once, up front, and a step allocates nothing.  A step copies its rows
 * into the contiguous batch buffers (the rows may be any permutation of
 * the data), then forward, loss term, backward and Adam for the open and
 * the commercial model in turn.  The loss of each model is normalised by its
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
 * Count the rows of all of a model's embedding tables
 */
static size_t
EmbeddingRows(const MixrecModel *model)
{
	size_t		rows = 0;

	for (uint32_t t = 0; t < model->n_embed; t++)
		rows += model->embed[t].rows;
	return rows;
}

/*
 * Size the float scratch space of a TrainWork
 */
size_t
TrainWorkFloats(const MixrecModel *model, int batch)
{
	const MlpShape *shape = &model->shape;
	size_t		rows = (size_t) batch;
	size_t		floats = rows * MlpInputDim(shape) +	/* x */
		rows * MlpOutputDim(shape) +	/* y */
		rows +					/* w */
		2 * MlpActivationFloats(shape, batch) +
		2 * rows * MlpOutputDim(shape) +	/* dlogits */
		2 * ModelParamCount(model) +	/* gradients */
		MlpBackwardWorkFloats(shape, batch);

	if (model->n_embed > 0)
		floats += 3 * rows * MlpInputDim(shape) +	/* embedded inputs, dx */
			(size_t) model->n_embed * rows; /* touched rows (uint32) */
	return floats;
}

/*
 * Size the byte scratch space of a TrainWork (domain flags, seen marks)
 */
size_t
TrainWorkBytes(const MixrecModel *model, int batch)
{
	return 2 * (size_t) batch + EmbeddingRows(model);
}

/*
 * Carve a TrainWork out of caller-provided storage
 */
void
TrainWorkBind(TrainWork *work, const MixrecModel *model, int batch, float *floats,
			  unsigned char *bytes)
{
	const MlpShape *shape = &model->shape;
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
		memset(p + MlpParamCount(shape), 0, sizeof(float) * model->embed_floats);
		p += ModelParamCount(model);
	}
	work->backward = p;
	p += MlpBackwardWorkFloats(shape, batch);
	work->o = bytes;
	work->c = bytes + rows;
	work->cancel = NULL;
	work->embedded[MIXREC_OPEN] = work->embedded[MIXREC_COMMERCIAL] = NULL;
	work->dx = NULL;
	work->touched = NULL;
	work->seen = NULL;
	if (model->n_embed > 0)
	{
		for (int k = 0; k < MIXREC_MODELS; k++)
		{
			work->embedded[k] = p;
			p += rows * MlpInputDim(shape);
		}
		work->dx = p;
		p += rows * MlpInputDim(shape);
		work->touched = (uint32_t *) p;
		work->seen = bytes + 2 * rows;
		memset(work->seen, 0, EmbeddingRows(model));
	}
}

/*
 * The inputs model k reads: the batch's own, or with its tables' rows
 */
static const float *
ModelInputs(const MixrecModel *model, int k, const float *x, int n, TrainWork *work)
{
	if (model->n_embed == 0)
		return x;
	ModelEmbedInputs(model, model->params[k], x, n, work->embedded[k]);
	return work->embedded[k];
}

/*
 * List the rows of each table the batch uses, each once
 */
static void
CollectTouched(const MixrecModel *model, int n, TrainWork *work)
{
	size_t		d = (size_t) MlpInputDim(&model->shape);
	unsigned char *seen = work->seen;

	for (uint32_t t = 0; t < model->n_embed; t++)
	{
		const TransformEmbedding *e = &model->embed[t];
		uint32_t   *touched = work->touched + (size_t) t * work->batch;

		work->n_touched[t] = 0;
		for (int i = 0; i < n; i++)
		{
			uint32_t	r = ModelEmbedRow(e, work->x[i * d + e->position]);

			if (!seen[r])
			{
				seen[r] = 1;
				touched[work->n_touched[t]++] = r;
			}
		}
		seen += e->rows;
	}
}

/*
 * Clear the seen marks of the batch's rows
 */
static void
ClearTouched(const MixrecModel *model, TrainWork *work)
{
	unsigned char *seen = work->seen;

	for (uint32_t t = 0; t < model->n_embed; t++)
	{
		const uint32_t *touched = work->touched + (size_t) t * work->batch;

		for (uint32_t i = 0; i < work->n_touched[t]; i++)
			seen[touched[i]] = 0;
		seen += model->embed[t].rows;
	}
}

/*
 * Backward through one model, its embedding tables included: the tables'
 * gradient is the sum of the inputs' gradient over the rows using each
 * table row, as nn.Embedding's backward gives it
 */
static void
BackwardModel(const MixrecModel *model, int k, const float *inputs, int n, TrainWork *work)
{
	const MlpShape *shape = &model->shape;
	size_t		d = (size_t) MlpInputDim(shape);
	uint32_t	first[TRANSFORM_MAX_EMBEDDINGS];
	uint32_t	count[TRANSFORM_MAX_EMBEDDINGS];

	for (uint32_t t = 0; t < model->n_embed; t++)
	{
		first[t] = model->embed[t].position;
		count[t] = model->embed[t].dim;
	}
	MlpBackwardInputs(shape, model->params[k], inputs, n, work->acts[k], work->dlogits[k],
					  work->grad[k], work->backward, first, count, (int) model->n_embed,
					  work->dx);
	for (uint32_t t = 0; t < model->n_embed; t++)
	{
		const TransformEmbedding *e = &model->embed[t];
		float	   *table = (float *) ModelEmbedTable(model, work->grad[k], t);

		for (int i = 0; i < n; i++)
		{
			uint32_t	r = ModelEmbedRow(e, work->x[i * d + e->position]);
			const float *g = work->dx + i * d + e->position;
			float	   *row = table + (size_t) r * e->dim;

			for (uint32_t j = 0; j < e->dim; j++)
				row[j] += g[j];
		}
	}
}

/*
 * Take model k's optimiser step, and zero the tables' gradient again
 */
static void
StepModel(MixrecModel *model, int k, TrainWork *work)
{
	size_t		mlp = MlpParamCount(&model->shape);

	if (model->n_embed == 0 || !model->adam.lazy_embeddings)
		AdamStep(&model->adam, model->step, model->params[k], work->grad[k], model->m[k],
				 model->v[k], ModelParamCount(model));
	else
	{
		AdamStep(&model->adam, model->step, model->params[k], work->grad[k], model->m[k],
				 model->v[k], mlp);
		for (uint32_t t = 0; t < model->n_embed; t++)
		{
			size_t		offset = ModelEmbedTable(model, model->params[k], t) - model->params[k];

			AdamStepRows(&model->adam, model->step, model->params[k] + offset,
						 work->grad[k] + offset, model->m[k] + offset, model->v[k] + offset,
						 model->embed[t].dim, work->touched + (size_t) t * work->batch,
						 work->n_touched[t]);
		}
	}
	for (uint32_t t = 0; t < model->n_embed; t++)
	{
		uint32_t	dim = model->embed[t].dim;
		float	   *table = (float *) ModelEmbedTable(model, work->grad[k], t);
		const uint32_t *touched = work->touched + (size_t) t * work->batch;

		for (uint32_t i = 0; i < work->n_touched[t]; i++)
			memset(table + (size_t) touched[i] * dim, 0, sizeof(float) * dim);
	}
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
	double		term[MIXREC_MODELS];
	LossBatch	batch;
	LossValue	loss;

	GatherRows(data, rows, n, work);
	batch.rows = n;
	batch.outputs = data->output_dim;
	batch.y = work->y;
	batch.w = work->w;
	batch.o = work->o;
	batch.c = work->c;

	model->step++;
	if (model->n_embed > 0)
		CollectTouched(model, n, work);

	/*
	 * Each model's loss term and gradient depend on its own logits only:
	 * forward, backward and Adam step one model after the other, so that
	 * the backward pass reads activations the forward pass has just
	 * written, still in cache
	 */
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		const float *inputs = ModelInputs(model, k, work->x, n, work);

		MlpForward(shape, model->params[k], inputs, n, work->acts[k]);
		term[k] = LossModel(model->alpha, &batch, k, MlpLogits(shape, work->acts[k], n),
							work->dlogits[k]);
		BackwardModel(model, k, inputs, n, work);
		StepModel(model, k, work);
	}
	if (model->n_embed > 0)
		ClearTouched(model, work);
	loss.open = term[MIXREC_OPEN];
	loss.commercial = term[MIXREC_COMMERCIAL];
	loss.total = LossTotal(model->alpha, loss.open, loss.commercial);
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
			MlpForward(shape, model->params[k],
					   ModelInputs(model, k, work->x, chunk, work), chunk, work->acts[k]);
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

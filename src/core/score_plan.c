/*
 * src/core/score_plan.c
 *	  Building a scoring plan from a model, and scoring one row or a block
 *	  of rows with it (see include/mixrec/score_plan.h for the layout).
 *
 * One row (ScorePlanRow): centre the input if the model standardises,
 * one pass of ScoreKernelAxpy over both first layers (or one of them, or
 * the soup's), then each MLP's later layers, then the sigmoids, blended.
 *
 * A block (ScorePlanRows, ScorePlanBlock): centre the block, one GEMM for
 * both first layers (N = 2 * h1p) and their bias and ReLU, then each MLP's
 * later layers as GEMMs reading its half of that product in place (the
 * leading dimension skips the other half), the narrow output layer as dot
 * products per row, and the sigmoids and the blend in the same loop.
 *
 * Nothing here allocates or fails; the caller sizes storage and scratch
 * with ScorePlanFloats, ScorePlanRowFloats and ScorePlanBlockFloats.
 */
#include <cblas.h>
#include <stdint.h>
#include <string.h>

#include "mixrec/kernels.h"
#include "mixrec/loss.h"
#include "mixrec/score_plan.h"

static int	RoundUp(int n);
static size_t Section(size_t floats);
static size_t LaterLayerFloats(int in, int out);
static void FoldFirst(const ScorePlan *plan, const float *params, int column, int ld,
					  float *wt, float *b);
static float *LayOutLater(ScorePlan *plan, int net, const float *params, float *storage);
static const float *LaterRow(const ScorePlan *plan, int net, const float *h, float *buf);
static const float *LaterRows(const ScorePlan *plan, int net, const float *a, int lda, int rows,
							  float *buf, int *ld_out);
static const float *FirstRows(const ScorePlan *plan, int net, const float *x, int rows,
							  float *z, int *ld_out);
static const float *CentreRows(const ScorePlan *plan, const float *x, int rows, float *work);

/*
 * The rows to score: x itself, or x minus the means in work when the model
 * standardises (the scales are folded into the first layers)
 */
static const float *
CentreRows(const ScorePlan *plan, const float *x, int rows, float *work)
{
	if (plan->center == NULL)
		return x;
	ScoreKernelCenter(x, plan->center, plan->in, rows, work);
	return work;
}

/*
 * Round a width up to whole vectors
 */
static int
RoundUp(int n)
{
	return (n + SCORE_PLAN_LANES - 1) / SCORE_PLAN_LANES * SCORE_PLAN_LANES;
}

/*
 * Round a section of the storage up to whole cache lines (16 floats), so
 * that every section, and every row of a transposed matrix (a multiple of
 * 8 floats), starts 32-byte aligned: a 32-byte load that straddles two
 * cache lines costs two loads, and the kernels are bound by loads
 */
static size_t
Section(size_t floats)
{
	return (floats + 15) / 16 * 16;
}

/*
 * Floats of a later layer as laid out: transposed and padded when 8
 * outputs or more, else as it is; weights and bias each a section
 */
static size_t
LaterLayerFloats(int in, int out)
{
	if (out >= SCORE_PLAN_LANES)
		return Section((size_t) in * RoundUp(out)) + Section(RoundUp(out));
	return Section((size_t) in * out) + Section(out);
}

bool
ScorePlanApplies(const MixrecModel *model)
{
	return model->n_embed == 0;
}

size_t
ScorePlanFloats(const MixrecModel *model)
{
	const MlpShape *shape = &model->shape;
	int			in = MlpInputDim(shape);
	size_t		h1p = RoundUp(shape->dims[1]);
	size_t		floats = 16 + Section(in);	/* alignment, the means */

	floats += Section((size_t) in * 2 * h1p) + Section(2 * h1p);	/* the pair */
	floats += Section((size_t) in * h1p) + Section(h1p);	/* the soup's first layer */
	for (int l = 1; l < MlpLayerCount(shape); l++)
		floats += SCORE_PLAN_NETS * LaterLayerFloats(shape->dims[l], shape->dims[l + 1]);
	return floats;
}

/*
 * Write one MLP's first layer, scaled by the inputs' standardisation,
 * transposed into columns column.. of wt[in][ld], and its bias into b;
 * the padding stays zero
 */
static void
FoldFirst(const ScorePlan *plan, const float *params, int column, int ld, float *wt, float *b)
{
	int			in = plan->in;
	const float *w = params + MlpWeightOffset(&plan->shape, 0);
	const float *bias = params + MlpBiasOffset(&plan->shape, 0);

	for (int o = 0; o < plan->h1; o++)
	{
		for (int i = 0; i < in; i++)
		{
			double		v = w[(size_t) o * in + i];

			/* W' = W / std, in double, rounded once */
			if (plan->std != NULL)
				v /= plan->std[i];
			wt[(size_t) i * ld + column + o] = (float) v;
		}
		b[column + o] = bias[o];
	}
}

/*
 * Lay out the later layers of one MLP from storage on; returns the first
 * float after them
 */
static float *
LayOutLater(ScorePlan *plan, int net, const float *params, float *storage)
{
	const MlpShape *shape = &plan->shape;

	for (int l = 1; l < MlpLayerCount(shape); l++)
	{
		ScorePlanLayer *layer = &plan->rest[net][l - 1];
		const float *w = params + MlpWeightOffset(shape, l);
		const float *bias = params + MlpBiasOffset(shape, l);
		int			in = shape->dims[l];
		int			out = shape->dims[l + 1];
		float	   *lw = storage;
		float	   *lb;

		layer->in = in;
		layer->out = out;
		if (out >= SCORE_PLAN_LANES)
		{
			int			ld = RoundUp(out);

			layer->ld = ld;
			lb = lw + Section((size_t) in * ld);
			memset(lw, 0, sizeof(float) * LaterLayerFloats(in, out));
			for (int o = 0; o < out; o++)
			{
				for (int i = 0; i < in; i++)
					lw[(size_t) i * ld + o] = w[(size_t) o * in + i];
				lb[o] = bias[o];
			}
		}
		else
		{
			layer->ld = 0;
			lb = lw + Section((size_t) in * out);
			memset(lw, 0, sizeof(float) * LaterLayerFloats(in, out));
			memcpy(lw, w, sizeof(float) * in * out);
			memcpy(lb, bias, sizeof(float) * out);
		}
		storage = lw + LaterLayerFloats(in, out);
		layer->w = lw;
		layer->b = lb;
	}
	return storage;
}

void
ScorePlanInit(ScorePlan *plan, const MixrecModel *model, float *storage)
{
	const MlpShape *shape = &model->shape;
	int			in = MlpInputDim(shape);
	float	   *pair_w;
	float	   *pair_b;

	memset(plan, 0, sizeof(*plan));
	/* Align to a cache line: ScorePlanFloats counted 16 floats for it */
	storage += (16 - ((uintptr_t) storage / sizeof(float)) % 16) % 16;
	plan->shape = *shape;
	plan->in = in;
	plan->h1 = shape->dims[1];
	plan->h1p = RoundUp(plan->h1);
	plan->std = (model->flags & MIXREC_FLAG_STANDARDIZE) ? model->std : NULL;
	plan->center = NULL;
	if (plan->std != NULL)
	{
		memcpy(storage, model->mean, sizeof(float) * in);
		plan->center = storage;
	}
	storage += Section(in);

	/* Both first layers side by side */
	pair_w = storage;
	pair_b = pair_w + Section((size_t) in * 2 * plan->h1p);
	memset(pair_w, 0, sizeof(float) * (Section((size_t) in * 2 * plan->h1p) +
									   Section(2 * plan->h1p)));
	FoldFirst(plan, model->params[MIXREC_OPEN], 0, 2 * plan->h1p, pair_w, pair_b);
	FoldFirst(plan, model->params[MIXREC_COMMERCIAL], plan->h1p, 2 * plan->h1p, pair_w, pair_b);
	plan->pair = (ScorePlanLayer) {in, 2 * plan->h1, 2 * plan->h1p, pair_w, pair_b};
	storage = pair_b + Section(2 * plan->h1p);

	/* Room for the soup's, filled by ScorePlanSetSoup */
	plan->soup_first = (ScorePlanLayer) {in, plan->h1, plan->h1p, storage,
	storage + Section((size_t) in * plan->h1p)};
	storage += Section((size_t) in * plan->h1p) + Section(plan->h1p);

	storage = LayOutLater(plan, SCORE_PLAN_OPEN, model->params[MIXREC_OPEN], storage);
	storage = LayOutLater(plan, SCORE_PLAN_COMMERCIAL, model->params[MIXREC_COMMERCIAL], storage);
	/* The soup's later layers have the same layout: lay out the open's until set */
	LayOutLater(plan, SCORE_PLAN_SOUP, model->params[MIXREC_OPEN], storage);
	plan->soup_ready = false;

	plan->wide = 0;
	for (int l = 1; l < MlpLayerCount(shape); l++)
	{
		int			width = plan->rest[0][l - 1].ld ? plan->rest[0][l - 1].ld : shape->dims[l + 1];

		if (width > plan->wide)
			plan->wide = width;
	}
}

void
ScorePlanSetSoup(ScorePlan *plan, const float *soup)
{
	float	   *wt = (float *) plan->soup_first.w;
	float	   *b = (float *) plan->soup_first.b;

	memset(wt, 0, sizeof(float) * Section((size_t) plan->in * plan->h1p));
	memset(b, 0, sizeof(float) * Section(plan->h1p));
	FoldFirst(plan, soup, 0, plan->h1p, wt, b);
	if (MlpLayerCount(&plan->shape) > 1)
		LayOutLater(plan, SCORE_PLAN_SOUP, soup, (float *) plan->rest[SCORE_PLAN_SOUP][0].w);
	plan->soup_ready = true;
}

size_t
ScorePlanRowFloats(const ScorePlan *plan)
{
	/* the centred input, the first layers' outputs, two later layers' */
	return (size_t) RoundUp(plan->in) + 2 * (size_t) plan->h1p + 2 * (size_t) RoundUp(plan->wide);
}

/*
 * Run one MLP's later layers over its first layer's output h (one row),
 * ping-ponging in buf; returns the logits
 */
static const float *
LaterRow(const ScorePlan *plan, int net, const float *h, float *buf)
{
	int			layers = MlpLayerCount(&plan->shape);
	int			half = RoundUp(plan->wide);

	for (int l = 1; l < layers; l++)
	{
		const ScorePlanLayer *layer = &plan->rest[net][l - 1];
		float	   *out = buf + (l % 2) * half;
		int			relu = l < layers - 1;

		if (layer->ld > 0)
			ScoreKernelAxpy(layer->w, layer->ld, layer->ld, h, layer->in, layer->b, relu, out);
		else
			ScoreKernelDot(layer->w, h, layer->b, layer->out, layer->in, relu, out);
		h = out;
	}
	return h;
}

void
ScorePlanRow(const ScorePlan *plan, ScoreMode mode, double alpha, const float *x, float *work,
			 double *out)
{
	int			n_out = MlpOutputDim(&plan->shape);
	int			relu = plan->shape.n_hidden > 0;
	float	   *first = work + RoundUp(plan->in);
	float	   *buf = first + 2 * plan->h1p;
	const float *logits;

	x = CentreRows(plan, x, 1, work);
	switch (mode)
	{
		case SCORE_BLEND:
			{
				const float *open;

				ScoreKernelAxpy(plan->pair.w, plan->pair.ld, plan->pair.ld, x, plan->in,
								plan->pair.b, relu, first);
				open = LaterRow(plan, SCORE_PLAN_OPEN, first, buf);
				/* out = alpha * p_open first, as ScoreRows adds it first */
				for (int o = 0; o < n_out; o++)
					out[o] = alpha * Sigmoid(open[o]);
				logits = LaterRow(plan, SCORE_PLAN_COMMERCIAL, first + plan->h1p, buf);
				for (int o = 0; o < n_out; o++)
					out[o] += (1.0 - alpha) * Sigmoid(logits[o]);
				return;
			}
		case SCORE_OPEN:
		case SCORE_COMMERCIAL:
			{
				int			net = mode == SCORE_OPEN ? SCORE_PLAN_OPEN : SCORE_PLAN_COMMERCIAL;
				int			column = net * plan->h1p;

				ScoreKernelAxpy(plan->pair.w + column, plan->pair.ld, plan->h1p, x, plan->in,
								plan->pair.b + column, relu, first);
				logits = LaterRow(plan, net, first, buf);
				break;
			}
		case SCORE_SOUP:
		default:
			ScoreKernelAxpy(plan->soup_first.w, plan->soup_first.ld, plan->h1p, x, plan->in,
							plan->soup_first.b, relu, first);
			logits = LaterRow(plan, SCORE_PLAN_SOUP, first, buf);
			break;
	}
	for (int o = 0; o < n_out; o++)
		out[o] = Sigmoid(logits[o]);
}

void
ScorePlanRowSparse(const ScorePlan *plan, ScoreMode mode, double alpha, const float *centred,
				   const int *nz, int n_nz, float *work, double *out)
{
	int			n_out = MlpOutputDim(&plan->shape);
	int			relu = plan->shape.n_hidden > 0;
	float	   *first = work + RoundUp(plan->in);
	float	   *buf = first + 2 * plan->h1p;
	const float *logits;

	if (mode == SCORE_SOUP)
	{
		KernelSparseFirst(plan->soup_first.w, centred, nz, n_nz, plan->soup_first.b,
						  plan->soup_first.ld, relu, first);
		logits = LaterRow(plan, SCORE_PLAN_SOUP, first, buf);
		for (int o = 0; o < n_out; o++)
			out[o] = Sigmoid(logits[o]);
		return;
	}

	/* Both first layers, even for one model: their rows are interleaved */
	KernelSparseFirst(plan->pair.w, centred, nz, n_nz, plan->pair.b, plan->pair.ld, relu, first);
	if (mode == SCORE_BLEND)
	{
		logits = LaterRow(plan, SCORE_PLAN_OPEN, first, buf);
		for (int o = 0; o < n_out; o++)
			out[o] = alpha * Sigmoid(logits[o]);
		logits = LaterRow(plan, SCORE_PLAN_COMMERCIAL, first + plan->h1p, buf);
		for (int o = 0; o < n_out; o++)
			out[o] += (1.0 - alpha) * Sigmoid(logits[o]);
		return;
	}
	{
		int			net = mode == SCORE_OPEN ? SCORE_PLAN_OPEN : SCORE_PLAN_COMMERCIAL;

		logits = LaterRow(plan, net, first + net * plan->h1p, buf);
		for (int o = 0; o < n_out; o++)
			out[o] = Sigmoid(logits[o]);
	}
}

size_t
ScorePlanBlockFloats(const ScorePlan *plan, int rows)
{
	/* the centred rows, the first layers' outputs, two later layers' */
	return (size_t) rows * plan->in + (size_t) rows * 2 * plan->h1p +
		2 * (size_t) rows * plan->wide;
}

/*
 * The first layer of net (the pair when net < 0, the soup's for
 * SCORE_PLAN_SOUP) over centred rows: its outputs in z, ld_out floats a row
 */
static const float *
FirstRows(const ScorePlan *plan, int net, const float *x, int rows, float *z, int *ld_out)
{
	const ScorePlanLayer *layer = net == SCORE_PLAN_SOUP ? &plan->soup_first : &plan->pair;
	int			relu = plan->shape.n_hidden > 0;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, layer->ld, plan->in, 1.0f,
				x, plan->in, layer->w, layer->ld, 0.0f, z, layer->ld);
	KernelBiasRelu(z, layer->b, rows, layer->ld, relu);
	*ld_out = layer->ld;
	return z;
}

/*
 * Run one MLP's later layers over rows of its first layer's outputs (a,
 * lda floats a row); returns the logits, ld_out floats a row
 */
static const float *
LaterRows(const ScorePlan *plan, int net, const float *a, int lda, int rows, float *buf,
		  int *ld_out)
{
	int			layers = MlpLayerCount(&plan->shape);
	size_t		half = (size_t) rows * plan->wide;

	for (int l = 1; l < layers; l++)
	{
		const ScorePlanLayer *layer = &plan->rest[net][l - 1];
		float	   *out = buf + (l % 2) * half;
		int			relu = l < layers - 1;

		if (layer->ld > 0)
		{
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, layer->ld, layer->in,
						1.0f, a, lda, layer->w, layer->ld, 0.0f, out, layer->ld);
			KernelBiasRelu(out, layer->b, rows, layer->ld, relu);
			lda = layer->ld;
		}
		else
		{
			/* A narrow layer (the output layer): dot products, row by row */
			for (int r = 0; r < rows; r++)
				ScoreKernelDot(layer->w, a + (size_t) r * lda, layer->b, layer->out, layer->in,
							   relu, out + (size_t) r * layer->out);
			lda = layer->out;
		}
		a = out;
	}
	*ld_out = lda;
	return a;
}

void
ScorePlanRows(const ScorePlan *plan, ScoreMode mode, double alpha, const float *x, int rows,
			  float *work, double *out)
{
	int			n_out = MlpOutputDim(&plan->shape);
	float	   *z = work + (size_t) rows * plan->in;
	float	   *buf = z + (size_t) rows * 2 * plan->h1p;
	const float *first;
	const float *logits;
	int			ld;
	int			ld_logits;

	x = CentreRows(plan, x, rows, work);
	if (mode == SCORE_SOUP)
	{
		first = FirstRows(plan, SCORE_PLAN_SOUP, x, rows, z, &ld);
		logits = LaterRows(plan, SCORE_PLAN_SOUP, first, ld, rows, buf, &ld_logits);
		for (int r = 0; r < rows; r++)
			for (int o = 0; o < n_out; o++)
				out[(size_t) r * n_out + o] = Sigmoid(logits[(size_t) r * ld_logits + o]);
		return;
	}

	first = FirstRows(plan, -1, x, rows, z, &ld);
	for (int net = SCORE_PLAN_OPEN; net <= SCORE_PLAN_COMMERCIAL; net++)
	{
		double		weight;

		if ((mode == SCORE_OPEN && net != SCORE_PLAN_OPEN) ||
			(mode == SCORE_COMMERCIAL && net != SCORE_PLAN_COMMERCIAL))
			continue;
		weight = mode == SCORE_BLEND ? (net == SCORE_PLAN_OPEN ? alpha : 1.0 - alpha) : 1.0;
		logits = LaterRows(plan, net, first + net * plan->h1p, ld, rows, buf, &ld_logits);
		/* ScoreRows' order: out = 0 + weight * p_open, then += weight * p_commercial */
		for (int r = 0; r < rows; r++)
			for (int o = 0; o < n_out; o++)
			{
				double		p = weight * Sigmoid(logits[(size_t) r * ld_logits + o]);

				if (net == SCORE_PLAN_OPEN || mode != SCORE_BLEND)
					out[(size_t) r * n_out + o] = p;
				else
					out[(size_t) r * n_out + o] += p;
			}
	}
}

void
ScorePlanBlock(const ScorePlan *plan, ScoreMode mode, double alpha, const float *x, int rows,
			   float *work, double *open, double *commercial, double *score)
{
	float	   *z = work + (size_t) rows * plan->in;
	float	   *buf = z + (size_t) rows * 2 * plan->h1p;
	const float *first;
	const float *logits;
	int			ld;
	int			ld_logits;

	x = CentreRows(plan, x, rows, work);
	first = FirstRows(plan, -1, x, rows, z, &ld);
	logits = LaterRows(plan, SCORE_PLAN_OPEN, first, ld, rows, buf, &ld_logits);
	for (int r = 0; r < rows; r++)
		open[r] = Sigmoid(logits[(size_t) r * ld_logits]);
	logits = LaterRows(plan, SCORE_PLAN_COMMERCIAL, first + plan->h1p, ld, rows, buf, &ld_logits);
	for (int r = 0; r < rows; r++)
	{
		commercial[r] = Sigmoid(logits[(size_t) r * ld_logits]);
		switch (mode)
		{
			case SCORE_BLEND:
				score[r] = alpha * open[r] + (1.0 - alpha) * commercial[r];
				break;
			case SCORE_OPEN:
				score[r] = open[r];
				break;
			case SCORE_COMMERCIAL:
				score[r] = commercial[r];
				break;
			case SCORE_SOUP:
				break;
		}
	}
	if (mode == SCORE_SOUP)
	{
		first = FirstRows(plan, SCORE_PLAN_SOUP, x, rows, z, &ld);
		logits = LaterRows(plan, SCORE_PLAN_SOUP, first, ld, rows, buf, &ld_logits);
		for (int r = 0; r < rows; r++)
			score[r] = Sigmoid(logits[(size_t) r * ld_logits]);
	}
}

/*
 * test/core/test_core.c
 *	  Unit tests of the numeric core, against PyTorch's reference numbers.
 *
 * Usage: test_core <path to torch_reference.txt>
 *
 * Tolerance: a value passes when |ours - torch| <= 1e-6 + 1e-5 * |torch|
 * (float32 rounding; both sides use different summation orders).  The
 * training cases carry our own parameters from step to step, so the check
 * also covers accumulated drift over several Adam steps.
 *
 * Everything runs with the kernels KernelsInit chooses for this CPU; then
 * the checks that exercise the kernels (training, scoring, the one-row
 * product, the checksum) run a second time with MIXREC_NO_SIMD=1, so the
 * portable versions are held to the same references.
 *
 * The evaluation metrics are checked against scikit-learn with the
 * fixtures eval_data.csv and eval_cases.jsonl, read from the directory of
 * torch_reference.txt (see test/torch/make_eval_fixture.py); embedding
 * tables against PyTorch with embed_reference.txt from the same directory
 * (see test/torch/make_embed_fixture.py), to the same tolerance: six Adam,
 * AdamW or SparseAdam steps stay within a few hundredths of it.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "fixture.h"
#include "mixrec/adam.h"
#include "mixrec/crc32c.h"
#include "mixrec/explain.h"
#include "mixrec/fit.h"
#include "mixrec/kernels.h"
#include "mixrec/loss.h"
#include "mixrec/metrics.h"
#include "mixrec/mlp.h"
#include "mixrec/model.h"
#include "mixrec/predict.h"
#include "mixrec/random.h"
#include "mixrec/score_plan.h"
#include "mixrec/standardize.h"
#include "mixrec/train.h"
#include "mixrec/transform.h"
#include "tap.h"

#define RTOL 1e-5
#define ATOL 1e-6

static const Fixture *fx;

/*
 * Compare float results with a reference record
 */
static void
CheckFloats(const char *what, const float *got, const FixtureRecord *want)
{
	double	   *ours = malloc((want->count + 1) * sizeof(double));
	size_t		where;
	double		excess;

	for (size_t i = 0; i < want->count; i++)
		ours[i] = got[i];
	excess = TapWorstExcess(ours, want->values, want->count, RTOL, ATOL, &where);
	if (!TapOk(excess <= 0, "%s matches PyTorch (%zu values)", what, want->count))
		TapDiag("element %zu: ours %.9g, torch %.9g", where, ours[where],
				want->values[where]);
	free(ours);
}

/*
 * Compare double results with a reference record
 */
static void
CheckDoubles(const char *what, const double *got, const FixtureRecord *want)
{
	size_t		where;
	double		excess = TapWorstExcess(got, want->values, want->count, RTOL, ATOL, &where);

	if (!TapOk(excess <= 0, "%s matches PyTorch (%zu values)", what, want->count))
		TapDiag("element %zu: ours %.9g, torch %.9g", where, got[where],
				want->values[where]);
}

/*
 * Read a case's dims record into a shape
 */
static MlpShape
CaseShape(const char *name)
{
	const FixtureRecord *dims = FixtureGet(fx, "%s.dims", name);
	MlpShape	shape;

	memset(&shape, 0, sizeof(shape));
	shape.n_hidden = (int) dims->count - 2;
	for (size_t i = 0; i < dims->count; i++)
		shape.dims[i] = (int) dims->values[i];
	return shape;
}

/*
 * Convert a 0/1 record into flags
 */
static unsigned char *
CaseFlags(const FixtureRecord *record)
{
	unsigned char *flags = malloc(record->count + 1);

	for (size_t i = 0; i < record->count; i++)
		flags[i] = record->values[i] != 0.0;
	return flags;
}

/*
 * Replay a PyTorch training case: forward, loss, backward and Adam steps
 */
static void
TestTrainingCase(const char *name)
{
	MlpShape	shape = CaseShape(name);
	size_t		params = MlpParamCount(&shape);
	int			batch = (int) FixtureScalar(fx, "%s.batch", name);
	int			steps = (int) FixtureScalar(fx, "%s.steps", name);
	double		alpha = FixtureScalar(fx, "%s.alpha", name);
	AdamConfig	config;
	float	   *open = FixtureFloats(FixtureGet(fx, "%s.init.open", name));
	float	   *commercial = FixtureFloats(FixtureGet(fx, "%s.init.commercial", name));
	float	   *m_open = calloc(params, sizeof(float));
	float	   *v_open = calloc(params, sizeof(float));
	float	   *m_commercial = calloc(params, sizeof(float));
	float	   *v_commercial = calloc(params, sizeof(float));
	float	   *grad_open = malloc(params * sizeof(float));
	float	   *grad_commercial = malloc(params * sizeof(float));
	size_t		n_logits = (size_t) batch * MlpOutputDim(&shape);
	float	   *acts_open = malloc(MlpActivationFloats(&shape, batch) * sizeof(float));
	float	   *acts_commercial = malloc(MlpActivationFloats(&shape, batch) * sizeof(float));
	float	   *dlogits_open = malloc(n_logits * sizeof(float));
	float	   *dlogits_commercial = malloc(n_logits * sizeof(float));
	float	   *work = malloc((MlpBackwardWorkFloats(&shape, batch) + 1) * sizeof(float));
	char		what[128];
	MixrecError err;

	config.kind = FixtureScalar(fx, "%s.adamw", name) != 0 ? ADAM_DECOUPLED : ADAM_L2;
	config.lazy_embeddings = 0;
	config.lr = FixtureScalar(fx, "%s.lr", name);
	config.beta1 = FixtureScalar(fx, "%s.beta1", name);
	config.beta2 = FixtureScalar(fx, "%s.beta2", name);
	config.eps = FixtureScalar(fx, "%s.eps", name);
	config.weight_decay = FixtureScalar(fx, "%s.weight_decay", name);
	TapOk(MlpShapeCheck(&shape, &err) == MIXREC_OK && AdamConfigCheck(&config, &err) == MIXREC_OK,
		  "%s: shape and optimizer settings are valid", name);

	for (int s = 0; s < steps; s++)
	{
		float	   *x = FixtureFloats(FixtureGet(fx, "%s.step%d.x", name, s));
		float	   *y = FixtureFloats(FixtureGet(fx, "%s.step%d.y", name, s));
		float	   *w = FixtureFloats(FixtureGet(fx, "%s.step%d.w", name, s));
		unsigned char *o = CaseFlags(FixtureGet(fx, "%s.step%d.o", name, s));
		unsigned char *c = CaseFlags(FixtureGet(fx, "%s.step%d.c", name, s));
		LossBatch	lb = {batch, MlpOutputDim(&shape), y, w, o, c};
		LossValue	loss;

		MlpForward(&shape, open, x, batch, acts_open);
		MlpForward(&shape, commercial, x, batch, acts_commercial);
		snprintf(what, sizeof(what), "%s step %d open logits", name, s);
		CheckFloats(what, MlpLogits(&shape, acts_open, batch),
					FixtureGet(fx, "%s.step%d.logits.open", name, s));
		snprintf(what, sizeof(what), "%s step %d commercial logits", name, s);
		CheckFloats(what, MlpLogits(&shape, acts_commercial, batch),
					FixtureGet(fx, "%s.step%d.logits.commercial", name, s));

		loss = LossBlended(alpha, &lb, MlpLogits(&shape, acts_open, batch),
						   MlpLogits(&shape, acts_commercial, batch),
						   dlogits_open, dlogits_commercial);
		snprintf(what, sizeof(what), "%s step %d loss", name, s);
		CheckDoubles(what, &loss.total, FixtureGet(fx, "%s.step%d.loss", name, s));

		MlpBackward(&shape, open, x, batch, acts_open, dlogits_open, grad_open, work);
		MlpBackward(&shape, commercial, x, batch, acts_commercial, dlogits_commercial,
					grad_commercial, work);
		snprintf(what, sizeof(what), "%s step %d open gradient", name, s);
		CheckFloats(what, grad_open, FixtureGet(fx, "%s.step%d.grad.open", name, s));
		snprintf(what, sizeof(what), "%s step %d commercial gradient", name, s);
		CheckFloats(what, grad_commercial,
					FixtureGet(fx, "%s.step%d.grad.commercial", name, s));

		AdamStep(&config, s + 1, open, grad_open, m_open, v_open, params);
		AdamStep(&config, s + 1, commercial, grad_commercial, m_commercial,
				 v_commercial, params);
		snprintf(what, sizeof(what), "%s step %d open parameters after %s", name, s,
				 config.kind == ADAM_DECOUPLED ? "AdamW" : "Adam");
		CheckFloats(what, open, FixtureGet(fx, "%s.step%d.after.open", name, s));
		snprintf(what, sizeof(what), "%s step %d commercial parameters after %s", name, s,
				 config.kind == ADAM_DECOUPLED ? "AdamW" : "Adam");
		CheckFloats(what, commercial, FixtureGet(fx, "%s.step%d.after.commercial", name, s));

		free(x);
		free(y);
		free(w);
		free(o);
		free(c);
	}

	free(open);
	free(commercial);
	free(m_open);
	free(v_open);
	free(m_commercial);
	free(v_commercial);
	free(grad_open);
	free(grad_commercial);
	free(acts_open);
	free(acts_commercial);
	free(dlogits_open);
	free(dlogits_commercial);
	free(work);
}

/*
 * Replay a PyTorch training case through TrainStep, the path training
 * takes (both first layers as one GEMM, gathered rows, both Adam steps)
 */
static void
TestTrainStepCase(const char *name)
{
	MixrecModel model;
	float	   *storage;
	int			batch = (int) FixtureScalar(fx, "%s.batch", name);
	int			steps = (int) FixtureScalar(fx, "%s.steps", name);
	size_t		params;
	TrainWork	work;
	float	   *work_floats;
	unsigned char *work_bytes;
	uint32_t   *rows = malloc(sizeof(uint32_t) * batch);
	char		what[128];

	memset(&model, 0, sizeof(model));
	model.shape = CaseShape(name);
	model.alpha = FixtureScalar(fx, "%s.alpha", name);
	model.flags = MIXREC_FLAG_OPTIMIZER;
	params = MlpParamCount(&model.shape);
	storage = calloc(ModelFloatCount(&model), sizeof(float));
	ModelBindStorage(&model, storage);
	{
		float	   *open = FixtureFloats(FixtureGet(fx, "%s.init.open", name));
		float	   *commercial = FixtureFloats(FixtureGet(fx, "%s.init.commercial", name));

		memcpy(model.params[MIXREC_OPEN], open, sizeof(float) * params);
		memcpy(model.params[MIXREC_COMMERCIAL], commercial, sizeof(float) * params);
		free(open);
		free(commercial);
	}
	model.adam.kind = FixtureScalar(fx, "%s.adamw", name) != 0 ? ADAM_DECOUPLED : ADAM_L2;
	model.adam.lr = FixtureScalar(fx, "%s.lr", name);
	model.adam.beta1 = FixtureScalar(fx, "%s.beta1", name);
	model.adam.beta2 = FixtureScalar(fx, "%s.beta2", name);
	model.adam.eps = FixtureScalar(fx, "%s.eps", name);
	model.adam.weight_decay = FixtureScalar(fx, "%s.weight_decay", name);
	work_floats = malloc(sizeof(float) * TrainWorkFloats(&model, batch));
	work_bytes = malloc(TrainWorkBytes(&model, batch));
	TrainWorkBind(&work, &model, batch, work_floats, work_bytes);
	for (int r = 0; r < batch; r++)
		rows[r] = (uint32_t) r;

	for (int s = 0; s < steps; s++)
	{
		float	   *x = FixtureFloats(FixtureGet(fx, "%s.step%d.x", name, s));
		float	   *y = FixtureFloats(FixtureGet(fx, "%s.step%d.y", name, s));
		float	   *w = FixtureFloats(FixtureGet(fx, "%s.step%d.w", name, s));
		unsigned char *o = CaseFlags(FixtureGet(fx, "%s.step%d.o", name, s));
		unsigned char *c = CaseFlags(FixtureGet(fx, "%s.step%d.c", name, s));
		TrainData	data = {MlpInputDim(&model.shape), MlpOutputDim(&model.shape), (size_t) batch,
		x, y, w, o, c};
		LossValue	loss = TrainStep(&model, &data, rows, batch, &work);

		snprintf(what, sizeof(what), "%s step %d loss through TrainStep", name, s);
		CheckDoubles(what, &loss.total, FixtureGet(fx, "%s.step%d.loss", name, s));
		snprintf(what, sizeof(what), "%s step %d parameters through TrainStep", name, s);
		CheckFloats(what, model.params[MIXREC_OPEN], FixtureGet(fx, "%s.step%d.after.open", name, s));
		CheckFloats(what, model.params[MIXREC_COMMERCIAL], FixtureGet(fx, "%s.step%d.after.commercial", name, s));
		free(x);
		free(y);
		free(w);
		free(o);
		free(c);
	}
	TapOk(model.step == steps, "%s: TrainStep counted %d Adam steps", name, steps);
	free(storage);
	free(work_floats);
	free(work_bytes);
	free(rows);
}

/*
 * Score a case's rows in every mode with its initial parameters
 */
static void
TestScoringCase(const char *name)
{
	MixrecModel model;
	const FixtureRecord *xr = FixtureGet(fx, "%s.score.x", name);
	float	   *storage;
	float	   *x = FixtureFloats(xr);
	float	   *soup;
	float	   *work;
	double	   *out;
	int			rows;
	size_t		params;
	double		alpha2 = FixtureScalar(fx, "%s.score.alpha2", name);
	static const char *const modes[] = {"blend", "open", "commercial", "soup"};
	char		what[128];

	memset(&model, 0, sizeof(model));
	model.shape = CaseShape(name);
	model.alpha = FixtureScalar(fx, "%s.alpha", name);
	params = MlpParamCount(&model.shape);
	storage = malloc(ModelFloatCount(&model) * sizeof(float));
	ModelBindStorage(&model, storage);
	{
		float	   *init_open = FixtureFloats(FixtureGet(fx, "%s.init.open", name));
		float	   *init_commercial = FixtureFloats(FixtureGet(fx, "%s.init.commercial", name));

		memcpy(model.params[MIXREC_OPEN], init_open, params * sizeof(float));
		memcpy(model.params[MIXREC_COMMERCIAL], init_commercial, params * sizeof(float));
		free(init_open);
		free(init_commercial);
	}

	rows = (int) (xr->count / MlpInputDim(&model.shape));
	soup = malloc(params * sizeof(float));
	work = malloc(ScoreWorkFloats(&model, rows) * sizeof(float));
	out = malloc((size_t) rows * MlpOutputDim(&model.shape) * sizeof(double));

	for (int m = 0; m < 4; m++)
	{
		ScoreMode	mode = (ScoreMode) ScoreModeFromName(modes[m]);

		ScoreSoupParams(&model, model.alpha, soup);
		ScoreRows(&model, mode, model.alpha, mode == SCORE_SOUP ? soup : NULL,
				  x, rows, work, out);
		snprintf(what, sizeof(what), "%s %s scores", name, modes[m]);
		CheckDoubles(what, out, FixtureGet(fx, "%s.score.%s", name, modes[m]));
	}
	ScoreRows(&model, SCORE_BLEND, alpha2, NULL, x, rows, work, out);
	snprintf(what, sizeof(what), "%s blend scores with alpha overridden to %g", name, alpha2);
	CheckDoubles(what, out, FixtureGet(fx, "%s.score.blend_alpha2", name));

	/* The scoring plan, one row at a time and as a block, against the same answers */
	{
		ScorePlan	plan;
		float	   *plan_storage = malloc(ScorePlanFloats(&model) * sizeof(float));
		float	   *plan_work;
		int			n_out = MlpOutputDim(&model.shape);

		ScorePlanInit(&plan, &model, plan_storage);
		ScoreSoupParams(&model, model.alpha, soup);
		ScorePlanSetSoup(&plan, soup);
		plan_work = malloc(sizeof(float) * (ScorePlanBlockFloats(&plan, rows) +
											ScorePlanRowFloats(&plan)));
		for (int m = 0; m < 4; m++)
		{
			ScoreMode	mode = (ScoreMode) ScoreModeFromName(modes[m]);

			for (int r = 0; r < rows; r++)
				ScorePlanRow(&plan, mode, model.alpha, x + (size_t) r * MlpInputDim(&model.shape),
							 plan_work, out + (size_t) r * n_out);
			snprintf(what, sizeof(what), "%s %s scores, one row at a time by the plan (%s)",
					 name, modes[m], KernelsDescribe());
			CheckDoubles(what, out, FixtureGet(fx, "%s.score.%s", name, modes[m]));
			ScorePlanRows(&plan, mode, model.alpha, x, rows, plan_work, out);
			snprintf(what, sizeof(what), "%s %s scores, a block by the plan", name, modes[m]);
			CheckDoubles(what, out, FixtureGet(fx, "%s.score.%s", name, modes[m]));
		}
		for (int r = 0; r < rows; r++)
			ScorePlanRow(&plan, SCORE_BLEND, alpha2, x + (size_t) r * MlpInputDim(&model.shape),
						 plan_work, out + (size_t) r * n_out);
		snprintf(what, sizeof(what), "%s blend scores with alpha %g, by the plan", name, alpha2);
		CheckDoubles(what, out, FixtureGet(fx, "%s.score.blend_alpha2", name));
		free(plan_storage);
		free(plan_work);
	}

	free(storage);
	free(x);
	free(soup);
	free(work);
	free(out);
}

/*
 * Fit standardisation and compare with the reference
 */
static void
TestStandardize(void)
{
	int			n = (int) FixtureScalar(fx, "std.n");
	int			d = (int) FixtureScalar(fx, "std.d");
	float	   *x = FixtureFloats(FixtureGet(fx, "std.x"));
	double	   *mean_acc = malloc(d * sizeof(double));
	double	   *m2 = malloc(d * sizeof(double));
	float	   *mean = malloc(d * sizeof(float));
	float	   *std = malloc(d * sizeof(float));
	float	   *scaled = malloc((size_t) n * d * sizeof(float));
	StandardizeStats stats;

	StandardizeStatsInit(&stats, d, mean_acc, m2);
	/* Feed in two chunks to exercise the running update */
	StandardizeStatsAdd(&stats, x, 3);
	StandardizeStatsAdd(&stats, x + 3 * d, n - 3);
	StandardizeStatsFinish(&stats, mean, std);
	CheckFloats("standardization mean", mean, FixtureGet(fx, "std.mean"));
	CheckFloats("standardization std (constant feature gets 1)", std, FixtureGet(fx, "std.std"));

	StandardizeApply(mean, std, d, x, n, scaled);
	{
		double		col_mean = 0;

		for (int r = 0; r < n; r++)
			col_mean += scaled[r * d + 0];
		TapOk(fabs(col_mean / n) < 1e-5, "standardized feature has mean 0 (got %g)", col_mean / n);
	}
	free(x);
	free(mean_acc);
	free(m2);
	free(mean);
	free(std);
	free(scaled);
}

/*
 * Known answers of the checksum and the generator
 */
static void
TestKnownAnswers(void)
{
	MixrecRandom rng;
	int			in_range = 1;
	double		sum = 0;

	TapOk(Crc32c("123456789", 9) == UINT32_C(0xE3069283),
		  "CRC-32C of \"123456789\" is e3069283");
	TapOk(Crc32c("", 0) == 0, "CRC-32C of nothing is 0");

	/*
	 * splitmix64 seeding, then xoshiro256**: the first outputs for seed 42,
	 * written down once, so that any change of the generator (and with it
	 * of every stored seed's initialisation and shuffle) fails here
	 */
	{
		static const uint64_t seed42[] = {
			UINT64_C(0x15780b2e0c2ec716), UINT64_C(0x6104d9866d113a7e),
			UINT64_C(0xae17533239e499a1), UINT64_C(0xecb8ad4703b360a1),
		};
		static const uint64_t below7[] = {2, 1, 5, 4};
		int			pinned = 1;

		RandomSeed(&rng, 42);
		for (int i = 0; i < 4; i++)
			pinned &= RandomNext(&rng) == seed42[i];
		TapOk(pinned, "the generator's first four outputs for seed 42 are the pinned ones");
		RandomSeed(&rng, 0);
		TapOk(RandomNext(&rng) == UINT64_C(0x99ec5f36cb75f2b4),
			  "the generator's first output for seed 0 is 99ec5f36cb75f2b4");
		RandomSeed(&rng, 42);
		TapOk(RandomDouble(&rng) == (double) (UINT64_C(0x15780b2e0c2ec716) >> 11) * 0x1.0p-53,
			  "a uniform double is the top 53 bits of an output");
		RandomSeed(&rng, 42);
		pinned = 1;
		for (int i = 0; i < 4; i++)
			pinned &= RandomBelow(&rng, 7) == below7[i];
		TapOk(pinned, "the first four integers below 7 for seed 42 are the pinned ones");
	}
	for (int i = 0; i < 100000; i++)
	{
		double		u = RandomDouble(&rng);

		in_range &= u >= 0.0 && u < 1.0;
		sum += u;
	}
	TapOk(in_range && fabs(sum / 100000 - 0.5) < 0.01,
		  "uniform doubles lie in [0, 1) with mean 0.5 (got %f)", sum / 100000);
	{
		int			counts[7] = {0};
		int			fair = 1;

		for (int i = 0; i < 70000; i++)
			counts[RandomBelow(&rng, 7)]++;
		for (int i = 0; i < 7; i++)
			fair &= abs(counts[i] - 10000) < 500;
		TapOk(fair, "bounded integers are uniform over [0, 7)");
	}
}

/*
 * Build a small model with every optional section
 */
static MixrecModel
MakeModel(uint32_t flags, float **storage)
{
	MixrecModel model;

	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 2;
	model.shape.dims[0] = 5;
	model.shape.dims[1] = 7;
	model.shape.dims[2] = 3;
	model.shape.dims[3] = 2;
	model.alpha = 0.25;
	model.flags = flags;
	*storage = calloc(ModelFloatCount(&model), sizeof(float));
	ModelBindStorage(&model, *storage);
	ModelInitParams(&model, 7, MODEL_INIT_INDEPENDENT);
	if (flags & MIXREC_FLAG_STANDARDIZE)
		for (int j = 0; j < 5; j++)
		{
			model.mean[j] = (float) j;
			model.std[j] = 1.0f + j;
		}
	if (flags & MIXREC_FLAG_OPTIMIZER)
	{
		size_t		p = MlpParamCount(&model.shape);

		model.adam = AdamDefaults();
		model.adam.kind = ADAM_DECOUPLED;
		model.step = 12;
		for (size_t i = 0; i < p; i++)
		{
			model.m[MIXREC_OPEN][i] = 0.01f * i;
			model.v[MIXREC_OPEN][i] = 0.001f * i;
			model.m[MIXREC_COMMERCIAL][i] = -0.01f * i;
			model.v[MIXREC_COMMERCIAL][i] = 0.002f * i;
		}
	}
	return model;
}

/*
 * Encode and decode a blob; returns the status of decoding
 */
static MixrecStatus
Decode(const uint8_t *blob, size_t len, MixrecModel *out, float **storage,
	   MixrecError *err)
{
	MixrecStatus status = ModelDecodeHeader(blob, len, out, err);

	*storage = NULL;
	if (status != MIXREC_OK)
		return status;
	*storage = malloc(ModelFloatCount(out) * sizeof(float));
	ModelBindStorage(out, *storage);
	return ModelDecodeArrays(blob, len, out, err);
}

/*
 * Every truncation and every single bit flip of a valid blob is rejected:
 * two checks, for a model described as what
 */
static void
CheckCutsAndFlips(const uint8_t *blob, size_t len, const char *what)
{
	uint8_t    *bad = malloc(len);
	MixrecModel copy;
	float	   *storage;
	MixrecError err;
	int			all_rejected = 1;

	for (size_t cut = 0; cut < len; cut++)
	{
		if (Decode(blob, cut, &copy, &storage, &err) == MIXREC_OK)
			all_rejected = 0;
		free(storage);
	}
	TapOk(all_rejected, "every truncation of a %zu-byte %s is rejected", len, what);

	all_rejected = 1;
	for (size_t bit = 0; bit < 8 * len; bit++)
	{
		memcpy(bad, blob, len);
		bad[bit / 8] ^= (uint8_t) (1 << (bit % 8));
		if (Decode(bad, len, &copy, &storage, &err) == MIXREC_OK)
			all_rejected = 0;
		free(storage);
	}
	TapOk(all_rejected, "every single bit flip of a %s is rejected", what);
	free(bad);
}

/*
 * Recompute a blob's checksum after an edit, so a test reaches the check
 * behind the checksum
 */
static void
Reseal(uint8_t *blob, size_t len)
{
	uint32_t	crc = Crc32c(blob, len - 4);

	for (int i = 0; i < 4; i++)
		blob[len - 4 + i] = (uint8_t) (crc >> (8 * i));
}

/*
 * The binary format: round trip and every kind of damage
 */
static void
TestFormat(void)
{
	static const uint32_t flag_sets[] = {0, MIXREC_FLAG_STANDARDIZE, MIXREC_FLAG_OPTIMIZER,
	MIXREC_FLAG_STANDARDIZE | MIXREC_FLAG_OPTIMIZER};

	for (int f = 0; f < 4; f++)
	{
		float	   *storage,
				   *storage2;
		MixrecModel model = MakeModel(flag_sets[f], &storage);
		MixrecModel copy;
		size_t		len = ModelEncodedSize(&model);
		uint8_t    *blob = malloc(len);
		uint8_t    *again = malloc(len);
		MixrecError err;
		MixrecStatus status;

		ModelEncode(&model, blob);
		status = Decode(blob, len, &copy, &storage2, &err);
		TapOk(status == MIXREC_OK, "flags %u: a model decodes (%s)", (unsigned) flag_sets[f],
			  status == MIXREC_OK ? "ok" : err.message);
		if (status == MIXREC_OK)
		{
			ModelEncode(&copy, again);
			TapOk(memcmp(blob, again, len) == 0 && copy.alpha == 0.25 &&
				  copy.step == model.step && copy.adam.kind == model.adam.kind,
				  "flags %u: decode then encode gives the same bytes", (unsigned) flag_sets[f]);
		}
		free(storage2);
		free(again);
		free(blob);
		free(storage);
	}

	/* Damage a full model in every way */
	{
		float	   *storage,
				   *storage2;
		MixrecModel model = MakeModel(MIXREC_FLAG_STANDARDIZE | MIXREC_FLAG_OPTIMIZER, &storage);
		MixrecModel copy;
		size_t		len = ModelEncodedSize(&model);
		uint8_t    *blob = malloc(len);
		uint8_t    *bad = malloc(len + 8);
		MixrecError err;

		ModelEncode(&model, blob);

		CheckCutsAndFlips(blob, len, "model");

		memcpy(bad, blob, len);
		bad[len] = 0;
		TapOk(Decode(bad, len + 1, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "longer") != NULL, "trailing bytes are rejected: %s", err.message);
		free(storage2);

		memcpy(bad, "PK\003\004", 4);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "magic") != NULL, "foreign data is rejected: %s", err.message);
		free(storage2);

		memcpy(bad, blob, len);
		bad[4] = 3;
		Reseal(bad, len);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "version 3") != NULL, "a future format version is rejected: %s",
			  err.message);
		free(storage2);

		memcpy(bad, blob, len);
		bad[20 + 4] = 0;		/* first hidden size: 7 -> 0 */
		Reseal(bad, len);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT,
			  "a zero layer size is rejected: %s", err.message);
		free(storage2);

		memcpy(bad, blob, len);
		bad[16] = 200;			/* 200 hidden layers */
		Reseal(bad, len);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "hidden layers") != NULL,
			  "too many hidden layers are rejected: %s", err.message);
		free(storage2);

		memcpy(bad, blob, len);
		bad[20 + 6] = 0x10;		/* hidden size 7 -> 0x100007 */
		Reseal(bad, len);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT,
			  "an absurd layer size is rejected: %s", err.message);
		free(storage2);

		{
			/* a NaN weight behind a valid checksum: the last open parameter */
			size_t		params = MlpParamCount(&model.shape);
			size_t		header = len - 4 - 4 * ModelFloatCount(&model);
			size_t		at = header + 4 * (2 * 5 + params - 1);
			uint32_t	nan_bits = UINT32_C(0x7FC00000);

			memcpy(bad, blob, len);
			for (int i = 0; i < 4; i++)
				bad[at + i] = (uint8_t) (nan_bits >> (8 * i));
			Reseal(bad, len);
			TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
				  strstr(err.message, "not finite") != NULL,
				  "a NaN parameter is rejected: %s", err.message);
			free(storage2);
		}
		{
			/* alpha 1.5 behind a valid checksum */
			size_t		at = 20 + 4 * 4;
			double		alpha = 1.5;
			uint64_t	bits;

			memcpy(&bits, &alpha, 8);
			memcpy(bad, blob, len);
			for (int i = 0; i < 8; i++)
				bad[at + i] = (uint8_t) (bits >> (8 * i));
			Reseal(bad, len);
			TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
				  strstr(err.message, "alpha") != NULL, "alpha outside [0, 1] is rejected: %s",
				  err.message);
			free(storage2);
		}
		free(bad);
		free(blob);
		free(storage);
	}
}

/*
 * A transform section of input_dim inputs (at least 3): a numeric column
 * and a categorical one of input_dim - 3 entries; the caller frees it
 */
static uint8_t *
ModelTransformSection(uint32_t input_dim, uint32_t *len)
{
	static char names[64][8];
	static TransformText entries[64];
	static uint64_t counts[64];
	TransformColumnSpec specs[2] = {
		{.name = "n", .type_name = "float8", .kind = TRANSFORM_NUMERIC, .length = 1, .rows = 7,
		.mean = 0.5, .std = 2.0},
		{.name = "c", .type_name = "text", .kind = TRANSFORM_CATEGORICAL, .length = 1, .rows = 7,
		.vocab_size = input_dim - 3, .vocab = entries, .vocab_count = counts},
	};
	size_t		size;
	uint8_t    *section;
	uint32_t	dim;
	MixrecError err;

	for (uint32_t i = 0; i < input_dim - 3; i++)
	{
		snprintf(names[i], sizeof(names[i]), "e%u", (unsigned) (i % 100));
		entries[i].data = names[i];
		entries[i].len = strlen(names[i]);
		entries[i].isnull = 0;
		counts[i] = 10 - i;
	}
	size = TransformSectionSize(specs, 2);
	section = malloc(size);
	if (TransformBuild(specs, 2, section, size, &dim, &err) != MIXREC_OK || dim != input_dim)
	{
		printf("Bail out! the model's transform does not build: %s\n", err.message);
		exit(1);
	}
	*len = (uint32_t) size;
	return section;
}

/*
 * Format version 2: version 1 unchanged for models without a transform,
 * version 2 round trips, every damage of the new fields, the header alone,
 * work in place
 */
static void
TestFormatVersion2(void)
{
	/* Written once with the code before version 2 existed */
	static const size_t v1_len[4] = {640, 680, 1880, 1920};
	static const uint32_t v1_crc[4] = {
		UINT32_C(0x6dfbd5a1), UINT32_C(0x95271d9f), UINT32_C(0xa6c1d0a4), UINT32_C(0x793e8a84)
	};
	uint32_t	t_len;
	uint8_t    *section = ModelTransformSection(5, &t_len);
	int			pinned = 1;

	for (uint32_t f = 0; f < 4; f++)
	{
		float	   *storage;
		MixrecModel model = MakeModel(f, &storage);
		size_t		len = ModelEncodedSize(&model);
		uint8_t    *blob = malloc(len);

		ModelEncode(&model, blob);
		pinned &= len == v1_len[f] && ModelStoredChecksum(blob, len) == v1_crc[f] &&
			blob[4] == 1 && blob[5] == 0;
		free(blob);
		free(storage);
	}
	TapOk(pinned, "a model without a transform is written as format version 1, byte for byte as before version 2");

	for (uint32_t f = 0; f < 4; f++)
	{
		uint32_t	flags = MIXREC_FLAG_TRANSFORM | f;
		float	   *storage,
				   *storage2;
		MixrecModel model = MakeModel(flags, &storage);
		MixrecModel copy;
		size_t		len;
		uint8_t    *blob;
		uint8_t    *again;
		MixrecError err;
		MixrecStatus status;

		model.transform = section;
		model.transform_len = t_len;
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		again = malloc(len);
		ModelEncode(&model, blob);
		status = Decode(blob, len, &copy, &storage2, &err);
		TapOk(status == MIXREC_OK && ModelBlobVersion(blob) == 2 && len == v1_len[f] + 8 + t_len &&
			  copy.flags == flags && copy.transform_len == t_len && copy.transform == blob + len - 4 - t_len &&
			  memcmp(copy.transform, section, t_len) == 0,
			  "flags %u: a model with a transform is format version 2, %zu bytes, and decodes with its transform pointing into the blob (%s)",
			  (unsigned) flags, len, status == MIXREC_OK ? "ok" : err.message);
		if (status == MIXREC_OK)
		{
			ModelEncode(&copy, again);
			TapOk(memcmp(blob, again, len) == 0 && copy.step == model.step &&
				  memcmp(copy.params[MIXREC_COMMERCIAL], model.params[MIXREC_COMMERCIAL],
						 sizeof(float) * MlpParamCount(&model.shape)) == 0,
				  "flags %u: version 2 decodes then encodes to the same bytes", (unsigned) flags);
		}
		free(storage2);
		free(again);
		free(blob);
		free(storage);
	}

	/* Damage: every cut and bit, and each new field behind a valid checksum */
	{
		float	   *storage,
				   *storage2;
		MixrecModel model = MakeModel(MIXREC_FLAG_TRANSFORM | MIXREC_FLAG_STANDARDIZE |
									  MIXREC_FLAG_OPTIMIZER, &storage);
		MixrecModel copy;
		size_t		len;
		uint8_t    *blob;
		uint8_t    *bad;
		size_t		at_len = 20 + 4 * 4 + 8;	/* the transform's length, after alpha */
		MixrecError err;

		model.transform = section;
		model.transform_len = t_len;
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		bad = malloc(len + 1);
		ModelEncode(&model, blob);

		CheckCutsAndFlips(blob, len, "version 2 model");

#define DAMAGED(edit, part, what) \
	do { \
		memcpy(bad, blob, len); \
		edit; \
		Reseal(bad, len); \
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT && \
			  strstr(err.message, part) != NULL, "%s: %s", what, err.message); \
		free(storage2); \
	} while (0)
		DAMAGED(bad[8] &= ~MIXREC_FLAG_TRANSFORM, "version 2 needs an input transform",
				"a version 2 model without the transform flag is rejected");
		DAMAGED(bad[4] = 1, "version 1 cannot carry an input transform",
				"the transform flag in a version 1 model is rejected");
		DAMAGED(bad[4] = 3, "format version 3 is not supported", "a future format version is rejected");
		DAMAGED(memset(bad + at_len, 0, 4), "input transform of 0 bytes",
				"an empty transform is rejected");
		DAMAGED(bad[at_len] ^= 1, "size does not match", "a transform length that does not match the blob is rejected");
		DAMAGED(bad[at_len + 3] = 0x80, "impossible", "a transform longer than the blob is rejected");
		DAMAGED(bad[at_len + 4] = 1, "size does not match",
				"embedding tables the blob does not hold are rejected");
		DAMAGED(bad[len - 4 - t_len + 4] = 6, "model input transform is invalid: the transform fills 6 inputs, but the model has 5",
				"a transform for another number of inputs is rejected");
		DAMAGED(bad[len - 4 - t_len + 8] = 9, "model input transform is invalid: column \"n\" has unknown kind 9",
				"a damaged transform behind a valid checksum is rejected");
#undef DAMAGED

		/* The header alone: from a copy of just the first bytes */
		{
			size_t		header = 20 + 4 * 4 + 8 + 8 + 56;
			uint8_t    *head = malloc(MIXREC_HEADER_MAX_BYTES);
			MixrecModel peeked;

			memcpy(head, blob, header);
			TapOk(ModelPeekHeader(head, header, len, &peeked, &err) == MIXREC_OK &&
				  peeked.transform_len == t_len && peeked.transform == NULL &&
				  peeked.flags == model.flags && peeked.step == model.step &&
				  memcmp(&peeked.shape, &model.shape, sizeof(model.shape)) == 0,
				  "the header of a version 2 model reads from its first %zu bytes, with the transform's length but not the transform", header);
			TapOk(ModelPeekHeader(head, header - 1, len, &peeked, &err) == MIXREC_ERR_CORRUPT,
				  "one byte less of a version 2 header is not enough: %s", err.message);
			free(head);
		}
		free(bad);
		free(blob);
		free(storage);
	}

	/* The largest header is MIXREC_HEADER_MAX_BYTES */
	{
		MixrecModel model;
		float	   *storage;
		uint32_t	wide_len;
		uint8_t    *wide = ModelTransformSection(3, &wide_len);
		size_t		len;
		uint8_t    *blob;
		MixrecModel peeked;
		MixrecError err;

		memset(&model, 0, sizeof(model));
		model.shape.n_hidden = MIXREC_MAX_HIDDEN_LAYERS;
		for (int i = 0; i < MIXREC_MAX_HIDDEN_LAYERS + 2; i++)
			model.shape.dims[i] = 1;
		model.shape.dims[0] = 3;
		model.flags = MIXREC_FLAG_ALL;
		model.adam = AdamDefaults();
		model.transform = wide;
		model.transform_len = wide_len;
		storage = calloc(ModelFloatCount(&model), sizeof(float));
		ModelBindStorage(&model, storage);
		for (int j = 0; j < 3; j++)
			model.std[j] = 1.0f;
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		ModelEncode(&model, blob);
		TapOk(len - 4 - wide_len - sizeof(float) * ModelFloatCount(&model) == MIXREC_HEADER_MAX_BYTES &&
			  ModelPeekHeader(blob, MIXREC_HEADER_MAX_BYTES, len, &peeked, &err) == MIXREC_OK &&
			  ModelCheck(&model, &err) == MIXREC_OK,
			  "MIXREC_HEADER_MAX_BYTES (%d) is the header of a model with every flag and 16 hidden layers",
			  MIXREC_HEADER_MAX_BYTES);
		free(blob);
		free(storage);
		free(wide);
	}

	/* In place: the transform points into the blob; sealing keeps the step's place */
	{
		float	   *storage;
		MixrecModel model = MakeModel(MIXREC_FLAG_TRANSFORM | MIXREC_FLAG_OPTIMIZER, &storage);
		MixrecModel bound;
		MixrecModel copy;
		size_t		len;
		uint8_t    *blob;
		MixrecError err;

		model.transform = section;
		model.transform_len = t_len;
		len = ModelEncodedSize(&model);
		blob = aligned_alloc(8, (len + 7) & ~(size_t) 7);
		ModelEncode(&model, blob);
		TapOk(ModelBindInPlace(blob, len, &bound, 1, &err) == MIXREC_OK &&
			  bound.transform == blob + len - 4 - t_len && bound.transform_len == t_len &&
			  bound.params[MIXREC_OPEN][3] == model.params[MIXREC_OPEN][3] &&
			  ((uintptr_t) bound.params[MIXREC_OPEN]) % sizeof(float) == 0,
			  "a version 2 model binds in place, verified, arrays aligned and its transform inside the blob");
		bound.step = 99;
		bound.params[MIXREC_OPEN][0] = 0.125f;
		ModelSeal(blob, len, &bound);
		TapOk(ModelDecodeHeader(blob, len, &copy, &err) == MIXREC_OK && copy.step == 99 &&
			  copy.adam.lr == model.adam.lr && copy.transform_len == t_len,
			  "sealing a version 2 model in place writes the step where it belongs");
		TapOk(ModelBindInPlace(blob, len, &bound, 0, &err) == MIXREC_OK &&
			  bound.transform == blob + len - 4 - t_len && bound.params[MIXREC_OPEN][0] == 0.125f,
			  "a trusted version 2 blob binds in place too");
		free(blob);
		free(storage);
	}

	/* ModelCheck: the flag and the transform go together */
	{
		float	   *storage;
		MixrecModel model = MakeModel(MIXREC_FLAG_TRANSFORM, &storage);
		uint32_t	other_len;
		uint8_t    *other = ModelTransformSection(6, &other_len);
		MixrecError err;

		TapOk(ModelCheck(&model, &err) == MIXREC_ERR_ARGUMENT && strstr(err.message, "carries no transform") != NULL,
			  "a model with the transform flag but no transform is invalid: %s", err.message);
		model.transform = other;
		model.transform_len = other_len;
		TapOk(ModelCheck(&model, &err) == MIXREC_ERR_CORRUPT && strstr(err.message, "but the model has 5") != NULL,
			  "a transform for another number of inputs is invalid: %s", err.message);
		model.flags = 0;
		TapOk(ModelCheck(&model, &err) == MIXREC_ERR_ARGUMENT && strstr(err.message, "without the input transform flag") != NULL,
			  "a transform without the flag is invalid: %s", err.message);
		free(other);
		free(storage);
	}
	free(section);
}

/*
 * Initialisation: determinism, bounds, independent and shared
 */
static void
TestInit(void)
{
	MixrecModel a,
				b;
	float	   *sa,
			   *sb;
	size_t		params;
	int			bounded = 1;
	int			differ = 0;

	memset(&a, 0, sizeof(a));
	a.shape.n_hidden = 1;
	a.shape.dims[0] = 16;
	a.shape.dims[1] = 64;
	a.shape.dims[2] = 1;
	b = a;
	params = MlpParamCount(&a.shape);
	sa = malloc(ModelFloatCount(&a) * sizeof(float));
	sb = malloc(ModelFloatCount(&b) * sizeof(float));
	ModelBindStorage(&a, sa);
	ModelBindStorage(&b, sb);

	ModelInitParams(&a, 42, MODEL_INIT_INDEPENDENT);
	ModelInitParams(&b, 42, MODEL_INIT_INDEPENDENT);
	TapOk(memcmp(sa, sb, 2 * params * sizeof(float)) == 0, "the same seed gives the same model");
	TapDiag("seed 42, first weight %.9g", (double) a.params[MIXREC_OPEN][0]);

	for (int l = 0; l < MlpLayerCount(&a.shape); l++)
	{
		float		bound = (float) (1.0 / sqrt((double) a.shape.dims[l]));
		size_t		start = MlpWeightOffset(&a.shape, l);
		size_t		end = start + (size_t) a.shape.dims[l + 1] * (a.shape.dims[l] + 1);
		float		widest = 0;

		for (size_t i = start; i < end; i++)
		{
			bounded &= fabsf(a.params[MIXREC_OPEN][i]) <= bound && fabsf(a.params[MIXREC_COMMERCIAL][i]) <= bound;
			widest = fmaxf(widest, fabsf(a.params[MIXREC_OPEN][i]));
		}
		/* uniform draws should come close to the bound */
		bounded &= widest > 0.9f * bound;
	}
	TapOk(bounded, "weights and biases are uniform within +-1/sqrt(fan_in)");

	for (size_t i = 0; i < params; i++)
		differ |= a.params[MIXREC_OPEN][i] != a.params[MIXREC_COMMERCIAL][i];
	TapOk(differ, "independent initialisation gives two different models");

	ModelInitParams(&b, 43, MODEL_INIT_INDEPENDENT);
	TapOk(memcmp(a.params[MIXREC_OPEN], b.params[MIXREC_OPEN], params * sizeof(float)) != 0, "another seed gives another model");

	ModelInitParams(&b, 42, MODEL_INIT_SHARED);
	TapOk(memcmp(b.params[MIXREC_OPEN], b.params[MIXREC_COMMERCIAL], params * sizeof(float)) == 0 &&
		  memcmp(a.params[MIXREC_OPEN], b.params[MIXREC_OPEN], params * sizeof(float)) == 0,
		  "shared initialisation gives both models the open model's weights");
	free(sa);
	free(sb);
}

/*
 * Shape limits
 */
static void
TestShapeLimits(void)
{
	MlpShape	shape;
	MixrecError err;

	memset(&shape, 0, sizeof(shape));
	shape.n_hidden = 1;
	shape.dims[0] = 8;
	shape.dims[1] = 0;
	shape.dims[2] = 1;
	TapOk(MlpShapeCheck(&shape, &err) == MIXREC_ERR_LIMIT, "a zero hidden size is rejected: %s",
		  err.message);
	shape.dims[1] = MIXREC_MAX_UNITS + 1;
	TapOk(MlpShapeCheck(&shape, &err) == MIXREC_ERR_LIMIT, "a too wide layer is rejected: %s",
		  err.message);
	shape.dims[0] = 4096;
	shape.dims[1] = 8192;
	TapOk(MlpShapeCheck(&shape, &err) == MIXREC_ERR_LIMIT &&
		  strstr(err.message, "parameters") != NULL,
		  "a model over the parameter limit is rejected: %s", err.message);
	shape.n_hidden = MIXREC_MAX_HIDDEN_LAYERS + 1;
	TapOk(MlpShapeCheck(&shape, &err) == MIXREC_ERR_LIMIT, "too many layers are rejected: %s",
		  err.message);
}

/*
 * The loss on its own: stable for large logits, zero terms
 */
static void
TestLossEdges(void)
{
	float		y[2] = {1.0f, 0.0f};
	float		big[2] = {1000.0f, -1000.0f};
	float		wrong[2] = {-1000.0f, 1000.0f};
	unsigned char none[2] = {0, 0};
	float		d_open[2],
				d_commercial[2];
	LossBatch	batch = {2, 1, y, NULL, NULL, none};
	LossValue	value;

	value = LossBlended(0.5, &batch, big, wrong, d_open, d_commercial);
	TapOk(value.open == 0.0 && isfinite(value.total),
		  "BCE of confident right logits is 0, not NaN (%g)", value.open);
	TapOk(value.commercial == 0.0 && d_commercial[0] == 0.0f && d_commercial[1] == 0.0f,
		  "a term with no rows is 0 and has no gradient");
	batch.c = NULL;
	value = LossBlended(0.5, &batch, big, wrong, d_open, d_commercial);
	TapOk(fabs(value.commercial - 1000.0) < 1e-9,
		  "BCE of confident wrong logits is the logit (%g), not inf", value.commercial);
}

/*
 * The input transform: a transform of every kind, round trips, encoding
 * with known answers, standardisation, and every rejection
 */

/* The columns of the test transform (see TransformTestSpecs) */
enum
{
	TT_PRICE, TT_QTY, TT_ACTIVE, TT_COLOR, TT_STORE, TT_TAGS, TT_EMB, TT_TS, TT_DAY, TT_FLAG,
	TT_COLUMNS
};

static const TransformText tt_colors[] = {{"red", 3, 0}, {"green", 5, 0}, {"blue", 4, 0}};
static const uint64_t tt_color_counts[] = {5, 3, 1};
static const TransformText tt_stores[] = {{"17", 2, 0}, {"4", 1, 0}, {"256", 3, 0}};
static const uint64_t tt_store_counts[] = {9, 9, 2};
static char tt_tag_text[20][16];
static TransformText tt_tags[20];
static uint64_t tt_tag_counts[20];
static const double tt_emb_mean[] = {0.1, 0.2, 0.3};
static const double tt_emb_std[] = {1.0, 2.0, 0.0};

/* Where each column of the test transform starts, and its width */
static const uint32_t tt_position[TT_COLUMNS] = {0, 2, 3, 5, 10, 15, 37, 41, 47, 50};
static const uint32_t tt_width[TT_COLUMNS] = {2, 1, 2, 5, 5, 22, 4, 6, 3, 1};
#define TT_INPUTS 51

/*
 * Describe a column of every kind: numeric with and without missing and
 * log, boolean with and without missing, categorical from text and from
 * integers, multi-hot (20 entries, one of them empty: the hash index),
 * dense with missing, time with and without the time of day
 */
static void
TransformTestSpecs(TransformColumnSpec *specs)
{
	for (int i = 0; i < 20; i++)
	{
		if (i == 0)
			tt_tag_text[0][0] = '\0';
		else
			snprintf(tt_tag_text[i], sizeof(tt_tag_text[i]), "tag%d", i);
		tt_tags[i].data = tt_tag_text[i];
		tt_tags[i].len = strlen(tt_tag_text[i]);
		tt_tags[i].isnull = 0;
		tt_tag_counts[i] = 100 - i;
	}
	memset(specs, 0, sizeof(TransformColumnSpec) * TT_COLUMNS);
	specs[TT_PRICE] = (TransformColumnSpec) {.name = "price", .type_name = "numeric",
		.kind = TRANSFORM_NUMERIC, .flags = TRANSFORM_MISSING | TRANSFORM_LOG, .length = 1,
	.rows = 10, .nulls = 2, .mean = 1.5, .std = 0.5};
	specs[TT_QTY] = (TransformColumnSpec) {.name = "qty", .type_name = "integer",
		.kind = TRANSFORM_NUMERIC, .length = 1, .rows = 10, .mean = 3.0, .std = 0.0};
	specs[TT_ACTIVE] = (TransformColumnSpec) {.name = "active", .type_name = "boolean",
		.kind = TRANSFORM_BOOLEAN, .flags = TRANSFORM_MISSING, .length = 1, .rows = 10,
	.nulls = 1, .mean = 0.5, .std = 0.5};
	specs[TT_COLOR] = (TransformColumnSpec) {.name = "color", .type_name = "text",
		.kind = TRANSFORM_CATEGORICAL, .length = 1, .rows = 9, .vocab_size = 3,
	.vocab = tt_colors, .vocab_count = tt_color_counts};
	specs[TT_STORE] = (TransformColumnSpec) {.name = "store", .type_name = "integer",
		.kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_FROM_INTEGER, .length = 1, .rows = 20,
	.vocab_size = 3, .vocab = tt_stores, .vocab_count = tt_store_counts};
	specs[TT_TAGS] = (TransformColumnSpec) {.name = "tags", .type_name = "text[]",
		.kind = TRANSFORM_MULTI_HOT, .length = 1, .rows = 30, .nulls = 3, .vocab_size = 20,
	.vocab = tt_tags, .vocab_count = tt_tag_counts};
	specs[TT_EMB] = (TransformColumnSpec) {.name = "emb", .type_name = "real[]",
		.kind = TRANSFORM_DENSE, .flags = TRANSFORM_MISSING, .length = 3, .rows = 8, .nulls = 1,
	.element_mean = tt_emb_mean, .element_std = tt_emb_std};
	specs[TT_TS] = (TransformColumnSpec) {.name = "ts", .type_name = "timestamp with time zone",
		.kind = TRANSFORM_TIME, .flags = TRANSFORM_DAY_TIME | TRANSFORM_MISSING, .length = 1,
	.rows = 12, .nulls = 4, .mean = 1.7e9, .std = 1e7};
	specs[TT_DAY] = (TransformColumnSpec) {.name = "day", .type_name = "date",
		.kind = TRANSFORM_TIME, .length = 1, .rows = 12, .mean = 1.6e9, .std = 2e7};
	specs[TT_FLAG] = (TransformColumnSpec) {.name = "flag", .type_name = "boolean",
	.kind = TRANSFORM_BOOLEAN, .length = 1, .rows = 3, .mean = 1.0};
}

/*
 * Build, check and load a transform; bails out if any step fails
 */
static const Transform *
TransformMake(const TransformColumnSpec *specs, uint32_t n, uint8_t **section, size_t *len,
			  void **memory)
{
	MixrecError err;
	uint32_t	dim;
	size_t		memory_size;
	const Transform *transform;

	*len = TransformSectionSize(specs, n);
	*section = malloc(*len + 1);
	if (*len == 0 || TransformBuild(specs, n, *section, *len, &dim, &err) != MIXREC_OK ||
		TransformCheck(*section, *len, dim, &memory_size, &err) != MIXREC_OK)
	{
		printf("Bail out! a test transform does not build: %s\n", *len ? err.message : "no size");
		exit(1);
	}
	*memory = malloc(memory_size);
	transform = TransformLoad(*section, *len, *memory, memory_size);
	if (transform == NULL)
	{
		printf("Bail out! a test transform does not load\n");
		exit(1);
	}
	return transform;
}

static TransformValue
NumberValue(double number)
{
	TransformValue value;

	memset(&value, 0, sizeof(value));
	value.number = number;
	return value;
}

static TransformValue
NullValue(void)
{
	TransformValue value;

	memset(&value, 0, sizeof(value));
	value.isnull = 1;
	return value;
}

static TransformValue
TextValue(const char *text)
{
	TransformValue value;

	memset(&value, 0, sizeof(value));
	value.text.data = text;
	value.text.len = strlen(text);
	return value;
}

/*
 * Encode one column into a vector of sentinels: the column's inputs must
 * be want (within float rounding), and every other input untouched
 */
static void
EncodeMatches(const Transform *transform, uint32_t column, const TransformValue *value,
			  const float *want, const char *what)
{
	const TransformColumn *c = &transform->columns[column];
	float	   *x = malloc(sizeof(float) * transform->input_dim);
	MixrecError err;
	MixrecStatus status;
	int			ok;
	uint32_t	bad = 0;

	for (uint32_t j = 0; j < transform->input_dim; j++)
		x[j] = 99.0f;
	status = TransformEncodeColumn(transform, column, value, x, &err);
	ok = status == MIXREC_OK;
	for (uint32_t j = 0; j < transform->input_dim && ok; j++)
	{
		int			inside = j >= c->position && j < c->position + c->width;
		double		expect = inside ? want[j - c->position] : 99.0;

		if (!(fabs(x[j] - expect) <= 1e-6 + 1e-6 * fabs(expect)))
		{
			ok = 0;
			bad = j;
		}
	}
	if (!TapOk(ok, "%s", what))
		TapDiag(status != MIXREC_OK ? "error: %s" : "input %u is %.9g", status != MIXREC_OK ? err.message : "",
				(unsigned) bad, (double) x[bad]);
	free(x);
}

/*
 * Expect one column's encoding to fail with a status and a message part
 */
static void
EncodeFails(const Transform *transform, uint32_t column, const TransformValue *value,
			MixrecStatus want, const char *part, const char *what)
{
	float	   *x = malloc(sizeof(float) * (transform->input_dim + 1));
	MixrecError err;
	MixrecStatus status;

	memset(&err, 0, sizeof(err));
	status = TransformEncodeColumn(transform, column, value, x, &err);
	TapOk(status == want && strstr(err.message, part) != NULL, "%s: %s", what, err.message);
	free(x);
}

/*
 * Round trip: every field of every column and every vocabulary entry
 */
static void
TestTransformRoundTrip(void)
{
	TransformColumnSpec specs[TT_COLUMNS];
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	const Transform *t;
	int			fields = 1;
	int			vocab = 1;
	int			lookups = 1;

	TransformTestSpecs(specs);
	t = TransformMake(specs, TT_COLUMNS, &section, &len, &memory);
	TapOk(t->n_columns == TT_COLUMNS && t->input_dim == TT_INPUTS,
		  "a transform of every kind loads with %u columns and %u inputs",
		  (unsigned) t->n_columns, (unsigned) t->input_dim);

	for (uint32_t i = 0; i < TT_COLUMNS; i++)
	{
		const TransformColumnSpec *s = &specs[i];
		const TransformColumn *c = &t->columns[i];
		int			same = strcmp(c->name, s->name) == 0 && strcmp(c->type_name, s->type_name) == 0 &&
			c->kind == s->kind && c->flags == s->flags && c->position == tt_position[i] &&
			c->width == tt_width[i] && c->length == s->length && c->rows == s->rows &&
			c->nulls == s->nulls && c->mean == s->mean && c->std == s->std &&
			c->vocab_size == s->vocab_size &&
			TransformWidth(s->kind, s->flags, s->length, s->vocab_size) == tt_width[i] &&
			TransformFindColumn(t, s->name) == (int) i;

		if (!same)
			TapDiag("column %u (%s) does not round-trip", (unsigned) i, s->name);
		fields &= same;
		for (uint32_t e = 0; s->kind == TRANSFORM_DENSE && e < s->length; e++)
		{
			double		mean,
						std;

			TransformElementStats(t, i, e, &mean, &std);
			fields &= mean == s->element_mean[e] && std == s->element_std[e];
		}
		for (uint32_t v = 0; v < s->vocab_size; v++)
		{
			TransformText entry;
			uint64_t	count;

			TransformVocabEntry(t, i, v, &entry, &count);
			vocab &= !entry.isnull && entry.len == s->vocab[v].len &&
				(entry.len == 0 || memcmp(entry.data, s->vocab[v].data, entry.len) == 0) &&
				count == s->vocab_count[v];
			lookups &= TransformVocabLookup(t, i, s->vocab[v].data, s->vocab[v].len) == (int32_t) v;
		}
	}
	TapOk(fields, "every column's name, type, kind, flags, position, width, length, statistics and element statistics round-trip");
	TapOk(vocab, "every vocabulary entry and count round-trips, in vocabulary order");
	TapOk(lookups, "every vocabulary entry is found at its index, by bisection (3 entries) and by hash (20)");
	TapOk(TransformVocabLookup(t, TT_COLOR, "purple", 6) == -1 &&
		  TransformVocabLookup(t, TT_COLOR, "re", 2) == -1 &&
		  TransformVocabLookup(t, TT_COLOR, "", 0) == -1 &&
		  TransformVocabLookup(t, TT_TAGS, "tag", 3) == -1 &&
		  TransformVocabLookup(t, TT_TAGS, "tag199", 6) == -1 &&
		  TransformVocabLookup(t, TT_TAGS, "", 0) == 0 &&
		  TransformVocabLookup(t, TT_PRICE, "red", 3) == -1 &&
		  TransformVocabLookup(t, TT_COLUMNS, "red", 3) == -1,
		  "texts outside a vocabulary, and columns without one, are not found");
	TapOk(TransformFindColumn(t, "nope") == -1 && TransformFindColumn(t, "pric") == -1 &&
		  TransformFindColumn(t, "price ") == -1, "a name that no column has is not found");

	/* The section and the memory are exactly what was asked for */
	{
		uint32_t	dim;
		size_t		memory_size;
		MixrecError err;
		uint8_t    *again = malloc(len);
		void	   *small;

		TapOk(TransformBuild(specs, TT_COLUMNS, again, len - 1, &dim, &err) == MIXREC_ERR_ARGUMENT,
			  "a buffer one byte short is refused: %s", err.message);
		TapOk(TransformBuild(specs, TT_COLUMNS, again, len, &dim, &err) == MIXREC_OK &&
			  memcmp(again, section, len) == 0, "building twice gives the same bytes");
		TransformCheck(section, len, TT_INPUTS, &memory_size, &err);
		small = malloc(memory_size);
		TapOk(TransformLoad(section, len, small, memory_size - 1) == NULL,
			  "loading into memory one byte short of what TransformCheck says fails cleanly");
		TapOk(TransformLoad(section, len, small, memory_size) != NULL,
			  "loading into exactly what TransformCheck says works");
		free(small);
		free(again);
	}
	free(memory);
	free(section);
}

/*
 * Encoding: hand-computed inputs of every kind, NULLs, unseen values,
 * lists, times with known weekdays; the standardisation vector
 */
static void
TestTransformEncode(void)
{
	TransformColumnSpec specs[TT_COLUMNS];
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	const Transform *t;
	TransformValue value;

	TransformTestSpecs(specs);
	t = TransformMake(specs, TT_COLUMNS, &section, &len, &memory);

	value = NumberValue(2.0);
	EncodeMatches(t, TT_PRICE, &value, (const float[]) {1.0986122886681098f, 0}, "numeric with log: 2 -> log1p(2), missing 0");
	value = NumberValue(-3.0);
	EncodeMatches(t, TT_PRICE, &value, (const float[]) {-1.3862943611198906f, 0}, "numeric with log: -3 -> -log1p(3)");
	value = NumberValue(0.0);
	EncodeMatches(t, TT_PRICE, &value, (const float[]) {0, 0}, "numeric with log: 0 -> 0");
	value = NumberValue(1e300);
	EncodeMatches(t, TT_PRICE, &value, (const float[]) {690.77552789821368f, 0}, "numeric with log: 1e300 fits after the log");
	value = NullValue();
	EncodeMatches(t, TT_PRICE, &value, (const float[]) {1.5f, 1}, "numeric NULL -> the mean, missing 1");
	value = NumberValue(7.0);
	EncodeMatches(t, TT_QTY, &value, (const float[]) {7}, "numeric without log or missing: 7 -> 7");
	value = NullValue();
	EncodeMatches(t, TT_QTY, &value, (const float[]) {3}, "numeric NULL without missing -> the mean only");

	value = NumberValue(1.0);
	EncodeMatches(t, TT_ACTIVE, &value, (const float[]) {1, 0}, "boolean true -> 1, missing 0");
	value = NumberValue(0.0);
	EncodeMatches(t, TT_ACTIVE, &value, (const float[]) {0, 0}, "boolean false -> 0, missing 0");
	value = NullValue();
	EncodeMatches(t, TT_ACTIVE, &value, (const float[]) {0, 1}, "boolean NULL -> 0, missing 1");
	value = NullValue();
	EncodeMatches(t, TT_FLAG, &value, (const float[]) {0}, "boolean NULL without missing -> 0");

	value = TextValue("green");
	EncodeMatches(t, TT_COLOR, &value, (const float[]) {0, 1, 0, 0, 0}, "categorical: the entry's input");
	value = TextValue("purple");
	EncodeMatches(t, TT_COLOR, &value, (const float[]) {0, 0, 0, 1, 0}, "categorical: an unseen value -> the out-of-vocabulary bucket");
	value = NullValue();
	EncodeMatches(t, TT_COLOR, &value, (const float[]) {0, 0, 0, 0, 1}, "categorical NULL -> the NULL bucket");
	value = TextValue("red");
	value.text.isnull = 1;
	EncodeMatches(t, TT_COLOR, &value, (const float[]) {0, 0, 0, 0, 1}, "categorical with a NULL text -> the NULL bucket");
	value = TextValue("256");
	EncodeMatches(t, TT_STORE, &value, (const float[]) {0, 0, 1, 0, 0}, "categorical from integers: \"256\" -> its entry");

	{
		TransformText items[] = {{"tag3", 4, 0}, {NULL, 0, 1}, {"nope", 4, 0}, {"tag3", 4, 0}, {"tag19", 5, 0}};
		float		want[22] = {0};

		want[3] = 1;
		want[19] = 1;
		want[20] = 1;
		want[21] = 1;
		value = NumberValue(0);
		value.items = items;
		value.n_items = 5;
		EncodeMatches(t, TT_TAGS, &value, want, "multi-hot: entries set 1 (a repeated one too), an unseen one the out-of-vocabulary bucket, a NULL element the NULL bucket");

		memset(want, 0, sizeof(want));
		value.n_items = 0;
		EncodeMatches(t, TT_TAGS, &value, want, "multi-hot: an empty list sets nothing");
		want[21] = 1;
		value = NullValue();
		EncodeMatches(t, TT_TAGS, &value, want, "multi-hot NULL -> the NULL bucket");
		memset(want, 0, sizeof(want));
		want[0] = 1;
		items[0].data = "";
		items[0].len = 0;
		value = NumberValue(0);
		value.items = items;
		value.n_items = 1;
		EncodeMatches(t, TT_TAGS, &value, want, "multi-hot: an empty text is the empty entry");
	}

	{
		double		elements[] = {1.0, 999.0, 3.0};
		unsigned char nulls[] = {0, 1, 0};

		value = NumberValue(0);
		value.elements = elements;
		value.element_null = nulls;
		value.n_elements = 3;
		EncodeMatches(t, TT_EMB, &value, (const float[]) {1, 0.2f, 3, 0}, "dense: elements as they are, a NULL element its mean, missing 0");
		value.element_null = NULL;
		EncodeMatches(t, TT_EMB, &value, (const float[]) {1, 999, 3, 0}, "dense without NULL flags");
		value = NullValue();
		EncodeMatches(t, TT_EMB, &value, (const float[]) {0.1f, 0.2f, 0.3f, 1}, "dense NULL -> each element's mean, missing 1");
		value = NumberValue(0);
		value.elements = elements;
		value.n_elements = 2;
		EncodeFails(t, TT_EMB, &value, MIXREC_ERR_DIMENSION, "\"emb\" has 2 elements, expected 3",
					"a dense value of the wrong length is refused");
		value.n_elements = 3;
		elements[1] = NAN;
		EncodeFails(t, TT_EMB, &value, MIXREC_ERR_NONFINITE, "element 2 of column \"emb\" is NaN",
					"a NaN dense element is refused");
		elements[1] = 1e39;
		EncodeFails(t, TT_EMB, &value, MIXREC_ERR_NONFINITE, "out of range for real",
					"a dense element beyond float is refused");
	}

	/* Times with known answers */
	value = NumberValue(259200.0);
	EncodeMatches(t, TT_TS, &value, (const float[]) {259200.0f, 0, 1, 0, 1, 0},
				  "time: 1970-01-04 00:00 UTC is a Sunday at midnight");
	value = NumberValue(1709208000.0);
	EncodeMatches(t, TT_TS, &value, (const float[]) {1709208000.0f, 0, -1, -0.433883739117558f, -0.9009688679024191f, 0},
				  "time: 2024-02-29 12:00 UTC is a Thursday at noon, time-of-day pair (0, -1)");
	value = NumberValue(-1.0);
	EncodeMatches(t, TT_TS, &value, (const float[]) {-1.0f, -7.2722052166430399e-05f, 0.99999999735576f, 0.4338837391175581f, -0.9009688679024191f, 0},
				  "time: 1969-12-31 23:59:59 UTC is a Wednesday, one second before midnight");
	value = NullValue();
	EncodeMatches(t, TT_TS, &value, (const float[]) {1.7e9f, 0, 0, 0, 0, 1},
				  "time NULL -> the mean, zero pairs, missing 1");
	value = NumberValue(1709208000.0);
	EncodeMatches(t, TT_DAY, &value, (const float[]) {1709208000.0f, -0.433883739117558f, -0.9009688679024191f},
				  "time without the time of day: seconds and the weekday pair only");
	value = NullValue();
	EncodeMatches(t, TT_DAY, &value, (const float[]) {1.6e9f, 0, 0}, "time NULL without missing");

	/* Refusals */
	value = NumberValue(NAN);
	EncodeFails(t, TT_PRICE, &value, MIXREC_ERR_NONFINITE, "column \"price\" is NaN", "a NaN number is refused");
	value = NumberValue(-INFINITY);
	EncodeFails(t, TT_QTY, &value, MIXREC_ERR_NONFINITE, "column \"qty\" is infinite", "an infinite number is refused");
	value = NumberValue(1e300);
	EncodeFails(t, TT_QTY, &value, MIXREC_ERR_NONFINITE, "out of range for real", "a number beyond float is refused");
	value = NumberValue(INFINITY);
	EncodeFails(t, TT_TS, &value, MIXREC_ERR_NONFINITE, "column \"ts\" is infinite", "an infinite time is refused");
	value = NumberValue(NAN);
	EncodeFails(t, TT_ACTIVE, &value, MIXREC_ERR_NONFINITE, "\"active\"", "a NaN boolean is refused");
	value = NumberValue(1.0);
	EncodeFails(t, TT_COLUMNS, &value, MIXREC_ERR_ARGUMENT, "no column 11", "a column that does not exist is refused");

	/* Standardisation: statistics for values, (0, 1) for indicators */
	{
		float		mean[TT_INPUTS],
					std[TT_INPUTS],
					want_mean[TT_INPUTS],
					want_std[TT_INPUTS];
		int			same = 1;

		for (int j = 0; j < TT_INPUTS; j++)
		{
			want_mean[j] = 0.0f;
			want_std[j] = 1.0f;
		}
		want_mean[0] = 1.5f;
		want_std[0] = 0.5f;
		want_mean[2] = 3.0f;	/* qty: std 0 leaves it unscaled */
		want_mean[37] = 0.1f;
		want_mean[38] = 0.2f;
		want_std[38] = 2.0f;
		want_mean[39] = 0.3f;	/* its std 0 gives 1 */
		want_mean[41] = 1.7e9f;
		want_std[41] = 1e7f;
		want_mean[47] = 1.6e9f;
		want_std[47] = 2e7f;
		TransformStandardization(t, mean, std);
		for (int j = 0; j < TT_INPUTS; j++)
			if (mean[j] != want_mean[j] || std[j] != want_std[j])
			{
				TapDiag("input %d: mean %g std %g, expected %g and %g", j, (double) mean[j],
						(double) std[j], (double) want_mean[j], (double) want_std[j]);
				same = 0;
			}
		TapOk(same, "the standardisation: fitted statistics for numbers, dense elements and times, (0, 1) for the rest, 1 for a zero std");
	}
	free(memory);
	free(section);
}

/*
 * A vocabulary at its limit: 65534 entries, 65536 inputs, every one found
 */
static void
TestTransformLargeVocabulary(void)
{
	uint32_t	n = TRANSFORM_MAX_VOCABULARY;
	char	   *text = malloc(16 * (size_t) (n + 1));
	TransformText *vocab = malloc(sizeof(TransformText) * (n + 1));
	uint64_t   *counts = malloc(sizeof(uint64_t) * (n + 1));
	TransformColumnSpec spec = {.name = "words", .type_name = "text[]",
		.kind = TRANSFORM_MULTI_HOT, .length = 1, .rows = 1, .vocab_size = n,
	.vocab = vocab, .vocab_count = counts};
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	const Transform *t;
	int			found = 1;
	int			absent = 1;
	MixrecError err;
	uint32_t	dim;

	for (uint32_t i = 0; i <= n; i++)
	{
		snprintf(text + 16 * (size_t) i, 16, "w%u", (unsigned) (i * 7919u % 100003u));
		vocab[i].data = text + 16 * (size_t) i;
		vocab[i].len = strlen(vocab[i].data);
		vocab[i].isnull = 0;
		counts[i] = n - i;
	}
	t = TransformMake(&spec, 1, &section, &len, &memory);
	for (uint32_t i = 0; i < n; i++)
		found &= TransformVocabLookup(t, 0, vocab[i].data, vocab[i].len) == (int32_t) i;
	for (uint32_t i = 0; i < 2000; i++)
	{
		char		other[16];

		snprintf(other, sizeof(other), "x%u", (unsigned) i);
		absent &= TransformVocabLookup(t, 0, other, strlen(other)) == -1;
	}
	TapOk(t->input_dim == 65536 && found && absent,
		  "a vocabulary of %u entries fills 65536 inputs, and every entry (and no other text) is found", (unsigned) n);
	free(memory);
	free(section);

	spec.vocab_size = n + 1;
	TapOk(TransformSectionSize(&spec, 1) == 0 &&
		  TransformBuild(&spec, 1, NULL, 0, &dim, &err) == MIXREC_ERR_LIMIT &&
		  strstr(err.message, "65535 vocabulary entries") != NULL,
		  "a vocabulary of one entry more is refused: %s", err.message);

	/* Around the size where the hash index starts: every entry, no other */
	for (uint32_t size = 1; size <= 40; size++)
	{
		spec.vocab_size = size;
		t = TransformMake(&spec, 1, &section, &len, &memory);
		for (uint32_t i = 0; i < size; i++)
			found &= TransformVocabLookup(t, 0, vocab[i].data, vocab[i].len) == (int32_t) i;
		for (uint32_t i = size; i < size + 40; i++)
			absent &= TransformVocabLookup(t, 0, vocab[i].data, vocab[i].len) == -1;
		free(memory);
		free(section);
	}
	TapOk(found && absent, "vocabularies of 1 to 40 entries (bisection, then hashing) find every entry and no other text");
	free(counts);
	free(vocab);
	free(text);
}

/*
 * Expect TransformBuild to refuse specs
 */
static void
BuildFails(const TransformColumnSpec *specs, uint32_t n, MixrecStatus want, const char *part,
		   const char *what)
{
	uint8_t    *out = malloc(1 << 20);
	uint32_t	dim;
	MixrecError err;
	MixrecStatus status;

	memset(&err, 0, sizeof(err));
	status = TransformBuild(specs, n, out, 1 << 20, &dim, &err);
	TapOk(status == want && strstr(err.message, part) != NULL, "%s: %s", what, err.message);
	free(out);
}

/*
 * TransformBuild refuses bad specs, naming the column
 */
static void
TestTransformBuildErrors(void)
{
	TransformColumnSpec specs[TT_COLUMNS];
	TransformColumnSpec s[TT_COLUMNS];
	TransformText dup[] = {{"red", 3, 0}, {"green", 5, 0}, {"red", 3, 0}};
	TransformText with_null[] = {{"red", 3, 0}, {NULL, 0, 1}, {"blue", 4, 0}};
	char		long_entry[TRANSFORM_MAX_VALUE + 1];
	TransformText too_long[] = {{"red", 3, 0}, {long_entry, TRANSFORM_MAX_VALUE + 1, 0}, {"blue", 4, 0}};
	double		bad_std[] = {1.0, -1.0, 1.0};
	static const char name64[] = "a123456789012345678901234567890123456789012345678901234567890123";

	memset(long_entry, 'x', sizeof(long_entry));
	TransformTestSpecs(specs);

#define RESET() memcpy(s, specs, sizeof(s))
	RESET();
	s[TT_QTY].name = "price";
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "columns 1 and 2 have the same name: column \"price\"",
			   "two columns of one name are refused");
	RESET();
	s[TT_COLOR].vocab = dup;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "column \"color\" has equal vocabulary entries 1 and 3",
			   "equal vocabulary entries are refused");
	RESET();
	s[TT_COLOR].vocab = with_null;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "vocabulary entry 2 of column \"color\" is NULL",
			   "a NULL vocabulary entry is refused");
	RESET();
	s[TT_COLOR].vocab = too_long;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_LIMIT, "1025 bytes", "a vocabulary entry over the limit is refused");
	RESET();
	s[TT_ACTIVE].flags = TRANSFORM_LOG;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "column \"active\" has flags 0x2, but a boolean column takes only 0x1",
			   "a flag the kind does not take is refused");
	RESET();
	s[TT_TAGS].flags = TRANSFORM_FROM_INTEGER;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "multi_hot", "from-integer is for categorical columns only");
	RESET();
	s[TT_PRICE].flags = 0x100 | TRANSFORM_MISSING;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "flags 0x101", "an unknown flag bit is refused");
	RESET();
	s[TT_PRICE].kind = (TransformKind) 9;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "unknown kind 9", "an unknown kind is refused");
	RESET();
	s[TT_EMB].length = 0;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "0 elements", "a dense column of no elements is refused");
	RESET();
	s[TT_EMB].length = TRANSFORM_MAX_LENGTH + 1;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_LIMIT, "65537 elements", "a dense column over the length limit is refused");
	RESET();
	s[TT_QTY].length = 2;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "column \"qty\" has length 2", "a numeric column of length 2 is refused");
	RESET();
	s[TT_QTY].vocab_size = 3;
	s[TT_QTY].vocab = tt_colors;
	s[TT_QTY].vocab_count = tt_color_counts;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "but a numeric column has none", "a vocabulary on a numeric column is refused");
	RESET();
	s[TT_QTY].name = "";
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "column 2 has an empty name", "an empty name is refused");
	RESET();
	s[TT_QTY].name = name64;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_LIMIT, "a name of 64 bytes", "a name over 63 bytes is refused");
	RESET();
	s[TT_QTY].type_name = name64;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_LIMIT, "a type name of 64 bytes", "a type name over 63 bytes is refused");
	RESET();
	s[TT_QTY].type_name = NULL;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "has no type name", "a missing type name is refused");
	RESET();
	s[TT_PRICE].nulls = 11;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "counts 11 NULLs among 10 rows", "more NULLs than rows are refused");
	RESET();
	s[TT_PRICE].mean = NAN;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "mean nan", "a NaN mean is refused");
	RESET();
	s[TT_PRICE].mean = 1e39;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "mean 1e+39", "a mean beyond float is refused");
	RESET();
	s[TT_PRICE].std = -0.5;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "standard deviation -0.5", "a negative std is refused");
	RESET();
	s[TT_TS].std = INFINITY;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "column \"ts\" has standard deviation inf", "an infinite std is refused");
	RESET();
	s[TT_EMB].element_std = bad_std;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "standard deviation -1 for element 2", "a negative element std is refused");
	RESET();
	s[TT_EMB].element_mean = NULL;
	BuildFails(s, TT_COLUMNS, MIXREC_ERR_ARGUMENT, "no element statistics", "a dense column without element statistics is refused");
	BuildFails(specs, 0, MIXREC_ERR_ARGUMENT, "at least one column", "a transform of no columns is refused");
	{
		TransformColumnSpec *many = calloc(TRANSFORM_MAX_COLUMNS + 1, sizeof(TransformColumnSpec));
		char	   *names = calloc(TRANSFORM_MAX_COLUMNS + 1, 16);
		uint8_t    *out;
		size_t		size;
		uint32_t	dim = 0;
		MixrecError err;

		for (int i = 0; i <= TRANSFORM_MAX_COLUMNS; i++)
		{
			snprintf(names + 16 * i, 16, "c%d", i);
			many[i] = specs[TT_QTY];
			many[i].name = names + 16 * i;
		}
		size = TransformSectionSize(many, TRANSFORM_MAX_COLUMNS);
		out = malloc(size);
		TapOk(size > 0 && TransformBuild(many, TRANSFORM_MAX_COLUMNS, out, size, &dim, &err) == MIXREC_OK &&
			  dim == TRANSFORM_MAX_COLUMNS, "a transform of %d columns builds", TRANSFORM_MAX_COLUMNS);
		free(out);
		TapOk(TransformSectionSize(many, TRANSFORM_MAX_COLUMNS + 1) == 0, "one column more has no size");
		BuildFails(many, TRANSFORM_MAX_COLUMNS + 1, MIXREC_ERR_LIMIT, "at most 1600 columns, got 1601",
				   "one column more is refused");
		many[5].name = "c3";
		BuildFails(many, TRANSFORM_MAX_COLUMNS, MIXREC_ERR_ARGUMENT, "columns 4 and 6 have the same name",
				   "a repeated name among 1600 columns is found");
		free(names);
		free(many);
	}
	{
		double		zeros[TRANSFORM_MAX_LENGTH] = {0};
		TransformColumnSpec wide[2] = {specs[TT_QTY], specs[TT_EMB]};

		wide[1].flags = 0;
		wide[1].length = TRANSFORM_MAX_LENGTH;
		wide[1].element_mean = zeros;
		wide[1].element_std = zeros;
		TapOk(TransformSectionSize(wide, 2) == 0, "columns of 65537 inputs have no size");
		BuildFails(wide, 2, MIXREC_ERR_LIMIT, "65537 inputs, more than the 65536 a model takes",
				   "columns of more inputs than a model takes are refused");
	}
	RESET();
	{
		TransformColumnSpec empty = specs[TT_COLOR];
		uint8_t    *section;
		size_t		len;
		void	   *memory;
		const Transform *t;
		TransformValue value = TextValue("red");

		empty.vocab_size = 0;
		empty.vocab = NULL;
		empty.vocab_count = NULL;
		t = TransformMake(&empty, 1, &section, &len, &memory);
		EncodeMatches(t, 0, &value, (const float[]) {1, 0}, "a categorical column with an empty vocabulary has its two buckets");
		free(memory);
		free(section);
	}
#undef RESET

	TapOk(TransformWidth(TRANSFORM_NUMERIC, 0, 1, 0) == 1 && TransformWidth(TRANSFORM_NUMERIC, TRANSFORM_MISSING, 1, 0) == 2 &&
		  TransformWidth(TRANSFORM_TIME, 0, 1, 0) == 3 &&
		  TransformWidth(TRANSFORM_TIME, TRANSFORM_DAY_TIME | TRANSFORM_MISSING, 1, 0) == 6 &&
		  TransformWidth(TRANSFORM_CATEGORICAL, 0, 1, 0) == 2 && TransformWidth(TRANSFORM_DENSE, TRANSFORM_MISSING, 5, 0) == 6 &&
		  TransformWidth(TRANSFORM_MULTI_HOT, 0, 1, TRANSFORM_MAX_VOCABULARY) == 65536,
		  "TransformWidth counts each kind's inputs");
	TapOk(TransformWidth(TRANSFORM_NUMERIC, 0, 2, 0) == 0 && TransformWidth(TRANSFORM_BOOLEAN, TRANSFORM_LOG, 1, 0) == 0 &&
		  TransformWidth((TransformKind) 0, 0, 1, 0) == 0 && TransformWidth(TRANSFORM_DENSE, 0, 0, 0) == 0 &&
		  TransformWidth(TRANSFORM_DENSE, 0, UINT32_MAX, 0) == 0 &&
		  TransformWidth(TRANSFORM_CATEGORICAL, 0, 1, UINT32_MAX) == 0,
		  "TransformWidth is 0 for shapes that are refused (and never wraps)");
}

/* Offsets in the section of TestTransformCheck's columns a1, a2, a3 */
#define SX_A1		8
#define SX_A2		72
#define SX_A3		188
#define SX_END		(SX_A2 + 56 + 2 + 4)	/* a2's entry ends */
#define SX_SORTED	(SX_END + 12)
#define SX_TEXT		(SX_SORTED + 12 + 24)
#define SX_MEANS	(SX_A3 + 56 + 2 + 6)
#define SX_LEN		284

static void
PutLe(uint8_t *p, uint64_t value, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t) (value >> (8 * i));
}

static void
PutDouble(uint8_t *p, double value)
{
	uint64_t	bits;

	memcpy(&bits, &value, 8);
	PutLe(p, bits, 8);
}

/*
 * Expect TransformCheck to refuse a damaged copy of a section
 */
static void
CheckRefuses(const uint8_t *section, size_t len, uint32_t input_dim, const char *part,
			 const char *what)
{
	size_t		memory_size;
	MixrecError err;
	MixrecStatus status;

	memset(&err, 0, sizeof(err));
	status = TransformCheck(section, len, input_dim, &memory_size, &err);
	TapOk(status == MIXREC_ERR_CORRUPT && err.status == MIXREC_ERR_CORRUPT &&
		  (part == NULL || strstr(err.message, part) != NULL), "%s: %s", what, err.message);
}

/*
 * TransformCheck: every field of the layout, damaged in turn, every
 * truncation, trailing bytes
 */
static void
TestTransformCheck(void)
{
	TransformText entries[] = {{"ab", 2, 0}, {"cd", 2, 0}, {"ef", 2, 0}};
	uint64_t	counts[] = {3, 2, 1};
	double		zero_one[] = {0.0, 1.0};
	double		ones[] = {1.0, 1.0};
	TransformColumnSpec specs[3] = {
		{.name = "a1", .type_name = "float8", .kind = TRANSFORM_NUMERIC, .flags = TRANSFORM_MISSING,
		.length = 1, .rows = 4, .nulls = 1, .mean = 2.0, .std = 1.0},
		{.name = "a2", .type_name = "text", .kind = TRANSFORM_CATEGORICAL, .length = 1, .rows = 6,
		.vocab_size = 3, .vocab = entries, .vocab_count = counts},
		{.name = "a3", .type_name = "real[]", .kind = TRANSFORM_DENSE, .length = 2, .rows = 5,
		.element_mean = zero_one, .element_std = ones},
	};
	uint8_t		good[SX_LEN];
	uint8_t		bad[SX_LEN + 1];
	uint32_t	dim = 0;
	size_t		memory_size;
	MixrecError err;
	int			all = 1;

	TapOk(TransformSectionSize(specs, 3) == SX_LEN &&
		  TransformBuild(specs, 3, good, SX_LEN, &dim, &err) == MIXREC_OK && dim == 9 &&
		  TransformCheck(good, SX_LEN, 9, &memory_size, &err) == MIXREC_OK &&
		  memcmp(good + SX_TEXT, "abcdef", 6) == 0 && good[SX_A2] == TRANSFORM_CATEGORICAL &&
		  good[SX_A3] == TRANSFORM_DENSE && good[SX_SORTED] == 0,
		  "a section of three columns has the documented layout (%u bytes, 9 inputs)", SX_LEN);

#define DAMAGE(edit, part, what) \
	do { memcpy(bad, good, SX_LEN); edit; CheckRefuses(bad, SX_LEN, 9, part, what); } while (0)
	DAMAGE(PutLe(bad, 0, 4), "at least one column", "no columns");
	DAMAGE(PutLe(bad, 1601, 4), "at most 1600 columns", "too many columns");
	DAMAGE(PutLe(bad, 4, 4), "truncated: column 4", "more columns than the section holds");
	DAMAGE(PutLe(bad, 2, 4), "96 bytes after its last column", "fewer columns than the section holds");
	DAMAGE(PutLe(bad + 4, 10, 4), "fills 10 inputs, but the model has 9", "a declared input count other than the model's");
	DAMAGE(bad[SX_A1] = 0, "column \"a1\" has unknown kind 0", "kind 0");
	DAMAGE(bad[SX_A1] = 7, "unknown kind 7", "kind 7");
	DAMAGE(bad[SX_A1 + 1] |= TRANSFORM_DAY_TIME, "flags 0x5, but a numeric column takes only 0x3", "a flag the kind does not take");
	DAMAGE(bad[SX_A2 + 1] = TRANSFORM_MISSING, "column \"a2\" has flags 0x1", "missing on a categorical column");
	DAMAGE(PutLe(bad + SX_A1 + 2, 0, 2), "column 1", "an empty name");
	DAMAGE(bad[SX_A1 + 57] = 0, "column 1 has a NUL byte in its name", "a NUL in a name");
	DAMAGE(bad[SX_A1 + 58] = 0, "NUL byte in its type name", "a NUL in a type name");
	DAMAGE(PutLe(bad + SX_A1 + 4, 0, 2), NULL, "an empty type name");
	DAMAGE(PutLe(bad + SX_A1 + 2, 64, 2), NULL, "a name of 64 bytes");
	DAMAGE(PutLe(bad + SX_A1 + 6, 1, 2), "reserved field", "a reserved field that is not zero");
	DAMAGE(PutLe(bad + SX_A1 + 8, 1, 4), "starts at input 1, but the columns before it fill 0", "a first column not at input 0");
	DAMAGE(PutLe(bad + SX_A2 + 8, 3, 4), "column \"a2\" starts at input 3, but the columns before it fill 2", "a gap between columns");
	DAMAGE(PutLe(bad + SX_A1 + 12, 3, 4), "says it fills 3 inputs, but a numeric column of its shape fills 2", "a wrong width");
	DAMAGE(PutLe(bad + SX_A1 + 16, 2, 4), "has length 2", "a numeric column of length 2");
	DAMAGE(PutLe(bad + SX_A3 + 16, 0, 4), "0 elements", "a dense column of no elements");
	DAMAGE(PutLe(bad + SX_A3 + 16, 65537, 4), "65537 elements", "a dense column over the limit");
	DAMAGE(PutLe(bad + SX_A3 + 16, 3, 4), "truncated", "a dense column longer than its statistics");
	DAMAGE(PutLe(bad + SX_A1 + 20, 1, 4), "has 1 vocabulary entries, but a numeric column has none", "a vocabulary on a numeric column");
	DAMAGE(PutLe(bad + SX_A2 + 20, 65535, 4), "65535 vocabulary entries", "a vocabulary over the limit");
	DAMAGE(PutLe(bad + SX_A2 + 20, 4, 4), NULL, "a vocabulary larger than the section holds");
	DAMAGE(PutLe(bad + SX_A1 + 32, 5, 8), "counts 5 NULLs among 4 rows", "more NULLs than rows");
	DAMAGE(PutDouble(bad + SX_A1 + 40, NAN), "mean nan", "a NaN mean");
	DAMAGE(PutDouble(bad + SX_A1 + 40, INFINITY), "mean inf", "an infinite mean");
	DAMAGE(PutDouble(bad + SX_A1 + 40, 1e39), "mean 1e+39", "a mean beyond float");
	DAMAGE(PutDouble(bad + SX_A1 + 48, -1.0), "standard deviation -1", "a negative std");
	DAMAGE(PutDouble(bad + SX_A1 + 48, NAN), "standard deviation nan", "a NaN std");
	DAMAGE(PutDouble(bad + SX_MEANS + 8, INFINITY), "mean inf for element 2", "an infinite element mean");
	DAMAGE(PutDouble(bad + SX_MEANS + 24, -1.0), "standard deviation -1 for element 2", "a negative element std");
	DAMAGE(PutLe(bad + SX_END + 4, 1, 4), "vocabulary entry 2 of column \"a2\" ends at byte 1, before", "entry ends that decrease");
	DAMAGE(PutLe(bad + SX_END + 8, 7, 4), "truncated", "entry ends past the text");
	DAMAGE(PutLe(bad + SX_END + 8, 5, 4), NULL, "entry ends short of the text");
	DAMAGE(PutLe(bad + SX_SORTED, 3, 4), "lists entry 4, but it has 3 entries", "a byte order naming an entry that does not exist");
	DAMAGE(PutLe(bad + SX_SORTED + 4, 0, 4), "lists entry 1 twice", "a byte order naming an entry twice");
	DAMAGE((PutLe(bad + SX_SORTED + 4, 2, 4), PutLe(bad + SX_SORTED + 8, 1, 4)), "not increasing at its entry 3", "a byte order out of order");
	DAMAGE(memcpy(bad + SX_TEXT + 2, "ab", 2), "column \"a2\" has equal vocabulary entries 1 and 2", "two equal entries");
	DAMAGE(memcpy(bad + SX_TEXT + 4, "aa", 2), "not increasing", "entries out of their byte order");
	DAMAGE(memcpy(bad + SX_A2 + 56, "a1", 2), "columns 1 and 2 have the same name: column \"a1\"", "two columns of one name");
	memcpy(bad, good, SX_LEN);
	bad[SX_A2 + 57] = '\n';
	TapOk(TransformCheck(bad, SX_LEN, 9, &memory_size, &err) == MIXREC_OK,
		  "a name with a control character is valid");
	bad[SX_A3 + 57] = '\n';
	CheckRefuses(bad, SX_LEN, 9, "columns 2 and 3 have the same name: column \"a?\"",
				 "a message shows a control character of a name as '?'");
#undef DAMAGE

	/* The widths add up to something else than the header says */
	memcpy(bad, good, SX_LEN);
	PutLe(bad + 4, 10, 4);
	CheckRefuses(bad, SX_LEN, 10, "columns fill 9 inputs, but it says 10", "widths that do not add up to the declared inputs");
	CheckRefuses(good, SX_LEN, 8, "but the model has 8", "a model of fewer inputs");
	CheckRefuses(good, SX_LEN, 10, "but the model has 10", "a model of more inputs");

	for (size_t cut = 0; cut < SX_LEN; cut++)
	{
		MixrecStatus status = TransformCheck(good, cut, 9, &memory_size, &err);

		if (status != MIXREC_ERR_CORRUPT)
		{
			TapDiag("a section cut to %zu bytes passes", cut);
			all = 0;
		}
	}
	TapOk(all, "every truncation of the section is refused");
	memcpy(bad, good, SX_LEN);
	bad[SX_LEN] = 0;
	CheckRefuses(bad, SX_LEN + 1, 9, "1 bytes after its last column", "a trailing byte");

	/* Loading parses again, and stops at the end of a section however short */
	{
		void	   *memory = malloc(memory_size + SX_LEN);

		all = 1;
		for (size_t cut = 0; cut < SX_LEN; cut++)
			all &= TransformLoad(good, cut, memory, memory_size + SX_LEN) == NULL;
		TapOk(all, "no truncation of the section loads");
		free(memory);
	}
}


/* Everything the training-state tests allocate, freed at their end */
static void *fit_allocations[128];
static int	fit_allocation_count = 0;

/*
 * Allocate 8-byte aligned, zeroed memory that TestFitStates frees
 */
static void *
FitAlloc(size_t size)
{
	void	   *p = aligned_alloc(8, (size + 7) & ~(size_t) 7);

	memset(p, 0, size);
	fit_allocations[fit_allocation_count++] = p;
	return p;
}

/*
 * A model for the training-state tests, with optimiser state
 */
static MixrecModel
FitModel(float **storage, uint64_t seed)
{
	MixrecModel model;

	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 1;
	model.shape.dims[0] = 3;
	model.shape.dims[1] = 5;
	model.shape.dims[2] = 1;
	model.alpha = 0.4;
	model.flags = MIXREC_FLAG_OPTIMIZER;
	*storage = FitAlloc(sizeof(float) * ModelFloatCount(&model));
	ModelBindStorage(&model, *storage);
	ModelInitParams(&model, seed, MODEL_INIT_INDEPENDENT);
	model.adam = AdamDefaults();
	model.adam.lr = 0.01;
	return model;
}

/*
 * Deterministic rows for the training-state tests
 */
static void
FitRow(int r, float *x, float *y, float *w, unsigned char *o, unsigned char *c)
{
	x[0] = (float) sin(r * 0.7);
	x[1] = (float) cos(r * 1.3);
	x[2] = (float) ((r % 5) - 2);
	*y = x[0] + x[1] > 0 ? 1.0f : 0.0f;
	*w = 0.5f + (r % 3) * 0.5f;
	*o = r % 4 != 0;
	*c = r % 4 != 1;
}

/*
 * The 30 rows of the training-state tests, listed in order in rows[]
 */
static void
FitRows(float *x, float *y, float *w, unsigned char *o, unsigned char *c, uint32_t *rows)
{
	for (int r = 0; r < 30; r++)
	{
		FitRow(r, x + 3 * r, &y[r], &w[r], &o[r], &c[r]);
		rows[r] = (uint32_t) r;
	}
}

/*
 * A TrainWork for batches of 4 rows
 */
static void
FitTrainWork(TrainWork *tw, const MixrecModel *model)
{
	TrainWorkBind(tw, model, 4, FitAlloc(sizeof(float) * TrainWorkFloats(model, 4)),
				  FitAlloc(TrainWorkBytes(model, 4)));
}

/*
 * Allocate a state and its work area, 8-byte aligned
 */
static uint8_t *
FitNew(const MixrecModel *model, int batch, int pool_batches, uint32_t flags, uint64_t seed,
	   size_t *len, FitState *state, FitWork *work)
{
	MixrecError err;
	uint8_t    *bytes;

	*len = FitStateBytes(model, batch, pool_batches);
	bytes = FitAlloc(*len);
	if (FitStateCreate(bytes, *len, model, batch, pool_batches, 1, flags, seed, &err) != MIXREC_OK)
	{
		printf("Bail out! %s\n", err.message);
		exit(1);
	}
	FitStateOpen(bytes, *len, state, 0, &err);
	FitWorkBind(work, state, FitAlloc(sizeof(float) * FitWorkFloats(state)),
				FitAlloc(FitWorkBytes(state)));
	return bytes;
}

static int	cancel_checks;

static void
CountCancelChecks(void)
{
	cancel_checks++;
}

/*
 * The one cancel hook: TrainEvaluate calls it before every chunk, a
 * training state before every Adam step, and it changes nothing in the
 * result
 */
static void
TestCancelHook(void)
{
	float	   *storage;
	MixrecModel model = FitModel(&storage, 5);
	float		x[3 * 30],
				y[30],
				w[30];
	unsigned char o[30],
				c[30];
	uint32_t	rows[30];
	TrainData	data = {3, 1, 30, x, y, w, o, c};
	TrainWork	tw;
	void	   *scratch = FitAlloc(TrainEvalScratchBytes(30, 1));
	TrainEval	quiet,
				checked;

	FitRows(x, y, w, o, c, rows);
	FitTrainWork(&tw, &model);
	TapOk(tw.cancel == NULL, "a freshly bound TrainWork has no cancel check");
	quiet = TrainEvaluate(&model, &data, rows, 30, &tw, scratch);
	tw.cancel = CountCancelChecks;
	cancel_checks = 0;
	checked = TrainEvaluate(&model, &data, rows, 30, &tw, scratch);
	TapOk(cancel_checks == 8, "evaluating 30 rows in chunks of 4 checks for a cancel 8 times (checked %d)",
		  cancel_checks);
	TapOk(memcmp(&quiet, &checked, sizeof(quiet)) == 0,
		  "the cancel check leaves the evaluation unchanged");

	/* A training state's pool of 2 batches of 4: one check per step */
	{
		FitState	state;
		FitWork		work;
		size_t		len;
		uint8_t    *bytes = FitNew(&model, 4, 2, 0, 9, &len, &state, &work);

		TapOk(work.train.cancel == NULL, "a freshly bound FitWork has no cancel check");
		work.train.cancel = CountCancelChecks;
		cancel_checks = 0;
		for (int r = 0; r < 10; r++)
			FitStateAdd(&state, x + 3 * r, &y[r], w[r], o[r], c[r], &work);
		FitStateFlush(&state, &work);
		TapOk(cancel_checks == 3 && state.header.steps == 3,
			  "training 10 rows in batches of 4 checks for a cancel before each of its 3 steps (checked %d)",
			  cancel_checks);
		(void) bytes;
	}
}

/*
 * Training states: the same numbers as plain steps, valid after every
 * row, damage detected, combination symmetric
 */
static void
TestFitStates(void)
{
	float	   *s1,
			   *s2;
	MixrecModel reference = FitModel(&s1, 3);
	MixrecModel streamed = FitModel(&s2, 3);
	FitState	state;
	FitWork		work;
	size_t		len;
	uint8_t    *bytes = FitNew(&streamed, 4, 1, 0, 9, &len, &state, &work);
	int			valid_after_every_row = 1;
	MixrecError err;
	float		x[3 * 30],
				y[30],
				w[30];
	unsigned char o[30],
				c[30];
	uint32_t	rows[30];
	TrainWork	tw;
	TrainData	data = {3, 1, 30, x, y, w, o, c};

	/* Reference: plain TrainStep over consecutive batches of 4 */
	FitTrainWork(&tw, &reference);
	FitRows(x, y, w, o, c, rows);
	for (int first = 0; first < 30; first += 4)
		TrainStep(&reference, &data, rows + first, first + 4 <= 30 ? 4 : 30 - first, &tw);

	/* Streamed, one row at a time, opening the state fresh every time */
	for (int r = 0; r < 30; r++)
	{
		FitState	check;

		FitStateOpen(bytes, len, &state, 0, &err);
		FitStateAdd(&state, x + 3 * r, &y[r], w[r], o[r], c[r], &work);
		valid_after_every_row &= FitStateOpen(bytes, len, &check, 1, &err) == MIXREC_OK;
	}
	TapOk(valid_after_every_row, "a training state is valid, checksums included, after every row");
	FitStateOpen(bytes, len, &state, 0, &err);
	TapOk(state.header.pool_rows == 2 && state.header.rows_seen == 30,
		  "30 rows in batches of 4 leave 2 pooled rows");
	FitStateFlush(&state, &work);
	TapOk(memcmp(state.model.params[MIXREC_OPEN], reference.params[MIXREC_OPEN], sizeof(float) * MlpParamCount(&reference.shape)) == 0 &&
		  memcmp(state.model.v[MIXREC_COMMERCIAL], reference.v[MIXREC_COMMERCIAL],
				 sizeof(float) * MlpParamCount(&reference.shape)) == 0 &&
		  state.model.step == reference.step && state.header.steps == 8,
		  "streaming rows then flushing gives exactly the plain mini-batch steps");

	/* Damage: every bit of the header and samples through model and pool */
	{
		uint8_t    *damaged = FitAlloc(len);
		int			rejected = 1;
		size_t		tried = 0;
		FitState	check;

		FitStateOpen(bytes, len, &state, 0, &err);
		FitStateAdd(&state, x, &y[0], w[0], o[0], c[0], &work);	/* one pooled row */
		for (size_t bit = 0; bit < 8 * len; bit += (bit < 8 * 128 ? 1 : 7))
		{
			memcpy(damaged, bytes, len);
			damaged[bit / 8] ^= (uint8_t) (1 << (bit % 8));
			if (FitStateOpen(damaged, len, &check, 1, &err) == MIXREC_OK)
			{
				TapDiag("bit %zu of a training state flipped unnoticed", bit);
				rejected = 0;
			}
			tried++;
		}
		TapOk(rejected, "%zu single bit flips of a training state are all rejected", tried);
		memcpy(damaged, bytes, len);
		TapOk(FitStateOpen(damaged, len - 8, &check, 1, &err) == MIXREC_ERR_CORRUPT,
			  "a truncated training state is rejected: %s", err.message);
		memcpy(damaged, "MXRC", 4);
		TapOk(FitStateOpen(damaged, len, &check, 1, &err) == MIXREC_ERR_CORRUPT,
			  "a model is not a training state: %s", err.message);
	}

	/* Combining: symmetric, weighted by rows */
	{
		float	   *s3;
		MixrecModel other = FitModel(&s3, 4);
		FitState	a,
					b,
					a2,
					b2;
		FitWork		wa,
					wb;
		size_t		la,
					lb;
		uint8_t    *ba = FitNew(&streamed, 4, 2, MIXREC_FIT_SHUFFLE, 1, &la, &a, &wa);
		uint8_t    *bb = FitNew(&other, 4, 2, MIXREC_FIT_SHUFFLE, 2, &lb, &b, &wb);
		uint8_t    *ab = FitAlloc(la);
		uint8_t    *ba_copy = FitAlloc(la);

		for (int r = 0; r < 13; r++)
			FitStateAdd(&a, x + 3 * r, &y[r], w[r], o[r], c[r], &wa);
		for (int r = 13; r < 30; r++)
			FitStateAdd(&b, x + 3 * r, &y[r], w[r], o[r], c[r], &wb);
		FitStateFlush(&a, &wa);
		FitStateFlush(&b, &wb);

		memcpy(ab, ba, la);
		memcpy(ba_copy, bb, lb);
		FitStateOpen(ab, la, &a2, 1, &err);
		FitStateOpen(bb, lb, &b2, 1, &err);
		TapOk(FitStateCompatible(&a2, &b2, &err) == MIXREC_OK, "states of one shape combine");
		FitStateAverage(&a2, &b2);	/* A + B */
		FitStateOpen(ba_copy, lb, &b2, 1, &err);
		FitStateOpen(ba, la, &a, 1, &err);
		FitStateAverage(&b2, &a);	/* B + A */
		TapOk(memcmp(ab, ba_copy, la) == 0, "combining A with B gives the same bytes as B with A");
		TapOk(FitStateOpen(ab, la, &a2, 1, &err) == MIXREC_OK && a2.header.rows_seen == 30,
			  "the combined state is valid and has seen every row");
		TapOk(fabsf(a2.model.params[MIXREC_OPEN][0] - (13.0f / 30 * a.model.params[MIXREC_OPEN][0] + 17.0f / 30 * b.model.params[MIXREC_OPEN][0])) < 1e-6,
			  "parameters are averaged weighted by rows seen");

		{
			float	   *s4;
			MixrecModel wide = FitModel(&s4, 5);
			FitState	c1;
			FitWork		wc;
			size_t		lc;

			wide.shape.dims[1] = 6;
			s4 = FitAlloc(sizeof(float) * ModelFloatCount(&wide));
			ModelBindStorage(&wide, s4);
			ModelInitParams(&wide, 5, MODEL_INIT_INDEPENDENT);
			FitNew(&wide, 4, 2, MIXREC_FIT_SHUFFLE, 1, &lc, &c1, &wc);
			TapOk(FitStateCompatible(&a2, &c1, &err) == MIXREC_ERR_DIMENSION,
				  "states of different shapes do not combine: %s", err.message);
			wide = FitModel(&s4, 5);
			FitNew(&wide, 8, 1, MIXREC_FIT_SHUFFLE, 1, &lc, &c1, &wc);
			TapOk(FitStateCompatible(&a2, &c1, &err) == MIXREC_ERR_ARGUMENT,
				  "states of different batch sizes do not combine: %s", err.message);
		}
	}

	/* The running checksum: pieces give the same CRC as the whole */
	{
		unsigned char buf[1000];
		uint32_t	crc = Crc32cStart();

		for (int i = 0; i < 1000; i++)
			buf[i] = (unsigned char) (i * 7 + 3);
		for (int i = 0; i < 1000; i += 37)
			crc = Crc32cUpdate(crc, buf + i, i + 37 <= 1000 ? 37 : 1000 - i);
		TapOk(Crc32cFinish(crc) == Crc32c(buf, 1000), "a checksum extended piece by piece equals the whole");
	}
	for (int i = 0; i < fit_allocation_count; i++)
		free(fit_allocations[i]);
}

/*
 * A training state for one of K partitions of an epoch: its steps are the
 * plain steps with the learning rate times sqrt(K), its model keeps the
 * rate it was given, and it combines only with states for the same K
 */
static void
TestFitStatePartitions(void)
{
	float	   *s1,
			   *s2;
	MixrecModel reference = FitModel(&s1, 3);
	MixrecModel streamed = FitModel(&s2, 3);
	double		lr = streamed.adam.lr;
	FitState	state;
	FitWork		work;
	MixrecError err;
	size_t		len = FitStateBytes(&streamed, 4, 2);
	uint8_t    *bytes = FitAlloc(len);
	float		x[3 * 30],
				y[30],
				w[30];
	unsigned char o[30],
				c[30];
	uint32_t	rows[30];
	TrainWork	tw;
	TrainData	data = {3, 1, 30, x, y, w, o, c};

	TapOk(FitStateCreate(bytes, len, &streamed, 4, 2, 0, 0, 9, &err) == MIXREC_ERR_LIMIT,
		  "a state for 0 partitions is refused: %s", err.message);
	TapOk(FitStateCreate(bytes, len, &streamed, 4, 2, MIXREC_MAX_PARTITIONS + 1, 0, 9, &err) == MIXREC_ERR_LIMIT,
		  "a state for %d partitions is refused: %s", MIXREC_MAX_PARTITIONS + 1, err.message);
	if (FitStateCreate(bytes, len, &streamed, 4, 2, 9, 0, 9, &err) != MIXREC_OK ||
		FitStateOpen(bytes, len, &state, 1, &err) != MIXREC_OK)
	{
		printf("Bail out! %s\n", err.message);
		exit(1);
	}
	FitWorkBind(&work, &state, FitAlloc(sizeof(float) * FitWorkFloats(&state)),
				FitAlloc(FitWorkBytes(&state)));
	TapOk(state.header.partitions == 9 && state.header.states == 1,
		  "a new state records its 9 partitions and counts itself once");

	/* Reference: plain steps of 4 rows at 3 times the rate (sqrt(9)) */
	reference.adam.lr = 3.0 * lr;
	FitTrainWork(&tw, &reference);
	FitRows(x, y, w, o, c, rows);
	for (int first = 0; first < 30; first += 4)
		TrainStep(&reference, &data, rows + first, first + 4 <= 30 ? 4 : 30 - first, &tw);
	for (int r = 0; r < 30; r++)
		FitStateAdd(&state, x + 3 * r, &y[r], w[r], o[r], c[r], &work);
	FitStateFlush(&state, &work);
	TapOk(memcmp(state.model.params[MIXREC_OPEN], reference.params[MIXREC_OPEN],
				 sizeof(float) * MlpParamCount(&reference.shape)) == 0 &&
		  memcmp(state.model.params[MIXREC_COMMERCIAL], reference.params[MIXREC_COMMERCIAL],
				 sizeof(float) * MlpParamCount(&reference.shape)) == 0,
		  "a state for 9 partitions takes the plain steps at 3 times the learning rate");
	TapOk(FitStateOpen(bytes, len, &state, 1, &err) == MIXREC_OK && state.model.adam.lr == lr,
		  "its model keeps the learning rate it was given (%g)", lr);

	/* Combining: the same K only; the count of states adds up */
	{
		FitState	one,
					again;
		FitWork		w1;
		size_t		l1;
		uint8_t    *b1 = FitNew(&streamed, 4, 2, 0, 9, &l1, &one, &w1);
		uint8_t    *b2 = FitAlloc(len);

		TapOk(FitStateCompatible(&state, &one, &err) == MIXREC_ERR_ARGUMENT &&
			  strstr(err.message, "9 and 1 partitions") != NULL,
			  "states for different partition counts do not combine: %s", err.message);
		memcpy(b2, bytes, len);
		FitStateOpen(b2, len, &again, 1, &err);
		FitStateAverage(&state, &again);
		TapOk(FitStateOpen(bytes, len, &state, 1, &err) == MIXREC_OK && state.header.states == 2,
			  "two states averaged count 2 states");
		(void) b1;
	}

	/* A forged header: no partitions, with a checksum that agrees */
	bytes[116] = 0;
	bytes[117] = 0;
	{
		uint32_t	crc = Crc32c(bytes + 16, MIXREC_FIT_HEADER_BYTES - 16);

		memcpy(bytes + 12, &crc, 4);	/* the tests run on little-endian machines */
	}
	TapOk(FitStateOpen(bytes, len, &state, 1, &err) == MIXREC_ERR_CORRUPT,
		  "a state that claims 0 partitions is rejected: %s", err.message);
}

/*
 * A training state holding a model with a transform: trains exactly like
 * one without, stays valid, keeps the transform, refuses to combine with a
 * state of another transform
 */
static void
TestFitStateTransform(void)
{
	int			mark = fit_allocation_count;
	float	   *s1,
			   *s2,
			   *s3;
	MixrecModel plain = FitModel(&s1, 3);
	MixrecModel typed = FitModel(&s2, 3);
	MixrecModel other = FitModel(&s3, 3);
	uint32_t	t_len;
	uint8_t    *section = ModelTransformSection(3, &t_len);
	uint8_t    *other_section = FitAlloc(t_len);
	FitState	a,
				b,
				c,
				d,
				check;
	FitWork		wa,
				wb,
				wc,
				wd;
	size_t		la,
				lb,
				lc,
				ld;
	uint8_t    *bb;
	float		x[3 * 30],
				y[30],
				w[30];
	unsigned char o[30],
				c_[30];
	uint32_t	rows[30];
	MixrecError err;

	typed.flags |= MIXREC_FLAG_TRANSFORM;
	typed.transform = section;
	typed.transform_len = t_len;
	/* The same transform but for one count: valid, and different */
	memcpy(other_section, section, t_len);
	other_section[8 + 24] ^= 1;
	other.flags |= MIXREC_FLAG_TRANSFORM;
	other.transform = other_section;
	other.transform_len = t_len;

	FitNew(&plain, 4, 2, 0, 9, &la, &a, &wa);
	bb = FitNew(&typed, 4, 2, 0, 9, &lb, &b, &wb);
	FitNew(&other, 4, 2, 0, 9, &lc, &c, &wc);
	FitNew(&typed, 4, 2, 0, 5, &ld, &d, &wd);
	TapOk(b.header.model_len == ModelEncodedSize(&typed) && ModelBlobVersion(b.model_blob) == 2 &&
		  b.model.transform == b.model_blob + b.header.model_len - 4 - t_len &&
		  memcmp(b.model.transform, section, t_len) == 0,
		  "a training state holds a version 2 model with its transform");

	FitRows(x, y, w, o, c_, rows);
	for (int r = 0; r < 30; r++)
	{
		FitStateAdd(&a, x + 3 * r, &y[r], w[r], o[r], c_[r], &wa);
		FitStateAdd(&b, x + 3 * r, &y[r], w[r], o[r], c_[r], &wb);
	}
	FitStateFlush(&a, &wa);
	FitStateFlush(&b, &wb);
	TapOk(FitStateOpen(bb, lb, &check, 1, &err) == MIXREC_OK &&
		  (check.model.flags & MIXREC_FLAG_TRANSFORM) && check.model.transform_len == t_len &&
		  memcmp(check.model.transform, section, t_len) == 0 &&
		  memcmp(check.model.params[MIXREC_OPEN], a.model.params[MIXREC_OPEN],
				 sizeof(float) * MlpParamCount(&plain.shape)) == 0 &&
		  check.model.step == a.model.step && check.header.steps == a.header.steps,
		  "it trains exactly like a state without a transform, and stays valid with its transform");
	{
		size_t		len = ModelEncodedSize(&check.model);
		uint8_t    *blob = FitAlloc(len);
		MixrecModel copy;
		float	   *storage = NULL;

		ModelEncode(&check.model, blob);
		TapOk(len == check.header.model_len && memcmp(blob, check.model_blob, len) == 0 &&
			  Decode(blob, len, &copy, &storage, &err) == MIXREC_OK &&
			  memcmp(copy.transform, section, t_len) == 0,
			  "the trained model encodes as the state holds it, and decodes with its transform");
		free(storage);
	}

	TapOk(FitStateCompatible(&b, &d, &err) == MIXREC_OK,
		  "states of one transform combine");
	TapOk(FitStateCompatible(&b, &c, &err) == MIXREC_ERR_ARGUMENT &&
		  strstr(err.message, "different input transforms") != NULL,
		  "states of different transforms do not combine: %s", err.message);
	TapOk(FitStateCompatible(&a, &b, &err) == MIXREC_ERR_ARGUMENT &&
		  strstr(err.message, "different input transforms") != NULL,
		  "a state with a transform does not combine with one without: %s", err.message);

	/* A damaged transform behind the model's valid checksum */
	{
		uint8_t    *damaged = FitAlloc(lb);
		FitState	opened;

		memcpy(damaged, bb, lb);
		FitStateOpen(damaged, lb, &opened, 0, &err);
		damaged[(opened.model.transform - damaged) + 8] = 9;
		Reseal(opened.model_blob, opened.header.model_len);
		TapOk(FitStateOpen(damaged, lb, &opened, 1, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "input transform is invalid") != NULL,
			  "a training state whose transform is damaged is rejected: %s", err.message);
	}
	free(section);
	for (int i = mark; i < fit_allocation_count; i++)
		free(fit_allocations[i]);
	fit_allocation_count = mark;
}

/*
 * The one-row kernel against a plain double-precision product, on sizes
 * with remainders in both dimensions
 */
static void
TestMatVec(void)
{
	static const int sizes[][2] = {{1, 1}, {8, 8}, {13, 21}, {64, 64}, {17, 3}, {9, 64}};

	for (int s = 0; s < 6; s++)
	{
		int			out = sizes[s][0];
		int			in = sizes[s][1];
		float	   *w = malloc(sizeof(float) * out * in);
		float	   *x = malloc(sizeof(float) * in);
		float	   *b = malloc(sizeof(float) * out);
		float	   *y = malloc(sizeof(float) * out);
		float	   *y_relu = malloc(sizeof(float) * out);
		double		worst = 0;
		int			relu_ok = 1;

		for (int i = 0; i < out * in; i++)
			w[i] = (float) sin(i * 0.37 + s);
		for (int i = 0; i < in; i++)
			x[i] = (float) cos(i * 0.91);
		for (int o = 0; o < out; o++)
			b[o] = (float) (0.1 * o - 0.5);
		KernelMatVec(w, x, b, out, in, 0, y);
		KernelMatVec(w, x, b, out, in, 1, y_relu);
		for (int o = 0; o < out; o++)
		{
			double		want = b[o];

			for (int i = 0; i < in; i++)
				want += (double) w[o * in + i] * x[i];
			worst = fmax(worst, fabs(y[o] - want) / (1e-6 + fabs(want)));
			relu_ok &= y_relu[o] == (y[o] > 0.0f ? y[o] : 0.0f);
		}
		TapOk(worst < 1e-5 && relu_ok, "one-row kernel %dx%d matches a double product (worst relative %.2g)",
			  out, in, worst);
		free(w);
		free(x);
		free(b);
		free(y);
		free(y_relu);
	}
}

/* The rows of test/fixtures/eval_data.csv */
#define EVAL_MAX_ROWS	400
#define EVAL_DIM		6

typedef struct EvalFixture
{
	size_t		n;
	float		x[EVAL_MAX_ROWS * EVAL_DIM];
	double		y[EVAL_MAX_ROWS];
	unsigned char o[EVAL_MAX_ROWS];
	unsigned char c[EVAL_MAX_ROWS];
	char		user_ids[EVAL_MAX_ROWS][16];
	const char *users[EVAL_MAX_ROWS];
} EvalFixture;

/*
 * Read a whole file into a new NUL-terminated string (caller frees)
 */
static char *
ReadText(const char *dir, const char *name)
{
	char		path[1024];
	FILE	   *f;
	long		size;
	char	   *text;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc(size + 1);
	if (fread(text, 1, size, f) != (size_t) size)
		size = 0;
	text[size] = '\0';
	fclose(f);
	return text;
}

/*
 * The text just after the first occurrence of key at or after from; bails
 * out when it is missing
 */
static const char *
After(const char *from, const char *key)
{
	const char *at = from ? strstr(from, key) : NULL;

	if (at == NULL)
	{
		printf("Bail out! eval fixture: %s not found\n", key);
		exit(1);
	}
	return at + strlen(key);
}

/*
 * Read the next count numbers after p into values, skipping quoted keys
 * ("0.weight") and punctuation
 */
static void
JsonNumbers(const char *p, float *values, size_t count)
{
	for (size_t i = 0; i < count;)
	{
		char	   *end;

		if (*p == '\0')
		{
			printf("Bail out! eval fixture: the model has too few numbers\n");
			exit(1);
		}
		if (*p == '"')
		{
			p = strchr(p + 1, '"') + 1;
			continue;
		}
		if (*p != '-' && (*p < '0' || *p > '9'))
		{
			p++;
			continue;
		}
		values[i++] = (float) strtod(p, &end);
		p = end;
	}
}

/*
 * Parse eval_data.csv: row_id,user_id,item_id,"{features}",label,domain
 */
static int
EvalLoadRows(const char *text, EvalFixture *rows)
{
	const char *line = strchr(text, '\n');

	rows->n = 0;
	while (line != NULL && line[1] != '\0' && rows->n < EVAL_MAX_ROWS)
	{
		size_t		r = rows->n;
		const char *p = line + 1;
		const char *user = strchr(p, ',') + 1;
		const char *comma = strchr(user, ',');
		char	   *end;

		snprintf(rows->user_ids[r], sizeof(rows->user_ids[r]), "%.*s", (int) (comma - user), user);
		rows->users[r] = rows->user_ids[r];
		p = strchr(comma, '{') + 1;
		for (int j = 0; j < EVAL_DIM; j++)
		{
			rows->x[r * EVAL_DIM + j] = strtof(p, &end);
			p = end + 1;
		}
		rows->y[r] = strtod(p + 2, &end);	/* after "}", */
		p = end + 1;
		rows->o[r] = strncmp(p, "commercial", 10) != 0;
		rows->c[r] = strncmp(p, "open", 4) != 0;
		rows->n++;
		line = strchr(p, '\n');
	}
	return rows->n == EVAL_MAX_ROWS;
}

/*
 * Every metric of mixrec_evaluate against scikit-learn's numbers, within
 * 1e-9 as test/sql/evaluate.sql checks them, on the same model and rows
 */
static void
TestEvalMetrics(const char *dir)
{
	static const char *const names[] = {"open", "commercial", "blend"};
	static EvalFixture rows;
	char	   *cases = ReadText(dir, "eval_cases.jsonl");
	char	   *data = ReadText(dir, "eval_data.csv");
	const char *model_json;
	const char *metrics;
	MixrecModel model;
	float	   *storage;
	float	   *work;
	double	   *p[3];
	double	   *pairs;
	unsigned char positive[EVAL_MAX_ROWS];
	void	   *scratch;
	int			k;

	if (cases == NULL || data == NULL || !EvalLoadRows(data, &rows))
	{
		printf("Bail out! cannot read the eval fixtures in %s\n", dir);
		exit(1);
	}
	model_json = After(cases, "\"model\":");
	metrics = After(cases, "\"metrics\":");
	k = atoi(After(cases, "\"k\":"));

	/* The model: two MLPs [6, 8, 1], no standardisation */
	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 1;
	model.shape.dims[0] = EVAL_DIM;
	model.shape.dims[1] = 8;
	model.shape.dims[2] = 1;
	model.alpha = strtod(After(model_json, "\"alpha\":"), NULL);
	storage = malloc(sizeof(float) * ModelFloatCount(&model));
	ModelBindStorage(&model, storage);
	JsonNumbers(After(model_json, "\"open\":{"), model.params[MIXREC_OPEN], MlpParamCount(&model.shape));
	JsonNumbers(After(model_json, "\"commercial\":{"), model.params[MIXREC_COMMERCIAL], MlpParamCount(&model.shape));

	/* Probabilities as mixrec_evaluate computes them */
	work = malloc(sizeof(float) * ScoreWorkFloats(&model, (int) rows.n));
	for (int m = 0; m < 3; m++)
		p[m] = malloc(sizeof(double) * rows.n);
	ScoreRows(&model, SCORE_OPEN, model.alpha, NULL, rows.x, (int) rows.n, work, p[0]);
	ScoreRows(&model, SCORE_COMMERCIAL, model.alpha, NULL, rows.x, (int) rows.n, work, p[1]);
	for (size_t r = 0; r < rows.n; r++)
	{
		p[2][r] = model.alpha * p[0][r] + (1.0 - model.alpha) * p[1][r];
		positive[r] = rows.y[r] >= 0.5;
	}

	pairs = malloc(sizeof(double) * 2 * rows.n);
	scratch = malloc(MetricRankingScratchBytes(rows.n));
	for (int m = 0; m < 3; m++)
	{
		char		key[32];
		const char *want;
		const unsigned char *include = m == 0 ? rows.o : m == 1 ? rows.c : NULL;
		size_t		counted;
		double		loss = MetricLogLoss(p[m], rows.y, include, rows.n, &counted);
		double		auc = MetricAuc(p[m], positive, include, rows.n, pairs);
		double		accuracy = MetricAccuracy(p[m], rows.y, include, rows.n);
		MetricRanking ranking = MetricRankingAtK(rows.users, rows.y, p[m], rows.n, k, scratch,
												 CountCancelChecks);
		const char *metric_names[] = {"log_loss", "auc", "accuracy", "precision_at_k",
		"recall_at_k", "ndcg_at_k"};
		double		got[] = {loss, auc, accuracy, ranking.precision, ranking.recall, ranking.ndcg};
		double		worst = 0;
		int			all = 1;

		snprintf(key, sizeof(key), "\"%s\":{", names[m]);
		want = After(metrics, key);
		for (int i = 0; i < 6; i++)
		{
			char		metric_key[32];
			double		expected;

			snprintf(metric_key, sizeof(metric_key), "\"%s\":", metric_names[i]);
			expected = strtod(After(want, metric_key), NULL);
			worst = fmax(worst, fabs(got[i] - expected));
			if (!(fabs(got[i] - expected) <= 1e-9))
			{
				TapDiag("%s %s: %.17g, scikit-learn %.17g", names[m], metric_names[i], got[i], expected);
				all = 0;
			}
		}
		TapOk(all, "%s model: log loss, AUC, accuracy, precision, recall and NDCG at %d within 1e-9 of scikit-learn (worst %.2g)",
			  names[m], k, worst);
		TapOk(counted == (size_t) atol(After(want, "\"rows\":")) &&
			  ranking.users == (size_t) atol(After(metrics, "\"users\":")),
			  "%s model: %zu rows count, over %zu users", names[m], counted, ranking.users);
	}

	/* AUC with ties counted half, and against every pair counted by hand */
	{
		double		scores[] = {0.5, 0.5, 0.2, 0.8};
		unsigned char positive[] = {1, 0, 0, 1};
		double		pairs[2 * 257];
		double		many[257];
		unsigned char labels[257];
		MixrecRandom rng;
		double		wins = 0;
		double		n_pos = 0;
		double		auc;

		TapOk(MetricAuc(scores, positive, NULL, 4, pairs) == 0.875,
			  "AUC of 4 rows with a tie across the classes is 3.5 of 4 pairs");
		RandomSeed(&rng, 7);
		for (int i = 0; i < 257; i++)
		{
			many[i] = (double) RandomBelow(&rng, 20) / 20.0;	/* many ties */
			labels[i] = RandomBelow(&rng, 3) == 0;
			n_pos += labels[i];
		}
		for (int i = 0; i < 257; i++)
			for (int j = 0; j < 257; j++)
				if (labels[i] && !labels[j])
					wins += many[i] > many[j] ? 1.0 : many[i] == many[j] ? 0.5 : 0.0;
		auc = MetricAuc(many, labels, NULL, 257, pairs);
		TapOk(fabs(auc - wins / (n_pos * (257 - n_pos))) < 1e-12,
			  "AUC of 257 rows in 20 tied score levels equals the pairwise count (%.6f)", auc);
	}

	/* Ties (as test/sql/evaluate.sql's flat model): every score 0.5 */
	{
		const char *one_user[] = {"1", "1", "1", "1"};
		double		y[] = {1, 0, 1, 0};
		double		flat[] = {0.5, 0.5, 0.5, 0.5};
		double		dcg_gain[] = {1, 0, 1, 0};
		MetricRanking tied;

		cancel_checks = 0;
		tied = MetricRankingAtK(one_user, y, flat, 4, 2, scratch, CountCancelChecks);
		TapOk(tied.precision == 0.5 && tied.recall == 0.5 && tied.users == 1 && cancel_checks == 1,
			  "tied scores: precision and recall at 2 are the share of positives, one cancel check per user");
		TapOk(fabs(tied.ndcg - 0.5 * (1 + 1 / log2(3.0)) / (1 + 1 / log2(3.0))) < 1e-15 &&
			  MetricTieAveragedDcg(dcg_gain, flat, 4, 4) == 0.5 * (1 + 1 / log2(3.0) + 0.5 + 1 / log2(5.0)),
			  "tied scores share the average gain of their group (NDCG %.6f)", tied.ndcg);
	}
	{
		size_t		counted;

		TapOk(isnan(MetricLogLoss(p[0], rows.y, (const unsigned char *) "\0\0", 2, &counted)) &&
			  counted == 0 && isnan(MetricAccuracy(p[0], rows.y, (const unsigned char *) "\0\0", 2)),
			  "log loss and accuracy over no rows are NaN");
	}
	free(scratch);
	free(pairs);
	for (int m = 0; m < 3; m++)
		free(p[m]);
	free(work);
	free(storage);
	free(data);
	free(cases);
}

/*
 * Embedding tables (TRANSFORM_EMBED): training and scoring against
 * PyTorch with the fixture embed_reference.txt (made by
 * test/torch/make_embed_fixture.py, whose docstring describes the models,
 * the loss and the optimisers), then the row lookup on hostile inputs, the
 * format, the limits and the initialisation
 */
static const Fixture *efx;

/* The fixture's columns, in input order */
enum
{
	ET_COLOR, ET_PRICE, ET_STORE, ET_ACTIVE, ET_QTY, ET_COLUMNS
};

static const TransformText et_colors[] = {{"red", 3, 0}, {"green", 5, 0}, {"blue", 4, 0},
{"black", 5, 0}};
static const uint64_t et_color_counts[] = {14, 10, 8, 1};
static const TransformText et_stores[] = {{"s1", 2, 0}, {"s2", 2, 0}, {"s3", 2, 0}, {"s4", 2, 0},
{"s5", 2, 0}};
static const uint64_t et_store_counts[] = {12, 8, 6, 4, 4};

/*
 * The fixture's transform: color embedded in 3 dimensions, price, store
 * embedded in 4, active, qty
 */
static void
EmbedTestSpecs(TransformColumnSpec *specs)
{
	memset(specs, 0, sizeof(TransformColumnSpec) * ET_COLUMNS);
	specs[ET_COLOR] = (TransformColumnSpec) {.name = "color", .type_name = "text",
		.kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_EMBED, .length = 3, .rows = 40,
	.nulls = 4, .vocab_size = 4, .vocab = et_colors, .vocab_count = et_color_counts};
	specs[ET_PRICE] = (TransformColumnSpec) {.name = "price", .type_name = "float8",
	.kind = TRANSFORM_NUMERIC, .length = 1, .rows = 40, .mean = 10.0, .std = 4.0};
	specs[ET_STORE] = (TransformColumnSpec) {.name = "store", .type_name = "text",
		.kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_EMBED, .length = 4, .rows = 40,
	.nulls = 3, .vocab_size = 5, .vocab = et_stores, .vocab_count = et_store_counts};
	specs[ET_ACTIVE] = (TransformColumnSpec) {.name = "active", .type_name = "boolean",
	.kind = TRANSFORM_BOOLEAN, .length = 1, .rows = 40, .mean = 0.5, .std = 0.5};
	specs[ET_QTY] = (TransformColumnSpec) {.name = "qty", .type_name = "integer",
	.kind = TRANSFORM_NUMERIC, .length = 1, .rows = 40, .mean = 3.0, .std = 2.0};
}

/*
 * A category code of the fixture (vocabulary index, -1 out of the
 * vocabulary, -2 NULL) as the value the host would give
 */
static TransformValue
CategoryValue(double code, const TransformText *vocab, const char *unknown)
{
	if (code == -2)
		return NullValue();
	if (code == -1)
		return TextValue(unknown);
	return TextValue(vocab[(int) code].data);
}

/*
 * Encode the fixture's rows with TransformEncodeColumn into x[n][input_dim]
 */
static float *
EmbedEncodeRows(const Transform *transform, size_t n)
{
	const FixtureRecord *color = FixtureGet(efx, "data.color");
	const FixtureRecord *price = FixtureGet(efx, "data.price");
	const FixtureRecord *store = FixtureGet(efx, "data.store");
	const FixtureRecord *active = FixtureGet(efx, "data.active");
	const FixtureRecord *qty = FixtureGet(efx, "data.qty");
	size_t		d = transform->input_dim;
	float	   *x = malloc(sizeof(float) * n * d);
	int			encoded = 1;

	for (size_t r = 0; r < n; r++)
	{
		TransformValue values[ET_COLUMNS];
		MixrecError err;

		values[ET_COLOR] = CategoryValue(color->values[r], et_colors, "violet");
		values[ET_PRICE] = NumberValue(price->values[r]);
		values[ET_STORE] = CategoryValue(store->values[r], et_stores, "s9");
		values[ET_ACTIVE] = NumberValue(active->values[r]);
		values[ET_QTY] = NumberValue(qty->values[r]);
		for (uint32_t c = 0; c < ET_COLUMNS; c++)
			encoded &= TransformEncodeColumn(transform, c, &values[c], x + r * d, &err) == MIXREC_OK;
	}
	TapOk(encoded, "the embedding fixture's rows encode");
	return x;
}

/*
 * A model of the fixture's shape reading its rows through a transform,
 * with the transform's standardisation and, for a case, its optimiser
 * settings and the fixture's initial parameters
 */
static MixrecModel
EmbedFixtureModel(const uint8_t *section, size_t len, const Transform *transform,
				  const char *name, float **storage)
{
	const FixtureRecord *dims = FixtureGet(efx, "model.dims");
	MixrecModel model;

	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = (int) dims->count - 2;
	for (size_t i = 0; i < dims->count; i++)
		model.shape.dims[i] = (int) dims->values[i];
	model.alpha = FixtureScalar(efx, "model.alpha");
	model.flags = MIXREC_FLAG_STANDARDIZE | MIXREC_FLAG_OPTIMIZER;
	ModelAttachTransform(&model, section, (uint32_t) len);
	*storage = calloc(ModelFloatCount(&model), sizeof(float));
	ModelBindStorage(&model, *storage);
	TransformStandardization(transform, model.mean, model.std);
	{
		float	   *open = FixtureFloats(FixtureGet(efx, "init.open"));
		float	   *commercial = FixtureFloats(FixtureGet(efx, "init.commercial"));

		memcpy(model.params[MIXREC_OPEN], open, sizeof(float) * ModelParamCount(&model));
		memcpy(model.params[MIXREC_COMMERCIAL], commercial, sizeof(float) * ModelParamCount(&model));
		free(open);
		free(commercial);
	}
	model.adam = AdamDefaults();
	if (name != NULL)
	{
		model.adam.kind = FixtureScalar(efx, "%s.adamw", name) != 0 ? ADAM_DECOUPLED : ADAM_L2;
		model.adam.lazy_embeddings = FixtureScalar(efx, "%s.lazy", name) != 0;
		model.adam.lr = FixtureScalar(efx, "%s.lr", name);
		model.adam.beta1 = FixtureScalar(efx, "%s.beta1", name);
		model.adam.beta2 = FixtureScalar(efx, "%s.beta2", name);
		model.adam.eps = FixtureScalar(efx, "%s.eps", name);
		model.adam.weight_decay = FixtureScalar(efx, "%s.weight_decay", name);
	}
	return model;
}

/*
 * Compare floats with a record, keeping in *worst the largest difference
 * seen so far as a fraction of the tolerance (1 is the limit)
 */
static void
CheckFloatsWorst(const char *what, const float *got, const FixtureRecord *want, double *worst)
{
	for (size_t i = 0; i < want->count; i++)
		*worst = fmax(*worst, fabs(got[i] - want->values[i]) / (ATOL + RTOL * fabs(want->values[i])));
	CheckFloats(what, got, want);
}

/*
 * The fixture's transform, layout, encoding and the initial models' scores
 * and loss against PyTorch
 */
static void
TestEmbedScoring(void)
{
	TransformColumnSpec specs[ET_COLUMNS];
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	const Transform *transform;
	const FixtureRecord *layout = FixtureGet(efx, "layout.embed");
	size_t		n = (size_t) FixtureScalar(efx, "data.n");
	float	   *storage;
	MixrecModel model;
	float	   *x;
	int			same_layout;
	int			same_x = 1;
	static const char *const modes[] = {"blend", "open", "commercial", "soup"};

	EmbedTestSpecs(specs);
	transform = TransformMake(specs, ET_COLUMNS, &section, &len, &memory);
	model = EmbedFixtureModel(section, len, transform, NULL, &storage);
	same_layout = transform->input_dim == (uint32_t) FixtureScalar(efx, "layout.input_dim") &&
		layout->count == 3 * (size_t) model.n_embed;
	for (uint32_t t = 0; same_layout && t < model.n_embed; t++)
		same_layout = model.embed[t].position == layout->values[3 * t] &&
			model.embed[t].dim == layout->values[3 * t + 1] &&
			model.embed[t].rows == layout->values[3 * t + 2];
	TapOk(same_layout && model.n_embed == 2 && model.embed[1].column == ET_STORE &&
		  model.embed_floats == 6 * 3 + 7 * 4 &&
		  ModelParamCount(&model) == MlpParamCount(&model.shape) + 6 * 3 + 7 * 4,
		  "TransformBuild lays out the embedding fixture's inputs and tables as PyTorch reads them");
	{
		MixrecError err;

		TapOk(ModelCheck(&model, &err) == MIXREC_OK, "the fixture's model with embeddings is valid");
	}

	x = EmbedEncodeRows(transform, n);
	{
		const FixtureRecord *want = FixtureGet(efx, "data.x");

		for (size_t i = 0; i < want->count; i++)
			same_x &= x[i] == (float) want->values[i];
		TapOk(same_x && want->count == n * transform->input_dim,
			  "embedded columns encode as their table's row (vocabulary index, out-of-vocabulary row, NULL row) then zeros, exactly");
	}

	{
		float	   *soup = malloc(sizeof(float) * ModelParamCount(&model));
		float	   *work = malloc(sizeof(float) * ScoreWorkFloats(&model, (int) n));
		double	   *out = malloc(sizeof(double) * n);
		char		what[128];

		ScoreSoupParams(&model, model.alpha, soup);
		for (int m = 0; m < 4; m++)
		{
			ScoreRows(&model, (ScoreMode) ScoreModeFromName(modes[m]), model.alpha,
					  m == 3 ? soup : NULL, x, (int) n, work, out);
			snprintf(what, sizeof(what), "embedding fixture: %s scores of the initial models", modes[m]);
			CheckDoubles(what, out, FixtureGet(efx, "score.%s", modes[m]));
		}
		free(soup);
		free(work);
		free(out);
	}

	{
		float	   *xs = malloc(sizeof(float) * n * transform->input_dim);
		float	   *y = FixtureFloats(FixtureGet(efx, "data.y"));
		float	   *w = FixtureFloats(FixtureGet(efx, "data.w"));
		unsigned char *o = CaseFlags(FixtureGet(efx, "data.o"));
		unsigned char *c = CaseFlags(FixtureGet(efx, "data.c"));
		TrainData	data = {(int) transform->input_dim, 1, n, xs, y, w, o, c};
		TrainWork	tw;
		float	   *floats = malloc(sizeof(float) * TrainWorkFloats(&model, 16));
		unsigned char *bytes = malloc(TrainWorkBytes(&model, 16));
		void	   *scratch = malloc(TrainEvalScratchBytes(n, 1));
		uint32_t   *rows = malloc(sizeof(uint32_t) * n);
		TrainEval	eval;

		StandardizeApply(model.mean, model.std, (int) transform->input_dim, x, n, xs);
		for (size_t r = 0; r < n; r++)
			rows[r] = (uint32_t) r;
		TrainWorkBind(&tw, &model, 16, floats, bytes);
		eval = TrainEvaluate(&model, &data, rows, n, &tw, scratch);
		CheckDoubles("embedding fixture: TrainEvaluate's loss of the initial models, in chunks of 16 rows",
					 &eval.loss.total, FixtureGet(efx, "eval.loss"));
		free(xs);
		free(y);
		free(w);
		free(o);
		free(c);
		free(floats);
		free(bytes);
		free(scratch);
		free(rows);
	}
	free(x);
	free(storage);
	free(memory);
	free(section);
}

/*
 * Replay one training case of the fixture through TrainStep: the loss of
 * every step and both models' parameters (tables included) after it
 */
static void
TestEmbedTrainingCase(const char *name)
{
	TransformColumnSpec specs[ET_COLUMNS];
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	const Transform *transform;
	size_t		n = (size_t) FixtureScalar(efx, "data.n");
	int			steps = (int) FixtureScalar(efx, "%s.steps", name);
	float	   *storage;
	MixrecModel model;
	float	   *x;
	float	   *xs;
	float	   *y = FixtureFloats(FixtureGet(efx, "data.y"));
	float	   *w = FixtureFloats(FixtureGet(efx, "data.w"));
	unsigned char *o = CaseFlags(FixtureGet(efx, "data.o"));
	unsigned char *c = CaseFlags(FixtureGet(efx, "data.c"));
	TrainWork	tw;
	float	   *floats;
	unsigned char *bytes;
	float	   *initial;
	double		worst = 0;
	char		what[160];

	EmbedTestSpecs(specs);
	transform = TransformMake(specs, ET_COLUMNS, &section, &len, &memory);
	model = EmbedFixtureModel(section, len, transform, name, &storage);
	x = EmbedEncodeRows(transform, n);
	xs = malloc(sizeof(float) * n * transform->input_dim);
	StandardizeApply(model.mean, model.std, (int) transform->input_dim, x, n, xs);
	floats = malloc(sizeof(float) * TrainWorkFloats(&model, 8));
	bytes = malloc(TrainWorkBytes(&model, 8));
	TrainWorkBind(&tw, &model, 8, floats, bytes);
	initial = malloc(sizeof(float) * ModelParamCount(&model));
	memcpy(initial, model.params[MIXREC_OPEN], sizeof(float) * ModelParamCount(&model));

	for (int s = 0; s < steps; s++)
	{
		const FixtureRecord *rr = FixtureGet(efx, "%s.step%d.rows", name, s);
		uint32_t	rows[8];
		TrainData	data = {(int) transform->input_dim, 1, n, xs, y, w, o, c};
		LossValue	loss;

		for (size_t i = 0; i < rr->count; i++)
			rows[i] = (uint32_t) rr->values[i];
		loss = TrainStep(&model, &data, rows, (int) rr->count, &tw);
		snprintf(what, sizeof(what), "embedding case %s step %d: loss through TrainStep", name, s);
		CheckDoubles(what, &loss.total, FixtureGet(efx, "%s.step%d.loss", name, s));
		snprintf(what, sizeof(what), "embedding case %s step %d: open MLP and tables after %s%s",
				 name, s, model.adam.kind == ADAM_DECOUPLED ? "AdamW" : "Adam",
				 model.adam.lazy_embeddings ? " and SparseAdam" : "");
		CheckFloatsWorst(what, model.params[MIXREC_OPEN],
						 FixtureGet(efx, "%s.step%d.after.open", name, s), &worst);
		snprintf(what, sizeof(what), "embedding case %s step %d: commercial MLP and tables after %s%s",
				 name, s, model.adam.kind == ADAM_DECOUPLED ? "AdamW" : "Adam",
				 model.adam.lazy_embeddings ? " and SparseAdam" : "");
		CheckFloatsWorst(what, model.params[MIXREC_COMMERCIAL],
						 FixtureGet(efx, "%s.step%d.after.commercial", name, s), &worst);
	}
	TapDiag("embedding case %s: the largest difference from PyTorch is %.2f of the tolerance", name, worst);
	{
		MixrecError err;

		TapOk(model.step == steps && ModelCheck(&model, &err) == MIXREC_OK,
			  "embedding case %s: %d steps counted, the trained model is valid", name, steps);
	}
	if (model.adam.lazy_embeddings)
	{
		/* "black", row 3 of the color table, is in no row of the data */
		size_t		at = (size_t) (ModelEmbedTable(&model, model.params[MIXREC_OPEN], 0) -
								   model.params[MIXREC_OPEN]) + 3 * 3;
		int			kept = memcmp(model.params[MIXREC_OPEN] + at, initial + at, 3 * sizeof(float)) == 0;

		for (int j = 0; j < 3; j++)
			kept &= model.m[MIXREC_OPEN][at + j] == 0.0f && model.v[MIXREC_OPEN][at + j] == 0.0f;
		TapOk(kept, "embedding case %s: the table row no batch uses keeps its values, and its moments stay zero",
			  name);
	}
	free(initial);
	free(x);
	free(xs);
	free(y);
	free(w);
	free(o);
	free(c);
	free(floats);
	free(bytes);
	free(storage);
	free(memory);
	free(section);
}

/*
 * The fixture's checks, which run the kernels
 */
static void
TestEmbedTorch(void)
{
	static const char *const cases[] = {"dense", "dense_decay", "dense_adamw", "lazy", "lazy_adamw"};

	TestEmbedScoring();
	for (int i = 0; i < 5; i++)
		TestEmbedTrainingCase(cases[i]);
}

/*
 * A transform of the fixture's columns and a model reading through it,
 * initialised from a seed; the caller frees storage, section and memory
 */
static MixrecModel
EmbedModel(uint32_t flags, int lazy, float **storage, uint8_t **section, size_t *len,
		   void **memory)
{
	TransformColumnSpec specs[ET_COLUMNS];
	const Transform *transform;
	MixrecModel model;

	EmbedTestSpecs(specs);
	transform = TransformMake(specs, ET_COLUMNS, section, len, memory);
	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 1;
	model.shape.dims[0] = (int) transform->input_dim;
	model.shape.dims[1] = 8;
	model.shape.dims[2] = 1;
	model.alpha = 0.4;
	model.flags = flags;
	ModelAttachTransform(&model, *section, (uint32_t) *len);
	*storage = calloc(ModelFloatCount(&model), sizeof(float));
	ModelBindStorage(&model, *storage);
	ModelInitParams(&model, 5, MODEL_INIT_INDEPENDENT);
	if (flags & MIXREC_FLAG_STANDARDIZE)
		TransformStandardization(transform, model.mean, model.std);
	if (flags & MIXREC_FLAG_OPTIMIZER)
	{
		size_t		p = ModelParamCount(&model);

		model.adam = AdamDefaults();
		model.adam.lazy_embeddings = lazy;
		model.step = 3;
		for (size_t i = 0; i < p; i++)
			for (int k = 0; k < MIXREC_MODELS; k++)
			{
				model.m[k][i] = 0.001f * (float) (i % 17) - 0.008f;
				model.v[k][i] = 0.0001f * (float) (i % 13);
			}
	}
	return model;
}

/*
 * The row of a table an input names: anything but a row number is the
 * out-of-vocabulary row; and scoring and training take it so
 */
static void
TestEmbedRow(void)
{
	TransformEmbedding e = {.column = 0, .position = 0, .dim = 3, .rows = 6};
	TransformEmbedding big = {.column = 0, .position = 0, .dim = 1, .rows = 1u << 24};
	static const float hostile[] = {NAN, -1.0f, 1.5f, 6.0f, 1e30f, INFINITY, -INFINITY, 5.5f,
	-0.5f, 1e-30f, 7.0f, 4294967296.0f};
	int			oov = 1;

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		oov &= ModelEmbedRow(&e, hostile[i]) == 4;
	TapOk(oov, "NaN, infinities, negative, fractional, too large and row-count inputs all take the out-of-vocabulary row");
	TapOk(ModelEmbedRow(&e, 0.0f) == 0 && ModelEmbedRow(&e, -0.0f) == 0 &&
		  ModelEmbedRow(&e, 3.0f) == 3 && ModelEmbedRow(&e, 4.0f) == 4 &&
		  ModelEmbedRow(&e, 5.0f) == 5,
		  "row numbers take their row: 0 (and -0), a vocabulary entry, the out-of-vocabulary and the NULL row");
	TapOk(ModelEmbedRow(&big, 16777215.0f) == 16777215 && ModelEmbedRow(&big, 16777214.0f) == 16777214 &&
		  ModelEmbedRow(&big, 16777216.0f) == 16777214 && ModelEmbedRow(&big, 123457.0f) == 123457,
		  "a table of 2^24 rows: its last row is reached, 2^24 is out of the vocabulary");

	/* Scoring and training read a hostile input as the out-of-vocabulary row */
	{
		float	   *storage;
		uint8_t    *section;
		size_t		len;
		void	   *memory;
		MixrecModel model = EmbedModel(MIXREC_FLAG_OPTIMIZER, 0, &storage, &section, &len, &memory);
		size_t		d = (size_t) MlpInputDim(&model.shape);
		size_t		floats = ModelFloatCount(&model);
		float	   *start = malloc(sizeof(float) * floats);
		float	   *after_oov = malloc(sizeof(float) * floats);
		float		x_oov[4 * 10];
		float		x_bad[4 * 10];
		static const float bad_color[] = {NAN, 1e30f, -1.0f, 1.5f};
		static const float bad_store[] = {7.0f, INFINITY, 6.5f, -0.0f};
		float		y[4] = {1, 0, 1, 0};
		uint32_t	rows[4] = {0, 1, 2, 3};
		float	   *work = malloc(sizeof(float) * ScoreWorkFloats(&model, 4));
		double		score_oov[4];
		double		score_bad[4];
		TrainWork	tw;
		float	   *tw_floats = malloc(sizeof(float) * TrainWorkFloats(&model, 4));
		unsigned char *tw_bytes = malloc(TrainWorkBytes(&model, 4));

		for (int r = 0; r < 4; r++)
			for (size_t j = 0; j < d; j++)
			{
				x_oov[r * d + j] = (float) ((r + 1) * (j + 2) % 5) * 0.25f;
				x_bad[r * d + j] = x_oov[r * d + j];
			}
		for (int r = 0; r < 4; r++)
		{
			x_oov[r * d + 0] = 4.0f;	/* color: out of the vocabulary */
			x_bad[r * d + 0] = bad_color[r];
			x_oov[r * d + 4] = r == 3 ? 0.0f : 5.0f;	/* store */
			x_bad[r * d + 4] = bad_store[r];
		}
		ScoreRows(&model, SCORE_BLEND, model.alpha, NULL, x_oov, 4, work, score_oov);
		ScoreRows(&model, SCORE_BLEND, model.alpha, NULL, x_bad, 4, work, score_bad);
		TapOk(memcmp(score_oov, score_bad, sizeof(score_oov)) == 0,
			  "ScoreRows reads hostile embedded inputs as the out-of-vocabulary row");

		TrainWorkBind(&tw, &model, 4, tw_floats, tw_bytes);
		for (int lazy = 0; lazy <= 1; lazy++)
		{
			TrainData	oov_data = {(int) d, 1, 4, x_oov, y, NULL, NULL, NULL};
			TrainData	bad_data = {(int) d, 1, 4, x_bad, y, NULL, NULL, NULL};

			model.adam.lazy_embeddings = lazy;
			memcpy(start, storage, sizeof(float) * floats);
			TrainStep(&model, &oov_data, rows, 4, &tw);
			memcpy(after_oov, storage, sizeof(float) * floats);
			memcpy(storage, start, sizeof(float) * floats);
			model.step--;
			TrainStep(&model, &bad_data, rows, 4, &tw);
			TapOk(memcmp(after_oov, storage, sizeof(float) * floats) == 0,
				  "TrainStep (%s) trains the out-of-vocabulary row for hostile embedded inputs, bit for bit",
				  lazy ? "lazy" : "dense");
		}
		free(start);
		free(after_oov);
		free(work);
		free(tw_floats);
		free(tw_bytes);
		free(storage);
		free(section);
		free(memory);
	}
}

/*
 * The format with embedding tables: round trips, the E field and the
 * embedding optimizer field, in place, and their damage
 */
static void
TestEmbedFormat(void)
{
	size_t		scalars = 20 + 4 * 3 + 8;	/* the header up to the transform's fields */
	size_t		at_e = scalars + 4;
	size_t		at_lazy = scalars + 8 + 4;

	for (int lazy = 0; lazy <= 1; lazy++)
	{
		float	   *storage,
				   *storage2;
		uint8_t    *section;
		size_t		t_len;
		void	   *memory;
		MixrecModel model = EmbedModel(MIXREC_FLAG_STANDARDIZE | MIXREC_FLAG_OPTIMIZER, lazy,
									   &storage, &section, &t_len, &memory);
		MixrecModel copy;
		size_t		len = ModelEncodedSize(&model);
		uint8_t    *blob = malloc(len);
		uint8_t    *again = malloc(len);
		MixrecError err;
		MixrecStatus status;

		ModelEncode(&model, blob);
		TapOk((size_t) (blob[at_e] + 256 * blob[at_e + 1]) == model.embed_floats && blob[at_e + 2] == 0 &&
			  blob[at_lazy] == lazy && blob[at_lazy + 1] == 0 && model.embed_floats == 46,
			  "lazy %d: the blob's E field holds the tables' %zu numbers, its embedding optimizer field %d",
			  lazy, model.embed_floats, lazy);
		status = Decode(blob, len, &copy, &storage2, &err);
		TapOk(status == MIXREC_OK && copy.n_embed == 2 && copy.embed_floats == model.embed_floats &&
			  memcmp(copy.embed, model.embed, sizeof(model.embed)) == 0 &&
			  copy.adam.lazy_embeddings == lazy &&
			  memcmp(ModelEmbedTable(&copy, copy.params[MIXREC_COMMERCIAL], 1),
					 ModelEmbedTable(&model, model.params[MIXREC_COMMERCIAL], 1), 7 * 4 * sizeof(float)) == 0,
			  "lazy %d: a model with embedding tables decodes with its layout, tables and embedding optimizer (%s)",
			  lazy, status == MIXREC_OK ? "ok" : err.message);
		if (status == MIXREC_OK)
		{
			ModelEncode(&copy, again);
			TapOk(memcmp(blob, again, len) == 0, "lazy %d: it encodes again to the same bytes", lazy);
		}
		free(storage2);

		{
			uint8_t    *aligned = aligned_alloc(8, (len + 7) & ~(size_t) 7);
			MixrecModel bound;
			int			same;

			memcpy(aligned, blob, len);
			same = ModelBindInPlace(aligned, len, &bound, 1, &err) == MIXREC_OK &&
				bound.n_embed == 2 && bound.embed_floats == 46 && bound.adam.lazy_embeddings == lazy &&
				memcmp(bound.params[MIXREC_OPEN], model.params[MIXREC_OPEN],
					   sizeof(float) * ModelParamCount(&model)) == 0 &&
				memcmp(bound.v[MIXREC_COMMERCIAL], model.v[MIXREC_COMMERCIAL],
					   sizeof(float) * ModelParamCount(&model)) == 0;
			bound.params[MIXREC_OPEN][ModelParamCount(&model) - 1] = 0.5f;
			bound.step = 4;
			ModelSeal(aligned, len, &bound);
			same &= ModelBindInPlace(aligned, len, &bound, 0, &err) == MIXREC_OK && bound.step == 4 &&
				bound.n_embed == 2 && bound.params[MIXREC_OPEN][ModelParamCount(&model) - 1] == 0.5f;
			ModelEncode(&bound, again);
			TapOk(same && memcmp(aligned, again, len) == 0,
				  "lazy %d: it binds in place, verified and trusted, and a sealed edit of its last table encodes to the same bytes",
				  lazy);
			free(aligned);
		}
		if (lazy)
			CheckCutsAndFlips(blob, len, "model with embedding tables");
		free(again);
		free(blob);
		free(storage);
		free(section);
		free(memory);
	}

	/* Damage behind a valid checksum */
	{
		float	   *storage,
				   *storage2;
		uint8_t    *section;
		size_t		t_len;
		void	   *memory;
		MixrecModel model = EmbedModel(MIXREC_FLAG_OPTIMIZER, 1, &storage, &section, &t_len, &memory);
		MixrecModel copy;
		size_t		len = ModelEncodedSize(&model);
		uint8_t    *blob = malloc(len);
		uint8_t    *bad = malloc(len);
		MixrecError err;

		ModelEncode(&model, blob);
#define DAMAGED(edit, part, what) \
	do { \
		memcpy(bad, blob, len); \
		edit; \
		Reseal(bad, len); \
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT && \
			  strstr(err.message, part) != NULL, "%s: %s", what, err.message); \
		free(storage2); \
	} while (0)
		DAMAGED(bad[at_e] += 1, "size does not match",
				"an E field one more than the blob holds is rejected");
		DAMAGED(bad[at_e + 3] = 0x10, "exceed",
				"an E field beyond TRANSFORM_MAX_EMBED_FLOATS is rejected");
		DAMAGED(bad[at_lazy] = 2, "unknown embedding optimizer 2",
				"an unknown embedding optimizer is rejected");
#undef DAMAGED
		/*
		 * Bound in place without verifying (a blob this code wrote), a
		 * damaged transform is still read within the blob: each field that
		 * sizes the first column, made huge
		 */
		{
			uint8_t    *aligned = aligned_alloc(8, (len + 7) & ~(size_t) 7);
			size_t		column = len - 4 - t_len + 8;
			static const int fields[] = {2, 4, 16, 20};
			int			refused = 1;

			for (int f = 0; f < 4; f++)
			{
				MixrecModel bound;

				memcpy(aligned, blob, len);
				memset(aligned + column + fields[f], 0xff, f < 2 ? 2 : 4);
				refused &= ModelBindInPlace(aligned, len, &bound, 0, &err) == MIXREC_ERR_CORRUPT &&
					ModelBindInPlace(aligned, len, &bound, 1, &err) == MIXREC_ERR_CORRUPT;
			}
			TapOk(refused, "a model whose transform says its first column is longer than the blob is refused, trusted or not, without reading past it");
			free(aligned);
		}
		free(bad);
		free(blob);

		/* A whole, sealed blob whose E field disagrees with its transform */
		model.embed_floats = 0;
		model.n_embed = 0;
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		ModelEncode(&model, blob);
		TapOk(Decode(blob, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "hold 0 numbers, but its transform's take 46") != NULL,
			  "a blob saying E = 0 for a transform with embedded columns is rejected: %s", err.message);
		free(storage2);
		free(blob);
		free(storage);
		free(section);
		free(memory);
	}
	{
		uint32_t	t_len;
		uint8_t    *plain = ModelTransformSection(5, &t_len);
		float	   *storage,
				   *storage2;
		MixrecModel model = MakeModel(MIXREC_FLAG_OPTIMIZER, &storage);
		MixrecModel copy;
		size_t		len;
		uint8_t    *blob;
		MixrecError err;
		size_t		at_v2_lazy = 20 + 4 * 4 + 8 + 8 + 4;
		size_t		at_v1_lazy = 20 + 4 * 4 + 8 + 4;

		/* E = 12 for a transform without embedded columns */
		free(storage);
		ModelAttachTransform(&model, plain, t_len);
		model.embed_floats = 12;
		storage = calloc(ModelFloatCount(&model), sizeof(float));
		ModelBindStorage(&model, storage);
		model.adam = AdamDefaults();
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		ModelEncode(&model, blob);
		TapOk(Decode(blob, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "hold 12 numbers, but its transform's take 0") != NULL,
			  "a blob saying E = 12 for a transform without embedded columns is rejected: %s", err.message);
		free(storage2);
		free(blob);

		/* The lazy flag without embeddings, in format versions 2 and 1 */
		model.embed_floats = 0;
		model.adam.lazy_embeddings = 1;
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		ModelEncode(&model, blob);
		TapOk(blob[at_v2_lazy] == 0 && Decode(blob, len, &copy, &storage2, &err) == MIXREC_OK &&
			  copy.adam.lazy_embeddings == 0,
			  "a model without embedding tables is written with the embedding optimizer field 0");
		free(storage2);
		blob[at_v2_lazy] = 1;
		Reseal(blob, len);
		TapOk(Decode(blob, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "unknown embedding optimizer 1") != NULL,
			  "a version 2 blob with the lazy flag but no embedding tables is rejected: %s", err.message);
		free(storage2);
		free(blob);
		free(storage);

		model = MakeModel(MIXREC_FLAG_OPTIMIZER, &storage);
		len = ModelEncodedSize(&model);
		blob = malloc(len);
		ModelEncode(&model, blob);
		blob[at_v1_lazy] = 1;
		Reseal(blob, len);
		TapOk(ModelBlobVersion(blob) == 1 && Decode(blob, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "unknown embedding optimizer 1") != NULL,
			  "a version 1 blob with the lazy flag is rejected: %s", err.message);
		free(storage2);
		free(blob);
		free(storage);
		free(plain);
	}
}

/*
 * A vocabulary of n entries "v0", "v1", ... for an embedded column; the
 * caller frees the entries, *counts and *text
 */
static TransformText *
EmbedVocabulary(uint32_t n, uint64_t **counts, char **text)
{
	TransformText *vocab = malloc(sizeof(TransformText) * n);
	char	   *p = *text = malloc((size_t) n * 12);

	*counts = malloc(sizeof(uint64_t) * n);
	for (uint32_t i = 0; i < n; i++)
	{
		int			len = sprintf(p, "v%u", (unsigned) i);

		vocab[i].data = p;
		vocab[i].len = (size_t) len;
		vocab[i].isnull = 0;
		(*counts)[i] = n - i;
		p += len + 1;
	}
	return vocab;
}

/*
 * The limits of embedded columns, and a vocabulary larger than a one-hot
 * column may have
 */
static void
TestEmbedLimits(void)
{
	TransformColumnSpec s[TRANSFORM_MAX_EMBEDDINGS + 1];
	uint64_t   *counts;
	char	   *text;
	TransformText *vocab = EmbedVocabulary(70000, &counts, &text);
	static char names[TRANSFORM_MAX_EMBEDDINGS + 1][16];

	for (int i = 0; i <= TRANSFORM_MAX_EMBEDDINGS; i++)
	{
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		s[i] = (TransformColumnSpec) {.name = names[i], .type_name = "text",
			.kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_EMBED, .length = 2, .rows = 10,
		.vocab_size = 3, .vocab = vocab, .vocab_count = counts};
	}

	s[0].length = 0;
	BuildFails(s, 1, MIXREC_ERR_LIMIT, "embedded in 0 dimensions", "an embedding of 0 dimensions is rejected");
	s[0].length = TRANSFORM_MAX_EMBED_DIM + 1;
	BuildFails(s, 1, MIXREC_ERR_LIMIT, "embedded in 1025 dimensions", "an embedding of 1025 dimensions is rejected");
	TapOk(TransformSectionSize(s, 1) == 0, "TransformSectionSize is 0 for an embedding of 1025 dimensions");
	s[0].length = TRANSFORM_MAX_EMBED_DIM;
	TapOk(TransformSectionSize(s, 1) > 0 &&
		  TransformWidth(TRANSFORM_CATEGORICAL, TRANSFORM_EMBED, TRANSFORM_MAX_EMBED_DIM, 3) == TRANSFORM_MAX_EMBED_DIM,
		  "an embedding of 1024 dimensions is accepted and fills 1024 inputs");
	s[0].length = 2;

	s[0].vocab_size = TRANSFORM_MAX_EMBED_VOCABULARY + 1;
	BuildFails(s, 1, MIXREC_ERR_LIMIT, "vocabulary entries, more than the 16777214 allowed",
			   "an embedded vocabulary of 2^24 - 1 entries is rejected");
	s[0].vocab_size = 3;

	s[0].flags = 0;
	s[0].length = 1;
	s[1].kind = TRANSFORM_MULTI_HOT;
	BuildFails(s, 2, MIXREC_ERR_ARGUMENT, "takes only", "a multi-hot column cannot be embedded");
	s[1].kind = TRANSFORM_NUMERIC;
	s[1].vocab_size = 0;
	s[1].length = 1;
	BuildFails(s, 2, MIXREC_ERR_ARGUMENT, "takes only", "a numeric column cannot be embedded");
	s[1] = s[2];
	s[1].name = names[1];
	s[0].flags = TRANSFORM_EMBED;
	s[0].length = 2;

	TapOk(TransformSectionSize(s, TRANSFORM_MAX_EMBEDDINGS) > 0,
		  "a transform of %d embedded columns is accepted", TRANSFORM_MAX_EMBEDDINGS);
	BuildFails(s, TRANSFORM_MAX_EMBEDDINGS + 1, MIXREC_ERR_LIMIT, "embeds at most 32 columns",
			   "33 embedded columns are rejected");
	TapOk(TransformSectionSize(s, TRANSFORM_MAX_EMBEDDINGS + 1) == 0,
		  "TransformSectionSize is 0 for 33 embedded columns, as TransformBuild refuses them");

	/* Beyond a one-hot vocabulary, and beyond the tables' numbers */
	{
		uint8_t    *section;
		size_t		len;
		void	   *memory;
		const Transform *t;
		TransformEmbedding e[TRANSFORM_MAX_EMBEDDINGS];
		size_t		floats;
		float		x[16];
		TransformValue v;
		int			rows_ok = 1;

		s[0].vocab_size = 70000;
		s[0].length = 16;
		t = TransformMake(s, 1, &section, &len, &memory);
		TapOk(TransformEmbeddings(section, len, e, &floats) == 1 && e[0].rows == 70002 &&
			  e[0].dim == 16 && floats == 70002 * 16 && t->input_dim == 16,
			  "an embedded vocabulary of 70000 entries (more than a one-hot column's %d) is accepted",
			  TRANSFORM_MAX_VOCABULARY);
		for (uint32_t i = 0; i < 70000; i += 6999)
		{
			v = TextValue(vocab[i].data);
			rows_ok &= TransformEncodeColumn(t, 0, &v, x, NULL) == MIXREC_OK && x[0] == (float) i &&
				x[15] == 0.0f;
		}
		v = TextValue("v70000");
		rows_ok &= TransformEncodeColumn(t, 0, &v, x, NULL) == MIXREC_OK && x[0] == 70000.0f;
		v = NullValue();
		rows_ok &= TransformEncodeColumn(t, 0, &v, x, NULL) == MIXREC_OK && x[0] == 70001.0f;
		TapOk(rows_ok, "its entries, an unknown text and NULL encode as rows 0..69999, 70000 and 70001");
		free(section);
		free(memory);

		s[0].length = 1000;		/* 70,002,000 numbers */
		BuildFails(s, 1, MIXREC_ERR_LIMIT, "more than the 67108864 allowed",
				   "embedding tables beyond TRANSFORM_MAX_EMBED_FLOATS are rejected");
		TapOk(TransformSectionSize(s, 1) == 0,
			  "TransformSectionSize is 0 for tables beyond TRANSFORM_MAX_EMBED_FLOATS");
	}
	free(vocab);
	free(counts);
	free(text);
}

/*
 * Initialisation of the tables: N(0, 1), after the MLPs, which start as
 * they do without tables
 */
static void
TestEmbedInit(void)
{
	uint64_t   *counts;
	char	   *text;
	TransformText *vocab = EmbedVocabulary(1000, &counts, &text);
	TransformColumnSpec s[2] = {
		{.name = "a", .type_name = "text", .kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_EMBED,
		.length = 8, .rows = 10, .vocab_size = 1000, .vocab = vocab, .vocab_count = counts},
		{.name = "b", .type_name = "text", .kind = TRANSFORM_CATEGORICAL, .flags = TRANSFORM_EMBED,
		.length = 5, .rows = 10, .vocab_size = 999, .vocab = vocab, .vocab_count = counts},
	};
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	MixrecModel model,
				plain;
	float	   *storage,
			   *plain_storage;
	size_t		mlp;
	size_t		n;

	TransformMake(s, 2, &section, &len, &memory);
	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 1;
	model.shape.dims[0] = 13;
	model.shape.dims[1] = 16;
	model.shape.dims[2] = 1;
	plain = model;
	ModelAttachTransform(&model, section, (uint32_t) len);
	mlp = MlpParamCount(&model.shape);
	n = model.embed_floats;
	storage = malloc(sizeof(float) * ModelFloatCount(&model));
	plain_storage = malloc(sizeof(float) * ModelFloatCount(&plain));
	ModelBindStorage(&model, storage);
	ModelBindStorage(&plain, plain_storage);
	TapOk(n == 1002 * 8 + 1001 * 5 && n % 2 == 1,
		  "two tables of %zu numbers in all (an odd count: the last normal draw is half used)", n);

	ModelInitParams(&model, 11, MODEL_INIT_INDEPENDENT);
	ModelInitParams(&plain, 11, MODEL_INIT_INDEPENDENT);
	TapOk(memcmp(model.params[MIXREC_OPEN], plain.params[MIXREC_OPEN], sizeof(float) * mlp) == 0 &&
		  memcmp(model.params[MIXREC_COMMERCIAL], plain.params[MIXREC_COMMERCIAL], sizeof(float) * mlp) == 0,
		  "both MLPs start as they do in a model without tables, from the same seed");
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		const float *t = model.params[k] + mlp;
		double		sum = 0,
					sq = 0,
					widest = 0;
		size_t		beyond2 = 0;
		int			finite = 1;

		for (size_t i = 0; i < n; i++)
		{
			finite &= isfinite(t[i]);
			sum += t[i];
			sq += (double) t[i] * t[i];
			widest = fmax(widest, fabs(t[i]));
			beyond2 += fabs(t[i]) > 2.0;
		}
		sum /= (double) n;
		sq = sqrt(sq / (double) n - sum * sum);
		TapOk(finite && fabs(sum) < 0.05 && fabs(sq - 1.0) < 0.05 && widest > 3.0 && widest < 6.5 &&
			  fabs((double) beyond2 / n - 0.0455) < 0.01 && t[n - 1] != 0.0f,
			  "%s tables are N(0, 1): mean %.4f, std %.4f, widest %.2f, %.2f%% beyond 2 (4.55%% expected)",
			  k == MIXREC_OPEN ? "open" : "commercial", sum, sq, widest, 100.0 * beyond2 / n);
	}
	TapOk(memcmp(model.params[MIXREC_OPEN] + mlp, model.params[MIXREC_COMMERCIAL] + mlp,
				 sizeof(float) * n) != 0,
		  "independent initialisation gives the two models different tables");
	{
		float	   *again = malloc(sizeof(float) * ModelFloatCount(&model));

		memcpy(again, storage, sizeof(float) * ModelFloatCount(&model));
		ModelInitParams(&model, 11, MODEL_INIT_INDEPENDENT);
		TapOk(memcmp(again, storage, sizeof(float) * ModelFloatCount(&model)) == 0,
			  "the same seed gives the same tables");
		ModelInitParams(&model, 11, MODEL_INIT_SHARED);
		TapOk(memcmp(model.params[MIXREC_OPEN], model.params[MIXREC_COMMERCIAL],
					 sizeof(float) * ModelParamCount(&model)) == 0 &&
			  memcmp(model.params[MIXREC_OPEN], again, sizeof(float) * mlp) == 0,
			  "shared initialisation gives both models the same MLP and tables");
		free(again);
	}
	free(storage);
	free(plain_storage);
	free(section);
	free(memory);
	free(vocab);
	free(counts);
	free(text);
}

/*
 * Scoring one row of mostly zero inputs through the transposed first layer
 * agrees with ScoreRows, in every mode, for shapes with and without hidden
 * layers, with no, some and all inputs nonzero
 */
static void
TestSparseScoring(void)
{
	static const int shapes[][4] = {{40, 1, 16, 1}, {33, 0, 0, 1}, {12, 1, 7, 2}, {70, 2, 9, 1}};

	for (int s = 0; s < 4; s++)
	{
		MixrecModel model;
		float	   *storage;
		float	   *first_t[3];
		float	   *soup;
		float	   *x;
		int		   *nz;
		float	   *work;
		float	   *acts;
		double		dense[2];
		double		sparse[2];
		double		worst = 0;
		int			in = shapes[s][0];

		memset(&model, 0, sizeof(model));
		model.shape.n_hidden = shapes[s][1];
		model.shape.dims[0] = in;
		for (int h = 1; h <= shapes[s][1]; h++)
			model.shape.dims[h] = shapes[s][2] + h;
		model.shape.dims[shapes[s][1] + 1] = shapes[s][3];
		model.alpha = 0.3;
		storage = malloc(sizeof(float) * ModelFloatCount(&model));
		ModelBindStorage(&model, storage);
		ModelInitParams(&model, 7 + s, MODEL_INIT_INDEPENDENT);
		soup = malloc(sizeof(float) * MlpParamCount(&model.shape));
		ScoreSoupParams(&model, model.alpha, soup);
		for (int k = 0; k < 3; k++)
		{
			first_t[k] = malloc(sizeof(float) * in * model.shape.dims[1]);
			MlpTransposeFirst(&model.shape, k == 2 ? soup : model.params[k], first_t[k]);
		}
		x = malloc(sizeof(float) * in);
		nz = malloc(sizeof(int) * in);
		work = malloc(sizeof(float) * ScoreWorkFloats(&model, 1));
		acts = malloc(sizeof(float) * MlpActivationFloats(&model.shape, 1));

		for (int density = 0; density <= 2; density++)
		{
			int			n_nz = 0;

			for (int i = 0; i < in; i++)
			{
				int			on = density == 2 || (density == 1 && i % 5 == 2);

				x[i] = on ? (float) (0.5 + sin(i * 1.7)) : 0.0f;
				if (on)
					nz[n_nz++] = i;
			}
			for (int mode = SCORE_BLEND; mode <= SCORE_SOUP; mode++)
			{
				ScoreRows(&model, (ScoreMode) mode, model.alpha, soup, x, 1, work, dense);
				ScoreRowSparse(&model, (ScoreMode) mode, model.alpha, soup,
							   (const float *const *) first_t, x, nz, n_nz, acts, sparse);
				for (int o = 0; o < shapes[s][3]; o++)
					worst = fmax(worst, fabs(dense[o] - sparse[o]));
			}
		}
		TapOk(worst < 1e-6, "one sparse row scores like ScoreRows, shape %d (worst difference %.2g)",
			  s + 1, worst);
		for (int k = 0; k < 3; k++)
			free(first_t[k]);
		free(storage);
		free(soup);
		free(x);
		free(nz);
		free(work);
		free(acts);
	}
}

/*
 * The scoring plan against ScoreRows: shapes with widths that are and are
 * not multiples of 8, 0 to 3 hidden layers, one and several outputs,
 * standardisation off and on (one input with a timestamp's offset, whose
 * mean the plan must not fold into the bias), every mode; one row at a
 * time (ScorePlanRow), blocks (ScorePlanRows) and the one-output block of
 * mixrec_predict (ScorePlanBlock).  The plan divides the weights by the
 * scales where ScoreRows divides the inputs, and sums in another order:
 * the two agree to float32 rounding of the logits, not bit for bit.
 */
static void
TestScorePlan(void)
{
	static const int shapes[][6] = {
		/* in, hidden layers, their sizes, outputs */
		{64, 1, 64, 0, 0, 1},
		{13, 1, 5, 0, 0, 1},
		{33, 0, 0, 0, 0, 1},
		{70, 2, 20, 9, 0, 1},
		{9, 3, 11, 7, 3, 2},
		{64, 2, 256, 128, 0, 1},
		{5, 1, 8, 0, 0, 3},
		{24, 2, 17, 16, 0, 1},
	};
	int			n_shapes = (int) (sizeof(shapes) / sizeof(shapes[0]));
	static const char *const modes[] = {"blend", "open", "commercial", "soup"};
	const int	rows = 37;

	for (int s = 0; s < n_shapes; s++)
		for (int standardize = 0; standardize <= 1; standardize++)
		{
			MixrecModel model;
			ScorePlan	plan;
			float	   *storage;
			float	   *plan_storage;
			float	   *soup;
			float	   *x;
			float	   *work;
			float	   *plan_work;
			double	   *want;
			double	   *row_got;
			double	   *rows_got;
			double	   *open;
			double	   *commercial;
			double	   *score;
			double		worst_row = 0;
			double		worst_rows = 0;
			double		worst_sparse = 0;
			double		worst_block = 0;
			int			in = shapes[s][0];
			int			n_out;

			memset(&model, 0, sizeof(model));
			model.shape.n_hidden = shapes[s][1];
			model.shape.dims[0] = in;
			for (int h = 1; h <= shapes[s][1]; h++)
				model.shape.dims[h] = shapes[s][1 + h];
			model.shape.dims[shapes[s][1] + 1] = shapes[s][5];
			n_out = shapes[s][5];
			model.alpha = 0.3;
			model.flags = standardize ? MIXREC_FLAG_STANDARDIZE : 0;
			storage = malloc(sizeof(float) * ModelFloatCount(&model));
			ModelBindStorage(&model, storage);
			ModelInitParams(&model, 11 + s, MODEL_INIT_INDEPENDENT);
			x = malloc(sizeof(float) * rows * in);
			for (int r = 0; r < rows; r++)
				for (int i = 0; i < in; i++)
					x[r * in + i] = (float) (2.0 * sin(r * 0.37 + i * 1.3) + 0.5 * i);
			if (standardize)
			{
				for (int i = 0; i < in; i++)
				{
					model.mean[i] = (float) (0.5 * i + 0.1 * cos(i));
					model.std[i] = (float) (0.7 + 0.3 * (i % 5));
				}
				/* A timestamp: 1.7e9 seconds, spread over a few days */
				model.mean[0] = 1.7e9f;
				model.std[0] = 3.0e5f;
				for (int r = 0; r < rows; r++)
					x[r * in] = 1.7e9f + (float) (r - rows / 2) * 25600.0f;
			}
			soup = malloc(sizeof(float) * ModelParamCount(&model));
			ScoreSoupParams(&model, model.alpha, soup);
			plan_storage = malloc(sizeof(float) * ScorePlanFloats(&model));
			ScorePlanInit(&plan, &model, plan_storage);
			ScorePlanSetSoup(&plan, soup);
			work = malloc(sizeof(float) * ScoreWorkFloats(&model, rows));
			plan_work = malloc(sizeof(float) * (ScorePlanBlockFloats(&plan, rows) +
												ScorePlanRowFloats(&plan)));
			want = malloc(sizeof(double) * rows * n_out);
			row_got = malloc(sizeof(double) * rows * n_out);
			rows_got = malloc(sizeof(double) * rows * n_out);
			open = malloc(sizeof(double) * rows);
			commercial = malloc(sizeof(double) * rows);
			score = malloc(sizeof(double) * rows);

			for (int m = 0; m < 4; m++)
			{
				ScoreMode	mode = (ScoreMode) ScoreModeFromName(modes[m]);

				ScoreRows(&model, mode, model.alpha, mode == SCORE_SOUP ? soup : NULL, x, rows,
						  work, want);
				for (int r = 0; r < rows; r++)
					ScorePlanRow(&plan, mode, model.alpha, x + (size_t) r * in, plan_work,
								 row_got + (size_t) r * n_out);
				ScorePlanRows(&plan, mode, model.alpha, x, rows, plan_work, rows_got);
				for (int k = 0; k < rows * n_out; k++)
				{
					worst_row = fmax(worst_row, fabs(row_got[k] - want[k]));
					worst_rows = fmax(worst_rows, fabs(rows_got[k] - want[k]));
					if (isnan(row_got[k]) || isnan(rows_got[k]))
						worst_row = INFINITY;
				}
				/* Typed rows: every other input at its mean, read sparsely */
				{
					float	   *xs = malloc(sizeof(float) * rows * in);
					float	   *centred = malloc(sizeof(float) * in);
					int		   *nz = malloc(sizeof(int) * in);
					double	   *sparse_want = malloc(sizeof(double) * rows * n_out);
					double	   *sparse_got = malloc(sizeof(double) * rows * n_out);

					for (int r = 0; r < rows; r++)
						for (int i = 0; i < in; i++)
							xs[r * in + i] = i % 2 ? (standardize ? model.mean[i] : 0.0f) :
								x[r * in + i];
					ScoreRows(&model, mode, model.alpha, mode == SCORE_SOUP ? soup : NULL, xs,
							  rows, work, sparse_want);
					for (int r = 0; r < rows; r++)
					{
						int			n_nz = 0;

						for (int i = 0; i < in; i++)
						{
							centred[i] = xs[r * in + i] - (standardize ? model.mean[i] : 0.0f);
							if (centred[i] != 0.0f)
								nz[n_nz++] = i;
						}
						ScorePlanRowSparse(&plan, mode, model.alpha, centred, nz, n_nz, plan_work,
										   sparse_got + (size_t) r * n_out);
					}
					for (int k = 0; k < rows * n_out; k++)
						worst_sparse = isnan(sparse_got[k]) ? INFINITY :
							fmax(worst_sparse, fabs(sparse_got[k] - sparse_want[k]));
					free(sparse_want);
					free(sparse_got);
					free(xs);
					free(centred);
					free(nz);
				}
				if (n_out == 1)
				{
					double		both[2][64];

					ScorePlanBlock(&plan, mode, model.alpha, x, rows, plan_work, open, commercial,
								   score);
					for (int k = 0; k < rows; k++)
						worst_block = fmax(worst_block, fabs(score[k] - want[k]));
					/* Each model's own probability, as ScoreRows gives it */
					ScoreRows(&model, SCORE_OPEN, model.alpha, NULL, x, rows, work, both[0]);
					ScoreRows(&model, SCORE_COMMERCIAL, model.alpha, NULL, x, rows, work, both[1]);
					for (int k = 0; k < rows; k++)
						worst_block = fmax(worst_block, fmax(fabs(open[k] - both[0][k]),
															 fabs(commercial[k] - both[1][k])));
				}
			}
			TapOk(worst_row < 1e-6 && worst_rows < 1e-6 && worst_block < 1e-6,
				  "scoring plan of shape %d, standardize %s, every mode: one row, rows and a block "
				  "score like ScoreRows (worst differences %.2g, %.2g, %.2g; %s)",
				  s + 1, standardize ? "on" : "off", worst_row, worst_rows, worst_block,
				  KernelsDescribe());
			TapOk(worst_sparse < 1e-6,
				  "scoring plan of shape %d, standardize %s, every mode: a half-zero centred row read "
				  "sparsely scores like ScoreRows (worst difference %.2g; %s)",
				  s + 1, standardize ? "on" : "off", worst_sparse, KernelsDescribe());
			free(storage);
			free(plan_storage);
			free(soup);
			free(x);
			free(work);
			free(plan_work);
			free(want);
			free(row_got);
			free(rows_got);
			free(open);
			free(commercial);
			free(score);
		}
}

/*
 * The checks that run the kernels: training and scoring against PyTorch,
 * the one-row product, the checksum's known answers
 */
/*
 * The backward pass as three separate steps per layer (matrix products,
 * the ReLU mask, the column sums): what MlpBackwardInputs did before it
 * fused the steps after a one-output layer, and must still give bit for bit
 */
static void
BackwardUnfused(const MlpShape *shape, const float *params, const float *x, int batch,
				const float *acts, const float *dlogits, float *grad, float *work,
				uint32_t first, uint32_t count, float *dx)
{
	int			layers = MlpLayerCount(shape);
	size_t		half = MlpBackwardWorkFloats(shape, batch) / 2;
	const float *dz = dlogits;

	for (int l = layers - 1; l >= 0; l--)
	{
		int			n_in = shape->dims[l];
		int			n_out = shape->dims[l + 1];
		const float *a_prev = l == 0 ? x : acts + MlpActivationOffset(shape, batch, l - 1);

		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, batch, 1.0f, dz,
					n_out, a_prev, n_in, 0.0f, grad + MlpWeightOffset(shape, l), n_in);
		KernelColumnSums(dz, batch, n_out, n_out, grad + MlpBiasOffset(shape, l));
		if (l == 0 && count > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, (int) count, n_out,
						1.0f, dz, n_out, params + MlpWeightOffset(shape, 0) + first, n_in,
						0.0f, dx + first, n_in);
		if (l > 0)
		{
			float	   *da = work + (l % 2) * half;

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, n_in, n_out, 1.0f,
						dz, n_out, params + MlpWeightOffset(shape, l), n_in, 0.0f, da, n_in);
			KernelReluMask(da, a_prev, (size_t) batch * n_in);
			dz = da;
		}
	}
}

/*
 * MlpBackwardInputs against BackwardUnfused, bit for bit, on shapes that
 * take the fused path (one output after 1 to 3 hidden layers of widths
 * that are not multiples of 8) and some that do not (three outputs, no
 * hidden layer), with dead units, rows whose gradient is zero (a row that
 * does not count for a model) and the inputs' gradient on a range
 */
static void
TestBackwardFused(void)
{
	static const int shapes[][6] = {
		/* n_hidden, dims... */
		{1, 5, 13, 1},
		{1, 9, 1, 1},
		{1, 3, 8, 1},
		{2, 7, 9, 3, 1},
		{3, 3, 17, 6, 11, 1},
		{1, 4, 8, 3},
		{2, 6, 10, 5, 2},
		{0, 6, 1},
	};
	static const int batches[] = {1, 2, 5, 37};
	MixrecRandom rng;
	int			ok = 1;
	char		failed[160] = "";

	RandomSeed(&rng, 11);
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++)
		{
			MlpShape	shape;
			int			batch = batches[b];
			size_t		n_params;
			float	   *params,
					   *x,
					   *acts,
					   *dlogits,
					   *grad[2],
					   *work[2],
					   *dx[2];
			int			d_in,
						d_out;

			memset(&shape, 0, sizeof(shape));
			shape.n_hidden = shapes[s][0];
			for (int i = 0; i <= shape.n_hidden + 1; i++)
				shape.dims[i] = shapes[s][1 + i];
			d_in = MlpInputDim(&shape);
			d_out = MlpOutputDim(&shape);
			n_params = MlpParamCount(&shape);
			params = malloc(sizeof(float) * n_params);
			x = malloc(sizeof(float) * batch * d_in);
			acts = malloc(sizeof(float) * MlpActivationFloats(&shape, batch));
			dlogits = malloc(sizeof(float) * batch * d_out);
			for (size_t i = 0; i < n_params; i++)
				params[i] = (float) (RandomDouble(&rng) - 0.5);
			/* A dead unit: the first hidden unit's bias far below zero */
			if (shape.n_hidden > 0)
				params[MlpBiasOffset(&shape, 0)] = -100.0f;
			for (int i = 0; i < batch * d_in; i++)
				x[i] = (float) (2 * RandomDouble(&rng) - 1);
			for (int i = 0; i < batch * d_out; i++)
				dlogits[i] = i / d_out % 4 == 3 ? 0.0f : (float) (RandomDouble(&rng) - 0.5);
			MlpForward(&shape, params, x, batch, acts);
			for (int v = 0; v < 2; v++)
			{
				grad[v] = malloc(sizeof(float) * n_params);
				work[v] = malloc(sizeof(float) * (MlpBackwardWorkFloats(&shape, batch) + 1));
				dx[v] = calloc((size_t) batch * d_in, sizeof(float));
				memset(grad[v], 0xff, sizeof(float) * n_params);
			}
			{
				uint32_t	first = 1;
				uint32_t	count = (uint32_t) d_in - 1;

				MlpBackwardInputs(&shape, params, x, batch, acts, dlogits, grad[0], work[0],
								  &first, &count, 1, dx[0]);
				BackwardUnfused(&shape, params, x, batch, acts, dlogits, grad[1], work[1],
								first, count, dx[1]);
			}
			if (memcmp(grad[0], grad[1], sizeof(float) * n_params) != 0 ||
				memcmp(dx[0], dx[1], sizeof(float) * batch * d_in) != 0)
			{
				ok = 0;
				snprintf(failed, sizeof(failed), ": differs at shape %zu, batch %d", s, batch);
			}
			for (int v = 0; v < 2; v++)
			{
				free(grad[v]);
				free(work[v]);
				free(dx[v]);
			}
			free(params);
			free(x);
			free(acts);
			free(dlogits);
		}
	TapOk(ok, "backward pass: the fused one-output path gives the unfused gradients bit for "
		  "bit, 1-3 hidden layers, odd widths, 1-3 outputs (%s)%s", KernelsDescribe(), failed);
}

/*
 * TrainStep, which runs forward, loss term, backward and Adam one model
 * after the other, against the order it replaced (both forwards, the
 * blended loss, then each backward and Adam step, through the unfused
 * backward pass), bit for bit over five steps: sample weights, rows that
 * count for one model only, widths that are not multiples of 8, one to
 * three hidden layers, one or three outputs, and a last batch of one row
 */
static void
TestTrainStepOrder(void)
{
	static const int shapes[][6] = {
		/* n_hidden, dims... */
		{1, 5, 13, 1},
		{2, 7, 9, 3, 1},
		{3, 3, 17, 6, 11, 1},
		{1, 4, 8, 3},
	};
	int			ok = 1;
	char		failed[96] = "";

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
	{
		MixrecModel model;
		MlpShape	shape;
		int			batch = 11;
		int			steps = 5;
		int			rows = batch * (steps - 1) + 1;
		float	   *storage;
		size_t		n_params;
		float	   *ref_params[2],
				   *ref_m[2],
				   *ref_v[2],
				   *acts[2],
				   *dlogits[2],
				   *grad,
				   *backward,
				   *x,
				   *y,
				   *w;
		unsigned char *o,
				   *c;
		uint32_t   *order;
		TrainWork	tw;
		TrainData	data;
		int64_t		ref_step = 0;
		int			d_in,
					d_out;

		memset(&model, 0, sizeof(model));
		memset(&shape, 0, sizeof(shape));
		shape.n_hidden = shapes[s][0];
		for (int i = 0; i <= shape.n_hidden + 1; i++)
			shape.dims[i] = shapes[s][1 + i];
		model.shape = shape;
		model.alpha = 0.3;
		model.flags = MIXREC_FLAG_OPTIMIZER;
		storage = calloc(ModelFloatCount(&model), sizeof(float));
		ModelBindStorage(&model, storage);
		ModelInitParams(&model, 17 + s, MODEL_INIT_INDEPENDENT);
		model.adam = AdamDefaults();
		model.adam.lr = 0.01;
		d_in = MlpInputDim(&shape);
		d_out = MlpOutputDim(&shape);
		n_params = MlpParamCount(&shape);

		x = malloc(sizeof(float) * rows * d_in);
		y = malloc(sizeof(float) * rows * d_out);
		w = malloc(sizeof(float) * rows);
		o = malloc(rows);
		c = malloc(rows);
		order = malloc(sizeof(uint32_t) * rows);
		for (int r = 0; r < rows; r++)
		{
			for (int i = 0; i < d_in; i++)
				x[r * d_in + i] = (float) sin(r * 0.7 + i * 1.3);
			for (int k = 0; k < d_out; k++)
				y[r * d_out + k] = (r + k) % 3 == 0 ? 1.0f : 0.0f;
			w[r] = 0.5f + (r % 3) * 0.5f;
			o[r] = r % 4 != 0;
			c[r] = r % 4 != 1;
			order[r] = (uint32_t) ((r * 7) % rows);
		}
		data.input_dim = d_in;
		data.output_dim = d_out;
		data.rows = (size_t) rows;
		data.x = x;
		data.y = y;
		data.w = w;
		data.o = o;
		data.c = c;
		TrainWorkBind(&tw, &model, batch, malloc(sizeof(float) * TrainWorkFloats(&model, batch)),
					  malloc(TrainWorkBytes(&model, batch)));

		for (int k = 0; k < 2; k++)
		{
			ref_params[k] = malloc(sizeof(float) * n_params);
			ref_m[k] = calloc(n_params, sizeof(float));
			ref_v[k] = calloc(n_params, sizeof(float));
			memcpy(ref_params[k], model.params[k], sizeof(float) * n_params);
			acts[k] = malloc(sizeof(float) * MlpActivationFloats(&shape, batch));
			dlogits[k] = malloc(sizeof(float) * batch * d_out);
		}
		grad = malloc(sizeof(float) * n_params);
		backward = malloc(sizeof(float) * (MlpBackwardWorkFloats(&shape, batch) + 1));

		for (int first = 0; first < rows; first += batch)
		{
			int			n = rows - first < batch ? rows - first : batch;
			float	   *bx = malloc(sizeof(float) * n * d_in);
			float	   *by = malloc(sizeof(float) * n * d_out);
			float	   *bw = malloc(sizeof(float) * n);
			unsigned char *bo = malloc(n);
			unsigned char *bc = malloc(n);
			LossBatch	lb = {n, d_out, by, bw, bo, bc};
			LossValue	got,
						want;

			got = TrainStep(&model, &data, order + first, n, &tw);

			/* The reference, on the same rows gathered by hand */
			for (int i = 0; i < n; i++)
			{
				uint32_t	r = order[first + i];

				memcpy(bx + i * d_in, x + r * d_in, sizeof(float) * d_in);
				memcpy(by + i * d_out, y + r * d_out, sizeof(float) * d_out);
				bw[i] = w[r];
				bo[i] = o[r];
				bc[i] = c[r];
			}
			for (int k = 0; k < 2; k++)
				MlpForward(&shape, ref_params[k], bx, n, acts[k]);
			want = LossBlended(model.alpha, &lb, MlpLogits(&shape, acts[0], n),
							   MlpLogits(&shape, acts[1], n), dlogits[0], dlogits[1]);
			ref_step++;
			for (int k = 0; k < 2; k++)
			{
				BackwardUnfused(&shape, ref_params[k], bx, n, acts[k], dlogits[k], grad, backward,
								0, 0, NULL);
				AdamStep(&model.adam, ref_step, ref_params[k], grad, ref_m[k], ref_v[k], n_params);
			}
			if (memcmp(&got, &want, sizeof(got)) != 0 ||
				memcmp(model.params[0], ref_params[0], sizeof(float) * n_params) != 0 ||
				memcmp(model.params[1], ref_params[1], sizeof(float) * n_params) != 0 ||
				memcmp(model.m[1], ref_m[1], sizeof(float) * n_params) != 0 ||
				memcmp(model.v[1], ref_v[1], sizeof(float) * n_params) != 0)
			{
				ok = 0;
				snprintf(failed, sizeof(failed), ": differs at shape %zu, rows %d..%d", s, first,
						 first + n - 1);
			}
			free(bx);
			free(by);
			free(bw);
			free(bo);
			free(bc);
		}
		for (int k = 0; k < 2; k++)
		{
			free(ref_params[k]);
			free(ref_m[k]);
			free(ref_v[k]);
			free(acts[k]);
			free(dlogits[k]);
		}
		free(grad);
		free(backward);
		free(tw.x);
		free(tw.o);
		free(storage);
		free(x);
		free(y);
		free(w);
		free(o);
		free(c);
		free(order);
	}
	TapOk(ok, "TrainStep, model after model, gives the previous order's loss, parameters and "
		  "moments bit for bit, with weights, domain flags, odd widths, 1-3 hidden layers, 1 or "
		  "3 outputs (%s)%s", KernelsDescribe(), failed);
}

static void
TestKernelChecks(const char *const *cases)
{
	TestTrainStepOrder();
	TestBackwardFused();
	for (int i = 0; i < 4; i++)
		TestTrainingCase(cases[i]);
	for (int i = 0; i < 4; i++)
		TestTrainStepCase(cases[i]);
	for (int i = 0; i < 4; i++)
		TestScoringCase(cases[i]);
	TestEmbedTorch();
	TestMatVec();
	TestSparseScoring();
	TestScorePlan();
	TapOk(Crc32c("123456789", 9) == UINT32_C(0xE3069283) &&
		  Crc32c("0123456789abcdef0123456789abcdef!", 33) == Crc32cFinish(
			Crc32cUpdate(Crc32cUpdate(Crc32cStart(), "0123456789abcdef0", 17),
						 "123456789abcdef!", 16)),
		  "CRC-32C known answer, and in pieces across the 8-byte steps (%s)", KernelsDescribe());
}

/*
 * An embedded column's input names a row of its table; any other value
 * (negative, fractional, too large, not a number, infinite), which only a
 * forged input can hold, reads the out-of-vocabulary row, never outside
 * the table; the column's other inputs are replaced, whatever they hold
 */
static void
TestEmbedRows(void)
{
	/* A table of 4 rows (2 entries, out of vocabulary, NULL) of 2 numbers */
	TransformEmbedding e = {0, 1, 2, 4};
	static const float forged[] = {-1.0f, 2.5f, 1e30f, -1e30f, 4.0f, 16777216.0f, 3.5f};
	int			ok = 1;
	MixrecModel model;
	float		params[5 + 8];
	float		x[4];
	float		out[4];

	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++)
		ok &= ModelEmbedRow(&e, forged[i]) == 2;
	ok &= ModelEmbedRow(&e, NAN) == 2 && ModelEmbedRow(&e, INFINITY) == 2 &&
		ModelEmbedRow(&e, -INFINITY) == 2;
	TapOk(ok, "embedding rows: NaN, infinities, -1, 2.5, 1e30, the row count and beyond read the out-of-vocabulary row");
	TapOk(ModelEmbedRow(&e, 0.0f) == 0 && ModelEmbedRow(&e, -0.0f) == 0 &&
		  ModelEmbedRow(&e, 1.0f) == 1 && ModelEmbedRow(&e, 2.0f) == 2 &&
		  ModelEmbedRow(&e, 3.0f) == 3,
		  "embedding rows: the entries, the out-of-vocabulary row and the NULL row by number");

	/* Inputs [a, row, (replaced), b] of a model with no hidden layer */
	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = 0;
	model.shape.dims[0] = 4;
	model.shape.dims[1] = 1;
	model.n_embed = 1;
	model.embed[0] = e;
	model.embed_floats = 8;
	for (int i = 0; i < 13; i++)
		params[i] = (float) (100 + i);
	ok = 1;
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]) + 1; i++)
	{
		x[0] = 7.0f;
		x[1] = i < sizeof(forged) / sizeof(forged[0]) ? forged[i] : NAN;
		x[2] = NAN;
		x[3] = 8.0f;
		ModelEmbedInputs(&model, params, x, 1, out);
		/* Row 2 of the table, which starts after the 5 MLP parameters */
		ok &= out[0] == 7.0f && out[1] == params[5 + 4] && out[2] == params[5 + 5] &&
			out[3] == 8.0f;
	}
	TapOk(ok, "embedded inputs: a forged row number reads the out-of-vocabulary row, the column's other inputs are replaced");
}

/*
 * A random model for the explanation tests: d inputs, the given hidden
 * layers, one output; the caller frees storage
 */
static MixrecModel
ExplainTestModel(int d, int n_hidden, const int *hidden, uint64_t seed, float **storage)
{
	MixrecModel model;

	memset(&model, 0, sizeof(model));
	model.shape.n_hidden = n_hidden;
	model.shape.dims[0] = d;
	for (int l = 0; l < n_hidden; l++)
		model.shape.dims[l + 1] = hidden[l];
	model.shape.dims[n_hidden + 1] = 1;
	model.alpha = 0.3;
	*storage = calloc(ModelFloatCount(&model), sizeof(float));
	ModelBindStorage(&model, *storage);
	ModelInitParams(&model, seed, MODEL_INIT_INDEPENDENT);
	return model;
}

/*
 * The probability of output 0 of one row, scored directly (ScoreRows)
 */
static double
ExplainTestScore(const MixrecModel *model, int k, const float *x)
{
	float	   *work = malloc(sizeof(float) * ScoreWorkFloats(model, 1));
	double		p;

	ScoreRows(model, k == MIXREC_OPEN ? SCORE_OPEN : SCORE_COMMERCIAL, model->alpha, NULL, x, 1,
			  work, &p);
	free(work);
	return p;
}

/*
 * Attributions summed over groups, less p(x) - p(baseline): IG's error
 */
static double
ExplainTestCompleteness(const MixrecModel *model, int k, int steps, const float *x,
						const float *baseline, const uint32_t *group, int n_groups)
{
	float	   *work = malloc(sizeof(float) *
							  ExplainWorkFloats(model, EXPLAIN_INTEGRATED_GRADIENTS, steps, n_groups));
	double	   *attr = malloc(sizeof(double) * n_groups);
	double		p;
	double		pb;
	double		sum = 0.0;

	ExplainRow(model, model->params[k], EXPLAIN_INTEGRATED_GRADIENTS, steps, x, baseline, group,
			   n_groups, work, attr, &p, &pb);
	for (int g = 0; g < n_groups; g++)
		sum += attr[g];
	free(work);
	free(attr);
	return fabs(sum - (p - pb));
}

/*
 * Input gradients, gradient times input, occlusion and integrated
 * gradients of an MLP with and without hidden layers
 */
static void
TestExplainMlp(int n_hidden)
{
	enum
	{
		D = 6, GROUPS = 3
	};
	static const int hidden[] = {16, 8};
	static const uint32_t pairs[D] = {0, 0, 1, 1, 2, 2};
	uint32_t	identity[D];
	float	   *storage;
	MixrecModel model = ExplainTestModel(D, n_hidden, hidden, 11 + n_hidden, &storage);
	MixrecRandom rng;
	float		x[D];
	float		baseline[D];
	float		dz[D];
	double		fd[D];
	double		grad[D];
	double		p;
	const double eps = 1e-3;
	float	   *work;
	double		attr[D];
	double		want[D];
	double		prob;
	double		baseline_prob;
	double		errors[3];
	static const int steps[3] = {4, 40, 400};
	size_t		where;

	RandomSeed(&rng, 99 + n_hidden);
	for (int i = 0; i < D; i++)
	{
		/* Large inputs, so that the MLP is far from linear on the path */
		x[i] = (float) (6.0 * RandomDouble(&rng) - 3.0);
		identity[i] = (uint32_t) i;
	}
	ExplainBaseline(&model, baseline);
	TapOk(baseline[0] == 0.0f && baseline[D - 1] == 0.0f,
		  "explain, %d hidden layers: the baseline of a model without embeddings is 0", n_hidden);

	/* The input gradient against central differences of the probability */
	work = malloc(sizeof(float) * ExplainGradientFloats(&model.shape, 1));
	ExplainGradient(&model.shape, model.params[MIXREC_COMMERCIAL], x, 1, work, &p, dz);
	for (int i = 0; i < D; i++)
	{
		float		xp[D];
		float		xm[D];

		memcpy(xp, x, sizeof(x));
		memcpy(xm, x, sizeof(x));
		xp[i] += (float) eps;
		xm[i] -= (float) eps;
		/* the steps as float rounds them, so divide by the true distance */
		fd[i] = (ExplainTestScore(&model, MIXREC_COMMERCIAL, xp) -
				 ExplainTestScore(&model, MIXREC_COMMERCIAL, xm)) / ((double) xp[i] - xm[i]);
		grad[i] = dz[i];
	}
	free(work);
	TapOk(fabs(p - ExplainTestScore(&model, MIXREC_COMMERCIAL, x)) < 1e-6 &&
		  TapWorstExcess(grad, fd, D, 1e-3, 1e-4, &where) <= 0.0,
		  "explain, %d hidden layers: the input gradient of the probability matches central differences (eps 1e-3)",
		  n_hidden);

	/* Gradient times input, against the differences */
	work = malloc(sizeof(float) * ExplainWorkFloats(&model, EXPLAIN_GRADIENT_TIMES_INPUT, 1, D));
	ExplainRow(&model, model.params[MIXREC_COMMERCIAL], EXPLAIN_GRADIENT_TIMES_INPUT, 1, x,
			   baseline, identity, D, work, attr, &prob, &baseline_prob);
	free(work);
	for (int i = 0; i < D; i++)
		want[i] = ((double) x[i] - baseline[i]) * fd[i];
	TapOk(TapWorstExcess(attr, want, D, 1e-3, 1e-4, &where) <= 0.0 &&
		  fabs(prob - p) < 1e-6 &&
		  fabs(baseline_prob - ExplainTestScore(&model, MIXREC_COMMERCIAL, baseline)) < 1e-6,
		  "explain, %d hidden layers: gradient times input is (x - baseline) times the differences' gradient",
		  n_hidden);

	/* Occlusion of pairs of inputs, against scoring the occluded rows */
	work = malloc(sizeof(float) * ExplainWorkFloats(&model, EXPLAIN_OCCLUSION, 1, GROUPS));
	ExplainRow(&model, model.params[MIXREC_OPEN], EXPLAIN_OCCLUSION, 1, x, baseline, pairs,
			   GROUPS, work, attr, &prob, &baseline_prob);
	free(work);
	for (int g = 0; g < GROUPS; g++)
	{
		float		occluded[D];

		memcpy(occluded, x, sizeof(x));
		occluded[2 * g] = baseline[2 * g];
		occluded[2 * g + 1] = baseline[2 * g + 1];
		want[g] = ExplainTestScore(&model, MIXREC_OPEN, x) -
			ExplainTestScore(&model, MIXREC_OPEN, occluded);
	}
	TapOk(TapWorstExcess(attr, want, GROUPS, 1e-5, 1e-6, &where) <= 0.0,
		  "explain, %d hidden layers: occlusion is p(x) - p(x with the group's inputs at the baseline)",
		  n_hidden);

	/* Completeness of integrated gradients, per input and per group */
	for (int s = 0; s < 3; s++)
		errors[s] = ExplainTestCompleteness(&model, MIXREC_OPEN, steps[s], x, baseline, identity, D);
	TapDiag("integrated gradients' completeness error at 4, 40, 400 steps: %.3g %.3g %.3g",
			errors[0], errors[1], errors[2]);
	TapOk(ExplainTestCompleteness(&model, MIXREC_OPEN, 200, x, baseline, identity, D) < 1e-3 &&
		  ExplainTestCompleteness(&model, MIXREC_OPEN, 200, x, baseline, pairs, GROUPS) < 1e-3,
		  "explain, %d hidden layers: integrated gradients over 200 steps sum to p(x) - p(baseline) within 1e-3",
		  n_hidden);
	TapOk(errors[2] < errors[0] && errors[1] < errors[0] && errors[2] < 1e-4,
		  "explain, %d hidden layers: integrated gradients' completeness error shrinks as steps grow",
		  n_hidden);
	free(storage);
}

/*
 * Integrated gradients of a model with embedded columns: its baseline
 * takes each embedded column's NULL row, and the attributions, in each
 * model's embedded inputs, still sum to p(x) - p(baseline)
 */
static void
TestExplainEmbedded(void)
{
	float	   *storage;
	uint8_t    *section;
	size_t		len;
	void	   *memory;
	MixrecModel model = EmbedModel(0, 0, &storage, &section, &len, &memory);
	int			d = MlpInputDim(&model.shape);
	float	   *x = calloc(d, sizeof(float));
	float	   *baseline = malloc(sizeof(float) * d);
	uint32_t   *group = malloc(sizeof(uint32_t) * d);
	int			baseline_ok = 1;
	double		worst = 0.0;

	ExplainBaseline(&model, baseline);
	for (int i = 0; i < d; i++)
	{
		x[i] = (float) (0.5 * (i % 5) - 1.0);
		group[i] = (uint32_t) i;
	}
	for (uint32_t t = 0; t < model.n_embed; t++)
	{
		const TransformEmbedding *e = &model.embed[t];

		baseline_ok &= baseline[e->position] == (float) (e->rows - 1);
		x[e->position] = 1.0f;
		for (uint32_t j = 1; j < e->dim; j++)
			x[e->position + j] = 0.0f;
		/* the column's inputs are one group */
		for (uint32_t j = 0; j < e->dim; j++)
			group[e->position + j] = e->position;
	}
	TapOk(model.n_embed == 2 && baseline_ok,
		  "explain: an embedded column's baseline is its NULL row");
	for (int k = 0; k < MIXREC_MODELS; k++)
		worst = fmax(worst, ExplainTestCompleteness(&model, k, 200, x, baseline, group, d));
	TapOk(worst < 1e-3,
		  "explain: integrated gradients of both models with embeddings sum to p(x) - p(baseline) within 1e-3 (%.2g)",
		  worst);
	free(x);
	free(baseline);
	free(group);
	free(storage);
	free(section);
	free(memory);
}

/*
 * Explanations of single rows
 */
static void
TestExplain(void)
{
	TapOk(ExplainMethodFromName("integrated_gradients") == EXPLAIN_INTEGRATED_GRADIENTS &&
		  ExplainMethodFromName("gradient_times_input") == EXPLAIN_GRADIENT_TIMES_INPUT &&
		  ExplainMethodFromName("occlusion") == EXPLAIN_OCCLUSION &&
		  ExplainMethodFromName("shap") == -1,
		  "explain: method names parse");
	TestExplainMlp(0);
	TestExplainMlp(2);
	TestExplainEmbedded();
}

int
main(int argc, char **argv)
{
	Fixture		fixture;
	Fixture		embed_fixture;
	static const char *const cases[] = {"case1", "case2", "case3", "case4"};
	char		dir[1024];
	char		embed_path[1100];

	if (argc < 2 || FixtureLoad(&fixture, argv[1]) != 0)
	{
		printf("Bail out! cannot read the fixture file %s\n", argc > 1 ? argv[1] : "(none)");
		return 1;
	}
	fx = &fixture;
	{
		const char *slash = strrchr(argv[1], '/');

		snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash - argv[1]) : 1,
				 slash ? argv[1] : ".");
	}
	snprintf(embed_path, sizeof(embed_path), "%s/embed_reference.txt", dir);
	if (FixtureLoad(&embed_fixture, embed_path) != 0)
	{
		printf("Bail out! cannot read the fixture file %s\n", embed_path);
		return 1;
	}
	efx = &embed_fixture;

	unsetenv("MIXREC_NO_SIMD");
	KernelsInit();
	TapDiag("kernels: %s", KernelsDescribe());
	TestKernelChecks(cases);
	TestEvalMetrics(dir);
	TestStandardize();
	TestKnownAnswers();
	TestFormat();
	TestFormatVersion2();
	TestInit();
	TestShapeLimits();
	TestLossEdges();
	TestTransformRoundTrip();
	TestTransformEncode();
	TestTransformLargeVocabulary();
	TestTransformBuildErrors();
	TestTransformCheck();
	TestFitStates();
	TestFitStatePartitions();
	TestCancelHook();
	TestFitStateTransform();
	TestEmbedRows();
	TestEmbedRow();
	TestEmbedFormat();
	TestEmbedLimits();
	TestEmbedInit();
	TestExplain();

	/* The same kernel checks with dispatch switched off */
	setenv("MIXREC_NO_SIMD", "1", 1);
	KernelsInit();
	TapOk(strstr(KernelsDescribe(), "MIXREC_NO_SIMD") != NULL &&
		  strstr(KernelsDescribe(), "table crc32") != NULL,
		  "MIXREC_NO_SIMD=1 keeps every kernel portable: %s", KernelsDescribe());
	TestKernelChecks(cases);
	unsetenv("MIXREC_NO_SIMD");
	KernelsInit();

	FixtureFree(&embed_fixture);
	FixtureFree(&fixture);
	return TapDone();
}

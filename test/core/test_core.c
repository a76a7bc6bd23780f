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
 * torch_reference.txt (see test/torch/make_eval_fixture.py).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "mixrec/adam.h"
#include "mixrec/crc32c.h"
#include "mixrec/fit.h"
#include "mixrec/kernels.h"
#include "mixrec/loss.h"
#include "mixrec/metrics.h"
#include "mixrec/mlp.h"
#include "mixrec/model.h"
#include "mixrec/predict.h"
#include "mixrec/random.h"
#include "mixrec/standardize.h"
#include "mixrec/train.h"
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
	storage = calloc(ModelFloatCount(&model.shape, model.flags), sizeof(float));
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
	work_floats = malloc(sizeof(float) * TrainWorkFloats(&model.shape, batch));
	work_bytes = malloc(TrainWorkBytes(batch));
	TrainWorkBind(&work, &model.shape, batch, work_floats, work_bytes);
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
	storage = malloc(ModelFloatCount(&model.shape, 0) * sizeof(float));
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
	*storage = calloc(ModelFloatCount(&model.shape, flags), sizeof(float));
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
	*storage = malloc(ModelFloatCount(&out->shape, out->flags) * sizeof(float));
	ModelBindStorage(out, *storage);
	return ModelDecodeArrays(blob, len, out, err);
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
		int			all_rejected = 1;

		ModelEncode(&model, blob);

		for (size_t cut = 0; cut < len; cut++)
		{
			if (Decode(blob, cut, &copy, &storage2, &err) == MIXREC_OK)
				all_rejected = 0;
			free(storage2);
		}
		TapOk(all_rejected, "every truncation of a %zu-byte model is rejected", len);

		all_rejected = 1;
		for (size_t bit = 0; bit < 8 * len; bit++)
		{
			memcpy(bad, blob, len);
			bad[bit / 8] ^= (uint8_t) (1 << (bit % 8));
			if (Decode(bad, len, &copy, &storage2, &err) == MIXREC_OK)
				all_rejected = 0;
			free(storage2);
		}
		TapOk(all_rejected, "every single bit flip is rejected");

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
		bad[4] = 2;
		Reseal(bad, len);
		TapOk(Decode(bad, len, &copy, &storage2, &err) == MIXREC_ERR_CORRUPT &&
			  strstr(err.message, "version 2") != NULL, "a future format version is rejected: %s",
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
			size_t		header = len - 4 - 4 * ModelFloatCount(&model.shape, model.flags);
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
	sa = malloc(ModelFloatCount(&a.shape, 0) * sizeof(float));
	sb = malloc(ModelFloatCount(&b.shape, 0) * sizeof(float));
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
	*storage = FitAlloc(sizeof(float) * ModelFloatCount(&model.shape, model.flags));
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
FitTrainWork(TrainWork *tw, const MlpShape *shape)
{
	TrainWorkBind(tw, shape, 4, FitAlloc(sizeof(float) * TrainWorkFloats(shape, 4)),
				  FitAlloc(TrainWorkBytes(4)));
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
	if (FitStateCreate(bytes, *len, model, batch, pool_batches, flags, seed, &err) != MIXREC_OK)
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
	FitTrainWork(&tw, &model.shape);
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
	FitTrainWork(&tw, &reference.shape);
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
			s4 = FitAlloc(sizeof(float) * ModelFloatCount(&wide.shape, wide.flags));
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
	storage = malloc(sizeof(float) * ModelFloatCount(&model.shape, 0));
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
 * The checks that run the kernels: training and scoring against PyTorch,
 * the one-row product, the checksum's known answers
 */
static void
TestKernelChecks(const char *const *cases)
{
	for (int i = 0; i < 4; i++)
		TestTrainingCase(cases[i]);
	for (int i = 0; i < 4; i++)
		TestTrainStepCase(cases[i]);
	for (int i = 0; i < 4; i++)
		TestScoringCase(cases[i]);
	TestMatVec();
	TapOk(Crc32c("123456789", 9) == UINT32_C(0xE3069283) &&
		  Crc32c("0123456789abcdef0123456789abcdef!", 33) == Crc32cFinish(
			Crc32cUpdate(Crc32cUpdate(Crc32cStart(), "0123456789abcdef0", 17),
						 "123456789abcdef!", 16)),
		  "CRC-32C known answer, and in pieces across the 8-byte steps (%s)", KernelsDescribe());
}

int
main(int argc, char **argv)
{
	Fixture		fixture;
	static const char *const cases[] = {"case1", "case2", "case3", "case4"};

	if (argc < 2 || FixtureLoad(&fixture, argv[1]) != 0)
	{
		printf("Bail out! cannot read the fixture file %s\n", argc > 1 ? argv[1] : "(none)");
		return 1;
	}
	fx = &fixture;

	unsetenv("MIXREC_NO_SIMD");
	KernelsInit();
	TapDiag("kernels: %s", KernelsDescribe());
	TestKernelChecks(cases);
	{
		char		dir[1024];
		const char *slash = strrchr(argv[1], '/');

		snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash - argv[1]) : 1,
				 slash ? argv[1] : ".");
		TestEvalMetrics(dir);
	}
	TestStandardize();
	TestKnownAnswers();
	TestFormat();
	TestInit();
	TestShapeLimits();
	TestLossEdges();
	TestFitStates();
	TestCancelHook();

	/* The same kernel checks with dispatch switched off */
	setenv("MIXREC_NO_SIMD", "1", 1);
	KernelsInit();
	TapOk(strstr(KernelsDescribe(), "MIXREC_NO_SIMD") != NULL &&
		  strstr(KernelsDescribe(), "table crc32") != NULL,
		  "MIXREC_NO_SIMD=1 keeps every kernel portable: %s", KernelsDescribe());
	TestKernelChecks(cases);
	unsetenv("MIXREC_NO_SIMD");
	KernelsInit();

	FixtureFree(&fixture);
	return TapDone();
}

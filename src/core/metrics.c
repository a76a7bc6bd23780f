/*
 * src/core/metrics.c
 *	  Evaluation metrics: log loss, accuracy, ROC AUC, and precision,
 *	  recall and NDCG at k over users.
 *
 * Each follows scikit-learn (see include/mixrec/metrics.h and the
 * fixture test/fixtures/eval_cases.jsonl, made by
 * test/torch/make_eval_fixture.py).  The metrics sort with the core's heap
 * sort (include/mixrec/sort.h), which needs no allocation and no state
 * outside its arguments.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mixrec/metrics.h"
#include "mixrec/sort.h"

/* What orders the rows of MetricRankingAtK */
typedef struct RankOrder
{
	const char *const *users;
	const double *scores;
	uint32_t   *rows;			/* what is sorted */
} RankOrder;

static int	PairBefore(const void *items, size_t i, size_t j);
static void PairSwap(void *items, size_t i, size_t j);
static int	RowOrderBefore(const void *items, size_t i, size_t j);
static void RowSwap(void *items, size_t i, size_t j);
static int	LargerBefore(const void *items, size_t i, size_t j);
static void DoubleSwap(void *items, size_t i, size_t j);
static int	RowBefore(const RankOrder *order, uint32_t a, uint32_t b);

/*
 * Compute the mean log loss of clipped probabilities
 */
double
MetricLogLoss(const double *p, const double *y, const unsigned char *include, size_t n,
			  size_t *counted)
{
	double		sum = 0;
	size_t		m = 0;

	for (size_t r = 0; r < n; r++)
	{
		double		q;

		if (include && !include[r])
			continue;
		q = fmin(fmax(p[r], DBL_EPSILON), 1.0 - DBL_EPSILON);
		sum -= y[r] * log(q) + (1.0 - y[r]) * log(1.0 - q);
		m++;
	}
	*counted = m;
	return m > 0 ? sum / m : NAN;
}

/*
 * Compute the share of rows classified right at the threshold 0.5
 */
double
MetricAccuracy(const double *p, const double *y, const unsigned char *include, size_t n)
{
	size_t		right = 0;
	size_t		m = 0;

	for (size_t r = 0; r < n; r++)
	{
		if (include && !include[r])
			continue;
		right += (p[r] >= 0.5) == (y[r] >= 0.5);
		m++;
	}
	return m > 0 ? (double) right / m : NAN;
}

/* (score, label) pairs, smallest score first: ties may be in any order */
static int
PairBefore(const void *items, size_t i, size_t j)
{
	const double *pairs = items;

	return pairs[2 * i] < pairs[2 * j];
}

static void
PairSwap(void *items, size_t i, size_t j)
{
	double	   *pairs = items;

	for (int k = 0; k < 2; k++)
	{
		double		swap = pairs[2 * i + k];

		pairs[2 * i + k] = pairs[2 * j + k];
		pairs[2 * j + k] = swap;
	}
}

/* Row numbers, in RowBefore order */
static int
RowOrderBefore(const void *items, size_t i, size_t j)
{
	const RankOrder *order = items;

	return RowBefore(order, order->rows[i], order->rows[j]);
}

static void
RowSwap(void *items, size_t i, size_t j)
{
	uint32_t   *rows = ((RankOrder *) items)->rows;
	uint32_t	swap = rows[i];

	rows[i] = rows[j];
	rows[j] = swap;
}

/* Doubles, largest first */
static int
LargerBefore(const void *items, size_t i, size_t j)
{
	const double *values = items;

	return values[i] > values[j];
}

static void
DoubleSwap(void *items, size_t i, size_t j)
{
	double	   *values = items;
	double		swap = values[i];

	values[i] = values[j];
	values[j] = swap;
}

/*
 * Compute the exact ROC AUC with ties counted half
 */
double
MetricAuc(const double *scores, const unsigned char *positive,
		  const unsigned char *include, size_t n, double *pairs)
{
	size_t		m = 0;
	double		n_pos = 0;
	double		n_neg;
	double		rank_sum = 0;

	for (size_t i = 0; i < n; i++)
		if (include == NULL || include[i])
		{
			pairs[2 * m] = scores[i];
			pairs[2 * m + 1] = positive[i] ? 1.0 : 0.0;
			n_pos += pairs[2 * m + 1];
			m++;
		}
	n_neg = m - n_pos;
	if (n_pos == 0 || n_neg == 0)
		return NAN;

	HeapSort(pairs, m, PairBefore, PairSwap);

	/* Sum the positives' ranks (1-based), giving tied scores their mean rank */
	for (size_t i = 0; i < m;)
	{
		size_t		j = i;
		double		positives = 0;

		while (j < m && pairs[2 * j] == pairs[2 * i])
		{
			positives += pairs[2 * j + 1];
			j++;
		}
		rank_sum += positives * (i + 1 + j) / 2.0;
		i = j;
	}
	return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg);
}

/*
 * Compute the DCG at k of items in score order, tied scores sharing the
 * average gain of their group
 */
double
MetricTieAveragedDcg(const double *gain, const double *score, int n, int k)
{
	double		dcg = 0;

	for (int first = 0; first < n && first < k;)
	{
		int			last = first;
		double		group_gain = 0;
		double		discount = 0;

		while (last < n && score[last] == score[first])
			group_gain += gain[last++];
		for (int pos = first; pos < last && pos < k; pos++)
			discount += 1.0 / log2(pos + 2.0);
		dcg += group_gain / (last - first) * discount;
		first = last;
	}
	return dcg;
}

/*
 * Does row a come before row b: by user, then score (best first), then
 * row number?
 */
static int
RowBefore(const RankOrder *order, uint32_t a, uint32_t b)
{
	int			cmp = strcmp(order->users[a], order->users[b]);

	if (cmp != 0)
		return cmp < 0;
	if (order->scores[a] != order->scores[b])
		return order->scores[a] > order->scores[b];
	return a < b;
}

/*
 * Size the scratch of MetricRankingAtK: gains, scores and ideal gains of
 * one user, and the row order
 */
size_t
MetricRankingScratchBytes(size_t n)
{
	return n * (3 * sizeof(double) + sizeof(uint32_t));
}

/*
 * Compute precision, recall and NDCG at k over users
 */
MetricRanking
MetricRankingAtK(const char *const *users, const double *y, const double *p, size_t n, int k,
				 void *scratch, MixrecCancelHook cancel)
{
	double	   *gain = scratch;
	double	   *score = gain + n;
	double	   *ideal = score + n;
	uint32_t   *rows = (uint32_t *) (ideal + n);
	RankOrder	order = {users, p, rows};
	double		precision_sum = 0;
	double		recall_sum = 0;
	double		ndcg_sum = 0;
	size_t		with_positives = 0;
	MetricRanking result;

	for (size_t r = 0; r < n; r++)
		rows[r] = (uint32_t) r;
	HeapSort(&order, n, RowOrderBefore, RowSwap);

	result.users = 0;
	for (size_t first = 0; first < n;)
	{
		size_t		last = first;
		int			count;
		int			hits = 0;
		int			positives = 0;
		double		ideal_dcg;

		if (cancel)
			cancel();
		while (last < n && strcmp(users[rows[last]], users[rows[first]]) == 0)
			last++;
		count = (int) (last - first);
		for (int i = 0; i < count; i++)
		{
			uint32_t	r = rows[first + i];

			gain[i] = y[r];
			score[i] = p[r];
			ideal[i] = y[r];
			positives += y[r] >= 0.5;
			if (i < k && y[r] >= 0.5)
				hits++;
		}
		precision_sum += (double) hits / k;
		if (positives > 0)
		{
			recall_sum += (double) hits / positives;
			with_positives++;
		}

		/* The ideal order: gains best first, without ties to average */
		HeapSort(ideal, count, LargerBefore, DoubleSwap);
		ideal_dcg = 0;
		for (int i = 0; i < count && i < k; i++)
			ideal_dcg += ideal[i] / log2(i + 2.0);
		if (ideal_dcg > 0)
			ndcg_sum += MetricTieAveragedDcg(gain, score, count, k) / ideal_dcg;

		result.users++;
		first = last;
	}
	result.precision = result.users > 0 ? precision_sum / result.users : NAN;
	result.recall = with_positives > 0 ? recall_sum / with_positives : NAN;
	result.ndcg = result.users > 0 ? ndcg_sum / result.users : NAN;
	return result;
}

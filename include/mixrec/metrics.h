/*
 * include/mixrec/metrics.h
 *	  Evaluation metrics of probabilities against labels, as scikit-learn
 *	  computes them.
 *
 * Every function reads plain arrays of n rows; include (or NULL: every
 * row) says which rows count.  A label y counts as positive when y >= 0.5.
 * Scratch space comes from the caller, sized by the *ScratchBytes
 * functions; nothing is allocated.
 */
#ifndef MIXREC_METRICS_H
#define MIXREC_METRICS_H

#include <stddef.h>

#include "mixrec/status.h"

/*
 * Mean log loss with probabilities clipped to [eps, 1 - eps], eps the
 * float64 epsilon (sklearn.metrics.log_loss); *counted is the number of
 * rows that count; NaN without any
 */
extern double MetricLogLoss(const double *p, const double *y, const unsigned char *include,
							size_t n, size_t *counted);

/* Share of rows where (p >= 0.5) = (y >= 0.5); NaN without any row */
extern double MetricAccuracy(const double *p, const double *y, const unsigned char *include,
							 size_t n);

/*
 * Exact ROC AUC of scores against binary labels, ties counted half (the
 * Mann-Whitney statistic); NaN without both classes.  pairs is scratch of
 * 2n doubles.
 */
extern double MetricAuc(const double *scores, const unsigned char *positive,
						const unsigned char *include, size_t n, double *pairs);

/*
 * DCG at k of n items listed in score order (best first): gain[i] over
 * 1/log2(i + 2), tied scores sharing the average gain of their group
 * (scikit-learn's _tie_averaged_dcg)
 */
extern double MetricTieAveragedDcg(const double *gain, const double *score, int n, int k);

/* Ranking metrics at k over users, each user's rows ranked by probability */
typedef struct MetricRanking
{
	double		precision;		/* mean over users of (positives in the top k) / k */
	double		recall;			/* mean over users with a positive of
								 * (positives in the top k) / (their positives);
								 * NaN without such a user */
	double		ndcg;			/* mean over users of ndcg_score(k), 0 for a
								 * user without a positive */
	size_t		users;
} MetricRanking;

/* Bytes of scratch MetricRankingAtK needs for n rows (8-byte aligned) */
extern size_t MetricRankingScratchBytes(size_t n);

/*
 * Precision, recall and NDCG at k (k >= 1) over the users of n rows:
 * users[i] is row i's user id (compared as strings), every row of a user
 * counts whatever its domain; ties in probability are ranked by row
 * number.  cancel, if set, is called before each user.
 */
extern MetricRanking MetricRankingAtK(const char *const *users, const double *y,
									  const double *p, size_t n, int k, void *scratch,
									  MixrecCancelHook cancel);

#endif							/* MIXREC_METRICS_H */

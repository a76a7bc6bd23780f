/*
 * include/mixrec/explain.h
 *	  Per-row explanations: how much each input (and each column, summing
 *	  its inputs) moves one model's probability away from a baseline's.
 *
 * The space is the MLP's own input: the row after standardisation and,
 * for a model with embedded columns, after each such column's first
 * input has been replaced by its table row (ModelEmbedInputs; each of the
 * two models, and the soup, has its own tables, so each is explained in
 * its own space).  The target is output 0's probability, sigmoid(logit).
 * The baseline is the standardised input 0 everywhere (every number at its
 * training mean, every indicator off), except that an embedded column
 * takes its NULL row (ExplainBaseline).  Methods, for inputs z, baseline
 * b and probability p:
 *
 *	integrated gradients	(z - b) * mean of grad p at b + (s + 1/2)/steps *
 *							(z - b), s = 0 .. steps - 1 (the midpoint rule):
 *							one forward and backward pass of steps rows;
 *							the attributions of all inputs sum to p(z) - p(b)
 *							up to the rule's error, which shrinks as steps
 *							grow
 *	gradient times input	(z - b) * grad p at z
 *	occlusion				p(z) - p(z with the group's inputs set to b's),
 *							per group, not per input
 *
 * Attributions of inputs are summed by group (a column of typed columns,
 * or each input for an array model).  grad p = p (1 - p) * dlogit/dz, from
 * MlpBackwardInputs.  Like the rest of the core nothing here allocates:
 * the caller gives ExplainWorkFloats() floats of scratch space.
 */
#ifndef MIXREC_EXPLAIN_H
#define MIXREC_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/model.h"

#define MIXREC_EXPLAIN_MAX_STEPS	10000

typedef enum ExplainMethod
{
	EXPLAIN_INTEGRATED_GRADIENTS = 0,
	EXPLAIN_GRADIENT_TIMES_INPUT,
	EXPLAIN_OCCLUSION
} ExplainMethod;

/* Parse a method name; -1 for an unknown name */
extern int	ExplainMethodFromName(const char *name);

/* The baseline inputs (standardised, before embedding) into baseline[input_dim] */
extern void ExplainBaseline(const MixrecModel *model, float *baseline);

/* Floats of scratch space ExplainGradient needs for rows rows */
extern size_t ExplainGradientFloats(const MlpShape *shape, int rows);

/*
 * The probability of output 0 of the MLP with these parameters for rows
 * z[rows][input_dim] (its own inputs: standardised and embedded) into
 * prob[rows], and, when dz is not NULL, its gradient with respect to z
 * into dz[rows][input_dim]
 */
extern void ExplainGradient(const MlpShape *shape, const float *params, const float *z,
							int rows, float *work, double *prob, float *dz);

/* Floats of scratch space ExplainRow needs */
extern size_t ExplainWorkFloats(const MixrecModel *model, ExplainMethod method, int steps,
								int n_groups);

/*
 * Explain one row x (standardised, before embedding) against baseline
 * (likewise; ExplainBaseline's) for the MLP with params (one of the
 * model's two sets, or soup parameters): the attribution of each group
 * into attr[n_groups] (group[i] < n_groups is input i's group), and the
 * probabilities of the row and of the baseline.  steps is used by
 * integrated gradients only (1 .. MIXREC_EXPLAIN_MAX_STEPS).
 */
extern void ExplainRow(const MixrecModel *model, const float *params, ExplainMethod method,
					   int steps, const float *x, const float *baseline,
					   const uint32_t *group, int n_groups, float *work, double *attr,
					   double *prob, double *baseline_prob);

#endif							/* MIXREC_EXPLAIN_H */

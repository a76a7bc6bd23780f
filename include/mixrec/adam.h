/*
 * include/mixrec/adam.h
 *	  Adam and AdamW with torch.optim.Adam / torch.optim.AdamW semantics.
 */
#ifndef MIXREC_ADAM_H
#define MIXREC_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/status.h"

typedef enum AdamKind
{
	ADAM_L2 = 0,				/* torch.optim.Adam: weight decay added to the gradient */
	ADAM_DECOUPLED = 1			/* torch.optim.AdamW: decoupled weight decay */
} AdamKind;

typedef struct AdamConfig
{
	AdamKind	kind;
	double		lr;
	double		beta1;
	double		beta2;
	double		eps;
	double		weight_decay;

	/*
	 * Embedding tables: 0 steps them with the rest (torch.optim.Adam on
	 * nn.Embedding: every row, every step); 1 steps only the rows a batch
	 * uses, as torch.optim.SparseAdam on nn.Embedding(sparse=True) does
	 * (no weight decay for them)
	 */
	int			lazy_embeddings;
} AdamConfig;

/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay */
extern AdamConfig AdamDefaults(void);
extern MixrecStatus AdamConfigCheck(const AdamConfig *config, MixrecError *err);

/*
 * Take one step over n parameters.  step is the number of this step,
 * counting from 1 (torch's state['step'] after its increment).  grad is read
 * only: the L2 term of ADAM_L2 is folded in on the fly.
 */
extern void AdamStep(const AdamConfig *config, int64_t step, float *restrict param,
					 const float *restrict grad, float *restrict m, float *restrict v,
					 size_t n);

/*
 * One torch.optim.SparseAdam step on the listed rows (each once) of a table
 * of dim-wide rows: the moments of those rows only, with the step's bias
 * corrections.  grad holds the summed gradient of each listed row at the
 * same place as the row in param.
 */
extern void AdamStepRows(const AdamConfig *config, int64_t step, float *param,
						 const float *grad, float *m, float *v, uint32_t dim,
						 const uint32_t *rows, size_t n_rows);

#endif							/* MIXREC_ADAM_H */

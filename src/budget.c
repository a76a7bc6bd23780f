/*
 * src/budget.c
 *	  The memory budget: what one training, evaluation or recommendation
 *	  may allocate for its data and its work areas.
 *
 * mixrec.train_memory is a per-session budget, like maintenance_work_mem:
 * whoever trains on a larger table raises it for that session.  It bounds
 * everything that grows with the data or the model (the rows held in
 * memory, activations, gradients, Adam's moments, batch buffers, candidate
 * items, id sets), counted before it is allocated, so that an operation
 * too large is refused up front with its numbers rather than after the
 * machine has started to swap.  mixrec.max_train_memory, which only a
 * superuser may change, caps what any session can give itself: without it
 * every role could SET the budget to a terabyte.
 */
#include "postgres.h"

#include <math.h>

#include "mixrec.h"
#include "utils/guc.h"

/* GUCs, in kB (defined in _PG_init) */
int			mixrec_train_memory = 1024 * 1024;
int			mixrec_max_train_memory = 4 * 1024 * 1024;

/*
 * The budget in force, in bytes: the session's, within the ceiling
 */
Size
MemoryBudget(void)
{
	return (Size) Min(mixrec_train_memory, mixrec_max_train_memory) * 1024;
}

/*
 * Refuse what would need more than the budget.  need counts every byte
 * the operation will hold at once; what names it for the message, detail
 * says what it is made of.
 */
void
MemoryBudgetCheck(double need, const char *what, const char *detail)
{
	double		budget = (double) MemoryBudget();

	if (need <= budget)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s needs %.0f MB of memory, more than the budget of %.0f MB",
					what, ceil(need / (1024.0 * 1024.0)), floor(budget / (1024.0 * 1024.0))),
			 detail ? errdetail("%s", detail) : 0,
			 mixrec_train_memory <= mixrec_max_train_memory ?
			 errhint("Raise mixrec.train_memory (now %d MB; a superuser may allow up to mixrec.max_train_memory, now %d MB), or make the batch, the model or the data smaller.",
					 mixrec_train_memory / 1024, mixrec_max_train_memory / 1024) :
			 errhint("mixrec.train_memory (%d MB) is capped by mixrec.max_train_memory (%d MB), which only a superuser can raise.",
					 mixrec_train_memory / 1024, mixrec_max_train_memory / 1024)));
}

/*
 * GUC check hook of mixrec.train_memory: a session may not give itself
 * more than the ceiling
 */
bool
CheckTrainMemory(int *newval, void **extra, GucSource source)
{
	if (*newval > mixrec_max_train_memory && source >= PGC_S_INTERACTIVE)
	{
		GUC_check_errdetail("mixrec.train_memory may be at most mixrec.max_train_memory (%d kB), which only a superuser can raise.",
							mixrec_max_train_memory);
		return false;
	}
	return true;
}

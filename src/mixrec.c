/*
 * src/mixrec.c
 *	  Module entry point: settings and the BLAS thread pool.
 *
 * OpenBLAS (the pthread build Debian installs by default) starts worker
 * threads as soon as it is loaded, with the signal mask the backend had at
 * that moment, so a signal meant for the backend (query cancel, statement
 * timeout, shutdown) could run PostgreSQL's handler on a BLAS thread.  We
 * therefore shut that pool down and, when mixrec.threads asks for more
 * than one thread, start a new pool while every signal is blocked: the
 * workers inherit the blocked mask, and only the backend's own thread ever
 * runs a signal handler.  A forked process (a parallel worker, or a
 * backend of a server that preloads mixrec) redoes this before its first
 * BLAS call, because threads do not survive fork().
 *
 * The OpenBLAS entry points are weak symbols, so a build against another
 * BLAS (BLAS_LIBS) still loads; mixrec.threads then has no effect.
 */
#include "postgres.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/kernels.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

extern void openblas_set_num_threads(int num_threads) __attribute__((weak));
extern void blas_thread_shutdown_(void) __attribute__((weak));

int			mixrec_threads = 1;
int			mixrec_keep_versions = 0;

static int	blas_threads_applied = 0;	/* pool size set up in blas_pid */
static pid_t blas_pid = 0;

static void ApplyBlasThreads(int threads);
static void AssignThreads(int newval, void *extra);

void		_PG_init(void);

/*
 * Restart the BLAS thread pool with every signal blocked
 */
static void
ApplyBlasThreads(int threads)
{
	sigset_t	all;
	sigset_t	saved;

	if (openblas_set_num_threads == NULL)
		return;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	/* Setting the count may itself start a pool; then drop every pool */
	openblas_set_num_threads(threads);
	if (blas_thread_shutdown_ != NULL)
		blas_thread_shutdown_();
	/* One thread needs no pool; more start one that inherits our mask */
	if (threads > 1)
		openblas_set_num_threads(threads);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	blas_threads_applied = threads;
	blas_pid = getpid();
}

/*
 * Make sure this process's BLAS pool matches mixrec.threads; called before
 * BLAS work, cheap when nothing changed
 */
void
BlasEnsureThreads(void)
{
	if (blas_pid != MyProcPid || blas_threads_applied != mixrec_threads)
		ApplyBlasThreads(mixrec_threads);
}

/*
 * Let a cancel or statement_timeout through: the core's cancel hook
 * (MixrecCancelHook), called between two units of long-running work
 */
void
MixrecCheckInterrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Apply a new mixrec.threads at once (assign hooks must not fail)
 */
static void
AssignThreads(int newval, void *extra)
{
	ApplyBlasThreads(newval);
}

/*
 * Choose the CPU variants of the core's loops, define settings and tame
 * the BLAS thread pool
 */
void
_PG_init(void)
{
	KernelsInit();

	DefineCustomIntVariable("mixrec.threads",
							"Sets the number of BLAS threads a backend uses for mixrec's matrix work.",
							"Valid range is 1 .. 64. The default 1 leaves parallelism to "
							"PostgreSQL's parallel query; more threads help large layers in "
							"one backend at the cost of cores shared with other sessions.",
							&mixrec_threads,
							1, 1, 64,
							PGC_SUSET,
							0,
							NULL, AssignThreads, NULL);

	/*
	 * A budget, like maintenance_work_mem, and like it settable per session:
	 * the user who trains on a larger table raises it for that session, up
	 * to a ceiling only a superuser can move (src/budget.c).  The ceiling
	 * comes first, so that the budget's check hook sees its value.
	 */
	DefineCustomIntVariable("mixrec.max_train_memory",
							"Sets the most memory any session may give mixrec.train_memory.",
							"Valid range is 1 MB .. 1 TB. Only superusers can change it.",
							&mixrec_max_train_memory,
							4 * 1024 * 1024, 1024, 1024 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mixrec.train_memory",
							"Sets the memory one training, evaluation or recommendation may use for its data and work areas.",
							"Valid range is 1 MB .. mixrec.max_train_memory. What would need more is refused before it is allocated.",
							&mixrec_train_memory,
							1024 * 1024, 1024, 1024 * 1024 * 1024,
							PGC_USERSET,
							GUC_UNIT_KB,
							CheckTrainMemory, NULL, NULL);

	DefineCustomIntVariable("mixrec.keep_versions",
							"Sets how many versions of each model mixrec_train keeps.",
							"After a training stores a new version, older inactive versions "
							"beyond this many are deleted. 0 keeps every version.",
							&mixrec_keep_versions,
							0, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	/* Defining mixrec.threads ran AssignThreads, which restarted the pool */
	MarkGUCPrefixReserved("mixrec");
}

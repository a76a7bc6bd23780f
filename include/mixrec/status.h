/*
 * include/mixrec/status.h
 *	  Status codes and error details returned by the numeric core.
 *
 * The core never allocates and never longjmps: every function that can fail
 * returns a MixrecStatus and, where the caller passes one, fills a
 * MixrecError with a sentence that names the problem.  The PostgreSQL layer
 * maps the status to a SQLSTATE and the sentence to errmsg().
 */
#ifndef MIXREC_STATUS_H
#define MIXREC_STATUS_H

typedef enum MixrecStatus
{
	MIXREC_OK = 0,
	MIXREC_ERR_ARGUMENT,		/* a value outside its documented range */
	MIXREC_ERR_LIMIT,			/* a size above the documented limits */
	MIXREC_ERR_DIMENSION,		/* sizes that do not agree */
	MIXREC_ERR_NONFINITE,		/* NaN or infinity where a number is needed */
	MIXREC_ERR_CORRUPT			/* a model blob that fails validation */
} MixrecStatus;

#define MIXREC_ERROR_LEN 256

typedef struct MixrecError
{
	MixrecStatus status;
	char		message[MIXREC_ERROR_LEN];
} MixrecError;

/*
 * The host's cancel check, which long-running loops of the core call, if
 * set, between two units of work (a chunk of an evaluation, an Adam step of
 * a training state's pool).  It may leave by longjmp: the core holds no
 * resources across the call; whatever it was computing is then half done
 * and must be discarded.
 */
typedef void (*MixrecCancelHook) (void);

/* Record an error (err may be NULL) and return its status */
extern MixrecStatus MixrecFail(MixrecError *err, MixrecStatus status,
							   const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

#endif							/* MIXREC_STATUS_H */

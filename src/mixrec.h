/*
 * src/mixrec.h
 *	  Declarations shared by the PostgreSQL layer of mixrec.
 *
 * The numeric core (include/mixrec/) knows nothing of PostgreSQL; the
 * functions here wrap it: models to and from bytea, error reporting,
 * and the BLAS thread setting.
 */
#ifndef MIXREC_H
#define MIXREC_H

#include "postgres.h"

#include "compat.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mixrec/model.h"
#include "mixrec/status.h"
#include "utils/array.h"
#include "utils/guc.h"

/* The largest k of mixrec_recommend and of mixrec_evaluate's metrics at k */
#define MIXREC_MAX_K	10000

/* GUC: BLAS threads a backend may use (mixrec.threads) */
extern int	mixrec_threads;

/* GUC: versions of each model mixrec_train keeps, 0 = all (mixrec.keep_versions) */
extern int	mixrec_keep_versions;

/* GUCs: memory budget, in kB (mixrec.train_memory), and its ceiling (mixrec.max_train_memory) */
extern int	mixrec_train_memory;
extern int	mixrec_max_train_memory;

/* src/mixrec.c */
extern void BlasEnsureThreads(void);
extern void MixrecCheckInterrupts(void);

/* src/budget.c */
extern Size MemoryBudget(void);
extern void MemoryBudgetCheck(double need, const char *what, const char *detail);
extern bool CheckTrainMemory(int *newval, void **extra, GucSource source);

/* src/model_bytea.c */
extern MixrecModel *ModelAllocate(const MlpShape *shape, uint32 flags, const uint8 *transform,
								  uint32 transform_len);
extern MixrecModel *ModelFromBytea(bytea *blob);
extern bytea *ModelToBytea(const MixrecModel *model);
pg_noreturn extern void ReportCoreError(const MixrecError *err);
extern const char *CoreMessage(const MixrecError *err);
extern void ModelCheckAlpha(double alpha, const char *what);
extern void ModelHiddenFromArray(ArrayType *hidden, MlpShape *shape);

/* src/json.c */
extern void AppendJsonDouble(StringInfo buf, double value);
extern void AppendNullableDouble(StringInfo buf, double value);
struct JsonbValue;
extern const char *JsonValueKind(const struct JsonbValue *value);

/* src/registry.c */
extern bytea *RegistryFetch(FunctionCallInfo fcinfo, const char *name, int32 version,
							int32 *found_version);
extern MixrecModel *RegistryModel(FunctionCallInfo fcinfo, int name_arg, int version_arg);

#endif							/* MIXREC_H */

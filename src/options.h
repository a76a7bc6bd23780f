/*
 * src/options.h
 *	  The table of training options of the PostgreSQL layer (src/options.c).
 *
 * Every training option is one row of one table: its name, its type, the
 * field of TrainOptions it sets, its default and its bounds.  The same
 * table parses the SQL arguments of mixrec_train, the options jsonb of
 * mixrec_train_model and of the mixrec_fit aggregates, and writes the
 * options back to jsonb (the registry's config, a streamed epoch's
 * options), so every way in accepts the same values with the same messages.
 */
#ifndef MIXREC_OPTIONS_H
#define MIXREC_OPTIONS_H

#include "postgres.h"

#include "fmgr.h"
#include "training.h"
#include "utils/jsonb.h"

/* Where an option may be given: a bit set */
#define OPTIONS_TRAIN		0x0001	/* mixrec_train, mixrec_train_model */
#define OPTIONS_FIT			0x0002	/* the options of mixrec_fit and mixrec_fit_state */

/* Set the table's defaults of the options of these scopes */
extern void OptionsDefaults(TrainOptions *opts, int scopes);

/* Set the options of a scope given in a jsonb object (NULL: none) */
extern void OptionsFromJsonb(Jsonb *options, int scope, TrainOptions *opts);

/*
 * Set the options of a scope from the arguments of the calling SQL
 * function whose names are options' names
 */
extern char **FunctionArguments(FunctionCallInfo fcinfo, int *nargs, Oid **types);
extern void OptionsFromArguments(FunctionCallInfo fcinfo, int scope, TrainOptions *opts);

/* Check the options of a scope together (after setting them) */
extern void OptionsCheck(const TrainOptions *opts, int scope);

/* Write the options of a scope as a jsonb object */
extern Jsonb *OptionsToJsonb(const TrainOptions *opts, int scope);

/* AdamConfig.lazy_embeddings for a model (new, or continued) and the options */
extern int	OptionsLazyEmbeddings(const TrainOptions *opts, const MixrecModel *model);

#endif							/* MIXREC_OPTIONS_H */

/*
 * h5reuse.h — --reuse OLD.h5: the rows another feature file made with the same model
 * and options already holds done are copied into this job's file instead of being
 * computed again (a dataset that grew, or was partly renamed). A feature depends on
 * its image alone (fp32 is batch-invariant), so the file equals one computed whole.
 */
#ifndef R50_H5REUSE_H
#define R50_H5REUSE_H

#include <stdint.h>

#include "dataset.h"
#include "h5store.h"

/* Rank 0, serial: whether old can be reused by the job of meta writing path (a feature
 * file of the same model and options, not path itself), before path is made. */
r50_status r50_store_reuse_check(const char *path, const char *old,
                                 const r50_store_meta *meta, r50_error *err);

/* Collective, on the job's file opened by every rank (r50_store_open) whose n
 * statuses are status (the same on every rank). Rank 0 checks old again and finds the
 * rows not done whose paths' hashes old holds done (a hash table of old's done rows:
 * 32 to 64 bytes each), in runs of consecutive rows split into one share a rank; each
 * rank opens old itself, compares each row's path in full and copies its share:
 * features, then status 1. A rank other than 0 that cannot open old leaves its share
 * to the ranks that can (the first such rank logs why). Afterwards status holds the
 * copied rows as done on every rank and *n_copied their count. Killed part way, the file
 * is a valid one to --resume. */
r50_status r50_store_reuse(const r50_dist *d, r50_store *store, const char *old,
                           const r50_dataset *ds, const r50_store_meta *meta,
                           int8_t *status, int64_t *n_copied, r50_error *err);

#endif

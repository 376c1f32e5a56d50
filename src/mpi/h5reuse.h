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

/* Rank 0, serial, on the closed file at path (made by r50_store_create, or checked by
 * r50_store_check_resume), whose n statuses are *status (NULL: a new file, all
 * pending); *status is replaced by a malloc'd array of the statuses after the copy.
 * Checks old's attributes against meta (as --resume does), then copies every row not
 * done whose path old holds done: its features, then its status 1, in runs of rows.
 * *n_copied gets the count. Killed part way, the file is a valid one to --resume. */
r50_status r50_store_reuse(const char *path, const char *old, const r50_dataset *ds,
                           const r50_store_meta *meta, int8_t **status, int64_t *n_copied,
                           r50_error *err);

#endif

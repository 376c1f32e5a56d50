/*
 * share_list.h — rank 0 lists the dataset once; every rank receives the same list,
 * the ranks of a node reading one shared copy of its rows.
 */
#ifndef R50_SHARE_LIST_H
#define R50_SHARE_LIST_H

#include "dataset.h"
#include "dist.h"

/* Collective. Rank 0 opens the dataset (specs[0], see r50_dataset_open; or n_specs > 1
 * image paths, see r50_dataset_open_images) and sends the result; on every rank ds
 * holds the same rows, or all ranks return the same error. Unless `writable`, the rows
 * (paths, labels, shard offsets) are one read-only copy per node, in an MPI
 * shared-memory window; writable gives every rank its own copy. */
r50_status r50_dataset_share(const r50_dist *d, const char *const *specs, int n_specs,
                             const char *root, int writable, r50_dataset *ds,
                             r50_error *err);

/* Collective over the ranks that shared ds: frees it and its node copy. */
void r50_dataset_unshare(const r50_dist *d, r50_dataset *ds);

#endif

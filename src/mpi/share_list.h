/*
 * share_list.h — rank 0 lists the dataset once; every rank receives the same list.
 */
#ifndef R50_SHARE_LIST_H
#define R50_SHARE_LIST_H

#include "dataset.h"
#include "dist.h"

/* Collective. Rank 0 opens spec (see r50_dataset_open) and sends the result; on every
 * rank ds holds the same rows, or all ranks return the same error. */
r50_status r50_dataset_share(const r50_dist *d, const char *spec, const char *root,
                             r50_dataset *ds, r50_error *err);

#endif

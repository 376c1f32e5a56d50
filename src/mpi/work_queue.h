/*
 * work_queue.h — dynamic work sharing: ranks take the next chunk index with an MPI
 * one-sided fetch-and-add on a counter held by rank 0, so a slow rank never holds the
 * job. The same window carries job-wide counters for progress and for stopping.
 */
#ifndef R50_WORK_QUEUE_H
#define R50_WORK_QUEUE_H

#include <stdint.h>

#include "dist.h"

/* Counters: the next item; rows done and failed (progress); stop requests. */
enum { R50_Q_NEXT, R50_Q_DONE, R50_Q_FAILED, R50_Q_STOP, R50_Q_COUNTERS };

typedef struct r50_work_queue {
  const r50_dist *d;
  MPI_Win win;
  int64_t *base; /* rank 0: the counters */
  int64_t n_items;
} r50_work_queue;

/* Collective. Items are 0 .. n_items-1. */
r50_status r50_queue_new(const r50_dist *d, int64_t n_items, r50_work_queue *q,
                         r50_error *err);
/* The next item into *item, -1 when all are taken. */
r50_status r50_queue_next(r50_work_queue *q, int64_t *item, r50_error *err);
/* Adds v to a job-wide counter; *old (may be NULL) gets its value before. */
r50_status r50_queue_add(r50_work_queue *q, int counter, int64_t v, int64_t *old,
                         r50_error *err);
/* Collective. */
void r50_queue_free(r50_work_queue *q);

#endif

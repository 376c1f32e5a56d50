/*
 * work_queue.c — a shared counter in an MPI window on rank 0, read and advanced with
 * MPI_Fetch_and_op under a shared passive-target lock held for the queue's lifetime.
 */
#include "work_queue.h"

#include <string.h>

#include "error.h"

r50_status r50_queue_new(const r50_dist *d, int64_t n_items, r50_work_queue *q,
                         r50_error *err) {
  memset(q, 0, sizeof *q);
  q->d = d;
  q->n_items = n_items;
  MPI_Aint bytes = d->rank == 0 ? (MPI_Aint)(R50_Q_COUNTERS * sizeof(int64_t)) : 0;
  if (MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, d->comm, &q->base, &q->win) !=
      MPI_SUCCESS)
    return r50_fail(err, R50_ERR_IO, "MPI_Win_allocate failed");
  if (d->rank == 0)
    memset(q->base, 0, (size_t)bytes);
  MPI_Barrier(d->comm);
  MPI_Win_lock_all(0, q->win);
  return R50_OK;
}

static int64_t fetch_add(r50_work_queue *q, int counter, int64_t v) {
  int64_t old;
  MPI_Fetch_and_op(&v, &old, MPI_INT64_T, 0, counter, MPI_SUM, q->win);
  MPI_Win_flush(0, q->win);
  return old;
}

int64_t r50_queue_next(r50_work_queue *q) {
  int64_t i = fetch_add(q, R50_Q_NEXT, 1);
  return i < q->n_items ? i : -1;
}

void r50_queue_add(r50_work_queue *q, int counter, int64_t v) {
  fetch_add(q, counter, v);
}

int64_t r50_queue_read(r50_work_queue *q, int counter) {
  return fetch_add(q, counter, 0);
}

void r50_queue_free(r50_work_queue *q) {
  MPI_Win_unlock_all(q->win);
  MPI_Win_free(&q->win);
  memset(q, 0, sizeof *q);
}

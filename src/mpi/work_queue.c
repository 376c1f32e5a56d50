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
  q->win = MPI_WIN_NULL;
  MPI_Aint bytes = d->rank == 0 ? (MPI_Aint)(R50_Q_COUNTERS * sizeof(int64_t)) : 0;
  R50_MPI_CHECK(
      d,
      MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, d->comm, &q->base, &q->win),
      err);
  R50_MPI_CHECK(d, MPI_Win_set_errhandler(q->win, MPI_ERRORS_RETURN), err);
  if (d->rank == 0)
    memset(q->base, 0, (size_t)bytes);
  R50_MPI_CHECK(d, MPI_Barrier(d->comm), err);
  R50_MPI_CHECK(d, MPI_Win_lock_all(0, q->win), err);
  return R50_OK;
}

r50_status r50_queue_add(r50_work_queue *q, int counter, int64_t v, int64_t *old,
                         r50_error *err) {
  int64_t was = 0;
  R50_MPI_CHECK(
      q->d, MPI_Fetch_and_op(&v, &was, MPI_INT64_T, 0, counter, MPI_SUM, q->win), err);
  R50_MPI_CHECK(q->d, MPI_Win_flush(0, q->win), err);
  if (old)
    *old = was;
  return R50_OK;
}

r50_status r50_queue_next(r50_work_queue *q, int64_t *item, r50_error *err) {
  R50_TRY(r50_queue_add(q, R50_Q_NEXT, 1, item, err));
  if (*item >= q->n_items)
    *item = -1;
  return R50_OK;
}

void r50_queue_free(r50_work_queue *q) {
  if (q->win != MPI_WIN_NULL) {
    MPI_Win_unlock_all(q->win);
    MPI_Win_free(&q->win);
  }
  memset(q, 0, sizeof *q);
  q->win = MPI_WIN_NULL;
}

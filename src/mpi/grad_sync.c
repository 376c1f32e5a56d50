/*
 * grad_sync.c — bucketed, overlapped gradient allreduce (grad_sync.h).
 *
 * Rule: every rank starts the same buckets in the same order (highest offsets
 * first: backward finishes them first on every rank), as MPI requires of
 * non-blocking collectives; a rank with no images in a step still reduces its zero
 * gradients.
 */
#include "grad_sync.h"

#include <string.h>

#include "error.h"

void r50_grad_sync_init(r50_grad_sync *s, const r50_dist *d, float *grads, int64_t n,
                        int64_t bucket_floats) {
  memset(s, 0, sizeof *s);
  s->d = d;
  s->grads = grads;
  s->n = n;
  int64_t k = bucket_floats > 0 ? (n + bucket_floats - 1) / bucket_floats : 1;
  k = k < 1 ? 1 : k > R50_SYNC_MAX_BUCKETS ? R50_SYNC_MAX_BUCKETS : k;
  s->n_buckets = (int)k;
  for (int b = 0; b < s->n_buckets; b++) { /* bucket 0 is the top of the slab */
    s->hi[b] = n - n * b / k;
    s->lo[b] = n - n * (b + 1) / k;
  }
}

void r50_grad_sync_begin(r50_grad_sync *s) {
  for (int b = 0; b < s->n_buckets; b++)
    s->started[b] = 0, s->req[b] = MPI_REQUEST_NULL;
  s->ready_from = s->n;
  s->failed = 0;
}

static void start(r50_grad_sync *s, int b) {
  if (s->started[b])
    return;
  s->started[b] = 1;
  int64_t len = s->hi[b] - s->lo[b];
  int rc = MPI_Iallreduce(MPI_IN_PLACE, s->grads + s->lo[b], (int)len, MPI_FLOAT, MPI_SUM,
                          s->d->comm, &s->req[b]);
  if (rc != MPI_SUCCESS && !s->failed)
    s->failed = rc;
}

void r50_grad_sync_ready(void *sync, int64_t first, int64_t end) {
  r50_grad_sync *s = sync;
  (void)end;
  if (first < s->ready_from)
    s->ready_from = first;
  for (int b = 0; b < s->n_buckets; b++)
    if (s->lo[b] >= s->ready_from)
      start(s, b);
  int flag;
  MPI_Testall(s->n_buckets, s->req, &flag, MPI_STATUSES_IGNORE); /* progress */
}

r50_status r50_grad_sync_end(r50_grad_sync *s, r50_error *err) {
  for (int b = 0; b < s->n_buckets; b++)
    start(s, b);
  if (s->failed)
    return r50_mpi_fail(s->d, s->failed, "MPI_Iallreduce(gradients)", __FILE__, __LINE__, err);
  R50_MPI_CHECK(s->d, MPI_Waitall(s->n_buckets, s->req, MPI_STATUSES_IGNORE), err);
  return R50_OK;
}

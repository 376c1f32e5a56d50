/*
 * grad_sync.c — bucketed, overlapped gradient allreduce (grad_sync.h), over MPI on the
 * host or NCCL on the GPU.
 *
 * Rule: every rank starts the same buckets in the same order (highest offsets
 * first: backward finishes them first on every rank), as MPI and NCCL require of
 * their collectives; a rank with no images in a step still reduces its zero
 * gradients.
 */
#include "grad_sync.h"

#include <string.h>

#include "error.h"
#include "model.h"
#ifdef R50_HAVE_CUDA
#include "nccl_cuda.h"
#endif

int r50_grad_sync_plan(int64_t n, int64_t bucket_floats, int64_t *lo, int64_t *hi) {
  int64_t k = bucket_floats > 0 ? (n + bucket_floats - 1) / bucket_floats : 1;
  k = k < 1 ? 1 : k > R50_SYNC_MAX_BUCKETS ? R50_SYNC_MAX_BUCKETS : k;
  for (int b = 0; b < (int)k; b++) { /* bucket 0 is the top of the slab */
    hi[b] = n - n * b / k;
    lo[b] = n - n * (b + 1) / k;
  }
  return (int)k;
}

void r50_grad_sync_init(r50_grad_sync *s, const r50_dist *d, float *grads, int64_t n,
                        int64_t bucket_floats) {
  memset(s, 0, sizeof *s);
  s->d = d;
  s->grads = grads;
  s->n = n;
  s->n_buckets = r50_grad_sync_plan(n, bucket_floats, s->lo, s->hi);
}

r50_status r50_grad_sync_attach(r50_grad_sync *s, r50_model *m, r50_error *err) {
  s->model = m;
#ifdef R50_HAVE_CUDA
  if (s->d->size > 1 && !strcmp(r50_model_engine(m), "cuda")) {
    unsigned char id[R50_NCCL_ID_BYTES] = {0};
    r50_status st = s->d->rank == 0 ? r50_nccl_unique_id(id, err) : R50_OK;
    R50_TRY(r50_dist_agree(s->d, st, err));
    R50_MPI_CHECK(s->d, MPI_Bcast(id, R50_NCCL_ID_BYTES, MPI_BYTE, 0, s->d->comm), err);
    st = r50_nccl_new(id, s->d->rank, s->d->size, m->es, &s->nccl, err);
    R50_TRY(r50_dist_agree(s->d, st, err));
    if (s->d->rank == 0)
      r50_log(R50_LOG_INFO, "gradients summed over %d GPUs with NCCL in %d buckets",
              s->d->size, s->n_buckets);
  }
#else
  (void)err;
#endif
  return R50_OK;
}

void r50_grad_sync_free(r50_grad_sync *s) {
#ifdef R50_HAVE_CUDA
  r50_nccl_free(s->nccl);
#endif
  s->nccl = NULL;
}

void r50_grad_sync_begin(r50_grad_sync *s) {
  for (int b = 0; b < s->n_buckets; b++)
    s->started[b] = 0, s->req[b] = MPI_REQUEST_NULL;
  s->ready_from = s->n;
  s->failed = 0;
  s->nccl_err.status = R50_OK;
  if (s->nccl) /* the engine's slab, bound by the step's forward */
    s->grads = s->model->eng.grads;
}

static void start(r50_grad_sync *s, int b) {
  if (s->started[b] || s->d->size == 1)
    return;
  s->started[b] = 1;
  const int64_t len = s->hi[b] - s->lo[b];
#ifdef R50_HAVE_CUDA
  if (s->nccl) {
    if (s->nccl_err.status == R50_OK)
      r50_nccl_allreduce(s->nccl, s->grads + s->lo[b], (size_t)len, &s->nccl_err);
    return;
  }
#endif
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
  if (!s->nccl) {
    int flag;
    MPI_Testall(s->n_buckets, s->req, &flag, MPI_STATUSES_IGNORE); /* progress */
  }
}

r50_status r50_grad_sync_end(r50_grad_sync *s, r50_error *err) {
  for (int b = 0; b < s->n_buckets; b++)
    start(s, b);
#ifdef R50_HAVE_CUDA
  if (s->nccl) {
    if (s->nccl_err.status != R50_OK) {
      *err = s->nccl_err;
      return err->status;
    }
    return r50_nccl_wait(s->nccl, err);
  }
#endif
  if (s->failed)
    return r50_mpi_fail(s->d, s->failed, "MPI_Iallreduce(gradients)", __FILE__, __LINE__,
                        err);
  R50_MPI_CHECK(s->d, MPI_Waitall(s->n_buckets, s->req, MPI_STATUSES_IGNORE), err);
  return R50_OK;
}

r50_status r50_grad_sync_average_persistent(r50_grad_sync *s, r50_error *err) {
  const r50_dist *d = s->d;
  if (d->size == 1)
    return R50_OK;
  r50_model *m = s->model;
#ifdef R50_HAVE_CUDA
  if (s->nccl) { /* the engine's copies, in place */
    float *q = m->eng.persistent;
    const size_t n = (size_t)m->net.n_persistent_floats;
    R50_TRY(r50_nccl_allreduce(s->nccl, q, n, err));
    R50_TRY(r50_nccl_wait(s->nccl, err));
    r50_nccl_scale(s->nccl, q, n, 1.0f / (float)d->size);
    r50_model_engine_wrote(m, R50_SYNC_PERSISTENT);
    return R50_OK;
  }
#endif
  int64_t n;
  float *q = r50_persistent_slab(m, &n);
  R50_MPI_CHECK(d, MPI_Allreduce(MPI_IN_PLACE, q, (int)n, MPI_FLOAT, MPI_SUM, d->comm),
                err);
  for (int64_t i = 0; i < n; i++)
    q[i] /= (float)d->size;
  return r50_params_changed(m, err);
}

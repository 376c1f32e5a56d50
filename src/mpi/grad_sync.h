/*
 * grad_sync.h — data-parallel gradient reduction: the gradient slab is cut into a few
 * large buckets, and each bucket's sum over ranks starts as soon as backward has
 * finished the gradients in it (last layers first), so reduction overlaps the rest of
 * backward; the step waits for all of them at its end. CPU ranks sum the host slab
 * with MPI_Iallreduce; GPU ranks (a model on the CUDA engine) sum the engine's slab in
 * place with NCCL, each bucket launched behind the backward kernels that made it,
 * and every wait bounded (cuda/nccl_cuda.h). One rank: nothing to sum.
 */
#ifndef R50_GRAD_SYNC_H
#define R50_GRAD_SYNC_H

#include <stdint.h>

#include "dist.h"

#define R50_SYNC_MAX_BUCKETS 16

struct r50_nccl;

typedef struct r50_grad_sync {
  const r50_dist *d;
  r50_model *model;
  struct r50_nccl *nccl; /* GPU ranks: the communicator; NULL: MPI on the host */
  r50_error nccl_err;    /* the first NCCL failure of a step, reported at its end */
  float *grads;
  int64_t n;
  int n_buckets;
  int64_t lo[R50_SYNC_MAX_BUCKETS], hi[R50_SYNC_MAX_BUCKETS];
  MPI_Request req[R50_SYNC_MAX_BUCKETS];
  int started[R50_SYNC_MAX_BUCKETS];
  int64_t ready_from;
  int failed; /* an MPI call failed: the code, reported at the end */
} r50_grad_sync;

/* Buckets of about bucket_floats over grads[0, n) (at most R50_SYNC_MAX_BUCKETS). */
void r50_grad_sync_init(r50_grad_sync *s, const r50_dist *d, float *grads, int64_t n,
                        int64_t bucket_floats);
/* Buckets planned over n floats: lo[b], hi[b] (bucket 0 the top of the slab); returns
 * their count. A function of (n, bucket_floats) only: every rank plans the same. */
int r50_grad_sync_plan(int64_t n, int64_t bucket_floats, int64_t *lo, int64_t *hi);
/* Collective: a model on the CUDA engine with more than one rank reduces with NCCL
 * (the communicator's id drawn by rank 0 and broadcast); otherwise nothing changes. */
r50_status r50_grad_sync_attach(r50_grad_sync *s, r50_model *m, r50_error *err);
/* Frees the NCCL communicator, if any. */
void r50_grad_sync_free(r50_grad_sync *s);
/* Before a backward (after the step's forward). */
void r50_grad_sync_begin(r50_grad_sync *s);
/* r50_grads_ready_fn for r50_backward: grads[first, end) are final. */
void r50_grad_sync_ready(void *sync, int64_t first, int64_t end);
/* Starts what is left and waits for every bucket: grads hold the sums over ranks. */
r50_status r50_grad_sync_end(r50_grad_sync *s, r50_error *err);
/* The BN running averages averaged over ranks (host slab with MPI, or the engine's
 * with NCCL). */
r50_status r50_grad_sync_average_persistent(r50_grad_sync *s, r50_error *err);

#endif

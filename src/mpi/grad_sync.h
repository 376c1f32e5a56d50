/*
 * grad_sync.h — data-parallel gradient reduction: the gradient slab is cut into a few
 * large buckets, and each bucket's MPI_Iallreduce (sum) starts as soon as backward
 * has finished the gradients in it (last layers first), so reduction overlaps the rest
 * of backward; the step waits for all of them at its end. The same interface is what
 * NCCL fills for GPU ranks.
 */
#ifndef R50_GRAD_SYNC_H
#define R50_GRAD_SYNC_H

#include <stdint.h>

#include "dist.h"

#define R50_SYNC_MAX_BUCKETS 16

typedef struct r50_grad_sync {
  const r50_dist *d;
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
/* Before a backward. */
void r50_grad_sync_begin(r50_grad_sync *s);
/* r50_grads_ready_fn for r50_backward: grads[first, end) are final. */
void r50_grad_sync_ready(void *sync, int64_t first, int64_t end);
/* Starts what is left and waits for every bucket: grads hold the sums over ranks. */
r50_status r50_grad_sync_end(r50_grad_sync *s, r50_error *err);

#endif

/*
 * nccl_cuda.h — NCCL for data-parallel training on GPUs: a communicator made from a
 * unique id that rank 0 draws and the job broadcasts (over MPI, in mpi/grad_sync.c),
 * in-place sums of engine buffers launched behind the engine's pending work, and a
 * wait that never hangs.
 *
 * Rule (nccl-tests): waits poll the communicator's asynchronous error and give up
 * after a timeout (R50_NCCL_TIMEOUT_S, default 600 s); on either the communicator is
 * aborted and the status names rank, host, GPU and cause, for the job to end.
 */
#ifndef R50_NCCL_CUDA_H
#define R50_NCCL_CUDA_H

#include <stddef.h>

#include "r50.h"

#ifdef __cplusplus
extern "C" {
#endif
#include "engine.h"

#define R50_NCCL_ID_BYTES 128

typedef struct r50_nccl r50_nccl;

/* Rank 0: a new unique id for the communicator. */
r50_status r50_nccl_unique_id(unsigned char id[R50_NCCL_ID_BYTES], r50_error *err);
/* Every rank, collectively: the communicator of `size` ranks on the GPU of engine
 * state es (a CUDA engine's). */
r50_status r50_nccl_new(const unsigned char id[R50_NCCL_ID_BYTES], int rank, int size,
                        r50_engine_state *es, r50_nccl **out, r50_error *err);
/* Starts buf[0, n) (device floats of es) += the other ranks' after the work already
 * issued on the engine's stream; returns at once. */
r50_status r50_nccl_allreduce(r50_nccl *c, float *buf, size_t n, r50_error *err);
/* Waits for every sum started; later engine work sees their results. */
r50_status r50_nccl_wait(r50_nccl *c, r50_error *err);
/* Scales buf[0, n) by f on the engine's stream (an average after a sum). */
void r50_nccl_scale(r50_nccl *c, float *buf, size_t n, float f);
void r50_nccl_free(r50_nccl *c); /* NULL: no-op */

/* The wait's limit in seconds: R50_NCCL_TIMEOUT_S, else 600. */
double r50_nccl_timeout_s(void);

#ifdef __cplusplus
}
#endif
#endif

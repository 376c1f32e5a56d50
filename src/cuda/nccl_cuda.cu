/*
 * nccl_cuda.cu — the NCCL communicator of a GPU rank and its bounded waits
 * (nccl_cuda.h).
 *
 * The communicator is non-blocking (ncclConfig_t.blocking = 0): making it, and every
 * collective, may report ncclInProgress, and is polled (with the asynchronous error)
 * until done or until the timeout, so that a rank whose peer died or hangs gives up
 * with a message instead of waiting forever. Sums run on a stream of their own,
 * ordered after the engine's stream by an event, and the engine's stream is ordered
 * after them by another.
 */
#include <nccl.h>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "context_cuda.h"
#include "error.h"
#include "nccl_cuda.h"

struct r50_nccl {
  ncclComm_t comm;
  cudaStream_t stream;
  cudaEvent_t ready, done;
  r50_engine_state *es;
  int rank, size, pending;
};

namespace {

/* (C's clock and sleep: libr50 needs no C++ run time.) */
double now_s() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void pause_us(long us) {
  struct timespec t = {0, us * 1000};
  nanosleep(&t, NULL);
}

r50_status fail(const r50_nccl *c, int rank, int device, const char *what,
                const char *cause, r50_error *err) {
  int r;
  const char *host;
  r50_log_identity(&r, &host);
  const char *last = c && c->comm ? ncclGetLastError(c->comm) : "";
  return r50_fail(err, R50_ERR_DEVICE, "rank %d (%s) GPU %d: %s: %s%s%s", rank, host,
                  device, what, cause, last && *last ? "; NCCL: " : "", last ? last : "");
}

/* Polls the communicator until its last call is done (not ncclInProgress), an error,
 * or the deadline; aborts it on error or timeout. */
r50_status settle(r50_nccl *c, ncclResult_t rc, const char *what, double deadline,
                  r50_error *err) {
  while (rc == ncclInProgress) {
    if (now_s() > deadline) {
      ncclCommAbort(c->comm);
      c->comm = NULL;
      return fail(c, c->rank, c->es->device, what,
                  "timed out (R50_NCCL_TIMEOUT_S): another rank stopped or hangs", err);
    }
    pause_us(100);
    ncclCommGetAsyncError(c->comm, &rc);
  }
  if (rc != ncclSuccess) {
    r50_status st = fail(c, c->rank, c->es->device, what, ncclGetErrorString(rc), err);
    ncclCommAbort(c->comm);
    c->comm = NULL;
    return st;
  }
  return R50_OK;
}

} /* namespace */

extern "C" double r50_nccl_timeout_s(void) {
  const char *e = getenv("R50_NCCL_TIMEOUT_S");
  const double t = e ? strtod(e, NULL) : 0;
  return t > 0 ? t : 600.0;
}

extern "C" r50_status r50_nccl_unique_id(unsigned char id[R50_NCCL_ID_BYTES],
                                         r50_error *err) {
  static_assert(sizeof(ncclUniqueId) == R50_NCCL_ID_BYTES, "NCCL's unique id size");
  ncclUniqueId u;
  ncclResult_t rc = ncclGetUniqueId(&u);
  if (rc != ncclSuccess)
    return fail(NULL, 0, -1, "ncclGetUniqueId", ncclGetErrorString(rc), err);
  memcpy(id, &u, sizeof u);
  return R50_OK;
}

extern "C" r50_status r50_nccl_new(const unsigned char id[R50_NCCL_ID_BYTES], int rank,
                                   int size, r50_engine_state *es, r50_nccl **out,
                                   r50_error *err) {
  *out = NULL;
  r50_nccl *c = (r50_nccl *)calloc(1, sizeof *c);
  if (!c)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  c->es = es, c->rank = rank, c->size = size;
  R50_CUDA_CHECK(cudaSetDevice(es->device), err);
  r50_status st = R50_OK;
  cudaError_t crc = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (crc == cudaSuccess)
    crc = cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming);
  if (crc == cudaSuccess)
    crc = cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming);
  if (crc != cudaSuccess)
    st = r50_cuda_fail(crc, "creating NCCL's stream and events", __FILE__, __LINE__, err);
  if (st == R50_OK) {
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&c->comm, size, u, rank, &config);
    if (rc != ncclSuccess && rc != ncclInProgress)
      st = fail(c, rank, es->device, "ncclCommInitRankConfig", ncclGetErrorString(rc),
                err);
    else
      st = settle(c, rc, "making the NCCL communicator", now_s() + r50_nccl_timeout_s(),
                  err);
  }
  if (st != R50_OK) {
    r50_nccl_free(c);
    return st;
  }
  *out = c;
  return R50_OK;
}

extern "C" r50_status r50_nccl_allreduce(r50_nccl *c, float *buf, size_t n,
                                         r50_error *err) {
  if (!c->comm)
    return fail(c, c->rank, c->es->device, "NCCL allreduce",
                "the communicator was aborted", err);
  R50_CUDA_CHECK(cudaSetDevice(c->es->device), err);
  R50_CUDA_CHECK(cudaEventRecord(c->ready, c->es->stream), err);
  R50_CUDA_CHECK(cudaStreamWaitEvent(c->stream, c->ready, 0), err);
  ncclResult_t rc = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, c->comm, c->stream);
  if (rc != ncclSuccess && rc != ncclInProgress)
    return fail(c, c->rank, c->es->device, "ncclAllReduce", ncclGetErrorString(rc), err);
  R50_TRY(
      settle(c, rc, "starting an NCCL allreduce", now_s() + r50_nccl_timeout_s(), err));
  c->pending = 1;
  return R50_OK;
}

extern "C" r50_status r50_nccl_wait(r50_nccl *c, r50_error *err) {
  if (!c->pending)
    return R50_OK;
  R50_CUDA_CHECK(cudaSetDevice(c->es->device), err);
  R50_CUDA_CHECK(cudaEventRecord(c->done, c->stream), err);
  const double deadline = now_s() + r50_nccl_timeout_s();
  for (;;) {
    cudaError_t q = cudaEventQuery(c->done);
    if (q == cudaSuccess)
      break;
    if (q != cudaErrorNotReady)
      return r50_cuda_fail(q, "waiting for an NCCL allreduce", __FILE__, __LINE__, err);
    ncclResult_t rc;
    ncclCommGetAsyncError(c->comm, &rc);
    if (rc != ncclSuccess && rc != ncclInProgress)
      return settle(c, rc, "an NCCL allreduce", deadline, err);
    if (now_s() > deadline)
      return settle(c, ncclInProgress, "an NCCL allreduce", deadline, err);
    pause_us(50);
  }
  c->pending = 0;
  R50_CUDA_CHECK(cudaStreamWaitEvent(c->es->stream, c->done, 0), err);
  return R50_OK;
}

extern "C" void r50_nccl_scale(r50_nccl *c, float *buf, size_t n, float f) {
  cudaSetDevice(c->es->device);
  r50k_scale(buf, (int64_t)n, f, c->es->stream);
}

extern "C" void r50_nccl_free(r50_nccl *c) {
  if (!c)
    return;
  cudaSetDevice(c->es->device);
  if (c->comm) /* abort frees it too, and never waits on a peer */
    ncclCommAbort(c->comm);
  if (c->stream)
    cudaStreamDestroy(c->stream);
  if (c->ready)
    cudaEventDestroy(c->ready);
  if (c->done)
    cudaEventDestroy(c->done);
  cudaGetLastError();
  free(c);
}

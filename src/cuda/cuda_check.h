/*
 * cuda_check.h — CUDA errors as statuses (nccl-tests / llm.c style): every runtime
 * call goes through R50_CUDA_CHECK, which returns an r50_status whose message names
 * the rank, host, call, file:line, CUDA's error string and, for the usual causes, a
 * HINT. Nothing here exits.
 */
#ifndef R50_CUDA_CHECK_H
#define R50_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "r50.h"

#ifdef __cplusplus
extern "C" {
#endif

r50_status r50_cuda_fail(cudaError_t code, const char *call, const char *file, int line,
                         r50_error *err);

#ifdef __cplusplus
}
#endif

#define R50_CUDA_CHECK(call, err)                                                        \
  do {                                                                                   \
    cudaError_t r50_cuda_rc_ = (call);                                                   \
    if (r50_cuda_rc_ != cudaSuccess)                                                     \
      return r50_cuda_fail(r50_cuda_rc_, #call, __FILE__, __LINE__, (err));              \
  } while (0)

#endif

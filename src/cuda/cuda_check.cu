/*
 * cuda_check.cu — CUDA, cuDNN and cuBLAS errors in words, with where they happened.
 */
#include <cstdio>
#include <cstring>

#include "context_cuda.h"
#include "cuda_check.h"
#include "error.h"

static const char *hint(cudaError_t code) {
  switch (code) {
  case cudaErrorNoDevice:
    return " (HINT: no GPU is visible: check CUDA_VISIBLE_DEVICES and nvidia-smi)";
  case cudaErrorInsufficientDriver:
    return " (HINT: the NVIDIA driver is older than this CUDA runtime)";
  case cudaErrorMemoryAllocation: return " (HINT: out of GPU memory: lower --batch)";
  default: return "";
  }
}

extern "C" r50_status r50_cuda_fail(cudaError_t code, const char *call, const char *file,
                                    int line, r50_error *err) {
  int rank;
  const char *host;
  r50_log_identity(&rank, &host);
  cudaGetLastError(); /* clear a sticky error */
  const char *base = strrchr(file, '/');
  return r50_fail(err, R50_ERR_DEVICE, "rank %d (%s): %s failed at %s:%d: %s%s", rank,
                  host, call, base ? base + 1 : file, line, cudaGetErrorString(code),
                  hint(code));
}

static r50_status library_fail(const char *lib, const char *what, const char *call,
                               const char *file, int line, r50_error *err) {
  int rank;
  const char *host;
  r50_log_identity(&rank, &host);
  const char *base = strrchr(file, '/');
  return r50_fail(err, R50_ERR_DEVICE, "rank %d (%s): %s failed at %s:%d: %s %s", rank,
                  host, call, base ? base + 1 : file, line, lib, what);
}

extern "C" r50_status r50_cudnn_fail(cudnnStatus_t code, const char *call,
                                     const char *file, int line, r50_error *err) {
  return library_fail("cuDNN", cudnnGetErrorString(code), call, file, line, err);
}

extern "C" r50_status r50_cublas_fail(cublasStatus_t code, const char *call,
                                      const char *file, int line, r50_error *err) {
  return library_fail("cuBLAS", r50_cublas()->status_string(code), call, file, line, err);
}

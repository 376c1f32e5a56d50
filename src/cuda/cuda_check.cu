/*
 * cuda_check.cu — r50_cuda_fail: a CUDA error in words, with where it happened.
 */
#include <cstdio>
#include <cstring>

#include "cuda_check.h"
#include "error.h"

static const char *hint(cudaError_t code) {
  switch (code) {
  case cudaErrorNoDevice: return " (HINT: no GPU is visible: check CUDA_VISIBLE_DEVICES and nvidia-smi)";
  case cudaErrorInsufficientDriver: return " (HINT: the NVIDIA driver is older than this CUDA runtime)";
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
  return r50_fail(err, R50_ERR_IO, "rank %d (%s): %s failed at %s:%d: %s%s", rank, host, call,
                  base ? base + 1 : file, line, cudaGetErrorString(code), hint(code));
}

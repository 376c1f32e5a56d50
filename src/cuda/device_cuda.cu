/*
 * device_cuda.cu — device discovery and selection for the CUDA engine. A machine
 * without a GPU or driver reports 0 devices; it is not an error until a GPU is asked
 * for.
 */
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "cuda_check.h"
#include "device_cuda.h"
#include "error.h"

extern "C" int r50_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

extern "C" r50_status r50_cuda_use_device(int ordinal, r50_error *err) {
  const int count = r50_cuda_device_count();
  if (ordinal < 0 || ordinal >= count)
    return r50_fail(
        err, R50_ERR_DEVICE,
        "GPU %d was asked for, but this process sees %d (CUDA_VISIBLE_DEVICES=%s)",
        ordinal, count,
        getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
  R50_CUDA_CHECK(cudaSetDevice(ordinal), err);
  return R50_OK;
}

extern "C" void r50_cuda_describe(int ordinal, char *buf, size_t cap) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, ordinal) != cudaSuccess) {
    cudaGetLastError();
    snprintf(buf, cap, "%s", "");
    return;
  }
  snprintf(buf, cap, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
           (double)p.totalGlobalMem / (1 << 30));
}

extern "C" void *r50_cuda_host_alloc(size_t bytes) {
  void *p = NULL;
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) == cudaSuccess)
    return p;
  cudaGetLastError();
  return malloc(bytes ? bytes : 1);
}

extern "C" void r50_cuda_host_free(void *p) {
  if (!p)
    return;
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, p) == cudaSuccess && a.type == cudaMemoryTypeHost) {
    cudaFreeHost(p);
    return;
  }
  cudaGetLastError();
  free(p);
}

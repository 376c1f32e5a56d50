/*
 * device_cuda.cu — device discovery and selection for the CUDA engine. A machine
 * without a GPU or driver reports 0 devices; it is not an error until a GPU is asked
 * for.
 */
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

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

/* A version code (major * 1000 + minor * 10 for CUDA, major * 10000 + minor * 100 +
 * patch for cuDNN 9 and NCCL) as "a.b" or "a.b.c". */
static void cuda_version(int v, char *buf, size_t cap) {
  snprintf(buf, cap, "%d.%d", (v / 1000) % 1000, (v % 1000) / 10);
}
static void lib_version(long v, char *buf, size_t cap) {
  snprintf(buf, cap, "%d.%d.%d", (int)((v / 10000) % 1000), (int)((v % 10000) / 100),
           (int)(v % 100));
}

extern "C" void r50_cuda_libraries(char *buf, size_t cap) {
  int rt = 0, drv = 0, nccl = 0;
  cudaRuntimeGetVersion(&rt);
  if (cudaDriverGetVersion(&drv) != cudaSuccess)
    drv = 0;
  cudaGetLastError();
  ncclGetVersion(&nccl);
  char r[32], d[32], dnn[32], dnn_built[32], nc[32], nc_built[32];
  cuda_version(rt, r, sizeof r);
  cuda_version(drv, d, sizeof d);
  lib_version((long)cudnnGetVersion(), dnn, sizeof dnn);
  lib_version((long)CUDNN_VERSION, dnn_built, sizeof dnn_built);
  lib_version(nccl, nc, sizeof nc);
  lib_version((long)NCCL_VERSION_CODE, nc_built, sizeof nc_built);
  snprintf(buf, cap, "CUDA runtime %s, driver %s, cuDNN %s%s%s%s, NCCL %s%s%s%s", r,
           drv ? d : "none", dnn, strcmp(dnn, dnn_built) ? " (built with " : "",
           strcmp(dnn, dnn_built) ? dnn_built : "", strcmp(dnn, dnn_built) ? ")" : "", nc,
           strcmp(nc, nc_built) ? " (built with " : "",
           strcmp(nc, nc_built) ? nc_built : "", strcmp(nc, nc_built) ? ")" : "");
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

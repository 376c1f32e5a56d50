/*
 * device_cuda.cu — device discovery for the CUDA engine. A machine without a GPU or
 * driver reports 0 devices; it is not an error.
 */
#include <cuda_runtime.h>

#include "device_cuda.h"

extern "C" int r50_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

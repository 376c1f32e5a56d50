/*
 * device_cuda.h — the GPUs this process sees, and which one a rank takes.
 *
 * Rule (one rank per GPU): a rank uses GPU local_rank % count of those visible
 * (CUDA_VISIBLE_DEVICES), its local rank being its index among the ranks of its node.
 */
#ifndef R50_DEVICE_CUDA_H
#define R50_DEVICE_CUDA_H

#include <stddef.h>

#include "r50.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices visible to this process; 0 when none or no driver. */
int r50_cuda_device_count(void);

/* The device a rank of local rank `local_rank` uses among `count`, or -1 when there is
 * none. */
static inline int r50_cuda_pick_device(int local_rank, int count) {
  return count > 0 && local_rank >= 0 ? local_rank % count : -1;
}

/* Makes `ordinal` the calling thread's device; an error names it and the count. */
r50_status r50_cuda_use_device(int ordinal, r50_error *err);

/* Page-locked host memory (direct DMA to and from the GPU), or plain memory where it
 * cannot be had; NULL when neither can. Free it with r50_cuda_host_free. */
void *r50_cuda_host_alloc(size_t bytes);
void r50_cuda_host_free(void *p); /* NULL: no-op */

/* "NVIDIA H200 (sm_90, 139.8 GiB)" for `info`; "" when the query fails. */
void r50_cuda_describe(int ordinal, char *buf, size_t cap);
/* The CUDA libraries this process loaded, for `info`: "CUDA runtime 13.0, driver 13.0,
 * cuDNN 9.14.0, NCCL 2.28.9", each library's build-time version added in parentheses
 * where the one loaded differs (driver "none" without one). Needs no GPU. */
void r50_cuda_libraries(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif

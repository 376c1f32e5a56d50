/*
 * device_cuda.h — C view of the CUDA engine's device queries.
 */
#ifndef R50_DEVICE_CUDA_H
#define R50_DEVICE_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices visible to this process; 0 when none or no driver. */
int r50_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif

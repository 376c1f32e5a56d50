/*
 * cublas_lazy.h — cuBLAS, loaded (dlopen) when the first CUDA engine is made, not
 * linked. Linking libcublas makes the loader map and relocate libcublasLt at every
 * start: about 210 MiB of resident memory in every process, CPU-only runs included
 * (a program that links it and returns at once peaks at 217 MB). The engine calls
 * the few functions it uses (fc6's GEMMs) through this table.
 */
#ifndef R50_CUBLAS_LAZY_H
#define R50_CUBLAS_LAZY_H

#include <cublas_v2.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cuBLAS's own prototypes (cublas_lazy.cu asserts they match). */
typedef struct r50_cublas_api {
  cublasStatus_t (*create)(cublasHandle_t *handle);
  cublasStatus_t (*destroy)(cublasHandle_t handle);
  cublasStatus_t (*set_stream)(cublasHandle_t handle, cudaStream_t stream);
  cublasStatus_t (*set_math_mode)(cublasHandle_t handle, cublasMath_t mode);
  cublasStatus_t (*sgemm)(cublasHandle_t handle, cublasOperation_t ta,
                          cublasOperation_t tb, int m, int n, int k, const float *alpha,
                          const float *a, int lda, const float *b, int ldb,
                          const float *beta, float *c, int ldc);
  const char *(*status_string)(cublasStatus_t status);
} r50_cublas_api;

/* The table, loading the library on the first call (thread-safe); NULL with err set,
 * naming the library and the loader's reason, when it cannot be loaded. */
const r50_cublas_api *r50_cublas_load(r50_error *err);

/* The table, once r50_cublas_load has succeeded (while an engine exists). */
const r50_cublas_api *r50_cublas(void);

#ifdef __cplusplus
}
#endif

#endif

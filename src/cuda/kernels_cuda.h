/*
 * kernels_cuda.h — the CUDA engine's own kernels (kernels_cuda.cu): layout changes,
 * BN folding, the convolution epilogue, pooling, softmax and loss, BatchNormalization
 * in training mode, the optimizer update. Each launches on `stream` and returns at
 * once; the caller checks cudaGetLastError. Their per-element bodies are in
 * kernels_body.h.
 *
 * Activations are NHWC in `dtype` (R50_CUDA_F32 or R50_CUDA_BF16: void pointers);
 * everything else (parameters, gradients, statistics, vectors) is float32.
 */
#ifndef R50_KERNELS_CUDA_H
#define R50_KERNELS_CUDA_H

#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { R50_CUDA_F32 = 0, R50_CUDA_BF16 = 1 } r50_cuda_dtype;

static inline size_t r50_cuda_dtype_size(r50_cuda_dtype t) {
  return t == R50_CUDA_BF16 ? 2 : 4;
}

/* src (n, c, h, w) float32 -> dst NHWC in dtype, and back. */
void r50k_nchw_to_nhwc(const float *src, void *dst, r50_cuda_dtype t, int64_t n,
                       int64_t c, int64_t h, int64_t w, cudaStream_t st);
/* dst (n, h, w, c) = src (n, ho, wo, c) at every s-th pixel, zeros elsewhere: a strided
 * 1x1 convolution's backward data from the one made on its output's grid. */
void r50k_unstride(const void *src, void *dst, r50_cuda_dtype t, int64_t n, int64_t c,
                   int64_t h, int64_t w, int64_t ho, int64_t wo, int64_t s,
                   cudaStream_t st);
void r50k_nhwc_to_nchw(const void *src, r50_cuda_dtype t, float *dst, int64_t n,
                       int64_t c, int64_t h, int64_t w, cudaStream_t st);
/* Casts n floats into dtype (a copy when float32). */
void r50k_cast(const float *src, void *dst, r50_cuda_dtype t, int64_t n, cudaStream_t st);

/* Folds BN (gamma, beta, mean, var, eps) and the conv bias b (or NULL) into w_oihw
 * (cout, cin, k, k): w_out KRSC (cout, k, k, cin) in dtype, bias_out (cout). */
void r50k_fold(const float *w_oihw, const float *b, const float *gamma, const float *beta,
               const float *mean, const float *var, double eps, int64_t cout, int64_t cin,
               int64_t k, void *w_out, r50_cuda_dtype t, float *bias_out,
               cudaStream_t st);
/* OIHW float weights to KRSC in dtype (training), and a KRSC gradient in dtype added into
 * the float OIHW slab. */
void r50k_oihw_to_krsc(const float *w, void *out, r50_cuda_dtype t, int64_t cout,
                       int64_t cin, int64_t k, cudaStream_t st);
void r50k_krsc_add_to_oihw(const void *g, r50_cuda_dtype t, float *out, int64_t cout,
                           int64_t cin, int64_t k, cudaStream_t st);

/* y (count elements of C channels, NHWC, dtype) = relu?(y + bias + residual?). */
void r50k_epilogue(void *y, r50_cuda_dtype t, const float *bias, const void *residual,
                   int relu, int64_t count, int64_t c, cudaStream_t st);

/* Max pooling (Chainer's: padding never wins; cover_all via ho, wo) of NHWC x into y. */
void r50k_maxpool(const void *x, void *y, r50_cuda_dtype t, int64_t n, int64_t c,
                  int64_t h, int64_t w, int64_t ho, int64_t wo, int k, int s, int pad,
                  cudaStream_t st);
/* Global average pooling: out (n, c) float32. */
void r50k_avgpool(const void *x, r50_cuda_dtype t, float *out, int64_t n, int64_t c,
                  int64_t hw, cudaStream_t st);
/* Row-wise softmax of (n, c). */
void r50k_softmax(const float *x, float *y, int64_t n, int64_t c, cudaStream_t st);
/* y (n, cout) += b (cout) on every row. */
void r50k_add_bias_rows(float *y, const float *b, int64_t n, int64_t cout,
                        cudaStream_t st);
/* db (cols) += the column sums of a (n, cols): one thread a column, for few rows (fc6's
 * bias); r50k_column_sums_tall splits many rows (a convolution's m = n h w) into
 * r50k_bn_parts(m) partial sums first (work: r50k_bn_work_doubles(m, c)). */
void r50k_column_sums(const float *a, int64_t n, int64_t cols, float *db,
                      cudaStream_t st);
void r50k_column_sums_tall(const void *a, r50_cuda_dtype t, int64_t m, int64_t c,
                           float *db, double *work, cudaStream_t st);

/* ---- training (NHWC activations and their gradients in dtype; statistics float) ---- */

/* The partial sums of BN's reductions: a function of m only; and the doubles of work
 * r50k_bn_forward and r50k_bn_backward need for m rows of c channels. */
int r50k_bn_parts(int64_t m);
size_t r50k_bn_work_doubles(int64_t m, int64_t c);
/* BatchNormalization forward in training mode over z (m = n h w rows of c): the
 * channel statistics (one pass: sums of z and z^2 shifted by the channel's value in row
 * 0, partial sums in double: r50_bn_unshift), save_mean/save_invstd written
 * and the running averages updated; frozen: the running statistics. Then y = relu?(bn(z)
 * + residual?). work: device doubles, r50k_bn_work_doubles(m, c). */
void r50k_bn_forward(const void *z, void *y, const void *residual, r50_cuda_dtype t,
                     int relu, int64_t m, int64_t c, const float *gamma,
                     const float *beta, float *avg_mean, float *avg_var, float *save_mean,
                     float *save_invstd, double eps, double decay, int frozen,
                     double *work, cudaStream_t st);
/* dz from dy; dgamma, dbeta (may be NULL) accumulate. */
void r50k_bn_backward(const void *z, const void *dy, void *dz, r50_cuda_dtype t,
                      int64_t m, int64_t c, const float *gamma, const float *save_mean,
                      const float *save_invstd, int frozen, float *dgamma, float *dbeta,
                      double *work, cudaStream_t st);
/* dy *= (y > 0); acc += g; over n elements. */
void r50k_relu_mask(const void *y, void *dy, r50_cuda_dtype t, int64_t n,
                    cudaStream_t st);
void r50k_add(void *acc, const void *g, r50_cuda_dtype t, int64_t n, cudaStream_t st);
/* dx (NHWC x's shape) from dy (NHWC, ho x wo): each output's first maximum into arg
 * (n ho wo c bytes; k <= 16), then each input gathers its outputs. */
void r50k_maxpool_backward(const void *x, const void *dy, void *dx, uint8_t *arg,
                           r50_cuda_dtype t, int64_t n, int64_t c, int64_t h, int64_t w,
                           int64_t ho, int64_t wo, int k, int s, int pad,
                           cudaStream_t st);
/* dx (n, h, w, c) = dy (n, c) / (h w). */
void r50k_avgpool_backward(const float *dy, void *dx, r50_cuda_dtype t, int64_t n,
                           int64_t c, int64_t hw, cudaStream_t st);
/* Softmax cross-entropy rows: labels (device, n); rows whose label is out of [0, c)
 * get zero gradient and count nothing. loss (n doubles) and hit (n ints) per row. */
void r50k_xent(const float *logits, const int32_t *labels, int64_t n, int64_t c,
               double coeff, float *dlogits, double *loss, int *hit, cudaStream_t st);
/* x[0, n) *= f. */
void r50k_scale(float *x, int64_t n, float f, cudaStream_t st);
/* MomentumSGD + WeightDecay over n elements. */
void r50k_momentum(float *p, float *g, float *v, int64_t n, float lr, float mu, float wd,
                   cudaStream_t st);

#ifdef __cplusplus
}
#endif
#endif

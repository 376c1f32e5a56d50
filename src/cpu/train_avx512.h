/*
 * train_avx512.h — AVX-512 bodies of the CPU training kernels' hot loops (train_cpu.c's
 * BatchNormalization on nChw16c, train_dnnl.c's bfloat16 copies), compiled with
 * AVX-512 only and chosen at run time (r50_cpu_features_get()->avx512f).
 *
 * Each computes exactly what the generic loop beside its caller does, operation for
 * operation and in the same order (sums in double, lane by lane, over images then
 * pixels; no fused multiply-adds): the same bits, which test_train_ops checks.
 *
 * The BN bodies take one group of 16 channels: image i's pixel p of lane l is
 * z[i * image + p * 16 + l], for n images of hw pixels.
 */
#ifndef R50_CPU_TRAIN_AVX512_H
#define R50_CPU_TRAIN_AVX512_H

#include <stdint.h>

/* s[l] += z, then (separately) s2[l] += (z - mu[l])^2, in double. */
void r50_bn16_sum_avx512(const float *z, int64_t n, int64_t image, int64_t hw,
                         double s[16]);
void r50_bn16_sqdev_avx512(const float *z, int64_t n, int64_t image, int64_t hw,
                           const double mu[16], double s2[16]);
/* y = gamma * ((z - mean) * invstd) + beta (+ residual), then ReLU if asked. */
void r50_bn16_apply_avx512(const float *z, const float *residual, float *y, int64_t n,
                           int64_t image, int64_t hw, const float gamma[16],
                           const float mean[16], const float invstd[16],
                           const float beta[16], int relu);
/* sb[l] += dy, sg[l] += dy * xhat (xhat = (z - mean) * invstd), in double. */
void r50_bn16_grad_sums_avx512(const float *z, const float *dy, int64_t n, int64_t image,
                               int64_t hw, const float mean[16], const float invstd[16],
                               double sb[16], double sg[16]);
/* dz = gscale * (dy - (xhat * mg + mb)); frozen: dz = gscale * dy. */
void r50_bn16_grad_apply_avx512(const float *z, const float *dy, float *dz, int64_t n,
                                int64_t image, int64_t hw, const float mean[16],
                                const float invstd[16], const float gscale[16],
                                const float mg[16], const float mb[16], int frozen);
/* Max pooling's backward on one plane of 16 interleaved channels (h x w pixels in, h w
 * below 2^27: 32-bit gathers; ho x wo out, k x k windows of stride st, padding pad):
 * dst = 0, then for each output in order, dy added at each lane's first maximum of its
 * window (ties: the first, in row order; a NaN never wins). */
void r50_maxpool16_backward_avx512(const float *src, const float *dy, float *dst,
                                   int64_t h, int64_t w, int64_t ho, int64_t wo, int k,
                                   int st, int pad);
/* dst[i] = bfloat16 of src[i], to nearest even, NaN kept a (quiet) NaN: bf16_of's bits.
 */
void r50_bf16_round_avx512(const float *src, int64_t n, uint16_t *dst);

#endif

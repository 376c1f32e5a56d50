/*
 * kernels_body.h — the per-element (or per-row, per-channel) bodies of the CUDA
 * engine's own kernels, written once as __host__ __device__ functions: the kernels in
 * kernels_cuda.cu call them on the GPU, and tests/test_cuda_bodies.c runs them on the
 * CPU against the reference engine's ops, so this arithmetic is checked in CI without
 * a GPU.
 *
 * Rule: plain C99 that nvcc and a C compiler both accept; float32 arithmetic in the
 * reference engine's order (cpu/train_cpu.c, pool_cpu.c, linear_cpu.c, bn_fold.c), so
 * an element computed here from the same inputs gives the CPU's bits. Activations
 * are NHWC: channel c of pixel p of image i is at ((i * H * W) + p) * C + c.
 */
#ifndef R50_KERNELS_BODY_H
#define R50_KERNELS_BODY_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define R50_HD __host__ __device__ static inline
#else
#define R50_HD static inline
#endif

/* ------------------------------------------------------------------ loops */

/* A grid-stride loop over the groups of `vec` consecutive elements of an NHWC tensor
 * of `total` elements and c channels (c % vec == 0): from group `first`, `stride`
 * groups a step; i is a group's first element and ch its channel, which is kept up to
 * date by an addition instead of a division per step (a 64-bit division costs more
 * than the rest of an elementwise kernel's arithmetic on a GPU). */
#define R50_FOR_EACH_GROUP(i, ch, first, stride, total, c, vec)                          \
  for (int64_t i = (int64_t)(first) * (vec), ch = i % (c),                               \
               i##_step = (int64_t)(stride) * (vec), i##_dch = i##_step % (c);           \
       i < (total); i += i##_step, ch += i##_dch, ch -= ch >= (c) ? (c) : 0)

/* ------------------------------------------------------------------ layout */

/* The image n, row y, column x and channel c of NHWC element i of (N, H, W, C) images.
 * In 32 bits where i fits (every tensor of a batch under 2^31 elements, which cuDNN
 * asks anyway): a 64-bit division is a long software sequence on a GPU, several per
 * element the largest cost of a pooling or layout kernel. The same integers either
 * way. */
R50_HD void r50_nhwc_split(int64_t i, int64_t C, int64_t H, int64_t W, int64_t *n,
                           int64_t *y, int64_t *x, int64_t *c) {
  if (i >= 0 && i <= INT32_MAX && C * H * W <= INT32_MAX) {
    const uint32_t u = (uint32_t)i, uc = (uint32_t)C, q = u / uc, uw = (uint32_t)W,
                   r = q / uw;
    *c = u - q * uc, *x = q - r * uw, *y = r % (uint32_t)H, *n = r / (uint32_t)H;
  } else {
    const int64_t q = i / C;
    *c = i % C, *x = q % W, *y = (q / W) % H, *n = q / (W * H);
  }
}

/* The NCHW offset of NHWC element i of (n, c, h, w) images with C channels, H x W. */
R50_HD int64_t r50_nhwc_to_nchw(int64_t i, int64_t C, int64_t H, int64_t W) {
  int64_t n, y, x, c;
  r50_nhwc_split(i, C, H, W, &n, &y, &x, &c);
  return ((n * C + c) * H + y) * W + x;
}

/* The OIHW offset of element i of a KRSC (cout, k, k, cin) filter: cuDNN's NHWC
 * filters are the conv's weights (cout, cin, k, k) with the input channel last. */
R50_HD int64_t r50_krsc_to_oihw(int64_t i, int64_t cin, int64_t k) {
  const int64_t c = i % cin, rs = (i / cin) % (k * k), o = i / (cin * k * k);
  return (o * cin + c) * k * k + rs;
}

/* Where NHWC element i of an (n, h, w, C) gradient comes from when it is a strided 1x1
 * convolution's backward data made on the output's (ho x wo) grid: that grid's element
 * at every S-th pixel, else -1 (a zero: no output saw the pixel). */
R50_HD int64_t r50_unstride_from(int64_t i, int64_t C, int64_t H, int64_t W, int64_t Ho,
                                 int64_t Wo, int64_t S) {
  int64_t n, y, x, c;
  r50_nhwc_split(i, C, H, W, &n, &y, &x, &c);
  if (y % S || x % S)
    return -1;
  return ((n * Ho + y / S) * Wo + x / S) * C + c;
}

/* ------------------------------------------------------------------ BN folded */

/* The inference BatchNormalization of output channel o folded into its convolution
 * (cpu/bn_fold.c): weights are multiplied by *scale, the bias becomes *bias. */
R50_HD void r50_fold_channel(float gamma, float beta, float mean, float var, float b,
                             double eps, double *scale, float *bias) {
  const double s = (double)gamma / sqrt((double)var + eps);
  *scale = s;
  *bias = (float)(beta + ((double)b - mean) * s);
}

R50_HD float r50_fold_weight(float w, double scale) {
  return (float)(w * scale);
}

/* A convolution's output after its sum: + bias (+ residual) (ReLU), associated as the
 * CPU's epilogue (cpu/conv_cpu.c) does. */
R50_HD float r50_epilogue(float acc, float bias, float residual, int has_residual,
                          int relu) {
  if (relu) {
    const float v = has_residual ? acc + bias + residual : acc + bias;
    return v > 0.0f ? v : 0.0f;
  }
  return has_residual ? acc + (bias + residual) : acc + bias;
}

/* ------------------------------------------------------------------ BN training */

/* Channel statistics from its sums over m values (s: of z; s2: of (z - mean)^2, the
 * second pass): mean and 1/sqrt(var + eps) saved for backward, and the running
 * averages updated as Chainer's (decay, unbiased m/(m-1) variance). */
R50_HD float r50_bn_mean(double s, int64_t m) {
  return (float)(s / (double)m);
}

/* One pass's sums, shifted by a value of the channel (its first row: near the mean,
 * so that nothing cancels), a1 = sum (z - shift) and a2 = sum (z - shift)^2, as the
 * two-pass sums finalize takes: s = sum z and s2 = sum (z - mean)^2. */
R50_HD void r50_bn_unshift(double shift, double a1, double a2, int64_t m, double *s,
                           double *s2) {
  *s = shift * (double)m + a1;
  const double c2 = a2 - a1 * a1 / (double)m;
  *s2 = c2 > 0 ? c2 : 0;
}

R50_HD void r50_bn_finalize(double s, double s2, int64_t m, double eps, double decay,
                            float *save_mean, float *save_invstd, float *avg_mean,
                            float *avg_var) {
  const double mu = s / (double)m;
  const float var = (float)(s2 / (double)m);
  const float mean = (float)mu;
  const float fdecay = (float)decay;
  const float var_weight =
      (float)((1.0 - decay) * ((double)m / fmax((double)m - 1, 1.0)));
  *save_mean = mean;
  *save_invstd = (float)(1.0 / sqrt((double)var + eps));
  *avg_mean = *avg_mean * fdecay + (1.0f - fdecay) * mean;
  *avg_var = *avg_var * fdecay + var_weight * var;
}

/* Frozen mode: the running statistics. */
R50_HD void r50_bn_frozen(float avg_mean, float avg_var, double eps, float *save_mean,
                          float *save_invstd) {
  *save_mean = avg_mean;
  *save_invstd = (float)(1.0 / sqrt((double)avg_var + eps));
}

/* y = relu?(gamma (z - mean) invstd + beta + residual?) */
R50_HD float r50_bn_apply(float z, float mean, float invstd, float gamma, float beta,
                          float residual, int has_residual, int relu) {
  float v = gamma * ((z - mean) * invstd) + beta;
  if (has_residual)
    v += residual;
  return relu && v < 0.0f ? 0.0f : v;
}

/* What BN's backward needs of a channel's sums sb = sum dy, sg = sum dy xhat. */
typedef struct r50_bn_grad_coef {
  float gscale, mb, mg;
} r50_bn_grad_coef;

R50_HD r50_bn_grad_coef r50_bn_grad_coefs(double sb, double sg, int64_t m, float gamma,
                                          float invstd) {
  r50_bn_grad_coef k;
  k.gscale = gamma * invstd;
  k.mb = (float)(sb / (double)m);
  k.mg = (float)(sg / (double)m);
  return k;
}

R50_HD float r50_bn_xhat(float z, float mean, float invstd) {
  return (z - mean) * invstd;
}

/* dz of one element. */
R50_HD float r50_bn_backward_elem(float z, float dy, float mean, float invstd,
                                  r50_bn_grad_coef k, int frozen) {
  if (frozen)
    return k.gscale * dy;
  const float xhat = (z - mean) * invstd;
  return k.gscale * (dy - (xhat * k.mg + k.mb));
}

/* ------------------------------------------------------------------ elementwise */

R50_HD float r50_relu_mask_elem(float y, float dy) {
  return y > 0.0f ? dy : 0.0f;
}

/* Chainer's MomentumSGD with WeightDecay on one element: g += wd p; v = mu v - lr g;
 * p += v (in the CPU's order). */
R50_HD void r50_momentum_elem(float *p, float *g, float *v, float lr, float mu,
                              float wd) {
  if (wd != 0.0f)
    *g += wd * *p;
  *v *= mu;
  *v -= lr * *g;
  *p += *v;
}

/* ------------------------------------------------------------------ pooling */

/* The window of output (oy, ox) inside an h x w input: [*y0, *y1) x [*x0, *x1). */
R50_HD void r50_pool_window(int64_t oy, int64_t ox, int k, int s, int pad, int64_t h,
                            int64_t w, int64_t *y0, int64_t *y1, int64_t *x0,
                            int64_t *x1) {
  int64_t a = oy * s - pad, b = ox * s - pad;
  *y1 = a + k < h ? a + k : h;
  *x1 = b + k < w ? b + k : w;
  *y0 = a < 0 ? 0 : a;
  *x0 = b < 0 ? 0 : b;
}

/* The pooling bodies over activations of type T, read as float through LOAD(p, i):
 * R50_POOL_BODIES(SUFFIX, T, LOAD) defines
 *   r50_maxpool_at<SUFFIX>: the max of output (oy, ox) of one image's channel, x at
 *     its first pixel, pixels `stride` elements apart (C in NHWC); padding never wins
 *     (Chainer pads with -inf);
 *   r50_maxpool_arg<SUFFIX>: where in output (oy, ox)'s k x k window its first
 *     maximum is: (y - (oy s - pad)) k + x - (ox s - pad), a byte for k <= 16;
 * and (not typed) r50_maxpool_grad_at: the gradient at input pixel (iy, ix): the sum of
 * dy (at the channel's first output pixel, as arg, which holds r50_maxpool_arg of each
 * output) over the outputs whose first maximum it is, in output order (as the CPU's
 * scatter adds them), gathered so that no two threads write one element;
 *   r50_avgpool_at<SUFFIX>: the mean of hw pixels, summed in double in pixel order.
 * Below for float (no suffix); kernels_cuda.cu adds bfloat16's (_bf16). */
#define R50_LOAD_F32(p, i) ((p)[i])
#define R50_POOL_BODIES(SUFFIX, T, LOAD)                                                 \
  R50_HD float r50_maxpool_at##SUFFIX(const T *x, int64_t stride, int64_t h, int64_t w,  \
                                      int k, int s, int pad, int64_t oy, int64_t ox) {   \
    int64_t y0, y1, x0, x1;                                                              \
    r50_pool_window(oy, ox, k, s, pad, h, w, &y0, &y1, &x0, &x1);                        \
    float m = -FLT_MAX;                                                                  \
    for (int64_t yy = y0; yy < y1; yy++)                                                 \
      for (int64_t xx = x0; xx < x1; xx++) {                                             \
        const float v = LOAD(x, (yy * w + xx) * stride);                                 \
        m = v > m ? v : m;                                                               \
      }                                                                                  \
    return m;                                                                            \
  }                                                                                      \
  R50_HD int r50_maxpool_arg##SUFFIX(const T *x, int64_t stride, int64_t h, int64_t w,   \
                                     int k, int s, int pad, int64_t oy, int64_t ox) {    \
    int64_t y0, y1, x0, x1;                                                              \
    r50_pool_window(oy, ox, k, s, pad, h, w, &y0, &y1, &x0, &x1);                        \
    int64_t at_y = y0, at_x = x0;                                                        \
    float m = LOAD(x, (y0 * w + x0) * stride);                                           \
    for (int64_t yy = y0; yy < y1; yy++)                                                 \
      for (int64_t xx = x0; xx < x1; xx++) {                                             \
        const float v = LOAD(x, (yy * w + xx) * stride);                                 \
        if (v > m)                                                                       \
          m = v, at_y = yy, at_x = xx;                                                   \
      }                                                                                  \
    return (int)((at_y - (oy * s - pad)) * k + at_x - (ox * s - pad));                   \
  }                                                                                      \
  R50_HD float r50_avgpool_at##SUFFIX(const T *x, int64_t stride, int64_t hw) {          \
    double sum = 0.0;                                                                    \
    for (int64_t i = 0; i < hw; i++)                                                     \
      sum += LOAD(x, i * stride);                                                        \
    return (float)(sum / (double)hw);                                                    \
  }

R50_POOL_BODIES(, float, R50_LOAD_F32)

#define R50_POOL_GRAD_BODY(SUFFIX, T, LOAD)                                              \
  R50_HD float r50_maxpool_grad_at##SUFFIX(                                              \
      const uint8_t *arg, const T *dy, int64_t stride, int64_t ho, int64_t wo, int k,    \
      int s, int pad, int64_t iy, int64_t ix) {                                          \
    /* outputs whose window can hold (iy, ix): oy s - pad <= iy < oy s - pad + k */      \
    int64_t oy0 = iy + pad - k + 1 > 0 ? (iy + pad - k + 1 + s - 1) / s : 0;             \
    int64_t ox0 = ix + pad - k + 1 > 0 ? (ix + pad - k + 1 + s - 1) / s : 0;             \
    int64_t oy1 = (iy + pad) / s, ox1 = (ix + pad) / s;                                  \
    oy1 = oy1 < ho - 1 ? oy1 : ho - 1;                                                   \
    ox1 = ox1 < wo - 1 ? ox1 : wo - 1;                                                   \
    float g = 0.0f;                                                                      \
    for (int64_t oy = oy0; oy <= oy1; oy++)                                              \
      for (int64_t ox = ox0; ox <= ox1; ox++) {                                          \
        const int64_t o = (oy * wo + ox) * stride;                                       \
        if (arg[o] == (iy - (oy * s - pad)) * k + ix - (ox * s - pad))                   \
          g += LOAD(dy, o);                                                              \
      }                                                                                  \
    return g;                                                                            \
  }
R50_POOL_GRAD_BODY(, float, R50_LOAD_F32)

R50_HD float r50_avgpool_grad(float dy, int64_t hw) {
  return dy * (float)(1.0 / (double)hw);
}

/* ------------------------------------------------------------------ fc6, loss */

/* Row-wise softmax of one row of c values. */
R50_HD void r50_softmax_row(const float *x, int64_t c, float *y) {
  float m = x[0];
  for (int64_t j = 1; j < c; j++)
    m = x[j] > m ? x[j] : m;
  double sum = 0.0;
  for (int64_t j = 0; j < c; j++) {
    y[j] = expf(x[j] - m);
    sum += y[j];
  }
  const float inv = (float)(1.0 / sum);
  for (int64_t j = 0; j < c; j++)
    y[j] *= inv;
}

/* Softmax cross-entropy of one row with label t (0 <= t < c): returns its loss,
 * *hit whether its top-1 is t, and d = coeff * (softmax - onehot). */
R50_HD double r50_xent_row(const float *z, int64_t c, int32_t t, double coeff, float *d,
                           int *hit) {
  int64_t best = 0;
  for (int64_t j = 1; j < c; j++)
    best = z[j] > z[best] ? j : best;
  *hit = best == t;
  double sum = 0;
  for (int64_t j = 0; j < c; j++)
    sum += exp((double)z[j] - z[best]);
  const double lse = z[best] + log(sum);
  for (int64_t j = 0; j < c; j++)
    d[j] = (float)(coeff * (exp((double)z[j] - lse) - (j == t)));
  return lse - z[t];
}

/* The sum over n rows of column o of a row-major (n, cols) matrix, in double. */
R50_HD float r50_column_sum(const float *a, int64_t n, int64_t cols, int64_t o) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    sum += a[i * cols + o];
  return (float)sum;
}

#endif

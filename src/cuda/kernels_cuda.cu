/*
 * kernels_cuda.cu — the CUDA engine's own kernels (kernels_cuda.h), each a grid-stride
 * loop around a body of kernels_body.h; bfloat16 activations are loaded and stored
 * through ld/st and computed on in float32.
 *
 * Rule: reductions (BN statistics, column sums) are split by shape only — channel
 * tiles and `parts` row ranges fixed by m — and their partial sums added in a fixed
 * order, so a result never depends on the launch or on timing.
 */
#include <cuda_bf16.h>

#include "kernels_body.h"
#include "kernels_cuda.h"

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1)
    b = 1;
  return (unsigned)(b < (1 << 20) ? b : (1 << 20)); /* grid-stride beyond */
}

/* Whether n elements of c channels go in groups of 4: n and c multiples of 4, and each
 * activation pointer (NULL passes) aligned to a group (16 bytes of float, 8 of
 * bfloat16). */
template <typename... P>
bool vec4_ok(int64_t n, int64_t c, r50_cuda_dtype t, const P *...ptrs) {
  const uintptr_t align = t == R50_CUDA_BF16 ? 8 : 16;
  return n % 4 == 0 && c % 4 == 0 &&
         ((reinterpret_cast<uintptr_t>(ptrs) % align == 0) && ...);
}

#define R50_FOR_EACH(i, n)                                                               \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);              \
       i += (int64_t)blockDim.x * gridDim.x)

__device__ inline float ld(const float *p, int64_t i) {
  return p[i];
}
__device__ inline float ld(const __nv_bfloat16 *p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ inline void st(float *p, int64_t i, float v) {
  p[i] = v;
}
__device__ inline void st(__nv_bfloat16 *p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

/* V consecutive activations (V = 1, or 4: one 16-byte float load, one 8-byte
 * bfloat16 load) as floats, and back; rounded to bfloat16 as st does, element by
 * element, so a kernel's results do not depend on V. */
template <int V> struct fv { float v[V]; };
template <int V> __device__ inline fv<V> ldv(const float *p, int64_t i) {
  if constexpr (V == 4) {
    const float4 t = *reinterpret_cast<const float4 *>(p + i);
    return {{t.x, t.y, t.z, t.w}};
  } else {
    return {{p[i]}};
  }
}
template <int V> __device__ inline fv<V> ldv(const __nv_bfloat16 *p, int64_t i) {
  if constexpr (V == 4) {
    const uint2 t = *reinterpret_cast<const uint2 *>(p + i);
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&t);
    const float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
    return {{a.x, a.y, b.x, b.y}};
  } else {
    return {{__bfloat162float(p[i])}};
  }
}
template <int V> __device__ inline void stv(float *p, int64_t i, const fv<V> &x) {
  if constexpr (V == 4)
    *reinterpret_cast<float4 *>(p + i) = make_float4(x.v[0], x.v[1], x.v[2], x.v[3]);
  else
    p[i] = x.v[0];
}
template <int V> __device__ inline void stv(__nv_bfloat16 *p, int64_t i, const fv<V> &x) {
  if constexpr (V == 4) {
    uint2 t;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&t);
    h[0] = __floats2bfloat162_rn(x.v[0], x.v[1]);
    h[1] = __floats2bfloat162_rn(x.v[2], x.v[3]);
    *reinterpret_cast<uint2 *>(p + i) = t;
  } else {
    p[i] = __float2bfloat16_rn(x.v[0]);
  }
}

/* ldv, or zeros where p is NULL (an optional operand: the residual). */
template <int V, typename T> __device__ inline fv<V> ldv_or_zero(const T *p, int64_t i) {
  return p ? ldv<V>(p, i) : fv<V>{};
}

/* R50_FOR_EACH_GROUP over this thread's groups of V. */
#define R50_FOR_EACH_GROUP_OF_THREAD(i, ch, total, c, V)                                 \
  R50_FOR_EACH_GROUP(i, ch, (int64_t)blockIdx.x *blockDim.x + threadIdx.x,               \
                     (int64_t)blockDim.x * gridDim.x, total, c, V)

} /* namespace */

/* kernels_body.h's pooling bodies over bfloat16 activations */
#define R50_LOAD_BF16(p, i) __bfloat162float((p)[i])
R50_POOL_BODIES(_bf16, __nv_bfloat16, R50_LOAD_BF16)
R50_POOL_GRAD_BODY(_bf16, __nv_bfloat16, R50_LOAD_BF16)

namespace {

/* The pooling bodies by activation type. */
__device__ inline float maxpool_at(const float *x, int64_t st, int64_t h, int64_t w,
                                   int k, int s, int pad, int64_t oy, int64_t ox) {
  return r50_maxpool_at(x, st, h, w, k, s, pad, oy, ox);
}
__device__ inline float maxpool_at(const __nv_bfloat16 *x, int64_t st, int64_t h,
                                   int64_t w, int k, int s, int pad, int64_t oy,
                                   int64_t ox) {
  return r50_maxpool_at_bf16(x, st, h, w, k, s, pad, oy, ox);
}
__device__ inline int maxpool_arg(const float *x, int64_t st, int64_t h, int64_t w, int k,
                                  int s, int pad, int64_t oy, int64_t ox) {
  return r50_maxpool_arg(x, st, h, w, k, s, pad, oy, ox);
}
__device__ inline int maxpool_arg(const __nv_bfloat16 *x, int64_t st, int64_t h,
                                  int64_t w, int k, int s, int pad, int64_t oy,
                                  int64_t ox) {
  return r50_maxpool_arg_bf16(x, st, h, w, k, s, pad, oy, ox);
}
__device__ inline float maxpool_grad_at(const uint8_t *arg, const float *dy, int64_t st,
                                        int64_t ho, int64_t wo, int k, int s, int pad,
                                        int64_t iy, int64_t ix) {
  return r50_maxpool_grad_at(arg, dy, st, ho, wo, k, s, pad, iy, ix);
}
__device__ inline float maxpool_grad_at(const uint8_t *arg, const __nv_bfloat16 *dy,
                                        int64_t st, int64_t ho, int64_t wo, int k, int s,
                                        int pad, int64_t iy, int64_t ix) {
  return r50_maxpool_grad_at_bf16(arg, dy, st, ho, wo, k, s, pad, iy, ix);
}
__device__ inline float avgpool_at(const float *x, int64_t st, int64_t hw) {
  return r50_avgpool_at(x, st, hw);
}
__device__ inline float avgpool_at(const __nv_bfloat16 *x, int64_t st, int64_t hw) {
  return r50_avgpool_at_bf16(x, st, hw);
}

/* ------------------------------------------------------------------ layout */

template <typename T>
__global__ void k_nchw_to_nhwc(const float *src, T *dst, int64_t total, int64_t c,
                               int64_t h, int64_t w) {
  R50_FOR_EACH(i, total) st(dst, i, src[r50_nhwc_to_nchw(i, c, h, w)]);
}

template <typename T>
__global__ void k_nhwc_to_nchw(const T *src, float *dst, int64_t total, int64_t c,
                               int64_t h, int64_t w) {
  R50_FOR_EACH(i, total) dst[r50_nhwc_to_nchw(i, c, h, w)] = ld(src, i);
}

template <typename T>
__global__ void k_unstride(const T *src, T *dst, int64_t total, int64_t c, int64_t h,
                           int64_t w, int64_t ho, int64_t wo, int64_t s) {
  R50_FOR_EACH(i, total) {
    const int64_t from = r50_unstride_from(i, c, h, w, ho, wo, s);
    dst[i] = from < 0 ? T(0.0f) : src[from];
  }
}

template <typename T> __global__ void k_cast(const float *src, T *dst, int64_t n) {
  R50_FOR_EACH(i, n) st(dst, i, src[i]);
}

template <typename T>
__global__ void k_fold(const float *w, const float *b, const float *gamma,
                       const float *beta, const float *mean, const float *var, double eps,
                       int64_t cout, int64_t cin, int64_t k, T *w_out, float *bias_out) {
  const int64_t per = cin * k * k;
  R50_FOR_EACH(i, cout * per) {
    const int64_t o = i / per;
    double scale;
    float bias;
    r50_fold_channel(gamma[o], beta[o], mean[o], var[o], b ? b[o] : 0.0f, eps, &scale,
                     &bias);
    st(w_out, i, r50_fold_weight(w[r50_krsc_to_oihw(i, cin, k)], scale));
    if (i % per == 0)
      bias_out[o] = bias;
  }
}

template <typename T>
__global__ void k_oihw_to_krsc(const float *w, T *out, int64_t total, int64_t cin,
                               int64_t k) {
  R50_FOR_EACH(i, total) st(out, i, w[r50_krsc_to_oihw(i, cin, k)]);
}

template <typename T>
__global__ void k_krsc_add_to_oihw(const T *g, float *out, int64_t total, int64_t cin,
                                   int64_t k) {
  R50_FOR_EACH(i, total) out[r50_krsc_to_oihw(i, cin, k)] += ld(g, i);
}

/* ------------------------------------------------------------------ inference */

template <typename T, int V>
__global__ void k_epilogue(T *y, const float *bias, const T *res, int relu, int64_t total,
                           int64_t c) {
  R50_FOR_EACH_GROUP_OF_THREAD(i, ch, total, c, V) {
    fv<V> a = ldv<V>(y, i);
    const fv<V> r = ldv_or_zero<V>(res, i);
#pragma unroll
    for (int k = 0; k < V; k++)
      a.v[k] = r50_epilogue(a.v[k], bias[ch + k], r.v[k], res != nullptr, relu);
    stv<V>(y, i, a);
  }
}

/* The pixel (n, oy, ox) and channel of NHWC element i of (n, ho, wo, c). */
struct pix {
  int64_t n, y, x, c;
};
__device__ inline pix at(int64_t i, int64_t c, int64_t h, int64_t w) {
  pix p;
  r50_nhwc_split(i, c, h, w, &p.n, &p.y, &p.x, &p.c);
  return p;
}

template <typename T>
__global__ void k_maxpool(const T *x, T *y, int64_t total, int64_t c, int64_t h,
                          int64_t w, int64_t ho, int64_t wo, int k, int s, int pad) {
  R50_FOR_EACH(i, total) {
    const pix p = at(i, c, ho, wo);
    st(y, i, maxpool_at(x + p.n * h * w * c + p.c, c, h, w, k, s, pad, p.y, p.x));
  }
}

template <typename T>
__global__ void k_avgpool(const T *x, float *out, int64_t total, int64_t c, int64_t hw) {
  R50_FOR_EACH(i, total) out[i] = avgpool_at(x + (i / c) * hw * c + i % c, c, hw);
}

__global__ void k_softmax(const float *x, float *y, int64_t n, int64_t c) {
  R50_FOR_EACH(i, n) r50_softmax_row(x + i * c, c, y + i * c);
}

__global__ void k_add_bias_rows(float *y, const float *b, int64_t total, int64_t cout) {
  R50_FOR_EACH(i, total) y[i] += b[i % cout];
}

__global__ void k_column_sums(const float *a, int64_t n, int64_t cols, float *db) {
  R50_FOR_EACH(o, cols) db[o] += r50_column_sum(a, n, cols, o);
}

/* ------------------------------------------------------------------ BN training */

constexpr int kTileC = 32, kTileR = 8; /* a block: 32 channels x 8 row lanes */

enum sums_mode { SUM_Z, SUM_SHIFTED, SUM_GRAD };

/* Partial sums of channel tile blockIdx.x over row part blockIdx.y: out1 (and out2)
 * [part * c + channel]. Each thread sums rows r = part's first + lane (mod 8) in
 * order; the 8 lanes are then added in lane order. SUM_SHIFTED: sums of z - shift
 * and (z - shift)^2 (r50_bn_unshift), shift the channel's value in row 0. */
template <typename T>
__global__ void k_bn_sums(const T *z, const T *dy, const float *mean, const float *invstd,
                          int64_t m, int64_t c, int parts, int mode, double *out1,
                          double *out2) {
  __shared__ double sh1[kTileR][kTileC], sh2[kTileR][kTileC];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t ch = (int64_t)blockIdx.x * kTileC + tx;
  const int64_t part = blockIdx.y;
  const int64_t r0 = m * part / parts, r1 = m * (part + 1) / parts;
  double a1 = 0, a2 = 0;
  if (ch < c) {
    const double shift = mode == SUM_SHIFTED ? (double)ld(z, ch) : 0.0;
    for (int64_t r = r0 + ty; r < r1; r += kTileR) {
      const float v = ld(z, r * c + ch);
      if (mode == SUM_Z) {
        a1 += v;
      } else if (mode == SUM_SHIFTED) {
        const double d = (double)v - shift;
        a1 += d;
        a2 += d * d;
      } else {
        const float g = ld(dy, r * c + ch);
        a1 += g;
        a2 += (double)g * r50_bn_xhat(v, mean[ch], invstd[ch]);
      }
    }
  }
  sh1[ty][tx] = a1;
  sh2[ty][tx] = a2;
  __syncthreads();
  if (ty == 0 && ch < c) {
    double s1 = 0, s2 = 0;
    for (int l = 0; l < kTileR; l++)
      s1 += sh1[l][tx], s2 += sh2[l][tx];
    out1[part * c + ch] = s1;
    if (out2)
      out2[part * c + ch] = s2;
  }
}

__device__ inline double part_sum(const double *partial, int parts, int64_t c,
                                  int64_t ch) {
  double s = 0;
  for (int p = 0; p < parts; p++)
    s += partial[p * c + ch];
  return s;
}

template <typename T>
__global__ void k_bn_finalize(const T *z, const double *p1, const double *p2, int parts,
                              int64_t c, int64_t m, double eps, double decay,
                              float *save_mean, float *save_invstd, float *avg_mean,
                              float *avg_var) {
  R50_FOR_EACH(ch, c) {
    double sum, sq;
    r50_bn_unshift((double)ld(z, ch), part_sum(p1, parts, c, ch),
                   part_sum(p2, parts, c, ch), m, &sum, &sq);
    r50_bn_finalize(sum, sq, m, eps, decay, &save_mean[ch], &save_invstd[ch],
                    &avg_mean[ch], &avg_var[ch]);
  }
}

__global__ void k_add_column_sums(const double *partial, int parts, int64_t c,
                                  float *db) {
  R50_FOR_EACH(ch, c) db[ch] += (float)part_sum(partial, parts, c, ch);
}

__global__ void k_bn_frozen(const float *avg_mean, const float *avg_var, int64_t c,
                            double eps, float *save_mean, float *save_invstd) {
  R50_FOR_EACH(ch, c)
  r50_bn_frozen(avg_mean[ch], avg_var[ch], eps, &save_mean[ch], &save_invstd[ch]);
}

template <typename T, int V>
__global__ void k_bn_apply(const T *z, T *y, const T *res, int relu, int64_t total,
                           int64_t c, const float *mean, const float *invstd,
                           const float *gamma, const float *beta) {
  R50_FOR_EACH_GROUP_OF_THREAD(i, ch, total, c, V) {
    fv<V> a = ldv<V>(z, i);
    const fv<V> r = ldv_or_zero<V>(res, i);
#pragma unroll
    for (int k = 0; k < V; k++)
      a.v[k] = r50_bn_apply(a.v[k], mean[ch + k], invstd[ch + k], gamma[ch + k],
                            beta[ch + k], r.v[k], res != nullptr, relu);
    stv<V>(y, i, a);
  }
}

__global__ void k_bn_grad_coefs(const double *psb, const double *psg, int parts,
                                int64_t c, int64_t m, const float *gamma,
                                const float *invstd, r50_bn_grad_coef *coef,
                                float *dgamma, float *dbeta) {
  R50_FOR_EACH(ch, c) {
    const double sb = part_sum(psb, parts, c, ch), sg = part_sum(psg, parts, c, ch);
    coef[ch] = r50_bn_grad_coefs(sb, sg, m, gamma[ch], invstd[ch]);
    if (dgamma)
      dgamma[ch] += (float)sg;
    if (dbeta)
      dbeta[ch] += (float)sb;
  }
}

template <typename T, int V>
__global__ void k_bn_backward(const T *z, const T *dy, T *dz, int64_t total, int64_t c,
                              const float *mean, const float *invstd,
                              const r50_bn_grad_coef *coef, int frozen) {
  R50_FOR_EACH_GROUP_OF_THREAD(i, ch, total, c, V) {
    const fv<V> a = ldv<V>(z, i), g = ldv<V>(dy, i);
    fv<V> d;
#pragma unroll
    for (int k = 0; k < V; k++)
      d.v[k] = r50_bn_backward_elem(a.v[k], g.v[k], mean[ch + k], invstd[ch + k],
                                    coef[ch + k], frozen);
    stv<V>(dz, i, d);
  }
}

/* ------------------------------------------------------------------ training ops */

template <typename T, int V> __global__ void k_relu_mask(const T *y, T *dy, int64_t n) {
  R50_FOR_EACH_GROUP_OF_THREAD(i, ch, n, V, V) {
    const fv<V> a = ldv<V>(y, i);
    fv<V> g = ldv<V>(dy, i);
#pragma unroll
    for (int k = 0; k < V; k++)
      g.v[k] = r50_relu_mask_elem(a.v[k], g.v[k]);
    stv<V>(dy, i, g);
  }
}

template <typename T, int V> __global__ void k_add(T *acc, const T *g, int64_t n) {
  R50_FOR_EACH_GROUP_OF_THREAD(i, ch, n, V, V) {
    fv<V> a = ldv<V>(acc, i);
    const fv<V> b = ldv<V>(g, i);
#pragma unroll
    for (int k = 0; k < V; k++)
      a.v[k] = a.v[k] + b.v[k];
    stv<V>(acc, i, a);
  }
}

/* Max pooling's backward in two passes: each output's first maximum (its place in the
 * window, a byte), then each input's gradient gathered from the outputs that chose it:
 * k*k loads of x per output instead of per output an input might belong to. */
template <typename T>
__global__ void k_maxpool_arg(const T *x, uint8_t *arg, int64_t total, int64_t c,
                              int64_t h, int64_t w, int64_t ho, int64_t wo, int k, int s,
                              int pad) {
  R50_FOR_EACH(i, total) {
    const pix p = at(i, c, ho, wo);
    arg[i] =
        (uint8_t)maxpool_arg(x + p.n * h * w * c + p.c, c, h, w, k, s, pad, p.y, p.x);
  }
}

template <typename T>
__global__ void k_maxpool_backward(const uint8_t *arg, const T *dy, T *dx, int64_t total,
                                   int64_t c, int64_t h, int64_t w, int64_t ho,
                                   int64_t wo, int k, int s, int pad) {
  R50_FOR_EACH(i, total) {
    const pix p = at(i, c, h, w);
    const int64_t o = p.n * ho * wo * c + p.c;
    st(dx, i, maxpool_grad_at(arg + o, dy + o, c, ho, wo, k, s, pad, p.y, p.x));
  }
}

template <typename T>
__global__ void k_avgpool_backward(const float *dy, T *dx, int64_t total, int64_t c,
                                   int64_t hw) {
  R50_FOR_EACH(i, total) st(dx, i, r50_avgpool_grad(dy[(i / (hw * c)) * c + i % c], hw));
}

__global__ void k_xent(const float *z, const int32_t *labels, int64_t n, int64_t c,
                       double coeff, float *d, double *loss, int *hit) {
  R50_FOR_EACH(i, n) {
    const int32_t t = labels[i];
    if (t < 0 || t >= c) {
      for (int64_t j = 0; j < c; j++)
        d[i * c + j] = 0.0f;
      loss[i] = 0;
      hit[i] = 0;
    } else {
      loss[i] = r50_xent_row(z + i * c, c, t, coeff, d + i * c, &hit[i]);
    }
  }
}

__global__ void k_scale(float *x, int64_t n, float f) {
  R50_FOR_EACH(i, n) x[i] *= f;
}

__global__ void k_momentum(float *p, float *g, float *v, int64_t n, float lr, float mu,
                           float wd) {
  R50_FOR_EACH(i, n) r50_momentum_elem(&p[i], &g[i], &v[i], lr, mu, wd);
}

} /* namespace */

/* ------------------------------------------------------------------ launchers */

#define R50_LAUNCH(kernel, n, st, ...)                                                   \
  kernel<<<grid_for(n), kThreads, 0, st>>>(__VA_ARGS__)
/* A kernel of template <typename T, int V> over n elements: in groups of 4 where v4
 * (vec4_ok), else one by one. */
#define R50_LAUNCH_VEC(v4, t, kernel, n, st, ...)                                        \
  do {                                                                                   \
    if (v4)                                                                              \
      R50_TYPED(t, kernel<T, 4><<<grid_for((n) / 4), kThreads, 0, st>>>(__VA_ARGS__));   \
    else                                                                                 \
      R50_TYPED(t, kernel<T, 1><<<grid_for(n), kThreads, 0, st>>>(__VA_ARGS__));         \
  } while (0)
/* Runs its statements with T the activations' type of t. */
#define R50_TYPED(t, ...)                                                                \
  do {                                                                                   \
    if ((t) == R50_CUDA_BF16) {                                                          \
      typedef __nv_bfloat16 T;                                                           \
      __VA_ARGS__;                                                                       \
    } else {                                                                             \
      typedef float T;                                                                   \
      __VA_ARGS__;                                                                       \
    }                                                                                    \
  } while (0)

extern "C" {

void r50k_nchw_to_nhwc(const float *src, void *dst, r50_cuda_dtype t, int64_t n,
                       int64_t c, int64_t h, int64_t w, cudaStream_t st) {
  const int64_t total = n * c * h * w;
  if (t == R50_CUDA_BF16)
    R50_LAUNCH(k_nchw_to_nhwc, total, st, src, (__nv_bfloat16 *)dst, total, c, h, w);
  else
    R50_LAUNCH(k_nchw_to_nhwc, total, st, src, (float *)dst, total, c, h, w);
}

void r50k_unstride(const void *src, void *dst, r50_cuda_dtype t, int64_t n, int64_t c,
                   int64_t h, int64_t w, int64_t ho, int64_t wo, int64_t s,
                   cudaStream_t st) {
  const int64_t total = n * h * w * c;
  R50_TYPED(t, R50_LAUNCH(k_unstride<T>, total, st, (const T *)src, (T *)dst, total, c, h,
                          w, ho, wo, s));
}

void r50k_nhwc_to_nchw(const void *src, r50_cuda_dtype t, float *dst, int64_t n,
                       int64_t c, int64_t h, int64_t w, cudaStream_t st) {
  const int64_t total = n * c * h * w;
  if (t == R50_CUDA_BF16)
    R50_LAUNCH(k_nhwc_to_nchw, total, st, (const __nv_bfloat16 *)src, dst, total, c, h,
               w);
  else
    R50_LAUNCH(k_nhwc_to_nchw, total, st, (const float *)src, dst, total, c, h, w);
}

void r50k_cast(const float *src, void *dst, r50_cuda_dtype t, int64_t n,
               cudaStream_t st) {
  if (t == R50_CUDA_BF16)
    R50_LAUNCH(k_cast, n, st, src, (__nv_bfloat16 *)dst, n);
  else
    R50_LAUNCH(k_cast, n, st, src, (float *)dst, n);
}

void r50k_fold(const float *w_oihw, const float *b, const float *gamma, const float *beta,
               const float *mean, const float *var, double eps, int64_t cout, int64_t cin,
               int64_t k, void *w_out, r50_cuda_dtype t, float *bias_out,
               cudaStream_t st) {
  const int64_t total = cout * cin * k * k;
  if (t == R50_CUDA_BF16)
    R50_LAUNCH(k_fold, total, st, w_oihw, b, gamma, beta, mean, var, eps, cout, cin, k,
               (__nv_bfloat16 *)w_out, bias_out);
  else
    R50_LAUNCH(k_fold, total, st, w_oihw, b, gamma, beta, mean, var, eps, cout, cin, k,
               (float *)w_out, bias_out);
}

void r50k_oihw_to_krsc(const float *w, void *out, r50_cuda_dtype t, int64_t cout,
                       int64_t cin, int64_t k, cudaStream_t st) {
  const int64_t total = cout * cin * k * k;
  R50_TYPED(t, R50_LAUNCH(k_oihw_to_krsc<T>, total, st, w, (T *)out, total, cin, k));
}

void r50k_krsc_add_to_oihw(const void *g, r50_cuda_dtype t, float *out, int64_t cout,
                           int64_t cin, int64_t k, cudaStream_t st) {
  const int64_t total = cout * cin * k * k;
  R50_TYPED(
      t, R50_LAUNCH(k_krsc_add_to_oihw<T>, total, st, (const T *)g, out, total, cin, k));
}

void r50k_epilogue(void *y, r50_cuda_dtype t, const float *bias, const void *residual,
                   int relu, int64_t count, int64_t c, cudaStream_t st) {
  const bool v4 = vec4_ok(count, c, t, y, residual);
  R50_LAUNCH_VEC(v4, t, k_epilogue, count, st, (T *)y, bias, (const T *)residual, relu,
                 count, c);
}

void r50k_maxpool(const void *x, void *y, r50_cuda_dtype t, int64_t n, int64_t c,
                  int64_t h, int64_t w, int64_t ho, int64_t wo, int k, int s, int pad,
                  cudaStream_t st) {
  const int64_t total = n * ho * wo * c;
  R50_TYPED(t, R50_LAUNCH(k_maxpool<T>, total, st, (const T *)x, (T *)y, total, c, h, w,
                          ho, wo, k, s, pad));
}

void r50k_avgpool(const void *x, r50_cuda_dtype t, float *out, int64_t n, int64_t c,
                  int64_t hw, cudaStream_t st) {
  R50_TYPED(t, R50_LAUNCH(k_avgpool<T>, n * c, st, (const T *)x, out, n * c, c, hw));
}

void r50k_softmax(const float *x, float *y, int64_t n, int64_t c, cudaStream_t st) {
  R50_LAUNCH(k_softmax, n, st, x, y, n, c);
}

void r50k_add_bias_rows(float *y, const float *b, int64_t n, int64_t cout,
                        cudaStream_t st) {
  R50_LAUNCH(k_add_bias_rows, n * cout, st, y, b, n * cout, cout);
}

void r50k_column_sums(const float *a, int64_t n, int64_t cols, float *db,
                      cudaStream_t st) {
  R50_LAUNCH(k_column_sums, cols, st, a, n, cols, db);
}

void r50k_column_sums_tall(const void *a, r50_cuda_dtype t, int64_t m, int64_t c,
                           float *db, double *work, cudaStream_t st) {
  const int parts = r50k_bn_parts(m);
  const dim3 grid((unsigned)((c + kTileC - 1) / kTileC), (unsigned)parts),
      block(kTileC, kTileR);
  R50_TYPED(t,
            k_bn_sums<T><<<grid, block, 0, st>>>((const T *)a, nullptr, nullptr, nullptr,
                                                 m, c, parts, SUM_Z, work, nullptr));
  R50_LAUNCH(k_add_column_sums, c, st, work, parts, c, db);
}

int r50k_bn_parts(int64_t m) { /* enough blocks for res4/res5's few rows too */
  const int64_t p = m / 512;
  return (int)(p < 1 ? 1 : p > 256 ? 256 : p);
}

size_t r50k_bn_work_doubles(int64_t m, int64_t c) {
  return (size_t)(2 * r50k_bn_parts(m) * c + 3 * c);
}

void r50k_bn_forward(const void *z, void *y, const void *residual, r50_cuda_dtype t,
                     int relu, int64_t m, int64_t c, const float *gamma,
                     const float *beta, float *avg_mean, float *avg_var, float *save_mean,
                     float *save_invstd, double eps, double decay, int frozen,
                     double *work, cudaStream_t st) {
  const int parts = r50k_bn_parts(m);
  double *p1 = work, *p2 = work + (int64_t)parts * c;
  if (frozen) {
    R50_LAUNCH(k_bn_frozen, c, st, avg_mean, avg_var, c, eps, save_mean, save_invstd);
  } else { /* one pass over z for both sums (r50_bn_unshift) */
    const dim3 grid((unsigned)((c + kTileC - 1) / kTileC), (unsigned)parts),
        block(kTileC, kTileR);
    R50_TYPED(t, k_bn_sums<T><<<grid, block, 0, st>>>((const T *)z, nullptr, nullptr,
                                                      nullptr, m, c, parts, SUM_SHIFTED,
                                                      p1, p2));
    R50_TYPED(t, R50_LAUNCH(k_bn_finalize<T>, c, st, (const T *)z, p1, p2, parts, c, m,
                            eps, decay, save_mean, save_invstd, avg_mean, avg_var));
  }
  const bool v4 = vec4_ok(m * c, c, t, z, y, residual);
  R50_LAUNCH_VEC(v4, t, k_bn_apply, m * c, st, (const T *)z, (T *)y, (const T *)residual,
                 relu, m * c, c, save_mean, save_invstd, gamma, beta);
}

void r50k_bn_backward(const void *z, const void *dy, void *dz, r50_cuda_dtype t,
                      int64_t m, int64_t c, const float *gamma, const float *save_mean,
                      const float *save_invstd, int frozen, float *dgamma, float *dbeta,
                      double *work, cudaStream_t st) {
  const int parts = r50k_bn_parts(m);
  double *psb = work, *psg = work + (int64_t)parts * c;
  r50_bn_grad_coef *coef = (r50_bn_grad_coef *)(work + 2 * (int64_t)parts * c);
  const dim3 grid((unsigned)((c + kTileC - 1) / kTileC), (unsigned)parts),
      block(kTileC, kTileR);
  R50_TYPED(t, k_bn_sums<T><<<grid, block, 0, st>>>((const T *)z, (const T *)dy,
                                                    save_mean, save_invstd, m, c, parts,
                                                    SUM_GRAD, psb, psg));
  R50_LAUNCH(k_bn_grad_coefs, c, st, psb, psg, parts, c, m, gamma, save_invstd, coef,
             dgamma, dbeta);
  const bool v4 = vec4_ok(m * c, c, t, z, dy, dz);
  R50_LAUNCH_VEC(v4, t, k_bn_backward, m * c, st, (const T *)z, (const T *)dy, (T *)dz,
                 m * c, c, save_mean, save_invstd, coef, frozen);
}

void r50k_relu_mask(const void *y, void *dy, r50_cuda_dtype t, int64_t n,
                    cudaStream_t st) {
  const bool v4 = vec4_ok(n, 4, t, y, dy);
  R50_LAUNCH_VEC(v4, t, k_relu_mask, n, st, (const T *)y, (T *)dy, n);
}

void r50k_add(void *acc, const void *g, r50_cuda_dtype t, int64_t n, cudaStream_t st) {
  const bool v4 = vec4_ok(n, 4, t, acc, g);
  R50_LAUNCH_VEC(v4, t, k_add, n, st, (T *)acc, (const T *)g, n);
}

void r50k_maxpool_backward(const void *x, const void *dy, void *dx, uint8_t *arg,
                           r50_cuda_dtype t, int64_t n, int64_t c, int64_t h, int64_t w,
                           int64_t ho, int64_t wo, int k, int s, int pad,
                           cudaStream_t st) {
  const int64_t outs = n * ho * wo * c, total = n * h * w * c;
  R50_TYPED(t, R50_LAUNCH(k_maxpool_arg<T>, outs, st, (const T *)x, arg, outs, c, h, w,
                          ho, wo, k, s, pad));
  R50_TYPED(t, R50_LAUNCH(k_maxpool_backward<T>, total, st, arg, (const T *)dy, (T *)dx,
                          total, c, h, w, ho, wo, k, s, pad));
}

void r50k_avgpool_backward(const float *dy, void *dx, r50_cuda_dtype t, int64_t n,
                           int64_t c, int64_t hw, cudaStream_t st) {
  const int64_t total = n * hw * c;
  R50_TYPED(t, R50_LAUNCH(k_avgpool_backward<T>, total, st, dy, (T *)dx, total, c, hw));
}

void r50k_xent(const float *logits, const int32_t *labels, int64_t n, int64_t c,
               double coeff, float *dlogits, double *loss, int *hit, cudaStream_t st) {
  R50_LAUNCH(k_xent, n, st, logits, labels, n, c, coeff, dlogits, loss, hit);
}

void r50k_scale(float *x, int64_t n, float f, cudaStream_t st) {
  R50_LAUNCH(k_scale, n, st, x, n, f);
}

void r50k_momentum(float *p, float *g, float *v, int64_t n, float lr, float mu, float wd,
                   cudaStream_t st) {
  R50_LAUNCH(k_momentum, n, st, p, g, v, n, lr, mu, wd);
}

} /* extern "C" */

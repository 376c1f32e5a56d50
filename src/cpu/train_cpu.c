/*
 * train_cpu.c — the CPU training kernels (the reference engine's; the oneDNN engine
 * uses all but the convolution, BN told its layout): BatchNormalization in
 * training (and frozen) mode, backward of every op, softmax cross-entropy, the
 * MomentumSGD update. CNHW layout: a channel's values over the batch are one
 * contiguous row, so BN's statistics are row reductions.
 *
 * Rules: every reduction is computed in double over a fixed order and split by
 * channel or image only, so results depend on the thread count only through the
 * per-thread weight-gradient partials, which are summed in thread order. Float32
 * arithmetic otherwise follows Chainer's numpy kernels (batch_normalization,
 * softmax_cross_entropy, MomentumSGD, WeightDecay) step for step.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "error.h"
#include "ops_cpu.h"
#ifdef R50_HAVE_ONEDNN
#include "train_avx512.h"
#endif

/* ------------------------------------------------------------------ BN */

r50_groups r50_groups_cnhw(const r50_act *a) {
  return (r50_groups){1, a->n * a->h * a->w, a->h * a->w};
}

/* Channel group g's part of image i: hw pixels of gl->lanes channels, interleaved. */
#define GROUP_AT(base, gl, g, i) ((base) + (g) * (gl)->group + (i) * (gl)->image)

/* Whether BN's loops run train_avx512.c's bodies: nChw16c (the oneDNN engine's layout
 * on AVX-512) on a CPU with AVX-512. The same operations in the same order: the bits
 * do not depend on it. */
static int bn_avx512(int64_t lanes) {
#ifdef R50_HAVE_ONEDNN
  return lanes == 16 && r50_cpu_features_get()->avx512f;
#else
  (void)lanes;
  return 0;
#endif
}

/* Each channel's statistics are summed in double over images, then pixels, whatever
 * the layout: the CNHW and blocked layouts give the same bits. */
void r50_bn_forward_cpu(const r50_cpu_ctx *ctx, const r50_groups *gl,
                        const r50_bn_args *a, const r50_act *z, r50_act *y,
                        const float *residual, int relu) {
  *y = (r50_act){y->data, z->c, z->n, z->h, z->w};
  const int64_t L = gl->lanes, groups = z->c / L, hw = z->h * z->w, m = z->n * hw;
  R50_ASSERT(L >= 1 && L <= R50_MAX_LANES && z->c % L == 0);
  const float decay = (float)a->decay;
  const float var_weight =
      (float)((1.0 - a->decay) * ((double)m / fmax((double)m - 1, 1.0)));
  const int v16 = bn_avx512(L);
  (void)v16;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t g = 0; g < groups; g++) {
    float mean[R50_MAX_LANES], invstd[R50_MAX_LANES];
    if (a->frozen) {
      for (int64_t l = 0; l < L; l++) {
        mean[l] = a->avg_mean[g * L + l];
        invstd[l] = (float)(1.0 / sqrt((double)a->avg_var[g * L + l] + a->eps));
      }
    } else {
      double s[R50_MAX_LANES] = {0}, s2[R50_MAX_LANES] = {0}, mu[R50_MAX_LANES];
#ifdef R50_HAVE_ONEDNN
      if (v16)
        r50_bn16_sum_avx512(GROUP_AT(z->data, gl, g, 0), z->n, gl->image, hw, s);
      else
#endif
        for (int64_t i = 0; i < z->n; i++) {
          const float *zr = GROUP_AT(z->data, gl, g, i);
          for (int64_t p = 0; p < hw; p++)
            for (int64_t l = 0; l < L; l++)
              s[l] += zr[p * L + l];
        }
      for (int64_t l = 0; l < L; l++)
        mu[l] = s[l] / (double)m;
#ifdef R50_HAVE_ONEDNN
      if (v16)
        r50_bn16_sqdev_avx512(GROUP_AT(z->data, gl, g, 0), z->n, gl->image, hw, mu, s2);
      else
#endif
        for (int64_t i = 0; i < z->n; i++) {
          const float *zr = GROUP_AT(z->data, gl, g, i);
          for (int64_t p = 0; p < hw; p++)
            for (int64_t l = 0; l < L; l++)
              s2[l] += ((double)zr[p * L + l] - mu[l]) * ((double)zr[p * L + l] - mu[l]);
        }
      for (int64_t l = 0; l < L; l++) {
        const int64_t c = g * L + l;
        const float var = (float)(s2[l] / (double)m);
        mean[l] = (float)mu[l];
        invstd[l] = (float)(1.0 / sqrt((double)var + a->eps));
        a->avg_mean[c] = a->avg_mean[c] * decay + (1.0f - decay) * mean[l];
        a->avg_var[c] = a->avg_var[c] * decay + var_weight * var;
      }
    }
    for (int64_t l = 0; l < L; l++) {
      a->save_mean[g * L + l] = mean[l];
      a->save_invstd[g * L + l] = invstd[l];
    }
    const float *gam = a->gamma + g * L, *bet = a->beta + g * L;
#ifdef R50_HAVE_ONEDNN
    if (v16) {
      r50_bn16_apply_avx512(
          GROUP_AT(z->data, gl, g, 0), residual ? GROUP_AT(residual, gl, g, 0) : NULL,
          GROUP_AT(y->data, gl, g, 0), z->n, gl->image, hw, gam, mean, invstd, bet, relu);
      continue;
    }
#endif
    for (int64_t i = 0; i < z->n; i++) {
      const float *zr = GROUP_AT(z->data, gl, g, i);
      const float *rr = residual ? GROUP_AT(residual, gl, g, i) : NULL;
      float *yr = GROUP_AT(y->data, gl, g, i);
      for (int64_t p = 0; p < hw; p++)
        for (int64_t l = 0; l < L; l++) {
          float v = gam[l] * ((zr[p * L + l] - mean[l]) * invstd[l]) + bet[l];
          if (rr)
            v += rr[p * L + l];
          yr[p * L + l] = relu && v < 0.0f ? 0.0f : v;
        }
    }
  }
}

void r50_bn_backward_cpu(const r50_cpu_ctx *ctx, const r50_groups *gl,
                         const r50_bn_args *a, const r50_act *z, const r50_act *dy,
                         r50_act *dz, float *dgamma, float *dbeta) {
  *dz = (r50_act){dz->data, z->c, z->n, z->h, z->w};
  const int64_t L = gl->lanes, groups = z->c / L, hw = z->h * z->w, m = z->n * hw;
  R50_ASSERT(L >= 1 && L <= R50_MAX_LANES && z->c % L == 0);
  const int v16 = bn_avx512(L);
  (void)v16;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t g = 0; g < groups; g++) {
    const float *mean = a->save_mean + g * L, *invstd = a->save_invstd + g * L;
    double sb[R50_MAX_LANES] = {0}, sg[R50_MAX_LANES] = {0};
#ifdef R50_HAVE_ONEDNN
    if (v16)
      r50_bn16_grad_sums_avx512(GROUP_AT(z->data, gl, g, 0), GROUP_AT(dy->data, gl, g, 0),
                                z->n, gl->image, hw, mean, invstd, sb, sg);
    else
#endif
      for (int64_t i = 0; i < z->n; i++) {
        const float *zr = GROUP_AT(z->data, gl, g, i), *gr = GROUP_AT(dy->data, gl, g, i);
        for (int64_t p = 0; p < hw; p++)
          for (int64_t l = 0; l < L; l++) {
            const float xhat = (zr[p * L + l] - mean[l]) * invstd[l];
            sb[l] += gr[p * L + l];
            sg[l] += (double)gr[p * L + l] * xhat;
          }
      }
    float gscale[R50_MAX_LANES], mb[R50_MAX_LANES], mg[R50_MAX_LANES];
    for (int64_t l = 0; l < L; l++) {
      gscale[l] = a->gamma[g * L + l] * invstd[l];
      mb[l] = (float)(sb[l] / (double)m);
      mg[l] = (float)(sg[l] / (double)m);
    }
#ifdef R50_HAVE_ONEDNN
    if (v16)
      r50_bn16_grad_apply_avx512(GROUP_AT(z->data, gl, g, 0),
                                 GROUP_AT(dy->data, gl, g, 0),
                                 GROUP_AT(dz->data, gl, g, 0), z->n, gl->image, hw, mean,
                                 invstd, gscale, mg, mb, a->frozen);
    else
#endif
      for (int64_t i = 0; i < z->n; i++) {
        const float *zr = GROUP_AT(z->data, gl, g, i), *gr = GROUP_AT(dy->data, gl, g, i);
        float *out = GROUP_AT(dz->data, gl, g, i);
        if (a->frozen) {
          for (int64_t p = 0; p < hw * L; p++)
            out[p] = gscale[p % L] * gr[p];
        } else {
          for (int64_t p = 0; p < hw; p++)
            for (int64_t l = 0; l < L; l++) {
              const float xhat = (zr[p * L + l] - mean[l]) * invstd[l];
              out[p * L + l] = gscale[l] * (gr[p * L + l] - (xhat * mg[l] + mb[l]));
            }
        }
      }
    for (int64_t l = 0; l < L; l++) {
      if (dgamma)
        dgamma[g * L + l] += (float)sg[l];
      if (dbeta)
        dbeta[g * L + l] += (float)sb[l];
    }
  }
}

/* ------------------------------------------------------------------ convolution */

/* Images per task of the convolution backward: whole images (col2im adds into an
 * image's pixels, so two tasks never share one), as many as make about 1024 columns,
 * so small feature maps still give wide SGEMMs. A function of the shape only, never of
 * the thread count. */
static int64_t images_per_task(int64_t n, int64_t P) {
  const int64_t g = P >= 1024 ? 1 : 1024 / P;
  return g < n ? g : n;
}

r50_status r50_conv_backward_cpu(r50_cpu_ctx *ctx, const r50_conv_desc *c, const float *w,
                                 const r50_act *x, const r50_act *dz, r50_act *dx,
                                 float *dw, float *db, r50_error *err) {
  const int k = c->ksize, s = c->stride, p = c->pad;
  const int64_t ho = dz->h, wo = dz->w, P = ho * wo, n = x->n, cols = n * P;
  const int64_t K = (int64_t)c->cin * k * k, cout = c->cout;
  const int direct = k == 1 && s == 1 && p == 0;
  const int64_t g = images_per_task(n, P), tasks = (n + g - 1) / g;
  if (dx)
    *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
  /* per thread: col (K, g*P) | dcol (K, g*P) | dw partial (cout, K) | db partial (cout)
   */
  const int64_t col_f = direct ? 0 : K * g * P, dcol_f = dx && !direct ? K * g * P : 0;
  const int64_t dw_f = dw ? cout * K : 0, db_f = db ? cout : 0;
  R50_TRY(
      r50_cpu_ctx_reserve_work(ctx, (size_t)(col_f + dcol_f + dw_f + db_f + 64), err));
  const int threads = ctx->threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float *col = ctx->work[t], *dcol = col + col_f, *dwp = dcol + dcol_f,
          *dbp = dwp + dw_f;
    memset(dwp, 0, (size_t)(dw_f + db_f) * sizeof(float));
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; task++) {
      const int64_t img0 = task * g, ni = n - img0 < g ? n - img0 : g;
      const int64_t j0 = img0 * P, nj = ni * P;
      const float *dzi = dz->data + j0; /* (cout, nj), row stride cols */
      const float *b = x->data + j0;    /* direct: the input is the column matrix */
      int64_t ldb = cols;
      if (!direct && (dw || dx)) {
        r50_im2col(x, k, s, p, ho, wo, j0, nj, col);
        b = col;
        ldb = nj;
      }
      if (dw)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cout, (int)K, (int)nj,
                    1.0f, dzi, (int)cols, b, (int)ldb, 1.0f, dwp, (int)K);
      if (db)
        for (int64_t o = 0; o < cout; o++) {
          double sum = 0;
          for (int64_t j = 0; j < nj; j++)
            sum += dzi[o * cols + j];
          dbp[o] += (float)sum;
        }
      if (dx && direct) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)nj, (int)cout,
                    1.0f, w, (int)K, dzi, (int)cols, 0.0f, dx->data + j0, (int)cols);
      } else if (dx) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)nj, (int)cout,
                    1.0f, w, (int)K, dzi, (int)cols, 0.0f, dcol, (int)nj);
        for (int64_t i = 0; i < ni; i++)
          r50_col2im_image(dcol + i * P, nj, img0 + i, k, s, p, ho, wo, dx);
      }
    }
  }
  for (int t = 0; t < threads; t++) { /* partials in thread order: a fixed sum */
    const float *dwp = ctx->work[t] + col_f + dcol_f, *dbp = dwp + dw_f;
    for (int64_t i = 0; i < dw_f; i++)
      dw[i] += dwp[i];
    for (int64_t i = 0; i < db_f; i++)
      db[i] += dbp[i];
  }
  return R50_OK;
}

/* ------------------------------------------------------------------ elementwise */

void r50_relu_mask_cpu(const r50_cpu_ctx *ctx, const r50_act *y, r50_act *dy) {
  const int64_t n = r50_act_numel(y);
  const float *restrict yv = y->data;
  float *restrict g = dy->data;
  /* (a select, not a conditional store: it vectorizes, where the branch on half the
   * signs mispredicted and took 15% of a training step) */
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t i = 0; i < n; i++)
    g[i] = yv[i] > 0.0f ? g[i] : 0.0f;
}

void r50_add_cpu(const r50_cpu_ctx *ctx, r50_act *acc, const r50_act *g) {
  const int64_t n = r50_act_numel(acc);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t i = 0; i < n; i++)
    acc->data[i] += g->data[i];
}

/* ------------------------------------------------------------------ pooling */

void r50_maxpool_backward_cpu(const r50_cpu_ctx *ctx, const r50_pool_desc *pd,
                              const r50_act *x, const r50_act *dy, r50_act *dx) {
  *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
  const int k = pd->ksize, s = pd->stride, pad = pd->pad;
  const int64_t ho = dy->h, wo = dy->w, planes = x->c * x->n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *src = x->data + pl * x->h * x->w, *g = dy->data + pl * ho * wo;
    float *dst = dx->data + pl * x->h * x->w;
    memset(dst, 0, (size_t)(x->h * x->w) * sizeof(float));
    for (int64_t oy = 0; oy < ho; oy++) {
      int64_t y0 = oy * s - pad, y1 = y0 + k < x->h ? y0 + k : x->h;
      y0 = y0 < 0 ? 0 : y0;
      for (int64_t ox = 0; ox < wo; ox++) {
        int64_t x0 = ox * s - pad, x1 = x0 + k < x->w ? x0 + k : x->w;
        x0 = x0 < 0 ? 0 : x0;
        int64_t at = y0 * x->w + x0;
        for (int64_t yy = y0; yy < y1; yy++)
          for (int64_t xx = x0; xx < x1; xx++)
            if (src[yy * x->w + xx] > src[at])
              at = yy * x->w + xx;
        dst[at] += g[oy * wo + ox];
      }
    }
  }
}

void r50_avgpool_backward_cpu(const r50_cpu_ctx *ctx, const float *dy, r50_act *dx) {
  const int64_t hw = dx->h * dx->w;
  const float inv = (float)(1.0 / (double)hw);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t c = 0; c < dx->c; c++)
    for (int64_t i = 0; i < dx->n; i++) {
      const float v = dy[i * dx->c + c] * inv;
      float *dst = dx->data + (c * dx->n + i) * hw;
      for (int64_t j = 0; j < hw; j++)
        dst[j] = v;
    }
}

/* ------------------------------------------------------------------ linear, loss */

void r50_linear_backward_cpu(const r50_cpu_ctx *ctx, const float *x, const float *dy,
                             int64_t n, int64_t cin, const float *w, int64_t cout,
                             float *dx, float *dw, float *db) {
  const int threads = ctx->threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t o0 = cout * t / nt, o1 = cout * (t + 1) / nt; /* dw, db rows */
    const int64_t c0 = cin * t / nt, c1 = cin * (t + 1) / nt;   /* dx columns */
    if (dw && o1 > o0)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(o1 - o0), (int)cin,
                  (int)n, 1.0f, dy + o0, (int)cout, x, (int)cin, 1.0f, dw + o0 * cin,
                  (int)cin);
    if (db)
      for (int64_t o = o0; o < o1; o++) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
          sum += dy[i * cout + o];
        db[o] += (float)sum;
      }
    if (dx && c1 > c0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)(c1 - c0),
                  (int)cout, 1.0f, dy, (int)cout, w + c0, (int)cin, 0.0f, dx + c0,
                  (int)cin);
  }
}

void r50_softmax_xent_cpu(const r50_cpu_ctx *ctx, const float *logits,
                          const int32_t *labels, int64_t n, int64_t c, double scale,
                          double *loss, int64_t *correct, int64_t *valid,
                          float *dlogits) {
  (void)ctx;
  int64_t counted = 0, hits = 0;
  for (int64_t i = 0; i < n; i++)
    counted += labels[i] >= 0 && labels[i] < c;
  double total = 0;
  const double coeff = counted ? scale / (double)counted : 0;
  for (int64_t i = 0; i < n; i++) {
    const float *z = logits + i * c;
    float *d = dlogits + i * c;
    const int32_t t = labels[i];
    if (t < 0 || t >= c) {
      memset(d, 0, (size_t)c * sizeof *d);
      continue;
    }
    int64_t best = 0;
    for (int64_t j = 1; j < c; j++)
      best = z[j] > z[best] ? j : best;
    hits += best == t;
    double sum = 0;
    for (int64_t j = 0; j < c; j++)
      sum += exp((double)z[j] - z[best]);
    const double lse = z[best] + log(sum);
    total += lse - z[t];
    for (int64_t j = 0; j < c; j++)
      d[j] = (float)(coeff * (exp((double)z[j] - lse) - (j == t)));
  }
  *loss = counted ? total / (double)counted : 0;
  *correct = hits;
  *valid = counted;
}

/* ------------------------------------------------------------------ optimizer */

void r50_momentum_sgd_cpu(const r50_cpu_ctx *ctx, float *p, float *g, float *v, size_t n,
                          double lr, double momentum, double weight_decay) {
  const float flr = (float)lr, mu = (float)momentum, wd = (float)weight_decay;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (size_t i = 0; i < n; i++) {
    if (wd != 0.0f)
      g[i] += wd * p[i]; /* WeightDecay: grad += rate * param */
    v[i] *= mu;          /* MomentumSGD: v *= momentum; v -= lr * grad; param += v */
    v[i] -= flr * g[i];
    p[i] += v[i];
  }
}

/*
 * test_cuda_bodies.c — the CUDA engine's own arithmetic, checked on the CPU in CI:
 * every per-element body of src/cuda/kernels_body.h (what its kernels run on the GPU)
 * against the reference engine's op on the same inputs, bit for bit — layouts, BN
 * folding, the convolution epilogue, BatchNormalization forward and backward in
 * training and frozen mode (given the channel sums, which the GPU adds in another
 * order), max and average pooling and their gradients (ties included: the first
 * maximum wins), softmax, softmax cross-entropy, column sums and MomentumSGD — and the
 * host-side rules of the engine: which GPU a rank takes, errors named and hinted
 * without a GPU, the NCCL timeout setting; and cuBLAS loaded only when asked for (not
 * mapped into a process before, every function found after).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_lazy.h"
#include "cuda_check.h"
#include "device_cuda.h"
#include "error.h"
#include "kernels_body.h"
#include "nccl_cuda.h"
#include "ops_cpu.h"
#include "rng.h"
#include "test_util.h"

enum { N = 3, C = 20, H = 9, W = 7 };

static int same(const float *a, const float *b, size_t n) {
  return !memcmp(a, b, n * sizeof(float));
}

/* NCHW -> the reference engine's CNHW and our NHWC; element (n, c, h, w) agrees. */
static void test_layout(r50_cpu_ctx *ctx) {
  float *x = randv((size_t)N * C * H * W, -1, 1),
        *cnhw = malloc(sizeof(float) * N * C * H * W),
        *nhwc = malloc(sizeof(float) * N * C * H * W),
        *back = malloc(sizeof(float) * N * C * H * W);
  r50_act a = {cnhw, C, N, H, W};
  r50_nchw_to_cnhw(ctx, x, &a);
  for (int64_t i = 0; i < (int64_t)N * C * H * W; i++)
    nhwc[i] = x[r50_nhwc_to_nchw(i, C, H, W)];
  int bad = 0;
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int p = 0; p < H * W; p++)
        bad += nhwc[((int64_t)n * H * W + p) * C + c] !=
               cnhw[((int64_t)c * N + n) * H * W + p];
  CHECK(bad == 0, "layout: %d elements of NHWC differ from the reference engine's CNHW",
        bad);
  for (int64_t i = 0; i < (int64_t)N * C * H * W; i++)
    back[r50_nhwc_to_nchw(i, C, H, W)] = nhwc[i];
  CHECK(same(back, x, (size_t)N * C * H * W), "layout: NHWC -> NCHW is not the inverse");
  /* KRSC of a (cout, cin, k, k) filter */
  const int co = 5, ci = 4, k = 3;
  float *w = randv((size_t)co * ci * k * k, -1, 1);
  bad = 0;
  for (int o = 0; o < co; o++)
    for (int r = 0; r < k; r++)
      for (int s = 0; s < k; s++)
        for (int c = 0; c < ci; c++) {
          const int64_t krsc = ((int64_t)(o * k + r) * k + s) * ci + c;
          bad += r50_krsc_to_oihw(krsc, ci, k) != ((int64_t)(o * ci + c) * k + r) * k + s;
        }
  CHECK(bad == 0, "KRSC offsets: %d wrong", bad);
  free(w), free(x), free(cnhw), free(nhwc), free(back);
}

/* BN folded as cpu/bn_fold.c does; then conv + epilogue as the reference conv. */
static void test_fold_epilogue(r50_cpu_ctx *ctx) {
  r50_conv_desc cd = {.id = 0, .cin = 6, .cout = C, .ksize = 3, .stride = 1, .pad = 1};
  const int64_t kw = (int64_t)cd.cin * 9;
  float *w = randv((size_t)C * kw, -1, 1), *b = randv(C, -100, 100),
        *g = randv(C, 0.5f, 2), *be = randv(C, -1e-3f, 1e-3f),
        *mu = randv(C, -1e-3f, 1e-3f), *var = randv(C, 0.1f, 3);
  r50_conv_params p = {w, b, g, be, mu, var, 2e-5, 0};
  float *wf = malloc(sizeof(float) * C * kw), *bf = malloc(sizeof(float) * C);
  r50_fold_bn(&cd, &p, wf, bf);
  int bad = 0;
  for (int o = 0; o < C; o++) {
    double scale;
    float bias;
    r50_fold_channel(g[o], be[o], mu[o], var[o], b[o], 2e-5, &scale, &bias);
    bad += bias != bf[o];
    for (int64_t i = 0; i < kw; i++)
      bad += r50_fold_weight(w[o * kw + i], scale) != wf[o * kw + i];
  }
  CHECK(bad == 0, "fold: %d values differ from r50_fold_bn", bad);

  /* the reference conv's output with bias, residual and ReLU = its bare sums through
   * the epilogue body */
  const int64_t n_in = (int64_t)cd.cin * N * H * W, n_out = (int64_t)C * N * H * W;
  float *x = randv((size_t)n_in, -1, 1), *res = randv((size_t)n_out, -2, 2),
        *zero = calloc(C, sizeof(float)), *bare = malloc(sizeof(float) * n_out),
        *full = malloc(sizeof(float) * n_out);
  r50_act in = {x, cd.cin, N, H, W}, o1 = {.data = bare}, o2 = {.data = full};
  r50_error err;
  for (int mode = 0; mode < 4; mode++) {
    const int relu = mode & 1, has_res = mode >> 1;
    CHECK(r50_conv_cpu(ctx, &cd, wf, zero, &in, &o1, NULL, 0, R50_CONV_PER_IMAGE, &err) ==
              R50_OK,
          "%s", err.msg);
    CHECK(r50_conv_cpu(ctx, &cd, wf, bf, &in, &o2, has_res ? res : NULL, relu,
                       R50_CONV_PER_IMAGE, &err) == R50_OK,
          "%s", err.msg);
    bad = 0;
    for (int64_t i = 0; i < n_out; i++) /* CNHW: channel i / (N H W) */
      bad += r50_epilogue(bare[i], bf[i / (N * H * W)], res[i], has_res, relu) != full[i];
    CHECK(bad == 0, "epilogue (relu %d, residual %d): %d of %lld differ", relu, has_res,
          bad, (long long)n_out);
  }
  free(w), free(b), free(g), free(be), free(mu), free(var), free(wf), free(bf);
  free(x), free(res), free(zero), free(bare), free(full);
}

/* BN forward and backward, training and frozen: the bodies given the channel sums
 * (taken here in the reference's order) give the reference's bits. */
static void test_bn(r50_cpu_ctx *ctx) {
  const int64_t m = (int64_t)N * H * W, total = C * m;
  float *z = randv((size_t)total, -3, 5), *res = randv((size_t)total, -1, 1),
        *dy = randv((size_t)total, -1, 1), *gamma = randv(C, 0.5f, 2),
        *beta = randv(C, -1, 1);
  for (int frozen = 0; frozen < 2; frozen++) {
    float am[C], av[C], am2[C], av2[C], mean[C], inv[C], mean2[C], inv2[C];
    for (int c = 0; c < C; c++)
      am[c] = am2[c] = frand(-1, 1), av[c] = av2[c] = frand(0.5f, 2);
    float *y = malloc(sizeof(float) * total), *dz = malloc(sizeof(float) * total);
    float dg[C] = {0}, db[C] = {0};
    r50_bn_args a = {gamma, beta, am, av, mean, inv, 2e-5, 0.9, frozen};
    r50_act za = {z, C, N, H, W}, ya = {.data = y}, dya = {dy, C, N, H, W},
            dza = {.data = dz};
    const r50_groups gl = r50_groups_cnhw(&za);
    r50_bn_forward_cpu(ctx, &gl, &a, &za, &ya, res, 1);
    r50_bn_backward_cpu(ctx, &gl, &a, &za, &dya, &dza, dg, db);
    int bad = 0, bad_b = 0;
    for (int c = 0; c < C; c++) {
      const float *zc = z + c * m, *gc = dy + c * m;
      if (frozen) {
        r50_bn_frozen(am2[c], av2[c], 2e-5, &mean2[c], &inv2[c]);
      } else {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < m; i++)
          s += zc[i];
        const double mu = s / (double)m;
        for (int64_t i = 0; i < m; i++)
          s2 += ((double)zc[i] - mu) * ((double)zc[i] - mu);
        CHECK(r50_bn_mean(s, m) == (float)mu, "bn mean");
        r50_bn_finalize(s, s2, m, 2e-5, 0.9, &mean2[c], &inv2[c], &am2[c], &av2[c]);
      }
      bad +=
          mean2[c] != mean[c] || inv2[c] != inv[c] || am2[c] != am[c] || av2[c] != av[c];
      for (int64_t i = 0; i < m; i++)
        bad += r50_bn_apply(zc[i], mean2[c], inv2[c], gamma[c], beta[c], res[c * m + i],
                            1, 1) != y[c * m + i];
      double sb = 0, sg = 0;
      for (int64_t i = 0; i < m; i++) {
        sb += gc[i];
        sg += (double)gc[i] * r50_bn_xhat(zc[i], mean2[c], inv2[c]);
      }
      const r50_bn_grad_coef k = r50_bn_grad_coefs(sb, sg, m, gamma[c], inv2[c]);
      bad_b += (float)sg != dg[c] || (float)sb != db[c];
      for (int64_t i = 0; i < m; i++)
        bad_b += r50_bn_backward_elem(zc[i], gc[i], mean2[c], inv2[c], k, frozen) !=
                 dz[c * m + i];
    }
    CHECK(bad == 0, "BN forward (frozen %d): %d values differ from the reference", frozen,
          bad);
    CHECK(bad_b == 0, "BN backward (frozen %d): %d values differ from the reference",
          frozen, bad_b);
    free(y), free(dz);
  }
  /* relu mask */
  float *y = randv((size_t)total, -1, 1), *d1 = randv((size_t)total, -1, 1),
        *d2 = malloc(sizeof(float) * total);
  y[0] = 0.0f, y[1] = -0.0f;
  memcpy(d2, d1, sizeof(float) * total);
  r50_act ya = {y, C, N, H, W}, da = {d1, C, N, H, W};
  r50_relu_mask_cpu(ctx, &ya, &da);
  int bad = 0;
  for (int64_t i = 0; i < total; i++)
    bad += r50_relu_mask_elem(y[i], d2[i]) != d1[i];
  CHECK(bad == 0, "relu mask: %d differ", bad);
  free(z), free(res), free(dy), free(gamma), free(beta), free(y), free(d1), free(d2);
}

/* Max pooling (pd: pool1's 3x3/2 cover_all, and padded) and average pooling, forward
 * and backward, on values with ties. */
static void test_pooling(r50_cpu_ctx *ctx, r50_pool_desc pd) {
  enum { PH = 12, PW = 11 };
  const int64_t ho = r50_out_size(PH, pd.ksize, pd.stride, pd.pad, pd.cover_all),
                wo = r50_out_size(PW, pd.ksize, pd.stride, pd.pad, pd.cover_all);
  const int64_t nin = (int64_t)C * N * PH * PW, nout = (int64_t)C * N * ho * wo;
  float *x = malloc(sizeof(float) * nin), *xn = malloc(sizeof(float) * nin);
  for (int64_t i = 0; i < nin; i++)
    x[i] = (float)((int)frand(0, 4)); /* few values: many ties */
  r50_act xa = {x, C, N, PH, PW}, ya = {.data = malloc(sizeof(float) * nout)};
  r50_maxpool_cpu(ctx, &pd, &xa, &ya);
  /* x in NHWC for the bodies */
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++)
      for (int p = 0; p < PH * PW; p++)
        xn[((int64_t)n * PH * PW + p) * C + c] = x[((int64_t)c * N + n) * PH * PW + p];
  int bad = 0;
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++)
      for (int64_t oy = 0; oy < ho; oy++)
        for (int64_t ox = 0; ox < wo; ox++)
          bad += r50_maxpool_at(xn + (int64_t)n * PH * PW * C + c, C, PH, PW, pd.ksize,
                                pd.stride, pd.pad, oy, ox) !=
                 ya.data[((int64_t)c * N + n) * ho * wo + oy * wo + ox];
  CHECK(bad == 0 && ya.h == ho && ya.w == wo, "max pooling %dx%d/%d pad %d: %d differ",
        pd.ksize, pd.ksize, pd.stride, pd.pad, bad);
  /* backward: the reference scatters, the body gathers */
  float *dy = randv((size_t)nout, -1, 1), *dyn = malloc(sizeof(float) * nout);
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++)
      for (int64_t p = 0; p < ho * wo; p++)
        dyn[((int64_t)n * ho * wo + p) * C + c] = dy[((int64_t)c * N + n) * ho * wo + p];
  r50_act dya = {dy, C, N, ho, wo}, dxa = {.data = malloc(sizeof(float) * nin)};
  r50_maxpool_backward_cpu(ctx, &pd, &xa, &dya, &dxa);
  /* (the first pass: each output's choice, in NHWC as dy) */
  uint8_t *arg = malloc((size_t)nout);
  for (int n = 0; n < N; n++)
    for (int64_t oy = 0; oy < ho; oy++)
      for (int64_t ox = 0; ox < wo; ox++)
        for (int c = 0; c < C; c++)
          arg[(((int64_t)n * ho + oy) * wo + ox) * C + c] =
              (uint8_t)r50_maxpool_arg(xn + (int64_t)n * PH * PW * C + c, C, PH, PW,
                                       pd.ksize, pd.stride, pd.pad, oy, ox);
  bad = 0;
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++)
      for (int64_t iy = 0; iy < PH; iy++)
        for (int64_t ix = 0; ix < PW; ix++)
          bad += r50_maxpool_grad_at(arg + (int64_t)n * ho * wo * C + c,
                                     dyn + (int64_t)n * ho * wo * C + c, C, ho, wo,
                                     pd.ksize, pd.stride, pd.pad, iy, ix) !=
                 dxa.data[((int64_t)c * N + n) * PH * PW + iy * PW + ix];
  free(arg);
  CHECK(bad == 0, "max pooling %dx%d/%d pad %d backward: %d differ", pd.ksize, pd.ksize,
        pd.stride, pd.pad, bad);
  /* average pooling and its gradient */
  float *avg = malloc(sizeof(float) * N * C), *g = randv((size_t)N * C, -1, 1);
  r50_avgpool_cpu(ctx, &xa, avg);
  r50_act ga = {malloc(sizeof(float) * nin), C, N, PH, PW};
  r50_avgpool_backward_cpu(ctx, g, &ga);
  bad = 0;
  int bad_b = 0;
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      bad +=
          r50_avgpool_at(xn + (int64_t)n * PH * PW * C + c, C, PH * PW) != avg[n * C + c];
      for (int p = 0; p < PH * PW; p++)
        bad_b += r50_avgpool_grad(g[n * C + c], PH * PW) !=
                 ga.data[((int64_t)c * N + n) * PH * PW + p];
    }
  CHECK(bad == 0, "average pooling: %d differ", bad);
  CHECK(bad_b == 0, "average pooling backward: %d differ", bad_b);
  free(x), free(xn), free(ya.data), free(dy), free(dyn), free(dxa.data), free(avg),
      free(g);
  free(ga.data);
}

/* r50_nhwc_split, in 32 bits and in 64, against the plain 64-bit divisions: shapes of
 * the network and odd ones, indices up to 2^31 and beyond (both paths). */
static void test_nhwc_split(void) {
  const int64_t shapes[][3] = {{64, 112, 112}, {3, 224, 224}, {2048, 7, 7}, {5, 3, 1},
                               {1, 1, 1},      {1000, 1, 1},  {7, 9, 11}};
  r50_rng r;
  r50_rng_seed(&r, 9);
  int bad = 0, runs = 0;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    const int64_t C = shapes[k][0], H = shapes[k][1], W = shapes[k][2];
    for (int t = 0; t < 20000; t++, runs++) {
      const uint64_t span = t % 3 == 0   ? (uint64_t)1 << 31
                            : t % 3 == 1 ? 1u << 20
                                         : (uint64_t)1 << 40;
      int64_t i = (int64_t)(r50_rng_next(&r) % span);
      if (t < 4)
        i = (int64_t)INT32_MAX - 1 + t; /* both sides of the switch */
      int64_t n, y, x, c;
      r50_nhwc_split(i, C, H, W, &n, &y, &x, &c);
      const int64_t q = i / C;
      bad += c != i % C || x != q % W || y != (q / W) % H || n != q / (W * H) ||
             r50_nhwc_to_nchw(i, C, H, W) !=
                 (i / (C * H * W) * C + i % C) * H * W + (i / C) % (H * W);
    }
  }
  CHECK(bad == 0, "r50_nhwc_split: %d of %d indices split wrong", bad, runs);
}

/* A strided 1x1 convolution's backward data as the CUDA engine makes it (the stride-1
 * one on the output's grid, put back by r50_unstride_from) against the reference
 * engine's strided one. */
static void test_unstride(r50_cpu_ctx *ctx) {
  enum { CI = 6, CO = 5, S = 2, HO = (H - 1) / S + 1, WO = (W - 1) / S + 1 };
  const r50_conv_desc strided = {0, CI, CO, 1, S, 0, 0, -1, 0},
                      flat = {0, CI, CO, 1, 1, 0, 0, -1, 0};
  float *w = randv(CO * CI, -1, 1), *dz = randv((size_t)CO * N * HO * WO, -1, 1),
        *x = calloc((size_t)CI * N * H * W, sizeof(float)),
        *ref = malloc(sizeof(float) * CI * N * H * W),
        *sub = malloc(sizeof(float) * CI * N * HO * WO),
        *subn = malloc(sizeof(float) * CI * N * HO * WO);
  r50_act xa = {x, CI, N, H, W}, xs = {x, CI, N, HO, WO}, dza = {dz, CO, N, HO, WO},
          ra = {ref, CI, N, H, W}, sa = {sub, CI, N, HO, WO};
  r50_error err;
  CHECK(r50_conv_backward_cpu(ctx, &strided, w, &xa, &dza, &ra, NULL, NULL, &err) ==
                R50_OK &&
            r50_conv_backward_cpu(ctx, &flat, w, &xs, &dza, &sa, NULL, NULL, &err) ==
                R50_OK,
        "conv backward: %s", err.msg);
  for (int c = 0; c < CI; c++) /* CNHW -> NHWC */
    for (int64_t q = 0; q < (int64_t)N * HO * WO; q++)
      subn[q * CI + c] = sub[c * N * HO * WO + q];
  int bad = 0;
  for (int64_t i = 0; i < (int64_t)N * H * W * CI; i++) {
    const int64_t from = r50_unstride_from(i, CI, H, W, HO, WO, S), c = i % CI,
                  q = i / CI;
    const float got = from < 0 ? 0.0f : subn[from], want = ref[c * N * H * W + q];
    bad += fabsf(got - want) > 1e-6f * (1 + fabsf(want));
  }
  CHECK(bad == 0, "strided 1x1 backward data from the stride-1 one: %d of %d differ", bad,
        N * H * W * CI);
  free(w), free(dz), free(x), free(ref), free(sub), free(subn);
}

/* softmax, cross-entropy, fc6's bias gradient, MomentumSGD */
static void test_rows(r50_cpu_ctx *ctx) {
  enum { R = 6, K = 37 };
  float *z = randv(R * K, -8, 8), *y = malloc(sizeof(float) * R * K),
        *y2 = malloc(sizeof(float) * K);
  r50_softmax_cpu(ctx, z, R, K, y);
  int bad = 0;
  for (int i = 0; i < R; i++) {
    r50_softmax_row(z + i * K, K, y2);
    bad += !same(y2, y + i * K, K);
  }
  CHECK(bad == 0, "softmax: %d rows differ", bad);
  int32_t labels[R] = {0, 36, -1, 5, 40, 5};
  z[3 * K + 5] = 9; /* a hit */
  float *d = malloc(sizeof(float) * R * K), *d2 = calloc(R * K, sizeof(float));
  double loss;
  int64_t correct, valid;
  r50_softmax_xent_cpu(ctx, z, labels, R, K, 0.5, &loss, &correct, &valid, d);
  double total = 0;
  int64_t hits = 0, counted = 0;
  for (int i = 0; i < R; i++)
    counted += labels[i] >= 0 && labels[i] < K;
  for (int i = 0; i < R; i++) {
    if (labels[i] < 0 || labels[i] >= K)
      continue;
    int hit;
    total +=
        r50_xent_row(z + i * K, K, labels[i], 0.5 / (double)counted, d2 + i * K, &hit);
    hits += hit;
  }
  CHECK(valid == counted && correct == hits && hits >= 1,
        "xent: counts %lld/%lld vs %lld/%lld", (long long)correct, (long long)valid,
        (long long)hits, (long long)counted);
  CHECK(total / (double)counted == loss, "xent: loss %.17g vs %.17g", total / counted,
        loss);
  CHECK(same(d, d2, R * K), "xent: the gradients differ");
  /* the bias gradient of fc6 */
  float *dy = randv(R * K, -1, 1), *db = calloc(K, sizeof(float)),
        *x = randv(R * 4, -1, 1), *dw = calloc(K * 4, sizeof(float));
  r50_linear_backward_cpu(ctx, x, dy, R, 4, NULL, K, NULL, dw, db);
  bad = 0;
  for (int o = 0; o < K; o++)
    bad += r50_column_sum(dy, R, K, o) != db[o];
  CHECK(bad == 0, "column sums: %d differ from fc6's bias gradient", bad);
  /* MomentumSGD + WeightDecay, and without decay */
  for (int wd = 0; wd < 2; wd++) {
    enum { P = 1000 };
    float *p = randv(P, -1, 1), *gr = randv(P, -1, 1), *v = randv(P, -1, 1);
    float *p2 = malloc(sizeof(float) * P), *g2 = malloc(sizeof(float) * P),
          *v2 = malloc(sizeof(float) * P);
    memcpy(p2, p, sizeof(float) * P), memcpy(g2, gr, sizeof(float) * P);
    memcpy(v2, v, sizeof(float) * P);
    r50_momentum_sgd_cpu(ctx, p, gr, v, P, 0.01, 0.9, wd ? 1e-4 : 0);
    for (int i = 0; i < P; i++)
      r50_momentum_elem(&p2[i], &g2[i], &v2[i], 0.01f, 0.9f, wd ? 1e-4f : 0.0f);
    CHECK(same(p, p2, P) && same(gr, g2, P) && same(v, v2, P),
          "MomentumSGD (decay %d) differs", wd);
    free(p), free(gr), free(v), free(p2), free(g2), free(v2);
  }
  free(z), free(y), free(y2), free(d), free(d2), free(dy), free(db), free(x), free(dw);
}

/* The host side of the engine, without a GPU. */
static void test_host_rules(void) {
  static const int cases[][3] = {{0, 8, 0}, {7, 8, 7},  {9, 8, 1},  {3, 1, 0},
                                 {2, 4, 2}, {5, 0, -1}, {-1, 4, -1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    CHECK(r50_cuda_pick_device(cases[i][0], cases[i][1]) == cases[i][2],
          "local rank %d of %d GPUs: GPU %d, not %d", cases[i][0], cases[i][1],
          r50_cuda_pick_device(cases[i][0], cases[i][1]), cases[i][2]);
  r50_error err = {0};
  CHECK(r50_cuda_fail(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "/x/engine_cuda.cu",
                      7, &err) == R50_ERR_DEVICE,
        "a CUDA error's status");
  CHECK(strstr(err.msg, "cudaMalloc(&p, n) failed at engine_cuda.cu:7") &&
            strstr(err.msg, "HINT: out of GPU memory"),
        "the message names the call, the place and a hint: %s", err.msg);
  if (r50_cuda_device_count() == 0) {
    CHECK(r50_cuda_use_device(0, &err) == R50_ERR_DEVICE && strstr(err.msg, "sees 0"),
          "no GPU: %s", err.msg);
    r50_config cfg = r50_config_default();
    cfg.pretrained = NULL;
    cfg.device = R50_DEVICE_CUDA;
    CHECK(r50_model_new(&cfg, &err) == NULL && err.status == R50_ERR_DEVICE &&
              strstr(err.msg, "no GPU is visible"),
          "a model on a missing GPU: %s", err.msg);
    CHECK(r50_device_count(R50_DEVICE_CUDA) == 0 && r50_device_count(R50_DEVICE_CPU) == 1,
          "device counts");
  }
  /* page-locked where a driver gives it, plain memory where not: usable either way */
  float *h = r50_cuda_host_alloc((size_t)1 << 20);
  CHECK(h != NULL, "r50_cuda_host_alloc");
  if (h) {
    memset(h, 0, (size_t)1 << 20);
    r50_cuda_host_free(h);
  }
  r50_cuda_host_free(NULL);
  /* info's line of libraries, without a GPU too; built and run here with the same */
  char libs[256];
  r50_cuda_libraries(libs, sizeof libs);
  CHECK(!strncmp(libs, "CUDA runtime ", 13) && strstr(libs, ", cuDNN 9.") &&
            strstr(libs, ", NCCL 2.") && strstr(libs, ", driver ") &&
            !strstr(libs, "built with"),
        "the CUDA libraries loaded: %s", libs);
  setenv("R50_NCCL_TIMEOUT_S", "2.5", 1);
  CHECK(r50_nccl_timeout_s() == 2.5, "R50_NCCL_TIMEOUT_S");
  setenv("R50_NCCL_TIMEOUT_S", "junk", 1);
  CHECK(r50_nccl_timeout_s() == 600, "a bad R50_NCCL_TIMEOUT_S falls back to 600 s");
  unsetenv("R50_NCCL_TIMEOUT_S");
}

/* Whether a library whose name holds `name` is mapped into this process. */
static int mapped(const char *name) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f))
    found = strstr(line, name) != NULL;
  if (f)
    fclose(f);
  return found;
}

/* cuBLAS is not linked (linking it costs every process ~210 MiB: cublas_lazy.h): not
 * in the process until r50_cublas_load, then loaded with every function it needs. */
static void test_cublas_lazy(void) {
  CHECK(!mapped("libcublas"), "libcublas is mapped before any CUDA engine asked for it");
  r50_error err = {0};
  const r50_cublas_api *cb = r50_cublas_load(&err);
  CHECK(cb != NULL, "r50_cublas_load: %s", err.msg);
  if (!cb)
    return;
  CHECK(mapped("libcublas") && cb == r50_cublas(), "cuBLAS loaded once, the same table");
  CHECK(cb->create && cb->destroy && cb->set_stream && cb->set_math_mode && cb->sgemm &&
            cb->status_string,
        "every cuBLAS function found");
  const char *s = cb->status_string(CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(s && strstr(s, "not initialized"), "cublasGetStatusString works: %s",
        s ? s : "NULL");
  CHECK(r50_cublas_load(&err) == cb, "a second load returns the same table");
}

/* R50_FOR_EACH_GROUP, the elementwise kernels' loop, run for every thread of a
 * simulated grid: each group of an NHWC tensor visited exactly once, by a thread, with
 * its channel right; strides of every size against the channels (grids of 1 thread up
 * to more threads than groups). */
static void test_group_loop(void) {
  const struct {
    int64_t total, c;
    int vec;
  } cases[] = {{64 * 7, 64, 4},       {2048 * 3, 2048, 4}, {256 * 49, 256, 4},
               {3 * 11, 3, 1},        {20 * 9, 20, 1},     {4 * 1000, 4, 4},
               {1000003, 1000003, 1}, {12, 12, 4},         {8 * 5, 8, 4}};
  const int64_t threads[] = {1, 3, 4, 31, 256, 1000, 4097, 1 << 16};
  int bad = 0, runs = 0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int64_t total = cases[k].total, c = cases[k].c, vec = cases[k].vec,
                  groups = total / vec;
    unsigned char *seen = calloc((size_t)groups, 1);
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
      const int64_t n_threads = threads[t];
      if (n_threads > 4 * groups + 8 && t > 0 && threads[t - 1] > groups)
        continue; /* more idle threads prove nothing more */
      memset(seen, 0, (size_t)groups);
      for (int64_t th = 0; th < n_threads; th++)
        R50_FOR_EACH_GROUP(i, ch, th, n_threads, total, c, vec) {
          bad += i % vec != 0 || ch != i % c || ch + vec > c;
          seen[i / vec]++;
        }
      for (int64_t g = 0; g < groups; g++)
        bad += seen[g] != 1;
      runs++;
    }
    free(seen);
  }
  CHECK(bad == 0 && runs > 30,
        "R50_FOR_EACH_GROUP: every group once, its channel right "
        "(%d errors in %d simulated grids)",
        bad, runs);
}

/* r50_bn_unshift: one pass's shifted sums give the two-pass sums (what r50_bn_finalize
 * takes) to 1e-12, and the same statistics, also for channels far from zero. */
static void test_bn_unshift(void) {
  enum { M = 20000 };
  int bad = 0;
  double worst = 0;
  for (int k = 0; k < 6; k++) {
    const float center = k < 3 ? (float)(k * 40 - 40) : 1e4f, spread = k % 2 ? 1e-2f : 3;
    float *z = randv(M, center - spread, center + spread);
    double s = 0, s2 = 0, a1 = 0, a2 = 0;
    for (int i = 0; i < M; i++)
      s += z[i];
    const double mu = s / M;
    for (int i = 0; i < M; i++)
      s2 += ((double)z[i] - mu) * ((double)z[i] - mu);
    const double shift = z[0];
    for (int i = 0; i < M; i++)
      a1 += (double)z[i] - shift, a2 += ((double)z[i] - shift) * ((double)z[i] - shift);
    double u, u2;
    r50_bn_unshift(shift, a1, a2, M, &u, &u2);
    worst = fmax(worst, fmax(fabs(u - s) / fabs(s), fabs(u2 - s2) / s2));
    float m1, i1, am1 = 0.5f, av1 = 1, m2, i2, am2 = 0.5f, av2 = 1;
    r50_bn_finalize(s, s2, M, 2e-5, 0.9, &m1, &i1, &am1, &av1);
    r50_bn_finalize(u, u2, M, 2e-5, 0.9, &m2, &i2, &am2, &av2);
    bad += m1 != m2 || i1 != i2 || am1 != am2 || av1 != av2;
    free(z);
  }
  CHECK(worst <= 1e-12 && bad == 0,
        "BN's one-pass shifted sums: within %.1e of the two-pass sums, the same "
        "statistics (%d channels differ)",
        worst, bad);
}

int main(void) {
  test_cublas_lazy(); /* first: nothing else may have loaded it */
  test_group_loop();
  test_nhwc_split();
  test_bn_unshift();
  r50_cpu_ctx ctx;
  r50_cpu_ctx_init(&ctx, 2);
  test_layout(&ctx);
  test_fold_epilogue(&ctx);
  test_bn(&ctx);
  test_pooling(&ctx, (r50_pool_desc){3, 2, 0, 1});
  test_pooling(&ctx, (r50_pool_desc){3, 2, 1, 0});
  test_rows(&ctx);
  test_unstride(&ctx);
  test_host_rules();
  r50_cpu_ctx_release(&ctx);
  return test_result("test_cuda_bodies");
}

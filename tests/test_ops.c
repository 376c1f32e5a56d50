/*
 * test_ops.c — every op of the engine interface (core/engine.h), on every engine,
 * against a naive loop in double precision on small random shapes (ggml's
 * test-backend-ops): convolution with its inference BatchNormalization, a residual and
 * ReLU, for each kernel size, stride and padding ResNet uses and some it does not; max
 * pooling with and without cover_all and padding; global average pooling; the linear
 * layer; softmax; the layout conversions. Each op has its tolerance, relative to the
 * largest reference value. Later engines join the `engines` list. Channel counts of 16
 * and more run the blocked layouts and the kernels of real layers (Winograd for the
 * stride-1 3x3: oneDNN's on AVX-512, winograd.h's on AVX2). Engines with bf16 on this
 * CPU run again in bf16, whose tolerances are those of bfloat16's 8-bit mantissa.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "table.h"
#include "test_util.h"

static double g_worst[8];
enum { OP_CONV, OP_MAXPOOL, OP_AVGPOOL, OP_LINEAR, OP_SOFTMAX, OP_LAYOUT };
static const char *const op_names[] = {"conv",   "maxpool", "avgpool",
                                       "linear", "softmax", "layout"};
static const double tolerance_fp32[] = {1e-5, 0, 1e-6, 1e-5, 1e-6, 0};
/* bf16 activations and weights: each input rounded by up to 2^-9 */
static const double tolerance_bf16[] = {3e-2, 4e-3, 4e-3, 1e-5, 1e-6, 4e-3};
static const double *tolerance = tolerance_fp32;

/* max|got - want| <= tol * max|want| (+ a floor for all-zero references). */
static void compare(int op, const char *what, const float *got, const double *want,
                    size_t n) {
  double maxref = 0, maxdiff = 0;
  for (size_t i = 0; i < n; i++) {
    maxref = fmax(maxref, fabs(want[i]));
    maxdiff = fmax(maxdiff, fabs(got[i] - want[i]));
  }
  double rel = maxdiff / (maxref > 0 ? maxref : 1);
  g_worst[op] = fmax(g_worst[op], rel);
  CHECK(rel <= tolerance[op] + 1e-7,
        "%s %s: max relative difference %.3g (tolerance %.1g)", op_names[op], what, rel,
        tolerance[op]);
}

typedef struct shape {
  int64_t n, c, h, w;
} shape;

static size_t numel(shape s) {
  return (size_t)(s.n * s.c * s.h * s.w);
}

static void test_conv(const r50_engine *e, r50_engine_state *st, int cin, int cout, int k,
                      int stride, int pad, shape in, int bias, int residual, int relu) {
  char what[128];
  snprintf(what, sizeof what, "%d->%d k%d s%d p%d on %lldx%lldx%lld%s%s%s", cin, cout, k,
           stride, pad, (long long)in.n, (long long)in.h, (long long)in.w,
           bias ? " +bias" : "", residual ? " +residual" : "", relu ? " +relu" : "");
  in.c = cin;
  const int64_t ho = r50_out_size(in.h, k, stride, pad, 0),
                wo = r50_out_size(in.w, k, stride, pad, 0);
  shape out = {in.n, cout, ho, wo};
  float *x = randv(numel(in), -2, 2), *W = randv((size_t)cout * cin * k * k, -0.5f, 0.5f);
  float *b = randv((size_t)cout, -1, 1), *g = randv((size_t)cout, 0.5f, 1.5f);
  float *be = randv((size_t)cout, -1, 1), *mu = randv((size_t)cout, -0.5f, 0.5f);
  float *var = randv((size_t)cout, 0.2f, 2), *res = randv(numel(out), -2, 2);
  r50_conv_desc c = {
      .id = 0, .cin = cin, .cout = cout, .ksize = k, .stride = stride, .pad = pad};
  r50_conv_params p = {W, bias ? b : NULL, g, be, mu, var, R50_BN_EPS, 0};
  r50_error err = {0};
  CHECK(e->set_conv(st, &c, &p, &err) == R50_OK, "%s", err.msg);
  float *act[R50_ACT_BUFS], *vec;
  size_t need = numel(in) > numel(out) ? numel(in) : numel(out);
  CHECK(e->reserve(st, need, 16, act, &vec, &err) == R50_OK, "%s", err.msg);
  r50_act a = {.data = act[0]}, r = {.data = act[1]}, y = {.data = act[2]};
  e->from_nchw(st, x, in.n, in.c, in.h, in.w, &a);
  e->from_nchw(st, res, out.n, out.c, out.h, out.w, &r);
  CHECK(e->conv(st, &c, &a, &y, residual ? &r : NULL, relu, &err) == R50_OK, "%s",
        err.msg);
  CHECK(y.c == cout && y.n == in.n && y.h == ho && y.w == wo, "%s: output dims", what);
  float *got = malloc(numel(out) * sizeof *got);
  e->to_nchw(st, &y, got);
  double *want = calloc(numel(out), sizeof *want);
  for (int64_t i = 0; i < in.n; i++)
    for (int o = 0; o < cout; o++) {
      double sc = g[o] / sqrt((double)var[o] + R50_BN_EPS);
      for (int64_t oy = 0; oy < ho; oy++)
        for (int64_t ox = 0; ox < wo; ox++) {
          double acc = bias ? b[o] : 0;
          for (int ci = 0; ci < cin; ci++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
                  acc += (double)W[((o * cin + ci) * k + ky) * k + kx] *
                         x[((i * cin + ci) * in.h + iy) * in.w + ix];
              }
          size_t at = (size_t)(((i * cout + o) * ho + oy) * wo + ox);
          double v = (acc - mu[o]) * sc + be[o] + (residual ? res[at] : 0);
          want[at] = relu && v < 0 ? 0 : v;
        }
    }
  compare(OP_CONV, what, got, want, numel(out));
  free(x), free(W), free(b), free(g), free(be), free(mu), free(var), free(res), free(got);
  free(want);
}

static void test_maxpool(const r50_engine *e, r50_engine_state *st, r50_pool_desc pd,
                         shape in) {
  char what[96];
  snprintf(what, sizeof what, "k%d s%d p%d%s on %lldx%lld", pd.ksize, pd.stride, pd.pad,
           pd.cover_all ? " cover_all" : "", (long long)in.h, (long long)in.w);
  const int64_t ho = r50_out_size(in.h, pd.ksize, pd.stride, pd.pad, pd.cover_all),
                wo = r50_out_size(in.w, pd.ksize, pd.stride, pd.pad, pd.cover_all);
  shape out = {in.n, in.c, ho, wo};
  float *x = randv(numel(in), -3, 3), *act[R50_ACT_BUFS], *vec;
  r50_error err = {0};
  CHECK(e->reserve(st, numel(in), 16, act, &vec, &err) == R50_OK, "%s", err.msg);
  r50_act a = {.data = act[0]}, y = {.data = act[1]};
  e->from_nchw(st, x, in.n, in.c, in.h, in.w, &a);
  e->maxpool(st, &pd, &a, &y);
  CHECK(y.h == ho && y.w == wo, "maxpool %s: output dims %lldx%lld", what, (long long)y.h,
        (long long)y.w);
  float *got = malloc(numel(out) * sizeof *got);
  e->to_nchw(st, &y, got);
  double *want = malloc(numel(out) * sizeof *want);
  for (int64_t p = 0; p < in.n * in.c; p++)
    for (int64_t oy = 0; oy < ho; oy++)
      for (int64_t ox = 0; ox < wo; ox++) {
        double m = -INFINITY;
        for (int ky = 0; ky < pd.ksize; ky++)
          for (int kx = 0; kx < pd.ksize; kx++) {
            int64_t iy = oy * pd.stride - pd.pad + ky, ix = ox * pd.stride - pd.pad + kx;
            if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
              m = fmax(m, x[(p * in.h + iy) * in.w + ix]);
          }
        want[(p * ho + oy) * wo + ox] = m;
      }
  compare(OP_MAXPOOL, what, got, want, numel(out));
  free(x), free(got), free(want);
}

static void test_avgpool(const r50_engine *e, r50_engine_state *st, shape in) {
  float *x = randv(numel(in), -3, 3), *act[R50_ACT_BUFS], *vec;
  r50_error err = {0};
  CHECK(e->reserve(st, numel(in), (size_t)(in.n * in.c), act, &vec, &err) == R50_OK, "%s",
        err.msg);
  r50_act a = {.data = act[0]};
  e->from_nchw(st, x, in.n, in.c, in.h, in.w, &a);
  e->avgpool(st, &a, vec);
  float *got = malloc((size_t)(in.n * in.c) * sizeof *got);
  e->vec_to_host(st, vec, (size_t)(in.n * in.c), got);
  double *want = calloc((size_t)(in.n * in.c), sizeof *want);
  for (int64_t i = 0; i < in.n; i++)
    for (int64_t c = 0; c < in.c; c++) {
      for (int64_t j = 0; j < in.h * in.w; j++)
        want[i * in.c + c] += x[(i * in.c + c) * in.h * in.w + j];
      want[i * in.c + c] /= (double)(in.h * in.w);
    }
  compare(OP_AVGPOOL, "global", got, want, (size_t)(in.n * in.c));
  free(x), free(got), free(want);
}

static void test_linear_softmax(const r50_engine *e, r50_engine_state *st, int64_t n,
                                int64_t cin, int64_t cout) {
  float *x = randv((size_t)(n * cin), -2, 2), *W = randv((size_t)(cout * cin), -1, 1);
  float *b = randv((size_t)cout, -1, 1), *act[R50_ACT_BUFS], *vec;
  r50_error err = {0};
  CHECK(e->set_linear(st, W, b, cout, cin, &err) == R50_OK, "%s", err.msg);
  CHECK(e->reserve(st, 16, (size_t)(n * (cin + 2 * cout)), act, &vec, &err) == R50_OK,
        "%s", err.msg);
  float *vx = vec, *vy = vec + n * cin, *vp = vy + n * cout;
  e->vec_from_host(st, x, (size_t)(n * cin), vx);
  e->linear(st, vx, n, vy);
  e->softmax(st, vy, n, cout, vp);
  float *y = malloc((size_t)(n * cout) * sizeof *y),
        *prob = malloc((size_t)(n * cout) * sizeof *prob);
  e->vec_to_host(st, vy, (size_t)(n * cout), y);
  e->vec_to_host(st, vp, (size_t)(n * cout), prob);
  double *want = calloc((size_t)(n * cout), sizeof *want),
         *pw = calloc((size_t)(n * cout), sizeof *pw);
  for (int64_t i = 0; i < n; i++) {
    double mx = -INFINITY, sum = 0;
    for (int64_t o = 0; o < cout; o++) {
      double acc = b[o];
      for (int64_t k = 0; k < cin; k++)
        acc += (double)x[i * cin + k] * W[o * cin + k];
      want[i * cout + o] = acc;
      mx = fmax(mx, y[i * cout + o]);
    }
    for (int64_t o = 0; o < cout; o++)
      sum += pw[i * cout + o] = exp((double)y[i * cout + o] - mx);
    for (int64_t o = 0; o < cout; o++)
      pw[i * cout + o] /= sum;
  }
  char what[64];
  snprintf(what, sizeof what, "%lld x %lld -> %lld", (long long)n, (long long)cin,
           (long long)cout);
  compare(OP_LINEAR, what, y, want, (size_t)(n * cout));
  compare(OP_SOFTMAX, what, prob, pw, (size_t)(n * cout));
  free(x), free(W), free(b), free(y), free(prob), free(want), free(pw);
}

static void test_layout(const r50_engine *e, r50_engine_state *st, shape s) {
  float *x = randv(numel(s), -5, 5), *act[R50_ACT_BUFS], *vec;
  r50_error err = {0};
  CHECK(e->reserve(st, numel(s), 16, act, &vec, &err) == R50_OK, "%s", err.msg);
  r50_act a = {.data = act[3]};
  e->from_nchw(st, x, s.n, s.c, s.h, s.w, &a);
  float *back = malloc(numel(s) * sizeof *back);
  e->to_nchw(st, &a, back);
  double *want = malloc(numel(s) * sizeof *want);
  for (size_t i = 0; i < numel(s); i++)
    want[i] = x[i];
  compare(OP_LAYOUT, "NCHW round trip", back, want, numel(s));
  free(x), free(back), free(want);
}

/* Returns 0 where e cannot run precision p on this CPU. */
static int test_engine(const r50_engine *e, r50_precision p) {
  for (int threads = 1; threads <= 2; threads++) {
    r50_engine_state *st;
    r50_error err = {0};
    CHECK(e->create(threads, &st, &err) == R50_OK, "%s: %s", e->name, err.msg);
    if (p != R50_PRECISION_FP32 && (!e->set_precision || e->set_precision(st, p) != p)) {
      e->destroy(st);
      return 0;
    }
    test_conv(e, st, 3, 8, 7, 2, 3, (shape){2, 0, 19, 23}, 1, 0, 1); /* conv1 */
    test_conv(e, st, 16, 8, 1, 1, 0, (shape){3, 0, 9, 7}, 0, 0, 1);  /* 1x1 in place */
    test_conv(e, st, 16, 24, 1, 2, 0, (shape){2, 0, 10, 11}, 0, 0,
              0);                                                   /* MSRA downsample */
    test_conv(e, st, 8, 8, 3, 1, 1, (shape){2, 0, 12, 9}, 0, 1, 1); /* + residual */
    test_conv(e, st, 8, 16, 3, 2, 1, (shape){1, 0, 13, 13}, 0, 0, 1); /* FB downsample */
    test_conv(e, st, 5, 7, 3, 1, 0, (shape){2, 0, 6, 5}, 1, 1, 0);    /* no padding */
    test_conv(e, st, 4, 6, 1, 1, 0, (shape){2, 0, 40, 40}, 0, 1, 1);  /* several chunks */
    /* blocked layouts, the shapes of real layers */
    test_conv(e, st, 32, 32, 3, 1, 1, (shape){2, 0, 14, 14}, 0, 1, 1);   /* res4's 3x3 */
    test_conv(e, st, 128, 128, 3, 1, 1, (shape){1, 0, 28, 28}, 0, 0, 1); /* res3's */
    test_conv(e, st, 64, 48, 3, 1, 1, (shape){1, 0, 7, 7}, 1, 0, 1);     /* res5's 3x3 */
    test_conv(e, st, 16, 32, 3, 1, 1, (shape){3, 0, 9, 11}, 0, 1, 0);
    test_conv(e, st, 32, 16, 3, 2, 1, (shape){2, 0, 15, 14}, 0, 0, 1);
    test_conv(e, st, 32, 64, 1, 1, 0, (shape){2, 0, 7, 9}, 0, 1, 1);
    test_conv(e, st, 3, 16, 7, 2, 3, (shape){1, 0, 30, 27}, 1, 0, 1);
    /* stride-1 3x3 without a residual: Winograd F(4x4, 3x3) on AVX2 (winograd.h), whose
     * 4x4 tiles overhang maps not a multiple of 4; a 1x1 map; res2 and res4's widths */
    test_conv(e, st, 16, 16, 3, 1, 1, (shape){3, 0, 5, 13}, 1, 0, 1);
    test_conv(e, st, 24, 32, 3, 1, 1, (shape){2, 0, 1, 1}, 0, 0, 0);
    test_conv(e, st, 64, 64, 3, 1, 1, (shape){2, 0, 10, 6}, 0, 0, 1);
    test_conv(e, st, 256, 256, 3, 1, 1, (shape){2, 0, 14, 14}, 0, 0, 1);
    test_maxpool(e, st, (r50_pool_desc){3, 2, 0, 1}, (shape){2, 3, 12, 11}); /* pool1 */
    test_maxpool(e, st, (r50_pool_desc){3, 2, 0, 0}, (shape){1, 2, 12, 11});
    test_maxpool(e, st, (r50_pool_desc){3, 1, 1, 0}, (shape){1, 2, 7, 6});
    test_maxpool(e, st, (r50_pool_desc){2, 2, 0, 1}, (shape){2, 2, 9, 8});
    test_maxpool(e, st, (r50_pool_desc){3, 2, 0, 1}, (shape){2, 32, 13, 12});
    test_avgpool(e, st, (shape){3, 7, 5, 4});
    test_avgpool(e, st, (shape){2, 48, 7, 7});
    test_linear_softmax(e, st, 3, 37, 11);
    test_linear_softmax(e, st, 1, 2048, 10);
    test_layout(e, st, (shape){3, 5, 4, 6});
    test_layout(e, st, (shape){2, 32, 5, 3});
    e->destroy(st);
  }
  return 1;
}

int main(void) {
  const r50_engine *engines[] = {
      r50_engine_reference(),
#ifdef R50_HAVE_ONEDNN
      r50_engine_onednn(),
#endif
  };
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++)
    for (int p = R50_PRECISION_FP32; p <= R50_PRECISION_BF16; p++) {
      tolerance = p == R50_PRECISION_BF16 ? tolerance_bf16 : tolerance_fp32;
      memset(g_worst, 0, sizeof g_worst);
      if (!test_engine(engines[i], (r50_precision)p))
        continue;
      printf("%s engine %s, worst relative difference per op:", engines[i]->name,
             p == R50_PRECISION_BF16 ? "bf16" : "fp32");
      for (int op = 0; op <= OP_LAYOUT; op++)
        printf(" %s %.2g", op_names[op], g_worst[op]);
      printf("\n");
    }
  return test_result("test_ops");
}

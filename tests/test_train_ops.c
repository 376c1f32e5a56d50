/*
 * test_train_ops.c — the backward of every training op of every engine that trains,
 * against finite differences on tiny random shapes: for a loss L = <r, op(inputs)>
 * with a random r, the directional derivative (L(a + e v) - L(a - e v)) / 2e along a
 * random direction v of each input and parameter must equal <grad, v>. Linear ops
 * (convolution, pooling, linear) are checked with a large step; BatchNormalization
 * (training and frozen) and softmax cross-entropy with small ones. The MomentumSGD
 * update is checked against Chainer's formula.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "table.h"
#include "test_util.h"

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)a[i] * b[i];
  return s;
}

static void check_derivative(const char *what, double analytic, double numeric,
                             double tol) {
  double scale = fmax(fabs(analytic), fabs(numeric));
  double rel = fabs(analytic - numeric) / (scale > 0 ? scale : 1);
  CHECK(rel <= tol, "%s: analytic %.6g vs finite difference %.6g (rel %.3g)", what,
        analytic, numeric, rel);
}

typedef struct ctx {
  const r50_engine *e;
  r50_engine_state *s;
  float *act[R50_ACT_BUFS], *vec;
} ctx;

/* ------------------------------------------------------------------ convolution */

typedef struct conv_case {
  r50_conv_desc c;
  int64_t n, h, w;
  float *x, *W, *b, *r;
} conv_case;

/* <r, conv(x; W) + b> */
static double conv_loss(ctx *k, void *u) {
  conv_case *cc = u;
  r50_act x = {.data = k->act[0]}, z = {.data = k->act[1]};
  k->e->from_nchw(k->s, cc->x, cc->n, cc->c.cin, cc->h, cc->w, &x);
  r50_error err = {0};
  CHECK(k->e->train->conv_forward(k->s, &cc->c, cc->W, cc->b, &x, &z, &err) == R50_OK,
        "%s", err.msg);
  float *out = malloc((size_t)r50_act_numel(&z) * sizeof *out);
  k->e->to_nchw(k->s, &z, out);
  double l = dot(out, cc->r, (size_t)r50_act_numel(&z));
  free(out);
  return l;
}

static void perturb(float *p, const float *v, size_t n, float e) {
  for (size_t i = 0; i < n; i++)
    p[i] += e * v[i];
}

typedef double (*loss_fn)(ctx *k, void *c);

/* Directional derivative of f along v of the n floats at p (central difference). */
static double fd(float *p, const float *v, size_t n, float e, loss_fn f, ctx *k,
                 void *c) {
  perturb(p, v, n, e);
  double up = f(k, c);
  perturb(p, v, n, -2 * e);
  double down = f(k, c);
  perturb(p, v, n, e);
  return (up - down) / (2.0 * e);
}

static void test_conv(ctx *k, int cin, int cout, int ks, int stride, int pad, int64_t n,
                      int64_t h, int64_t w, int bias) {
  conv_case cc = {{.id = 0,
                   .cin = cin,
                   .cout = cout,
                   .ksize = ks,
                   .stride = stride,
                   .pad = pad,
                   .b = bias ? 0 : -1},
                  n,
                  h,
                  w,
                  NULL,
                  NULL,
                  NULL,
                  NULL};
  const int64_t ho = r50_out_size(h, ks, stride, pad, 0),
                wo = r50_out_size(w, ks, stride, pad, 0);
  const size_t nx = (size_t)(n * cin * h * w), nw = (size_t)cout * cin * ks * ks,
               nz = (size_t)(n * cout * ho * wo);
  cc.x = randv(nx, -1, 1), cc.W = randv(nw, -1, 1),
  cc.b = bias ? randv((size_t)cout, -1, 1) : NULL;
  cc.r = randv(nz, -1, 1);
  float *vx = randv(nx, -1, 1), *vw = randv(nw, -1, 1), *vb = randv((size_t)cout, -1, 1);
  /* analytic: dz = r (in engine layout) */
  r50_act x = {.data = k->act[0]}, dz = {.data = k->act[2]}, dx = {.data = k->act[3]};
  k->e->from_nchw(k->s, cc.x, n, cin, h, w, &x);
  k->e->from_nchw(k->s, cc.r, n, cout, ho, wo, &dz);
  float *dw = calloc(nw, sizeof *dw), *db = calloc((size_t)cout, sizeof *db);
  float *gx = malloc(nx * sizeof *gx);
  r50_error err = {0};
  CHECK(k->e->train->conv_backward(k->s, &cc.c, cc.W, &x, &dz, &dx, dw, bias ? db : NULL,
                                   &err) == R50_OK,
        "%s", err.msg);
  k->e->to_nchw(k->s, &dx, gx);
  char what[128];
  snprintf(what, sizeof what, "conv %d->%d k%d s%d p%d %lldx%lld", cin, cout, ks, stride,
           pad, (long long)h, (long long)w);
  char w1[160], w2[160], w3[160];
  snprintf(w1, sizeof w1, "%s: dx", what);
  snprintf(w2, sizeof w2, "%s: dW", what);
  snprintf(w3, sizeof w3, "%s: db", what);
  check_derivative(w1, dot(gx, vx, nx), fd(cc.x, vx, nx, 0.5f, conv_loss, k, &cc), 1e-4);
  check_derivative(w2, dot(dw, vw, nw), fd(cc.W, vw, nw, 0.5f, conv_loss, k, &cc), 1e-4);
  if (bias)
    check_derivative(w3, dot(db, vb, (size_t)cout),
                     fd(cc.b, vb, (size_t)cout, 0.5f, conv_loss, k, &cc), 1e-4);
  free(cc.x), free(cc.W), free(cc.b), free(cc.r), free(vx), free(vw), free(vb), free(dw);
  free(db), free(gx);
}

/* ------------------------------------------------------------------ BatchNorm */

typedef struct bn_case {
  int64_t c, n, h, w;
  float *z, *gamma, *beta, *mean, *var, *res, *r;
  int frozen, relu;
} bn_case;

static double bn_loss(ctx *k, void *u) {
  bn_case *b = u;
  float sm[64], si[64], am[64], av[64];
  memcpy(am, b->mean, (size_t)b->c * sizeof(float)); /* forward moves the averages */
  memcpy(av, b->var, (size_t)b->c * sizeof(float));
  r50_bn_args a = {b->gamma, b->beta,    am,           av,       sm,
                   si,       R50_BN_EPS, R50_BN_DECAY, b->frozen};
  r50_act z = {.data = k->act[0]}, y = {.data = k->act[1]}, res = {.data = k->act[2]};
  k->e->from_nchw(k->s, b->z, b->n, b->c, b->h, b->w, &z);
  k->e->from_nchw(k->s, b->res, b->n, b->c, b->h, b->w, &res);
  r50_conv_desc c = {.cout = (int)b->c};
  k->e->train->bn_forward(k->s, &c, &a, &z, &y, &res, b->relu);
  size_t n = (size_t)(b->c * b->n * b->h * b->w);
  float *out = malloc(n * sizeof *out);
  k->e->to_nchw(k->s, &y, out);
  double l = dot(out, b->r, n);
  free(out);
  return l;
}

static void test_bn(ctx *k, int64_t channels, int frozen, int relu) {
  bn_case b = {channels, 3, 4, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, frozen, relu};
  const size_t n = (size_t)(b.c * b.n * b.h * b.w), c = (size_t)b.c;
  b.z = randv(n, -2, 3), b.gamma = randv(c, 0.5f, 1.5f), b.beta = randv(c, -0.5f, 0.5f);
  b.mean = randv(c, -0.5f, 0.5f), b.var = randv(c, 0.5f, 2), b.res = randv(n, -1, 1);
  b.r = randv(n, -1, 1);
  float *vz = randv(n, -1, 1), *vg = randv(c, -1, 1), *vb = randv(c, -1, 1);
  /* analytic */
  float sm[64], si[64], am[64], av[64];
  memcpy(am, b.mean, c * sizeof(float));
  memcpy(av, b.var, c * sizeof(float));
  r50_bn_args a = {b.gamma, b.beta, am, av, sm, si, R50_BN_EPS, R50_BN_DECAY, frozen};
  r50_act z = {.data = k->act[0]}, y = {.data = k->act[1]}, res = {.data = k->act[2]},
          dy = {.data = k->act[3]}, dz = {.data = k->vec};
  k->e->from_nchw(k->s, b.z, b.n, b.c, b.h, b.w, &z);
  k->e->from_nchw(k->s, b.res, b.n, b.c, b.h, b.w, &res);
  k->e->from_nchw(k->s, b.r, b.n, b.c, b.h, b.w, &dy);
  r50_conv_desc cd = {.cout = (int)b.c};
  k->e->train->bn_forward(k->s, &cd, &a, &z, &y, &res, relu);
  if (relu)
    k->e->train->relu_mask(k->s, &y, &dy);
  float *dg = calloc(c, sizeof *dg), *db = calloc(c, sizeof *db),
        *gz = malloc(n * sizeof *gz);
  k->e->train->bn_backward(k->s, &cd, &a, &z, &dy, &dz, dg, db);
  k->e->to_nchw(k->s, &dz, gz);
  char what[96];
  snprintf(what, sizeof what, "BN %s%s", frozen ? "frozen" : "training",
           relu ? " + ReLU" : "");
  char w1[128], w2[128], w3[128];
  snprintf(w1, sizeof w1, "%s: dz", what);
  snprintf(w2, sizeof w2, "%s: dgamma", what);
  snprintf(w3, sizeof w3, "%s: dbeta", what);
  check_derivative(w1, dot(gz, vz, n), fd(b.z, vz, n, 1e-3f, bn_loss, k, &b), 3e-3);
  check_derivative(w2, dot(dg, vg, c), fd(b.gamma, vg, c, 1e-3f, bn_loss, k, &b), 3e-3);
  check_derivative(w3, dot(db, vb, c), fd(b.beta, vb, c, 1e-3f, bn_loss, k, &b), 3e-3);
  if (!frozen) { /* the running averages moved as Chainer's do */
    const int64_t m = b.n * b.h * b.w;
    for (size_t ch = 0; ch < c; ch++) {
      double s = 0, s2 = 0;
      for (int64_t i = 0; i < b.n; i++)
        for (int64_t j = 0; j < b.h * b.w; j++)
          s += b.z[((size_t)i * c + ch) * (size_t)(b.h * b.w) + (size_t)j];
      double mu = s / (double)m;
      for (int64_t i = 0; i < b.n; i++)
        for (int64_t j = 0; j < b.h * b.w; j++) {
          double d = b.z[((size_t)i * c + ch) * (size_t)(b.h * b.w) + (size_t)j] - mu;
          s2 += d * d;
        }
      double want_m = 0.9 * b.mean[ch] + 0.1 * mu;
      double want_v =
          0.9 * b.var[ch] + 0.1 * (s2 / (double)m) * (double)m / (double)(m - 1);
      CHECK(fabs(am[ch] - want_m) <= 1e-5 * fmax(1, fabs(want_m)) &&
                fabs(av[ch] - want_v) <= 1e-5 * fmax(1, fabs(want_v)),
            "BN running averages of channel %zu: %g %g, want %g %g", ch, am[ch], av[ch],
            want_m, want_v);
    }
  } else {
    CHECK(!memcmp(am, b.mean, c * sizeof(float)) && !memcmp(av, b.var, c * sizeof(float)),
          "frozen BN left its averages alone");
  }
  free(b.z), free(b.gamma), free(b.beta), free(b.mean), free(b.var), free(b.res),
      free(b.r);
  free(vz), free(vg), free(vb), free(dg), free(db), free(gz);
}

/* ------------------------------------------------------------------ pooling */

typedef struct pool_case {
  r50_pool_desc p;
  int64_t n, c, h, w;
  float *x, *r;
  int avg;
} pool_case;

static double pool_loss(ctx *k, void *u) {
  pool_case *pc = u;
  r50_act x = {.data = k->act[0]}, y = {.data = k->act[1]};
  k->e->from_nchw(k->s, pc->x, pc->n, pc->c, pc->h, pc->w, &x);
  size_t ny;
  float *out;
  if (pc->avg) {
    k->e->avgpool(k->s, &x, k->vec);
    ny = (size_t)(pc->n * pc->c);
    out = malloc(ny * sizeof *out);
    k->e->vec_to_host(k->s, k->vec, ny, out);
  } else {
    k->e->maxpool(k->s, &pc->p, &x, &y);
    ny = (size_t)r50_act_numel(&y);
    out = malloc(ny * sizeof *out);
    k->e->to_nchw(k->s, &y, out);
  }
  double l = dot(out, pc->r, ny);
  free(out);
  return l;
}

static void test_pool(ctx *k, int avg, r50_pool_desc pd, int64_t h, int64_t w,
                      int64_t channels) {
  pool_case pc = {pd, 2, channels, h, w, NULL, NULL, avg};
  const size_t nx = (size_t)(pc.n * pc.c * h * w);
  const int64_t ho = avg ? 1 : r50_out_size(h, pd.ksize, pd.stride, pd.pad, pd.cover_all),
                wo = avg ? 1 : r50_out_size(w, pd.ksize, pd.stride, pd.pad, pd.cover_all);
  const size_t ny = (size_t)(pc.n * pc.c * ho * wo);
  pc.x = randv(nx, -3, 3), pc.r = randv(ny, -1, 1);
  float *vx = randv(nx, -1, 1), *gx = malloc(nx * sizeof *gx);
  r50_act x = {.data = k->act[0]}, y = {.data = k->act[1]}, dy = {.data = k->act[2]},
          dx = {.data = k->act[3]};
  k->e->from_nchw(k->s, pc.x, pc.n, pc.c, h, w, &x);
  if (avg) {
    dx = (r50_act){k->act[3], pc.c, pc.n, h, w};
    k->e->vec_from_host(k->s, pc.r, ny, k->vec);
    k->e->train->avgpool_backward(k->s, k->vec, &dx);
  } else {
    k->e->maxpool(k->s, &pd, &x, &y);
    k->e->from_nchw(k->s, pc.r, pc.n, pc.c, ho, wo, &dy);
    k->e->train->maxpool_backward(k->s, &pd, &x, &dy, &dx);
  }
  k->e->to_nchw(k->s, &dx, gx);
  char what[96];
  snprintf(what, sizeof what, "%s pool k%d s%d p%d%s %lldx%lld: dx",
           avg ? "average" : "max", pd.ksize, pd.stride, pd.pad,
           pd.cover_all ? " cover_all" : "", (long long)h, (long long)w);
  check_derivative(what, dot(gx, vx, nx), fd(pc.x, vx, nx, 1e-3f, pool_loss, k, &pc),
                   1e-3);
  free(pc.x), free(pc.r), free(vx), free(gx);
}

/* ------------------------------------------------------------------ linear, loss */

typedef struct lin_case {
  int64_t n, cin, cout;
  float *x, *W, *b, *r;
  int32_t *labels;
} lin_case;

static double lin_loss(ctx *k, void *u) {
  lin_case *lc = u;
  float *y = malloc((size_t)(lc->n * lc->cout) * sizeof *y);
  k->e->train->linear_forward(k->s, lc->x, lc->n, lc->cin, lc->W, lc->b, lc->cout, y);
  double l = dot(y, lc->r, (size_t)(lc->n * lc->cout));
  free(y);
  return l;
}

static double xent_loss(ctx *k, void *u) {
  lin_case *lc = u;
  double loss;
  int64_t correct, valid;
  float *d = malloc((size_t)(lc->n * lc->cout) * sizeof *d);
  k->e->train->softmax_xent(k->s, lc->x, lc->labels, lc->n, lc->cout, 1.0, &loss,
                            &correct, &valid, d);
  free(d);
  return loss;
}

static void test_linear_xent(ctx *k) {
  lin_case lc = {3, 7, 5, NULL, NULL, NULL, NULL, NULL};
  const size_t nx = (size_t)(lc.n * lc.cin), nw = (size_t)(lc.cout * lc.cin),
               ny = (size_t)(lc.n * lc.cout);
  lc.x = randv(nx, -1, 1), lc.W = randv(nw, -1, 1), lc.b = randv((size_t)lc.cout, -1, 1);
  lc.r = randv(ny, -1, 1);
  float *vx = randv(nx, -1, 1), *vw = randv(nw, -1, 1),
        *vb = randv((size_t)lc.cout, -1, 1);
  float *dx = malloc(nx * sizeof *dx), *dw = calloc(nw, sizeof *dw),
        *db = calloc((size_t)lc.cout, sizeof *db);
  k->e->train->linear_backward(k->s, lc.x, lc.r, lc.n, lc.cin, lc.W, lc.cout, dx, dw, db);
  check_derivative("linear: dx", dot(dx, vx, nx),
                   fd(lc.x, vx, nx, 0.5f, lin_loss, k, &lc), 1e-4);
  check_derivative("linear: dW", dot(dw, vw, nw),
                   fd(lc.W, vw, nw, 0.5f, lin_loss, k, &lc), 1e-4);
  check_derivative("linear: db", dot(db, vb, (size_t)lc.cout),
                   fd(lc.b, vb, (size_t)lc.cout, 0.5f, lin_loss, k, &lc), 1e-4);
  /* softmax cross-entropy on logits x (n, cout): one row unlabelled (-1) */
  lin_case xc = {4, 0, 6, NULL, NULL, NULL, NULL, NULL};
  int32_t labels[4] = {2, -1, 5, 0};
  xc.labels = labels;
  const size_t nl = (size_t)(xc.n * xc.cout);
  xc.x = randv(nl, -3, 3);
  float *vl = randv(nl, -1, 1), *dl = malloc(nl * sizeof *dl);
  double loss;
  int64_t correct, valid;
  k->e->train->softmax_xent(k->s, xc.x, labels, xc.n, xc.cout, 1.0, &loss, &correct,
                            &valid, dl);
  CHECK(valid == 3, "softmax_cross_entropy counts the labelled rows: %lld",
        (long long)valid);
  check_derivative("softmax cross-entropy: dlogits", dot(dl, vl, nl),
                   fd(xc.x, vl, nl, 1e-3f, xent_loss, k, &xc), 1e-3);
  for (int64_t j = 0; j < xc.cout; j++)
    CHECK(dl[1 * xc.cout + j] == 0.0f, "an unlabelled row gets no gradient");
  free(lc.x), free(lc.W), free(lc.b), free(lc.r), free(vx), free(vw), free(vb), free(dx);
  free(dw), free(db), free(xc.x), free(vl), free(dl);
}

static void test_momentum_sgd(ctx *k) {
  float p[5] = {1, -2, 3, 0.5f, 0}, g[5] = {0.1f, 0.2f, -0.3f, 0, 1},
        v[5] = {0, 0.5f, -1, 2, 0};
  float p0[5], g0[5], v0[5];
  memcpy(p0, p, sizeof p), memcpy(g0, g, sizeof g), memcpy(v0, v, sizeof v);
  k->e->train->momentum_sgd(k->s, p, g, v, 5, 0.01, 0.9, 1e-4);
  for (int i = 0; i < 5; i++) {
    float gw = g0[i] + 1e-4f * p0[i], vw = v0[i] * 0.9f - 0.01f * gw, pw = p0[i] + vw;
    CHECK(g[i] == gw && v[i] == vw && p[i] == pw, "MomentumSGD + WeightDecay element %d",
          i);
  }
}

int main(void) {
  const r50_engine *engines[] = {
      r50_engine_reference(),
#ifdef R50_HAVE_ONEDNN
      r50_engine_onednn(),
#endif
  };
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++) {
    if (!engines[i]->train)
      continue;
    for (int threads = 1; threads <= 2; threads++) {
      g_seed = 7; /* the same inputs for every engine and thread count */
      ctx k = {.e = engines[i]};
      r50_error err = {0};
      CHECK(k.e->create(threads, &k.s, &err) == R50_OK, "%s", err.msg);
      CHECK(k.e->reserve(k.s, 8192, 4096, k.act, &k.vec, &err) == R50_OK, "%s", err.msg);
      test_conv(&k, 3, 4, 7, 2, 3, 2, 11, 9, 1);
      test_conv(&k, 6, 5, 1, 1, 0, 3, 4, 5, 0);
      test_conv(&k, 6, 5, 1, 2, 0, 2, 7, 6, 0);
      test_conv(&k, 4, 4, 3, 1, 1, 2, 6, 5, 0);
      test_conv(&k, 4, 6, 3, 2, 1, 1, 7, 7, 0);
      for (int frozen = 0; frozen < 2; frozen++)
        for (int relu = 0; relu < 2; relu++)
          test_bn(&k, 5, frozen, relu);
      test_pool(&k, 0, (r50_pool_desc){3, 2, 0, 1}, 8, 7, 3);
      test_pool(&k, 0, (r50_pool_desc){3, 1, 1, 0}, 5, 6, 3);
      test_pool(&k, 1, (r50_pool_desc){0}, 4, 3, 3);
      test_linear_xent(&k);
      test_momentum_sgd(&k);
      /* 16 and 32 channels: the blocked layouts (nChw8c, nChw16c) of the oneDNN engine */
      test_conv(&k, 16, 16, 3, 1, 1, 2, 6, 5, 0);
      test_conv(&k, 16, 32, 1, 2, 0, 2, 7, 6, 0);
      test_conv(&k, 32, 16, 1, 1, 0, 3, 4, 5, 1);
      test_conv(&k, 3, 16, 7, 2, 3, 2, 11, 9, 1);
      /* a 3x3 on 2x2 maps (res5 at 64x64): oneDNN has no blocked AVX2 weight-gradient
       * kernel for it, and the engine computes it on plain copies */
      test_conv(&k, 32, 32, 3, 1, 1, 2, 2, 2, 0);
      /* (without the ReLU: among 32 x 36 values one lies within the finite-difference
       * step of its kink) */
      for (int frozen = 0; frozen < 2; frozen++)
        test_bn(&k, 32, frozen, 0);
      test_pool(&k, 0, (r50_pool_desc){3, 2, 0, 1}, 8, 7, 16);
      test_pool(&k, 1, (r50_pool_desc){0}, 4, 3, 32);
      k.e->destroy(k.s);
    }
    printf("%s engine: every training op's backward matches finite differences\n",
           engines[i]->name);
  }
  return test_result("test_train_ops");
}

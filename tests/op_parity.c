/*
 * op_parity.c — every training op of an engine against the reference engine's, op by
 * op (op_parity.h).
 *
 * Each case holds its operands on the host; running it on an engine copies them into
 * that engine's memory through the engine interface only (from_nchw, vec_from_host),
 * calls the op, and reads every output back (to_nchw, vec_to_host), so the same code
 * drives a CPU engine and a device one.
 */
#include "op_parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "error.h"
#include "rng.h"
#include "table.h"

enum { MAX_OUT = 6, MAX_CONVS = 1024 };

/* ------------------------------------------------------------------ one engine */

typedef struct side {
  const r50_engine *e;
  r50_engine_state *s;
  float *arena; /* engine memory */
  size_t used, cap;
  char error[1024]; /* the first error a case met */
} side;

static float *take(side *k, size_t floats) {
  const size_t at = k->used;
  k->used += (floats + 15) / 16 * 16;
  if (k->used > k->cap) {
    fprintf(stderr, "op_parity: the arena of %zu floats is too small\n", k->cap);
    abort(); /* a bug of this harness's sizing */
  }
  return k->arena + at;
}

static void note(side *k, const r50_error *err) {
  if (!k->error[0])
    snprintf(k->error, sizeof k->error, "%s", err->msg);
}

static float *put_vec(side *k, const float *host, size_t n) {
  float *d = take(k, n);
  k->e->vec_from_host(k->s, host, n, d);
  return d;
}

static void get_vec(side *k, const float *d, size_t n, float *host) {
  k->e->vec_to_host(k->s, d, n, host);
}

static r50_act new_act(side *k, int64_t c, int64_t n, int64_t h, int64_t w) {
  return (r50_act){take(k, (size_t)(c * n * h * w)), c, n, h, w};
}

static r50_act put_act(side *k, const float *host, int64_t c, int64_t n, int64_t h,
                       int64_t w) {
  r50_act a = new_act(k, c, n, h, w);
  k->e->from_nchw(k->s, host, n, c, h, w, &a);
  return a;
}

static void get_act(side *k, const r50_act *a, float *host) {
  k->e->to_nchw(k->s, a, host);
}

/* ------------------------------------------------------------------ cases */

typedef struct op_case {
  char what[128];
  int nout;
  const char *name[MAX_OUT];
  size_t n[MAX_OUT];
  int loose[MAX_OUT]; /* a gradient or running average: fp32's looser tolerance */
  void (*run)(side *k, const void *data, float *const *out);
  const void *data;
} op_case;

/* Host operands: uniform in [lo, hi], rounded to bfloat16 where the run is bf16. */
typedef struct maker {
  r50_rng rng;
  int bf16;
} maker;

static float round_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) != 0x7f800000u)
    u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  memcpy(&f, &u, 4);
  return f;
}

static float *make(maker *mk, size_t n, double lo, double hi) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    v[i] = (float)(lo + (hi - lo) * r50_rng_uniform(&mk->rng));
    if (mk->bf16)
      v[i] = round_bf16(v[i]);
  }
  return v;
}

/* |a - b| / |b| (|a - b| where b is 0) */
static double rel_err(const float *a, const float *b, size_t n) {
  double d = 0, t = 0;
  for (size_t i = 0; i < n; i++)
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), t += (double)b[i] * b[i];
  return sqrt(d / (t > 0 ? t : 1));
}

/* Runs cc on one engine into freshly allocated outputs; the engine's error, if any,
 * in k->error. */
static void run_on(side *k, const op_case *cc, float **out) {
  k->used = 0;
  k->error[0] = 0;
  for (int i = 0; i < cc->nout; i++) {
    out[i] = malloc((cc->n[i] ? cc->n[i] : 1) * sizeof(float));
    for (size_t j = 0; j < cc->n[i]; j++)
      out[i][j] = NAN; /* an output never written fails */
  }
  cc->run(k, cc->data, out);
  r50_error err = {0};
  if (k->e->status && k->e->status(k->s, &err) != R50_OK)
    note(k, &err);
}

/* One line: PASS or FAIL and every output's error. Returns 1 when it failed. */
static int compare(side *ref, side *peer, const op_case *cc, int bf16) {
  float *a[MAX_OUT], *b[MAX_OUT];
  run_on(ref, cc, a);
  run_on(peer, cc, b);
  char line[1024];
  int pos = 0, ok = !ref->error[0] && !peer->error[0];
  for (int i = 0; i < cc->nout; i++) {
    const double tol = bf16 ? 2e-2 : cc->loose[i] ? 1e-3 : 1e-4;
    const double e = rel_err(b[i], a[i], cc->n[i]);
    ok &= e <= tol; /* NaN fails */
    pos += snprintf(line + pos, sizeof line - (size_t)pos, " %s %.2e%s", cc->name[i], e,
                    e <= tol ? "" : "(!)");
    free(a[i]);
    free(b[i]);
  }
  printf("%s  %s:%s (<= %s)%s%s%s%s\n", ok ? "PASS" : "FAIL", cc->what, line,
         bf16 ? "2e-2" : "1e-4, gradients 1e-3", ref->error[0] ? "; reference: " : "",
         ref->error, peer->error[0] ? "; peer: " : "", peer->error);
  fflush(stdout);
  return !ok;
}

/* ------------------------------------------------------------------ convolution */

typedef struct conv_data {
  r50_conv_desc c;
  int64_t n, h, w, ho, wo;
  float *x, *W, *b, *dz, *dW0, *db0; /* dW0, db0: what the gradients accumulate onto */
} conv_data;

static void conv_run(side *k, const void *u, float *const *out) {
  const conv_data *d = u;
  const r50_engine_train *t = k->e->train;
  const size_t nw = (size_t)d->c.cout * d->c.cin * d->c.ksize * d->c.ksize;
  r50_error err = {0};
  r50_act x = put_act(k, d->x, d->c.cin, d->n, d->h, d->w);
  float *W = put_vec(k, d->W, nw);
  float *b = d->b ? put_vec(k, d->b, (size_t)d->c.cout) : NULL;
  r50_act z = new_act(k, d->c.cout, d->n, d->ho, d->wo);
  if (t->conv_forward(k->s, &d->c, W, b, &x, &z, &err) != R50_OK) {
    note(k, &err);
    return;
  }
  get_act(k, &z, out[0]);
  r50_act dz = put_act(k, d->dz, d->c.cout, d->n, d->ho, d->wo);
  r50_act dx = new_act(k, d->c.cin, d->n, d->h, d->w);
  float *dW = put_vec(k, d->dW0, nw);
  float *db = d->b ? put_vec(k, d->db0, (size_t)d->c.cout) : NULL;
  if (t->conv_backward(k->s, &d->c, W, &x, &dz, &dx, dW, db, &err) != R50_OK) {
    note(k, &err);
    return;
  }
  get_act(k, &dx, out[1]);
  get_vec(k, dW, nw, out[2]);
  if (db)
    get_vec(k, db, (size_t)d->c.cout, out[3]);
}

static void conv_case(op_case *cc, conv_data *d, maker *mk, const r50_conv_desc *c,
                      int id, int64_t n, int64_t h, int64_t w) {
  *d = (conv_data){.c = *c, .n = n, .h = h, .w = w};
  d->c.id = id; /* engines key per-conv state on it: one per shape here */
  d->ho = r50_out_size(h, c->ksize, c->stride, c->pad, 0);
  d->wo = r50_out_size(w, c->ksize, c->stride, c->pad, 0);
  const size_t nx = (size_t)(c->cin * n * h * w),
               nz = (size_t)(c->cout * n * d->ho * d->wo);
  const size_t nw = (size_t)c->cout * c->cin * c->ksize * c->ksize;
  const double ws = 1.0 / sqrt((double)c->cin * c->ksize * c->ksize);
  d->x = make(mk, nx, -1, 1), d->W = make(mk, nw, -ws, ws), d->dz = make(mk, nz, -1, 1);
  d->dW0 = make(mk, nw, -1, 1);
  if (c->b >= 0)
    d->b = make(mk, (size_t)c->cout, -1, 1), d->db0 = make(mk, (size_t)c->cout, -1, 1);
  *cc = (op_case){.nout = c->b >= 0 ? 4 : 3,
                  .name = {"z", "dx", "dW", "db"},
                  .n = {nz, nx, nw, (size_t)c->cout},
                  .loose = {0, 1, 1, 1},
                  .run = conv_run,
                  .data = d};
  snprintf(cc->what, sizeof cc->what, "conv %d->%d %dx%d s%d%s on %lldx%lldx%lld", c->cin,
           c->cout, c->ksize, c->ksize, c->stride, c->b >= 0 ? " +b" : "", (long long)n,
           (long long)h, (long long)w);
}

static void conv_free(conv_data *d) {
  free(d->x), free(d->W), free(d->b), free(d->dz), free(d->dW0), free(d->db0);
}

/* ------------------------------------------------------------------ BatchNormalization
 */

typedef struct bn_data {
  r50_conv_desc c;
  int64_t n, h, w;
  int frozen, relu;
  float *z, *gamma, *beta, *mean, *var, *res, *dy, *dg0, *db0;
} bn_data;

/* forward (y, the running averages), the ReLU mask, backward (dz, dgamma, dbeta) */
static void bn_run(side *k, const void *u, float *const *out) {
  const bn_data *d = u;
  const r50_engine_train *t = k->e->train;
  const int64_t c = d->c.cout;
  r50_act z = put_act(k, d->z, c, d->n, d->h, d->w);
  r50_act res = d->res ? put_act(k, d->res, c, d->n, d->h, d->w) : (r50_act){0};
  r50_bn_args a = {.gamma = put_vec(k, d->gamma, (size_t)c),
                   .beta = put_vec(k, d->beta, (size_t)c),
                   .avg_mean = put_vec(k, d->mean, (size_t)c),
                   .avg_var = put_vec(k, d->var, (size_t)c),
                   .save_mean = take(k, (size_t)c),
                   .save_invstd = take(k, (size_t)c),
                   .eps = R50_BN_EPS,
                   .decay = R50_BN_DECAY,
                   .frozen = d->frozen};
  r50_act y = new_act(k, c, d->n, d->h, d->w);
  t->bn_forward(k->s, &d->c, &a, &z, &y, d->res ? &res : NULL, d->relu);
  get_act(k, &y, out[0]);
  get_vec(k, a.avg_mean, (size_t)c, out[1]);
  get_vec(k, a.avg_var, (size_t)c, out[2]);
  r50_act dy = put_act(k, d->dy, c, d->n, d->h, d->w);
  if (d->relu)
    t->relu_mask(k->s, &y, &dy);
  r50_act dz = new_act(k, c, d->n, d->h, d->w);
  float *dg = put_vec(k, d->dg0, (size_t)c), *db = put_vec(k, d->db0, (size_t)c);
  t->bn_backward(k->s, &d->c, &a, &z, &dy, &dz, dg, db);
  get_act(k, &dz, out[3]);
  get_vec(k, dg, (size_t)c, out[4]);
  get_vec(k, db, (size_t)c, out[5]);
}

static void bn_case(op_case *cc, bn_data *d, maker *mk, const r50_conv_desc *c, int id,
                    int64_t n, int64_t h, int64_t w, int frozen, int residual) {
  *d = (bn_data){.c = *c, .n = n, .h = h, .w = w, .frozen = frozen, .relu = 1};
  d->c.id = id;
  const size_t m = (size_t)(c->cout * n * h * w), nc = (size_t)c->cout;
  d->z = make(mk, m, -2, 2), d->dy = make(mk, m, -1, 1);
  d->gamma = make(mk, nc, 0.5, 1.5), d->beta = make(mk, nc, -0.5, 0.5);
  d->mean = make(mk, nc, -0.5, 0.5), d->var = make(mk, nc, 0.5, 2);
  d->dg0 = make(mk, nc, -1, 1), d->db0 = make(mk, nc, -1, 1);
  d->res = residual ? make(mk, m, -1, 1) : NULL;
  *cc = (op_case){.nout = 6,
                  .name = {"y", "avg_mean", "avg_var", "dz", "dgamma", "dbeta"},
                  .n = {m, nc, nc, m, nc, nc},
                  .loose = {0, 1, 1, 1, 1, 1},
                  .run = bn_run,
                  .data = d};
  snprintf(cc->what, sizeof cc->what, "bn%s+relu%s %d on %lldx%lldx%lld",
           frozen ? " frozen" : "", residual ? "+residual" : "", c->cout, (long long)n,
           (long long)h, (long long)w);
}

static void bn_free(bn_data *d) {
  free(d->z), free(d->gamma), free(d->beta), free(d->mean), free(d->var), free(d->res);
  free(d->dy), free(d->dg0), free(d->db0);
}

/* ------------------------------------------------------------------ the rest */

typedef struct misc_data {
  int64_t n, c, h, w; /* an activation's shape */
  r50_pool_desc pool; /* max pooling: x (c, n, h, w) */
  int64_t ph, pw;     /* its output */
  int64_t cin, cout;  /* linear */
  float *x, *y, *g;   /* operands by op */
  float *W, *b, *dW0, *db0;
  int32_t *labels;
} misc_data;

static void add_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  r50_act acc = put_act(k, d->x, d->c, d->n, d->h, d->w);
  r50_act g = put_act(k, d->g, d->c, d->n, d->h, d->w);
  k->e->train->add(k->s, &acc, &g);
  get_act(k, &acc, out[0]);
}

static void maxpool_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  r50_act x = put_act(k, d->x, d->c, d->n, d->h, d->w);
  r50_act dy = put_act(k, d->g, d->c, d->n, d->ph, d->pw);
  r50_act dx = new_act(k, d->c, d->n, d->h, d->w);
  k->e->train->maxpool_backward(k->s, &d->pool, &x, &dy, &dx);
  get_act(k, &dx, out[0]);
}

static void avgpool_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  const float *dy = put_vec(k, d->g, (size_t)(d->n * d->c));
  r50_act dx = new_act(k, d->c, d->n, d->h, d->w);
  k->e->train->avgpool_backward(k->s, dy, &dx);
  get_act(k, &dx, out[0]);
}

static void linear_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  const r50_engine_train *t = k->e->train;
  const size_t nx = (size_t)(d->n * d->cin), ny = (size_t)(d->n * d->cout),
               nw = (size_t)(d->cin * d->cout);
  const float *x = put_vec(k, d->x, nx), *W = put_vec(k, d->W, nw),
              *b = put_vec(k, d->b, (size_t)d->cout);
  float *y = take(k, ny);
  t->linear_forward(k->s, x, d->n, d->cin, W, b, d->cout, y);
  get_vec(k, y, ny, out[0]);
  const float *dy = put_vec(k, d->g, ny);
  float *dx = take(k, nx), *dW = put_vec(k, d->dW0, nw),
        *db = put_vec(k, d->db0, (size_t)d->cout);
  t->linear_backward(k->s, x, dy, d->n, d->cin, W, d->cout, dx, dW, db);
  get_vec(k, dx, nx, out[1]);
  get_vec(k, dW, nw, out[2]);
  get_vec(k, db, (size_t)d->cout, out[3]);
}

static void xent_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  const size_t nl = (size_t)(d->n * d->cout);
  const float *logits = put_vec(k, d->x, nl);
  float *dl = take(k, nl);
  double loss = 0;
  int64_t correct = 0, valid = 0;
  k->e->train->softmax_xent(k->s, logits, d->labels, d->n, d->cout, 0.5, &loss, &correct,
                            &valid, dl);
  get_vec(k, dl, nl, out[0]);
  out[1][0] = (float)loss, out[1][1] = (float)correct, out[1][2] = (float)valid;
}

static void sgd_run(side *k, const void *u, float *const *out) {
  const misc_data *d = u;
  const size_t n = (size_t)d->n;
  float *p = put_vec(k, d->x, n), *g = put_vec(k, d->g, n), *v = put_vec(k, d->y, n);
  k->e->train->momentum_sgd(k->s, p, g, v, n, 0.05, 0.9, 1e-4);
  get_vec(k, p, n, out[0]);
  get_vec(k, v, n, out[1]);
}

static void misc_free(misc_data *d) {
  free(d->x), free(d->y), free(d->g), free(d->W), free(d->b), free(d->dW0), free(d->db0);
  free(d->labels);
}

/* ------------------------------------------------------------------ the network's shapes
 */

typedef struct conv_shape {
  r50_conv_desc c;
  int64_t h, w; /* input */
} conv_shape;

/* Each convolution of net with its input size for size x size images. */
static int walk(const r50_net *net, int64_t size, conv_shape *out, int64_t *c1,
                int64_t *p1) {
  int k = 0;
  int64_t h = size;
  out[k++] = (conv_shape){net->conv1, h, h};
  h = r50_out_size(h, net->conv1.ksize, net->conv1.stride, net->conv1.pad, 0);
  *c1 = h;
  h = r50_out_size(h, net->pool1.ksize, net->pool1.stride, net->pool1.pad,
                   net->pool1.cover_all);
  *p1 = h;
  for (int b = 0; b < net->n_blocks; b++) {
    const r50_bottleneck_desc *blk = &net->blocks[b];
    if (blk->has_shortcut)
      out[k++] = (conv_shape){blk->conv[3], h, h};
    for (int i = 0; i < 3; i++) {
      out[k++] = (conv_shape){blk->conv[i], h, h};
      h = r50_out_size(h, blk->conv[i].ksize, blk->conv[i].stride, blk->conv[i].pad, 0);
    }
  }
  return k;
}

static int64_t imax(int64_t a, int64_t b) {
  return a > b ? a : b;
}

static int same_shape(const conv_shape *a, const conv_shape *b) {
  return a->c.cin == b->c.cin && a->c.cout == b->c.cout && a->c.ksize == b->c.ksize &&
         a->c.stride == b->c.stride && a->c.pad == b->c.pad && a->h == b->h &&
         (a->c.b >= 0) == (b->c.b >= 0);
}

/* ------------------------------------------------------------------ the run */

static r50_status open_side(side *k, const r50_engine *e, r50_precision p, int threads,
                            size_t cap, r50_error *err) {
  *k = (side){.e = e, .cap = cap};
  R50_TRY(e->create(threads, &k->s, err));
  if (p != R50_PRECISION_FP32 && e->set_precision) {
    const r50_precision got = e->set_precision(k->s, p);
    printf("      %s: asked %s, runs %s for inference\n", e->name, r50_precision_name(p),
           r50_precision_name(got));
  }
  static float one_param, one_persistent; /* a training walk with no model: tiny slabs */
  r50_slabs host = {.params = &one_param,
                    .persistent = &one_persistent,
                    .n_params = 1,
                    .n_persistent = 1},
            eng;
  R50_TRY(e->train->bind(k->s, &host, &eng, err));
  return e->train->reserve(k->s, cap, &k->arena, err);
}

int op_parity_run(const op_parity_opts *o) {
  const int bf16 = o->precision == R50_PRECISION_BF16;
  const int64_t n = o->batch, size = o->size;
  printf("every training op, %s vs reference, %s, batch %lld of %lldx%lld: case, "
         "|peer - ref| / |ref| per output\n",
         o->peer->name, r50_precision_name(o->precision), (long long)n, (long long)size,
         (long long)size);
  /* every distinct convolution of ResNet-50 in both layouts */
  conv_shape *all = malloc(2 * MAX_CONVS * sizeof *all),
             *uniq = malloc(2 * MAX_CONVS * sizeof *uniq);
  int n_all = 0, n_uniq = 0;
  int64_t c1 = 0, p1 = 0;
  r50_error err = {0};
  for (int fb = 0; fb < 2; fb++) {
    r50_net net;
    if (r50_net_build(R50_ARCH_50, fb, 1000, &net, &err) != R50_OK) {
      printf("FAIL  %s\n", err.msg);
      free(all), free(uniq);
      return -1;
    }
    n_all += walk(&net, size, all + n_all, &c1, &p1);
    r50_net_free(&net);
  }
  int64_t max_act = 3 * n * size * size, max_w = 2048 * 1000;
  for (int i = 0; i < n_all; i++) {
    int dup = 0;
    for (int j = 0; j < n_uniq && !dup; j++)
      dup = same_shape(&all[i], &uniq[j]);
    if (!dup)
      uniq[n_uniq++] = all[i];
    const r50_conv_desc *c = &all[i].c;
    const int64_t ho = r50_out_size(all[i].h, c->ksize, c->stride, c->pad, 0);
    max_act =
        imax(max_act, imax(c->cin * n * all[i].h * all[i].h, c->cout * n * ho * ho));
    max_w = imax(max_w, (int64_t)c->cin * c->cout * c->ksize * c->ksize);
  }
  /* a case takes at most 6 activations and 3 weight-sized vectors */
  const size_t cap = (size_t)(6 * max_act + 3 * max_w) + 4 * 4096 + 64 * 16;
  side ref, peer;
  if (open_side(&ref, r50_engine_reference(), R50_PRECISION_FP32, o->threads, cap,
                &err) != R50_OK ||
      open_side(&peer, o->peer, o->precision, o->threads, cap, &err) != R50_OK) {
    printf("FAIL  making the engines: %s\n", err.msg);
    free(all), free(uniq);
    return -1;
  }
  maker mk = {.bf16 = bf16};
  r50_rng_seed(&mk.rng, 20261204);
  int fails = 0, cases = 0;

  for (int i = 0; i < n_uniq; i++) {
    op_case cc;
    conv_data d;
    conv_case(&cc, &d, &mk, &uniq[i].c, i, n, uniq[i].h, uniq[i].w);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    conv_free(&d);
  }
  /* BatchNormalization: each distinct (channels, size) of a conv's output, in training
   * mode; frozen, and with a residual, at the first ones */
  int seen = 0;
  for (int i = 0; i < n_uniq; i++) {
    const r50_conv_desc *c = &uniq[i].c;
    const int64_t ho = r50_out_size(uniq[i].h, c->ksize, c->stride, c->pad, 0);
    int dup = 0;
    for (int j = 0; j < i && !dup; j++)
      dup = uniq[j].c.cout == c->cout &&
            r50_out_size(uniq[j].h, uniq[j].c.ksize, uniq[j].c.stride, uniq[j].c.pad,
                         0) == ho;
    if (dup)
      continue;
    for (int variant = 0; variant < (seen < 2 ? 3 : 1); variant++) {
      op_case cc;
      bn_data d;
      bn_case(&cc, &d, &mk, c, n_uniq + i, n, ho, ho, variant == 1, variant == 2);
      fails += compare(&ref, &peer, &cc, bf16), cases++;
      bn_free(&d);
    }
    seen++;
  }
  {
    misc_data d = {
        .n = n, .c = 64, .h = c1, .w = c1, .pool = {3, 2, 1, 1}, .ph = p1, .pw = p1};
    r50_net net;
    if (r50_net_build(R50_ARCH_50, 0, 1000, &net, &err) == R50_OK) {
      d.pool = net.pool1, d.c = net.conv1.cout;
      r50_net_free(&net);
    }
    const size_t m = (size_t)(d.c * n * c1 * c1);
    d.x = make(&mk, m, -1, 1), d.g = make(&mk, (size_t)(d.c * n * p1 * p1), -1, 1);
    op_case cc = {.nout = 1,
                  .name = {"dx"},
                  .n = {m},
                  .loose = {1},
                  .run = maxpool_run,
                  .data = &d};
    snprintf(cc.what, sizeof cc.what, "max pooling backward %lldx%lld on %lldx%lldx%lld",
             (long long)d.pool.ksize, (long long)d.pool.ksize, (long long)n,
             (long long)c1, (long long)c1);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    free(d.g);
    d.g = make(&mk, m, -1, 1);
    cc = (op_case){
        .nout = 1, .name = {"acc"}, .n = {m}, .loose = {1}, .run = add_run, .data = &d};
    snprintf(cc.what, sizeof cc.what, "add on %lldx%lldx%lld", (long long)n,
             (long long)c1, (long long)c1);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    misc_free(&d);
  }
  {
    const int64_t s5 = (size + 31) / 32; /* res5's map */
    misc_data d = {.n = n, .c = 2048, .h = s5, .w = s5};
    d.g = make(&mk, (size_t)(n * 2048), -1, 1);
    op_case cc = {.nout = 1,
                  .name = {"dx"},
                  .n = {(size_t)(2048 * n * s5 * s5)},
                  .loose = {1},
                  .run = avgpool_run,
                  .data = &d};
    snprintf(cc.what, sizeof cc.what, "average pooling backward on %lldx2048x%lldx%lld",
             (long long)n, (long long)s5, (long long)s5);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    misc_free(&d);
  }
  {
    misc_data d = {.n = n, .cin = 2048, .cout = 1000};
    const size_t nx = (size_t)(n * 2048), ny = (size_t)(n * 1000), nw = 2048 * 1000;
    d.x = make(&mk, nx, 0, 2), d.W = make(&mk, nw, -0.02, 0.02),
    d.b = make(&mk, 1000, -1, 1);
    d.g = make(&mk, ny, -1, 1), d.dW0 = make(&mk, nw, -1, 1),
    d.db0 = make(&mk, 1000, -1, 1);
    op_case cc = {.nout = 4,
                  .name = {"y", "dx", "dW", "db"},
                  .n = {ny, nx, nw, 1000},
                  .loose = {0, 1, 1, 1},
                  .run = linear_run,
                  .data = &d};
    snprintf(cc.what, sizeof cc.what, "fc6 2048->1000 on %lld", (long long)n);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    misc_free(&d);
  }
  {
    misc_data d = {.n = n, .cout = 1000};
    d.x = make(&mk, (size_t)(n * 1000), -8, 8);
    d.labels = malloc((size_t)n * sizeof *d.labels);
    for (int64_t i = 0; i < n; i++)
      d.labels[i] = i == 1 ? -1 : (int32_t)((i * 389 + 7) % 1000); /* one row ignored */
    op_case cc = {.nout = 2,
                  .name = {"dlogits", "loss/correct/valid"},
                  .n = {(size_t)(n * 1000), 3},
                  .loose = {1, 0},
                  .run = xent_run,
                  .data = &d};
    snprintf(cc.what, sizeof cc.what, "softmax cross-entropy on %lldx1000", (long long)n);
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    misc_free(&d);
  }
  {
    misc_data d = {.n = 100003};
    d.x = make(&mk, 100003, -1, 1), d.g = make(&mk, 100003, -1, 1);
    d.y = make(&mk, 100003, -0.1, 0.1);
    op_case cc = {.nout = 2,
                  .name = {"p", "v"},
                  .n = {100003, 100003},
                  .loose = {0, 0},
                  .run = sgd_run,
                  .data = &d};
    snprintf(cc.what, sizeof cc.what, "MomentumSGD + WeightDecay on 100003 floats");
    fails += compare(&ref, &peer, &cc, bf16), cases++;
    misc_free(&d);
  }
  printf("%s  every training op: %d of %d cases within tolerance\n",
         fails ? "FAIL" : "PASS", cases - fails, cases);
  ref.e->destroy(ref.s);
  peer.e->destroy(peer.s);
  free(all), free(uniq);
  return fails;
}

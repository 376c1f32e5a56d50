/*
 * test_engine_mirror.c — training on an engine with memory of its own, as the CUDA
 * engine has, checked without a GPU.
 *
 * The "mirror" engine below is the reference engine whose training slabs are copies
 * of its own (filled with NaN when allocated), moved only when the core asks (bind,
 * sync). Two models start equal, one on the reference engine and one on the mirror;
 * every step, and every host access between steps that the library offers — the
 * named parameters and gradients, the slabs, the optimizer state, npz save and load,
 * copyparams, addgrads, inference, a model sharing the store, a move to another
 * engine (r50_to_device) — must give the same bits on both. A missing upload shows as
 * NaN, a missing download as stale values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines.h"
#include "error.h"
#include "model.h"
#include "test_util.h"

/* ------------------------------------------------------------------ the mirror */

struct r50_engine_state {
  r50_engine_state *ref; /* the reference engine's state: every op runs there */
  r50_slabs host, own;
};

static const r50_engine *ref(void) {
  return r50_engine_reference();
}

static r50_status mi_create(int threads, r50_engine_state **out, r50_error *err) {
  r50_engine_state *s = calloc(1, sizeof *s);
  if (!s)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  r50_status st = ref()->create(threads, &s->ref, err);
  if (st != R50_OK) {
    free(s);
    return st;
  }
  *out = s;
  return R50_OK;
}

static void mi_destroy(r50_engine_state *s) {
  if (!s)
    return;
  ref()->destroy(s->ref);
  free(s->own.params), free(s->own.grads), free(s->own.persistent), free(s->own.velocity);
  free(s);
}

static float *poisoned(size_t n) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  for (size_t i = 0; p && i < n; i++)
    p[i] = NAN;
  return p;
}

static r50_status mi_bind(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                          r50_error *err) {
  s->host = *host;
  s->own.n_params = host->n_params, s->own.n_persistent = host->n_persistent;
  if (!s->own.params)
    s->own.params = poisoned(host->n_params);
  if (!s->own.persistent)
    s->own.persistent = poisoned(host->n_persistent);
  if (host->grads && !s->own.grads)
    s->own.grads = poisoned(host->n_params);
  if (host->velocity && !s->own.velocity)
    s->own.velocity = poisoned(host->n_params);
  if (!s->own.params || !s->own.persistent || (host->grads && !s->own.grads) ||
      (host->velocity && !s->own.velocity))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  *eng = s->own;
  return R50_OK;
}

static void copy(float *dst, const float *src, size_t n) {
  if (dst && src)
    memcpy(dst, src, n * sizeof(float));
}

static r50_status mi_sync(r50_engine_state *s, int to_host, int what, r50_error *err) {
  (void)err;
  const r50_slabs *from = to_host ? &s->own : &s->host,
                  *to = to_host ? &s->host : &s->own;
  if (what & R50_SYNC_PARAMS)
    copy(to->params, from->params, s->host.n_params);
  if (what & R50_SYNC_GRADS)
    copy(to->grads, from->grads, s->host.n_params);
  if (what & R50_SYNC_PERSISTENT)
    copy(to->persistent, from->persistent, s->host.n_persistent);
  if (what & R50_SYNC_STATE)
    copy(to->velocity, from->velocity, s->host.n_params);
  return R50_OK;
}

/* The other slots run the reference engine's ops on s->ref. */
static void mi_set_threads(r50_engine_state *s, int t) {
  ref()->set_threads(s->ref, t);
}
static r50_status mi_set_conv(r50_engine_state *s, const r50_conv_desc *c,
                              const r50_conv_params *p, r50_error *err) {
  return ref()->set_conv(s->ref, c, p, err);
}
static r50_status mi_set_linear(r50_engine_state *s, const float *w, const float *b,
                                int64_t cout, int64_t cin, r50_error *err) {
  return ref()->set_linear(s->ref, w, b, cout, cin, err);
}
static r50_status mi_reserve(r50_engine_state *s, size_t a, size_t v,
                             float *act[R50_ACT_BUFS], float **vec, r50_error *err) {
  return ref()->reserve(s->ref, a, v, act, vec, err);
}
static void mi_from_nchw(r50_engine_state *s, const float *src, int64_t n, int64_t c,
                         int64_t h, int64_t w, r50_act *dst) {
  ref()->from_nchw(s->ref, src, n, c, h, w, dst);
}
static void mi_to_nchw(r50_engine_state *s, const r50_act *src, float *dst) {
  ref()->to_nchw(s->ref, src, dst);
}
static void mi_vec_to_host(r50_engine_state *s, const float *src, size_t n, float *dst) {
  ref()->vec_to_host(s->ref, src, n, dst);
}
static void mi_vec_from_host(r50_engine_state *s, const float *src, size_t n,
                             float *dst) {
  ref()->vec_from_host(s->ref, src, n, dst);
}
static r50_status mi_conv(r50_engine_state *s, const r50_conv_desc *c, const r50_act *in,
                          r50_act *out, const r50_act *res, int relu, r50_error *err) {
  return ref()->conv(s->ref, c, in, out, res, relu, err);
}
static void mi_maxpool(r50_engine_state *s, const r50_pool_desc *p, const r50_act *in,
                       r50_act *out) {
  ref()->maxpool(s->ref, p, in, out);
}
static void mi_avgpool(r50_engine_state *s, const r50_act *in, float *out) {
  ref()->avgpool(s->ref, in, out);
}
static void mi_linear(r50_engine_state *s, const float *x, int64_t n, float *y) {
  ref()->linear(s->ref, x, n, y);
}
static void mi_softmax(r50_engine_state *s, const float *x, int64_t n, int64_t c,
                       float *y) {
  ref()->softmax(s->ref, x, n, c, y);
}
#define TR ref()->train
static r50_status mi_reserve_train(r50_engine_state *s, size_t f, float **a,
                                   r50_error *e) {
  return TR->reserve(s->ref, f, a, e);
}
static void mi_zero(r50_engine_state *s, float *p, size_t n) {
  TR->zero(s->ref, p, n);
}
static r50_status mi_conv_forward(r50_engine_state *s, const r50_conv_desc *c,
                                  const float *w, const float *b, const r50_act *x,
                                  r50_act *z, r50_error *e) {
  return TR->conv_forward(s->ref, c, w, b, x, z, e);
}
static void mi_bn_forward(r50_engine_state *s, const r50_conv_desc *c,
                          const r50_bn_args *a, const r50_act *z, r50_act *y,
                          const r50_act *res, int relu) {
  TR->bn_forward(s->ref, c, a, z, y, res, relu);
}
static void mi_bn_backward(r50_engine_state *s, const r50_conv_desc *c,
                           const r50_bn_args *a, const r50_act *z, const r50_act *dy,
                           r50_act *dz, float *dg, float *db) {
  TR->bn_backward(s->ref, c, a, z, dy, dz, dg, db);
}
static r50_status mi_conv_backward(r50_engine_state *s, const r50_conv_desc *c,
                                   const float *w, const r50_act *x, const r50_act *dz,
                                   r50_act *dx, float *dw, float *db, r50_error *e) {
  return TR->conv_backward(s->ref, c, w, x, dz, dx, dw, db, e);
}
static void mi_relu_mask(r50_engine_state *s, const r50_act *y, r50_act *dy) {
  TR->relu_mask(s->ref, y, dy);
}
static void mi_add(r50_engine_state *s, r50_act *acc, const r50_act *g) {
  TR->add(s->ref, acc, g);
}
static void mi_maxpool_backward(r50_engine_state *s, const r50_pool_desc *p,
                                const r50_act *x, const r50_act *dy, r50_act *dx) {
  TR->maxpool_backward(s->ref, p, x, dy, dx);
}
static void mi_avgpool_backward(r50_engine_state *s, const float *dy, r50_act *dx) {
  TR->avgpool_backward(s->ref, dy, dx);
}
static void mi_linear_forward(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                              const float *w, const float *b, int64_t cout, float *y) {
  TR->linear_forward(s->ref, x, n, cin, w, b, cout, y);
}
static void mi_linear_backward(r50_engine_state *s, const float *x, const float *dy,
                               int64_t n, int64_t cin, const float *w, int64_t cout,
                               float *dx, float *dw, float *db) {
  TR->linear_backward(s->ref, x, dy, n, cin, w, cout, dx, dw, db);
}
static void mi_softmax_xent(r50_engine_state *s, const float *z, const int32_t *t,
                            int64_t n, int64_t c, double scale, double *loss,
                            int64_t *correct, int64_t *valid, float *dz) {
  TR->softmax_xent(s->ref, z, t, n, c, scale, loss, correct, valid, dz);
}
static void mi_momentum_sgd(r50_engine_state *s, float *p, float *g, float *v, size_t n,
                            double lr, double mu, double wd) {
  TR->momentum_sgd(s->ref, p, g, v, n, lr, mu, wd);
}

static const r50_engine_train mirror_train = {
    mi_bind,
    mi_sync,
    mi_reserve_train,
    mi_zero,
    mi_conv_forward,
    mi_bn_forward,
    mi_bn_backward,
    mi_conv_backward,
    mi_relu_mask,
    mi_add,
    mi_maxpool_backward,
    mi_avgpool_backward,
    mi_linear_forward,
    mi_linear_backward,
    mi_softmax_xent,
    mi_momentum_sgd,
    0, /* fp32 only */
};

static const r50_engine mirror = {
    .name = "mirror",
    .create = mi_create,
    .destroy = mi_destroy,
    .set_threads = mi_set_threads,
    .set_conv = mi_set_conv,
    .set_linear = mi_set_linear,
    .reserve = mi_reserve,
    .from_nchw = mi_from_nchw,
    .to_nchw = mi_to_nchw,
    .vec_to_host = mi_vec_to_host,
    .vec_from_host = mi_vec_from_host,
    .conv = mi_conv,
    .maxpool = mi_maxpool,
    .avgpool = mi_avgpool,
    .linear = mi_linear,
    .softmax = mi_softmax,
    .train = &mirror_train,
};

/* ------------------------------------------------------------------ checks */

enum { N = 4, S = 32, CLASSES = 5 };

static r50_model *make(const r50_engine *e) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL;
  cfg.n_classes = CLASSES;
  cfg.seed = 7;
  cfg.threads = 2;
  r50_error err = {0};
  r50_model *m = r50_model_create(&cfg, e, 1, &err);
  CHECK(m != NULL, "%s", err.msg);
  return m;
}

/* Every parameter, gradient and persistent of a and b, bit for bit, read as a user
 * reads them (r50_namedparams). */
static void same_params(r50_model *a, r50_model *b, const char *when) {
  int bad = 0;
  for (int i = 0; i < r50_namedparams_count(a) && bad < 3; i++) {
    r50_param_info pa = r50_namedparams(a, i), pb = r50_namedparams(b, i);
    if (pa.data && memcmp(pa.data, pb.data, (size_t)pa.numel * sizeof(float))) {
      CHECK(0, "%s: %s differs", when, pa.name);
      bad++;
    }
    if ((pa.grad != NULL) != (pb.grad != NULL) ||
        (pa.grad && memcmp(pa.grad, pb.grad, (size_t)pa.numel * sizeof(float)))) {
      CHECK(0, "%s: the gradient of %s differs", when, pa.name);
      bad++;
    }
    if (pa.ivalue && *pa.ivalue != *pb.ivalue) {
      CHECK(0, "%s: %s differs", when, pa.name);
      bad++;
    }
  }
}

static void same_state(r50_optimizer *a, r50_optimizer *b, const char *when) {
  int64_t na, nb;
  float *va = r50_optimizer_state(a, &na), *vb = r50_optimizer_state(b, &nb);
  CHECK(na == nb && !memcmp(va, vb, (size_t)na * sizeof(float)),
        "%s: the optimizer states differ", when);
}

static void same_inference(r50_model *a, r50_model *b, const float *x, const char *when) {
  const char *layers[] = {"res3", "prob"};
  r50_tensor x_t = {(float *)x, 4, {N, 3, S, S}, 0}, oa[2], ob[2];
  r50_error err = {0};
  CHECK(r50_forward(a, &x_t, layers, 2, oa, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_forward(b, &x_t, layers, 2, ob, &err) == R50_OK, "%s", err.msg);
  for (int l = 0; l < 2; l++) {
    CHECK(
        !memcmp(oa[l].data, ob[l].data, (size_t)r50_tensor_numel(&oa[l]) * sizeof(float)),
        "%s: inference %s differs", when, layers[l]);
    r50_tensor_free(&oa[l]);
    r50_tensor_free(&ob[l]);
  }
}

typedef struct ranges {
  int64_t lo[256], hi[256];
  int n;
} ranges;

static void on_ready(void *user, int64_t first, int64_t end) {
  ranges *r = user;
  if (r->n < 256)
    r->lo[r->n] = first, r->hi[r->n] = end, r->n++;
}

static void step(r50_model *m, r50_optimizer *o, const float *x, const int32_t *labels,
                 r50_bn_mode bn, ranges *r, double *loss) {
  r50_error err = {0};
  r50_tensor x_t = {(float *)x, 4, {N, 3, S, S}, 0};
  r50_step_result res;
  CHECK(r50_cleargrads(m, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_forward_train(m, &x_t, labels, bn, &res, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_backward(m, 1.0, on_ready, r, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_optimizer_update(o, &err) == R50_OK, "%s", err.msg);
  *loss = res.loss;
}

static void both_steps(r50_model *a, r50_optimizer *oa, r50_model *b, r50_optimizer *ob,
                       const float *x, const int32_t *labels, r50_bn_mode bn,
                       const char *when) {
  ranges ra = {0}, rb = {0};
  double la, lb;
  step(a, oa, x, labels, bn, &ra, &la);
  step(b, ob, x, labels, bn, &rb, &lb);
  CHECK(la == lb && isfinite(la), "%s: loss %.9g vs %.9g", when, la, lb);
  CHECK(ra.n == rb.n && !memcmp(ra.lo, rb.lo, sizeof ra.lo) &&
            !memcmp(ra.hi, rb.hi, sizeof ra.hi),
        "%s: the gradients were reported ready in other ranges", when);
  same_inference(a, b, x, when); /* first: nothing else has fetched the slabs yet */
  same_state(oa, ob, when);
  same_params(a, b, when);
}

int main(void) {
  float *x = randv((size_t)N * 3 * S * S, -1, 1);
  int32_t labels[N] = {0, 3, 1, 4};
  r50_model *a = make(ref()), *b = make(&mirror);
  r50_error err = {0};
  r50_optimizer *oa = r50_momentum_sgd_new(a, 0.01, 0.9, 1e-4, &err);
  r50_optimizer *ob = r50_momentum_sgd_new(b, 0.01, 0.9, 1e-4, &err);
  CHECK(oa && ob, "%s", err.msg);
  same_params(a, b, "at start");

  /* steps, each followed by inference (the engine re-derives its inference weights
   * from parameters the host has to fetch first) */
  for (int k = 0; k < 2; k++) {
    char when[64];
    snprintf(when, sizeof when, "after step %d", k + 1);
    both_steps(a, oa, b, ob, x, labels, R50_BN_TRAIN, when);
  }

  /* host writes between steps, one kind at a time: gradients scaled as an allreduce
   * would, the optimizer state as a resume writes it, a parameter through its
   * pointer */
  r50_model *models[2] = {a, b};
  r50_optimizer *opts[2] = {oa, ob};
  static const char *const kinds[3] = {"the gradients", "the optimizer state",
                                       "a parameter"};
  for (int kind = 0; kind < 3; kind++) {
    for (int i = 0; i < 2; i++) {
      ranges r = {0};
      r50_tensor x_t = {x, 4, {N, 3, S, S}, 0};
      r50_step_result res;
      CHECK(r50_cleargrads(models[i], &err) == R50_OK, "%s", err.msg);
      CHECK(r50_forward_train(models[i], &x_t, labels, R50_BN_TRAIN, &res, &err) ==
                R50_OK,
            "%s", err.msg);
      CHECK(r50_backward(models[i], 1.0, on_ready, &r, &err) == R50_OK, "%s", err.msg);
      int64_t n;
      if (kind == 0) {
        float *g = r50_grads_slab(models[i], &n);
        for (int64_t j = 0; j < n; j++)
          g[j] *= 0.5f;
      } else if (kind == 1) {
        r50_optimizer_state(opts[i], &n)[0] = 0.25f;
      } else {
        r50_params_slab(models[i], &n)[1] = 0.125f;
        CHECK(r50_params_changed(models[i], &err) == R50_OK, "%s", err.msg);
      }
      CHECK(r50_optimizer_update(opts[i], &err) == R50_OK, "%s", err.msg);
    }
    char when[96];
    snprintf(when, sizeof when, "after a host write to %s", kinds[kind]);
    same_inference(a, b, x, when);
    same_state(oa, ob, when);
    same_params(a, b, when);
  }

  /* npz: what b saves is what a saves; loading into b mid-run is seen by its engine */
  char pa[64], pb[64];
  snprintf(pa, sizeof pa, "/tmp/r50-mirror-a-%d.npz", (int)getpid());
  snprintf(pb, sizeof pb, "/tmp/r50-mirror-b-%d.npz", (int)getpid());
  CHECK(r50_save_npz(a, pa, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_save_npz(b, pb, &err) == R50_OK, "%s", err.msg);
  both_steps(a, oa, b, ob, x, labels, R50_BN_TRAIN, "a step after saving");
  CHECK(r50_load_npz(a, pb, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_load_npz(b, pb, &err) == R50_OK, "%s", err.msg);
  both_steps(a, oa, b, ob, x, labels, R50_BN_TRAIN, "a step after loading");
  FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
  int same_file = fa && fb;
  for (int ca = 0, cb = 0; same_file && ca != EOF;) {
    ca = fgetc(fa), cb = fgetc(fb);
    same_file = ca == cb;
  }
  CHECK(same_file, "the npz files saved by the two models differ");
  if (fa)
    fclose(fa);
  if (fb)
    fclose(fb);
  remove(pa);
  remove(pb);

  /* copyparams and addgrads from the mirror model into reference models, and a copy */
  r50_model *c = make(ref()), *d = make(ref());
  CHECK(r50_copyparams(c, b, 1, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_copyparams(d, a, 1, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_cleargrads(c, &err) == R50_OK && r50_cleargrads(d, &err) == R50_OK, "%s",
        err.msg);
  CHECK(r50_addgrads(c, b, &err) == R50_OK && r50_addgrads(d, a, &err) == R50_OK, "%s",
        err.msg);
  same_params(c, d, "copyparams + addgrads from the mirror");
  r50_model *bc = r50_copy(b, R50_COPY_COPY, &err),
            *ac = r50_copy(a, R50_COPY_COPY, &err);
  CHECK(bc && ac, "%s", err.msg);
  same_inference(ac, bc, x, "copies");

  /* a model sharing b's store sees what b's engine writes */
  r50_model *bs = r50_copy(b, R50_COPY_SHARE, &err);
  CHECK(bs != NULL, "%s", err.msg);
  same_inference(a, bs, x, "a shared model before a step");
  both_steps(a, oa, b, ob, x, labels, R50_BN_TRAIN, "a step with a shared model");
  same_inference(a, bs, x, "a shared model after a step");
  /* last: with running statistics of two steps, a random network's activations grow */
  both_steps(a, oa, b, ob, x, labels, R50_BN_FROZEN, "after a frozen-BN step");

  /* moved off the mirror engine (r50_to_device), everything comes along */
  r50_error merr = {0};
  CHECK(r50_to_device(b, R50_DEVICE_CPU, -1, &merr) == R50_OK, "%s", merr.msg);
  CHECK(strcmp(r50_model_engine(b), "mirror"), "the model is still on the mirror engine");
  same_state(oa, ob, "after r50_to_device");
  same_params(a, b, "after r50_to_device");

  r50_model_free(bs);
  r50_model_free(bc);
  r50_model_free(ac);
  r50_model_free(c);
  r50_model_free(d);
  r50_optimizer_free(oa);
  r50_optimizer_free(ob);
  r50_model_free(a);
  r50_model_free(b);
  free(x);
  return test_result("test_engine_mirror");
}

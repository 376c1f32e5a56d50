/*
 * engine_ref.c — the reference CPU engine: the r50_engine table over the OpenBLAS
 * kernels of this folder. Every later engine is tested against it.
 *
 * Its derived state: each convolution's BatchNormalization folded into the weights
 * (one allocation per convolution, made when the parameters are first set and reused
 * after), and the linear layer's weights, which it reads in place from the model's
 * slab (the engine interface promises they stay put until the next set_linear).
 */
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "error.h"
#include "ops_cpu.h"

typedef struct folded_conv {
  float *w; /* (cout, cin*k*k), then b (cout) */
  int64_t floats;
} folded_conv;

struct r50_engine_state {
  r50_cpu_ctx ctx;
  folded_conv *convs; /* by conv id */
  int n_convs;
  const float *lin_w, *lin_b;
  int64_t lin_out, lin_in;
};

static r50_status ref_create(int threads, r50_engine_state **out, r50_error *err) {
  r50_engine_state *s = calloc(1, sizeof *s);
  if (!s)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for the CPU engine");
  r50_cpu_ctx_init(&s->ctx, threads);
  *out = s;
  return R50_OK;
}

static void ref_destroy(r50_engine_state *s) {
  if (!s)
    return;
  for (int i = 0; i < s->n_convs; i++)
    free(s->convs[i].w);
  free(s->convs);
  r50_cpu_ctx_release(&s->ctx);
  free(s);
}

static void ref_set_threads(r50_engine_state *s, int threads) {
  s->ctx.threads = threads > 0 ? threads : 1;
}

static r50_status ref_set_conv(r50_engine_state *s, const r50_conv_desc *c,
                               const r50_conv_params *p, r50_error *err) {
  if (c->id >= s->n_convs) {
    folded_conv *f = realloc(s->convs, (size_t)(c->id + 1) * sizeof *f);
    if (!f)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for folded weights");
    memset(f + s->n_convs, 0, (size_t)(c->id + 1 - s->n_convs) * sizeof *f);
    s->convs = f;
    s->n_convs = c->id + 1;
  }
  folded_conv *f = &s->convs[c->id];
  const int64_t floats = (int64_t)c->cout * c->cin * c->ksize * c->ksize + c->cout;
  if (f->floats != floats) {
    free(f->w);
    f->floats = 0;
    if (!(f->w = malloc((size_t)floats * sizeof(float))))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for folded weights");
    f->floats = floats;
  }
  r50_fold_bn(c, p, f->w, f->w + floats - c->cout);
  if (p->release) /* an inference-only model's: the folded copy is the one read */
    r50_host_release(p->w, (size_t)(floats - c->cout));
  return R50_OK;
}

static r50_status ref_set_linear(r50_engine_state *s, const float *w, const float *b,
                                 int64_t cout, int64_t cin, r50_error *err) {
  (void)err;
  s->lin_w = w;
  s->lin_b = b;
  s->lin_out = cout;
  s->lin_in = cin;
  return R50_OK;
}

static r50_status ref_reserve(r50_engine_state *s, size_t act_floats, size_t vec_floats,
                              float *act[R50_ACT_BUFS], float **vec, r50_error *err) {
  R50_TRY(r50_cpu_ctx_reserve(&s->ctx, act_floats, vec_floats, err));
  memcpy(act, s->ctx.act, sizeof s->ctx.act);
  *vec = s->ctx.vec;
  return R50_OK;
}

static void ref_from_nchw(r50_engine_state *s, const float *src, int64_t n, int64_t c,
                          int64_t h, int64_t w, r50_act *dst) {
  *dst = (r50_act){dst->data, c, n, h, w};
  r50_nchw_to_cnhw(&s->ctx, src, dst);
}

static void ref_to_nchw(r50_engine_state *s, const r50_act *src, float *dst) {
  r50_cnhw_to_nchw(&s->ctx, src, dst);
}

static void ref_vec_to_host(r50_engine_state *s, const float *src, size_t n, float *dst) {
  (void)s;
  memcpy(dst, src, n * sizeof(float));
}

static void ref_vec_from_host(r50_engine_state *s, const float *src, size_t n,
                              float *dst) {
  (void)s;
  memcpy(dst, src, n * sizeof(float));
}

static r50_status ref_conv(r50_engine_state *s, const r50_conv_desc *c, const r50_act *in,
                           r50_act *out, const r50_act *residual, int relu,
                           r50_error *err) {
  R50_ASSERT(c->id < s->n_convs && s->convs[c->id].w);
  const folded_conv *f = &s->convs[c->id];
  return r50_conv_cpu(&s->ctx, c, f->w, f->w + f->floats - c->cout, in, out,
                      residual ? residual->data : NULL, relu, R50_CONV_PER_IMAGE, err);
}

static void ref_maxpool(r50_engine_state *s, const r50_pool_desc *p, const r50_act *in,
                        r50_act *out) {
  r50_maxpool_cpu(&s->ctx, p, in, out);
}

static void ref_avgpool(r50_engine_state *s, const r50_act *in, float *out) {
  r50_avgpool_cpu(&s->ctx, in, out);
}

static void ref_linear(r50_engine_state *s, const float *x, int64_t n, float *y) {
  R50_ASSERT(s->lin_w);
  r50_linear_cpu(&s->ctx, x, n, s->lin_in, s->lin_w, s->lin_b, s->lin_out, y);
}

static void ref_softmax(r50_engine_state *s, const float *x, int64_t n, int64_t c,
                        float *y) {
  r50_softmax_cpu(&s->ctx, x, n, c, y);
}

/* ------------------------------------------------------------------ training */

static r50_status ref_bind(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                           r50_error *err) {
  (void)s, (void)err;
  *eng = *host; /* host memory is this engine's */
  return R50_OK;
}

static r50_status ref_sync(r50_engine_state *s, int to_host, int what, r50_error *err) {
  (void)s, (void)to_host, (void)what, (void)err;
  return R50_OK;
}

static r50_status ref_reserve_train(r50_engine_state *s, size_t floats, float **arena,
                                    r50_error *err) {
  R50_TRY(r50_cpu_ctx_reserve_arena(&s->ctx, floats, err));
  *arena = s->ctx.arena;
  return R50_OK;
}

static void ref_zero(r50_engine_state *s, float *p, size_t n) {
  (void)s;
  memset(p, 0, n * sizeof(float));
}

static r50_status ref_conv_forward(r50_engine_state *s, const r50_conv_desc *c,
                                   const float *w, const float *b, const r50_act *x,
                                   r50_act *z, r50_error *err) {
  if (!b && !(b = r50_cpu_ctx_zeros(&s->ctx, (size_t)c->cout, err)))
    return R50_ERR_NOMEM;
  return r50_conv_cpu(&s->ctx, c, w, b, x, z, NULL, 0, R50_CONV_BATCH, err);
}

static void ref_bn_forward(r50_engine_state *s, const r50_conv_desc *c,
                           const r50_bn_args *a, const r50_act *z, r50_act *y,
                           const r50_act *residual, int relu) {
  (void)c;
  const r50_groups gl = r50_groups_cnhw(z);
  r50_bn_forward_cpu(&s->ctx, &gl, a, z, y, residual ? residual->data : NULL, relu);
}

static void ref_bn_backward(r50_engine_state *s, const r50_conv_desc *c,
                            const r50_bn_args *a, const r50_act *z, const r50_act *dy,
                            r50_act *dz, float *dgamma, float *dbeta) {
  (void)c;
  const r50_groups gl = r50_groups_cnhw(z);
  r50_bn_backward_cpu(&s->ctx, &gl, a, z, dy, dz, dgamma, dbeta);
}

static r50_status ref_conv_backward(r50_engine_state *s, const r50_conv_desc *c,
                                    const float *w, const r50_act *x, const r50_act *dz,
                                    r50_act *dx, float *dw, float *db, r50_error *err) {
  return r50_conv_backward_cpu(&s->ctx, c, w, x, dz, dx, dw, db, err);
}

static void ref_relu_mask(r50_engine_state *s, const r50_act *y, r50_act *dy) {
  r50_relu_mask_cpu(&s->ctx, y, dy);
}

static void ref_add(r50_engine_state *s, r50_act *acc, const r50_act *g) {
  r50_add_cpu(&s->ctx, acc, g);
}

static void ref_maxpool_backward(r50_engine_state *s, const r50_pool_desc *p,
                                 const r50_act *x, const r50_act *dy, r50_act *dx) {
  r50_maxpool_backward_cpu(&s->ctx, p, x, dy, dx);
}

static void ref_avgpool_backward(r50_engine_state *s, const float *dy, r50_act *dx) {
  r50_avgpool_backward_cpu(&s->ctx, dy, dx);
}

static void ref_linear_forward(r50_engine_state *s, const float *x, int64_t n,
                               int64_t cin, const float *w, const float *b, int64_t cout,
                               float *y) {
  r50_linear_cpu(&s->ctx, x, n, cin, w, b, cout, y);
}

static void ref_linear_backward(r50_engine_state *s, const float *x, const float *dy,
                                int64_t n, int64_t cin, const float *w, int64_t cout,
                                float *dx, float *dw, float *db) {
  r50_linear_backward_cpu(&s->ctx, x, dy, n, cin, w, cout, dx, dw, db);
}

static void ref_softmax_xent(r50_engine_state *s, const float *logits,
                             const int32_t *labels, int64_t n, int64_t c, double scale,
                             double *loss, int64_t *correct, int64_t *valid,
                             float *dlogits) {
  r50_softmax_xent_cpu(&s->ctx, logits, labels, n, c, scale, loss, correct, valid,
                       dlogits);
}

static void ref_momentum_sgd(r50_engine_state *s, float *p, float *g, float *v, size_t n,
                             double lr, double momentum, double weight_decay) {
  r50_momentum_sgd_cpu(&s->ctx, p, g, v, n, lr, momentum, weight_decay);
}

static const r50_engine_train reference_train = {
    .bind = ref_bind,
    .sync = ref_sync,
    .reserve = ref_reserve_train,
    .zero = ref_zero,
    .conv_forward = ref_conv_forward,
    .bn_forward = ref_bn_forward,
    .bn_backward = ref_bn_backward,
    .conv_backward = ref_conv_backward,
    .relu_mask = ref_relu_mask,
    .add = ref_add,
    .maxpool_backward = ref_maxpool_backward,
    .avgpool_backward = ref_avgpool_backward,
    .linear_forward = ref_linear_forward,
    .linear_backward = ref_linear_backward,
    .softmax_xent = ref_softmax_xent,
    .momentum_sgd = ref_momentum_sgd,
};

static const r50_engine reference = {
    .name = "reference",
    .create = ref_create,
    .destroy = ref_destroy,
    .set_threads = ref_set_threads,
    .set_conv = ref_set_conv,
    .set_linear = ref_set_linear,
    .reserve = ref_reserve,
    .from_nchw = ref_from_nchw,
    .to_nchw = ref_to_nchw,
    .vec_to_host = ref_vec_to_host,
    .vec_from_host = ref_vec_from_host,
    .conv = ref_conv,
    .maxpool = ref_maxpool,
    .avgpool = ref_avgpool,
    .linear = ref_linear,
    .softmax = ref_softmax,
    .train = &reference_train,
};

const r50_engine *r50_engine_reference(void) {
  return &reference;
}

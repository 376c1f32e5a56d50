/*
 * forward.c — r50_forward: the one layer walk. It runs the model table in order on the
 * model's engine, stopping after the last requested layer, and returns each requested
 * layer in Chainer's layout.
 *
 * Rule: four activation buffers cover every bottleneck — the block input, t1 (reused
 * for the block output), t2 and the projected shortcut — and one vector buffer holds
 * pool5, fc6 and prob side by side; the engine keeps them between calls, so a forward
 * of a shape already seen allocates only the returned tensors.
 *
 * A batch whose buffers would pass R50_ACT_BUF_BYTES (or the engine's act_buf_bytes)
 * runs in equal micro-batches
 * (16 images at 224x224: two of 8), each through every layer, its outputs copied to
 * their rows: engines are batch-invariant, so the results are the same, and the
 * buffers stay small (the 4 x 51 MB of a batch of 16 at 224x224 would be most of the
 * process's memory).
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layers.h"
#include "model.h"

/* The most one activation buffer may hold before a batch is cut into micro-batches. */
#define R50_ACT_BUF_BYTES ((int64_t)32 << 20)

typedef struct walk {
  r50_model *m;
  const r50_engine *e;
  float *act[R50_ACT_BUFS];
  float *vec;
  r50_error *err;
  int64_t row0, rows; /* this micro-batch: rows [row0, row0 + its n) of `rows` */
} walk;

static r50_status check_interrupt(const r50_model *m, r50_error *err) {
  if (m->interrupt && m->interrupt(m->interrupt_user))
    return r50_fail(err, R50_ERR_INTERRUPTED, "forward interrupted on request");
  return R50_OK;
}

/* x (in buffer *xbuf) through one bottleneck; the output lands in another buffer. */
static r50_status run_bottleneck(walk *k, const r50_bottleneck_desc *blk, r50_act *x,
                                 int *xbuf) {
  int f[3], nf = 0;
  for (int i = 0; i < R50_ACT_BUFS && nf < 3; i++)
    if (i != *xbuf)
      f[nf++] = i;
  r50_act t1 = {.data = k->act[f[0]]}, t2 = {.data = k->act[f[1]]},
          sc = {.data = k->act[f[2]]}, y = {.data = k->act[f[0]]};
  r50_engine_state *s = k->m->es;
  R50_TRY(k->e->conv(s, &blk->conv[0], x, &t1, NULL, 1, k->err));
  R50_TRY(k->e->conv(s, &blk->conv[1], &t1, &t2, NULL, 1, k->err));
  const r50_act *residual = x;
  if (blk->has_shortcut) {
    R50_TRY(k->e->conv(s, &blk->conv[3], x, &sc, NULL, 0, k->err));
    residual = &sc;
  }
  R50_TRY(k->e->conv(s, &blk->conv[2], &t2, &y, residual, 1, k->err));
  *x = y;
  *xbuf = f[0];
  return R50_OK;
}

static void hook(const r50_model *m, r50_hook_phase phase, int layer, const r50_act *a) {
  if (!m->hook)
    return;
  if (m->engine->finish) /* the layer's time is its ops' time, not their launch */
    m->engine->finish(m->es);
  r50_hook_event ev = {
      .phase = phase, .layer = m->net.layer_names[layer], .layer_index = layer};
  if (a)
    r50_user_shape(layer, a, ev.shape, &ev.ndim);
  m->hook(m->hook_user, &ev);
}

/* The whole batch's tensor (rows images) for layer, shaped as a's. */
static r50_status alloc_output(const r50_model *m, int layer, const r50_act *a,
                               int64_t rows, r50_tensor *t, r50_error *err) {
  memset(t, 0, sizeof *t);
  r50_act whole = *a;
  whole.n = rows;
  r50_user_shape(layer, &whole, t->shape, &t->ndim);
  t->data = malloc((size_t)r50_tensor_numel(t) * sizeof(float));
  if (!t->data)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for the %s output",
                    m->net.layer_names[layer]);
  t->owned = 1;
  return R50_OK;
}

/* One layer: a (in buffer *abuf) becomes its output. */
static r50_status run_layer(walk *k, int l, r50_act *a, int *abuf) {
  const r50_net *net = &k->m->net;
  r50_engine_state *s = k->m->es;
  const int64_t n = a->n;
  float *v_feat = k->vec, *v_fc = v_feat + n * net->feat_dim,
        *v_prob = v_fc + n * net->n_classes;
  switch (l) {
  case R50_CONV1: {
    r50_act y = {.data = k->act[1]};
    R50_TRY(k->e->conv(s, &net->conv1, a, &y, NULL, 1, k->err));
    *a = y;
    *abuf = 1;
    return R50_OK;
  }
  case R50_POOL1: {
    r50_act y = {.data = k->act[0]};
    k->e->maxpool(s, &net->pool1, a, &y);
    *a = y;
    *abuf = 0;
    return R50_OK;
  }
  case R50_POOL5:
    k->e->avgpool(s, a, v_feat);
    *a = (r50_act){v_feat, net->feat_dim, n, 1, 1};
    return R50_OK;
  case R50_FC6:
    k->e->linear(s, v_feat, n, v_fc);
    *a = (r50_act){v_fc, net->n_classes, n, 1, 1};
    return R50_OK;
  case R50_PROB:
    k->e->softmax(s, v_fc, n, net->n_classes, v_prob);
    *a = (r50_act){v_prob, net->n_classes, n, 1, 1};
    return R50_OK;
  default: {
    const r50_stage_desc *st = &net->stages[l - R50_RES2];
    for (int b = st->first; b < st->first + st->count; b++) {
      R50_TRY(check_interrupt(k->m, k->err));
      R50_TRY(run_bottleneck(k, &net->blocks[b], a, abuf));
    }
    return R50_OK;
  }
  }
}

/* Runs n images of x from row k->row0 through layers 0..last; copies requested ones
 * (slot[layer] >= 0) into their rows of out (allocated by the first micro-batch). */
static r50_status run(walk *k, const r50_tensor *x, int64_t n, int last, const int *slot,
                      r50_tensor *out) {
  r50_act a = {.data = k->act[0]};
  int abuf = 0;
  const int64_t per_in = x->shape[1] * x->shape[2] * x->shape[3];
  k->e->from_nchw(k->m->es, x->data + k->row0 * per_in, n, x->shape[1], x->shape[2],
                  x->shape[3], &a);
  for (int l = 0; l <= last; l++) {
    R50_TRY(check_interrupt(k->m, k->err));
    hook(k->m, R50_HOOK_BEFORE, l, NULL);
    R50_TRY(run_layer(k, l, &a, &abuf));
    if (slot[l] >= 0) {
      r50_tensor *t = &out[slot[l]];
      if (k->row0 == 0)
        R50_TRY(alloc_output(k->m, l, &a, k->rows, t, k->err));
      const int64_t per = r50_act_numel(&a) / a.n;
      if (l < R50_POOL5)
        k->e->to_nchw(k->m->es, &a, t->data + k->row0 * per);
      else
        k->e->vec_to_host(k->m->es, a.data, (size_t)(a.n * a.c), t->data + k->row0 * per);
    }
    hook(k->m, R50_HOOK_AFTER, l, &a);
  }
  return R50_OK;
}

r50_status r50_forward(r50_model *m, const r50_tensor *x, const char *const *layers,
                       int n_layers, r50_tensor *out, r50_error *err) {
  if (!x || !x->data || x->ndim != 4 || x->shape[1] != 3)
    return r50_fail(err, R50_ERR_ARG, "input must be (N, 3, H, W) float32");
  R50_TRY(r50_check_input_size(x->shape[0], x->shape[2], x->shape[3], err));
  if (n_layers < 1)
    return r50_fail(err, R50_ERR_ARG, "no layer requested");
  int slot[R50_N_LAYERS], last = -1;
  for (int i = 0; i < R50_N_LAYERS; i++)
    slot[i] = -1;
  for (int i = 0; i < n_layers; i++) {
    int li = r50_layer_index(layers[i]);
    if (li < 0)
      return r50_fail(err, R50_ERR_ARG,
                      "unknown layer '%s' (available: conv1, pool1, res2, res3, res4, "
                      "res5, pool5, fc6, prob)",
                      layers[i]);
    if (slot[li] >= 0)
      return r50_fail(err, R50_ERR_ARG, "layer '%s' requested twice", layers[i]);
    slot[li] = i;
    last = li > last ? li : last;
    memset(&out[i], 0, sizeof out[i]);
  }
  if (!m->engine)
    return r50_fail(err, R50_ERR_ARG,
                    "this model has no engine: it only holds parameters");
  R50_TRY(r50_model_ensure_synced(m, err));
  /* micro-batches: as few as keep a buffer within R50_ACT_BUF_BYTES, all equal but
   * the last */
  const int64_t n = x->shape[0];
  r50_shape_plan p;
  r50_plan_shapes(&m->net, 1, x->shape[2], x->shape[3], &p);
  const int64_t budget =
      m->engine->act_buf_bytes > 0 ? m->engine->act_buf_bytes : R50_ACT_BUF_BYTES;
  int64_t fit = budget / ((int64_t)sizeof(float) * p.max_act);
  fit = fit < 1 ? 1 : fit;
  const int64_t groups = (n + fit - 1) / fit, mb = (n + groups - 1) / groups;
  r50_plan_shapes(&m->net, mb, x->shape[2], x->shape[3], &p);
  walk k = {.m = m, .e = m->engine, .err = err, .rows = n};
  R50_TRY(
      m->engine->reserve(m->es, (size_t)p.max_act, (size_t)p.vec, k.act, &k.vec, err));
  r50_status s = R50_OK;
  for (k.row0 = 0; k.row0 < n && s == R50_OK; k.row0 += mb)
    s = run(&k, x, n - k.row0 < mb ? n - k.row0 : mb, last, slot, out);
  if (s == R50_OK && m->engine->status)
    s = m->engine->status(m->es, err);
  if (s != R50_OK)
    for (int i = 0; i < n_layers; i++)
      r50_tensor_free(&out[i]);
  return s;
}

/*
 * forward.c — r50_forward: runs the model table in order on the CPU kernels, stopping
 * after the last requested layer, and returns each requested layer in Chainer's layout.
 *
 * Rule: four activation buffers cover every bottleneck — block input, t1 (reused for
 * the block output), t2 and the projected shortcut — so no layer allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "ops_cpu.h"

enum { L_CONV1, L_POOL1, L_RES2, L_RES3, L_RES4, L_RES5, L_POOL5, L_FC6, L_PROB, L_COUNT };

static const char *const layer_names[L_COUNT] = {
    "conv1", "pool1", "res2", "res3", "res4", "res5", "pool5", "fc6", "prob"};

const char *const *r50_available_layers(int *n) {
  if (n)
    *n = L_COUNT;
  return layer_names;
}

int r50_layer_index(const char *name) {
  for (int i = 0; i < L_COUNT; i++)
    if (!strcmp(layer_names[i], name))
      return i;
  return -1;
}

/* Shapes of every layer output (CNHW dims; pool5/fc6/prob use c only) and the largest
 * intermediate activation, for n images of h x w. */
typedef struct shape_plan {
  r50_act layer[L_COUNT];
  int64_t max_act;
} shape_plan;

static void grow(int64_t *max, int64_t c, int64_t n, int64_t h, int64_t w) {
  if (c * n * h * w > *max)
    *max = c * n * h * w;
}

static void plan_shapes(const r50_net *net, int64_t n, int64_t h, int64_t w, shape_plan *p) {
  memset(p, 0, sizeof *p);
  grow(&p->max_act, 3, n, h, w);
  const r50_conv_desc *c1 = &net->conv1;
  h = r50_out_size(h, c1->ksize, c1->stride, c1->pad, 0);
  w = r50_out_size(w, c1->ksize, c1->stride, c1->pad, 0);
  p->layer[L_CONV1] = (r50_act){NULL, 64, n, h, w};
  grow(&p->max_act, 64, n, h, w);
  h = r50_out_size(h, 3, 2, 0, 1);
  w = r50_out_size(w, 3, 2, 0, 1);
  p->layer[L_POOL1] = (r50_act){NULL, 64, n, h, w};
  for (int s = 0; s < R50_STAGES; s++) {
    const r50_stage_desc *st = &net->stages[s];
    for (int b = st->first; b < st->first + st->count; b++) {
      const r50_bottleneck_desc *blk = &net->blocks[b];
      int64_t h1 = r50_out_size(h, 1, blk->conv[0].stride, 0, 0);
      int64_t w1 = r50_out_size(w, 1, blk->conv[0].stride, 0, 0);
      int64_t h2 = r50_out_size(h1, 3, blk->conv[1].stride, 1, 0);
      int64_t w2 = r50_out_size(w1, 3, blk->conv[1].stride, 1, 0);
      grow(&p->max_act, blk->conv[0].cout, n, h1, w1);
      grow(&p->max_act, blk->conv[1].cout, n, h2, w2);
      grow(&p->max_act, blk->conv[2].cout, n, h2, w2);
      h = h2;
      w = w2;
    }
    p->layer[L_RES2 + s] = (r50_act){NULL, st->cout, n, h, w};
  }
  p->layer[L_POOL5] = (r50_act){NULL, 2048, n, 1, 1};
  p->layer[L_FC6] = (r50_act){NULL, 1000, n, 1, 1};
  p->layer[L_PROB] = (r50_act){NULL, 1000, n, 1, 1};
}

/* Chainer's layout of a layer's output. */
static void user_shape(int layer, const r50_act *a, int64_t shape[R50_MAX_DIMS], int *ndim) {
  shape[0] = a->n;
  shape[1] = a->c;
  if (layer >= L_POOL5) {
    *ndim = 2;
    return;
  }
  shape[2] = a->h;
  shape[3] = a->w;
  *ndim = 4;
}

static r50_status check_input_size(int64_t n, int64_t h, int64_t w, r50_error *err) {
  if (n < 1 || h < 32 || w < 32)
    return r50_fail(err, R50_ERR_ARG,
                    "input of %lld images of %lldx%lld: need at least 1 image of at "
                    "least 32x32 pixels",
                    (long long)n, (long long)h, (long long)w);
  return R50_OK;
}

r50_status r50_layer_shape(const r50_model *m, const char *layer, int64_t n, int64_t h,
                           int64_t w, int64_t shape[R50_MAX_DIMS], int *ndim,
                           r50_error *err) {
  int li = r50_layer_index(layer);
  if (li < 0)
    return r50_fail(err, R50_ERR_ARG, "unknown layer '%s'", layer);
  R50_TRY(check_input_size(n, h, w, err));
  shape_plan p;
  plan_shapes(&m->net, n, h, w, &p);
  user_shape(li, &p.layer[li], shape, ndim);
  return R50_OK;
}

/* ------------------------------------------------------------------ running */

static r50_status check_interrupt(const r50_model *m, r50_error *err) {
  if (m->interrupt && m->interrupt(m->interrupt_user))
    return r50_fail(err, R50_ERR_INTERRUPTED, "forward interrupted on request");
  return R50_OK;
}

static r50_status run_bottleneck(r50_model *m, const r50_bottleneck_desc *blk,
                                 r50_act *x, int *xbuf, r50_error *err) {
  float *const *act = m->ctx.act;
  int f[3], nf = 0;
  for (int i = 0; i < 4 && nf < 3; i++)
    if (i != *xbuf)
      f[nf++] = i;
  r50_act t1 = {.data = act[f[0]]}, t2 = {.data = act[f[1]]}, sc = {.data = act[f[2]]};
  r50_act y = {.data = act[f[0]]};
  R50_TRY(r50_conv_cpu(&m->ctx, &blk->conv[0], m->folded, x, &t1, NULL, 1, err));
  R50_TRY(r50_conv_cpu(&m->ctx, &blk->conv[1], m->folded, &t1, &t2, NULL, 1, err));
  const float *residual = x->data;
  if (blk->has_shortcut) {
    R50_TRY(r50_conv_cpu(&m->ctx, &blk->conv[3], m->folded, x, &sc, NULL, 0, err));
    residual = sc.data;
  }
  R50_TRY(r50_conv_cpu(&m->ctx, &blk->conv[2], m->folded, &t2, &y, residual, 1, err));
  *x = y;
  *xbuf = f[0];
  return R50_OK;
}

static void hook(r50_model *m, r50_hook_phase phase, int layer, const r50_act *a) {
  if (!m->hook)
    return;
  r50_hook_event ev = {.phase = phase, .layer = layer_names[layer], .layer_index = layer};
  if (a)
    user_shape(layer, a, ev.shape, &ev.ndim);
  m->hook(m->hook_user, &ev);
}

static r50_status alloc_output(int layer, const r50_act *a, r50_tensor *t, r50_error *err) {
  memset(t, 0, sizeof *t);
  user_shape(layer, a, t->shape, &t->ndim);
  t->data = malloc((size_t)r50_tensor_numel(t) * sizeof(float));
  if (!t->data)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for the %s output",
                    layer_names[layer]);
  t->owned = 1;
  return R50_OK;
}

/* Runs layers 0..last; copies requested ones (slot[layer] >= 0) into out. */
static r50_status run(r50_model *m, const r50_tensor *x, int last, const int *slot,
                      r50_tensor *out, r50_error *err) {
  const int64_t n = x->shape[0];
  float *const *act = m->ctx.act;
  float *vec = NULL; /* pool5 / fc6 / prob: (n, c) */
  r50_act a = {act[0], 3, n, x->shape[2], x->shape[3]};
  int abuf = 0;
  r50_status s = R50_OK;
  r50_nchw_to_cnhw(&m->ctx, x->data, &a);
  for (int l = 0; l <= last && s == R50_OK; l++) {
    if ((s = check_interrupt(m, err)) != R50_OK)
      break;
    hook(m, R50_HOOK_BEFORE, l, NULL);
    if (l == L_CONV1) {
      r50_act y = {.data = act[1]};
      s = r50_conv_cpu(&m->ctx, &m->net.conv1, m->folded, &a, &y, NULL, 1, err);
      a = y;
      abuf = 1;
    } else if (l == L_POOL1) {
      r50_act y = {.data = act[0]};
      r50_maxpool_cpu(&m->ctx, &a, &y);
      a = y;
      abuf = 0;
    } else if (l <= L_RES5) {
      const r50_stage_desc *st = &m->net.stages[l - L_RES2];
      for (int b = st->first; b < st->first + st->count && s == R50_OK; b++)
        if ((s = check_interrupt(m, err)) == R50_OK)
          s = run_bottleneck(m, &m->net.blocks[b], &a, &abuf, err);
    } else {
      if (!vec && !(vec = malloc((size_t)(n * 2 * 2048) * sizeof(float)))) {
        s = r50_fail(err, R50_ERR_NOMEM, "out of memory for the pool5 output");
        break;
      }
      float *v_in = vec + (l == L_FC6 ? 0 : n * 2048), *v_out = vec + (l == L_FC6 ? n * 2048 : 0);
      if (l == L_POOL5) {
        r50_avgpool_cpu(&m->ctx, &a, vec);
        a = (r50_act){vec, 2048, n, 1, 1};
      } else if (l == L_FC6) {
        r50_linear_cpu(&m->ctx, v_in, n, 2048, r50_param_data(m, m->net.fc_w),
                       r50_param_data(m, m->net.fc_b), 1000, v_out);
        a = (r50_act){v_out, 1000, n, 1, 1};
      } else {
        r50_softmax_cpu(&m->ctx, v_in, n, 1000, v_out);
        a = (r50_act){v_out, 1000, n, 1, 1};
      }
    }
    if (s != R50_OK)
      break;
    if (slot[l] >= 0) {
      s = alloc_output(l, &a, &out[slot[l]], err);
      if (s == R50_OK && l < L_POOL5)
        r50_cnhw_to_nchw(&m->ctx, &a, out[slot[l]].data);
      else if (s == R50_OK)
        memcpy(out[slot[l]].data, a.data, (size_t)(a.n * a.c) * sizeof(float));
    }
    hook(m, R50_HOOK_AFTER, l, &a);
  }
  free(vec);
  return s;
}

r50_status r50_forward(r50_model *m, const r50_tensor *x, const char *const *layers,
                       int n_layers, r50_tensor *out, r50_error *err) {
  if (!x || !x->data || x->ndim != 4 || x->shape[1] != 3)
    return r50_fail(err, R50_ERR_ARG, "input must be (N, 3, H, W) float32");
  R50_TRY(check_input_size(x->shape[0], x->shape[2], x->shape[3], err));
  if (n_layers < 1)
    return r50_fail(err, R50_ERR_ARG, "no layer requested");
  int slot[L_COUNT], last = -1;
  for (int i = 0; i < L_COUNT; i++)
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
  shape_plan p;
  plan_shapes(&m->net, x->shape[0], x->shape[2], x->shape[3], &p);
  R50_TRY(r50_ctx_reserve_act(&m->ctx, (size_t)p.max_act, err));
  r50_status s = run(m, x, last, slot, out, err);
  if (s != R50_OK)
    for (int i = 0; i < n_layers; i++)
      r50_tensor_free(&out[i]);
  return s;
}

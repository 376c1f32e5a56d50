/*
 * train.c — the training step: r50_forward_train and r50_backward, the one training
 * walk over the model table on the engine's training ops (engine.h).
 *
 * Memory: the first step of a shape plans one arena in engine memory — every conv
 * unit's pre-BN output z and output y (what backward needs), the BN statistics of
 * the batch, pool1's input and output, the vectors, and five gradient buffers of the
 * largest activation that the backward walk rotates — and later steps of that shape
 * allocate nothing.
 *
 * Rules: the walk mirrors forward.c (conv -> BN -> ReLU, bottleneck with its shortcut,
 * max pooling, global average pooling, linear), in training mode BN normalises with
 * the batch's statistics and updates its running averages as Chainer's
 * BatchNormalization does (decay 0.9, unbiased m/(m-1) variance, N left alone).
 * Backward accumulates parameter gradients only where the update is enabled and stops
 * below the lowest layer that has one; gradient ranges of the slab are reported final
 * from the top down (on_ready) so that a caller can reduce them meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layers.h"
#include "model.h"
#include "train.h"

#define N_GRAD_BUFS 5

typedef struct unit_plan {
  r50_act z, y; /* the conv's output, and the unit's output after BN (+res) (+relu) */
  float *mean, *invstd;
} unit_plan;

typedef struct r50_train_state {
  int64_t n, h, w; /* the planned input shape */
  float *arena;
  r50_act x0;                           /* the input, engine layout */
  r50_act pooled;                       /* pool1's output */
  unit_plan *units;                     /* by conv id */
  float *vec, *logits, *dlogits, *dvec; /* (n, feat), (n, classes) x 2, (n, feat) */
  float *grad[N_GRAD_BUFS];
  int32_t *labels; /* (n) of the last forward */
  r50_bn_mode bn;
  int have_forward;
} r50_train_state;

void r50_train_state_free(r50_train_state *t) {
  if (!t)
    return;
  free(t->units);
  free(t->labels);
  free(t);
}

/* ------------------------------------------------------------------ planning */

typedef struct arena_plan {
  size_t used;
  int place; /* 0: count only */
  float *base;
} arena_plan;

static float *take(arena_plan *a, int64_t floats) {
  size_t at = a->used;
  a->used += (size_t)((floats + 15) / 16 * 16); /* 64-byte aligned pieces */
  return a->place ? a->base + at : NULL;
}

static r50_act take_act(arena_plan *a, int64_t c, int64_t n, int64_t h, int64_t w) {
  return (r50_act){take(a, c * n * h * w), c, n, h, w};
}

/* Lays out (or, with a->place 0, measures) the arena for n images of h x w. */
static void lay_out(const r50_net *net, r50_train_state *t, arena_plan *a, int64_t n,
                    int64_t h, int64_t w, int64_t *max_act) {
  *max_act = 3 * n * h * w;
  t->x0 = take_act(a, 3, n, h, w);
  int64_t ch = h, cw = w;
  const r50_conv_desc *convs[1024];
  R50_ASSERT(net->n_convs <= 1024);
  r50_net_convs(net, convs);
  int64_t in_h[1024], in_w[1024];
  /* each conv's input size, walking the network's shape */
  in_h[net->conv1.id] = ch, in_w[net->conv1.id] = cw;
  ch = r50_out_size(ch, net->conv1.ksize, net->conv1.stride, net->conv1.pad, 0);
  cw = r50_out_size(cw, net->conv1.ksize, net->conv1.stride, net->conv1.pad, 0);
  const int64_t c1h = ch, c1w = cw;
  ch = r50_out_size(ch, net->pool1.ksize, net->pool1.stride, net->pool1.pad,
                    net->pool1.cover_all);
  cw = r50_out_size(cw, net->pool1.ksize, net->pool1.stride, net->pool1.pad,
                    net->pool1.cover_all);
  t->pooled = take_act(a, net->conv1.cout, n, ch, cw);
  for (int b = 0; b < net->n_blocks; b++) {
    const r50_bottleneck_desc *blk = &net->blocks[b];
    in_h[blk->conv[0].id] = ch, in_w[blk->conv[0].id] = cw;
    if (blk->has_shortcut)
      in_h[blk->conv[3].id] = ch, in_w[blk->conv[3].id] = cw;
    int64_t h1 =
        r50_out_size(ch, blk->conv[0].ksize, blk->conv[0].stride, blk->conv[0].pad, 0);
    int64_t w1 =
        r50_out_size(cw, blk->conv[0].ksize, blk->conv[0].stride, blk->conv[0].pad, 0);
    in_h[blk->conv[1].id] = h1, in_w[blk->conv[1].id] = w1;
    int64_t h2 =
        r50_out_size(h1, blk->conv[1].ksize, blk->conv[1].stride, blk->conv[1].pad, 0);
    int64_t w2 =
        r50_out_size(w1, blk->conv[1].ksize, blk->conv[1].stride, blk->conv[1].pad, 0);
    in_h[blk->conv[2].id] = h2, in_w[blk->conv[2].id] = w2;
    ch = h2, cw = w2;
  }
  for (int i = 0; i < net->n_convs; i++) {
    const r50_conv_desc *c = convs[i];
    int64_t oh = c == &net->conv1
                     ? c1h
                     : r50_out_size(in_h[c->id], c->ksize, c->stride, c->pad, 0);
    int64_t ow = c == &net->conv1
                     ? c1w
                     : r50_out_size(in_w[c->id], c->ksize, c->stride, c->pad, 0);
    unit_plan *u = &t->units[c->id];
    u->z = take_act(a, c->cout, n, oh, ow);
    u->y = take_act(a, c->cout, n, oh, ow);
    u->mean = take(a, c->cout);
    u->invstd = take(a, c->cout);
    int64_t floats = (int64_t)c->cout * n * oh * ow;
    if (floats > *max_act)
      *max_act = floats;
    if ((int64_t)c->cin * n * in_h[c->id] * in_w[c->id] > *max_act)
      *max_act = (int64_t)c->cin * n * in_h[c->id] * in_w[c->id];
  }
  t->vec = take(a, n * net->feat_dim);
  t->dvec = take(a, n * net->feat_dim);
  t->logits = take(a, n * net->n_classes);
  t->dlogits = take(a, n * net->n_classes);
  for (int g = 0; g < N_GRAD_BUFS; g++)
    t->grad[g] = take(a, *max_act);
}

static r50_status plan(r50_model *m, int64_t n, int64_t h, int64_t w, r50_error *err) {
  r50_train_state *t = m->train;
  if (t && t->n == n && t->h == h && t->w == w)
    return R50_OK;
  if (!t) {
    if (!(t = calloc(1, sizeof *t)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    m->train = t;
  }
  free(t->units);
  free(t->labels);
  t->units = calloc((size_t)m->net.n_convs, sizeof *t->units);
  t->labels = malloc((size_t)n * sizeof *t->labels);
  t->n = 0;
  if (!t->units || !t->labels)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  int64_t max_act;
  arena_plan count = {0, 0, NULL};
  lay_out(&m->net, t, &count, n, h, w, &max_act);
  R50_TRY(m->engine->train->reserve(m->es, count.used, &t->arena, err));
  arena_plan place = {0, 1, t->arena};
  lay_out(&m->net, t, &place, n, h, w, &max_act);
  t->n = n, t->h = h, t->w = w;
  return R50_OK;
}

/* ------------------------------------------------------------------ pointers */

typedef struct step {
  r50_model *m;
  const r50_engine *e;
  const r50_engine_train *tr;
  r50_slabs eng; /* the slabs in engine memory */
  r50_train_state *t;
  r50_error *err;
} step;

static float *param(const step *k, int index) {
  return k->eng.params + k->m->net.params[index].offset;
}

static float *persistent(const step *k, int index) {
  return k->eng.persistent + k->m->net.params[index].offset;
}

/* The gradient of param `index`, or NULL when it is not updated. */
static float *grad(const step *k, int index) {
  return k->m->update[index] ? k->eng.grads + k->m->net.params[index].offset : NULL;
}

static int trainable(const r50_model *m, const r50_conv_desc *c) {
  return m->update[c->w] || (c->b >= 0 && m->update[c->b]) || m->update[c->bn] ||
         m->update[c->bn + 1];
}

static r50_bn_args bn_args(const step *k, const r50_conv_desc *c) {
  const unit_plan *u = &k->t->units[c->id];
  return (r50_bn_args){.gamma = param(k, c->bn),
                       .beta = param(k, c->bn + 1),
                       .avg_mean = persistent(k, c->bn + 2),
                       .avg_var = persistent(k, c->bn + 3),
                       .save_mean = u->mean,
                       .save_invstd = u->invstd,
                       .eps = R50_BN_EPS,
                       .decay = R50_BN_DECAY,
                       .frozen = k->t->bn == R50_BN_FROZEN};
}

/* ------------------------------------------------------------------ forward */

static r50_status unit_forward(step *k, const r50_conv_desc *c, const r50_act *x,
                               const r50_act *residual, int relu) {
  unit_plan *u = &k->t->units[c->id];
  R50_TRY(k->tr->conv_forward(k->m->es, c, param(k, c->w),
                              c->b >= 0 ? param(k, c->b) : NULL, x, &u->z, k->err));
  r50_bn_args a = bn_args(k, c);
  k->tr->bn_forward(k->m->es, c, &a, &u->z, &u->y, residual, relu);
  return R50_OK;
}

static r50_status walk_forward(step *k) {
  const r50_net *net = &k->m->net;
  R50_TRY(unit_forward(k, &net->conv1, &k->t->x0, NULL, 1));
  k->e->maxpool(k->m->es, &net->pool1, &k->t->units[net->conv1.id].y, &k->t->pooled);
  const r50_act *x = &k->t->pooled;
  for (int b = 0; b < net->n_blocks; b++) {
    const r50_bottleneck_desc *blk = &net->blocks[b];
    if (k->m->interrupt && k->m->interrupt(k->m->interrupt_user))
      return r50_fail(k->err, R50_ERR_INTERRUPTED,
                      "training step interrupted on request");
    R50_TRY(unit_forward(k, &blk->conv[0], x, NULL, 1));
    R50_TRY(unit_forward(k, &blk->conv[1], &k->t->units[blk->conv[0].id].y, NULL, 1));
    const r50_act *res = x;
    if (blk->has_shortcut) {
      R50_TRY(unit_forward(k, &blk->conv[3], x, NULL, 0));
      res = &k->t->units[blk->conv[3].id].y;
    }
    R50_TRY(unit_forward(k, &blk->conv[2], &k->t->units[blk->conv[1].id].y, res, 1));
    x = &k->t->units[blk->conv[2].id].y;
  }
  k->e->avgpool(k->m->es, x, k->t->vec);
  k->tr->linear_forward(k->m->es, k->t->vec, k->t->n, net->feat_dim, param(k, net->fc_w),
                        param(k, net->fc_b), net->n_classes, k->t->logits);
  return R50_OK;
}

static r50_status bind(step *k, r50_model *m, r50_error *err) {
  k->m = m;
  k->e = m->engine;
  k->tr = m->engine->train;
  k->t = m->train;
  k->err = err;
  return r50_model_bind(m, &k->eng, err);
}

r50_status r50_forward_train(r50_model *m, const r50_tensor *x, const int32_t *labels,
                             r50_bn_mode bn, r50_step_result *out, r50_error *err) {
  R50_TRY(r50_model_for_training(m, err));
  if (!x || !x->data || x->ndim != 4 || x->shape[1] != 3)
    return r50_fail(err, R50_ERR_ARG, "input must be (N, 3, H, W) float32");
  R50_TRY(r50_check_input_size(x->shape[0], x->shape[2], x->shape[3], err));
  if (!m->grads)
    R50_TRY(r50_cleargrads(m, err));
  R50_TRY(plan(m, x->shape[0], x->shape[2], x->shape[3], err));
  step k;
  R50_TRY(bind(&k, m, err));
  r50_train_state *t = m->train;
  t->bn = bn;
  t->have_forward = 0;
  memcpy(t->labels, labels, (size_t)t->n * sizeof *t->labels);
  if (bn == R50_BN_TRAIN) /* the running averages move (even if the walk stops) */
    r50_model_engine_wrote(m, R50_SYNC_PERSISTENT);
  k.e->from_nchw(m->es, x->data, t->n, 3, t->h, t->w, &t->x0);
  R50_TRY(walk_forward(&k));
  if (k.e->status)
    R50_TRY(k.e->status(m->es, err));
  double loss;
  int64_t correct, valid;
  k.tr->softmax_xent(m->es, t->logits, t->labels, t->n, m->net.n_classes, 1.0, &loss,
                     &correct, &valid, t->dlogits);

  if (out)
    *out = (r50_step_result){loss, correct, valid};
  t->have_forward = 1;
  return R50_OK;
}

/* ------------------------------------------------------------------ backward */

typedef struct ready {
  r50_grads_ready_fn fn;
  void *user;
  int64_t from; /* the gradients of [from, end of slab) are final */
} ready;

static void report(ready *r, int64_t first) {
  if (first < r->from) {
    if (r->fn)
      r->fn(r->user, first, r->from);
    r->from = first;
  }
}

/* The lowest slab offset of conv unit c's parameters (W comes first in the table). */
static int64_t unit_first(const r50_model *m, const r50_conv_desc *c) {
  return m->net.params[c->w].offset;
}

/* dy (the gradient of unit c's output, ReLU already applied) back through BN and the
 * conv; dz in `dz`, dx into `dx` when dx->data is set. */
static r50_status unit_backward(step *k, const r50_conv_desc *c, const r50_act *x,
                                const r50_act *dy, r50_act *dz, r50_act *dx) {
  unit_plan *u = &k->t->units[c->id];
  r50_bn_args a = bn_args(k, c);
  *dz = (r50_act){dz->data, u->z.c, u->z.n, u->z.h, u->z.w};
  k->tr->bn_backward(k->m->es, c, &a, &u->z, dy, dz, grad(k, c->bn), grad(k, c->bn + 1));
  return k->tr->conv_backward(k->m->es, c, param(k, c->w), x, dz, dx->data ? dx : NULL,
                              grad(k, c->w), c->b >= 0 ? grad(k, c->b) : NULL, k->err);
}

/* Picks n distinct gradient buffers other than `busy` (may be NULL). */
static void pick(const r50_train_state *t, const float *busy, float **out, int n) {
  for (int g = 0, k = 0; g < N_GRAD_BUFS && k < n; g++)
    if (t->grad[g] != busy)
      out[k++] = t->grad[g];
}

/* Whether any conv unit with id < limit is trainable. */
static int any_trainable_below(const r50_model *m, const r50_conv_desc *const *convs,
                               int limit) {
  for (int i = 0; i < limit; i++)
    if (trainable(m, convs[i]))
      return 1;
  return 0;
}

static r50_status block_backward(step *k, const r50_conv_desc *const *convs,
                                 const r50_bottleneck_desc *blk, const r50_act *x,
                                 r50_act *d_out, int need_dx) {
  r50_train_state *t = k->t;
  r50_engine_state *s = k->m->es;
  const r50_conv_desc *c1 = &blk->conv[0], *c2 = &blk->conv[1], *c3 = &blk->conv[2];
  float *buf[4];
  pick(t, d_out->data, buf, 4);
  /* the sum before the block's ReLU */
  k->tr->relu_mask(s, &t->units[c3->id].y, d_out);
  r50_act dz = {.data = buf[0]}, dy2 = {.data = buf[1]},
          dx = {.data = need_dx ? buf[2] : NULL};
  const r50_act *y2 = &t->units[c2->id].y, *y1 = &t->units[c1->id].y;
  r50_act none = {.data = NULL};
  int below3 = any_trainable_below(k->m, convs, c3->id);
  R50_TRY(unit_backward(k, c3, y2, d_out, &dz, below3 ? &dy2 : &none));
  if (blk->has_shortcut) {
    R50_TRY(unit_backward(k, &blk->conv[3], x, d_out, &dz, &dx));
  } else if (need_dx) {
    dx = *d_out; /* identity: the sum's gradient flows to the input as is */
  }
  if (below3) {
    k->tr->relu_mask(s, y2, &dy2);
    r50_act dy1 = {.data = buf[3]};
    int below2 = any_trainable_below(k->m, convs, c2->id);
    R50_TRY(unit_backward(k, c2, y1, &dy2, &dz, below2 ? &dy1 : &none));
    if (below2) {
      k->tr->relu_mask(s, y1, &dy1);
      r50_act dx1 = {.data = need_dx ? buf[1] : NULL}; /* dy2 is spent */
      R50_TRY(unit_backward(k, c1, x, &dy1, &dz, &dx1));
      if (need_dx)
        k->tr->add(s, &dx, &dx1);
    }
  }
  *d_out = dx;
  return R50_OK;
}

r50_status r50_backward(r50_model *m, double scale, r50_grads_ready_fn on_ready,
                        void *user, r50_error *err) {
  r50_train_state *t = m->train;
  if (!t || !t->have_forward)
    return r50_fail(err, R50_ERR_ARG,
                    "r50_backward: no r50_forward_train to go back from");
  if (!m->grads)
    R50_TRY(r50_cleargrads(m, err));
  step k;
  R50_TRY(bind(&k, m, err));
  r50_model_engine_wrote(m, R50_SYNC_GRADS); /* they accumulate from here */
  const r50_net *net = &m->net;
  r50_engine_state *s = m->es;
  const r50_conv_desc *convs[1024];
  r50_net_convs(net, convs);
  ready r = {on_ready, user, net->n_param_floats};
  double loss;
  int64_t correct, valid;
  k.tr->softmax_xent(s, t->logits, t->labels, t->n, net->n_classes, scale, &loss,
                     &correct, &valid, t->dlogits);
  const int below_fc = any_trainable_below(m, convs, net->n_convs);
  k.tr->linear_backward(s, t->vec, t->dlogits, t->n, net->feat_dim,
                        k.eng.params + net->params[net->fc_w].offset, net->n_classes,
                        below_fc ? t->dvec : NULL, grad(&k, net->fc_w),
                        grad(&k, net->fc_b));
  report(&r, net->params[net->fc_w].offset);
  if (below_fc) {
    const r50_bottleneck_desc *top = &net->blocks[net->n_blocks - 1];
    r50_act d = t->units[top->conv[2].id].y;
    d.data = t->grad[0];
    k.tr->avgpool_backward(s, t->dvec, &d);
    for (int b = net->n_blocks - 1; b >= 0; b--) {
      const r50_bottleneck_desc *blk = &net->blocks[b];
      if (!any_trainable_below(
              m, convs, blk->has_shortcut ? blk->conv[3].id + 1 : blk->conv[2].id + 1))
        break;
      const r50_act *x = b ? &t->units[net->blocks[b - 1].conv[2].id].y : &t->pooled;
      int need_dx = any_trainable_below(m, convs, blk->conv[0].id);
      R50_TRY(block_backward(&k, convs, blk, x, &d, need_dx));
      report(&r, unit_first(m, &blk->conv[0]));
      if (!need_dx)
        break;
    }
    if (any_trainable_below(m, convs, net->conv1.id + 1) && d.data) {
      const unit_plan *u1 = &t->units[net->conv1.id];
      float *buf[2];
      pick(t, d.data, buf, 2);
      r50_act dy = {buf[0], u1->y.c, u1->y.n, u1->y.h, u1->y.w}, dz = {.data = buf[1]},
              none = {.data = NULL};
      k.e->train->maxpool_backward(s, &net->pool1, &u1->y, &d, &dy);
      k.tr->relu_mask(s, &u1->y, &dy);
      R50_TRY(unit_backward(&k, &net->conv1, &t->x0, &dy, &dz, &none));
    }
  }
  report(&r, 0);
  return k.e->status ? k.e->status(m->es, err) : R50_OK;
}

r50_status r50_train_relu_mask(r50_model *m, int conv_id, uint8_t **mask,
                               int64_t shape[4], r50_error *err) {
  r50_train_state *t = m->train;
  if (!t || !t->have_forward || conv_id < 0 || conv_id >= m->net.n_convs)
    return r50_fail(err, R50_ERR_ARG, "no training forward, or no conv %d", conv_id);
  r50_slabs eng; /* the engine back in training mode (an inference walk may have run) */
  R50_TRY(r50_model_bind(m, &eng, err));
  const r50_act *y = &t->units[conv_id].y;
  const int64_t n = r50_act_numel(y);
  float *host = malloc((size_t)n * sizeof *host);
  *mask = malloc((size_t)n);
  if (!host || !*mask) {
    free(host);
    free(*mask);
    *mask = NULL;
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  }
  m->engine->to_nchw(m->es, y, host);
  for (int64_t i = 0; i < n; i++)
    (*mask)[i] = host[i] > 0.0f;
  free(host);
  shape[0] = y->n, shape[1] = y->c, shape[2] = y->h, shape[3] = y->w;
  return R50_OK;
}

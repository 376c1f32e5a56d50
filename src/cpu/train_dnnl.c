/*
 * train_dnnl.c — the oneDNN engine's training ops (engine.h's r50_engine_train), on
 * the engine's own blocked activations (nChw8c / nChw16c; plain NCHW for the 3-channel
 * input), so the training walk's inference ops (pooling, layout) are the engine's own.
 *
 * Each convolution gets three oneDNN primitives, made for the step's shape and kept:
 * forward (training, no BN folded: BN here uses the batch's statistics), backward data
 * and backward weights. The model's weights change every step, so each call reorders
 * them from the parameter slab (oihw) into the primitive's format; the weight
 * gradient is reordered back with a sum post-op, so it accumulates (+=) into the
 * gradient slab as the interface asks. oneDNN's kernels pick their own summation
 * orders: a step's gradients are deterministic for a given batch and thread count, and
 * differ from the reference engine's by rounding only (grad_parity checks both against
 * PyTorch).
 *
 * BatchNormalization, the elementwise ops, the linear layer, the loss and the optimizer
 * are train_cpu.c's kernels, BN told the blocked layout (r50_groups): its statistics
 * are summed in the same order as on the reference engine. Max and average pooling
 * backward are here, lane by lane, with the reference engine's rules.
 */
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_engine.h"
#include "error.h"
#include "ops_cpu.h"

/* One direction of one convolution: its primitive, its weights (or weight gradient)
 * in its own format, and the reorder between that and the slab's oihw. */
typedef struct dir_prim {
  dnnl_primitive_t prim, reorder;
  dnnl_memory_t w, user; /* user: oihw over the slab, its handle set per call */
} dir_prim;

/* A weight gradient computed on plain NCHW copies of its operands: where oneDNN has
 * no optimised backward-weights kernel for the blocked layout and the shape (a 3x3
 * on 2x2 maps on AVX2 falls to its reference loops, 100x slower), its im2col + GEMM
 * kernel on NCHW. */
typedef struct plain_bwd_w {
  dnnl_primitive_t src_reorder, diff_dst_reorder;
  dnnl_memory_t src, diff_dst; /* plain, own memory */
} plain_bwd_w;

typedef struct train_conv {
  int64_t n, h, w;
  int threads, bias, made;
  dir_prim fwd, bwd_data, bwd_w;
  plain_bwd_w *plain; /* NULL: bwd_w runs on the blocked activations */
  dnnl_memory_t src, dst, diff_src, diff_dst, b, db; /* handles set per call */
  float *db_tmp;                                     /* (cout): diff_bias's memory */
} train_conv;

struct dnnl_train {
  train_conv *convs; /* by conv id */
  int n;
};

static void drop_dir(dir_prim *d) {
  if (d->prim)
    dnnl_primitive_destroy(d->prim);
  if (d->reorder)
    dnnl_primitive_destroy(d->reorder);
  if (d->w)
    dnnl_memory_destroy(d->w);
  if (d->user)
    dnnl_memory_destroy(d->user);
  memset(d, 0, sizeof *d);
}

static void drop_plain(plain_bwd_w *p) {
  if (!p)
    return;
  if (p->src_reorder)
    dnnl_primitive_destroy(p->src_reorder);
  if (p->diff_dst_reorder)
    dnnl_primitive_destroy(p->diff_dst_reorder);
  if (p->src)
    dnnl_memory_destroy(p->src);
  if (p->diff_dst)
    dnnl_memory_destroy(p->diff_dst);
  free(p);
}

static void drop_conv(train_conv *t) {
  drop_dir(&t->fwd);
  drop_dir(&t->bwd_data);
  drop_dir(&t->bwd_w);
  drop_plain(t->plain);
  dnnl_memory_t *mems[] = {&t->src, &t->dst, &t->diff_src, &t->diff_dst, &t->b, &t->db};
  for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
    if (*mems[i])
      dnnl_memory_destroy(*mems[i]);
  free(t->db_tmp);
  memset(t, 0, sizeof *t);
}

void r50_dnnl_train_release(r50_engine_state *s) {
  if (!s->train)
    return;
  for (int i = 0; i < s->train->n; i++)
    drop_conv(&s->train->convs[i]);
  free(s->train->convs);
  free(s->train);
  s->train = NULL;
}

/* d's weights memory of format md and the reorder between it and the slab's oihw
 * (from the slab when to_user is 0; back into it, adding, when 1). */
static r50_status weights_of(r50_engine_state *s, dir_prim *d,
                             const dnnl_memory_desc_t *md,
                             const dnnl_memory_desc_t *user_md, int to_user,
                             r50_error *err) {
  r50_status rs = R50_ERR_UNSUPPORTED;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  DNNL_TRY(dnnl_memory_create(&d->w, md, s->eng, DNNL_MEMORY_ALLOCATE), "weights");
  DNNL_TRY(dnnl_memory_create(&d->user, user_md, s->eng, DNNL_MEMORY_NONE), "weights");
  DNNL_TRY(dnnl_primitive_attr_create(&attr), "attr");
  if (to_user) { /* dst += reorder(src) */
    DNNL_TRY(dnnl_post_ops_create(&po), "post-ops");
    DNNL_TRY(dnnl_post_ops_append_sum(po, 1.0f), "post-ops");
    DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, md, s->eng, user_md, s->eng, attr),
             "weight gradient reorder");
  } else {
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, user_md, s->eng, md, s->eng, attr),
             "weights reorder");
  }
  DNNL_TRY(dnnl_primitive_create(&d->reorder, rpd), "weights reorder");
  rs = R50_OK;
fail:
  if (rpd)
    dnnl_primitive_desc_destroy(rpd);
  if (po)
    dnnl_post_ops_destroy(po);
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return rs;
}

/* Whether oneDNN chose its reference (loop) implementation. */
static int is_reference(const_dnnl_primitive_desc_t pd) {
  const char *impl = NULL;
  return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
         impl && !strncmp(impl, "ref", 3);
}

/* A backward-weights primitive on plain NCHW operands, with the reorders of the
 * blocked src and diff_dst into copies of its own (t->plain); *out NULL when that
 * one is no better (oneDNN's reference loops too). */
static r50_status plain_weight_gradient(r50_engine_state *s, const r50_conv_desc *c,
                                        train_conv *t, const dnnl_memory_desc_t *src_md,
                                        const dnnl_memory_desc_t *dst_md,
                                        const dnnl_memory_desc_t *wany_md,
                                        const dnnl_memory_desc_t *bmd,
                                        const_dnnl_primitive_desc_t fpd,
                                        dnnl_primitive_desc_t *out, r50_error *err) {
  r50_status rs = R50_ERR_UNSUPPORTED;
  *out = NULL;
  dnnl_memory_desc_t psrc, pdst;
  dnnl_convolution_desc_t wd;
  dnnl_primitive_desc_t pd = NULL, r1 = NULL, r2 = NULL;
  const dnnl_dims_t strides = {c->stride, c->stride}, pads = {c->pad, c->pad};
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&psrc, 4, src_md->dims, dnnl_f32, dnnl_nchw), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&pdst, 4, dst_md->dims, dnnl_f32, dnnl_nchw), "md");
  DNNL_TRY(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &psrc,
                                                       wany_md, bmd, &pdst, strides, pads,
                                                       pads),
           "describing a convolution's weight gradient");
  DNNL_TRY(dnnl_primitive_desc_create(&pd, &wd, NULL, s->eng, fpd),
           "choosing a backward-weights convolution");
  if (is_reference(pd)) {
    dnnl_primitive_desc_destroy(pd);
    return R50_OK;
  }
  if (!(t->plain = calloc(1, sizeof *t->plain))) {
    rs = r50_fail(err, R50_ERR_NOMEM, "out of memory");
    goto fail;
  }
  DNNL_TRY(dnnl_memory_create(&t->plain->src, &psrc, s->eng, DNNL_MEMORY_ALLOCATE), "src");
  DNNL_TRY(dnnl_memory_create(&t->plain->diff_dst, &pdst, s->eng, DNNL_MEMORY_ALLOCATE),
           "diff dst");
  DNNL_TRY(dnnl_reorder_primitive_desc_create(&r1, src_md, s->eng, &psrc, s->eng, NULL),
           "src reorder");
  DNNL_TRY(dnnl_reorder_primitive_desc_create(&r2, dst_md, s->eng, &pdst, s->eng, NULL),
           "diff dst reorder");
  DNNL_TRY(dnnl_primitive_create(&t->plain->src_reorder, r1), "src reorder");
  DNNL_TRY(dnnl_primitive_create(&t->plain->diff_dst_reorder, r2), "diff dst reorder");
  *out = pd;
  pd = NULL;
  rs = R50_OK;
fail:
  if (pd)
    dnnl_primitive_desc_destroy(pd);
  if (r1)
    dnnl_primitive_desc_destroy(r1);
  if (r2)
    dnnl_primitive_desc_destroy(r2);
  return rs;
}

/* The three primitives of conv c for n images of h x w. */
static r50_status make_conv(r50_engine_state *s, const r50_conv_desc *c, train_conv *t,
                            int64_t n, int64_t h, int64_t w, int bias, r50_error *err) {
  drop_conv(t);
  const int k = c->ksize, st = c->stride, pad = c->pad;
  const int64_t ho = r50_out_size(h, k, st, pad, 0), wo = r50_out_size(w, k, st, pad, 0);
  const dnnl_dims_t sdims = {n, c->cin, h, w}, ddims = {n, c->cout, ho, wo},
                    wdims = {c->cout, c->cin, k, k}, bdims = {c->cout};
  const dnnl_dims_t strides = {st, st}, pads = {pad, pad};
  dnnl_memory_desc_t src_md, dst_md, wany_md, wuser_md, b_md;
  dnnl_convolution_desc_t fd, bd, wd;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL, wpd = NULL;
  r50_status rs = R50_ERR_UNSUPPORTED;
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 4, sdims, dnnl_f32, tag_of(s, c->cin)),
           "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, ddims, dnnl_f32, tag_of(s, c->cout)),
           "md");
  DNNL_TRY(
      dnnl_memory_desc_init_by_tag(&wany_md, 4, wdims, dnnl_f32, dnnl_format_tag_any),
      "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&wuser_md, 4, wdims, dnnl_f32, dnnl_oihw), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x), "md");
  const dnnl_memory_desc_t *bmd = bias ? &b_md : NULL;
  DNNL_TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                              dnnl_convolution_direct, &src_md, &wany_md,
                                              bmd, &dst_md, strides, pads, pads),
           "describing a convolution");
  DNNL_TRY(dnnl_primitive_desc_create(&fpd, &fd, NULL, s->eng, NULL),
           "choosing a training convolution");
  DNNL_TRY(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src_md,
                                                    &wany_md, &dst_md, strides, pads,
                                                    pads),
           "describing a convolution's backward");
  DNNL_TRY(dnnl_primitive_desc_create(&bpd, &bd, NULL, s->eng, fpd),
           "choosing a backward-data convolution");
  DNNL_TRY(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct,
                                                       &src_md, &wany_md, bmd, &dst_md,
                                                       strides, pads, pads),
           "describing a convolution's weight gradient");
  DNNL_TRY(dnnl_primitive_desc_create(&wpd, &wd, NULL, s->eng, fpd),
           "choosing a backward-weights convolution");
  if (is_reference(wpd)) { /* no optimised kernel for the blocked layout here */
    dnnl_primitive_desc_t ppd = NULL;
    if ((rs = plain_weight_gradient(s, c, t, &src_md, &dst_md, &wany_md, bmd, fpd, &ppd,
                                    err)) != R50_OK)
      goto fail;
    if (ppd) {
      dnnl_primitive_desc_destroy(wpd);
      wpd = ppd;
    }
    rs = R50_ERR_UNSUPPORTED;
  }
  DNNL_TRY(dnnl_primitive_create(&t->fwd.prim, fpd), "making a convolution");
  DNNL_TRY(dnnl_primitive_create(&t->bwd_data.prim, bpd), "making a convolution");
  DNNL_TRY(dnnl_primitive_create(&t->bwd_w.prim, wpd), "making a convolution");
  if ((rs = weights_of(s, &t->fwd,
                       dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0),
                       &wuser_md, 0, err)) != R50_OK ||
      (rs = weights_of(s, &t->bwd_data,
                       dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0),
                       &wuser_md, 0, err)) != R50_OK ||
      (rs = weights_of(s, &t->bwd_w,
                       dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0),
                       &wuser_md, 1, err)) != R50_OK)
    goto fail;
  rs = R50_ERR_UNSUPPORTED;
  DNNL_TRY(dnnl_memory_create(&t->src, &src_md, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&t->dst, &dst_md, s->eng, DNNL_MEMORY_NONE), "dst");
  DNNL_TRY(dnnl_memory_create(&t->diff_src, &src_md, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&t->diff_dst, &dst_md, s->eng, DNNL_MEMORY_NONE), "dst");
  if (bias) {
    if (!(t->db_tmp = malloc((size_t)c->cout * sizeof(float)))) {
      rs = r50_fail(err, R50_ERR_NOMEM, "out of memory for a bias gradient");
      goto fail;
    }
    DNNL_TRY(dnnl_memory_create(&t->b, &b_md, s->eng, DNNL_MEMORY_NONE), "bias");
    DNNL_TRY(dnnl_memory_create(&t->db, &b_md, s->eng, t->db_tmp), "bias");
  }
  t->n = n, t->h = h, t->w = w, t->threads = s->ctx.threads, t->bias = bias, t->made = 1;
  rs = R50_OK;
fail:
  if (rs != R50_OK)
    drop_conv(t);
  if (fpd)
    dnnl_primitive_desc_destroy(fpd);
  if (bpd)
    dnnl_primitive_desc_destroy(bpd);
  if (wpd)
    dnnl_primitive_desc_destroy(wpd);
  return rs;
}

/* conv c's primitives for input x, made when the shape, threads or bias changed. */
static r50_status conv_for(r50_engine_state *s, const r50_conv_desc *c, const r50_act *x,
                           int bias, train_conv **out, r50_error *err) {
  if (!s->train && !(s->train = calloc(1, sizeof *s->train)))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for training primitives");
  struct dnnl_train *tr = s->train;
  if (c->id >= tr->n) {
    train_conv *g = realloc(tr->convs, (size_t)(c->id + 1) * sizeof *g);
    if (!g)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for training primitives");
    memset(g + tr->n, 0, (size_t)(c->id + 1 - tr->n) * sizeof *g);
    tr->convs = g;
    tr->n = c->id + 1;
  }
  train_conv *t = &tr->convs[c->id];
  if (!t->made || t->n != x->n || t->h != x->h || t->w != x->w ||
      t->threads != s->ctx.threads || t->bias != bias)
    R50_TRY(make_conv(s, c, t, x->n, x->h, x->w, bias, err));
  *out = t;
  return R50_OK;
}

/* Runs d's reorder between the slab's weights w and d's own copy. */
static dnnl_status_t reorder(r50_engine_state *s, dir_prim *d, float *w, int to_user) {
  dnnl_status_t st = dnnl_memory_set_data_handle(d->user, w);
  if (st != dnnl_success)
    return st;
  dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, to_user ? d->w : d->user},
                            {DNNL_ARG_TO, to_user ? d->user : d->w}};
  return dnnl_primitive_execute(d->reorder, s->stream, 2, args);
}

static r50_status run_forward(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                              const float *b, const r50_act *x, r50_act *z,
                              r50_error *err) {
  train_conv *t = NULL;
  R50_TRY(conv_for(s, c, x, c->b >= 0, &t, err));
  *z = (r50_act){z->data, c->cout, x->n,
                 r50_out_size(x->h, c->ksize, c->stride, c->pad, 0),
                 r50_out_size(x->w, c->ksize, c->stride, c->pad, 0)};
  r50_status rs = R50_OK;
  DNNL_TRY(reorder(s, &t->fwd, (float *)w, 0), "weights reorder");
  DNNL_TRY(dnnl_memory_set_data_handle(t->src, x->data), "src");
  DNNL_TRY(dnnl_memory_set_data_handle(t->dst, z->data), "dst");
  dnnl_exec_arg_t args[4] = {
      {DNNL_ARG_SRC, t->src}, {DNNL_ARG_WEIGHTS, t->fwd.w}, {DNNL_ARG_DST, t->dst}};
  int nargs = 3;
  if (t->bias) { /* a conv with a bias, given none, adds zeros */
    if (!b && !(b = r50_cpu_ctx_zeros(&s->ctx, (size_t)c->cout, err)))
      return R50_ERR_NOMEM;
    DNNL_TRY(dnnl_memory_set_data_handle(t->b, (float *)b), "bias");
    args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, t->b};
  }
  DNNL_TRY(dnnl_primitive_execute(t->fwd.prim, s->stream, nargs, args), "a convolution");
  DNNL_TRY(dnnl_stream_wait(s->stream), "a convolution");
fail:
  return rs;
}

static r50_status run_backward(r50_engine_state *s, const r50_conv_desc *c,
                               const float *w, const r50_act *x, const r50_act *dz,
                               r50_act *dx, float *dw, float *db, r50_error *err) {
  train_conv *t = NULL;
  R50_TRY(conv_for(s, c, x, c->b >= 0, &t, err));
  r50_status rs = R50_OK;
  DNNL_TRY(dnnl_memory_set_data_handle(t->diff_dst, dz->data), "diff dst");
  if (dx) {
    *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
    DNNL_TRY(reorder(s, &t->bwd_data, (float *)w, 0), "weights reorder");
    DNNL_TRY(dnnl_memory_set_data_handle(t->diff_src, dx->data), "diff src");
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, t->diff_dst},
                              {DNNL_ARG_WEIGHTS, t->bwd_data.w},
                              {DNNL_ARG_DIFF_SRC, t->diff_src}};
    DNNL_TRY(dnnl_primitive_execute(t->bwd_data.prim, s->stream, 3, args),
             "a convolution's backward");
  }
  if (dw || db) {
    DNNL_TRY(dnnl_memory_set_data_handle(t->src, x->data), "src");
    dnnl_memory_t src = t->src, diff_dst = t->diff_dst;
    if (t->plain) { /* the operands as plain NCHW copies */
      dnnl_exec_arg_t a1[] = {{DNNL_ARG_FROM, t->src}, {DNNL_ARG_TO, t->plain->src}};
      dnnl_exec_arg_t a2[] = {{DNNL_ARG_FROM, t->diff_dst}, {DNNL_ARG_TO, t->plain->diff_dst}};
      DNNL_TRY(dnnl_primitive_execute(t->plain->src_reorder, s->stream, 2, a1), "src reorder");
      DNNL_TRY(dnnl_primitive_execute(t->plain->diff_dst_reorder, s->stream, 2, a2),
               "diff dst reorder");
      src = t->plain->src, diff_dst = t->plain->diff_dst;
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_DIFF_DST, diff_dst},
                               {DNNL_ARG_DIFF_WEIGHTS, t->bwd_w.w}};
    int nargs = 3;
    if (t->bias)
      args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, t->db};
    DNNL_TRY(dnnl_primitive_execute(t->bwd_w.prim, s->stream, nargs, args),
             "a convolution's weight gradient");
    if (dw)
      DNNL_TRY(reorder(s, &t->bwd_w, dw, 1), "weight gradient reorder");
  }
  DNNL_TRY(dnnl_stream_wait(s->stream), "a convolution's backward");
  if (db)
    for (int o = 0; o < c->cout; o++)
      db[o] += t->db_tmp[o];
fail:
  return rs;
}

/* ------------------------------------------------------------------ the interface */

/* Training runs fp32: a bf16 engine is refused rather than silently changed. */
static r50_status dt_bind(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                          r50_error *err) {
  if (s->bf16)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "training runs in fp32: this model's oneDNN engine runs bf16 "
                    "(make it with precision fp32)");
  *eng = *host; /* host memory is this engine's */
  return R50_OK;
}

static r50_status dt_sync(r50_engine_state *s, int to_host, int what, r50_error *err) {
  (void)s, (void)to_host, (void)what, (void)err;
  return R50_OK;
}

static r50_status dt_reserve(r50_engine_state *s, size_t floats, float **arena,
                             r50_error *err) {
  R50_TRY(r50_cpu_ctx_reserve_arena(&s->ctx, floats, err));
  *arena = s->ctx.arena;
  return R50_OK;
}

static void dt_zero(r50_engine_state *s, float *p, size_t n) {
  (void)s;
  memset(p, 0, n * sizeof(float));
}

static r50_status dt_conv_forward(r50_engine_state *s, const r50_conv_desc *c,
                                  const float *w, const float *b, const r50_act *x,
                                  r50_act *z, r50_error *err) {
  const int saved = r50_dnnl_threads_enter(s);
  r50_status rs = run_forward(s, c, w, b, x, z, err);
  omp_set_num_threads(saved);
  return rs;
}

static r50_status dt_conv_backward(r50_engine_state *s, const r50_conv_desc *c,
                                   const float *w, const r50_act *x, const r50_act *dz,
                                   r50_act *dx, float *dw, float *db, r50_error *err) {
  const int saved = r50_dnnl_threads_enter(s);
  r50_status rs = run_backward(s, c, w, x, dz, dx, dw, db, err);
  omp_set_num_threads(saved);
  return rs;
}

/* BN's operands in this engine's layout (see lanes()). */
static r50_groups groups_of(const r50_engine_state *s, const r50_act *a) {
  const int64_t L = lanes(s, a->c), hw = a->h * a->w;
  return (r50_groups){L, hw * L, a->c * hw};
}

static void dt_bn_forward(r50_engine_state *s, const r50_conv_desc *c,
                          const r50_bn_args *a, const r50_act *z, r50_act *y,
                          const r50_act *residual, int relu) {
  (void)c;
  const r50_groups gl = groups_of(s, z);
  r50_bn_forward_cpu(&s->ctx, &gl, a, z, y, residual ? residual->data : NULL, relu);
}

static void dt_bn_backward(r50_engine_state *s, const r50_conv_desc *c,
                           const r50_bn_args *a, const r50_act *z, const r50_act *dy,
                           r50_act *dz, float *dgamma, float *dbeta) {
  (void)c;
  const r50_groups gl = groups_of(s, z);
  r50_bn_backward_cpu(&s->ctx, &gl, a, z, dy, dz, dgamma, dbeta);
}

static void dt_relu_mask(r50_engine_state *s, const r50_act *y, r50_act *dy) {
  r50_relu_mask_cpu(&s->ctx, y, dy);
}

static void dt_add(r50_engine_state *s, r50_act *acc, const r50_act *g) {
  r50_add_cpu(&s->ctx, acc, g);
}

/* Each window's gradient to its first maximum (in row order), lane by lane, as the
 * reference engine's r50_maxpool_backward_cpu. */
static void dt_maxpool_backward(r50_engine_state *s, const r50_pool_desc *pd,
                                const r50_act *x, const r50_act *dy, r50_act *dx) {
  *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
  const int k = pd->ksize, st = pd->stride, pad = pd->pad;
  const int64_t ho = dy->h, wo = dy->w, L = lanes(s, x->c), planes = x->n * (x->c / L);
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *src = x->data + pl * x->h * x->w * L, *g = dy->data + pl * ho * wo * L;
    float *dst = dx->data + pl * x->h * x->w * L;
    memset(dst, 0, (size_t)(x->h * x->w * L) * sizeof(float));
    for (int64_t oy = 0; oy < ho; oy++) {
      int64_t y0 = oy * st - pad, y1 = y0 + k < x->h ? y0 + k : x->h;
      y0 = y0 < 0 ? 0 : y0;
      for (int64_t ox = 0; ox < wo; ox++) {
        int64_t x0 = ox * st - pad, x1 = x0 + k < x->w ? x0 + k : x->w;
        x0 = x0 < 0 ? 0 : x0;
        for (int64_t l = 0; l < L; l++) {
          int64_t at = y0 * x->w + x0;
          for (int64_t yy = y0; yy < y1; yy++)
            for (int64_t xx = x0; xx < x1; xx++)
              if (src[(yy * x->w + xx) * L + l] > src[at * L + l])
                at = yy * x->w + xx;
          dst[at * L + l] += g[(oy * wo + ox) * L + l];
        }
      }
    }
  }
}

static void dt_avgpool_backward(r50_engine_state *s, const float *dy, r50_act *dx) {
  const int64_t hw = dx->h * dx->w, L = lanes(s, dx->c), cb = dx->c / L;
  const float inv = (float)(1.0 / (double)hw);
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static) collapse(2)
  for (int64_t i = 0; i < dx->n; i++)
    for (int64_t b = 0; b < cb; b++) {
      float *dst = dx->data + (i * cb + b) * hw * L;
      for (int64_t p = 0; p < hw; p++)
        for (int64_t l = 0; l < L; l++)
          dst[p * L + l] = dy[i * dx->c + b * L + l] * inv;
    }
}

static void dt_linear_forward(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                              const float *w, const float *b, int64_t cout, float *y) {
  r50_linear_cpu(&s->ctx, x, n, cin, w, b, cout, y);
}

static void dt_linear_backward(r50_engine_state *s, const float *x, const float *dy,
                               int64_t n, int64_t cin, const float *w, int64_t cout,
                               float *dx, float *dw, float *db) {
  r50_linear_backward_cpu(&s->ctx, x, dy, n, cin, w, cout, dx, dw, db);
}

static void dt_softmax_xent(r50_engine_state *s, const float *logits,
                            const int32_t *labels, int64_t n, int64_t c, double scale,
                            double *loss, int64_t *correct, int64_t *valid,
                            float *dlogits) {
  r50_softmax_xent_cpu(&s->ctx, logits, labels, n, c, scale, loss, correct, valid,
                       dlogits);
}

static void dt_momentum_sgd(r50_engine_state *s, float *p, float *g, float *v, size_t n,
                            double lr, double momentum, double weight_decay) {
  r50_momentum_sgd_cpu(&s->ctx, p, g, v, n, lr, momentum, weight_decay);
}

const r50_engine_train r50_dnnl_train = {
    .bind = dt_bind,
    .sync = dt_sync,
    .reserve = dt_reserve,
    .zero = dt_zero,
    .conv_forward = dt_conv_forward,
    .bn_forward = dt_bn_forward,
    .bn_backward = dt_bn_backward,
    .conv_backward = dt_conv_backward,
    .relu_mask = dt_relu_mask,
    .add = dt_add,
    .maxpool_backward = dt_maxpool_backward,
    .avgpool_backward = dt_avgpool_backward,
    .linear_forward = dt_linear_forward,
    .linear_backward = dt_linear_backward,
    .softmax_xent = dt_softmax_xent,
    .momentum_sgd = dt_momentum_sgd,
};

/*
 * train_dnnl.c — the oneDNN engine's training ops (engine.h's r50_engine_train), on
 * the engine's own blocked activations (nChw8c / nChw16c; plain NCHW for the 3-channel
 * input), so the training walk's inference ops (pooling, layout) are the engine's own.
 *
 * Each convolution gets three oneDNN primitives, made for the step's shape and kept:
 * forward (training, no BN folded: BN here uses the batch's statistics), backward data
 * and backward weights (in float32, oneDNN's Winograd kernels for the stride-1 3x3
 * convolutions on maps of 7x7 or more: winograd_first; where oneDNN has none, AVX2,
 * winograd.h's for the forward and backward data: own_winograd). The model's weights
 * change every step, so each call reorders them from the parameter slab (oihw) into
 * the primitive's format; the weight gradient is reordered back into oihw and added
 * (+=) to the gradient slab, as the interface asks (weights_of). oneDNN's kernels pick
 * their own summation orders: a step's gradients are deterministic for a given batch
 * and thread count, and differ from the reference engine's by rounding only
 * (grad_parity checks both against PyTorch).
 *
 * bf16 (a model of precision bf16, on a CPU with AVX512-BF16 or AMX): the activations,
 * gradients, master weights and optimizer state stay float32; each convolution's
 * operands (its input, the gradient coming back, the weights) are rounded to bfloat16
 * copies as it runs, oneDNN's bf16 kernels multiply them and accumulate in float32,
 * and write float32 outputs (the forward's z, the data gradient, the weight and bias
 * gradients). A direction for which oneDNN has only its reference loops in bf16 runs
 * float32 instead. R50_ONEDNN_BF16_TRAINING=emulate rounds the same copies on a CPU
 * without bf16 and runs the float32 kernels on them: the same products, summed in
 * float32 in another order, so bf16 training's numerics are checked on any CPU
 * (test_train_bf16), at less than fp32's speed.
 *
 * BatchNormalization, the elementwise ops, the linear layer, the loss and the optimizer
 * are train_cpu.c's kernels, BN told the blocked layout (r50_groups): its statistics
 * are summed in the same order as on the reference engine. Max and average pooling
 * backward are here, lane by lane, with the reference engine's rules.
 */
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "dnnl_engine.h"
#include "error.h"
#include "ops_cpu.h"
#include "train_avx512.h"
#include "winograd.h"

/* One direction of one convolution: its primitive, its weights (or weight gradient)
 * in its own format, and the reorder between that and the slab's oihw. */
typedef struct dir_prim {
  dnnl_primitive_t prim, reorder;
  dnnl_memory_t w, user; /* user: oihw over the slab, its handle set per call */
  int cvt;               /* its operands are bf16 copies (or rounded ones, emulated) */
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
  int threads, bias, mode, made; /* mode: s->train_bf16 when made */
  dir_prim fwd, bwd_data, bwd_w;
  plain_bwd_w *plain; /* NULL: bwd_w runs on the blocked activations */
  dnnl_memory_t src, dst, diff_src, diff_dst, b, db; /* handles set per call */
  dnnl_memory_t src_lo, diff_dst_lo; /* the bf16 copies, over the scratch (cvt) */
  float *db_tmp;                     /* (cout): diff_bias's memory */
} train_conv;

/* Scratch for the bf16 copies of a convolution's input (0) and incoming gradient (1),
 * shared by all convolutions: one runs at a time. */
struct dnnl_train {
  train_conv *convs; /* by conv id */
  int n;
  void *scratch[2];
  size_t scratch_bytes[2];
  void *wino_u, *wino_w; /* own_winograd's transformed and flipped weights (float) */
  size_t wino_u_bytes, wino_w_bytes;
  void *dw_tmp; /* a weight gradient in oihw, before it is added to the slab's */
  size_t dw_tmp_bytes;
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
  dnnl_memory_t *mems[] = {&t->src, &t->dst, &t->diff_src, &t->diff_dst,
                           &t->b,   &t->db,  &t->src_lo,   &t->diff_dst_lo};
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
  free(s->train->scratch[0]);
  free(s->train->scratch[1]);
  free(s->train->wino_u);
  free(s->train->wino_w);
  free(s->train->dw_tmp);
  free(s->train);
  s->train = NULL;
}

/* d's weights memory of format md and the reorder between it and the slab's oihw
 * (from the slab when to_user is 0; back out of md when 1, into a copy that the
 * caller adds to the slab: oneDNN 2.6's reorder with a sum post-op took 4 times as
 * long as a plain one here, 45% of a 32x32 training step's oneDNN time). */
static r50_status weights_of(r50_engine_state *s, dir_prim *d,
                             const dnnl_memory_desc_t *md,
                             const dnnl_memory_desc_t *user_md, int to_user,
                             r50_error *err) {
  r50_status rs = R50_ERR_UNSUPPORTED;
  dnnl_primitive_desc_t rpd = NULL;
  DNNL_TRY(dnnl_memory_create(&d->w, md, s->eng, DNNL_MEMORY_ALLOCATE), "weights");
  DNNL_TRY(dnnl_memory_create(&d->user, user_md, s->eng, DNNL_MEMORY_NONE), "weights");
  if (to_user)
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, md, s->eng, user_md, s->eng, NULL),
             "weight gradient reorder");
  else
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, user_md, s->eng, md, s->eng, NULL),
             "weights reorder");
  DNNL_TRY(dnnl_primitive_create(&d->reorder, rpd), "weights reorder");
  rs = R50_OK;
fail:
  if (rpd)
    dnnl_primitive_desc_destroy(rpd);
  return rs;
}

/* Whether oneDNN chose its reference (loop) implementation. */
static int is_reference(const_dnnl_primitive_desc_t pd) {
  const char *impl = NULL;
  return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) ==
             dnnl_success &&
         impl && !strncmp(impl, "ref", 3);
}

/* n floats of src as the bf16 copies hold them: bfloat16 (native), or float32 rounded
 * to bfloat16 (emulated; dst may be src). */
static void round_copy(const r50_engine_state *s, const float *src, int64_t n, void *dst,
                       int native) {
  if (native && r50_cpu_features_get()->avx512f) { /* (the same bits, 16 at a time) */
    uint16_t *d = dst;
    const int64_t chunk = 4096, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++)
      r50_bf16_round_avx512(src + c * chunk, c + 1 < chunks ? chunk : n - c * chunk,
                            d + c * chunk);
  } else if (native) {
    uint16_t *d = dst;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
    for (int64_t i = 0; i < n; i++)
      d[i] = bf16_of(src[i]);
  } else {
    float *d = dst;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
    for (int64_t i = 0; i < n; i++)
      d[i] = float_of_bf16(bf16_of(src[i]));
  }
}

/* Rounds the float32 memory m to bfloat16 in place (the emulated copies). */
static dnnl_status_t round_memory(const r50_engine_state *s, dnnl_memory_t m) {
  const dnnl_memory_desc_t *md = NULL;
  void *p = NULL;
  dnnl_status_t st = dnnl_memory_get_memory_desc(m, &md);
  if (st == dnnl_success)
    st = dnnl_memory_get_data_handle(m, &p);
  if (st == dnnl_success)
    round_copy(s, p, (int64_t)(dnnl_memory_desc_get_size(md) / sizeof(float)), p, 0);
  return st;
}

/* *p grown to at least `bytes` (64-byte aligned: the kernels' loads want it), its
 * size in *have. */
static r50_status grow(void **p, size_t *have, size_t bytes, r50_error *err) {
  if (bytes <= *have)
    return R50_OK;
  free(*p);
  *have = 0;
  const size_t cap = (bytes + 63) / 64 * 64;
  if (!(*p = aligned_alloc(64, cap)))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for training scratch");
  *have = cap;
  return R50_OK;
}

/* A backward-weights primitive on plain NCHW operands of type pt, with the reorders of
 * the blocked float32 src and diff_dst into copies of its own (t->plain); *out NULL
 * when that one is no better (oneDNN's reference loops too). */
static r50_status plain_weight_gradient(r50_engine_state *s, const r50_conv_desc *c,
                                        train_conv *t, const dnnl_memory_desc_t *src_md,
                                        const dnnl_memory_desc_t *dst_md,
                                        dnnl_data_type_t pt,
                                        const dnnl_memory_desc_t *bmd,
                                        const_dnnl_primitive_desc_t fpd,
                                        dnnl_primitive_desc_t *out, r50_error *err) {
  r50_status rs = R50_ERR_UNSUPPORTED;
  *out = NULL;
  dnnl_memory_desc_t psrc, pdst, wany;
  dnnl_convolution_desc_t wd;
  dnnl_primitive_desc_t pd = NULL, r1 = NULL, r2 = NULL;
  const dnnl_dims_t strides = {c->stride, c->stride}, pads = {c->pad, c->pad},
                    wdims = {c->cout, c->cin, c->ksize, c->ksize};
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&psrc, 4, src_md->dims, pt, dnnl_nchw), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&pdst, 4, dst_md->dims, pt, dnnl_nchw), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany, 4, wdims, dnnl_f32, dnnl_format_tag_any),
           "md");
  DNNL_TRY(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct,
                                                       &psrc, &wany, bmd, &pdst, strides,
                                                       pads, pads),
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
  DNNL_TRY(dnnl_memory_create(&t->plain->src, &psrc, s->eng, DNNL_MEMORY_ALLOCATE),
           "src");
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

enum { FWD, BWD_DATA, BWD_W };

/* The activation-side operands of a convolution: float32 as the walk holds them, and
 * their bf16 copies' descriptors (the same layout). */
typedef struct operand_mds {
  dnnl_memory_desc_t src, dst, src_lo, dst_lo;
  const dnnl_memory_desc_t *bias; /* NULL: no bias */
} operand_mds;

/* Conv c's descriptor for direction dir by algorithm alg on operands src (x or dx) and
 * dst (z or dz), with weights of type wt (the weight gradient is float32 whatever wt). */
static dnnl_status_t conv_pd(r50_engine_state *s, const r50_conv_desc *c, int dir,
                             dnnl_alg_kind_t alg, const dnnl_memory_desc_t *src,
                             const dnnl_memory_desc_t *dst, dnnl_data_type_t wt,
                             const dnnl_memory_desc_t *bmd,
                             const_dnnl_primitive_desc_t hint,
                             dnnl_primitive_desc_t *pd) {
  const int k = c->ksize;
  const dnnl_dims_t wdims = {c->cout, c->cin, k, k}, strides = {c->stride, c->stride},
                    pads = {c->pad, c->pad};
  dnnl_memory_desc_t wmd;
  dnnl_convolution_desc_t d;
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(
      &wmd, 4, wdims, dir == BWD_W ? dnnl_f32 : wt, dnnl_format_tag_any);
  if (st != dnnl_success)
    return st;
  if (dir == FWD)
    st = dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, alg, src, &wmd,
                                            bmd, dst, strides, pads, pads);
  else if (dir == BWD_DATA)
    st = dnnl_convolution_backward_data_desc_init(&d, alg, src, &wmd, dst, strides, pads,
                                                  pads);
  else
    st = dnnl_convolution_backward_weights_desc_init(&d, alg, src, &wmd, bmd, dst,
                                                     strides, pads, pads);
  return st != dnnl_success ? st : dnnl_primitive_desc_create(pd, &d, NULL, s->eng, hint);
}

/* Whether a float32 direction of conv c, on operands m, tries oneDNN's Winograd
 * kernels (F(4x4, 3x3): AVX-512 only, forward, backward data and weights) before its
 * direct ones: the stride-1 3x3 convolutions on output maps of at least 7x7, unless
 * R50_ONEDNN_WINOGRAD=0. On a Zen 4 they made a 224x224 step (batch 16) 24% faster
 * (8.6 -> 10.7 img/s); on smaller maps a 4x4 tile is mostly padding and they were
 * slower: at 32x32 inputs on all of them 100 img/s against 153. Never on the bf16
 * copies, emulated ones included: those promise the products of bf16 operands. */
static int winograd_first(const r50_conv_desc *c, const operand_mds *m) {
  return c->ksize == 3 && c->stride == 1 && m->dst.dims[2] >= 7 && m->dst.dims[3] >= 7 &&
         r50_dnnl_winograd_allowed();
}

/* Direction dir's descriptor: on the bf16 copies of the operands it reads when
 * `lo_ok` (the forward's x, the backward-data's dz, the backward-weights' x and dz, and
 * the weights) unless oneDNN has only its reference loops for bfloat16 there; else on
 * the float32 operands. d->cvt says which. The outputs are float32 either way. */
static dnnl_status_t choose(r50_engine_state *s, const r50_conv_desc *c, int dir,
                            int lo_ok, dnnl_data_type_t lo, const operand_mds *m,
                            const_dnnl_primitive_desc_t hint, dir_prim *d,
                            dnnl_primitive_desc_t *pd) {
  d->cvt = 0;
  *pd = NULL;
  if (lo_ok) {
    const dnnl_memory_desc_t *src = dir == BWD_DATA ? &m->src : &m->src_lo,
                             *dst = dir == FWD ? &m->dst : &m->dst_lo;
    dnnl_status_t st =
        conv_pd(s, c, dir, dnnl_convolution_direct, src, dst, lo, m->bias, hint, pd);
    if (st == dnnl_success && !(lo == dnnl_bf16 && is_reference(*pd))) {
      d->cvt = 1;
      return st;
    }
    if (st == dnnl_success)
      dnnl_primitive_desc_destroy(*pd);
    *pd = NULL;
    if (st != dnnl_success && st != dnnl_unimplemented)
      return st;
    r50_log(R50_LOG_DEBUG, "onednn: conv %d's %s runs float32 (no bf16 kernel)", c->id,
            dir == FWD        ? "forward"
            : dir == BWD_DATA ? "backward data"
                              : "weight gradient");
  }
  if (winograd_first(c, m)) {
    dnnl_status_t st = conv_pd(s, c, dir, dnnl_convolution_winograd, &m->src, &m->dst,
                               dnnl_f32, m->bias, hint, pd);
    if (st != dnnl_unimplemented)
      return st;
  }
  return conv_pd(s, c, dir, dnnl_convolution_direct, &m->src, &m->dst, dnnl_f32, m->bias,
                 hint, pd);
}

/* Whether conv c's forward and backward data run as winograd.h's F(4x4, 3x3) with
 * AVX2, on CPUs where oneDNN has no Winograd kernel: where the inference walk can
 * (r50_dnnl_own_winograd: res2 to res4), on float32 operands (never on the bf16
 * copies, emulated ones included), on maps of 7x7 or more (as winograd_first), and
 * where the kernel takes the backward data's shape too (cout -> cin). */
static int own_winograd(const r50_engine_state *s, const r50_conv_desc *c, int64_t h,
                        int64_t w) {
  return s->train_bf16 == R50_TRAIN_BF16_OFF && r50_dnnl_own_winograd(s, c) &&
         c->cin % 16 == 0 && c->cout <= 256 && h >= 7 && w >= 7;
}

/* The three primitives of conv c for n images of h x w. */
static r50_status make_conv(r50_engine_state *s, const r50_conv_desc *c, train_conv *t,
                            int64_t n, int64_t h, int64_t w, int bias, r50_error *err) {
  drop_conv(t);
  const int k = c->ksize, st = c->stride, pad = c->pad, mode = s->train_bf16;
  const dnnl_data_type_t lo = mode == R50_TRAIN_BF16_NATIVE ? dnnl_bf16 : dnnl_f32;
  const int64_t ho = r50_out_size(h, k, st, pad, 0), wo = r50_out_size(w, k, st, pad, 0);
  const dnnl_dims_t sdims = {n, c->cin, h, w}, ddims = {n, c->cout, ho, wo},
                    wdims = {c->cout, c->cin, k, k}, bdims = {c->cout};
  operand_mds m;
  dnnl_memory_desc_t wuser_md, b_md;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL, wpd = NULL;
  r50_status rs = R50_ERR_UNSUPPORTED;
  const dnnl_format_tag_t stag = tag_of(s, c->cin), dtag = tag_of(s, c->cout);
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&m.src, 4, sdims, dnnl_f32, stag), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&m.dst, 4, ddims, dnnl_f32, dtag), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&m.src_lo, 4, sdims, lo, stag), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&m.dst_lo, 4, ddims, lo, dtag), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&wuser_md, 4, wdims, dnnl_f32, dnnl_oihw), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x), "md");
  m.bias = bias ? &b_md : NULL;
  const int lo_ok = mode != R50_TRAIN_BF16_OFF;
  DNNL_TRY(choose(s, c, FWD, lo_ok, lo, &m, NULL, &t->fwd, &fpd),
           "choosing a training convolution");
  DNNL_TRY(choose(s, c, BWD_DATA, lo_ok, lo, &m, fpd, &t->bwd_data, &bpd),
           "choosing a backward-data convolution");
  DNNL_TRY(choose(s, c, BWD_W, lo_ok, lo, &m, fpd, &t->bwd_w, &wpd),
           "choosing a backward-weights convolution");
  if (is_reference(wpd)) { /* no optimised kernel for the blocked layout here */
    dnnl_primitive_desc_t ppd = NULL;
    if ((rs = plain_weight_gradient(s, c, t, &m.src, &m.dst, t->bwd_w.cvt ? lo : dnnl_f32,
                                    m.bias, fpd, &ppd, err)) != R50_OK)
      goto fail;
    if (ppd) {
      dnnl_primitive_desc_destroy(wpd);
      wpd = ppd;
    }
    rs = R50_ERR_UNSUPPORTED;
  }
  const int cvt_x = t->fwd.cvt || (t->bwd_w.cvt && !t->plain),
            cvt_dz = t->bwd_data.cvt || (t->bwd_w.cvt && !t->plain);
  if ((cvt_x && (rs = grow(&s->train->scratch[0], &s->train->scratch_bytes[0],
                           dnnl_memory_desc_get_size(&m.src_lo), err)) != R50_OK) ||
      (cvt_dz && (rs = grow(&s->train->scratch[1], &s->train->scratch_bytes[1],
                            dnnl_memory_desc_get_size(&m.dst_lo), err)) != R50_OK))
    goto fail;
  rs = R50_ERR_UNSUPPORTED;
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
  DNNL_TRY(dnnl_memory_create(&t->src, &m.src, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&t->dst, &m.dst, s->eng, DNNL_MEMORY_NONE), "dst");
  DNNL_TRY(dnnl_memory_create(&t->diff_src, &m.src, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&t->diff_dst, &m.dst, s->eng, DNNL_MEMORY_NONE), "dst");
  DNNL_TRY(dnnl_memory_create(&t->src_lo, &m.src_lo, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&t->diff_dst_lo, &m.dst_lo, s->eng, DNNL_MEMORY_NONE),
           "dst");
  if (bias) {
    if (!(t->db_tmp = malloc((size_t)c->cout * sizeof(float)))) {
      rs = r50_fail(err, R50_ERR_NOMEM, "out of memory for a bias gradient");
      goto fail;
    }
    DNNL_TRY(dnnl_memory_create(&t->b, &b_md, s->eng, DNNL_MEMORY_NONE), "bias");
    DNNL_TRY(dnnl_memory_create(&t->db, &b_md, s->eng, t->db_tmp), "bias");
  }
  t->n = n, t->h = h, t->w = w, t->threads = s->ctx.threads, t->bias = bias,
  t->mode = mode;
  t->made = 1;
  if (own_winograd(s, c, h, w))
    r50_log(R50_LOG_DEBUG,
            "onednn: conv %d (%d->%d on %lldx%lld): forward and backward data by the "
            "engine's AVX2 Winograd",
            c->id, c->cin, c->cout, (long long)h, (long long)w);
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
      t->threads != s->ctx.threads || t->bias != bias || t->mode != s->train_bf16)
    R50_TRY(make_conv(s, c, t, x->n, x->h, x->w, bias, err));
  *out = t;
  return R50_OK;
}

/* Runs d's reorder between the slab's weights w and d's own copy (rounded to bfloat16
 * when d's operands are emulated bf16 copies). */
static dnnl_status_t reorder(r50_engine_state *s, const train_conv *t, dir_prim *d,
                             float *w, int to_user) {
  dnnl_status_t st = dnnl_memory_set_data_handle(d->user, w);
  if (st != dnnl_success)
    return st;
  dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, to_user ? d->w : d->user},
                            {DNNL_ARG_TO, to_user ? d->user : d->w}};
  st = dnnl_primitive_execute(d->reorder, s->stream, 2, args);
  if (st == dnnl_success && !to_user && d->cvt && t->mode == R50_TRAIN_BF16_EMULATED &&
      (st = dnnl_stream_wait(s->stream)) == dnnl_success)
    st = round_memory(s, d->w);
  return st;
}

/* The bf16 copy of activation a (x into scratch 0, dz into 1) behind memory m. */
static dnnl_status_t lo_copy(r50_engine_state *s, const train_conv *t, const r50_act *a,
                             int i, dnnl_memory_t m) {
  round_copy(s, a->data, r50_act_numel(a), s->train->scratch[i],
             t->mode == R50_TRAIN_BF16_NATIVE);
  return dnnl_memory_set_data_handle(m, s->train->scratch[i]);
}

/* ------------------------------------------------- winograd.h's kernel (AVX2) */

/* y = conv(x) by winograd.h's kernel: the forward (flip 0: w as it is, cin -> cout)
 * or the backward data (flip 1: dx = dz convolved with w's filters turned by 180
 * degrees, cout -> cin, for a stride-1 3x3 with pad 1). The weights change every step,
 * so they are transformed on each call. */
static r50_status own_winograd_run(r50_engine_state *s, const r50_conv_desc *c,
                                   const float *w, const float *b, const r50_act *x,
                                   int flip, float *y, r50_error *err) {
  struct dnnl_train *tr = s->train;
  const int ci = flip ? c->cout : c->cin, co = flip ? c->cin : c->cout,
            threads = s->ctx.threads;
  R50_TRY(grow(&tr->wino_u, &tr->wino_u_bytes,
               r50_wino_weights_floats(ci, co) * sizeof(float), err));
  if (flip) { /* wf[c][o][2 - ky][2 - kx] = w[o][c][ky][kx] */
    R50_TRY(
        grow(&tr->wino_w, &tr->wino_w_bytes, (size_t)ci * co * 9 * sizeof(float), err));
    float *wf = tr->wino_w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int o = 0; o < c->cout; o++)
      for (int i = 0; i < c->cin; i++)
        for (int k = 0; k < 9; k++)
          wf[((size_t)i * c->cout + o) * 9 + 8 - k] = w[((size_t)o * c->cin + i) * 9 + k];
    w = wf;
  }
  r50_wino_weights(w, ci, co, tr->wino_u, threads);
  float *scratch = r50_dnnl_wino_scratch(s, ci, co, err);
  if (!scratch)
    return R50_ERR_NOMEM;
  if (!b && !(b = r50_cpu_ctx_zeros(&s->ctx, (size_t)co, err)))
    return R50_ERR_NOMEM;
  r50_wino_conv_avx2(tr->wino_u, b, x->data, x->n, ci, co, x->h, x->w, 0, y, scratch,
                     threads);
  return R50_OK;
}

/* ------------------------------------------------------------------ the directions */

static r50_status run_forward(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                              const float *b, const r50_act *x, r50_act *z,
                              r50_error *err) {
  train_conv *t = NULL;
  R50_TRY(conv_for(s, c, x, c->b >= 0, &t, err));
  *z = (r50_act){z->data, c->cout, x->n,
                 r50_out_size(x->h, c->ksize, c->stride, c->pad, 0),
                 r50_out_size(x->w, c->ksize, c->stride, c->pad, 0)};
  if (own_winograd(s, c, x->h, x->w))
    return own_winograd_run(s, c, w, b, x, 0, z->data, err);
  r50_status rs = R50_OK;
  DNNL_TRY(reorder(s, t, &t->fwd, (float *)w, 0), "weights reorder");
  DNNL_TRY(dnnl_memory_set_data_handle(t->src, x->data), "src");
  if (t->fwd.cvt)
    DNNL_TRY(lo_copy(s, t, x, 0, t->src_lo), "src");
  DNNL_TRY(dnnl_memory_set_data_handle(t->dst, z->data), "dst");
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, t->fwd.cvt ? t->src_lo : t->src},
                             {DNNL_ARG_WEIGHTS, t->fwd.w},
                             {DNNL_ARG_DST, t->dst}};
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
  const size_t nw = (size_t)c->cout * c->cin * c->ksize * c->ksize;
  DNNL_TRY(dnnl_memory_set_data_handle(t->diff_dst, dz->data), "diff dst");
  const int w_lo = (dw || db) && t->bwd_w.cvt && !t->plain; /* on the scratch copies */
  if ((dx && t->bwd_data.cvt) || w_lo)
    DNNL_TRY(lo_copy(s, t, dz, 1, t->diff_dst_lo), "diff dst");
  if (dx && own_winograd(s, c, x->h, x->w)) {
    *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
    R50_TRY(own_winograd_run(s, c, w, NULL, dz, 1, dx->data, err));
  } else if (dx) {
    *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
    DNNL_TRY(reorder(s, t, &t->bwd_data, (float *)w, 0), "weights reorder");
    DNNL_TRY(dnnl_memory_set_data_handle(t->diff_src, dx->data), "diff src");
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, t->bwd_data.cvt ? t->diff_dst_lo : t->diff_dst},
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
      dnnl_exec_arg_t a2[] = {{DNNL_ARG_FROM, t->diff_dst},
                              {DNNL_ARG_TO, t->plain->diff_dst}};
      DNNL_TRY(dnnl_primitive_execute(t->plain->src_reorder, s->stream, 2, a1),
               "src reorder");
      DNNL_TRY(dnnl_primitive_execute(t->plain->diff_dst_reorder, s->stream, 2, a2),
               "diff dst reorder");
      src = t->plain->src, diff_dst = t->plain->diff_dst;
      if (t->bwd_w.cvt && t->mode == R50_TRAIN_BF16_EMULATED) {
        DNNL_TRY(dnnl_stream_wait(s->stream), "diff dst reorder");
        DNNL_TRY(round_memory(s, src), "src");
        DNNL_TRY(round_memory(s, diff_dst), "diff dst");
      }
    } else if (w_lo) {
      DNNL_TRY(lo_copy(s, t, x, 0, t->src_lo), "src");
      src = t->src_lo, diff_dst = t->diff_dst_lo;
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_DIFF_DST, diff_dst},
                               {DNNL_ARG_DIFF_WEIGHTS, t->bwd_w.w}};
    int nargs = 3;
    if (t->bias)
      args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, t->db};
    DNNL_TRY(dnnl_primitive_execute(t->bwd_w.prim, s->stream, nargs, args),
             "a convolution's weight gradient");
    if (dw) { /* into oihw, then added to dw (see weights_of) */
      R50_TRY(grow(&s->train->dw_tmp, &s->train->dw_tmp_bytes, nw * sizeof(float), err));
      DNNL_TRY(reorder(s, t, &t->bwd_w, s->train->dw_tmp, 1), "weight gradient reorder");
    }
  }
  DNNL_TRY(dnnl_stream_wait(s->stream), "a convolution's backward");
  if (dw) {
    const float *g = s->train->dw_tmp;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
    for (size_t i = 0; i < nw; i++)
      dw[i] += g[i];
  }
  if (db)
    for (int o = 0; o < c->cout; o++)
      db[o] += t->db_tmp[o];
fail:
  return rs;
}

/* ------------------------------------------------------------------ the interface */

/* A training walk begins: its activations are float32 (see the header), its
 * convolutions' operands bf16 where the model's precision is; emulated where bf16 was
 * asked for and R50_ONEDNN_BF16_TRAINING=emulate, whether the CPU has bf16 or not
 * (test_train_bf16 compares the two where it has). */
static r50_status dt_bind(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                          r50_error *err) {
  (void)err;
  const char *v = getenv("R50_ONEDNN_BF16_TRAINING");
  const int mode = s->asked_bf16 && v && !strcmp(v, "emulate") ? R50_TRAIN_BF16_EMULATED
                   : s->bf16                                   ? R50_TRAIN_BF16_NATIVE
                                                               : R50_TRAIN_BF16_OFF;
  if (mode == R50_TRAIN_BF16_EMULATED && s->train_bf16 != mode)
    r50_log(R50_LOG_INFO, "onednn: bf16 training emulated: bfloat16 operands on float32 "
                          "kernels (R50_ONEDNN_BF16_TRAINING=emulate)");
  s->train_bf16 = mode;
  s->act_bf16 = 0;
  s->nhwc = 0;  /* training walks are blocked: BN's AVX-512 bodies take nChw16c */
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
  const int v16 = L == 16 && r50_cpu_features_get()->avx512f && /* (the same bits; */
                  x->h * x->w * 16 < INT32_MAX;                 /* 32-bit gathers) */
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *src = x->data + pl * x->h * x->w * L, *g = dy->data + pl * ho * wo * L;
    float *dst = dx->data + pl * x->h * x->w * L;
    if (v16) {
      r50_maxpool16_backward_avx512(src, g, dst, x->h, x->w, ho, wo, k, st, pad);
      continue;
    }
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
    .precisions = 1u << R50_PRECISION_BF16,
};

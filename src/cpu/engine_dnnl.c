/*
 * engine_dnnl.c — the fast CPU engine: convolutions on oneDNN (Debian's libdnnl, the
 * library OpenVINO and PyTorch build on), everything else on this folder's kernels.
 *
 * Layout: blocked activations, nChw8c (nChw16c with AVX-512), the format oneDNN's
 * direct convolutions are fastest on (NHWC ran 25% slower on AVX2); a channel count
 * the block does not divide (the 3-channel input) stays plain NCHW, so no buffer is
 * ever padded past the walk's logical size. Vectors (pool5, fc6, prob) are (n, c)
 * row-major as in every engine.
 *
 * Each convolution is one oneDNN primitive with its BatchNormalization folded into the
 * weights and bias (bn_fold.c), the residual added by a binary post-op and the ReLU by
 * an eltwise one, so a bottleneck's output is written once. Weights are reordered into
 * the primitive's own format when it is made (the BN folded then, from the model's
 * parameters, read in place). A primitive is made for one shape and thread count and
 * kept until another is asked for.
 *
 * Batch invariance: an image's result must not depend on the batch it is in, nor on
 * the thread count. oneDNN's threads split images, output channels and rows, never a
 * sum, and its direct kernels (jit:avx2, jit_1x1:avx2, jit:avx512_core,
 * jit_1x1:avx512_core) add each output's terms in one order whatever the batch, which
 * test_invariance checks bit for bit (batches of 1, 3, 13 and 16, 1 to 3 threads): a
 * primitive is made for the whole batch, so weights are read once per batch (3.4% and
 * 4.7% more img/s at batch 16 than per image on an Intel Xeon with AVX-512, means of
 * 10 and 8 interleaved pairs of runs). Not so its
 * Winograd kernels (AVX-512), which choose their tiles by the batch (they differed in
 * res2 when batched), nor the walks whose kernels choose their blockings from the whole
 * shape, unchecked here (bf16, NHWC): those primitives are made for one image and run
 * once per image, so their kernel choice never sees the batch.
 * R50_ONEDNN_BATCHED=0 (every primitive per image), 1 (every one batched: not
 * invariant with Winograd) or 2 (the default) overrides the choice (ctest runs the
 * default and 0).
 *
 * Winograd: in fp32 the stride-1 3x3 convolutions are oneDNN's Winograd kernels
 * (F(2x2,3x3) and F(4x4,3x3), AVX-512 only) where it has one for the shape, direct
 * ones elsewhere: fewer multiplications for the same sums, 2.2e-6 from the exact result
 * in test_ops (its tolerance is 1e-5) and 16% faster at batch 16 on Zen 4, 30% at
 * batch 1. R50_ONEDNN_WINOGRAD=0 turns it off.
 *
 * bf16 (dn_set_precision): the same walk with bfloat16 weights and activations.
 *
 * NHWC: oneDNN 2.6's AMX convolutions (brgconv and jit:avx512_core_amx) take only NHWC
 * activations; on blocked ones an AMX CPU runs its AVX512-BF16 kernels. So a bf16
 * inference walk where oneDNN's ISA is AMX has NHWC activations: lanes() are all the
 * channels, and pooling takes them 16 at a time. Primitives stay per image, so results
 * stay batch-invariant; brgemm kernels choose their blockings by the thread count, so
 * results may differ between thread counts (test_invariance checks each thread count on
 * its own there). On a Zen 4 (AVX512-BF16, no AMX) NHWC bf16 ran 7% slower at batch 16
 * than blocked (brgconv:avx512_core_bf16, and jit_bf16_1x1 for the convolutions with a
 * residual, whose full-tensor binary post-op brgconv does not take in 2.6), so blocked
 * stays the default there. Training walks stay blocked (BN's AVX-512 bodies take
 * nChw16c). R50_ONEDNN_LAYOUT=nhwc|blocked overrides, fp32 too (tests run NHWC on any
 * CPU).
 */
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "dnnl_engine.h"
#include "engines.h"
#include "error.h"
#include "ops_cpu.h"
#include "winograd.h"

r50_status r50_dnnl_fail(r50_error *err, dnnl_status_t st, const char *what) {
  return r50_fail(err, st == dnnl_out_of_memory ? R50_ERR_NOMEM : R50_ERR_UNSUPPORTED,
                  "oneDNN: %s failed (status %d)", what, (int)st);
}

static void drop_prim(dnnl_prim *p) {
  if (p->prim)
    dnnl_primitive_destroy(p->prim);
  dnnl_memory_t *mems[] = {&p->src, &p->dst, &p->res};
  for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
    if (*mems[i])
      dnnl_memory_destroy(*mems[i]);
  memset(p, 0, sizeof *p);
}

/* Drops f's primitives and weights (the parameters or the precision changed). */
static void drop_primitive(dnnl_conv *f) {
  for (int i = 0; i < PRIMS; i++)
    drop_prim(&f->prim[i]);
  free(f->wino);
  f->wino = NULL;
  if (f->wts)
    dnnl_memory_destroy(f->wts);
  if (f->bias)
    dnnl_memory_destroy(f->bias);
  f->wts = f->bias = NULL;
}

/* Whether oneDNN's kernels may use `want` (ONEDNN_MAX_CPU_ISA may hold them below
 * what the CPU has: then the blocking and bf16 follow oneDNN, not the CPU, or every
 * convolution would fall to its reference kernels, or fail). */
static int isa_has(dnnl_cpu_isa_t want) {
  return (dnnl_get_effective_cpu_isa() & want) == want;
}

/* Which primitives take the whole batch (see the header): BATCH_DIRECT unless
 * R50_ONEDNN_BATCHED says otherwise. */
enum { BATCH_NONE = 0, BATCH_ALL = 1, BATCH_DIRECT = 2 };

static int batch_mode(void) {
  const char *v = getenv("R50_ONEDNN_BATCHED");
  const int mode = v && *v ? atoi(v) : BATCH_DIRECT;
  return mode == BATCH_NONE || mode == BATCH_ALL ? mode : BATCH_DIRECT;
}

/* Whether an inference walk's activations are NHWC (see the header): in bf16 where
 * oneDNN may use AMX, or as R50_ONEDNN_LAYOUT=nhwc|blocked says. */
static int nhwc_walk(int act_bf16) {
  const char *v = getenv("R50_ONEDNN_LAYOUT");
  if (v && *v)
    return !strcmp(v, "nhwc");
  return act_bf16 && dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx512_core_amx;
}

static r50_status dn_create(int threads, r50_engine_state **out, r50_error *err) {
  r50_engine_state *s = calloc(1, sizeof *s);
  if (!s)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for the oneDNN engine");
  r50_cpu_ctx_init(&s->ctx, threads);
  s->block = isa_has(dnnl_cpu_isa_avx512_core) ? 16 : 8;
  s->batched = batch_mode();
  dnnl_status_t st = dnnl_engine_create(&s->eng, dnnl_cpu, 0);
  if (st == dnnl_success)
    st = dnnl_stream_create(&s->stream, s->eng, dnnl_stream_default_flags);
  if (st != dnnl_success) {
    if (s->eng)
      dnnl_engine_destroy(s->eng);
    r50_cpu_ctx_release(&s->ctx);
    free(s);
    return r50_dnnl_fail(err, st, "creating the CPU engine");
  }
  *out = s;
  return R50_OK;
}

static void dn_destroy(r50_engine_state *s) {
  if (!s)
    return;
  for (int i = 0; i < s->n_convs; i++) {
    drop_primitive(&s->convs[i]);
    free(s->convs[i].bf);
  }
  free(s->convs);
  free(s->wino_scratch);
  r50_dnnl_train_release(s);
  dnnl_stream_destroy(s->stream);
  dnnl_engine_destroy(s->eng);
  r50_cpu_ctx_release(&s->ctx);
  free(s);
}

static void dn_set_threads(r50_engine_state *s, int threads) {
  s->ctx.threads = threads > 0 ? threads : 1;
}

/* bf16: every convolution's weights and the activations between layers are bfloat16
 * in memory (rounded to nearest even), half the bytes of float32; the kernels multiply
 * in bfloat16 and accumulate in float32 (AMX-BF16, AVX512-BF16), and add the bias, the
 * residual and the ReLU in float32 before the output is rounded. The walk's buffers
 * are the same float buffers, half used; pool5 and the vectors after it are float32.
 * (oneDNN 2.6's bf16 fpmath mode on float32 memory runs the float32 kernels.) */
static r50_precision dn_set_precision(r50_engine_state *s, r50_precision p) {
  const r50_cpu_features *f = r50_cpu_features_get();
  const int bf16 = p == R50_PRECISION_BF16 && (f->amx_bf16 || f->avx512_bf16) &&
                   isa_has(dnnl_cpu_isa_avx512_core_bf16);
  if (bf16 != s->bf16)
    for (int i = 0; i < s->n_convs; i++)
      drop_primitive(&s->convs[i]);
  s->bf16 = s->act_bf16 = bf16;
  s->asked_bf16 = p == R50_PRECISION_BF16;
  return bf16 ? R50_PRECISION_BF16 : R50_PRECISION_FP32;
}

static r50_status dn_set_conv(r50_engine_state *s, const r50_conv_desc *c,
                              const r50_conv_params *p, r50_error *err) {
  if (c->id >= s->n_convs) {
    dnnl_conv *f = realloc(s->convs, (size_t)(c->id + 1) * sizeof *f);
    if (!f)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for folded weights");
    memset(f + s->n_convs, 0, (size_t)(c->id + 1 - s->n_convs) * sizeof *f);
    s->convs = f;
    s->n_convs = c->id + 1;
  }
  dnnl_conv *f = &s->convs[c->id];
  drop_primitive(f); /* its shape or reordered weights are stale */
  if (f->cout != c->cout) {
    free(f->bf);
    f->set = 0;
    f->cout = 0;
    if (!(f->bf = malloc((size_t)c->cout * sizeof(float))))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for folded biases");
    f->cout = c->cout;
  }
  f->p = *p;
  f->set = 1;
  return R50_OK;
}

static r50_status dn_set_linear(r50_engine_state *s, const float *w, const float *b,
                                int64_t cout, int64_t cin, r50_error *err) {
  (void)err;
  s->lin_w = w;
  s->lin_b = b;
  s->lin_out = cout;
  s->lin_in = cin;
  return R50_OK;
}

static r50_status dn_reserve(r50_engine_state *s, size_t act_floats, size_t vec_floats,
                             float *act[R50_ACT_BUFS], float **vec, r50_error *err) {
  R50_TRY(r50_cpu_ctx_reserve(&s->ctx, act_floats, vec_floats, err));
  s->act_bf16 = s->bf16; /* an inference walk begins (a training one may have run) */
  s->nhwc = nhwc_walk(s->bf16);
  memcpy(act, s->ctx.act, sizeof s->ctx.act);
  *vec = s->ctx.vec;
  return R50_OK;
}

/* ------------------------------------------------------------------ layout */

/* The element type of activations. */
static dnnl_data_type_t act_type(const r50_engine_state *s) {
  return s->act_bf16 ? dnnl_bf16 : dnnl_f32;
}

/* Element i of activation memory, whichever its type, and the store back. */
static inline float act_ld(const void *base, int64_t i, int bf16) {
  return bf16 ? float_of_bf16(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

static inline void act_st(void *base, int64_t i, float v, int bf16) {
  if (bf16)
    ((uint16_t *)base)[i] = bf16_of(v);
  else
    ((float *)base)[i] = v;
}

static void dn_from_nchw(r50_engine_state *s, const float *src, int64_t n, int64_t c,
                         int64_t h, int64_t w, r50_act *dst) {
  *dst = (r50_act){dst->data, c, n, h, w};
  const int64_t hw = h * w, L = lanes(s, c), cb = c / L;
  const int bf16 = s->act_bf16;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static) collapse(2)
  for (int64_t i = 0; i < n; i++)
    for (int64_t b = 0; b < cb; b++) {
      const int64_t d0 = (i * cb + b) * hw * L;
      for (int64_t l = 0; l < L; l++) {
        const float *plane = src + (i * c + b * L + l) * hw;
        for (int64_t p = 0; p < hw; p++)
          act_st(dst->data, d0 + p * L + l, plane[p], bf16);
      }
    }
}

static void dn_to_nchw(r50_engine_state *s, const r50_act *src, float *dst) {
  const int64_t hw = src->h * src->w, c = src->c, L = lanes(s, c), cb = c / L;
  const int bf16 = s->act_bf16;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static) collapse(2)
  for (int64_t i = 0; i < src->n; i++)
    for (int64_t b = 0; b < cb; b++) {
      const int64_t s0 = (i * cb + b) * hw * L;
      for (int64_t l = 0; l < L; l++) {
        float *plane = dst + (i * c + b * L + l) * hw;
        for (int64_t p = 0; p < hw; p++)
          plane[p] = act_ld(src->data, s0 + p * L + l, bf16);
      }
    }
}

static void dn_vec_copy(r50_engine_state *s, const float *src, size_t n, float *dst) {
  (void)s;
  memcpy(dst, src, n * sizeof(float));
}

/* ------------------------------------------------------------------ convolution */

/* Whether c is tried as a Winograd convolution first: the stride-1 3x3 ones in fp32,
 * unless R50_ONEDNN_WINOGRAD=0. */
static int winograd_first(const r50_engine_state *s, const r50_conv_desc *c) {
  return !s->bf16 && c->ksize == 3 && c->stride == 1 && r50_dnnl_winograd_allowed();
}

/* f's weights in the format md, folded and reordered; the other primitive, made for
 * another format, is dropped. The source is the model's parameters, or where an
 * inference-only model's were given back (f->p.w NULL), the weights held in the old
 * format (folded already, and in the same precision: a precision change drops them). */
static r50_status set_weights(r50_engine_state *s, const r50_conv_desc *c, dnnl_conv *f,
                              const dnnl_memory_desc_t *md, r50_error *err) {
  const int k = c->ksize;
  const size_t n = (size_t)c->cout * c->cin * k * k;
  const dnnl_dims_t wdims = {c->cout, c->cin, k, k}, bdims = {c->cout};
  dnnl_memory_desc_t wplain_md, b_md; /* md may be bfloat16: the reorder rounds */
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t from = NULL, to = NULL;
  r50_status rs = R50_ERR_UNSUPPORTED;
  float *wf = NULL;
  if (!f->p.w && !f->wts)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "conv %d: its weights were given back (inference-only model) and "
                    "the engine holds none to make them from",
                    c->id);
  if (f->p.w) {
    if (!(wf = malloc(n * sizeof(float))))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for folded weights");
    r50_fold_bn(c, &f->p, wf, f->bf);
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&wplain_md, 4, wdims, dnnl_f32, dnnl_oihw),
             "md");
    DNNL_TRY(dnnl_memory_create(&from, &wplain_md, s->eng, wf), "weights");
  }
  const dnnl_memory_desc_t *from_md = from ? &wplain_md : &f->wts_md;
  DNNL_TRY(dnnl_memory_create(&to, md, s->eng, DNNL_MEMORY_ALLOCATE), "weights");
  DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, from_md, s->eng, md, s->eng, NULL),
           "weights reorder");
  DNNL_TRY(dnnl_primitive_create(&reorder, rpd), "weights reorder");
  dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, from ? from : f->wts}, {DNNL_ARG_TO, to}};
  DNNL_TRY(dnnl_primitive_execute(reorder, s->stream, 2, rargs), "weights reorder");
  DNNL_TRY(dnnl_stream_wait(s->stream), "weights reorder");
  drop_primitive(f); /* (the old weights, the source just read, with it) */
  f->wts = to, to = NULL;
  f->wts_md = *md;
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x), "md");
  DNNL_TRY(dnnl_memory_create(&f->bias, &b_md, s->eng, f->bf), "bias");
  /* An inference-only model's weights are given back: the engine's copy is the one
   * read from now on, and reordered into the format another shape's primitive takes.
   * Not where a Winograd kernel may take them (the stride-1 3x3 convolutions in fp32):
   * oneDNN's Winograd formats depend on the shape and are reordered from plain weights
   * only, and winograd.h's weights are made from them too. */
  if (f->p.w && f->p.release && !winograd_first(s, c)) {
    r50_host_release(f->p.w, n);
    f->p.w = NULL;
  }
  rs = R50_OK;
fail:
  if (rs != R50_OK && f->wts && !f->bias)
    drop_primitive(f); /* new weights without their bias: not half of a conv */
  if (to)
    dnnl_memory_destroy(to);
  if (reorder)
    dnnl_primitive_destroy(reorder);
  if (rpd)
    dnnl_primitive_desc_destroy(rpd);
  if (from)
    dnnl_memory_destroy(from);
  free(wf);
  return rs;
}

/* Whether the residual is added by a sum post-op, to a copy of it in the output, not
 * by a binary one: R50_ONEDNN_RESIDUAL=sum. On NHWC activations it lets oneDNN 2.6's
 * brgconv (which takes no full-tensor binary post-op) run the convolutions with a
 * residual. A kernel may add it at another point of its sum: in bf16 here the bits
 * were the same, in fp32 (jit_1x1:avx512_core) not. On a Zen 4, NHWC bf16 at batch 16
 * ran 44.6-47.1 img/s so against 49.8 with binary (their jit_bf16_1x1); on AMX the
 * choice is brgconv against jit:avx512_core_amx_1x1, unmeasured: hence the switch. */
static int residual_by_sum(void) {
  const char *v = getenv("R50_ONEDNN_RESIDUAL");
  return v && !strcmp(v, "sum");
}

/* Makes slot *pr of f for mb images of h x w (see the header: 1, or the batch). */
static r50_status make_primitive(r50_engine_state *s, const r50_conv_desc *c,
                                 dnnl_conv *f, dnnl_prim *pr, int64_t mb, int64_t h,
                                 int64_t w, int residual, int relu, r50_error *err) {
  drop_prim(pr);
  const int k = c->ksize, st = c->stride, pad = c->pad;
  const int64_t ho = r50_out_size(h, k, st, pad, 0), wo = r50_out_size(w, k, st, pad, 0);
  dnnl_memory_desc_t src_md, wany_md, b_md, dst_md;
  dnnl_convolution_desc_t cd;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  r50_status rs = R50_ERR_UNSUPPORTED;
  const dnnl_dims_t sdims = {mb, c->cin, h, w}, ddims = {mb, c->cout, ho, wo},
                    wdims = {c->cout, c->cin, k, k}, bdims = {c->cout};
  const dnnl_dims_t strides = {st, st}, pads = {pad, pad};

  const dnnl_data_type_t t = act_type(s);
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 4, sdims, t, tag_of(s, c->cin)), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, ddims, t, tag_of(s, c->cout)), "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany_md, 4, wdims, t, dnnl_format_tag_any),
           "md");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x), "md");
  DNNL_TRY(dnnl_primitive_attr_create(&attr), "attr");
  DNNL_TRY(dnnl_post_ops_create(&po), "post-ops");
  if (residual && residual_by_sum())
    DNNL_TRY(dnnl_post_ops_append_sum(po, 1.0f), "post-ops");
  else if (residual)
    DNNL_TRY(dnnl_post_ops_append_binary(po, dnnl_binary_add, &dst_md), "post-ops");
  if (relu)
    DNNL_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f),
             "post-ops");
  DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
  /* Winograd where oneDNN has it for this shape (see the header), else direct */
  for (int alg = winograd_first(s, c) ? 0 : 1; alg < 2 && !pd; alg++) {
    DNNL_TRY(dnnl_convolution_forward_desc_init(
                 &cd, dnnl_forward_inference,
                 alg ? dnnl_convolution_direct : dnnl_convolution_winograd, &src_md,
                 &wany_md, &b_md, &dst_md, strides, pads, pads),
             "describing a convolution");
    dnnl_status_t made = dnnl_primitive_desc_create(&pd, &cd, attr, s->eng, NULL);
    if (made != dnnl_success && (alg || made != dnnl_unimplemented))
      DNNL_TRY(made, "choosing a convolution kernel");
  }
  const dnnl_memory_desc_t *wmd =
      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  if (!f->wts || !dnnl_memory_desc_equal(&f->wts_md, wmd)) {
    rs = set_weights(s, c, f, wmd, err);
    if (rs != R50_OK)
      goto fail;
    rs = R50_ERR_UNSUPPORTED;
  }
  DNNL_TRY(dnnl_primitive_create(&pr->prim, pd), "making a convolution");
  DNNL_TRY(dnnl_memory_create(&pr->src, &src_md, s->eng, DNNL_MEMORY_NONE), "src");
  DNNL_TRY(dnnl_memory_create(&pr->dst, &dst_md, s->eng, DNNL_MEMORY_NONE), "dst");
  if (residual && !residual_by_sum())
    DNNL_TRY(dnnl_memory_create(&pr->res, &dst_md, s->eng, DNNL_MEMORY_NONE), "residual");
  pr->mb = mb, pr->h = h, pr->w = w, pr->threads = s->ctx.threads;
  pr->residual = residual, pr->relu = relu, pr->nhwc = s->nhwc;
  rs = R50_OK;
fail:
  if (rs != R50_OK)
    drop_prim(pr);
  if (pd)
    dnnl_primitive_desc_destroy(pd);
  if (po)
    dnnl_post_ops_destroy(po);
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return rs;
}

/* Whether c can run as winograd.h's F(4x4, 3x3): in fp32 on a CPU with AVX2 and FMA
 * where oneDNN has no Winograd kernel (nChw8c activations: the CPUs without AVX-512),
 * for the stride-1 3x3 convolutions of 64 to 256 channels (res2 to res4), which it
 * runs 2 to 3 times as fast as oneDNN's direct kernel on a Zen 3 (batches of 1 and 8),
 * within 4e-6 of the exact sums. res5's 512 channels on 7x7 maps would read 38 MB of
 * transformed weights for 4 tiles an image: slower at batch 1, so they stay direct
 * (the choice may not depend on the batch: results are batch-invariant). None of
 * them has a residual (wino_conv: where the inference walk runs it).
 * R50_ONEDNN_WINOGRAD=0 turns it off. */
int r50_dnnl_own_winograd(const r50_engine_state *s, const r50_conv_desc *c) {
  const r50_cpu_features *f = r50_cpu_features_get();
  return !s->bf16 && !s->act_bf16 && !s->nhwc && s->block == 8 && f->avx2 && f->fma &&
         c->ksize == 3 && c->stride == 1 && c->pad == 1 && c->cin % 8 == 0 &&
         c->cin <= 256 && c->cout % 16 == 0 && r50_dnnl_winograd_allowed();
}

static int wino_conv(const r50_engine_state *s, const r50_conv_desc *c, int residual) {
  return !residual && r50_dnnl_own_winograd(s, c);
}

float *r50_dnnl_wino_scratch(r50_engine_state *s, int cin, int cout, r50_error *err) {
  const size_t need = r50_wino_scratch_floats(cin, cout, s->ctx.threads);
  if (need > s->wino_scratch_floats) {
    free(s->wino_scratch);
    s->wino_scratch_floats = 0;
    if (!(s->wino_scratch = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64))) {
      r50_fail(err, R50_ERR_NOMEM, "out of memory for Winograd scratch");
      return NULL;
    }
    s->wino_scratch_floats = need;
  }
  return s->wino_scratch;
}

/* c as a Winograd convolution: its weights folded and transformed on first use. */
static r50_status run_wino(r50_engine_state *s, const r50_conv_desc *c, dnnl_conv *f,
                           const r50_act *in, r50_act *out, int relu, r50_error *err) {
  if (!f->wino) {
    float *wf = malloc((size_t)c->cout * c->cin * 9 * sizeof(float));
    f->wino = aligned_alloc(64, r50_wino_weights_floats(c->cin, c->cout) * sizeof(float));
    if (!wf || !f->wino) {
      free(wf);
      free(f->wino);
      f->wino = NULL;
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for Winograd weights");
    }
    r50_fold_bn(c, &f->p, wf, f->bf);
    r50_wino_weights(wf, c->cin, c->cout, f->wino, s->ctx.threads);
    free(wf); /* (the model's weights stay: a walk on NHWC runs it on oneDNN) */
  }
  float *scratch = r50_dnnl_wino_scratch(s, c->cin, c->cout, err);
  if (!scratch)
    return R50_ERR_NOMEM;
  r50_wino_conv_avx2(f->wino, f->bf, in->data, in->n, c->cin, c->cout, in->h, in->w, relu,
                     out->data, scratch, s->ctx.threads);
  return R50_OK;
}

static r50_status run_conv(r50_engine_state *s, const r50_conv_desc *c, const r50_act *in,
                           r50_act *out, const r50_act *residual, int relu,
                           r50_error *err) {
  R50_ASSERT(in->c == c->cin && c->id < s->n_convs && s->convs[c->id].set);
  dnnl_conv *f = &s->convs[c->id];
  const int64_t ho = r50_out_size(in->h, c->ksize, c->stride, c->pad, 0),
                wo = r50_out_size(in->w, c->ksize, c->stride, c->pad, 0);
  *out = (r50_act){out->data, c->cout, in->n, ho, wo};
  if (wino_conv(s, c, residual != NULL))
    return run_wino(s, c, f, in, out, relu, err);
  const int batched =
      s->batched == BATCH_ALL ||
      (s->batched == BATCH_DIRECT && !s->bf16 && !s->nhwc &&
       !(winograd_first(s, c) && isa_has(dnnl_cpu_isa_avx512_core))); /* its Winograd */
  const int64_t mb = batched ? in->n : 1;
  dnnl_prim *pr = NULL, *lru = &f->prim[0];
  for (int i = 0; i < PRIMS; i++) {
    dnnl_prim *q = &f->prim[i];
    if (q->prim && q->mb == mb && q->h == in->h && q->w == in->w &&
        q->threads == s->ctx.threads && q->residual == (residual != NULL) &&
        q->relu == relu && q->nhwc == s->nhwc)
      pr = q;
    if (q->used < lru->used)
      lru = q;
  }
  if (!pr) {
    pr = lru;
    R50_TRY(make_primitive(s, c, f, pr, mb, in->h, in->w, residual != NULL, relu, err));
  }
  pr->used = ++s->calls;
  /* bytes per image: a bfloat16 one is half a float32 one */
  const int64_t esz = s->act_bf16 ? 2 : 4, in_img = in->c * in->h * in->w * esz,
                out_img = c->cout * ho * wo * esz;
  r50_status rs = R50_OK;
  for (int64_t i = 0; i < in->n; i += mb) {
    DNNL_TRY(dnnl_memory_set_data_handle(pr->src, (char *)in->data + i * in_img), "src");
    DNNL_TRY(dnnl_memory_set_data_handle(pr->dst, (char *)out->data + i * out_img),
             "dst");
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, pr->src},
                               {DNNL_ARG_WEIGHTS, f->wts},
                               {DNNL_ARG_BIAS, f->bias},
                               {DNNL_ARG_DST, pr->dst}};
    int nargs = 4;
    if (residual && !pr->res) { /* a sum post-op: the output starts as the residual */
      char *o = (char *)out->data + i * out_img;
      const char *r = (const char *)residual->data + i * out_img;
      if (o != r)
        memcpy(o, r, (size_t)(mb * out_img));
    } else if (residual) {
      DNNL_TRY(dnnl_memory_set_data_handle(pr->res, (char *)residual->data + i * out_img),
               "res");
      args[nargs++] =
          (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, pr->res};
    }
    DNNL_TRY(dnnl_primitive_execute(pr->prim, s->stream, nargs, args), "a convolution");
  }
  DNNL_TRY(dnnl_stream_wait(s->stream), "a convolution");
fail:
  return rs;
}

/* oneDNN's OpenMP threads are the calling thread's team size: set for the call. */
static r50_status dn_conv(r50_engine_state *s, const r50_conv_desc *c, const r50_act *in,
                          r50_act *out, const r50_act *residual, int relu,
                          r50_error *err) {
  const int saved = r50_dnnl_threads_enter(s);
  r50_status rs = run_conv(s, c, in, out, residual, relu, err);
  omp_set_num_threads(saved);
  return rs;
}

/* ------------------------------------------------------------------ pooling */

/* Max pooling as Chainer's (see pool_cpu.c): each window's max, lane by lane, in
 * chunks of 16 lanes (an NHWC walk's lanes are all the channels). */
static void dn_maxpool(r50_engine_state *s, const r50_pool_desc *p, const r50_act *in,
                       r50_act *out) {
  const int k = p->ksize, st = p->stride, pad = p->pad;
  const int64_t ho = r50_out_size(in->h, k, st, pad, p->cover_all),
                wo = r50_out_size(in->w, k, st, pad, p->cover_all);
  const int64_t L = lanes(s, in->c), planes = in->n * (in->c / L);
  const int bf16 = s->act_bf16; /* a bfloat16 max is exact: converted back unchanged */
  *out = (r50_act){out->data, in->c, in->n, ho, wo};
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static) collapse(2)
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t oy = 0; oy < ho; oy++) {
      const int64_t src = pl * in->h * in->w * L, dst = pl * ho * wo * L;
      int64_t y0 = oy * st - pad, y1 = y0 + k < in->h ? y0 + k : in->h;
      y0 = y0 < 0 ? 0 : y0;
      for (int64_t ox = 0; ox < wo; ox++) {
        int64_t x0 = ox * st - pad, x1 = x0 + k < in->w ? x0 + k : in->w;
        x0 = x0 < 0 ? 0 : x0;
        for (int64_t l0 = 0; l0 < L; l0 += 16) {
          const int64_t nl = L - l0 < 16 ? L - l0 : 16;
          float d[16];
          for (int64_t l = 0; l < nl; l++)
            d[l] = act_ld(in->data, src + (y0 * in->w + x0) * L + l0 + l, bf16);
          for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++)
              for (int64_t l = 0; l < nl; l++) {
                const float v =
                    act_ld(in->data, src + (y * in->w + x) * L + l0 + l, bf16);
                d[l] = v > d[l] ? v : d[l];
              }
          for (int64_t l = 0; l < nl; l++)
            act_st(out->data, dst + (oy * wo + ox) * L + l0 + l, d[l], bf16);
        }
      }
    }
}

/* Global average pooling: each (image, channel) summed in double in pixel order, as
 * pool_cpu.c does, so pool5 equals the reference engine's for equal res5; lanes in
 * chunks of 16, as in max pooling. */
static void dn_avgpool(r50_engine_state *s, const r50_act *in, float *out) {
  const int64_t hw = in->h * in->w, c = in->c, L = lanes(s, c), planes = in->n * (c / L);
  const int bf16 = s->act_bf16;
#pragma omp parallel for num_threads(s->ctx.threads) schedule(static) collapse(2)
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t l0 = 0; l0 < L; l0 += 16) {
      const int64_t nl = L - l0 < 16 ? L - l0 : 16, src = pl * hw * L + l0;
      double sum[16] = {0};
      for (int64_t p = 0; p < hw; p++)
        for (int64_t l = 0; l < nl; l++)
          sum[l] += act_ld(in->data, src + p * L + l, bf16);
      /* plane pl is image pl / (c / L), channels (pl % (c / L)) * L .. + L */
      for (int64_t l = 0; l < nl; l++)
        out[pl * L + l0 + l] = (float)(sum[l] / (double)hw);
    }
}

static void dn_linear(r50_engine_state *s, const float *x, int64_t n, float *y) {
  R50_ASSERT(s->lin_w);
  r50_linear_cpu(&s->ctx, x, n, s->lin_in, s->lin_w, s->lin_b, s->lin_out, y);
}

static void dn_softmax(r50_engine_state *s, const float *x, int64_t n, int64_t c,
                       float *y) {
  r50_softmax_cpu(&s->ctx, x, n, c, y);
}

static const r50_engine dnnl_engine = {
    .name = "onednn",
    .create = dn_create,
    .destroy = dn_destroy,
    .set_threads = dn_set_threads,
    .set_precision = dn_set_precision,
    .set_conv = dn_set_conv,
    .set_linear = dn_set_linear,
    .reserve = dn_reserve,
    .from_nchw = dn_from_nchw,
    .to_nchw = dn_to_nchw,
    .vec_to_host = dn_vec_copy,
    .vec_from_host = dn_vec_copy,
    .conv = dn_conv,
    .maxpool = dn_maxpool,
    .avgpool = dn_avgpool,
    .linear = dn_linear,
    .softmax = dn_softmax,
    .train = &r50_dnnl_train,
};

void r50_onednn_describe(char *buf, size_t cap) {
  const dnnl_version_t *v = dnnl_version();
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  const char *name = isa == dnnl_cpu_isa_avx512_core_amx    ? "AMX"
                     : isa == dnnl_cpu_isa_avx512_core_bf16 ? "AVX512-BF16"
                     : isa == dnnl_cpu_isa_avx512_core_vnni ? "AVX-512 VNNI"
                     : isa == dnnl_cpu_isa_avx512_core      ? "AVX-512"
                     : isa == dnnl_cpu_isa_avx2 || isa == dnnl_cpu_isa_avx2_vnni
                         ? "AVX2"
                         : "older ISAs";
  const int f32_nhwc = nhwc_walk(0), bf16_nhwc = nhwc_walk(1);
  snprintf(buf, cap, "oneDNN %d.%d.%d, %s kernels, %s primitives, %s activations",
           v->major, v->minor, v->patch, name,
           batch_mode() == BATCH_ALL    ? "whole-batch"
           : batch_mode() == BATCH_NONE ? "per-image"
           : isa_has(dnnl_cpu_isa_avx512_core)
               ? "whole-batch fp32 direct, per-image Winograd and bf16"
               : "whole-batch fp32",
           f32_nhwc && bf16_nhwc ? "NHWC"
           : bf16_nhwc           ? "blocked fp32 and NHWC bf16"
           : f32_nhwc            ? "NHWC fp32 and blocked bf16"
                                 : "blocked");
}

int r50_onednn_nhwc(int bf16) {
  return nhwc_walk(bf16);
}

const r50_engine *r50_engine_onednn(void) {
  return &dnnl_engine;
}

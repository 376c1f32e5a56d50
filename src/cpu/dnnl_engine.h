/*
 * dnnl_engine.h — the oneDNN engine's state, shared by its inference half
 * (engine_dnnl.c) and its training half (train_dnnl.c).
 */
#ifndef R50_DNNL_ENGINE_H
#define R50_DNNL_ENGINE_H

#include <dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "engine.h"

/* A primitive for mb images of h x w, made with `threads` threads. */
typedef struct dnnl_prim {
  dnnl_primitive_t prim;
  int64_t mb, h, w;
  int threads, residual, relu, nhwc;
  dnnl_memory_t src, dst, res; /* data handles set per call */
  uint64_t used;               /* the engine's call count when last used */
} dnnl_prim;

/* Two primitives per convolution: the walk's micro-batches come in at most two sizes
 * (all equal but the last), and neither is remade for the other. */
#define PRIMS 2

typedef struct dnnl_conv {
  r50_conv_params p; /* the model's, read in place (engine.h allows it) */
  float *bf;         /* folded bias (cout); the folded weights live only while they
                        are reordered: oneDNN's copy (wts) is the one kept */
  int cout;
  int set;
  dnnl_prim prim[PRIMS];
  dnnl_memory_t wts, bias; /* shared by the primitives, whose weights md is wts_md */
  dnnl_memory_desc_t wts_md;
  float *wino; /* its Winograd weights (winograd.h), where it runs there; else NULL */
} dnnl_conv;

struct r50_engine_state {
  r50_cpu_ctx ctx; /* threads, buffers; pooling, linear and softmax kernels */
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  int64_t block;    /* channel block of activations: 16 with AVX-512, else 8 */
  uint64_t calls;   /* convolutions run, for the primitives' LRU */
  int batched;      /* which primitives take the whole batch: BATCH_* (engine_dnnl.c) */
  int nhwc;         /* the walk's activations are NHWC, not blocked (see lanes()) */
  int bf16;         /* convolutions multiply in bfloat16 (see dn_set_precision) */
  int act_bf16;     /* the walk's activations are bfloat16: bf16 inference; 0 while
                       training, whose activations stay float32 (dn_reserve, dt_bind) */
  int asked_bf16;   /* bf16 was asked for, whether or not the CPU has it */
  int train_bf16;   /* the training convolutions' operands: R50_TRAIN_BF16_* */
  dnnl_conv *convs; /* by conv id */
  int n_convs;
  const float *lin_w, *lin_b;
  int64_t lin_out, lin_in;
  struct dnnl_train *train; /* the training primitives (train_dnnl.c), made on use */
  float *wino_scratch;      /* the Winograd kernels' (see wino_conv) */
  size_t wino_scratch_floats;
};

/* A failed oneDNN call as an r50 error naming `what`. */
r50_status r50_dnnl_fail(r50_error *err, dnnl_status_t st, const char *what);

/* Needs `rs` and a `fail:` label in the caller. */
#define DNNL_TRY(call, what)                                                             \
  do {                                                                                   \
    dnnl_status_t st_ = (call);                                                          \
    if (st_ != dnnl_success) {                                                           \
      rs = r50_dnnl_fail(err, st_, what);                                                \
      goto fail;                                                                         \
    }                                                                                    \
  } while (0)

/* Lanes of a c-channel activation: the block when c is a multiple of it, else 1
 * (plain NCHW: the 3-channel input, and odd channel counts); in an NHWC walk, all c
 * channels. Element (n, ch, y, x) is at ((n * c / L + ch / L) * h * w + y * w + x) *
 * L + ch % L. */
static inline int64_t lanes(const r50_engine_state *s, int64_t c) {
  return s->nhwc ? c : c % s->block == 0 ? s->block : 1;
}

static inline dnnl_format_tag_t tag_of(const r50_engine_state *s, int64_t c) {
  if (s->nhwc)
    return dnnl_nhwc;
  const int64_t l = lanes(s, c);
  return l == 16 ? dnnl_nChw16c : l == 8 ? dnnl_nChw8c : dnnl_nchw;
}

/* How the training convolutions take their operands (dt_bind): float32; bfloat16
 * copies on oneDNN's bf16 kernels; or float32 copies rounded to bfloat16 on its
 * float32 kernels, the same products summed in float32 (R50_ONEDNN_BF16_TRAINING=
 * emulate, where bf16 was asked for on a CPU without it). */
enum { R50_TRAIN_BF16_OFF, R50_TRAIN_BF16_NATIVE, R50_TRAIN_BF16_EMULATED };

/* float32 -> bfloat16, to nearest, ties to even (as oneDNN's reorders); NaN stays NaN. */
static inline uint16_t bf16_of(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float float_of_bf16(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Whether the Winograd convolutions are allowed: unless R50_ONEDNN_WINOGRAD=0. */
static inline int r50_dnnl_winograd_allowed(void) {
  const char *v = getenv("R50_ONEDNN_WINOGRAD");
  return !(v && *v && atoi(v) == 0);
}

/* Whether c can run as winograd.h's F(4x4, 3x3) with AVX2 (engine_dnnl.c says when),
 * and that kernel's scratch for a cin -> cout one (NULL, err set: out of memory). */
int r50_dnnl_own_winograd(const r50_engine_state *s, const r50_conv_desc *c);
float *r50_dnnl_wino_scratch(r50_engine_state *s, int cin, int cout, r50_error *err);

/* The training half's ops (train_dnnl.c), and the release of what it keeps. */
extern const r50_engine_train r50_dnnl_train;
void r50_dnnl_train_release(r50_engine_state *s);

/* oneDNN's OpenMP threads are the calling thread's team size: set around each call. */
static inline int r50_dnnl_threads_enter(const r50_engine_state *s) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(s->ctx.threads);
  return saved;
}

#endif

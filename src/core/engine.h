/*
 * engine.h — the interface an engine implements, and through which the one layer walk
 * (forward.c) runs the model table on it.
 *
 * An engine owns its memory (host or device), its threads and handles, and whatever it
 * derives from the parameters (the reference CPU engine folds each BatchNormalization
 * into its convolution). The walk owns the order: it plans the shapes from the table,
 * asks the engine for R50_ACT_BUFS activation buffers and a vector buffer of the sizes
 * it needs, and calls one op per step, choosing which buffer each op reads and writes.
 *
 * Activations are r50_act: logical (c, n, h, w) dims over a buffer in the engine's
 * layout (the reference engine's is CNHW). Vectors (pool5, fc6, prob) are row-major
 * (n, c) in engine memory. Every op must give an image's outputs independently of the
 * other images in the batch and of the thread count (bit for bit), the engine
 * guarantee `extract` relies on.
 *
 * The reference engine (cpu/engine_ref.c) implements every slot and is what every
 * later engine is tested against (tests/test_ops.c runs each op of each engine against
 * naive loops).
 */
#ifndef R50_ENGINE_H
#define R50_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"
#include "table.h"

/* Block input, two bottleneck temporaries and the projected shortcut. */
#define R50_ACT_BUFS 4

typedef struct r50_act {
  float *data; /* in engine memory, the engine's layout */
  int64_t c, n, h, w;
} r50_act;

static inline int64_t r50_act_numel(const r50_act *a) {
  return a->c * a->n * a->h * a->w;
}

/* The parameters of one convolution and its BatchNormalization, in host memory. */
typedef struct r50_conv_params {
  const float *w;                         /* (cout, cin, k, k) */
  const float *b;                         /* (cout) or NULL */
  const float *gamma, *beta, *mean, *var; /* (cout) */
  double eps;
} r50_conv_params;

typedef struct r50_engine_state r50_engine_state; /* each engine's own */

typedef struct r50_engine {
  const char *name; /* "reference", ... */

  r50_status (*create)(int threads, r50_engine_state **out, r50_error *err);
  void (*destroy)(r50_engine_state *s); /* NULL is a no-op */
  void (*set_threads)(r50_engine_state *s, int threads);

  /* Inference parameters, (re)set whenever the model's change: conv `c` with its BN,
   * and the linear layer (w (cout, cin), b (cout), host memory). The pointers given
   * stay valid, and their data unchanged, until the next call for the same layer: an
   * engine may read them in place. */
  r50_status (*set_conv)(r50_engine_state *s, const r50_conv_desc *c,
                         const r50_conv_params *p, r50_error *err);
  r50_status (*set_linear)(r50_engine_state *s, const float *w, const float *b,
                           int64_t cout, int64_t cin, r50_error *err);

  /* Plan: R50_ACT_BUFS buffers of act_floats and one of vec_floats, kept between calls
   * (reserving what is already there allocates nothing). */
  r50_status (*reserve)(r50_engine_state *s, size_t act_floats, size_t vec_floats,
                        float *act[R50_ACT_BUFS], float **vec, r50_error *err);

  /* Host NCHW (n, c, h, w) into an activation (dst->data set by the caller, dims here)
   * and back. */
  void (*from_nchw)(r50_engine_state *s, const float *src, int64_t n, int64_t c,
                    int64_t h, int64_t w, r50_act *dst);
  void (*to_nchw)(r50_engine_state *s, const r50_act *src, float *dst);
  /* Engine vector memory to host memory, and back. */
  void (*vec_to_host)(r50_engine_state *s, const float *src, size_t n, float *dst);
  void (*vec_from_host)(r50_engine_state *s, const float *src, size_t n, float *dst);

  /* out = relu?(bn(conv(in)) + residual?), out->data given, dims set here; residual
   * (out's shape) may be NULL. */
  r50_status (*conv)(r50_engine_state *s, const r50_conv_desc *c, const r50_act *in,
                     r50_act *out, const r50_act *residual, int relu, r50_error *err);
  void (*maxpool)(r50_engine_state *s, const r50_pool_desc *p, const r50_act *in,
                  r50_act *out);
  /* Global average pooling into out (n, c). */
  void (*avgpool)(r50_engine_state *s, const r50_act *in, float *out);
  /* y (n, cout) = x (n, cin) W^T + b with set_linear's weights. */
  void (*linear)(r50_engine_state *s, const float *x, int64_t n, float *y);
  /* Row-wise softmax of x (n, c) into y. */
  void (*softmax)(r50_engine_state *s, const float *x, int64_t n, int64_t c, float *y);

  /* Training (filled by engines that can train, from the fine-tuning issue on; NULL
   * here means this engine cannot): forward in training mode keeping what backward
   * needs, backward into the model's gradient slab, zeroing and reading gradients,
   * and moving parameters to and from the engine's memory. */
  const struct r50_engine_train *train;
} r50_engine;

#endif

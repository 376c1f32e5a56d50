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
  /* 1 on an inference-only model (r50_model_inference_only): once the engine holds w
   * in memory of its own it may give w's pages back (r50_host_release) and must not
   * read w again; 0: w stays, as set_conv says. */
  int release;
} r50_conv_params;

/* Gives the whole pages inside [p, p + n) back to the system: they read as zeros
 * afterwards (an inference-only model's convolution weights, once its engine holds
 * them in a format of its own). */
void r50_host_release(const float *p, size_t n);

typedef struct r50_engine_state r50_engine_state; /* each engine's own */

/* The model's slabs: parameters, their gradients, BN averages and the optimizer's
 * velocity (floats; grads and velocity may be NULL: none yet). */
typedef struct r50_slabs {
  float *params, *grads, *persistent, *velocity; /* velocity: (n_params) */
  size_t n_params, n_persistent;
} r50_slabs;

/* A BatchNormalization in a training step. Pointers are in engine memory. */
typedef struct r50_bn_args {
  const float *gamma, *beta;      /* (cout) */
  float *avg_mean, *avg_var;      /* (cout) running averages */
  float *save_mean, *save_invstd; /* (cout) what backward needs, written by forward */
  double eps, decay;              /* Chainer's: 2e-5 and 0.9 */
  int frozen;                     /* normalise with the running averages, update none */
} r50_bn_args;

/* Training ops (the fine-tuning issue): driven by the training walk (core/train.c).
 * Activations are r50_act in engine memory as for inference; gradients of
 * parameters accumulate (+=) into the gradient slab. */
typedef struct r50_engine_train {
  /* The model's host slabs in engine memory (eng): the CPU engines use them in place
   * (eng = host); a device engine allocates its own (for each host slab that is not
   * NULL, once) and copies only when sync asks: the core decides what moves when
   * (core/engine_sync.c). Called before every step with the current host slabs. */
  r50_status (*bind)(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                     r50_error *err);
  /* Copies engine memory to the host slabs of the last bind (to_host) or back; what:
   * R50_SYNC_*. Returns when the copy is complete. */
  r50_status (*sync)(r50_engine_state *s, int to_host, int what, r50_error *err);
  /* Scratch for one step's activations and gradients, kept between calls. */
  r50_status (*reserve)(r50_engine_state *s, size_t floats, float **arena,
                        r50_error *err);
  void (*zero)(r50_engine_state *s, float *p, size_t n);

  /* z = conv(x; w) + b (b may be NULL): the convolution alone, no BN. */
  r50_status (*conv_forward)(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                             const float *b, const r50_act *x, r50_act *z,
                             r50_error *err);
  /* y = relu?(bn(z) + residual?); in training mode the batch's statistics, biased
   * variance, running averages updated with Chainer's unbiased m/(m-1) correction. */
  void (*bn_forward)(r50_engine_state *s, const r50_conv_desc *c, const r50_bn_args *a,
                     const r50_act *z, r50_act *y, const r50_act *residual, int relu);
  /* dz from dy (already masked by the ReLU); dgamma, dbeta accumulate (may be NULL). */
  void (*bn_backward)(r50_engine_state *s, const r50_conv_desc *c, const r50_bn_args *a,
                      const r50_act *z, const r50_act *dy, r50_act *dz, float *dgamma,
                      float *dbeta);
  /* dw, db (may be NULL) accumulate; dx (x's shape) is overwritten, or not made when
   * NULL. */
  r50_status (*conv_backward)(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                              const r50_act *x, const r50_act *dz, r50_act *dx, float *dw,
                              float *db, r50_error *err);
  /* dy *= (y > 0). */
  void (*relu_mask)(r50_engine_state *s, const r50_act *y, r50_act *dy);
  /* acc += g (same shape). */
  void (*add)(r50_engine_state *s, r50_act *acc, const r50_act *g);
  /* dx = the gradient of max pooling x: dy routed to each window's first maximum. */
  void (*maxpool_backward)(r50_engine_state *s, const r50_pool_desc *p, const r50_act *x,
                           const r50_act *dy, r50_act *dx);
  /* dx (n, c, h, w) = dy (n, c) / (h w). */
  void (*avgpool_backward)(r50_engine_state *s, const float *dy, r50_act *dx);
  /* y (n, cout) = x (n, cin) w^T + b. */
  void (*linear_forward)(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                         const float *w, const float *b, int64_t cout, float *y);
  /* dw, db accumulate (may be NULL); dx overwritten (may be NULL). */
  void (*linear_backward)(r50_engine_state *s, const float *x, const float *dy, int64_t n,
                          int64_t cin, const float *w, int64_t cout, float *dx, float *dw,
                          float *db);
  /* Chainer's softmax_cross_entropy: the mean over rows whose label (host) is >= 0;
   * dlogits = scale * d(mean)/dlogits; *loss the mean, *correct the top-1 hits,
   * *valid the rows counted. */
  void (*softmax_xent)(r50_engine_state *s, const float *logits, const int32_t *labels,
                       int64_t n, int64_t c, double scale, double *loss, int64_t *correct,
                       int64_t *valid, float *dlogits);
  /* MomentumSGD with WeightDecay over [p, p + n): g += rate p; v = mu v - lr g;
   * p += v. */
  void (*momentum_sgd)(r50_engine_state *s, float *p, float *g, float *v, size_t n,
                       double lr, double momentum, double weight_decay);
  /* The precisions it trains in besides fp32, as bits 1 << r50_precision (0: fp32
   * only). The slabs stay float32 whatever the precision. */
  unsigned precisions;
} r50_engine_train;

enum {
  R50_SYNC_PARAMS = 1,
  R50_SYNC_GRADS = 2,
  R50_SYNC_PERSISTENT = 4,
  R50_SYNC_STATE = 8
};

typedef struct r50_engine {
  const char *name; /* "reference", ... */

  r50_status (*create)(int threads, r50_engine_state **out, r50_error *err);
  void (*destroy)(r50_engine_state *s); /* NULL is a no-op */
  void (*set_threads)(r50_engine_state *s, int threads);
  /* Asks for a precision of inference convolutions; returns the one it will run
   * (R50_PRECISION_FP32 where it cannot do the one asked). NULL: FP32 only. */
  r50_precision (*set_precision)(r50_engine_state *s, r50_precision p);

  /* Inference parameters, (re)set whenever the model's change: conv `c` with its BN,
   * and the linear layer (w (cout, cin), b (cout), host memory). The pointers given
   * stay valid, and their data unchanged, until the next call for the same layer: an
   * engine may read them in place (but a conv's w where p->release says so). */
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

  /* Training ops; NULL: this engine cannot train. */
  const r50_engine_train *train;

  /* Device engines, whose ops run asynchronously (NULL on the CPU engines): status
   * reports (and clears) an error that a void op met since the last call; finish
   * waits until every op issued has completed (the layer hook's timing). */
  r50_status (*status)(r50_engine_state *s, r50_error *err);
  void (*finish)(r50_engine_state *s);
  /* The most one activation buffer may hold before the walk cuts a batch into
   * micro-batches (0: 32 MiB, the CPU's cache-friendly size; a GPU wants the batch). */
  int64_t act_buf_bytes;
} r50_engine;

#endif

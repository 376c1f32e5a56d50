/*
 * train_cuda.cu — the CUDA engine's training ops (engine.h's r50_engine_train):
 * convolution forward, backward-data and backward-filter on cuDNN, BatchNormalization
 * in training and frozen mode, pooling backward, the loss and MomentumSGD as kernels of
 * kernels_cuda.cu, fc6 on cuBLAS — on float32 NHWC activations in the arena the
 * training walk plans (core/train.c), and on the device copies of the model's slabs
 * that bind allocates and sync fills (core/engine_sync.c decides when).
 *
 * Rule: the slabs keep Chainer's layouts (OIHW weights) and float32 (the master
 * weights, gradients, BN statistics and optimizer state): a convolution's weights are
 * copied to KRSC, cuDNN's NHWC filter layout, in the activations' type (bfloat16 with
 * --precision bf16) before its forward (the copy is what its backward-data uses; a
 * float 1x1's layouts are the same, and it is used in place), and its weight gradient,
 * computed KRSC in that type into a scratch buffer, is added into the float OIHW
 * gradient slab. With bf16 the activations and their gradients in the arena are
 * bfloat16; BatchNormalization's statistics, fc6 and the loss are float32.
 */
#include <cstdio>
#include <cstring>

#include "context_cuda.h"
#include "engine_cuda.h"
#include "error.h"

namespace {

void on_device(r50_engine_state *s) {
  r50_cuda_note(s, cudaSetDevice(s->device), "cudaSetDevice");
}

/* A failure of a void op: kept for the next status. */
void note(r50_engine_state *s, const r50_error *err) {
  if (!s->error[0])
    snprintf(s->error, sizeof s->error, "%s", err->msg);
}

#define GROW(ptr, bytes, need, what, err)                                                \
  r50_cuda_grow((void **)&(ptr), &(bytes), (need), (what), (err))

r50_status alloc_slab(float **p, size_t floats, const char *what, r50_error *err) {
  if (*p)
    return R50_OK;
  size_t bytes = 0;
  return GROW(*p, bytes, floats * sizeof(float), what, err);
}

r50_status t_bind(r50_engine_state *s, const r50_slabs *host, r50_slabs *eng,
                  r50_error *err) {
  on_device(s);
  s->host = *host;
  s->dev.n_params = host->n_params, s->dev.n_persistent = host->n_persistent;
  R50_TRY(alloc_slab(&s->dev.params, host->n_params, "the parameters", err));
  R50_TRY(alloc_slab(&s->dev.persistent, host->n_persistent, "the BN statistics", err));
  if (host->grads)
    R50_TRY(alloc_slab(&s->dev.grads, host->n_params, "the gradients", err));
  if (host->velocity)
    R50_TRY(alloc_slab(&s->dev.velocity, host->n_params, "the optimizer state", err));
  *eng = s->dev;
  return R50_OK;
}

r50_status copy(r50_engine_state *s, float *host, float *dev, size_t n, int to_host,
                r50_error *err) {
  if (!host || !dev)
    return R50_OK;
  if (to_host)
    R50_CUDA_CHECK(
        cudaMemcpyAsync(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost, s->stream),
        err);
  else
    R50_CUDA_CHECK(
        cudaMemcpyAsync(dev, host, n * sizeof(float), cudaMemcpyHostToDevice, s->stream),
        err);
  return R50_OK;
}

r50_status t_sync(r50_engine_state *s, int to_host, int what, r50_error *err) {
  on_device(s);
  R50_PROF(s, "slab copies (sync)");
  const size_t np = s->host.n_params, nq = s->host.n_persistent;
  if (what & R50_SYNC_PARAMS)
    R50_TRY(copy(s, s->host.params, s->dev.params, np, to_host, err));
  if (what & R50_SYNC_GRADS)
    R50_TRY(copy(s, s->host.grads, s->dev.grads, np, to_host, err));
  if (what & R50_SYNC_PERSISTENT)
    R50_TRY(copy(s, s->host.persistent, s->dev.persistent, nq, to_host, err));
  if (what & R50_SYNC_STATE)
    R50_TRY(copy(s, s->host.velocity, s->dev.velocity, np, to_host, err));
  R50_CUDA_CHECK(cudaStreamSynchronize(s->stream), err);
  return r50_cuda_take_error(s, err);
}

r50_status t_reserve(r50_engine_state *s, size_t floats, float **arena, r50_error *err) {
  on_device(s);
  R50_TRY(GROW(s->arena, s->arena_bytes, floats * sizeof(float),
               "the training arena (lower "
               "--batch)",
               err));
  *arena = s->arena;
  return R50_OK;
}

void t_zero(r50_engine_state *s, float *p, size_t n) {
  on_device(s);
  R50_PROF(s, "zero");
  r50_cuda_note(s, cudaMemsetAsync(p, 0, n * sizeof(float), s->stream),
                "cudaMemsetAsync");
}

/* Conv c's weights w (OIHW float, device) as cuDNN takes them: KRSC in the activations'
 * type — a copy, made when refresh is set (each forward: the weights change every
 * step), or w itself for a float 1x1. */
r50_status krsc(r50_engine_state *s, const r50_conv_desc *c, const float *w, int refresh,
                const void **out, r50_error *err) {
  if (c->ksize == 1 && s->act == R50_CUDA_F32) {
    *out = w;
    return R50_OK;
  }
  if (c->id >= s->n_krsc) {
    void **k = (void **)realloc(s->krsc, (size_t)(c->id + 1) * sizeof *k);
    size_t *kb =
        k ? (size_t *)realloc(s->krsc_bytes, (size_t)(c->id + 1) * sizeof *kb) : NULL;
    if (k)
      s->krsc = k;
    if (!k || !kb)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    s->krsc_bytes = kb;
    for (int i = s->n_krsc; i <= c->id; i++)
      s->krsc[i] = NULL, s->krsc_bytes[i] = 0;
    s->n_krsc = c->id + 1;
  }
  const int64_t n = (int64_t)c->cout * c->cin * c->ksize * c->ksize;
  R50_TRY(GROW(s->krsc[c->id], s->krsc_bytes[c->id],
               (size_t)n * r50_cuda_dtype_size(s->act), "KRSC weights", err));
  if (refresh)
    r50k_oihw_to_krsc(w, s->krsc[c->id], s->act, c->cout, c->cin, c->ksize, s->stream);
  *out = s->krsc[c->id];
  return R50_OK;
}

r50_status t_conv_forward(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                          const float *b, const r50_act *x, r50_act *z, r50_error *err) {
  on_device(s);
  const void *wk = NULL;
  r50_cuda_prof_begin(s);
  R50_TRY(krsc(s, c, w, 1, &wk, err));
  r50_cuda_prof_end(s, "conv forward: weights to KRSC");
  r50_cuda_plan *p;
  R50_TRY(r50_cuda_plan_get(s, c, x->n, x->h, x->w, s->act, r50_cuda_math(s->precision),
                            &p, err));
  *z = (r50_act){z->data, c->cout, x->n, p->ho, p->wo};
  R50_TRY(r50_cuda_conv_forward(s, p, x->data, wk, z->data, err));
  R50_PROF(s, "conv forward: bias");
  if (b)
    r50k_epilogue(z->data, s->act, b, NULL, 0, r50_act_numel(z), c->cout, s->stream);
  return r50_cuda_take_error(s, err);
}

double *bn_work(r50_engine_state *s, int64_t m, int64_t c) {
  r50_error err;
  if (GROW(s->bn_work, s->bn_work_bytes, r50k_bn_work_doubles(m, c) * sizeof(double),
           "BN statistics", &err) != R50_OK) {
    note(s, &err);
    return NULL;
  }
  return s->bn_work;
}

void t_bn_forward(r50_engine_state *s, const r50_conv_desc *c, const r50_bn_args *a,
                  const r50_act *z, r50_act *y, const r50_act *residual, int relu) {
  (void)c;
  on_device(s);
  R50_PROF(s, "BN forward");
  *y = (r50_act){y->data, z->c, z->n, z->h, z->w};
  const int64_t m = z->n * z->h * z->w;
  double *work = bn_work(s, m, z->c);
  if (!work)
    return;
  r50k_bn_forward(z->data, y->data, residual ? residual->data : NULL, s->act, relu, m,
                  z->c, a->gamma, a->beta, a->avg_mean, a->avg_var, a->save_mean,
                  a->save_invstd, a->eps, a->decay, a->frozen, work, s->stream);
}

void t_bn_backward(r50_engine_state *s, const r50_conv_desc *c, const r50_bn_args *a,
                   const r50_act *z, const r50_act *dy, r50_act *dz, float *dgamma,
                   float *dbeta) {
  (void)c;
  on_device(s);
  R50_PROF(s, "BN backward");
  *dz = (r50_act){dz->data, z->c, z->n, z->h, z->w};
  const int64_t m = z->n * z->h * z->w;
  double *work = bn_work(s, m, z->c);
  if (!work)
    return;
  r50k_bn_backward(z->data, dy->data, dz->data, s->act, m, z->c, a->gamma, a->save_mean,
                   a->save_invstd, a->frozen, dgamma, dbeta, work, s->stream);
}

r50_status t_conv_backward(r50_engine_state *s, const r50_conv_desc *c, const float *w,
                           const r50_act *x, const r50_act *dz, r50_act *dx, float *dw,
                           float *db, r50_error *err) {
  on_device(s);
  r50_cuda_plan *p;
  R50_TRY(r50_cuda_plan_get(s, c, x->n, x->h, x->w, s->act, r50_cuda_math(s->precision),
                            &p, err));
  if (dx) {
    *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
    const void *wk = NULL;
    R50_TRY(krsc(s, c, w, 0, &wk, err)); /* as the forward of this step left it */
    R50_TRY(r50_cuda_conv_backward_data(s, p, wk, dz->data, dx->data, err));
  }
  if (dw) {
    const int64_t n = (int64_t)c->cout * c->cin * c->ksize * c->ksize;
    R50_TRY(GROW(s->dw, s->dw_bytes, (size_t)n * r50_cuda_dtype_size(s->act),
                 "a weight gradient", err));
    R50_TRY(r50_cuda_conv_backward_filter(s, p, x->data, dz->data, s->dw, err));
    r50_cuda_prof_begin(s);
    /* (the 1x1's KRSC is its OIHW: the same additions) */
    r50k_krsc_add_to_oihw(s->dw, s->act, dw, c->cout, c->cin, c->ksize, s->stream);
    r50_cuda_prof_end(s, "conv backward filter: add");
  }
  if (db) { /* conv1's bias: n h w rows */
    R50_PROF(s, "conv backward: bias");
    const int64_t m = dz->n * dz->h * dz->w;
    double *work = bn_work(s, m, c->cout);
    if (work)
      r50k_column_sums_tall(dz->data, s->act, m, c->cout, db, work, s->stream);
  }
  return r50_cuda_take_error(s, err);
}

void t_relu_mask(r50_engine_state *s, const r50_act *y, r50_act *dy) {
  on_device(s);
  R50_PROF(s, "ReLU backward");
  r50k_relu_mask(y->data, dy->data, s->act, r50_act_numel(y), s->stream);
}

void t_add(r50_engine_state *s, r50_act *acc, const r50_act *g) {
  on_device(s);
  R50_PROF(s, "add");
  r50k_add(acc->data, g->data, s->act, r50_act_numel(acc), s->stream);
}

void t_maxpool_backward(r50_engine_state *s, const r50_pool_desc *p, const r50_act *x,
                        const r50_act *dy, r50_act *dx) {
  on_device(s);
  R50_PROF(s, "max pooling backward");
  *dx = (r50_act){dx->data, x->c, x->n, x->h, x->w};
  r50_error err;
  if (p->ksize > 16) { /* (a window's place must fit in a byte) */
    r50_fail(&err, R50_ERR_UNSUPPORTED,
             "max pooling backward: a %dx%d window (at most 16x16)", p->ksize, p->ksize);
    note(s, &err);
    return;
  }
  if (GROW(s->pool_arg, s->pool_arg_bytes, (size_t)r50_act_numel(dy),
           "max pooling's choices", &err) != R50_OK) {
    note(s, &err);
    return;
  }
  r50k_maxpool_backward(x->data, dy->data, dx->data, (uint8_t *)s->pool_arg, s->act, x->n,
                        x->c, x->h, x->w, dy->h, dy->w, p->ksize, p->stride, p->pad,
                        s->stream);
}

void t_avgpool_backward(r50_engine_state *s, const float *dy, r50_act *dx) {
  on_device(s);
  R50_PROF(s, "average pooling backward");
  r50k_avgpool_backward(dy, dx->data, s->act, dx->n, dx->c, dx->h * dx->w, s->stream);
}

void t_linear_forward(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                      const float *w, const float *b, int64_t cout, float *y) {
  R50_PROF(s, "fc6 forward");
  r50_cuda_linear(s, x, n, cin, w, b, cout, y);
}

void t_linear_backward(r50_engine_state *s, const float *x, const float *dy, int64_t n,
                       int64_t cin, const float *w, int64_t cout, float *dx, float *dw,
                       float *db) {
  on_device(s);
  R50_PROF(s, "fc6 backward");
  const float one = 1.0f, zero = 0.0f;
  /* column-major: dW^T (cin x cout) += x^T (cin x n) dy (n x cout); dx^T = W^T dy^T */
  if (dw &&
      r50_cublas()->sgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)cin, (int)cout, (int)n,
                          &one, x, (int)cin, dy, (int)cout, &one, dw,
                          (int)cin) != CUBLAS_STATUS_SUCCESS &&
      !s->error[0])
    snprintf(s->error, sizeof s->error, "cublasSgemm (fc6 weight gradient) failed");
  if (db)
    r50k_column_sums(dy, n, cout, db, s->stream);
  if (dx &&
      r50_cublas()->sgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)cin, (int)n, (int)cout,
                          &one, w, (int)cin, dy, (int)cout, &zero, dx,
                          (int)cin) != CUBLAS_STATUS_SUCCESS &&
      !s->error[0])
    snprintf(s->error, sizeof s->error, "cublasSgemm (fc6 input gradient) failed");
}

void t_softmax_xent(r50_engine_state *s, const float *logits, const int32_t *labels,
                    int64_t n, int64_t c, double scale, double *loss, int64_t *correct,
                    int64_t *valid, float *dlogits) {
  on_device(s);
  R50_PROF(s, "loss");
  *loss = 0, *correct = 0, *valid = 0;
  int64_t counted = 0;
  for (int64_t i = 0; i < n; i++)
    counted += labels[i] >= 0 && labels[i] < c;
  r50_error err;
  size_t lb = s->rows_cap * sizeof(int32_t), db = s->rows_cap * sizeof(double),
         hb = s->rows_cap * sizeof(int);
  if ((size_t)n > s->rows_cap) {
    if (GROW(s->labels, lb, (size_t)n * sizeof(int32_t), "labels", &err) != R50_OK ||
        GROW(s->loss, db, (size_t)n * sizeof(double), "losses", &err) != R50_OK ||
        GROW(s->hit, hb, (size_t)n * sizeof(int), "hits", &err) != R50_OK) {
      note(s, &err);
      return;
    }
    s->rows_cap = (size_t)n;
  }
  r50_cuda_note(s,
                cudaMemcpyAsync(s->labels, labels, (size_t)n * sizeof(int32_t),
                                cudaMemcpyHostToDevice, s->stream),
                "copying labels to the GPU");
  r50k_xent(logits, s->labels, n, c, counted ? scale / (double)counted : 0, dlogits,
            s->loss, s->hit, s->stream);
  double *row_loss = (double *)malloc((size_t)n * sizeof(double));
  int *row_hit = (int *)malloc((size_t)n * sizeof(int));
  if (!row_loss || !row_hit) {
    free(row_loss), free(row_hit);
    snprintf(s->error, sizeof s->error, "out of memory for %lld losses", (long long)n);
    return;
  }
  r50_cuda_note(s,
                cudaMemcpyAsync(row_loss, s->loss, (size_t)n * sizeof(double),
                                cudaMemcpyDeviceToHost, s->stream),
                "copying the loss from the GPU");
  r50_cuda_note(s,
                cudaMemcpyAsync(row_hit, s->hit, (size_t)n * sizeof(int),
                                cudaMemcpyDeviceToHost, s->stream),
                "copying the loss from the GPU");
  r50_cuda_note(s, cudaStreamSynchronize(s->stream), "waiting for the GPU");
  double total = 0;
  int64_t hits = 0;
  for (int64_t i = 0; i < n; i++)
    total += row_loss[i], hits += row_hit[i];
  free(row_loss), free(row_hit);
  *loss = counted ? total / (double)counted : 0;
  *correct = hits;
  *valid = counted;
}

void t_momentum_sgd(r50_engine_state *s, float *p, float *g, float *v, size_t n,
                    double lr, double momentum, double weight_decay) {
  on_device(s);
  R50_PROF(s, "MomentumSGD");
  r50k_momentum(p, g, v, (int64_t)n, (float)lr, (float)momentum, (float)weight_decay,
                s->stream);
}

} /* namespace */

/* Positional, constant-initialised (see engine_cuda.cu). */
extern "C" const r50_engine_train r50_cuda_train = {
    t_bind,
    t_sync,
    t_reserve,
    t_zero,
    t_conv_forward,
    t_bn_forward,
    t_bn_backward,
    t_conv_backward,
    t_relu_mask,
    t_add,
    t_maxpool_backward,
    t_avgpool_backward,
    t_linear_forward,
    t_linear_backward,
    t_softmax_xent,
    t_momentum_sgd,
    (1u << R50_PRECISION_FP32) | (1u << R50_PRECISION_TF32) | (1u << R50_PRECISION_BF16)};

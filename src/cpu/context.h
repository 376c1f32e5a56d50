/*
 * context.h — the reference CPU engine's context: its thread count and every
 * workspace its kernels use.
 *
 * Rule: no hidden globals; the context belongs to one engine state and is passed by
 * pointer to the kernels. Workspaces grow on demand and are kept between calls, so
 * steady-state forwards allocate nothing.
 */
#ifndef R50_CPU_CONTEXT_H
#define R50_CPU_CONTEXT_H

#include <stddef.h>

#include "engine.h"
#include "r50.h"

typedef struct r50_cpu_ctx {
  int threads;
  float *act[R50_ACT_BUFS]; /* activation buffers, each act_cap floats */
  size_t act_cap;
  float *vec; /* vec_cap floats */
  size_t vec_cap;
  float **col;    /* (threads) per-thread im2col chunk buffers */
  size_t col_cap; /* floats per thread buffer */
  int col_threads;
  float **work; /* (threads) per-thread training workspaces */
  size_t work_cap;
  int work_threads;
  float *arena; /* a training step's activations and gradients */
  size_t arena_cap;
  float *zeros; /* zeros_cap zeros: the bias of a conv that has none */
  size_t zeros_cap;
} r50_cpu_ctx;

void r50_cpu_ctx_init(r50_cpu_ctx *c, int threads);
void r50_cpu_ctx_release(r50_cpu_ctx *c);
/* Ensures R50_ACT_BUFS buffers of at least n floats and a vector buffer of v. */
r50_status r50_cpu_ctx_reserve(r50_cpu_ctx *c, size_t n, size_t v, r50_error *err);
/* Ensures one col buffer of at least n floats per thread. */
r50_status r50_cpu_ctx_reserve_col(r50_cpu_ctx *c, size_t n, r50_error *err);
/* Ensures one training workspace of at least n floats per thread. */
r50_status r50_cpu_ctx_reserve_work(r50_cpu_ctx *c, size_t n, r50_error *err);
/* Ensures the training arena holds n floats. */
r50_status r50_cpu_ctx_reserve_arena(r50_cpu_ctx *c, size_t n, r50_error *err);
/* n zeros. */
const float *r50_cpu_ctx_zeros(r50_cpu_ctx *c, size_t n, r50_error *err);

#endif

/*
 * ctx.h — the compute context: every handle and workspace a forward pass uses.
 *
 * Rule: no hidden globals; the context is owned by its model and passed by pointer to
 * the kernels. Workspaces grow on demand and are kept between calls, so steady-state
 * forwards allocate nothing.
 */
#ifndef R50_CTX_H
#define R50_CTX_H

#include <stddef.h>

#include "r50.h"

#define R50_ACT_BUFS 5

typedef struct r50_ctx {
  int threads;
  float *act[R50_ACT_BUFS]; /* activation buffers, each act_cap floats */
  size_t act_cap;
  float **col;              /* (threads) per-thread im2col chunk buffers */
  size_t col_cap;           /* floats per thread buffer */
  int col_threads;
} r50_ctx;

void r50_ctx_init(r50_ctx *c, int threads);
void r50_ctx_release(r50_ctx *c);
/* Ensures R50_ACT_BUFS buffers of at least n floats. */
r50_status r50_ctx_reserve_act(r50_ctx *c, size_t n, r50_error *err);
/* Ensures one col buffer of at least n floats per thread. */
r50_status r50_ctx_reserve_col(r50_ctx *c, size_t n, r50_error *err);

#endif

/*
 * ops_cpu.h — the CPU kernels of the forward pass.
 *
 * Rule: activations inside the engine are "CNHW": channel-major, then image, row,
 * column — a (C, N*H*W) matrix — so a 1x1 convolution over the whole batch is one
 * GEMM with no copy. Conversion to Chainer's NCHW happens only for returned outputs.
 * Every kernel parallelises itself over ctx->threads with OpenMP and calls BLAS only
 * inside its own parallel region (BLAS then runs single-threaded: no oversubscription).
 */
#ifndef R50_OPS_CPU_H
#define R50_OPS_CPU_H

#include <stdint.h>

#include "arch.h"
#include "ctx.h"

/* A CNHW activation. */
typedef struct r50_act {
  float *data; /* (c, n, h, w) */
  int64_t c, n, h, w;
} r50_act;

static inline int64_t r50_act_numel(const r50_act *a) {
  return a->c * a->n * a->h * a->w;
}

/* out = relu?(conv(in; wf, bf) + residual?). out->data must hold the output; its
 * shape is set here. residual (same shape as out, CNHW) may be NULL. */
r50_status r50_conv_cpu(r50_ctx *ctx, const r50_conv_desc *c, const float *folded,
                        const r50_act *in, r50_act *out, const float *residual, int relu,
                        r50_error *err);

/* Max pooling 3x3 stride 2, pad 0, cover_all (ceil) as Chainer's max_pooling_2d. */
void r50_maxpool_cpu(const r50_ctx *ctx, const r50_act *in, r50_act *out);

/* Global average pooling: out (n, c) row-major. */
void r50_avgpool_cpu(const r50_ctx *ctx, const r50_act *in, float *out);

/* y (n, cout) = x (n, cin) W^T + b, with W (cout, cin) row-major. */
void r50_linear_cpu(const r50_ctx *ctx, const float *x, int64_t n, int64_t cin,
                    const float *w, const float *b, int64_t cout, float *y);

/* Row-wise softmax of x (n, c) into y. */
void r50_softmax_cpu(const r50_ctx *ctx, const float *x, int64_t n, int64_t c, float *y);

/* NCHW (n, c, h, w) -> CNHW, and back. */
void r50_nchw_to_cnhw(const r50_ctx *ctx, const float *src, r50_act *dst);
void r50_cnhw_to_nchw(const r50_ctx *ctx, const r50_act *src, float *dst);

#endif

/*
 * ops_cpu.h — the kernels of the reference CPU engine (OpenBLAS).
 *
 * Rule: activations inside the engine are "CNHW": channel-major, then image, row,
 * column — a (C, N*H*W) matrix — so a 1x1 convolution over the whole batch is one
 * GEMM with no copy. Conversion to Chainer's NCHW happens only for returned outputs.
 * Every kernel parallelises itself over ctx->threads with OpenMP and calls BLAS only
 * inside its own parallel region (BLAS then runs single-threaded: no oversubscription),
 * and splits its work by image and fixed shapes only, so an image's result never
 * depends on the batch or the thread count.
 */
#ifndef R50_OPS_CPU_H
#define R50_OPS_CPU_H

#include <stdint.h>

#include "context.h"
#include "engine.h"
#include "table.h"

/* wf (cout, cin*k*k), bf (cout): the BatchNormalization of p folded into c. */
void r50_fold_bn(const r50_conv_desc *c, const r50_conv_params *p, float *wf, float *bf);

/* out = relu?(conv(in; wf, bf) + residual?). out->data must hold the output; its
 * shape is set here. residual (CNHW, out's shape) may be NULL. */
r50_status r50_conv_cpu(r50_cpu_ctx *ctx, const r50_conv_desc *c, const float *wf,
                        const float *bf, const r50_act *in, r50_act *out,
                        const float *residual, int relu, r50_error *err);

/* Max pooling as Chainer's max_pooling_2d (cover_all: ceil mode; padding never wins). */
void r50_maxpool_cpu(const r50_cpu_ctx *ctx, const r50_pool_desc *p, const r50_act *in,
                     r50_act *out);

/* Global average pooling: out (n, c) row-major. */
void r50_avgpool_cpu(const r50_cpu_ctx *ctx, const r50_act *in, float *out);

/* y (n, cout) = x (n, cin) W^T + b, with W (cout, cin) row-major. */
void r50_linear_cpu(const r50_cpu_ctx *ctx, const float *x, int64_t n, int64_t cin,
                    const float *w, const float *b, int64_t cout, float *y);

/* Row-wise softmax of x (n, c) into y. */
void r50_softmax_cpu(const r50_cpu_ctx *ctx, const float *x, int64_t n, int64_t c,
                     float *y);

/* NCHW (n, c, h, w) -> CNHW, and back. */
void r50_nchw_to_cnhw(const r50_cpu_ctx *ctx, const float *src, r50_act *dst);
void r50_cnhw_to_nchw(const r50_cpu_ctx *ctx, const r50_act *src, float *dst);

#endif

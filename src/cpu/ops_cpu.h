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

/* How a convolution's output columns are cut into SGEMMs: within each image (the
 * batch-invariant inference rule), or across the batch (training; conv_cpu.c). */
typedef enum { R50_CONV_PER_IMAGE, R50_CONV_BATCH } r50_conv_chunks;

/* out = relu?(conv(in; wf, bf) + residual?). out->data must hold the output; its
 * shape is set here. residual (CNHW, out's shape) may be NULL. */
r50_status r50_conv_cpu(r50_cpu_ctx *ctx, const r50_conv_desc *c, const float *wf,
                        const float *bf, const r50_act *in, r50_act *out,
                        const float *residual, int relu, r50_conv_chunks chunks,
                        r50_error *err);

/* col (K = in->c*k*k, nj) for output columns [j0, j0+nj) of a k x k / stride s / pad p
 * convolution with output ho x wo per image. */
void r50_im2col(const r50_act *in, int k, int s, int p, int64_t ho, int64_t wo,
                int64_t j0, int64_t nj, float *col);
/* Image img's part of dx (CNHW, dims set) from its column gradients col (K rows of
 * ho*wo, row stride ldcol): overwritten, then summed over the windows that cover each
 * pixel. */
void r50_col2im_image(const float *col, int64_t ldcol, int64_t img, int k, int s, int p,
                      int64_t ho, int64_t wo, r50_act *dx);

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

/* Training (train_cpu.c): see engine.h's r50_engine_train for the contracts. */

/* The layout of BN's operands, as groups of `lanes` channels: channel g*lanes + l of
 * image i at pixel p is element g*group + i*image + p*lanes + l. The reference
 * engine's CNHW is lanes 1, group N*H*W, image H*W (r50_groups_cnhw); nChw16c is
 * lanes 16, group H*W*16, image C*H*W. */
#define R50_MAX_LANES 16
typedef struct r50_groups {
  int64_t lanes, group, image;
} r50_groups;
r50_groups r50_groups_cnhw(const r50_act *a);

void r50_bn_forward_cpu(const r50_cpu_ctx *ctx, const r50_groups *gl,
                        const r50_bn_args *a, const r50_act *z, r50_act *y,
                        const float *residual, int relu);
void r50_bn_backward_cpu(const r50_cpu_ctx *ctx, const r50_groups *gl,
                         const r50_bn_args *a, const r50_act *z, const r50_act *dy,
                         r50_act *dz, float *dgamma, float *dbeta);
r50_status r50_conv_backward_cpu(r50_cpu_ctx *ctx, const r50_conv_desc *c, const float *w,
                                 const r50_act *x, const r50_act *dz, r50_act *dx,
                                 float *dw, float *db, r50_error *err);
void r50_relu_mask_cpu(const r50_cpu_ctx *ctx, const r50_act *y, r50_act *dy);
void r50_add_cpu(const r50_cpu_ctx *ctx, r50_act *acc, const r50_act *g);
void r50_maxpool_backward_cpu(const r50_cpu_ctx *ctx, const r50_pool_desc *p,
                              const r50_act *x, const r50_act *dy, r50_act *dx);
void r50_avgpool_backward_cpu(const r50_cpu_ctx *ctx, const float *dy, r50_act *dx);
void r50_linear_backward_cpu(const r50_cpu_ctx *ctx, const float *x, const float *dy,
                             int64_t n, int64_t cin, const float *w, int64_t cout,
                             float *dx, float *dw, float *db);
void r50_softmax_xent_cpu(const r50_cpu_ctx *ctx, const float *logits,
                          const int32_t *labels, int64_t n, int64_t c, double scale,
                          double *loss, int64_t *correct, int64_t *valid, float *dlogits);
void r50_momentum_sgd_cpu(const r50_cpu_ctx *ctx, float *p, float *g, float *v, size_t n,
                          double lr, double momentum, double weight_decay);

/* NCHW (n, c, h, w) -> CNHW, and back. */
void r50_nchw_to_cnhw(const r50_cpu_ctx *ctx, const float *src, r50_act *dst);
void r50_cnhw_to_nchw(const r50_cpu_ctx *ctx, const r50_act *src, float *dst);

#endif

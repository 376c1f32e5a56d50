/*
 * layout_cpu.c — conversion between Chainer's NCHW and the engine's CNHW.
 */
#include <string.h>

#include "ops_cpu.h"

void r50_nchw_to_cnhw(const r50_cpu_ctx *ctx, const float *src, r50_act *dst) {
  const int64_t hw = dst->h * dst->w;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t c = 0; c < dst->c; c++)
    for (int64_t n = 0; n < dst->n; n++)
      memcpy(dst->data + (c * dst->n + n) * hw, src + (n * dst->c + c) * hw,
             (size_t)hw * sizeof(float));
}

void r50_cnhw_to_nchw(const r50_cpu_ctx *ctx, const r50_act *src, float *dst) {
  const int64_t hw = src->h * src->w;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t c = 0; c < src->c; c++)
    for (int64_t n = 0; n < src->n; n++)
      memcpy(dst + (n * src->c + c) * hw, src->data + (c * src->n + n) * hw,
             (size_t)hw * sizeof(float));
}

/*
 * pool_cpu.c — max pooling (pool1: 3x3/2, pad 0, cover_all) and global average
 * pooling (pool5).
 *
 * Rule: windows that run past an edge (padding, or cover_all's ceil mode) take the max
 * over the part inside the image, as Chainer's max_pooling_2d pads with -inf.
 */
#include <float.h>

#include "ops_cpu.h"

void r50_maxpool_cpu(const r50_cpu_ctx *ctx, const r50_pool_desc *p, const r50_act *in,
                     r50_act *out) {
  const int k = p->ksize, s = p->stride, pad = p->pad;
  const int64_t ho = r50_out_size(in->h, k, s, pad, p->cover_all),
                wo = r50_out_size(in->w, k, s, pad, p->cover_all);
  *out = (r50_act){out->data, in->c, in->n, ho, wo};
  const int64_t planes = in->c * in->n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *src = in->data + pl * in->h * in->w;
    float *dst = out->data + pl * ho * wo;
    for (int64_t oy = 0; oy < ho; oy++) {
      int64_t y0 = oy * s - pad, y1 = y0 + k < in->h ? y0 + k : in->h;
      y0 = y0 < 0 ? 0 : y0;
      for (int64_t ox = 0; ox < wo; ox++) {
        int64_t x0 = ox * s - pad, x1 = x0 + k < in->w ? x0 + k : in->w;
        x0 = x0 < 0 ? 0 : x0;
        float m = -FLT_MAX;
        for (int64_t y = y0; y < y1; y++)
          for (int64_t x = x0; x < x1; x++)
            m = src[y * in->w + x] > m ? src[y * in->w + x] : m;
        dst[oy * wo + ox] = m;
      }
    }
  }
}

void r50_avgpool_cpu(const r50_cpu_ctx *ctx, const r50_act *in, float *out) {
  const int64_t hw = in->h * in->w;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t c = 0; c < in->c; c++) {
    for (int64_t n = 0; n < in->n; n++) {
      const float *src = in->data + (c * in->n + n) * hw;
      double sum = 0.0;
      for (int64_t i = 0; i < hw; i++)
        sum += src[i];
      out[n * in->c + c] = (float)(sum / (double)hw);
    }
  }
}

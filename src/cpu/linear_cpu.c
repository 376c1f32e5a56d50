/*
 * linear_cpu.c — fc6 (linear layer) and prob (softmax).
 *
 * Rule: each output is one dot product summed in a fixed order (16 partial sums, then
 * those in order), so an image's fc6 does not depend on the batch or thread count —
 * a BLAS call would round differently for different batch sizes on some CPUs.
 */
#include <math.h>

#include "ops_cpu.h"

#define LANES 16

static float dot(const float *a, const float *b, int64_t n) {
  float acc[LANES] = {0};
  int64_t k = 0;
  for (; k + LANES <= n; k += LANES)
    for (int j = 0; j < LANES; j++)
      acc[j] += a[k + j] * b[k + j];
  for (; k < n; k++)
    acc[k % LANES] += a[k] * b[k];
  float sum = 0.0f;
  for (int j = 0; j < LANES; j++)
    sum += acc[j];
  return sum;
}

void r50_linear_cpu(const r50_cpu_ctx *ctx, const float *x, int64_t n, int64_t cin,
                    const float *w, const float *b, int64_t cout, float *y) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) collapse(2)
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < cout; o++)
      y[i * cout + o] = dot(x + i * cin, w + o * cin, cin) + b[o];
}

void r50_softmax_cpu(const r50_cpu_ctx *ctx, const float *x, int64_t n, int64_t c,
                     float *y) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float *xi = x + i * c;
    float *yi = y + i * c;
    float m = xi[0];
    for (int64_t j = 1; j < c; j++)
      m = xi[j] > m ? xi[j] : m;
    double sum = 0.0;
    for (int64_t j = 0; j < c; j++) {
      yi[j] = expf(xi[j] - m);
      sum += yi[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < c; j++)
      yi[j] *= inv;
  }
}

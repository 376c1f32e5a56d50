/*
 * linear_cpu.c — fc6 (linear layer) and prob (softmax).
 *
 * The output features are split across threads; each thread runs one single-threaded
 * SGEMM on its slice of W.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>

#include "ops_cpu.h"

void r50_linear_cpu(const r50_ctx *ctx, const float *x, int64_t n, int64_t cin,
                    const float *w, const float *b, int64_t cout, float *y) {
  const int threads = ctx->threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t o0 = cout * t / nt, o1 = cout * (t + 1) / nt;
    if (o1 > o0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(o1 - o0),
                  (int)cin, 1.0f, x, (int)cin, w + o0 * cin, (int)cin, 0.0f, y + o0,
                  (int)cout);
      for (int64_t i = 0; i < n; i++)
        for (int64_t o = o0; o < o1; o++)
          y[i * cout + o] += b[o];
    }
  }
}

void r50_softmax_cpu(const r50_ctx *ctx, const float *x, int64_t n, int64_t c, float *y) {
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

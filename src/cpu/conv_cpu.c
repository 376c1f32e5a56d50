/*
 * conv_cpu.c — convolution + folded BN (+ residual) (+ ReLU) on the CPU.
 *
 * Each image's Ho*Wo output columns are cut into chunks, one task each: the task builds
 * the chunk's im2col block in its thread's buffer (skipped for a 1x1 stride-1
 * convolution, which reads its input in place), multiplies it by the folded weights
 * with one single-threaded SGEMM, and applies bias, residual and ReLU while the chunk
 * is still in cache. Rule: the chunking of an image depends only on its own shape, so
 * its results do not change with batch size, position in the batch or thread count.
 * Training (R50_CONV_BATCH) cuts the whole batch's columns instead, chunks crossing
 * images, so small images (a 1x1 res5 at 32x32 input) still make wide SGEMMs that read
 * the weights once per chunk, not once per image: its results depend on the batch
 * (as BN's batch statistics do anyway), never on the thread count.
 */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "error.h"
#include "ops_cpu.h"

/* Column chunks never cross an image and their width depends only on the image's
 * output size p = ho * wo, so every SGEMM an image's columns go through has the same
 * shape and the same column positions whatever the batch and thread count. That is
 * what makes the engine batch-invariant: OpenBLAS's kernels (the Zen ones, for one)
 * round differently for different N. */
static int64_t chunk_width(int64_t p) {
  const int64_t chunks = (p + 1023) / 1024;
  return (p + chunks - 1) / chunks;
}

/* y (cout rows of stride ldy, nj columns) += bias, + residual, then ReLU. */
static void epilogue(float *y, int64_t ldy, int64_t cout, int64_t nj, const float *bias,
                     const float *res, int relu) {
  for (int64_t o = 0; o < cout; o++) {
    float *row = y + o * ldy;
    const float *rrow = res ? res + o * ldy : NULL;
    const float b = bias[o];
    if (rrow && relu) {
      for (int64_t j = 0; j < nj; j++) {
        float v = row[j] + b + rrow[j];
        row[j] = v > 0.0f ? v : 0.0f;
      }
    } else if (relu) {
      for (int64_t j = 0; j < nj; j++) {
        float v = row[j] + b;
        row[j] = v > 0.0f ? v : 0.0f;
      }
    } else if (rrow) {
      for (int64_t j = 0; j < nj; j++)
        row[j] += b + rrow[j];
    } else {
      for (int64_t j = 0; j < nj; j++)
        row[j] += b;
    }
  }
}

r50_status r50_conv_cpu(r50_cpu_ctx *ctx, const r50_conv_desc *c, const float *wf,
                        const float *bf, const r50_act *in, r50_act *out,
                        const float *residual, int relu, r50_conv_chunks chunks,
                        r50_error *err) {
  R50_ASSERT(in->c == c->cin);
  const int k = c->ksize, s = c->stride, p = c->pad;
  const int64_t ho = r50_out_size(in->h, k, s, p, 0),
                wo = r50_out_size(in->w, k, s, p, 0);
  *out = (r50_act){out->data, c->cout, in->n, ho, wo};
  const int64_t p_img = ho * wo, cols = in->n * p_img, kdim = (int64_t)c->cin * k * k;
  const int direct = k == 1 && s == 1;
  const int threads = ctx->threads;
  /* per image: chunks of one image's columns; batch: chunks of all of them */
  const int64_t span = chunks == R50_CONV_BATCH ? cols : p_img;
  const int64_t cw = chunk_width(span), per_img = (span + cw - 1) / cw;
  const int64_t tasks = (cols / span) * per_img;
  if (!direct)
    R50_TRY(r50_cpu_ctx_reserve_col(ctx, (size_t)(kdim * cw), err));
  float *y = out->data;
  float *const *colbuf = ctx->col;

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t img = t / per_img, c0 = (t % per_img) * cw;
    const int64_t j0 = img * span + c0, nj = span - c0 < cw ? span - c0 : cw;
    const float *b = in->data + j0;
    int64_t ldb = cols;
    if (!direct) {
      float *col = colbuf[omp_get_thread_num()];
      r50_im2col(in, k, s, p, ho, wo, j0, nj, col);
      b = col;
      ldb = nj;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)nj, (int)kdim,
                1.0f, wf, (int)kdim, b, (int)ldb, 0.0f, y + j0, (int)cols);
    epilogue(y + j0, cols, c->cout, nj, bf, residual ? residual + j0 : NULL, relu);
  }
  return R50_OK;
}

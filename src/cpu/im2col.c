/*
 * im2col.c — a convolution's input as columns (im2col) and the way back (col2im), in
 * the CNHW layout: column j of the (C*k*k, N*Ho*Wo) matrix is output pixel j's window.
 *
 * Rule: col2im adds (a pixel under several windows sums their gradients) and runs one
 * image at a time in a fixed order, so its sums never depend on the thread count.
 */
#include <string.h>

#include "ops_cpu.h"

/* col (K, nj) for output columns [j0, j0+nj) of a k x k / stride s / pad p conv. */
void r50_im2col(const r50_act *in, int k, int s, int p, int64_t ho, int64_t wo,
                int64_t j0, int64_t nj, float *col) {
  const int64_t plane = in->h * in->w, cstride = in->n * plane;
  for (int64_t r = 0; r < in->c * k * k; r++) {
    const int64_t c = r / (k * k), ky = (r / k) % k, kx = r % k;
    const float *src = in->data + c * cstride;
    float *dst = col + r * nj;
    int64_t j = j0, end = j0 + nj;
    while (j < end) {
      const int64_t img = j / (ho * wo), oy = (j / wo) % ho, ox0 = j % wo;
      const int64_t run = (wo - ox0 < end - j) ? wo - ox0 : end - j;
      const int64_t iy = oy * s - p + ky;
      if (iy < 0 || iy >= in->h) {
        memset(dst, 0, (size_t)run * sizeof *dst);
      } else {
        const float *row = src + img * plane + iy * in->w;
        for (int64_t t = 0; t < run; t++) {
          const int64_t ix = (ox0 + t) * s - p + kx;
          dst[t] = (ix >= 0 && ix < in->w) ? row[ix] : 0.0f;
        }
      }
      dst += run;
      j += run;
    }
  }
}

void r50_col2im_image(const float *col, int64_t ldcol, int64_t img, int k, int s, int p,
                      int64_t ho, int64_t wo, r50_act *dx) {
  const int64_t plane = dx->h * dx->w, cstride = dx->n * plane;
  for (int64_t c = 0; c < dx->c; c++)
    memset(dx->data + c * cstride + img * plane, 0, (size_t)plane * sizeof(float));
  for (int64_t r = 0; r < dx->c * k * k; r++) {
    const int64_t c = r / (k * k), ky = (r / k) % k, kx = r % k;
    float *dst = dx->data + c * cstride + img * plane;
    const float *src = col + r * ldcol;
    for (int64_t oy = 0; oy < ho; oy++) {
      const int64_t iy = oy * s - p + ky;
      if (iy < 0 || iy >= dx->h)
        continue;
      float *row = dst + iy * dx->w;
      const float *srow = src + oy * wo;
      for (int64_t ox = 0; ox < wo; ox++) {
        const int64_t ix = ox * s - p + kx;
        if (ix >= 0 && ix < dx->w)
          row[ix] += srow[ox];
      }
    }
  }
}

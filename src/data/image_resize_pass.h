/*
 * image_resize_pass.h — the two passes of Pillow's resize (image_resize.c), written
 * once and compiled twice: by image_resize.c for any x86-64, and by
 * image_resize_avx2.c with AVX2 (8-lane int32 multiplies), picked at run time. The
 * arithmetic is integer, so both give the same bits.
 *
 * The includer defines R50_RESIZE_FN(name) (the name of its copy of each function),
 * and R50_RESIZE_PASS (the linkage of the two passes: empty to export them, else
 * static), after including image_resize_axis.h.
 */
#if !defined(R50_RESIZE_FN) || !defined(R50_RESIZE_PASS)
#error "define R50_RESIZE_FN and R50_RESIZE_PASS before including image_resize_pass.h"
#endif

#include <string.h>

static inline uint8_t R50_RESIZE_FN(clip8)(int32_t v) {
  v >>= R50_RESIZE_PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Rows [y, y + nr) of src (width src_w) into block as (src_w, R50_RESIZE_BLOCK_ROWS, 3)
 * int32; rows past nr are zeros. */
static void R50_RESIZE_FN(interleave_rows)(const uint8_t *src, int src_w, int y, int nr,
                                           int32_t *block) {
  if (nr < R50_RESIZE_BLOCK_ROWS)
    memset(block, 0, (size_t)src_w * R50_RESIZE_BLOCK_VALS * sizeof *block);
  for (int r = 0; r < nr; r++) {
    const uint8_t *row = src + (size_t)(y + r) * src_w * 3;
    int32_t *b = block + r * 3;
    for (int x = 0; x < src_w; x++, b += R50_RESIZE_BLOCK_VALS, row += 3) {
      b[0] = row[0];
      b[1] = row[1];
      b[2] = row[2];
    }
  }
}

/* Rows [y0, y0 + h) of src (width src_w) resampled to ax->out_size columns. Eight rows
 * at a time are interleaved into block (src_w * R50_RESIZE_BLOCK_VALS int32), so that a
 * tap is one multiply-add over 24 contiguous values, which vectorises; so does the
 * clipping of the 24 sums. */
R50_RESIZE_PASS void R50_RESIZE_FN(pass_horizontal)(const uint8_t *src, int src_w, int y0,
                                                    int h, const r50_resize_axis *ax,
                                                    int32_t *block, uint8_t *dst) {
  enum { V = R50_RESIZE_BLOCK_VALS };
  const int out_w = ax->out_size;
  for (int yb = 0; yb < h; yb += R50_RESIZE_BLOCK_ROWS) {
    int nr = h - yb < R50_RESIZE_BLOCK_ROWS ? h - yb : R50_RESIZE_BLOCK_ROWS;
    R50_RESIZE_FN(interleave_rows)(src, src_w, y0 + yb, nr, block);
    for (int x = 0; x < out_w; x++) {
      const int32_t *k = ax->k + (size_t)x * ax->ksize;
      const int32_t *b = block + (size_t)ax->first[x] * V;
      int32_t acc[V];
      uint8_t px[V];
      for (int i = 0; i < V; i++)
        acc[i] = 1 << (R50_RESIZE_PRECISION_BITS - 1);
      for (int t = 0, n = ax->count[x]; t < n; t++, b += V)
        for (int i = 0; i < V; i++)
          acc[i] += b[i] * k[t];
      for (int i = 0; i < V; i++)
        px[i] = R50_RESIZE_FN(clip8)(acc[i]);
      for (int r = 0; r < nr; r++)
        memcpy(dst + ((size_t)(yb + r) * out_w + x) * 3, px + 3 * r, 3);
    }
  }
}

/* src rows (width w) resampled to ax->out_size rows; ax->first is relative to src
 * shifted by first_shift. acc holds w * 3 sums. Sums of int32 are exact in any order
 * (no overflow: |sum| < 255 * 1.3 * 2^22), so the taps run row by row, which
 * vectorises. */
R50_RESIZE_PASS void R50_RESIZE_FN(pass_vertical)(const uint8_t *src, int w,
                                                  const r50_resize_axis *ax,
                                                  int first_shift, int32_t *acc,
                                                  uint8_t *dst) {
  size_t n = (size_t)w * 3;
  for (int y = 0; y < ax->out_size; y++) {
    const int32_t *k = ax->k + (size_t)y * ax->ksize;
    const uint8_t *rows = src + (size_t)(ax->first[y] - first_shift) * n;
    for (size_t i = 0; i < n; i++)
      acc[i] = 1 << (R50_RESIZE_PRECISION_BITS - 1);
    for (int t = 0; t < ax->count[y]; t++) {
      const uint8_t *row = rows + (size_t)t * n;
      int32_t kt = k[t];
      for (size_t i = 0; i < n; i++)
        acc[i] += row[i] * kt;
    }
    uint8_t *o = dst + (size_t)y * n;
    for (size_t i = 0; i < n; i++)
      o[i] = R50_RESIZE_FN(clip8)(acc[i]);
  }
}

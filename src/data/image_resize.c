/*
 * image_resize.c — RGB resizing bit-identical to Pillow 9.4's Image.resize((w, h)) with
 * its default filter for RGB, BICUBIC (a = -0.5), as libImaging/Resample.c computes it.
 *
 * Per axis, output pixel i is centred at (i + 0.5) * scale in the input; when shrinking
 * (scale > 1) the filter is stretched by scale, so its support grows from 2 to 2 * scale
 * input pixels. The taps [xmin, xmin + n) are rounded as (int)(centre -+ support + 0.5)
 * and clamped to the image, their weights normalised to sum 1 in double, then turned
 * into 22-bit fixed point (PRECISION_BITS = 32 - 8 - 2) rounding half away from zero.
 * A pass sums pixel * weight in int32 from 1 << 21 and clips (sum >> 22) to 0..255.
 * The horizontal pass runs first, on only the rows the vertical pass will read, and its
 * result is rounded to 8 bits; a pass whose size does not change is skipped (Pillow
 * returns a copy when neither changes).
 *
 * Rule: the double arithmetic is written in Pillow's order and must not be contracted
 * into fused multiply-adds (x86-64-v3 has FMA): GCC in ISO C mode does not contract,
 * and clang is told so below. One changed rounding moves pixels by 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

enum {
  PRECISION_BITS = 32 - 8 - 2,
  BLOCK_ROWS = 8, /* rows the horizontal pass filters at once */
  BLOCK_VALS = BLOCK_ROWS * 3,
};

#define BICUBIC_A (-0.5)
#define BICUBIC_SUPPORT 2.0

/* The coefficients of one axis: out_size rows of ksize int32 weights. */
typedef struct axis {
  int out_size, ksize;
  int *first; /* (out_size) first input index */
  int *count; /* (out_size) number of taps */
  int32_t *k; /* (out_size, ksize) fixed-point weights */
} axis;

static double bicubic(double x) {
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((BICUBIC_A + 2.0) * x - (BICUBIC_A + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * BICUBIC_A;
  return 0.0;
}

static int32_t to_fixed(double k) {
  return k < 0 ? (int32_t)(-0.5 + k * (1 << PRECISION_BITS))
               : (int32_t)(0.5 + k * (1 << PRECISION_BITS));
}

static void axis_free(axis *a) {
  free(a->first);
  free(a->count);
  free(a->k);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size). */
static r50_status axis_init(axis *a, int in_size, int out_size, r50_error *err) {
  double scale = (double)((float)in_size - 0.0f) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = BICUBIC_SUPPORT * filterscale;
  a->out_size = out_size;
  a->ksize = (int)ceil(support) * 2 + 1;
  a->first = malloc((size_t)out_size * sizeof *a->first);
  a->count = malloc((size_t)out_size * sizeof *a->count);
  a->k = calloc((size_t)out_size * a->ksize, sizeof *a->k);
  double *w = malloc((size_t)a->ksize * sizeof *w);
  if (!a->first || !a->count || !a->k || !w) {
    free(w);
    axis_free(a);
    return r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %d x %d coefficients",
                    out_size, a->ksize);
  }
  for (int i = 0; i < out_size; i++) {
    double center = (i + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0)
      xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size)
      xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t *k = a->k + (size_t)i * a->ksize;
    for (int x = 0; x < xmax; x++)
      k[x] = to_fixed(ww != 0.0 ? w[x] / ww : w[x]);
    a->first[i] = xmin;
    a->count[i] = xmax;
  }
  free(w);
  return R50_OK;
}

static uint8_t clip8(int32_t v) {
  v >>= PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Rows [y, y + nr) of src (width src_w) into block as (src_w, BLOCK_ROWS, 3) int32;
 * rows past nr are zeros. */
static void interleave_rows(const uint8_t *src, int src_w, int y, int nr,
                            int32_t *block) {
  if (nr < BLOCK_ROWS)
    memset(block, 0, (size_t)src_w * BLOCK_VALS * sizeof *block);
  for (int r = 0; r < nr; r++) {
    const uint8_t *row = src + (size_t)(y + r) * src_w * 3;
    int32_t *b = block + r * 3;
    for (int x = 0; x < src_w; x++, b += BLOCK_VALS, row += 3) {
      b[0] = row[0];
      b[1] = row[1];
      b[2] = row[2];
    }
  }
}

/* Rows [y0, y0 + h) of src (width src_w) resampled to ax->out_size columns. Eight rows
 * at a time are interleaved into block (src_w * BLOCK_VALS int32), so that a tap is one
 * multiply-add over 24 contiguous values, which vectorises. */
static void pass_horizontal(const uint8_t *src, int src_w, int y0, int h, const axis *ax,
                            int32_t *block, uint8_t *dst) {
  int out_w = ax->out_size;
  for (int yb = 0; yb < h; yb += BLOCK_ROWS) {
    int nr = h - yb < BLOCK_ROWS ? h - yb : BLOCK_ROWS;
    interleave_rows(src, src_w, y0 + yb, nr, block);
    for (int x = 0; x < out_w; x++) {
      const int32_t *k = ax->k + (size_t)x * ax->ksize;
      const int32_t *b = block + (size_t)ax->first[x] * BLOCK_VALS;
      int32_t acc[BLOCK_VALS];
      for (int i = 0; i < BLOCK_VALS; i++)
        acc[i] = 1 << (PRECISION_BITS - 1);
      for (int t = 0, n = ax->count[x]; t < n; t++, b += BLOCK_VALS)
        for (int i = 0; i < BLOCK_VALS; i++)
          acc[i] += b[i] * k[t];
      for (int r = 0; r < nr; r++) {
        uint8_t *o = dst + ((size_t)(yb + r) * out_w + x) * 3;
        o[0] = clip8(acc[3 * r]);
        o[1] = clip8(acc[3 * r + 1]);
        o[2] = clip8(acc[3 * r + 2]);
      }
    }
  }
}

/* src rows (width w) resampled to ax->out_size rows; ax->first is relative to src.
 * acc holds w * 3 sums. Sums of int32 are exact in any order (no overflow: |sum| <
 * 255 * 1.3 * 2^22), so the taps run row by row, which vectorises. */
static void pass_vertical(const uint8_t *src, int w, const axis *ax, int first_shift,
                          int32_t *acc, uint8_t *dst) {
  size_t n = (size_t)w * 3;
  for (int y = 0; y < ax->out_size; y++) {
    const int32_t *k = ax->k + (size_t)y * ax->ksize;
    const uint8_t *rows = src + (size_t)(ax->first[y] - first_shift) * n;
    for (size_t i = 0; i < n; i++)
      acc[i] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < ax->count[y]; t++) {
      const uint8_t *row = rows + (size_t)t * n;
      int32_t kt = k[t];
      for (size_t i = 0; i < n; i++)
        acc[i] += row[i] * kt;
    }
    uint8_t *o = dst + (size_t)y * n;
    for (size_t i = 0; i < n; i++)
      o[i] = clip8(acc[i]);
  }
}

r50_status r50_image_resize(const r50_image *src, int w, int h, r50_image *dst,
                            r50_error *err) {
  R50_ASSERT(src && dst && src->rgb);
  if (w <= 0 || h <= 0 || src->width <= 0 || src->height <= 0)
    return r50_fail(err, R50_ERR_ARG, "resize: cannot resize %dx%d to %dx%d", src->width,
                    src->height, w, h);
  dst->width = w;
  dst->height = h;
  dst->rgb = malloc((size_t)w * h * 3);
  if (!dst->rgb)
    return r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %dx%d", w, h);
  int need_h = w != src->width, need_v = h != src->height;
  if (!need_h && !need_v) {
    memcpy(dst->rgb, src->rgb, (size_t)w * h * 3);
    return R50_OK;
  }
  axis ax_h = {0}, ax_v = {0};
  r50_status s = axis_init(&ax_v, src->height, h, err);
  if (s == R50_OK && need_h)
    s = axis_init(&ax_h, src->width, w, err);
  uint8_t *tmp = NULL;
  int32_t *acc = NULL, *block = NULL;
  if (s == R50_OK && need_h) {
    block = malloc((size_t)src->width * BLOCK_VALS * sizeof *block);
    if (!block)
      s = r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %d columns",
                   src->width);
  }
  if (s == R50_OK) {
    /* rows of the source the vertical pass reads */
    int y0 = ax_v.first[0], y1 = ax_v.first[h - 1] + ax_v.count[h - 1];
    const uint8_t *vsrc = src->rgb;
    int shift = 0;
    if (need_h && need_v) {
      tmp = malloc((size_t)w * (y1 - y0) * 3);
      acc = malloc((size_t)w * 3 * sizeof *acc);
      if (!tmp || !acc) {
        s = r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %dx%d", w, y1 - y0);
      } else {
        pass_horizontal(src->rgb, src->width, y0, y1 - y0, &ax_h, block, tmp);
        vsrc = tmp;
        shift = y0;
      }
    } else if (need_h) {
      pass_horizontal(src->rgb, src->width, 0, h, &ax_h, block, dst->rgb);
    } else {
      acc = malloc((size_t)w * 3 * sizeof *acc);
      if (!acc)
        s = r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %d sums", w * 3);
    }
    if (s == R50_OK && need_v)
      pass_vertical(vsrc, w, &ax_v, shift, acc, dst->rgb);
  }
  free(tmp);
  free(block);
  free(acc);
  axis_free(&ax_h);
  axis_free(&ax_v);
  if (s != R50_OK)
    r50_image_free(dst);
  return s;
}

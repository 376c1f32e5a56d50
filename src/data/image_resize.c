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
 * returns a copy when neither changes). The passes are in image_resize_pass.h, compiled
 * here for any x86-64 and in image_resize_avx2.c with AVX2, chosen at run time.
 *
 * Rule: the double arithmetic is written in Pillow's order and must not be contracted
 * into fused multiply-adds (x86-64-v3 has FMA): GCC in ISO C mode does not contract,
 * and clang is told so below. One changed rounding moves pixels by 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "error.h"
#include "image_resize_axis.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

enum { PRECISION_BITS = R50_RESIZE_PRECISION_BITS, BLOCK_VALS = R50_RESIZE_BLOCK_VALS };

#define BICUBIC_A (-0.5)
#define BICUBIC_SUPPORT 2.0

typedef r50_resize_axis axis;

#define R50_RESIZE_FN(name) name##_generic
#define R50_RESIZE_PASS static
#include "image_resize_pass.h"

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

typedef struct passes {
  void (*horizontal)(const uint8_t *src, int src_w, int y0, int h, const axis *ax,
                     int32_t *block, uint8_t *dst);
  void (*vertical)(const uint8_t *src, int w, const axis *ax, int first_shift,
                   int32_t *acc, uint8_t *dst);
} passes;

static const passes generic = {pass_horizontal_generic, pass_vertical_generic};
static const passes avx2 = {r50_resize_pass_horizontal_avx2,
                            r50_resize_pass_vertical_avx2};

r50_status r50_image_resize_with(const r50_image *src, int w, int h, int use_avx2,
                                 r50_image *dst, r50_error *err) {
  const passes *ps = use_avx2 && r50_cpu_features_get()->avx2 ? &avx2 : &generic;
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
        ps->horizontal(src->rgb, src->width, y0, y1 - y0, &ax_h, block, tmp);
        vsrc = tmp;
        shift = y0;
      }
    } else if (need_h) {
      ps->horizontal(src->rgb, src->width, 0, h, &ax_h, block, dst->rgb);
    } else {
      acc = malloc((size_t)w * 3 * sizeof *acc);
      if (!acc)
        s = r50_fail(err, R50_ERR_NOMEM, "resize: out of memory for %d sums", w * 3);
    }
    if (s == R50_OK && need_v)
      ps->vertical(vsrc, w, &ax_v, shift, acc, dst->rgb);
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

r50_status r50_image_resize(const r50_image *src, int w, int h, r50_image *dst,
                            r50_error *err) {
  return r50_image_resize_with(src, w, h, 1, dst, err);
}

/*
 * image_resize_axis.h — the resampling coefficients of one axis of Pillow's resize,
 * shared by image_resize.c (which computes them) and the two copies of its passes
 * (image_resize_pass.h: generic and AVX2).
 */
#ifndef R50_IMAGE_RESIZE_AXIS_H
#define R50_IMAGE_RESIZE_AXIS_H

#include <stdint.h>

#include "r50.h"

enum {
  R50_RESIZE_PRECISION_BITS = 32 - 8 - 2, /* Pillow's PRECISION_BITS for 8-bit images */
  R50_RESIZE_BLOCK_ROWS = 8,              /* rows the horizontal pass filters at once */
  R50_RESIZE_BLOCK_VALS = R50_RESIZE_BLOCK_ROWS * 3,
};

/* The coefficients of one axis: out_size rows of ksize int32 weights. */
typedef struct r50_resize_axis {
  int out_size, ksize;
  int *first; /* (out_size) first input index */
  int *count; /* (out_size) number of taps */
  int32_t *k; /* (out_size, ksize) fixed-point weights */
} r50_resize_axis;

/* The passes compiled with AVX2 (image_resize_avx2.c); call only where the CPU has it. */
void r50_resize_pass_horizontal_avx2(const uint8_t *src, int src_w, int y0, int h,
                                     const r50_resize_axis *ax, int32_t *block,
                                     uint8_t *dst);
void r50_resize_pass_vertical_avx2(const uint8_t *src, int w, const r50_resize_axis *ax,
                                   int first_shift, int32_t *acc, uint8_t *dst);

/* r50_image_resize with the generic passes (use_avx2 0) or the AVX2 ones where the CPU
 * has AVX2 (1): the same bits either way (tests/test_image_errors.c checks it). */
r50_status r50_image_resize_with(const r50_image *src, int w, int h, int use_avx2,
                                 r50_image *dst, r50_error *err);

#endif

/*
 * prepare.c — the end of Chainer's ResNet prepare(): a resized RGB image to the
 * network's input, BGR, minus the mean pixel, channels first, in float32.
 *
 * Rule: the arithmetic is numpy's: each 8-bit value becomes float32 and the float32
 * mean is subtracted in float32 (np.asarray(img, np.float32)[:, :, ::-1] - mean), so
 * the result is bit-identical to Chainer's.
 */
#include "r50.h"

const float r50_mean_bgr[3] = {103.063f, 115.903f, 123.152f};

void r50_image_to_chw(const r50_image *img, float *out) {
  size_t plane = (size_t)img->width * img->height;
  for (int c = 0; c < 3; c++) {
    const uint8_t *src = img->rgb + (2 - c); /* BGR plane c is RGB channel 2 - c */
    float mean = r50_mean_bgr[c];
    float *dst = out + c * plane;
    for (size_t i = 0; i < plane; i++)
      dst[i] = (float)src[3 * i] - mean;
  }
}

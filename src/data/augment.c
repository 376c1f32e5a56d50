/*
 * augment.c — crops and mirrors for training input (augment.h).
 *
 * The center window is ((h - crop) / 2, (w - crop) / 2), rounded down: Chainer's
 * predict takes x[:, :, 16:240, 16:240] of a 256 image. Random windows come from a
 * splitmix64 hash of (seed, epoch, row): uniform offsets in [0, h - crop] and
 * [0, w - crop], and one bit for the mirror.
 */
#include "augment.h"

#include <string.h>

static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void r50_augment_window(const r50_augment *a, int64_t epoch, int64_t row, int w, int h,
                        int *y0, int *x0, int *mirror) {
  *mirror = 0;
  if (!a->random) {
    *y0 = (h - a->crop) / 2;
    *x0 = (w - a->crop) / 2;
    return;
  }
  uint64_t r = mix(mix(mix(a->seed) ^ (uint64_t)epoch) ^ (uint64_t)row);
  *y0 = (int)(r % (uint64_t)(h - a->crop + 1));
  r = mix(r);
  *x0 = (int)(r % (uint64_t)(w - a->crop + 1));
  *mirror = a->flip && (mix(r) & 1);
}

void r50_crop_chw(const float *src, int w, int h, int y0, int x0, int crop, int mirror,
                  float *dst) {
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < crop; y++) {
      const float *row = src + ((size_t)c * h + (size_t)(y0 + y)) * w + x0;
      float *out = dst + ((size_t)c * crop + (size_t)y) * crop;
      if (!mirror)
        memcpy(out, row, (size_t)crop * sizeof(float));
      else
        for (int x = 0; x < crop; x++)
          out[x] = row[crop - 1 - x];
    }
}

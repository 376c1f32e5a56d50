/*
 * augment.h — training-time input augmentation after Chainer's prepare: a crop of the
 * prepared (resized) image — its center, or a random window — and a random horizontal
 * mirror, each drawn from (seed, epoch, dataset row) alone, so that an image gets the
 * same crop whatever the number of ranks, the batch or the schedule.
 */
#ifndef R50_AUGMENT_H
#define R50_AUGMENT_H

#include <stdint.h>

typedef struct r50_augment {
  int crop;   /* output crop x crop; 0: no crop */
  int random; /* 1: a random window (and mirror if flip), 0: the center */
  int flip;   /* with random: mirror left-right with probability 1/2 */
  uint64_t seed;
} r50_augment;

/* The window (y0, x0) and mirror of row `row` in `epoch` for an h x w prepared image. */
void r50_augment_window(const r50_augment *a, int64_t epoch, int64_t row, int w, int h,
                        int *y0, int *x0, int *mirror);

/* dst (3, crop, crop) = the window of src (3, h, w) at (y0, x0), mirrored if asked. */
void r50_crop_chw(const float *src, int w, int h, int y0, int x0, int crop, int mirror,
                  float *dst);

#endif

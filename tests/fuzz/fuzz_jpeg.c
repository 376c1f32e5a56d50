/*
 * fuzz_jpeg.c — libFuzzer target: r50_image_decode on arbitrary bytes, seeded with
 * JPEGs (seeds_jpeg, written by make_image_seeds.py), then a resize of what decoded.
 *
 * Rule: max_pixels is 4,000,000 so a hostile header cannot make the run allocate more
 * than ~50 MB; the input's length picks the options (EXIF rotation, DCT scaling) so
 * every path is reached from the same corpus.
 */
#include <stddef.h>
#include <stdint.h>

#include "r50.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  r50_decode_opts opts = r50_decode_opts_default();
  opts.max_pixels = 4000000;
  opts.exif_rotate = size & 1;
  opts.fast_decode = (size >> 1) & 1;
  opts.target_w = 32;
  opts.target_h = 24;
  r50_image img, small;
  r50_error err;
  if (r50_image_decode(data, size, "fuzz.jpg", &opts, &img, &err) != R50_OK)
    return 0;
  if (r50_image_resize(&img, 37, 23, &small, &err) == R50_OK)
    r50_image_free(&small);
  r50_image_free(&img);
  return 0;
}

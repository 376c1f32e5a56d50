/*
 * fuzz_webp.c — libFuzzer target: r50_image_decode on arbitrary bytes, seeded with
 * WebP files (seeds_webp, written by make_image_seeds.py: lossy, lossless, alpha,
 * animated), then a resize of what decoded.
 *
 * Rule: max_pixels is 4,000,000 so a hostile header cannot make libwebp allocate more
 * than its two 16 MB canvases; the input's length picks whether the EXIF chunk is read,
 * so both paths are reached from the same corpus.
 */
#include <stddef.h>
#include <stdint.h>

#include "r50.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  r50_decode_opts opts = r50_decode_opts_default();
  opts.max_pixels = 4000000;
  opts.exif_rotate = size & 1;
  r50_image img, small;
  r50_error err;
  if (r50_image_decode(data, size, "fuzz.webp", &opts, &img, &err) != R50_OK)
    return 0;
  if (r50_image_resize(&img, 37, 23, &small, &err) == R50_OK)
    r50_image_free(&small);
  r50_image_free(&img);
  return 0;
}

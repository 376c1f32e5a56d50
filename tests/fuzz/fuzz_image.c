/*
 * fuzz_image.c — libFuzzer target: r50_image_decode on arbitrary bytes, then a resize
 * of what decoded. Built once per seed folder (fuzz_png, fuzz_webp, fuzz_gif,
 * fuzz_bmp, fuzz_pnm, fuzz_tiff, fuzz_jp2, fuzz_heif, fuzz_jxl; the seeds written by
 * make_image_seeds.py, make_heif_seeds.py and make_jxl_seeds.py), FUZZ_FILE
 * naming the input in messages; the decoder tells the format by content, so each reaches every decoder.
 *
 * Rule: max_pixels is 4,000,000 so a hostile header cannot make the run allocate more
 * than ~50 MB; the input's length picks whether the EXIF orientation is read (from
 * PNG's eXIf, possibly after the pixels, or WebP's EXIF chunk), so both paths are
 * reached from the same corpus.
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
  if (r50_image_decode(data, size, FUZZ_FILE, &opts, &img, &err) != R50_OK)
    return 0;
  if (r50_image_resize(&img, 37, 23, &small, &err) == R50_OK)
    r50_image_free(&small);
  r50_image_free(&img);
  return 0;
}

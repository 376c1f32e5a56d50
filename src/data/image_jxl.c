/*
 * image_jxl.c — JPEG XL to RGB with libjxl, pixel for pixel as libjxl's own djxl
 * writes the image to an 8-bit PNG (Pillow 9.4 reads no JPEG XL; a user converts with
 * djxl, then reads the PNG with PIL, which ignores its ICC profile): the first
 * displayed frame (an animation's, its zero-duration layers blended, as libjxl
 * coalesces them), in the colour space libjxl decodes to (a lossless file's own; for
 * an XYB-coded lossy one the space libjxl picks, sRGB for an sRGB source), at 8 bits a
 * channel as libjxl rounds them, alpha dropped, never composited, grey replicated.
 *
 * The orientation is the codestream's own (JPEG XL stores it in the image header, not
 * in EXIF, and every decoder applies it, djxl too), so it is always reported, and
 * image_decode.c turns the image as it turns an EXIF one (the same eight orientations);
 * --exif-rotate adds nothing.
 *
 * Rule: the size (r50_image_check_dims) is checked from the basic info, before libjxl
 * decodes a frame. libjxl runs on the calling thread only (no parallel runner): the
 * prefetcher's decode threads are the parallelism.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jxl/decode.h>

#include "error.h"
#include "image.h"

void r50_jxl_version(char *buf, size_t cap) {
  const uint32_t v = JxlDecoderVersion(); /* major * 1000000 + minor * 1000 + patch */
  snprintf(buf, cap, "%u.%u.%u", v / 1000000, v / 1000 % 1000, v % 1000);
}

/* The grey (1 channel) or RGB (3) pixels of a w x h image into out as RGB. */
static r50_status to_rgb(const uint8_t *px, int channels, int64_t w, int64_t h,
                         const char *name, r50_image *out, r50_error *err) {
  R50_TRY(r50_image_alloc_rgb(name, w, h, &out->rgb, err));
  const size_t n = (size_t)w * (size_t)h;
  if (channels == 3)
    memcpy(out->rgb, px, n * 3);
  else
    for (size_t i = 0; i < n; i++)
      memset(out->rgb + 3 * i, px[i], 3);
  out->width = (int)w;
  out->height = (int)h;
  return R50_OK;
}

/* Runs the decoder to the first full frame, its pixels (channels a pixel, 8 bits each,
 * rows packed) in *px (malloc'd), the basic info in *info. */
static r50_status decode_frame(JxlDecoder *dec, const char *name,
                               const r50_decode_opts *opts, JxlBasicInfo *info,
                               int *channels, uint8_t **px, r50_error *err) {
  JxlPixelFormat fmt = {3, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
  int has_info = 0;
  for (;;) {
    JxlDecoderStatus st = JxlDecoderProcessInput(dec);
    switch (st) {
    case JXL_DEC_BASIC_INFO:
      if (JxlDecoderGetBasicInfo(dec, info) != JXL_DEC_SUCCESS)
        return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data (its header)",
                        name);
      R50_TRY(r50_image_check_dims(name, info->xsize, info->ysize, opts, err));
      fmt.num_channels = info->num_color_channels == 1 ? 1 : 3;
      *channels = (int)fmt.num_channels;
      has_info = 1;
      break;
    case JXL_DEC_NEED_IMAGE_OUT_BUFFER: {
      size_t size = 0;
      if (!has_info ||
          JxlDecoderImageOutBufferSize(dec, &fmt, &size) != JXL_DEC_SUCCESS ||
          size != (size_t)info->xsize * info->ysize * fmt.num_channels)
        return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data (its frame size)",
                        name);
      free(*px);
      if (!(*px = malloc(size)))
        return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name,
                        info->xsize, info->ysize);
      if (JxlDecoderSetImageOutBuffer(dec, &fmt, *px, size) != JXL_DEC_SUCCESS)
        return r50_fail(err, R50_ERR_FORMAT, "%s: libjxl took no 8-bit output buffer",
                        name);
      break;
    }
    case JXL_DEC_FULL_IMAGE: /* the first frame: the rest of an animation is not read */
      if (!*px) /* (libjxl asks for the buffer first: never seen otherwise) */
        return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data (no pixels)",
                        name);
      return R50_OK;
    case JXL_DEC_NEED_MORE_INPUT:
      return r50_fail(err, R50_ERR_FORMAT, "%s: truncated JPEG XL data", name);
    case JXL_DEC_SUCCESS: /* (every event consumed without an image) */
      return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data (no image)", name);
    case JXL_DEC_ERROR:
      return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data", name);
    default: /* events not subscribed to do not come; any other is a corrupt file */
      return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG XL data (decoder event %d)",
                      name, (int)st);
    }
  }
}

r50_status r50_jxl_decode(const uint8_t *bytes, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  *orientation = 1;
  JxlDecoder *dec = JxlDecoderCreate(NULL);
  if (!dec)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory to read a JPEG XL file", name);
  r50_status s = R50_OK;
  /* turned by image_decode.c, as every orientation is */
  if (JxlDecoderSetKeepOrientation(dec, JXL_TRUE) != JXL_DEC_SUCCESS ||
      JxlDecoderSubscribeEvents(dec, JXL_DEC_BASIC_INFO | JXL_DEC_FULL_IMAGE) !=
          JXL_DEC_SUCCESS ||
      JxlDecoderSetInput(dec, bytes, len) != JXL_DEC_SUCCESS)
    s = r50_fail(err, R50_ERR_UNSUPPORTED, "%s: libjxl refused its decoder settings",
                 name);
  /* (the input is not closed: a file cut short then asks for more, rather than failing
   * as corrupt) */
  JxlBasicInfo info;
  int channels = 3;
  uint8_t *px = NULL;
  if (s == R50_OK)
    s = decode_frame(dec, name, opts, &info, &channels, &px, err);
  if (s == R50_OK)
    s = to_rgb(px, channels, info.xsize, info.ysize, name, out, err);
  if (s == R50_OK)
    *orientation =
        info.orientation >= 1 && info.orientation <= 8 ? (int)info.orientation : 1;
  free(px);
  JxlDecoderDestroy(dec);
  return s;
}

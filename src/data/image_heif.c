/*
 * image_heif.c — HEIF (HEIC, the photos of phones) and AVIF to RGB with libheif, as
 * Pillow with the pillow-heif plugin (Image.open(path).convert('RGB')) reads them: the
 * primary image, its transformations (rotation, mirror, crop: the container's, which
 * define the image) applied, at 8 bits a channel (10- and 12-bit images rounded down
 * as libheif's convert_hdr_to_8bit does), alpha dropped, never composited. Thumbnails,
 * depth maps and the other images of a collection are not read.
 *
 * The orientation reported is always 1: HEIF's transformations are already applied,
 * and the EXIF orientation a phone also writes repeats them (HEIF, ISO/IEC 23008-12,
 * says readers use the transformations), so --exif-rotate turns nothing more.
 *
 * Rule: the size (r50_image_check_dims) is checked from the primary image's header
 * (its size after transformations), and the sizes the codec configurations declare
 * (image_heif_box.c: what the codecs allocate), before libheif decodes a pixel. libheif
 * decodes on the calling thread only: the prefetcher's decode threads are the
 * parallelism.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libheif/heif.h>

#include "error.h"
#include "image.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libheif(void) {
  heif_init(NULL); /* (its plugins; kept for the life of the process) */
}

/* "AVIF" or "HEIF", from the file's brand, for messages. */
static const char *kind_of(const uint8_t *d, size_t len) {
  return len >= 12 && (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "avis", 4)) ? "AVIF"
                                                                               : "HEIF";
}

/* A libheif error as a status: a codec or feature this libheif lacks is
 * R50_ERR_UNSUPPORTED, anything else (cut short, damaged) R50_ERR_FORMAT; its message
 * kept, on one line. */
static r50_status fail_heif(r50_error *err, const char *name, const char *kind,
                            const char *doing, struct heif_error e) {
  char why[256];
  snprintf(why, sizeof why, "%s", e.message ? e.message : "no reason given");
  for (char *c = why; *c; c++)
    *c = *c == '\n' || *c == '\r' ? ' ' : *c;
  for (size_t n = strlen(why); n > 0 && why[n - 1] == ' ';)
    why[--n] = 0;
  if (e.code == heif_error_Unsupported_feature ||
      e.code == heif_error_Unsupported_filetype)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "%s: %s image that this libheif cannot %s (%s)", name, kind, doing,
                    why);
  if (e.code == heif_error_Memory_allocation_error)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory to %s a %s image", name, doing,
                    kind);
  return r50_fail(err, R50_ERR_FORMAT, "%s: %s %s data (%s)", name,
                  e.subcode == heif_suberror_End_of_data ? "truncated" : "corrupt", kind,
                  why);
}

/* The decoded interleaved RGB image into out (w x h). */
static r50_status copy_rgb(const struct heif_image *img, const char *name, int w, int h,
                           r50_image *out, r50_error *err) {
  int stride = 0;
  const uint8_t *p =
      heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
  if (!p || heif_image_get_width(img, heif_channel_interleaved) != w ||
      heif_image_get_height(img, heif_channel_interleaved) != h)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: libheif decoded no %dx%d RGB image from this HEIF file", name, w,
                    h);
  R50_TRY(r50_image_alloc_rgb(name, w, h, &out->rgb, err));
  for (int y = 0; y < h; y++)
    memcpy(out->rgb + (size_t)y * w * 3, p + (size_t)y * stride, (size_t)w * 3);
  out->width = w;
  out->height = h;
  return R50_OK;
}

const char *r50_heif_version(void) {
  return heif_get_version();
}

r50_status r50_heif_decode(const uint8_t *bytes, size_t len, const char *name,
                           const r50_decode_opts *opts, r50_image *out, int *orientation,
                           r50_error *err) {
  *orientation = 1;
  const char *kind = kind_of(bytes, len);
  if (len > INT32_MAX)
    return r50_fail(err, R50_ERR_UNSUPPORTED, "%s: %s file over 2 GiB", name, kind);
  pthread_once(&init_once, init_libheif);
  struct heif_context *ctx = heif_context_alloc();
  if (!ctx)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory to read a %s file", name,
                    kind);
  heif_context_set_max_decoding_threads(ctx, 0);
  struct heif_image_handle *handle = NULL;
  struct heif_image *img = NULL;
  struct heif_decoding_options *dopts = NULL;
  r50_status s = R50_OK;
  struct heif_error e = heif_context_read_from_memory_without_copy(ctx, bytes, len, NULL);
  if (e.code != heif_error_Ok)
    s = fail_heif(err, name, kind, "read", e);
  if (s == R50_OK && (e = heif_context_get_primary_image_handle(ctx, &handle)).code)
    s = fail_heif(err, name, kind, "read", e);
  const int w = s == R50_OK ? heif_image_handle_get_width(handle) : 0;
  const int h = s == R50_OK ? heif_image_handle_get_height(handle) : 0;
  if (s == R50_OK)
    s = r50_image_check_dims(name, w, h, opts, err);
  if (s == R50_OK) /* (what the decoding would allocate: image_heif_box.c) */
    s = r50_heif_check_coded(bytes, len, name, kind, opts->max_pixels, err);
  if (s == R50_OK && !(dopts = heif_decoding_options_alloc()))
    s = r50_fail(err, R50_ERR_NOMEM, "%s: out of memory to decode a %s image", name,
                 kind);
  if (s == R50_OK) {
    dopts->convert_hdr_to_8bit = 1;
    e = heif_decode_image(handle, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                          dopts);
    if (e.code != heif_error_Ok)
      s = fail_heif(err, name, kind, "decode", e);
  }
  if (s == R50_OK)
    s = copy_rgb(img, name, w, h, out, err);
  heif_decoding_options_free(dopts);
  heif_image_release(img);
  heif_image_handle_release(handle);
  heif_context_free(ctx);
  return s;
}

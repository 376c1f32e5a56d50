/*
 * image_decode.c — from bytes or a file to 8-bit RGB, as PIL's
 * Image.open(path).convert('RGB'): the format is told by the first bytes (never the
 * name), the JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF/AVIF and JPEG XL
 * decoders live in image_jpeg.c, image_png.c, image_webp.c, image_gif.c, image_bmp.c,
 * image_pnm.c, image_tiff.c, image_jp2.c, image_heif.c and image_jxl.c,
 * and the orientation a decoder reports is applied here (the EXIF orientation, when
 * asked, as ImageOps.exif_transpose does; a TIFF's, as Pillow's TIFF plugin does).
 *
 * Rule: every failure is a status whose message starts with the file's name, and no
 * pixel buffer is allocated before the header's size passed r50_image_check_dims (PIL's
 * decompression-bomb limit by default).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "formats.h"
#include "image.h"

#define DEFAULT_MAX_PIXELS 178956970 /* 2 * PIL's Image.MAX_IMAGE_PIXELS */

r50_decode_opts r50_decode_opts_default(void) {
  r50_decode_opts o = {0};
  o.max_pixels = DEFAULT_MAX_PIXELS;
  return o;
}

r50_status r50_image_check_dims(const char *name, int64_t w, int64_t h,
                                const r50_decode_opts *opts, r50_error *err) {
  if (w <= 0 || h <= 0)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: image is %" PRId64 "x%" PRId64 ", no pixels", name, w, h);
  if (w > INT32_MAX || h > INT32_MAX) /* (r50_image holds int sizes; w * h fits) */
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: image is %" PRId64 "x%" PRId64 ", too large to read", name, w,
                    h);
  if (opts->max_pixels > 0 && w * h > opts->max_pixels)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: %" PRId64 "x%" PRId64 " = %" PRId64
                    " pixels exceeds --max-pixels %" PRId64,
                    name, w, h, w * h, opts->max_pixels);
  return R50_OK;
}

r50_status r50_image_alloc_rgb(const char *name, int64_t w, int64_t h, uint8_t **out,
                               r50_error *err) {
  *out = NULL;
  if (w <= 0 || h <= 0 || (uint64_t)w > SIZE_MAX / 3 / (uint64_t)h)
    return r50_fail(err, R50_ERR_NOMEM, "%s: %" PRId64 "x%" PRId64 " is too large", name,
                    w, h);
  *out = malloc((size_t)w * (size_t)h * 3);
  if (!*out)
    return r50_fail(err, R50_ERR_NOMEM,
                    "%s: out of memory for %" PRId64 "x%" PRId64 " RGB pixels", name, w,
                    h);
  return R50_OK;
}

void r50_image_free(r50_image *img) {
  if (!img)
    return;
  free(img->rgb);
  img->rgb = NULL;
  img->width = img->height = 0;
}

/* ------------------------------------------------------------------ orientation */

/* Pixel strides of ImageOps.exif_transpose's transpose for orientations 1..8: the
 * output pixel (x, y) is the input pixel base + x * dx + y * dy, counted in pixels,
 * with base = bx * (w - 1) + by * (h - 1) * w. Orientations 5..8 swap width and
 * height. */
typedef struct orient_map {
  int bx, by;     /* base: 1 to start at the last column / row */
  int dx_w, dx_1; /* dx = dx_w * w + dx_1 */
  int dy_w, dy_1; /* dy = dy_w * w + dy_1 */
} orient_map;

static const orient_map ORIENT[9] = {
    [1] = {0, 0, 0, 1, 1, 0},   /* as stored */
    [2] = {1, 0, 0, -1, 1, 0},  /* FLIP_LEFT_RIGHT */
    [3] = {1, 1, 0, -1, -1, 0}, /* ROTATE_180 */
    [4] = {0, 1, 0, 1, -1, 0},  /* FLIP_TOP_BOTTOM */
    [5] = {0, 0, 1, 0, 0, 1},   /* TRANSPOSE */
    [6] = {0, 1, -1, 0, 0, 1},  /* ROTATE_270 */
    [7] = {1, 1, -1, 0, 0, -1}, /* TRANSVERSE */
    [8] = {1, 0, 1, 0, 0, -1},  /* ROTATE_90 */
};

static r50_status apply_orientation(r50_image *img, int orientation, const char *name,
                                    r50_error *err) {
  if (orientation < 2 || orientation > 8)
    return R50_OK;
  const orient_map *m = &ORIENT[orientation];
  int64_t w = img->width, h = img->height;
  int swap = orientation >= 5;
  int64_t ow = swap ? h : w, oh = swap ? w : h;
  uint8_t *dst;
  R50_TRY(r50_image_alloc_rgb(name, ow, oh, &dst, err));
  int64_t base = m->bx * (w - 1) + m->by * (h - 1) * w;
  int64_t dx = m->dx_w * w + m->dx_1, dy = m->dy_w * w + m->dy_1;
  const uint8_t *src = img->rgb;
  for (int64_t y = 0; y < oh; y++) {
    uint8_t *o = dst + y * ow * 3;
    int64_t s = base + y * dy;
    for (int64_t x = 0; x < ow; x++, s += dx)
      memcpy(o + x * 3, src + s * 3, 3);
  }
  free(img->rgb);
  img->rgb = dst;
  img->width = (int)ow;
  img->height = (int)oh;
  return R50_OK;
}

/* ------------------------------------------------------------------ decoding */

static int starts_with(const uint8_t *d, size_t n, const char *magic, size_t m) {
  return n >= m && memcmp(d, magic, m) == 0;
}

static int is_jpeg(const uint8_t *d, size_t n) {
  return starts_with(d, n, "\xFF\xD8\xFF", 3);
}

static int is_png(const uint8_t *d, size_t n) {
  return starts_with(d, n, "\x89PNG\r\n\x1A\n", 8);
}

static int is_webp(const uint8_t *d, size_t n) {
  return n >= 12 && starts_with(d, n, "RIFF", 4) && memcmp(d + 8, "WEBP", 4) == 0;
}

static int is_gif(const uint8_t *d, size_t n) {
  return starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6);
}

static int is_bmp(const uint8_t *d, size_t n) {
  return starts_with(d, n, "BM", 2); /* Pillow's test: the two bytes */
}

static int is_pnm(const uint8_t *d, size_t n) { /* P1..P6 and whitespace */
  return n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' &&
         (d[2] == ' ' || (d[2] >= '\t' && d[2] <= '\r'));
}

static int is_tiff(const uint8_t *d, size_t n) { /* classic or BigTIFF, either order */
  return starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4) ||
         starts_with(d, n, "II+\0", 4) || starts_with(d, n, "MM\0+", 4);
}

static int is_jp2(const uint8_t *d, size_t n) { /* a JP2 file, or a J2K codestream */
  return starts_with(d, n, "\0\0\0\x0CjP  \r\n\x87\n", 12) ||
         starts_with(d, n, "\xFF\x4F\xFF\x51", 4);
}

void r50_image_formats_describe(char *buf, size_t cap) {
  char heif[64] = "no HEIF or AVIF: built without libheif";
  char jxl[64] = "no JPEG XL: built without libjxl";
#ifdef R50_HAVE_HEIF
  snprintf(heif, sizeof heif, "libheif %s", r50_heif_version());
#endif
#ifdef R50_HAVE_JXL
  char v[32];
  r50_jxl_version(v, sizeof v);
  snprintf(jxl, sizeof jxl, "libjxl %s", v);
#endif
  snprintf(buf, cap, R50_FORMATS_AND " (%s, %s)", heif, jxl);
}

int r50_is_heif(const uint8_t *d, size_t n) {
  static const char brands[][5] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                   "hevm", "hevs", "mif1", "msf1", "avif", "avis"};
  if (n < 12 || memcmp(d + 4, "ftyp", 4))
    return 0;
  for (size_t i = 0; i < sizeof brands / sizeof *brands; i++)
    if (!memcmp(d + 8, brands[i], 4))
      return 1;
  return 0;
}

int r50_is_jxl(const uint8_t *d, size_t n) {
  return starts_with(d, n, "\0\0\0\x0CJXL \r\n\x87\n", 12) || /* the container */
         starts_with(d, n, "\xFF\x0A", 2);                    /* a bare codestream */
}

/* The formats read, each told by its first bytes. */
static const struct {
  int (*is)(const uint8_t *d, size_t n);
  r50_decode_fn *decode;
} FORMATS[] = {
    {is_jpeg, r50_jpeg_decode},     {is_png, r50_png_decode}, {is_webp, r50_webp_decode},
    {is_gif, r50_gif_decode},       {is_bmp, r50_bmp_decode}, {is_pnm, r50_pnm_decode},
    {is_tiff, r50_tiff_decode},     {is_jp2, r50_jp2_decode},
#ifdef R50_HAVE_HEIF
    {r50_is_heif, r50_heif_decode},
#endif
#ifdef R50_HAVE_JXL
    {r50_is_jxl, r50_jxl_decode},
#endif
};

static r50_decode_fn *decoder_of(const uint8_t *d, size_t n) {
  for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
    if (FORMATS[i].is(d, n))
      return FORMATS[i].decode;
  return NULL;
}

/* Names image formats this build does not read, for a better message. */
static const char *other_format(const uint8_t *d, size_t n) {
  if (!R50_READS_HEIF && r50_is_heif(d, n)) /* (a build without libheif) */
    return memcmp(d + 8, "avi", 3) == 0 ? "AVIF" : "HEIF";
  if (!R50_READS_JXL && r50_is_jxl(d, n)) /* (a build without libjxl) */
    return "JPEG XL";
  return NULL;
}

r50_status r50_image_decode(const uint8_t *data, size_t len, const char *name,
                            const r50_decode_opts *opts, r50_image *out, r50_error *err) {
  R50_ASSERT(out && (data || len == 0));
  r50_decode_opts defaults = r50_decode_opts_default();
  if (!opts)
    opts = &defaults;
  if (!name)
    name = "<memory>";
  out->width = out->height = 0;
  out->rgb = NULL;
  if (len == 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: empty file", name);
  int orientation = 1;
  r50_image img = {0};
  r50_decode_fn *decode = decoder_of(data, len);
  if (!decode) {
    const char *other = other_format(data, len);
    if (other)
      return r50_fail(err, R50_ERR_UNSUPPORTED,
                      "%s: %s image; only " R50_FORMATS_AND " are supported", name,
                      other);
    return r50_fail(err, R50_ERR_FORMAT, "%s: not a " R50_FORMATS_OR " file", name);
  }
  R50_TRY(decode(data, len, name, opts, &img, &orientation, err));
  r50_status s = apply_orientation(&img, orientation, name, err);
  if (s != R50_OK) {
    r50_image_free(&img);
    return s;
  }
  *out = img;
  return R50_OK;
}

r50_status r50_image_read_named(const char *path, const char *name, uint8_t **data,
                                size_t *len, r50_error *err) {
  r50_status s = r50_read_file(path, UINT64_MAX, "an image", data, len, err);
  if (s != R50_OK && err && strcmp(path, name)) /* name the file as the caller does */
    r50_rename_in_message(err, path, name);
  return s;
}

r50_status r50_image_load_named(const char *path, const char *name,
                                const r50_decode_opts *opts, r50_image *out,
                                r50_error *err) {
  R50_ASSERT(path && out);
  out->width = out->height = 0;
  out->rgb = NULL;
  uint8_t *data;
  size_t len;
  r50_status s = r50_image_read_named(path, name, &data, &len, err);
  if (s == R50_OK)
    s = r50_image_decode(data, len, name, opts, out, err);
  free(data);
  return s;
}

r50_status r50_image_load(const char *path, const r50_decode_opts *opts, r50_image *out,
                          r50_error *err) {
  return r50_image_load_named(path, path, opts, out, err);
}

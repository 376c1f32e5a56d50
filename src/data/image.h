/*
 * image.h — internals shared by the image decoders: image_decode.c (format sniffing,
 * files, EXIF orientation), image_jpeg.c, image_png.c, image_webp.c, image_gif.c,
 * image_bmp.c, image_pnm.c, image_tiff.c, image_jp2.c, image_heif.c (and
 * image_heif_box.c), image_jxl.c and image_exif.c.
 *
 * Rule: a decoder checks the header's width x height (r50_image_check_dims) before it
 * allocates any pixels, and reports the orientation instead of applying it;
 * image_decode.c alone turns the image.
 */
#ifndef R50_IMAGE_H
#define R50_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

/* Fails with R50_ERR_FORMAT when w or h is not positive or w * h exceeds
 * opts->max_pixels (when that is > 0). */
r50_status r50_image_check_dims(const char *name, int64_t w, int64_t h,
                                const r50_decode_opts *opts, r50_error *err);

/* Allocates an uninitialised (h, w, 3) pixel buffer; R50_ERR_NOMEM naming `name`. */
r50_status r50_image_alloc_rgb(const char *name, int64_t w, int64_t h, uint8_t **out,
                               r50_error *err);

/* A decoder: a whole file of its format, held in memory, into out (8-bit RGB), with
 * messages naming it `name`. *orientation gets the orientation 1..8 to apply: the
 * EXIF orientation when opts->exif_rotate is set and the file has one (a TIFF's own
 * Orientation tag always, as Pillow applies it on load), else 1. */
typedef r50_status r50_decode_fn(const uint8_t *data, size_t len, const char *name,
                                 const r50_decode_opts *opts, r50_image *out,
                                 int *orientation, r50_error *err);
r50_decode_fn r50_jpeg_decode, r50_png_decode, r50_webp_decode, r50_gif_decode,
    r50_bmp_decode, r50_pnm_decode, r50_tiff_decode, r50_jp2_decode, r50_heif_decode,
    r50_jxl_decode;

/* "JPEG, PNG, ... and AVIF (libheif 1.15.1)": the formats this build reads, for `info`.
 */
void r50_image_formats_describe(char *buf, size_t cap);

/* Whether data starts as a HEIF or AVIF file: an ISO base media "ftyp" box of one of
 * their brands (HEVC images and sequences, AV1 ones, or the generic mif1 / msf1). */
int r50_is_heif(const uint8_t *data, size_t len);

/* Refuses (R50_ERR_FORMAT, naming `name` and the `kind`, "HEIF" or "AVIF") a HEIF or
 * AVIF file whose codec configurations (an hvcC's SPS, an av1C's sequence header)
 * declare a picture larger than its largest ispe (plus a 64-pixel block) or than
 * max_pixels (when > 0): what libheif's codecs would allocate before it checks
 * (image_heif_box.c). */
r50_status r50_heif_check_coded(const uint8_t *data, size_t len, const char *name,
                                const char *kind, int64_t max_pixels, r50_error *err);

/* The version of the libheif this process runs on (image_heif.c, with R50_HAVE_HEIF). */
const char *r50_heif_version(void);

/* Whether data starts as a JPEG XL file: the container's signature box, or a bare
 * codestream's 0xFF 0x0A. */
int r50_is_jxl(const uint8_t *data, size_t len);

/* "0.7.0": the version of the libjxl this process runs on (image_jxl.c, with
 * R50_HAVE_JXL). */
void r50_jxl_version(char *buf, size_t cap);

/* 1 where this build reads JPEG XL (libjxl), else 0. */
#ifdef R50_HAVE_JXL
#define R50_READS_JXL 1
#else
#define R50_READS_JXL 0
#endif

/* 1 where this build reads HEIF and AVIF (libheif), else 0. */
#ifdef R50_HAVE_HEIF
#define R50_READS_HEIF 1
#else
#define R50_READS_HEIF 0
#endif

/* The bytes of the image file at path (a regular file: r50_read_file's checks), with
 * messages naming it `name`; free *data. */
r50_status r50_image_read_named(const char *path, const char *name, uint8_t **data,
                                size_t *len, r50_error *err);

/* r50_image_load with messages naming the file `name` (e.g. its path relative to the
 * dataset root) instead of `path`. */
r50_status r50_image_load_named(const char *path, const char *name,
                                const r50_decode_opts *opts, r50_image *out,
                                r50_error *err);

/* The Orientation (tag 0x0112) of IFD0 in EXIF data (a TIFF stream, optionally after
 * "Exif\0\0"), read as PIL's Image.getexif() does: 1..8, or 1 when it is absent,
 * out of range or unreadable. Never reads outside data[0, len). */
int r50_exif_orientation(const uint8_t *data, size_t len);

/* Pillow's cmyk2rgb: ink amounts 0..255 (0 none) to RGB, each channel
 * (255 - k) - MULDIV255(ink, 255 - k), exactly as Pillow rounds it. */
static inline void r50_cmyk_to_rgb(const int ink[4], uint8_t rgb[3]) {
  const int nk = 255 - ink[3];
  for (int c = 0; c < 3; c++) {
    const int t = ink[c] * nk + 128;
    rgb[c] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
  }
}

#endif

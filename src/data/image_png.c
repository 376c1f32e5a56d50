/*
 * image_png.c — PNG to RGB with libpng, pixel for pixel as Pillow 9.4's PNG plugin
 * followed by convert('RGB').
 *
 * What PIL does, and the libpng transform that does the same:
 *   1/2/4-bit grey     scaled to 0..255 (x255, x85, x17)  png_set_expand_gray_1_2_4_to_8
 *   alpha, tRNS        dropped, never composited          png_set_strip_alpha
 *   16-bit RGB(A), LA  the high byte                      png_set_strip_16
 *   grey               replicated to R, G and B           png_set_gray_to_rgb
 *   palette            looked up here, not by libpng: PIL's palette starts as the grey
 *                      ramp (i, i, i) and PLTE overwrites its first entries, so an index
 *                      past PLTE is grey where libpng would give black.
 * 16-bit grey is the one deliberate difference: PIL opens it as mode I and convert('RGB')
 * saturates every value above 255 to white; here it is the high byte (v >> 8), like
 * PIL's own 16-bit RGB and LA.
 *
 * Rule: the image is complete once its last row is decoded. Damage after that (a cut
 * IEND, a bad CRC in a trailing chunk) is ignored, as PIL ignores it; a short or corrupt
 * image stream is an error. libpng's errors longjmp back into decode_guarded; whatever
 * is read after the jump lives in the heap-allocated png_job.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "error.h"
#include "image.h"

typedef enum png_stage {
  STAGE_IMAGE,   /* header and pixels: an error fails the decode */
  STAGE_TRAILER, /* chunks after the pixels, read for a late eXIf: errors ignored */
} png_stage;

typedef struct png_job {
  png_structp png;
  png_infop info;
  const uint8_t *data;
  size_t len, pos;
  png_stage stage;
  int truncated;
  char why[256];
  int width, height, is_palette;
  uint8_t *rgb;        /* (h, w, 3) result, owned until handed to the caller */
  uint8_t *index;      /* (h, w) palette indices, palette images only */
  png_bytep *rows;     /* (h) row pointers into rgb or index */
  uint8_t lut[256][3]; /* the palette as PIL sees it */
} png_job;

/* ------------------------------------------------------------------ libpng hooks */

static void on_error(png_structp png, png_const_charp msg) {
  png_job *job = png_get_error_ptr(png);
  snprintf(job->why, sizeof job->why, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
  png_job *job = png_get_io_ptr(png);
  if (n > job->len - job->pos) {
    job->truncated = 1;
    png_error(png, "truncated PNG data");
  }
  memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

/* ------------------------------------------------------------------ decoding */

static void load_palette(png_job *job) {
  for (int i = 0; i < 256; i++)
    job->lut[i][0] = job->lut[i][1] = job->lut[i][2] = (uint8_t)i;
  png_colorp plte = NULL;
  int n = 0;
  if (png_get_PLTE(job->png, job->info, &plte, &n) != PNG_INFO_PLTE)
    return;
  for (int i = 0; i < n && i < 256; i++) {
    job->lut[i][0] = plte[i].red;
    job->lut[i][1] = plte[i].green;
    job->lut[i][2] = plte[i].blue;
  }
}

/* Sets the transforms (see the top of the file) and allocates the pixels. */
static r50_status setup_transforms(png_job *job, const char *name,
                                   const r50_decode_opts *opts, r50_error *err) {
  png_structp png = job->png;
  png_uint_32 w, h;
  int depth, color;
  png_get_IHDR(png, job->info, &w, &h, &depth, &color, NULL, NULL, NULL);
  R50_TRY(r50_image_check_dims(name, w, h, opts, err));
  job->width = (int)w;
  job->height = (int)h;
  if (depth == 16)
    png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    job->is_palette = 1;
    png_set_packing(png);
    load_palette(job);
  } else {
    if (depth < 8)
      png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA)
      png_set_strip_alpha(png);
    if (!(color & PNG_COLOR_MASK_COLOR))
      png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, job->info);
  size_t channels = job->is_palette ? 1 : 3;
  if (png_get_rowbytes(png, job->info) != (size_t)w * channels)
    return r50_fail(err, R50_ERR_FORMAT, "%s: unsupported PNG layout (%d-bit, type %d)",
                    name, depth, color);
  R50_TRY(r50_image_alloc_rgb(name, w, h, &job->rgb, err));
  job->rows = malloc(h * sizeof *job->rows);
  if (job->is_palette)
    job->index = malloc((size_t)w * h);
  if (!job->rows || (job->is_palette && !job->index))
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  uint8_t *base = job->is_palette ? job->index : job->rgb;
  for (png_uint_32 y = 0; y < h; y++)
    job->rows[y] = base + (size_t)y * w * channels;
  return R50_OK;
}

static void expand_palette(png_job *job) {
  size_t n = (size_t)job->width * job->height;
  for (size_t i = 0; i < n; i++)
    memcpy(job->rgb + 3 * i, job->lut[job->index[i]], 3);
}

static int orientation_of(png_job *job) {
  png_bytep exif = NULL;
  png_uint_32 n = 0;
  if (png_get_eXIf_1(job->png, job->info, &n, &exif) && exif)
    return r50_exif_orientation(exif, n);
  return 1;
}

/* The decoding proper; libpng errors longjmp out of it to decode_guarded. */
static r50_status decode_steps(png_job *job, const char *name,
                               const r50_decode_opts *opts, int *orientation,
                               r50_error *err) {
  png_set_read_fn(job->png, job, on_read);
  /* No libpng size limit (its default is 1e6 per side): max_pixels is the limit. */
  png_set_user_limits(job->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(job->png, job->info);
  R50_TRY(setup_transforms(job, name, opts, err));
  png_read_image(job->png, job->rows);
  if (job->is_palette)
    expand_palette(job);
  *orientation = 1;
  if (!opts->exif_rotate)
    return R50_OK;
  *orientation = orientation_of(job);
  if (*orientation == 1) {
    job->stage = STAGE_TRAILER;
    png_read_end(job->png, job->info);
    *orientation = orientation_of(job);
  }
  return R50_OK;
}

static r50_status decode_guarded(png_job *job, const char *name,
                                 const r50_decode_opts *opts, int *orientation,
                                 r50_error *err) {
  if (setjmp(png_jmpbuf(job->png))) {
    if (job->stage == STAGE_TRAILER) {
      *orientation = 1;
      return R50_OK;
    }
    if (job->truncated)
      return r50_fail(err, R50_ERR_FORMAT, "%s: truncated PNG data", name);
    return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt PNG data (%s)", name, job->why);
  }
  return decode_steps(job, name, opts, orientation, err);
}

r50_status r50_png_decode(const uint8_t *data, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  png_job *job = calloc(1, sizeof *job);
  if (!job)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  job->data = data;
  job->len = len;
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
  if (job->png)
    job->info = png_create_info_struct(job->png);
  r50_status s = job->info ? decode_guarded(job, name, opts, orientation, err)
                           : r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  if (s == R50_OK) {
    out->width = job->width;
    out->height = job->height;
    out->rgb = job->rgb;
    job->rgb = NULL;
  }
  png_destroy_read_struct(&job->png, &job->info, NULL);
  free(job->rows);
  free(job->index);
  free(job->rgb);
  free(job);
  return s;
}

/*
 * image_jpeg.c — JPEG to RGB with libjpeg(-turbo), pixel for pixel as Pillow 9.4's
 * JPEG plugin followed by convert('RGB') on the same libjpeg.
 *
 * Pillow keeps libjpeg's defaults (JDCT_ISLOW, fancy upsampling) and picks the output
 * colour space from the component count alone: 1 -> grey (replicated to RGB), 3 -> RGB
 * (libjpeg converts YCbCr), 4 -> CMYK, always read as Adobe's inverted CMYK ("CMYK;I";
 * libjpeg turns YCCK into CMYK first) and converted with Pillow's cmyk2rgb:
 * r = nk - MULDIV255(c, nk) with nk = 255 - k, c and k being 255 minus the stored bytes.
 *
 * Rule: running out of data is an error, as in PIL (libjpeg would warn and pad the
 * picture with grey). libjpeg reports errors by calling error_exit, which longjmps back
 * into decode_guarded; everything read after the jump lives in the heap-allocated
 * jpeg_job, so no local variable is relied on across it.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "error.h"
#include "image.h"

enum {
  MAX_SCANS = 1000, /* a progressive file with more is refused (libjpeg-turbo's own
                       fuzzers stop at 500): each scan rereads the whole picture */
  ROWS_PER_READ = 16,
  EXIF_MARKER = JPEG_APP0 + 1,
};

typedef struct jpeg_job {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr jerr;
  struct jpeg_progress_mgr progress;
  jmp_buf jmp;
  int created; /* cinfo needs jpeg_destroy_decompress */
  char why[JMSG_LENGTH_MAX + 64];
  uint8_t *rgb;      /* (h, w, 3) result, owned until handed to the caller */
  JSAMPLE *cmyk_row; /* (w, 4) for 4-component files */
} jpeg_job;

/* ------------------------------------------------------------------ libjpeg hooks */

static void jump(j_common_ptr c, const char *why) {
  jpeg_job *job = c->client_data;
  snprintf(job->why, sizeof job->why, "%s", why);
  longjmp(job->jmp, 1);
}

static void on_error_exit(j_common_ptr c) {
  char msg[JMSG_LENGTH_MAX], why[JMSG_LENGTH_MAX + 32];
  c->err->format_message(c, msg);
  snprintf(why, sizeof why, "corrupt JPEG data (%s)", msg);
  jump(c, why);
}

/* Warnings are counted and ignored, as in PIL, except the end of the data. */
static void on_emit_message(j_common_ptr c, int level) {
  if (level >= 0)
    return;
  if (c->err->msg_code == JWRN_JPEG_EOF)
    jump(c, "truncated JPEG data");
  c->err->num_warnings++;
}

static void on_output_message(j_common_ptr c) {
  (void)c;
}

static void on_progress(j_common_ptr c) {
  j_decompress_ptr d = (j_decompress_ptr)c;
  if (d->input_scan_number > MAX_SCANS)
    jump(c, "corrupt JPEG data (more than 1000 progressive scans)");
}

/* ------------------------------------------------------------------ decoding */

/* Output colour space as Pillow chooses it from the component count. */
static r50_status set_color_space(jpeg_job *job, const char *name, r50_error *err) {
  switch (job->cinfo.num_components) {
  case 1: job->cinfo.out_color_space = JCS_GRAYSCALE; return R50_OK;
  case 3: job->cinfo.out_color_space = JCS_RGB; return R50_OK;
  case 4: job->cinfo.out_color_space = JCS_CMYK; return R50_OK;
  }
  return r50_fail(err, R50_ERR_FORMAT, "%s: JPEG with %d components is not supported",
                  name, job->cinfo.num_components);
}

/* fast_decode: the largest DCT scale 1/8, 1/4 or 1/2 that keeps the picture at least
 * the target size in both directions. */
static void set_scale(jpeg_job *job, const r50_decode_opts *opts) {
  if (!opts->fast_decode || opts->target_w <= 0 || opts->target_h <= 0)
    return;
  for (unsigned d = 8; d >= 2; d /= 2) {
    if (job->cinfo.image_width >= (uint64_t)d * opts->target_w &&
        job->cinfo.image_height >= (uint64_t)d * opts->target_h) {
      job->cinfo.scale_num = 1;
      job->cinfo.scale_denom = d;
      return;
    }
  }
}

/* Pillow: CMYK;I unpacking inverts (Adobe JPEGs store 255 - ink), then cmyk2rgb. */
static void cmyk_to_rgb(const JSAMPLE *cmyk, uint8_t *rgb, int w) {
  for (int x = 0; x < w; x++, cmyk += 4, rgb += 3) {
    const int ink[4] = {255 - cmyk[0], 255 - cmyk[1], 255 - cmyk[2], 255 - cmyk[3]};
    r50_cmyk_to_rgb(ink, rgb);
  }
}

/* Grey values at the start of a row, spread to RGB in place from the right. */
static void grey_to_rgb_inplace(uint8_t *row, int w) {
  for (int x = w - 1; x >= 0; x--)
    row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = row[x];
}

static void read_rows(jpeg_job *job) {
  struct jpeg_decompress_struct *ci = &job->cinfo;
  int w = (int)ci->output_width, h = (int)ci->output_height;
  size_t stride = (size_t)w * 3;
  while ((int)ci->output_scanline < h) {
    int y = (int)ci->output_scanline;
    if (ci->out_color_space == JCS_CMYK) {
      JSAMPROW row = job->cmyk_row;
      if (jpeg_read_scanlines(ci, &row, 1) == 1)
        cmyk_to_rgb(job->cmyk_row, job->rgb + y * stride, w);
      continue;
    }
    JSAMPROW rows[ROWS_PER_READ];
    int n = h - y < ROWS_PER_READ ? h - y : ROWS_PER_READ;
    for (int i = 0; i < n; i++)
      rows[i] = job->rgb + (size_t)(y + i) * stride;
    int got = (int)jpeg_read_scanlines(ci, rows, (JDIMENSION)n);
    if (ci->out_color_space == JCS_GRAYSCALE)
      for (int i = 0; i < got; i++)
        grey_to_rgb_inplace(rows[i], w);
  }
}

/* PIL's info["exif"]: the first APP1 segment that starts with "Exif\0". */
static int orientation_from_markers(const struct jpeg_decompress_struct *ci) {
  for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
    if (m->marker == EXIF_MARKER && m->data_length >= 5 &&
        memcmp(m->data, "Exif\0", 5) == 0)
      return r50_exif_orientation(m->data, m->data_length);
  return 1;
}

/* The decoding proper; libjpeg errors longjmp out of it to decode_guarded. */
static r50_status decode_steps(jpeg_job *job, const uint8_t *data, size_t len,
                               const char *name, const r50_decode_opts *opts,
                               r50_image *out, int *orientation, r50_error *err) {
  struct jpeg_decompress_struct *ci = &job->cinfo;
  jpeg_mem_src(ci, data, (unsigned long)len);
  if (opts->exif_rotate)
    jpeg_save_markers(ci, EXIF_MARKER, 0xFFFF);
  jpeg_read_header(ci, TRUE);
  /* saved markers live until jpeg_finish_decompress */
  *orientation = opts->exif_rotate ? orientation_from_markers(ci) : 1;
  R50_TRY(r50_image_check_dims(name, ci->image_width, ci->image_height, opts, err));
  R50_TRY(set_color_space(job, name, err));
  set_scale(job, opts);
  job->progress.progress_monitor = on_progress;
  ci->progress = &job->progress;
  jpeg_start_decompress(ci);
  R50_TRY(r50_image_alloc_rgb(name, ci->output_width, ci->output_height, &job->rgb, err));
  if (ci->out_color_space == JCS_CMYK) {
    job->cmyk_row = malloc((size_t)ci->output_width * 4);
    if (!job->cmyk_row)
      return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  }
  read_rows(job);
  jpeg_finish_decompress(ci);
  out->width = (int)ci->output_width;
  out->height = (int)ci->output_height;
  out->rgb = job->rgb;
  job->rgb = NULL;
  return R50_OK;
}

static r50_status decode_guarded(jpeg_job *job, const uint8_t *data, size_t len,
                                 const char *name, const r50_decode_opts *opts,
                                 r50_image *out, int *orientation, r50_error *err) {
  job->cinfo.err = jpeg_std_error(&job->jerr);
  job->jerr.error_exit = on_error_exit;
  job->jerr.emit_message = on_emit_message;
  job->jerr.output_message = on_output_message;
  job->cinfo.client_data = job;
  if (setjmp(job->jmp))
    return r50_fail(err, R50_ERR_FORMAT, "%s: %s", name, job->why);
  jpeg_create_decompress(&job->cinfo);
  job->created = 1;
  return decode_steps(job, data, len, name, opts, out, orientation, err);
}

r50_status r50_jpeg_decode(const uint8_t *data, size_t len, const char *name,
                           const r50_decode_opts *opts, r50_image *out, int *orientation,
                           r50_error *err) {
  jpeg_job *job = calloc(1, sizeof *job);
  if (!job)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  r50_status s = decode_guarded(job, data, len, name, opts, out, orientation, err);
  if (job->created)
    jpeg_destroy_decompress(&job->cinfo);
  free(job->cmyk_row);
  free(job->rgb);
  free(job);
  return s;
}

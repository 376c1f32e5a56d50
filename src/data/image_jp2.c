/*
 * image_jp2.c — JPEG 2000 (a JP2 file, or a bare J2K codestream) to RGB with OpenJPEG,
 * pixel for pixel as Pillow 9.4's JPEG 2000 plugin followed by convert('RGB') on the
 * same OpenJPEG.
 *
 * Pillow decodes the full resolution and every quality layer, one tile at a time
 * (opj_read_tile_header, opj_decode_tile_data), each sample handed over in 1, 2 or 4
 * bytes by its precision. A sample of precision p becomes 8 bits by shifting it
 * (offset + v) left by 8 - p bits below 8 bits, or right by p - 8 bits above, with half
 * of the last bit added to round, in unsigned arithmetic kept to 8 bits; signed samples
 * get offset 2^(p-1). The colour space OpenJPEG reports once the main header is read,
 * or when it reports none (OpenJPEG 2.5 reports none there: a JP2's colr box, sYCC,
 * CMYK or an ICC profile alike, is not consulted, in Pillow as here) the number of
 * components, picks the unpacker:
 *
 *   grey, 1 or 2 components (alpha)       the first component, to R = G = B
 *   sRGB, 3 or 4 components (alpha)       the first three components
 *
 * convert('RGB') then drops alpha, never compositing it. As in Pillow, a file is
 * refused when OpenJPEG cannot read it or when it has more than 4 components; a colour
 * space OpenJPEG names other than grey or sRGB is refused too. JPEG 2000 has no EXIF
 * orientation that Pillow reads.
 *
 * Deliberate differences, where Pillow has no sensible answer: the rounding of samples
 * of more than 8 bits carries their top values past 255, which Pillow wraps to 0 (in a
 * 16-bit file, 65408..65535 become black): here they stay 255; grey of 10 bits or more
 * becomes 8 bits by the same rounded shift, as 9-bit grey does in Pillow (Pillow opens
 * it as "I;16" and then saturates it to white, as 16-bit grey PNGs); files with
 * subsampled components (4:2:0 chroma, rare outside video) are refused with their cause,
 * where Pillow 9.4 takes them for YCbCr, upsamples them with strides that skew odd
 * widths, and converts them with its own tables.
 *
 * Rule: the size is checked (r50_image_check_dims) from the file's first header (a
 * codestream's SIZ, a JP2's ihdr box), as Pillow's plugin reads it, before OpenJPEG
 * reads anything, and again from OpenJPEG's main header with the components; one tile's
 * samples are held at a time (OpenJPEG's own buffers for it aside). OpenJPEG's messages
 * go to a per-file handler, never to stderr, and the first error names the cause.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openjpeg.h>

#include "error.h"
#include "image.h"
#include "iso_box.h"

/* ------------------------------------------------------------------ memory stream */

typedef struct jp2_mem {
  const uint8_t *data;
  size_t len, pos;
  char why[200]; /* OpenJPEG's first error message */
} jp2_mem;

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user) {
  jp2_mem *m = user;
  if (m->pos >= m->len)
    return (OPJ_SIZE_T)-1; /* the end, as OpenJPEG's own file stream says it */
  if (n > m->len - m->pos)
    n = m->len - m->pos;
  memcpy(buf, m->data + m->pos, n);
  m->pos += n;
  return n;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user) {
  jp2_mem *m = user;
  if (n < 0 ? (size_t)-n > m->pos : (uint64_t)n > m->len - m->pos) {
    m->pos = n < 0 ? 0 : m->len;
    return -1;
  }
  m->pos = (size_t)((OPJ_OFF_T)m->pos + n);
  return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T to, void *user) {
  jp2_mem *m = user;
  if (to < 0 || (uint64_t)to > m->len)
    return OPJ_FALSE;
  m->pos = (size_t)to;
  return OPJ_TRUE;
}

static void on_error(const char *msg, void *user) {
  jp2_mem *m = user;
  if (m->why[0])
    return;
  snprintf(m->why, sizeof m->why, "%s", msg);
  m->why[strcspn(m->why, "\n")] = 0;
}

static void on_quiet(const char *msg, void *user) {
  (void)msg, (void)user;
}

/* ------------------------------------------------------------------ samples */

/* One component's conversion to 8 bits, as Pillow's unpackers do it: the sample (as
 * OpenJPEG hands it over, in 1, 2 or 4 bytes, signed or not) plus offset, shifted. */
typedef struct comp_fmt {
  int bytes;      /* per sample in the tile buffer: 1, 2 or 4 */
  int sgnd;       /* signed samples */
  int shift;      /* > 0: left, < 0: right */
  int64_t offset; /* 2^(p-1) for signed samples, plus half the last bit shifted out */
} comp_fmt;

static comp_fmt comp_fmt_of(const opj_image_comp_t *c) {
  comp_fmt f;
  const int prec = (int)c->prec;
  f.bytes = (prec + 7) >> 3;
  if (f.bytes == 3)
    f.bytes = 4;
  f.sgnd = c->sgnd != 0;
  f.shift = 8 - prec;
  f.offset = f.sgnd ? (int64_t)1 << (prec - 1) : 0;
  if (f.shift < 0)
    f.offset += (int64_t)1 << (-f.shift - 1);
  return f;
}

/* Pillow keeps the sum to 8 bits, so that the top values of a high-precision sample
 * round up past 255 and wrap to 0 (white becomes black); here they stay 255. */
static uint8_t sample8(const comp_fmt *f, const uint8_t *p) {
  int64_t v;
  if (f->bytes == 1) {
    v = f->sgnd ? (int64_t)(int8_t)*p : (int64_t)*p;
  } else if (f->bytes == 2) {
    uint16_t u;
    memcpy(&u, p, 2);
    v = f->sgnd ? (int64_t)(int16_t)u : (int64_t)u;
  } else {
    uint32_t u;
    memcpy(&u, p, 4);
    v = f->sgnd ? (int64_t)(int32_t)u : (int64_t)u;
  }
  v += f->offset;
  if (v <= 0)
    return 0;
  v = f->shift < 0 ? v >> -f->shift : v << f->shift;
  return v > 255 ? 255 : (uint8_t)v;
}

/* ------------------------------------------------------------------ the decoder */

typedef struct jp2_job {
  const char *name;
  jp2_mem mem;
  opj_stream_t *stream;
  opj_codec_t *codec;
  opj_image_t *image;
  uint8_t *tile; /* one tile's samples */
  size_t tile_cap;
  int codestream;  /* a bare J2K codestream, else a JP2 file */
  int grey;        /* else sRGB */
  comp_fmt fmt[4]; /* each component's */
} jp2_job;

/* A failure of OpenJPEG's: "truncated" where it ran out of bytes (its messages say so:
 * "Stream too short", a tile part "inconsistent with stream length"), else "corrupt". */
static r50_status corrupt(jp2_job *j, const char *what, r50_error *err) {
  const char *why = j->mem.why;
  const int cut = strstr(why, "too short") || strstr(why, "stream length");
  return r50_fail(err, R50_ERR_FORMAT, "%s: %s JPEG 2000 data (%s%s%s)", j->name,
                  cut ? "truncated" : "corrupt", what, *why ? ": " : "", why);
}

static const char *space_name(OPJ_COLOR_SPACE s) {
  switch (s) {
  case OPJ_CLRSPC_SYCC: return "sYCC";
  case OPJ_CLRSPC_EYCC: return "e-YCC";
  case OPJ_CLRSPC_CMYK: return "CMYK";
  case OPJ_CLRSPC_GRAY: return "grey";
  case OPJ_CLRSPC_SRGB: return "sRGB";
  default: return "an ICC profile or an unknown colour space";
  }
}

/* What Pillow's unpacker table takes; the unpacker into j, or a refusal. */
static r50_status pick_unpacker(jp2_job *j, r50_error *err) {
  const opj_image_t *im = j->image;
  const unsigned n = im->numcomps;
  if (n < 1 || n > 4)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "%s: JPEG 2000 image of %u components not supported (1 to 4 are)",
                    j->name, n);
  for (unsigned c = 0; c < n; c++) {
    const opj_image_comp_t *k = &im->comps[c];
    if (k->dx != 1 || k->dy != 1)
      return r50_fail(err, R50_ERR_UNSUPPORTED,
                      "%s: JPEG 2000 image with subsampled components not supported "
                      "(component %u: 1 sample in %ux%u)",
                      j->name, c, k->dx, k->dy);
    if (k->prec < 1 || k->prec > 31)
      return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt JPEG 2000 data (%u-bit samples)",
                      j->name, k->prec);
  }
  OPJ_COLOR_SPACE space = im->color_space;
  if (space == OPJ_CLRSPC_UNSPECIFIED)
    space = n <= 2 ? OPJ_CLRSPC_GRAY : OPJ_CLRSPC_SRGB;
  const int ok =
      (space == OPJ_CLRSPC_GRAY && n <= 2) || (space == OPJ_CLRSPC_SRGB && n >= 3);
  if (!ok)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "%s: JPEG 2000 colour space not supported: %s with %u component%s "
                    "(grey or sRGB are read)",
                    j->name, space_name(space), n, n == 1 ? "" : "s");
  j->grey = space == OPJ_CLRSPC_GRAY;
  for (unsigned c = 0; c < n; c++)
    j->fmt[c] = comp_fmt_of(&im->comps[c]);
  return R50_OK;
}

/* Decodes the tile whose header was read and puts its pixels in out. */
static r50_status put_tile(jp2_job *j, OPJ_UINT32 index, OPJ_UINT32 size, OPJ_INT32 x0,
                           OPJ_INT32 y0, OPJ_INT32 x1, OPJ_INT32 y1, r50_image *out,
                           r50_error *err) {
  const opj_image_t *im = j->image;
  if (x0 >= x1 || y0 >= y1 || x0 < 0 || y0 < 0 || (OPJ_UINT32)x0 < im->x0 ||
      (OPJ_UINT32)y0 < im->y0 || (int64_t)x1 - im->x0 > out->width ||
      (int64_t)y1 - im->y0 > out->height)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: corrupt JPEG 2000 data (tile %u at %d,%d-%d,%d lies outside the "
                    "image)",
                    j->name, index, x0, y0, x1, y1);
  const size_t w = (size_t)(x1 - x0), h = (size_t)(y1 - y0);
  size_t need = 0; /* the components' samples, one plane after another */
  for (unsigned c = 0; c < im->numcomps; c++)
    need += (size_t)j->fmt[c].bytes * w * h;
  if (need < size)
    need = size;
  if (need > j->tile_cap) {
    uint8_t *t = realloc(j->tile, need);
    if (!t)
      return r50_fail(err, R50_ERR_NOMEM,
                      "%s: out of memory for a %zux%zu JPEG 2000 tile", j->name, w, h);
    j->tile = t;
    j->tile_cap = need;
  }
  if (!opj_decode_tile_data(j->codec, index, j->tile, (OPJ_UINT32)need, j->stream))
    return corrupt(j, "a tile", err);
  const uint8_t *plane[3];
  plane[0] = j->tile;
  for (int c = 1; c < (j->grey ? 1 : 3); c++) /* (sRGB has at least 3 components) */
    plane[c] = plane[c - 1] + (size_t)j->fmt[c - 1].bytes * w * h;
  const size_t ox = (size_t)x0 - im->x0, oy = (size_t)y0 - im->y0;
  for (size_t y = 0; y < h; y++) {
    uint8_t *row = out->rgb + ((oy + y) * (size_t)out->width + ox) * 3;
    for (size_t x = 0; x < w; x++, row += 3) {
      const size_t i = y * w + x;
      if (j->grey) {
        row[0] = row[1] = row[2] = sample8(&j->fmt[0], plane[0] + i * j->fmt[0].bytes);
        continue;
      }
      for (int c = 0; c < 3; c++)
        row[c] = sample8(&j->fmt[c], plane[c] + i * j->fmt[c].bytes);
    }
  }
  return R50_OK;
}

/* The image size as the file's first header says it (a codestream's SIZ, a JP2's ihdr
 * box), read as Pillow's plugin does before anything is decoded; 0 when not found
 * (OpenJPEG then says why). */
static int header_size(const uint8_t *d, size_t n, int codestream, int64_t *w,
                       int64_t *h) {
  if (codestream) { /* SOC, SIZ, Lsiz, Rsiz, then Xsiz Ysiz XOsiz YOsiz from byte 8 */
    if (n < 24 || d[2] != 0xFF || d[3] != 0x51)
      return 0;
    *w = (int64_t)r50_be32(d + 8) - r50_be32(d + 16);
    *h = (int64_t)r50_be32(d + 12) - r50_be32(d + 20);
    return 1;
  }
  r50_span in = {d, n}, box;
  char type[5];
  while (r50_next_box(&in, type, &box)) {
    if (!strcmp(type, "jp2h")) { /* into it, for its ihdr */
      in = box;
    } else if (!strcmp(type, "ihdr") && box.n >= 8) {
      *h = r50_be32(box.p);
      *w = r50_be32(box.p + 4);
      return 1;
    }
  }
  return 0;
}

static r50_status decode(jp2_job *j, const r50_decode_opts *opts, r50_image *out,
                         r50_error *err) {
  int64_t hw, hh;
  if (header_size(j->mem.data, j->mem.len, j->codestream, &hw, &hh))
    R50_TRY(r50_image_check_dims(j->name, hw, hh, opts, err));
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(j->codec, &params))
    return corrupt(j, "decoder set-up", err);
  if (!opj_read_header(j->stream, j->codec, &j->image))
    return corrupt(j, "its header", err);
  const opj_image_t *im = j->image;
  R50_TRY(r50_image_check_dims(j->name, (int64_t)im->x1 - im->x0,
                               (int64_t)im->y1 - im->y0, opts, err));
  R50_TRY(pick_unpacker(j, err));
  const int64_t w = (int64_t)im->x1 - im->x0, h = (int64_t)im->y1 - im->y0;
  R50_TRY(r50_image_alloc_rgb(j->name, w, h, &out->rgb, err));
  memset(out->rgb, 0, (size_t)w * (size_t)h * 3); /* tiles a file lacks stay black */
  out->width = (int)w;
  out->height = (int)h;
  for (;;) {
    OPJ_UINT32 index, size, ncomps;
    OPJ_INT32 x0, y0, x1, y1;
    OPJ_BOOL more;
    if (!opj_read_tile_header(j->codec, j->stream, &index, &size, &x0, &y0, &x1, &y1,
                              &ncomps, &more))
      return corrupt(j, "a tile header", err);
    if (!more)
      break;
    R50_TRY(put_tile(j, index, size, x0, y0, x1, y1, out, err));
  }
  if (!opj_end_decompress(j->codec, j->stream))
    return corrupt(j, "its end", err);
  return R50_OK;
}

r50_status r50_jp2_decode(const uint8_t *data, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  *orientation = 1;
  jp2_job j = {.name = name, .mem = {data, len, 0, ""}};
  j.codestream = len >= 4 && memcmp(data, "\xFF\x4F\xFF\x51", 4) == 0;
  j.codec = opj_create_decompress(j.codestream ? OPJ_CODEC_J2K : OPJ_CODEC_JP2);
  j.stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  if (!j.codec || !j.stream) {
    if (j.codec)
      opj_destroy_codec(j.codec);
    if (j.stream)
      opj_stream_destroy(j.stream);
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for a JPEG 2000 decoder",
                    name);
  }
  opj_set_error_handler(j.codec, on_error, &j.mem);
  opj_set_warning_handler(j.codec, on_quiet, NULL);
  opj_set_info_handler(j.codec, on_quiet, NULL);
  opj_stream_set_read_function(j.stream, mem_read);
  opj_stream_set_skip_function(j.stream, mem_skip);
  opj_stream_set_seek_function(j.stream, mem_seek);
  opj_stream_set_user_data(j.stream, &j.mem, NULL);
  opj_stream_set_user_data_length(j.stream, len);
  r50_status s = decode(&j, opts, out, err);
  if (s != R50_OK)
    r50_image_free(out);
  free(j.tile);
  if (j.image)
    opj_image_destroy(j.image);
  opj_destroy_codec(j.codec);
  opj_stream_destroy(j.stream);
  return s;
}

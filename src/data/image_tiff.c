/*
 * image_tiff.c — TIFF to RGB with libtiff, pixel for pixel as Pillow 9.4's TIFF plugin
 * followed by convert('RGB').
 *
 * The first image (IFD0) of the file is read. libtiff decodes every compression it was
 * built with (none, LZW, Deflate, PackBits, JPEG, CCITT, ...) into samples, with the
 * FillOrder and byte order undone, as Pillow's libtiff path does; the samples then
 * become RGB as Pillow's mode for them (its OPEN_INFO table) converts:
 *
 *   MinIsWhite/MinIsBlack 1 bit    "1": 0 or 255 (MinIsWhite inverted)
 *   ... 2, 4, 8 bits               "L": the value scaled by 85, 17 or 1 (inverted)
 *   ... 8 bits + unassociated alpha "LA": alpha dropped
 *   ... 16 bits unsigned           "I;16": the high byte (PIL saturates, see below)
 *   MinIsBlack 12 bits             "I;16" (Pillow's "I;12" unpacker): the top 8 bits
 *                                  (PIL saturates, see below)
 *   ... 16/32 bits signed, 32 unsigned, 32 float   "I"/"F": clipped to 0..255, floats
 *                                  truncated, NaN 0
 *   RGB 8 or 16 bits (the high byte), with up to 3 extra samples: alpha dropped;
 *                                  associated (premultiplied) alpha undone first as
 *                                  Pillow's "RGBa" unpacker does: v * 255 / a, 0 at a = 0
 *   Palette 1, 2, 4, 8 bits (+ alpha) the colour map's high bytes
 *   CMYK (Separated) 8 or 16 bits  Pillow's cmyk2rgb
 *   YCbCr, JPEG-compressed         libjpeg's own conversion (JPEGCOLORMODE_RGB)
 *   YCbCr, otherwise compressed    libtiff's TIFFRGBAImage conversion, as Pillow's
 *
 * The Orientation tag is applied, as Pillow 9.4's TIFF plugin applies it on load (not
 * only with --exif-rotate, which does not turn the image a second time).
 *
 * Deliberate differences, each where Pillow has no sensible answer: 16-bit unsigned
 * grey is reduced to its high byte, as 16-bit grey PNGs are, and 12-bit grey to its top
 * 8 bits, where PIL saturates both to white; planar (PlanarConfiguration 2) files are
 * read as their samples say, where Pillow 9.4 misplaces uncompressed planes and refuses
 * compressed ones; uncompressed YCbCr, CIELab, old-style JPEG and 12-bit files other than
 * grey are refused with their cause.
 *
 * Rule: the size is checked (r50_image_check_dims) before anything is allocated; the
 * file is decoded a band of rows (one strip or one row of tiles) at a time; a strip or
 * tile that lies past the end of the file, or that libtiff cannot decode, fails the
 * image, as in PIL.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "error.h"
#include "image.h"

/* ------------------------------------------------------------------ memory I/O */

typedef struct tiff_mem {
  const uint8_t *data;
  toff_t len, pos;
  char why[200]; /* libtiff's first error message */
} tiff_mem;

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t n) {
  tiff_mem *m = h;
  if (n <= 0 || m->pos >= m->len)
    return 0;
  toff_t k = m->len - m->pos < (toff_t)n ? m->len - m->pos : (toff_t)n;
  memcpy(buf, m->data + m->pos, k);
  m->pos += k;
  return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t n) {
  (void)h, (void)buf, (void)n;
  return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  tiff_mem *m = h;
  toff_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
  m->pos = base + off;
  return m->pos;
}

static int mem_close(thandle_t h) {
  (void)h;
  return 0;
}

static toff_t mem_size(thandle_t h) {
  return ((tiff_mem *)h)->len;
}

static int mem_map(thandle_t h, void **base, toff_t *size) {
  tiff_mem *m = h;
  *base = (void *)m->data;
  *size = m->len;
  return 1;
}

static void mem_unmap(thandle_t h, void *base, toff_t size) {
  (void)h, (void)base, (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt,
                    va_list ap) {
  (void)tif, (void)module;
  tiff_mem *m = user;
  if (!m->why[0])
    vsnprintf(m->why, sizeof m->why, fmt, ap);
  return 1;
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt,
                      va_list ap) {
  (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
  return 1; /* PIL shows none */
}

/* ------------------------------------------------------------------ layout */

typedef enum {
  K_BILEVEL, /* "1" */
  K_GREY,    /* "L": 2, 4 or 8 bits, sample 0 */
  K_GREY16,  /* "I;16" */
  K_INT,     /* "I": 16 signed, 32 signed or unsigned */
  K_FLOAT,   /* "F" */
  K_RGB,     /* "RGB"/"RGBA"/"RGBX", 8 or 16 bits */
  K_PALETTE, /* "P"/"PA" */
  K_CMYK,
  K_RGBA_IMAGE /* YCbCr through TIFFRGBAImage */
} tiff_kind;

typedef struct tiff_layout {
  uint32_t w, h;
  uint16_t bps, spp, photometric, sample_format, planar, compression;
  tiff_kind kind;
  int inverted;      /* MinIsWhite below 16 bits */
  int premultiplied; /* RGB with associated alpha as its first extra sample */
  uint16_t *cmap[3]; /* palette: 1 << bps entries each */
} tiff_layout;

/* Pillow's OPEN_INFO accepts these extra-sample lists after R, G, B. */
static int rgb_extras_ok(uint16_t spp, uint16_t n, const uint16_t *ex, uint16_t bps) {
  if (spp == 3)
    return n == 0;
  if (spp == 4 && n == 0)
    return 1;
  if (n != spp - 3u || n > (bps == 8 ? 3 : 1))
    return 0;
  if (ex[0] > 2 && !(bps == 8 && n == 1 && ex[0] == 999))
    return 0;
  for (uint16_t i = 1; i < n; i++)
    if (ex[i] != 0)
      return 0;
  return 1;
}

/* Fails naming t's layout in words, then its tags' values: "TIFF layout not
 * supported: RGB pixels, 3 samples of 64-bit floats (photometric 2, ...)". */
static r50_status refuse(const char *name, const tiff_layout *t, const char *what,
                         r50_error *err) {
  static const char *const PHOTOMETRIC[] = {"grey (MinIsWhite)",
                                            "grey",
                                            "RGB",
                                            "palette",
                                            "mask",
                                            "CMYK",
                                            "YCbCr",
                                            "?",
                                            "CIELab"};
  static const char *const FORMAT[] = {"?",
                                       "unsigned integers",
                                       "signed integers",
                                       "floats",
                                       "untyped samples",
                                       "complex integers",
                                       "complex floats"};
  const char *photo = t->photometric < 9 ? PHOTOMETRIC[t->photometric] : "other";
  const char *fmt = t->sample_format < 7 ? FORMAT[t->sample_format] : "other samples";
  return r50_fail(err, R50_ERR_UNSUPPORTED,
                  "%s: TIFF %s not supported: %s pixels, %u sample%s of %u-bit %s "
                  "(photometric %u, sample format %u, compression %u)",
                  name, what, photo, t->spp, t->spp == 1 ? "" : "s", t->bps, fmt,
                  t->photometric, t->sample_format, t->compression);
}

/* The kind of t's samples, as Pillow's mode for them; fails for those PIL (or this
 * reader) does not take. */
static r50_status classify(TIFF *tif, const char *name, tiff_layout *t, r50_error *err) {
  uint16_t n_extra = 0, *extra = NULL;
  TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
  uint16_t a = n_extra ? extra[0] : 0;
  int grey_like = t->photometric <= PHOTOMETRIC_MINISBLACK;
  t->inverted = t->photometric == PHOTOMETRIC_MINISWHITE;
  if (t->compression == COMPRESSION_OJPEG)
    return refuse(name, t, "in old-style JPEG", err);
  if (!TIFFIsCODECConfigured(t->compression))
    return refuse(name, t, "compression", err);
  if (grey_like && t->sample_format == SAMPLEFORMAT_IEEEFP) {
    if (t->spp == 1 && t->bps == 32) {
      t->kind = K_FLOAT;
      return R50_OK;
    }
  } else if (grey_like && t->spp == 1 && t->bps <= 8 && t->sample_format == 1) {
    if (t->bps == 1 || t->bps == 2 || t->bps == 4 || t->bps == 8) {
      t->kind = t->bps == 1 ? K_BILEVEL : K_GREY;
      return R50_OK;
    }
  } else if (grey_like && t->spp == 1 && (t->bps == 16 || t->bps == 32) &&
             t->sample_format <= SAMPLEFORMAT_INT) {
    t->kind = t->bps == 16 && t->sample_format == 1 ? K_GREY16 : K_INT;
    return R50_OK;
  } else if (t->photometric == PHOTOMETRIC_MINISBLACK && t->spp == 1 && t->bps == 12 &&
             t->sample_format == 1) { /* a camera's or a scanner's 12 bits */
    t->kind = K_GREY16;
    return R50_OK;
  } else if (t->photometric == PHOTOMETRIC_MINISBLACK && t->spp == 2 && t->bps == 8 &&
             t->sample_format == 1 && n_extra == 1 && a == EXTRASAMPLE_UNASSALPHA) {
    t->kind = K_GREY;
    return R50_OK;
  } else if (t->photometric == PHOTOMETRIC_RGB && (t->bps == 8 || t->bps == 16) &&
             t->sample_format == 1 && rgb_extras_ok(t->spp, n_extra, extra, t->bps)) {
    t->kind = K_RGB;
    t->premultiplied = n_extra > 0 && a == EXTRASAMPLE_ASSOCALPHA;
    return R50_OK;
  } else if (t->photometric == PHOTOMETRIC_PALETTE && t->sample_format == 1 &&
             ((t->spp == 1 &&
               (t->bps == 1 || t->bps == 2 || t->bps == 4 || t->bps == 8)) ||
              (t->spp == 2 && t->bps == 8 && n_extra == 1 &&
               a == EXTRASAMPLE_UNASSALPHA))) {
    if (!TIFFGetField(tif, TIFFTAG_COLORMAP, &t->cmap[0], &t->cmap[1], &t->cmap[2]))
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s: corrupt TIFF data (a palette image without a colour map)",
                      name);
    t->kind = K_PALETTE;
    return R50_OK;
  } else if (t->photometric == PHOTOMETRIC_SEPARATED && t->spp >= 4 &&
             t->sample_format == 1 &&
             ((t->bps == 8 && t->spp <= 6) || (t->bps == 16 && t->spp == 4))) {
    for (uint16_t i = 0; i < n_extra; i++)
      if (extra[i] != 0)
        return refuse(name, t, "layout", err);
    if (n_extra == t->spp - 4u) {
      t->kind = K_CMYK;
      return R50_OK;
    }
  } else if (t->photometric == PHOTOMETRIC_YCBCR && t->spp == 3 && t->bps == 8 &&
             t->sample_format == 1) {
    if (t->compression == COMPRESSION_JPEG && t->planar == PLANARCONFIG_CONTIG) {
      TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
      t->kind = K_RGB;
      return R50_OK;
    }
    if (t->compression != COMPRESSION_NONE) {
      t->kind = K_RGBA_IMAGE;
      return R50_OK;
    }
    return refuse(name, t, "uncompressed YCbCr", err);
  }
  return refuse(name, t, "layout", err);
}

/* ------------------------------------------------------------------ samples */

/* Sample i of a decoded row of bps-bit samples (MSB first below 8 bits, native
 * byte order above). */
static uint32_t sample_at(const uint8_t *row, size_t i, int bps) {
  switch (bps) {
  case 1: return (row[i >> 3] >> (7 - (i & 7))) & 1;
  case 2: return (row[i >> 2] >> (6 - 2 * (i & 3))) & 3;
  case 4: return (row[i >> 1] >> (4 - 4 * (i & 1))) & 15;
  case 8: return row[i];
  case 12: { /* two samples in three bytes */
    const uint8_t *p = row + (i >> 1) * 3;
    return i & 1 ? (uint32_t)(p[1] & 15) << 8 | p[2] : (uint32_t)p[0] << 4 | p[1] >> 4;
  }
  case 16: {
    uint16_t v;
    memcpy(&v, row + 2 * i, 2);
    return v;
  }
  default: {
    uint32_t v;
    memcpy(&v, row + 4 * i, 4);
    return v;
  }
  }
}

static uint8_t clip8(int64_t v) {
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Pillow's "F" to "RGB": truncated toward zero and clipped; NaN to 0. */
static uint8_t float_to_u8(uint32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  if (!(f > 0))
    return 0;
  return f >= 255 ? 255 : (uint8_t)f;
}

/* Pillow's "RGBa" unpacker: associated alpha undone with integer division. */
static uint8_t unpremultiply(uint32_t v, uint32_t a) {
  if (a == 0)
    return 0;
  return a == 255 ? (uint8_t)v : clip8((int64_t)v * 255 / a);
}

/* One pixel's RGB from its samples s[0..spp) (already fetched). */
static void to_rgb(const tiff_layout *t, const uint32_t *s, uint8_t *rgb) {
  static const uint8_t GREY_SCALE[9] = {0, 255, 85, 0, 17, 0, 0, 0, 1};
  uint8_t v;
  switch (t->kind) {
  case K_BILEVEL:
  case K_GREY:
    v = (uint8_t)(s[0] * GREY_SCALE[t->bps]);
    v = t->inverted ? (uint8_t)(255 - v) : v;
    rgb[0] = rgb[1] = rgb[2] = v;
    return;
  case K_GREY16: rgb[0] = rgb[1] = rgb[2] = (uint8_t)(s[0] >> (t->bps - 8)); return;
  case K_INT:
    v = t->bps == 16 ? clip8((int16_t)s[0]) : clip8((int32_t)s[0]);
    rgb[0] = rgb[1] = rgb[2] = v;
    return;
  case K_FLOAT: rgb[0] = rgb[1] = rgb[2] = float_to_u8(s[0]); return;
  case K_PALETTE:
    for (int c = 0; c < 3; c++)
      rgb[c] = (uint8_t)(t->cmap[c][s[0]] >> 8);
    return;
  case K_CMYK: {
    int ink[4]; /* as TIFF stores them, not inverted */
    for (int c = 0; c < 4; c++)
      ink[c] = (int)(t->bps == 16 ? s[c] >> 8 : s[c]);
    r50_cmyk_to_rgb(ink, rgb);
    return;
  }
  default: { /* K_RGB */
    int shift = t->bps == 16 ? 8 : 0;
    uint32_t a = t->premultiplied ? s[3] >> shift : 255;
    for (int c = 0; c < 3; c++)
      rgb[c] = unpremultiply(s[c] >> shift, a);
    return;
  }
  }
}

/* ------------------------------------------------------------------ decoding */

typedef struct band {
  uint8_t *buf;     /* planes x rows x row_bytes */
  size_t row_bytes; /* one decoded row of one plane */
  uint32_t rows;    /* rows per band (strip or tile height) */
  int planes;       /* spp when planar, else 1 */
  uint8_t *tile;    /* one decoded tile, when tiled */
} band;

static r50_status decode_failed(const char *name, const tiff_mem *m, const char *what,
                                uint32_t index, r50_error *err) {
  return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt TIFF data (%s %u: %s)", name, what,
                  index, m->why[0] ? m->why : "libtiff could not decode it");
}

/* Fills band b with rows [y0, y0 + n) of every plane. */
static r50_status read_band(TIFF *tif, const tiff_layout *t, const tiff_mem *m, band *b,
                            uint32_t y0, uint32_t n, const char *name, r50_error *err) {
  size_t plane_bytes = b->row_bytes * b->rows;
  if (!TIFFIsTiled(tif)) {
    for (int p = 0; p < b->planes; p++) {
      uint32_t strip = TIFFComputeStrip(tif, y0, (uint16_t)p);
      if (TIFFReadEncodedStrip(tif, strip, b->buf + p * plane_bytes,
                               (tmsize_t)(b->row_bytes * n)) < 0)
        return decode_failed(name, m, "strip", strip, err);
    }
    return R50_OK;
  }
  uint32_t tw = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
  size_t tile_row = (size_t)TIFFTileRowSize64(tif);
  int bits = t->bps * (b->planes > 1 ? 1 : t->spp);
  for (int p = 0; p < b->planes; p++)
    for (uint32_t x0 = 0; x0 < t->w; x0 += tw) {
      uint32_t tile = TIFFComputeTile(tif, x0, y0, 0, (uint16_t)p);
      if (TIFFReadEncodedTile(tif, tile, b->tile, TIFFTileSize64(tif)) < 0)
        return decode_failed(name, m, "tile", tile, err);
      uint32_t cols = t->w - x0 < tw ? t->w - x0 : tw;
      size_t at = (size_t)x0 * bits / 8, bytes = ((size_t)cols * bits + 7) / 8;
      for (uint32_t r = 0; r < n; r++)
        memcpy(b->buf + p * plane_bytes + r * b->row_bytes + at, b->tile + r * tile_row,
               bytes);
    }
  return R50_OK;
}

/* The strips or tiles must lie inside the file (PIL fails on a cut file). */
static r50_status check_extents(TIFF *tif, const tiff_mem *m, const char *name,
                                r50_error *err) {
  uint32_t n = TIFFNumberOfStrips(tif); /* strips or tiles */
  for (uint32_t i = 0; i < n; i++) {
    int bad = 0;
    uint64_t off = TIFFGetStrileOffsetWithErr(tif, i, &bad);
    uint64_t len = bad ? 0 : TIFFGetStrileByteCountWithErr(tif, i, &bad);
    if (bad)
      return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt TIFF data (no offset for %s %u)",
                      name, TIFFIsTiled(tif) ? "tile" : "strip", i);
    if (off > m->len || len > m->len - off)
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s: truncated TIFF data (%s %u ends at byte %llu of %llu)", name,
                      TIFFIsTiled(tif) ? "tile" : "strip", i,
                      (unsigned long long)(off + len), (unsigned long long)m->len);
  }
  return R50_OK;
}

static r50_status read_samples(TIFF *tif, const tiff_layout *t, const tiff_mem *m,
                               uint8_t *rgb, const char *name, r50_error *err) {
  band b = {0};
  b.planes = t->planar == PLANARCONFIG_SEPARATE ? t->spp : 1;
  b.row_bytes = (size_t)TIFFScanlineSize64(tif);
  uint32_t rows = t->h;
  if (TIFFIsTiled(tif))
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &rows);
  else
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows);
  b.rows = rows == 0 || rows > t->h ? t->h : rows;
  if (b.row_bytes == 0)
    return decode_failed(name, m, "row", 0, err);
  if (TIFFIsTiled(tif)) { /* tiles may exceed the image, but not absurdly */
    uint32_t tw = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    uint64_t tile_px = (uint64_t)tw * rows, img_px = (uint64_t)t->w * t->h;
    int bits = t->bps * (b.planes > 1 ? 1 : t->spp);
    if (tw == 0 || rows == 0 || (uint64_t)tw * bits % 8 || /* tiles start on a byte */
        (tile_px > 4 * img_px && tile_px > (1u << 20)))
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s: corrupt TIFF data (tiles of %ux%u for a %ux%u image)", name,
                      tw, rows, t->w, t->h);
  }
  b.buf = calloc((size_t)b.planes * b.rows, b.row_bytes);
  if (TIFFIsTiled(tif))
    b.tile = malloc((size_t)TIFFTileSize64(tif));
  if (!b.buf || (TIFFIsTiled(tif) && !b.tile)) {
    free(b.buf), free(b.tile);
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for a band of TIFF rows",
                    name);
  }
  r50_status s = R50_OK;
  uint32_t spp = t->spp;
  for (uint32_t y0 = 0; y0 < t->h && s == R50_OK; y0 += b.rows) {
    uint32_t n = t->h - y0 < b.rows ? t->h - y0 : b.rows;
    s = read_band(tif, t, m, &b, y0, n, name, err);
    int plain_rgb = t->kind == K_RGB && t->bps == 8 && spp == 3 && b.planes == 1;
    for (uint32_t r = 0; r < n && s == R50_OK; r++) {
      uint8_t *out = rgb + ((size_t)(y0 + r) * t->w) * 3;
      if (plain_rgb) { /* the common case: the samples are the pixels */
        memcpy(out, b.buf + r * b.row_bytes, (size_t)t->w * 3);
        continue;
      }
      for (uint32_t x = 0; x < t->w; x++, out += 3) {
        uint32_t smp[8];
        for (uint32_t k = 0; k < spp && k < 8; k++) {
          const uint8_t *row =
              b.buf + ((b.planes > 1 ? k * b.rows : 0) + r) * b.row_bytes;
          smp[k] = sample_at(row, b.planes > 1 ? x : (size_t)x * spp + k, t->bps);
        }
        to_rgb(t, smp, out);
      }
    }
  }
  free(b.buf);
  free(b.tile);
  return s;
}

/* YCbCr other than JPEG: libtiff's RGBA conversion, top row first, as Pillow's. */
static r50_status read_rgba_image(TIFF *tif, const tiff_layout *t, const tiff_mem *m,
                                  uint8_t *rgb, const char *name, r50_error *err) {
  size_t n = (size_t)t->w * t->h;
  uint32_t *raster = malloc(n * 4);
  if (!raster)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for a %ux%u TIFF", name, t->w,
                    t->h);
  r50_status s = R50_OK;
  if (!TIFFReadRGBAImageOriented(tif, t->w, t->h, raster, ORIENTATION_TOPLEFT, 1))
    s = decode_failed(name, m, "image", 0, err);
  for (size_t i = 0; i < n && s == R50_OK; i++) {
    rgb[3 * i] = (uint8_t)TIFFGetR(raster[i]);
    rgb[3 * i + 1] = (uint8_t)TIFFGetG(raster[i]);
    rgb[3 * i + 2] = (uint8_t)TIFFGetB(raster[i]);
  }
  free(raster);
  return s;
}

static r50_status read_layout(TIFF *tif, const char *name, const r50_decode_opts *opts,
                              tiff_layout *t, r50_error *err) {
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &t->w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &t->h);
  R50_TRY(r50_image_check_dims(name, t->w, t->h, opts, err));
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &t->bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &t->spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &t->sample_format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &t->planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &t->compression);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &t->photometric))
    t->photometric = PHOTOMETRIC_MINISWHITE; /* PIL's default (libtiff guesses first) */
  return classify(tif, name, t, err);
}

static r50_status decode_open(TIFF *tif, const tiff_mem *m, const char *name,
                              const r50_decode_opts *opts, r50_image *out,
                              int *orientation, r50_error *err) {
  tiff_layout t = {0};
  R50_TRY(read_layout(tif, name, opts, &t, err));
  R50_TRY(check_extents(tif, m, name, err));
  uint16_t o = 1;
  if (TIFFGetField(tif, TIFFTAG_ORIENTATION, &o) && o >= 1 && o <= 8)
    *orientation = o;
  uint8_t *rgb;
  R50_TRY(r50_image_alloc_rgb(name, t.w, t.h, &rgb, err));
  r50_status s = t.kind == K_RGBA_IMAGE ? read_rgba_image(tif, &t, m, rgb, name, err)
                                        : read_samples(tif, &t, m, rgb, name, err);
  if (s != R50_OK) {
    free(rgb);
    return s;
  }
  out->rgb = rgb;
  out->width = (int)t.w;
  out->height = (int)t.h;
  return R50_OK;
}

r50_status r50_tiff_decode(const uint8_t *data, size_t len, const char *name,
                           const r50_decode_opts *opts, r50_image *out, int *orientation,
                           r50_error *err) {
  *orientation = 1;
  tiff_mem m = {.data = data, .len = len};
  TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
  if (!o)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory opening a TIFF", name);
  TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, &m);
  TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, &m);
  /* libtiff's own buffers: at most a whole image of 16-byte pixels at --max-pixels */
  if (opts->max_pixels > 0)
    TIFFOpenOptionsSetMaxSingleMemAlloc(
        o, (tmsize_t)(opts->max_pixels < (1 << 22) ? 1 << 26 : opts->max_pixels * 16));
  TIFF *tif = TIFFClientOpenExt(name, "r", &m, mem_read, mem_write, mem_seek, mem_close,
                                mem_size, mem_map, mem_unmap, o);
  TIFFOpenOptionsFree(o);
  if (!tif)
    return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt TIFF data (%s)", name,
                    m.why[0] ? m.why : "libtiff could not read its first directory");
  r50_status s = decode_open(tif, &m, name, opts, out, orientation, err);
  TIFFClose(tif);
  return s;
}

/*
 * image_bmp.c — Windows BMP to RGB, pixel for pixel as Pillow 9.4's BMP plugin followed
 * by convert('RGB') (no library).
 *
 * What Pillow reads, and how:
 *   headers      OS/2 1.x (12 bytes: 16-bit sizes, 3-byte palette entries) and Windows
 *                40, 64, 108, 124 (32-bit sizes, 4-byte entries); rows bottom-up, or
 *                top-down when the height's top byte is 0xFF (a negative height)
 *   1, 4, 8 bit  a palette of `colors` entries (0: 1 << bits), read after the header
 *                (and the pixel offset moved past it when it points at the header's
 *                end); an index past it is grey (i, i, i), PIL's palette starting as
 *                that ramp. A palette that is the grey ramp ((0, 0, 0), (255, 255, 255)
 *                for two colours) makes Pillow read the pixels as mode "1" (1 bit) or
 *                "L" (8 bits, whatever the depth: a 4-bit file then reads as bytes, and
 *                fails where a row's bytes exceed its stride)
 *   16 bit       5-5-5 (x * 255 / 31), or 5-6-5 with BITFIELDS
 *   24, 32 bit   BGR, BGRX; BITFIELDS of the layouts Pillow lists (alpha dropped)
 *   RLE8, RLE4   Pillow's decoder, its quirks kept: a run longer than the row is cut
 *                at the row's end, a literal run is not; a delta reads four bytes and
 *                uses the last two; an odd RLE4 literal count drops its last pixel;
 *                literal runs pad to an even file offset; too few pixels fail
 *   rows         ((width * bits + 31) / 32) * 4 bytes; a file cut short fails
 *
 * Rule: the size is checked (r50_image_check_dims) before any pixel buffer is made;
 * every read is bounds-checked against the file.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

enum { RAW = 0, RLE8 = 1, RLE4 = 2, BITFIELDS = 3 };

static uint32_t le16(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p) {
  return le16(p) | le16(p + 2) << 16;
}

/* How a pixel is stored. */
typedef enum bmp_layout {
  INDEX_1, /* 1, 4, 8 bit: palette indices */
  INDEX_4,
  INDEX_8,
  GREY_1, /* Pillow's mode "1" and "L" for a grey-ramp palette */
  GREY_8,
  BGR_15,
  BGR_16,
  BGR_24,
  BGRX_32,
  XBGR_32,
  RGBX_32,
} bmp_layout;

typedef struct bmp {
  int64_t w, h;
  int top_down, bits, compression;
  bmp_layout layout;
  uint8_t lut[256][3];
  uint64_t offset; /* of the pixels */
} bmp;

#define FAIL(...) r50_fail(err, R50_ERR_FORMAT, __VA_ARGS__)

/* The 32-bit BITFIELDS layouts Pillow reads (masks r, g, b, a), alpha dropped. */
static int mask_layout(uint32_t r, uint32_t g, uint32_t b, uint32_t a, bmp_layout *out) {
  static const struct {
    uint32_t r, g, b, a;
    bmp_layout layout;
  } known[] = {
      {0xFF0000, 0xFF00, 0xFF, 0, BGRX_32},
      {0xFF000000, 0xFF0000, 0xFF00, 0, XBGR_32},
      {0xFF000000, 0xFF0000, 0xFF00, 0xFF, XBGR_32}, /* ABGR */
      {0xFF, 0xFF00, 0xFF0000, 0xFF000000, RGBX_32}, /* RGBA */
      {0xFF0000, 0xFF00, 0xFF, 0xFF000000, BGRX_32}, /* BGRA */
      {0, 0, 0, 0, BGRX_32},                         /* BGRA */
  };
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (known[i].r == r && known[i].g == g && known[i].b == b && known[i].a == a) {
      *out = known[i].layout;
      return 1;
    }
  return 0;
}

/* Reads the palette at d[pos], `colors` entries of `entry` bytes, into b->lut, and picks
 * the index layout (grey when it is the ramp). */
static r50_status read_palette(const uint8_t *d, size_t len, size_t pos, int64_t colors,
                               int entry, const char *name, bmp *b, r50_error *err) {
  if (colors <= 0 || colors > 256)
    return FAIL("%s: BMP palette of %lld colours is not supported", name,
                (long long)colors);
  if (pos > len || len - pos < (size_t)(colors * entry))
    return FAIL("%s: truncated BMP data (the palette)", name);
  for (int i = 0; i < 256; i++)
    b->lut[i][0] = b->lut[i][1] = b->lut[i][2] = (uint8_t)i;
  int grey = 1;
  for (int64_t i = 0; i < colors; i++) {
    const uint8_t *e = d + pos + i * entry;
    const int want = colors == 2 ? (i ? 255 : 0) : (int)i;
    grey &= e[0] == want && e[1] == want && e[2] == want;
    b->lut[i][0] = e[2];
    b->lut[i][1] = e[1];
    b->lut[i][2] = e[0];
  }
  if (grey)
    b->layout = colors == 2 ? GREY_1 : GREY_8;
  else
    b->layout = b->bits == 1 ? INDEX_1 : b->bits == 4 ? INDEX_4 : INDEX_8;
  return R50_OK;
}

static r50_status read_header(const uint8_t *d, size_t len, const char *name,
                              const r50_decode_opts *opts, bmp *b, r50_error *err) {
  if (len < 18)
    return FAIL("%s: truncated BMP data (the header)", name);
  uint64_t offset = le32(d + 10);
  const uint32_t hsize = le32(d + 14);
  if (hsize != 12 && hsize != 40 && hsize != 64 && hsize != 108 && hsize != 124)
    return FAIL("%s: BMP header of %u bytes is not supported", name, hsize);
  if (len < 14 + (size_t)hsize)
    return FAIL("%s: truncated BMP data (the header)", name);
  const uint8_t *h = d + 18; /* after the header's size */
  size_t pos = 14 + hsize;
  int entry = 4;
  int64_t colors = 0;
  uint32_t mask[4] = {0};
  if (hsize == 12) {
    b->w = le16(h);
    b->h = le16(h + 2);
    b->bits = (int)le16(h + 6);
    b->compression = RAW;
    entry = 3;
  } else {
    b->top_down = h[7] == 0xFF;
    b->w = le32(h);
    b->h = b->top_down ? (int64_t)(UINT64_C(1) << 32) - le32(h + 4) : le32(h + 4);
    b->bits = (int)le16(h + 10);
    b->compression = (int)le32(h + 12);
    colors = le32(h + 28);
    if (b->compression == BITFIELDS) {
      if (hsize >= 56)
        for (int i = 0; i < 4; i++)
          mask[i] = le32(h + 36 + 4 * i);
      else if (len - pos < 12)
        return FAIL("%s: truncated BMP data (the bit masks)", name);
      else
        for (int i = 0; i < 3; i++, pos += 4)
          mask[i] = le32(d + pos);
    }
  }
  if (b->w > INT32_MAX || b->h > INT32_MAX)
    return FAIL("%s: BMP of %lldx%lld pixels is too large", name, (long long)b->w,
                (long long)b->h);
  R50_TRY(r50_image_check_dims(name, b->w, b->h, opts, err));
  if (colors == 0)
    colors = b->bits < 63 ? INT64_C(1) << b->bits : 0;
  if (offset == 14 + hsize && b->bits <= 8)
    offset += 4 * (uint64_t)colors;
  b->offset = offset ? offset : pos; /* (an offset of 0: the pixels follow) */
  switch (b->bits) {
  case 1:
  case 4:
  case 8: break;
  case 16: b->layout = BGR_15; break;
  case 24: b->layout = BGR_24; break;
  case 32: b->layout = BGRX_32; break;
  default: return FAIL("%s: BMP of %d bits a pixel is not supported", name, b->bits);
  }
  if (b->compression == BITFIELDS) {
    int ok =
        (b->bits == 32 && mask_layout(mask[0], mask[1], mask[2], mask[3], &b->layout)) ||
        (b->bits == 24 && mask[0] == 0xFF0000 && mask[1] == 0xFF00 && mask[2] == 0xFF);
    if (b->bits == 16 && mask[2] == 0x1F &&
        ((mask[0] == 0xF800 && mask[1] == 0x7E0) ||
         (mask[0] == 0x7C00 && mask[1] == 0x3E0))) {
      ok = 1;
      b->layout = mask[0] == 0xF800 ? BGR_16 : BGR_15;
    }
    if (!ok)
      return FAIL("%s: BMP bit-field layout is not supported", name);
  } else if (b->compression != RAW && b->compression != RLE8 && b->compression != RLE4) {
    return FAIL("%s: BMP compression %d is not supported", name, b->compression);
  }
  if (b->bits <= 8)
    return read_palette(d, len, pos, colors, entry, name, b, err);
  return R50_OK;
}

/* ------------------------------------------------------------------ pixels */

/* One stored row into (w, 3) RGB. */
static void convert_row(const bmp *b, const uint8_t *row, uint8_t *o) {
  for (int64_t x = 0; x < b->w; x++, o += 3) {
    uint32_t v;
    switch (b->layout) {
    case INDEX_1: memcpy(o, b->lut[row[x >> 3] >> (7 - (x & 7)) & 1], 3); break;
    case INDEX_4: memcpy(o, b->lut[row[x >> 1] >> (x & 1 ? 0 : 4) & 15], 3); break;
    case INDEX_8: memcpy(o, b->lut[row[x]], 3); break;
    case GREY_1: o[0] = o[1] = o[2] = row[x >> 3] >> (7 - (x & 7)) & 1 ? 255 : 0; break;
    case GREY_8: o[0] = o[1] = o[2] = row[x]; break;
    case BGR_15:
      v = le16(row + 2 * x);
      o[0] = (uint8_t)((v >> 10 & 31) * 255 / 31);
      o[1] = (uint8_t)((v >> 5 & 31) * 255 / 31);
      o[2] = (uint8_t)((v & 31) * 255 / 31);
      break;
    case BGR_16:
      v = le16(row + 2 * x);
      o[0] = (uint8_t)((v >> 11 & 31) * 255 / 31);
      o[1] = (uint8_t)((v >> 5 & 63) * 255 / 63);
      o[2] = (uint8_t)((v & 31) * 255 / 31);
      break;
    case BGR_24: o[0] = row[3 * x + 2], o[1] = row[3 * x + 1], o[2] = row[3 * x]; break;
    case BGRX_32: o[0] = row[4 * x + 2], o[1] = row[4 * x + 1], o[2] = row[4 * x]; break;
    case XBGR_32:
      o[0] = row[4 * x + 3], o[1] = row[4 * x + 2], o[2] = row[4 * x + 1];
      break;
    case RGBX_32: memcpy(o, row + 4 * x, 3); break;
    }
  }
}

/* Bits a pixel as Pillow unpacks the stored rows (8 for "L", whatever the depth). */
static int unpacked_bits(const bmp *b) {
  return b->layout == GREY_8 ? 8 : b->layout == GREY_1 ? 1 : b->bits;
}

static r50_status decode_raw(const uint8_t *d, size_t len, const bmp *b, const char *name,
                             uint8_t *rgb, r50_error *err) {
  const uint64_t stride = (((uint64_t)b->w * (uint64_t)b->bits + 31) >> 3) & ~UINT64_C(3);
  const uint64_t used = ((uint64_t)b->w * (uint64_t)unpacked_bits(b) + 7) / 8;
  if (used > stride)
    return FAIL("%s: BMP rows of %llu bytes hold %llu bytes of pixels as read", name,
                (unsigned long long)stride, (unsigned long long)used);
  /* (the last row needs no padding: Pillow stops at its last pixel) */
  if (b->offset > len || len - b->offset < used ||
      (len - b->offset - used) / stride < (uint64_t)b->h - 1)
    return FAIL("%s: truncated BMP data", name);
  for (int64_t r = 0; r < b->h; r++) {
    const int64_t y = b->top_down ? r : b->h - 1 - r;
    convert_row(b, d + b->offset + (uint64_t)r * stride, rgb + y * b->w * 3);
  }
  return R50_OK;
}

/* Pillow's BmpRleDecoder: the indices, in file row order, into idx (w * h). */
static int rle_indices(const uint8_t *d, size_t len, const bmp *b, uint8_t *idx) {
  const int rle4 = b->compression == RLE4;
  const uint64_t w = (uint64_t)b->w, total = w * (uint64_t)b->h;
  uint64_t n = 0, x = 0; /* pixels so far; the column */
  size_t pos = (size_t)b->offset;
#define PUT(v)                                                                           \
  do {                                                                                   \
    if (n < total)                                                                       \
      idx[n] = (uint8_t)(v);                                                             \
    n++;                                                                                 \
  } while (0)
  while (n < total) {
    if (pos > len || len - pos < 2)
      break;
    const uint8_t count = d[pos], byte = d[pos + 1];
    pos += 2;
    if (count) { /* a run, cut at the row's end */
      uint64_t k = x + count > w ? (w > x ? w - x : 0) : count;
      for (uint64_t i = 0; i < k; i++)
        PUT(rle4 ? (i % 2 ? byte & 15 : byte >> 4) : byte);
      x += k;
    } else if (byte == 0) { /* end of line */
      while (n % w)
        PUT(0);
      x = 0;
    } else if (byte == 1) { /* end of bitmap */
      break;
    } else if (byte == 2) { /* delta: Pillow reads four bytes, uses the last two */
      if (len - pos < 4)
        break; /* (or fails unpacking what is there: too few pixels either way) */
      const uint64_t stop = n + d[pos + 2] + (uint64_t)d[pos + 3] * w;
      pos += 4;
      while (n < stop && n < total)
        PUT(0);
      n = stop;
      x = n % w;
    } else { /* literal run */
      const size_t want = rle4 ? byte / 2 : byte;
      const size_t got = len - pos < want ? len - pos : want;
      for (size_t i = 0; i < got; i++) {
        if (rle4) {
          PUT(d[pos + i] >> 4);
          PUT(d[pos + i] & 15);
        } else {
          PUT(d[pos + i]);
        }
      }
      pos += got;
      if (got < want)
        break;
      x += byte;
      if (pos % 2)
        pos++;
    }
  }
#undef PUT
  return n >= total;
}

static r50_status decode_rle(const uint8_t *d, size_t len, const bmp *b, const char *name,
                             uint8_t *rgb, r50_error *err) {
  if (b->bits > 8 || b->layout == GREY_1) /* Pillow's RLE decoder gives "P" or "L" */
    return FAIL("%s: BMP RLE%d data in a %d-bit image is not supported", name,
                b->compression == RLE8 ? 8 : 4, b->bits);
  uint8_t *idx = malloc((size_t)(b->w * b->h));
  if (!idx)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  const int ok = rle_indices(d, len, b, idx);
  if (ok)
    for (int64_t r = 0; r < b->h; r++) {
      const int64_t y = b->top_down ? r : b->h - 1 - r;
      const uint8_t *in = idx + r * b->w;
      uint8_t *o = rgb + y * b->w * 3;
      for (int64_t x = 0; x < b->w; x++, o += 3)
        if (b->layout == GREY_8)
          o[0] = o[1] = o[2] = in[x];
        else
          memcpy(o, b->lut[in[x]], 3);
    }
  free(idx);
  return ok ? R50_OK : FAIL("%s: truncated BMP data (RLE)", name);
}

r50_status r50_bmp_decode(const uint8_t *data, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  *orientation = 1;
  bmp b = {0};
  R50_TRY(read_header(data, len, name, opts, &b, err));
  R50_TRY(r50_image_alloc_rgb(name, b.w, b.h, &out->rgb, err));
  r50_status s = b.compression == RLE8 || b.compression == RLE4
                     ? decode_rle(data, len, &b, name, out->rgb, err)
                     : decode_raw(data, len, &b, name, out->rgb, err);
  if (s != R50_OK) {
    free(out->rgb);
    out->rgb = NULL;
    return s;
  }
  out->width = (int)b.w;
  out->height = (int)b.h;
  return R50_OK;
}

/*
 * image_gif.c — GIF to RGB, pixel for pixel as Pillow 9.4's GIF plugin followed by
 * convert('RGB'): the first frame, with an LZW decoder of its own that keeps Pillow's
 * rules (no library).
 *
 * What Pillow does with the first frame:
 *   canvas     the logical screen, grown to hold the frame where it reaches past it;
 *              filled with the frame's transparent index where its graphic control
 *              extension names one, else with index 0; the frame decoded into its
 *              rectangle (transparency never composited: convert('RGB') drops it)
 *   colours    the local colour table, else the global one, a table that is the grey
 *              ramp (i, i, i) counting as none (so a grey local table over a global
 *              one gives the global colours); with neither the index is the grey
 *              level; an index past the table is grey (i, i, i), as PIL's palette
 *              starts as that ramp
 *   blocks     bytes between blocks that are no introducer are skipped; extensions are
 *              skipped whole (a graphic control one read for its transparency)
 *   LZW        the image is complete at its last pixel (what follows is not read); an
 *              end code before it does not end it, decoding reads on (sub-blocks past
 *              the terminator too), and running out of data then, or a code past the
 *              table, fails: Pillow reports "image file is truncated" or "broken data
 *              stream" there
 *
 * Rule: every read is bounds-checked against the file; the canvas size is checked
 * (r50_image_check_dims) before the index buffer is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

enum {
  LZW_TABLE = 4096, /* codes (12 bits) */
  LZW_BITS = 12,
};

typedef struct gif_in {
  const uint8_t *d;
  size_t len, pos;
} gif_in;

static int next_byte(gif_in *in) {
  return in->pos < in->len ? in->d[in->pos++] : -1;
}

/* Skips sub-blocks up to and including the terminator (or the end of the file). */
static void skip_sub_blocks(gif_in *in) {
  int n;
  while ((n = next_byte(in)) > 0)
    in->pos = (size_t)n < in->len - in->pos ? in->pos + (size_t)n : in->len;
}

/* Whether a colour table of n entries differs from the grey ramp (i, i, i). */
static int palette_needed(const uint8_t *p, int n) {
  for (int i = 0; i < n; i++)
    if (p[3 * i] != i || p[3 * i + 1] != i || p[3 * i + 2] != i)
      return 1;
  return 0;
}

/* The first frame's header, as Pillow's _open and _seek(0) read it. */
typedef struct gif_frame {
  int64_t w, h;                           /* canvas */
  int64_t x0, y0, fw, fh;                 /* the frame's rectangle */
  int interlace, code_bits, transparency; /* transparency -1: none */
  int n_colors;                           /* 0: grey levels */
  const uint8_t *colors;
  size_t data; /* offset of the LZW sub-blocks */
} gif_frame;

/* An extension (after its '!'): a graphic control one gives the transparent index;
 * the others are skipped as Pillow skips them — which, for one whose first sub-block is
 * empty, reads on past its terminator, and fails for an empty graphic control or
 * application extension. A file that ends inside one holds no image: it fails. */
static r50_status read_extension(gif_in *in, const char *name, gif_frame *g,
                                 r50_error *err) {
  const int label = next_byte(in), size = next_byte(in);
  if (label < 0 || size < 0 || in->len - in->pos < (size_t)(size > 0 ? size : 0))
    return r50_fail(err, R50_ERR_FORMAT, "%s: truncated GIF data (an extension)", name);
  const uint8_t *block = in->d + in->pos;
  if ((label == 249 || label == 255) && size == 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt GIF data (an empty extension)",
                    name);
  if (label == 249 && (size < 3 || (size < 4 && (block[0] & 1))))
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: corrupt GIF data (a graphic control extension of %d bytes)",
                    name, size);
  if (label == 249 && (block[0] & 1))
    g->transparency = block[3];
  in->pos += (size_t)size;
  if (size > 0 || label != 254)
    skip_sub_blocks(in);
  return R50_OK;
}

static r50_status read_frame_header(gif_in *in, const char *name, gif_frame *g,
                                    r50_error *err) {
  const uint8_t *d = in->d;
  if (in->len < 13)
    return r50_fail(err, R50_ERR_FORMAT, "%s: truncated GIF data (the header)", name);
  g->w = d[6] | d[7] << 8;
  g->h = d[8] | d[9] << 8;
  in->pos = 13;
  int n_global = 0;
  const uint8_t *global = NULL;
  if (d[10] & 128) {
    n_global = 2 << (d[10] & 7);
    if (in->len - in->pos < (size_t)(3 * n_global))
      return r50_fail(err, R50_ERR_FORMAT, "%s: truncated GIF data (the colour table)",
                      name);
    global = d + in->pos;
    in->pos += (size_t)(3 * n_global);
    if (!palette_needed(global, n_global))
      n_global = 0;
  }
  g->transparency = -1;
  for (;;) {
    int c = next_byte(in);
    if (c < 0 || c == ';')
      return r50_fail(err, R50_ERR_FORMAT, "%s: GIF file without an image", name);
    if (c == '!') {
      R50_TRY(read_extension(in, name, g, err));
    } else if (c == ',') {
      if (in->len - in->pos < 9)
        return r50_fail(err, R50_ERR_FORMAT, "%s: truncated GIF data (the image header)",
                        name);
      const uint8_t *s = d + in->pos;
      in->pos += 9;
      g->x0 = s[0] | s[1] << 8;
      g->y0 = s[2] | s[3] << 8;
      g->fw = s[4] | s[5] << 8;
      g->fh = s[6] | s[7] << 8;
      g->interlace = (s[8] & 64) != 0;
      if (g->x0 + g->fw > g->w)
        g->w = g->x0 + g->fw;
      if (g->y0 + g->fh > g->h)
        g->h = g->y0 + g->fh;
      g->n_colors = n_global;
      g->colors = global;
      if (s[8] & 128) {
        int n_local = 2 << (s[8] & 7);
        if (in->len - in->pos < (size_t)(3 * n_local))
          return r50_fail(err, R50_ERR_FORMAT,
                          "%s: truncated GIF data (the colour table)", name);
        if (palette_needed(d + in->pos, n_local)) { /* else the global table's colours */
          g->colors = d + in->pos;
          g->n_colors = n_local;
        }
        in->pos += (size_t)(3 * n_local);
      }
      g->code_bits = next_byte(in);
      if (g->code_bits < 0)
        return r50_fail(err, R50_ERR_FORMAT, "%s: truncated GIF data (the image header)",
                        name);
      g->data = in->pos;
      return R50_OK;
    } /* any other byte is skipped, as Pillow skips it */
  }
}

/* ------------------------------------------------------------------ LZW */

typedef struct lzw {
  gif_in in;
  int block_left; /* bytes left in the current sub-block */
  uint32_t bits;
  int n_bits;
} lzw;

/* The next code of `size` bits; -1 when the data ends first (or a sub-block is cut). */
static int next_code(lzw *z, int size) {
  while (z->n_bits < size) {
    if (z->block_left == 0) {
      int n = next_byte(&z->in);
      if (n < 0 || z->in.len - z->in.pos < (size_t)n)
        return -1;
      z->block_left = n;
      continue;
    }
    z->bits |= (uint32_t)z->in.d[z->in.pos++] << z->n_bits;
    z->n_bits += 8;
    z->block_left--;
  }
  int c = (int)(z->bits & ((1u << size) - 1));
  z->bits >>= size;
  z->n_bits -= size;
  return c;
}

/* Where decoded pixels go: the frame's rectangle, row by row or in the four passes of
 * an interlaced image. */
typedef struct cursor {
  uint8_t *canvas;
  int64_t stride, x0, y0, w, h;
  int64_t x, y;
  int step, pass; /* pass 0: not interlaced, or the last pass */
} cursor;

/* Stores one index; returns 1 when that was the frame's last pixel. */
static int put(cursor *c, uint8_t v) {
  c->canvas[(c->y0 + c->y) * c->stride + c->x0 + c->x] = v;
  if (++c->x < c->w)
    return 0;
  c->x = 0;
  c->y += c->step;
  while (c->y >= c->h) {
    static const int start[] = {0, 4, 2, 1}, step[] = {0, 8, 4, 2};
    if (c->pass == 0)
      return 1;
    c->y = start[c->pass];
    c->step = step[c->pass];
    c->pass = c->pass == 3 ? 0 : c->pass + 1;
  }
  return 0;
}

/* Decodes the frame's LZW data into the canvas; the cause of a failure in *why. */
static int decode_lzw(const gif_frame *g, gif_in in, uint8_t *canvas, const char **why) {
  if (g->code_bits > LZW_BITS) {
    *why = "bad LZW code size";
    return 0;
  }
  uint8_t data[LZW_TABLE], stack[LZW_TABLE + 1]; /* a string, its first byte last */
  uint16_t link[LZW_TABLE];
  lzw z = {in, 0, 0, 0};
  z.in.pos = g->data;
  cursor c = {canvas,
              g->w,
              g->x0,
              g->y0,
              g->fw,
              g->fh,
              0,
              0,
              g->interlace ? 8 : 1,
              g->interlace ? 1 : 0};
  const int clear = 1 << g->code_bits, end = clear + 1;
  int size = g->code_bits + 1, next = clear + 2, fresh = 1, last_code = 0;
  uint8_t last_data = 0;
  for (;;) {
    int code = next_code(&z, size);
    if (code < 0) {
      *why = "truncated GIF data";
      return 0;
    }
    if (code == clear) {
      size = g->code_bits + 1;
      next = clear + 2;
      fresh = 1;
      continue;
    }
    if (code == end)
      continue; /* Pillow reads on */
    int n = 0;
    if (fresh) {
      if (code > clear) {
        *why = "corrupt GIF data (a code past the table)";
        return 0;
      }
      last_data = (uint8_t)code;
      last_code = code;
      stack[n++] = last_data;
      fresh = 0;
    } else {
      const int this_code = code;
      if (code > next) {
        *why = "corrupt GIF data (a code past the table)";
        return 0;
      }
      if (code == next) {
        stack[n++] = last_data;
        code = last_code;
      }
      while (code >= clear) {
        if (n >= LZW_TABLE || code >= LZW_TABLE) {
          *why = "corrupt GIF data (a code past the table)";
          return 0;
        }
        stack[n++] = data[code];
        code = link[code];
      }
      last_data = (uint8_t)code;
      stack[n++] = last_data;
      if (next < LZW_TABLE) {
        data[next] = (uint8_t)code;
        link[next] = (uint16_t)last_code;
        if (next == (1 << size) - 1 && size < LZW_BITS)
          size++;
        next++;
      }
      last_code = this_code;
    }
    while (n > 0)
      if (put(&c, stack[--n]))
        return 1;
  }
}

r50_status r50_gif_decode(const uint8_t *bytes, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  *orientation = 1;
  gif_in in = {bytes, len, 0};
  gif_frame g;
  R50_TRY(read_frame_header(&in, name, &g, err));
  R50_TRY(r50_image_check_dims(name, g.w, g.h, opts, err));
  if (g.fw == 0 || g.fh == 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: GIF frame of %lldx%lld pixels", name,
                    (long long)g.fw, (long long)g.fh);
  uint8_t *index = malloc((size_t)(g.w * g.h));
  if (!index)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  memset(index, g.transparency >= 0 ? g.transparency : 0, (size_t)(g.w * g.h));
  const char *why = NULL;
  if (!decode_lzw(&g, in, index, &why)) {
    free(index);
    return r50_fail(err, R50_ERR_FORMAT, "%s: %s", name, why);
  }
  r50_status s = r50_image_alloc_rgb(name, g.w, g.h, &out->rgb, err);
  if (s == R50_OK) {
    uint8_t lut[256][3];
    for (int i = 0; i < 256; i++)
      lut[i][0] = lut[i][1] = lut[i][2] = (uint8_t)i;
    for (int i = 0; i < g.n_colors; i++)
      memcpy(lut[i], g.colors + 3 * i, 3);
    const size_t n = (size_t)(g.w * g.h);
    for (size_t i = 0; i < n; i++)
      memcpy(out->rgb + 3 * i, lut[index[i]], 3);
    out->width = (int)g.w;
    out->height = (int)g.h;
  }
  free(index);
  return s;
}

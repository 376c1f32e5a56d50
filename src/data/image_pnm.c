/*
 * image_pnm.c — Netpbm (PBM, PGM, PPM: P1 to P6) to RGB, pixel for pixel as Pillow
 * 9.4's PPM plugin followed by convert('RGB') (no library).
 *
 * What Pillow reads, and how:
 *   header   the magic, then width, height and (but for PBM) maxval, each a token of
 *            at most 10 characters read by Python's int() ("+7", "1_0"); whitespace
 *            and '#' comments (to the end of the line, also inside a token) between
 *            them; one whitespace byte ends maxval
 *   P4, P1   bits (binary, rows padded to bytes) or '0'/'1' characters (plain,
 *            whitespace optional): 1 is black
 *   P5, P6   bytes at maxval 255; else each sample (two bytes, big-endian, past 255)
 *            becomes min(255, round(v / maxval * 255)), Python's round (half to even)
 *   P2, P3   tokens (comments removed first) read by int(), each at most maxval,
 *            scaled as above; a negative one kept to 8 bits as Pillow's o8() does
 *   missing  samples fail the image; samples past the last pixel are not read
 * One deliberate difference: a PGM whose maxval exceeds 255 is scaled the same way,
 * where Pillow opens it as 32-bit integers and convert('RGB') saturates every value
 * above 255 to white (as for 16-bit grey PNGs, image_png.c).
 *
 * Rule: the size is checked (r50_image_check_dims) before the pixels are allocated;
 * every read is bounds-checked against the file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

typedef struct pnm_in {
  const uint8_t *d;
  size_t len, pos;
} pnm_in;

static int is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Skips a comment's rest, up to and including its '\r' or '\n'. */
static void skip_comment(pnm_in *in) {
  while (in->pos < in->len) {
    const uint8_t c = in->d[in->pos++];
    if (c == '\r' || c == '\n')
      return;
  }
}

/* Python's int() of a token of n (<= 10) characters: an optional sign, then digits
 * with single underscores between them ("+5", "1_000"); 1 and *v set, else 0. */
static int py_int(const char *t, int n, int64_t *v) {
  int i = t[0] == '+' || t[0] == '-', digit = 0;
  int64_t x = 0;
  for (int k = i; k < n; k++) {
    if (t[k] == '_' && digit && k + 1 < n) {
      digit = 0;
      continue;
    }
    if (t[k] < '0' || t[k] > '9')
      return 0;
    x = x * 10 + (t[k] - '0');
    digit = 1;
  }
  if (!digit)
    return 0;
  *v = t[0] == '-' ? -x : x;
  return 1;
}

/* The next header token as a number (Pillow's _read_token, then int()); -1 when there
 * is none, it is longer than 10 characters, not a number, or negative. */
static int64_t read_token(pnm_in *in) {
  char token[12];
  int n = 0;
  while (in->pos < in->len && n <= 10) {
    const uint8_t c = in->d[in->pos++];
    if (is_space(c)) {
      if (n)
        break;
    } else if (c == '#') {
      skip_comment(in);
    } else {
      token[n++] = (char)c;
    }
  }
  int64_t v;
  return n > 0 && n <= 10 && py_int(token, n, &v) && v >= 0 ? v : -1;
}

/* Python's round(v / maxval * 255): the quotient in double, halves to even; a negative
 * sample of a plain file (int() takes "-1") kept to 8 bits as Pillow's o8() keeps it
 * (-1 at maxval 10 is -26, then 230). */
static uint8_t scale(int64_t v, int64_t maxval) {
  const double x = nearbyint((double)v / (double)maxval * 255.0);
  return x > 255 ? 255 : (uint8_t)((int64_t)x & 255);
}

typedef struct pnm {
  int kind; /* 1..6 */
  int64_t w, h, maxval;
  int bands;
} pnm;

/* Binary samples (P5, P6) into (w * h * bands) 8-bit values. */
static int binary_samples(pnm_in *in, const pnm *p, uint8_t *out) {
  const size_t n = (size_t)(p->w * p->h * p->bands);
  const int wide = p->maxval > 255;
  if ((in->len - in->pos) / (wide ? 2 : 1) < n)
    return 0;
  const uint8_t *s = in->d + in->pos;
  for (size_t i = 0; i < n; i++) {
    const int64_t v = wide ? (int64_t)s[2 * i] << 8 | s[2 * i + 1] : s[i];
    out[i] = p->maxval == 255 ? (uint8_t)v : scale(v, p->maxval);
  }
  return 1;
}

/* Plain samples (P1, P2, P3), comments removed first as Pillow removes them. */
static const char *plain_samples(pnm_in *in, const pnm *p, uint8_t *out) {
  const size_t n = (size_t)(p->w * p->h * p->bands);
  size_t got = 0;
  char token[12];
  int len = 0;
  while (got < n) {
    const int end = in->pos >= in->len;
    const int c = end ? ' ' : in->d[in->pos++];
    if (c == '#') {
      skip_comment(in);
      continue;
    }
    if (p->kind == 1) { /* one character a pixel, whitespace optional */
      if (end)
        break;
      if (is_space(c))
        continue;
      if (c != '0' && c != '1')
        return "corrupt PBM data (a character other than 0 and 1)";
      out[got++] = c == '1' ? 0 : 255;
      continue;
    }
    if (!is_space(c)) { /* a token, read whole, then int() */
      if (len == 10)
        return "corrupt PNM data (a sample longer than 10 characters)";
      token[len++] = (char)c;
    } else if (len) {
      int64_t v;
      if (!py_int(token, len, &v))
        return "corrupt PNM data (a sample that is not a number)";
      if (v > p->maxval)
        return "corrupt PNM data (a sample above maxval)";
      out[got++] = scale(v, p->maxval);
      len = 0;
    }
    if (end)
      break;
  }
  return got == n ? NULL : "truncated PNM data";
}

r50_status r50_pnm_decode(const uint8_t *data, size_t len, const char *name,
                          const r50_decode_opts *opts, r50_image *out, int *orientation,
                          r50_error *err) {
  *orientation = 1;
  if (len < 3 || data[0] != 'P' || data[1] < '1' || data[1] > '6' || !is_space(data[2]))
    return r50_fail(err, R50_ERR_FORMAT, "%s: not a PNM file (its magic)", name);
  pnm_in in = {data, len, 3};
  pnm p = {data[1] - '0', 0, 0, 1, 1};
  p.w = read_token(&in);
  p.h = read_token(&in);
  if (p.kind != 1 && p.kind != 4)
    p.maxval = read_token(&in);
  if (p.w < 0 || p.h < 0 || p.maxval < 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt PNM header", name);
  if (p.maxval < 1 || p.maxval > 65535)
    return r50_fail(err, R50_ERR_FORMAT, "%s: PNM maxval %lld is not 1 to 65535", name,
                    (long long)p.maxval);
  R50_TRY(r50_image_check_dims(name, p.w, p.h, opts, err));
  p.bands = p.kind == 3 || p.kind == 6 ? 3 : 1;
  uint8_t *samples = malloc((size_t)(p.w * p.h * p.bands));
  if (!samples)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", name);
  const char *why = NULL;
  if (p.kind == 4) { /* rows of bits, 1 black */
    const size_t stride = (size_t)(p.w + 7) / 8;
    if ((len - in.pos) / stride < (size_t)p.h)
      why = "truncated PNM data";
    for (int64_t y = 0; !why && y < p.h; y++)
      for (int64_t x = 0; x < p.w; x++)
        samples[y * p.w + x] =
            data[in.pos + (size_t)y * stride + (size_t)(x >> 3)] >> (7 - (x & 7)) & 1
                ? 0
                : 255;
  } else if (p.kind >= 5) {
    why = binary_samples(&in, &p, samples) ? NULL : "truncated PNM data";
  } else {
    why = plain_samples(&in, &p, samples);
  }
  r50_status s = why ? r50_fail(err, R50_ERR_FORMAT, "%s: %s", name, why)
                     : r50_image_alloc_rgb(name, p.w, p.h, &out->rgb, err);
  if (s == R50_OK) {
    const size_t n = (size_t)(p.w * p.h);
    for (size_t i = 0; i < n; i++)
      if (p.bands == 3)
        memcpy(out->rgb + 3 * i, samples + 3 * i, 3);
      else
        out->rgb[3 * i] = out->rgb[3 * i + 1] = out->rgb[3 * i + 2] = samples[i];
    out->width = (int)p.w;
    out->height = (int)p.h;
  }
  free(samples);
  return s;
}

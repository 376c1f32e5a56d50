/*
 * image_heif_box.c — the picture sizes a HEIF or AVIF file's codec configurations
 * declare, read before libheif decodes anything (image.h: r50_heif_check_coded).
 *
 * libheif checks the image's `ispe` (its size) against its limits, but allocates what
 * the rest of the file declares: a 757-byte HEIC (found by fuzz_heif) whose grid item's
 * data pointed past the end of its idat box made libheif 1.15 read the boxes after it
 * as the grid's canvas, 14441x27759, and allocate 2.4 GB; a codec allocates what its
 * bitstream's headers declare. So the file's boxes are read here first: an hvcC's SPS
 * (pic_width/height_in_luma _samples) and a grid's or overlay's canvas must be within the
 * largest ispe of the file (plus one 64-pixel coding block: coded pictures are padded to
 * whole blocks and cropped) and --max-pixels; an av1C's sequence header
 * (max_frame_width/height, which an encoder may set above its frames) within
 * --max-pixels.
 *
 * Rule: every read is bounds-checked against the box that holds it; a configuration
 * that cannot be parsed is refused (libheif would refuse it too).
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "iso_box.h"

/* The payload of the first child box of `in` of this type (after `skip` bytes). */
static int child(r50_span in, size_t skip, const char *want, r50_span *out) {
  if (in.n < skip)
    return 0;
  in.p += skip;
  in.n -= skip;
  char type[5];
  r50_span payload;
  while (r50_next_box(&in, type, &payload))
    if (!strcmp(type, want)) {
      *out = payload;
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------------------ bit reading */

typedef struct bits {
  const uint8_t *p;
  size_t n, at; /* bytes, bits read */
  int bad;
} bits;

static uint32_t get(bits *b, int k) {
  uint32_t v = 0;
  for (; k > 0; k--, b->at++) {
    if (b->at >= 8 * b->n) {
      b->bad = 1;
      return 0;
    }
    v = v << 1 | (uint32_t)(b->p[b->at >> 3] >> (7 - (b->at & 7)) & 1);
  }
  return v;
}

static void skip(bits *b, int k) {
  while (k > 24)
    get(b, 24), k -= 24;
  get(b, k);
}

/* Exp-Golomb ue(v), at most 32 bits of value. */
static uint64_t ue(bits *b) {
  int zeros = 0;
  while (!b->bad && !get(b, 1))
    if (++zeros > 32)
      b->bad = 1;
  if (b->bad)
    return 0;
  return ((uint64_t)1 << zeros) - 1 + (zeros ? get(b, zeros) : 0);
}

/* ------------------------------------------------------------------ HEVC */

/* An SPS NAL unit's picture size; 0 when it cannot be read. The emulation prevention
 * bytes (00 00 03) are dropped into buf first. */
static int hevc_sps_size(const uint8_t *nal, size_t n, uint64_t *w, uint64_t *h) {
  uint8_t buf[256]; /* the fields up to the size lie well within this */
  size_t m = 0;
  for (size_t i = 0, zeros = 0; i < n && m < sizeof buf; i++) {
    if (zeros >= 2 && nal[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = nal[i] == 0 ? zeros + 1 : 0;
    buf[m++] = nal[i];
  }
  bits b = {buf, m, 16, 0}; /* after the 2-byte NAL unit header */
  skip(&b, 4);              /* sps_video_parameter_set_id */
  const int sub_layers = (int)get(&b, 3);
  skip(&b, 1);  /* sps_temporal_id_nesting_flag */
  skip(&b, 96); /* general profile, tier and level */
  int profile[8], level[8];
  for (int i = 0; i < sub_layers; i++) {
    profile[i] = (int)get(&b, 1);
    level[i] = (int)get(&b, 1);
  }
  if (sub_layers > 0)
    skip(&b, 2 * (8 - sub_layers));
  for (int i = 0; i < sub_layers; i++)
    skip(&b, 88 * profile[i] + 8 * level[i]);
  ue(&b);          /* sps_seq_parameter_set_id */
  if (ue(&b) == 3) /* chroma_format_idc */
    skip(&b, 1);   /* separate_colour_plane_flag */
  *w = ue(&b);
  *h = ue(&b);
  return !b.bad;
}

/* Every SPS of an hvcC's arrays; *w x *h the largest. 0 when none could be read. */
static int hvcc_size(r50_span c, uint64_t *w, uint64_t *h) {
  if (c.n < 23)
    return 0;
  const uint8_t *p = c.p + 23, *end = c.p + c.n;
  int found = 0;
  for (int a = 0, arrays = c.p[22]; a < arrays; a++) {
    if (end - p < 3)
      return 0;
    const int type = p[0] & 0x3f, nalus = p[1] << 8 | p[2];
    p += 3;
    for (int k = 0; k < nalus; k++) {
      if (end - p < 2)
        return 0;
      const size_t len = (size_t)(p[0] << 8 | p[1]);
      p += 2;
      if ((size_t)(end - p) < len)
        return 0;
      uint64_t sw, sh;
      if (type == 33) { /* SPS */
        if (!hevc_sps_size(p, len, &sw, &sh))
          return 0;
        *w = sw > *w ? sw : *w;
        *h = sh > *h ? sh : *h;
        found = 1;
      }
      p += len;
    }
  }
  return found;
}

/* ------------------------------------------------------------------ AV1 */

/* A sequence header OBU's payload: its maximum frame size; 0 when it cannot be read. */
static int av1_sequence_size(const uint8_t *p, size_t n, uint64_t *w, uint64_t *h) {
  bits b = {p, n, 0, 0};
  skip(&b, 3);      /* seq_profile */
  skip(&b, 1);      /* still_picture */
  if (get(&b, 1)) { /* reduced_still_picture_header */
    skip(&b, 5);
  } else {
    const int timing = (int)get(&b, 1);
    int decoder_model = 0, delay_length = 0;
    if (timing) {
      skip(&b, 64);     /* num_units_in_display_tick, time_scale */
      if (get(&b, 1)) { /* equal_picture_interval: uvlc num_ticks_per_picture_minus_1 */
        int zeros = 0;
        while (!b.bad && !get(&b, 1))
          if (++zeros >= 32)
            b.bad = 1;
        skip(&b, zeros);
      }
      decoder_model = (int)get(&b, 1);
      if (decoder_model) {
        delay_length = (int)get(&b, 5) + 1;
        skip(&b, 32 + 5 + 5);
      }
    }
    const int display_delay = (int)get(&b, 1);
    for (int op = 0, ops = (int)get(&b, 5) + 1; op < ops && !b.bad; op++) {
      skip(&b, 12);       /* operating_point_idc */
      if (get(&b, 5) > 7) /* seq_level_idx */
        skip(&b, 1);      /* seq_tier */
      if (decoder_model && get(&b, 1))
        skip(&b, 2 * delay_length + 1);
      if (display_delay && get(&b, 1))
        skip(&b, 4);
    }
  }
  const int wbits = (int)get(&b, 4) + 1, hbits = (int)get(&b, 4) + 1;
  *w = (uint64_t)get(&b, wbits) + 1;
  *h = (uint64_t)get(&b, hbits) + 1;
  return !b.bad;
}

/* The sequence header OBUs among an av1C's configOBUs. 0 when there is none (then the
 * size is the bitstream's, not checked here) or one cannot be read (-1). */
static int av1c_size(r50_span c, uint64_t *w, uint64_t *h) {
  if (c.n < 4)
    return -1;
  const uint8_t *p = c.p + 4, *end = c.p + c.n;
  int found = 0;
  while (p < end) {
    const int type = p[0] >> 3 & 15, ext = p[0] >> 2 & 1, has_size = p[0] >> 1 & 1;
    if (end - p < 1 + ext)
      return -1;
    p += 1 + ext;
    uint64_t size = (uint64_t)(end - p);
    if (has_size) {
      size = 0;
      for (int i = 0;; i++) { /* leb128 */
        if (p >= end || i == 8)
          return -1;
        size |= (uint64_t)(*p & 0x7f) << (7 * i);
        if (!(*p++ & 0x80))
          break;
      }
    }
    if (size > (uint64_t)(end - p))
      return -1;
    uint64_t sw, sh;
    if (type == 1) { /* OBU_SEQUENCE_HEADER */
      if (!av1_sequence_size(p, (size_t)size, &sw, &sh))
        return -1;
      *w = sw > *w ? sw : *w;
      *h = sh > *h ? sh : *h;
      found = 1;
    }
    p += size;
  }
  return found;
}

/* ------------------------------------------------------------------ derived images */

/* An unsigned big-endian integer of `size` bytes (0 to 8) at *p, advancing it; 0 when
 * it would read past end. */
static int read_uint(const uint8_t **p, const uint8_t *end, int size, uint64_t *v) {
  *v = 0;
  if (end - *p < size)
    return 0;
  for (int i = 0; i < size; i++)
    *v = *v << 8 | (*p)[i];
  *p += size;
  return 1;
}

enum { MAX_DERIVED = 16 };

/* The grid and overlay items of iinf, whose canvases libheif allocates from their own
 * data: up to MAX_DERIVED item IDs in ids, overlay[i] set for an overlay; their count. */
static int derived_items(r50_span iinf, uint32_t *ids, int *overlay) {
  const size_t count_size = iinf.n > 0 && iinf.p[0] == 0 ? 2 : 4;
  if (iinf.n < 4 + count_size)
    return 0;
  r50_span in = {iinf.p + 4 + count_size, iinf.n - 4 - count_size};
  char type[5];
  r50_span infe;
  int n = 0;
  while (n < MAX_DERIVED && r50_next_box(&in, type, &infe)) {
    if (strcmp(type, "infe") || infe.n < 4 || infe.p[0] < 2)
      continue;
    const int id_size = infe.p[0] == 2 ? 2 : 4;
    const uint8_t *q = infe.p + 4, *end = infe.p + infe.n;
    uint64_t id;
    if (!read_uint(&q, end, id_size, &id) || end - q < 2 + 4)
      continue;
    q += 2; /* item_protection_index */
    if (!memcmp(q, "grid", 4) || !memcmp(q, "iovl", 4)) {
      overlay[n] = !memcmp(q, "iovl", 4);
      ids[n++] = (uint32_t)id;
    }
  }
  return n;
}

/* The bytes of item `id`'s first extent, from iloc: in the file (construction method
 * 0) or in idat (1). 1 when found; 0 when not (libheif then says it lacks the data);
 * -1 when the extent lies outside the file or the idat box (libheif 1.15 would read
 * idat's extents past its end, into the boxes after it). */
static int item_head(r50_span file, r50_span iloc, r50_span idat, uint32_t id,
                     r50_span *head) {
  const uint8_t *p = iloc.p, *end = iloc.p + iloc.n;
  if (iloc.n < 6)
    return 0;
  const int version = p[0];
  const int offset_size = p[4] >> 4, length_size = p[4] & 15, base_size = p[5] >> 4,
            index_size = version >= 1 ? p[5] & 15 : 0;
  p += 6;
  uint64_t count;
  if (!read_uint(&p, end, version < 2 ? 2 : 4, &count))
    return 0;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t item, method = 0, reference, base, extents;
    if (!read_uint(&p, end, version < 2 ? 2 : 4, &item) ||
        (version >= 1 && !read_uint(&p, end, 2, &method)) ||
        !read_uint(&p, end, 2, &reference) || !read_uint(&p, end, base_size, &base) ||
        !read_uint(&p, end, 2, &extents))
      return 0;
    for (uint64_t e = 0; e < extents; e++) {
      uint64_t index, offset, length;
      if (!read_uint(&p, end, index_size, &index) ||
          !read_uint(&p, end, offset_size, &offset) ||
          !read_uint(&p, end, length_size, &length))
        return 0;
      if (item != id || e > 0)
        continue;
      const r50_span from = (method & 15) == 0   ? file
                            : (method & 15) == 1 ? idat
                                                 : (r50_span){0};
      if (!from.p)
        return 0;
      if (base > from.n || offset > from.n - base ||
          (length > 0 && length > from.n - base - offset))
        return -1;
      head->p = from.p + base + offset;
      head->n = (size_t)(length > 0 ? length : from.n - base - offset);
      return 1;
    }
  }
  return 0;
}

/* A grid's or an overlay's canvas size, from the start of its data; 0 when too short.
 * Grid: version, flags, rows - 1, columns - 1, width, height; overlay: version, flags,
 * four 16-bit fill values, width, height; 32-bit sizes where flags & 1, else 16-bit. */
static int canvas_size(r50_span head, int overlay, uint64_t *w, uint64_t *h) {
  if (head.n < 2)
    return 0;
  const int size = head.p[1] & 1 ? 4 : 2;
  const size_t skip_bytes = overlay ? 2 + 8 : 4;
  if (head.n < skip_bytes)
    return 0;
  const uint8_t *p = head.p + skip_bytes, *end = head.p + head.n;
  return read_uint(&p, end, size, w) && read_uint(&p, end, size, h);
}

/* ------------------------------------------------------------------ the check */

r50_status r50_heif_check_coded(const uint8_t *data, size_t len, const char *name,
                                const char *kind, int64_t max_pixels, r50_error *err) {
  r50_span file = {data, len}, meta, iprp, ipco, box;
  char type[5];
  int have_meta = 0;
  while (!have_meta && r50_next_box(&file, type, &box))
    if (!strcmp(type, "meta"))
      meta = box, have_meta = 1;
  if (!have_meta || !child(meta, 4, "iprp", &iprp) || !child(iprp, 0, "ipco", &ipco))
    return R50_OK;         /* (libheif says what is missing) */
  uint64_t iw = 0, ih = 0; /* the largest ispe */
  uint64_t cw = 0, ch = 0; /* the largest HEVC picture or canvas declared */
  uint64_t aw = 0, ah = 0; /* the largest AV1 maximum frame size declared */
  const char *bad = NULL;
  for (r50_span in = ipco; r50_next_box(&in, type, &box);) {
    if (!strcmp(type, "ispe") && box.n >= 12) {
      const uint64_t w = r50_be32(box.p + 4), h = r50_be32(box.p + 8);
      iw = w > iw ? w : iw;
      ih = h > ih ? h : ih;
    } else if (!strcmp(type, "hvcC") && !hvcc_size(box, &cw, &ch)) {
      bad = "HEVC configuration (hvcC) without a readable sequence parameter set";
    } else if (!strcmp(type, "av1C") && av1c_size(box, &aw, &ah) < 0) {
      bad = "AV1 configuration (av1C) with an unreadable sequence header";
    }
  }
  r50_span iinf = {NULL, 0}, iloc = {NULL, 0}, idat = {NULL, 0}, head;
  uint32_t ids[MAX_DERIVED];
  int overlay[MAX_DERIVED];
  const int derived =
      child(meta, 4, "iinf", &iinf) ? derived_items(iinf, ids, overlay) : 0;
  child(meta, 4, "iloc", &iloc);
  child(meta, 4, "idat", &idat);
  for (int i = 0; i < derived && iloc.p && !bad; i++) {
    uint64_t w, h;
    const int found = item_head((r50_span){data, len}, iloc, idat, ids[i], &head);
    if (found < 0)
      bad = overlay[i] ? "overlay whose data lies outside its box"
                       : "grid whose data lies outside its box";
    else if (found && canvas_size(head, overlay[i], &w, &h)) {
      cw = w > cw ? w : cw;
      ch = h > ch ? h : ch;
    }
  }
  if (bad)
    return r50_fail(err, R50_ERR_FORMAT, "%s: corrupt %s data (a %s)", name, kind, bad);
  if (cw > iw + 64 || ch > ih + 64)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: corrupt %s data (it declares a %" PRIu64 "x%" PRIu64
                    " picture; its images are at most %" PRIu64 "x%" PRIu64 ")",
                    name, kind, cw, ch, iw, ih);
  for (int k = 0; k < 2 && max_pixels > 0; k++) { /* (an AV1 maximum may exceed its
                                                     frames: only the limit bounds it) */
    const uint64_t w = k ? aw : cw, h = k ? ah : ch;
    if (h > 0 && w > (uint64_t)max_pixels / h)
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s: it declares a %" PRIu64 "x%" PRIu64 " = %" PRIu64
                      " pixels picture, which exceeds --max-pixels %" PRId64,
                      name, w, h, w * h, max_pixels);
  }
  return R50_OK;
}

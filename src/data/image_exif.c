/*
 * image_exif.c — the Orientation tag of EXIF data, as PIL's Image.getexif() reads it.
 *
 * EXIF is a TIFF stream ("II*\0" little-endian or "MM\0*" big-endian, then the offset
 * of IFD0), optionally after "Exif\0\0". IFD0 is a count and 12-byte entries (tag, type,
 * count, value or offset). PIL keeps the last entry of a tag, reads entries until the
 * data runs out, and for Orientation takes the first value of an integer type (BYTE
 * gives bytes, which exif_transpose ignores).
 *
 * Rule: every offset comes from the file, so each is checked against the length before
 * it is read; anything unreadable means "no orientation" (1).
 */
#include <string.h>

#include "image.h"

enum {
  TAG_ORIENTATION = 0x0112,
  TYPE_SHORT = 3,
  TYPE_LONG = 4,
  TYPE_SSHORT = 8,
  TYPE_SLONG = 9,
  ENTRY_LEN = 12,
};

typedef struct tiff {
  const uint8_t *d;
  size_t n;
  int big_endian;
} tiff;

static uint32_t u16_at(const tiff *t, size_t off) {
  const uint8_t *p = t->d + off;
  return t->big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t u32_at(const tiff *t, size_t off) {
  uint32_t hi = u16_at(t, t->big_endian ? off : off + 2);
  uint32_t lo = u16_at(t, t->big_endian ? off + 2 : off);
  return hi << 16 | lo;
}

/* First value of the entry at offset e when it has an integer type; -1 for other
 * types (PIL keeps them, and they mean no orientation), -2 when the values lie outside
 * the data (PIL skips the entry). */
static int64_t entry_value(const tiff *t, size_t e) {
  uint32_t type = u16_at(t, e + 2), count = u32_at(t, e + 4);
  size_t size = type == TYPE_SHORT || type == TYPE_SSHORT ? 2
                : type == TYPE_LONG || type == TYPE_SLONG ? 4
                                                          : 0;
  if (size == 0 || count == 0)
    return -1;
  size_t off = e + 8;
  if ((uint64_t)count * size > 4) { /* the values live elsewhere */
    off = u32_at(t, e + 8);
    if (off > t->n || (uint64_t)count * size > t->n - off)
      return -2;
  }
  switch (type) {
  case TYPE_SHORT: return u16_at(t, off);
  case TYPE_SSHORT: return (int16_t)u16_at(t, off);
  case TYPE_LONG: return u32_at(t, off);
  default: return (int32_t)u32_at(t, off);
  }
}

int r50_exif_orientation(const uint8_t *data, size_t len) {
  if (len >= 6 && memcmp(data, "Exif\0\0", 6) == 0) {
    data += 6;
    len -= 6;
  }
  tiff t = {data, len, 0};
  if (len < 8)
    return 1;
  if (memcmp(data, "MM\0*", 4) == 0)
    t.big_endian = 1;
  else if (memcmp(data, "II*\0", 4) != 0)
    return 1;
  size_t ifd = u32_at(&t, 4);
  if (ifd > len || len - ifd < 2)
    return 1;
  uint32_t count = u16_at(&t, ifd);
  int64_t orientation = 1;
  for (uint32_t i = 0; i < count; i++) {
    size_t e = ifd + 2 + (size_t)i * ENTRY_LEN;
    if (e > len || len - e < ENTRY_LEN)
      break;
    int64_t v = u16_at(&t, e) == TAG_ORIENTATION ? entry_value(&t, e) : -2;
    if (v != -2)
      orientation = v;
  }
  return orientation >= 1 && orientation <= 8 ? (int)orientation : 1;
}

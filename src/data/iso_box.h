/*
 * iso_box.h — walking ISO base media file format boxes (ISO/IEC 14496-12): the
 * containers of JPEG 2000 (JP2) and HEIF/AVIF files, read before their codecs are
 * called (image_jp2.c's header size, image_heif_box.c's coded sizes).
 *
 * A box is a 32-bit big-endian size (1: a 64-bit size follows the type; 0: to the end
 * of its container), a 4-character type and its payload. Every read stays within the
 * span it is given.
 */
#ifndef R50_ISO_BOX_H
#define R50_ISO_BOX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct r50_span {
  const uint8_t *p;
  size_t n;
} r50_span;

static inline uint32_t r50_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The next box of *in (which moves past it): its type (NUL-terminated) and payload;
 * 0 at the end of *in or on a size that does not fit it. */
static inline int r50_next_box(r50_span *in, char type[5], r50_span *payload) {
  if (in->n < 8)
    return 0;
  uint64_t size = r50_be32(in->p);
  size_t head = 8;
  if (size == 1) {
    if (in->n < 16)
      return 0;
    size = (uint64_t)r50_be32(in->p + 8) << 32 | r50_be32(in->p + 12);
    head = 16;
  } else if (size == 0) {
    size = in->n;
  }
  if (size < head || size > in->n)
    return 0;
  memcpy(type, in->p + 4, 4);
  type[4] = 0;
  payload->p = in->p + head;
  payload->n = (size_t)size - head;
  in->p += size;
  in->n -= (size_t)size;
  return 1;
}

#endif

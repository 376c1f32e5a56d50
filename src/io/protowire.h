/*
 * protowire.h — a bounds-checked reader of the protobuf wire format (varints, 64-bit,
 * length-delimited and 32-bit fields) over a byte range held in memory.
 *
 * Rule: nothing past `end` is ever read. Every varint, fixed-width value and length is
 * checked against the end of the enclosing message before it is used; a varint over 10
 * bytes, a length past the end, field number 0, and wire types 3/4 (groups, which
 * caffe.proto never uses) and 6/7 are malformed input, reported as -1 with a static
 * reason string, never a crash.
 */
#ifndef R50_PROTOWIRE_H
#define R50_PROTOWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum pw_wire {
  PW_VARINT = 0,
  PW_I64 = 1,
  PW_LEN = 2,
  PW_I32 = 5,
} pw_wire;

/* A message being read: [p, end). `base` is the start of the whole buffer, for
 * offsets in messages. */
typedef struct pw_reader {
  const uint8_t *base, *p, *end;
} pw_reader;

/* One field: its number, wire type and value. */
typedef struct pw_field {
  uint32_t number;
  pw_wire wire;
  uint64_t value;      /* PW_VARINT, PW_I64, PW_I32: the raw bits */
  const uint8_t *data; /* PW_LEN: the payload, `len` bytes inside the message */
  size_t len;
} pw_field;

static inline pw_reader pw_reader_init(const uint8_t *buf, size_t len) {
  return (pw_reader){buf, buf, buf + len};
}

/* A reader over the payload of a PW_LEN field read from r. */
static inline pw_reader pw_sub(const pw_reader *r, const pw_field *f) {
  return (pw_reader){r->base, f->data, f->data + f->len};
}

/* Byte offset of the reader's position in the whole buffer. */
static inline size_t pw_offset(const pw_reader *r) {
  return (size_t)(r->p - r->base);
}

/* Reads the next field of r: 1 with *f filled, 0 at the end of the message, -1 on
 * malformed input with *why set. */
int r50_pw_next(pw_reader *r, pw_field *f, const char **why);

/* Reads one varint (e.g. an element of a packed repeated integer field): 0, or -1 with
 * *why set. */
int r50_pw_varint(pw_reader *r, uint64_t *v, const char **why);

/* Little-endian 4- and 8-byte values at p (bounds-checked by the caller). */
static inline uint64_t pw_le(const uint8_t *p, int n) {
  uint64_t x = 0;
  for (int i = n - 1; i >= 0; i--)
    x = x << 8 | p[i];
  return x;
}

/* The float / double whose IEEE-754 bits are `bits` (fixed32 / fixed64 values). */
static inline float pw_float(uint64_t bits) {
  uint32_t b = (uint32_t)bits;
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}
static inline double pw_double(uint64_t bits) {
  double x;
  memcpy(&x, &bits, sizeof x);
  return x;
}

#endif

/*
 * protowire.c — the protobuf wire-format reader of protowire.h.
 *
 * Rule: lengths are compared with the bytes left (end - p), never added to p first, so
 * a huge declared length can neither overflow a pointer nor pass the check.
 */
#include "protowire.h"

int r50_pw_varint(pw_reader *r, uint64_t *v, const char **why) {
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (r->p >= r->end) {
      *why = "a varint runs past the end of its message";
      return -1;
    }
    uint8_t b = *r->p++;
    if (i == 9 && b > 1) {
      *why = "a varint is longer than 64 bits";
      return -1;
    }
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  *why = "a varint is longer than 10 bytes";
  return -1;
}

static int take(pw_reader *r, size_t n, const uint8_t **at, const char **why) {
  if ((size_t)(r->end - r->p) < n) {
    *why = "a field runs past the end of its message";
    return -1;
  }
  *at = r->p;
  r->p += n;
  return 0;
}

int r50_pw_next(pw_reader *r, pw_field *f, const char **why) {
  if (r->p >= r->end)
    return 0;
  uint64_t tag;
  if (r50_pw_varint(r, &tag, why))
    return -1;
  if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) {
    *why = "a field number is 0 or above 2^29 - 1";
    return -1;
  }
  memset(f, 0, sizeof *f);
  f->number = (uint32_t)(tag >> 3);
  const uint8_t *at;
  switch (tag & 7) {
  case PW_VARINT: f->wire = PW_VARINT; return r50_pw_varint(r, &f->value, why) ? -1 : 1;
  case PW_I64:
    f->wire = PW_I64;
    if (take(r, 8, &at, why))
      return -1;
    f->value = pw_le(at, 8);
    return 1;
  case PW_LEN: {
    uint64_t len;
    if (r50_pw_varint(r, &len, why))
      return -1;
    if (len > (uint64_t)(r->end - r->p)) {
      *why = "a length-delimited field is longer than the rest of its message";
      return -1;
    }
    f->wire = PW_LEN;
    f->len = (size_t)len;
    return take(r, f->len, &f->data, why) ? -1 : 1;
  }
  case PW_I32:
    f->wire = PW_I32;
    if (take(r, 4, &at, why))
      return -1;
    f->value = pw_le(at, 4);
    return 1;
  case 3:
  case 4: *why = "a group field (wire type 3/4), which caffe.proto never uses"; return -1;
  default: *why = "an invalid wire type (6 or 7)"; return -1;
  }
}

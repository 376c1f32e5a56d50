/*
 * error.c — status names and filling r50_error.
 */
#include "error.h"

#include <stdarg.h>
#include <string.h>

const char *r50_status_name(r50_status s) {
  switch (s) {
  case R50_OK: return "R50_OK";
  case R50_ERR_ARG: return "R50_ERR_ARG";
  case R50_ERR_IO: return "R50_ERR_IO";
  case R50_ERR_FORMAT: return "R50_ERR_FORMAT";
  case R50_ERR_MISMATCH: return "R50_ERR_MISMATCH";
  case R50_ERR_NOMEM: return "R50_ERR_NOMEM";
  case R50_ERR_NOT_FOUND: return "R50_ERR_NOT_FOUND";
  case R50_ERR_UNSUPPORTED: return "R50_ERR_UNSUPPORTED";
  case R50_ERR_INTERRUPTED: return "R50_ERR_INTERRUPTED";
  case R50_ERR_DEVICE: return "R50_ERR_DEVICE";
  }
  return "R50_ERR_?";
}

r50_status r50_fail(r50_error *err, r50_status s, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = s;
  }
  return s;
}

void r50_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t n = (size_t)snprintf(buf, cap, "(");
  for (int k = 0; k < ndim && n < cap; k++)
    n += (size_t)snprintf(buf + n, cap - n, k ? ", %lld" : "%lld", (long long)shape[k]);
  if (n < cap)
    snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
}

void r50_utf8_copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--; /* src[n] continues a character: cut before that character's lead byte */
  }
  memcpy(dst, src, n);
  dst[n] = 0;
}

void r50_rename_in_message(r50_error *err, const char *from, const char *to) {
  size_t n = strlen(from);
  if (!err || strncmp(err->msg, from, n))
    return;
  char rest[sizeof err->msg];
  snprintf(rest, sizeof rest, "%s", err->msg + n);
  snprintf(err->msg, sizeof err->msg, "%s%s", to, rest);
}

/*
 * utf8.c — see utf8.h.
 */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the valid UTF-8 sequence at s, or 0 where s[0] does not begin one (RFC 3629:
 * the second byte's range depends on the first, which rules out overlong forms,
 * surrogates and code points past U+10FFFF). */
static int sequence(const unsigned char *s) {
  const unsigned char c = s[0];
  int n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  } else
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (int i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) /* (the NUL ends the string: never in range) */
      return 0;
  return n;
}

size_t r50_utf8_escaped_len(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t len = 0;
  while (*p) {
    const int n = sequence(p);
    len += n ? (size_t)n : 4;
    p += n ? n : 1;
  }
  return len;
}

void r50_utf8_escape(const char *s, char *dst) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    const int n = sequence(p);
    if (n)
      for (int i = 0; i < n; i++)
        *dst++ = (char)*p++;
    else {
      snprintf(dst, 5, "\\x%02x", *p++);
      dst += 4;
    }
  }
  *dst = 0;
}

int r50_utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  int n;
  while (*p && (n = sequence(p)))
    p += n;
  return !*p;
}

char *r50_utf8_escaped_dup(const char *s) {
  char *d = malloc(r50_utf8_escaped_len(s) + 1);
  if (d)
    r50_utf8_escape(s, d);
  return d;
}

void r50_escape_field(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 3 < cap; s++) {
    const char *e = *s == '\\'   ? "\\\\"
                    : *s == '\t' ? "\\t"
                    : *s == '\n' ? "\\n"
                    : *s == '\r' ? "\\r"
                                 : NULL;
    if (e) {
      memcpy(out + n, e, 2);
      n += 2;
    } else {
      out[n++] = *s;
    }
  }
  out[n] = 0;
}

/*
 * sha256.c — SHA-256 (FIPS 180-4): the streaming interface, and the compression
 * function in portable C; sha256_ni.c has it with the x86 SHA instructions, used where
 * cpuid reports them.
 */
#include "sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpu_features.h"
#include "error.h"
#include "fileio.h"
#include "sha256_blocks.h"

const uint32_t r50_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

static void block(uint32_t h[8], const uint8_t *p) {
  const uint32_t *K = r50_sha256_k;
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6],
           hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 =
        hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void r50_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t n) {
  for (; n; n--, p += 64)
    block(h, p);
}

void r50_sha256_init_portable(r50_sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->len = 0;
  s->nbuf = 0;
  s->blocks = r50_sha256_blocks_portable;
}

void r50_sha256_init(r50_sha256 *s) {
  r50_sha256_init_portable(s);
#if defined(__x86_64__)
  if (r50_cpu_features_get()->sha)
    s->blocks = r50_sha256_blocks_ni;
#endif
}

void r50_sha256_update(r50_sha256 *s, const void *data, size_t n) {
  const uint8_t *p = data;
  s->len += n;
  if (!n)
    return;
  if (s->nbuf) { /* complete the buffered block first */
    size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
    memcpy(s->buf + s->nbuf, p, take);
    s->nbuf += take, p += take, n -= take;
    if (s->nbuf < 64)
      return;
    s->blocks(s->h, s->buf, 1);
    s->nbuf = 0;
  }
  s->blocks(s->h, p, n / 64); /* whole blocks straight from the caller's bytes */
  p += n / 64 * 64, n %= 64;
  if (n)
    memcpy(s->buf, p, n);
  s->nbuf = n;
}

void r50_sha256_hex(r50_sha256 *s, char out[65]) {
  uint64_t bits = s->len * 8;
  uint8_t pad = 0x80, zero = 0, lenb[8];
  r50_sha256_update(s, &pad, 1);
  while (s->nbuf != 56)
    r50_sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++)
    lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
  r50_sha256_update(s, lenb, 8);
  for (int i = 0; i < 8; i++)
    snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

r50_status r50_sha256_file(const char *path, char out[65], r50_error *err) {
  int fd;
  R50_TRY(r50_open_regular(path, &fd, NULL, err));
  r50_sha256 s;
  r50_sha256_init(&s);
  uint8_t buf[1 << 16];
  r50_status st = R50_OK;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      st = r50_fail(err, R50_ERR_IO, "%s: read error: %s", path, strerror(errno));
    if (n <= 0)
      break;
    r50_sha256_update(&s, buf, (size_t)n);
  }
  close(fd);
  if (st == R50_OK)
    r50_sha256_hex(&s, out);
  return st;
}

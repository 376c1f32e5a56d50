/*
 * hash.h — a 64-bit FNV-1a hash of bytes: a fingerprint for a hash table or for
 * telling messages apart, not a digest (sha256.h is that).
 */
#ifndef R50_HASH_H
#define R50_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t r50_hash64(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

#endif

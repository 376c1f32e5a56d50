/*
 * sha256.h — SHA-256 (FIPS 180-4), for identifying model weights in feature files.
 */
#ifndef R50_SHA256_H
#define R50_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"
#include "sha256_blocks.h"

typedef struct r50_sha256 {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t nbuf;
  r50_sha256_blocks_fn *blocks; /* set by init */
} r50_sha256;

/* Starts a digest, with the x86 SHA instructions where this CPU has them. */
void r50_sha256_init(r50_sha256 *s);
/* The same in portable C only (the tests compare the two). */
void r50_sha256_init_portable(r50_sha256 *s);
void r50_sha256_update(r50_sha256 *s, const void *data, size_t n);
/* Writes the digest as 64 lowercase hex digits and a NUL. */
void r50_sha256_hex(r50_sha256 *s, char out[65]);
/* sha256 of a file's bytes, as hex. */
r50_status r50_sha256_file(const char *path, char out[65], r50_error *err);

#endif

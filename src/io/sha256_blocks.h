/*
 * sha256_blocks.h — the SHA-256 compression function over whole 64-byte blocks, in
 * two builds: portable C (sha256.c) and the x86 SHA instructions (sha256_ni.c, compiled
 * with their flags alone and called only where cpuid reports them).
 */
#ifndef R50_SHA256_BLOCKS_H
#define R50_SHA256_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

/* The 64 round constants of FIPS 180-4 §4.2.2. */
extern const uint32_t r50_sha256_k[64];

/* Folds n blocks at p into the state h. */
typedef void r50_sha256_blocks_fn(uint32_t h[8], const uint8_t *p, size_t n);

r50_sha256_blocks_fn r50_sha256_blocks_portable;
/* Defined on x86-64 only; needs r50_cpu_features_get()->sha. */
r50_sha256_blocks_fn r50_sha256_blocks_ni;

#endif

/*
 * rng.h — a small seeded generator (xoshiro256**, seeded by splitmix64) and normals.
 */
#ifndef R50_RNG_H
#define R50_RNG_H

#include <stdint.h>

typedef struct r50_rng {
  uint64_t s[4];
  int has_spare;
  double spare;
} r50_rng;

void r50_rng_seed(r50_rng *r, uint64_t seed);
uint64_t r50_rng_next(r50_rng *r);
/* Uniform in [0, 1). */
double r50_rng_uniform(r50_rng *r);
/* Standard normal (Box–Muller). */
double r50_rng_normal(r50_rng *r);
/* FNV-1a hash of a string. */
uint64_t r50_hash_str(const char *s);

#endif

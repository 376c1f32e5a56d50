/*
 * test_util.h — tiny assertion helpers shared by the C tests.
 */
#ifndef R50_TEST_UTIL_H
#define R50_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static int g_failures;

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
      fprintf(stderr, __VA_ARGS__);                                                      \
      fprintf(stderr, "\n");                                                             \
      g_failures++;                                                                      \
    }                                                                                    \
  } while (0)

static inline int test_result(const char *name) {
  if (g_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, g_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

/* Reproducible pseudo-random test data (an LCG; each test file seeds its own). */
static unsigned g_seed = 1;

static inline float frand(float lo, float hi) {
  g_seed = g_seed * 1103515245u + 12345u;
  return lo + (hi - lo) * (float)((g_seed >> 8) & 0xffff) / 65535.0f;
}

/* n values uniform in [lo, hi] (malloc'd). */
static inline float *randv(size_t n, float lo, float hi) {
  float *x = malloc((n ? n : 1) * sizeof *x);
  for (size_t i = 0; i < n; i++)
    x[i] = frand(lo, hi);
  return x;
}

#endif

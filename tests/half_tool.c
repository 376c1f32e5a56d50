/*
 * half_tool.c — float32 -> float16 as r50worker stores features (core/half.c), for
 * test_half_numpy.py: reads little-endian float32 values from stdin, writes their
 * binary16 bit patterns (uint16, little-endian) to stdout; with --back, reads
 * binary16 patterns and writes the float32 values.
 */
#include <stdio.h>
#include <string.h>

#include "half.h"

int main(int argc, char **argv) {
  const int back = argc > 1 && !strcmp(argv[1], "--back");
  enum { N = 1 << 16 };
  static float f[N];
  static uint16_t h[N];
  size_t n;
  if (back) {
    while ((n = fread(h, sizeof *h, N, stdin)) > 0) {
      for (size_t i = 0; i < n; i++)
        f[i] = r50_half_to_float(h[i]);
      if (fwrite(f, sizeof *f, n, stdout) != n)
        return 1;
    }
  } else {
    while ((n = fread(f, sizeof *f, N, stdin)) > 0) {
      r50_floats_to_halves(f, n, h);
      if (fwrite(h, sizeof *h, n, stdout) != n)
        return 1;
    }
  }
  return ferror(stdin) ? 1 : 0;
}

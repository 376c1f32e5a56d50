/*
 * half.c — float32 <-> binary16 conversions (half.h).
 */
#include "half.h"

#include <string.h>

static uint32_t bits_of(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

/* q rounded up when the discarded part rem (of `s` bits) is above one half, or is one
 * half and q is odd: round to nearest, ties to even. */
static uint32_t round_even(uint32_t q, uint32_t rem, int s) {
  const uint32_t half = 1u << (s - 1);
  return q + (rem > half || (rem == half && (q & 1u)));
}

uint16_t r50_float_to_half(float x) {
  const uint32_t f = bits_of(x);
  const uint16_t sign = (uint16_t)((f >> 16) & 0x8000u);
  const int e = (int)((f >> 23) & 0xffu); /* biased float exponent */
  const uint32_t man = f & 0x007fffffu;
  if (e == 0xff) { /* infinity, or NaN with its top payload bits (never 0: stays NaN) */
    uint32_t payload = man >> 13;
    return (uint16_t)(sign | 0x7c00u | (man && !payload ? 1u : payload));
  }
  if (e >= 143) /* 2^16 and above: beyond every half */
    return (uint16_t)(sign | 0x7c00u);
  if (e >=
      113) { /* a normal half: exponent e - 112, 10 mantissa bits; a carry moves up */
    const uint32_t h = ((uint32_t)(e - 112) << 10) | (man >> 13);
    return (uint16_t)(sign | round_even(h, man & 0x1fffu, 13));
  }
  if (e < 102) /* below 2^-25: rounds to zero */
    return sign;
  /* a subnormal half m * 2^-24: m = (1.man) * 2^(e - 127 + 24), i.e. full >> (126 - e);
   * rounding up from 1023 gives 0x400, the smallest normal, as it should */
  const uint32_t full = man | 0x00800000u;
  const int s = 126 - e;
  return (uint16_t)(sign | round_even(full >> s, full & ((1u << s) - 1u), s));
}

float r50_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t f;
  if (e == 0x1f) {
    f = sign | 0x7f800000u | (man << 13);
  } else if (e) {
    f = sign | ((e + 112) << 23) | (man << 13);
  } else if (man) { /* subnormal: normalise */
    int shift = 0;
    uint32_t m = man;
    while (!(m & 0x400u))
      m <<= 1, shift++;
    f = sign | ((uint32_t)(113 - shift) << 23) | ((m & 0x3ffu) << 13);
  } else {
    f = sign;
  }
  float x;
  memcpy(&x, &f, sizeof x);
  return x;
}

void r50_floats_to_halves(const float *x, size_t n, uint16_t *h) {
  for (size_t i = 0; i < n; i++)
    h[i] = r50_float_to_half(x[i]);
}

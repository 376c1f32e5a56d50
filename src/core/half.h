/*
 * half.h — IEEE 754 binary16 ("half", numpy's float16) from float32 and back.
 *
 * r50_float_to_half rounds to nearest, ties to even, exactly as numpy's
 * `astype(np.float16)`: values beyond the largest half (65504, after rounding) become
 * infinity, values below half the smallest subnormal (2^-25) become a signed zero,
 * NaN stays NaN (its top payload bits kept, never turned into infinity).
 */
#ifndef R50_HALF_H
#define R50_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t r50_float_to_half(float x);
float r50_half_to_float(uint16_t h);
void r50_floats_to_halves(const float *x, size_t n, uint16_t *h);

#endif

/*
 * sha256_ni.c — SHA-256 blocks with the x86 SHA instructions (Intel since Ice Lake and
 * Goldmont, AMD since Zen): about six times the portable code's speed, which a job
 * start feels when it hashes a 100–240 MB model. Compiled with -msha alone
 * (r50_isa_source); sha256.c calls it only where cpuid reports SHA.
 *
 * sha256rnds2 keeps the eight working variables in two registers, ABEF and CDGH (A in
 * the highest lane), does two rounds with the two W+K words in the low half of its
 * third operand and returns the new ABEF; the old ABEF is then the new CDGH, so two
 * calls that swap their operands do four rounds. sha256msg1/msg2 compute four words of
 * the message schedule (σ0 then σ1 terms) from the sixteen before them.
 */
#include "sha256_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

void r50_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t n) {
  const __m128i bswap =
      _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
  /* h[0..3] = A B C D and h[4..7] = E F G H (lane 0 first) into ABEF and CDGH. */
  __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0xB1); /* BADC */
  __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(h + 4)), 0x1B);
  __m128i abef = _mm_alignr_epi8(abcd, efgh, 8);    /* F E B A */
  __m128i cdgh = _mm_blend_epi16(efgh, abcd, 0xF0); /* H G D C */
  for (; n; n--, p += 64) {
    const __m128i abef0 = abef, cdgh0 = cdgh;
    __m128i w[4]; /* w[g & 3]: the schedule words 4g..4g+3, kept for the next 16 */
    for (int g = 0; g < 16; g++) {
      __m128i x;
      if (g < 4) {
        x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
      } else { /* W[i] = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16] */
        x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
        x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
        x = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
      }
      w[g & 3] = x;
      const __m128i wk =
          _mm_add_epi32(x, _mm_loadu_si128((const __m128i *)(r50_sha256_k + 4 * g)));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk); /* now ABEF; abef holds CDGH */
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
  }
  const __m128i abef_r = _mm_shuffle_epi32(abef, 0x1B); /* A B E F */
  const __m128i cdgh_r = _mm_shuffle_epi32(cdgh, 0xB1); /* G H C D */
  _mm_storeu_si128((__m128i *)h, _mm_blend_epi16(abef_r, cdgh_r, 0xF0));
  _mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(cdgh_r, abef_r, 8));
}
#endif

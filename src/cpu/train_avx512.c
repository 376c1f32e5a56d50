/*
 * train_avx512.c — train_avx512.h's loops with AVX-512 (compiled with those flags only;
 * chosen at run time). A pixel's 16 channels are one vector of floats and two of
 * doubles; every operation is the generic loop's, in its order.
 */
#include <immintrin.h>
#include <string.h>

#include "train_avx512.h"

#define LO(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define HI(v)                                                                            \
  _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))

void r50_bn16_sum_avx512(const float *z, int64_t n, int64_t image, int64_t hw,
                         double s[16]) {
  __m512d a = _mm512_loadu_pd(s), b = _mm512_loadu_pd(s + 8);
  for (int64_t i = 0; i < n; i++) {
    const float *zr = z + i * image;
    for (int64_t p = 0; p < hw; p++) {
      const __m512 v = _mm512_loadu_ps(zr + p * 16);
      a = _mm512_add_pd(a, LO(v));
      b = _mm512_add_pd(b, HI(v));
    }
  }
  _mm512_storeu_pd(s, a);
  _mm512_storeu_pd(s + 8, b);
}

void r50_bn16_sqdev_avx512(const float *z, int64_t n, int64_t image, int64_t hw,
                           const double mu[16], double s2[16]) {
  const __m512d mua = _mm512_loadu_pd(mu), mub = _mm512_loadu_pd(mu + 8);
  __m512d a = _mm512_loadu_pd(s2), b = _mm512_loadu_pd(s2 + 8);
  for (int64_t i = 0; i < n; i++) {
    const float *zr = z + i * image;
    for (int64_t p = 0; p < hw; p++) {
      const __m512 v = _mm512_loadu_ps(zr + p * 16);
      const __m512d da = _mm512_sub_pd(LO(v), mua), db = _mm512_sub_pd(HI(v), mub);
      a = _mm512_add_pd(a, _mm512_mul_pd(da, da));
      b = _mm512_add_pd(b, _mm512_mul_pd(db, db));
    }
  }
  _mm512_storeu_pd(s2, a);
  _mm512_storeu_pd(s2 + 8, b);
}

void r50_bn16_apply_avx512(const float *z, const float *residual, float *y, int64_t n,
                           int64_t image, int64_t hw, const float gamma[16],
                           const float mean[16], const float invstd[16],
                           const float beta[16], int relu) {
  const __m512 g = _mm512_loadu_ps(gamma), m = _mm512_loadu_ps(mean),
               is = _mm512_loadu_ps(invstd), bt = _mm512_loadu_ps(beta),
               zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i++) {
    const float *zr = z + i * image, *rr = residual ? residual + i * image : NULL;
    float *yr = y + i * image;
    for (int64_t p = 0; p < hw; p++) {
      const __m512 xhat =
          _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(zr + p * 16), m), is);
      __m512 v = _mm512_add_ps(_mm512_mul_ps(g, xhat), bt);
      if (rr)
        v = _mm512_add_ps(v, _mm512_loadu_ps(rr + p * 16));
      if (relu) /* (v < 0: -0 and NaN stay as they are) */
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
      _mm512_storeu_ps(yr + p * 16, v);
    }
  }
}

void r50_bn16_grad_sums_avx512(const float *z, const float *dy, int64_t n, int64_t image,
                               int64_t hw, const float mean[16], const float invstd[16],
                               double sb[16], double sg[16]) {
  const __m512 m = _mm512_loadu_ps(mean), is = _mm512_loadu_ps(invstd);
  __m512d ba = _mm512_loadu_pd(sb), bb = _mm512_loadu_pd(sb + 8);
  __m512d ga = _mm512_loadu_pd(sg), gb = _mm512_loadu_pd(sg + 8);
  for (int64_t i = 0; i < n; i++) {
    const float *zr = z + i * image, *gr = dy + i * image;
    for (int64_t p = 0; p < hw; p++) {
      const __m512 xhat =
          _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(zr + p * 16), m), is);
      const __m512 d = _mm512_loadu_ps(gr + p * 16);
      const __m512d dlo = LO(d), dhi = HI(d);
      ba = _mm512_add_pd(ba, dlo);
      bb = _mm512_add_pd(bb, dhi);
      ga = _mm512_add_pd(ga, _mm512_mul_pd(dlo, LO(xhat)));
      gb = _mm512_add_pd(gb, _mm512_mul_pd(dhi, HI(xhat)));
    }
  }
  _mm512_storeu_pd(sb, ba);
  _mm512_storeu_pd(sb + 8, bb);
  _mm512_storeu_pd(sg, ga);
  _mm512_storeu_pd(sg + 8, gb);
}

void r50_bn16_grad_apply_avx512(const float *z, const float *dy, float *dz, int64_t n,
                                int64_t image, int64_t hw, const float mean[16],
                                const float invstd[16], const float gscale[16],
                                const float mg[16], const float mb[16], int frozen) {
  const __m512 m = _mm512_loadu_ps(mean), is = _mm512_loadu_ps(invstd),
               gs = _mm512_loadu_ps(gscale), vg = _mm512_loadu_ps(mg),
               vb = _mm512_loadu_ps(mb);
  for (int64_t i = 0; i < n; i++) {
    const float *zr = z + i * image, *gr = dy + i * image;
    float *out = dz + i * image;
    for (int64_t p = 0; p < hw; p++) {
      const __m512 d = _mm512_loadu_ps(gr + p * 16);
      __m512 v;
      if (frozen) {
        v = _mm512_mul_ps(gs, d);
      } else {
        const __m512 xhat =
            _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(zr + p * 16), m), is);
        v = _mm512_mul_ps(gs,
                          _mm512_sub_ps(d, _mm512_add_ps(_mm512_mul_ps(xhat, vg), vb)));
      }
      _mm512_storeu_ps(out + p * 16, v);
    }
  }
}

void r50_maxpool16_backward_avx512(const float *src, const float *dy, float *dst,
                                   int64_t h, int64_t w, int64_t ho, int64_t wo, int k,
                                   int st, int pad) {
  memset(dst, 0, (size_t)(h * w * 16) * sizeof *dst);
  const __m512i lane =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t oy = 0; oy < ho; oy++) {
    int64_t y0 = oy * st - pad, y1 = y0 + k < h ? y0 + k : h;
    y0 = y0 < 0 ? 0 : y0;
    for (int64_t ox = 0; ox < wo; ox++) {
      int64_t x0 = ox * st - pad, x1 = x0 + k < w ? x0 + k : w;
      x0 = x0 < 0 ? 0 : x0;
      /* each lane's first maximum: its pixel index, strictly greater replaces */
      __m512 best = _mm512_loadu_ps(src + (y0 * w + x0) * 16);
      __m512i at = _mm512_set1_epi32((int)(y0 * w + x0));
      for (int64_t yy = y0; yy < y1; yy++)
        for (int64_t xx = x0; xx < x1; xx++) {
          const __m512 v = _mm512_loadu_ps(src + (yy * w + xx) * 16);
          const __mmask16 gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
          best = _mm512_mask_mov_ps(best, gt, v);
          at = _mm512_mask_mov_epi32(at, gt, _mm512_set1_epi32((int)(yy * w + xx)));
        }
      /* dst[at * 16 + l] += dy: sixteen lanes, sixteen different addresses */
      const __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(at, 4), lane);
      const __m512 sum = _mm512_add_ps(_mm512_i32gather_ps(idx, dst, 4),
                                       _mm512_loadu_ps(dy + (oy * wo + ox) * 16));
      _mm512_i32scatter_ps(dst, idx, sum, 4);
    }
  }
}

void r50_bf16_round_avx512(const float *src, int64_t n, uint16_t *dst) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff),
                abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000),
                quiet = _mm512_set1_epi32(0x40);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k =
        n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    const __m512i u = _mm512_maskz_loadu_epi32(k, src + i);
    const __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(hi, one)), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, quiet));
    _mm512_mask_cvtepi32_storeu_epi16(dst + i, k, r);
  }
}

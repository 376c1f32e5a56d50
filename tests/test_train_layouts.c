/*
 * test_train_layouts.c — the CPU training kernels give the same bits on every layout,
 * and train_avx512.c's bodies the same bits as the loops they stand in for:
 *   - BatchNormalization (train_cpu.c) told the reference engine's CNHW (lanes 1) or
 *     the oneDNN engine's nChw8c and nChw16c (on an AVX-512 CPU nChw16c runs the
 *     AVX-512 bodies): forward (statistics, running averages, output, with and without
 *     a residual and the ReLU; training and frozen) and backward (dz, dgamma, dbeta);
 *   - max pooling's backward on nChw16c against the loop written out here, on inputs
 *     with many ties and some NaNs, pool1's windows (3x3/2, cover_all) and padded ones;
 *   - the bfloat16 copies' rounding against round-to-nearest-even worked out here
 *     independently, on special and random values at every tail length.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_features.h"
#include "ops_cpu.h"
#include "test_util.h"
#ifdef R50_HAVE_ONEDNN
#include "train_avx512.h"
#endif

/* CNHW index of (c, i, p) -> index in the layout of `lanes` channels a group. */
static int64_t at(int64_t lanes, int64_t C, int64_t N, int64_t HW, int64_t c, int64_t i,
                  int64_t p) {
  if (lanes == 1)
    return c * N * HW + i * HW + p;
  return (c / lanes) * HW * lanes + i * C * HW + p * lanes + c % lanes;
}

typedef struct {
  float *y, *dz, *save_mean, *save_invstd, *avg_mean, *avg_var, *dgamma, *dbeta;
} bn_out;

/* Runs BN forward and backward in the layout of `lanes`; the outputs back in CNHW. */
static bn_out run(r50_cpu_ctx *ctx, int64_t lanes, int64_t C, int64_t N, int64_t H,
                  int64_t W, const float *z, const float *res, const float *dy,
                  const float *gamma, const float *beta, int frozen, int relu) {
  const int64_t HW = H * W, total = C * N * HW;
  float *zl = malloc(sizeof(float) * total), *rl = malloc(sizeof(float) * total),
        *dyl = malloc(sizeof(float) * total), *yl = malloc(sizeof(float) * total),
        *dzl = malloc(sizeof(float) * total);
  for (int64_t c = 0; c < C; c++)
    for (int64_t i = 0; i < N; i++)
      for (int64_t p = 0; p < HW; p++) {
        const int64_t s = at(1, C, N, HW, c, i, p), d = at(lanes, C, N, HW, c, i, p);
        zl[d] = z[s], dyl[d] = dy[s], rl[d] = res ? res[s] : 0;
      }
  bn_out o = {malloc(sizeof(float) * total), malloc(sizeof(float) * total),
              calloc(C, sizeof(float)),      calloc(C, sizeof(float)),
              malloc(sizeof(float) * C),     malloc(sizeof(float) * C),
              calloc(C, sizeof(float)),      calloc(C, sizeof(float))};
  for (int64_t c = 0; c < C; c++)
    o.avg_mean[c] = 0.25f * (float)(c % 5), o.avg_var[c] = 1.0f + 0.125f * (float)(c % 3);
  r50_bn_args a = {gamma,         beta, o.avg_mean, o.avg_var, o.save_mean,
                   o.save_invstd, 2e-5, 0.9,        frozen};
  r50_act za = {zl, C, N, H, W}, ya = {.data = yl}, dya = {dyl, C, N, H, W},
          dza = {.data = dzl};
  const r50_groups gl =
      lanes == 1 ? r50_groups_cnhw(&za) : (r50_groups){lanes, HW * lanes, C * HW};
  r50_bn_forward_cpu(ctx, &gl, &a, &za, &ya, res ? rl : NULL, relu);
  r50_bn_backward_cpu(ctx, &gl, &a, &za, &dya, &dza, o.dgamma, o.dbeta);
  for (int64_t c = 0; c < C; c++)
    for (int64_t i = 0; i < N; i++)
      for (int64_t p = 0; p < HW; p++) {
        const int64_t s = at(1, C, N, HW, c, i, p), d = at(lanes, C, N, HW, c, i, p);
        o.y[s] = yl[d], o.dz[s] = dzl[d];
      }
  free(zl), free(rl), free(dyl), free(yl), free(dzl);
  return o;
}

static void bn_free(bn_out *o) {
  free(o->y), free(o->dz), free(o->save_mean), free(o->save_invstd);
  free(o->avg_mean), free(o->avg_var), free(o->dgamma), free(o->dbeta);
}

static int differ(const float *a, const float *b, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++)
    bad += memcmp(a + i, b + i, sizeof *a) != 0;
  return bad;
}

static void test_layouts(r50_cpu_ctx *ctx, int64_t C, int64_t N, int64_t H, int64_t W) {
  const int64_t total = C * N * H * W;
  float *z = randv((size_t)total, -3, 5), *res = randv((size_t)total, -1, 1),
        *dy = randv((size_t)total, -1, 1), *gamma = randv((size_t)C, 0.5f, 2),
        *beta = randv((size_t)C, -1, 1);
  for (int64_t i = 0; i < total; i++) /* full mantissas, not frand's 16 bits */
    z[i] += frand(0, 1) * 1e-3f, dy[i] *= 1.0f + frand(0, 1) * 1e-4f;
  for (int mode = 0; mode < 8; mode++) {
    const int frozen = mode & 1, relu = (mode >> 1) & 1, with_res = mode >> 2;
    bn_out ref =
        run(ctx, 1, C, N, H, W, z, with_res ? res : NULL, dy, gamma, beta, frozen, relu);
    const int64_t lanes[] = {8, 16};
    for (int k = 0; k < 2; k++) {
      bn_out o = run(ctx, lanes[k], C, N, H, W, z, with_res ? res : NULL, dy, gamma, beta,
                     frozen, relu);
      const int bad_y = differ(o.y, ref.y, total), bad_dz = differ(o.dz, ref.dz, total),
                bad_c = differ(o.save_mean, ref.save_mean, C) +
                        differ(o.save_invstd, ref.save_invstd, C) +
                        differ(o.avg_mean, ref.avg_mean, C) +
                        differ(o.avg_var, ref.avg_var, C) +
                        differ(o.dgamma, ref.dgamma, C) + differ(o.dbeta, ref.dbeta, C);
      CHECK(bad_y + bad_dz + bad_c == 0,
            "BN %lldx%lldx%lldx%lld, lanes %lld, frozen %d relu %d residual %d: y %d, dz "
            "%d, "
            "per-channel %d values differ from CNHW's",
            (long long)C, (long long)N, (long long)H, (long long)W, (long long)lanes[k],
            frozen, relu, with_res, bad_y, bad_dz, bad_c);
      bn_free(&o);
    }
    bn_free(&ref);
  }
  free(z), free(res), free(dy), free(gamma), free(beta);
}

#ifdef R50_HAVE_ONEDNN
/* bfloat16 of x to nearest, ties to even, by comparing the two neighbours in double;
 * past the largest bfloat16's half-way point, infinity; a NaN keeps its top bits,
 * made quiet. */
static uint16_t bf16_oracle(uint32_t u) {
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40u);
  if ((u & 0x7fffffffu) == 0x7f800000u)
    return (uint16_t)(u >> 16);
  const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  float x, l, h;
  memcpy(&x, &u, 4), memcpy(&l, &lo, 4), memcpy(&h, &hi, 4);
  const double hv = (hi & 0x7fffffffu) == 0x7f800000u ? copysign(ldexp(1, 128), x) : h;
  const double dl = fabs((double)x - l), dh = fabs(hv - (double)x);
  if (dl < dh || (dl == dh && !((lo >> 16) & 1)))
    return (uint16_t)(lo >> 16);
  return (uint16_t)(hi >> 16);
}

static void test_bf16_round(void) {
  enum { NV = 1 << 20 };
  uint32_t *u = malloc(sizeof *u * NV);
  const uint32_t special[] = {
      0,          0x80000000, 1,          0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff,
      0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fff0000, 0x3f808000,
      0x3f818000, 0x3f80ffff, 0x3f807fff, 0x7f7f8000, 0x7f7f7fff, 0xff7f8000, 0x00008000,
      0x00018000, 0x80017fff, 0x3f800000, 0x4049fdb0, 0xc2f6e979};
  const int ns = (int)(sizeof special / sizeof *special);
  for (int i = 0; i < NV; i++) {
    g_seed = g_seed * 1103515245u + 12345u;
    const uint32_t r = g_seed;
    g_seed = g_seed * 1103515245u + 12345u;
    const uint32_t low = (i & 7) ? g_seed >> 16 : 0x8000u; /* an eighth are exact ties */
    u[i] = i < ns ? special[i] : (r & 0xffff0000u) | low;
  }
  uint16_t *d = malloc(sizeof *d * (NV + 64));
  int bad = 0;
  for (int len = 0; len <= 40; len++) { /* every tail, and nothing written past it */
    for (int i = 0; i < 64; i++)
      d[i] = 0xabcd;
    r50_bf16_round_avx512((const float *)(u + len), len, d);
    for (int i = 0; i < len; i++)
      bad += d[i] != bf16_oracle(u[len + i]);
    for (int i = len; i < 64; i++)
      bad += d[i] != 0xabcd;
  }
  CHECK(bad == 0, "bf16 rounding, short lengths: %d values wrong", bad);
  r50_bf16_round_avx512((const float *)u, NV, d);
  bad = 0;
  int first = -1;
  for (int i = 0; i < NV; i++)
    if (d[i] != bf16_oracle(u[i])) {
      bad++;
      if (first < 0)
        first = i;
    }
  CHECK(bad == 0, "bf16 rounding: %d of %d values wrong (first: %08x -> %04x, not %04x)",
        bad, NV, first < 0 ? 0 : u[first], first < 0 ? 0 : d[first],
        first < 0 ? 0 : bf16_oracle(u[first]));
  free(u), free(d);
}
#endif

/* dx of max pooling on one nChw16c plane, as the generic loop computes it. */
static void maxpool16_backward_ref(const float *src, const float *g, float *dst,
                                   int64_t h, int64_t w, int64_t ho, int64_t wo, int k,
                                   int st, int pad) {
  memset(dst, 0, sizeof *dst * (size_t)(h * w * 16));
  for (int64_t oy = 0; oy < ho; oy++) {
    int64_t y0 = oy * st - pad, y1 = y0 + k < h ? y0 + k : h;
    y0 = y0 < 0 ? 0 : y0;
    for (int64_t ox = 0; ox < wo; ox++) {
      int64_t x0 = ox * st - pad, x1 = x0 + k < w ? x0 + k : w;
      x0 = x0 < 0 ? 0 : x0;
      for (int64_t l = 0; l < 16; l++) {
        int64_t at = y0 * w + x0;
        for (int64_t yy = y0; yy < y1; yy++)
          for (int64_t xx = x0; xx < x1; xx++)
            if (src[(yy * w + xx) * 16 + l] > src[at * 16 + l])
              at = yy * w + xx;
        dst[at * 16 + l] += g[(oy * wo + ox) * 16 + l];
      }
    }
  }
}

static void test_maxpool_backward(void) {
  /* h, w, k, stride, pad, cover_all (Chainer's pool1: 3x3/2, no pad, cover_all) */
  const int cfg[][6] = {{112, 112, 3, 2, 0, 1},
                        {15, 9, 3, 2, 0, 1},
                        {14, 14, 3, 2, 1, 0},
                        {7, 5, 2, 2, 0, 0}};
  for (int c = 0; c < 4; c++) {
    const int64_t h = cfg[c][0], w = cfg[c][1];
    const int k = cfg[c][2], st = cfg[c][3], pad = cfg[c][4], cover = cfg[c][5];
    const int64_t span_h = h + 2 * pad - k + (cover ? st - 1 : 0),
                  span_w = w + 2 * pad - k + (cover ? st - 1 : 0);
    const int64_t ho = span_h / st + 1, wo = span_w / st + 1;
    float *src = randv((size_t)(h * w * 16), -2, 2),
          *g = randv((size_t)(ho * wo * 16), -1, 1);
    for (int64_t i = 0; i < h * w * 16; i++) { /* ties everywhere, and a few NaNs */
      src[i] = (float)(int)(src[i] * 2);
      if (i % 97 == 5)
        src[i] = NAN;
    }
    for (int64_t i = 0; i < ho * wo * 16; i++)
      g[i] *= 1.0f + frand(0, 1) * 1e-3f;
    float *want = malloc(sizeof(float) * (size_t)(h * w * 16)),
          *got = malloc(sizeof(float) * (size_t)(h * w * 16));
    maxpool16_backward_ref(src, g, want, h, w, ho, wo, k, st, pad);
    for (int64_t i = 0; i < h * w * 16; i++)
      got[i] = NAN; /* (it must clear dst itself) */
    r50_maxpool16_backward_avx512(src, g, got, h, w, ho, wo, k, st, pad);
    const int bad = differ(got, want, h * w * 16);
    CHECK(bad == 0, "max pooling backward %lldx%lld, %dx%d/%d pad %d: %d of %lld differ",
          (long long)h, (long long)w, k, k, st, pad, bad, (long long)(h * w * 16));
    free(src), free(g), free(want), free(got);
  }
}

int main(void) {
  r50_cpu_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  for (int threads = 1; threads <= 2; threads++) {
    ctx.threads = threads;
    test_layouts(&ctx, 48, 3, 5, 7);
    test_layouts(&ctx, 32, 2, 14, 14);
  }
  const r50_cpu_features *f = r50_cpu_features_get();
#ifdef R50_HAVE_ONEDNN
  if (f->avx512f) {
    test_bf16_round();
    test_maxpool_backward();
  } else {
    printf("no AVX-512: the max pooling and bf16 rounding bodies are not checked here\n");
  }
#endif
  printf("BN nChw16c on %s\n",
         f->avx512f ? "AVX-512 (train_avx512.c)" : "the generic loop");
  return test_result("test_train_layouts");
}

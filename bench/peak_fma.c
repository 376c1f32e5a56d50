/*
 * peak_fma.c — this machine's float32 multiply-add peak, the figure the CPU benchmark
 * (bench/bench_cpu.sh) reports its engine's share of: a tight loop of independent
 * fused multiply-adds on the widest vectors the CPU has (AVX-512 where usable, else
 * AVX2), run by T threads at once. Prints `peak_gmac_per_s=<float>` (multiply-adds, the
 * unit of the networks' GMAC figures; FLOP/s are twice that).
 *
 * Where the CPU has bf16 dot products it also measures their peak, the ceiling of
 * `--precision bf16`: AMX-BF16 (TDPBF16PS on four accumulator tiles, 16x16x32
 * multiply-adds each) where the OS grants tile data, else AVX512-BF16 (VDPBF16PS, 32
 * multiply-adds a vector), and prints `bf16_peak_gmac_per_s=<float>` after it.
 *
 * usage: peak_fma [THREADS] [SECONDS]   (defaults: 2, 2)
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "cpu_features.h"

#define ACC 12    /* independent chains: > FMA latency x ports */
#define REPS 4096 /* iterations between clock checks */

/* Runs ROUND (one round of independent multiply-adds) REPS times between clock checks
 * until `seconds` have passed; leaves the rounds run in `rounds` and the time in `t`. */
#define TIMED(seconds, rounds, t, ROUND)                                                 \
  do {                                                                                   \
    const double t0_ = r50_now_s();                                                      \
    (rounds) = 0;                                                                        \
    do {                                                                                 \
      for (int r_ = 0; r_ < REPS; r_++) {                                                \
        ROUND;                                                                           \
      }                                                                                  \
      (rounds) += REPS;                                                                  \
      (t) = r50_now_s() - t0_;                                                           \
    } while ((t) < (seconds));                                                           \
  } while (0)

__attribute__((target("avx2,fma"))) static double run_avx2(double seconds) {
  __m256 acc[ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < ACC; i++)
    acc[i] = _mm256_set1_ps((float)i);
  double t;
  long long iters;
  TIMED(seconds, iters, t,
        for (int i = 0; i < ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b));
  float sink = 0;
  for (int i = 0; i < ACC; i++)
    sink += _mm256_cvtss_f32(acc[i]);
  if (sink == 12345.0f)
    printf("%g\n", sink);
  return (double)iters * ACC * 8 / t;
}

__attribute__((target("avx512f"))) static double run_avx512(double seconds) {
  __m512 acc[ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < ACC; i++)
    acc[i] = _mm512_set1_ps((float)i);
  double t;
  long long iters;
  TIMED(seconds, iters, t,
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b));
  float sink = 0;
  for (int i = 0; i < ACC; i++)
    sink += _mm512_reduce_add_ps(acc[i]);
  if (sink == 12345.0f)
    printf("%g\n", sink);
  return (double)iters * ACC * 16 / t;
}

/* AVX512-BF16: each VDPBF16PS adds 16 lanes x 2 bf16 products. */
__attribute__((target("avx512f,avx512bf16"))) static double
run_avx512_bf16(double seconds) {
  __m512 acc[ACC];
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80),
                 b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int i = 0; i < ACC; i++)
    acc[i] = _mm512_set1_ps((float)i);
  double t;
  long long iters;
  TIMED(seconds, iters, t,
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b));
  float sink = 0;
  for (int i = 0; i < ACC; i++)
    sink += _mm512_reduce_add_ps(acc[i]);
  if (sink == 12345.0f)
    printf("%g\n", sink);
  return (double)iters * ACC * 32 / t;
}

/* AMX-BF16: tiles 0-3 accumulate 16x16 float32, tiles 4-5 hold A (16 rows x 32 bf16),
 * tiles 6-7 B (16 row pairs x 16 columns); each TDPBF16PS is 16 x 16 x 32 multiply-adds.
 * The four products are independent, as a GEMM's register-blocked inner loop. */
__attribute__((target("amx-tile,amx-bf16"))) static double run_amx_bf16(double seconds) {
  struct {
    unsigned char palette, start_row, reserved[14];
    unsigned short colsb[16];
    unsigned char rows[16];
  } __attribute__((aligned(64))) cfg = {.palette = 1};
  for (int i = 0; i < 8; i++) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  static _Alignas(
      64) unsigned short ab[16 * 32]; /* small bf16 values: the sums stay finite */
  for (int i = 0; i < 16 * 32; i++)
    ab[i] = 0x2f80; /* 2^-32 */
  _Alignas(64) float c[16 * 16] = {0};
  _tile_loadconfig(&cfg);
  _tile_loadd(0, c, 64);
  _tile_loadd(1, c, 64);
  _tile_loadd(2, c, 64);
  _tile_loadd(3, c, 64);
  _tile_loadd(4, ab, 64);
  _tile_loadd(5, ab, 64);
  _tile_loadd(6, ab, 64);
  _tile_loadd(7, ab, 64);
  double t;
  long long iters;
  TIMED(seconds, iters, t, _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7));
  _tile_stored(0, c, 64);
  _tile_release();
  if (c[0] == 12345.0f)
    printf("%g\n", c[0]);
  return (double)iters * 4 * 16 * 16 * 32 / t;
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? atof(argv[2]) : 2.0;
  const r50_cpu_features *f = r50_cpu_features_get();
  if (!f->avx2 || !f->fma) {
    fprintf(stderr, "peak_fma: this CPU has no AVX2/FMA\n");
    return 1;
  }
  const int wide = f->avx512f;
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += wide ? run_avx512(seconds) : run_avx2(seconds);
  printf("%s FMA loop, %d thread%s, %.1f s: %.1f GFLOP/s\n", wide ? "AVX-512" : "AVX2",
         threads, threads == 1 ? "" : "s", seconds, 2 * total / 1e9);
  printf("peak_gmac_per_s=%.2f\n", total / 1e9);
  fflush(stdout);              /* (kept, should the bf16 loop below fail) */
  const int amx = f->amx_bf16; /* (the OS granted tile data to this process) */
  if (amx || f->avx512_bf16) {
    double bf16 = 0;
#pragma omp parallel num_threads(threads) reduction(+ : bf16)
    bf16 += amx ? run_amx_bf16(seconds) : run_avx512_bf16(seconds);
    printf("%s loop, %d thread%s, %.1f s: %.1f GFLOP/s\n",
           amx ? "AMX-BF16 TDPBF16PS" : "AVX512-BF16 VDPBF16PS", threads,
           threads == 1 ? "" : "s", seconds, 2 * bf16 / 1e9);
    printf("bf16_peak_gmac_per_s=%.2f\n", bf16 / 1e9);
  }
  return 0;
}

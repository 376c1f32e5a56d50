/*
 * peak_fma.c — this machine's float32 multiply-add peak, the figure the CPU benchmark
 * (bench/bench_cpu.sh) reports its engine's share of: a tight loop of independent
 * fused multiply-adds on the widest vectors the CPU has (AVX-512 where usable, else
 * AVX2), run by T threads at once. Prints `peak_gmac_per_s=<float>` last (multiply-adds,
 * the unit of the networks' GMAC figures; FLOP/s are twice that).
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

__attribute__((target("avx2,fma"))) static double run_avx2(double seconds) {
  __m256 acc[ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < ACC; i++)
    acc[i] = _mm256_set1_ps((float)i);
  double t0 = r50_now_s(), t;
  long long iters = 0;
  do {
    for (int r = 0; r < REPS; r++)
      for (int i = 0; i < ACC; i++)
        acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    iters += REPS;
    t = r50_now_s() - t0;
  } while (t < seconds);
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
  double t0 = r50_now_s(), t;
  long long iters = 0;
  do {
    for (int r = 0; r < REPS; r++)
      for (int i = 0; i < ACC; i++)
        acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    iters += REPS;
    t = r50_now_s() - t0;
  } while (t < seconds);
  float sink = 0;
  for (int i = 0; i < ACC; i++)
    sink += _mm512_reduce_add_ps(acc[i]);
  if (sink == 12345.0f)
    printf("%g\n", sink);
  return (double)iters * ACC * 16 / t;
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
  return 0;
}

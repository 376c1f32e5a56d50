/*
 * cpu_features.c — cpuid/xgetbv feature detection (x86-64), and the AMX permission
 * request Linux wants before a process may use tile data. Other architectures report
 * no feature.
 */
#include "cpu_features.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static unsigned long long xgetbv0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

static void detect(r50_cpu_features *f) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d))
    return;
  const unsigned max_leaf = a;
  memcpy(f->vendor, &b, 4);
  memcpy(f->vendor + 4, &d, 4);
  memcpy(f->vendor + 8, &c, 4);
  f->vendor[12] = 0;
  __get_cpuid(1, &a, &b, &c, &d);
  const int sse41 = (c >> 19) & 1, ssse3 = (c >> 9) & 1;
  const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
  const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  const int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
  const int tiles = (xcr0 & 0x60000) == 0x60000;
  if (max_leaf < 7)
    return;
  __cpuid_count(7, 0, a, b, c, d);
  f->avx2 = ymm && ((b >> 5) & 1);
  f->fma = ymm && fma;
  f->avx512f = zmm && ((b >> 16) & 1);
  f->avx512dq = zmm && ((b >> 17) & 1);
  f->avx512bw = zmm && ((b >> 30) & 1);
  f->avx512vl = zmm && ((b >> 31) & 1);
  f->sha = sse41 && ssse3 && ((b >> 29) & 1);
  const int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  f->avx512_bf16 = f->avx512f && ((a1 >> 5) & 1);
  if (amx_tile && tiles &&
      syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
    f->amx_tile = 1;
    f->amx_bf16 = amx_bf16;
  }
}
#else
static void detect(r50_cpu_features *f) {
  snprintf(f->vendor, sizeof f->vendor, "unknown");
}
#endif

static r50_cpu_features g_features; /* written once, under g_once */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect_once(void) {
  detect(&g_features);
}

const r50_cpu_features *r50_cpu_features_get(void) {
  pthread_once(&g_once, detect_once);
  return &g_features;
}

void r50_cpu_describe(char *buf, size_t cap) {
  const r50_cpu_features *f = r50_cpu_features_get();
  snprintf(buf, cap, "%s:%s%s%s%s%s%s; BLAS: %s", f->vendor, f->avx2 ? " AVX2" : "",
           f->fma ? " FMA" : "", f->avx512f ? " AVX-512" : "",
           f->avx512_bf16 ? " AVX512-BF16" : "", f->amx_tile ? " AMX" : "",
           f->amx_bf16 ? " AMX-BF16" : "", openblas_get_config());
}

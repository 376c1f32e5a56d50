/*
 * cpu_features.h — what this CPU (and the OS) can run, read at run time with cpuid
 * and xgetbv, so that kernels compiled for an ISA (per-file flags, see CMakeLists.txt)
 * are called only where they work. Nothing is assumed at build time.
 */
#ifndef R50_CPU_FEATURES_H
#define R50_CPU_FEATURES_H

#include <stddef.h>

typedef struct r50_cpu_features {
  int avx2, fma;                             /* x86-64-v3 */
  int avx512f, avx512bw, avx512vl, avx512dq; /* AVX-512 usable (OS saves ZMM state) */
  int avx512_bf16;                           /* vdpbf16ps */
  int amx_tile, amx_bf16;                    /* AMX usable (the OS granted tile data) */
  int sha;                                   /* SHA-256 instructions (and SSE4.1) */
  char vendor[16];
} r50_cpu_features;

/* The features, detected once. */
const r50_cpu_features *r50_cpu_features_get(void);

/* "AuthenticAMD: AVX2 FMA AVX-512 AVX512-BF16" and the BLAS build, for `info`. */
void r50_cpu_describe(char *buf, size_t cap);

#endif

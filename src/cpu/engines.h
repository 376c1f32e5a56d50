/*
 * engines.h — the CPU engines this folder provides.
 */
#ifndef R50_CPU_ENGINES_H
#define R50_CPU_ENGINES_H

#include <stddef.h>

#include "engine.h"

/* The reference engine: OpenBLAS SGEMM kernels, BN folded, CNHW activations. */
const r50_engine *r50_engine_reference(void);

#ifdef R50_HAVE_ONEDNN
/* The fast engine: oneDNN convolutions on blocked activations (engine_dnnl.c). */
const r50_engine *r50_engine_onednn(void);
/* "oneDNN 2.6.3, AVX2 kernels, whole-batch primitives", for `info`. */
void r50_onednn_describe(char *buf, size_t cap);
/* Whether an inference walk in that precision (bf16: 1) has NHWC activations, which
 * oneDNN's AMX kernels need: then its results may depend on the thread count (never
 * on the batch: primitives stay per image). See engine_dnnl.c. */
int r50_onednn_nhwc(int bf16);
#endif

#endif

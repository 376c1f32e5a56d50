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
/* "oneDNN 2.6.3, kernels for avx2, whole-batch primitives", for `info`. */
void r50_onednn_describe(char *buf, size_t cap);
#endif

#endif

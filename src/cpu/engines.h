/*
 * engines.h — the CPU engines this folder provides.
 */
#ifndef R50_CPU_ENGINES_H
#define R50_CPU_ENGINES_H

#include "engine.h"

/* The reference engine: OpenBLAS SGEMM kernels, BN folded, CNHW activations. */
const r50_engine *r50_engine_reference(void);

#endif

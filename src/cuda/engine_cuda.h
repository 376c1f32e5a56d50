/*
 * engine_cuda.h — the CUDA engine (engine_cuda.cu, train_cuda.cu) as the rest of the
 * library sees it: an r50_engine like the CPU ones, made on the calling thread's
 * current device (r50_cuda_use_device first).
 */
#ifndef R50_ENGINE_CUDA_H
#define R50_ENGINE_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "engine.h"

const r50_engine *r50_engine_cuda(void);

/* The training ops (train_cuda.cu). */
extern const r50_engine_train r50_cuda_train;
/* y (n, cout) = x (n, cin) w^T + b (b may be NULL), on the engine's stream. */
void r50_cuda_linear(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                     const float *w, const float *b, int64_t cout, float *y);

#ifdef __cplusplus
}
#endif
#endif

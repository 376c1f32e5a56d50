/*
 * op_parity.h — every training op of an engine against the reference engine's, op by
 * op, on the same random operands, at every convolution shape a ResNet-50 has (both
 * layouts) for a given batch and input size.
 *
 * Why op by op: a randomly initialised ResNet's whole-model gradient is chaotic (two
 * correct CPU engines give BN gradients 2-3% apart and conv1/b gradients 15-58x apart
 * on one step, from rounding alone), so a training step cannot be compared parameter
 * by parameter; each op on the same inputs can. tests/gpu/cuda_parity runs it against
 * the CUDA engine; test_op_parity against the oneDNN engine, which also proves the
 * harness and its tolerances on every CI run.
 *
 * Each case prints one line, PASS or FAIL, with every output's norm-wise relative
 * error |peer - ref| / |ref|. fp32: forward outputs within 1e-4, gradients and
 * running averages within 1e-3. bf16: the host operands are rounded to bfloat16 first
 * (both engines see the same inputs; a max-pooling tie then breaks the same way), and
 * every output is within 2e-2.
 */
#ifndef R50_OP_PARITY_H
#define R50_OP_PARITY_H

#include "engine.h"

typedef struct op_parity_opts {
  const r50_engine *peer;
  r50_precision precision; /* asked of the peer (set_precision) */
  int threads;
  int64_t batch, size; /* the network's shapes for batch images of size x size */
} op_parity_opts;

/* Runs every case; prints its lines to stdout. Returns the number of failed cases
 * (-1 when an engine could not be made). */
int op_parity_run(const op_parity_opts *o);

#endif

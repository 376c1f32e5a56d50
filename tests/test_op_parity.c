/*
 * test_op_parity.c — the oneDNN engine's training ops against the reference engine's,
 * op by op at every ResNet-50 convolution shape (op_parity.h): fp32, and bf16 (native
 * where the CPU has AVX512-BF16 or AMX, else emulated: R50_ONEDNN_BF16_TRAINING=
 * emulate). The same harness checks the CUDA engine in tests/gpu/cuda_parity; running
 * it here proves its cases and tolerances hold for two correct engines, and that it
 * catches a wrong op: a peer whose `add` does nothing must fail.
 *
 * usage: test_op_parity [BATCH [SIZE]]   (default 2 images of 64x64)
 */
#include <stdio.h>
#include <stdlib.h>

#include "cpu_features.h"
#include "engines.h"
#include "op_parity.h"

static void add_nothing(r50_engine_state *s, r50_act *acc, const r50_act *g) {
  (void)s, (void)acc, (void)g;
}

/* The oneDNN engine with `add` broken: the harness must report exactly that case. */
static int broken_peer_fails(void) {
  static r50_engine e;
  static r50_engine_train t;
  e = *r50_engine_onednn();
  t = *e.train;
  t.add = add_nothing;
  e.train = &t;
  e.name = "onednn with add broken (must FAIL)";
  op_parity_opts o = {
      .peer = &e, .precision = R50_PRECISION_FP32, .threads = 2, .batch = 1, .size = 32};
  return op_parity_run(&o) == 1;
}

int main(int argc, char **argv) {
  op_parity_opts o = {.peer = r50_engine_onednn(),
                      .precision = R50_PRECISION_FP32,
                      .threads = 2,
                      .batch = argc > 1 ? atoll(argv[1]) : 2,
                      .size = argc > 2 ? atoll(argv[2]) : 64};
  int fails = op_parity_run(&o);
  const r50_cpu_features *f = r50_cpu_features_get();
  if (!f->avx512_bf16 && !f->amx_bf16)
    setenv("R50_ONEDNN_BF16_TRAINING", "emulate", 1);
  o.precision = R50_PRECISION_BF16;
  const int bf16 = op_parity_run(&o);
  fails = fails < 0 || bf16 < 0 ? 1 : fails + bf16;
  unsetenv("R50_ONEDNN_BF16_TRAINING");
  if (!broken_peer_fails()) {
    printf("FAIL  the harness did not catch a peer whose add does nothing\n");
    fails++;
  }
  printf("test_op_parity: %s\n", fails ? "FAILED" : "all cases passed");
  return fails ? 1 : 0;
}

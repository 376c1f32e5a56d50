/*
 * model_tool.c — test driver: loads a model npz through r50_load_npz and saves it with
 * r50_save_npz, so Python tests can feed files written by numpy (e.g. deflated ones).
 *
 * usage: model_tool resave IN.npz OUT.npz [ARCH [FB]]
 *        model_tool init SEED OUT.npz [ARCH [FB]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r50.h"

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "resave") && strcmp(argv[1], "init"))) {
    fprintf(stderr,
            "usage: model_tool resave IN.npz OUT.npz [ARCH [FB]] | init SEED OUT.npz\n");
    return 2;
  }
  r50_config cfg = r50_config_default();
  int init = !strcmp(argv[1], "init");
  cfg.pretrained = init ? NULL : argv[2];
  cfg.seed = init ? strtoull(argv[2], NULL, 10) : 0;
  cfg.arch = argc > 4 ? (r50_arch)atoi(argv[4]) : R50_ARCH_50;
  cfg.downsample_fb = argc > 5 ? atoi(argv[5]) : 0;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m || r50_save_npz(m, argv[3], &err) != R50_OK) {
    fprintf(stderr, "model_tool: %s\n", err.msg);
    r50_model_free(m);
    return 1;
  }
  r50_model_free(m);
  return 0;
}

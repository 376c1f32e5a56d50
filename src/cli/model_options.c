/*
 * cli_model.c — building the model from the shared command-line options.
 */
#include "model_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cli_model_opts cli_model_defaults(void) {
  return (cli_model_opts){.arch = "50", .model = "auto", .threads = 1};
}

r50_config cli_model_config(const cli_model_opts *mo) {
  r50_config cfg = r50_config_default();
  cfg.arch = (r50_arch)atoi(mo->arch);
  cfg.downsample_fb = mo->downsample_fb;
  cfg.pretrained = strcmp(mo->model, "none") ? mo->model : NULL;
  cfg.seed = (uint64_t)mo->seed;
  cfg.threads = mo->threads;
  return cfg;
}

r50_model *cli_model_new(const cli_model_opts *mo) {
  r50_config cfg = cli_model_config(mo);
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m)
    r50_log(R50_LOG_ERROR, "%s", err.msg);
  return m;
}

void cli_model_describe(const cli_model_opts *mo, char *buf, size_t cap) {
  char where[4096];
  if (!strcmp(mo->model, "none"))
    snprintf(where, sizeof where, "random weights (seed %d)", mo->seed);
  else if (!strcmp(mo->model, "auto")) {
    r50_auto_model_path((r50_arch)atoi(mo->arch), where, sizeof where);
  } else
    snprintf(where, sizeof where, "%s", mo->model);
  snprintf(buf, cap, "ResNet-%s (%s), %s", mo->arch,
           mo->downsample_fb ? "FB: stride on the 3x3 conv" : "MSRA: stride on the 1x1 conv",
           where);
}

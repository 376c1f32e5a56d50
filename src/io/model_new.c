/*
 * model_new.c — r50_model_new, the public constructor: the engine the config asks for,
 * a model from core on it, and the pretrained weights resolved on top.
 *
 * Rule: a model whose weights come from a file never draws random numbers first; a
 * model handed out holds its final weights, on its engine.
 */
#include <string.h>

#include "engines.h"
#include "error.h"
#include "model.h"
#include "pretrained.h"

static r50_status select_engine(const r50_config *cfg, const r50_engine **out,
                                r50_error *err) {
  if (cfg->device == R50_DEVICE_CUDA)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "--device cuda: the CUDA engine is not part of this release yet");
  if (cfg->device != R50_DEVICE_CPU)
    return r50_fail(err, R50_ERR_ARG, "unknown device %d", (int)cfg->device);
  if (cfg->engine && strcmp(cfg->engine, "reference") && strcmp(cfg->engine, "auto"))
    return r50_fail(err, R50_ERR_ARG, "unknown CPU engine '%s' (available: reference)",
                    cfg->engine);
  *out = r50_engine_reference();
  return R50_OK;
}

r50_model *r50_model_new(const r50_config *cfg, r50_error *err) {
  const r50_engine *engine = NULL;
  if (select_engine(cfg, &engine, err) != R50_OK)
    return NULL;
  r50_model *m = r50_model_create(cfg, engine, cfg->pretrained == NULL, err);
  if (m && cfg->pretrained &&
      r50_load_pretrained(m, cfg->pretrained, 0, NULL, err) != R50_OK) {
    r50_model_free(m);
    return NULL;
  }
  return m;
}

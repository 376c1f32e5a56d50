/*
 * model_new.c — r50_model_new, the public constructor: the engine the config asks for,
 * a model from core on it, and the pretrained weights resolved on top.
 *
 * Rule: a model whose weights come from a file never draws random numbers first; a
 * model handed out holds its final weights, on its engine. "auto" is the fastest CPU
 * engine built in (onednn, else reference), or the one R50_ENGINE names.
 */
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "error.h"
#include "model.h"
#include "pretrained.h"

#ifdef R50_HAVE_ONEDNN
#define R50_CPU_ENGINES "auto (onednn), onednn, reference"
#else
#define R50_CPU_ENGINES "auto (reference), reference; onednn is not in this build"
#endif

static r50_status select_engine(const r50_config *cfg, const r50_engine **out,
                                r50_error *err) {
  if (cfg->device == R50_DEVICE_CUDA)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "--device cuda: the CUDA engine is not part of this release yet");
  if (cfg->device != R50_DEVICE_CPU)
    return r50_fail(err, R50_ERR_ARG, "unknown device %d", (int)cfg->device);
  const char *name = cfg->engine ? cfg->engine : "auto";
  if (!strcmp(name, "auto") && getenv("R50_ENGINE") && *getenv("R50_ENGINE"))
    name = getenv("R50_ENGINE");
  if (!strcmp(name, "reference")) {
    *out = r50_engine_reference();
  }
#ifdef R50_HAVE_ONEDNN
  else if (!strcmp(name, "onednn") || !strcmp(name, "auto")) {
    *out = r50_engine_onednn();
  }
#else
  else if (!strcmp(name, "auto")) {
    *out = r50_engine_reference();
  }
#endif
  else {
    return r50_fail(err, R50_ERR_ARG, "unknown CPU engine '%s' (available: %s)", name,
                    R50_CPU_ENGINES);
  }
  return R50_OK;
}

r50_model *r50_model_new(const r50_config *cfg, r50_error *err) {
  const r50_engine *engine = NULL;
  if (select_engine(cfg, &engine, err) != R50_OK)
    return NULL;
  r50_model *m = r50_model_create(cfg, engine, cfg->pretrained == NULL, err);
  /* An engine chosen by "auto" that cannot train hands a model that is trained to the
   * reference engine (r50_model_for_training); one asked for by name does not. */
  if (m && (!cfg->engine || !strcmp(cfg->engine, "auto")))
    m->train_engine = r50_engine_reference();
  if (m && cfg->pretrained &&
      r50_load_pretrained(m, cfg->pretrained, 0, NULL, err) != R50_OK) {
    r50_model_free(m);
    return NULL;
  }
  return m;
}

/*
 * model_new.c — r50_model_new, the public constructor: the engine the config asks for,
 * a model from core on it, and the pretrained weights resolved on top.
 *
 * Rule: a model whose weights come from a file never draws random numbers first; a
 * model handed out holds its final weights, on its engine. On the CPU "auto" is the
 * fastest engine built in (onednn, else reference), or the one R50_ENGINE names; on
 * R50_DEVICE_CUDA it is the CUDA engine, on cfg->cuda_device.
 */
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "error.h"
#ifdef R50_HAVE_CUDA
#include "device_cuda.h"
#include "engine_cuda.h"
#endif
#include "model.h"
#include "model_new.h"
#include "pretrained.h"

#ifdef R50_HAVE_ONEDNN
#define R50_CPU_ENGINES "auto (onednn), onednn, reference"
#else
#define R50_CPU_ENGINES "auto (reference), reference; onednn is not in this build"
#endif

/* The CUDA engine on cfg's device (the thread's current one when -1). */
static r50_status select_cuda(const r50_config *cfg, const r50_engine **out,
                              r50_error *err) {
#ifdef R50_HAVE_CUDA
  if (cfg->engine && strcmp(cfg->engine, "auto") && strcmp(cfg->engine, "cuda"))
    return r50_fail(err, R50_ERR_ARG,
                    "unknown CUDA engine '%s' (available: auto (cuda), cuda)",
                    cfg->engine);
  if (r50_cuda_device_count() == 0)
    return r50_fail(
        err, R50_ERR_DEVICE,
        "--device cuda: no GPU is visible to this process (CUDA_VISIBLE_DEVICES=%s; "
        "nvidia-smi lists what the driver sees)",
        getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
  if (cfg->cuda_device >= 0)
    R50_TRY(r50_cuda_use_device(cfg->cuda_device, err));
  *out = r50_engine_cuda();
  return R50_OK;
#else
  (void)cfg, (void)out;
  return r50_fail(err, R50_ERR_UNSUPPORTED,
                  "--device cuda: this build has no CUDA engine (configure with "
                  "-DR50_CUDA=ON where nvcc, cuDNN and NCCL are installed)");
#endif
}

static r50_status select_engine(const r50_config *cfg, const r50_engine **out,
                                r50_error *err) {
  if (cfg->device == R50_DEVICE_CUDA)
    return select_cuda(cfg, out, err);
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

/* The engine cfg asks for, its model; random_init: Chainer's random parameters, else
 * zeros for a file to fill. */
static r50_model *model_new(const r50_config *cfg, int random_init, r50_error *err) {
  const r50_engine *engine = NULL;
  if (select_engine(cfg, &engine, err) != R50_OK)
    return NULL;
  r50_model *m = r50_model_create(cfg, engine, random_init, err);
  /* An engine chosen by "auto" that cannot train hands a model that is trained to the
   * reference engine (r50_model_for_training); one asked for by name does not. (Every
   * engine trains today.) */
  if (m && cfg->device == R50_DEVICE_CPU &&
      (!cfg->engine || !strcmp(cfg->engine, "auto")))
    m->train_engine = r50_engine_reference();
  return m;
}

r50_model *r50_model_new(const r50_config *given, r50_error *err) {
  r50_config c = *given, *cfg = &c;
  if (cfg->n_classes <= 0 && cfg->pretrained &&
      r50_pretrained_classes(cfg->pretrained, &cfg->n_classes, err) != R50_OK)
    return NULL;
  r50_model *m = model_new(cfg, cfg->pretrained == NULL, err);
  if (m && cfg->pretrained &&
      r50_load_pretrained(m, cfg->pretrained, 0, NULL, err) != R50_OK) {
    r50_model_free(m);
    return NULL;
  }
  return m;
}

r50_model *r50_model_new_unfilled(const r50_config *cfg, r50_error *err) {
  r50_config c = *cfg;
  c.pretrained = NULL;
  return model_new(&c, 0, err);
}

int r50_device_count(r50_device d) {
  if (d == R50_DEVICE_CPU)
    return 1;
#ifdef R50_HAVE_CUDA
  if (d == R50_DEVICE_CUDA)
    return r50_cuda_device_count();
#endif
  return 0;
}

r50_status r50_to_device(r50_model *m, r50_device device, int ordinal, r50_error *err) {
  r50_config cfg = m->cfg;
  cfg.device = device;
  cfg.cuda_device = ordinal;
  cfg.engine = NULL;
  const r50_engine *engine = NULL;
  R50_TRY(select_engine(&cfg, &engine, err));
  if (engine == m->engine && device == R50_DEVICE_CPU)
    return R50_OK;
  R50_TRY(r50_model_move(m, engine, err));
  m->cfg.device = device;
  m->cfg.cuda_device = ordinal;
  m->train_engine = device == R50_DEVICE_CPU ? r50_engine_reference() : NULL;
  return R50_OK;
}

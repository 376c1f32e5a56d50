/*
 * model.h — the model object behind the public r50_model handle: the table, the slabs
 * and the engine that runs it.
 *
 * Rule (llm.c): parameters, persistents (BN averages, BN counts) and — once training
 * starts — gradients each live in one slab laid out by the table, allocated when the
 * model is made and never moved: every pointer r50_namedparams hands out stays valid
 * for the model's life. Loading copies into the slabs. Whatever an engine derives from
 * the parameters is the engine's, refreshed by r50_model_sync after any write.
 */
#ifndef R50_MODEL_H
#define R50_MODEL_H

#include "engine.h"
#include "r50.h"
#include "table.h"

struct r50_model {
  r50_net net;
  float *params;     /* (n_param_floats) trainable parameters */
  float *persistent; /* (n_persistent_floats) BN avg_mean / avg_var */
  int64_t *ints;     /* (n_persistent_ints) BN N */
  float *grads;      /* (n_param_floats), NULL until gradients exist */
  const r50_engine *engine;
  r50_engine_state *es;
  int threads;
  r50_hook_fn hook;
  void *hook_user;
  r50_interrupt_fn interrupt;
  void *interrupt_user;
};

/* Makes the model of cfg's arch, downsample_fb, n_classes and threads on `engine`
 * (NULL: parameters only, for converters — no forward): the table, zeroed slabs and
 * the engine state; with random_init the parameters are drawn as Chainer's
 * pretrained_model=None (cfg->seed) and handed to the engine. Without, they stay zero
 * until the caller loads them and calls r50_model_sync. (cfg->pretrained is not looked
 * at: resolving it is io's, see io/model_new.c.) */
r50_model *r50_model_create(const r50_config *cfg, const r50_engine *engine,
                            int random_init, r50_error *err);

/* Hands the parameters to the engine again after they changed. */
r50_status r50_model_sync(r50_model *m, r50_error *err);

/* Pointer to the data of param i (NULL for an int persistent). */
float *r50_param_data(r50_model *m, int i);

/* Random init as Chainer's pretrained_model=None (HeNormal / LeCunNormal, seeded). */
void r50_init_random(r50_model *m, uint64_t seed);

#endif

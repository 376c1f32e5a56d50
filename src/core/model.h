/*
 * model.h — the model object behind the public r50_model handle: the table, the slabs
 * and the engine that runs it.
 *
 * Rule (llm.c): parameters, persistents (BN averages, BN counts) and — once training
 * starts — gradients each live in one slab laid out by the table, allocated when the
 * model is made and never moved: every pointer r50_namedparams hands out stays valid
 * for the model's life (an inference-only model's engine may give its convolution
 * weights' pages back: its parameters are then out of reach through the API, see
 * r50_model_host_params). Loading copies into the slabs. The parameter slabs belong to
 * a store that models made with R50_COPY_SHARE share; its version counts writes, and
 * what an engine derives from the parameters is refreshed (r50_model_sync) whenever a
 * model is run with a version it has not seen.
 */
#ifndef R50_MODEL_H
#define R50_MODEL_H

#include <stdint.h>

#include "engine.h"
#include "r50.h"
#include "table.h"

/* Parameters and persistents, shared by a model and its R50_COPY_SHARE copies. */
typedef struct r50_param_store {
  int refs;
  uint64_t version;   /* incremented by every write through the API */
  float *params;      /* (n_param_floats) trainable parameters */
  float *persistent;  /* (n_persistent_floats) BN avg_mean / avg_var */
  int64_t *ints;      /* (n_persistent_ints) BN N */
  int inference_only; /* r50_model_inference_only: the parameters are the engine's */
  /* The model whose engine holds newer parameters or persistents than these slabs
   * (R50_SYNC_* in newer), or NULL (engine_sync.c). */
  struct r50_model *newer_in;
  int newer;
} r50_param_store;

struct r50_train_state; /* core/train.c */

struct r50_model {
  r50_net net;
  r50_config cfg; /* as made (pretrained not kept) */
  r50_param_store *store;
  float *params, *persistent; /* the store's */
  int64_t *ints;
  float *grads;    /* (n_param_floats), NULL until r50_cleargrads */
  uint8_t *update; /* (n_params) 1: the optimizer updates the entry */
  const r50_engine *engine;
  r50_engine_state *es;
  r50_precision precision; /* what the engine runs (set_precision's answer) */
  /* The engine training moves the model to when its own cannot train (an engine
   * chosen by "auto"); NULL: training such a model is an error. */
  const r50_engine *train_engine;
  uint64_t synced; /* the store version the engine holds (0: none) */
  /* Training on an engine with memory of its own (engine_sync.c). */
  float *velocity;      /* (n_param_floats) the optimizer's, host; NULL: none */
  int separate;         /* the engine's slabs are not the host's (known after a bind) */
  uint64_t eng_version; /* the store version of the engine's parameter copies */
  int eng_newer;        /* R50_SYNC_GRADS/STATE newer in engine memory */
  int host_newer;       /* R50_SYNC_GRADS/STATE newer on the host */
  r50_slabs eng;        /* the engine's slabs at the last bind */
  int threads;
  r50_hook_fn hook;
  void *hook_user;
  r50_interrupt_fn interrupt;
  void *interrupt_user;
  struct r50_train_state *train;
};

/* Makes the model of cfg's arch, downsample_fb, n_classes and threads on `engine`
 * (NULL: parameters only, for converters — no forward): the table, zeroed slabs and
 * the engine state; with random_init the parameters are drawn as Chainer's
 * pretrained_model=None (cfg->seed). Without, they stay zero for the caller to load.
 * (cfg->pretrained is not looked at: resolving it is io's, see io/model_new.c.) */
r50_model *r50_model_create(const r50_config *cfg, const r50_engine *engine,
                            int random_init, r50_error *err);

/* Hands the parameters to the engine (after they changed). */
r50_status r50_model_sync(r50_model *m, r50_error *err);
/* r50_model_sync unless the engine already holds the store's version. */
r50_status r50_model_ensure_synced(r50_model *m, r50_error *err);
/* Moves the model to `engine` (made on the thread's current device): everything newer
 * in the old engine's memory is fetched first; the precision cfg asked for is asked
 * again. On failure nothing changes. */
r50_status r50_model_move(r50_model *m, const r50_engine *engine, r50_error *err);
/* Makes sure the model's engine can train: moves it to train_engine (logged once)
 * where its own cannot, else fails naming the engine. */
r50_status r50_model_for_training(r50_model *m, r50_error *err);

/* R50_OK where m's host parameters may be read or written; on an inference-only model
 * an error naming `what` (the call that needs them). */
r50_status r50_model_host_params(const r50_model *m, const char *what, r50_error *err);
/* Marks the parameters changed (a write through the slabs). */
void r50_model_touch(r50_model *m);

/* engine_sync.c: the host slabs and an engine's own memory kept in step.
 * r50_model_bind: the engine's slabs for a step, after uploading what the host
 * changed. r50_model_pull: makes the host slabs of `what` (R50_SYNC_*) current — call
 * before reading them, and before writing parameters or persistents (then
 * r50_model_touch). r50_model_engine_wrote: the engine changed `what`.
 * r50_model_host_wrote: the host changed (or was handed for writing) gradients or
 * optimizer state. */
r50_status r50_model_bind(r50_model *m, r50_slabs *eng, r50_error *err);
r50_status r50_model_pull(const r50_model *m, int what, r50_error *err);
r50_status r50_model_pull_all(r50_model *m, r50_error *err);
/* r50_model_pull for callers that cannot fail: an error is logged. */
void r50_model_pull_or_log(const r50_model *m, int what);
void r50_model_engine_wrote(r50_model *m, int what);
void r50_model_host_wrote(r50_model *m, int what);

/* Pointer to the data of param i (NULL for an int persistent). */
float *r50_param_data(r50_model *m, int i);

/* Random init as Chainer's pretrained_model=None (HeNormal / LeCunNormal, seeded). */
void r50_init_random(r50_model *m, uint64_t seed);
/* The same for fc6 alone (W and b): the values r50_init_random gives them, for a model
 * whose other parameters a file filled. The caller marks them written. */
void r50_init_random_fc(r50_model *m, uint64_t seed);

/* Frees the training state (core/train.c). */
void r50_train_state_free(struct r50_train_state *t);

#endif

/*
 * optimizer.c — Chainer's MomentumSGD with its WeightDecay hook, over the model's
 * parameter slab: one velocity slab of the same layout, one update call per
 * parameter whose update is enabled (the engine does the arithmetic in its memory:
 * a device engine keeps a copy of the velocity, engine_sync.c). One optimizer per
 * model, as Chainer's setup.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

struct r50_optimizer {
  r50_model *m;
  double lr, momentum, weight_decay;
  float *velocity; /* (n_param_floats), zero at start as Chainer's */
};

r50_optimizer *r50_momentum_sgd_new(r50_model *m, double lr, double momentum,
                                    double weight_decay, r50_error *err) {
  if (r50_model_for_training(m, err) != R50_OK)
    return NULL;
  r50_optimizer *o = calloc(1, sizeof *o);
  if (o)
    o->velocity = calloc((size_t)(m->net.n_param_floats ? m->net.n_param_floats : 1),
                         sizeof(float));
  if (!o || !o->velocity) {
    free(o);
    r50_fail(err, R50_ERR_NOMEM, "out of memory for the optimizer state");
    return NULL;
  }
  *o = (r50_optimizer){m, lr, momentum, weight_decay, o->velocity};
  m->velocity = o->velocity; /* the model's engine keeps its copy (engine_sync.c) */
  r50_model_host_wrote(m, R50_SYNC_STATE);
  return o;
}

void r50_optimizer_set_lr(r50_optimizer *o, double lr) {
  o->lr = lr;
}

double r50_optimizer_lr(const r50_optimizer *o) {
  return o->lr;
}

float *r50_optimizer_state(r50_optimizer *o, int64_t *n) {
  *n = o->m->net.n_param_floats;
  /* current, and may be written (a resume) */
  r50_model_pull_or_log(o->m, R50_SYNC_STATE);
  r50_model_host_wrote(o->m, R50_SYNC_STATE);
  return o->velocity;
}

r50_status r50_optimizer_update(r50_optimizer *o, r50_error *err) {
  r50_model *m = o->m;
  if (!m->grads)
    return r50_fail(err, R50_ERR_ARG,
                    "optimizer update without gradients (r50_cleargrads, "
                    "r50_backward first)");
  if (m->velocity != o->velocity)
    return r50_fail(err, R50_ERR_ARG,
                    "this optimizer's model has another optimizer now (one per model)");
  r50_slabs eng;
  R50_TRY(r50_model_bind(m, &eng, err));
  const r50_engine_train *tr = m->engine->train;
  /* The update is elementwise with one rate for all: each run of adjacent parameters
   * that are updated (all of them, unless some are frozen) is one call, not one per
   * parameter (over 160 small parallel regions or kernel launches a step). */
  int64_t run = 0, run_len = 0;
  for (int i = 0; i <= m->net.n_params; i++) {
    const r50_param_desc *d = i < m->net.n_params ? &m->net.params[i] : NULL;
    const int joins = d && d->kind == R50_PARAM && m->update[i];
    if (joins && run_len > 0 && d->offset == run + run_len) {
      run_len += d->numel;
      continue;
    }
    if (run_len > 0)
      tr->momentum_sgd(m->es, eng.params + run, eng.grads + run, eng.velocity + run,
                       (size_t)run_len, o->lr, o->momentum, o->weight_decay);
    run = joins ? d->offset : 0;
    run_len = joins ? d->numel : 0;
  }
  r50_model_engine_wrote(m, R50_SYNC_PARAMS | R50_SYNC_GRADS | R50_SYNC_STATE);
  return R50_OK;
}

void r50_optimizer_free(r50_optimizer *o) {
  if (!o)
    return;
  if (o->m->velocity == o->velocity)
    o->m->velocity = NULL;
  free(o->velocity);
  free(o);
}

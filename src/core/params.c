/*
 * params.c — the parameter API over the model's slabs: counts, namedparams (Chainer's
 * names, shapes and the data in place), and telling the engine about direct writes.
 */
#include <string.h>

#include "error.h"
#include "model.h"

int64_t r50_count_params(const r50_model *m) {
  return m->net.n_param_floats;
}

int r50_namedparams_count(const r50_model *m) {
  return m->net.n_params;
}

float *r50_param_data(r50_model *m, int i) {
  const r50_param_desc *d = &m->net.params[i];
  switch (d->kind) {
  case R50_PARAM: return m->params + d->offset;
  case R50_PERSISTENT_F32: return m->persistent + d->offset;
  case R50_PERSISTENT_INT: return NULL;
  }
  return NULL;
}

r50_param_info r50_namedparams(r50_model *m, int i) {
  R50_ASSERT(i >= 0 && i < m->net.n_params);
  const r50_param_desc *d = &m->net.params[i];
  r50_param_info p = {
      .name = d->name, .kind = d->kind, .ndim = d->ndim, .numel = d->numel};
  memcpy(p.shape, d->shape, sizeof p.shape);
  p.data = r50_param_data(m, i);
  if (d->kind == R50_PARAM && m->grads)
    p.grad = m->grads + d->offset;
  if (d->kind == R50_PERSISTENT_INT)
    p.ivalue = &m->ints[d->offset];
  return p;
}

r50_status r50_params_changed(r50_model *m, r50_error *err) {
  return r50_model_sync(m, err);
}

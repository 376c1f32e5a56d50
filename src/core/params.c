/*
 * params.c — the parameter API over the model's slabs (counts, namedparams: Chainer's
 * names, shapes and the data in place) and Chainer's Link API on them: cleargrads,
 * addgrads, copyparams, disable/enable_update.
 */
#include <stdlib.h>
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
  /* the pointers are for reading and writing now: the host slabs must be current */
  r50_model_pull_or_log(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT | R50_SYNC_GRADS);
  if (m->grads)
    r50_model_host_wrote(m, R50_SYNC_GRADS);
  p.data = r50_param_data(m, i);
  if (d->kind == R50_PARAM && m->store->inference_only)
    p.data = NULL; /* maybe given back (r50_model_inference_only) */
  if (d->kind == R50_PARAM && m->grads)
    p.grad = m->grads + d->offset;
  if (d->kind == R50_PERSISTENT_INT)
    p.ivalue = &m->ints[d->offset];
  return p;
}

r50_status r50_params_changed(r50_model *m, r50_error *err) {
  R50_TRY(r50_model_host_params(m, "r50_params_changed", err));
  r50_model_touch(m);
  return R50_OK;
}

/* The slabs handed out are current, and may be written: the caller then calls
 * r50_params_changed for parameters and persistents; gradients are taken as written. */
float *r50_params_slab(r50_model *m, int64_t *n) {
  *n = m->net.n_param_floats;
  if (m->store->inference_only)
    return NULL; /* maybe given back (r50_model_inference_only) */
  r50_model_pull_or_log(m, R50_SYNC_PARAMS);
  return m->params;
}

float *r50_grads_slab(r50_model *m, int64_t *n) {
  *n = m->net.n_param_floats;
  r50_model_pull_or_log(m, R50_SYNC_GRADS);
  if (m->grads)
    r50_model_host_wrote(m, R50_SYNC_GRADS);
  return m->grads;
}

float *r50_persistent_slab(r50_model *m, int64_t *n) {
  *n = m->net.n_persistent_floats;
  r50_model_pull_or_log(m, R50_SYNC_PERSISTENT);
  return m->persistent;
}

r50_status r50_cleargrads(r50_model *m, r50_error *err) {
  const size_t bytes = (size_t)m->net.n_param_floats * sizeof(float);
  if (!m->grads && !(m->grads = malloc(bytes ? bytes : 1)))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for %zu MiB of gradients",
                    bytes >> 20);
  memset(m->grads, 0, bytes);
  if (m->separate && m->eng.grads) { /* zero the engine's copy in place: no upload */
    m->engine->train->zero(m->es, m->eng.grads, (size_t)m->net.n_param_floats);
    m->eng_newer &= ~R50_SYNC_GRADS;
    m->host_newer &= ~R50_SYNC_GRADS;
  } else {
    r50_model_host_wrote(m, R50_SYNC_GRADS);
  }
  return R50_OK;
}

static r50_status same_arch(const r50_model *a, const r50_model *b, const char *what,
                            r50_error *err) {
  if (a->net.arch != b->net.arch || a->net.downsample_fb != b->net.downsample_fb ||
      a->net.n_classes != b->net.n_classes)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: ResNet-%d%s with %d classes and ResNet-%d%s with %d classes",
                    what, (int)a->net.arch, a->net.downsample_fb ? " FB" : "",
                    a->net.n_classes, (int)b->net.arch, b->net.downsample_fb ? " FB" : "",
                    b->net.n_classes);
  return R50_OK;
}

r50_status r50_addgrads(r50_model *dst, const r50_model *src, r50_error *err) {
  R50_TRY(same_arch(dst, src, "addgrads", err));
  if (!src->grads)
    return R50_OK; /* Chainer: a None gradient adds nothing */
  if (!dst->grads)
    R50_TRY(r50_cleargrads(dst, err));
  R50_TRY(r50_model_pull(src, R50_SYNC_GRADS, err));
  R50_TRY(r50_model_pull(dst, R50_SYNC_GRADS, err));
  for (int64_t i = 0; i < dst->net.n_param_floats; i++)
    dst->grads[i] += src->grads[i];
  r50_model_host_wrote(dst, R50_SYNC_GRADS);
  return R50_OK;
}

r50_status r50_copyparams(r50_model *dst, const r50_model *src, int copy_persistent,
                          r50_error *err) {
  R50_TRY(same_arch(dst, src, "copyparams", err));
  R50_TRY(r50_model_host_params(src, "copyparams", err));
  R50_TRY(r50_model_host_params(dst, "copyparams", err));
  if (dst->store == src->store)
    return R50_OK;
  R50_TRY(r50_model_pull(src, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  R50_TRY(r50_model_pull(dst, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  memcpy(dst->params, src->params, (size_t)src->net.n_param_floats * sizeof(float));
  if (copy_persistent) {
    memcpy(dst->persistent, src->persistent,
           (size_t)src->net.n_persistent_floats * sizeof(float));
    memcpy(dst->ints, src->ints, (size_t)src->net.n_persistent_ints * sizeof(int64_t));
  }
  r50_model_touch(dst);
  return R50_OK;
}

/* name is prefix itself or lies below it ("res4" matches "res4/a/conv1/W"). */
static int under(const char *name, const char *prefix) {
  if (!prefix || !*prefix)
    return 1;
  size_t n = strlen(prefix);
  while (n > 0 && prefix[n - 1] == '/')
    n--;
  return !strncmp(name, prefix, n) && (name[n] == 0 || name[n] == '/');
}

static int set_update(r50_model *m, const char *prefix, uint8_t on) {
  int changed = 0;
  for (int i = 0; i < m->net.n_params; i++)
    if (m->net.params[i].kind == R50_PARAM && under(m->net.params[i].name, prefix) &&
        m->update[i] != on) {
      m->update[i] = on;
      changed++;
    }
  return changed;
}

int r50_disable_update(r50_model *m, const char *prefix) {
  return set_update(m, prefix, 0);
}

int r50_enable_update(r50_model *m, const char *prefix) {
  return set_update(m, prefix, 1);
}

int r50_update_enabled(const r50_model *m, const char *name) {
  for (int i = 0; i < m->net.n_params; i++)
    if (!strcmp(m->net.params[i].name, name))
      return m->net.params[i].kind == R50_PARAM ? m->update[i] : 0;
  return -1;
}

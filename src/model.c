/*
 * model.c — r50_model lifetime, configuration, parameter access.
 *
 * Rule: a model is always complete: r50_model_new either returns a model whose
 * parameters are initialised (random or loaded) and folded, or NULL.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auto_model.h"
#include "caffe_convert.h"
#include "error.h"

r50_config r50_config_default(void) {
  return (r50_config){.arch = R50_ARCH_50, .downsample_fb = 0, .pretrained = "auto",
                      .seed = 0, .threads = 1};
}

void r50_auto_model_path(r50_arch arch, char *buf, size_t cap) {
  const char *root = getenv("CHAINER_DATASET_ROOT");
  if (root && *root) {
    snprintf(buf, cap, "%s/pfnet/chainer/models/ResNet-%d-model.npz", root, (int)arch);
    return;
  }
  const char *home = getenv("HOME");
  snprintf(buf, cap, "%s/.chainer/dataset/pfnet/chainer/models/ResNet-%d-model.npz",
           home && *home ? home : ".", (int)arch);
}

static void *alloc_zeroed(int64_t n, size_t size) {
  return calloc(n > 0 ? (size_t)n : 1, size);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static r50_status load_pretrained(r50_model *m, const char *pretrained, r50_error *err) {
  if (!strcmp(pretrained, "auto"))
    return r50_load_auto(m, err);
  if (ends_with(pretrained, ".caffemodel"))
    return r50_load_caffemodel(m, pretrained, err);
  return r50_load_npz(m, pretrained, err);
}

r50_model *r50_model_new(const r50_config *cfg, r50_error *err) {
  r50_model *m = calloc(1, sizeof *m);
  if (!m) {
    r50_fail(err, R50_ERR_NOMEM, "out of memory allocating the model");
    return NULL;
  }
  if (r50_net_build(cfg->arch, cfg->downsample_fb, &m->net, err) != R50_OK) {
    free(m);
    return NULL;
  }
  r50_ctx_init(&m->ctx, cfg->threads);
  m->params = alloc_zeroed(m->net.n_param_floats, sizeof(float));
  m->persistent = alloc_zeroed(m->net.n_persistent_floats, sizeof(float));
  m->ints = alloc_zeroed(m->net.n_persistent_ints, sizeof(int64_t));
  m->folded = alloc_zeroed(m->net.n_folded_floats, sizeof(float));
  if (!m->params || !m->persistent || !m->ints || !m->folded) {
    r50_fail(err, R50_ERR_NOMEM, "out of memory for ResNet-%d parameters", cfg->arch);
    r50_model_free(m);
    return NULL;
  }
  r50_init_random(m, cfg->seed);
  if (cfg->pretrained && load_pretrained(m, cfg->pretrained, err) != R50_OK) {
    r50_model_free(m);
    return NULL;
  }
  r50_fold_bn(m);
  return m;
}

void r50_model_free(r50_model *m) {
  if (!m)
    return;
  r50_ctx_release(&m->ctx);
  free(m->params);
  free(m->persistent);
  free(m->ints);
  free(m->folded);
  r50_net_free(&m->net);
  free(m);
}

r50_arch r50_model_arch(const r50_model *m) {
  return m->net.arch;
}

int r50_model_downsample_fb(const r50_model *m) {
  return m->net.downsample_fb;
}

void r50_set_threads(r50_model *m, int threads) {
  m->ctx.threads = threads > 0 ? threads : 1;
}

void r50_set_hook(r50_model *m, r50_hook_fn fn, void *user) {
  m->hook = fn;
  m->hook_user = user;
}

void r50_set_interrupt(r50_model *m, r50_interrupt_fn fn, void *user) {
  m->interrupt = fn;
  m->interrupt_user = user;
}

int64_t r50_count_params(const r50_model *m) {
  return m->net.n_param_floats;
}

int r50_param_count(const r50_model *m) {
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
  r50_param_info p = {.name = d->name, .kind = d->kind, .ndim = d->ndim,
                      .numel = d->numel};
  memcpy(p.shape, d->shape, sizeof p.shape);
  p.data = r50_param_data(m, i);
  if (d->kind == R50_PERSISTENT_INT)
    p.ivalue = &m->ints[d->offset];
  return p;
}

void r50_params_changed(r50_model *m) {
  r50_fold_bn(m);
}

/*
 * model.c — r50_model lifetime, configuration, the engine behind it.
 *
 * Rule: a model handed out is always complete: every slab allocated, the engine state
 * made, and the engine holding the current parameters before any forward runs.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "model.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

r50_config r50_config_default(void) {
  return (r50_config){.arch = R50_ARCH_50,
                      .downsample_fb = 0,
                      .n_classes = 0,
                      .pretrained = "auto",
                      .seed = 0,
                      .threads = 1,
                      .device = R50_DEVICE_CPU,
                      .engine = NULL,
                      .precision = R50_PRECISION_FP32,
                      .cuda_device = -1};
}

static void *alloc_zeroed(int64_t n, size_t size) {
  return calloc(n > 0 ? (size_t)n : 1, size);
}

static r50_param_store *store_new(const r50_net *net) {
  r50_param_store *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->refs = 1;
  s->version = 1;
  s->params = alloc_zeroed(net->n_param_floats, sizeof(float));
  s->persistent = alloc_zeroed(net->n_persistent_floats, sizeof(float));
  s->ints = alloc_zeroed(net->n_persistent_ints, sizeof(int64_t));
  if (!s->params || !s->persistent || !s->ints) {
    free(s->params), free(s->persistent), free(s->ints), free(s);
    return NULL;
  }
  return s;
}

static void store_release(r50_param_store *s) {
  if (!s || --s->refs > 0)
    return;
  free(s->params), free(s->persistent), free(s->ints), free(s);
}

/* A model on `store` (taking a reference), or NULL. */
/* More compute threads than CPUs this process may use take turns on them: slower than
 * the default, which is never more. Said once per process. */
static void warn_oversubscribed(int threads) {
  static int warned;
  int rank;
  const char *host;
  r50_log_identity(&rank, &host);
  cpu_set_t set;
  if (warned || rank != 0 || sched_getaffinity(0, sizeof set, &set) != 0 ||
      threads <= CPU_COUNT(&set))
    return; /* (rank 0 speaks for the job: its ranks are alike) */
  warned = 1;
  const int cpus = CPU_COUNT(&set);
  r50_log(R50_LOG_WARN,
          "%d compute threads on the %d CPU%s this process may use: they take turns, "
          "slower than %d (threads 0, the default, takes what it may)",
          threads, cpus, cpus == 1 ? "" : "s", cpus);
}

static r50_model *model_on(const r50_config *cfg, const r50_engine *engine,
                           r50_param_store *store, r50_error *err) {
  r50_model *m = calloc(1, sizeof *m);
  if (!m) {
    r50_fail(err, R50_ERR_NOMEM, "out of memory allocating the model");
    return NULL;
  }
  m->cfg = *cfg;
  m->cfg.pretrained = NULL;
  int classes = cfg->n_classes > 0 ? cfg->n_classes : 1000;
  m->cfg.n_classes = classes;
  if (r50_net_build(cfg->arch, cfg->downsample_fb, classes, &m->net, err) != R50_OK) {
    free(m);
    return NULL;
  }
  m->engine = engine;
  m->threads = cfg->threads > 0 ? cfg->threads : 1;
  if (cfg->device == R50_DEVICE_CPU)
    warn_oversubscribed(m->threads);
  m->update = malloc((size_t)m->net.n_params);
  m->store = store ? store : store_new(&m->net);
  if (!m->update || !m->store) {
    r50_fail(err, R50_ERR_NOMEM, "out of memory for ResNet-%d parameters", cfg->arch);
    if (!store)
      store_release(m->store);
    m->store = NULL;
    r50_model_free(m);
    return NULL;
  }
  if (store)
    store->refs++;
  memset(m->update, 1, (size_t)m->net.n_params);
  m->params = m->store->params;
  m->persistent = m->store->persistent;
  m->ints = m->store->ints;
  if (engine && engine->create(m->threads, &m->es, err) != R50_OK) {
    r50_model_free(m);
    return NULL;
  }
  m->precision = R50_PRECISION_FP32;
  if (engine && cfg->precision != R50_PRECISION_FP32) {
    m->precision = engine->set_precision ? engine->set_precision(m->es, cfg->precision)
                                         : m->precision;
    const char *asked = cfg->precision == R50_PRECISION_BF16 ? "bf16" : "tf32";
    if (m->precision != cfg->precision && !strcmp(engine->name, "cuda"))
      r50_log(R50_LOG_WARN,
              "%s was asked for, but this GPU has no %s tensor cores (they need compute "
              "capability 8.0 or later): running fp32",
              asked, asked);
    else if (m->precision != cfg->precision && cfg->precision == R50_PRECISION_TF32)
      r50_log(R50_LOG_WARN,
              "tf32 was asked for, but tf32 is a GPU precision (--device cuda): the %s "
              "engine runs fp32",
              engine->name);
    else if (m->precision != cfg->precision)
      r50_log(R50_LOG_WARN,
              "bf16 was asked for, but the %s engine on this CPU has no bf16 "
              "convolutions (they need --engine onednn and AMX-BF16 or AVX512-BF16, "
              "which ONEDNN_MAX_CPU_ISA, where set, must allow): running fp32",
              engine->name);
  }
  return m;
}

r50_model *r50_model_create(const r50_config *cfg, const r50_engine *engine,
                            int random_init, r50_error *err) {
  r50_model *m = model_on(cfg, engine, NULL, err);
  if (m && random_init)
    r50_init_random(m, cfg->seed);
  return m;
}

r50_status r50_model_sync(r50_model *m, r50_error *err) {
  if (!m->engine)
    return R50_OK;
  R50_TRY(r50_model_pull(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  const r50_net *net = &m->net;
  const r50_conv_desc **convs = malloc((size_t)net->n_convs * sizeof *convs);
  if (!convs)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  r50_net_convs(net, convs);
  r50_status s = R50_OK;
  for (int i = 0; i < net->n_convs && s == R50_OK; i++) {
    const r50_conv_desc *c = convs[i];
    r50_conv_params p = {.w = r50_param_data(m, c->w),
                         .b = c->b >= 0 ? r50_param_data(m, c->b) : NULL,
                         .gamma = r50_param_data(m, c->bn),
                         .beta = r50_param_data(m, c->bn + 1),
                         .mean = r50_param_data(m, c->bn + 2),
                         .var = r50_param_data(m, c->bn + 3),
                         .eps = R50_BN_EPS,
                         .release = m->store->inference_only};
    s = m->engine->set_conv(m->es, c, &p, err);
  }
  free(convs);
  R50_TRY(s);
  R50_TRY(m->engine->set_linear(m->es, r50_param_data(m, net->fc_w),
                                r50_param_data(m, net->fc_b), net->n_classes,
                                net->feat_dim, err));
  m->synced = m->store->version;
  return R50_OK;
}

r50_status r50_model_inference_only(r50_model *m, r50_error *err) {
  if (m->store->inference_only)
    return R50_OK;
  if (m->store->refs > 1)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "r50_model_inference_only: the model shares its parameters with "
                    "another (r50_copy share), which may still need them");
  R50_TRY(r50_model_pull(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  m->store->inference_only = 1;
  m->synced = 0; /* the engine takes the weights again, free to give them back */
  return R50_OK;
}

r50_status r50_model_host_params(const r50_model *m, const char *what, r50_error *err) {
  if (!m->store->inference_only)
    return R50_OK;
  return r50_fail(err, R50_ERR_UNSUPPORTED,
                  "%s: the model is inference-only (r50_model_inference_only): its "
                  "engine holds the weights, whose host copies may be given back",
                  what);
}

r50_status r50_model_for_training(r50_model *m, r50_error *err) {
  R50_TRY(r50_model_host_params(m, "training", err));
  if (m->engine && m->engine->train) {
    if (m->precision != R50_PRECISION_FP32 && m->engine->set_precision &&
        !(m->engine->train->precisions & (1u << m->precision))) {
      r50_log(R50_LOG_WARN,
              "the %s engine trains in fp32 only, not %s; this model's "
              "inference runs fp32 too from now on",
              m->engine->name, r50_precision_name(m->precision));
      m->precision = m->engine->set_precision(m->es, R50_PRECISION_FP32);
      m->synced = 0; /* the engine derives its inference weights anew */
    }
    return R50_OK;
  }
  if (!m->engine || !m->train_engine || !m->train_engine->train)
    return r50_fail(err, R50_ERR_UNSUPPORTED, "the %s engine cannot train",
                    r50_model_engine(m));
  r50_log(R50_LOG_INFO,
          "training: the %s engine cannot train yet; the model moves to "
          "the %s engine",
          m->engine->name, m->train_engine->name);
  return r50_model_move(m, m->train_engine, err);
}

r50_status r50_model_move(r50_model *m, const r50_engine *engine, r50_error *err) {
  R50_TRY(r50_model_host_params(m, "moving the model to another engine", err));
  if (m->engine)
    R50_TRY(r50_model_pull_all(m, err));
  r50_engine_state *es = NULL;
  R50_TRY(engine->create(m->threads, &es, err));
  if (m->store->newer_in == m) /* pulled: nothing is newer anywhere now */
    m->store->newer_in = NULL, m->store->newer = 0;
  r50_train_state_free(m->train); /* planned in the old engine's memory */
  m->train = NULL;
  if (m->es)
    m->engine->destroy(m->es);
  m->engine = engine;
  m->es = es;
  m->precision = R50_PRECISION_FP32;
  if (m->cfg.precision != R50_PRECISION_FP32 && engine->set_precision)
    m->precision = engine->set_precision(es, m->cfg.precision);
  m->synced = 0;
  m->separate = 0, m->eng_version = 0, m->eng_newer = 0;
  m->host_newer = R50_SYNC_GRADS | R50_SYNC_STATE;
  memset(&m->eng, 0, sizeof m->eng);
  return R50_OK;
}

r50_status r50_model_ensure_synced(r50_model *m, r50_error *err) {
  return m->synced == m->store->version ? R50_OK : r50_model_sync(m, err);
}

void r50_model_touch(r50_model *m) {
  m->store->version++;
}

void r50_model_free(r50_model *m) {
  if (!m)
    return;
  r50_train_state_free(m->train);
  if (m->store && m->store->newer_in == m) /* models sharing the store keep its bits */
    r50_model_pull_or_log(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT);
  if (m->es)
    m->engine->destroy(m->es);
  store_release(m->store);
  free(m->grads);
  free(m->update);
  r50_net_free(&m->net);
  free(m);
}

r50_model *r50_copy(const r50_model *src, r50_copy_mode mode, r50_error *err) {
  if (r50_model_host_params(src, "r50_copy", err) != R50_OK)
    return NULL;
  if (r50_model_pull(src, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err) != R50_OK)
    return NULL;
  r50_model *m =
      model_on(&src->cfg, src->engine, mode == R50_COPY_SHARE ? src->store : NULL, err);
  if (!m)
    return NULL;
  m->train_engine = src->train_engine;
  memcpy(m->update, src->update, (size_t)src->net.n_params);
  m->threads = src->threads;
  if (mode == R50_COPY_COPY) {
    memcpy(m->params, src->params, (size_t)src->net.n_param_floats * sizeof(float));
    memcpy(m->persistent, src->persistent,
           (size_t)src->net.n_persistent_floats * sizeof(float));
    memcpy(m->ints, src->ints, (size_t)src->net.n_persistent_ints * sizeof(int64_t));
  } else if (mode == R50_COPY_INIT) {
    r50_init_random(m, src->cfg.seed);
  }
  return m;
}

r50_arch r50_model_arch(const r50_model *m) {
  return m->net.arch;
}

int r50_model_downsample_fb(const r50_model *m) {
  return m->net.downsample_fb;
}

int r50_model_classes(const r50_model *m) {
  return m->net.n_classes;
}

const char *r50_model_engine(const r50_model *m) {
  return m->engine ? m->engine->name : "none";
}

r50_precision r50_model_precision(const r50_model *m) {
  return m->precision;
}

const char *r50_precision_name(r50_precision p) {
  return p == R50_PRECISION_BF16 ? "bf16" : p == R50_PRECISION_TF32 ? "tf32" : "fp32";
}

void r50_set_threads(r50_model *m, int threads) {
  m->threads = threads > 0 ? threads : 1;
  if (m->engine)
    m->engine->set_threads(m->es, m->threads);
}

void r50_set_hook(r50_model *m, r50_hook_fn fn, void *user) {
  m->hook = fn;
  m->hook_user = user;
}

void r50_set_interrupt(r50_model *m, r50_interrupt_fn fn, void *user) {
  m->interrupt = fn;
  m->interrupt_user = user;
}

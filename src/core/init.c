/*
 * init.c — random initialisation as Chainer's ResNetLayers(pretrained_model=None).
 *
 * Convolutions HeNormal(scale=1): N(0, sqrt(2 / fan_in)); fc6/W LeCunNormal:
 * N(0, sqrt(1 / fan_in)); biases 0; BN gamma 1, beta 0, avg_mean 0, avg_var 1, N 0.
 * Rule: each tensor draws from its own stream seeded by (seed, name), so a tensor's
 * values do not depend on the order or number of the others.
 */
#include <math.h>
#include <string.h>

#include "model.h"
#include "rng.h"

static void fill_normal(float *x, int64_t n, double std, uint64_t seed,
                        const char *name) {
  r50_rng r;
  r50_rng_seed(&r, seed ^ r50_hash_str(name));
  for (int64_t i = 0; i < n; i++)
    x[i] = (float)(std * r50_rng_normal(&r));
}

static void fill_const(float *x, int64_t n, float v) {
  for (int64_t i = 0; i < n; i++)
    x[i] = v;
}

static void init_param(r50_model *m, uint64_t seed, int i) {
  const r50_net *net = &m->net;
  const r50_param_desc *d = &net->params[i];
  float *x = r50_param_data(m, i);
  const char *leaf = strrchr(d->name, '/') + 1;
  if (d->kind == R50_PERSISTENT_INT) {
    m->ints[d->offset] = 0;
  } else if (!strcmp(leaf, "W")) {
    int64_t fan_in = d->numel / d->shape[0];
    double std = i == net->fc_w ? sqrt(1.0 / fan_in) : sqrt(2.0 / fan_in);
    fill_normal(x, d->numel, std, seed, d->name);
  } else {
    int one = !strcmp(leaf, "gamma") || !strcmp(leaf, "avg_var");
    fill_const(x, d->numel, one ? 1.0f : 0.0f);
  }
}

void r50_init_random(r50_model *m, uint64_t seed) {
  for (int i = 0; i < m->net.n_params; i++)
    init_param(m, seed, i);
}

void r50_init_random_fc(r50_model *m, uint64_t seed) {
  init_param(m, seed, m->net.fc_w);
  init_param(m, seed, m->net.fc_b);
}

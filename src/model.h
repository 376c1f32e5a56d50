/*
 * model.h — the model object behind the public r50_model handle.
 *
 * Rule: parameters, persistents and the folded inference weights each live in one
 * slab described by the model table; every per-tensor pointer points into a slab.
 * The folded slab is derived state: any write to parameters must be followed by
 * r50_fold_bn (r50_params_changed does it).
 */
#ifndef R50_MODEL_H
#define R50_MODEL_H

#include "arch.h"
#include "ctx.h"
#include "r50.h"

struct r50_model {
  r50_net net;
  float *params;      /* (n_param_floats) trainable parameters */
  float *persistent;  /* (n_persistent_floats) BN avg_mean / avg_var */
  int64_t *ints;      /* (n_persistent_ints) BN N */
  float *folded;      /* (n_folded_floats) BN folded into each conv: W' then b' */
  r50_ctx ctx;
  r50_hook_fn hook;
  void *hook_user;
  r50_interrupt_fn interrupt;
  void *interrupt_user;
};

/* Pointer to the data of param i (NULL for an int persistent). */
float *r50_param_data(r50_model *m, int i);

/* Recomputes the folded inference weights from the parameters and BN statistics. */
void r50_fold_bn(r50_model *m);

/* Random init as Chainer's pretrained_model=None (HeNormal / LeCunNormal, seeded). */
void r50_init_random(r50_model *m, uint64_t seed);

#endif

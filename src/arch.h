/*
 * arch.h — the model table: ResNet-50/101/152 (MSRA or FB) as data.
 *
 * Rule: everything that depends on the architecture — the parameter names and shapes
 * (Chainer npz keys), count_params, the forward pass of every backend, output shapes —
 * is read from the one r50_net built by r50_net_build; nothing re-derives it.
 */
#ifndef R50_ARCH_H
#define R50_ARCH_H

#include <stdint.h>

#include "r50.h"

#define R50_NAME_MAX 32
#define R50_STAGES 4 /* res2..res5 */
#define R50_BN_EPS 2e-5

/* One entry of the parameter table, in Chainer's serialization order. */
typedef struct r50_param_desc {
  char name[R50_NAME_MAX]; /* npz key, e.g. "res3/b2/bn1/avg_var" */
  r50_param_kind kind;
  int ndim;
  int64_t shape[R50_MAX_DIMS];
  int64_t numel;
  int64_t offset; /* into the slab of its kind (floats, or ints for N) */
} r50_param_desc;

/* A convolution followed by its BatchNormalization. Indices are into the param
 * table; the BN's gamma, beta, avg_mean, avg_var and N are consecutive from `bn`. */
typedef struct r50_conv_desc {
  int cin, cout, ksize, stride, pad;
  int w;    /* (cout, cin, ksize, ksize) */
  int b;    /* (cout) conv bias, or -1 */
  int bn;   /* gamma index */
  int64_t folded_offset; /* into the folded slab: (cout, cin*k*k) weights then (cout) bias */
} r50_conv_desc;

/* A bottleneck: conv[0] 1x1, conv[1] 3x3, conv[2] 1x1, conv[3] shortcut 1x1 (block A). */
typedef struct r50_bottleneck_desc {
  int has_shortcut;
  r50_conv_desc conv[4];
} r50_bottleneck_desc;

typedef struct r50_stage_desc {
  const char *name; /* "res2".."res5" */
  int first;        /* index of its first bottleneck */
  int count;
  int stride;
  int cout;
} r50_stage_desc;

typedef struct r50_net {
  r50_arch arch;
  int downsample_fb;
  r50_conv_desc conv1;
  r50_stage_desc stages[R50_STAGES];
  r50_bottleneck_desc *blocks; /* all bottlenecks of all stages */
  int n_blocks;
  int fc_w, fc_b;              /* fc6/W (1000, 2048), fc6/b (1000) */
  r50_param_desc *params;
  int n_params;
  int64_t n_param_floats;      /* R50_PARAM slab size */
  int64_t n_persistent_floats; /* avg_mean/avg_var slab size */
  int64_t n_persistent_ints;   /* count of N scalars */
  int64_t n_folded_floats;     /* inference weights of every conv */
} r50_net;

/* Builds the table of arch (50, 101, 152) and downsample_fb. */
r50_status r50_net_build(r50_arch arch, int downsample_fb, r50_net *net, r50_error *err);
void r50_net_free(r50_net *net);

/* Output spatial size of a convolution/pooling window (floor, or ceil with cover_all
 * as Chainer's max_pooling_2d). */
static inline int64_t r50_out_size(int64_t in, int k, int s, int p, int cover_all) {
  return cover_all ? (in + 2 * p - k + s - 1) / s + 1 : (in + 2 * p - k) / s + 1;
}

#endif

/*
 * table.h — the model table: ResNet-50/101/152 (MSRA or FB) with any class count, as
 * data.
 *
 * Rule: everything that depends on the architecture — the parameter names and shapes
 * (Chainer npz keys), count_params, the layer list and every layer's output shape, the
 * layer walk every engine is driven by, the caffemodel mapping — is read from the one
 * r50_net that r50_net_build makes; nothing outside table.c knows a width, a depth, the
 * class count or the number of layers.
 */
#ifndef R50_TABLE_H
#define R50_TABLE_H

#include <stdint.h>

#include "r50.h"

#define R50_NAME_MAX 32
#define R50_STAGES 4 /* res2..res5 */
#define R50_BN_EPS 2e-5
#define R50_BN_DECAY 0.9 /* running-average decay of BatchNormalization (Chainer's) */

/* The layers forward can return, in order (r50_available_layers). */
typedef enum r50_layer {
  R50_CONV1,
  R50_POOL1,
  R50_RES2, /* .. R50_RES2 + R50_STAGES - 1 */
  R50_POOL5 = R50_RES2 + R50_STAGES,
  R50_FC6,
  R50_PROB,
  R50_N_LAYERS
} r50_layer;

/* The names of the layers, in order: "conv1" .. "prob". */
extern const char *const r50_layer_names[R50_N_LAYERS];

/* One entry of the parameter table, in Chainer's serialization order. */
typedef struct r50_param_desc {
  char name[R50_NAME_MAX]; /* npz key, e.g. "res3/b2/bn1/avg_var" */
  r50_param_kind kind;
  int ndim;
  int64_t shape[R50_MAX_DIMS];
  int64_t numel;
  int64_t offset; /* into the slab of its kind (floats, or ints for N) */
} r50_param_desc;

/* A convolution followed by its BatchNormalization. Indices are into the param table;
 * the BN's gamma, beta, avg_mean, avg_var and N are consecutive from `bn`. */
typedef struct r50_conv_desc {
  int id; /* 0 .. n_convs-1, in table order: engines key their per-conv state on it */
  int cin, cout, ksize, stride, pad;
  int w;  /* (cout, cin, ksize, ksize) */
  int b;  /* (cout) conv bias, or -1 */
  int bn; /* gamma index */
} r50_conv_desc;

/* Max pooling: window, stride, padding; cover_all is Chainer's ceil mode. */
typedef struct r50_pool_desc {
  int ksize, stride, pad, cover_all;
} r50_pool_desc;

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
  int n_classes; /* fc6 outputs (1000 for ImageNet) */
  int feat_dim;  /* pool5 width: the last stage's channels */
  r50_conv_desc conv1;
  r50_pool_desc pool1;
  r50_stage_desc stages[R50_STAGES];
  r50_bottleneck_desc *blocks; /* all bottlenecks of all stages */
  int n_blocks;
  int n_convs;                    /* conv1 and every bottleneck's convs */
  int fc_w, fc_b;                 /* fc6/W (n_classes, feat_dim), fc6/b (n_classes) */
  int n_layers;                   /* R50_N_LAYERS */
  const char *const *layer_names; /* (n_layers) "conv1" .. "prob" */
  r50_param_desc *params;
  int n_params;
  int64_t n_param_floats;      /* R50_PARAM slab size */
  int64_t n_persistent_floats; /* avg_mean/avg_var slab size */
  int64_t n_persistent_ints;   /* count of N scalars */
} r50_net;

/* Builds the table of arch (50, 101, 152), downsample_fb and n_classes (>= 1). */
r50_status r50_net_build(r50_arch arch, int downsample_fb, int n_classes, r50_net *net,
                         r50_error *err);
void r50_net_free(r50_net *net);

/* Every convolution in table order (conv1, then each block's conv[0..3]), for engines:
 * out[i] for i < n_convs. */
void r50_net_convs(const r50_net *net, const r50_conv_desc **out);

/* Output spatial size of a convolution/pooling window (floor, or ceil with cover_all
 * as Chainer's max_pooling_2d). */
static inline int64_t r50_out_size(int64_t in, int k, int s, int p, int cover_all) {
  return cover_all ? (in + 2 * p - k + s - 1) / s + 1 : (in + 2 * p - k) / s + 1;
}

#endif

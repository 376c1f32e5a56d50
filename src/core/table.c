/*
 * table.c — builds the model table of DESIGN.md §1 for 50/101/152 × MSRA/FB × any
 * class count.
 *
 * Rule: parameters are appended in Chainer's serialization order (conv1, bn1, res2/a
 * conv1, bn1, …, conv4, bn4, res2/b1, …, fc6), so namedparams, npz files and the
 * count agree by construction. The block stride sits on conv1 (MSRA) or conv2 (FB).
 */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct builder {
  r50_net *net;
  int cap;
} builder;

static int add_param(builder *b, const char *name, r50_param_kind kind, int ndim,
                     const int64_t *shape) {
  r50_net *net = b->net;
  if (net->n_params == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    r50_param_desc *p = realloc(net->params, (size_t)b->cap * sizeof *p);
    if (!p)
      return -1;
    net->params = p;
  }
  r50_param_desc *d = &net->params[net->n_params];
  memset(d, 0, sizeof *d);
  R50_ASSERT(strlen(name) < R50_NAME_MAX);
  strcpy(d->name, name);
  d->kind = kind;
  d->ndim = ndim;
  d->numel = 1;
  for (int i = 0; i < ndim; i++) {
    d->shape[i] = shape[i];
    d->numel *= shape[i];
  }
  switch (kind) {
  case R50_PARAM:
    d->offset = net->n_param_floats;
    net->n_param_floats += d->numel;
    break;
  case R50_PERSISTENT_F32:
    d->offset = net->n_persistent_floats;
    net->n_persistent_floats += d->numel;
    break;
  case R50_PERSISTENT_INT:
    d->offset = net->n_persistent_ints;
    net->n_persistent_ints += 1;
    break;
  }
  return net->n_params++;
}

/* Appends "<prefix>conv<i>/W" (+ "/b") and "<prefix>bn<i>/..." and fills c. */
static int add_conv_bn(builder *b, const char *prefix, int i, int cin, int cout, int k,
                       int stride, int pad, int bias, r50_conv_desc *c) {
  char name[R50_NAME_MAX];
  const char *conv = i ? "conv" : "conv1";
  const char *bn = i ? "bn" : "bn1";
  char idx[8] = "";
  if (i)
    snprintf(idx, sizeof idx, "%d", i);
  c->id = b->net->n_convs++;
  c->cin = cin;
  c->cout = cout;
  c->ksize = k;
  c->stride = stride;
  c->pad = pad;

  int64_t wshape[4] = {cout, cin, k, k};
  snprintf(name, sizeof name, "%s%s%s/W", prefix, conv, idx);
  if ((c->w = add_param(b, name, R50_PARAM, 4, wshape)) < 0)
    return -1;
  c->b = -1;
  int64_t vshape[1] = {cout};
  if (bias) {
    snprintf(name, sizeof name, "%s%s%s/b", prefix, conv, idx);
    if ((c->b = add_param(b, name, R50_PARAM, 1, vshape)) < 0)
      return -1;
  }
  static const char *const bn_names[] = {"gamma", "beta", "avg_mean", "avg_var"};
  static const r50_param_kind bn_kinds[] = {R50_PARAM, R50_PARAM, R50_PERSISTENT_F32,
                                            R50_PERSISTENT_F32};
  for (int j = 0; j < 4; j++) {
    snprintf(name, sizeof name, "%s%s%s/%s", prefix, bn, idx, bn_names[j]);
    int id = add_param(b, name, bn_kinds[j], 1, vshape);
    if (id < 0)
      return -1;
    if (j == 0)
      c->bn = id;
  }
  snprintf(name, sizeof name, "%s%s%s/N", prefix, bn, idx);
  return add_param(b, name, R50_PERSISTENT_INT, 0, NULL) < 0 ? -1 : 0;
}

static int add_bottleneck(builder *b, const char *stage, int j, int cin, int mid,
                          int cout, int stride, int fb, r50_bottleneck_desc *blk) {
  char prefix[R50_NAME_MAX];
  if (j == 0)
    snprintf(prefix, sizeof prefix, "%s/a/", stage);
  else
    snprintf(prefix, sizeof prefix, "%s/b%d/", stage, j);
  int s1 = fb ? 1 : stride, s2 = fb ? stride : 1;
  blk->has_shortcut = j == 0;
  if (add_conv_bn(b, prefix, 1, cin, mid, 1, s1, 0, 0, &blk->conv[0]) ||
      add_conv_bn(b, prefix, 2, mid, mid, 3, s2, 1, 0, &blk->conv[1]) ||
      add_conv_bn(b, prefix, 3, mid, cout, 1, 1, 0, 0, &blk->conv[2]))
    return -1;
  if (blk->has_shortcut &&
      add_conv_bn(b, prefix, 4, cin, cout, 1, stride, 0, 0, &blk->conv[3]))
    return -1;
  return 0;
}

const char *const r50_layer_names[R50_N_LAYERS] = {
    "conv1", "pool1", "res2", "res3", "res4", "res5", "pool5", "fc6", "prob"};

r50_status r50_net_build(r50_arch arch, int downsample_fb, int n_classes, r50_net *net,
                         r50_error *err) {
  static const int depth50[] = {3, 4, 6, 3}, depth101[] = {3, 4, 23, 3},
                   depth152[] = {3, 8, 36, 3};
  static const char *const names[] = {"res2", "res3", "res4", "res5"};
  const int *depth;
  switch (arch) {
  case R50_ARCH_50: depth = depth50; break;
  case R50_ARCH_101: depth = depth101; break;
  case R50_ARCH_152: depth = depth152; break;
  default:
    return r50_fail(err, R50_ERR_ARG, "unknown arch %d (want 50, 101 or 152)", arch);
  }
  if (n_classes < 1)
    return r50_fail(err, R50_ERR_ARG, "%d classes: fc6 needs at least 1", n_classes);
  memset(net, 0, sizeof *net);
  net->arch = arch;
  net->downsample_fb = downsample_fb ? 1 : 0;
  net->n_classes = n_classes;
  net->n_layers = R50_N_LAYERS;
  net->layer_names = r50_layer_names;
  net->pool1 = (r50_pool_desc){.ksize = 3, .stride = 2, .pad = 0, .cover_all = 1};
  builder b = {net, 0};
  for (int s = 0; s < R50_STAGES; s++)
    net->n_blocks += depth[s];
  net->blocks = calloc((size_t)net->n_blocks, sizeof *net->blocks);
  if (!net->blocks)
    goto nomem;
  /* conv1 is named "conv1" and bn1 "bn1": prefix "" and index 0 spell those names. */
  if (add_conv_bn(&b, "", 0, 3, 64, 7, 2, 3, 1, &net->conv1))
    goto nomem;
  int cin = 64, blk = 0;
  for (int s = 0; s < R50_STAGES; s++) {
    int mid = 64 << s, cout = 256 << s, stride = s == 0 ? 1 : 2;
    net->stages[s] = (r50_stage_desc){names[s], blk, depth[s], stride, cout};
    for (int j = 0; j < depth[s]; j++, blk++) {
      if (add_bottleneck(&b, names[s], j, j ? cout : cin, mid, cout, j ? 1 : stride,
                         net->downsample_fb, &net->blocks[blk]))
        goto nomem;
    }
    cin = cout;
  }
  net->feat_dim = cin;
  int64_t wshape[2] = {n_classes, net->feat_dim}, bshape[1] = {n_classes};
  if ((net->fc_w = add_param(&b, "fc6/W", R50_PARAM, 2, wshape)) < 0 ||
      (net->fc_b = add_param(&b, "fc6/b", R50_PARAM, 1, bshape)) < 0)
    goto nomem;
  return R50_OK;
nomem:
  r50_net_free(net);
  return r50_fail(err, R50_ERR_NOMEM, "out of memory building the ResNet-%d table", arch);
}

void r50_net_convs(const r50_net *net, const r50_conv_desc **out) {
  int k = 0;
  out[k++] = &net->conv1;
  for (int i = 0; i < net->n_blocks; i++)
    for (int j = 0; j < (net->blocks[i].has_shortcut ? 4 : 3); j++) {
      R50_ASSERT(net->blocks[i].conv[j].id == k);
      out[k++] = &net->blocks[i].conv[j];
    }
  R50_ASSERT(k == net->n_convs);
}

void r50_net_free(r50_net *net) {
  if (!net)
    return;
  free(net->blocks);
  free(net->params);
  memset(net, 0, sizeof *net);
}

/*
 * caffe_convert.c — Chainer's caffemodel → ResNet mapping (_transfer_resnet50/101/152 in
 * chainer/links/model/vision/resnet.py, with CaffeFunction's BatchNorm and Scale setup)
 * and r50_convert_caffemodel_to_npz.
 *
 * Rule: one walk over the model table does both the check and the copy (first with no
 * model to write to, then with one), so what is checked is exactly what is copied and
 * a load changes every parameter or none. Caffe names: conv1 / bn_conv1 / scale_conv1;
 * bottleneck "<stage><block>" is 2a, 2b, … except in res3 and res4 of 101/152, which
 * count 3b1, 3b2, …; its conv1..conv4 are res<b>_branch2a, 2b, 2c, 1 with bn<b>_… and
 * scale<b>_….
 */
#include "caffe_convert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "model.h"

typedef struct transfer {
  const caffe_net *cn;
  const r50_net *net;
  const char *file;
  r50_error *err;
  r50_model *m; /* NULL: check only */
} transfer;

/* Layers whose presence tells the depth, deepest first. */
static const struct {
  r50_arch arch;
  const char *layer;
} arch_markers[] = {
    {R50_ARCH_152, "res4b35_branch2a"},
    {R50_ARCH_101, "res4b22_branch2a"},
    {R50_ARCH_50, "res4f_branch2a"},
};

r50_status r50_caffe_infer_arch(const caffe_net *cn, r50_arch *arch) {
  for (size_t i = 0; i < sizeof arch_markers / sizeof *arch_markers; i++)
    if (r50_caffe_net_find(cn, arch_markers[i].layer)) {
      *arch = arch_markers[i].arch;
      return R50_OK;
    }
  return R50_ERR_NOT_FOUND;
}

static const char *marker_of(r50_arch arch) {
  for (size_t i = 0; i < sizeof arch_markers / sizeof *arch_markers; i++)
    if (arch_markers[i].arch == arch)
      return arch_markers[i].layer;
  return "?";
}

/* ------------------------------------------------------------------ checks */

/* Shapes equal once leading 1s are dropped: legacy blobs are 4-D, so a vector (C) is
 * stored as (1, 1, 1, C) and fc1000's (1000, 2048) as (1, 1, 1000, 2048). */
static int same_shape(int na, const int64_t *a, int nb, const int64_t *b) {
  while (na > 0 && a[0] == 1)
    a++, na--;
  while (nb > 0 && b[0] == 1)
    b++, nb--;
  return na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
}

/* "res2/a/bn1" of "res2/a/bn1/avg_mean": the link a parameter belongs to. */
static const char *link_of(const char *param, char *buf, size_t cap) {
  const char *slash = strrchr(param, '/');
  int n = slash ? (int)(slash - param) : (int)strlen(param);
  snprintf(buf, cap, "%.*s", n, param);
  return buf;
}

/* The layer `name`; its type must be `type` (new-style) or `v1_type` (V1; -1: V1 has
 * no enum for it, so any). */
static r50_status find_layer(const transfer *t, const char *name, const char *type,
                             int v1_type, int param, const caffe_layer **out) {
  const caffe_layer *L = r50_caffe_net_find(t->cn, name);
  char link[R50_NAME_MAX];
  if (!L)
    return r50_fail(t->err, R50_ERR_MISMATCH,
                    "%s: layer '%s' is missing (it holds %s of ResNet-%d)", t->file, name,
                    link_of(t->net->params[param].name, link, sizeof link),
                    (int)t->net->arch);
  if (L->type && strcmp(L->type, type))
    return r50_fail(t->err, R50_ERR_MISMATCH,
                    "%s: layer '%s' is a %.60s layer, expected %s", t->file, name,
                    L->type, type);
  if (!L->type && v1_type >= 0 && L->v1_type != v1_type)
    return r50_fail(t->err, R50_ERR_MISMATCH,
                    "%s: V1 layer '%s' has type %d, expected %d (%s)", t->file, name,
                    L->v1_type, v1_type, type);
  *out = L;
  return R50_OK;
}

static r50_status need_blobs(const transfer *t, const caffe_layer *L, int n,
                             const char *which) {
  if (L->n_blobs >= n)
    return R50_OK;
  return r50_fail(t->err, R50_ERR_MISMATCH,
                  "%s: layer '%s' has %d blob%s, expected %d (%s)", t->file, L->name,
                  L->n_blobs, L->n_blobs == 1 ? "" : "s", n, which);
}

/* Checks blob bi of L against parameter p and, when applying, copies it. */
static r50_status copy_blob(const transfer *t, const caffe_layer *L, int bi,
                            const char *what, int p) {
  const caffe_blob *b = &L->blobs[bi];
  const r50_param_desc *d = &t->net->params[p];
  if (!same_shape(b->ndim, b->shape, d->ndim, d->shape)) {
    char got[160], want[160];
    r50_format_shape(got, sizeof got, b->ndim, b->shape);
    r50_format_shape(want, sizeof want, d->ndim, d->shape);
    return r50_fail(t->err, R50_ERR_MISMATCH,
                    "%s: layer '%s' blob %d (%s) has shape %s, expected %s for %s",
                    t->file, L->name, bi, what, got, want, d->name);
  }
  if (t->m)
    memcpy(r50_param_data(t->m, p), b->data, (size_t)d->numel * sizeof(float));
  return R50_OK;
}

/* ------------------------------------------------------------------ components */

/* Convolution: W, and for conv1 of ResNet-50 the bias. */
static r50_status transfer_conv(const transfer *t, const r50_conv_desc *c,
                                const char *name, int with_bias) {
  const caffe_layer *L;
  R50_TRY(find_layer(t, name, "Convolution", CAFFE_V1_CONVOLUTION, c->w, &L));
  R50_TRY(
      need_blobs(t, L, with_bias ? 2 : 1, with_bias ? "weights and bias" : "weights"));
  R50_TRY(copy_blob(t, L, 0, "weights", c->w));
  if (c->b < 0)
    return R50_OK;
  if (with_bias)
    return copy_blob(t, L, 1, "bias", c->b);
  if (t->m) /* Chainer leaves the fresh link's zero bias (ResNet-101/152 conv1) */
    memset(r50_param_data(t->m, c->b), 0,
           (size_t)t->net->params[c->b].numel * sizeof(float));
  return R50_OK;
}

/* BatchNorm: mean, variance and the optional moving-average factor they are divided
 * by (CaffeFunction._setup_batchnorm); N stays 0. */
static r50_status transfer_bn(const transfer *t, const r50_conv_desc *c,
                              const char *name) {
  const int mean = c->bn + 2, var = c->bn + 3, n = c->bn + 4;
  const caffe_layer *L;
  R50_TRY(find_layer(t, name, "BatchNorm", -1, mean, &L));
  R50_TRY(need_blobs(t, L, 2, "mean and variance"));
  R50_TRY(copy_blob(t, L, 0, "mean", mean));
  R50_TRY(copy_blob(t, L, 1, "variance", var));
  float factor = 1;
  if (L->n_blobs >= 3) {
    const caffe_blob *b = &L->blobs[2];
    if (b->count != 1)
      return r50_fail(t->err, R50_ERR_MISMATCH,
                      "%s: layer '%s' blob 2 (moving-average factor) has %lld values, "
                      "expected 1",
                      t->file, L->name, (long long)b->count);
    factor = b->data[0];
    if (factor == 0 || !isfinite(factor))
      return r50_fail(t->err, R50_ERR_FORMAT,
                      "%s: layer '%s' blob 2 (moving-average factor) is %g; the mean and "
                      "variance cannot be divided by it",
                      t->file, L->name, factor);
  }
  if (!t->m)
    return R50_OK;
  float *pm = r50_param_data(t->m, mean), *pv = r50_param_data(t->m, var);
  for (int64_t i = 0; i < t->net->params[mean].numel; i++) {
    pm[i] /= factor; /* float32 division, as numpy's in-place /= on float32 arrays */
    pv[i] /= factor;
  }
  t->m->ints[t->net->params[n].offset] = 0;
  return R50_OK;
}

/* Scale: gamma (blob 0) and beta (blob 1, the bias term). */
static r50_status transfer_scale(const transfer *t, const r50_conv_desc *c,
                                 const char *name) {
  const caffe_layer *L;
  R50_TRY(find_layer(t, name, "Scale", -1, c->bn, &L));
  R50_TRY(need_blobs(t, L, 2, "gamma and beta"));
  R50_TRY(copy_blob(t, L, 0, "gamma", c->bn));
  return copy_blob(t, L, 1, "beta", c->bn + 1);
}

/* One conv + BN + Scale triple: "<conv>", "bn<suffix>", "scale<suffix>". */
static r50_status transfer_component(const transfer *t, const r50_conv_desc *c,
                                     const char *conv, const char *suffix,
                                     int with_bias) {
  char bn[64], scale[64];
  snprintf(bn, sizeof bn, "bn%s", suffix);
  snprintf(scale, sizeof scale, "scale%s", suffix);
  R50_TRY(transfer_conv(t, c, conv, with_bias));
  R50_TRY(transfer_bn(t, c, bn));
  return transfer_scale(t, c, scale);
}

/* Caffe's name of bottleneck j of stage s (0 = res2): "2a", "4f", "4b22". */
static void block_name(r50_arch arch, int s, int j, char *buf, size_t cap) {
  int counted = arch != R50_ARCH_50 && (s == 1 || s == 2);
  if (j == 0)
    snprintf(buf, cap, "%da", s + 2);
  else if (counted)
    snprintf(buf, cap, "%db%d", s + 2, j);
  else
    snprintf(buf, cap, "%d%c", s + 2, 'a' + j);
}

static r50_status transfer_fc(const transfer *t) {
  const caffe_layer *L;
  R50_TRY(
      find_layer(t, "fc1000", "InnerProduct", CAFFE_V1_INNER_PRODUCT, t->net->fc_w, &L));
  R50_TRY(need_blobs(t, L, 2, "weights and bias"));
  R50_TRY(copy_blob(t, L, 0, "weights", t->net->fc_w));
  return copy_blob(t, L, 1, "bias", t->net->fc_b);
}

static r50_status run_transfer(const transfer *t) {
  const r50_net *net = t->net;
  R50_TRY(
      transfer_component(t, &net->conv1, "conv1", "_conv1", net->arch == R50_ARCH_50));
  static const char *const branch[4] = {"2a", "2b", "2c", "1"};
  for (int s = 0; s < R50_STAGES; s++) {
    for (int j = 0; j < net->stages[s].count; j++) {
      const r50_bottleneck_desc *blk = &net->blocks[net->stages[s].first + j];
      char b[16], conv[64], suffix[64];
      block_name(net->arch, s, j, b, sizeof b);
      for (int k = 0; k < (blk->has_shortcut ? 4 : 3); k++) {
        snprintf(conv, sizeof conv, "res%s_branch%s", b, branch[k]);
        snprintf(suffix, sizeof suffix, "%s_branch%s", b, branch[k]);
        R50_TRY(transfer_component(t, &blk->conv[k], conv, suffix, 0));
      }
    }
  }
  return transfer_fc(t);
}

r50_status r50_caffe_check(const caffe_net *cn, const r50_net *net, const char *file,
                           r50_error *err) {
  transfer t = {cn, net, file, err, NULL};
  return run_transfer(&t);
}

/* ------------------------------------------------------------------ entry points */

/* The depth to convert to: `want` (0 = whatever the names say), which the names must
 * not contradict. */
static r50_status resolve_arch(const caffe_net *cn, const char *file, int want,
                               r50_arch *arch, r50_error *err) {
  r50_arch found;
  int known = r50_caffe_infer_arch(cn, &found) == R50_OK;
  if (known && want && (int)found != want)
    return r50_fail(
        err, R50_ERR_MISMATCH,
        "%s: the caffemodel is ResNet-%d (it has layer '%s'), but ResNet-%d was "
        "asked for",
        file, (int)found, marker_of(found), want);
  if (!known && !want)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: cannot tell the depth from the layer names (no '%s', '%s' or "
                    "'%s' among %d %s layers); is it an MSRA ResNet caffemodel? Give the "
                    "depth (--arch) to see which layer is missing",
                    file, marker_of(R50_ARCH_50), marker_of(R50_ARCH_101),
                    marker_of(R50_ARCH_152), cn->n_layers, cn->v1 ? "V1" : "new-style");
  *arch = want ? (r50_arch)want : found;
  return R50_OK;
}

r50_status r50_load_caffemodel(r50_model *m, const char *path, r50_error *err) {
  R50_TRY(r50_model_pull(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  caffe_net cn;
  R50_TRY(r50_caffe_net_read(path, &cn, err));
  r50_arch arch;
  r50_status s = resolve_arch(&cn, path, (int)m->net.arch, &arch, err);
  transfer t = {&cn, &m->net, path, err, NULL};
  if (s == R50_OK)
    s = run_transfer(&t);
  if (s == R50_OK) {
    t.m = m;
    r50_status applied = run_transfer(&t);
    R50_ASSERT(applied == R50_OK); /* the same walk just passed its checks */
    r50_model_touch(m);
  }
  r50_caffe_net_free(&cn);
  return s;
}

r50_status r50_convert_caffemodel_to_npz(const char *caffemodel, const char *npz,
                                         int n_layers, r50_error *err) {
  if (n_layers != 0 && n_layers != 50 && n_layers != 101 && n_layers != 152)
    return r50_fail(err, R50_ERR_ARG, "n_layers %d: want 50, 101, 152 or 0 (infer)",
                    n_layers);
  r50_error local;
  if (!err)
    err = &local;
  double t0 = r50_now_s();
  caffe_net cn;
  R50_TRY(r50_caffe_net_read(caffemodel, &cn, err));
  r50_arch arch;
  r50_model *m = NULL;
  r50_status s = resolve_arch(&cn, caffemodel, n_layers, &arch, err);
  if (s == R50_OK) {
    r50_config cfg = r50_config_default();
    cfg.arch = arch;
    m = r50_model_create(&cfg, NULL, 0, err); /* parameters only: no engine, no init */
    s = m ? R50_OK : err->status;
  }
  transfer t = {&cn, m ? &m->net : NULL, caffemodel, err, m};
  if (s == R50_OK)
    s = run_transfer(&t);
  int v1 = cn.v1;
  r50_caffe_net_free(&cn);
  if (s == R50_OK)
    s = r50_save_npz(m, npz, err);
  if (s == R50_OK)
    r50_log(R50_LOG_INFO, "converted %s (ResNet-%d, %s layers) to %s in %.1f s",
            caffemodel, (int)arch, v1 ? "V1" : "new-style", npz, r50_now_s() - t0);
  r50_model_free(m);
  return s;
}

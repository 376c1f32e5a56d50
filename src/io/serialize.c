/*
 * serialize.c — r50_save_npz / r50_load_npz: Chainer's npz serialization of the model.
 *
 * Rule: loading is strict and atomic. Every key of the model table must be present
 * with its exact shape and dtype (float32; BN "N" any integer scalar), no other key may
 * be present, and values are read into scratch buffers that are copied into the
 * model's slabs only when the whole file has been read: the slabs never move, so
 * every pointer namedparams gave out stays valid, and a failed load changes nothing.
 *
 * A ResNet saved inside a larger Chainer object has its keys under a prefix, its root
 * (r50_npz_model_root): "predictor/" for L.Classifier(net), "updater/model:main/
 * predictor/" for a Trainer snapshot, "NAME/" for a chain holding it as child NAME.
 * The rules above then hold under the root; the file's other keys (the wrapper's own
 * links, optimizer and iterator state) are not read.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "npz.h"
#include "pretrained.h"

#define LOAD_THREADS 4 /* members inflated at once: the gain stops near there */

r50_status r50_save_npz(const r50_model *m, const char *path, r50_error *err) {
  R50_TRY(r50_model_host_params(m, "save_npz", err));
  R50_TRY(r50_model_pull(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  npz_writer *w;
  R50_TRY(r50_npz_writer_open(path, &w, err));
  for (int i = 0; i < m->net.n_params; i++) {
    const r50_param_desc *d = &m->net.params[i];
    r50_status s;
    if (d->kind == R50_PERSISTENT_INT)
      s = r50_npz_write(w, d->name, NPZ_I64, 0, NULL, &m->ints[d->offset], err);
    else
      s = r50_npz_write(w, d->name, NPZ_F32, d->ndim, d->shape,
                        r50_param_data((r50_model *)m, i), err);
    if (s != R50_OK) {
      r50_npz_writer_abort(w);
      return s;
    }
  }
  return r50_npz_writer_close(w, err);
}

/* Checks member `key` against descriptor d; fills err naming both shapes. */
static r50_status check_member(const char *path, const r50_param_desc *d,
                               const npz_array_info *info, r50_error *err) {
  int is_int = d->kind == R50_PERSISTENT_INT;
  int dtype_ok = is_int ? (info->dtype == NPZ_I64 || info->dtype == NPZ_I32)
                        : info->dtype == NPZ_F32;
  int shape_ok = info->ndim == d->ndim;
  for (int k = 0; shape_ok && k < d->ndim; k++)
    shape_ok = info->shape[k] == d->shape[k];
  if (dtype_ok && shape_ok)
    return R50_OK;
  char want[96], got[96];
  r50_format_shape(want, sizeof want, d->ndim, d->shape);
  r50_format_shape(got, sizeof got, info->ndim, info->shape);
  return r50_fail(err, R50_ERR_MISMATCH,
                  "%s: key '%s': expected shape %s %s, found shape %s dtype '%s'", path,
                  d->name, want, is_int ? "integer" : "float32", got, info->descr);
}

enum { KEY_MAX = 1024 };

/* The member of the model's key `name` under root, or -1. */
static int find_under(const npz_reader *r, const char *root, const char *name) {
  char key[KEY_MAX];
  if (snprintf(key, sizeof key, "%s%s", root, name) >= (int)sizeof key)
    return -1;
  return r50_npz_find(r, key);
}

r50_status r50_npz_model_root(const npz_reader *r, const char *path, char *root,
                              size_t cap, r50_error *err) {
  static const char first[] = "conv1/W", block[] = "res2/a/conv1/W";
  root[0] = 0;
  if (r50_npz_find(r, first) >= 0)
    return R50_OK;
  int found = 0;
  char other[2][KEY_MAX] = {"", ""};
  for (int i = 0; i < r50_npz_count(r); i++) {
    const char *key = r50_npz_key(r, i);
    size_t n = strlen(key), k = strlen(first);
    if (n <= k || n - k >= KEY_MAX || strcmp(key + n - k, first) || key[n - k - 1] != '/')
      continue;
    char p[KEY_MAX];
    snprintf(p, sizeof p, "%.*s", (int)(n - k), key);
    if (find_under(r, p, block) < 0) /* the conv1 of a bottleneck block */
      continue;
    if (found < 2)
      snprintf(other[found], KEY_MAX, "%s", p);
    found++;
  }
  for (int i = 0; !found && i < r50_npz_count(r); i++) {
    const char *key = r50_npz_key(r, i), *slash = strrchr(key, '/');
    if (!strcmp(slash ? slash + 1 : key, "data.pkl")) /* torch.save's zip layout */
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s is a PyTorch file (torch.save), not a Chainer npz: --model "
                      "takes a Chainer npz or an MSRA caffemodel (README: Weights)",
                      path);
  }
  if (found > 1)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s holds %d ResNets (under '%s' and '%s'%s): save the one to use "
                    "alone, as chainer.serializers.save_npz(path, chain.CHILD) does",
                    path, found, other[0], other[1], found > 2 ? ", ..." : "");
  if (found == 1) {
    if (strlen(other[0]) >= cap)
      return r50_fail(err, R50_ERR_MISMATCH, "%s: the ResNet's key prefix is too long",
                      path);
    snprintf(root, cap, "%s", other[0]);
  }
  return R50_OK;
}

/* The member of param d, checked against the table: *index set. */
static r50_status find_member(npz_reader *r, const char *path, const char *root,
                              const r50_param_desc *d, int *index, npz_array_info *info,
                              r50_error *err) {
  int i = find_under(r, root, d->name);
  if (i < 0)
    return r50_fail(err, R50_ERR_MISMATCH, "%s: key '%s%s' is missing", path, root,
                    d->name);
  R50_TRY(r50_npz_info(r, i, info, err));
  R50_TRY(check_member(path, d, info, err));
  *index = i;
  return R50_OK;
}

static r50_status read_member(npz_reader *r, const char *path, const char *root,
                              const r50_param_desc *d, float *fdst, int64_t *idst,
                              r50_error *err) {
  int i;
  npz_array_info info;
  R50_TRY(find_member(r, path, root, d, &i, &info, err));
  if (d->kind != R50_PERSISTENT_INT)
    return r50_npz_read(r, i, fdst, (size_t)d->numel * sizeof(float), err);
  if (info.dtype == NPZ_I64)
    return r50_npz_read(r, i, idst, sizeof *idst, err);
  int32_t v;
  R50_TRY(r50_npz_read(r, i, &v, sizeof v, err));
  *idst = v;
  return R50_OK;
}

static r50_status check_no_extra_keys(npz_reader *r, const char *path, const char *root,
                                      const r50_net *net, r50_error *err) {
  const size_t n_root = strlen(root);
  for (int i = 0; i < r50_npz_count(r); i++) {
    const char *key = r50_npz_key(r, i);
    if (strncmp(key, root, n_root))
      continue; /* the wrapper's: not the ResNet's */
    key += n_root;
    int known = 0;
    for (int j = 0; j < net->n_params && !known; j++)
      known = !strcmp(net->params[j].name, key);
    if (!known)
      return r50_fail(err, R50_ERR_MISMATCH,
                      "%s: unexpected key '%s%s' (not a parameter of ResNet-%d%s)", path,
                      root, key, (int)net->arch, net->downsample_fb ? " FB" : "");
  }
  return R50_OK;
}

/* With fc6_may_differ: whether the file's fc6 has another shape than the model's
 * (another class count), in which case fc6 is not loaded. */
static int fc6_differs(npz_reader *r, const char *root, const r50_net *net,
                       int fc6_may_differ) {
  if (!fc6_may_differ)
    return 0;
  for (int j = 0; j < 2; j++) {
    const r50_param_desc *d = &net->params[j ? net->fc_b : net->fc_w];
    int i = find_under(r, root, d->name);
    npz_array_info info;
    if (i < 0 || r50_npz_info(r, i, &info, NULL) != R50_OK)
      return 0; /* missing or damaged: the strict check says so */
    if (info.ndim != d->ndim || info.shape[0] != d->shape[0])
      return 1;
  }
  return 0;
}

static int skipped(const r50_net *net, int i, int skip_fc6) {
  return skip_fc6 && (i == net->fc_w || i == net->fc_b);
}

/* The depth of the ResNet under root, from its keys: 152 has res3/b7, 101 res4/b22. */
static int file_arch(const npz_reader *r, const char *root) {
  return find_under(r, root, "res3/b7/conv1/W") >= 0    ? 152
         : find_under(r, root, "res4/b22/conv1/W") >= 0 ? 101
                                                        : 50;
}

/* Every key, shape and dtype, before any data is read or memory taken for it. */
static r50_status check_all(npz_reader *r, const char *path, const char *root,
                            const r50_net *net, int skip_fc6, r50_error *err) {
  const int arch = file_arch(r, root);
  if (arch != (int)net->arch)
    return r50_fail(
        err, R50_ERR_MISMATCH,
        "%s holds a ResNet-%d (by its keys), the model is a ResNet-%d: load it "
        "as a ResNet-%d (--arch %d)",
        path, arch, (int)net->arch, arch, arch);
  R50_TRY(check_no_extra_keys(r, path, root, net, err));
  for (int i = 0; i < net->n_params; i++) {
    int index;
    npz_array_info info;
    if (!skipped(net, i, skip_fc6))
      R50_TRY(find_member(r, path, root, &net->params[i], &index, &info, err));
  }
  return R50_OK;
}

/* Every parameter's member into the model, several members at once (a Chainer-saved
 * npz is deflated: inflating is the load's time). Each member has its own stream and
 * its own slice of the model; check_all has read every header first. A failure reports
 * the first failing parameter in table order, whatever the threads' order. */
static r50_status load_all(npz_reader *r, const char *path, const char *root,
                           const r50_net *net, int skip_fc6, float *params,
                           float *persistent, int64_t *ints, r50_error *err) {
  int first = net->n_params;
  r50_status status = R50_OK;
  r50_error first_err = {0};
  /* (the CPUs this process may use, not omp_get_max_threads(): OpenBLAS's OpenMP
   * build has set that to 1 by now) */
  const int threads =
      omp_get_num_procs() < LOAD_THREADS ? omp_get_num_procs() : LOAD_THREADS;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int i = 0; i < net->n_params; i++) {
    if (skipped(net, i, skip_fc6))
      continue;
    const r50_param_desc *d = &net->params[i];
    float *dst = d->kind == R50_PARAM ? params + d->offset : persistent + d->offset;
    r50_error e = {0};
    const r50_status s = read_member(r, path, root, d, dst, ints + d->offset, &e);
    if (s != R50_OK) {
#pragma omp critical /* (unnamed: a named one is a symbol libr50 would export) */
      if (i < first) {
        first = i;
        status = s;
        first_err = e;
      }
    }
  }
  if (status != R50_OK && err)
    *err = first_err;
  return status;
}

/* After a load: the engine takes the new parameters on the next run. */
static void loaded(r50_model *m, const char *path, const char *root) {
  r50_model_touch(m);
  if (root[0])
    r50_log(R50_LOG_INFO,
            "%s: loaded the ResNet under '%s' (the file's other keys "
            "are not read)",
            path, root);
}

r50_status r50_load_npz_into(r50_model *m, const char *path, int fc6_may_differ,
                             int *fc6_loaded, int in_place, r50_error *err) {
  const r50_net *net = &m->net;
  R50_TRY(r50_model_host_params(m, "load_npz", err));
  R50_TRY(r50_model_pull(m, R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, err));
  npz_reader *r;
  R50_TRY(r50_npz_open(path, &r, err));
  char root[KEY_MAX];
  r50_status checked = r50_npz_model_root(r, path, root, sizeof root, err);
  const int skip_fc6 = checked == R50_OK && fc6_differs(r, root, net, fc6_may_differ);
  if (fc6_loaded)
    *fc6_loaded = !skip_fc6;
  if (checked == R50_OK)
    checked = check_all(r, path, root, net, skip_fc6, err);
  if (checked != R50_OK) {
    r50_npz_close(r);
    return checked;
  }
  if (in_place) { /* a new model: no second copy of its parameters (the peak RSS) */
    r50_status s =
        load_all(r, path, root, net, skip_fc6, m->params, m->persistent, m->ints, err);
    r50_npz_close(r);
    if (s == R50_OK)
      loaded(m, path, root);
    return s;
  }
  float *params = malloc((size_t)net->n_param_floats * sizeof(float));
  float *persistent = malloc((size_t)net->n_persistent_floats * sizeof(float));
  int64_t *ints = malloc((size_t)net->n_persistent_ints * sizeof(int64_t));
  r50_status s;
  if (!params || !persistent || !ints) {
    s = r50_fail(err, R50_ERR_NOMEM, "%s: out of memory loading parameters", path);
  } else {
    /* what is not loaded keeps the model's values */
    memcpy(params, m->params, (size_t)net->n_param_floats * sizeof(float));
    s = load_all(r, path, root, net, skip_fc6, params, persistent, ints, err);
  }
  r50_npz_close(r);
  if (s == R50_OK) {
    memcpy(m->params, params, (size_t)net->n_param_floats * sizeof(float));
    memcpy(m->persistent, persistent, (size_t)net->n_persistent_floats * sizeof(float));
    memcpy(m->ints, ints, (size_t)net->n_persistent_ints * sizeof(int64_t));
    loaded(m, path, root);
  }
  free(params);
  free(persistent);
  free(ints);
  return s;
}

r50_status r50_load_npz(r50_model *m, const char *path, r50_error *err) {
  return r50_load_npz_into(m, path, 0, NULL, 0, err);
}

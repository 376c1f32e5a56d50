/*
 * pretrained.c — a model's pretrained weights: "auto" (Chainer's _retrieve: load the
 * cached npz, or make it from the caffemodel in the same folder, or say where to get
 * the weights), an npz path or a caffemodel path.
 *
 * Rule: exactly one process converts. A process that finds no npz takes an exclusive
 * flock() on "<npz>.lock" and looks again under the lock: the first holder converts
 * (the npz writer's temp file + rename makes the npz appear whole or not at all); the
 * others block on the lock, then find the npz and load it. The lock file is left in
 * place (removing it would race with a process about to lock it). If the lock file
 * cannot be created (a read-only folder), the caffemodel is loaded without caching.
 */
#include "pretrained.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caffe_convert.h"
#include "error.h"
#include "model.h"
#include "npz.h"

#define DOWNLOAD_URL "https://github.com/KaimingHe/deep-residual-networks"

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static r50_status not_found(r50_arch arch, const char *npz, const char *caffemodel,
                            r50_error *err) {
  return r50_fail(
      err, R50_ERR_NOT_FOUND,
      "no pretrained ResNet-%d weights: neither %s nor %s exists. Download "
      "ResNet-%d-model.caffemodel (the MSRA weights of the deep-residual-networks "
      "project, " DOWNLOAD_URL ") and put it at %s (it is converted to the npz "
      "on first use; CHAINER_DATASET_ROOT moves the folder), or pass "
      "--model PATH.npz, or use --model none for random weights",
      (int)arch, npz, caffemodel, (int)arch, caffemodel);
}

/* Converts caffemodel to npz unless another process did, holding the lock `fd`. */
static r50_status convert_locked(int fd, const char *lock, const char *caffemodel,
                                 const char *npz, r50_arch arch, r50_error *err) {
  int rc;
  while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
    ;
  if (rc != 0) /* e.g. a file system without locks: the rename still keeps npz whole */
    r50_log(R50_LOG_WARN, "cannot lock %s (%s): converting without it", lock,
            strerror(errno));
  if (is_file(npz)) {
    r50_log(R50_LOG_INFO, "%s was made by another process while this one waited", npz);
    return R50_OK;
  }
  r50_log(R50_LOG_INFO, "%s not found: converting %s (once; other processes wait)", npz,
          caffemodel);
  return r50_convert_caffemodel_to_npz(caffemodel, npz, (int)arch, err);
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

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static r50_status load_auto(r50_model *m, int fc6_may_differ, int *fc6_loaded,
                            r50_error *err);

r50_status r50_load_pretrained(r50_model *m, const char *pretrained, int fc6_may_differ,
                               int *fc6_loaded, r50_error *err) {
  if (fc6_loaded)
    *fc6_loaded = 1;
  if (!strcmp(pretrained, "auto"))
    return load_auto(m, fc6_may_differ, fc6_loaded, err);
  if (ends_with(pretrained, ".caffemodel")) {
    if (m->net.n_classes != 1000)
      return r50_fail(
          err, R50_ERR_UNSUPPORTED,
          "%s: a caffemodel has 1000 classes; for %d, convert it to an npz first "
          "(r50worker convert)",
          pretrained, m->net.n_classes);
    return r50_load_caffemodel(m, pretrained, err);
  }
  return r50_load_npz_into(m, pretrained, fc6_may_differ, fc6_loaded, 1, err);
}

/* Loads the npz at r50_auto_model_path into m, first converting the caffemodel in the
 * same folder when only that exists (once across processes). Neither present is
 * R50_ERR_NOT_FOUND with a message saying where to get and put the weights. */
static r50_status load_auto(r50_model *m, int fc6_may_differ, int *fc6_loaded,
                            r50_error *err) {
  char npz[4096], caffemodel[4200], lock[4200];
  r50_auto_model_path(m->net.arch, npz, sizeof npz);
  if (!is_file(npz)) {
    size_t stem = strlen(npz) - strlen(".npz"); /* r50_auto_model_path ends in .npz */
    snprintf(caffemodel, sizeof caffemodel, "%.*s.caffemodel", (int)stem, npz);
    if (!is_file(caffemodel))
      return not_found(m->net.arch, npz, caffemodel, err);
    snprintf(lock, sizeof lock, "%s.lock", npz);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
      r50_log(R50_LOG_WARN, "cannot create %s (%s): loading %s without caching the npz",
              lock, strerror(errno), caffemodel);
      return r50_load_pretrained(m, caffemodel, fc6_may_differ, fc6_loaded, err);
    }
    r50_status s = convert_locked(fd, lock, caffemodel, npz, m->net.arch, err);
    close(fd); /* releases the lock */
    R50_TRY(s);
  }
  return r50_load_npz_into(m, npz, fc6_may_differ, fc6_loaded, 1, err);
}

r50_status r50_pretrained_classes(const char *pretrained, int *classes, r50_error *err) {
  *classes = 1000;
  if (!strcmp(pretrained, "auto") || ends_with(pretrained, ".caffemodel"))
    return R50_OK;
  npz_reader *r;
  R50_TRY(r50_npz_open(pretrained, &r, err));
  char root[1024], key[1100];
  r50_status s = r50_npz_model_root(r, pretrained, root, sizeof root, err);
  snprintf(key, sizeof key, "%sfc6/W", root);
  const int i = s == R50_OK ? r50_npz_find(r, key) : -1;
  npz_array_info info;
  if (i >= 0)
    s = r50_npz_info(r, i, &info, err);
  if (i >= 0 && s == R50_OK && info.ndim == 2 && info.shape[0] > 0 &&
      info.shape[0] <= 1 << 24)
    *classes = (int)info.shape[0];
  r50_npz_close(r);
  return s;
}

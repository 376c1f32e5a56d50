/*
 * test_serialize.c — r50_save_npz / r50_load_npz: bit-exact round trip, strictness
 * (missing, extra, wrong-shaped and wrong-typed keys name the key and leave the model
 * unchanged), a fine-tuned K-class npz loaded with its K classes (n_classes 0), and
 * pretrained "auto" lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "npz.h"
#include "r50.h"
#include "test_util.h"

static char g_dir[] = "/tmp/r50-serialize-XXXXXX";

static r50_model *make(const char *pretrained, uint64_t seed, r50_error *err) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = pretrained;
  cfg.seed = seed;
  return r50_model_new(&cfg, err);
}

static char *read_file(const char *path, size_t *n) {
  uint8_t *d;
  r50_error err = {0};
  CHECK(r50_read_file(path, UINT64_MAX, "a test file", &d, n, &err) == R50_OK, "%s",
        err.msg);
  return (char *)d;
}

static int params_equal(r50_model *a, r50_model *b) {
  for (int i = 0; i < r50_namedparams_count(a); i++) {
    r50_param_info p = r50_namedparams(a, i), q = r50_namedparams(b, i);
    if (p.kind == R50_PERSISTENT_INT ? *p.ivalue != *q.ivalue
                                     : memcmp(p.data, q.data, (size_t)p.numel * 4) != 0)
      return 0;
  }
  return 1;
}

/* Copies src to dst with edits: `drop` is left out, `reshape` gets shape (1, numel),
 * `as_f64` is written as float64, `as_i32` (an N) as int32, and `extra` is added. */
typedef struct edit {
  const char *drop, *reshape, *as_f64, *as_i32, *extra;
} edit;

static void copy_npz(const char *src, const char *dst, edit e) {
  r50_error err = {0};
  npz_reader *r;
  npz_writer *w;
  if (r50_npz_open(src, &r, &err) || r50_npz_writer_open(dst, &w, &err)) {
    CHECK(0, "%s", err.msg);
    return;
  }
  for (int i = 0; i < r50_npz_count(r); i++) {
    const char *key = r50_npz_key(r, i);
    npz_array_info info;
    CHECK(r50_npz_info(r, i, &info, &err) == R50_OK, "%s", err.msg);
    size_t bytes = (size_t)info.numel * r50_npz_dtype_size(info.dtype);
    char *buf = malloc(bytes ? bytes : 1);
    CHECK(r50_npz_read(r, i, buf, bytes, &err) == R50_OK, "%s", err.msg);
    if (e.drop && !strcmp(key, e.drop)) {
      free(buf);
      continue;
    }
    if (e.reshape && !strcmp(key, e.reshape)) {
      info.shape[1] = info.numel;
      info.shape[0] = 1;
      info.ndim = 2;
    }
    if (e.as_f64 && !strcmp(key, e.as_f64)) {
      double *d = malloc((size_t)info.numel * sizeof *d);
      for (int64_t j = 0; j < info.numel; j++)
        d[j] = ((float *)buf)[j];
      r50_npz_write(w, key, NPZ_F64, info.ndim, info.shape, d, &err);
      free(d);
    } else if (e.as_i32 && !strcmp(key, e.as_i32)) {
      int32_t v = (int32_t) * (int64_t *)buf;
      r50_npz_write(w, key, NPZ_I32, 0, NULL, &v, &err);
    } else {
      r50_npz_write(w, key, info.dtype, info.ndim, info.shape, buf, &err);
    }
    free(buf);
  }
  if (e.extra) {
    float v = 1;
    int64_t one = 1;
    r50_npz_write(w, e.extra, NPZ_F32, 1, &one, &v, &err);
  }
  r50_npz_close(r);
  CHECK(r50_npz_writer_close(w, &err) == R50_OK, "%s", err.msg);
}

/* Loading `path` into m must fail with status s and a message holding each of want. */
static void expect_load_error(r50_model *m, r50_model *orig, const char *path,
                              r50_status s, const char *want1, const char *want2) {
  r50_error err = {0};
  r50_status got = r50_load_npz(m, path, &err);
  CHECK(got == s, "%s: status %s, message: %s", path, r50_status_name(got), err.msg);
  CHECK(strstr(err.msg, want1) != NULL, "message lacks '%s': %s", want1, err.msg);
  if (want2)
    CHECK(strstr(err.msg, want2) != NULL, "message lacks '%s': %s", want2, err.msg);
  CHECK(params_equal(m, orig), "model changed by a failed load of %s", path);
  printf("  rejected as expected: %s\n", err.msg);
}

int main(void) {
  if (!mkdtemp(g_dir))
    return 1;
  char a[256], b[256], bad[256];
  snprintf(a, sizeof a, "%s/a.npz", g_dir);
  snprintf(b, sizeof b, "%s/b.npz", g_dir);
  snprintf(bad, sizeof bad, "%s/bad.npz", g_dir);
  r50_error err = {0};

  /* round trip, with non-trivial persistents */
  r50_model *m = make(NULL, 3, &err);
  for (int i = 0; i < r50_namedparams_count(m); i++) {
    r50_param_info p = r50_namedparams(m, i);
    if (p.kind == R50_PERSISTENT_INT)
      *p.ivalue = 1000 + i;
    else if (strstr(p.name, "avg_"))
      for (int64_t j = 0; j < p.numel; j++)
        p.data[j] = 0.5f + 0.001f * (float)(j % 97) + 0.01f * (float)i;
  }
  CHECK(r50_params_changed(m, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_save_npz(m, a, &err) == R50_OK, "save: %s", err.msg);
  r50_model *m2 = make(a, 99, &err);
  CHECK(m2 != NULL, "load: %s", err.msg);
  if (!m2)
    return test_result("test_serialize");
  CHECK(params_equal(m, m2), "loaded parameters differ from the saved ones");
  CHECK(r50_save_npz(m2, b, &err) == R50_OK, "save: %s", err.msg);
  size_t na, nb;
  char *da = read_file(a, &na), *db = read_file(b, &nb);
  CHECK(da && db && na == nb && !memcmp(da, db, na), "re-saved npz differs byte-wise");
  free(da);
  free(db);

  /* strictness: each bad file names the key; nothing is half-loaded */
  r50_model *fresh = make(NULL, 5, &err), *ref = make(NULL, 5, &err);
  copy_npz(a, bad, (edit){.reshape = "res3/b1/conv2/W"});
  expect_load_error(fresh, ref, bad, R50_ERR_MISMATCH, "res3/b1/conv2/W",
                    "(128, 128, 3, 3)");
  copy_npz(a, bad, (edit){.drop = "res4/b3/bn2/avg_var"});
  expect_load_error(fresh, ref, bad, R50_ERR_MISMATCH, "res4/b3/bn2/avg_var", "missing");
  copy_npz(a, bad, (edit){.extra = "res6/a/conv1/W"});
  expect_load_error(fresh, ref, bad, R50_ERR_MISMATCH, "res6/a/conv1/W", "unexpected");
  copy_npz(a, bad, (edit){.as_f64 = "fc6/b"});
  expect_load_error(fresh, ref, bad, R50_ERR_MISMATCH, "fc6/b", "<f8");
  expect_load_error(fresh, ref, "/nonexistent/dir/w.npz", R50_ERR_NOT_FOUND,
                    "/nonexistent/dir/w.npz", NULL);
  copy_npz(a, bad, (edit){.as_i32 = "bn1/N"});
  CHECK(r50_load_npz(fresh, bad, &err) == R50_OK, "int32 N accepted: %s", err.msg);
  CHECK(params_equal(fresh, m), "int32 N file loads the same values");

  /* a file of another architecture names the first key that differs */
  r50_config c101 = r50_config_default();
  c101.arch = R50_ARCH_101;
  c101.pretrained = a;
  CHECK(r50_model_new(&c101, &err) == NULL && err.status == R50_ERR_MISMATCH &&
            strstr(err.msg, "holds a ResNet-50 (by its keys), the model is a ResNet-101"),
        "ResNet-50 weights into ResNet-101: %s", err.msg);
  /* and the other way: a ResNet-101 file, loaded as ResNet-50, says to give --arch */
  c101.pretrained = NULL;
  r50_model *m101 = r50_model_new(&c101, &err);
  char f101[256];
  snprintf(f101, sizeof f101, "%s/r101.npz", g_dir);
  CHECK(m101 && r50_save_npz(m101, f101, &err) == R50_OK, "ResNet-101 saved: %s", err.msg);
  r50_model_free(m101);
  expect_load_error(fresh, m, f101, R50_ERR_MISMATCH, "holds a ResNet-101", "--arch 101");

  /* a fine-tuned 7-class npz: n_classes 0 takes the file's 7; 1000 asked is refused */
  char k7[256];
  snprintf(k7, sizeof k7, "%s/k7.npz", g_dir);
  r50_config c7 = r50_config_default();
  c7.pretrained = NULL, c7.n_classes = 7, c7.seed = 11;
  r50_model *m7 = r50_model_new(&c7, &err);
  CHECK(m7 && r50_save_npz(m7, k7, &err) == R50_OK, "7 classes: %s", err.msg);
  c7.pretrained = k7, c7.n_classes = 0;
  r50_model *l7 = r50_model_new(&c7, &err);
  CHECK(l7 && r50_model_classes(l7) == 7 && params_equal(l7, m7),
        "a 7-class npz loads with 7 classes: %s", err.msg);
  c7.n_classes = 1000;
  CHECK(r50_model_new(&c7, &err) == NULL && err.status == R50_ERR_MISMATCH &&
            strstr(err.msg, "fc6/W"),
        "1000 classes asked of a 7-class npz: %s", err.msg);
  r50_model_free(m7);
  r50_model_free(l7);

  /* pretrained "auto" */
  setenv("CHAINER_DATASET_ROOT", g_dir, 1);
  CHECK(make("auto", 0, &err) == NULL && err.status == R50_ERR_NOT_FOUND &&
            strstr(err.msg, "ResNet-50-model.npz") && strstr(err.msg, "--model none"),
        "auto without weights: %s", err.msg);
  char auto_dir[512], auto_path[600];
  snprintf(auto_dir, sizeof auto_dir, "%s/pfnet/chainer/models", g_dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/ResNet-50-model.npz", auto_dir, a,
           auto_dir);
  CHECK(system(cmd) == 0, "%s", cmd);
  r50_model *ma = make("auto", 0, &err);
  CHECK(ma && params_equal(ma, m), "auto loads the cached npz: %s", err.msg);
  r50_auto_model_path(R50_ARCH_50, auto_path, sizeof auto_path);
  CHECK(strstr(auto_path, g_dir) == auto_path, "auto path %s", auto_path);

  r50_model_free(ma);
  r50_model_free(m);
  r50_model_free(m2);
  r50_model_free(fresh);
  r50_model_free(ref);
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  CHECK(system(cmd) == 0, "cleanup");
  return test_result("test_serialize");
}

/*
 * test_parity.c — every available layer of r50worker against the PyTorch oracle.
 *
 * usage: test_parity DIR ARCH FB
 * DIR holds model.npz (Chainer keys), input.npz (x0, x1) and expected.npz
 * ("x0/conv1" ... "x1/prob") written by tests/oracle_torch.py. Each layer must satisfy
 * max|ours - ref| <= 1e-4 * max|ref| + 1e-6.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npz.h"
#include "r50.h"
#include "test_util.h"

static float *read_array(npz_reader *r, const char *key, npz_array_info *info) {
  int i = r50_npz_find(r, key);
  r50_error err = {0};
  if (i < 0 || r50_npz_info(r, i, info, &err) != R50_OK || info->dtype != NPZ_F32) {
    fprintf(stderr, "cannot read '%s': %s\n", key, err.msg);
    return NULL;
  }
  float *d = malloc((size_t)info->numel * sizeof(float));
  if (d && r50_npz_read(r, i, d, (size_t)info->numel * sizeof(float), &err) != R50_OK) {
    fprintf(stderr, "cannot read '%s': %s\n", key, err.msg);
    free(d);
    return NULL;
  }
  return d;
}

static void compare(const char *key, const r50_tensor *got, const float *ref,
                    const npz_array_info *info) {
  int same_shape = got->ndim == info->ndim;
  for (int d = 0; same_shape && d < got->ndim; d++)
    same_shape = got->shape[d] == info->shape[d];
  CHECK(same_shape, "%s: shape differs from the reference", key);
  if (!same_shape)
    return;
  double maxref = 0, maxdiff = 0;
  for (int64_t i = 0; i < info->numel; i++) {
    maxref = fmax(maxref, fabs(ref[i]));
    double d = fabs((double)got->data[i] - ref[i]);
    maxdiff = isnan(d) ? INFINITY : fmax(maxdiff, d);
  }
  double tol = 1e-4 * maxref + 1e-6;
  printf("  %-10s max|ref|=%-11.4g max|diff|=%-11.4g rel=%-10.3g %s\n", key, maxref,
         maxdiff, maxdiff / (maxref > 0 ? maxref : 1), maxdiff <= tol ? "ok" : "FAIL");
  CHECK(maxdiff <= tol, "%s: max|diff| %g > tolerance %g", key, maxdiff, tol);
  CHECK(maxref > 0, "%s: reference is all zero; the check would be vacuous", key);
}

typedef struct hook_log {
  int after[16];
} hook_log;

static void count_layers(void *user, const r50_hook_event *ev) {
  if (ev->phase == R50_HOOK_AFTER)
    ((hook_log *)user)->after[ev->layer_index]++;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_parity DIR ARCH FB\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/model.npz", argv[1]);
  r50_config cfg = r50_config_default();
  cfg.arch = (r50_arch)atoi(argv[2]);
  cfg.downsample_fb = atoi(argv[3]);
  cfg.pretrained = path;
  cfg.threads = 2;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m) {
    fprintf(stderr, "model: %s\n", err.msg);
    return 1;
  }
  printf("engine %s\n", r50_model_engine(m));
  npz_reader *in, *exp;
  char ipath[4096], epath[4096];
  snprintf(ipath, sizeof ipath, "%s/input.npz", argv[1]);
  snprintf(epath, sizeof epath, "%s/expected.npz", argv[1]);
  if (r50_npz_open(ipath, &in, &err) || r50_npz_open(epath, &exp, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  int nl;
  const char *const *layers = r50_available_layers(&nl);
  const char *inputs[] = {"x0", "x1"};
  for (int k = 0; k < 2; k++) {
    npz_array_info xi;
    float *xd = read_array(in, inputs[k], &xi);
    CHECK(xd != NULL, "input %s", inputs[k]);
    if (!xd)
      continue;
    r50_tensor x = {xd, 4, {xi.shape[0], xi.shape[1], xi.shape[2], xi.shape[3]}, 0};
    printf("ResNet-%s %s, input %s (%lld, 3, %lld, %lld):\n", argv[2],
           cfg.downsample_fb ? "FB" : "MSRA", inputs[k], (long long)xi.shape[0],
           (long long)xi.shape[2], (long long)xi.shape[3]);
    r50_tensor out[9];
    CHECK(r50_forward(m, &x, layers, nl, out, &err) == R50_OK, "forward: %s", err.msg);
    for (int l = 0; l < nl; l++) {
      char key[64];
      snprintf(key, sizeof key, "%s/%s", inputs[k], layers[l]);
      npz_array_info ri;
      float *ref = read_array(exp, key, &ri);
      CHECK(ref != NULL, "reference %s", key);
      if (ref)
        compare(key, &out[l], ref, &ri);
      free(ref);
      r50_tensor_free(&out[l]);
    }
    free(xd);
  }
  /* forward stops after the last requested layer */
  npz_array_info xi;
  float *xd = read_array(in, "x1", &xi);
  r50_tensor x = {xd, 4, {xi.shape[0], xi.shape[1], xi.shape[2], xi.shape[3]}, 0};
  hook_log hl = {0};
  r50_set_hook(m, count_layers, &hl);
  const char *want[] = {"res3", "pool1"};
  r50_tensor out[2];
  CHECK(r50_forward(m, &x, want, 2, out, &err) == R50_OK, "forward: %s", err.msg);
  for (int l = 0; l < nl; l++)
    CHECK(hl.after[l] == (l <= 3), "layer %s ran %d times", layers[l], hl.after[l]);
  r50_tensor_free(&out[0]);
  r50_tensor_free(&out[1]);
  free(xd);
  r50_npz_close(in);
  r50_npz_close(exp);
  r50_model_free(m);
  return test_result("test_parity");
}

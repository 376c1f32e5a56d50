/*
 * grad_tool.c — one training step of r50worker written out for the PyTorch oracle
 * (tests/oracle_torch_train.py): the loss, every parameter's gradient, the BN running
 * statistics after the forward, and every ReLU's decision (which outputs were > 0),
 * so that the float64 reference can take the same decisions at the kinks.
 *
 * usage: grad_tool DIR ARCH FB      (reads DIR/model.npz, DIR/train_input.npz;
 *                                    writes DIR/ours.npz)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "npz.h"
#include "r50.h"
#include "train.h"

static void *read_array(npz_reader *r, const char *key, npz_dtype want, int64_t *numel) {
  int i = r50_npz_find(r, key);
  npz_array_info info;
  r50_error err = {0};
  if (i < 0 || r50_npz_info(r, i, &info, &err) != R50_OK || info.dtype != want)
    return NULL;
  size_t bytes = (size_t)info.numel * r50_npz_dtype_size(want);
  void *d = malloc(bytes ? bytes : 1);
  if (d && r50_npz_read(r, i, d, bytes, &err) != R50_OK) {
    free(d);
    return NULL;
  }
  *numel = info.numel;
  return d;
}

static int fail(const char *what, const r50_error *err) {
  fprintf(stderr, "grad_tool: %s: %s\n", what, err ? err->msg : "");
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: grad_tool DIR ARCH FB\n");
    return 2;
  }
  char path[1024];
  r50_config cfg = r50_config_default();
  cfg.arch = (r50_arch)atoi(argv[2]);
  cfg.downsample_fb = atoi(argv[3]);
  cfg.threads = 2;
  snprintf(path, sizeof path, "%s/model.npz", argv[1]);
  cfg.pretrained = path;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m)
    return fail("model", &err);
  npz_reader *in;
  snprintf(path, sizeof path, "%s/train_input.npz", argv[1]);
  if (r50_npz_open(path, &in, &err) != R50_OK)
    return fail("input", &err);
  int64_t nx, nl;
  float *x = read_array(in, "x", NPZ_F32, &nx);
  int32_t *labels = read_array(in, "labels", NPZ_I32, &nl);
  r50_npz_close(in);
  if (!x || !labels)
    return fail("x or labels missing", NULL);
  int64_t side = 1;
  while (side * side * 3 * nl < nx)
    side++;
  r50_tensor t = {x, 4, {nl, 3, side, side}, 0};
  r50_step_result res;
  if (r50_cleargrads(m, &err) != R50_OK ||
      r50_forward_train(m, &t, labels, R50_BN_TRAIN, &res, &err) != R50_OK ||
      r50_backward(m, 1.0, NULL, NULL, &err) != R50_OK)
    return fail("training step", &err);
  npz_writer *w;
  snprintf(path, sizeof path, "%s/ours.npz", argv[1]);
  if (r50_npz_writer_open(path, &w, &err) != R50_OK)
    return fail("ours.npz", &err);
  r50_status s = r50_npz_write(w, "loss", NPZ_F64, 0, NULL, &res.loss, &err);
  for (int i = 0; s == R50_OK && i < r50_namedparams_count(m); i++) {
    r50_param_info p = r50_namedparams(m, i);
    char key[160];
    if (p.kind == R50_PARAM) {
      snprintf(key, sizeof key, "grad/%s", p.name);
      s = r50_npz_write(w, key, NPZ_F32, p.ndim, p.shape, p.grad, &err);
    } else if (p.kind == R50_PERSISTENT_F32) {
      snprintf(key, sizeof key, "after/%s", p.name);
      s = r50_npz_write(w, key, NPZ_F32, p.ndim, p.shape, p.data, &err);
    }
  }
  /* the ReLUs in forward order: conv1, then each bottleneck's conv1, conv2, conv3 */
  const r50_net *net = &m->net;
  int order[1024], k = 0;
  order[k++] = net->conv1.id;
  for (int b = 0; b < net->n_blocks; b++)
    for (int j = 0; j < 3; j++)
      order[k++] = net->blocks[b].conv[j].id;
  for (int i = 0; s == R50_OK && i < k; i++) {
    int64_t shape[4];
    uint8_t *mask = NULL;
    s = r50_train_relu_mask(m, order[i], &mask, shape, &err);
    char key[32];
    snprintf(key, sizeof key, "mask/%03d", i);
    if (s == R50_OK)
      s = r50_npz_write(w, key, NPZ_U8, 4, shape, mask, &err);
    free(mask);
  }
  if (s != R50_OK) {
    r50_npz_writer_abort(w);
    return fail("writing ours.npz", &err);
  }
  if (r50_npz_writer_close(w, &err) != R50_OK)
    return fail("closing ours.npz", &err);
  printf("grad_tool: loss %.7f over %lld images, %d ReLU masks -> %s\n", res.loss,
         (long long)res.counted, k, path);
  free(x);
  free(labels);
  r50_model_free(m);
  return 0;
}

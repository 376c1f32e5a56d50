/*
 * test_invariance.c — an image's outputs are bit-identical whatever batch it is in,
 * wherever in that batch, and whatever the thread count (the engine's promise that
 * makes `extract` results independent of -np, --batch and --threads).
 *
 * Three random images at two sizes run alone, together, in another order and with 1,
 * 2 and 3 threads, and in batches of 16 and 13 (cut into micro-batches by the walk at
 * 224x224); every returned layer must match byte for byte. The engine is the
 * build's default, or the one R50_ENGINE names (CMake runs it on each CPU engine). The
 * sizes make the early layers span several column chunks and the late ones less than one.
 *
 * One walk promises less: bf16 on NHWC activations (oneDNN's AMX kernels; see
 * engine_dnnl.c), whose kernels may choose their blockings, and so their sums' order,
 * by the thread count. There each thread count is checked against its own batch-of-1
 * results, and the differences between thread counts are only printed.
 */
#include <stdlib.h>
#include <string.h>

#include "r50.h"
#include "test_util.h"
#ifdef R50_HAVE_ONEDNN
#include "engines.h"
#endif

#define N_IMG 3
static const char *const LAYERS[] = {"conv1", "pool1", "res2", "res3", "res4",
                                     "res5",  "pool5", "fc6",  "prob"};
#define N_LAYERS 9

static int thread_bound; /* results may depend on the thread count (see above) */

static void fill(float *x, size_t n, unsigned seed) {
  srand(seed);
  for (size_t i = 0; i < n; i++)
    x[i] = (float)(rand() % 2000) / 10.0f - 100.0f;
}

/* Runs the images `order` (k of them) as one batch; out[l] gets layer l's tensor. */
static int run(r50_model *m, float *const *imgs, const int *order, int k, int h, int w,
               r50_tensor *out) {
  size_t per = (size_t)3 * h * w;
  float *x = malloc((size_t)k * per * sizeof(float));
  for (int i = 0; i < k; i++)
    memcpy(x + i * per, imgs[order[i]], per * sizeof(float));
  r50_tensor t = {x, 4, {k, 3, h, w}, 0};
  r50_error err = {0};
  r50_status s = r50_forward(m, &t, LAYERS, N_LAYERS, out, &err);
  CHECK(s == R50_OK, "forward: %s", err.msg);
  free(x);
  return s == R50_OK;
}

/* Row i of out (k images) equals row j of ref (for every layer). */
static int same_row(const r50_tensor *out, int i, const r50_tensor *ref, int j) {
  for (int l = 0; l < N_LAYERS; l++) {
    int64_t per = r50_tensor_numel(&out[l]) / out[l].shape[0];
    if (memcmp(out[l].data + i * per, ref[l].data + j * per, (size_t)per * sizeof(float)))
      return l + 1;
  }
  return 0;
}

static void check_size(r50_model *m, int h, int w) {
  float *imgs[N_IMG];
  for (int i = 0; i < N_IMG; i++) {
    imgs[i] = malloc((size_t)3 * h * w * sizeof(float));
    fill(imgs[i], (size_t)3 * h * w, 11u + (unsigned)i);
  }
  r50_tensor alone[N_IMG][N_LAYERS], alone1[N_LAYERS]; /* alone1: image 1, 1 thread */
  const int one = 1;
  r50_set_threads(m, 1);
  run(m, imgs, &one, 1, h, w, alone1);
  const int orders[][N_IMG] = {{0, 1, 2}, {2, 0, 1}};
  for (int threads = 1; threads <= 3; threads++) {
    r50_set_threads(m, threads);
    /* each image alone: with 1 thread, or with this thread count's where it may differ */
    for (int i = 0; i < N_IMG && (threads == 1 || thread_bound); i++) {
      for (int l = 0; l < N_LAYERS && threads > 1; l++)
        r50_tensor_free(&alone[i][l]);
      run(m, imgs, &i, 1, h, w, alone[i]);
    }
    for (int o = 0; o < 2; o++) {
      r50_tensor out[N_LAYERS];
      if (!run(m, imgs, orders[o], N_IMG, h, w, out))
        continue;
      for (int i = 0; i < N_IMG; i++) {
        int bad = same_row(out, i, alone[orders[o][i]], 0);
        CHECK(!bad,
              "%dx%d, %d threads, batch order %d: image %d differs from its "
              "batch-of-1 result in %s",
              h, w, threads, o, orders[o][i], LAYERS[bad ? bad - 1 : 0]);
      }
      for (int l = 0; l < N_LAYERS; l++)
        r50_tensor_free(&out[l]);
    }
    /* a batch of 16 (the default --batch; at 224x224 two micro-batches of 8) with 2
     * threads, of 13 (7 and 6) with 3: each image four to six times */
    const int nbig = threads == 2 ? 16 : threads == 3 ? 13 : 0;
    int big_order[16];
    for (int i = 0; i < nbig; i++)
      big_order[i] = (i * 7) % N_IMG;
    r50_tensor big[N_LAYERS];
    if (nbig && run(m, imgs, big_order, nbig, h, w, big)) {
      for (int i = 0; i < nbig; i++) {
        int bad = same_row(big, i, alone[big_order[i]], 0);
        CHECK(!bad, "%dx%d, batch of %d: row %d (image %d) differs from batch-of-1 in %s",
              h, w, nbig, i, big_order[i], LAYERS[bad ? bad - 1 : 0]);
      }
      for (int l = 0; l < N_LAYERS; l++)
        r50_tensor_free(&big[l]);
    }
    r50_tensor single[N_LAYERS];
    if (run(m, imgs, &one, 1, h, w, single)) {
      int bad = same_row(single, 0, alone1, 0);
      if (thread_bound)
        printf("%dx%d: image 1 alone with %d threads %s 1 thread%s%s\n", h, w, threads,
               bad ? "differs from" : "equals", bad ? " from " : "",
               bad ? LAYERS[bad - 1] : "");
      else
        CHECK(!bad, "%dx%d: image 1 alone with %d threads differs from 1 thread in %s", h,
              w, threads, LAYERS[bad ? bad - 1 : 0]);
      for (int l = 0; l < N_LAYERS; l++)
        r50_tensor_free(&single[l]);
    }
  }
  for (int i = 0; i < N_IMG; i++) {
    for (int l = 0; l < N_LAYERS; l++)
      r50_tensor_free(&alone[i][l]);
    free(imgs[i]);
  }
  for (int l = 0; l < N_LAYERS; l++)
    r50_tensor_free(&alone1[l]);
}

int main(void) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL;
  cfg.downsample_fb = 1;
  cfg.seed = 3;
  const char *prec = getenv("R50_TEST_PRECISION"); /* "bf16": that precision's walk */
  cfg.precision = prec && !strcmp(prec, "bf16") ? R50_PRECISION_BF16 : R50_PRECISION_FP32;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  CHECK(m != NULL, "model: %s", err.msg);
  if (m) {
    const int bf16 = r50_model_precision(m) == R50_PRECISION_BF16;
#ifdef R50_HAVE_ONEDNN
    thread_bound = !strcmp(r50_model_engine(m), "onednn") && r50_onednn_nhwc(bf16);
#endif
    printf("engine %s, %s%s\n", r50_model_engine(m), bf16 ? "bf16" : "fp32",
           thread_bound ? ", NHWC: batch invariance checked per thread count" : "");
    check_size(m, 224, 224);
    check_size(m, 97, 130);
  }
  r50_model_free(m);
  return test_result("test_invariance");
}

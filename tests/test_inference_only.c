/*
 * test_inference_only.c — r50_model_inference_only: the same outputs as the model it
 * was, with its convolution weights given back; what needs them refused.
 *
 * Two models of the same random weights on the engine R50_ENGINE names (CMake runs
 * it on each CPU engine), one made inference-only before its first forward: every
 * layer bit-identical at 224x224 (batches of 1 and 3), then at other sizes (new
 * primitives, whose weights come from those the engine holds), with 1 and 3 threads
 * and, on oneDNN, on NHWC activations (another weights format). Its conv weights'
 * whole pages read as zeros after (given back; on oneDNN not the stride-1 3x3 ones);
 * its BN parameters, fc6 and persistents are intact. Then every call that reads, writes
 * or copies parameters or trains returns R50_ERR_UNSUPPORTED naming the model as
 * inference-only, and the model still runs.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "r50.h"
#include "test_util.h"

static const char *const LAYERS[] = {"conv1", "res2",  "res3", "res4",
                                     "res5",  "pool5", "prob"};
#define N_LAYERS 7

static r50_model *make(void) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL;
  cfg.seed = 7;
  cfg.threads = 2;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  CHECK(m != NULL, "r50_model_new: %s", err.msg);
  if (!m)
    exit(1);
  return m;
}

/* Both models on the same n images of h x w: every layer byte for byte. */
static void same_outputs(r50_model *a, r50_model *b, int n, int h, int w,
                         const char *what) {
  const size_t numel = (size_t)n * 3 * h * w;
  float *x = malloc(numel * sizeof *x);
  for (size_t i = 0; i < numel; i++)
    x[i] = frand(-120.0f, 120.0f);
  r50_tensor t = {x, 4, {n, 3, h, w}, 0}, oa[N_LAYERS], ob[N_LAYERS];
  r50_error err = {0};
  r50_status sa = r50_forward(a, &t, LAYERS, N_LAYERS, oa, &err);
  CHECK(sa == R50_OK, "%s: forward: %s", what, err.msg);
  r50_status sb = r50_forward(b, &t, LAYERS, N_LAYERS, ob, &err);
  CHECK(sb == R50_OK, "%s: forward (inference-only): %s", what, err.msg);
  for (int l = 0; l < N_LAYERS && sa == R50_OK && sb == R50_OK; l++) {
    const size_t bytes = (size_t)r50_tensor_numel(&oa[l]) * sizeof(float);
    CHECK(r50_tensor_numel(&oa[l]) == r50_tensor_numel(&ob[l]) &&
              !memcmp(oa[l].data, ob[l].data, bytes),
          "%s: %s differs on the inference-only model", what, LAYERS[l]);
  }
  for (int l = 0; l < N_LAYERS; l++) {
    if (sa == R50_OK)
      r50_tensor_free(&oa[l]);
    if (sb == R50_OK)
      r50_tensor_free(&ob[l]);
  }
  free(x);
}

/* Whether the whole pages of p[0, n) read as zeros, and how many there are. */
static int pages_zero(const float *p, int64_t n, int64_t *pages) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)p + page - 1) / page * page,
                  hi = (uintptr_t)(p + n) / page * page;
  *pages = hi > lo ? (int64_t)((hi - lo) / page) : 0;
  for (const float *q = (const float *)lo; (uintptr_t)q < hi; q++)
    if (*q != 0.0f)
      return 0;
  return 1;
}

/* Every conv's weights given back but, on oneDNN, the stride-1 3x3 ones, which its
 * Winograd kernels may take (their formats depend on the shape: those stay, given
 * back or not); everything else unchanged. */
static void check_given_back(r50_model *a, r50_model *b) {
  const int onednn = !strcmp(r50_model_engine(b), "onednn");
  const r50_conv_desc **convs = malloc((size_t)a->net.n_convs * sizeof *convs);
  r50_net_convs(&a->net, convs);
  int all = 0, zero = 0, may_stay = 0;
  for (int i = 0; i < a->net.n_convs; i++) {
    const r50_conv_desc *c = convs[i];
    const r50_param_desc *d = &a->net.params[c->w];
    int64_t pages = 0;
    const int given_back = pages_zero(r50_param_data(b, c->w), d->numel, &pages);
    if (onednn && c->ksize == 3 && c->stride == 1) {
      may_stay++;
      continue;
    }
    all += pages > 0;
    zero += pages > 0 && given_back;
  }
  free(convs);
  printf("%s engine: %d of %d conv weights spanning whole pages read as zeros (%d others "
         "may stay)\n",
         r50_model_engine(b), zero, all, may_stay);
  CHECK(all > 30 && zero == all, "%d of %d conv weights given back", zero, all);
  for (int i = 0; i < a->net.n_params; i++) {
    const r50_param_desc *d = &a->net.params[i];
    const float *pa = r50_param_data(a, i), *pb = r50_param_data(b, i);
    if (pa && !(d->kind == R50_PARAM && d->ndim == 4))
      CHECK(!memcmp(pa, pb, (size_t)d->numel * sizeof(float)),
            "%s: changed on the inference-only model (only conv weights are given back)",
            d->name);
  }
}

static void expect_refused(r50_status s, const r50_error *err, const char *what) {
  CHECK(s == R50_ERR_UNSUPPORTED && strstr(err->msg, "inference-only"),
        "%s on an inference-only model: status %s, '%s'", what, r50_status_name(s),
        err->msg);
}

static void check_refusals(r50_model *a, r50_model *b) {
  r50_error err = {0};
  char npz[64];
  snprintf(npz, sizeof npz, "/tmp/r50-inference-only-%d.npz", (int)getpid());
  expect_refused(r50_save_npz(b, npz, &err), &err, "save_npz");
  CHECK(access(npz, F_OK) != 0, "save_npz refused, yet %s was written", npz);
  CHECK(r50_save_npz(a, npz, &err) == R50_OK, "save_npz: %s", err.msg);
  expect_refused(r50_load_npz(b, npz, &err), &err, "load_npz");
  remove(npz);
  expect_refused(r50_copyparams(b, a, 1, &err), &err, "copyparams into it");
  expect_refused(r50_copyparams(a, b, 1, &err), &err, "copyparams from it");
  expect_refused(r50_params_changed(b, &err), &err, "params_changed");
  r50_model *c = r50_copy(b, R50_COPY_COPY, &err);
  CHECK(c == NULL, "r50_copy of an inference-only model");
  expect_refused(c ? R50_OK : err.status, &err, "r50_copy");
  r50_model_free(c);
  CHECK(r50_momentum_sgd_new(b, 0.01, 0.9, 1e-4, &err) == NULL, "optimizer made");
  expect_refused(err.status, &err, "momentum_sgd_new");
  float x[2 * 3 * 32 * 32] = {0};
  int32_t labels[2] = {1, 2};
  r50_tensor t = {x, 4, {2, 3, 32, 32}, 0};
  r50_step_result res;
  expect_refused(r50_forward_train(b, &t, labels, R50_BN_TRAIN, &res, &err), &err,
                 "forward_train");
  int64_t n = 0;
  CHECK(r50_params_slab(b, &n) == NULL && n == r50_count_params(b),
        "params_slab of an inference-only model: not NULL");
  for (int i = 0; i < r50_namedparams_count(b); i++) {
    r50_param_info p = r50_namedparams(b, i);
    CHECK(p.kind != R50_PARAM || p.data == NULL, "namedparams %s: data handed out",
          p.name);
    CHECK(p.kind != R50_PERSISTENT_F32 || p.data != NULL, "namedparams %s: no data",
          p.name);
  }
  /* a model sharing its parameters is refused; once inference-only, again is fine */
  r50_model *shared = r50_copy(a, R50_COPY_SHARE, &err);
  CHECK(shared != NULL, "r50_copy share: %s", err.msg);
  CHECK(r50_model_inference_only(a, &err) == R50_ERR_UNSUPPORTED &&
            strstr(err.msg, "shares its parameters"),
        "inference_only on a shared store: '%s'", err.msg);
  r50_model_free(shared);
  CHECK(r50_model_inference_only(b, &err) == R50_OK, "a second call: %s", err.msg);
}

int main(void) {
  r50_model *a = make(), *b = make();
  r50_error err = {0};
  CHECK(r50_model_inference_only(b, &err) == R50_OK, "inference_only: %s", err.msg);
  printf("engine %s\n", r50_model_engine(b));
  same_outputs(a, b, 1, 224, 224, "224x224, batch 1");
  same_outputs(a, b, 3, 224, 224, "224x224, batch 3");
  check_given_back(a, b);
  same_outputs(a, b, 2, 96, 128, "96x128");
  r50_set_threads(a, 3), r50_set_threads(b, 3);
  same_outputs(a, b, 3, 64, 64, "64x64, 3 threads");
  r50_set_threads(a, 1), r50_set_threads(b, 1);
  same_outputs(a, b, 1, 160, 160, "160x160, 1 thread");
  if (!strcmp(r50_model_engine(b), "onednn")) { /* NHWC: other weights formats */
    setenv("R50_ONEDNN_LAYOUT", "nhwc", 1);
    same_outputs(a, b, 2, 224, 224, "224x224 on NHWC activations");
    same_outputs(a, b, 1, 112, 112, "112x112 on NHWC activations");
    unsetenv("R50_ONEDNN_LAYOUT");
  }
  check_refusals(a, b);
  same_outputs(a, b, 2, 224, 224, "224x224 after the refusals");
  r50_model_free(a);
  r50_model_free(b);
  return test_result("test_inference_only");
}

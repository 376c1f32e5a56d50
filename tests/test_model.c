/*
 * test_model.c — the model table, random init (fc6's alone equal to the whole
 * model's: fine-tuning draws it alone), namedparams and forward's argument checks,
 * without any file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_new.h"
#include "r50.h"
#include "test_util.h"

static r50_model *make(r50_arch arch, int fb, uint64_t seed) {
  r50_config cfg = r50_config_default();
  cfg.arch = arch;
  cfg.downsample_fb = fb;
  cfg.pretrained = NULL;
  cfg.seed = seed;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  CHECK(m != NULL, "r50_model_new: %s", err.msg);
  return m;
}

static void test_counts(void) {
  const r50_arch archs[] = {R50_ARCH_50, R50_ARCH_101, R50_ARCH_152};
  const int64_t want[] = {25557096, 44549224, 60192872};
  for (int i = 0; i < 3; i++)
    for (int fb = 0; fb < 2; fb++) {
      r50_model *m = make(archs[i], fb, 0);
      if (!m)
        continue;
      CHECK(r50_count_params(m) == want[i], "ResNet-%d: %lld params", archs[i],
            (long long)r50_count_params(m));
      r50_model_free(m);
    }
}

static void test_names_and_init(void) {
  r50_model *m = make(R50_ARCH_50, 0, 7);
  if (!m)
    return;
  int n = r50_namedparams_count(m);
  /* 53 conv+BN units x 7 entries + conv1/b + fc6/W + fc6/b */
  CHECK(n == 53 * 6 + 3, "%d entries", n);
  r50_param_info first = r50_namedparams(m, 0), last = r50_namedparams(m, n - 1);
  CHECK(!strcmp(first.name, "conv1/W") && first.shape[0] == 64 && first.shape[3] == 7,
        "first is %s", first.name);
  CHECK(!strcmp(last.name, "fc6/b") && last.shape[0] == 1000, "last is %s", last.name);
  int found_a4 = 0, found_n = 0;
  for (int i = 0; i < n; i++) {
    r50_param_info p = r50_namedparams(m, i);
    if (!strcmp(p.name, "res3/a/conv4/W"))
      found_a4 = p.shape[0] == 512 && p.shape[1] == 256;
    if (!strcmp(p.name, "res5/b2/bn3/N"))
      found_n = p.kind == R50_PERSISTENT_INT && p.ndim == 0 && *p.ivalue == 0;
    if (!strcmp(p.name, "res4/b5/bn2/avg_var"))
      CHECK(p.data[0] == 1.0f && p.kind == R50_PERSISTENT_F32, "avg_var init");
    if (!strcmp(p.name, "res2/a/conv2/W")) {
      /* HeNormal: std = sqrt(2 / (64*3*3)) */
      double s = 0, s2 = 0;
      for (int64_t j = 0; j < p.numel; j++)
        s += p.data[j], s2 += (double)p.data[j] * p.data[j];
      double std = sqrt(s2 / p.numel - (s / p.numel) * (s / p.numel));
      CHECK(fabs(std - sqrt(2.0 / 576)) < 0.02 * sqrt(2.0 / 576), "HeNormal std %g", std);
    }
  }
  CHECK(found_a4, "res3/a/conv4/W (512, 256, 1, 1)");
  CHECK(found_n, "res5/b2/bn3/N int scalar 0");
  r50_model *same = make(R50_ARCH_50, 0, 7), *other = make(R50_ARCH_50, 0, 8);
  r50_param_info a = r50_namedparams(m, 0), b = r50_namedparams(same, 0),
                 c = r50_namedparams(other, 0);
  CHECK(!memcmp(a.data, b.data, (size_t)a.numel * 4), "same seed, same weights");
  CHECK(memcmp(a.data, c.data, (size_t)a.numel * 4) != 0, "other seed, other weights");
  r50_model_free(m);
  r50_model_free(same);
  r50_model_free(other);
}

static void test_shapes_and_args(void) {
  r50_model *m = make(R50_ARCH_50, 1, 0);
  if (!m)
    return;
  int64_t shape[4];
  int ndim;
  r50_error err = {0};
  CHECK(r50_layer_shape(m, "pool1", 2, 160, 200, shape, &ndim, &err) == R50_OK, "%s",
        err.msg);
  CHECK(ndim == 4 && shape[0] == 2 && shape[1] == 64 && shape[2] == 40 && shape[3] == 50,
        "pool1 of 160x200");
  CHECK(r50_layer_shape(m, "res5", 1, 224, 224, shape, &ndim, &err) == R50_OK, "%s",
        err.msg);
  CHECK(shape[1] == 2048 && shape[2] == 7 && shape[3] == 7, "res5 of 224");
  CHECK(r50_layer_shape(m, "prob", 3, 33, 97, shape, &ndim, &err) == R50_OK &&
            ndim == 2 && shape[0] == 3 && shape[1] == 1000,
        "prob shape");
  CHECK(r50_layer_shape(m, "pool9", 1, 224, 224, shape, &ndim, &err) == R50_ERR_ARG &&
            strstr(err.msg, "pool9"),
        "unknown layer named: %s", err.msg);

  float *data = calloc(3 * 40 * 40, sizeof(float));
  r50_tensor x = {data, 4, {1, 3, 40, 40}, 0}, out[2];
  const char *bad[] = {"res2", "fc7"}, *twice[] = {"res2", "res2"}, *ok[] = {"prob"};
  CHECK(r50_forward(m, &x, bad, 2, out, &err) == R50_ERR_ARG && strstr(err.msg, "fc7"),
        "unknown layer: %s", err.msg);
  CHECK(r50_forward(m, &x, twice, 2, out, &err) == R50_ERR_ARG, "duplicate layer");
  CHECK(r50_forward(m, &x, ok, 1, out, &err) == R50_OK, "40x40 forward: %s", err.msg);
  double sum = 0;
  for (int i = 0; i < 1000; i++)
    sum += out[0].data[i];
  CHECK(fabs(sum - 1.0) < 1e-4, "softmax sums to %g", sum);
  r50_tensor_free(&out[0]);
  r50_tensor small = {data, 4, {1, 3, 31, 40}, 0};
  CHECK(r50_forward(m, &small, ok, 1, out, &err) == R50_ERR_ARG, "31 rows rejected");
  free(data);
  r50_model_free(m);
}

/* An unfilled model is zeros; fc6 drawn alone (r50_init_random_fc) is fc6 of the whole
 * random model of the same seed, bit for bit, whatever the class count. */
static void test_fc_alone(void) {
  for (int classes = 3; classes <= 1000; classes += 997) {
    r50_config cfg = r50_config_default();
    cfg.pretrained = NULL, cfg.seed = 7, cfg.n_classes = classes;
    r50_error err = {0};
    r50_model *whole = r50_model_new(&cfg, &err),
              *alone = r50_model_new_unfilled(&cfg, &err);
    CHECK(whole && alone, "models: %s", err.msg);
    if (!whole || !alone)
      return;
    int zeros = 1;
    for (int i = 0; i < r50_namedparams_count(alone); i++) {
      r50_param_info p = r50_namedparams(alone, i);
      for (int64_t j = 0; p.data && j < p.numel && zeros; j++)
        zeros = p.data[j] == 0.0f;
    }
    CHECK(zeros, "%d classes: an unfilled model is zeros", classes);
    r50_init_random_fc(alone, cfg.seed);
    int fc = 0, same = 1;
    for (int i = 0; i < r50_namedparams_count(alone); i++) {
      r50_param_info p = r50_namedparams(alone, i), q = r50_namedparams(whole, i);
      if (strncmp(p.name, "fc6/", 4))
        continue;
      fc++;
      same &= !memcmp(p.data, q.data, (size_t)p.numel * sizeof(float));
    }
    CHECK(fc == 2 && same,
          "%d classes: fc6/W and fc6/b drawn alone equal the whole "
          "model's (%d arrays)",
          classes, fc);
    r50_model_free(whole);
    r50_model_free(alone);
  }
}

int main(void) {
  test_counts();
  test_fc_alone();
  test_names_and_init();
  test_shapes_and_args();
  return test_result("test_model");
}

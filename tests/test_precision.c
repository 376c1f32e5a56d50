/*
 * test_precision.c — --precision bf16 against fp32 on the default engine.
 *
 * Where the engine and CPU run bf16 (r50_model_precision says so), pool5 of every
 * image must keep a cosine similarity >= 0.999 with fp32's and fc6's top-1 must agree
 * for >= 99% of them. Where they do not, asking for bf16 must give fp32 exactly: the
 * same bits as a model that never asked. Photo-like inputs: smooth random fields
 * with edges, scaled like mean-subtracted pixels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "r50.h"
#include "test_util.h"

#define N_IMG 8
#define SIZE 160

static void photo(float *x, unsigned seed) {
  srand(seed);
  double fx = 1 + rand() % 5, fy = 1 + rand() % 5, ph = rand() % 100 / 10.0;
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < SIZE; y++)
      for (int i = 0; i < SIZE; i++) {
        double v = 60 * sin(fx * i / SIZE * 6.28 + ph + c) * cos(fy * y / SIZE * 6.28) +
                   (i > SIZE / 2 + (int)(ph * 5) ? 40 : -40) + (rand() % 21 - 10);
        x[((size_t)c * SIZE + y) * SIZE + i] = (float)v;
      }
}

static r50_model *model(r50_precision p) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL;
  cfg.seed = 5;
  cfg.threads = 2;
  cfg.precision = p;
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  CHECK(m != NULL, "model: %s", err.msg);
  return m;
}

int main(void) {
  r50_model *m32 = model(R50_PRECISION_FP32), *m16 = model(R50_PRECISION_BF16);
  if (!m32 || !m16)
    return test_result("test_precision");
  const int bf16 = r50_model_precision(m16) == R50_PRECISION_BF16;
  printf("engine %s: bf16 %s\n", r50_model_engine(m16),
         bf16 ? "runs" : "is not available on this CPU (fp32 expected)");
  const size_t per = (size_t)3 * SIZE * SIZE;
  float *x = malloc(N_IMG * per * sizeof *x);
  for (int i = 0; i < N_IMG; i++)
    photo(x + i * per, 100u + (unsigned)i);
  r50_tensor in = {x, 4, {N_IMG, 3, SIZE, SIZE}, 0}, a[2], b[2];
  const char *layers[] = {"pool5", "fc6"};
  r50_error err = {0};
  CHECK(r50_forward(m32, &in, layers, 2, a, &err) == R50_OK, "fp32: %s", err.msg);
  CHECK(r50_forward(m16, &in, layers, 2, b, &err) == R50_OK, "bf16: %s", err.msg);
  if (!g_failures) {
    int agree = 0;
    double worst = 1;
    for (int i = 0; i < N_IMG; i++) {
      const float *p = a[0].data + i * 2048, *q = b[0].data + i * 2048;
      double pq = 0, pp = 0, qq = 0;
      for (int k = 0; k < 2048; k++)
        pq += (double)p[k] * q[k], pp += (double)p[k] * p[k], qq += (double)q[k] * q[k];
      double cos = pq / sqrt(pp * qq + 1e-300);
      worst = cos < worst ? cos : worst;
      int64_t c = a[1].shape[1], ta = 0, tb = 0;
      for (int64_t k = 1; k < c; k++) {
        ta = a[1].data[i * c + k] > a[1].data[i * c + ta] ? k : ta;
        tb = b[1].data[i * c + k] > b[1].data[i * c + tb] ? k : tb;
      }
      agree += ta == tb;
    }
    printf("pool5 worst cosine %.6f, fc6 top-1 agreement %d/%d\n", worst, agree, N_IMG);
    if (bf16) {
      CHECK(worst >= 0.999, "bf16 pool5 cosine %.6f < 0.999", worst);
      CHECK(agree * 100 >= 99 * N_IMG, "bf16 top-1 agrees on %d of %d", agree, N_IMG);
    } else {
      CHECK(!memcmp(a[0].data, b[0].data, N_IMG * 2048 * sizeof(float)) &&
                !memcmp(a[1].data, b[1].data,
                        (size_t)r50_tensor_numel(&a[1]) * sizeof(float)),
            "bf16 fell back to fp32 but its outputs differ from fp32's");
    }
    for (int l = 0; l < 2; l++)
      r50_tensor_free(&a[l]), r50_tensor_free(&b[l]);
  }
  free(x);
  r50_model_free(m32);
  r50_model_free(m16);
  return test_result("test_precision");
}

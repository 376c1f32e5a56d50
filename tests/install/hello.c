/*
 * hello.c — a program a user writes against the installed libr50: builds a
 * ResNet-50 with random weights, runs one 64x64 image to pool5 and prints what it got.
 */
#include <stdio.h>
#include <stdlib.h>

#include <r50.h>

int main(void) {
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL;
  r50_error err;
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m) {
    fprintf(stderr, "hello: %s\n", err.msg);
    return 1;
  }
  float *x = calloc(3 * 64 * 64, sizeof *x);
  for (int i = 0; i < 3 * 64 * 64; i++)
    x[i] = (float)(i % 255) - 120.0f;
  r50_tensor in = {x, 4, {1, 3, 64, 64}, 0}, out;
  const char *layers[] = {"pool5"};
  if (r50_forward(m, &in, layers, 1, &out, &err) != R50_OK) {
    fprintf(stderr, "hello: %s\n", err.msg);
    return 1;
  }
  printf("libr50 %s, %s engine: pool5 (%lld, %lld), %lld parameters\n", r50_version(),
         r50_model_engine(m), (long long)out.shape[0], (long long)out.shape[1],
         (long long)r50_count_params(m));
  r50_tensor_free(&out);
  free(x);
  r50_model_free(m);
  return 0;
}

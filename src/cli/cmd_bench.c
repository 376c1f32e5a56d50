/*
 * cli_bench.c — `r50worker bench`: forward passes (or with --train training steps) on
 * random input for a fixed time; per-layer times come from the model's hook. The last
 * line is `img_per_s=<float>`, the figure bench/ scripts parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "model_options.h"
#include "rng.h"

typedef struct layer_timer {
  double start;
  double total[R50_MAX_LAYERS];
} layer_timer;

static void on_layer(void *user, const r50_hook_event *ev) {
  layer_timer *t = user;
  if (ev->phase == R50_HOOK_BEFORE)
    t->start = r50_now_s();
  else
    t->total[ev->layer_index] += r50_now_s() - t->start;
}

static void fill_input(r50_tensor *x, int batch, int size) {
  *x = (r50_tensor){.ndim = 4, .shape = {batch, 3, size, size}};
  x->data = malloc((size_t)r50_tensor_numel(x) * sizeof(float));
  if (!x->data)
    return;
  r50_rng r;
  r50_rng_seed(&r, 1);
  for (int64_t i = 0; i < r50_tensor_numel(x); i++)
    x->data[i] = (float)(250.0 * r50_rng_uniform(&r) - 120.0);
}

static int run_bench(r50_model *m, const r50_tensor *x, const char **names, int nl,
                     double seconds) {
  layer_timer lt = {0};
  r50_tensor out[R50_MAX_LAYERS];
  r50_error err = {0};
  if (r50_forward(m, x, names, nl, out, &err) != R50_OK) { /* warm-up */
    r50_log(R50_LOG_ERROR, "%s", err.msg);
    return 1;
  }
  for (int i = 0; i < nl; i++)
    r50_tensor_free(&out[i]);
  r50_set_hook(m, on_layer, &lt);
  int iters = 0;
  double t0 = r50_now_s(), elapsed = 0;
  while (iters < 2 || elapsed < seconds) {
    if (r50_forward(m, x, names, nl, out, &err) != R50_OK) {
      r50_log(R50_LOG_ERROR, "%s", err.msg);
      return 1;
    }
    for (int i = 0; i < nl; i++)
      r50_tensor_free(&out[i]);
    iters++;
    elapsed = r50_now_s() - t0;
  }
  int n;
  const char *const *layers = r50_available_layers(&n);
  printf("%-8s %12s %7s\n", "layer", "ms/iter", "share");
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += lt.total[i];
  for (int i = 0; i < n; i++)
    if (lt.total[i] > 0)
      printf("%-8s %12.2f %6.1f%%\n", layers[i], 1e3 * lt.total[i] / iters,
             100.0 * lt.total[i] / sum);
  printf("iterations=%d batch=%lld seconds=%.2f\n", iters, (long long)x->shape[0],
         elapsed);
  printf("img_per_s=%.3f\n", (double)iters * (double)x->shape[0] / elapsed);
  return 0;
}

/* Training steps (forward in training mode, backward, MomentumSGD) on x with random
 * labels: what finetune does per step, without data or ranks. */
static int run_train_bench(r50_model *m, const r50_tensor *x, double seconds) {
  r50_error err = {0};
  const int64_t n = x->shape[0];
  int32_t *labels = malloc((size_t)n * sizeof *labels);
  r50_optimizer *opt = labels ? r50_momentum_sgd_new(m, 0.01, 0.9, 1e-4, &err) : NULL;
  if (!opt) {
    r50_log(R50_LOG_ERROR, "%s", labels ? err.msg : "out of memory");
    free(labels);
    return 1;
  }
  r50_rng r;
  r50_rng_seed(&r, 2);
  for (int64_t i = 0; i < n; i++)
    labels[i] = (int32_t)(r50_rng_next(&r) % (uint64_t)r50_model_classes(m));
  int iters = -1, rc = 0; /* the first step (planning, algorithm search) is a warm-up */
  double t0 = 0, elapsed = 0, loss = 0;
  while (iters < 2 || elapsed < seconds) {
    r50_step_result res;
    if (r50_cleargrads(m, &err) != R50_OK ||
        r50_forward_train(m, x, labels, R50_BN_TRAIN, &res, &err) != R50_OK ||
        r50_backward(m, 1.0, NULL, NULL, &err) != R50_OK ||
        r50_optimizer_update(opt, &err) != R50_OK) {
      r50_log(R50_LOG_ERROR, "%s", err.msg);
      rc = 1;
      break;
    }
    loss = res.loss; /* the loss comes back to the host: the step has finished */
    if (++iters == 0)
      t0 = r50_now_s();
    elapsed = r50_now_s() - t0;
  }
  if (!rc) {
    printf("iterations=%d batch=%lld seconds=%.2f last_loss=%.4f\n", iters, (long long)n,
           elapsed, loss);
    printf("img_per_s=%.3f\n", (double)iters * (double)n / elapsed);
  }
  r50_optimizer_free(opt);
  free(labels);
  return rc;
}

int cli_bench(int argc, char **argv) {
  cli_model_opts mo = cli_model_defaults();
  mo.threads = 2;
  int batch = 16, size = 224, train = 0;
  double seconds = 20;
  const char *layers = "pool5";
  const cli_opt opts[] = {
      CLI_MODEL_OPTS(mo),
      {"batch", CLI_INT, &batch, "B", "images per forward", 1, 4096, NULL},
      {"layers", CLI_STRING, &layers, "L1,L2", "layers to return", 0, 0, NULL},
      {"size", CLI_INT, &size, "S", "input of S x S pixels", 32, 4096, NULL},
      {"train", CLI_FLAG, &train, NULL,
       "time training steps (BN in training mode, backward, MomentumSGD) instead of "
       "forward passes",
       0, 0, NULL},
      {"seconds", CLI_DOUBLE, &seconds, "S", "time to run, after one warm-up", 0, 1e6,
       NULL},
      {0}};
  const cli_command cmd = {
      "bench",
      "Time forward passes on random input (224x224 unless --size); prints per-layer "
      "times and img_per_s.",
      "[options]",
      opts,
      0,
      0,
      NULL};
  const char *pos[1];
  int npos, rc = cli_parse(&cmd, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  if ((rc = cli_model_resolve(&mo, "bench")))
    return rc;
  char layer_buf[256];
  snprintf(layer_buf, sizeof layer_buf, "%s", layers);
  const char *names[R50_MAX_LAYERS];
  int nl;
  if (cli_parse_layers("bench", layer_buf, names, &nl))
    return CLI_EXIT_USAGE;
  r50_model *m = cli_model_new(&mo);
  if (!m)
    return 1;
  r50_error err = {0}; /* forward passes only: the engine's weights are the ones kept */
  if (!train && r50_model_inference_only(m, &err) != R50_OK) {
    fprintf(stderr, "r50worker bench: %s\n", err.msg);
    r50_model_free(m);
    return 1;
  }
  char desc[4200];
  cli_model_describe(&mo, desc, sizeof desc);
  printf("model %s; %s engine, %s; batch %d of %dx%d, %d thread%s, %s\n", desc,
         r50_model_engine(m), r50_precision_name(r50_model_precision(m)), batch, size,
         size, mo.threads, mo.threads == 1 ? "" : "s", train ? "training steps" : layers);
  r50_tensor x;
  fill_input(&x, batch, size);
  rc = !x.data ? 1
       : train ? run_train_bench(m, &x, seconds)
               : run_bench(m, &x, names, nl, seconds);
  free(x.data);
  r50_model_free(m);
  return rc;
}

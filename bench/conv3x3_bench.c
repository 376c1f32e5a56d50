/*
 * conv3x3_bench.c — the oneDNN engine's stride-1 3x3 convolutions of ResNet-50 (BN
 * folded, ReLU), timed through the engine interface with its Winograd kernels and
 * without (R50_ONEDNN_WINOGRAD=0: oneDNN's direct kernels), interleaved, at a batch of
 * 1 and of 8 (the engine's micro-batch at --batch 16). On AVX2 the Winograd ones are
 * the engine's own (src/cpu/winograd_avx2.c), on AVX-512 oneDNN's. Prints, per shape,
 * the median ms of each and their ratio, and the largest difference between the two
 * outputs relative to the largest output.
 *
 * usage: conv3x3_bench [THREADS] [ROUNDS]   (defaults: 2, 5)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engines.h"

static float frand(unsigned *s, float lo, float hi) {
  *s = *s * 1103515245u + 12345u;
  return lo + (hi - lo) * (float)((*s >> 8) & 0xffff) / 65535.0f;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median ms of `rounds` timed calls of conv c on x (after one untimed call). */
static double time_conv(const r50_engine *e, r50_engine_state *st, const r50_conv_desc *c,
                        const r50_act *x, r50_act *y, int rounds, float *out) {
  double t[64];
  r50_error err = {0};
  for (int r = -1; r < rounds; r++) { /* the first makes the primitive */
    const double t0 = r50_now_s();
    if (e->conv(st, c, x, y, NULL, 1, &err) != R50_OK) {
      fprintf(stderr, "conv3x3_bench: %s\n", err.msg);
      exit(1);
    }
    if (r >= 0)
      t[r] = (r50_now_s() - t0) * 1e3;
  }
  e->to_nchw(st, y, out);
  qsort(t, (size_t)rounds, sizeof *t, cmp);
  return t[rounds / 2];
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  rounds = rounds < 1 ? 1 : rounds > 64 ? 64 : rounds;
  const struct { int c, hw; } shapes[] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};
  const int batches[] = {1, 8};
  const r50_engine *e = r50_engine_onednn();
  printf("layer        batch  winograd ms  direct ms  ratio  max|diff|/max\n");
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (size_t bi = 0; bi < 2; bi++) {
      const int c = shapes[si].c, hw = shapes[si].hw, n = batches[bi];
      const size_t nx = (size_t)n * c * hw * hw, nw = (size_t)c * c * 9;
      unsigned seed = 1;
      float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w),
            *g = malloc((size_t)c * sizeof *g), *b = malloc((size_t)c * sizeof *b),
            *mu = calloc((size_t)c, sizeof *mu), *var = malloc((size_t)c * sizeof *var),
            *yw = malloc(nx * sizeof *yw), *yd = malloc(nx * sizeof *yd);
      for (size_t i = 0; i < nx; i++)
        x[i] = frand(&seed, 0, 2); /* post-ReLU-like */
      for (size_t i = 0; i < nw; i++)
        w[i] = frand(&seed, -0.05f, 0.05f);
      for (int i = 0; i < c; i++)
        g[i] = 1, b[i] = frand(&seed, -0.1f, 0.1f), var[i] = 1;
      /* one engine state each: oneDNN's primitives are made, Winograd or not, once */
      r50_engine_state *st[2] = {NULL, NULL}; /* Winograd, direct */
      r50_act xa[2], ya[2];
      const r50_conv_desc cd = {
          .id = 0, .cin = c, .cout = c, .ksize = 3, .stride = 1, .pad = 1};
      const r50_conv_params p = {w, NULL, g, b, mu, var, R50_BN_EPS, 0};
      for (int k = 0; k < 2; k++) {
        r50_error err = {0};
        float *act[R50_ACT_BUFS], *vec;
        if (e->create(threads, &st[k], &err) != R50_OK ||
            e->set_conv(st[k], &cd, &p, &err) != R50_OK ||
            e->reserve(st[k], nx, 16, act, &vec, &err) != R50_OK) {
          fprintf(stderr, "conv3x3_bench: %s\n", err.msg);
          return 1;
        }
        xa[k] = (r50_act){.data = act[0]}, ya[k] = (r50_act){.data = act[1]};
        e->from_nchw(st[k], x, n, c, hw, hw, &xa[k]);
      }
      double tw[8], td[8];
      const int reps = 3; /* interleaved: Winograd, direct, Winograd, ... */
      for (int r = 0; r < reps; r++) {
        unsetenv("R50_ONEDNN_WINOGRAD");
        tw[r] = time_conv(e, st[0], &cd, &xa[0], &ya[0], rounds, yw);
        setenv("R50_ONEDNN_WINOGRAD", "0", 1);
        td[r] = time_conv(e, st[1], &cd, &xa[1], &ya[1], rounds, yd);
      }
      qsort(tw, reps, sizeof *tw, cmp);
      qsort(td, reps, sizeof *td, cmp);
      double dmax = 0, ymax = 0;
      for (size_t i = 0; i < nx; i++)
        dmax = fmax(dmax, fabs((double)yw[i] - yd[i])),
        ymax = fmax(ymax, fabs((double)yd[i]));
      printf("%4d ch %3dx%-3d %4d  %10.3f  %9.3f  %5.2f  %.2e\n", c, hw, hw, n,
             tw[reps / 2], td[reps / 2], td[reps / 2] / tw[reps / 2],
             dmax / (ymax > 0 ? ymax : 1));
      e->destroy(st[0]);
      e->destroy(st[1]);
      free(x), free(w), free(g), free(b), free(mu), free(var), free(yw), free(yd);
    }
  return 0;
}

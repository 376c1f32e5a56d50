/*
 * context.c — the reference engine's thread count and reusable workspaces.
 */
#include "context.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void r50_cpu_ctx_init(r50_cpu_ctx *c, int threads) {
  memset(c, 0, sizeof *c);
  c->threads = threads > 0 ? threads : 1;
  /* Every SGEMM runs single-threaded inside the engine's own parallel regions: a
   * pthreads OpenBLAS would oversubscribe them, and an OpenMP one would split a call
   * of a 1-thread team across its own threads, which changes the rounding. */
  openblas_set_num_threads(1);
}

static void free_per_thread(float ***bufs, int *threads, size_t *cap) {
  for (int t = 0; t < *threads; t++)
    free((*bufs)[t]);
  free(*bufs);
  *bufs = NULL;
  *threads = 0;
  *cap = 0;
}

static void free_col(r50_cpu_ctx *c) {
  free_per_thread(&c->col, &c->col_threads, &c->col_cap);
}

void r50_cpu_ctx_release(r50_cpu_ctx *c) {
  for (int i = 0; i < R50_ACT_BUFS; i++)
    free(c->act[i]);
  free(c->vec);
  free_col(c);
  free_per_thread(&c->work, &c->work_threads, &c->work_cap);
  free(c->arena);
  free(c->zeros);
  memset(c, 0, sizeof *c);
}

static float *alloc_floats(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)))
    return NULL;
  return p;
}

r50_status r50_cpu_ctx_reserve(r50_cpu_ctx *c, size_t n, size_t v, r50_error *err) {
  if (n > c->act_cap) {
    for (int i = 0; i < R50_ACT_BUFS; i++) {
      free(c->act[i]);
      c->act[i] = NULL;
    }
    c->act_cap = 0;
    for (int i = 0; i < R50_ACT_BUFS; i++)
      if (!(c->act[i] = alloc_floats(n)))
        return r50_fail(err, R50_ERR_NOMEM,
                        "out of memory: %d activation buffers of %zu MiB", R50_ACT_BUFS,
                        n * sizeof(float) >> 20);
    c->act_cap = n;
  }
  if (v > c->vec_cap) {
    free(c->vec);
    c->vec_cap = 0;
    if (!(c->vec = alloc_floats(v)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for %zu output values", v);
    c->vec_cap = v;
  }
  return R50_OK;
}

static r50_status reserve_per_thread(r50_cpu_ctx *c, float ***bufs, int *threads,
                                     size_t *cap, size_t n, const char *what,
                                     r50_error *err) {
  if (n <= *cap && *threads == c->threads)
    return R50_OK;
  free_per_thread(bufs, threads, cap);
  *bufs = calloc((size_t)c->threads, sizeof **bufs);
  if (!*bufs)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for %s", what);
  *threads = c->threads;
  for (int t = 0; t < c->threads; t++) {
    if (!((*bufs)[t] = alloc_floats(n))) {
      free_per_thread(bufs, threads, cap);
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for %s (%zu MiB a thread)", what,
                      n * sizeof(float) >> 20);
    }
  }
  *cap = n;
  return R50_OK;
}

r50_status r50_cpu_ctx_reserve_col(r50_cpu_ctx *c, size_t n, r50_error *err) {
  return reserve_per_thread(c, &c->col, &c->col_threads, &c->col_cap, n, "im2col buffers",
                            err);
}

r50_status r50_cpu_ctx_reserve_work(r50_cpu_ctx *c, size_t n, r50_error *err) {
  return reserve_per_thread(c, &c->work, &c->work_threads, &c->work_cap, n,
                            "training workspaces", err);
}

r50_status r50_cpu_ctx_reserve_arena(r50_cpu_ctx *c, size_t n, r50_error *err) {
  if (n <= c->arena_cap)
    return R50_OK;
  free(c->arena);
  c->arena_cap = 0;
  if (!(c->arena = alloc_floats(n)))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory: a training step needs %zu MiB",
                    n * sizeof(float) >> 20);
  c->arena_cap = n;
  return R50_OK;
}

const float *r50_cpu_ctx_zeros(r50_cpu_ctx *c, size_t n, r50_error *err) {
  if (n > c->zeros_cap) {
    free(c->zeros);
    c->zeros_cap = 0;
    if (!(c->zeros = calloc(n, sizeof(float)))) {
      r50_fail(err, R50_ERR_NOMEM, "out of memory");
      return NULL;
    }
    c->zeros_cap = n;
  }
  return c->zeros;
}

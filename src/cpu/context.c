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

static void free_col(r50_cpu_ctx *c) {
  for (int t = 0; t < c->col_threads; t++)
    free(c->col[t]);
  free(c->col);
  c->col = NULL;
  c->col_threads = 0;
  c->col_cap = 0;
}

void r50_cpu_ctx_release(r50_cpu_ctx *c) {
  for (int i = 0; i < R50_ACT_BUFS; i++)
    free(c->act[i]);
  free(c->vec);
  free_col(c);
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

r50_status r50_cpu_ctx_reserve_col(r50_cpu_ctx *c, size_t n, r50_error *err) {
  if (n <= c->col_cap && c->col_threads == c->threads)
    return R50_OK;
  free_col(c);
  c->col = calloc((size_t)c->threads, sizeof *c->col);
  if (!c->col)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for im2col buffers");
  c->col_threads = c->threads;
  for (int t = 0; t < c->threads; t++) {
    if (!(c->col[t] = alloc_floats(n))) {
      free_col(c);
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for im2col buffers");
    }
  }
  c->col_cap = n;
  return R50_OK;
}

/*
 * profile_cuda.cu — where a GPU rank's time goes, per engine op (R50_CUDA_PROFILE=1):
 * each op's work on the engine's stream is bracketed by two CUDA events, and the
 * milliseconds between them are added up per op name; the table goes to stderr when
 * the engine is destroyed. An op's figure is the GPU's time from its first kernel's
 * start to its last one's end, so a gap where the GPU waited for the host shows in the
 * op that followed it. Each op's first call is reported apart from the rest (a lazy
 * library load, such as cuBLAS's at fc6's first call, lands there, in a benchmark's
 * warm-up step); its ms/call and share count the later calls only.
 * Off (the default), each bracket is one test of a NULL pointer.
 *
 * Rule: brackets do not nest (the engine's entry points open them, never its helpers),
 * and nothing here synchronises except when the event pool is full and at the report.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "context_cuda.h"

namespace {

constexpr int kPairs = 2048, kOps = 48;

} /* namespace */

struct r50_cuda_prof {
  cudaEvent_t start[kPairs], end[kPairs];
  const char *pending[kPairs];
  int n, open;
  const char *name[kOps];
  double ms[kOps], first[kOps]; /* all calls' ms; the first call's */
  long calls[kOps];
  int n_ops;
};

namespace {

void harvest(r50_cuda_prof *p) {
  if (p->n == 0)
    return;
  cudaEventSynchronize(p->end[p->n - 1]);
  for (int i = 0; i < p->n; i++) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, p->start[i], p->end[i]) != cudaSuccess)
      continue;
    int k = 0;
    while (k < p->n_ops && strcmp(p->name[k], p->pending[i]))
      k++;
    if (k == p->n_ops) {
      if (k == kOps)
        continue;
      p->name[p->n_ops++] = p->pending[i];
      p->first[k] = ms;
    }
    p->ms[k] += ms;
    p->calls[k]++;
  }
  p->n = 0;
  cudaGetLastError();
}

} /* namespace */

extern "C" void r50_cuda_prof_init(r50_engine_state *s) {
  const char *e = getenv("R50_CUDA_PROFILE");
  if (!e || !*e || !strcmp(e, "0"))
    return;
  r50_cuda_prof *p = (r50_cuda_prof *)calloc(1, sizeof *p);
  if (!p)
    return;
  for (int i = 0; i < kPairs; i++)
    if (cudaEventCreate(&p->start[i]) != cudaSuccess ||
        cudaEventCreate(&p->end[i]) != cudaSuccess) {
      fprintf(stderr, "R50_CUDA_PROFILE: cannot create CUDA events: no profile\n");
      for (int j = 0; j <= i; j++)
        cudaEventDestroy(p->start[j]), cudaEventDestroy(p->end[j]);
      cudaGetLastError();
      free(p);
      return;
    }
  s->prof = p;
}

extern "C" void r50_cuda_prof_begin(r50_engine_state *s) {
  r50_cuda_prof *p = s->prof;
  if (!p)
    return;
  if (p->n == kPairs)
    harvest(p);
  cudaEventRecord(p->start[p->n], s->stream);
  p->open = 1;
}

extern "C" void r50_cuda_prof_end(r50_engine_state *s, const char *op) {
  r50_cuda_prof *p = s->prof;
  if (!p || !p->open)
    return;
  cudaEventRecord(p->end[p->n], s->stream);
  p->pending[p->n++] = op;
  p->open = 0;
}

extern "C" void r50_cuda_prof_report(r50_engine_state *s) {
  r50_cuda_prof *p = s->prof;
  if (!p)
    return;
  harvest(p);
  double total = 0, later = 0; /* all calls; all but each op's first */
  for (int k = 0; k < p->n_ops; k++)
    total += p->ms[k], later += p->ms[k] - p->first[k];
  fprintf(stderr,
          "R50_CUDA_PROFILE: GPU %d, %.1f ms in engine ops, %.1f ms after each op's "
          "first call\n",
          s->device, total, later);
  fprintf(stderr, "%-28s %8s %12s %10s %10s %7s\n", "op", "calls", "total ms", "1st ms",
          "ms/call", "share");
  fprintf(stderr, "%-28s %8s %12s %10s %10s %7s\n", "", "", "", "", "(after 1st)",
          "(after)");
  int done[kOps] = {0};
  for (int r = 0; r < p->n_ops; r++) { /* largest first, after the first calls */
    int best = -1;
    for (int k = 0; k < p->n_ops; k++)
      if (!done[k] &&
          (best < 0 || p->ms[k] - p->first[k] > p->ms[best] - p->first[best]))
        best = k;
    done[best] = 1;
    const double rest = p->ms[best] - p->first[best];
    const long n = p->calls[best] - 1;
    fprintf(stderr, "%-28s %8ld %12.2f %10.4f %10.4f %6.1f%%\n", p->name[best],
            p->calls[best], p->ms[best], p->first[best], n > 0 ? rest / (double)n : 0.0,
            later > 0 ? 100.0 * rest / later : 0.0);
  }
  fprintf(stderr, "cuDNN's choices (algorithm: the search's ms, and its fastest's where "
                  "that was not deterministic) per convolution and input:\n");
  for (int i = 0; i < s->n_plans; i++) {
    const r50_cuda_plan *q = &s->plans[i];
    char part[3][48];
    const int algo[3] = {q->have_fwd ? (int)q->fwd : -1,
                         q->have_bwd_data ? (int)q->bwd_data : -1,
                         q->have_bwd_filter ? (int)q->bwd_filter : -1};
    for (int d = 0; d < 3; d++) {
      if (algo[d] < 0)
        snprintf(part[d], sizeof part[d], "-");
      else if (q->best_ms[d] < q->ms[d])
        snprintf(part[d], sizeof part[d], "%d: %.3f (%.3f)", algo[d], q->ms[d],
                 q->best_ms[d]);
      else
        snprintf(part[d], sizeof part[d], "%d: %.3f", algo[d], q->ms[d]);
    }
    fprintf(stderr,
            "  %dx%d/%d %4d->%-4d on %lldx%lldx%lld %s%s: fwd %s, bwd data %s, "
            "bwd filter %s\n",
            q->k, q->k, q->stride, q->cin, q->cout, (long long)q->n, (long long)q->h,
            (long long)q->w, q->dtype == R50_CUDA_BF16 ? "bf16" : "f32",
            q->math == CUDNN_FMA_MATH ? "" : " (tensor ops)", part[0], part[1], part[2]);
  }
  for (int i = 0; i < kPairs; i++)
    cudaEventDestroy(p->start[i]), cudaEventDestroy(p->end[i]);
  cudaGetLastError();
  free(p);
  s->prof = NULL;
}

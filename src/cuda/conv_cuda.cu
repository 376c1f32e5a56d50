/*
 * conv_cuda.cu — convolutions on cuDNN: one plan per (convolution, input shape, type,
 * math mode) with its descriptors, and its forward, backward-data and
 * backward-filter algorithms chosen once, on first use, with the buffers of that
 * call — by cuDNN's timed search (cudnnFind*AlgorithmEx, as PyTorch's
 * cudnn.benchmark) or, with R50_CUDNN_SEARCH=heuristic, by its heuristics, which
 * choose the same algorithm in every run. Backward algorithms are deterministic ones
 * where cuDNN has one for the shape, unless R50_CUDNN_DETERMINISTIC=0 (the fastest,
 * as PyTorch's default). Activations and filters are NHWC (KRSC).
 *
 * Rule: one workspace of ws_limit bytes, allocated with the first plan; an algorithm
 * needing more is never chosen.
 */
#include <cstdio>
#include <cstring>

#include "context_cuda.h"
#include "kernels_cuda.h"

namespace {

const float kOne = 1.0f, kZero = 0.0f;

cudnnDataType_t dnn_type(r50_cuda_dtype t) {
  return t == R50_CUDA_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

r50_status make_descriptors(r50_cuda_plan *p, r50_error *err) {
  const cudnnDataType_t dt = dnn_type(p->dtype);
  R50_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x), err);
  R50_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y), err);
  R50_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->f), err);
  R50_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv), err);
  R50_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, dt, (int)p->n,
                                             p->cin, (int)p->h, (int)p->w),
                  err);
  R50_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, dt, (int)p->n,
                                             p->cout, (int)p->ho, (int)p->wo),
                  err);
  R50_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->f, dt, CUDNN_TENSOR_NHWC, p->cout, p->cin,
                                             p->k, p->k),
                  err);
  R50_CUDNN_CHECK(
      cudnnSetConvolution2dDescriptor(p->conv, p->pad, p->pad, p->stride, p->stride, 1, 1,
                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
      err);
  R50_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->math), err);
  int n, c, h, w;
  R50_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->f, &n, &c, &h, &w), err);
  if (n != p->n || c != p->cout || h != p->ho || w != p->wo)
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "cuDNN's output of a %dx%d/%d convolution on %lldx%lld is %dx%d, "
                    "the model table's %lldx%lld",
                    p->k, p->k, p->stride, (long long)p->h, (long long)p->w, h, w,
                    (long long)p->ho, (long long)p->wo);
  return R50_OK;
}

void destroy(r50_cuda_plan *p) {
  if (p->x)
    cudnnDestroyTensorDescriptor(p->x);
  if (p->y)
    cudnnDestroyTensorDescriptor(p->y);
  if (p->f)
    cudnnDestroyFilterDescriptor(p->f);
  if (p->conv)
    cudnnDestroyConvolutionDescriptor(p->conv);
}

/* The first usable result: sorted fastest first by cuDNN; with prefer_det, the first
 * deterministic one if any is usable. -1 if none. */
template <typename Perf> int pick(const Perf *perf, int n, size_t limit, int prefer_det) {
  int first = -1;
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit)
      continue;
    if (first < 0)
      first = i;
    if (!prefer_det || perf[i].determinism == CUDNN_DETERMINISTIC)
      return i;
  }
  return first;
}

r50_status no_algorithm(const r50_cuda_plan *p, const char *what, size_t ws,
                        r50_error *err) {
  return r50_fail(
      err, R50_ERR_UNSUPPORTED,
      "cuDNN has no %s algorithm for a %dx%d/%d convolution %d->%d on %lldx%lldx%lld "
      "within the %zu-MiB workspace (R50_CUDNN_WORKSPACE_MB)",
      what, p->k, p->k, p->stride, p->cin, p->cout, (long long)p->n, (long long)p->h,
      (long long)p->w, ws >> 20);
}

/* A strided 1x1 convolution's backward data. cuDNN's own is slow for it in float32
 * (5.5 ms where the forward takes 0.5, at 256->128 on 128x56x56 on an H200), so it is
 * the stride-1 1x1 backward data on the output's grid (one GEMM), put at every
 * stride-th pixel of dx with zeros between: the same sums. */
r50_status strided_1x1_backward_data(r50_engine_state *s, const r50_cuda_plan *p,
                                     const void *w, const void *dy, void *dx,
                                     r50_error *err) {
  const r50_cuda_plan q = *p; /* (p lives in s->plans, which plan_get may move) */
  r50_conv_desc d = {};
  d.cin = q.cin, d.cout = q.cout, d.ksize = 1, d.stride = 1, d.pad = 0;
  r50_cuda_plan *sub = NULL;
  R50_TRY(r50_cuda_plan_get(s, &d, q.n, q.ho, q.wo, q.dtype, q.math, &sub, err));
  const size_t bytes = (size_t)(q.n * q.ho * q.wo * q.cin) * r50_cuda_dtype_size(q.dtype);
  R50_TRY(r50_cuda_grow(&s->unstride, &s->unstride_bytes, bytes,
                        "a strided convolution's input gradient", err));
  R50_TRY(r50_cuda_conv_backward_data(s, sub, w, dy, s->unstride, err));
  R50_PROF(s, "conv backward data: unstride");
  r50k_unstride(s->unstride, dx, q.dtype, q.n, q.cin, q.h, q.w, q.ho, q.wo, q.stride,
                s->stream);
  return R50_OK;
}

} /* namespace */

extern "C" cudnnMathType_t r50_cuda_math(r50_precision p) {
  return p == R50_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

extern "C" r50_status r50_cuda_plan_get(r50_engine_state *s, const r50_conv_desc *c,
                                        int64_t n, int64_t h, int64_t w, r50_cuda_dtype t,
                                        cudnnMathType_t math, r50_cuda_plan **out,
                                        r50_error *err) {
  for (int i = 0; i < s->n_plans; i++) {
    r50_cuda_plan *p = &s->plans[i];
    if (p->cin == c->cin && p->cout == c->cout && p->k == c->ksize &&
        p->stride == c->stride && p->pad == c->pad && p->n == n && p->h == h &&
        p->w == w && p->dtype == t && p->math == math) {
      *out = p;
      return R50_OK;
    }
  }
  if (n * (c->cin > c->cout ? c->cin : c->cout) * h * w >= ((int64_t)1 << 31))
    return r50_fail(err, R50_ERR_ARG,
                    "a batch of %lld images of %lldx%lld is too large for one cuDNN "
                    "convolution (2^31 elements): lower --batch",
                    (long long)n, (long long)h, (long long)w);
  if (!s->ws) { /* the workspace, once */
    R50_TRY(r50_cuda_grow(&s->ws, &s->ws_bytes, s->ws_limit, "the cuDNN workspace", err));
  }
  if (s->n_plans == s->cap_plans) {
    const int cap = s->cap_plans ? 2 * s->cap_plans : 64;
    void *q = realloc(s->plans, (size_t)cap * sizeof *s->plans);
    if (!q)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for convolution plans");
    s->plans = (r50_cuda_plan *)q;
    s->cap_plans = cap;
  }
  r50_cuda_plan *p = &s->plans[s->n_plans];
  memset(p, 0, sizeof *p);
  p->cin = c->cin, p->cout = c->cout, p->k = c->ksize, p->stride = c->stride,
  p->pad = c->pad;
  p->n = n, p->h = h, p->w = w, p->dtype = t, p->math = math;
  p->ho = r50_out_size(h, c->ksize, c->stride, c->pad, 0);
  p->wo = r50_out_size(w, c->ksize, c->stride, c->pad, 0);
  r50_status st = make_descriptors(p, err);
  if (st != R50_OK) {
    destroy(p);
    return st;
  }
  s->n_plans++;
  *out = p;
  return R50_OK;
}

extern "C" r50_status r50_cuda_conv_forward(r50_engine_state *s, r50_cuda_plan *p,
                                            const void *x, const void *w, void *y,
                                            r50_error *err) {
  if (!p->have_fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    if (s->search)
      R50_CUDNN_CHECK(
          cudnnFindConvolutionForwardAlgorithmEx(s->dnn, p->x, x, p->f, w, p->conv, p->y,
                                                 y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                 &got, perf, s->ws, s->ws_bytes),
          err);
    else
      R50_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
                          s->dnn, p->x, p->f, p->conv, p->y,
                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf),
                      err);
    const int i = pick(perf, got, s->ws_bytes, 0);
    if (i < 0)
      return no_algorithm(p, "forward", s->ws_bytes, err);
    p->ms[0] = perf[i].time, p->best_ms[0] = perf[pick(perf, got, s->ws_bytes, 0)].time;
    p->fwd = perf[i].algo;
    p->have_fwd = 1;
  }
  R50_PROF(s, "cuDNN convolution forward"); /* (not the search above) */
  R50_CUDNN_CHECK(cudnnConvolutionForward(s->dnn, &kOne, p->x, x, p->f, w, p->conv,
                                          p->fwd, s->ws, s->ws_bytes, &kZero, p->y, y),
                  err);
  return R50_OK;
}

extern "C" r50_status r50_cuda_conv_backward_data(r50_engine_state *s, r50_cuda_plan *p,
                                                  const void *w, const void *dy, void *dx,
                                                  r50_error *err) {
  if (p->k == 1 && p->pad == 0 && p->stride > 1 && p->dtype == R50_CUDA_F32)
    return strided_1x1_backward_data(s, p, w, dy, dx, err);
  if (!p->have_bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    if (s->search)
      R50_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
                          s->dnn, p->f, w, p->y, dy, p->conv, p->x, dx,
                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf, s->ws,
                          s->ws_bytes),
                      err);
    else
      R50_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                          s->dnn, p->f, p->y, p->conv, p->x,
                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf),
                      err);
    const int i = pick(perf, got, s->ws_bytes, s->deterministic);
    if (i < 0)
      return no_algorithm(p, "backward-data", s->ws_bytes, err);
    p->ms[1] = perf[i].time, p->best_ms[1] = perf[pick(perf, got, s->ws_bytes, 0)].time;
    p->bwd_data = perf[i].algo;
    p->have_bwd_data = 1;
  }
  R50_PROF(s, "cuDNN convolution backward data"); /* (not the search above) */
  R50_CUDNN_CHECK(cudnnConvolutionBackwardData(s->dnn, &kOne, p->f, w, p->y, dy, p->conv,
                                               p->bwd_data, s->ws, s->ws_bytes, &kZero,
                                               p->x, dx),
                  err);
  return R50_OK;
}

extern "C" r50_status r50_cuda_conv_backward_filter(r50_engine_state *s, r50_cuda_plan *p,
                                                    const void *x, const void *dy,
                                                    void *dw, r50_error *err) {
  if (!p->have_bwd_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    if (s->search)
      R50_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                          s->dnn, p->x, x, p->y, dy, p->conv, p->f, dw,
                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf, s->ws,
                          s->ws_bytes),
                      err);
    else
      R50_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                          s->dnn, p->x, p->y, p->conv, p->f,
                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf),
                      err);
    const int i = pick(perf, got, s->ws_bytes, s->deterministic);
    if (i < 0)
      return no_algorithm(p, "backward-filter", s->ws_bytes, err);
    p->ms[2] = perf[i].time, p->best_ms[2] = perf[pick(perf, got, s->ws_bytes, 0)].time;
    p->bwd_filter = perf[i].algo;
    p->have_bwd_filter = 1;
  }
  R50_PROF(s, "cuDNN convolution backward filter"); /* (not the search above) */
  R50_CUDNN_CHECK(cudnnConvolutionBackwardFilter(s->dnn, &kOne, p->x, x, p->y, dy,
                                                 p->conv, p->bwd_filter, s->ws,
                                                 s->ws_bytes, &kZero, p->f, dw),
                  err);
  return R50_OK;
}

extern "C" void r50_cuda_plans_free(r50_engine_state *s) {
  for (int i = 0; i < s->n_plans; i++)
    destroy(&s->plans[i]);
  free(s->plans);
  s->plans = NULL;
  s->n_plans = s->cap_plans = 0;
}

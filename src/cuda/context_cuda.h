/*
 * context_cuda.h — the CUDA engine's state (the one explicit context every .cu file
 * of the engine works on): its device, stream and library handles, the inference
 * weights it derives, its buffers, its cuDNN plans and its training copies.
 *
 * Rule: all device memory the engine uses is allocated here and grown, never shrunk,
 * so that a forward or a step of a shape already seen allocates nothing; every
 * CUDA, cuDNN and cuBLAS call is checked (R50_CUDA_CHECK, R50_CUDNN_CHECK,
 * R50_CUBLAS_CHECK) and ops that cannot return a status (the engine interface's
 * void slots) keep their first error for the next call that can (r50_cuda_take_error).
 */
#ifndef R50_CONTEXT_CUDA_H
#define R50_CONTEXT_CUDA_H

#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#include "cublas_lazy.h"
#include "cuda_check.h"
#include "error.h"
#include "kernels_cuda.h"
#ifdef __cplusplus
extern "C" { /* core's headers are C */
#endif
#include "engine.h"
#include "table.h"
#ifdef __cplusplus
}
#endif

/* A convolution's cuDNN descriptors and chosen algorithms for one input shape,
 * data type and math mode. */
typedef struct r50_cuda_plan {
  int cin, cout, k, stride, pad; /* the convolution */
  int64_t n, h, w, ho, wo;       /* its input and output */
  r50_cuda_dtype dtype;
  cudnnMathType_t math;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t f;
  cudnnConvolutionDescriptor_t conv;
  int have_fwd, have_bwd_data, have_bwd_filter;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  float ms[3], best_ms[3]; /* the search's time of the chosen and of the fastest */
} r50_cuda_plan;

/* Inference weights of one convolution: BN folded, KRSC, in the activations' type. */
typedef struct r50_cuda_conv {
  void *w;     /* (cout, k, k, cin) */
  float *bias; /* (cout) */
  size_t w_bytes;
} r50_cuda_conv;

typedef struct r50_cuda_prof r50_cuda_prof; /* profile_cuda.cu */

struct r50_engine_state {
  int device;
  cudaStream_t stream;
  cudnnHandle_t dnn;
  cublasHandle_t blas;
  r50_precision precision;
  r50_cuda_dtype act; /* inference activations: F32, or BF16 with R50_PRECISION_BF16 */
  int search;         /* 1: cuDNN's timed search (Find); 0: its heuristics */
  int deterministic;  /* backward: deterministic algorithms where cuDNN has one */
  char error[1024];   /* the first error of a void op since the last take, or "" */

  /* inference weights */
  r50_cuda_conv *convs;
  int n_convs;
  float *stage; /* raw parameters of one conv on their way to the fold */
  size_t stage_bytes;
  float *lin_w, *lin_b;
  int64_t lin_out, lin_in;
  size_t lin_bytes;

  /* buffers */
  void *act_buf[R50_ACT_BUFS];
  size_t act_bytes;
  float *vec;
  size_t vec_bytes;
  float *io; /* float NCHW staging for from_nchw / to_nchw */
  size_t io_bytes;
  void *ws; /* cuDNN workspace, sized once (ws_limit) */
  size_t ws_bytes, ws_limit;
  r50_cuda_plan *plans;
  int n_plans, cap_plans;

  /* training */
  r50_slabs host, dev; /* the model's host slabs at bind, and their copies here */
  float *arena;
  size_t arena_bytes;
  void **krsc; /* (n_krsc) per conv id: its training weights, KRSC in the act type */
  size_t *krsc_bytes;
  int n_krsc;
  void *dw; /* a weight gradient (KRSC, act type) before it is added to the slab */
  size_t dw_bytes;
  double *bn_work;
  size_t bn_work_bytes;
  void *pool_arg; /* max pooling backward: each output's first maximum (a byte) */
  size_t pool_arg_bytes;
  void *unstride; /* a strided 1x1 conv's input gradient on its output's grid */
  size_t unstride_bytes;
  int32_t *labels;
  double *loss;
  int *hit;
  size_t rows_cap;

  r50_cuda_prof *prof; /* R50_CUDA_PROFILE=1: per-op GPU times, else NULL */
};

#ifdef __cplusplus
extern "C" {
#endif

r50_status r50_cudnn_fail(cudnnStatus_t code, const char *call, const char *file,
                          int line, r50_error *err);
r50_status r50_cublas_fail(cublasStatus_t code, const char *call, const char *file,
                           int line, r50_error *err);

/* Grows *p (device memory, *bytes) to at least `need` bytes. */
r50_status r50_cuda_grow(void **p, size_t *bytes, size_t need, const char *what,
                         r50_error *err);
/* Records the first failure of a void op (a launch, a copy). */
void r50_cuda_note(r50_engine_state *s, cudaError_t code, const char *what);
/* The error recorded since the last call (and the launch status now), as a status. */
r50_status r50_cuda_take_error(r50_engine_state *s, r50_error *err);

/* conv_cuda.cu: the plan of convolution c on an n x h x w input, made (descriptors,
 * algorithms found with x, w and y as scratch) on first use. */
r50_status r50_cuda_plan_get(r50_engine_state *s, const r50_conv_desc *c, int64_t n,
                             int64_t h, int64_t w, r50_cuda_dtype t, cudnnMathType_t math,
                             r50_cuda_plan **out, r50_error *err);
/* y = conv(x; w) (no bias), KRSC w of the plan's type. */
r50_status r50_cuda_conv_forward(r50_engine_state *s, r50_cuda_plan *p, const void *x,
                                 const void *w, void *y, r50_error *err);
/* dx = conv's backward data; dw = its weight gradient (overwritten, KRSC). */
r50_status r50_cuda_conv_backward_data(r50_engine_state *s, r50_cuda_plan *p,
                                       const void *w, const void *dy, void *dx,
                                       r50_error *err);
r50_status r50_cuda_conv_backward_filter(r50_engine_state *s, r50_cuda_plan *p,
                                         const void *x, const void *dy, void *dw,
                                         r50_error *err);
void r50_cuda_plans_free(r50_engine_state *s);
/* The math mode of this precision: FMA (exact float32), TF32 or bf16 tensor ops. */
cudnnMathType_t r50_cuda_math(r50_precision p);

/* profile_cuda.cu: with R50_CUDA_PROFILE=1, the GPU time of the work issued between
 * begin and end is added to op's (a string literal); the report (stderr) at destroy. */
void r50_cuda_prof_init(r50_engine_state *s);
void r50_cuda_prof_begin(r50_engine_state *s);
void r50_cuda_prof_end(r50_engine_state *s, const char *op);
void r50_cuda_prof_report(r50_engine_state *s);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
/* The rest of the enclosing scope, early returns too, counted as op. */
struct r50_prof_scope {
  r50_engine_state *s;
  const char *op;
  r50_prof_scope(r50_engine_state *s_, const char *op_) : s(s_), op(op_) {
    r50_cuda_prof_begin(s);
  }
  ~r50_prof_scope() {
    r50_cuda_prof_end(s, op);
  }
};
#define R50_PROF(s, op) r50_prof_scope r50_prof_scope_((s), (op))
#endif

#define R50_CUDNN_CHECK(call, err)                                                       \
  do {                                                                                   \
    cudnnStatus_t r50_cudnn_rc_ = (call);                                                \
    if (r50_cudnn_rc_ != CUDNN_STATUS_SUCCESS)                                           \
      return r50_cudnn_fail(r50_cudnn_rc_, #call, __FILE__, __LINE__, (err));            \
  } while (0)

#define R50_CUBLAS_CHECK(call, err)                                                      \
  do {                                                                                   \
    cublasStatus_t r50_cublas_rc_ = (call);                                              \
    if (r50_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                         \
      return r50_cublas_fail(r50_cublas_rc_, #call, __FILE__, __LINE__, (err));          \
  } while (0)

#endif

/*
 * engine_cuda.cu — the CUDA engine: the r50_engine table on one GPU, driven by the
 * same model table and layer walk as the CPU engines (core/forward.c, core/train.c).
 *
 * Inference: every convolution is cuDNN's (conv_cuda.cu) on NHWC activations with
 * its BatchNormalization folded into KRSC weights on the device (r50k_fold), then one
 * epilogue kernel adds the bias and the residual and applies the ReLU; pooling,
 * softmax and the layout changes are kernels of kernels_cuda.cu; fc6 is cuBLAS's
 * SGEMM. --precision fp32 runs cuDNN's FMA kernels (float32 throughout), tf32 its
 * tensor-op kernels on float32 data, bf16 bfloat16 activations and weights (cuDNN
 * accumulates in float32 and rounds its output to bfloat16; the epilogue works in
 * float32 and rounds again; pool5, fc6 and prob float32).
 * Training ops are in train_cuda.cu.
 *
 * Rule: everything runs on the engine's one stream, in order; the host waits only
 * where it reads a result (to_nchw, vec_to_host, sync, the loss).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "context_cuda.h"
#include "engine_cuda.h"
#include "error.h"

/* ------------------------------------------------------------------ helpers */

extern "C" r50_status r50_cuda_grow(void **p, size_t *bytes, size_t need,
                                    const char *what, r50_error *err) {
  if (*p && *bytes >= need)
    return R50_OK;
  if (*p)
    cudaFree(*p);
  *p = NULL;
  *bytes = 0;
  cudaError_t rc = cudaMalloc(p, need ? need : 1);
  if (rc != cudaSuccess) {
    *p = NULL;
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    return r50_fail(err, R50_ERR_NOMEM,
                    "out of GPU memory for %s: %zu MiB asked, %zu of %zu MiB free (HINT: "
                    "lower --batch)",
                    what, need >> 20, free_b >> 20, total_b >> 20);
  }
  *bytes = need;
  return R50_OK;
}

extern "C" void r50_cuda_note(r50_engine_state *s, cudaError_t code, const char *what) {
  if (code != cudaSuccess && !s->error[0])
    snprintf(s->error, sizeof s->error, "%s: %s", what, cudaGetErrorString(code));
}

extern "C" r50_status r50_cuda_take_error(r50_engine_state *s, r50_error *err) {
  r50_cuda_note(s, cudaGetLastError(), "a kernel launch");
  if (!s->error[0])
    return R50_OK;
  int rank;
  const char *host;
  r50_log_identity(&rank, &host);
  r50_status st = r50_fail(err, R50_ERR_DEVICE, "rank %d (%s) GPU %d: %s", rank, host,
                           s->device, s->error);
  s->error[0] = 0;
  return st;
}

/* Every entry point runs on the engine's device, whatever the thread's current one. */
static void on_device(r50_engine_state *s) {
  r50_cuda_note(s, cudaSetDevice(s->device), "cudaSetDevice");
}

#define GROW(ptr, bytes, need, what, err)                                                \
  r50_cuda_grow((void **)&(ptr), &(bytes), (need), (what), (err))

/* ------------------------------------------------------------------ lifetime */

static size_t workspace_limit(void) {
  const char *e = getenv("R50_CUDNN_WORKSPACE_MB");
  long mb = e ? strtol(e, NULL, 10) : 0;
  return (size_t)(mb > 0 ? mb : 1024) << 20;
}

static r50_status cuda_create(int threads, r50_engine_state **out, r50_error *err) {
  (void)threads;
  r50_engine_state *s = (r50_engine_state *)calloc(1, sizeof *s);
  if (!s)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for the CUDA engine");
  *out = NULL;
  r50_status st = R50_OK;
  cudaError_t rc = cudaGetDevice(&s->device);
  if (rc == cudaSuccess)
    rc = cudaSetDevice(s->device);
  if (rc == cudaSuccess)
    rc = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
  if (rc != cudaSuccess)
    st = r50_cuda_fail(rc, "creating the CUDA engine's stream", __FILE__, __LINE__, err);
  if (st == R50_OK && cudnnCreate(&s->dnn) != CUDNN_STATUS_SUCCESS)
    st = r50_fail(err, R50_ERR_DEVICE,
                  "cudnnCreate failed on GPU %d (is cuDNN 9 installed "
                  "for this CUDA?)",
                  s->device);
  if (st == R50_OK && !r50_cublas_load(err))
    st = R50_ERR_DEVICE;
  if (st == R50_OK && r50_cublas()->create(&s->blas) != CUBLAS_STATUS_SUCCESS)
    st = r50_fail(err, R50_ERR_DEVICE, "cublasCreate failed on GPU %d", s->device);
  if (st == R50_OK &&
      (cudnnSetStream(s->dnn, s->stream) != CUDNN_STATUS_SUCCESS ||
       r50_cublas()->set_stream(s->blas, s->stream) != CUBLAS_STATUS_SUCCESS))
    st = r50_fail(err, R50_ERR_DEVICE, "binding cuDNN and cuBLAS to the engine's stream");
  if (st != R50_OK) {
    r50_engine_cuda()->destroy(s);
    return st;
  }
  const char *search = getenv("R50_CUDNN_SEARCH");
  s->search = !(search && !strcmp(search, "heuristic"));
  const char *det = getenv("R50_CUDNN_DETERMINISTIC");
  s->deterministic = !(det && !strcmp(det, "0"));
  s->ws_limit = workspace_limit();
  s->precision = R50_PRECISION_FP32;
  s->act = R50_CUDA_F32;
  r50_cublas()->set_math_mode(s->blas, CUBLAS_DEFAULT_MATH);
  r50_cuda_prof_init(s);
  *out = s;
  return R50_OK;
}

static void free_training(r50_engine_state *s) {
  cudaFree(s->dev.params), cudaFree(s->dev.grads), cudaFree(s->dev.persistent);
  cudaFree(s->dev.velocity);
  cudaFree(s->arena), cudaFree(s->dw), cudaFree(s->bn_work), cudaFree(s->pool_arg);
  cudaFree(s->unstride);
  cudaFree(s->labels), cudaFree(s->loss), cudaFree(s->hit);
  for (int i = 0; i < s->n_krsc; i++)
    cudaFree(s->krsc[i]);
  free(s->krsc);
  free(s->krsc_bytes);
}

static void cuda_destroy(r50_engine_state *s) {
  if (!s)
    return;
  cudaSetDevice(s->device);
  if (s->stream)
    cudaStreamSynchronize(s->stream);
  r50_cuda_prof_report(s);
  for (int i = 0; i < s->n_convs; i++)
    cudaFree(s->convs[i].w), cudaFree(s->convs[i].bias);
  free(s->convs);
  cudaFree(s->stage), cudaFree(s->lin_w), cudaFree(s->lin_b);
  for (int i = 0; i < R50_ACT_BUFS; i++)
    cudaFree(s->act_buf[i]);
  cudaFree(s->vec), cudaFree(s->io), cudaFree(s->ws);
  r50_cuda_plans_free(s);
  free_training(s);
  if (s->blas)
    r50_cublas()->destroy(s->blas);
  if (s->dnn)
    cudnnDestroy(s->dnn);
  if (s->stream)
    cudaStreamDestroy(s->stream);
  cudaGetLastError();
  free(s);
}

static void cuda_set_threads(r50_engine_state *s, int threads) {
  (void)s, (void)threads; /* the host threads of a GPU rank decode images */
}

static r50_precision cuda_set_precision(r50_engine_state *s, r50_precision p) {
  on_device(s);
  cudaDeviceProp prop;
  int tensor =
      cudaGetDeviceProperties(&prop, s->device) == cudaSuccess && prop.major >= 8;
  if (p != R50_PRECISION_FP32 && !tensor)
    p = R50_PRECISION_FP32; /* TF32 and bf16 tensor cores need compute capability 8.0 */
  if (p != s->precision) {
    /* the folded weights are of the old type: set_conv makes them again */
    for (int i = 0; i < s->n_convs; i++)
      cudaFree(s->convs[i].w), s->convs[i].w = NULL, s->convs[i].w_bytes = 0;
  }
  s->precision = p;
  s->act = p == R50_PRECISION_BF16 ? R50_CUDA_BF16 : R50_CUDA_F32;
  r50_cublas()->set_math_mode(s->blas, p == R50_PRECISION_TF32
                                           ? CUBLAS_TF32_TENSOR_OP_MATH
                                           : CUBLAS_DEFAULT_MATH);
  return p;
}

/* ------------------------------------------------------------------ parameters */

static r50_status upload(r50_engine_state *s, float *dst, const float *src, int64_t n,
                         r50_error *err) {
  R50_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float),
                                 cudaMemcpyHostToDevice, s->stream),
                 err);
  return R50_OK;
}

static r50_status cuda_set_conv(r50_engine_state *s, const r50_conv_desc *c,
                                const r50_conv_params *p, r50_error *err) {
  on_device(s);
  if (c->id >= s->n_convs) {
    void *q = realloc(s->convs, (size_t)(c->id + 1) * sizeof *s->convs);
    if (!q)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    s->convs = (r50_cuda_conv *)q;
    memset(s->convs + s->n_convs, 0, (size_t)(c->id + 1 - s->n_convs) * sizeof *s->convs);
    s->n_convs = c->id + 1;
  }
  r50_cuda_conv *f = &s->convs[c->id];
  const int64_t nw = (int64_t)c->cout * c->cin * c->ksize * c->ksize, co = c->cout;
  R50_TRY(GROW(f->w, f->w_bytes, (size_t)nw * r50_cuda_dtype_size(s->act),
               "folded weights", err));
  size_t bias_bytes = f->bias ? (size_t)co * sizeof(float) : 0;
  R50_TRY(GROW(f->bias, bias_bytes, (size_t)co * sizeof(float), "folded biases", err));
  /* raw w | b | gamma | beta | mean | var, then the fold */
  R50_TRY(GROW(s->stage, s->stage_bytes, (size_t)(nw + 5 * co) * sizeof(float),
               "parameter staging", err));
  float *w = s->stage, *b = w + nw, *gamma = b + co, *beta = gamma + co,
        *mean = beta + co, *var = mean + co;
  R50_TRY(upload(s, w, p->w, nw, err));
  if (p->b)
    R50_TRY(upload(s, b, p->b, co, err));
  R50_TRY(upload(s, gamma, p->gamma, co, err));
  R50_TRY(upload(s, beta, p->beta, co, err));
  R50_TRY(upload(s, mean, p->mean, co, err));
  R50_TRY(upload(s, var, p->var, co, err));
  r50k_fold(w, p->b ? b : NULL, gamma, beta, mean, var, p->eps, co, c->cin, c->ksize,
            f->w, s->act, f->bias, s->stream);
  return r50_cuda_take_error(s, err);
}

static r50_status cuda_set_linear(r50_engine_state *s, const float *w, const float *b,
                                  int64_t cout, int64_t cin, r50_error *err) {
  on_device(s);
  size_t bb = s->lin_b ? (size_t)s->lin_out * sizeof(float) : 0;
  R50_TRY(GROW(s->lin_w, s->lin_bytes, (size_t)(cout * cin) * sizeof(float), "fc6", err));
  R50_TRY(GROW(s->lin_b, bb, (size_t)cout * sizeof(float), "fc6", err));
  R50_TRY(upload(s, s->lin_w, w, cout * cin, err));
  R50_TRY(upload(s, s->lin_b, b, cout, err));
  s->lin_out = cout, s->lin_in = cin;
  return R50_OK;
}

/* ------------------------------------------------------------------ buffers, layout */

static r50_status cuda_reserve(r50_engine_state *s, size_t act_floats, size_t vec_floats,
                               float *act[R50_ACT_BUFS], float **vec, r50_error *err) {
  on_device(s);
  const size_t need = act_floats * sizeof(float);
  if (s->act_bytes < need) {
    for (int i = 0; i < R50_ACT_BUFS; i++) {
      size_t b = s->act_bytes;
      R50_TRY(GROW(s->act_buf[i], b, need, "activations", err));
    }
    s->act_bytes = need;
  }
  R50_TRY(GROW(s->vec, s->vec_bytes, vec_floats * sizeof(float), "pool5/fc6/prob", err));
  for (int i = 0; i < R50_ACT_BUFS; i++)
    act[i] = (float *)s->act_buf[i];
  *vec = s->vec;
  return R50_OK;
}

/* The staging buffer for n floats, or NULL (the error noted). */
static float *io_buffer(r50_engine_state *s, int64_t n) {
  r50_error err;
  if (GROW(s->io, s->io_bytes, (size_t)n * sizeof(float), "layout staging", &err) !=
      R50_OK) {
    if (!s->error[0])
      snprintf(s->error, sizeof s->error, "%s", err.msg);
    return NULL;
  }
  return s->io;
}

/* Activations are in the inference type, or float32 while training (a model trains in
 * fp32 or tf32: act is F32 then). */
static void cuda_from_nchw(r50_engine_state *s, const float *src, int64_t n, int64_t c,
                           int64_t h, int64_t w, r50_act *dst) {
  on_device(s);
  R50_PROF(s, "input: copy, layout");
  *dst = (r50_act){dst->data, c, n, h, w};
  float *io = io_buffer(s, n * c * h * w);
  if (!io)
    return;
  r50_cuda_note(s,
                cudaMemcpyAsync(io, src, (size_t)(n * c * h * w) * sizeof(float),
                                cudaMemcpyHostToDevice, s->stream),
                "copying the input to the GPU");
  r50k_nchw_to_nhwc(io, dst->data, s->act, n, c, h, w, s->stream);
}

static void cuda_to_nchw(r50_engine_state *s, const r50_act *src, float *dst) {
  on_device(s);
  R50_PROF(s, "output: layout, copy");
  const int64_t n = r50_act_numel(src);
  float *io = io_buffer(s, n);
  if (!io)
    return;
  r50k_nhwc_to_nchw(src->data, s->act, io, src->n, src->c, src->h, src->w, s->stream);
  r50_cuda_note(s,
                cudaMemcpyAsync(dst, io, (size_t)n * sizeof(float),
                                cudaMemcpyDeviceToHost, s->stream),
                "copying a layer's output from the GPU");
  r50_cuda_note(s, cudaStreamSynchronize(s->stream), "waiting for the GPU");
}

static void cuda_vec_to_host(r50_engine_state *s, const float *src, size_t n,
                             float *dst) {
  on_device(s);
  R50_PROF(s, "vector to the host");
  r50_cuda_note(
      s, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, s->stream),
      "copying a vector from the GPU");
  r50_cuda_note(s, cudaStreamSynchronize(s->stream), "waiting for the GPU");
}

static void cuda_vec_from_host(r50_engine_state *s, const float *src, size_t n,
                               float *dst) {
  on_device(s);
  r50_cuda_note(
      s, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, s->stream),
      "copying a vector to the GPU");
}

/* ------------------------------------------------------------------ inference ops */

static r50_status cuda_conv(r50_engine_state *s, const r50_conv_desc *c,
                            const r50_act *in, r50_act *out, const r50_act *residual,
                            int relu, r50_error *err) {
  on_device(s);
  R50_ASSERT(c->id < s->n_convs && s->convs[c->id].w);
  r50_cuda_plan *p;
  R50_TRY(r50_cuda_plan_get(s, c, in->n, in->h, in->w, s->act,
                            r50_cuda_math(s->precision), &p, err));
  *out = (r50_act){out->data, c->cout, in->n, p->ho, p->wo};
  R50_TRY(r50_cuda_conv_forward(s, p, in->data, s->convs[c->id].w, out->data, err));
  R50_PROF(s, "conv: bias, residual, ReLU");
  r50k_epilogue(out->data, s->act, s->convs[c->id].bias, residual ? residual->data : NULL,
                relu, r50_act_numel(out), c->cout, s->stream);
  return r50_cuda_take_error(s, err);
}

static void cuda_maxpool(r50_engine_state *s, const r50_pool_desc *p, const r50_act *in,
                         r50_act *out) {
  on_device(s);
  R50_PROF(s, "max pooling");
  const int64_t ho = r50_out_size(in->h, p->ksize, p->stride, p->pad, p->cover_all),
                wo = r50_out_size(in->w, p->ksize, p->stride, p->pad, p->cover_all);
  *out = (r50_act){out->data, in->c, in->n, ho, wo};
  r50k_maxpool(in->data, out->data, s->act, in->n, in->c, in->h, in->w, ho, wo, p->ksize,
               p->stride, p->pad, s->stream);
}

static void cuda_avgpool(r50_engine_state *s, const r50_act *in, float *out) {
  on_device(s);
  R50_PROF(s, "average pooling");
  r50k_avgpool(in->data, s->act, out, in->n, in->c, in->h * in->w, s->stream);
}

/* y (n, cout) = x (n, cin) W^T (+ b): row-major as cuBLAS's column-major y^T = W x^T. */
static void linear(r50_engine_state *s, const float *x, int64_t n, int64_t cin,
                   const float *w, const float *b, int64_t cout, float *y) {
  const float one = 1.0f, zero = 0.0f;
  if (r50_cublas()->sgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)cout, (int)n, (int)cin,
                          &one, w, (int)cin, x, (int)cin, &zero, y,
                          (int)cout) != CUBLAS_STATUS_SUCCESS &&
      !s->error[0])
    snprintf(s->error, sizeof s->error, "cublasSgemm (fc6 forward) failed");
  if (b)
    r50k_add_bias_rows(y, b, n, cout, s->stream);
}

static void cuda_linear(r50_engine_state *s, const float *x, int64_t n, float *y) {
  on_device(s);
  R50_PROF(s, "fc6");
  linear(s, x, n, s->lin_in, s->lin_w, s->lin_b, s->lin_out, y);
}

static void cuda_softmax(r50_engine_state *s, const float *x, int64_t n, int64_t c,
                         float *y) {
  on_device(s);
  R50_PROF(s, "softmax");
  r50k_softmax(x, y, n, c, s->stream);
}

static r50_status cuda_status(r50_engine_state *s, r50_error *err) {
  return r50_cuda_take_error(s, err);
}

static void cuda_finish(r50_engine_state *s) {
  on_device(s);
  r50_cuda_note(s, cudaStreamSynchronize(s->stream), "waiting for the GPU");
}

/* the training ops (train_cuda.cu) use linear() too */
extern "C" void r50_cuda_linear(r50_engine_state *s, const float *x, int64_t n,
                                int64_t cin, const float *w, const float *b, int64_t cout,
                                float *y) {
  on_device(s);
  linear(s, x, n, cin, w, b, cout, y);
}

/* Positional, so that it is constant-initialised: no C++ run-time guard, and libr50.a
 * links into a C program without libstdc++. */
static const r50_engine cuda_engine = {
    "cuda",           cuda_create,        cuda_destroy,
    cuda_set_threads, cuda_set_precision, cuda_set_conv,
    cuda_set_linear,  cuda_reserve,       cuda_from_nchw,
    cuda_to_nchw,     cuda_vec_to_host,   cuda_vec_from_host,
    cuda_conv,        cuda_maxpool,       cuda_avgpool,
    cuda_linear,      cuda_softmax,       &r50_cuda_train,
    cuda_status,      cuda_finish,        (int64_t)4 << 30};

extern "C" const r50_engine *r50_engine_cuda(void) {
  return &cuda_engine;
}

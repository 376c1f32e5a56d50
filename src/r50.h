/*
 * r50.h — the one public header of libr50: ResNet-50/101/152 exactly as Chainer's
 * chainer.links.ResNet50Layers (and siblings) define them.
 *
 * The API mirrors the Chainer Link API (DESIGN.md §3). Every fallible call takes an
 * `r50_error *err` (may be NULL) as its last argument and reports failure through its
 * return value: an `r50_status` other than R50_OK, or NULL for constructors. The message
 * in `err->msg` names the file, key or value at fault and the cause. The library never
 * exits and never prints except through `r50_log`.
 *
 * Tensors crossing the API are float32 in Chainer's layout: (N, C, H, W) for
 * convolutional layers, (N, C) for pool5, fc6 and prob. Row-major, contiguous.
 */
#ifndef R50_H
#define R50_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function of the API is exported from the shared library; nothing else is. */
#if defined(__GNUC__)
#define R50_API __attribute__((visibility("default")))
#else
#define R50_API
#endif

/* The library's version, "MAJOR.MINOR.PATCH" (the project's, set by its build). */
R50_API const char *r50_version(void);

typedef enum r50_status {
  R50_OK = 0,
  R50_ERR_ARG,         /* a bad argument or option value */
  R50_ERR_IO,          /* a file could not be opened, read or written */
  R50_ERR_FORMAT,      /* a file's content is not what it should be */
  R50_ERR_MISMATCH,    /* keys, shapes or dtypes differ from the model's */
  R50_ERR_NOMEM,       /* an allocation failed */
  R50_ERR_NOT_FOUND,   /* a file or key that must exist does not */
  R50_ERR_UNSUPPORTED, /* valid, but not supported by this build */
  R50_ERR_INTERRUPTED, /* stopped on request (r50_set_interrupt) */
  R50_ERR_DEVICE,      /* the GPU, its driver, CUDA, cuDNN, cuBLAS or NCCL failed */
} r50_status;

/* Filled by a failing call: the status it returned and a one-line message. */
typedef struct r50_error {
  r50_status status;
  char msg[1024];
} r50_error;

/* Name of a status, e.g. "R50_ERR_IO". */
R50_API const char *r50_status_name(r50_status s);

/* ------------------------------------------------------------------ logging */

typedef enum r50_log_level {
  R50_LOG_DEBUG = 0,
  R50_LOG_INFO,
  R50_LOG_WARN,
  R50_LOG_ERROR,
} r50_log_level;

/* Writes one line to stderr with a "[rank/size host]" prefix. INFO and DEBUG are
 * written by rank 0 only; WARN and ERROR by any rank. Lines below the level set by
 * r50_log_set_level (default INFO) are dropped. The environment variable R50_LOG=debug
 * sets the level to DEBUG, and then every rank writes every line. */
R50_API void r50_log(r50_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
R50_API void r50_log_set_level(r50_log_level level);
/* Sets the prefix identity; called once by the distributed layer. Default 0/1. */
R50_API void r50_log_set_rank(int rank, int size);

/* ------------------------------------------------------------------ tensors */

#define R50_MAX_DIMS 4

/* A dense float32 tensor. When `owned` is set, `data` was allocated by libr50 and is
 * released by r50_tensor_free. */
typedef struct r50_tensor {
  float *data;
  int ndim;
  int64_t shape[R50_MAX_DIMS];
  int owned;
} r50_tensor;

/* Number of elements. */
R50_API int64_t r50_tensor_numel(const r50_tensor *t);
/* Frees an owned tensor's data and clears it; no-op for NULL or non-owned data. */
R50_API void r50_tensor_free(r50_tensor *t);

/* ------------------------------------------------------------------ images */

/* A decoded image: 8-bit RGB, row-major (height, width, 3). `rgb` is owned by libr50
 * when produced by it; release with r50_image_free. */
typedef struct r50_image {
  int width, height;
  uint8_t *rgb;
} r50_image;

/* How files are decoded. */
typedef struct r50_decode_opts {
  int exif_rotate;    /* apply the EXIF orientation (default 0: ignored, as Chainer) */
  int64_t max_pixels; /* refuse images with more pixels (default 178956970, PIL's
                         decompression-bomb limit); <= 0 means no limit */
  int fast_decode;    /* JPEG: decode at a reduced DCT scale when the image is much
                         larger than the target (changes pixels; opt-in) */
  int target_w, target_h; /* the size the image will be resized to, for fast_decode */
} r50_decode_opts;

/* Defaults: exif_rotate 0, max_pixels 178956970, fast_decode 0. */
R50_API r50_decode_opts r50_decode_opts_default(void);

/* Decodes a JPEG, PNG, WebP, GIF (its first frame) or BMP held in memory (format by
 * content, not name) into RGB exactly as PIL's Image.open(...).convert('RGB') does.
 * `name` is used in messages only. */
R50_API r50_status r50_image_decode(const uint8_t *data, size_t len, const char *name,
                                    const r50_decode_opts *opts, r50_image *out,
                                    r50_error *err);
/* Reads and decodes a file. */
R50_API r50_status r50_image_load(const char *path, const r50_decode_opts *opts,
                                  r50_image *out, r50_error *err);
/* Frees an image's pixels and clears it; no-op for NULL. */
R50_API void r50_image_free(r50_image *img);

/* Resizes to w x h exactly as Pillow's Image.resize((w, h)) (bicubic, support widened
 * when downscaling, horizontal then vertical pass, 8-bit rounding between them). */
R50_API r50_status r50_image_resize(const r50_image *src, int w, int h, r50_image *dst,
                                    r50_error *err);

/* Chainer's prepare after resizing: RGB -> BGR, minus the mean pixel
 * (103.063, 115.903, 123.152) in BGR order, as float32 (3, height, width) into out. */
R50_API void r50_image_to_chw(const r50_image *img, float *out);

/* The mean pixel, BGR. */
R50_API extern const float r50_mean_bgr[3];

/* ------------------------------------------------------------------ the model */

typedef enum r50_arch {
  R50_ARCH_50 = 50,
  R50_ARCH_101 = 101,
  R50_ARCH_152 = 152,
} r50_arch;

typedef enum r50_device {
  R50_DEVICE_CPU = 0,
  R50_DEVICE_CUDA,
} r50_device;

/* The arithmetic of inference convolutions. BF16 keeps weights and the activations
 * between layers in bfloat16, multiplies in bfloat16 and accumulates in float32 (the
 * layers' outputs are float32 as in FP32); it needs an engine and a CPU that have it
 * (oneDNN on AMX-BF16 or AVX512-BF16), and otherwise runs FP32 with a warning.
 * Training always runs FP32. */
typedef enum r50_precision {
  R50_PRECISION_FP32 = 0,
  R50_PRECISION_BF16,
  R50_PRECISION_TF32, /* CUDA: float32 data, TF32 tensor-core convolutions and fc6 */
} r50_precision;

typedef struct r50_config {
  r50_arch arch;          /* 50, 101 or 152 */
  int downsample_fb;      /* 0: stride on the 1x1 conv (MSRA); 1: on the 3x3 (Facebook) */
  int n_classes;          /* fc6 outputs; <= 0: those of the pretrained npz's fc6 (a
                             fine-tuned model's), else 1000 (ImageNet) */
  const char *pretrained; /* NULL: random init; "auto": Chainer's cached npz (made
                             from the caffemodel beside it on first use); otherwise a
                             path to a Chainer .npz or an MSRA .caffemodel */
  uint64_t seed;          /* seed of the random init (pretrained == NULL) */
  int threads;            /* CPU threads for compute; <= 0 means 1 */
  r50_device device;      /* where the engine runs (default R50_DEVICE_CPU) */
  const char *engine;     /* the device's engine by name; NULL or "auto": its default
                             on the CPU "onednn" where built in, else "reference"; the
                             environment variable R50_ENGINE overrides "auto" */
  r50_precision precision; /* default R50_PRECISION_FP32 */
  int cuda_device;         /* R50_DEVICE_CUDA: the device ordinal (within
                              CUDA_VISIBLE_DEVICES); -1: the thread's current device */
} r50_config;

/* How many devices of kind d this process can run on: 1 for the CPU; for CUDA the
 * GPUs visible (CUDA_VISIBLE_DEVICES), 0 without a driver, a GPU or the CUDA engine
 * in this build. */
R50_API int r50_device_count(r50_device d);

/* "fp32", "tf32" or "bf16". */
R50_API const char *r50_precision_name(r50_precision p);

/* A config with Chainer's defaults: ResNet-50, MSRA, 1000 classes, pretrained "auto",
 * seed 0, 1 thread, the CPU's default engine. */
R50_API r50_config r50_config_default(void);

typedef struct r50_model r50_model;

/* Builds the network of `cfg`. With pretrained NULL the parameters are drawn as
 * Chainer's pretrained_model=None does: HeNormal(scale=1) for convolutions, LeCunNormal
 * for fc6/W, zero biases, BN gamma 1, beta 0, avg_mean 0, avg_var 1, N 0; the same seed
 * gives the same parameters. With a path or "auto" the npz is loaded strictly (see
 * r50_load_npz). Returns NULL and fills err on failure. */
R50_API r50_model *r50_model_new(const r50_config *cfg, r50_error *err);
/* Frees the model; no-op for NULL. */
R50_API void r50_model_free(r50_model *m);

/* The config the model was built with (pretrained is not kept). */
R50_API r50_arch r50_model_arch(const r50_model *m);
R50_API int r50_model_downsample_fb(const r50_model *m);
R50_API int r50_model_classes(const r50_model *m);
/* The engine's name, e.g. "reference". */
R50_API const char *r50_model_engine(const r50_model *m);
/* The precision its inference runs in (FP32 where BF16 was asked and is not there). */
R50_API r50_precision r50_model_precision(const r50_model *m);

/* Sets compute threads (<= 0 means 1). */
R50_API void r50_set_threads(r50_model *m, int threads);

/* Declares that m only runs inference from now on (r50_forward, r50_extract,
 * r50_predict*, at any size and batch, with the same results). An engine that keeps
 * the convolution weights in memory of its own, folded and reordered (onednn,
 * reference), then gives the model's host copies back to the system as it takes them:
 * about 90 MB less for ResNet-50, a lower peak when called before the first forward.
 * Afterwards what reads, writes or copies the parameters, or trains, fails with
 * R50_ERR_UNSUPPORTED: r50_save_npz, r50_load_npz, r50_copyparams, r50_copy,
 * r50_params_changed, r50_to_device, r50_forward_train, r50_momentum_sgd_new;
 * r50_namedparams gives no `data` for parameters (persistents stay) and
 * r50_params_slab NULL. Refused for a model that shares its parameters (r50_copy
 * share). Calling it again does nothing. */
R50_API r50_status r50_model_inference_only(r50_model *m, r50_error *err);

/* Where "auto" looks for weights: $CHAINER_DATASET_ROOT/pfnet/chainer/models/
 * ResNet-<n>-model.npz, CHAINER_DATASET_ROOT defaulting to ~/.chainer/dataset. Writes
 * the path into buf (NUL-terminated, truncated to cap). When only
 * ResNet-<n>-model.caffemodel is in that folder, "auto" converts it to the npz there
 * first; processes starting together convert it once (the others wait on
 * "<npz>.lock") and all load the same npz. */
R50_API void r50_auto_model_path(r50_arch arch, char *buf, size_t cap);

/* ------------------------------------------------------------------ layers */

/* The number of layers r50_available_layers lists. */
#define R50_MAX_LAYERS 9

/* The layers forward can return, in order: conv1, pool1, res2, res3, res4, res5,
 * pool5, fc6, prob. Sets *n to the count (R50_MAX_LAYERS); the array is static. */
R50_API const char *const *r50_available_layers(int *n);
/* Index of a layer in r50_available_layers, or -1. */
R50_API int r50_layer_index(const char *name);

/* Output shape of `layer` for an input of n images of h x w pixels (h, w >= 32).
 * Fills shape and *ndim. */
R50_API r50_status r50_layer_shape(const r50_model *m, const char *layer, int64_t n,
                                   int64_t h, int64_t w, int64_t shape[R50_MAX_DIMS],
                                   int *ndim, r50_error *err);

/* Per-layer hook, called before and after each layer forward runs (Chainer link
 * hooks). `shape` is the layer's output shape (valid on R50_HOOK_AFTER). A batch
 * whose activations would pass 32 MiB a buffer (more than 10 images at 224x224) runs
 * in equal micro-batches, each through every layer: the hook is called for each, with
 * its shape. */
typedef enum r50_hook_phase { R50_HOOK_BEFORE, R50_HOOK_AFTER } r50_hook_phase;
typedef struct r50_hook_event {
  r50_hook_phase phase;
  const char *layer;
  int layer_index;
  int ndim;
  int64_t shape[R50_MAX_DIMS];
} r50_hook_event;
typedef void (*r50_hook_fn)(void *user, const r50_hook_event *ev);
/* Installs (or with fn NULL removes) the model's hook. */
R50_API void r50_set_hook(r50_model *m, r50_hook_fn fn, void *user);

/* Installs (or with fn NULL removes) a stop check: forward calls fn(user) before each
 * layer and each bottleneck block, and when it returns non-zero gives up with
 * R50_ERR_INTERRUPTED (no output) — how a job stops within a fraction of a second of
 * a signal instead of after a whole batch. fn must be cheap and async-signal safe in
 * what it reads (a flag). */
typedef int (*r50_interrupt_fn)(void *user);
R50_API void r50_set_interrupt(r50_model *m, r50_interrupt_fn fn, void *user);

/* The least height and width of an input image (r50_forward, r50_forward_train). */
#define R50_MIN_SIZE 32

/* Runs the network in inference mode on x (N, 3, H, W), H and W >= 32, and stores the
 * output of each of the n_layers requested layers in out[i] (allocated here, owned;
 * release with r50_tensor_free). Computation stops after the last requested layer.
 * Requesting a layer twice or an unknown layer is R50_ERR_ARG. */
R50_API r50_status r50_forward(r50_model *m, const r50_tensor *x,
                               const char *const *layers, int n_layers, r50_tensor *out,
                               r50_error *err);

/* ------------------------------------------------------------------ Chainer's
 * extract and predict */

/* Chainer's prepare of one decoded image into dst (3, h, w): resized to w x h unless
 * it already has that size, RGB->BGR, mean subtracted. */
R50_API r50_status r50_prepare(const r50_image *img, int w, int h, float *dst,
                               r50_error *err);

/* Chainer's ResNetLayers.extract: each image prepared at w x h (w = h = 0: no resize,
 * and all images must share one size), then forward to `layers`; out as r50_forward. */
R50_API r50_status r50_extract(r50_model *m, const r50_image *images, int n,
                               const char *const *layers, int n_layers, int w, int h,
                               r50_tensor *out, r50_error *err);

/* Chainer's ResNetLayers.predict: each image prepared at 256x256, then the center
 * 224x224 crop (oversample 0) or the 10 crops of chainer.links.model.vision.imgproc.
 * oversample (4 corners and center, then their mirrors) whose probabilities are
 * averaged. out: (n, classes) probabilities, owned. */
R50_API r50_status r50_predict(r50_model *m, const r50_image *images, int n,
                               int oversample, r50_tensor *out, r50_error *err);
/* r50_predict on images already prepared at 256x256: x (n, 3, 256, 256). */
R50_API r50_status r50_predict_prepared(r50_model *m, const float *x, int n,
                                        int oversample, r50_tensor *out, r50_error *err);

/* ------------------------------------------------------------------ parameters */

typedef enum r50_param_kind {
  R50_PARAM = 0,      /* trainable: conv W/b, BN gamma/beta, fc6 W/b */
  R50_PERSISTENT_F32, /* BN avg_mean, avg_var */
  R50_PERSISTENT_INT, /* BN N (an int scalar, shape ()) */
} r50_param_kind;

typedef struct r50_param_info {
  const char *name; /* Chainer npz key, e.g. "res2/a/conv1/W" */
  r50_param_kind kind;
  int ndim; /* 0 for the scalar N */
  int64_t shape[R50_MAX_DIMS];
  int64_t numel;
  float *data;     /* into the model's slab; NULL for R50_PERSISTENT_INT */
  float *grad;     /* NULL until gradients exist (fine-tuning) */
  int64_t *ivalue; /* the value for R50_PERSISTENT_INT, else NULL */
} r50_param_info;

/* Number of trainable parameters (elements): 25,557,096 / 44,549,224 / 60,192,872. */
R50_API int64_t r50_count_params(const r50_model *m);
/* Number of entries (params and persistents) iterated by r50_namedparams. */
R50_API int r50_namedparams_count(const r50_model *m);
/* The i-th entry, 0 <= i < r50_namedparams_count, in the model table's order. The
 * pointers stay valid for the model's life (loading copies into the same memory).
 * Writing through `data` changes the model; call r50_params_changed afterwards. (An
 * inference-only model's parameters have no `data`: r50_model_inference_only.) */
R50_API r50_param_info r50_namedparams(r50_model *m, int i);
/* Tells the model its parameters were written directly: the engine re-derives what it
 * keeps from them. */
R50_API r50_status r50_params_changed(r50_model *m, r50_error *err);

/* ------------------------------------------------------------------ training:
 * Chainer's Link API, the training step, MomentumSGD */

/* Allocates the gradient slab on first use and sets every gradient to zero
 * (Link.cleargrads; gradients then accumulate over backward calls until cleared). */
R50_API r50_status r50_cleargrads(r50_model *m, r50_error *err);
/* dst's gradients += src's (Link.addgrads); the two must have one architecture. */
R50_API r50_status r50_addgrads(r50_model *dst, const r50_model *src, r50_error *err);
/* Copies src's parameters into dst, and its persistents (BN averages and counts) when
 * copy_persistent (Link.copyparams). */
R50_API r50_status r50_copyparams(r50_model *dst, const r50_model *src,
                                  int copy_persistent, r50_error *err);

typedef enum r50_copy_mode {
  R50_COPY_SHARE, /* a model using src's parameters and persistents (not a copy):
                     writes through either are seen by both; each has its own
                     gradients */
  R50_COPY_COPY,  /* a deep copy of parameters and persistents */
  R50_COPY_INIT,  /* same architecture, parameters drawn anew (seed of src's config) */
} r50_copy_mode;

/* Link.copy(mode): a new model on src's engine. Free it with r50_model_free; a shared
 * model keeps the parameters alive for as long as it lives. */
R50_API r50_model *r50_copy(const r50_model *src, r50_copy_mode mode, r50_error *err);

/* Link.to_device: moves the model to `device` (R50_DEVICE_CPU: its default engine;
 * R50_DEVICE_CUDA: GPU `ordinal`, -1 for the thread's current one), its parameters,
 * persistents, gradients and optimizer state with it; the precision asked at creation
 * is asked again there. On failure the model stays where it was. Copies between models
 * on different devices (r50_copyparams, r50_addgrads) need no move. */
R50_API r50_status r50_to_device(r50_model *m, r50_device device, int ordinal,
                                 r50_error *err);

/* Link.disable_update / enable_update for the parameters whose name is `prefix` or
 * starts with `prefix/` (a subtree such as "res4" or "res4/b2/bn1"; NULL or "" for
 * all). Returns how many parameters changed state. */
R50_API int r50_disable_update(r50_model *m, const char *prefix);
R50_API int r50_enable_update(r50_model *m, const char *prefix);
/* Whether the parameter named `name` is updated (1), frozen (0), or unknown (-1). */
R50_API int r50_update_enabled(const r50_model *m, const char *name);

typedef enum r50_bn_mode {
  R50_BN_TRAIN = 0, /* batch statistics; running averages updated (Chainer's train) */
  R50_BN_FROZEN,    /* running statistics: BN is an affine layer; nothing updated */
} r50_bn_mode;

typedef struct r50_step_result {
  double loss;     /* Chainer's softmax_cross_entropy: mean over labelled images */
  int64_t correct; /* images whose top-1 class is their label */
  int64_t counted; /* images with a label (>= 0) */
} r50_step_result;

/* The forward half of a training step (Chainer with config.train = True): x (N, 3,
 * H, W) through the network to fc6 in training mode, then softmax cross-entropy with
 * labels (N, -1 for none). Keeps what r50_backward needs; the first call for a shape
 * plans the memory, later ones allocate nothing. Every engine of this build trains
 * (reference, onednn, cuda). A bf16 model trains in bf16 where its engine does (onednn
 * on a CPU with bf16: bfloat16 convolution operands, float32 activations, gradients
 * and master weights; cuda), otherwise in fp32 with a warning, its inference too. */
R50_API r50_status r50_forward_train(r50_model *m, const r50_tensor *x,
                                     const int32_t *labels, r50_bn_mode bn,
                                     r50_step_result *out, r50_error *err);
/* Backward of the last r50_forward_train: the gradient of `scale` x its mean loss
 * (scale 1: Chainer's loss.backward()) accumulates into the gradient slab
 * (r50_namedparams' grad; r50_cleargrads first). Parameters with update disabled get
 * none, and the network below the lowest updated layer is not walked. If
 * `on_ready` is not NULL it is called with (user, first, end) each time the
 * gradients of the slab range [first, end) (floats) are final, last layers first, so
 * that a caller can start reducing them while the rest runs. */
typedef void (*r50_grads_ready_fn)(void *user, int64_t first, int64_t end);
R50_API r50_status r50_backward(r50_model *m, double scale, r50_grads_ready_fn on_ready,
                                void *user, r50_error *err);

/* The model's slabs as float arrays, in the table's layout (the order of
 * r50_namedparams): for reducing gradients or broadcasting parameters in one piece.
 * *n gets the length in floats. grads is NULL before r50_cleargrads, params NULL on
 * an inference-only model. */
R50_API float *r50_params_slab(r50_model *m, int64_t *n);
R50_API float *r50_grads_slab(r50_model *m, int64_t *n);
R50_API float *r50_persistent_slab(r50_model *m, int64_t *n);

/* Chainer's MomentumSGD (v <- momentum v - lr g; p <- p + v) over the parameters
 * whose update is enabled, with Chainer's WeightDecay hook (g <- g + rate p, before
 * the update) when weight_decay > 0. */
typedef struct r50_optimizer r50_optimizer;
R50_API r50_optimizer *r50_momentum_sgd_new(r50_model *m, double lr, double momentum,
                                            double weight_decay, r50_error *err);
R50_API void r50_optimizer_set_lr(r50_optimizer *o, double lr);
R50_API double r50_optimizer_lr(const r50_optimizer *o);
/* One update from the model's current gradients. */
R50_API r50_status r50_optimizer_update(r50_optimizer *o, r50_error *err);
/* The velocity slab (the parameter slab's layout), for checkpoints. */
R50_API float *r50_optimizer_state(r50_optimizer *o, int64_t *n);
R50_API void r50_optimizer_free(r50_optimizer *o); /* no-op for NULL */

/* ------------------------------------------------------------------ serializers */

/* Writes every parameter and persistent under Chainer's keys into an uncompressed
 * npz, through a temporary file renamed into place. */
R50_API r50_status r50_save_npz(const r50_model *m, const char *path, r50_error *err);
/* Loads a Chainer npz (stored or deflated members). Strict: a missing or extra key,
 * a wrong shape or dtype is R50_ERR_MISMATCH naming the key, the expected and the
 * found shape; on any error the model is left unchanged. */
R50_API r50_status r50_load_npz(r50_model *m, const char *path, r50_error *err);

/* Converts an MSRA ResNet caffemodel (K. He's deep-residual-networks, new-style or V1
 * NetParameter) into the Chainer npz that Chainer's pretrained_model='auto' makes from
 * it (ResNetLayers.convert_caffemodel_to_npz): the same keys, shapes and float32
 * values, BN avg_mean/avg_var divided by Caffe's moving-average factor, N 0, conv1/b 0
 * for 101/152; uncompressed, written through a temporary file renamed into place.
 * n_layers is 50, 101 or 152, or 0 to infer it from the layer names; a depth the
 * names contradict is R50_ERR_MISMATCH naming both, a missing or mis-shaped layer or
 * blob R50_ERR_MISMATCH naming it, a corrupt file R50_ERR_FORMAT. */
R50_API r50_status r50_convert_caffemodel_to_npz(const char *caffemodel, const char *npz,
                                                 int n_layers, r50_error *err);

#ifdef __cplusplus
}
#endif
#endif /* R50_H */

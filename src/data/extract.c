/*
 * extract.c — Chainer's ResNetLayers.extract and .predict on decoded images.
 *
 * Rule: predict crops exactly as chainer.links.model.vision.imgproc.oversample: crop
 * origins (0,0), (0,W-224), (H-224,0), (H-224,W-224), (int(H/2-112), int(W/2-112)),
 * then the same five mirrored left-right, and averages the ten probabilities; without
 * oversampling it takes x[:, :, 16:240, 16:240].
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "r50.h"

r50_status r50_prepare(const r50_image *img, int w, int h, float *dst, r50_error *err) {
  if (img->width == w && img->height == h) {
    r50_image_to_chw(img, dst);
    return R50_OK;
  }
  r50_image resized = {0};
  R50_TRY(r50_image_resize(img, w, h, &resized, err));
  r50_image_to_chw(&resized, dst);
  r50_image_free(&resized);
  return R50_OK;
}

static r50_status prepare_all(const r50_image *images, int n, int w, int h, float **x,
                              r50_error *err) {
  size_t per = (size_t)3 * (size_t)w * (size_t)h;
  *x = malloc((size_t)n * per * sizeof(float));
  if (!*x)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory preparing %d images", n);
  for (int i = 0; i < n; i++) {
    r50_status s = r50_prepare(&images[i], w, h, *x + (size_t)i * per, err);
    if (s != R50_OK) {
      free(*x);
      *x = NULL;
      return s;
    }
  }
  return R50_OK;
}

r50_status r50_extract(r50_model *m, const r50_image *images, int n,
                       const char *const *layers, int n_layers, int w, int h,
                       r50_tensor *out, r50_error *err) {
  if (n < 1)
    return r50_fail(err, R50_ERR_ARG, "no images to extract");
  if (w == 0 && h == 0) {
    w = images[0].width;
    h = images[0].height;
    for (int i = 1; i < n; i++)
      if (images[i].width != w || images[i].height != h)
        return r50_fail(err, R50_ERR_ARG,
                        "without resizing all images must share one size: image %d is "
                        "%dx%d, image 0 %dx%d",
                        i, images[i].width, images[i].height, w, h);
  }
  float *x;
  R50_TRY(prepare_all(images, n, w, h, &x, err));
  r50_tensor t = {x, 4, {n, 3, h, w}, 0};
  r50_status s = r50_forward(m, &t, layers, n_layers, out, err);
  free(x);
  return s;
}

/* Copies the 224x224 crop at (y0, x0) of src (3, 256, 256) into dst, mirrored if
 * `mirror`. */
static void crop(const float *src, int y0, int x0, int mirror, float *dst) {
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 224; y++) {
      const float *row = src + ((size_t)c * 256 + (size_t)(y0 + y)) * 256 + x0;
      float *out = dst + ((size_t)c * 224 + (size_t)y) * 224;
      for (int x = 0; x < 224; x++)
        out[x] = row[mirror ? 223 - x : x];
    }
}

r50_status r50_predict_prepared(r50_model *m, const float *src, int n, int oversample,
                                r50_tensor *out, r50_error *err) {
  if (n < 1)
    return r50_fail(err, R50_ERR_ARG, "no images to predict");
  static const int origin[5][2] = {{0, 0}, {0, 32}, {32, 0}, {32, 32}, {16, 16}};
  const int ncrops = oversample ? 10 : 1;
  const size_t per_src = (size_t)3 * 256 * 256, per_crop = (size_t)3 * 224 * 224;
  float *x = malloc((size_t)n * (size_t)ncrops * per_crop * sizeof(float));
  if (!x)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory predicting %d images", n);
  for (int i = 0; i < n; i++) {
    const float *img = src + (size_t)i * per_src;
    float *dst = x + (size_t)i * (size_t)ncrops * per_crop;
    if (!oversample)
      crop(img, 16, 16, 0, dst);
    else
      for (int k = 0; k < 10; k++)
        crop(img, origin[k % 5][0], origin[k % 5][1], k >= 5, dst + (size_t)k * per_crop);
  }
  const char *prob[] = {"prob"};
  r50_tensor t = {x, 4, {(int64_t)n * ncrops, 3, 224, 224}, 0}, p;
  r50_status s = r50_forward(m, &t, prob, 1, &p, err);
  free(x);
  if (s != R50_OK)
    return s;
  if (oversample) {
    const size_t classes = (size_t)p.shape[1];
    for (int i = 0; i < n; i++) /* (n, 10, classes) -> sum over the crops / 10 */
      for (size_t j = 0; j < classes; j++) {
        float sum = 0;
        for (int k = 0; k < 10; k++)
          sum += p.data[((size_t)i * 10 + (size_t)k) * classes + j];
        p.data[(size_t)i * classes + j] = sum / 10.0f;
      }
    p.shape[0] = n;
  }
  *out = p;
  return R50_OK;
}

r50_status r50_predict(r50_model *m, const r50_image *images, int n, int oversample,
                       r50_tensor *out, r50_error *err) {
  if (n < 1)
    return r50_fail(err, R50_ERR_ARG, "no images to predict");
  float *src;
  R50_TRY(prepare_all(images, n, 256, 256, &src, err));
  r50_status s = r50_predict_prepared(m, src, n, oversample, out, err);
  free(src);
  return s;
}

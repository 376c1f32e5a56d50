/*
 * test_caffemodel.c — the caffemodel reader: the tiny nets written by
 * tests/caffe_fixture.py (`tiny`) parse to their known values; every truncation and
 * every single-bit flip of them parses or fails cleanly (run it under R50_SANITIZE to
 * prove no out-of-bounds read); hand-made wire-format edge cases are rejected; and the
 * mapping infers ResNet-50 from the layer-name skeleton and names what is missing.
 *
 * usage: test_caffemodel DIR   (DIR from `caffe_fixture.py tiny DIR`)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffe_convert.h"
#include "caffemodel.h"
#include "fileio.h"
#include "test_util.h"

static uint8_t *read_file(const char *dir, const char *name, size_t *n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  uint8_t *d;
  r50_error err = {0};
  CHECK(r50_read_file(path, UINT64_MAX, "a test file", &d, n, &err) == R50_OK, "%s",
        err.msg);
  return d;
}

static int blob_is(const caffe_blob *b, int ndim, const int64_t *shape, const float *v) {
  if (b->ndim != ndim)
    return 0;
  int64_t count = 1;
  for (int i = 0; i < ndim; i++) {
    if (b->shape[i] != shape[i])
      return 0;
    count *= shape[i];
  }
  return b->count == count && !memcmp(b->data, v, (size_t)count * sizeof(float));
}

/* tiny_new and tiny_v1 hold the same weights (see caffe_fixture.py cmd_tiny). */
static void check_tiny(const caffe_net *n, int v1) {
  static const float w[] = {0.5f, -1.25f, 2.0f, 3.5f}, b[] = {0.125f, -8.0f},
                     mean[] = {1, 2}, var[] = {4, 8}, factor[] = {2};
  const int64_t w_new[] = {2, 1, 1, 2}, vec_new[] = {2}, one_new[] = {1};
  const int64_t vec_v1[] = {1, 1, 1, 2}, one_v1[] = {1, 1, 1, 1};
  CHECK(n->n_layers == 3 && n->v1 == v1, "%d layers, v1 %d", n->n_layers, n->v1);
  if (n->n_layers != 3)
    return;
  const caffe_layer *conv = r50_caffe_net_find(n, "conv"),
                    *bn = r50_caffe_net_find(n, "bn");
  CHECK(conv && bn && r50_caffe_net_find(n, "relu") && !r50_caffe_net_find(n, "nope"),
        "names");
  if (!conv || !bn)
    return;
  if (v1)
    CHECK(!conv->type && conv->v1_type == 4 && bn->v1_type == 0 &&
              n->layers[2].v1_type == 18,
          "V1 types");
  else
    CHECK(!strcmp(conv->type, "Convolution") && !strcmp(bn->type, "BatchNorm") &&
              conv->v1_type == -1,
          "types");
  CHECK(conv->n_blobs == 2 && bn->n_blobs == 3 && n->layers[2].n_blobs == 0,
        "blob counts");
  if (conv->n_blobs != 2 || bn->n_blobs != 3)
    return;
  CHECK(blob_is(&conv->blobs[0], 4, w_new, w), "conv W");
  CHECK(blob_is(&conv->blobs[1], v1 ? 4 : 1, v1 ? vec_v1 : vec_new, b), "conv b");
  CHECK(blob_is(&bn->blobs[0], v1 ? 4 : 1, v1 ? vec_v1 : vec_new, mean), "bn mean");
  CHECK(blob_is(&bn->blobs[1], v1 ? 4 : 1, v1 ? vec_v1 : vec_new, var), "bn var");
  CHECK(blob_is(&bn->blobs[2], v1 ? 4 : 1, v1 ? one_v1 : one_new, factor), "bn factor");
}

static void check_known(const char *dir) {
  static const char *const files[] = {"tiny_new.caffemodel", "tiny_v1.caffemodel"};
  for (int v1 = 0; v1 < 2; v1++) {
    size_t len;
    uint8_t *buf = read_file(dir, files[v1], &len);
    caffe_net n;
    r50_error err = {0};
    CHECK(buf && r50_caffe_net_parse(buf, len, files[v1], &n, &err) == R50_OK, "%s: %s",
          files[v1], err.msg);
    check_tiny(&n, v1);
    r50_caffe_net_free(&n);
    free(buf);
  }
  size_t len;
  uint8_t *buf = read_file(dir, "tiny_both.caffemodel", &len);
  caffe_net n;
  r50_error err = {0};
  CHECK(buf && r50_caffe_net_parse(buf, len, "both", &n, &err) == R50_OK, "both: %s",
        err.msg);
  static const float fc[] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[] = {2, 3};
  CHECK(n.n_layers == 1 && !n.v1 && !strcmp(n.layers[0].name, "fc") &&
            n.layers[0].n_blobs == 1 && blob_is(&n.layers[0].blobs[0], 2, shape, fc),
        "new-style list wins over V1");
  r50_caffe_net_free(&n);
  free(buf);
}

/* A parse that succeeded must be self-consistent. */
static int consistent(const caffe_net *n) {
  for (int i = 0; i < n->n_layers; i++)
    for (int j = 0; j < n->layers[i].n_blobs; j++) {
      const caffe_blob *b = &n->layers[i].blobs[j];
      int64_t count = 1;
      for (int d = 0; d < b->ndim; d++)
        count *= b->shape[d];
      if (count != b->count || (count && !b->data) || !n->layers[i].name)
        return 0;
    }
  return 1;
}

/* Every truncation and every single-bit flip of a file: an error naming it, or a
 * consistent net (a cut at a layer boundary is a valid, shorter NetParameter). */
static void check_damage(const char *dir, const char *file, int *n_errors, int *n_runs) {
  size_t len;
  uint8_t *buf = read_file(dir, file, &len);
  if (!buf)
    return;
  caffe_net full, n;
  r50_error err = {0};
  CHECK(r50_caffe_net_parse(buf, len, file, &full, &err) == R50_OK, "%s: %s", file,
        err.msg);
  int cut_ok = 0;
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *part = malloc(cut ? cut : 1); /* exact size, so ASan sees any overread */
    memcpy(part, buf, cut);
    r50_status s = r50_caffe_net_parse(part, cut, file, &n, &err);
    if (s == R50_OK)
      CHECK(consistent(&n) && n.n_layers <= full.n_layers, "%s cut at %zu", file, cut);
    else
      CHECK(strstr(err.msg, file) != NULL, "%s cut at %zu: message '%s'", file, cut,
            err.msg);
    cut_ok += s == R50_OK;
    *n_errors += s != R50_OK;
    ++*n_runs;
    r50_caffe_net_free(&n);
    free(part);
  }
  /* Only cuts between top-level fields (the net's name, each layer) parse. */
  CHECK(cut_ok <= full.n_layers + 2, "%s: %d of %zu truncations parsed", file, cut_ok,
        len);
  uint8_t *copy = malloc(len);
  for (size_t bit = 0; bit < 8 * len; bit++) {
    memcpy(copy, buf, len);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    r50_status s = r50_caffe_net_parse(copy, len, file, &n, &err);
    if (s == R50_OK)
      CHECK(consistent(&n), "%s bit %zu flipped", file, bit);
    else
      CHECK(strstr(err.msg, file) != NULL, "%s bit %zu: message '%s'", file, bit,
            err.msg);
    *n_errors += s != R50_OK;
    ++*n_runs;
    r50_caffe_net_free(&n);
  }
  free(copy);
  r50_caffe_net_free(&full);
  free(buf);
}

/* ------------------------------------------------------------------ hand-made bytes */

typedef struct bytes {
  uint8_t b[256];
  size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n) {
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void varint(bytes *o, uint64_t v) {
  do {
    uint8_t c = (uint8_t)(v & 0x7f);
    v >>= 7;
    o->b[o->n++] = c | (v ? 0x80 : 0);
  } while (v);
}
static void tag(bytes *o, uint32_t field, int wire) {
  varint(o, (uint64_t)field << 3 | (uint64_t)wire);
}
static void len_field(bytes *o, uint32_t field, const bytes *payload) {
  tag(o, field, 2);
  varint(o, payload->n);
  put(o, payload->b, payload->n);
}
/* A net with one new-style layer "L" holding `blob`. */
static bytes net_with_blob(const bytes *blob) {
  bytes layer = {0}, net = {0}, name = {.b = "L", .n = 1};
  len_field(&layer, 1, &name);
  len_field(&layer, 7, blob);
  len_field(&net, 100, &layer);
  return net;
}

static void expect_error(const bytes *in, const char *want, const char *what) {
  caffe_net n;
  r50_error err = {0};
  uint8_t *exact = malloc(in->n ? in->n : 1);
  memcpy(exact, in->b, in->n);
  r50_status s = r50_caffe_net_parse(exact, in->n, "edge.caffemodel", &n, &err);
  CHECK(
      s == R50_ERR_FORMAT && strstr(err.msg, "edge.caffemodel") && strstr(err.msg, want),
      "%s: status %s, message '%s' (want '%s')", what, r50_status_name(s), err.msg, want);
  r50_caffe_net_free(&n);
  free(exact);
}

static void check_edges(void) {
  bytes b = {0};
  for (int i = 0; i < 10; i++)
    b.b[b.n++] = 0x80;
  b.b[b.n++] = 0x01;
  expect_error(&b, "varint", "11-byte varint");
  b.n = 0;
  tag(&b, 5, 0);
  for (int i = 0; i < 9; i++)
    b.b[b.n++] = 0xff;
  b.b[b.n++] = 0x02;
  expect_error(&b, "longer than 64 bits", "varint past 64 bits");
  b.n = 0;
  tag(&b, 5, 3);
  expect_error(&b, "group", "start group");
  b.n = 0;
  tag(&b, 5, 4);
  expect_error(&b, "group", "end group");
  b.n = 0;
  tag(&b, 5, 6);
  expect_error(&b, "wire type", "wire type 6");
  b.n = 0;
  tag(&b, 0, 0);
  varint(&b, 1);
  expect_error(&b, "field number", "field 0");
  b.n = 0;
  tag(&b, 100, 2);
  varint(&b, 1000);
  expect_error(&b, "longer than the rest", "length past the end");
  b.n = 0;
  tag(&b, 100, 2);
  varint(&b, UINT64_MAX);
  expect_error(&b, "longer than the rest", "huge length");
  b.n = 0;
  tag(&b, 7, 1); /* a fixed64 cut short */
  put(&b, "abc", 3);
  expect_error(&b, "past the end", "short fixed64");
  b.n = 0;
  tag(&b, 100, 0);
  varint(&b, 3);
  expect_error(&b, "wire type 0, expected 2", "layer as a varint");

  bytes blob = {0}, shape = {0}, dims = {0}, net;
  varint(&dims, UINT64_MAX); /* -1 as an int64 */
  len_field(&shape, 1, &dims);
  len_field(&blob, 7, &shape);
  net = net_with_blob(&blob);
  expect_error(&net, "negative", "negative dim");

  blob.n = 0;
  tag(&blob, 1, 0);
  varint(&blob, (uint64_t)(int64_t)-2);
  net = net_with_blob(&blob);
  expect_error(&net, "legacy num is negative", "negative num");

  blob.n = dims.n = shape.n = 0;
  varint(&dims, 3);
  varint(&dims, 1);
  len_field(&shape, 1, &dims);
  len_field(&blob, 7, &shape);
  bytes data = {.n = 6};
  len_field(&blob, 5, &data);
  net = net_with_blob(&blob);
  expect_error(&net, "not a multiple of 4", "packed floats of 6 bytes");

  blob.n = 0;
  len_field(&blob, 7, &shape); /* (3, 1) */
  data.n = 8;
  len_field(&blob, 5, &data);
  net = net_with_blob(&blob);
  expect_error(&net, "shape (3, 1) holds 3 values but the blob has 2", "count mismatch");

  blob.n = 0;
  tag(&blob, 5, 5);
  put(&blob, "\0\0\0\0", 4);
  tag(&blob, 8, 1);
  put(&blob, "\0\0\0\0\0\0\0\0", 8);
  net = net_with_blob(&blob);
  expect_error(&net, "both data", "data and double_data");

  blob.n = dims.n = shape.n = 0;
  for (int i = 0; i < 9; i++)
    varint(&dims, 1);
  len_field(&shape, 1, &dims);
  len_field(&blob, 7, &shape);
  net = net_with_blob(&blob);
  expect_error(&net, "more than 8 dimensions", "9 dims");

  blob.n = dims.n = shape.n = 0;
  varint(&dims, (uint64_t)1 << 40);
  varint(&dims, (uint64_t)1 << 40);
  len_field(&shape, 1, &dims);
  len_field(&blob, 7, &shape);
  net = net_with_blob(&blob);
  expect_error(&net, "more than 2^63", "shape overflow");

  /* Valid: empty input; unknown fields of every wire type; a shape split over two
   * BlobShape messages and unpacked dims, data split over runs (protobuf merge). */
  caffe_net n;
  r50_error err = {0};
  CHECK(r50_caffe_net_parse((const uint8_t *)"", 0, "empty", &n, &err) == R50_OK &&
            n.n_layers == 0,
        "empty buffer: %s", err.msg);
  r50_caffe_net_free(&n);
  blob.n = dims.n = shape.n = 0;
  tag(&blob, 999, 0);
  varint(&blob, 7);
  tag(&blob, 998, 1);
  put(&blob, "12345678", 8);
  tag(&blob, 997, 5);
  put(&blob, "1234", 4);
  len_field(&blob, 996, &(bytes){.b = "xyz", .n = 3});
  tag(&shape, 1, 0);
  varint(&shape, 2);
  len_field(&blob, 7, &shape);
  len_field(&blob, 7, &shape);
  tag(&blob, 5, 5);
  put(&blob, "\0\0\x80\x3f", 4); /* 1.0f */
  tag(&blob, 5, 5);
  put(&blob, "\0\0\0\x40", 4);                                            /* 2.0f */
  len_field(&blob, 5, &(bytes){.b = "\0\0\x40\x40\0\0\x80\x40", .n = 8}); /* 3, 4 */
  net = net_with_blob(&blob);
  static const float v[] = {1, 2, 3, 4};
  const int64_t s22[] = {2, 2};
  CHECK(r50_caffe_net_parse(net.b, net.n, "merge", &n, &err) == R50_OK &&
            n.n_layers == 1 && n.layers[0].n_blobs == 1 &&
            blob_is(&n.layers[0].blobs[0], 2, s22, v),
        "merged shape and data: %s", err.msg);
  r50_caffe_net_free(&n);
  blob.n = 0; /* no shape: a scalar (Caffe's count 1), so no data is a mismatch */
  net = net_with_blob(&blob);
  expect_error(&net, "shape () holds 1 values but the blob has 0", "empty blob");
}

/* ------------------------------------------------------------------ the mapping */

static void check_mapping(const char *dir) {
  r50_net net50;
  CHECK(r50_net_build(R50_ARCH_50, 0, 1000, &net50, NULL) == R50_OK, "net");
  static const char *const files[] = {"skeleton50_new.caffemodel",
                                      "skeleton50_v1.caffemodel"};
  for (int i = 0; i < 2; i++) {
    size_t len;
    uint8_t *buf = read_file(dir, files[i], &len);
    caffe_net n;
    r50_error err = {0};
    CHECK(buf && r50_caffe_net_parse(buf, len, files[i], &n, &err) == R50_OK, "%s",
          err.msg);
    r50_arch arch = 0;
    CHECK(r50_caffe_infer_arch(&n, &arch) == R50_OK && arch == R50_ARCH_50, "%s: arch %d",
          files[i], (int)arch);
    CHECK(r50_caffe_check(&n, &net50, files[i], &err) == R50_ERR_MISMATCH &&
              strstr(err.msg, "layer 'conv1' has 0 blobs, expected 2"),
          "%s: %s", files[i], err.msg);
    r50_caffe_net_free(&n);
    free(buf);
  }
  size_t len;
  uint8_t *buf = read_file(dir, "tiny_new.caffemodel", &len);
  caffe_net n;
  r50_error err = {0};
  r50_arch arch;
  CHECK(buf && r50_caffe_net_parse(buf, len, "tiny", &n, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_caffe_infer_arch(&n, &arch) == R50_ERR_NOT_FOUND, "tiny has no arch");
  CHECK(r50_caffe_check(&n, &net50, "tiny", &err) == R50_ERR_MISMATCH &&
            strstr(err.msg, "layer 'conv1' is missing (it holds conv1 of ResNet-50)"),
        "%s", err.msg);
  r50_caffe_net_free(&n);
  free(buf);
  r50_net_free(&net50);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_caffemodel DIR\n");
    return 2;
  }
  check_known(argv[1]);
  check_edges();
  check_mapping(argv[1]);
  static const char *const damaged[] = {"tiny_new.caffemodel", "tiny_v1.caffemodel",
                                        "tiny_both.caffemodel"};
  int n_errors = 0, n_runs = 0;
  for (int i = 0; i < 3; i++)
    check_damage(argv[1], damaged[i], &n_errors, &n_runs);
  printf(
      "%d truncated or bit-flipped inputs: %d rejected, %d parsed consistently (a flip "
      "in a value or a name changes only that)\n",
      n_runs, n_errors, n_runs - n_errors);
  return test_result("test_caffemodel");
}

/*
 * caffemodel.c — parsing Caffe's NetParameter / LayerParameter / V1LayerParameter /
 * BlobProto / BlobShape (field numbers of caffe.proto) into a caffe_net.
 *
 * Rule: every message is walked twice — once to count and check (repeated values,
 * shapes, wire types), once to copy — so nothing is allocated before the counts are
 * known to be consistent, and every allocation is bounded by a fixed multiple of the
 * bytes that back it (a blob's floats never outnumber its encoded values). Only the
 * known messages are entered (net → layer → blob → shape, depth 4); unknown fields are
 * skipped unparsed, so no input can make the reader nest deeper.
 */
#include "caffemodel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "protowire.h"

/* Field numbers from caffe.proto. */
enum {
  NET_LAYERS_V1 = 2,
  NET_LAYER = 100,
  LAYER_NAME = 1,
  LAYER_TYPE = 2,
  LAYER_BLOBS = 7,
  V1_NAME = 4,
  V1_TYPE = 5,
  V1_BLOBS = 6,
  BLOB_NUM = 1, /* num, channels, height, width: 1..4 */
  BLOB_WIDTH = 4,
  BLOB_DATA = 5,
  BLOB_SHAPE = 7,
  BLOB_DOUBLE_DATA = 8,
  SHAPE_DIM = 1,
};

/* Where the parser is, for messages. */
typedef struct parse_ctx {
  const char *file;
  r50_error *err;
  int layer;              /* index in the chosen list, -1 at the top level */
  const char *layer_name; /* NULL until known */
  int blob;               /* -1 outside a blob */
} parse_ctx;

static r50_status fail(const parse_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static r50_status fail(const parse_ctx *c, const char *fmt, ...) {
  char what[512], where[256] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (c->layer >= 0 && c->blob >= 0)
    snprintf(where, sizeof where, "layer %d '%.100s' blob %d: ", c->layer,
             c->layer_name ? c->layer_name : "", c->blob);
  else if (c->layer >= 0)
    snprintf(where, sizeof where, "layer %d '%.100s': ", c->layer,
             c->layer_name ? c->layer_name : "");
  return r50_fail(c->err, R50_ERR_FORMAT, "%s: not a valid caffemodel: %s%s", c->file,
                  where, what);
}

static r50_status wire_fail(const parse_ctx *c, const pw_reader *r, const char *why) {
  return fail(c, "%s (at byte %zu)", why, pw_offset(r));
}

static r50_status want_wire(const parse_ctx *c, const pw_reader *r, const pw_field *f,
                            pw_wire want, const char *what) {
  if (f->wire == want)
    return R50_OK;
  return fail(c, "field %u (%s) has wire type %d, expected %d (at byte %zu)", f->number,
              what, (int)f->wire, (int)want, pw_offset(r));
}

/* ------------------------------------------------------------------ blobs */

/* What the first walk over a BlobProto found. */
typedef struct blob_scan {
  int64_t n_float, n_double; /* values in data / double_data */
  int legacy;                /* any of num/channels/height/width present */
  int64_t legacy_dims[4];
  int ndim;
  int64_t dims[CAFFE_MAX_DIMS];
} blob_scan;

static r50_status add_dim(const parse_ctx *c, blob_scan *s, uint64_t v) {
  if ((int64_t)v < 0)
    return fail(c, "shape dimension %lld is negative", (long long)(int64_t)v);
  if (s->ndim == CAFFE_MAX_DIMS)
    return fail(c, "shape has more than %d dimensions", CAFFE_MAX_DIMS);
  s->dims[s->ndim++] = (int64_t)v;
  return R50_OK;
}

/* BlobShape.dim, packed or not; repeated BlobShape messages append (protobuf merge). */
static r50_status scan_shape(const parse_ctx *c, pw_reader r, blob_scan *s) {
  pw_field f;
  const char *why;
  int rc;
  while ((rc = r50_pw_next(&r, &f, &why)) > 0) {
    if (f.number != SHAPE_DIM)
      continue;
    if (f.wire == PW_VARINT) {
      R50_TRY(add_dim(c, s, f.value));
      continue;
    }
    R50_TRY(want_wire(c, &r, &f, PW_LEN, "BlobShape.dim"));
    for (pw_reader packed = pw_sub(&r, &f); packed.p < packed.end;) {
      uint64_t v;
      if (r50_pw_varint(&packed, &v, &why))
        return wire_fail(c, &packed, why);
      R50_TRY(add_dim(c, s, v));
    }
  }
  return rc < 0 ? wire_fail(c, &r, why) : R50_OK;
}

/* Counts the values of a repeated float (size 4) or double (size 8) field. */
static r50_status count_values(const parse_ctx *c, const pw_reader *r, const pw_field *f,
                               size_t size, int64_t *n) {
  pw_wire single = size == 4 ? PW_I32 : PW_I64;
  const char *what = size == 4 ? "BlobProto.data" : "BlobProto.double_data";
  if (f->wire == single) {
    (*n)++;
    return R50_OK;
  }
  R50_TRY(want_wire(c, r, f, PW_LEN, what));
  if (f->len % size)
    return fail(c, "packed %s is %zu bytes, not a multiple of %zu (at byte %zu)", what,
                f->len, size, pw_offset(r));
  *n += (int64_t)(f->len / size);
  return R50_OK;
}

static r50_status scan_blob(const parse_ctx *c, pw_reader r, blob_scan *s) {
  pw_field f;
  const char *why;
  int rc;
  while ((rc = r50_pw_next(&r, &f, &why)) > 0) {
    if (f.number >= BLOB_NUM && f.number <= BLOB_WIDTH) {
      static const char *const names[] = {"num", "channels", "height", "width"};
      R50_TRY(want_wire(c, &r, &f, PW_VARINT, names[f.number - 1]));
      int32_t v = (int32_t)(uint32_t)f.value; /* int32: the low 32 bits */
      if (v < 0)
        return fail(c, "legacy %s is negative (%d)", names[f.number - 1], v);
      s->legacy = 1;
      s->legacy_dims[f.number - 1] = v;
    } else if (f.number == BLOB_SHAPE) {
      R50_TRY(want_wire(c, &r, &f, PW_LEN, "BlobProto.shape"));
      R50_TRY(scan_shape(c, pw_sub(&r, &f), s));
    } else if (f.number == BLOB_DATA) {
      R50_TRY(count_values(c, &r, &f, 4, &s->n_float));
    } else if (f.number == BLOB_DOUBLE_DATA) {
      R50_TRY(count_values(c, &r, &f, 8, &s->n_double));
    }
  }
  return rc < 0 ? wire_fail(c, &r, why) : R50_OK;
}

/* Sets the blob's shape and count from the scan and checks them against the values. */
static r50_status blob_shape(const parse_ctx *c, const blob_scan *s, caffe_blob *b) {
  if (s->legacy) {
    b->ndim = 4;
    memcpy(b->shape, s->legacy_dims, sizeof s->legacy_dims);
  } else {
    b->ndim = s->ndim;
    memcpy(b->shape, s->dims, sizeof s->dims);
  }
  int64_t count = 1;
  for (int i = 0; i < b->ndim; i++) {
    if (b->shape[i] && count > INT64_MAX / b->shape[i])
      return fail(c, "shape has more than 2^63 elements");
    count *= b->shape[i];
  }
  if (s->n_float && s->n_double)
    return fail(c, "has both data (%lld values) and double_data (%lld values)",
                (long long)s->n_float, (long long)s->n_double);
  int64_t n = s->n_float ? s->n_float : s->n_double;
  if (n != count) {
    char dims[160];
    r50_format_shape(dims, sizeof dims, b->ndim, b->shape);
    return fail(c, "shape %s holds %lld values but the blob has %lld", dims,
                (long long)count, (long long)n);
  }
  b->count = count;
  return R50_OK;
}

/* Second walk: copies data (float) or double_data (narrowed to float) into b->data. */
static void fill_blob(pw_reader r, caffe_blob *b) {
  pw_field f;
  const char *why;
  int64_t i = 0;
  while (r50_pw_next(&r, &f, &why) > 0 && i < b->count) {
    if (f.number == BLOB_DATA && f.wire == PW_I32) {
      b->data[i++] = pw_float(f.value);
    } else if (f.number == BLOB_DATA && f.wire == PW_LEN) {
      for (size_t k = 0; k + 4 <= f.len && i < b->count; k += 4)
        b->data[i++] = pw_float(pw_le(f.data + k, 4));
    } else if (f.number == BLOB_DOUBLE_DATA && f.wire == PW_I64) {
      b->data[i++] = (float)pw_double(f.value);
    } else if (f.number == BLOB_DOUBLE_DATA && f.wire == PW_LEN) {
      for (size_t k = 0; k + 8 <= f.len && i < b->count; k += 8)
        b->data[i++] = (float)pw_double(pw_le(f.data + k, 8));
    }
  }
}

static r50_status parse_blob(const parse_ctx *c, pw_reader r, caffe_blob *b) {
  blob_scan s = {0};
  R50_TRY(scan_blob(c, r, &s));
  R50_TRY(blob_shape(c, &s, b));
  if (b->count == 0)
    return R50_OK;
  b->data = malloc((size_t)b->count * sizeof(float));
  if (!b->data)
    return r50_fail(c->err, R50_ERR_NOMEM, "%s: out of memory for a blob of %lld values",
                    c->file, (long long)b->count);
  fill_blob(r, b);
  return R50_OK;
}

/* ------------------------------------------------------------------ layers */

static char *dup_bytes(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

static r50_status set_string(const parse_ctx *c, char **dst, const pw_field *f) {
  free(*dst);
  *dst = dup_bytes(f->data, f->len);
  return *dst ? R50_OK
              : r50_fail(c->err, R50_ERR_NOMEM, "%s: out of memory for a layer name",
                         c->file);
}

/* First walk over a layer: name, type and the number of blobs. */
static r50_status scan_layer(parse_ctx *c, pw_reader r, int v1, caffe_layer *L,
                             int *n_blobs) {
  const uint32_t name_f = v1 ? V1_NAME : LAYER_NAME,
                 blobs_f = v1 ? V1_BLOBS : LAYER_BLOBS;
  pw_field f;
  const char *why;
  int rc;
  while ((rc = r50_pw_next(&r, &f, &why)) > 0) {
    if (f.number == name_f) {
      R50_TRY(want_wire(c, &r, &f, PW_LEN, "name"));
      R50_TRY(set_string(c, &L->name, &f));
      c->layer_name = L->name;
    } else if (!v1 && f.number == LAYER_TYPE) {
      R50_TRY(want_wire(c, &r, &f, PW_LEN, "type"));
      R50_TRY(set_string(c, &L->type, &f));
    } else if (v1 && f.number == V1_TYPE) {
      R50_TRY(want_wire(c, &r, &f, PW_VARINT, "type"));
      L->v1_type = (int32_t)(uint32_t)f.value;
    } else if (f.number == blobs_f) {
      R50_TRY(want_wire(c, &r, &f, PW_LEN, "blobs"));
      if (*n_blobs == INT32_MAX)
        return fail(c, "too many blobs");
      ++*n_blobs;
    }
  }
  return rc < 0 ? wire_fail(c, &r, why) : R50_OK;
}

static r50_status parse_layer(parse_ctx *c, pw_reader r, int v1, caffe_layer *L) {
  L->v1_type = v1 ? 0 : -1;
  int n_blobs = 0;
  R50_TRY(scan_layer(c, r, v1, L, &n_blobs));
  if (!L->name && !(L->name = dup_bytes((const uint8_t *)"", 0)))
    return r50_fail(c->err, R50_ERR_NOMEM, "%s: out of memory", c->file);
  L->blobs = calloc(n_blobs ? (size_t)n_blobs : 1, sizeof *L->blobs);
  if (!L->blobs)
    return r50_fail(c->err, R50_ERR_NOMEM, "%s: out of memory", c->file);
  const uint32_t blobs_f = v1 ? V1_BLOBS : LAYER_BLOBS;
  pw_field f;
  const char *why;
  while (L->n_blobs < n_blobs && r50_pw_next(&r, &f, &why) > 0) {
    if (f.number != blobs_f)
      continue;
    c->blob = L->n_blobs;
    caffe_blob *b =
        &L->blobs[L->n_blobs++]; /* counted before parsing: freed on failure */
    R50_TRY(parse_blob(c, pw_sub(&r, &f), b));
  }
  c->blob = -1;
  return R50_OK;
}

/* ------------------------------------------------------------------ the net */

/* First walk over the NetParameter: how many `layer` and `layers` entries. */
static r50_status scan_net(const parse_ctx *c, pw_reader r, int *n_new, int *n_v1) {
  pw_field f;
  const char *why;
  int rc;
  while ((rc = r50_pw_next(&r, &f, &why)) > 0) {
    if (f.number == NET_LAYER || f.number == NET_LAYERS_V1) {
      R50_TRY(want_wire(c, &r, &f, PW_LEN, f.number == NET_LAYER ? "layer" : "layers"));
      if (*n_new == INT32_MAX || *n_v1 == INT32_MAX)
        return fail(c, "too many layers");
      ++*(f.number == NET_LAYER ? n_new : n_v1);
    }
  }
  return rc < 0 ? wire_fail(c, &r, why) : R50_OK;
}

static r50_status parse_net(parse_ctx *c, const uint8_t *buf, size_t len,
                            caffe_net *net) {
  pw_reader r = pw_reader_init(buf, len);
  int n_new = 0, n_v1 = 0;
  R50_TRY(scan_net(c, r, &n_new, &n_v1));
  net->v1 = n_new == 0;
  int n = net->v1 ? n_v1 : n_new;
  const uint32_t want = net->v1 ? NET_LAYERS_V1 : NET_LAYER;
  net->layers = calloc(n ? (size_t)n : 1, sizeof *net->layers);
  if (!net->layers)
    return r50_fail(c->err, R50_ERR_NOMEM, "%s: out of memory for %d layers", c->file, n);
  pw_field f;
  const char *why;
  while (net->n_layers < n && r50_pw_next(&r, &f, &why) > 0) {
    if (f.number != want)
      continue;
    c->layer = net->n_layers;
    c->layer_name = NULL;
    caffe_layer *L = &net->layers[net->n_layers++];
    R50_TRY(parse_layer(c, pw_sub(&r, &f), net->v1, L));
  }
  return R50_OK;
}

r50_status r50_caffe_net_parse(const uint8_t *buf, size_t len, const char *name,
                               caffe_net *net, r50_error *err) {
  memset(net, 0, sizeof *net);
  parse_ctx c = {name, err, -1, NULL, -1};
  if ((uint64_t)len > CAFFE_MAX_FILE_BYTES)
    return fail(&c, "%zu bytes, more than the %llu-byte limit", len,
                (unsigned long long)CAFFE_MAX_FILE_BYTES);
  r50_status s = parse_net(&c, buf, len, net);
  if (s != R50_OK)
    r50_caffe_net_free(net);
  return s;
}

r50_status r50_caffe_net_read(const char *path, caffe_net *net, r50_error *err) {
  memset(net, 0, sizeof *net);
  uint8_t *buf = NULL;
  size_t len = 0;
  R50_TRY(r50_read_file(path, CAFFE_MAX_FILE_BYTES, "a caffemodel", &buf, &len, err));
  r50_status s = r50_caffe_net_parse(buf, len, path, net, err);
  free(buf);
  return s;
}

void r50_caffe_net_free(caffe_net *net) {
  if (!net)
    return;
  for (int i = 0; i < net->n_layers; i++) {
    caffe_layer *L = &net->layers[i];
    for (int j = 0; j < L->n_blobs; j++)
      free(L->blobs[j].data);
    free(L->blobs);
    free(L->name);
    free(L->type);
  }
  free(net->layers);
  memset(net, 0, sizeof *net);
}

const caffe_layer *r50_caffe_net_find(const caffe_net *net, const char *name) {
  for (int i = net->n_layers - 1; i >= 0; i--)
    if (!strcmp(net->layers[i].name, name))
      return &net->layers[i];
  return NULL;
}

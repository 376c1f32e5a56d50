/*
 * caffemodel.h — reading a Caffe binary NetParameter (.caffemodel): each layer's name,
 * type and weight blobs, as Chainer's CaffeFunction sees them.
 *
 * Rule: as in CaffeFunction, the new-style `layer` list (field 100) is used when it has
 * any entry, and the legacy V1 `layers` list (field 2) only otherwise; the other list
 * is skipped, never decoded. A blob's shape is the legacy num/channels/height/width
 * when any of them is present (Caffe's Blob::FromProto), else BlobShape's dims, and it
 * must hold exactly as many values as its `data` or `double_data` (widened to float)
 * carries; anything else is R50_ERR_FORMAT naming the file, layer, blob and cause.
 */
#ifndef R50_CAFFEMODEL_H
#define R50_CAFFEMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

#define CAFFE_MAX_DIMS 8
#define CAFFE_MAX_FILE_BYTES ((uint64_t)4 << 30) /* files past 4 GiB are refused */

/* V1LayerParameter.LayerType values the conversion checks. */
#define CAFFE_V1_CONVOLUTION 4
#define CAFFE_V1_INNER_PRODUCT 14

typedef struct caffe_blob {
  int ndim; /* 4 for the legacy num/channels/height/width */
  int64_t shape[CAFFE_MAX_DIMS];
  int64_t count; /* product of shape */
  float *data;   /* (count) values; NULL when count is 0 */
} caffe_blob;

typedef struct caffe_layer {
  char *name;  /* "" when absent */
  char *type;  /* new-style type string ("Convolution"), NULL for V1 layers */
  int v1_type; /* V1 LayerType enum value, -1 for new-style layers */
  caffe_blob *blobs;
  int n_blobs;
} caffe_layer;

typedef struct caffe_net {
  caffe_layer *layers;
  int n_layers;
  int v1; /* the layers are V1 `layers` (field 2) */
} caffe_net;

/* Parses a NetParameter held in buf[0, len). `name` (the file) is used in messages.
 * On failure *net is left empty. */
r50_status r50_caffe_net_parse(const uint8_t *buf, size_t len, const char *name,
                               caffe_net *net, r50_error *err);
/* Reads and parses a .caffemodel file. A missing file is R50_ERR_NOT_FOUND. */
r50_status r50_caffe_net_read(const char *path, caffe_net *net, r50_error *err);
/* Frees everything and empties *net; no-op for NULL. */
void r50_caffe_net_free(caffe_net *net);

/* The last layer called `name` (CaffeFunction keeps the last one), or NULL. */
const caffe_layer *r50_caffe_net_find(const caffe_net *net, const char *name);

#endif

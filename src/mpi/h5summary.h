/*
 * h5summary.h — what a feature file (h5store.h) holds, read without changing it, for
 * `r50worker status`: how it was made (its root attributes), its layers' shapes, how
 * many rows are done, failed and pending, and the first failures' causes. Safe while
 * a job writes the file: the structure is fixed once the file exists, and rows are
 * read as the statuses say at the moment of reading.
 */
#ifndef R50_H5SUMMARY_H
#define R50_H5SUMMARY_H

#include <stdint.h>

#include "h5errors.h"
#include "h5store.h"

#define R50_SUMMARY_ERRORS 5 /* failures whose causes are read, at most */

typedef struct r50_store_summary {
  char format[64], version[64], command[32], model[4096], model_sha256[80];
  char dtype[16], precision[16], dataset_sha256[80];
  int arch, downsample_fb, size[2], oversample, fast_decode, exif_rotate, complete;
  int64_t max_pixels, n_images, n_classes;
  int n_layers;
  char layers[R50_STORE_MAX_LAYERS][64];
  int ndim[R50_STORE_MAX_LAYERS]; /* per-row dims (the file's ndim - 1) */
  int64_t shape[R50_STORE_MAX_LAYERS][3];
  int64_t done, failed, pending; /* rows by status: 1, -1, 0 */
  int64_t n_errors, n_first;     /* entries of /errors; how many are below */
  int64_t error_row[R50_SUMMARY_ERRORS];
  char error_msg[R50_SUMMARY_ERRORS][R50_ERRORS_MSG_CAP];
  /* predict's accuracy (predict_print.h), when it kept one: accuracy_images > 0;
   * top5 NaN for a model of 5 classes or fewer */
  double top1, top5;
  int64_t accuracy_images;
  char accuracy_labels[4096];
} r50_store_summary;

/* Serial. Reads path, read-only and without HDF5's flock (a running job holds the
 * file open). A file that is not HDF5, not a feature file, of another format version
 * or damaged is R50_ERR_FORMAT naming path and the cause; a missing one R50_ERR_IO. */
r50_status r50_store_summarize(const char *path, r50_store_summary *s, r50_error *err);

#endif

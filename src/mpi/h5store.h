/*
 * h5store.h — the feature file: one HDF5 file written by every rank through the
 * MPI-IO driver (DESIGN.md §4).
 *
 *   /features/<layer>  float32 (N, C) or (N, C, H, W), chunked by whole work chunks
 *   /images/path       fixed-length string (N,), relative to the dataset root
 *   /images/label      int32 (N,), -1 if none
 *   /images/status     int8 (N,): 0 pending, 1 done, -1 unreadable
 *   /images/error      fixed-length string (N,): the cause for status -1, else ""
 *   /classes           fixed-length string (K,), ImageFolder class names (if any)
 *   attributes of /    arch, downsample_fb, model, model_sha256, size (w, h; 0 0 for
 *                      none), mean (BGR), layers, version, complete (0 until the job
 *                      finished every row)
 *
 * Rule: create, open and close are collective; row writes are independent (each rank
 * writes its own chunks whenever it has them, so no rank ever waits in a collective
 * for another's data — the OMPIO "rank with nothing to write" trap cannot occur).
 * A row's features and error are written before its status, so a row marked done is
 * always complete on disk, whenever the job is killed.
 */
#ifndef R50_H5STORE_H
#define R50_H5STORE_H

#include <stdint.h>

#include "dataset.h"
#include "dist.h"

#define R50_H5_MAX_LAYERS 9
#define R50_H5_ERROR_LEN 256

typedef struct r50_h5_meta {
  int arch, downsample_fb;
  const char *model;        /* path of the weights, or "none" */
  const char *model_sha256; /* of the npz file, or of the random parameters */
  int size_w, size_h;       /* 0 0: no resize */
  int n_layers;
  const char *layers[R50_H5_MAX_LAYERS];
  int ndim[R50_H5_MAX_LAYERS];          /* per-row dims: 1 (C) or 3 (C, H, W) */
  int64_t shape[R50_H5_MAX_LAYERS][3];
  int64_t chunk_rows;                   /* rows per work chunk (HDF5 chunk multiple) */
} r50_h5_meta;

typedef struct r50_h5store r50_h5store;

/* Collective. Creates path (overwriting only when `overwrite`), writes paths, labels
 * and pending statuses, and flushes, so a killed job leaves a resumable file. */
r50_status r50_h5_create(const r50_dist *d, const char *path, const r50_dataset *ds,
                         const r50_h5_meta *meta, int overwrite, r50_h5store **out,
                         r50_error *err);

/* Collective. Reopens path for --resume: the weights (sha256), layers, their shapes,
 * size and the dataset's paths must match; *status gets (N) int8 (malloc'd). */
r50_status r50_h5_resume(const r50_dist *d, const char *path, const r50_dataset *ds,
                         const r50_h5_meta *meta, r50_h5store **out, int8_t **status,
                         r50_error *err);

/* Independent. Writes rows [row0, row0+n): features[l] holds n rows of layer l
 * (NULL rows of failed images are written as zeros by the caller), errors n strings
 * of at most R50_H5_ERROR_LEN-1 bytes, status n values. */
r50_status r50_h5_write_rows(r50_h5store *s, int64_t row0, int64_t n,
                             const float *const *features, const char *const *errors,
                             const int8_t *status, r50_error *err);

/* Collective. Sets `complete`, closes; s is freed whatever the outcome. */
r50_status r50_h5_close(r50_h5store *s, int complete, r50_error *err);

#endif

/*
 * h5store.h — the feature file (DESIGN.md §4): one HDF5 file, created whole by rank 0,
 * filled by every rank through the MPI-IO driver.
 *
 *   /features/<layer>  float32 or float16 (--dtype) (N, C) or (N, C, H, W), in chunks
 *                      of at least 1 MiB (whole rows), whatever --chunk is
 *   /images/path       UTF-8 fixed-length string (N,), relative to the dataset root
 *   /images/label      int32 (N,), -1 if none
 *   /images/status     int8 (N,): 0 pending, 1 done, -1 unreadable
 *   /errors/row, /errors/message   the failed rows and their causes (h5errors.h)
 *   /classes           UTF-8 fixed-length string (K,), ImageFolder class names (if any)
 *   /image, /channel, /y, /x, /class   netCDF dimensions (h5dims.h) attached to every
 *                      axis; a layer's axis whose size other layers do not share is
 *                      named with it (channel_1024)
 *   attributes of /    format, version, command, arch, downsample_fb, model,
 *                      model_sha256, size (w, h; 0 0 for none), mean (BGR), layers,
 * dtype, oversample, fast_decode, exif_rotate, max_pixels, n_images, dataset_sha256,
 * complete (0 until every row was attempted)
 *
 * Life of a file, and the rule that keeps every rank in step whatever fails: all
 * metadata is written by rank 0 alone with the serial driver — created under
 * "<path>.part" and renamed into place only when whole, checked and reset on
 * --resume, marked complete at the end — and the parallel phase in between is one
 * collective open, independent row writes and one collective close. A row's features
 * are written before its status, so a row marked done is complete on disk whenever
 * the job is killed. Path, label and status are contiguous and the format is HDF5
 * 1.10's (fixed-array chunk indexes), so creating 10^8 rows costs no per-row metadata.
 */
#ifndef R50_H5STORE_H
#define R50_H5STORE_H

#include <stdint.h>

#include "dataset.h"
#include "dist.h"

#define R50_STORE_MAX_LAYERS R50_MAX_LAYERS

/* Everything that decides a file's content: a resumed job must match all of it. */
typedef struct r50_store_meta {
  const char *command; /* "extract" or "predict" */
  int arch, downsample_fb;
  const char *model;        /* path of the weights, or "none" */
  const char *model_sha256; /* of the npz file, or of the random parameters */
  int size_w, size_h;       /* 0 0: no resize */
  int oversample;           /* predict: 10 crops */
  int fast_decode, exif_rotate;
  int64_t max_pixels;
  int n_layers;
  const char *layers[R50_STORE_MAX_LAYERS];
  int ndim[R50_STORE_MAX_LAYERS]; /* per-row dims: 1 (C) or 3 (C, H, W) */
  int64_t shape[R50_STORE_MAX_LAYERS][3];
  int float16;             /* features stored as IEEE half (numpy's astype(float16)) */
  const char *precision;   /* in effect: "fp32", "bf16" or "tf32" (r50_precision_name) */
  char dataset_sha256[65]; /* r50_dataset_digest */
} r50_store_meta;

/* Rank 0, serial. Refuses an existing path unless `overwrite` (and always one that is
 * not a regular file), then writes the whole structure — attributes, paths, labels,
 * pending statuses — to "<path>.part", syncs it and renames it to path. On failure
 * nothing is left at path (an existing file is untouched) and no HDF5 object is open. */
r50_status r50_store_create(const char *path, const r50_dataset *ds,
                            const r50_store_meta *meta, int overwrite, r50_error *err);

/* What r50_store_check_resume found. */
typedef enum r50_store_resume_kind {
  R50_STORE_RESUME,   /* a file of this job: *status holds its rows */
  R50_STORE_RECREATE, /* no file, or one a killed job left empty: create it */
} r50_store_resume_kind;

/* Rank 0, serial. Checks path against this job — every attribute of meta, then the
 * rows (paths and labels) when the dataset digest differs — and marks it incomplete
 * until this run ends; *status gets its (N) int8 statuses (malloc'd). A mismatch is
 * R50_ERR_MISMATCH naming the option or the first differing row. */
r50_status r50_store_check_resume(const char *path, const r50_dataset *ds,
                                  const r50_store_meta *meta, r50_store_resume_kind *kind,
                                  int8_t **status, r50_error *err);

typedef struct r50_store r50_store;

/* Collective: every rank opens path (made by r50_store_create) for row writes. */
r50_status r50_store_open(const r50_dist *d, const char *path, const r50_store_meta *meta,
                          r50_store **out, r50_error *err);

/* Independent. Writes rows [row0, row0+n): features[l] holds n rows of layer l (or
 * is NULL to leave the rows' features unwritten), status n values. */
r50_status r50_store_write_rows(r50_store *s, int64_t row0, int64_t n,
                                const float *const *features, const int8_t *status,
                                r50_error *err);

/* Independent. *zero: whether every feature of rows [row0, row0+n) reads as zero
 * (unwritten, or written as zeros), every layer. */
r50_status r50_store_rows_zero(r50_store *s, int64_t row0, int64_t n, int *zero,
                               r50_error *err);

/* Collective. Closes every handle exactly once and frees s, whatever fails. */
r50_status r50_store_close(r50_store *s, r50_error *err);

/* Rank 0, serial, after r50_store_close: rewrites /errors with this run's n failures
 * (rows[i], msgs[i]) and the earlier ones still standing (h5errors.h). */
r50_status r50_store_put_errors(const char *path, const int64_t *rows, char *const *msgs,
                                int64_t n, r50_error *err);

/* Rank 0, serial, after r50_store_close: sets the `complete` attribute. */
r50_status r50_store_set_complete(const char *path, int complete, r50_error *err);

#endif

/*
 * export_npy.h — a feature file's done rows as the folder of .npy shards that ANN
 * indexers read (embedding-reader, autofaiss, clip-retrieval):
 *
 *   OUT_DIR/img_emb/img_emb_00000.npy    (rows, dim) float32 or float16 (the file's
 *                                        dtype), C order; a (C, H, W) layer flattened
 *   OUT_DIR/metadata/metadata_00000.csv  path,label,row — one line per .npy row: the
 *                                        image's path, label and row in the HDF5 file
 *
 * Rows keep the HDF5 file's order; only rows with status 1 (done) are written, at most
 * rows_per_file per shard. Each shard is written under a temporary name and renamed
 * when whole. Serial: one process reads the file (no MPI).
 */
#ifndef R50_EXPORT_NPY_H
#define R50_EXPORT_NPY_H

#include <stdint.h>

#include "r50.h"

typedef struct r50_export_opts {
  const char *input;     /* FEATURES.h5 */
  const char *layer;     /* a /features/<layer> of it */
  const char *out_dir;   /* OUT_DIR */
  int64_t rows_per_file; /* rows per shard */
  int normalize;         /* L2-normalise each row (in float32, then the file's dtype) */
  int overwrite;         /* replace shards already in OUT_DIR */
} r50_export_opts;

/* Writes the shards; *rows and *files get what was written. */
r50_status r50_export_npy(const r50_export_opts *o, int64_t *rows, int *files,
                          r50_error *err);

#endif

/*
 * h5store_file.h — what the files beside h5store.c that read or edit a feature file
 * serially (h5reuse.c) share with it: the format tag, rank 0's file access, and the
 * checks of a file's attributes and feature shapes against a job.
 */
#ifndef R50_H5STORE_FILE_H
#define R50_H5STORE_FILE_H

#include <hdf5.h>

#include "h5store.h"

#define R50_STORE_FORMAT "r50worker-features/3"

/* File access for rank 0's serial work: the default driver, no HDF5 flock, the 1.10
 * format. Close it after use; -1 on failure. */
hid_t r50_store_serial_fapl(void);

/* Whether path starts with HDF5's signature (r50worker writes no user block). */
int r50_store_is_hdf5(const char *path);

/* Compares f's attributes (command, arch, weights, layers, dtype, precision, size,
 * decode options, max pixels) with the job's meta: R50_ERR_MISMATCH naming the first
 * that differs, R50_ERR_FORMAT for one missing or unreadable; messages start with
 * "OPT: PATH". more_layers_ok: f may hold layers beyond m's (--reuse reads m's alone:
 * a layer's values do not depend on which others a job stores, the network runs
 * through the same layers), else its layers must be m's, in order. */
r50_status r50_store_check_attrs(hid_t f, const char *path, const char *opt,
                                 const r50_store_meta *m, int more_layers_ok,
                                 r50_error *err);

/* Checks that f holds /features/<layer> of every layer of m, each n rows of the
 * layer's shape: R50_ERR_MISMATCH "OPT: PATH: /features/L is missing or has another
 * shape" else. */
r50_status r50_store_check_features(hid_t f, const char *path, const char *opt,
                                    const r50_store_meta *m, int64_t n, r50_error *err);

/* The type rows of s's features have in the file (float, or IEEE half where the job
 * stores float16): what r50_store_write_stored takes, to read another file's rows
 * in. */
hid_t r50_store_stored_type(const r50_store *s);

/* Independent. Writes rows [row0, row0+n) of layer l of s as the file stores them
 * (r50_store_stored_type), copied from another feature file of the same job. */
r50_status r50_store_write_stored(r50_store *s, int l, int64_t row0, int64_t n,
                                  const void *rows, r50_error *err);

#endif

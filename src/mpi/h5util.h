/*
 * h5util.h — small checked helpers over the HDF5 C API: errors with their cause,
 * UTF-8 string types, row hyperslabs and typed root attributes.
 *
 * Rule: HDF5 never prints; a failing call's cause is read off HDF5's error stack
 * (errno, MPI error strings, "truncated file") right after it fails and put in the
 * message, so "no space left on device" reaches the user instead of "write failed".
 */
#ifndef R50_H5UTIL_H
#define R50_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "r50.h"

/* Turns HDF5's automatic error printing off (process-wide, idempotent). */
void r50_h5_quiet(void);

/* What HDF5's error stack says went wrong, in words ("no space left on device",
 * "file is truncated: 1024 of 8192 bytes", or the innermost message). Empty when the
 * stack is empty. Clears the stack. */
void r50_h5_cause(char *buf, size_t cap);

/* Runs `cleanup` (HDF5 calls, which clear the error stack) while keeping the stack
 * of the call that just failed, for r50_h5_cause. */
#define H5_KEEP_ERROR(cleanup)                                                           \
  do {                                                                                   \
    hid_t h5_es_ = H5Eget_current_stack();                                               \
    cleanup;                                                                             \
    if (h5_es_ >= 0)                                                                     \
      H5Eset_current_stack(h5_es_);                                                      \
  } while (0)

/* Fills err with "<formatted message>: <r50_h5_cause()>" and returns s. */
r50_status r50_h5_fail(r50_error *err, r50_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* r50_h5_fail for a failed write to `file`: when HDF5 does not say why (its MPI-IO driver
 * does not pass errno up), a full file system is recognised from statvfs. */
r50_status r50_h5_fail_file(r50_error *err, r50_status s, const char *file,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A fixed-length, NUL-padded UTF-8 string type of len bytes (len 0 counts as 1). */
hid_t r50_h5_str_type(size_t len);
/* IEEE binary16, little-endian (h5py and numpy read it as '<f2'); close it after use. */
hid_t r50_h5_half_type(void);

/* Rows [row0, row0 + n) of a dataset whose first dimension is the row, all of every
 * other dimension; mtype in memory. Independent I/O. n == 0 is a no-op. */
herr_t r50_h5_write_rows(hid_t dset, hid_t mtype, int64_t row0, int64_t n,
                         const void *buf);
herr_t r50_h5_read_rows(hid_t dset, hid_t mtype, int64_t row0, int64_t n, void *buf);

/* Root attributes: ints (n values, n == 0 for a scalar), floats, strings. */
herr_t r50_h5_put_ints(hid_t loc, const char *name, const int *v, int n);
herr_t r50_h5_put_int64(hid_t loc, const char *name, int64_t v);
herr_t r50_h5_put_double(hid_t loc, const char *name, double v);
herr_t r50_h5_put_floats(hid_t loc, const char *name, const float *v, int n);
herr_t r50_h5_put_str(hid_t loc, const char *name, const char *v);
/* Overwrites an existing scalar int attribute. */
herr_t r50_h5_set_int(hid_t loc, const char *name, int v);

/* Readers return 1 when read, 0 when the attribute is absent, -1 when it is there but
 * unreadable or of another shape. */
int r50_h5_get_ints(hid_t loc, const char *name, int *v, int n);
int r50_h5_get_int64(hid_t loc, const char *name, int64_t *v);
int r50_h5_get_double(hid_t loc, const char *name, double *v);
int r50_h5_get_str(hid_t loc, const char *name, char *buf, size_t cap);

#endif

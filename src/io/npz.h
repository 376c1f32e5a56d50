/*
 * npz.h — reading and writing NumPy .npz archives (zip of .npy members), the format of
 * Chainer's serializers.save_npz / load_npz.
 *
 * Rule: the reader never trusts the archive: every offset and size from the zip
 * directory and npy header is checked against the file before it is used, so a
 * truncated or corrupt file is an R50_ERR_FORMAT naming the file (and member), never a
 * crash. Stored (method 0) and deflated (method 8) members are read; the writer writes
 * stored members (as numpy.savez and Chainer do) to "<path>.tmp.<pid>" and renames it
 * into place on close, so a reader never sees a half-written archive.
 */
#ifndef R50_NPZ_H
#define R50_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

typedef enum npz_dtype {
  NPZ_F32 = 0, /* '<f4' */
  NPZ_F64,     /* '<f8' */
  NPZ_F16,     /* '<f2' */
  NPZ_I32,     /* '<i4' */
  NPZ_I64,     /* '<i8' */
  NPZ_U8,      /* '|u1' */
  NPZ_I8,      /* '|i1' */
  NPZ_BOOL,    /* '|b1' */
  NPZ_OTHER,   /* anything else: readable as info, not as data */
} npz_dtype;

/* Bytes per element of dtype (0 for NPZ_OTHER). */
size_t r50_npz_dtype_size(npz_dtype t);
/* numpy descr of dtype, e.g. "<f4" ("?" for NPZ_OTHER). */
const char *r50_npz_dtype_descr(npz_dtype t);

#define NPZ_MAX_DIMS 8

typedef struct npz_array_info {
  npz_dtype dtype;
  char descr[16]; /* the descr string as found, e.g. "<f4", ">i8" */
  int ndim;       /* 0 for a scalar */
  int64_t shape[NPZ_MAX_DIMS];
  int64_t numel;
  int fortran_order;
} npz_array_info;

typedef struct npz_reader npz_reader;

/* Opens path and reads the zip central directory (ZIP64 records included). A missing
 * file is R50_ERR_NOT_FOUND; a key found twice is R50_ERR_FORMAT. */
r50_status r50_npz_open(const char *path, npz_reader **out, r50_error *err);
void r50_npz_close(npz_reader *r); /* no-op for NULL */

/* Number of members and the i-th key (member name without the ".npy" suffix). */
int r50_npz_count(const npz_reader *r);
const char *r50_npz_key(const npz_reader *r, int i);
/* Index of key, or -1. */
int r50_npz_find(const npz_reader *r, const char *key);

/* dtype and shape of member i (parses the npy header, versions 1.0 to 3.0, once).
 * Only npz_read checks the member's CRC-32. */
r50_status r50_npz_info(npz_reader *r, int i, npz_array_info *info, r50_error *err);
/* Reads member i's array data (C order, little-endian, converted to host order for
 * big-endian descrs of the supported dtypes) into dst, which holds dst_bytes;
 * dst_bytes must equal numel * dtype size. Fortran-order arrays are R50_ERR_UNSUPPORTED.
 * CRC-32 of the member is checked. */
r50_status r50_npz_read(npz_reader *r, int i, void *dst, size_t dst_bytes,
                        r50_error *err);

/* The header of a standalone .npy file (version 1.0, as numpy 1.24 writes it) for an
 * array of dtype t and shape (ndim dims): its length, 0 if cap < R50_NPY_HEADER_MAX
 * or the array cannot be described. The data follows it, C order, little-endian. */
#define R50_NPY_HEADER_MAX 512
size_t r50_npy_header(unsigned char *buf, size_t cap, npz_dtype t, int ndim,
                      const int64_t *shape);

typedef struct npz_writer npz_writer;

/* Starts an archive that will appear at path on npz_writer_close. */
r50_status r50_npz_writer_open(const char *path, npz_writer **out, r50_error *err);
/* Appends key.npy holding data (C order, little-endian) of dtype and shape; shape may
 * be NULL for ndim 0. A bad argument is R50_ERR_ARG and leaves w usable; after an I/O
 * error w can only be closed (which fails) or aborted. Keys must be distinct: a repeat
 * makes npz_writer_close fail. Members and archives past 2 GiB get ZIP64 records. */
r50_status r50_npz_write(npz_writer *w, const char *key, npz_dtype dtype, int ndim,
                         const int64_t *shape, const void *data, r50_error *err);
/* Writes the central directory, fsyncs and renames into place. Frees w either way; on
 * failure the temporary file is removed and path is left as it was. */
r50_status r50_npz_writer_close(npz_writer *w, r50_error *err);
/* Drops an unfinished archive (removes the temporary file); no-op for NULL. */
void r50_npz_writer_abort(npz_writer *w);

#endif

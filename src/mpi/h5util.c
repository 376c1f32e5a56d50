/*
 * h5util.c — checked HDF5 helpers (see h5util.h).
 */
#include "h5util.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "error.h"

void r50_h5_quiet(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* errno right after the last failed row I/O: the MPI-IO driver's messages do not
 * carry it. HDF5 is used from one thread. */
static int g_io_errno;

typedef struct cause_walk {
  char inner[256];
  int err_no, no_space, truncated;
  long long eof, stored_eof;
} cause_walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *user) {
  cause_walk *w = user;
  const char *d = e->desc ? e->desc : "";
  if (n == 0)
    snprintf(w->inner, sizeof w->inner, "%s", d);
  const char *en = strstr(d, "errno = ");
  if (en && !w->err_no)
    w->err_no = atoi(en + 8);
  if (strstr(d, "No space left") || strstr(d, "NO_SPACE") || strstr(d, "no space"))
    w->no_space = 1;
  const char *t = strstr(d, "truncated file");
  if (t) {
    w->truncated = 1;
    const char *a = strstr(t, "eof = "), *b = strstr(t, "stored_eof = ");
    if (a)
      w->eof = atoll(a + 6);
    if (b)
      w->stored_eof = atoll(b + 13);
  }
  return 0;
}

static int telling_errno(int e) {
  return e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO || e == EROFS ||
         e == EACCES;
}

static void cause_of(char *buf, size_t cap, const char *file);

void r50_h5_cause(char *buf, size_t cap) {
  cause_of(buf, cap, NULL);
}

/* Free bytes for this user in the folder of file, or -1. */
static long long free_bytes(const char *file) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", file);
  struct statvfs v;
  if (statvfs(dirname(dir), &v) != 0)
    return -1;
  return (long long)v.f_bavail * (long long)v.f_frsize;
}

static void cause_of(char *buf, size_t cap, const char *file) {
  cause_walk w = {0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (!w.err_no && telling_errno(g_io_errno))
    w.err_no = g_io_errno;
  g_io_errno = 0;
  if (w.no_space || w.err_no == ENOSPC)
    snprintf(buf, cap, "no space left on device");
  else if (w.truncated)
    snprintf(buf, cap, "file is truncated: %lld of %lld bytes", w.eof, w.stored_eof);
  else if (w.err_no)
    snprintf(buf, cap, "%s", strerror(w.err_no));
  else if (file && free_bytes(file) >= 0 && free_bytes(file) < (1 << 20))
    snprintf(buf, cap, "no space left on device (%lld bytes free)", free_bytes(file));
  else
    snprintf(buf, cap, "%s", w.inner);
}

static r50_status vfail(r50_error *err, r50_status s, const char *file, const char *fmt,
                        va_list ap) {
  char cause[256], what[768];
  cause_of(cause, sizeof cause, file);
  vsnprintf(what, sizeof what, fmt, ap);
  if (cause[0])
    return r50_fail(err, s, "%s: %s", what, cause);
  return r50_fail(err, s, "%s", what);
}

r50_status r50_h5_fail_file(r50_error *err, r50_status s, const char *file,
                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  r50_status r = vfail(err, s, file, fmt, ap);
  va_end(ap);
  return r;
}

r50_status r50_h5_fail(r50_error *err, r50_status s, const char *fmt, ...) {
  char cause[256], what[768];
  r50_h5_cause(cause, sizeof cause);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (cause[0])
    return r50_fail(err, s, "%s: %s", what, cause);
  return r50_fail(err, s, "%s", what);
}

hid_t r50_h5_str_type(size_t len) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 &&
      (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
       H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

hid_t r50_h5_half_type(void) {
  /* HDF5 1.10 has no predefined half: a 16-bit float with 1 sign, 5 exponent (bias
   * 15) and 10 mantissa bits, the layout h5py maps to numpy's float16 */
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  if (t >= 0 && (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
                 H5Tset_ebias(t, 15) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static herr_t rows_io(hid_t dset, hid_t mtype, int64_t row0, int64_t n, void *buf,
                      int write) {
  if (n == 0)
    return 0;
  hid_t fspace = H5Dget_space(dset);
  if (fspace < 0)
    return -1;
  int ndim = H5Sget_simple_extent_ndims(fspace);
  hsize_t dims[8], start[8] = {(hsize_t)row0}, count[8] = {(hsize_t)n};
  herr_t r = -1;
  if (ndim >= 1 && ndim <= 8 && H5Sget_simple_extent_dims(fspace, dims, NULL) >= 0) {
    for (int i = 1; i < ndim; i++)
      count[i] = dims[i];
    hid_t mspace = H5Screate_simple(ndim, count, NULL);
    if (mspace >= 0 &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
      r = write ? H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, buf)
                : H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf);
    if (r < 0)
      g_io_errno = errno;
    if (mspace >= 0)
      H5_KEEP_ERROR(H5Sclose(mspace));
  }
  H5_KEEP_ERROR(H5Sclose(fspace));
  return r;
}

herr_t r50_h5_write_rows(hid_t dset, hid_t mtype, int64_t row0, int64_t n,
                         const void *buf) {
  return rows_io(dset, mtype, row0, n, (void *)buf, 1);
}

herr_t r50_h5_read_rows(hid_t dset, hid_t mtype, int64_t row0, int64_t n, void *buf) {
  return rows_io(dset, mtype, row0, n, buf, 0);
}

/* ------------------------------------------------------------------ attributes */

static herr_t put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n,
                  const void *v) {
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t a =
      space >= 0 ? H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
  herr_t w = a >= 0 ? H5Awrite(a, mtype, v) : -1;
  if (a >= 0 && H5Aclose(a) < 0)
    w = -1;
  if (space >= 0)
    H5_KEEP_ERROR(H5Sclose(space));
  return w;
}

herr_t r50_h5_put_ints(hid_t loc, const char *name, const int *v, int n) {
  return put(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, n, v);
}

herr_t r50_h5_put_int64(hid_t loc, const char *name, int64_t v) {
  return put(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &v);
}

herr_t r50_h5_put_double(hid_t loc, const char *name, double v) {
  return put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
}

herr_t r50_h5_put_floats(hid_t loc, const char *name, const float *v, int n) {
  return put(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, v);
}

herr_t r50_h5_put_str(hid_t loc, const char *name, const char *v) {
  hid_t t = r50_h5_str_type(strlen(v) + 1);
  if (t < 0)
    return -1;
  herr_t r = put(loc, name, t, t, 0, v);
  H5_KEEP_ERROR(H5Tclose(t));
  return r;
}

herr_t r50_h5_set_int(hid_t loc, const char *name, int v) {
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  herr_t r = H5Awrite(a, H5T_NATIVE_INT, &v);
  if (H5Aclose(a) < 0)
    r = -1;
  return r;
}

/* Opens attribute `name` of n elements (0: scalar or 1 element): 1 with *a set, 0
 * absent, -1 otherwise. */
static int open_attr(hid_t loc, const char *name, int n, hid_t *a) {
  htri_t e = H5Aexists(loc, name);
  if (e == 0)
    return 0;
  if (e < 0 || (*a = H5Aopen(loc, name, H5P_DEFAULT)) < 0)
    return -1;
  hid_t space = H5Aget_space(*a);
  hssize_t np = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (space >= 0)
    H5Sclose(space);
  if (np != (n ? n : 1)) {
    H5Aclose(*a);
    return -1;
  }
  return 1;
}

int r50_h5_get_ints(hid_t loc, const char *name, int *v, int n) {
  hid_t a;
  int r = open_attr(loc, name, n, &a);
  if (r <= 0)
    return r;
  r = H5Aread(a, H5T_NATIVE_INT, v) >= 0 ? 1 : -1;
  H5Aclose(a);
  return r;
}

/* A scalar attribute read as mtype. */
static int get_scalar(hid_t loc, const char *name, hid_t mtype, void *v) {
  hid_t a;
  int r = open_attr(loc, name, 0, &a);
  if (r <= 0)
    return r;
  r = H5Aread(a, mtype, v) >= 0 ? 1 : -1;
  H5Aclose(a);
  return r;
}

int r50_h5_get_int64(hid_t loc, const char *name, int64_t *v) {
  return get_scalar(loc, name, H5T_NATIVE_INT64, v);
}

int r50_h5_get_double(hid_t loc, const char *name, double *v) {
  return get_scalar(loc, name, H5T_NATIVE_DOUBLE, v);
}

int r50_h5_get_str(hid_t loc, const char *name, char *buf, size_t cap) {
  buf[0] = 0;
  hid_t a;
  int r = open_attr(loc, name, 0, &a);
  if (r <= 0)
    return r;
  hid_t t = H5Aget_type(a);
  r = -1;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
    size_t len = H5Tget_size(t);
    char *tmp = calloc(1, len + 1);
    if (tmp && H5Aread(a, t, tmp) >= 0) {
      snprintf(buf, cap, "%s", tmp);
      r = 1;
    }
    free(tmp);
  }
  if (t >= 0)
    H5Tclose(t);
  H5Aclose(a);
  return r;
}

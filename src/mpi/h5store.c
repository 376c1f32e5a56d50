/*
 * h5store.c — the parallel HDF5 feature file (schema in h5store.h).
 *
 * Every hid_t is checked and closed on all paths; HDF5's own error printing is off
 * and each failure becomes a message naming the file and the object.
 */
#include "h5store.h"

#include <errno.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

struct r50_h5store {
  const r50_dist *d;
  char path[4096];
  hid_t file;
  hid_t feat[R50_H5_MAX_LAYERS];
  hid_t status, error;
  int n_layers;
  int64_t n;
  int64_t row_floats[R50_H5_MAX_LAYERS];
};

#define H5_CHECK(expr, ...)                                   \
  do {                                                        \
    if ((expr) < 0)                                           \
      return r50_fail(err, R50_ERR_IO, __VA_ARGS__);          \
  } while (0)

static void quiet_hdf5(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static hid_t file_access(const r50_dist *d) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && H5Pset_fapl_mpio(fapl, d->comm, MPI_INFO_NULL) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

static hid_t string_type(size_t len) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 && (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* ------------------------------------------------------------------ attributes */

static r50_status put_attr(hid_t loc, const char *name, hid_t type, int n, const void *v,
                           const char *path, r50_error *err) {
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t a = space >= 0 ? H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
  herr_t w = a >= 0 ? H5Awrite(a, type, v) : -1;
  if (a >= 0)
    H5Aclose(a);
  if (space >= 0)
    H5Sclose(space);
  H5_CHECK(w, "%s: cannot write attribute '%s'", path, name);
  return R50_OK;
}

static r50_status put_str_attr(hid_t loc, const char *name, const char *v, const char *path,
                               r50_error *err) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5_CHECK(t, "%s: HDF5 string type", path);
  r50_status s = R50_OK;
  if (H5Tset_size(t, strlen(v) + 1) < 0)
    s = r50_fail(err, R50_ERR_IO, "%s: HDF5 string type", path);
  else
    s = put_attr(loc, name, t, 0, v, path, err);
  H5Tclose(t);
  return s;
}

/* Reads string attribute `name` into buf (truncated to cap); "" when absent. */
static void get_str_attr(hid_t loc, const char *name, char *buf, size_t cap) {
  buf[0] = 0;
  hid_t a = H5Aexists(loc, name) > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : -1;
  if (a < 0)
    return;
  hid_t t = H5Aget_type(a);
  size_t len = t >= 0 ? H5Tget_size(t) : 0;
  char *tmp = len ? calloc(1, len + 1) : NULL;
  if (tmp && H5Aread(a, t, tmp) >= 0)
    snprintf(buf, cap, "%s", tmp);
  free(tmp);
  if (t >= 0)
    H5Tclose(t);
  H5Aclose(a);
}

static int get_int_attr(hid_t loc, const char *name, int *v, int n) {
  hid_t a = H5Aexists(loc, name) > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : -1;
  if (a < 0)
    return 0;
  hid_t space = H5Aget_space(a);
  int ok = space >= 0 && H5Sget_simple_extent_npoints(space) == n &&
           H5Aread(a, H5T_NATIVE_INT, v) >= 0;
  if (space >= 0)
    H5Sclose(space);
  H5Aclose(a);
  return ok;
}

static void layer_list(const r50_h5_meta *m, char *buf, size_t cap) {
  buf[0] = 0;
  for (int l = 0; l < m->n_layers; l++)
    snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", l ? "," : "", m->layers[l]);
}

static r50_status write_root_attrs(hid_t f, const r50_h5_meta *m, const char *path,
                                   r50_error *err) {
  char layers[256];
  layer_list(m, layers, sizeof layers);
  int size[2] = {m->size_w, m->size_h};
  const float *mean = r50_mean_bgr;
  R50_TRY(put_attr(f, "arch", H5T_NATIVE_INT, 0, &m->arch, path, err));
  R50_TRY(put_attr(f, "downsample_fb", H5T_NATIVE_INT, 0, &m->downsample_fb, path, err));
  R50_TRY(put_str_attr(f, "model", m->model, path, err));
  R50_TRY(put_str_attr(f, "model_sha256", m->model_sha256, path, err));
  R50_TRY(put_attr(f, "size", H5T_NATIVE_INT, 2, size, path, err));
  R50_TRY(put_attr(f, "mean", H5T_NATIVE_FLOAT, 3, mean, path, err));
  R50_TRY(put_str_attr(f, "layers", layers, path, err));
  R50_TRY(put_str_attr(f, "version", R50_VERSION, path, err));
  int zero = 0;
  return put_attr(f, "complete", H5T_NATIVE_INT, 0, &zero, path, err);
}

/* ------------------------------------------------------------------ datasets */

/* Creates a chunked dataset of n rows, each of `rdims` (ndim-1 dims), chunks of
 * crows rows; space allocated at creation, never filled (rows are written). */
static hid_t make_dataset(hid_t loc, const char *name, hid_t type, int64_t n, int ndim,
                          const int64_t *rdims, int64_t crows) {
  hsize_t dims[4] = {(hsize_t)n}, chunk[4] = {(hsize_t)(crows < n ? crows : n)};
  for (int i = 1; i < ndim; i++)
    dims[i] = chunk[i] = (hsize_t)rdims[i - 1];
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = -1;
  if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, ndim, chunk) >= 0 &&
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
    d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (space >= 0)
    H5Sclose(space);
  return d;
}

/* Independent write of rows [row0, row0+n) of a dataset whose rows hold `per_row`
 * elements of `mtype`. */
static herr_t write_rows(hid_t dset, hid_t mtype, int64_t row0, int64_t n, const void *buf) {
  if (n == 0)
    return 0;
  hid_t fspace = H5Dget_space(dset);
  if (fspace < 0)
    return -1;
  int ndim = H5Sget_simple_extent_ndims(fspace);
  hsize_t dims[4], start[4] = {(hsize_t)row0}, count[4] = {(hsize_t)n};
  H5Sget_simple_extent_dims(fspace, dims, NULL);
  for (int i = 1; i < ndim; i++)
    count[i] = dims[i];
  hid_t mspace = H5Screate_simple(ndim, count, NULL);
  herr_t r = -1;
  if (mspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
    r = H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, buf);
  if (mspace >= 0)
    H5Sclose(mspace);
  H5Sclose(fspace);
  return r;
}

static r50_status write_string_rows(hid_t dset, size_t len, int64_t row0, int64_t n,
                                    const char *const *strs, const char *path,
                                    const char *what, r50_error *err) {
  char *buf = calloc(n > 0 ? (size_t)n : 1, len);
  if (!buf)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory writing %s", what);
  for (int64_t i = 0; i < n; i++)
    strncpy(buf + i * (int64_t)len, strs[i] ? strs[i] : "", len);
  hid_t t = string_type(len);
  herr_t r = t >= 0 ? write_rows(dset, t, row0, n, buf) : -1;
  if (t >= 0)
    H5Tclose(t);
  free(buf);
  H5_CHECK(r, "%s: cannot write %s rows %lld..%lld", path, what, (long long)row0,
           (long long)(row0 + n - 1));
  return R50_OK;
}

static size_t max_path_len(const r50_dataset *ds) {
  size_t m = 1;
  for (int64_t i = 0; i < ds->n; i++)
    if (strlen(ds->paths[i]) > m)
      m = strlen(ds->paths[i]);
  return m;
}

/* Rank 0 writes the list: paths, labels, pending statuses, empty errors, classes. */
static r50_status write_list(r50_h5store *s, const r50_dataset *ds, hid_t paths,
                             hid_t labels, hid_t classes, r50_error *err) {
  const int64_t step = 1 << 16;
  R50_TRY(write_string_rows(paths, max_path_len(ds), 0, ds->n,
                            (const char *const *)ds->paths, s->path, "/images/path", err));
  H5_CHECK(write_rows(labels, H5T_NATIVE_INT32, 0, ds->n, ds->labels),
           "%s: cannot write /images/label", s->path);
  int8_t *zeros = calloc((size_t)step, 1);
  const char **empty = calloc((size_t)step, sizeof *empty);
  r50_status st = zeros && empty ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int64_t r = 0; r < ds->n && st == R50_OK; r += step) {
    int64_t k = ds->n - r < step ? ds->n - r : step;
    if (write_rows(s->status, H5T_NATIVE_INT8, r, k, zeros) < 0)
      st = r50_fail(err, R50_ERR_IO, "%s: cannot write /images/status", s->path);
    else
      st = write_string_rows(s->error, R50_H5_ERROR_LEN, r, k, empty, s->path,
                             "/images/error", err);
  }
  free(zeros);
  free(empty);
  if (st == R50_OK && classes >= 0)
    st = write_string_rows(classes, 256, 0, ds->n_classes,
                           (const char *const *)ds->class_names, s->path, "/classes", err);
  return st;
}

static r50_status create_objects(r50_h5store *s, const r50_dataset *ds,
                                 const r50_h5_meta *m, r50_error *err) {
  const char *path = s->path;
  R50_TRY(write_root_attrs(s->file, m, path, err));
  hid_t gf = H5Gcreate2(s->file, "features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(gf, "%s: cannot create /features", path);
  r50_status st = R50_OK;
  for (int l = 0; l < m->n_layers && st == R50_OK; l++) {
    s->feat[l] = make_dataset(gf, m->layers[l], H5T_IEEE_F32LE, ds->n, m->ndim[l] + 1,
                              m->shape[l], m->chunk_rows);
    if (s->feat[l] < 0)
      st = r50_fail(err, R50_ERR_IO, "%s: cannot create /features/%s", path, m->layers[l]);
  }
  H5Gclose(gf);
  R50_TRY(st);
  hid_t gi = H5Gcreate2(s->file, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(gi, "%s: cannot create /images", path);
  hid_t pt = string_type(max_path_len(ds)), et = string_type(R50_H5_ERROR_LEN),
        ct = string_type(256);
  hid_t paths = make_dataset(gi, "path", pt, ds->n, 1, NULL, m->chunk_rows);
  hid_t labels = make_dataset(gi, "label", H5T_STD_I32LE, ds->n, 1, NULL, m->chunk_rows);
  s->status = make_dataset(gi, "status", H5T_STD_I8LE, ds->n, 1, NULL, m->chunk_rows);
  s->error = make_dataset(gi, "error", et, ds->n, 1, NULL, m->chunk_rows);
  hid_t classes = ds->n_classes
                      ? make_dataset(s->file, "classes", ct, ds->n_classes, 1, NULL, 1024)
                      : -1;
  if (paths < 0 || labels < 0 || s->status < 0 || s->error < 0 ||
      (ds->n_classes && classes < 0))
    st = r50_fail(err, R50_ERR_IO, "%s: cannot create the /images datasets", path);
  else if (s->d->rank == 0)
    st = write_list(s, ds, paths, labels, classes, err);
  H5Tclose(pt), H5Tclose(et), H5Tclose(ct);
  if (paths >= 0)
    H5Dclose(paths);
  if (labels >= 0)
    H5Dclose(labels);
  if (classes >= 0)
    H5Dclose(classes);
  H5Gclose(gi);
  return st;
}

/* ------------------------------------------------------------------ entry points */

static r50_h5store *new_store(const r50_dist *d, const char *path, int64_t n, int nl) {
  r50_h5store *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->d = d;
  snprintf(s->path, sizeof s->path, "%s", path);
  s->file = s->status = s->error = -1;
  for (int l = 0; l < R50_H5_MAX_LAYERS; l++)
    s->feat[l] = -1;
  s->n = n;
  s->n_layers = nl;
  return s;
}

static void close_handles(r50_h5store *s) {
  for (int l = 0; l < R50_H5_MAX_LAYERS; l++)
    if (s->feat[l] >= 0)
      H5Dclose(s->feat[l]);
  if (s->status >= 0)
    H5Dclose(s->status);
  if (s->error >= 0)
    H5Dclose(s->error);
  if (s->file >= 0)
    H5Fclose(s->file);
  free(s);
}

/* Rank 0's check that the output can be created, with the cause in words. */
static r50_status check_creatable(const char *path, int overwrite, r50_error *err) {
  struct stat st;
  if (stat(path, &st) == 0 && !overwrite)
    return r50_fail(err, R50_ERR_ARG,
                    "%s exists; pass --resume to continue it or --overwrite to replace it",
                    path);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  const char *parent = dirname(dir);
  if (access(parent, W_OK) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot create %s: folder %s: %s", path, parent,
                    strerror(errno));
  return R50_OK;
}

static void set_row_sizes(r50_h5store *s, const r50_h5_meta *m) {
  for (int l = 0; l < m->n_layers; l++) {
    s->row_floats[l] = 1;
    for (int i = 0; i < m->ndim[l]; i++)
      s->row_floats[l] *= m->shape[l][i];
  }
}

r50_status r50_h5_create(const r50_dist *d, const char *path, const r50_dataset *ds,
                         const r50_h5_meta *meta, int overwrite, r50_h5store **out,
                         r50_error *err) {
  quiet_hdf5();
  *out = NULL;
  r50_status st = d->rank == 0 ? check_creatable(path, overwrite, err) : R50_OK;
  R50_TRY(r50_dist_agree(d, st, err));
  r50_h5store *s = new_store(d, path, ds->n, meta->n_layers);
  st = s ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  R50_TRY(r50_dist_agree(d, st, err));
  set_row_sizes(s, meta);
  hid_t fapl = file_access(d);
  s->file = fapl >= 0 ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
  if (fapl >= 0)
    H5Pclose(fapl);
  st = s->file >= 0 ? R50_OK
                    : r50_fail(err, R50_ERR_IO, "cannot create %s (HDF5 with MPI-IO)", path);
  if (r50_dist_agree(d, st, err) != R50_OK) {
    close_handles(s);
    return err ? err->status : R50_ERR_IO;
  }
  st = create_objects(s, ds, meta, err);
  if (st == R50_OK && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    st = r50_fail(err, R50_ERR_IO, "%s: flush failed", path);
  st = r50_dist_agree(d, st, err);
  if (st != R50_OK) {
    close_handles(s);
    return st;
  }
  *out = s;
  return R50_OK;
}

/* Compares the file's identity with this job's; fills err naming the difference. */
static r50_status check_identity(r50_h5store *s, const r50_h5_meta *m, r50_error *err) {
  char sha[128], layers[256], want_layers[256];
  int arch = 0, fb = -1, size[2] = {-1, -1};
  get_str_attr(s->file, "model_sha256", sha, sizeof sha);
  get_str_attr(s->file, "layers", layers, sizeof layers);
  layer_list(m, want_layers, sizeof want_layers);
  if (!get_int_attr(s->file, "arch", &arch, 1) || !get_int_attr(s->file, "downsample_fb", &fb, 1) ||
      !get_int_attr(s->file, "size", size, 2))
    return r50_fail(err, R50_ERR_FORMAT, "%s: not an r50worker feature file (attributes missing)",
                    s->path);
  if (arch != m->arch || fb != m->downsample_fb)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "--resume: %s holds ResNet-%d%s features, this job runs ResNet-%d%s",
                    s->path, arch, fb ? " FB" : "", m->arch, m->downsample_fb ? " FB" : "");
  if (strcmp(sha, m->model_sha256) != 0)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "--resume: %s was made with other weights (model sha256 %.16s..., "
                    "this job %.16s...)",
                    s->path, sha, m->model_sha256);
  if (strcmp(layers, want_layers) != 0)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "--resume: %s holds layers '%s', this job asks for '%s'", s->path,
                    layers, want_layers);
  if (size[0] != m->size_w || size[1] != m->size_h)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "--resume: %s was made with --size %dx%d, this job uses %dx%d", s->path,
                    size[0], size[1], m->size_w, m->size_h);
  return R50_OK;
}

static r50_status open_datasets(r50_h5store *s, const r50_h5_meta *m, r50_error *err) {
  for (int l = 0; l < m->n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "/features/%s", m->layers[l]);
    s->feat[l] = H5Dopen2(s->file, name, H5P_DEFAULT);
    H5_CHECK(s->feat[l], "%s: cannot open %s", s->path, name);
    hid_t sp = H5Dget_space(s->feat[l]);
    hsize_t dims[4] = {0};
    int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    if (sp >= 0)
      H5Sclose(sp);
    int ok = nd == m->ndim[l] + 1 && dims[0] == (hsize_t)s->n;
    for (int i = 0; ok && i < m->ndim[l]; i++)
      ok = dims[i + 1] == (hsize_t)m->shape[l][i];
    if (!ok)
      return r50_fail(err, R50_ERR_MISMATCH, "--resume: %s: %s has another shape", s->path,
                      name);
  }
  s->status = H5Dopen2(s->file, "/images/status", H5P_DEFAULT);
  s->error = H5Dopen2(s->file, "/images/error", H5P_DEFAULT);
  H5_CHECK(s->status < 0 || s->error < 0 ? -1 : 0, "%s: /images/status or /images/error missing",
           s->path);
  return R50_OK;
}

/* The file's /images/path rows must equal the dataset's. */
static r50_status check_paths(r50_h5store *s, const r50_dataset *ds, r50_error *err) {
  hid_t d = H5Dopen2(s->file, "/images/path", H5P_DEFAULT);
  H5_CHECK(d, "%s: /images/path missing", s->path);
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t n = 0;
  if (sp >= 0)
    H5Sget_simple_extent_dims(sp, &n, NULL);
  size_t len = t >= 0 ? H5Tget_size(t) : 0;
  r50_status st = R50_OK;
  if (n != (hsize_t)ds->n) {
    st = r50_fail(err, R50_ERR_MISMATCH,
                  "--resume: %s lists %llu images, the dataset now has %lld", s->path,
                  (unsigned long long)n, (long long)ds->n);
  } else {
    char *buf = malloc((size_t)n * len + 1);
    hid_t mt = string_type(len);
    if (!buf || mt < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      st = r50_fail(err, R50_ERR_IO, "%s: cannot read /images/path", s->path);
    for (hsize_t i = 0; st == R50_OK && i < n; i++)
      if (strncmp(buf + i * len, ds->paths[i], len) != 0 || strlen(ds->paths[i]) > len)
        st = r50_fail(err, R50_ERR_MISMATCH,
                      "--resume: row %llu of %s is '%.*s', the dataset has '%s' there",
                      (unsigned long long)i, s->path, (int)len, buf + i * len,
                      ds->paths[i]);
    if (mt >= 0)
      H5Tclose(mt);
    free(buf);
  }
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  H5Dclose(d);
  return st;
}

r50_status r50_h5_resume(const r50_dist *d, const char *path, const r50_dataset *ds,
                         const r50_h5_meta *meta, r50_h5store **out, int8_t **status,
                         r50_error *err) {
  quiet_hdf5();
  *out = NULL;
  *status = NULL;
  struct stat sb;
  r50_status st = d->rank == 0 && stat(path, &sb) != 0
                      ? r50_fail(err, R50_ERR_NOT_FOUND, "--resume: %s: %s", path,
                                 strerror(errno))
                      : R50_OK;
  R50_TRY(r50_dist_agree(d, st, err));
  r50_h5store *s = new_store(d, path, ds->n, meta->n_layers);
  R50_TRY(r50_dist_agree(d, s ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory"), err));
  set_row_sizes(s, meta);
  hid_t fapl = file_access(d);
  s->file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDWR, fapl) : -1;
  if (fapl >= 0)
    H5Pclose(fapl);
  st = s->file >= 0 ? R50_OK
                    : r50_fail(err, R50_ERR_FORMAT, "--resume: cannot open %s as HDF5", path);
  if (st == R50_OK)
    st = check_identity(s, meta, err);
  if (st == R50_OK)
    st = open_datasets(s, meta, err);
  if (st == R50_OK && d->rank == 0)
    st = check_paths(s, ds, err);
  int8_t *stat_rows = NULL;
  if (st == R50_OK && !(stat_rows = malloc((size_t)(ds->n ? ds->n : 1))))
    st = r50_fail(err, R50_ERR_NOMEM, "out of memory");
  if (st == R50_OK &&
      H5Dread(s->status, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, stat_rows) < 0)
    st = r50_fail(err, R50_ERR_IO, "%s: cannot read /images/status", path);
  st = r50_dist_agree(d, st, err);
  if (st != R50_OK) {
    free(stat_rows);
    close_handles(s);
    return st;
  }
  int zero = 0; /* incomplete again until this run ends */
  if (H5Aexists(s->file, "complete") > 0) {
    hid_t a = H5Aopen(s->file, "complete", H5P_DEFAULT);
    if (a >= 0) {
      H5Awrite(a, H5T_NATIVE_INT, &zero);
      H5Aclose(a);
    }
  }
  *out = s;
  *status = stat_rows;
  return R50_OK;
}

r50_status r50_h5_write_rows(r50_h5store *s, int64_t row0, int64_t n,
                             const float *const *features, const char *const *errors,
                             const int8_t *status, r50_error *err) {
  for (int l = 0; l < s->n_layers; l++)
    H5_CHECK(write_rows(s->feat[l], H5T_NATIVE_FLOAT, row0, n, features[l]),
             "%s: cannot write features of rows %lld..%lld", s->path, (long long)row0,
             (long long)(row0 + n - 1));
  R50_TRY(write_string_rows(s->error, R50_H5_ERROR_LEN, row0, n, errors, s->path,
                            "/images/error", err));
  H5_CHECK(write_rows(s->status, H5T_NATIVE_INT8, row0, n, status),
           "%s: cannot write /images/status rows %lld..%lld", s->path, (long long)row0,
           (long long)(row0 + n - 1));
  return R50_OK;
}

r50_status r50_h5_close(r50_h5store *s, int complete, r50_error *err) {
  r50_status st = R50_OK;
  hid_t a = H5Aopen(s->file, "complete", H5P_DEFAULT);
  if (a < 0 || H5Awrite(a, H5T_NATIVE_INT, &complete) < 0)
    st = r50_fail(err, R50_ERR_IO, "%s: cannot set the 'complete' attribute", s->path);
  if (a >= 0)
    H5Aclose(a);
  hid_t file = s->file;
  char path[sizeof s->path];
  snprintf(path, sizeof path, "%s", s->path);
  s->file = -1;
  close_handles(s);
  if (H5Fclose(file) < 0 && st == R50_OK)
    st = r50_fail(err, R50_ERR_IO, "%s: close failed", path);
  return st;
}

/*
 * h5store.c — the feature file (schema and life cycle in h5store.h).
 *
 * Every hid_t is checked and closed exactly once on every path; HDF5's own error
 * printing is off and each failure becomes a message naming the file, the object and
 * the cause from HDF5's error stack.
 */
#include "h5store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "h5dims.h"
#include "h5errors.h"
#include "h5store_file.h"
#include "h5util.h"
#include "half.h"
#include "utf8.h"

#define FORMAT_TAG R50_STORE_FORMAT
#define CHUNK_BYTES ((int64_t)1 << 20) /* at least this much per chunk of features */
#define LIST_STEP ((int64_t)1 << 16)   /* rows per write or read of the list */

struct r50_store {
  char path[4096];
  hid_t file;
  hid_t feat[R50_STORE_MAX_LAYERS];
  hid_t status;
  hid_t half; /* the file's float16 type when features are float16, else -1 */
  int n_layers;
  int64_t per_row[R50_STORE_MAX_LAYERS]; /* floats per row of each layer */
};

/* Closes every object of the library still open (after a failed H5Fclose, which
 * leaves the file open inside HDF5); files last. */
static void close_leftovers(void) {
  ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n <= 0)
    return;
  hid_t *ids = malloc((size_t)n * sizeof *ids);
  if (!ids)
    return;
  n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)n, ids);
  for (int pass = 0; pass < 2; pass++)
    for (ssize_t i = 0; i < n; i++) {
      H5I_type_t t = H5Iget_type(ids[i]);
      if (pass == 0 && t != H5I_FILE && t != H5I_BADID)
        H5Oclose(ids[i]);
      else if (pass == 1 && t == H5I_FILE)
        while (H5Fclose(ids[i]) < 0 && H5Iis_valid(ids[i]) > 0 && H5Idec_ref(ids[i]) > 0)
          ;
    }
  free(ids);
  H5Eclear2(H5E_DEFAULT);
}

/* No HDF5 flock: the job holds its own lock file, and flock fails on many parallel file
 * systems. */
hid_t r50_store_serial_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  /* the 1.10 format: a chunked dataset of fixed size gets a fixed-array chunk index,
   * made in one step, instead of a B-tree grown chunk by chunk */
  if (fapl >= 0 && (H5Pset_file_locking(fapl, 0, 1) < 0 ||
                    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0)) {
    H5_KEEP_ERROR(H5Pclose(fapl));
    return -1;
  }
  return fapl;
}

/* The closed file at path on disk (its folder: r50_rename_durable). */
static r50_status sync_file(const char *path, r50_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return r50_fail(err, R50_ERR_IO, "%s: cannot open to sync: %s", path,
                    strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0)
    return r50_fail(err, R50_ERR_IO, "%s: fsync: %s", path, strerror(e));
  return R50_OK;
}

/* ------------------------------------------------------------------ creation */

static void layer_list(const r50_store_meta *m, char *buf, size_t cap) {
  buf[0] = 0;
  for (int l = 0; l < m->n_layers; l++)
    snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", l ? "," : "", m->layers[l]);
}

static r50_status write_root_attrs(hid_t f, const r50_store_meta *m, int64_t n,
                                   const char *path, r50_error *err) {
  char layers[256];
  layer_list(m, layers, sizeof layers);
  int size[2] = {m->size_w, m->size_h}, zero = 0;
  if (r50_h5_put_str(f, "format", FORMAT_TAG) < 0 ||
      r50_h5_put_str(f, "version", r50_version()) < 0 ||
      r50_h5_put_str(f, "command", m->command) < 0 ||
      r50_h5_put_ints(f, "arch", &m->arch, 0) < 0 ||
      r50_h5_put_ints(f, "downsample_fb", &m->downsample_fb, 0) < 0 ||
      r50_h5_put_str(f, "model", m->model) < 0 ||
      r50_h5_put_str(f, "model_sha256", m->model_sha256) < 0 ||
      r50_h5_put_ints(f, "size", size, 2) < 0 ||
      r50_h5_put_floats(f, "mean", r50_mean_bgr, 3) < 0 ||
      r50_h5_put_str(f, "layers", layers) < 0 ||
      r50_h5_put_str(f, "dtype", m->float16 ? "float16" : "float32") < 0 ||
      r50_h5_put_str(f, "precision", m->precision) < 0 ||
      r50_h5_put_ints(f, "oversample", &m->oversample, 0) < 0 ||
      r50_h5_put_ints(f, "fast_decode", &m->fast_decode, 0) < 0 ||
      r50_h5_put_ints(f, "exif_rotate", &m->exif_rotate, 0) < 0 ||
      r50_h5_put_int64(f, "max_pixels", m->max_pixels) < 0 ||
      r50_h5_put_int64(f, "n_images", n) < 0 ||
      r50_h5_put_str(f, "dataset_sha256", m->dataset_sha256) < 0 ||
      r50_h5_put_ints(f, "complete", &zero, 0) < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot write the root attributes", path);
  return R50_OK;
}

/* A dataset of n rows, each of `rdims` (ndim - 1 dims), in chunks of crows rows (0:
 * contiguous); space allocated at creation and never filled (rows are written, or
 * read as 0). */
static hid_t make_dataset(hid_t loc, const char *name, hid_t type, int64_t n, int ndim,
                          const int64_t *rdims, int64_t crows) {
  hsize_t dims[4] = {(hsize_t)n}, chunk[4] = {(hsize_t)(crows < n ? crows : n)};
  if (chunk[0] == 0)
    chunk[0] = 1;
  for (int i = 1; i < ndim; i++)
    dims[i] = chunk[i] = (hsize_t)rdims[i - 1];
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
  hid_t d = -1;
  if (space >= 0 && dcpl >= 0 && dapl >= 0 &&
      (crows > 0 ? H5Pset_chunk(dcpl, ndim, chunk)
                 : H5Pset_layout(dcpl, H5D_CONTIGUOUS)) >= 0 &&
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
      H5Pset_chunk_cache(dapl, 0, 0, 1.0) >= 0)
    d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, dapl);
  H5_KEEP_ERROR(if (dcpl >= 0) H5Pclose(dcpl); if (dapl >= 0) H5Pclose(dapl);
                if (space >= 0) H5Sclose(space));
  return d;
}

/* /images/path: fixed-length strings as wide as the longest path, so one long name
 * among 10^8 short ones would widen every row; deflated chunks (rank 0 writes them
 * once, as it creates the file) keep the padding off the disk. Chunks of a power of
 * two rows up to LIST_STEP and 1 MiB (the default chunk cache), so the writes of
 * LIST_STEP rows cover whole chunks and a reader's cache holds one. */
static hid_t make_path_dataset(hid_t loc, hid_t type, size_t len, int64_t n) {
  hsize_t dims[1] = {(hsize_t)n}, chunk[1] = {1};
  if (n == 0) /* (a chunk may not exceed a fixed dimension) */
    return make_dataset(loc, "path", type, n, 1, NULL, 0);
  while ((int64_t)chunk[0] * 2 <= LIST_STEP && chunk[0] * 2 * len <= CHUNK_BYTES &&
         (int64_t)chunk[0] * 2 <= n)
    chunk[0] *= 2;
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = -1;
  if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, chunk) >= 0 &&
      H5Pset_deflate(dcpl, 1) >= 0)
    d = H5Dcreate2(loc, "path", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_KEEP_ERROR(if (dcpl >= 0) H5Pclose(dcpl); if (space >= 0) H5Sclose(space));
  return d;
}

/* Rows per chunk of a layer: at least CHUNK_BYTES a chunk, whatever --chunk is. */
static int64_t chunk_rows(const r50_store_meta *m, int l) {
  int64_t row = m->float16 ? 2 : 4;
  for (int i = 0; i < m->ndim[l]; i++)
    row *= m->shape[l][i];
  return (CHUNK_BYTES + row - 1) / row;
}

/* The i-th of n strings: a dataset's paths or an array's. */
typedef const char *(*string_at)(const void *src, int64_t i);

static const char *row_name(const void *ds, int64_t i) {
  return r50_dataset_name(ds, i);
}

static const char *array_item(const void *strs, int64_t i) {
  return ((char *const *)strs)[i];
}

/* The longest of n strings as stored (utf8.h's escapes); where escaped is not NULL,
 * how many need escapes and the first that does (-1: none). */
static size_t max_len(string_at get, const void *src, int64_t n, int64_t *escaped,
                      int64_t *first) {
  size_t m = 1;
  int64_t e = 0, f = -1;
  for (int64_t i = 0; i < n; i++) {
    const char *str = get(src, i);
    size_t k = r50_utf8_escaped_len(str);
    if (k != strlen(str) && !e++)
      f = i;
    m = k > m ? k : m;
  }
  if (escaped)
    *escaped = e, *first = f;
  return m;
}

/* Writes n strings, of at most len bytes once escaped (utf8.h), as rows [0, n) of
 * dset, in steps. */
static herr_t write_strings(hid_t dset, size_t len, string_at get, const void *src,
                            int64_t n) {
  hid_t t = r50_h5_str_type(len);
  int64_t step = n < LIST_STEP ? n : LIST_STEP;
  char *buf = t >= 0 ? calloc((size_t)(step ? step : 1), len) : NULL,
       *esc = malloc(len + 1);
  herr_t r = buf && esc ? 0 : -1;
  for (int64_t r0 = 0; r >= 0 && r0 < n; r0 += step) {
    int64_t k = n - r0 < step ? n - r0 : step;
    memset(buf, 0, (size_t)k * len);
    for (int64_t i = 0; i < k; i++) {
      const char *str = get(src, r0 + i);
      if (!r50_utf8_valid(str)) {
        r50_utf8_escape(str, esc);
        str = esc;
      }
      memcpy(buf + i * (int64_t)len, str, strlen(str));
    }
    r = r50_h5_write_rows(dset, t, r0, k, buf);
  }
  free(esc);
  free(buf);
  if (t >= 0)
    H5_KEEP_ERROR(H5Tclose(t));
  return r;
}

static r50_status write_images(hid_t f, const r50_dataset *ds, const r50_store_meta *m,
                               const char *path, r50_error *err) {
  hid_t g = H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot create /images", path);
  (void)m;
  int64_t escaped = 0, first = -1;
  size_t plen = max_len(row_name, ds, ds->n, &escaped, &first);
  if (escaped) {
    char *e = r50_utf8_escaped_dup(row_name(ds, first));
    r50_log(R50_LOG_WARN,
            "%lld image path(s) not valid UTF-8: /images/path writes each byte that "
            "is not UTF-8 as \\xNN (as Python's backslashreplace), e.g. %s",
            (long long)escaped, e ? e : "");
    free(e);
  }
  hid_t pt = r50_h5_str_type(plen);
  hid_t dp = pt >= 0 ? make_path_dataset(g, pt, plen, ds->n) : -1;
  hid_t dl = make_dataset(g, "label", H5T_STD_I32LE, ds->n, 1, NULL, 0);
  hid_t dst = make_dataset(g, "status", H5T_STD_I8LE, ds->n, 1, NULL, 0);
  r50_status s = R50_OK;
  if (dp < 0 || dl < 0 || dst < 0)
    s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot create the /images datasets", path);
  else if (write_strings(dp, plen, row_name, ds, ds->n) < 0)
    s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot write /images/path", path);
  else if (r50_h5_write_rows(dl, H5T_NATIVE_INT32, 0, ds->n, ds->labels) < 0)
    s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot write /images/label", path);
  int8_t *zeros = s == R50_OK ? calloc((size_t)LIST_STEP, 1) : NULL;
  if (s == R50_OK && !zeros)
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int64_t r = 0; s == R50_OK && r < ds->n; r += LIST_STEP)
    if (r50_h5_write_rows(dst, H5T_NATIVE_INT8, r,
                          ds->n - r < LIST_STEP ? ds->n - r : LIST_STEP, zeros) < 0)
      s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot write /images/status", path);
  free(zeros);
  hid_t ids[] = {dp, dl, dst, pt};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  H5Gclose(g); /* the message, if any, is already in err */
  if (s == R50_OK && ds->n_classes) {
    size_t clen = max_len(array_item, ds->class_names, ds->n_classes, NULL, NULL);
    hid_t ct = r50_h5_str_type(clen);
    hid_t dc = ct >= 0 ? make_dataset(f, "classes", ct, ds->n_classes, 1, NULL, 0) : -1;
    if (dc < 0 || write_strings(dc, clen, array_item, ds->class_names, ds->n_classes) < 0)
      s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot write /classes", path);
    if (dc >= 0)
      H5Dclose(dc);
    if (ct >= 0)
      H5Tclose(ct);
  }
  return s;
}

static const char *const AXES[3] = {"channel", "y", "x"};

/* The name of axis a (0 channel, 1 y, 2 x) of layer l: the axis alone when its size is
 * that of the first layer with that axis, else "axis_SIZE" (res4's channel_1024 beside
 * pool5's and res5's channel). */
static void axis_name(const r50_store_meta *m, int l, int a, char *buf, size_t cap) {
  int k = 0;
  while (m->ndim[k] <= a)
    k++;
  if (m->shape[k][a] == m->shape[l][a])
    snprintf(buf, cap, "%s", AXES[a]);
  else
    snprintf(buf, cap, "%s_%lld", AXES[a], (long long)m->shape[l][a]);
}

/* Dimension scales at the root: image (N), each layer's axes, class (K); attached to
 * every dataset, so xarray opens /features and /images with named dimensions. */
static r50_status name_dims(hid_t f, const r50_dataset *ds, const r50_store_meta *m,
                            const char *path, r50_error *err) {
  hid_t image = r50_h5_make_dim(f, "image", ds->n);
  herr_t r = image >= 0 ? 0 : -1;
  if (image >= 0)
    H5_KEEP_ERROR(H5Dclose(image));
  for (int l = 0; r >= 0 && l < m->n_layers; l++) {
    char dset[64];
    snprintf(dset, sizeof dset, "features/%s", m->layers[l]);
    r = r50_h5_attach_named(f, dset, "image", 0);
    for (int a = 0; r >= 0 && a < m->ndim[l]; a++) {
      char name[32];
      axis_name(m, l, a, name, sizeof name);
      if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        hid_t d = r50_h5_make_dim(f, name, m->shape[l][a]);
        if (d < 0)
          r = -1;
        else
          H5_KEEP_ERROR(H5Dclose(d));
      }
      if (r >= 0)
        r = r50_h5_attach_named(f, dset, name, (unsigned)a + 1);
    }
  }
  static const char *const images[] = {"images/path", "images/label", "images/status"};
  for (size_t i = 0; r >= 0 && i < sizeof images / sizeof *images; i++)
    r = r50_h5_attach_named(f, images[i], "image", 0);
  if (r >= 0 && ds->n_classes) {
    hid_t c = r50_h5_make_dim(f, "class", ds->n_classes);
    r = c >= 0 ? 0 : -1;
    if (c >= 0)
      H5_KEEP_ERROR(H5Dclose(c));
    if (r >= 0)
      r = r50_h5_attach_named(f, "classes", "class", 0);
  }
  if (r < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot write the dimension scales", path);
  return R50_OK;
}

static r50_status write_structure(hid_t f, const r50_dataset *ds, const r50_store_meta *m,
                                  const char *path, r50_error *err) {
  R50_TRY(write_root_attrs(f, m, ds->n, path, err));
  if (H5Fflush(f, H5F_SCOPE_LOCAL) < 0)
    return r50_h5_fail_file(err, R50_ERR_IO, path, "%s: cannot write", path);
  hid_t g = H5Gcreate2(f, "features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot create /features", path);
  r50_status s = R50_OK;
  for (int l = 0; l < m->n_layers && s == R50_OK; l++) {
    hid_t ft = m->float16 ? r50_h5_half_type() : H5Tcopy(H5T_IEEE_F32LE);
    hid_t d = ft >= 0 ? make_dataset(g, m->layers[l], ft, ds->n, m->ndim[l] + 1,
                                     m->shape[l], chunk_rows(m, l))
                      : -1;
    if (ft >= 0)
      H5Tclose(ft);
    if (d < 0)
      s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot create /features/%s", path,
                      m->layers[l]);
    else
      H5Dclose(d);
  }
  H5Gclose(g);
  R50_TRY(s);
  R50_TRY(write_images(f, ds, m, path, err));
  R50_TRY(name_dims(f, ds, m, path, err));
  R50_TRY(r50_h5_errors_create(f, path, err));
  if (H5Fflush(f, H5F_SCOPE_LOCAL) < 0)
    return r50_h5_fail_file(err, R50_ERR_IO, path, "%s: cannot write", path);
  return R50_OK;
}

/* The output may be created: no other kind of file in its place, an existing one only
 * with overwrite, a writable folder. */
static r50_status check_creatable(const char *path, int overwrite, r50_error *err) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return r50_fail(err, R50_ERR_ARG,
                      "%s exists and is not a regular file; -o wants the path of an HDF5 "
                      "file to create",
                      path);
    if (!overwrite)
      return r50_fail(
          err, R50_ERR_ARG,
          "%s exists; pass --resume to continue it or --overwrite to replace it", path);
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  const char *parent = dirname(dir);
  if (access(parent, W_OK) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot create %s: folder %s: %s", path, parent,
                    strerror(errno));
  return R50_OK;
}

/* Disk space set aside while the file is written (a file of this size beside it), so
 * that when the disk fills up the close can still write the metadata HDF5 holds.
 * HDF5 1.10 cannot shut down with a file whose metadata it failed to write: the file
 * stays open after the failed H5Fclose, and the library's own close of it at exit
 * (MPI_Finalize) crashes. Freeing the reserve first gives the close its room. The
 * estimate: the fixed objects, and the chunk index of every dataset. */
static int64_t reserve_bytes(const r50_dataset *ds, const r50_store_meta *m) {
  int64_t chunks = 0;
  for (int l = 0; l < m->n_layers; l++)
    chunks += (ds->n + chunk_rows(m, l) - 1) / chunk_rows(m, l);
  return ((int64_t)1 << 20) + 32 * chunks;
}

static r50_status take_reserve(const char *file, int64_t bytes, const char *path,
                               r50_error *err) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", file, strerror(errno));
  int rc = posix_fallocate(fd, 0, (off_t)bytes);
  if (rc == EOPNOTSUPP || rc == EINVAL) { /* a file system without fallocate: write it */
    static const char zeros[1 << 16];
    rc = 0;
    for (int64_t done = 0; done < bytes && !rc;) {
      ssize_t w =
          write(fd, zeros,
                (size_t)(bytes - done < (int64_t)sizeof zeros ? bytes - done
                                                              : (int64_t)sizeof zeros));
      if (w < 0 && errno != EINTR)
        rc = errno;
      done += w > 0 ? w : 0;
    }
  }
  close(fd);
  if (rc) {
    unlink(file);
    return r50_fail(err, R50_ERR_IO,
                    "cannot create %s: %s (setting %lld bytes aside for "
                    "writing it failed)",
                    path, rc == ENOSPC ? "no space left on device" : strerror(rc),
                    (long long)bytes);
  }
  return R50_OK;
}

r50_status r50_store_create(const char *path, const r50_dataset *ds,
                            const r50_store_meta *meta, int overwrite, r50_error *err) {
  r50_h5_quiet();
  R50_TRY(check_creatable(path, overwrite, err));
  char part[4200], reserve[4200];
  snprintf(part, sizeof part, "%s.part", path);
  snprintf(reserve, sizeof reserve, "%s.reserve", path);
  unlink(part); /* a killed creation's; the job's lock makes these names ours */
  R50_TRY(take_reserve(reserve, reserve_bytes(ds, meta), path, err));
  hid_t fapl = r50_store_serial_fapl();
  hid_t f = fapl >= 0 ? H5Fcreate(part, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  if (f < 0) {
    r50_status s = r50_h5_fail_file(err, R50_ERR_IO, part, "cannot create %s", part);
    unlink(reserve);
    unlink(part);
    return s;
  }
  r50_status s = write_structure(f, ds, meta, path, err);
  unlink(reserve);
  if (H5Fclose(f) < 0 && s == R50_OK)
    s = r50_h5_fail_file(err, R50_ERR_IO, part, "cannot write %s", part);
  if (s == R50_OK)
    s = sync_file(part, err);
  if (s == R50_OK)
    s = r50_rename_durable(part, path, err);
  if (s != R50_OK)
    unlink(part);
  return s;
}

/* ------------------------------------------------------------------ resume */

static const char *with(int on) {
  return on ? "with" : "without";
}

/* Reports an attribute that is there but unreadable. */
static r50_status corrupt_for(const char *opt, const char *path, const char *attr,
                              r50_error *err) {
  return r50_fail(
      err, R50_ERR_FORMAT, "%s: %s: attribute '%s' is unreadable (the file is damaged)%s",
      opt, path, attr, strcmp(opt, "--resume") ? "" : "; start again with --overwrite");
}

static r50_status corrupt(const char *path, const char *attr, r50_error *err) {
  return corrupt_for("--resume", path, attr, err);
}

#define GET_INT(name, var)                                                               \
  do {                                                                                   \
    int got_ = r50_h5_get_ints(f, name, &(var), 1);                                      \
    if (got_ <= 0)                                                                       \
      return got_ < 0 ? corrupt_for(opt, path, name, err)                                \
                      : r50_fail(err, R50_ERR_FORMAT,                                    \
                                 "%s: %s: attribute '%s' is missing", opt, path, name);  \
  } while (0)

/* Whether every layer of m is among list's ("pool5,res5"). */
static int has_layers(const char *list, const r50_store_meta *m, const char **missing) {
  for (int l = 0; l < m->n_layers; l++) {
    const size_t n = strlen(m->layers[l]);
    int found = 0;
    for (const char *p = list; *p && !found;) {
      const size_t len = strcspn(p, ",");
      found = len == n && !strncmp(p, m->layers[l], n);
      p += len + (p[len] == ',');
    }
    if (!found) {
      *missing = m->layers[l];
      return 0;
    }
  }
  return 1;
}

r50_status r50_store_check_attrs(hid_t f, const char *path, const char *opt,
                                 const r50_store_meta *m, int more_layers_ok,
                                 r50_error *err) {
  char cmd[32], sha[128], layers[256], want_layers[256];
  int arch, fb, size[2], over, fast, exif;
  int64_t maxpix;
  if (r50_h5_get_str(f, "command", cmd, sizeof cmd) <= 0)
    return corrupt_for(opt, path, "command", err);
  if (strcmp(cmd, m->command))
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was made by `r50worker %s`, this "
                    "is `r50worker %s`",
                    opt, path, cmd, m->command);
  GET_INT("arch", arch);
  GET_INT("downsample_fb", fb);
  if (arch != m->arch || fb != m->downsample_fb)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s holds ResNet-%d%s features, this job runs ResNet-%d%s", opt,
                    path, arch, fb ? " FB" : "", m->arch, m->downsample_fb ? " FB" : "");
  if (r50_h5_get_str(f, "model_sha256", sha, sizeof sha) <= 0)
    return corrupt_for(opt, path, "model_sha256", err);
  if (strcmp(sha, m->model_sha256))
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was made with other weights (model sha256 %.16s..., "
                    "this job %.16s...)",
                    opt, path, sha, m->model_sha256);
  layer_list(m, want_layers, sizeof want_layers);
  if (r50_h5_get_str(f, "layers", layers, sizeof layers) <= 0 || !layers[0])
    return corrupt_for(opt, path, "layers", err);
  const char *missing = NULL;
  if (more_layers_ok ? !has_layers(layers, m, &missing)
                     : strcmp(layers, want_layers) != 0)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s holds layers '%s', this job asks for '%s'%s%s%s", opt, path,
                    layers, want_layers, missing ? " (" : "", missing ? missing : "",
                    missing ? " is not among them)" : "");
  char dtype[16] = "float32"; /* files before --dtype hold float32 */
  if (r50_h5_get_str(f, "dtype", dtype, sizeof dtype) < 0)
    return corrupt_for(opt, path, "dtype", err);
  if (strcmp(dtype, m->float16 ? "float16" : "float32"))
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s holds %s features, this job asks for --dtype %s", opt, path,
                    dtype, m->float16 ? "float16" : "float32");
  char precision[16] = ""; /* files before it was kept: not checked */
  if (r50_h5_get_str(f, "precision", precision, sizeof precision) < 0)
    return corrupt_for(opt, path, "precision", err);
  if (precision[0] && strcmp(precision, m->precision))
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was computed at precision %s, this job runs %s (the "
                    "precision in effect: --precision, and what this machine's CPUs or "
                    "GPUs run of it): its rows would mix the two; resume with the same "
                    "on a machine that runs it, or --overwrite",
                    opt, path, precision, m->precision);
  if (r50_h5_get_ints(f, "size", size, 2) <= 0)
    return corrupt_for(opt, path, "size", err);
  if (size[0] != m->size_w || size[1] != m->size_h)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was made with --size %dx%d, this job uses %dx%d", opt, path,
                    size[0], size[1], m->size_w, m->size_h);
  GET_INT("oversample", over);
  GET_INT("fast_decode", fast);
  GET_INT("exif_rotate", exif);
  const char *what = over != m->oversample    ? "--oversample"
                     : fast != m->fast_decode ? "--fast-decode"
                     : exif != m->exif_rotate ? "--exif-rotate"
                                              : NULL;
  int was = over != m->oversample ? over : fast != m->fast_decode ? fast : exif;
  if (what)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was made %s %s, this job runs %s it: pass the same "
                    "options, or --overwrite to start again",
                    opt, path, with(was), what, with(!was));
  int got = r50_h5_get_int64(f, "max_pixels", &maxpix);
  if (got <= 0)
    return corrupt_for(opt, path, "max_pixels", err);
  if (maxpix != m->max_pixels)
    return r50_fail(err, R50_ERR_MISMATCH,
                    "%s: %s was made with --max-pixels %lld, this job uses %lld", opt,
                    path, (long long)maxpix, (long long)m->max_pixels);
  return R50_OK;
}

/* What a user whose dataset grew or changed does instead of --resume. */
#define REUSE_HINT                                                                       \
  "; for the dataset as it is now, write a new file with --reuse %s (it copies "         \
  "the rows done there instead of computing them again)"

/* The first row where the file's paths and labels differ from the dataset's. */
static r50_status first_difference(hid_t f, const char *path, const r50_dataset *ds,
                                   int64_t n_file, r50_error *err) {
  hid_t dp = H5Dopen2(f, "/images/path", H5P_DEFAULT);
  hid_t dl = H5Dopen2(f, "/images/label", H5P_DEFAULT);
  hid_t ft = dp >= 0 ? H5Dget_type(dp) : -1;
  size_t len = ft >= 0 ? H5Tget_size(ft) : 0;
  hid_t mt = len ? r50_h5_str_type(len) : -1;
  char *names = mt >= 0 ? malloc((size_t)LIST_STEP * len) : NULL;
  int32_t *labels = malloc((size_t)LIST_STEP * sizeof *labels);
  r50_status s = R50_OK;
  int found = 0;
  if (dl < 0 || !names || !labels)
    s = r50_h5_fail(err, R50_ERR_FORMAT, "--resume: %s: cannot read /images", path);
  const int64_t common = n_file < ds->n ? n_file : ds->n;
  for (int64_t r0 = 0; s == R50_OK && !found && r0 < common; r0 += LIST_STEP) {
    int64_t k = common - r0 < LIST_STEP ? common - r0 : LIST_STEP;
    if (r50_h5_read_rows(dp, mt, r0, k, names) < 0 ||
        r50_h5_read_rows(dl, H5T_NATIVE_INT32, r0, k, labels) < 0) {
      s = r50_h5_fail(err, R50_ERR_FORMAT, "--resume: %s: cannot read /images", path);
      break;
    }
    for (int64_t i = 0; i < k && !found; i++) {
      const char *name = names + i * (int64_t)len, *want = r50_dataset_name(ds, r0 + i);
      char *esc = r50_utf8_valid(want) ? NULL : r50_utf8_escaped_dup(want);
      if (esc) /* want as the file stores it */
        want = esc;
      size_t nl = strnlen(name, len);
      if (nl != strlen(want) || memcmp(name, want, nl)) {
        s = r50_fail(
            err, R50_ERR_MISMATCH,
            "--resume: the dataset changed: row %lld of %s is '%.*s', the dataset "
            "now has '%s' there" REUSE_HINT,
            (long long)(r0 + i), path, (int)nl, name, want, path);
        found = 1;
      } else if (labels[i] != ds->labels[r0 + i]) {
        s = r50_fail(err, R50_ERR_MISMATCH,
                     "--resume: the dataset changed: row %lld of %s ('%s') has label %d, "
                     "the dataset now says %d" REUSE_HINT,
                     (long long)(r0 + i), path, want, labels[i], ds->labels[r0 + i],
                     path);
        found = 1;
      }
      free(esc);
    }
  }
  if (s == R50_OK)
    s = n_file != ds->n
            ? r50_fail(
                  err, R50_ERR_MISMATCH,
                  "--resume: %s lists %lld images, the dataset now has %lld" REUSE_HINT,
                  path, (long long)n_file, (long long)ds->n, path)
            : r50_fail(err, R50_ERR_MISMATCH,
                       "--resume: %s was made from another list (class names differ)",
                       path);
  free(names);
  free(labels);
  hid_t ids[] = {mt, ft, dp, dl};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  return s;
}

r50_status r50_store_check_features(hid_t f, const char *path, const char *opt,
                                    const r50_store_meta *m, int64_t n, r50_error *err) {
  for (int l = 0; l < m->n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "/features/%s", m->layers[l]);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[4] = {0};
    int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    int ok = nd == m->ndim[l] + 1 && dims[0] == (hsize_t)n;
    for (int i = 0; ok && i < m->ndim[l]; i++)
      ok = dims[i + 1] == (hsize_t)m->shape[l][i];
    if (sp >= 0)
      H5Sclose(sp);
    if (d >= 0)
      H5Dclose(d);
    if (!ok)
      return r50_fail(err, R50_ERR_MISMATCH, "%s: %s: %s is missing or has another shape",
                      opt, path, name);
  }
  return R50_OK;
}

/* Reads the (n) statuses and checks the feature datasets' shapes. */
static r50_status read_rows_state(hid_t f, const char *path, const r50_store_meta *m,
                                  int64_t n, int8_t **status, r50_error *err) {
  R50_TRY(r50_store_check_features(f, path, "--resume", m, n, err));
  hid_t d = H5Dopen2(f, "/images/status", H5P_DEFAULT);
  int8_t *st = malloc((size_t)(n ? n : 1));
  r50_status s = R50_OK;
  if (d < 0 || !st || r50_h5_read_rows(d, H5T_NATIVE_INT8, 0, n, st) < 0)
    s = r50_h5_fail(err, R50_ERR_FORMAT, "--resume: %s: cannot read /images/status",
                    path);
  if (d >= 0)
    H5Dclose(d);
  if (s != R50_OK) {
    free(st);
    return s;
  }
  *status = st;
  return R50_OK;
}

/* What a file that fails to open as HDF5 is, in words. */
static r50_status open_failure(const char *path, r50_error *err) {
  char cause[256];
  r50_h5_cause(cause, sizeof cause);
  close_leftovers();
  if (!strncmp(cause, "file is truncated", 17))
    return r50_fail(
        err, R50_ERR_FORMAT,
        "--resume: %s looks truncated (%s), as when a disk filled up or a copy "
        "was cut short; it cannot be resumed: move it away or pass --overwrite "
        "to start again",
        path, cause);
  return r50_fail(err, R50_ERR_FORMAT, "--resume: cannot open %s as HDF5 (%s)", path,
                  cause);
}

int r50_store_is_hdf5(const char *path) {
  unsigned char sig[8] = {0};
  FILE *fp = fopen(path, "rb");
  size_t n = fp ? fread(sig, 1, sizeof sig, fp) : 0;
  if (fp)
    fclose(fp);
  return n == 8 && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
}

/* The checks on an open file; *recreate when it is an empty leftover. */
static r50_status check_open_file(hid_t f, const char *path, const r50_dataset *ds,
                                  const r50_store_meta *m, int *recreate, int8_t **status,
                                  r50_error *err) {
  char format[64];
  int got = r50_h5_get_str(f, "format", format, sizeof format);
  if (got <= 0) {
    H5O_info_t info;
    int empty = H5Oget_info2(f, &info, H5O_INFO_NUM_ATTRS) >= 0 && info.num_attrs == 0;
    H5G_info_t g;
    empty = empty && H5Gget_info(f, &g) >= 0 && g.nlinks == 0;
    if (got == 0 && empty) {
      *recreate = 1;
      return R50_OK;
    }
    if (got < 0)
      return corrupt(path, "format", err);
    return r50_fail(
        err, R50_ERR_FORMAT,
        H5Aexists(f, "arch") > 0
            ? "--resume: %s was made by an older r50worker that did not record "
              "every option; it cannot be resumed safely: --overwrite starts "
              "again"
            : "--resume: %s is not an r50worker feature file",
        path);
  }
  if (strcmp(format, FORMAT_TAG))
    return r50_fail(err, R50_ERR_FORMAT,
                    "--resume: %s has format '%s'; this r50worker "
                    "writes '%s'",
                    path, format, FORMAT_TAG);
  R50_TRY(r50_store_check_attrs(f, path, "--resume", m, 0, err));
  int64_t n_file = -1;
  char sha[128];
  if (r50_h5_get_int64(f, "n_images", &n_file) <= 0)
    return corrupt(path, "n_images", err);
  if (r50_h5_get_str(f, "dataset_sha256", sha, sizeof sha) <= 0)
    return corrupt(path, "dataset_sha256", err);
  if (n_file != ds->n || strcmp(sha, m->dataset_sha256))
    return first_difference(f, path, ds, n_file, err);
  R50_TRY(read_rows_state(f, path, m, ds->n, status, err));
  if (r50_h5_set_int(f, "complete", 0) < 0) { /* incomplete again until this run ends */
    free(*status);
    *status = NULL;
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot reset the 'complete' attribute",
                       path);
  }
  return R50_OK;
}

r50_status r50_store_check_resume(const char *path, const r50_dataset *ds,
                                  const r50_store_meta *meta, r50_store_resume_kind *kind,
                                  int8_t **status, r50_error *err) {
  r50_h5_quiet();
  *status = NULL;
  *kind = R50_STORE_RECREATE;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) {
      r50_log(R50_LOG_INFO, "--resume: %s does not exist yet: creating it", path);
      return R50_OK;
    }
    return r50_fail(err, R50_ERR_IO, "--resume: %s: %s", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return r50_fail(err, R50_ERR_ARG, "--resume: %s is not a regular file", path);
  if (st.st_size == 0) {
    r50_log(R50_LOG_WARN,
            "--resume: %s is empty (a job stopped before creating it): "
            "creating it anew",
            path);
    return R50_OK;
  }
  if (!r50_store_is_hdf5(path))
    return r50_fail(err, R50_ERR_FORMAT, "--resume: %s is not an HDF5 file", path);
  hid_t fapl = r50_store_serial_fapl();
  hid_t f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDWR, fapl) : -1;
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  if (f < 0)
    return open_failure(path, err);
  int recreate = 0;
  r50_status s = check_open_file(f, path, ds, meta, &recreate, status, err);
  if (H5Fclose(f) < 0 && s == R50_OK)
    s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot close", path);
  close_leftovers();
  if (s != R50_OK) {
    free(*status);
    *status = NULL;
    return s;
  }
  if (recreate)
    r50_log(R50_LOG_WARN,
            "--resume: %s holds nothing yet (a job stopped while creating "
            "it): creating it anew",
            path);
  else
    *kind = R50_STORE_RESUME;
  return R50_OK;
}

/* ------------------------------------------------------------------ parallel phase */

static void free_store(r50_store *s) {
  free(s);
}

/* Closes what s holds; the first failure's cause in err. */
static r50_status close_handles(r50_store *s, r50_error *err) {
  r50_status st = R50_OK;
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    if (s->feat[l] >= 0 && H5Dclose(s->feat[l]) < 0 && st == R50_OK)
      st = r50_h5_fail(err, R50_ERR_IO, "%s: cannot close /features", s->path);
  if (s->status >= 0 && H5Dclose(s->status) < 0 && st == R50_OK)
    st = r50_h5_fail(err, R50_ERR_IO, "%s: cannot close /images/status", s->path);
  if (s->half >= 0)
    H5_KEEP_ERROR(H5Tclose(s->half));
  if (s->file >= 0 && H5Fclose(s->file) < 0 && st == R50_OK)
    st = r50_h5_fail(err, R50_ERR_IO, "%s: cannot close", s->path);
  s->file = s->status = s->half = -1;
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    s->feat[l] = -1;
  return st;
}

r50_status r50_store_open(const r50_dist *d, const char *path, const r50_store_meta *meta,
                          r50_store **out, r50_error *err) {
  r50_h5_quiet();
  *out = NULL;
  /* rank 0 just renamed it into place: wait until every rank's view of the folder
   * (an NFS client's cache) shows it, so the collective open starts together */
  struct stat st;
  int seen = 0;
  for (int i = 0; i < 100 && !seen; i++) {
    seen = stat(path, &st) == 0;
    if (!seen)
      usleep(100000);
  }
  R50_TRY(r50_dist_agree(
      d,
      seen ? R50_OK
           : r50_fail(err, R50_ERR_IO, "%s: not visible here: %s", path, strerror(errno)),
      err));
  r50_store *s = calloc(1, sizeof *s);
  R50_TRY(
      r50_dist_agree(d, s ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory"), err));
  snprintf(s->path, sizeof s->path, "%s", path);
  s->file = s->status = s->half = -1;
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    s->feat[l] = -1;
  s->n_layers = meta->n_layers;
  for (int l = 0; l < meta->n_layers; l++) {
    s->per_row[l] = 1;
    for (int i = 0; i < meta->ndim[l]; i++)
      s->per_row[l] *= meta->shape[l][i];
  }
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && (H5Pset_fapl_mpio(fapl, d->comm, MPI_INFO_NULL) < 0 ||
                    H5Pset_file_locking(fapl, 0, 1) < 0)) {
    H5_KEEP_ERROR(H5Pclose(fapl));
    fapl = -1;
  }
  s->file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDWR, fapl) : -1;
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  r50_status rs = s->file >= 0 ? R50_OK
                               : r50_h5_fail(err, R50_ERR_IO,
                                             "cannot open %s with "
                                             "MPI-IO",
                                             path);
  if (rs == R50_OK && meta->float16 && (s->half = r50_h5_half_type()) < 0)
    rs = r50_h5_fail(err, R50_ERR_IO, "%s: cannot make the float16 type", path);
  for (int l = 0; rs == R50_OK && l < meta->n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "/features/%s", meta->layers[l]);
    if ((s->feat[l] = H5Dopen2(s->file, name, H5P_DEFAULT)) < 0)
      rs = r50_h5_fail(err, R50_ERR_IO, "%s: cannot open %s", path, name);
  }
  if (rs == R50_OK && (s->status = H5Dopen2(s->file, "/images/status", H5P_DEFAULT)) < 0)
    rs = r50_h5_fail(err, R50_ERR_IO, "%s: cannot open /images", path);
  rs = r50_dist_agree(d, rs, err);
  if (rs != R50_OK) {
    if (s->file >= 0) /* every rank opened it (the open is collective): close together */
      close_handles(s, NULL);
    free_store(s);
    return rs;
  }
  *out = s;
  return R50_OK;
}

r50_status r50_store_write_rows(r50_store *s, int64_t row0, int64_t n,
                                const float *const *features, const int8_t *status,
                                r50_error *err) {
  for (int l = 0; features && l < s->n_layers; l++) {
    r50_status w;
    if (s->half >= 0) { /* converted here, rounded as numpy rounds; HDF5 copies bits */
      const size_t count = (size_t)n * (size_t)s->per_row[l];
      uint16_t *h = malloc((count ? count : 1) * sizeof *h);
      if (!h)
        return r50_fail(err, R50_ERR_NOMEM, "out of memory writing float16 features");
      r50_floats_to_halves(features[l], count, h);
      w = r50_store_write_stored(s, l, row0, n, h, err);
      free(h);
    } else {
      w = r50_store_write_stored(s, l, row0, n, features[l], err);
    }
    R50_TRY(w);
  }
  if (r50_h5_write_rows(s->status, H5T_NATIVE_INT8, row0, n, status) < 0)
    return r50_h5_fail_file(err, R50_ERR_IO, s->path,
                            "%s: cannot write /images/status rows "
                            "%lld..%lld",
                            s->path, (long long)row0, (long long)(row0 + n - 1));
  return R50_OK;
}

r50_status r50_store_rows_zero(r50_store *s, int64_t row0, int64_t n, int *zero,
                               r50_error *err) {
  *zero = 1;
  const size_t es = s->half >= 0 ? 2 : sizeof(float);
  for (int l = 0; *zero && l < s->n_layers; l++) {
    const size_t bytes = (size_t)n * (size_t)s->per_row[l] * es;
    unsigned char *buf = malloc(bytes ? bytes : 1);
    if (!buf)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory reading features back");
    if (r50_h5_read_rows(s->feat[l], r50_store_stored_type(s), row0, n, buf) < 0) {
      free(buf);
      return r50_h5_fail_file(err, R50_ERR_IO, s->path,
                              "%s: cannot read features of rows %lld..%lld", s->path,
                              (long long)row0, (long long)(row0 + n - 1));
    }
    *zero = bytes == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, bytes - 1) == 0);
    free(buf);
  }
  return R50_OK;
}

hid_t r50_store_stored_type(const r50_store *s) {
  return s->half >= 0 ? s->half : H5T_NATIVE_FLOAT;
}

r50_status r50_store_write_stored(r50_store *s, int l, int64_t row0, int64_t n,
                                  const void *rows, r50_error *err) {
  if (r50_h5_write_rows(s->feat[l], r50_store_stored_type(s), row0, n, rows) < 0)
    return r50_h5_fail_file(err, R50_ERR_IO, s->path,
                            "%s: cannot write features of rows %lld..%lld", s->path,
                            (long long)row0, (long long)(row0 + n - 1));
  return R50_OK;
}

r50_status r50_store_close(r50_store *s, r50_error *err) {
  r50_status st = close_handles(s, err);
  free_store(s);
  return st;
}

/* Rank 0's serial reopen of a finished file: f, or a failure naming `why`. */
static r50_status reopen(const char *path, const char *why, hid_t *f, r50_error *err) {
  r50_h5_quiet();
  hid_t fapl = r50_store_serial_fapl();
  *f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDWR, fapl) : -1;
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  if (*f >= 0)
    return R50_OK;
  r50_status s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot reopen to %s", path, why);
  close_leftovers();
  return s;
}

/* Closes what reopen opened; s is the work's status, kept if it failed. */
static r50_status close_reopened(hid_t f, const char *path, r50_status s,
                                 r50_error *err) {
  if (H5Fclose(f) < 0) {
    if (s == R50_OK)
      s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot close", path);
    close_leftovers();
  }
  return s;
}

r50_status r50_store_put_errors(const char *path, const int64_t *rows, char *const *msgs,
                                int64_t n, r50_error *err) {
  /* room for the table and the metadata the close writes, set aside first: a disk
   * that fills up under HDF5 leaves a file it cannot close (see reserve_bytes) */
  int64_t bytes = ((int64_t)1 << 20) + 32 * n;
  for (int64_t i = 0; i < n; i++)
    bytes += 2 * (int64_t)strlen(msgs[i]);
  char reserve[4200];
  snprintf(reserve, sizeof reserve, "%s.reserve", path);
  R50_TRY(take_reserve(reserve, bytes, path, err));
  hid_t f;
  r50_status s = reopen(path, "write /errors", &f, err);
  if (s != R50_OK) {
    unlink(reserve);
    return s;
  }
  s = r50_h5_errors_merge(f, path, rows, msgs, n, err);
  if (s == R50_OK && H5Fflush(f, H5F_SCOPE_LOCAL) < 0)
    s = r50_h5_fail_file(err, R50_ERR_IO, path, "%s: cannot write /errors", path);
  unlink(reserve);
  return close_reopened(f, path, s, err);
}

r50_status r50_store_set_complete(const char *path, int complete, r50_error *err) {
  hid_t f;
  R50_TRY(reopen(path, "mark it complete", &f, err));
  r50_status s =
      r50_h5_set_int(f, "complete", complete) < 0
          ? r50_h5_fail(err, R50_ERR_IO, "%s: cannot set the 'complete' attribute", path)
          : R50_OK;
  return close_reopened(f, path, s, err);
}

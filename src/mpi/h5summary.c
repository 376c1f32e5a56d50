/*
 * h5summary.c — a feature file read for `r50worker status` (h5summary.h).
 */
#include "h5summary.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "h5store_file.h"
#include "h5util.h"

#define STATUS_STEP ((int64_t)1 << 20) /* statuses read at a time */

static r50_status open_file(const char *path, hid_t *f, r50_error *err) {
  struct stat st;
  *f = -1;
  if (stat(path, &st) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return r50_fail(err, R50_ERR_ARG, "%s is not a file", path);
  if (access(path, R_OK) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (!r50_store_is_hdf5(path))
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s is not an HDF5 file (status reads the feature files of extract "
                    "and predict -o, and fine-tuning run folders)",
                    path);
  hid_t fapl = r50_store_serial_fapl();
  *f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  if (*f < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "cannot open %s as HDF5", path);
  return R50_OK;
}

/* The root attributes; a missing or unreadable one is named. */
static r50_status read_attrs(hid_t f, const char *path, r50_store_summary *s,
                             r50_error *err) {
  if (r50_h5_get_str(f, "format", s->format, sizeof s->format) <= 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s is not an r50worker feature file%s", path,
                    H5Aexists(f, "arch") > 0 ? " of this version (an older r50worker's)"
                                             : "");
  if (strcmp(s->format, R50_STORE_FORMAT))
    return r50_fail(err, R50_ERR_FORMAT, "%s has format '%s'; this r50worker reads '%s'",
                    path, s->format, R50_STORE_FORMAT);
  char layers[256];
  const char *bad = NULL;
#define NEED(name, call)                                                                 \
  if (!bad && (call) <= 0)                                                               \
  bad = name
  NEED("version", r50_h5_get_str(f, "version", s->version, sizeof s->version));
  NEED("command", r50_h5_get_str(f, "command", s->command, sizeof s->command));
  NEED("arch", r50_h5_get_ints(f, "arch", &s->arch, 0));
  NEED("downsample_fb", r50_h5_get_ints(f, "downsample_fb", &s->downsample_fb, 0));
  NEED("model", r50_h5_get_str(f, "model", s->model, sizeof s->model));
  NEED("model_sha256",
       r50_h5_get_str(f, "model_sha256", s->model_sha256, sizeof s->model_sha256));
  NEED("size", r50_h5_get_ints(f, "size", s->size, 2));
  NEED("layers", r50_h5_get_str(f, "layers", layers, sizeof layers));
  NEED("dtype", r50_h5_get_str(f, "dtype", s->dtype, sizeof s->dtype));
  NEED("precision", r50_h5_get_str(f, "precision", s->precision, sizeof s->precision));
  NEED("oversample", r50_h5_get_ints(f, "oversample", &s->oversample, 0));
  NEED("fast_decode", r50_h5_get_ints(f, "fast_decode", &s->fast_decode, 0));
  NEED("exif_rotate", r50_h5_get_ints(f, "exif_rotate", &s->exif_rotate, 0));
  NEED("max_pixels", r50_h5_get_int64(f, "max_pixels", &s->max_pixels));
  NEED("n_images", r50_h5_get_int64(f, "n_images", &s->n_images));
  NEED("dataset_sha256",
       r50_h5_get_str(f, "dataset_sha256", s->dataset_sha256, sizeof s->dataset_sha256));
  NEED("complete", r50_h5_get_ints(f, "complete", &s->complete, 0));
#undef NEED
  if (bad || s->n_images < 0)
    return r50_fail(err, R50_ERR_FORMAT,
                    "%s: attribute '%s' is missing or unreadable (the file is damaged)",
                    path, bad ? bad : "n_images");
  for (char *tok = strtok(layers, ","); tok && s->n_layers < R50_STORE_MAX_LAYERS;
       tok = strtok(NULL, ","))
    snprintf(s->layers[s->n_layers++], sizeof s->layers[0], "%s", tok);
  return R50_OK;
}

/* Each layer's per-row shape, from its dataset. */
static r50_status read_shapes(hid_t f, const char *path, r50_store_summary *s,
                              r50_error *err) {
  for (int l = 0; l < s->n_layers; l++) {
    char name[96];
    snprintf(name, sizeof name, "/features/%s", s->layers[l]);
    hid_t d =
        H5Lexists(f, "/features", H5P_DEFAULT) > 0 && H5Lexists(f, name, H5P_DEFAULT) > 0
            ? H5Dopen2(f, name, H5P_DEFAULT)
            : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[4] = {0};
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int ok = nd >= 2 && nd <= 4 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0 &&
             (int64_t)dims[0] == s->n_images;
    if (sp >= 0)
      H5Sclose(sp);
    if (d >= 0)
      H5Dclose(d);
    if (!ok)
      return r50_fail(err, R50_ERR_FORMAT,
                      "%s: %s is missing or is not %lld rows (the file is damaged)", path,
                      name, (long long)s->n_images);
    s->ndim[l] = nd - 1;
    for (int i = 1; i < nd; i++)
      s->shape[l][i - 1] = (int64_t)dims[i];
  }
  return R50_OK;
}

/* The rows by status, read a slice at a time (10^8 rows are 100 MB of statuses). */
static r50_status count_rows(hid_t f, const char *path, r50_store_summary *s,
                             r50_error *err) {
  hid_t d = H5Dopen2(f, "/images/status", H5P_DEFAULT);
  const int64_t step = s->n_images < STATUS_STEP ? s->n_images : STATUS_STEP;
  int8_t *st = d >= 0 ? malloc((size_t)(step ? step : 1)) : NULL;
  r50_status r = R50_OK;
  if (d < 0)
    r = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot open /images/status", path);
  else if (!st)
    r = r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int64_t r0 = 0; r == R50_OK && r0 < s->n_images; r0 += step) {
    const int64_t n = s->n_images - r0 < step ? s->n_images - r0 : step;
    if (r50_h5_read_rows(d, H5T_NATIVE_INT8, r0, n, st) < 0) {
      r = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /images/status", path);
      break;
    }
    for (int64_t i = 0; i < n; i++) {
      s->done += st[i] == 1;
      s->failed += st[i] == -1;
    }
  }
  s->pending = s->n_images - s->done - s->failed;
  free(st);
  if (d >= 0)
    H5_KEEP_ERROR(H5Dclose(d));
  return r;
}

/* How many class names the file holds (ImageFolder datasets), or 0. */
static int64_t count_classes(hid_t f) {
  if (H5Lexists(f, "classes", H5P_DEFAULT) <= 0)
    return 0;
  hid_t d = H5Dopen2(f, "classes", H5P_DEFAULT);
  hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : 0;
  if (sp >= 0)
    H5Sclose(sp);
  if (d >= 0)
    H5Dclose(d);
  return n > 0 ? (int64_t)n : 0;
}

/* predict's accuracy attributes, where it kept them (all or none are read). */
static void read_accuracy(hid_t f, r50_store_summary *s) {
  s->top5 = NAN;
  if (r50_h5_get_int64(f, "accuracy_images", &s->accuracy_images) <= 0 ||
      r50_h5_get_double(f, "accuracy_top1", &s->top1) <= 0 ||
      r50_h5_get_double(f, "accuracy_top5", &s->top5) < 0 ||
      r50_h5_get_str(f, "accuracy_labels", s->accuracy_labels,
                     sizeof s->accuracy_labels) <= 0)
    s->accuracy_images = 0;
}

r50_status r50_store_summarize(const char *path, r50_store_summary *s, r50_error *err) {
  memset(s, 0, sizeof *s);
  r50_h5_quiet();
  hid_t f = -1;
  R50_TRY(open_file(path, &f, err));
  r50_status r = read_attrs(f, path, s, err);
  if (r == R50_OK)
    r = read_shapes(f, path, s, err);
  if (r == R50_OK)
    r = count_rows(f, path, s, err);
  if (r == R50_OK)
    r = r50_h5_errors_first(f, path, R50_SUMMARY_ERRORS, s->error_row, s->error_msg,
                            &s->n_first, &s->n_errors, err);
  s->n_classes = r == R50_OK ? count_classes(f) : 0;
  if (r == R50_OK)
    read_accuracy(f, s);
  H5_KEEP_ERROR(H5Fclose(f));
  return r;
}

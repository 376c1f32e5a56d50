/*
 * h5errors.c — the failed-rows table (h5errors.h).
 */
#include "h5errors.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5dims.h"
#include "h5util.h"
#include "utf8.h"

static hid_t vlen_utf8(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
    H5_KEEP_ERROR(H5Tclose(t));
    return -1;
  }
  return t;
}

/* msgs as UTF-8 (utf8.h's escapes where a message names a file whose name is not):
 * an array of n pointers, each msgs[i] or an escaped copy; NULL: out of memory. */
static char **as_utf8(char *const *msgs, int64_t n) {
  char **out = malloc((size_t)(n + 1) * sizeof *out);
  for (int64_t i = 0; out && i < n; i++) {
    out[i] = r50_utf8_valid(msgs[i]) ? msgs[i] : r50_utf8_escaped_dup(msgs[i]);
    if (!out[i]) {
      while (i-- > 0)
        if (out[i] != msgs[i])
          free(out[i]);
      free(out);
      out = NULL;
    }
  }
  return out;
}

/* Creates /errors holding n entries. */
static r50_status write_table(hid_t f, const char *path, const int64_t *rows,
                              char *const *raw_msgs, int64_t n, r50_error *err) {
  char **msgs = as_utf8(raw_msgs, n);
  if (!msgs)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory writing /errors");
  hid_t g = H5Gcreate2(f, "errors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) {
    free(msgs);
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot create /errors", path);
  }
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = H5Screate_simple(1, dims, NULL), st = vlen_utf8();
  hid_t dr = space >= 0 ? H5Dcreate2(g, "row", H5T_STD_I64LE, space, H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT)
                        : -1;
  hid_t dm = space >= 0 && st >= 0 ? H5Dcreate2(g, "message", st, space, H5P_DEFAULT,
                                                H5P_DEFAULT, H5P_DEFAULT)
                                   : -1;
  hid_t dim = r50_h5_make_dim(g, "failed", n);
  herr_t r = dr >= 0 && dm >= 0 && dim >= 0 ? 0 : -1;
  if (r >= 0 && n > 0)
    r = H5Dwrite(dr, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
  if (r >= 0 && n > 0)
    r = H5Dwrite(dm, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, msgs);
  if (r >= 0)
    r = r50_h5_attach_dim(dr, dim, 0);
  if (r >= 0)
    r = r50_h5_attach_dim(dm, dim, 0);
  r50_status s =
      r < 0 ? r50_h5_fail(err, R50_ERR_IO, "%s: cannot write /errors", path) : R50_OK;
  hid_t ids[] = {dim, dm, dr, st, space, g};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5_KEEP_ERROR(H5Idec_ref(ids[i]));
  for (int64_t i = 0; i < n; i++)
    if (msgs[i] != raw_msgs[i])
      free(msgs[i]);
  free(msgs);
  return s;
}

r50_status r50_h5_errors_create(hid_t f, const char *path, r50_error *err) {
  return write_table(f, path, NULL, NULL, 0, err);
}

typedef struct entry {
  int64_t row;
  char *msg;
  int old; /* from the file: its msg is HDF5's to free */
} entry;

static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return x->row < y->row ? -1 : x->row > y->row;
}

/* Opens the table of f (which has one): *dr and *dm get its two datasets (or -1);
 * returns its length, -1 when it cannot be read. */
static hssize_t open_table(hid_t f, hid_t *dr, hid_t *dm) {
  *dr = H5Dopen2(f, "errors/row", H5P_DEFAULT);
  *dm = *dr >= 0 ? H5Dopen2(f, "errors/message", H5P_DEFAULT) : -1;
  hid_t sp = *dm >= 0 ? H5Dget_space(*dr) : -1;
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0)
    H5_KEEP_ERROR(H5Sclose(sp));
  return n;
}

/* Closes the ids that are open, keeping the error stack. */
static void close_ids(hid_t a, hid_t b, hid_t c) {
  hid_t ids[] = {a, b, c};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5_KEEP_ERROR(H5Idec_ref(ids[i]));
}

/* The file's entries (*old, *n_old; messages owned by HDF5's vlen buffers). */
static r50_status read_table(hid_t f, const char *path, int64_t **rows, char ***msgs,
                             int64_t *n, r50_error *err) {
  *rows = NULL;
  *msgs = NULL;
  *n = 0;
  if (H5Lexists(f, "errors", H5P_DEFAULT) <= 0)
    return R50_OK;
  hid_t dr, dm, st = vlen_utf8();
  hssize_t k = open_table(f, &dr, &dm);
  r50_status s = R50_OK;
  if (dm < 0 || k < 0 || st < 0) {
    s = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /errors", path);
  } else if (k > 0) {
    *rows = malloc((size_t)k * sizeof **rows);
    *msgs = calloc((size_t)k, sizeof **msgs);
    if (!*rows || !*msgs)
      s = r50_fail(err, R50_ERR_NOMEM, "out of memory reading /errors");
    else if (H5Dread(dr, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows) < 0 ||
             H5Dread(dm, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, *msgs) < 0)
      s = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /errors", path);
    else
      *n = k;
  }
  if (s != R50_OK) {
    free(*rows);
    free(*msgs); /* nothing was read into it */
    *rows = NULL;
    *msgs = NULL;
  }
  close_ids(st, dm, dr);
  return s;
}

/* Whether row is among the sorted entries e[0..n). */
static int has_row(const entry *e, int64_t n, int64_t row) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (e[mid].row < row)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && e[lo].row == row;
}

/* Whether the sorted entries e[0..m) are the table read (a table is written sorted by
 * row): a job that failed on the same files for the same causes leaves it as it is, for
 * HDF5 does not give back the heap space of a deleted table's messages (a resume of
 * 2,000,000 missing files would grow the file by 150 MB each time). */
static int same_table(const entry *e, int64_t m, const int64_t *old_rows,
                      char *const *old_msgs, int64_t n_old) {
  if (m != n_old)
    return 0;
  for (int64_t i = 0; i < m; i++)
    if (e[i].row != old_rows[i] || strcmp(e[i].msg, old_msgs[i]) != 0)
      return 0;
  return 1;
}

/* Replaces /errors (if any) by the entries e[0..m). */
static r50_status replace_table(hid_t f, const char *path, const entry *e, int64_t m,
                                r50_error *err) {
  int64_t *rows = malloc((size_t)(m + 1) * sizeof *rows);
  char **msgs = malloc((size_t)(m + 1) * sizeof *msgs);
  r50_status s = R50_OK;
  if (!rows || !msgs)
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory merging /errors");
  for (int64_t i = 0; s == R50_OK && i < m; i++)
    rows[i] = e[i].row, msgs[i] = e[i].msg;
  if (s == R50_OK && H5Lexists(f, "errors", H5P_DEFAULT) > 0 &&
      H5Ldelete(f, "errors", H5P_DEFAULT) < 0)
    s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot replace /errors", path);
  if (s == R50_OK)
    s = write_table(f, path, rows, msgs, m, err);
  free(rows);
  free(msgs);
  return s;
}

r50_status r50_h5_errors_merge(hid_t f, const char *path, const int64_t *rows,
                               char *const *msgs, int64_t n, r50_error *err) {
  int64_t *old_rows, n_old;
  char **old_msgs;
  R50_TRY(read_table(f, path, &old_rows, &old_msgs, &n_old, err));
  int8_t *status = NULL;
  hid_t ds = -1;
  r50_status s = R50_OK;
  if (n_old > 0) { /* the earlier entries' statuses: still failed? */
    ds = H5Dopen2(f, "images/status", H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hssize_t total = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0)
      H5_KEEP_ERROR(H5Sclose(sp));
    status = total >= 0 ? malloc((size_t)(total ? total : 1)) : NULL;
    if (!status || r50_h5_read_rows(ds, H5T_NATIVE_INT8, 0, total, status) < 0)
      s = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /images/status", path);
    for (int64_t i = 0; s == R50_OK && i < n_old; i++)
      if (old_rows[i] < 0 || old_rows[i] >= total)
        s = r50_fail(err, R50_ERR_FORMAT, "%s: /errors names row %lld of %lld", path,
                     (long long)old_rows[i], (long long)total);
  }
  entry *e = s == R50_OK ? malloc((size_t)(n + n_old + 1) * sizeof *e) : NULL;
  if (s == R50_OK && !e)
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory merging /errors");
  int64_t m = 0;
  int same = 0;
  if (s == R50_OK) {
    for (int64_t i = 0; i < n; i++)
      e[m++] = (entry){rows[i], msgs[i], 0};
    qsort(e, (size_t)m, sizeof *e, cmp_entry);
    const int64_t n_new = m;
    for (int64_t i = 0; i < n_old; i++)
      if (status[old_rows[i]] == -1 && !has_row(e, n_new, old_rows[i]))
        e[m++] = (entry){old_rows[i], old_msgs[i], 1};
    qsort(e, (size_t)m, sizeof *e, cmp_entry);
    same = H5Lexists(f, "errors", H5P_DEFAULT) > 0 &&
           same_table(e, m, old_rows, old_msgs, n_old);
  }
  if (s == R50_OK && !same)
    s = replace_table(f, path, e, m, err);
  free(e);
  free(status);
  if (ds >= 0)
    H5_KEEP_ERROR(H5Dclose(ds));
  for (int64_t i = 0; i < n_old; i++)
    H5free_memory(old_msgs[i]);
  free(old_msgs);
  free(old_rows);
  return s;
}

r50_status r50_h5_errors_first(hid_t f, const char *path, int64_t k, int64_t *rows,
                               char (*msgs)[R50_ERRORS_MSG_CAP], int64_t *got,
                               int64_t *total, r50_error *err) {
  *got = *total = 0;
  if (H5Lexists(f, "errors", H5P_DEFAULT) <= 0)
    return R50_OK;
  hid_t dr, dm, st = vlen_utf8();
  hssize_t n = open_table(f, &dr, &dm);
  const int64_t want = n < 0 ? 0 : n < k ? (int64_t)n : k;
  char **text = calloc((size_t)(want ? want : 1), sizeof *text);
  r50_status s = R50_OK;
  if (n < 0 || st < 0)
    s = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /errors", path);
  else if (!text)
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory reading /errors");
  else if (r50_h5_read_rows(dr, H5T_NATIVE_INT64, 0, want, rows) < 0 ||
           r50_h5_read_rows(dm, st, 0, want, text) < 0)
    s = r50_h5_fail(err, R50_ERR_FORMAT, "%s: cannot read /errors", path);
  for (int64_t i = 0; s == R50_OK && i < want; i++)
    r50_utf8_copy(msgs[i], R50_ERRORS_MSG_CAP, text[i] ? text[i] : "");
  for (int64_t i = 0; text && i < want; i++)
    H5free_memory(text[i]); /* (NULL when nothing was read) */
  free(text);
  if (s == R50_OK)
    *got = want, *total = (int64_t)n;
  close_ids(st, dm, dr);
  return s;
}

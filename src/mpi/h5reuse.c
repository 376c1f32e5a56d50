/*
 * h5reuse.c — copying done rows from an older feature file (h5reuse.h).
 *
 * OLD's done rows are found by path: a table of their paths' 64-bit hashes, built
 * reading OLD's path list in blocks, gives each pending row of this file a candidate
 * row; each candidate's path is compared in full when its run of rows is copied, so a
 * hash collision only costs a row its copy (it is computed instead). Memory: 16 bytes
 * per done row of OLD and 8 per row of this file; no path list is held whole.
 */
#include "h5reuse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "error.h"
#include "h5store_file.h"
#include "h5util.h"
#include "hash.h"
#include "utf8.h"

#define LIST_STEP ((int64_t)1 << 16)   /* paths read at a time */
#define COPY_BYTES ((int64_t)32 << 20) /* rows of features copied at a time, at most */

typedef struct slot {
  uint64_t hash;
  int64_t row; /* -1: empty */
} slot;

typedef struct table {
  slot *slots;
  uint64_t mask;
} table;

static void put(table *t, uint64_t h, int64_t row) { /* the first row of a hash stays */
  uint64_t i = h & t->mask;
  while (t->slots[i].row >= 0 && t->slots[i].hash != h)
    i = (i + 1) & t->mask;
  if (t->slots[i].row < 0)
    t->slots[i] = (slot){h, row};
}

static int64_t get(const table *t, uint64_t h) {
  for (uint64_t i = h & t->mask; t->slots[i].row >= 0; i = (i + 1) & t->mask)
    if (t->slots[i].hash == h)
      return t->slots[i].row;
  return -1;
}

/* Row i's path as files store it (invalid UTF-8 escaped): *esc to free. */
static const char *stored_name(const r50_dataset *ds, int64_t i, char **esc) {
  const char *name = r50_dataset_name(ds, i);
  *esc = r50_utf8_valid(name) ? NULL : r50_utf8_escaped_dup(name);
  return *esc ? *esc : name;
}

typedef struct files {
  const char *path, *old;
  int output;   /* this job's file is opened too (else OLD is only checked) */
  hid_t fo, fn; /* OLD, this job's file */
  hid_t opath, ostatus, nstatus; /* datasets */
  hid_t ofeat[R50_STORE_MAX_LAYERS], nfeat[R50_STORE_MAX_LAYERS],
      ftype[R50_STORE_MAX_LAYERS];
  hid_t strtype;
  size_t name_len; /* OLD's fixed path length */
  int64_t n_old;
  int n_layers;
  size_t row_bytes[R50_STORE_MAX_LAYERS];
} files;

static void close_all(files *f) {
  hid_t ids[] = {f->opath, f->ostatus, f->nstatus, f->strtype};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++) {
    if (f->ofeat[l] >= 0)
      H5Dclose(f->ofeat[l]);
    if (f->nfeat[l] >= 0)
      H5Dclose(f->nfeat[l]);
    if (f->ftype[l] >= 0)
      H5Tclose(f->ftype[l]);
  }
}

/* Opens OLD (read) and this job's file (write) and checks OLD against the job. */
static r50_status open_files(files *f, const r50_store_meta *m, r50_error *err) {
  struct stat a, b;
  if (stat(f->old, &a) != 0)
    return r50_fail(err, R50_ERR_NOT_FOUND, "--reuse: %s: %s", f->old, strerror(errno));
  if (stat(f->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return r50_fail(err, R50_ERR_ARG,
                    "--reuse: %s is this job's output: --resume continues a file, "
                    "--reuse copies from another one",
                    f->old);
  hid_t fapl = r50_store_serial_fapl();
  if (fapl < 0)
    return r50_h5_fail(err, R50_ERR_IO, "--reuse: HDF5 file access");
  f->fo = H5Fopen(f->old, H5F_ACC_RDONLY, fapl);
  f->fn = f->fo >= 0 && f->output ? H5Fopen(f->path, H5F_ACC_RDWR, fapl) : -1;
  H5_KEEP_ERROR(H5Pclose(fapl));
  if (f->fo < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: cannot open %s as HDF5", f->old);
  if (f->output && f->fn < 0)
    return r50_h5_fail(err, R50_ERR_IO, "cannot open %s", f->path);
  char format[64] = "";
  if (r50_h5_get_str(f->fo, "format", format, sizeof format) <= 0 ||
      strcmp(format, R50_STORE_FORMAT))
    return r50_fail(err, R50_ERR_FORMAT,
                    "--reuse: %s is not a feature file of this r50worker (format '%s', "
                    "want '%s')",
                    f->old, format, R50_STORE_FORMAT);
  R50_TRY(r50_store_check_attrs(f->fo, f->old, "--reuse", m, err));
  if (r50_h5_get_int64(f->fo, "n_images", &f->n_old) <= 0 || f->n_old < 0)
    return r50_fail(err, R50_ERR_FORMAT,
                    "--reuse: %s: attribute 'n_images' is unreadable", f->old);
  f->opath = H5Dopen2(f->fo, "/images/path", H5P_DEFAULT);
  f->ostatus = H5Dopen2(f->fo, "/images/status", H5P_DEFAULT);
  f->nstatus = f->output ? H5Dopen2(f->fn, "/images/status", H5P_DEFAULT) : -1;
  hid_t pt = f->opath >= 0 ? H5Dget_type(f->opath) : -1;
  f->name_len = pt >= 0 ? H5Tget_size(pt) : 0;
  if (pt >= 0)
    H5Tclose(pt);
  f->strtype = f->name_len ? r50_h5_str_type(f->name_len) : -1;
  if (f->ostatus < 0 || (f->output && f->nstatus < 0) || f->strtype < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images", f->old);
  R50_TRY(r50_store_check_features(f->fo, f->old, "--reuse", m, f->n_old, err));
  f->n_layers = m->n_layers;
  for (int l = 0; l < m->n_layers; l++) { /* (the output has the same: the job made it) */
    char name[64];
    snprintf(name, sizeof name, "/features/%s", m->layers[l]);
    f->ofeat[l] = H5Dopen2(f->fo, name, H5P_DEFAULT);
    f->nfeat[l] = f->output ? H5Dopen2(f->fn, name, H5P_DEFAULT) : -1;
    f->ftype[l] = f->ofeat[l] >= 0 ? H5Dget_type(f->ofeat[l]) : -1;
    if (f->ftype[l] < 0 || (f->output && f->nfeat[l] < 0))
      return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: cannot open %s", name);
    size_t per = 1;
    for (int i = 0; i < m->ndim[l]; i++)
      per *= (size_t)m->shape[l][i];
    f->row_bytes[l] = per * H5Tget_size(f->ftype[l]);
  }
  return R50_OK;
}

/* OLD's done rows by their paths' hashes. */
static r50_status index_old(files *f, table *t, r50_error *err) {
  int8_t *st = malloc((size_t)(f->n_old ? f->n_old : 1));
  if (!st)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  if (r50_h5_read_rows(f->ostatus, H5T_NATIVE_INT8, 0, f->n_old, st) < 0) {
    free(st);
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images/status",
                       f->old);
  }
  int64_t done = 0;
  for (int64_t i = 0; i < f->n_old; i++)
    done += st[i] == 1;
  uint64_t cap = 16;
  while (cap < 2 * (uint64_t)done + 1)
    cap <<= 1;
  t->mask = cap - 1;
  t->slots = malloc(cap * sizeof *t->slots);
  char *names = malloc((size_t)LIST_STEP * f->name_len);
  r50_status s =
      t->slots && names ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (uint64_t i = 0; t->slots && i < cap; i++)
    t->slots[i].row = -1;
  for (int64_t r0 = 0; s == R50_OK && r0 < f->n_old; r0 += LIST_STEP) {
    const int64_t k = f->n_old - r0 < LIST_STEP ? f->n_old - r0 : LIST_STEP;
    if (r50_h5_read_rows(f->opath, f->strtype, r0, k, names) < 0) {
      s = r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images/path",
                      f->old);
      break;
    }
    for (int64_t i = 0; i < k; i++)
      if (st[r0 + i] == 1) {
        const char *name = names + (size_t)i * f->name_len;
        put(t, r50_hash64(name, strnlen(name, f->name_len)), r0 + i);
      }
  }
  free(names);
  free(st);
  return s;
}

/* Copies rows [i, i + k) of this file from OLD's [from, from + k) where their paths
 * match, marking those done in st. */
static r50_status copy_run(files *f, const r50_dataset *ds, int64_t i, int64_t k,
                           int64_t from, int8_t *st, void *buf, char *names,
                           int64_t *copied, r50_error *err) {
  if (r50_h5_read_rows(f->opath, f->strtype, from, k, names) < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images/path",
                       f->old);
  int64_t same = 0;
  int8_t *block = (int8_t *)names; /* (reused for the statuses once compared) */
  int8_t match[LIST_STEP];
  for (int64_t r = 0; r < k; r++) {
    char *esc;
    const char *want = stored_name(ds, i + r, &esc);
    const char *have = names + (size_t)r * f->name_len;
    const size_t n = strnlen(have, f->name_len);
    match[r] = n == strlen(want) && !memcmp(have, want, n);
    same += match[r];
    free(esc);
  }
  if (!same)
    return R50_OK;
  for (int l = 0; l < f->n_layers; l++)
    if (r50_h5_read_rows(f->ofeat[l], f->ftype[l], from, k, buf) < 0 ||
        r50_h5_write_rows(f->nfeat[l], f->ftype[l], i, k, buf) < 0)
      return r50_h5_fail_file(
          err, R50_ERR_IO, f->path, "--reuse: copying rows %lld..%lld of %s into %s",
          (long long)from, (long long)(from + k - 1), f->old, f->path);
  for (int64_t r = 0; r < k; r++)
    block[r] = match[r] ? 1 : st[i + r];
  if (r50_h5_write_rows(f->nstatus, H5T_NATIVE_INT8, i, k, block) < 0)
    return r50_h5_fail_file(err, R50_ERR_IO, f->path, "--reuse: writing %s's statuses",
                            f->path);
  memcpy(st + i, block, (size_t)k);
  *copied += same;
  return R50_OK;
}

/* Every pending row's candidate in OLD, then the copy in runs of consecutive rows. */
static r50_status copy_rows(files *f, const r50_dataset *ds, const table *t, int8_t *st,
                            int64_t *copied, r50_error *err) {
  size_t widest = 1;
  for (int l = 0; l < f->n_layers; l++)
    widest = f->row_bytes[l] > widest ? f->row_bytes[l] : widest;
  int64_t most = COPY_BYTES / (int64_t)widest;
  most = most < 1 ? 1 : most > LIST_STEP ? LIST_STEP : most;
  int64_t *from = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *from);
  void *buf = malloc((size_t)most * widest);
  char *names = malloc((size_t)most * (f->name_len > 1 ? f->name_len : 1));
  r50_status s =
      from && buf && names ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  int64_t found = 0;
  for (int64_t i = 0; s == R50_OK && i < ds->n; i++) {
    char *esc;
    const char *name = stored_name(ds, i, &esc);
    from[i] = st[i] == 1 ? -1 : get(t, r50_hash64(name, strlen(name)));
    found += from[i] >= 0;
    free(esc);
  }
  double last = r50_now_s();
  for (int64_t i = 0; s == R50_OK && i < ds->n;) {
    if (from[i] < 0) {
      i++;
      continue;
    }
    int64_t k = 1;
    while (i + k < ds->n && k < most && from[i + k] == from[i] + k)
      k++;
    s = copy_run(f, ds, i, k, from[i], st, buf, names, copied, err);
    i += k;
    if (r50_now_s() - last > 10) {
      last = r50_now_s();
      r50_log(R50_LOG_INFO, "--reuse: copied %lld of %lld rows from %s",
              (long long)*copied, (long long)found, f->old);
    }
  }
  free(from);
  free(buf);
  free(names);
  return s;
}

/* The files' handles all unset. */
static files no_files(const char *path, const char *old, int output) {
  files f = {.path = path,
             .old = old,
             .output = output,
             .fo = -1,
             .fn = -1,
             .opath = -1,
             .ostatus = -1,
             .nstatus = -1,
             .strtype = -1};
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    f.ofeat[l] = f.nfeat[l] = f.ftype[l] = -1;
  return f;
}

static r50_status close_files(files *f, r50_status s, r50_error *err) {
  close_all(f);
  if (f->fn >= 0 && H5Fclose(f->fn) < 0 && s == R50_OK)
    s = r50_h5_fail_file(err, R50_ERR_IO, f->path, "cannot write %s", f->path);
  if (f->fo >= 0)
    H5Fclose(f->fo);
  return s;
}

r50_status r50_store_reuse_check(const char *path, const char *old,
                                 const r50_store_meta *meta, r50_error *err) {
  r50_h5_quiet();
  files f = no_files(path, old, 0);
  return close_files(&f, open_files(&f, meta, err), err);
}

r50_status r50_store_reuse(const char *path, const char *old, const r50_dataset *ds,
                           const r50_store_meta *meta, int8_t **status, int64_t *n_copied,
                           r50_error *err) {
  r50_h5_quiet();
  *n_copied = 0;
  int8_t *st = *status;
  if (!st && !(st = calloc((size_t)(ds->n ? ds->n : 1), 1)))
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  *status = st;
  files f = no_files(path, old, 1);
  table t = {0};
  r50_status s = open_files(&f, meta, err);
  if (s == R50_OK)
    s = index_old(&f, &t, err);
  if (s == R50_OK)
    s = copy_rows(&f, ds, &t, st, n_copied, err);
  free(t.slots);
  return close_files(&f, s, err);
}

/*
 * h5reuse.c — copying done rows from an older feature file (h5reuse.h).
 *
 * OLD's done rows are found by path: a table of their paths' 64-bit hashes, built
 * reading OLD's path list in blocks, gives each pending row of this file a candidate
 * row; each candidate's path is compared in full when its run of rows is copied, so a
 * hash collision only costs a row its copy (it is computed instead). Rank 0 finds the
 * candidates, as runs of consecutive rows, and hands each rank an equal share of them;
 * every rank copies its own share through the job's MPI-IO file. Memory: on rank 0, 32
 * to 64 bytes per done row of OLD (16-byte slots, at most half full) and 48 per run (at
 * most one a row); on every rank, 1 per row of this file. No path list is held whole.
 */
#include "h5reuse.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "h5store_file.h"
#include "h5util.h"
#include "hash.h"
#include "job_signals.h"
#include "progress.h"
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
  int64_t n;            /* OLD's done rows */
  char first[PATH_MAX]; /* the first one's path (for the message when none matches) */
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
  const char *old;
  hid_t fo;             /* OLD */
  hid_t opath, ostatus; /* its datasets */
  hid_t ofeat[R50_STORE_MAX_LAYERS], ftype[R50_STORE_MAX_LAYERS];
  hid_t strtype;
  size_t name_len; /* OLD's fixed path length */
  int64_t n_old;
  int n_layers;
  size_t row_bytes[R50_STORE_MAX_LAYERS];
} files;

static void close_all(files *f) {
  hid_t ids[] = {f->opath, f->ostatus, f->strtype};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++) {
    if (f->ofeat[l] >= 0)
      H5Dclose(f->ofeat[l]);
    if (f->ftype[l] >= 0)
      H5Tclose(f->ftype[l]);
  }
}

/* Opens OLD (read) and checks it against the job. */
static r50_status open_old(files *f, const r50_store_meta *m, r50_error *err) {
  hid_t fapl = r50_store_serial_fapl();
  if (fapl < 0)
    return r50_h5_fail(err, R50_ERR_IO, "--reuse: HDF5 file access");
  f->fo = H5Fopen(f->old, H5F_ACC_RDONLY, fapl);
  H5_KEEP_ERROR(H5Pclose(fapl));
  if (f->fo < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: cannot open %s as HDF5", f->old);
  char format[64] = "";
  if (r50_h5_get_str(f->fo, "format", format, sizeof format) <= 0 ||
      strcmp(format, R50_STORE_FORMAT))
    return r50_fail(err, R50_ERR_FORMAT,
                    "--reuse: %s is not a feature file of this r50worker (format '%s', "
                    "want '%s')",
                    f->old, format, R50_STORE_FORMAT);
  /* OLD may hold more layers than the job: the job's are copied, the others not */
  R50_TRY(r50_store_check_attrs(f->fo, f->old, "--reuse", m, 1, err));
  if (r50_h5_get_int64(f->fo, "n_images", &f->n_old) <= 0 || f->n_old < 0)
    return r50_fail(err, R50_ERR_FORMAT,
                    "--reuse: %s: attribute 'n_images' is unreadable", f->old);
  f->opath = H5Dopen2(f->fo, "/images/path", H5P_DEFAULT);
  f->ostatus = H5Dopen2(f->fo, "/images/status", H5P_DEFAULT);
  hid_t pt = f->opath >= 0 ? H5Dget_type(f->opath) : -1;
  f->name_len = pt >= 0 ? H5Tget_size(pt) : 0;
  if (pt >= 0)
    H5Tclose(pt);
  f->strtype = f->name_len ? r50_h5_str_type(f->name_len) : -1;
  if (f->ostatus < 0 || f->strtype < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images", f->old);
  R50_TRY(r50_store_check_features(f->fo, f->old, "--reuse", m, f->n_old, err));
  f->n_layers = m->n_layers;
  for (int l = 0; l < m->n_layers; l++) { /* (the output has the same: the job made it) */
    char name[64];
    snprintf(name, sizeof name, "/features/%s", m->layers[l]);
    f->ofeat[l] = H5Dopen2(f->fo, name, H5P_DEFAULT);
    f->ftype[l] = f->ofeat[l] >= 0 ? H5Dget_type(f->ofeat[l]) : -1;
    if (f->ftype[l] < 0)
      return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: cannot open %s", name);
    size_t per = 1;
    for (int i = 0; i < m->ndim[l]; i++)
      per *= (size_t)m->shape[l][i];
    f->row_bytes[l] = per * H5Tget_size(f->ftype[l]);
  }
  return R50_OK;
}

/* OLD's done rows by their paths' hashes. */
static r50_status index_old(const files *f, table *t, r50_error *err) {
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
        const size_t len = strnlen(name, f->name_len);
        if (!t->n++)
          snprintf(t->first, sizeof t->first, "%.*s", (int)len, name);
        put(t, r50_hash64(name, len), r0 + i);
      }
  }
  free(names);
  free(st);
  return s;
}

/* A run of rows of this file, [row, row + n), to copy from OLD's [from, from + n). */
typedef struct span {
  int64_t row, from, n;
} span;

/* Bytes of a row of the widest layer. */
static size_t widest_row(const files *f) {
  size_t widest = 1;
  for (int l = 0; l < f->n_layers; l++)
    widest = f->row_bytes[l] > widest ? f->row_bytes[l] : widest;
  return widest;
}

/* Rows of the widest layer that fit the copy buffer (at most LIST_STEP). */
static int64_t rows_at_a_time(const files *f) {
  int64_t most = COPY_BYTES / (int64_t)widest_row(f);
  return most < 1 ? 1 : most > LIST_STEP ? LIST_STEP : most;
}

typedef struct plan {
  span *spans;   /* rank 0's, then rank 1's, ... */
  size_t *bytes; /* per rank */
  int64_t found; /* rows whose path's hash OLD holds done */
} plan;

/* Rank 0: the runs of rows not done whose paths' hashes OLD holds done, split into
 * one share per rank of about found / size rows each, in row order. */
static r50_status make_plan(const files *f, const table *t, const r50_dataset *ds,
                            const int8_t *st, const int *can, int size, plan *p,
                            r50_error *err) {
  const int64_t most = rows_at_a_time(f);
  int64_t n = 0, cap = 1024;
  span *sp = malloc((size_t)cap * sizeof *sp);
  p->bytes = calloc((size_t)size, sizeof *p->bytes);
  if (!sp || !p->bytes) {
    free(sp);
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  }
  p->found = 0;
  for (int64_t i = 0; i < ds->n; i++) {
    if (st[i] == 1)
      continue;
    char *esc;
    const char *name = stored_name(ds, i, &esc);
    const int64_t from = get(t, r50_hash64(name, strlen(name)));
    free(esc);
    if (from < 0)
      continue;
    p->found++;
    span *last = n ? &sp[n - 1] : NULL;
    if (last && last->row + last->n == i && last->from + last->n == from &&
        last->n < most) {
      last->n++;
      continue;
    }
    if (n == cap) {
      span *grown = realloc(sp, (size_t)(cap *= 2) * sizeof *sp);
      if (!grown) {
        free(sp);
        return r50_fail(err, R50_ERR_NOMEM, "out of memory for %lld runs of rows",
                        (long long)n);
      }
      sp = grown;
    }
    sp[n++] = (span){i, from, 1};
  }
  /* shares, one for each rank that can read OLD (who[], in rank order): a run is split
   * where one share ends (at most size - 1 splits) */
  span *out = malloc((size_t)(n + size) * sizeof *out);
  int *who = malloc((size_t)size * sizeof *who);
  if (!out || !who) {
    free(sp);
    free(out);
    free(who);
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  }
  int k_who = 0;
  for (int r = 0; r < size; r++)
    if (can[r])
      who[k_who++] = r;
  int64_t m = 0, given = 0;
  int r = 0;
  for (int64_t k = 0; k < n; k++) {
    span a = sp[k];
    while (a.n > 0) {
      const int64_t end = (p->found * (r + 1)) / k_who; /* share r ends here */
      const int64_t take = r == k_who - 1 || end - given >= a.n ? a.n : end - given;
      if (take > 0) {
        out[m++] = (span){a.row, a.from, take};
        p->bytes[who[r]] += sizeof *out;
        given += take;
        a.row += take;
        a.from += take;
        a.n -= take;
      }
      if (a.n > 0 || (r < k_who - 1 && given >= end))
        r++;
    }
  }
  free(who);
  free(sp);
  p->spans = out;
  return R50_OK;
}

/* Copies a span from OLD where its rows' paths match in full, marking those in
 * copied[]. */
static r50_status copy_span(const files *f, r50_store *store, const r50_dataset *ds,
                            span a, const int8_t *st, uint8_t *copied, void *buf,
                            char *names, int64_t *n_copied, r50_error *err) {
  if (r50_h5_read_rows(f->opath, f->strtype, a.from, a.n, names) < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read /images/path",
                       f->old);
  int64_t same = 0;
  int8_t *block = (int8_t *)names; /* (reused for the statuses once compared) */
  int8_t match[LIST_STEP];
  for (int64_t r = 0; r < a.n; r++) {
    char *esc;
    const char *want = stored_name(ds, a.row + r, &esc);
    const char *have = names + (size_t)r * f->name_len;
    const size_t n = strnlen(have, f->name_len);
    match[r] = n == strlen(want) && !memcmp(have, want, n);
    same += match[r];
    free(esc);
  }
  if (!same)
    return R50_OK;
  const hid_t type = r50_store_stored_type(store);
  for (int l = 0; l < f->n_layers; l++) {
    if (r50_h5_read_rows(f->ofeat[l], type, a.from, a.n, buf) < 0)
      return r50_h5_fail(err, R50_ERR_FORMAT, "--reuse: %s: cannot read rows %lld..%lld",
                         f->old, (long long)a.from, (long long)(a.from + a.n - 1));
    R50_TRY(r50_store_write_stored(store, l, a.row, a.n, buf, err));
  }
  for (int64_t r = 0; r < a.n; r++) {
    block[r] = match[r] ? 1 : st[a.row + r];
    copied[a.row + r] = (uint8_t)match[r];
  }
  R50_TRY(r50_store_write_rows(store, a.row, a.n, NULL, block, err));
  *n_copied += same;
  return R50_OK;
}

/* This rank's spans copied, features before statuses, so that a kill leaves a file
 * to --resume; a signal (SIGTERM before a SLURM preemption's SIGKILL) stops the copy
 * after the current span, and the job as it stops between batches. */
static r50_status copy_spans(const r50_dist *d, const files *f, r50_store *store,
                             const r50_dataset *ds, const span *sp, int64_t n,
                             const int8_t *st, uint8_t *copied, int64_t *n_copied,
                             r50_error *err) {
  const int64_t most = rows_at_a_time(f);
  void *buf = malloc((size_t)most * widest_row(f));
  char *names = malloc((size_t)most * (f->name_len > 1 ? f->name_len : 1));
  r50_status s = buf && names ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  int64_t rows = 0;
  for (int64_t k = 0; k < n; k++)
    rows += sp[k].n;
  r50_progress pace; /* (log records: the job's own progress line comes after) */
  r50_progress_start(&pace, 10.0, 10.0);
  for (int64_t k = 0; s == R50_OK && k < n && !r50_job_signal(); k++) {
    s = copy_span(f, store, ds, sp[k], st, copied, buf, names, n_copied, err);
    if (d->rank == 0 && r50_progress_due(&pace, 0))
      r50_log(R50_LOG_INFO, "--reuse: copied %lld of rank 0's %lld rows from %s",
              (long long)*n_copied, (long long)rows, f->old);
  }
  free(buf);
  free(names);
  return s;
}

/* The files' handles all unset. */
static files no_files(const char *old) {
  files f = {.old = old, .fo = -1, .opath = -1, .ostatus = -1, .strtype = -1};
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    f.ofeat[l] = f.ftype[l] = -1;
  return f;
}

static void close_old(files *f) {
  close_all(f);
  if (f->fo >= 0)
    H5Fclose(f->fo);
  f->fo = -1;
}

r50_status r50_store_reuse_check(const char *path, const char *old,
                                 const r50_store_meta *meta, r50_error *err) {
  struct stat a, b;
  if (stat(old, &a) != 0)
    return r50_fail(err, R50_ERR_NOT_FOUND, "--reuse: %s: %s", old, strerror(errno));
  if (stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return r50_fail(err, R50_ERR_ARG,
                    "--reuse: %s is this job's output: --resume continues a file, "
                    "--reuse copies from another one",
                    old);
  r50_h5_quiet();
  files f = no_files(old);
  r50_status s = open_old(&f, meta, err);
  close_old(&f);
  return s;
}

/* Whether a row done here (resumed, or copied from an earlier --reuse file) has the
 * path of one of OLD's done rows. */
static int matches_done(const table *t, const r50_dataset *ds, const int8_t *st) {
  for (int64_t i = 0; i < ds->n; i++) {
    if (st[i] != 1)
      continue;
    char *esc;
    const char *name = stored_name(ds, i, &esc);
    const int64_t from = get(t, r50_hash64(name, strlen(name)));
    free(esc);
    if (from >= 0)
      return 1;
  }
  return 0;
}

/* Rank 0: a warning when OLD has done rows, rows are not done here and no path of any
 * row matches: paths are compared as files store them (relative to a folder, or as a
 * list gives them), so a folder against a list of absolute paths matches nothing. */
static void none_matches(const table *t, const r50_dataset *ds, const int8_t *st,
                         const char *old) {
  int64_t i = 0;
  while (i < ds->n && st[i] == 1)
    i++;
  if (i == ds->n || matches_done(t, ds, st))
    return;
  char *esc;
  const char *name = stored_name(ds, i, &esc);
  r50_log(R50_LOG_WARN,
          "--reuse: none of the %lld done rows of %s has the path of a row of this "
          "dataset (%s's first: '%s'; this dataset's first not done: '%s'): paths are "
          "compared as stored: relative to a dataset folder, or as a list gives them (a "
          "list of paths relative to --root FOLDER matches FOLDER's rows)",
          (long long)t->n, old, old, t->first, name);
  free(esc);
}

/* Every rank: the copied[] flags of all ranks combined (in parts: counts are int). */
static r50_status combine(const r50_dist *d, uint8_t *copied, int64_t n, r50_error *err) {
  for (int64_t off = 0; off < n; off += (int64_t)1 << 30) {
    const int part = n - off > ((int64_t)1 << 30) ? 1 << 30 : (int)(n - off);
    R50_MPI_CHECK(
        d, MPI_Allreduce(MPI_IN_PLACE, copied + off, part, MPI_UINT8_T, MPI_BOR, d->comm),
        err);
  }
  return R50_OK;
}

/* Collective: every rank opens OLD; one that cannot (OLD on a disk only some nodes
 * see) leaves its share of the copy to the others, and the first such rank logs why.
 * Rank 0 must read it (it checked OLD before the output was made). *can (malloc'd)
 * gets whether each rank reads OLD, *n_can how many do. */
static r50_status who_reads(const r50_dist *d, files *f, const r50_store_meta *meta,
                            int **can, int *n_can, r50_error *err) {
  r50_error why = {0};
  r50_status s = open_old(f, meta, d->rank == 0 ? err : &why);
  int mine = d->rank == 0 || s == R50_OK, first = -1;
  if (d->rank != 0)
    s = R50_OK;
  *can = malloc((size_t)d->size * sizeof **can);
  *n_can = 0;
  R50_TRY(
      r50_dist_agree(d, *can ? s : r50_fail(err, R50_ERR_NOMEM, "out of memory"), err));
  R50_MPI_CHECK(d, MPI_Allgather(&mine, 1, MPI_INT, *can, 1, MPI_INT, d->comm), err);
  for (int r = 0; r < d->size; r++) {
    *n_can += (*can)[r];
    first = first < 0 && !(*can)[r] ? r : first;
  }
  if (d->rank == first) /* one line for the job */
    r50_log(R50_LOG_WARN,
            "%s: this rank leaves its share of the copy to the ranks that can read it",
            why.msg);
  return R50_OK;
}

/* Rank 0: OLD's done rows indexed, the copy cut into shares for the ranks that read
 * OLD, and what was found logged. */
static r50_status plan_copy(const r50_dist *d, const files *f, const r50_dataset *ds,
                            const int8_t *st, const int *can, int n_can, plan *p,
                            r50_error *err) {
  table t = {0};
  r50_status s = index_old(f, &t, err);
  if (s == R50_OK)
    s = make_plan(f, &t, ds, st, can, d->size, p, err);
  if (s == R50_OK && !p->found && t.n)
    none_matches(&t, ds, st, f->old);
  free(t.slots);
  const char *rows = p->found == 1 ? "row" : "rows";
  if (s == R50_OK && n_can < d->size)
    r50_log(R50_LOG_INFO,
            "--reuse: %lld %s to copy from %s, on the %d of %d ranks that can read it",
            (long long)p->found, rows, f->old, n_can, d->size);
  else if (s == R50_OK)
    r50_log(R50_LOG_INFO, "--reuse: %lld %s to copy from %s, on %d rank%s",
            (long long)p->found, rows, f->old, d->size, d->size == 1 ? "" : "s");
  return s;
}

r50_status r50_store_reuse(const r50_dist *d, r50_store *store, const char *old,
                           const r50_dataset *ds, const r50_store_meta *meta,
                           int8_t *status, int64_t *n_copied, r50_error *err) {
  r50_h5_quiet();
  *n_copied = 0;
  files f = no_files(old);
  plan p = {0};
  int *can = NULL, n_can = 0;
  r50_status s = who_reads(d, &f, meta, &can, &n_can, err);
  if (s == R50_OK && d->rank == 0)
    s = plan_copy(d, &f, ds, status, can, n_can, &p, err);
  free(can);
  s = r50_dist_agree(d, s, err);
  char *mine = NULL;
  size_t len = 0;
  if (s == R50_OK)
    s = r50_dist_scatter_bytes(d, (const char *)p.spans, p.bytes, &mine, &len, err);
  free(p.spans);
  free(p.bytes);
  uint8_t *copied = s == R50_OK ? calloc((size_t)(ds->n ? ds->n : 1), 1) : NULL;
  if (s == R50_OK && !copied)
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory");
  int64_t mine_copied = 0;
  if (s == R50_OK)
    s = copy_spans(d, &f, store, ds, (const span *)mine, (int64_t)(len / sizeof(span)),
                   status, copied, &mine_copied, err);
  free(mine);
  close_old(&f);
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK)
    s = combine(d, copied, ds->n, err);
  if (s == R50_OK) {
    long long total = 0, one = mine_copied;
    int rc = MPI_Allreduce(&one, &total, 1, MPI_LONG_LONG, MPI_SUM, d->comm);
    if (rc != MPI_SUCCESS)
      s = r50_mpi_fail(d, rc, "MPI_Allreduce", __FILE__, __LINE__, err);
    *n_copied = total;
  }
  for (int64_t i = 0; s == R50_OK && i < ds->n; i++)
    if (copied[i])
      status[i] = 1;
  free(copied);
  return s;
}

/*
 * export_npy.c — a feature file's done rows as .npy shards and CSV metadata
 * (export_npy.h).
 *
 * The source is read in blocks of rows (features, paths, labels), the statuses once;
 * each done row goes to the open shard, which is closed (synced, renamed) when full.
 */
#include "export_npy.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "h5util.h"
#include "half.h"
#include "npz.h"
#include "progress.h"

#define BLOCK_BYTES ((int64_t)64 << 20) /* feature bytes per block read */

typedef struct source {
  hid_t file, feat, path, label, status;
  hid_t ftype, ptype; /* memory types: the features' (float or half), the paths' */
  size_t plen;        /* bytes per path */
  int half;
  int64_t n, dim;
  int8_t *st;
} source;

typedef struct shard {
  FILE *npy, *csv;
  char npy_path[4200], csv_path[4200], npy_tmp[4300], csv_tmp[4300];
  int64_t want, have;
} shard;

static void close_source(source *s) {
  hid_t ids[] = {s->feat, s->path, s->label, s->status};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Dclose(ids[i]);
  if (s->ftype >= 0)
    H5Tclose(s->ftype);
  if (s->ptype >= 0)
    H5Tclose(s->ptype);
  if (s->file >= 0)
    H5Fclose(s->file);
  free(s->st);
}

static r50_status open_source(const r50_export_opts *o, source *s, r50_error *err) {
  *s = (source){-1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, NULL};
  r50_h5_quiet();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0)
    H5Pset_file_locking(fapl, 0, 1);
  s->file = H5Fopen(o->input, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0)
    H5_KEEP_ERROR(H5Pclose(fapl));
  if (s->file < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot open as an HDF5 file", o->input);
  char name[300], layers[256] = "";
  snprintf(name, sizeof name, "/features/%s", o->layer);
  if (H5Lexists(s->file, "/features", H5P_DEFAULT) <= 0 ||
      H5Lexists(s->file, name, H5P_DEFAULT) <= 0) {
    r50_h5_get_str(s->file, "layers", layers, sizeof layers);
    return r50_fail(err, R50_ERR_NOT_FOUND, "%s has no layer '%s'%s%s%s", o->input,
                    o->layer, layers[0] ? " (it holds: " : "", layers,
                    layers[0] ? ")" : "");
  }
  if ((s->feat = H5Dopen2(s->file, name, H5P_DEFAULT)) < 0 ||
      (s->path = H5Dopen2(s->file, "/images/path", H5P_DEFAULT)) < 0 ||
      (s->label = H5Dopen2(s->file, "/images/label", H5P_DEFAULT)) < 0 ||
      (s->status = H5Dopen2(s->file, "/images/status", H5P_DEFAULT)) < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "%s: not an r50worker feature file",
                       o->input);
  hid_t space = H5Dget_space(s->feat);
  hsize_t dims[8] = {0};
  int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (nd < 1 || nd > 8 || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
    if (space >= 0)
      H5Sclose(space);
    return r50_h5_fail(err, R50_ERR_FORMAT, "%s: %s has no usable shape", o->input, name);
  }
  H5Sclose(space);
  s->n = (int64_t)dims[0];
  s->dim = 1;
  for (int i = 1; i < nd; i++)
    s->dim *= (int64_t)dims[i];
  hid_t t = H5Dget_type(s->feat);
  const int is_float = t >= 0 && H5Tget_class(t) == H5T_FLOAT;
  const size_t size = t >= 0 ? H5Tget_size(t) : 0;
  if (t >= 0)
    H5Tclose(t);
  if (!is_float || (size != 2 && size != 4))
    return r50_fail(err, R50_ERR_FORMAT, "%s: %s is not float32 or float16", o->input,
                    name);
  s->half = size == 2;
  s->ftype = s->half ? r50_h5_half_type() : H5Tcopy(H5T_NATIVE_FLOAT);
  hid_t pt = H5Dget_type(s->path);
  s->plen = pt >= 0 ? H5Tget_size(pt) : 0;
  if (pt >= 0)
    H5Tclose(pt);
  s->ptype = s->plen ? r50_h5_str_type(s->plen) : -1;
  if (s->ftype < 0 || s->ptype < 0)
    return r50_h5_fail(err, R50_ERR_FORMAT, "%s: unreadable types", o->input);
  s->st = malloc((size_t)(s->n ? s->n : 1));
  if (!s->st)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for %lld statuses",
                    (long long)s->n);
  if (r50_h5_read_rows(s->status, H5T_NATIVE_INT8, 0, s->n, s->st) < 0)
    return r50_h5_fail(err, R50_ERR_IO, "%s: cannot read /images/status", o->input);
  return R50_OK;
}

/* Shards of an earlier export in dir (names "<prefix>_NNNNN.<ext>"): an error unless
 * overwrite, which removes them (a smaller export must not leave stale shards). */
static r50_status clear_shards(const char *dir, const char *prefix, int overwrite,
                               r50_error *err) {
  DIR *d = opendir(dir);
  if (!d)
    return r50_fail(err, R50_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
  r50_status s = R50_OK;
  const size_t pl = strlen(prefix);
  for (struct dirent *e; s == R50_OK && (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, pl) || e->d_name[pl] != '_')
      continue;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (!overwrite)
      s = r50_fail(err, R50_ERR_ARG,
                   "%s already holds an export (%s): --overwrite replaces it", dir,
                   e->d_name);
    else if (unlink(path) != 0)
      s = r50_fail(err, R50_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  }
  closedir(d);
  return s;
}

static r50_status open_shard(const r50_export_opts *o, const source *src, int k,
                             int64_t want, shard *sh, r50_error *err) {
  memset(sh, 0, sizeof *sh);
  sh->want = want;
  snprintf(sh->npy_path, sizeof sh->npy_path, "%s/img_emb/img_emb_%05d.npy", o->out_dir,
           k);
  snprintf(sh->csv_path, sizeof sh->csv_path, "%s/metadata/metadata_%05d.csv", o->out_dir,
           k);
  snprintf(sh->npy_tmp, sizeof sh->npy_tmp, "%s.tmp", sh->npy_path);
  snprintf(sh->csv_tmp, sizeof sh->csv_tmp, "%s.tmp", sh->csv_path);
  if (!(sh->npy = fopen(sh->npy_tmp, "wb")))
    return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", sh->npy_tmp,
                    strerror(errno));
  if (!(sh->csv = fopen(sh->csv_tmp, "wb")))
    return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", sh->csv_tmp,
                    strerror(errno));
  unsigned char head[R50_NPY_HEADER_MAX];
  const int64_t shape[2] = {want, src->dim};
  size_t hl = r50_npy_header(head, sizeof head, src->half ? NPZ_F16 : NPZ_F32, 2, shape);
  if (!hl || fwrite(head, 1, hl, sh->npy) != hl || fputs("path,label,row\n", sh->csv) < 0)
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", sh->npy_tmp, strerror(errno));
  return R50_OK;
}

static r50_status finish_file(FILE **f, const char *tmp, const char *path,
                              r50_error *err) {
  int bad = fflush(*f) != 0 || fsync(fileno(*f)) != 0;
  int e = errno;
  bad |= fclose(*f) != 0;
  *f = NULL;
  if (bad)
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", tmp, strerror(e ? e : errno));
  return r50_rename_durable(tmp, path, err);
}

static void abort_shard(shard *sh) {
  if (sh->npy)
    fclose(sh->npy), unlink(sh->npy_tmp);
  if (sh->csv)
    fclose(sh->csv), unlink(sh->csv_tmp);
  sh->npy = sh->csv = NULL;
}

/* A CSV field: quoted (quotes doubled) when it holds a comma, quote or line break. */
static int put_csv_field(FILE *f, const char *v) {
  if (!strpbrk(v, ",\"\r\n"))
    return fputs(v, f);
  if (fputc('"', f) == EOF)
    return EOF;
  for (; *v; v++)
    if ((*v == '"' && fputc('"', f) == EOF) || fputc(*v, f) == EOF)
      return EOF;
  return fputc('"', f);
}

/* Row i of the block (features x in the file's type) into the shard. */
static r50_status put_row(const r50_export_opts *o, const source *src, shard *sh, void *x,
                          float *tmp, const char *path, int32_t label, int64_t row,
                          r50_error *err) {
  const size_t es = src->half ? 2 : 4;
  if (o->normalize) {
    for (int64_t j = 0; j < src->dim; j++)
      tmp[j] = src->half ? r50_half_to_float(((uint16_t *)x)[j]) : ((float *)x)[j];
    double ss = 0;
    for (int64_t j = 0; j < src->dim; j++)
      ss += (double)tmp[j] * tmp[j];
    const float norm = (float)sqrt(ss);
    for (int64_t j = 0; norm > 0 && j < src->dim; j++)
      tmp[j] /= norm;
    if (src->half)
      r50_floats_to_halves(tmp, (size_t)src->dim, x);
    else
      memcpy(x, tmp, (size_t)src->dim * sizeof(float));
  }
  if (fwrite(x, es, (size_t)src->dim, sh->npy) != (size_t)src->dim)
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", sh->npy_tmp, strerror(errno));
  if (put_csv_field(sh->csv, path) == EOF ||
      fprintf(sh->csv, ",%d,%lld\n", (int)label, (long long)row) < 0)
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", sh->csv_tmp, strerror(errno));
  sh->have++;
  return R50_OK;
}

/* How far the export is (progress.h); `final` once all is written. */
static void progress(r50_progress *p, int64_t written, int64_t all, int final) {
  if (!r50_progress_due(p, final))
    return;
  const double rate = r50_progress_rate(p, (double)written);
  char line[160];
  snprintf(line, sizeof line, "%s %lld/%lld rows (%.0f%%), %.1f rows/s, ETA %.0fs",
           p->tty ? "export" : "progress", (long long)written, (long long)all,
           100.0 * (double)written / (double)all, rate,
           r50_progress_eta(rate, (double)(all - written)));
  r50_progress_show(p, line, final);
}

static r50_status export_rows(const r50_export_opts *o, const source *src, int64_t done,
                              int *files, r50_error *err) {
  const size_t es = src->half ? 2 : 4;
  int64_t brows = BLOCK_BYTES / (src->dim * (int64_t)es);
  brows = brows < 1 ? 1 : brows > 4096 ? 4096 : brows;
  char *feat = malloc((size_t)(brows * src->dim) * es);
  char *paths = malloc((size_t)brows * src->plen);
  int32_t *labels = malloc((size_t)brows * sizeof *labels);
  float *tmp = malloc((size_t)src->dim * sizeof *tmp);
  char *one = malloc(src->plen + 1);
  r50_status s = feat && paths && labels && tmp && one
                     ? R50_OK
                     : r50_fail(err, R50_ERR_NOMEM, "out of memory for a block of rows");
  shard sh = {0};
  int k = 0;
  int64_t written = 0;
  r50_progress pc;
  r50_progress_start(&pc, 0.5, 5.0);
  for (int64_t r0 = 0; s == R50_OK && r0 < src->n && written < done; r0 += brows) {
    const int64_t nb = src->n - r0 < brows ? src->n - r0 : brows;
    int any = 0;
    for (int64_t i = 0; i < nb && !any; i++)
      any = src->st[r0 + i] == 1;
    if (!any)
      continue;
    if (r50_h5_read_rows(src->feat, src->ftype, r0, nb, feat) < 0 ||
        r50_h5_read_rows(src->path, src->ptype, r0, nb, paths) < 0 ||
        r50_h5_read_rows(src->label, H5T_NATIVE_INT32, r0, nb, labels) < 0) {
      s = r50_h5_fail(err, R50_ERR_IO, "%s: cannot read rows %lld..%lld", o->input,
                      (long long)r0, (long long)(r0 + nb - 1));
      break;
    }
    for (int64_t i = 0; i < nb && s == R50_OK; i++) {
      if (src->st[r0 + i] != 1)
        continue;
      if (!sh.npy) {
        const int64_t left = done - written;
        s = open_shard(o, src, k, left < o->rows_per_file ? left : o->rows_per_file, &sh,
                       err);
        if (s != R50_OK)
          break;
      }
      memcpy(one, paths + (size_t)i * src->plen, src->plen);
      one[src->plen] = 0;
      s = put_row(o, src, &sh, feat + (size_t)(i * src->dim) * es, tmp, one, labels[i],
                  r0 + i, err);
      written += s == R50_OK;
      if (s == R50_OK && written < done)
        progress(&pc, written, done, 0);
      if (s == R50_OK && sh.have == sh.want) {
        s = finish_file(&sh.npy, sh.npy_tmp, sh.npy_path, err);
        if (s == R50_OK)
          s = finish_file(&sh.csv, sh.csv_tmp, sh.csv_path, err);
        k += s == R50_OK;
      }
    }
  }
  if (s == R50_OK && pc.tty) /* (the log's last word is the command's "exported" line) */
    progress(&pc, written, done, 1);
  abort_shard(&sh); /* on failure: nothing half-written stays */
  free(feat), free(paths), free(labels), free(tmp), free(one);
  *files = k;
  return s;
}

r50_status r50_export_npy(const r50_export_opts *o, int64_t *rows, int *files,
                          r50_error *err) {
  *rows = 0;
  *files = 0;
  if (o->rows_per_file < 1)
    return r50_fail(err, R50_ERR_ARG, "--rows-per-file must be at least 1");
  source src;
  r50_status s = open_source(o, &src, err);
  int64_t done = 0, pending = 0;
  for (int64_t i = 0; s == R50_OK && i < src.n; i++)
    done += src.st[i] == 1, pending += src.st[i] == 0;
  if (s == R50_OK && done == 0)
    s = r50_fail(err, R50_ERR_NOT_FOUND,
                 "%s: no row is done (status 1): nothing to export", o->input);
  if (s == R50_OK && pending) /* a stopped or still running extract: say so */
    r50_log(R50_LOG_WARN,
            "%s is not finished: %lld of its %lld rows are still pending (a stopped "
            "or running extract; `extract --resume` completes it); exporting the %lld "
            "done",
            o->input, (long long)pending, (long long)src.n, (long long)done);
  char emb[4200], meta[4200];
  snprintf(emb, sizeof emb, "%s/img_emb", o->out_dir);
  snprintf(meta, sizeof meta, "%s/metadata", o->out_dir);
  if (s == R50_OK)
    s = r50_mkdir_p(o->out_dir, err);
  if (s == R50_OK)
    s = r50_mkdir_p(emb, err);
  if (s == R50_OK)
    s = r50_mkdir_p(meta, err);
  if (s == R50_OK)
    s = clear_shards(emb, "img_emb", o->overwrite, err);
  if (s == R50_OK)
    s = clear_shards(meta, "metadata", o->overwrite, err);
  if (s == R50_OK)
    s = export_rows(o, &src, done, files, err);
  if (s == R50_OK)
    *rows = done;
  close_source(&src);
  return s;
}

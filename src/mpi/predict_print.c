/*
 * predict_print.c — reads /images/path, /images/status and /features/prob of a
 * feature file (serial HDF5) and prints each done row's top classes to stdout, one
 * "path<TAB>class<TAB>prob" line each; a path's tabs, newlines and backslashes are
 * escaped so that every line stays three fields.
 */
#include "predict_print.h"

#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "predict_score.h"
#include "r50.h"
#include "utf8.h"

typedef struct labels {
  char **names; /* each line's text after its first word (or the whole line) */
  char **words; /* each line's first word */
  int n;
} labels;

/* One name a line: the text after the line's first word ("n01440764 tench, Tinca
 * tinca", "0 tench"), or the whole line if it has one word; lines of any length, ended
 * by LF or CRLF, the first after a UTF-8 byte order mark if there is one; blank lines at
 * the end are not names. */
static int load_labels(const char *path, labels *l) {
  memset(l, 0, sizeof *l);
  if (!path)
    return 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    r50_log(R50_LOG_ERROR, "--labels %s: %s", path, strerror(errno));
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  int named = 0; /* names up to the last line that is not blank */
  for (ssize_t k; (k = getline(&line, &cap, f)) >= 0;) {
    line[strcspn(line, "\r\n")] = 0;
    if (!l->n && k >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) /* Notepad's BOM */
      memmove(line, line + 3, strlen(line + 3) + 1);
    const char *sp = strchr(line, ' ');
    char **n = realloc(l->names, (size_t)(l->n + 1) * sizeof *n);
    if (n)
      l->names = n;
    char **w = n ? realloc(l->words, (size_t)(l->n + 1) * sizeof *w) : NULL;
    if (!w)
      break;
    l->words = w;
    l->names[l->n] = strdup(sp ? sp + 1 : line);
    l->words[l->n++] = strndup(line, sp ? (size_t)(sp - line) : strlen(line));
    if (line[strspn(line, " \t")])
      named = l->n;
  }
  free(line);
  fclose(f);
  while (l->n > named) {
    --l->n;
    free(l->names[l->n]);
    free(l->words[l->n]);
  }
  return 0;
}

/* A names file of another model's classes (ImageNet's 1000 for a fine-tuned one) would
 * print wrong names silently: a count that differs from the model's is warned of. */
static void check_labels(const char *path, const labels *l, size_t classes) {
  if (!path || (size_t)l->n == classes)
    return;
  if ((size_t)l->n > classes) {
    r50_log(R50_LOG_WARN,
            "--labels %s names %d classes, the model has %zu: the names are likely "
            "another model's (a fine-tuned run's own are RUN_DIR/labels.txt); each "
            "class printed is the name on its line",
            path, l->n, classes);
    return;
  }
  char unnamed[64];
  if ((size_t)l->n + 1 == classes)
    snprintf(unnamed, sizeof unnamed, "class %d prints its index", l->n);
  else
    snprintf(unnamed, sizeof unnamed, "classes %d to %zu print their index", l->n,
             classes - 1);
  r50_log(R50_LOG_WARN, "--labels %s names %d class%s, the model has %zu: %s", path, l->n,
          l->n == 1 ? "" : "es", classes, unnamed);
}

static void free_labels(labels *l) {
  for (int i = 0; i < l->n; i++)
    free(l->names[i]), free(l->words[i]);
  free(l->names);
  free(l->words);
}

/* The file's /classes (an ImageFolder dataset's class names) into *names; 0 when it has
 * none, -1 when they cannot be read. */
static int read_classes(hid_t f, char ***names) {
  *names = NULL;
  if (H5Lexists(f, "classes", H5P_DEFAULT) <= 0)
    return 0;
  hid_t d = H5Dopen2(f, "classes", H5P_DEFAULT);
  hid_t sp = d >= 0 ? H5Dget_space(d) : -1, t = d >= 0 ? H5Dget_type(d) : -1;
  const hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  const size_t len = t >= 0 ? H5Tget_size(t) : 0;
  char *all = n > 0 && len ? malloc((size_t)n * len) : NULL;
  char **out = n > 0 ? calloc((size_t)n, sizeof *out) : NULL;
  int got = all && out && r50_h5_read_rows(d, t, 0, (int64_t)n, all) >= 0 ? (int)n : -1;
  for (int i = 0; i < got; i++)
    if (!(out[i] = strndup(all + (size_t)i * len, len)))
      got = -1;
  if (got < 0 && out)
    for (hssize_t i = 0; i < n; i++)
      free(out[i]);
  free(all);
  if (got > 0)
    *names = out;
  else
    free(out);
  hid_t ids[] = {t, sp, d};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  return got;
}

/* 0, or the errno of a failed write (EPIPE: `predict ... | head` stopped reading). */
static int print_row(const char *path, const float *p, int classes, int top,
                     const labels *l, int *idx) {
  for (int i = 0; i < classes; i++)
    idx[i] = i;
  if (top > classes)
    top = classes;
  for (int k = 0; k < top; k++) /* partial selection sort: top is small */
    for (int i = k + 1; i < classes; i++)
      if (p[idx[i]] > p[idx[k]]) {
        int t = idx[k];
        idx[k] = idx[i];
        idx[i] = t;
      }
  int w = 0;
  for (int k = 0; k < top && w >= 0; k++) {
    if (idx[k] < l->n && l->names[idx[k]])
      w = printf("%s\t%s\t%.6f\n", path, l->names[idx[k]], p[idx[k]]);
    else
      w = printf("%s\t%d\t%.6f\n", path, idx[k], p[idx[k]]);
  }
  return w >= 0 ? 0 : errno ? errno : EIO;
}

/* The accuracy in the file, as root attributes a script reads: accuracy_top1,
 * accuracy_top5 (models of more than 5 classes), accuracy_images (images scored) and
 * accuracy_labels (the names file, "" for a list's class indices); none when nothing
 * was scored (an earlier predict's removed). A failure is a warning: the predictions
 * are printed. */
static void store_score(const char *h5path, const r50_predict_score *sc,
                        const char *labels_path) {
  static const char *const names[] = {"accuracy_top1", "accuracy_top5", "accuracy_images",
                                      "accuracy_labels"};
  hid_t f = H5Fopen(h5path, H5F_ACC_RDWR, H5P_DEFAULT);
  int ok = f >= 0;
  for (size_t i = 0; ok && i < sizeof names / sizeof *names; i++) {
    const htri_t e = H5Aexists(f, names[i]);
    ok = e >= 0 && (!e || H5Adelete(f, names[i]) >= 0);
  }
  const double n = (double)sc->scored;
  if (ok && r50_predict_score_shown(sc, labels_path))
    ok =
        r50_h5_put_double(f, names[0], (double)sc->top1 / n) >= 0 &&
        (sc->classes <= 5 || r50_h5_put_double(f, names[1], (double)sc->top5 / n) >= 0) &&
        r50_h5_put_int64(f, names[2], sc->scored) >= 0 &&
        r50_h5_put_str(f, names[3], sc->n_named ? labels_path : "") >= 0;
  if (f >= 0 && H5Fclose(f) < 0)
    ok = 0;
  if (!ok)
    r50_log(R50_LOG_WARN, "%s: cannot keep the accuracy in the file's attributes",
            h5path);
}

/* Rows read at a time: the file may hold millions. */
#define BLOCK 4096

int r50_predict_print(const char *h5path, int top, const char *labels_path,
                      int keep_score) {
  /* a reader that stops early (`| head`) ends the printing, not the process: the
   * caller still removes its scratch file */
  signal(SIGPIPE, SIG_IGN);
  labels l;
  if (load_labels(labels_path, &l))
    return 1;
  r50_h5_quiet();
  hid_t f = H5Fopen(h5path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t dp = f >= 0 ? H5Dopen2(f, "/images/path", H5P_DEFAULT) : -1;
  hid_t ds = f >= 0 ? H5Dopen2(f, "/images/status", H5P_DEFAULT) : -1;
  hid_t dq = f >= 0 ? H5Dopen2(f, "/features/prob", H5P_DEFAULT) : -1;
  hid_t dl = f >= 0 ? H5Dopen2(f, "/images/label", H5P_DEFAULT) : -1;
  hid_t sq = dq >= 0 ? H5Dget_space(dq) : -1, pt = dp >= 0 ? H5Dget_type(dp) : -1;
  hsize_t dims[2] = {0, 0};
  int ok = sq >= 0 && H5Sget_simple_extent_ndims(sq) == 2 &&
           H5Sget_simple_extent_dims(sq, dims, NULL) == 2 && ds >= 0 && pt >= 0 &&
           dl >= 0;
  const size_t len = ok ? H5Tget_size(pt) : 0, classes = (size_t)dims[1];
  char *paths = ok ? malloc((size_t)BLOCK * len + 1) : NULL;
  int8_t *status = ok ? malloc(BLOCK) : NULL;
  float *prob = ok ? malloc((size_t)BLOCK * classes * sizeof(float) + 1) : NULL;
  int *idx = ok ? malloc(classes * sizeof(int) + 1) : NULL;
  int32_t *label = ok ? malloc(BLOCK * sizeof(int32_t)) : NULL;
  char **class_names = NULL;
  const int n_named = ok ? read_classes(f, &class_names) : 0;
  r50_predict_score score = {0};
  ok = ok && paths && status && prob && idx && label && n_named >= 0 &&
       r50_predict_score_init(&score, (int)classes, (const char *const *)class_names,
                              n_named, (const char *const *)l.words,
                              (const char *const *)l.names, l.n) == 0;
  if (ok)
    check_labels(labels_path, &l, classes);
  int werr = 0; /* a failed write to stdout */
  for (hsize_t r0 = 0; ok && !werr && r0 < dims[0]; r0 += BLOCK) {
    int64_t k = dims[0] - r0 < BLOCK ? (int64_t)(dims[0] - r0) : BLOCK;
    ok = r50_h5_read_rows(dp, pt, (int64_t)r0, k, paths) >= 0 &&
         r50_h5_read_rows(ds, H5T_NATIVE_INT8, (int64_t)r0, k, status) >= 0 &&
         r50_h5_read_rows(dq, H5T_NATIVE_FLOAT, (int64_t)r0, k, prob) >= 0 &&
         r50_h5_read_rows(dl, H5T_NATIVE_INT32, (int64_t)r0, k, label) >= 0;
    for (int64_t i = 0; ok && !werr && i < k; i++) {
      if (status[i] != 1)
        continue;
      char path[4096], field[8200];
      snprintf(path, sizeof path, "%.*s", (int)len, paths + i * (int64_t)len);
      r50_escape_field(path, field, sizeof field);
      werr = print_row(field, prob + i * (int64_t)classes, (int)classes, top, &l, idx);
      r50_predict_score_row(&score, label[i], prob + i * (int64_t)classes);
    }
  }
  if (!werr && fflush(stdout) != 0)
    werr = errno ? errno : EIO;
  if (!ok)
    r50_log(R50_LOG_ERROR, "%s: cannot read the predictions back", h5path);
  if (werr && werr != EPIPE) { /* a full disk under `> out.txt`: not a quiet success */
    r50_log(R50_LOG_ERROR, "cannot write the predictions to standard output: %s",
            strerror(werr));
    ok = 0;
  }
  if (ok && !werr) /* (not of the rows a reader that stopped early left unread) */
    r50_predict_score_report(&score, labels_path);
  for (int i = 0; i < n_named; i++)
    free(class_names[i]);
  free(class_names);
  free(paths), free(status), free(prob), free(idx), free(label);
  hid_t ids[] = {pt, sq, dp, ds, dq, dl};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (ids[i] >= 0)
      H5Idec_ref(ids[i]);
  if (f >= 0)
    H5Fclose(f);
  if (ok && !werr && keep_score)
    store_score(h5path, &score, labels_path);
  r50_predict_score_free(&score);
  free_labels(&l);
  return ok ? 0 : 1;
}

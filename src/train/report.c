/*
 * report.c — log.jsonl and curves.svg (report.h).
 *
 * The curves come from the log itself: each epoch's training loss is the mean of its
 * logged iterations, its accuracy the last evaluation after it; on resume the lines
 * already in log.jsonl are read back, so the picture covers the whole run.
 *
 * A record's "epoch" is Chainer's updater.epoch, the epochs completed when it was
 * written, so a record at an epoch's last iteration says that epoch (as the validation
 * record after it does); "epoch_detail" (updater.epoch_detail: epochs and the share of
 * the current one) tells the curves which epoch a record's iterations belong to.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"

typedef struct epoch_row {
  double loss_sum;
  int64_t loss_n;
  double val_acc; /* NaN: none */
} epoch_row;

struct r50_report {
  FILE *log;
  char svg[4200];
  epoch_row *rows;
  int64_t n_rows, cap;
};

static epoch_row *row(r50_report *r, int64_t epoch) {
  if (epoch < 0)
    return NULL;
  if (epoch >= r->cap) {
    int64_t cap = r->cap ? 2 * r->cap : 64;
    while (cap <= epoch)
      cap *= 2;
    epoch_row *n = realloc(r->rows, (size_t)cap * sizeof *n);
    if (!n)
      return NULL;
    r->rows = n;
    r->cap = cap;
  }
  for (; r->n_rows <= epoch; r->n_rows++)
    r->rows[r->n_rows] = (epoch_row){0, 0, NAN};
  return &r->rows[epoch];
}

/* The number after "key": in a line, or NaN. */
static double field(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *p = strstr(line, pat);
  return p ? atof(p + strlen(pat)) : NAN;
}

/* The 0-based epoch a training record's iterations belong to: from its epoch_detail,
 * else (a log written before that key) its epoch. */
static double record_epoch(const char *line) {
  const double detail = field(line, "epoch_detail");
  if (isnan(detail))
    return field(line, "epoch");
  return detail > 0 ? ceil(detail) - 1 : 0;
}

/* The 0-based epoch whose point a validation record is: the one it was taken in, or
 * at the end of (from epoch_detail; a log written before validation records had it:
 * epoch, the epochs completed, less 1); -1: none. */
static double validation_epoch(const char *line) {
  const double detail = field(line, "epoch_detail");
  if (isnan(detail))
    return field(line, "epoch") - 1;
  return detail > 0 ? ceil(detail) - 1 : -1;
}

/* One whole record of the log, into the curves. */
static void read_back(r50_report *r, const char *line) {
  const double loss = field(line, "main/loss"),
               acc = field(line, "validation/main/accuracy");
  if (!isnan(loss)) {
    const double e = record_epoch(line);
    epoch_row *w = isnan(e) ? NULL : row(r, (int64_t)e);
    if (w)
      w->loss_sum += loss, w->loss_n++;
  }
  const double e = validation_epoch(line);
  epoch_row *w;
  if (!isnan(acc) && e >= 0 && (w = row(r, (int64_t)e)))
    w->val_acc = acc;
}

/* A resumed run's log: the whole records up to `iteration` (the checkpoint's) are read
 * back into the curves; those after it, which the run does again, and a record cut
 * short by a kill are dropped from the file, as Chainer's LogReport, restored from a
 * snapshot, keeps only what the snapshot saw. */
static r50_status resume_log(r50_report *r, const char *path, int64_t iteration,
                             r50_error *err) {
  uint8_t *buf;
  size_t len;
  r50_status s =
      r50_read_file(path, (uint64_t)1 << 32, "a training log", &buf, &len, err);
  if (s == R50_ERR_NOT_FOUND)
    return R50_OK;
  R50_TRY(s);
  char *text = (char *)buf, line[1024];
  size_t kept = 0;
  int64_t dropped = 0, torn = 0;
  for (size_t at = 0; at < len;) {
    const char *nl = memchr(text + at, '\n', len - at);
    const size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
    const size_t c = n < sizeof line ? n : sizeof line - 1;
    memcpy(line, text + at, c);
    line[c] = 0;
    const double it = field(line, "iteration");
    if (!nl)
      torn++;
    else if (!isnan(it) && it > (double)iteration)
      dropped++;
    else {
      read_back(r, line);
      memmove(text + kept, text + at, n);
      kept += n;
    }
    at += n;
  }
  if (kept < len)
    s = r50_replace_file(path, text, kept, err);
  free(buf);
  if (s == R50_OK && dropped)
    r50_log(R50_LOG_INFO,
            "%s: %lld record(s) after iteration %lld, the checkpoint resumed from, "
            "dropped (those iterations run again)",
            path, (long long)dropped, (long long)iteration);
  if (s == R50_OK && torn)
    r50_log(R50_LOG_INFO, "%s: its last record, cut short when the run stopped, dropped",
            path);
  return s;
}

int r50_report_tail_read(const char *run_dir, r50_report_tail *t) {
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run_dir);
  *t = (r50_report_tail){0}; /* no record yet: every value NaN */
  t->epoch = t->iteration = t->loss = t->accuracy = t->lr = t->elapsed = NAN;
  t->val_epoch = t->val_detail = t->val_iteration = t->val_loss = NAN;
  t->val_top1 = t->val_top5 = t->val_count = NAN;
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    if (!strchr(line, '\n')) /* the line the run is writing now: not whole yet */
      continue;
    if (strstr(line, "\"main/loss\": ")) {
      t->has_train = 1;
      t->epoch = field(line, "epoch"), t->iteration = field(line, "iteration");
      t->loss = field(line, "main/loss"), t->accuracy = field(line, "main/accuracy");
      t->lr = field(line, "lr"), t->elapsed = field(line, "elapsed_time");
    } else if (strstr(line, "\"validation/main/accuracy\": ")) {
      t->has_val = 1;
      t->val_epoch = field(line, "epoch");
      t->val_detail = field(line, "epoch_detail");
      t->val_iteration = field(line, "iteration");
      t->val_loss = field(line, "validation/main/loss");
      t->val_top1 = field(line, "validation/main/accuracy");
      t->val_top5 = field(line, "validation/main/top5");
      t->val_count = field(line, "validation/main/count");
    }
  }
  fclose(f);
  return 1;
}

r50_status r50_report_open(const char *run_dir, int resume, int64_t resume_iteration,
                           r50_report **out, r50_error *err) {
  r50_report *r = calloc(1, sizeof *r);
  if (!r)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run_dir);
  snprintf(r->svg, sizeof r->svg, "%s/curves.svg", run_dir);
  r50_status s = resume ? resume_log(r, path, resume_iteration, err) : R50_OK;
  if (s == R50_OK && !(r->log = fopen(path, resume ? "a" : "w")))
    s = r50_fail(err, R50_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  if (s != R50_OK) {
    free(r->rows);
    free(r);
    return s;
  }
  *out = r;
  return R50_OK;
}

/* A number as Python's json (and so Chainer's LogReport) writes it: NaN and
 * Infinity spelled out, which printf's "nan" and "inf" are not. */
typedef struct {
  char s[32];
} json_num;

static json_num num(double v) {
  json_num n;
  if (isnan(v))
    snprintf(n.s, sizeof n.s, "NaN");
  else if (isinf(v))
    snprintf(n.s, sizeof n.s, "%sInfinity", v < 0 ? "-" : "");
  else
    snprintf(n.s, sizeof n.s, "%.7g", v);
  return n;
}

void r50_report_iteration(r50_report *r, int64_t epoch, double fraction,
                          int64_t iteration, double loss, double accuracy, double lr,
                          double elapsed) {
  fraction = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
  fprintf(r->log,
          "{\"epoch\": %lld, \"epoch_detail\": %.10g, \"iteration\": %lld, "
          "\"main/loss\": %s, \"main/accuracy\": %s, \"lr\": %s, \"elapsed_time\": "
          "%.3f}\n",
          (long long)epoch + (fraction >= 1), (double)epoch + fraction,
          (long long)iteration, num(loss).s, num(accuracy).s, num(lr).s, elapsed);
  fflush(r->log);
  epoch_row *w = row(r, epoch);
  if (w)
    w->loss_sum += loss, w->loss_n++;
}

/* x, y of a point of the plot: epoch e (1-based), value v in [lo, hi]. */
static void point(double e, double v, double e_max, double lo, double hi, double *x,
                  double *y) {
  *x = 60 + 520 * (e_max > 1 ? (e - 1) / (e_max - 1) : 0.5);
  *y = 300 - 260 * (hi > lo ? (v - lo) / (hi - lo) : 0.5);
}

static void write_svg(r50_report *r) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", r->svg);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return;
  double lmax = 0;
  for (int64_t i = 0; i < r->n_rows; i++)
    if (r->rows[i].loss_n)
      lmax = fmax(lmax, r->rows[i].loss_sum / (double)r->rows[i].loss_n);
  lmax = lmax > 0 ? lmax * 1.05 : 1;
  const double emax = (double)r->n_rows;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"360\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"640\" height=\"360\" fill=\"white\"/>\n"
          "<text x=\"320\" y=\"20\" text-anchor=\"middle\">training loss and validation "
          "accuracy per epoch</text>\n"
          "<line x1=\"60\" y1=\"300\" x2=\"580\" y2=\"300\" stroke=\"black\"/>\n"
          "<line x1=\"60\" y1=\"40\" x2=\"60\" y2=\"300\" stroke=\"#1f77b4\"/>\n"
          "<line x1=\"580\" y1=\"40\" x2=\"580\" y2=\"300\" stroke=\"#d62728\"/>\n"
          "<text x=\"320\" y=\"330\" text-anchor=\"middle\">epoch (1..%lld)</text>\n"
          "<text x=\"10\" y=\"36\" fill=\"#1f77b4\">loss %.3g</text>\n"
          "<text x=\"10\" y=\"304\" fill=\"#1f77b4\">0</text>\n"
          "<text x=\"585\" y=\"44\" fill=\"#d62728\">acc 1</text>\n"
          "<text x=\"585\" y=\"304\" fill=\"#d62728\">0</text>\n",
          (long long)r->n_rows, lmax);
  for (int pass = 0; pass < 2; pass++) {
    fprintf(f, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"",
            pass ? "#d62728" : "#1f77b4");
    for (int64_t i = 0; i < r->n_rows; i++) {
      double v = pass                ? r->rows[i].val_acc
                 : r->rows[i].loss_n ? r->rows[i].loss_sum / (double)r->rows[i].loss_n
                                     : NAN;
      if (isnan(v))
        continue;
      double x, y;
      point((double)i + 1, v, emax, 0, pass ? 1 : lmax, &x, &y);
      fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f, "\"/>\n");
  }
  fprintf(f, "</svg>\n");
  if (fclose(f) == 0)
    rename(tmp, r->svg);
}

void r50_report_validation(r50_report *r, int64_t epoch, double fraction,
                           int64_t iteration, double loss, double top1, double top5,
                           int64_t count, double elapsed) {
  fraction = fraction < 0 ? 0 : fraction >= 1 ? 0 : fraction;
  fprintf(r->log,
          "{\"epoch\": %lld, \"epoch_detail\": %.10g, \"iteration\": %lld, "
          "\"validation/main/loss\": %s, \"validation/main/accuracy\": %s, "
          "\"validation/main/top5\": %s, \"validation/main/count\": %lld, "
          "\"elapsed_time\": %.3f}\n",
          (long long)epoch, (double)epoch + fraction, (long long)iteration, num(loss).s,
          num(top1).s, num(top5).s, (long long)count, elapsed);
  fflush(r->log);
  const int64_t e = fraction > 0 ? epoch : epoch - 1; /* the epoch it is the point of */
  epoch_row *w = e >= 0 ? row(r, e) : NULL;
  if (w)
    w->val_acc = top1;
  write_svg(r);
}

void r50_report_close(r50_report *r) {
  if (!r)
    return;
  fclose(r->log);
  free(r->rows);
  free(r);
}

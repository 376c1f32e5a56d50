/*
 * report.c — log.jsonl and curves.svg (report.h).
 *
 * The curves come from the log itself: each epoch's training loss is the mean of its
 * logged iterations, its accuracy the last evaluation after it; on resume the lines
 * already in log.jsonl are read back, so the picture covers the whole run.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

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

static void read_back(r50_report *r, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    double e = field(line, "epoch"), loss = field(line, "main/loss"),
           acc = field(line, "validation/main/accuracy");
    epoch_row *w = isnan(e) ? NULL : row(r, (int64_t)e);
    if (!w)
      continue;
    if (!isnan(loss))
      w->loss_sum += loss, w->loss_n++;
    if (!isnan(acc) && e >= 1 && (w = row(r, (int64_t)e - 1)))
      w->val_acc = acc;
  }
  fclose(f);
}

int r50_report_tail_read(const char *run_dir, r50_report_tail *t) {
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run_dir);
  *t = (r50_report_tail){0, 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
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
      t->val_loss = field(line, "validation/main/loss");
      t->val_top1 = field(line, "validation/main/accuracy");
      t->val_top5 = field(line, "validation/main/top5");
      t->val_count = field(line, "validation/main/count");
    }
  }
  fclose(f);
  return 1;
}

r50_status r50_report_open(const char *run_dir, int resume, r50_report **out,
                           r50_error *err) {
  r50_report *r = calloc(1, sizeof *r);
  if (!r)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run_dir);
  snprintf(r->svg, sizeof r->svg, "%s/curves.svg", run_dir);
  if (resume)
    read_back(r, path);
  if (!(r->log = fopen(path, resume ? "a" : "w"))) {
    free(r);
    return r50_fail(err, R50_ERR_IO, "cannot write %s", path);
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

void r50_report_iteration(r50_report *r, int64_t epoch, int64_t iteration, double loss,
                          double accuracy, double lr, double elapsed) {
  fprintf(r->log,
          "{\"epoch\": %lld, \"iteration\": %lld, \"main/loss\": %s, \"main/accuracy\": "
          "%s, \"lr\": %s, \"elapsed_time\": %.3f}\n",
          (long long)epoch, (long long)iteration, num(loss).s, num(accuracy).s, num(lr).s,
          elapsed);
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

void r50_report_validation(r50_report *r, int64_t epoch, int64_t iteration, double loss,
                           double top1, double top5, int64_t count, double elapsed) {
  fprintf(r->log,
          "{\"epoch\": %lld, \"iteration\": %lld, \"validation/main/loss\": %s, "
          "\"validation/main/accuracy\": %s, \"validation/main/top5\": %s, "
          "\"validation/main/count\": %lld, \"elapsed_time\": %.3f}\n",
          (long long)epoch, (long long)iteration, num(loss).s, num(top1).s, num(top5).s,
          (long long)count, elapsed);
  fflush(r->log);
  epoch_row *w = epoch >= 1 ? row(r, epoch - 1) : NULL;
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

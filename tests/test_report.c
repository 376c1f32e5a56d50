/*
 * test_report.c — RUN_DIR/log.jsonl across a resume: the records after the checkpoint's
 * iteration (done again by the resumed run) and a record cut short by a kill are
 * dropped, every other line is kept byte for byte, new records follow; "epoch" is the
 * epochs completed when a record is written (Chainer's updater.epoch) and
 * "epoch_detail" the epochs and the share of the current one; the curves put each
 * record's loss in the epoch its iterations belong to.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "test_util.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL, "create %s", path);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static char *read_text(const char *path) {
  static char buf[8192];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = 0;
  return buf;
}

/* The y of a polyline's point (stroke `color`) for epoch e (1-based) of curves.svg, or
 * -1. */
static double point_y(const char *svg, const char *color, int e, int n_epochs) {
  char head[64];
  snprintf(head, sizeof head, "stroke=\"%s\" points=\"", color);
  const char *p = strstr(svg, head);
  if (!p)
    return -1;
  p += strlen(head);
  const double want_x =
      60 + 520 * (n_epochs > 1 ? (e - 1) / (double)(n_epochs - 1) : 0.5);
  double x, y;
  int used;
  while (sscanf(p, "%lf,%lf %n", &x, &y, &used) == 2) {
    if (x > want_x - 0.06 && x < want_x + 0.06)
      return y;
    p += used;
  }
  return -1;
}

static double loss_point_y(const char *svg, int e, int n_epochs) {
  return point_y(svg, "#1f77b4", e, n_epochs);
}

/* The validation accuracy (0..1) curves.svg plots for epoch e, or -1. */
static double accuracy_at(const char *svg, int e, int n_epochs) {
  const double y = point_y(svg, "#d62728", e, n_epochs);
  return y < 0 ? -1 : (300 - y) / 260;
}

int main(void) {
  char run[] = "/tmp/r50-report-XXXXXX", log[128], svg[128];
  CHECK(mkdtemp(run) != NULL, "mkdtemp");
  snprintf(log, sizeof log, "%s/log.jsonl", run);
  snprintf(svg, sizeof svg, "%s/curves.svg", run);
  r50_error err = {0};

  /* a fresh run: 3 steps an epoch of 10 rows at 4 a step, logged every step */
  r50_report *r = NULL;
  CHECK(r50_report_open(run, 0, 0, &r, &err) == R50_OK, "open: %s", err.msg);
  if (!r)
    return test_result("test_report");
  r50_report_iteration(r, 0, 0.4, 1, 2.0, 0.5, 0.1, 1.0);
  r50_report_iteration(r, 0, 0.8, 2, 4.0, 0.5, 0.1, 2.0);
  r50_report_iteration(r, 0, 1.0, 3, 6.0, 0.5, 0.1, 3.0);
  r50_report_validation(r, 1, 0, 3, 1.5, 0.25, 0.75, 7, 3.5);
  r50_report_iteration(r, 1, 0.4, 4, 8.0, 0.5, 0.1, 4.0);
  r50_report_iteration(r, 1, 0.8, 5, 8.0, 0.5, 0.1, 5.0);
  r50_report_close(r);
  const char *want =
      "{\"epoch\": 0, \"epoch_detail\": 0.4, \"iteration\": 1, \"main/loss\": 2, "
      "\"main/accuracy\": 0.5, \"lr\": 0.1, \"elapsed_time\": 1.000}\n"
      "{\"epoch\": 0, \"epoch_detail\": 0.8, \"iteration\": 2, \"main/loss\": 4, "
      "\"main/accuracy\": 0.5, \"lr\": 0.1, \"elapsed_time\": 2.000}\n"
      "{\"epoch\": 1, \"epoch_detail\": 1, \"iteration\": 3, \"main/loss\": 6, "
      "\"main/accuracy\": 0.5, \"lr\": 0.1, \"elapsed_time\": 3.000}\n"
      "{\"epoch\": 1, \"epoch_detail\": 1, \"iteration\": 3, \"validation/main/loss\": "
      "1.5, "
      "\"validation/main/accuracy\": 0.25, \"validation/main/top5\": 0.75, "
      "\"validation/main/count\": 7, \"elapsed_time\": 3.500}\n";
  char first[4096];
  snprintf(first, sizeof first, "%s", read_text(log));
  CHECK(strncmp(first, want, strlen(want)) == 0, "the records as written:\n%s", first);
  CHECK(strstr(first, "\"epoch\": 1, \"epoch_detail\": 1.4, \"iteration\": 4,") != NULL,
        "a record in the second epoch: epoch 1, epoch_detail 1.4:\n%s", first);
  /* epoch 1's loss is the mean of iterations 1-3 (4), whose last record says epoch 1 */
  const char *pic = read_text(svg);
  CHECK(loss_point_y(pic, 1, 1) >= 0, "curves.svg has epoch 1's loss:\n%s", pic);

  /* killed after iteration 5, in the middle of a record; the checkpoint is iteration 3's
   */
  FILE *f = fopen(log, "a");
  CHECK(f != NULL, "append %s", log);
  if (f) {
    fputs("{\"epoch\": 1, \"epoch_detail\": 1.", f);
    fclose(f);
  }
  r = NULL;
  CHECK(r50_report_open(run, 1, 3, &r, &err) == R50_OK, "resume open: %s", err.msg);
  if (!r)
    return test_result("test_report");
  const char *kept = read_text(log);
  CHECK(strcmp(kept, want) == 0,
        "resumed at iteration 3: the records up to it, whole:\n%s", kept);
  r50_report_iteration(r, 1, 0.4, 4, 10.0, 0.5, 0.1, 4.5);
  r50_report_iteration(r, 1, 0.8, 5, 10.0, 0.5, 0.1, 5.5);
  r50_report_validation(r, 1, 0.8, 5, 1.0, 0.9, 1.0, 7, 5.6); /* --val-every */
  r50_report_iteration(r, 1, 1.0, 6, 10.0, 0.5, 0.1, 6.5);
  r50_report_validation(r, 2, 0, 6, 1.0, 0.5, 1.0, 7, 7.0);
  r50_report_close(r);
  const char *after = read_text(log);
  CHECK(strstr(after, "{\"epoch\": 1, \"epoch_detail\": 1.8, \"iteration\": 5, "
                      "\"validation/main/loss\": 1,") != NULL,
        "a validation inside epoch 2: epoch 1, epoch_detail 1.8:\n%s", after);
  CHECK(strncmp(after, want, strlen(want)) == 0 &&
            strstr(after + strlen(want), "\"iteration\": 4, \"main/loss\": 10,") &&
            strstr(after, "\"epoch\": 2, \"epoch_detail\": 2, \"iteration\": 6,") &&
            !strstr(after, "\"main/loss\": 8,") &&
            !strstr(after, "\"epoch_detail\": 1.,"),
        "the resumed run's records follow the kept ones:\n%s", after);
  /* curves: epoch 1 mean 4 (read back), epoch 2 mean 10 (the top: 10 * 1.05 is the scale)
   */
  pic = read_text(svg);
  const double y1 = loss_point_y(pic, 1, 2), y2 = loss_point_y(pic, 2, 2);
  CHECK(y1 > 0 && y2 > 0 && y2 < y1, "curves.svg: epoch 2's loss above epoch 1's:\n%s",
        pic);
  CHECK(y1 > 0 && fabs(y1 - (300 - 260 * 4 / 10.5)) < 0.1 &&
            fabs(y2 - (300 - 260 * 10 / 10.5)) < 0.1,
        "curves.svg: epoch 1 at loss 4, epoch 2 at 10 (y %.1f, %.1f)", y1, y2);
  const double a1 = accuracy_at(pic, 1, 2), a2 = accuracy_at(pic, 2, 2);
  CHECK(
      fabs(a1 - 0.25) < 1e-3 && fabs(a2 - 0.5) < 1e-3,
      "curves.svg: validation 0.25 for epoch 1 (read back), and for epoch 2 the last of "
      "it, 0.5 at its end, not 0.9 inside it (%.4f, %.4f):\n%s",
      a1, a2, pic);

  /* a log of an earlier version (no epoch_detail: epoch is the one records belong to)
   * still reads back; nothing to drop leaves the file as it was */
  write_text(log, "{\"epoch\": 0, \"iteration\": 3, \"main/loss\": 6}\n"
                  "{\"epoch\": 1, \"iteration\": 3, \"validation/main/accuracy\": 0.75}\n"
                  "{\"epoch\": 1, \"iteration\": 6, \"main/loss\": 3}\n");
  r = NULL;
  CHECK(r50_report_open(run, 1, 6, &r, &err) == R50_OK, "open an old log: %s", err.msg);
  if (r) {
    r50_report_validation(r, 2, 0, 6, 1.0, 0.5, 1.0, 7, 7.0);
    r50_report_close(r);
  }
  pic = read_text(svg);
  const double o1 = loss_point_y(pic, 1, 2), o2 = loss_point_y(pic, 2, 2);
  CHECK(o1 > 0 && o2 > o1, "an old log's epochs: 6 then 3 (y %.1f, %.1f)", o1, o2);
  CHECK(fabs(accuracy_at(pic, 1, 2) - 0.75) < 1e-3 &&
            fabs(accuracy_at(pic, 2, 2) - 0.5) < 1e-3,
        "an old log's validation (no epoch_detail) is epoch 1's:\n%s", pic);

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", run);
  CHECK(system(cmd) == 0, "%s", cmd);
  return test_result("test_report");
}

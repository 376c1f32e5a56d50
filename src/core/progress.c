/*
 * progress.c — the pace and the drawing of progress lines (progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "r50.h"

/* R50_PROGRESS_SECONDS when it is a number >= 0, else `otherwise`. */
static double interval_s(double otherwise) {
  const char *e = getenv("R50_PROGRESS_SECONDS");
  char *end;
  const double v = e && *e ? strtod(e, &end) : -1;
  return e && *e && !*end && v >= 0 ? v : otherwise;
}

void r50_progress_start(r50_progress *p, double tty_s, double log_s) {
  p->tty = isatty(2);
  p->start_s = p->last_s = r50_now_s();
  p->interval_s = interval_s(p->tty ? tty_s : log_s);
}

int r50_progress_due(r50_progress *p, int final) {
  const double t = r50_now_s();
  if (!final && t - p->last_s < p->interval_s)
    return 0;
  p->last_s = t;
  return 1;
}

double r50_progress_rate(const r50_progress *p, double done) {
  const double el = r50_now_s() - p->start_s;
  return el > 0 ? done / el : 0;
}

double r50_progress_eta(double rate, double left) {
  return rate > 0 && left > 0 ? left / rate : 0;
}

void r50_progress_show(const r50_progress *p, const char *line, int final) {
  if (p->tty) {
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    r50_log_after_progress(!final);
  } else
    r50_log(R50_LOG_INFO, "%s", line);
}

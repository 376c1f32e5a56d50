/*
 * clock.c — r50_now_s, and the interval between progress lines.
 */
#include "clock.h"

#include <stdlib.h>
#include <time.h>

double r50_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double r50_progress_interval_s(double otherwise) {
  const char *e = getenv("R50_PROGRESS_SECONDS");
  char *end;
  const double v = e && *e ? strtod(e, &end) : -1;
  if (e && *e && !*end && v >= 0)
    return v;
  return otherwise;
}

/*
 * clock.c — r50_now_s.
 */
#include "clock.h"

#include <time.h>

double r50_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

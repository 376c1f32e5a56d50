/*
 * clock.h — monotonic time in seconds, for progress and benchmarks.
 */
#ifndef R50_CLOCK_H
#define R50_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double r50_now_s(void);

#endif

/*
 * clock.h — monotonic time in seconds, for progress and benchmarks.
 */
#ifndef R50_CLOCK_H
#define R50_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double r50_now_s(void);

/* The least time between two progress lines of a long job: R50_PROGRESS_SECONDS when
 * it is a number >= 0 (0: a line at every step), else `otherwise` (the job's own: 0.5 s
 * on a terminal, where one line is redrawn, and 5 s in a log, for extract and export;
 * 30 s for a validation). */
double r50_progress_interval_s(double otherwise);

#endif

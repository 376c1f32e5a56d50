/*
 * progress.h — how far a long job is, on stderr: one line redrawn on a terminal, a log
 * record otherwise, at most every so often.
 *
 * Used by extract (and predict), export, --reuse's copy, fine-tuning's validations and
 * its training steps: each words its own line; the pace, the rate and the drawing are
 * here.
 */
#ifndef R50_PROGRESS_H
#define R50_PROGRESS_H

#include <stdint.h>

typedef struct r50_progress {
  double start_s, last_s; /* when the work began; when a line was last shown */
  double interval_s;      /* the least time between two lines */
  int tty;                /* stderr is a terminal: the line is redrawn in place */
} r50_progress;

/* Starts the clock. The interval between lines is R50_PROGRESS_SECONDS when that is a
 * number >= 0 (0: a line at every step), else tty_s on a terminal and log_s otherwise
 * (the job's own: 0.5 s and 5 s for extract and export, 30 s for a validation); read
 * once, here. */
void r50_progress_start(r50_progress *p, double tty_s, double log_s);

/* Whether a line is due now (always when `final`); if so, counts it as shown. */
int r50_progress_due(r50_progress *p, int final);

/* Items a second since the start, and the seconds the `left` ones would take at that
 * rate (0 while no rate is known). */
double r50_progress_rate(const r50_progress *p, double done);
double r50_progress_eta(double rate, double left);

/* Shows `line`: on a terminal redrawn in place, to the line's end (ESC [K; a newline
 * after the final one), else an INFO log record. */
void r50_progress_show(const r50_progress *p, const char *line, int final);

#endif

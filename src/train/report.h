/*
 * report.h — what a training run tells its user beyond the terminal: RUN_DIR/log.jsonl,
 * one JSON object a line keyed as Chainer's LogReport (epoch, epoch_detail, iteration,
 * main/loss, main/accuracy, lr, elapsed_time; validation/main/loss,
 * validation/main/accuracy, validation/main/top5, validation/main/count; a
 * validation record has epoch, epoch_detail and iteration too), and
 * RUN_DIR/curves.svg, the training loss and validation accuracy per epoch, rewritten at
 * each evaluation. Rank 0's.
 */
#ifndef R50_REPORT_H
#define R50_REPORT_H

#include <stdint.h>

#include "r50.h"

typedef struct r50_report r50_report;

/* Opens RUN_DIR/log.jsonl. On resume from the checkpoint of resume_iteration it is
 * appended to, its records up to that iteration kept (the curves keep their epochs)
 * and those after it, which the run does again, dropped. */
r50_status r50_report_open(const char *run_dir, int resume, int64_t resume_iteration,
                           r50_report **out, r50_error *err);
/* A logged iteration: the means over the iterations since the last one; `epoch` is
 * the 0-based epoch they belong to, `fraction` (0, 1] how much of it is done with
 * them (1: it ends there). */
void r50_report_iteration(r50_report *r, int64_t epoch, double fraction,
                          int64_t iteration, double loss, double accuracy, double lr,
                          double elapsed);
/* An evaluation after `epoch` epochs and `fraction` [0, 1) of the next (0: at an
 * epoch's end); rewrites curves.svg, whose point for an epoch is the last evaluation
 * in it or at its end. */
void r50_report_validation(r50_report *r, int64_t epoch, double fraction,
                           int64_t iteration, double loss, double top1, double top5,
                           int64_t count, double elapsed);
void r50_report_close(r50_report *r); /* NULL is a no-op */

/* The last training and validation records of RUN_DIR/log.jsonl, for `r50worker
 * status`; a value a record lacks is NaN. */
typedef struct r50_report_tail {
  int has_train, has_val; /* whether such a record was found */
  double epoch, iteration, loss, accuracy, lr, elapsed;
  double val_epoch, val_detail, val_iteration, val_loss, val_top1, val_top5, val_count;
} r50_report_tail;

/* Reads the log (0: it cannot be read, as when the run has not started). */
int r50_report_tail_read(const char *run_dir, r50_report_tail *t);

#endif

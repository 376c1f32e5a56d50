/*
 * report.h — what a training run tells its user beyond the terminal: RUN_DIR/log.jsonl,
 * one JSON object a line keyed as Chainer's LogReport (epoch, iteration, main/loss,
 * main/accuracy, lr, elapsed_time; validation/main/loss, validation/main/accuracy,
 * validation/main/top5, validation/main/count), and RUN_DIR/curves.svg, the training
 * loss and validation accuracy per epoch, rewritten at each evaluation. Rank 0's.
 */
#ifndef R50_REPORT_H
#define R50_REPORT_H

#include <stdint.h>

#include "r50.h"

typedef struct r50_report r50_report;

/* Opens RUN_DIR/log.jsonl (appending on resume, whose earlier epochs the curves keep). */
r50_status r50_report_open(const char *run_dir, int resume, r50_report **out,
                           r50_error *err);
/* A logged iteration: the means over the iterations since the last one. */
void r50_report_iteration(r50_report *r, int64_t epoch, int64_t iteration, double loss,
                          double accuracy, double lr, double elapsed);
/* An evaluation after `epoch` epochs; rewrites curves.svg. */
void r50_report_validation(r50_report *r, int64_t epoch, int64_t iteration, double loss,
                           double top1, double top5, int64_t count, double elapsed);
void r50_report_close(r50_report *r); /* NULL is a no-op */

#endif

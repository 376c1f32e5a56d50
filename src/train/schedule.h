/*
 * schedule.h — the learning rate over training, as a function of progress in epochs
 * (fractional), so that it does not depend on the number of ranks or the batch.
 */
#ifndef R50_SCHEDULE_H
#define R50_SCHEDULE_H

typedef enum r50_schedule_kind {
  R50_SCHEDULE_STEP,   /* x0.1 at 1/2 and at 3/4 of the training */
  R50_SCHEDULE_COSINE, /* half a cosine from lr down to 0 */
  R50_SCHEDULE_CONST,
} r50_schedule_kind;

typedef struct r50_schedule {
  r50_schedule_kind kind;
  double lr;            /* the base learning rate */
  double warmup_epochs; /* linear warm-up from lr/steps to lr over these */
  double total_epochs;  /* the length of training */
} r50_schedule;

/* The learning rate at `epochs` of progress (0 <= epochs <= total). */
double r50_schedule_lr(const r50_schedule *s, double epochs);

/* "step", "cosine", "const" -> kind; -1 for anything else. */
int r50_schedule_parse(const char *name);

#endif

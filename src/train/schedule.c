/*
 * schedule.c — learning-rate schedules with linear warm-up.
 *
 * Warm-up scales lr by progress / warmup_epochs (never 0: the first step uses the
 * value at its own end); after it, "step" multiplies by 0.1 once half of the training
 * is done and again at three quarters (the shape of the classic 30/60/90 ImageNet
 * recipe), "cosine" follows 0.5 (1 + cos(pi t)) over the rest, "const" keeps lr.
 */
#include "schedule.h"

#include <math.h>
#include <string.h>

double r50_schedule_lr(const r50_schedule *s, double epochs) {
  if (s->warmup_epochs > 0 && epochs < s->warmup_epochs)
    return s->lr * fmax(epochs, 1e-9) / s->warmup_epochs;
  switch (s->kind) {
  case R50_SCHEDULE_STEP:
    return s->lr * (epochs >= 0.75 * s->total_epochs  ? 0.01
                    : epochs >= 0.5 * s->total_epochs ? 0.1
                                                      : 1.0);
  case R50_SCHEDULE_COSINE: {
    double span = s->total_epochs - s->warmup_epochs;
    double t = span > 0 ? (epochs - s->warmup_epochs) / span : 1;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return s->lr * 0.5 * (1 + cos(M_PI * t));
  }
  case R50_SCHEDULE_CONST: return s->lr;
  }
  return s->lr;
}

int r50_schedule_parse(const char *name) {
  if (!strcmp(name, "step"))
    return R50_SCHEDULE_STEP;
  if (!strcmp(name, "cosine"))
    return R50_SCHEDULE_COSINE;
  if (!strcmp(name, "const"))
    return R50_SCHEDULE_CONST;
  return -1;
}

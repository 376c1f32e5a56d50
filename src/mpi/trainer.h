/*
 * trainer.h — the fine-tuning job's state on one rank, shared by the files of the job:
 * train_job.c (set-up, the loop, checkpoints, resume) and train_validate.c
 * (validation, the best model, --patience). Private to src/mpi.
 */
#ifndef R50_TRAINER_H
#define R50_TRAINER_H

#include <stdint.h>

#include "checkpoint.h"
#include "clock.h"
#include "dataset.h"
#include "dist.h"
#include "grad_sync.h"
#include "output_lock.h"
#include "progress.h"
#include "report.h"
#include "schedule.h"
#include "train_job.h"

typedef struct trainer {
  const r50_dist *d;
  const r50_train_job *job;
  r50_dataset train, val;
  int have_val;
  int val_warned; /* the unreadable validation images were named */
  r50_model *model;
  r50_optimizer *opt;
  r50_schedule sched;
  r50_grad_sync sync;
  r50_output_lock lock;
  int made_dir;       /* rank 0: this run created RUN_DIR */
  int wrote_labels;   /* rank 0: this run wrote RUN_DIR/labels.txt */
  int wrote_input;    /* rank 0: this run wrote RUN_DIR/input.txt */
  int resuming;       /* --resume, with a checkpoint to continue (decide_resume) */
  r50_report *report; /* rank 0 */
  r50_loop_state st;
  int classes;
  int64_t last_eval; /* the iteration of the last evaluation (-1: none) */
  int64_t last_ckpt; /* the iteration of the last checkpoint this run wrote (-1: none) */
  int patience_out;  /* --patience validations in a row did not beat the best: stop */
  int64_t *order;    /* (train.n) this epoch's order */
  int64_t order_epoch;
  int64_t total_steps; /* 0: epochs decide */
  double total_epochs;
  float *x;          /* (batch, 3, crop, crop) compacted images */
  int32_t *labels;   /* (batch) */
  double start_s;    /* this run's start (r50_trainer_elapsed) */
  r50_progress pace; /* rank 0's log records and progress lines */
  double elapsed0;   /* seconds trained by the runs before this one (rank 0) */
  int64_t iter0;     /* the iteration this run started at (for its ETA) */
  /* since the last log record */
  double log_loss, log_n, log_correct;
  int64_t log_steps, skipped;
  double trained; /* images through a training step, all ranks, in this run */
} trainer;

/* Training seconds over every run so far: Chainer's elapsed_time (rank 0's clock). */
static inline double r50_trainer_elapsed(const trainer *t) {
  return t->elapsed0 + (r50_now_s() - t->start_s);
}

/* The producer's decode threads: a GPU rank's CPUs are free while its GPU trains (a CPU
 * rank's one decode thread keeps up with its own training steps). */
static inline int r50_trainer_decode_threads(const trainer *t) {
  return t->job->model.device == R50_DEVICE_CUDA ? t->job->model.threads : 1;
}

/* --val-every N: whether a validation is due at this iteration. */
static inline int r50_trainer_val_due(const trainer *t) {
  return t->job->val_every > 0 && t->st.iteration % t->job->val_every == 0;
}

/* Validates the model at this iteration (once: again at the same one does nothing),
 * every validation image exactly once over the ranks; rank 0 logs and records it and
 * keeps RUN_DIR/model_best.npz. A signal abandons it on every rank: no record, *stop
 * set, and the checkpoint still names the last validation that completed, so --resume
 * runs this one again. Collective. */
r50_status r50_trainer_validate(trainer *t, int *stop, r50_error *err);

/* Whether the checkpoint resumed from stands where a validation was due and none
 * completed (a signal abandoned it): --resume runs that one first. */
int r50_trainer_validation_owed(const trainer *t);

/* --patience: sets t->patience_out when that many validations in a row did not beat
 * the best (rank 0's count, broadcast). Collective. */
r50_status r50_trainer_patience(trainer *t, r50_error *err);

#endif

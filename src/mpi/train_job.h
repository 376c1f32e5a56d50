/*
 * train_job.h — `r50worker finetune` as an MPI job: data-parallel fine-tuning with
 * Chainer's semantics (MomentumSGD + WeightDecay, BatchNormalization in training
 * mode), validation, checkpoints and resume.
 *
 * Exit codes: 0 done, or stopped by SIGTERM/SIGUSR1 after a checkpoint (continue with
 * --resume: what SLURM requeue needs); 1 error; 2 usage; 130 stopped by SIGINT after a
 * checkpoint.
 */
#ifndef R50_TRAIN_JOB_H
#define R50_TRAIN_JOB_H

#include <stdint.h>

#include "dist.h"
#include "r50.h"

typedef struct r50_train_job {
  const char *train, *val, *root, *out;
  int classes;   /* 0: from the dataset */
  int epochs;    /* used when steps == 0 */
  int64_t steps; /* 0: epochs decide */
  int batch;     /* per rank */
  double lr, momentum, weight_decay, warmup_epochs;
  const char *schedule; /* step | cosine | const */
  int size, crop;
  int augment; /* 1: random crop + flip; 0: center crop */
  int shuffle;
  uint64_t seed;
  const char *freeze; /* NULL, or conv1 | res2 | res3 | res4 | res5 */
  int bn_frozen;
  r50_config model; /* arch, fb, pretrained, seed (init), threads */
  int resume;
  int log_every;            /* iterations between log records */
  int64_t checkpoint_every; /* iterations between checkpoints (0: at each epoch's end) */
  int64_t val_every;        /* iterations between validations (0: at each epoch's end) */
  int patience; /* validations in a row that do not beat the best top-1 before the run
                   stops (0: it never stops early) */
  int keep;     /* checkpoints kept */
  r50_decode_opts decode;
} r50_train_job;

/* Runs the job on every rank; returns the process exit code (the same on all ranks). */
int r50_train_job_run(const r50_dist *d, const r50_train_job *job);

#endif

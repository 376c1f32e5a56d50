/*
 * checkpoint.h — a training run's checkpoints in RUN_DIR/checkpoints/iter-NNNNNNNN/:
 * model.npz (Chainer's npz, loadable into a ResNet50Layers whose fc6 is
 * Linear(2048, K)), state.npz (the velocities and the loop's position) and DONE.
 *
 * Rule (llm.c): a checkpoint is written under a temporary name, every file synced,
 * DONE written last, then renamed into place; only a folder with DONE counts, so a
 * job killed while writing leaves the previous checkpoint the newest complete one.
 */
#ifndef R50_CHECKPOINT_H
#define R50_CHECKPOINT_H

#include <stdint.h>

#include "r50.h"

/* Where the training loop stands. */
typedef struct r50_loop_state {
  int64_t iteration;       /* steps done */
  int64_t epoch;           /* epochs done */
  int64_t position;        /* samples of the current epoch's order consumed */
  uint64_t seed;           /* of the orders and crops */
  int64_t world;           /* ranks that wrote it (informational) */
  double elapsed;          /* seconds trained until it, over every run: log.jsonl's
                              elapsed_time goes on across --resume, as Chainer's trainer's */
  char dataset_sha256[65]; /* the training set's rows (r50_dataset_digest); "" where a
                              checkpoint from before it was kept is read */
  int64_t images;          /* the training set's rows (0 likewise) */
  int64_t batch;           /* images a rank took a step (0: a checkpoint from before it
                              was kept) */
  int has_best;            /* a validation ran (0: none yet, or a checkpoint from before
                              the best was kept); then: */
  double best_accuracy; /* the best validation top-1 so far, RUN_DIR/model_best.npz's */
  int64_t best_epoch;   /* epochs and iterations done when it was measured */
  int64_t best_iteration;
  int64_t since_best;   /* validations after it that did not beat it (--patience) */
  int64_t validated_at; /* the iteration of the last validation that completed (-1:
                           none); read as `iteration` from a checkpoint kept before it
                           was, which was taken after every validation due */
  char val_sha256[65];  /* the validation set's rows it was measured on
                           (r50_dataset_digest); "" where unknown */
} r50_loop_state;

/* Writes a checkpoint of m, the optimizer's velocities and st; keeps the newest
 * `keep` complete checkpoints and removes the others (and any torn one). */
r50_status r50_checkpoint_write(const char *run_dir, r50_model *m, r50_optimizer *o,
                                const r50_loop_state *st, int keep, r50_error *err);

/* The newest complete checkpoint's folder into dir; R50_ERR_NOT_FOUND when none. */
r50_status r50_checkpoint_find(const char *run_dir, char *dir, size_t cap,
                               r50_error *err);

/* Loads a checkpoint folder into m (strict), the optimizer's velocities and st. */
r50_status r50_checkpoint_read(const char *dir, r50_model *m, r50_optimizer *o,
                               r50_loop_state *st, r50_error *err);

/* The loop state alone of a checkpoint folder (its state.npz), for `r50worker
 * status`: no model needed. */
r50_status r50_checkpoint_read_state(const char *dir, r50_loop_state *st, r50_error *err);

/* Read-only, for `r50worker status` while the run's job may be writing: *n gets how
 * many complete checkpoints run_dir holds, dir the newest one's folder ("" when none);
 * torn ones are left alone. */
r50_status r50_checkpoint_look(const char *run_dir, char *dir, size_t cap, int64_t *n,
                               r50_error *err);

#endif

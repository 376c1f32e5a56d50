/*
 * status_view.h — what `r50worker status` found about one PATH, gathered once
 * (cmd_status.c) and then printed as text for people or as one JSON line for programs
 * (status_json.c).
 */
#ifndef R50_STATUS_VIEW_H
#define R50_STATUS_VIEW_H

#include <stdint.h>

#include "checkpoint.h"
#include "output_lock.h"
#include "report.h"

#ifdef R50_HAVE_MPI
#include "h5summary.h"
#endif

#define STATUS_EXIT_INCOMPLETE 3 /* a PATH is running or stopped */

/* A feature file. state: "running", "complete", "stopped" or "being created" (its
 * lock held, the file not there yet: rank 0 is writing its structure). */
typedef struct file_view {
  const char *path, *state;
  r50_lock_info lock;
#ifdef R50_HAVE_MPI
  r50_store_summary sum; /* (not read while being created) */
#endif
  /* running, once its work began (the lock's note): rows a second since then, seconds
   * left at that pace, and seconds since it began; NaN when not known */
  double rate, eta, working;
} file_view;

/* A fine-tuning RUN_DIR. state: "running", "finished" or "stopped". */
typedef struct run_view {
  char dir[4096];    /* as given, less trailing slashes */
  char model[4200];  /* DIR/model.npz */
  char newest[4400]; /* the newest complete checkpoint's folder, "" when none */
  const char *state;
  r50_lock_info lock;
  int finished;        /* model.npz is there */
  int64_t checkpoints; /* complete ones */
  int state_read;      /* the newest checkpoint's loop state was read into loop */
  r50_loop_state loop;
  char state_error[1024]; /* why it could not be, when not */
  r50_report_tail tail;
  double rate, eta, working; /* iterations; as file_view's */
} run_view;

/* One JSON object on a line of stdout ("kind": "features", "run" or "error"). */
void status_json_file(const file_view *v);
void status_json_run(const run_view *v);
void status_json_error(const char *path, const char *message);

#endif

/*
 * output_lock.h — one job per output file: a lock file "<output>.lock" created with
 * O_EXCL beside the output, holding the holder's host, pid, process start time and
 * SLURM job id, kept fresh by a heartbeat.
 *
 * Rule: exclusive create works on the parallel and network file systems clusters use
 * (NFSv3+, Lustre, GPFS), where flock() often does not. A lock is stale — and taken
 * over, with a warning — when its holder is provably gone: on this host, no process
 * with that pid and start time; from a requeued SLURM job, the same job id (SLURM
 * never runs two instances of one job); from another host, no heartbeat for
 * R50_LOCK_STALE_SECONDS (default 600). Otherwise the second job is refused with a
 * message naming the holder.
 */
#ifndef R50_OUTPUT_LOCK_H
#define R50_OUTPUT_LOCK_H

#include <pthread.h>

#include "r50.h"

typedef struct r50_output_lock {
  char path[4200]; /* "<output>.lock" */
  int fd;          /* -1 when not held */
  pthread_t beat;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop, beating;
} r50_output_lock;

/* Takes the lock of `output`; R50_ERR_ARG "OUTPUT is being written by another
 * r50worker job (pid P on host H since T; lock L) ..." when a live job holds it. */
r50_status r50_output_lock_take(const char *output, r50_output_lock *l, r50_error *err);
/* What a lock file (an output's "<output>.lock", a run folder's run.lock) says, for
 * `r50worker status`, read without touching it and without waiting. */
typedef enum r50_lock_state {
  R50_LOCK_NONE,
  R50_LOCK_HELD,
  R50_LOCK_STALE
} r50_lock_state;
typedef struct r50_lock_info {
  r50_lock_state state; /* none; held (its holder may be alive); stale (the holder is
                           gone: no such process on this host, or no heartbeat from
                           another host) */
  char host[256], slurm_job[64];
  long pid;        /* 0 when the lock could not be parsed (being written, or torn) */
  long long since; /* when it was taken (Unix time) */
  double age;      /* seconds since its last heartbeat */
  char desc[600];  /* held: "pid P on host H, SLURM job J, since T, heartbeat S s ago";
                      stale: why it is */
  int has_work;    /* the holder noted its work's start (r50_output_lock_note_work): */
  long long work_done, work_total; /* units (rows, iterations) done then, of all */
  double work_began;               /* when (Unix time) */
} r50_lock_info;
void r50_lock_describe(const char *lock_path, r50_lock_info *li);

/* Notes in the lock, once set-up is over, that the holder's work begins now with
 * `done` of its `total` units (rows of a feature file, iterations of a run) done, so
 * that `r50worker status` can tell the pace since and the time left from how far the
 * output has got. Best effort: a lock that cannot be written to only loses the pace. */
void r50_output_lock_note_work(r50_output_lock *l, long long done, long long total);

/* Releases (removes the lock file); no-op when not held. */
void r50_output_lock_release(r50_output_lock *l);

#endif

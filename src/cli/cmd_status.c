/*
 * cmd_status.c — `r50worker status [--json] PATH...`: where a job's output stands,
 * read without changing it (safe while the job runs, from any node that sees the
 * files):
 *
 *   a feature file (extract, predict -o)  rows done, failed and pending; running (its
 *       lock's holder, heartbeat), complete, or stopped (--resume continues it); how
 *       it was made; its layers; the first failures' causes
 *   a fine-tuning RUN_DIR                  running, finished (model.npz) or stopped;
 *       the newest checkpoint's place; the last training and validation records
 *
 * Each PATH is gathered into a view (status_view.h), then printed as text, or with
 * --json as one JSON object a line (status_json.c).
 *
 * Exit code: 0 when every PATH is complete (a finished run), 3 when one is not yet
 * (running or stopped), 1 when one cannot be read; a script waits on it or resubmits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "error.h"
#include "options.h"
#include "r50.h"
#include "status_view.h"

/* "1,234,567" */
static const char *grouped(long long v, char *buf, size_t cap) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v), o = 0;
  if (v < 0 && o < (int)cap - 1)
    buf[o++] = '-';
  for (int i = 0; i < n && o < (int)cap - 1; i++) {
    if (i && (n - i) % 3 == 0 && o < (int)cap - 2)
      buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = 0;
  return buf;
}

/* The start of a line under a PATH's state line. */
static void label(const char *name) {
  printf("  %-10s ", name);
}

/* A PATH that cannot be read: the cause on stderr (and as a JSON line with --json). */
static void failed(const char *path, const char *msg, int json) {
  r50_log(R50_LOG_ERROR, "status: %s", msg);
  if (json)
    status_json_error(path, msg);
}

/* The state line's tail for a stopped output: its stale lock, if any. */
static void print_stale(const r50_lock_info *l) {
  if (l->state == R50_LOCK_STALE)
    printf(" (its lock is stale: %s; the next job takes it over)", l->desc);
  printf("\n");
}

/* A running job's pace from its lock's note of when its work began and how far it
 * had got then, and `now_done`, how far its output has got: units a second, seconds
 * left at that pace, seconds since the work began (each NaN when not known). */
static void pace(const r50_lock_info *l, long long now_done, double *rate, double *eta,
                 double *working) {
  *rate = *eta = *working = NAN;
  if (!l->has_work)
    return;
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  const double el = (double)t.tv_sec + 1e-9 * (double)t.tv_nsec - l->work_began;
  const long long did = now_done - l->work_done;
  if (el <= 0 || did < 0) /* (the clocks of two hosts may disagree) */
    return;
  *working = el;
  *rate = (double)did / el;
  if (*rate > 0)
    *eta = (double)(l->work_total > now_done ? l->work_total - now_done : 0) / *rate;
}

/* "45 s", "12 min", "3 h 05 min", "4.2 days" */
static const char *duration(double s, char *buf, size_t cap) {
  if (s < 90)
    snprintf(buf, cap, "%.0f s", s);
  else if (s < 90 * 60)
    snprintf(buf, cap, "%.0f min", s / 60);
  else if (s < 48 * 3600) {
    const long m = lround(s / 60);
    snprintf(buf, cap, "%ld h %02ld min", m / 60, m % 60);
  } else
    snprintf(buf, cap, "%.1f days", s / 86400);
  return buf;
}

/* The pace line of a running job (nothing when not known). */
static void print_pace(double rate, double eta, double working, const char *units) {
  if (isnan(working))
    return;
  char a[32], b[32];
  label("pace");
  if (rate > 0)
    printf("%.3g %s/s over the %s since its work began; about %s left\n", rate, units,
           duration(working, a, sizeof a), duration(eta, b, sizeof b));
  else
    printf("no %s done yet, %s after its work began\n", units,
           duration(working, a, sizeof a));
}

#ifdef R50_HAVE_MPI
/* Reads a feature file into v; 1 when it cannot be read (the cause in err), else 0. */
static int gather_file(const char *path, file_view *v, r50_error *err) {
  memset(v, 0, sizeof *v);
  v->path = path;
  v->rate = v->eta = v->working = NAN;
  char lock[4200];
  snprintf(lock, sizeof lock, "%s.lock", path);
  r50_lock_describe(lock, &v->lock);
  const int held = v->lock.state == R50_LOCK_HELD;
  struct stat st;
  if (stat(path, &st) != 0 && held) { /* rank 0 is writing its structure */
    v->state = "being created";
    return 0;
  }
  if (r50_store_summarize(path, &v->sum, err) != R50_OK)
    return 1;
  v->state = held ? "running" : v->sum.complete ? "complete" : "stopped";
  if (held)
    pace(&v->lock, v->sum.n_images - v->sum.pending, &v->rate, &v->eta, &v->working);
  return 0;
}

static void print_layers(const r50_store_summary *s) {
  label("layers");
  for (int l = 0; l < s->n_layers; l++) {
    printf("%s%s (", l ? "; " : "", s->layers[l]);
    for (int i = 0; i < s->ndim[l]; i++)
      printf(i ? ", %lld" : "%lld", (long long)s->shape[l][i]);
    printf(")");
  }
  printf(", %s\n", s->dtype);
}

/* The failed rows: the first causes, and those not written yet. */
static void print_failures(const file_view *v) {
  const r50_store_summary *s = &v->sum;
  char a[32];
  for (int64_t i = 0; i < s->n_first; i++) {
    label(i ? "" : "failed");
    printf("row %lld: %s\n", (long long)s->error_row[i], s->error_msg[i]);
  }
  if (s->n_errors > s->n_first) {
    label("");
    printf("(%s more: h5py's f[\"errors/row\"], f[\"errors/message\"] hold them all)\n",
           grouped(s->n_errors - s->n_first, a, sizeof a));
  }
  if (s->failed <= s->n_errors)
    return;
  const int64_t k = s->failed - s->n_errors; /* causes are written as a run ends */
  label("failed");
  if (v->lock.state == R50_LOCK_HELD)
    printf("%s row%s so far (causes are written when the run ends)\n",
           grouped(k, a, sizeof a), k == 1 ? "" : "s");
  else
    printf("%s row%s whose cause%s not written: the run stopped first (--resume tries "
           "%s again)\n",
           grouped(k, a, sizeof a), k == 1 ? "" : "s", k == 1 ? " was" : "s were",
           k == 1 ? "it" : "them");
}

static void print_file(const file_view *v) {
  if (!strcmp(v->state, "being created")) {
    printf("%s: being created by %s\n", v->path, v->lock.desc);
    return;
  }
  const r50_store_summary *s = &v->sum;
  char a[32], b[32], c[32], d[32];
  if (!strcmp(v->state, "running"))
    printf("%s: running, %s\n", v->path, v->lock.desc);
  else if (!strcmp(v->state, "complete"))
    printf("%s: complete\n", v->path);
  else {
    const int none_read = s->pending == 0 && s->done == 0 && s->failed > 0;
    printf("%s: %s", v->path,
           none_read ? "not complete: no image could be read (the failures below); the "
                       "command that made it, with --resume, tries them again"
                     : "stopped, not complete: the command that made it, with --resume, "
                       "continues it");
    print_stale(&v->lock);
  }
  const long long n = s->n_images;
  label("rows");
  printf("%s: %s done (%.1f%%), %s failed, %s pending\n", grouped(n, a, sizeof a),
         grouped(s->done, b, sizeof b), n ? 100.0 * (double)s->done / (double)n : 100.0,
         grouped(s->failed, c, sizeof c), grouped(s->pending, d, sizeof d));
  print_pace(v->rate, v->eta, v->working, "rows");
  char size[32] = "no resize";
  if (s->size[0])
    snprintf(size, sizeof size, "%dx%d", s->size[0], s->size[1]);
  label("made by");
  printf("%s, r50worker %s: ResNet-%d%s, %s, %s%s%s%s, max pixels %lld\n", s->command,
         s->version, s->arch, s->downsample_fb ? " (FB)" : "", s->precision, size,
         s->oversample ? ", 10 crops" : "", s->fast_decode ? ", fast decode" : "",
         s->exif_rotate ? ", EXIF rotation" : "", (long long)s->max_pixels);
  label("model");
  printf("%s (sha256 %.16s...)\n", s->model, s->model_sha256);
  print_layers(s);
  if (s->n_classes) {
    label("classes");
    printf("%s\n", grouped(s->n_classes, a, sizeof a));
  }
  if (s->accuracy_images > 0) {
    label("accuracy");
    printf("top-1 %.4f", s->top1);
    if (!isnan(s->top5))
      printf(", top-5 %.4f", s->top5);
    printf(" on %s labelled images%s%s%s\n", grouped(s->accuracy_images, a, sizeof a),
           s->accuracy_labels[0] ? " (classes matched by name through " : "",
           s->accuracy_labels, s->accuracy_labels[0] ? ")" : "");
  }
  print_failures(v);
}

static int feature_file(const char *path, int json) {
  file_view *v = malloc(sizeof *v);
  if (!v) {
    r50_log(R50_LOG_ERROR, "status: out of memory");
    return 1;
  }
  r50_error err = {0};
  int rc = gather_file(path, v, &err);
  if (rc)
    failed(path, err.msg, json);
  else if (json)
    status_json_file(v);
  else
    print_file(v);
  if (!rc)
    rc = !strcmp(v->state, "complete") ? 0 : STATUS_EXIT_INCOMPLETE;
  free(v);
  return rc;
}
#endif

/* Reads a run folder into v; 1 when it is none (the cause in err), else 0. */
static int gather_run(const char *given, run_view *v, r50_error *err) {
  memset(v, 0, sizeof *v);
  snprintf(v->dir, sizeof v->dir, "%s", given); /* "run/" as "run": run/model.npz */
  for (size_t n = strlen(v->dir); n > 1 && v->dir[n - 1] == '/';)
    v->dir[--n] = 0;
  char lock[4200];
  snprintf(lock, sizeof lock, "%s/run.lock", v->dir);
  snprintf(v->model, sizeof v->model, "%s/model.npz", v->dir);
  r50_lock_describe(lock, &v->lock);
  if (r50_checkpoint_look(v->dir, v->newest, sizeof v->newest, &v->checkpoints, err) !=
      R50_OK)
    return 1;
  const int has_log = r50_report_tail_read(v->dir, &v->tail);
  struct stat st;
  v->finished = stat(v->model, &st) == 0;
  const int held = v->lock.state == R50_LOCK_HELD;
  if (!held && !has_log && !v->checkpoints && !v->finished) {
    r50_fail(err, R50_ERR_NOT_FOUND,
             "%s is neither a feature file nor a fine-tuning run folder (no log.jsonl, "
             "checkpoint or model.npz in it)",
             v->dir);
    return 1;
  }
  if (v->checkpoints) {
    r50_error why = {0};
    v->state_read = r50_checkpoint_read_state(v->newest, &v->loop, &why) == R50_OK;
    if (!v->state_read)
      snprintf(v->state_error, sizeof v->state_error, "%s", why.msg);
  }
  v->state = held ? "running" : v->finished ? "finished" : "stopped";
  v->rate = v->eta = v->working = NAN;
  if (held) { /* how far it has got: its last log record, or its newest checkpoint */
    long long it = v->state_read ? (long long)v->loop.iteration : 0;
    if (v->tail.has_train && !isnan(v->tail.iteration) && v->tail.iteration > it)
      it = (long long)v->tail.iteration;
    pace(&v->lock, it, &v->rate, &v->eta, &v->working);
  }
  return 0;
}

/* A number of the log, or "-" when the record lacks it. */
static const char *num(double v, const char *fmt, char *buf, size_t cap) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, fmt, v);
  return buf;
}

static void print_run(const run_view *v) {
  char a[32], b[32], c[32], d[32], e[32];
  if (!strcmp(v->state, "running"))
    printf("%s: running, %s\n", v->dir, v->lock.desc);
  else if (v->finished)
    printf("%s: finished: %s\n", v->dir, v->model);
  else {
    printf("%s: stopped: the command that started it, with --resume, continues it",
           v->dir);
    print_stale(&v->lock);
  }
  print_pace(v->rate, v->eta, v->working, "iterations");
  label("checkpoint");
  const r50_loop_state *ls = &v->loop;
  if (v->state_read) {
    printf("%s (%lld kept): %s epoch%s and %s iteration%s done", v->newest,
           (long long)v->checkpoints, grouped(ls->epoch, a, sizeof a),
           ls->epoch == 1 ? "" : "s", grouped(ls->iteration, b, sizeof b),
           ls->iteration == 1 ? "" : "s");
    if (ls->position && ls->images)
      printf(", %s of the %s training images of the next",
             grouped(ls->position, c, sizeof c), grouped(ls->images, d, sizeof d));
    printf(", %.0f s trained\n", ls->elapsed);
  } else if (v->checkpoints) {
    printf("%s: unreadable: %s\n", v->newest, v->state_error);
  } else {
    printf("none yet\n");
  }
  const r50_report_tail *t = &v->tail;
  if (t->has_train) {
    label("training");
    printf("iteration %s: loss %s, accuracy %s, lr %s, %s s\n",
           num(t->iteration, "%.0f", a, sizeof a), num(t->loss, "%.4f", b, sizeof b),
           num(t->accuracy, "%.4f", c, sizeof c), num(t->lr, "%g", d, sizeof d),
           num(t->elapsed, "%.0f", e, sizeof e));
  }
  if (t->has_val) {
    label("validation");
    if (t->val_detail > t->val_epoch) /* inside an epoch (--val-every) */
      printf("at iteration %s (in epoch %.0f)",
             num(t->val_iteration, "%.0f", a, sizeof a), t->val_epoch + 1);
    else
      printf("after epoch %s", num(t->val_epoch, "%.0f", a, sizeof a));
    printf(": loss %s, top-1 %s, top-5 %s on %s images\n",
           num(t->val_loss, "%.4f", b, sizeof b), num(t->val_top1, "%.4f", c, sizeof c),
           num(t->val_top5, "%.4f", d, sizeof d), num(t->val_count, "%.0f", e, sizeof e));
  }
  if (v->state_read && ls->has_best) {
    label("best");
    printf("top-1 %.4f after epoch %s (iteration %s): %s/model_best.npz\n",
           ls->best_accuracy, grouped(ls->best_epoch, a, sizeof a),
           grouped(ls->best_iteration, b, sizeof b), v->dir);
  }
}

static int run_folder(const char *path, int json) {
  run_view *v = malloc(sizeof *v);
  if (!v) {
    r50_log(R50_LOG_ERROR, "status: out of memory");
    return 1;
  }
  r50_error err = {0};
  int rc = gather_run(path, v, &err);
  if (rc)
    failed(path, err.msg, json);
  else if (json)
    status_json_run(v);
  else
    print_run(v);
  if (!rc)
    rc = !strcmp(v->state, "finished") ? 0 : STATUS_EXIT_INCOMPLETE;
  free(v);
  return rc;
}

static int one(const char *path, int json) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return run_folder(path, json);
#ifdef R50_HAVE_MPI
  return feature_file(path, json);
#else
  char msg[4200];
  snprintf(msg, sizeof msg, "reading %s needs HDF5: this build has no MPI/HDF5", path);
  failed(path, msg, json);
  return 1;
#endif
}

int cli_status(int argc, char **argv) {
  int json = 0;
  const cli_opt opts[] = {{"json", CLI_FLAG, &json, NULL,
                           "one JSON object a line for each PATH (kind features, run "
                           "or error), for programs",
                           0, 0, NULL},
                          {0}};
  const cli_command cmd = {
      .name = "status",
      .summary =
          "Where each PATH stands — a feature file (extract, predict -o) or a "
          "fine-tuning RUN_DIR: running, complete or stopped, rows done, failed and "
          "pending, the first failures; read only, safe while the job runs. Exit code "
          "0: all complete; 3: one is running or stopped; 1: one cannot be read.",
      .usage = "[--json] PATH [PATH...]",
      .opts = opts,
      .min_pos = 1,
      .max_pos = 4000,
      .pos_keys = "path"};
  static const char *pos[4000];
  int npos, rc = cli_parse(&cmd, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  int worst = 0;
  for (int i = 0; i < npos; i++) {
    int r = one(pos[i], json);
    worst = r == 1 || worst == 1 ? 1 : r > worst ? r : worst;
  }
  return worst;
}

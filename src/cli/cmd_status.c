/*
 * cmd_status.c — `r50worker status PATH...`: where a job's output stands, read without
 * changing it (safe while the job runs, from any node that sees the files):
 *
 *   a feature file (extract, predict -o)  rows done, failed and pending; running (its
 *       lock's holder, heartbeat), complete, or stopped (--resume continues it); how
 *       it was made; its layers; the first failures' causes
 *   a fine-tuning RUN_DIR                  running, finished (model.npz) or stopped;
 *       the newest checkpoint's place; the last training and validation records
 *
 * Exit code: 0 when every PATH is complete (a finished run), 3 when one is not yet
 * (running or stopped), 1 when one cannot be read; a script waits on it or resubmits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli.h"
#include "options.h"
#include "output_lock.h"
#include "r50.h"
#include "report.h"

#ifdef R50_HAVE_MPI
#include "h5summary.h"
#endif

#define EXIT_INCOMPLETE 3

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

/* The state line's words for a lock beside an output, or NULL when it is not held. */
static const char *lock_words(const char *lock_path, char *desc, size_t cap, int *stale) {
  r50_lock_state ls = r50_lock_describe(lock_path, desc, cap);
  *stale = ls == R50_LOCK_STALE;
  return ls == R50_LOCK_HELD ? desc : NULL;
}

#ifdef R50_HAVE_MPI
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

static int feature_file(const char *path) {
  r50_store_summary *s = malloc(sizeof *s);
  r50_error err = {0};
  char lock[4200], desc[600], a[32], b[32], c[32], d[32];
  snprintf(lock, sizeof lock, "%s.lock", path);
  int stale;
  const char *holder = lock_words(lock, desc, sizeof desc, &stale);
  struct stat st;
  if (stat(path, &st) != 0 && holder) { /* rank 0 is writing its structure */
    printf("%s: being created by %s\n", path, holder);
    free(s);
    return EXIT_INCOMPLETE;
  }
  if (!s || r50_store_summarize(path, s, &err) != R50_OK) {
    r50_log(R50_LOG_ERROR, "status: %s", s ? err.msg : "out of memory");
    free(s);
    return 1;
  }
  const long long n = s->n_images;
  if (holder)
    printf("%s: running, %s\n", path, holder);
  else if (s->complete)
    printf("%s: complete\n", path);
  else
    printf("%s: stopped, not complete: the command that made it, with --resume, "
           "continues it%s%s%s\n",
           path, stale ? " (its lock is stale: " : "", stale ? desc : "",
           stale ? "; the next job takes it over)" : "");
  label("rows");
  printf("%s: %s done (%.1f%%), %s failed, %s pending\n", grouped(n, a, sizeof a),
         grouped(s->done, b, sizeof b), n ? 100.0 * (double)s->done / (double)n : 100.0,
         grouped(s->failed, c, sizeof c), grouped(s->pending, d, sizeof d));
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
    printf("%lld\n", (long long)s->n_classes);
  }
  for (int64_t i = 0; i < s->n_first; i++) {
    label(i ? "" : "failed");
    printf("row %lld: %s\n", (long long)s->error_row[i], s->error_msg[i]);
  }
  if (s->n_errors > s->n_first) {
    label("");
    printf("(%s more: h5py's f[\"errors/row\"], f[\"errors/message\"] hold them all)\n",
           grouped(s->n_errors - s->n_first, a, sizeof a));
  }
  if (s->failed > s->n_errors) { /* causes are written as a run ends */
    const int64_t k = s->failed - s->n_errors;
    label("failed");
    if (holder)
      printf("%s row%s so far (causes are written when the run ends)\n",
             grouped(k, a, sizeof a), k == 1 ? "" : "s");
    else
      printf("%s row%s whose cause%s not written: the run stopped first (--resume tries "
             "%s again)\n",
             grouped(k, a, sizeof a), k == 1 ? "" : "s", k == 1 ? " was" : "s were",
             k == 1 ? "it" : "them");
  }
  const int rc = s->complete && !holder ? 0 : EXIT_INCOMPLETE;
  free(s);
  return rc;
}
#endif

/* A number of the log, or "-" when the record lacks it. */
static const char *num(double v, const char *fmt, char *buf, size_t cap) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, fmt, v);
  return buf;
}

static int run_folder(const char *given) {
  char dir[4096]; /* "run/" as "run", so that its files read run/model.npz */
  snprintf(dir, sizeof dir, "%s", given);
  for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';)
    dir[--n] = 0;
  char lock[4200], desc[600], newest[4400], model[4200];
  char a[32], b[32], c[32], d[32], e[32], f[32];
  snprintf(lock, sizeof lock, "%s/run.lock", dir);
  snprintf(model, sizeof model, "%s/model.npz", dir);
  int stale;
  const char *holder = lock_words(lock, desc, sizeof desc, &stale);
  int64_t n_ckpt;
  r50_error err = {0};
  if (r50_checkpoint_look(dir, newest, sizeof newest, &n_ckpt, &err) != R50_OK) {
    r50_log(R50_LOG_ERROR, "status: %s", err.msg);
    return 1;
  }
  r50_report_tail t;
  const int has_log = r50_report_tail_read(dir, &t);
  struct stat st;
  const int finished = stat(model, &st) == 0;
  if (!holder && !has_log && !n_ckpt && !finished) {
    r50_log(R50_LOG_ERROR,
            "status: %s is neither a feature file nor a fine-tuning run folder (no "
            "log.jsonl, checkpoint or model.npz in it)",
            dir);
    return 1;
  }
  if (holder)
    printf("%s: running, %s\n", dir, holder);
  else if (finished)
    printf("%s: finished: %s\n", dir, model);
  else
    printf(
        "%s: stopped: the command that started it, with --resume, continues it%s%s%s\n",
        dir, stale ? " (its lock is stale: " : "", stale ? desc : "",
        stale ? "; the next job takes it over)" : "");
  r50_loop_state ls;
  if (n_ckpt && r50_checkpoint_read_state(newest, &ls, &err) == R50_OK) {
    label("checkpoint");
    printf("%s (%lld kept): %s epochs and %s iterations done", newest, (long long)n_ckpt,
           grouped(ls.epoch, a, sizeof a), grouped(ls.iteration, b, sizeof b));
    if (ls.position && ls.images)
      printf(", %s of the %s training images of the next",
             grouped(ls.position, c, sizeof c), grouped(ls.images, d, sizeof d));
    printf(", %.0f s trained\n", ls.elapsed);
  } else if (n_ckpt) {
    label("checkpoint");
    printf("%s: unreadable: %s\n", newest, err.msg);
  } else {
    label("checkpoint");
    printf("none yet\n");
  }
  if (t.has_train) {
    label("training");
    printf("iteration %s: loss %s, accuracy %s, lr %s, %s s\n",
           num(t.iteration, "%.0f", b, sizeof b), num(t.loss, "%.4f", c, sizeof c),
           num(t.accuracy, "%.4f", d, sizeof d), num(t.lr, "%g", e, sizeof e),
           num(t.elapsed, "%.0f", f, sizeof f));
  }
  if (t.has_val) {
    label("validation");
    printf("after epoch %s: loss %s, top-1 %s, top-5 %s on %s images\n",
           num(t.val_epoch, "%.0f", a, sizeof a), num(t.val_loss, "%.4f", b, sizeof b),
           num(t.val_top1, "%.4f", c, sizeof c), num(t.val_top5, "%.4f", d, sizeof d),
           num(t.val_count, "%.0f", e, sizeof e));
  }
  return finished && !holder ? 0 : EXIT_INCOMPLETE;
}

static int one(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return run_folder(path);
#ifdef R50_HAVE_MPI
  return feature_file(path);
#else
  r50_log(R50_LOG_ERROR, "status: reading %s needs HDF5: this build has no MPI/HDF5",
          path);
  return 1;
#endif
}

int cli_status(int argc, char **argv) {
  const cli_opt opts[] = {{0}};
  const cli_command cmd = {
      .name = "status",
      .summary =
          "Where each PATH stands — a feature file (extract, predict -o) or a "
          "fine-tuning RUN_DIR: running, complete or stopped, rows done, failed and "
          "pending, the first failures; read only, safe while the job runs. Exit code "
          "0: all complete; 3: one is running or stopped; 1: one cannot be read.",
      .usage = "PATH [PATH...]",
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
    int r = one(pos[i]);
    worst = r == 1 || worst == 1 ? 1 : r > worst ? r : worst;
  }
  return worst;
}

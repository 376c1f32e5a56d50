/*
 * status_json.c — `r50worker status --json`: one JSON object a line per PATH, for
 * dashboards and pipelines (jq, Python's json). Strings are UTF-8 (a name that is not
 * is escaped as the feature file escapes it, \xNN), numbers a record lacks are null,
 * and the training records keep Chainer's LogReport keys.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_view.h"
#include "utf8.h"

static void str(const char *s) {
  char *esc = r50_utf8_valid(s) ? NULL : r50_utf8_escaped_dup(s);
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)(esc ? esc : s); *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
  free(esc);
}

/* "key": "value" (value NULL: null), after a comma unless first. */
static void kstr(const char *key, const char *value, int first) {
  printf("%s\"%s\": ", first ? "" : ", ", key);
  if (value)
    str(value);
  else
    printf("null");
}

static void kint(const char *key, long long v) {
  printf(", \"%s\": %lld", key, v);
}

static void kbool(const char *key, int v) {
  printf(", \"%s\": %s", key, v ? "true" : "false");
}

/* A number of the log (NaN or infinite, as a record lacks or Python writes: null). */
static void knum(const char *key, double v, int first) {
  printf("%s\"%s\": ", first ? "" : ", ", key);
  if (isfinite(v))
    printf("%.9g", v);
  else
    printf("null");
}

static void lock(const r50_lock_info *l) {
  printf(", \"lock\": ");
  if (l->state == R50_LOCK_NONE) {
    printf("null");
    return;
  }
  printf("{");
  kstr("state", l->state == R50_LOCK_HELD ? "held" : "stale", 1);
  if (l->pid) {
    kstr("host", l->host, 0);
    kint("pid", l->pid);
    kstr("slurm_job", l->slurm_job[0] ? l->slurm_job : NULL, 0);
    kint("since", l->since);
  }
  knum("heartbeat_age", l->age, 0);
  kstr("about", l->desc, 0);
  printf("}");
}

void status_json_error(const char *path, const char *message) {
  printf("{");
  kstr("path", path, 1);
  kstr("kind", "error", 0);
  kstr("error", message, 0);
  printf("}\n");
  fflush(stdout);
}

#ifdef R50_HAVE_MPI
static void failures(const r50_store_summary *s) {
  kint("errors_total", s->n_errors);
  printf(", \"errors\": [");
  for (int64_t i = 0; i < s->n_first; i++) {
    printf("%s{\"row\": %lld", i ? ", " : "", (long long)s->error_row[i]);
    kstr("message", s->error_msg[i], 0);
    printf("}");
  }
  printf("]");
}

void status_json_file(const file_view *v) {
  printf("{");
  kstr("path", v->path, 1);
  kstr("kind", "features", 0);
  kstr("state", v->state, 0);
  lock(&v->lock);
  if (strcmp(v->state, "being created")) {
    const r50_store_summary *s = &v->sum;
    kint("rows", s->n_images);
    kint("done", s->done);
    kint("failed", s->failed);
    kint("pending", s->pending);
    knum("rate", v->rate, 0); /* rows a second since the running job's work began */
    knum("eta_s", v->eta, 0);
    kbool("complete", s->complete);
    kstr("command", s->command, 0);
    kstr("version", s->version, 0);
    kint("arch", s->arch);
    kbool("downsample_fb", s->downsample_fb);
    kstr("model", s->model, 0);
    kstr("model_sha256", s->model_sha256, 0);
    kstr("precision", s->precision, 0);
    printf(", \"size\": [%d, %d]", s->size[0], s->size[1]);
    kstr("dtype", s->dtype, 0);
    kbool("oversample", s->oversample);
    kbool("fast_decode", s->fast_decode);
    kbool("exif_rotate", s->exif_rotate);
    kint("max_pixels", s->max_pixels);
    kstr("dataset_sha256", s->dataset_sha256, 0);
    printf(", \"layers\": {");
    for (int l = 0; l < s->n_layers; l++) {
      printf("%s", l ? ", " : "");
      str(s->layers[l]);
      printf(": [");
      for (int i = 0; i < s->ndim[l]; i++)
        printf(i ? ", %lld" : "%lld", (long long)s->shape[l][i]);
      printf("]");
    }
    printf("}");
    kint("classes", s->n_classes);
    if (s->accuracy_images > 0) { /* predict's, where it kept one */
      printf(", \"accuracy\": {");
      knum("top1", s->top1, 1);
      knum("top5", s->top5, 0); /* (null: a model of 5 classes or fewer) */
      kint("images", s->accuracy_images);
      kstr("labels", s->accuracy_labels[0] ? s->accuracy_labels : NULL, 0);
      printf("}");
    }
    failures(s);
  }
  printf("}\n");
  fflush(stdout);
}
#endif

void status_json_run(const run_view *v) {
  printf("{");
  kstr("path", v->dir, 1);
  kstr("kind", "run", 0);
  kstr("state", v->state, 0);
  lock(&v->lock);
  kstr("model", v->finished ? v->model : NULL, 0);
  knum("rate", v->rate, 0); /* iterations a second since the running job's work began */
  knum("eta_s", v->eta, 0);
  kint("checkpoints", v->checkpoints);
  printf(", \"checkpoint\": ");
  if (v->checkpoints) {
    printf("{");
    kstr("path", v->newest, 1);
    if (v->state_read) {
      const r50_loop_state *l = &v->loop;
      kint("epoch", l->epoch);
      kint("iteration", l->iteration);
      kint("position", l->position);
      kint("train_images", l->images);
      knum("elapsed_time", l->elapsed, 0);
      printf(", \"best\": "); /* RUN_DIR/model_best.npz's validation */
      if (l->has_best) {
        printf("{");
        knum("validation/main/accuracy", l->best_accuracy, 1);
        kint("epoch", l->best_epoch);
        kint("iteration", l->best_iteration);
        printf("}");
      } else {
        printf("null");
      }
    } else {
      kstr("error", v->state_error, 0);
    }
    printf("}");
  } else {
    printf("null");
  }
  const r50_report_tail *t = &v->tail;
  printf(", \"training\": ");
  if (t->has_train) {
    printf("{");
    knum("epoch", t->epoch, 1);
    knum("iteration", t->iteration, 0);
    knum("main/loss", t->loss, 0);
    knum("main/accuracy", t->accuracy, 0);
    knum("lr", t->lr, 0);
    knum("elapsed_time", t->elapsed, 0);
    printf("}");
  } else {
    printf("null");
  }
  printf(", \"validation\": ");
  if (t->has_val) {
    printf("{");
    knum("epoch", t->val_epoch, 1);
    knum("epoch_detail", t->val_detail, 0);
    knum("iteration", t->val_iteration, 0);
    knum("validation/main/loss", t->val_loss, 0);
    knum("validation/main/accuracy", t->val_top1, 0);
    knum("validation/main/top5", t->val_top5, 0);
    knum("validation/main/count", t->val_count, 0);
    printf("}");
  } else {
    printf("null");
  }
  printf("}\n");
  fflush(stdout);
}

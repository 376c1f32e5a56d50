/*
 * train_job.c — the fine-tuning job on every rank (train_job.h).
 *
 * Rules:
 * - Every rank holds the same parameters at every step: rank 0's are broadcast at the
 *   start (copyparams), gradients are summed over ranks (grad_sync) after each rank
 *   scaled its loss by its share of the step's images, and every rank applies the same
 *   update. BN running averages are averaged over ranks after every step (their
 *   update is linear, so this equals averaging once at the end), so every rank holds
 *   the same ones and a checkpoint, wherever it falls, changes nothing: a stopped and
 *   resumed run equals an uninterrupted one bit for bit.
 * - The data order is a function of (seed, epoch) only, cut into global batches of
 *   batch x ranks; rank r takes its slice. Crops and flips are a function of (seed,
 *   epoch, row). A checkpoint stores (epoch, position, iteration), so a resumed run,
 *   on any number of ranks, continues where the stopped one was; on the same number
 *   it gives the same parameters bit for bit.
 * - Every step starts with one allreduce of counts and flags: an error or a stop
 *   request on any rank is known to all at the same step, and the job ends together.
 */
#include "train_job.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "error.h"
#include "fileio.h"
#include "grad_sync.h"
#include "output_lock.h"
#include "prefetch.h"
#include "resource_limits.h"
#ifdef R50_HAVE_CUDA
#include "device_cuda.h"
#endif
#include "job_signals.h"
#include "model.h"
#include "model_new.h"
#include "pretrained.h"
#include "report.h"
#include "rng.h"
#include "run_input.h"
#include "schedule.h"
#include "share_list.h"
#include "trainer.h"
#include "utf8.h"

/* ------------------------------------------------------------------ set-up */

/* A run already lives in RUN_DIR (a checkpoint, a final model or a log): a new run
 * there would overwrite it, so it is refused unless --resume continues it. */
static r50_status check_fresh_dir(const char *out, r50_error *err) {
  static const char *const used[] = {"checkpoints", "model.npz", "log.jsonl"};
  for (size_t i = 0; i < sizeof used / sizeof *used; i++) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", out, used[i]);
    if (lstat(path, &sb) == 0)
      return r50_fail(err, R50_ERR_ARG,
                      "%s already holds a run (%s): continue it with --resume, or choose "
                      "another --out",
                      out, used[i]);
  }
  return R50_OK;
}

/* RUN_DIR/labels.txt: "INDEX NAME" a line for an ImageFolder training set's classes,
 * what `predict --labels` reads; NAME as the HDF5 file names the class (UTF-8, \xNN
 * for bytes that are not) and escaped as predict's fields are (a backslash, tab or line
 * break: \\, \t, \n, \r), so the file is UTF-8 text and predict matches it to the
 * folders exactly. Written whole (r50_replace_file) by rank 0. A list file's classes
 * have no names: none. */
static r50_status write_labels(const r50_dataset *ds, const char *out, r50_error *err) {
  if (ds->n_classes == 0)
    return R50_OK;
  char path[4200], *text = NULL;
  size_t len = 0;
  snprintf(path, sizeof path, "%s/labels.txt", out);
  FILE *f = open_memstream(&text, &len);
  int ok = f != NULL;
  for (int c = 0; c < ds->n_classes && ok; c++) {
    char name[8200], *h5_name = r50_utf8_escaped_dup(ds->class_names[c]);
    if (h5_name)
      r50_escape_field(h5_name, name, sizeof name);
    ok = h5_name && fprintf(f, "%d %s\n", c, name) > 0;
    free(h5_name);
  }
  ok = (!f || fclose(f) == 0) && ok;
  r50_status s = ok ? r50_replace_file(path, text, len, err)
                    : r50_fail(err, R50_ERR_NOMEM, "out of memory writing %s", path);
  free(text);
  return s;
}

/* Two ImageFolder trees: the validation labels are the training tree's indices of the
 * same class names (a validation tree may lack a class; one the training tree lacks is
 * an error), never the positions of the validation tree's own sorted folders. */
static r50_status match_val_classes(trainer *t, r50_error *err) {
  const r50_dataset *tr = &t->train;
  r50_dataset *va = &t->val;
  if (tr->n_classes == 0 || va->n_classes == 0)
    return R50_OK;
  int *map = malloc((size_t)va->n_classes * sizeof *map);
  if (!map)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int c = 0; c < va->n_classes; c++) {
    map[c] = -1;
    for (int k = 0; k < tr->n_classes && map[c] < 0; k++)
      if (!strcmp(va->class_names[c], tr->class_names[k]))
        map[c] = k;
    if (map[c] < 0) {
      r50_status s = r50_fail(
          err, R50_ERR_ARG, "%s: class folder '%s' is not a class of the training set %s",
          r50_dataset_spec_name(t->job->val), va->class_names[c],
          r50_dataset_spec_name(t->job->train));
      free(map);
      return s;
    }
  }
  for (int64_t i = 0; i < va->n; i++)
    if (va->labels[i] >= 0)
      va->labels[i] = map[va->labels[i]];
  free(map);
  return R50_OK;
}

/* Classes of the training set that hold no image keep an fc6 output that only ever
 * learns to say no: an empty class folder or a gap in a list file's labels is most
 * likely a mistake, so rank 0 names them (not when --classes set the count). */
static void warn_empty_classes(const trainer *t, int k) {
  const r50_dataset *ds = &t->train;
  int64_t *count = calloc((size_t)k, sizeof *count);
  if (!count)
    return;
  for (int64_t i = 0; i < ds->n; i++)
    if (ds->labels[i] >= 0)
      count[ds->labels[i]]++;
  int empty = 0;
  char names[600] = "";
  size_t len = 0;
  for (int c = 0; c < k; c++) {
    if (count[c] || empty++ >= 5 || len >= sizeof names)
      continue;
    const char *sep = empty > 1 ? ", " : "";
    int w =
        c < ds->n_classes
            ? snprintf(names + len, sizeof names - len, "%s'%s'", sep, ds->class_names[c])
            : snprintf(names + len, sizeof names - len, "%slabel %d", sep, c);
    len += w > 0 ? (size_t)w : 0;
  }
  free(count);
  if (empty)
    r50_log(R50_LOG_WARN,
            "%s: %d of its %d classes %s no images (%s%s); fc6 keeps an output for %s, "
            "trained only to say no",
            r50_dataset_spec_name(t->job->train), empty, k, empty > 1 ? "have" : "has",
            names, empty > 5 ? ", ..." : "", empty > 1 ? "each" : "it");
}

enum { MAX_CLASSES = 1 << 20 }; /* as --classes */

/* fc6 of k outputs cannot be trained in the memory this process may use: its weights,
 * gradients and momentum alone (2048 + 1 floats an output, three times: what the
 * resident size grows by, measured) are more than all of it. Most likely the labels
 * are ids (a WordNet offset, a database key), not indices. */
static r50_status check_fc6_fits(const trainer *t, int k, int32_t maxl, r50_error *err) {
  /* CPU ranks of one node share its memory (and a SLURM job's cgroup limit) */
  const int ranks = t->job->model.device == R50_DEVICE_CUDA ? 1 : t->d->local_size;
  const double need = 3.0 * k * (2048 + 1) * sizeof(float) * ranks;
  const double have = r50_memory_limit_bytes();
  if (have <= 0 || need <= have)
    return R50_OK;
  char why[64] = "", each[64] = "";
  if (t->job->classes <= 0 && t->train.n_classes == 0)
    snprintf(why, sizeof why, " (its largest label is %d)", maxl);
  if (ranks > 1)
    snprintf(each, sizeof each, " for the %d ranks on this node", ranks);
  return r50_fail(
      err, R50_ERR_ARG,
      "%s: %d classes%s: fc6's weights, gradients and momentum alone would "
      "need %.1f GiB%s, more than the %.1f GiB this node has for the job. Labels "
      "are class indices 0..K-1: renumber ids to them",
      r50_dataset_spec_name(t->job->train), k, why, need / (1 << 30), each,
      have / (1 << 30));
}

/* The class count: --classes, else the dataset's (ImageFolder), else max label + 1;
 * every label must be below it. */
static r50_status count_classes(trainer *t, r50_error *err) {
  const r50_dataset *ds = &t->train;
  int k = t->job->classes;
  int32_t maxl = -1;
  int64_t at = -1;
  for (int64_t i = 0; i < ds->n; i++)
    if (ds->labels[i] > maxl)
      maxl = ds->labels[i], at = i;
  if (k <= 0 && ds->n_classes == 0 && maxl >= MAX_CLASSES)
    return r50_fail(err, R50_ERR_ARG,
                    "%s: row %lld (%s) has label %d: labels are class indices 0..K-1, K "
                    "at most %d (renumber ids to them)",
                    r50_dataset_spec_name(t->job->train), (long long)at,
                    r50_dataset_name(ds, at), maxl, MAX_CLASSES);
  if (k <= 0)
    k = ds->n_classes > 0 ? ds->n_classes : maxl + 1;
  if (k <= 0)
    return r50_fail(
        err, R50_ERR_FORMAT,
        "%s has no labels: fine-tuning needs class subfolders or 'path label' "
        "lines",
        r50_dataset_spec_name(t->job->train));
  if (k == 1) /* softmax over one class: the loss is 0 and nothing is learnt */
    return ds->n_classes == 1
               ? r50_fail(err, R50_ERR_FORMAT,
                          "%s holds one folder, '%s', taken as its only class: a "
                          "classifier needs two or more. Point TRAIN at the folder that "
                          "holds the class folders",
                          r50_dataset_spec_name(t->job->train), ds->class_names[0])
               : r50_fail(err, R50_ERR_FORMAT,
                          "%s: one class (every label is 0%s): a classifier needs two or "
                          "more",
                          r50_dataset_spec_name(t->job->train),
                          t->job->classes == 1 ? ", --classes 1" : "");
  R50_TRY(check_fc6_fits(t, k, maxl, err));
  if (t->have_val) {
    int64_t labelled = 0;
    for (int64_t i = 0; i < t->val.n && !labelled; i++)
      labelled = t->val.labels[i] >= 0;
    if (t->val.n == 0)
      return r50_fail(err, R50_ERR_NOT_FOUND, "no images in --val %s",
                      r50_dataset_spec_name(t->job->val));
    if (!labelled)
      return r50_fail(err, R50_ERR_FORMAT,
                      "--val %s has no labels: validation needs class subfolders or "
                      "'path label' lines",
                      r50_dataset_spec_name(t->job->val));
    R50_TRY(match_val_classes(t, err));
  }
  for (int pass = 0; pass < 1 + t->have_val; pass++) {
    const r50_dataset *s = pass ? &t->val : ds;
    for (int64_t i = 0; i < s->n; i++)
      if (s->labels[i] >= k)
        return r50_fail(
            err, R50_ERR_ARG,
            "%s: row %lld (%s) has label %d, but there are %d classes (--classes)",
            pass ? r50_dataset_spec_name(t->job->val)
                 : r50_dataset_spec_name(t->job->train),
            (long long)i, r50_dataset_name(s, i), s->labels[i], k);
  }
  t->classes = k;
  if (t->job->classes <= 0 && t->d->rank == 0)
    warn_empty_classes(t, k);
  return R50_OK;
}

/* conv1 and bn1, then res2..res5: --freeze LAYER disables the update of all up to it. */
static r50_status freeze(trainer *t, r50_error *err) {
  const char *layer = t->job->freeze;
  if (!layer)
    return R50_OK;
  static const char *const order[] = {"conv1", "res2", "res3", "res4", "res5"};
  int upto = -1;
  for (int i = 0; i < 5; i++)
    if (!strcmp(order[i], layer))
      upto = i;
  if (upto < 0)
    return r50_fail(err, R50_ERR_ARG, "--freeze %s: want conv1, res2, res3, res4 or res5",
                    layer);
  r50_disable_update(t->model, "conv1");
  r50_disable_update(t->model, "bn1");
  for (int i = 1; i <= upto; i++)
    r50_disable_update(t->model, order[i]);
  if (t->d->rank == 0)
    r50_log(R50_LOG_INFO, "--freeze %s: conv1 to %s are not updated", layer, layer);
  return R50_OK;
}

static r50_status broadcast_model(trainer *t, r50_error *err) {
  int64_t np, nq;
  float *p = r50_params_slab(t->model, &np), *q = r50_persistent_slab(t->model, &nq);
  for (int64_t off = 0; off < np; off += 1 << 28)
    R50_MPI_CHECK(t->d,
                  MPI_Bcast(p + off, (int)(np - off < (1 << 28) ? np - off : 1 << 28),
                            MPI_FLOAT, 0, t->d->comm),
                  err);
  R50_MPI_CHECK(t->d, MPI_Bcast(q, (int)nq, MPI_FLOAT, 0, t->d->comm), err);
  return r50_params_changed(t->model, err);
}

static r50_status make_model(trainer *t, r50_error *err) {
  const r50_train_job *j = t->job;
  r50_config cfg = j->model;
  cfg.n_classes = t->classes;
  r50_dist_pick_gpu(t->d, &cfg);
  const char *pretrained = cfg.pretrained;
  cfg.pretrained = NULL;
  /* Random parameters only where no file fills them: the pretrained model (fc6 drawn
   * alone where the file's has another class count), or the checkpoint --resume
   * continues (rank 0 reads it and broadcasts it). */
  t->model = pretrained || t->resuming ? r50_model_new_unfilled(&cfg, err)
                                       : r50_model_new(&cfg, err);
  if (!t->model)
    return err->status;
  if (pretrained && !t->resuming) {
    int fc6_loaded = 1;
    R50_TRY(r50_load_pretrained(t->model, pretrained, 1, &fc6_loaded, err));
    if (!fc6_loaded) {
      r50_init_random_fc(t->model, cfg.seed);
      r50_model_touch(t->model);
    }
    if (!fc6_loaded && t->d->rank == 0)
      r50_log(R50_LOG_INFO,
              "%s: its fc6 has another class count; fc6 is a new %d-class "
              "Linear (LeCunNormal, seed %llu)",
              pretrained, t->classes, (unsigned long long)cfg.seed);
  }
  R50_TRY(freeze(t, err));
  t->opt = r50_momentum_sgd_new(t->model, j->lr, j->momentum, j->weight_decay, err);
  if (!t->opt)
    return err->status;
  R50_TRY(r50_cleargrads(t->model, err));
  int64_t n;
  float *g = r50_grads_slab(t->model, &n);
  r50_grad_sync_init(&t->sync, t->d, g, n, (int64_t)1 << 22); /* 16 MiB buckets */
  return R50_OK;
}

/* --resume on a training set that changed since checkpoint `dir` (images added,
 * removed or relabelled): at an epoch's end the next epoch simply runs on the new set,
 * with a warning; in the middle of an epoch the position in its order would point at
 * other images, so that is refused. Keeps the new set's digest in t->st. */
static r50_status same_training_set(trainer *t, const char *dir,
                                    const r50_loop_state *now, r50_error *err) {
  r50_loop_state *st = &t->st;
  if (*st->dataset_sha256 && strcmp(st->dataset_sha256, now->dataset_sha256)) {
    char what[96];
    if (st->images != now->images)
      snprintf(what, sizeof what, "%lld images then, %lld now", (long long)st->images,
               (long long)now->images);
    else
      snprintf(what, sizeof what, "%lld images, other paths or labels",
               (long long)now->images);
    if (st->position != 0)
      return r50_fail(err, R50_ERR_MISMATCH,
                      "--resume: %s changed since %s (%s), which was taken %lld images "
                      "into epoch %lld: resuming would skip or repeat images. Restore "
                      "the training set, or start a new run from that checkpoint's "
                      "weights (--model %s/model.npz --out NEW_DIR)",
                      r50_dataset_spec_name(t->job->train), dir, what,
                      (long long)st->position, (long long)st->epoch + 1, dir);
    r50_log(R50_LOG_WARN,
            "--resume: %s changed since %s (%s); it was taken at the end of epoch %lld, "
            "so epoch %lld runs on the training set as it is now",
            r50_dataset_spec_name(t->job->train), dir, what, (long long)st->epoch,
            (long long)st->epoch + 1);
  }
  memcpy(st->dataset_sha256, now->dataset_sha256, sizeof st->dataset_sha256);
  st->images = now->images;
  return R50_OK;
}

/* --patience: whether the validations since the best (rank 0's count) have run out; every
 * rank learns it, and finished() ends the run. */
/* --resume with a validation set other than the one the checkpoint's best top-1 was
 * measured on (--val changed, or its folder did): that figure compares with nothing
 * now, so the best starts anew. Keeps the set's digest in t->st. */
static void same_validation_set(trainer *t, const char *dir, const r50_loop_state *now) {
  r50_loop_state *st = &t->st;
  if (st->has_best && t->have_val && *st->val_sha256 &&
      strcmp(st->val_sha256, now->val_sha256)) {
    r50_log(R50_LOG_WARN,
            "--resume: %s is not the validation set of %s's best top-1 (%.4f at "
            "iteration %lld): the best starts anew, and the next validation replaces "
            "%s/model_best.npz",
            r50_dataset_spec_name(t->job->val), dir, st->best_accuracy,
            (long long)st->best_iteration, t->job->out);
    st->has_best = 0;
  }
  if (t->have_val) /* (without --val now, the set of the best stays named) */
    memcpy(st->val_sha256, now->val_sha256, sizeof st->val_sha256);
}

/* --resume: rank 0 reads the newest complete checkpoint; all ranks get its state. */
static r50_status resume(trainer *t, r50_error *err) {
  char dir[4400] = "";
  r50_status s = R50_OK;
  if (t->d->rank == 0) {
    const r50_loop_state now = t->st;
    s = r50_checkpoint_find(t->job->out, dir, sizeof dir, err);
    if (s == R50_OK)
      s = r50_checkpoint_read(dir, t->model, t->opt, &t->st, err);
    if (s == R50_OK)
      s = same_training_set(t, dir, &now, err);
    if (s == R50_OK)
      same_validation_set(t, dir, &now);
    const int64_t was = t->st.batch * t->st.world,
                  is = (int64_t)t->job->batch * t->d->size;
    if (s == R50_OK && t->st.batch > 0 && was != is)
      r50_log(R50_LOG_WARN,
              "--resume: %s was taken at %lld images a step (--batch %lld x %lld "
              "rank%s); this run takes %lld (--batch %d x %d rank%s): it goes on from "
              "the same image, but its steps are not those the stopped run would have "
              "taken (keep --batch x ranks for that)",
              dir, (long long)was, (long long)t->st.batch, (long long)t->st.world,
              t->st.world == 1 ? "" : "s", (long long)is, t->job->batch, t->d->size,
              t->d->size == 1 ? "" : "s");
    t->elapsed0 = t->st.elapsed;
  }
  R50_TRY(r50_dist_agree(t->d, s, err));
  int64_t v[5] = {t->st.iteration, t->st.epoch, t->st.position, (int64_t)t->st.seed,
                  t->st.validated_at};
  R50_MPI_CHECK(t->d, MPI_Bcast(v, 5, MPI_INT64_T, 0, t->d->comm), err);
  t->last_eval = v[4]; /* not validated again at the checkpoint's iteration */
  t->last_ckpt = v[0]; /* nor checkpointed */
  t->st.iteration = v[0], t->st.epoch = v[1], t->st.position = v[2],
  t->st.seed = (uint64_t)v[3];
  int64_t n;
  float *vel = r50_optimizer_state(t->opt, &n);
  R50_MPI_CHECK(t->d, MPI_Bcast(vel, (int)n, MPI_FLOAT, 0, t->d->comm), err);
  if (t->d->rank == 0)
    r50_log(R50_LOG_INFO,
            "--resume: %s (iteration %lld, epoch %lld, %lld images into it)", dir,
            (long long)t->st.iteration, (long long)t->st.epoch,
            (long long)t->st.position);
  return R50_OK;
}

/* The step's input: page-locked for a GPU rank, whose copies to the device it feeds. */
static void *host_alloc(const trainer *t, size_t bytes) {
#ifdef R50_HAVE_CUDA
  if (t->job->model.device == R50_DEVICE_CUDA)
    return r50_cuda_host_alloc(bytes);
#else
  (void)t;
#endif
  return malloc(bytes);
}

static void host_free(const trainer *t, void *p) {
#ifdef R50_HAVE_CUDA
  if (t->job->model.device == R50_DEVICE_CUDA) {
    r50_cuda_host_free(p);
    return;
  }
#else
  (void)t;
#endif
  free(p);
}

/* --resume with nothing to continue — no complete checkpoint and no final model: a
 * requeued job whose first attempt ended before its first checkpoint, or a RUN_DIR not
 * made yet — starts from the beginning, as extract --resume of a file not there does.
 * A final model without a checkpoint is not overwritten: resume() refuses it. */
static r50_status decide_resume(trainer *t, r50_error *err) {
  int go = 0;
  if (t->d->rank == 0) {
    char dir[4400], model[4200];
    r50_error none = {0};
    struct stat sb;
    snprintf(model, sizeof model, "%s/model.npz", t->job->out);
    go = r50_checkpoint_find(t->job->out, dir, sizeof dir, &none) == R50_OK ||
         lstat(model, &sb) == 0;
  }
  R50_MPI_CHECK(t->d, MPI_Bcast(&go, 1, MPI_INT, 0, t->d->comm), err);
  t->resuming = go;
  if (!go && t->d->rank == 0)
    r50_log(R50_LOG_WARN,
            "--resume: no complete checkpoint in %s/checkpoints: starting from the "
            "beginning%s",
            t->job->out, t->made_dir ? "" : " (log.jsonl starts again)");
  return R50_OK;
}

static r50_status setup(trainer *t, r50_error *err) {
  const r50_train_job *j = t->job;
  char lockname[4200];
  snprintf(lockname, sizeof lockname, "%s/run", j->out);
  r50_status s = R50_OK;
  struct stat sb;
  t->made_dir = t->d->rank == 0 && stat(j->out, &sb) != 0 && errno == ENOENT;
  if (t->d->rank == 0 && (s = r50_mkdir_p(j->out, err)) == R50_OK)
    s = r50_output_lock_take(lockname, &t->lock, err);
  if (s == R50_OK && t->d->rank == 0 && !j->resume)
    s = check_fresh_dir(j->out, err);
  R50_TRY(r50_dist_agree(t->d, s, err));
  if (j->resume)
    R50_TRY(decide_resume(t, err));
  R50_TRY(r50_dataset_share(t->d, &j->train, 1, j->root, 0, &t->train, err));
  if (j->val) {
    /* writable: its labels are mapped to the training set's classes */
    R50_TRY(r50_dataset_share(t->d, &j->val, 1, j->root, 1, &t->val, err));
    t->have_val = 1;
  }
  if (t->train.n == 0)
    return r50_fail(err, R50_ERR_NOT_FOUND, "no images in %s",
                    r50_dataset_spec_name(j->train));
  R50_TRY(r50_dist_agree(t->d, count_classes(t, err), err));
  if (t->d->rank == 0 && (s = write_labels(&t->train, j->out, err)) == R50_OK)
    t->wrote_labels = t->train.n_classes > 0;
  if (t->d->rank == 0 && s == R50_OK &&
      (s = r50_run_input_write(j->out, j->size, j->crop, err)) == R50_OK)
    t->wrote_input = 1;
  R50_TRY(r50_dist_agree(t->d, s, err));
  R50_TRY(r50_dist_agree(t->d, make_model(t, err), err));
  R50_TRY(r50_dist_same_precision(t->d, t->model, err));
  R50_TRY(r50_grad_sync_attach(&t->sync, t->model, err));
  t->st = (r50_loop_state){
      .seed = j->seed, .world = t->d->size, .images = t->train.n, .batch = j->batch};
  if (t->d->rank == 0) /* (only rank 0 writes and reads checkpoints) */
    r50_dataset_digest(&t->train, t->st.dataset_sha256);
  if (t->d->rank == 0 && t->have_val) /* (its labels mapped to the training classes) */
    r50_dataset_digest(&t->val, t->st.val_sha256);
  if (t->resuming) {
    R50_TRY(resume(t, err));
    R50_TRY(r50_trainer_patience(t, err)); /* a run that stopped early stays stopped */
  }
  R50_TRY(broadcast_model(t, err));
  const double per_epoch = (double)t->train.n;
  t->total_steps = j->steps;
  t->total_epochs = j->steps > 0 ? (double)j->steps * j->batch * t->d->size / per_epoch
                                 : (double)j->epochs;
  t->sched = (r50_schedule){(r50_schedule_kind)r50_schedule_parse(j->schedule), j->lr,
                            j->warmup_epochs, t->total_epochs};
  if (t->d->rank == 0 && j->warmup_epochs >= t->total_epochs)
    r50_log(R50_LOG_WARN,
            "--warmup-epochs %g covers the whole run (%g epochs): the learning rate "
            "never reaches --lr %g (it ends at %.3g)",
            j->warmup_epochs, t->total_epochs, j->lr,
            r50_schedule_lr(&t->sched, t->total_epochs));
  t->order = malloc((size_t)t->train.n * sizeof *t->order);
  t->x = host_alloc(t, (size_t)j->batch * 3 * j->crop * j->crop * sizeof *t->x);
  t->labels = malloc((size_t)j->batch * sizeof *t->labels);
  t->order_epoch = -1;
  s = t->order && t->x && t->labels ? R50_OK
                                    : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  if (s == R50_OK && t->d->rank == 0)
    s = r50_report_open(j->out, t->resuming, t->st.iteration, &t->report, err);
  return r50_dist_agree(t->d, s, err);
}

/* ------------------------------------------------------------------ data order */

static void make_order(trainer *t, int64_t epoch) {
  if (t->order_epoch == epoch)
    return;
  const int64_t n = t->train.n;
  for (int64_t i = 0; i < n; i++)
    t->order[i] = i;
  if (t->job->shuffle) { /* Fisher-Yates from (seed, epoch) */
    r50_rng r;
    r50_rng_seed(&r, t->st.seed * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(epoch + 1));
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t k = (int64_t)(r50_rng_next(&r) % (uint64_t)(i + 1));
      int64_t tmp = t->order[i];
      t->order[i] = t->order[k];
      t->order[k] = tmp;
    }
  }
  t->order_epoch = epoch;
}

/* This rank's rows of the global batch at `position` of the epoch's order. */
static int my_rows(const trainer *t, int64_t position, int64_t *rows) {
  const int64_t b = t->job->batch, first = position + (int64_t)t->d->rank * b;
  int n = 0;
  for (int64_t i = first; i < first + b && i < t->train.n; i++)
    rows[n++] = t->order[i];
  return n;
}

static r50_status checkpoint(trainer *t, r50_error *err) {
  t->st.validated_at = t->last_eval;
  t->st.world = t->d->size;
  t->st.batch = t->job->batch;
  t->st.elapsed = r50_trainer_elapsed(t);
  r50_status s = t->d->rank == 0 ? r50_checkpoint_write(t->job->out, t->model, t->opt,
                                                        &t->st, t->job->keep, err)
                                 : R50_OK;
  if (s != R50_OK) { /* what is kept, and how to go on */
    char cause[sizeof err->msg], kept[4400];
    r50_error none = {0};
    snprintf(cause, sizeof cause, "%s", err->msg);
    if (r50_checkpoint_find(t->job->out, kept, sizeof kept, &none) == R50_OK)
      r50_fail(err, s,
               "the checkpoint of iteration %lld was not written (%s); the newest "
               "complete one, %s, is kept: once the cause is fixed, --resume continues "
               "from it",
               (long long)t->st.iteration, cause, kept);
    else
      r50_fail(err, s, "the checkpoint of iteration %lld was not written (%s)",
               (long long)t->st.iteration, cause);
  }
  R50_TRY(r50_dist_agree(t->d, s, err));
  t->last_ckpt = t->st.iteration;
  if (t->d->rank == 0)
    r50_log(R50_LOG_INFO, "checkpoint at iteration %lld in %s/checkpoints",
            (long long)t->st.iteration, t->job->out);
  return R50_OK;
}

/* ------------------------------------------------------------------ the loop */

/* The iterations the whole run takes (an epoch's last step may be a partial one). */
static double total_iterations(const trainer *t) {
  const int64_t global = (int64_t)t->job->batch * t->d->size;
  return t->total_steps > 0
             ? (double)t->total_steps
             : t->total_epochs * (double)((t->train.n + global - 1) / global);
}

/* A log record and a progress line for the iterations since the last one; `epoch`
 * is the one they belong to (0-based). */
static void progress(trainer *t, int64_t epoch, double lr, int force) {
  if (t->d->rank != 0 || !t->log_steps)
    return;
  const double since = r50_now_s() - t->pace.last_s; /* the records' span */
  if (!r50_progress_due(&t->pace, force || t->log_steps >= t->job->log_every))
    return;
  const double now = t->pace.last_s;
  const double loss = t->log_n > 0 ? t->log_loss / t->log_n : 0;
  const double acc = t->log_n > 0 ? t->log_correct / t->log_n : 0;
  r50_report_iteration(t->report, epoch, (double)t->st.position / (double)t->train.n,
                       t->st.iteration, loss, acc, lr, t->elapsed0 + (now - t->start_s));
  const double el = now - t->start_s, done = (double)t->st.iteration,
               done_here = (double)(t->st.iteration - t->iter0);
  const double total = total_iterations(t);
  char line[256];
  snprintf(line, sizeof line,
           "epoch %lld iter %lld/%.0f loss %.4f acc %.4f lr %.4g %.1f img/s ETA %.0fs",
           (long long)epoch + 1, (long long)t->st.iteration, total, loss, acc, lr,
           since > 0 ? t->log_n / since : 0,
           done_here > 0 && total > done ? el / done_here * (total - done) : 0);
  r50_progress_show(&t->pace, line, force); /* (kept on a terminal: an epoch's end) */
  t->log_loss = t->log_n = t->log_correct = 0;
  t->log_steps = 0;
}

/* One training step at the loop's position; *stop when any rank asked to stop. */
static r50_status step(trainer *t, r50_prefetch *p, int have_batch, int *stop,
                       r50_error *err) {
  const r50_train_job *j = t->job;
  const size_t per = (size_t)3 * j->crop * j->crop;
  int k = 0, failed = 0;
  r50_status s = R50_OK;
  if (have_batch) {
    r50_batch *b = r50_prefetch_pop(p);
    R50_ASSERT(b != NULL);
    for (int i = 0; i < b->n; i++) {
      if (b->status[i] != 1) {
        r50_log(R50_LOG_WARN, "skipped: %s", b->errors[i]);
        failed++;
        continue;
      }
      memcpy(t->x + (size_t)k * per, b->x + (size_t)i * per, per * sizeof(float));
      t->labels[k++] = t->train.labels[b->rows[i]];
    }
    r50_prefetch_release(p, b);
  }
  R50_TRY(r50_cleargrads(t->model, err));
  r50_step_result res = {0, 0, 0};
  if (k > 0) {
    r50_tensor x = {t->x, 4, {k, 3, j->crop, j->crop}, 0};
    s = r50_forward_train(t->model, &x, t->labels,
                          j->bn_frozen ? R50_BN_FROZEN : R50_BN_TRAIN, &res, err);
    if (s == R50_ERR_INTERRUPTED)
      s = R50_OK, res.counted = 0, k = 0;
  }
  /* counts and flags of every rank: the step's images, the stop and error requests */
  double v[6] = {(double)res.counted, res.loss * (double)res.counted, (double)res.correct,
                 (double)failed,      r50_job_signal() ? 1 : 0,       s != R50_OK};
  R50_MPI_CHECK(t->d, MPI_Allreduce(MPI_IN_PLACE, v, 6, MPI_DOUBLE, MPI_SUM, t->d->comm),
                err);
  if (v[5] > 0)
    return r50_dist_agree(t->d, s, err);
  if (v[0] > 0 && !isfinite(v[1])) /* every rank sees the same sums: all stop here */
    return r50_fail(
        err, R50_ERR_FORMAT,
        "iteration %lld: the loss is %s: training diverged (try a lower --lr, or "
        "warm-up with --warmup-epochs); the checkpoints in %s/checkpoints are "
        "kept as they were",
        (long long)t->st.iteration + 1, isnan(v[1]) ? "NaN" : "infinite", j->out);
  *stop = v[4] > 0;
  t->skipped += (int64_t)v[3];
  if (v[0] > 0) {
    r50_grad_sync_begin(&t->sync);
    if (res.counted > 0)
      s = r50_backward(t->model, (double)res.counted / v[0], r50_grad_sync_ready,
                       &t->sync, err);
    R50_TRY(r50_dist_agree(t->d, s, err));
    R50_TRY(r50_grad_sync_end(&t->sync, err));
    const double progress = ((double)t->st.epoch * t->train.n + t->st.position +
                             (double)j->batch * t->d->size) /
                            (double)t->train.n;
    const double lr = r50_schedule_lr(&t->sched, progress);
    r50_optimizer_set_lr(t->opt, lr);
    R50_TRY(r50_optimizer_update(t->opt, err));
    if (!j->bn_frozen)
      R50_TRY(r50_grad_sync_average_persistent(&t->sync, err));
    t->log_loss += v[1], t->log_n += v[0], t->log_correct += v[2];
    t->trained += v[0];
  }
  t->log_steps++;
  t->st.iteration++;
  t->st.position += (int64_t)j->batch * t->d->size;
  return R50_OK;
}

/* Whether --checkpoint-every N asks for a checkpoint at this iteration. */
static int due(const trainer *t) {
  return t->job->checkpoint_every > 0 && t->st.iteration % t->job->checkpoint_every == 0;
}

static int finished(const trainer *t) {
  return t->patience_out || (t->total_steps > 0 ? t->st.iteration >= t->total_steps
                                                : t->st.epoch >= t->job->epochs);
}

/* The epoch from the loop's position on: steps until the epoch ends, the run is done,
 * or a stop request. */
static r50_status run_epoch(trainer *t, int *stop, r50_error *err) {
  const r50_train_job *j = t->job;
  make_order(t, t->st.epoch);
  r50_prefetch_opts po = {.batch = j->batch,
                          .w = j->size,
                          .h = j->size,
                          .decode = j->decode,
                          .depth = 2,
                          .augment = {j->crop, j->augment, j->augment, t->st.seed},
                          .decode_threads = r50_trainer_decode_threads(t)};
  r50_prefetch *p;
  R50_TRY(r50_dist_agree(t->d, r50_prefetch_new(&t->train, &po, &p, err), err));
  int64_t rows[4096];
  R50_ASSERT(j->batch <= 4096);
  const int64_t global = (int64_t)j->batch * t->d->size;
  int64_t queued = t->st.position;       /* pushed up to here */
  const int whole = t->st.position == 0; /* the whole epoch runs here */
  const double trained0 = t->trained;
  r50_status s = R50_OK;
  int pending = 0; /* batches pushed and not popped */
  while (s == R50_OK && !*stop && t->st.position < t->train.n && !finished(t)) {
    while (queued < t->train.n && pending < 3 && s == R50_OK) {
      int n = my_rows(t, queued, rows);
      if (n > 0 && (s = r50_prefetch_push_rows(p, rows, n, t->st.epoch, err)) == R50_OK)
        pending++;
      queued += global;
    }
    if (s != R50_OK)
      break;
    int mine = my_rows(t, t->st.position, rows) > 0;
    s = step(t, p, mine, stop, err);
    pending -= mine;
    progress(t, t->st.epoch, r50_optimizer_lr(t->opt), 0);
    const int inside = s == R50_OK && !*stop && t->st.position < t->train.n;
    if (inside && r50_trainer_val_due(t)) /* (before the checkpoint: it keeps the best) */
      s = r50_trainer_validate(t, stop, err);
    if (inside && s == R50_OK && due(t))
      s = checkpoint(t, err); /* (at an epoch's end: after its evaluation, below) */
  }
  r50_prefetch_free(p);
  if (s == R50_OK && t->st.position >= t->train.n && whole && t->trained == trained0)
    s = r50_fail(err, R50_ERR_IO,
                 "not one image of %s could be read in epoch %lld (%lld images, every "
                 "one skipped; the first causes are above): nothing was trained",
                 r50_dataset_spec_name(j->train), (long long)t->st.epoch + 1,
                 (long long)t->train.n);
  if (s == R50_OK && t->st.position >= t->train.n) { /* the epoch is over */
    progress(t, t->st.epoch, r50_optimizer_lr(t->opt), 1);
    t->st.epoch++;
    t->st.position = 0;
    if (j->val_every == 0 || r50_trainer_val_due(t))
      s = r50_trainer_validate(t, stop, err);
    if (s == R50_OK && (j->checkpoint_every == 0 || due(t)) && !finished(t) && !*stop)
      s = checkpoint(t, err);
  }
  return s;
}

/* A fresh run whose set-up failed (one class, a bad --model, ...) takes back what it
 * made: labels.txt, and RUN_DIR itself if it created it and nothing else is there, so
 * the command can be run again as it was. */
static void undo_setup(trainer *t) {
  if (t->d->rank != 0 || t->resuming)
    return;
  char path[4200];
  if (t->wrote_labels) {
    snprintf(path, sizeof path, "%s/labels.txt", t->job->out);
    unlink(path);
  }
  if (t->wrote_input) {
    snprintf(path, sizeof path, "%s/input.txt", t->job->out);
    unlink(path);
  }
  r50_output_lock_release(&t->lock);
  if (t->made_dir)
    rmdir(t->job->out); /* fails, as it should, if anything else is in it */
}

static void free_trainer(trainer *t) {
  if (t->d->rank == 0)
    r50_output_lock_release(&t->lock);
  r50_report_close(t->report);
  r50_grad_sync_free(&t->sync);
  r50_optimizer_free(t->opt);
  r50_model_free(t->model);
  r50_dataset_unshare(t->d, &t->train);
  r50_dataset_unshare(t->d, &t->val);
  free(t->order);
  host_free(t, t->x);
  free(t->labels);
}

/* Compressed training shards: a shuffled epoch reads each image by inflating its
 * shard from the start (or from the image before it, when that came earlier in the
 * shard), about half a shard an image; plain tar shards are read in place. */
static void warn_packed_shards(const trainer *t) {
  int64_t packed = 0;
  for (int64_t i = 0; i < t->train.n_shards; i++)
    packed += t->train.shard_packed[i] != 0;
  if (packed && t->job->shuffle)
    r50_log(R50_LOG_WARN,
            "%s: %lld of its %lld shards are compressed (.tar.gz, .tar.xz, ...): a "
            "shuffled epoch reads each image by decompressing its shard up to it, about "
            "half a shard an image, far slower than from plain .tar shards (whose images "
            "are read in place): for training, decompress them (gunzip: the images "
            "inside are compressed already)",
            r50_dataset_spec_name(t->job->train), (long long)packed,
            (long long)t->train.n_shards);
}

int r50_train_job_run(const r50_dist *d, const r50_train_job *job) {
  trainer t = {.d = d, .job = job, .last_eval = -1, .last_ckpt = -1};
  t.lock.fd = -1;
  r50_error err = {0};
  r50_job_signals_install();
  t.start_s = r50_now_s();
  r50_progress_start(&t.pace, 1.0, 30.0);
  r50_status s = setup(&t, &err);
  if (s != R50_OK)
    undo_setup(&t);
  t.iter0 = t.st.iteration;
  /* --resume of a run that had finished: its final checkpoint (after its last
   * validation) is where it stands, so nothing is redone, and its model.npz is kept */
  const int was_done = s == R50_OK && t.resuming && finished(&t);
  if (s == R50_OK)
    r50_output_lock_note_work(&t.lock, (long long)t.iter0,
                              (long long)llround(total_iterations(&t)));
  if (s == R50_OK && d->rank == 0)
    r50_log(
        R50_LOG_INFO,
        "fine-tuning ResNet-%d on %lld images (%d classes)%s%s, %d rank%s x batch %d x "
        "%d thread%s, %s",
        (int)job->model.arch, (long long)t.train.n, t.classes,
        t.have_val ? ", validating on " : "",
        t.have_val ? r50_dataset_spec_name(job->val) : "", d->size,
        d->size == 1 ? "" : "s", job->batch, job->model.threads,
        job->model.threads == 1 ? "" : "s", job->out);
  if (s == R50_OK && d->rank == 0)
    warn_packed_shards(&t);
  int stop = 0;
  if (s == R50_OK && t.resuming && r50_trainer_validation_owed(&t)) {
    s = r50_trainer_validate(&t, &stop, &err); /* the one a signal abandoned */
    if (s == R50_OK && !stop && !finished(&t))
      s = checkpoint(&t, &err); /* so that a second stop does not abandon it again */
  }
  while (s == R50_OK && !stop && !finished(&t))
    s = run_epoch(&t, &stop, &err);
  int sig = 0, mine = r50_job_signal();
  if (s == R50_OK) {
    int rc = MPI_Allreduce(&mine, &sig, 1, MPI_INT, MPI_MAX, d->comm);
    if (rc != MPI_SUCCESS)
      s = r50_mpi_fail(d, rc, "MPI_Allreduce", __FILE__, __LINE__, &err);
  }
  progress(&t, t.st.epoch, t.opt ? r50_optimizer_lr(t.opt) : 0, 1);
  if (s == R50_OK && !stop)
    s = r50_trainer_validate(&t, &stop, &err); /* the final model, unless just done */
  /* stopped or done: a checkpoint either way, unless the loop just wrote this one */
  if (s == R50_OK && t.last_ckpt != t.st.iteration)
    s = checkpoint(&t, &err);
  const int saving = s == R50_OK && !stop; /* the same on every rank */
  if (saving && d->rank == 0) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.npz", job->out);
    struct stat sb;
    const int kept = was_done && lstat(path, &sb) == 0;
    if (!kept)
      s = r50_save_npz(t.model, path, &err);
    char best[4400] = "";
    if (t.st.has_best)
      snprintf(best, sizeof best,
               "; the best validation top-1, %.4f at iteration %lld, in "
               "%s/model_best.npz",
               t.st.best_accuracy, (long long)t.st.best_iteration, job->out);
    if (s == R50_OK && kept)
      r50_log(R50_LOG_INFO,
              "--resume: %s had finished (%lld iteration%s, %lld epoch%s): nothing to "
              "do; model in %s%s",
              job->out, (long long)t.st.iteration, t.st.iteration == 1 ? "" : "s",
              (long long)t.st.epoch, t.st.epoch == 1 ? "" : "s", path, best);
    else if (s == R50_OK)
      r50_log(R50_LOG_INFO,
              "done: %lld iteration%s, %lld epoch%s%s in %.1f s; model in %s%s",
              (long long)t.st.iteration, t.st.iteration == 1 ? "" : "s",
              (long long)t.st.epoch, t.st.epoch == 1 ? "" : "s",
              t.skipped ? " (some images unreadable: skipped)" : "",
              r50_now_s() - t.start_s, path, best);
    else {
      char cause[sizeof err.msg];
      snprintf(cause, sizeof cause, "%s", err.msg);
      r50_fail(&err, s,
               "the final model was not written (%s); the checkpoint of iteration %lld "
               "holds its weights, and --resume writes it once the cause is fixed",
               cause, (long long)t.st.iteration);
    }
  }
  if (saving) /* every rank, whatever rank 0's save gave: none may wait for another */
    s = r50_dist_agree(d, s, &err);
  int code = 0;
  if (s != R50_OK) {
    r50_dist_log_error(d, &err);
    code = 1;
  } else if (stop) {
    if (d->rank == 0)
      r50_log(R50_LOG_WARN,
              "stopped by a signal at iteration %lld: checkpointed; continue "
              "with --resume",
              (long long)t.st.iteration);
    code = sig == SIGINT ? 130 : 0;
  }
  if (t.skipped && d->rank == 0)
    r50_log(R50_LOG_WARN,
            "skipped %lld draw%s of unreadable training images (each such image, in "
            "every epoch it came up; the warnings above name the files)",
            (long long)t.skipped, t.skipped == 1 ? "" : "s");
  free_trainer(&t);
  return code;
}

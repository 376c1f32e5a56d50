/*
 * train_validate.c — the fine-tuning job's validation (trainer.h): loss, top-1 and
 * top-5 over the validation set as Chainer's Evaluator computes them, each image once
 * over the ranks; RUN_DIR/model_best.npz; --patience.
 *
 * A signal abandons a validation at once (between batches, and inside a forward pass
 * through the model's interrupt check): validating 50,000 images takes a CPU rank tens
 * of minutes, longer than the grace SLURM gives between SIGTERM and SIGKILL, and the
 * checkpoint the stop writes must not wait for it. Nothing of an abandoned validation
 * is kept; the checkpoint names the last one that completed, so --resume runs it again
 * before it trains on.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "job_signals.h"
#include "prefetch.h"
#include "progress.h"
#include "trainer.h"

/* Loss, top-1 and top-5 of one image's logits. */
static void score(const float *z, int c, int label, double *loss, int *top1, int *top5) {
  int rank = 0;
  double m = z[0], sum = 0;
  for (int j = 1; j < c; j++)
    m = z[j] > m ? z[j] : m;
  for (int j = 0; j < c; j++) {
    sum += exp((double)z[j] - m);
    rank += z[j] > z[label] || (z[j] == z[label] && j < label);
  }
  *loss = m + log(sum) - z[label];
  *top1 = rank == 0;
  *top5 = rank < 5;
}

/* RUN_DIR/model_best.npz: the model whose validation top-1 is the best so far (as
 * Chainer's snapshot_object with a MaxValueTrigger on validation/main/accuracy keeps
 * one), written under a temporary name and renamed. Rank 0. */
static r50_status save_best(trainer *t, double top1, const char *when, r50_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/model_best.npz", t->job->out);
  r50_status s = r50_save_npz(t->model, path, err);
  if (s != R50_OK) {
    char cause[sizeof err->msg];
    snprintf(cause, sizeof cause, "%s", err->msg);
    return r50_fail(err, s,
                    "the best model so far (validation top-1 %.4f %s) was not written "
                    "(%s); once the cause is fixed, --resume continues from the newest "
                    "checkpoint",
                    top1, when, cause);
  }
  t->st.has_best = 1;
  t->st.since_best = 0;
  t->st.best_accuracy = top1;
  t->st.best_epoch = t->st.epoch;
  t->st.best_iteration = t->st.iteration;
  return R50_OK;
}

r50_status r50_trainer_patience(trainer *t, r50_error *err) {
  const r50_train_job *j = t->job;
  int out = t->d->rank == 0 && j->patience > 0 && t->st.has_best &&
            t->st.since_best >= j->patience;
  R50_MPI_CHECK(t->d, MPI_Bcast(&out, 1, MPI_INT, 0, t->d->comm), err);
  if (out && !t->patience_out && t->d->rank == 0)
    r50_log(R50_LOG_INFO,
            "stopping early: %lld validation%s in a row did not beat the best top-1, "
            "%.4f at iteration %lld (--patience %d)",
            (long long)t->st.since_best, t->st.since_best == 1 ? "" : "s",
            t->st.best_accuracy, (long long)t->st.best_iteration, j->patience);
  t->patience_out = out;
  return R50_OK;
}

int r50_trainer_validation_owed(const trainer *t) {
  if (!t->have_val || t->last_eval == t->st.iteration || t->st.iteration == 0)
    return 0;
  if (t->st.position == 0) /* an epoch's end */
    return t->job->val_every == 0 || r50_trainer_val_due(t);
  return r50_trainer_val_due(t);
}

/* "after epoch 2", or "at iteration 250 (in epoch 3)" (--val-every) */
static void when_of(const trainer *t, char *when, size_t cap) {
  if (t->st.position == 0)
    snprintf(when, cap, "after epoch %lld", (long long)t->st.epoch);
  else
    snprintf(when, cap, "at iteration %lld (in epoch %lld)", (long long)t->st.iteration,
             (long long)t->st.epoch + 1);
}

/* Rank 0, every 30 s of a long validation (progress.h): how far it is, from its own
 * share; a log record even on a terminal, among the run's other records. */
static void progress(const trainer *t, const char *when, int64_t done, int64_t mine,
                     r50_progress *pace) {
  if (t->d->rank != 0 || done <= 0 || !r50_progress_due(pace, 0))
    return;
  const double rate = r50_progress_rate(pace, (double)done) * t->d->size;
  r50_log(R50_LOG_INFO, "validation %s: %.0f%% of %lld images, %.1f img/s, ETA %.0fs",
          when, 100.0 * (double)done / (double)mine, (long long)t->val.n, rate,
          r50_progress_eta(rate, (double)(mine - done) * t->d->size));
}

/* This rank's rows [lo, hi) of the validation set through the model: sums[0..4] +=
 * loss, top-1, top-5, images counted, images unreadable (each named where first: at a
 * run's first validation). *abandoned when a signal came first. */
static r50_status validate_rows(trainer *t, int64_t lo, int64_t hi, const char *when,
                                int first, double sums[5], int *abandoned,
                                r50_error *err) {
  const r50_train_job *j = t->job;
  r50_prefetch_opts po = {.batch = j->batch,
                          .w = j->size,
                          .h = j->size,
                          .decode = j->decode,
                          .depth = 2,
                          .augment = {j->crop, 0, 0, t->st.seed},
                          .decode_threads = r50_trainer_decode_threads(t)};
  r50_prefetch *p = NULL;
  r50_status s = r50_prefetch_new(&t->val, &po, &p, err);
  if (s == R50_OK)
    s = r50_prefetch_push(p, lo, hi - lo, err);
  if (s == R50_OK)
    r50_prefetch_close(p);
  const size_t per = (size_t)3 * j->crop * j->crop;
  const char *layers[] = {"fc6"};
  r50_progress pace;
  r50_progress_start(&pace, 30.0, 30.0);
  int64_t done = 0;
  r50_set_interrupt(t->model, r50_job_stop_requested, NULL);
  for (r50_batch *b; s == R50_OK && !*abandoned && (b = r50_prefetch_pop(p));) {
    int k = 0;
    for (int i = 0; i < b->n; i++) {
      if (b->status[i] != 1 || t->val.labels[b->rows[i]] < 0) {
        sums[4] += b->status[i] != 1;
        if (b->status[i] != 1 && first) /* named once a run, not each epoch */
          r50_log(R50_LOG_WARN, "validation skips: %s", b->errors[i]);
        continue;
      }
      memcpy(t->x + (size_t)k * per, b->x + (size_t)i * per, per * sizeof(float));
      t->labels[k++] = t->val.labels[b->rows[i]];
    }
    done += b->n;
    r50_prefetch_release(p, b);
    *abandoned = r50_job_signal() != 0;
    if (!k || *abandoned)
      continue;
    r50_tensor x = {t->x, 4, {k, 3, j->crop, j->crop}, 0}, out;
    s = r50_forward(t->model, &x, layers, 1, &out, err);
    if (s == R50_ERR_INTERRUPTED) {
      s = R50_OK, *abandoned = 1;
      break;
    }
    if (s != R50_OK)
      break;
    const int c = (int)out.shape[1];
    for (int i = 0; i < k; i++) {
      double loss;
      int top1, top5;
      score(out.data + (size_t)i * c, c, t->labels[i], &loss, &top1, &top5);
      sums[0] += loss, sums[1] += top1, sums[2] += top5, sums[3] += 1;
    }
    r50_tensor_free(&out);
    progress(t, when, done, hi - lo, &pace);
  }
  r50_set_interrupt(t->model, NULL, NULL);
  if (p)
    r50_prefetch_free(p);
  return s;
}

/* Every validation image exactly once: rank r takes rows [r N / size, (r+1) N / size). */
r50_status r50_trainer_validate(trainer *t, int *stop, r50_error *err) {
  if (!t->have_val || t->last_eval == t->st.iteration)
    return R50_OK;
  const r50_train_job *j = t->job;
  const int64_t n = t->val.n, lo = n * t->d->rank / t->d->size,
                hi = n * (t->d->rank + 1) / t->d->size;
  double sums[6] = {0}; /* loss, top-1, top-5, counted, failed; ranks that stopped */
  const int first = !t->val_warned;
  char when[96];
  when_of(t, when, sizeof when);
  int abandoned = 0;
  r50_status s =
      hi > lo ? validate_rows(t, lo, hi, when, first, sums, &abandoned, err) : R50_OK;
  sums[5] = abandoned;
  R50_TRY(r50_dist_agree(t->d, s, err));
  R50_MPI_CHECK(
      t->d, MPI_Allreduce(MPI_IN_PLACE, sums, 6, MPI_DOUBLE, MPI_SUM, t->d->comm), err);
  if (sums[5] > 0) { /* the same on every rank */
    *stop = 1;
    if (t->d->rank == 0)
      r50_log(R50_LOG_WARN,
              "validation %s abandoned: a signal came; --resume runs it again", when);
    return R50_OK;
  }
  t->last_eval = t->st.iteration;
  if (t->last_ckpt == t->st.iteration) /* its state predates this validation */
    t->last_ckpt = -1;
  t->val_warned = 1;
  const double cnt = sums[3];
  char skipped[96] = "";
  if (sums[4] > 0)
    snprintf(skipped, sizeof skipped, " (%.0f unreadable, skipped: named %s)", sums[4],
             first ? "above" : "at the first validation");
  if (t->d->rank == 0 && cnt == 0) /* no score is better than a score of 0 */
    r50_log(R50_LOG_WARN,
            "validation %s: not one of the %lld images of %s could be read%s: no "
            "validation record",
            when, (long long)t->val.n, r50_dataset_spec_name(j->val), skipped);
  else if (t->d->rank == 0) {
    const double top1 = sums[1] / cnt;
    const int best = !t->st.has_best || top1 > t->st.best_accuracy; /* first of equals */
    r50_log(R50_LOG_INFO,
            "validation %s: loss %.4f, top-1 %.4f, top-5 %.4f over %.0f images%s%s", when,
            sums[0] / cnt, top1, sums[2] / cnt, sums[3], skipped,
            best ? " (the best yet: model_best.npz)" : "");
    r50_report_validation(t->report, t->st.epoch,
                          (double)t->st.position / (double)t->train.n, t->st.iteration,
                          sums[0] / cnt, top1, sums[2] / cnt, (int64_t)sums[3],
                          r50_trainer_elapsed(t));
    if (best)
      s = save_best(t, top1, when, err);
    else
      t->st.since_best++;
  }
  R50_TRY(r50_dist_agree(t->d, s, err));
  return r50_trainer_patience(t, err);
}

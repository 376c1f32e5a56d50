/*
 * extract_job.c — the extract/predict job loop on every rank.
 *
 * Rules: a row is "done" only after its features are on disk (h5store writes status
 * last), and the pending work is recomputed from the file on --resume, so a job
 * killed at any moment and resumed gives the file an uninterrupted run gives. Every
 * rank passes through the same agreement points whatever fails (set-up, the end of
 * the loop, the close): a rank that cannot go on says so through the work queue's
 * counters, the others stop after their current batch, and the job ends together
 * with that rank's message. A signal (TERM, INT, USR1) stops the forward in flight
 * at its next block; a second one of the same kind ends the process at once.
 */
#include "extract_job.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "formats.h"
#include "h5reuse.h"
#include "h5store.h"
#include "output_lock.h"
#include "prefetch.h"
#include "progress.h"
#ifdef R50_HAVE_CUDA
#include "device_cuda.h"
#endif
#include "job_signals.h"
#include "sha256.h"
#include "share_list.h"
#include "utf8.h"
#include "work_queue.h"

#define MAX_LISTED_FAILURES 20 /* per rank, and in the summary */

/* Per-run state of one rank. */
typedef struct run {
  const r50_dist *d;
  const r50_job *job;
  r50_dataset ds;
  r50_model *model;
  r50_store_meta meta;
  r50_store *store;
  int fresh;            /* the file was created by this run, every row pending */
  int created;          /* the file was created by this run (rows may be --reuse'd) */
  r50_output_lock lock; /* rank 0 */
  r50_work_queue q;
  int64_t chunk;   /* rows per work chunk */
  int64_t *bounds; /* chunk k is rows [bounds[k], bounds[k + 1]) (r50_dataset_chunks) */
  int64_t *chunks; /* pending chunk indices */
  int64_t n_chunks, pending_rows;
  int64_t done, failed, computed;    /* this rank: rows written ok / failed; rows run */
  float *rows[R50_STORE_MAX_LAYERS]; /* (batch, per_row[l]) scatter buffers */
  int64_t per_row[R50_STORE_MAX_LAYERS];
  double busy_s, start_s;
  r50_progress pace; /* rank 0's progress lines, from the work's start */
  char *failures;    /* "message\n"... of this rank (the first few) */
  size_t failures_len, failures_cap;
  char *table; /* every failure of this rank: int64 row, then message NUL, ... */
  size_t table_len, table_cap;
  int n_listed;
  char sha[65];
  char model_path[4096];
  int w, h; /* prepared size */
} run;

/* ------------------------------------------------------------------ set-up */

static r50_status model_identity(run *r, r50_error *err) {
  const r50_job *j = r->job;
  r50_status s = R50_OK;
  if (!j->model.pretrained)
    snprintf(r->model_path, sizeof r->model_path, "none");
  else if (!strcmp(j->model.pretrained, "auto"))
    r50_auto_model_path(j->model.arch, r->model_path, sizeof r->model_path);
  else
    snprintf(r->model_path, sizeof r->model_path, "%s", j->model.pretrained);
  if (r->d->rank == 0) {
    if (j->model.pretrained) {
      s = r50_sha256_file(r->model_path, r->sha, err);
    } else { /* random weights: the hash of the parameters themselves */
      r50_sha256 h;
      r50_sha256_init(&h);
      for (int i = 0; i < r50_namedparams_count(r->model); i++) {
        r50_param_info p = r50_namedparams(r->model, i);
        if (p.data)
          r50_sha256_update(&h, p.data, (size_t)p.numel * sizeof(float));
        else
          r50_sha256_update(&h, p.ivalue, sizeof *p.ivalue);
      }
      r50_sha256_hex(&h, r->sha);
    }
  }
  R50_TRY(r50_dist_agree(r->d, s, err));
  R50_MPI_CHECK(r->d, MPI_Bcast(r->sha, sizeof r->sha, MPI_CHAR, 0, r->d->comm), err);
  return R50_OK;
}

/* --size none: the first readable image (rank 0) sets the size of all. */
/* --size none: the size of the dataset's first image that reads and that the network
 * takes (32x32 or more: a smaller one would fail every other image), which every
 * image must have. */
static r50_status find_native_size(run *r, r50_error *err) {
  int wh[2] = {0, 0};
  if (r->d->rank == 0)
    for (int64_t i = 0; i < r->ds.n && !wh[0]; i++) {
      char path[4096];
      r50_dataset_path(&r->ds, i, path, sizeof path);
      r50_image img = {0};
      if (r50_image_load(path, &r->job->decode, &img, NULL) == R50_OK &&
          img.width >= R50_MIN_SIZE && img.height >= R50_MIN_SIZE) {
        wh[0] = img.width;
        wh[1] = img.height;
      }
      r50_image_free(&img);
    }
  R50_MPI_CHECK(r->d, MPI_Bcast(wh, 2, MPI_INT, 0, r->d->comm), err);
  if (!wh[0])
    return r50_fail(err, R50_ERR_FORMAT,
                    "--size none: no image of %s could be read at %dx%d pixels or more",
                    r50_dataset_spec_name(r->job->dataset), R50_MIN_SIZE, R50_MIN_SIZE);
  r->w = wh[0];
  r->h = wh[1];
  return R50_OK;
}

static r50_status build_meta(run *r, r50_error *err) {
  const r50_job *j = r->job;
  r50_store_meta *m = &r->meta;
  memset(m, 0, sizeof *m);
  m->command = j->predict ? "predict" : "extract";
  m->arch = j->model.arch;
  m->downsample_fb = j->model.downsample_fb;
  m->model = r->model_path;
  m->model_sha256 = r->sha;
  m->size_w = j->predict ? 256 : j->size_w;
  m->size_h = j->predict ? 256 : j->size_h;
  m->oversample = j->predict && j->oversample;
  m->fast_decode = j->decode.fast_decode;
  m->exif_rotate = j->decode.exif_rotate;
  m->max_pixels = j->decode.max_pixels;
  m->n_layers = j->n_layers;
  m->float16 = j->float16;
  m->precision = r50_precision_name(r50_model_precision(r->model));
  r50_dataset_digest(&r->ds, m->dataset_sha256);
  int in_w = j->predict ? 224 : r->w, in_h = j->predict ? 224 : r->h;
  for (int l = 0; l < j->n_layers; l++) {
    int64_t shape[R50_MAX_DIMS];
    int nd;
    m->layers[l] = j->layers[l];
    R50_TRY(r50_layer_shape(r->model, j->layers[l], 1, in_h, in_w, shape, &nd, err));
    m->ndim[l] = nd - 1;
    r->per_row[l] = 1;
    for (int i = 1; i < nd; i++) {
      m->shape[l][i - 1] = shape[i];
      r->per_row[l] *= shape[i];
    }
    r->rows[l] = calloc((size_t)j->batch * (size_t)r->per_row[l], sizeof(float));
    if (!r->rows[l])
      return r50_fail(err, R50_ERR_NOMEM, "out of memory for a batch of %s rows",
                      j->layers[l]);
  }
  return R50_OK;
}

/* The chunks with at least one row not done. */
static r50_status pending_chunks(run *r, const int8_t *status, r50_error *err) {
  int64_t total;
  R50_TRY(r50_dataset_chunks(&r->ds, r->chunk, &r->bounds, &total, err));
  r->chunks = malloc((size_t)(total ? total : 1) * sizeof *r->chunks);
  if (!r->chunks)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int64_t k = 0; k < total; k++) {
    int64_t pend = 0;
    for (int64_t i = r->bounds[k]; i < r->bounds[k + 1]; i++)
      pend += !status || status[i] != 1;
    if (pend) {
      r->chunks[r->n_chunks++] = k;
      r->pending_rows += pend;
    }
  }
  return R50_OK;
}

/* Whether a rank caught a stop signal (collective). */
static r50_status any_signal(const run *r, int *stop, r50_error *err) {
  int mine = r50_job_signal() != 0;
  R50_MPI_CHECK(r->d, MPI_Allreduce(&mine, stop, 1, MPI_INT, MPI_MAX, r->d->comm), err);
  return R50_OK;
}

/* --reuse OLD.h5, each in turn: the rows still to do that it holds done are copied
 * (collective, on the open output). A stop signal ends the copy where it is. */
static r50_status reuse_old_files(run *r, int8_t *status, r50_error *err) {
  const r50_job *j = r->job;
  for (int k = 0; k < j->n_reuse; k++) {
    int stop = 0;
    if (k > 0)
      R50_TRY(any_signal(r, &stop, err));
    if (stop)
      break;
    int64_t copied;
    R50_TRY(r50_store_reuse(r->d, r->store, j->reuse[k], &r->ds, &r->meta, status,
                            &copied, err));
    if (r->d->rank == 0)
      r50_log(R50_LOG_INFO, "--reuse %s: %lld row%s copied, not computed again",
              j->reuse[k], (long long)copied, copied == 1 ? "" : "s");
  }
  return R50_OK;
}

/* Rank 0 creates the file or checks it for --resume; every rank gets the statuses. */
static r50_status prepare_output(run *r, int8_t **status, r50_error *err) {
  const r50_job *j = r->job;
  r50_status s = R50_OK;
  int created = 0;
  if (r->d->rank == 0) {
    r50_store_resume_kind kind = R50_STORE_RECREATE;
    for (int k = 0; k < j->n_reuse && s == R50_OK; k++) /* before the output is made */
      s = r50_store_reuse_check(j->output, j->reuse[k], &r->meta, err);
    if (s == R50_OK && j->resume)
      s = r50_store_check_resume(j->output, &r->ds, &r->meta, &kind, status, err);
    if (s == R50_OK && kind == R50_STORE_RECREATE) {
      s = r50_store_create(j->output, &r->ds, &r->meta, j->overwrite || j->resume, err);
      created = 1;
    }
    if (s == R50_OK && created && j->n_reuse && !(*status = calloc((size_t)r->ds.n, 1)))
      s = r50_fail(err, R50_ERR_NOMEM, "out of memory"); /* all pending, some to copy */
  }
  R50_TRY(r50_dist_agree(r->d, s, err));
  int made[2] = {created,
                 created && !j->n_reuse}; /* created; created with every row pending */
  R50_MPI_CHECK(r->d, MPI_Bcast(made, 2, MPI_INT, 0, r->d->comm), err);
  r->created = made[0];
  r->fresh = made[1];
  if (!r->fresh) {
    char *buf = (char *)*status;
    size_t len = (size_t)r->ds.n;
    R50_TRY(r50_dist_bcast_bytes(r->d, &buf, &len, err));
    *status = (int8_t *)buf;
  }
  R50_TRY(r50_store_open(r->d, j->output, &r->meta, &r->store, err));
  return reuse_old_files(r, *status, err);
}

/* Everything before the loop; agreed on by all ranks. */
static r50_status setup(run *r, int8_t **status, r50_error *err) {
  const r50_job *j = r->job;
  R50_TRY(r50_dist_agree(
      r->d, r->d->rank == 0 ? r50_output_lock_take(j->output, &r->lock, err) : R50_OK,
      err));
  R50_TRY(r50_dataset_share(r->d, j->n_images > 1 ? j->images : &j->dataset,
                            j->n_images > 1 ? j->n_images : 1, j->root, 0, &r->ds, err));
  if (r->ds.n == 0 && r->ds.n_shards)
    return r50_fail(err, R50_ERR_NOT_FOUND, "no samples in the %lld tar shards of %s",
                    (long long)r->ds.n_shards, r50_dataset_spec_name(j->dataset));
  if (r->ds.n == 0)
    return r50_fail(err, R50_ERR_NOT_FOUND,
                    "no images in %s (a folder is searched for " R50_FORMATS_EXTS
                    " files and " R50_FORMATS_BY_CONTENT
                    " files without an extension, then for tar shards; a list "
                    "file needs 'path label' lines)",
                    r50_dataset_spec_name(j->dataset));
  if (!j->model.pretrained && r->d->rank == 0)
    r50_log(R50_LOG_WARN,
            "--model none: random weights (seed %llu); the features are not "
            "those of a trained network",
            (unsigned long long)j->model.seed);
  /* auto: about four chunks a rank, at most 64 rows, so small jobs spread too */
  r->chunk = j->chunk > 0 ? j->chunk : (r->ds.n + 4 * r->d->size - 1) / (4 * r->d->size);
  r->chunk = r->chunk < 1 ? 1 : r->chunk > 64 && j->chunk <= 0 ? 64 : r->chunk;
  r50_config cfg = j->model;
  r50_dist_pick_gpu(r->d, &cfg);
  r->model = r50_model_new(&cfg, err);
  R50_TRY(r50_dist_agree(r->d, r->model ? R50_OK : err->status, err));
  r50_set_interrupt(r->model, r50_job_stop_requested, NULL);
  R50_TRY(r50_dist_same_precision(r->d, r->model, err));
  R50_TRY(model_identity(r, err));
  /* forward passes only from here: the engine's weights are the ones kept (about 90 MB
   * less a rank) */
  R50_TRY(r50_dist_agree(r->d, r50_model_inference_only(r->model, err), err));
  r->w = j->predict ? 256 : j->size_w;
  r->h = j->predict ? 256 : j->size_h;
  if (!r->w)
    R50_TRY(find_native_size(r, err));
  R50_TRY(r50_dist_agree(r->d, build_meta(r, err), err));
  R50_TRY(prepare_output(r, status, err));
  R50_TRY(r50_dist_agree(r->d, pending_chunks(r, *status, err), err));
  R50_TRY(r50_queue_new(r->d, r->n_chunks, &r->q, err));
  return R50_OK;
}

/* ------------------------------------------------------------------ progress */

/* Keeps a failed row for /errors (written at the end). */
static r50_status add_to_table(run *r, int64_t row, const char *msg, r50_error *err) {
  const size_t n = sizeof row + strlen(msg) + 1;
  if (r->table_len + n > r->table_cap) {
    size_t cap = r->table_cap ? 2 * r->table_cap : 1 << 16;
    while (cap < r->table_len + n)
      cap *= 2;
    char *t = realloc(r->table, cap);
    if (!t)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory keeping the failed rows");
    r->table = t;
    r->table_cap = cap;
  }
  memcpy(r->table + r->table_len, &row, sizeof row);
  memcpy(r->table + r->table_len + sizeof row, msg, n - sizeof row);
  r->table_len += n;
  return R50_OK;
}

/* Keeps one of the first failures for the summary, a line each (a newline in a file
 * name escaped: r50_escape_field). */
static void note_failure(run *r, const char *raw) {
  if (r->n_listed >= MAX_LISTED_FAILURES)
    return; /* every cause goes to /errors */
  char msg[2 * PATH_MAX];
  r50_escape_field(raw, msg, sizeof msg);
  size_t n = strlen(msg) + 1;
  if (r->failures_len + n + 1 > r->failures_cap) {
    size_t cap = r->failures_cap ? 2 * r->failures_cap : 4096;
    while (cap < r->failures_len + n + 1)
      cap *= 2;
    char *f = realloc(r->failures, cap);
    if (!f)
      return;
    r->failures = f;
    r->failures_cap = cap;
  }
  memcpy(r->failures + r->failures_len, msg, n - 1);
  r->failures[r->failures_len + n - 1] = '\n';
  r->failures_len += n;
  r->failures[r->failures_len] = 0;
  r->n_listed++;
}

static void progress(run *r, int final) {
  if (r->d->rank != 0 || !r50_progress_due(&r->pace, final))
    return;
  int64_t done = 0, failed = 0; /* best effort: a failing MPI stops the job elsewhere */
  if (r50_queue_add(&r->q, R50_Q_DONE, 0, &done, NULL) != R50_OK ||
      r50_queue_add(&r->q, R50_Q_FAILED, 0, &failed, NULL) != R50_OK)
    return;
  const int64_t all = done + failed, total = r->pending_rows;
  const double rate = r50_progress_rate(&r->pace, (double)all);
  enum { WIDTH = 30 };
  char bar[WIDTH + 2] = "progress";
  if (r->pace.tty) { /* a bar in place of the log's word */
    const int fill = total ? (int)(WIDTH * all / total) : WIDTH;
    for (int i = 0; i < WIDTH; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = 0;
  }
  char line[256];
  snprintf(line, sizeof line, "%s %lld/%lld images (%lld failed), %.1f img/s, ETA %.0fs",
           bar, (long long)all, (long long)total, (long long)failed, rate,
           r50_progress_eta(rate, (double)(total - all)));
  r50_progress_show(&r->pace, line, final);
}

/* ------------------------------------------------------------------ the loop */

/* Runs the network on the batch's readable rows only (failed rows cost nothing) and
 * writes every row. R50_ERR_INTERRUPTED leaves the batch unwritten: its rows stay
 * pending. */
static r50_status run_batch(run *r, r50_batch *b, r50_error *err) {
  const r50_job *j = r->job;
  const size_t per_in = (size_t)3 * (size_t)r->w * (size_t)r->h;
  int n_ok = 0;
  for (int i = 0; i < b->n; i++)
    if (b->status[i] == 1) {
      if (i != n_ok)
        memmove(b->x + (size_t)n_ok * per_in, b->x + (size_t)i * per_in,
                per_in * sizeof(float));
      n_ok++;
    }
  r50_tensor out[R50_STORE_MAX_LAYERS] = {{0}};
  const float *feat[R50_STORE_MAX_LAYERS];
  if (n_ok > 0) {
    r50_status s;
    if (j->predict) {
      s = r50_predict_prepared(r->model, b->x, n_ok, j->oversample, &out[0], err);
    } else {
      r50_tensor x = {b->x, 4, {n_ok, 3, r->h, r->w}, 0};
      s = r50_forward(r->model, &x, j->layers, j->n_layers, out, err);
    }
    R50_TRY(s);
    r->computed += n_ok;
    for (int l = 0; l < j->n_layers; l++) {
      feat[l] = out[l].data;
      if (n_ok == b->n)
        continue;
      const size_t row = (size_t)r->per_row[l] * sizeof(float);
      for (int i = 0, k = 0; i < b->n; i++) /* scatter: failed rows hold zeros */
        if (b->status[i] == 1)
          memcpy((char *)r->rows[l] + i * row, (char *)out[l].data + k++ * row, row);
        else
          memset((char *)r->rows[l] + i * row, 0, row);
      feat[l] = r->rows[l];
    }
  }
  /* All failed: in a file this run made (--reuse's copies are done rows) the features
   * stay unwritten, and read as zeros; in a resumed one, where a killed attempt may
   * have left a row's features (written before its status), they are zeroed unless
   * they read as zeros already (no disk blocks spent on millions of missing files). */
  int write = n_ok > 0;
  if (!write && !r->created) {
    int zero;
    R50_TRY(r50_store_rows_zero(r->store, b->row0, b->n, &zero, err));
    for (int l = 0; !zero && l < j->n_layers; l++) {
      memset(r->rows[l], 0, (size_t)b->n * (size_t)r->per_row[l] * sizeof(float));
      feat[l] = r->rows[l];
    }
    write = !zero;
  }
  r50_status s =
      r50_store_write_rows(r->store, b->row0, b->n, write ? feat : NULL, b->status, err);
  for (int l = 0; l < j->n_layers; l++)
    r50_tensor_free(&out[l]);
  if (s != R50_OK)
    return s;
  for (int i = 0; i < b->n; i++)
    if (b->status[i] != 1) {
      note_failure(r, b->errors[i]);
      R50_TRY(add_to_table(r, b->rows[i], b->errors[i], err));
    }
  r->done += n_ok;
  r->failed += b->n - n_ok;
  R50_TRY(r50_queue_add(&r->q, R50_Q_DONE, n_ok, NULL, err));
  return r50_queue_add(&r->q, R50_Q_FAILED, b->n - n_ok, NULL, err);
}

/* Pushes the rows of chunk k that are not done yet. */
static r50_status push_chunk(run *r, r50_prefetch *p, int64_t k, const int8_t *status,
                             r50_error *err) {
  const int64_t end = r->bounds[k + 1];
  for (int64_t i = r->bounds[k]; i < end;) {
    if (status && status[i] == 1) {
      i++;
      continue;
    }
    int64_t j = i;
    while (j < end && !(status && status[j] == 1))
      j++;
    R50_TRY(r50_prefetch_push(p, i, j - i, err));
    i = j;
  }
  return R50_OK;
}

/* The job is stopping: this rank got a signal, or another rank stopped or failed. */
static r50_status stopping(run *r, int *stop, r50_error *err) {
  int64_t stops = 0;
  R50_TRY(r50_queue_add(&r->q, R50_Q_STOP, 0, &stops, err));
  *stop = r50_job_signal() || stops > 0;
  return R50_OK;
}

/* The next pending chunk into *k, or -1 when none is left or the job is stopping. */
static r50_status take_chunk(run *r, int64_t *k, r50_error *err) {
  int stop;
  *k = -1;
  R50_TRY(stopping(r, &stop, err));
  if (stop)
    return R50_OK;
  int64_t i;
  R50_TRY(r50_queue_next(&r->q, &i, err));
  *k = i < 0 ? -1 : r->chunks[i];
  return R50_OK;
}

static r50_status work(run *r, const int8_t *status, r50_error *err) {
  const int gpu = r->job->model.device == R50_DEVICE_CUDA;
  r50_prefetch_opts po = {
      .batch = r->job->batch,
      .w = r->w,
      .h = r->h,
      .no_resize = r->job->size_w == 0 && !r->job->predict,
      .decode = r->job->decode,
      .depth = gpu ? 3 : 2,
      /* a CPU engine's threads fill this rank's CPUs: decode
       * between its batches, on the same threads; a GPU rank's
       * CPUs decode ahead while the GPU computes */
      .decode_threads = r->job->model.threads > 0 ? r->job->model.threads : 1,
      .decode_on_pop = !gpu,
#ifdef R50_HAVE_CUDA
      .host_alloc = gpu ? r50_cuda_host_alloc : NULL,
      .host_free = gpu ? r50_cuda_host_free : NULL,
#endif
  };
  r50_prefetch *p;
  R50_TRY(r50_prefetch_new(&r->ds, &po, &p, err));
  int64_t next;
  r50_status s = take_chunk(r, &next, err);
  if (s == R50_OK && next >= 0)
    s = push_chunk(r, p, next, status, err);
  while (s == R50_OK && next >= 0) {
    int64_t cur = next;
    s = take_chunk(r, &next, err); /* one chunk ahead keeps the decoder busy */
    if (s == R50_OK && next >= 0)
      s = push_chunk(r, p, next, status, err);
    int64_t rows_left = 0;
    for (int64_t i = r->bounds[cur]; i < r->bounds[cur + 1]; i++)
      rows_left += !(status && status[i] == 1);
    int stop = 0;
    while (s == R50_OK && rows_left > 0 && (s = stopping(r, &stop, err)) == R50_OK &&
           !stop) {
      r50_batch *b = r50_prefetch_pop(p);
      R50_ASSERT(b != NULL);
      double t0 = r50_now_s();
      s = run_batch(r, b, err);
      r->busy_s += r50_now_s() - t0;
      rows_left -= b->n;
      r50_prefetch_release(p, b);
      progress(r, 0);
    }
    if (s == R50_OK && rows_left > 0) /* stopping */
      break;
  }
  r50_prefetch_free(p);
  if (s == R50_ERR_INTERRUPTED)
    return R50_OK; /* the signal is in r50_job_signal(); the batch stays pending */
  if (s != R50_OK) /* tell the other ranks to stop after their current batch */
    r50_queue_add(&r->q, R50_Q_STOP, 1, NULL, NULL);
  return s;
}

/* ------------------------------------------------------------------ the end */

/* Rank 0 prints the summary: counts, time, rates per rank, the first failures. */
static r50_status summary(run *r, double wall, double setup_s, int sig, r50_status s,
                          r50_error *err) {
  const r50_dist *d = r->d;
  double mine[5] = {(double)r->done, (double)r->failed, r->busy_s, (double)r->computed,
                    (double)r->n_listed};
  double *all = d->rank == 0 ? malloc((size_t)d->size * sizeof mine) : NULL;
  int rc = MPI_Gather(mine, 5, MPI_DOUBLE, all, 5, MPI_DOUBLE, 0, d->comm);
  int len = (int)r->failures_len,
      *lens = d->rank == 0 ? calloc((size_t)d->size, sizeof *lens) : NULL;
  if (rc == MPI_SUCCESS)
    rc = MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, d->comm);
  int *displ = NULL, total = 0;
  char *text = NULL;
  if (d->rank == 0 && all && lens && (displ = calloc((size_t)d->size, sizeof *displ))) {
    for (int i = 0; i < d->size; i++) {
      displ[i] = total;
      total += lens[i];
    }
    text = malloc((size_t)total + 1);
  }
  MPI_Gatherv(r->failures ? r->failures : "", len, MPI_CHAR, text, lens, displ, MPI_CHAR,
              0, d->comm);
  if (d->rank == 0 && all) {
    double ok = 0, bad = 0, run_n = 0;
    for (int i = 0; i < d->size; i++)
      ok += all[5 * i], bad += all[5 * i + 1], run_n += all[5 * i + 3];
    double loop = wall - setup_s;
    char stopped[64];
    snprintf(stopped, sizeof stopped, "stopped by %s",
             r50_job_signal_name(sig == SIGINT || sig == SIGHUP ? sig : SIGTERM));
    const char *how = s != R50_OK      ? "failed"
                      : sig == SIGUSR1 ? "paused by SIGUSR1"
                      : sig            ? stopped
                                       : "done";
    r50_log(
        R50_LOG_INFO,
        "%s: %.0f ok, %.0f failed of %lld pending in %.1f s (%.1f s set-up): %.2f img/s "
        "overall, %.2f img/s after set-up; %.0f through the network",
        how, ok, bad, (long long)r->pending_rows, wall, setup_s,
        wall > 0 ? (ok + bad) / wall : 0.0, loop > 0 ? (ok + bad) / loop : 0.0, run_n);
    for (int i = 0; i < d->size; i++)
      r50_log(R50_LOG_INFO, "  rank %d: %.0f image%s, %.2f img/s while computing", i,
              all[5 * i] + all[5 * i + 1], all[5 * i] + all[5 * i + 1] == 1 ? "" : "s",
              all[5 * i + 2] > 0 ? (all[5 * i] + all[5 * i + 1]) / all[5 * i + 2] : 0.0);
    if (text) {
      text[total] = 0;
      int shown = 0;
      for (char *line = strtok(text, "\n"); line && shown < MAX_LISTED_FAILURES;
           line = strtok(NULL, "\n"), shown++)
        r50_log(R50_LOG_WARN, "failed: %s", line);
      if (bad > shown)
        r50_log(R50_LOG_WARN,
                "... and %.0f more failed images: every cause is in "
                "/errors",
                bad - shown);
    }
  }
  free(all), free(lens), free(displ), free(text);
  return rc == MPI_SUCCESS
             ? R50_OK
             : r50_mpi_fail(d, rc, "MPI_Gather(summary)", __FILE__, __LINE__, err);
}

static void free_run(run *r) {
  if (r->d->rank == 0)
    r50_output_lock_release(&r->lock);
  r50_model_free(r->model);
  r50_dataset_unshare(r->d, &r->ds);
  for (int l = 0; l < R50_STORE_MAX_LAYERS; l++)
    free(r->rows[l]);
  free(r->chunks);
  free(r->bounds);
  free(r->failures);
  free(r->table);
}

/* Collective: every rank's failures into rank 0's /errors. */
static r50_status write_errors(run *r, r50_error *err) {
  char *all;
  size_t len;
  R50_TRY(r50_dist_gather_bytes(r->d, r->table ? r->table : "", r->table_len, &all, &len,
                                err));
  r50_status s = R50_OK;
  if (r->d->rank == 0) {
    int64_t n = 0;
    for (size_t at = 0; at < len; n++)
      at += sizeof(int64_t) + strlen(all + at + sizeof(int64_t)) + 1;
    int64_t *rows = malloc((size_t)(n + 1) * sizeof *rows);
    char **msgs = malloc((size_t)(n + 1) * sizeof *msgs);
    if (!rows || !msgs)
      s = r50_fail(err, R50_ERR_NOMEM, "out of memory writing /errors");
    for (size_t at = 0, i = 0; s == R50_OK && at < len; i++) {
      memcpy(&rows[i], all + at, sizeof *rows);
      msgs[i] = all + at + sizeof(int64_t);
      at += sizeof(int64_t) + strlen(msgs[i]) + 1;
    }
    if (s == R50_OK)
      s = r50_store_put_errors(r->job->output, rows, msgs, n, err);
    free(rows);
    free(msgs);
  }
  free(all);
  return r50_dist_agree(r->d, s, err);
}

/* After a failure once the output was open: the rows finished stay, for --resume. */
static void resume_hint(const run *r) {
  if (r->d->rank == 0 && !r->job->output_scratch)
    r50_log(R50_LOG_INFO,
            "the rows finished are kept in %s: once the cause is fixed, the same command "
            "with --resume continues",
            r->job->output);
}

/* Collective: the end of a run that got past set-up. Returns the exit code. */
static int finish(run *r, r50_status s, r50_error *err, const int8_t *status,
                  double setup_s) {
  const r50_dist *d = r->d;
  if (r50_job_signal() && s == R50_OK)
    s = r50_queue_add(&r->q, R50_Q_STOP, 1, NULL, err);
  s = r50_dist_agree(d, s, err); /* every rank's adds to the queue are done */
  progress(r, 1);
  int64_t counts[2] = {0, 0};
  r50_status qs =
      d->rank == 0 ? r50_queue_add(&r->q, R50_Q_STOP, 0, &counts[0], err) : R50_OK;
  if (qs == R50_OK && d->rank == 0)
    qs = r50_queue_add(&r->q, R50_Q_DONE, 0, &counts[1], err);
  qs = r50_dist_agree(d, qs, err);
  if (qs == R50_OK) {
    int rc = MPI_Bcast(counts, 2, MPI_INT64_T, 0, d->comm);
    qs = rc == MPI_SUCCESS ? R50_OK
                           : r50_mpi_fail(d, rc, "MPI_Bcast", __FILE__, __LINE__, err);
  }
  r50_queue_free(&r->q);
  int sig = 0, mine = r50_job_signal();
  if (qs == R50_OK) {
    int rc = MPI_Allreduce(&mine, &sig, 1, MPI_INT, MPI_MAX, d->comm);
    qs = rc == MPI_SUCCESS
             ? R50_OK
             : r50_mpi_fail(d, rc, "MPI_Allreduce", __FILE__, __LINE__, err);
  }
  if (s == R50_OK)
    s = qs;
  int64_t earlier_ok = 0;
  for (int64_t i = 0; status && i < r->ds.n; i++)
    earlier_ok += status[i] == 1;
  const int stopped = counts[0] > 0, any_ok = counts[1] + earlier_ok > 0;
  r50_status ss = summary(r, r50_now_s() - r->start_s, setup_s,
                          s == R50_OK && stopped ? sig : 0, s, err);
  if (s == R50_OK)
    s = ss;
  r50_error cerr = {0};
  r50_status cs = r50_dist_agree(d, r50_store_close(r->store, &cerr), &cerr);
  r->store = NULL;
  if (cs == R50_OK && s == R50_OK) /* a failed run's failed rows are retried anyway */
    cs = write_errors(r, &cerr);
  if (cs == R50_OK && s == R50_OK && !stopped && any_ok)
    cs = r50_dist_agree(
        d, d->rank == 0 ? r50_store_set_complete(r->job->output, 1, &cerr) : R50_OK,
        &cerr);
  if (s != R50_OK) {
    r50_dist_log_error(d, err);
    resume_hint(r);
    return 1;
  }
  if (cs != R50_OK) {
    r50_dist_log_error(d, &cerr);
    return 1;
  }
  if (stopped) {
    if (d->rank == 0 && r->job->output_scratch)
      r50_log(R50_LOG_WARN,
              "%s: stopped; predict without -o keeps nothing (with -o OUT.h5 a stopped "
              "job continues with --resume)",
              r50_job_signal_name(sig));
    else if (d->rank == 0)
      r50_log(R50_LOG_WARN,
              "%s: what was finished is saved in %s: continue with --resume",
              r50_job_signal_name(sig), r->job->output);
    return sig == SIGUSR1 ? 0 : 128 + (sig ? sig : SIGTERM);
  }
  if (!any_ok) {
    if (d->rank == 0)
      r50_log(R50_LOG_ERROR, "no image of %s could be read; see the failures above",
              r50_dataset_spec_name(r->job->dataset));
    return R50_EXIT_NO_IMAGE;
  }
  return 0;
}

int r50_job_run(const r50_dist *d, const r50_job *job) {
  run r = {.d = d, .job = job};
  r.lock.fd = -1;
  r50_error err = {0};
  int8_t *status = NULL;
  r50_job_signals_install();
  r.start_s = r50_now_s();
  r50_status s = setup(&r, &status, &err);
  if (s != R50_OK) { /* set-up steps end agreed: every rank is here */
    r50_dist_log_error(d, &err);
    if (r.store) { /* (a --reuse copy failed: what it copied is kept) */
      r50_store_close(r.store, NULL);
      resume_hint(&r);
    }
    free(status);
    free_run(&r);
    return 1;
  }
  if (d->rank == 0 && !r.created && r.pending_rows == 0)
    r50_log(R50_LOG_INFO,
            "resuming: nothing left to do: the %lld images of %s are all in %s",
            (long long)r.ds.n, r50_dataset_spec_name(job->dataset),
            job->output_scratch ? "standard output" : job->output);
  else if (d->rank == 0)
    r50_log(
        R50_LOG_INFO,
        "%s %lld of %lld images of %s on %d rank%s x %d thread%s (%s engine, %s) -> %s",
        !r.created     ? "resuming:"
        : job->predict ? "classifying"
                       : "extracting",
        (long long)r.pending_rows, (long long)r.ds.n, r50_dataset_spec_name(job->dataset),
        d->size, d->size == 1 ? "" : "s", job->model.threads,
        job->model.threads == 1 ? "" : "s", r50_model_engine(r.model),
        r50_precision_name(r50_model_precision(r.model)),
        job->output_scratch ? "standard output" : job->output);
  double setup_s = r50_now_s() - r.start_s;
  if (d->rank == 0) { /* as status counts them: rows done or failed (a failed row of an
                        earlier run stays failed until it is tried again) */
    long long settled = 0;
    for (int64_t i = 0; status && i < r.ds.n; i++)
      settled += status[i] != 0;
    r50_output_lock_note_work(&r.lock, settled, (long long)r.ds.n);
  }
  r50_progress_start(&r.pace, 0.5, 5.0);
  s = work(&r, status, &err);
  int code = finish(&r, s, &err, status, setup_s);
  free(status);
  free_run(&r);
  return code;
}

/*
 * prefetch.c — one producer thread, a FIFO of pushed work (row ranges, cut into
 * batches, or listed batches), and a ring of `depth + 1` batch buffers: the producer
 * fills free buffers in order, the consumer pops them in the same order, so rows come
 * back in the order they were pushed. Listed work keeps its own positions in the FIFO
 * (row0 numbers items then, not rows).
 *
 * With decode_on_pop the producer only reads (files, tar members: the waiting part)
 * and the consumer's pop decodes the batch on its own OpenMP threads: a CPU engine
 * whose threads fill every core then never has one of them preempted by a decoder in
 * the middle of a parallel region, where the others would spin at its barrier. A GPU
 * rank's producer decodes ahead on decode_threads threads of its own instead.
 */
#include "prefetch.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "tar_shards.h"

/* Pushed work: rows [row0, row0 + n) cut into batches, or (rows != NULL) one batch of
 * the n listed rows of `epoch`. */
typedef struct range {
  int64_t row0, n;
  int64_t *rows;
  int64_t epoch;
} range;

/* A batch slot's rows as read, before they are decoded on several threads. */
typedef struct raw_rows {
  uint8_t **data;     /* (batch) the encoded bytes, or NULL */
  size_t *len;        /* (batch) */
  r50_status *status; /* (batch) how reading went */
  r50_error *err;     /* (batch) the cause where it failed */
  int64_t epoch;      /* of the batch's crops and flips */
} raw_rows;

struct r50_prefetch {
  const r50_dataset *ds;
  r50_prefetch_opts o;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  range *ranges;                                      /* FIFO of pushed ranges */
  int64_t n_ranges, cap_ranges, next_range, next_row; /* producer position */
  r50_batch *bufs;                                    /* ring of nbuf batches */
  raw_rows *raw;                                      /* (nbuf) their rows as read */
  float *full;         /* (threads, 3, h, w): a prepared image before its crop */
  r50_tar_cursor *tar; /* the producer's open shard (shard datasets) */
  int nbuf;
  int64_t produced, consumed, released; /* counts of batches */
  int closed, stop;
};

/* "cause: name" from a message "name: cause": the cause first, so that a cut to the
 * error column's width keeps it. */
static void cause_first(const char *msg, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  char buf[sizeof((r50_error *)0)->msg + 8];
  if (!strncmp(msg, name, n) && !strncmp(msg + n, ": ", 2))
    snprintf(buf, sizeof buf, "%s: %s", msg + n + 2, name);
  else
    snprintf(buf, sizeof buf, "%s", msg);
  r50_utf8_copy(out, cap, buf);
}

/* Output width and height of a prepared row. */
static int out_w(const r50_prefetch_opts *o) {
  return o->augment.crop ? o->augment.crop : o->w;
}

static int out_h(const r50_prefetch_opts *o) {
  return o->augment.crop ? o->augment.crop : o->h;
}

/* The encoded bytes of b's row i (a file, or a member of a tar shard); on failure
 * its cause, naming the row. */
static r50_status read_row(r50_prefetch *p, const r50_batch *b, int i, uint8_t **data,
                           size_t *len, r50_error *err) {
  const int64_t row = b->rows[i];
  if (p->ds->n_shards)
    return r50_tar_read(p->ds, row, &p->tar, (uint64_t)1 << 30, data, len, err);
  char path[4096];
  r50_dataset_path(p->ds, row, path, sizeof path);
  return r50_image_read_named(path, r50_dataset_name(p->ds, row), data, len, err);
}

/* Row i of b from its bytes (s: how reading them went, err its cause): decoded,
 * resized, prepared and cropped into b->x, or zeros, status -1 and the cause. full
 * holds (3, h, w) floats when cropping. */
static void prepare_row(const r50_prefetch *p, r50_batch *b, int i, int64_t epoch,
                        r50_status s, const uint8_t *data, size_t len, r50_error *err,
                        float *full) {
  const int64_t row = b->rows[i];
  const char *name = r50_dataset_name(p->ds, row);
  const size_t per = (size_t)3 * (size_t)out_w(&p->o) * (size_t)out_h(&p->o);
  float *dst = b->x + (size_t)i * per;
  if (!p->o.augment.crop)
    full = dst;
  r50_image img = {0};
  if (s == R50_OK)
    s = r50_image_decode(data, len, name, &p->o.decode, &img, err);
  if (s == R50_OK && p->o.no_resize && (img.width != p->o.w || img.height != p->o.h))
    s = r50_fail(
        err, R50_ERR_FORMAT,
        "%s: %dx%d, but with --size none every image must be %dx%d, as the first one of "
        "%dx%d or more",
        name, img.width, img.height, p->o.w, p->o.h, R50_MIN_SIZE, R50_MIN_SIZE);
  if (s == R50_OK)
    s = r50_prepare(&img, p->o.w, p->o.h, full, err);
  r50_image_free(&img);
  if (s == R50_OK && p->o.augment.crop) {
    int y0, x0, mirror;
    r50_augment_window(&p->o.augment, epoch, row, p->o.w, p->o.h, &y0, &x0, &mirror);
    r50_crop_chw(full, p->o.w, p->o.h, y0, x0, p->o.augment.crop, mirror, dst);
  }
  b->status[i] = s == R50_OK ? 1 : -1;
  b->errors[i][0] = 0;
  if (s != R50_OK) {
    cause_first(err->msg, name, b->errors[i], R50_ERROR_LEN);
    memset(dst, 0, per * sizeof(float));
  }
}

/* Rows are read first, in order (files, or a tar shard's stream), then decoded on
 * several threads: decoding on pop, or with more than one decode thread. */
static int split(const r50_prefetch_opts *o) {
  return o->decode_on_pop || o->decode_threads > 1;
}

static void finish(r50_prefetch *p, int k);

/* The producer's share of batch slot k: every row read and prepared; or read in order,
 * then prepared on decode_threads threads, or (decoding on pop) only read, its bytes
 * kept for r50_prefetch_pop. */
static void produce(r50_prefetch *p, int k) {
  r50_batch *b = &p->bufs[k];
  raw_rows *raw = &p->raw[k];
  for (int i = 0; i < b->n; i++) {
    uint8_t *data = NULL;
    size_t len = 0;
    r50_error err = {0};
    r50_status s = read_row(p, b, i, &data, &len, &err);
    if (split(&p->o)) {
      raw->data[i] = data, raw->len[i] = len, raw->status[i] = s;
      if (s != R50_OK)
        raw->err[i] = err;
      continue;
    }
    prepare_row(p, b, i, raw->epoch, s, data, len, &err, p->full);
    free(data);
  }
  if (split(&p->o) && !p->o.decode_on_pop)
    finish(p, k);
}

/* The read rows of slot k prepared on decode_threads threads (of the caller of pop,
 * or of the producer). */
static void finish(r50_prefetch *p, int k) {
  r50_batch *b = &p->bufs[k];
  raw_rows *raw = &p->raw[k];
  const size_t full_floats = p->o.augment.crop ? (size_t)3 * p->o.w * p->o.h : 0;
  const int threads = p->o.decode_threads > 1 ? p->o.decode_threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int i = 0; i < b->n; i++) {
    float *full = p->full ? p->full + (size_t)omp_get_thread_num() * full_floats : NULL;
    prepare_row(p, b, i, raw->epoch, raw->status[i], raw->data[i], raw->len[i],
                &raw->err[i], full);
    free(raw->data[i]);
    raw->data[i] = NULL;
  }
}

/* Under the lock: the next batch to produce into b (rows, n, epoch), or 0 if none
 * yet. */
static int next_batch(r50_prefetch *p, r50_batch *b, int64_t *epoch) {
  while (p->next_range < p->n_ranges) {
    range *r = &p->ranges[p->next_range];
    int64_t left = r->row0 + r->n - p->next_row;
    if (r->rows && left > 0) { /* a listed batch: all of it */
      memcpy(b->rows, r->rows, (size_t)r->n * sizeof *b->rows);
      b->n = (int)r->n;
      b->row0 = r->rows[0];
      *epoch = r->epoch;
      p->next_row = r->row0 + r->n;
      return 1;
    }
    if (left <= 0) {
      free(r->rows);
      r->rows = NULL;
      p->next_range++;
      if (p->next_range < p->n_ranges)
        p->next_row = p->ranges[p->next_range].row0;
      continue;
    }
    b->row0 = p->next_row;
    b->n = left < p->o.batch ? (int)left : p->o.batch;
    for (int i = 0; i < b->n; i++)
      b->rows[i] = b->row0 + i;
    *epoch = r->epoch;
    p->next_row += b->n;
    return 1;
  }
  return 0;
}

static void *producer(void *arg) {
  r50_prefetch *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    int have = 0, k = 0;
    while (!p->stop) {
      k = (int)(p->produced % p->nbuf);
      if (p->produced - p->released < p->nbuf &&
          next_batch(p, &p->bufs[k], &p->raw[k].epoch)) {
        have = 1;
        break;
      }
      if (p->closed && p->next_range >= p->n_ranges)
        break;
      pthread_cond_wait(&p->cv, &p->mu);
    }
    if (!have)
      break;
    pthread_mutex_unlock(&p->mu);
    produce(p, k);
    pthread_mutex_lock(&p->mu);
    p->produced++;
    pthread_cond_broadcast(&p->cv);
  }
  p->closed = 1;
  p->next_range = p->n_ranges;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void free_bufs(r50_prefetch *p) {
  for (int i = 0; p->bufs && i < p->nbuf; i++) {
    if (p->bufs[i].x)
      (p->o.host_free ? p->o.host_free : free)(p->bufs[i].x);
    free(p->bufs[i].rows);
    free(p->bufs[i].status);
    free(p->bufs[i].errors);
  }
  for (int i = 0; p->raw && i < p->nbuf; i++) {
    for (int r = 0; p->raw[i].data && r < p->o.batch; r++)
      free(p->raw[i].data[r]);
    free(p->raw[i].data);
    free(p->raw[i].len);
    free(p->raw[i].status);
    free(p->raw[i].err);
  }
  free(p->raw);
  free(p->bufs);
  free(p->full);
  r50_tar_cursor_free(p->tar);
}

r50_status r50_prefetch_new(const r50_dataset *ds, const r50_prefetch_opts *o,
                            r50_prefetch **out, r50_error *err) {
  R50_ASSERT(o->batch >= 1 && o->w > 0 && o->h > 0);
  R50_ASSERT(o->augment.crop <= o->w && o->augment.crop <= o->h);
  r50_prefetch *p = calloc(1, sizeof *p);
  if (!p)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  p->ds = ds;
  p->o = *o;
  p->nbuf = (o->depth > 0 ? o->depth : 1) + 1;
  p->bufs = calloc((size_t)p->nbuf, sizeof *p->bufs);
  p->raw = calloc((size_t)p->nbuf, sizeof *p->raw);
  size_t per = (size_t)3 * (size_t)out_w(o) * (size_t)out_h(o);
  const int threads = o->decode_threads > 0 ? o->decode_threads : 1;
  if (o->augment.crop &&
      !(p->full = malloc((size_t)threads * 3 * o->w * o->h * sizeof(float)))) {
    free(p->bufs);
    free(p->raw);
    free(p);
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; p->bufs && p->raw && i < p->nbuf; i++) {
    raw_rows *raw = &p->raw[i];
    p->bufs[i].x =
        (o->host_alloc ? o->host_alloc : malloc)((size_t)o->batch * per * sizeof(float));
    p->bufs[i].rows = malloc((size_t)o->batch * sizeof(int64_t));
    p->bufs[i].status = malloc((size_t)o->batch);
    p->bufs[i].errors = malloc((size_t)o->batch * R50_ERROR_LEN);
    if (!p->bufs[i].x || !p->bufs[i].rows || !p->bufs[i].status || !p->bufs[i].errors)
      break;
    if (split(o)) {
      raw->data = calloc((size_t)o->batch, sizeof *raw->data);
      raw->len = calloc((size_t)o->batch, sizeof *raw->len);
      raw->status = calloc((size_t)o->batch, sizeof *raw->status);
      raw->err = calloc((size_t)o->batch, sizeof *raw->err);
      if (!raw->data || !raw->len || !raw->status || !raw->err)
        break;
    }
    if (i == p->nbuf - 1) {
      pthread_mutex_init(&p->mu, NULL);
      pthread_cond_init(&p->cv, NULL);
      if (pthread_create(&p->thread, NULL, producer, p) == 0) {
        *out = p;
        return R50_OK;
      }
    }
  }
  int nbuf = p->nbuf;
  free_bufs(p);
  free(p);
  return r50_fail(err, R50_ERR_NOMEM,
                  "out of memory for %d prepared batches of %d images", nbuf, o->batch);
}

/* Under the lock: appends a work item. */
static r50_status push_item(r50_prefetch *p, range item, r50_error *err) {
  if (p->n_ranges == p->cap_ranges) {
    int64_t cap = p->cap_ranges ? 2 * p->cap_ranges : 64;
    range *r = realloc(p->ranges, (size_t)cap * sizeof *r);
    if (!r)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    p->ranges = r;
    p->cap_ranges = cap;
  }
  if (p->next_range == p->n_ranges)
    p->next_row = item.row0;
  p->ranges[p->n_ranges++] = item;
  pthread_cond_broadcast(&p->cv);
  return R50_OK;
}

r50_status r50_prefetch_push(r50_prefetch *p, int64_t row0, int64_t n, r50_error *err) {
  pthread_mutex_lock(&p->mu);
  r50_status s = push_item(p, (range){row0, n, NULL, 0}, err);
  pthread_mutex_unlock(&p->mu);
  return s;
}

r50_status r50_prefetch_push_rows(r50_prefetch *p, const int64_t *rows, int n,
                                  int64_t epoch, r50_error *err) {
  R50_ASSERT(n >= 1 && n <= p->o.batch);
  int64_t *copy = malloc((size_t)n * sizeof *copy);
  if (!copy)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  memcpy(copy, rows, (size_t)n * sizeof *copy);
  pthread_mutex_lock(&p->mu);
  /* row0 counts items, not rows, for listed batches: any increasing origin works */
  int64_t origin =
      p->n_ranges ? p->ranges[p->n_ranges - 1].row0 + p->ranges[p->n_ranges - 1].n : 0;
  r50_status s = push_item(p, (range){origin, n, copy, epoch}, err);
  pthread_mutex_unlock(&p->mu);
  if (s != R50_OK)
    free(copy);
  return s;
}

void r50_prefetch_close(r50_prefetch *p) {
  pthread_mutex_lock(&p->mu);
  p->closed = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

r50_batch *r50_prefetch_pop(r50_prefetch *p) {
  pthread_mutex_lock(&p->mu);
  while (p->consumed == p->produced && !(p->closed && p->next_range >= p->n_ranges))
    pthread_cond_wait(&p->cv, &p->mu);
  int k = -1;
  if (p->consumed < p->produced)
    k = (int)(p->consumed++ % p->nbuf);
  pthread_mutex_unlock(&p->mu);
  if (k < 0)
    return NULL;
  if (p->o.decode_on_pop)
    finish(p, k);
  return &p->bufs[k];
}

void r50_prefetch_release(r50_prefetch *p, r50_batch *b) {
  (void)b;
  pthread_mutex_lock(&p->mu);
  p->released++;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void r50_prefetch_free(r50_prefetch *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free_bufs(p);
  for (int64_t i = 0; i < p->n_ranges; i++)
    free(p->ranges[i].rows);
  free(p->ranges);
  free(p);
}

/*
 * prefetch.c — one producer thread, a FIFO of row ranges, and a ring of `depth + 1`
 * batch buffers: the producer fills free buffers in order, the consumer pops them in
 * the same order, so rows come back in the order they were pushed.
 */
#include "prefetch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

typedef struct range {
  int64_t row0, n;
} range;

struct r50_prefetch {
  const r50_dataset *ds;
  r50_prefetch_opts o;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  range *ranges;                                      /* FIFO of pushed ranges */
  int64_t n_ranges, cap_ranges, next_range, next_row; /* producer position */
  r50_batch *bufs;                                    /* ring of nbuf batches */
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

static void prepare_row(r50_prefetch *p, r50_batch *b, int i) {
  char path[4096];
  const int64_t row = b->row0 + i;
  const char *name = p->ds->paths[row];
  const size_t per = (size_t)3 * (size_t)p->o.w * (size_t)p->o.h;
  float *dst = b->x + (size_t)i * per;
  r50_dataset_path(p->ds, row, path, sizeof path);
  r50_image img = {0};
  r50_error err = {0};
  r50_status s = r50_image_load_named(path, name, &p->o.decode, &img, &err);
  if (s == R50_OK && p->o.no_resize && (img.width != p->o.w || img.height != p->o.h))
    s = r50_fail(
        &err, R50_ERR_FORMAT,
        "%s: %dx%d, but with --size none every image must be %dx%d like the first", name,
        img.width, img.height, p->o.w, p->o.h);
  if (s == R50_OK)
    s = r50_prepare(&img, p->o.w, p->o.h, dst, &err);
  r50_image_free(&img);
  b->status[i] = s == R50_OK ? 1 : -1;
  b->errors[i][0] = 0;
  if (s != R50_OK) {
    cause_first(err.msg, name, b->errors[i], R50_ERROR_LEN);
    memset(dst, 0, per * sizeof(float));
  }
}

/* Under the lock: the next [row0, n) batch to produce, or 0 if none yet. */
static int next_batch(r50_prefetch *p, int64_t *row0, int *n) {
  while (p->next_range < p->n_ranges) {
    range *r = &p->ranges[p->next_range];
    int64_t left = r->row0 + r->n - p->next_row;
    if (left <= 0) {
      p->next_range++;
      if (p->next_range < p->n_ranges)
        p->next_row = p->ranges[p->next_range].row0;
      continue;
    }
    *row0 = p->next_row;
    *n = left < p->o.batch ? (int)left : p->o.batch;
    p->next_row += *n;
    return 1;
  }
  return 0;
}

static void *producer(void *arg) {
  r50_prefetch *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    int64_t row0 = 0;
    int n = 0, have = 0;
    while (!p->stop) {
      if (p->produced - p->released < p->nbuf && next_batch(p, &row0, &n)) {
        have = 1;
        break;
      }
      if (p->closed && p->next_range >= p->n_ranges)
        break;
      pthread_cond_wait(&p->cv, &p->mu);
    }
    if (!have)
      break;
    r50_batch *b = &p->bufs[p->produced % p->nbuf];
    pthread_mutex_unlock(&p->mu);
    b->row0 = row0;
    b->n = n;
    for (int i = 0; i < n; i++)
      prepare_row(p, b, i);
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
    free(p->bufs[i].x);
    free(p->bufs[i].status);
    free(p->bufs[i].errors);
  }
  free(p->bufs);
}

r50_status r50_prefetch_new(const r50_dataset *ds, const r50_prefetch_opts *o,
                            r50_prefetch **out, r50_error *err) {
  R50_ASSERT(o->batch >= 1 && o->w > 0 && o->h > 0);
  r50_prefetch *p = calloc(1, sizeof *p);
  if (!p)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  p->ds = ds;
  p->o = *o;
  p->nbuf = (o->depth > 0 ? o->depth : 1) + 1;
  p->bufs = calloc((size_t)p->nbuf, sizeof *p->bufs);
  size_t per = (size_t)3 * (size_t)o->w * (size_t)o->h;
  for (int i = 0; p->bufs && i < p->nbuf; i++) {
    p->bufs[i].x = malloc((size_t)o->batch * per * sizeof(float));
    p->bufs[i].status = malloc((size_t)o->batch);
    p->bufs[i].errors = malloc((size_t)o->batch * R50_ERROR_LEN);
    if (!p->bufs[i].x || !p->bufs[i].status || !p->bufs[i].errors)
      break;
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

r50_status r50_prefetch_push(r50_prefetch *p, int64_t row0, int64_t n, r50_error *err) {
  pthread_mutex_lock(&p->mu);
  if (p->n_ranges == p->cap_ranges) {
    int64_t cap = p->cap_ranges ? 2 * p->cap_ranges : 64;
    range *r = realloc(p->ranges, (size_t)cap * sizeof *r);
    if (!r) {
      pthread_mutex_unlock(&p->mu);
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    }
    p->ranges = r;
    p->cap_ranges = cap;
  }
  if (p->next_range == p->n_ranges)
    p->next_row = row0;
  p->ranges[p->n_ranges++] = (range){row0, n};
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return R50_OK;
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
  r50_batch *b = NULL;
  if (p->consumed < p->produced)
    b = &p->bufs[p->consumed++ % p->nbuf];
  pthread_mutex_unlock(&p->mu);
  return b;
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
  free(p->ranges);
  free(p);
}

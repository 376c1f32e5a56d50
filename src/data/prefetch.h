/*
 * prefetch.h — the decode pipeline: a background thread reads, decodes and prepares
 * the next batches while the caller runs the network on the current one.
 *
 * Rule: a bad image never stops a batch — its row gets status -1, zero pixels and the
 * decoder's message; every other row is prepared as usual.
 */
#ifndef R50_PREFETCH_H
#define R50_PREFETCH_H

#include <stdint.h>

#include "augment.h"
#include "dataset.h"
#include "r50.h"

#define R50_ERROR_LEN 256

typedef struct r50_batch {
  int64_t row0;  /* rows [row0, row0 + n) of the dataset (pushed as a range) */
  int64_t *rows; /* (n) the dataset rows, in order (pushed as a range or a list) */
  int n;
  float *x;       /* (n, 3, h, w) prepared input (crop x crop when cropping) */
  int8_t *status; /* (n) 1 ready, -1 failed */
  char (*errors)[R50_ERROR_LEN]; /* (n) cause of each failure, else "" */
} r50_batch;

typedef struct r50_prefetch_opts {
  int batch;     /* rows per batch */
  int w, h;      /* prepared size */
  int no_resize; /* images must already be w x h (--size none) */
  r50_decode_opts decode;
  int depth; /* batches prepared ahead (>= 1) */
  /* Threads that decode and prepare a batch (OpenMP; 0 is 1). With decode_on_pop the
   * producer thread only reads the files and r50_prefetch_pop decodes each batch on
   * decode_threads threads of its caller (a CPU rank, whose compute fills its CPUs:
   * see prefetch.c); without, the producer decodes ahead on its own threads (a GPU
   * rank, whose CPUs are free while the GPU computes). */
  int decode_threads;
  int decode_on_pop;
  /* The prepared batches' memory: NULL, malloc and free; a GPU rank's page-locked
   * memory makes their copies to the device direct DMA. */
  void *(*host_alloc)(size_t bytes);
  void (*host_free)(void *p);
  r50_augment augment; /* crop (and flip) of the prepared w x h image; none: as is */
} r50_prefetch_opts;

typedef struct r50_prefetch r50_prefetch;

/* Starts the thread. ds must outlive the pipeline. */
r50_status r50_prefetch_new(const r50_dataset *ds, const r50_prefetch_opts *o,
                            r50_prefetch **out, r50_error *err);
/* Queues rows [row0, row0 + n) to be prepared, in batches, in order. */
r50_status r50_prefetch_push(r50_prefetch *p, int64_t row0, int64_t n, r50_error *err);
/* Queues one batch of the n (<= batch) listed rows, in that order; `epoch` seeds their
 * random crops and flips. */
r50_status r50_prefetch_push_rows(r50_prefetch *p, const int64_t *rows, int n,
                                  int64_t epoch, r50_error *err);
/* No more rows will be pushed. */
void r50_prefetch_close(r50_prefetch *p);
/* The next prepared batch, in push order; NULL when closed and drained. With
 * decode_on_pop it is decoded here. */
r50_batch *r50_prefetch_pop(r50_prefetch *p);
/* Returns a popped batch's buffers to the pipeline. */
void r50_prefetch_release(r50_prefetch *p, r50_batch *b);
/* Stops the thread (dropping queued work) and frees everything; NULL is a no-op. */
void r50_prefetch_free(r50_prefetch *p);

#endif

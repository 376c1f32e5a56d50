/*
 * extract_job.h — `r50worker extract` and `predict` as an MPI job: rank 0 lists the
 * dataset, ranks take chunks dynamically, prepare the next batch on a thread while the
 * current one runs, and write rows into one parallel HDF5 file.
 *
 * Exit codes: 0 done (failed images are listed, and kept in /errors), or paused
 * by SIGUSR1 after saving what was finished; 1 error; 2 usage; 3 no image could be
 * read; 130/143 stopped by SIGINT/SIGTERM after saving what was finished. A stopped or
 * paused job continues with --resume.
 */
#ifndef R50_EXTRACT_JOB_H
#define R50_EXTRACT_JOB_H

#include "dist.h"
#include "r50.h"

#define R50_EXIT_NO_IMAGE 3

typedef struct r50_job {
  const char *dataset, *root, *output; /* output NULL: predict without -o */
  const char *const *images; /* n_images > 1: DATASET given as that many image paths
                                (dataset then names them in messages) */
  int n_images;
  int output_scratch; /* output is predict's scratch file (no -o): removed at the end */
  const char *layers[R50_MAX_LAYERS];
  int n_layers;
  int size_w, size_h; /* 0 0: --size none */
  int batch, chunk;   /* images per forward, rows per work chunk (0: auto) */
  int resume, overwrite;
  const char *const *reuse; /* --reuse OLD.h5 (n_reuse of them): copy the rows each
                               holds done that are still to do, in turn (h5reuse.h) */
  int n_reuse;
  r50_decode_opts decode;
  r50_config model;       /* arch, fb, pretrained, seed, threads */
  const char *model_name; /* what --model said: "none", "auto" or a path */
  int predict, oversample, top;
  int float16;        /* --dtype float16 */
  const char *labels; /* predict: synset_words.txt */
} r50_job;

/* Runs the job on every rank; returns the process exit code (the same on all ranks). */
int r50_job_run(const r50_dist *d, const r50_job *job);

#endif

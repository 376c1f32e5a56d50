/*
 * store_bench.c — what a feature file for N rows costs to create, with no inference:
 * rank 0 makes the whole file (paths, labels, pending statuses, the feature datasets
 * of pool5, their chunk indexes, the dimension scales), then every rank opens it with
 * MPI-IO and writes the features and status of a sample of rows, and rank 0 writes
 * the failed-row table (1% of the sample). Prints the time of each step, the file's
 * apparent size, the bytes it really takes on disk once created and their excess over
 * the rows' own bytes (paths, labels, statuses): the metadata overhead.
 *
 * The paths are fixed-length strings as wide as the longest, in deflated chunks: LONG
 * (default 0) makes row N/2's path LONG bytes, to show what one odd name costs.
 *
 * usage: mpirun -np R store_bench OUT.h5 [N (default 1e8)] [SAMPLE (default 10000)]
 *        [float32|float16 (default float16)] [LONG (default 0)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "clock.h"
#include "dataset.h"
#include "dist.h"
#include "h5store.h"

static void die(const r50_dist *d, const char *what, const r50_error *err) {
  fprintf(stderr, "store_bench: rank %d: %s: %s\n", d->rank, what, err->msg);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

/* N rows named like img2dataset's: SHARD.tar/KEY, 10,000 samples a shard; row N/2's
 * key padded to a path of `long_len` bytes where that is longer. */
static void make_rows(r50_dataset *ds, int64_t n, int long_len) {
  memset(ds, 0, sizeof *ds);
  ds->root = strdup(".");
  r50_error err = {0};
  for (int64_t i = 0; i < n; i++) {
    char p[4096];
    int k =
        snprintf(p, sizeof p, "%05lld.tar/%09lld", (long long)(i / 10000), (long long)i);
    for (; i == n / 2 && k < long_len && k < (int)sizeof p - 1; k++)
      p[k] = 'x';
    if (r50_dataset_push(ds, p, (size_t)k, (int32_t)(i % 1000), &err) != R50_OK) {
      fprintf(stderr, "store_bench: %s\n", err.msg);
      exit(1);
    }
  }
}

int main(int argc, char **argv) {
  r50_dist d;
  r50_error err = {0};
  if (r50_dist_init(&argc, &argv, &d, &err) != R50_OK) {
    fprintf(stderr, "store_bench: %s\n", err.msg);
    return 1;
  }
  if (argc < 2) {
    if (d.rank == 0)
      fprintf(stderr,
              "usage: mpirun -np R store_bench OUT.h5 [N] [SAMPLE] [float32|float16]\n");
    r50_dist_finalize(&d);
    return 2;
  }
  const char *out = argv[1];
  const int64_t n = argc > 2 ? (int64_t)atof(argv[2]) : 100000000;
  const int64_t sample = argc > 3 ? (int64_t)atof(argv[3]) : 10000;
  const int half = argc > 4 ? !strcmp(argv[4], "float16") : 1;
  const int long_len = argc > 5 ? atoi(argv[5]) : 0;
  r50_store_meta m = {.command = "extract",
                      .arch = 50,
                      .model = "none",
                      .model_sha256 = "0",
                      .size_w = 224,
                      .size_h = 224,
                      .max_pixels = 178956970,
                      .n_layers = 1,
                      .float16 = half};
  m.layers[0] = "pool5";
  m.ndim[0] = 1;
  m.shape[0][0] = 2048;
  snprintf(m.dataset_sha256, sizeof m.dataset_sha256, "%064d", 0);
  double t0 = r50_now_s();
  r50_dataset ds = {0};
  double rows_stored = 0; /* rank 0: the paths as stored, labels and statuses */
  if (d.rank == 0) {
    make_rows(&ds, n, long_len);
    printf("store_bench: %lld rows (paths like %s), pool5 %s, %d ranks\n", (long long)n,
           r50_dataset_name(&ds, n - 1), half ? "float16" : "float32", d.size);
    printf("  listing them in memory:            %8.2f s\n", r50_now_s() - t0);
    fflush(stdout);
    unlink(out);
    double t = r50_now_s();
    if (r50_store_create(out, &ds, &m, 1, &err) != R50_OK)
      die(&d, "create", &err);
    printf("  creating the file (rank 0):        %8.2f s\n", r50_now_s() - t);
    struct stat st;
    stat(out, &st);
    const double disk = (double)st.st_blocks * 512.0;
    double paths_stored = 0, width = 0;
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dp = f >= 0 ? H5Dopen2(f, "/images/path", H5P_DEFAULT) : -1;
    hid_t pt = dp >= 0 ? H5Dget_type(dp) : -1;
    if (pt >= 0) {
      paths_stored = (double)H5Dget_storage_size(dp);
      width = (double)H5Tget_size(pt);
      H5Tclose(pt);
    }
    if (dp >= 0)
      H5Dclose(dp);
    if (f >= 0)
      H5Fclose(f);
    const double rows = rows_stored = paths_stored + (double)n * (4 + 1);
    printf("  /images/path: %.0f bytes wide, %.4g bytes padded, %.4g bytes stored "
           "(deflated)\n",
           width, width * (double)n, paths_stored);
    printf(
        "  created: on disk %.4g bytes; the rows' paths (as stored), labels and statuses "
        "%.4g bytes; metadata %.4g bytes (%.3f bytes a row, %.2f%% of the rows' own "
        "bytes)\n",
        disk, rows, disk - rows, (disk - rows) / (double)n, 100.0 * (disk - rows) / rows);
    fflush(stdout);
  }
  MPI_Barrier(d.comm);
  double t = r50_now_s();
  r50_store *s;
  if (r50_store_open(&d, out, &m, &s, &err) != R50_OK)
    die(&d, "open", &err);
  /* this rank's share of `sample` rows spread over the file */
  float *row = calloc(2048, sizeof *row);
  for (int i = 0; i < 2048; i++)
    row[i] = (float)i / 2048.0f;
  const float *feat[1] = {row};
  int64_t mine = 0;
  for (int64_t k = d.rank; k < sample; k += d.size, mine++) {
    const int64_t r = (int64_t)((double)k * (double)n / (double)sample);
    int8_t st = k % 100 == 0 ? -1 : 1;
    if (r50_store_write_rows(s, r, 1, feat, &st, &err) != R50_OK)
      die(&d, "write", &err);
  }
  if (r50_store_close(s, &err) != R50_OK)
    die(&d, "close", &err);
  MPI_Barrier(d.comm);
  if (d.rank == 0) {
    printf("  open, %lld sampled rows, close:     %8.2f s\n", (long long)sample,
           r50_now_s() - t);
    t = r50_now_s();
    int64_t nf = (sample + 99) / 100;
    int64_t *rows = malloc((size_t)nf * sizeof *rows);
    char **msgs = malloc((size_t)nf * sizeof *msgs);
    char msg[] = "not a JPEG or PNG file: 00000.tar/000000000";
    for (int64_t k = 0; k < nf; k++) {
      rows[k] = (int64_t)((double)(k * 100) * (double)n / (double)sample);
      msgs[k] = msg;
    }
    if (r50_store_put_errors(out, rows, msgs, nf, &err) != R50_OK)
      die(&d, "errors", &err);
    printf("  the failed-row table (%lld rows):   %8.2f s\n", (long long)nf,
           r50_now_s() - t);
    struct stat st;
    stat(out, &st);
    const double disk = (double)st.st_blocks * 512.0;
    const double payload = rows_stored + (double)sample * 2048.0 * (half ? 2 : 4);
    printf(
        "  apparent size %.3g bytes (%.1f GiB, the features' room); on disk %.3g bytes "
        "(%.2f GiB)\n",
        (double)st.st_size, st.st_size / 1073741824.0, disk, disk / 1073741824.0);
    printf("  after the sample: payload (paths, labels, statuses, sampled features) %.4g "
           "bytes; the rest %.4g bytes (file-system blocks of scattered rows)\n",
           payload, disk - payload);
    printf("  total %.2f s\n", r50_now_s() - t0);
    r50_dataset_free(&ds);
    free(rows);
    free(msgs);
  }
  free(row);
  r50_dist_finalize(&d);
  return 0;
}

/*
 * list_bench.c — what listing a dataset and sharing it with every rank costs: rank 0
 * lists SPEC (a folder walk, a list file, shards), then the rows reach every rank, once
 * as one shared copy per node (what extract and finetune do) and once as a private
 * copy per rank (what --val gets, and the fallback). For each way it prints the time
 * and every rank's memory growth: its private bytes and its proportional share of the
 * shared ones (Private_* and Pss of /proc/self/smaps_rollup).
 *
 * usage: mpirun -np R list_bench SPEC
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dataset.h"
#include "dist.h"
#include "share_list.h"

/* Private and Pss bytes of this process. */
static void memory(double *priv, double *pss) {
  *priv = *pss = 0;
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    long long kb;
    if (sscanf(line, "Private_Clean: %lld kB", &kb) == 1 ||
        sscanf(line, "Private_Dirty: %lld kB", &kb) == 1)
      *priv += (double)kb * 1024.0;
    else if (sscanf(line, "Pss: %lld kB", &kb) == 1)
      *pss = (double)kb * 1024.0;
  }
  if (f)
    fclose(f);
}

static void one_way(const r50_dist *d, const char *spec, int writable) {
  double p0, s0, p1, s1;
  malloc_trim(0);
  memory(&p0, &s0);
  MPI_Barrier(d->comm);
  double t = r50_now_s();
  r50_dataset ds;
  r50_error err = {0};
  if (r50_dataset_share(d, &spec, 1, NULL, writable, &ds, &err) != R50_OK) {
    fprintf(stderr, "list_bench: %s\n", err.msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(d->comm);
  const double dt = r50_now_s() - t;
  malloc_trim(0); /* rank 0's listing buffers, freed, go back to the system */
  memory(&p1, &s1);
  double mine[2] = {p1 - p0, s1 - s0},
         *all = malloc(2 * sizeof(double) * (size_t)d->size);
  MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, d->comm);
  if (d->rank == 0) {
    printf("%s: %lld rows (%.1f MB of paths) listed and shared in %.2f s\n",
           writable ? "private copy on every rank" : "one shared copy per node",
           (long long)ds.n, (double)ds.names_len / 1e6, dt);
    double total = 0;
    for (int i = 0; i < d->size; i++) {
      printf("  rank %d: +%.1f MB private, +%.1f MB proportional (Pss)\n", i,
             all[2 * i] / 1e6, all[2 * i + 1] / 1e6);
      total += all[2 * i + 1];
    }
    printf("  all ranks: +%.1f MB (Pss), %.1f bytes a row\n", total / 1e6,
           ds.n ? total / (double)ds.n : 0.0);
    fflush(stdout);
  }
  free(all);
  r50_dataset_unshare(d, &ds);
}

int main(int argc, char **argv) {
  r50_dist d;
  r50_error err = {0};
  if (r50_dist_init(&argc, &argv, &d, &err) != R50_OK) {
    fprintf(stderr, "list_bench: %s\n", err.msg);
    return 1;
  }
  if (argc < 2) {
    if (d.rank == 0)
      fprintf(stderr, "usage: mpirun -np R list_bench SPEC\n");
    r50_dist_finalize(&d);
    return 2;
  }
  one_way(&d, argv[1], 0);
  one_way(&d, argv[1], 1);
  r50_dist_finalize(&d);
  return 0;
}

/*
 * share_list.c — rank 0 lists the dataset once and broadcasts it packed
 * (r50_dataset_pack); every rank unpacks it and the ranks compare digests, so a job
 * never runs with two ranks holding different lists.
 */
#include "share_list.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

r50_status r50_dataset_share(const r50_dist *d, const char *spec, const char *root,
                             r50_dataset *ds, r50_error *err) {
  char *buf = NULL;
  size_t len = 0;
  r50_status s = R50_OK;
  memset(ds, 0, sizeof *ds);
  if (d->rank == 0) {
    s = r50_dataset_open(spec, root, ds, err);
    if (s == R50_OK)
      s = r50_dataset_pack(ds, &buf, &len, err);
  }
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK)
    s = r50_dist_bcast_bytes(d, &buf, &len, err);
  if (s == R50_OK && d->rank != 0)
    s = r50_dataset_unpack(buf, len, ds, err);
  free(buf);
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK) { /* the list each rank holds is the one rank 0 listed */
    char mine[65], first[65];
    r50_dataset_digest(ds, mine);
    memcpy(first, mine, sizeof first);
    int rc = MPI_Bcast(first, sizeof first, MPI_CHAR, 0, d->comm);
    if (rc != MPI_SUCCESS)
      s = r50_mpi_fail(d, rc, "MPI_Bcast(digest)", __FILE__, __LINE__, err);
    else if (strcmp(mine, first))
      s = r50_fail(
          err, R50_ERR_FORMAT,
          "the dataset list received differs from rank 0's (digest %.12s, rank 0 "
          "%.12s)",
          mine, first);
    s = r50_dist_agree(d, s, err);
  }
  if (s != R50_OK)
    r50_dataset_free(ds);
  return s;
}

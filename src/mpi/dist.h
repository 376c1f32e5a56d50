/*
 * dist.h — the MPI job context: ranks, host names, agreeing on errors, aborting.
 *
 * Rule (nccl-tests style): a collective step ends with r50_dist_agree, so every rank
 * leaves it knowing whether any rank failed, and with that rank's message. A rank that
 * dies takes the job down through the MPI runtime.
 */
#ifndef R50_DIST_H
#define R50_DIST_H

#include <mpi.h>

#include "r50.h"

typedef struct r50_dist {
  MPI_Comm comm;
  int rank, size;
  char host[64];
} r50_dist;

/* MPI_Init_thread (funneled) when MPI is not yet initialised; sets the log prefix. */
r50_status r50_dist_init(int *argc, char ***argv, r50_dist *d, r50_error *err);
void r50_dist_finalize(r50_dist *d);

/* Collective: the worst status over all ranks. If this rank succeeded but another
 * failed, err gets that rank's message prefixed with "rank K (host): ". */
r50_status r50_dist_agree(const r50_dist *d, r50_status s, r50_error *err);

/* Broadcasts a buffer of unknown length from rank 0 (others get a malloc'd copy). */
r50_status r50_dist_bcast_bytes(const r50_dist *d, char **buf, size_t *len, r50_error *err);

#endif

/*
 * dist.c — MPI start-up, error agreement, broadcasting a buffer.
 */
#include "dist.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

r50_status r50_dist_init(int *argc, char ***argv, r50_dist *d, r50_error *err) {
  int inited = 0, provided;
  MPI_Initialized(&inited);
  if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return r50_fail(err, R50_ERR_IO, "MPI_Init_thread failed");
  d->comm = MPI_COMM_WORLD;
  MPI_Comm_rank(d->comm, &d->rank);
  MPI_Comm_size(d->comm, &d->size);
  if (gethostname(d->host, sizeof d->host - 1) != 0)
    strcpy(d->host, "?");
  d->host[sizeof d->host - 1] = 0;
  r50_log_set_rank(d->rank, d->size);
  return R50_OK;
}

void r50_dist_finalize(r50_dist *d) {
  (void)d;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin)
    MPI_Finalize();
}

r50_status r50_dist_agree(const r50_dist *d, r50_status s, r50_error *err) {
  int mine[2] = {s != R50_OK ? (int)s : 0, d->rank}, worst[2];
  MPI_Allreduce(mine, worst, 1, MPI_2INT, MPI_MAXLOC, d->comm);
  if (worst[0] == 0)
    return R50_OK;
  char msg[sizeof err->msg] = "", host[sizeof d->host] = "";
  if (d->rank == worst[1]) {
    snprintf(msg, sizeof msg, "%s", err ? err->msg : "failed");
    snprintf(host, sizeof host, "%s", d->host);
  }
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, worst[1], d->comm);
  MPI_Bcast(host, (int)sizeof host, MPI_CHAR, worst[1], d->comm);
  if (s == R50_OK)
    r50_fail(err, (r50_status)worst[0], "rank %d (%s): %s", worst[1], host, msg);
  return (r50_status)worst[0];
}

r50_status r50_dist_bcast_bytes(const r50_dist *d, char **buf, size_t *len, r50_error *err) {
  unsigned long long n = d->rank == 0 ? *len : 0;
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, d->comm);
  int fail = 0;
  if (d->rank != 0) {
    *len = (size_t)n;
    *buf = malloc(n ? n : 1);
    fail = !*buf;
  }
  R50_TRY(r50_dist_agree(d, fail ? r50_fail(err, R50_ERR_NOMEM, "out of memory") : R50_OK,
                         err));
  for (size_t off = 0; off < n;) { /* MPI counts are int */
    int part = n - off > (1u << 30) ? 1 << 30 : (int)(n - off);
    MPI_Bcast(*buf + off, part, MPI_CHAR, 0, d->comm);
    off += (size_t)part;
  }
  return R50_OK;
}

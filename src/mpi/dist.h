/*
 * dist.h — the MPI job context: ranks, host names, errors that name them, agreeing on
 * errors.
 *
 * Rules (nccl-tests style): every MPI call goes through R50_MPI_CHECK, which turns a
 * failure into an r50_status naming the rank, host, call and file:line — the job's
 * communicator returns errors (MPI_ERRORS_RETURN) instead of aborting. A collective
 * step ends with r50_dist_agree, so every rank leaves it knowing whether any rank
 * failed, and with that rank's message. A rank that dies takes the job down through
 * the MPI runtime. Nothing here exits or aborts: that is the program's (cli/) call.
 */
#ifndef R50_DIST_H
#define R50_DIST_H

#include <mpi.h>

#include "r50.h"

typedef struct r50_dist {
  MPI_Comm comm; /* the job's: a duplicate of MPI_COMM_WORLD returning errors */
  int rank, size;
  int local_rank, local_size; /* among the ranks of this node (MPI_COMM_TYPE_SHARED) */
  /* The ranks of this node (this one among them) whose affinity masks share a CPU with
   * this rank's: 1 where mpirun or srun bound each rank to CPUs of its own, more where
   * it left them unbound (--bind-to none, MPICH's default) or bound to one socket. */
  int cpu_sharers;
  char host[64];
  int owns_mpi; /* MPI was initialised here, and is finalised here */
} r50_dist;

/* Fails with "rank K (HOST): CALL failed at FILE:LINE: <MPI's error string>". */
r50_status r50_mpi_fail(const r50_dist *d, int code, const char *call, const char *file,
                        int line, r50_error *err);

/* Evaluates an MPI call; on failure returns the r50_status from the caller. */
#define R50_MPI_CHECK(d, call, err)                                                      \
  do {                                                                                   \
    int r50_mpi_rc_ = (call);                                                            \
    if (r50_mpi_rc_ != MPI_SUCCESS)                                                      \
      return r50_mpi_fail((d), r50_mpi_rc_, #call, __FILE__, __LINE__, (err));           \
  } while (0)

/* MPI_Init_thread (funneled: only the thread that initialised MPI calls it; the level
 * granted is checked) when MPI is not yet initialised; the job's communicator; the
 * node's ranks and which of them share CPUs; the log prefix. */
r50_status r50_dist_init(int *argc, char ***argv, r50_dist *d, r50_error *err);
void r50_dist_finalize(r50_dist *d);

/* For cfg on R50_DEVICE_CUDA: this rank's GPU, local_rank % the GPUs visible (one rank
 * per GPU). */
void r50_dist_pick_gpu(const r50_dist *d, r50_config *cfg);

/* Collective: the worst status over all ranks. If this rank succeeded but another
 * failed, err gets that rank's message prefixed with "rank K (host): ". A failure of
 * the agreement itself is reported as such. */
r50_status r50_dist_agree(const r50_dist *d, r50_status s, r50_error *err);

/* Logs err's message as the job's error, once per job rather than once per rank: rank
 * 0 always logs; another rank stays silent when its message is one an agreement left
 * it whose words rank 0 logs too (another rank's failure relayed, the same failure as
 * rank 0's, or its own that rank 0 relays as "rank K (host): ..."), and logs its own
 * cause otherwise. */
void r50_dist_log_error(const r50_dist *d, const r50_error *err);

/* Collective: R50_OK when every rank's model computes at the same precision, else an
 * error naming both: bf16 asked of nodes of which some have no bf16 (or tf32 of GPU
 * and CPU ranks) would make an image's features, or a step's gradients, depend on the
 * rank that computed them. */
r50_status r50_dist_same_precision(const r50_dist *d, const r50_model *m, r50_error *err);

/* Broadcasts a buffer of unknown length from rank 0 (others get a malloc'd copy). */
r50_status r50_dist_bcast_bytes(const r50_dist *d, char **buf, size_t *len,
                                r50_error *err);

/* Collective: every rank's buffer (len bytes) concatenated in rank order on rank 0
 * (*all malloc'd, *all_len; NULL and 0 elsewhere). */
r50_status r50_dist_gather_bytes(const r50_dist *d, const char *buf, size_t len,
                                 char **all, size_t *all_len, r50_error *err);

/* Collective: rank 0's all (lens[r] bytes for rank r, in rank order; all and lens
 * read on rank 0 only) handed out, each rank getting its part in *mine (malloc'd) and
 * *mine_len. */
r50_status r50_dist_scatter_bytes(const r50_dist *d, const char *all, const size_t *lens,
                                  char **mine, size_t *mine_len, r50_error *err);

#endif

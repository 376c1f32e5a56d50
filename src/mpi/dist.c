/*
 * dist.c — MPI start-up, errors naming rank and host, error agreement, broadcasting a
 * buffer.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_AND */
#include "dist.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "hash.h"

r50_status r50_mpi_fail(const r50_dist *d, int code, const char *call, const char *file,
                        int line, r50_error *err) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS)
    snprintf(msg, sizeof msg, "MPI error %d", code);
  const char *base = strrchr(file, '/');
  return r50_fail(err, R50_ERR_IO, "rank %d (%s): %s failed at %s:%d: %s", d->rank,
                  d->host, call, base ? base + 1 : file, line, msg);
}

/* Collective over `node`: how many of its ranks may run on a CPU this rank may run on
 * (this one included). 1 where this rank's mask is unknown. */
static r50_status count_cpu_sharers(r50_dist *d, MPI_Comm node, r50_error *err) {
  cpu_set_t mine;
  if (sched_getaffinity(0, sizeof mine, &mine) != 0)
    CPU_ZERO(&mine); /* (shares nothing; still takes part) */
  cpu_set_t *all = malloc((size_t)d->local_size * sizeof *all);
  int ok = all != NULL, all_ok = 0;
  R50_MPI_CHECK(d, MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node), err);
  d->cpu_sharers = 1;
  if (!all_ok) { /* (a few bytes a rank: no rank is short of them in practice) */
    free(all);
    return R50_OK;
  }
  const int rc = MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine,
                               MPI_BYTE, node);
  if (rc != MPI_SUCCESS) {
    free(all);
    return r50_mpi_fail(d, rc, "MPI_Allgather", __FILE__, __LINE__, err);
  }
  int n = 0;
  for (int i = 0; i < d->local_size; i++) {
    cpu_set_t both;
    CPU_AND(&both, &mine, &all[i]);
    n += CPU_COUNT(&both) > 0;
  }
  free(all);
  d->cpu_sharers = n > 0 ? n : 1;
  return R50_OK;
}

r50_status r50_dist_init(int *argc, char ***argv, r50_dist *d, r50_error *err) {
  memset(d, 0, sizeof *d);
  d->comm = MPI_COMM_NULL;
  if (gethostname(d->host, sizeof d->host - 1) != 0)
    strcpy(d->host, "?");
  d->host[sizeof d->host - 1] = 0;
  int inited = 0, provided = MPI_THREAD_SINGLE;
  MPI_Initialized(&inited);
  if (!inited) {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return r50_fail(err, R50_ERR_IO, "%s: MPI_Init_thread failed", d->host);
    d->owns_mpi = 1;
  } else {
    MPI_Query_thread(&provided);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  if (provided < MPI_THREAD_FUNNELED)
    return r50_fail(
        err, R50_ERR_UNSUPPORTED,
        "rank %d (%s): the MPI library grants thread level %d, below "
        "MPI_THREAD_FUNNELED (the decode and lock threads never call MPI, but "
        "need a thread-safe runtime)",
        d->rank, d->host, provided);
  R50_MPI_CHECK(d, MPI_Comm_dup(MPI_COMM_WORLD, &d->comm), err);
  R50_MPI_CHECK(d, MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN), err);
  R50_MPI_CHECK(d, MPI_Comm_size(d->comm, &d->size), err);
  MPI_Comm node;
  R50_MPI_CHECK(
      d,
      MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node),
      err);
  MPI_Comm_rank(node, &d->local_rank);
  MPI_Comm_size(node, &d->local_size);
  r50_status s = count_cpu_sharers(d, node, err);
  MPI_Comm_free(&node);
  if (s != R50_OK)
    return s;
  r50_log_set_rank(d->rank, d->size);
  return R50_OK;
}

void r50_dist_pick_gpu(const r50_dist *d, r50_config *cfg) {
  if (cfg->device != R50_DEVICE_CUDA)
    return;
  const int count = r50_device_count(R50_DEVICE_CUDA);
  cfg->cuda_device = count > 0 ? d->local_rank % count : -1;
}

void r50_dist_finalize(r50_dist *d) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin)
    return;
  if (d->comm != MPI_COMM_NULL)
    MPI_Comm_free(&d->comm);
  if (d->owns_mpi)
    MPI_Finalize();
}

/* The message of this rank's last agreed failure when rank 0 logs it too (see
 * r50_dist_log_error), as a hash; 0: none. */
static uint64_t g_echo;

static uint64_t hash_msg(const char *m) { /* never 0 */
  const uint64_t h = r50_hash64(m, strlen(m));
  return h ? h : 1;
}

r50_status r50_dist_agree(const r50_dist *d, r50_status s, r50_error *err) {
  int mine[2] = {s != R50_OK ? (int)s : 0, d->rank}, worst[2];
  R50_MPI_CHECK(d, MPI_Allreduce(mine, worst, 1, MPI_2INT, MPI_MAXLOC, d->comm), err);
  if (worst[0] == 0)
    return R50_OK;
  char msg[sizeof err->msg] = "", host[sizeof d->host] = "";
  if (d->rank == worst[1]) {
    snprintf(msg, sizeof msg, "%s", err ? err->msg : "failed");
    snprintf(host, sizeof host, "%s", d->host);
  }
  R50_MPI_CHECK(d, MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, worst[1], d->comm), err);
  R50_MPI_CHECK(d, MPI_Bcast(host, (int)sizeof host, MPI_CHAR, worst[1], d->comm), err);
  if (s == R50_OK)
    r50_fail(err, (r50_status)worst[0], "rank %d (%s): %s", worst[1], host, msg);
  /* what rank 0 will log: a rank that relays another's failure, or whose own failure
   * is in rank 0's words (the same failure, or its own relayed), has nothing to add */
  char first[sizeof err->msg] = "";
  if (d->rank == 0)
    snprintf(first, sizeof first, "%s", err ? err->msg : "failed");
  R50_MPI_CHECK(d, MPI_Bcast(first, (int)sizeof first, MPI_CHAR, 0, d->comm), err);
  const uint64_t h =
      err ? hash_msg(err->msg) : 0; /* (an echo stays one when agreed again) */
  g_echo = d->rank != 0 && err && (s == R50_OK || strstr(first, err->msg) || h == g_echo)
               ? h
               : 0;
  return (r50_status)worst[0];
}

void r50_dist_log_error(const r50_dist *d, const r50_error *err) {
  if (d->rank != 0 && g_echo && hash_msg(err->msg) == g_echo)
    return;
  r50_log(R50_LOG_ERROR, "%s", err->msg);
}

r50_status r50_dist_same_precision(const r50_dist *d, const r50_model *m,
                                   r50_error *err) {
  const int mine = (int)r50_model_precision(m);
  int p[2] = {mine, -mine}; /* the largest and the smallest */
  R50_MPI_CHECK(d, MPI_Allreduce(MPI_IN_PLACE, p, 2, MPI_INT, MPI_MAX, d->comm), err);
  if (p[0] == -p[1])
    return R50_OK;
  r50_fail(err, R50_ERR_ARG,
           "the ranks run different precisions (%s on some, %s on others: their "
           "CPUs or GPUs differ), so the results would depend on the rank that "
           "computed them; pass --precision fp32, or run on alike nodes",
           r50_precision_name((r50_precision)p[0]),
           r50_precision_name((r50_precision)-p[1]));
  return r50_dist_agree(d, err ? err->status : R50_ERR_ARG, err); /* (logged once) */
}

r50_status r50_dist_bcast_bytes(const r50_dist *d, char **buf, size_t *len,
                                r50_error *err) {
  unsigned long long n = d->rank == 0 ? *len : 0;
  R50_MPI_CHECK(d, MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, d->comm), err);
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
    R50_MPI_CHECK(d, MPI_Bcast(*buf + off, part, MPI_CHAR, 0, d->comm), err);
    off += (size_t)part;
  }
  return R50_OK;
}

/* Moves len bytes between rank 0's root_buf and rank peer's peer_buf — to peer when
 * to_peer, else from it — in parts (MPI counts are int). Every rank calls it; those
 * two act (rank 0 with itself copies). */
static r50_status move_bytes(const r50_dist *d, int peer, int to_peer, char *root_buf,
                             char *peer_buf, size_t len, int tag, r50_error *err) {
  if (d->rank != 0 && d->rank != peer)
    return R50_OK;
  char *mine = d->rank == 0 ? root_buf : peer_buf;
  const int other = d->rank == 0 ? peer : 0, sending = (d->rank == 0) == !!to_peer;
  for (size_t off = 0; off < len;) {
    const int part = len - off > (1u << 30) ? 1 << 30 : (int)(len - off);
    int rc = MPI_SUCCESS;
    if (peer == 0)
      memmove((to_peer ? peer_buf : root_buf) + off,
              (to_peer ? root_buf : peer_buf) + off, (size_t)part);
    else if (sending)
      rc = MPI_Send(mine + off, part, MPI_CHAR, other, tag, d->comm);
    else
      rc = MPI_Recv(mine + off, part, MPI_CHAR, other, tag, d->comm, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
      return r50_mpi_fail(d, rc, sending ? "MPI_Send" : "MPI_Recv", __FILE__, __LINE__,
                          err);
    off += (size_t)part;
  }
  return R50_OK;
}

r50_status r50_dist_gather_bytes(const r50_dist *d, const char *buf, size_t len,
                                 char **all, size_t *all_len, r50_error *err) {
  *all = NULL;
  *all_len = 0;
  unsigned long long mine = len, *lens = NULL;
  int fail = d->rank == 0 && !(lens = calloc((size_t)d->size, sizeof *lens));
  R50_TRY(r50_dist_agree(d, fail ? r50_fail(err, R50_ERR_NOMEM, "out of memory") : R50_OK,
                         err));
  R50_MPI_CHECK(d,
                MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, lens, 1,
                           MPI_UNSIGNED_LONG_LONG, 0, d->comm),
                err);
  size_t total = 0;
  for (int i = 0; d->rank == 0 && i < d->size; i++)
    total += (size_t)lens[i];
  char *out = d->rank == 0 ? malloc(total ? total : 1) : NULL;
  fail = d->rank == 0 && !out;
  r50_status s = r50_dist_agree(
      d,
      fail ? r50_fail(err, R50_ERR_NOMEM, "out of memory gathering %zu bytes", total)
           : R50_OK,
      err);
  size_t at = 0;
  for (int src = 0; s == R50_OK && src < d->size; src++) {
    s = move_bytes(d, src, 0, d->rank == 0 ? out + at : NULL, (char *)buf,
                   d->rank == 0 ? (size_t)lens[src] : len, 77, err);
    at += d->rank == 0 ? (size_t)lens[src] : 0;
  }
  free(lens);
  if (s != R50_OK) {
    free(out);
    return s;
  }
  *all = out;
  *all_len = total;
  return R50_OK;
}

r50_status r50_dist_scatter_bytes(const r50_dist *d, const char *all, const size_t *lens,
                                  char **mine, size_t *mine_len, r50_error *err) {
  *mine = NULL;
  *mine_len = 0;
  unsigned long long *sizes = NULL, n = 0;
  int fail = d->rank == 0 && !(sizes = malloc((size_t)d->size * sizeof *sizes));
  for (int i = 0; sizes && i < d->size; i++)
    sizes[i] = lens[i];
  R50_TRY(r50_dist_agree(d, fail ? r50_fail(err, R50_ERR_NOMEM, "out of memory") : R50_OK,
                         err));
  int rc = MPI_Scatter(sizes, 1, MPI_UNSIGNED_LONG_LONG, &n, 1, MPI_UNSIGNED_LONG_LONG, 0,
                       d->comm);
  free(sizes);
  if (rc != MPI_SUCCESS)
    return r50_mpi_fail(d, rc, "MPI_Scatter", __FILE__, __LINE__, err);
  char *out = malloc(n ? (size_t)n : 1);
  R50_TRY(r50_dist_agree(
      d,
      out ? R50_OK
          : r50_fail(err, R50_ERR_NOMEM, "out of memory receiving %llu bytes", n),
      err));
  r50_status s = R50_OK;
  size_t at = 0;
  for (int dst = 0; s == R50_OK && dst < d->size; dst++) {
    s = move_bytes(d, dst, 1, d->rank == 0 ? (char *)all + at : NULL, out,
                   d->rank == 0 ? lens[dst] : (size_t)n, 78, err);
    at += d->rank == 0 ? lens[dst] : 0;
  }
  if (s != R50_OK) {
    free(out);
    return s;
  }
  *mine = out;
  *mine_len = (size_t)n;
  return R50_OK;
}

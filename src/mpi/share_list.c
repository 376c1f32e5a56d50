/*
 * share_list.c — rank 0 lists the dataset once and sends it to every rank; the ranks
 * of one node share one copy of the rows.
 *
 * Rule: the small part of a dataset (root, class names, shard names, notes) is packed
 * (r50_dataset_pack) and broadcast; the rows (paths, labels, shard offsets) are laid
 * out once per node in an MPI shared-memory window that the node's first rank fills
 * from rank 0 and every rank of the node reads in place, so 10^7 paths cost a node one
 * copy, not one per rank. Where no shared window can be had (a small /dev/shm, a
 * rank alone on its node) the rows are private, as before. The ranks then compare
 * digests, so a job never runs with two ranks holding different lists.
 */
#include "share_list.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Where a node's row block keeps each array (offsets from the block's start). */
typedef struct rows_layout {
  int64_t n, names_len, shards;
  size_t at_name_at, at_member, at_size, at_labels, at_shard, at_names, bytes;
} rows_layout;

/* The node's copy of the rows: a shared window, or a private block. */
typedef struct shared_rows {
  MPI_Win win; /* MPI_WIN_NULL: block is malloc'd */
  void *block;
} shared_rows;

static size_t align8(size_t x) {
  return (x + 7) & ~(size_t)7;
}

static rows_layout layout_of(int64_t n, int64_t names_len, int shards) {
  rows_layout l = {n, names_len, shards, 0, 0, 0, 0, 0, 0, 0};
  size_t at = 0, un = (size_t)n;
  l.at_name_at = at, at += un * sizeof(int64_t);
  if (shards) {
    l.at_member = at, at += un * sizeof(int64_t);
    l.at_size = at, at += un * sizeof(int64_t);
  }
  l.at_labels = at, at = align8(at + un * sizeof(int32_t));
  if (shards)
    l.at_shard = at, at = align8(at + un * sizeof(int32_t));
  l.at_names = at, at += (size_t)names_len;
  l.bytes = at ? at : 8;
  return l;
}

/* Points ds's row arrays into block. */
static void point_rows(r50_dataset *ds, const rows_layout *l, char *block) {
  ds->n = l->n;
  ds->names_len = l->names_len;
  ds->name_at = (int64_t *)(block + l->at_name_at);
  ds->labels = (int32_t *)(block + l->at_labels);
  ds->names = block + l->at_names;
  if (l->shards) {
    ds->member = (int64_t *)(block + l->at_member);
    ds->size = (int64_t *)(block + l->at_size);
    ds->shard = (int32_t *)(block + l->at_shard);
  }
  ds->cap = ds->names_cap = 0;
}

static void copy_rows(const r50_dataset *ds, const rows_layout *l, char *block) {
  const size_t n = (size_t)l->n;
  memcpy(block + l->at_name_at, ds->name_at, n * sizeof *ds->name_at);
  memcpy(block + l->at_labels, ds->labels, n * sizeof *ds->labels);
  memcpy(block + l->at_names, ds->names, (size_t)l->names_len);
  if (l->shards) {
    memcpy(block + l->at_member, ds->member, n * sizeof *ds->member);
    memcpy(block + l->at_size, ds->size, n * sizeof *ds->size);
    memcpy(block + l->at_shard, ds->shard, n * sizeof *ds->shard);
  }
}

static void free_rows(r50_dataset *ds) {
  free(ds->names), free(ds->name_at), free(ds->labels);
  free(ds->shard), free(ds->member), free(ds->size);
  ds->names = NULL, ds->name_at = NULL, ds->labels = NULL;
  ds->shard = NULL, ds->member = NULL, ds->size = NULL;
}

/* Broadcasts len bytes at buf from rank 0 of comm, in parts (MPI counts are int). */
static r50_status bcast_block(const r50_dist *d, MPI_Comm comm, char *buf, size_t len,
                              r50_error *err) {
  for (size_t off = 0; off < len;) {
    int part = len - off > (1u << 30) ? 1 << 30 : (int)(len - off);
    int rc = MPI_Bcast(buf + off, part, MPI_CHAR, 0, comm);
    if (rc != MPI_SUCCESS)
      return r50_mpi_fail(d, rc, "MPI_Bcast(dataset rows)", __FILE__, __LINE__, err);
    off += (size_t)part;
  }
  return R50_OK;
}

/* Collective: every rank's ds gets the rows rank 0's ds holds, in one block per node
 * (a shared window when the node has several ranks and one can be had). */
static r50_status share_rows(const r50_dist *d, r50_dataset *ds, const rows_layout *l,
                             r50_error *err) {
  MPI_Comm node = MPI_COMM_NULL, leaders = MPI_COMM_NULL;
  int node_rank = 0, node_size = 1;
  if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) !=
          MPI_SUCCESS ||
      MPI_Comm_rank(node, &node_rank) != MPI_SUCCESS ||
      MPI_Comm_size(node, &node_size) != MPI_SUCCESS)
    return r50_fail(err, R50_ERR_IO, "rank %d: cannot find the ranks of this node",
                    d->rank);
  shared_rows *sr = calloc(1, sizeof *sr);
  r50_status s = sr ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  if (sr)
    sr->win = MPI_WIN_NULL;
  /* the node's block: a shared window, or (a rank alone, or no window to be had)
   * a private one */
  int shared = 0;
  if (s == R50_OK && node_size > 1) {
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    char *base = NULL;
    int rc = MPI_Win_allocate_shared(node_rank == 0 ? (MPI_Aint)l->bytes : 0, 1,
                                     MPI_INFO_NULL, node, &base, &sr->win);
    int ok = rc == MPI_SUCCESS, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, d->comm);
    if (all_ok) {
      MPI_Aint size;
      int unit;
      rc = MPI_Win_shared_query(sr->win, 0, &size, &unit, &base);
      ok = rc == MPI_SUCCESS && (size_t)size >= l->bytes;
      MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, d->comm);
    }
    if (all_ok) {
      sr->block = base;
      shared = 1;
    } else {
      if (sr->win != MPI_WIN_NULL)
        MPI_Win_free(&sr->win);
      sr->win = MPI_WIN_NULL;
      if (d->rank == 0)
        r50_log(R50_LOG_WARN,
                "no shared-memory window of %zu bytes for the dataset list (is /dev/shm "
                "small?): every rank keeps its own copy",
                l->bytes);
    }
  }
  const int fills = !shared || node_rank == 0; /* this rank writes a block */
  if (s == R50_OK && fills && !sr->block && !(sr->block = malloc(l->bytes)))
    s = r50_fail(err, R50_ERR_NOMEM, "out of memory for the dataset list (%zu bytes)",
                 l->bytes);
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK && d->rank == 0) { /* rank 0's private rows move into its block */
    copy_rows(ds, l, sr->block);
    free_rows(ds);
  }
  /* rank 0 to every block writer: the node leaders, or every rank without a window */
  if (s == R50_OK && MPI_Comm_split(d->comm, fills ? 0 : MPI_UNDEFINED, d->rank,
                                    &leaders) != MPI_SUCCESS)
    s = r50_fail(err, R50_ERR_IO, "rank %d: cannot split the communicator", d->rank);
  if (s == R50_OK && fills)
    s = bcast_block(d, leaders, sr->block, l->bytes, err);
  if (leaders != MPI_COMM_NULL)
    MPI_Comm_free(&leaders);
  s = r50_dist_agree(d, s, err);
  if (shared) /* the leader's writes are seen by the node's ranks */
    MPI_Win_fence(0, sr->win);
  if (s == R50_OK) {
    point_rows(ds, l, sr->block);
    ds->rows_shared = sr;
  } else if (sr) {
    if (sr->win != MPI_WIN_NULL)
      MPI_Win_free(&sr->win);
    else
      free(sr->block);
    free(sr);
  }
  MPI_Comm_free(&node);
  return s;
}

/* Private copies on every rank: the whole dataset packed and broadcast. */
static r50_status share_private(const r50_dist *d, r50_dataset *ds, r50_status s,
                                r50_error *err) {
  char *buf = NULL;
  size_t len = 0;
  if (d->rank == 0 && s == R50_OK)
    s = r50_dataset_pack(ds, &buf, &len, err);
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK)
    s = r50_dist_bcast_bytes(d, &buf, &len, err);
  if (s == R50_OK && d->rank != 0)
    s = r50_dataset_unpack(buf, len, ds, err);
  free(buf);
  return r50_dist_agree(d, s, err);
}

/* The rows in a node block; the rest packed and broadcast. */
static r50_status share_by_node(const r50_dist *d, r50_dataset *ds, r50_status s,
                                r50_error *err) {
  char *buf = NULL;
  size_t len = 0;
  int64_t dims[3] = {0, 0, 0}; /* rows, name bytes, shards or not */
  if (d->rank == 0 && s == R50_OK) {
    r50_dataset meta = *ds; /* everything but the rows */
    meta.n = 0;
    s = r50_dataset_pack(&meta, &buf, &len, err);
    dims[0] = ds->n, dims[1] = ds->names_len, dims[2] = ds->n_shards > 0;
  }
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK)
    s = r50_dist_bcast_bytes(d, &buf, &len, err);
  if (s == R50_OK) {
    int rc = MPI_Bcast(dims, 3, MPI_INT64_T, 0, d->comm);
    if (rc != MPI_SUCCESS)
      s = r50_mpi_fail(d, rc, "MPI_Bcast(dataset size)", __FILE__, __LINE__, err);
  }
  if (s == R50_OK && d->rank != 0) {
    s = r50_dataset_unpack(buf, len, ds, err);
    free_rows(ds); /* the empty arrays of a zero-row unpack */
  }
  free(buf);
  R50_TRY(r50_dist_agree(d, s, err));
  const rows_layout l = layout_of(dims[0], dims[1], (int)dims[2]);
  return share_rows(d, ds, &l, err);
}

r50_status r50_dataset_share(const r50_dist *d, const char *const *specs, int n_specs,
                             const char *root, int writable, r50_dataset *ds,
                             r50_error *err) {
  r50_status s = R50_OK;
  memset(ds, 0, sizeof *ds);
  if (d->rank == 0)
    s = n_specs == 1 ? r50_dataset_open(specs[0], root, ds, err)
        : root       ? r50_fail(err, R50_ERR_ARG, "--root applies to list files")
                     : r50_dataset_open_images(specs, n_specs, ds, err);
  s = writable || d->size == 1 ? share_private(d, ds, s, err)
                               : share_by_node(d, ds, s, err);
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
    r50_dataset_unshare(d, ds);
  return s;
}

void r50_dataset_unshare(const r50_dist *d, r50_dataset *ds) {
  (void)d;
  shared_rows *sr = ds->rows_shared;
  r50_dataset_free(ds); /* leaves the rows of a block alone */
  if (!sr)
    return;
  if (sr->win != MPI_WIN_NULL)
    MPI_Win_free(&sr->win); /* collective over the node */
  else
    free(sr->block);
  free(sr);
}

/*
 * dataset_pack.c — a dataset as one byte buffer (for sending it to other ranks) and
 * its digest (for telling two lists apart on --resume and across ranks).
 *
 * Wire form: "R50DS1\0", root NUL, int32 n_classes, the class names NUL-terminated,
 * int64 n, then per row the int32 label and the path NUL-terminated; then int64
 * n_shards, and when it is not 0 the shards (path NUL, int8 compressed), per row int32
 * shard, int64 member, int64 size, and int64 n_notes with the notes NUL-terminated
 * (tar_shards.h). Integers are in
 * host order: the ranks of one job share an architecture. Rule: unpack trusts nothing
 * it reads — every count is checked against the bytes left before anything is
 * allocated, so a damaged buffer is an R50_ERR_FORMAT, never a huge allocation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "sha256.h"

static const char MAGIC[8] = "R50DS2";

typedef struct packer {
  char *buf;
  size_t len, cap;
  int oom;
} packer;

static void put(packer *p, const void *data, size_t n) {
  if (p->oom)
    return;
  if (p->len + n > p->cap) {
    size_t cap = p->cap ? p->cap : 1 << 16;
    while (cap < p->len + n)
      cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b) {
      p->oom = 1;
      return;
    }
    p->buf = b, p->cap = cap;
  }
  memcpy(p->buf + p->len, data, n);
  p->len += n;
}

static void put_str(packer *p, const char *s) {
  put(p, s, strlen(s) + 1);
}

r50_status r50_dataset_pack(const r50_dataset *ds, char **buf, size_t *len,
                            r50_error *err) {
  packer p = {0};
  put(&p, MAGIC, sizeof MAGIC);
  put_str(&p, ds->root ? ds->root : "");
  int32_t k = ds->n_classes;
  put(&p, &k, sizeof k);
  for (int i = 0; i < ds->n_classes; i++)
    put_str(&p, ds->class_names[i]);
  int64_t n = ds->n;
  put(&p, &n, sizeof n);
  for (int64_t i = 0; i < ds->n; i++) {
    put(&p, &ds->labels[i], sizeof ds->labels[i]);
    put_str(&p, r50_dataset_name(ds, i));
  }
  int64_t ns = ds->n_shards;
  put(&p, &ns, sizeof ns);
  for (int64_t i = 0; i < ns; i++) {
    put_str(&p, ds->shards[i]);
    put(&p, &ds->shard_packed[i], 1);
  }
  if (ns) {
    put(&p, ds->shard, (size_t)ds->n * sizeof *ds->shard);
    put(&p, ds->member, (size_t)ds->n * sizeof *ds->member);
    put(&p, ds->size, (size_t)ds->n * sizeof *ds->size);
    int64_t nn = ds->n_notes;
    put(&p, &nn, sizeof nn);
    for (int64_t i = 0; i < nn; i++)
      put_str(&p, ds->notes[i]);
  }
  if (p.oom) {
    free(p.buf);
    return r50_fail(err, R50_ERR_NOMEM, "out of memory packing the dataset (%lld rows)",
                    (long long)ds->n);
  }
  *buf = p.buf;
  *len = p.len;
  return R50_OK;
}

typedef struct reader {
  const char *p, *end;
  r50_error *err;
} reader;

static r50_status bad(reader *r, const char *what) {
  return r50_fail(r->err, R50_ERR_FORMAT, "dataset buffer damaged: %s", what);
}

static r50_status get(reader *r, void *dst, size_t n, const char *what) {
  if ((size_t)(r->end - r->p) < n)
    return bad(r, what);
  memcpy(dst, r->p, n);
  r->p += n;
  return R50_OK;
}

static r50_status get_str(reader *r, char **out, const char *what) {
  const char *z = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!z)
    return bad(r, what);
  if (!(*out = strdup(r->p)))
    return r50_fail(r->err, R50_ERR_NOMEM, "out of memory receiving the dataset");
  r->p = z + 1;
  return R50_OK;
}

static r50_status unpack_shards(reader *r, r50_dataset *ds);

static r50_status unpack(reader *r, r50_dataset *ds) {
  char magic[sizeof MAGIC];
  R50_TRY(get(r, magic, sizeof magic, "no header"));
  if (memcmp(magic, MAGIC, sizeof MAGIC))
    return bad(r, "wrong header");
  R50_TRY(get_str(r, &ds->root, "root not terminated"));
  int32_t k = 0;
  R50_TRY(get(r, &k, sizeof k, "class count cut off"));
  if (k < 0 || (size_t)k > (size_t)(r->end - r->p))
    return bad(r, "class count larger than the buffer");
  if (!(ds->class_names = calloc((size_t)k + 1, sizeof *ds->class_names)))
    return r50_fail(r->err, R50_ERR_NOMEM, "out of memory receiving the dataset");
  for (; ds->n_classes < k; ds->n_classes++)
    R50_TRY(get_str(r, &ds->class_names[ds->n_classes], "class name not terminated"));
  int64_t n = 0;
  R50_TRY(get(r, &n, sizeof n, "row count cut off"));
  const size_t min_row = sizeof(int32_t) + 1;
  if (n < 0 || (uint64_t)n > (size_t)(r->end - r->p) / min_row)
    return bad(r, "row count larger than the buffer");
  const size_t left = (size_t)(r->end - r->p);
  ds->name_at = malloc(((size_t)n + 1) * sizeof *ds->name_at);
  ds->labels = malloc(((size_t)n + 1) * sizeof *ds->labels);
  ds->names = malloc(left + 1); /* the paths take less than what is left */
  if (!ds->name_at || !ds->labels || !ds->names)
    return r50_fail(r->err, R50_ERR_NOMEM, "out of memory receiving %lld rows",
                    (long long)n);
  ds->cap = n;
  ds->names_cap = (int64_t)left + 1;
  for (; ds->n < n; ds->n++) {
    R50_TRY(get(r, &ds->labels[ds->n], sizeof *ds->labels, "row cut off"));
    if (ds->labels[ds->n] < -1 || (k && ds->labels[ds->n] >= k))
      return bad(r, "label out of range");
    const char *z = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!z)
      return bad(r, "path not terminated");
    const size_t len = (size_t)(z - r->p) + 1;
    memcpy(ds->names + ds->names_len, r->p, len);
    ds->name_at[ds->n] = ds->names_len;
    ds->names_len += (int64_t)len;
    r->p = z + 1;
  }
  return unpack_shards(r, ds);
}

/* The shard part (tar_shards.h): every index checked against its table. */
static r50_status unpack_shards(reader *r, r50_dataset *ds) {
  int64_t ns = 0;
  R50_TRY(get(r, &ns, sizeof ns, "shard count cut off"));
  if (ns < 0 || ns > INT32_MAX || (uint64_t)ns > (size_t)(r->end - r->p) / 2)
    return bad(r, "shard count larger than the buffer");
  if (ns) {
    const size_t n = (size_t)ds->n;
    ds->shards = calloc((size_t)ns, sizeof *ds->shards);
    ds->shard_packed = calloc((size_t)ns, 1);
    ds->shard = malloc((n ? n : 1) * sizeof *ds->shard);
    ds->member = malloc((n ? n : 1) * sizeof *ds->member);
    ds->size = malloc((n ? n : 1) * sizeof *ds->size);
    if (!ds->shards || !ds->shard_packed || !ds->shard || !ds->member || !ds->size)
      return r50_fail(r->err, R50_ERR_NOMEM, "out of memory receiving the shards");
    while (ds->n_shards < ns) { /* counted as soon as held, so a failure frees it */
      R50_TRY(get_str(r, &ds->shards[ds->n_shards], "shard path not terminated"));
      ds->n_shards++;
      R50_TRY(get(r, &ds->shard_packed[ds->n_shards - 1], 1, "shard cut off"));
    }
    if ((size_t)(r->end - r->p) / 20 < n)
      return bad(r, "shard rows cut off");
    R50_TRY(get(r, ds->shard, n * sizeof *ds->shard, "shard rows cut off"));
    R50_TRY(get(r, ds->member, n * sizeof *ds->member, "shard rows cut off"));
    R50_TRY(get(r, ds->size, n * sizeof *ds->size, "shard rows cut off"));
    int64_t nn = 0;
    R50_TRY(get(r, &nn, sizeof nn, "note count cut off"));
    if (nn < 0 || (uint64_t)nn > (size_t)(r->end - r->p))
      return bad(r, "note count larger than the buffer");
    if (!(ds->notes = calloc((size_t)nn + 1, sizeof *ds->notes)))
      return r50_fail(r->err, R50_ERR_NOMEM, "out of memory receiving the shards");
    for (; ds->n_notes < nn; ds->n_notes++)
      R50_TRY(get_str(r, &ds->notes[ds->n_notes], "note not terminated"));
    for (size_t i = 0; i < n; i++)
      if (ds->shard[i] < 0 || ds->shard[i] >= ns || ds->size[i] < 0 ||
          (ds->member[i] < 0 && (ds->member[i] != -1 || ds->size[i] >= nn)))
        return bad(r, "shard row out of range");
  }
  if (r->p != r->end)
    return bad(r, "bytes after the last row");
  return R50_OK;
}

r50_status r50_dataset_unpack(const char *buf, size_t len, r50_dataset *ds,
                              r50_error *err) {
  memset(ds, 0, sizeof *ds);
  reader r = {buf, buf + len, err};
  r50_status s = unpack(&r, ds);
  if (s != R50_OK)
    r50_dataset_free(ds);
  return s;
}

void r50_dataset_digest(const r50_dataset *ds, char hex[65]) {
  r50_sha256 h;
  r50_sha256_init(&h);
  int32_t k = ds->n_classes;
  r50_sha256_update(&h, &k, sizeof k);
  for (int i = 0; i < ds->n_classes; i++)
    r50_sha256_update(&h, ds->class_names[i], strlen(ds->class_names[i]) + 1);
  int64_t n = ds->n;
  r50_sha256_update(&h, &n, sizeof n);
  for (int64_t i = 0; i < ds->n; i++) {
    r50_sha256_update(&h, &ds->labels[i], sizeof ds->labels[i]);
    const char *name = r50_dataset_name(ds, i);
    r50_sha256_update(&h, name, strlen(name) + 1);
  }
  r50_sha256_hex(&h, hex);
}

/*
 * share_list.c — packing a dataset into one buffer and broadcasting it.
 *
 * Wire form: root NUL, n_classes, class names NUL-terminated, n, then per row the
 * label (int32, host order: all ranks of a job share one architecture) and the path
 * NUL-terminated.
 */
#include "share_list.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

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

static r50_status pack(const r50_dataset *ds, packer *p, r50_error *err) {
  put_str(p, ds->root);
  int32_t k = ds->n_classes;
  put(p, &k, sizeof k);
  for (int i = 0; i < ds->n_classes; i++)
    put_str(p, ds->class_names[i]);
  int64_t n = ds->n;
  put(p, &n, sizeof n);
  for (int64_t i = 0; i < ds->n; i++) {
    put(p, &ds->labels[i], sizeof ds->labels[i]);
    put_str(p, ds->paths[i]);
  }
  return p->oom ? r50_fail(err, R50_ERR_NOMEM, "out of memory sharing the dataset") : R50_OK;
}

typedef struct reader {
  const char *p, *end;
} reader;

static char *get_str(reader *r) {
  const char *z = memchr(r->p, 0, (size_t)(r->end - r->p));
  R50_ASSERT(z);
  char *s = strdup(r->p);
  r->p = z + 1;
  return s;
}

static void get(reader *r, void *dst, size_t n) {
  R50_ASSERT((size_t)(r->end - r->p) >= n);
  memcpy(dst, r->p, n);
  r->p += n;
}

static r50_status unpack(const char *buf, size_t len, r50_dataset *ds, r50_error *err) {
  reader r = {buf, buf + len};
  memset(ds, 0, sizeof *ds);
  ds->root = get_str(&r);
  int32_t k;
  get(&r, &k, sizeof k);
  ds->class_names = calloc((size_t)k + 1, sizeof *ds->class_names);
  int64_t n;
  get(&r, &n, sizeof n);
  ds->paths = calloc((size_t)n + 1, sizeof *ds->paths);
  ds->labels = calloc((size_t)n + 1, sizeof *ds->labels);
  if (!ds->root || !ds->class_names || !ds->paths || !ds->labels)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory receiving the dataset");
  for (ds->n_classes = 0; ds->n_classes < k; ds->n_classes++)
    if (!(ds->class_names[ds->n_classes] = get_str(&r)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory receiving the dataset");
  for (ds->n = 0; ds->n < n; ds->n++) {
    get(&r, &ds->labels[ds->n], sizeof ds->labels[ds->n]);
    if (!(ds->paths[ds->n] = get_str(&r)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory receiving the dataset");
  }
  return R50_OK;
}

r50_status r50_dataset_share(const r50_dist *d, const char *spec, const char *root,
                             r50_dataset *ds, r50_error *err) {
  packer p = {0};
  r50_status s = R50_OK;
  if (d->rank == 0) {
    s = r50_dataset_open(spec, root, ds, err);
    if (s == R50_OK)
      s = pack(ds, &p, err);
  }
  s = r50_dist_agree(d, s, err);
  if (s == R50_OK)
    s = r50_dist_bcast_bytes(d, &p.buf, &p.len, err);
  if (s == R50_OK && d->rank != 0) {
    s = unpack(p.buf, p.len, ds, err);
    if (s != R50_OK)
      r50_dataset_free(ds);
  }
  free(p.buf);
  return r50_dist_agree(d, s, err);
}

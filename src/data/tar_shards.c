/*
 * tar_shards.c — WebDataset shards through libarchive: brace patterns, listing the
 * samples of each shard (with the byte offset of every image in a plain tar, so a row
 * is one pread later), and reading them back.
 *
 * Rule: listing reads each shard once, headers only (plus the few bytes of .cls
 * members); a plain tar's image is then read with one pread at the offset libarchive
 * reported, a compressed shard's by streaming to the member's ordinal, one stream per
 * thread kept open while rows are read in order.
 */
#include "tar_shards.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "progress.h"

/* ------------------------------------------------------------------ names */

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcasecmp(s + n - m, suffix);
}

int r50_is_shard_name(const char *name) {
  static const char *const exts[] = {".tar",     ".tar.gz", ".tgz",
                                     ".tar.bz2", ".tar.xz", ".tar.zst"};
  for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
    if (ends_with(name, exts[i]))
      return 1;
  return 0;
}

/* An image member: the extensions a folder walk takes (WebDataset's own decoder reads
 * jpg, jpeg, png, ppm, pgm, pbm and pnm members). */
static int is_image_member(const char *name) {
  return r50_has_image_ext(name);
}

/* ------------------------------------------------------------------ brace patterns */

int r50_has_braces(const char *spec) {
  const char *o = strchr(spec, '{');
  return o && strchr(o, '}');
}

typedef struct strvec {
  char **v;
  int64_t n, cap;
} strvec;

static int vec_push(strvec *s, char *str) {
  if (!str)
    return 0;
  if (s->n == s->cap) {
    int64_t nc = s->cap ? 2 * s->cap : 16;
    char **v = realloc(s->v, (size_t)nc * sizeof *v);
    if (!v) {
      free(str);
      return 0;
    }
    s->v = v, s->cap = nc;
  }
  s->v[s->n++] = str;
  return 1;
}

static void vec_free(strvec *s) {
  for (int64_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

static char *concat3(const char *a, size_t na, const char *b, size_t nb, const char *c) {
  size_t nc = strlen(c);
  char *s = malloc(na + nb + nc + 1);
  if (s) {
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
  }
  return s;
}

/* Expands the first pattern of `spec` into out (recursing on the rest). */
static r50_status expand(const char *spec, strvec *out, r50_error *err) {
  const char *o = strchr(spec, '{'), *c = o ? strchr(o, '}') : NULL;
  if (!c)
    return vec_push(out, strdup(spec)) ? R50_OK
                                       : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  const size_t pre = (size_t)(o - spec);
  const char *body = o + 1, *dots = strstr(body, "..");
  strvec alts = {0};
  r50_status s = R50_OK;
  if (dots && dots < c) { /* {A..B} */
    char *end1, *end2;
    errno = 0;
    long long a = strtoll(body, &end1, 10), b = strtoll(dots + 2, &end2, 10);
    const int width = (int)(dots - body);
    if (errno || end1 != dots || end2 != c || width < 1 || b < a || b - a > 100000000)
      return r50_fail(err, R50_ERR_ARG,
                      "%s: bad brace range '%.*s' (want {A..B} with integers A <= B)",
                      spec, (int)(c - o + 1), o);
    for (long long v = a; v <= b && s == R50_OK; v++) {
      char num[32];
      snprintf(num, sizeof num, "%0*lld", width, v);
      if (!vec_push(&alts, strdup(num)))
        s = r50_fail(err, R50_ERR_NOMEM, "out of memory expanding %s", spec);
    }
  } else { /* {x,y,...} */
    for (const char *p = body; s == R50_OK;) {
      const char *comma = memchr(p, ',', (size_t)(c - p));
      const char *e = comma ? comma : c;
      if (!vec_push(&alts, strndup(p, (size_t)(e - p))))
        s = r50_fail(err, R50_ERR_NOMEM, "out of memory expanding %s", spec);
      if (!comma)
        break;
      p = comma + 1;
    }
  }
  for (int64_t i = 0; i < alts.n && s == R50_OK; i++) {
    char *one = concat3(spec, pre, alts.v[i], strlen(alts.v[i]), c + 1);
    if (!one)
      s = r50_fail(err, R50_ERR_NOMEM, "out of memory expanding %s", spec);
    else
      s = expand(one, out, err);
    free(one);
  }
  vec_free(&alts);
  return s;
}

r50_status r50_brace_expand(const char *spec, char ***out, int64_t *n, r50_error *err) {
  strvec v = {0};
  r50_status s = expand(spec, &v, err);
  if (s != R50_OK) {
    vec_free(&v);
    return s;
  }
  *out = v.v;
  *n = v.n;
  return R50_OK;
}

/* ------------------------------------------------------------------ listing */

typedef struct lister {
  r50_dataset *ds;
  int64_t row_cap; /* rows allocated in shard/member/size (ds->cap in the others) */
  int32_t shard;
  const char *rel;
  r50_error *err;
} lister;

static r50_status grow_rows(lister *l) {
  r50_dataset *ds = l->ds;
  const int64_t cap = ds->cap > 1 ? ds->cap : 1;
  if (l->row_cap >= cap)
    return R50_OK;
  int32_t *sh = realloc(ds->shard, (size_t)cap * sizeof *sh);
  if (sh)
    ds->shard = sh;
  int64_t *m = realloc(ds->member, (size_t)cap * sizeof *m);
  if (m)
    ds->member = m;
  int64_t *z = realloc(ds->size, (size_t)cap * sizeof *z);
  if (z)
    ds->size = z;
  if (!sh || !m || !z)
    return r50_fail(l->err, R50_ERR_NOMEM, "out of memory listing the shards");
  l->row_cap = cap;
  return R50_OK;
}

/* A row "REL/KEY" (or "REL" when key is NULL). */
static r50_status add_row(lister *l, const char *key, int32_t label, int64_t member,
                          int64_t size) {
  char path[PATH_MAX];
  int n = key ? snprintf(path, sizeof path, "%s/%s", l->rel, key)
              : snprintf(path, sizeof path, "%s", l->rel);
  if (n < 0 || (size_t)n >= sizeof path)
    return r50_fail(l->err, R50_ERR_ARG, "%s/%s: path too long", l->rel, key ? key : "");
  R50_TRY(r50_dataset_push(l->ds, path, (size_t)n, label, l->err));
  R50_TRY(grow_rows(l));
  const int64_t i = l->ds->n - 1;
  l->ds->shard[i] = l->shard;
  l->ds->member[i] = member;
  l->ds->size[i] = size;
  return R50_OK;
}

/* A row that cannot be read, and why. */
static r50_status add_broken(lister *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static r50_status add_broken(lister *l, const char *key, const char *fmt, ...) {
  r50_dataset *ds = l->ds;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char **notes = realloc(ds->notes, (size_t)(ds->n_notes + 1) * sizeof *notes);
  if (!notes)
    return r50_fail(l->err, R50_ERR_NOMEM, "out of memory listing the shards");
  ds->notes = notes;
  if (!(ds->notes[ds->n_notes] = strdup(msg)))
    return r50_fail(l->err, R50_ERR_NOMEM, "out of memory listing the shards");
  ds->n_notes++;
  return add_row(l, key, -1, -1, ds->n_notes - 1);
}

/* The sample being gathered: consecutive members with one key. */
typedef struct sample {
  char key[PATH_MAX];
  int open;
  int64_t member, size; /* the image; member -1: none yet */
  int32_t label;
  char bad_cls[64];  /* a .cls that is not a number */
  char members[256]; /* the member extensions seen, for the "no image" message */
} sample;

static r50_status flush(lister *l, sample *s) {
  if (!s->open)
    return R50_OK;
  s->open = 0;
  if (s->bad_cls[0])
    return add_broken(l, s->key, ".cls member holds '%s', not a class number",
                      s->bad_cls);
  if (s->member < 0)
    return add_broken(
        l, s->key,
        "no image member (.jpg, .png, .webp, .gif, .bmp, .ppm, .tif...; members: %s)",
        s->members[0] ? s->members : "none");
  return add_row(l, s->key, s->label, s->member, s->size);
}

/* Reads a .cls member's text (a class number). */
static void read_cls(struct archive *a, sample *s) {
  char buf[64];
  la_ssize_t n = archive_read_data(a, buf, sizeof buf - 1);
  if (n < 0) {
    snprintf(s->bad_cls, sizeof s->bad_cls, "(unreadable: %.40s)",
             archive_error_string(a));
    return;
  }
  buf[n] = 0;
  char *p = buf, *end;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  errno = 0;
  long v = strtol(p, &end, 10);
  while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
    end++;
  if (p == end || *end || errno || v < -1 || v > INT32_MAX) {
    for (char *q = buf; *q; q++)
      if ((unsigned char)*q < 0x20)
        *q = ' ';
    snprintf(s->bad_cls, sizeof s->bad_cls, "%.40s", buf);
  } else {
    s->label = (int32_t)v;
  }
}

/* Opens the shard at path for reading (*fd: its descriptor, which libarchive does not
 * close); NULL with the cause in why. *packed (may be NULL): compressed. */
static struct archive *open_archive(const char *path, int *fd, int *packed, char *why,
                                    size_t cap) {
  struct archive *a = archive_read_new();
  if (!a) {
    snprintf(why, cap, "out of memory");
    return NULL;
  }
  archive_read_support_format_tar(a);
  archive_read_support_filter_all(a);
  r50_error e = {0};
  if (r50_open_regular(path, fd, NULL, &e) != R50_OK) {
    snprintf(why, cap, "%s", e.msg);
    archive_read_free(a);
    return NULL;
  }
  if (archive_read_open_fd(a, *fd, 1 << 16) != ARCHIVE_OK) {
    snprintf(why, cap, "%s", archive_error_string(a));
    archive_read_free(a);
    close(*fd);
    *fd = -1;
    return NULL;
  }
  if (packed)
    *packed = archive_filter_count(a) > 1;
  return a;
}

static void close_archive(struct archive *a, int fd) {
  if (a)
    archive_read_free(a);
  if (fd >= 0)
    close(fd);
}

static r50_status list_shard(lister *l, const char *full) {
  char why[1200];
  int packed = 0, fd = -1;
  struct archive *a = open_archive(full, &fd, &packed, why, sizeof why);
  if (!a)
    return add_broken(l, NULL, "not a readable tar shard: %s", why);
  l->ds->shard_packed[l->shard] = (int8_t)packed;
  sample *s = calloc(1, sizeof *s);
  if (!s) {
    close_archive(a, fd);
    return r50_fail(l->err, R50_ERR_NOMEM, "out of memory listing %s", l->rel);
  }
  r50_status st = R50_OK;
  int64_t ordinal = 0, samples = 0;
  struct archive_entry *e;
  int r;
  while (st == R50_OK &&
         ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
    const int64_t this = ordinal++;
    if (archive_entry_filetype(e) != AE_IFREG)
      continue;
    const char *name = archive_entry_pathname_utf8(e);
    if (!name)
      name = archive_entry_pathname(e);
    if (!name)
      continue;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    const size_t klen = dot ? (size_t)(dot - name) : strlen(name);
    if (klen >= sizeof s->key)
      continue;
    if (!s->open || strlen(s->key) != klen || memcmp(s->key, name, klen)) {
      st = flush(l, s);
      samples++;
      memset(s, 0, sizeof *s);
      memcpy(s->key, name, klen);
      s->open = 1;
      s->member = -1;
      s->label = -1;
    }
    const char *ext = dot ? dot : "";
    size_t used = strlen(s->members);
    snprintf(s->members + used, sizeof s->members - used, "%s%s", used ? ", " : "",
             *ext ? ext : "(no extension)");
    if (s->member < 0 && is_image_member(name)) {
      s->member = packed ? this : archive_filter_bytes(a, 0);
      s->size = archive_entry_size(e);
    } else if (!strcasecmp(ext, ".cls")) {
      read_cls(a, s);
    }
  }
  if (st == R50_OK) {
    int64_t last_end = s->open && s->member >= 0 && !packed ? s->member + s->size : -1;
    st = flush(l, s);
    if (st == R50_OK && r != ARCHIVE_EOF) {
      /* a plain tar cut inside its last image is reported by that row's read */
      struct stat sb;
      int truncated_image =
          last_end >= 0 && stat(full, &sb) == 0 && sb.st_size < last_end;
      if (!truncated_image)
        st = add_broken(l, NULL, "damaged shard after %lld samples: %s",
                        (long long)samples, archive_error_string(a));
    }
  }
  free(s);
  close_archive(a, fd);
  return st;
}

/* Shards listed at once: a network file system answers many small reads in flight
 * sooner than one after another, and compressed shards inflate on several cores. */
enum { LIST_AT_ONCE = 8 };

/* Shard i's rows on their own (a thread's): part borrows ds's root and shard_packed;
 * its rows' shard is i. */
static r50_status list_part(const r50_dataset *ds, int64_t i, r50_dataset *part,
                            r50_error *err) {
  memset(part, 0, sizeof *part);
  part->root = ds->root;
  part->shard_packed = ds->shard_packed; /* (each thread writes its shard's flag) */
  lister l = {part, 0, (int32_t)i, ds->shards[i], err};
  char full[PATH_MAX];
  r50_dataset_join(ds, ds->shards[i], full, sizeof full);
  return list_shard(&l, full);
}

/* Frees what list_part made, not what it borrowed. */
static void free_part(r50_dataset *part) {
  part->root = NULL;
  part->shard_packed = NULL;
  r50_dataset_free(part);
}

/* Appends part's rows (and the notes of its broken rows) to l's dataset. */
static r50_status merge_part(lister *l, r50_dataset *part) {
  r50_dataset *ds = l->ds;
  const int64_t notes0 = ds->n_notes;
  if (part->n_notes) {
    char **notes = realloc(ds->notes, (size_t)(notes0 + part->n_notes) * sizeof *notes);
    if (!notes)
      return r50_fail(l->err, R50_ERR_NOMEM, "out of memory listing the shards");
    ds->notes = notes;
    memcpy(notes + notes0, part->notes, (size_t)part->n_notes * sizeof *notes);
    ds->n_notes += part->n_notes;
    part->n_notes = 0; /* (the notes are ds's now) */
  }
  for (int64_t i = 0; i < part->n; i++) {
    const char *name = r50_dataset_name(part, i);
    R50_TRY(r50_dataset_push(ds, name, strlen(name), part->labels[i], l->err));
    R50_TRY(grow_rows(l));
    const int64_t j = ds->n - 1;
    ds->shard[j] = part->shard[i];
    ds->member[j] = part->member[i];
    ds->size[j] = part->member[i] < 0 ? part->size[i] + notes0 : part->size[i];
  }
  return R50_OK;
}

/* How far the listing is, after shard i (progress.h); the last line once all are,
 * when a line came before. */
static void list_progress(r50_progress *pace, int *shown, const r50_dataset *ds,
                          int64_t i, int64_t n_shards) {
  const int last = i + 1 == n_shards;
  if ((last && !*shown) || !r50_progress_due(pace, last))
    return;
  const double rate = r50_progress_rate(pace, (double)(i + 1));
  char line[256];
  if (last)
    snprintf(line, sizeof line, "listed %lld tar shard%s: %lld samples",
             (long long)n_shards, n_shards == 1 ? "" : "s", (long long)ds->n);
  else
    snprintf(line, sizeof line,
             "listing tar shards: %lld of %lld, %lld samples so far, "
             "ETA %.0fs",
             (long long)i + 1, (long long)n_shards, (long long)ds->n,
             r50_progress_eta(rate, (double)(n_shards - i - 1)));
  r50_progress_show(pace, line, last);
  *shown = 1;
}

r50_status r50_tar_list(r50_dataset *ds, char *const *shards, int64_t n_shards,
                        r50_error *err) {
  R50_ASSERT(ds->root && ds->n == 0);
  if (n_shards > INT32_MAX)
    return r50_fail(err, R50_ERR_ARG, "more than %d shards", INT32_MAX);
  ds->shards = calloc((size_t)(n_shards ? n_shards : 1), sizeof *ds->shards);
  ds->shard_packed = calloc((size_t)(n_shards ? n_shards : 1), 1);
  if (!ds->shards || !ds->shard_packed)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory listing %lld shards",
                    (long long)n_shards);
  for (; ds->n_shards < n_shards; ds->n_shards++)
    if (!(ds->shards[ds->n_shards] = strdup(shards[ds->n_shards])))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory listing the shards");
  lister l = {ds, 0, 0, NULL, err};
  /* thousands of shards: every header read, compressed ones inflated */
  r50_progress pace;
  r50_progress_start(&pace, 0.5, 5.0);
  int shown = 0;
  r50_status s = R50_OK;
  /* Each thread lists a shard into a part of its own; the parts join the dataset in
   * shard order (at most LIST_AT_ONCE wait), so the rows are those of one listing
   * after another, and the first failure in shard order is the one reported. */
  const int threads =
      n_shards < LIST_AT_ONCE ? (int)(n_shards ? n_shards : 1) : LIST_AT_ONCE;
#pragma omp parallel for ordered schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n_shards; i++) {
    r50_dataset part;
    r50_error perr = {0};
    r50_status ps;
#pragma omp atomic read
    ps = s;
    if (ps == R50_OK) /* (after a failure the rest is not listed) */
      ps = list_part(ds, i, &part, &perr);
    else
      memset(&part, 0, sizeof part);
#pragma omp ordered
    {
      if (s == R50_OK && ps != R50_OK) {
        *err = perr;
#pragma omp atomic write
        s = ps;
      } else if (s == R50_OK) {
        const r50_status ms = merge_part(&l, &part);
        if (ms == R50_OK)
          list_progress(&pace, &shown, ds, i, n_shards);
#pragma omp atomic write
        s = ms;
      }
    }
    free_part(&part);
  }
  /* (the row arrays kept non-NULL: a shard dataset is known by them) */
  if (s == R50_OK && ds->n == 0)
    s = grow_rows(&(lister){ds, 0, 0, NULL, err});
  return s;
}

/* ------------------------------------------------------------------ reading */

struct r50_tar_cursor {
  int32_t shard; /* -1: none open */
  int fd;
  struct archive *a; /* compressed shards: the stream */
  int64_t next;      /* ordinal of the next header of a */
};

static void cursor_close(r50_tar_cursor *c) {
  close_archive(c->a, c->fd);
  c->a = NULL;
  c->fd = -1;
  c->shard = -1;
  c->next = 0;
}

void r50_tar_cursor_free(r50_tar_cursor *c) {
  if (!c)
    return;
  cursor_close(c);
  free(c);
}

static r50_status read_plain(r50_tar_cursor *c, const char *row, int64_t off,
                             int64_t size, uint8_t *buf, r50_error *err) {
  int64_t got = 0;
  while (got < size) {
    ssize_t k = pread(c->fd, buf + got, (size_t)(size - got), (off_t)(off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return r50_fail(err, R50_ERR_IO, "%s: %s", row, strerror(errno));
    if (k == 0)
      return r50_fail(
          err, R50_ERR_FORMAT,
          "%s: truncated shard: the image needs %lld bytes, the file holds %lld", row,
          (long long)size, (long long)got);
    got += k;
  }
  return R50_OK;
}

static r50_status read_stream(r50_tar_cursor *c, const char *full, const char *row,
                              int64_t ordinal, int64_t size, uint8_t *buf,
                              r50_error *err) {
  if (!c->a || c->next > ordinal) {
    char why[1200];
    const int32_t sh = c->shard;
    cursor_close(c);
    c->shard = sh;
    if (!(c->a = open_archive(full, &c->fd, NULL, why, sizeof why)))
      return r50_fail(err, R50_ERR_IO, "%s: %s", row, why);
  }
  struct archive_entry *e;
  for (;;) {
    int r = archive_read_next_header(c->a, &e);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      r50_status s = r50_fail(err, R50_ERR_FORMAT, "%s: %s", row,
                              r == ARCHIVE_EOF ? "member missing from the shard"
                                               : archive_error_string(c->a));
      const int32_t sh = c->shard;
      cursor_close(c);
      c->shard = sh;
      return s;
    }
    if (c->next++ == ordinal)
      break;
  }
  int64_t got = 0;
  while (got < size) {
    la_ssize_t k = archive_read_data(c->a, buf + got, (size_t)(size - got));
    if (k <= 0) {
      r50_status s = r50_fail(err, R50_ERR_FORMAT, "%s: %s", row,
                              k == 0 ? "truncated shard" : archive_error_string(c->a));
      const int32_t sh = c->shard;
      cursor_close(c);
      c->shard = sh;
      return s;
    }
    got += k;
  }
  return R50_OK;
}

r50_status r50_tar_read(const r50_dataset *ds, int64_t row, r50_tar_cursor **cur,
                        uint64_t max_bytes, uint8_t **data, size_t *len, r50_error *err) {
  R50_ASSERT(ds->n_shards > 0 && row >= 0 && row < ds->n);
  *data = NULL;
  *len = 0;
  const char *name = r50_dataset_name(ds, row);
  if (ds->member[row] < 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: %s", name, ds->notes[ds->size[row]]);
  const int64_t size = ds->size[row];
  if (size <= 0)
    return r50_fail(err, R50_ERR_FORMAT, "%s: empty file", name);
  if ((uint64_t)size > max_bytes)
    return r50_fail(err, R50_ERR_FORMAT, "%s: %lld bytes, more than the %llu-byte limit",
                    name, (long long)size, (unsigned long long)max_bytes);
  r50_tar_cursor *c = *cur;
  if (!c) {
    if (!(c = calloc(1, sizeof *c)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    c->fd = -1;
    c->shard = -1;
    *cur = c;
  }
  const int32_t sh = ds->shard[row];
  char full[PATH_MAX];
  r50_dataset_join(ds, ds->shards[sh], full, sizeof full);
  if (c->shard != sh) {
    cursor_close(c);
    c->shard = sh;
    if (!ds->shard_packed[sh]) {
      r50_status s = r50_open_regular(full, &c->fd, NULL, err);
      if (s != R50_OK) {
        c->shard = -1;
        return s;
      }
    }
  }
  uint8_t *buf = malloc((size_t)size);
  if (!buf)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for %lld bytes", name,
                    (long long)size);
  r50_status s = ds->shard_packed[sh]
                     ? read_stream(c, full, name, ds->member[row], size, buf, err)
                     : read_plain(c, name, ds->member[row], size, buf, err);
  if (s != R50_OK) {
    free(buf);
    return s;
  }
  *data = buf;
  *len = (size_t)size;
  return R50_OK;
}

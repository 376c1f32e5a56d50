/*
 * dataset.c — listing a dataset: a directory walk (ImageFolder convention) or a
 * Chainer/Caffe list file of "path label" lines.
 *
 * Rule: entries are sorted bytewise by relative path (strcmp), never by locale, and a
 * malformed list line is an error naming the file and line: a job never starts on a
 * list it half understood.
 */
#define _GNU_SOURCE /* qsort_r */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "formats.h"
#include "image.h"
#include "progress.h"
#include "tar_shards.h"

r50_status r50_dataset_push(r50_dataset *ds, const char *path, size_t len, int32_t label,
                            r50_error *err) {
  R50_ASSERT(!ds->rows_shared);
  if (ds->n == ds->cap) {
    int64_t nc = ds->cap ? 2 * ds->cap : 1024;
    int64_t *at = realloc(ds->name_at, (size_t)nc * sizeof *at);
    if (at)
      ds->name_at = at;
    int32_t *l = realloc(ds->labels, (size_t)nc * sizeof *l);
    if (l)
      ds->labels = l;
    if (!at || !l)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory listing the dataset");
    ds->cap = nc;
  }
  if (ds->names_len + (int64_t)len + 1 > ds->names_cap) {
    int64_t nc = ds->names_cap ? 2 * ds->names_cap : 1 << 16;
    while (nc < ds->names_len + (int64_t)len + 1)
      nc *= 2;
    char *b = realloc(ds->names, (size_t)nc);
    if (!b)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory listing the dataset");
    ds->names = b;
    ds->names_cap = nc;
  }
  memcpy(ds->names + ds->names_len, path, len);
  ds->names[ds->names_len + (int64_t)len] = 0;
  ds->name_at[ds->n] = ds->names_len;
  ds->labels[ds->n] = label;
  ds->names_len += (int64_t)len + 1;
  ds->n++;
  return R50_OK;
}

/* ------------------------------------------------------------------ file names */

/* The index of name's extension among the space-separated extensions of list (any
 * case), or -1. */
static int ext_index(const char *name, const char *list) {
  const char *dot = strrchr(name, '.');
  const size_t len = dot ? strlen(dot) : 0;
  for (int i = 0; dot && *list; i++) {
    const size_t n = strcspn(list, " ");
    if (n == len && !strncasecmp(list, dot, n))
      return i;
    list += n + (list[n] == ' ');
  }
  return -1;
}

int r50_has_image_ext(const char *name) {
  return ext_index(name, R50_FORMATS_EXTS) >= 0;
}

#define OTHER_EXTS R50_FORMATS_OTHER_EXTS

/* ------------------------------------------------------------------ list files */

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The first and the last whitespace-separated field of [s, e); returns the count. */
static int split_fields(const char *s, const char *e, const char **f, size_t *flen) {
  int n = 0;
  while (s < e) {
    while (s < e && is_space(*s))
      s++;
    if (s == e)
      break;
    const char *t = s;
    while (t < e && !is_space(*t))
      t++;
    int slot = n == 0 ? 0 : 1;
    f[slot] = s;
    flen[slot] = (size_t)(t - s);
    n++;
    s = t;
  }
  return n;
}

int r50_dataset_parse_label(const char *s, size_t len, int32_t *out) {
  char buf[16];
  if (len == 0 || len >= sizeof buf)
    return 0;
  memcpy(buf, s, len);
  buf[len] = 0;
  char *end;
  errno = 0;
  long v = strtol(buf, &end, 10);
  if (errno || *end || v < -1 || v > INT32_MAX)
    return 0;
  *out = (int32_t)v;
  return 1;
}

/* Whether the field [s, s + len) ends in an image file's extension (read here or not). */
static int names_image_file(const char *s, size_t len) {
  char buf[32];
  const char *tail = len < sizeof buf ? s : s + len - (sizeof buf - 1);
  snprintf(buf, sizeof buf, "%.*s", (int)(s + len - tail), tail);
  return r50_has_image_ext(buf) || ext_index(buf, OTHER_EXTS) >= 0;
}

/* Whether a one-field line is "path,label" (a CSV row): a comma, then an integer. */
static int looks_like_csv(const char *s, size_t len) {
  const char *comma = NULL;
  for (size_t i = len; i > 0 && !comma; i--)
    comma = s[i - 1] == ',' ? s + i - 1 : NULL;
  int32_t label;
  return comma && comma > s &&
         r50_dataset_parse_label(comma + 1, len - (size_t)(comma + 1 - s), &label);
}

r50_status r50_dataset_parse_list(const char *text, size_t len, const char *name,
                                  r50_dataset *ds, r50_error *err) {
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) /* a UTF-8 byte order mark (Notepad's) */
    p += 3;
  int warned_csv = 0, shown = 0;
  r50_progress pace; /* a list of 10^8 lines takes a minute */
  r50_progress_start(&pace, 0.5, 5.0);
  for (int64_t line = 1; p < end; line++) {
    if (!(line & 0xffff) && r50_progress_due(&pace, 0)) {
      char msg[PATH_MAX + 96];
      snprintf(msg, sizeof msg, "reading %s: %lld rows so far (%.0f%%)", name,
               (long long)ds->n, 100.0 * (double)(p - text) / (double)len);
      r50_progress_show(&pace, msg, 0);
      shown = 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *f[2];
    size_t flen[2];
    int nf = split_fields(p, e, f, flen);
    if (nf > 0 && f[0][0] != '#') {
      int32_t label = -1;
      if (memchr(p, 0, (size_t)(e - p)))
        return r50_fail(err, R50_ERR_FORMAT, "%s:%lld: NUL byte in the line", name,
                        (long long)line);
      /* "my photo.jpg": no label, and the last field names an image: all of it is the
       * path (find ... | r50worker extract -) */
      const int unlabelled = nf >= 2 && !r50_dataset_parse_label(f[1], flen[1], &label) &&
                             names_image_file(f[1], flen[1]);
      if (unlabelled) {
        label = -1;
        nf = 1;
        flen[0] = (size_t)(f[1] + flen[1] - f[0]);
      }
      if (nf >= 2 && !r50_dataset_parse_label(f[1], flen[1], &label))
        return r50_fail(err, R50_ERR_FORMAT,
                        "%s:%lld: label '%.*s' is not an integer >= -1 (a line is 'path "
                        "label'; a path with spaces needs its label)",
                        name, (long long)line, (int)(flen[1] > 40 ? 40 : flen[1]), f[1]);
      /* the path runs from the first field to the end of the field before the label */
      size_t plen = flen[0];
      if (nf >= 3) {
        const char *q = f[1];
        while (q > f[0] && is_space(q[-1]))
          q--;
        plen = (size_t)(q - f[0]);
      }
      if (nf == 1 && !warned_csv && looks_like_csv(f[0], flen[0])) {
        warned_csv = 1;
        r50_log(R50_LOG_WARN,
                "%s:%lld: '%.*s' looks like CSV (path,label), but this list is read as "
                "'path label' lines, the comma as part of the path: name it .csv, or "
                "give it a header line (path,label), to have it read as CSV",
                name, (long long)line, (int)(flen[0] > 200 ? 200 : flen[0]), f[0]);
      }
      R50_TRY(r50_dataset_push(ds, f[0], plen, label, err));
    }
    p = nl ? nl + 1 : end;
  }
  if (shown) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "read %s: %lld rows", name, (long long)ds->n);
    r50_progress_show(&pace, msg, 1);
  }
  return R50_OK;
}

static r50_status open_list(const char *path, r50_dataset *ds, r50_error *err) {
  uint8_t *buf;
  size_t len;
  R50_TRY(r50_read_file(path, UINT64_MAX, "a list file", &buf, &len, err));
  const char *dot = strrchr(path, '.');
  r50_status s =
      (dot && !strcasecmp(dot, ".csv")) || r50_dataset_csv_header((const char *)buf, len)
          ? r50_dataset_parse_csv((const char *)buf, len, path, ds, err)
          : r50_dataset_parse_list((const char *)buf, len, path, ds, err);
  free(buf);
  return s;
}

/* A list read from a pipe: "-" is standard input (under mpirun, rank 0's: mpirun
 * passes its own standard input there), any other spec a FIFO such as a shell's
 * process substitution <(find ...). Read to the end, once: a pipe cannot be read
 * again. */
static r50_status open_piped_list(const char *spec, r50_dataset *ds, r50_error *err) {
  const int std_in = !strcmp(spec, "-");
  const char *name = std_in ? "standard input" : spec;
  int fd = std_in ? STDIN_FILENO : open(spec, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return r50_fail(err, R50_ERR_IO, "%s: cannot open: %s", spec, strerror(errno));
  if (std_in && isatty(fd))
    r50_log(R50_LOG_INFO, "reading the list of images from the terminal: end it with "
                          "Ctrl-D");
  uint8_t *buf;
  size_t len;
  r50_status s = r50_read_fd(fd, name, UINT64_MAX, "a list file", &buf, &len, err);
  if (!std_in)
    close(fd);
  if (s == R50_OK) {
    s = r50_dataset_csv_header((const char *)buf, len)
            ? r50_dataset_parse_csv((const char *)buf, len, name, ds, err)
            : r50_dataset_parse_list((const char *)buf, len, name, ds, err);
    free(buf);
  }
  return s;
}

/* ------------------------------------------------------------------ directories */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { MAX_DEPTH = 64 };

typedef struct walker {
  r50_dataset *ds;
  r50_error *err;
  char **shards; /* tar shards met on the way (used when there are no images) */
  int64_t n_shards, shard_cap;
  dev_t dev[MAX_DEPTH + 2]; /* the folders from the root to the one being walked */
  ino_t ino[MAX_DEPTH + 2];
  int64_t n_other;        /* files in image formats not decoded here (OTHER_EXTS) */
  uint32_t other;         /* which of OTHER_EXTS they have, a bit each */
  char example[PATH_MAX]; /* the first of them, relative to the root */
  r50_progress pace;      /* a walk of millions of files on a network file system */
  int64_t folders;        /* folders listed so far */
  int shown;              /* a progress line was shown */
} walker;

/* How far the walk is, once it has taken a while (progress.h); `final` after it, when
 * a line came before. */
static void walk_progress(walker *w, int final) {
  if ((final && !w->shown) || !r50_progress_due(&w->pace, final))
    return;
  char line[PATH_MAX + 160], shards[48] = "";
  if (w->n_shards)
    snprintf(shards, sizeof shards, " and %lld tar shard%s", (long long)w->n_shards,
             w->n_shards == 1 ? "" : "s");
  snprintf(line, sizeof line, "%s %s: %lld image%s%s in %lld folder%s%s",
           final ? "listed" : "listing", w->ds->root, (long long)w->ds->n,
           w->ds->n == 1 ? "" : "s", shards, (long long)w->folders,
           w->folders == 1 ? "" : "s", final ? "" : " so far");
  r50_progress_show(&w->pace, line, final);
  w->shown = 1;
}

static void note_other(walker *w, const char *rel, int ext) {
  if (w->n_other++ == 0)
    snprintf(w->example, sizeof w->example, "%s", rel);
  w->other |= 1u << ext;
}

static r50_status add_shard(walker *w, const char *rel) {
  if (w->n_shards == w->shard_cap) {
    int64_t nc = w->shard_cap ? 2 * w->shard_cap : 64;
    char **p = realloc(w->shards, (size_t)nc * sizeof *p);
    if (!p)
      return r50_fail(w->err, R50_ERR_NOMEM, "out of memory listing the dataset");
    w->shards = p, w->shard_cap = nc;
  }
  if (!(w->shards[w->n_shards] = strdup(rel)))
    return r50_fail(w->err, R50_ERR_NOMEM, "out of memory listing the dataset");
  w->n_shards++;
  return R50_OK;
}

/* Hidden entries, and the folders of metadata that archivers and NAS boxes put beside
 * the files (macOS zips' __MACOSX, Synology's @eaDir of thumbnails): never data. */
static int is_hidden(const char *name) {
  return name[0] == '.' || !strcmp(name, "__MACOSX") || !strcmp(name, "@eaDir");
}

typedef struct dir_entry {
  char *name;
  unsigned char type; /* readdir's d_type: DT_REG, DT_DIR, DT_LNK, DT_UNKNOWN, ... */
} dir_entry;

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const dir_entry *)a)->name, ((const dir_entry *)b)->name);
}

/* Sorted names of the visible entries of dir; *n set. types (when not NULL) gets each
 * one's d_type (malloc'd), which spares the walk a stat() a file where the file
 * system gives it (a metadata round trip each on Lustre or NFS). */
static r50_status list_dir(const char *dir, char ***names, unsigned char **types, int *n,
                           r50_error *err) {
  *names = NULL;
  if (types)
    *types = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return r50_fail(err, R50_ERR_IO, "%s: %s", dir, strerror(errno));
  int cap = 0;
  dir_entry *es = NULL;
  r50_status s = R50_OK;
  for (struct dirent *e; (e = readdir(d));) {
    if (is_hidden(e->d_name))
      continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      dir_entry *p = realloc(es, (size_t)cap * sizeof *p);
      if (!p) {
        s = r50_fail(err, R50_ERR_NOMEM, "out of memory listing %s", dir);
        break;
      }
      es = p;
    }
    if (!(es[*n].name = strdup(e->d_name))) {
      s = r50_fail(err, R50_ERR_NOMEM, "out of memory listing %s", dir);
      break;
    }
    es[(*n)++].type = e->d_type;
  }
  closedir(d);
  if (*n)
    qsort(es, (size_t)*n, sizeof *es, cmp_entry);
  *names = malloc((size_t)(*n ? *n : 1) * sizeof **names);
  unsigned char *t = types ? malloc((size_t)(*n ? *n : 1)) : NULL;
  if (!*names || (types && !t)) {
    for (int i = 0; i < *n; i++)
      free(es[i].name);
    free(*names), free(t), free(es);
    *names = NULL, *n = 0;
    return s == R50_OK ? r50_fail(err, R50_ERR_NOMEM, "out of memory listing %s", dir)
                       : s;
  }
  for (int i = 0; i < *n; i++) {
    (*names)[i] = es[i].name;
    if (t)
      t[i] = es[i].type;
  }
  free(es);
  if (types)
    *types = t;
  return s;
}

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* buf = a + "/" + b (or b alone when a is empty); 0 if it does not fit. */
static int join(char *buf, size_t cap, const char *a, const char *b) {
  int n = *a ? snprintf(buf, cap, "%s/%s", a, b) : snprintf(buf, cap, "%s", b);
  return n >= 0 && (size_t)n < cap;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether folder `path` (a link's target included) is one of the walk's folders
 * 0..depth: a link back up, which would loop. Each of those folders is recorded. */
static int loops_back(const walker *w, const char *path, int depth) {
  struct stat st;
  if (stat(path, &st) != 0)
    return 0;
  for (int k = 0; k <= depth; k++)
    if (w->dev[k] == st.st_dev && w->ino[k] == st.st_ino)
      return 1;
  return 0;
}

/* Records folder `path` as the walk's folder at depth. */
static void enter(walker *w, const char *path, int depth) {
  struct stat st;
  if (stat(path, &st) == 0)
    w->dev[depth] = st.st_dev, w->ino[depth] = st.st_ino;
}

/* The cause first: a path of thousands of bytes would push it out of the message. */
static r50_status too_long(walker *w, const char *rel, const char *name) {
  return r50_fail(w->err, R50_ERR_ARG,
                  "a path in %s is longer than the system's limit (%d bytes): %s/%s%s%s",
                  w->ds->root, PATH_MAX, w->ds->root, rel, *name ? "/" : "", name);
}

/* Appends the image files under root/rel (rel "" for the root, at depth 0); open_dir
 * sorts them. A link to a folder is followed, unless it leads back to a folder the walk
 * is in (a loop): that one is skipped with a warning naming it. */
static r50_status walk(walker *w, const char *rel, int32_t label, int depth) {
  if (depth > MAX_DEPTH)
    return r50_fail(w->err, R50_ERR_FORMAT, "%s/%s: folders nested too deep (a loop?)",
                    w->ds->root, rel);
  char dir[PATH_MAX];
  if (!join(dir, sizeof dir, *rel ? w->ds->root : "", *rel ? rel : w->ds->root))
    return too_long(w, rel, "");
  enter(w, dir, depth);
  char **names;
  unsigned char *types;
  int n;
  r50_status s = list_dir(dir, &names, &types, &n, w->err);
  w->folders++;
  walk_progress(w, 0);
  for (int i = 0, other, folder; i < n && s == R50_OK; i++) {
    char sub[PATH_MAX], full[PATH_MAX];
    if (!join(sub, sizeof sub, rel, names[i]) ||
        !join(full, sizeof full, w->ds->root, sub)) {
      s = too_long(w, rel, names[i]);
      continue;
    } /* a regular file or a folder as readdir says; a link, or no word, as stat says */
    folder = types[i] == DT_REG ? 0 : types[i] == DT_DIR ? 1 : is_dir(full);
    if (folder && loops_back(w, full, depth))
      r50_log(R50_LOG_WARN, "%s: links back to a folder it is in (a loop): skipped",
              full);
    else if (folder)
      s = walk(w, sub, label, depth + 1);
    else if (r50_has_image_ext(names[i]))
      s = r50_dataset_push(w->ds, sub, strlen(sub), label, w->err);
    else if (r50_is_shard_name(names[i]))
      s = add_shard(w, sub);
    else if ((other = ext_index(names[i], OTHER_EXTS)) >= 0)
      note_other(w, sub, other);
    else if (!strchr(names[i], '.') && r50_is_image_file(full) == 1)
      s = r50_dataset_push(w->ds, sub, strlen(sub), label, w->err); /* by its content */
  }
  free_names(names, n);
  free(types);
  return s;
}

static int cmp_row(const void *a, const void *b, void *ds) {
  return strcmp(r50_dataset_name(ds, *(const int64_t *)a),
                r50_dataset_name(ds, *(const int64_t *)b));
}

/* Sorts rows by path, each label moving with its path. */
static r50_status sort_entries(r50_dataset *ds, r50_error *err) {
  int64_t *order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *order);
  char *names = malloc((size_t)(ds->names_len ? ds->names_len : 1));
  int64_t *at = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *at);
  int32_t *labels = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *labels);
  if (!order || !names || !at || !labels) {
    free(order), free(names), free(at), free(labels);
    return r50_fail(err, R50_ERR_NOMEM, "out of memory listing the dataset");
  }
  for (int64_t i = 0; i < ds->n; i++)
    order[i] = i;
  qsort_r(order, (size_t)ds->n, sizeof *order, cmp_row, ds);
  int64_t len = 0;
  for (int64_t i = 0; i < ds->n; i++) {
    const char *p = r50_dataset_name(ds, order[i]);
    size_t k = strlen(p) + 1;
    memcpy(names + len, p, k);
    at[i] = len;
    labels[i] = ds->labels[order[i]];
    len += (int64_t)k;
  }
  free(order);
  free(ds->names), free(ds->name_at), free(ds->labels);
  ds->names = names, ds->name_at = at, ds->labels = labels;
  ds->names_cap = ds->names_len;
  ds->cap = ds->n;
  return R50_OK;
}

static void free_names64(char **names, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* Whether a top-level entry makes the folder a plain tree rather than ImageFolder's
 * class folders: an image (read here or not) or a tar shard. Other files beside the
 * class folders (a README, a list, a licence) are not part of the dataset. */
static int is_data_file(const char *name) {
  return r50_has_image_ext(name) || r50_is_shard_name(name) ||
         ext_index(name, OTHER_EXTS) >= 0;
}

/* ImageFolder: a top level of folders, no data files beside them (is_data_file). Keeps
 * the folders in names (sorted), their count in *n_dirs; *n_set_aside counts the other
 * files and *example names the first. */
static int is_image_folder(const char *root, char **names, int n, int *n_dirs,
                           int *n_set_aside, const char **example) {
  int dirs = 0, files = 0, data = 0;
  const char *first_data = NULL;
  *example = NULL;
  for (int i = 0; i < n; i++) {
    char full[PATH_MAX];
    if (!join(full, sizeof full, root, names[i]))
      return 0;
    if (is_dir(full)) {
      dirs++;
    } else if (is_data_file(names[i])) {
      if (data++ == 0)
        first_data = names[i];
    } else if (files++ == 0) {
      *example = names[i];
    }
  }
  if (data) { /* one dataset of every file below; a note if that may surprise */
    if (dirs)
      r50_log(R50_LOG_INFO,
              "%s: %d data file%s at its top level (%s%s) beside %d folder%s: read as "
              "one dataset without labels, not as class folders (move those files into "
              "a class folder for labels)",
              root, data, data == 1 ? "" : "s", first_data, data > 1 ? ", ..." : "", dirs,
              dirs == 1 ? "" : "s");
    *example = NULL;
    return 0;
  }
  if (!dirs)
    return 0;
  int k = 0; /* the folders, in order, to the front; the other names freed */
  for (int i = 0; i < n; i++) {
    char full[PATH_MAX];
    if (join(full, sizeof full, root, names[i]) && is_dir(full))
      names[k++] = names[i];
    else if (names[i] != *example)
      free(names[i]);
  }
  for (int i = k; i < n; i++)
    names[i] = NULL;
  *n_dirs = k, *n_set_aside = files;
  return 1;
}

static r50_status open_dir(r50_dataset *ds, r50_error *err) {
  char **names;
  int n, n_dirs = 0, n_set_aside = 0;
  const char *example;
  R50_TRY(list_dir(ds->root, &names, NULL, &n, err));
  walker w = {.ds = ds, .err = err};
  r50_progress_start(&w.pace, 0.5, 5.0);
  enter(&w, ds->root, 0);
  r50_status s = R50_OK;
  if (is_image_folder(ds->root, names, n, &n_dirs, &n_set_aside, &example)) {
    if (n_set_aside)
      r50_log(R50_LOG_INFO,
              "%s: %d class folder%s (ImageFolder); %d file%s beside them left out of "
              "the dataset (%s%s)",
              ds->root, n_dirs, n_dirs == 1 ? "" : "s", n_set_aside,
              n_set_aside == 1 ? "" : "s", example, n_set_aside > 1 ? ", ..." : "");
    free((char *)example);
    ds->class_names = names;
    ds->n_classes = n_dirs;
    for (int c = 0; c < n_dirs && s == R50_OK; c++)
      s = walk(&w, names[c], c, 1);
  } else {
    free_names(names, n);
    s = walk(&w, "", -1, 0);
  }
  if (s == R50_OK)
    walk_progress(&w, 1);
  if (s == R50_OK && ds->n == 0 && w.n_shards > 0) { /* a folder of shards */
    free_names(ds->class_names, ds->n_classes);
    ds->class_names = NULL;
    ds->n_classes = 0;
    qsort(w.shards, (size_t)w.n_shards, sizeof *w.shards, cmp_str);
    s = r50_tar_list(ds, w.shards, w.n_shards, err);
    free_names64(w.shards, w.n_shards);
    return s;
  }
  free_names64(w.shards, w.n_shards);
  if (s != R50_OK)
    return s;
  if (w.n_other) {
    char exts[sizeof OTHER_EXTS] = ""; /* those met, in OTHER_EXTS' order */
    const char *t = OTHER_EXTS;
    for (int i = 0; *t; i++) {
      const int n = (int)strcspn(t, " ");
      if (w.other >> i & 1u)
        snprintf(exts + strlen(exts), sizeof exts - strlen(exts), "%s%.*s",
                 *exts ? " " : "", n, t);
      t += n + (t[n] == ' ');
    }
    r50_log(R50_LOG_WARN,
            "%s: %lld file%s in image formats r50worker does not read (%s; it "
            "reads " R50_FORMATS_AND ") left out, e.g. %s",
            ds->root, (long long)w.n_other, w.n_other == 1 ? "" : "s", exts, w.example);
  }
  return sort_entries(ds, err);
}

/* A list file whose every row is a tar shard becomes the dataset of those shards. */
static r50_status shards_of_list(r50_dataset *ds, r50_error *err) {
  if (ds->n == 0)
    return R50_OK;
  for (int64_t i = 0; i < ds->n; i++)
    if (!r50_is_shard_name(r50_dataset_name(ds, i)))
      return R50_OK;
  const int64_t n = ds->n;
  char **shards = malloc((size_t)n * sizeof *shards);
  if (!shards)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; i < n; i++)
    shards[i] = ds->names + ds->name_at[i];
  char *names = ds->names; /* the shard paths, kept until they are listed */
  free(ds->name_at), free(ds->labels);
  ds->names = NULL, ds->name_at = NULL, ds->labels = NULL;
  ds->n = ds->names_len = ds->names_cap = ds->cap = 0;
  r50_status s = r50_tar_list(ds, shards, n, err);
  free(shards);
  free(names);
  return s;
}

/* A brace pattern or a tar file: the dataset of those shards, relative to "." (or
 * absolute, as written). */
static r50_status open_shards(const char *spec, r50_dataset *ds, r50_error *err) {
  char **shards;
  int64_t n;
  if (r50_has_braces(spec) && access(spec, F_OK) != 0) {
    R50_TRY(r50_brace_expand(spec, &shards, &n, err));
  } else {
    if (!(shards = malloc(sizeof *shards)) || !(shards[0] = strdup(spec))) {
      free(shards);
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    }
    n = 1;
  }
  r50_status s = (ds->root = strdup(".")) ? r50_tar_list(ds, shards, n, err)
                                          : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  free_names64(shards, n);
  return s;
}

/* ------------------------------------------------------------------ entry points */

int r50_is_image_file(const char *path) {
  const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
  if (r50_has_image_ext(name))
    return 1;
  if (ext_index(name, OTHER_EXTS) >= 0)
    return -1;
  struct stat st; /* (a pipe's first bytes are never read: they would be lost) */
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return 0;
  unsigned char head[18] = {0};
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f)
    fclose(f);
  return (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff) ||
         (n >= 8 && !memcmp(head, "\x89PNG\r\n\x1a\n", 8)) ||
         (n >= 12 && !memcmp(head, "RIFF", 4) && !memcmp(head + 8, "WEBP", 4)) ||
         (n >= 6 && (!memcmp(head, "GIF87a", 6) || !memcmp(head, "GIF89a", 6))) ||
         (n == 18 && !memcmp(head, "BM", 2) && !head[15] && !head[16] && !head[17] &&
          (head[14] == 12 || head[14] == 40 || head[14] == 64 || head[14] == 108 ||
           head[14] == 124)) || /* "BM" and a DIB header's size: no text starts so */
         (n >= 4 && (!memcmp(head, "II*\0", 4) || !memcmp(head, "MM\0*", 4) ||
                     !memcmp(head, "II+\0", 4) || !memcmp(head, "MM\0+", 4))) ||
         (n >= 12 && !memcmp(head, "\0\0\0\x0CjP  \r\n\x87\n", 12)) || /* JPEG 2000 */
         (n >= 4 && !memcmp(head, "\xFF\x4F\xFF\x51", 4)) ||
         (R50_READS_HEIF && r50_is_heif(head, n)) ||
         (R50_READS_JXL && r50_is_jxl(head, n));
}

r50_status r50_dataset_open(const char *spec, const char *root, r50_dataset *ds,
                            r50_error *err) {
  memset(ds, 0, sizeof *ds);
  struct stat st;
  if ((r50_has_braces(spec) && access(spec, F_OK) != 0) ||
      (r50_is_shard_name(spec) && stat(spec, &st) == 0 && !S_ISDIR(st.st_mode))) {
    if (root)
      return r50_fail(err, R50_ERR_ARG, "--root applies to list files; %s names shards",
                      spec);
    r50_status s = open_shards(spec, ds, err);
    if (s != R50_OK)
      r50_dataset_free(ds);
    return s;
  }
  const int piped = !strcmp(spec, "-") || (stat(spec, &st) == 0 && S_ISFIFO(st.st_mode));
  if (!piped && stat(spec, &st) != 0) {
    if (errno == ENOENT && !strncmp(spec, "/dev/fd/", 8))
      return r50_fail(err, R50_ERR_NOT_FOUND,
                      "%s: %s (a list given as <(...) is an open pipe of the shell, "
                      "which mpirun does not pass on to its ranks: pipe the list in "
                      "and give - instead, as in find ... | mpirun ... -)",
                      spec, strerror(errno));
    if (errno == ENOENT && strpbrk(spec, "*?["))
      return r50_fail(err, R50_ERR_NOT_FOUND,
                      "%s: %s (a pattern is not expanded here: give the folder, let the "
                      "shell expand it, or, for more files than a command line holds, "
                      "give a list: find DIR -name '*.jpg' > list.txt)",
                      spec, strerror(errno));
    return r50_fail(err, errno == ENOENT ? R50_ERR_NOT_FOUND : R50_ERR_IO, "%s: %s", spec,
                    strerror(errno));
  }
  r50_status s;
  if (piped) { /* paths relative to --root, else to the working folder */
    s = (ds->root = strdup(root ? root : "."))
            ? open_piped_list(spec, ds, err)
            : r50_fail(err, R50_ERR_NOMEM, "out of memory");
    if (s == R50_OK)
      s = shards_of_list(ds, err);
  } else if (S_ISDIR(st.st_mode)) {
    if (root)
      return r50_fail(err, R50_ERR_ARG, "--root applies to list files; %s is a folder",
                      spec);
    if (!(ds->root = strdup(spec)))
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    for (size_t n = strlen(ds->root); n > 1 && ds->root[n - 1] == '/'; n--)
      ds->root[n - 1] = 0; /* "photos/" and "photos" name the same rows */
    s = open_dir(ds, err);
  } else {
    if (root)
      ds->root = strdup(root);
    else {
      const char *slash = strrchr(spec, '/');
      ds->root = slash ? strndup(spec, (size_t)(slash - spec)) : strdup(".");
      if (ds->root && !ds->root[0]) {
        free(ds->root);
        ds->root = strdup("/");
      }
    }
    if (!ds->root)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory");
    const int image = r50_is_image_file(spec);
    if (image < 0) {
      s = r50_fail(
          err, R50_ERR_FORMAT,
          "%s: an image in a format r50worker does not read (it reads " R50_FORMATS_AND
          "): convert it first",
          spec);
    } else if (image) { /* one image: the dataset of that file, in its folder */
      if (root)
        s = r50_fail(err, R50_ERR_ARG, "--root applies to list files; %s is an image",
                     spec);
      else {
        const char *slash = strrchr(spec, '/'), *name = slash ? slash + 1 : spec;
        s = r50_dataset_push(ds, name, strlen(name), -1, err);
      }
    } else {
      s = open_list(spec, ds, err);
      if (s == R50_OK)
        s = shards_of_list(ds, err);
    }
  }
  if (s != R50_OK)
    r50_dataset_free(ds);
  return s;
}

r50_status r50_dataset_check_images(const char *const *paths, int n, r50_error *err) {
  for (int i = 0; i < n; i++)
    if (r50_is_image_file(paths[i]) != 1)
      return r50_fail(err, R50_ERR_ARG,
                      "%s is not a " R50_FORMATS_OR " image: with several "
                      "DATASET arguments "
                      "each is one image (a folder, a list file or shards is given "
                      "alone)",
                      paths[i]);
  return R50_OK;
}

r50_status r50_dataset_open_images(const char *const *paths, int n, r50_dataset *ds,
                                   r50_error *err) {
  memset(ds, 0, sizeof *ds);
  R50_TRY(r50_dataset_check_images(paths, n, err));
  r50_status s =
      (ds->root = strdup(".")) ? R50_OK : r50_fail(err, R50_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n && s == R50_OK; i++)
    s = r50_dataset_push(ds, paths[i], strlen(paths[i]), -1, err);
  if (s != R50_OK)
    r50_dataset_free(ds);
  return s;
}

void r50_dataset_join(const r50_dataset *ds, const char *p, char *buf, size_t cap) {
  if (p[0] == '/')
    snprintf(buf, cap, "%s", p);
  else
    snprintf(buf, cap, "%s/%s", ds->root, p);
}

void r50_dataset_path(const r50_dataset *ds, int64_t i, char *buf, size_t cap) {
  r50_dataset_join(ds, r50_dataset_name(ds, i), buf, cap);
}

r50_status r50_dataset_chunks(const r50_dataset *ds, int64_t chunk, int64_t **bounds,
                              int64_t *n_chunks, r50_error *err) {
  R50_ASSERT(chunk >= 1);
  const int64_t most = ds->n / chunk + (ds->n_shards ? ds->n_shards : 0) + 2;
  int64_t *b = malloc((size_t)most * sizeof *b);
  if (!b)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory for %lld work chunks",
                    (long long)most);
  int64_t k = 0, start = 0;
  b[k++] = 0;
  for (int64_t i = 1; i < ds->n; i++) {
    const int packed = ds->n_shards && ds->shard_packed[ds->shard[i]];
    const int was_packed = ds->n_shards && ds->shard_packed[ds->shard[i - 1]];
    const int other_shard = ds->n_shards && ds->shard[i] != ds->shard[i - 1];
    if ((other_shard && (packed || was_packed)) || (!packed && i - start >= chunk))
      b[k++] = start = i;
  }
  if (ds->n > 0)
    b[k++] = ds->n;
  *bounds = b;
  *n_chunks = k - 1;
  return R50_OK;
}

void r50_dataset_free(r50_dataset *ds) {
  if (!ds)
    return;
  if (!ds->rows_shared) {
    free(ds->names);
    free(ds->name_at);
    free(ds->labels);
    free(ds->shard);
    free(ds->member);
    free(ds->size);
  }
  free_names(ds->class_names, ds->n_classes);
  free_names64(ds->shards, ds->n_shards);
  free(ds->shard_packed);
  free_names64(ds->notes, ds->n_notes);
  free(ds->root);
  memset(ds, 0, sizeof *ds);
}

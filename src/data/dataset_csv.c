/*
 * dataset_csv.c — a list of images as a CSV file (RFC 4180): what pandas' to_csv and
 * spreadsheets write, and what `r50worker export` writes as metadata (path,label,row).
 *
 * Rules: fields are separated by commas; a field in double quotes may hold commas,
 * newlines and "" for a quote. A first record naming a path column ("path",
 * "filename", "image", ... any case, blanks around it ignored) or a label column
 * ("label", "target", "class_id") is a header: those columns are used (the first column
 * is the path when none is named; no label column, labels -1). Without a header the first
 * column is the path, the second the label. An empty label is -1. Blank records are
 * skipped. Errors name the file and the line a record starts on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataset.h"
#include "error.h"

enum { MAX_FIELDS = 64 };

typedef struct record {
  char *field[MAX_FIELDS]; /* unquoted, NUL-terminated, in buf */
  int n;
  char *buf;
  size_t cap;
} record;

/* Reads the record at *p (to end), unquoting into r->buf; *line counts the newlines
 * passed. */
static r50_status read_record(const char **p, const char *end, int64_t *line, record *r,
                              const char *name, r50_error *err) {
  const size_t need = (size_t)(end - *p) + 1;
  if (need > r->cap) {
    char *b = realloc(r->buf, need);
    if (!b)
      return r50_fail(err, R50_ERR_NOMEM, "out of memory reading %s", name);
    r->buf = b, r->cap = need;
  }
  const int64_t first = *line;
  char *out = r->buf;
  const char *s = *p;
  r->n = 0;
  for (;;) { /* one field */
    if (r->n == MAX_FIELDS)
      return r50_fail(err, R50_ERR_FORMAT, "%s:%lld: more than %d fields", name,
                      (long long)first, MAX_FIELDS);
    r->field[r->n++] = out;
    if (s < end && *s == '"') {
      for (s++;; s++) {
        if (s == end)
          return r50_fail(err, R50_ERR_FORMAT, "%s:%lld: a quoted field never ends", name,
                          (long long)first);
        if (*s == '"' && s + 1 < end && s[1] == '"')
          *out++ = *s++;
        else if (*s == '"')
          break;
        else {
          *line += *s == '\n';
          *out++ = *s;
        }
      }
      s++; /* the closing quote; what follows up to the comma is kept as written */
    }
    while (s < end && *s != ',' && *s != '\n')
      *out++ = *s++;
    if (out > r->field[r->n - 1] && out[-1] == '\r' && (s == end || *s == '\n'))
      out--; /* CRLF */
    *out++ = 0;
    if (s < end && *s == ',') {
      s++;
      continue;
    }
    break;
  }
  if (s < end) { /* the newline */
    s++;
    (*line)++;
  }
  *p = s;
  return R50_OK;
}

/* Whether header field f is one of names (any case, blanks around it ignored:
 * "path, label"). */
static int names_one_of(const char *f, const char *const *names, size_t n) {
  while (*f == ' ')
    f++;
  size_t len = strlen(f);
  while (len > 0 && f[len - 1] == ' ')
    len--;
  for (size_t i = 0; i < n; i++)
    if (strlen(names[i]) == len && !strncasecmp(f, names[i], len))
      return 1;
  return 0;
}

/* Header names of the path and the label column, as datasets' CSV files have them. */
static int is_path_name(const char *f) {
  static const char *const names[] = {"path", "filepath", "file_path",  "filename",
                                      "file", "image",    "image_path", "img"};
  return names_one_of(f, names, sizeof names / sizeof *names);
}

static int is_label_name(const char *f) {
  static const char *const names[] = {"label", "target", "class_id"};
  return names_one_of(f, names, sizeof names / sizeof *names);
}

/* A label field: blanks around it ignored, empty is -1. */
static int label_of(const char *f, int32_t *label) {
  while (*f == ' ')
    f++;
  size_t n = strlen(f);
  while (n > 0 && f[n - 1] == ' ')
    n--;
  *label = -1;
  return n == 0 || r50_dataset_parse_label(f, n, label);
}

/* Whether record r names a path or a label column: a header. */
static int is_header(const record *r) {
  int header = 0;
  for (int i = 0; i < r->n; i++)
    header |= is_path_name(r->field[i]) || is_label_name(r->field[i]);
  return header;
}

int r50_dataset_csv_header(const char *text, size_t len) {
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
    p += 3;
  while (p < end && (*p == '\n' || *p == '\r'))
    p++;
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  record r = {0};
  int64_t line = 1;
  const int header = read_record(&p, nl ? nl : end, &line, &r, "", NULL) == R50_OK &&
                     r.n >= 2 && is_header(&r); /* a comma, and a column's name */
  free(r.buf);
  return header;
}

r50_status r50_dataset_parse_csv(const char *text, size_t len, const char *name,
                                 r50_dataset *ds, r50_error *err) {
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) /* a UTF-8 byte order mark (Excel's) */
    p += 3;
  if (memchr(p, 0, (size_t)(end - p)))
    return r50_fail(err, R50_ERR_FORMAT, "%s: a NUL byte: not a CSV text file", name);
  record r = {0};
  int path_col = 0, label_col = 1, first = 1;
  r50_status s = R50_OK;
  for (int64_t line = 1; p < end && s == R50_OK;) {
    const int64_t at = line;
    if ((s = read_record(&p, end, &line, &r, name, err)) != R50_OK)
      break;
    if (r.n == 1 && !r.field[0][0])
      continue; /* a blank line */
    if (first && is_header(&r)) {
      path_col = label_col = -1;
      for (int i = 0; i < r.n; i++) {
        if (is_path_name(r.field[i]) && path_col < 0)
          path_col = i;
        if (is_label_name(r.field[i]) && label_col < 0)
          label_col = i;
      }
      if (path_col < 0)
        path_col = 0;
      first = 0;
      continue;
    }
    first = 0;
    if (path_col >= r.n || !r.field[path_col][0]) {
      s = r50_fail(err, R50_ERR_FORMAT, "%s:%lld: no path (column %d)", name,
                   (long long)at, path_col + 1);
      break;
    }
    int32_t label = -1;
    if (label_col >= 0 && label_col < r.n && !label_of(r.field[label_col], &label)) {
      s = r50_fail(err, R50_ERR_FORMAT,
                   "%s:%lld: label '%.40s' (column %d) is not an integer >= -1", name,
                   (long long)at, r.field[label_col], label_col + 1);
      break;
    }
    s = r50_dataset_push(ds, r.field[path_col], strlen(r.field[path_col]), label, err);
  }
  free(r.buf);
  return s;
}

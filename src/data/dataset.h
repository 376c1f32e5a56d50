/*
 * dataset.h — the list of images a job works on: a directory tree or a list file.
 *
 * Rule: the list is deterministic — a directory is walked recursively and sorted by
 * relative path (bytewise); a list file keeps its own order — so every rank and every
 * re-run sees the same rows.
 */
#ifndef R50_DATASET_H
#define R50_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

typedef struct r50_dataset {
  char *root; /* paths are relative to this folder */
  int64_t n;
  char *names; /* (names_len bytes) every row's path, NUL-terminated, in row order */
  int64_t names_len;
  int64_t *name_at;   /* (n) where row i's path starts in names (r50_dataset_name) */
  int32_t *labels;    /* (n) class index, or -1 */
  int n_classes;      /* ImageFolder classes (0 when labels come from a list or none) */
  char **class_names; /* (n_classes) sorted subfolder names */
  /* WebDataset shards (n_shards > 0, tar_shards.h): every row is a sample of one */
  int64_t n_shards;
  char **shards;        /* (n_shards) shard paths relative to root, or absolute */
  int8_t *shard_packed; /* (n_shards) 1: compressed, read as a stream */
  int32_t *shard;       /* (n) the shard of each row */
  int64_t *member;      /* (n) image data offset (plain tar) or member ordinal
                           (compressed); -1: a broken row, see size */
  int64_t *size;        /* (n) image bytes; of a broken row, its index in notes */
  int64_t n_notes;
  char **notes; /* (n_notes) why a broken row cannot be read */
  /* the row arrays (names, name_at, labels, shard, member, size) live in a block this
   * dataset does not own (share_list.c's node-shared window) when set */
  void *rows_shared;
  int64_t cap, names_cap; /* rows and name bytes allocated (while listing) */
} r50_dataset;

/* Row i's path, relative to root (or absolute). */
static inline const char *r50_dataset_name(const r50_dataset *ds, int64_t i) {
  return ds->names + ds->name_at[i];
}

/* Opens `spec`: a WebDataset brace pattern ('shards/{00000..00099}.tar') or a tar file
 * is a dataset of shards (tar_shards.h). A directory is walked (image files only: the
 * extensions of R50_FORMATS_EXTS in formats.h, any case, and files without an extension
 * whose first bytes are those of R50_FORMATS_BY_CONTENT; hidden entries, __MACOSX and
 * @eaDir skipped); if its root holds
 * subdirectories and no data file (an image, in any format, or a tar shard), each
 * subdirectory is a class (labels 0..K-1 in sorted order) and the root's other files (a
 * README, a list) are left out, else labels are -1; a directory with tar shards and no
 * image files is a dataset of those shards. A JPEG, PNG, WebP, GIF, BMP, PNM, TIFF or
 * JPEG 2000 file (by name, or, but PNM, by its first bytes) is a dataset of that one
 * image, in its folder. Any other regular file is a list of "path [label]" lines relative
 * to `root` (NULL: the list file's folder); blank lines and lines starting with '#' are
 * skipped. A path may hold spaces when its line ends with the label ("zebra fish/1.jpg
 * 3"). A list whose every path is a tar shard is a dataset of those shards. "-" is such a
 * list read from standard input, and a FIFO one read from the pipe (read once, to its
 * end), their paths relative to `root` (NULL: the working folder). */
r50_status r50_dataset_open(const char *spec, const char *root, r50_dataset *ds,
                            r50_error *err);

/* How messages name a DATASET argument: "standard input" for "-", else spec. */
static inline const char *r50_dataset_spec_name(const char *spec) {
  return spec && spec[0] == '-' && !spec[1] ? "standard input" : spec;
}

/* Whether name ends in the extension of an image format read here (the walk's list
 * above, any case). */
int r50_has_image_ext(const char *name);

/* Whether the file at path is an image rather than a list: 1 for a JPEG, PNG, WebP,
 * GIF, BMP, PNM, TIFF or JPEG 2000 (by name, or, but PNM, by its first bytes), -1 for an
 * image format not read here (by name), 0 otherwise. */
int r50_is_image_file(const char *path);

/* Several DATASET arguments: R50_OK when each is a JPEG, PNG, WebP, GIF, BMP, PNM or
 * TIFF file (as r50_dataset_open tells one image), else the error naming the first that
 * is not. */
r50_status r50_dataset_check_images(const char *const *paths, int n, r50_error *err);

/* Several images named one by one (a shell glob of photos): each path must be a JPEG,
 * PNG, WebP, GIF, BMP, PNM, TIFF or JPEG 2000 file (r50_dataset_check_images); the rows
 * are the paths as given, in that order, relative to "." (labels -1). */
r50_status r50_dataset_open_images(const char *const *paths, int n, r50_dataset *ds,
                                   r50_error *err);

/* Parses list-file text (len bytes, need not be NUL-terminated); `name` is used in
 * messages ("name:LINE: cause"). Appends to ds, whose root the caller sets. */
r50_status r50_dataset_parse_list(const char *text, size_t len, const char *name,
                                  r50_dataset *ds, r50_error *err);

/* A list's label: the len bytes at s are an integer >= -1 (no blanks); 1 and *out
 * set, else 0. */
int r50_dataset_parse_label(const char *s, size_t len, int32_t *out);

/* Parses a CSV list (dataset_csv.c: a path and a label column, a header optional), as
 * r50_dataset_parse_list does a text list; `name` is used in messages
 * ("name:LINE: cause"). */
r50_status r50_dataset_parse_csv(const char *text, size_t len, const char *name,
                                 r50_dataset *ds, r50_error *err);

/* Whether text starts with a CSV header: a first line with a comma, one of whose
 * names is a path or label column's (dataset_csv.c). Such a list is read as CSV
 * whatever its name (standard input, a FIFO, list.txt). */
int r50_dataset_csv_header(const char *text, size_t len);

/* Appends a row (path: len bytes). */
r50_status r50_dataset_push(r50_dataset *ds, const char *path, size_t len, int32_t label,
                            r50_error *err);

/* Full path of a file relative to ds->root (or absolute) into buf. */
void r50_dataset_join(const r50_dataset *ds, const char *rel, char *buf, size_t cap);

/* The work chunks: rows [bounds[k], bounds[k + 1]) for k < *n_chunks (*bounds
 * malloc'd, n_chunks + 1 entries). Every `chunk` rows start a new one, except that a
 * compressed shard's rows are one chunk whatever their count (it is read as a stream). */
r50_status r50_dataset_chunks(const r50_dataset *ds, int64_t chunk, int64_t **bounds,
                              int64_t *n_chunks, r50_error *err);

/* Full path of row i into buf. */
void r50_dataset_path(const r50_dataset *ds, int64_t i, char *buf, size_t cap);

void r50_dataset_free(r50_dataset *ds); /* no-op for NULL */

/* The whole dataset as one buffer (*buf malloc'd), and back. unpack checks every
 * count and string against len: a damaged buffer is R50_ERR_FORMAT, ds left empty. */
r50_status r50_dataset_pack(const r50_dataset *ds, char **buf, size_t *len,
                            r50_error *err);
r50_status r50_dataset_unpack(const char *buf, size_t len, r50_dataset *ds,
                              r50_error *err);

/* sha256 of the rows (relative paths and labels, in order) and the class names, as
 * hex: two lists with the same digest give the same output rows. The root is not
 * part of it, so another spelling of the same folder keeps the digest. */
void r50_dataset_digest(const r50_dataset *ds, char hex[65]);

#endif

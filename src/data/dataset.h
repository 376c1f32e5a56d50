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
  char *root;         /* paths are relative to this folder */
  int64_t n;
  char **paths;       /* (n) relative paths */
  int32_t *labels;    /* (n) class index, or -1 */
  int n_classes;      /* ImageFolder classes (0 when labels come from a list or none) */
  char **class_names; /* (n_classes) sorted subfolder names */
} r50_dataset;

/* Opens `spec`: a directory is walked (image files only: .jpg .jpeg .jpe .jfif .png,
 * any case; hidden entries skipped); if its root holds only subdirectories each is a
 * class (labels 0..K-1 in sorted order), else labels are -1. A regular file is a list
 * of "path [label]" lines relative to `root` (NULL: the list file's folder); blank
 * lines and lines starting with '#' are skipped. A path may hold spaces when its line
 * ends with the label ("zebra fish/1.jpg 3"). */
r50_status r50_dataset_open(const char *spec, const char *root, r50_dataset *ds,
                            r50_error *err);

/* Parses list-file text (len bytes, need not be NUL-terminated); `name` is used in
 * messages ("name:LINE: cause"). Appends to ds, whose root the caller sets. */
r50_status r50_dataset_parse_list(const char *text, size_t len, const char *name,
                                  r50_dataset *ds, r50_error *err);

/* Full path of row i into buf. */
void r50_dataset_path(const r50_dataset *ds, int64_t i, char *buf, size_t cap);

void r50_dataset_free(r50_dataset *ds); /* no-op for NULL */

/* The whole dataset as one buffer (*buf malloc'd), and back. unpack checks every
 * count and string against len: a damaged buffer is R50_ERR_FORMAT, ds left empty. */
r50_status r50_dataset_pack(const r50_dataset *ds, char **buf, size_t *len, r50_error *err);
r50_status r50_dataset_unpack(const char *buf, size_t len, r50_dataset *ds, r50_error *err);

/* sha256 of the rows (relative paths and labels, in order) and the class names, as
 * hex: two lists with the same digest give the same output rows. The root is not
 * part of it, so another spelling of the same folder keeps the digest. */
void r50_dataset_digest(const r50_dataset *ds, char hex[65]);

#endif

/*
 * h5errors.h — the table of failed rows of a feature file: one entry per row whose
 * status is -1, instead of a message column for every row.
 *
 *   /errors/row      int64 (M,), ascending: the failed rows
 *   /errors/message  UTF-8 variable-length string (M,): the cause, then the row's
 *                    path ("truncated JPEG data: cat/x.jpg"), at most 255 bytes
 *   /errors/failed   the dimension (M) of both
 *
 * Rule: the table is rewritten whole by rank 0 at the end of every run (serially,
 * after the parallel phase): the causes found by this run, plus the earlier runs'
 * causes of rows this run did not attempt again and that are still failed. A killed
 * run writes none; its failed rows stay status -1 and are retried on --resume.
 */
#ifndef R50_H5ERRORS_H
#define R50_H5ERRORS_H

#include <hdf5.h>
#include <stdint.h>

#include "r50.h"

#define R50_ERRORS_MSG_CAP 256 /* a message's bytes at most, with its NUL */

/* An empty table in the open file f (at creation). */
r50_status r50_h5_errors_create(hid_t f, const char *path, r50_error *err);

/* Replaces f's table by this run's n failures (rows[i], msgs[i]; any order) merged
 * with the earlier entries still failed in /images/status and not among rows. */
r50_status r50_h5_errors_merge(hid_t f, const char *path, const int64_t *rows,
                               char *const *msgs, int64_t n, r50_error *err);

/* Reads the table's first k entries of f into rows[] and msgs[] (each message cut to
 * cap bytes, on a character boundary); *got how many were read, *total the table's
 * length (0 0 when the file has no table yet). */
r50_status r50_h5_errors_first(hid_t f, const char *path, int64_t k, int64_t *rows,
                               char (*msgs)[R50_ERRORS_MSG_CAP], int64_t *got,
                               int64_t *total, r50_error *err);

#endif

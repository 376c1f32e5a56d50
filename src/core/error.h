/*
 * error.h — filling an r50_error and passing statuses up.
 *
 * Rule: a function that fails fills `err` once, where the cause is known, and returns
 * the status; callers pass it up unchanged with R50_TRY.
 */
#ifndef R50_ERROR_H
#define R50_ERROR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "r50.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills err (if non-NULL) and returns s. */
r50_status r50_fail(r50_error *err, r50_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a shape as Python prints a tuple — "(64, 3, 7, 7)", "(1000,)", "()" — for
 * messages. */
void r50_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

/* Copies src into dst (cap >= 1 bytes, NUL-terminated), cut if needed at a UTF-8
 * character boundary, never inside a character. */
void r50_utf8_copy(char *dst, size_t cap, const char *src);

/* A message "FROM: cause" becomes "TO: cause" (no-op when it does not start with
 * FROM). */
void r50_rename_in_message(r50_error *err, const char *from, const char *to);

/* This process's rank (0 outside MPI) and host name, as log lines show them, for
 * messages that must name where they come from (CUDA and NCCL errors). */
void r50_log_identity(int *rank, const char **host);

/* progress.c: whether a progress line is drawn on the terminal, unfinished; the next
 * log line then ends it first (rather than run on after it). */
void r50_log_after_progress(int drawn);

#ifdef __cplusplus
}
#endif

/* Evaluates an r50_status expression and returns it from the caller if not R50_OK. */
#define R50_TRY(expr)                                                                    \
  do {                                                                                   \
    r50_status r50_try_s_ = (expr);                                                      \
    if (r50_try_s_ != R50_OK)                                                            \
      return r50_try_s_;                                                                 \
  } while (0)

/* Programmer errors: on in release builds too. */
#define R50_ASSERT(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "r50: assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

#endif

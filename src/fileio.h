/*
 * fileio.h — reading a whole file into memory, with errors that name the file.
 */
#ifndef R50_FILEIO_H
#define R50_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

/* Reads the regular file at path into a new buffer (*buf, free with free()). A file
 * larger than max_bytes is R50_ERR_FORMAT "PATH: N bytes, more than the M-byte limit of
 * <what>"; a missing file R50_ERR_NOT_FOUND; other failures R50_ERR_IO. */
r50_status r50_read_file(const char *path, uint64_t max_bytes, const char *what,
                         uint8_t **buf, size_t *len, r50_error *err);

#endif

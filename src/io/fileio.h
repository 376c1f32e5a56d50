/*
 * fileio.h — reading a whole file into memory, with errors that name the file.
 */
#ifndef R50_FILEIO_H
#define R50_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "r50.h"

/* Opens a regular file for reading without ever blocking on a FIFO or touching a
 * device: anything that is not a regular file is R50_ERR_IO "PATH: not a regular file
 * (a FIFO (named pipe))" etc., a missing file R50_ERR_NOT_FOUND. *size (may be NULL)
 * gets the size fstat reports, which may be 0 for /proc-like files. */
r50_status r50_open_regular(const char *path, int *fd, uint64_t *size, r50_error *err);

/* Reads the regular file at path into a new buffer (*buf, free with free()). A file
 * larger than max_bytes is R50_ERR_FORMAT "PATH: N bytes, more than the M-byte limit of
 * <what>"; a missing file R50_ERR_NOT_FOUND; other failures R50_ERR_IO. The file is
 * read to its end, whatever size stat gave. */
r50_status r50_read_file(const char *path, uint64_t max_bytes, const char *what,
                         uint8_t **buf, size_t *len, r50_error *err);

/* Reads the open descriptor fd (a pipe, a FIFO, standard input) to its end into a new
 * buffer, as r50_read_file does; `name` names it in errors. It blocks until the writer
 * closes its end. fd stays open. */
r50_status r50_read_fd(int fd, const char *name, uint64_t max_bytes, const char *what,
                       uint8_t **buf, size_t *len, r50_error *err);

/* mkdir -p: creates dir and its missing parents (0755); an existing folder is fine,
 * an existing file is R50_ERR_IO "DIR exists and is not a folder". R50_ERR_IO "cannot
 * create PATH: cause" names the level that failed. */
r50_status r50_mkdir_p(const char *dir, r50_error *err);

/* fsync of the folder dir: the entries made, removed or renamed in it are on disk. A
 * folder that cannot be opened for reading, or a file system that cannot sync folders
 * (EINVAL, EBADF), is left as it is. R50_ERR_IO "DIR: fsync: cause" on failure. */
r50_status r50_sync_dir(const char *dir, r50_error *err);

/* Renames tmp (a synced file or folder) over path and syncs path's folder, so that
 * after a crash path is the old one or the new one, whole. R50_ERR_IO "cannot rename
 * TMP to PATH: cause" on failure. */
r50_status r50_rename_durable(const char *tmp, const char *path, r50_error *err);

/* Replaces path with len bytes whole: written to path.tmp, fsync'd and renamed over
 * it (r50_rename_durable), so a kill or a crash leaves the old file or the new one.
 * R50_ERR_IO "cannot write PATH: cause" on failure, the temporary file removed. */
r50_status r50_replace_file(const char *path, const void *data, size_t len,
                            r50_error *err);

#endif

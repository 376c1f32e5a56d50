/*
 * fileio.c — whole-file reads (image files, caffemodels, list files).
 *
 * Rule: the size is checked against the caller's limit from fstat, before anything is
 * allocated, and a file that changes size while read is an error, not a short buffer.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static r50_status read_fd(int fd, const char *path, size_t size, uint8_t *buf,
                          r50_error *err) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return r50_fail(err, R50_ERR_IO, "%s: file shrank while being read", path);
    if (n < 0)
      return r50_fail(err, R50_ERR_IO, "%s: read failed after %zu bytes: %s", path, got,
                      strerror(errno));
    got += (size_t)n;
  }
  return R50_OK;
}

r50_status r50_read_file(const char *path, uint64_t max_bytes, const char *what,
                         uint8_t **buf, size_t *len, r50_error *err) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return r50_fail(err, errno == ENOENT ? R50_ERR_NOT_FOUND : R50_ERR_IO,
                    "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  r50_status s = R50_OK;
  if (fstat(fd, &st) != 0)
    s = r50_fail(err, R50_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    s = r50_fail(err, R50_ERR_IO, "%s: not a regular file", path);
  else if ((uint64_t)st.st_size > max_bytes || (uint64_t)st.st_size > SIZE_MAX - 1)
    s = r50_fail(err, R50_ERR_FORMAT, "%s: %lld bytes, more than the %llu-byte limit of %s",
                 path, (long long)st.st_size, (unsigned long long)max_bytes, what);
  else if (!(*buf = malloc((size_t)st.st_size + 1)))
    s = r50_fail(err, R50_ERR_NOMEM, "%s: out of memory reading %lld bytes", path,
                 (long long)st.st_size);
  else
    s = read_fd(fd, path, (size_t)st.st_size, *buf, err);
  close(fd);
  if (s != R50_OK) {
    free(*buf);
    *buf = NULL;
    return s;
  }
  *len = (size_t)st.st_size;
  return R50_OK;
}

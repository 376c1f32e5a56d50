/*
 * fileio.c — whole-file reads (image files, caffemodels, list files), and reads of a
 * pipe to its end (a list on standard input).
 *
 * Rules: only regular files are read. Anything else (a FIFO, socket, device or
 * folder) is refused from stat() before it is opened, and the open itself is
 * non-blocking, so a FIFO swapped in meanwhile cannot block the job; the fstat of the
 * open file is what counts. A file is read to its end, not to the size stat reports,
 * so files whose size is not known in advance (/proc, some network file systems) read
 * whole; the caller's limit is checked before any memory is committed beyond it.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static const char *file_kind(mode_t m) {
  if (S_ISDIR(m))
    return "a folder";
  if (S_ISFIFO(m))
    return "a FIFO (named pipe)";
  if (S_ISSOCK(m))
    return "a socket";
  if (S_ISCHR(m))
    return "a character device";
  if (S_ISBLK(m))
    return "a block device";
  return "not a plain file";
}

static r50_status not_regular(const char *path, mode_t m, r50_error *err) {
  return r50_fail(err, R50_ERR_IO, "%s: is %s, not a regular file", path, file_kind(m));
}

/* Reads fd to its end into *buf (grown as needed, at most max_bytes). */
static r50_status read_all(int fd, const char *path, size_t hint, uint64_t max_bytes,
                           const char *what, uint8_t **buf, size_t *len, r50_error *err) {
  /* one byte past the limit tells a file at the limit from a larger one */
  const size_t cap_max = max_bytes >= SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)max_bytes + 1;
  size_t cap = hint < 4095 ? 4096 : hint + 1, got = 0;
  if (cap > cap_max)
    cap = cap_max;
  uint8_t *b = malloc(cap);
  if (!b)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
  for (;;) {
    if (got == cap) {
      if ((uint64_t)got > max_bytes) {
        free(b);
        return r50_fail(err, R50_ERR_FORMAT, "%s: more than the %llu-byte limit of %s",
                        path, (unsigned long long)max_bytes, what);
      }
      size_t ncap = cap > cap_max / 2 ? cap_max : cap * 2;
      uint8_t *nb = realloc(b, ncap);
      if (!nb) {
        free(b);
        return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory reading %zu bytes", path,
                        ncap);
      }
      b = nb, cap = ncap;
    }
    ssize_t n = read(fd, b + got, cap - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r50_status s = r50_fail(err, R50_ERR_IO, "%s: read failed after %zu bytes: %s",
                              path, got, strerror(errno));
      free(b);
      return s;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  if ((uint64_t)got > max_bytes) {
    free(b);
    return r50_fail(err, R50_ERR_FORMAT, "%s: more than the %llu-byte limit of %s", path,
                    (unsigned long long)max_bytes, what);
  }
  *buf = b;
  *len = got;
  return R50_OK;
}

r50_status r50_open_regular(const char *path, int *fd, uint64_t *size, r50_error *err) {
  *fd = -1;
  struct stat st;
  if (stat(path, &st) != 0)
    return r50_fail(err, errno == ENOENT ? R50_ERR_NOT_FOUND : R50_ERR_IO,
                    "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return not_regular(path, st.st_mode, err);
  int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (f < 0)
    return r50_fail(err, errno == ENOENT ? R50_ERR_NOT_FOUND : R50_ERR_IO,
                    "%s: cannot open: %s", path, strerror(errno));
  r50_status s = R50_OK;
  if (fstat(f, &st) != 0)
    s = r50_fail(err, R50_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    s = not_regular(path, st.st_mode, err);
  else if (fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) != 0)
    s = r50_fail(err, R50_ERR_IO, "%s: fcntl: %s", path, strerror(errno));
  if (s != R50_OK) {
    close(f);
    return s;
  }
  *fd = f;
  if (size)
    *size = (uint64_t)st.st_size;
  return R50_OK;
}

r50_status r50_read_file(const char *path, uint64_t max_bytes, const char *what,
                         uint8_t **buf, size_t *len, r50_error *err) {
  *buf = NULL;
  *len = 0;
  int fd;
  uint64_t size = 0;
  R50_TRY(r50_open_regular(path, &fd, &size, err));
  r50_status s =
      size > max_bytes
          ? r50_fail(err, R50_ERR_FORMAT,
                     "%s: %llu bytes, more than the %llu-byte limit of %s", path,
                     (unsigned long long)size, (unsigned long long)max_bytes, what)
          : read_all(fd, path, (size_t)size, max_bytes, what, buf, len, err);
  close(fd);
  return s;
}

r50_status r50_read_fd(int fd, const char *name, uint64_t max_bytes, const char *what,
                       uint8_t **buf, size_t *len, r50_error *err) {
  *buf = NULL;
  *len = 0;
  return read_all(fd, name, 0, max_bytes, what, buf, len, err);
}

r50_status r50_mkdir_p(const char *dir, r50_error *err) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
    return r50_fail(err, R50_ERR_ARG, "%.64s...: path too long", dir);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
      *p = '/';
    }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return r50_fail(err, R50_ERR_IO, "%s exists and is not a folder", buf);
  return R50_OK;
}

r50_status r50_sync_dir(const char *dir, r50_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) /* (EACCES: a folder one may write in but not read) */
    return errno == EACCES || errno == EPERM
               ? R50_OK
               : r50_fail(err, R50_ERR_IO, "%s: %s", dir, strerror(errno));
  int rc = fsync(fd), e = errno;
  close(fd);
  if (rc != 0 && e != EINVAL && e != EBADF)
    return r50_fail(err, R50_ERR_IO, "%s: fsync: %s", dir, strerror(e));
  return R50_OK;
}

r50_status r50_rename_durable(const char *tmp, const char *path, r50_error *err) {
  if (rename(tmp, path) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                    strerror(errno));
  const char *slash = strrchr(path, '/');
  char dir[4300];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  return r50_sync_dir(dir, err);
}

r50_status r50_replace_file(const char *path, const void *data, size_t len,
                            r50_error *err) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  const char *p = data;
  int e = 0;
  for (size_t done = 0; done < len && !e;) {
    const ssize_t w = write(fd, p + done, len - done);
    if (w > 0)
      done += (size_t)w;
    else if (w == 0 || errno != EINTR)
      e = w == 0 ? EIO : errno;
  }
  if (!e && fsync(fd) != 0)
    e = errno;
  if (close(fd) != 0 && !e)
    e = errno;
  if (e) {
    unlink(tmp);
    return r50_fail(err, R50_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  r50_status s = r50_rename_durable(tmp, path, err);
  if (s != R50_OK)
    unlink(tmp);
  return s;
}

/*
 * npz.c — NumPy .npz archives: a zip reader (stored and deflated members, ZIP64) with a
 * parser of .npy headers (versions 1.0 to 3.0), and a writer of numpy.savez-compatible
 * stored archives.
 *
 * Rule: no number read from the file is used before it is checked: zip offsets and
 * sizes against the file size, the npy header against the member size, every member
 * against its CRC-32. Member bytes come through a member stream that puts the
 * uncompressed bytes straight into the caller's buffer (pread for stored members,
 * inflate for deflated ones) and keeps the running CRC.
 *
 * The writer produces .npy members byte-identical to numpy 1.24's, with a fixed DOS
 * time (1980-01-01 00:00), so the same arrays always give the same file. Like Python's
 * zipfile it switches to ZIP64 records past 2 GiB - 1 (sizes, offsets) or 65535
 * members.
 */
#include "npz.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "fileio.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_ZIP64_EOCD 0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u
#define ZIP64_MARK 0xFFFFFFFFu  /* a 32-bit field whose value is in the ZIP64 extra */
#define ZIP64_LIMIT 0x7FFFFFFFu /* beyond this the writer uses ZIP64, as zipfile does */
#define ZIP_FLAG_ENCRYPTED 0x0001u
#define ZIP_FLAG_DESCRIPTOR 0x0008u /* sizes and CRC follow the data */
#define DOS_DATE 0x0021u            /* 1980-01-01 */
#define DOS_TIME 0x0000u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

enum {
  LOCAL_LEN = 30,
  CENTRAL_LEN = 46,
  EOCD_LEN = 22,
  ZIP64_EOCD_LEN = 56,
  ZIP64_LOCATOR_LEN = 20,
  EOCD_SEARCH = EOCD_LEN + 0xFFFF, /* the record and the longest comment */
  NPY_MAGIC_LEN = 6,
  NPY_MAX_HEADER = 1 << 20,
  NPY_WRITE_MAX = 512, /* bound on a header the writer makes (8 dims) */
  NPY_ALIGN = 64,
  NPY_GROWTH_DIGITS = 21, /* numpy's spare room after the dict */
  MAX_NESTING = 32,
  STREAM_CHUNK = 1 << 20,
  IO_CHUNK = 1 << 30,
};

static const char NPY_MAGIC[NPY_MAGIC_LEN] = "\x93NUMPY";

/* ------------------------------------------------------------------ dtypes */

static const char *const dtype_descrs[NPZ_OTHER] = {"<f4", "<f8", "<f2", "<i4",
                                                    "<i8", "|u1", "|i1", "|b1"};
static const size_t dtype_sizes[NPZ_OTHER] = {4, 8, 2, 4, 8, 1, 1, 1};

size_t r50_npz_dtype_size(npz_dtype t) {
  return (unsigned)t < NPZ_OTHER ? dtype_sizes[t] : 0;
}

const char *r50_npz_dtype_descr(npz_dtype t) {
  return (unsigned)t < NPZ_OTHER ? dtype_descrs[t] : "?";
}

static int is_one_of(char ch, const char *set) {
  return ch != 0 && strchr(set, ch) != NULL;
}

/* The dtype of a descr string and whether its data is big-endian. */
static npz_dtype map_descr(const char *s, size_t n, int *big) {
  *big = 0;
  if (n != 3 || !is_one_of(s[0], "<>|="))
    return NPZ_OTHER;
  for (int t = 0; t < NPZ_OTHER; t++) {
    if (memcmp(s + 1, dtype_descrs[t] + 1, 2) != 0)
      continue;
    if (dtype_sizes[t] == 1)
      return (npz_dtype)t;
    if (s[0] == '|')
      return NPZ_OTHER;
    *big = s[0] == '>' || (s[0] == '=' && HOST_BIG_ENDIAN);
    return (npz_dtype)t;
  }
  return NPZ_OTHER;
}

/* ------------------------------------------------------------------ bytes */

static uint16_t get16(const unsigned char *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) {
  return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static unsigned char *put16(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v) {
  return put16(put16(p, v & 0xFFFF), v >> 16);
}

static unsigned char *put64(unsigned char *p, uint64_t v) {
  return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

/* (zlib's crc32 of a NULL buffer would restart the CRC, hence the n == 0 case.) */
static uint32_t crc_update(uint32_t crc, const void *buf, size_t n) {
  return n ? (uint32_t)crc32_z(crc, buf, n) : crc;
}

/* Reverses the byte order of n elements of size bytes each. */
static void byteswap(void *data, size_t n, size_t size) {
  unsigned char *p = data;
  for (size_t k = 0; k < n; k++, p += size)
    for (size_t a = 0, b = size - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

/* numel of a shape, or -1 when a dimension is negative or the product overflows. */
static int64_t shape_numel(int ndim, const int64_t *shape) {
  int64_t numel = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0 || (shape[k] > 0 && numel > INT64_MAX / shape[k]))
      return -1;
    numel *= shape[k];
  }
  return numel;
}

/* ------------------------------------------------------------------ reader state */

typedef struct npz_member {
  char *name;         /* as stored, e.g. "conv1/W.npy"; one allocation with key */
  char *key;          /* name without ".npy" */
  uint64_t local_off; /* offset of the local header */
  uint64_t csize;     /* compressed bytes */
  uint64_t usize;     /* uncompressed bytes: npy header + data */
  uint32_t crc;
  uint16_t method; /* 0 stored, 8 deflated */
  uint16_t flags;
  uint64_t data_off;   /* of the member's bytes; 0 until the local header is read */
  uint64_t header_len; /* npy preamble + header; 0 until parsed */
  int swap;            /* data byte order differs from the host's */
  npz_array_info info;
} npz_member;

struct npz_reader {
  char *path;
  int fd;
  uint64_t size; /* of the file */
  int n;
  npz_member *m;       /* (n) in central directory order */
  npz_member **sorted; /* (n) by key, for npz_find */
};

/* Fails with "path: cause", or "path: member 'key': cause" when i >= 0. */
__attribute__((format(printf, 5, 6))) static r50_status
fail(const npz_reader *r, int i, r50_error *err, r50_status s, const char *fmt, ...) {
  char cause[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cause, sizeof cause, fmt, ap);
  va_end(ap);
  if (i >= 0)
    return r50_fail(err, s, "%s: member '%s': %s", r->path, r->m[i].key, cause);
  return r50_fail(err, s, "%s: %s", r->path, cause);
}

/* Reads exactly n bytes at off; a short read is a format error (the file shrank). */
static r50_status read_at(const npz_reader *r, int i, void *buf, size_t n, uint64_t off,
                          r50_error *err) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = pread(r->fd, p, n < IO_CHUNK ? n : IO_CHUNK, (off_t)off);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return fail(r, i, err, R50_ERR_IO, "read at offset %" PRIu64 " failed: %s", off,
                  strerror(errno));
    if (got == 0)
      return fail(r, i, err, R50_ERR_FORMAT, "file ends early, at offset %" PRIu64, off);
    p += got;
    off += (uint64_t)got;
    n -= (size_t)got;
  }
  return R50_OK;
}

/* ------------------------------------------------------------------ zip directory */

typedef struct zip_dir {
  uint64_t entries, size, offset;
} zip_dir;

/* Offset of the last end of central directory record in buf whose comment fits, or n. */
static size_t find_eocd(const unsigned char *buf, size_t n) {
  for (size_t p = n - EOCD_LEN + 1; p-- > 0;)
    if (get32(buf + p) == SIG_EOCD && p + EOCD_LEN + get16(buf + p + 20) <= n)
      return p;
  return n;
}

/* Reads the ZIP64 end of central directory record at off, which must end by limit. */
static r50_status read_zip64_eocd(const npz_reader *r, uint64_t off, uint64_t limit,
                                  zip_dir *d, r50_error *err) {
  unsigned char z[ZIP64_EOCD_LEN];
  if (off > limit || limit - off < ZIP64_EOCD_LEN)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "ZIP64 end of central directory offset %" PRIu64 " is out of place", off);
  R50_TRY(read_at(r, -1, z, sizeof z, off, err));
  if (get32(z) != SIG_ZIP64_EOCD)
    return fail(r, -1, err, R50_ERR_FORMAT, "bad ZIP64 end of central directory record");
  if (get32(z + 16) != 0 || get32(z + 20) != 0 || get64(z + 24) != get64(z + 32))
    return fail(r, -1, err, R50_ERR_UNSUPPORTED,
                "multi-disk zip archives are not supported");
  d->entries = get64(z + 32);
  d->size = get64(z + 40);
  d->offset = get64(z + 48);
  return R50_OK;
}

/* Finds the end of central directory record (and the ZIP64 one a locator points to). */
static r50_status locate_directory(const npz_reader *r, zip_dir *d, r50_error *err) {
  if (r->size < EOCD_LEN)
    return fail(r, -1, err, R50_ERR_FORMAT, "not a zip archive (%" PRIu64 " bytes)",
                r->size);
  size_t tail = r->size < EOCD_SEARCH ? (size_t)r->size : EOCD_SEARCH;
  unsigned char *buf = malloc(tail);
  if (!buf)
    return fail(r, -1, err, R50_ERR_NOMEM, "out of memory");
  r50_status s = read_at(r, -1, buf, tail, r->size - tail, err);
  size_t at = s == R50_OK ? find_eocd(buf, tail) : tail;
  unsigned char eocd[EOCD_LEN] = {0};
  if (at < tail)
    memcpy(eocd, buf + at, EOCD_LEN);
  free(buf);
  R50_TRY(s);
  if (at == tail)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "not a zip archive (no end of central directory record)");
  uint64_t eocd_off = r->size - tail + at;
  if (eocd_off >= ZIP64_LOCATOR_LEN) {
    unsigned char loc[ZIP64_LOCATOR_LEN];
    uint64_t loc_off = eocd_off - ZIP64_LOCATOR_LEN;
    R50_TRY(read_at(r, -1, loc, sizeof loc, loc_off, err));
    if (get32(loc) == SIG_ZIP64_LOCATOR)
      return read_zip64_eocd(r, get64(loc + 8), loc_off, d, err);
  }
  if (get16(eocd + 4) != 0 || get16(eocd + 6) != 0 || get16(eocd + 8) != get16(eocd + 10))
    return fail(r, -1, err, R50_ERR_UNSUPPORTED,
                "multi-disk zip archives are not supported");
  d->entries = get16(eocd + 10);
  d->size = get32(eocd + 12);
  d->offset = get32(eocd + 16);
  return R50_OK;
}

/* Replaces each of the n values (given in ZIP64 field order) that holds ZIP64_MARK by
 * its 64-bit value from the ZIP64 block of the extra field. Returns 0 when the extra
 * field is malformed or a needed value is missing. */
static int widen_zip64(const unsigned char *x, size_t xlen, uint64_t *const v[], int n) {
  int need = 0;
  for (int k = 0; k < n; k++)
    need += *v[k] == ZIP64_MARK;
  while (xlen >= 4) {
    size_t len = get16(x + 2);
    if (len > xlen - 4)
      return 0;
    if (get16(x) == 1) {
      const unsigned char *p = x + 4, *end = x + 4 + len;
      for (int k = 0; k < n; k++) {
        if (*v[k] != ZIP64_MARK)
          continue;
        if (end - p < 8)
          return 0;
        *v[k] = get64(p);
        p += 8;
      }
      return 1;
    }
    x += 4 + len;
    xlen -= 4 + len;
  }
  return need == 0;
}

/* Stores name and key (name less ".npy") of member m in one allocation. */
static r50_status set_name(const npz_reader *r, npz_member *m, const unsigned char *name,
                           size_t nlen, r50_error *err) {
  if (memchr(name, 0, nlen))
    return fail(r, -1, err, R50_ERR_FORMAT, "member %d has a NUL byte in its name", r->n);
  size_t klen = nlen >= 4 && memcmp(name + nlen - 4, ".npy", 4) == 0 ? nlen - 4 : nlen;
  m->name = malloc(nlen + klen + 2);
  if (!m->name)
    return fail(r, -1, err, R50_ERR_NOMEM, "out of memory");
  memcpy(m->name, name, nlen);
  m->name[nlen] = 0;
  m->key = m->name + nlen + 1;
  memcpy(m->key, name, klen);
  m->key[klen] = 0;
  return R50_OK;
}

/* Checks what the central directory says of member i against the file. */
static r50_status check_member(const npz_reader *r, int i, r50_error *err) {
  const npz_member *m = &r->m[i];
  if (m->flags & ZIP_FLAG_ENCRYPTED)
    return fail(r, i, err, R50_ERR_UNSUPPORTED, "encrypted members are not supported");
  if (m->method != 0 && m->method != 8)
    return fail(r, i, err, R50_ERR_UNSUPPORTED,
                "compression method %u is not supported (only stored and deflated)",
                m->method);
  if (m->method == 0 && m->csize != m->usize)
    return fail(r, i, err, R50_ERR_FORMAT,
                "stored member has compressed size %" PRIu64 " but size %" PRIu64,
                m->csize, m->usize);
  if (r->size < LOCAL_LEN || m->local_off > r->size - LOCAL_LEN)
    return fail(r, i, err, R50_ERR_FORMAT,
                "local header offset %" PRIu64 " is past the end of the file (%" PRIu64
                " bytes)",
                m->local_off, r->size);
  return R50_OK;
}

/* Parses the central directory entry at cd[*pos] into member r->n and advances. */
static r50_status parse_central(npz_reader *r, const unsigned char *cd, size_t cd_size,
                                size_t *pos, r50_error *err) {
  const unsigned char *e = cd + *pos;
  size_t left = cd_size - *pos;
  if (left < CENTRAL_LEN || get32(e) != SIG_CENTRAL)
    return fail(r, -1, err, R50_ERR_FORMAT, "central directory entry %d is corrupt",
                r->n);
  size_t nlen = get16(e + 28), xlen = get16(e + 30), clen = get16(e + 32);
  if (CENTRAL_LEN + nlen + xlen + clen > left)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "central directory entry %d runs past the directory's end", r->n);
  npz_member *m = &r->m[r->n];
  R50_TRY(set_name(r, m, e + CENTRAL_LEN, nlen, err));
  int i = r->n++;
  m->flags = get16(e + 8);
  m->method = get16(e + 10);
  m->crc = get32(e + 16);
  m->csize = get32(e + 20);
  m->usize = get32(e + 24);
  m->local_off = get32(e + 42);
  uint64_t *const wide[] = {&m->usize, &m->csize, &m->local_off};
  if (!widen_zip64(e + CENTRAL_LEN + nlen, xlen, wide, 3))
    return fail(r, i, err, R50_ERR_FORMAT,
                "bad ZIP64 extra field in the central directory");
  *pos += CENTRAL_LEN + nlen + xlen + clen;
  return check_member(r, i, err);
}

static r50_status read_directory(npz_reader *r, r50_error *err) {
  zip_dir d = {0, 0, 0};
  R50_TRY(locate_directory(r, &d, err));
  if (d.offset > r->size || d.size > r->size - d.offset)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "central directory (%" PRIu64 " bytes at offset %" PRIu64
                ") runs past the end of the file (%" PRIu64 " bytes)",
                d.size, d.offset, r->size);
  if (d.entries > d.size / CENTRAL_LEN || d.entries > INT_MAX)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "central directory of %" PRIu64 " bytes cannot hold %" PRIu64 " entries",
                d.size, d.entries);
  unsigned char *cd = malloc(d.size ? d.size : 1);
  r->m = calloc(d.entries ? d.entries : 1, sizeof *r->m);
  if (!cd || !r->m) {
    free(cd);
    return fail(r, -1, err, R50_ERR_NOMEM, "out of memory");
  }
  r50_status s = read_at(r, -1, cd, d.size, d.offset, err);
  size_t pos = 0;
  for (uint64_t k = 0; s == R50_OK && k < d.entries; k++)
    s = parse_central(r, cd, d.size, &pos, err);
  free(cd);
  if (s == R50_OK && pos != d.size)
    return fail(r, -1, err, R50_ERR_FORMAT,
                "central directory has %" PRIu64 " bytes after its %" PRIu64 " entries",
                d.size - pos, d.entries);
  return s;
}

static int cmp_member_key(const void *a, const void *b) {
  return strcmp((*(npz_member *const *)a)->key, (*(npz_member *const *)b)->key);
}

/* Sorts the members by key for npz_find; a key found twice is a format error. */
static r50_status index_keys(npz_reader *r, r50_error *err) {
  r->sorted = malloc((r->n ? r->n : 1) * sizeof *r->sorted);
  if (!r->sorted)
    return fail(r, -1, err, R50_ERR_NOMEM, "out of memory");
  for (int i = 0; i < r->n; i++)
    r->sorted[i] = &r->m[i];
  qsort(r->sorted, (size_t)r->n, sizeof *r->sorted, cmp_member_key);
  for (int i = 1; i < r->n; i++)
    if (strcmp(r->sorted[i - 1]->key, r->sorted[i]->key) == 0)
      return fail(r, -1, err, R50_ERR_FORMAT, "key '%s' appears twice",
                  r->sorted[i]->key);
  return R50_OK;
}

static r50_status open_file(npz_reader *r, r50_error *err) {
  return r50_open_regular(r->path, &r->fd, &r->size, err);
}

r50_status r50_npz_open(const char *path, npz_reader **out, r50_error *err) {
  *out = NULL;
  npz_reader *r = calloc(1, sizeof *r);
  char *copy = strdup(path);
  if (!r || !copy) {
    free(r);
    free(copy);
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", path);
  }
  r->path = copy;
  r->fd = -1;
  r50_status s = open_file(r, err);
  if (s == R50_OK)
    s = read_directory(r, err);
  if (s == R50_OK)
    s = index_keys(r, err);
  if (s != R50_OK) {
    r50_npz_close(r);
    return s;
  }
  *out = r;
  return R50_OK;
}

void r50_npz_close(npz_reader *r) {
  if (!r)
    return;
  for (int i = 0; i < r->n; i++)
    free(r->m[i].name);
  free(r->m);
  free(r->sorted);
  if (r->fd >= 0)
    close(r->fd);
  free(r->path);
  free(r);
}

int r50_npz_count(const npz_reader *r) {
  return r->n;
}

const char *r50_npz_key(const npz_reader *r, int i) {
  return i >= 0 && i < r->n ? r->m[i].key : NULL;
}

int r50_npz_find(const npz_reader *r, const char *key) {
  int lo = 0, hi = r->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(r->sorted[mid]->key, key);
    if (c == 0)
      return (int)(r->sorted[mid] - r->m);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* ------------------------------------------------------------------ local headers */

/* Checks the local header h (name and extra field in var) against the directory. */
static r50_status check_local(const npz_reader *r, int i, const unsigned char *h,
                              const unsigned char *var, size_t nlen, size_t xlen,
                              r50_error *err) {
  const npz_member *m = &r->m[i];
  if (nlen != strlen(m->name) || memcmp(var, m->name, nlen) != 0)
    return fail(r, i, err, R50_ERR_FORMAT, "local header names another member");
  if (get16(h + 8) != m->method)
    return fail(r, i, err, R50_ERR_FORMAT,
                "local header's compression method differs from the directory's");
  if (get16(h + 6) & ZIP_FLAG_DESCRIPTOR)
    return R50_OK;
  uint64_t usize = get32(h + 22), csize = get32(h + 18);
  uint64_t *const wide[] = {&usize, &csize};
  if (!widen_zip64(var + nlen, xlen, wide, 2))
    return fail(r, i, err, R50_ERR_FORMAT, "bad ZIP64 extra field in the local header");
  if (usize != m->usize || csize != m->csize || get32(h + 14) != m->crc)
    return fail(r, i, err, R50_ERR_FORMAT,
                "local header's sizes or CRC differ from the directory's");
  return R50_OK;
}

/* Reads member i's local header, which gives where its bytes start. */
static r50_status locate_member(npz_reader *r, int i, r50_error *err) {
  npz_member *m = &r->m[i];
  if (m->data_off)
    return R50_OK;
  unsigned char h[LOCAL_LEN];
  R50_TRY(read_at(r, i, h, sizeof h, m->local_off, err));
  if (get32(h) != SIG_LOCAL)
    return fail(r, i, err, R50_ERR_FORMAT, "no local header at offset %" PRIu64,
                m->local_off);
  size_t nlen = get16(h + 26), xlen = get16(h + 28);
  uint64_t data_off = m->local_off + LOCAL_LEN + nlen + xlen;
  if (data_off > r->size || m->csize > r->size - data_off)
    return fail(r, i, err, R50_ERR_FORMAT,
                "data (%" PRIu64 " bytes at offset %" PRIu64
                ") runs past the end of the file (%" PRIu64 " bytes)",
                m->csize, data_off, r->size);
  unsigned char *var = malloc(nlen + xlen + 1);
  if (!var)
    return fail(r, i, err, R50_ERR_NOMEM, "out of memory");
  r50_status s = read_at(r, i, var, nlen + xlen, m->local_off + LOCAL_LEN, err);
  if (s == R50_OK)
    s = check_local(r, i, h, var, nlen, xlen, err);
  free(var);
  if (s == R50_OK)
    m->data_off = data_off;
  return s;
}

/* ------------------------------------------------------------------ member streams */

typedef struct member_stream {
  npz_reader *r;
  int i;
  uint64_t in_pos;  /* compressed bytes taken from the file */
  uint64_t out_pos; /* uncompressed bytes handed out */
  uint32_t crc;     /* of the bytes handed out */
  int inflating;
  int ended; /* the deflate stream is complete */
  z_stream z;
  unsigned char *in; /* (STREAM_CHUNK) compressed input */
} member_stream;

static r50_status ms_open(member_stream *s, npz_reader *r, int i, r50_error *err) {
  memset(s, 0, sizeof *s);
  s->r = r;
  s->i = i;
  R50_TRY(locate_member(r, i, err));
  if (r->m[i].method != 8)
    return R50_OK;
  s->in = malloc(STREAM_CHUNK);
  s->z.zalloc = Z_NULL;
  s->z.zfree = Z_NULL;
  s->z.opaque = Z_NULL;
  if (!s->in || inflateInit2(&s->z, -MAX_WBITS) != Z_OK) {
    free(s->in);
    s->in = NULL;
    return fail(r, i, err, R50_ERR_NOMEM, "out of memory for inflate");
  }
  s->inflating = 1;
  return R50_OK;
}

static void ms_close(member_stream *s) {
  if (s->inflating)
    inflateEnd(&s->z);
  free(s->in);
}

/* One inflate call, first refilling the input when it is empty and more remains. */
static r50_status ms_inflate_step(member_stream *s, r50_error *err) {
  const npz_member *m = &s->r->m[s->i];
  if (s->z.avail_in == 0 && s->in_pos < m->csize) {
    uint64_t left = m->csize - s->in_pos;
    size_t n = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
    R50_TRY(read_at(s->r, s->i, s->in, n, m->data_off + s->in_pos, err));
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)n;
    s->in_pos += n;
  }
  int zs = inflate(&s->z, Z_NO_FLUSH);
  switch (zs) {
  case Z_OK: return R50_OK;
  case Z_STREAM_END: s->ended = 1; return R50_OK;
  case Z_BUF_ERROR:
    return fail(s->r, s->i, err, R50_ERR_FORMAT,
                "compressed data (%" PRIu64 " bytes) ends inside the deflate stream",
                m->csize);
  case Z_MEM_ERROR:
    return fail(s->r, s->i, err, R50_ERR_NOMEM, "out of memory in inflate");
  default:
    return fail(s->r, s->i, err, R50_ERR_FORMAT, "corrupt deflate data (%s)",
                s->z.msg ? s->z.msg : "unknown error");
  }
}

/* Inflates exactly n bytes into buf. */
static r50_status ms_inflate(member_stream *s, unsigned char *buf, size_t n,
                             r50_error *err) {
  while (n > 0) {
    uInt want = n < IO_CHUNK ? (uInt)n : IO_CHUNK;
    s->z.next_out = buf;
    s->z.avail_out = want;
    while (s->z.avail_out > 0) {
      if (s->ended)
        return fail(s->r, s->i, err, R50_ERR_FORMAT,
                    "deflate stream ends after %" PRIu64 " of %" PRIu64 " bytes",
                    s->out_pos + (want - s->z.avail_out), s->r->m[s->i].usize);
      R50_TRY(ms_inflate_step(s, err));
    }
    s->crc = crc_update(s->crc, buf, want);
    s->out_pos += want;
    buf += want;
    n -= want;
  }
  return R50_OK;
}

/* Hands out the member's next n uncompressed bytes in buf. */
static r50_status ms_read(member_stream *s, void *buf, size_t n, r50_error *err) {
  const npz_member *m = &s->r->m[s->i];
  if (n > m->usize - s->out_pos)
    return fail(s->r, s->i, err, R50_ERR_FORMAT,
                "member is shorter than its npy header says");
  if (s->inflating)
    return ms_inflate(s, buf, n, err);
  R50_TRY(read_at(s->r, s->i, buf, n, m->data_off + s->out_pos, err));
  s->crc = crc_update(s->crc, buf, n);
  s->out_pos += n;
  return R50_OK;
}

/* After every byte was handed out: the deflate stream must end here and the CRC match. */
static r50_status ms_finish(member_stream *s, r50_error *err) {
  const npz_member *m = &s->r->m[s->i];
  while (s->inflating && !s->ended) {
    unsigned char spare;
    s->z.next_out = &spare;
    s->z.avail_out = 1;
    R50_TRY(ms_inflate_step(s, err));
    if (s->z.avail_out == 0)
      return fail(s->r, s->i, err, R50_ERR_FORMAT,
                  "deflate stream holds more than the %" PRIu64 " bytes listed",
                  m->usize);
  }
  if (s->crc != m->crc)
    return fail(s->r, s->i, err, R50_ERR_FORMAT,
                "CRC-32 mismatch (computed %08" PRIx32 ", directory says %08" PRIx32 ")",
                s->crc, m->crc);
  return R50_OK;
}

/* ------------------------------------------------------------------ npy headers */

/* A position in the header text; parse functions return the status and set *why. */
typedef struct cursor {
  const char *p, *end;
} cursor;

static r50_status bad(const char **why, const char *cause) {
  *why = cause;
  return R50_ERR_FORMAT;
}

static void skip_space(cursor *c) {
  while (c->p < c->end && is_one_of(*c->p, " \t\r\n"))
    c->p++;
}

/* Skips spaces and consumes ch if it comes next. */
static int eat(cursor *c, char ch) {
  skip_space(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* Scans a quoted string; *s and *n: its contents as written (escapes kept). */
static int scan_string(cursor *c, const char **s, size_t *n) {
  skip_space(c);
  if (c->p >= c->end || !is_one_of(*c->p, "'\""))
    return 0;
  char quote = *c->p++;
  *s = c->p;
  while (c->p < c->end && *c->p != quote) {
    if (*c->p == '\\' && c->end - c->p > 1)
      c->p++;
    c->p++;
  }
  if (c->p >= c->end)
    return 0;
  *n = (size_t)(c->p - *s);
  c->p++;
  return 1;
}

/* Skips one Python literal: a string, a bracketed group or a bare word. */
static int skip_value(cursor *c, int depth) {
  const char *s;
  size_t n;
  skip_space(c);
  if (c->p >= c->end || depth > MAX_NESTING)
    return 0;
  if (is_one_of(*c->p, "'\""))
    return scan_string(c, &s, &n);
  if (is_one_of(*c->p, "([{")) {
    c->p++;
    for (;;) {
      skip_space(c);
      if (c->p < c->end && is_one_of(*c->p, ")]}")) {
        c->p++;
        return 1;
      }
      if (!eat(c, ',') && !eat(c, ':') && !skip_value(c, depth + 1))
        return 0;
    }
  }
  const char *start = c->p;
  while (c->p < c->end && !is_one_of(*c->p, " \t\r\n,:()[]{}'\"") && *c->p != 0)
    c->p++;
  return c->p > start;
}

/* A non-negative decimal integer, with Python 2's 'L' suffix allowed. */
static int scan_dim(cursor *c, int64_t *out) {
  skip_space(c);
  const char *start = c->p;
  int64_t v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    int digit = *c->p++ - '0';
    if (v > (INT64_MAX - digit) / 10)
      return 0;
    v = v * 10 + digit;
  }
  if (c->p == start)
    return 0;
  if (c->p < c->end && *c->p == 'L')
    c->p++;
  *out = v;
  return 1;
}

static r50_status parse_shape(cursor *c, npz_array_info *info, const char **why) {
  info->ndim = 0;
  if (!eat(c, '('))
    return bad(why, "shape is not a tuple");
  if (eat(c, ')'))
    return R50_OK;
  for (;;) {
    if (info->ndim == NPZ_MAX_DIMS) {
      *why = "more than 8 dimensions";
      return R50_ERR_UNSUPPORTED;
    }
    if (!scan_dim(c, &info->shape[info->ndim++]))
      return bad(why, "shape holds something other than non-negative integers");
    int comma = eat(c, ',');
    if (eat(c, ')'))
      return info->ndim == 1 && !comma ? bad(why, "shape is not a tuple") : R50_OK;
    if (!comma)
      return bad(why, "shape tuple is malformed");
  }
}

static r50_status parse_bool(cursor *c, int *out, const char **why) {
  skip_space(c);
  const char *start = c->p;
  if (!skip_value(c, 0))
    return bad(why, "fortran_order is malformed");
  size_t n = (size_t)(c->p - start);
  if (n == 4 && memcmp(start, "True", 4) == 0)
    *out = 1;
  else if (n == 5 && memcmp(start, "False", 5) == 0)
    *out = 0;
  else
    return bad(why, "fortran_order is not True or False");
  return R50_OK;
}

static void copy_descr(npz_array_info *info, const char *s, size_t n) {
  n = n < sizeof info->descr - 1 ? n : sizeof info->descr - 1;
  memcpy(info->descr, s, n);
  info->descr[n] = 0;
}

/* A descr string maps to a dtype; a structured descr (a list) is NPZ_OTHER. */
static r50_status parse_descr(cursor *c, npz_array_info *info, int *big,
                              const char **why) {
  const char *s;
  size_t n;
  cursor at = *c;
  if (scan_string(c, &s, &n)) {
    copy_descr(info, s, n);
    info->dtype = map_descr(s, n, big);
    return R50_OK;
  }
  *c = at;
  skip_space(c);
  s = c->p;
  if (!skip_value(c, 0))
    return bad(why, "descr is malformed");
  copy_descr(info, s, (size_t)(c->p - s));
  info->dtype = NPZ_OTHER;
  return R50_OK;
}

/* Parses the header dict: exactly 'descr', 'fortran_order' and 'shape', as numpy. */
static r50_status parse_header(const char *text, size_t len, npz_array_info *info,
                               int *big, const char **why) {
  static const char *const keys[] = {"descr", "fortran_order", "shape"};
  cursor c = {text, text + len};
  unsigned seen = 0;
  if (!eat(&c, '{'))
    return bad(why, "not a dict");
  while (!eat(&c, '}')) {
    const char *k;
    size_t kn;
    if (!scan_string(&c, &k, &kn) || !eat(&c, ':'))
      return bad(why, "malformed dict");
    int which = 0;
    while (which < 3 && !(strlen(keys[which]) == kn && memcmp(k, keys[which], kn) == 0))
      which++;
    if (which == 3)
      return bad(why, "unexpected key");
    if (seen & 1u << which)
      return bad(why, "repeated key");
    seen |= 1u << which;
    r50_status s = which == 0   ? parse_descr(&c, info, big, why)
                   : which == 1 ? parse_bool(&c, &info->fortran_order, why)
                                : parse_shape(&c, info, why);
    if (s != R50_OK)
      return s;
    if (!eat(&c, ',')) {
      if (!eat(&c, '}'))
        return bad(why, "malformed dict");
      break;
    }
  }
  skip_space(&c);
  if (c.p != c.end)
    return bad(why, "text after the dict");
  if (seen != 7)
    return bad(why, "'descr', 'fortran_order' or 'shape' is missing");
  return R50_OK;
}

/* Reads the npy preamble and header text of the member s streams (text NUL-ended). */
static r50_status read_npy_text(member_stream *s, char **text, size_t *len,
                                uint64_t *header_len, r50_error *err) {
  const npz_member *m = &s->r->m[s->i];
  unsigned char pre[12];
  if (m->usize < 10)
    return fail(s->r, s->i, err, R50_ERR_FORMAT, "too short for an .npy array");
  R50_TRY(ms_read(s, pre, 10, err));
  if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
    return fail(s->r, s->i, err, R50_ERR_FORMAT, "not an .npy array (bad magic)");
  uint64_t hlen = get16(pre + 8), prefix = 10;
  if (pre[6] == 2 || pre[6] == 3) {
    R50_TRY(ms_read(s, pre + 10, 2, err));
    hlen = get32(pre + 8);
    prefix = 12;
  } else if (pre[6] != 1) {
    return fail(s->r, s->i, err, R50_ERR_UNSUPPORTED, ".npy format version %u.%u", pre[6],
                pre[7]);
  }
  if (hlen > m->usize - prefix)
    return fail(s->r, s->i, err, R50_ERR_FORMAT,
                "npy header (%" PRIu64 " bytes) runs past the member's end", hlen);
  if (hlen > NPY_MAX_HEADER)
    return fail(s->r, s->i, err, R50_ERR_UNSUPPORTED,
                "npy header of %" PRIu64 " bytes is over the %d-byte limit", hlen,
                NPY_MAX_HEADER);
  char *t = malloc(hlen + 1);
  if (!t)
    return fail(s->r, s->i, err, R50_ERR_NOMEM, "out of memory");
  r50_status st = ms_read(s, t, hlen, err);
  if (st != R50_OK) {
    free(t);
    return st;
  }
  t[hlen] = 0;
  *text = t;
  *len = hlen;
  *header_len = prefix + hlen;
  return R50_OK;
}

/* Parses header text into member i's info and checks the data size against it. */
static r50_status set_info(npz_reader *r, int i, const char *text, size_t len,
                           uint64_t header_len, r50_error *err) {
  npz_member *m = &r->m[i];
  npz_array_info info;
  memset(&info, 0, sizeof info);
  int big = 0;
  const char *why = NULL;
  r50_status s = parse_header(text, len, &info, &big, &why);
  if (s != R50_OK)
    return fail(r, i, err, s, "bad .npy header: %s", why);
  info.numel = shape_numel(info.ndim, info.shape);
  if (info.numel < 0)
    return fail(r, i, err, R50_ERR_FORMAT, "npy shape overflows");
  size_t size = r50_npz_dtype_size(info.dtype);
  if (size > 0) {
    char shape[NPZ_MAX_DIMS * 22 + 4];
    r50_format_shape(shape, sizeof shape, info.ndim, info.shape);
    uint64_t data = m->usize - header_len;
    if ((uint64_t)info.numel > data / size || (uint64_t)info.numel * size != data)
      return fail(r, i, err, R50_ERR_FORMAT,
                  "holds %" PRIu64 " data bytes but shape %s of %s needs %" PRId64
                  " x %zu",
                  data, shape, info.descr, info.numel, size);
  }
  m->info = info;
  m->swap = size > 1 && big != HOST_BIG_ENDIAN;
  m->header_len = header_len;
  return R50_OK;
}

/* Parses member i's npy header once. */
static r50_status load_info(npz_reader *r, int i, r50_error *err) {
  if (r->m[i].header_len)
    return R50_OK;
  member_stream s;
  r50_status st = ms_open(&s, r, i, err);
  char *text = NULL;
  size_t len = 0;
  uint64_t header_len = 0;
  if (st == R50_OK)
    st = read_npy_text(&s, &text, &len, &header_len, err);
  if (st == R50_OK)
    st = set_info(r, i, text, len, header_len, err);
  free(text);
  ms_close(&s);
  return st;
}

static r50_status check_index(const npz_reader *r, int i, r50_error *err) {
  if (i < 0 || i >= r->n)
    return fail(r, -1, err, R50_ERR_ARG, "member index %d is out of range (%d members)",
                i, r->n);
  return R50_OK;
}

r50_status r50_npz_info(npz_reader *r, int i, npz_array_info *info, r50_error *err) {
  R50_TRY(check_index(r, i, err));
  R50_TRY(load_info(r, i, err));
  *info = r->m[i].info;
  return R50_OK;
}

/* Streams member i: the header again (it is under the CRC), then the data into dst. */
static r50_status read_member(member_stream *s, void *dst, size_t dst_bytes,
                              r50_error *err) {
  const npz_member *m = &s->r->m[s->i];
  unsigned char *header = malloc(m->header_len);
  if (!header)
    return fail(s->r, s->i, err, R50_ERR_NOMEM, "out of memory");
  r50_status st = ms_read(s, header, m->header_len, err);
  free(header);
  if (st == R50_OK)
    st = ms_read(s, dst, dst_bytes, err);
  if (st == R50_OK)
    st = ms_finish(s, err);
  return st;
}

r50_status r50_npz_read(npz_reader *r, int i, void *dst, size_t dst_bytes,
                        r50_error *err) {
  R50_TRY(check_index(r, i, err));
  R50_TRY(load_info(r, i, err));
  const npz_member *m = &r->m[i];
  size_t size = r50_npz_dtype_size(m->info.dtype);
  if (size == 0)
    return fail(r, i, err, R50_ERR_UNSUPPORTED, "dtype %s is not supported",
                m->info.descr);
  if (m->info.fortran_order)
    return fail(r, i, err, R50_ERR_UNSUPPORTED, "Fortran-order arrays are not supported");
  uint64_t nbytes = m->usize - m->header_len;
  if (dst_bytes != nbytes)
    return fail(r, i, err, R50_ERR_ARG,
                "buffer holds %zu bytes but the array has %" PRIu64, dst_bytes, nbytes);
  member_stream s;
  r50_status st = ms_open(&s, r, i, err);
  if (st == R50_OK)
    st = read_member(&s, dst, dst_bytes, err);
  ms_close(&s);
  if (st == R50_OK && m->swap)
    byteswap(dst, dst_bytes / size, size);
  return st;
}

/* ------------------------------------------------------------------ writer */

typedef struct npz_entry {
  char *name;      /* "<key>.npy" */
  uint64_t offset; /* of the local header */
  uint64_t size;   /* npy bytes, stored */
  uint32_t crc;
} npz_entry;

struct npz_writer {
  char *path;
  char *tmp; /* "<path>.tmp.<pid>" */
  int fd;
  uint64_t pos; /* bytes written */
  npz_entry *e; /* (n) in write order, capacity cap */
  int n, cap;
  r50_status failed; /* a write failed: the archive can only be aborted */
};

/* Writes all n bytes. */
static r50_status write_all(const npz_writer *w, const void *buf, size_t n,
                            r50_error *err) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t put = write(w->fd, p, n < IO_CHUNK ? n : IO_CHUNK);
    if (put < 0 && errno == EINTR)
      continue;
    if (put < 0)
      return r50_fail(err, R50_ERR_IO, "%s: write failed: %s", w->tmp, strerror(errno));
    p += put;
    n -= (size_t)put;
  }
  return R50_OK;
}

r50_status r50_npz_writer_open(const char *path, npz_writer **out, r50_error *err) {
  *out = NULL;
  npz_writer *w = calloc(1, sizeof *w);
  size_t tmp_cap = strlen(path) + 32;
  char *copy = strdup(path), *tmp = malloc(tmp_cap);
  if (!w || !copy || !tmp) {
    free(w);
    free(copy);
    free(tmp);
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", path);
  }
  snprintf(tmp, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
  w->path = copy;
  w->tmp = tmp;
  w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    r50_status s =
        r50_fail(err, R50_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    free(copy);
    free(tmp);
    free(w);
    return s;
  }
  *out = w;
  return R50_OK;
}

/* Builds the .npy 1.0 header exactly as numpy 1.24 does: the dict with sorted keys,
 * spare spaces for growing the first axis, then spaces and '\n' up to a multiple of
 * 64 bytes. Returns its length. */
static size_t npy_header(unsigned char *buf, npz_dtype t, int ndim,
                         const int64_t *shape) {
  /* (r50_npy_header is the public face of this one) */
  char shape_text[NPZ_MAX_DIMS * 22 + 4];
  r50_format_shape(shape_text, sizeof shape_text, ndim, shape);
  char *dict = (char *)buf + 10;
  int n = snprintf(dict, NPY_WRITE_MAX - 10,
                   "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   r50_npz_dtype_descr(t), shape_text);
  if (ndim > 0)
    for (int k = snprintf(NULL, 0, "%" PRId64, shape[0]); k < NPY_GROWTH_DIGITS; k++)
      dict[n++] = ' ';
  size_t text = (size_t)n + 1;
  size_t pad = NPY_ALIGN - (10 + text) % NPY_ALIGN;
  memset(dict + n, ' ', pad);
  dict[n + pad] = '\n';
  memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
  buf[6] = 1;
  buf[7] = 0;
  put16(buf + 8, (uint32_t)(text + pad));
  return 10 + text + pad;
}

size_t r50_npy_header(unsigned char *buf, size_t cap, npz_dtype t, int ndim,
                      const int64_t *shape) {
  if (cap < NPY_WRITE_MAX || ndim < 0 || ndim > NPZ_MAX_DIMS ||
      r50_npz_dtype_size(t) == 0)
    return 0;
  return npy_header(buf, t, ndim, shape);
}

static r50_status check_array(const npz_writer *w, const char *key, npz_dtype dtype,
                              int ndim, const int64_t *shape, const void *data,
                              uint64_t *nbytes, r50_error *err) {
  if (strlen(key) > 0xFFFF - 4)
    return r50_fail(err, R50_ERR_ARG, "%s: key of %zu bytes is too long", w->path,
                    strlen(key));
  if (r50_npz_dtype_size(dtype) == 0)
    return r50_fail(err, R50_ERR_ARG, "%s: key '%s': dtype %d cannot be written", w->path,
                    key, (int)dtype);
  if (ndim < 0 || ndim > NPZ_MAX_DIMS || (ndim > 0 && !shape))
    return r50_fail(err, R50_ERR_ARG, "%s: key '%s': bad ndim %d", w->path, key, ndim);
  int64_t numel = shape_numel(ndim, shape);
  if (numel < 0 || (uint64_t)numel > (UINT64_MAX >> 1) / r50_npz_dtype_size(dtype))
    return r50_fail(err, R50_ERR_ARG, "%s: key '%s': bad shape", w->path, key);
  *nbytes = (uint64_t)numel * r50_npz_dtype_size(dtype);
  if (*nbytes > 0 && !data)
    return r50_fail(err, R50_ERR_ARG, "%s: key '%s': no data", w->path, key);
  return R50_OK;
}

/* The local header of entry e (name of nlen bytes), ZIP64 when e is large. */
static size_t local_header(unsigned char *p0, const npz_entry *e, size_t nlen) {
  int z64 = e->size > ZIP64_LIMIT;
  uint32_t size32 = z64 ? ZIP64_MARK : (uint32_t)e->size;
  unsigned char *p = put32(p0, SIG_LOCAL);
  p = put16(p, z64 ? 45 : 20); /* version needed */
  p = put16(p, 0);             /* flags */
  p = put16(p, 0);             /* stored */
  p = put16(p, DOS_TIME);
  p = put16(p, DOS_DATE);
  p = put32(p, e->crc);
  p = put32(p, size32);
  p = put32(p, size32);
  p = put16(p, (uint32_t)nlen);
  p = put16(p, z64 ? 20 : 0);
  memcpy(p, e->name, nlen);
  p += nlen;
  if (z64)
    p = put64(put64(put16(put16(p, 1), 16), e->size), e->size);
  return (size_t)(p - p0);
}

static r50_status add_entry(npz_writer *w, const char *key, r50_error *err) {
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 64;
    npz_entry *e = w->cap < INT_MAX / 2 ? realloc(w->e, (size_t)cap * sizeof *e) : NULL;
    if (!e)
      return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", w->path);
    w->e = e;
    w->cap = cap;
  }
  npz_entry *e = &w->e[w->n];
  size_t klen = strlen(key);
  e->name = malloc(klen + 5);
  if (!e->name)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", w->path);
  memcpy(e->name, key, klen);
  memcpy(e->name + klen, ".npy", 5);
  w->n++;
  return R50_OK;
}

/* Writes the local header, the npy header and the data of the newest entry. */
static r50_status write_member(npz_writer *w, const unsigned char *npy, size_t npy_len,
                               const void *data, uint64_t nbytes, r50_error *err) {
  npz_entry *e = &w->e[w->n - 1];
  size_t nlen = strlen(e->name);
  e->offset = w->pos;
  e->size = npy_len + nbytes;
  e->crc = crc_update(crc_update(0, npy, npy_len), data, nbytes);
  unsigned char *head = malloc(LOCAL_LEN + nlen + 20 + npy_len);
  if (!head)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", w->path);
  size_t len = local_header(head, e, nlen);
  memcpy(head + len, npy, npy_len);
  r50_status s = write_all(w, head, len + npy_len, err);
  free(head);
  if (s == R50_OK)
    s = write_all(w, data, nbytes, err);
  if (s == R50_OK)
    w->pos += len + e->size;
  return s;
}

r50_status r50_npz_write(npz_writer *w, const char *key, npz_dtype dtype, int ndim,
                         const int64_t *shape, const void *data, r50_error *err) {
  R50_ASSERT(w && key);
  if (w->failed)
    return r50_fail(err, w->failed, "%s: an earlier write failed", w->path);
  uint64_t nbytes = 0;
  R50_TRY(check_array(w, key, dtype, ndim, shape, data, &nbytes, err));
  unsigned char npy[NPY_WRITE_MAX];
  size_t npy_len = npy_header(npy, dtype, ndim, shape);
  r50_status s = add_entry(w, key, err);
  if (s == R50_OK)
    s = write_member(w, npy, npy_len, data, nbytes, err);
  if (s != R50_OK)
    w->failed = s;
  return s;
}

/* The central directory entry of e, with a ZIP64 extra for a large size or offset. */
static size_t central_entry(unsigned char *p0, const npz_entry *e) {
  int big_size = e->size > ZIP64_LIMIT, big_off = e->offset > ZIP64_LIMIT;
  size_t nlen = strlen(e->name);
  size_t xlen = big_size || big_off ? 4 + 16 * big_size + 8 * big_off : 0;
  uint32_t version = xlen ? 45 : 20;
  uint32_t size32 = big_size ? ZIP64_MARK : (uint32_t)e->size;
  unsigned char *p = put32(p0, SIG_CENTRAL);
  p = put16(p, 3u << 8 | version); /* made by: Unix */
  p = put16(p, version);
  p = put16(p, 0); /* flags */
  p = put16(p, 0); /* stored */
  p = put16(p, DOS_TIME);
  p = put16(p, DOS_DATE);
  p = put32(p, e->crc);
  p = put32(p, size32);
  p = put32(p, size32);
  p = put16(p, (uint32_t)nlen);
  p = put16(p, (uint32_t)xlen);
  p = put16(p, 0);              /* comment */
  p = put16(p, 0);              /* disk */
  p = put16(p, 0);              /* internal attributes */
  p = put32(p, 0100644u << 16); /* external: a regular file, rw-r--r-- */
  p = put32(p, big_off ? ZIP64_MARK : (uint32_t)e->offset);
  memcpy(p, e->name, nlen);
  p += nlen;
  if (xlen) {
    p = put16(put16(p, 1), (uint32_t)xlen - 4);
    if (big_size)
      p = put64(put64(p, e->size), e->size);
    if (big_off)
      p = put64(p, e->offset);
  }
  return (size_t)(p - p0);
}

/* The end of central directory record, preceded by the ZIP64 record and locator when
 * the count, size or offset does not fit it. */
static size_t end_records(unsigned char *p0, uint64_t count, uint64_t cd_off,
                          uint64_t cd_size) {
  unsigned char *p = p0;
  if (count > 0xFFFF || cd_off > ZIP64_LIMIT || cd_size > ZIP64_LIMIT) {
    p = put64(put32(p, SIG_ZIP64_EOCD), ZIP64_EOCD_LEN - 12);
    p = put16(put16(p, 3u << 8 | 45), 45);
    p = put32(put32(p, 0), 0);
    p = put64(put64(p, count), count);
    p = put64(put64(p, cd_size), cd_off);
    p = put32(put32(p, SIG_ZIP64_LOCATOR), 0);
    p = put32(put64(p, cd_off + cd_size), 1);
  }
  uint32_t count16 = count > 0xFFFF ? 0xFFFF : (uint32_t)count;
  p = put32(p, SIG_EOCD);
  p = put16(put16(p, 0), 0);
  p = put16(put16(p, count16), count16);
  p = put32(p, cd_size > ZIP64_MARK ? ZIP64_MARK : (uint32_t)cd_size);
  p = put32(p, cd_off > ZIP64_MARK ? ZIP64_MARK : (uint32_t)cd_off);
  p = put16(p, 0); /* comment */
  return (size_t)(p - p0);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A key written twice would make the archive ambiguous. */
static r50_status check_unique(const npz_writer *w, r50_error *err) {
  char **names = malloc((w->n ? w->n : 1) * sizeof *names);
  if (!names)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", w->path);
  for (int i = 0; i < w->n; i++)
    names[i] = w->e[i].name;
  qsort(names, (size_t)w->n, sizeof *names, cmp_name);
  r50_status s = R50_OK;
  for (int i = 1; i < w->n && s == R50_OK; i++)
    if (strcmp(names[i - 1], names[i]) == 0)
      s = r50_fail(err, R50_ERR_ARG, "%s: member '%s' was written twice", w->path,
                   names[i]);
  free(names);
  return s;
}

static r50_status write_directory(const npz_writer *w, r50_error *err) {
  size_t cap = ZIP64_EOCD_LEN + ZIP64_LOCATOR_LEN + EOCD_LEN;
  for (int i = 0; i < w->n; i++)
    cap += CENTRAL_LEN + strlen(w->e[i].name) + 28;
  unsigned char *buf = malloc(cap);
  if (!buf)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory", w->path);
  size_t len = 0;
  for (int i = 0; i < w->n; i++)
    len += central_entry(buf + len, &w->e[i]);
  len += end_records(buf + len, (uint64_t)w->n, w->pos, len);
  r50_status s = write_all(w, buf, len, err);
  free(buf);
  return s;
}

/* Directory, fsync, close and rename; the temporary file is gone or renamed after. */
static r50_status finish_archive(npz_writer *w, r50_error *err) {
  if (w->failed)
    return r50_fail(err, w->failed, "%s: an earlier write failed", w->path);
  R50_TRY(check_unique(w, err));
  R50_TRY(write_directory(w, err));
  if (fsync(w->fd) != 0)
    return r50_fail(err, R50_ERR_IO, "%s: fsync failed: %s", w->tmp, strerror(errno));
  int fd = w->fd;
  w->fd = -1;
  if (close(fd) != 0)
    return r50_fail(err, R50_ERR_IO, "%s: close failed: %s", w->tmp, strerror(errno));
  return r50_rename_durable(w->tmp, w->path, err);
}

static void free_writer(npz_writer *w) {
  for (int i = 0; i < w->n; i++)
    free(w->e[i].name);
  free(w->e);
  free(w->path);
  free(w->tmp);
  free(w);
}

r50_status r50_npz_writer_close(npz_writer *w, r50_error *err) {
  r50_status s = finish_archive(w, err);
  if (s != R50_OK) {
    r50_npz_writer_abort(w);
    return s;
  }
  free_writer(w);
  return R50_OK;
}

void r50_npz_writer_abort(npz_writer *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  unlink(w->tmp);
  free_writer(w);
}

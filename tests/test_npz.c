/*
 * test_npz.c — the npz writer and reader against each other: every dtype and ndim 0..4
 * round-trips bit for bit; the same arrays give byte-identical files; more than 65535
 * members use ZIP64 end records; argument and writer errors; and damaged archives.
 *
 * Rule for damaged archives (truncated at many lengths, single bytes flipped): reading
 * fails with a status whose message names the file, or, when the damage hit a byte
 * that carries no meaning (a timestamp, an attribute), returns exactly the original
 * arrays. Anything else — wrong data read without error, a crash — fails the test
 * (the sanitizer build makes out-of-bounds reads crashes).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npz.h"

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "test_npz: FAIL at %s:%d: ", __FILE__, __LINE__);                  \
      fprintf(stderr, __VA_ARGS__);                                                      \
      fputc('\n', stderr);                                                               \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

typedef struct test_array {
  const char *key;
  npz_dtype dtype;
  int ndim;
  int64_t shape[4];
  unsigned char *data;
  size_t bytes;
} test_array;

enum { N_ARRAYS = 13, MANY = 70000 };

static test_array arrays[N_ARRAYS] = {
    {"scalar", NPZ_F32, 0, {0}, NULL, 0},
    {"conv1/b", NPZ_F32, 1, {7}, NULL, 0},
    {"fc6/W", NPZ_F32, 2, {3, 5}, NULL, 0},
    {"x3", NPZ_F32, 3, {2, 3, 4}, NULL, 0},
    {"res2/a/conv1/W", NPZ_F32, 4, {4, 3, 2, 2}, NULL, 0},
    {"bn1/N", NPZ_I64, 0, {0}, NULL, 0},
    {"image", NPZ_U8, 1, {300}, NULL, 0},
    {"f64", NPZ_F64, 2, {2, 2}, NULL, 0},
    {"f16", NPZ_F16, 1, {5}, NULL, 0},
    {"i32", NPZ_I32, 1, {3}, NULL, 0},
    {"i8", NPZ_I8, 2, {2, 2}, NULL, 0},
    {"bool", NPZ_BOOL, 1, {3}, NULL, 0},
    {"empty", NPZ_F32, 2, {0, 3}, NULL, 0},
};

/* Random bits for every array (floats get NaN payloads, -0, denormals: all must
 * survive bit for bit); bools get 0 and 1. */
static int fill_arrays(void) {
  uint64_t state = 0x9E3779B97F4A7C15u;
  for (int k = 0; k < N_ARRAYS; k++) {
    test_array *a = &arrays[k];
    int64_t numel = 1;
    for (int d = 0; d < a->ndim; d++)
      numel *= a->shape[d];
    a->bytes = (size_t)numel * r50_npz_dtype_size(a->dtype);
    a->data = malloc(a->bytes ? a->bytes : 1);
    CHECK(a->data, "out of memory");
    for (size_t b = 0; b < a->bytes; b++) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      a->data[b] =
          a->dtype == NPZ_BOOL ? (unsigned char)(state & 1) : (unsigned char)state;
    }
  }
  return 0;
}

static int write_arrays(const char *path) {
  r50_error err = {0};
  npz_writer *w = NULL;
  CHECK(r50_npz_writer_open(path, &w, &err) == R50_OK, "%s", err.msg);
  for (int k = 0; k < N_ARRAYS; k++) {
    const test_array *a = &arrays[k];
    r50_status s = r50_npz_write(w, a->key, a->dtype, a->ndim, a->shape, a->data, &err);
    CHECK(s == R50_OK, "%s", err.msg);
  }
  CHECK(r50_npz_writer_close(w, &err) == R50_OK, "%s", err.msg);
  return 0;
}

typedef enum outcome { SAME, DIFFERENT, FAILED } outcome;

/* Compares member k of r with arrays[k]; FAILED leaves the reason in err. The data
 * is read before anything is compared: only npz_read checks the member's CRC. */
static outcome compare_member(npz_reader *r, int k, r50_error *err) {
  const test_array *a = &arrays[k];
  npz_array_info info;
  if (r50_npz_info(r, k, &info, err) != R50_OK)
    return FAILED;
  size_t bytes = (size_t)info.numel * r50_npz_dtype_size(info.dtype);
  unsigned char *got = malloc(bytes ? bytes : 1);
  if (!got) {
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return FAILED;
  }
  r50_status s = r50_npz_read(r, k, got, bytes, err);
  int same = strcmp(r50_npz_key(r, k), a->key) == 0 && r50_npz_find(r, a->key) == k &&
             info.dtype == a->dtype &&
             strcmp(info.descr, r50_npz_dtype_descr(a->dtype)) == 0 &&
             info.ndim == a->ndim && !info.fortran_order &&
             memcmp(info.shape, a->shape, (size_t)a->ndim * sizeof *a->shape) == 0 &&
             bytes == a->bytes && memcmp(got, a->data, bytes) == 0;
  free(got);
  return s != R50_OK ? FAILED : same ? SAME : DIFFERENT;
}

static outcome compare_archive(const char *path, r50_error *err) {
  npz_reader *r = NULL;
  if (r50_npz_open(path, &r, err) != R50_OK)
    return FAILED;
  outcome o = r50_npz_count(r) == N_ARRAYS ? SAME : DIFFERENT;
  for (int k = 0; k < N_ARRAYS && o == SAME; k++)
    o = compare_member(r, k, err);
  r50_npz_close(r);
  return o;
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  rewind(f);
  unsigned char *buf = malloc(*size ? *size : 1);
  if (buf && fread(buf, 1, *size, f) != *size) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static int write_file(const char *path, const unsigned char *buf, size_t size) {
  FILE *f = fopen(path, "wb");
  CHECK(f, "cannot create %s", path);
  CHECK(fwrite(buf, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);
  return 0;
}

static int test_round_trip(const char *dir) {
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/a.npz", dir);
  snprintf(b, sizeof b, "%s/b.npz", dir);
  if (write_arrays(a) || write_arrays(b))
    return 1;
  r50_error err = {0};
  CHECK(compare_archive(a, &err) == SAME, "round trip differs: %s", err.msg);
  size_t na, nb;
  unsigned char *da = read_file(a, &na), *db = read_file(b, &nb);
  int identical = da && db && na == nb && memcmp(da, db, na) == 0;
  free(da);
  free(db);
  CHECK(identical, "writing the same arrays twice gave different files");
  return 0;
}

static int test_reader_errors(const char *dir) {
  char path[512], missing[512];
  snprintf(path, sizeof path, "%s/a.npz", dir);
  snprintf(missing, sizeof missing, "%s/no-such.npz", dir);
  r50_error err = {0};
  npz_reader *r = NULL;
  r50_status s = r50_npz_open(missing, &r, &err);
  CHECK((s == R50_ERR_NOT_FOUND || s == R50_ERR_IO) && !r && strstr(err.msg, missing),
        "missing file: %s", err.msg);
  CHECK(r50_npz_open(dir, &r, &err) == R50_ERR_IO && strstr(err.msg, dir),
        "directory: %s", err.msg);
  CHECK(r50_npz_open(path, &r, &err) == R50_OK, "%s", err.msg);
  unsigned char small[4];
  CHECK(r50_npz_find(r, "nope") == -1 && r50_npz_key(r, N_ARRAYS) == NULL,
        "npz_find / npz_key");
  CHECK(r50_npz_read(r, 1, small, sizeof small, &err) == R50_ERR_ARG &&
            strstr(err.msg, "conv1/b") && strstr(err.msg, path),
        "wrong buffer size: %s", err.msg);
  CHECK(r50_npz_read(r, N_ARRAYS, small, sizeof small, &err) == R50_ERR_ARG, "bad index");
  r50_npz_close(r);
  r50_npz_close(NULL);
  return 0;
}

/* Names in dir other than a.npz and b.npz: a writer must leave nothing behind. */
static int count_strays(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
         strcmp(e->d_name, "a.npz") && strcmp(e->d_name, "b.npz");
  if (d)
    closedir(d);
  return n;
}

static int test_writer_errors(const char *dir) {
  char path[512], bad[512];
  snprintf(path, sizeof path, "%s/w.npz", dir);
  snprintf(bad, sizeof bad, "%s/no-such-dir/w.npz", dir);
  r50_error err = {0};
  npz_writer *w = NULL;
  CHECK(r50_npz_writer_open(bad, &w, &err) == R50_ERR_IO && !w && strstr(err.msg, bad),
        "writer in a missing directory: %s", err.msg);
  const test_array *a = &arrays[1];
  CHECK(r50_npz_writer_open(path, &w, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_npz_write(w, a->key, a->dtype, a->ndim, a->shape, a->data, &err) == R50_OK,
        "%s", err.msg);
  int64_t negative[1] = {-1};
  CHECK(r50_npz_write(w, "neg", NPZ_F32, 1, negative, a->data, &err) == R50_ERR_ARG,
        "negative dimension accepted");
  CHECK(r50_npz_write(w, "other", NPZ_OTHER, 0, NULL, a->data, &err) == R50_ERR_ARG,
        "NPZ_OTHER accepted");
  CHECK(count_strays(dir) == 1, "no temporary file while writing");
  r50_npz_writer_abort(w);
  r50_npz_writer_abort(NULL);
  CHECK(count_strays(dir) == 0, "abort left a file behind");
  CHECK(r50_npz_writer_open(path, &w, &err) == R50_OK, "%s", err.msg);
  for (int k = 0; k < 2; k++)
    CHECK(r50_npz_write(w, a->key, a->dtype, a->ndim, a->shape, a->data, &err) == R50_OK,
          "%s", err.msg);
  CHECK(r50_npz_writer_close(w, &err) == R50_ERR_ARG && strstr(err.msg, a->key),
        "duplicate key: %s", err.msg);
  CHECK(count_strays(dir) == 0, "failed close left a file behind");
  return 0;
}

/* Writes each damaged copy to dir/damaged.npz and checks the rule in the header. */
static int check_damaged(const char *dir, const unsigned char *buf, size_t size,
                         const char *what, size_t at, int *benign) {
  char path[512];
  snprintf(path, sizeof path, "%s/damaged.npz", dir);
  if (write_file(path, buf, size))
    return 1;
  r50_error err = {0};
  outcome o = compare_archive(path, &err);
  CHECK(o != DIFFERENT, "%s at %zu: read without error but the arrays differ", what, at);
  CHECK(o == SAME || strstr(err.msg, path), "%s at %zu: message lacks the path: %s", what,
        at, err.msg);
  *benign += o == SAME;
  return 0;
}

static int test_damage(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/a.npz", dir);
  size_t size;
  unsigned char *orig = read_file(path, &size), *copy = malloc(size);
  CHECK(orig && copy, "cannot read %s", path);
  int rc = 0, benign = 0, truncated = 0, flipped = 0;
  for (size_t len = 0; len < size && !rc; len++) {
    if (len % 97 != 0 && len > 200 && len < size - 200)
      continue;
    rc = check_damaged(dir, orig, len, "truncation", len, &benign);
    truncated++;
  }
  CHECK(rc || benign == 0, "a truncated file was read without error");
  static const unsigned char masks[] = {0x01, 0x20, 0x80};
  for (size_t at = 0; at < size && !rc; at++)
    for (size_t k = 0; k < sizeof masks && !rc; k++) {
      memcpy(copy, orig, size);
      copy[at] ^= masks[k];
      rc = check_damaged(dir, copy, size, "flipped byte", at, &benign);
      flipped++;
    }
  free(orig);
  free(copy);
  snprintf(path, sizeof path, "%s/damaged.npz", dir);
  unlink(path);
  if (!rc)
    printf("test_npz: %d truncated and %d flipped copies failed cleanly or, for %d "
           "flips of meaningless bytes, read unchanged\n",
           truncated, flipped, benign);
  return rc;
}

/* More than 65535 members: the writer needs the ZIP64 end records, the reader too. */
static int test_many_members(const char *dir) {
  char path[512], key[32];
  snprintf(path, sizeof path, "%s/many.npz", dir);
  r50_error err = {0};
  npz_writer *w = NULL;
  CHECK(r50_npz_writer_open(path, &w, &err) == R50_OK, "%s", err.msg);
  for (int k = 0; k < MANY; k++) {
    unsigned char v = (unsigned char)(k * 31);
    snprintf(key, sizeof key, "m%05d", k);
    CHECK(r50_npz_write(w, key, NPZ_U8, 0, NULL, &v, &err) == R50_OK, "%s", err.msg);
  }
  CHECK(r50_npz_writer_close(w, &err) == R50_OK, "%s", err.msg);
  size_t size;
  unsigned char *buf = read_file(path, &size);
  static const unsigned char zip64_eocd[4] = {0x50, 0x4b, 0x06, 0x06};
  int has_zip64 = buf && size > 100 && memcmp(buf + size - 98, zip64_eocd, 4) == 0;
  free(buf);
  CHECK(has_zip64, "no ZIP64 end of central directory record");
  npz_reader *r = NULL;
  CHECK(r50_npz_open(path, &r, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_npz_count(r) == MANY, "%d members, expected %d", r50_npz_count(r), MANY);
  for (int k = 0; k < MANY; k++) {
    unsigned char v = 0;
    snprintf(key, sizeof key, "m%05d", k);
    int i = r50_npz_find(r, key);
    CHECK(i == k, "r50_npz_find(%s) = %d", key, i);
    CHECK(r50_npz_read(r, i, &v, 1, &err) == R50_OK, "%s", err.msg);
    CHECK(v == (unsigned char)(k * 31), "member %s holds %u", key, v);
  }
  r50_npz_close(r);
  unlink(path);
  return 0;
}

/* Removes dir and the files a failed check may have left in it. */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  char path[512];
  for (struct dirent *e; d && (e = readdir(d));) {
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlink(path);
  }
  if (d)
    closedir(d);
  if (rmdir(dir) != 0)
    fprintf(stderr, "test_npz: could not remove %s\n", dir);
}

int main(void) {
  char dir[] = "/tmp/test_npz.XXXXXX";
  if (!mkdtemp(dir)) {
    perror("test_npz: mkdtemp");
    return 1;
  }
  int rc = fill_arrays() || test_round_trip(dir) || test_reader_errors(dir) ||
           test_writer_errors(dir) || test_damage(dir) || test_many_members(dir);
  remove_dir(dir);
  for (int k = 0; k < N_ARRAYS; k++)
    free(arrays[k].data);
  printf("test_npz: %s\n", rc ? "FAILED" : "all checks passed");
  return rc;
}

/*
 * npz_tool.c — a driver of the npz module for test_npz_numpy.py (numpy as the oracle).
 *
 *   npz_tool dump FILE...   for each file a line "#file PATH", then per member
 *                           "key<TAB>descr<TAB>shape<TAB>crc" (shape "64,3,7,7", empty
 *                           for a scalar; crc: CRC-32 in hex of the data as npz_read
 *                           returns it, i.e. little-endian on this host), or a line
 *                           "#error STATUS message" where reading stops
 *   npz_tool copy IN OUT    reads every member of IN and writes them to OUT
 *
 * Exit status: 0 when everything was read (and written), 3 when not, 2 for bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "npz.h"

/* Reads member i into a new buffer (*data, *bytes); info filled. */
static r50_status load_member(npz_reader *r, int i, npz_array_info *info, void **data,
                              size_t *bytes, r50_error *err) {
  R50_TRY(r50_npz_info(r, i, info, err));
  *bytes = (size_t)info->numel * r50_npz_dtype_size(info->dtype);
  *data = malloc(*bytes ? *bytes : 1);
  if (!*data)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  r50_status s = r50_npz_read(r, i, *data, *bytes, err);
  if (s != R50_OK) {
    free(*data);
    *data = NULL;
  }
  return s;
}

static void print_member(const char *key, const npz_array_info *info, const void *data,
                         size_t bytes) {
  printf("%s\t%s\t", key, info->descr);
  for (int d = 0; d < info->ndim; d++)
    printf(d ? ",%" PRId64 : "%" PRId64, info->shape[d]);
  uLong crc = bytes ? crc32_z(0, data, bytes) : 0;
  printf("\t%08lx\n", crc);
}

static r50_status dump_file(const char *path, r50_error *err) {
  npz_reader *r = NULL;
  R50_TRY(r50_npz_open(path, &r, err));
  r50_status s = R50_OK;
  for (int i = 0; i < r50_npz_count(r) && s == R50_OK; i++) {
    npz_array_info info;
    void *data = NULL;
    size_t bytes = 0;
    s = load_member(r, i, &info, &data, &bytes, err);
    if (s == R50_OK)
      print_member(r50_npz_key(r, i), &info, data, bytes);
    free(data);
  }
  r50_npz_close(r);
  return s;
}

static int dump(int n, char **paths) {
  int rc = 0;
  for (int k = 0; k < n; k++) {
    r50_error err = {0};
    printf("#file %s\n", paths[k]);
    r50_status s = dump_file(paths[k], &err);
    if (s != R50_OK) {
      printf("#error %s %s\n", r50_status_name(s), err.msg);
      rc = 3;
    }
  }
  return rc;
}

static r50_status copy_members(npz_reader *r, npz_writer *w, r50_error *err) {
  r50_status s = R50_OK;
  for (int i = 0; i < r50_npz_count(r) && s == R50_OK; i++) {
    npz_array_info info;
    void *data = NULL;
    size_t bytes = 0;
    s = load_member(r, i, &info, &data, &bytes, err);
    if (s == R50_OK)
      s = r50_npz_write(w, r50_npz_key(r, i), info.dtype, info.ndim, info.shape, data,
                        err);
    free(data);
  }
  return s;
}

static r50_status copy(const char *in, const char *out, r50_error *err) {
  npz_reader *r = NULL;
  npz_writer *w = NULL;
  R50_TRY(r50_npz_open(in, &r, err));
  r50_status s = r50_npz_writer_open(out, &w, err);
  if (s == R50_OK)
    s = copy_members(r, w, err);
  if (s == R50_OK)
    s = r50_npz_writer_close(w, err);
  else
    r50_npz_writer_abort(w);
  r50_npz_close(r);
  return s;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "dump") == 0)
    return dump(argc - 2, argv + 2);
  if (argc == 4 && strcmp(argv[1], "copy") == 0) {
    r50_error err = {0};
    r50_status s = copy(argv[2], argv[3], &err);
    if (s != R50_OK)
      fprintf(stderr, "npz_tool: %s %s\n", r50_status_name(s), err.msg);
    return s == R50_OK ? 0 : 3;
  }
  fprintf(stderr, "usage: npz_tool dump FILE... | npz_tool copy IN OUT\n");
  return 2;
}

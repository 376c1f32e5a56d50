/*
 * fuzz_npz.c — libFuzzer target: the npz reader (npz.c, the largest parser of
 * untrusted, downloaded input) on any bytes. The input is served as a file through a
 * memfd, as npz_open reads files; every member's header is parsed and its data read
 * (CRC, inflate, byte order), and the bytes are loaded into a ResNet-50 as
 * r50_load_npz would. Any input must give R50_OK or an error, never a crash, leak or
 * out-of-bounds access.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npz.h"
#include "r50.h"

#define MAX_MEMBER_BYTES (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static r50_model *model;
  if (!model) {
    r50_config cfg = r50_config_default();
    cfg.pretrained = NULL;
    model = r50_model_new(&cfg, NULL);
  }
  int fd = memfd_create("fuzz.npz", 0);
  if (fd < 0)
    return 0;
  if (write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  npz_reader *r;
  r50_error err;
  if (r50_npz_open(path, &r, &err) == R50_OK) {
    for (int i = 0; i < r50_npz_count(r); i++) {
      npz_array_info info;
      if (r50_npz_info(r, i, &info, &err) != R50_OK || info.dtype == NPZ_OTHER)
        continue;
      uint64_t bytes = (uint64_t)info.numel * r50_npz_dtype_size(info.dtype);
      if (bytes > MAX_MEMBER_BYTES)
        continue;
      void *buf = malloc(bytes ? bytes : 1);
      if (buf)
        r50_npz_read(r, i, buf, (size_t)bytes, &err);
      free(buf);
    }
    r50_npz_close(r);
  }
  if (model)
    r50_load_npz(model, path, &err);
  close(fd);
  return 0;
}

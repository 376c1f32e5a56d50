/*
 * auto_model_driver.c — one "rank" of the --model auto concurrency test: builds
 * ResNet-50 from PRETRAINED ("auto" or a path), runs pool5 on a fixed 64x64 input and
 * writes it to OUT.npz (key "pool5").
 *
 * With BARRIER_DIR and N, the process first drops a file in BARRIER_DIR and waits until
 * N files are there, so N processes reach r50_model_new together.
 *
 * usage: auto_model_driver OUT.npz PRETRAINED [BARRIER_DIR N]
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "npz.h"
#include "r50.h"

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static int barrier(const char *dir, int n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ready.%ld", dir, (long)getpid());
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return -1;
  }
  fclose(f);
  for (int waited_ms = 0; count_entries(dir) < n; waited_ms++) {
    if (waited_ms > 120000) {
      fprintf(stderr, "barrier: only %d of %d processes arrived\n", count_entries(dir),
              n);
      return -1;
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5) {
    fprintf(stderr, "usage: auto_model_driver OUT.npz PRETRAINED [BARRIER_DIR N]\n");
    return 2;
  }
  if (argc == 5 && barrier(argv[3], atoi(argv[4])) != 0)
    return 1;
  r50_config cfg = r50_config_default();
  cfg.pretrained = argv[2];
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m) {
    fprintf(stderr, "auto_model_driver: %s\n", err.msg);
    return 1;
  }
  float x[3 * 64 * 64];
  for (int i = 0; i < 3 * 64 * 64; i++)
    x[i] = (float)(120.0 * sin(0.37 * i) + 5.0 * cos(0.011 * i));
  r50_tensor in = {.data = x, .ndim = 4, .shape = {1, 3, 64, 64}}, out;
  const char *layers[] = {"pool5"};
  int rc = 1;
  npz_writer *w;
  if (r50_forward(m, &in, layers, 1, &out, &err) == R50_OK) {
    if (r50_npz_writer_open(argv[1], &w, &err) == R50_OK) {
      if (r50_npz_write(w, "pool5", NPZ_F32, out.ndim, out.shape, out.data, &err) ==
          R50_OK)
        rc = r50_npz_writer_close(w, &err) == R50_OK ? 0 : 1;
      else
        r50_npz_writer_abort(w);
    }
    r50_tensor_free(&out);
  }
  if (rc)
    fprintf(stderr, "auto_model_driver: %s\n", err.msg);
  r50_model_free(m);
  return rc;
}

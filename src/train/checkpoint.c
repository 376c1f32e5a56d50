/*
 * checkpoint.c — writing, finding and reading training checkpoints (checkpoint.h).
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "npz.h"

#define DONE_TEXT "r50worker checkpoint 1\n"

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char path[4600];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

static int is_complete(const char *dir) {
  size_t len = strlen(dir) + sizeof "/DONE";
  char *done = malloc(len);
  if (!done)
    return 0;
  snprintf(done, len, "%s/DONE", dir);
  FILE *f = fopen(done, "r");
  free(done);
  if (!f)
    return 0;
  char text[64] = "";
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  return !strcmp(text, DONE_TEXT);
}

static int descending(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x < y) - (x > y);
}

/* The iteration numbers of the complete checkpoints in ckpts, all of them, sorted
 * descending (*its malloc'd; NULL when there are none, -1 when out of memory); tidy:
 * removes torn ones (temporary folders, or without DONE) — only the run's own job may,
 * since a folder without DONE may be one that job is writing. */
static int64_t list_complete(const char *ckpts, int64_t **its, int tidy) {
  *its = NULL;
  DIR *d = opendir(ckpts);
  if (!d)
    return 0;
  int64_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    char path[4600];
    snprintf(path, sizeof path, "%s/%s", ckpts, e->d_name);
    long long it;
    char tail;
    if (!strncmp(e->d_name, ".tmp-", 5)) {
      if (tidy)
        remove_tree(path); /* a checkpoint whose writer was killed */
    } else if (sscanf(e->d_name, "iter-%lld%c", &it, &tail) == 1) {
      if (!is_complete(path)) {
        if (tidy)
          remove_tree(path);
        continue;
      }
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        int64_t *grown = realloc(*its, (size_t)cap * sizeof *grown);
        if (!grown) {
          closedir(d);
          free(*its);
          *its = NULL;
          return -1;
        }
        *its = grown;
      }
      (*its)[n++] = it;
    }
  }
  closedir(d);
  if (n > 1)
    qsort(*its, (size_t)n, sizeof **its, descending);
  return n;
}

static r50_status write_state(const char *path, r50_optimizer *o,
                              const r50_loop_state *st, r50_error *err) {
  npz_writer *w;
  R50_TRY(r50_npz_writer_open(path, &w, err));
  int64_t n;
  float *v = r50_optimizer_state(o, &n);
  int64_t shape[1] = {n};
  int64_t seed = (int64_t)st->seed;
  double lr = r50_optimizer_lr(o);
  r50_status s = r50_npz_write(w, "velocity", NPZ_F32, 1, shape, v, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "iteration", NPZ_I64, 0, NULL, &st->iteration, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "epoch", NPZ_I64, 0, NULL, &st->epoch, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "position", NPZ_I64, 0, NULL, &st->position, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "seed", NPZ_I64, 0, NULL, &seed, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "world", NPZ_I64, 0, NULL, &st->world, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "batch", NPZ_I64, 0, NULL, &st->batch, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "lr", NPZ_F64, 0, NULL, &lr, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "elapsed_time", NPZ_F64, 0, NULL, &st->elapsed, err);
  int64_t hex_len[1] = {64};
  if (s == R50_OK)
    s = r50_npz_write(w, "dataset_sha256", NPZ_U8, 1, hex_len, st->dataset_sha256, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "train_images", NPZ_I64, 0, NULL, &st->images, err);
  if (s == R50_OK)
    s = r50_npz_write(w, "validated_at", NPZ_I64, 0, NULL, &st->validated_at, err);
  if (s == R50_OK && st->has_best) {
    s = r50_npz_write(w, "best_accuracy", NPZ_F64, 0, NULL, &st->best_accuracy, err);
    if (s == R50_OK)
      s = r50_npz_write(w, "best_epoch", NPZ_I64, 0, NULL, &st->best_epoch, err);
    if (s == R50_OK)
      s = r50_npz_write(w, "best_iteration", NPZ_I64, 0, NULL, &st->best_iteration, err);
    if (s == R50_OK)
      s = r50_npz_write(w, "since_best", NPZ_I64, 0, NULL, &st->since_best, err);
    if (s == R50_OK && *st->val_sha256)
      s = r50_npz_write(w, "val_sha256", NPZ_U8, 1, hex_len, st->val_sha256, err);
  }
  if (s != R50_OK) {
    r50_npz_writer_abort(w);
    return s;
  }
  return r50_npz_writer_close(w, err);
}

r50_status r50_checkpoint_write(const char *run_dir, r50_model *m, r50_optimizer *o,
                                const r50_loop_state *st, int keep, r50_error *err) {
  char ckpts[4096], tmp[4200], final[4200], path[4400];
  snprintf(ckpts, sizeof ckpts, "%s/checkpoints", run_dir);
  R50_TRY(r50_mkdir_p(ckpts, err));
  snprintf(tmp, sizeof tmp, "%s/.tmp-iter-%08lld", ckpts, (long long)st->iteration);
  snprintf(final, sizeof final, "%s/iter-%08lld", ckpts, (long long)st->iteration);
  remove_tree(tmp);
  if (mkdir(tmp, 0755) != 0)
    return r50_fail(err, R50_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  snprintf(path, sizeof path, "%s/model.npz", tmp);
  r50_status s = r50_save_npz(m, path, err); /* written, synced, renamed inside tmp */
  snprintf(path, sizeof path, "%s/state.npz", tmp);
  if (s == R50_OK)
    s = write_state(path, o, st, err);
  snprintf(path, sizeof path, "%s/DONE", tmp);
  if (s == R50_OK) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(DONE_TEXT);
    if (fd < 0 || write(fd, DONE_TEXT, len) != (ssize_t)len || fsync(fd) != 0)
      s = r50_fail(err, R50_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
  }
  if (s == R50_OK)
    s = r50_sync_dir(tmp, err);
  if (s == R50_OK) {
    remove_tree(final); /* a checkpoint of this iteration already there: this one wins */
    s = r50_rename_durable(tmp, final, err);
  }
  if (s != R50_OK) {
    remove_tree(tmp);
    return s;
  }
  int64_t *its, n = list_complete(ckpts, &its, 1);
  for (int64_t i = keep > 0 ? keep : 1; i < n; i++) {
    snprintf(path, sizeof path, "%s/iter-%08lld", ckpts, (long long)its[i]);
    remove_tree(path);
  }
  free(its);
  return R50_OK; /* (out of memory listing them: the old ones stay, nothing is lost) */
}

r50_status r50_checkpoint_find(const char *run_dir, char *dir, size_t cap,
                               r50_error *err) {
  char ckpts[4096];
  snprintf(ckpts, sizeof ckpts, "%s/checkpoints", run_dir);
  int64_t *its, n = list_complete(ckpts, &its, 1);
  if (n < 0)
    return r50_fail(err, R50_ERR_NOMEM, "--resume: out of memory listing %s", ckpts);
  if (n == 0)
    return r50_fail(err, R50_ERR_NOT_FOUND, "--resume: no complete checkpoint in %s",
                    ckpts);
  snprintf(dir, cap, "%s/iter-%08lld", ckpts, (long long)its[0]);
  free(its);
  return R50_OK;
}

r50_status r50_checkpoint_look(const char *run_dir, char *dir, size_t cap, int64_t *n,
                               r50_error *err) {
  char ckpts[4096];
  snprintf(ckpts, sizeof ckpts, "%s/checkpoints", run_dir);
  int64_t *its;
  *n = list_complete(ckpts, &its, 0);
  if (*n < 0)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory listing %s", ckpts);
  dir[0] = 0;
  if (*n > 0)
    snprintf(dir, cap, "%s/iter-%08lld", ckpts, (long long)its[0]);
  free(its);
  return R50_OK;
}

/* Key `key` of r: `numel` elements of `dtype` into out. A key r lacks is an error where
 * `needed`, else leaves out as it is (a checkpoint from before the key was kept). */
static r50_status read_key(npz_reader *r, const char *path, const char *key,
                           npz_dtype dtype, int64_t numel, void *out, int needed,
                           r50_error *err) {
  const int i = r50_npz_find(r, key);
  npz_array_info info;
  if (i < 0 && !needed)
    return R50_OK;
  if (i < 0 || r50_npz_info(r, i, &info, err) != R50_OK || info.dtype != dtype ||
      info.numel != numel)
    return r50_fail(err, R50_ERR_FORMAT, "%s: '%s' missing or not %lld %s", path, key,
                    (long long)numel,
                    dtype == NPZ_I64   ? "int64"
                    : dtype == NPZ_F64 ? "float64"
                                       : "byte(s)");
  return r50_npz_read(r, i, out, (size_t)numel * r50_npz_dtype_size(dtype), err);
}

enum { OPTIONAL = 0, NEEDED = 1 };

/* The loop state's keys of an open state.npz (path names it in messages); keys added
 * since the first checkpoints were written are optional, with the defaults below. */
static r50_status read_loop_state(npz_reader *r, const char *path, r50_loop_state *st,
                                  r50_error *err) {
  int64_t seed = 0;
  memset(st, 0, sizeof *st);
  st->validated_at = INT64_MIN; /* not there: see below */
  const struct {
    const char *key;
    npz_dtype dtype;
    int64_t numel;
    void *out;
    int needed;
  } keys[] = {{"iteration", NPZ_I64, 1, &st->iteration, NEEDED},
              {"epoch", NPZ_I64, 1, &st->epoch, NEEDED},
              {"position", NPZ_I64, 1, &st->position, NEEDED},
              {"seed", NPZ_I64, 1, &seed, NEEDED},
              {"world", NPZ_I64, 1, &st->world, NEEDED},
              {"elapsed_time", NPZ_F64, 1, &st->elapsed, OPTIONAL},
              {"batch", NPZ_I64, 1, &st->batch, OPTIONAL},
              {"validated_at", NPZ_I64, 1, &st->validated_at, OPTIONAL},
              {"val_sha256", NPZ_U8, 64, st->val_sha256, OPTIONAL},
              {"dataset_sha256", NPZ_U8, 64, st->dataset_sha256, OPTIONAL}};
  r50_status s = R50_OK;
  for (size_t k = 0; s == R50_OK && k < sizeof keys / sizeof *keys; k++)
    s = read_key(r, path, keys[k].key, keys[k].dtype, keys[k].numel, keys[k].out,
                 keys[k].needed, err);
  st->val_sha256[64] = st->dataset_sha256[64] = 0;
  if (st->validated_at == INT64_MIN) /* kept before it was: taken after every
                                        validation due, which nothing interrupted then */
    st->validated_at = st->iteration;
  if (s == R50_OK && *st->dataset_sha256) /* kept with the training set's size */
    s = read_key(r, path, "train_images", NPZ_I64, 1, &st->images, NEEDED, err);
  st->has_best = r50_npz_find(r, "best_accuracy") >= 0; /* after a validation */
  if (s == R50_OK && st->has_best)
    s = read_key(r, path, "best_accuracy", NPZ_F64, 1, &st->best_accuracy, NEEDED, err);
  if (s == R50_OK && st->has_best)
    s = read_key(r, path, "best_epoch", NPZ_I64, 1, &st->best_epoch, NEEDED, err);
  if (s == R50_OK && st->has_best)
    s = read_key(r, path, "best_iteration", NPZ_I64, 1, &st->best_iteration, NEEDED, err);
  if (s == R50_OK && st->has_best)
    s = read_key(r, path, "since_best", NPZ_I64, 1, &st->since_best, OPTIONAL, err);
  st->seed = (uint64_t)seed;
  return s;
}

r50_status r50_checkpoint_read_state(const char *dir, r50_loop_state *st,
                                     r50_error *err) {
  char path[4600];
  snprintf(path, sizeof path, "%s/state.npz", dir);
  npz_reader *r;
  R50_TRY(r50_npz_open(path, &r, err));
  r50_status s = read_loop_state(r, path, st, err);
  r50_npz_close(r);
  return s;
}

r50_status r50_checkpoint_read(const char *dir, r50_model *m, r50_optimizer *o,
                               r50_loop_state *st, r50_error *err) {
  char path[4600];
  snprintf(path, sizeof path, "%s/model.npz", dir);
  R50_TRY(r50_load_npz(m, path, err));
  snprintf(path, sizeof path, "%s/state.npz", dir);
  npz_reader *r;
  R50_TRY(r50_npz_open(path, &r, err));
  int64_t n;
  float *v = r50_optimizer_state(o, &n);
  int i = r50_npz_find(r, "velocity");
  npz_array_info info;
  r50_status s = i < 0 ? r50_fail(err, R50_ERR_FORMAT, "%s: no 'velocity'", path)
                       : r50_npz_info(r, i, &info, err);
  if (s == R50_OK && (info.dtype != NPZ_F32 || info.numel != n))
    s = r50_fail(err, R50_ERR_MISMATCH, "%s: 'velocity' has %lld floats, the model %lld",
                 path, (long long)info.numel, (long long)n);
  if (s == R50_OK)
    s = r50_npz_read(r, i, v, (size_t)n * sizeof(float), err);
  if (s == R50_OK)
    s = read_loop_state(r, path, st, err);
  r50_npz_close(r);
  return s;
}

/*
 * test_checkpoint.c — the checkpoint folder's bookkeeping: --resume takes the newest
 * complete checkpoint however many there are (--keep allows 1000), torn ones (no
 * DONE, a writer's temporary folder) are removed, and a write keeps exactly the
 * newest `keep`, the old ones beyond any fixed count included.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "r50.h"
#include "test_util.h"

#define N_FAKE 300

static void make_fake(const char *ckpts, long long it, int complete) {
  char dir[512], done[600];
  snprintf(dir, sizeof dir, "%s/iter-%08lld", ckpts, it);
  CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  if (!complete)
    return;
  snprintf(done, sizeof done, "%s/DONE", dir);
  FILE *f = fopen(done, "w");
  CHECK(f != NULL, "create %s", done);
  if (f) {
    fputs("r50worker checkpoint 1\n", f);
    fclose(f);
  }
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.' || strncmp(e->d_name, ".tmp-", 5) == 0;
  closedir(d);
  return n;
}

int main(void) {
  char run[] = "/tmp/r50-checkpoint-XXXXXX", ckpts[128], found[4400], path[600];
  CHECK(mkdtemp(run) != NULL, "mkdtemp");
  snprintf(ckpts, sizeof ckpts, "%s/checkpoints", run);
  CHECK(mkdir(ckpts, 0755) == 0, "mkdir %s", ckpts);
  r50_error err = {0};
  CHECK(r50_checkpoint_find(run, found, sizeof found, &err) == R50_ERR_NOT_FOUND,
        "no checkpoint: not found");

  /* created in a scrambled order, so the directory's order is not theirs */
  for (int i = 0; i < N_FAKE; i++)
    make_fake(ckpts, 1 + (long long)((i * 7919) % N_FAKE) * 10, 1);
  make_fake(ckpts, 999999, 0); /* torn: no DONE, newer than every complete one */
  snprintf(path, sizeof path, "%s/.tmp-iter-00999998", ckpts);
  CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);

  CHECK(r50_checkpoint_find(run, found, sizeof found, &err) == R50_OK, "%s", err.msg);
  snprintf(path, sizeof path, "%s/iter-%08d", ckpts, 1 + (N_FAKE - 1) * 10);
  CHECK(!strcmp(found, path), "the newest of %d complete checkpoints: got %s, want %s",
        N_FAKE, found, path);
  CHECK(count_entries(ckpts) == N_FAKE, "torn checkpoints removed: %d entries left",
        count_entries(ckpts));

  /* a real write with keep 2 leaves itself and the newest fake one */
  r50_config cfg = r50_config_default();
  cfg.pretrained = NULL; /* random init */
  r50_model *m = r50_model_new(&cfg, &err);
  CHECK(m != NULL, "%s", err.msg);
  r50_optimizer *o = m ? r50_momentum_sgd_new(m, 0.01, 0.9, 0, &err) : NULL;
  CHECK(o != NULL, "%s", err.msg);
  if (o) {
    r50_loop_state st = {.iteration = 100000, .epoch = 3, .seed = 1, .world = 1};
    CHECK(r50_checkpoint_write(run, m, o, &st, 2, &err) == R50_OK, "%s", err.msg);
    CHECK(count_entries(ckpts) == 2, "keep 2 of %d: %d left", N_FAKE + 1,
          count_entries(ckpts));
    snprintf(path, sizeof path, "%s/iter-%08d/DONE", ckpts, 1 + (N_FAKE - 1) * 10);
    CHECK(access(path, F_OK) == 0, "the newest older checkpoint kept");
    CHECK(r50_checkpoint_find(run, found, sizeof found, &err) == R50_OK &&
              strstr(found, "/iter-00100000"),
          "the new checkpoint is the newest: %s", found);
    r50_loop_state back;
    CHECK(r50_checkpoint_read_state(found, &back, &err) == R50_OK, "%s", err.msg);
    CHECK(back.iteration == 100000 && back.epoch == 3 && !back.has_best,
          "its state read back: iteration %lld, epoch %lld, no best before a validation",
          (long long)back.iteration, (long long)back.epoch);
    st.has_best = 1, st.best_accuracy = 0.0, st.best_epoch = 2, st.best_iteration = 777;
    st.iteration++;
    CHECK(r50_checkpoint_write(run, m, o, &st, 2, &err) == R50_OK, "%s", err.msg);
    CHECK(r50_checkpoint_find(run, found, sizeof found, &err) == R50_OK &&
              r50_checkpoint_read_state(found, &back, &err) == R50_OK,
          "%s", err.msg);
    CHECK(back.has_best && back.best_accuracy == 0.0 && back.best_epoch == 2 &&
              back.best_iteration == 777,
          "a best top-1 of 0 after epoch 2 read back: has %d, %g after epoch %lld, "
          "iteration %lld",
          back.has_best, back.best_accuracy, (long long)back.best_epoch,
          (long long)back.best_iteration);
  }
  r50_optimizer_free(o);
  r50_model_free(m);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
  CHECK(system(cmd) == 0, "%s", cmd);
  return test_result("test_checkpoint");
}

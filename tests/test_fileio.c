/*
 * test_fileio.c — replacing a file whole (r50_replace_file), renaming over a file or
 * a folder with the folder synced (r50_rename_durable, as npz files, checkpoints,
 * HDF5 files and exported shards are put in place) and syncing a folder
 * (r50_sync_dir): what each leaves behind, and errors that name the paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "test_util.h"

static char g_dir[] = "/tmp/r50-fileio-XXXXXX";

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

static int holds(const char *path, const char *text) {
  uint8_t *d = NULL;
  size_t n = 0;
  r50_error err = {0};
  if (r50_read_file(path, 1 << 20, "a test file", &d, &n, &err) != R50_OK)
    return 0;
  int same = n == strlen(text) && !memcmp(d, text, n);
  free(d);
  return same;
}

int main(void) {
  if (!mkdtemp(g_dir))
    return 1;
  char a[300], tmp[300], b[300], sub[300], sub_tmp[300], missing[300];
  snprintf(a, sizeof a, "%s/a.txt", g_dir);
  snprintf(tmp, sizeof tmp, "%s/a.txt.tmp", g_dir);
  snprintf(b, sizeof b, "%s/b.txt", g_dir);
  snprintf(sub, sizeof sub, "%s/iter-1", g_dir);
  snprintf(sub_tmp, sizeof sub_tmp, "%s/.tmp-iter-1", g_dir);
  snprintf(missing, sizeof missing, "%s/no/such/folder", g_dir);
  r50_error err = {0};

  /* r50_replace_file: the new bytes whole, no temporary file left */
  CHECK(r50_replace_file(a, "first\n", 6, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_replace_file(a, "second, longer\n", 15, &err) == R50_OK, "%s", err.msg);
  CHECK(holds(a, "second, longer\n") && access(tmp, F_OK) != 0,
        "replace_file: the second text whole, %s gone", tmp);
  char in_missing[400];
  snprintf(in_missing, sizeof in_missing, "%s/x.txt", missing);
  CHECK(r50_replace_file(in_missing, "x", 1, &err) == R50_ERR_IO &&
            strstr(err.msg, "cannot write") && strstr(err.msg, in_missing),
        "replace_file into a missing folder names the file: %s", err.msg);

  /* r50_rename_durable over a file, and a folder onto a new name */
  put(b, "from b\n");
  CHECK(r50_rename_durable(b, a, &err) == R50_OK, "%s", err.msg);
  CHECK(holds(a, "from b\n") && access(b, F_OK) != 0, "rename_durable: b over a");
  CHECK(mkdir(sub_tmp, 0755) == 0, "mkdir %s", sub_tmp);
  CHECK(r50_rename_durable(sub_tmp, sub, &err) == R50_OK, "%s", err.msg);
  struct stat st;
  CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && access(sub_tmp, F_OK) != 0,
        "rename_durable: a folder to its final name");
  CHECK(r50_rename_durable(b, a, &err) == R50_ERR_IO &&
            strstr(err.msg, "cannot rename") && strstr(err.msg, b) && strstr(err.msg, a),
        "rename_durable of a missing file names both paths: %s", err.msg);
  char cwd[4096], here[300];
  CHECK(getcwd(cwd, sizeof cwd) && chdir(g_dir) == 0, "chdir %s", g_dir);
  put("c.tmp", "c\n");
  CHECK(r50_rename_durable("c.tmp", "c.txt", &err) == R50_OK, "a relative path: %s",
        err.msg);
  CHECK(chdir(cwd) == 0, "chdir back");
  snprintf(here, sizeof here, "%s/c.txt", g_dir);
  CHECK(holds(here, "c\n"), "rename_durable with a relative path (the folder '.')");

  /* r50_sync_dir: a folder syncs; a missing one or a file is an error naming it */
  CHECK(r50_sync_dir(g_dir, &err) == R50_OK, "%s", err.msg);
  CHECK(r50_sync_dir(missing, &err) == R50_ERR_IO && strstr(err.msg, missing),
        "sync_dir of a missing folder names it: %s", err.msg);
  CHECK(r50_sync_dir(a, &err) == R50_ERR_IO && strstr(err.msg, a),
        "sync_dir of a file names it: %s", err.msg);

  char rm[400];
  snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
  if (system(rm) != 0)
    fprintf(stderr, "could not remove %s\n", g_dir);
  return test_result("test_fileio");
}

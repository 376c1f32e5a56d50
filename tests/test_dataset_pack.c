/*
 * test_dataset_pack.c — the dataset wire form (what rank 0 sends every other rank)
 * round-trips every dataset form: a flat folder, an ImageFolder tree with class
 * subfolders, a list file with labels, an empty list, odd names (spaces, UTF-8,
 * newlines); every truncation and many byte flips of a packed buffer are refused or
 * decoded, never a crash; the digest follows rows and labels, not the root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "test_util.h"

static char g_dir[] = "/tmp/r50-pack-XXXXXX";

static void touch(const char *rel) {
  char path[512], cmd[1200];
  snprintf(path, sizeof path, "%s/%s", g_dir, rel);
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname \"%s\")\" && : > \"%s\"", path, path);
  CHECK(system(cmd) == 0, "%s", cmd);
}

static void same(const r50_dataset *a, const r50_dataset *b, const char *what) {
  CHECK(!strcmp(a->root, b->root), "%s: root %s vs %s", what, a->root, b->root);
  CHECK(a->n == b->n && a->n_classes == b->n_classes,
        "%s: %lld/%d rows/classes vs %lld/%d", what, (long long)a->n, a->n_classes,
        (long long)b->n, b->n_classes);
  for (int i = 0; i < a->n_classes && i < b->n_classes; i++)
    CHECK(!strcmp(a->class_names[i], b->class_names[i]), "%s: class %d", what, i);
  for (int64_t i = 0; i < a->n && i < b->n; i++)
    CHECK(!strcmp(a->paths[i], b->paths[i]) && a->labels[i] == b->labels[i],
          "%s: row %lld: %s %d vs %s %d", what, (long long)i, a->paths[i], a->labels[i],
          b->paths[i], b->labels[i]);
}

/* pack -> unpack equals; every truncation refused; byte flips never crash. */
static void round_trip(const r50_dataset *ds, const char *what) {
  char *buf;
  size_t len;
  r50_error err = {0};
  CHECK(r50_dataset_pack(ds, &buf, &len, &err) == R50_OK, "%s: pack: %s", what, err.msg);
  r50_dataset back;
  CHECK(r50_dataset_unpack(buf, len, &back, &err) == R50_OK, "%s: unpack: %s", what,
        err.msg);
  same(ds, &back, what);
  char d1[65], d2[65];
  r50_dataset_digest(ds, d1);
  r50_dataset_digest(&back, d2);
  CHECK(!strcmp(d1, d2), "%s: digest changed by the round trip", what);
  r50_dataset_free(&back);
  for (size_t cut = 0; cut < len; cut++) {
    r50_status s = r50_dataset_unpack(buf, cut, &back, &err);
    CHECK(s == R50_ERR_FORMAT, "%s: truncated to %zu of %zu bytes: %s", what, cut, len,
          r50_status_name(s));
    CHECK(back.n == 0 && back.paths == NULL, "%s: refused unpack leaves ds empty", what);
  }
  for (size_t i = 0; i < len; i += 1 + len / 300) {
    char *copy = malloc(len);
    memcpy(copy, buf, len);
    copy[i] ^= (char)0x5a;
    if (r50_dataset_unpack(copy, len, &back, &err) == R50_OK)
      r50_dataset_free(&back);
    free(copy);
  }
  free(buf);
}

static void test_folders(void) {
  touch("flat/b.jpg");
  touch("flat/a b.png");
  touch("flat/sub/c.jpeg");
  touch("flat/\xc3\xa9t\xc3\xa9.jpg"); /* été.jpg */
  touch("tree/cat/1.jpg");
  touch("tree/cat/deep/2.png");
  touch("tree/dog/3.jpg");
  touch("tree/emu/x.txt");
  const char *forms[] = {"flat", "tree"};
  for (int f = 0; f < 2; f++) {
    char root[600];
    snprintf(root, sizeof root, "%s/%s", g_dir, forms[f]);
    r50_dataset ds;
    r50_error err = {0};
    CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
    CHECK(ds.n == (f ? 3 : 4), "%s: %lld rows", forms[f], (long long)ds.n);
    if (f == 1)
      CHECK(ds.n_classes == 3 && ds.labels[0] == 0 && ds.labels[2] == 1,
            "tree: classes and labels");
    round_trip(&ds, forms[f]);
    r50_dataset_free(&ds);
  }
}

static void test_lists(void) {
  const char *text =
      "# a list\nx/1.jpg 3\nweird\xe2\x80\x94name.png 0\n/abs/path.jpg -1\n"
      "no_label.jpg\n";
  r50_dataset ds = {0};
  ds.root = strdup("/data");
  r50_error err = {0};
  CHECK(r50_dataset_parse_list(text, strlen(text), "list.txt", &ds, &err) == R50_OK, "%s",
        err.msg);
  CHECK(ds.n == 4 && ds.labels[0] == 3 && ds.labels[2] == -1, "list rows");
  round_trip(&ds, "list");

  char d1[65], d2[65];
  r50_dataset_digest(&ds, d1);
  free(ds.root);
  ds.root = strdup("/data/./");
  r50_dataset_digest(&ds, d2);
  CHECK(!strcmp(d1, d2), "the root does not change the digest");
  ds.labels[1] = 1;
  r50_dataset_digest(&ds, d2);
  CHECK(strcmp(d1, d2), "a changed label changes the digest");
  ds.labels[1] = 0;
  ds.paths[3][0] = 'N';
  r50_dataset_digest(&ds, d2);
  CHECK(strcmp(d1, d2), "a changed path changes the digest");
  r50_dataset_free(&ds);

  r50_dataset empty = {0};
  empty.root = strdup(".");
  round_trip(&empty, "empty list");
  r50_dataset_free(&empty);

  r50_dataset nl = {0};
  nl.root = strdup("r");
  const char *odd[] = {"new\nline.jpg", "tab\there.png", ""};
  nl.paths = calloc(4, sizeof *nl.paths);
  nl.labels = calloc(4, sizeof *nl.labels);
  for (int i = 0; i < 3; i++)
    nl.paths[i] = strdup(odd[i]), nl.labels[i] = i - 1;
  nl.n = 3;
  round_trip(&nl, "odd names");
  r50_dataset_free(&nl);
}

int main(void) {
  CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
  test_folders();
  test_lists();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  CHECK(system(cmd) == 0, "cleanup");
  return test_result("test_dataset_pack");
}

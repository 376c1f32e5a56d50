/*
 * test_dataset_pack.c — the dataset wire form (what rank 0 sends every other rank)
 * round-trips every dataset form: a flat folder, an ImageFolder tree with class
 * subfolders, a list file with labels, an empty list, odd names (spaces, UTF-8,
 * newlines), WebDataset shards (plain and gzip, a sample without an image); every
 * truncation and many byte flips of a packed buffer are refused or
 * decoded, never a crash; the digest follows rows and labels, not the root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "tar_shards.h"
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
    CHECK(!strcmp(r50_dataset_name(a, i), r50_dataset_name(b, i)) &&
              a->labels[i] == b->labels[i],
          "%s: row %lld: %s %d vs %s %d", what, (long long)i, r50_dataset_name(a, i),
          a->labels[i], r50_dataset_name(b, i), b->labels[i]);
  CHECK(a->n_shards == b->n_shards && a->n_notes == b->n_notes, "%s: shards/notes", what);
  for (int64_t i = 0; i < a->n_shards && i < b->n_shards; i++)
    CHECK(!strcmp(a->shards[i], b->shards[i]) && a->shard_packed[i] == b->shard_packed[i],
          "%s: shard %lld", what, (long long)i);
  for (int64_t i = 0; a->n_shards && i < a->n && i < b->n; i++)
    CHECK(a->shard[i] == b->shard[i] && a->member[i] == b->member[i] &&
              a->size[i] == b->size[i],
          "%s: shard row %lld", what, (long long)i);
  for (int64_t i = 0; i < a->n_notes && i < b->n_notes; i++)
    CHECK(!strcmp(a->notes[i], b->notes[i]), "%s: note %lld", what, (long long)i);
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
    CHECK(back.n == 0 && back.names == NULL, "%s: refused unpack leaves ds empty", what);
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
  ds.names[ds.name_at[3]] = 'N';
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
  for (int i = 0; i < 3; i++)
    CHECK(r50_dataset_push(&nl, odd[i], strlen(odd[i]), i - 1, &err) == R50_OK, "push");
  round_trip(&nl, "odd names");
  r50_dataset_free(&nl);
}

static void sh(const char *cmd) {
  char full[1200];
  snprintf(full, sizeof full, "cd '%s' && %s", g_dir, cmd);
  CHECK(system(full) == 0, "%s", full);
}

/* Shards made with tar(1): a plain one and a gzip one; listing, wire form, chunks. */
static void test_shards(void) {
  sh("mkdir -p w/k && printf 'JPEGDATA' > w/k/000.jpg && printf '7' > w/k/000.cls && "
     "printf 'x' > w/k/000.json && printf 'PNG!' > w/k/001.png && printf 'y' > "
     "w/k/002.txt");
  sh("cd w && tar --format=gnu -cf ../s-0.tar k/000.jpg k/000.cls k/000.json k/001.png "
     "k/002.txt && tar -czf ../s-1.tar.gz k/001.png k/000.jpg");
  char spec[600];
  snprintf(spec, sizeof spec, "%s/s-{0..1}.tar{,.gz}", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(spec, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  /* s-0.tar: k/000 (label 7), k/001, k/002 (no image); s-0.tar.gz missing; s-1.tar
   * missing; s-1.tar.gz: k/001, k/000 */
  CHECK(ds.n == 7 && ds.n_shards == 4, "%lld rows of %lld shards", (long long)ds.n,
        (long long)ds.n_shards);
  if (ds.n == 7) {
    CHECK(ds.labels[0] == 7 && ds.labels[1] == -1 && ds.member[0] > 0 &&
              ds.size[0] == 8 && ds.member[2] == -1 && ds.member[3] == -1 &&
              ds.member[4] == -1 && ds.shard_packed[3] == 1 && ds.member[5] == 0 &&
              ds.member[6] == 1,
          "shard rows: labels, offsets, ordinals, broken rows");
    CHECK(strstr(r50_dataset_name(&ds, 0), "/s-0.tar/k/000") &&
              strstr(r50_dataset_name(&ds, 2), "/s-0.tar/k/002") &&
              strstr(ds.notes[ds.size[2]], "no image member") &&
              strstr(ds.notes[ds.size[3]], "No such file"),
          "row names and notes: %s / %s", r50_dataset_name(&ds, 2), ds.notes[ds.size[2]]);
    r50_tar_cursor *cur = NULL;
    uint8_t *data;
    size_t len;
    CHECK(r50_tar_read(&ds, 0, &cur, 1 << 20, &data, &len, &err) == R50_OK && len == 8 &&
              !memcmp(data, "JPEGDATA", 8),
          "plain member read back: %s", err.msg);
    free(data);
    CHECK(r50_tar_read(&ds, 6, &cur, 1 << 20, &data, &len, &err) == R50_OK && len == 8 &&
              !memcmp(data, "JPEGDATA", 8),
          "compressed member read back: %s", err.msg);
    free(data);
    CHECK(r50_tar_read(&ds, 5, &cur, 1 << 20, &data, &len, &err) == R50_OK && len == 4 &&
              !memcmp(data, "PNG!", 4),
          "an earlier compressed member (the stream reopened): %s", err.msg);
    free(data);
    CHECK(r50_tar_read(&ds, 2, &cur, 1 << 20, &data, &len, &err) == R50_ERR_FORMAT &&
              strstr(err.msg, "s-0.tar/k/002: no image member"),
          "a sample without an image: %s", err.msg);
    r50_tar_cursor_free(cur);
    int64_t *b, nc;
    CHECK(r50_dataset_chunks(&ds, 2, &b, &nc, &err) == R50_OK, "%s", err.msg);
    /* rows 0-4 plain (chunks of 2), rows 5-6 one compressed shard */
    CHECK(nc == 4 && b[0] == 0 && b[1] == 2 && b[2] == 4 && b[3] == 5 && b[4] == 7,
          "chunks: %lld", (long long)nc);
    free(b);
  }
  round_trip(&ds, "shards");
  r50_dataset_free(&ds);
  char **v;
  int64_t n;
  CHECK(r50_brace_expand("a{08..10}b{x,yz}", &v, &n, &err) == R50_OK && n == 6 &&
            !strcmp(v[0], "a08bx") && !strcmp(v[1], "a08byz") && !strcmp(v[5], "a10byz"),
        "brace expansion");
  for (int64_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
  CHECK(r50_brace_expand("a{3..1}", &v, &n, &err) == R50_ERR_ARG &&
            strstr(err.msg, "{3..1}"),
        "a backwards range is refused: %s", err.msg);
}

int main(void) {
  CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
  test_folders();
  test_lists();
  test_shards();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  CHECK(system(cmd) == 0, "cleanup");
  return test_result("test_dataset_pack");
}

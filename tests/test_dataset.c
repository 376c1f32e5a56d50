/*
 * test_dataset.c — dataset listing: ImageFolder classes, flat and nested folders in
 * bytewise order, hidden and non-image files skipped, list files with comments,
 * labels and malformed lines named by file and line. Files beside class folders that
 * are not data (a README, a list) leave ImageFolder as it is; an image or a file in
 * another image format there makes the tree plain. One image file is a dataset of one.
 * A path past PATH_MAX is an error that names its cause first.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "formats.h"
#include "image.h"
#include "test_util.h"

static char g_dir[] = "/tmp/r50-dataset-XXXXXX";

static void touch(const char *rel) {
  char path[512], cmd[1100];
  snprintf(path, sizeof path, "%s/%s", g_dir, rel);
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && : > '%s'", path, path);
  CHECK(system(cmd) == 0, "%s", cmd);
}

static int mkdir_p_str(const char *path) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  return system(cmd) == 0;
}

static void write_bytes(const char *rel, const void *data, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, rel);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL, "%s", path);
  if (f) {
    CHECK(fwrite(data, 1, n, f) == n, "%s", path);
    fclose(f);
  }
}

static void write_file(const char *rel, const char *text) {
  write_bytes(rel, text, strlen(text));
}

static void test_image_folder(void) {
  touch("classes/zebra/b.jpg");
  touch("classes/zebra/a.PNG");
  touch("classes/ant/x/deep.jpeg");
  touch("classes/ant/y.jpg");
  touch("classes/ant/notes.txt");
  touch("classes/ant/.hidden.jpg");
  touch("classes/.git/c.jpg");
  touch("classes/__MACOSX/zebra/._b.jpg");                   /* a zip made on a Mac */
  touch("classes/zebra/@eaDir/b.jpg/SYNOFILE_THUMB_XL.jpg"); /* a Synology NAS */
  char root[512];
  snprintf(root, sizeof root, "%s/classes", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  CHECK(ds.n_classes == 2 && !strcmp(ds.class_names[0], "ant") &&
            !strcmp(ds.class_names[1], "zebra"),
        "classes");
  const char *want[] = {"ant/x/deep.jpeg", "ant/y.jpg", "zebra/a.PNG", "zebra/b.jpg"};
  const int labels[] = {0, 0, 1, 1};
  CHECK(ds.n == 4, "%lld rows", (long long)ds.n);
  for (int i = 0; i < 4 && i < ds.n; i++)
    CHECK(!strcmp(r50_dataset_name(&ds, i), want[i]) && ds.labels[i] == labels[i],
          "row %d: %s %d", i, r50_dataset_name(&ds, i), ds.labels[i]);
  char full[600];
  r50_dataset_path(&ds, 1, full, sizeof full);
  CHECK(strstr(full, "/classes/ant/y.jpg") != NULL, "%s", full);
  r50_dataset_free(&ds);
}

/* Class folders with other files beside them (a README, the list a user keeps there):
 * still ImageFolder, those files left out, an empty class kept in its place. */
static void test_image_folder_beside(void) {
  touch("beside/b/x.jpg");
  touch("beside/a/y.png");
  touch("beside/c_empty/notes.txt");
  write_file("beside/README.txt", "hello\n");
  write_file("beside/train.txt", "a/y.png 0\n");
  char root[512];
  snprintf(root, sizeof root, "%s/beside", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  CHECK(ds.n_classes == 3 && !strcmp(ds.class_names[0], "a") &&
            !strcmp(ds.class_names[1], "b") && !strcmp(ds.class_names[2], "c_empty"),
        "%d classes", ds.n_classes);
  CHECK(ds.n == 2, "%lld rows", (long long)ds.n);
  for (int i = 0; i < 2 && i < ds.n; i++)
    CHECK(ds.labels[i] == i, "row %d: %s %d", i, r50_dataset_name(&ds, i), ds.labels[i]);
  r50_dataset_free(&ds);

  /* a data file at the top, even one in a format not read here: a plain tree */
  const char *tops[] = {"beside/top.JPG", "beside/top.nef"};
  for (int k = 0; k < 2; k++) {
    touch(tops[k]);
    CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
    CHECK(ds.n_classes == 0 && ds.n == 2 + (k == 0), "%s: %d classes, %lld rows", tops[k],
          ds.n_classes, (long long)ds.n);
    for (int64_t i = 0; i < ds.n; i++)
      CHECK(ds.labels[i] == -1, "%s: row %lld labelled", tops[k], (long long)i);
    r50_dataset_free(&ds);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", g_dir, tops[k]);
    CHECK(remove(path) == 0, "%s", path);
  }
}

static void test_flat_folder(void) {
  /* a file at the root: no classes; "a-b/c.jpg" sorts after "a.jpg"? bytewise: '-' <
   * '.', so "a-b/c.jpg" < "a.jpg" < "a/z.jpg" ('.' < '/') */
  touch("flat/a.jpg");
  touch("flat/a/z.jpg");
  touch("flat/a-b/c.jpg");
  /* files without an extension are looked into: a JPEG's or a PNG's first bytes make
   * an image (crawls name files by hash), anything else is left out */
  write_file("flat/a/8f3e01", "\xff\xd8\xff\xe0 a JPEG's start");
  write_file("flat/a/LICENSE", "MIT\n");
  write_file("flat/a/notes.md", "\xff\xd8\xff\xe0 an extension: not looked into");
  char root[512];
  snprintf(root, sizeof root, "%s/flat", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  const char *want[] = {"a-b/c.jpg", "a.jpg", "a/8f3e01", "a/z.jpg"};
  CHECK(ds.n == 4 && ds.n_classes == 0, "%lld rows", (long long)ds.n);
  for (int i = 0; i < 4 && i < ds.n; i++)
    CHECK(!strcmp(r50_dataset_name(&ds, i), want[i]) && ds.labels[i] == -1, "row %d: %s",
          i, r50_dataset_name(&ds, i));
  r50_dataset_free(&ds);
}

static void test_list_file(void) {
  write_file("list.txt", "# train list\n\nimg/a.jpg 3\r\n  img/b.png\t7  \nimg/c.jpg\n"
                         "/abs/d.jpg 0");
  char path[512];
  snprintf(path, sizeof path, "%s/list.txt", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  CHECK(ds.n == 4, "%lld rows", (long long)ds.n);
  if (ds.n == 4) {
    CHECK(!strcmp(r50_dataset_name(&ds, 0), "img/a.jpg") && ds.labels[0] == 3, "row 0");
    CHECK(!strcmp(r50_dataset_name(&ds, 1), "img/b.png") && ds.labels[1] == 7, "row 1");
    CHECK(!strcmp(r50_dataset_name(&ds, 2), "img/c.jpg") && ds.labels[2] == -1, "row 2");
    char full[600];
    r50_dataset_path(&ds, 0, full, sizeof full);
    CHECK(!strcmp(full + strlen(g_dir), "/img/a.jpg"),
          "relative to the list's folder: %s", full);
    r50_dataset_path(&ds, 3, full, sizeof full);
    CHECK(!strcmp(full, "/abs/d.jpg"), "absolute path kept: %s", full);
  }
  r50_dataset_free(&ds);
  CHECK(r50_dataset_open(path, "/data", &ds, &err) == R50_OK && !strcmp(ds.root, "/data"),
        "--root");
  r50_dataset_free(&ds);

  write_file("spaces.txt", "zebra fish/1.jpg 3\n  a  b\tc.png   -1  \n");
  snprintf(path, sizeof path, "%s/spaces.txt", g_dir);
  CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK && ds.n == 2 &&
            !strcmp(r50_dataset_name(&ds, 0), "zebra fish/1.jpg") && ds.labels[0] == 3 &&
            !strcmp(r50_dataset_name(&ds, 1), "a  b\tc.png") && ds.labels[1] == -1,
        "paths with spaces before the label: %s", err.msg);
  r50_dataset_free(&ds);

  /* no label, and the line ends in an image's name: all of it is the path, as `find`
   * prints names with spaces (label -1); a non-integer last field that names no image
   * stays an error (below) */
  write_file("find.txt", "my photos/a b.JPG\nmy photos/c d.png 2\nx/y z.webp\n");
  snprintf(path, sizeof path, "%s/find.txt", g_dir);
  CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK && ds.n == 3 &&
            !strcmp(r50_dataset_name(&ds, 0), "my photos/a b.JPG") &&
            ds.labels[0] == -1 &&
            !strcmp(r50_dataset_name(&ds, 1), "my photos/c d.png") && ds.labels[1] == 2 &&
            !strcmp(r50_dataset_name(&ds, 2), "x/y z.webp") && ds.labels[2] == -1,
        "unlabelled paths with spaces: %s", ds.n ? r50_dataset_name(&ds, 0) : err.msg);
  r50_dataset_free(&ds);

  /* a UTF-8 byte order mark (Windows Notepad's) is not part of the first path */
  write_file("bom.txt", "\xef\xbb\xbfimg/a.jpg 3\r\nimg/b.jpg\r\n");
  snprintf(path, sizeof path, "%s/bom.txt", g_dir);
  CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK && ds.n == 2 &&
            !strcmp(r50_dataset_name(&ds, 0), "img/a.jpg") && ds.labels[0] == 3 &&
            !strcmp(r50_dataset_name(&ds, 1), "img/b.jpg"),
        "a list with a byte order mark and CRLF lines: %s",
        ds.n ? r50_dataset_name(&ds, 0) : err.msg);
  r50_dataset_free(&ds);

  const char *bad[][2] = {{"a.jpg 1\nb.jpg one\n", ":2: label 'one'"},
                          {"a b.jpg x\n", ":1: label 'x'"},
                          {"\n\na.jpg 99999999999\n", ":3: label"},
                          {"a.jpg -2\n", ":1: label '-2'"},
                          {"a b.jpg 3x\n", ":1: label '3x'"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    write_file("bad.txt", bad[i][0]);
    snprintf(path, sizeof path, "%s/bad.txt", g_dir);
    r50_status s = r50_dataset_open(path, NULL, &ds, &err);
    CHECK(s == R50_ERR_FORMAT && strstr(err.msg, "bad.txt") && strstr(err.msg, bad[i][1]),
          "malformed list %zu: %s", i, err.msg);
  }
  CHECK(r50_dataset_open("/nonexistent/list.txt", NULL, &ds, &err) == R50_ERR_NOT_FOUND &&
            strstr(err.msg, "/nonexistent/list.txt"),
        "missing: %s", err.msg);
}

/* Opens g_dir/rel (a .csv, or a list with a CSV header) and checks its rows: n paths and
 * labels, or the error. */
static void check_csv(const char *rel, const char *text, int n, const char *const *paths,
                      const int32_t *labels, const char *want_err) {
  write_file(rel, text);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, rel);
  r50_dataset ds;
  r50_error err = {0};
  r50_status s = r50_dataset_open(path, NULL, &ds, &err);
  if (want_err) {
    CHECK(s == R50_ERR_FORMAT && strstr(err.msg, rel) && strstr(err.msg, want_err),
          "%s: want '%s', got %s", rel, want_err, s == R50_OK ? "rows" : err.msg);
    if (s == R50_OK)
      r50_dataset_free(&ds);
    return;
  }
  CHECK(s == R50_OK && ds.n == n, "%s: %lld rows: %s", rel, (long long)ds.n, err.msg);
  for (int i = 0; s == R50_OK && i < n && i < ds.n; i++)
    CHECK(!strcmp(r50_dataset_name(&ds, i), paths[i]) && ds.labels[i] == labels[i],
          "%s row %d: '%s' %d, want '%s' %d", rel, i, r50_dataset_name(&ds, i),
          ds.labels[i], paths[i], labels[i]);
  if (s == R50_OK)
    r50_dataset_free(&ds);
}

static void test_csv_list(void) {
  /* export's metadata: a header, quoted names with commas, quotes and a newline */
  const char *p1[] = {"a,b \"q\".png", "\xc3\xbc x.png", "two\nlines.jpg"};
  const int32_t l1[] = {-1, 3, 0};
  check_csv("meta.csv",
            "path,label,row\r\n\"a,b \"\"q\"\".png\",-1,0\r\n\xc3\xbc x.png,3,1\r\n"
            "\"two\nlines.jpg\",0,2\r\n",
            3, p1, l1, NULL);
  /* no header; a missing or empty label is -1; blank lines skipped; Excel's BOM */
  const char *p2[] = {"img/a.jpg", "img/b.jpg", "img/c.jpg"};
  const int32_t l2[] = {2, -1, -1};
  check_csv("plain.CSV", "\xef\xbb\xbfimg/a.jpg,2\n\nimg/b.jpg\nimg/c.jpg,\n", 3, p2, l2,
            NULL);
  /* pandas' to_csv with its index, other column names and order */
  const char *p3[] = {"x.jpg", "y.jpg"};
  const int32_t l3[] = {1, 0};
  check_csv("pandas.csv", ",target,filename\n0,1,x.jpg\n1,0,y.jpg\n", 2, p3, l3, NULL);
  const int32_t l4[] = {-1, -1};
  check_csv("paths.csv", "Path\nx.jpg\ny.jpg\n", 2, p3, l4, NULL);
  check_csv("bad1.csv", "x.jpg,abc\ny.jpg,2\n", 0, NULL, NULL, ":1: label 'abc'");
  check_csv("bad2.csv", "path,label\na.jpg,1\nb.jpg,x\n", 0, NULL, NULL,
            ":3: label 'x' (column 2)");
  check_csv("bad3.csv", "a.jpg,1\n\"b.jpg,2\n", 0, NULL, NULL,
            ":2: a quoted field never ends");
  /* a CSV header makes any list CSV, whatever its name (as a pipe has none) */
  check_csv("meta.txt", "\n\"path\" , label\r\nx.jpg,1\ny.jpg,0\n", 2, p3, l3, NULL);
  check_csv("pandas_list", ",target,filename\n0,1,x.jpg\n1,0,y.jpg\n", 2, p3, l3, NULL);
  /* without one, a text list stays a text list: the comma is part of the path */
  const char *p5[] = {"x.jpg,1"};
  const int32_t l5[] = {-1};
  check_csv("commas.txt", "x.jpg,1\n", 1, p5, l5, NULL);
  const char *p6[] = {"labels,path.jpg"};
  check_csv("odd.txt", "labels,path.jpg\n", 1, p6, l5, NULL);
}

/* One image file as DATASET: the dataset of that file in its folder, whether its name
 * (but PNM) or only its first bytes say JPEG, PNG, WebP, GIF, BMP, PNM, TIFF or JPEG
 * 2000 (a JP2 file or a bare codestream); another image format is an error. */
static void test_one_image(void) {
  static const struct {
    const char *name, *bytes;
    size_t n;
  } cases[] = {
      {"one/cat.JPG", "x", 1},
      {"one/noext", "\x89PNG\r\n\x1a\nrest", 12},
      {"one/pic.WebP", "x", 1},
      {"one/d41d8cd9", "RIFFsizeWEBPVP8 ", 16},
      {"one/anim.gif", "x", 1},
      {"one/frame0001", "GIF87a...", 9},
      {"one/scan.BMP", "x", 1},
      {"one/scan0001", "BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18},
      {"one/face.PGM", "x", 1},
      {"one/scan.TIFF", "x", 1},
      {"one/page0001", "MM\0*\0\0\0\x08", 8},
      {"one/stack.tif", "x", 1},
      {"one/folio.JP2", "x", 1},
      {"one/mri.j2k", "x", 1},
      {"one/plate0001", "\0\0\0\x0CjP  \r\n\x87\n", 12},
      {"one/slice0001", "\xFF\x4F\xFF\x51\0\x2F", 6},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    touch("one/.keep");
    write_bytes(cases[k].name, cases[k].bytes, cases[k].n);
    char path[512], full[600];
    snprintf(path, sizeof path, "%s/%s", g_dir, cases[k].name);
    r50_dataset ds;
    r50_error err = {0};
    CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK, "%s: %s", path, err.msg);
    CHECK(ds.n == 1 && ds.labels[0] == -1 &&
              !strcmp(r50_dataset_name(&ds, 0), strrchr(cases[k].name, '/') + 1),
          "%s: one row, its name", cases[k].name);
    if (ds.n == 1) {
      r50_dataset_path(&ds, 0, full, sizeof full);
      CHECK(!strcmp(full, path), "%s: the file itself (%s)", cases[k].name, full);
    }
    r50_dataset_free(&ds);
  }
  /* a list whose first line starts "BM" is no BMP (a BMP needs its header's size too),
   * nor one starting "P2 " a PNM (PNM files are told by their names alone) */
  write_file("one/bmlist", "BMW/a.jpg 1\nP2 2\n");
  char list[512];
  snprintf(list, sizeof list, "%s/one/bmlist", g_dir);
  r50_dataset lds;
  r50_error lerr = {0};
  CHECK(r50_dataset_open(list, NULL, &lds, &lerr) == R50_OK && lds.n == 2 &&
            !strcmp(r50_dataset_name(&lds, 1), "P2") && lds.labels[1] == 2,
        "a list starting with BM: %s", lerr.msg);
  r50_dataset_free(&lds);
  write_file("one/photo.CR2", "x");
  char raw[512];
  snprintf(raw, sizeof raw, "%s/one/photo.CR2", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(raw, NULL, &ds, &err) == R50_ERR_FORMAT &&
            strstr(err.msg, "reads " R50_FORMATS_AND),
        "a camera's raw file: %s", err.msg);
}

/* The extensions messages list (formats.h) are those the walk takes, in any case. */
static void test_formats_exts(void) {
  char exts[] = R50_FORMATS_EXTS, name[64];
  int n = 0;
  for (char *e = strtok(exts, " "); e; e = strtok(NULL, " "), n++) {
    snprintf(name, sizeof name, "a%s", e);
    CHECK(r50_has_image_ext(name), "%s: taken by the walk", name);
    for (char *c = name; *c; c++)
      *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    CHECK(r50_has_image_ext(name), "%s: taken by the walk", name);
  }
  CHECK(n == 21 + 4 * R50_READS_HEIF + R50_READS_JXL &&
            r50_has_image_ext("IMG_0001.HEIC") == R50_READS_HEIF &&
            r50_has_image_ext("a.avif") == R50_READS_HEIF &&
            r50_has_image_ext("a.JXL") == R50_READS_JXL,
        "R50_FORMATS_EXTS lists %d extensions, HEIF's, AVIF's and JPEG XL's as built", n);
  CHECK(!r50_has_image_ext("a.nef") && !r50_has_image_ext("a.CR2") &&
            !r50_has_image_ext("a.txt"),
        "formats not read are not taken");
}

/* A folder nested past PATH_MAX: the error says so first, whatever the path's length. */
static void test_path_too_long(void) {
  char top[100], name[201];
  snprintf(top, sizeof top, "%s/deep/cls", g_dir);
  CHECK(mkdir_p_str(top), "mkdir %s", top);
  memset(name, 'x', 200);
  name[200] = 0;
  int here = open(".", O_RDONLY | O_DIRECTORY);
  CHECK(here >= 0 && chdir(top) == 0, "cd %s", top);
  for (int i = 0; i < 30; i++) /* 30 x 201 bytes: past PATH_MAX (4096) */
    CHECK(mkdir(name, 0755) == 0 && chdir(name) == 0, "mkdir and cd, depth %d", i);
  FILE *f = fopen("a.jpg", "w");
  CHECK(f != NULL, "a.jpg at the bottom");
  if (f)
    fclose(f);
  CHECK(here >= 0 && fchdir(here) == 0, "cd back");
  if (here >= 0)
    close(here);
  snprintf(top, sizeof top, "%s/deep", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(top, NULL, &ds, &err) == R50_ERR_ARG &&
            strstr(err.msg, "is longer than the system's limit") &&
            strstr(err.msg, "/deep/cls/xxx"),
        "a path past PATH_MAX: %.200s", err.msg);
}

/* What an entry is comes from readdir where the file system says (no stat a file),
 * else from stat: a folder named like an image is walked, a link to a folder is
 * walked, a link to an image is an image, a dangling link is not. */
static void test_entry_kinds(void) {
  touch("kinds/pics.jpg/in.jpg");
  touch("kinds/real/r.png");
  touch("kinds/target.png");
  char path[600], to[600];
  const char *links[][2] = {{"real", "kinds/dirlink.jpg"},
                            {"target.png", "kinds/filelink.jpg"},
                            {"gone.png", "kinds/dangling.jpg"}};
  for (int i = 0; i < 3; i++) {
    snprintf(to, sizeof to, "%s/kinds/%s", g_dir, links[i][0]);
    snprintf(path, sizeof path, "%s/%s", g_dir, links[i][1]);
    CHECK(symlink(to, path) == 0, "symlink %s", path);
  }
  snprintf(path, sizeof path, "%s/kinds", g_dir);
  r50_dataset ds;
  r50_error err = {0};
  CHECK(r50_dataset_open(path, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  const char *want[] = {"dangling.jpg",    "dirlink.jpg/r.png", "filelink.jpg",
                        "pics.jpg/in.jpg", "real/r.png",        "target.png"};
  CHECK(ds.n == 6, "%lld rows", (long long)ds.n);
  for (int i = 0; i < 6 && i < ds.n; i++)
    CHECK(!strcmp(r50_dataset_name(&ds, i), want[i]), "row %d: %s, want %s", i,
          r50_dataset_name(&ds, i), want[i]);
  r50_dataset_free(&ds);
}

int main(void) {
  if (!mkdtemp(g_dir))
    return 1;
  test_image_folder();
  test_image_folder_beside();
  test_flat_folder();
  test_list_file();
  test_csv_list();
  test_one_image();
  test_formats_exts();
  test_path_too_long();
  test_entry_kinds();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  CHECK(system(cmd) == 0, "cleanup");
  return test_result("test_dataset");
}

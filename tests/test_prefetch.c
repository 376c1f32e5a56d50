/*
 * test_prefetch.c — the decode pipeline's three ways of working give the same batches:
 * one producer thread that reads and decodes (the default), a producer that reads and
 * then decodes on 3 threads (a GPU rank), and a producer that only reads while pop
 * decodes on 2 of the caller's threads (a CPU rank, extract). On an ImageFolder tree
 * of JPEGs of several sizes with a truncated file, an empty one and a non-image,
 * cropped and mirrored as fine-tuning does and plain as extract does, pushed as ranges
 * and as listed rows: every batch's rows, statuses, causes and pixels are equal bit for
 * bit, and every failure names its file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "dataset.h"
#include "prefetch.h"
#include "test_util.h"

static void write_jpeg(const char *path, int w, int h, unsigned seed) {
  uint8_t *rgb = malloc((size_t)w * h * 3);
  for (int i = 0; i < w * h * 3; i++)
    rgb[i] = (uint8_t)((i * 31 + (int)seed * 17 + (i / (w * 3)) * 7) & 0xff);
  FILE *f = fopen(path, "wb");
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
  c.input_components = 3, c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  for (int y = 0; y < h; y++) {
    JSAMPROW row = rgb + (size_t)y * w * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
  free(rgb);
}

typedef struct result {
  int n_batches, rows;
  int64_t row_ids[64];
  int8_t status[64];
  char errors[64][R50_ERROR_LEN];
  float *x; /* (rows, 3, S, S) */
} result;

enum { S = 48, BATCH = 4 };

static void run(const r50_dataset *ds, int crop, int threads, int on_pop, int listed,
                result *r) {
  memset(r, 0, sizeof *r);
  const int side = crop ? crop : S;
  r->x = calloc((size_t)64 * 3 * side * side, sizeof(float));
  r50_prefetch_opts o = {.batch = BATCH,
                         .w = S,
                         .h = S,
                         .decode = r50_decode_opts_default(),
                         .depth = 2,
                         .decode_threads = threads,
                         .decode_on_pop = on_pop,
                         .augment = {crop, crop != 0, crop != 0, 5}};
  r50_prefetch *p;
  r50_error err;
  CHECK(r50_prefetch_new(ds, &o, &p, &err) == R50_OK, "%s", err.msg);
  if (listed) { /* the rows backwards, in batches */
    for (int64_t i = ds->n; i > 0; i -= BATCH) {
      int64_t rows[BATCH];
      int k = 0;
      for (int64_t j = i - 1; j >= 0 && k < BATCH; j--)
        rows[k++] = j;
      CHECK(r50_prefetch_push_rows(p, rows, k, 3, &err) == R50_OK, "%s", err.msg);
    }
  } else {
    CHECK(r50_prefetch_push(p, 0, 5, &err) == R50_OK, "%s", err.msg);
    CHECK(r50_prefetch_push(p, 5, ds->n - 5, &err) == R50_OK, "%s", err.msg);
  }
  r50_prefetch_close(p);
  const size_t per = (size_t)3 * side * side;
  for (r50_batch *b; (b = r50_prefetch_pop(p));) {
    for (int i = 0; i < b->n && r->rows < 64; i++, r->rows++) {
      r->row_ids[r->rows] = b->rows[i];
      r->status[r->rows] = b->status[i];
      memcpy(r->errors[r->rows], b->errors[i], R50_ERROR_LEN);
      memcpy(r->x + (size_t)r->rows * per, b->x + (size_t)i * per, per * sizeof(float));
    }
    r->n_batches++;
    r50_prefetch_release(p, b);
  }
  r50_prefetch_free(p);
}

static void same(const result *a, const result *b, int side, const char *what) {
  CHECK(a->n_batches == b->n_batches && a->rows == b->rows,
        "%s: %d batches of %d rows vs %d of %d", what, a->n_batches, a->rows,
        b->n_batches, b->rows);
  CHECK(!memcmp(a->row_ids, b->row_ids, sizeof a->row_ids), "%s: rows differ", what);
  CHECK(!memcmp(a->status, b->status, sizeof a->status), "%s: statuses differ", what);
  for (int i = 0; i < a->rows; i++)
    CHECK(!strcmp(a->errors[i], b->errors[i]), "%s: row %d's cause: '%s' vs '%s'", what,
          i, a->errors[i], b->errors[i]);
  CHECK(!memcmp(a->x, b->x, (size_t)a->rows * 3 * side * side * sizeof(float)),
        "%s: pixels differ", what);
}

int main(void) {
  char root[64], path[256];
  snprintf(root, sizeof root, "/tmp/r50-prefetch-%d", (int)getpid());
  const char *classes[] = {"cat", "dog fish", "zebra"};
  mkdir(root, 0755);
  unsigned seed = 1;
  for (int c = 0; c < 3; c++) {
    snprintf(path, sizeof path, "%s/%s", root, classes[c]);
    mkdir(path, 0755);
    for (int i = 0; i < 5; i++) {
      snprintf(path, sizeof path, "%s/%s/%d.jpg", root, classes[c], i);
      write_jpeg(path, 40 + 13 * i, 30 + 7 * c, seed++);
    }
  }
  snprintf(path, sizeof path, "%s/cat/empty.jpg", root); /* broken files, among classes */
  fclose(fopen(path, "wb"));
  snprintf(path, sizeof path, "%s/dog fish/text.png", root);
  FILE *f = fopen(path, "wb");
  fputs("not an image\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/zebra/4.jpg", root);
  truncate(path, 300);

  r50_dataset ds;
  r50_error err;
  CHECK(r50_dataset_open(root, NULL, &ds, &err) == R50_OK, "%s", err.msg);
  CHECK(ds.n == 17, "%lld rows", (long long)ds.n);
  for (int crop = 0; crop <= 40; crop += 40)
    for (int listed = 0; listed < 2; listed++) {
      result base, par, pop;
      run(&ds, crop, 1, 0, listed, &base);
      run(&ds, crop, 3, 0, listed, &par);
      run(&ds, crop, 2, 1, listed, &pop);
      char what[96];
      snprintf(what, sizeof what, "crop %d, %s: 3 decode threads", crop,
               listed ? "listed rows" : "ranges");
      same(&base, &par, crop ? crop : S, what);
      snprintf(what, sizeof what, "crop %d, %s: decoded on pop", crop,
               listed ? "listed rows" : "ranges");
      same(&base, &pop, crop ? crop : S, what);
      int failed = 0, named = 0;
      for (int i = 0; i < base.rows; i++) {
        failed += base.status[i] == -1;
        named += base.status[i] == -1 &&
                 (strstr(base.errors[i], "empty.jpg") ||
                  strstr(base.errors[i], "text.png") || strstr(base.errors[i], "4.jpg"));
      }
      CHECK(base.rows == 17 && failed == 3 && named == 3,
            "%d rows, %d failed, %d naming their file", base.rows, failed, named);
      free(base.x), free(par.x), free(pop.x);
    }
  r50_dataset_free(&ds);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
  return test_result("test_prefetch");
}

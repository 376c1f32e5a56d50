/*
 * image_tool.c — a driver of the image code for test_prepare_pil.py (PIL as the oracle)
 * and bench/bench_prepare.py.
 *
 *   image_tool [OPTS] decode OUT.npz FILE...       decoded RGB, uint8 (h, w, 3)
 *   image_tool [OPTS] resize W H OUT.npz FILE...   decoded and resized, uint8 (H, W, 3)
 *   image_tool [OPTS] prepare W H OUT.npz FILE...  Chainer's prepare, float32 (3, H, W)
 *   image_tool [OPTS] bench SECONDS FILE...        prepare at 224x224 in a loop over the
 *                                                  files; prints "images/s N"
 *   image_tool cmyk-jpeg OUT.jpg W H cmyk|ycck     writes a 4-component test JPEG
 *
 * OPTS: --exif-rotate, --fast-decode (target: W x H, 224 x 224 for bench),
 * --max-pixels N. The npz holds one array per file that could be read, keyed by the
 * file's index ("0", "1", ...); each file that could not is a line
 * "FAIL<TAB>index<TAB>message" on stdout.
 *
 * Exit status: 0 when every file was read, 3 when some were not, 2 for bad usage, 1 when
 * the npz could not be written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "clock.h"
#include "error.h"
#include "npz.h"
#include "r50.h"

typedef enum mode { MODE_DECODE, MODE_RESIZE, MODE_PREPARE } mode;

static int usage(void) {
  fprintf(stderr, "usage: image_tool [--exif-rotate] [--fast-decode] [--max-pixels N]\n"
                  "         decode OUT.npz FILE... | resize W H OUT.npz FILE... |\n"
                  "         prepare W H OUT.npz FILE... | bench SECONDS FILE...\n"
                  "       image_tool cmyk-jpeg OUT.jpg W H cmyk|ycck\n");
  return 2;
}

/* Decodes path and, for MODE_RESIZE / MODE_PREPARE, resizes to w x h. */
static r50_status load_resized(const char *path, const r50_decode_opts *opts, int w,
                               int h, int resize, r50_image *out, r50_error *err) {
  r50_image img;
  r50_status s = r50_image_load(path, opts, &img, err);
  if (s != R50_OK || !resize) {
    *out = img;
    return s;
  }
  s = r50_image_resize(&img, w, h, out, err);
  r50_image_free(&img);
  return s;
}

/* Writes img as the array `key` in the form of mode m. */
static r50_status write_image(npz_writer *npz, const char *key, const r50_image *img,
                              mode m, r50_error *err) {
  if (m != MODE_PREPARE) {
    int64_t shape[3] = {img->height, img->width, 3};
    return r50_npz_write(npz, key, NPZ_U8, 3, shape, img->rgb, err);
  }
  int64_t shape[3] = {3, img->height, img->width};
  float *chw = malloc(sizeof(float) * 3 * img->width * img->height);
  if (!chw)
    return r50_fail(err, R50_ERR_NOMEM, "out of memory");
  r50_image_to_chw(img, chw);
  r50_status s = r50_npz_write(npz, key, NPZ_F32, 3, shape, chw, err);
  free(chw);
  return s;
}

static int run_files(mode m, const r50_decode_opts *opts, int w, int h, const char *out,
                     char **files, int n) {
  r50_error err;
  npz_writer *npz = NULL;
  if (r50_npz_writer_open(out, &npz, &err) != R50_OK) {
    fprintf(stderr, "image_tool: %s\n", err.msg);
    return 1;
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    r50_image img;
    if (load_resized(files[i], opts, w, h, m != MODE_DECODE, &img, &err) != R50_OK) {
      printf("FAIL\t%d\t%s\n", i, err.msg);
      failed++;
      continue;
    }
    char key[16];
    snprintf(key, sizeof key, "%d", i);
    r50_status s = write_image(npz, key, &img, m, &err);
    r50_image_free(&img);
    if (s != R50_OK) {
      fprintf(stderr, "image_tool: %s\n", err.msg);
      r50_npz_writer_abort(npz);
      return 1;
    }
  }
  if (r50_npz_writer_close(npz, &err) != R50_OK) {
    fprintf(stderr, "image_tool: %s\n", err.msg);
    return 1;
  }
  return failed ? 3 : 0;
}

/* Prepares the files round-robin at 224x224 for `seconds`; one thread. */
static int bench(const r50_decode_opts *opts, double seconds, char **files, int n) {
  float *chw = malloc(sizeof(float) * 3 * 224 * 224);
  if (!chw)
    return 1;
  long images = 0;
  double t0 = r50_now_s(), t = t0;
  while (t - t0 < seconds) {
    r50_image img;
    r50_error err;
    if (load_resized(files[images % n], opts, 224, 224, 1, &img, &err) != R50_OK) {
      fprintf(stderr, "image_tool: %s\n", err.msg);
      free(chw);
      return 3;
    }
    r50_image_to_chw(&img, chw);
    r50_image_free(&img);
    images++;
    t = r50_now_s();
  }
  free(chw);
  printf("images %ld\nseconds %.3f\nimages/s %.2f\n", images, t - t0, images / (t - t0));
  return 0;
}

/* A smooth 4-component picture, written as Adobe CMYK (transform 0) or YCCK (2). */
static int write_cmyk_jpeg(const char *path, int w, int h, int ycck) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    return 1;
  }
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, ycck ? JCS_YCCK : JCS_CMYK);
  jpeg_set_quality(&c, 90, TRUE);
  jpeg_start_compress(&c, TRUE);
  JSAMPLE *row = malloc((size_t)w * 4);
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      row[4 * x + 0] = (JSAMPLE)(x * 255 / (w > 1 ? w - 1 : 1));
      row[4 * x + 1] = (JSAMPLE)(y * 255 / (h > 1 ? h - 1 : 1));
      row[4 * x + 2] = (JSAMPLE)((x * 7 + y * 13) & 255);
      row[4 * x + 3] = (JSAMPLE)((x + y) * 255 / (w + h));
    }
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  free(row);
  return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  r50_decode_opts opts = r50_decode_opts_default();
  int a = 1;
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
    if (strcmp(argv[a], "--exif-rotate") == 0)
      opts.exif_rotate = 1;
    else if (strcmp(argv[a], "--fast-decode") == 0)
      opts.fast_decode = 1;
    else if (strcmp(argv[a], "--max-pixels") == 0 && a + 1 < argc)
      opts.max_pixels = strtoll(argv[++a], NULL, 10);
    else
      return usage();
  }
  if (a >= argc)
    return usage();
  const char *cmd = argv[a++];
  int rest = argc - a;
  char **args = argv + a;
  if (strcmp(cmd, "cmyk-jpeg") == 0 && rest == 4)
    return write_cmyk_jpeg(args[0], atoi(args[1]), atoi(args[2]),
                           strcmp(args[3], "ycck") == 0);
  if (strcmp(cmd, "decode") == 0 && rest >= 2)
    return run_files(MODE_DECODE, &opts, 0, 0, args[0], args + 1, rest - 1);
  if (strcmp(cmd, "bench") == 0 && rest >= 2) {
    opts.target_w = opts.target_h = 224;
    return bench(&opts, atof(args[0]), args + 1, rest - 1);
  }
  int resize = strcmp(cmd, "resize") == 0, prepare = strcmp(cmd, "prepare") == 0;
  if ((resize || prepare) && rest >= 4) {
    int w = atoi(args[0]), h = atoi(args[1]);
    if (w <= 0 || h <= 0)
      return usage();
    opts.target_w = w;
    opts.target_h = h;
    return run_files(prepare ? MODE_PREPARE : MODE_RESIZE, &opts, w, h, args[2], args + 3,
                     rest - 3);
  }
  return usage();
}

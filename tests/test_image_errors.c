/*
 * test_image_errors.c — the image decoder on damaged and hostile input: every prefix of
 * a JPEG and a PNG, random byte damage, empty and non-image data, headers declaring
 * too many or no pixels, missing files, hostile EXIF. Each must come back as a status
 * whose message starts with the name, or (for damage PIL tolerates) as the intact
 * picture; never a crash (the sanitizer build runs this too).
 *
 * The test pictures are encoded here with libjpeg and libpng.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "cpu_features.h"
#include "error.h"
#include "formats.h"
#include "image.h"
#include "image_resize_axis.h"
#include "r50.h"
#include "test_util.h"

enum { W = 64, H = 48 };

typedef struct buf {
  uint8_t *data;
  size_t len, cap;
} buf;

static void fill_pixels(uint8_t *rgb) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = rgb + (y * W + x) * 3;
      p[0] = (uint8_t)(x * 4);
      p[1] = (uint8_t)(y * 5);
      p[2] = (uint8_t)((x * y) & 255);
    }
}

/* Encodes w x h RGB pixels as a baseline or progressive JPEG with libjpeg. */
static buf encode_jpeg_pixels(const uint8_t *rgb, int w, int h, int progressive) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  unsigned char *out = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &out, &len);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  if (progressive)
    jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  for (int y = 0; y < h; y++) {
    JSAMPROW row = (JSAMPROW)(rgb + (size_t)y * (size_t)w * 3);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  buf b = {out, len, len};
  return b;
}

static buf encode_jpeg(int progressive) {
  uint8_t rgb[W * H * 3];
  fill_pixels(rgb);
  return encode_jpeg_pixels(rgb, W, H, progressive);
}

static void png_append(png_structp png, png_bytep data, size_t n) {
  buf *b = png_get_io_ptr(png);
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->data = realloc(b->data, b->cap);
    if (!b->data)
      abort();
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

static void png_flush_none(png_structp png) {
  (void)png;
}

static buf encode_png(int interlace) {
  uint8_t rgb[W * H * 3];
  fill_pixels(rgb);
  buf b = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)))
    abort();
  png_set_write_fn(png, &b, png_append, png_flush_none);
  png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_bytep rows[H];
  for (int y = 0; y < H; y++)
    rows[y] = rgb + y * W * 3;
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return b;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Decodes data[0, len) as `name`; checks failures name it. Returns the status. */
static r50_status decode(const uint8_t *data, size_t len, const char *name,
                         const r50_decode_opts *opts, r50_image *img, r50_error *err) {
  r50_status s = r50_image_decode(data, len, name, opts, img, err);
  if (s != R50_OK) {
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s: ", name);
    CHECK(starts_with(err->msg, prefix), "message '%s' does not start with '%s'",
          err->msg, prefix);
    CHECK(img->rgb == NULL, "%s: failed decode left pixels", name);
  }
  return s;
}

static void test_valid(const buf *b, const char *name) {
  r50_image img;
  r50_error err;
  r50_status s = decode(b->data, b->len, name, NULL, &img, &err);
  CHECK(s == R50_OK, "%s: %s", name, err.msg);
  if (s == R50_OK)
    CHECK(img.width == W && img.height == H, "%s: %dx%d", name, img.width, img.height);
  r50_image_free(&img);
}

/* Every proper prefix of a JPEG lacks its EOI: all must fail. */
static void test_jpeg_prefixes(const buf *b, const char *name) {
  int truncated = 0;
  for (size_t n = 0; n < b->len; n++) {
    r50_image img;
    r50_error err;
    r50_status s = decode(b->data, n, name, NULL, &img, &err);
    CHECK(s == R50_ERR_FORMAT, "%s cut at %zu of %zu: %s", name, n, b->len,
          r50_status_name(s));
    truncated += s != R50_OK && strstr(err.msg, "truncated JPEG data") != NULL;
    r50_image_free(&img);
  }
  CHECK(truncated > (int)b->len / 2, "%s: only %d cuts said 'truncated JPEG data'", name,
        truncated);
}

/* A PNG prefix fails unless it holds every row (PIL ignores what follows them). */
static void test_png_prefixes(const buf *b, const char *name) {
  r50_image full;
  r50_error err;
  R50_ASSERT(r50_image_decode(b->data, b->len, name, NULL, &full, &err) == R50_OK);
  int ok = 0;
  for (size_t n = 0; n < b->len; n++) {
    r50_image img;
    r50_status s = decode(b->data, n, name, NULL, &img, &err);
    if (s == R50_OK) {
      ok++;
      CHECK(n >= b->len - 12 - 8, "%s cut at %zu of %zu decoded", name, n, b->len);
      CHECK(memcmp(img.rgb, full.rgb, W * H * 3) == 0, "%s cut at %zu: pixels differ",
            name, n);
    } else {
      CHECK(s == R50_ERR_FORMAT, "%s cut at %zu: %s", name, n, r50_status_name(s));
    }
    r50_image_free(&img);
  }
  CHECK(ok >= 12, "%s: a cut inside IEND must still decode (%d did)", name, ok);
  r50_image_free(&full);
}

/* Random damage: any outcome but a crash; failures name the input. */
static void test_damage(const buf *b, const char *name, int rounds) {
  uint8_t *copy = malloc(b->len);
  uint64_t rng = 0x9E3779B97F4A7C15u;
  r50_decode_opts opts = r50_decode_opts_default();
  opts.exif_rotate = 1;
  for (int r = 0; r < rounds; r++) {
    memcpy(copy, b->data, b->len);
    int flips = 1 + r % 4;
    for (int f = 0; f < flips; f++) {
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      size_t at = (size_t)(rng >> 33) % b->len;
      copy[at] ^= (uint8_t)(1u << ((rng >> 20) & 7));
    }
    r50_image img;
    r50_error err;
    r50_status s = decode(copy, b->len, name, &opts, &img, &err);
    CHECK(s == R50_OK || s == R50_ERR_FORMAT || s == R50_ERR_UNSUPPORTED,
          "%s damage %d: %s", name, r, r50_status_name(s));
    if (s == R50_OK)
      CHECK(img.width > 0 && img.height > 0 && img.rgb, "%s damage %d: empty", name, r);
    r50_image_free(&img);
  }
  free(copy);
}

static void expect_fail(const uint8_t *data, size_t len, const char *name,
                        const r50_decode_opts *opts, r50_status want, const char *cause) {
  r50_image img;
  r50_error err;
  r50_status s = decode(data, len, name, opts, &img, &err);
  CHECK(s == want, "%s: %s, expected %s (%s)", name, r50_status_name(s),
        r50_status_name(want), s == R50_OK ? "" : err.msg);
  if (s != R50_OK)
    CHECK(strstr(err.msg, cause) != NULL, "%s: '%s' lacks '%s'", name, err.msg, cause);
  r50_image_free(&img);
}

static void put_be(uint8_t *p, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* Offset of the first SOFn marker's height field. */
static size_t sof_dims(const buf *b) {
  for (size_t i = 2; i + 9 < b->len; i++)
    if (b->data[i] == 0xFF && (b->data[i + 1] == 0xC0 || b->data[i + 1] == 0xC2))
      return i + 5;
  R50_ASSERT(0);
  return 0;
}

static void test_headers(const buf *jpg, const buf *png) {
  r50_decode_opts opts = r50_decode_opts_default();
  expect_fail(jpg->data, 0, "empty.jpg", &opts, R50_ERR_FORMAT, "empty file");
  const char *text = "hello, this is text in a .jpg\n";
  expect_fail((const uint8_t *)text, strlen(text), "text.jpg", &opts, R50_ERR_FORMAT,
              "not a " R50_FORMATS_OR " file");
  expect_fail((const uint8_t *)"II*\0........", 12, "a.tif", &opts, R50_ERR_FORMAT,
              "a.tif: corrupt TIFF data");
#ifdef R50_HAVE_HEIF /* (a box cut short: libheif says "No 'ftyp' box") */
  expect_fail((const uint8_t *)"\0\0\0\x18"
                               "ftypheic\0\0\0\0",
              16, "a.heic", &opts, R50_ERR_FORMAT, "a.heic: corrupt HEIF data (");
  expect_fail((const uint8_t *)"\0\0\0\x1c"
                               "ftypavif\0\0\0\0",
              16, "a.avif", &opts, R50_ERR_FORMAT, "a.avif: corrupt AVIF data (");
#else
  expect_fail((const uint8_t *)"\0\0\0\x18"
                               "ftypheic\0\0\0\0",
              16, "a.heic", &opts, R50_ERR_UNSUPPORTED,
              "a.heic: HEIF image; only JPEG, PNG, WebP");
  expect_fail((const uint8_t *)"\0\0\0\x1c"
                               "ftypavif\0\0\0\0",
              16, "a.avif", &opts, R50_ERR_UNSUPPORTED, "AVIF image");
#endif
  expect_fail((const uint8_t *)"\0\0\0\x0cjP  \r\n\x87\n....", 16, "a.jp2", &opts,
              R50_ERR_FORMAT, "a.jp2: corrupt JPEG 2000 data (its header");
#ifdef R50_HAVE_JXL /* a bare codestream's signature and a header cut short */
  expect_fail((const uint8_t *)"\xff\x0a\xfa\x7f", 4, "a.jxl", &opts, R50_ERR_FORMAT,
              "a.jxl: truncated JPEG XL data");
#else
  expect_fail((const uint8_t *)"\xff\x0a\xfa\x7f", 4, "a.jxl", &opts, R50_ERR_UNSUPPORTED,
              "a.jxl: JPEG XL image; only JPEG, PNG, WebP");
#endif
  /* a codestream's first 24 bytes declaring 40000x40000: refused from its SIZ alone,
   * before OpenJPEG reads (it would say "Stream too short") */
  static const uint8_t siz[24] = {0xff, 0x4f, 0xff, 0x51, 0, 41, 0, 0, 0, 0, 0x9c, 0x40,
                                  0,    0,    0x9c, 0x40, 0, 0,  0, 0, 0, 0, 0,    0};
  expect_fail(siz, sizeof siz, "a.j2k", &opts, R50_ERR_FORMAT,
              "a.j2k: 40000x40000 = 1600000000 pixels exceeds");
  static const uint8_t cut[6] = {0xff, 0x4f, 0xff, 0x51, 0xff, 0x51}; /* (fuzz_pnm) */
  expect_fail(cut, sizeof cut, "b.j2k", &opts, R50_ERR_FORMAT,
              "b.j2k: truncated JPEG 2000 data");

  uint8_t *j = malloc(jpg->len);
  size_t at = sof_dims(jpg);
  memcpy(j, jpg->data, jpg->len);
  put_be(j + at, 30000, 2);
  put_be(j + at + 2, 30000, 2);
  expect_fail(j, jpg->len, "huge.jpg", &opts, R50_ERR_FORMAT,
              "huge.jpg: 30000x30000 = 900000000 pixels exceeds --max-pixels 178956970");
  put_be(j + at, 0, 2);
  expect_fail(j, jpg->len, "zero.jpg", &opts, R50_ERR_FORMAT, "corrupt JPEG data");
  free(j);

  uint8_t *p = malloc(png->len);
  memcpy(p, png->data, png->len);
  put_be(p + 16, 20000, 4); /* IHDR width, height */
  put_be(p + 20, 20000, 4);
  put_be(p + 29, (uint32_t)crc32(0, p + 12, 17), 4);
  expect_fail(p, png->len, "huge.png", &opts, R50_ERR_FORMAT,
              "huge.png: 20000x20000 = 400000000 pixels exceeds --max-pixels 178956970");
  put_be(p + 16, 0, 4);
  put_be(p + 29, (uint32_t)crc32(0, p + 12, 17), 4);
  expect_fail(p, png->len, "zero.png", &opts, R50_ERR_FORMAT, "corrupt PNG data");
  free(p);

  opts.max_pixels = W * H - 1;
  expect_fail(jpg->data, jpg->len, "limit.jpg", &opts, R50_ERR_FORMAT, "exceeds");
  expect_fail(png->data, png->len, "limit.png", &opts, R50_ERR_FORMAT, "exceeds");
  opts.max_pixels = W * H;
  r50_image img;
  r50_error err;
  CHECK(r50_image_decode(jpg->data, jpg->len, "at-limit", &opts, &img, &err) == R50_OK,
        "at the limit: %s", err.msg);
  r50_image_free(&img);
}

static void write_file(const char *path, const uint8_t *data, size_t len) {
  FILE *f = fopen(path, "wb");
  R50_ASSERT(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

static void expect_load_fail(const char *path, r50_status want, const char *cause) {
  r50_image img;
  r50_error err;
  r50_status s = r50_image_load(path, NULL, &img, &err);
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s: ", path);
  CHECK(s == want, "%s: %s, expected %s", path, r50_status_name(s),
        r50_status_name(want));
  if (s != R50_OK)
    CHECK(starts_with(err.msg, prefix) && strstr(err.msg, cause), "%s: message '%s'",
          path, err.msg);
  r50_image_free(&img);
}

static void test_files(const buf *jpg) {
  char dir[] = "/tmp/r50_image_errors_XXXXXX";
  R50_ASSERT(mkdtemp(dir));
  char path[512];
  snprintf(path, sizeof path, "%s/missing.jpg", dir);
  expect_load_fail(path, R50_ERR_NOT_FOUND, "cannot open");
  snprintf(path, sizeof path, "%s/empty.jpg", dir);
  write_file(path, jpg->data, 0);
  expect_load_fail(path, R50_ERR_FORMAT, "empty file");
  unlink(path);
  snprintf(path, sizeof path, "%s/cut.jpg", dir);
  write_file(path, jpg->data, jpg->len / 2);
  expect_load_fail(path, R50_ERR_FORMAT, "truncated JPEG data");
  write_file(path, jpg->data, jpg->len);
  r50_image img;
  r50_error err;
  CHECK(r50_image_load(path, NULL, &img, &err) == R50_OK, "%s", err.msg);
  r50_image_free(&img);
  unlink(path);
  expect_load_fail(dir, R50_ERR_IO, "not a regular file");
  rmdir(dir);
}

/* EXIF parsing never reads outside its buffer, whatever the offsets say. */
static void test_exif(void) {
  uint8_t le[26] = {'I',  'I',  42, 0, 8, 0, 0, 0,        /* TIFF header, IFD0 at 8 */
                    1,    0,                              /* one entry: */
                    0x12, 0x01, 3,  0, 1, 0, 0, 0, 6, 0}; /* 0x0112 SHORT x1 = 6 */
  CHECK(r50_exif_orientation(le, 26) == 6, "II orientation");
  uint8_t be[26] = {'M',  'M',  0, 42, 0, 0, 0, 8,        /* big-endian */
                    0,    1,                              /* one entry: */
                    0x01, 0x12, 0, 3,  0, 0, 0, 1, 0, 3}; /* 0x0112 SHORT x1 = 3 */
  CHECK(r50_exif_orientation(be, 26) == 3, "MM orientation");
  uint8_t ex[32] = "Exif\0\0";
  memcpy(ex + 6, le, 26);
  CHECK(r50_exif_orientation(ex, 32) == 6, "Exif prefix");
  CHECK(r50_exif_orientation(le, 19) == 1, "cut entry");
  le[8] = 0xFF, le[9] = 0xFF; /* 65535 entries */
  CHECK(r50_exif_orientation(le, 26) == 6, "huge count");
  le[4] = 0xF0; /* IFD past the end */
  CHECK(r50_exif_orientation(le, 26) == 1, "IFD offset");
  uint8_t far[26] = {'I',  'I',  42,   0,   8, 0, 0, 0, 1, 0, /* header, one entry: */
                     0x12, 0x01, 3,    0,   9, 0, 0, 0,       /* 0x0112 SHORT x9 at */
                     0xFF, 0xFF, 0xFF, 0x7F};                 /* offset 2^31 - 1 */
  CHECK(r50_exif_orientation(far, 26) == 1, "values past the end");
  for (size_t n = 0; n < 26; n++)
    r50_exif_orientation(be, n);
}

static void test_resize_args(void) {
  uint8_t px[3] = {1, 2, 3};
  r50_image src = {1, 1, px}, dst;
  r50_error err;
  CHECK(r50_image_resize(&src, 0, 5, &dst, &err) == R50_ERR_ARG, "zero width");
  CHECK(r50_image_resize(&src, 3, 2, &dst, &err) == R50_OK, "%s", err.msg);
  for (int i = 0; i < 6; i++)
    CHECK(memcmp(dst.rgb + 3 * i, px, 3) == 0, "1x1 upscaled pixel %d", i);
  r50_image_free(&dst);
  r50_image_free(NULL);
}

/* The AVX2 passes give the generic passes' bits: downscaling (many taps), upscaling,
 * one axis only, widths that are not multiples of a vector, rows past a block of 8,
 * and pixels at 0 and 255 (the clip). (prepare_pil checks the result against Pillow.) */
static void test_resize_isa(void) {
  if (!r50_cpu_features_get()->avx2) {
    printf("resize: no AVX2 on this CPU, generic passes only\n");
    return;
  }
  const int sizes[][4] = {
      {512, 512, 224, 224}, {1411, 1411, 224, 224}, {640, 427, 224, 224},
      {37, 19, 224, 224},   {224, 300, 224, 224},   {300, 224, 224, 224},
      {5, 3, 7, 11},        {1000, 9, 13, 250},     {3, 1, 1, 1}};
  uint64_t seed = 12345;
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    const int sw = sizes[t][0], sh = sizes[t][1], w = sizes[t][2], h = sizes[t][3];
    uint8_t *px = malloc((size_t)sw * sh * 3);
    for (size_t i = 0; i < (size_t)sw * sh * 3; i++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      const unsigned r = (unsigned)(seed >> 33) % 5; /* runs of extremes clip */
      px[i] = r == 0 ? 0 : r == 1 ? 255 : (uint8_t)(seed >> 41);
    }
    r50_image src = {sw, sh, px}, a, b;
    r50_error err;
    CHECK(r50_image_resize_with(&src, w, h, 0, &a, &err) == R50_OK, "%s", err.msg);
    CHECK(r50_image_resize_with(&src, w, h, 1, &b, &err) == R50_OK, "%s", err.msg);
    CHECK(memcmp(a.rgb, b.rgb, (size_t)w * h * 3) == 0,
          "resize %dx%d to %dx%d: the AVX2 passes differ from the generic ones", sw, sh,
          w, h);
    r50_image_free(&a);
    r50_image_free(&b);
    free(px);
  }
}

static void test_fast_decode(void) {
  enum { BW = 640, BH = 480 };
  uint8_t *rgb = calloc(BW * BH, 3);
  buf big = encode_jpeg_pixels(rgb, BW, BH, 0);
  unsigned char *out = big.data;
  unsigned long len = (unsigned long)big.len;
  r50_decode_opts opts = r50_decode_opts_default();
  opts.fast_decode = 1;
  int targets[][3] = {{224, 224, 320}, {100, 50, 160}, {80, 60, 80}, {400, 300, 640}};
  for (int t = 0; t < 4; t++) {
    opts.target_w = targets[t][0], opts.target_h = targets[t][1];
    r50_image img;
    r50_error err;
    CHECK(r50_image_decode(out, len, "big.jpg", &opts, &img, &err) == R50_OK, "%s",
          err.msg);
    CHECK(img.width == targets[t][2], "fast decode to %dx%d: width %d, expected %d",
          targets[t][0], targets[t][1], img.width, targets[t][2]);
    CHECK(img.width >= opts.target_w && img.height >= opts.target_h, "below target");
    r50_image_free(&img);
  }
  free(out);
  free(rgb);
}

int main(void) {
  buf jpg = encode_jpeg(0), prog = encode_jpeg(1), png = encode_png(0),
      ipng = encode_png(1);
  test_valid(&jpg, "baseline.jpg");
  test_valid(&prog, "progressive.jpg");
  test_valid(&png, "plain.png");
  test_valid(&ipng, "interlaced.png");
  test_jpeg_prefixes(&jpg, "baseline.jpg");
  test_jpeg_prefixes(&prog, "progressive.jpg");
  test_png_prefixes(&png, "plain.png");
  test_png_prefixes(&ipng, "interlaced.png");
  test_damage(&jpg, "baseline.jpg", 2000);
  test_damage(&prog, "progressive.jpg", 2000);
  test_damage(&png, "plain.png", 2000);
  test_damage(&ipng, "interlaced.png", 2000);
  test_headers(&jpg, &png);
  test_files(&jpg);
  test_exif();
  test_resize_args();
  test_resize_isa();
  test_fast_decode();
  free(jpg.data);
  free(prog.data);
  free(png.data);
  free(ipng.data);
  return test_result("test_image_errors");
}

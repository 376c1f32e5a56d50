/*
 * test_sha256.c — SHA-256 against the FIPS 180-4 example vectors (including the
 * million-'a' message), fed whole and in every split, in both builds of the block
 * function (portable C, and the x86 SHA instructions where this CPU has them); and as a
 * tool: with FILE arguments it prints "HEX  FILE" for each, as sha256sum does, for
 * test_sha256_hashlib.py to compare with Python's hashlib, after checking that the
 * portable build gives the same digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "sha256.h"
#include "test_util.h"

typedef void init_fn(r50_sha256 *s);

static void hex_of(init_fn *init, const void *data, size_t n, char out[65]) {
  r50_sha256 s;
  init(&s);
  r50_sha256_update(&s, data, n);
  r50_sha256_hex(&s, out);
}

static void test_vectors(init_fn *init, const char *build) {
  static const struct {
    const char *msg, *hex;
  } v[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqk"
       "lm"
       "nopqrlmnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    char got[65];
    size_t n = strlen(v[i].msg);
    hex_of(init, v[i].msg, n, got);
    CHECK(!strcmp(got, v[i].hex), "%s: '%s': %s", build, v[i].msg, got);
    for (size_t cut = 0; cut <= n; cut++) { /* two updates, split anywhere */
      r50_sha256 s;
      init(&s);
      r50_sha256_update(&s, v[i].msg, cut);
      r50_sha256_update(&s, v[i].msg + cut, n - cut);
      r50_sha256_hex(&s, got);
      CHECK(!strcmp(got, v[i].hex), "%s: '%s' split at %zu: %s", build, v[i].msg, cut,
            got);
    }
  }
  char *a = malloc(1000000);
  memset(a, 'a', 1000000);
  char got[65];
  hex_of(init, a, 1000000, got);
  CHECK(!strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        "%s: one million 'a': %s", build, got);
  r50_sha256 s; /* in odd pieces */
  init(&s);
  for (size_t off = 0, k = 1; off < 1000000; off += k, k = k * 7 % 1000 + 1)
    r50_sha256_update(&s, a + off, off + k > 1000000 ? 1000000 - off : k);
  r50_sha256_hex(&s, got);
  CHECK(!strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        "%s: one million 'a' in pieces: %s", build, got);
  free(a);
}

/* The portable build's digest of a file, read in odd pieces. */
static void portable_file(const char *path, char out[65]) {
  r50_sha256 s;
  r50_sha256_init_portable(&s);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "%s: cannot open", path);
  if (f) {
    char buf[1000];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
      r50_sha256_update(&s, buf, n);
    fclose(f);
  }
  r50_sha256_hex(&s, out);
}

int main(int argc, char **argv) {
  const int sha = r50_cpu_features_get()->sha;
  if (argc == 1)
    printf("the SHA instructions: %s\n", sha ? "tested" : "not on this CPU");
  test_vectors(r50_sha256_init_portable, "portable");
  test_vectors(r50_sha256_init, sha ? "SHA instructions" : "init");
  for (int i = 1; i < argc; i++) {
    char hex[65], plain[65];
    r50_error err = {0};
    CHECK(r50_sha256_file(argv[i], hex, &err) == R50_OK, "%s", err.msg);
    portable_file(argv[i], plain);
    CHECK(!strcmp(hex, plain), "%s: %s, the portable build %s", argv[i], hex, plain);
    printf("%s  %s\n", hex, argv[i]);
  }
  if (argc > 1)
    return g_failures != 0;
  return test_result("test_sha256");
}

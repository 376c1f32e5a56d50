/*
 * test_utf8.c — utf8.h's escapes against Python's errors="backslashreplace" on the
 * cases RFC 3629 rules out (overlong forms, surrogates, past U+10FFFF, a sequence cut
 * short, a stray continuation byte), and valid text of every length left alone; and
 * r50_escape_field on the characters that would break a line or a field, cut short.
 */
#include <string.h>

#include "test_util.h"
#include "utf8.h"

static void expect(const char *in, const char *want) {
  char out[256];
  const size_t len = r50_utf8_escaped_len(in);
  CHECK(len == strlen(want), "len %zu, want %zu for \"%s\"", len, strlen(want), want);
  CHECK(r50_utf8_valid(in) == !strcmp(in, want), "valid %d for \"%s\"",
        r50_utf8_valid(in), want);
  if (len < sizeof out) {
    r50_utf8_escape(in, out);
    CHECK(!strcmp(out, want), "\"%s\", want \"%s\"", out, want);
  }
}

static void expect_field(const char *in, size_t cap, const char *want) {
  char out[64];
  r50_escape_field(in, out, cap);
  CHECK(!strcmp(out, want), "field \"%s\", want \"%s\"", out, want);
}

int main(void) {
  /* valid: ASCII, 2-, 3- and 4-byte characters, the extremes of each */
  expect("plain/cat.jpg", "plain/cat.jpg");
  expect("caf\xc3\xa9/\xe2\x82\xac\xf0\x9f\x98\x80.jpg",
         "caf\xc3\xa9/\xe2\x82\xac\xf0\x9f\x98\x80.jpg");
  expect("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
         "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
  expect("back\\slash", "back\\slash");
  /* not UTF-8: as Python's b.decode("utf-8", "backslashreplace") */
  expect("caf\xe9.png", "caf\\xe9.png");              /* Latin-1 */
  expect("\xc0\xaf", "\\xc0\\xaf");                   /* overlong '/' */
  expect("\xe0\x80\xaf", "\\xe0\\x80\\xaf");          /* overlong, 3 bytes */
  expect("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* a surrogate */
  expect("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
  expect("\xf5\x80", "\\xf5\\x80");                   /* no such lead byte */
  expect("a\xe2\x82", "a\\xe2\\x82");                 /* cut short at the end */
  expect("\xe2\x82x\xc3\xa9", "\\xe2\\x82x\xc3\xa9"); /* cut short, then valid */
  expect("\x80\xbf", "\\x80\\xbf");                   /* stray continuations */
  expect("\xff\xfe", "\\xff\\xfe");
  expect("", "");

  expect_field("cat/new\nline\r.png", 64, "cat/new\\nline\\r.png");
  expect_field("a\tb\\c", 64, "a\\tb\\\\c");
  expect_field("caf\xc3\xa9", 64, "caf\xc3\xa9");
  expect_field("abcdef", 5, "ab"); /* cut to fit, never half an escape */
  expect_field("\n\n\n", 6, "\\n\\n");
  return test_result("test_utf8");
}

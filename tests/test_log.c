/*
 * test_log.c — r50_log writes one record a line: a newline, carriage return or tab in
 * a message (a file name holding one) is written \n, \r or \t, any other control
 * character \xNN; other bytes, UTF-8 and backslashes included, are kept as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "r50.h"
#include "test_util.h"

int main(void) {
  char path[] = "/tmp/r50-log-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "mkstemp");
  fflush(stderr); /* stderr into the file while r50_log writes, then back */
  int saved = dup(2);
  CHECK(saved >= 0 && dup2(fd, 2) == 2, "redirect stderr");
  r50_log(R50_LOG_WARN, "skipped: empty file: %s", "cat/new\nline\r\t\x01\x7f.png");
  r50_log(R50_LOG_WARN, "kept: %s", "caf\xc3\xa9\\x.png");
  fflush(stderr);
  CHECK(dup2(saved, 2) == 2, "restore stderr");
  close(saved);
  close(fd);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "reopen %s", path);
  char text[1024] = "";
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = 0;
  if (f)
    fclose(f);
  remove(path);
  const char *first = strstr(text, "warning: skipped"),
             *second = strstr(text, "warning: kept");
  CHECK(
      first &&
          !strncmp(
              first, "warning: skipped: empty file: cat/new\\nline\\r\\t\\x01\\x7f.png\n",
              strlen(
                  "warning: skipped: empty file: cat/new\\nline\\r\\t\\x01\\x7f.png\n")),
      "control characters escaped: %s", text);
  CHECK(second && !strcmp(second, "warning: kept: caf\xc3\xa9\\x.png\n"),
        "UTF-8 and backslashes kept: %s", text);
  int lines = 0;
  for (const char *c = text; *c; c++)
    lines += *c == '\n';
  CHECK(lines == 2, "%d lines for 2 records", lines);
  return test_result("test_log");
}

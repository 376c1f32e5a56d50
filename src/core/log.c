/*
 * log.c — r50_log: one line per call with a "[rank/size host]" prefix.
 *
 * Rule: INFO/DEBUG come from rank 0 only, WARN/ERROR from every rank — unless the
 * environment sets R50_LOG=debug, which makes every rank log everything; each line is
 * formatted in full first and written with one write so ranks' lines never interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "r50.h"

typedef struct log_state {
  int rank, size;
  r50_log_level level;
  int env_read;
  char host[64];
} log_state;

/* Process-wide logging identity: set once at start-up, read-only afterwards. */
static log_state g_log = {0, 1, R50_LOG_INFO, 0, ""};

/* A progress line stands unfinished on the terminal (r50_log_after_progress). */
static atomic_int g_progress_drawn;

void r50_log_after_progress(int drawn) {
  atomic_store(&g_progress_drawn, drawn);
}

static void read_env(void) {
  const char *e = getenv("R50_LOG");
  if (e && !strcmp(e, "debug"))
    g_log.level = R50_LOG_DEBUG;
  g_log.env_read = 1;
}

void r50_log_set_level(r50_log_level level) {
  g_log.level = level;
  g_log.env_read = 1;
}

void r50_log_set_rank(int rank, int size) {
  g_log.rank = rank;
  g_log.size = size;
}

void r50_log(r50_log_level level, const char *fmt, ...) {
  if (!g_log.env_read)
    read_env();
  int all_ranks = g_log.level == R50_LOG_DEBUG;
  if (level < g_log.level || (level < R50_LOG_WARN && g_log.rank != 0 && !all_ranks))
    return;
  if (!g_log.host[0] && gethostname(g_log.host, sizeof g_log.host - 1) != 0)
    strcpy(g_log.host, "?");
  static const char *const tag[] = {"debug", "info", "warning", "error"};
  char msg[2048], line[4 * sizeof msg + 128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* one record a line: a control character (a newline in a file name, say) is
   * written \n, \r, \t or \xNN */
  /* (a progress line being redrawn is ended where it stands: kept, the next one
   * coming below this) */
  const char *end = atomic_exchange(&g_progress_drawn, 0) ? "\n" : "";
  int n = snprintf(line, sizeof line, "%s[%d/%d %s] %s: ", end, g_log.rank, g_log.size,
                   g_log.host, tag[level]);
  for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
    if (*c >= 0x20 && *c != 0x7f)
      line[n++] = (char)*c;
    else if (*c == '\n' || *c == '\r' || *c == '\t')
      line[n++] = '\\', line[n++] = *c == '\n' ? 'n' : *c == '\r' ? 'r' : 't';
    else
      n += snprintf(line + n, 5, "\\x%02x", *c);
  }
  line[n++] = '\n';
  fwrite(line, 1, (size_t)n, stderr);
}

void r50_log_identity(int *rank, const char **host) {
  if (!g_log.host[0] && gethostname(g_log.host, sizeof g_log.host - 1) != 0)
    strcpy(g_log.host, "?");
  *rank = g_log.rank;
  *host = g_log.host;
}

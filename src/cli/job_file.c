/*
 * job_file.c — `--job FILE.ini`: a command's options kept in an INI file, read with
 * inih (Debian's libinih), one section per command and one key per long option:
 *
 *   [extract]
 *   dataset = photos/          ; the positional argument(s), by name (cmd->pos_keys)
 *   output = features.h5
 *   layers = pool5,res5
 *   batch = 32
 *   fast-decode = true         ; a flag: true/false, yes/no, on/off, 1/0
 *
 * A value in matching quotes ("my photos/", 'a.h5') is the text between them. Sections
 * of other commands are skipped (one file can hold a whole pipeline); an
 * unknown section or key, a bad value, or a file without this command's section is an
 * error naming the file, the line and the key. Values live until the process ends.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char *const commands[] = {"info",     "bench",   "extract", "predict",
                                       "finetune", "convert", "export",  "status"};

typedef struct reader {
  FILE *f;
  int line; /* of the line read last */
} reader;

typedef struct job {
  const cli_command *cmd;
  const char *path;
  reader *rd;
  const char **pos;
  int *npos;
  int found, failed;
} job;

static char **kept;
static size_t n_kept;

static void free_kept(void) {
  for (size_t i = 0; i < n_kept; i++)
    free(kept[i]);
  free(kept);
}

static const char *keep(const char *v) {
  char **k = realloc(kept, (n_kept + 1) * sizeof *kept);
  char *copy = strdup(v);
  if (!k || !copy) {
    free(copy);
    if (k)
      kept = k;
    return NULL;
  }
  if (!kept)
    atexit(free_kept);
  kept = k;
  kept[n_kept++] = copy;
  return copy;
}

static char *read_line(char *buf, int cap, void *stream) {
  reader *r = stream;
  char *s = fgets(buf, cap, r->f);
  r->line += s != NULL;
  return s;
}

static int fail(job *j, const char *section, const char *key, const char *msg) {
  cli_usage_print("r50worker %s: %s:%d: %s%s%s%s%s", j->cmd->name, j->path, j->rd->line,
                  section ? "[" : "", section ? section : "", section ? "] " : "",
                  key ? key : "", msg);
  j->failed = 1;
  return 0; /* stops inih */
}

/* Index of key among cmd->pos_keys ("a,b"), or -1. */
static int pos_index(const cli_command *cmd, const char *key) {
  const char *p = cmd->pos_keys;
  size_t n = strlen(key);
  for (int i = 0; p && *p; i++) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && !strncmp(p, key, n))
      return i;
    p += len + (comma ? 1 : 0);
  }
  return -1;
}

static int flag_value(const char *v) {
  static const char *const on[] = {"true", "yes", "on", "1"}, *const off[] = {"false",
                                                                              "no", "off",
                                                                              "0"};
  for (int i = 0; i < 4; i++) {
    if (!strcmp(v, on[i]))
      return 1;
    if (!strcmp(v, off[i]))
      return 0;
  }
  return -1;
}

static int on_key(void *user, const char *section, const char *key, const char *value) {
  job *j = user;
  int known = 0;
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    known |= !strcmp(section, commands[i]);
  if (!known) {
    char msg[256];
    snprintf(
        msg, sizeof msg,
        "unknown section [%s] (sections are commands: info, bench, extract, predict, "
        "finetune, convert, export, status)",
        section);
    return fail(j, NULL, NULL, msg);
  }
  if (strcmp(section, j->cmd->name))
    return 1;
  j->found = 1;
  char *v = (char *)keep(value);
  if (!v)
    return fail(j, section, key, ": out of memory");
  const size_t n = strlen(v);
  if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
    memmove(v, v + 1, n - 2); /* "a path with spaces": the quotes are not part of it */
    v[n - 2] = 0;
  }
  int p = pos_index(j->cmd, key);
  if (p >= 0) {
    j->pos[p] = v;
    if (p + 1 > *j->npos)
      *j->npos = p + 1;
    return 1;
  }
  const cli_opt *o = strcmp(key, "job") ? cli_find_opt(j->cmd, key, strlen(key)) : NULL;
  if (!o || o->name[1] == 0) { /* one-letter names ("o") are command-line shorthands */
    char msg[320];
    snprintf(msg, sizeof msg, ": unknown key (not an option of r50worker %s%s%s)",
             j->cmd->name, j->cmd->pos_keys ? " nor one of " : "",
             j->cmd->pos_keys ? j->cmd->pos_keys : "");
    return fail(j, section, key, msg);
  }
  if (o->type == CLI_FLAG) {
    int f = flag_value(v);
    if (f < 0)
      return fail(j, section, key, ": a flag wants true or false");
    if (f)
      *(int *)o->dst = 1;
    return 1;
  }
  char msg[512], full[620];
  if (cli_set_value(o, v, msg, sizeof msg) != 0) {
    snprintf(full, sizeof full, ": %s%s", msg,
             strchr(v, '#') ? " (a comment after a value starts with ' ;', not '#')"
                            : "");
    return fail(j, section, key, full);
  }
  return 1;
}

int cli_job_apply(const cli_command *cmd, const char *path, const char **pos, int *npos) {
  FILE *f = fopen(path, "r");
  if (!f) {
    /* every rank says it: the file may be on one node's disk alone */
    fprintf(stderr, "r50worker %s: --job %s: cannot open: %s\n", cmd->name, path,
            strerror(errno)); /* (one write: ranks print it at once) */
    return CLI_EXIT_USAGE;
  }
  reader rd = {f, 0};
  job j = {cmd, path, &rd, pos, npos, 0, 0};
  int rc = ini_parse_stream(read_line, &rd, on_key, &j);
  fclose(f);
  if (j.failed)
    return CLI_EXIT_USAGE;
  if (rc != 0) {
    cli_usage_print("r50worker %s: %s:%d: not an INI line ('[section]' or 'key = value')",
                    cmd->name, path, rc > 0 ? rc : rd.line);
    return CLI_EXIT_USAGE;
  }
  if (!j.found) {
    cli_usage_print("r50worker %s: %s has no [%s] section", cmd->name, path, cmd->name);
    return CLI_EXIT_USAGE;
  }
  return 0;
}

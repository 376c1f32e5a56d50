/*
 * cli_opts.c — parsing "--name value", "--name=value" and flags against a cli_command
 * table, and printing its help.
 */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_options.h"

void cli_usage_print(const char *fmt, ...) {
  if (cli_env_rank() > 0)
    return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line); /* one write: pieces written apart interleave */
}

static int usage_error(const cli_command *cmd, const char *fmt, const char *a,
                       const char *b) {
  char what[1024];
  snprintf(what, sizeof what, fmt, a, b);
  cli_usage_print("r50worker %s: %s (see r50worker %s --help)", cmd->name, what,
                  cmd->name);
  return CLI_EXIT_USAGE;
}

static int in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, v, n))
      return 1;
    p += len + (bar ? 1 : 0);
  }
  return 0;
}

int cli_set_value(const cli_opt *o, const char *v, char *msg, size_t cap) {
  char *end;
  errno = 0;
  switch (o->type) {
  case CLI_FLAG: *(int *)o->dst = 1; return 0;
  case CLI_INT: {
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < o->min || x > o->max) {
      snprintf(msg, cap, "want an integer in [%.0f, %.0f], not '%s'", o->min, o->max, v);
      return CLI_EXIT_USAGE;
    }
    *(int *)o->dst = (int)x;
    return 0;
  }
  case CLI_DOUBLE: {
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < o->min || x > o->max) {
      snprintf(msg, cap, "want a number in [%g, %g], not '%s'", o->min, o->max, v);
      return CLI_EXIT_USAGE;
    }
    *(double *)o->dst = x;
    return 0;
  }
  case CLI_STRING:
    if (o->choices && !in_choices(o->choices, v)) {
      snprintf(msg, cap, "bad value '%s' (want %s)", v, o->choices);
      return CLI_EXIT_USAGE;
    }
    *(const char **)o->dst = v;
    return 0;
  case CLI_LIST: {
    cli_list *l = o->dst;
    if (l->from_file)
      l->n = 0, l->from_file = 0;
    if (l->n == CLI_LIST_MAX) {
      snprintf(msg, cap, "given more than %d times", CLI_LIST_MAX);
      return CLI_EXIT_USAGE;
    }
    for (int i = 0; i < l->n; i++)
      if (!strcmp(l->v[i], v)) {
        snprintf(msg, cap, "'%s' given twice", v);
        return CLI_EXIT_USAGE;
      }
    l->v[l->n++] = v;
    return 0;
  }
  }
  snprintf(msg, cap, "bad option type");
  return CLI_EXIT_USAGE;
}

static int set_value(const cli_command *cmd, const cli_opt *o, const char *v) {
  char msg[512];
  if (cli_set_value(o, v, msg, sizeof msg) == 0)
    return 0;
  return usage_error(cmd, "--%s: %s", o->name, msg);
}

const cli_opt *cli_find_opt(const cli_command *cmd, const char *name, size_t len) {
  for (const cli_opt *o = cmd->opts; o && o->name; o++)
    if (strlen(o->name) == len && !strncmp(o->name, name, len))
      return o;
  return NULL;
}

/* The value of --job FILE / --job=FILE in argv (before a "--"), or NULL; its tokens
 * are marked in skip. */
static const char *job_arg(int argc, char **argv, char *skip) {
  const char *job = NULL;
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    if (!strcmp(argv[i], "--job") && i + 1 < argc) {
      job = argv[i + 1];
      skip[i] = skip[i + 1] = 1;
      i++;
    } else if (!strncmp(argv[i], "--job=", 6)) {
      job = argv[i] + 6;
      skip[i] = 1;
    }
  }
  return job;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const char **pos,
              int *npos) {
  *npos = 0;
  int only_pos = 0;
  char skip[4096] = {0};
  if (argc > (int)sizeof skip) {
    cli_usage_print("r50worker %s: too many arguments", cmd->name);
    return CLI_EXIT_USAGE;
  }
  const char *job = job_arg(argc, argv, skip);
  const char *job_pos[8] = {0};
  int job_npos = 0;
  if (job) { /* the file first: the command line overrides it */
    for (int i = 1; i < argc; i++)
      if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
        cli_help(cmd);
        return -1;
      }
    int rc = cli_job_apply(cmd, job, job_pos, &job_npos);
    if (rc)
      return rc;
    for (const cli_opt *o = cmd->opts; o && o->name; o++)
      if (o->type == CLI_LIST) /* the command line's values replace the file's */
        ((cli_list *)o->dst)->from_file = ((cli_list *)o->dst)->n > 0;
  }
  for (int i = 1; i < argc; i++) {
    if (skip[i])
      continue;
    const char *a = argv[i];
    if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
      if (*npos >= cmd->max_pos)
        return usage_error(cmd, "unexpected argument '%s'%s", a, "");
      pos[(*npos)++] = a;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli_help(cmd);
      return -1;
    }
    int short_opt = a[1] != '-'; /* "-o" is the one-letter option "o" */
    if (short_opt && strlen(a) != 2)
      return usage_error(cmd, "unknown option '%s'%s", a, "");
    const char *name = a + (short_opt ? 1 : 2),
               *eq = short_opt ? NULL : strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_opt *o = cli_find_opt(cmd, name, len);
    if (!o)
      return usage_error(cmd, "unknown option '%s'%s", a, "");
    const char *v = eq ? eq + 1 : NULL;
    if (o->type == CLI_FLAG && v)
      return usage_error(cmd, "--%s takes no value%s", o->name, "");
    if (o->type != CLI_FLAG && !v) {
      if (i + 1 >= argc)
        return usage_error(cmd, "--%s needs a value (%s)", o->name, o->metavar);
      v = argv[++i];
    }
    int rc = set_value(cmd, o, v);
    if (rc)
      return rc;
  }
  if (*npos == 0 && job_npos > 0) /* positionals from the file unless given here */
    for (int i = 0; i < job_npos && i < cmd->max_pos; i++)
      pos[(*npos)++] = job_pos[i];
  if (*npos < cmd->min_pos)
    return usage_error(cmd, "missing argument; usage: r50worker %s %s", cmd->name,
                       cmd->usage);
  return 0;
}

int cli_parse_layers(const char *cmd, char *list, const char **names, int *n) {
  *n = 0;
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    while (*tok == ' ' || *tok == '\t') /* "pool5, res5" */
      tok++;
    for (char *end = tok + strlen(tok); end > tok && (end[-1] == ' ' || end[-1] == '\t');)
      *--end = 0;
    if (!*tok)
      continue;
    const char *why = r50_layer_index(tok) < 0 ? "unknown layer" : NULL;
    for (int i = 0; i < *n && !why; i++)
      if (!strcmp(names[i], tok))
        why = "layer given twice:";
    if (why) {
      cli_usage_print("r50worker %s: --layers: %s '%s' (see r50worker %s --help)", cmd,
                      why, tok, cmd);
      return CLI_EXIT_USAGE;
    }
    names[(*n)++] = tok; /* no repeats among R50_MAX_LAYERS names: never more */
  }
  if (*n == 0) {
    cli_usage_print("r50worker %s: --layers: no layer given (see r50worker %s --help)",
                    cmd, cmd);
    return CLI_EXIT_USAGE;
  }
  return 0;
}

/* " (default X)" for an option whose destination holds a value, else "". */
static void format_default(const cli_opt *o, char *buf, size_t cap) {
  buf[0] = 0;
  switch (o->type) {
  case CLI_FLAG: break;
  case CLI_INT: snprintf(buf, cap, " (default %d)", *(const int *)o->dst); break;
  case CLI_DOUBLE: snprintf(buf, cap, " (default %g)", *(const double *)o->dst); break;
  case CLI_STRING:
    if (*(const char *const *)o->dst)
      snprintf(buf, cap, " (default %s)", *(const char *const *)o->dst);
    break;
  case CLI_LIST: snprintf(buf, cap, " (repeatable)"); break;
  }
}

void cli_help(const cli_command *cmd) {
  printf("usage: r50worker %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage,
         cmd->summary);
  for (const cli_opt *o = cmd->opts; o && o->name; o++) {
    char left[64], def[128];
    const char *dash = o->name[1] ? "--" : "-";
    if (o->type == CLI_FLAG)
      snprintf(left, sizeof left, "%s%s", dash, o->name);
    else
      snprintf(left, sizeof left, "%s%s %s", dash, o->name, o->metavar);
    format_default(o, def, sizeof def);
    printf("  %-28s %s%s\n", left, o->help, def);
  }
  char job[160];
  snprintf(job, sizeof job, "options (and %s) from the [%s] section of an INI job file",
           cmd->pos_keys ? cmd->pos_keys : "no arguments", cmd->name);
  printf("  %-28s %s\n", "--job FILE.ini", job);
  printf("  %-28s %s\n", "--help", "show this help");
}

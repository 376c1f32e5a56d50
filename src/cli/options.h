/*
 * cli_opts.h — declarative command-line options: one table per command drives both
 * parsing and --help, so the help text can never drift from what is accepted.
 *
 * Rule: an unknown option, a missing or malformed value, or a value out of range is
 * one line on stderr naming the option and the problem, and exit code 2.
 */
#ifndef R50_CLI_OPTS_H
#define R50_CLI_OPTS_H

#include "r50.h"

#define CLI_EXIT_USAGE 2

typedef enum cli_opt_type {
  CLI_FLAG,   /* int *, set to 1 */
  CLI_INT,    /* int *, within [min, max] */
  CLI_DOUBLE, /* double *, within [min, max] */
  CLI_STRING, /* const char **, or one of `choices` ("a|b|c") when set */
  CLI_LIST,   /* cli_list *: each use adds a value (--reuse A --reuse B); on the
                 command line, the first use replaces the values a job file gave */
} cli_opt_type;

#define CLI_LIST_MAX 64

typedef struct cli_list {
  const char *v[CLI_LIST_MAX];
  int n;
  int from_file; /* the values came from --job FILE: the command line replaces them */
} cli_list;

typedef struct cli_opt {
  const char *name; /* long name without "--"; a one-letter name is "-x" */
  cli_opt_type type;
  void *dst;
  const char *metavar;
  const char *help;
  double min, max;     /* CLI_INT / CLI_DOUBLE */
  const char *choices; /* CLI_STRING: "|"-separated allowed values, or NULL */
} cli_opt;

typedef struct cli_command {
  const char *name;     /* e.g. "bench" */
  const char *summary;  /* one line */
  const char *usage;    /* e.g. "[options]" or "DATASET -o OUT.h5 [options]" */
  const cli_opt *opts;  /* terminated by {0} */
  int min_pos, max_pos; /* positional arguments */
  const char *pos_keys; /* job-file keys of the positional arguments, comma-separated
                           ("dataset"), or NULL */
} cli_command;

/* Prints a usage error, fmt's line (no newline) and "\n", on stderr in one write (ranks
 * printing at once do not interleave). A copy of the program that a launcher (mpirun,
 * srun) started as rank 1 or above prints nothing: each copy parses the same command
 * line, and rank 0 says it once for the job. */
void cli_usage_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses argv (argv[0] is the command name). Returns 0 on success with the positional
 * arguments in pos (at most cmd->max_pos), -1 after printing --help (exit 0), or
 * CLI_EXIT_USAGE after printing the error. `--job FILE.ini` anywhere applies the
 * file's [cmd] section first; the other arguments override it. */
int cli_parse(const cli_command *cmd, int argc, char **argv, const char **pos, int *npos);

/* The option of cmd named name (len bytes), or NULL. */
const cli_opt *cli_find_opt(const cli_command *cmd, const char *name, size_t len);

/* Sets o from the text v; on a bad value returns CLI_EXIT_USAGE with the reason in msg
 * ("want an integer in [1, 4096], not 'x'"). */
int cli_set_value(const cli_opt *o, const char *v, char *msg, size_t cap);

/* --job FILE (job_file.c): applies the [cmd] section of the INI file to cmd's options;
 * positional keys (cmd->pos_keys) go to pos. An unknown section or key or a bad value
 * is one line naming the file, line and key, and CLI_EXIT_USAGE. */
int cli_job_apply(const cli_command *cmd, const char *path, const char **pos, int *npos);

/* Splits a comma-separated layer list (e.g. "pool5,res5" or "pool5, res5": blanks
 * around a name are not part of it) in place into names (at
 * most R50_MAX_LAYERS). An unknown layer, a layer given twice or an empty list is a
 * one-line usage error: returns CLI_EXIT_USAGE after printing it, else 0. */
int cli_parse_layers(const char *cmd, char *list, const char **names, int *n);

/* Prints the command's help to stdout. */
void cli_help(const cli_command *cmd);

#endif

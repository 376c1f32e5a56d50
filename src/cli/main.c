/*
 * main.c — r50worker: dispatches to a command. Only main decides the exit code:
 * 0 success, 1 failure, 2 usage error; 3 is extract's and predict's "no image could be
 * read" (extract_job.h) and status's "not complete yet" (cmd_status.c).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model_options.h"
#include "options.h"
#include "r50.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"info", cli_info, "layers, output shapes and parameter count of a model"},
    {"bench", cli_bench, "time forward passes on random input"},
    {"extract", cli_extract, "features of a dataset into one HDF5 file (mpirun-ready)"},
    {"predict", cli_predict, "top classes of every image of a dataset"},
    {"finetune", cli_finetune, "fine-tune on a labelled dataset (mpirun-ready)"},
    {"convert", cli_convert, "convert an MSRA ResNet caffemodel to a Chainer npz"},
    {"export", cli_export,
     "export a feature file's rows as .npy shards for ANN indexers"},
    {"status", cli_status,
     "where a feature file or a fine-tuning run stands (read only)"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: r50worker COMMAND [options]   (r50worker COMMAND --help)\n\n"
             "ResNet-50/101/152 as Chainer's ResNetLayers, as a batch worker.\n\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n  --version  print the version\n  --help     show this help\n");
}

/* A usage error is said by rank 0 alone (cli_usage_print), before MPI starts; mpirun
 * ends the whole job as soon as one rank exits non-zero, so a rank that exits first
 * could cut rank 0 off before its line is out. The other ranks leave a moment later. */
static int leave(int rc) {
  if (rc == CLI_EXIT_USAGE && cli_env_rank() > 0)
    usleep(500000);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("r50worker %s\n", r50_version());
    return 0;
  }
  int rc = CLI_EXIT_USAGE;
  size_t i = 0;
  while (i < sizeof commands / sizeof *commands && strcmp(argv[1], commands[i].name))
    i++;
  if (i < sizeof commands / sizeof *commands)
    rc = commands[i].run(argc - 1, argv + 1);
  else
    cli_usage_print("r50worker: unknown command '%s' (see r50worker --help)", argv[1]);
  return leave(rc);
}

/*
 * cli.h — the r50worker commands; each returns the process exit code.
 */
#ifndef R50_CLI_H
#define R50_CLI_H

int cli_info(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_extract(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_convert(int argc, char **argv);
int cli_finetune(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_status(int argc, char **argv);

#endif

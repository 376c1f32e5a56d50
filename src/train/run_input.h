/*
 * run_input.h — RUN_DIR/input.txt: how a fine-tuning run prepared its images ("size S"
 * and "crop C" lines), written by the run and read by predict of its model, which
 * warns where it prepares them otherwise.
 */
#ifndef R50_RUN_INPUT_H
#define R50_RUN_INPUT_H

#include "r50.h"

/* Writes RUN_DIR/input.txt whole (r50_replace_file). */
r50_status r50_run_input_write(const char *run_dir, int size, int crop, r50_error *err);

/* Reads such a file: 1 with *size and *crop set, 0 when it cannot be read or lacks
 * either line. */
int r50_run_input_read(const char *path, int *size, int *crop);

#endif

/*
 * run_input.c — RUN_DIR/input.txt (run_input.h).
 */
#include "run_input.h"

#include <stdio.h>

#include "fileio.h"

r50_status r50_run_input_write(const char *run_dir, int size, int crop, r50_error *err) {
  char path[4200], text[96];
  snprintf(path, sizeof path, "%s/input.txt", run_dir);
  const int len = snprintf(text, sizeof text, "size %d\ncrop %d\n", size, crop);
  return r50_replace_file(path, text, (size_t)len, err);
}

int r50_run_input_read(const char *path, int *size, int *crop) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  *size = *crop = 0;
  char line[64];
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "size %d", size) != 1)
      sscanf(line, "crop %d", crop);
  fclose(f);
  return *size > 0 && *crop > 0;
}

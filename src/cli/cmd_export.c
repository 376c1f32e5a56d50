/*
 * cmd_export.c — `r50worker export FEATURES.h5 --npy OUT_DIR [--layer pool5]
 * [--rows-per-file 1000000] [--normalize] [--overwrite]`: a feature file's done rows as
 * the .npy shards and CSV metadata that ANN indexers read (src/mpi/export_npy.h).
 */
#include <stdio.h>

#include "cli.h"
#include "options.h"
#include "r50.h"

#ifdef R50_HAVE_MPI
#include "export_npy.h"
#endif

int cli_export(int argc, char **argv) {
  const char *layer = "pool5", *npy = NULL;
  int normalize = 0, overwrite = 0;
  double rows_per_file = 1000000;
  const cli_opt opts[] = {
      {"npy", CLI_STRING, &npy, "OUT_DIR",
       "write OUT_DIR/img_emb/img_emb_NNNNN.npy and OUT_DIR/metadata/metadata_NNNNN.csv",
       0, 0, NULL},
      {"o", CLI_STRING, &npy, "OUT_DIR", "the same as --npy (as extract's -o)", 0, 0,
       NULL},
      {"layer", CLI_STRING, &layer, "LAYER", "the /features layer to export", 0, 0, NULL},
      {"rows-per-file", CLI_DOUBLE, &rows_per_file, "R", "rows per .npy shard", 1, 9e15,
       NULL},
      {"normalize", CLI_FLAG, &normalize, NULL, "L2-normalise every row", 0, 0, NULL},
      {"overwrite", CLI_FLAG, &overwrite, NULL, "replace the shards of an earlier export",
       0, 0, NULL},
      {0}};
  const cli_command cmd = {
      .name = "export",
      .summary =
          "Export the done rows of a feature file as 2-D .npy shards with CSV metadata "
          "(path, label, row), the layout embedding-reader and autofaiss read.",
      .usage = "FEATURES.h5 --npy OUT_DIR [options]",
      .opts = opts,
      .min_pos = 1,
      .max_pos = 1,
      .pos_keys = "features"};
  const char *pos[1];
  int npos, rc = cli_parse(&cmd, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (!npy) {
    cli_usage_print(
        "r50worker export: missing --npy OUT_DIR (see r50worker export --help)");
    return CLI_EXIT_USAGE;
  }
#ifdef R50_HAVE_MPI
  r50_export_opts o = {pos[0], layer, npy, (int64_t)rows_per_file, normalize, overwrite};
  r50_error err = {0};
  int64_t rows;
  int files;
  if (r50_export_npy(&o, &rows, &files, &err) != R50_OK) {
    r50_log(R50_LOG_ERROR, "%s", err.msg);
    return 1;
  }
  r50_log(R50_LOG_INFO, "exported %lld rows of %s from %s into %d file%s in %s/img_emb",
          (long long)rows, layer, pos[0], files, files == 1 ? "" : "s", npy);
  return 0;
#else
  r50_log(R50_LOG_ERROR, "export needs HDF5: this build has no MPI/HDF5");
  return 1;
#endif
}

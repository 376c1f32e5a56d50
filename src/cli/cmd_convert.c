/*
 * cli_convert.c — `r50worker convert MODEL.caffemodel OUT.npz [--arch 50|101|152]`:
 * an MSRA ResNet caffemodel to the Chainer npz that pretrained_model='auto' would make.
 *
 * Rules: without --arch the depth comes from the layer names; with it, names that say
 * another depth are an error (exit 1), never a silent reinterpretation. An existing
 * OUT.npz is replaced only with --overwrite.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "options.h"
#include "r50.h"

int cli_convert(int argc, char **argv) {
  const char *arch = NULL;
  int overwrite = 0;
  const cli_opt opts[] = {{"arch", CLI_STRING, &arch, "50|101|152",
                           "network depth (default: inferred from the layer names)", 0, 0,
                           "50|101|152"},
                          {"overwrite", CLI_FLAG, &overwrite, NULL,
                           "replace an existing OUT.npz", 0, 0, NULL},
                          {0}};
  const cli_command cmd = {
      .name = "convert",
      .summary =
          "Convert an MSRA ResNet caffemodel (K. He's deep-residual-networks) into "
          "the Chainer npz that pretrained_model='auto' makes from it.",
      .usage = "MODEL.caffemodel OUT.npz [--arch 50|101|152] [--overwrite]",
      .opts = opts,
      .min_pos = 2,
      .max_pos = 2,
      .pos_keys = "caffemodel,npz"};
  const char *pos[2];
  int npos, rc = cli_parse(&cmd, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  struct stat st;
  if (!overwrite && stat(pos[1], &st) == 0) {
    r50_log(R50_LOG_ERROR, "%s exists; pass --overwrite to replace it", pos[1]);
    return 1;
  }
  r50_error err = {0};
  if (r50_convert_caffemodel_to_npz(pos[0], pos[1], arch ? atoi(arch) : 0, &err) !=
      R50_OK) {
    r50_log(R50_LOG_ERROR, "%s", err.msg);
    return 1;
  }
  return 0;
}

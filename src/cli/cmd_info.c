/*
 * cli_info.c — `r50worker info`: the network's layers with their output shapes for a
 * 224x224 input, the parameter count, and how this binary was built.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cpu_features.h"
#include "engines.h"
#include "image.h"
#include "model_options.h"

#ifdef R50_HAVE_CUDA
#include "device_cuda.h"
#endif

/* The GPUs visible, and the one this rank uses (one rank per GPU: local rank % count). */
static void print_gpus(void) {
#ifdef R50_HAVE_CUDA
  const int n = r50_cuda_device_count(), local = cli_env_local_rank();
  for (int i = 0; i < n; i++) {
    char d[256];
    r50_cuda_describe(i, d, sizeof d);
    printf("gpu %-5d %s%s\n", i, d,
           i == r50_cuda_pick_device(local, n) ? "  <- this rank" : "");
  }
  if (n > 0)
    printf("rank      local rank %d uses GPU %d of %d (CUDA_VISIBLE_DEVICES=%s)\n", local,
           r50_cuda_pick_device(local, n), n,
           getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
#endif
}

static void print_build(void) {
#ifdef R50_HAVE_CUDA
  int ndev = r50_cuda_device_count();
  char libs[256];
  r50_cuda_libraries(libs, sizeof libs);
  printf("build     CUDA engine: yes (%d device%s visible; %s)", ndev,
         ndev == 1 ? "" : "s", libs);
#else
  printf("build     CUDA engine: no");
#endif
#ifdef R50_HAVE_MPI
  printf(", MPI: yes");
#else
  printf(", MPI: no");
#endif
#ifdef R50_HAVE_ONEDNN
  char dnnl[256];
  r50_onednn_describe(dnnl, sizeof dnnl);
  printf(", oneDNN engine: yes (%s)", dnnl);
#else
  printf(", oneDNN engine: no");
#endif
  char cpu[512], images[256];
  r50_cpu_describe(cpu, sizeof cpu);
  printf("\ncpu       %s\n", cpu);
  r50_image_formats_describe(images, sizeof images);
  printf("images    %s\n", images);
}

int cli_info(int argc, char **argv) {
  cli_model_opts mo = cli_model_defaults();
  const cli_opt opts[] = {CLI_MODEL_OPTS(mo), {0}};
  const cli_command cmd = {"info",
                           "Show each layer with its output shape for one 224x224 image, "
                           "and the parameter count.",
                           "[options]",
                           opts,
                           0,
                           0,
                           NULL};
  const char *pos[1];
  int npos, rc = cli_parse(&cmd, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  if ((rc = cli_model_resolve(&mo, "info")))
    return rc;
  r50_model *m = cli_model_new(&mo);
  if (!m)
    return 1;
  char desc[4200];
  cli_model_describe(&mo, desc, sizeof desc);
  printf("model     %s\n", desc);
  printf("engine    %s, %s\n", r50_model_engine(m),
         r50_precision_name(r50_model_precision(m)));
  printf("%-9s output shape for (1, 3, 224, 224)\n", "layer");
  int n;
  const char *const *layers = r50_available_layers(&n);
  for (int i = 0; i < n; i++) {
    int64_t shape[R50_MAX_DIMS];
    int ndim;
    r50_layer_shape(m, layers[i], 1, 224, 224, shape, &ndim, NULL);
    printf("%-9s (", layers[i]);
    for (int d = 0; d < ndim; d++)
      printf(d ? ", %lld" : "%lld", (long long)shape[d]);
    printf(")\n");
  }
  long long p = (long long)r50_count_params(m);
  printf("params    %lld,%03lld,%03lld trainable\n", p / 1000000, p / 1000 % 1000,
         p % 1000);
  print_build();
  print_gpus();
  r50_model_free(m);
  return 0;
}

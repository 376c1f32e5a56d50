/*
 * model_options.c — building the model from the shared command-line options.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "model_options.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "resource_limits.h"

cli_model_opts cli_model_defaults(void) {
  return (cli_model_opts){.arch = "50",
                          .model = "auto",
                          .threads = 0,
                          .engine = "auto",
                          .precision = "fp32",
                          .device = "auto"};
}

/* A positive integer at the start of env var `name`, else 0. */
static int env_count(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    return 0;
  char *end;
  long n = strtol(v, &end, 10);
  return n > 0 && n <= 4096 && (*end == 0 || *end == ',') ? (int)n : 0;
}

/* x divided among n takers (n >= 1), at least 1. */
static int share_of(int x, int n) {
  return x / n > 0 ? x / n : 1;
}

/* The CPUs a rank may use as its launcher and control group set them. */
typedef struct cpu_budget {
  int mask;        /* CPUs of the affinity mask; 0: unknown */
  int mask_share;  /* the mask divided among the ranks that share it */
  double quota;    /* CPUs of time the control group grants; 0: no quota */
  int quota_share; /* the quota's whole CPUs divided among the node's ranks; 0: none */
} cpu_budget;

static cpu_budget budget_of(int sharers, int ranks) {
  cpu_budget b = {0, 1, r50_cpu_quota(), 0};
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    b.mask = CPU_COUNT(&set);
  b.mask_share = share_of(b.mask, sharers > 1 ? sharers : 1);
  if (b.quota > 0)
    b.quota_share = share_of(b.quota < 1 ? 1 : (int)b.quota, ranks > 1 ? ranks : 1);
  return b;
}

/* Why auto_threads chose fewer threads than the affinity mask holds. */
enum { CLI_THREADS_SHARED = 1, CLI_THREADS_QUOTA = 2 };

/* The threads --threads 0 gives under b; *why gets the CLI_THREADS_* that applied. */
static int auto_threads(const cpu_budget *b, int sharers, int *why) {
  int n = env_count("OMP_NUM_THREADS");
  if (!n)
    n = env_count("SLURM_CPUS_PER_TASK");
  *why = 0;
  if (!n) {
    n = b->mask;
    if (sharers > 1)
      n = b->mask_share, *why = CLI_THREADS_SHARED;
    if (b->quota_share && b->quota_share < n)
      n = b->quota_share, *why = CLI_THREADS_QUOTA;
  }
  if (b->mask > 0 && n > b->mask)
    n = b->mask;
  return n > 0 ? n : 1;
}

int cli_auto_threads(void) {
  const cpu_budget b = budget_of(1, 1);
  int why;
  return auto_threads(&b, 1, &why);
}

static const char *plural(double n) {
  return n == 1 ? "" : "s";
}

void cli_share_threads(const cli_model_opts *mo, r50_config *cfg, int sharers, int ranks,
                       int speak) {
  const cpu_budget b = budget_of(sharers, ranks);
  if (b.mask <= 0)
    return;
  int why = 0;
  if (mo->threads <= 0)
    cfg->threads = auto_threads(&b, sharers, &why);
  if (!speak)
    return;
  const int t = cfg->threads;
  if (why == CLI_THREADS_QUOTA)
    r50_log(R50_LOG_INFO,
            "this process's control group grants %.3g CPU%s of time (a CPU quota, as a "
            "container's CPU limit sets) to this node's %d rank%s: %d compute "
            "thread%s a rank (--threads T or OMP_NUM_THREADS to choose)",
            b.quota, plural(b.quota), ranks, plural(ranks), t, plural(t));
  else if (why == CLI_THREADS_SHARED)
    r50_log(
        R50_LOG_INFO,
        "%d ranks of this node share its %d CPU%s (the launcher bound them to no CPUs "
        "of their own): %d compute thread%s a rank (--threads T, OMP_NUM_THREADS or "
        "mpirun --bind-to core to choose)",
        sharers, b.mask, plural(b.mask), t, plural(t));
  else if (sharers > 1 && t > b.mask_share)
    r50_log(
        R50_LOG_WARN,
        "%d ranks of this node share its %d CPU%s (the launcher bound them to no CPUs "
        "of their own) and run %d compute threads each: they take turns, slower "
        "than %d each (--threads 0 without OMP_NUM_THREADS divides the CPUs among "
        "them)",
        sharers, b.mask, plural(b.mask), t, b.mask_share);
  else if (b.quota_share && t > b.quota_share) /* asked for */
    r50_log(R50_LOG_WARN,
            "this process's control group grants %.3g CPU%s of time (a CPU quota, as a "
            "container's CPU limit sets) to this node's %d rank%s, and %d compute "
            "thread%s a rank exceed it: they are stopped in turn, slower than %d a rank "
            "(--threads 0 without OMP_NUM_THREADS keeps within the quota)",
            b.quota, plural(b.quota), ranks, plural(ranks), t, plural(t), b.quota_share);
}

/* The first of the n variables that is set, as an integer; 0 when none is. */
static int first_env_int(const char *const *vars, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v)
      return atoi(v);
  }
  return 0;
}

int cli_env_local_rank(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                     "SLURM_LOCALID", "PMI_LOCAL_RANK"};
  return first_env_int(vars, sizeof vars / sizeof *vars);
}

int cli_env_rank(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                     "SLURM_PROCID"};
  return first_env_int(vars, sizeof vars / sizeof *vars);
}

r50_config cli_model_config(const cli_model_opts *mo) {
  r50_config cfg = r50_config_default();
  cfg.arch = (r50_arch)atoi(mo->arch);
  cfg.downsample_fb = mo->downsample_fb;
  cfg.pretrained = strcmp(mo->model, "none") ? mo->model : NULL;
  cfg.seed = (uint64_t)mo->seed;
  cfg.threads = mo->threads > 0 ? mo->threads : cli_auto_threads();
  cfg.engine = mo->engine;
  cfg.precision = !strcmp(mo->precision, "bf16")   ? R50_PRECISION_BF16
                  : !strcmp(mo->precision, "tf32") ? R50_PRECISION_TF32
                                                   : R50_PRECISION_FP32;
  const int gpus = r50_device_count(R50_DEVICE_CUDA);
  /* auto: the GPU, unless a CPU engine was named */
  cfg.device = !strcmp(mo->device, "cuda") || (!strcmp(mo->device, "auto") && gpus > 0 &&
                                               !strcmp(mo->engine, "auto"))
                   ? R50_DEVICE_CUDA
                   : R50_DEVICE_CPU;
  if (cfg.device == R50_DEVICE_CUDA && gpus > 0)
    cfg.cuda_device = cli_env_local_rank() % gpus;
  return cfg;
}

int cli_model_resolve(cli_model_opts *mo, const char *cmd) {
  static char path[PATH_MAX + 16];
  struct stat st;
  if (!strcmp(mo->model, "auto") || !strcmp(mo->model, "none") ||
      stat(mo->model, &st) != 0 || !S_ISDIR(st.st_mode))
    return 0; /* (a file, or what the load will name as missing) */
  const size_t n = strlen(mo->model);
  const int slash = n > 1 && mo->model[n - 1] == '/';
  snprintf(path, sizeof path, "%.*s/model.npz", (int)(n - slash), mo->model);
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
    mo->model = path;
    return 0;
  }
  char newest[PATH_MAX + 64];
  r50_error none = {0};
  if (r50_checkpoint_find(mo->model, newest, sizeof newest, &none) == R50_OK)
    cli_usage_print("r50worker %s: --model %s: this run has no model.npz yet (it is "
                    "stopped or still running); its newest checkpoint is %s (--model "
                    "that folder)",
                    cmd, mo->model, newest);
  else
    cli_usage_print("r50worker %s: --model %s is a folder without model.npz: give a "
                    "Chainer .npz, an MSRA .caffemodel, or a fine-tuning run's folder or "
                    "checkpoint (see r50worker %s --help)",
                    cmd, mo->model, cmd);
  return CLI_EXIT_USAGE;
}

r50_model *cli_model_new(const cli_model_opts *mo) {
  r50_config cfg = cli_model_config(mo);
  r50_error err = {0};
  r50_model *m = r50_model_new(&cfg, &err);
  if (!m)
    r50_log(R50_LOG_ERROR, "%s", err.msg);
  return m;
}

void cli_model_describe(const cli_model_opts *mo, char *buf, size_t cap) {
  char where[4096];
  if (!strcmp(mo->model, "none"))
    snprintf(where, sizeof where, "random weights (seed %d)", mo->seed);
  else if (!strcmp(mo->model, "auto")) {
    r50_auto_model_path((r50_arch)atoi(mo->arch), where, sizeof where);
  } else
    snprintf(where, sizeof where, "%s", mo->model);
  snprintf(buf, cap, "ResNet-%s (%s), %s", mo->arch,
           mo->downsample_fb ? "FB: stride on the 3x3 conv"
                             : "MSRA: stride on the 1x1 conv",
           where);
}

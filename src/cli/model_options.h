/*
 * cli_model.h — the model options every command shares (--arch, --downsample-fb,
 * --model, --threads, --seed) and building the model they describe.
 */
#ifndef R50_CLI_MODEL_H
#define R50_CLI_MODEL_H

#include "options.h"
#include "r50.h"

typedef struct cli_model_opts {
  const char *arch; /* "50" | "101" | "152" */
  int downsample_fb;
  const char *model; /* "auto" | "none" | PATH.npz */
  int threads;
  int seed;
  const char *engine;    /* "auto" | "onednn" | "reference" */
  const char *precision; /* "fp32" | "tf32" | "bf16" */
  const char *device;    /* "auto" | "cpu" | "cuda" */
} cli_model_opts;

/* Defaults: arch 50, MSRA, model "auto", threads 0 (auto), seed 0, engine "auto",
 * precision "fp32", device "auto". */
cli_model_opts cli_model_defaults(void);

/* The option table entries, to splice into a command's table. */
#define CLI_MODEL_OPTS(mo)                                                               \
  {"arch", CLI_STRING, &(mo).arch, "50|101|152", "network depth", 0, 0, "50|101|152"},   \
      {"downsample-fb",                                                                  \
       CLI_FLAG,                                                                         \
       &(mo).downsample_fb,                                                              \
       NULL,                                                                             \
       "stride on the 3x3 conv (Facebook) instead of the 1x1 (MSRA)",                    \
       0,                                                                                \
       0,                                                                                \
       NULL},                                                                            \
      {"model",                                                                          \
       CLI_STRING,                                                                       \
       &(mo).model,                                                                      \
       "auto|none|PATH",                                                                 \
       "weights: auto (Chainer's cache), none (random), a .npz or .caffemodel, or a "    \
       "fine-tuning run's folder or checkpoint (its model.npz)",                         \
       0,                                                                                \
       0,                                                                                \
       NULL},                                                                            \
      {"threads",                                                                        \
       CLI_INT,                                                                          \
       &(mo).threads,                                                                    \
       "T",                                                                              \
       "compute threads (0: the CPUs this rank may use: OMP_NUM_THREADS, else "          \
       "SLURM_CPUS_PER_TASK, else its affinity mask, divided among the ranks of its "    \
       "node that share it, within a container's CPU limit; never more than that "       \
       "mask)",                                                                          \
       0,                                                                                \
       1024,                                                                             \
       NULL},                                                                            \
      {"engine",                                                                         \
       CLI_STRING,                                                                       \
       &(mo).engine,                                                                     \
       "auto|onednn|reference",                                                          \
       "CPU engine: onednn (oneDNN, the fast one), reference (OpenBLAS, what onednn is " \
       "tested against); auto: onednn where built in",                                   \
       0,                                                                                \
       0,                                                                                \
       "auto|onednn|reference"},                                                         \
      {"precision",                                                                      \
       CLI_STRING,                                                                       \
       &(mo).precision,                                                                  \
       "fp32|tf32|bf16",                                                                 \
       "convolution arithmetic: bf16 needs --engine onednn and AMX-BF16 or "             \
       "AVX512-BF16, "                                                                   \
       "or a GPU of compute capability 8.0+; tf32 such a GPU (else fp32, with a "        \
       "warning)",                                                                       \
       0,                                                                                \
       0,                                                                                \
       "fp32|tf32|bf16"},                                                                \
      {"device",                                                                         \
       CLI_STRING,                                                                       \
       &(mo).device,                                                                     \
       "auto|cpu|cuda",                                                                  \
       "where the network runs: cuda (one GPU per rank: local rank % the GPUs "          \
       "visible), "                                                                      \
       "cpu; auto: cuda where a GPU is visible and the build has the CUDA engine",       \
       0,                                                                                \
       0,                                                                                \
       "auto|cpu|cuda"},                                                                 \
  {                                                                                      \
    "seed", CLI_INT, &(mo).seed, "S", "seed of random weights with --model none", 0,     \
        2147483647, NULL                                                                 \
  }

/* The threads --threads 0 means: OMP_NUM_THREADS (its first number), else
 * SLURM_CPUS_PER_TASK, else the CPUs of this process's affinity mask, no more than a
 * control group's CPU quota grants; never more than that mask holds. */
int cli_auto_threads(void);

/* Once MPI has started: cfg->threads for --threads 0 (mo->threads) on a rank whose
 * affinity mask `sharers` ranks of its node share (r50_dist's cpu_sharers), one of
 * `ranks` there: as cli_auto_threads, but the mask's CPUs divided among the sharers, and
 * no more than the ranks' share of a control group's CPU quota (r50_cpu_quota: a
 * container's CPU limit, which all the node's ranks are taken to be under), at least 1;
 * so that ranks left unbound, or in a container, do not run more threads than there are
 * CPUs for them. `speak` (rank 0): say why where that gave fewer threads than the mask
 * holds, and warn where the threads asked for exceed the shared CPUs or the quota. */
void cli_share_threads(const cli_model_opts *mo, r50_config *cfg, int sharers, int ranks,
                       int speak);

/* This process's index among the ranks of its node, from the launcher's environment
 * (Open MPI, MPICH, SLURM), else 0: where MPI is not initialised (info, bench). */
int cli_env_local_rank(void);

/* This process's rank in the job, from the launcher's environment (Open MPI, PMIx,
 * MPICH's Hydra, srun), else 0: read before MPI starts. */
int cli_env_rank(void);

/* The library config the options describe (pretrained NULL for "none"; threads 0
 * resolved by cli_auto_threads; device auto resolved, and a GPU picked by
 * cli_env_local_rank — MPI jobs pick theirs again from MPI). */
r50_config cli_model_config(const cli_model_opts *mo);

/* --model naming a folder: a fine-tuning run's (RUN_DIR) or one of its checkpoints'
 * (RUN_DIR/checkpoints/iter-N) means the model.npz in it, which mo->model then names.
 * 0, or CLI_EXIT_USAGE with the cause said (`cmd` names the command) for a folder
 * without one: a run not finished is pointed to its newest checkpoint. */
int cli_model_resolve(cli_model_opts *mo, const char *cmd);

/* Builds the model; on failure logs the error and returns NULL. */
r50_model *cli_model_new(const cli_model_opts *mo);

/* "ResNet-50 (MSRA)" etc. and a description of where the weights came from. */
void cli_model_describe(const cli_model_opts *mo, char *buf, size_t cap);

#endif

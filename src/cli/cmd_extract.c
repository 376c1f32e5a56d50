/*
 * cli_extract.c — `r50worker extract` and `r50worker predict`: options, then the MPI
 * job (src/mpi/extract_job.c). Run alone or under mpirun/srun alike.
 *
 * Rule: every usage error is found before MPI starts, so `--help` and bad options
 * answer at once, with exit code 2, on every rank.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "model_options.h"

#ifdef R50_HAVE_MPI
#include "extract_job.h"
#include "predict_print.h"
#include "run_input.h"
#endif

typedef struct job_opts {
  cli_model_opts mo;
  const char *layers, *size, *root, *output, *labels, *dtype;
  cli_list reuse; /* --reuse OLD.h5, as often as given */
  int batch, chunk, resume, overwrite, exif_rotate, fast_decode, oversample, top;
  double max_pixels;
} job_opts;

static int usage(const char *cmd, const char *msg, const char *arg) {
  cli_usage_print("r50worker %s: %s%s (see r50worker %s --help)", cmd, msg, arg, cmd);
  return CLI_EXIT_USAGE;
}

/* A usage error about a file: said by every rank, as the file may be on one node's
 * disk alone. */
static int file_usage(const char *cmd, const char *msg, const char *arg) {
  fprintf(stderr, "r50worker %s: %s%s (see r50worker %s --help)\n", cmd, msg, arg, cmd);
  return CLI_EXIT_USAGE;
}

/* "224", "WxH" or "none" */
static int parse_size(const char *s, int *w, int *h) {
  if (!strcmp(s, "none")) {
    *w = *h = 0;
    return 1;
  }
  char *end;
  long a = strtol(s, &end, 10), b = a;
  if (*end == 'x')
    b = strtol(end + 1, &end, 10);
  if (*end || a < 32 || b < 32 || a > 16384 || b > 16384)
    return 0;
  *w = (int)a;
  *h = (int)b;
  return 1;
}

#ifdef R50_HAVE_MPI
/* Whether a file can be made in folder dir (tried: access() says yes to root on a
 * read-only mount such as /sys). */
static int can_write_in(const char *dir, int pid) {
  char probe[PATH_MAX];
  snprintf(probe, sizeof probe, "%s/.r50-predict-%d.probe", dir, pid);
  int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return 0;
  close(fd);
  unlink(probe);
  return 1;
}

/* predict without -o: its rows go to a scratch file, printed at the end. It lies in the
 * current folder, which the ranks of several nodes share; where that folder is not
 * writable and every rank is on this node, in $TMPDIR (else /tmp). Rank 0 decides. */
static int scratch_path(const r50_dist *d, char *path, size_t cap) {
  int pid = (int)getpid();
  MPI_Bcast(&pid, 1, MPI_INT, 0, d->comm);
  char dir[PATH_MAX] = ".";
  if (d->rank == 0 && !can_write_in(".", pid)) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s", t && *t ? t : "/tmp");
    if (d->local_size != d->size || !can_write_in(dir, pid)) {
      r50_log(R50_LOG_ERROR,
              "predict without -o keeps its rows in a scratch file in the current "
              "folder, which is not writable%s: run it from a writable folder, or "
              "give -o OUT.h5",
              d->local_size != d->size ? " (and the ranks are on several nodes)" : "");
      *dir = 0;
    }
  }
  MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, d->comm);
  if (!*dir)
    return 0;
  snprintf(path, cap, "%s/.r50-predict-%d.h5", dir, pid);
  return 1;
}

/* dir/name into buf, when it is a file this process can read. */
static int file_in(const char *dir, const char *name, char *buf, size_t cap) {
  struct stat st;
  const int n = snprintf(buf, cap, "%s/%s", dir, name);
  return n > 0 && (size_t)n < cap && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
         access(buf, R_OK) == 0;
}

/* A run's file `name` for a model in the absolute folder DIR (cut in place): in it, or
 * above it where it is RUN_DIR/checkpoints/iter-N. */
static int file_of_run(char *dir, const char *name, char *buf, size_t cap) {
  if (file_in(dir, name, buf, cap))
    return 1;
  char *cut = strrchr(dir, '/');
  if (!cut || cut == dir || strncmp(cut + 1, "iter-", 5))
    return 0;
  *cut = 0;
  cut = strrchr(dir, '/');
  if (!cut || cut == dir || strcmp(cut + 1, "checkpoints"))
    return 0;
  *cut = 0;
  return file_in(dir, name, buf, cap);
}

/* A file that finetune writes in RUN_DIR (labels.txt, input.txt), beside
 * RUN_DIR/model.npz or above a checkpoint's RUN_DIR/checkpoints/iter-N/model.npz, when
 * there is one; for a link to a model, beside the link first, then beside the file it
 * leads to. */
static const char *run_file_of_model(const char *model, const char *name, char *buf,
                                     size_t cap) {
  char given[PATH_MAX], dir[PATH_MAX];
  struct stat st;
  if (!strcmp(model, "auto") || !strcmp(model, "none") || stat(model, &st) != 0 ||
      snprintf(given, sizeof given, "%s", model) >= (int)sizeof given)
    return NULL;
  char *slash = strrchr(given, '/');
  const char *folder = !slash ? "." : slash == given ? "/" : (*slash = 0, given);
  if (realpath(folder, dir) && file_of_run(dir, name, buf, cap))
    return buf;
  if (!realpath(model, dir))
    return NULL;
  slash = strrchr(dir, '/'); /* (realpath's are absolute) */
  slash[slash == dir] = 0;
  return file_of_run(dir, name, buf, cap) ? buf : NULL;
}

/* predict of a fine-tuned run's model: a warning where the run prepared its images
 * otherwise than predict does (Chainer's predict: the center 224x224 of 256x256, which
 * finetune's --size and --crop default to), so that its scores need not be the run's
 * validation's. */
static void warn_run_input(const char *model) {
  char path[PATH_MAX + 16];
  if (!run_file_of_model(model, "input.txt", path, sizeof path))
    return;
  int size, crop;
  if (r50_run_input_read(path, &size, &crop) && (size != 256 || crop != 224))
    r50_log(R50_LOG_WARN,
            "the run of %s was trained on %dx%d crops of images resized to %dx%d (%s); "
            "predict prepares them as Chainer's predict does, the center 224x224 of "
            "256x256, so its scores may be far from the run's validation (`r50worker "
            "extract --model %s --layers prob --size %d DATASET -o OUT.h5` gives the "
            "model's probabilities at about the run's scale)",
            model, crop, crop, size, size, path, model, crop);
}

static int run_job(r50_job *job, const job_opts *o, int argc, char **argv) {
  r50_dist d;
  r50_error err = {0};
  if (r50_dist_init(&argc, &argv, &d, &err) != R50_OK) {
    r50_log(R50_LOG_ERROR, "%s", err.msg);
    return 1;
  }
  cli_share_threads(&o->mo, &job->model, d.cpu_sharers, d.local_size, d.rank == 0);
  char tmp[PATH_MAX + 32];
  if (job->predict && !job->output) {
    if (!scratch_path(&d, tmp, sizeof tmp)) {
      r50_dist_finalize(&d);
      return 1;
    }
    job->output = tmp;
    job->output_scratch = 1;
  }
  if (job->labels && job->labels != o->labels)
    r50_log(R50_LOG_INFO, "class names from %s (--labels FILE for others)", job->labels);
  if (job->predict && d.rank == 0)
    warn_run_input(o->mo.model);
  int code = r50_job_run(&d, job);
  if (job->predict && d.rank == 0 && (code == 0 || code == R50_EXIT_NO_IMAGE))
    code = r50_predict_print(job->output, o->top, job->labels, !job->output_scratch)
               ? 1
               : code;
  if (job->output == tmp && d.rank == 0)
    unlink(tmp);
  MPI_Bcast(&code, 1, MPI_INT, 0, d.comm);
  r50_dist_finalize(&d);
  return code;
}
#endif

static int run_command(const job_opts *opts, int predict, const char *cmd,
                       const char **pos, int npos, int argc, char **argv);

static int job_command(int argc, char **argv, int predict) {
  const char *cmd = predict ? "predict" : "extract";
  job_opts o = {.mo = cli_model_defaults(),
                .layers = "pool5",
                .size = "224",
                .batch = 16,
                .max_pixels = 178956970,
                .top = 5,
                .dtype = "float32"};
  const cli_opt opts[] = {
      CLI_MODEL_OPTS(o.mo),
      {"o", CLI_STRING, &o.output, "OUT.h5", "output HDF5 file (same as --output)", 0, 0,
       NULL},
      {"output", CLI_STRING, &o.output, "OUT.h5", "output HDF5 file", 0, 0, NULL},
      {"layers", CLI_STRING, &o.layers, "L1,L2", "layers to store (extract)", 0, 0, NULL},
      {"size", CLI_STRING, &o.size, "224|WxH|none", "resize to (extract)", 0, 0, NULL},
      {"dtype", CLI_STRING, &o.dtype, "float32|float16",
       "stored features: float32, or IEEE half rounded as numpy's astype(float16)", 0, 0,
       "float32|float16"},
      {"oversample", CLI_FLAG, &o.oversample, NULL,
       "average 10 crops instead of the center crop (predict)", 0, 0, NULL},
      {"top", CLI_INT, &o.top, "K", "classes printed per image (predict)", 1, 1 << 20,
       NULL},
      {"labels", CLI_STRING, &o.labels, "FILE", "class names, one a line (predict)", 0, 0,
       NULL},
      {"root", CLI_STRING, &o.root, "DIR",
       "folder the paths of a list file are relative to", 0, 0, NULL},
      {"batch", CLI_INT, &o.batch, "B", "images per forward", 1, 4096, NULL},
      {"chunk", CLI_INT, &o.chunk, "C",
       "images per work chunk taken by a rank (0: N / (4 x ranks), at most 64)", 0,
       1 << 20, NULL},
      {"resume", CLI_FLAG, &o.resume, NULL, "continue an interrupted job's output", 0, 0,
       NULL},
      {"overwrite", CLI_FLAG, &o.overwrite, NULL, "replace an existing output", 0, 0,
       NULL},
      {"reuse", CLI_LIST, &o.reuse, "OLD.h5",
       "copy the rows an earlier output (same model and options) holds done, by path, "
       "instead of computing them; given again, the next file copies the rows still "
       "to do",
       0, 0, NULL},
      {"max-pixels", CLI_DOUBLE, &o.max_pixels, "P", "refuse larger images (0: no limit)",
       0, 9e18, NULL},
      {"exif-rotate", CLI_FLAG, &o.exif_rotate, NULL, "apply the EXIF orientation", 0, 0,
       NULL},
      {"fast-decode", CLI_FLAG, &o.fast_decode, NULL,
       "decode large JPEGs at a reduced scale (changes pixels)", 0, 0, NULL},
      {0}};
  const cli_command c = {
      cmd,
      predict
          ? "Classify every image of DATASET (a folder, a list file or - for a list on "
            "standard input, tar shards, or one "
            "or more image files): top classes per "
            "image, as Chainer's ResNetLayers.predict; where the images carry classes "
            "(class folders matched to --labels names, or a list file's labels), the "
            "top-1 and top-5 accuracy."
          : "Compute the features of every image of DATASET (a folder, a list file or - "
            "for a list on standard input, tar shards, or one or more image files) "
            "into one HDF5 file, as Chainer's ResNetLayers.extract. Runs alone or "
            "under mpirun.",
      predict ? "DATASET [-o OUT.h5] [options]" : "DATASET -o OUT.h5 [options]",
      opts,
      1,
      argc > 1 ? argc - 1 : 1, /* several DATASET arguments: one image each */
      "dataset"};
  const char **pos = malloc((size_t)(argc > 1 ? argc : 2) * sizeof *pos);
  if (!pos)
    return 1;
  int npos, rc = cli_parse(&c, argc, argv, pos, &npos);
  if (rc == 0)
    rc = cli_model_resolve(&o.mo, cmd);
  if (rc == 0)
    rc = run_command(&o, predict, cmd, pos, npos, argc, argv);
  else if (rc < 0)
    rc = 0;
  free(pos);
  return rc;
}

/* The parsed command: checks, then the job. */
static int run_command(const job_opts *opts, int predict, const char *cmd,
                       const char **pos, int npos, int argc, char **argv) {
  if (!predict && !opts->output)
    return usage(cmd, "missing -o OUT.h5", "");
  if (opts->labels && access(opts->labels, R_OK) != 0)
    return file_usage(cmd, "--labels: cannot read ", opts->labels);
  if (opts->resume && opts->overwrite)
    return usage(cmd, "--resume and --overwrite exclude each other", "");
  for (int i = 0; i < opts->reuse.n; i++)
    if (opts->output && !strcmp(opts->reuse.v[i], opts->output))
      return usage(cmd,
                   "--reuse names the output: --resume continues it, --reuse copies "
                   "from another file",
                   "");
  r50_error err = {0};
  if (npos > 1 && r50_dataset_check_images(pos, npos, &err) != R50_OK)
    return file_usage(cmd, err.msg, "");
  int size_w, size_h;
  if (!parse_size(opts->size, &size_w, &size_h))
    return usage(cmd, "--size: want 224, WxH (32..16384) or none, not ", opts->size);
#ifndef R50_HAVE_MPI
  (void)pos, (void)npos, (void)argc, (void)argv;
  fprintf(stderr, "r50worker %s: this build has no MPI and parallel HDF5 (R50_MPI=OFF)\n",
          cmd);
  return 1;
#else
  char several[64], beside[PATH_MAX];
  snprintf(several, sizeof several, "the %d images given", npos);
  const char *labels =
      opts->labels || !predict
          ? opts->labels
          : run_file_of_model(opts->mo.model, "labels.txt", beside, sizeof beside);
  r50_job job = {.dataset = npos > 1 ? several : pos[0],
                 .images = pos,
                 .n_images = npos,
                 .root = opts->root,
                 .output = opts->output,
                 .batch = opts->batch,
                 .chunk = opts->chunk,
                 .resume = opts->resume,
                 .overwrite = opts->overwrite,
                 .reuse = opts->reuse.v,
                 .n_reuse = opts->reuse.n,
                 .predict = predict,
                 .oversample = opts->oversample,
                 .top = opts->top,
                 .labels = labels,
                 .model_name = opts->mo.model,
                 .float16 = !strcmp(opts->dtype, "float16"),
                 .size_w = size_w,
                 .size_h = size_h};
  char layer_buf[256];
  snprintf(layer_buf, sizeof layer_buf, "%s", predict ? "prob" : opts->layers);
  if (cli_parse_layers(cmd, layer_buf, job.layers, &job.n_layers))
    return CLI_EXIT_USAGE;
  job.decode = r50_decode_opts_default();
  job.decode.max_pixels = (int64_t)opts->max_pixels;
  job.decode.exif_rotate = opts->exif_rotate;
  job.decode.fast_decode = opts->fast_decode;
  job.decode.target_w = predict ? 256 : job.size_w;
  job.decode.target_h = predict ? 256 : job.size_h;
  job.model = cli_model_config(&opts->mo);
  return run_job(&job, opts, argc, argv);
#endif
}

int cli_extract(int argc, char **argv) {
  return job_command(argc, argv, 0);
}

int cli_predict(int argc, char **argv) {
  return job_command(argc, argv, 1);
}

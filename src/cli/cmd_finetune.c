/*
 * cmd_finetune.c — `r50worker finetune TRAIN [options]`: options, then the MPI job
 * (src/mpi/train_job.c). Run alone or under mpirun/srun alike.
 *
 * Rule: every usage error is found before MPI starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_options.h"

#ifdef R50_HAVE_MPI
#include "train_job.h"
#endif

static int usage(const char *msg, const char *arg) {
  cli_usage_print("r50worker finetune: %s%s (see r50worker finetune --help)", msg, arg);
  return CLI_EXIT_USAGE;
}

int cli_finetune(int argc, char **argv) {
  cli_model_opts mo = cli_model_defaults();
  const char *val = NULL, *root = NULL, *out = "run", *schedule = "step",
             *augment = "flip-crop", *shuffle = "on", *freeze = NULL, *bn = "train";
  int classes = 0, epochs = 10, steps = 0, batch = 32, size = 256, crop = 224, resume = 0;
  int log_every = 20, checkpoint_every = 0, val_every = 0, patience = 0, keep = 2,
      seed = 0;
  double lr = 0.01, momentum = 0.9, weight_decay = 1e-4, warmup = 0,
         max_pixels = 178956970;
  int exif_rotate = 0, fast_decode = 0;
  const cli_opt opts[] = {
      CLI_MODEL_OPTS(mo),
      {"val", CLI_STRING, &val, "VAL", "validation set: a folder or a list file", 0, 0,
       NULL},
      {"root", CLI_STRING, &root, "DIR", "folder the paths of list files are relative to",
       0, 0, NULL},
      {"classes", CLI_INT, &classes, "K",
       "classes (0: the dataset's); fc6 gets K outputs", 0, 1 << 20, NULL},
      {"epochs", CLI_INT, &epochs, "E", "epochs to train", 1, 1 << 20, NULL},
      {"steps", CLI_INT, &steps, "S", "train S steps instead of --epochs (0: off)", 0,
       2147483647, NULL},
      {"batch", CLI_INT, &batch, "B", "images per step on each rank", 1, 4096, NULL},
      {"lr", CLI_DOUBLE, &lr, "LR", "learning rate", 0, 1e3, NULL},
      {"momentum", CLI_DOUBLE, &momentum, "M", "MomentumSGD momentum", 0, 1, NULL},
      {"weight-decay", CLI_DOUBLE, &weight_decay, "W", "WeightDecay rate", 0, 1, NULL},
      {"lr-schedule", CLI_STRING, &schedule, "step|cosine|const",
       "step: x0.1 at 1/2 and 3/4 of training", 0, 0, "step|cosine|const"},
      {"warmup-epochs", CLI_DOUBLE, &warmup, "W", "linear learning-rate warm-up", 0, 1e6,
       NULL},
      {"size", CLI_INT, &size, "S", "images are resized to S x S", 32, 16384, NULL},
      {"crop", CLI_INT, &crop, "C", "then cropped to C x C", 32, 16384, NULL},
      {"augment", CLI_STRING, &augment, "flip-crop|none",
       "training crops: random window and mirror, or the center", 0, 0, "flip-crop|none"},
      {"shuffle", CLI_STRING, &shuffle, "on|off", "a new order each epoch, or the list's",
       0, 0, "on|off"},
      {"freeze", CLI_STRING, &freeze, "LAYER",
       "do not update conv1 .. LAYER (conv1, res2, res3, res4, res5)", 0, 0,
       "conv1|res2|res3|res4|res5"},
      {"bn", CLI_STRING, &bn, "train|frozen",
       "BatchNorm: batch statistics, or the running ones (an affine layer)", 0, 0,
       "train|frozen"},
      {"out", CLI_STRING, &out, "RUN_DIR",
       "checkpoints, log.jsonl, curves.svg, model.npz", 0, 0, NULL},
      {"resume", CLI_FLAG, &resume, NULL, "continue from RUN_DIR's newest checkpoint", 0,
       0, NULL},
      {"log-every", CLI_INT, &log_every, "N", "iterations between log records", 1,
       1 << 30, NULL},
      {"checkpoint-every", CLI_INT, &checkpoint_every, "N",
       "iterations between checkpoints (0: at each epoch's end)", 0, 1 << 30, NULL},
      {"val-every", CLI_INT, &val_every, "N",
       "iterations between validations (0: at each epoch's end)", 0, 1 << 30, NULL},
      {"patience", CLI_INT, &patience, "N",
       "stop once N validations in a row do not beat the best top-1 (0: never)", 0,
       1 << 30, NULL},
      {"keep", CLI_INT, &keep, "N", "checkpoints kept", 1, 1000, NULL},
      {"data-seed", CLI_INT, &seed, "S", "seed of the data order, crops and flips", 0,
       2147483647, NULL},
      {"max-pixels", CLI_DOUBLE, &max_pixels, "P", "refuse larger images (0: no limit)",
       0, 9e18, NULL},
      {"exif-rotate", CLI_FLAG, &exif_rotate, NULL, "apply the EXIF orientation", 0, 0,
       NULL},
      {"fast-decode", CLI_FLAG, &fast_decode, NULL,
       "decode large JPEGs at a reduced scale (changes pixels)", 0, 0, NULL},
      {0}};
  const cli_command c = {
      "finetune",
      "Fine-tune the network on TRAIN (a folder with class subfolders, a 'path label' "
      "list file or - for one on standard input, or WebDataset tar shards with .cls "
      "labels) with Chainer's MomentumSGD and "
      "WeightDecay, data-parallel under "
      "mpirun.",
      "TRAIN [options]",
      opts,
      1,
      1,
      "train"};
  const char *pos[1];
  int npos, rc = cli_parse(&c, argc, argv, pos, &npos);
  if (rc)
    return rc < 0 ? 0 : rc;
  if ((rc = cli_model_resolve(&mo, "finetune")))
    return rc;
  if (crop > size) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "--crop %d must not exceed --size %d (--crop is 224 unless given)", crop,
             size);
    return usage(msg, "");
  }
  if (val_every > 0 && !val)
    return usage("--val-every needs a validation set (--val VAL)", "");
  if (patience > 0 && !val)
    return usage("--patience needs a validation set (--val VAL)", "");
  if (val && !strcmp(val, "-") && !strcmp(pos[0], "-"))
    return usage("standard input (-) can hold one list: give TRAIN or --val as a file",
                 "");
#ifdef R50_HAVE_MPI
  r50_train_job job = {.train = pos[0],
                       .val = val,
                       .root = root,
                       .out = out,
                       .classes = classes,
                       .epochs = epochs,
                       .steps = steps,
                       .batch = batch,
                       .lr = lr,
                       .momentum = momentum,
                       .weight_decay = weight_decay,
                       .warmup_epochs = warmup,
                       .schedule = schedule,
                       .size = size,
                       .crop = crop,
                       .augment = !strcmp(augment, "flip-crop"),
                       .shuffle = !strcmp(shuffle, "on"),
                       .seed = (uint64_t)seed,
                       .freeze = freeze,
                       .bn_frozen = !strcmp(bn, "frozen"),
                       .model = cli_model_config(&mo),
                       .resume = resume,
                       .log_every = log_every,
                       .checkpoint_every = checkpoint_every,
                       .val_every = val_every,
                       .patience = patience,
                       .keep = keep};
  job.decode = r50_decode_opts_default();
  job.decode.max_pixels = (int64_t)max_pixels;
  job.decode.exif_rotate = exif_rotate;
  job.decode.fast_decode = fast_decode;
  job.decode.target_w = job.decode.target_h = size;
  r50_dist d;
  r50_error err = {0};
  if (r50_dist_init(&argc, &argv, &d, &err) != R50_OK) {
    r50_log(R50_LOG_ERROR, "%s", err.msg);
    return 1;
  }
  cli_share_threads(&mo, &job.model, d.cpu_sharers, d.local_size, d.rank == 0);
  int code = r50_train_job_run(&d, &job);
  r50_dist_finalize(&d);
  return code;
#else
  (void)pos;
  fprintf(stderr, "r50worker finetune: this build has no MPI (R50_MPI=OFF)\n");
  return 1;
#endif
}

/* Training and evaluation runs: data, model, loss, Adam with clipping,
 * ReduceLROnPlateau and early stopping on the dev loss, metrics per epoch,
 * checkpoints (best and last, safetensors) and every output of a run
 * directory, each written atomically:
 *   config.yaml        the resolved configuration
 *   epochs.csv         per epoch: losses, lr, per-class F1, CinC F1 (rewritten each epoch)
 *   last.safetensors   weights, BN statistics, Adam moments and loop state (for --resume)
 *   best.safetensors   weights and BN statistics of the epoch with the lowest dev loss
 *   predictions.csv    per dev record: label, prediction, mean frame probabilities (best)
 *   confusion.csv      dev confusion matrix (best)
 *   f1.csv             per-class F1 of the best checkpoint on dev: written LAST, so its
 *                      presence means the run finished
 *   train.log          the progress lines */
#ifndef RESECG_TRAIN_H
#define RESECG_TRAIN_H

#include <stdio.h>

#include "config.h"
#include "data.h"
#include "metrics.h"
#include "model.h"
#include "util.h"

typedef struct train_opts {
    const char *out_dir; /* run directory (created) */
    const char *device;  /* backend name: cpu, cpu-ref, cuda */
    int resume;          /* continue from out_dir/last.safetensors */
    int progress;        /* draw a progress bar on stderr within epochs */
    int quiet;           /* no progress lines on stderr (tests) */
} train_opts;

/* Summary of a finished run, for callers and tests. */
typedef struct train_result {
    int epochs_run;
    int best_epoch;   /* 1-based */
    double best_dev_loss;
    double first_train_loss, last_train_loss;
    metrics dev;      /* of the best checkpoint */
    double seconds;
} train_result;

int train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e);

/* Loads the data a config names (built-in synthetic ECG for data.source
 * synthetic) and splits it with data.seed. */
int data_load_split(const resecg_config *cfg, dataset *ds, int **train, int *ntrain, int **dev,
                    int *ndev, rerr *e);

/* Scores a checkpoint on the dev split of the config's data (or all records
 * when all_records): prints nothing, fills m. When out_dir is not NULL,
 * writes f1.csv, confusion.csv and predictions.csv there. */
int evaluate_checkpoint(const resecg_config *cfg, const char *ckpt, const char *device,
                        const char *out_dir, metrics *mt, rerr *e);

/* Saves a model (and optimiser state when a is not NULL) as safetensors with
 * the given metadata pairs. Host copies are made for device backends. */
struct adam;
int checkpoint_save(model *m, const struct adam *a, const char *path, const char *const *meta_kv,
                    int nmeta, rerr *e);
/* Loads weights and BN statistics (and Adam moments into a when not NULL)
 * from a checkpoint; every model tensor must be present with its shape. */
int checkpoint_load(model *m, struct adam *a, const char *path, rerr *e);

#endif

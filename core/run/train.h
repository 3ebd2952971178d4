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
 *   normalization.csv  mean,std of the training split's samples (also in the checkpoints)
 *   f1.csv             per-class F1 of the best checkpoint on dev
 *   complete.txt       written last: the data fingerprint and every result file's size
 *                      and hash; the run is finished when it is there and they match
 *                      (rundir.h)
 *   train.log          the progress lines
 * The data pipeline (data_load, data_split) is data/load.h.
 * model.type features trains and evaluates gradient-boosted trees instead
 * (core/baseline/trees.h), into the same run directory files where they apply. */
#ifndef RESECG_TRAIN_H
#define RESECG_TRAIN_H

#include <stdio.h>

#include "base/config.h"
#include "data/data.h"
#include "data/load.h"
#include "run/checkpoint.h"
#include "run/metrics.h"
#include "nn/model.h"
#include "base/util.h"

typedef struct train_opts {
    const char *out_dir; /* run directory (created) */
    const char *device;  /* backend name: cpu, cpu-ref, cuda */
    int resume;          /* continue from out_dir/last.safetensors */
    int fresh;           /* remove an earlier run's files from out_dir first (rundir.h) */
    int progress;        /* draw a progress bar on stderr within epochs */
    int quiet;           /* no progress lines on stderr (tests) */
} train_opts;

/* The training loop's state between epochs (saved in last.safetensors). */
typedef struct run_state {
    int epoch;         /* epochs completed */
    float lr;
    double best_loss;  /* lowest dev loss so far */
    int best_epoch;
    double plateau_best;
    int plateau_wait, es_wait;
} run_state;

/* One epoch's end under the published schedule, on its dev loss: the best
 * so far (strictly lower: returns 1, best_epoch = epoch) or one more epoch
 * of early-stopping patience (*stop = 1 once train.early_stop_patience
 * epochs passed without a new best); and Keras' ReduceLROnPlateau (a new
 * plateau best needs a drop of more than 1e-4; after optim.plateau_patience
 * epochs without one, lr *= optim.plateau_factor, never below
 * optim.min_lr, and the wait starts again). */
int train_schedule_step(run_state *st, double dev_loss, int epoch, const train_config *tc,
                        const optim_config *oc, int *stop);

/* Summary of a finished run, for callers and tests. */
typedef struct train_result {
    int epochs_run;
    int best_epoch;   /* 1-based */
    double best_dev_loss;
    double first_train_loss, last_train_loss;
    metrics dev;      /* of the best checkpoint */
    double seconds;
    int train_shapes, dev_shapes; /* distinct batch shapes (B x L) fed in training, evaluation */
} train_result;

int train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e);


/* How every training run starts, whatever the model: data_load_split (both
 * parts must be non-empty), the run directory out_dir with config.yaml
 * (ending with the comment note when it is not NULL: config_write_note),
 * and *log = its train.log opened for appending. On failure the caller
 * frees what it owns as usual (ds, the splits, *log when not NULL). */
int train_run_open(const resecg_config *cfg, const char *out_dir, const char *note, dataset *ds,
                   int **tr, int *ntr, int **dv, int *ndv, data_info *info, FILE **log, rerr *e);

/* How every evaluation starts, whatever the model: data_load, then the dev
 * split (or, with all_records, every record), which must not be empty. The
 * caller frees ds and the index lists as usual. */
int evaluate_records_open(const resecg_config *cfg, int all_records, dataset *ds, int **tr,
                          int *ntr, int **dv, int *ndv, data_info *info, rerr *e);

typedef struct eval_opts {
    const char *ckpt;    /* checkpoint: weights, BN statistics, normalisation in its metadata */
    const char *device;  /* backend name */
    const char *out_dir; /* when not NULL: f1.csv, confusion.csv, predictions.csv,
                            normalization.csv written there */
    int all_records;     /* score every record of the data (e.g. another labelled
                            directory) instead of the config's dev split */
} eval_opts;

typedef struct eval_result {
    metrics mt;
    double loss;         /* mean over valid frames */
    double mean, std;    /* the normalisation applied: the checkpoint's */
    int records;         /* records scored */
    data_info info;
} eval_result;

/* Scores a checkpoint on the config's dev split (the split training used,
 * recomputed from config and data, or read from data.manifest) or on all
 * records, normalised with the checkpoint's training statistics. Records are
 * batched by length (as in training's dev evaluation, so the numbers agree):
 * zero padding past a record's end reaches its last frames through the
 * convolutions' receptive field, so batch composition matters a little, and
 * by-length batches keep the padding small. Prints nothing. */
int evaluate_run(const resecg_config *cfg, const eval_opts *o, eval_result *r, rerr *e);

/* evaluate_run on the dev split, metrics only. */
int evaluate_checkpoint(const resecg_config *cfg, const char *ckpt, const char *device,
                        const char *out_dir, metrics *mt, rerr *e);

/* Writes predictions.csv (record,label,pred,p_N,...: one row per record
 * idx[0..n), pred (n) and probs (n, K) in idx's order), atomically. */
int predictions_write(const char *path, const dataset *ds, const int *idx, int n, const int *pred,
                      const float *probs, int K, rerr *e);

/* Writes "mean,std" and the values (%.17g) to path, atomically. */
int normalization_write(const char *path, double mean, double std, rerr *e);

#endif

/* What a run is asked for and what it gives back, whatever the model: the
 * network trains in train.c, the feature-based trees in baseline/trees.c;
 * both write the run directory of rundir.h. */
#ifndef RESECG_RUN_H
#define RESECG_RUN_H

#include "data/load.h"
#include "run/metrics.h"

typedef struct train_opts {
    const char *out_dir; /* run directory (created) */
    const char *device;  /* backend name: cpu, cpu-ref, cuda */
    int resume;          /* continue from out_dir/last.safetensors */
    int fresh;           /* remove an earlier run's files from out_dir first (rundir.h) */
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
    int train_shapes, dev_shapes; /* distinct batch shapes (B x L) fed in training, evaluation */
} train_result;

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

#endif

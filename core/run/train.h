/* Training and evaluation of the network: data, model, loss, Adam with
 * clipping, ReduceLROnPlateau and early stopping on the dev loss, metrics
 * per epoch, checkpoints (best and last: checkpoint.h) and the run
 * directory's files (rundir.h lists them). The data pipeline is
 * data/load.h. model.type features trains and evaluates gradient-boosted
 * trees instead (baseline/trees.h), into the same run directory files where
 * they apply. */
#ifndef RESECG_TRAIN_H
#define RESECG_TRAIN_H

#include "base/config.h"
#include "base/util.h"
#include "run/run.h"

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

/* Trains the model cfg names into the run directory o->out_dir (rundir.h:
 * rundir_prepare decides what an earlier run's files there mean). */
int train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e);

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

#endif

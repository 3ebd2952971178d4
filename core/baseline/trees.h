/* The feature-based model (model.type features): classical ECG features per
 * record (feat.h) and gradient-boosted trees through XGBoost's C API
 * (multi:softprob, tree_method hist), trained and scored on the same
 * records and split as the network, into the same run directory files where
 * they apply:
 *   config.yaml      the resolved configuration
 *   features.csv     record, label, split (train/dev) and every feature (empty = missing)
 *   model.json       the booster in XGBoost's JSON model format; `resecg evaluate --ckpt` loads it
 *   predictions.csv  per dev record: label, prediction, class probabilities
 *   confusion.csv    dev confusion matrix
 *   epochs.csv       one row (the boosting run as one "epoch"): losses, eta, F1s, wall time
 *   f1.csv           per-class F1 on dev
 *   complete.txt     written last: the run finished (run/rundir.h)
 *   train.log        the progress lines, the feature time and the most useful features
 * The reported numbers are computed with the model read back from model.json's
 * bytes, so `resecg evaluate` on that file reproduces them exactly. */
#ifndef RESECG_TREES_H
#define RESECG_TREES_H

#include "base/config.h"
#include "base/util.h"
#include "run/run.h"

/* train_run for model.type features (train_run calls it, after
 * rundir_prepare). */
int trees_train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e);

/* evaluate_run for model.type features: o->ckpt names a model.json. r->mean
 * and r->std are 0 and 1 (the trees need no normalisation). */
int trees_evaluate_run(const resecg_config *cfg, const eval_opts *o, eval_result *r, rerr *e);

#endif

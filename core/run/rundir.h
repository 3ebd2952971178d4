/* The run directory: the names of its files, their writers, and trusting
 * it only as a whole (issue 18). A run of the network (run/train.h) writes,
 * each file atomically:
 *   config.yaml        the resolved configuration
 *   train.log          the progress lines (appended)
 *   epochs.csv         per epoch: losses, lr, per-class F1, CinC F1 (rewritten each epoch)
 *   last.safetensors   weights, BN statistics, Adam moments and loop state (for --resume)
 *   best.safetensors   weights and BN statistics of the epoch with the lowest dev loss
 *   normalization.csv  mean,std of the training split's samples (also in the checkpoints)
 *   predictions.csv    per dev record: label, prediction, mean frame probabilities (best)
 *   confusion.csv      dev confusion matrix (best)
 *   f1.csv             per-class F1 of the best checkpoint on dev
 *   complete.txt       written last (below)
 * The trees (baseline/trees.h) write features.csv and model.json instead of
 * the checkpoints and normalization.csv, and one epochs.csv row. The sweep
 * adds job.yaml and job.log (runner/).
 *
 * A finished run ends by writing complete.txt, after every other file: the
 * hash of its config.yaml, a fingerprint of the data it was trained on, and
 * each result file with its size and hash. A directory is finished only when
 * that record is there and every file still matches it; the sweep also asks
 * for the fingerprint of the data it would train on now, so results of other
 * data (another data: in the sweep file, a changed label file) never count
 * as done, wherever the data lives. */
#ifndef RESECG_RUNDIR_H
#define RESECG_RUNDIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/util.h"
#include "data/data.h"
#include "run/metrics.h"

#define RUNDIR_CONFIG "config.yaml"
#define RUNDIR_LOG "train.log"
#define RUNDIR_EPOCHS "epochs.csv"
#define RUNDIR_LAST "last.safetensors"
#define RUNDIR_BEST "best.safetensors"
#define RUNDIR_NORMALIZATION "normalization.csv"
#define RUNDIR_PREDICTIONS "predictions.csv"
#define RUNDIR_CONFUSION "confusion.csv"
#define RUNDIR_F1 "f1.csv"
#define RUNDIR_FEATURES "features.csv"
#define RUNDIR_MODEL_JSON "model.json"
#define RUNDIR_COMPLETE "complete.txt"
#define RUNDIR_JOB_YAML "job.yaml"
#define RUNDIR_JOB_LOG "job.log"

/* epochs.csv's header line; rundir_epoch_row writes its rows. */
#define RUNDIR_EPOCHS_HEADER                                                                 \
    "epoch,train_loss,dev_loss,lr,f1_N,f1_A,f1_O,f1_~,cinc_f1,macro_f1,weighted_f1,seconds\n"

/* How every training run opens its directory, whatever the model: dir
 * (created), dir/config.yaml (cfg, ending with the comment note when it is
 * not NULL: config_write_note) and *log = dir/train.log opened for
 * appending (a FIFO or a link there is refused, as for every output). On
 * failure *log may be open: the caller closes it as usual. */
int rundir_open(const char *dir, const resecg_config *cfg, const char *note, FILE **log, rerr *e);

/* A progress line: to stderr unless quiet, and to log (flushed) when it is
 * not NULL. */
void rundir_log(FILE *log, int quiet, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends epochs.csv's row of one epoch to rows (F1 of classes past K are
 * 0). */
void rundir_epoch_row(sbuf *rows, int epoch, double train_loss, double dev_loss, double lr,
                      const metrics *mt, int K, double seconds);

/* Writes rows (the header and every row so far) as dir/epochs.csv; rows
 * that ran out of memory are an error. */
int rundir_epochs_write(const char *dir, const sbuf *rows, rerr *e);

/* Writes dir/normalization.csv: "mean,std" and the values (%.17g). */
int rundir_normalization_write(const char *dir, double mean, double std, rerr *e);

/* The end results of one evaluation of the dev records idx[0..n) into dir:
 * predictions.csv, confusion.csv, then f1.csv. */
int rundir_results_write(const char *dir, const dataset *ds, const int *idx, int n,
                         const int *pred, const float *probs, int K, const metrics *mt, rerr *e);
#define RUNDIR_FP_SIZE 40

/* The fingerprint of the data cfg trains on, into fp (RUNDIR_FP_SIZE):
 * "synthetic" for built-in data (its parameters are config keys); for
 * CinC 2017, "cinc17-" and the hash of the label file's name and content,
 * every listed record's name with the sizes of its .mat and .hea, and the
 * split manifest's content when data.manifest is set. Paths are not part
 * of it: the same records moved elsewhere keep their fingerprint. */
int rundir_data_fingerprint(const resecg_config *cfg, char *fp, rerr *e);

/* Writes dir/complete.txt (atomically), listing files[0..n) (names inside
 * dir, config.yaml first) with their sizes and hashes, and the data
 * fingerprint. Call after every listed file is final. The list is the
 * config and the results a report reads (epochs, predictions, confusion,
 * F1), not checkpoints or model.json: those are not kept in committed
 * reports. */
int rundir_complete_write(const char *dir, const char *data_fp, const char *const *files, int n,
                          rerr *e);

/* The files complete.txt lists for a run of model type t, n of them:
 * config.yaml, epochs.csv, normalization.csv (the network only),
 * predictions.csv, confusion.csv, f1.csv. */
const char *const *rundir_results(model_type t, int *n);

/* Whether dir holds a finished run: 1 when complete.txt is there and every
 * file it lists matches it (and, when want_fp is not NULL, its data
 * fingerprint is want_fp); 0 otherwise, with why (when not NULL) saying
 * what does not match: "no complete.txt", "f1.csv changed since the run
 * ended", "trained on other data (...)". */
int rundir_is_complete(const char *dir, const char *want_fp, rerr *why);

/* The data fingerprint recorded in dir/complete.txt, into fp; -1 if none. */
int rundir_recorded_fingerprint(const char *dir, char *fp, rerr *e);

/* A run directory is trusted only as a whole: a run never starts in a
 * directory that holds another run's files (a killed run would leave the
 * old f1.csv beside the new config.yaml). Without resume or fresh, such a
 * directory is an error naming the first file found; fresh removes the run
 * files (those names only); resume keeps them but removes complete.txt and
 * the old end results (f1.csv, confusion.csv, predictions.csv), which the
 * resumed run writes anew. The sweep's job.yaml and job.log are not run
 * files. */
int rundir_prepare(const char *dir, int resume, int fresh, rerr *e);

#endif

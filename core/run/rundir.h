/* Trusting a run directory only as a whole (issue 18).
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

#include "base/config.h"
#include "base/util.h"

#define RUNDIR_COMPLETE "complete.txt"
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

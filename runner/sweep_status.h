/* Reading a sweep and its output directory back without running anything:
 * `sweep plan`, `sweep status`, `sweep adopt`. */
#ifndef RESECG_SWEEP_STATUS_H
#define RESECG_SWEEP_STATUS_H

#include <stdio.h>

#include "base/util.h"
#include "sweep_opts.h"

/* Prints the jobs of a sweep file (id, variant, seed, overrides, and
 * whether its run directory under out_root is finished). */
int sweep_plan_print(const char *path, const char *out_root, FILE *out, rerr *e);

/* Prints the state of a sweep output directory (<out>/<sweep>): counts,
 * one line per job, and each failure's exit status and log tail. */
int sweep_status(const char *dir, FILE *out, rerr *e);

/* `sweep adopt`: every job of the sweep in path that an older resecg
 * finished (f1.csv without complete.txt, sweep_dir.h SWEEP_LEGACY) gets
 * its complete.txt, recording the data as it is now, after its config.yaml
 * is checked to be the job's. One line per job to msg. The outcome is
 * DONE, INCOMPLETE when a job could not be adopted, or BAD_INPUT / RESULTS
 * with e filled. */
sweep_outcome sweep_adopt(const char *path, const char *out_root, FILE *msg, rerr *e);

#endif

/* Running a sweep: the glue between an expanded sweep (sweep.h), GPU
 * discovery (gpu.h), the process pool (scheduler.h) and the journal
 * (journal.h). It lays out <out>/<sweep>/ (one run directory per job id,
 * journal.log, jobs.tsv, a lock), writes each job's resolved config as
 * job.yaml, launches `resecg train` per job, and shows progress;
 * sweep_status.h reads the same directory back. */
#ifndef RESECG_SWEEP_RUN_H
#define RESECG_SWEEP_RUN_H

#include <stdio.h>

#include "base/util.h"
#include "sweep_opts.h"

/* Runs (or resumes) the sweep in path on this machine (o->backend local;
 * slurm.h for Slurm). How it ended is the outcome; e is
 * filled when it could not start or go on. */
sweep_outcome sweep_run(const char *path, const sweep_run_opts *o, rerr *e);

#endif

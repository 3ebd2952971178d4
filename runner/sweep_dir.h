/* The output directory of a sweep, <out>/<name>/, as both backends (the
 * local process pool in sweep_run.c and Slurm in slurm.c) lay it out: a
 * lock held by the one process that drives the sweep, jobs.tsv (the
 * expanded jobs, for `sweep status`), and per job a run directory holding
 * the resolved config as job.yaml. */
#ifndef RESECG_SWEEP_DIR_H
#define RESECG_SWEEP_DIR_H

#include <stddef.h>

#include "sweep.h"
#include "util.h"

/* Takes <root>/.lock (flock, so the kernel drops it however we die) and
 * writes our pid into it; fails naming the holder's pid if another process
 * has it. *fd keeps the lock until closed. */
int sweep_dir_lock(const char *root, int *fd, rerr *e);

/* Writes <root>/jobs.tsv: id, variant, seed, overrides per job. */
int sweep_dir_manifest(const char *root, const sweep *sw, const sweep_plan *plan, rerr *e);

/* Creates the job's run directory dir and writes dir/job.yaml, the job's
 * resolved config rebuilt from scratch; fails if it does not hash to the
 * job's id (the directory would hold another job). */
int sweep_dir_job_config(const sweep_plan *plan, const sweep_job *sj, const char *dir, rerr *e);

/* Fails, naming the sweep file's line, when the sweep's data: is not a
 * directory (once here rather than once per job). */
int sweep_dir_check_data(const sweep *sw, rerr *e);

/* The path of the running program (/proc/self/exe). */
int sweep_dir_self_exe(char *out, size_t n, rerr *e);

#endif

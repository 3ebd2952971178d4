/* The output directory of a sweep, <out>/<name>/, as both backends (the
 * local process pool in sweep_run.c and Slurm in slurm.c) lay it out: a
 * lock held by the one process that drives the sweep, jobs.tsv (the
 * expanded jobs, for `sweep status`), and per job a run directory holding
 * the resolved config as job.yaml. */
#ifndef RESECG_SWEEP_DIR_H
#define RESECG_SWEEP_DIR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "run/rundir.h"
#include "sweep.h"
#include "base/util.h"

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

/* Whether a job's run directory holds its finished run (rundir.h): its
 * complete.txt matches its files and the data the job would train on now.
 * The data fingerprints are computed once per distinct data setting. */
typedef struct sweep_done_cache {
    int n;
    uint64_t key[8]; /* hash of the data keys */
    char fp[8][RUNDIR_FP_SIZE];
} sweep_done_cache;

typedef enum sweep_done {
    SWEEP_NOT_DONE = 0, /* nothing finished there (or an unfinished run) */
    SWEEP_DONE,         /* finished, on this data, files as they were */
    SWEEP_STALE,        /* complete.txt there but other data or changed files: why says */
    SWEEP_LEGACY,       /* f1.csv without complete.txt: finished by an older resecg */
} sweep_done;

/* SWEEP_* above, or -1 with e filled (the data cannot be fingerprinted). */
int sweep_job_done(const sweep_plan *plan, const sweep_job *sj, const char *dir,
                   sweep_done_cache *cache, rerr *why, rerr *e);

/* The error that stops `sweep run` (both backends) on n SWEEP_LEGACY jobs,
 * the first of them `first`, with the `sweep adopt` command that records
 * them. Returns -1. */
int sweep_dir_legacy_error(const char *root, int n, const char *first, const char *sweep_path,
                           const char *out, rerr *e);

/* Writes complete.txt for a run finished by an older resecg (SWEEP_LEGACY),
 * after checking that its config.yaml is the job's (same id): the data
 * fingerprint recorded is the data's now, which the caller vouches for. */
int sweep_job_adopt(const sweep_plan *plan, const sweep_job *sj, const char *dir,
                    sweep_done_cache *cache, rerr *e);

/* Progress of a training job, from one of `resecg train`'s epoch lines:
 * "epoch   3/12  train_loss 0.4321  dev_loss 0.5123  cinc_f1 0.612  F1 N ..." */
typedef struct sweep_epoch {
    int epoch, max_epochs;
    double train_loss, dev_loss, cinc_f1;
} sweep_epoch;

/* 1 and *ep filled if line is an epoch line, else 0. */
int sweep_epoch_parse(const char *line, sweep_epoch *ep);

/* The local time of day, "12:34:56", for progress lines. */
void sweep_clock_text(char *buf, size_t n);

/* One progress line on stderr: "[12:34:56] message\n", flushed. */
void sweep_vsay(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));


#endif

/* Running a sweep: the glue between an expanded sweep (sweep.h), GPU
 * discovery (gpu.h), the process pool (scheduler.h) and the journal
 * (journal.h). It lays out <out>/<sweep>/ (one run directory per job id,
 * journal.log, jobs.tsv, a lock), writes each job's resolved config as
 * job.yaml, launches `resecg train` per job, and shows progress; `status`
 * reads the same directory back. */
#ifndef RESECG_SWEEP_RUN_H
#define RESECG_SWEEP_RUN_H

#include <stdio.h>

#include "base/util.h"

typedef struct sweep_run_opts {
    const char *gpus;         /* "auto" (default), "none", or "0,1,..." */
    int jobs_per_gpu;         /* slots per GPU, 1 */
    int max_parallel;         /* 0: one job per core on the CPU, every slot on GPUs */
    int retries;              /* extra attempts after a failure, 1 */
    int fail_fast;            /* stop at the first job that fails for good */
    const char *out;          /* results root, "results" */
    const char *device;       /* --device for train; NULL: cuda on GPUs, cpu otherwise */
    double grace_s;           /* SIGTERM -> SIGKILL, 10 s */
    double busy_threshold;    /* skip GPUs with more than this share of memory used, 0.5 */
    const char *job_program;  /* run this instead of `resecg train` (tests) */
    int live;                 /* -1: a live table when stderr is a terminal; 0: log lines; 1: table */
    double backoff_s;         /* first retry delay, 1 s (doubles, at most 60 s) */
    const char *backend;      /* "local" (default): this machine; "slurm": job arrays (slurm.h) */
    /* --backend slurm */
    const char *partition;    /* sbatch --partition, NULL: the cluster's default */
    const char *gres;         /* sbatch --gres (e.g. gpu:1), NULL: none, jobs run on CPUs */
    const char *time_limit;   /* sbatch --time, NULL: the partition's default */
    int array_limit;          /* tasks running at once per array (--array=0-N%K), 0: no limit */
    const char *const *sbatch_args; /* more sbatch arguments, passed as given */
    int nsbatch_args;
    double poll_s;            /* first squeue interval, 2 s; backs off to 30 s while nothing changes */
    int detach;               /* submit, then leave the jobs to Slurm */
} sweep_run_opts;

void sweep_run_opts_default(sweep_run_opts *o);

/* sweep_run's failures to run at all, with e filled: */
#define SWEEP_BAD_INPUT (-1) /* the sweep file, its config or the options (exit 2) */
#define SWEEP_RUN_ERROR (-2) /* the results directory: in use, unwritable, full (exit 1) */

/* Runs (or resumes) the sweep in path. Returns the exit status for main: 0
 * when every job has finished, 1 when some failed or --fail-fast stopped
 * the run, 128 + signal when a signal stopped it; SWEEP_BAD_INPUT or
 * SWEEP_RUN_ERROR with e filled when it could not start or go on. */
int sweep_run(const char *path, const sweep_run_opts *o, rerr *e);

/* Prints the jobs of a sweep file (id, variant, seed, overrides, and
 * whether its run directory under out_root is finished). */
int sweep_plan_print(const char *path, const char *out_root, FILE *out, rerr *e);

/* Prints the state of a sweep output directory (<out>/<sweep>): counts,
 * one line per job, and each failure's exit status and log tail. */
int sweep_status(const char *dir, FILE *out, rerr *e);

/* `sweep adopt`: every job of the sweep in path that an older resecg
 * finished (f1.csv without complete.txt, sweep_dir.h SWEEP_LEGACY) gets
 * its complete.txt, recording the data as it is now, after its config.yaml
 * is checked to be the job's. One line per job to msg. Returns 0, 1 when a
 * job could not be adopted, or SWEEP_BAD_INPUT / SWEEP_RUN_ERROR. */
int sweep_adopt(const char *path, const char *out_root, FILE *msg, rerr *e);

#endif

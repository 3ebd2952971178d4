/* What `sweep run` is asked for (its options, whichever backend runs it)
 * and how a run ended: the types the command line, the driver
 * (sweep_driver.h) and both backends (sweep_run.h, slurm.h) share. */
#ifndef RESECG_SWEEP_OPTS_H
#define RESECG_SWEEP_OPTS_H

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
    const char *variants;     /* "a,b": run only the jobs of these variants; NULL: all */
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

/* How a sweep run (or adopt) ended; only the command line turns it into an
 * exit status (cli/sweep_cmd.c). */
typedef enum sweep_end {
    SWEEP_END_DONE,       /* every job of the sweep has finished */
    SWEEP_END_DETACHED,   /* --detach: the jobs are left to Slurm */
    SWEEP_END_INCOMPLETE, /* jobs failed for good, or --fail-fast stopped the run */
    SWEEP_END_SIGNAL,     /* a signal stopped it (signal) */
    SWEEP_END_BAD_INPUT,  /* nothing ran: the sweep file, its config, the options, or a
                             request Slurm refused (e says which) */
    SWEEP_END_RESULTS     /* nothing ran: the results directory is in use, unwritable,
                             full, or holds results of an older resecg (e says which) */
} sweep_end;

typedef struct sweep_outcome {
    sweep_end end;
    int signal;            /* SWEEP_END_SIGNAL: which */
    int jobs, done, failed; /* of the whole sweep (done counts jobs finished before) */
} sweep_outcome;

#endif

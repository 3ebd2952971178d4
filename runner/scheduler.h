/* The scheduler core: a libuv process pool. It runs a list of jobs, one
 * child process each, over slots (k per GPU, or a number of CPU slots),
 * sets CUDA_VISIBLE_DEVICES through the caller's command hook, appends each
 * child's stdout and stderr to a log file through a pipe and hands every
 * output line to a hook, retries failures with exponential back-off, and on
 * SIGINT/SIGTERM stops launching, sends SIGTERM to every child's process
 * group, then SIGKILL after a grace period (at once on a second signal).
 *
 * It knows nothing about sweeps: sweep_run.c supplies the commands, decides
 * what success means (f1.csv) and records events; bench_sched drives it with
 * /bin/true. The caller owns the sched and the job array; the sched owns
 * the libuv handles it creates and frees each in its close callback. */
#ifndef RESECG_SCHEDULER_H
#define RESECG_SCHEDULER_H

#include <uv.h>

#include "base/util.h"

#define SCHED_MAX_GPUS 64
#define SCHED_MAX_JOB_GPUS 16

typedef enum sched_state {
    SCHED_QUEUED = 0, /* waiting for a slot (or never started: the sweep stopped first) */
    SCHED_RUNNING,
    SCHED_BACKOFF,    /* failed, waiting before its next attempt */
    SCHED_DONE,
    SCHED_FAILED,     /* failed and out of retries */
    SCHED_KILLED,     /* stopped by a signal to the scheduler or by --fail-fast */
} sched_state;

typedef enum sched_event {
    SCHED_EV_STARTED,
    SCHED_EV_DONE,
    SCHED_EV_RETRY,    /* an attempt failed; another follows after the back-off */
    SCHED_EV_FAILED,   /* the last attempt failed */
    SCHED_EV_KILLED,
    SCHED_EV_STOPPING, /* job is NULL: the scheduler stops (signal or fail-fast) */
} sched_event;

/* What one attempt runs: filled by the prepare hook, used only during the
 * call that launches it (libuv copies what it needs into the child). */
typedef struct sched_cmd {
    char **argv;          /* argv[0] is the program; NULL-terminated */
    char **env;           /* "KEY=VALUE" list, NULL-terminated; NULL inherits ours */
    const char *cwd;      /* NULL: ours */
    const char *log_path; /* stdout + stderr appended here; NULL: read and dropped */
} sched_cmd;

typedef struct sched sched;
typedef struct sched_job sched_job;

typedef struct sched_hooks {
    /* Before every attempt: fill cmd (j->gpus already holds the
     * CUDA_VISIBLE_DEVICES value). Non-zero fails the attempt with e's text. */
    int (*prepare)(sched *s, sched_job *j, sched_cmd *cmd, rerr *e);
    /* After an exit with status 0: 1 if the job produced its result. NULL:
     * exit 0 is success. */
    int (*check)(sched *s, sched_job *j);
    /* Every state change (job NULL for SCHED_EV_STOPPING). */
    void (*event)(sched *s, sched_job *j, sched_event ev);
    /* Every line of a child's output (without its newline). */
    void (*line)(sched *s, sched_job *j, const char *line);
    /* Every opts.tick_s seconds while jobs run (a live display). */
    void (*tick)(sched *s);
} sched_hooks;

struct sched_proc;
struct sched_backoff;

struct sched_job {
    void *data;   /* the caller's */
    int ngpus;    /* GPUs one attempt needs; 0 takes a CPU slot */
    /* maintained by the scheduler, read-only for callers: */
    sched_state state;
    int attempt;        /* 1-based number of the current or last attempt */
    int exit_status;    /* of the last attempt: its exit code, or 128 + signal */
    int term_signal;    /* the signal that ended the last attempt, or 0 */
    int no_result;      /* the last attempt exited 0 but check() found no result */
    long pid;           /* of the current or last attempt (also its process group) */
    char gpus[64];      /* CUDA_VISIBLE_DEVICES of the current or last attempt, "" on CPU */
    char error[256];    /* why the last attempt could not start, or "" */
    double t_start, t_end; /* util_now() of the last attempt's start and end */
    /* internal */
    struct sched_proc *proc;
    struct sched_backoff *backoff;
    int nheld;
    short held[SCHED_MAX_JOB_GPUS]; /* indexes into opts.gpu of the slots it holds */
};

typedef struct sched_gpu {
    int index; /* CUDA_VISIBLE_DEVICES number */
    int slots; /* concurrent jobs allowed on it */
} sched_gpu;

typedef struct sched_opts {
    int ngpu;                      /* GPUs with slots; jobs with ngpus > 0 need them */
    sched_gpu gpu[SCHED_MAX_GPUS];
    int cpu_slots;                 /* for jobs with ngpus == 0 */
    int max_parallel;              /* cap on running jobs over all slots; 0 = none */
    int retries;                   /* extra attempts after a failure */
    int fail_fast;                 /* the first final failure stops the run */
    double grace_s;                /* SIGTERM -> SIGKILL delay on stop */
    double backoff_s;              /* first retry delay; doubles each attempt */
    double backoff_max_s;
    int handle_signals;            /* take SIGINT, SIGTERM and SIGHUP */
    double tick_s;                 /* tick hook period; 0 = none */
} sched_opts;

/* Defaults: 1 CPU slot, 1 retry, 10 s grace, back-off 1 s doubling to 60 s,
 * signals handled, no tick. */
void sched_opts_default(sched_opts *o);

struct sched {
    uv_loop_t *loop;
    sched_opts o;
    sched_hooks h;
    void *data;          /* the caller's */
    sched_job *jobs;
    int njobs;
    /* counts by state, kept up to date for displays */
    int nqueued, nrunning, nbackoff, ndone, nfailed, nkilled;
    int stopping;        /* 0; 1 after a first signal or fail-fast; 2 after a second signal */
    int stop_signal;     /* the signal that stopped the run, or 0 */
    int stop_failfast;   /* 1 if --fail-fast stopped it */
    /* internal */
    int *queue, qhead, qlen;
    int gpu_used[SCHED_MAX_GPUS], cpu_used;
    int filling;
    uv_signal_t sig[3];
    uv_timer_t grace, tick;
    int handles_init;
};

/* Prepares s to run the jobs (all in state SCHED_QUEUED; others are left
 * alone and count as they are) on loop. -1 with e filled if a job needs
 * more GPUs than there are. */
int sched_init(sched *s, uv_loop_t *loop, const sched_opts *o, const sched_hooks *h,
               sched_job *jobs, int njobs, rerr *e);

/* Runs until every job has ended or the run was stopped and every child
 * has exited. Returns 0 if every job is SCHED_DONE, 1 otherwise. */
int sched_run(sched *s);

/* Stops launching and terminates the running children: SIGTERM to each
 * process group, SIGKILL after the grace period; hard sends SIGKILL now.
 * Safe to call from hooks. */
void sched_stop(sched *s, int hard);

/* Frees what sched_init allocated (after sched_run has returned). */
void sched_free(sched *s);

const char *sched_state_name(sched_state st);

#endif

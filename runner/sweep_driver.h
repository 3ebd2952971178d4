/* What `sweep run` does the same way on both backends (the local process
 * pool, sweep_run.c; Slurm job arrays, slurm.c): load and expand the sweep,
 * check its data, find the jobs still to run, open the results directory
 * (created, locked, journal.log, jobs.tsv), and end with one journal line,
 * one summary line and an outcome, which only the command line turns into
 * an exit status. */
#ifndef RESECG_SWEEP_DRIVER_H
#define RESECG_SWEEP_DRIVER_H

#include <signal.h>

#include "base/util.h"
#include "journal.h"
#include "sweep.h"
#include "sweep_dir.h"
#include "sweep_opts.h"

/* One run of a sweep, whatever the backend. */
typedef struct sweep_session {
    const char *path; /* the sweep file */
    const sweep_run_opts *o;
    sweep sw;
    sweep_plan plan;
    char root[4096];     /* <out>/<name> as given */
    char root_abs[4096]; /* the same, absolute: stale-process checks compare it */
    char exe[4096];      /* this program (each job runs `resecg train` or `resecg sweep task`) */
    char jpath[4200];    /* root/journal.log */
    journal jr;
    sweep_done_cache done_cache;
    int *pending;        /* plan indices of the jobs still to run, in plan order */
    int npending;
    int nskipped;        /* finished before this run */
    int nunselected;     /* not finished, but of a variant --variants leaves out */
    char unselected[160]; /* ", N not selected (--variants ...)", or "": for the lines
                             that count the jobs */
    int nstale;          /* finished ones whose results no longer match (run again) */
    char stale[1024];    /* why, for the first of them */
    int lock_fd;
    double t0;
    struct sigaction old_pipe;
} sweep_session;

/* Loads and expands path, checks its data, and finds the pending jobs (not
 * finished, or finished on other data or with changed files) of the
 * variants o->variants names (every job when NULL; a name the sweep file
 * lacks is bad input). A results
 * directory of an older resecg is refused (sweep_dir_legacy_error). Ignores
 * SIGPIPE until sweep_session_close: a closed output (`sweep run | head`, a
 * dropped ssh session) must not kill the scheduler and orphan its jobs.
 * -1 with e filled and out->end set (BAD_INPUT or RESULTS). */
int sweep_session_open(sweep_session *s, const char *path, const sweep_run_opts *o,
                       sweep_outcome *out, rerr *e);

/* The results directory: created, locked against a second run, journal.log
 * opened, jobs.tsv written. -1 with e filled (out->end RESULTS). */
int sweep_session_results(sweep_session *s, sweep_outcome *out, rerr *e);

/* SWEEP_DONE etc. (sweep_dir.h) of job sj's directory <root>/<id>, the
 * backends' check after a job ends; an error (the data cannot be
 * fingerprinted) counts as SWEEP_NOT_DONE, with why saying so. */
int sweep_session_job_state(sweep_session *s, const sweep_job *sj, const char *id, rerr *why);

/* "id variant seed S overrides" of job sj (id its hex), for log lines. */
void sweep_session_job_label(const sweep_session *s, const sweep_job *sj, const char *id,
                             char *buf, size_t n);

/* A line for the user (time-stamped, on stderr). */
void sweep_session_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A journal line; a failed append is reported once and changes nothing
 * else. */
void sweep_session_jlog(sweep_session *s, const char *id, const char *event, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* The end of a run that started its jobs: journal "sweep-end", the summary
 * line (unless quiet), and *out from the counts: done (finished before
 * included) and failed of the whole sweep, stopped (neither), whether it was
 * stopping early and by which signal (0 for none). A run of some variants
 * (--variants) is done when each of their jobs is. */
void sweep_session_end(sweep_session *s, int done, int failed, int stopped, int stopping,
                       int stop_signal, int quiet, sweep_outcome *out);

/* Frees everything, releases the lock, restores SIGPIPE. */
void sweep_session_close(sweep_session *s);

#endif

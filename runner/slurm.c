/* The Slurm backend (see slurm.h).
 *
 * The monitor writes each unfinished job's job.yaml, submits the jobs as
 * job arrays (sbatch --parsable --array=0-N%K), then polls squeue on a libuv
 * timer: one call for all of this user's tasks, every --poll seconds while
 * things change, backing off by half each quiet poll to 30 s. A task that
 * has left the queue is judged by the files it left on the shared
 * filesystem: done iff its f1.csv exists; else failed with the exit status
 * its slurm.exit records; else (killed before it could write one: time
 * limit, node failure, SIGKILL) failed with what sacct or scontrol still
 * say. squeue failing is waited out (a controller restarting), never taken
 * as "the jobs are gone". Failed jobs are submitted again, as one new
 * array, after the back-off, while --retries allows. */
#define _GNU_SOURCE
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "journal.h"
#include "sweep.h"
#include "slurm_cmd.h"
#include "sweep_dir.h"
#include "sweep_driver.h"
#include "run/rundir.h"

#define SL_MAX_ARRAY 1000     /* tasks per submission: Slurm's default MaxArraySize is 1001 */
#define SL_POLL_MAX_S 30.0
#define SL_GONE_POLLS 3       /* polls a finished task may take to show its slurm.exit (NFS) */

static int state_running(const char *st)
{
    return strcmp(st, "RUNNING") == 0 || strcmp(st, "COMPLETING") == 0 ||
           strcmp(st, "STOPPED") == 0 || strcmp(st, "SUSPENDED") == 0;
}

/* ---- the monitor ---- */

typedef enum sl_state { SL_WAIT, SL_QUEUED, SL_RUNNING, SL_DONE, SL_FAILED, SL_KILLED } sl_state;

typedef struct sl_job {
    const sweep_job *sj;
    char id[13];
    sl_state state;
    int attempt;     /* submissions in this run (a task followed from an earlier run counts) */
    long array;      /* the current submission */
    int task;
    int gone;        /* polls since it left the queue without leaving a result */
    double next_try; /* SL_WAIT: submit at (util_now) */
    char node[64];
} sl_job;

typedef struct sl_ctx {
    sweep_session *ss; /* the sweep, its plan, the results directory, the journal */
    const sweep_run_opts *o;
    uv_loop_t *loop;
    char user[256];
    const char *device;
    sl_job *jobs;
    int njobs, nskipped;
    long *arrays;    /* every array submitted or followed: what scancel cancels */
    int narrays, cap_arrays;
    int nsub;        /* the last submission number in use */
    uv_timer_t poll;
    double interval;
    sl_cmd *q;       /* the squeue of the current poll */
    int q_busy;
    int q_failures;
    uv_signal_t sig[3];
    int stopping;    /* scancel sent */
    int stop_signal;
    int failfast_stop;
    int detached;    /* SIGHUP: left the jobs to Slurm */
    double stop_until;
    int handles;     /* poll timer and signal handles initialised */
    int finished;
} sl_ctx;

static void job_path(const sl_ctx *c, const sl_job *j, const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/%s%s%s", c->ss->root, j->id, file ? "/" : "", file ? file : "");
}

static int job_state(sl_ctx *c, const sl_job *j, rerr *why)
{
    return sweep_session_job_state(c->ss, j->sj, j->id, why);
}

static void job_label(const sl_ctx *c, const sl_job *j, char *buf, size_t n)
{
    sweep_session_job_label(c->ss, j->sj, j->id, buf, n);
}

static int array_add(sl_ctx *c, long a)
{
    for (int i = 0; i < c->narrays; i++)
        if (c->arrays[i] == a)
            return 0;
    if (c->narrays == c->cap_arrays) {
        int cap = c->cap_arrays ? 2 * c->cap_arrays : 8;
        long *p = realloc(c->arrays, sizeof *p * (size_t)cap);
        if (!p)
            return -1;
        c->arrays = p;
        c->cap_arrays = cap;
    }
    c->arrays[c->narrays++] = a;
    return 0;
}

static int active(const sl_job *j)
{
    return j->state == SL_QUEUED || j->state == SL_RUNNING;
}

/* 'text' for a POSIX shell, in single quotes */
static void shell_quote(sbuf *b, const char *s)
{
    sbuf_putn(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            sbuf_puts(b, "'\\''");
        else
            sbuf_putn(b, s, 1);
    }
    sbuf_putn(b, "'", 1);
}

/* Submits jobs idx[0..n) (at most SL_MAX_ARRAY) as one array: their
 * job.yaml, sub-K.ids, sub-K.sh, then sbatch. On failure nothing of them
 * is queued and e says what Slurm said. */
/* A submission's files in <root>/slurm/: sub-K.ids (the jobs idx[0..n),
 * one id a line, each with its job.yaml written and its old exit record
 * removed) and sub-K.sh (what each array task runs), K the next number no
 * earlier run used. */
static int submit_files(sl_ctx *c, const int *idx, int n, char *ids, char *script, size_t size,
                        rerr *e)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/slurm", c->ss->root_abs);
    if (util_mkdir_p(dir, e))
        return -1;
    for (;;) {
        c->nsub++;
        snprintf(ids, size, "%s/sub-%d.ids", dir, c->nsub);
        if (!util_file_exists(ids))
            break;
    }
    snprintf(script, size, "%s/sub-%d.sh", dir, c->nsub);
    sbuf b = {0};
    for (int i = 0; i < n; i++) {
        sl_job *j = &c->jobs[idx[i]];
        char jd[4300], ex[4400];
        job_path(c, j, NULL, jd, sizeof jd);
        if (sweep_dir_job_config(&c->ss->plan, j->sj, jd, e)) {
            free(b.p);
            return -1;
        }
        /* an earlier attempt's exit record must not speak for this one */
        snprintf(ex, sizeof ex, "%s/slurm.exit", jd);
        unlink(ex);
        sbuf_printf(&b, "%s\n", j->id);
    }
    if (b.oom || util_write_file_atomic(ids, b.p, b.len, e)) {
        free(b.p);
        return b.oom ? rerr_set(e, "out of memory") : -1;
    }
    free(b.p);
    memset(&b, 0, sizeof b);
    sbuf_printf(&b,
                "#!/bin/sh\n"
                "# resecg sweep %s, Slurm submission %d: array task i runs the job on line i+1 of\n"
                "# sub-%d.ids (`resecg sweep task`: `resecg train` with its output in the job's\n"
                "# job.log, then the job's slurm.exit)\n"
                "exec ",
                c->ss->sw.name, c->nsub, c->nsub);
    shell_quote(&b, c->ss->exe);
    sbuf_puts(&b, " sweep task ");
    shell_quote(&b, ids);
    sbuf_puts(&b, " --device ");
    shell_quote(&b, c->device);
    if (c->o->job_program) {
        sbuf_puts(&b, " --job-program ");
        shell_quote(&b, c->o->job_program);
    }
    sbuf_puts(&b, "\n");
    int werr = b.oom ? rerr_set(e, "out of memory") : util_write_file_atomic(script, b.p, b.len, e);
    free(b.p);
    if (werr)
        return -1;
    if (chmod(script, 0755) != 0)
        return rerr_set(e, "%s: chmod: %s", script, strerror(errno));
    return 0;
}

/* sbatch of script as an array of n tasks with the sweep's options; the
 * array's job id, or 0 with why filled. */
static long submit_sbatch(sl_ctx *c, const char *script, int n, char *why, size_t whysize)
{
    const sweep_run_opts *o = c->o;
    char arr[64], name[300], part[300], gres[300], tl[300], outpat[4300];
    if (o->array_limit > 0)
        snprintf(arr, sizeof arr, "--array=0-%d%%%d", n - 1, o->array_limit);
    else
        snprintf(arr, sizeof arr, "--array=0-%d", n - 1);
    snprintf(name, sizeof name, "--job-name=resecg-%s", c->ss->sw.name);
    snprintf(outpat, sizeof outpat, "--output=%s/slurm/%%A_%%a.out", c->ss->root_abs);
    char *argv[40 + 64];
    int a = 0;
    argv[a++] = "sbatch";
    argv[a++] = "--parsable";
    argv[a++] = arr;
    argv[a++] = name;
    argv[a++] = outpat;
    if (o->partition) {
        snprintf(part, sizeof part, "--partition=%s", o->partition);
        argv[a++] = part;
    }
    if (o->gres) {
        snprintf(gres, sizeof gres, "--gres=%s", o->gres);
        argv[a++] = gres;
    }
    if (o->time_limit) {
        snprintf(tl, sizeof tl, "--time=%s", o->time_limit);
        argv[a++] = tl;
    }
    for (int i = 0; i < o->nsbatch_args && a < 40 + 60; i++)
        argv[a++] = (char *)o->sbatch_args[i];
    argv[a++] = (char *)script;
    argv[a] = NULL;
    sl_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {
        snprintf(why, whysize, "out of memory");
        return 0;
    }
    slcmd_run(c->loop, cmd, argv);
    long array = 0;
    if (slcmd_ok(cmd) && cmd->o.p) {
        char *end;
        array = strtol(cmd->o.p, &end, 10);
        if (end == cmd->o.p || (*end && *end != ';' && *end != '\n'))
            array = 0;
    }
    if (array <= 0 && slcmd_ok(cmd))
        snprintf(why, whysize, "sbatch printed no job id ('%.100s')", cmd->o.p ? cmd->o.p : "");
    else if (array <= 0)
        slcmd_why(cmd, "sbatch", why, whysize);
    slcmd_free(cmd);
    free(cmd);
    return array > 0 ? array : 0;
}

/* The jobs idx[0..n) are tasks 0..n-1 of array now: their state, and the
 * submit and submitted lines in one journal write. */
static void submit_record(sl_ctx *c, const int *idx, int n, long array)
{
    size_t cap = (size_t)n * 96 + 256, len = 0;
    char *jb = malloc(cap);
    char f[256];
    if (jb) {
        snprintf(f, sizeof f, "sub=%d slurm=%ld tasks=%d", c->nsub, array, n);
        len += journal_format(jb + len, cap - len, "-", "submit", f);
    }
    for (int i = 0; i < n; i++) {
        sl_job *j = &c->jobs[idx[i]];
        j->array = array;
        j->task = i;
        j->state = SL_QUEUED;
        j->attempt++;
        j->gone = 0;
        j->node[0] = '\0';
        if (jb) {
            snprintf(f, sizeof f, "attempt=%d slurm=%ld_%d", j->attempt, array, i);
            len += journal_format(jb + len, cap - len, j->id, "submitted", f);
        }
    }
    if (jb) {
        rerr je;
        if (journal_append_raw(&c->ss->jr, jb, len, &je) != 0 && !c->ss->jr.failed) {
            c->ss->jr.failed = 1;
            sweep_session_say("warning: %s", je.msg);
        }
        free(jb);
    }
}

/* Submits the jobs idx[0..n) as one job array. */
static int submit(sl_ctx *c, const int *idx, int n, rerr *e)
{
    char ids[4300], script[4300], why[900];
    if (submit_files(c, idx, n, ids, script, sizeof ids, e))
        return -1;
    long array = submit_sbatch(c, script, n, why, sizeof why);
    if (array <= 0) {
        sweep_session_jlog(c->ss, "-", "submit-refused", "sub=%d tasks=%d note=%s", c->nsub, n,
                           why);
        return rerr_set(e, "Slurm rejected the submission of %d job%s (%s): %s", n,
                        n == 1 ? "" : "s", script, why);
    }
    if (array_add(c, array))
        return rerr_set(e, "out of memory");
    submit_record(c, idx, n, array);
    sweep_session_say("submitted %d job%s as Slurm array %ld (%s, tasks 0-%d%s)", n,
                      n == 1 ? "" : "s", array, script, n - 1,
                      c->o->array_limit > 0 ? ", limited by --array-limit" : "");
    return 0;
}

/* Submits every waiting job whose time has come, in arrays of at most
 * SL_MAX_ARRAY. Returns how many were submitted; with fail_hard, the first
 * refused submission is returned as -1 (the start of a run), otherwise its
 * jobs fail. */
static int submit_due(sl_ctx *c, int fail_hard, rerr *e)
{
    if (c->stopping)
        return 0;
    int *idx = malloc(sizeof *idx * (size_t)(c->njobs ? c->njobs : 1));
    if (!idx)
        return rerr_set(e, "out of memory");
    double now = util_now();
    int n = 0, total = 0;
    for (int i = 0; i <= c->njobs; i++) {
        if (i < c->njobs && c->jobs[i].state == SL_WAIT && c->jobs[i].next_try <= now)
            idx[n++] = i;
        if (n > 0 && (n == SL_MAX_ARRAY || i == c->njobs)) {
            rerr se = {{0}};
            if (submit(c, idx, n, &se) != 0) {
                if (fail_hard) {
                    free(idx);
                    return rerr_set(e, "%s", se.msg);
                }
                sweep_session_say("%s", se.msg);
                for (int k = 0; k < n; k++) {
                    sl_job *j = &c->jobs[idx[k]];
                    j->state = SL_FAILED;
                    sweep_session_jlog(c->ss, j->id, "failed", "attempt=%d exit=-1 note=%s",
                                       j->attempt + 1, se.msg);
                }
            } else {
                total += n;
            }
            n = 0;
        }
    }
    free(idx);
    return total;
}

static void stop(sl_ctx *c, int sig, int failfast);

/* The last epoch line of a job's log, for the done message. */
static int last_epoch(const sl_ctx *c, const sl_job *j, sweep_epoch *ep)
{
    char p[4300], line[512];
    job_path(c, j, RUNDIR_JOB_LOG, p, sizeof p);
    FILE *fp = util_fopen_read(p, UTIL_NOFOLLOW, NULL);
    if (!fp)
        return 0;
    int got = 0;
    sweep_epoch e;
    while (fgets(line, sizeof line, fp))
        if (sweep_epoch_parse(line, &e)) {
            *ep = e;
            got = 1;
        }
    fclose(fp);
    return got;
}

/* A job's slurm.exit, if it is this attempt's: 1 and its fields, or 0. */
static int exit_record(const sl_ctx *c, const sl_job *j, char *fields, size_t n)
{
    char p[4300], want[64], got[64];
    job_path(c, j, "slurm.exit", p, sizeof p);
    char *text = NULL;
    size_t len;
    rerr e;
    if (!util_file_exists(p) || util_read_file_kind(p, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, &e) != 0)
        return 0;
    text[strcspn(text, "\n")] = '\0';
    snprintf(want, sizeof want, "%ld_%d", j->array, j->task);
    int ok = journal_field(text, "slurm", got, sizeof got) == 0 && strcmp(got, want) == 0;
    if (ok)
        snprintf(fields, n, "%s", text);
    free(text);
    return ok;
}

/* What Slurm's accounting (sacct) or, without it, the controller's memory
 * (scontrol) knows of a task that left no exit record: "STATE A:B". */
static void slurm_verdict(sl_ctx *c, const sl_job *j, char *buf, size_t n)
{
    char id[64];
    snprintf(id, sizeof id, "%ld_%d", j->array, j->task);
    char *sacct[] = {"sacct", "--noheader", "--parsable2", "--allocations", "--jobs", id,
                     "--format=State,ExitCode", NULL};
    sl_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {
        snprintf(buf, n, "unknown");
        return;
    }
    slcmd_run(c->loop, cmd, sacct);
    if (slcmd_ok(cmd) && cmd->o.p && cmd->o.len > 0) {
        cmd->o.p[strcspn(cmd->o.p, "\n")] = '\0';
        char *bar = strchr(cmd->o.p, '|');
        if (bar)
            *bar = ' ';
        snprintf(buf, n, "%s", cmd->o.p);
    } else {
        char *sc[] = {"scontrol", "--oneliner", "show", "job", id, NULL};
        slcmd_run(c->loop, cmd, sc);
        char st[64] = "", ex[64] = "";
        if (slcmd_ok(cmd) && cmd->o.p) {
            const char *s = strstr(cmd->o.p, "JobState="), *x = strstr(cmd->o.p, " ExitCode=");
            if (s)
                sscanf(s, "JobState=%63s", st);
            if (x)
                sscanf(x, " ExitCode=%63s", ex);
        }
        if (st[0])
            snprintf(buf, n, "%s %s", st, ex[0] ? ex : "?");
        else
            snprintf(buf, n, "unknown (neither sacct nor scontrol knows task %s)", id);
    }
    slcmd_free(cmd);
    free(cmd);
}

/* An attempt that ended without a finished run: again after the back-off, or failed. */
static void attempt_failed(sl_ctx *c, sl_job *j, int code, int sig, const char *note)
{
    char lab[700], st[300], where[200] = "";
    job_label(c, j, lab, sizeof lab);
    if (sig)
        snprintf(st, sizeof st, "killed by signal %d (%s)", sig, strsignal(sig));
    else if (code == 0)
        snprintf(st, sizeof st, "exit 0 without a finished run (complete.txt)");
    else if (code < 0)
        snprintf(st, sizeof st, "no exit status");
    else
        snprintf(st, sizeof st, "exit status %d", code);
    if (j->node[0])
        snprintf(where, sizeof where, " on %s", j->node);
    sbuf fb = {0};
    sbuf_printf(&fb, "attempt=%d exit=%d", j->attempt, code);
    if (sig)
        sbuf_printf(&fb, " signal=%d", sig);
    sbuf_printf(&fb, " slurm=%ld_%d", j->array, j->task);
    if (j->node[0])
        sbuf_printf(&fb, " node=%s", j->node);
    if (note)
        sbuf_printf(&fb, " note=%s", note); /* note runs to the end of the line */
    else if (code == 0 && !sig)
        sbuf_puts(&fb, " note=exited 0 but left no finished run (complete.txt)");
    char fields[900];
    snprintf(fields, sizeof fields, "%s", fb.p ? fb.p : "");
    free(fb.p);
    if (c->stopping) {
        j->state = SL_KILLED;
        sweep_session_jlog(c->ss, j->id, "killed", "%s", fields);
        sweep_session_say("stopped %s (Slurm task %ld_%d%s)", lab, j->array, j->task, where);
        return;
    }
    if (j->attempt <= c->o->retries) {
        double d = c->o->backoff_s;
        for (int k = 1; k < j->attempt && d < 60; k++)
            d *= 2;
        j->state = SL_WAIT;
        j->next_try = util_now() + (d < 60 ? d : 60);
        sweep_session_jlog(c->ss, j->id, "retry", "%s", fields);
        sweep_session_say(
            "retry   %s: attempt %d failed (%s%s%s%s, Slurm task %ld_%d%s); log %s/%s/job.log", lab,
            j->attempt, st, note ? ": " : "", note ? note : "", "", j->array, j->task, where,
            c->ss->root, j->id);
        return;
    }
    j->state = SL_FAILED;
    sweep_session_jlog(c->ss, j->id, "failed", "%s", fields);
    sweep_session_say(
        "FAILED  %s after %d attempt%s (%s%s%s, Slurm task %ld_%d%s); log %s/%s/job.log", lab,
        j->attempt, j->attempt == 1 ? "" : "s", st, note ? ": " : "", note ? note : "", j->array,
        j->task, where, c->ss->root, j->id);
    if (c->o->fail_fast)
        stop(c, 0, 1);
}

/* A task that is no longer in the queue. Returns 1 if its state changed. */
static int task_left(sl_ctx *c, sl_job *j)
{
    char lab[700], fields[600];
    job_label(c, j, lab, sizeof lab);
    int have_exit = exit_record(c, j, fields, sizeof fields);
    if (have_exit) {
        char node[64];
        if (journal_field(fields, "node", node, sizeof node) == 0)
            snprintf(j->node, sizeof j->node, "%s", node);
    }
    rerr why;
    if (job_state(c, j, &why) == SWEEP_DONE) {
        char gpus[64] = "", s0[32] = "", s1[32] = "";
        double secs = -1;
        if (have_exit) {
            journal_field(fields, "gpus", gpus, sizeof gpus);
            if (journal_field(fields, "start", s0, sizeof s0) == 0 &&
                journal_field(fields, "end", s1, sizeof s1) == 0)
                secs = atof(s1) - atof(s0);
        }
        sweep_epoch ep = {0, 0, 0, 0, 0};
        int got = last_epoch(c, j, &ep);
        j->state = SL_DONE;
        sweep_session_jlog(
            c->ss, j->id, "done",
            "attempt=%d seconds=%.1f epochs=%d dev_loss=%.4f cinc_f1=%.3f slurm=%ld_%d%s%s%s%s",
            j->attempt, secs, ep.epoch, ep.dev_loss, ep.cinc_f1, j->array, j->task,
            j->node[0] ? " node=" : "", j->node, gpus[0] ? " gpus=" : "", gpus);
        char tail[200] = "";
        if (got)
            snprintf(tail, sizeof tail, "; epoch %d/%d: dev_loss %.4f cinc_f1 %.3f", ep.epoch,
                     ep.max_epochs, ep.dev_loss, ep.cinc_f1);
        sweep_session_say("done    %s (Slurm task %ld_%d%s%s%s%s, %.1f s%s)", lab, j->array,
                          j->task, j->node[0] ? " on " : "", j->node,
                          gpus[0] && strcmp(gpus, "-") ? " GPU " : "",
                          strcmp(gpus, "-") ? gpus : "", secs, tail);
        return 1;
    }
    if (have_exit) {
        char ex[32] = "-1", sg[32] = "0";
        journal_field(fields, "exit", ex, sizeof ex);
        journal_field(fields, "signal", sg, sizeof sg);
        attempt_failed(c, j, atoi(ex), atoi(sg), NULL);
        return 1;
    }
    /* a shared filesystem may show the task's files a little late */
    if (++j->gone < SL_GONE_POLLS && !c->stopping)
        return 0;
    char verdict[300], note[400];
    slurm_verdict(c, j, verdict, sizeof verdict);
    snprintf(note, sizeof note, "ended without an exit record (Slurm: %s)", verdict);
    int code = -1, sig = 0;
    const char *colon = strrchr(verdict, ':'), *sp = strrchr(verdict, ' ');
    if (colon && sp && sp < colon) {
        code = atoi(sp + 1);
        sig = atoi(colon + 1);
    }
    attempt_failed(c, j, code, sig, note);
    return 1;
}

static int count_state(const sl_ctx *c, sl_state s)
{
    int n = 0;
    for (int i = 0; i < c->njobs; i++)
        n += c->jobs[i].state == s;
    return n;
}

static void finish(sl_ctx *c)
{
    if (c->finished)
        return;
    c->finished = 1;
    if (!c->handles)
        return;
    uv_timer_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, NULL);
    for (int k = 0; k < 3; k++)
        uv_close((uv_handle_t *)&c->sig[k], NULL);
}

static void poll_start(uv_timer_t *t);

static void poll_again(sl_ctx *c, double s)
{
    if (!c->finished)
        uv_timer_start(&c->poll, poll_start, (uint64_t)(s * 1000), 0);
}

static void poll_done(sl_cmd *q)
{
    sl_ctx *c = q->data;
    c->q_busy = 0;
    if (c->finished)
        return;
    slurm_task *t = NULL;
    int nt = 0, changed = 0;
    rerr e = {{0}};
    if (slcmd_queue_parse(q, &t, &nt, &e) != 0) {
        c->q_failures++;
        if (c->q_failures == 1 || c->q_failures % 10 == 0)
            sweep_session_say("warning: squeue failed (%d time%s in a row): %s; the jobs are left "
                              "alone, polling on",
                              c->q_failures, c->q_failures == 1 ? "" : "s", e.msg);
    } else {
        if (c->q_failures)
            sweep_session_say("squeue answers again (after %d failure%s)", c->q_failures,
                c->q_failures == 1 ? "" : "s");
        c->q_failures = 0;
        for (int i = 0; i < c->njobs && !c->finished; i++) {
            sl_job *j = &c->jobs[i];
            if (!active(j))
                continue;
            const slurm_task *st = slurm_queue_find(t, nt, j->array, j->task);
            if (!st) {
                changed |= task_left(c, j);
                continue;
            }
            j->gone = 0;
            if (j->state == SL_QUEUED && state_running(st->state)) {
                char lab[700];
                job_label(c, j, lab, sizeof lab);
                j->state = SL_RUNNING;
                snprintf(j->node, sizeof j->node, "%s", st->node);
                sweep_session_jlog(c->ss, j->id, "started", "attempt=%d slurm=%ld_%d node=%s",
                                   j->attempt, j->array, j->task, st->node);
                sweep_session_say("started %s (Slurm task %ld_%d on %s)", lab, j->array, j->task,
                                  st->node);
                changed = 1;
            }
        }
        free(t);
    }
    if (c->finished)
        return;
    rerr se = {{0}};
    if (submit_due(c, 0, &se) > 0)
        changed = 1;
    int nactive = count_state(c, SL_QUEUED) + count_state(c, SL_RUNNING);
    int nwait = count_state(c, SL_WAIT);
    if (nactive + nwait == 0 || (c->stopping && (nactive == 0 || util_now() > c->stop_until))) {
        if (c->stopping && nactive > 0)
            sweep_session_say("%d Slurm task%s still in the queue after scancel; see squeue",
                              nactive, nactive == 1 ? "" : "s");
        finish(c);
        return;
    }
    double next = c->o->poll_s;
    if (c->stopping)
        next = next < 0.5 ? next : 0.5;
    else if (!changed) {
        next = c->interval * 1.5;
        if (next > SL_POLL_MAX_S)
            next = SL_POLL_MAX_S;
        if (next < c->o->poll_s)
            next = c->o->poll_s;
    }
    /* a retry due before the next poll moves it up */
    for (int i = 0; i < c->njobs; i++)
        if (c->jobs[i].state == SL_WAIT && c->jobs[i].next_try - util_now() < next)
            next = c->jobs[i].next_try - util_now() > 0.05 ? c->jobs[i].next_try - util_now() : 0.05;
    c->interval = next;
    poll_again(c, next);
}

static void poll_start(uv_timer_t *t)
{
    sl_ctx *c = t->data;
    if (c->q_busy || c->finished)
        return;
    char *argv[8];
    slcmd_queue_argv(argv, c->user);
    c->q_busy = 1;
    slcmd_start(c->loop, c->q, argv, poll_done, c);
}

/* scancel every array of this run that still has tasks queued or running. */
static void cancel_all(sl_ctx *c)
{
    char *argv[8 + 256], ids[256][32];
    int a = 0, n = 0;
    argv[a++] = "scancel";
    for (int k = 0; k < c->narrays; k++) {
        int live = 0;
        for (int i = 0; i < c->njobs; i++)
            live |= active(&c->jobs[i]) && c->jobs[i].array == c->arrays[k];
        if (!live)
            continue;
        if (n == 256)
            break;
        snprintf(ids[n], sizeof ids[n], "%ld", c->arrays[k]);
        argv[a++] = ids[n++];
    }
    argv[a] = NULL;
    if (n == 0)
        return;
    sl_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd)
        return;
    slcmd_run(c->loop, cmd, argv);
    if (!slcmd_ok(cmd)) {
        char why[900];
        slcmd_why(cmd, "scancel", why, sizeof why);
        sweep_session_say("warning: %s", why);
    }
    slcmd_free(cmd);
    free(cmd);
}

/* Stops the sweep: cancels its arrays, stops submitting, and follows the
 * tasks out of the queue (at most grace + 30 s). A second signal leaves at
 * once. sig 0: --fail-fast. */
static void stop(sl_ctx *c, int sig, int failfast)
{
    if (c->stopping) {
        if (sig) {
            sweep_session_say("%s again: leaving now; scancel was sent", strsignal(sig));
            finish(c);
        }
        return;
    }
    c->stopping = 1;
    c->stop_signal = sig;
    c->failfast_stop = failfast;
    int nactive = count_state(c, SL_QUEUED) + count_state(c, SL_RUNNING);
    for (int i = 0; i < c->njobs; i++)
        if (c->jobs[i].state == SL_WAIT) {
            c->jobs[i].state = SL_KILLED;
            sweep_session_jlog(c->ss, c->jobs[i].id, "killed",
                               "attempt=%d note=not submitted again: the sweep stopped",
                               c->jobs[i].attempt);
        }
    if (failfast) {
        sweep_session_jlog(c->ss, "-", "sweep-stop", "reason=fail-fast");
        sweep_session_say(
            "a job failed and --fail-fast is set: cancelling the sweep's Slurm arrays (%d task%s "
            "queued or running)",
            nactive, nactive == 1 ? "" : "s");
    } else {
        sweep_session_jlog(c->ss, "-", "sweep-stop", "reason=signal signal=%d", sig);
        sweep_session_say("%s: cancelling the sweep's Slurm arrays (%d task%s queued or running; "
                          "again: leave at once)",
                          strsignal(sig), nactive, nactive == 1 ? "" : "s");
    }
    cancel_all(c);
    c->stop_until = util_now() + c->o->grace_s + 30;
    if (!c->q_busy && !c->finished) {
        uv_timer_stop(&c->poll);
        poll_again(c, 0.2);
    }
}

static void on_signal(uv_signal_t *h, int sig)
{
    sl_ctx *c = h->data;
    if (sig == SIGHUP && !c->stopping) {
        /* the terminal went away; the cluster did not: the jobs run on */
        c->detached = 1;
        c->stop_signal = sig;
        int nactive = count_state(c, SL_QUEUED) + count_state(c, SL_RUNNING);
        sweep_session_jlog(c->ss, "-", "sweep-detach", "reason=signal signal=%d active=%d", sig,
                           nactive);
        sweep_session_say("SIGHUP: leaving %d queued or running job%s to Slurm; run the same "
                          "command again to follow them",
                          nactive, nactive == 1 ? "" : "s");
        finish(c);
        return;
    }
    stop(c, sig, 0);
}

/* ---- following an earlier run's tasks ---- */

typedef struct prior {
    sl_ctx *c;
    char (*slurm)[32]; /* per job: its last submission without an end, or "" */
    int *attempt;
} prior;

static sl_job *job_by_id(sl_ctx *c, const char *id)
{
    for (int i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].id, id) == 0)
            return &c->jobs[i];
    return NULL;
}

static int prior_visit(const journal_entry *en, void *data)
{
    prior *p = data;
    sl_job *j = job_by_id(p->c, en->id);
    if (!j)
        return 0;
    long k = j - p->c->jobs;
    if (strcmp(en->event, "submitted") == 0) {
        char a[32] = "";
        journal_field(en->fields, "slurm", p->slurm[k], sizeof p->slurm[k]);
        if (journal_field(en->fields, "attempt", a, sizeof a) == 0)
            p->attempt[k] = atoi(a);
    } else if (strcmp(en->event, "started") != 0 && strcmp(en->event, "queued") != 0) {
        p->slurm[k][0] = '\0'; /* done, failed, retry, killed: that task ended */
    }
    return 0;
}

/* Jobs whose last submission (by the journal) is still in the queue are
 * followed, not submitted again: the monitor may have been killed, or
 * left with SIGHUP or --detach. */
static int adopt(sl_ctx *c, const char *jpath, rerr *e)
{
    prior p = {c, calloc((size_t)c->njobs + 1, 32), calloc((size_t)c->njobs + 1, sizeof(int))};
    if (!p.slurm || !p.attempt) {
        free(p.slurm);
        free(p.attempt);
        return rerr_set(e, "out of memory");
    }
    int rc = 0, want = 0;
    if (journal_read(jpath, prior_visit, &p, e) != 0) {
        sweep_session_say("warning: %s", e->msg);
        e->msg[0] = '\0';
    }
    for (int i = 0; i < c->njobs; i++)
        want += p.slurm[i][0] != '\0';
    if (want > 0) {
        slurm_task *t = NULL;
        int nt = 0;
        if (slurm_queue(&t, &nt, e) != 0) {
            char why[sizeof e->msg];
            snprintf(why, sizeof why, "%s", e->msg);
            rc = rerr_set(e, "cannot tell which jobs of an earlier run are still in Slurm's queue "
                             "(%d were submitted and not seen to end): %.800s", want, why);
            goto done;
        }
        int adopted = 0, ended = 0;
        for (int i = 0; i < c->njobs; i++) {
            long a;
            int k;
            if (!p.slurm[i][0] || sscanf(p.slurm[i], "%ld_%d", &a, &k) != 2)
                continue;
            const slurm_task *st = slurm_queue_find(t, nt, a, k);
            sl_job *j = &c->jobs[i];
            if (!st) {
                ended++;
                continue;
            }
            j->array = a;
            j->task = k;
            j->attempt = 1;
            j->state = state_running(st->state) ? SL_RUNNING : SL_QUEUED;
            snprintf(j->node, sizeof j->node, "%s", st->node);
            if (array_add(c, a)) {
                rc = rerr_set(e, "out of memory");
                break;
            }
            sweep_session_jlog(c->ss, j->id, "adopted", "attempt=%d slurm=%s state=%s", j->attempt,
                               p.slurm[i], st->state);
            adopted++;
        }
        free(t);
        if (adopted)
            sweep_session_say("following %d job%s still in Slurm's queue from an earlier run",
                              adopted, adopted == 1 ? "" : "s");
        if (ended)
            sweep_session_say("%d job%s of an earlier run left the queue unwatched without a "
                              "result: submitting again",
                              ended, ended == 1 ? "" : "s");
    }
done:
    free(p.slurm);
    free(p.attempt);
    return rc;
}

/* ---- the run ---- */

static int check_tools(const sweep_run_opts *o, uv_loop_t *loop, rerr *e)
{
    static const char *const need[] = {"sbatch", "squeue", "scancel", NULL};
    for (int i = 0; need[i]; i++)
        if (!slcmd_on_path(need[i]))
            return rerr_set(e, "--backend slurm: %s is not on PATH (the Slurm client commands sbatch, "
                               "squeue and scancel are needed: run this on a Slurm login node)",
                            need[i]);
    if (!o->partition)
        return 0;
    /* sbatch would say "invalid partition" too, but only after the job
     * files are written; this names the ones that exist */
    char *argv[] = {"sinfo", "--noheader", "--format=%R", NULL};
    sl_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd)
        return rerr_set(e, "out of memory");
    int rc = 0;
    slcmd_run(loop, cmd, argv);
    if (slcmd_ok(cmd) && cmd->o.p) {
        int found = 0;
        char list[600] = "";
        for (char *l = cmd->o.p; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = '\0';
            if (strcmp(l, o->partition) == 0)
                found = 1;
            if (*l && strlen(list) + strlen(l) + 3 < sizeof list && !strstr(list, l))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", l);
            l = nl ? nl + 1 : NULL;
        }
        if (!found)
            rc = rerr_set(e, "--partition %s: no such Slurm partition (sinfo lists: %s)", o->partition,
                          list[0] ? list : "none");
    }
    slcmd_free(cmd);
    free(cmd);
    return rc;
}

/* The sweep's pending jobs as the monitor's. */
static int sl_jobs_plan(sl_ctx *c, rerr *e)
{
    sweep_session *ss = c->ss;
    c->jobs = calloc(ss->npending ? ss->npending : 1, sizeof *c->jobs);
    if (!c->jobs)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < ss->npending; i++) {
        sl_job *j = &c->jobs[i];
        j->sj = &ss->plan.jobs[ss->pending[i]];
        sweep_id_hex(j->sj->id, j->id);
    }
    c->njobs = ss->npending;
    c->nskipped = ss->nskipped;
    return 0;
}

/* Follows the submitted jobs to their end on the event loop: squeue polls,
 * resubmissions, and the signals that stop or detach the run. */
static void sl_follow(sl_ctx *c)
{
    const sweep_run_opts *o = c->o;
    uv_timer_init(c->loop, &c->poll);
    c->poll.data = c;
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int k = 0; k < 3; k++) {
        uv_signal_init(c->loop, &c->sig[k]);
        c->sig[k].data = c;
        uv_signal_start(&c->sig[k], on_signal, sigs[k]);
    }
    c->handles = 1;
    c->interval = o->poll_s;
    if (c->njobs == 0)
        finish(c);
    else
        poll_again(c, o->poll_s < 1 ? o->poll_s : 1);
    uv_run(c->loop, UV_RUN_DEFAULT);
}

sweep_outcome slurm_sweep_run(const char *path, const sweep_run_opts *o, rerr *e)
{
    sweep_session ss;
    sweep_outcome out;
    sl_ctx *c = NULL;
    uv_loop_t loop;
    int loop_ok = 0;
    if (sweep_session_open(&ss, path, o, &out, e))
        goto done;
    out.end = SWEEP_END_BAD_INPUT;
    if (uv_loop_init(&loop) != 0) {
        rerr_set(e, "cannot start the event loop");
        goto done;
    }
    loop_ok = 1;
    if (check_tools(o, &loop, e))
        goto done;
    c = calloc(1, sizeof *c);
    if (!c || !(c->q = calloc(1, sizeof *c->q))) {
        rerr_set(e, "out of memory");
        goto done;
    }
    c->ss = &ss;
    c->o = o;
    c->loop = &loop;
    snprintf(c->user, sizeof c->user, "%s", slcmd_user());
    /* --gres gpu:... asks for GPUs: train on them unless told otherwise */
    c->device = o->device ? o->device : o->gres && strstr(o->gres, "gpu") ? "cuda" : "cpu";
    if (sl_jobs_plan(c, e))
        goto done;
    out.end = SWEEP_END_RESULTS; /* in use, unwritable or full is exit 1, not 2 */
    if (sweep_session_results(&ss, &out, e))
        goto done;
    out.end = SWEEP_END_BAD_INPUT; /* what Slurm rejects is the request (README: exit 2) */
    if (adopt(c, ss.jpath, e))
        goto done;
    sweep_session_jlog(&ss, "-", "sweep-start",
                       "backend=slurm jobs=%zu pending=%d done=%d pid=%ld file=%.400s",
                       ss.plan.njobs, c->njobs, c->nskipped, (long)getpid(), ss.sw.path);
    int nfollowed = count_state(c, SL_QUEUED) + count_state(c, SL_RUNNING);
    char followed[64] = "";
    if (nfollowed)
        snprintf(followed, sizeof followed, ", %d of them already in the queue", nfollowed);
    sweep_session_say("sweep %s: %zu jobs, %d already done, %d to run on Slurm%s%s (device %s%s%s); "
                      "results in %s",
                      ss.sw.name, ss.plan.njobs, c->nskipped, c->njobs, followed,
                      ss.unselected, c->device,
                      o->gres ? ", --gres " : "", o->gres ? o->gres : "", ss.root);
    if (ss.nstale)
        sweep_session_say("%d finished job%s no longer match%s and run%s again: %s", ss.nstale,
                          ss.nstale == 1 ? "" : "s", ss.nstale == 1 ? "es" : "",
                          ss.nstale == 1 ? "s" : "", ss.stale);
    if (submit_due(c, 1, e) < 0) {
        /* whatever this run did submit before the refusal goes again */
        cancel_all(c);
        goto done;
    }
    if (o->detach) {
        int nactive = count_state(c, SL_QUEUED) + count_state(c, SL_RUNNING);
        sweep_session_jlog(&ss, "-", "sweep-detach", "reason=--detach active=%d", nactive);
        sweep_session_say("--detach: %d job%s left to Slurm; `resecg sweep status %s` shows them, "
                          "and the same command without --detach follows them to the end",
                          nactive, nactive == 1 ? "" : "s", ss.root);
        out.end = SWEEP_END_DETACHED;
        goto done;
    }
    sl_follow(c);
    int done = count_state(c, SL_DONE) + c->nskipped, failed = count_state(c, SL_FAILED);
    int left = c->njobs + c->nskipped - done - failed;
    /* SIGHUP (c->detached) left the jobs to Slurm: no summary, exit 128 + 1 */
    sweep_session_end(&ss, done, failed, left, c->stopping, c->stop_signal, c->detached, &out);
done:
    if (loop_ok) {
        /* close whatever is left (a --detach or a failed start) */
        if (c)
            finish(c);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    if (c) {
        if (c->q) {
            slcmd_free(c->q);
            free(c->q);
        }
        free(c->jobs);
        free(c->arrays);
        free(c);
    }
    sweep_session_close(&ss);
    return out;
}

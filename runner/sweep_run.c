/* `resecg sweep run` on this machine (see sweep_run.h; what the Slurm
 * backend shares with it is sweep_driver.c, reading the directory back
 * sweep_status.c).
 *
 * Layout of <out>/<sweep>/:
 *   <id>/          one run directory per job: job.yaml (the resolved config,
 *                  written by us), job.log (the child's output, appended per
 *                  attempt), and everything `resecg train` writes there;
 *                  complete.txt, written last, marks the job done (rundir.h)
 *   jobs.tsv       the expanded jobs (id, variant, seed, overrides), for status
 *   journal.log    one fsync'd line per state change (journal.h)
 *   .lock          flock'd by the running scheduler; holds its pid
 *
 * Resuming is stateless: a job is done iff its complete.txt matches its
 * files and the data; every other job runs again, with --resume when its
 * last.safetensors exists and it has no complete.txt. */
#define _GNU_SOURCE
#include "sweep_run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "gpu.h"
#include "journal.h"
#include "scheduler.h"
#include "sweep.h"
#include "sweep_dir.h"
#include "sweep_driver.h"
#include "run/rundir.h"

extern char **environ;

/* Cores this process may run on (taskset, cgroup cpusets), not the machine's. */
static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int path_join3(char *out, size_t n, const char *a, const char *b, const char *c)
{
    int w = snprintf(out, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- per-job context ---- */

typedef struct run_job {
    const sweep_job *sj;
    char id[13];
    /* progress parsed from the child's epoch lines */
    int epoch, max_epochs;
    double train_loss, dev_loss, cinc_f1;
} run_job;

typedef struct run_ctx {
    sweep_session *ss;   /* the sweep, its plan, the results directory, the journal */
    const sweep_run_opts *o;
    const char *device;
    int threads;
    int parallel;        /* jobs that can run at once */
    sched s;
    run_job *rj;
    sched_job *jobs;
    int njobs;           /* pending this run */
    int nskipped;        /* already done before this run */
    int live;
    int drawn;           /* lines of the live table on screen */
    double dur_sum;
    int dur_n;
    /* scratch for the command of one attempt */
    char **env;
    int nenv_base;
    char *argv[24];
    char argstore[6][4400];
    char envstore[5][4400];
} run_ctx;

static run_job *rjob(const sched_job *j)
{
    return j->data;
}

static void job_dir(const run_ctx *c, const run_job *r, char *out, size_t n)
{
    path_join3(out, n, c->ss->root, r->id, NULL);
}

static int job_state(run_ctx *c, const run_job *r, rerr *why)
{
    return sweep_session_job_state(c->ss, r->sj, r->id, why);
}

static int job_file_exists(const run_ctx *c, const run_job *r, const char *file)
{
    char p[4200];
    if (path_join3(p, sizeof p, c->ss->root, r->id, file))
        return 0;
    return util_file_exists(p);
}

/* ---- output: log lines or a live table ---- */

static void duration_text(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void table_erase(run_ctx *c)
{
    if (c->live && c->drawn > 0) {
        fprintf(stderr, "\r\033[%dA\033[J", c->drawn); /* up to the table's first line, clear below */
        c->drawn = 0;
    }
}

static void say(run_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(run_ctx *c, const char *fmt, ...)
{
    table_erase(c);
    va_list ap;
    va_start(ap, fmt);
    sweep_vsay(fmt, ap);
    va_end(ap);
}

static void job_label(const run_ctx *c, const run_job *r, char *buf, size_t n)
{
    sweep_session_job_label(c->ss, r->sj, r->id, buf, n);
}

static double eta_seconds(const run_ctx *c)
{
    if (c->dur_n == 0 || c->parallel < 1)
        return -1;
    double avg = c->dur_sum / c->dur_n, now = util_now(), running_left = 0;
    for (int i = 0; i < c->njobs; i++) {
        const sched_job *j = &c->jobs[i];
        if (j->state == SCHED_RUNNING) {
            double left = avg - (now - j->t_start);
            running_left += left > 0 ? left : 0;
        }
    }
    int waiting = c->s.nqueued + c->s.nbackoff;
    return (running_left + avg * waiting) / c->parallel;
}

/* Redrawn at most twice a second (the tick), cut to the terminal's width so
 * that no line wraps and the cursor arithmetic stays right. */
static void table_draw(run_ctx *c)
{
    struct winsize ws;
    int cols = 100, rows = 40;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
        cols = ws.ws_col;
        rows = ws.ws_row > 6 ? ws.ws_row : 6;
    }
    table_erase(c);
    char line[1024], el[32], eta[32] = "?";
    double e = eta_seconds(c);
    if (e >= 0)
        duration_text(e, eta, sizeof eta);
    duration_text(util_now() - c->ss->t0, el, sizeof el);
    snprintf(line, sizeof line,
             "sweep %s: %d queued  %d running  %d done  %d failed%s  | elapsed %s  ETA %s",
             c->ss->sw.name, c->s.nqueued + c->s.nbackoff, c->s.nrunning, c->s.ndone + c->nskipped,
             c->s.nfailed, c->s.nkilled ? "  (stopping)" : "", el, eta);
    fprintf(stderr, "%.*s\n", cols - 1, line);
    int shown = 1;
    for (int i = 0; i < c->njobs; i++) {
        const sched_job *j = &c->jobs[i];
        if (j->state != SCHED_RUNNING)
            continue;
        if (shown >= rows - 2) {
            fprintf(stderr, "  ... %d more running\n", c->s.nrunning - (shown - 1));
            shown++;
            break;
        }
        const run_job *r = rjob(j);
        char lab[700], prog[160] = "starting", t[32];
        job_label(c, r, lab, sizeof lab);
        if (r->epoch > 0)
            snprintf(prog, sizeof prog, "epoch %d/%d  dev_loss %.4f  cinc_f1 %.3f", r->epoch,
                     r->max_epochs, r->dev_loss, r->cinc_f1);
        duration_text(util_now() - j->t_start, t, sizeof t);
        snprintf(line, sizeof line, "  %-7s %s  %s%s  | %s", t, prog, j->gpus[0] ? "GPU " : "CPU",
                 j->gpus, lab);
        fprintf(stderr, "%.*s\n", cols - 1, line);
        shown++;
    }
    c->drawn = shown;
    fflush(stderr);
}

static void tick_hook(sched *s)
{
    run_ctx *c = s->data;
    if (c->live)
        table_draw(c);
}

/* ---- journal ---- */

static void jlog(run_ctx *c, const char *id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void jlog(run_ctx *c, const char *id, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rerr e;
    int rc = journal_vappendf(&c->ss->jr, &e, id, event, fmt, ap);
    va_end(ap);
    if (rc != 0 && e.msg[0])
        say(c, "warning: %s", e.msg); /* once; the jobs themselves are unaffected */
}

/* "exit=3" or "exit=137 signal=9" (and the reason a launch failed) */
static void status_fields(const sched_job *j, char *buf, size_t n)
{
    int o = snprintf(buf, n, "exit=%d", j->exit_status);
    if (j->term_signal && o > 0 && (size_t)o < n)
        o += snprintf(buf + o, n - (size_t)o, " signal=%d", j->term_signal);
    if (j->no_result && o > 0 && (size_t)o < n)
        o += snprintf(buf + o, n - (size_t)o,
                      " note=exited 0 but left no finished run (complete.txt)");
    else if (j->error[0] && o > 0 && (size_t)o < n)
        snprintf(buf + o, n - (size_t)o, " note=%s", j->error);
}

static void status_text(const sched_job *j, char *buf, size_t n)
{
    if (j->error[0])
        snprintf(buf, n, "%s", j->error);
    else if (j->no_result)
        snprintf(buf, n, "exit 0 without a finished run (complete.txt)");
    else if (j->term_signal)
        snprintf(buf, n, "killed by signal %d (%s), status %d", j->term_signal,
                 strsignal(j->term_signal), j->exit_status);
    else
        snprintf(buf, n, "exit status %d", j->exit_status);
}

static void event_hook(sched *s, sched_job *j, sched_event ev)
{
    run_ctx *c = s->data;
    if (!j) {
        if (s->stop_failfast) {
            jlog(c, "-", "sweep-stop", "reason=fail-fast");
            say(c, "a job failed and --fail-fast is set: stopping (%d running get SIGTERM)",
                s->nrunning);
        } else {
            jlog(c, "-", "sweep-stop", "reason=signal signal=%d", s->stop_signal);
            say(c, "%s: stopping; %d running jobs get SIGTERM, SIGKILL after %.0f s (again: kill now)",
                strsignal(s->stop_signal), s->nrunning, c->o->grace_s);
        }
        return;
    }
    run_job *r = rjob(j);
    char lab[700], st[400], dir[4200];
    job_label(c, r, lab, sizeof lab);
    job_dir(c, r, dir, sizeof dir);
    switch (ev) {
    case SCHED_EV_STARTED:
        r->epoch = r->max_epochs = 0; /* a retry starts its progress afresh */
        jlog(c, r->id, "started", "attempt=%d pid=%ld gpus=%s", j->attempt, j->pid,
             j->gpus[0] ? j->gpus : "none");
        if (!c->live)
            say(c, "started %s (attempt %d, %s%s)", lab, j->attempt, j->gpus[0] ? "GPU " : "CPU",
                j->gpus);
        break;
    case SCHED_EV_DONE: {
        double d = j->t_end - j->t_start;
        c->dur_sum += d;
        c->dur_n++;
        jlog(c, r->id, "done", "attempt=%d seconds=%.1f epochs=%d dev_loss=%.4f cinc_f1=%.3f",
             j->attempt, d, r->epoch, r->dev_loss, r->cinc_f1);
        if (r->epoch > 0)
            say(c, "done    %s in %.1f s (epoch %d/%d: dev_loss %.4f cinc_f1 %.3f)", lab, d,
                r->epoch, r->max_epochs, r->dev_loss, r->cinc_f1);
        else
            say(c, "done    %s in %.1f s", lab, d);
        break;
    }
    case SCHED_EV_RETRY:
        status_fields(j, st, sizeof st);
        jlog(c, r->id, "retry", "attempt=%d %s", j->attempt, st);
        status_text(j, st, sizeof st);
        say(c, "retry   %s: attempt %d failed (%s); log %s/job.log", lab, j->attempt, st, dir);
        break;
    case SCHED_EV_FAILED:
        status_fields(j, st, sizeof st);
        jlog(c, r->id, "failed", "attempt=%d %s", j->attempt, st);
        status_text(j, st, sizeof st);
        say(c, "FAILED  %s after %d attempt%s (%s); log %s/job.log", lab, j->attempt,
            j->attempt == 1 ? "" : "s", st, dir);
        break;
    case SCHED_EV_KILLED:
        status_fields(j, st, sizeof st);
        jlog(c, r->id, "killed", "attempt=%d %s", j->attempt, st);
        say(c, "stopped %s (%s)", lab, j->term_signal ? strsignal(j->term_signal) : "exited");
        break;
    case SCHED_EV_STOPPING:
        break;
    }
}

/* "epoch   3/12  train_loss 0.4321  dev_loss 0.5123  cinc_f1 0.612  F1 N ..." */
static void line_hook(sched *s, sched_job *j, const char *line)
{
    (void)s;
    run_job *r = rjob(j);
    sweep_epoch ep;
    if (sweep_epoch_parse(line, &ep)) {
        r->epoch = ep.epoch;
        r->max_epochs = ep.max_epochs;
        r->train_loss = ep.train_loss;
        r->dev_loss = ep.dev_loss;
        r->cinc_f1 = ep.cinc_f1;
    }
}

static int check_hook(sched *s, sched_job *j)
{
    run_ctx *c = s->data;
    rerr why;
    return job_state(c, rjob(j), &why) == SWEEP_DONE;
}

/* ---- launching one attempt ---- */

static int prepare_hook(sched *s, sched_job *j, sched_cmd *cmd, rerr *e)
{
    run_ctx *c = s->data;
    run_job *r = rjob(j);
    char dir[4200], yaml[4300], logp[4300];
    job_dir(c, r, dir, sizeof dir);
    if (path_join3(yaml, sizeof yaml, dir, RUNDIR_JOB_YAML, NULL) ||
        path_join3(logp, sizeof logp, dir, RUNDIR_JOB_LOG, NULL))
        return rerr_set(e, "%s: path too long", dir);
    if (sweep_dir_job_config(&c->ss->plan, r->sj, dir, e))
        return -1;
    /* a checkpoint of an unfinished run only: with a completion record
     * (other data or changed results: SWEEP_STALE) the job starts over, as
     * slurm_task.c decides it */
    int resume = job_file_exists(c, r, RUNDIR_LAST) && !job_file_exists(c, r, RUNDIR_COMPLETE);

    /* a header per attempt, so job.log reads as a history */
    rerr le;
    int fd = util_open(logp, O_WRONLY | O_CREAT | O_APPEND, UTIL_NOFOLLOW, &le);
    if (fd < 0)
        return rerr_set(e, "%s", le.msg); /* a FIFO or a link there: the job must not run */
    {
        char hdr[600], when[16];
        sweep_clock_text(when, sizeof when);
        int n = snprintf(hdr, sizeof hdr, "==== resecg sweep %s: job %s attempt %d at %s, %s%s%s\n",
                         c->ss->sw.name, r->id, j->attempt, when, j->gpus[0] ? "GPU " : "CPU",
                         j->gpus, resume ? ", resuming" : "");
        if (n > 0 && write(fd, hdr, (size_t)n) < 0) {
            /* the log is for people; the job can run without its header */
        }
        close(fd);
    }

    int a = 0;
    if (c->o->job_program) {
        c->argv[a++] = (char *)c->o->job_program;
    } else {
        c->argv[a++] = c->ss->exe;
        c->argv[a++] = "train";
    }
    snprintf(c->argstore[0], sizeof c->argstore[0], "%s", yaml);
    snprintf(c->argstore[1], sizeof c->argstore[1], "%s", dir);
    snprintf(c->argstore[2], sizeof c->argstore[2], "train.threads=%d", c->threads);
    c->argv[a++] = "--config";
    c->argv[a++] = c->argstore[0];
    c->argv[a++] = "--out";
    c->argv[a++] = c->argstore[1];
    /* an earlier attempt's files without a checkpoint to resume from are
     * cleared: train refuses a directory with another run's files in it */
    c->argv[a++] = resume ? "--resume" : "--fresh";
    c->argv[a++] = "--device";
    c->argv[a++] = (char *)c->device;
    /* concurrent OpenMP jobs on shared cores spin against each other's
     * barriers (50x slower, measured): each gets its share of the cores */
    c->argv[a++] = "--set";
    c->argv[a++] = c->argstore[2];
    c->argv[a] = NULL;

    int ne = c->nenv_base;
    snprintf(c->envstore[0], sizeof c->envstore[0], "CUDA_VISIBLE_DEVICES=%s", j->gpus);
    snprintf(c->envstore[1], sizeof c->envstore[1], "OMP_NUM_THREADS=%d", c->threads);
    snprintf(c->envstore[2], sizeof c->envstore[2], "RESECG_SWEEP_JOB=%s/%s", c->ss->root_abs, r->id);
    snprintf(c->envstore[3], sizeof c->envstore[3], "RESECG_SWEEP_ATTEMPT=%d", j->attempt);
    for (int k = 0; k < 4; k++)
        c->env[ne++] = c->envstore[k];
    /* nvidia-smi and NVML number GPUs in PCI order; CUDA's default order
     * (fastest first) may differ, and then "GPU 1" would be another card */
    c->env[ne++] = "CUDA_DEVICE_ORDER=PCI_BUS_ID";
    c->env[ne] = NULL;

    /* cmd is read after we return: everything it points to lives in c */
    snprintf(c->argstore[3], sizeof c->argstore[3], "%s", logp);
    cmd->argv = c->argv;
    cmd->env = c->env;
    cmd->log_path = c->argstore[3];
    return 0;
}

/* Our environment without the variables each attempt sets itself. */
static int env_init(run_ctx *c)
{
    static const char *const ours[] = {"CUDA_VISIBLE_DEVICES=", "OMP_NUM_THREADS=",
                                       "RESECG_SWEEP_JOB=", "RESECG_SWEEP_ATTEMPT=",
                                       "CUDA_DEVICE_ORDER=", NULL};
    int n = 0;
    while (environ && environ[n])
        n++;
    c->env = calloc((size_t)n + 8, sizeof *c->env);
    if (!c->env)
        return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        int skip = 0;
        for (int m = 0; ours[m]; m++)
            skip |= strncmp(environ[i], ours[m], strlen(ours[m])) == 0;
        if (!skip)
            c->env[k++] = environ[i];
    }
    c->nenv_base = k;
    return 0;
}

/* ---- slots ---- */

/* A batch system (Slurm, a shared workstation's convention) may hand us
 * some GPUs through CUDA_VISIBLE_DEVICES; NVML and nvidia-smi list them all,
 * so with --gpus auto only the visible ones are used. */
static int gpus_visible(run_ctx *c, gpu_info *g, int n)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    if (!v || n == 0)
        return n;
    int keep[GPU_MAX] = {0}, k = 0;
    for (const char *p = v; *p;) {
        char *end;
        long idx = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            say(c, "CUDA_VISIBLE_DEVICES=%s is not a list of GPU numbers: ignored (use --gpus)", v);
            return n;
        }
        for (int i = 0; i < n; i++)
            if (g[i].index == idx)
                keep[i] = 1;
        p = *end ? end + 1 : end;
    }
    for (int i = 0; i < n; i++)
        if (keep[i])
            g[k++] = g[i];
    if (k < n)
        say(c, "CUDA_VISIBLE_DEVICES=%s: using %d of the %d GPUs found", v, k, n);
    return k;
}

/* GPUs from --gpus (a list, auto or none), minus busy ones; fills the
 * scheduler's slots. Says what it decided. */
static int slots_plan(run_ctx *c, sched_opts *so, int npending, rerr *e)
{
    const sweep_run_opts *o = c->o;
    int ncpu = cpu_count();
    so->ngpu = 0;
    if (strcmp(o->gpus, "none") != 0) {
        gpu_info g[GPU_MAX];
        int n = 0;
        const char *source = "--gpus";
        if (strcmp(o->gpus, "auto") == 0) {
            n = gpu_discover(g, &source, e);
            if (n < 0)
                return -1;
            n = gpus_visible(c, g, n);
        } else {
            const char *p = o->gpus;
            while (*p) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v < 0 || v > 1023 || (*end && *end != ','))
                    return rerr_set(e, "--gpus %s: expected auto, none or a list like 0,1,3", o->gpus);
                if (n == GPU_MAX)
                    return rerr_set(e, "--gpus %s: more than %d GPUs", o->gpus, GPU_MAX);
                for (int k = 0; k < n; k++)
                    if (g[k].index == v)
                        return rerr_set(e, "--gpus %s: GPU %ld is listed twice", o->gpus, v);
                g[n].index = (int)v;
                g[n].total_mib = g[n].used_mib = -1;
                n++;
                p = *end ? end + 1 : end;
            }
        }
        for (int k = 0; k < n; k++) {
            int slots = o->jobs_per_gpu;
            if (g[k].total_mib > 0) {
                double share = (double)g[k].used_mib / (double)g[k].total_mib;
                if (share > o->busy_threshold) {
                    say(c, "GPU %d: %ld of %ld MiB in use by other processes (over %.0f%%): skipped",
                        g[k].index, g[k].used_mib, g[k].total_mib, 100 * o->busy_threshold);
                    continue;
                }
                if (c->ss->sw.gpu_memory > 0) {
                    long fit = (g[k].total_mib - g[k].used_mib) / c->ss->sw.gpu_memory;
                    if (fit < 1) {
                        say(c, "GPU %d: %ld MiB free, a job needs %ld (resources.gpu_memory): skipped",
                            g[k].index, g[k].total_mib - g[k].used_mib, c->ss->sw.gpu_memory);
                        continue;
                    }
                    if (fit < slots) {
                        say(c, "GPU %d: room for %ld jobs of %ld MiB, not %d", g[k].index, fit,
                            c->ss->sw.gpu_memory, slots);
                        slots = (int)fit;
                    }
                }
            }
            if (so->ngpu == SCHED_MAX_GPUS)
                break;
            so->gpu[so->ngpu].index = g[k].index;
            so->gpu[so->ngpu].slots = slots;
            so->ngpu++;
        }
        if (so->ngpu == 0 && strcmp(o->gpus, "auto") != 0)
            return rerr_set(e, "--gpus %s: no usable GPU", o->gpus);
        if (so->ngpu == 0 && n > 0)
            say(c, "no usable GPU (of %d found by %s): running on the CPU", n, source);
        if (so->ngpu > 0 && so->ngpu < c->ss->sw.gpus)
            return rerr_set(e, "each job needs %d GPUs (resources.gpus) but %d are usable",
                            c->ss->sw.gpus, so->ngpu);
    }
    int slots;
    if (so->ngpu > 0) {
        slots = 0;
        for (int k = 0; k < so->ngpu; k++)
            slots += so->gpu[k].slots;
        slots /= c->ss->sw.gpus;
        if (o->max_parallel > 0 && o->max_parallel < slots)
            slots = o->max_parallel;
        so->max_parallel = o->max_parallel;
    } else {
        /* one job per core: a sweep wants throughput, and single-threaded
         * training wastes nothing on barriers */
        slots = o->max_parallel > 0 ? o->max_parallel : ncpu;
        so->cpu_slots = slots;
        so->max_parallel = slots;
    }
    c->parallel = slots < npending ? slots : npending;
    if (c->parallel < 1)
        c->parallel = 1;
    c->threads = ncpu / c->parallel;
    if (c->threads < 1)
        c->threads = 1;
    c->device = o->device ? o->device : so->ngpu > 0 ? "cuda" : "cpu";
    char gl[400] = "";
    for (int k = 0; k < so->ngpu; k++)
        snprintf(gl + strlen(gl), sizeof gl - strlen(gl), "%s%d(x%d)", k ? "," : "",
                 so->gpu[k].index, so->gpu[k].slots);
    if (so->ngpu > 0)
        say(c, "GPUs %s, %d job%s at a time, %d CPU thread%s each, device %s", gl, slots,
            slots == 1 ? "" : "s", c->threads, c->threads == 1 ? "" : "s", c->device);
    else
        say(c, "CPU only: %d job%s at a time, %d thread%s each (%d cores), device %s", slots,
            slots == 1 ? "" : "s", c->threads, c->threads == 1 ? "" : "s", ncpu, c->device);
    return 0;
}

/* ---- processes left behind by a scheduler that died ---- */

/* Whether pid is alive and one of ours: a job of this sweep started with
 * RESECG_SWEEP_JOB=<dir> in its environment (a recycled pid is not). */
static int proc_is_job(long pid, const char *want)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/environ", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    static char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0; /* gone, or a zombie */
    buf[n] = '\0';
    size_t wl = strlen(want);
    for (ssize_t i = 0; i < n;) {
        if (strncmp(buf + i, want, wl) == 0 && buf[i + (ssize_t)wl] == '\0')
            return 1;
        i += (ssize_t)strlen(buf + i) + 1;
    }
    return 0;
}

static int proc_alive(long pid)
{
    char p[64], st[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *fp = fopen(p, "r");
    if (!fp)
        return 0;
    size_t n = fread(st, 1, sizeof st - 1, fp);
    fclose(fp);
    st[n] = '\0';
    const char *rp = strrchr(st, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

typedef struct stale_scan {
    char (*id)[13];
    long *pid;
    int n, cap;
} stale_scan;

/* the last "started" of each job with no end after it */
static int stale_visit(const journal_entry *en, void *data)
{
    stale_scan *ss = data;
    if (strcmp(en->id, "-") == 0 || strlen(en->id) != 12)
        return 0;
    int k = -1;
    for (int i = 0; i < ss->n; i++)
        if (strcmp(ss->id[i], en->id) == 0)
            k = i;
    if (strcmp(en->event, "started") == 0) {
        char pid[32];
        if (journal_field(en->fields, "pid", pid, sizeof pid) != 0)
            return 0;
        if (k < 0) {
            if (ss->n == ss->cap) {
                int cap = ss->cap ? ss->cap * 2 : 64;
                void *a = realloc(ss->id, sizeof *ss->id * (size_t)cap);
                if (!a)
                    return -1;
                ss->id = a;
                void *b = realloc(ss->pid, sizeof *ss->pid * (size_t)cap);
                if (!b)
                    return -1;
                ss->pid = b;
                ss->cap = cap;
            }
            k = ss->n++;
            memcpy(ss->id[k], en->id, 13);
        }
        ss->pid[k] = atol(pid);
    } else if (k >= 0) {
        ss->pid[k] = 0; /* done, failed, killed, retry: that attempt ended */
    }
    return 0;
}

/* A scheduler killed with SIGKILL cannot stop its children: they run on in
 * their own process groups. Before running anything, stop those still at
 * work in this sweep's directories, so no job runs twice at once. */
static void stale_stop(run_ctx *c, const char *jpath)
{
    stale_scan ss = {0};
    rerr e;
    if (journal_read(jpath, stale_visit, &ss, &e) != 0)
        say(c, "warning: %s", e.msg);
    for (int i = 0; i < ss.n; i++) {
        if (ss.pid[i] <= 0)
            continue;
        char want[4300];
        snprintf(want, sizeof want, "RESECG_SWEEP_JOB=%s/%s", c->ss->root_abs, ss.id[i]);
        if (!proc_is_job(ss.pid[i], want))
            continue;
        long pid = ss.pid[i];
        say(c, "job %s (pid %ld) is still running from an earlier scheduler: stopping it", ss.id[i],
            pid);
        kill(-(pid_t)pid, SIGTERM);
        double until = util_now() + c->o->grace_s;
        while (proc_alive(pid) && util_now() < until) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        int hard = proc_alive(pid);
        if (hard)
            kill(-(pid_t)pid, SIGKILL);
        jlog(c, ss.id[i], "killed", "pid=%ld signal=%d note=left running by an earlier scheduler", pid,
             hard ? SIGKILL : SIGTERM);
    }
    free(ss.id);
    free(ss.pid);
}

/* The jobs still to run as the scheduler's, with the slots they run in
 * (before anything is written: a bad --gpus leaves no trace). */
static int run_jobs_plan(run_ctx *c, sched_opts *so, rerr *e)
{
    sweep_session *ss = c->ss;
    c->rj = calloc(ss->npending ? ss->npending : 1, sizeof *c->rj);
    c->jobs = calloc(ss->npending ? ss->npending : 1, sizeof *c->jobs);
    if (!c->rj || !c->jobs)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < ss->npending; i++) {
        run_job *r = &c->rj[i];
        r->sj = &ss->plan.jobs[ss->pending[i]];
        sweep_id_hex(r->sj->id, r->id);
        c->jobs[i].data = r;
        c->jobs[i].ngpus = ss->sw.gpus;
    }
    c->njobs = ss->npending;
    c->nskipped = ss->nskipped;
    sched_opts_default(so);
    if (slots_plan(c, so, c->njobs, e))
        return -1;
    if (so->ngpu == 0)
        for (int i = 0; i < c->njobs; i++)
            c->jobs[i].ngpus = 0;
    return 0;
}

/* journal.log's sweep-start and queued lines for the whole run in one
 * write and one fsync. */
static void run_journal_start(run_ctx *c)
{
    size_t cap = (size_t)c->njobs * 80 + 256, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return;
    char f[200];
    snprintf(f, sizeof f, "jobs=%zu pending=%d done=%d pid=%ld file=%s", c->ss->plan.njobs,
             c->njobs, c->nskipped, (long)getpid(), c->ss->sw.path);
    len += journal_format(buf + len, cap - len, "-", "sweep-start", f);
    for (int i = 0; i < c->njobs; i++)
        len += journal_format(buf + len, cap - len, rjob(&c->jobs[i])->id, "queued", NULL);
    rerr je;
    if (journal_append_raw(&c->ss->jr, buf, len, &je) != 0)
        say(c, "warning: %s", je.msg);
    free(buf);
}

sweep_outcome sweep_run(const char *path, const sweep_run_opts *o, rerr *e)
{
    sweep_session ss;
    sweep_outcome out;
    run_ctx *c = NULL;
    uv_loop_t loop;
    int loop_ok = 0, sched_ok = 0;
    sched_opts so;
    if (sweep_session_open(&ss, path, o, &out, e))
        goto done;
    out.end = SWEEP_END_BAD_INPUT;
    c = calloc(1, sizeof *c);
    if (!c) {
        rerr_set(e, "out of memory");
        goto done;
    }
    c->ss = &ss;
    c->o = o;
    c->live = o->live >= 0 ? o->live : isatty(2);
    if (run_jobs_plan(c, &so, e))
        goto done;

    out.end = SWEEP_END_RESULTS; /* what fails from here on is the results directory */
    if (sweep_session_results(&ss, &out, e))
        goto done;
    stale_stop(c, ss.jpath);
    if (env_init(c) != 0) {
        rerr_set(e, "out of memory");
        goto done;
    }
    so.retries = o->retries;
    so.fail_fast = o->fail_fast;
    so.grace_s = o->grace_s;
    so.backoff_s = o->backoff_s;
    so.tick_s = c->live ? 0.5 : 0;
    sched_hooks h = {prepare_hook, check_hook, event_hook, line_hook, tick_hook};
    run_journal_start(c);
    say(c, "sweep %s: %zu jobs, %d already done, %d to run%s; results in %s", ss.sw.name,
        ss.plan.njobs, c->nskipped, c->njobs, ss.unselected, ss.root);
    if (ss.nstale)
        say(c, "%d finished job%s no longer match%s and run%s again: %s", ss.nstale,
            ss.nstale == 1 ? "" : "s", ss.nstale == 1 ? "es" : "", ss.nstale == 1 ? "s" : "",
            ss.stale);

    if (uv_loop_init(&loop) != 0) {
        rerr_set(e, "cannot start the event loop");
        goto done;
    }
    loop_ok = 1;
    if (sched_init(&c->s, &loop, &so, &h, c->jobs, c->njobs, e))
        goto done;
    sched_ok = 1;
    c->s.data = c;
    sched_run(&c->s);
    table_erase(c);
    sweep_session_end(&ss, c->s.ndone + c->nskipped, c->s.nfailed,
                      c->s.nkilled + c->s.nqueued + c->s.nbackoff, c->s.stopping,
                      c->s.stop_signal, 0, &out);
done:
    if (sched_ok)
        sched_free(&c->s);
    if (loop_ok)
        uv_loop_close(&loop);
    if (c) {
        free(c->env);
        free(c->rj);
        free(c->jobs);
        free(c);
    }
    sweep_session_close(&ss);
    return out;
}

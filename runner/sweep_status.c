/* Reading a sweep back, without running it: `sweep plan` (its jobs and
 * which are finished), `sweep status` (an output directory's state, from
 * jobs.tsv, the journal, the run directories and Slurm's queue) and `sweep
 * adopt` (older resecg's finished jobs recorded as finished); see
 * sweep_status.h. */
#define _GNU_SOURCE
#include "sweep_status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "run/rundir.h"
#include "slurm_cmd.h"
#include "sweep.h"
#include "sweep_dir.h"

/* ---- plan ---- */

int sweep_plan_print(const char *path, const char *out_root, FILE *out, rerr *e)
{
    sweep sw;
    sweep_plan plan;
    if (sweep_load(&sw, path, e))
        return -1;
    double t0 = util_now();
    if (sweep_expand(&sw, &plan, e)) {
        sweep_free(&sw);
        return -1;
    }
    double secs = util_now() - t0;
    char root[4200];
    snprintf(root, sizeof root, "%s/%s", out_root, sw.name);
    uint64_t points = 1;
    for (int d = 0; d < sw.ndims; d++)
        points *= (uint64_t)sw.dims[d].nvalues;
    fprintf(out, "sweep %s (%s): %zu job%s = %d variant%s x %" PRIu64 " grid point%s x %d seed%s", sw.name,
            sw.path, plan.njobs, plan.njobs == 1 ? "" : "s", sw.nvariants, sw.nvariants == 1 ? "" : "s", points,
            points == 1 ? "" : "s", sw.nseeds ? sw.nseeds : 1, sw.nseeds == 1 ? "" : "s");
    if (sw.ninclude)
        fprintf(out, ", %d include entr%s", sw.ninclude, sw.ninclude == 1 ? "y" : "ies");
    if (plan.nexcluded)
        fprintf(out, ", %zu excluded", plan.nexcluded);
    if (plan.nduplicates)
        fprintf(out, ", %zu duplicate%s dropped", plan.nduplicates, plan.nduplicates == 1 ? "" : "s");
    fprintf(out, "\nbase %s; %d GPU%s per job; run directories %s/<id>/ (expanded in %.3f s)\n",
            sw.config ? sw.config : "(built-in defaults)", sw.gpus, sw.gpus == 1 ? "" : "s", root,
            secs);
    size_t vw = 7;
    for (int v = 0; v < sw.nvariants; v++)
        if (strlen(sw.variants[v].name) > vw)
            vw = strlen(sw.variants[v].name);
    fprintf(out, "%-12s  %-*s  %-6s  %-5s  %s\n", "id", (int)vw, "variant", "seed", "state",
            "overrides");
    size_t ndone = 0;
    char ov[2000], hex[13], dir[4300];
    sweep_done_cache *cache = calloc(1, sizeof *cache);
    if (!cache) {
        sweep_plan_free(&plan);
        sweep_free(&sw);
        return rerr_set(e, "out of memory");
    }
    static const char *const state[] = {"-", "done", "stale", "older"};
    for (size_t i = 0; i < plan.njobs; i++) {
        const sweep_job *j = &plan.jobs[i];
        sweep_id_hex(j->id, hex);
        sweep_job_overrides(&plan, j, ov, sizeof ov);
        snprintf(dir, sizeof dir, "%s/%s", root, hex);
        rerr why;
        int st = sweep_job_done(&plan, j, dir, cache, &why, &why);
        if (st < 0)
            st = SWEEP_NOT_DONE;
        ndone += st == SWEEP_DONE;
        fprintf(out, "%-12s  %-*s  %-6" PRIu64 "  %-5s  %s\n", hex, (int)vw,
                sweep_job_variant(&plan, j), j->seed, state[st], ov[0] ? ov : "-");
    }
    free(cache);
    if (ndone)
        fprintf(out, "%zu of %zu jobs already done in %s\n", ndone, plan.njobs, root);
    sweep_plan_free(&plan);
    sweep_free(&sw);
    return 0;
}

/* ---- status ---- */

typedef struct st_job {
    char id[13];
    char *variant, *seed, *overrides; /* into the manifest text */
    char last[16];                    /* last journal event */
    int attempts;
    char status[160];                 /* fields of the last end: "exit=3 signal=9 ..." or done's */
    char slurm[32];                   /* Slurm task of its last submission ("12_3"), or "" */
    int done;
    const char *state;                /* as shown: done, running, pending, failed, ... */
    char detail[400];
} st_job;

typedef struct st_ctx {
    st_job *jobs;
    int n;
    int *order; /* indexes sorted by id */
} st_ctx;

static st_ctx *st_sort_ctx;

static int st_cmp(const void *a, const void *b)
{
    return strcmp(st_sort_ctx->jobs[*(const int *)a].id, st_sort_ctx->jobs[*(const int *)b].id);
}

static st_job *st_find(st_ctx *st, const char *id)
{
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int r = strcmp(st->jobs[st->order[mid]].id, id);
        if (r == 0)
            return &st->jobs[st->order[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int st_visit(const journal_entry *en, void *data)
{
    st_ctx *st = data;
    st_job *j = st_find(st, en->id);
    if (!j || strcmp(en->event, "queued") == 0)
        return 0;
    /* a Slurm job is "submitted" then maybe seen "started"; "adopted" is
     * a later run following it: one attempt */
    if (strcmp(en->event, "submitted") == 0) {
        j->attempts++;
        journal_field(en->fields, "slurm", j->slurm, sizeof j->slurm);
    } else if (strcmp(en->event, "started") == 0 && !j->slurm[0]) {
        j->attempts++;
    }
    if (strcmp(en->event, "adopted") != 0 && strcmp(en->event, "started") != 0)
        snprintf(j->last, sizeof j->last, "%s", en->event);
    else if (strcmp(en->event, "started") == 0 && !j->slurm[0])
        snprintf(j->last, sizeof j->last, "%s", en->event);
    else if (strcmp(en->event, "started") == 0)
        snprintf(j->last, sizeof j->last, "%s", "submitted");
    if (strcmp(en->event, "failed") == 0 || strcmp(en->event, "retry") == 0 ||
        strcmp(en->event, "killed") == 0 || strcmp(en->event, "done") == 0)
        snprintf(j->status, sizeof j->status, "%s", en->fields);
    return 0;
}

/* The last n lines of a file, each indented. */
static void print_tail(FILE *out, const char *path, int n)
{
    rerr e;
    FILE *fp = util_fopen_read(path, UTIL_NOFOLLOW, &e);
    if (!fp) {
        fprintf(out, "      (no log: %s)\n", e.msg);
        return;
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    long from = size > 8192 ? size - 8192 : 0;
    fseek(fp, from, SEEK_SET);
    char buf[8193];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[len] = '\0';
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    int lines = 0;
    size_t start = len;
    while (start > 0 && lines < n) {
        start--;
        if (buf[start] == '\n' && ++lines == n) {
            start++;
            break;
        }
    }
    for (char *l = buf + start; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        for (char *q = l; *q; q++) /* progress bars' carriage returns */
            if (*q == '\r')
                *q = ' ';
        fprintf(out, "      | %s\n", l);
        l = nl ? nl + 1 : NULL;
    }
}

/* "exit=3 signal=9 note=..." -> "exit status 3" / "killed by signal 9 (Killed)" */
static void st_describe(const char *fields, char *buf, size_t n)
{
    char ex[32] = "?", sig[32] = "", note[200] = "";
    journal_field(fields, "exit", ex, sizeof ex);
    journal_field(fields, "signal", sig, sizeof sig);
    journal_field(fields, "note", note, sizeof note);
    if (sig[0])
        snprintf(buf, n, "killed by signal %s (%s), status %s%s%s", sig, strsignal(atoi(sig)), ex,
                 note[0] ? "; " : "", note);
    else
        snprintf(buf, n, "exit status %s%s%s", ex, note[0] ? "; " : "", note);
}

/* The last epoch line of a job's log, "  [epoch ...]", into detail. */
static void st_last_epoch(const char *dir, const st_job *j, char *detail, size_t n)
{
    char p[4200], line[512];
    snprintf(p, sizeof p, "%s/%s/" RUNDIR_JOB_LOG, dir, j->id);
    FILE *fp = util_fopen_read(p, UTIL_NOFOLLOW, NULL);
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "epoch", 5) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(detail, n, "  [%.200s]", line);
        }
    fclose(fp);
}

/* A job's state from its run directory (f1.csv decides done), the queue
 * (Slurm jobs), the journal, and whether a local scheduler runs. */
static void st_resolve(st_job *j, const char *dir, int running, const slurm_task *queue, int nqueue)
{
    j->detail[0] = '\0';
    if (j->done) {
        j->state = "done";
        char ep[32], dl[32], f1[32];
        if (strcmp(j->last, "done") == 0 && journal_field(j->status, "epochs", ep, sizeof ep) == 0 &&
            journal_field(j->status, "dev_loss", dl, sizeof dl) == 0 &&
            journal_field(j->status, "cinc_f1", f1, sizeof f1) == 0 && atoi(ep) > 0)
            snprintf(j->detail, sizeof j->detail, "  [epoch %s: dev_loss %s cinc_f1 %s]", ep, dl, f1);
        return;
    }
    if (j->slurm[0] && strcmp(j->last, "submitted") == 0) {
        long a;
        int t;
        const slurm_task *q = NULL;
        if (sscanf(j->slurm, "%ld_%d", &a, &t) == 2 && queue)
            q = slurm_queue_find(queue, nqueue, a, t);
        if (q && (strcmp(q->state, "PENDING") == 0 || strcmp(q->state, "CONFIGURING") == 0 ||
                  strcmp(q->state, "REQUEUED") == 0)) {
            j->state = "pending";
            snprintf(j->detail, sizeof j->detail, "  [Slurm %s: %s]", j->slurm, q->reason);
            return;
        }
        if (q) {
            j->state = "running";
            char ep[250] = "";
            st_last_epoch(dir, j, ep, sizeof ep);
            snprintf(j->detail, sizeof j->detail, "  [Slurm %s on %.40s %.20s]%s", j->slurm, q->node,
                     q->state, ep);
            return;
        }
        if (!queue) {
            j->state = "in Slurm"; /* squeue failed: last known, submitted */
            snprintf(j->detail, sizeof j->detail, "  [Slurm %s]", j->slurm);
            return;
        }
        /* it left the queue while no monitor watched: its exit record says how */
        char p[4200], *text = NULL, got[32] = "";
        size_t len;
        rerr e;
        snprintf(p, sizeof p, "%s/%s/slurm.exit", dir, j->id);
        if (util_file_exists(p) && util_read_file_kind(p, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, &e) == 0) {
            text[strcspn(text, "\n")] = '\0';
            journal_field(text, "slurm", got, sizeof got);
            if (strcmp(got, j->slurm) == 0) {
                snprintf(j->status, sizeof j->status, "%s", text);
                snprintf(j->last, sizeof j->last, "failed");
            }
            free(text);
        }
        if (strcmp(j->last, "failed") != 0) {
            j->state = "interrupted";
            snprintf(j->detail, sizeof j->detail, "  [Slurm %s left the queue without a result]",
                     j->slurm);
            return;
        }
    }
    if (running && strcmp(j->last, "started") == 0) {
        j->state = "running";
        st_last_epoch(dir, j, j->detail, sizeof j->detail);
    } else if (strcmp(j->last, "failed") == 0) {
        j->state = "failed";
        char d[300];
        st_describe(j->status, d, sizeof d);
        snprintf(j->detail, sizeof j->detail, "  [%s%s%s]", d, j->slurm[0] ? ", Slurm " : "", j->slurm);
    } else if (j->last[0] && strcmp(j->last, "done") != 0) {
        j->state = "interrupted"; /* will run again, resuming from its checkpoint */
    } else {
        j->state = "queued";
    }
}

/* jobs.tsv's jobs into st (fields point into text, which it cuts),
 * sorted by id; a job listed twice is an error. */
static int status_jobs(st_ctx *st, const char *dir, char *text, size_t len, rerr *e)
{
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    st->jobs = calloc((size_t)lines + 1, sizeof *st->jobs);
    st->order = calloc((size_t)lines + 1, sizeof *st->order);
    if (!st->jobs || !st->order)
        return rerr_set(e, "out of memory");
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (l[0] != '#') {
            char *f[4] = {l, NULL, NULL, NULL};
            for (int k = 1; k < 4 && f[k - 1]; k++) {
                char *t = strchr(f[k - 1], '\t');
                if (t) {
                    *t = '\0';
                    f[k] = t + 1;
                }
            }
            if (f[3] && strlen(f[0]) == 12) {
                st_job *j = &st->jobs[st->n];
                memcpy(j->id, f[0], 13);
                j->variant = f[1];
                j->seed = f[2];
                j->overrides = f[3];
                st->order[st->n] = st->n;
                st->n++;
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    st_sort_ctx = st;
    qsort(st->order, (size_t)st->n, sizeof *st->order, st_cmp);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->jobs[st->order[i]].id, st->jobs[st->order[i - 1]].id) == 0)
            return rerr_set(e, "%s/jobs.tsv: job %s is listed twice: the file is damaged (`sweep "
                               "run` writes it anew)",
                            dir, st->jobs[st->order[i]].id);
    return 0;
}

/* Whether a scheduler runs on dir (it holds the lock), and its pid. */
static int status_scheduler(const char *dir, char *pid, size_t n)
{
    char p[4200];
    int running = 0;
    pid[0] = '\0';
    snprintf(p, sizeof p, "%s/.lock", dir);
    int fd = util_open(p, O_RDONLY, UTIL_NOFOLLOW, NULL);
    if (fd >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
            running = 1;
            ssize_t got = pread(fd, pid, n - 1, 0);
            pid[got > 0 ? got : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
        }
        close(fd);
    }
    return running;
}

/* The failed jobs, each with why and the end of its job.log. */
static void status_failures(const st_ctx *st, const char *dir, FILE *out)
{
    fprintf(out, "\nfailures:\n");
    for (int i = 0; i < st->n; i++) {
        const st_job *j = &st->jobs[i];
        if (strcmp(j->state, "failed") != 0)
            continue;
        char d[300], p[4200];
        st_describe(j->status, d, sizeof d);
        fprintf(out, "  %s (%s seed %s%s%s): %s after %d attempt%s\n", j->id, j->variant, j->seed,
                j->overrides[0] ? " " : "", j->overrides, d, j->attempts,
                j->attempts == 1 ? "" : "s");
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_JOB_LOG, dir, j->id);
        fprintf(out, "    last lines of %s:\n", p);
        print_tail(out, p, 10);
    }
}

static int status_write(const char *dir, FILE *out, rerr *e)
{
    char p[4200], *text = NULL;
    size_t len;
    st_ctx st = {0};
    int rc = -1;
    snprintf(p, sizeof p, "%s/jobs.tsv", dir);
    if (access(p, R_OK) != 0)
        return rerr_set(e, "%s: not a sweep output directory (no jobs.tsv; has `sweep run` started?)",
                        dir);
    if (util_read_file_kind(p, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, e))
        return -1;
    if (status_jobs(&st, dir, text, len, e))
        goto done;
    snprintf(p, sizeof p, "%s/journal.log", dir);
    if (journal_read(p, st_visit, &st, e))
        goto done;
    char pid[32];
    int running = status_scheduler(dir, pid, sizeof pid);
    /* Slurm jobs whose last task may still be queued: one squeue for all */
    slurm_task *queue = NULL;
    int nqueue = 0, slurm_jobs = 0, slurm_ok = 0;
    char slurm_err[1024] = "";
    for (int i = 0; i < st.n; i++) {
        st_job *j = &st.jobs[i];
        snprintf(p, sizeof p, "%s/%s", dir, j->id);
        j->done = rundir_is_complete(p, NULL, NULL); /* the data is the sweep run's to check */
        slurm_jobs += !j->done && j->slurm[0] && strcmp(j->last, "submitted") == 0;
    }
    if (slurm_jobs) {
        rerr qe = {{0}};
        slurm_ok = slurm_queue(&queue, &nqueue, &qe) == 0;
        if (!slurm_ok)
            snprintf(slurm_err, sizeof slurm_err, "%s", qe.msg);
    }
    int ndone = 0, nrun = 0, nfail = 0, nqueued = 0, npend = 0;
    for (int i = 0; i < st.n; i++) {
        st_job *j = &st.jobs[i];
        st_resolve(j, dir, running, slurm_ok ? queue : NULL, nqueue);
        ndone += strcmp(j->state, "done") == 0;
        nrun += strcmp(j->state, "running") == 0;
        nfail += strcmp(j->state, "failed") == 0;
        npend += strcmp(j->state, "pending") == 0;
        nqueued += strcmp(j->state, "queued") == 0 || strcmp(j->state, "interrupted") == 0 ||
                   strcmp(j->state, "in Slurm") == 0;
    }
    free(queue);
    fprintf(out, "sweep %s: %d jobs: %d done, %d running, %d failed, %d queued", dir, st.n, ndone, nrun,
            nfail, nqueued + npend);
    if (slurm_jobs)
        fprintf(out, " (%d pending in Slurm)", npend);
    fprintf(out, "; %s\n", running ? "scheduler running" : "no scheduler running");
    if (running)
        fprintf(out, "scheduler pid %s\n", pid);
    if (slurm_jobs && !slurm_ok)
        fprintf(out, "squeue failed, so Slurm jobs show their last recorded state: %s\n", slurm_err);
    fprintf(out, "%-12s  %-11s  %-8s  %-10s  %-6s  %s\n", "id", "state", "attempts", "variant", "seed",
            "overrides / detail");
    for (int i = 0; i < st.n; i++) {
        st_job *j = &st.jobs[i];
        fprintf(out, "%-12s  %-11s  %-8d  %-10s  %-6s  %s%s\n", j->id, j->state, j->attempts, j->variant,
                j->seed, j->overrides[0] ? j->overrides : "-", j->detail);
    }
    if (nfail)
        status_failures(&st, dir, out);
    rc = 0;
done:
    free(st.jobs);
    free(st.order);
    free(text);
    return rc;
}

/* Job logs, journal notes and Slurm's reasons are other programs' text:
 * everything goes through util_fputs_safe on its way to the terminal. */
int sweep_status(const char *dir, FILE *out, rerr *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    if (!ms)
        return rerr_set(e, "out of memory");
    int rc = status_write(dir, ms, e);
    if (fclose(ms) != 0 && rc == 0)
        rc = rerr_set(e, "out of memory");
    if (rc == 0)
        util_fputs_safe(buf, out);
    free(buf);
    return rc;
}

/* ---- adopt ---- */

sweep_outcome sweep_adopt(const char *path, const char *out_root, FILE *msg, rerr *e)
{
    sweep_outcome out = {.end = SWEEP_END_BAD_INPUT};
    sweep sw;
    sweep_plan plan;
    memset(&plan, 0, sizeof plan);
    if (sweep_load(&sw, path, e))
        return out;
    if (sweep_expand(&sw, &plan, e)) {
        sweep_free(&sw);
        return out;
    }
    int lock_fd = -1, adopted = 0, bad = 0, done = 0;
    char root[4200], dir[4400], hex[13];
    sweep_done_cache *cache = calloc(1, sizeof *cache);
    if (!cache) {
        rerr_set(e, "out of memory");
        goto out;
    }
    if (snprintf(root, sizeof root, "%s/%s", out_root, sw.name) >= (int)sizeof root) {
        rerr_set(e, "%s: path too long", out_root);
        goto out;
    }
    if (sweep_dir_check_data(&sw, e))
        goto out;
    out.end = SWEEP_END_RESULTS;
    if (sweep_dir_lock(root, &lock_fd, e)) /* no scheduler may run meanwhile */
        goto out;
    for (size_t i = 0; i < plan.njobs; i++) {
        const sweep_job *j = &plan.jobs[i];
        sweep_id_hex(j->id, hex);
        snprintf(dir, sizeof dir, "%s/%s", root, hex);
        rerr why;
        int st = sweep_job_done(&plan, j, dir, cache, &why, e);
        if (st < 0)
            goto out;
        done += st == SWEEP_DONE;
        if (st != SWEEP_LEGACY)
            continue;
        if (sweep_job_adopt(&plan, j, dir, cache, &why) != 0) {
            fprintf(msg, "not adopted: %s (%s seed %" PRIu64 "): %s\n", hex,
                    sweep_job_variant(&plan, j), j->seed, why.msg);
            bad++;
            continue;
        }
        fprintf(msg, "adopted %s (%s seed %" PRIu64 ")\n", hex, sweep_job_variant(&plan, j),
                j->seed);
        adopted++;
    }
    fprintf(msg, "sweep %s: %d adopted, %d not, %d already complete, of %zu jobs in %s\n", sw.name,
            adopted, bad, done, plan.njobs, root);
    out.end = bad ? SWEEP_END_INCOMPLETE : SWEEP_END_DONE;
    out.jobs = (int)plan.njobs;
    out.done = done + adopted;
    out.failed = bad;
out:
    if (lock_fd >= 0)
        close(lock_fd);
    free(cache);
    sweep_plan_free(&plan);
    sweep_free(&sw);
    return out;
}

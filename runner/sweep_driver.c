/* The part of `sweep run` both backends share (sweep_driver.h). */
#define _GNU_SOURCE
#include "sweep_driver.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(sweep_outcome *out, sweep_end end)
{
    out->end = end;
    return -1;
}

/* The variants --variants names ("a,b") as sel[v] = 1; every variant when
 * it names none. A name the sweep file lacks, or an empty one, is an error
 * that lists the file's variants. */
static int variants_select(const sweep_session *s, unsigned char *sel, rerr *e)
{
    const sweep *sw = &s->sw;
    const char *list = s->o->variants;
    memset(sel, list ? 0 : 1, (size_t)sw->nvariants);
    for (const char *p = list; p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int v = 0; v < sw->nvariants && found < 0; v++)
            if (strlen(sw->variants[v].name) == n && memcmp(sw->variants[v].name, p, n) == 0)
                found = v;
        if (found < 0) {
            char names[600] = "";
            size_t o = 0;
            for (int v = 0; v < sw->nvariants && o < sizeof names; v++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", v ? ", " : "",
                                      sw->variants[v].name);
            return rerr_set(e, "--variants: %s%.*s%s: the sweep file %s has the variants %s",
                            n ? "no variant '" : "an empty name", (int)n, p, n ? "'" : "",
                            s->path, names);
        }
        sel[found] = 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* The pending jobs of s->plan (of the selected variants) into s->pending. */
static int pending_scan(sweep_session *s, sweep_outcome *out, rerr *e)
{
    const sweep_plan *plan = &s->plan;
    s->pending = malloc(sizeof *s->pending * (plan->njobs ? plan->njobs : 1));
    unsigned char *sel = malloc((size_t)s->sw.nvariants);
    if (!s->pending || !sel) {
        free(sel);
        rerr_set(e, "out of memory");
        return fail(out, SWEEP_END_BAD_INPUT);
    }
    if (variants_select(s, sel, e)) {
        free(sel);
        return fail(out, SWEEP_END_BAD_INPUT);
    }
    int nlegacy = 0;
    char legacy[13] = "";
    for (size_t i = 0; i < plan->njobs; i++) {
        char id[13], dir[4200];
        sweep_id_hex(plan->jobs[i].id, id);
        if (snprintf(dir, sizeof dir, "%s/%s", s->root, id) >= (int)sizeof dir) {
            rerr_set(e, "%s: path too long", s->root);
            return fail(out, SWEEP_END_BAD_INPUT);
        }
        rerr why = {{0}};
        int st = sweep_job_done(plan, &plan->jobs[i], dir, &s->done_cache, &why, e);
        if (st < 0) {
            free(sel);
            return fail(out, SWEEP_END_BAD_INPUT);
        }
        if (st == SWEEP_DONE) {
            s->nskipped++;
            continue;
        }
        if (!sel[plan->jobs[i].variant]) {
            s->nunselected++;
            continue;
        }
        if (st == SWEEP_LEGACY && !nlegacy++)
            snprintf(legacy, sizeof legacy, "%s", id);
        if (st == SWEEP_STALE && !s->nstale++)
            snprintf(s->stale, sizeof s->stale, "%s", why.msg);
        s->pending[s->npending++] = (int)i;
    }
    free(sel);
    if (s->nunselected)
        snprintf(s->unselected, sizeof s->unselected, ", %d not selected (--variants %.100s)",
                 s->nunselected, s->o->variants);
    if (nlegacy) {
        sweep_dir_legacy_error(s->root, nlegacy, legacy, s->path, s->o->out, e);
        return fail(out, SWEEP_END_RESULTS);
    }
    return 0;
}

int sweep_session_open(sweep_session *s, const char *path, const sweep_run_opts *o,
                       sweep_outcome *out, rerr *e)
{
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    s->path = path;
    s->o = o;
    s->lock_fd = -1;
    s->jr.fd = -1;
    s->t0 = util_now();
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &s->old_pipe); /* the children get default handling back from libuv */
    if (sweep_load(&s->sw, path, e) || sweep_expand(&s->sw, &s->plan, e) ||
        sweep_dir_check_data(&s->sw, e))
        return fail(out, SWEEP_END_BAD_INPUT);
    out->jobs = (int)s->plan.njobs;
    if (snprintf(s->root, sizeof s->root, "%s/%s", o->out, s->sw.name) >= (int)sizeof s->root) {
        rerr_set(e, "%s: path too long", o->out);
        return fail(out, SWEEP_END_BAD_INPUT);
    }
    if (util_self_exe(s->exe, sizeof s->exe, e))
        return fail(out, SWEEP_END_BAD_INPUT);
    return pending_scan(s, out, e);
}

int sweep_session_results(sweep_session *s, sweep_outcome *out, rerr *e)
{
    if (util_mkdir_p(s->root, e) || sweep_dir_lock(s->root, &s->lock_fd, e))
        return fail(out, SWEEP_END_RESULTS);
    if (!realpath(s->root, s->root_abs)) {
        rerr_set(e, "%s: %s", s->root, strerror(errno));
        return fail(out, SWEEP_END_RESULTS);
    }
    snprintf(s->jpath, sizeof s->jpath, "%s/journal.log", s->root);
    if (journal_open(&s->jr, s->jpath, e) || sweep_dir_manifest(s->root, &s->sw, &s->plan, e))
        return fail(out, SWEEP_END_RESULTS);
    return 0;
}

int sweep_session_job_state(sweep_session *s, const sweep_job *sj, const char *id, rerr *why)
{
    char dir[4200];
    if (snprintf(dir, sizeof dir, "%s/%s", s->root, id) >= (int)sizeof dir) {
        rerr_set(why, "%s: path too long", s->root);
        return SWEEP_NOT_DONE;
    }
    int st = sweep_job_done(&s->plan, sj, dir, &s->done_cache, why, why);
    return st < 0 ? SWEEP_NOT_DONE : st;
}

void sweep_session_job_label(const sweep_session *s, const sweep_job *sj, const char *id,
                             char *buf, size_t n)
{
    char ov[600];
    sweep_job_overrides(&s->plan, sj, ov, sizeof ov);
    snprintf(buf, n, "%s %s seed %" PRIu64 "%s%s", id, sweep_job_variant(&s->plan, sj), sj->seed,
             ov[0] ? " " : "", ov);
}

void sweep_session_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sweep_vsay(fmt, ap);
    va_end(ap);
}

void sweep_session_jlog(sweep_session *s, const char *id, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rerr e;
    int rc = journal_vappendf(&s->jr, &e, id, event, fmt, ap);
    va_end(ap);
    if (rc != 0 && e.msg[0])
        sweep_session_say("warning: %s", e.msg); /* once; the jobs themselves are unaffected */
}

void sweep_session_end(sweep_session *s, int done, int failed, int stopped, int stopping,
                       int stop_signal, int quiet, sweep_outcome *out)
{
    double secs = util_now() - s->t0;
    sweep_session_jlog(s, "-", "sweep-end", "done=%d failed=%d stopped=%d seconds=%.1f", done,
                       failed, stopped, secs);
    if (!quiet)
        sweep_session_say("sweep %s: %d of %zu jobs done, %d failed%s%s (%.1f s); `resecg sweep "
                          "status %s` for details",
                          s->sw.name, done, s->plan.njobs, failed, s->unselected,
                          stopping ? ", stopped early" : "", secs, s->root);
    out->done = done;
    out->failed = failed;
    out->signal = stop_signal;
    out->end = stop_signal                            ? SWEEP_END_SIGNAL
               : done + s->nunselected == out->jobs ? SWEEP_END_DONE
                                                      : SWEEP_END_INCOMPLETE;
}

void sweep_session_close(sweep_session *s)
{
    journal_close(&s->jr);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->pending);
    sweep_plan_free(&s->plan);
    sweep_free(&s->sw);
    sigaction(SIGPIPE, &s->old_pipe, NULL);
}

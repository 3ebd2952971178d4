/* The libuv process pool (see sched.h).
 *
 * Each attempt is a `sched_proc` holding three handles: the child process,
 * the pipe its stdout and stderr share, and a timer that bounds how long we
 * wait for the pipe's end after the child exits (a grandchild that escaped
 * the process group could hold it open for ever). The attempt ends when the
 * child has exited AND its output is drained, so the log and the last
 * progress line are complete before anyone hears the job ended; the
 * sched_proc itself is freed only when all three close callbacks have run. */
#include "scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* After the child exits, how long its output may keep coming. */
#define SCHED_DRAIN_MS 2000

typedef struct sched_proc {
    uv_process_t process;
    uv_pipe_t pipe;
    uv_timer_t drain;
    sched *s;
    sched_job *job;
    int open;       /* handles not yet closed */
    int exited, eof, ended;
    int64_t exit_status;
    int term_signal;
    int log_fd;
    size_t linelen;
    char line[4096];
    char rbuf[16384];
} sched_proc;

typedef struct sched_backoff {
    uv_timer_t timer;
    sched *s;
    sched_job *job;
} sched_backoff;

static void sched_fill(sched *s);

void sched_opts_default(sched_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cpu_slots = 1;
    o->retries = 1;
    o->grace_s = 10;
    o->backoff_s = 1;
    o->backoff_max_s = 60;
    o->handle_signals = 1;
}

const char *sched_state_name(sched_state st)
{
    switch (st) {
    case SCHED_QUEUED:
        return "queued";
    case SCHED_RUNNING:
        return "running";
    case SCHED_BACKOFF:
        return "retrying";
    case SCHED_DONE:
        return "done";
    case SCHED_FAILED:
        return "failed";
    case SCHED_KILLED:
        return "killed";
    }
    return "?";
}

static int *state_count(sched *s, sched_state st)
{
    switch (st) {
    case SCHED_QUEUED:
        return &s->nqueued;
    case SCHED_RUNNING:
        return &s->nrunning;
    case SCHED_BACKOFF:
        return &s->nbackoff;
    case SCHED_DONE:
        return &s->ndone;
    case SCHED_FAILED:
        return &s->nfailed;
    case SCHED_KILLED:
        return &s->nkilled;
    }
    return &s->nqueued;
}

static void job_set_state(sched *s, sched_job *j, sched_state st)
{
    (*state_count(s, j->state))--;
    j->state = st;
    (*state_count(s, st))++;
}

static void emit(sched *s, sched_job *j, sched_event ev)
{
    if (s->h.event)
        s->h.event(s, j, ev);
}

/* ---- slots ---- */

static void queue_push(sched *s, sched_job *j)
{
    s->queue[(s->qhead + s->qlen) % s->njobs] = (int)(j - s->jobs);
    s->qlen++;
}

/* Takes slots for j if they are free: a CPU slot, or one slot on each of
 * j->ngpus GPUs, the least loaded first so jobs spread over the GPUs. */
static int slots_take(sched *s, sched_job *j)
{
    if (j->ngpus == 0 || s->o.ngpu == 0) {
        if (s->cpu_used >= s->o.cpu_slots)
            return 0;
        s->cpu_used++;
        j->nheld = 0;
        j->gpus[0] = '\0';
        return 1;
    }
    int pick[SCHED_MAX_JOB_GPUS], n = 0;
    int taken[SCHED_MAX_GPUS] = {0};
    while (n < j->ngpus) {
        int best = -1, best_free = 0;
        for (int g = 0; g < s->o.ngpu; g++) {
            int free_slots = s->o.gpu[g].slots - s->gpu_used[g];
            if (!taken[g] && free_slots > best_free) {
                best = g;
                best_free = free_slots;
            }
        }
        if (best < 0)
            return 0;
        taken[best] = 1;
        pick[n++] = best;
    }
    /* CUDA_VISIBLE_DEVICES in increasing order: the job's device 0 is the lowest */
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (s->o.gpu[pick[b]].index < s->o.gpu[pick[a]].index) {
                int t = pick[a];
                pick[a] = pick[b];
                pick[b] = t;
            }
    size_t o = 0;
    j->gpus[0] = '\0';
    for (int k = 0; k < n; k++) {
        s->gpu_used[pick[k]]++;
        j->held[k] = (short)pick[k];
        o += (size_t)snprintf(j->gpus + o, sizeof j->gpus - o, "%s%d", k ? "," : "",
                              s->o.gpu[pick[k]].index);
        if (o >= sizeof j->gpus)
            o = sizeof j->gpus - 1;
    }
    j->nheld = n;
    return 1;
}

static void slots_release(sched *s, sched_job *j)
{
    if (j->nheld == 0) {
        s->cpu_used--;
        return;
    }
    for (int k = 0; k < j->nheld; k++)
        s->gpu_used[j->held[k]]--;
    j->nheld = 0;
}

/* ---- the end of an attempt ---- */

static void backoff_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static void backoff_cb(uv_timer_t *t)
{
    sched_backoff *b = t->data;
    sched *s = b->s;
    sched_job *j = b->job;
    j->backoff = NULL;
    uv_close((uv_handle_t *)&b->timer, backoff_close_cb);
    job_set_state(s, j, SCHED_QUEUED);
    queue_push(s, j);
    sched_fill(s);
}

/* Decides what an ended (or never started) attempt means and moves on. */
static void job_end(sched *s, sched_job *j, int ok)
{
    j->t_end = util_now();
    slots_release(s, j);
    if (ok) {
        job_set_state(s, j, SCHED_DONE);
        emit(s, j, SCHED_EV_DONE);
    } else if (s->stopping) {
        job_set_state(s, j, SCHED_KILLED);
        emit(s, j, SCHED_EV_KILLED);
    } else if (j->attempt <= s->o.retries) {
        /* exponential back-off: a failure from a full disk or a busy GPU
         * tends to last a little while */
        double delay = s->o.backoff_s;
        for (int a = 1; a < j->attempt && delay < s->o.backoff_max_s; a++)
            delay *= 2;
        if (delay > s->o.backoff_max_s)
            delay = s->o.backoff_max_s;
        sched_backoff *b = calloc(1, sizeof *b);
        job_set_state(s, j, SCHED_BACKOFF);
        emit(s, j, SCHED_EV_RETRY);
        if (!b || uv_timer_init(s->loop, &b->timer) != 0) {
            free(b);
            job_set_state(s, j, SCHED_QUEUED); /* no timer: retry at once */
            queue_push(s, j);
        } else {
            b->s = s;
            b->job = j;
            b->timer.data = b;
            j->backoff = b;
            uv_timer_start(&b->timer, backoff_cb, (uint64_t)(delay * 1000), 0);
        }
    } else {
        job_set_state(s, j, SCHED_FAILED);
        emit(s, j, SCHED_EV_FAILED);
        if (s->o.fail_fast && !s->stopping) {
            s->stop_failfast = 1;
            sched_stop(s, 0);
        }
    }
    if (s->stopping && s->nrunning == 0)
        uv_timer_stop(&s->grace);
    sched_fill(s);
}

static void proc_close_cb(uv_handle_t *h)
{
    sched_proc *p = h->data;
    if (--p->open == 0)
        free(p);
}

static void proc_end(sched_proc *p)
{
    if (p->ended || !p->exited || !p->eof)
        return;
    p->ended = 1;
    sched *s = p->s;
    sched_job *j = p->job;
    if (p->linelen > 0 && s->h.line) { /* a last line without its newline */
        p->line[p->linelen] = '\0';
        s->h.line(s, j, p->line);
    }
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
    uv_timer_stop(&p->drain);
    uv_close((uv_handle_t *)&p->drain, proc_close_cb);
    j->proc = NULL;
    j->term_signal = p->term_signal;
    j->exit_status = p->term_signal ? 128 + p->term_signal : (int)p->exit_status;
    j->no_result = 0;
    int ok = j->exit_status == 0;
    if (ok && s->h.check && !s->h.check(s, j)) {
        ok = 0;
        j->no_result = 1;
    }
    job_end(s, j, ok);
}

static void pipe_finish(sched_proc *p)
{
    if (p->eof)
        return;
    p->eof = 1;
    uv_read_stop((uv_stream_t *)&p->pipe);
    uv_close((uv_handle_t *)&p->pipe, proc_close_cb);
    proc_end(p);
}

static void drain_cb(uv_timer_t *t)
{
    pipe_finish(t->data);
}

static void exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    sched_proc *p = proc->data;
    p->exited = 1;
    p->exit_status = exit_status;
    p->term_signal = term_signal;
    /* Anything the job left behind in its process group goes with it: no
     * orphans holding GPU memory or the pipe. */
    kill(-(pid_t)p->job->pid, SIGKILL);
    uv_close((uv_handle_t *)&p->process, proc_close_cb);
    if (!p->eof)
        uv_timer_start(&p->drain, drain_cb, SCHED_DRAIN_MS, 0);
    proc_end(p);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sched_proc *p = h->data;
    buf->base = p->rbuf;
    buf->len = sizeof p->rbuf;
}

/* Log the bytes as they come; cut them into lines for the line hook
 * (carriage returns end lines too: progress bars redraw with them). */
static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    sched_proc *p = stream->data;
    sched *s = p->s;
    if (nread < 0) {
        pipe_finish(p);
        return;
    }
    if (p->log_fd >= 0) {
        const char *q = buf->base;
        size_t left = (size_t)nread;
        while (left > 0) {
            ssize_t w = write(p->log_fd, q, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break; /* a full disk loses log text, not the job */
            q += w;
            left -= (size_t)w;
        }
    }
    for (ssize_t i = 0; i < nread; i++) {
        char c = buf->base[i];
        if (c == '\n' || c == '\r' || p->linelen == sizeof p->line - 1) {
            p->line[p->linelen] = '\0';
            if (p->linelen > 0 && s->h.line)
                s->h.line(s, p->job, p->line);
            p->linelen = 0;
            if (c == '\n' || c == '\r')
                continue;
        }
        p->line[p->linelen++] = c;
    }
}

/* ---- starting an attempt ---- */

/* The attempt could not start: it counts as a failure with status 127
 * (the shell's "command not found"). */
static void launch_failed(sched *s, sched_job *j, const char *why)
{
    /* cut, not overflowed: a long path makes a long message */
    size_t n = strnlen(why, sizeof j->error - 1);
    memcpy(j->error, why, n);
    j->error[n] = '\0';
    j->exit_status = 127;
    j->term_signal = 0;
    j->t_start = util_now();
    job_end(s, j, 0);
}

static void launch(sched *s, sched_job *j)
{
    sched_cmd cmd;
    rerr e = {{0}};
    memset(&cmd, 0, sizeof cmd);
    j->attempt++;
    j->error[0] = '\0';
    j->no_result = 0;
    job_set_state(s, j, SCHED_RUNNING);
    if (s->h.prepare && s->h.prepare(s, j, &cmd, &e) != 0) {
        launch_failed(s, j, e.msg);
        return;
    }
    if (!cmd.argv || !cmd.argv[0]) {
        launch_failed(s, j, "no command");
        return;
    }
    sched_proc *p = calloc(1, sizeof *p);
    if (!p) {
        launch_failed(s, j, "out of memory");
        return;
    }
    p->s = s;
    p->job = j;
    p->log_fd = -1;
    char why[512];
    uv_file fds[2];
    int r = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (r < 0) {
        free(p);
        snprintf(why, sizeof why, "pipe: %s", uv_strerror(r));
        launch_failed(s, j, why);
        return;
    }
    if (cmd.log_path) {
        rerr oe;
        p->log_fd = util_open(cmd.log_path, O_WRONLY | O_CREAT | O_APPEND, UTIL_NOFOLLOW, &oe);
        if (p->log_fd < 0) {
            snprintf(why, sizeof why, "%.500s", oe.msg);
            close(fds[0]);
            close(fds[1]);
            free(p);
            launch_failed(s, j, why);
            return;
        }
    }
    uv_pipe_init(s->loop, &p->pipe, 0);
    uv_timer_init(s->loop, &p->drain);
    p->pipe.data = p->drain.data = p->process.data = p;
    p->open = 2;
    r = uv_pipe_open(&p->pipe, fds[0]);
    if (r < 0)
        close(fds[0]);

    /* stdout and stderr share one pipe, so the log keeps their order */
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.exit_cb = exit_cb;
    po.file = cmd.argv[0];
    po.args = cmd.argv;
    po.env = cmd.env;
    po.cwd = cmd.cwd;
    /* its own session and process group: Ctrl-C on our terminal reaches
     * only us, and one kill(-pid) reaches the job and all it started */
    po.flags = UV_PROCESS_DETACHED;
    po.stdio_count = 3;
    po.stdio = stdio;
    if (r == 0)
        r = uv_spawn(s->loop, &p->process, &po);
    close(fds[1]); /* the child has its copy; EOF comes when it (and its children) close theirs */
    if (r < 0) {
        snprintf(why, sizeof why, "cannot run %s: %s", cmd.argv[0], uv_strerror(r));
        if (uv_is_active((uv_handle_t *)&p->process) || p->process.type == UV_PROCESS) {
            p->open++;
            uv_close((uv_handle_t *)&p->process, proc_close_cb);
        }
        if (p->log_fd >= 0)
            close(p->log_fd);
        p->log_fd = -1;
        uv_close((uv_handle_t *)&p->pipe, proc_close_cb);
        uv_close((uv_handle_t *)&p->drain, proc_close_cb);
        launch_failed(s, j, why);
        return;
    }
    p->open++;
    j->proc = p;
    j->pid = p->process.pid;
    j->t_start = util_now();
    j->t_end = 0;
    emit(s, j, SCHED_EV_STARTED);
    r = uv_read_start((uv_stream_t *)&p->pipe, alloc_cb, read_cb);
    if (r < 0)
        pipe_finish(p); /* no output, but the exit still ends the attempt */
    /* stopped while the hook ran: this child must not outlive the run */
    if (s->stopping)
        kill(-(pid_t)j->pid, s->stopping > 1 ? SIGKILL : SIGTERM);
}

static void sched_fill(sched *s)
{
    if (s->filling)
        return; /* a launch that failed at once ends inside the loop below */
    s->filling = 1;
    while (!s->stopping && s->qlen > 0) {
        if (s->o.max_parallel > 0 && s->nrunning >= s->o.max_parallel)
            break;
        sched_job *j = &s->jobs[s->queue[s->qhead]];
        if (!slots_take(s, j))
            break; /* first come, first served: no job jumps the queue */
        s->qhead = (s->qhead + 1) % s->njobs;
        s->qlen--;
        launch(s, j);
    }
    s->filling = 0;
}

/* ---- stopping ---- */

static void signal_all(sched *s, int sig)
{
    for (int i = 0; i < s->njobs; i++)
        if (s->jobs[i].proc && !s->jobs[i].proc->exited)
            kill(-(pid_t)s->jobs[i].pid, sig);
}

static void grace_cb(uv_timer_t *t)
{
    sched *s = t->data;
    s->stopping = 2;
    signal_all(s, SIGKILL);
}

void sched_stop(sched *s, int hard)
{
    if (!s->stopping) {
        s->stopping = 1;
        emit(s, NULL, SCHED_EV_STOPPING);
        /* jobs waiting to retry will not: they go back to the queue */
        for (int i = 0; i < s->njobs; i++) {
            sched_job *j = &s->jobs[i];
            if (j->backoff) {
                uv_timer_stop(&j->backoff->timer);
                uv_close((uv_handle_t *)&j->backoff->timer, backoff_close_cb);
                j->backoff = NULL;
                job_set_state(s, j, SCHED_QUEUED);
            }
        }
        signal_all(s, SIGTERM);
        if (s->nrunning > 0)
            uv_timer_start(&s->grace, grace_cb, (uint64_t)(s->o.grace_s * 1000), 0);
    }
    if (hard && s->stopping < 2) {
        s->stopping = 2;
        uv_timer_stop(&s->grace);
        signal_all(s, SIGKILL);
    }
}

static void signal_cb(uv_signal_t *h, int signum)
{
    sched *s = h->data;
    /* the first signal asks nicely; a second one means now */
    int hard = s->stopping > 0 && s->stop_signal != 0;
    if (!s->stop_signal)
        s->stop_signal = signum;
    sched_stop(s, hard);
}

static void tick_cb(uv_timer_t *t)
{
    sched *s = t->data;
    if (s->h.tick)
        s->h.tick(s);
}

/* ---- life cycle ---- */

int sched_init(sched *s, uv_loop_t *loop, const sched_opts *o, const sched_hooks *h,
               sched_job *jobs, int njobs, rerr *e)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->o = *o;
    if (h)
        s->h = *h;
    s->jobs = jobs;
    s->njobs = njobs;
    if (s->o.ngpu < 0 || s->o.ngpu > SCHED_MAX_GPUS)
        return rerr_set(e, "scheduler: %d GPUs (at most %d)", s->o.ngpu, SCHED_MAX_GPUS);
    for (int i = 0; i < njobs; i++) {
        sched_job *j = &jobs[i];
        if (j->ngpus < 0 || j->ngpus > SCHED_MAX_JOB_GPUS)
            return rerr_set(e, "scheduler: a job needs %d GPUs (at most %d)", j->ngpus,
                            SCHED_MAX_JOB_GPUS);
        if (j->ngpus > 0 && s->o.ngpu > 0) {
            int usable = 0;
            for (int g = 0; g < s->o.ngpu; g++)
                usable += s->o.gpu[g].slots > 0;
            if (j->ngpus > usable)
                return rerr_set(e, "a job needs %d GPUs but only %d can take jobs", j->ngpus, usable);
        } else if (s->o.cpu_slots < 1) {
            return rerr_set(e, "scheduler: no CPU slots");
        }
        (*state_count(s, j->state))++;
    }
    s->queue = malloc(sizeof *s->queue * (size_t)(njobs ? njobs : 1));
    if (!s->queue)
        return rerr_set(e, "scheduler: out of memory");
    return 0;
}

static void noop_close_cb(uv_handle_t *h)
{
    (void)h;
}

int sched_run(sched *s)
{
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    uv_timer_init(s->loop, &s->grace);
    uv_timer_init(s->loop, &s->tick);
    s->grace.data = s->tick.data = s;
    /* the signal and tick handles must not keep the loop alive on their own */
    for (int i = 0; i < 3 && s->o.handle_signals; i++) {
        uv_signal_init(s->loop, &s->sig[i]);
        s->sig[i].data = s;
        uv_signal_start(&s->sig[i], signal_cb, sigs[i]);
        uv_unref((uv_handle_t *)&s->sig[i]);
    }
    if (s->o.tick_s > 0 && s->h.tick) {
        uint64_t ms = (uint64_t)(s->o.tick_s * 1000);
        uv_timer_start(&s->tick, tick_cb, ms ? ms : 1, ms ? ms : 1);
        uv_unref((uv_handle_t *)&s->tick);
    }
    s->handles_init = 1;
    for (int i = 0; i < s->njobs; i++)
        if (s->jobs[i].state == SCHED_QUEUED)
            queue_push(s, &s->jobs[i]);
    sched_fill(s);
    uv_run(s->loop, UV_RUN_DEFAULT);
    /* close our own handles and let their callbacks run */
    for (int i = 0; i < 3 && s->o.handle_signals; i++)
        uv_close((uv_handle_t *)&s->sig[i], noop_close_cb);
    uv_close((uv_handle_t *)&s->grace, noop_close_cb);
    uv_close((uv_handle_t *)&s->tick, noop_close_cb);
    uv_run(s->loop, UV_RUN_DEFAULT);
    s->handles_init = 0;
    return s->ndone == s->njobs ? 0 : 1;
}

void sched_free(sched *s)
{
    free(s->queue);
    s->queue = NULL;
}

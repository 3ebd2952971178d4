/* Slurm's commands through the event loop, and the queue (slurm_cmd.h). */
#include "slurm_cmd.h"

#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void cmd_closed(uv_handle_t *h)
{
    sl_cmd *c = h->data;
    if (--c->open == 0) {
        c->done = 1;
        if (c->on_done)
            c->on_done(c);
    }
}

static void cmd_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    sl_cmd *c = h->data;
    (void)size;
    b->base = c->buf;
    b->len = sizeof c->buf;
}

static void cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    sl_cmd *c = s->data;
    if (n > 0)
        sbuf_putn(s == (uv_stream_t *)&c->out ? &c->o : &c->e, b->base, (size_t)n);
    else if (n < 0)
        uv_close((uv_handle_t *)s, cmd_closed);
}

static void cmd_exit(uv_process_t *p, int64_t status, int sig)
{
    sl_cmd *c = p->data;
    c->exit_status = status;
    c->term_signal = sig;
    uv_close((uv_handle_t *)&c->timer, cmd_closed);
    uv_close((uv_handle_t *)p, cmd_closed);
}

static void cmd_timeout(uv_timer_t *t)
{
    sl_cmd *c = t->data;
    c->timed_out = 1;
    uv_process_kill(&c->proc, SIGKILL);
}

void slcmd_start(uv_loop_t *loop, sl_cmd *c, char *const *argv, void (*on_done)(sl_cmd *),
                 void *data)
{
    free(c->o.p);
    free(c->e.p);
    memset(c, 0, offsetof(sl_cmd, buf));
    c->on_done = on_done;
    c->data = data;
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->timer);
    c->out.data = c->err.data = c->timer.data = c->proc.data = c;
    c->open = 4;
    uv_stdio_container_t io[3];
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&c->out;
    io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[2].data.stream = (uv_stream_t *)&c->err;
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = argv[0];
    po.args = (char **)argv;
    po.exit_cb = cmd_exit;
    po.stdio = io;
    po.stdio_count = 3;
    int r = uv_spawn(loop, &c->proc, &po);
    if (r < 0) {
        c->spawn_error = r;
        c->exit_status = 127;
        uv_close((uv_handle_t *)&c->proc, cmd_closed);
        uv_close((uv_handle_t *)&c->timer, cmd_closed);
        uv_close((uv_handle_t *)&c->out, cmd_closed);
        uv_close((uv_handle_t *)&c->err, cmd_closed);
        return;
    }
    uv_timer_start(&c->timer, cmd_timeout, (uint64_t)(SL_CMD_TIMEOUT_S * 1000), 0);
    uv_read_start((uv_stream_t *)&c->out, cmd_alloc, cmd_read);
    uv_read_start((uv_stream_t *)&c->err, cmd_alloc, cmd_read);
}

void slcmd_run(uv_loop_t *loop, sl_cmd *c, char *const *argv)
{
    uv_loop_t own;
    if (!loop) {
        uv_loop_init(&own);
        loop = &own;
    }
    slcmd_start(loop, c, argv, NULL, NULL);
    while (!c->done)
        uv_run(loop, UV_RUN_ONCE);
    if (loop == &own)
        uv_loop_close(&own);
}

void slcmd_free(sl_cmd *c)
{
    free(c->o.p);
    free(c->e.p);
    c->o.p = c->e.p = NULL;
    c->o.len = c->e.len = 0;
}

int slcmd_ok(const sl_cmd *c)
{
    return !c->spawn_error && !c->timed_out && !c->term_signal && c->exit_status == 0 && !c->o.oom;
}

void slcmd_why(const sl_cmd *c, const char *name, char *buf, size_t n)
{
    if (c->spawn_error) {
        snprintf(buf, n, "cannot run %s: %s", name, uv_strerror(c->spawn_error));
        return;
    }
    if (c->timed_out) {
        snprintf(buf, n, "%s did not answer in %.0f s", name, SL_CMD_TIMEOUT_S);
        return;
    }
    char text[800] = "";
    size_t k = 0;
    for (size_t i = 0; c->e.p && i < c->e.len && k + 3 < sizeof text; i++) {
        char ch = c->e.p[i];
        if (ch == '\n' || ch == '\r') {
            if (k > 0 && text[k - 1] != ' ' && i + 1 < c->e.len)
                text[k++] = ';', text[k++] = ' ';
        } else {
            text[k++] = ch;
        }
    }
    while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == ';'))
        k--;
    text[k] = '\0';
    if (c->term_signal)
        snprintf(buf, n, "%s was killed by signal %d%s%s", name, c->term_signal, k ? ": " : "", text);
    else if (k)
        snprintf(buf, n, "%s (exit status %" PRId64 ")", text, c->exit_status);
    else
        snprintf(buf, n, "%s failed (exit status %" PRId64 ")", name, c->exit_status);
}

int slcmd_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    char p[4200];
    for (const char *s = path; *s;) {
        const char *colon = strchr(s, ':');
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        snprintf(p, sizeof p, "%.*s/%s", (int)len, len ? s : ".", prog);
        if (access(p, X_OK) == 0)
            return 1;
        if (!colon)
            break;
        s = colon + 1;
    }
    return 0;
}

const char *slcmd_user(void)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        return pw->pw_name;
    const char *u = getenv("USER");
    return u && *u ? u : "root";
}

/* ---- the queue ---- */

static int task_cmp(const void *a, const void *b)
{
    const slurm_task *x = a, *y = b;
    if (x->array != y->array)
        return x->array < y->array ? -1 : 1;
    return (x->task > y->task) - (x->task < y->task);
}

const slurm_task *slurm_queue_find(const slurm_task *t, int n, long array, int task)
{
    slurm_task key;
    key.array = array;
    key.task = task;
    return bsearch(&key, t, (size_t)n, sizeof *t, task_cmp);
}

int slcmd_queue_parse(const sl_cmd *c, slurm_task **out, int *n, rerr *e)
{
    if (!slcmd_ok(c)) {
        char why[900];
        slcmd_why(c, "squeue", why, sizeof why);
        return rerr_set(e, "%s", why);
    }
    int lines = 0;
    for (size_t i = 0; i < c->o.len; i++)
        lines += c->o.p[i] == '\n';
    slurm_task *t = calloc((size_t)lines + 1, sizeof *t);
    if (!t)
        return rerr_set(e, "out of memory");
    int k = 0;
    char *text = c->o.p;
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        char *f[5] = {l, NULL, NULL, NULL, NULL};
        for (int i = 1; i < 5 && f[i - 1]; i++) {
            char *bar = strchr(f[i - 1], '|');
            if (bar) {
                *bar = '\0';
                f[i] = bar + 1;
            }
        }
        char *end1, *end2;
        long a = f[1] ? strtol(f[0], &end1, 10) : 0;
        long tk = f[1] ? strtol(f[1], &end2, 10) : -1;
        if (f[4] && a > 0 && *end1 == '\0' && tk >= 0 && *end2 == '\0' && k < lines) {
            t[k].array = a;
            t[k].task = (int)tk;
            snprintf(t[k].state, sizeof t[k].state, "%s", f[2]);
            snprintf(t[k].node, sizeof t[k].node, "%s", strcmp(f[3], "(null)") ? f[3] : "");
            snprintf(t[k].reason, sizeof t[k].reason, "%s", f[4]);
            k++;
        }
        if (nl)
            *nl = '\n';
        l = nl ? nl + 1 : NULL;
    }
    qsort(t, (size_t)k, sizeof *t, task_cmp);
    *out = t;
    *n = k;
    return 0;
}

void slcmd_queue_argv(char *argv[], char *user)
{
    int a = 0;
    argv[a++] = "squeue";
    argv[a++] = "--noheader";
    argv[a++] = "--array";
    argv[a++] = "--user";
    argv[a++] = user;
    argv[a++] = "--format=%F|%K|%T|%N|%r";
    argv[a] = NULL;
}

int slurm_queue(slurm_task **out, int *n, rerr *e)
{
    char user[256], *argv[8];
    snprintf(user, sizeof user, "%s", slcmd_user());
    slcmd_queue_argv(argv, user);
    sl_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return rerr_set(e, "out of memory");
    slcmd_run(NULL, c, argv);
    int rc = slcmd_queue_parse(c, out, n, e);
    slcmd_free(c);
    free(c);
    return rc;
}

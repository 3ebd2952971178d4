/* bench_sched: the overhead of the sweep machinery itself.
 *   1. dispatch N `/bin/true` jobs over S CPU slots through the scheduler
 *      core (runner/scheduler.c: spawn, pipe, exit, slot bookkeeping), and
 *      again with a log file per job and an fsync'd journal line per state
 *      change, as `sweep run` does; prints jobs/s;
 *   2. expand a 100,000-job sweep (2 variants x 50 x 100 grid x 10 seeds)
 *      and print the time and the memory it took.
 *   3. for scale, the same jobs through bare uv_spawn calls.
 * usage: bench_sched [jobs (1000)] [slots (8)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "journal.h"
#include "scheduler.h"
#include "sweep.h"

typedef struct bench_ctx {
    char *argv[2];
    const char *log_dir; /* NULL: output dropped */
    char log[4096];
    journal *jr;
} bench_ctx;

static int bench_prepare(sched *s, sched_job *j, sched_cmd *cmd, rerr *e)
{
    bench_ctx *b = s->data;
    cmd->argv = b->argv;
    if (b->log_dir) {
        snprintf(b->log, sizeof b->log, "%s/job%d.log", b->log_dir, (int)(j - s->jobs));
        cmd->log_path = b->log;
    }
    return 0;
}

static void bench_event(sched *s, sched_job *j, sched_event ev)
{
    bench_ctx *b = s->data;
    if (b->jr && j) {
        char id[16];
        snprintf(id, sizeof id, "%012d", (int)(j - s->jobs));
        rerr e;
        journal_append(b->jr, id, ev == SCHED_EV_STARTED ? "started" : "done", NULL, &e);
    }
}

/* CPU seconds (user + system) this process has used, children excluded. */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double last_cpu_per_job; /* of the last dispatch, seconds */

/* Runs n /bin/true jobs over slots; returns jobs per second. */
static double dispatch(int n, int slots, const char *log_dir, journal *jr)
{
    sched_job *jobs = calloc((size_t)n, sizeof *jobs);
    bench_ctx b = {{"/bin/true", NULL}, log_dir, "", jr};
    sched_opts o;
    sched_opts_default(&o);
    o.cpu_slots = slots;
    o.retries = 0;
    o.handle_signals = 0;
    sched_hooks h = {bench_prepare, NULL, bench_event, NULL, NULL};
    uv_loop_t loop;
    uv_loop_init(&loop);
    sched s;
    rerr e;
    if (!jobs || sched_init(&s, &loop, &o, &h, jobs, n, &e) != 0) {
        fprintf(stderr, "bench_sched: %s\n", jobs ? e.msg : "out of memory");
        exit(1);
    }
    s.data = &b;
    double t0 = util_now(), c0 = self_cpu();
    sched_run(&s);
    double secs = util_now() - t0;
    last_cpu_per_job = (self_cpu() - c0) / n;
    if (s.ndone != n)
        fprintf(stderr, "bench_sched: only %d of %d jobs succeeded\n", s.ndone, n);
    sched_free(&s);
    uv_loop_close(&loop);
    free(jobs);
    return n / secs;
}

/* The same jobs straight through uv_spawn, no pipe, log or bookkeeping:
 * what this machine allows right now (spawn rates swing with its load). */
typedef struct bare_ctx {
    uv_loop_t *loop;
    int n, slots, started, running;
} bare_ctx;

static void bare_fill(bare_ctx *b);

static void bare_close_cb(uv_handle_t *h)
{
    free(h);
}

static void bare_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    bare_ctx *b = p->data;
    b->running--;
    uv_close((uv_handle_t *)p, bare_close_cb);
    bare_fill(b);
}

static void bare_fill(bare_ctx *b)
{
    while (b->running < b->slots && b->started < b->n) {
        uv_process_t *p = malloc(sizeof *p);
        char *argv[] = {"/bin/true", NULL};
        uv_process_options_t o;
        memset(&o, 0, sizeof o);
        o.file = argv[0];
        o.args = argv;
        o.exit_cb = bare_exit_cb;
        o.flags = UV_PROCESS_DETACHED;
        if (!p || (p->data = b, uv_spawn(b->loop, p, &o)) != 0) {
            fprintf(stderr, "bench_sched: uv_spawn failed\n");
            exit(1);
        }
        b->running++;
        b->started++;
    }
}

static double bare(int n, int slots)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bare_ctx b = {&loop, n, slots, 0, 0};
    double t0 = util_now();
    bare_fill(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    double secs = util_now() - t0;
    uv_loop_close(&loop);
    return n / secs;
}

/* Current resident set size from /proc (getrusage gives only the peak). */
static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(fp);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void expand_100k(void)
{
    char *text = malloc(1 << 16);
    int o = snprintf(text, 1 << 16,
                     "name: big\nvariants: {a: {loss.kind: ce}, b: {loss.kind: focal}}\n"
                     "grid:\n  optim.lr: [");
    for (int i = 0; i < 50; i++)
        o += snprintf(text + o, (size_t)((1 << 16) - o), "%s%g", i ? ", " : "", 1e-4 * (i + 1));
    o += snprintf(text + o, (size_t)((1 << 16) - o), "]\n  train.batch_size: [");
    for (int i = 0; i < 100; i++)
        o += snprintf(text + o, (size_t)((1 << 16) - o), "%s%d", i ? ", " : "", i + 1);
    snprintf(text + o, (size_t)((1 << 16) - o), "]\nseeds: 10\n");
    sweep sw;
    sweep_plan p;
    rerr e;
    long rss0 = rss_kib();
    size_t peak0 = util_peak_rss();
    double t0 = util_now();
    if (sweep_load_string(&sw, text, strlen(text), "big.yaml", ".", &e) != 0 ||
        sweep_expand(&sw, &p, &e) != 0) {
        fprintf(stderr, "bench_sched: %s\n", e.msg);
        exit(1);
    }
    double secs = util_now() - t0;
    long rss1 = rss_kib();
    size_t peak1 = util_peak_rss();
    printf("expand: %zu jobs in %.3f s (%.0f jobs/s, ids %s); plan %.1f MiB resident "
           "(+%.1f MiB peak over the process's %.1f MiB before)\n",
           p.njobs, secs, (double)p.njobs / secs, p.fast_ids ? "summed per setting" : "from full configs",
           (double)(rss1 - rss0) / 1024, (double)(peak1 > peak0 ? peak1 - peak0 : 0) / 1048576,
           (double)peak0 / 1048576);
    sweep_plan_free(&p);
    sweep_free(&sw);
    free(text);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int slots = argc > 2 ? atoi(argv[2]) : 8;
    if (n < 1 || slots < 1) {
        fprintf(stderr, "usage: bench_sched [jobs] [slots]\n");
        return 2;
    }
    expand_100k(); /* first, so its memory is not mixed with the dispatch's */
    dispatch(n < 100 ? n : 100, slots, NULL, NULL); /* warm-up: page cache, libuv's signal pipe */
    /* best of 3, interleaved with the bare rate: on a shared machine the
     * spawn rate moves with other people's load */
    double plain = 0, ceiling = 0, cpu = 1e9;
    for (int r = 0; r < 3; r++) {
        double a = dispatch(n, slots, NULL, NULL);
        cpu = last_cpu_per_job < cpu ? last_cpu_per_job : cpu;
        double b = bare(n, slots);
        plain = a > plain ? a : plain;
        ceiling = b > ceiling ? b : ceiling;
    }
    printf("dispatch: %d x /bin/true over %d slots: %.0f jobs/s (best of 3: spawn, pipe, exit, slots)\n",
           n, slots, plain);
    printf("dispatch: bare uv_spawn of the same jobs (no pipe, no bookkeeping): %.0f jobs/s; the "
           "scheduler gets %.0f%% of it\n",
           ceiling, 100 * plain / ceiling);
    printf("dispatch: the scheduler's own CPU time: %.0f us per job (fork included, the jobs "
           "excluded): %.0f jobs/s per core it could drive\n",
           cpu * 1e6, 1 / cpu);
    char dir[] = "/tmp/bench_sched-XXXXXX";
    if (mkdtemp(dir)) {
        char jp[64];
        snprintf(jp, sizeof jp, "%s/journal.log", dir);
        journal jr;
        rerr e;
        if (journal_open(&jr, jp, &e) == 0) {
            double full = dispatch(n, slots, dir, &jr);
            printf("dispatch: same with a log file per job and 2 fsync'd journal lines per job "
                   "(as sweep run): %.0f jobs/s\n",
                   full);
            journal_close(&jr);
        }
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_sched: could not remove %s\n", dir);
    }
    return 0;
}

/* Checks the sweep scheduler (runner/scheduler.c, runner/sweep_run.c, gpu.c,
 * journal.c): the process pool driven in-process with /bin/sh jobs (exit
 * codes, 128 + signal, slot limits, retries), and `resecg sweep run` driven
 * through the built binary ($RESECG_BIN) with fake GPUs (RESECG_FAKE_GPUS)
 * and a fake job program, a shell script written here, that records each
 * start (its CUDA_VISIBLE_DEVICES, pid, --resume) and end, holds per-GPU
 * slot locks (atomic mkdir) to catch two jobs too many on one GPU, and fails
 * or hangs on request. Covered: GPU assignment and slot limits over 40 jobs;
 * kill -9 of the scheduler then a resume (every job done exactly once, the
 * interrupted ones rerun with --resume, nothing of the first run left
 * alive); retries with back-off, then success or a reported failure;
 * --fail-fast; SIGINT and a second SIGINT (exit 130, no child left, the
 * journal says so); `sweep status` naming failures with exit code and log;
 * --variants running some variants' jobs, then the rest. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "gpu.h"
#include "journal.h"
#include "scheduler.h"
#include "sweep.h"
#include "sweeptest.h"
#include "testutil.h"

extern char **environ;

/* Whether a live (not zombie) process has process group pgid. */
static int group_alive(long pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int alive = 0;
    while (d && (de = readdir(d)) && !alive) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char p[300], st[1024];
        snprintf(p, sizeof p, "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(p, "r");
        if (!fp)
            continue;
        size_t n = fread(st, 1, sizeof st - 1, fp);
        fclose(fp);
        st[n] = '\0';
        char *rp = strrchr(st, ')');
        char state;
        long ppid, pgrp;
        if (rp && sscanf(rp + 2, "%c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X')
            alive = 1;
    }
    if (d)
        closedir(d);
    return alive;
}

/* Every recorded start's process group is gone. */
static void assert_no_children(const fixture *f)
{
    char p[1100], **l;
    fixture_path(f, "starts", p, sizeof p);
    int n = read_lines(p, &l);
    for (int i = 0; i < n; i++) {
        char id[32];
        long pid;
        if (sscanf(l[i], "%31s %ld", id, &pid) == 2)
            ck_assert_msg(!group_alive(pid), "job %s (process group %ld) is still alive", id, pid);
    }
    free_lines(l, n);
}

/* ---- unit: GPU lists ---- */

START_TEST(test_gpu_parse)
{
    gpu_info g[GPU_MAX];
    rerr e = {{0}};
    ck_assert_int_eq(gpu_parse_fake("0:81920:500,1:81920:70000", g, &e), 2);
    ck_assert_int_eq(g[1].index, 1);
    ck_assert_int_eq(g[1].total_mib, 81920);
    ck_assert_int_eq(g[1].used_mib, 70000);
    ck_assert_int_eq(gpu_parse_fake("", g, &e), 0);
    ck_assert_int_eq(gpu_parse_fake("0:100", g, &e), -1);
    ck_assert_msg(strstr(e.msg, "RESECG_FAKE_GPUS") != NULL, "%s", e.msg);
    ck_assert_int_eq(gpu_parse_fake("0:100:200", g, &e), -1); /* used > total */
    ck_assert_int_eq(gpu_parse_fake("0:100:1,0:100:1", g, &e), -1);
    ck_assert_int_eq(gpu_parse_fake("0:100:1;1:100:1", g, &e), -1);
    ck_assert_int_eq(gpu_parse_smi("0, 1024, 81559\n1, 70000, 81559\n", g), 2);
    ck_assert_int_eq(g[0].used_mib, 1024);
    ck_assert_int_eq(g[0].total_mib, 81559);
    ck_assert_int_eq(gpu_parse_smi("NVIDIA-SMI has failed\n", g), 0);
    /* discovery honours the fake list, and never fails without a driver */
    setenv("RESECG_FAKE_GPUS", "3:1000:10", 1);
    const char *src = NULL;
    ck_assert_int_eq(gpu_discover(g, &src, &e), 1);
    ck_assert_str_eq(src, "RESECG_FAKE_GPUS");
    ck_assert_int_eq(g[0].index, 3);
    unsetenv("RESECG_FAKE_GPUS");
    ck_assert_int_ge(gpu_discover(g, &src, &e), 0);
}
END_TEST

START_TEST(test_journal)
{
    char dir[200], p[300];
    testutil_mkdtemp(dir, sizeof dir, "journal");
    snprintf(p, sizeof p, "%s/journal.log", dir);
    write_text(p, "2024-01-01T00:00:00.000Z abcdef012345 started attempt=1 pid=5\n2024-01-01T00:00:01.0"); /* torn */
    journal j;
    rerr e = {{0}};
    ck_assert_msg(journal_open(&j, p, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(journal_append(&j, "abcdef012345", "failed", "attempt=1 exit=3 note=a b c", &e), 0);
    journal_close(&j);
    char **l;
    int n = read_lines(p, &l);
    ck_assert_int_eq(n, 3); /* the torn line was ended, ours is whole */
    ck_assert_msg(strstr(l[2], " abcdef012345 failed attempt=1 exit=3 note=a b c") != NULL, "%s", l[2]);
    free_lines(l, n);
    char v[64];
    ck_assert_int_eq(journal_field("attempt=2 exit=137 signal=9 note=x y", "signal", v, sizeof v), 0);
    ck_assert_str_eq(v, "9");
    ck_assert_int_eq(journal_field("attempt=2 exit=137 signal=9 note=x y", "note", v, sizeof v), 0);
    ck_assert_str_eq(v, "x y");
    ck_assert_int_eq(journal_field("note=exit=4", "exit", v, sizeof v), -1);
    testutil_rmtree(dir);
}
END_TEST

/* ---- the pool in-process ---- */

typedef struct core_ctx {
    char cmd[40][600];
    char *argv[40][4];
    int saw_line[40];
    int max_running;
    int events[8];
} core_ctx;

static int core_prepare(sched *s, sched_job *j, sched_cmd *cmd, rerr *e)
{
    core_ctx *c = s->data;
    int i = (int)(j - s->jobs);
    cmd->argv = c->argv[i];
    return 0;
}

static void core_event(sched *s, sched_job *j, sched_event ev)
{
    core_ctx *c = s->data;
    c->events[ev]++;
    if (s->nrunning > c->max_running)
        c->max_running = s->nrunning;
}

static void core_line(sched *s, sched_job *j, const char *line)
{
    core_ctx *c = s->data;
    int i = (int)(j - s->jobs), k;
    if (sscanf(line, "line-%d", &k) == 1 && k == i)
        c->saw_line[i]++;
}

START_TEST(test_pool_core)
{
    char dir[200];
    testutil_mkdtemp(dir, sizeof dir, "pool");
    core_ctx *c = calloc(1, sizeof *c);
    sched_job jobs[40];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 40; i++) {
        if (i % 10 == 3)
            snprintf(c->cmd[i], sizeof c->cmd[i], "echo line-%d; exit 4", i);
        else if (i % 10 == 7)
            snprintf(c->cmd[i], sizeof c->cmd[i], "echo line-%d; kill -9 $$", i);
        else if (i % 10 == 5) /* fails once, then succeeds */
            snprintf(c->cmd[i], sizeof c->cmd[i],
                     "echo line-%d; [ -e %s/once-%d ] && exit 0; touch %s/once-%d; exit 2", i, dir, i,
                     dir, i);
        else
            snprintf(c->cmd[i], sizeof c->cmd[i], "printf 'line-%d\\npartial'", i);
        c->argv[i][0] = "/bin/sh";
        c->argv[i][1] = "-c";
        c->argv[i][2] = c->cmd[i];
        c->argv[i][3] = NULL;
    }
    sched_opts o;
    sched_opts_default(&o);
    o.cpu_slots = 3;
    o.retries = 1;
    o.backoff_s = 0.05;
    o.handle_signals = 0;
    sched_hooks h = {core_prepare, NULL, core_event, core_line, NULL};
    uv_loop_t loop;
    uv_loop_init(&loop);
    sched s;
    rerr e = {{0}};
    ck_assert_msg(sched_init(&s, &loop, &o, &h, jobs, 40, &e) == 0, "%s", e.msg);
    s.data = c;
    ck_assert_int_eq(sched_run(&s), 1);
    ck_assert_int_eq(s.ndone, 40 - 8);
    ck_assert_int_eq(s.nfailed, 8);
    ck_assert_int_le(c->max_running, 3);
    ck_assert_int_eq(c->events[SCHED_EV_RETRY], 8 + 4);
    for (int i = 0; i < 40; i++) {
        ck_assert_msg(c->saw_line[i] == jobs[i].attempt, "job %d: %d lines for %d attempts", i,
                      c->saw_line[i], jobs[i].attempt);
        if (i % 10 == 3) {
            ck_assert_int_eq(jobs[i].state, SCHED_FAILED);
            ck_assert_int_eq(jobs[i].exit_status, 4);
            ck_assert_int_eq(jobs[i].attempt, 2);
        } else if (i % 10 == 7) { /* a signal is reported as 128 + signal */
            ck_assert_int_eq(jobs[i].state, SCHED_FAILED);
            ck_assert_int_eq(jobs[i].term_signal, SIGKILL);
            ck_assert_int_eq(jobs[i].exit_status, 128 + SIGKILL);
        } else if (i % 10 == 5) {
            ck_assert_int_eq(jobs[i].state, SCHED_DONE);
            ck_assert_int_eq(jobs[i].attempt, 2);
        } else {
            ck_assert_int_eq(jobs[i].state, SCHED_DONE);
            ck_assert_int_eq(jobs[i].attempt, 1);
        }
    }
    sched_free(&s);
    ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle was closed */
    /* a program that does not exist fails the attempt with 127 and a reason */
    sched_job bad;
    memset(&bad, 0, sizeof bad);
    c->argv[0][0] = "/nonexistent/program";
    o.retries = 0;
    uv_loop_init(&loop);
    ck_assert(sched_init(&s, &loop, &o, &h, &bad, 1, &e) == 0);
    s.data = c;
    ck_assert_int_eq(sched_run(&s), 1);
    ck_assert_int_eq(bad.exit_status, 127);
    ck_assert_msg(strstr(bad.error, "/nonexistent/program") != NULL, "%s", bad.error);
    sched_free(&s);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    free(c);
    testutil_rmtree(dir);
}
END_TEST

/* ---- `resecg sweep run` ---- */

START_TEST(test_gpu_slots)
{
    fixture f;
    fixture_init(&f, "slots", 2, 20); /* 40 jobs */
    const char *env[] = {"RESECG_FAKE_GPUS=0:81920:500,1:81920:1000,2:81920:70000", NULL};
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--jobs-per-gpu",
                          "2", "--no-live", NULL};
    int rc = run_sync(&f, "run.log", env, args, 60);
    if (rc != 0)
        show_log(&f, "run.log");
    ck_assert_int_eq(rc, 0);
    char p[1100], **l;
    fixture_path(&f, "overlaps", p, sizeof p);
    ck_assert_msg(access(p, F_OK) != 0, "more than 2 jobs shared a GPU (see %s)", p);
    fixture_path(&f, "starts", p, sizeof p);
    int n = read_lines(p, &l);
    ck_assert_int_eq(n, 40);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int per_gpu[3] = {0};
    for (int i = 0; i < n; i++) {
        char id[32], cvd[32], omp[32];
        long pid;
        int resume;
        ck_assert(sscanf(l[i], "%31s %ld %31s %d %31s", id, &pid, cvd, &resume, omp) == 5);
        ck_assert_msg(strcmp(cvd, "0") == 0 || strcmp(cvd, "1") == 0,
                      "CUDA_VISIBLE_DEVICES=%s (GPU 2 is busy and must be skipped)", cvd);
        per_gpu[cvd[0] - '0']++;
        ck_assert_int_eq(resume, 0);
        (void)ncpu;
        ck_assert_int_ge(atoi(omp), 1);
    }
    free_lines(l, n);
    ck_assert_msg(per_gpu[0] >= 10 && per_gpu[1] >= 10, "jobs per GPU %d %d: not spread", per_gpu[0],
                  per_gpu[1]);
    fixture_path(&f, "ends", p, sizeof p);
    ck_assert_int_eq(count_lines(p), 40);
    fixture_path(&f, "run.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "GPU 2:", "skipped"), 1);
    snprintf(p, sizeof p, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(p, " done attempt=1 ", "cinc_f1=0.700"), 40);
    ck_assert_int_eq(count_matching(p, " started attempt=1 ", NULL), 40);
    /* every run directory holds the resolved config */
    char ids[40][13];
    ck_assert_int_eq(fixture_ids(&f, ids, 40), 40);
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "%s/%s/job.yaml", f.root, ids[i]);
        resecg_config c;
        config_defaults(&c);
        rerr e = {{0}};
        ck_assert_msg(config_load_file(&c, p, &e) == 0, "%s", e.msg);
        char hex[13];
        sweep_id_hex(sweep_config_id(&c), hex);
        ck_assert_str_eq(hex, ids[i]);
    }
    /* a second run finds everything done and runs nothing */
    rc = run_sync(&f, "run2.log", env, args, 30);
    ck_assert_int_eq(rc, 0);
    fixture_path(&f, "starts", p, sizeof p);
    ck_assert_int_eq(count_lines(p), 40);
    testutil_rmtree(f.dir);
}
END_TEST

START_TEST(test_kill9_resume)
{
    fixture f;
    fixture_init(&f, "kill9", 2, 5); /* 10 jobs */
    char p[1100], sleepf[1100], startsf[1100], endsf[1100];
    fixture_path(&f, "sleep", sleepf, sizeof sleepf);
    fixture_path(&f, "starts", startsf, sizeof startsf);
    fixture_path(&f, "ends", endsf, sizeof endsf);
    write_text(sleepf, "0.1\n");
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--grace", "2", "--no-live", NULL};
    pid_t pid = run_start(&f, "run1.log", NULL, args);
    double until = util_now() + 30;
    while (count_lines(endsf) < 3 && util_now() < until)
        sleep_s(0.02);
    ck_assert_int_ge(count_lines(endsf), 3);
    write_text(sleepf, "30\n"); /* the next jobs hang: they will be interrupted */
    /* wait until two jobs hang: started, not ended, and nothing ends for a while */
    int last_ends = -1;
    double stable_since = util_now();
    while (util_now() < until) {
        int s = count_lines(startsf), d = count_lines(endsf);
        if (d != last_ends) {
            last_ends = d;
            stable_since = util_now();
        }
        if (s - d == 2 && util_now() - stable_since > 0.6)
            break;
        sleep_s(0.05);
    }
    kill(pid, SIGKILL);
    ck_assert_int_eq(run_wait(pid, 10), 128 + SIGKILL);
    char **l;
    int n1 = read_lines(startsf, &l), d1 = count_lines(endsf);
    ck_assert_int_eq(n1 - d1, 2);
    long first_pids[32];
    for (int i = 0; i < n1 && i < 32; i++)
        ck_assert(sscanf(l[i], "%*s %ld", &first_pids[i]) == 1);
    free_lines(l, n1);

    /* the resume stops the orphans, reruns them with --resume, finishes */
    write_text(sleepf, "0.1\n");
    int rc = run_sync(&f, "run2.log", NULL, args, 60);
    if (rc != 0)
        show_log(&f, "run2.log");
    ck_assert_int_eq(rc, 0);
    fixture_path(&f, "run2.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "still running from an earlier scheduler", NULL), 2);
    for (int i = 0; i < n1 && i < 32; i++)
        ck_assert_msg(!group_alive(first_pids[i]), "pid %ld of the first run is alive", first_pids[i]);
    /* every job ended exactly once; the interrupted ones started twice, the
     * second time resuming from their checkpoint */
    char ids[10][13];
    ck_assert_int_eq(fixture_ids(&f, ids, 10), 10);
    int rerun = 0;
    for (int i = 0; i < 10; i++) {
        char want[160];
        snprintf(want, sizeof want, "%s", ids[i]);
        ck_assert_msg(count_matching(endsf, want, NULL) == 1, "job %s ended %d times", ids[i],
                      count_matching(endsf, want, NULL));
        int starts = count_matching(startsf, want, NULL);
        ck_assert_int_le(starts, 2);
        if (starts == 2) {
            rerun++;
            snprintf(want, sizeof want, "%s ", ids[i]);
            int n = read_lines(startsf, &l), seen = 0;
            for (int k = 0; k < n; k++) {
                if (strncmp(l[k], want, strlen(want)) != 0)
                    continue;
                int resume;
                ck_assert(sscanf(l[k], "%*s %*d %*s %d", &resume) == 1);
                int want_resume = seen++ ? 1 : 0; /* ck_assert_* evaluates twice */
                ck_assert_int_eq(resume, want_resume);
            }
            free_lines(l, n);
        }
    }
    ck_assert_int_eq(rerun, 2);
    snprintf(p, sizeof p, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(p, " killed ", "earlier scheduler"), 2);
    assert_no_children(&f);
    testutil_rmtree(f.dir);
}
END_TEST

START_TEST(test_retries_and_status)
{
    fixture f;
    fixture_init(&f, "retry", 2, 3); /* 6 jobs */
    char ids[6][13], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 6), 6);
    snprintf(p, sizeof p, "%s/failonce-%s", f.dir, ids[0]);
    write_text(p, "");
    snprintf(p, sizeof p, "%s/fail-%s", f.dir, ids[1]);
    write_text(p, "");
    fixture_path(&f, "sleep", p, sizeof p);
    write_text(p, "0.05\n");
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--retries", "2", "--backoff", "0.2", "--no-live",
                          NULL};
    int rc = run_sync(&f, "run.log", NULL, args, 60);
    ck_assert_int_eq(rc, 1); /* not every job finished */
    char startsf[1100], endsf[1100], jpath[1100];
    fixture_path(&f, "starts", startsf, sizeof startsf);
    fixture_path(&f, "ends", endsf, sizeof endsf);
    snprintf(jpath, sizeof jpath, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(startsf, ids[0], NULL), 2); /* failed once, then done */
    ck_assert_int_eq(count_matching(endsf, ids[0], NULL), 1);
    ck_assert_int_eq(count_matching(jpath, ids[0], " retry attempt=1 exit=3"), 1);
    ck_assert_int_eq(count_matching(startsf, ids[1], NULL), 3); /* 1 + 2 retries */
    ck_assert_int_eq(count_matching(endsf, ids[1], NULL), 0);
    ck_assert_int_eq(count_matching(jpath, ids[1], " retry attempt=2 exit=3"), 1);
    ck_assert_int_eq(count_matching(jpath, ids[1], " failed attempt=3 exit=3"), 1);
    ck_assert_int_eq(count_lines(endsf), 5);
    /* exponential back-off: 0.2 s then 0.4 s between the attempts (plus the job's own time) */
    char **l;
    int n = read_lines(startsf, &l);
    double t[3];
    int k = 0;
    for (int i = 0; i < n && k < 3; i++)
        if (strncmp(l[i], ids[1], 12) == 0)
            ck_assert(sscanf(l[i], "%*s %*d %*s %*d %*s %lf", &t[k++]) == 1);
    free_lines(l, n);
    ck_assert_msg(t[1] - t[0] >= 0.2 && t[2] - t[1] >= 0.4, "back-off gaps %.3f %.3f s", t[1] - t[0],
                  t[2] - t[1]);

    /* status names the failure, its exit status and the end of its log */
    const char *sargs[] = {"status", f.root, NULL};
    ck_assert_int_eq(run_sync(&f, "status.log", NULL, sargs, 30), 0);
    fixture_path(&f, "status.log", p, sizeof p);
    char *st = read_all(p);
    ck_assert_msg(strstr(st, "6 jobs: 5 done, 0 running, 1 failed, 0 queued") != NULL, "%s", st);
    char want[200];
    snprintf(want, sizeof want, "%s (v1 seed 1): exit status 3 after 3 attempts", ids[1]);
    ck_assert_msg(strstr(st, want) != NULL, "status lacks \"%s\":\n%s", want, st);
    snprintf(want, sizeof want, "| boom %s", ids[1]);
    ck_assert_msg(strstr(st, want) != NULL, "status lacks the log tail \"%s\":\n%s", want, st);
    free(st);
    testutil_rmtree(f.dir);
}
END_TEST

START_TEST(test_fail_fast)
{
    fixture f;
    fixture_init(&f, "failfast", 2, 4); /* 8 jobs */
    char ids[8][13], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 8), 8);
    snprintf(p, sizeof p, "%s/failfast-%s", f.dir, ids[1]);
    write_text(p, "");
    fixture_path(&f, "sleep", p, sizeof p);
    write_text(p, "30\n");
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--retries", "0", "--fail-fast", "--grace", "5",
                          "--no-live", NULL};
    double t0 = util_now();
    int rc = run_sync(&f, "run.log", NULL, args, 30);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(util_now() - t0 < 10, "fail-fast took %.1f s", util_now() - t0);
    char startsf[1100], jpath[1100];
    fixture_path(&f, "starts", startsf, sizeof startsf);
    snprintf(jpath, sizeof jpath, "%s/journal.log", f.root);
    /* nothing launched after the failure (the other job may be stopped
     * before its script records its start: count the journal's starts) */
    ck_assert_int_le(count_lines(startsf), 2);
    ck_assert_int_eq(count_matching(jpath, " started attempt=1 ", NULL), 2);
    ck_assert_int_eq(count_matching(jpath, "sweep-stop", "reason=fail-fast"), 1);
    ck_assert_int_eq(count_matching(jpath, ids[1], " failed attempt=1 exit=5"), 1);
    ck_assert_int_eq(count_matching(jpath, ids[0], " killed attempt=1 exit=143 signal=15"), 1);
    assert_no_children(&f);
    testutil_rmtree(f.dir);
}
END_TEST

/* SIGINT: stop launching, SIGTERM to the jobs (which ignore it here), SIGKILL
 * after --grace; exit 130; the journal and status say what happened. */
START_TEST(test_sigint)
{
    fixture f;
    fixture_init(&f, "sigint", 2, 2); /* 4 jobs */
    char p[1100], startsf[1100];
    fixture_path(&f, "sleep", p, sizeof p);
    write_text(p, "1000\n");
    fixture_path(&f, "starts", startsf, sizeof startsf);
    const char *env[] = {"FAKE_IGNORE_TERM=1", NULL};
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--grace", "0.5", "--no-live", NULL};
    pid_t pid = run_start(&f, "run.log", env, args);
    double until = util_now() + 20;
    while (count_lines(startsf) < 2 && util_now() < until)
        sleep_s(0.02);
    ck_assert_int_eq(count_lines(startsf), 2);
    sleep_s(0.2); /* let the scripts reach their sleep with SIGTERM ignored */
    double t0 = util_now();
    kill(pid, SIGINT);
    int rc = run_wait(pid, 20);
    double took = util_now() - t0;
    if (rc != 130)
        show_log(&f, "run.log");
    ck_assert_int_eq(rc, 130);
    ck_assert_msg(took >= 0.45 && took < 5, "stopping took %.2f s with --grace 0.5", took);
    ck_assert_int_eq(count_lines(startsf), 2);
    assert_no_children(&f);
    char jpath[1100];
    snprintf(jpath, sizeof jpath, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(jpath, "sweep-stop", "signal=2"), 1);
    ck_assert_int_eq(count_matching(jpath, " killed attempt=1 exit=137 signal=9", NULL), 2);
    const char *sargs[] = {"status", f.root, NULL};
    ck_assert_int_eq(run_sync(&f, "status.log", NULL, sargs, 30), 0);
    fixture_path(&f, "status.log", p, sizeof p);
    char *st = read_all(p);
    ck_assert_msg(strstr(st, "4 jobs: 0 done, 0 running, 0 failed, 4 queued; no scheduler running"),
                  "%s", st);
    ck_assert_int_eq(count_matching(p, " interrupted ", NULL), 2);
    free(st);

    /* a second SIGINT does not wait for the grace period */
    testutil_rmtree(f.root);
    unlink(startsf);
    const char *args2[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                           "--max-parallel", "2", "--grace", "60", "--no-live", NULL};
    pid = run_start(&f, "run2.log", env, args2);
    until = util_now() + 20;
    while (count_lines(startsf) < 2 && util_now() < until)
        sleep_s(0.02);
    sleep_s(0.2);
    t0 = util_now();
    kill(pid, SIGINT);
    sleep_s(0.3);
    kill(pid, SIGINT);
    rc = run_wait(pid, 20);
    ck_assert_int_eq(rc, 130);
    ck_assert_msg(util_now() - t0 < 5, "a second SIGINT still waited %.1f s", util_now() - t0);
    assert_no_children(&f);
    testutil_rmtree(f.dir);
}
END_TEST

/* GPUs handed to us through CUDA_VISIBLE_DEVICES limit --gpus auto. */
START_TEST(test_visible_devices)
{
    fixture f;
    fixture_init(&f, "visible", 2, 2);
    char p[1100];
    fixture_path(&f, "sleep", p, sizeof p);
    write_text(p, "0.05\n");
    const char *env[] = {"RESECG_FAKE_GPUS=0:1000:0,1:1000:0,2:1000:0", "CUDA_VISIBLE_DEVICES=2,0", NULL};
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "run.log", env, args, 30), 0);
    char startsf[1100];
    fixture_path(&f, "starts", startsf, sizeof startsf);
    ck_assert_int_eq(count_lines(startsf), 4);
    ck_assert_int_eq(count_matching(startsf, " 1 0 ", NULL), 0); /* GPU 1 is not ours */
    fixture_path(&f, "run.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "using 2 of the 3 GPUs found", NULL), 1);
    testutil_rmtree(f.dir);
}
END_TEST

START_TEST(test_cli_errors)
{
    fixture f;
    fixture_init(&f, "cli", 1, 1);
    char bad[1100];
    fixture_path(&f, "bad.yaml", bad, sizeof bad);
    write_text(bad, "name: b\ngrid:\n  optim.lr: []\n");
    const char *a1[] = {"plan", bad, NULL};
    ck_assert_int_eq(run_sync(&f, "e1.log", NULL, a1, 30), 2);
    char p[1100];
    fixture_path(&f, "e1.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "bad.yaml:3:13: grid: optim.lr: empty list of values", NULL), 1);
    const char *a2[] = {"run", f.sweep, "--gpus", "0,x", NULL};
    ck_assert_int_eq(run_sync(&f, "e2.log", NULL, a2, 30), 2);
    const char *a3[] = {"status", f.dir, NULL};
    ck_assert_int_eq(run_sync(&f, "e3.log", NULL, a3, 30), 2);
    fixture_path(&f, "e3.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "not a sweep output directory", NULL), 1);
    const char *a4[] = {"plan", f.sweep, "--out", f.out, NULL};
    ck_assert_int_eq(run_sync(&f, "e4.log", NULL, a4, 30), 0);
    fixture_path(&f, "e4.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "sweep s (", "1 job ="), 1);
    testutil_rmtree(f.dir);
}
END_TEST

/* --variants runs the jobs of the named variants only; the rest keep their
 * ids and run when the same sweep runs without it; a name the file lacks is
 * bad usage naming the file's variants. */
START_TEST(test_variants_subset)
{
    fixture f;
    fixture_init(&f, "variants", 2, 2); /* seed-major: v0 s1, v1 s1, v0 s2, v1 s2 */
    char ids[4][13], startsf[1100], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 4), 4);
    fixture_path(&f, "starts", startsf, sizeof startsf);
    const char *bad[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                         "--variants", "v1,nope", "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "bad.log", NULL, bad, 30), 2);
    fixture_path(&f, "bad.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "--variants: no variant 'nope'", "has the variants v0, v1"), 1);
    ck_assert_int_eq(count_lines(startsf), 0);

    const char *one[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                         "--max-parallel", "2", "--variants", "v1", "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "one.log", NULL, one, 60), 0);
    ck_assert_int_eq(count_lines(startsf), 2);
    ck_assert_int_eq(count_matching(startsf, ids[1], NULL), 1);
    ck_assert_int_eq(count_matching(startsf, ids[3], NULL), 1);
    fixture_path(&f, "one.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "4 jobs, 0 already done, 2 to run, 2 not selected (--variants v1)", NULL), 1);
    ck_assert_int_eq(count_matching(p, "2 of 4 jobs done, 0 failed, 2 not selected", NULL), 1);

    const char *all[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                         "--max-parallel", "2", "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "all.log", NULL, all, 60), 0);
    ck_assert_int_eq(count_lines(startsf), 4); /* v0's two jobs, v1's not again */
    ck_assert_int_eq(count_matching(startsf, ids[0], NULL), 1);
    ck_assert_int_eq(count_matching(startsf, ids[2], NULL), 1);
    ck_assert_int_eq(count_matching(startsf, ids[1], NULL), 1);
    testutil_rmtree(f.dir);
}
END_TEST

static Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *t = tcase_create("sched");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_gpu_parse);
    tcase_add_test(t, test_journal);
    tcase_add_test(t, test_pool_core);
    tcase_add_test(t, test_gpu_slots);
    tcase_add_test(t, test_kill9_resume);
    tcase_add_test(t, test_retries_and_status);
    tcase_add_test(t, test_fail_fast);
    tcase_add_test(t, test_sigint);
    tcase_add_test(t, test_visible_devices);
    tcase_add_test(t, test_cli_errors);
    tcase_add_test(t, test_variants_subset);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    if (access(resecg_bin(), X_OK) != 0) {
        fprintf(stderr, "test_sched: %s not found (set RESECG_BIN): skipped\n", resecg_bin());
        return 77;
    }
    SRunner *sr = srunner_create(sched_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

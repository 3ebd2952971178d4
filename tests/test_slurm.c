/* Checks the Slurm backend (runner/slurm.c) against a real Slurm: a
 * one-node cluster with two fake GPUs that tests/slurm/cluster.sh starts on
 * localhost (its own config and ports; root needed, else the program
 * skips, exit 77, saying why). `resecg sweep run --backend slurm` runs
 * through the built binary with the fake job program of sweeptest.h.
 * Covered: the demo sweep cut to 2 seeds of 3 epochs (real training, 8 jobs) completes with every job on a
 * fake GPU of its own; a failing job is reported with its exit code, by
 * the run and by `sweep status`, and a transient failure is retried; Ctrl-C
 * cancels the arrays and leaves nothing in the queue, and the next run
 * submits only the unfinished jobs and finishes them; kill -9 of the
 * monitor, then a re-run follows the still-queued tasks instead of
 * submitting them twice; --detach and `sweep status` on a Slurm sweep; a
 * squeue failing for a while (waited out, nothing resubmitted); --variants
 * submitting the selected variants' jobs only; and
 * the errors for a missing sbatch, an unknown partition and a submission
 * Slurm rejects. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweeptest.h"
#include "testutil.h"

static char cluster_sh[1100];

/* The fixture's tasks in the queue (their batch script lies in its
 * directory: other sweeps on the same cluster do not count). */
static int queue_count(const fixture *f, char *text, size_t n)
{
    FILE *p = popen("squeue --noheader --array --format='%i %T %o' 2>&1", "r");
    ck_assert(p != NULL);
    char line[2048];
    size_t len = 0;
    int lines = 0;
    text[0] = '\0';
    while (fgets(line, sizeof line, p))
        if (strstr(line, f->root)) {
            lines++;
            int w = snprintf(text + len, n - len, "%s", line);
            if (w > 0 && (size_t)w < n - len)
                len += (size_t)w;
        }
    pclose(p);
    return lines;
}

static void slurm_fixture(fixture *f, const char *tag, int nvar, int nseeds)
{
    fixture_init(f, tag, nvar, nseeds);
}

static void set_sleep(const fixture *f, const char *secs)
{
    char p[1100];
    fixture_path(f, "sleep", p, sizeof p);
    write_text(p, secs);
}

static void touch(const fixture *f, const char *prefix, const char *id)
{
    char name[100], p[1100];
    snprintf(name, sizeof name, "%s-%s", prefix, id);
    fixture_path(f, name, p, sizeof p);
    write_text(p, "x\n");
}

static void job_file(const fixture *f, const char *id, const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%s", f->root, id, file);
}

/* Waits until the fake program has recorded n starts (at most timeout s). */
static void wait_starts(const fixture *f, int n, double timeout)
{
    char p[1100];
    fixture_path(f, "starts", p, sizeof p);
    double until = util_now() + timeout;
    while (count_lines(p) < n) {
        ck_assert_msg(util_now() < until, "only %d of %d jobs started in %.0f s", count_lines(p), n,
                      timeout);
        sleep_s(0.1);
    }
}

/* Starts of job id that the fake saw with --resume. */
static int starts_resumed(const fixture *f, const char *id)
{
    char p[1100], **l;
    fixture_path(f, "starts", p, sizeof p);
    int n = read_lines(p, &l), m = 0;
    for (int i = 0; i < n; i++) {
        char jid[32], cvd[64];
        long pid;
        int resume;
        if (sscanf(l[i], "%31s %ld %63s %d", jid, &pid, cvd, &resume) == 4 && strcmp(jid, id) == 0)
            m += resume == 1;
    }
    free_lines(l, n);
    return m;
}

/* Each id of the fixture finished exactly once (the fake's "ends" file). */
static void assert_each_ended_once(const fixture *f, char ids[][13], int n)
{
    char p[1100];
    fixture_path(f, "ends", p, sizeof p);
    for (int i = 0; i < n; i++)
        ck_assert_msg(count_matching(p, ids[i], NULL) == 1, "job %s finished %d times, not once", ids[i],
                      count_matching(p, ids[i], NULL));
    ck_assert_int_eq(count_lines(p), n);
}

/* ---- a failing job; a transient one retried ---- */

START_TEST(test_failure_reported)
{
    fixture f;
    slurm_fixture(&f, "slfail", 2, 2);
    char ids[4][13];
    ck_assert_int_eq(fixture_ids(&f, ids, 4), 4);
    set_sleep(&f, "0.2");
    touch(&f, "fail", ids[1]);
    touch(&f, "failonce", ids[2]);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                          "--poll", "0.3", "--backoff", "0.2", "--retries", "1", NULL};
    int rc = run_sync(&f, "run.log", NULL, args, 120);
    show_log(&f, "run.log");
    ck_assert_int_eq(rc, 1);
    char p[1100], log[1100];
    fixture_path(&f, "run.log", log, sizeof log);
    /* the run names the failure, its exit code and its Slurm task */
    ck_assert_int_eq(count_matching(log, "FAILED", ids[1]), 1);
    ck_assert_int_eq(count_matching(log, "exit status 3", "Slurm task"), 3); /* 2 for ids[1], 1 for ids[2] */
    ck_assert_int_eq(count_matching(log, "retry", ids[2]), 1);
    for (int i = 0; i < 4; i++) {
        job_file(&f, ids[i], "f1.csv", p, sizeof p);
        ck_assert_msg(util_file_exists(p) == (i != 1), "job %s: f1.csv %s", ids[i],
                      i == 1 ? "exists for the failing job" : "missing");
    }
    snprintf(p, sizeof p, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(p, ids[1], "failed attempt=2 exit=3"), 1);
    ck_assert_int_eq(count_matching(p, ids[2], "done attempt=2"), 1);
    job_file(&f, ids[1], "slurm.exit", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "exit=3 signal=0 slurm=", NULL), 1);

    /* sweep status says the same, with the end of the job's log */
    const char *st[] = {"status", f.root, NULL};
    ck_assert_int_eq(run_sync(&f, "status.log", NULL, st, 60), 0);
    show_log(&f, "status.log");
    fixture_path(&f, "status.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "3 done", "1 failed"), 1);
    ck_assert_int_eq(count_matching(p, "failed", "[exit status 3, Slurm "), 1);
    ck_assert_int_eq(count_matching(p, ids[1], "exit status 3 after 2 attempts"), 1);
    ck_assert_int_eq(count_matching(p, "| boom", ids[1]), 2);       /* the log tail, 2 attempts */
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- --variants: the selected variants' jobs only, as locally ---- */

START_TEST(test_variants_subset)
{
    fixture f;
    slurm_fixture(&f, "slvar", 2, 1);
    char ids[2][13], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 2), 2);
    set_sleep(&f, "0.1");
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                          "--poll", "0.3", "--variants", "v1", NULL};
    int rc = run_sync(&f, "run.log", NULL, args, 120);
    show_log(&f, "run.log");
    ck_assert_int_eq(rc, 0);
    fixture_path(&f, "ends", p, sizeof p);
    ck_assert_int_eq(count_lines(p), 1);
    ck_assert_int_eq(count_matching(p, ids[1], NULL), 1);
    fixture_path(&f, "run.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "1 to run on Slurm, 1 not selected (--variants v1)", NULL), 1);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- Ctrl-C, then resume ---- */

START_TEST(test_cancel_then_resume)
{
    fixture f;
    slurm_fixture(&f, "slcancel", 2, 3);
    char ids[6][13], text[4096], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 6), 6);
    set_sleep(&f, "0.2");
    /* a first run finishes 4 of the 6 */
    touch(&f, "fail", ids[0]);
    touch(&f, "fail", ids[5]);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                          "--gres", "gpu:1", "--device", "cpu", "--poll", "0.3", "--retries", "0", NULL};
    ck_assert_int_eq(run_sync(&f, "run1.log", NULL, args, 120), 1);

    /* the second hangs in its jobs and is cancelled */
    fixture_path(&f, "fail-", p, sizeof p);
    snprintf(p, sizeof p, "%s/fail-%s", f.dir, ids[0]);
    unlink(p);
    snprintf(p, sizeof p, "%s/fail-%s", f.dir, ids[5]);
    unlink(p);
    set_sleep(&f, "300");
    fixture_path(&f, "starts", p, sizeof p);
    int before = count_lines(p);
    pid_t pid = run_start(&f, "run2.log", NULL, args);
    wait_starts(&f, before + 2, 60);
    ck_assert_int_eq(queue_count(&f, text, sizeof text), 2);
    kill(pid, SIGINT);
    int rc = run_wait(pid, 90);
    show_log(&f, "run2.log");
    ck_assert_int_eq(rc, 130);
    int left = queue_count(&f, text, sizeof text);
    ck_assert_msg(left == 0, "after Ctrl-C, %d tasks are still in the queue:\n%s", left, text);
    fixture_path(&f, "run2.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "submitted 2 jobs", NULL), 1); /* only the unfinished */
    snprintf(p, sizeof p, "%s/journal.log", f.root);
    ck_assert_int_eq(count_matching(p, "sweep-stop", "signal=2"), 1);
    ck_assert_int_eq(count_matching(p, ids[0], "killed"), 1);
    ck_assert_int_eq(count_matching(p, ids[5], "killed"), 1);
    /* the tasks got SIGTERM from scancel and said so */
    job_file(&f, ids[0], "slurm.exit", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "signal=15", NULL), 1);

    /* the third finishes the rest */
    set_sleep(&f, "0.2");
    ck_assert_int_eq(run_sync(&f, "run3.log", NULL, args, 120), 0);
    show_log(&f, "run3.log");
    fixture_path(&f, "run3.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "4 already done", "2 to run"), 1);
    for (int i = 0; i < 6; i++) {
        job_file(&f, ids[i], "f1.csv", p, sizeof p);
        ck_assert_msg(util_file_exists(p), "job %s has no f1.csv", ids[i]);
    }
    assert_each_ended_once(&f, ids, 6);
    /* they had checkpoints from earlier attempts: both later ones resumed */
    ck_assert_int_eq(starts_resumed(&f, ids[0]), 2);
    ck_assert_int_eq(starts_resumed(&f, ids[5]), 2);
    ck_assert_int_eq(queue_count(&f, text, sizeof text), 0);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- kill -9 of the monitor; --detach; status ---- */

START_TEST(test_monitor_killed_then_followed)
{
    fixture f;
    slurm_fixture(&f, "slkill", 2, 2);
    char ids[4][13], text[4096], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 4), 4);
    set_sleep(&f, "3");
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                          "--gres", "gpu:1", "--device", "cpu", "--poll", "0.3", NULL};
    pid_t pid = run_start(&f, "run1.log", NULL, args);
    wait_starts(&f, 2, 60);
    kill(pid, SIGKILL);
    ck_assert_int_eq(run_wait(pid, 10), 128 + SIGKILL);
    ck_assert_int_eq(queue_count(&f, text, sizeof text), 4); /* Slurm keeps them */

    /* status without a monitor asks squeue */
    const char *st[] = {"status", f.root, NULL};
    ck_assert_int_eq(run_sync(&f, "status1.log", NULL, st, 60), 0);
    show_log(&f, "status1.log");
    fixture_path(&f, "status1.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "no scheduler running", NULL), 1);
    ck_assert_int_eq(count_matching(p, "running", "[Slurm "), 2);
    ck_assert_int_eq(count_matching(p, "pending", "[Slurm "), 2);

    ck_assert_int_eq(run_sync(&f, "run2.log", NULL, args, 120), 0);
    show_log(&f, "run2.log");
    fixture_path(&f, "run2.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "following 4 jobs", NULL), 1);
    ck_assert_int_eq(count_matching(p, "submitted", NULL), 0);
    assert_each_ended_once(&f, ids, 4);
    fixture_path(&f, "starts", p, sizeof p);
    ck_assert_int_eq(count_lines(p), 4);

    /* --detach leaves at once; a plain run then follows to the end */
    testutil_rmtree(f.root);
    fixture_path(&f, "starts", p, sizeof p);
    unlink(p);
    fixture_path(&f, "ends", p, sizeof p);
    unlink(p);
    const char *det[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                         "--detach", NULL};
    double t0 = util_now();
    ck_assert_int_eq(run_sync(&f, "run3.log", NULL, det, 60), 0);
    ck_assert_msg(util_now() - t0 < 3, "--detach waited %.1f s", util_now() - t0);
    ck_assert_int_eq(queue_count(&f, text, sizeof text), 4);
    ck_assert_int_eq(run_sync(&f, "run4.log", NULL, args, 120), 0);
    show_log(&f, "run4.log");
    fixture_path(&f, "run4.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "following 4 jobs", NULL), 1);
    assert_each_ended_once(&f, ids, 4);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors)
{
    fixture f;
    slurm_fixture(&f, "slerr", 1, 2);
    char text[4096], p[1100];
    const char *path_env[] = {"PATH=/nonexistent", NULL};
    const char *a1[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm", NULL};
    ck_assert_int_eq(run_sync(&f, "e1.log", path_env, a1, 60), 2);
    fixture_path(&f, "e1.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "sbatch is not on PATH", NULL), 1);

    const char *a2[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm", "--partition", "nope", NULL};
    ck_assert_int_eq(run_sync(&f, "e2.log", NULL, a2, 60), 2);
    fixture_path(&f, "e2.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "--partition nope: no such Slurm partition", "debug"), 1);

    /* three GPUs on a node with two: sbatch refuses, and says why */
    const char *a3[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm", "--gres=gpu:3", NULL};
    ck_assert_int_eq(run_sync(&f, "e3.log", NULL, a3, 60), 2);
    show_log(&f, "e3.log");
    fixture_path(&f, "e3.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "Slurm rejected the submission of 2 jobs", "node configuration"), 1);
    ck_assert_int_eq(queue_count(&f, text, sizeof text), 0);

    /* options of one backend given to the other */
    const char *a4[] = {"run", f.sweep, "--out", f.out, "--partition", "debug", NULL};
    ck_assert_int_eq(run_sync(&f, "e4.log", NULL, a4, 60), 2);
    fixture_path(&f, "e4.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "--partition needs --backend slurm", NULL), 1);
    const char *a5[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm", "--gpus", "0", NULL};
    ck_assert_int_eq(run_sync(&f, "e5.log", NULL, a5, 60), 2);
    fixture_path(&f, "e5.log", p, sizeof p);
    ck_assert_int_eq(count_matching(p, "--gpus is an option of the local backend", NULL), 1);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- squeue failing for a while ---- */

START_TEST(test_squeue_outage)
{
    fixture f;
    slurm_fixture(&f, "slout", 2, 1);
    char ids[2][13], p[1100], wrap[1200], real[600] = "", bin[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 2), 2);
    FILE *w = popen("command -v squeue", "r");
    ck_assert(w && fgets(real, sizeof real, w));
    pclose(w);
    real[strcspn(real, "\n")] = '\0';
    /* a squeue that fails, as one talking to a restarting controller does,
     * while the file "outage" exists */
    snprintf(bin, sizeof bin, "%s/bin", f.dir);
    mkdir(bin, 0755);
    snprintf(wrap, sizeof wrap, "%s/squeue", bin);
    char script[2000];
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "if [ -e '%s/outage' ]; then echo 'squeue: error: slurm_load_jobs error: Socket timed out "
             "on send/recv operation' >&2; exit 1; fi\n"
             "exec '%s' \"$@\"\n",
             f.dir, real);
    write_text(wrap, script);
    chmod(wrap, 0755);
    char path_env[3000];
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    const char *env[] = {path_env, NULL};
    set_sleep(&f, "4");
    fixture_path(&f, "outage", p, sizeof p);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--backend", "slurm",
                          "--poll", "0.2", NULL};
    pid_t pid = run_start(&f, "run.log", env, args);
    wait_starts(&f, 2, 60);
    write_text(p, "x\n");  /* squeue fails while both jobs run and end */
    sleep_s(6);
    unlink(p);
    ck_assert_int_eq(run_wait(pid, 120), 0);
    show_log(&f, "run.log");
    fixture_path(&f, "run.log", p, sizeof p);
    ck_assert_int_ge(count_matching(p, "warning: squeue failed", "Socket timed out"), 1);
    ck_assert_int_eq(count_matching(p, "squeue answers again", NULL), 1);
    ck_assert_int_eq(count_matching(p, "submitted", NULL), 1); /* one array; nothing submitted twice */
    assert_each_ended_once(&f, ids, 2);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- the demo sweep, real training, through Slurm ---- */

typedef struct exit_rec {
    double start, end;
    char gpus[32];
} exit_rec;

START_TEST(test_demo_sweep)
{
    fixture f;
    slurm_fixture(&f, "sldemo", 1, 1);
    char demo[1100], out[1100], p[1400];
    /* the demo's variants and base config, cut to 2 seeds of 3 epochs: this
     * tests the Slurm plumbing around real training (8 jobs, two fake GPUs),
     * not the numbers, and the full demo (12 jobs of 12 epochs) would add
     * minutes to every CI run */
    snprintf(p, sizeof p, "%s/sweeps/demo.yaml", testutil_source_dir());
    char *text = read_all(p);
    sbuf sb = {0};
    for (char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "config:", 7) == 0)
            sbuf_printf(&sb, "config: %s/cfgs/small.yaml\n", testutil_source_dir());
        else if (strncmp(line, "seeds:", 6) == 0)
            sbuf_puts(&sb, "seeds: 2\n");
        else if (strncmp(line, "  train.max_epochs:", 19) == 0)
            sbuf_puts(&sb, "  train.max_epochs: 3\n");
        else
            sbuf_printf(&sb, "%.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    free(text);
    ck_assert(!sb.oom && strstr(sb.p, "seeds: 2") && strstr(sb.p, "train.max_epochs: 3"));
    snprintf(demo, sizeof demo, "%s/demo.yaml", f.dir);
    FILE *fp = fopen(demo, "w");
    ck_assert(fp && fputs(sb.p, fp) >= 0 && fclose(fp) == 0);
    free(sb.p);
    snprintf(out, sizeof out, "%s/results", f.dir);
    const char *args[] = {"run", demo, "--out", out, "--backend", "slurm", "--gres", "gpu:1", "--device",
                          "cpu", "--poll", "1", NULL};
    int rc = run_sync(&f, "demo.log", NULL, args, 1500);
    show_log(&f, "demo.log");
    ck_assert_int_eq(rc, 0);

    /* every job finished, each on one fake GPU, never two at once on one */
    snprintf(p, sizeof p, "%s/demo/jobs.tsv", out);
    char **lines;
    int n = read_lines(p, &lines), nj = 0, overlaps = 0;
    exit_rec rec[64];
    for (int i = 0; i < n && nj < 64; i++) {
        if (lines[i][0] == '#')
            continue;
        char id[13];
        snprintf(id, sizeof id, "%.12s", lines[i]);
        snprintf(p, sizeof p, "%s/demo/%s/f1.csv", out, id);
        ck_assert_msg(util_file_exists(p), "job %s has no f1.csv", id);
        snprintf(p, sizeof p, "%s/demo/%s/slurm.exit", out, id);
        char *t = read_all(p);
        char *s = strstr(t, " start="), *e = strstr(t, " end="), *g = strstr(t, " gpus=");
        ck_assert_msg(s && e && g && strncmp(t, "exit=0 ", 7) == 0, "job %s: slurm.exit '%s'", id, t);
        rec[nj].start = atof(s + 7);
        rec[nj].end = atof(e + 5);
        sscanf(g + 6, "%31s", rec[nj].gpus);
        ck_assert_msg(strcmp(rec[nj].gpus, "0") == 0 || strcmp(rec[nj].gpus, "1") == 0,
                      "job %s ran with CUDA_VISIBLE_DEVICES '%s', not one GPU", id, rec[nj].gpus);
        free(t);
        nj++;
    }
    free_lines(lines, n);
    ck_assert_int_eq(nj, 8);
    for (int a = 0; a < nj; a++)
        for (int b = a + 1; b < nj; b++)
            if (rec[a].start < rec[b].end && rec[b].start < rec[a].end) {
                overlaps++;
                ck_assert_msg(strcmp(rec[a].gpus, rec[b].gpus) != 0,
                              "two jobs ran at once on GPU %s", rec[a].gpus);
            }
    fprintf(stderr, "demo through Slurm: 8 jobs, %d pairs ran at the same time, each on its own GPU\n",
            overlaps);
    ck_assert_msg(overlaps > 0, "no two jobs ran at the same time: the GPU check proved nothing");

    /* and the report reads it like a local sweep */
    snprintf(p, sizeof p, "%s/demo", out);
    const char *rep[] = {resecg_bin(), "report", p, NULL};
    ck_assert_int_eq(testutil_run((char *const *)rep), 0);
    snprintf(p, sizeof p, "%s/demo/report/table1.csv", out);
    ck_assert_int_eq(count_matching(p, "focal", NULL), 1);
    testutil_rmtree(f.dir);
}
END_TEST

static Suite *slurm_suite(void)
{
    Suite *s = suite_create("slurm");
    TCase *tc = tcase_create("slurm");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_failure_reported);
    tcase_add_test(tc, test_variants_subset);
    tcase_add_test(tc, test_cancel_then_resume);
    tcase_add_test(tc, test_monitor_killed_then_followed);
    tcase_add_test(tc, test_squeue_outage);
    /* real training under the sanitizers would take most of the CI budget;
     * the Release suite runs it */
    if (!getenv("RESECG_SANITIZED"))
        tcase_add_test(tc, test_demo_sweep);
    else
        fprintf(stderr, "test_demo_sweep not registered in the sanitizer build (it trains 6 networks and 2 tree models); "
                        "the Release suite runs it\n");
    suite_add_tcase(s, tc);
    return s;
}

/* Runs tests/slurm/cluster.sh CMD; returns its exit status. */
static int cluster(const char *cmd)
{
    char *argv[] = {"/bin/bash", cluster_sh, (char *)cmd, NULL};
    return testutil_run(argv);
}

int main(void)
{
    /* a group of our own: a failed test may leave a `sweep run` behind,
     * and SIGTERM to the group at the end makes it cancel its arrays */
    setpgid(0, 0);
    snprintf(cluster_sh, sizeof cluster_sh, "%s/tests/slurm/cluster.sh", testutil_source_dir());
    int was_up = cluster("status") == 0;
    int rc = was_up ? 0 : cluster("start");
    if (rc == 77) {
        fprintf(stderr, "SKIP: no Slurm cluster could be started (see the line above): the Slurm "
                        "backend is untested here\n");
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "tests/slurm/cluster.sh start failed (exit %d)\n", rc);
        return 1;
    }
    const char *dir = getenv("RESECG_SLURM_DIR");
    char conf[1100];
    snprintf(conf, sizeof conf, "%s/slurm.conf", dir && *dir ? dir : "/var/tmp/resecg-slurm");
    setenv("SLURM_CONF", conf, 1);
    SRunner *sr = srunner_create(slurm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed) {
        signal(SIGTERM, SIG_IGN);
        kill(0, SIGTERM);
        sleep_s(5);
    }
    if (!was_up)
        cluster("stop");
    return failed ? 1 : 0;
}

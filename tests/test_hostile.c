/* Hostile and unlucky inputs (issue 18), through the functions the program
 * calls: every whole-file reader caps what it reads and refuses special files
 * without blocking on them; every writer refuses to replace anything but a
 * regular file and never writes through a link planted in a results
 * directory; YAML nesting is bounded before libyaml builds a document; a job
 * listed twice is an error; text from job logs reaches the terminal escaped.
 * (The CinC record readers' cases are in test_cinc17.c, the model files' in
 * test_checkpoint.c and test_features.c.) */
#include <check.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "run/safetensors.h"
#include "base/config.h"
#include "data/data.h"
#include "journal.h"
#include "report.h"
#include "sweep.h"
#include "sweep_dir.h"
#include "sweep_run.h"
#include "sweep_status.h"
#include "sweeptest.h"
#include "run/rundir.h"
#include "run/train.h"

static char g_dir[200];

static void make_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

/* A sparse file of `size` bytes: no disk, any size. */
static void sparse(const char *path, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(ftruncate(fd, size), 0);
    close(fd);
}

static void fifo(const char *path)
{
    unlink(path);
    ck_assert_msg(mkfifo(path, 0644) == 0, "mkfifo %s: %s", path, strerror(errno));
}

static void expect_error(int rc, const rerr *e, const char *path, const char *what)
{
    ck_assert_msg(rc != 0, "%s was accepted", path);
    ck_assert_msg(strstr(e->msg, path) != NULL, "the error does not name %s: %s", path, e->msg);
    ck_assert_msg(strstr(e->msg, what) != NULL, "the error does not say '%s': %s", what, e->msg);
}

static char *slurp(const char *path)
{
    return read_all(path);
}

/* ---- readers ---- */

typedef int (*reader_fn)(const char *path, rerr *e);

static int rd_config(const char *path, rerr *e)
{
    resecg_config c;
    return config_load_file(&c, path, e);
}

static int rd_sweep(const char *path, rerr *e)
{
    sweep sw;
    int rc = sweep_load(&sw, path, e);
    if (rc == 0)
        sweep_free(&sw);
    return rc;
}

static int visit_none(const journal_entry *en, void *data)
{
    (void)en;
    (void)data;
    return 0;
}

static int rd_journal(const char *path, rerr *e) { return journal_read(path, visit_none, NULL, e); }

static int rd_checkpoint(const char *path, rerr *e)
{
    st_file f;
    int rc = st_read(&f, path, e);
    if (rc == 0)
        st_free(&f);
    return rc;
}

static int rd_manifest(const char *path, rerr *e)
{
    dataset ds;
    dataset_init(&ds, 4);
    int part[1], nfolds = 0;
    int rc = manifest_read(path, &ds, "data", part, &nfolds, e);
    dataset_free(&ds);
    return rc;
}

static const struct {
    const char *name;
    reader_fn fn;
    off_t over; /* a size over the kind's cap */
} readers[] = {
    {"config.yaml", rd_config, (1 << 20) + 1},
    {"sweep.yaml", rd_sweep, (1 << 20) + 1},
    {"journal.log", rd_journal, (64 << 20) + 1},
    {"manifest.csv", rd_manifest, (64 << 20) + 1},
    {"last.safetensors", rd_checkpoint, ((off_t)2 << 30) + 1},
};
#define NREADERS (int)(sizeof readers / sizeof readers[0])

START_TEST(test_read_caps)
{
    for (int i = 0; i < NREADERS; i++) {
        char p[400];
        make_path(p, sizeof p, readers[i].name);
        sparse(p, readers[i].over);
        rerr e = {{0}};
        expect_error(readers[i].fn(p, &e), &e, p, "MiB");
        unlink(p);
    }
    /* a device that never ends: refused before a byte is read */
    rerr e = {{0}};
    expect_error(rd_config("/dev/zero", &e), &e, "/dev/zero", "character device");
    expect_error(rd_checkpoint("/dev/zero", &e), &e, "/dev/zero", "character device");
}
END_TEST

/* A FIFO with no writer: open(2) without O_NONBLOCK would wait forever (the
 * test case's timeout fails it then). */
START_TEST(test_read_fifos)
{
    for (int i = 0; i < NREADERS; i++) {
        char p[400];
        make_path(p, sizeof p, readers[i].name);
        fifo(p);
        rerr e = {{0}};
        expect_error(readers[i].fn(p, &e), &e, p, "FIFO");
        unlink(p);
    }
}
END_TEST

/* The results-directory files the scheduler opens for itself. */
START_TEST(test_results_dir_fifos)
{
    char root[400], p[500];
    make_path(root, sizeof root, "fifo-root");
    ck_assert_int_eq(mkdir(root, 0755), 0);
    rerr e = {{0}};
    snprintf(p, sizeof p, "%s/journal.log", root);
    fifo(p);
    journal j;
    expect_error(journal_open(&j, p, &e), &e, p, "FIFO");
    unlink(p);
    snprintf(p, sizeof p, "%s/.lock", root);
    fifo(p);
    int fd = -1;
    expect_error(sweep_dir_lock(root, &fd, &e), &e, p, "FIFO");
    unlink(p);
    snprintf(p, sizeof p, "%s/jobs.tsv", root);
    fifo(p);
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    expect_error(sweep_status(root, ms, &e), &e, p, "FIFO");
    fclose(ms);
    free(buf);
    unlink(p);
    rmdir(root);
}
END_TEST

/* A FIFO as one job's job.log: that job fails with a message naming it, the
 * others run, and the scheduler ends (it used to block in open(2) in its
 * event loop, and no job progressed). */
START_TEST(test_fifo_job_log)
{
    fixture f;
    fixture_init(&f, "fifolog", 1, 3);
    char ids[3][13], p[1100];
    ck_assert_int_eq(fixture_ids(&f, ids, 3), 3);
    snprintf(p, sizeof p, "%s/%s", f.root, ids[1]);
    ck_assert_int_eq(util_mkdir_p(p, NULL), 0);
    snprintf(p, sizeof p, "%s/%s/job.log", f.root, ids[1]);
    fifo(p);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--retries", "0", "--no-live", NULL};
    int rc = run_sync(&f, "run.log", NULL, args, 60);
    char logp[1100];
    fixture_path(&f, "run.log", logp, sizeof logp);
    char *log = slurp(logp);
    ck_assert_msg(rc != 0, "a sweep with a failed job exited 0:\n%s", log);
    ck_assert_msg(strstr(log, "FIFO") != NULL, "the run does not say what job.log is:\n%s", log);
    free(log);
    for (int i = 0; i < 3; i += 2) {
        snprintf(p, sizeof p, "%s/%s/f1.csv", f.root, ids[i]);
        ck_assert_msg(util_file_exists(p), "job %s did not run", ids[i]);
    }
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/job.log", f.root, ids[1]);
    ck_assert(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- writers ---- */

static void write_victim(const char *path) { write_text(path, "precious\n"); }

static void expect_victim(const char *path)
{
    char *t = slurp(path);
    ck_assert_msg(strcmp(t, "precious\n") == 0, "%s was written through a link: '%s'", path, t);
    free(t);
}

START_TEST(test_atomic_write_targets)
{
    char victim[400], link[400], p[400];
    make_path(victim, sizeof victim, "victim");
    write_victim(victim);
    rerr e = {{0}};

    /* a link at the target: refused, the link and what it points at kept */
    make_path(link, sizeof link, "out-link.csv");
    ck_assert_int_eq(symlink(victim, link), 0);
    expect_error(util_write_file_atomic(link, "x\n", 2, &e), &e, link, "symbolic link");
    struct stat st;
    ck_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    expect_victim(victim);
    /* the same through a real writer: config.yaml of a run */
    resecg_config cfg;
    config_defaults(&cfg);
    expect_error(config_write(&cfg, link, &e), &e, link, "symbolic link");
    expect_victim(victim);

    /* a FIFO, a directory */
    make_path(p, sizeof p, "out-fifo.csv");
    fifo(p);
    expect_error(util_write_file_atomic(p, "x\n", 2, &e), &e, p, "FIFO");
    ck_assert(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
    unlink(p);
    make_path(p, sizeof p, "out-dir.csv");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    expect_error(util_write_file_atomic(p, "x\n", 2, &e), &e, p, "directory");
    rmdir(p);

    /* a device node (`data split --out /dev/full` replaced the node with a
     * regular file): made here, never a real /dev entry */
    if (geteuid() == 0) {
        make_path(p, sizeof p, "full");
        ck_assert_int_eq(mknod(p, S_IFCHR | 0666, makedev(1, 7)), 0);
        expect_error(util_write_file_atomic(p, "x\n", 2, &e), &e, p, "character device");
        ck_assert(lstat(p, &st) == 0 && S_ISCHR(st.st_mode));
        unlink(p);
    } else {
        fprintf(stderr, "test_atomic_write_targets: not root: no device node case\n");
    }

    /* a link planted where the temp file will be: the write goes to a new
     * file, never through the link */
    make_path(p, sizeof p, "f1.csv");
    char tmp[500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(symlink(victim, tmp), 0);
    ck_assert_msg(util_write_file_atomic(p, "new\n", 4, &e) == 0, "%s", e.msg);
    expect_victim(victim);
    ck_assert(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
    char *t = slurp(p);
    ck_assert_str_eq(t, "new\n");
    free(t);
    unlink(p);
    unlink(tmp);
    unlink(link);
}
END_TEST

START_TEST(test_results_dir_links)
{
    char root[400], victim[400], p[500];
    make_path(root, sizeof root, "link-root");
    make_path(victim, sizeof victim, "victim2");
    ck_assert_int_eq(mkdir(root, 0755), 0);
    write_victim(victim);
    rerr e = {{0}};

    /* .lock -> victim: flock + ftruncate + pid would have replaced it */
    snprintf(p, sizeof p, "%s/.lock", root);
    ck_assert_int_eq(symlink(victim, p), 0);
    int fd = -1;
    expect_error(sweep_dir_lock(root, &fd, &e), &e, p, "symbolic link");
    expect_victim(victim);
    unlink(p);

    /* journal.log -> victim: appends would have gone to it */
    snprintf(p, sizeof p, "%s/journal.log", root);
    ck_assert_int_eq(symlink(victim, p), 0);
    journal j;
    expect_error(journal_open(&j, p, &e), &e, p, "symbolic link");
    expect_victim(victim);
    unlink(p);

    /* a job's run directory as a link to another directory */
    char elsewhere[400];
    make_path(elsewhere, sizeof elsewhere, "elsewhere");
    ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
    char yaml[1200];
    snprintf(yaml, sizeof yaml, "name: s\nconfig: %s/cfgs/small.yaml\nvariants:\n  a: {}\nseeds: 1\n",
             testutil_source_dir());
    sweep sw;
    sweep_plan plan;
    ck_assert_msg(sweep_load_string(&sw, yaml, strlen(yaml), "s.yaml", testutil_source_dir(), &e) == 0,
                  "%s", e.msg);
    ck_assert_msg(sweep_expand(&sw, &plan, &e) == 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/job", root);
    ck_assert_int_eq(symlink(elsewhere, p), 0);
    expect_error(sweep_dir_job_config(&plan, &plan.jobs[0], p, &e), &e, p, "symbolic link");
    char planted[500];
    snprintf(planted, sizeof planted, "%s/job.yaml", elsewhere);
    ck_assert_msg(!util_file_exists(planted), "job.yaml was written through the link");
    sweep_plan_free(&plan);
    sweep_free(&sw);
}
END_TEST

/* ---- YAML nesting ---- */

static char *nested(const char *prefix, const char *open, int n)
{
    size_t pl = strlen(prefix), ol = strlen(open);
    char *s = malloc(pl + ol * (size_t)n + 2);
    ck_assert(s != NULL);
    memcpy(s, prefix, pl);
    for (int i = 0; i < n; i++)
        memcpy(s + pl + ol * (size_t)i, open, ol);
    strcpy(s + pl + ol * (size_t)n, "\n");
    return s;
}

/* 80,000 '[' took libyaml 11-18 s of CPU; refused at once now (the test
 * case's timeout, far below that, fails the old behaviour). */
START_TEST(test_yaml_depth)
{
    rerr e = {{0}};
    resecg_config c;
    char *deep = nested("model:\n  filters: ", "[", 80000);
    ck_assert_int_ne(config_load_string(&c, deep, "deep.yaml", &e), 0);
    ck_assert_msg(strstr(e.msg, "deep.yaml:2:") && strstr(e.msg, "nested more than 64 levels"), "%s",
                  e.msg);
    free(deep);
    deep = nested("name: s\nconfig: ", "{a: ", 80000);
    sweep sw;
    ck_assert_int_ne(sweep_load_string(&sw, deep, strlen(deep), "deep-sweep.yaml", ".", &e), 0);
    ck_assert_msg(strstr(e.msg, "deep-sweep.yaml:2:") && strstr(e.msg, "nested more than 64 levels"),
                  "%s", e.msg);
    free(deep);
    /* --set goes through the same loader */
    config_defaults(&c);
    char *set = nested("model.filters=", "[", 80000);
    ck_assert_int_ne(config_set(&c, set, &e), 0);
    ck_assert_msg(strstr(e.msg, "nested more than 64 levels"), "%s", e.msg);
    free(set);
    /* at the limit (64 levels in all: two mappings and 62 sequences) it is
     * only an ordinary type error, not a depth error */
    deep = nested("model:\n  filters: ", "[", 62);
    ck_assert_int_ne(config_load_string(&c, deep, "ok.yaml", &e), 0);
    ck_assert_msg(!strstr(e.msg, "nested"), "64 levels refused: %s", e.msg);
    free(deep);
}
END_TEST

/* ---- jobs.tsv and sweep status ---- */

START_TEST(test_duplicate_job_rows)
{
    fixture f;
    fixture_init(&f, "dup", 1, 2);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--max-parallel", "2", "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "run.log", NULL, args, 60), 0);
    char p[1100];
    snprintf(p, sizeof p, "%s/jobs.tsv", f.root);
    char *t = slurp(p);
    char *last = strrchr(t, '\n');
    *last = '\0';
    last = strrchr(t, '\n');
    FILE *fp = fopen(p, "a");
    fprintf(fp, "%s\n", last + 1); /* the last job again */
    fclose(fp);
    free(t);
    rerr e = {{0}};
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    expect_error(sweep_status(f.root, ms, &e), &e, p, "listed twice");
    fclose(ms);
    free(buf);
    report_opts o;
    report_opts_default(&o);
    expect_error(report_run(f.root, NULL, &o, NULL, &e), &e, p, "listed twice");
    testutil_rmtree(f.dir);
}
END_TEST

/* A job whose output holds terminal escapes (clear screen, window title,
 * an 8-bit CSI, malformed UTF-8): `sweep status` shows its log escaped. */
START_TEST(test_status_escapes)
{
    fixture f;
    fixture_init(&f, "esc", 1, 1);
    char prog[1100];
    fixture_path(&f, "evil.sh", prog, sizeof prog);
    write_text(prog, "#!/bin/sh\n"
                     "printf 'hello \\033[2J\\033]0;pwned\\007 \\302\\2331m \\377 caf\\303\\251\\n' >&2\n"
                     "exit 3\n");
    chmod(prog, 0755);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", prog, "--gpus", "none",
                          "--retries", "0", "--no-live", NULL};
    ck_assert_int_ne(run_sync(&f, "run.log", NULL, args, 60), 0);
    rerr e = {{0}};
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    ck_assert_msg(sweep_status(f.root, ms, &e) == 0, "%s", e.msg);
    fclose(ms);
    ck_assert_msg(strstr(buf, "hello") != NULL, "the failure's log is not shown:\n%s", buf);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        ck_assert_msg(c != 0x1b && c != 0x07 && c != 0xff, "raw byte 0x%02x in the status output", c);
        ck_assert_msg(!(c == 0xc2 && i + 1 < len && (unsigned char)buf[i + 1] == 0x9b),
                      "raw 8-bit CSI in the status output");
    }
    ck_assert_msg(strstr(buf, "\\x1b[2J") && strstr(buf, "\\x07") && strstr(buf, "\\xff"),
                  "escapes not shown as \\xNN:\n%s", buf);
    ck_assert_msg(strstr(buf, "caf\xc3\xa9") != NULL, "UTF-8 text was escaped:\n%s", buf);
    free(buf);
    testutil_rmtree(f.dir);
}
END_TEST

/* ---- a run directory is trusted only as a whole ---- */

static void tiny_config(resecg_config *c)
{
    char p[600];
    snprintf(p, sizeof p, "%s/cfgs/small.yaml", testutil_source_dir());
    config_defaults(c);
    rerr e = {{0}};
    ck_assert_msg(config_load_file(c, p, &e) == 0, "%s", e.msg);
    c->data.synth_records = 48;
    c->data.synth_length = 1024;
    c->data.synth_min_length = 1024;
    c->train.batch_size = 8;
    c->train.max_epochs = 1;
    c->train.threads = 1;
}

/* A fresh run into a finished run's directory, killed (here: failing) once
 * it has started, used to leave the old f1.csv, predictions.csv and
 * confusion.csv beside its own config.yaml: the directory read as finished. */
START_TEST(test_run_dir_whole)
{
    resecg_config c;
    tiny_config(&c);
    char dir[400], p[500];
    make_path(dir, sizeof dir, "run");
    train_opts o = {.out_dir = dir, .device = "cpu", .quiet = 1};
    train_result res;
    rerr e = {{0}};
    ck_assert_msg(train_run(&c, &o, &res, &e) == 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/f1.csv", dir);
    ck_assert(util_file_exists(p));

    /* again into the same directory: refused, the finished run kept */
    ck_assert_int_ne(train_run(&c, &o, &res, &e), 0);
    ck_assert_msg(strstr(e.msg, dir) && strstr(e.msg, "holds a run already") &&
                      strstr(e.msg, "--fresh"), "%s", e.msg);
    ck_assert(util_file_exists(p));
    o.resume = o.fresh = 1;
    ck_assert_int_ne(train_run(&c, &o, &res, &e), 0);

    /* --fresh clears the run's files before anything else: a run that then
     * dies leaves no old results behind */
    o.resume = 0;
    resecg_config bad = c;
    snprintf(bad.data.source, sizeof bad.data.source, "cinc17");
    snprintf(bad.data.dir, sizeof bad.data.dir, "%s/no-such-data", g_dir);
    ck_assert_int_ne(train_run(&bad, &o, &res, &e), 0);
    static const char *gone[] = {"f1.csv", "predictions.csv", "confusion.csv", "epochs.csv",
                                 "best.safetensors", "last.safetensors"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, gone[i]);
        ck_assert_msg(!util_file_exists(p), "%s survived --fresh", p);
    }
    /* and a fresh run there then finishes as any other */
    ck_assert_msg(train_run(&c, &o, &res, &e) == 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/f1.csv", dir);
    ck_assert(util_file_exists(p));
}
END_TEST

/* train.log is an output like any other: a FIFO there (open(2) for
 * appending used to block until a reader came) or a planted link is refused. */
START_TEST(test_run_log_special)
{
    resecg_config c;
    tiny_config(&c);
    char dir[400], p[500], victim[400];
    make_path(dir, sizeof dir, "run-log");
    ck_assert_int_eq(util_mkdir_p(dir, NULL), 0);
    snprintf(p, sizeof p, "%s/train.log", dir);
    fifo(p);
    /* --resume keeps train.log (a run file): the open is what must refuse */
    train_opts o = {.out_dir = dir, .device = "cpu", .quiet = 1, .resume = 1};
    train_result res;
    rerr e = {{0}};
    expect_error(train_run(&c, &o, &res, &e), &e, p, "FIFO");
    unlink(p);
    make_path(victim, sizeof victim, "victim3");
    write_victim(victim);
    ck_assert_int_eq(symlink(victim, p), 0);
    expect_error(train_run(&c, &o, &res, &e), &e, p, "symbolic link");
    expect_victim(victim);
}
END_TEST

/* A run whose losses blow up ends saying so (it used to end with
 * "best.safetensors: cannot open: No such file or directory"). */
START_TEST(test_divergence_named)
{
    resecg_config c;
    char p[600];
    snprintf(p, sizeof p, "%s/cfgs/small.yaml", testutil_source_dir());
    config_defaults(&c);
    rerr le = {{0}};
    ck_assert_msg(config_load_file(&c, p, &le) == 0, "%s", le.msg);
    c.data.synth_records = 64;
    c.train.max_epochs = 3;
    static const float lrs[] = {1e6f, 1e12f};
    for (int i = 0; i < 2; i++) {
        c.optim.lr = lrs[i];
        char dir[400];
        snprintf(dir, sizeof dir, "%s/diverge-%d", g_dir, i);
        train_opts o = {.out_dir = dir, .device = "cpu", .quiet = 1};
        train_result res;
        rerr e = {{0}};
        ck_assert_int_ne(train_run(&c, &o, &res, &e), 0);
        ck_assert_msg(strstr(e.msg, "diverged") && strstr(e.msg, "optim.lr"), "lr %g: %s",
                      (double)lrs[i], e.msg);
        ck_assert_msg(!strstr(e.msg, "cannot open"), "%s", e.msg);
    }
}
END_TEST

/* ---- results of other data, changed results, older results ---- */

/* A CinC-shaped directory: labels and (empty) record files; the fingerprint
 * reads names and sizes only. */
static void cinc_dir(const char *dir, const char *labels)
{
    ck_assert_int_eq(util_mkdir_p(dir, NULL), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/REFERENCE-v3.csv", dir);
    write_text(p, labels);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/A0000%d.mat", dir, i + 1);
        write_text(p, "x");
        snprintf(p, sizeof p, "%s/A0000%d.hea", dir, i + 1);
        write_text(p, "y");
    }
}

static void fingerprint_of(const char *dir, char *fp)
{
    resecg_config c;
    config_defaults(&c);
    snprintf(c.data.source, sizeof c.data.source, "cinc17");
    snprintf(c.data.dir, sizeof c.data.dir, "%s", dir);
    rerr e = {{0}};
    ck_assert_msg(rundir_data_fingerprint(&c, fp, &e) == 0, "%s", e.msg);
}

START_TEST(test_data_fingerprint)
{
    char a[400], b[400], moved[400], fa[RUNDIR_FP_SIZE], fb[RUNDIR_FP_SIZE], fm[RUNDIR_FP_SIZE];
    make_path(a, sizeof a, "fp-a");
    make_path(b, sizeof b, "fp-b");
    make_path(moved, sizeof moved, "fp-moved/deeper");
    cinc_dir(a, "A00001,N\nA00002,A\nA00003,O\n");
    cinc_dir(b, "A00001,N\nA00002,A\nA00003,~\n"); /* one label changed */
    cinc_dir(moved, "A00001,N\nA00002,A\nA00003,O\n");
    fingerprint_of(a, fa);
    fingerprint_of(b, fb);
    fingerprint_of(moved, fm);
    ck_assert_str_ne(fa, fb);
    ck_assert_str_eq(fa, fm); /* a path is not the data */
    /* a record replaced by a longer one */
    char p[600];
    snprintf(p, sizeof p, "%s/A00002.mat", moved);
    write_text(p, "xx");
    fingerprint_of(moved, fm);
    ck_assert_str_ne(fa, fm);
}
END_TEST

static int sweep_plan_state(const fixture *f, const char *out, const char *id, char *state)
{
    const char *args[] = {"plan", f->sweep, "--out", out, NULL};
    ck_assert_int_eq(run_sync(f, "plan.log", NULL, args, 30), 0);
    char logp[1100];
    fixture_path(f, "plan.log", logp, sizeof logp);
    char **l;
    int n = read_lines(logp, &l), found = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(l[i], id, 12) == 0)
            found = sscanf(l[i], "%*s %*s %*s %15s", state) == 1;
    free_lines(l, n);
    unlink(logp);
    return found;
}

/* Changing a sweep's data: to another data set used to give "1 of 1
 * already done", and the report showed the old data's numbers as new. */
START_TEST(test_other_data_not_done)
{
    fixture f;
    fixture_init(&f, "otherdata", 1, 1);
    char a[400], b[400], sweepf[1200];
    snprintf(a, sizeof a, "%s/data-a", f.dir);
    snprintf(b, sizeof b, "%s/data-b", f.dir);
    cinc_dir(a, "A00001,N\nA00002,A\nA00003,O\n");
    cinc_dir(b, "A00001,N\nA00002,A\nA00003,~\n");
    snprintf(sweepf, sizeof sweepf,
             "name: s\nconfig: %s/cfgs/small.yaml\ndata: %s\nset: {data.source: cinc17}\n"
             "variants:\n  v0: {}\nseeds: 1\n", testutil_source_dir(), a);
    write_text(f.sweep, sweepf);
    char ids[1][13];
    ck_assert_int_eq(fixture_ids(&f, ids, 1), 1);
    /* a run finished on data A: what train leaves */
    char dir[1200], p[1300], fa[RUNDIR_FP_SIZE];
    snprintf(dir, sizeof dir, "%s/%s", f.root, ids[0]);
    ck_assert_int_eq(util_mkdir_p(dir, NULL), 0);
    snprintf(p, sizeof p, "%s/f1.csv", dir);
    write_text(p, "class,f1\n");
    fingerprint_of(a, fa);
    static const char *const files[] = {"f1.csv"};
    rerr e = {{0}};
    ck_assert_msg(rundir_complete_write(dir, fa, files, 1, &e) == 0, "%s", e.msg);
    char state[16] = "";
    ck_assert(sweep_plan_state(&f, f.out, ids[0], state));
    ck_assert_str_eq(state, "done");
    /* the same sweep on data B: the same job id, not done */
    snprintf(sweepf, sizeof sweepf,
             "name: s\nconfig: %s/cfgs/small.yaml\ndata: %s\nset: {data.source: cinc17}\n"
             "variants:\n  v0: {}\nseeds: 1\n", testutil_source_dir(), b);
    write_text(f.sweep, sweepf);
    char ids_b[1][13];
    ck_assert_int_eq(fixture_ids(&f, ids_b, 1), 1);
    ck_assert_str_eq(ids_b[0], ids[0]);
    ck_assert(sweep_plan_state(&f, f.out, ids[0], state));
    ck_assert_str_eq(state, "stale");
    ck_assert_int_eq(rundir_is_complete(dir, NULL, &e), 1);
    char fb[RUNDIR_FP_SIZE];
    fingerprint_of(b, fb);
    ck_assert_int_eq(rundir_is_complete(dir, fb, &e), 0);
    ck_assert_msg(strstr(e.msg, "other data"), "%s", e.msg);
    /* and a result changed since the run ended is not finished either */
    write_text(p, "class,f1\nN,0.99\n");
    ck_assert_int_eq(rundir_is_complete(dir, NULL, &e), 0);
    ck_assert_msg(strstr(e.msg, "f1.csv changed since the run ended"), "%s", e.msg);
    testutil_rmtree(f.dir);
}
END_TEST

/* f1.csv without complete.txt (an older resecg): never taken as finished
 * silently, never rerun over silently; `sweep adopt` records it. */
START_TEST(test_legacy_results)
{
    fixture f;
    fixture_init(&f, "legacy", 1, 2);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--no-live", NULL};
    ck_assert_int_eq(run_sync(&f, "run.log", NULL, args, 60), 0);
    char ids[2][13], p[1300];
    ck_assert_int_eq(fixture_ids(&f, ids, 2), 2);
    snprintf(p, sizeof p, "%s/%s/complete.txt", f.root, ids[1]);
    ck_assert_int_eq(unlink(p), 0); /* as an older resecg left it */
    ck_assert_int_eq(run_sync(&f, "run2.log", NULL, args, 60), 1);
    char logp[1100];
    fixture_path(&f, "run2.log", logp, sizeof logp);
    char *log = slurp(logp);
    ck_assert_msg(strstr(log, ids[1]) && strstr(log, "sweep adopt"), "%s", log);
    free(log);
    /* adopt checks config.yaml: the fake job wrote none, so not adopted */
    const char *adopt[] = {"adopt", f.sweep, "--out", f.out, NULL};
    ck_assert_int_eq(run_sync(&f, "adopt.log", NULL, adopt, 30), 1);
    /* with the job's config as train writes it, adopted, then done */
    resecg_config cfg;
    sweep sw;
    sweep_plan plan;
    rerr e = {{0}};
    ck_assert(sweep_load(&sw, f.sweep, &e) == 0 && sweep_expand(&sw, &plan, &e) == 0);
    ck_assert(sweep_job_config(&plan, &plan.jobs[1], &cfg, &e) == 0);
    snprintf(p, sizeof p, "%s/%s/config.yaml", f.root, ids[1]);
    ck_assert_msg(config_write(&cfg, p, &e) == 0, "%s", e.msg);
    static const char *rest[] = {"epochs.csv", "normalization.csv", "predictions.csv",
                                 "confusion.csv"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", f.root, ids[1], rest[i]);
        write_text(p, "x\n");
    }
    sweep_plan_free(&plan);
    sweep_free(&sw);
    ck_assert_int_eq(run_sync(&f, "adopt2.log", NULL, adopt, 30), 0);
    snprintf(p, sizeof p, "%s/%s", f.root, ids[1]);
    ck_assert_int_eq(rundir_is_complete(p, "synthetic", &e), 1);
    ck_assert_int_eq(run_sync(&f, "run3.log", NULL, args, 60), 0);
    fixture_path(&f, "run3.log", logp, sizeof logp);
    log = slurp(logp);
    ck_assert_msg(strstr(log, "2 already done, 0 to run"), "%s", log);
    free(log);
    testutil_rmtree(f.dir);
}
END_TEST

/* Exit statuses as the README has them: 2 for a bad sweep file or options,
 * 1 for a run that could not go on (here: the results directory held by
 * another scheduler; disk full and unwritable take the same path). */
START_TEST(test_sweep_exit_status)
{
    fixture f;
    fixture_init(&f, "exit", 1, 1);
    ck_assert_int_eq(util_mkdir_p(f.root, NULL), 0);
    int fd = -1;
    rerr e = {{0}};
    ck_assert_msg(sweep_dir_lock(f.root, &fd, &e) == 0, "%s", e.msg);
    const char *args[] = {"run", f.sweep, "--out", f.out, "--job-program", f.fake, "--gpus", "none",
                          "--no-live", NULL};
    int rc = run_sync(&f, "run.log", NULL, args, 30);
    char logp[1100];
    fixture_path(&f, "run.log", logp, sizeof logp);
    char *log = slurp(logp);
    ck_assert_msg(rc == 1 && strstr(log, "in use"), "exit %d:\n%s", rc, log);
    free(log);
    close(fd);
    write_text(f.sweep, "name: s\nvariants: {a: {}}\nbogus: 1\n");
    ck_assert_int_eq(run_sync(&f, "run2.log", NULL, args, 30), 2);
    testutil_rmtree(f.dir);
}
END_TEST

int main(void)
{
    testutil_mkdtemp(g_dir, sizeof g_dir, "hostile");
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("inputs");
    /* far below the old behaviours (a FIFO blocked forever, deep YAML took
     * 11-18 s), far above what the checks take */
    tcase_set_timeout(tc, 8);
    tcase_add_test(tc, test_read_caps);
    tcase_add_test(tc, test_read_fifos);
    tcase_add_test(tc, test_results_dir_fifos);
    tcase_add_test(tc, test_atomic_write_targets);
    tcase_add_test(tc, test_results_dir_links);
    tcase_add_test(tc, test_yaml_depth);
    tcase_add_test(tc, test_data_fingerprint);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("sweeps");
    tcase_set_timeout(tr, 90);
    tcase_add_test(tr, test_fifo_job_log);
    tcase_add_test(tr, test_duplicate_job_rows);
    tcase_add_test(tr, test_status_escapes);
    tcase_add_test(tr, test_sweep_exit_status);
    tcase_add_test(tr, test_run_dir_whole);
    tcase_add_test(tr, test_divergence_named);
    tcase_add_test(tr, test_run_log_special);
    tcase_add_test(tr, test_other_data_not_done);
    tcase_add_test(tr, test_legacy_results);
    suite_add_tcase(s, tr);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    testutil_rmtree(g_dir);
    return failed ? 1 : 0;
}

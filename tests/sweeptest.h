/* Shared by the scheduler tests (test_sched.c: the local backend;
 * test_slurm.c: the Slurm backend): a fake job program standing in for
 * `resecg train`, a sweep fixture in a temp dir, and running
 * `resecg sweep ...` through the built binary ($RESECG_BIN). */
#ifndef RESECG_SWEEPTEST_H
#define RESECG_SWEEPTEST_H

#include <check.h>
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

#include "sweep.h"
#include "testutil.h"
#include "base/util.h"

extern char **environ;

/* ---- helpers ---- */

static inline void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

/* Lines of a file (malloc'd array of malloc'd strings); 0 if it is missing. */
static inline int read_lines(const char *path, char ***out)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char line[4096];
    int n = 0, cap = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = realloc(*out, sizeof **out * (size_t)cap);
        }
        (*out)[n++] = strdup(line);
    }
    fclose(fp);
    return n;
}

static inline void free_lines(char **l, int n)
{
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static inline int count_lines(const char *path)
{
    char **l;
    int n = read_lines(path, &l);
    free_lines(l, n);
    return n;
}

static inline char *read_all(const char *path)
{
    char *text = NULL;
    size_t len;
    rerr e;
    if (util_read_file(path, &text, &len, &e) != 0)
        return strdup("");
    return text;
}

/* Lines of path that contain every one of the strings a and b (b may be NULL). */
static inline int count_matching(const char *path, const char *a, const char *b)
{
    char **l;
    int n = read_lines(path, &l), m = 0;
    for (int i = 0; i < n; i++)
        m += strstr(l[i], a) && (!b || strstr(l[i], b));
    free_lines(l, n);
    return m;
}

/* ---- the fake job program and sweep files ---- */

/* A stand-in for `resecg train --config F --out D [--resume] ...`:
 *   starts: "ID PID CUDA_VISIBLE_DEVICES(or empty/unset) RESUME OMP_NUM_THREADS TIME" per start
 *   ends:   "ID" per finished job (after f1.csv and complete.txt are in place)
 *   slot-G-S: mkdir locks, two per GPU; "overlaps" gets a line when both are taken
 *   sleep:  seconds to sleep (default 0.1 to 0.3, by pid)
 *   fail-ID: fail (exit 3) after sleeping; failonce-ID: fail once; failfast-ID: exit 5 at once
 * FAKE_IGNORE_TERM makes it (and its sleep) ignore SIGTERM. */
static const char *fake_script =
    "#!/bin/sh\n"
    "out=''; resume=0\n"
    "while [ $# -gt 0 ]; do\n"
    "  case \"$1\" in --out) out=\"$2\"; shift;; --resume) resume=1;; esac; shift\n"
    "done\n"
    "T=\"$FAKE_DIR\"; id=$(basename \"$out\")\n"
    "[ -n \"$FAKE_IGNORE_TERM\" ] && trap '' TERM\n"
    "cvd=${CUDA_VISIBLE_DEVICES-unset}; [ -z \"$cvd\" ] && cvd=empty\n"
    "echo \"$id $$ $cvd $resume ${OMP_NUM_THREADS-unset} $(date +%s.%N)\" >> \"$T/starts\"\n"
    "if [ -e \"$T/failfast-$id\" ]; then echo \"fails at once\" >&2; exit 5; fi\n"
    "held=''\n"
    "for g in $(echo \"$CUDA_VISIBLE_DEVICES\" | tr ',' ' '); do\n"
    "  got=''\n"
    "  for s in 0 1; do if mkdir \"$T/slot-$g-$s\" 2>/dev/null; then got=\"$T/slot-$g-$s\"; break; fi; done\n"
    "  if [ -z \"$got\" ]; then echo \"$id gpu $g\" >> \"$T/overlaps\"; else held=\"$held $got\"; fi\n"
    "done\n"
    "echo ckpt > \"$out/last.safetensors\"\n"
    "echo \"epoch   1/2  train_loss 1.0000  dev_loss 0.9000  cinc_f1 0.500  F1 N 0.900\" >&2\n"
    "s=$(cat \"$T/sleep\" 2>/dev/null || echo 0.$(( $$ % 3 + 1 )))\n"
    "sleep \"$s\"\n"
    "for h in $held; do rmdir \"$h\"; done\n"
    "if [ -e \"$T/failonce-$id\" ]; then rm -f \"$T/failonce-$id\"; echo \"transient failure\" >&2; exit 3; fi\n"
    "if [ -e \"$T/fail-$id\" ]; then echo \"boom $id\" >&2; exit 3; fi\n"
    "echo \"epoch   2/2  train_loss 0.5000  dev_loss 0.4000  cinc_f1 0.700  F1 N 0.950\" >&2\n"
    "echo 'class,f1' > \"$out/f1.csv.tmp.$$\" && mv \"$out/f1.csv.tmp.$$\" \"$out/f1.csv\"\n"
    "printf 'data\\tsynthetic\\nfile\\tf1.csv\\t%s\\t-\\n' $(wc -c < \"$out/f1.csv\") > \"$out/c.tmp.$$\"\n"
    "mv \"$out/c.tmp.$$\" \"$out/complete.txt\"\n"
    "echo \"$id\" >> \"$T/ends\"\n";

typedef struct fixture {
    char dir[200];
    char fake[300], sweep[300], out[300], root[320];
} fixture;

/* A temp dir with the fake program and a sweep of nvar variants x nseeds seeds. */
static inline void fixture_init(fixture *f, const char *tag, int nvar, int nseeds)
{
    testutil_mkdtemp(f->dir, sizeof f->dir, tag);
    snprintf(f->fake, sizeof f->fake, "%s/fake.sh", f->dir);
    snprintf(f->sweep, sizeof f->sweep, "%s/s.yaml", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    snprintf(f->root, sizeof f->root, "%s/out/s", f->dir);
    write_text(f->fake, fake_script);
    chmod(f->fake, 0755);
    char text[2048];
    int o = snprintf(text, sizeof text, "name: s\nconfig: %s/cfgs/small.yaml\nvariants:\n",
                     testutil_source_dir());
    const char *kinds[3] = {"ce", "focal", "weighted"};
    for (int v = 0; v < nvar; v++)
        o += snprintf(text + o, sizeof text - (size_t)o, "  v%d: {loss.kind: %s}\n", v, kinds[v]);
    snprintf(text + o, sizeof text - (size_t)o, "seeds: %d\n", nseeds);
    write_text(f->sweep, text);
}

/* The 12-hex ids of the fixture's jobs, in plan order. */
static inline int fixture_ids(const fixture *f, char ids[][13], int max)
{
    sweep sw;
    sweep_plan p;
    rerr e = {{0}};
    ck_assert_msg(sweep_load(&sw, f->sweep, &e) == 0, "%s", e.msg);
    ck_assert_msg(sweep_expand(&sw, &p, &e) == 0, "%s", e.msg);
    int n = (int)p.njobs < max ? (int)p.njobs : max;
    for (int i = 0; i < n; i++)
        sweep_id_hex(p.jobs[i].id, ids[i]);
    sweep_plan_free(&p);
    sweep_free(&sw);
    return n;
}

static inline void fixture_path(const fixture *f, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", f->dir, name);
}

static inline const char *resecg_bin(void)
{
    const char *b = getenv("RESECG_BIN");
    return b && *b ? b : "./resecg";
}

/* Starts `resecg sweep ARGS...` with FAKE_DIR and extra environment
 * entries, its output appended to dir/<log>; returns the pid. */
static inline pid_t run_start(const fixture *f, const char *log, const char *const *env_extra,
                       const char *const *args)
{
    char logp[1100];
    snprintf(logp, sizeof logp, "%s/%s", f->dir, log);
    const char *argv[40];
    int a = 0;
    argv[a++] = resecg_bin();
    argv[a++] = "sweep";
    for (int i = 0; args[i]; i++)
        argv[a++] = args[i];
    argv[a] = NULL;
    int n = 0;
    while (environ[n])
        n++;
    char **env = calloc((size_t)n + 16, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++) {
        /* env_extra replaces what we have */
        int replaced = 0;
        for (int x = 0; env_extra && env_extra[x]; x++) {
            const char *eq = strchr(env_extra[x], '=');
            size_t len = eq ? (size_t)(eq - env_extra[x]) + 1 : 0;
            replaced |= len && strncmp(environ[i], env_extra[x], len) == 0;
        }
        if (!replaced && strncmp(environ[i], "RESECG_FAKE_GPUS=", 17) != 0 &&
            strncmp(environ[i], "FAKE_", 5) != 0)
            env[k++] = environ[i];
    }
    char fakedir[600];
    snprintf(fakedir, sizeof fakedir, "FAKE_DIR=%s", f->dir);
    env[k++] = fakedir;
    for (int i = 0; env_extra && env_extra[i]; i++)
        env[k++] = (char *)env_extra[i];
    env[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    ck_assert_msg(rc == 0, "cannot run %s: %s", argv[0], strerror(rc));
    return pid;
}

/* Waits for pid (at most timeout seconds, then kills it and fails);
 * returns its exit status, 128 + signal if a signal ended it. */
static inline int run_wait(pid_t pid, double timeout)
{
    double until = util_now() + timeout;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (util_now() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("resecg sweep did not finish in %.0f s", timeout);
        }
        sleep_s(0.02);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline int run_sync(const fixture *f, const char *log, const char *const *env_extra,
                    const char *const *args, double timeout)
{
    return run_wait(run_start(f, log, env_extra, args), timeout);
}

static inline void show_log(const fixture *f, const char *log)
{
    char p[1100];
    fixture_path(f, log, p, sizeof p);
    char *t = read_all(p);
    fprintf(stderr, "---- %s ----\n%s", p, t);
    free(t);
}

#endif

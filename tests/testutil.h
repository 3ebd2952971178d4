/* Helpers shared by the test programs: a scratch directory per test program
 * (made in the parent process by an unchecked fixture, removed at the end),
 * the repository root for fixtures, and the unpacked CinC 2017 working copy
 * for real-data tests. Header-only: each test is one file. */
#ifndef RESECG_TESTUTIL_H
#define RESECG_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/rng.h"
#include "base/util.h"

#include "base/util.h"

/* Makes $TMPDIR/resecg-<tag>-XXXXXX (or under /tmp) into dir; aborts on
 * failure, since no test could run without it. */
static inline void testutil_mkdtemp(char *dir, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/resecg-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
        abort();
    }
}

/* malloc'd floats (at least one); aborts on failure. */
static inline float *testutil_falloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    RESECG_ASSERT(p != NULL);
    return p;
}

/* x (n) = mean + sd * N(0, 1), from r. */
static inline void testutil_fill_normal(rng *r, float *x, size_t n, float mean, float sd)
{
    for (size_t i = 0; i < n; i++)
        x[i] = mean + sd * rng_normal(r);
}

/* Root mean square of x (n); 0 for n = 0. */
static inline double testutil_rms(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

/* Removes dir and everything below it. */
static inline void testutil_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[4096];
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p)
                continue;
            if (de->d_type == DT_DIR)
                testutil_rmtree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The repository root: $RESECG_SOURCE_DIR (set by CTest), else "..". */
static inline const char *testutil_source_dir(void)
{
    const char *s = getenv("RESECG_SOURCE_DIR");
    return s && *s ? s : "..";
}

/* ---- the CinC 2017 working copy for real-data tests ----
 * The records live in ../shared (never in the repository) as
 * data/cinc17/training2017.tar.xz. They are unpacked once into
 * $TMPDIR/resecg-cinc17-cache/training2017; the stamp file `complete` beside
 * it, written atomically after tar and the rename succeeded, holds the
 * tarball's "size mtime" and marks a complete unpack of that tarball. The
 * protocol is test_cinc17.c's, so the tests share one cache; an flock on
 * `lock` keeps concurrent test programs from unpacking at once. */

/* Runs argv (no shell); the exit status, or -1. */
static inline int testutil_run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static inline int testutil_stamp_ok(const char *stamp, const char *want)
{
    char *have = NULL;
    int ok = util_read_file(stamp, &have, NULL, NULL) == 0 && strcmp(have, want) == 0;
    free(have);
    return ok;
}

/* Fills dir with the unpacked training2017/ directory and returns 1; 0 when
 * there is no working copy ($RESECG_SHARED_DIR, else
 * $RESECG_SOURCE_DIR/../shared), with why saying so; -1 when it is there but
 * could not be unpacked (a failure, not a skip). */
static inline int testutil_cinc17_dir(char *dir, size_t size, char *why, size_t whysz)
{
    const char *shared = getenv("RESECG_SHARED_DIR");
    char shared_buf[1024], tarball[1200];
    if (!shared || !*shared) {
        snprintf(shared_buf, sizeof shared_buf, "%s/../shared", testutil_source_dir());
        shared = shared_buf;
    }
    snprintf(tarball, sizeof tarball, "%s/data/cinc17/training2017.tar.xz", shared);
    struct stat st;
    if (stat(tarball, &st) != 0) {
        snprintf(why, whysz, "%s not found (set RESECG_SHARED_DIR)", tarball);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char cache[1024], stamp[1100], want[128], final_dir[1100], lockp[1100];
    snprintf(cache, sizeof cache, "%s/resecg-cinc17-cache", tmp && *tmp ? tmp : "/tmp");
    snprintf(stamp, sizeof stamp, "%s/complete", cache);
    snprintf(lockp, sizeof lockp, "%s/lock", cache);
    snprintf(final_dir, sizeof final_dir, "%s/training2017", cache);
    snprintf(want, sizeof want, "%lld %lld\n", (long long)st.st_size, (long long)st.st_mtime);
    snprintf(dir, size, "%s", final_dir);
    if (testutil_stamp_ok(stamp, want))
        return 1;
    rerr e;
    if (util_mkdir_p(cache, &e) != 0) {
        snprintf(why, whysz, "%s", e.msg);
        return -1;
    }
    int lk = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lk >= 0)
        flock(lk, LOCK_EX);
    int rc = 1;
    if (!testutil_stamp_ok(stamp, want)) { /* nobody finished it while we waited */
        unlink(stamp);
        char work[1200], got[1300];
        snprintf(work, sizeof work, "%s/unpack.%d", cache, (int)getpid());
        snprintf(got, sizeof got, "%s/training2017", work);
        testutil_rmtree(work);
        char *argv[] = {"tar", "-xJf", tarball, "-C", work, NULL};
        printf("unpacking %s into %s\n", tarball, cache);
        if (util_mkdir_p(work, &e) != 0) {
            snprintf(why, whysz, "%s", e.msg);
            rc = -1;
        } else if (testutil_run(argv) != 0) {
            snprintf(why, whysz, "tar -xJf %s failed", tarball);
            rc = -1;
        } else if (rename(got, final_dir) != 0 && !testutil_stamp_ok(stamp, want)) {
            /* a stale partial tree from an interrupted run is in the way */
            testutil_rmtree(final_dir);
            if (rename(got, final_dir) != 0) {
                snprintf(why, whysz, "rename %s: %s", got, strerror(errno));
                rc = -1;
            }
        }
        testutil_rmtree(work);
        if (rc == 1 && !testutil_stamp_ok(stamp, want) &&
            util_write_file_atomic(stamp, want, strlen(want), &e) != 0) {
            snprintf(why, whysz, "%s", e.msg);
            rc = -1;
        }
    }
    if (lk >= 0)
        close(lk); /* releases the lock */
    return rc;
}

/* Compares got to ref elementwise with |got - ref| <= atol + rtol * |ref|,
 * prints the worst absolute difference, the worst relative difference among
 * elements at least as large as the tensor's rms (the relative error of
 * near-zero elements says nothing) and the first mismatches; returns the
 * number of mismatches (NaN counts as one). The one copy for test_conv and
 * test_cuda. */
static inline long check_close(const char *what, const float *got, const float *ref, size_t n,
                               double atol, double rtol)
{
    const double big = testutil_rms(ref, n);
    double worst_abs = 0.0, worst_rel = 0.0;
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - ref[i]);
        if (diff > worst_abs)
            worst_abs = diff;
        if (big > 0.0 && fabs(ref[i]) >= big && diff / fabs(ref[i]) > worst_rel)
            worst_rel = diff / fabs(ref[i]);
        if (!(diff <= atol + rtol * fabs(ref[i]))) { /* also catches NaN */
            if (bad < 5)
                printf("    MISMATCH %s[%zu]: got %.8g ref %.8g diff %.3g\n", what, i, got[i],
                       ref[i], diff);
            bad++;
        }
    }
    printf("  %-8s n=%-9zu worst abs %.2e (atol %.1e, rms %.2e)  worst rel %.2e  %s\n", what, n,
           worst_abs, atol, big, worst_rel, bad ? "FAIL" : "ok");
    return bad;
}

#endif

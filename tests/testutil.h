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

/* Largest |x[i]| over x (n); 0 for n = 0. */
static inline double testutil_max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m)
            m = fabs(x[i]);
    return m;
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

/* ---- comparing a result with its reference ----
 * The one checker of the test programs, with two criteria:
 *   check_close  elementwise: |got - ref| <= atol + rtol * |ref| everywhere
 *                (llm.c's t_eff = tolerance + fabs(ref) * epsilon);
 *   check_rms    as a whole: rms(got - ref) <= tol * max(rms(ref), floor),
 *                for results where single elements may be far off for no
 *                fault (a ReLU that flips on rounding), but not the tensor.
 * Each prints one line: the worst element (largest |got - ref|) with its
 * index and both values, and the rms error as a fraction of rms(ref);
 * check_close also the worst error as a fraction of its tolerance and the
 * first mismatches. A NaN in got or ref always fails. Tolerances scaled
 * by the tensor pass atol = frac * testutil_rms(ref) or testutil_max_abs. */
typedef struct check_result {
    long bad;           /* check_close: elements outside the tolerance; check_rms: 0 or 1 */
    size_t worst_at;    /* index of the largest |got - ref| (a NaN counts as infinite) */
    double worst_abs;   /* that |got - ref| */
    double worst_ratio; /* check_close: max |got - ref| / (atol + rtol |ref|); check_rms: rel / tol */
    double worst_rel;   /* max |got - ref| / |ref| over |ref| >= rms(ref) / 10: the relative
                         * error of near-zero elements says nothing */
    double rms_ref;     /* rms(ref) */
    double rms_err;     /* rms(got - ref) */
    double rel_rms;     /* rms_err / rms(ref); rms_err itself where rms(ref) is 0 */
} check_result;

#define CHECK_SHOWN 5 /* mismatches printed per check_close */

/* The statistics of got - ref (n), and the elements outside atol + rtol|ref|
 * counted in r->bad, the first `show` of them printed. */
static inline void check_scan(check_result *r, const char *what, const float *got,
                              const float *ref, size_t n, double atol, double rtol, int show)
{
    memset(r, 0, sizeof *r);
    r->rms_ref = testutil_rms(ref, n);
    double se = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), a = fabs(ref[i]);
        double dd = isnan(d) ? INFINITY : d, tol = atol + rtol * a;
        se += d * d;
        if (dd > r->worst_abs) {
            r->worst_abs = dd;
            r->worst_at = i;
        }
        if (a > 0 && a >= r->rms_ref / 10 && dd / a > r->worst_rel)
            r->worst_rel = dd / a;
        double ratio = tol > 0 ? dd / tol : (dd > 0 ? INFINITY : 0.0);
        if (ratio > r->worst_ratio)
            r->worst_ratio = ratio;
        if (!(d <= tol)) { /* also catches NaN */
            if (r->bad < show)
                printf("    MISMATCH %s[%zu]: got %.9g ref %.9g diff %.3g (tol %.3g)\n", what, i,
                       got[i], ref[i], d, tol);
            r->bad++;
        }
    }
    r->rms_err = n ? sqrt(se / (double)n) : 0.0;
    r->rel_rms = r->rms_ref > 0 ? r->rms_err / r->rms_ref : r->rms_err;
}

/* Elementwise check (see above); returns the statistics, r.bad the number
 * of mismatching elements. */
static inline check_result check_elementwise(const char *what, const float *got,
                                             const float *ref, size_t n, double atol, double rtol)
{
    check_result r;
    check_scan(&r, what, got, ref, n, atol, rtol, CHECK_SHOWN);
    if (r.bad > CHECK_SHOWN)
        printf("    ... %ld mismatches in all\n", r.bad);
    printf("  %-28s n=%-8zu worst abs %.2e at [%zu] (got %.7g ref %.7g)  err/tol %.3g "
           "(atol %.1e rtol %.1e)  rms err %.1e of rms %.2e  %s\n",
           what, n, r.worst_abs, r.worst_at, n ? got[r.worst_at] : 0.0f,
           n ? ref[r.worst_at] : 0.0f, r.worst_ratio, atol, rtol, r.rel_rms, r.rms_ref,
           r.bad ? "FAIL" : "ok");
    fflush(stdout);
    return r;
}

/* check_elementwise's count of mismatching elements. */
static inline long check_close(const char *what, const float *got, const float *ref, size_t n,
                               double atol, double rtol)
{
    return check_elementwise(what, got, ref, n, atol, rtol).bad;
}

/* Whole-tensor check: rel = rms(got - ref) / max(rms(ref), noise) (noise:
 * the rms below which ref is rounding noise, e.g. the gradient of a conv
 * bias that a batch norm cancels; where both are 0, rel is the rms error
 * itself) must be <= tol; r.bad is 1 if not, r.worst_ratio is rel / tol. */
static inline check_result check_rms(const char *what, const float *got, const float *ref,
                                     size_t n, double noise, double tol)
{
    check_result r;
    check_scan(&r, what, got, ref, n, INFINITY, 0.0, 0);
    double den = r.rms_ref > noise ? r.rms_ref : noise;
    double rel = den > 0 ? r.rms_err / den : r.rms_err;
    r.worst_ratio = tol > 0 ? rel / tol : (rel > 0 ? INFINITY : 0.0);
    r.bad = !(rel <= tol) || r.bad; /* NaN fails */
    printf("  %-28s n=%-8zu rms err %.2e of max(rms %.2e, noise %.2e) (tol %.0e)  "
           "worst abs %.2e at [%zu] (got %.7g ref %.7g)  %s\n",
           what, n, rel, r.rms_ref, noise, tol, r.worst_abs, r.worst_at,
           n ? got[r.worst_at] : 0.0f, n ? ref[r.worst_at] : 0.0f, r.bad ? "FAIL" : "ok");
    fflush(stdout);
    return r;
}

#endif

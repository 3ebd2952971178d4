/* The real-data protocols (issue 3): Python-compatible random.shuffle against
 * CPython (a committed fixture, and live /usr/bin/python3 when present),
 * shuffle splits and k folds, scipy-compatible resampling (fixture, analytic
 * properties, live scipy), by-length batching, split manifests and their
 * errors, the config-driven split, and that training and evaluation apply
 * identical normalisation. Real-data cases run on the CinC 2017 working copy
 * in ../shared when it exists, and print SKIP otherwise. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run/safetensors.h"
#include "base/config.h"
#include "data/data.h"
#include "run/metrics.h"
#include "data/pyrandom.h"
#include "data/resample.h"
#include "nn/rng.h"
#include "testutil.h"
#include "run/train.h"
#include "base/util.h"

#define PYTHON "/usr/bin/python3"

static char g_dir[512];       /* scratch, made by the unchecked fixture */
static char g_real_dir[1200]; /* the unpacked training2017/ when the working copy exists */
static char g_real_why[4096];
static uint64_t g_seed;       /* fresh random inputs, printed so a failure can be repeated */

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "protocol"); }
static void dir_teardown(void) { testutil_rmtree(g_dir); }

static void fixture_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/tests/fixtures/%s", testutil_source_dir(), name);
}

static char *slurp(const char *path)
{
    char *s = NULL;
    rerr e;
    ck_assert_msg(util_read_file(path, &s, NULL, &e) == 0, "%s", e.msg);
    return s;
}

/* FNV-1a over 32-bit little-endian words, as gen_protocol_fixtures.py. */
static uint64_t fnv1a64(const int *a, int n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) {
            h ^= ((uint32_t)a[i] >> (8 * b)) & 0xFFu;
            h *= 0x100000001B3ull;
        }
    return h;
}

/* A dataset of n records with lengths in [min_len, max_len] and labels
 * drawn with class shares roughly 60/10/25/5 %, named R00000... */
static void make_dataset(dataset *ds, int n, int min_len, int max_len, uint64_t seed)
{
    dataset_init(ds, 4);
    rng r;
    rng_seed(&r, seed);
    float *x = malloc(sizeof *x * (size_t)max_len);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < n; i++) {
        int len = min_len + (int)rng_below(&r, (uint32_t)(max_len - min_len + 1));
        for (int j = 0; j < len; j++)
            x[j] = rng_normal(&r) * 0.3f + 0.1f;
        float u = rng_uniform(&r);
        int label = u < 0.6f ? 0 : u < 0.7f ? 1 : u < 0.95f ? 2 : 3;
        char name[32];
        snprintf(name, sizeof name, "R%05d", i);
        rerr e;
        ck_assert_msg(dataset_add(ds, name, x, len, label, &e) == 0, "%s", e.msg);
    }
    free(x);
}

static int is_sorted_unique(const int *a, int n)
{
    for (int i = 1; i < n; i++)
        if (a[i] <= a[i - 1])
            return 0;
    return 1;
}

/* ---- Python's random.shuffle ---- */

START_TEST(test_pyrandom_fixture)
{
    char path[1024];
    fixture_path(path, sizeof path, "pyrandom.txt");
    char *text = slurp(path);
    int nu32 = 0, nshuffle = 0, ncut = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        if (strcmp(tok, "u32") == 0) {
            uint64_t seed = strtoull(strtok_r(NULL, " ", &save), NULL, 10);
            pyrandom r;
            pyrandom_seed(&r, seed);
            for (int i = 0; i < 8; i++) {
                uint32_t want = (uint32_t)strtoul(strtok_r(NULL, " ", &save), NULL, 10);
                uint32_t got = pyrandom_getrandbits(&r, 32);
                ck_assert_msg(got == want, "seed %" PRIu64 " draw %d: %u, CPython %u", seed, i, got,
                              want);
            }
            nu32++;
        } else if (strcmp(tok, "shuffle") == 0) {
            uint64_t seed = strtoull(strtok_r(NULL, " ", &save), NULL, 10);
            int n = atoi(strtok_r(NULL, " ", &save));
            uint64_t want_hash = strtoull(strtok_r(NULL, " ", &save), NULL, 16);
            int *a = malloc(sizeof *a * (size_t)n);
            ck_assert_ptr_nonnull(a);
            for (int i = 0; i < n; i++)
                a[i] = i;
            pyrandom r;
            pyrandom_seed(&r, seed);
            pyrandom_shuffle(&r, a, n);
            for (int i = 0; i < 24 && i < n; i++) {
                int want = atoi(strtok_r(NULL, " ", &save));
                ck_assert_msg(a[i] == want,
                              "random.seed(%" PRIu64 "); shuffle(range(%d)): position %d is %d, "
                              "CPython %d",
                              seed, n, i, a[i], want);
            }
            ck_assert_msg(fnv1a64(a, n) == want_hash,
                          "seed %" PRIu64 " n %d: permutation hash %016" PRIx64 ", CPython %016" PRIx64,
                          seed, n, fnv1a64(a, n), want_hash);
            free(a);
            nshuffle++;
        } else if (strcmp(tok, "cut") == 0) {
            float f = strtof(strtok_r(NULL, " ", &save), NULL);
            int n = atoi(strtok_r(NULL, " ", &save));
            int want = atoi(strtok_r(NULL, " ", &save));
            int got = (int)(config_decimal(f) * (double)n);
            ck_assert_msg(got == want, "int(%g * %d) = %d, Python %d", (double)f, n, got, want);
            ncut++;
        } else {
            ck_abort_msg("%s: unknown line '%s'", path, tok);
        }
    }
    printf("pyrandom fixture: %d seeds, %d shuffles (up to 8528 records), %d dev cuts match CPython\n",
           nu32, nshuffle, ncut);
    ck_assert_int_ge(nshuffle, 50);
    ck_assert_int_ge(ncut, 100);
    free(text);
}
END_TEST

/* Runs cmd and reads whitespace-separated integers (up to max) from its
 * stdout; returns how many. */
static int read_ints(const char *cmd, long long *out, int max)
{
    FILE *fp = popen(cmd, "r");
    ck_assert_msg(fp != NULL, "popen %s", cmd);
    int n = 0;
    while (n < max && fscanf(fp, "%lld", &out[n]) == 1)
        n++;
    ck_assert_int_eq(pclose(fp), 0);
    return n;
}

START_TEST(test_pyrandom_live_python)
{
    rng r;
    rng_seed(&r, g_seed ^ 0x5059);
    long long *got = malloc(sizeof *got * 20001);
    int *a = malloc(sizeof *a * 20000);
    ck_assert(got && a);
    for (int t = 0; t < 6; t++) {
        /* seeds of one and two 32-bit words, and the originals' 2018 */
        uint64_t seed = t == 0 ? 2018 : t % 2 ? rng_u64(&r) : rng_u64(&r) >> 33;
        int n = t == 0 ? 8528 : 2 + (int)rng_below(&r, 19999);
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 PYTHON " -c 'import random,sys; random.seed(int(sys.argv[1])); "
                        "a=list(range(int(sys.argv[2]))); random.shuffle(a); print(*a)' %" PRIu64 " %d",
                 seed, n);
        ck_assert_int_eq(read_ints(cmd, got, 20001), n);
        for (int i = 0; i < n; i++)
            a[i] = i;
        pyrandom p;
        pyrandom_seed(&p, seed);
        pyrandom_shuffle(&p, a, n);
        for (int i = 0; i < n; i++)
            ck_assert_msg(a[i] == got[i], "seed %" PRIu64 " n %d: position %d is %d, python %lld", seed,
                          n, i, a[i], got[i]);
        printf("live python: random.seed(%" PRIu64 "); shuffle of %d items identical\n", seed, n);
    }
    free(got);
    free(a);
}
END_TEST

/* ---- splits ---- */

START_TEST(test_split_shuffle)
{
    const double fracs[] = {0.1, 0.2, 0.3, 0.5};
    const int sizes[] = {1, 2, 7, 10, 99, 503};
    for (size_t fi = 0; fi < sizeof fracs / sizeof fracs[0]; fi++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int n = sizes[si];
            dataset ds;
            make_dataset(&ds, n, 8, 16, g_seed + (uint64_t)n);
            int *tr, *dv, nt, nd;
            rerr e;
            ck_assert_msg(dataset_split_shuffle(&ds, fracs[fi], 2018, &tr, &nt, &dv, &nd, &e) == 0,
                          "%s", e.msg);
            ck_assert_int_eq(nd, (int)(fracs[fi] * n)); /* Python: int(dev_frac * len(dataset)) */
            ck_assert_int_eq(nt + nd, n);
            ck_assert(is_sorted_unique(tr, nt) && is_sorted_unique(dv, nd));
            /* dev = the first int(f n) of random.shuffle's order, as a set */
            int *order = malloc(sizeof *order * (size_t)n), *mark = calloc((size_t)n, sizeof *mark);
            for (int i = 0; i < n; i++)
                order[i] = i;
            pyrandom p;
            pyrandom_seed(&p, 2018);
            pyrandom_shuffle(&p, order, n);
            for (int i = 0; i < nd; i++)
                mark[order[i]] = 1;
            for (int i = 0; i < nd; i++)
                ck_assert(mark[dv[i]] == 1);
            for (int i = 0; i < nt; i++)
                ck_assert(mark[tr[i]] == 0);
            /* reproducible; another seed gives another dev set */
            int *tr2, *dv2, nt2, nd2;
            ck_assert(dataset_split_shuffle(&ds, fracs[fi], 2018, &tr2, &nt2, &dv2, &nd2, &e) == 0);
            ck_assert_int_eq(nd2, nd);
            ck_assert(memcmp(dv, dv2, sizeof(int) * (size_t)nd) == 0);
            free(tr2);
            free(dv2);
            if (n == 503 && fi == 1) {
                ck_assert(dataset_split_shuffle(&ds, fracs[fi], 2019, &tr2, &nt2, &dv2, &nd2, &e) == 0);
                ck_assert_msg(memcmp(dv, dv2, sizeof(int) * (size_t)nd) != 0, "seed has no effect");
                free(tr2);
                free(dv2);
            }
            free(order);
            free(mark);
            free(tr);
            free(dv);
            dataset_free(&ds);
        }
    dataset ds;
    make_dataset(&ds, 5, 8, 8, 1);
    int *tr, *dv, nt, nd;
    rerr e;
    ck_assert_int_eq(dataset_split_shuffle(&ds, 1.5, 1, &tr, &nt, &dv, &nd, &e), -1);
    ck_assert_int_eq(dataset_split_shuffle(&ds, NAN, 1, &tr, &nt, &dv, &nd, &e), -1);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_folds)
{
    dataset ds;
    int n = 1003;
    make_dataset(&ds, n, 8, 16, g_seed);
    int *fold = malloc(sizeof *fold * (size_t)n);
    rerr e;
    for (int k = 2; k <= 10; k++) {
        ck_assert_msg(dataset_folds(&ds, k, 0, 2018, fold, &e) == 0, "%s", e.msg);
        int cnt[16] = {0};
        for (int i = 0; i < n; i++) {
            ck_assert(fold[i] >= 0 && fold[i] < k);
            cnt[fold[i]]++;
        }
        for (int j = 0; j < k; j++) /* floor((j+1) n / k) - floor(j n / k) */
            ck_assert_int_eq(cnt[j], (int)((long)(j + 1) * n / k - (long)j * n / k));
        /* fold 0 is the shuffle split's dev set for dev_fraction 1/k */
        if (k == 5 || k == 10) {
            int *tr, *dv, nt, nd;
            ck_assert(dataset_split_shuffle(&ds, k == 5 ? 0.2 : 0.1, 2018, &tr, &nt, &dv, &nd, &e) == 0);
            ck_assert_int_eq(nd, cnt[0]);
            for (int i = 0; i < nd; i++)
                ck_assert_int_eq(fold[dv[i]], 0);
            free(tr);
            free(dv);
        }
        /* stratified: every class spread evenly over the folds */
        ck_assert(dataset_folds(&ds, k, 1, 2018, fold, &e) == 0);
        long per[16][4] = {{0}}, cls[4] = {0};
        for (int i = 0; i < n; i++) {
            per[fold[i]][ds.recs[i].label]++;
            cls[ds.recs[i].label]++;
        }
        for (int j = 0; j < k; j++)
            for (int c = 0; c < 4; c++)
                ck_assert_msg(labs(per[j][c] * k - cls[c]) <= k, "fold %d class %d: %ld of %ld", j, c,
                              per[j][c], cls[c]);
    }
    ck_assert_int_eq(dataset_folds(&ds, 1, 0, 1, fold, &e), -1);
    ck_assert_msg(strstr(e.msg, "1 folds of 1003 records") != NULL, "%s", e.msg);
    free(fold);
    dataset_free(&ds);
}
END_TEST

/* ---- resampling ---- */

static float test_signal(long i) { return (float)((double)((i * 7919 + 13) % 2001 - 1000) / 1000.0); }

/* worst |got - want| against atol + rtol |want| */
static void assert_close(const float *got, const double *want, int n, double atol, double rtol,
                         const char *what)
{
    double worst = 0;
    int at = -1;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), tol = atol + rtol * fabs(want[i]);
        if (d / tol > worst) {
            worst = d / tol;
            at = i;
        }
    }
    ck_assert_msg(worst <= 1.0, "%s: worst difference at %d: %.9g vs %.9g (%.2f x tolerance)", what,
                  at, (double)got[at], want[at], worst);
}

START_TEST(test_resample_fixture)
{
    char path[1024];
    fixture_path(path, sizeof path, "resample.txt");
    char *text = slurp(path);
    int cases = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        int n, m;
        ck_assert_msg(sscanf(line, "case %d %d", &n, &m) == 2, "bad line %s", line);
        char *vals = strtok_r(NULL, "\n", &save);
        ck_assert_ptr_nonnull(vals);
        float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)m);
        double *want = malloc(sizeof *want * (size_t)m);
        for (int i = 0; i < n; i++)
            x[i] = test_signal(i);
        char *p = vals;
        for (int i = 0; i < m; i++)
            want[i] = strtod(p, &p);
        resampler rs;
        rerr e;
        ck_assert_msg(resampler_init(&rs, m, &e) == 0, "%s", e.msg);
        ck_assert_msg(resampler_run(&rs, x, n, y, &e) == 0, "%s", e.msg);
        char what[64];
        snprintf(what, sizeof what, "resample %d -> %d vs scipy", n, m);
        assert_close(y, want, m, 1e-6, 1e-5, what);
        resampler_free(&rs);
        free(x);
        free(y);
        free(want);
        cases++;
    }
    printf("resample fixture: %d cases match scipy.signal.resample\n", cases);
    ck_assert_int_ge(cases, 10);
    free(text);
}
END_TEST

START_TEST(test_resample_properties)
{
    rng r;
    rng_seed(&r, g_seed ^ 0x7e5a);
    resampler rs;
    rerr e;
    const int m = 8960;
    ck_assert(resampler_init(&rs, m, &e) == 0);
    float *x = malloc(sizeof *x * 20000), *y = malloc(sizeof *y * m);
    double *want = malloc(sizeof *want * m);
    /* lengths as CinC records trimmed to 256-sample frames: 256 k for
     * k = 10..71, primes among them */
    const int ks[] = {10, 11, 17, 35, 36, 47, 59, 61, 67, 71};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int n = 256 * ks[t];
        /* a sinusoid with a whole number of periods below both Nyquists
         * stays the same sinusoid, sampled at the new rate */
        int cycles = 1 + (int)rng_below(&r, 40);
        double phase = rng_uniform(&r) * 6.283, amp = 0.5 + rng_uniform(&r), dc = rng_normal(&r);
        for (int i = 0; i < n; i++)
            x[i] = (float)(dc + amp * sin(2 * M_PI * cycles * i / n + phase));
        ck_assert(resampler_run(&rs, x, n, y, &e) == 0);
        for (int i = 0; i < m; i++)
            want[i] = dc + amp * sin(2 * M_PI * cycles * (double)i / m + phase);
        char what[96];
        snprintf(what, sizeof what, "sinusoid of %d cycles, %d -> %d samples", cycles, n, m);
        assert_close(y, want, m, 2e-5, 1e-5, what);
        /* a constant stays that constant */
        float c = rng_normal(&r) * 3;
        for (int i = 0; i < n; i++)
            x[i] = c;
        ck_assert(resampler_run(&rs, x, n, y, &e) == 0);
        for (int i = 0; i < m; i++)
            want[i] = c;
        assert_close(y, want, m, 1e-6, 1e-6, "constant");
    }
    /* the same length comes back unchanged */
    for (int i = 0; i < m; i++)
        x[i] = rng_normal(&r);
    ck_assert(resampler_run(&rs, x, m, y, &e) == 0);
    ck_assert(memcmp(x, y, sizeof *y * m) == 0);
    ck_assert_int_eq(resampler_run(&rs, x, 0, y, &e), -1);
    resampler_free(&rs);
    ck_assert_int_eq(resampler_init(&rs, 0, &e), -1);
    free(x);
    free(y);
    free(want);
}
END_TEST

START_TEST(test_resample_live_scipy)
{
    rng r;
    rng_seed(&r, g_seed ^ 0x5c1);
    const int pairs[][2] = {{256 * 71, 8960}, {256 * 11, 8960}, {256 * 47, 8960}, {8960, 8960},
                            {0, 0}, {0, 0}};
    for (int t = 0; t < 6; t++) {
        int n = pairs[t][0], m = pairs[t][1];
        if (n == 0) { /* random lengths, odd and even */
            n = 3 + (int)rng_below(&r, 5000);
            m = 3 + (int)rng_below(&r, 5000);
        }
        char xin[700], cmd[1600];
        snprintf(xin, sizeof xin, "%s/x.txt", g_dir);
        FILE *fp = fopen(xin, "w");
        float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)m);
        double *want = malloc(sizeof *want * (size_t)m);
        for (int i = 0; i < n; i++) {
            x[i] = rng_normal(&r);
            fprintf(fp, "%.9g\n", (double)x[i]);
        }
        fclose(fp);
        snprintf(cmd, sizeof cmd,
                 PYTHON " -c 'import sys, numpy as np, scipy.signal as s; "
                        "x = np.loadtxt(sys.argv[1], dtype=np.float32).astype(np.float64); "
                        "print(\"\\n\".join(\"%%.17g\" %% v for v in s.resample(x, int(sys.argv[2]))))' %s %d",
                 xin, m);
        FILE *pp = popen(cmd, "r");
        ck_assert_ptr_nonnull(pp);
        int got = 0;
        while (got < m && fscanf(pp, "%lf", &want[got]) == 1)
            got++;
        ck_assert_int_eq(pclose(pp), 0);
        ck_assert_int_eq(got, m);
        resampler rs;
        rerr e;
        ck_assert(resampler_init(&rs, m, &e) == 0);
        ck_assert(resampler_run(&rs, x, n, y, &e) == 0);
        char what[96];
        snprintf(what, sizeof what, "resample %d -> %d vs live scipy", n, m);
        assert_close(y, want, m, 1e-6, 1e-5, what);
        printf("live scipy: resample %d -> %d matches\n", n, m);
        resampler_free(&rs);
        free(x);
        free(y);
        free(want);
    }
}
END_TEST

/* ---- batches ---- */

START_TEST(test_batches_by_length)
{
    dataset ds;
    int n = 203, B = 16;
    make_dataset(&ds, n, 50, 400, g_seed ^ 0xba7);
    int *tr, *dv, nt, nd;
    rerr e;
    ck_assert(dataset_split_shuffle(&ds, 0.1, 2018, &tr, &nt, &dv, &nd, &e) == 0);
    epoch_batches eb, eb2;
    ck_assert(epoch_batches_init(&eb, nt, &e) == 0 && epoch_batches_init(&eb2, nt, &e) == 0);
    int *seen = calloc((size_t)n, sizeof *seen), *prev = malloc(sizeof *prev * (size_t)nt);
    for (int drop = 0; drop <= 1; drop++) {
        for (int ep = 1; ep <= 4; ep++) {
            ck_assert(epoch_batches_fill(&eb, &ds, tr, nt, B, 1, drop, 77, ep, &e) == 0);
            ck_assert_int_eq(eb.nb, nt / B + (!drop && nt % B ? 1 : 0));
            memset(seen, 0, sizeof *seen * (size_t)n);
            int total = 0, maxlen_used = 0;
            for (int b = 0; b < eb.nb; b++) {
                int s0 = eb.start[b], s1 = eb.start[b + 1];
                ck_assert(s1 - s0 >= 1 && s1 - s0 <= B);
                for (int i = s0; i < s1; i++) {
                    seen[eb.idx[i]]++;
                    if (i > s0) /* sorted by length inside a batch */
                        ck_assert(ds.recs[eb.idx[i]].len >= ds.recs[eb.idx[i - 1]].len);
                    if (ds.recs[eb.idx[i]].len > maxlen_used)
                        maxlen_used = ds.recs[eb.idx[i]].len;
                }
                total += s1 - s0;
            }
            /* every training record once (drop_last: all but the nt % B longest) */
            ck_assert_int_eq(total, drop ? nt / B * B : nt);
            for (int i = 0; i < nd; i++)
                ck_assert_int_eq(seen[dv[i]], 0);
            int missing = 0, longest_missing_ok = 1;
            for (int i = 0; i < nt; i++) {
                ck_assert_int_le(seen[tr[i]], 1);
                if (!seen[tr[i]]) {
                    missing++;
                    longest_missing_ok &= ds.recs[tr[i]].len >= maxlen_used;
                }
            }
            ck_assert_int_eq(missing, drop ? nt % B : 0);
            ck_assert_msg(longest_missing_ok, "drop_last dropped records other than the longest");
            /* the same (seed, epoch) gives the same batches */
            ck_assert(epoch_batches_fill(&eb2, &ds, tr, nt, B, 1, drop, 77, ep, &e) == 0);
            ck_assert_int_eq(eb2.nb, eb.nb);
            ck_assert(memcmp(eb.idx, eb2.idx, sizeof(int) * (size_t)total) == 0);
            ck_assert(memcmp(eb.start, eb2.start, sizeof(int) * (size_t)(eb.nb + 1)) == 0);
            /* the batch order changes from epoch to epoch */
            if (ep > 1)
                ck_assert_msg(memcmp(prev, eb.idx, sizeof(int) * (size_t)total) != 0,
                              "epochs %d and %d have the same batch order", ep - 1, ep);
            memcpy(prev, eb.idx, sizeof(int) * (size_t)total);
        }
    }
    /* fewer records than a batch: one batch even with drop_last */
    ck_assert(epoch_batches_fill(&eb, &ds, tr, 5, B, 1, 1, 77, 1, &e) == 0);
    ck_assert_int_eq(eb.nb, 1);
    ck_assert_int_eq(eb.start[1], 5);
    free(seen);
    free(prev);
    epoch_batches_free(&eb);
    epoch_batches_free(&eb2);
    free(tr);
    free(dv);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_batches_random)
{
    dataset ds;
    int n = 101, B = 8;
    make_dataset(&ds, n, 50, 400, g_seed ^ 0x4a);
    int *all = malloc(sizeof *all * (size_t)n), *order = malloc(sizeof *order * (size_t)n);
    for (int i = 0; i < n; i++)
        all[i] = i;
    epoch_batches eb;
    rerr e;
    ck_assert(epoch_batches_init(&eb, n, &e) == 0);
    for (int drop = 0; drop <= 1; drop++) {
        ck_assert(epoch_batches_fill(&eb, &ds, all, n, B, 0, drop, 5, 3, &e) == 0);
        /* the order the training loop drew before by_length existed */
        memcpy(order, all, sizeof(int) * (size_t)n);
        rng r;
        rng_seed(&r, rng_hash3(5, 3, 0x0de5));
        rng_shuffle(&r, order, n);
        ck_assert_int_eq(eb.nb, drop ? n / B : (n + B - 1) / B);
        for (int b = 0; b < eb.nb; b++) {
            ck_assert_int_eq(eb.start[b], b * B);
            for (int i = eb.start[b]; i < eb.start[b + 1]; i++)
                ck_assert_int_eq(eb.idx[i], order[i]);
        }
    }
    epoch_batches_free(&eb);
    free(all);
    free(order);
    dataset_free(&ds);
}
END_TEST

/* ---- manifests ---- */

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
}

START_TEST(test_manifest_round_trip)
{
    dataset ds;
    int n = 57;
    make_dataset(&ds, n, 8, 16, g_seed ^ 0x3a);
    int *part = malloc(sizeof *part * (size_t)n), *back = malloc(sizeof *back * (size_t)n);
    int *tr, *dv, nt, nd, nfolds = -1;
    rerr e;
    char path[700], tmp[800];
    snprintf(path, sizeof path, "%s/split.csv", g_dir);
    ck_assert(dataset_split_shuffle(&ds, 0.2, 2018, &tr, &nt, &dv, &nd, &e) == 0);
    for (int i = 0; i < nt; i++)
        part[tr[i]] = MANIFEST_TRAIN;
    for (int i = 0; i < nd; i++)
        part[dv[i]] = MANIFEST_DEV;
    ck_assert_msg(manifest_write(path, &ds, part, &e) == 0, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ck_assert(access(tmp, F_OK) != 0); /* atomic: no temp file left */
    char *text = slurp(path);
    ck_assert(strncmp(text, "record,label,split\nR00000,", 26) == 0);
    free(text);
    ck_assert_msg(manifest_read(path, &ds, "DATA", back, &nfolds, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nfolds, 0);
    ck_assert(memcmp(part, back, sizeof(int) * (size_t)n) == 0);

    /* folds */
    ck_assert(dataset_folds(&ds, 4, 0, 9, part, &e) == 0);
    ck_assert(manifest_write(path, &ds, part, &e) == 0);
    ck_assert_msg(manifest_read(path, &ds, "DATA", back, &nfolds, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nfolds, 4);
    ck_assert(memcmp(part, back, sizeof(int) * (size_t)n) == 0);

    /* CRLF line ends and a trailing blank line are fine; rows in any order */
    FILE *fp = fopen(path, "w");
    fputs("record,label,split\r\n", fp);
    for (int i = n - 1; i >= 0; i--)
        fprintf(fp, "%s,%s,%s\r\n", ds.recs[i].name, metrics_class_name(ds.recs[i].label),
                i % 3 ? "train" : "dev");
    fputs("\n", fp);
    fclose(fp);
    ck_assert_msg(manifest_read(path, &ds, "DATA", back, &nfolds, &e) == 0, "%s", e.msg);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(back[i], i % 3 ? MANIFEST_TRAIN : MANIFEST_DEV);
    free(tr);
    free(dv);
    free(part);
    free(back);
    dataset_free(&ds);
}
END_TEST

/* A 3-record dataset R00000 (N), R00001 (A), R00002 (O) and a manifest with
 * text; expects manifest_read to fail with a message containing want (after
 * the path, which is prefixed here). */
static void expect_manifest_error(const char *text, const char *want)
{
    dataset ds;
    dataset_init(&ds, 4);
    float x[4] = {1, 2, 3, 4};
    rerr e;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "R%05d", i);
        ck_assert(dataset_add(&ds, name, x, 4, i, &e) == 0);
    }
    char path[700], full[1400];
    snprintf(path, sizeof path, "%s/bad.csv", g_dir);
    write_text(path, text);
    int part[3], nfolds;
    e.msg[0] = '\0';
    ck_assert_msg(manifest_read(path, &ds, "/data/dir", part, &nfolds, &e) == -1, "accepted:\n%s", text);
    snprintf(full, sizeof full, "%s%s", path, want);
    ck_assert_msg(strcmp(e.msg, full) == 0, "got  \"%s\"\nwant \"%s\"", e.msg, full);
    dataset_free(&ds);
}

START_TEST(test_manifest_errors)
{
    expect_manifest_error("", ": empty (expected the header 'record,label,split')");
    expect_manifest_error("record,label\nR00000,N,train\n",
                          ":1: expected the header 'record,label,split', got 'record,label'");
    expect_manifest_error("record,label,split\nR00000,N\n",
                          ":2: expected 3 fields (record,label,split), got 2");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,A,dev,x\n",
                          ":3: expected 3 fields (record,label,split), got 4");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,A,test\nR00002,O,train\n",
                          ":3: unknown split 'test' for R00001 (train, dev or a fold number)");
    expect_manifest_error("record,label,split\nR00000,N,-1\n",
                          ":2: unknown split '-1' for R00000 (train, dev or a fold number)");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,A,dev\nR09999,O,train\n",
                          ":4: record R09999 is not in /data/dir");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00000,N,dev\n",
                          ":3: record R00000 is listed twice (first at line 2)");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,O,dev\n",
                          ":3: record R00001 has label O here but A in /data/dir");
    expect_manifest_error("record,label,split\nR00000,X,train\n",
                          ":2: unknown label 'X' for R00000");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,A,dev\n",
                          ": record R00002 of /data/dir is not listed");
    expect_manifest_error("record,label,split\nR00000,N,train\nR00001,A,3\n",
                          ":3: R00001 mixes fold numbers with train/dev (line 2 has train or dev)");
    expect_manifest_error("record,label,split\n,N,train\n", ":2: bad record name ''");
    char nul[64] = "record,label,split\nR00000,N,tr";
    size_t len = strlen(nul);
    nul[len] = '\0'; /* written by hand below: a NUL inside line 2 */
    char path[700];
    snprintf(path, sizeof path, "%s/bad.csv", g_dir);
    FILE *fp = fopen(path, "wb");
    fwrite(nul, 1, len + 1, fp);
    fputs("ain\n", fp);
    fclose(fp);
    dataset ds;
    make_dataset(&ds, 1, 4, 4, 1);
    int part[1], nfolds;
    rerr e;
    ck_assert_int_eq(manifest_read(path, &ds, "D", part, &nfolds, &e), -1);
    ck_assert_msg(strstr(e.msg, "bad.csv:2: contains a NUL byte") != NULL, "%s", e.msg);
    snprintf(path, sizeof path, "%s/none.csv", g_dir);
    ck_assert_int_eq(manifest_read(path, &ds, "D", part, &nfolds, &e), -1);
    ck_assert_msg(strstr(e.msg, "none.csv") != NULL, "%s", e.msg);
    dataset_free(&ds);
}
END_TEST

/* ---- the config-driven pipeline (synthetic data) ---- */

/* Synthetic records and a network small enough to train in a second:
 * 4 filters, 4 blocks (frame 4). */
static void tiny_config(resecg_config *c)
{
    config_defaults(c);
    c->model.filters_start = 4;
    c->model.num_blocks = 4;
    c->model.bn_momentum = 0.9f;
    c->data.synth_records = 80;
    c->data.synth_length = 300;
    c->data.synth_min_length = 150;
    c->train.batch_size = 8;
    c->train.max_epochs = 1;
    c->train.threads = 2;
}

START_TEST(test_config_split)
{
    resecg_config c;
    tiny_config(&c);
    rerr e;
    dataset ds;
    data_info info;
    ck_assert_msg(data_load(&c, 1, &ds, &info, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(info.frame, 4);
    for (int i = 0; i < ds.n; i++) /* trimmed to whole frames */
        ck_assert_int_eq(ds.recs[i].len % 4, 0);
    int *tr, *dv, nt, nd;
    /* hannun: shuffle, 0.1 */
    ck_assert(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e) == 0);
    ck_assert_int_eq(nd, 8);
    free(tr);
    free(dv);
    /* pytorch-ref: shuffle, 0.2 */
    ck_assert(config_set(&c, "data.protocol=pytorch-ref", &e) == 0);
    ck_assert(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e) == 0);
    ck_assert_int_eq(nd, 16);
    int *dv_shuffle = dv;
    free(tr);
    /* stratified: dataset_split */
    ck_assert(config_set(&c, "data.split=stratified", &e) == 0);
    ck_assert(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e) == 0);
    int *tr2, *dv2, nt2, nd2;
    ck_assert(dataset_split(&ds, 0.2, c.data.seed, &tr2, &nt2, &dv2, &nd2, &e) == 0);
    ck_assert_int_eq(nd, nd2);
    ck_assert(memcmp(dv, dv2, sizeof(int) * (size_t)nd) == 0);
    free(tr);
    free(dv);
    free(tr2);
    free(dv2);

    /* a manifest replaces the computed split; a fold manifest takes dev_fold */
    char path[700];
    snprintf(path, sizeof path, "%s/cfg-split.csv", g_dir);
    int *part = malloc(sizeof *part * (size_t)ds.n);
    for (int i = 0; i < ds.n; i++)
        part[i] = i % 5 == 0 ? MANIFEST_DEV : MANIFEST_TRAIN;
    ck_assert(manifest_write(path, &ds, part, &e) == 0);
    snprintf(c.data.manifest, sizeof c.data.manifest, "%s", path);
    ck_assert_msg(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nd, 16);
    for (int i = 0; i < nd; i++)
        ck_assert_int_eq(dv[i] % 5, 0);
    free(tr);
    free(dv);
    for (int i = 0; i < ds.n; i++)
        part[i] = i % 3;
    ck_assert(manifest_write(path, &ds, part, &e) == 0);
    c.data.dev_fold = 2;
    ck_assert(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e) == 0);
    for (int i = 0; i < nd; i++)
        ck_assert_int_eq(dv[i] % 3, 2);
    ck_assert_int_eq(nd + nt, ds.n);
    free(tr);
    free(dv);
    c.data.dev_fold = 3;
    ck_assert_int_eq(data_split(&c, &ds, &tr, &nt, &dv, &nd, &e), -1);
    ck_assert_msg(strstr(e.msg, "data.dev_fold is 3 but the manifest has folds 0..2") != NULL, "%s",
                  e.msg);
    free(part);
    free(dv_shuffle);
    dataset_free(&ds);

    /* resampling from the config: every record at resample_length */
    tiny_config(&c);
    c.data.resample_length = 256;
    ck_assert(data_load(&c, 1, &ds, &info, &e) == 0);
    ck_assert_int_gt(info.resampled, 0);
    for (int i = 0; i < ds.n; i++)
        ck_assert_int_eq(ds.recs[i].len, 256);
    dataset_free(&ds);
    ck_assert(data_load(&c, 0, &ds, &info, &e) == 0); /* resample off: trimmed lengths */
    ck_assert_int_eq(info.resampled, 0);
    dataset_free(&ds);
}
END_TEST

/* mean and std from a normalization.csv */
static void read_norm(const char *dir, double *mean, double *sd, char **text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/normalization.csv", dir);
    *text = slurp(path);
    ck_assert_msg(sscanf(*text, "mean,std\n%lf,%lf", mean, sd) == 2, "bad %s: %s", path, *text);
}

/* Trains c for its epochs into dir, then checks that the normalisation is the
 * training split's, identical in normalization.csv, both checkpoints and
 * evaluate (which also reproduces the run's dev confusion matrix). */
static void check_train_evaluate(const resecg_config *c, const char *name)
{
    char dir[700], evdir[800];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    snprintf(evdir, sizeof evdir, "%s/eval", dir);
    train_opts o = {.out_dir = dir, .device = "cpu", .quiet = 1};
    train_result res;
    rerr e = {{0}};
    ck_assert_msg(train_run(c, &o, &res, &e) == 0, "train_run: %s", e.msg);

    double mean, sd;
    char *norm;
    read_norm(dir, &mean, &sd, &norm);
    /* the training split's statistics, recomputed independently */
    dataset ds;
    int *tr, *dv, nt, nd;
    ck_assert_msg(data_load_split(c, &ds, &tr, &nt, &dv, &nd, NULL, &e) == 0, "%s", e.msg);
    double m2, s2;
    dataset_stats(&ds, tr, nt, &m2, &s2);
    ck_assert_msg(m2 == mean && s2 == sd, "normalization.csv %.17g %.17g, training split %.17g %.17g",
                  mean, sd, m2, s2);
    double m3, s3;
    dataset_stats(&ds, NULL, 0, &m3, &s3);
    ck_assert_msg(m3 != mean || s3 != sd, "the statistics include the dev records");
    /* both checkpoints carry the same numbers */
    const char *ckpts[] = {"best.safetensors", "last.safetensors"};
    for (int i = 0; i < 2; i++) {
        char p[900];
        snprintf(p, sizeof p, "%s/%s", dir, ckpts[i]);
        st_file f;
        ck_assert_msg(st_read(&f, p, &e) == 0, "%s", e.msg);
        ck_assert(strtod(st_meta_get(&f, "norm_mean"), NULL) == mean);
        ck_assert(strtod(st_meta_get(&f, "norm_std"), NULL) == sd);
        st_free(&f);
    }
    /* evaluate applies the checkpoint's numbers and writes them too */
    char ckpt[900];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", dir);
    eval_opts eo = {.ckpt = ckpt, .device = "cpu", .out_dir = evdir};
    eval_result er;
    ck_assert_msg(evaluate_run(c, &eo, &er, &e) == 0, "evaluate: %s", e.msg);
    ck_assert(er.mean == mean && er.std == sd);
    ck_assert_int_eq(er.records, nd);
    double em, es;
    char *enorm;
    read_norm(evdir, &em, &es, &enorm);
    ck_assert_str_eq(enorm, norm);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++)
            ck_assert_int_eq(er.mt.confusion[k][j], res.dev.confusion[k][j]);
    /* and on every record */
    eo.out_dir = NULL;
    eo.all_records = 1;
    ck_assert_msg(evaluate_run(c, &eo, &er, &e) == 0, "evaluate all: %s", e.msg);
    ck_assert_int_eq(er.records, ds.n);
    ck_assert(er.mean == mean && er.std == sd);
    printf("%s: %d train / %d dev records, normalisation mean %.6g std %.6g identical in "
           "normalization.csv, checkpoints and evaluate\n",
           name, nt, nd, mean, sd);
    free(norm);
    free(enorm);
    free(tr);
    free(dv);
    dataset_free(&ds);
}

START_TEST(test_train_evaluate_normalisation)
{
    resecg_config c;
    tiny_config(&c);
    check_train_evaluate(&c, "norm-hannun");
    tiny_config(&c);
    rerr e;
    ck_assert(config_set(&c, "data.protocol=pytorch-ref", &e) == 0);
    c.data.resample_length = 256; /* the tiny network's frame is 4 */
    check_train_evaluate(&c, "norm-pytorch-ref");
}
END_TEST

/* Runs the resecg binary; returns its exit status, with stdout+stderr in out. */
static int run_cli(const char *args, char *out, size_t outsz)
{
    const char *bin = getenv("RESECG_BIN");
    ck_assert_msg(bin != NULL, "RESECG_BIN is not set (run through ctest)");
    char cmd[4096], outpath[700];
    snprintf(outpath, sizeof outpath, "%s/cli-out.txt", g_dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1", bin, args, outpath);
    int st = system(cmd);
    FILE *fp = fopen(outpath, "r");
    size_t n = fp ? fread(out, 1, outsz - 1, fp) : 0;
    out[n] = '\0';
    if (fp)
        fclose(fp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_cli_data_split)
{
    char cfg[700], man[700], args[3000], out[8192];
    snprintf(cfg, sizeof cfg, "%s/cli.yaml", g_dir);
    write_text(cfg, "model: {filters: 4, blocks: 4}\ndata: {synth_records: 60, synth_length: 200, "
                    "synth_min_length: 100}\n");
    snprintf(man, sizeof man, "%s/cli-split.csv", g_dir);
    snprintf(args, sizeof args, "data split --config %s --out %s", cfg, man);
    ck_assert_msg(run_cli(args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "60 records, protocol hannun, shuffle split, seed 2018") != NULL, "%s",
                  out);
    ck_assert_msg(strstr(out, "dev          6") != NULL, "%s", out);
    char *text = slurp(man);
    int dev = 0, lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    for (char *p = text; (p = strstr(p, ",dev\n")); p++)
        dev++;
    ck_assert_int_eq(lines, 61);
    ck_assert_int_eq(dev, 6);
    free(text);
    snprintf(args, sizeof args, "data split --config %s --set data.protocol=pytorch-ref --folds 5 --out %s",
             cfg, man);
    ck_assert_msg(run_cli(args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "fold 4      12") != NULL, "%s", out);
    snprintf(args, sizeof args, "data split --config %s --folds 1 --out %s", cfg, man);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "1 folds of 60 records") != NULL, "%s", out);
    snprintf(args, sizeof args, "data split --config %s", cfg);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 2);
    ck_assert_int_eq(run_cli("data frobnicate", out, sizeof out), 2);
    ck_assert_int_eq(run_cli("data split --help", out, sizeof out), 0);
    snprintf(args, sizeof args, "evaluate --config %s --ckpt x --split train", cfg);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "--split: expected dev or all, got 'train'") != NULL, "%s", out);
    /* a config error names file:line:col */
    write_text(cfg, "data:\n  protocol: awni\n");
    snprintf(args, sizeof args, "data split --config %s --out %s", cfg, man);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "cli.yaml:2:13: data.protocol: expected one of hannun, pytorch-ref") !=
                      NULL,
                  "%s", out);
    /* a manifest naming an unknown record fails train with file:line */
    write_text(cfg, "model: {filters: 4, blocks: 4}\ndata: {synth_records: 60, synth_length: 200, "
                    "synth_min_length: 100}\ntrain: {max_epochs: 1}\n");
    write_text(man, "record,label,split\nS09999,N,dev\n");
    snprintf(args, sizeof args, "train --config %s --set data.manifest=%s --out %s/cli-run --quiet",
             cfg, man, g_dir);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "cli-split.csv:2: record S09999 is not in the synthetic data") != NULL,
                  "%s", out);
}
END_TEST

/* ---- real data: the CinC 2017 working copy ---- */

/* Python's own dev set of the labels file (random.seed(2018); shuffle;
 * first int(f n)), as a set of marks over the dataset's records. */
static int python_dev_marks(const char *labels, double f, const dataset *ds, int *mark)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             PYTHON " -c 'import random,sys; r=[l.strip().split(\",\")[0] for l in open(sys.argv[1]) "
                    "if l.strip()]; random.seed(2018); random.shuffle(r); "
                    "print(*r[:int(float(sys.argv[2])*len(r))], sep=\"\\n\")' %s %.17g",
             labels, f);
    FILE *fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    char name[64];
    int n = 0;
    memset(mark, 0, sizeof *mark * (size_t)ds->n);
    while (fscanf(fp, "%63s", name) == 1) {
        int found = 0;
        for (int i = 0; i < ds->n && !found; i++)
            if (strcmp(ds->recs[i].name, name) == 0) {
                mark[i] = 1;
                found = 1;
            }
        ck_assert_msg(found, "python's dev record %s is not in the dataset", name);
        n++;
    }
    ck_assert_int_eq(pclose(fp), 0);
    return n;
}

static void real_config(resecg_config *c, const char *dir, const char *protocol)
{
    config_defaults(c);
    rerr e;
    char set[64];
    snprintf(set, sizeof set, "data.protocol=%s", protocol);
    ck_assert(config_set(c, set, &e) == 0);
    snprintf(c->data.source, sizeof c->data.source, "cinc17");
    snprintf(c->data.dir, sizeof c->data.dir, "%s", dir);
    c->train.threads = 2;
    ck_assert_msg(config_validate(c, &e) == 0, "%s", e.msg);
}

START_TEST(test_real_splits)
{
    const char *protocols[] = {"hannun", "pytorch-ref"};
    const double fracs[] = {0.1, 0.2};
    int have_python = access(PYTHON, X_OK) == 0;
    for (int p = 0; p < 2; p++) {
        resecg_config c;
        real_config(&c, g_real_dir, protocols[p]);
        dataset ds;
        data_info info;
        int *tr, *dv, nt, nd;
        rerr e;
        double t0 = util_now();
        ck_assert_msg(data_load_split(&c, &ds, &tr, &nt, &dv, &nd, &info, &e) == 0, "%s", e.msg);
        double secs = util_now() - t0;
        int n = ds.n;
        ck_assert_int_gt(n, 1000);
        ck_assert_int_eq(info.skipped, 0);
        ck_assert_int_eq(nd, (int)(fracs[p] * n));
        ck_assert_int_eq(nt + nd, n);
        for (int i = 0; i < n; i++) {
            if (p == 0)
                ck_assert_int_eq(ds.recs[i].len % 256, 0);
            else
                ck_assert_int_eq(ds.recs[i].len, 8960);
        }
        /* reproducible */
        int *tr2, *dv2, nt2, nd2;
        ck_assert(data_split(&c, &ds, &tr2, &nt2, &dv2, &nd2, &e) == 0);
        ck_assert(nd2 == nd && memcmp(dv, dv2, sizeof(int) * (size_t)nd) == 0);
        free(tr2);
        free(dv2);
        /* the dev records are the ones Python's random.shuffle picks */
        if (have_python) {
            char labels[1600];
            snprintf(labels, sizeof labels, "%s/%s", g_real_dir, c.data.labels);
            int *mark = malloc(sizeof *mark * (size_t)n);
            ck_assert_int_eq(python_dev_marks(labels, fracs[p], &ds, mark), nd);
            for (int i = 0; i < nd; i++)
                ck_assert_msg(mark[dv[i]], "%s is in our dev set, not in python's", ds.recs[dv[i]].name);
            free(mark);
        }
        printf("real data, protocol %s: %d records (%d resampled), %d train / %d dev%s, %.1f s\n",
               protocols[p], n, info.resampled, nt, nd,
               have_python ? ", dev set identical to python's random.shuffle" : "", secs);
        free(tr);
        free(dv);
        dataset_free(&ds);
    }
}
END_TEST

/* A directory of symlinks to the first n records of the working copy, with
 * their lines of REFERENCE-v3.csv. */
static void real_subset(const char *dir, int n)
{
    rerr e;
    ck_assert(util_mkdir_p(dir, &e) == 0);
    char path[1400];
    snprintf(path, sizeof path, "%s/REFERENCE-v3.csv", g_real_dir);
    char *text = slurp(path);
    snprintf(path, sizeof path, "%s/REFERENCE-v3.csv", dir);
    FILE *out = fopen(path, "w");
    ck_assert_ptr_nonnull(out);
    char *save = NULL;
    int k = 0;
    for (char *line = strtok_r(text, "\r\n", &save); line && k < n; line = strtok_r(NULL, "\r\n", &save)) {
        char name[32];
        ck_assert(sscanf(line, "%31[^,]", name) == 1);
        fprintf(out, "%s\n", line);
        const char *ext[] = {".mat", ".hea"};
        for (int x = 0; x < 2; x++) {
            char from[1400], to[1400];
            snprintf(from, sizeof from, "%s/%s%s", g_real_dir, name, ext[x]);
            snprintf(to, sizeof to, "%s/%s%s", dir, name, ext[x]);
            ck_assert_msg(symlink(from, to) == 0, "symlink %s", to);
        }
        k++;
    }
    fclose(out);
    free(text);
    ck_assert_int_eq(k, n);
}

START_TEST(test_real_train_evaluate)
{
    char sub[700];
    snprintf(sub, sizeof sub, "%s/real-subset", g_dir);
    real_subset(sub, 48);
    const char *protocols[] = {"hannun", "pytorch-ref"};
    for (int p = 0; p < 2; p++) {
        resecg_config c;
        real_config(&c, sub, protocols[p]);
        /* a network that runs 48 records in a second: 4 filters, 8 blocks (frame 16) */
        c.model.filters_start = 4;
        c.model.num_blocks = 8;
        c.train.batch_size = 8;
        c.train.max_epochs = 1;
        char name[64];
        snprintf(name, sizeof name, "real-%s", protocols[p]);
        check_train_evaluate(&c, name);
    }
}
END_TEST

START_TEST(test_real_data_unusable)
{
    ck_abort_msg("the CinC working copy is present but could not be unpacked: %s", g_real_why);
}
END_TEST

int main(void)
{
    const char *s = getenv("RESECG_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_protocol: seed %" PRIu64 " (set RESECG_SEED to repeat)\n", g_seed);
    int have_python = access(PYTHON, X_OK) == 0;
    int have_scipy = have_python &&
                     system(PYTHON " -c 'import numpy, scipy.signal' >/dev/null 2>&1") == 0;

    Suite *suite = suite_create("protocol");
    TCase *tc = tcase_create("units");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pyrandom_fixture);
    if (have_python)
        tcase_add_test(tc, test_pyrandom_live_python);
    else
        printf("SKIP live python check of random.shuffle: no %s\n", PYTHON);
    tcase_add_test(tc, test_split_shuffle);
    tcase_add_test(tc, test_folds);
    tcase_add_test(tc, test_resample_fixture);
    tcase_add_test(tc, test_resample_properties);
    if (have_scipy)
        tcase_add_test(tc, test_resample_live_scipy);
    else
        printf("SKIP live scipy check of resample: %s cannot import scipy\n", PYTHON);
    tcase_add_test(tc, test_batches_by_length);
    tcase_add_test(tc, test_batches_random);
    tcase_add_test(tc, test_manifest_round_trip);
    tcase_add_test(tc, test_manifest_errors);
    tcase_add_test(tc, test_config_split);
    tcase_add_test(tc, test_train_evaluate_normalisation);
    tcase_add_test(tc, test_cli_data_split);
    suite_add_tcase(suite, tc);

    int real = testutil_cinc17_dir(g_real_dir, sizeof g_real_dir, g_real_why, sizeof g_real_why);
    if (real != 0) {
        TCase *rt = tcase_create("real data");
        tcase_add_unchecked_fixture(rt, dir_setup, dir_teardown);
        tcase_set_timeout(rt, 300);
        if (real > 0) {
            tcase_add_test(rt, test_real_splits);
            tcase_add_test(rt, test_real_train_evaluate);
        } else {
            tcase_add_test(rt, test_real_data_unusable);
        }
        suite_add_tcase(suite, rt);
    } else {
        printf("SKIP real-data tests: %s\n", g_real_why);
    }

    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

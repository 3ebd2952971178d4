/* The feature-based model: the QRS detector against the synthetic
 * generator's planted R peaks (sensitivity and positive predictivity, also
 * with the lead inverted), rhythm features against values worked out here
 * from their formulas, signal features of signals whose answer is known
 * (a sine's kurtosis is 1.5, white noise's 3), finite output on flat, short
 * and pathological input, config errors, and an end-to-end train + evaluate
 * (+ sweep + report) on synthetic ECG; on the real CinC 2017 copy (when
 * ../shared has it) a short training run beats chance clearly and evaluate
 * reproduces it. Fresh random records each run: the seed is printed
 * (RESECG_TEST_SEED repeats it). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "data/data.h"
#include "baseline/feat.h"
#include "baseline/qrs.h"
#include "testutil.h"
#include "run/train.h"
#include "base/util.h"

static char g_dir[512];
static uint64_t g_seed;
static char g_real_dir[1200]; /* the unpacked training2017/ when the working copy exists */
static char g_real_why[4096];

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "features"); }
static void dir_teardown(void) { testutil_rmtree(g_dir); }

#define FS 300

/* ---- the detector on synthetic ECG ---- */

typedef struct match_count {
    long tp, fn, fp;
    double err_sum; /* |detection - reference| over matches, samples */
    int err_max;
} match_count;

/* Matches detections to reference beats one to one within tol samples (the
 * nearest free detection; ANSI/AAMI EC57 uses 150 ms). Beats and detections
 * within `edge` samples of either end are left out: a beat cut by the
 * record's start or end has half a QRS complex, and the generator lists only
 * the beats whose R lies inside. */
static void match_beats(const int *ref, int nr, const int *det, int nd, int len, int tol, int edge,
                        match_count *m)
{
    unsigned char used[4096] = {0};
    ck_assert_int_le(nd, 4096);
    for (int a = 0; a < nr; a++) {
        if (ref[a] < edge || ref[a] >= len - edge)
            continue;
        int best = -1;
        for (int b = 0; b < nd; b++)
            if (!used[b] && abs(det[b] - ref[a]) <= tol &&
                (best < 0 || abs(det[b] - ref[a]) < abs(det[best] - ref[a])))
                best = b;
        if (best < 0) {
            m->fn++;
            continue;
        }
        used[best] = 1;
        m->tp++;
        int d = abs(det[best] - ref[a]);
        m->err_sum += d;
        if (d > m->err_max)
            m->err_max = d;
    }
    for (int b = 0; b < nd; b++)
        if (!used[b] && det[b] >= edge && det[b] < len - edge)
            m->fp++;
}

static double se(const match_count *m) { return m->tp / (double)(m->tp + m->fn); }
static double ppv(const match_count *m) { return m->tp / (double)(m->tp + m->fp); }

/* Detects on `per_class` fresh records of each of N, A, O (30 s, noise
 * times the generator's normal level, about one in six inverted by the
 * generator itself); with invert, every record is negated first. All beats
 * pooled must reach `floor` sensitivity and positive predictivity, every
 * class on its own `floor` - 0.01: about one draw in 30 (seed 12016712897,
 * O record 25) holds a bigeminy record on which the detector finds only
 * every other beat (21 of 42), which alone costs its class 1.2% of
 * sensitivity. That is a known weakness of the detector, not noise to
 * hide; the per-class floor leaves room for one such record, not two. */
static void detector_run(int invert, float noise, double floor, match_count *total)
{
    static const char *const cls_name[] = {"N (sinus)", "A (AF)", "O (bigeminy/bradycardia)"};
    const int len = 30 * FS, per_class = 60, tol = (int)(0.15 * FS), edge = (int)(0.1 * FS);
    synth_params p = {.n = 1, .min_len = len, .max_len = len, .fs = FS, .noise = noise,
                      .seed = g_seed};
    float *x = testutil_falloc((size_t)len);
    int ref[512], det[512];
    qrs_work w;
    rerr e;
    ck_assert(qrs_work_init(&w, len, FS, &e) == 0);
    ck_assert_int_le(qrs_max_beats(len, FS), 512);
    memset(total, 0, sizeof *total);
    for (int cls = 0; cls < 3; cls++) {
        match_count m = {0};
        for (int i = 0; i < per_class; i++) {
            uint64_t rs = rng_hash3(g_seed, (uint64_t)cls, (uint64_t)i);
            int nr = synth_record(x, len, cls, &p, rs, ref, 512);
            if (invert)
                for (int j = 0; j < len; j++)
                    x[j] = -x[j];
            int nd = qrs_detect(&w, x, len, det, NULL);
            match_beats(ref, nr, det, nd, len, tol, edge, &m);
        }
        printf("detector%s, noise x%g, %-25s: %5ld beats, Se %.4f  PPV %.4f  (FN %ld, FP %ld), "
               "mean |error| %.2f ms, max %.1f ms\n",
               invert ? " (inverted)" : "", (double)noise, cls_name[cls], m.tp + m.fn, se(&m),
               ppv(&m), m.fn, m.fp, 1000.0 * m.err_sum / FS / (m.tp ? m.tp : 1),
               1000.0 * m.err_max / FS);
        /* every class on its own, not only the pooled figure */
        ck_assert_msg(se(&m) >= floor - 0.01 && ppv(&m) >= floor - 0.01,
                      "class %d: Se %.4f PPV %.4f", cls, se(&m), ppv(&m));
        total->tp += m.tp;
        total->fn += m.fn;
        total->fp += m.fp;
        total->err_sum += m.err_sum;
        if (m.err_max > total->err_max)
            total->err_max = m.err_max;
    }
    printf("detector%s, noise x%g, all: Se %.4f  PPV %.4f over %ld beats, mean |error| %.2f ms\n",
           invert ? " (inverted)" : "", (double)noise, se(total), ppv(total),
           total->tp + total->fn, 1000.0 * total->err_sum / FS / total->tp);
    ck_assert_double_ge(se(total), floor);
    ck_assert_double_ge(ppv(total), floor);
    /* the R peak itself, not just the complex: within 10 ms on average */
    ck_assert_double_lt(1000.0 * total->err_sum / FS / total->tp, 10.0);
    qrs_work_free(&w);
    free(x);
}

/* At the generator's normal noise level the issue asks for 99%; at four
 * times that level (baseline wander, hum and white noise) 98% still holds. */
START_TEST(test_detector_synthetic)
{
    match_count m;
    detector_run(0, 1.0f, 0.99, &m);
    detector_run(0, 4.0f, 0.98, &m);
}
END_TEST

/* Every record negated: the same figures, and on each record exactly the
 * same beats (squaring and the |deflection| search do not see polarity),
 * with the reported polarity flipped. */
START_TEST(test_detector_inverted)
{
    match_count m;
    detector_run(1, 1.0f, 0.99, &m);

    const int len = 20 * FS;
    synth_params p = {.n = 1, .min_len = len, .max_len = len, .fs = FS, .noise = 1.0f,
                      .seed = g_seed};
    float *x = testutil_falloc((size_t)len), *y = testutil_falloc((size_t)len);
    int ref[512], d1[512], d2[512];
    qrs_work w;
    rerr e;
    ck_assert(qrs_work_init(&w, len, FS, &e) == 0);
    int flips = 0;
    for (int i = 0; i < 30; i++) {
        int cls = i % 2 ? 0 : 1; /* sinus and AF: one polarity per record */
        synth_record(x, len, cls, &p, rng_hash3(g_seed, 99, (uint64_t)i), ref, 512);
        for (int j = 0; j < len; j++)
            y[j] = -x[j];
        qrs_info a, b;
        int n1 = qrs_detect(&w, x, len, d1, &a);
        int n2 = qrs_detect(&w, y, len, d2, &b);
        ck_assert_int_eq(n1, n2);
        for (int k = 0; k < n1; k++)
            ck_assert_int_eq(d1[k], d2[k]);
        flips += a.polarity == -b.polarity;
    }
    ck_assert_int_eq(flips, 30);
    qrs_work_free(&w);
    free(x);
    free(y);
}
END_TEST

/* The rhythm features of a whole synthetic record agree with the same
 * statistics of the generator's own R-peak times wherever the detector found
 * exactly the planted beats (a beat cut by the record's edge, or a rare miss
 * in bigeminy, changes the intervals themselves: most records must be whole). */
START_TEST(test_features_follow_planted_beats)
{
    const int len = 30 * FS, nrec = 30;
    synth_params p = {.n = 1, .min_len = len, .max_len = len, .fs = FS, .noise = 1.0f,
                      .seed = g_seed};
    float *x = testutil_falloc((size_t)len), f[FEAT_N];
    int ref[512];
    feat_ctx c;
    feat_work w;
    rerr e;
    ck_assert(feat_ctx_init(&c, FS, &e) == 0);
    ck_assert(feat_work_init(&w, &c, len, &e) == 0);
    double worst_hr = 0.0, worst_sd = 0.0;
    int whole = 0;
    for (int i = 0; i < nrec; i++) {
        int cls = i % 3;
        int nr = synth_record(x, len, cls, &p, rng_hash3(g_seed, 7, (uint64_t)i), ref, 512);
        int nb;
        feat_extract(&c, &w, x, len, f, &nb);
        ck_assert_int_ge(nr, 10);
        /* a sinus record's median beat: a narrow QRS and a P wave */
        if (cls == 0) {
            ck_assert_msg(f[FT_QRS_WIDTH] > 40 && f[FT_QRS_WIDTH] < 120, "qrs width %g",
                          (double)f[FT_QRS_WIDTH]);
            ck_assert_msg(f[FT_P_AMP] > 0.03, "p_amp %g", (double)f[FT_P_AMP]);
        }
        if (nb != nr)
            continue;
        whole++;
        double sum = 0.0;
        for (int k = 0; k + 1 < nr; k++)
            sum += (ref[k + 1] - ref[k]) / (double)FS;
        double mean = sum / (nr - 1), ss = 0.0;
        for (int k = 0; k + 1 < nr; k++) {
            double d = (ref[k + 1] - ref[k]) / (double)FS - mean;
            ss += d * d;
        }
        double hr = 60.0 / mean, sd = sqrt(ss / (nr - 2));
        /* sinus and AF beats land within a sample of the planted R peaks; a
         * wide ventricular beat (class O, bigeminy) cut by the record's edge
         * can be placed up to ~150 ms off, which moves the mean rate a bit */
        double tol_hr = cls == 2 ? 2.0 : 0.2, tol_sd = cls == 2 ? 0.02 : 0.005;
        ck_assert_msg(fabs(f[FT_HR_MEAN] - hr) < tol_hr, "record %d class %d: hr %g, planted %g",
                      i, cls, (double)f[FT_HR_MEAN], hr);
        ck_assert_msg(fabs(f[FT_RR_SD] - sd) < tol_sd, "record %d class %d: rr_sd %g, planted %g",
                      i, cls, (double)f[FT_RR_SD], sd);
        if (cls == 2)
            continue;
        worst_hr = fmax(worst_hr, fabs(f[FT_HR_MEAN] - hr));
        worst_sd = fmax(worst_sd, fabs(f[FT_RR_SD] - sd));
    }
    printf("features vs planted beats: %d of %d records with every beat found; worst |hr| "
           "difference %.3f bpm, |rr_sd| %.4f s (N and A)\n",
           whole, nrec, worst_hr, worst_sd);
    ck_assert_int_ge(whole, nrec * 3 / 4);
    feat_work_free(&w);
    feat_ctx_free(&c);
    free(x);
}
END_TEST

/* ---- rhythm features from their formulas ---- */

static void expect_close(const char *what, double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol * (1.0 + fabs(want)), "%s: %.9g, expected %.9g", what,
                  got, want);
}

/* 0.75 s (80 bpm) is exact in binary, so every spread is exactly 0 */
START_TEST(test_rr_constant)
{
    double rr[20], scratch[40];
    float f[FEAT_N];
    for (int i = 0; i < 20; i++)
        rr[i] = 0.75;
    feat_rr(rr, 20, scratch, f);
    expect_close("hr", f[FT_HR_MEAN], 80.0, 1e-7);
    ck_assert(f[FT_RR_SD] == 0.0f && f[FT_RR_RMSSD] == 0.0f && f[FT_RR_PNN50] == 0.0f);
    ck_assert(f[FT_RR_CV] == 0.0f && f[FT_RR_NMAD] == 0.0f && f[FT_RR_SD1] == 0.0f);
    ck_assert(f[FT_RR_SD2] == 0.0f && f[FT_RR_SHORT] == 0.0f && f[FT_RR_BAD] == 0.0f);
    expect_close("min_rel", f[FT_RR_MIN_REL], 1.0, 1e-7);
    expect_close("max_rel", f[FT_RR_MAX_REL], 1.0, 1e-7);
    /* undefined, not 0: a ratio of zeros, an entropy with r = 0.2 * 0 */
    ck_assert(isnan(f[FT_RR_SD1_SD2]) && isnan(f[FT_RR_SAMPEN]) && isnan(f[FT_RR_ACF1]));
}
END_TEST

/* 0.6, 1.0, 0.6, ... (20 intervals): successive differences are +-0.4 s,
 * so RMSSD = 0.4 and pNN50 = 1; mean 0.8, SD = 0.2 sqrt(20/19); the lag-1
 * autocorrelation is 19 (-0.04) / (20 * 0.04) = -0.95; COSEn and SampEn
 * from the counts: every template of either length matches exactly the
 * templates of its own phase. */
START_TEST(test_rr_alternating)
{
    double rr[20], scratch[40];
    float f[FEAT_N];
    for (int i = 0; i < 20; i++)
        rr[i] = i % 2 ? 1.0 : 0.6;
    feat_rr(rr, 20, scratch, f);
    expect_close("rmssd", f[FT_RR_RMSSD], 0.4, 1e-6);
    expect_close("pnn50", f[FT_RR_PNN50], 1.0, 0.0);
    expect_close("hr", f[FT_HR_MEAN], 75.0, 1e-6);
    expect_close("sd", f[FT_RR_SD], 0.2 * sqrt(20.0 / 19.0), 1e-6);
    expect_close("cv", f[FT_RR_CV], 0.2 * sqrt(20.0 / 19.0) / 0.8, 1e-6);
    expect_close("acf1", f[FT_RR_ACF1], -0.95, 1e-6);
    expect_close("nmad", f[FT_RR_NMAD], 0.4 / 0.8, 1e-6); /* median RR of 10 x 0.6, 10 x 1.0 */
    /* SD1 = SD(d) / sqrt 2 with d = +0.4 (10 times), -0.4 (9 times) */
    double dm = 0.4 / 19.0, dss = 10 * (0.4 - dm) * (0.4 - dm) + 9 * (-0.4 - dm) * (-0.4 - dm);
    double sd1 = sqrt(dss / 18.0) / sqrt(2.0), sd = 0.2 * sqrt(20.0 / 19.0);
    expect_close("sd1", f[FT_RR_SD1], sd1, 1e-6);
    /* 2 SD^2 = 1.6 / 19 = SD1^2 exactly: the Poincare plot is two points on
     * the line perpendicular to the identity, so SD2 = 0 (up to rounding) */
    expect_close("sd1^2 = 2 sd^2", sd1 * sd1, 2 * sd * sd, 1e-12);
    expect_close("sd2", f[FT_RR_SD2], 0.0, 1e-3);
    /* SampEn(m = 2, r = 0.2 SD): N - m = 18 templates, 9 per phase; pairs
     * within a phase: B = 2 * C(9, 2) = 72; all of them still match at
     * length 3 (both phases have 9 length-3 templates among the first 18):
     * A = 72, SampEn = -ln 1 = 0 */
    expect_close("sampen", f[FT_RR_SAMPEN], 0.0, 1e-9);
    /* COSEn: m = 1, r = 30 ms, same counts of N - 1 = 19 templates (10 and
     * 9 per phase): B = C(10,2) + C(9,2) = 81, A = 81 (the next value is
     * determined by the phase) */
    expect_close("cosen", f[FT_RR_COSEN], 0.0 + log(0.06) - log(0.8), 1e-6);
}
END_TEST

/* pNN50 counts |d| > 50 ms strictly; the relative extremes and short share. */
START_TEST(test_rr_pnn50_and_shares)
{
    /* d = +0.03, +0.06, -0.07, +0.02, -0.0501 */
    double rr[6] = {0.80, 0.83, 0.89, 0.82, 0.84, 0.7899}, scratch[12];
    float f[FEAT_N];
    feat_rr(rr, 6, scratch, f);
    expect_close("pnn50", f[FT_RR_PNN50], 3.0 / 5.0, 1e-7);
    /* sorted: 0.7899 0.80 0.82 0.83 0.84 0.89: median 0.825 */
    expect_close("min_rel", f[FT_RR_MIN_REL], 0.7899 / 0.825, 1e-6);
    expect_close("max_rel", f[FT_RR_MAX_REL], 0.89 / 0.825, 1e-6);
    expect_close("short", f[FT_RR_SHORT], 0.0, 0.0); /* none below 0.85 * 0.825 = 0.70 */
    double rr2[4] = {0.2, 1.0, 2.5, 1.0};
    feat_rr(rr2, 4, scratch, f);
    expect_close("bad", f[FT_RR_BAD], 2.0 / 4.0, 1e-7); /* 0.2 and 2.5 are implausible */
    expect_close("short", f[FT_RR_SHORT], 1.0 / 4.0, 1e-7);
}
END_TEST

/* A straightforward SampEn: all pairs of m- and (m+1)-point templates among
 * the first n - m starts, counted separately. */
static double sampen_ref(const double *x, int n, int m, double r)
{
    long A = 0, B = 0;
    for (int i = 0; i < n - m; i++)
        for (int j = 0; j < n - m; j++) {
            if (i == j)
                continue;
            double dm = 0.0, dm1 = 0.0;
            for (int k = 0; k < m; k++)
                dm = fmax(dm, fabs(x[i + k] - x[j + k]));
            dm1 = fmax(dm, fabs(x[i + m] - x[j + m]));
            B += dm <= r;
            A += dm1 <= r;
        }
    return A && B ? log((double)B / (double)A) : NAN;
}

/* Random RR series: every rhythm feature against a two-pass textbook
 * computation written here. */
START_TEST(test_rr_random_against_formulas)
{
    rng r;
    rng_seed(&r, g_seed ^ 0x5252);
    double worst = 0.0;
    for (int t = 0; t < 200; t++) {
        int n = 3 + (int)rng_below(&r, 120);
        double rr[128], scratch[256];
        for (int i = 0; i < n; i++)
            rr[i] = 0.35 + 1.2 * rng_uniform(&r);
        float f[FEAT_N];
        feat_rr(rr, n, scratch, f);
        double mean = 0.0;
        for (int i = 0; i < n; i++)
            mean += rr[i] / n;
        double var = 0.0, acn = 0.0;
        for (int i = 0; i < n; i++)
            var += (rr[i] - mean) * (rr[i] - mean);
        for (int i = 0; i + 1 < n; i++)
            acn += (rr[i] - mean) * (rr[i + 1] - mean);
        double sd = sqrt(var / (n - 1));
        double d[128], dsq = 0.0, dmean = 0.0;
        int big = 0;
        for (int i = 0; i + 1 < n; i++) {
            d[i] = rr[i + 1] - rr[i];
            dsq += d[i] * d[i];
            dmean += d[i] / (n - 1);
            big += fabs(d[i]) > 0.05;
        }
        double dvar = 0.0;
        for (int i = 0; i + 1 < n; i++)
            dvar += (d[i] - dmean) * (d[i] - dmean);
        double sd1 = sqrt(dvar / (n - 2) / 2.0);
        double want[][2] = {
            {f[FT_HR_MEAN], 60.0 / mean},
            {f[FT_RR_SD], sd},
            {f[FT_RR_RMSSD], sqrt(dsq / (n - 1))},
            {f[FT_RR_PNN50], (double)big / (n - 1)},
            {f[FT_RR_CV], sd / mean},
            {f[FT_RR_SD1], sd1},
            {f[FT_RR_SD2], sqrt(fmax(0.0, 2 * sd * sd - sd1 * sd1))},
            {f[FT_RR_ACF1], acn / var},
        };
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            double rel = fabs(want[k][0] - want[k][1]) / (1e-9 + fabs(want[k][1]));
            worst = fmax(worst, rel);
            ck_assert_msg(rel < 1e-5, "series %d (n %d) value %zu: %.9g, formula %.9g", t, n, k,
                          want[k][0], want[k][1]);
        }
        double se_ref = sampen_ref(rr, n, 2, 0.2 * sd), se_got = f[FT_RR_SAMPEN];
        ck_assert_msg((isnan(se_ref) && isnan(se_got)) || fabs(se_ref - se_got) < 1e-5,
                      "series %d: sampen %.9g, reference %.9g", t, se_got, se_ref);
    }
    printf("rhythm features vs formulas: worst relative difference %.2e over 200 random series\n",
           worst);
}
END_TEST

/* ---- signals with a known answer ---- */

static void check_sane(const char *what, const float *f)
{
    for (int k = 0; k < FEAT_N; k++) {
        ck_assert_msg(!isinf(f[k]), "%s: %s is infinite", what, feat_name(k));
        if (!feat_may_be_missing(k))
            ck_assert_msg(isfinite(f[k]), "%s: %s is %g", what, feat_name(k), (double)f[k]);
    }
}

START_TEST(test_known_signals)
{
    const int len = 30 * FS;
    float *x = testutil_falloc((size_t)len), f[FEAT_N];
    feat_ctx c;
    feat_work w;
    rerr e;
    ck_assert(feat_ctx_init(&c, FS, &e) == 0);
    ck_assert(feat_work_init(&w, &c, len, &e) == 0);
    int nb;

    /* flat lines: no beats, everything beat-related missing, all flat */
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < len; i++)
            x[i] = v ? 0.7f : 0.0f;
        feat_extract(&c, &w, x, len, f, &nb);
        check_sane("flat line", f);
        ck_assert_int_eq(nb, 0);
        ck_assert(isnan(f[FT_HR_MEAN]) && isnan(f[FT_QRS_WIDTH]) && isnan(f[FT_KURTOSIS]));
        expect_close("flat", f[FT_FLAT], 1.0, 0.0);
        expect_close("duration", f[FT_DURATION], 30.0, 1e-7);
        expect_close("range", f[FT_AMP_RANGE], 0.0, 1e-6);
    }

    /* a 10.1 Hz sine of amplitude 1 (not a divisor of 300 Hz, so its
     * samples cover every phase): kurtosis of a sinusoid is 3/2, skewness 0,
     * all its power in 5-15 Hz, the spectral peak at 10.1 Hz, and the 1st
     * to 99th percentile range 2 cos(0.01 pi) (P(sin U <= x) = 1/2 +
     * asin(x) / pi for a uniform phase U) times the 0.5-40 Hz filter's gain:
     * forwards and backwards through two bilinear Butterworth sections,
     * |H|^2 = 1 / (1 + (tan(w/2) / tan(wc/2))^(+-4)) each */
    const double pi = 3.14159265358979323846, fsine = 10.1;
    for (int i = 0; i < len; i++)
        x[i] = (float)sin(2.0 * pi * fsine * i / FS);
    double tw = tan(pi * fsine / FS);
    double gain = 1.0 / (1.0 + pow(tw / tan(pi * 40.0 / FS), 4)) /
                  (1.0 + pow(tan(pi * 0.5 / FS) / tw, 4));
    feat_extract(&c, &w, x, len, f, &nb);
    check_sane("10.1 Hz sine", f);
    printf("10.1 Hz sine: kurtosis %.4f skewness %.4f psqi %.4f dom_freq %.3f amp_range %.4f, %d "
           "beats\n",
           (double)f[FT_KURTOSIS], (double)f[FT_SKEWNESS], (double)f[FT_PSQI],
           (double)f[FT_DOM_FREQ], (double)f[FT_AMP_RANGE], nb);
    expect_close("sine kurtosis", f[FT_KURTOSIS], 1.5, 0.01);
    ck_assert_float_lt(f[FT_SKEWNESS], 0.01f);
    ck_assert_float_gt(f[FT_PSQI], 0.99f);
    expect_close("sine peak", f[FT_DOM_FREQ], fsine, 0.3 / 11.1); /* one bin: 300 / 1024 Hz */
    expect_close("sine range", f[FT_AMP_RANGE], 2.0 * cos(0.01 * pi) * gain, 0.001);
    ck_assert_float_eq(f[FT_FLAT], 0.0f);

    /* a 0.5 Hz sine is all baseline: basSQI = 1 - P(0-1 Hz) / P(0-40 Hz) ~ 0 */
    for (int i = 0; i < len; i++)
        x[i] = (float)sin(2.0 * pi * 0.5 * i / FS);
    feat_extract(&c, &w, x, len, f, &nb);
    check_sane("0.5 Hz sine", f);
    ck_assert_float_lt(f[FT_BASSQI], 0.05f);

    /* white noise: Gaussian, so kurtosis 3 (a band-passed Gaussian is still
     * Gaussian; about 2,400 independent values in 30 s of 0.5-40 Hz, so the
     * estimate's sd is sqrt(24 / 2400) = 0.1: 4 sd allowed), a flat
     * spectrum (entropy near 1), no dominant wave */
    rng r;
    rng_seed(&r, g_seed ^ 0x4e4f);
    testutil_fill_normal(&r, x, (size_t)len, 0.0f, 0.5f);
    feat_extract(&c, &w, x, len, f, &nb);
    check_sane("white noise", f);
    printf("white noise: kurtosis %.4f spec_entropy %.4f hf_power %.4f, %d beats found\n",
           (double)f[FT_KURTOSIS], (double)f[FT_SPEC_ENTROPY], (double)f[FT_HF_POWER], nb);
    expect_close("noise kurtosis", f[FT_KURTOSIS], 3.0, 0.1);
    ck_assert_float_gt(f[FT_SPEC_ENTROPY], 0.95f);
    /* white: the share above 40 Hz of 0.5-150 Hz is (150 - 40) / 149.5 */
    expect_close("noise hf", f[FT_HF_POWER], 110.0 / 149.5, 0.03);

    /* short and pathological records: finite, no crash */
    int lens[] = {1, 2, 4, 5, 50, 299, 301, 1000};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        testutil_fill_normal(&r, x, (size_t)lens[t], 0.0f, 1.0f);
        feat_extract(&c, &w, x, lens[t], f, &nb);
        check_sane("short record", f);
        expect_close("duration", f[FT_DURATION], lens[t] / 300.0, 1e-6);
    }
    /* one spike, and a square wave clipping at the rails */
    for (int i = 0; i < len; i++)
        x[i] = i == len / 2 ? 5.0f : 0.0f;
    feat_extract(&c, &w, x, len, f, &nb);
    check_sane("spike", f);
    for (int i = 0; i < len; i++)
        x[i] = (i / 150) % 2 ? 2.0f : -2.0f;
    feat_extract(&c, &w, x, len, f, &nb);
    check_sane("square wave", f);
    ck_assert_float_gt(f[FT_FLAT], 0.9f);

    feat_work_free(&w);
    feat_ctx_free(&c);
    free(x);
}
END_TEST

/* ---- config ---- */

static int load_text(resecg_config *c, const char *text, rerr *e)
{
    config_defaults(c);
    if (config_load_string(c, text, "t.yaml", e) != 0)
        return -1;
    return config_validate(c, e);
}

START_TEST(test_config_errors)
{
    resecg_config c;
    rerr e = {{0}};
    /* focal loss is a network loss */
    ck_assert_int_eq(load_text(&c, "model:\n  type: features\nloss:\n  kind: focal\n", &e), -1);
    ck_assert_msg(strstr(e.msg, "loss.kind focal") && strstr(e.msg, "model.type features"), "%s",
                  e.msg);
    ck_assert_int_eq(load_text(&c, "model:\n  type: features\nloss:\n  kind: weighted\n", &e), 0);
    ck_assert_int_eq(load_text(&c, "model:\n  type: features\n", &e), 0);
    ck_assert_int_eq(c.model.type, MODEL_FEATURES);
    ck_assert_str_eq(config_model_name(c.model.type), "features");
    /* a bad type names the line, column and the choices */
    ck_assert_int_eq(load_text(&c, "model:\n  type: trees\n", &e), -1);
    ck_assert_msg(strstr(e.msg, "t.yaml:2:9: model.type: expected one of resecg, features, got "
                                "'trees'") != NULL,
                  "%s", e.msg);
    ck_assert_int_eq(load_text(&c, "features:\n  eta: 0\n", &e), -1);
    ck_assert_msg(strstr(e.msg, "t.yaml:2:8: features.eta: 0 is out of range") != NULL, "%s", e.msg);
    ck_assert_int_eq(load_text(&c, "features:\n  treez: 3\n", &e), -1);
    ck_assert_msg(strstr(e.msg, "did you mean 'features.trees'") != NULL, "%s", e.msg);
    /* the network's frame checks do not apply to whole records */
    const char *short_recs = "data:\n  synth_min_length: 100\n  synth_length: 200\n";
    ck_assert_int_eq(load_text(&c, short_recs, &e), -1);
    char text[256];
    snprintf(text, sizeof text, "model:\n  type: features\n%s", short_recs);
    ck_assert_msg(load_text(&c, text, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(load_text(&c, "data:\n  resample_length: 1000\n", &e), -1);
    ck_assert_msg(load_text(&c, "model:\n  type: features\ndata:\n  resample_length: 1000\n", &e) == 0,
                  "%s", e.msg);
    /* round trip: the written config reads back as features */
    ck_assert_int_eq(load_text(&c, "model:\n  type: features\nfeatures:\n  trees: 7\n  eta: 0.3\n", &e), 0);
    char *s = config_to_string(&c);
    resecg_config d;
    ck_assert_int_eq(load_text(&d, s, &e), 0);
    free(s);
    ck_assert_int_eq(d.model.type, MODEL_FEATURES);
    ck_assert_int_eq(d.features.trees, 7);
    ck_assert_float_eq(d.features.eta, 0.3f);
}
END_TEST

/* ---- training and evaluation ---- */

static void small_config(resecg_config *c)
{
    config_defaults(c);
    c->model.type = MODEL_FEATURES;
    c->data.synth_records = 300;
    c->data.synth_length = 1500; /* 3-5 s: a few beats, so not every record is easy */
    c->data.synth_min_length = 900;
    c->data.synth_noise = 6.0f;
    c->data.dev_fraction = 0.3f;
    c->features.trees = 60;
    c->features.eta = 0.2f;
    /* one thread: XGBoost's many short parallel regions collapse when a
     * busy process shares the cores (README.md); one case runs two */
    c->train.threads = 1;
}

static char *slurp(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = NULL;
    rerr e;
    ck_assert_msg(util_read_file(path, &s, NULL, &e) == 0, "%s", e.msg);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void train_ok(const resecg_config *c, const char *dir, train_result *res)
{
    train_opts o = {.out_dir = dir, .device = "cpu", .quiet = 1};
    rerr e = {{0}};
    ck_assert_msg(train_run(c, &o, res, &e) == 0, "train_run: %s", e.msg);
}

START_TEST(test_train_evaluate)
{
    resecg_config c;
    small_config(&c);
    c.train.threads = 2;
    char d1[700], d2[700], d3[700], ev[700];
    snprintf(d1, sizeof d1, "%s/run1", g_dir);
    snprintf(d2, sizeof d2, "%s/run2", g_dir);
    snprintf(d3, sizeof d3, "%s/run3", g_dir);
    snprintf(ev, sizeof ev, "%s/eval", g_dir);
    train_result res;
    train_ok(&c, d1, &res);
    printf("synthetic trees: dev macro F1 %.3f cinc F1 %.3f (N %.3f A %.3f O %.3f ~ %.3f), "
           "%ld dev records, %.1f s\n",
           res.dev.macro_f1, res.dev.cinc_f1, res.dev.f1[0], res.dev.f1[1], res.dev.f1[2],
           res.dev.f1[3], res.dev.total, res.seconds);
    /* chance (always N) gives macro F1 <= 0.19 */
    ck_assert_double_gt(res.dev.macro_f1, 0.6);
    const char *outputs[] = {"config.yaml",   "features.csv", "model.json", "predictions.csv",
                             "confusion.csv", "epochs.csv",   "f1.csv",     "train.log"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", d1, outputs[i]);
        ck_assert_msg(util_file_exists(p), "missing %s", p);
    }
    char *pred = slurp(d1, "predictions.csv"), *feats = slurp(d1, "features.csv");
    ck_assert_int_eq(count_lines(pred), (int)res.dev.total + 1);
    ck_assert_int_eq(count_lines(feats), c.data.synth_records + 1);
    ck_assert(strncmp(feats, "record,label,split,hr_mean,", 27) == 0);
    char *epochs = slurp(d1, "epochs.csv");
    ck_assert_int_eq(count_lines(epochs), 2);
    free(epochs);

    /* evaluate on model.json: the same dev records, predictions and F1,
     * byte for byte */
    char mpath[800];
    snprintf(mpath, sizeof mpath, "%s/model.json", d1);
    eval_opts eo = {.ckpt = mpath, .device = "cpu", .out_dir = ev};
    eval_result er;
    rerr e = {{0}};
    ck_assert_msg(evaluate_run(&c, &eo, &er, &e) == 0, "%s", e.msg);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            ck_assert_int_eq(er.mt.confusion[a][b], res.dev.confusion[a][b]);
    ck_assert_double_eq(er.loss, res.best_dev_loss);
    const char *same[] = {"f1.csv", "predictions.csv", "confusion.csv"};
    for (size_t i = 0; i < 3; i++) {
        char *a = slurp(d1, same[i]), *b = slurp(ev, same[i]);
        ck_assert_msg(strcmp(a, b) == 0, "evaluate's %s differs from training's", same[i]);
        free(a);
        free(b);
    }

    /* deterministic: the same seed and threads give the same model bytes;
     * another seed (row and column subsampling) another model */
    train_result r2, r3;
    train_ok(&c, d2, &r2);
    char *m1 = slurp(d1, "model.json"), *m2 = slurp(d2, "model.json");
    ck_assert_msg(strcmp(m1, m2) == 0, "same seed, different model.json");
    c.train.seed = 7;
    c.train.threads = 1;
    train_ok(&c, d3, &r3);
    char *m3 = slurp(d3, "model.json");
    ck_assert_msg(strcmp(m1, m3) != 0, "train.seed has no effect");
    /* and the features do not depend on the thread count */
    char *f3 = slurp(d3, "features.csv");
    ck_assert_str_eq(feats, f3);
    free(m1);
    free(m2);
    free(m3);
    free(f3);
    free(pred);
    free(feats);

    /* a corrupt or foreign model file is an error naming it */
    char bad[800];
    snprintf(bad, sizeof bad, "%s/f1.csv", d1);
    eo.ckpt = bad;
    eo.out_dir = NULL;
    ck_assert_int_eq(evaluate_run(&c, &eo, &er, &e), -1);
    ck_assert_msg(strstr(e.msg, bad) && strstr(e.msg, "not a resecg feature model"), "%s", e.msg);
    snprintf(bad, sizeof bad, "%s/plain.json", g_dir);
    FILE *fp = fopen(bad, "w");
    fputs("{\"learner\": 3}", fp);
    fclose(fp);
    ck_assert_int_eq(evaluate_run(&c, &eo, &er, &e), -1);
    ck_assert_msg(strstr(e.msg, bad) != NULL && strchr(e.msg, '\n') == NULL, "%s", e.msg);
}
END_TEST

/* class weights: balanced weights raise the rare classes' recall on the
 * training records (where the trees are fit) compared with none. */
START_TEST(test_weighted_changes_model)
{
    resecg_config c;
    small_config(&c);
    char d1[700], d2[700];
    snprintf(d1, sizeof d1, "%s/ce", g_dir);
    snprintf(d2, sizeof d2, "%s/weighted", g_dir);
    train_result a, b;
    train_ok(&c, d1, &a);
    c.loss.kind = LOSS_WEIGHTED;
    c.loss.balanced = 1;
    train_ok(&c, d2, &b);
    char *m1 = slurp(d1, "model.json"), *m2 = slurp(d2, "model.json"), *log = slurp(d2, "train.log");
    ck_assert_msg(strcmp(m1, m2) != 0, "class weights did not change the model");
    ck_assert_msg(strstr(log, "class weights (instance weights):") != NULL, "%s", log);
    printf("ce: dev macro F1 %.3f; weighted (balanced): %.3f\n", a.dev.macro_f1, b.dev.macro_f1);
    free(m1);
    free(m2);
    free(log);
}
END_TEST

/* The command line and the sweep tools: train, evaluate --out, then a
 * two-job sweep of feature models run over the CPU and its report. */
START_TEST(test_cli_sweep_report)
{
    const char *bin = getenv("RESECG_BIN");
    ck_assert_msg(bin != NULL, "RESECG_BIN is not set (run through ctest)");
    char sweep[800], cmd[4096];
    snprintf(sweep, sizeof sweep, "%s/feat_sweep.yaml", g_dir);
    FILE *fp = fopen(sweep, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "name: featsweep\n"
                "set:\n  model.type: features\n  data.synth_records: 200\n  data.synth_noise: 6\n"
                "  data.synth_length: 2000\n  data.synth_min_length: 1500\n  data.dev_fraction: 0.3\n"
                "  features.trees: 30\n"
                "variants:\n  plain: {loss.kind: ce}\n  weighted: {loss.kind: weighted}\n"
                "seeds: 1\n");
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s sweep run %s --gpus none --max-parallel 2 --out %s/results --no-live "
             ">%s/sweep.out 2>&1", bin, sweep, g_dir, g_dir);
    int st = system(cmd);
    char *out = slurp(g_dir, "sweep.out");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sweep run failed:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s report %s/results/featsweep >%s/report.out 2>&1", bin, g_dir,
             g_dir);
    st = system(cmd);
    out = slurp(g_dir, "report.out");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "report failed:\n%s", out);
    free(out);
    char rdir[800];
    snprintf(rdir, sizeof rdir, "%s/results/featsweep/report", g_dir);
    char *t1 = slurp(rdir, "table1.md");
    printf("report of a features sweep:\n%s", t1);
    ck_assert_msg(strstr(t1, "| plain |") && strstr(t1, "| weighted |"), "%s", t1);
    ck_assert_msg(strstr(t1, "missing") != NULL, "%s", t1);
    free(t1);
    char *jobs = slurp(rdir, "jobs.csv");
    ck_assert_msg(strstr(jobs, ",done,") != NULL || strstr(jobs, "done") != NULL, "%s", jobs);
    free(jobs);

    /* resecg evaluate on a job's model.json, from the command line */
    char job[1200];
    snprintf(cmd, sizeof cmd, "ls -d %s/results/featsweep/*/model.json | head -1 > %s/job.txt",
             g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    char *jp = slurp(g_dir, "job.txt");
    jp[strcspn(jp, "\n")] = '\0';
    snprintf(job, sizeof job, "%s", jp);
    free(jp);
    char *slash = strrchr(job, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    snprintf(cmd, sizeof cmd, "%s evaluate --config %s/config.yaml --ckpt %s/model.json --out %s/cli_eval "
             ">%s/eval.out 2>&1", bin, job, job, g_dir, g_dir);
    st = system(cmd);
    out = slurp(g_dir, "eval.out");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "evaluate failed:\n%s", out);
    ck_assert_msg(strstr(out, "gradient-boosted trees") != NULL, "%s", out);
    free(out);
    char edir[800];
    snprintf(edir, sizeof edir, "%s/cli_eval", g_dir);
    char *a = slurp(job, "f1.csv"), *b = slurp(edir, "f1.csv");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);

    /* focal loss with the trees: exit 2 and the key named */
    snprintf(cmd, sizeof cmd, "%s train --config %s/config.yaml --set loss.kind=focal --out %s/x "
             ">/dev/null 2>%s/focal.err", bin, job, g_dir, g_dir);
    st = system(cmd);
    out = slurp(g_dir, "focal.err");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit %d: %s", WEXITSTATUS(st), out);
    ck_assert_msg(strstr(out, "loss.kind focal") != NULL, "%s", out);
    free(out);
}
END_TEST

/* ---- the real CinC 2017 copy ---- */

START_TEST(test_real_data)
{
    resecg_config c;
    config_defaults(&c);
    c.model.type = MODEL_FEATURES;
    snprintf(c.data.source, sizeof c.data.source, "cinc17");
    size_t dl = strlen(g_real_dir);
    ck_assert_uint_lt(dl, sizeof c.data.dir);
    memcpy(c.data.dir, g_real_dir, dl + 1);
    config_set_protocol(&c, PROTOCOL_PYTORCH_REF);
    c.features.trees = 150;
    c.features.eta = 0.1f;
    c.train.threads = 1;
    rerr e = {{0}};
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
    char dir[700], ev[700];
    snprintf(dir, sizeof dir, "%s/real", g_dir);
    snprintf(ev, sizeof ev, "%s/real_eval", g_dir);
    train_result res;
    train_ok(&c, dir, &res);
    char *log = slurp(dir, "train.log");
    printf("real CinC 2017, pytorch-ref split, 150 trees: dev F1 N %.3f A %.3f O %.3f ~ %.3f, "
           "CinC F1 %.3f (%ld dev records, %.1f s)\n%s",
           res.dev.f1[0], res.dev.f1[1], res.dev.f1[2], res.dev.f1[3], res.dev.cinc_f1,
           res.dev.total, res.seconds, log);
    free(log);
    /* the pytorch-ref dev split: int(0.2 n) of the n records */
    char *feats = slurp(dir, "features.csv");
    int n = count_lines(feats) - 1;
    ck_assert_int_eq((int)res.dev.total, (int)(0.2 * n));
    /* the published feature row is ~0.80 CinC F1; always-N gives ~0.25 */
    ck_assert_double_gt(res.dev.cinc_f1, 0.7);
    /* no feature is infinite on any real record; the always-defined ones are finite */
    ck_assert_msg(strstr(feats, "inf") == NULL && strstr(feats, "nan") == NULL,
                  "inf or nan in features.csv");
    free(feats);
    char mpath[800];
    snprintf(mpath, sizeof mpath, "%s/model.json", dir);
    eval_opts eo = {.ckpt = mpath, .device = "cpu", .out_dir = ev};
    eval_result er;
    ck_assert_msg(evaluate_run(&c, &eo, &er, &e) == 0, "%s", e.msg);
    char *a = slurp(dir, "f1.csv"), *b = slurp(ev, "f1.csv");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_real_data_unusable)
{
    ck_abort_msg("the CinC working copy is present but could not be unpacked: %s", g_real_why);
}
END_TEST

int main(void)
{
    const char *s = getenv("RESECG_TEST_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("test_features: seed %llu (set RESECG_TEST_SEED to repeat)\n", (unsigned long long)g_seed);

    Suite *suite = suite_create("features");
    TCase *tc = tcase_create("features");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_detector_synthetic);
    tcase_add_test(tc, test_detector_inverted);
    tcase_add_test(tc, test_features_follow_planted_beats);
    tcase_add_test(tc, test_rr_constant);
    tcase_add_test(tc, test_rr_alternating);
    tcase_add_test(tc, test_rr_pnn50_and_shares);
    tcase_add_test(tc, test_rr_random_against_formulas);
    tcase_add_test(tc, test_known_signals);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_train_evaluate);
    tcase_add_test(tc, test_weighted_changes_model);
    tcase_add_test(tc, test_cli_sweep_report);
    suite_add_tcase(suite, tc);

    int real = testutil_cinc17_dir(g_real_dir, sizeof g_real_dir, g_real_why, sizeof g_real_why);
    if (real != 0) {
        TCase *rt = tcase_create("real data");
        tcase_set_timeout(rt, 600);
        tcase_add_unchecked_fixture(rt, dir_setup, dir_teardown);
        tcase_add_test(rt, real > 0 ? test_real_data : test_real_data_unusable);
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

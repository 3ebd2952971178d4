/* Checks reports/stats.c: the Student t distribution and Holm against
 * published values, stats_compare against an independent F1 on a small
 * hand-made case, and the calibration of the report's verdicts on simulated
 * sweeps (no training): per seed a "model" whose per-class accuracy is a
 * base value + a seed effect ~ Normal(0, sd_seed) + a planted difference,
 * scoring a dev set with CinC 2017's class shares whose records have a
 * shared difficulty. Over many simulated sweeps it measures how often two
 * identical configurations are called "real" (must be at most 5%, after
 * Holm over the five metrics) and how often a planted difference is found,
 * and shows that the record-only bootstrap of earlier reports fails the
 * first check. Fresh seeds each run, printed; RESECG_TEST_SEED=S repeats one.
 * Under the sanitizers (RESECG_SANITIZED) fewer sweeps are simulated. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/rng.h"
#include "stats.h"
#include "testutil.h"

static void near(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol, "%s: got %.12g, want %.12g (diff %.3g)", what, got, want,
                  fabs(got - want));
}

/* ---- the t distribution and Holm ---- */

START_TEST(t_distribution)
{
    /* t-table values; t(4.5) from integrating the density numerically
     * (Simpson, 200,000 steps), an independent route to the same number */
    near(stats_t_cdf(1.0, 1), 0.75, 1e-12, "Cauchy cdf(1)");
    near(stats_t_cdf(-2.0, 5), 0.050969739414929, 1e-10, "t5 cdf(-2)");
    near(stats_t_cdf(0.0, 3), 0.5, 1e-15, "t3 cdf(0)");
    near(stats_t_quantile(0.975, 1), 12.706204736174705, 1e-8, "t1 ppf(0.975)");
    near(stats_t_quantile(0.975, 2), 4.302652729749464, 1e-8, "t2 ppf(0.975)");
    near(stats_t_quantile(0.975, 10), 2.228138851986274, 1e-9, "t10 ppf(0.975)");
    near(stats_t_quantile(0.025, 4.5), -2.658912347204, 1e-8, "t4.5 ppf(0.025)");
    near(stats_t_quantile(0.975, 1e9), 1.959963984540054, 1e-7, "normal ppf(0.975)");
    near(stats_t_cdf(-1.959963984540054, INFINITY), 0.025, 1e-10, "normal cdf");
    ck_assert(isnan(stats_t_cdf(1, 0)) && isnan(stats_t_quantile(1.0, 3)));
}
END_TEST

START_TEST(holm)
{
    /* m = 4 tests (NaN is none): sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1
     * = 0.02, 0.03, 0.06, 0.04, then the running maximum */
    double p[5] = {0.01, 0.04, 0.03, NAN, 0.005}, adj[5];
    const double want[5] = {0.03, 0.06, 0.06, NAN, 0.02};
    rerr e;
    ck_assert(stats_holm(p, 5, adj, &e) == 0);
    for (int i = 0; i < 5; i++) {
        if (isnan(want[i]))
            ck_assert(isnan(adj[i]));
        else
            near(adj[i], want[i], 1e-15, "holm");
    }
    ck_assert(stats_holm(p, 5, p, &e) == 0); /* in place */
    for (int i = 0; i < 5; i++)
        ck_assert(isnan(want[i]) ? isnan(p[i]) : fabs(p[i] - want[i]) < 1e-15);
    double big[3] = {0.5, 0.6, 0.9};
    ck_assert(stats_holm(big, 3, adj, &e) == 0);
    near(adj[0], 1.0, 0, "capped at 1");
}
END_TEST

/* ---- stats_compare on a small case ---- */

/* Independent F1 of class c: 2TP / (2TP + FP + FN). */
static double f1_class(const int *lab, const int *pred, int n, int c)
{
    long tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < n; i++) {
        tp += lab[i] == c && pred[i] == c;
        fp += lab[i] != c && pred[i] == c;
        fn += lab[i] == c && pred[i] != c;
    }
    return 2 * tp + fp + fn ? 2.0 * tp / (double)(2 * tp + fp + fn) : 0;
}

START_TEST(compare_small)
{
    enum { N = 40, K = 4 };
    int lab[N], pa[K][N], pb[K][N];
    rng g;
    rng_seed(&g, 99);
    for (int i = 0; i < N; i++)
        lab[i] = i % 4;
    for (int s = 0; s < K; s++)
        for (int i = 0; i < N; i++) {
            pa[s][i] = rng_uniform(&g) < 0.8 ? lab[i] : (int)rng_below(&g, 4);
            pb[s][i] = rng_uniform(&g) < 0.6 ? lab[i] : (int)rng_below(&g, 4);
        }
    const int *a[K] = {pa[0], pa[1], pa[2], pa[3]}, *b[K] = {pb[0], pb[1], pb[2], pb[3]};
    stats_opts o = {.bootstrap = 300, .seed = 5, .paired = 1};
    stats_result r, r2;
    rerr e = {{0}};
    ck_assert_msg(stats_compare(lab, N, a, K, b, K, &o, &r, &e) == 0, "%s", e.msg);
    /* diff: the mean F1 difference; var_seed: s_d^2 / k of the per-seed differences */
    for (int c = 0; c < 4; c++) {
        double d[K], mean = 0, sq = 0;
        for (int s = 0; s < K; s++) {
            d[s] = f1_class(lab, pa[s], N, c) - f1_class(lab, pb[s], N, c);
            mean += d[s] / K;
        }
        for (int s = 0; s < K; s++)
            sq += (d[s] - mean) * (d[s] - mean);
        near(r.diff[c], mean, 1e-12, "diff");
        near(r.var_seed[c], sq / (K - 1) / K, 1e-12, "var_seed");
        near(r.se[c], sqrt(r.var_seed[c] + r.var_rec[c]), 1e-12, "se");
        ck_assert(r.var_rec[c] >= 0 && r.df[c] == K - 1); /* the seeds' degrees of freedom */
        double t = stats_t_quantile(0.975, r.df[c]);
        near(r.hi[c] - r.diff[c], t * r.se[c], 1e-12, "interval");
        ck_assert(r.p[c] >= 0 && r.p[c] <= 1 && r.p_gt[c] >= 0 && r.p_gt[c] <= 1);
        ck_assert(r.boot_lo[c] <= r.boot_hi[c] && r.rec_lo[c] <= r.rec_hi[c]);
    }
    near(r.diff[STATS_CINC], (r.diff[0] + r.diff[1] + r.diff[2]) / 3, 1e-12, "CinC");
    /* the same seed gives the same numbers; a variant far better wins */
    ck_assert(stats_compare(lab, N, a, K, b, K, &o, &r2, &e) == 0);
    ck_assert(memcmp(&r, &r2, sizeof r) == 0);
    ck_assert_msg(r.diff[STATS_CINC] > 0.1 && r.p_gt[STATS_CINC] > 0.95, "%g %g", r.diff[STATS_CINC],
                  r.p_gt[STATS_CINC]);
    /* identical sides: difference 0, nothing varies, p = 1 */
    ck_assert(stats_compare(lab, N, a, K, a, K, &o, &r, &e) == 0);
    for (int m = 0; m < STATS_NMETRIC; m++)
        ck_assert(r.diff[m] == 0 && r.se[m] == 0 && r.p[m] == 1 && r.p_gt[m] == 0.5);
    /* unpaired, one seed a side: a difference but no se */
    o.paired = 0;
    ck_assert(stats_compare(lab, N, a, 1, b, 3, &o, &r, &e) == 0);
    ck_assert(isfinite(r.diff[0]) && isnan(r.se[0]) && isnan(r.p[0]));
    ck_assert(!stats_testable(2, 3) && stats_testable(3, 3));
    /* bad input */
    o.paired = 1;
    ck_assert(stats_compare(lab, N, a, 3, b, 2, &o, &r, &e) == -1);
    ck_assert_msg(strstr(e.msg, "paired"), "%s", e.msg);
    pa[1][7] = 4;
    ck_assert(stats_compare(lab, N, a, K, b, K, &o, &r, &e) == -1);
    ck_assert_msg(strstr(e.msg, "variant seed 1, record 7"), "%s", e.msg);
}
END_TEST

/* ---- calibration on simulated sweeps ---- */

enum { NREC = 300, MAXK = 10 };
/* CinC 2017's class shares: N 59%, A 9%, O 28%, ~ 4% of 300 records */
static const int class_count[4] = {177, 27, 84, 12};
static const double base_acc[4] = {0.90, 0.72, 0.70, 0.55};
/* where a wrong prediction goes: row = true class (cumulative shares) */
static const double wrong_cum[4][4] = {
    {0.0, 0.3, 0.8, 1.0}, {0.5, 0.5, 0.9, 1.0}, {0.6, 0.8, 0.8, 1.0}, {0.4, 0.5, 1.0, 1.0}};
static const double rho = 0.7071; /* half of a record's difficulty is shared by every model */

typedef struct devset {
    int labels[NREC];
    double z[NREC]; /* shared difficulty */
} devset;

static void sim_devset(rng *g, devset *d)
{
    for (int c = 0, i = 0; c < 4; c++)
        for (int j = 0; j < class_count[c]; j++, i++) {
            d->labels[i] = c;
            d->z[i] = rng_normal(g);
        }
}

/* One trained model: per-class accuracy base + seed effect + shift; record i
 * is right when Phi(rho z_i + sqrt(1 - rho^2) eps) < accuracy. The seed
 * effect is half shared by the classes (a good or a bad run), half not. */
static void sim_model(rng *g, const devset *d, double sd_seed, double shift, int *pred)
{
    double shared = rng_normal(g) * sd_seed / sqrt(2.0), acc[4];
    for (int c = 0; c < 4; c++) {
        acc[c] = base_acc[c] + shared + rng_normal(g) * sd_seed / sqrt(2.0) + shift;
        acc[c] = fmin(0.99, fmax(0.01, acc[c]));
    }
    for (int i = 0; i < NREC; i++) {
        int c = d->labels[i];
        double x = rho * d->z[i] + sqrt(1 - rho * rho) * rng_normal(g);
        if (0.5 * erfc(-x / sqrt(2.0)) < acc[c]) {
            pred[i] = c;
            continue;
        }
        double u = rng_uniform(g);
        int w = 0;
        while (w < 3 && (w == c || u >= wrong_cum[c][w]))
            w++;
        pred[i] = w == c ? (c + 1) % 4 : w;
    }
}

typedef struct scenario {
    const char *name;
    int ka, kb, paired;
    double sd_seed, shift;
    int old_fails; /* A/A: whether the record-only bootstrap must fail here */
} scenario;

/* What the methods called real, counted over the sweeps. */
typedef struct tally {
    int sweeps;
    int new_cinc, new_cinc_holm, new_any_holm; /* the report's verdict */
    int boot_cinc, boot_any_holm;              /* plain two-level percentile bootstrap */
    int rec_cinc, rec_any;                     /* record-only, no correction (earlier reports) */
    int new_metric[5];                         /* p < 0.05 per metric of the family */
    double diff_cinc, se_cinc; /* means over the sweeps */
    double seconds;
} tally;

static const int family[5] = {STATS_F1_N, STATS_F1_A, STATS_F1_O, STATS_F1_NOISE, STATS_CINC};

static void run_scenario(const scenario *sc, int sweeps, int B, uint64_t seed, tally *t)
{
    static int pa[MAXK][NREC], pb[MAXK][NREC];
    const int *a[MAXK], *b[MAXK];
    devset d;
    rng g;
    rng_seed(&g, seed);
    memset(t, 0, sizeof *t);
    double t0 = util_now();
    for (int it = 0; it < sweeps; it++) {
        sim_devset(&g, &d);
        for (int s = 0; s < sc->ka; s++)
            sim_model(&g, &d, sc->sd_seed, sc->shift, pa[s]), a[s] = pa[s];
        for (int s = 0; s < sc->kb; s++)
            sim_model(&g, &d, sc->sd_seed, 0, pb[s]), b[s] = pb[s];
        stats_opts o = {.bootstrap = B, .seed = rng_u64(&g), .paired = sc->paired};
        stats_result r;
        rerr e = {{0}};
        ck_assert_msg(stats_compare(d.labels, NREC, a, sc->ka, b, sc->kb, &o, &r, &e) == 0, "%s", e.msg);
        double p[5], adj[5], bp[5], badj[5];
        int rec_any = 0;
        for (int f = 0; f < 5; f++) {
            p[f] = r.p[family[f]];
            bp[f] = r.boot_p[family[f]];
            rec_any |= r.rec_lo[family[f]] > 0 || r.rec_hi[family[f]] < 0;
        }
        ck_assert(stats_holm(p, 5, adj, &e) == 0 && stats_holm(bp, 5, badj, &e) == 0);
        int any = 0, bany = 0;
        for (int f = 0; f < 5; f++) {
            t->new_metric[f] += p[f] < STATS_ALPHA;
            any |= adj[f] < STATS_ALPHA;
            bany |= badj[f] < STATS_ALPHA;
        }
        t->diff_cinc += r.diff[STATS_CINC] / sweeps;
        t->se_cinc += r.se[STATS_CINC] / sweeps;
        t->new_cinc += r.p[STATS_CINC] < STATS_ALPHA;
        t->new_cinc_holm += adj[4] < STATS_ALPHA;
        t->new_any_holm += any;
        t->boot_cinc += r.boot_p[STATS_CINC] < STATS_ALPHA;
        t->boot_any_holm += bany;
        t->rec_cinc += r.rec_lo[STATS_CINC] > 0 || r.rec_hi[STATS_CINC] < 0;
        t->rec_any += rec_any;
    }
    t->sweeps = sweeps;
    t->seconds = util_now() - t0;
}

/* The rate and a normal-approximation 95% half-width (floored, so that 0 of n
 * does not read as exact). */
static void show(const char *what, int x, int n)
{
    double r = (double)x / n;
    printf("    %-58s %5.1f%% (%d/%d, +-%.1f)\n", what, 100 * r, x, n,
           100 * 1.96 * sqrt(fmax(r * (1 - r), 0.25 / n) / n));
}

static void report(const scenario *sc, const tally *t, int B)
{
    printf("  %s: %d vs %d seeds (%s), sd_seed %.3f, planted accuracy difference %+.3f, "
           "%d sweeps x %d resamples, %.1f s\n",
           sc->name, sc->ka, sc->kb, sc->paired ? "paired" : "unpaired", sc->sd_seed, sc->shift,
           t->sweeps, B, t->seconds);
    printf("    mean CinC F1 difference %+.4f, mean standard error %.4f\n", t->diff_cinc, t->se_cinc);
    show("report verdict: CinC real (p < 0.05, before Holm)", t->new_cinc, t->sweeps);
    show("report verdict: CinC real after Holm over 5 metrics", t->new_cinc_holm, t->sweeps);
    show("report verdict: any of N, A, O, ~, CinC real after Holm", t->new_any_holm, t->sweeps);
    printf("    report verdict, p < 0.05 per metric before Holm: N %.1f%%, A %.1f%%, O %.1f%%, "
           "~ %.1f%%, CinC %.1f%%\n",
           100.0 * t->new_metric[0] / t->sweeps, 100.0 * t->new_metric[1] / t->sweeps,
           100.0 * t->new_metric[2] / t->sweeps, 100.0 * t->new_metric[3] / t->sweeps,
           100.0 * t->new_metric[4] / t->sweeps);
    show("plain two-level percentile bootstrap: CinC real", t->boot_cinc, t->sweeps);
    show("plain two-level percentile bootstrap: any real after Holm", t->boot_any_holm, t->sweeps);
    show("record-only bootstrap (earlier reports): CinC real", t->rec_cinc, t->sweeps);
    show("record-only bootstrap (earlier reports): any of 5 real", t->rec_any, t->sweeps);
    fflush(stdout);
}

static uint64_t test_seed(void)
{
    const char *s = getenv("RESECG_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 10);
    return (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
}

static int sanitized(void)
{
    return getenv("RESECG_SANITIZED") != NULL;
}

/* The false-"real" threshold: 5% plus the one-sided 99.9% binomial margin at
 * a true rate of exactly 5% (3.09 standard errors). A method whose rate is
 * at most 5% fails it in at most 1 run in 1000; one at 9% or more (1,000
 * sweeps) fails it almost always. */
static double fp_threshold(int sweeps)
{
    return STATS_ALPHA + 3.09 * sqrt(STATS_ALPHA * (1 - STATS_ALPHA) / sweeps);
}

static void null_case(const scenario *sc)
{
    int sweeps = sanitized() ? 300 : 1000, B = sanitized() ? 300 : 600;
    uint64_t seed = test_seed();
    printf("%s: seed %llu (RESECG_TEST_SEED=%llu repeats it)\n", sc->name, (unsigned long long)seed,
           (unsigned long long)seed);
    tally t;
    run_scenario(sc, sweeps, B, seed, &t);
    report(sc, &t, B);
    double thr = fp_threshold(sweeps);
    printf("    threshold for a false-real rate of at most 5%%: %.1f%%\n", 100 * thr);
    ck_assert_msg((double)t.new_any_holm / sweeps <= thr,
                  "%s: identical configurations called real in %d of %d sweeps (seed %llu)", sc->name,
                  t.new_any_holm, sweeps, (unsigned long long)seed);
    ck_assert_msg((double)t.new_cinc / sweeps <= thr,
                  "%s: CinC p < 0.05 in %d of %d sweeps before Holm (seed %llu)", sc->name, t.new_cinc,
                  sweeps, (unsigned long long)seed);
    /* the same check fails the method of earlier reports */
    ck_assert_msg(!sc->old_fails || (double)t.rec_cinc / sweeps > thr,
                  "%s: the record-only bootstrap passed (%d of %d); the simulation no longer shows "
                  "why seeds matter (seed %llu)",
                  sc->name, t.rec_cinc, sweeps, (unsigned long long)seed);
}

START_TEST(null_paired_3)
{
    scenario sc = {"A/A, paired", 3, 3, 1, 0.04, 0, 1};
    null_case(&sc);
}
END_TEST

START_TEST(null_unpaired_3)
{
    scenario sc = {"A/A, unpaired (resecg report DIR_A DIR_B)", 3, 3, 0, 0.04, 0, 1};
    null_case(&sc);
}
END_TEST

START_TEST(null_paired_5_small_spread)
{
    /* seeds matter little: the record-only bootstrap is nearly right here
     * (about 7%), so only the report's verdict is checked */
    scenario sc = {"A/A, paired, small seed spread", 5, 5, 1, 0.01, 0, 0};
    null_case(&sc);
}
END_TEST

START_TEST(null_paired_3_seed_dominated)
{
    /* seeds matter more than records: where the plain percentile bootstrap
     * over 3 seeds is too narrow */
    scenario sc = {"A/A, paired, large seed spread", 3, 3, 1, 0.10, 0, 1};
    null_case(&sc);
}
END_TEST

/* Planted differences: every class's accuracy +shift on the variant. The
 * asserted floors sit far below the measured rates (printed), so a correct
 * method does not flake; a method that lost most of its power fails. */
START_TEST(power)
{
    static const struct {
        scenario sc;
        double floor; /* asserted share of sweeps with CinC F1 real after Holm; 0: printed only */
    } cases[] = {
        {{"planted difference", 5, 5, 1, 0.04, 0.15, 0}, 0.70},
        {{"planted difference", 10, 10, 1, 0.04, 0.10, 0}, 0.90},
        {{"planted difference", 5, 5, 1, 0.04, 0.10, 0}, 0},
        {{"planted difference", 3, 3, 1, 0.04, 0.15, 0}, 0},
        {{"planted difference", 5, 5, 0, 0.04, 0.15, 0}, 0},
    };
    int sweeps = sanitized() ? 150 : 400, B = sanitized() ? 300 : 600;
    uint64_t seed = test_seed();
    printf("power: seed %llu (RESECG_TEST_SEED=%llu repeats it)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tally t;
        run_scenario(&cases[i].sc, sweeps, B, seed + i, &t);
        report(&cases[i].sc, &t, B);
        if (cases[i].floor > 0)
            printf("    asserted: CinC real after Holm in at least %.0f%%\n", 100 * cases[i].floor);
        ck_assert_msg(t.new_cinc_holm >= cases[i].floor * sweeps,
                      "%d vs %d seeds, +%.2f: power %d of %d (seed %llu)", cases[i].sc.ka,
                      cases[i].sc.kb, cases[i].sc.shift, t.new_cinc_holm, sweeps,
                      (unsigned long long)seed);
    }
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_distribution);
    tcase_add_test(tc, holm);
    tcase_add_test(tc, compare_small);
    tcase_add_test(tc, null_paired_3);
    tcase_add_test(tc, null_unpaired_3);
    tcase_add_test(tc, null_paired_5_small_spread);
    tcase_add_test(tc, null_paired_3_seed_dominated);
    tcase_add_test(tc, power);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

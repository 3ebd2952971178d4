/* The statistics behind `resecg report`'s verdicts: comparing two sets of
 * trained models (one prediction per dev record per training seed) on F1,
 * with a two-level bootstrap over seeds and stratified dev records, a
 * t-based interval that accounts for having few seeds, Holm's correction
 * over a report's tests, and the Student t distribution they need. Works on
 * arrays only (no files), so tests/test_stats.c calibrates it on simulated
 * sweeps. The procedure and its measured calibration are in reports/README.md. */
#ifndef RESECG_STATS_H
#define RESECG_STATS_H

#include <stdint.h>

#include "base/util.h"

#define STATS_K 4         /* classes N, A, O, ~ */
#define STATS_MIN_SEEDS 3 /* finished seeds per side below which nothing is tested */
#define STATS_ALPHA 0.05  /* family-wise error rate of a report's verdicts */

/* The compared scores, each recomputed from predictions with metrics.c. */
enum {
    STATS_F1_N,
    STATS_F1_A,
    STATS_F1_O,
    STATS_F1_NOISE,
    STATS_CINC,     /* mean F1 of N, A, O */
    STATS_MACRO,    /* mean F1 of the four classes */
    STATS_WEIGHTED, /* support-weighted F1 */
    STATS_NMETRIC
};

typedef struct stats_opts {
    int bootstrap; /* resamples B >= 1 (report default 2000) */
    uint64_t seed; /* generator seed: the same seed gives the same numbers */
    int paired;    /* 1: variant seed s and baseline seed s are a pair (na == nb) */
} stats_opts;

/* Per metric m (STATS_F1_N ... STATS_WEIGHTED), variant minus baseline.
 * Fields that cannot be estimated (one seed on a side) are NaN. */
typedef struct stats_result {
    int na, nb;                    /* seeds of the variant and the baseline (pairs: na == nb) */
    int paired;
    double diff[STATS_NMETRIC];    /* mean over the variant's seeds - mean over the baseline's,
                                    * on every dev record */
    /* the verdict's numbers: se^2 = seed part + record part; t interval */
    double var_seed[STATS_NMETRIC]; /* unbiased variance of diff from the seeds: s_d^2/k paired,
                                     * s_a^2/na + s_b^2/nb unpaired */
    double var_rec[STATS_NMETRIC];  /* record-level variance more seeds would not average
                                     * away: the covariance of different models' scores
                                     * over the stratified record resamples (stats.c) */
    double se[STATS_NMETRIC], df[STATS_NMETRIC]; /* df: Welch-Satterthwaite */
    double lo[STATS_NMETRIC], hi[STATS_NMETRIC]; /* diff -+ t(df, 0.975) se */
    double p[STATS_NMETRIC];        /* two-sided, from t(df); before any correction */
    double p_gt[STATS_NMETRIC];     /* P(variant > baseline): share of the two-level resamples
                                     * whose difference is > 0, ties counted half */
    /* the plain two-level percentile bootstrap (anti-conservative for few
     * seeds; reported for comparison, never a verdict) */
    double boot_lo[STATS_NMETRIC], boot_hi[STATS_NMETRIC], boot_p[STATS_NMETRIC];
    /* the record-only bootstrap of earlier reports: seeds fixed, n records
     * drawn from n unstratified, 2.5th/97.5th percentiles */
    double rec_lo[STATS_NMETRIC], rec_hi[STATS_NMETRIC];
} stats_result;

/* Compares the variant's models pa[0..na-1] with the baseline's
 * pb[0..nb-1]; pa[s][i] is seed s's predicted class (0..3) of dev record i,
 * whose true class is labels[i] (nrec records, the same for every model).
 * Each of o->bootstrap resamples draws the seeds (k pairs with replacement
 * when paired, else na and nb seeds independently per side) and the dev
 * records (n_c with replacement from each true class c, one draw shared by
 * every model), recomputes every drawn model's F1s and takes the difference
 * of the two sides' means over their drawn seeds (D, behind p_gt and the
 * percentile columns). The verdict's interval is diff -+ t(df, 0.975) se
 * with se^2 = var_seed + var_rec (see the fields).
 * The generator restarts at o->seed. Needs na, nb >= 1 (se and p need two
 * seeds a side). Returns 0, or -1 with e filled (bad arguments, out of
 * memory) and out unspecified. */
int stats_compare(const int *labels, int nrec, const int *const *pa, int na,
                  const int *const *pb, int nb, const stats_opts *o, stats_result *out, rerr *e);

/* Whether a comparison is tested at all: STATS_MIN_SEEDS seeds on each side. */
int stats_testable(int na, int nb);

/* Holm's step-down adjustment of the n p-values p (NaN entries are not
 * tests: they stay NaN in adj and do not count in n). adj[i] is the
 * smallest family-wise level at which test i is rejected; reject when
 * adj[i] < STATS_ALPHA. adj may alias p. Returns 0, or -1 with e filled
 * (out of memory) and adj untouched. */
int stats_holm(const double *p, int n, double *adj, rerr *e);

/* Student t with df > 0 degrees of freedom: P(T <= t), and the q-quantile
 * (0 < q < 1). df may be huge (the normal limit). */
double stats_t_cdf(double t, double df);
double stats_t_quantile(double q, double df);

#endif

/* Check tests for the reference kernels of core/nn/cpu/layers.c (everything in
 * layers.h but the convolution): finite-difference gradient checks of batch
 * norm + ReLU + dropout, the residual shortcut and the dense layer, and
 * forward checks against naive formulas written independently here; and the
 * "cpu" backend's batch-norm backward (core/nn/cpu/bn_fast.c) and its
 * channels-last kernels (core/nn/cpu/layers_nwc.c, bf16 mode) against them.
 *
 * Gradient checks use the scalar objective f = sum(out * R) with R fixed
 * random, summed in double; backward runs with dout = R, and each input and
 * parameter element is perturbed by +-eps (central differences). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/cpu/isa.h"
#include "nn/cpu/nwc.h"
#include "nn/layers.h"
#include "nn/rng.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static void fill_uniform(float *x, long n, rng *r, float lo, float hi)
{
    for (long i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform(r);
}

static void fill_nan(float *x, long n)
{
    for (long i = 0; i < n; i++)
        x[i] = NAN;
}

static double dot_d(const float *a, const float *b, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* An objective evaluated at the current contents of the perturbed array;
 * writes the layer output to out (for the ReLU-kink test) and returns f. */
typedef double (*objective_fn)(void *ctx, float *out);

/* Outcome of one finite-difference sweep over an array. */
typedef struct fd_result {
    int checked, skipped, bad;
    double worst_abs;  /* max |num - ana| */
    double worst_tol;  /* max |num - ana| / (atol + rtol |ana|): <= 1 passes */
    double diff2, ana2; /* for the relative norm ||num - ana|| / ||ana|| */
    int first_bad;
    double first_bad_num, first_bad_ana;
} fd_result;

/* Central differences of f in every element of v (n) against ana (n); f
 * writes nout outputs. kink_guard: a coordinate whose +eps and -eps outputs
 * differ in their out > 0 pattern crossed a ReLU kink (the analytic gradient
 * is one-sided there): it is retried with smaller steps and skipped if it
 * still crosses one; fd_assert bounds how many are skipped. */
static fd_result fd_check(const char *name, float *v, long n, const float *ana, objective_fn f,
                          void *ctx, long nout, int kink_guard, float eps, double atol,
                          double rtol)
{
    fd_result res = {0};
    res.first_bad = -1;
    float *op = testutil_falloc(nout), *om = testutil_falloc(nout);
    for (long i = 0; i < n; i++) {
        // On a kink crossing, retry with steps 4 and 16 times smaller; the
        // float rounding noise in f grows as 1/step, and so does atol.
        const float save = v[i];
        double num = 0.0, atol_i = atol;
        int kink = 1;
        for (int try = 0; try < 3 && kink; try++, atol_i *= 4.0) {
            const float e = eps / (float)(1 << (2 * try));
            const float vp = save + e, vm = save - e;
            v[i] = vp;
            const double fp = f(ctx, op);
            v[i] = vm;
            const double fm = f(ctx, om);
            v[i] = save;
            kink = 0;
            for (long j = 0; kink_guard && j < nout && !kink; j++)
                kink = (op[j] > 0.0f) != (om[j] > 0.0f);
            // divide by the step actually taken in float, not 2 e
            num = (fp - fm) / ((double)vp - (double)vm);
        }
        if (kink) {
            res.skipped++;
            continue;
        }
        const double a = ana[i];
        const double d = fabs(num - a);
        const double tol = atol_i + rtol * fabs(a);
        res.checked++;
        res.diff2 += (num - a) * (num - a);
        res.ana2 += a * a;
        if (d > res.worst_abs)
            res.worst_abs = d;
        if (d / tol > res.worst_tol)
            res.worst_tol = d / tol;
        if (!(d <= tol)) { // also catches NaN
            if (res.bad == 0) {
                res.first_bad = (int)i;
                res.first_bad_num = num;
                res.first_bad_ana = a;
            }
            res.bad++;
        }
    }
    free(op);
    free(om);
    const double rel = res.ana2 > 0 ? sqrt(res.diff2 / res.ana2) : sqrt(res.diff2);
    printf("  %-28s n=%-5ld worst |num-ana| %.3e (%.2f of tol), rel norm %.2e, skipped %d",
           name, n, res.worst_abs, res.worst_tol, rel, res.skipped);
    if (res.bad)
        printf(", %d BAD, first [%d] num %.6g ana %.6g", res.bad, res.first_bad,
               res.first_bad_num, res.first_bad_ana);
    printf("\n");
    fflush(stdout);
    return res;
}

/* Asserts a sweep passed: no element out of tolerance, a small relative
 * norm, and few kink skips. */
static void fd_assert(const fd_result *r, long n, double max_rel)
{
    const double rel = r->ana2 > 0 ? sqrt(r->diff2 / r->ana2) : sqrt(r->diff2);
    ck_assert_int_eq(r->bad, 0);
    ck_assert_msg(rel <= max_rel, "relative norm %g > %g", rel, max_rel);
    ck_assert_msg(r->skipped <= 2 + n / 20, "%d of %ld coordinates hit a ReLU kink", r->skipped, n);
    ck_assert_int_gt(r->checked, 0);
}

/* The dropout keep rule of layers.c written out again: top 24 bits of
 * rng_hash3(seed, b*C + c, l) as u in [0, 1), kept iff u >= p. */
static int naive_keep(uint64_t seed, int b, int C, int c, int l, float p)
{
    uint64_t h = rng_hash3(seed, (uint64_t)b * C + c, (uint64_t)l);
    return (float)(h >> 40) * (1.0f / 16777216.0f) >= p;
}

/* ---- batch norm + ReLU + dropout ----------------------------------------- */

typedef struct bn_fix {
    int B, C, L;
    float p, momentum, eps;
    uint64_t seed;
    float *x, *gamma, *beta, *R;       /* inputs, objective weights */
    float *out, *mean, *rstd, *rm, *rv; /* forward outputs (rm, rv scratch) */
    float *dx, *dgamma, *dbeta;         /* analytic gradients */
} bn_fix;

static void bn_fix_init(bn_fix *k, int B, int C, int L, float p, uint64_t seed, uint64_t data_seed)
{
    memset(k, 0, sizeof *k);
    k->B = B, k->C = C, k->L = L, k->p = p, k->seed = seed;
    k->momentum = 0.99f, k->eps = 1e-3f;
    const long n = (long)B * C * L;
    rng r;
    rng_seed(&r, data_seed);
    k->x = testutil_falloc(n), k->R = testutil_falloc(n), k->out = testutil_falloc(n), k->dx = testutil_falloc(n);
    k->gamma = testutil_falloc(C), k->beta = testutil_falloc(C), k->mean = testutil_falloc(C), k->rstd = testutil_falloc(C);
    k->rm = testutil_falloc(C), k->rv = testutil_falloc(C), k->dgamma = testutil_falloc(C), k->dbeta = testutil_falloc(C);
    // each channel its own offset and spread, so the normalisation matters
    for (int c = 0; c < C; c++) {
        const float mu = 2.0f * rng_normal(&r), sd = 0.5f + 2.0f * rng_uniform(&r);
        for (int b = 0; b < B; b++)
            testutil_fill_normal(&r, k->x + ((long)b * C + c) * L, L, mu, sd);
    }
    testutil_fill_normal(&r, k->R, n, 0.0f, 1.0f);
    fill_uniform(k->gamma, C, &r, 0.5f, 1.5f);
    testutil_fill_normal(&r, k->beta, C, 0.0f, 0.5f);
    fill_uniform(k->rm, C, &r, -1.0f, 1.0f);
    fill_uniform(k->rv, C, &r, 0.5f, 2.0f);
}

static void bn_fix_free(bn_fix *k)
{
    free(k->x), free(k->R), free(k->out), free(k->dx), free(k->gamma), free(k->beta);
    free(k->mean), free(k->rstd), free(k->rm), free(k->rv), free(k->dgamma), free(k->dbeta);
}

static double bn_objective(void *ctx, float *out)
{
    bn_fix *k = ctx;
    cpu_bnrelu_forward(out, k->mean, k->rstd, k->x, k->gamma, k->beta, k->rm, k->rv, k->B, k->C,
                       k->L, k->momentum, k->eps, 1, k->p, k->seed);
    return dot_d(out, k->R, (long)k->B * k->C * k->L);
}

static const struct { int B, C, L; } bn_cases[] = {
    {2, 3, 17}, {4, 5, 64}, {1, 4, 33}, {3, 2, 5}, {8, 2, 40},
};
#define N_BN_CASES ((int)(sizeof bn_cases / sizeof bn_cases[0]))

static void bn_grad_case(int i, float p)
{
    bn_fix k;
    bn_fix_init(&k, bn_cases[i].B, bn_cases[i].C, bn_cases[i].L, p, 0xD40Full + (uint64_t)i,
                100 + (uint64_t)i);
    const long n = (long)k.B * k.C * k.L;
    printf("bnrelu grad B=%d C=%d L=%d p=%.1f\n", k.B, k.C, k.L, p);
    bn_objective(&k, k.out); // mean, rstd, out at the base point
    // NaN in the outputs: backward must assign them, not accumulate
    fill_nan(k.dx, n), fill_nan(k.dgamma, k.C), fill_nan(k.dbeta, k.C);
    cpu_bnrelu_backward(k.dx, k.dgamma, k.dbeta, k.R, k.out, k.x, k.mean, k.rstd, k.gamma, k.beta,
                        k.B, k.C, k.L, p);
    fd_result r;
    // A gamma or beta step moves every element of its channel, so it takes a
    // smaller step to keep ReLU kink crossings rare; an input step moves one
    // element by eps and the rest by O(eps / (B L)).
    r = fd_check("dinp", k.x, n, k.dx, bn_objective, &k, n, 1, 1e-2f, 2e-3, 2e-3);
    fd_assert(&r, n, 2e-3);
    r = fd_check("dgamma", k.gamma, k.C, k.dgamma, bn_objective, &k, n, 1, 1e-3f, 2e-3, 2e-3);
    fd_assert(&r, k.C, 2e-3);
    r = fd_check("dbeta", k.beta, k.C, k.dbeta, bn_objective, &k, n, 1, 1e-3f, 2e-3, 2e-3);
    fd_assert(&r, k.C, 2e-3);
    bn_fix_free(&k);
}

START_TEST(test_bnrelu_grad)
{
    bn_grad_case(_i, 0.0f);
}
END_TEST

START_TEST(test_bnrelu_grad_dropout)
{
    bn_grad_case(_i, 0.3f);
}
END_TEST

/* Training forward against the textbook formulas evaluated here in double:
 * mean, biased variance for the output, unbiased for the running update,
 * and the dropout mask from rng_hash3. */
START_TEST(test_bnrelu_forward_naive)
{
    const float ps[] = {0.0f, 0.25f};
    for (int pi = 0; pi < 2; pi++) {
        bn_fix k;
        bn_fix_init(&k, 3, 4, 29, ps[pi], 77, 200 + (uint64_t)pi);
        const long n = (long)k.B * k.C * k.L;
        float *rm0 = testutil_falloc(k.C), *rv0 = testutil_falloc(k.C);
        memcpy(rm0, k.rm, (size_t)k.C * sizeof *rm0);
        memcpy(rv0, k.rv, (size_t)k.C * sizeof *rv0);
        cpu_bnrelu_forward(k.out, k.mean, k.rstd, k.x, k.gamma, k.beta, k.rm, k.rv, k.B, k.C, k.L,
                           k.momentum, k.eps, 1, k.p, k.seed);
        double worst = 0.0, worst_stat = 0.0;
        int kept = 0;
        for (int c = 0; c < k.C; c++) {
            double s = 0.0, ss = 0.0;
            const int m = k.B * k.L;
            for (int b = 0; b < k.B; b++)
                for (int l = 0; l < k.L; l++)
                    s += k.x[((long)b * k.C + c) * k.L + l];
            const double mu = s / m;
            for (int b = 0; b < k.B; b++)
                for (int l = 0; l < k.L; l++) {
                    double d = k.x[((long)b * k.C + c) * k.L + l] - mu;
                    ss += d * d;
                }
            const double var = ss / m, uvar = ss / (m - 1);
            const double rstd = 1.0 / sqrt(var + k.eps);
            const double erm = 0.99 * rm0[c] + 0.01 * mu, erv = 0.99 * rv0[c] + 0.01 * uvar;
            const double stat_err[] = {
                fabs(k.mean[c] - mu) / (1 + fabs(mu)), fabs(k.rstd[c] - rstd) / rstd,
                fabs(k.rm[c] - erm) / (1 + fabs(erm)), fabs(k.rv[c] - erv) / erv};
            for (int j = 0; j < 4; j++)
                if (stat_err[j] > worst_stat)
                    worst_stat = stat_err[j];
            for (int b = 0; b < k.B; b++)
                for (int l = 0; l < k.L; l++) {
                    const long idx = ((long)b * k.C + c) * k.L + l;
                    double y = k.gamma[c] * (k.x[idx] - mu) * rstd + k.beta[c];
                    y = y > 0 ? y : 0;
                    if (k.p > 0) {
                        if (naive_keep(k.seed, b, k.C, c, l, k.p))
                            y /= (1.0 - k.p), kept++;
                        else
                            y = 0;
                    }
                    const double d = fabs(k.out[idx] - y) / (1 + fabs(y));
                    if (d > worst)
                        worst = d;
                }
        }
        printf("bnrelu forward naive p=%.2f: worst out rel err %.3e, worst stat rel err %.3e, "
               "kept %d/%ld\n",
               k.p, worst, worst_stat, kept, n);
        fflush(stdout);
        ck_assert_double_le(worst, 1e-5);
        ck_assert_double_le(worst_stat, 1e-5);
        free(rm0), free(rv0);
        bn_fix_free(&k);
    }
}
END_TEST

/* A case small enough to do on paper. Channel 0 holds {1, 2 | 3, 6} (b = 0 |
 * b = 1): mean 3, squared deviations 4 + 1 + 0 + 9 = 14, biased variance 3.5,
 * unbiased 14/3. Channel 1 holds {-1, 1 | 1, 3}: mean 1, deviations 4+0+0+4 = 8,
 * biased 2, unbiased 8/3. Momentum 0.9 from running (0.5, 2) and (-1, 1):
 *   rm0 = 0.9*0.5 + 0.1*3 = 0.75      rv0 = 0.9*2 + 0.1*14/3 = 2.2666667
 *   rm1 = 0.9*-1  + 0.1*1 = -0.8      rv1 = 0.9*1 + 0.1*8/3  = 1.1666667
 * eps 1e-3; gamma (1, 2), beta (0, 0.5):
 *   c0: out = relu((x - 3) / sqrt(3.501))  -> 0, 0, 0, 3 / sqrt(3.501)
 *   c1: out = relu(2 (x - 1) / sqrt(2.001) + 0.5) -> 0, 0.5, 0.5, 0.5 + 4 / sqrt(2.001)
 * (x = -1 gives 0.5 - 4/sqrt(2.001) < 0). */
START_TEST(test_bnrelu_hand)
{
    const float x[] = {1, 2, -1, 1, 3, 6, 1, 3}; // (B=2, C=2, L=2)
    const float gamma[] = {1, 2}, beta[] = {0, 0.5f};
    float rm[] = {0.5f, -1.0f}, rv[] = {2.0f, 1.0f};
    float out[8], mean[2], rstd[2];
    cpu_bnrelu_forward(out, mean, rstd, x, gamma, beta, rm, rv, 2, 2, 2, 0.9f, 1e-3f, 1, 0.0f, 0);
    const double r0 = 1.0 / sqrt(3.501), r1 = 1.0 / sqrt(2.001);
    const double want_out[] = {0, 0, 0, 0.5, 0, 3 * r0, 0.5, 0.5 + 4 * r1};
    const double want_stats[] = {3, 1, r0, r1, 0.75, -0.8, 0.9 * 2 + 0.1 * 14.0 / 3,
                                 0.9 * 1 + 0.1 * 8.0 / 3};
    const float got_stats[] = {mean[0], mean[1], rstd[0], rstd[1], rm[0], rm[1], rv[0], rv[1]};
    double worst = 0;
    for (int i = 0; i < 8; i++) {
        const double d1 = fabs(out[i] - want_out[i]), d2 = fabs(got_stats[i] - want_stats[i]);
        worst = fmax(worst, fmax(d1, d2));
        ck_assert_msg(d1 <= 1e-6, "out[%d] = %.8g, want %.8g", i, out[i], want_out[i]);
        ck_assert_msg(d2 <= 1e-6, "stat[%d] = %.8g, want %.8g", i, got_stats[i], want_stats[i]);
    }
    printf("bnrelu hand case: worst diff %.3e\n", worst);
    fflush(stdout);
}
END_TEST

/* Inference uses the running statistics, applies no dropout and leaves the
 * running statistics alone (mean/rstd may be NULL). */
START_TEST(test_bnrelu_eval)
{
    bn_fix k;
    bn_fix_init(&k, 3, 5, 31, 0.5f, 9, 300);
    const long n = (long)k.B * k.C * k.L;
    float *rm0 = testutil_falloc(k.C), *rv0 = testutil_falloc(k.C);
    memcpy(rm0, k.rm, (size_t)k.C * sizeof *rm0);
    memcpy(rv0, k.rv, (size_t)k.C * sizeof *rv0);
    cpu_bnrelu_forward(k.out, NULL, NULL, k.x, k.gamma, k.beta, k.rm, k.rv, k.B, k.C, k.L,
                       k.momentum, k.eps, 0, k.p, k.seed);
    double worst = 0;
    int pos = 0;
    for (int b = 0; b < k.B; b++)
        for (int c = 0; c < k.C; c++)
            for (int l = 0; l < k.L; l++) {
                const long idx = ((long)b * k.C + c) * k.L + l;
                double y = k.gamma[c] * (k.x[idx] - rm0[c]) / sqrt((double)rv0[c] + k.eps) +
                           k.beta[c];
                y = y > 0 ? y : 0;
                pos += y > 0;
                worst = fmax(worst, fabs(k.out[idx] - y) / (1 + fabs(y)));
            }
    printf("bnrelu eval: worst rel err %.3e (%d of %ld positive)\n", worst, pos, n);
    fflush(stdout);
    ck_assert_double_le(worst, 1e-5);
    ck_assert_int_gt(pos, n / 10); // both ReLU branches exercised
    ck_assert_int_lt(pos, n - n / 10);
    ck_assert_mem_eq(k.rm, rm0, (size_t)k.C * sizeof *rm0);
    ck_assert_mem_eq(k.rv, rv0, (size_t)k.C * sizeof *rv0);
    free(rm0), free(rv0);
    bn_fix_free(&k);
}
END_TEST

/* With beta large every ReLU passes, so the zeros are exactly the dropped
 * elements: their fraction must be p (binomial, 5 sigma), survivors scaled
 * by 1/(1-p), the mask a function of the seed. */
START_TEST(test_bnrelu_dropout_rate)
{
    const int B = 4, C = 16, L = 1000;
    const long n = (long)B * C * L;
    float *x = testutil_falloc(n), *o1 = testutil_falloc(n), *o2 = testutil_falloc(n), *o3 = testutil_falloc(n);
    float gamma[16], beta[16], mean[16], rstd[16], rm[16], rv[16];
    rng r;
    rng_seed(&r, 400);
    testutil_fill_normal(&r, x, n, 0.0f, 1.0f);
    for (int c = 0; c < C; c++)
        gamma[c] = 1.0f, beta[c] = 20.0f, rm[c] = 0.0f, rv[c] = 1.0f;
    const float ps[] = {0.2f, 0.5f};
    for (int pi = 0; pi < 2; pi++) {
        const float p = ps[pi];
        cpu_bnrelu_forward(o1, mean, rstd, x, gamma, beta, rm, rv, B, C, L, 0.99f, 1e-3f, 1, 0.0f, 0);
        cpu_bnrelu_forward(o2, mean, rstd, x, gamma, beta, rm, rv, B, C, L, 0.99f, 1e-3f, 1, p, 1234);
        cpu_bnrelu_forward(o3, mean, rstd, x, gamma, beta, rm, rv, B, C, L, 0.99f, 1e-3f, 1, p, 1235);
        long dropped = 0, differ = 0;
        double worst_scale = 0;
        for (long i = 0; i < n; i++) {
            ck_assert(o1[i] > 0.0f);
            if (o2[i] == 0.0f)
                dropped++;
            else
                worst_scale = fmax(worst_scale, fabs(o2[i] - o1[i] / (1.0 - p)) / o2[i]);
            differ += (o2[i] == 0.0f) != (o3[i] == 0.0f);
        }
        const double frac = (double)dropped / n, sd = sqrt(p * (1 - p) / n);
        printf("dropout p=%.1f: dropped %.4f (5 sigma = %.4f), worst kept-scale rel err %.2e, "
               "masks of two seeds differ in %.3f\n",
               p, frac, 5 * sd, worst_scale, (double)differ / n);
        fflush(stdout);
        ck_assert_double_le(fabs(frac - p), 5 * sd);
        ck_assert_double_le(worst_scale, 1e-6);
        // independent masks differ in a fraction 2p(1-p) of elements
        ck_assert_double_le(fabs((double)differ / n - 2 * p * (1 - p)), 0.02);
    }
    free(x), free(o1), free(o2), free(o3);
}
END_TEST

/* Reductions are never split across threads, so 1 and 3 threads must agree
 * to the bit (sizes above the kernels' threshold for going parallel). */
START_TEST(test_bnrelu_threads)
{
    const int B = 4, C = 8, L = 2000;
    const long n = (long)B * C * L;
    const int saved_threads = omp_get_max_threads();
    bn_fix k[2];
    for (int t = 0; t < 2; t++) {
        bn_fix_init(&k[t], B, C, L, 0.2f, 55, 500);
        omp_set_num_threads(t == 0 ? 1 : 3);
        bn_objective(&k[t], k[t].out);
        cpu_bnrelu_backward(k[t].dx, k[t].dgamma, k[t].dbeta, k[t].R, k[t].out, k[t].x, k[t].mean,
                            k[t].rstd, k[t].gamma, k[t].beta, B, C, L, 0.2f);
    }
    omp_set_num_threads(saved_threads);
    ck_assert_mem_eq(k[0].out, k[1].out, (size_t)n * sizeof(float));
    ck_assert_mem_eq(k[0].dx, k[1].dx, (size_t)n * sizeof(float));
    ck_assert_mem_eq(k[0].dgamma, k[1].dgamma, (size_t)C * sizeof(float));
    ck_assert_mem_eq(k[0].rv, k[1].rv, (size_t)C * sizeof(float));
    printf("bnrelu 1 vs 3 threads: bit-identical\n");
    fflush(stdout);
    bn_fix_free(&k[0]), bn_fix_free(&k[1]);
}
END_TEST

START_TEST(test_bnrelu_fast_vs_ref)
{
    // core/nn/cpu/bn_fast.c (the "cpu" backend's backward) against the
    // reference: float row sums instead of double, so close, not equal.
    // Rows of the network's longest length, tails, one element, dropout.
    static const struct { int B, C, L; float p; } cases[] = {
        {2, 3, 17, 0.0f}, {4, 5, 64, 0.2f}, {3, 8, 8960, 0.2f}, {2, 16, 35, 0.0f},
        {1, 4, 1, 0.0f},  {8, 2, 4481, 0.5f},
    };
    const int saved_threads = omp_get_max_threads();
    long bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int B = cases[i].B, C = cases[i].C, L = cases[i].L;
        const long n = (long)B * C * L;
        bn_fix k;
        bn_fix_init(&k, B, C, L, cases[i].p, 66 + i, 600 + i);
        bn_objective(&k, k.out);
        cpu_bnrelu_backward(k.dx, k.dgamma, k.dbeta, k.R, k.out, k.x, k.mean, k.rstd, k.gamma,
                            k.beta, B, C, L, k.p);
        float *dx = testutil_falloc(n), *dg = testutil_falloc(C), *db = testutil_falloc(C);
        float *dx3 = testutil_falloc(n), *dg3 = testutil_falloc(C), *db3 = testutil_falloc(C);
        memset(dx, 0xff, (size_t)n * sizeof(float)); // poison: every output assigned
        fast_bnrelu_backward(dx, dg, db, k.R, k.out, k.x, k.mean, k.rstd, k.gamma, B, C, L, k.p);
        printf("bnrelu fast vs ref B%d C%d L%d p%.1f\n", B, C, L, (double)k.p);
        // float sums of up to 8960 terms: ~1e-6 relative; 1e-5 * rms leaves 10x
        bad += check_close("dx", dx, k.dx, n, 1e-5 * testutil_rms(k.dx, (size_t)n), 1e-4);
        bad += check_close("dgamma", dg, k.dgamma, C, 1e-5 * testutil_rms(k.dgamma, (size_t)C), 1e-4);
        bad += check_close("dbeta", db, k.dbeta, C, 1e-5 * testutil_rms(k.dbeta, (size_t)C), 1e-4);
        // and its own result does not depend on the thread count
        omp_set_num_threads(3);
        fast_bnrelu_backward(dx3, dg3, db3, k.R, k.out, k.x, k.mean, k.rstd, k.gamma, B, C, L, k.p);
        omp_set_num_threads(saved_threads);
        ck_assert_mem_eq(dx, dx3, (size_t)n * sizeof(float));
        ck_assert_mem_eq(dg, dg3, (size_t)C * sizeof(float));
        ck_assert_mem_eq(db, db3, (size_t)C * sizeof(float));
        free(dx), free(dg), free(db), free(dx3), free(dg3), free(db3);
        bn_fix_free(&k);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- shortcut ----------------------------------------------------------- */

typedef struct sc_fix {
    int B, Cin, Cout, L, pool;
    float *x, *R, *out;
} sc_fix;

static double sc_objective(void *ctx, float *out)
{
    sc_fix *k = ctx;
    cpu_shortcut_forward(out, k->x, k->B, k->Cin, k->Cout, k->L, k->pool);
    return dot_d(out, k->R, (long)k->B * k->Cout * (k->L / k->pool));
}

static const struct { int B, Cin, Cout, L, pool; } sc_cases[] = {
    {2, 3, 3, 16, 1}, {2, 3, 3, 16, 2}, {2, 3, 6, 16, 1}, {2, 3, 6, 15, 2},
    {3, 4, 8, 33, 2}, {1, 2, 2, 9, 3},
};
#define N_SC_CASES ((int)(sizeof sc_cases / sizeof sc_cases[0]))

START_TEST(test_shortcut_grad)
{
    sc_fix k = {sc_cases[_i].B, sc_cases[_i].Cin, sc_cases[_i].Cout, sc_cases[_i].L,
                sc_cases[_i].pool, NULL, NULL, NULL};
    const long nin = (long)k.B * k.Cin * k.L, nout = (long)k.B * k.Cout * (k.L / k.pool);
    rng r;
    rng_seed(&r, 600 + (uint64_t)_i);
    // distinct values 0.01 apart: no window has a near-tie for +-1e-3 to flip
    int *perm = malloc((size_t)nin * sizeof *perm);
    for (long i = 0; i < nin; i++)
        perm[i] = (int)i;
    rng_shuffle(&r, perm, (int)nin);
    k.x = testutil_falloc(nin), k.R = testutil_falloc(nout), k.out = testutil_falloc(nout);
    for (long i = 0; i < nin; i++)
        k.x[i] = 0.01f * (float)(perm[i] - nin / 2);
    testutil_fill_normal(&r, k.R, nout, 0.0f, 1.0f);
    float *before = testutil_falloc(nin), *dx = testutil_falloc(nin);
    testutil_fill_normal(&r, before, nin, 0.0f, 1.0f);
    memcpy(dx, before, (size_t)nin * sizeof *dx);
    cpu_shortcut_backward(dx, k.R, k.x, k.B, k.Cin, k.Cout, k.L, k.pool);
    for (long i = 0; i < nin; i++) // it accumulates: the gradient is the increment
        dx[i] -= before[i];
    printf("shortcut grad B=%d Cin=%d Cout=%d L=%d pool=%d\n", k.B, k.Cin, k.Cout, k.L, k.pool);
    fd_result res = fd_check("dinp (+=)", k.x, nin, dx, sc_objective, &k, nout, 0, 1e-3f, 1e-3, 1e-3);
    fd_assert(&res, nin, 1e-3);
    ck_assert_int_eq(res.skipped, 0);
    free(perm), free(k.x), free(k.R), free(k.out), free(before), free(dx);
}
END_TEST

/* Forward against a naive max-pool with appended zero channels; the partial
 * last window is dropped (Keras "valid") and gets no gradient; ties route the
 * gradient to the first maximum. */
START_TEST(test_shortcut_forward_naive)
{
    const int B = 2, Cin = 3, Cout = 6, L = 11, pool = 2, Lout = L / pool;
    float x[2 * 3 * 11], out[2 * 6 * 5], dout[2 * 6 * 5], dx[2 * 3 * 11];
    rng r;
    rng_seed(&r, 700);
    testutil_fill_normal(&r, x, B * Cin * L, 0.0f, 1.0f);
    x[0] = x[1] = 0.75f; // a tie in the first window of (b=0, c=0)
    testutil_fill_normal(&r, dout, B * Cout * Lout, 0.0f, 1.0f);
    cpu_shortcut_forward(out, x, B, Cin, Cout, L, pool);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < Cout; c++)
            for (int j = 0; j < Lout; j++) {
                float want = 0.0f;
                if (c < Cin) {
                    const float *w = x + (b * Cin + c) * L + j * pool;
                    want = fmaxf(w[0], w[1]);
                }
                ck_assert_float_eq(out[(b * Cout + c) * Lout + j], want);
            }
    memset(dx, 0, sizeof dx);
    cpu_shortcut_backward(dx, dout, x, B, Cin, Cout, L, pool);
    ck_assert_float_eq(dx[0], dout[0]); // first of the tie
    ck_assert_float_eq(dx[1], 0.0f);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < Cin; c++)
            ck_assert_float_eq(dx[(b * Cin + c) * L + L - 1], 0.0f); // dropped partial window
    printf("shortcut forward naive: exact\n");
    fflush(stdout);
}
END_TEST

/* ---- dense -------------------------------------------------------------- */

typedef struct dense_fix {
    int B, C, T, K;
    float *x, *w, *b, *R, *out;
} dense_fix;

static double dense_objective(void *ctx, float *out)
{
    dense_fix *k = ctx;
    cpu_dense_forward(out, k->x, k->w, k->b, k->B, k->C, k->T, k->K);
    return dot_d(out, k->R, (long)k->B * k->T * k->K);
}

static const struct { int B, C, T, K; } dense_cases[] = {{2, 5, 7, 4}, {3, 16, 10, 4}, {1, 3, 1, 2}};
#define N_DENSE_CASES ((int)(sizeof dense_cases / sizeof dense_cases[0]))

START_TEST(test_dense_grad)
{
    dense_fix k = {dense_cases[_i].B, dense_cases[_i].C, dense_cases[_i].T, dense_cases[_i].K,
                   NULL, NULL, NULL, NULL, NULL};
    const long nx = (long)k.B * k.C * k.T, nw = (long)k.K * k.C, no = (long)k.B * k.T * k.K;
    rng r;
    rng_seed(&r, 800 + (uint64_t)_i);
    k.x = testutil_falloc(nx), k.w = testutil_falloc(nw), k.b = testutil_falloc(k.K), k.R = testutil_falloc(no), k.out = testutil_falloc(no);
    testutil_fill_normal(&r, k.x, nx, 0.0f, 1.0f);
    testutil_fill_normal(&r, k.w, nw, 0.0f, 0.5f);
    testutil_fill_normal(&r, k.b, k.K, 0.0f, 0.5f);
    testutil_fill_normal(&r, k.R, no, 0.0f, 1.0f);
    float *dx = testutil_falloc(nx), *dw = testutil_falloc(nw), *db = testutil_falloc(k.K);
    fill_nan(dx, nx), fill_nan(dw, nw), fill_nan(db, k.K);
    cpu_dense_backward(dx, dw, db, k.R, k.x, k.w, k.B, k.C, k.T, k.K);
    printf("dense grad B=%d C=%d T=%d K=%d\n", k.B, k.C, k.T, k.K);
    fd_result res;
    res = fd_check("dinp", k.x, nx, dx, dense_objective, &k, no, 0, 1e-2f, 1e-3, 1e-3);
    fd_assert(&res, nx, 1e-3);
    res = fd_check("dw", k.w, nw, dw, dense_objective, &k, no, 0, 1e-2f, 1e-3, 1e-3);
    fd_assert(&res, nw, 1e-3);
    res = fd_check("db", k.b, k.K, db, dense_objective, &k, no, 0, 1e-2f, 1e-3, 1e-3);
    fd_assert(&res, k.K, 1e-3);
    free(k.x), free(k.w), free(k.b), free(k.R), free(k.out), free(dx), free(dw), free(db);
}
END_TEST

START_TEST(test_dense_forward_naive)
{
    const int B = 2, C = 6, T = 5, K = 3;
    float x[2 * 6 * 5], w[3 * 6], b[3], out[2 * 5 * 3];
    rng r;
    rng_seed(&r, 900);
    testutil_fill_normal(&r, x, B * C * T, 0.0f, 1.0f);
    testutil_fill_normal(&r, w, K * C, 0.0f, 1.0f);
    testutil_fill_normal(&r, b, K, 0.0f, 1.0f);
    cpu_dense_forward(out, x, w, b, B, C, T, K);
    double worst = 0;
    for (int bi = 0; bi < B; bi++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++) {
                double s = b[k];
                for (int c = 0; c < C; c++)
                    s += (double)w[k * C + c] * x[(bi * C + c) * T + t];
                worst = fmax(worst, fabs(out[(bi * T + t) * K + k] - s));
            }
    printf("dense forward naive: worst diff %.3e\n", worst);
    fflush(stdout);
    ck_assert_double_le(worst, 1e-5);
}
END_TEST

/* ---- add ---------------------------------------------------------------- */

START_TEST(test_add)
{
    const long ns[] = {1, 37, 100003}; // odd tails, and one above the parallel threshold
    for (int i = 0; i < 3; i++) {
        const long n = ns[i];
        float *a = testutil_falloc(n), *b = testutil_falloc(n), *y = testutil_falloc(n), *a2 = testutil_falloc(n);
        rng r;
        rng_seed(&r, 1000 + (uint64_t)i);
        testutil_fill_normal(&r, a, n, 0.0f, 1.0f);
        testutil_fill_normal(&r, b, n, 0.0f, 1.0f);
        cpu_add(y, a, b, n);
        memcpy(a2, a, (size_t)n * sizeof *a2);
        cpu_add(a2, a2, b, n); // in place, as the residual add is used
        for (long j = 0; j < n; j++) {
            ck_assert_float_eq(y[j], a[j] + b[j]);
            ck_assert_float_eq(a2[j], y[j]);
        }
        free(a), free(b), free(y), free(a2);
    }
    printf("add: exact\n");
    fflush(stdout);
}
END_TEST

/* ---- channels-last kernels (core/nn/cpu/layers_nwc.c) ----------------------
 * Each against its reference on the same data transposed: (B, C, L) ->
 * (B, L, C) in, and the nwc result transposed back before comparing. */

static void to_nwc(float *dst, const float *src, int B, int C, int L)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int l = 0; l < L; l++)
                dst[((long)b * L + l) * C + c] = src[((long)b * C + c) * L + l];
}

static void from_nwc(float *dst, const float *src, int B, int C, int L)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int l = 0; l < L; l++)
                dst[((long)b * C + c) * L + l] = src[((long)b * L + l) * C + c];
}

/* (B, C, L) floats: a fresh buffer with src transposed to (B, L, C). */
static float *nwc_copy(const float *src, int B, int C, int L)
{
    float *d = testutil_falloc((long)B * C * L);
    to_nwc(d, src, B, C, L);
    return d;
}

START_TEST(test_bnrelu_nwc_vs_ref)
{
    // Forward (training, with dropout, and eval) and backward. The sums run
    // in another order and partly in float (chunks of 256 rows): close, not
    // equal; the dropout mask is the same draw, so a dropped element is 0 in
    // both. Shapes: channels below, at and above one 16-wide block, tails,
    // the network's longest rows (several chunks), one element.
    static const struct { int B, C, L; float p; } cases[] = {
        {2, 3, 17, 0.0f}, {4, 40, 64, 0.2f}, {3, 32, 8960, 0.2f}, {2, 256, 35, 0.0f},
        {1, 4, 1, 0.0f},  {8, 16, 4481, 0.5f},
    };
    const int saved_threads = omp_get_max_threads();
    long bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int B = cases[i].B, C = cases[i].C, L = cases[i].L;
        const long n = (long)B * C * L;
        bn_fix k;
        bn_fix_init(&k, B, C, L, cases[i].p, 77 + i, 700 + i);
        float *rm0 = testutil_falloc(C), *rv0 = testutil_falloc(C);
        memcpy(rm0, k.rm, (size_t)C * sizeof(float));
        memcpy(rv0, k.rv, (size_t)C * sizeof(float));
        bn_objective(&k, k.out); // reference forward: out, mean, rstd, rm, rv updated
        cpu_bnrelu_backward(k.dx, k.dgamma, k.dbeta, k.R, k.out, k.x, k.mean, k.rstd, k.gamma,
                            k.beta, B, C, L, k.p);
        double *ws = malloc(nwc_bn_scratch(B, C, L) * sizeof(double));
        ck_assert_ptr_nonnull(ws);
        float *xt = nwc_copy(k.x, B, C, L), *Rt = nwc_copy(k.R, B, C, L);
        float *outt = testutil_falloc(n), *out = testutil_falloc(n), *dxt = testutil_falloc(n);
        float *dx = testutil_falloc(n), *mean = testutil_falloc(C), *rstd = testutil_falloc(C);
        float *dg = testutil_falloc(C), *db = testutil_falloc(C);
        memset(outt, 0xff, (size_t)n * sizeof(float)); // poison: every output assigned
        memset(dxt, 0xff, (size_t)n * sizeof(float));
        nwc_bnrelu_forward(outt, mean, rstd, xt, k.gamma, k.beta, rm0, rv0, B, C, L, k.momentum,
                           k.eps, 1, k.p, k.seed, ws);
        from_nwc(out, outt, B, C, L);
        printf("bnrelu nwc vs ref B%d C%d L%d p%.1f\n", B, C, L, (double)k.p);
        bad += check_close("out", out, k.out, n, 1e-5 * testutil_rms(k.out, (size_t)n), 1e-4);
        bad += check_close("mean", mean, k.mean, C, 1e-5, 1e-5);
        bad += check_close("rstd", rstd, k.rstd, C, 0.0, 1e-5);
        bad += check_close("rmean", rm0, k.rm, C, 1e-6, 1e-5);
        bad += check_close("rvar", rv0, k.rv, C, 1e-6, 1e-5);
        long dropped_ref = 0, dropped = 0;
        for (long j = 0; j < n; j++)
            dropped_ref += k.out[j] == 0.0f, dropped += out[j] == 0.0f;
        ck_assert_msg(labs(dropped - dropped_ref) <= n / 1000 + 1,
                      "zeros (ReLU + dropout): %ld nwc, %ld reference", dropped, dropped_ref);
        // backward from the reference's forward results, so both see one mask
        float *outr = nwc_copy(k.out, B, C, L);
        nwc_bnrelu_backward(dxt, dg, db, Rt, outr, xt, k.mean, k.rstd, k.gamma, B, C, L, k.p, ws);
        from_nwc(dx, dxt, B, C, L);
        bad += check_close("dx", dx, k.dx, n, 1e-5 * testutil_rms(k.dx, (size_t)n), 1e-4);
        bad += check_close("dgamma", dg, k.dgamma, C, 1e-5 * testutil_rms(k.dgamma, (size_t)C), 1e-4);
        bad += check_close("dbeta", db, k.dbeta, C, 1e-5 * testutil_rms(k.dbeta, (size_t)C), 1e-4);
        // eval mode: the running statistics, no dropout
        cpu_bnrelu_forward(k.out, NULL, NULL, k.x, k.gamma, k.beta, k.rm, k.rv, B, C, L,
                           k.momentum, k.eps, 0, k.p, k.seed);
        nwc_bnrelu_forward(outt, NULL, NULL, xt, k.gamma, k.beta, k.rm, k.rv, B, C, L,
                           k.momentum, k.eps, 0, k.p, k.seed, ws);
        from_nwc(out, outt, B, C, L);
        bad += check_close("eval", out, k.out, n, 1e-6 * testutil_rms(k.out, (size_t)n), 1e-5);
        // the results do not depend on the thread count
        float *dx3 = testutil_falloc(n), *dg3 = testutil_falloc(C), *db3 = testutil_falloc(C);
        omp_set_num_threads(3);
        nwc_bnrelu_backward(dx3, dg3, db3, Rt, outr, xt, k.mean, k.rstd, k.gamma, B, C, L, k.p, ws);
        omp_set_num_threads(saved_threads);
        ck_assert_mem_eq(dxt, dx3, (size_t)n * sizeof(float));
        ck_assert_mem_eq(dg, dg3, (size_t)C * sizeof(float));
        ck_assert_mem_eq(db, db3, (size_t)C * sizeof(float));
        free(dx3), free(dg3), free(db3), free(outr);
        free(xt), free(Rt), free(outt), free(out), free(dxt), free(dx), free(mean), free(rstd);
        free(dg), free(db), free(rm0), free(rv0), free(ws);
        bn_fix_free(&k);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_shortcut_nwc_vs_ref)
{
    // max-pool and zero channels: the same values moved, so exactly equal;
    // ties (a constant run) go to the first maximum in both
    static const struct { int B, Cin, Cout, L, pool; } cases[] = {
        {2, 3, 5, 17, 2}, {2, 32, 32, 64, 1}, {3, 16, 32, 70, 2}, {2, 5, 5, 9, 3}, {1, 40, 80, 8, 2},
    };
    rng r;
    rng_seed(&r, 91);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int B = cases[i].B, Cin = cases[i].Cin, Cout = cases[i].Cout, L = cases[i].L;
        const int pool = cases[i].pool, Lo = L / pool;
        const long nin = (long)B * Cin * L, nout = (long)B * Cout * Lo;
        float *x = testutil_falloc(nin), *g = testutil_falloc(nout), *dx0 = testutil_falloc(nin);
        testutil_fill_normal(&r, x, nin, 0.0f, 1.0f);
        for (long j = 0; j < nin; j += 7)
            x[j] = x[j + 1 < nin ? j + 1 : j]; // ties
        testutil_fill_normal(&r, g, nout, 0.0f, 1.0f);
        testutil_fill_normal(&r, dx0, nin, 0.0f, 1.0f); // backward accumulates
        float *out = testutil_falloc(nout), *dx = testutil_falloc(nin);
        memcpy(dx, dx0, (size_t)nin * sizeof(float));
        cpu_shortcut_forward(out, x, B, Cin, Cout, L, pool);
        cpu_shortcut_backward(dx, g, x, B, Cin, Cout, L, pool);
        float *xt = nwc_copy(x, B, Cin, L), *gt = nwc_copy(g, B, Cout, Lo);
        float *dxt = nwc_copy(dx0, B, Cin, L), *outt = testutil_falloc(nout);
        float *back = testutil_falloc(nout > nin ? nout : nin);
        memset(outt, 0xff, (size_t)nout * sizeof(float));
        nwc_shortcut_forward(outt, xt, B, Cin, Cout, L, pool);
        from_nwc(back, outt, B, Cout, Lo);
        ck_assert_mem_eq(back, out, (size_t)nout * sizeof(float));
        nwc_shortcut_backward(dxt, gt, xt, B, Cin, Cout, L, pool);
        from_nwc(back, dxt, B, Cin, L);
        ck_assert_mem_eq(back, dx, (size_t)nin * sizeof(float));
        printf("shortcut nwc B%d %d->%d L%d pool %d: equal to the reference\n", B, Cin, Cout, L,
               pool);
        free(x), free(g), free(dx0), free(out), free(dx), free(xt), free(gt), free(dxt);
        free(outt), free(back);
    }
}
END_TEST

START_TEST(test_dense_nwc_vs_ref)
{
    // the same double sums in the same order: equal to the reference in
    // fp32, and in bf16 mode equal to the reference on rounded operands
    static const struct { int B, C, T, K; } cases[] = {{2, 5, 7, 4}, {3, 256, 35, 4}, {1, 3, 1, 2}};
    rng r;
    rng_seed(&r, 92);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int B = cases[i].B, C = cases[i].C, T = cases[i].T, K = cases[i].K;
        const long nx = (long)B * C * T, ny = (long)B * T * K;
        float *x = testutil_falloc(nx), *w = testutil_falloc((long)K * C), *b = testutil_falloc(K);
        float *g = testutil_falloc(ny);
        testutil_fill_normal(&r, x, nx, 0.0f, 1.0f);
        testutil_fill_normal(&r, w, (long)K * C, 0.0f, 0.3f);
        testutil_fill_normal(&r, b, K, 0.0f, 0.3f);
        testutil_fill_normal(&r, g, ny, 0.0f, 1.0f);
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            // the reference's operands: rounded in bf16 mode
            float *xr = testutil_falloc(nx), *wr = testutil_falloc((long)K * C);
            float *gr = testutil_falloc(ny);
            for (long j = 0; j < nx; j++)
                xr[j] = bf16 ? bf16_round(x[j]) : x[j];
            for (long j = 0; j < (long)K * C; j++)
                wr[j] = bf16 ? bf16_round(w[j]) : w[j];
            for (long j = 0; j < ny; j++)
                gr[j] = bf16 ? bf16_round(g[j]) : g[j];
            float *out = testutil_falloc(ny), *dx = testutil_falloc(nx);
            float *dw = testutil_falloc((long)K * C), *db = testutil_falloc(K);
            cpu_dense_forward(out, xr, wr, b, B, C, T, K);
            cpu_dense_backward(dx, dw, db, gr, xr, wr, B, C, T, K);
            float *xt = nwc_copy(x, B, C, T), *outt = testutil_falloc(ny);
            float *dxt = testutil_falloc(nx), *back = testutil_falloc(nx);
            float *dw2 = testutil_falloc((long)K * C), *db2 = testutil_falloc(K);
            nwc_dense_forward(outt, xt, w, b, B, C, T, K, bf16);
            ck_assert_mem_eq(outt, out, (size_t)ny * sizeof(float)); // (B, T, K) in both
            nwc_dense_backward(dxt, dw2, db2, g, xt, w, B, C, T, K, bf16);
            from_nwc(back, dxt, B, C, T);
            ck_assert_mem_eq(back, dx, (size_t)nx * sizeof(float));
            ck_assert_mem_eq(dw2, dw, (size_t)K * C * sizeof(float));
            ck_assert_mem_eq(db2, db, (size_t)K * sizeof(float));
            printf("dense nwc B%d C%d T%d K%d %s: equal to the reference\n", B, C, T, K,
                   bf16 ? "bf16" : "fp32");
            free(xr), free(wr), free(gr), free(out), free(dx), free(dw), free(db), free(xt);
            free(outt), free(dxt), free(back), free(dw2), free(db2);
        }
        free(x), free(w), free(b), free(g);
    }
}
END_TEST

/* ---- the two compiled copies (core/nn/cpu/isa.h) ---- */

extern __typeof__(cpu_bnrelu_forward) cpu_bnrelu_forward_v3, cpu_bnrelu_forward_v4;
extern __typeof__(cpu_bnrelu_backward) cpu_bnrelu_backward_v3, cpu_bnrelu_backward_v4;
extern __typeof__(fast_bnrelu_backward) fast_bnrelu_backward_v3, fast_bnrelu_backward_v4;
extern __typeof__(nwc_bnrelu_forward) nwc_bnrelu_forward_v3, nwc_bnrelu_forward_v4;
extern __typeof__(nwc_bnrelu_backward) nwc_bnrelu_backward_v3, nwc_bnrelu_backward_v4;
extern __typeof__(cpu_dense_forward) cpu_dense_forward_v3, cpu_dense_forward_v4;
extern __typeof__(cpu_dense_backward) cpu_dense_backward_v3, cpu_dense_backward_v4;

/* Worst |a - b| / rms(b) over n, printed by the shared checker (against
 * the 1e-5 that test_isa_copies_agree asserts); the copies must agree to
 * float rounding of a differently ordered sum. */
static double copies_diff(const char *what, const float *a, const float *b, long n)
{
    char label[96];
    snprintf(label, sizeof label, "%s v3 vs v4", what);
    check_result r = check_elementwise(label, a, b, (size_t)n, 1e-5 * testutil_rms(b, (size_t)n),
                                       0.0);
    return r.worst_abs / (r.rms_ref + 1e-30);
}

START_TEST(test_isa_copies_agree)
{
    // The x86-64-v3 and x86-64-v4 copies of the vectorised kernels on the
    // same inputs (a 2-block shape with dropout): the ifunc picks one per
    // CPU, so a user's numbers must not depend on which beyond rounding.
    if (cpu_kernels_isa() != 4) {
        printf("isa copies: SKIPPED, not on this CPU (no AVX-512: only the v3 copy runs)\n");
        return;
    }
    enum { B = 3, C = 32, L = 1000, K = 4 };
    const long n = (long)B * C * L;
    rng r;
    rng_seed(&r, 99);
    float *x = testutil_falloc(n), *dy = testutil_falloc(n), *g = testutil_falloc(C),
          *be = testutil_falloc(C);
    fill_uniform(x, n, &r, -2, 2);
    fill_uniform(dy, n, &r, -1, 1);
    fill_uniform(g, C, &r, 0.5f, 1.5f);
    fill_uniform(be, C, &r, -0.2f, 0.2f);
    double worst = 0;
    for (int nwc = 0; nwc < 2; nwc++) {
        float *out[2], *mean[2], *rstd[2], *rm[2], *rv[2], *dx[2], *dg[2], *db[2];
        for (int v = 0; v < 2; v++) {
            out[v] = testutil_falloc(n), dx[v] = testutil_falloc(n);
            mean[v] = testutil_falloc(C), rstd[v] = testutil_falloc(C);
            rm[v] = testutil_falloc(C), rv[v] = testutil_falloc(C);
            dg[v] = testutil_falloc(C), db[v] = testutil_falloc(C);
            for (int c = 0; c < C; c++)
                rm[v][c] = 0, rv[v][c] = 1;
        }
        if (nwc) {
            double *ws = malloc(nwc_bn_scratch(B, C, L) * sizeof *ws);
            nwc_bnrelu_forward_v3(out[0], mean[0], rstd[0], x, g, be, rm[0], rv[0], B, C, L, 0.99f,
                                  1e-3f, 1, 0.2f, 7, ws);
            nwc_bnrelu_forward_v4(out[1], mean[1], rstd[1], x, g, be, rm[1], rv[1], B, C, L, 0.99f,
                                  1e-3f, 1, 0.2f, 7, ws);
            nwc_bnrelu_backward_v3(dx[0], dg[0], db[0], dy, out[1], x, mean[1], rstd[1], g, B, C, L,
                                   0.2f, ws);
            nwc_bnrelu_backward_v4(dx[1], dg[1], db[1], dy, out[1], x, mean[1], rstd[1], g, B, C, L,
                                   0.2f, ws);
            free(ws);
        } else {
            cpu_bnrelu_forward_v3(out[0], mean[0], rstd[0], x, g, be, rm[0], rv[0], B, C, L, 0.99f,
                                  1e-3f, 1, 0.2f, 7);
            cpu_bnrelu_forward_v4(out[1], mean[1], rstd[1], x, g, be, rm[1], rv[1], B, C, L, 0.99f,
                                  1e-3f, 1, 0.2f, 7);
            fast_bnrelu_backward_v3(dx[0], dg[0], db[0], dy, out[1], x, mean[1], rstd[1], g, B, C,
                                    L, 0.2f);
            fast_bnrelu_backward_v4(dx[1], dg[1], db[1], dy, out[1], x, mean[1], rstd[1], g, B, C,
                                    L, 0.2f);
        }
        const char *lay = nwc ? "nwc" : "ncw";
        char what[64];
        snprintf(what, sizeof what, "%s bnrelu forward", lay);
        worst = fmax(worst, copies_diff(what, out[0], out[1], n));
        snprintf(what, sizeof what, "%s bnrelu running var", lay);
        worst = fmax(worst, copies_diff(what, rv[0], rv[1], C));
        snprintf(what, sizeof what, "%s bnrelu dinp", lay);
        worst = fmax(worst, copies_diff(what, dx[0], dx[1], n));
        snprintf(what, sizeof what, "%s bnrelu dgamma", lay);
        worst = fmax(worst, copies_diff(what, dg[0], dg[1], C));
        for (int v = 0; v < 2; v++)
            free(out[v]), free(dx[v]), free(mean[v]), free(rstd[v]), free(rm[v]), free(rv[v]),
                free(dg[v]), free(db[v]);
    }
    // the reference backward (double sums) and the dense layer
    {
        float *m = testutil_falloc(C), *rs = testutil_falloc(C), *rm = testutil_falloc(C),
              *rv = testutil_falloc(C), *o = testutil_falloc(n);
        cpu_bnrelu_forward_v4(o, m, rs, x, g, be, rm, rv, B, C, L, 0.99f, 1e-3f, 1, 0.0f, 0);
        float *dx[2] = {testutil_falloc(n), testutil_falloc(n)};
        float *dg[2] = {testutil_falloc(C), testutil_falloc(C)}, *db[2] = {testutil_falloc(C), testutil_falloc(C)};
        cpu_bnrelu_backward_v3(dx[0], dg[0], db[0], dy, o, x, m, rs, g, be, B, C, L, 0.0f);
        cpu_bnrelu_backward_v4(dx[1], dg[1], db[1], dy, o, x, m, rs, g, be, B, C, L, 0.0f);
        worst = fmax(worst, copies_diff("reference bnrelu dinp", dx[0], dx[1], n));
        float *w = testutil_falloc(K * C), *bias = testutil_falloc(K);
        fill_uniform(w, K * C, &r, -0.3f, 0.3f);
        fill_uniform(bias, K, &r, -0.1f, 0.1f);
        float *y[2] = {testutil_falloc((long)B * L * K), testutil_falloc((long)B * L * K)};
        cpu_dense_forward_v3(y[0], x, w, bias, B, C, L, K);
        cpu_dense_forward_v4(y[1], x, w, bias, B, C, L, K);
        worst = fmax(worst, copies_diff("dense forward", y[0], y[1], (long)B * L * K));
        float *dw[2] = {testutil_falloc(K * C), testutil_falloc(K * C)};
        float *dbk[2] = {testutil_falloc(K), testutil_falloc(K)};
        cpu_dense_backward_v3(dx[0], dw[0], dbk[0], y[1], x, w, B, C, L, K);
        cpu_dense_backward_v4(dx[1], dw[1], dbk[1], y[1], x, w, B, C, L, K);
        worst = fmax(worst, copies_diff("dense dweight", dw[0], dw[1], K * C));
        free(m), free(rs), free(rm), free(rv), free(o), free(w), free(bias);
        for (int v = 0; v < 2; v++)
            free(dx[v]), free(dg[v]), free(db[v]), free(y[v]), free(dw[v]), free(dbk[v]);
    }
    printf("isa copies: worst difference %.2e of rms (limit 1e-5)\n", worst);
    ck_assert(worst <= 1e-5);
    free(x), free(dy), free(g), free(be);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *bn = tcase_create("bnrelu");
    tcase_set_timeout(bn, 60);
    tcase_add_loop_test(bn, test_bnrelu_grad, 0, N_BN_CASES);
    tcase_add_loop_test(bn, test_bnrelu_grad_dropout, 0, N_BN_CASES);
    tcase_add_test(bn, test_bnrelu_forward_naive);
    tcase_add_test(bn, test_bnrelu_hand);
    tcase_add_test(bn, test_bnrelu_eval);
    tcase_add_test(bn, test_bnrelu_dropout_rate);
    tcase_add_test(bn, test_bnrelu_threads);
    tcase_add_test(bn, test_bnrelu_fast_vs_ref);
    suite_add_tcase(s, bn);

    TCase *sc = tcase_create("shortcut");
    tcase_add_loop_test(sc, test_shortcut_grad, 0, N_SC_CASES);
    tcase_add_test(sc, test_shortcut_forward_naive);
    suite_add_tcase(s, sc);

    TCase *dn = tcase_create("dense_add");
    tcase_add_loop_test(dn, test_dense_grad, 0, N_DENSE_CASES);
    tcase_add_test(dn, test_dense_forward_naive);
    tcase_add_test(dn, test_add);
    suite_add_tcase(s, dn);

    TCase *nw = tcase_create("nwc");
    tcase_set_timeout(nw, 120);
    tcase_add_test(nw, test_bnrelu_nwc_vs_ref);
    tcase_add_test(nw, test_shortcut_nwc_vs_ref);
    tcase_add_test(nw, test_dense_nwc_vs_ref);
    suite_add_tcase(s, nw);

    TCase *isa = tcase_create("isa");
    tcase_add_test(isa, test_isa_copies_agree);
    suite_add_tcase(s, isa);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

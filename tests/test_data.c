/* Checks for core/data/data.c and core/data/synth.c: the synthetic generator is
 * deterministic, sized and balanced as promised, its R peaks are the real ones
 * and its classes are separable by simple independent features; splits are
 * stratified and seeded; statistics and padded batches match hand-computed
 * values. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "nn/rng.h"
#include "base/util.h"

#define FS 300
#define MAXB 128

static synth_params test_params(int n, uint64_t seed, float noise)
{
    synth_params p = {.n = n, .min_len = 1280, .max_len = 2560, .fs = FS, .noise = noise, .seed = seed};
    return p;
}

static void test_generate(dataset *ds, const synth_params *p)
{
    rerr e = {{0}};
    dataset_init(ds, 4);
    int rc = synth_generate(ds, p, &e);
    ck_assert_msg(rc == 0, "synth_generate: %s", e.msg);
    ck_assert_int_eq(ds->n, p->n);
}

/* Index of the first sample where two records differ, -1 if identical. */
static int first_diff(const float *a, const float *b, int n)
{
    for (int j = 0; j < n; j++)
        if (a[j] != b[j])
            return j;
    return -1;
}

/* ---- the generator ---- */

START_TEST(test_synth_deterministic)
{
    synth_params p = test_params(60, 777, 1.0f);
    dataset a, b, c;
    test_generate(&a, &p);
    test_generate(&b, &p);
    p.seed = 778;
    test_generate(&c, &p);
    int differ = 0;
    for (int i = 0; i < a.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "S%05d", i + 1);
        ck_assert_str_eq(a.recs[i].name, want);
        ck_assert_str_eq(a.recs[i].name, b.recs[i].name);
        ck_assert_int_eq(a.recs[i].label, b.recs[i].label);
        ck_assert_int_eq(a.recs[i].len, b.recs[i].len);
        int d = first_diff(a.recs[i].x, b.recs[i].x, a.recs[i].len);
        ck_assert_msg(d < 0, "record %d differs at sample %d: %g vs %g", i, d, (double)a.recs[i].x[d],
                      (double)b.recs[i].x[d]);
        if (a.recs[i].len != c.recs[i].len || a.recs[i].label != c.recs[i].label ||
            first_diff(a.recs[i].x, c.recs[i].x, a.recs[i].len) >= 0)
            differ++;
    }
    ck_assert_msg(differ == a.n, "only %d of %d records change with the seed", differ, a.n);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
}
END_TEST

/* Record i's length and waveform depend on (seed, i) and its class, not on n. */
START_TEST(test_synth_independent_of_n)
{
    synth_params p = test_params(50, 4242, 1.0f);
    dataset a, b;
    test_generate(&a, &p);
    p.n = 130;
    test_generate(&b, &p);
    int same_class = 0;
    for (int i = 0; i < a.n; i++) {
        ck_assert_int_eq(a.recs[i].len, b.recs[i].len);
        if (a.recs[i].label != b.recs[i].label)
            continue;
        same_class++;
        int d = first_diff(a.recs[i].x, b.recs[i].x, a.recs[i].len);
        ck_assert_msg(d < 0, "record %d (class %d) differs between n=50 and n=130 at sample %d", i, a.recs[i].label,
                      d);
    }
    printf("independent of n: %d of %d records share their class and are identical\n", same_class, a.n);
    ck_assert_int_ge(same_class, a.n / 4);
    dataset_free(&a);
    dataset_free(&b);
}
END_TEST

START_TEST(test_synth_proportions)
{
    static const double share[4] = {0.59, 0.09, 0.28, 0.04};
    static const int sizes[] = {800, 1000, 37, 10, 3, 1, 0};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int n = sizes[s];
        synth_params p = test_params(n, 9 + s, 1.0f);
        p.min_len = 300;
        p.max_len = 900;
        dataset ds;
        test_generate(&ds, &p);
        long counts[4];
        dataset_class_counts(&ds, NULL, 0, counts);
        ck_assert_int_eq(counts[0] + counts[1] + counts[2] + counts[3], n);
        for (int k = 0; k < 4; k++) {
            ck_assert_msg(counts[k] >= n / 10, "n=%d: class %d has %ld < n/10 records", n, k, counts[k]);
            /* Each class is its CinC share, raised to n/10, N taking the rest. */
            long want = lround(share[k] * n) > n / 10 ? lround(share[k] * n) : n / 10;
            if (k > 0)
                ck_assert_msg(counts[k] == want, "n=%d class %d: %ld records, want %ld", n, k, counts[k], want);
        }
        if (n >= 100)
            ck_assert_msg(counts[0] > counts[2] && counts[2] > counts[1] && counts[0] >= n / 2,
                          "n=%d: counts %ld %ld %ld %ld", n, counts[0], counts[1], counts[2], counts[3]);
        int lo = p.max_len, hi = p.min_len;
        for (int i = 0; i < ds.n; i++) {
            ck_assert_int_ge(ds.recs[i].len, p.min_len);
            ck_assert_int_le(ds.recs[i].len, p.max_len);
            lo = ds.recs[i].len < lo ? ds.recs[i].len : lo;
            hi = ds.recs[i].len > hi ? ds.recs[i].len : hi;
        }
        if (n >= 800) /* lengths really spread over the range */
            ck_assert_msg(lo < p.min_len + 30 && hi > p.max_len - 30, "lengths only span %d..%d", lo, hi);
        /* Classes are interleaved, not in blocks. */
        if (n >= 800) {
            long first_half[4] = {0};
            for (int i = 0; i < n / 2; i++)
                first_half[ds.recs[i].label]++;
            for (int k = 0; k < 4; k++)
                ck_assert_msg(labs(2 * first_half[k] - counts[k]) < counts[k] / 3 + 10,
                              "class %d: %ld of %ld in the first half", k, first_half[k], counts[k]);
        }
        dataset_free(&ds);
    }
    /* Bad parameters are reported, not crashed on. */
    dataset ds;
    dataset_init(&ds, 4);
    rerr e = {{0}};
    synth_params p = test_params(5, 1, 1.0f);
    p.max_len = p.min_len - 1;
    ck_assert_int_eq(synth_generate(&ds, &p, &e), -1);
    ck_assert(strlen(e.msg) > 0);
    dataset_init(&ds, 3);
    p = test_params(5, 1, 1.0f);
    ck_assert_int_eq(synth_generate(&ds, &p, &e), -1);
    ck_assert_int_eq(ds.n, 0);
    dataset_free(&ds);
}
END_TEST

/* At noise 0 the returned R peaks must be where the clean signal peaks. For
 * sinus beats (N, bradycardia) |x| is exactly a strict maximum within 40 ms;
 * for AF (f-waves add a slope) and PVCs (wide, near the previous T) the
 * maximum may sit a sample or two away. A simple detector (local maxima of |x|
 * above half the record's largest) must find no peak that is not returned. */
START_TEST(test_synth_rpeaks_clean)
{
    synth_params p = test_params(0, 0, 0.0f);
    float *x = malloc(sizeof *x * 2560);
    int beats[MAXB];
    int w = (int)(0.04 * FS), sep = (int)(0.25 * FS);
    int worst_off[4] = {0};
    for (int cls = 0; cls < 3; cls++) {
        for (int r = 0; r < 60; r++) {
            int len = 1280 + 21 * r;
            int nb = synth_record(x, len, cls, &p, rng_hash3(31337, (uint64_t)cls, (uint64_t)r), beats, MAXB);
            ck_assert_int_gt(nb, 1);
            ck_assert_int_lt(nb, MAXB);
            for (int i = 0; i < nb; i++) {
                ck_assert_msg(beats[i] >= 0 && beats[i] < len, "beat %d at %d outside [0,%d)", i, beats[i], len);
                if (i > 0)
                    ck_assert_msg(beats[i] > beats[i - 1] + (int)(0.3 * FS), "beats %d, %d too close", beats[i - 1],
                                  beats[i]);
                int b = beats[i], am = b;
                int lo = b - w < 0 ? 0 : b - w, hi = b + w >= len ? len - 1 : b + w;
                for (int j = lo; j <= hi; j++)
                    if (fabsf(x[j]) > fabsf(x[am]))
                        am = j;
                int off = abs(am - b);
                if (off > worst_off[cls])
                    worst_off[cls] = off;
                if (cls == 0) {
                    ck_assert_msg(am == b, "class %d record %d: R at %d but |x| peaks at %d", cls, r, b, am);
                    if (b > 0 && b < len - 1)
                        ck_assert(fabsf(x[b]) > fabsf(x[b - 1]) && fabsf(x[b]) > fabsf(x[b + 1]));
                } else {
                    ck_assert_msg(off <= 2, "class %d record %d: R at %d but |x| peaks at %d", cls, r, b, am);
                }
                ck_assert_msg(fabsf(x[b]) > 0.3f, "class %d record %d: weak R (%g mV)", cls, r, (double)x[b]);
            }
            /* Completeness: every big local maximum is a returned beat. */
            float big = 0.0f;
            for (int j = 0; j < len; j++)
                big = fabsf(x[j]) > big ? fabsf(x[j]) : big;
            for (int j = sep; j < len - sep; j++) {
                float a = fabsf(x[j]);
                if (a < 0.5f * big)
                    continue;
                int is_max = 1;
                for (int k = j - sep; k <= j + sep && is_max; k++)
                    if (fabsf(x[k]) > a)
                        is_max = 0;
                if (!is_max)
                    continue;
                int near = 0;
                for (int i = 0; i < nb; i++)
                    near |= abs(beats[i] - j) <= 2;
                ck_assert_msg(near, "class %d record %d: peak at %d (%g mV) is not a returned beat", cls, r, j,
                              (double)x[j]);
            }
        }
    }
    printf("R peaks at noise 0: worst |argmax|x| - R| within 40 ms: N %d, A %d, O %d samples\n", worst_off[0],
           worst_off[1], worst_off[2]);
    /* max_beats caps what is written and returned. */
    int nb = synth_record(x, 2560, 0, &p, 5, beats, 3);
    ck_assert_int_eq(nb, 3);
    ck_assert_int_eq(synth_record(x, 2560, 0, &p, 5, NULL, 0), 0);
    free(x);
}
END_TEST

/* RR statistics of one record from its beats. */
typedef struct rr_feat {
    int n;           /* intervals */
    double mean, cv; /* of all intervals (s) */
    double alt;      /* |log(mean of even intervals / mean of odd ones)| */
    double cv_par;   /* larger CV within the even and within the odd intervals */
} rr_feat;

static void mean_cv(const double *v, int n, int step, double *mean, double *cv)
{
    double s = 0.0, ss = 0.0;
    int c = 0;
    for (int i = 0; i < n; i += step, c++)
        s += v[i];
    double m = s / c;
    for (int i = 0; i < n; i += step)
        ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *cv = c > 1 ? sqrt(ss / (c - 1)) / m : 0.0;
}

static rr_feat rr_features(const int *beats, int nb)
{
    rr_feat f = {0};
    double rr[MAXB];
    f.n = nb - 1;
    for (int i = 1; i < nb; i++)
        rr[i - 1] = (double)(beats[i] - beats[i - 1]) / FS;
    if (f.n < 1)
        return f;
    mean_cv(rr, f.n, 1, &f.mean, &f.cv);
    if (f.n >= 2) {
        double me, mo, ce, co;
        mean_cv(rr, f.n, 2, &me, &ce);
        mean_cv(rr + 1, f.n - 1, 2, &mo, &co);
        f.alt = fabs(log(me / mo));
        f.cv_par = ce > co ? ce : co;
    }
    return f;
}

/* Mean squared second difference: energy above ~40 Hz, where EMG lives and
 * the ECG (QRS up to ~30 Hz) has little. */
static double hf_energy(const float *x, int len)
{
    double s = 0.0;
    for (int j = 1; j < len - 1; j++) {
        double d = (double)x[j + 1] - 2.0 * x[j] + x[j - 1];
        s += d * d;
    }
    return s / (len - 2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The classes differ in ways a rhythm classifier can see, judged by features
 * computed here from the beats and the signal at the normal noise level. */
START_TEST(test_synth_separable)
{
    enum { R = 120, LEN = 2560 };
    synth_params p = test_params(0, 0, 1.0f);
    float *x = malloc(sizeof *x * LEN);
    int beats[MAXB];
    static double cv[4][R], hf[4][R];
    int o_brady = 0, o_bigem = 0, o_neither = 0, n_looks_o = 0, a_looks_bigem = 0;
    int noise_no_ecg = 0, inverted = 0, upright = 0;
    for (int cls = 0; cls < 4; cls++)
        for (int r = 0; r < R; r++) {
            int nb = synth_record(x, LEN, cls, &p, rng_hash3(2718, (uint64_t)cls, (uint64_t)r), beats, MAXB);
            ck_assert_int_lt(nb, MAXB);
            rr_feat f = rr_features(beats, nb);
            cv[cls][r] = f.cv;
            hf[cls][r] = hf_energy(x, LEN);
            int brady = f.n >= 1 && f.mean > 1.15;
            int bigem = f.n >= 3 && f.alt > 0.3 && f.cv_par < 0.1;
            if (cls == 0) {
                ck_assert_msg(f.mean > 0.55 && f.mean < 1.15, "N record %d: mean RR %g s", r, f.mean);
                n_looks_o += brady || bigem;
            } else if (cls == 1) {
                a_looks_bigem += bigem;
            } else if (cls == 2) {
                o_brady += brady;
                o_bigem += bigem;
                o_neither += !brady && !bigem;
            } else {
                noise_no_ecg += nb == 0;
            }
            /* Inversion: the sign of the clean R peaks (upright records peak up). */
            if (cls == 0) {
                double s = 0.0;
                for (int i = 0; i < nb; i++)
                    s += x[beats[i]];
                if (s < 0)
                    inverted++;
                else
                    upright++;
            }
        }
    double mcv[4], mhf[4];
    for (int k = 0; k < 4; k++) {
        double tmp[R];
        memcpy(tmp, cv[k], sizeof tmp);
        mcv[k] = median(tmp, R);
        memcpy(tmp, hf[k], sizeof tmp);
        mhf[k] = median(tmp, R);
    }
    printf("median RR CV: N %.3f A %.3f O %.3f; median HF energy (mV^2): N %.2e A %.2e O %.2e ~ %.2e\n", mcv[0],
           mcv[1], mcv[2], mhf[0], mhf[1], mhf[2], mhf[3]);
    printf("O: %d bradycardia, %d bigeminy, %d neither; N looking like O: %d; A looking bigeminal: %d; "
           "~ without ECG: %d; N inverted %d of %d\n",
           o_brady, o_bigem, o_neither, n_looks_o, a_looks_bigem, noise_no_ecg, inverted, R);

    /* AF: irregularly irregular RR, far more variable than sinus rhythm. */
    ck_assert_msg(mcv[0] < 0.06 && mcv[1] > 0.15 && mcv[1] > 4.0 * mcv[0], "RR CV: N %g, A %g", mcv[0], mcv[1]);
    int a_low = 0;
    for (int r = 0; r < R; r++)
        a_low += cv[1][r] < 0.08;
    ck_assert_msg(a_low <= R / 20, "%d AF records with a sinus-like RR CV", a_low);
    /* O: bradycardia or bigeminy (regular long-short alternation), both mixed in. */
    ck_assert_msg(o_neither <= R / 20, "%d O records look like neither bradycardia nor bigeminy", o_neither);
    ck_assert_msg(o_brady >= R / 4 && o_bigem >= R / 4, "O mix: %d bradycardia, %d bigeminy", o_brady, o_bigem);
    ck_assert_msg(n_looks_o <= R / 20, "%d N records look like O", n_looks_o);
    ck_assert_msg(a_looks_bigem <= R / 20, "%d A records look bigeminal", a_looks_bigem);
    /* ~: EMG makes the high-frequency energy an order of magnitude higher. */
    double thr = 0.01;
    int noise_low = 0, clean_high = 0;
    for (int r = 0; r < R; r++) {
        noise_low += hf[3][r] < thr;
        clean_high += (hf[0][r] >= thr) + (hf[1][r] >= thr) + (hf[2][r] >= thr);
    }
    ck_assert_msg(mhf[3] > 10.0 * mhf[0] && mhf[3] > 10.0 * mhf[1] && mhf[3] > 10.0 * mhf[2], "HF energy medians");
    ck_assert_msg(noise_low <= R / 20 && clean_high <= 3 * R / 20, "%d ~ records below %g, %d others above",
                  noise_low, thr, clean_high);
    ck_assert_msg(noise_no_ecg > R / 4 && noise_no_ecg < 3 * R / 4, "%d of %d ~ records without ECG", noise_no_ecg, R);
    /* About one in six records is inverted. */
    ck_assert_msg(inverted >= R / 12 && inverted <= R / 4, "%d of %d inverted", inverted, R);
    free(x);
}
END_TEST

/* 800 records of up to 2560 samples, the default configuration. */
START_TEST(test_synth_speed)
{
    synth_params p = {.n = 800, .min_len = 2560, .max_len = 2560, .fs = FS, .noise = 1.0f, .seed = 2018};
    dataset ds;
    double t0 = util_now();
    test_generate(&ds, &p);
    double dt = util_now() - t0;
    printf("synth_generate: 800 x 2560 samples in %.3f s\n", dt);
    /* Generous bound: sanitizer builds run several times slower than Release. */
    ck_assert_msg(dt < 3.0, "generation took %g s", dt);
    long bad = 0;
    for (int i = 0; i < ds.n; i++)
        for (int j = 0; j < ds.recs[i].len; j++)
            bad += !(isfinite(ds.recs[i].x[j]) && fabsf(ds.recs[i].x[j]) < 20.0f);
    ck_assert_msg(bad == 0, "%ld samples not finite or beyond 20 mV", bad);
    dataset_free(&ds);
}
END_TEST

/* ---- datasets ---- */

/* n records of random lengths in [lo, hi] and labels drawn with the given
 * (unnormalised) class weights; samples ~ N(mu, sigma). */
static void random_dataset(dataset *ds, int n, int K, const double *w, int lo, int hi, double mu, double sigma,
                           uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    dataset_init(ds, K);
    double wsum = 0.0;
    for (int k = 0; k < K; k++)
        wsum += w[k];
    float *x = malloc(sizeof *x * (size_t)hi);
    for (int i = 0; i < n; i++) {
        int len = lo + (int)rng_below(&r, (uint32_t)(hi - lo + 1));
        double u = rng_uniform(&r) * wsum;
        int k = 0;
        while (k < K - 1 && u >= w[k])
            u -= w[k++];
        for (int j = 0; j < len; j++)
            x[j] = (float)(mu + sigma * rng_normal(&r));
        char name[32];
        snprintf(name, sizeof name, "R%d", i);
        rerr e;
        ck_assert_msg(dataset_add(ds, name, x, len, k, &e) == 0, "%s", e.msg);
    }
    free(x);
}

START_TEST(test_dataset_basics)
{
    dataset ds;
    dataset_init(&ds, 3);
    rerr e = {{0}};
    float x[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(dataset_add(&ds, "a", x, 5, 2, &e), 0);
    x[0] = 99; /* the dataset holds a copy */
    ck_assert(ds.recs[0].x[0] == 1.0f);
    ck_assert_int_eq(dataset_add(&ds, "bad", x, 5, 3, &e), -1);
    ck_assert_msg(strstr(e.msg, "bad") != NULL, "message: %s", e.msg);
    ck_assert_int_eq(dataset_add(&ds, "neg", x, 5, -1, &e), -1);
    ck_assert_int_eq(dataset_add(&ds, "empty", x, 0, 0, &e), -1);
    char longname[80];
    memset(longname, 'z', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(dataset_add(&ds, longname, x, 3, 0, &e), 0);
    ck_assert_int_eq((int)strlen(ds.recs[1].name), 31);
    for (int i = 0; i < 200; i++) /* grows past the first capacity */
        ck_assert_int_eq(dataset_add(&ds, "g", x, 1 + i % 5, i % 3, &e), 0);
    ck_assert_int_eq(ds.n, 202);
    long c[3];
    dataset_class_counts(&ds, NULL, 0, c);
    ck_assert_int_eq(c[0] + c[1] + c[2], 202);
    ck_assert_int_eq(c[2], 1 + 66);
    int idx[3] = {0, 0, 1};
    dataset_class_counts(&ds, idx, 3, c);
    ck_assert(c[0] == 1 && c[1] == 0 && c[2] == 2);
    dataset_free(&ds);
    ck_assert(ds.n == 0 && ds.recs == NULL && ds.num_classes == 3);
}
END_TEST

static void check_split(const dataset *ds, double frac, const int *tr, int nt, const int *dv, int nd)
{
    ck_assert_int_eq(nt + nd, ds->n);
    char *seen = calloc((size_t)ds->n + 1, 1);
    for (int i = 0; i < nt; i++) {
        ck_assert(tr[i] >= 0 && tr[i] < ds->n);
        ck_assert_msg(i == 0 || tr[i] > tr[i - 1], "train not sorted at %d", i);
        seen[tr[i]]++;
    }
    for (int i = 0; i < nd; i++) {
        ck_assert(dv[i] >= 0 && dv[i] < ds->n);
        ck_assert_msg(i == 0 || dv[i] > dv[i - 1], "dev not sorted at %d", i);
        ck_assert_msg(!seen[dv[i]], "record %d in both train and dev", dv[i]);
        seen[dv[i]]++;
    }
    for (int i = 0; i < ds->n; i++)
        ck_assert_msg(seen[i] == 1, "record %d is in neither side", i);
    free(seen);
    long all[8], dev[8];
    dataset_class_counts(ds, NULL, 0, all);
    dataset_class_counts(ds, dv, nd, dev);
    for (int k = 0; k < ds->num_classes; k++)
        ck_assert_msg(dev[k] == lround(frac * all[k]), "class %d: %ld of %ld in dev at fraction %g", k, dev[k], all[k],
                      frac);
}

START_TEST(test_split)
{
    static const double w[4] = {0.59, 0.09, 0.28, 0.04};
    dataset ds;
    random_dataset(&ds, 537, 4, w, 5, 20, 0.0, 1.0, 0xC0FFEE);
    rerr e = {{0}};
    int *tr, *dv, nt, nd, *tr2, *dv2, nt2, nd2, *tr3, *dv3, nt3, nd3;
    ck_assert_int_eq(dataset_split(&ds, 0.2, 11, &tr, &nt, &dv, &nd, &e), 0);
    check_split(&ds, 0.2, tr, nt, dv, nd);
    ck_assert_int_eq(dataset_split(&ds, 0.2, 11, &tr2, &nt2, &dv2, &nd2, &e), 0);
    ck_assert(nd == nd2 && memcmp(dv, dv2, sizeof *dv * (size_t)nd) == 0);
    ck_assert_int_eq(dataset_split(&ds, 0.2, 12, &tr3, &nt3, &dv3, &nd3, &e), 0);
    check_split(&ds, 0.2, tr3, nt3, dv3, nd3);
    ck_assert_int_eq(nd3, nd);
    int common = 0;
    for (int i = 0, j = 0; i < nd && j < nd3;) /* both sorted */
        if (dv[i] == dv3[j])
            common++, i++, j++;
        else if (dv[i] < dv3[j])
            i++;
        else
            j++;
    printf("split: dev %d of %d; another seed shares %d dev records\n", nd, ds.n, common);
    ck_assert_msg(common < nd / 2, "another seed shares %d of %d dev records", common, nd);
    free(tr), free(dv), free(tr2), free(dv2), free(tr3), free(dv3);

    /* Other fractions, exact per-class rounding. */
    static const double fr[] = {0.0, 0.1, 0.5, 0.77, 1.0};
    for (size_t f = 0; f < sizeof fr / sizeof *fr; f++) {
        ck_assert_int_eq(dataset_split(&ds, fr[f], 5, &tr, &nt, &dv, &nd, &e), 0);
        check_split(&ds, fr[f], tr, nt, dv, nd);
        free(tr), free(dv);
    }
    ck_assert_int_eq(dataset_split(&ds, 1.5, 5, &tr, &nt, &dv, &nd, &e), -1);
    ck_assert_int_eq(dataset_split(&ds, NAN, 5, &tr, &nt, &dv, &nd, &e), -1);
    dataset_free(&ds);

    /* Tiny datasets: rounding would leave a side empty; both stay non-empty. */
    random_dataset(&ds, 3, 4, w, 5, 6, 0.0, 1.0, 3);
    ck_assert_int_eq(dataset_split(&ds, 0.1, 5, &tr, &nt, &dv, &nd, &e), 0);
    ck_assert(nt == 2 && nd == 1);
    free(tr), free(dv);
    ck_assert_int_eq(dataset_split(&ds, 0.9, 5, &tr, &nt, &dv, &nd, &e), 0);
    ck_assert(nt >= 1 && nd >= 1 && nt + nd == 3);
    free(tr), free(dv);
    dataset_free(&ds);
    dataset_init(&ds, 4);
    ck_assert_int_eq(dataset_split(&ds, 0.1, 5, &tr, &nt, &dv, &nd, &e), 0);
    ck_assert(nt == 0 && nd == 0 && tr && dv);
    free(tr), free(dv);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_stats)
{
    dataset ds;
    dataset_init(&ds, 2);
    rerr e;
    float a[4] = {1, 2, 3, 4}, b[5] = {5, 6, 7, 8, 9};
    ck_assert_int_eq(dataset_add(&ds, "a", a, 4, 0, &e), 0);
    ck_assert_int_eq(dataset_add(&ds, "b", b, 5, 1, &e), 0);
    double m, s;
    dataset_stats(&ds, NULL, 0, &m, &s);
    ck_assert_double_eq_tol(m, 5.0, 1e-12);
    ck_assert_double_eq_tol(s, sqrt(60.0 / 9.0), 1e-12); /* population std */
    int one = 1;
    dataset_stats(&ds, &one, 1, &m, &s);
    ck_assert_double_eq_tol(m, 7.0, 1e-12);
    ck_assert_double_eq_tol(s, sqrt(2.0), 1e-12);
    dataset_stats(&ds, &one, 0, &m, &s);
    ck_assert(m == 0.0 && s == 1.0);
    dataset_free(&ds);

    /* A large offset against a small spread (float accumulation fails here). */
    static const double w[2] = {1, 1};
    random_dataset(&ds, 40, 2, w, 20000, 30000, 1000.0, 0.5, 99);
    int idx[20];
    for (int i = 0; i < 20; i++)
        idx[i] = 2 * i + 1;
    long double sum = 0, cnt = 0, ss = 0;
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < ds.recs[idx[i]].len; j++)
            sum += ds.recs[idx[i]].x[j], cnt += 1;
    long double mu = sum / cnt;
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < ds.recs[idx[i]].len; j++)
            ss += (ds.recs[idx[i]].x[j] - mu) * (ds.recs[idx[i]].x[j] - mu);
    double ref_s = (double)sqrtl(ss / cnt);
    dataset_stats(&ds, idx, 20, &m, &s);
    printf("stats: mean %.12f (ref %.12f), std %.12f (ref %.12f)\n", m, (double)mu, s, ref_s);
    ck_assert_double_eq_tol(m, (double)mu, 1e-9);
    ck_assert_double_eq_tol(s, ref_s, 1e-9);
    ck_assert(fabs(s - 0.5) < 0.01);
    dataset_free(&ds);
}
END_TEST

/* ---- batches ---- */

static void check_row(const batch *bt, const dataset *ds, int b, int want_frames, int want_used, float mean, float std)
{
    const record *rc = &ds->recs[bt->rec[b]];
    ck_assert_int_eq(bt->frames[b], want_frames);
    const float *row = bt->x + (size_t)b * bt->L;
    for (int j = 0; j < bt->L; j++) {
        float want = j < want_used ? (rc->x[j] - mean) / std : 0.0f;
        ck_assert_msg(fabsf(row[j] - want) <= 1e-6f * (1.0f + fabsf(want)), "row %d sample %d: %g, want %g", b, j,
                      (double)row[j], (double)want);
    }
    for (int t = 0; t < bt->T; t++)
        ck_assert_int_eq(bt->labels[(size_t)b * bt->T + t], t < want_frames ? rc->label : -1);
}

START_TEST(test_bucket_frames)
{
    /* Against a plain search of the ladder: the smallest m 2^e >= T with
     * n <= m < 2n, capped at cap when cap >= T; T itself for n 0 or T <= 2n.
     * So the padding added is < 1/n of T, and over T in [1, 4096] with n 8
     * there are at most 8 lengths per octave. */
    for (int n = 0; n <= 16; n += (n < 2 ? 1 : 6)) {
        int distinct = 0, prev = -1;
        for (int T = 1; T <= 4096; T++) {
            int want = T;
            if (n > 0 && T > 2 * n) {
                want = -1;
                for (int e = 0; want < 0; e++)
                    for (int m = n; m < 2 * n; m++)
                        if ((m << e) >= T) {
                            want = m << e;
                            break;
                        }
            }
            int got = data_bucket_frames(T, n, 1 << 20);
            ck_assert_msg(got == want, "T %d n %d: %d, expected %d", T, n, got, want);
            ck_assert(got >= T);
            if (n > 0)
                ck_assert_msg((double)(got - T) < (double)T / n, "T %d n %d: %d", T, n, got);
            distinct += got != prev;
            prev = got;
        }
        if (n == 8) {
            printf("bucket_frames n 8: %d distinct lengths for T in [1, 4096]\n", distinct);
            ck_assert_int_le(distinct, 16 + 8 * 8); // up to 2n exact, then 8 an octave
        }
    }
    /* the cap: a data set of one length keeps it (35 frames: pytorch-ref) */
    ck_assert_int_eq(data_bucket_frames(35, 8, 35), 35);
    ck_assert_int_eq(data_bucket_frames(35, 8, 1000), 36);
    ck_assert_int_eq(data_bucket_frames(71, 8, 71), 71);
    ck_assert_int_eq(data_bucket_frames(70, 8, 71), 71);
    ck_assert_int_eq(data_bucket_frames(65, 8, 1000), 72);
}
END_TEST

START_TEST(test_batch_fill_buckets)
{
    /* With buckets the batch is padded beyond its longest record, the extra
     * frames labelled -1 and zero; the cap (cap_L) is never passed. */
    static const int lens[2] = {35 * 4, 20 * 4};
    dataset ds;
    dataset_init(&ds, 2);
    rerr e;
    for (int i = 0; i < 2; i++) {
        float x[35 * 4];
        for (int j = 0; j < lens[i]; j++)
            x[j] = 1.0f;
        ck_assert_int_eq(dataset_add(&ds, "r", x, lens[i], i, &e), 0);
    }
    batch bt;
    ck_assert_int_eq(batch_init(&bt, 2, 40 * 4, &e), 0);
    bt.buckets = 8;
    int idx[2] = {1, 1};
    batch_fill(&bt, &ds, idx, 2, 4, 0.0f, 1.0f);
    ck_assert_int_eq(bt.T, 20); // <= 2n: exact
    bt.buckets = 4;
    batch_fill(&bt, &ds, idx, 2, 4, 0.0f, 1.0f);
    ck_assert_int_eq(bt.T, 20); // 20 = 5 * 4 is on the n 4 ladder
    int idx2[2] = {0, 1};
    batch_fill(&bt, &ds, idx2, 2, 4, 0.0f, 1.0f);
    ck_assert_int_eq(bt.T, 40); // 35 -> 40 (5 * 8) = the cap
    for (int t = 0; t < bt.T; t++) {
        ck_assert_int_eq(bt.labels[t], t < 35 ? 0 : -1);
        ck_assert_int_eq(bt.labels[bt.T + t], t < 20 ? 1 : -1);
    }
    for (int j = 35 * 4; j < bt.L; j++)
        ck_assert(bt.x[j] == 0.0f);
    batch_free(&bt);
    ck_assert_int_eq(batch_init(&bt, 2, 36 * 4, &e), 0);
    bt.buckets = 4;
    batch_fill(&bt, &ds, idx2, 2, 4, 0.0f, 1.0f);
    ck_assert_int_eq(bt.T, 36); // 40 would pass the cap: the cap
    batch_free(&bt);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_batch_fill)
{
    /* Lengths 10, 7, 3, 16 with frame 4: 2 frames (8 samples), 1 frame (4),
     * 1 frame (3 samples + 1 zero: shorter than a frame), 4 frames. */
    static const int lens[4] = {10, 7, 3, 16}, labels[4] = {2, 0, 3, 1};
    dataset ds;
    dataset_init(&ds, 4);
    rng r;
    rng_seed(&r, 0xBA7C4);
    rerr e;
    for (int i = 0; i < 4; i++) {
        float x[16];
        for (int j = 0; j < lens[i]; j++)
            x[j] = 0.5f + 2.0f * rng_normal(&r);
        ck_assert_int_eq(dataset_add(&ds, "r", x, lens[i], labels[i], &e), 0);
    }
    batch bt;
    ck_assert_int_eq(batch_init(&bt, 4, 16, &e), 0);
    ck_assert(bt.cap_B == 4 && bt.cap_L == 16);
    const float mean = 0.3f, std = 2.0f;

    int idx1[4] = {3, 0, 1, 2};
    batch_fill(&bt, &ds, idx1, 4, 4, mean, std);
    ck_assert(bt.B == 4 && bt.L == 16 && bt.T == 4);
    for (int b = 0; b < 4; b++)
        ck_assert_int_eq(bt.rec[b], idx1[b]);
    check_row(&bt, &ds, 0, 4, 16, mean, std);
    check_row(&bt, &ds, 1, 2, 8, mean, std);
    check_row(&bt, &ds, 2, 1, 4, mean, std);
    check_row(&bt, &ds, 3, 1, 3, mean, std);

    /* A shorter, smaller batch in the same buffers: stride L = 8, no stale data. */
    int idx2[3] = {0, 1, 2};
    batch_fill(&bt, &ds, idx2, 3, 4, mean, std);
    ck_assert(bt.B == 3 && bt.L == 8 && bt.T == 2);
    check_row(&bt, &ds, 0, 2, 8, mean, std);
    check_row(&bt, &ds, 1, 1, 4, mean, std);
    check_row(&bt, &ds, 2, 1, 3, mean, std);

    /* frame 5: 10 -> 2 frames, 16 -> 3 frames (15 samples). */
    int idx3[2] = {3, 0};
    batch_fill(&bt, &ds, idx3, 2, 5, mean, std);
    ck_assert(bt.B == 2 && bt.L == 15 && bt.T == 3);
    check_row(&bt, &ds, 0, 3, 15, mean, std);
    check_row(&bt, &ds, 1, 2, 10, mean, std);

    batch_fill(&bt, &ds, idx3, 0, 4, mean, std);
    ck_assert(bt.B == 0 && bt.L == 0 && bt.T == 0);
    batch_free(&bt);
    ck_assert(bt.x == NULL && bt.cap_B == 0);
    ck_assert_int_eq(batch_init(&bt, 0, 16, &e), -1);
    dataset_free(&ds);
}
END_TEST

/* With the dataset's own statistics, the valid samples of a batch holding every
 * record have mean 0 and std 1 (record lengths are multiples of the frame so
 * nothing is trimmed). */
START_TEST(test_batch_normalised)
{
    enum { N = 24, FRAME = 32 };
    dataset ds;
    dataset_init(&ds, 4);
    rng r;
    rng_seed(&r, 0x5EED);
    float x[20 * FRAME];
    rerr e;
    int maxlen = 0;
    for (int i = 0; i < N; i++) {
        int len = FRAME * (1 + (int)rng_below(&r, 20));
        maxlen = len > maxlen ? len : maxlen;
        double mu = 3.7 + 0.2 * rng_normal(&r);
        for (int j = 0; j < len; j++)
            x[j] = (float)(mu + 0.4 * rng_normal(&r));
        ck_assert_int_eq(dataset_add(&ds, "n", x, len, i % 4, &e), 0);
    }
    double m, s;
    dataset_stats(&ds, NULL, 0, &m, &s);
    batch bt;
    ck_assert_int_eq(batch_init(&bt, N, 20 * FRAME, &e), 0);
    int idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = N - 1 - i;
    batch_fill(&bt, &ds, idx, N, FRAME, (float)m, (float)s);
    ck_assert_int_eq(bt.L, maxlen);
    double sum = 0, ss = 0, cnt = 0;
    for (int b = 0; b < N; b++) {
        ck_assert_int_eq(bt.frames[b] * FRAME, ds.recs[idx[b]].len);
        for (int j = 0; j < bt.frames[b] * FRAME; j++) {
            double v = bt.x[(size_t)b * bt.L + j];
            sum += v, ss += v * v, cnt += 1;
        }
        for (int j = bt.frames[b] * FRAME; j < bt.L; j++)
            ck_assert(bt.x[(size_t)b * bt.L + j] == 0.0f);
    }
    double bm = sum / cnt, bs = sqrt(ss / cnt - bm * bm);
    printf("normalised batch: mean %.2e, std %.6f\n", bm, bs);
    ck_assert(fabs(bm) < 1e-4 && fabs(bs - 1.0) < 1e-4);
    batch_free(&bt);
    dataset_free(&ds);
}
END_TEST

/* A batch longer than cap_L is a programming error: RESECG_ASSERT aborts. */
START_TEST(test_batch_overflow_aborts)
{
    dataset ds;
    dataset_init(&ds, 4);
    float x[40] = {0};
    rerr e;
    ck_assert_int_eq(dataset_add(&ds, "long", x, 40, 0, &e), 0);
    batch bt;
    ck_assert_int_eq(batch_init(&bt, 1, 32, &e), 0);
    int idx = 0;
    batch_fill(&bt, &ds, &idx, 1, 8, 0.0f, 1.0f);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_synth_deterministic);
    tcase_add_test(tc, test_synth_independent_of_n);
    tcase_add_test(tc, test_synth_proportions);
    tcase_add_test(tc, test_synth_rpeaks_clean);
    tcase_add_test(tc, test_synth_separable);
    tcase_add_test(tc, test_synth_speed);
    suite_add_tcase(s, tc);
    tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dataset_basics);
    tcase_add_test(tc, test_split);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_batch_fill);
    tcase_add_test(tc, test_bucket_frames);
    tcase_add_test(tc, test_batch_fill_buckets);
    tcase_add_test(tc, test_batch_normalised);
    /* Needs a forked test process to survive the abort. */
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0)
        tcase_add_test_raise_signal(tc, test_batch_overflow_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

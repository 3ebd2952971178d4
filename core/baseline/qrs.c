/* The QRS detector (see qrs.h): Pan & Tompkins' signal chain and decision
 * rules on a whole record, with zero-phase Butterworth filters designed at
 * run time for any sampling rate (the 1985 integer filters assume 200 Hz). */
#include "baseline/qrs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QRS_PI 3.14159265358979323846
#define QRS_REFRACTORY_S 0.200 /* no two QRS complexes closer than this (P&T: 200 ms) */
#define QRS_TWAVE_S 0.360      /* a peak closer than this to the last QRS may be its T wave */
#define QRS_MWI_S 0.150        /* moving-window integration width (P&T: 150 ms) */
#define QRS_SEARCHBACK 1.66    /* search back when no QRS for 1.66 x the mean RR */
/* Threshold = noise level + QRS_COEF (signal level - noise level). P&T used
 * 0.25; Hamilton & Tompkins (IEEE TBME 33(12), 1986) found 0.133-0.189 best
 * on MIT-BIH. 0.15 also keeps wide ventricular beats, whose 5-15 Hz energy is
 * a fifth of a sinus beat's, above it (0.25 misses 1.7% of the synthetic
 * bigeminy beats, 0.15 0.03%). */
#define QRS_COEF 0.15
#define QRS_LOCATE_S 0.100     /* the R peak lies within this of the integral's peak */
#define QRS_REFINE_S 0.030     /* ... and within this of the band-pass maximum */

/* ---- filters ---- */

typedef struct biquad {
    double b0, b1, b2, a1, a2; /* a0 normalised to 1 */
} biquad;

/* Second-order Butterworth low- or high-pass at f0 Hz: the bilinear
 * transform with pre-warping, as the RBJ Audio EQ Cookbook writes it with
 * Q = 1/sqrt(2). */
static biquad biquad_design(double f0, double fs, int highpass)
{
    double w0 = 2.0 * QRS_PI * f0 / fs, c = cos(w0);
    double alpha = sin(w0) / (2.0 * (1.0 / sqrt(2.0)));
    double a0 = 1.0 + alpha;
    biquad q;
    if (highpass) {
        q.b0 = (1.0 + c) / 2.0;
        q.b1 = -(1.0 + c);
        q.b2 = (1.0 + c) / 2.0;
    } else {
        q.b0 = (1.0 - c) / 2.0;
        q.b1 = 1.0 - c;
        q.b2 = (1.0 - c) / 2.0;
    }
    q.b0 /= a0;
    q.b1 /= a0;
    q.b2 /= a0;
    q.a1 = -2.0 * c / a0;
    q.a2 = (1.0 - alpha) / a0;
    return q;
}

/* Transposed direct form II state of one biquad. */
typedef struct bq_state {
    double z1, z2;
} bq_state;

/* Puts s in the steady state of a constant input x0, as scipy's lfilter_zi
 * times x0: for constant input c the output is y = H(1) c, z1 = y - b0 c,
 * z2 = b2 c - a2 y. Returns that output (the next stage's constant input). */
static double bq_init(const biquad *q, bq_state *s, double x0)
{
    double y0 = (q->b0 + q->b1 + q->b2) / (1.0 + q->a1 + q->a2) * x0;
    s->z1 = y0 - q->b0 * x0;
    s->z2 = q->b2 * x0 - q->a2 * y0;
    return y0;
}

static inline double bq_step(const biquad *q, bq_state *s, double in)
{
    double y = q->b0 * in + s->z1;
    s->z1 = q->b1 * in - q->a1 * y + s->z2;
    s->z2 = q->b2 * in - q->a2 * y;
    return y;
}

/* The stages of the band-pass lo..hi: a high-pass unless lo <= 0, a
 * low-pass unless hi is near Nyquist. Returns the number of stages. */
static int band_design(biquad *st, double lo, double hi, int fs)
{
    int ns = 0;
    if (lo > 0.0)
        st[ns++] = biquad_design(lo, fs, 1);
    if (hi < 0.49 * fs)
        st[ns++] = biquad_design(hi, fs, 0);
    return ns;
}

/* The value at x's first (last, when at_end) sample of the least-squares
 * line through its first (last) m samples. */
static double end_level(const float *x, int len, int m, int at_end)
{
    m = m < 1 ? 1 : m > len ? len : m;
    if (m < 3)
        return at_end ? x[len - 1] : x[0];
    /* t = 0 .. m-1 counted from the end sample inwards */
    double st = 0.0, sv = 0.0, stt = 0.0, stv = 0.0;
    for (int t = 0; t < m; t++) {
        double v = at_end ? x[len - 1 - t] : x[t];
        st += t;
        sv += v;
        stt += (double)t * t;
        stv += t * v;
    }
    double slope = (m * stv - st * sv) / (m * stt - st * st);
    return (sv - slope * st) / m;
}

/* filtfilt of x (len) through two cascades at once: qa (na stages) into ya
 * and, when nb > 0, qb into yb. Each cascade is a serial dependency chain
 * (a recursive filter waits for its last output), so running two, and both
 * stages of each, in one loop lets the CPU overlap them. The input is padded
 * by odd reflection (scipy's padtype='odd', about the ends' local mean). */
static void filtfilt2(qrs_work *w, const float *x, int len, const biquad *qa, int na, float *ya,
                      const biquad *qb, int nb, float *yb)
{
    RESECG_ASSERT(len <= w->cap && na >= 0 && na <= 2 && nb >= 0 && nb <= 2);
    if (len <= 0)
        return;
    int pad = w->pad < len - 1 ? w->pad : len - 1;
    int n = len + 2 * pad;
    double *ea = w->ext, *eb = w->ext + (w->cap + 2 * w->pad + 1);
    for (int i = 0; i < len; i++)
        ea[pad + i] = x[i];
    /* odd reflection about the level of a least-squares line through the
     * first (last) 0.5 s, at the end sample, rather than about the end
     * sample itself: one noisy end sample would shift the whole extension
     * by twice its noise, a step the 0.5 Hz high-pass turns into a
     * second-long transient; the line keeps a baseline's slope and averages
     * out noise and the faster waves */
    double x0 = end_level(x, len, (int)lround(0.5 * w->fs), 0);
    double x1 = end_level(x, len, (int)lround(0.5 * w->fs), 1);
    for (int k = 1; k <= pad; k++) {
        ea[pad - k] = 2.0 * x0 - x[k];
        ea[pad + len - 1 + k] = 2.0 * x1 - x[len - 1 - k];
    }
    /* identity stages make every cascade two long */
    static const biquad ident = {1.0, 0.0, 0.0, 0.0, 0.0};
    biquad a[2] = {na > 0 ? qa[0] : ident, na > 1 ? qa[1] : ident};
    biquad b[2] = {nb > 0 ? qb[0] : ident, nb > 1 ? qb[1] : ident};
    bq_state sa[2], sb[2];
    bq_init(&a[1], &sa[1], bq_init(&a[0], &sa[0], ea[0]));
    bq_init(&b[1], &sb[1], bq_init(&b[0], &sb[0], ea[0]));
    for (int i = 0; i < n; i++) {
        double v = ea[i];
        ea[i] = bq_step(&a[1], &sa[1], bq_step(&a[0], &sa[0], v));
        eb[i] = bq_step(&b[1], &sb[1], bq_step(&b[0], &sb[0], v));
    }
    /* backwards over the forward output, from its own end state */
    bq_init(&a[1], &sa[1], bq_init(&a[0], &sa[0], ea[n - 1]));
    bq_init(&b[1], &sb[1], bq_init(&b[0], &sb[0], eb[n - 1]));
    for (int i = n - 1; i >= 0; i--) {
        ea[i] = bq_step(&a[1], &sa[1], bq_step(&a[0], &sa[0], ea[i]));
        eb[i] = bq_step(&b[1], &sb[1], bq_step(&b[0], &sb[0], eb[i]));
    }
    for (int i = 0; i < len; i++)
        ya[i] = (float)ea[pad + i];
    if (nb > 0)
        for (int i = 0; i < len; i++)
            yb[i] = (float)eb[pad + i];
}

void qrs_bandpass(qrs_work *w, const float *x, int len, double lo, double hi, float *y)
{
    biquad st[2];
    int ns = band_design(st, lo, hi, w->fs);
    filtfilt2(w, x, len, st, ns, y, NULL, 0, NULL);
}

/* ---- small statistics ---- */

double qrs_select(double *a, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

double qrs_median(double *a, int n)
{
    RESECG_ASSERT(n >= 1);
    double hi = qrs_select(a, n, n / 2);
    if (n % 2)
        return hi;
    /* the lower middle is the largest of the lower half */
    double lo = a[0];
    for (int i = 1; i < n / 2; i++)
        if (a[i] > lo)
            lo = a[i];
    return 0.5 * (lo + hi);
}

/* ---- detection ---- */

int qrs_max_beats(int len, int fs)
{
    int refr = (int)lround(QRS_REFRACTORY_S * fs);
    if (refr < 1)
        refr = 1;
    return (len > 0 ? len : 0) / refr + 2;
}

int qrs_work_init(qrs_work *w, int cap, int fs, rerr *e)
{
    memset(w, 0, sizeof *w);
    if (cap < 1 || fs < 1)
        return rerr_set(e, "qrs: bad record length %d or sampling rate %d", cap, fs);
    w->cap = cap;
    w->fs = fs;
    w->pad = fs; /* one second: the 0.5 Hz high-pass settles within it */
    int nb = qrs_max_beats(cap, fs);
    size_t n = (size_t)cap;
    w->ext = malloc(sizeof *w->ext * 2 * (n + 2 * (size_t)w->pad + 1));
    w->xc = malloc(sizeof *w->xc * n);
    w->bp = malloc(sizeof *w->bp * n);
    w->der = malloc(sizeof *w->der * n);
    w->mwi = malloc(sizeof *w->mwi * n);
    w->cand = malloc(sizeof *w->cand * (size_t)nb);
    w->is_qrs = malloc((size_t)nb);
    w->amp = malloc(sizeof *w->amp * (size_t)nb);
    w->win = malloc(sizeof *w->win * (2 * (size_t)lround(QRS_LOCATE_S * fs) + 1));
    if (!w->ext || !w->xc || !w->bp || !w->der || !w->mwi || !w->cand || !w->is_qrs || !w->amp ||
        !w->win) {
        qrs_work_free(w);
        return rerr_set(e, "qrs: out of memory for %d samples", cap);
    }
    return 0;
}

void qrs_work_free(qrs_work *w)
{
    free(w->ext);
    free(w->xc);
    free(w->bp);
    free(w->der);
    free(w->mwi);
    free(w->cand);
    free(w->is_qrs);
    free(w->amp);
    free(w->win);
    memset(w, 0, sizeof *w);
}

/* Largest |der| within the integration window centred on t: the QRS slope
 * P&T compare to tell a T wave from a QRS complex. */
static double max_slope(const qrs_work *w, int len, int t, int half)
{
    double m = 0.0;
    int a = t - half < 0 ? 0 : t - half, b = t + half >= len ? len - 1 : t + half;
    for (int i = a; i <= b; i++)
        if (fabs(w->der[i]) > m)
            m = fabs(w->der[i]);
    return m;
}

/* Mean of the last (up to 8) RR intervals, P&T's RR AVERAGE1. */
typedef struct rr_hist {
    int v[8], n, pos;
} rr_hist;

static void rr_push(rr_hist *h, int rr)
{
    h->v[h->pos] = rr;
    h->pos = (h->pos + 1) % 8;
    if (h->n < 8)
        h->n++;
}

static double rr_mean(const rr_hist *h)
{
    double s = 0.0;
    for (int i = 0; i < h->n; i++)
        s += h->v[i];
    return h->n ? s / h->n : 0.0;
}

/* Candidate peaks of the integral: local maxima, of any two closer than the
 * refractory period the higher. Consecutive kept peaks are at least refr
 * apart (a replaced peak only moves later), so there are at most
 * qrs_max_beats of them. */
static int find_candidates(qrs_work *w, int len, int refr)
{
    const float *m = w->mwi;
    int nc = 0;
    for (int i = 1; i + 1 < len; i++) {
        if (!(m[i] > m[i - 1] && m[i] >= m[i + 1]))
            continue;
        if (nc > 0 && i - w->cand[nc - 1] < refr) {
            if (m[i] > m[w->cand[nc - 1]])
                w->cand[nc - 1] = i;
        } else {
            w->cand[nc++] = i;
        }
    }
    return nc;
}

/* P&T's decision rules over the candidates (see qrs.h for the offline
 * initialisation); marks w->is_qrs. */
static void classify(qrs_work *w, int len, int nc, double spki, double npki)
{
    int fs = w->fs;
    int refr = (int)lround(QRS_REFRACTORY_S * fs), twave = (int)lround(QRS_TWAVE_S * fs);
    int half = (int)lround(QRS_MWI_S * fs) / 2;
    const float *m = w->mwi;
    double thr1 = npki + QRS_COEF * (spki - npki), thr2 = 0.5 * thr1;
    int last = -1;
    rr_hist rr = {{0}, 0, 0};
    memset(w->is_qrs, 0, (size_t)nc);
    for (int c = 0; c <= nc; c++) {
        int t = c < nc ? w->cand[c] : len; /* len: the search-back after the last beat */
        /* search-back: the highest noise peak above thr2 since the last QRS */
        while (last >= 0 && rr.n > 0 && t - w->cand[last] > QRS_SEARCHBACK * rr_mean(&rr)) {
            int best = -1;
            for (int j = last + 1; j < c; j++)
                if (w->cand[j] - w->cand[last] >= refr && m[w->cand[j]] > thr2 &&
                    (best < 0 || m[w->cand[j]] > m[w->cand[best]]))
                    best = j;
            if (best < 0)
                break;
            w->is_qrs[best] = 1;
            spki = 0.25 * m[w->cand[best]] + 0.75 * spki;
            rr_push(&rr, w->cand[best] - w->cand[last]);
            last = best;
            thr1 = npki + QRS_COEF * (spki - npki);
            thr2 = 0.5 * thr1;
        }
        if (c == nc)
            break;
        double h = m[t];
        int qrs = h > thr1;
        if (qrs && last >= 0 && t - w->cand[last] < twave &&
            max_slope(w, len, t, half) < 0.5 * max_slope(w, len, w->cand[last], half))
            qrs = 0; /* a T wave: half the slope of the QRS before it */
        if (qrs) {
            w->is_qrs[c] = 1;
            if (last >= 0)
                rr_push(&rr, t - w->cand[last]);
            last = c;
            spki = 0.125 * h + 0.875 * spki;
        } else {
            npki = 0.125 * h + 0.875 * npki;
        }
        thr1 = npki + QRS_COEF * (spki - npki);
        thr2 = 0.5 * thr1;
    }
}

int qrs_detect(qrs_work *w, const float *x, int len, int *beats, qrs_info *info)
{
    qrs_info local;
    if (!info)
        info = &local;
    info->polarity = 1;
    info->mwi_peak = info->mwi_level = 0.0;
    RESECG_ASSERT(len <= w->cap);
    w->ncand = 0;
    if (len < 5)
        return 0;
    int fs = w->fs;
    biquad clean[2], det[2];
    int nclean = band_design(clean, 0.5, 40.0, fs), ndet = band_design(det, 5.0, 15.0, fs);
    filtfilt2(w, x, len, clean, nclean, w->xc, det, ndet, w->bp);

    /* P&T's five-point derivative, centred: (2x[n+2] + x[n+1] - x[n-1] - 2x[n-2]) fs / 8 */
    const float *bp = w->bp;
    for (int i = 0; i < len; i++) {
        int a2 = i - 2 < 0 ? 0 : i - 2, a1 = i - 1 < 0 ? 0 : i - 1;
        int b1 = i + 1 >= len ? len - 1 : i + 1, b2 = i + 2 >= len ? len - 1 : i + 2;
        w->der[i] = (float)((2.0 * bp[b2] + bp[b1] - bp[a1] - 2.0 * bp[a2]) * fs / 8.0);
    }
    /* squared, integrated over a centred 150 ms window (prefix sums in ext) */
    int W = (int)lround(QRS_MWI_S * fs) | 1, half = W / 2;
    double *ps = w->ext;
    ps[0] = 0.0;
    for (int i = 0; i < len; i++)
        ps[i + 1] = ps[i] + (double)w->der[i] * w->der[i];
    for (int i = 0; i < len; i++) {
        int a = i - half < 0 ? 0 : i - half, b = i + half + 1 > len ? len : i + half + 1;
        w->mwi[i] = (float)((ps[b] - ps[a]) / W);
    }

    int refr = (int)lround(QRS_REFRACTORY_S * fs);
    if (refr < 1)
        refr = 1;
    int nc = find_candidates(w, len, refr);
    w->ncand = nc;
    for (int i = 0; i < len; i++)
        w->ext[i] = w->mwi[i];
    info->mwi_level = qrs_median(w->ext, len);
    if (nc == 0)
        return 0;

    /* levels from the whole record: the typical 2-s maximum is a QRS peak,
     * the typical sample is not */
    int win = 2 * fs, nw = 0;
    for (int s = 0; s < len; s += win) {
        float mx = 0.0f;
        for (int i = s; i < len && i < s + win; i++)
            if (w->mwi[i] > mx)
                mx = w->mwi[i];
        w->ext[nw++] = mx;
    }
    double spki = qrs_median(w->ext, nw);
    classify(w, len, nc, spki, info->mwi_level);

    /* each detection's R peak: the band-pass maximum near the integral's
     * peak, then the largest deflection of the 0.5-40 Hz signal from its
     * local median near that */
    int srch = (int)lround(QRS_LOCATE_S * fs), ref = (int)lround(QRS_REFINE_S * fs);
    int nb = 0, npk = 0;
    double *amp = w->amp;
    for (int c = 0; c < nc; c++) {
        if (!w->is_qrs[c])
            continue;
        int t = w->cand[c];
        int a = t - srch < 0 ? 0 : t - srch, b = t + srch >= len ? len - 1 : t + srch;
        int r0 = a;
        for (int i = a; i <= b; i++)
            if (fabs(bp[i]) > fabs(bp[r0]))
                r0 = i;
        a = r0 - srch < 0 ? 0 : r0 - srch;
        b = r0 + srch >= len ? len - 1 : r0 + srch;
        for (int i = a; i <= b; i++)
            w->win[i - a] = w->xc[i];
        double base = qrs_median(w->win, b - a + 1);
        a = r0 - ref < 0 ? 0 : r0 - ref;
        b = r0 + ref >= len ? len - 1 : r0 + ref;
        int r = a;
        for (int i = a; i <= b; i++)
            if (fabs(w->xc[i] - base) > fabs(w->xc[r] - base))
                r = i;
        double v = w->xc[r] - base;
        /* two detections on one complex (a T wave that passed the slope
         * test, refined onto the same R): keep the larger */
        if (nb > 0 && r - beats[nb - 1] < refr) {
            if (fabs(v) > fabs(amp[nb - 1])) {
                beats[nb - 1] = r;
                amp[nb - 1] = v;
            }
            continue;
        }
        beats[nb] = r;
        amp[nb++] = v;
        w->ext[npk++] = w->mwi[t];
    }
    info->mwi_peak = npk ? qrs_median(w->ext, npk) : 0.0;
    if (nb > 0)
        info->polarity = qrs_median(amp, nb) >= 0.0 ? 1 : -1;
    return nb;
}

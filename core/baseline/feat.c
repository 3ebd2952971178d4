/* Feature extraction for the feature-based baseline (see feat.h). The
 * sources, feature by feature, are in the table below; README.md lists them
 * for users. Everything runs in double on one record at a time; records are
 * spread over OpenMP threads by feat_dataset. */
#include "baseline/feat.h"

#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define FT_PI 3.14159265358979323846

/* Averaged-beat windows relative to the R peak, s */
#define FT_PRE 0.30   /* the template starts 300 ms before R (covers the P wave) */
#define FT_POST 0.45  /* ... and ends 450 ms after it (covers the T wave) */
#define FT_P_START 0.25 /* the P window starts 250 ms before R: earlier, at 100 bpm, the */
#define FT_P_END 0.07   /* last T wave reaches in; it ends 70 ms before R, before the QRS */
#define FT_T_START 0.10
#define FT_QRS_HALF 0.10 /* the QRS window for beat correlations: R +- 100 ms */
#define FT_MIN_BEATS 3   /* complete beats needed for the morphology features */

typedef struct feature_desc {
    const char *name;
    int may_be_missing;
} feature_desc;

/* Names, and whether a feature can be undefined. Sources:
 * - RR statistics and Poincare SD1/SD2: Task Force of the ESC and NASPE,
 *   "Heart rate variability", Circulation 93 (1996); Brennan, Palaniswami &
 *   Kamen, IEEE TBME 48(11) (2001) for SD2^2 = 2 SDNN^2 - SD1^2.
 * - pNN50, RMSSD: the same Task Force report.
 * - Sample entropy: Richman & Moorman, Am J Physiol 278 (2000); COSEn (the
 *   coefficient of sample entropy, SampEn + ln(2r) - ln(mean RR) with r =
 *   30 ms, m = 1, for AF in short records): Lake & Moorman, Am J Physiol 300
 *   (2011); their adaptive growth of r is left out (NAN instead).
 * - Normalised median absolute successive difference and short-RR share: the
 *   RR irregularity measures of the CinC 2017 feature entries (e.g. Datta et
 *   al., Zabihi et al., CinC 2017).
 * - Median beat, QRS width by slope, P-wave presence, QRST cancellation and
 *   the f-wave band 4-9 Hz: Stridh & Sornmo, IEEE TBME 48(1) (2001) for
 *   average beat subtraction; the rest as in the CinC 2017 entries above.
 * - kSQI, sSQI, pSQI, basSQI: Li, Mark & Clifford, Physiol Meas 29 (2008);
 *   Clifford et al., Physiol Meas 33 (2012); Behar et al., IEEE TMI 32 (2013).
 * - Spectral entropy: Inouye et al., EEG Clin Neurophysiol 79 (1991). */
static const feature_desc table[FEAT_N] = {
    [FT_HR_MEAN] = {"hr_mean", 1},
    [FT_RR_SD] = {"rr_sd", 1},
    [FT_RR_RMSSD] = {"rr_rmssd", 1},
    [FT_RR_PNN50] = {"rr_pnn50", 1},
    [FT_RR_CV] = {"rr_cv", 1},
    [FT_RR_NMAD] = {"rr_nmad", 1},
    [FT_RR_MIN_REL] = {"rr_min_rel", 1},
    [FT_RR_MAX_REL] = {"rr_max_rel", 1},
    [FT_RR_SD1] = {"rr_sd1", 1},
    [FT_RR_SD2] = {"rr_sd2", 1},
    [FT_RR_SD1_SD2] = {"rr_sd1_sd2", 1},
    [FT_RR_SAMPEN] = {"rr_sampen", 1},
    [FT_RR_COSEN] = {"rr_cosen", 1},
    [FT_RR_ACF1] = {"rr_acf1", 1},
    [FT_RR_SHORT] = {"rr_short", 1},
    [FT_RR_BAD] = {"rr_bad", 1},
    [FT_QRS_WIDTH] = {"qrs_width", 1},
    [FT_R_AMP] = {"r_amp", 1},
    [FT_P_AMP] = {"p_amp", 1},
    [FT_P_CONSIST] = {"p_consist", 1},
    [FT_T_AMP] = {"t_amp", 1},
    [FT_BEAT_CORR] = {"beat_corr", 1},
    [FT_BEAT_OUTLIER] = {"beat_outlier", 1},
    [FT_R_AMP_CV] = {"r_amp_cv", 1},
    [FT_RESID_REL] = {"resid_rel", 1},
    [FT_RESID_AF] = {"resid_af", 1},
    [FT_DURATION] = {"duration", 0},
    [FT_QRS_SNR] = {"qrs_snr", 1},
    [FT_KURTOSIS] = {"kurtosis", 1},
    [FT_SKEWNESS] = {"skewness", 1},
    [FT_PSQI] = {"psqi", 1},
    [FT_BASSQI] = {"bassqi", 1},
    [FT_HF_POWER] = {"hf_power", 1},
    [FT_DOM_FREQ] = {"dom_freq", 1},
    [FT_SPEC_ENTROPY] = {"spec_entropy", 1},
    [FT_AMP_RANGE] = {"amp_range", 0},
    [FT_FLAT] = {"flat", 0},
};

const char *feat_name(int i)
{
    return i >= 0 && i < FEAT_N ? table[i].name : "?";
}

int feat_may_be_missing(int i)
{
    return i >= 0 && i < FEAT_N ? table[i].may_be_missing : 1;
}

/* ---- context and scratch ---- */

int feat_ctx_init(feat_ctx *c, int fs, rerr *e)
{
    memset(c, 0, sizeof *c);
    if (fs < 20 || fs > 100000)
        return rerr_set(e, "features: sampling rate %d Hz is out of range (20-100000)", fs);
    c->fs = fs;
    c->seg = 1;
    while (c->seg < 3 * fs)
        c->seg <<= 1;
    c->hann = malloc(sizeof *c->hann * (size_t)c->seg);
    if (!c->hann)
        return rerr_set(e, "features: out of memory");
    for (int k = 0; k < c->seg; k++) /* periodic Hann, as scipy.signal.welch's default */
        c->hann[k] = 0.5 - 0.5 * cos(2.0 * FT_PI * k / c->seg);
    c->in = fftw_malloc(sizeof(double) * (size_t)c->seg);
    c->out = fftw_malloc(sizeof(fftw_complex) * ((size_t)c->seg / 2 + 1));
    if (c->in && c->out)
        c->plan = fftw_plan_dft_r2c_1d(c->seg, c->in, c->out, FFTW_ESTIMATE);
    if (!c->plan) {
        feat_ctx_free(c);
        return rerr_set(e, "features: cannot plan a length-%d FFT", c->seg);
    }
    return 0;
}

void feat_ctx_free(feat_ctx *c)
{
    if (c->plan)
        fftw_destroy_plan(c->plan);
    fftw_free(c->in);
    fftw_free(c->out);
    free(c->hann);
    memset(c, 0, sizeof *c);
}

static int template_len(int fs)
{
    return (int)lround(FT_PRE * fs) + (int)lround(FT_POST * fs) + 1;
}

int feat_work_init(feat_work *w, const feat_ctx *c, int cap, rerr *e)
{
    memset(w, 0, sizeof *w);
    if (qrs_work_init(&w->q, cap, c->fs, e) != 0)
        return -1;
    w->cap = cap;
    size_t nb = (size_t)qrs_max_beats(cap, c->fs);
    w->beats = malloc(sizeof *w->beats * nb);
    w->rr = malloc(sizeof *w->rr * nb);
    w->tmp = malloc(sizeof *w->tmp * ((size_t)cap + 2 * nb + 3 * (size_t)template_len(c->fs)));
    w->sig = malloc(sizeof *w->sig * (size_t)cap);
    w->tpl = malloc(sizeof *w->tpl * (size_t)template_len(c->fs));
    w->psd = malloc(sizeof *w->psd * ((size_t)c->seg / 2 + 1));
    w->fin = fftw_malloc(sizeof(double) * (size_t)c->seg);
    w->fout = fftw_malloc(sizeof(fftw_complex) * ((size_t)c->seg / 2 + 1));
    if (!w->beats || !w->rr || !w->tmp || !w->sig || !w->tpl || !w->psd || !w->fin || !w->fout) {
        feat_work_free(w);
        return rerr_set(e, "features: out of memory for %d samples", cap);
    }
    return 0;
}

void feat_work_free(feat_work *w)
{
    qrs_work_free(&w->q);
    free(w->beats);
    free(w->rr);
    free(w->tmp);
    free(w->sig);
    free(w->tpl);
    free(w->psd);
    fftw_free(w->fin);
    fftw_free(w->fout);
    memset(w, 0, sizeof *w);
}

/* ---- rhythm ---- */

double feat_sampen(const double *x, int n, int m, double r)
{
    /* N - m templates for both lengths, so A and B count over the same set */
    long a = 0, b = 0;
    int nt = n - m;
    for (int i = 0; i < nt; i++) {
        for (int j = i + 1; j < nt; j++) {
            int k = 0;
            while (k < m && fabs(x[i + k] - x[j + k]) <= r)
                k++;
            if (k < m)
                continue;
            b++;
            if (fabs(x[i + m] - x[j + m]) <= r)
                a++;
        }
    }
    return a > 0 && b > 0 ? -log((double)a / (double)b) : NAN;
}

void feat_rr(const double *rr, int n, double *scratch, float *out)
{
    for (int i = FT_HR_MEAN; i <= FT_RR_BAD; i++)
        out[i] = NAN;
    if (n < 1)
        return;
    double sum = 0.0, mn = rr[0], mx = rr[0];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        sum += rr[i];
        mn = rr[i] < mn ? rr[i] : mn;
        mx = rr[i] > mx ? rr[i] : mx;
        bad += rr[i] < 0.25 || rr[i] > 2.0;
    }
    double mean = sum / n;
    memcpy(scratch, rr, sizeof *rr * (size_t)n);
    double med = qrs_median(scratch, n);
    int shortn = 0;
    for (int i = 0; i < n; i++)
        shortn += rr[i] < 0.85 * med;
    out[FT_HR_MEAN] = (float)(60.0 / mean);
    out[FT_RR_MIN_REL] = (float)(mn / med);
    out[FT_RR_MAX_REL] = (float)(mx / med);
    out[FT_RR_SHORT] = (float)shortn / (float)n;
    out[FT_RR_BAD] = (float)bad / (float)n;
    if (n < 2)
        return;

    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (rr[i] - mean) * (rr[i] - mean);
    double sd = sqrt(ss / (n - 1));
    out[FT_RR_SD] = (float)sd;
    out[FT_RR_CV] = (float)(sd / mean);
    /* successive differences d_i = rr[i+1] - rr[i], n - 1 of them */
    double *d = scratch;
    double sq = 0.0, dsum = 0.0;
    int nn50 = 0;
    for (int i = 0; i + 1 < n; i++) {
        d[i] = rr[i + 1] - rr[i];
        sq += d[i] * d[i];
        dsum += d[i];
        nn50 += fabs(d[i]) > 0.05;
    }
    int nd = n - 1;
    out[FT_RR_RMSSD] = (float)sqrt(sq / nd);
    out[FT_RR_PNN50] = (float)nn50 / (float)nd;
    double *ad = scratch + n;
    for (int i = 0; i < nd; i++)
        ad[i] = fabs(d[i]);
    out[FT_RR_NMAD] = (float)(qrs_median(ad, nd) / med);
    if (sd > 0.0) {
        out[FT_RR_SAMPEN] = (float)feat_sampen(rr, n, 2, 0.2 * sd);
    }
    double s1 = feat_sampen(rr, n, 1, 0.03);
    if (isfinite(s1))
        out[FT_RR_COSEN] = (float)(s1 + log(2.0 * 0.03) - log(mean));
    if (n < 3)
        return;
    double dmean = dsum / nd, dss = 0.0;
    for (int i = 0; i < nd; i++)
        dss += (d[i] - dmean) * (d[i] - dmean);
    double sd1 = sqrt(dss / (nd - 1)) / sqrt(2.0);
    double v2 = 2.0 * sd * sd - sd1 * sd1;
    double sd2 = v2 > 0.0 ? sqrt(v2) : 0.0;
    out[FT_RR_SD1] = (float)sd1;
    out[FT_RR_SD2] = (float)sd2;
    if (sd2 > 0.0)
        out[FT_RR_SD1_SD2] = (float)(sd1 / sd2);
    if (ss > 0.0) {
        double ac = 0.0;
        for (int i = 0; i + 1 < n; i++)
            ac += (rr[i] - mean) * (rr[i + 1] - mean);
        out[FT_RR_ACF1] = (float)(ac / ss);
    }
}

/* ---- spectra ---- */

/* One-sided power spectrum of x (n) by Welch's method: Hann-windowed segments
 * of c->seg samples with 50% overlap, mean removed, |FFT|^2 averaged (the
 * scale is left out: every feature here is a ratio or a location). A record
 * shorter than a segment is one zero-padded segment. Bins are fs / seg Hz. */
static void welch(const feat_ctx *c, feat_work *w, const float *x, int n, double *psd)
{
    int seg = c->seg, nbin = seg / 2 + 1;
    for (int k = 0; k < nbin; k++)
        psd[k] = 0.0;
    if (n < 2)
        return;
    double mean = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    int L = n < seg ? n : seg, hop = L / 2, nseg = 0;
    fftw_complex *out = w->fout;
    for (int s = 0; s + L <= n; s += hop) {
        for (int k = 0; k < L; k++) {
            double hann = L == seg ? c->hann[k] : 0.5 - 0.5 * cos(2.0 * FT_PI * k / L);
            w->fin[k] = hann * (x[s + k] - mean);
        }
        for (int k = L; k < seg; k++)
            w->fin[k] = 0.0;
        fftw_execute_dft_r2c(c->plan, w->fin, out);
        for (int k = 0; k < nbin; k++)
            psd[k] += out[k][0] * out[k][0] + out[k][1] * out[k][1];
        nseg++;
    }
    for (int k = 0; k < nbin; k++)
        psd[k] /= nseg;
}

/* Power in [lo, hi) Hz. */
static double band(const feat_ctx *c, const double *psd, double lo, double hi)
{
    double df = (double)c->fs / c->seg, p = 0.0;
    for (int k = 0; k <= c->seg / 2; k++)
        if (k * df >= lo && k * df < hi)
            p += psd[k];
    return p;
}

/* ---- morphology ---- */

/* Pearson correlation of a and b (n); 0 when either is constant. */
static double corr(const double *a, const double *b, int n)
{
    double ma = 0.0, mb = 0.0;
    for (int i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= n;
    mb /= n;
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0.0 && sbb > 0.0 ? sab / sqrt(saa * sbb) : 0.0;
}

/* dst (n) = src minus the straight line through its first and last values:
 * a wave's height above the baseline that runs under it. */
static void detrend(double *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i] - (src[0] + (src[n - 1] - src[0]) * (n > 1 ? (double)i / (n - 1) : 0.0));
}

/* The median beat of a record: what the morphology features measure. */
typedef struct beat_tpl {
    int pre, L;      /* samples before R in the window, window length */
    const int *fb;   /* the complete beats (whole window inside the record) */
    int nf;
    double base;     /* the template's median level */
    double ramp;     /* its height at R above base */
} beat_tpl;

/* The complete beats of the nb in w->beats and their median beat into
 * w->tpl; 0, or -1 when there are too few or no deflection at R (nothing
 * to scale the other waves by). */
static int morph_template(const feat_ctx *c, feat_work *w, int len, int nb, beat_tpl *t)
{
    int fs = c->fs, pre = (int)lround(FT_PRE * fs), L = template_len(fs);
    const float *s = w->sig;
    const int *bt = w->beats;
    int first = 0, nf = 0;
    while (first < nb && bt[first] - pre < 0)
        first++;
    while (first + nf < nb && bt[first + nf] - pre + L <= len)
        nf++;
    if (nf < FT_MIN_BEATS)
        return -1;
    const int *fb = bt + first;
    double *tmp = w->tmp, *tpl = w->tpl;
    for (int k = 0; k < L; k++) {
        for (int b = 0; b < nf; b++)
            tmp[b] = s[fb[b] - pre + k];
        tpl[k] = qrs_median(tmp, nf);
    }
    memcpy(tmp, tpl, sizeof *tpl * (size_t)L);
    *t = (beat_tpl){.pre = pre, .L = L, .fb = fb, .nf = nf, .base = qrs_median(tmp, L)};
    t->ramp = tpl[pre] - t->base;
    return t->ramp > 1e-6 ? 0 : -1;
}

/* QRS width: the run around R where the slope exceeds 15% of its peak,
 * gaps of up to 20 ms (the R apex, where the slope is 0) bridged. */
static float morph_qrs_width(int fs, const double *tpl, int pre, int L)
{
    int q6 = (int)lround(0.06 * fs), q15 = (int)lround(0.15 * fs), gap = (int)lround(0.02 * fs);
    double gmax = 0.0;
    for (int k = pre - q6; k <= pre + q6; k++)
        if (k >= 1 && k < L - 1 && fabs(tpl[k + 1] - tpl[k - 1]) > gmax)
            gmax = fabs(tpl[k + 1] - tpl[k - 1]);
    int left = pre, right = pre;
    for (int k = pre - 1; k >= 1 && k >= pre - q15 && left - k <= gap; k--)
        if (fabs(tpl[k + 1] - tpl[k - 1]) > 0.15 * gmax)
            left = k;
    for (int k = pre + 1; k < L - 1 && k <= pre + q15 && k - right <= gap; k++)
        if (fabs(tpl[k + 1] - tpl[k - 1]) > 0.15 * gmax)
            right = k;
    return (float)((right - left + 1) * 1000.0 / fs);
}

/* P wave ([R - 250 ms, R - 70 ms], detrended: height and beat-to-beat
 * consistency) and T wave ([R + 100 ms, R + 450 ms], detrended, largest
 * excursion), relative to the R height. */
static void morph_waves(const feat_ctx *c, feat_work *w, const beat_tpl *t, float *out)
{
    int fs = c->fs, pre = t->pre, L = t->L;
    const float *s = w->sig;
    double *tmp = w->tmp, *tpl = w->tpl;
    int pa = pre - (int)lround(FT_P_START * fs);
    int pn = pre - (int)lround(FT_P_END * fs) + 1 - pa;
    double *ptpl = tmp, *pbeat = tmp + L, *praw = tmp + 2 * L;
    detrend(ptpl, tpl + pa, pn);
    double pmax = ptpl[0];
    for (int k = 1; k < pn; k++)
        pmax = ptpl[k] > pmax ? ptpl[k] : pmax;
    out[FT_P_AMP] = (float)(pmax / t->ramp);
    double pc = 0.0;
    for (int b = 0; b < t->nf; b++) {
        for (int k = 0; k < pn; k++)
            praw[k] = s[t->fb[b] - pre + pa + k];
        detrend(pbeat, praw, pn);
        pc += corr(pbeat, ptpl, pn);
    }
    out[FT_P_CONSIST] = (float)(pc / t->nf);
    int ta = pre + (int)lround(FT_T_START * fs), tn = L - ta;
    detrend(ptpl, tpl + ta, tn);
    double tmax = 0.0;
    for (int k = 0; k < tn; k++)
        tmax = fabs(ptpl[k]) > tmax ? fabs(ptpl[k]) : tmax;
    out[FT_T_AMP] = (float)(tmax / t->ramp);
}

/* Beat-to-beat consistency of the QRS and of the R amplitude. */
static void morph_consistency(const feat_ctx *c, feat_work *w, const beat_tpl *t, float *out)
{
    int qh = (int)lround(FT_QRS_HALF * c->fs), qn = 2 * qh + 1, nf = t->nf;
    const float *s = w->sig;
    double *pbeat = w->tmp + t->L;
    double csum = 0.0, asum = 0.0, ass = 0.0;
    int outl = 0;
    for (int b = 0; b < nf; b++) {
        for (int k = 0; k < qn; k++)
            pbeat[k] = s[t->fb[b] - qh + k];
        double r = corr(pbeat, w->tpl + t->pre - qh, qn);
        csum += r;
        outl += r < 0.8;
        double a = s[t->fb[b]] - qrs_median(pbeat, qn);
        asum += a;
        ass += a * a;
    }
    out[FT_BEAT_CORR] = (float)(csum / nf);
    out[FT_BEAT_OUTLIER] = (float)outl / (float)nf;
    double am = asum / nf, avar = (ass - nf * am * am) / (nf - 1);
    if (fabs(am) > 0.0)
        out[FT_R_AMP_CV] = (float)(sqrt(avar > 0.0 ? avar : 0.0) / fabs(am));
}

/* QRST cancellation: subtract the median beat (less its level) from 80 ms
 * before each R to 400 ms after it, or to 80 ms before the next R; what is
 * left, relative to the R height, and its f-wave band share. Overwrites
 * w->sig. */
static void morph_residual(const feat_ctx *c, feat_work *w, int len, int nb, const beat_tpl *t,
                           float *out)
{
    int fs = c->fs, pre = t->pre;
    const int *bt = w->beats;
    const double *tpl = w->tpl;
    int q8 = (int)lround(0.08 * fs), q40 = (int)lround(0.40 * fs);
    int post = t->L - 1 - pre;
    float *res = w->sig; /* the signal is not needed any more */
    for (int b = 0; b < nb; b++) {
        int end = bt[b] + (q40 < post ? q40 : post);
        if (b + 1 < nb && bt[b + 1] - q8 - 1 < end)
            end = bt[b + 1] - q8 - 1;
        for (int i = bt[b] - q8; i <= end; i++)
            if (i >= 0 && i < len)
                res[i] -= (float)(tpl[i - bt[b] + pre] - t->base);
    }
    int ra = bt[0] - q8 < 0 ? 0 : bt[0] - q8;
    int rb = bt[nb - 1] + q40 + 1 > len ? len : bt[nb - 1] + q40 + 1;
    int rn = rb - ra;
    if (rn < fs)
        return;
    double rm = 0.0, rss = 0.0;
    for (int i = ra; i < rb; i++)
        rm += res[i];
    rm /= rn;
    for (int i = ra; i < rb; i++)
        rss += (res[i] - rm) * (res[i] - rm);
    out[FT_RESID_REL] = (float)(sqrt(rss / rn) / t->ramp);
    /* the f-wave band from the T-Q stretches only: what cancellation
     * leaves of each QRS (beats differ a little from the median beat)
     * is blanked, by a straight line from R - 60 ms to R + 80 ms */
    int q6b = (int)lround(0.06 * fs);
    for (int b = 0; b < nb; b++) {
        int a = bt[b] - q6b, z = bt[b] + q8;
        if (a < ra || z >= rb)
            continue;
        for (int i = a + 1; i < z; i++)
            res[i] = res[a] + (res[z] - res[a]) * (float)(i - a) / (float)(z - a);
    }
    welch(c, w, res + ra, rn, w->psd);
    double all = band(c, w->psd, 1.0, 40.0);
    if (all > 0.0)
        out[FT_RESID_AF] = (float)(band(c, w->psd, 4.0, 9.0) / all);
}

/* The morphology features from the nb beats of w->sig (len samples). */
static void morphology(const feat_ctx *c, feat_work *w, int len, int nb, float *out)
{
    beat_tpl t;
    if (morph_template(c, w, len, nb, &t) != 0)
        return;
    out[FT_R_AMP] = (float)t.ramp;
    out[FT_QRS_WIDTH] = morph_qrs_width(c->fs, w->tpl, t.pre, t.L);
    morph_waves(c, w, &t, out);
    morph_consistency(c, w, &t, out);
    morph_residual(c, w, len, nb, &t, out);
}

/* ---- one record ---- */

void feat_extract(const feat_ctx *c, feat_work *w, const float *x, int len,
                      float *out, int *nbeats)
{
    RESECG_ASSERT(len <= w->cap);
    int fs = c->fs;
    for (int i = 0; i < FEAT_N; i++)
        out[i] = NAN;
    out[FT_DURATION] = (float)len / (float)fs;
    out[FT_AMP_RANGE] = 0.0f;
    out[FT_FLAT] = 0.0f;
    if (nbeats)
        *nbeats = 0;
    if (len < 5)
        return;

    qrs_info qi;
    int nb = qrs_detect(&w->q, x, len, w->beats, &qi);
    if (nbeats)
        *nbeats = nb;
    for (int i = 0; i + 1 < nb; i++)
        w->rr[i] = (double)(w->beats[i + 1] - w->beats[i]) / fs;
    feat_rr(w->rr, nb > 0 ? nb - 1 : 0, w->tmp, out);
    if (nb > 0 && qi.mwi_peak > 0.0)
        out[FT_QRS_SNR] = (float)log10(qi.mwi_peak / (qi.mwi_level + 1e-6 * qi.mwi_peak));

    /* moments and range of the 0.5-40 Hz signal, polarity-corrected */
    const float *xc = w->q.xc;
    double m1 = 0.0;
    for (int i = 0; i < len; i++) {
        w->sig[i] = (float)qi.polarity * xc[i];
        m1 += xc[i];
    }
    m1 /= len;
    double m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (int i = 0; i < len; i++) {
        double d = xc[i] - m1, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
        w->tmp[i] = xc[i];
    }
    m2 /= len;
    m3 /= len;
    m4 /= len;
    if (m2 > 1e-18) {
        out[FT_KURTOSIS] = (float)(m4 / (m2 * m2));
        out[FT_SKEWNESS] = (float)fabs(m3 / (m2 * sqrt(m2)));
    }
    /* percentiles by selection: O(len), not a sort per record */
    int k1 = (int)(0.01 * (len - 1)), k99 = (int)(0.99 * (len - 1));
    double hi = qrs_select(w->tmp, len, k99);
    out[FT_AMP_RANGE] = (float)(hi - qrs_select(w->tmp, len, k1));

    /* flat runs of the raw samples (identical values for 100 ms or more) */
    int minrun = (int)lround(0.1 * fs), run = 1;
    long flat = 0;
    for (int i = 1; i <= len; i++) {
        if (i < len && x[i] == x[i - 1]) {
            run++;
            continue;
        }
        if (run >= minrun)
            flat += run;
        run = 1;
    }
    out[FT_FLAT] = (float)flat / (float)len;

    /* spectrum of the raw record */
    welch(c, w, x, len, w->psd);
    double p0_40 = band(c, w->psd, 0.0, 40.0), p5_40 = band(c, w->psd, 5.0, 40.0);
    double p_hf = band(c, w->psd, 40.0, fs), p_all = band(c, w->psd, 0.5, fs);
    if (p5_40 > 0.0)
        out[FT_PSQI] = (float)(band(c, w->psd, 5.0, 15.0) / p5_40);
    if (p0_40 > 0.0)
        out[FT_BASSQI] = (float)(1.0 - band(c, w->psd, 0.0, 1.0) / p0_40);
    if (p_all > 0.0)
        out[FT_HF_POWER] = (float)(p_hf / p_all);
    double df = (double)fs / c->seg, pb = band(c, w->psd, 0.5, 40.0);
    if (pb > 0.0) {
        int best = -1, nbin = 0;
        double h = 0.0;
        for (int k = 0; k <= c->seg / 2; k++) {
            if (k * df < 0.5 || k * df >= 40.0)
                continue;
            nbin++;
            if (best < 0 || w->psd[k] > w->psd[best])
                best = k;
            double p = w->psd[k] / pb;
            if (p > 0.0)
                h -= p * log(p);
        }
        out[FT_DOM_FREQ] = (float)(best * df);
        if (nbin > 1)
            out[FT_SPEC_ENTROPY] = (float)(h / log((double)nbin));
    }

    if (nb >= FT_MIN_BEATS)
        morphology(c, w, len, nb, out);
}

/* ---- a data set ---- */

int feat_dataset(const dataset *ds, const int *idx, int n, int fs, int threads, float *out,
                     double *seconds, rerr *e)
{
    double t0 = util_now();
    feat_ctx c;
    if (feat_ctx_init(&c, fs, e) != 0)
        return -1;
    int cap = 1;
    for (int i = 0; i < n; i++)
        if (ds->recs[idx[i]].len > cap)
            cap = ds->recs[idx[i]].len;
    int nt = threads > 0 ? threads : omp_get_max_threads();
    int fail = 0;
#pragma omp parallel num_threads(nt)
    {
        feat_work w;
        int ok = feat_work_init(&w, &c, cap, NULL) == 0;
        if (!ok) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 8)
        for (int i = 0; i < n; i++) {
            const record *r = &ds->recs[idx[i]];
            if (ok)
                feat_extract(&c, &w, r->x, r->len, out + (size_t)i * FEAT_N, NULL);
        }
        if (ok)
            feat_work_free(&w);
    }
    feat_ctx_free(&c);
    if (fail)
        return rerr_set(e, "features: out of memory for records of %d samples", cap);
    if (seconds)
        *seconds = util_now() - t0;
    return 0;
}

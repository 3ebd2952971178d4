/* Classical ECG features of one record for the feature-based baseline
 * (model.type features): the QRS detector's beats (qrs.h) give the rhythm
 * (RR-interval statistics, irregularity), an averaged beat gives the
 * morphology (QRS width, P and T waves, beat-to-beat consistency) and the
 * whole signal gives its quality and spectrum (for the noise class). Each
 * feature, its formula and source are listed in feat.c's table and in
 * README.md. Values are computed on the raw record at its own length and
 * sampling rate (mV); a feature that is undefined for a record (no beats, too
 * few intervals) is NAN, which XGBoost treats as missing. */
#ifndef RESECG_FEAT_H
#define RESECG_FEAT_H

#include "data/data.h"
#include "baseline/qrs.h"
#include "base/util.h"

enum {
    /* rhythm: RR intervals between consecutive R peaks, in seconds */
    FT_HR_MEAN,        /* 60 / mean RR, beats per minute */
    FT_RR_SD,          /* sample standard deviation of RR (n - 1), s */
    FT_RR_RMSSD,       /* root mean square of successive RR differences, s */
    FT_RR_PNN50,       /* share of successive differences larger than 50 ms */
    FT_RR_CV,          /* SD / mean */
    FT_RR_NMAD,        /* median |successive difference| / median RR */
    FT_RR_MIN_REL,     /* shortest RR / median RR */
    FT_RR_MAX_REL,     /* longest RR / median RR */
    FT_RR_SD1,         /* Poincare SD1 = SD(successive differences) / sqrt 2, s */
    FT_RR_SD2,         /* Poincare SD2 = sqrt(2 SD^2 - SD1^2), s */
    FT_RR_SD1_SD2,     /* SD1 / SD2 */
    FT_RR_SAMPEN,      /* sample entropy of RR, m = 2, r = 0.2 SD */
    FT_RR_COSEN,       /* coefficient of sample entropy, m = 1, r = 30 ms */
    FT_RR_ACF1,        /* lag-1 autocorrelation of RR (bigeminy: strongly negative) */
    FT_RR_SHORT,       /* share of RR shorter than 0.85 x median (premature beats) */
    FT_RR_BAD,         /* share of RR outside 0.25-2 s (implausible: detector trouble) */
    /* morphology: the median beat over all complete beats */
    FT_QRS_WIDTH,      /* QRS width, ms */
    FT_R_AMP,          /* R amplitude of the median beat above its median level, mV */
    FT_P_AMP,          /* P-wave amplitude (250-70 ms before R) / R amplitude */
    FT_P_CONSIST,      /* mean correlation of the beats' P windows with the median beat's */
    FT_T_AMP,          /* T-wave amplitude (100-450 ms after R) / R amplitude */
    FT_BEAT_CORR,      /* mean correlation of the beats' QRS (R +- 100 ms) with the median beat */
    FT_BEAT_OUTLIER,   /* share of beats whose QRS correlation is below 0.8 */
    FT_R_AMP_CV,       /* coefficient of variation of the beats' R amplitudes */
    FT_RESID_REL,      /* RMS of the signal after QRST cancellation / R amplitude */
    FT_RESID_AF,       /* share of the residual's 1-40 Hz power in 4-9 Hz (f waves) */
    /* signal quality and spectrum */
    FT_DURATION,       /* record length, s */
    FT_QRS_SNR,        /* log10 of the detector's median peak / median level */
    FT_KURTOSIS,       /* kurtosis of the 0.5-40 Hz signal (kSQI) */
    FT_SKEWNESS,       /* |skewness| of the 0.5-40 Hz signal (sSQI) */
    FT_PSQI,           /* power 5-15 Hz / 5-40 Hz (pSQI) */
    FT_BASSQI,         /* 1 - power 0-1 Hz / 0-40 Hz (basSQI) */
    FT_HF_POWER,       /* power above 40 Hz / above 0.5 Hz */
    FT_DOM_FREQ,       /* frequency of the largest spectral peak in 0.5-40 Hz, Hz */
    FT_SPEC_ENTROPY,   /* normalised spectral entropy over 0.5-40 Hz */
    FT_AMP_RANGE,      /* 99th - 1st percentile of the 0.5-40 Hz signal, mV */
    FT_FLAT,           /* share of samples in flat runs of 100 ms or more (lead off, clipping) */
    FEAT_N
};

/* "hr_mean", "rr_sd", ... (the columns of features.csv and the model's
 * feature names). */
const char *feat_name(int i);
/* 1 when feature i is NAN for some inputs (too few beats, a flat record). */
int feat_may_be_missing(int i);

/* What every record shares: the sampling rate and the Welch segment's FFT
 * plan (FFTW plans must be made by one thread; running them is thread-safe). */
typedef struct feat_ctx {
    int fs;
    int seg;        /* Welch segment length: a power of two of at least 3 s */
    double *hann;   /* (seg) periodic Hann window */
    void *plan;     /* fftw_plan, r2c of length seg */
    double *in;     /* (seg) the arrays the plan was made on */
    void *out;      /* (seg / 2 + 1) fftw_complex */
} feat_ctx;

int feat_ctx_init(feat_ctx *c, int fs, rerr *e);
void feat_ctx_free(feat_ctx *c);

/* One thread's scratch for records of up to cap samples. */
typedef struct feat_work {
    qrs_work q;
    int cap;
    int *beats;     /* (qrs_max_beats) R peaks */
    double *rr;     /* (qrs_max_beats) RR intervals, s, and scratch */
    double *tmp;    /* (cap + 2 qrs_max_beats + 3 template lengths) scratch */
    float *sig;     /* (cap) polarity-corrected 0.5-40 Hz signal, then the residual */
    double *tpl;    /* (0.75 s + 1) median beat */
    double *psd;    /* (seg / 2 + 1) */
    double *fin;    /* (seg) FFT input */
    void *fout;     /* (seg / 2 + 1) fftw_complex */
} feat_work;

int feat_work_init(feat_work *w, const feat_ctx *c, int cap, rerr *e);
void feat_work_free(feat_work *w);

/* The FEAT_N features of x (len <= w->cap samples, mV, at c->fs) into
 * out. nbeats (may be NULL) gets the number of beats detected. */
void feat_extract(const feat_ctx *c, feat_work *w, const float *x, int len,
                      float *out, int *nbeats);

/* The rhythm features (FT_HR_MEAN .. FT_RR_BAD) of n RR intervals rr (s)
 * into out; rr is not changed. scratch has room for 2 n doubles. */
void feat_rr(const double *rr, int n, double *scratch, float *out);

/* Sample entropy (Richman & Moorman 2000) of x (n) with template length m
 * and tolerance r (Chebyshev distance <= r, self-matches excluded, n - m
 * templates of both lengths): -ln(A / B); NAN when A or B is 0. */
double feat_sampen(const double *x, int n, int m, double r);

/* Features of the records idx[0..n) of ds into out (n, FEAT_N), in
 * parallel over threads (0: all cores); *seconds gets the wall time. */
int feat_dataset(const dataset *ds, const int *idx, int n, int fs, int threads, float *out,
                     double *seconds, rerr *e);

#endif

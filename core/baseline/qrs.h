/* QRS detection in one ECG lead, after Pan & Tompkins (IEEE TBME 32(3),
 * 1985): zero-phase 5-15 Hz band-pass, five-point derivative, squaring,
 * 150 ms moving-window integration, then adaptive signal/noise peak levels,
 * T-wave discrimination by slope within 360 ms, and search-back at half the
 * threshold after 1.66 mean RR without a beat.
 * Differences from the 1985 paper: the threshold sits 0.15 (not 0.25) of the
 * way from the noise to the signal level, within Hamilton & Tompkins' (1986)
 * best range; and, because records are analysed whole rather than streamed,
 * every filter runs forwards and backwards (no group delay to undo), and the
 * levels start from the whole record (median of the 2-s maxima, median of
 * the integral) instead of a 2-s learning phase, so a noisy first second
 * does not derail them.
 * Squaring makes detection independent of polarity; each R peak is then put
 * on the largest deflection of the 0.5-40 Hz signal near it, so inverted
 * leads (common in CinC 2017) give the same beat times. */
#ifndef RESECG_QRS_H
#define RESECG_QRS_H

#include "base/util.h"

/* Scratch for records of up to cap samples at fs Hz, and the filtered
 * signals of the last qrs_detect call, which the feature extraction reuses. */
typedef struct qrs_work {
    int cap, fs, pad; /* pad: samples of odd extension on each side for filtfilt */
    double *ext;      /* (2 (cap + 2 pad + 1)) filtering scratch: two padded signals */
    float *xc;        /* (cap) 0.5-40 Hz band: baseline and high-frequency noise removed, mV */
    float *bp;        /* (cap) 5-15 Hz band (the detector's band-pass) */
    float *der;       /* (cap) derivative of bp, mV/s */
    float *mwi;       /* (cap) moving-window integral of der^2 */
    int *cand;        /* (cap / refractory + 2) candidate peaks of mwi, ascending */
    unsigned char *is_qrs; /* per candidate: 1 when taken as a QRS complex */
    int ncand;
    double *amp;      /* (cap / refractory + 2) signed R amplitude of each beat */
    double *win;      /* (2 * 100 ms + 1) scratch for local medians */
} qrs_work;

/* Allocates w for records of up to cap samples at fs Hz; -1 with e filled. */
int qrs_work_init(qrs_work *w, int cap, int fs, rerr *e);
void qrs_work_free(qrs_work *w);

/* The most beats qrs_detect can return for len samples at fs (one per
 * 200 ms refractory period, plus one). */
int qrs_max_beats(int len, int fs);

typedef struct qrs_info {
    int polarity;   /* +1: the QRS complexes point up (median over beats), -1: inverted */
    double mwi_peak; /* median moving-window integral at the detections */
    double mwi_level; /* median moving-window integral of the whole record */
} qrs_info;

/* Detects the QRS complexes of x (len <= w->cap samples, mV, at w->fs) and
 * writes the R-peak sample indices, ascending, into beats (room for
 * qrs_max_beats(len, fs)); returns their number. Leaves the filtered signals
 * in w (xc, bp, der, mwi). info may be NULL. A flat record gives 0 beats. */
int qrs_detect(qrs_work *w, const float *x, int len, int *beats, qrs_info *info);

/* The k-th smallest (0-based) of a (n > k), reordering a (Hoare's
 * quickselect: O(n) on average). */
double qrs_select(double *a, int n, int k);
/* The median of a (n >= 1), reordering a. */
double qrs_median(double *a, int n);

/* Zero-phase Butterworth band-pass of x (len <= w->cap) into y: second-order
 * high-pass at lo Hz then second-order low-pass at hi Hz (lo <= 0 or hi >=
 * fs/2 leaves that side out), run forwards then backwards over x padded by
 * one second of odd reflection, as scipy.signal.filtfilt (about a line fitted
 * to the first and last 0.5 s instead of the end samples). y may equal x. */
void qrs_bandpass(qrs_work *w, const float *x, int len, double lo, double hi, float *y);

#endif

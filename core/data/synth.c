/* The built-in synthetic ECG generator (see data.h): beats drawn as sums of
 * Gaussian waves in time (P, Q, R, S, T, after McSharry et al. 2003, ECGSYN)
 * at beat times from a per-class RR process, plus f-waves, artifacts and the
 * common baseline wander / mains hum / white noise. Values are in mV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/data.h"
#include "nn/rng.h"

enum { SYNTH_N, SYNTH_A, SYNTH_O, SYNTH_NOISE, SYNTH_CLASSES };

#define TWO_PI 6.283185307179586

/* Stream tags for rng_hash3, so the label shuffle, the lengths and the record
 * waveforms drawn from one seed never share random numbers. */
#define SYNTH_STREAM_LABELS 0x4C4142454C53ull /* "LABELS" */
#define SYNTH_STREAM_LEN 0x4C454Eull         /* "LEN" */
#define SYNTH_STREAM_REC 0x524543ull         /* "REC" */

/* CinC 2017 training-set proportions of N, A, O, ~ (5050, 738, 2456, 284 of 8528). */
static const double synth_share[SYNTH_CLASSES] = {0.59, 0.09, 0.28, 0.04};

/* One Gaussian wave: centre relative to the R peak (s), width (s), height (mV). */
typedef struct synth_wave {
    double off, sigma, amp;
} synth_wave;

/* The morphology of one record's beats. The T offset is the value at RR = 1 s;
 * it scales with sqrt(RR) (Bazett: QT grows with the square root of RR). */
typedef struct synth_morph {
    synth_wave p, q, r, s, t; /* sinus beat */
    synth_wave v, vt;         /* premature ventricular beat: wide QRS, opposite T */
    double gain;              /* R height, mV */
} synth_morph;

typedef enum { SYNTH_RH_SINUS, SYNTH_RH_AF, SYNTH_RH_BIGEMINY } synth_rhythm_kind;

/* An RR process: next interval from the current beat time and type. */
typedef struct synth_rhythm {
    synth_rhythm_kind kind;
    double rr0;                     /* mean sinus RR (s); AF: median RR */
    double rsa_amp, rsa_f, rsa_phi; /* respiratory sinus arrhythmia */
    double jitter;                  /* relative sd of beat-to-beat RR noise */
    double cv;                      /* AF: log-normal sigma of RR (~ its CV) */
    double coupling;                /* bigeminy: PVC coupling interval / rr0 */
    int pvc;                        /* bigeminy: the current beat is premature */
} synth_rhythm;

static double synth_unif(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

/* Adds amp * exp(-((j - centre) / sigma)^2 / 2) to x over centre +- 5 sigma
 * (centre and sigma in samples); the cut-off error is below 4e-6 * amp. */
static void synth_add_gauss(float *x, int len, double centre, double sigma, double amp)
{
    double lo = ceil(centre - 5.0 * sigma), hi = floor(centre + 5.0 * sigma);
    if (lo < 0.0)
        lo = 0.0;
    if (hi > len - 1.0)
        hi = len - 1.0;
    double inv = 1.0 / sigma;
    for (int j = (int)lo; j <= (int)hi; j++) {
        double z = (j - centre) * inv;
        x[j] += (float)(amp * exp(-0.5 * z * z));
    }
}

/* Draws one record's beat shapes. The ECGSYN defaults (angles -70, -15, 0, 15,
 * 100 degrees of a 1 s cycle, widths 0.25, 0.1, 0.1, 0.1, 0.4 rad) give the
 * centres and widths below; amplitudes are set in mV with R about 1 mV. Q and
 * S sit more than 2.5 R-widths away so the R centre stays the maximum. */
static void synth_morph_draw(synth_morph *m, rng *r)
{
    m->gain = synth_unif(r, 0.6, 1.5);
    m->p = (synth_wave){-synth_unif(r, 0.14, 0.20), synth_unif(r, 0.020, 0.030), synth_unif(r, 0.08, 0.20)};
    m->q = (synth_wave){-synth_unif(r, 0.025, 0.035), synth_unif(r, 0.006, 0.009), -synth_unif(r, 0.05, 0.15)};
    m->r = (synth_wave){0.0, synth_unif(r, 0.008, 0.011), 1.0};
    m->s = (synth_wave){synth_unif(r, 0.028, 0.040), synth_unif(r, 0.007, 0.010), -synth_unif(r, 0.10, 0.35)};
    m->t = (synth_wave){synth_unif(r, 0.26, 0.32), synth_unif(r, 0.045, 0.065), synth_unif(r, 0.15, 0.40)};
    /* PVC: one wide deflection (QRS about 4 sigma = 120-160 ms) of either
     * polarity, then a large T of the opposite polarity. */
    double pol = rng_uniform(r) < 0.5 ? -1.0 : 1.0;
    m->v = (synth_wave){0.0, synth_unif(r, 0.030, 0.040), pol * synth_unif(r, 1.0, 1.8)};
    m->vt = (synth_wave){synth_unif(r, 0.26, 0.34), synth_unif(r, 0.06, 0.08), -pol * synth_unif(r, 0.35, 0.60)};
}

/* Sinus rhythm at a heart rate uniform in [bpm_lo, bpm_hi] with respiratory
 * sinus arrhythmia (0.15-0.4 Hz, 1-4 % of RR) and 1 % beat-to-beat jitter. */
static void synth_rhythm_sinus(synth_rhythm *rh, rng *r, double bpm_lo, double bpm_hi)
{
    *rh = (synth_rhythm){0};
    rh->kind = SYNTH_RH_SINUS;
    rh->rr0 = 60.0 / synth_unif(r, bpm_lo, bpm_hi);
    rh->rsa_amp = synth_unif(r, 0.01, 0.04);
    rh->rsa_f = synth_unif(r, 0.15, 0.40);
    rh->rsa_phi = synth_unif(r, 0.0, TWO_PI);
    rh->jitter = 0.01;
}

/* Interval (s) from the beat at time t to the next one; updates rh->pvc to
 * the type of that next beat. */
static double synth_rhythm_next(synth_rhythm *rh, rng *r, double t)
{
    double rr;
    switch (rh->kind) {
    case SYNTH_RH_AF:
        /* Irregularly irregular: independent log-normal intervals, clamped to
         * 0.33-2 s (a ventricular rate of 30-180 bpm). */
        rr = rh->rr0 * exp(rh->cv * rng_normal(r));
        return rr < 0.33 ? 0.33 : rr > 2.0 ? 2.0 : rr;
    case SYNTH_RH_BIGEMINY:
        /* Normal beat -> PVC after the coupling interval; PVC -> normal beat
         * after the compensatory pause, so each pair spans two sinus cycles. */
        rr = rh->rr0 * (rh->pvc ? 2.0 - rh->coupling : rh->coupling);
        rh->pvc = !rh->pvc;
        return rr * (1.0 + rh->jitter * rng_normal(r));
    case SYNTH_RH_SINUS:
    default:
        rr = rh->rr0 * (1.0 + rh->rsa_amp * sin(TWO_PI * rh->rsa_f * t + rh->rsa_phi));
        return rr * (1.0 + rh->jitter * rng_normal(r));
    }
}

/* Draws one beat with its R peak (or PVC main deflection) exactly at sample
 * rpk, so the returned R positions are the true wave centres. */
static void synth_beat(float *x, int len, double fs, const synth_morph *m, int rpk, int pvc, int p_wave,
                       double rr, double scale)
{
    double g = m->gain * scale;
    if (pvc) {
        synth_add_gauss(x, len, rpk, m->v.sigma * fs, g * m->v.amp);
        synth_add_gauss(x, len, rpk + m->vt.off * fs, m->vt.sigma * fs, g * m->vt.amp);
        return;
    }
    double qt = sqrt(rr < 0.3 ? 0.3 : rr > 2.0 ? 2.0 : rr);
    if (p_wave)
        synth_add_gauss(x, len, rpk + m->p.off * fs, m->p.sigma * fs, g * m->p.amp);
    synth_add_gauss(x, len, rpk + m->q.off * fs, m->q.sigma * fs, g * m->q.amp);
    synth_add_gauss(x, len, rpk, m->r.sigma * fs, g * m->r.amp);
    synth_add_gauss(x, len, rpk + m->s.off * fs, m->s.sigma * fs, g * m->s.amp);
    synth_add_gauss(x, len, rpk + m->t.off * qt * fs, m->t.sigma * fs, g * m->t.amp);
}

/* Draws beats from about 1 s before the record to 0.4 s after it (so waves
 * of beats just outside reach in) and stores the R positions inside [0, len)
 * into beats, at most max_beats. Returns the number stored. */
static int synth_beats(float *x, int len, double fs, const synth_morph *m, synth_rhythm *rh, int p_wave, rng *r,
                       int *beats, int max_beats)
{
    int nb = 0;
    double t = -(0.8 + rh->rr0 * rng_uniform(r));
    double rr = rh->rr0;
    if (rh->kind == SYNTH_RH_BIGEMINY)
        rh->pvc = rng_uniform(r) < 0.5;
    double end = len / fs + 0.4;
    while (t < end) {
        int rpk = (int)lround(t * fs);
        /* A beat's modest amplitude variation (3 %) as seen in real leads. */
        double scale = 1.0 + 0.03 * rng_normal(r);
        synth_beat(x, len, fs, m, rpk, rh->pvc, p_wave && !rh->pvc, rr, scale);
        if (rpk >= 0 && rpk < len && nb < max_beats && beats)
            beats[nb++] = rpk;
        rr = synth_rhythm_next(rh, r, t);
        t += rr;
    }
    return nb;
}

/* AF fibrillatory waves: a 4-9 Hz oscillation whose frequency drifts slowly
 * and whose amplitude (0.03-0.08 mV) waxes and wanes, with a second harmonic
 * for a less sinusoidal shape. Part of the rhythm, so not scaled by noise. */
static void synth_fwaves(float *x, int len, double fs, rng *r)
{
    double f0 = synth_unif(r, 4.5, 8.5), df = synth_unif(r, 0.0, 0.5);
    double fm = synth_unif(r, 0.1, 0.4), fm_phi = synth_unif(r, 0.0, TWO_PI);
    double a0 = synth_unif(r, 0.03, 0.08), am = synth_unif(r, 0.2, 0.6), am_phi = synth_unif(r, 0.0, TWO_PI);
    double h2 = synth_unif(r, 0.1, 0.4), h2_phi = synth_unif(r, 0.0, TWO_PI);
    double ph = synth_unif(r, 0.0, TWO_PI);
    for (int j = 0; j < len; j++) {
        double t = j / fs;
        double f = f0 + df * sin(TWO_PI * fm * t + fm_phi);
        double a = a0 * (0.6 + 0.4 * sin(TWO_PI * am * t + am_phi));
        ph += TWO_PI * f / fs;
        x[j] += (float)(a * (sin(ph) + h2 * sin(2.0 * ph + h2_phi)));
    }
}

/* The artifacts that make a '~' record: electrode motion (white noise through
 * two one-pole low-passes at 0.5-3 Hz, sd 0.2-0.8 mV), EMG (white noise of sd
 * 0.08-0.25 mV in bursts over a floor of 30 % of that) and 1-3 baseline jumps
 * (+-0.5-2 mV steps decaying over 0.3-2 s, like electrode pops). These define
 * the class, so they are not scaled by the noise level. */
static void synth_artifacts(float *x, int len, double fs, rng *r)
{
    double fc = synth_unif(r, 0.5, 3.0), sd = synth_unif(r, 0.2, 0.8);
    double a = exp(-TWO_PI * fc / fs), b = 1.0 - a;
    /* Two cascaded poles at a have sum h_k^2 = b^4 (1 + a^2) / (1 - a^2)^3
     * for a unit-variance input; scale the input for output sd `sd`. */
    double g = sd * sqrt(pow(1.0 - a * a, 3) / (b * b * b * b * (1.0 + a * a)));
    double y1 = 0.0, y2 = 0.0;
    int warm = (int)(12.0 / b); /* start the filter in its stationary state */
    for (int j = -warm; j < len; j++) {
        y1 = a * y1 + b * g * rng_normal(r);
        y2 = a * y2 + b * y1;
        if (j >= 0)
            x[j] += (float)y2;
    }

    double emg = synth_unif(r, 0.08, 0.25);
    int on = rng_uniform(r) < 0.5, left = 0;
    for (int j = 0; j < len; j++) {
        if (left-- <= 0) {
            on = !on;
            left = (int)(fs * (on ? synth_unif(r, 0.2, 1.0) : synth_unif(r, 0.1, 0.6)));
        }
        x[j] += (float)(emg * (on ? 1.0 : 0.3) * rng_normal(r));
    }

    int jumps = 1 + (int)rng_below(r, 3);
    for (int k = 0; k < jumps; k++) {
        int t0 = len > 0 ? (int)rng_below(r, (uint32_t)len) : 0;
        double h = (rng_uniform(r) < 0.5 ? -1.0 : 1.0) * synth_unif(r, 0.5, 2.0);
        double tau = synth_unif(r, 0.3, 2.0) * fs;
        for (int j = t0; j < len; j++)
            x[j] += (float)(h * exp(-(j - t0) / tau));
    }
}

/* What every record gets, scaled by level: baseline wander (two 0.1-0.5 Hz
 * sinusoids, 0.03-0.12 mV each), 50 or 60 Hz mains hum (0.003-0.02 mV) and
 * white noise (sd 0.005-0.02 mV). */
static void synth_common_noise(float *x, int len, double fs, double level, rng *r)
{
    double bw_f[2], bw_a[2], bw_phi[2];
    for (int k = 0; k < 2; k++) {
        bw_f[k] = synth_unif(r, 0.1, 0.5);
        bw_a[k] = level * synth_unif(r, 0.03, 0.12);
        bw_phi[k] = synth_unif(r, 0.0, TWO_PI);
    }
    double mains_f = rng_uniform(r) < 0.5 ? 50.0 : 60.0;
    double mains_a = level * synth_unif(r, 0.003, 0.02), mains_phi = synth_unif(r, 0.0, TWO_PI);
    double white = level * synth_unif(r, 0.005, 0.02);
    if (level <= 0.0)
        return;
    for (int j = 0; j < len; j++) {
        double t = j / fs;
        double v = bw_a[0] * sin(TWO_PI * bw_f[0] * t + bw_phi[0]) + bw_a[1] * sin(TWO_PI * bw_f[1] * t + bw_phi[1]) +
                   mains_a * sin(TWO_PI * mains_f * t + mains_phi) + white * rng_normal(r);
        x[j] += (float)v;
    }
}

/* Returns the number of R peaks written to beats: every R peak inside
 * [0, len) when max_beats is large enough (beats may be NULL with max_beats 0).
 * For '~' records these are the peaks of the weak ECG under the noise, none
 * when the record has no ECG. */
int synth_record(float *x, int len, int cls, const synth_params *p, uint64_t record_seed, int *beats, int max_beats)
{
    RESECG_ASSERT(x && p && len >= 0 && cls >= 0 && cls < SYNTH_CLASSES && p->fs > 0);
    double fs = p->fs;
    rng r;
    rng_seed(&r, record_seed);
    for (int j = 0; j < len; j++)
        x[j] = 0.0f;

    int inverted = rng_uniform(&r) < 1.0 / 6.0;
    synth_morph m;
    synth_morph_draw(&m, &r);
    synth_rhythm rh;
    int nb = 0;
    switch (cls) {
    case SYNTH_N:
        synth_rhythm_sinus(&rh, &r, 55.0, 100.0);
        nb = synth_beats(x, len, fs, &m, &rh, 1, &r, beats, max_beats);
        break;
    case SYNTH_A:
        /* Ventricular response 70-140 bpm, RR CV 0.2-0.3, no P waves. */
        rh = (synth_rhythm){0};
        rh.kind = SYNTH_RH_AF;
        rh.rr0 = 60.0 / synth_unif(&r, 70.0, 140.0);
        rh.cv = synth_unif(&r, 0.2, 0.3);
        nb = synth_beats(x, len, fs, &m, &rh, 0, &r, beats, max_beats);
        synth_fwaves(x, len, fs, &r);
        break;
    case SYNTH_O:
        if (rng_uniform(&r) < 0.5) {
            /* Ventricular bigeminy over a 60-90 bpm sinus rhythm, PVCs
             * coupled at 55-68 % of the sinus RR. */
            synth_rhythm_sinus(&rh, &r, 60.0, 90.0);
            rh.kind = SYNTH_RH_BIGEMINY;
            rh.coupling = synth_unif(&r, 0.55, 0.68);
        } else {
            synth_rhythm_sinus(&rh, &r, 35.0, 50.0); /* sinus bradycardia */
        }
        nb = synth_beats(x, len, fs, &m, &rh, 1, &r, beats, max_beats);
        break;
    default: /* SYNTH_NOISE */
        if (rng_uniform(&r) < 0.5) {
            /* A weak sinus ECG (R 0.06-0.45 mV) under the artifacts. */
            m.gain *= synth_unif(&r, 0.1, 0.3);
            synth_rhythm_sinus(&rh, &r, 60.0, 110.0);
            nb = synth_beats(x, len, fs, &m, &rh, 1, &r, beats, max_beats);
        }
        synth_artifacts(x, len, fs, &r);
        break;
    }
    synth_common_noise(x, len, fs, p->noise, &r);
    if (inverted)
        for (int j = 0; j < len; j++)
            x[j] = -x[j];
    return nb;
}

/* Per-class counts: the CinC share rounded, raised to n/10, and N takes the
 * rest (with the shares above N keeps at least n/10 for every n). */
static void synth_class_counts(int n, int *counts)
{
    int rest = n;
    for (int k = 1; k < SYNTH_CLASSES; k++) {
        int c = (int)lround(synth_share[k] * n);
        counts[k] = c < n / 10 ? n / 10 : c;
        rest -= counts[k];
    }
    counts[SYNTH_N] = rest;
}

/* Record i's length and waveform seed come from (p->seed, i) alone, so
 * record i has the same length for any n, and the same samples whenever it
 * draws the same class. The class comes from a seeded shuffle of a label list
 * built to exact counts, so it does depend on n. On failure the records this
 * call appended are removed again. */
int synth_generate(dataset *ds, const synth_params *p, rerr *e)
{
    if (p->n < 0 || p->min_len < 1 || p->max_len < p->min_len)
        return rerr_set(e, "synthetic data: bad sizes (n %d, lengths %d..%d)", p->n, p->min_len, p->max_len);
    if (p->fs <= 0 || !(p->noise >= 0.0f) || !isfinite(p->noise))
        return rerr_set(e, "synthetic data: bad sample rate %d or noise %g", p->fs, (double)p->noise);
    if (ds->num_classes < SYNTH_CLASSES)
        return rerr_set(e, "synthetic data: needs %d classes, dataset has %d", SYNTH_CLASSES, ds->num_classes);

    int n0 = ds->n;
    int *labels = malloc(sizeof *labels * (size_t)(p->n > 0 ? p->n : 1));
    float *buf = malloc(sizeof *buf * (size_t)p->max_len);
    if (!labels || !buf) {
        free(labels);
        free(buf);
        return rerr_set(e, "synthetic data: out of memory for %d records of %d samples", p->n, p->max_len);
    }
    int counts[SYNTH_CLASSES];
    synth_class_counts(p->n, counts);
    for (int k = 0, i = 0; k < SYNTH_CLASSES; k++)
        for (int c = 0; c < counts[k]; c++)
            labels[i++] = k;
    rng r;
    rng_seed(&r, rng_hash3(p->seed, SYNTH_STREAM_LABELS, 0));
    rng_shuffle(&r, labels, p->n);

    uint64_t span = (uint64_t)(p->max_len - p->min_len) + 1;
    for (int i = 0; i < p->n; i++) {
        int len = p->min_len + (int)(rng_hash3(p->seed, (uint64_t)i, SYNTH_STREAM_LEN) % span);
        synth_record(buf, len, labels[i], p, rng_hash3(p->seed, (uint64_t)i, SYNTH_STREAM_REC), NULL, 0);
        char name[32];
        snprintf(name, sizeof name, "S%05d", i + 1);
        if (dataset_add(ds, name, buf, len, labels[i], e) != 0) {
            for (int k = n0; k < ds->n; k++)
                free(ds->recs[k].x);
            ds->n = n0;
            free(labels);
            free(buf);
            return -1;
        }
    }
    free(labels);
    free(buf);
    return 0;
}

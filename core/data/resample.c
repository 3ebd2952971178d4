/* scipy.signal.resample for one real record (see resample.h). FFTW rather
 * than a hand-written FFT: CinC 2017 records trimmed to multiples of 256 have
 * lengths 256 * k with k up to 71, so the transforms have large prime factors
 * (71, 67, 61, ...); FFTW handles those in O(n log n) (Rader, Bluestein-like
 * generic codelets) and is exact to rounding, where a mixed-radix FFT with
 * naive prime butterflies costs O(n * p) and Bluestein by hand is another few
 * hundred lines to test. */
#include "data/resample.h"

#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

struct resample_plan {
    int n;
    fftw_plan fwd; /* r2c of length n: re -> spec */
};

/* Grows the scratch buffers to hold cap samples (and cap/2+1 bins). Plans
 * made on the old buffers stay valid: they are run with the new-array
 * execute functions, and fftw_malloc always returns the same (SIMD)
 * alignment. */
static int rs_reserve(resampler *r, int cap, rerr *e)
{
    if (cap <= r->cap)
        return 0;
    double *re = fftw_malloc(sizeof *re * (size_t)cap);
    fftw_complex *spec = fftw_malloc(sizeof *spec * ((size_t)cap / 2 + 1));
    if (!re || !spec) {
        fftw_free(re);
        fftw_free(spec);
        return rerr_set(e, "resample: out of memory for %d samples", cap);
    }
    fftw_free(r->re);
    fftw_free(r->spec);
    r->re = re;
    r->spec = spec;
    r->cap = cap;
    return 0;
}

int resampler_init(resampler *r, int m, rerr *e)
{
    memset(r, 0, sizeof *r);
    if (m < 1)
        return rerr_set(e, "resample: bad output length %d", m);
    r->m = m;
    if (rs_reserve(r, m, e) != 0)
        return -1;
    /* FFTW_ESTIMATE plans without running trial transforms: planning costs
     * microseconds and never touches the arrays' contents. */
    r->inv = fftw_plan_dft_c2r_1d(m, (fftw_complex *)r->spec, r->re, FFTW_ESTIMATE);
    if (!r->inv) {
        resampler_free(r);
        return rerr_set(e, "resample: FFTW could not plan a length-%d inverse transform", m);
    }
    return 0;
}

void resampler_free(resampler *r)
{
    for (int i = 0; i < r->nplans; i++)
        fftw_destroy_plan(r->plans[i].fwd);
    free(r->plans);
    if (r->inv)
        fftw_destroy_plan((fftw_plan)r->inv);
    fftw_free(r->re);
    fftw_free(r->spec);
    memset(r, 0, sizeof *r);
}

/* The cached r2c plan for length n, made on first use. */
static fftw_plan rs_forward(resampler *r, int n, rerr *e)
{
    for (int i = 0; i < r->nplans; i++)
        if (r->plans[i].n == n)
            return r->plans[i].fwd;
    if (r->nplans == r->plans_cap) {
        int cap = r->plans_cap ? 2 * r->plans_cap : 16;
        struct resample_plan *p = realloc(r->plans, sizeof *p * (size_t)cap);
        if (!p) {
            rerr_set(e, "resample: out of memory");
            return NULL;
        }
        r->plans = p;
        r->plans_cap = cap;
    }
    fftw_plan fwd = fftw_plan_dft_r2c_1d(n, r->re, (fftw_complex *)r->spec, FFTW_ESTIMATE);
    if (!fwd) {
        rerr_set(e, "resample: FFTW could not plan a length-%d transform", n);
        return NULL;
    }
    r->plans[r->nplans].n = n;
    r->plans[r->nplans].fwd = fwd;
    r->nplans++;
    return fwd;
}

int resampler_run(resampler *r, const float *x, int n, float *y, rerr *e)
{
    int m = r->m;
    if (n < 1)
        return rerr_set(e, "resample: empty input");
    if (n == m) {
        memcpy(y, x, sizeof *y * (size_t)n);
        return 0;
    }
    if (rs_reserve(r, n, e) != 0)
        return -1;
    fftw_plan fwd = rs_forward(r, n, e);
    if (!fwd)
        return -1;
    double *re = r->re;
    fftw_complex *spec = r->spec;
    for (int i = 0; i < n; i++)
        re[i] = x[i];
    fftw_execute_dft_r2c(fwd, re, spec); /* spec[0 .. n/2] = X */

    /* scipy: Y = zeros(m//2 + 1); N = min(m, n); Y[:N//2 + 1] = X[:N//2 + 1] */
    int N = m < n ? m : n;
    for (int k = N / 2 + 1; k <= m / 2; k++)
        spec[k][0] = spec[k][1] = 0.0;
    if (N % 2 == 0) {
        /* N/2 is the Nyquist bin of the shorter signal. Downsampling: the
         * output's Nyquist takes X[+N/2] + X[-N/2] = 2 X[N/2]. Upsampling:
         * the input's Nyquist splits into halves at +N/2 and -N/2 (the
         * second is implied by the Hermitian symmetry of irfft). */
        double f = m < n ? 2.0 : 0.5;
        spec[N / 2][0] *= f;
        spec[N / 2][1] *= f;
    }
    /* irfft ignores the imaginary parts of the DC and (even m) Nyquist bins */
    spec[0][1] = 0.0;
    if (m % 2 == 0)
        spec[m / 2][1] = 0.0;
    fftw_execute_dft_c2r((fftw_plan)r->inv, spec, re);
    /* FFTW's inverse is unnormalised: irfft = c2r / m, and scipy scales by
     * m / n, so together c2r / n. */
    double scale = 1.0 / n;
    for (int i = 0; i < m; i++)
        y[i] = (float)(re[i] * scale);
    return 0;
}

/* Fourier resampling of a record to a fixed length, as scipy.signal.resample
 * does it (the pytorch-ref protocol resamples every CinC 2017 record to 8960
 * samples with it): rfft, keep or zero-pad the spectrum, irfft, scale by
 * new/old length. Built on FFTW (double precision), whose plans for each
 * input length are cached in the resampler. */
#ifndef RESECG_RESAMPLE_H
#define RESECG_RESAMPLE_H

#include "base/util.h"

struct resample_plan;

typedef struct resampler {
    int m;                       /* output length */
    int cap;                     /* scratch capacity, samples */
    double *re;                  /* (cap) real input / output, fftw_malloc'd */
    void *spec;                  /* (cap / 2 + 1) complex spectrum, fftw_malloc'd */
    void *inv;                   /* fftw_plan: c2r of length m */
    struct resample_plan *plans; /* one r2c plan per input length seen */
    int nplans, plans_cap;
} resampler;

/* Prepares resampling to m samples. FFTW's planner is not thread-safe:
 * one resampler per thread, and no resampler in two threads at once. */
int resampler_init(resampler *r, int m, rerr *e);
void resampler_free(resampler *r);

/* y (r->m) = scipy.signal.resample(x (n), r->m), computed in double. When
 * the output is shorter, the new Nyquist bin gets twice the input's bin
 * (scipy folds the negative frequency onto it); when longer, the old Nyquist
 * bin is halved between the positive and negative frequency, as scipy does
 * (checked against scipy 1.10). n == m returns x unchanged (scipy's
 * rfft/irfft round trip differs from it by rounding only). */
int resampler_run(resampler *r, const float *x, int n, float *y, rerr *e);

#endif

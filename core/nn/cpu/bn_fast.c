/* The "cpu" backend's batch norm + ReLU + dropout backward: the contract of
 * cpu_bnrelu_backward (layers.h), with the per-row sums of its first pass in
 * float vectors instead of double, which the reference keeps so that it
 * stays the better oracle. The kernel is memory-bound (it reads three
 * activation tensors twice and writes one); the double conversions made
 * the reference's first pass the slower half (bench/PERF.md). Tested
 * against the reference in tests/test_layers.c.
 *
 * Rounding: each row's float sum runs over L/16 terms per SIMD lane, the
 * rows are then added in double, so the relative error of dgamma and dbeta
 * stays near 1e-6 for the network's rows (L <= 8960). Threads split
 * channels; each channel is summed whole by one thread in a fixed order. */
#include "nn/cpu/isa.h" /* first: the names of the _v3 / _v4 copies (isa.h) */
#include "nn/backend.h"
#include "nn/cpu/cpu.h"

#define PAR_MIN_WORK 32768L

void fast_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                          const float *out, const float *inp, const float *mean,
                          const float *rstd, const float *gamma, int B, int C, int L,
                          float drop_p)
{
    // dinp (B, C, L) =, dgamma (C) =, dbeta (C) =, dout (B, C, L), out (B, C, L),
    // inp (B, C, L), mean (C), rstd (C), gamma (C)
    // As the reference: with xhat = (x - mean) * rstd and dy = dout through
    // the ReLU/dropout mask (out > 0, slope 1/(1-p)),
    //   dbeta = sum dy, dgamma = sum dy * xhat,
    //   dx = gamma * rstd * (dy - dbeta / n - xhat * dgamma / n);
    // here sum dy * (x - mean) is taken first and scaled by rstd once.
    const long n = (long)B * L;
    const float keep_scale = drop_p < 1.0f ? 1.0f / (1.0f - drop_p) : 0.0f;

#pragma omp parallel for schedule(static) if ((long)C * n >= PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        const float m = mean[c], rs = rstd[c];
        double sdy = 0.0, sdxm = 0.0;
        for (int b = 0; b < B; b++) {
            const long off = ((long)b * C + c) * L;
            const float *x = inp + off, *o = out + off, *g = dout + off; // (L)
            float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
            for (int l = 0; l < L; l++) {
                float dy = o[l] > 0.0f ? g[l] * keep_scale : 0.0f;
                s1 += dy;
                s2 += dy * (x[l] - m);
            }
            sdy += s1;
            sdxm += s2;
        }
        const double sdyx = sdxm * rs;
        dbeta[c] = (float)sdy;
        dgamma[c] = (float)sdyx;
        const float k = gamma[c] * rs;
        const float mdy = (float)(sdy / (double)n);
        const float mdyx = (float)(sdyx / (double)n);
        for (int b = 0; b < B; b++) {
            const long off = ((long)b * C + c) * L;
            const float *x = inp + off, *o = out + off, *g = dout + off; // (L)
            float *dx = dinp + off;                                      // (L)
#pragma omp simd
            for (int l = 0; l < L; l++) {
                float dy = o[l] > 0.0f ? g[l] * keep_scale : 0.0f;
                float xhat = (x[l] - m) * rs;
                dx[l] = k * (dy - mdy - xhat * mdyx);
            }
        }
    }
}

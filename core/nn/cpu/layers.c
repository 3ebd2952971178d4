/* Plain C reference kernels for everything in layers.h except the convolution
 * (conv_ref.c): batch norm + ReLU + dropout, the residual shortcut, the
 * per-frame dense layer and the residual add. They are the oracle the fast
 * paths are tested against, and the fast CPU backend uses them as they are
 * (only its convolutions go to oneDNN), so inner loops run contiguously over
 * L where the compiler can vectorise them.
 *
 * Threads: every loop that OpenMP splits is split over channels, rows or
 * samples, and each reduction (a channel's BN sums, one weight's gradient)
 * is done whole by one thread in a fixed order, so results do not depend on
 * the thread count at all. */
#include "nn/cpu/isa.h" /* first: the names of the _v3 / _v4 copies (isa.h) */
#include "nn/layers.h"

#include <math.h>
#include <string.h>

#include "nn/rng.h"

/* Below this many elements a kernel stays on the calling thread: forking the
 * team costs more than the work. It only changes who computes what, never
 * the order of a reduction. */
#define PAR_MIN_WORK 32768L

/* Inverted-dropout keep test for element (b, c, l) of a (B, C, L) tensor:
 * the top 24 bits of rng_hash3(seed, b*C + c, l) as a uniform u in [0, 1)
 * (as rng_uniform draws), kept iff u >= p, so P(keep) = 1 - p. A fast path
 * (CUDA) must reproduce exactly this to share masks with the reference. */
static inline int dropout_keep(uint64_t seed, uint64_t row, uint64_t l, float p)
{
    float u = (float)(rng_hash3(seed, row, l) >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

/* 1 / (1 - p): the scale of a kept element; 0 when p >= 1 (nothing is kept,
 * and the backward's out > 0 mask never reads it). */
static inline float dropout_scale(float p)
{
    return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
}

/* Mean and biased variance of channel c over (B, L), in double, two passes
 * (the second on deviations, so a large mean costs no precision). Returns
 * the sum of squared deviations through *ssq for the unbiased variance. */
static void bn_channel_stats(double *mean, double *ssq, const float *inp, int B, int C, int L,
                             int c)
{
    const double n = (double)B * L;
    double s = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = inp + ((long)b * C + c) * L; // (L)
        double sb = 0.0;
#pragma omp simd reduction(+ : sb)
        for (int l = 0; l < L; l++)
            sb += x[l];
        s += sb;
    }
    const double mu = s / n;
    double ss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = inp + ((long)b * C + c) * L; // (L)
        double sb = 0.0;
#pragma omp simd reduction(+ : sb)
        for (int l = 0; l < L; l++) {
            double d = (double)x[l] - mu;
            sb += d * d;
        }
        ss += sb;
    }
    *mean = mu;
    *ssq = ss;
}

void cpu_bnrelu_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta,
                        float *running_mean, float *running_var,
                        int B, int C, int L, float momentum, float eps, int training,
                        float drop_p, uint64_t drop_seed)
{
    // out (B, C, L), mean (C), rstd (C), inp (B, C, L), gamma (C), beta (C),
    // running_mean (C), running_var (C)
    const long n = (long)B * L;
    const int dropout = training && drop_p > 0.0f;
    const float keep_scale = dropout_scale(drop_p);

#pragma omp parallel for schedule(static) if ((long)C * n >= PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        float m, rs;
        if (training) {
            double mu, ss;
            bn_channel_stats(&mu, &ss, inp, B, C, L, c);
            double var = ss / (double)n;                           // normalises (biased)
            double var_unbiased = n > 1 ? ss / (double)(n - 1) : var; // running estimate
            m = (float)mu;
            rs = (float)(1.0 / sqrt(var + (double)eps));
            mean[c] = m;
            rstd[c] = rs;
            // Keras: moving = momentum * moving + (1 - momentum) * batch
            // (PyTorch's momentum is 1 - Keras').
            running_mean[c] = momentum * running_mean[c] + (1.0f - momentum) * (float)mu;
            running_var[c] = momentum * running_var[c] + (1.0f - momentum) * (float)var_unbiased;
        } else {
            m = running_mean[c];
            rs = 1.0f / sqrtf(running_var[c] + eps);
        }
        // gamma * (x - mean) * rstd + beta: subtracting the mean first keeps
        // the precision that x * scale + shift would lose to cancellation.
        const float scale = gamma[c] * rs;
        const float shift = beta[c];
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((long)b * C + c) * L; // (L)
            float *o = out + ((long)b * C + c) * L;       // (L)
#pragma omp simd
            for (int l = 0; l < L; l++) {
                float y = (x[l] - m) * scale + shift;
                o[l] = y > 0.0f ? y : 0.0f;
            }
            if (dropout) {
                // The hash is a call per element; kept in its own loop so the
                // loop above still vectorises.
                const uint64_t row = (uint64_t)b * (uint64_t)C + (uint64_t)c;
                for (int l = 0; l < L; l++)
                    o[l] = dropout_keep(drop_seed, row, (uint64_t)l, drop_p) ? o[l] * keep_scale
                                                                             : 0.0f;
            }
        }
    }
}

void cpu_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                         const float *out, const float *inp, const float *mean,
                         const float *rstd, const float *gamma, const float *beta,
                         int B, int C, int L, float drop_p)
{
    // dinp (B, C, L), dgamma (C), dbeta (C), dout (B, C, L), out (B, C, L),
    // inp (B, C, L), mean (C), rstd (C), gamma (C)
    //
    // With xhat = (x - mean) * rstd, y = gamma * xhat + beta and dy the
    // gradient at y (dout through the ReLU and dropout mask):
    //   dbeta  = sum dy,  dgamma = sum dy * xhat,
    //   dx     = gamma * rstd * (dy - dbeta / n - xhat * dgamma / n)
    // (the batch mean and variance depend on every x of the channel).
    (void)beta; // y itself is never needed: the mask comes from out
    const long n = (long)B * L;
    const float keep_scale = dropout_scale(drop_p); // 1 when drop_p == 0

#pragma omp parallel for schedule(static) if ((long)C * n >= PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        const float m = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++) {
            const long off = ((long)b * C + c) * L;
            const float *x = inp + off, *o = out + off, *g = dout + off; // (L)
            double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
            for (int l = 0; l < L; l++) {
                // out > 0 iff the ReLU passed and dropout kept the element
                float dy = o[l] > 0.0f ? g[l] * keep_scale : 0.0f;
                float xhat = (x[l] - m) * rs;
                s1 += dy;
                s2 += (double)dy * xhat;
            }
            sdy += s1;
            sdyx += s2;
        }
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

void cpu_shortcut_forward(float *out, const float *inp, int B, int Cin, int Cout, int L, int pool)
{
    // out (B, Cout, L / pool), inp (B, Cin, L)
    const int Lout = L / pool; // Keras "valid": a partial last window is dropped
    const long rows = (long)B * Cout;

#pragma omp parallel for schedule(static) if (rows * L >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const int b = (int)(r / Cout), c = (int)(r % Cout);
        float *o = out + r * Lout; // (Lout)
        if (c >= Cin) {
            // awni/ecg pads the shortcut with zero channels when the width doubles
            memset(o, 0, (size_t)Lout * sizeof *o);
            continue;
        }
        const float *x = inp + ((long)b * Cin + c) * L; // (L)
        if (pool == 1) {
            memcpy(o, x, (size_t)Lout * sizeof *o);
            continue;
        }
        for (int j = 0; j < Lout; j++) {
            const float *w = x + (long)j * pool;
            float mx = w[0];
            for (int k = 1; k < pool; k++)
                mx = w[k] > mx ? w[k] : mx;
            o[j] = mx;
        }
    }
}

void cpu_shortcut_backward(float *dinp, const float *dout, const float *inp,
                           int B, int Cin, int Cout, int L, int pool)
{
    // dinp (B, Cin, L) +=, dout (B, Cout, L / pool), inp (B, Cin, L)
    // dout's appended channels (>= Cin) come from constants: no gradient.
    const int Lout = L / pool;
    const long rows = (long)B * Cin;

#pragma omp parallel for schedule(static) if (rows * L >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const int b = (int)(r / Cin), c = (int)(r % Cin);
        const float *x = inp + r * L;                      // (L)
        const float *g = dout + ((long)b * Cout + c) * Lout; // (Lout)
        float *dx = dinp + r * L;                          // (L)
        if (pool == 1) {
#pragma omp simd
            for (int l = 0; l < Lout; l++)
                dx[l] += g[l];
            continue;
        }
        for (int j = 0; j < Lout; j++) {
            const long base = (long)j * pool;
            int arg = 0; // first maximum wins ties, as PyTorch's max_pool1d
            for (int k = 1; k < pool; k++)
                if (x[base + k] > x[base + arg])
                    arg = k;
            dx[base + arg] += g[j];
        }
    }
}

void cpu_dense_forward(float *out, const float *inp, const float *w, const float *b,
                       int B, int C, int T, int K)
{
    // out (B, T, K), inp (B, C, T), w (K, C), b (K)
    // Tiny next to the convolutions (K classes, T frames), so it favours a
    // double accumulator, which makes it a better oracle, over speed.
#pragma omp parallel for schedule(static) if ((long)B * C * T * K >= PAR_MIN_WORK)
    for (int bi = 0; bi < B; bi++) {
        const float *x = inp + (long)bi * C * T; // (C, T)
        float *o = out + (long)bi * T * K;       // (T, K)
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < K; k++) {
                const float *wk = w + (long)k * C; // (C)
                double s = b[k];
                for (int c = 0; c < C; c++)
                    s += (double)x[(long)c * T + t] * wk[c];
                o[(long)t * K + k] = (float)s;
            }
        }
    }
}

void cpu_dense_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int B, int C, int T, int K)
{
    // dinp (B, C, T) =, dw (K, C) =, db (K) =, dout (B, T, K), inp (B, C, T), w (K, C)
    const int par = (long)B * C * T * K >= PAR_MIN_WORK;

    // dinp[b, c, t] = sum_k dout[b, t, k] w[k, c]
#pragma omp parallel for schedule(static) if (par)
    for (int bi = 0; bi < B; bi++) {
        const float *g = dout + (long)bi * T * K; // (T, K)
        float *dx = dinp + (long)bi * C * T;      // (C, T)
        for (int c = 0; c < C; c++) {
            for (int t = 0; t < T; t++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += (double)g[(long)t * K + k] * w[(long)k * C + c];
                dx[(long)c * T + t] = (float)s;
            }
        }
    }

    // dw[k, c] = sum_{b, t} dout[b, t, k] inp[b, c, t]: one thread owns a
    // whole column c, so each sum keeps its order whatever the thread count.
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < C; c++) {
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (int bi = 0; bi < B; bi++) {
                const float *g = dout + (long)bi * T * K;     // (T, K)
                const float *x = inp + ((long)bi * C + c) * T; // (T)
                for (int t = 0; t < T; t++)
                    s += (double)g[(long)t * K + k] * x[t];
            }
            dw[(long)k * C + c] = (float)s;
        }
    }

    // db[k] = sum_{b, t} dout[b, t, k]
    for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (long i = 0; i < (long)B * T; i++)
            s += dout[i * K + k];
        db[k] = (float)s;
    }
}

void cpu_add(float *y, const float *a, const float *b, long n)
{
    // y (n), a (n), b (n); y may alias a or b (element-wise)
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN_WORK)
    for (long i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

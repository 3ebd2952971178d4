/* Channels-last (B, L, C) kernels of the "cpu" backend in bf16 mode: see
 * nwc.h for the contract. Inner loops run over C, which is contiguous here,
 * so they vectorise across channels; a row is one time step of one sample. */
#include "nn/cpu/isa.h" /* first: the names of the _v3 / _v4 copies (isa.h) */
#include "nn/cpu/nwc.h"

#include <math.h>

#include "nn/rng.h"

/* Rows per partial sum: fixed, so the order of every reduction is too. */
#define NWC_CHUNK 256L
/* Below this many elements a kernel stays on the calling thread. */
#define PAR_MIN_WORK 32768L

static long nchunks(long rows) { return (rows + NWC_CHUNK - 1) / NWC_CHUNK; }

size_t nwc_bn_scratch(int B, int C, int L)
{
    // two sums per channel per chunk (the backward's dy and dy (x - mean)),
    // then per-channel values: two double arrays and three float ones
    return (2 * (size_t)nchunks((long)B * L) + 4) * (size_t)C;
}

/* As layers.c: the keep test for logical element (b, c, l), and 1 / (1 - p). */
static inline int dropout_keep(uint64_t seed, uint64_t row, uint64_t l, float p)
{
    float u = (float)(rng_hash3(seed, row, l) >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}
static inline float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

/* Channels per register block of the sums: 16 floats, one AVX-512 vector. */
#define CBLK 16

/* For every chunk k of rows: part[k C + c] = the sum over the chunk's rows
 * of x[c] (mu NULL) or of (x[c] - mu[c])^2, in float (256 terms), by blocks
 * of CBLK channels so the sums stay in registers; then tot[c] = the chunk
 * sums added in chunk order, in double. */
static void channel_sums(double *tot, double *part, const float *x, const float *mu, long rows,
                         int C)
{
    const long nk = nchunks(rows);
#pragma omp parallel for schedule(static) if (rows * C >= PAR_MIN_WORK)
    for (long k = 0; k < nk; k++) {
        const long r0 = k * NWC_CHUNK, r1 = r0 + NWC_CHUNK < rows ? r0 + NWC_CHUNK : rows;
        for (int c0 = 0; c0 < C; c0 += CBLK) {
            const int w = C - c0 < CBLK ? C - c0 : CBLK;
            float acc[CBLK] = {0}, m[CBLK] = {0};
            if (mu)
                for (int j = 0; j < w; j++)
                    m[j] = mu[c0 + j];
            for (long r = r0; r < r1; r++) {
                const float *xr = x + r * C + c0; // (w)
                if (w == CBLK) {
#pragma omp simd
                    for (int j = 0; j < CBLK; j++) {
                        float d = xr[j] - m[j];
                        acc[j] += mu ? d * d : d;
                    }
                } else {
                    for (int j = 0; j < w; j++) {
                        float d = xr[j] - m[j];
                        acc[j] += mu ? d * d : d;
                    }
                }
            }
            for (int j = 0; j < w; j++)
                part[k * C + c0 + j] = acc[j];
        }
    }
    for (int c = 0; c < C; c++)
        tot[c] = 0.0;
    for (long k = 0; k < nk; k++)
        for (int c = 0; c < C; c++)
            tot[c] += part[k * C + c];
}

void nwc_bnrelu_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, int B, int C, int L, float momentum, float eps,
                        int training, float drop_p, uint64_t drop_seed, double *ws)
{
    // out (B, L, C), mean (C), rstd (C), inp (B, L, C), gamma, beta,
    // running_mean, running_var (C); ws: nwc_bn_scratch(B, C, L) doubles
    const long rows = (long)B * L, n = rows;
    const int dropout = training && drop_p > 0.0f;
    const float keep_scale = dropout_scale(drop_p);
    // ws: the partial sums, then per channel the mean and the sums in
    // double, and the mean, scale and shift in float
    double *part = ws;
    double *mu = ws + 2 * nchunks(rows) * C, *tot = mu + C;
    float *m = (float *)(tot + C), *scale = m + C, *shift = scale + C;
    if (training) {
        // two passes as the reference: the mean, then squared deviations
        channel_sums(tot, part, inp, NULL, rows, C);
        for (int c = 0; c < C; c++) {
            mu[c] = tot[c] / (double)n;
            m[c] = (float)mu[c];
        }
        channel_sums(tot, part, inp, m, rows, C);
        for (int c = 0; c < C; c++) {
            double var = tot[c] / (double)n;
            double var_unbiased = n > 1 ? tot[c] / (double)(n - 1) : var;
            float rs = (float)(1.0 / sqrt(var + (double)eps));
            mean[c] = m[c];
            rstd[c] = rs;
            running_mean[c] = momentum * running_mean[c] + (1.0f - momentum) * (float)mu[c];
            running_var[c] =
                momentum * running_var[c] + (1.0f - momentum) * (float)var_unbiased;
            scale[c] = gamma[c] * rs;
            shift[c] = beta[c];
        }
    } else {
        for (int c = 0; c < C; c++) {
            m[c] = running_mean[c];
            scale[c] = gamma[c] * (1.0f / sqrtf(running_var[c] + eps));
            shift[c] = beta[c];
        }
    }
#pragma omp parallel for schedule(static) if (rows * C >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const float *x = inp + r * C; // (C)
        float *o = out + r * C;       // (C)
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float y = (x[c] - m[c]) * scale[c] + shift[c];
            o[c] = y > 0.0f ? y : 0.0f;
        }
        if (dropout) {
            const uint64_t b = (uint64_t)(r / L), l = (uint64_t)(r % L);
            for (int c = 0; c < C; c++)
                o[c] = dropout_keep(drop_seed, b * (uint64_t)C + (uint64_t)c, l, drop_p)
                           ? o[c] * keep_scale
                           : 0.0f;
        }
    }
}

void nwc_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                         const float *out, const float *inp, const float *mean,
                         const float *rstd, const float *gamma, int B, int C, int L,
                         float drop_p, double *ws)
{
    // dinp (B, L, C) =, dgamma (C) =, dbeta (C) =, dout, out, inp (B, L, C),
    // mean, rstd, gamma (C). As cpu_bnrelu_backward: with dy = dout through
    // the ReLU/dropout mask (out > 0, slope 1/(1-p)) and xhat = (x - mean) rstd,
    //   dbeta = sum dy, dgamma = sum dy xhat,
    //   dx = gamma rstd (dy - dbeta / n - xhat dgamma / n).
    const long rows = (long)B * L, n = rows;
    const long nk = nchunks(rows);
    const float keep_scale = dropout_scale(drop_p);
    double *p1 = ws, *p2 = ws + nk * C; // (nk, C) each
#pragma omp parallel for schedule(static) if (rows * C >= PAR_MIN_WORK)
    for (long k = 0; k < nk; k++) {
        const long r0 = k * NWC_CHUNK, r1 = r0 + NWC_CHUNK < rows ? r0 + NWC_CHUNK : rows;
        for (int c0 = 0; c0 < C; c0 += CBLK) {
            // in float per chunk as bn_fast.c: sum dy and sum dy (x - mean),
            // the second scaled by rstd once per channel below
            const int w = C - c0 < CBLK ? C - c0 : CBLK;
            float s1[CBLK] = {0}, s2[CBLK] = {0}, m[CBLK] = {0};
            for (int j = 0; j < w; j++)
                m[j] = mean[c0 + j];
            for (long r = r0; r < r1; r++) {
                const long o0 = r * C + c0;
                const float *x = inp + o0, *o = out + o0, *g = dout + o0; // (w)
                if (w == CBLK) {
#pragma omp simd
                    for (int j = 0; j < CBLK; j++) {
                        float dy = o[j] > 0.0f ? g[j] * keep_scale : 0.0f;
                        s1[j] += dy;
                        s2[j] += dy * (x[j] - m[j]);
                    }
                } else {
                    for (int j = 0; j < w; j++) {
                        float dy = o[j] > 0.0f ? g[j] * keep_scale : 0.0f;
                        s1[j] += dy;
                        s2[j] += dy * (x[j] - m[j]);
                    }
                }
            }
            for (int j = 0; j < w; j++) {
                p1[k * C + c0 + j] = s1[j];
                p2[k * C + c0 + j] = s2[j];
            }
        }
    }
    float *k_ = (float *)(p2 + nk * C), *mdy = k_ + C, *mdyx = mdy + C;
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdxm = 0.0;
        for (long k = 0; k < nk; k++) {
            sdy += p1[k * C + c];
            sdxm += p2[k * C + c];
        }
        const double sdyx = sdxm * rstd[c];
        dbeta[c] = (float)sdy;
        dgamma[c] = (float)sdyx;
        k_[c] = gamma[c] * rstd[c];
        mdy[c] = (float)(sdy / (double)n);
        mdyx[c] = (float)(sdyx / (double)n);
    }
#pragma omp parallel for schedule(static) if (rows * C >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const float *x = inp + r * C, *o = out + r * C, *g = dout + r * C; // (C)
        float *dx = dinp + r * C;                                          // (C)
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float dy = o[c] > 0.0f ? g[c] * keep_scale : 0.0f;
            float xhat = (x[c] - mean[c]) * rstd[c];
            dx[c] = k_[c] * (dy - mdy[c] - xhat * mdyx[c]);
        }
    }
}

void nwc_shortcut_forward(float *out, const float *inp, int B, int Cin, int Cout, int L, int pool)
{
    // out (B, L / pool, Cout), inp (B, L, Cin)
    const int Lout = L / pool; // Keras "valid": a partial last window is dropped
    const long rows = (long)B * Lout;
#pragma omp parallel for schedule(static) if (rows * Cout * pool >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const long b = r / Lout, j = r % Lout;
        const float *x = inp + (b * L + j * pool) * Cin; // (pool, Cin)
        float *o = out + r * Cout;                       // (Cout)
        for (int c = 0; c < Cin; c++)
            o[c] = x[c];
        for (int k = 1; k < pool; k++) {
            const float *xk = x + (long)k * Cin;
#pragma omp simd
            for (int c = 0; c < Cin; c++)
                o[c] = xk[c] > o[c] ? xk[c] : o[c];
        }
        for (int c = Cin; c < Cout; c++)
            o[c] = 0.0f; // zero channels appended when the width doubles
    }
}

void nwc_shortcut_backward(float *dinp, const float *dout, const float *inp, int B, int Cin,
                           int Cout, int L, int pool)
{
    // dinp (B, L, Cin) +=, dout (B, L / pool, Cout), inp (B, L, Cin); the
    // gradient goes to the first maximum of each window, as PyTorch
    const int Lout = L / pool;
    const long rows = (long)B * Lout;
#pragma omp parallel for schedule(static) if (rows * Cin * pool >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const long b = r / Lout, j = r % Lout;
        const long base = (b * L + j * pool) * Cin;
        const float *x = inp + base; // (pool, Cin)
        const float *g = dout + r * Cout;
        float *dx = dinp + base;
        if (pool == 1) {
#pragma omp simd
            for (int c = 0; c < Cin; c++)
                dx[c] += g[c];
            continue;
        }
        if (pool == 2) {
            const float *x1 = x + Cin;
            float *dx1 = dx + Cin;
#pragma omp simd
            for (int c = 0; c < Cin; c++) {
                // the first maximum wins ties: the second only if strictly larger
                const int second = x1[c] > x[c];
                dx[c] += second ? 0.0f : g[c];
                dx1[c] += second ? g[c] : 0.0f;
            }
            continue;
        }
        for (int c = 0; c < Cin; c++) {
            int arg = 0;
            for (int k = 1; k < pool; k++)
                if (x[(long)k * Cin + c] > x[(long)arg * Cin + c])
                    arg = k;
            dx[(long)arg * Cin + c] += g[c];
        }
    }
}

static inline float rnd(float x, int bf16) { return bf16 ? bf16_round(x) : x; }

void nwc_dense_forward(float *out, const float *inp, const float *w, const float *b, int B,
                       int C, int T, int K, int bf16)
{
    // out (B, T, K), inp (B, T, C), w (K, C), b (K); one row is one frame
    const long rows = (long)B * T;
#pragma omp parallel for schedule(static) if (rows * C * K >= PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const float *x = inp + r * C; // (C)
        for (int k = 0; k < K; k++) {
            const float *wk = w + (long)k * C; // (C)
            double s = b[k];
            for (int c = 0; c < C; c++)
                s += (double)rnd(x[c], bf16) * rnd(wk[c], bf16);
            out[r * K + k] = (float)s;
        }
    }
}

void nwc_dense_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int B, int C, int T, int K, int bf16)
{
    // dinp (B, T, C) =, dw (K, C) =, db (K) =, dout (B, T, K), inp (B, T, C), w (K, C)
    const long rows = (long)B * T;
    const int par = rows * C * K >= PAR_MIN_WORK;
#pragma omp parallel for schedule(static) if (par)
    for (long r = 0; r < rows; r++) {
        const float *g = dout + r * K; // (K)
        float *dx = dinp + r * C;      // (C)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)rnd(g[k], bf16) * rnd(w[(long)k * C + c], bf16);
            dx[c] = (float)s;
        }
    }
    // dw[k, c] = sum over rows of dout[r, k] inp[r, c]: one thread owns a
    // column c, summed in row order whatever the thread count
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < C; c++) {
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (long r = 0; r < rows; r++)
                s += (double)rnd(dout[r * K + k], bf16) * rnd(inp[r * C + c], bf16);
            dw[(long)k * C + c] = (float)s;
        }
    }
    for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (long r = 0; r < rows; r++)
            s += rnd(dout[r * K + k], bf16);
        db[k] = (float)s;
    }
}

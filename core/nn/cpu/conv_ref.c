/* The plain C 1-D convolution with TensorFlow "same" padding: the oracle that
 * the oneDNN and CUDA convolutions are tested against (see layers.h for the
 * contract). Written for obviousness first: direct loops, inner loop over
 * output positions so the compiler vectorises it, OpenMP only over indices
 * that own their outputs, so no sum is ever split across threads. */
#include "nn/layers.h"

#include <stddef.h>

void conv_dims_same(conv_dims *d, int B, int Cin, int Cout, int L, int K, int stride)
{
    d->B = B;
    d->Cin = Cin;
    d->Cout = Cout;
    d->L = L;
    d->K = K;
    d->stride = stride;
    // TensorFlow "same": Lout = ceil(L / stride); the total pad makes the last
    // window end at the last input (or beyond it) and the odd element of the
    // pad goes to the right (pad_left = total / 2 rounds down).
    d->Lout = (L + stride - 1) / stride;
    int total = (d->Lout - 1) * stride + K - L;
    if (total < 0)
        total = 0;
    d->pad_left = total / 2;
}

/* The output positions t whose window touches input index t*stride + k - pad
 * inside [0, L): t in [*t0, *t1). Hoisting the bounds out of the inner loop
 * keeps it branch-free. */
static void conv_valid_range(int *t0, int *t1, int k, const conv_dims *d)
{
    int s = d->stride;
    int off = k - d->pad_left; // input index of output 0 for tap k
    // first t with t*s + off >= 0
    int lo = off >= 0 ? 0 : (-off + s - 1) / s;
    // first t with t*s + off >= L
    int hi = d->L - off <= 0 ? 0 : (d->L - off + s - 1) / s;
    if (hi > d->Lout)
        hi = d->Lout;
    if (lo > hi)
        lo = hi;
    *t0 = lo;
    *t1 = hi;
}

void cpu_conv1d_forward(float *out, const float *inp, const float *w, const float *b,
                        const conv_dims *d)
{
    // out (B, Cout, Lout), inp (B, Cin, L), w (Cout, Cin, K), b (Cout)
    // out[b, co, t] = b[co] + sum_{ci, k} w[co, ci, k] * inp[b, ci, t*s + k - pad_left],
    // with inputs outside [0, L) read as zero. Each (b, co) row is owned by
    // one thread and summed over (ci, k) in a fixed order.
    const int B = d->B, Cin = d->Cin, Cout = d->Cout, L = d->L, Lout = d->Lout, K = d->K;
    const int s = d->stride, pad = d->pad_left;
#pragma omp parallel for collapse(2) schedule(static)
    for (int bi = 0; bi < B; bi++) {
        for (int co = 0; co < Cout; co++) {
            float *o = out + ((size_t)bi * Cout + co) * Lout;
            const float bias = b[co];
            for (int t = 0; t < Lout; t++)
                o[t] = bias;
            for (int ci = 0; ci < Cin; ci++) {
                const float *x = inp + ((size_t)bi * Cin + ci) * L;
                const float *wr = w + ((size_t)co * Cin + ci) * K;
                for (int k = 0; k < K; k++) {
                    int t0, t1;
                    conv_valid_range(&t0, &t1, k, d);
                    const float wv = wr[k];
                    const int off = k - pad;
                    for (int t = t0; t < t1; t++)
                        o[t] += wv * x[t * s + off];
                }
            }
        }
    }
}

void cpu_conv1d_backward(float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, const conv_dims *d)
{
    // dinp (B, Cin, L) = (optional), dw (Cout, Cin, K) =, db (Cout) =
    // dout (B, Cout, Lout), inp (B, Cin, L), w (Cout, Cin, K)
    const int B = d->B, Cin = d->Cin, Cout = d->Cout, L = d->L, Lout = d->Lout, K = d->K;
    const int s = d->stride, pad = d->pad_left;

    // dinp[b, ci, t*s + k - pad] += w[co, ci, k] * dout[b, co, t]: the
    // transpose of the forward scatter. Each (b, ci) row is owned by one
    // thread and summed over (co, k) in a fixed order; float accumulation as
    // the forward (Cout*K/stride terms per element at most).
    if (dinp) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int bi = 0; bi < B; bi++) {
            for (int ci = 0; ci < Cin; ci++) {
                float *dx = dinp + ((size_t)bi * Cin + ci) * L;
                for (int j = 0; j < L; j++)
                    dx[j] = 0.0f;
                for (int co = 0; co < Cout; co++) {
                    const float *g = dout + ((size_t)bi * Cout + co) * Lout;
                    const float *wr = w + ((size_t)co * Cin + ci) * K;
                    for (int k = 0; k < K; k++) {
                        int t0, t1;
                        conv_valid_range(&t0, &t1, k, d);
                        const float wv = wr[k];
                        const int off = k - pad;
                        for (int t = t0; t < t1; t++)
                            dx[t * s + off] += wv * g[t];
                    }
                }
            }
        }
    }

    // dw[co, ci, k] = sum_{b, t} dout[b, co, t] * inp[b, ci, t*s + k - pad] and
    // db[co] = sum_{b, t} dout[b, co, t]. These are the long sums (B*Lout
    // terms, ~300k in training), so the oracle accumulates them in double:
    // its own rounding is then negligible next to any fp32 fast path. The
    // simd reduction order is fixed at compile time, not by the thread count.
#pragma omp parallel for schedule(static)
    for (int co = 0; co < Cout; co++) {
        double sb = 0.0;
        for (int bi = 0; bi < B; bi++) {
            const float *g = dout + ((size_t)bi * Cout + co) * Lout;
#pragma omp simd reduction(+ : sb)
            for (int t = 0; t < Lout; t++)
                sb += g[t];
        }
        db[co] = (float)sb;
        for (int ci = 0; ci < Cin; ci++) {
            for (int k = 0; k < K; k++) {
                int t0, t1;
                conv_valid_range(&t0, &t1, k, d);
                double acc = 0.0;
                for (int bi = 0; bi < B; bi++) {
                    const float *g = dout + ((size_t)bi * Cout + co) * Lout;
                    const float *x = inp + ((size_t)bi * Cin + ci) * L;
                    const int off = k - pad;
#pragma omp simd reduction(+ : acc)
                    for (int t = t0; t < t1; t++)
                        acc += (double)g[t] * (double)x[t * s + off];
                }
                dw[((size_t)co * Cin + ci) * K + k] = (float)acc;
            }
        }
    }
}

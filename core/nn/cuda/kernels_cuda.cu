/* The CUDA backend's own kernels: batch norm + ReLU + dropout forward and
 * backward, the residual shortcut (max-pool + zero channels), the residual
 * add, softmax with the three losses, the gradient's sum of squares, Adam,
 * and the small helpers of the convolution and dense layers (bias, shifted
 * copies, per-channel and per-column sums). Each mirrors the cpu_ reference
 * in core/nn/cpu/layers.c, core/nn/loss.c and core/nn/cpu/backend_cpu.c formula for
 * formula, in the same precision (double where the reference sums in
 * double), and tests/test_cuda.c checks each against it.
 *
 * Determinism: every reduction is split into a number of slices that depends
 * only on the tensor's shape (never on the GPU), each slice is summed by one
 * block in a fixed tree, and the slices are added in index order, so reruns
 * are bit-identical on any device. Nothing uses atomics. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/cuda_common.h"

#define THREADS 256 /* every kernel; a power of two for the tree reductions */

/* Blocks for a grid-stride loop over n elements. */
static unsigned int grid_for(long n)
{
    long g = (n + THREADS - 1) / THREADS;
    if (g < 1)
        g = 1;
    if (g > (1L << 20))
        g = 1L << 20;
    return (unsigned int)g;
}

/* Sum of v over the block, fixed tree order; sh has THREADS entries. */
__device__ static double block_sum(double v, double *sh)
{
    const int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            sh[t] += sh[t + s];
        __syncthreads();
    }
    const double r = sh[0];
    __syncthreads(); // sh may be reused right after
    return r;
}

/* p[0] + p[1] + ... + p[S-1] in index order. */
__device__ static double sum_slices(const double *p, int S)
{
    double s = 0.0;
    for (int i = 0; i < S; i++)
        s += p[i];
    return s;
}

/* The dropout hash of core/nn/rng.h (rng_mix64, rng_hash3), spelled again for
 * the device: the keep mask must be bit-identical to the reference's, which
 * tests/test_cuda.c checks element by element. */
__device__ __forceinline__ static uint64_t dev_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
__device__ __forceinline__ static uint64_t dev_hash3(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed ^ (a * 0xD6E8FEB86659FD93ull) ^ (b * 0xA0761D6478BD642Full);
    return dev_mix64(x + 2 * 0x9E3779B97F4A7C15ull);
}

/* 1 / (1 - p), 0 when p >= 1: as layers.c's dropout_scale. */
static float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

/* ---- per-channel reductions over (B, L) ----
 * A channel's n = B*L elements (index i = b*L + l) are cut into S slices of
 * `chunk`: about 1024 blocks in all, at least ~2048 elements per block. */
typedef struct chan_split {
    int S, chunk, n;
} chan_split;

static chan_split chan_split_for(int B, int C, int L)
{
    chan_split sp;
    long n = (long)B * L;
    RESECG_ASSERT(n >= 1 && n < (1L << 31));
    long s = (1024 + C - 1) / C, smax = (n + 2047) / 2048;
    if (s > smax)
        s = smax;
    if (s < 1)
        s = 1;
    sp.n = (int)n;
    sp.chunk = (int)((n + s - 1) / s);
    sp.S = (int)((n + sp.chunk - 1) / sp.chunk); // no empty slice
    return sp;
}

/* Reduction scratch for 2 x C x S partial sums (grown on a new shape
 * only); NULL, the backend's failure set, when it cannot grow. */
static double *red_partials(cuda_ctx *c, int C, int S)
{
    if (cuda_buf_reserve(c, &c->red, 2 * (size_t)C * (size_t)S * sizeof(double),
                         "reduction scratch") != 0)
        return NULL;
    return (double *)c->red.p;
}

/* MODE 0: part[c, s] = sum of x over slice s of channel c.
 * MODE 1: the same of (x - mu)^2, mu = sum_s sums[c, s] / n (two passes, as
 * the reference: deviations keep their precision whatever the mean). */
template <int MODE>
static __global__ void k_chan_partial(double *part, const double *sums, const float *x, int C,
                                      int L, int n, int chunk, int S)
{
    // part (C, S), sums (C, S), x (B, C, L)
    __shared__ double sh[THREADS];
    const int c = blockIdx.x, s = blockIdx.y;
    const double mu = MODE == 1 ? sum_slices(sums + (long)c * S, S) / (double)n : 0.0;
    const int lo = s * chunk, hi = min(n, lo + chunk);
    double acc = 0.0;
    for (int i = lo + threadIdx.x; i < hi; i += THREADS) {
        const int b = i / L, l = i - b * L;
        double v = (double)x[((long)b * C + c) * L + l];
        if (MODE == 1) {
            v -= mu;
            v *= v;
        }
        acc += v;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[(long)c * S + s] = acc;
}

/* out (C) = (float) sum_s part[c, s] */
static __global__ void k_slices_finish(float *out, const double *part, int C, int S)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C)
        out[c] = (float)sum_slices(part + (long)c * S, S);
}

void cuda_launch_channel_sum(cuda_ctx *c, float *db, const float *dout, int B, int C, int L)
{
    // db (C) =, dout (B, C, L): the conv bias gradient, in double as conv_ref.c
    chan_split sp = chan_split_for(B, C, L);
    double *part = red_partials(c, C, sp.S);
    if (!part)
        return;
    k_chan_partial<0>
        <<<dim3(C, sp.S), THREADS, 0, c->stream>>>(part, NULL, dout, C, L, sp.n, sp.chunk, sp.S);
    KERNEL_CHECK();
    k_slices_finish<<<(C + THREADS - 1) / THREADS, THREADS, 0, c->stream>>>(db, part, C, sp.S);
    KERNEL_CHECK();
}

/* ---- batch norm + ReLU + dropout ---- */

/* Training: block (c, s) derives the channel's mean and rstd from the
 * partial sums exactly as bn_channel_stats/cpu_bnrelu_forward do (double,
 * biased variance to normalise, unbiased into the running estimate, Keras
 * momentum), block (c, 0) stores them, and every block normalises its slice.
 * Eval: the running statistics, no dropout, mean/rstd untouched. */
static __global__ void k_bn_apply(float *out, float *mean, float *rstd, const float *inp,
                                  const float *gamma, const float *beta, float *running_mean,
                                  float *running_var, const double *psum, const double *pssq, int C,
                                  int L, int n, int chunk, int S, float momentum, float eps,
                                  int training, int dropout, float drop_p, float keep_scale,
                                  uint64_t seed)
{
    // out (B, C, L), mean (C), rstd (C), inp (B, C, L), gamma (C), beta (C),
    // running_mean (C), running_var (C), psum (C, S), pssq (C, S)
    __shared__ float sh_m, sh_rs;
    const int c = blockIdx.x, s = blockIdx.y;
    if (threadIdx.x == 0) {
        float m, rs;
        if (training) {
            const double mu = sum_slices(psum + (long)c * S, S) / (double)n;
            const double ss = sum_slices(pssq + (long)c * S, S);
            const double var = ss / (double)n;
            const double var_unbiased = n > 1 ? ss / (double)(n - 1) : var;
            m = (float)mu;
            rs = (float)(1.0 / sqrt(var + (double)eps));
            if (s == 0) {
                mean[c] = m;
                rstd[c] = rs;
                running_mean[c] = momentum * running_mean[c] + (1.0f - momentum) * (float)mu;
                running_var[c] =
                    momentum * running_var[c] + (1.0f - momentum) * (float)var_unbiased;
            }
        } else {
            m = running_mean[c];
            rs = 1.0f / sqrtf(running_var[c] + eps);
        }
        sh_m = m;
        sh_rs = rs;
    }
    __syncthreads();
    const float m = sh_m, scale = gamma[c] * sh_rs, shift = beta[c];
    const int lo = s * chunk, hi = min(n, lo + chunk);
    for (int i = lo + threadIdx.x; i < hi; i += THREADS) {
        const int b = i / L, l = i - b * L;
        const long off = ((long)b * C + c) * L + l;
        float y = (inp[off] - m) * scale + shift;
        y = y > 0.0f ? y : 0.0f;
        if (dropout) {
            const uint64_t row = (uint64_t)b * (uint64_t)C + (uint64_t)c;
            const float u = (float)(dev_hash3(seed, row, (uint64_t)l) >> 40) * (1.0f / 16777216.0f);
            y = u >= drop_p ? y * keep_scale : 0.0f;
        }
        out[off] = y;
    }
}

void cuda_launch_bnrelu_forward(cuda_ctx *c, float *out, float *mean, float *rstd, const float *inp,
                                const float *gamma, const float *beta, float *running_mean,
                                float *running_var, int B, int C, int L, float momentum, float eps,
                                int training, float drop_p, uint64_t drop_seed)
{
    chan_split sp = chan_split_for(B, C, L);
    const int dropout = training && drop_p > 0.0f;
    double *psum = NULL, *pssq = NULL;
    if (training) {
        psum = red_partials(c, C, sp.S);
        if (!psum)
            return;
        pssq = psum + (long)C * sp.S;
        k_chan_partial<0>
            <<<dim3(C, sp.S), THREADS, 0, c->stream>>>(psum, NULL, inp, C, L, sp.n, sp.chunk, sp.S);
        KERNEL_CHECK();
        k_chan_partial<1>
            <<<dim3(C, sp.S), THREADS, 0, c->stream>>>(pssq, psum, inp, C, L, sp.n, sp.chunk, sp.S);
        KERNEL_CHECK();
    }
    k_bn_apply<<<dim3(C, sp.S), THREADS, 0, c->stream>>>(
        out, mean, rstd, inp, gamma, beta, running_mean, running_var, psum, pssq, C, L, sp.n,
        sp.chunk, sp.S, momentum, eps, training, dropout, drop_p, dropout_scale(drop_p), drop_seed);
    KERNEL_CHECK();
}

/* Backward partial sums: sdy = sum dy, sdyx = sum dy * xhat, with dy the
 * gradient through the ReLU/dropout mask read from out (out > 0: passed,
 * slope 1/(1-p)), as cpu_bnrelu_backward. */
static __global__ void k_bnb_partial(double *p1, double *p2, const float *dout, const float *out,
                                     const float *inp, const float *mean, const float *rstd, int C,
                                     int L, int n, int chunk, int S, float keep_scale)
{
    __shared__ double sh[THREADS];
    const int c = blockIdx.x, s = blockIdx.y;
    const float m = mean[c], rs = rstd[c];
    const int lo = s * chunk, hi = min(n, lo + chunk);
    double a1 = 0.0, a2 = 0.0;
    for (int i = lo + threadIdx.x; i < hi; i += THREADS) {
        const int b = i / L, l = i - b * L;
        const long off = ((long)b * C + c) * L + l;
        const float dy = out[off] > 0.0f ? dout[off] * keep_scale : 0.0f;
        const float xhat = (inp[off] - m) * rs;
        a1 += dy;
        a2 += (double)dy * xhat;
    }
    a1 = block_sum(a1, sh);
    a2 = block_sum(a2, sh);
    if (threadIdx.x == 0) {
        p1[(long)c * S + s] = a1;
        p2[(long)c * S + s] = a2;
    }
}

/* dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat));
 * block (c, 0) stores dbeta = sum dy and dgamma = sum dy * xhat. */
static __global__ void k_bnb_apply(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                   const float *out, const float *inp, const float *mean,
                                   const float *rstd, const float *gamma, const double *p1,
                                   const double *p2, int C, int L, int n, int chunk, int S,
                                   float keep_scale)
{
    __shared__ float sh_mdy, sh_mdyx;
    const int c = blockIdx.x, s = blockIdx.y;
    if (threadIdx.x == 0) {
        const double sdy = sum_slices(p1 + (long)c * S, S);
        const double sdyx = sum_slices(p2 + (long)c * S, S);
        if (s == 0) {
            dbeta[c] = (float)sdy;
            dgamma[c] = (float)sdyx;
        }
        sh_mdy = (float)(sdy / (double)n);
        sh_mdyx = (float)(sdyx / (double)n);
    }
    __syncthreads();
    const float m = mean[c], rs = rstd[c], k = gamma[c] * rs;
    const float mdy = sh_mdy, mdyx = sh_mdyx;
    const int lo = s * chunk, hi = min(n, lo + chunk);
    for (int i = lo + threadIdx.x; i < hi; i += THREADS) {
        const int b = i / L, l = i - b * L;
        const long off = ((long)b * C + c) * L + l;
        const float dy = out[off] > 0.0f ? dout[off] * keep_scale : 0.0f;
        const float xhat = (inp[off] - m) * rs;
        dinp[off] = k * (dy - mdy - xhat * mdyx);
    }
}

void cuda_launch_bnrelu_backward(cuda_ctx *c, float *dinp, float *dgamma, float *dbeta,
                                 const float *dout, const float *out, const float *inp,
                                 const float *mean, const float *rstd, const float *gamma, int B,
                                 int C, int L, float drop_p)
{
    chan_split sp = chan_split_for(B, C, L);
    double *p1 = red_partials(c, C, sp.S);
    if (!p1)
        return;
    double *p2 = p1 + (long)C * sp.S;
    const float keep_scale = dropout_scale(drop_p); // 1 when drop_p == 0
    k_bnb_partial<<<dim3(C, sp.S), THREADS, 0, c->stream>>>(p1, p2, dout, out, inp, mean, rstd, C,
                                                            L, sp.n, sp.chunk, sp.S, keep_scale);
    KERNEL_CHECK();
    k_bnb_apply<<<dim3(C, sp.S), THREADS, 0, c->stream>>>(dinp, dgamma, dbeta, dout, out, inp, mean,
                                                          rstd, gamma, p1, p2, C, L, sp.n, sp.chunk,
                                                          sp.S, keep_scale);
    KERNEL_CHECK();
}

/* ---- residual shortcut ---- */

static __global__ void k_shortcut_fwd(float *out, const float *inp, int Cin, int Cout, int L,
                                      int Lout, int pool, long total)
{
    // out (B, Cout, Lout) =, inp (B, Cin, L); one thread per output element
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const long r = idx / Lout;
        const int j = (int)(idx - r * Lout);
        const int b = (int)(r / Cout), c = (int)(r % Cout);
        if (c >= Cin) { // zero channels appended where the width doubles
            out[idx] = 0.0f;
            continue;
        }
        const float *w = inp + ((long)b * Cin + c) * L + (long)j * pool;
        float mx = w[0];
        for (int k = 1; k < pool; k++)
            mx = w[k] > mx ? w[k] : mx;
        out[idx] = mx;
    }
}

static __global__ void k_shortcut_bwd(float *dinp, const float *dout, const float *inp, int Cin,
                                      int Cout, int L, int Lout, int pool, long total)
{
    // dinp (B, Cin, L) +=, dout (B, Cout, Lout), inp (B, Cin, L); one thread
    // per (b, c < Cin, j): windows do not overlap, so no two threads write
    // the same element and no atomics are needed.
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const long r = idx / Lout; // (b, c) row of dinp
        const int j = (int)(idx - r * Lout);
        const int b = (int)(r / Cin), c = (int)(r % Cin);
        const float g = dout[((long)b * Cout + c) * Lout + j];
        const float *x = inp + r * L + (long)j * pool;
        int arg = 0; // first maximum wins ties, as PyTorch's max_pool1d
        for (int k = 1; k < pool; k++)
            if (x[k] > x[arg])
                arg = k;
        dinp[r * L + (long)j * pool + arg] += g;
    }
}

void cuda_launch_shortcut_forward(cuda_ctx *c, float *out, const float *inp, int B, int Cin,
                                  int Cout, int L, int pool)
{
    const int Lout = L / pool; // Keras "valid"
    const long total = (long)B * Cout * Lout;
    if (total == 0)
        return;
    k_shortcut_fwd<<<grid_for(total), THREADS, 0, c->stream>>>(out, inp, Cin, Cout, L, Lout, pool,
                                                               total);
    KERNEL_CHECK();
}

void cuda_launch_shortcut_backward(cuda_ctx *c, float *dinp, const float *dout, const float *inp,
                                   int B, int Cin, int Cout, int L, int pool)
{
    const int Lout = L / pool;
    const long total = (long)B * Cin * Lout;
    if (total == 0)
        return;
    k_shortcut_bwd<<<grid_for(total), THREADS, 0, c->stream>>>(dinp, dout, inp, Cin, Cout, L, Lout,
                                                               pool, total);
    KERNEL_CHECK();
}

/* ---- elementwise ---- */

static __global__ void k_add(float *y, const float *a, const float *b, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

void cuda_launch_add(cuda_ctx *c, float *y, const float *a, const float *b, long n)
{
    if (n <= 0)
        return;
    k_add<<<grid_for(n), THREADS, 0, c->stream>>>(y, a, b, n);
    KERNEL_CHECK();
}

static __global__ void k_bias_shift(float *out, const float *y, const float *bias, int C, int Lout,
                                    int Lc, int shift, long total)
{
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const long r = idx / Lout; // (b, c) row
        const int j = (int)(idx - r * Lout);
        out[idx] = y[r * Lc + j + shift] + bias[r % C];
    }
}

void cuda_launch_bias_shift(cuda_ctx *c, float *out, const float *y, const float *bias, int B,
                            int C, int Lout, int Lc, int shift)
{
    const long total = (long)B * C * Lout;
    if (total == 0)
        return;
    k_bias_shift<<<grid_for(total), THREADS, 0, c->stream>>>(out, y, bias, C, Lout, Lc, shift,
                                                             total);
    KERNEL_CHECK();
}

static __global__ void k_pad_shift(float *dy, const float *dout, int Lout, int Lc, int shift,
                                   long total)
{
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const long r = idx / Lc;
        const int j = (int)(idx - r * Lc) - shift;
        dy[idx] = j >= 0 && j < Lout ? dout[r * Lout + j] : 0.0f;
    }
}

void cuda_launch_pad_shift(cuda_ctx *c, float *dy, const float *dout, int B, int C, int Lout,
                           int Lc, int shift)
{
    const long total = (long)B * C * Lc;
    if (total == 0)
        return;
    k_pad_shift<<<grid_for(total), THREADS, 0, c->stream>>>(dy, dout, Lout, Lc, shift, total);
    KERNEL_CHECK();
}

static __global__ void k_rows_fill(float *out, const float *b, int K, long total)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total;
         i += (long)gridDim.x * blockDim.x)
        out[i] = b[i % K];
}

void cuda_launch_rows_fill(cuda_ctx *c, float *out, const float *b, long rows, int K)
{
    const long total = rows * K;
    if (total == 0)
        return;
    k_rows_fill<<<grid_for(total), THREADS, 0, c->stream>>>(out, b, K, total);
    KERNEL_CHECK();
}

/* db[k] = sum_i dout[i, k], one block per column, double. */
static __global__ void k_col_sum(float *db, const float *dout, long rows, int K)
{
    __shared__ double sh[THREADS];
    const int k = blockIdx.x;
    double acc = 0.0;
    for (long i = threadIdx.x; i < rows; i += THREADS)
        acc += dout[i * K + k];
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0)
        db[k] = (float)acc;
}

void cuda_launch_col_sum(cuda_ctx *c, float *db, const float *dout, long rows, int K)
{
    k_col_sum<<<K, THREADS, 0, c->stream>>>(db, dout, rows, K);
    KERNEL_CHECK();
}

/* ---- loss ---- */

/* d l / d z_j = coef * (p_j - [j == t]): loss.c's loss_frame_coef. */
__device__ static double loss_frame_coef(double *l, const loss_params &p, int t, double pt,
                                         double q, double logpt)
{
    switch (p.kind) {
    case LOSS_WEIGHTED:
        *l = -(double)p.weight[t] * logpt;
        return p.weight[t];
    case LOSS_FOCAL: {
        const double g = p.gamma, alpha = p.weight[t];
        const double qg = g == 0.0 ? 1.0 : pow(q, g);
        double mod = qg;
        if (g != 0.0 && q > 0.0)
            mod -= g * pt * pow(q, g - 1.0) * logpt;
        *l = -alpha * qg * logpt;
        return alpha * mod;
    }
    case LOSS_CE:
    default:
        *l = -logpt;
        return 1.0;
    }
}

/* One thread per frame, cpu_loss_forward_backward's body: max-shifted
 * log-sum-exp with the max's term kept out of `rest` (log1p), 1 - p_t
 * without cancellation, masked frames (label -1) with zero loss and zero
 * gradient. frame_loss (N) feeds a fixed-order sum. */
static __global__ void k_loss(float *probs, float *dlogits, double *frame_loss, const float *logits,
                              const int *labels, int N, loss_params p, double inv_n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N)
        return;
    const int K = p.K;
    const float *z = logits + (long)i * K; // (K)
    const int t = labels[i];
    int jmax = 0;
    for (int j = 1; j < K; j++)
        if (z[j] > z[jmax])
            jmax = j;
    const double zmax = z[jmax];
    double e[RESECG_MAX_CLASSES];
    double rest = 0.0;
    for (int j = 0; j < K; j++) {
        e[j] = j == jmax ? 1.0 : exp((double)z[j] - zmax);
        if (j != jmax)
            rest += e[j];
    }
    const double lse = log1p(rest);
    const double denom = 1.0 + rest;
    if (probs)
        for (int j = 0; j < K; j++)
            probs[(long)i * K + j] = (float)(e[j] / denom);
    if (t < 0) {
        if (dlogits)
            for (int j = 0; j < K; j++)
                dlogits[(long)i * K + j] = 0.0f;
        frame_loss[i] = 0.0;
        return;
    }
    const double logpt = ((double)z[t] - zmax) - lse;
    const double pt = e[t] / denom;
    const double q = t == jmax ? rest / denom : 1.0 - pt;
    double l;
    const double coef = loss_frame_coef(&l, p, t, pt, q, logpt);
    frame_loss[i] = l;
    if (dlogits)
        for (int j = 0; j < K; j++)
            dlogits[(long)i * K + j] = (float)(coef * inv_n * (j == t ? -q : e[j] / denom));
}

/* out[0] = sum of in (n), one block, fixed order. */
static __global__ void k_sum_double(double *out, const double *in, long n)
{
    __shared__ double sh[THREADS];
    double acc = 0.0;
    for (long i = threadIdx.x; i < n; i += THREADS)
        acc += in[i];
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0)
        out[0] = acc;
}

/* Copies red[at] back to the host (synchronises the stream). */
static double red_fetch(cuda_ctx *c, long at)
{
    CUDA_CHECK(cudaMemcpyAsync(c->host_result, (double *)c->red.p + at, sizeof(double),
                               cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return c->host_result[0];
}

float cuda_run_loss(cuda_ctx *c, float *probs, float *dlogits, const float *logits,
                    const int *labels_dev, int nvalid, int N, const loss_params *p)
{
    // probs (N, K), dlogits (N, K), logits (N, K), labels_dev (N) device copy
    RESECG_ASSERT(p->K >= 1 && p->K <= RESECG_MAX_CLASSES);
    const double inv_n = nvalid > 0 ? 1.0 / nvalid : 0.0;
    if (N <= 0)
        return 0.0f;
    if (cuda_buf_reserve(c, &c->red, ((size_t)N + 1) * sizeof(double), "loss scratch") != 0)
        return 0.0f; /* the caller stops on the failure (backend_failed) */
    double *frame_loss = (double *)c->red.p;
    k_loss<<<(N + THREADS - 1) / THREADS, THREADS, 0, c->stream>>>(
        probs, dlogits, frame_loss, logits, labels_dev, N, *p, inv_n);
    KERNEL_CHECK();
    k_sum_double<<<1, THREADS, 0, c->stream>>>(frame_loss + N, frame_loss, N);
    KERNEL_CHECK();
    return (float)(red_fetch(c, N) * inv_n);
}

/* ---- optimiser ---- */

static __global__ void k_sq_partial(double *part, const float *x, long n, long chunk)
{
    __shared__ double sh[THREADS];
    const long lo = blockIdx.x * chunk, hi = min(n, lo + chunk);
    double acc = 0.0;
    for (long i = lo + threadIdx.x; i < hi; i += THREADS)
        acc += (double)x[i] * x[i];
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = acc;
}

double cuda_run_sqnorm(cuda_ctx *c, const float *x, long n)
{
    // x (n): contiguous slices, one per block, their count a function of n only
    if (n <= 0)
        return 0.0;
    long G = (n + 4095) / 4096;
    if (G > 1024)
        G = 1024;
    const long chunk = (n + G - 1) / G;
    G = (n + chunk - 1) / chunk;
    if (cuda_buf_reserve(c, &c->red, ((size_t)G + 1) * sizeof(double), "norm scratch") != 0)
        return 0.0; /* the caller stops on the failure (backend_failed) */
    double *part = (double *)c->red.p;
    k_sq_partial<<<(unsigned int)G, THREADS, 0, c->stream>>>(part, x, n, chunk);
    KERNEL_CHECK();
    k_sum_double<<<1, THREADS, 0, c->stream>>>(part + G, part, G);
    KERNEL_CHECK();
    return red_fetch(c, G);
}

/* PyTorch's Adam, as cpu_adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= step * m / (sqrt(v) / sqrt(1 - b2^t) + eps), step = lr / (1 - b1^t),
 * g = grad * grad_scale (the global-norm clip). */
static __global__ void k_adam(float *params, float *m, float *v, const float *grads, long n,
                              float beta1, float beta2, float eps, float step, float bc2_sqrt,
                              float grad_scale)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x) {
        const float g = grads[i] * grad_scale;
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= step * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

void cuda_launch_adam(cuda_ctx *c, float *params, float *m, float *v, const float *grads, long n,
                      float beta1, float beta2, float eps, float step, float bc2_sqrt,
                      float grad_scale)
{
    if (n <= 0)
        return;
    k_adam<<<grid_for(n), THREADS, 0, c->stream>>>(params, m, v, grads, n, beta1, beta2, eps, step,
                                                   bc2_sqrt, grad_scale);
    KERNEL_CHECK();
}

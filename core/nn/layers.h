/* Shapes shared by every backend's kernels, and the plain C reference kernels
 * (prefix cpu_): the oracle that every fast path is tested against.
 *
 * Layout: activations are (B, C, L), channel-major per sample, as PyTorch's
 * Conv1d; conv weights are (Cout, Cin, K) as PyTorch; the dense weight is
 * (K_classes, C) as nn.Linear. Backward kernels ASSIGN (=) their outputs,
 * both input gradients and parameter gradients: every parameter of the
 * network is used once per step, and the model adds the two paths into a
 * block's input gradient itself. Kernels parallelise with OpenMP over
 * channels or samples, never across a reduction, so results are bit-identical
 * for a given thread count. */
#ifndef RESECG_LAYERS_H
#define RESECG_LAYERS_H

#include <stdint.h>

/* A 1-D convolution with TensorFlow "same" padding: Lout = ceil(L / stride),
 * total pad = max((Lout - 1) * stride + K - L, 0), pad_left = total / 2 (the
 * odd pad goes on the right: K=16, stride 1 -> 7 left, 8 right; stride 2 on
 * an even L -> 7 and 7). */
typedef struct conv_dims {
    int B, Cin, Cout, L, Lout, K, stride, pad_left;
} conv_dims;

/* Fills Lout and pad_left from the other fields. */
void conv_dims_same(conv_dims *d, int B, int Cin, int Cout, int L, int K, int stride);

/* out (B, Cout, Lout) = conv(inp (B, Cin, L), w (Cout, Cin, K)) + b (Cout) */
void cpu_conv1d_forward(float *out, const float *inp, const float *w, const float *b,
                        const conv_dims *d);
/* dinp (B, Cin, L) =, may be NULL (stem: no gradient to the data)
 * dw (Cout, Cin, K) =, db (Cout) = */
void cpu_conv1d_backward(float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, const conv_dims *d);

/* Batch norm over (B, L) per channel, then ReLU, then optional inverted
 * dropout: out = drop(relu(gamma * (x - mean) * rstd + beta)).
 * training != 0: normalise with the batch mean and biased variance, save
 * mean/rstd (C) for backward, and update running_mean/running_var (C) as
 * running = momentum * running + (1 - momentum) * batch, with the UNBIASED
 * batch variance (Keras >= 2.1 and PyTorch both do). training == 0: use the
 * running statistics; no dropout; mean/rstd untouched (may be NULL).
 * Dropout keeps an element with probability 1 - p and scales it by 1/(1-p);
 * the keep decision for element (b, c, l) is u >= p with
 * u = (rng_hash3(drop_seed, b*C + c, l) >> 40) * 2^-24, so it does not depend
 * on threads and every backend draws the same mask. p = 0 disables it. */
void cpu_bnrelu_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta,
                        float *running_mean, float *running_var,
                        int B, int C, int L, float momentum, float eps, int training,
                        float drop_p, uint64_t drop_seed);
/* Backward of the training-mode forward above. The ReLU/dropout mask is read
 * from out: an element passed iff out > 0 (then its local slope is 1/(1-p)).
 * dinp (B, C, L) =, dgamma (C) =, dbeta (C) = */
void cpu_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                         const float *out, const float *inp, const float *mean,
                         const float *rstd, const float *gamma, const float *beta,
                         int B, int C, int L, float drop_p);

/* Residual shortcut as awni/ecg: max-pool of size = stride = `pool` (Keras
 * "valid": Lout = L / pool), then zero channels appended when Cout > Cin.
 * out (B, Cout, L / pool) = pool(inp (B, Cin, L)) with channels >= Cin zero. */
void cpu_shortcut_forward(float *out, const float *inp, int B, int Cin, int Cout, int L, int pool);
/* dinp (B, Cin, L) += : routes each dout element to the argmax of its window
 * (first maximum on ties, as PyTorch); ACCUMULATES, because the block input
 * also receives the main path's gradient. Needs the forward input. */
void cpu_shortcut_backward(float *dinp, const float *dout, const float *inp,
                           int B, int Cin, int Cout, int L, int pool);

/* Per-frame dense layer (Keras TimeDistributed(Dense)):
 * out (B, T, K) = inp (B, C, T) . w (K, C)^T + b (K) */
void cpu_dense_forward(float *out, const float *inp, const float *w, const float *b,
                       int B, int C, int T, int K);
/* dinp (B, C, T) =, dw (K, C) =, db (K) = */
void cpu_dense_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int B, int C, int T, int K);

/* y (n) = a (n) + b (n); used for the residual add. */
void cpu_add(float *y, const float *a, const float *b, long n);

#endif

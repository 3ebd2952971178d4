/* The "cpu" backend's channels-last kernels: with train.precision bf16 its
 * activations are (B, L, C), the layout oneDNN's AMX kernels read and
 * write, so that no convolution transposes its input or output
 * (bench/PERF.md, bf16 step 2). Each kernel here has the contract of its
 * cpu_ reference in layers.h with every (B, C, L) tensor read as (B, L, C)
 * instead (element (b, c, l) at (b L + l) C + c); the dense layer's (B, T, K)
 * output is the same in both layouts. The dropout mask is the reference's,
 * drawn for the same logical (b, c, l), so both layouts drop the same
 * elements. Tested against the references on transposed data
 * (tests/test_layers.c).
 *
 * Reductions (a channel's BN sums over B L rows, a dense weight's gradient)
 * are split into fixed chunks of rows whose partial sums are added in chunk
 * order, so results do not depend on the thread count. */
#ifndef RESECG_CPU_NWC_H
#define RESECG_CPU_NWC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* fp32 -> bf16 -> fp32, round to nearest even (what oneDNN's reorders and
 * AVX512-BF16's vcvtneps2bf16 do); NaN stays NaN. */
static inline float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        u |= 0x00400000u; /* quiet NaN, payload kept in the top bits */
    else
        u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Doubles of scratch the BN kernels need for (B, C, L): their per-chunk
 * partial sums. */
size_t nwc_bn_scratch(int B, int C, int L);

/* cpu_bnrelu_forward on (B, L, C) tensors; ws holds nwc_bn_scratch doubles. */
void nwc_bnrelu_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, int B, int C, int L, float momentum, float eps,
                        int training, float drop_p, uint64_t drop_seed, double *ws);
/* cpu_bnrelu_backward on (B, L, C) tensors; ws as above. */
void nwc_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                         const float *out, const float *inp, const float *mean,
                         const float *rstd, const float *gamma, int B, int C, int L,
                         float drop_p, double *ws);

/* cpu_shortcut_forward / _backward (+=) on (B, L, C) tensors. */
void nwc_shortcut_forward(float *out, const float *inp, int B, int Cin, int Cout, int L,
                          int pool);
void nwc_shortcut_backward(float *dinp, const float *dout, const float *inp, int B, int Cin,
                           int Cout, int L, int pool);

/* cpu_dense_forward / _backward with inp and dinp (B, T, C). bf16 != 0
 * rounds the operands to bf16 as a bf16 GEMM reads them (inp and w forward;
 * dout and the other operand backward, db from the rounded dout), and the
 * double accumulator does the rest. */
void nwc_dense_forward(float *out, const float *inp, const float *w, const float *b, int B,
                       int C, int T, int K, int bf16);
void nwc_dense_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int B, int C, int T, int K, int bf16);

#endif

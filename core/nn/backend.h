/* The compute backend: one small table of function pointers behind which the
 * model runs. "cpu-ref" is the plain C reference everywhere; "cpu" replaces
 * the convolutions with oneDNN; a CUDA backend (cuda_*) fills the same table. Choosing one by name is
 * device.h; the CPU tables' internals are cpu/cpu.h.
 * All pointers handed to a backend's kernels live in memory from that
 * backend's alloc (device memory for CUDA). Kernel contracts are those of the
 * cpu_ reference in layers.h and loss.h. */
#ifndef RESECG_BACKEND_H
#define RESECG_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "base/util.h"

typedef struct backend backend;

struct backend {
    const char *name;
    /* PRECISION_FP32, or PRECISION_BF16: the convolutions and the dense
     * layer take bf16 operands and accumulate in fp32; every buffer a
     * kernel is handed stays fp32 (train.precision, config.h) */
    precision_kind precision;
    /* 0: activations (B, C, L) as layers.h; 1: channels-last (B, L, C) in
     * every kernel (the "cpu" backend in bf16, core/nn/cpu/nwc.h). Parameters,
     * labels and the (B, T, K) logits are the same in both; the model
     * transposes its input to (B, L, C) where in_channels > 1. Only host
     * backends set it (model_forward writes the input directly). */
    int act_nwc;
    void *ctx; /* backend-private state (oneDNN engine and primitive cache, cuDNN handles) */
    /* Set by a kernel that could not run (a shape whose primitives or
     * scratch could not be made: out of memory): it leaves its outputs as
     * they were, and so do the kernels after it. The caller checks after
     * each step (backend_failed) and stops with this message: an error,
     * never an abort. "" while all is well. */
    char failure[512];
    /* convolution shapes the backend keeps prepared at once (conv1d_prepare
     * beyond it evicts the least recently used); 0: no limit */
    int prepare_cap;

    void (*destroy)(backend *be);

    /* memory: aligned, owned by the caller until free */
    void *(*alloc)(backend *be, size_t bytes);
    void (*free)(backend *be, void *p);
    void (*upload)(backend *be, void *dst, const void *src, size_t bytes);   /* host -> backend */
    void (*download)(backend *be, void *dst, const void *src, size_t bytes); /* backend -> host */
    void (*zero)(backend *be, void *p, size_t bytes);

    /* optional, NULL where a backend needs no setup: builds what convs of
     * shape d need (primitives, workspace) ahead of their first call;
     * model_reserve calls it for every conv of a full batch (STYLE rule 7).
     * -1 with e filled when it cannot (out of memory). */
    int (*conv1d_prepare)(backend *be, const conv_dims *d, rerr *e);
    void (*conv1d_forward)(backend *be, float *out, const float *inp, const float *w,
                           const float *b, const conv_dims *d);
    void (*conv1d_backward)(backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const conv_dims *d);
    void (*bnrelu_forward)(backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *gamma, const float *beta, float *running_mean,
                           float *running_var, int B, int C, int L, float momentum, float eps,
                           int training, float drop_p, uint64_t drop_seed);
    void (*bnrelu_backward)(backend *be, float *dinp, float *dgamma, float *dbeta,
                            const float *dout, const float *out, const float *inp,
                            const float *mean, const float *rstd, const float *gamma,
                            const float *beta, int B, int C, int L, float drop_p);
    void (*shortcut_forward)(backend *be, float *out, const float *inp, int B, int Cin, int Cout,
                             int L, int pool);
    void (*shortcut_backward)(backend *be, float *dinp, const float *dout, const float *inp,
                              int B, int Cin, int Cout, int L, int pool);
    void (*dense_forward)(backend *be, float *out, const float *inp, const float *w,
                          const float *b, int B, int C, int T, int K);
    void (*dense_backward)(backend *be, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, int C, int T, int K);
    void (*add)(backend *be, float *y, const float *a, const float *b, long n);
    /* labels live in host memory; the backend copies them if it needs to */
    float (*loss_forward_backward)(backend *be, float *probs, float *dlogits, const float *logits,
                                   const int *labels, int N, const loss_params *p);

    /* optimiser over the flat parameter buffer (see optim.h) */
    double (*sqnorm)(backend *be, const float *x, long n);
    void (*adam_step)(backend *be, float *params, float *m, float *v, const float *grads,
                      long n, float lr, float beta1, float beta2, float eps, int t,
                      float grad_scale);
};

/* -1 with e = be->failure when a kernel could not run; 0 otherwise. */
static inline int backend_failed(const backend *be, rerr *e)
{
    return be->failure[0] ? rerr_set(e, "%s", be->failure) : 0;
}

#endif

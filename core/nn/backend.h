/* The compute backend: one small table of function pointers behind which the
 * model runs. "cpu-ref" is the plain C reference everywhere; "cpu" replaces
 * the convolutions with oneDNN; a CUDA backend (cuda_*) fills the same table.
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

    void (*destroy)(backend *be);

    /* memory: aligned, owned by the caller until free */
    void *(*alloc)(backend *be, size_t bytes);
    void (*free)(backend *be, void *p);
    void (*upload)(backend *be, void *dst, const void *src, size_t bytes);   /* host -> backend */
    void (*download)(backend *be, void *dst, const void *src, size_t bytes); /* backend -> host */
    void (*zero)(backend *be, void *p, size_t bytes);

    /* optional, NULL where a backend needs no setup: builds what convs of
     * shape d need (primitives, workspace) ahead of their first call;
     * model_reserve calls it for every conv of a full batch (STYLE rule 7) */
    void (*conv1d_prepare)(backend *be, const conv_dims *d);
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

/* Creates a backend by name: "cpu" (oneDNN convolutions), "cpu-ref" (plain C),
 * "cuda" (from the module libresecg_cuda.so, cuda_module.h, where it is
 * installed and a device is present). threads <= 0 means
 * all cores. prec: PRECISION_BF16 only on "cpu", and only on a CPU whose
 * oneDNN runs native bf16 kernels (AVX512-BF16 or AMX-BF16): never an
 * emulated path. Returns NULL with e filled ("unknown device 'x'", "no CUDA
 * device: ...", "device cuda: cannot load ...", "train.precision bf16: this
 * CPU has neither ..."). */
backend *backend_create(const char *name, int threads, precision_kind prec, rerr *e);
/* What backend_create checks before creating anything: a known device, and
 * a precision it runs here. 0, or -1 with e filled. For commands to refuse a
 * configuration before they load data or write a run directory. */
int backend_check(const char *name, precision_kind prec, rerr *e);
void backend_destroy(backend *be);

/* What decides the numbers besides the config, for train.log (issue 19:
 * nothing that changes results may be invisible): the device, the CPU
 * kernels' copy (x86-64-v3 or v4) and oneDNN's version and ISA on the CPU
 * backends, and the environment variables that change results when set
 * (RESECG_WGRAD, RESECG_WGRAD_ISA, RESECG_ONEDNN_LAYOUT, RESECG_CUDA_MATH,
 * RESECG_CUDA_DETERMINISTIC, RESECG_CUDA_WORKSPACE_MB, any ONEDNN_ or DNNL_). */
void backend_numerics(const char *device, char *buf, size_t n);

/* oneDNN's version and the ISA it runs ("oneDNN 2.6.3, ISA avx512_core_amx"). */
void onednn_describe(char *buf, size_t n);

/* The two CPU tables (core/nn/cpu/backend_cpu.c); prec as backend_create. */
backend *cpu_backend_create(int use_dnnl, int threads, precision_kind prec, rerr *e);

/* oneDNN convolutions (core/nn/cpu/conv_dnnl.c); ctx is created once per backend
 * and caches primitives per shape. nwc != 0: the caller's activations (inp,
 * out, dinp, dout) are (B, L, C) instead of (B, C, L); weights are oiw
 * either way. */
void *onednn_ctx_create(precision_kind prec, int nwc, rerr *e);
/* 0 when this CPU (as oneDNN sees it: ONEDNN_MAX_CPU_ISA and the OS's AMX
 * permission included) runs bf16 convolutions natively; else -1 with e
 * naming the missing CPU feature. */
int onednn_bf16_check(rerr *e);
void onednn_ctx_destroy(void *ctx);
void onednn_conv1d_prepare(void *ctx, const conv_dims *d);
void onednn_conv1d_forward(void *ctx, float *out, const float *inp, const float *w,
                         const float *b, const conv_dims *d);
void onednn_conv1d_backward(void *ctx, float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const conv_dims *d);

/* The "cpu" backend's batch norm + ReLU + dropout backward (core/nn/cpu/bn_fast.c):
 * cpu_bnrelu_backward's contract, float instead of double row sums. */
void fast_bnrelu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                          const float *out, const float *inp, const float *mean,
                          const float *rstd, const float *gamma, int B, int C, int L,
                          float drop_p);

/* The machine's FP32 peak as oneDNN reaches it, GFLOP/s: the best of three
 * dnnl_sgemm products of n x n by n x n (2 n^3 FLOPs each) on the current
 * OpenMP threads; 0 if the matrices cannot be allocated. */
double onednn_sgemm_gflops(int n);

/* Backward-weights of stride-1 and stride-2 convs with a kernel of our own
 * (core/nn/cpu/conv_wgrad.c) in an AVX-512 and an AVX2 + FMA variant, on the
 * caller's (B, C, L) tensors; the oneDNN ctx uses it where wgrad_supported
 * (shape, CPU, and speed against oneDNN on that ISA) and keeps its workspace.
 * dw (Cout, Cin, K) =, db (Cout) =; ws holds wgrad_workspace_floats(d,
 * threads) floats (the same for both ISAs); threads is the OpenMP team it
 * runs on; isa a WGRAD_ISA_* that wgrad_isa_available. The oneDNN ctx takes
 * wgrad_isa_best unless RESECG_WGRAD_ISA=avx2|avx512 forces one (conv_dnnl.c). */
enum { WGRAD_ISA_NONE, WGRAD_ISA_AVX2, WGRAD_ISA_AVX512 };
int wgrad_isa_available(int isa); /* an x86-64 build on a CPU that runs isa */
int wgrad_isa_best(void);         /* the widest available, or WGRAD_ISA_NONE */
/* isa available, and d a shape it can do (any_length) or is faster on than oneDNN */
int wgrad_supported(const conv_dims *d, int isa, int any_length);
size_t wgrad_workspace_floats(const conv_dims *d, int threads);
void wgrad_conv1d_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                   const conv_dims *d, int isa, int threads, float *ws);

#endif

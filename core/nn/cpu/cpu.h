/* The CPU backends' internals (core/nn/cpu/): the two tables, the oneDNN
 * convolutions, the own batch-norm and backward-weights kernels. Private to
 * core/nn (device.c creates the tables), the benchmarks and the tests. */
#ifndef RESECG_CPU_H
#define RESECG_CPU_H

#include <stddef.h>

#include "base/config.h"
#include "base/util.h"
#include "nn/backend.h"
#include "nn/layers.h"

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
/* Whether oneDNN runs AMX kernels here (its effective ISA, as above). */
int onednn_has_amx(void);
void onednn_ctx_destroy(void *ctx);
/* Convolution shapes a oneDNN ctx keeps built: enough for the full and the
 * ragged batch of a training run (about 33 convs each) and a few evaluation
 * lengths; beyond it the least recently used shape is dropped, so memory
 * stays bounded (backend.h prepare_cap). */
#define ONEDNN_CACHE_CAP 256

/* Builds the primitives and workspace of shape d now (see backend.h's
 * conv1d_prepare); -1 with e filled (out of memory, a shape oneDNN
 * rejects) when it cannot. The kernels build a shape on first use the same
 * way and return -1 with e filled, their outputs untouched, when they
 * cannot: nothing aborts. */
int onednn_conv1d_prepare(void *ctx, const conv_dims *d, rerr *e);
int onednn_conv1d_forward(void *ctx, float *out, const float *inp, const float *w,
                          const float *b, const conv_dims *d, rerr *e);
int onednn_conv1d_backward(void *ctx, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const conv_dims *d, rerr *e);

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

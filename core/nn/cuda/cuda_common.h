/* Private to core/nn/cuda: the backend context (one stream, the library handles,
 * the grow-once device buffers, the convolution plan cache), the check
 * macros every CUDA, cuBLAS and cuDNN call goes through, and the launchers of
 * the own kernels in kernels_cuda.cu. */
#ifndef RESECG_CUDA_COMMON_H
#define RESECG_CUDA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" { /* the core's headers are C */
#include "base/util.h"
#include "nn/backend.h"
#include "nn/cuda_module.h"
}

/* ---- checks ----
 * The kernel entry points of the backend table return void: a failed call
 * there leaves the CUDA context unusable (errors are sticky), so it is fatal
 * and reported with file:line, the call and the library's own string, like
 * RESECG_ASSERT. Creation (cuda_backend_create) returns errors instead. */
void cuda_fail_(const char *file, int line, const char *call, const char *lib, const char *msg)
    __attribute__((noreturn));
const char *cuda_cudnn_error_(cudnnStatus_t st);

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            cuda_fail_(__FILE__, __LINE__, #call, "CUDA", cudaGetErrorString(err_));               \
    } while (0)
#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            cuda_fail_(__FILE__, __LINE__, #call, "cuBLAS", cublasGetStatusString(st_));           \
    } while (0)
#define CUDNN_CHECK(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t st_ = (call);                                                                \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                           \
            cuda_fail_(__FILE__, __LINE__, #call, "cuDNN", cuda_cudnn_error_(st_));                \
    } while (0)
/* After every kernel launch: launch-configuration errors surface here,
 * asynchronous faults at the next synchronising call. */
#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())

/* ---- context ---- */

/* One convolution shape, planned once: cuDNN sees it as a 2-D convolution
 * over (B, C, 1, L). The legacy cuDNN API pads symmetrically, TensorFlow's
 * "same" does not (kernel 16, stride 1: 7 left, 8 right), so an asymmetric
 * shape is computed with a symmetric pad P >= pad_right chosen so that the
 * wanted outputs are a shifted window of cuDNN's: out[j] = y[j + shift],
 * y (B, Cout, 1, Lc). Symmetric shapes run directly into out (shift 0). */
typedef struct conv_plan {
    conv_dims d; /* the key */
    int pad;     /* symmetric pad given to cuDNN */
    int shift;   /* out[j] = y[j + shift] */
    int Lc;      /* cuDNN's output length */
    int direct;  /* shift == 0 && Lc == Lout: cuDNN writes out itself */
    cudnnTensorDescriptor_t x_desc, y_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    /* algorithms, found by conv1d_prepare or on first use of each direction (cudnnFind*Ex) */
    int have_fwd, have_bwd_data, have_bwd_filter;
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
} conv_plan;

/* A device buffer that only ever grows (sync, free, malloc), so that after
 * the first step of a shape nothing is allocated. */
typedef struct cuda_buf {
    void *p;
    size_t bytes;
} cuda_buf;

typedef struct cuda_ctx {
    int device;
    cudaDeviceProp prop;
    cudaStream_t stream; /* every copy, kernel and library call of this backend */
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    int tf32, deterministic, verbose;
    size_t ws_limit;

    cuda_buf ws;        /* cuDNN workspace, shared by every convolution */
    cuda_buf conv_tmp;  /* shifted cuDNN output / padded output gradient */
    cuda_buf red;       /* partial sums of the reductions (double) */
    cuda_buf labels;    /* device copy of the loss labels (int) */
    cuda_buf cublas_ws; /* cuBLAS workspace, set once on the handle */

    /* pinned staging for uploads: two buffers used in turn, each guarded by
     * an event recorded after its last copy */
    void *staging[2];
    cudaEvent_t staging_done[2];
    size_t staging_bytes;
    int staging_next;
    double *host_result; /* pinned, for reductions returned to the host */

    conv_plan *plans;
    int nplans, plans_cap;

    cuda_backend_stats stats;
    char *failure; /* the backend's failure (backend.h): set once, the first */
    size_t failure_size;
} cuda_ctx;

/* Records why a kernel entry point could not run (backend.h: failure), if
 * nothing was recorded before. */
void cuda_fail_soft(cuda_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes buf (what: its name, for the message) at least `bytes` long:
 * synchronises the stream, frees the old buffer, allocates the new one.
 * Called only when a new shape is first seen (plan creation, algorithm
 * search, a bigger reduction), so the steady training loop never
 * allocates. Out of device memory is not fatal: -1 with the backend's
 * failure set (buf is then empty), and the caller returns without
 * launching; every other failed call here still is. */
int cuda_buf_reserve(cuda_ctx *c, cuda_buf *buf, size_t bytes, const char *what);

/* ---- own kernels (kernels_cuda.cu); all enqueue on c->stream ---- */

/* out (B, C, Lout) = y (B, C, Lc)[..., shift : shift + Lout] + bias (C); in
 * place when y == out, shift == 0, Lc == Lout. */
void cuda_launch_bias_shift(cuda_ctx *c, float *out, const float *y, const float *bias, int B,
                            int C, int Lout, int Lc, int shift);
/* dy (B, C, Lc) = 0 except dy[..., j + shift] = dout (B, C, Lout)[..., j]. */
void cuda_launch_pad_shift(cuda_ctx *c, float *dy, const float *dout, int B, int C, int Lout,
                           int Lc, int shift);
/* db (C) = sum over (B, L) of dout (B, C, L), in double, fixed order. */
void cuda_launch_channel_sum(cuda_ctx *c, float *db, const float *dout, int B, int C, int L);
/* bias fill for the dense layer: out (rows, K) = b (K) per row */
void cuda_launch_rows_fill(cuda_ctx *c, float *out, const float *b, long rows, int K);
/* db (K) = sum over rows of dout (rows, K), in double, fixed order */
void cuda_launch_col_sum(cuda_ctx *c, float *db, const float *dout, long rows, int K);

void cuda_launch_bnrelu_forward(cuda_ctx *c, float *out, float *mean, float *rstd, const float *inp,
                                const float *gamma, const float *beta, float *running_mean,
                                float *running_var, int B, int C, int L, float momentum, float eps,
                                int training, float drop_p, uint64_t drop_seed);
void cuda_launch_bnrelu_backward(cuda_ctx *c, float *dinp, float *dgamma, float *dbeta,
                                 const float *dout, const float *out, const float *inp,
                                 const float *mean, const float *rstd, const float *gamma, int B,
                                 int C, int L, float drop_p);
void cuda_launch_shortcut_forward(cuda_ctx *c, float *out, const float *inp, int B, int Cin,
                                  int Cout, int L, int pool);
void cuda_launch_shortcut_backward(cuda_ctx *c, float *dinp, const float *dout, const float *inp,
                                   int B, int Cin, int Cout, int L, int pool);
void cuda_launch_add(cuda_ctx *c, float *y, const float *a, const float *b, long n);
/* Enqueues the loss; returns after copying the total back (synchronises). */
float cuda_run_loss(cuda_ctx *c, float *probs, float *dlogits, const float *logits,
                    const int *labels_dev, int nvalid, int N, const loss_params *p);
/* Sum of squares in double, deterministic; synchronises. */
double cuda_run_sqnorm(cuda_ctx *c, const float *x, long n);
void cuda_launch_adam(cuda_ctx *c, float *params, float *m, float *v, const float *grads, long n,
                      float beta1, float beta2, float eps, float step, float bc2_sqrt,
                      float grad_scale);

#endif

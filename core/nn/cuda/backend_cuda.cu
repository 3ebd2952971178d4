/* The "cuda" backend table: device memory, uploads through pinned staging,
 * cuDNN convolutions (an algorithm found once per shape and direction and
 * cached), cuBLAS for the per-frame dense layer, and the own kernels of
 * kernels_cuda.cu for everything else. One CUDA stream per backend carries
 * every copy, kernel and library call, so work is ordered as the model
 * issues it and the host only waits where it needs a number (loss, norm) or
 * data (download).
 *
 * Memory: alloc() is cudaMalloc, which the model calls only in model_init,
 * model_reserve and adam_init (and train.c once per evaluation, for the
 * probabilities), never per step. Everything the backend needs internally (the
 * cuDNN workspace, the scratch of asymmetric-pad convolutions, reduction
 * partials, the labels' device copy) lives in grow-once buffers sized when a
 * shape is first seen: for the convolutions, in conv1d_prepare, which
 * model_reserve calls for a full batch and train_run for the epoch's and the
 * dev batches' shapes; otherwise (a shape nobody prepared, the reductions)
 * during the first step of the shape. Later steps allocate nothing
 * (test_cuda checks the counters).
 *
 * Overlap: upload copies the host data into one of two pinned staging
 * buffers and enqueues the host-to-device copy asynchronously, so it returns
 * at once; model_forward then enqueues the whole forward behind it. While
 * the GPU finishes the previous step's Adam update, the host is already
 * preparing and staging the next batch. The copy itself is ordered on the
 * one stream (it does not run concurrently with kernels), which costs little:
 * a 32 x 8960 batch is 1.1 MB, ~0.1 ms over PCIe. The loss and the gradient
 * norm synchronise (their values decide the clipping), download synchronises.
 *
 * Precision: see backend_cuda.h (RESECG_CUDA_MATH). bf16 mixed precision is
 * not implemented: it would need bf16 copies of weights and activations and
 * loss scaling through the whole model, not a backend-local change. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/backend_cuda.h"
#include "nn/cuda/cuda_common.h"

#define STAGING_BYTES (8u << 20)    /* per pinned upload buffer */
#define CUBLAS_WS_BYTES (8u << 20)  /* cuBLAS workspace (tiny GEMMs here) */
#define RED_INIT_DOUBLES (1u << 16) /* reduction partials: C*S, N frames */
#define LABELS_INIT (1u << 16)      /* loss labels */
#define MAX_ALGOS 32

/* ---- errors ---- */

void cuda_fail_(const char *file, int line, const char *call, const char *lib, const char *msg)
{
    fprintf(stderr, "%s:%d: %s failed: %s: %s\n", file, line, call, lib, msg);
    if (strcmp(lib, "cuDNN") == 0) {
        char detail[512] = "";
        cudnnGetLastErrorString(detail, sizeof detail);
        if (detail[0])
            fprintf(stderr, "  cuDNN says: %s\n", detail);
    }
    abort();
}

const char *cuda_cudnn_error_(cudnnStatus_t st) { return cudnnGetErrorString(st); }

/* Creation-time variants: fill e and jump to the function's `fail` label. */
#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            rerr_set(e, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                         \
                     cudaGetErrorString(err_));                                                    \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define CUBLAS_TRY(call)                                                                           \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            rerr_set(e, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                         \
                     cublasGetStatusString(st_));                                                  \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define CUDNN_TRY(call)                                                                            \
    do {                                                                                           \
        cudnnStatus_t st_ = (call);                                                                \
        if (st_ != CUDNN_STATUS_SUCCESS) {                                                         \
            rerr_set(e, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                         \
                     cudnnGetErrorString(st_));                                                    \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static cuda_ctx *ctx_of(backend *be) { return (cuda_ctx *)be->ctx; }

/* ---- memory ---- */

void cuda_fail_soft(cuda_ctx *c, const char *fmt, ...)
{
    if (!c->failure || c->failure[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->failure, c->failure_size, fmt, ap);
    va_end(ap);
}

int cuda_buf_reserve(cuda_ctx *c, cuda_buf *buf, size_t bytes, const char *what)
{
    if (bytes <= buf->bytes)
        return 0;
    CUDA_CHECK(cudaStreamSynchronize(c->stream)); // queued work may still read the old one
    if (buf->p)
        CUDA_CHECK(cudaFree(buf->p));
    buf->p = NULL;
    buf->bytes = 0;
    if (cudaMalloc(&buf->p, bytes) != cudaSuccess) {
        (void)cudaGetLastError(); // an allocation failure is not sticky: clear it
        buf->p = NULL;
        cuda_fail_soft(c, "CUDA: out of device memory for the %s (%zu MiB more)", what,
                       (bytes + (1 << 20) - 1) >> 20);
        return -1;
    }
    buf->bytes = bytes;
    c->stats.device_allocs++;
    c->stats.workspace_grows++;
    if (buf == &c->ws)
        c->stats.workspace_bytes = bytes;
    return 0;
}

static void *cuda_alloc(backend *be, size_t bytes)
{
    cuda_ctx *c = ctx_of(be);
    void *p = NULL;
    // cudaMalloc aligns to 256 bytes; a failure is not sticky: clear it and
    // let the caller report "out of memory"
    if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    c->stats.device_allocs++;
    return p;
}

static void cuda_free(backend *be, void *p)
{
    if (!p)
        return;
    // the job's stream is non-blocking, so cudaFree's own implicit
    // synchronisation is not promised to wait for it: wait here, so that
    // nothing queued still reads or writes p
    CUDA_CHECK(cudaStreamSynchronize(ctx_of(be)->stream));
    CUDA_CHECK(cudaFree(p));
}

/* host -> device through pinned staging: returns once the data is staged, the
 * copy runs in stream order (see the file comment). */
static void cuda_upload(backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = ctx_of(be);
    const char *s = (const char *)src;
    char *d = (char *)dst;
    while (bytes > 0) {
        const int i = c->staging_next;
        c->staging_next ^= 1;
        const size_t n = bytes < c->staging_bytes ? bytes : c->staging_bytes;
        CUDA_CHECK(cudaEventSynchronize(c->staging_done[i])); // its previous copy has finished
        memcpy(c->staging[i], s, n);
        CUDA_CHECK(cudaMemcpyAsync(d, c->staging[i], n, cudaMemcpyHostToDevice, c->stream));
        CUDA_CHECK(cudaEventRecord(c->staging_done[i], c->stream));
        s += n;
        d += n;
        bytes -= n;
    }
}

/* device -> host; returns when the data is on the host (synchronises) */
static void cuda_download(backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = ctx_of(be);
    if (bytes == 0)
        return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void cuda_zero(backend *be, void *p, size_t bytes)
{
    cuda_ctx *c = ctx_of(be);
    if (bytes)
        CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
}

/* ---- convolution: cuDNN, one plan per shape ---- */

static int conv_dims_equal(const conv_dims *a, const conv_dims *b)
{
    return a->B == b->B && a->Cin == b->Cin && a->Cout == b->Cout && a->L == b->L &&
           a->Lout == b->Lout && a->K == b->K && a->stride == b->stride &&
           a->pad_left == b->pad_left;
}

static cudnnMathType_t conv_base_math(const cuda_ctx *c)
{
    // PyTorch's choice: DEFAULT lets cuDNN use TF32 tensor cores for fp32
    // data on Ampere and later; FMA restricts it to fp32 FMA kernels.
    return c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

/* The plan of shape d, made on first sight: descriptors, the symmetric pad
 * and shift (see conv_plan), the conv scratch grown to fit; NULL with the
 * backend's failure set when memory runs out. */
static conv_plan *conv_plan_get(cuda_ctx *c, const conv_dims *d)
{
    for (int i = 0; i < c->nplans; i++)
        if (conv_dims_equal(&c->plans[i].d, d))
            return &c->plans[i];
    if (c->nplans == c->plans_cap) {
        int cap = c->plans_cap ? 2 * c->plans_cap : 64;
        conv_plan *np = (conv_plan *)realloc(c->plans, (size_t)cap * sizeof *np);
        if (!np) {
            cuda_fail_soft(c, "out of memory for a convolution plan");
            return NULL;
        }
        c->plans = np;
        c->plans_cap = cap;
    }
    conv_plan *p = &c->plans[c->nplans++];
    memset(p, 0, sizeof *p);
    p->d = *d;

    // TF "same": pad_right = total - pad_left >= pad_left. With a symmetric
    // pad P = pad_left + shift * stride >= pad_right, cuDNN's output j + shift
    // starts its window at (j + shift) * stride - P = j * stride - pad_left,
    // exactly the wanted output j; the extra zeros on the right only feed
    // outputs past Lout + shift, which are dropped.
    int total = (d->Lout - 1) * d->stride + d->K - d->L;
    if (total < 0)
        total = 0;
    const int pl = d->pad_left, pr = total - pl;
    RESECG_ASSERT(pr >= pl);
    p->shift = (pr - pl + d->stride - 1) / d->stride;
    p->pad = pl + p->shift * d->stride;
    p->Lc = (d->L + 2 * p->pad - d->K) / d->stride + 1;
    RESECG_ASSERT(p->Lc >= d->Lout + p->shift);
    p->direct = p->shift == 0 && p->Lc == d->Lout;

    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y_desc));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w_desc));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv_desc));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->B,
                                           d->Cin, 1, d->L));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->B,
                                           d->Cout, 1, p->Lc));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->Cout,
                                           d->Cin, 1, d->K));
    // PyTorch's Conv1d (and Keras') is a cross-correlation: no kernel flip
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv_desc, 0, p->pad, 1, d->stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, conv_base_math(c)));
    int n, ch, h, w;
    CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(p->conv_desc, p->x_desc, p->w_desc, &n, &ch, &h, &w));
    RESECG_ASSERT(n == d->B && ch == d->Cout && h == 1 && w == p->Lc);
    if (!p->direct &&
        cuda_buf_reserve(c, &c->conv_tmp, (size_t)d->B * d->Cout * p->Lc * sizeof(float),
                         "convolution scratch") != 0) {
        // not kept: a later lookup must not find a plan without its scratch
        cudnnDestroyTensorDescriptor(p->x_desc);
        cudnnDestroyTensorDescriptor(p->y_desc);
        cudnnDestroyFilterDescriptor(p->w_desc);
        cudnnDestroyConvolutionDescriptor(p->conv_desc);
        c->nplans--;
        return NULL;
    }
    c->stats.conv_plans++;
    return p;
}

/* Whether a cudnnFind result may be used: it ran, fits the workspace, is
 * deterministic when asked, and never uses tensor-core math in fp32 mode. */
static int algo_ok(const cuda_ctx *c, cudnnStatus_t status, size_t memory, cudnnDeterminism_t det,
                   cudnnMathType_t math)
{
    if (status != CUDNN_STATUS_SUCCESS || memory > c->ws.bytes)
        return 0;
    if (c->deterministic && det != CUDNN_DETERMINISTIC)
        return 0;
    if (!c->tf32 && (math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        return 0;
    return 1;
}

/* The math type to run a chosen algorithm with (cuDNN wants the algorithm
 * and its math type together); fp32 mode always runs FMA kernels. */
static cudnnMathType_t algo_math(const cuda_ctx *c, cudnnMathType_t found)
{
    return c->tf32 ? found : CUDNN_FMA_MATH;
}

/* RESECG_CUDA_VERBOSE=1: one stderr line per algorithm choice. */
static void algo_report(const cuda_ctx *c, const char *dir, const conv_plan *p, int algo,
                        cudnnMathType_t math, float ms, size_t ws, int candidates)
{
    if (!c->verbose)
        return;
    const conv_dims *d = &p->d;
    fprintf(stderr,
            "cuda: conv B%d %d->%d L%d->%d K%d s%d (cuDNN pad %d, shift %d) %s: algo %d, math %s, "
            "%.3f ms, workspace %.1f MiB (of %d timed)\n",
            d->B, d->Cin, d->Cout, d->L, d->Lout, d->K, d->stride, p->pad, p->shift, dir, algo,
            math == CUDNN_FMA_MATH         ? "fma"
            : math == CUDNN_DEFAULT_MATH   ? "default"
            : math == CUDNN_TENSOR_OP_MATH ? "tensor-op"
                                           : "tensor-op-conversion",
            (double)ms, (double)ws / 1048576.0, candidates);
}

/* cudnnFind runs candidate kernels and writes the output buffer it is
 * given: let everything queued before finish first, and let the search
 * itself finish before anything else is queued, whatever stream cuDNN uses
 * for it. Once per shape and direction, so the cost does not matter. */
static void find_fence(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

/* Largest workspace among heuristic candidates within the limit: the
 * workspace grows to it once, then cudnnFind times every algorithm that fits. */
template <typename Perf> static size_t ws_need(const cuda_ctx *c, const Perf *perf, int n)
{
    size_t need = 0;
    for (int i = 0; i < n; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= c->ws_limit &&
            perf[i].memory > need)
            need = perf[i].memory;
    return need;
}

/* No algorithm the search found may be used: the backend's failure, -1. */
static int conv_shape_error(const char *what, cuda_ctx *c, const conv_dims *d)
{
    cuda_fail_soft(c,
                   "cuda backend: no usable cuDNN %s algorithm for B %d, %d -> %d channels, L %d "
                   "-> %d, K %d, stride %d (math %s%s, workspace limit %zu MiB)",
                   what, d->B, d->Cin, d->Cout, d->L, d->Lout, d->K, d->stride,
                   c->tf32 ? "tf32" : "fp32", c->deterministic ? ", deterministic" : "",
                   c->ws_limit >> 20);
    return -1;
}

static int conv_find_fwd(cuda_ctx *c, conv_plan *p, const float *x, const float *w, float *y)
{
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
    int n = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, conv_base_math(c)));
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, p->x_desc, p->w_desc, p->conv_desc,
                                                       p->y_desc, MAX_ALGOS, &n, perf));
    if (cuda_buf_reserve(c, &c->ws, ws_need(c, perf, n), "cuDNN workspace") != 0)
        return -1;
    find_fence();
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(c->cudnn, p->x_desc, x, p->w_desc, w,
                                                       p->conv_desc, p->y_desc, y, MAX_ALGOS, &n,
                                                       perf, c->ws.p, c->ws.bytes));
    find_fence();
    c->stats.algo_searches++;
    for (int i = 0; i < n; i++) // sorted fastest first
        if (algo_ok(c, perf[i].status, perf[i].memory, perf[i].determinism, perf[i].mathType)) {
            p->fwd_algo = perf[i].algo;
            p->fwd_math = algo_math(c, perf[i].mathType);
            p->fwd_ws = perf[i].memory;
            p->have_fwd = 1;
            algo_report(c, "forward", p, (int)perf[i].algo, p->fwd_math, perf[i].time,
                        perf[i].memory, n);
            return 0;
        }
    return conv_shape_error("forward", c, &p->d);
}

static int conv_find_bwd_data(cuda_ctx *c, conv_plan *p, const float *w, const float *dy,
                               float *dx)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
    int n = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, conv_base_math(c)));
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        c->cudnn, p->w_desc, p->y_desc, p->conv_desc, p->x_desc, MAX_ALGOS, &n, perf));
    if (cuda_buf_reserve(c, &c->ws, ws_need(c, perf, n), "cuDNN workspace") != 0)
        return -1;
    find_fence();
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(c->cudnn, p->w_desc, w, p->y_desc, dy,
                                                            p->conv_desc, p->x_desc, dx, MAX_ALGOS,
                                                            &n, perf, c->ws.p, c->ws.bytes));
    find_fence();
    c->stats.algo_searches++;
    for (int i = 0; i < n; i++)
        if (algo_ok(c, perf[i].status, perf[i].memory, perf[i].determinism, perf[i].mathType)) {
            p->bwd_data_algo = perf[i].algo;
            p->bwd_data_math = algo_math(c, perf[i].mathType);
            p->bwd_data_ws = perf[i].memory;
            p->have_bwd_data = 1;
            algo_report(c, "backward-data", p, (int)perf[i].algo, p->bwd_data_math, perf[i].time,
                        perf[i].memory, n);
            return 0;
        }
    return conv_shape_error("backward-data", c, &p->d);
}

static int conv_find_bwd_filter(cuda_ctx *c, conv_plan *p, const float *x, const float *dy,
                                 float *dw)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_ALGOS];
    int n = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, conv_base_math(c)));
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        c->cudnn, p->x_desc, p->y_desc, p->conv_desc, p->w_desc, MAX_ALGOS, &n, perf));
    if (cuda_buf_reserve(c, &c->ws, ws_need(c, perf, n), "cuDNN workspace") != 0)
        return -1;
    find_fence();
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        c->cudnn, p->x_desc, x, p->y_desc, dy, p->conv_desc, p->w_desc, dw, MAX_ALGOS, &n, perf,
        c->ws.p, c->ws.bytes));
    find_fence();
    c->stats.algo_searches++;
    for (int i = 0; i < n; i++)
        if (algo_ok(c, perf[i].status, perf[i].memory, perf[i].determinism, perf[i].mathType)) {
            p->bwd_filter_algo = perf[i].algo;
            p->bwd_filter_math = algo_math(c, perf[i].mathType);
            p->bwd_filter_ws = perf[i].memory;
            p->have_bwd_filter = 1;
            algo_report(c, "backward-filter", p, (int)perf[i].algo, p->bwd_filter_math,
                        perf[i].time, perf[i].memory, n);
            return 0;
        }
    return conv_shape_error("backward-filter", c, &p->d);
}

/* conv1d_prepare (backend.h): the plan of shape d and its three algorithm
 * searches before its first call, so that the workspace, the conv scratch
 * and the searches happen in model_reserve (and train_run's preparation of
 * the epoch's and the dev batches' shapes), where running out of memory is
 * an error message before training starts. The searches write their
 * outputs: they get zeroed scratch tensors of the shape, freed afterwards. */
static int cuda_conv_prepare(backend *be, const conv_dims *d, rerr *e)
{
    cuda_ctx *c = ctx_of(be);
    conv_plan *p = be->failure[0] ? NULL : conv_plan_get(c, d);
    if (p && !(p->have_fwd && p->have_bwd_data && p->have_bwd_filter)) {
        const size_t nx = (size_t)d->B * d->Cin * d->L, ny = (size_t)d->B * d->Cout * p->Lc,
                     nw = (size_t)d->Cout * d->Cin * d->K;
        const size_t n[6] = {nx, nx, ny, ny, nw, nw}; // x, dx, y, dy, w, dw
        size_t off[6], bytes = 0;
        for (int i = 0; i < 6; i++) { // each on its own 256-byte boundary, as cudaMalloc's
            off[i] = bytes;
            bytes += (n[i] * sizeof(float) + 255) & ~(size_t)255;
        }
        char *t = NULL;
        if (cudaMalloc((void **)&t, bytes) != cudaSuccess) {
            (void)cudaGetLastError(); // not sticky
            cuda_fail_soft(c, "CUDA: out of device memory preparing the convolution of B %d, %d -> "
                              "%d channels, L %d (%zu MiB of scratch tensors)",
                           d->B, d->Cin, d->Cout, d->L, (bytes + (1 << 20) - 1) >> 20);
        } else {
            c->stats.device_allocs++;
            CUDA_CHECK(cudaMemsetAsync(t, 0, bytes, c->stream));
            float *x = (float *)(t + off[0]), *dx = (float *)(t + off[1]);
            float *y = (float *)(t + off[2]), *dy = (float *)(t + off[3]);
            float *w = (float *)(t + off[4]), *dw = (float *)(t + off[5]);
            (void)((!p->have_fwd && conv_find_fwd(c, p, x, w, y) != 0) ||
                   (!p->have_bwd_data && conv_find_bwd_data(c, p, w, dy, dx) != 0) ||
                   (!p->have_bwd_filter && conv_find_bwd_filter(c, p, x, dy, dw) != 0));
            CUDA_CHECK(cudaStreamSynchronize(c->stream));
            CUDA_CHECK(cudaFree(t));
        }
    }
    if (be->failure[0])
        return rerr_set(e, "%s", be->failure);
    return 0;
}

static void cuda_conv_fwd(backend *be, float *out, const float *inp, const float *w, const float *b,
                          const conv_dims *d)
{
    // out (B, Cout, Lout) =, inp (B, Cin, L), w (Cout, Cin, K), b (Cout)
    cuda_ctx *c = ctx_of(be);
    conv_plan *p = be->failure[0] ? NULL : conv_plan_get(c, d);
    if (!p)
        return;
    float *y = p->direct ? out : (float *)c->conv_tmp.p; // (B, Cout, Lc)
    if (!p->have_fwd && conv_find_fwd(c, p, inp, w, y) != 0)
        return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, p->fwd_math));
    CUDNN_CHECK(cudnnConvolutionForward(c->cudnn, &one, p->x_desc, inp, p->w_desc, w, p->conv_desc,
                                        p->fwd_algo, c->ws.p, p->fwd_ws, &zero, p->y_desc, y));
    // bias, and the shifted window for asymmetric pads (in place when direct)
    cuda_launch_bias_shift(c, out, y, b, d->B, d->Cout, d->Lout, p->Lc, p->shift);
}

static void cuda_conv_bwd(backend *be, float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const conv_dims *d)
{
    // dinp (B, Cin, L) = (optional), dw (Cout, Cin, K) =, db (Cout) =,
    // dout (B, Cout, Lout), inp (B, Cin, L), w (Cout, Cin, K)
    cuda_ctx *c = ctx_of(be);
    conv_plan *p = be->failure[0] ? NULL : conv_plan_get(c, d);
    if (!p)
        return;
    const float *dy = dout; // (B, Cout, Lc): cuDNN's view of the output gradient
    if (!p->direct) {
        float *t = (float *)c->conv_tmp.p;
        cuda_launch_pad_shift(c, t, dout, d->B, d->Cout, d->Lout, p->Lc, p->shift);
        dy = t;
    }
    const float one = 1.0f, zero = 0.0f;
    if (dinp) {
        if (!p->have_bwd_data && conv_find_bwd_data(c, p, w, dy, dinp) != 0)
            return;
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, p->bwd_data_math));
        CUDNN_CHECK(cudnnConvolutionBackwardData(c->cudnn, &one, p->w_desc, w, p->y_desc, dy,
                                                 p->conv_desc, p->bwd_data_algo, c->ws.p,
                                                 p->bwd_data_ws, &zero, p->x_desc, dinp));
    }
    if (!p->have_bwd_filter && conv_find_bwd_filter(c, p, inp, dy, dw) != 0)
        return;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, p->bwd_filter_math));
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->cudnn, &one, p->x_desc, inp, p->y_desc, dy,
                                               p->conv_desc, p->bwd_filter_algo, c->ws.p,
                                               p->bwd_filter_ws, &zero, p->w_desc, dw));
    cuda_launch_channel_sum(c, db, dout, d->B, d->Cout, d->Lout);
}

/* ---- dense: cuBLAS (column-major) on row-major tensors ----
 * A row-major (r, c) matrix is a column-major (c, r) one, so every product
 * below is written on the transposed views. */

static void cuda_dense_fwd(backend *be, float *out, const float *inp, const float *w,
                           const float *b, int B, int C, int T, int K)
{
    // out (B, T, K) = inp (B, C, T)^T . w (K, C)^T + b (K). Per sample, column-
    // major: out_b (K x T) = W (K x C) . X_b (C x T), with W = op_T of w seen
    // as (C x K), X_b = op_T of inp_b seen as (T x C).
    cuda_ctx *c = ctx_of(be);
    cuda_launch_rows_fill(c, out, b, (long)B * T, K);
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(c->cublas, CUBLAS_OP_T, CUBLAS_OP_T, K, T, C, &one, w, C,
                                           0, inp, T, (long long)C * T, &one, out, K,
                                           (long long)T * K, B));
}

static void cuda_dense_bwd(backend *be, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, int C, int T, int K)
{
    // dinp (B, C, T) =, dw (K, C) =, db (K) =, dout (B, T, K), inp (B, C, T), w (K, C)
    cuda_ctx *c = ctx_of(be);
    const float one = 1.0f, zero = 0.0f;
    // dinp_b (T x C col-major) = G_b (T x K) . W (K x C), G_b = op_T of dout_b
    // seen as (K x T), W = op_T of w seen as (C x K)
    CUBLAS_CHECK(cublasSgemmStridedBatched(c->cublas, CUBLAS_OP_T, CUBLAS_OP_T, T, C, K, &one, dout,
                                           K, (long long)T * K, w, C, 0, &zero, dinp, T,
                                           (long long)C * T, B));
    // dw (C x K col-major) = sum_b X_b (C x T) . G_b (T x K): one GEMM per
    // sample accumulated in a fixed order (the (b, t) pairs of a channel are
    // not one strided matrix in the (B, C, T) layout)
    for (int bi = 0; bi < B; bi++)
        CUBLAS_CHECK(cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_T, C, K, T, &one,
                                 inp + (long)bi * C * T, T, dout + (long)bi * T * K, K,
                                 bi == 0 ? &zero : &one, dw, C));
    cuda_launch_col_sum(c, db, dout, (long)B * T, K);
}

/* ---- the other layers: own kernels ---- */

static void cuda_bnrelu_fwd(backend *be, float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, float *rm, float *rv, int B,
                            int C, int L, float momentum, float eps, int training, float p,
                            uint64_t seed)
{
    cuda_launch_bnrelu_forward(ctx_of(be), out, mean, rstd, inp, gamma, beta, rm, rv, B, C, L,
                               momentum, eps, training, p, seed);
}

static void cuda_bnrelu_bwd(backend *be, float *dinp, float *dgamma, float *dbeta,
                            const float *dout, const float *out, const float *inp,
                            const float *mean, const float *rstd, const float *gamma,
                            const float *beta, int B, int C, int L, float p)
{
    (void)beta; // the mask comes from out, as in the reference
    cuda_launch_bnrelu_backward(ctx_of(be), dinp, dgamma, dbeta, dout, out, inp, mean, rstd, gamma,
                                B, C, L, p);
}

static void cuda_sc_fwd(backend *be, float *out, const float *inp, int B, int Cin, int Cout, int L,
                        int pool)
{
    cuda_launch_shortcut_forward(ctx_of(be), out, inp, B, Cin, Cout, L, pool);
}

static void cuda_sc_bwd(backend *be, float *dinp, const float *dout, const float *inp, int B,
                        int Cin, int Cout, int L, int pool)
{
    cuda_launch_shortcut_backward(ctx_of(be), dinp, dout, inp, B, Cin, Cout, L, pool);
}

static void cuda_add_(backend *be, float *y, const float *a, const float *b, long n)
{
    cuda_launch_add(ctx_of(be), y, a, b, n);
}

/* labels are host memory (loss.h): counted and checked here, copied to the
 * device through the staging path */
static float cuda_loss(backend *be, float *probs, float *dlogits, const float *logits,
                       const int *labels, int N, const loss_params *p)
{
    cuda_ctx *c = ctx_of(be);
    RESECG_ASSERT(p->K >= 1 && p->K <= RESECG_MAX_CLASSES);
    int nvalid = 0;
    for (int i = 0; i < N; i++) {
        RESECG_ASSERT(labels[i] < p->K);
        nvalid += labels[i] >= 0;
    }
    if (N <= 0)
        return 0.0f;
    if (be->failure[0] || cuda_buf_reserve(c, &c->labels, (size_t)N * sizeof(int), "loss labels"))
        return 0.0f; /* the caller stops on the failure (backend_failed) */
    cuda_upload(be, c->labels.p, labels, (size_t)N * sizeof(int));
    return cuda_run_loss(c, probs, dlogits, logits, (const int *)c->labels.p, nvalid, N, p);
}

static double cuda_sqnorm(backend *be, const float *x, long n)
{
    return cuda_run_sqnorm(ctx_of(be), x, n);
}

static void cuda_adam(backend *be, float *params, float *m, float *v, const float *grads, long n,
                      float lr, float beta1, float beta2, float eps, int t, float grad_scale)
{
    // bias corrections on the host, in float, exactly as cpu_adam
    const float bc1 = 1.0f - powf(beta1, (float)t);
    const float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    const float step = lr / bc1;
    cuda_launch_adam(ctx_of(be), params, m, v, grads, n, beta1, beta2, eps, step, bc2_sqrt,
                     grad_scale);
}

/* ---- lifetime ---- */

static void cuda_destroy(backend *be)
{
    cuda_ctx *c = be ? ctx_of(be) : NULL;
    if (c) {
        // teardown ignores errors: after a device fault there is nothing to save
        if (c->stream)
            (void)cudaStreamSynchronize(c->stream);
        for (int i = 0; i < c->nplans; i++) {
            conv_plan *p = &c->plans[i];
            if (p->x_desc)
                cudnnDestroyTensorDescriptor(p->x_desc);
            if (p->y_desc)
                cudnnDestroyTensorDescriptor(p->y_desc);
            if (p->w_desc)
                cudnnDestroyFilterDescriptor(p->w_desc);
            if (p->conv_desc)
                cudnnDestroyConvolutionDescriptor(p->conv_desc);
        }
        free(c->plans);
        // the handles first: cuBLAS may still refer to its workspace (and
        // cuDNN to the stream) until destroyed; then their memory, then
        // the stream everything was ordered on
        if (c->cudnn)
            cudnnDestroy(c->cudnn);
        if (c->cublas)
            cublasDestroy(c->cublas);
        cuda_buf *bufs[] = {&c->ws, &c->conv_tmp, &c->red, &c->labels, &c->cublas_ws};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]->p)
                (void)cudaFree(bufs[i]->p);
        for (int i = 0; i < 2; i++) {
            if (c->staging[i])
                (void)cudaFreeHost(c->staging[i]);
            if (c->staging_done[i])
                (void)cudaEventDestroy(c->staging_done[i]);
        }
        if (c->host_result)
            (void)cudaFreeHost(c->host_result);
        if (c->stream)
            (void)cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

int cuda_device_probe(char *desc, size_t desc_size, rerr *e)
{
    int count = 0, dev = 0;
    cudaDeviceProp prop;
    // Without a driver this is where the runtime finds out (it loads
    // libcuda.so lazily): "CUDA driver version is insufficient for CUDA
    // runtime version" or "no CUDA-capable device is detected".
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        rerr_set(e, "no CUDA device: %s", cudaGetErrorString(err));
        return -1;
    }
    if (count <= 0) {
        rerr_set(e, "no CUDA device: the CUDA runtime found 0 devices");
        return -1;
    }
    if ((err = cudaGetDevice(&dev)) != cudaSuccess ||
        (err = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) {
        (void)cudaGetLastError();
        rerr_set(e, "no CUDA device: %s", cudaGetErrorString(err));
        return -1;
    }
    if (desc && desc_size)
        snprintf(desc, desc_size, "%s, sm_%d%d, %d SMs, %.1f GiB", prop.name, prop.major,
                 prop.minor, prop.multiProcessorCount,
                 (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return count;
}

/* Reads the RESECG_CUDA_* settings; -1 with e filled on a bad value. */
static int cuda_read_env(cuda_ctx *c, rerr *e)
{
    const char *s = getenv("RESECG_CUDA_MATH");
    c->tf32 = 1;
    if (s && *s) {
        if (strcmp(s, "tf32") == 0)
            c->tf32 = 1;
        else if (strcmp(s, "fp32") == 0)
            c->tf32 = 0;
        else
            return rerr_set(e, "RESECG_CUDA_MATH: expected tf32 or fp32, got '%s'", s);
    }
    s = getenv("RESECG_CUDA_DETERMINISTIC");
    c->deterministic = 0;
    if (s && *s) {
        if (strcmp(s, "0") == 0 || strcmp(s, "1") == 0)
            c->deterministic = s[0] == '1';
        else
            return rerr_set(e, "RESECG_CUDA_DETERMINISTIC: expected 0 or 1, got '%s'", s);
    }
    s = getenv("RESECG_CUDA_VERBOSE");
    c->verbose = s && *s && strcmp(s, "0") != 0;
    s = getenv("RESECG_CUDA_WORKSPACE_MB");
    c->ws_limit = (size_t)1024 << 20;
    if (s && *s) {
        char *end;
        long mb = strtol(s, &end, 10);
        if (*end || mb < 0 || mb > (1L << 20))
            return rerr_set(e, "RESECG_CUDA_WORKSPACE_MB: expected a size in MiB, got '%s'", s);
        c->ws_limit = (size_t)mb << 20;
    }
    return 0;
}

backend *cuda_backend_create(int threads, rerr *e)
{
    (void)threads; // the host side is one thread; the GPU does the work
    backend *be = NULL;
    cuda_ctx *c = NULL;
    if (cuda_device_probe(NULL, 0, e) < 0)
        return NULL;
    be = (backend *)calloc(1, sizeof *be);
    c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        rerr_set(e, "out of memory");
        return NULL;
    }
    be->name = "cuda";
    be->ctx = c;
    c->failure = be->failure;
    c->failure_size = sizeof be->failure;
    be->destroy = cuda_destroy;
    if (cuda_read_env(c, e) != 0)
        goto fail;
    c->stats.tf32 = c->tf32;
    c->stats.deterministic = c->deterministic;

    CUDA_TRY(cudaGetDevice(&c->device));
    CUDA_TRY(cudaGetDeviceProperties(&c->prop, c->device));
    CUDA_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));

    CUBLAS_TRY(cublasCreate(&c->cublas));
    CUBLAS_TRY(cublasSetStream(c->cublas, c->stream));
    // FP32 GEMMs for the dense layer in both modes (PyTorch's default
    // matmul.allow_tf32 = False); its own workspace, so cuBLAS never
    // allocates during a step
    CUBLAS_TRY(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
    CUDA_TRY(cudaMalloc(&c->cublas_ws.p, CUBLAS_WS_BYTES));
    c->cublas_ws.bytes = CUBLAS_WS_BYTES;
    CUBLAS_TRY(cublasSetWorkspace(c->cublas, c->cublas_ws.p, c->cublas_ws.bytes));

    CUDNN_TRY(cudnnCreate(&c->cudnn));
    CUDNN_TRY(cudnnSetStream(c->cudnn, c->stream));

    c->staging_bytes = STAGING_BYTES;
    for (int i = 0; i < 2; i++) {
        CUDA_TRY(cudaMallocHost(&c->staging[i], c->staging_bytes));
        CUDA_TRY(cudaEventCreateWithFlags(&c->staging_done[i], cudaEventDisableTiming));
    }
    CUDA_TRY(cudaMallocHost((void **)&c->host_result, 4 * sizeof(double)));
    CUDA_TRY(cudaMalloc(&c->red.p, RED_INIT_DOUBLES * sizeof(double)));
    c->red.bytes = RED_INIT_DOUBLES * sizeof(double);
    CUDA_TRY(cudaMalloc(&c->labels.p, LABELS_INIT * sizeof(int)));
    c->labels.bytes = LABELS_INIT * sizeof(int);
    c->stats.device_allocs = 3;

    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->zero = cuda_zero;
    be->conv1d_prepare = cuda_conv_prepare;
    be->conv1d_forward = cuda_conv_fwd;
    be->conv1d_backward = cuda_conv_bwd;
    be->bnrelu_forward = cuda_bnrelu_fwd;
    be->bnrelu_backward = cuda_bnrelu_bwd;
    be->shortcut_forward = cuda_sc_fwd;
    be->shortcut_backward = cuda_sc_bwd;
    be->dense_forward = cuda_dense_fwd;
    be->dense_backward = cuda_dense_bwd;
    be->add = cuda_add_;
    be->loss_forward_backward = cuda_loss;
    be->sqnorm = cuda_sqnorm;
    be->adam_step = cuda_adam;
    return be;

fail:
    cuda_destroy(be);
    return NULL;
}

void cuda_backend_get_stats(backend *be, cuda_backend_stats *s)
{
    RESECG_ASSERT(be && be->destroy == cuda_destroy);
    *s = ctx_of(be)->stats;
}

void cuda_versions(char *buf, size_t size)
{
    int drv = 0, rt = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess)
        drv = 0;
    (void)cudaGetLastError();
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess)
        rt = 0;
    (void)cudaGetLastError();
    int cb_major = 0, cb_minor = 0, cb_patch = 0;
    cublasGetProperty(MAJOR_VERSION, &cb_major);
    cublasGetProperty(MINOR_VERSION, &cb_minor);
    cublasGetProperty(PATCH_LEVEL, &cb_patch);
    size_t dnn = cudnnGetVersion(); // major * 10000 + minor * 100 + patch since cuDNN 9
    char dv[32];
    if (drv)
        snprintf(dv, sizeof dv, "%d.%d", drv / 1000, drv % 1000 / 10);
    else
        snprintf(dv, sizeof dv, "none");
    snprintf(buf, size, "driver %s, cudart %d.%d, cuBLAS %d.%d.%d, cuDNN %zu.%zu.%zu", dv,
             rt / 1000, rt % 1000 / 10, cb_major, cb_minor, cb_patch, dnn / 10000, dnn % 10000 / 100,
             dnn % 100);
}

static const cuda_module_api g_api = {
    RESECG_CUDA_MODULE_ABI, sizeof(backend), cuda_backend_create, cuda_device_probe,
    cuda_backend_get_stats, cuda_versions,
};

const cuda_module_api *resecg_cuda_module_v1(void) { return &g_api; }

/* The two CPU backends: "cpu-ref" runs the plain C reference kernels
 * everywhere; "cpu" replaces the convolutions (about 99% of the arithmetic)
 * with oneDNN and its own AVX-512 backward-weights kernel (conv_dnnl.c,
 * conv_wgrad.c), the batch-norm backward with a float-summing copy
 * (bn_fast.c), and keeps the reference kernels for the other memory-bound
 * layers.
 * With train.precision bf16 (the "cpu" backend only) the convolutions run on
 * oneDNN's bf16 kernels (AMX or AVX512-BF16) and the dense layer on rounded
 * operands, and the activations are channels-last (B, L, C), the kernels'
 * own layout, so the layers between the convolutions are nwc.h's; every
 * buffer stays fp32.
 * Both use OpenMP threads; the flat optimiser loops live here too. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/cpu/nwc.h"

typedef struct cpu_ctx {
    int use_dnnl;
    void *dnnl;    /* onednn ctx, NULL for cpu-ref */
    double *bn_ws; /* nwc: the BN kernels' partial sums (nwc_bn_scratch), grow-only */
    size_t bn_len;
} cpu_ctx;

/* The first failure of a kernel, for backend_failed. */
static void fail(backend *be, const char *msg)
{
    if (!be->failure[0])
        snprintf(be->failure, sizeof be->failure, "%.500s", msg);
}

/* The nwc BN scratch for (B, C, L), grown if needed (conv1d_prepare grows it
 * for every shape of a full batch up front); NULL when out of memory. */
static double *bn_scratch(cpu_ctx *c, int B, int C, int L)
{
    size_t need = nwc_bn_scratch(B, C, L);
    if (need > c->bn_len) {
        double *nb = realloc(c->bn_ws, need * sizeof(double));
        if (!nb)
            return NULL;
        c->bn_ws = nb;
        c->bn_len = need;
    }
    return c->bn_ws;
}

static void *cpu_alloc(backend *be, size_t bytes)
{
    (void)be;
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}
static void cpu_free(backend *be, void *p) { (void)be; free(p); }
static void cpu_copy(backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (dst != src)
        memcpy(dst, src, bytes);
}
static void cpu_zero(backend *be, void *p, size_t bytes) { (void)be; memset(p, 0, bytes); }

static int cpu_conv_prepare(backend *be, const conv_dims *d, rerr *e)
{
    cpu_ctx *c = be->ctx;
    if (c->dnnl && onednn_conv1d_prepare(c->dnnl, d, e) != 0)
        return -1;
    // the BN layers around this conv: its input's and its output's shape
    if (be->act_nwc &&
        (!bn_scratch(c, d->B, d->Cin, d->L) || !bn_scratch(c, d->B, d->Cout, d->Lout)))
        return rerr_set(e, "out of memory for the batch-norm scratch of a %d x %d batch", d->B,
                        d->L);
    return 0;
}

static void cpu_conv_fwd(backend *be, float *out, const float *inp, const float *w, const float *b,
                         const conv_dims *d)
{
    cpu_ctx *c = be->ctx;
    rerr e;
    if (be->failure[0])
        return;
    if (!c->dnnl)
        cpu_conv1d_forward(out, inp, w, b, d);
    else if (onednn_conv1d_forward(c->dnnl, out, inp, w, b, d, &e) != 0)
        fail(be, e.msg);
}

static void cpu_conv_bwd(backend *be, float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, const conv_dims *d)
{
    cpu_ctx *c = be->ctx;
    rerr e;
    if (be->failure[0])
        return;
    if (!c->dnnl)
        cpu_conv1d_backward(dinp, dw, db, dout, inp, w, d);
    else if (onednn_conv1d_backward(c->dnnl, dinp, dw, db, dout, inp, w, d, &e) != 0)
        fail(be, e.msg);
}

static void cpu_bnrelu_fwd(backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *gamma, const float *beta, float *rm, float *rv, int B,
                           int C, int L, float momentum, float eps, int training, float p,
                           uint64_t seed)
{
    if (be->act_nwc) {
        double *ws = bn_scratch(be->ctx, B, C, L);
        if (!ws)
            fail(be, "out of memory for the batch-norm scratch");
        else if (!be->failure[0])
            nwc_bnrelu_forward(out, mean, rstd, inp, gamma, beta, rm, rv, B, C, L, momentum, eps,
                               training, p, seed, ws);
        return;
    }
    cpu_bnrelu_forward(out, mean, rstd, inp, gamma, beta, rm, rv, B, C, L, momentum, eps, training,
                       p, seed);
}

static void cpu_bnrelu_bwd(backend *be, float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *out, const float *inp, const float *mean,
                           const float *rstd, const float *gamma, const float *beta, int B, int C,
                           int L, float p)
{
    cpu_ctx *c = be->ctx;
    double *ws = be->act_nwc ? bn_scratch(c, B, C, L) : NULL;
    if (be->act_nwc && !ws)
        fail(be, "out of memory for the batch-norm scratch");
    else if (be->failure[0])
        return;
    else if (be->act_nwc)
        nwc_bnrelu_backward(dinp, dgamma, dbeta, dout, out, inp, mean, rstd, gamma, B, C, L, p, ws);
    else if (c->dnnl)
        fast_bnrelu_backward(dinp, dgamma, dbeta, dout, out, inp, mean, rstd, gamma, B, C, L, p);
    else
        cpu_bnrelu_backward(dinp, dgamma, dbeta, dout, out, inp, mean, rstd, gamma, beta, B, C, L,
                            p);
}

static void cpu_sc_fwd(backend *be, float *out, const float *inp, int B, int Cin, int Cout, int L,
                       int pool)
{
    if (be->act_nwc)
        nwc_shortcut_forward(out, inp, B, Cin, Cout, L, pool);
    else
        cpu_shortcut_forward(out, inp, B, Cin, Cout, L, pool);
}

static void cpu_sc_bwd(backend *be, float *dinp, const float *dout, const float *inp, int B,
                       int Cin, int Cout, int L, int pool)
{
    if (be->act_nwc)
        nwc_shortcut_backward(dinp, dout, inp, B, Cin, Cout, L, pool);
    else
        cpu_shortcut_backward(dinp, dout, inp, B, Cin, Cout, L, pool);
}

/* The dense layer is tiny (K classes per frame): in bf16 (always nwc) its
 * operands are rounded where a bf16 GEMM would read them, and the double
 * accumulator does the rest (nwc.h). */
static void cpu_dense_fwd(backend *be, float *out, const float *inp, const float *w,
                          const float *b, int B, int C, int T, int K)
{
    if (be->act_nwc) {
        nwc_dense_forward(out, inp, w, b, B, C, T, K, be->precision == PRECISION_BF16);
        return;
    }
    cpu_dense_forward(out, inp, w, b, B, C, T, K);
}

static void cpu_dense_bwd(backend *be, float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int B, int C, int T, int K)
{
    if (be->act_nwc) {
        nwc_dense_backward(dinp, dw, db, dout, inp, w, B, C, T, K,
                           be->precision == PRECISION_BF16);
        return;
    }
    cpu_dense_backward(dinp, dw, db, dout, inp, w, B, C, T, K);
}

static void cpu_add_(backend *be, float *y, const float *a, const float *b, long n)
{
    (void)be;
    cpu_add(y, a, b, n);
}

static float cpu_loss(backend *be, float *probs, float *dlogits, const float *logits,
                      const int *labels, int N, const loss_params *p)
{
    (void)be;
    return cpu_loss_forward_backward(probs, dlogits, logits, labels, N, p);
}

/* Sum of squares in a fixed number of chunks added in a fixed order, so the
 * result does not depend on the thread count (OpenMP's reduction clause
 * leaves the combination order unspecified). */
#define SQNORM_CHUNKS 64
static double cpu_sqnorm(backend *be, const float *x, long n)
{
    (void)be;
    double part[SQNORM_CHUNKS];
    long chunk = (n + SQNORM_CHUNKS - 1) / SQNORM_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < SQNORM_CHUNKS; c++) {
        long lo = (long)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0;
        for (long i = lo; i < hi; i++)
            s += (double)x[i] * x[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < SQNORM_CHUNKS; c++)
        s += part[c];
    return s;
}

/* PyTorch's Adam (no weight decay, no amsgrad):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
static void cpu_adam(backend *be, float *params, float *m, float *v, const float *grads, long n,
                     float lr, float beta1, float beta2, float eps, int t, float grad_scale)
{
    (void)be;
    float bc1 = 1.0f - powf(beta1, (float)t);
    float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    float step = lr / bc1;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float g = grads[i] * grad_scale;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        params[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

static void cpu_destroy(backend *be)
{
    cpu_ctx *c = be->ctx;
    if (c && c->dnnl)
        onednn_ctx_destroy(c->dnnl);
    if (c)
        free(c->bn_ws);
    free(c);
    free(be);
}

backend *cpu_backend_create(int use_dnnl, int threads, precision_kind prec, rerr *e)
{
    if (prec == PRECISION_BF16 && (!use_dnnl || onednn_bf16_check(e) != 0)) {
        if (!use_dnnl)
            rerr_set(e, "train.precision bf16 needs the oneDNN backend (device cpu)");
        return NULL;
    }
    if (threads > 0)
        omp_set_num_threads(threads);
    backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        rerr_set(e, "out of memory");
        return NULL;
    }
    c->use_dnnl = use_dnnl;
    if (use_dnnl) {
        // bf16: activations channels-last (nwc.h), the AMX kernels' layout
        c->dnnl = onednn_ctx_create(prec, prec == PRECISION_BF16, e);
        if (!c->dnnl) {
            free(be);
            free(c);
            return NULL;
        }
    }
    be->name = use_dnnl ? "cpu" : "cpu-ref";
    be->precision = prec;
    be->act_nwc = use_dnnl && prec == PRECISION_BF16;
    be->ctx = c;
    be->destroy = cpu_destroy;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->zero = cpu_zero;
    be->prepare_cap = use_dnnl ? ONEDNN_CACHE_CAP : 0;
    be->conv1d_prepare = cpu_conv_prepare;
    be->conv1d_forward = cpu_conv_fwd;
    be->conv1d_backward = cpu_conv_bwd;
    be->bnrelu_forward = cpu_bnrelu_fwd;
    be->bnrelu_backward = cpu_bnrelu_bwd;
    be->shortcut_forward = cpu_sc_fwd;
    be->shortcut_backward = cpu_sc_bwd;
    be->dense_forward = cpu_dense_fwd;
    be->dense_backward = cpu_dense_bwd;
    be->add = cpu_add_;
    be->loss_forward_backward = cpu_loss;
    be->sqnorm = cpu_sqnorm;
    be->adam_step = cpu_adam;
    return be;
}

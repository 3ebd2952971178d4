/* Benchmark (not a test) of the 1-D convolution on the conv layers of the
 * default ResECG network (batch 32 x 8960 samples, K = 16): oneDNN through
 * the backend's ctx (with its preferred formats and with plain ncw), a
 * straightforward im2col + OpenBLAS sgemm path, and the plain C reference on
 * a few layers, plus the machine's SGEMM peak from both libraries. The table
 * is what the README cites to choose the CPU convolution library.
 *
 * usage: bench_conv [-b batch] [-n repeats] [--no-ref] [--cpu-time]
 * --cpu-time times with the process CPU clock: with OMP_NUM_THREADS=1 that
 * gives stable numbers on a machine busy with other work.
 * Threads: OMP_NUM_THREADS (oneDNN, the reference, im2col); OpenBLAS is set
 * to the same count. */
#include <cblas.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"

/* A oneDNN call that must succeed for the figures to mean anything. */
static rerr conv_err;
#define BENCH_OK(call)                                                                   \
    do {                                                                                 \
        if ((call) != 0) {                                                               \
            fprintf(stderr, "bench_conv: %s\n", conv_err.msg);                            \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)
#include "nn/layers.h"
#include "nn/rng.h"
#include "base/util.h"

/* The distinct convolutions of the default network (16 blocks, 32 filters
 * doubling every 4 blocks, stride 2 on the first conv of odd blocks) with
 * how often each occurs: the counts make the totals one training step. */
typedef struct layer {
    const char *name;
    int count, Cin, Cout, L, stride, has_dinp, run_ref;
} layer;

static const layer LAYERS[] = {
    {"stem", 1, 1, 32, 8960, 1, 0, 1},
    {"b0", 2, 32, 32, 8960, 1, 1, 0},
    {"b1.conv1", 1, 32, 32, 8960, 2, 1, 0},
    {"b1-2", 3, 32, 32, 4480, 1, 1, 0},
    {"b3.conv1", 1, 32, 32, 4480, 2, 1, 1},
    {"b3.conv2", 1, 32, 32, 2240, 1, 1, 0},
    {"b4.conv1", 1, 32, 64, 2240, 1, 1, 0},
    {"b4.conv2", 1, 64, 64, 2240, 1, 1, 0},
    {"b5.conv1", 1, 64, 64, 2240, 2, 1, 0},
    {"b5-6", 3, 64, 64, 1120, 1, 1, 0},
    {"b7.conv1", 1, 64, 64, 1120, 2, 1, 0},
    {"b7.conv2", 1, 64, 64, 560, 1, 1, 0},
    {"b8.conv1", 1, 64, 128, 560, 1, 1, 0},
    {"b8.conv2", 1, 128, 128, 560, 1, 1, 0},
    {"b9.conv1", 1, 128, 128, 560, 2, 1, 0},
    {"b9-10", 3, 128, 128, 280, 1, 1, 0},
    {"b11.conv1", 1, 128, 128, 280, 2, 1, 0},
    {"b11.conv2", 1, 128, 128, 140, 1, 1, 0},
    {"b12.conv1", 1, 128, 256, 140, 1, 1, 0},
    {"b12.conv2", 1, 256, 256, 140, 1, 1, 0},
    {"b13.conv1", 1, 256, 256, 140, 2, 1, 0},
    {"b13-14", 3, 256, 256, 70, 1, 1, 0},
    {"b15.conv1", 1, 256, 256, 70, 2, 1, 1},
    {"b15.conv2", 1, 256, 256, 35, 1, 1, 1},
};
#define NLAYERS ((int)(sizeof LAYERS / sizeof LAYERS[0]))
#define KERNEL 16

/* oneDNN as the backend uses it (per-op formats, see conv_dnnl.c) and with
 * one format forced for all three ops; the two OpenBLAS schemes; the oracle. */
enum {
    IMPL_DNNL,
    IMPL_DNNL_ANY,
    IMPL_DNNL_NCW,
    IMPL_DNNL_NWC,
    IMPL_BLAS,
    IMPL_BLAS_OMP,
    IMPL_REF,
    NIMPL
};
#define NDNNL 4
static const char *IMPL_NAME[NIMPL] = {"onednn",   "onednn-any",   "onednn-ncw", "onednn-nwc",
                                       "openblas", "openblas-omp", "reference"};
static const char *DNNL_LAYOUT[NDNNL] = {"auto", "any", "ncw", "nwc"};

/* ---- im2col + OpenBLAS ----
 * Two ways to thread it: "openblas" lets OpenBLAS thread each sample's GEMM
 * (im2col in the calling thread, so OpenMP and OpenBLAS's own pthreads never
 * compete for the cores); "openblas-omp" runs samples in parallel with
 * OpenMP and single-threaded GEMMs, the usual batched im2col scheme. */

/* Work buffers: one sample's columns per thread, and per-thread dw partials. */
typedef struct blas_ws {
    float *col; /* (threads, Cin*K, Lout) */
    float *dw;  /* (threads, Cout, Cin*K) */
    size_t col_cap, dw_cap;
    int threads;
} blas_ws;

static float *grow(float *p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return p;
    free(p);
    p = malloc(n * sizeof(float));
    RESECG_ASSERT(p != NULL);
    *cap = n;
    return p;
}

static void blas_ws_reserve(blas_ws *ws, const conv_dims *d)
{
    ws->col = grow(ws->col, &ws->col_cap, (size_t)ws->threads * d->Cin * d->K * d->Lout);
    ws->dw = grow(ws->dw, &ws->dw_cap, (size_t)ws->threads * d->Cout * d->Cin * d->K);
}

/* col (Cin*K, Lout): col[ci*K + k, t] = x[ci, t*s + k - pad], 0 outside. */
static void im2col(float *col, const float *x, const conv_dims *d)
{
    // x (Cin, L): one sample
    for (int ci = 0; ci < d->Cin; ci++) {
        for (int k = 0; k < d->K; k++) {
            float *c = col + ((size_t)ci * d->K + k) * d->Lout;
            const float *xr = x + (size_t)ci * d->L;
            int off = k - d->pad_left;
            for (int t = 0; t < d->Lout; t++) {
                int j = t * d->stride + off;
                c[t] = (j >= 0 && j < d->L) ? xr[j] : 0.0f;
            }
        }
    }
}

/* dx (Cin, L) = the transpose of im2col applied to col (Cin*K, Lout). */
static void col2im(float *dx, const float *col, const conv_dims *d)
{
    for (int ci = 0; ci < d->Cin; ci++) {
        float *r = dx + (size_t)ci * d->L;
        memset(r, 0, (size_t)d->L * sizeof(float));
        for (int k = 0; k < d->K; k++) {
            const float *c = col + ((size_t)ci * d->K + k) * d->Lout;
            int off = k - d->pad_left;
            for (int t = 0; t < d->Lout; t++) {
                int j = t * d->stride + off;
                if (j >= 0 && j < d->L)
                    r[j] += c[t];
            }
        }
    }
}

/* out_b (Cout, Lout) = w (Cout, Cin*K) . col_b (Cin*K, Lout) + b */
static void blas_forward_sample(float *col, float *o, const float *x, const float *w,
                                const float *b, const conv_dims *d)
{
    const int CK = d->Cin * d->K;
    im2col(col, x, d);
    for (int co = 0; co < d->Cout; co++)
        for (int t = 0; t < d->Lout; t++)
            o[(size_t)co * d->Lout + t] = b[co];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->Cout, d->Lout, CK, 1.0f, w, CK,
                col, d->Lout, 1.0f, o, d->Lout);
}

/* dw (Cout, Cin*K) (+)= dout_b (Cout, Lout) . col_b^T */
static void blas_bwd_w_sample(float *col, float *dw, int accumulate, const float *g,
                              const float *x, const conv_dims *d)
{
    const int CK = d->Cin * d->K;
    im2col(col, x, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->Cout, CK, d->Lout, 1.0f, g, d->Lout,
                col, d->Lout, accumulate ? 1.0f : 0.0f, dw, CK);
}

/* col (Cin*K, Lout) = w^T . dout_b, then dx_b = col2im(col) */
static void blas_bwd_d_sample(float *col, float *dx, const float *g, const float *w,
                              const conv_dims *d)
{
    const int CK = d->Cin * d->K;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, d->Lout, d->Cout, 1.0f, w, CK, g,
                d->Lout, 0.0f, col, d->Lout);
    col2im(dx, col, d);
}

static void blas_bias_grad(float *db, const float *dout, const conv_dims *d)
{
    for (int co = 0; co < d->Cout; co++) {
        float s = 0.0f;
        for (int bi = 0; bi < d->B; bi++) {
            const float *g = dout + ((size_t)bi * d->Cout + co) * d->Lout;
            for (int t = 0; t < d->Lout; t++)
                s += g[t];
        }
        db[co] = s;
    }
}

/* which: 0 forward, 1 backward weights, 2 backward weights + data;
 * omp: samples in parallel (single-threaded GEMMs) instead of threaded GEMMs */
static void blas_run(blas_ws *ws, int omp, int which, float *out, float *dx, float *dw,
                     float *db, const float *dout, const float *x, const float *w,
                     const float *b, const conv_dims *d)
{
    const size_t xs = (size_t)d->Cin * d->L, os = (size_t)d->Cout * d->Lout;
    const size_t cs = (size_t)d->Cin * d->K * d->Lout, ws_dw = (size_t)d->Cout * d->Cin * d->K;
    if (!omp) {
        for (int bi = 0; bi < d->B; bi++) {
            if (which == 0) {
                blas_forward_sample(ws->col, out + bi * os, x + bi * xs, w, b, d);
            } else {
                blas_bwd_w_sample(ws->col, dw, bi > 0, dout + bi * os, x + bi * xs, d);
                if (which == 2)
                    blas_bwd_d_sample(ws->col, dx + bi * xs, dout + bi * os, w, d);
            }
        }
        if (which != 0)
            blas_bias_grad(db, dout, d);
        return;
    }
    const int nt = ws->threads;
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float *col = ws->col + tid * cs;
        float *pdw = ws->dw + tid * ws_dw;
        int first = 1;
        // static schedule: sample bi always goes to the same thread, so the
        // partial sums and their reduction below are deterministic
#pragma omp for schedule(static)
        for (int bi = 0; bi < d->B; bi++) {
            if (which == 0) {
                blas_forward_sample(col, out + bi * os, x + bi * xs, w, b, d);
            } else {
                blas_bwd_w_sample(col, pdw, !first, dout + bi * os, x + bi * xs, d);
                first = 0;
                if (which == 2)
                    blas_bwd_d_sample(col, dx + bi * xs, dout + bi * os, w, d);
            }
        }
        if (first && which != 0)
            memset(pdw, 0, ws_dw * sizeof(float)); // a thread without samples
    }
    if (which != 0) {
        memcpy(dw, ws->dw, ws_dw * sizeof(float));
        for (int t = 1; t < nt; t++)
            for (size_t i = 0; i < ws_dw; i++)
                dw[i] += ws->dw[t * ws_dw + i];
        blas_bias_grad(db, dout, d);
    }
}

/* ---- timing ---- */

typedef struct bench_ctx {
    void *dnnl[NDNNL]; /* one ctx per RESECG_ONEDNN_LAYOUT in DNNL_LAYOUT */
    blas_ws bws;
    int cpu_time; /* time with the process CPU clock instead of wall time */
} bench_ctx;

typedef struct bufs {
    conv_dims d;
    float *x, *w, *b, *dout, *out, *dx, *dw, *db;
} bufs;

/* which: 0 forward, 1 backward weights only, 2 backward weights + data */
static void run_once(bench_ctx *bc, int impl, int which, bufs *u)
{
    const conv_dims *d = &u->d;
    switch (impl) {
    case IMPL_DNNL:
    case IMPL_DNNL_ANY:
    case IMPL_DNNL_NCW:
    case IMPL_DNNL_NWC: {
        void *ctx = bc->dnnl[impl - IMPL_DNNL];
        if (which == 0)
            BENCH_OK(onednn_conv1d_forward(ctx, u->out, u->x, u->w, u->b, d, &conv_err));
        else
            BENCH_OK(onednn_conv1d_backward(ctx, which == 2 ? u->dx : NULL, u->dw, u->db, u->dout, u->x,
                                   u->w, d, &conv_err));
        break;
    }
    case IMPL_BLAS:
    case IMPL_BLAS_OMP:
        // OpenBLAS threads its GEMMs only in the "openblas" variant
        openblas_set_num_threads(impl == IMPL_BLAS_OMP ? 1 : bc->bws.threads);
        blas_run(&bc->bws, impl == IMPL_BLAS_OMP, which, u->out, u->dx, u->dw, u->db, u->dout,
                 u->x, u->w, u->b, d);
        break;
    case IMPL_REF:
        if (which == 0)
            cpu_conv1d_forward(u->out, u->x, u->w, u->b, d);
        else
            cpu_conv1d_backward(which == 2 ? u->dx : NULL, u->dw, u->db, u->dout, u->x, u->w, d);
        break;
    }
}

/* The process's CPU time: with one thread it is what a call costs even on
 * a machine shared with other work (wall time is not, there). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double timed_once(bench_ctx *bc, int impl, int which, bufs *u)
{
    double t0 = bc->cpu_time ? cpu_now() : util_now();
    run_once(bc, impl, which, u);
    return (bc->cpu_time ? cpu_now() : util_now()) - t0;
}

/* After the threaded OpenBLAS variant: its idle workers spin for ~0.1 s
 * (THREAD_TIMEOUT, 2^28 cycles) and would steal a core from whatever runs
 * next, so let them fall asleep first. */
static void blas_settle(int impl)
{
    if (impl == IMPL_BLAS)
        usleep(200000);
}

static float *falloc(size_t n)
{
    float *p = malloc(n * sizeof *p);
    RESECG_ASSERT(p != NULL);
    return p;
}

static double max_rel_diff(const float *a, const float *ref, size_t n)
{
    double m = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)ref[i] * ref[i];
    double scale = sqrt(s / (double)n) + 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]) / scale;
        if (e > m)
            m = e;
    }
    return m;
}

/* ---- SGEMM peak ---- */

static void sgemm_peak(int n)
{
    size_t nn = (size_t)n * n;
    float *A = falloc(nn), *B = falloc(nn), *C = falloc(nn);
    rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < nn; i++) {
        A[i] = rng_uniform(&r) - 0.5f;
        B[i] = rng_uniform(&r) - 0.5f;
    }
    double flop = 2.0 * n * (double)n * n;
    for (int lib = 0; lib < 2; lib++) {
        double best = 1e30;
        for (int rep = 0; rep < 3; rep++) { // first one is the warm-up
            double t0 = util_now();
            if (lib == 0) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n,
                            0.0f, C, n);
            } else {
                dnnl_status_t st = dnnl_sgemm('N', 'N', n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
                RESECG_ASSERT(st == dnnl_success);
            }
            double dt = util_now() - t0;
            if (rep > 0 && dt < best)
                best = dt;
        }
        printf("SGEMM %d^3 %-10s %8.1f ms  %7.1f GFLOP/s\n", n,
               lib == 0 ? "openblas" : "dnnl_sgemm", best * 1e3, flop / best * 1e-9);
    }
    free(A), free(B), free(C);
}

/* The totals over the network's layers, per implementation. */
typedef struct bench_totals {
    double tot[NIMPL][3]; /* weighted by count; ref only on its layers */
    double tot_flop[3], ref_flop;
    double ref_sub[NIMPL]; /* every impl on the reference's layers, for a fair ratio */
    int nconv;
} bench_totals;

/* One layer of the network: every implementation checked against oneDNN's
 * result, then timed (best of nrep), one line each. */
static void bench_layer(bench_ctx *bc, const layer *ly, int batch, int nrep, int with_ref, rng *r,
                        bench_totals *t)
{
    const int ref_here = with_ref && ly->run_ref;
    bufs u;
    conv_dims_same(&u.d, batch, ly->Cin, ly->Cout, ly->L, KERNEL, ly->stride);
    const conv_dims *d = &u.d;
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    u.x = falloc(ni), u.w = falloc(nw), u.b = falloc(d->Cout), u.dout = falloc(no);
    u.out = falloc(no), u.dx = falloc(ni), u.dw = falloc(nw), u.db = falloc(d->Cout);
    for (size_t i = 0; i < ni; i++)
        u.x[i] = rng_normal(r);
    for (size_t i = 0; i < nw; i++)
        u.w[i] = rng_normal(r) * (float)sqrt(2.0 / (d->Cin * d->K));
    for (int i = 0; i < d->Cout; i++)
        u.b[i] = 0.1f * rng_normal(r);
    for (size_t i = 0; i < no; i++)
        u.dout[i] = rng_normal(r);
    blas_ws_reserve(&bc->bws, d);
    double flop = 2.0 * d->B * d->Cout * (double)d->Lout * d->Cin * d->K;
    t->nconv += ly->count;
    t->tot_flop[0] += ly->count * flop;
    t->tot_flop[1] += ly->has_dinp ? ly->count * flop : 0.0;
    t->tot_flop[2] += ly->count * flop;
    const int nwhich = ly->has_dinp ? 3 : 2;

    // warm-up (builds oneDNN primitives, touches pages) and the check
    // of every implementation against oneDNN's preferred-format result
    float *out0 = falloc(no), *dx0 = falloc(ni), *dw0 = falloc(nw);
    double md[NIMPL] = {0};
    for (int impl = 0; impl < NIMPL; impl++) {
        if (impl == IMPL_REF && !ref_here)
            continue;
        for (int which = 0; which < nwhich; which++)
            run_once(bc, impl, which, &u);
        blas_settle(impl);
        if (impl == IMPL_DNNL) {
            memcpy(out0, u.out, no * sizeof(float));
            memcpy(dx0, u.dx, ni * sizeof(float));
            memcpy(dw0, u.dw, nw * sizeof(float));
            continue;
        }
        md[impl] = max_rel_diff(u.out, out0, no);
        double m2 = max_rel_diff(u.dw, dw0, nw);
        double m3 = ly->has_dinp ? max_rel_diff(u.dx, dx0, ni) : 0.0;
        md[impl] = fmax(md[impl], fmax(m2, m3));
    }

    // best[impl][which]: forward, backward-w, backward-w + data
    double best[NIMPL][3];
    for (int impl = 0; impl < NIMPL; impl++)
        for (int which = 0; which < 3; which++)
            best[impl][which] = 1e30;
    for (int rep = 0; rep < nrep; rep++) {
        for (int impl = 0; impl < NIMPL; impl++) {
            if (impl == IMPL_REF && (!ref_here || rep > 0))
                continue;
            for (int which = 0; which < nwhich; which++)
                best[impl][which] = fmin(best[impl][which], timed_once(bc, impl, which, &u));
            blas_settle(impl);
        }
    }

    char shape[64];
    snprintf(shape, sizeof shape, "%d->%d L%d->%d s%d", d->Cin, d->Cout, d->L, d->Lout, d->stride);
    for (int impl = 0; impl < NIMPL; impl++) {
        if (impl == IMPL_REF && !ref_here)
            continue;
        double tf = best[impl][0], tw = best[impl][1];
        double td = ly->has_dinp ? fmax(best[impl][2] - tw, 0.0) : 0.0;
        double tk[3] = {tf, td, tw};
        char col[3][32];
        for (int k = 0; k < 3; k++) {
            if (k == 1 && !ly->has_dinp)
                snprintf(col[k], sizeof col[k], "-");
            else
                snprintf(col[k], sizeof col[k], "%7.2f (%5.0f)", tk[k] * 1e3,
                         tk[k] > 0 ? flop / tk[k] * 1e-9 : 0.0);
            if (impl != IMPL_REF)
                t->tot[impl][k] += ly->count * tk[k];
            if (ref_here)
                t->ref_sub[impl] += tk[k];
        }
        // name, count, shape and GFLOP on the layer's first line only
        char cnt[16] = "", gf[16] = "";
        if (impl == IMPL_DNNL) {
            snprintf(cnt, sizeof cnt, "%d", ly->count);
            snprintf(gf, sizeof gf, "%.2f", flop * 1e-9);
        }
        printf("%-10s %2s %-26s %6s | %-12s %16s %16s %16s | %8.1e\n",
               impl == IMPL_DNNL ? ly->name : "", cnt, impl == IMPL_DNNL ? shape : "", gf,
               IMPL_NAME[impl], col[0], col[1], col[2], md[impl]);
    }
    fflush(stdout);
    if (ref_here)
        t->ref_flop += flop * nwhich;
    free(out0), free(dx0), free(dw0);
    free(u.x), free(u.w), free(u.b), free(u.dout), free(u.out), free(u.dx), free(u.dw), free(u.db);
}

/* One training step's convolutions per implementation, and the ratio the
 * benchmark is for. */
static void bench_summary(const bench_totals *t, int batch)
{
    printf("\nOne training step's convolutions (%d layers, batch %d): %.1f GFLOP fwd, "
           "%.1f bwd-data, %.1f bwd-w\n",
           t->nconv, batch, t->tot_flop[0] * 1e-9, t->tot_flop[1] * 1e-9, t->tot_flop[2] * 1e-9);
    printf("%-12s %12s %12s %12s %12s %10s\n", "impl", "fwd ms", "bwd-data ms", "bwd-w ms",
           "total ms", "GFLOP/s");
    for (int impl = 0; impl < IMPL_REF; impl++) {
        double all = t->tot[impl][0] + t->tot[impl][1] + t->tot[impl][2];
        printf("%-12s %12.1f %12.1f %12.1f %12.1f %10.1f\n", IMPL_NAME[impl],
               t->tot[impl][0] * 1e3, t->tot[impl][1] * 1e3, t->tot[impl][2] * 1e3, all * 1e3,
               (t->tot_flop[0] + t->tot_flop[1] + t->tot_flop[2]) / all * 1e-9);
    }
    if (t->ref_flop > 0) {
        printf("\nOn the reference's layers only (%.1f GFLOP):\n", t->ref_flop * 1e-9);
        for (int impl = 0; impl < NIMPL; impl++)
            printf("%-12s %12.1f ms %10.1f GFLOP/s\n", IMPL_NAME[impl], t->ref_sub[impl] * 1e3,
                   t->ref_flop / t->ref_sub[impl] * 1e-9);
    }
    const double *d = t->tot[IMPL_DNNL], *b = t->tot[IMPL_BLAS], *bo = t->tot[IMPL_BLAS_OMP];
    double t_dnnl = d[0] + d[1] + d[2];
    double t_blas = fmin(b[0] + b[1] + b[2], bo[0] + bo[1] + bo[2]);
    printf("\nonednn (the backend's choice) vs the better OpenBLAS scheme: %.2fx\n",
           t_blas / t_dnnl);
}

int main(int argc, char **argv)
{
    int batch = 32, with_ref = 1, nrep = 3, cpu_time = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            batch = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            nrep = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-ref") == 0) {
            with_ref = 0;
        } else if (strcmp(argv[i], "--cpu-time") == 0) {
            cpu_time = 1;
        } else {
            fprintf(stderr, "usage: %s [-b batch] [-n repeats] [--no-ref] [--cpu-time]\n", argv[0]);
            return 2;
        }
    }
    if (batch < 1 || nrep < 1) {
        fprintf(stderr, "batch and repeats must be >= 1\n");
        return 2;
    }
    int threads = omp_get_max_threads();
    openblas_set_num_threads(threads);
    const dnnl_version_t *v = dnnl_version();
    printf("threads %d (OpenMP; OpenBLAS set to %d), oneDNN %d.%d.%d (%s runtime), OpenBLAS %s\n",
           threads, openblas_get_num_threads(), v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", openblas_get_config());
    sgemm_peak(4096);

    bench_ctx bc = {0};
    bc.cpu_time = cpu_time;
    bc.bws.threads = threads;
    rerr e = {{0}};
    for (int i = 0; i < NDNNL; i++) {
        setenv("RESECG_ONEDNN_LAYOUT", DNNL_LAYOUT[i], 1);
        bc.dnnl[i] = onednn_ctx_create(PRECISION_FP32, 0, &e);
        if (!bc.dnnl[i]) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
    }
    unsetenv("RESECG_ONEDNN_LAYOUT");

    printf("\n%s clock. ", cpu_time ? "process CPU" : "wall");
    printf("batch %d, K %d; best of %d runs per call, the implementations taking turns so\n"
           "that load from elsewhere hits all alike (the reference: 1 run). ms (GFLOP/s);\n"
           "bwd-data is (backward with dinp) - (backward without), so bwd-w carries the\n"
           "shared work (oneDNN's diff_dst reorder); n = occurrences in the network;\n"
           "maxdiff: largest |diff| / rms against onednn over out, dinp and dw.\n",
           batch, KERNEL, nrep);
    printf("%-10s %2s %-26s %6s | %-12s %16s %16s %16s | %8s\n", "layer", "n", "shape", "GFLOP",
           "impl", "fwd ms (GF/s)", "bwd-data", "bwd-w", "maxdiff");

    bench_totals t = {0};
    rng r;
    rng_seed(&r, 2019);
    for (int li = 0; li < NLAYERS; li++)
        bench_layer(&bc, &LAYERS[li], batch, nrep, with_ref, &r, &t);
    bench_summary(&t, batch);
    for (int i = 0; i < NDNNL; i++)
        onednn_ctx_destroy(bc.dnnl[i]);
    free(bc.bws.col);
    free(bc.bws.dw);
    return 0;
}

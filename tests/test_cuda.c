/* The CUDA backend (core/nn/cuda) against the plain C reference ("cpu-ref"):
 * every cuda_ kernel on fresh random inputs at the real network's shapes
 * (convolutions in strict FP32 and in TF32), a whole-model training step
 * (logits, loss, dlogits, every parameter's gradient, BN running statistics,
 * the Adam update, eval-mode logits), a short training run whose loss curve
 * must follow the CPU's, the memory arena (no device allocation once the
 * first step of a shape has run) and the end-to-end train/evaluate path.
 *
 * The backend comes from the module libresecg_cuda.so (cuda_module.h). Where
 * the module is missing or finds no device (no driver, no GPU) the program
 * checks what it can (backend_create("cuda") must fail with "no CUDA device:
 * ...") and exits 77, which CTest reports as skipped, never passed; but
 * with RESECG_REQUIRE_CUDA=1, or where NVML or nvidia-smi sees a GPU, any
 * of these is a FAIL.
 *
 * Kernels are held to |gpu - ref| <= atol + rtol * |ref| elementwise, atol
 * scaled by the tensor's rms; whole-model tensors to an rms error relative
 * to the reference's rms (step_compare explains why that one is loose),
 * both through testutil.h's checker, which prints the worst element. The bounds are reasoned next to each test; a wrong tap, pad,
 * stride, statistic or mask gives errors of the order of the tensor itself,
 * orders of magnitude above them. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/device.h"
#include "base/config.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "testutil.h"
#include "run/train.h"
#include "base/util.h"
#include "nn/cuda_module.h"
#include "gpu.h"
#include "gpu_checks.h"

#define SKIP 77

/* Sanitizer builds: the CUDA driver maps memory where ASan keeps its shadow
 * gap, and keeps allocations of its own until exit. Harmless (and unused)
 * in builds without ASan; ASAN_OPTIONS / LSAN_OPTIONS from the environment
 * still apply on top. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "protect_shadow_gap=0"; }
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcuda.so\nleak:libcudart.so\nleak:libcublas\nleak:libcudnn\nleak:libnvrtc\n"
           "leak:libnvidia\n";
}

/* The loaded module (main). */
static const cuda_module_api *g_cuda;

/* ---- helpers ---- */

/* Backends: the reference and the CUDA one in a given math mode. */
static backend *make_backend(const char *name, const char *math, int deterministic)
{
    rerr e = {{0}};
    if (math)
        setenv("RESECG_CUDA_MATH", math, 1);
    if (deterministic)
        setenv("RESECG_CUDA_DETERMINISTIC", "1", 1);
    backend *be = backend_create(name, 0, PRECISION_FP32, &e);
    unsetenv("RESECG_CUDA_MATH");
    unsetenv("RESECG_CUDA_DETERMINISTIC");
    ck_assert_msg(be != NULL, "backend_create(%s, math %s): %s", name, math ? math : "default",
                  e.msg);
    return be;
}

/* Device copy of a host array. */
static void *dev_from(backend *be, const void *host, size_t bytes)
{
    void *d = be->alloc(be, bytes);
    ck_assert_ptr_nonnull(d);
    be->upload(be, d, host, bytes);
    return d;
}

static float *dev_floats(backend *be, size_t n)
{
    float *d = be->alloc(be, (n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Host copy of n floats of device memory into a fresh malloc'd array. */
static float *host_of(backend *be, const float *dev, size_t n)
{
    float *h = testutil_falloc(n);
    be->download(be, h, dev, n * sizeof(float));
    return h;
}

/* ---- device and memory ---- */

START_TEST(test_probe_and_env)
{
    char desc[256];
    rerr e = {{0}};
    int n = g_cuda->device_probe(desc, sizeof desc, &e);
    ck_assert_msg(n > 0, "%s", e.msg);
    printf("devices: %d, current: %s\n", n, desc);

    static const char *bad[][2] = {{"RESECG_CUDA_MATH", "bf16"},
                                   {"RESECG_CUDA_DETERMINISTIC", "yes"},
                                   {"RESECG_CUDA_WORKSPACE_MB", "12x"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        backend *be = backend_create("cuda", 0, PRECISION_FP32, &e);
        unsetenv(bad[i][0]);
        ck_assert_ptr_null(be);
        printf("  %s=%s -> %s\n", bad[i][0], bad[i][1], e.msg);
        ck_assert_ptr_nonnull(strstr(e.msg, bad[i][0]));
        ck_assert_ptr_nonnull(strstr(e.msg, bad[i][1]));
    }
    backend *be = make_backend("cuda", "fp32", 1);
    cuda_backend_stats st;
    g_cuda->get_stats(be, &st);
    ck_assert_int_eq(st.tf32, 0);
    ck_assert_int_eq(st.deterministic, 1);
    backend_destroy(be);
    be = make_backend("cuda", NULL, 0);
    g_cuda->get_stats(be, &st);
    ck_assert_int_eq(st.tf32, 1); // the default
    ck_assert_int_eq(st.deterministic, 0);
    ck_assert_str_eq(be->name, "cuda");
    backend_destroy(be);
}
END_TEST

START_TEST(test_memory)
{
    // Uploads go through two pinned staging buffers of 8 MiB: sizes below,
    // at and above them (chunked), odd byte counts, and a host buffer
    // overwritten right after upload returns (the staged copy must already
    // hold the old data).
    backend *be = make_backend("cuda", NULL, 0);
    static const size_t sizes[] = {1, 4, 1000, 3 * 1000 * 1000 + 7, 8u << 20, (20u << 20) + 3};
    rng r;
    rng_seed(&r, 11);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        unsigned char *a = malloc(n), *b = malloc(n), *back = malloc(n), *keep = malloc(n);
        ck_assert(a && b && back && keep);
        for (size_t i = 0; i < n; i++)
            a[i] = (unsigned char)rng_u64(&r);
        memcpy(keep, a, n);
        void *da = be->alloc(be, n), *db = be->alloc(be, n);
        ck_assert(da && db);
        be->upload(be, da, a, n);
        memset(a, 0x5a, n); // overwrite at once: da must still receive `keep`
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(i * 7 + 3);
        be->upload(be, db, b, n);
        be->download(be, back, da, n);
        ck_assert_msg(memcmp(back, keep, n) == 0, "upload/download of %zu bytes differs", n);
        be->download(be, back, db, n);
        ck_assert_msg(memcmp(back, b, n) == 0, "second upload of %zu bytes differs", n);
        // zero a middle range, the rest untouched
        if (n >= 16) {
            be->zero(be, (char *)db + 5, n - 9);
            be->download(be, back, db, n);
            size_t wrong = 0;
            for (size_t i = 0; i < n; i++)
                wrong += back[i] != (i < 5 || i >= n - 4 ? b[i] : 0);
            ck_assert_msg(wrong == 0, "zero of bytes [5, %zu): %zu bytes wrong", n - 4, wrong);
        }
        printf("memory: %zu bytes round trip ok\n", n);
        be->free(be, da);
        be->free(be, db);
        free(a), free(b), free(back), free(keep);
    }
    backend_destroy(be);
}
END_TEST

/* ---- convolution ---- */

/* fp32 (FMA kernels): cuDNN sums in fp32 in its own order (GEMM, FFT or
 * Winograd); the reference sums forward/dinp in fp32 and dw/db in double.
 * The error of an fp32 sum of n random terms is ~eps*sqrt(n)/2 * rms at one
 * sigma (2e-6 for the forward's Cin*K = 4096 terms, 5e-6 for dw's B*Lout),
 * FFT/Winograd add a few eps; the worst of ~1e6 elements stays < 5e-5 rms.
 * tf32: operands rounded to 10 mantissa bits (relative 2^-11 each), so the
 * error is ~4e-4 * rms at one sigma and the worst of 1e6 elements ~2e-3. */
#define FP32_ATOL 2e-4
#define FP32_RTOL 1e-4
#define TF32_ATOL 1e-2
#define TF32_RTOL 1e-2

typedef struct conv_case {
    conv_dims d;
    float *x, *w, *b, *dout;
    float *out_ref, *dx_ref, *dw_ref, *db_ref;
} conv_case;

static void conv_case_init(conv_case *c, rng *r, int B, int Cin, int Cout, int L, int K, int stride)
{
    memset(c, 0, sizeof *c);
    conv_dims_same(&c->d, B, Cin, Cout, L, K, stride);
    size_t ni = (size_t)B * Cin * L, nw = (size_t)Cout * Cin * K;
    size_t no = (size_t)B * Cout * c->d.Lout;
    c->x = testutil_falloc(ni), c->w = testutil_falloc(nw), c->b = testutil_falloc(Cout), c->dout = testutil_falloc(no);
    c->out_ref = testutil_falloc(no), c->dx_ref = testutil_falloc(ni), c->dw_ref = testutil_falloc(nw);
    c->db_ref = testutil_falloc(Cout);
    testutil_fill_normal(r, c->x, ni, 0.0f, 1.0f);
    testutil_fill_normal(r, c->w, nw, 0.0f, (float)sqrt(2.0 / (Cin * K)));
    testutil_fill_normal(r, c->b, Cout, 0.0f, 0.1f);
    testutil_fill_normal(r, c->dout, no, 0.0f, 1.0f);
    cpu_conv1d_forward(c->out_ref, c->x, c->w, c->b, &c->d);
    cpu_conv1d_backward(c->dx_ref, c->dw_ref, c->db_ref, c->dout, c->x, c->w, &c->d);
}

static void conv_case_free(conv_case *c)
{
    free(c->x), free(c->w), free(c->b), free(c->dout);
    free(c->out_ref), free(c->dx_ref), free(c->dw_ref), free(c->db_ref);
}

/* Runs the CUDA convolution on c; results into host arrays (caller frees).
 * woff: the weight, bias and their gradients start woff floats into their
 * allocations, aoff: the activations and their gradients aoff floats in
 * (as the model's pointers into its flat parameter buffer do); 0 and 0
 * for fresh, 256-byte aligned buffers. */
static void conv_run_cuda_at(backend *be, const conv_case *c, int want_dx, int woff, int aoff,
                             float **out, float **dx, float **dw, float **db)
{
    const conv_dims *d = &c->d;
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    float *base[8];
    const size_t len[8] = {ni + aoff, nw + woff, d->Cout + woff, no + aoff,
                           no + aoff, ni + aoff, nw + woff, d->Cout + woff};
    for (int i = 0; i < 8; i++)
        base[i] = dev_floats(be, len[i]);
    float *gx = base[0] + aoff, *gw = base[1] + woff, *gb = base[2] + woff;
    float *gdout = base[3] + aoff, *gout = base[4] + aoff, *gdx = base[5] + aoff;
    float *gdw = base[6] + woff, *gdb = base[7] + woff;
    be->upload(be, gx, c->x, ni * 4);
    be->upload(be, gw, c->w, nw * 4);
    be->upload(be, gb, c->b, (size_t)d->Cout * 4);
    be->upload(be, gdout, c->dout, no * 4);
    // poison the outputs: every element must be assigned
    size_t nmax = ni > no ? ni : no;
    nmax = nmax > nw ? nmax : nw;
    float *nan = testutil_falloc(nmax);
    for (size_t i = 0; i < nmax; i++)
        nan[i] = NAN;
    be->upload(be, gout, nan, no * 4);
    be->upload(be, gdx, nan, ni * 4);
    be->upload(be, gdw, nan, nw * 4);
    be->upload(be, gdb, nan, (size_t)d->Cout * 4);
    be->conv1d_forward(be, gout, gx, gw, gb, d);
    be->conv1d_backward(be, want_dx ? gdx : NULL, gdw, gdb, gdout, gx, gw, d);
    *out = host_of(be, gout, no);
    *dx = want_dx ? host_of(be, gdx, ni) : NULL;
    *dw = host_of(be, gdw, nw);
    *db = host_of(be, gdb, d->Cout);
    free(nan);
    for (int i = 0; i < 8; i++)
        be->free(be, base[i]);
}

static void conv_run_cuda(backend *be, const conv_case *c, int want_dx, float **out, float **dx,
                          float **dw, float **db)
{
    conv_run_cuda_at(be, c, want_dx, 0, 0, out, dx, dw, db);
}

static long conv_check_at(backend *be, const char *mode, const conv_case *c, int want_dx,
                          double atol, double rtol, int woff, int aoff)
{
    const conv_dims *d = &c->d;
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    float *out, *dx, *dw, *db;
    conv_run_cuda_at(be, c, want_dx, woff, aoff, &out, &dx, &dw, &db);
    printf("cuda %s B%d %d->%d L%d->%d K%d s%d (pad %d)%s", mode, d->B, d->Cin, d->Cout, d->L,
           d->Lout, d->K, d->stride, d->pad_left, want_dx ? "" : " no dinp");
    if (woff || aoff)
        printf(", weights at +%d floats, activations at +%d", woff, aoff);
    printf("\n");
    long bad = check_close("out", out, c->out_ref, no, atol * testutil_rms(c->out_ref, no), rtol);
    if (want_dx)
        bad += check_close("dinp", dx, c->dx_ref, ni, atol * testutil_rms(c->dx_ref, ni), rtol);
    bad += check_close("dw", dw, c->dw_ref, nw, atol * testutil_rms(c->dw_ref, nw), rtol);
    bad += check_close("db", db, c->db_ref, d->Cout, 1e-5 * testutil_rms(c->db_ref, d->Cout), 1e-5);
    free(out), free(dx), free(dw), free(db);
    return bad;
}

static long conv_check(backend *be, const char *mode, const conv_case *c, int want_dx, double atol,
                       double rtol)
{
    return conv_check_at(be, mode, c, want_dx, atol, rtol, 0, 0);
}

/* {B, Cin, Cout, L, K, stride, want dinp}: every convolution of the real
 * network (stem without dinp, 32..256 channels at their lengths, both
 * strides, the width doublings, the last blocks at 70 and 35 frames), odd
 * lengths at stride 2 (pads 7 and 8: the shifted path at stride 2), L < K,
 * a kernel of 1 and other channel counts. */
static const int CONV_SHAPES[][7] = {
    {4, 1, 32, 8960, 16, 1, 0},   {2, 1, 32, 8960, 16, 1, 1},   {4, 32, 32, 8960, 16, 1, 1},
    {4, 32, 32, 8960, 16, 2, 1},  {4, 32, 32, 4480, 16, 1, 1},  {3, 32, 64, 2240, 16, 1, 1},
    {4, 64, 64, 2240, 16, 2, 1},  {4, 64, 64, 1120, 16, 1, 1},  {2, 64, 128, 560, 16, 1, 1},
    {2, 128, 128, 280, 16, 2, 1}, {3, 128, 256, 140, 16, 1, 1}, {2, 256, 256, 70, 16, 2, 1},
    {4, 256, 256, 35, 16, 1, 1},  {3, 256, 256, 35, 16, 2, 1},  {2, 8, 16, 4481, 16, 2, 1},
    {3, 16, 8, 9, 16, 1, 1},      {2, 8, 1, 35, 16, 1, 1},      {2, 5, 7, 20, 1, 2, 1},
    {2, 3, 4, 21, 3, 1, 1},       {32, 32, 32, 8960, 16, 1, 1},
};
#define NCONV ((int)(sizeof CONV_SHAPES / sizeof CONV_SHAPES[0]))

/* Out of device memory when a new shape needs a buffer grown is the
 * backend's failure (backend.h), not an abort: with the GPU filled by 1 GiB
 * allocations, a convolution of a shape not seen before cannot get its
 * scratch; nothing is launched, its output stays as it was, the kernels
 * after it do nothing, and once the memory is back a fresh backend runs the
 * same shape. */
START_TEST(test_out_of_memory_is_a_failure)
{
    backend *be = make_backend("cuda", NULL, 0);
    conv_dims d;
    conv_dims_same(&d, 32, 64, 64, 4096, 16, 1); /* K even: shifted, needs the scratch */
    size_t ni = (size_t)d.B * d.Cin * d.L, nw = (size_t)d.Cout * d.Cin * d.K;
    size_t no = (size_t)d.B * d.Cout * d.Lout;
    float *x = dev_floats(be, ni), *w = dev_floats(be, nw), *b = dev_floats(be, d.Cout);
    float *out = dev_floats(be, no);
    be->zero(be, x, ni * sizeof(float));
    be->zero(be, w, nw * sizeof(float));
    be->zero(be, b, d.Cout * sizeof(float));
    float *sentinel = testutil_falloc(no);
    for (size_t i = 0; i < no; i++)
        sentinel[i] = 7.0f;
    be->upload(be, out, sentinel, no * sizeof(float));
    void *hog[1024];
    int nhog = 0;
    while (nhog < 1024 && (hog[nhog] = be->alloc(be, (size_t)1 << 30)) != NULL)
        nhog++;
    for (size_t mb = 512; mb >= 1; mb /= 2) /* the last crumbs too */
        while (nhog < 1024 && (hog[nhog] = be->alloc(be, mb << 20)) != NULL)
            nhog++;
    printf("filled the GPU with %d allocations\n", nhog);
    be->conv1d_forward(be, out, x, w, b, &d);
    rerr e = {{0}};
    int failed = backend_failed(be, &e);
    for (int i = 0; i < nhog; i++)
        be->free(be, hog[i]);
    ck_assert_msg(failed == -1, "a conv without memory for its scratch ran");
    printf("failure: %s\n", e.msg);
    ck_assert_msg(strstr(e.msg, "out of device memory") != NULL, "%s", e.msg);
    float *got = host_of(be, out, no);
    ck_assert_int_eq(memcmp(got, sentinel, no * sizeof(float)), 0);
    be->conv1d_forward(be, out, x, w, b, &d); /* memory is back, but the backend has failed */
    free(got);
    got = host_of(be, out, no);
    ck_assert_int_eq(memcmp(got, sentinel, no * sizeof(float)), 0);
    free(got);
    be->free(be, x), be->free(be, w), be->free(be, b), be->free(be, out);
    backend_destroy(be);

    be = make_backend("cuda", NULL, 0);
    x = dev_floats(be, ni), w = dev_floats(be, nw), b = dev_floats(be, d.Cout);
    out = dev_floats(be, no);
    be->zero(be, x, ni * sizeof(float));
    be->zero(be, w, nw * sizeof(float));
    be->zero(be, b, d.Cout * sizeof(float));
    be->conv1d_forward(be, out, x, w, b, &d);
    ck_assert_int_eq(backend_failed(be, &e), 0);
    got = host_of(be, out, no);
    ck_assert(got[0] == 0.0f && got[no - 1] == 0.0f);
    free(got);
    free(sentinel);
    be->free(be, x), be->free(be, w), be->free(be, b), be->free(be, out);
    backend_destroy(be);

    /* preparing a shape on a full GPU: an error, before any step */
    be = make_backend("cuda", NULL, 0);
    ck_assert(be->conv1d_prepare != NULL);
    nhog = 0;
    while (nhog < 1024 && (hog[nhog] = be->alloc(be, (size_t)1 << 30)) != NULL)
        nhog++;
    for (size_t mb = 512; mb >= 1; mb /= 2)
        while (nhog < 1024 && (hog[nhog] = be->alloc(be, mb << 20)) != NULL)
            nhog++;
    memset(&e, 0, sizeof e);
    int rc = be->conv1d_prepare(be, &d, &e);
    for (int i = 0; i < nhog; i++)
        be->free(be, hog[i]);
    printf("prepare on a full GPU: %d, %s\n", rc, e.msg);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, "out of device memory") != NULL, "%s", e.msg);
    backend_destroy(be);
}
END_TEST

START_TEST(test_conv_vs_ref)
{
    backend *fp32 = make_backend("cuda", "fp32", 0), *tf32 = make_backend("cuda", "tf32", 0);
    rng r;
    rng_seed(&r, 303);
    long bad = 0;
    for (int i = 0; i < NCONV; i++) {
        const int *s = CONV_SHAPES[i];
        conv_case c;
        conv_case_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5]);
        bad += conv_check(fp32, "fp32", &c, s[6], FP32_ATOL, FP32_RTOL);
        bad += conv_check(tf32, "tf32", &c, s[6], TF32_ATOL, TF32_RTOL);
        conv_case_free(&c);
    }
    backend_destroy(fp32);
    backend_destroy(tf32);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_conv_cache)
{
    // Deterministic algorithms: the same shape gives bit-identical results
    // whether it is new, cached, or interleaved with other shapes; the
    // plans and algorithm searches happen once per shape and direction, and
    // the second round allocates nothing.
    backend *be = make_backend("cuda", "fp32", 1);
    rng r;
    rng_seed(&r, 404);
    enum { N = 6 };
    conv_case cs[N];
    float *first[N][4];
    for (int i = 0; i < N; i++) {
        const int *s = CONV_SHAPES[i + 1];
        conv_case_init(&cs[i], &r, s[0], s[1], s[2], s[3], s[4], s[5]);
        conv_run_cuda(be, &cs[i], 1, &first[i][0], &first[i][1], &first[i][2], &first[i][3]);
    }
    cuda_backend_stats st1, st2;
    g_cuda->get_stats(be, &st1);
    printf("cache: %ld plans, %ld searches, %ld device allocs, workspace %zu bytes\n",
           st1.conv_plans, st1.algo_searches, st1.device_allocs, st1.workspace_bytes);
    ck_assert_int_eq(st1.conv_plans, N);
    ck_assert_int_eq(st1.algo_searches, 3 * N);
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < N; k++) {
            int i = round == 0 ? k : N - 1 - k; // forward, then reversed order
            const conv_dims *d = &cs[i].d;
            size_t n[4] = {(size_t)d->B * d->Cout * d->Lout, (size_t)d->B * d->Cin * d->L,
                           (size_t)d->Cout * d->Cin * d->K, (size_t)d->Cout};
            float *again[4];
            conv_run_cuda(be, &cs[i], 1, &again[0], &again[1], &again[2], &again[3]);
            for (int t = 0; t < 4; t++) {
                ck_assert_msg(memcmp(again[t], first[i][t], n[t] * sizeof(float)) == 0,
                              "shape %d tensor %d differs on rerun", i, t);
                free(again[t]);
            }
        }
    }
    g_cuda->get_stats(be, &st2);
    ck_assert_int_eq(st2.conv_plans, st1.conv_plans);
    ck_assert_int_eq(st2.algo_searches, st1.algo_searches);
    ck_assert_int_eq(st2.workspace_grows, st1.workspace_grows);
    // the reruns' own buffers come from alloc(); nothing else was allocated
    ck_assert_int_eq(st2.device_allocs - st1.device_allocs, 2 * N * 8);
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < 4; t++)
            free(first[i][t]);
        conv_case_free(&cs[i]);
    }
    backend_destroy(be);
}
END_TEST

/* ---- batch norm + ReLU + dropout ---- */

/* The statistics are double sums on both sides (order differs: ~1e-16);
 * outputs are one fused multiply-add away from each other (~1 ulp);
 * dgamma/dbeta are double sums of float products (the same floats). */
START_TEST(test_conv_at_model_offsets)
{
    // The model hands the kernels pointers into one flat parameter buffer
    // and one gradient buffer: each conv's weight and bias start at its own
    // offset there, 4-byte aligned only, not at a fresh cudaMalloc's 256
    // bytes. Every conv weight of the default network, at its real offset
    // (mod 64 floats) and its real shape, at a short length; activations at
    // an odd 3-float offset. Algorithms are chosen per shape and cached, so
    // a kernel that needs aligned pointers fails here, not in a sweep.
    resecg_config cfg;
    config_defaults(&cfg);
    backend *ref = make_backend("cpu-ref", NULL, 0), *be = make_backend("cuda", "fp32", 1);
    model m;
    rerr e = {{0}};
    ck_assert_msg(model_init(&m, &cfg.model, ref, &e) == 0, "%s", e.msg);
    rng r;
    rng_seed(&r, 17);
    long bad = 0;
    int nconv = 0;
    for (int i = 0; i < m.ntensors; i++) {
        const tensor_info *t = &m.tensors[i];
        if (t->kind != TENSOR_PARAM || t->ndim != 3)
            continue;
        const tensor_info *bias = i + 1 < m.ntensors ? &m.tensors[i + 1] : NULL;
        ck_assert_msg(bias && bias->ndim == 1 && bias->shape[0] == t->shape[0],
                      "%s: no bias after it", t->name);
        // the bias and both gradients go at the same offset in their own
        // allocations
        const int woff = (int)(t->offset % 64);
        conv_case c;
        conv_case_init(&c, &r, 2, t->shape[1], t->shape[0], 560, t->shape[2], 1);
        bad += conv_check_at(be, "fp32", &c, t->shape[1] > 1, FP32_ATOL, FP32_RTOL, woff, 3);
        conv_case_free(&c);
        nconv++;
    }
    printf("%d convolutions of the default network at their parameter offsets\n", nconv);
    ck_assert_int_ge(nconv, 30);
    model_free(&m);
    backend_destroy(be);
    backend_destroy(ref);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* The interior outputs of an all-(1 + 2^-12) input against all-one weights:
 * the fraction that come out as (1 + 2^-12) Cin K (strict FP32: every
 * partial sum is exact) and as Cin K (TF32 rounds 1 + 2^-12 to 1: 10
 * explicit mantissa bits), from the forward and the backward-data pass. */
static void tf32_probe(backend *be, const conv_dims *d, double *fp32_frac, double *tf32_frac)
{
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    const float v = 1.0f + 1.0f / 4096.0f;
    float *x = testutil_falloc(ni), *w = testutil_falloc(nw), *g = testutil_falloc(no);
    for (size_t i = 0; i < ni; i++)
        x[i] = v;
    for (size_t i = 0; i < nw; i++)
        w[i] = 1.0f;
    for (size_t i = 0; i < no; i++)
        g[i] = 1.0f;
    float *gx = dev_from(be, x, ni * 4), *gw = dev_from(be, w, nw * 4), *gg = dev_from(be, g, no * 4);
    float *gb = dev_floats(be, d->Cout), *gout = dev_floats(be, no), *gdx = dev_floats(be, ni);
    float *gdw = dev_floats(be, nw), *gdb = dev_floats(be, d->Cout);
    be->zero(be, gb, (size_t)d->Cout * 4);
    be->conv1d_forward(be, gout, gx, gw, gb, d);
    float *out = host_of(be, gout, no);
    // backward-data with the roles swapped: weights 1 + 2^-12, gradients 1
    for (size_t i = 0; i < nw; i++)
        w[i] = v;
    be->upload(be, gw, w, nw * 4);
    be->conv1d_backward(be, gdx, gdw, gdb, gg, gx, gw, d);
    float *dx = host_of(be, gdx, ni);
    long n = 0, f32 = 0, t32 = 0;
    const double fwd = (double)d->Cin * d->K, bwd = (double)d->Cout * d->K / d->stride;
    for (int b = 0; b < d->B; b++)
        for (int c = 0; c < d->Cout; c++)
            for (int l = d->K; l < d->Lout - d->K; l++) { // interior: no padding in the window
                double y = out[((size_t)b * d->Cout + c) * d->Lout + l] / fwd;
                f32 += fabs(y - (double)v) < 1.0 / 65536.0;
                t32 += fabs(y - 1.0) < 1.0 / 65536.0;
                n++;
            }
    if (d->stride == 1)
        for (int b = 0; b < d->B; b++)
            for (int c = 0; c < d->Cin; c++)
                for (int l = d->K; l < d->L - d->K; l++) {
                    double y = dx[((size_t)b * d->Cin + c) * d->L + l] / bwd;
                    f32 += fabs(y - (double)v) < 1.0 / 65536.0;
                    t32 += fabs(y - 1.0) < 1.0 / 65536.0;
                    n++;
                }
    *fp32_frac = (double)f32 / (double)n;
    *tf32_frac = (double)t32 / (double)n;
    free(x), free(w), free(g), free(out), free(dx);
    float *all[] = {gx, gw, gg, gb, gout, gdx, gdw, gdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        be->free(be, all[i]);
}

START_TEST(test_tf32_in_use)
{
    // TF32 on when asked, off when not: at the network's heaviest shapes
    // (batch 32) every interior output of the probe above is TF32-rounded in
    // tf32 mode (cuDNN chose tensor-core algorithms, as PyTorch's
    // allow_tf32 does) and exact in fp32 mode (FMA kernels only).
    static const int shapes[][6] = {{32, 32, 32, 8960, 16, 1}, {32, 64, 64, 2240, 16, 1},
                                    {32, 128, 128, 560, 16, 1}, {32, 256, 256, 140, 16, 1}};
    for (int mi = 0; mi < 2; mi++) {
        backend *be = make_backend("cuda", mi ? "tf32" : "fp32", 0);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            conv_dims d;
            conv_dims_same(&d, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3],
                           shapes[i][4], shapes[i][5]);
            double f32, t32;
            tf32_probe(be, &d, &f32, &t32);
            printf("%s B%d %d->%d L%d K%d: interior outputs exact in fp32 %.4f, tf32-rounded %.4f\n",
                   mi ? "tf32" : "fp32", d.B, d.Cin, d.Cout, d.L, d.K, f32, t32);
            if (mi)
                ck_assert_msg(t32 == 1.0, "tf32 asked, but %.4f of the outputs are TF32-rounded", t32);
            else
                ck_assert_msg(f32 == 1.0, "fp32 asked, but only %.4f of the outputs are exact", f32);
        }
        backend_destroy(be);
    }
}
END_TEST

START_TEST(test_bnrelu_vs_ref)
{
    // {B, C, L}: the network's BN layers (stem, blocks, head) and odd ones:
    // n = 1 (no unbiased variance), L = 1, one channel, a 32 x 8960 batch
    static const int shapes[][3] = {{32, 32, 8960}, {4, 32, 4480}, {4, 64, 2240},
                                    {8, 128, 280},  {8, 256, 35},  {3, 5, 7},
                                    {1, 3, 1},      {5, 1, 1},     {2, 7, 1}};
    static const float drops[] = {0.0f, 0.2f, 0.5f};
    backend *be = make_backend("cuda", NULL, 0);
    rng r;
    rng_seed(&r, 505);
    long bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], C = shapes[si][1], L = shapes[si][2];
        const size_t n = (size_t)B * C * L;
        float *x = testutil_falloc(n), *g = testutil_falloc(C), *bt = testutil_falloc(C), *rm = testutil_falloc(C), *rv = testutil_falloc(C);
        float *dout = testutil_falloc(n);
        testutil_fill_normal(&r, x, n, 0.5f, 2.0f); // a mean far from 0
        testutil_fill_normal(&r, g, C, 1.0f, 0.2f);
        testutil_fill_normal(&r, bt, C, 0.0f, 0.3f);
        testutil_fill_normal(&r, rm, C, 0.0f, 0.5f);
        for (int c = 0; c < C; c++)
            rv[c] = 0.5f + rng_uniform(&r);
        testutil_fill_normal(&r, dout, n, 0.0f, 1.0f);
        float *gx = dev_from(be, x, n * 4), *gg = dev_from(be, g, C * 4);
        float *gbt = dev_from(be, bt, C * 4), *gdout = dev_from(be, dout, n * 4);
        float *grm = dev_floats(be, C), *grv = dev_floats(be, C), *gout = dev_floats(be, n);
        float *gmean = dev_floats(be, C), *grstd = dev_floats(be, C), *gdx = dev_floats(be, n);
        float *gdg = dev_floats(be, C), *gdb = dev_floats(be, C);
        for (size_t di = 0; di < sizeof drops / sizeof drops[0]; di++) {
            for (int training = 1; training >= 0; training--) {
                const float p = drops[di];
                if (!training && di > 0)
                    continue; // eval has no dropout
                const uint64_t seed = 0x1234 + si * 7 + di;
                float *out = testutil_falloc(n), *mean = testutil_falloc(C), *rstd = testutil_falloc(C);
                float *rm_ref = testutil_falloc(C), *rv_ref = testutil_falloc(C);
                memcpy(rm_ref, rm, C * 4);
                memcpy(rv_ref, rv, C * 4);
                be->upload(be, grm, rm, C * 4);
                be->upload(be, grv, rv, C * 4);
                cpu_bnrelu_forward(out, mean, rstd, x, g, bt, rm_ref, rv_ref, B, C, L, 0.99f, 1e-3f,
                                   training, p, seed);
                be->bnrelu_forward(be, gout, gmean, grstd, gx, gg, gbt, grm, grv, B, C, L, 0.99f,
                                   1e-3f, training, p, seed);
                printf("bnrelu B%d C%d L%d %s p=%.1f\n", B, C, L, training ? "train" : "eval", p);
                float *h = host_of(be, gout, n);
                bad += check_close("out", h, out, n, 1e-5 * testutil_rms(out, n), 1e-5);
                // dropout masks must be the same elements: count zero
                // patterns that differ where the kept value is not ~0
                long mask_diff = 0;
                for (size_t i = 0; i < n; i++)
                    if ((h[i] == 0.0f) != (out[i] == 0.0f) &&
                        fabs((double)h[i] - out[i]) > 1e-4 * (1.0 + fabs(out[i])))
                        mask_diff++;
                printf("  mask     differing kept/dropped elements: %ld\n", mask_diff);
                bad += mask_diff;
                free(h);
                h = host_of(be, grm, C);
                bad += check_close("run_mean", h, rm_ref, C, 1e-6, 1e-6);
                free(h);
                h = host_of(be, grv, C);
                bad += check_close("run_var", h, rv_ref, C, 1e-6, 1e-6);
                free(h);
                if (training) {
                    h = host_of(be, gmean, C);
                    bad += check_close("mean", h, mean, C, 1e-6 * (1.0 + testutil_rms(mean, C)), 1e-6);
                    free(h);
                    h = host_of(be, grstd, C);
                    bad += check_close("rstd", h, rstd, C, 0.0, 1e-6);
                    free(h);
                    // backward from the reference's forward (the same mask)
                    float *dx = testutil_falloc(n), *dg = testutil_falloc(C), *db = testutil_falloc(C);
                    float *gref_out = dev_from(be, out, n * 4);
                    float *gref_mean = dev_from(be, mean, C * 4);
                    float *gref_rstd = dev_from(be, rstd, C * 4);
                    cpu_bnrelu_backward(dx, dg, db, dout, out, x, mean, rstd, g, bt, B, C, L, p);
                    be->bnrelu_backward(be, gdx, gdg, gdb, gdout, gref_out, gx, gref_mean,
                                        gref_rstd, gg, gbt, B, C, L, p);
                    h = host_of(be, gdx, n);
                    bad += check_close("dinp", h, dx, n, 1e-5 * testutil_rms(dx, n), 1e-4);
                    free(h);
                    h = host_of(be, gdg, C);
                    bad += check_close("dgamma", h, dg, C, 1e-6 * testutil_rms(dg, C), 1e-6);
                    free(h);
                    h = host_of(be, gdb, C);
                    bad += check_close("dbeta", h, db, C, 1e-6 * testutil_rms(db, C), 1e-6);
                    free(h);
                    be->free(be, gref_out);
                    be->free(be, gref_mean);
                    be->free(be, gref_rstd);
                    free(dx), free(dg), free(db);
                }
                free(out), free(mean), free(rstd), free(rm_ref), free(rv_ref);
            }
        }
        float *all[] = {gx, gg, gbt, gdout, grm, grv, gout, gmean, grstd, gdx, gdg, gdb};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            be->free(be, all[i]);
        free(x), free(g), free(bt), free(rm), free(rv), free(dout);
    }
    backend_destroy(be);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- shortcut, add, dense ---- */

START_TEST(test_shortcut_vs_ref)
{
    // {B, Cin, Cout, L, pool}; inputs on a coarse grid so windows hold ties
    // (the first maximum takes the gradient). Max and += are exact: the
    // results must be bit-identical.
    static const int shapes[][5] = {
        {4, 32, 32, 8960, 1}, {4, 32, 32, 8960, 2}, {3, 32, 64, 2240, 1}, {3, 64, 128, 1120, 2},
        {2, 128, 256, 70, 2}, {2, 5, 8, 9, 2},      {2, 3, 3, 7, 3},      {1, 1, 4, 1, 1}};
    backend *be = make_backend("cuda", NULL, 0);
    rng r;
    rng_seed(&r, 606);
    long bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], Cin = shapes[si][1], Cout = shapes[si][2];
        const int L = shapes[si][3], pool = shapes[si][4], Lo = L / pool;
        const size_t ni = (size_t)B * Cin * L, no = (size_t)B * Cout * Lo;
        float *x = testutil_falloc(ni), *dout = testutil_falloc(no), *dx0 = testutil_falloc(ni);
        for (size_t i = 0; i < ni; i++)
            x[i] = roundf(rng_normal(&r) * 2.0f) / 2.0f;
        testutil_fill_normal(&r, dout, no, 0.0f, 1.0f);
        testutil_fill_normal(&r, dx0, ni, 0.0f, 1.0f); // backward accumulates onto this
        float *out = testutil_falloc(no), *dx = testutil_falloc(ni);
        memcpy(dx, dx0, ni * 4);
        cpu_shortcut_forward(out, x, B, Cin, Cout, L, pool);
        cpu_shortcut_backward(dx, dout, x, B, Cin, Cout, L, pool);
        float *gx = dev_from(be, x, ni * 4), *gdout = dev_from(be, dout, no * 4);
        float *gdx = dev_from(be, dx0, ni * 4), *gout = dev_floats(be, no);
        be->shortcut_forward(be, gout, gx, B, Cin, Cout, L, pool);
        be->shortcut_backward(be, gdx, gdout, gx, B, Cin, Cout, L, pool);
        printf("shortcut B%d %d->%d L%d pool %d\n", B, Cin, Cout, L, pool);
        float *h = host_of(be, gout, no);
        bad += check_close("out", h, out, no, 0.0, 0.0);
        free(h);
        h = host_of(be, gdx, ni);
        bad += check_close("dinp+=", h, dx, ni, 0.0, 0.0);
        free(h);
        be->free(be, gx), be->free(be, gdout), be->free(be, gdx), be->free(be, gout);
        free(x), free(dout), free(dx0), free(out), free(dx);
    }
    // residual add, also in place (y aliases a)
    const long n = 1000003;
    float *a = testutil_falloc(n), *b = testutil_falloc(n), *y = testutil_falloc(n);
    testutil_fill_normal(&r, a, n, 0.0f, 1.0f);
    testutil_fill_normal(&r, b, n, 0.0f, 1.0f);
    cpu_add(y, a, b, n);
    float *ga = dev_from(be, a, n * 4), *gb = dev_from(be, b, n * 4), *gy = dev_floats(be, n);
    be->add(be, gy, ga, gb, n);
    float *h = host_of(be, gy, n);
    printf("add n=%ld\n", n);
    bad += check_close("y", h, y, n, 0.0, 0.0);
    free(h);
    be->add(be, ga, ga, gb, n);
    h = host_of(be, ga, n);
    bad += check_close("y=a+b", h, y, n, 0.0, 0.0);
    free(h);
    be->free(be, ga), be->free(be, gb), be->free(be, gy);
    free(a), free(b), free(y);
    backend_destroy(be);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_dense_vs_ref)
{
    // {B, C, T, K}: the head of the default network (256 channels, 35
    // frames, 4 classes), of the small one, and odd sizes. cuBLAS in FP32
    // (no TF32 for the dense layer) against double sums of <= 1120 terms:
    // ~1e-7 rms.
    static const int shapes[][4] = {
        {32, 256, 35, 4}, {16, 128, 160, 4}, {3, 7, 5, 8}, {1, 1, 1, 2}, {5, 33, 17, 3}};
    rng r;
    rng_seed(&r, 707);
    long bad = 0;
    for (int m = 0; m < 2; m++) { // the math mode must not reach the dense layer
        backend *be = make_backend("cuda", m ? "tf32" : "fp32", 0);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int B = shapes[si][0], C = shapes[si][1], T = shapes[si][2], K = shapes[si][3];
            const size_t ni = (size_t)B * C * T, no = (size_t)B * T * K, nw = (size_t)K * C;
            float *x = testutil_falloc(ni), *w = testutil_falloc(nw), *b = testutil_falloc(K), *dout = testutil_falloc(no);
            testutil_fill_normal(&r, x, ni, 0.3f, 1.0f);
            testutil_fill_normal(&r, w, nw, 0.0f, (float)sqrt(1.0 / C));
            testutil_fill_normal(&r, b, K, 0.0f, 0.5f);
            testutil_fill_normal(&r, dout, no, 0.0f, 1.0f);
            float *out = testutil_falloc(no), *dx = testutil_falloc(ni), *dw = testutil_falloc(nw), *db = testutil_falloc(K);
            cpu_dense_forward(out, x, w, b, B, C, T, K);
            cpu_dense_backward(dx, dw, db, dout, x, w, B, C, T, K);
            float *gx = dev_from(be, x, ni * 4), *gw = dev_from(be, w, nw * 4);
            float *gb = dev_from(be, b, K * 4), *gdout = dev_from(be, dout, no * 4);
            float *gout = dev_floats(be, no), *gdx = dev_floats(be, ni);
            float *gdw = dev_floats(be, nw), *gdb = dev_floats(be, K);
            be->dense_forward(be, gout, gx, gw, gb, B, C, T, K);
            be->dense_backward(be, gdx, gdw, gdb, gdout, gx, gw, B, C, T, K);
            printf("dense %s B%d C%d T%d K%d\n", m ? "tf32" : "fp32", B, C, T, K);
            float *h = host_of(be, gout, no);
            bad += check_close("out", h, out, no, 5e-5 * testutil_rms(out, no), 5e-5);
            free(h);
            h = host_of(be, gdx, ni);
            bad += check_close("dinp", h, dx, ni, 5e-5 * testutil_rms(dx, ni), 5e-5);
            free(h);
            h = host_of(be, gdw, nw);
            bad += check_close("dw", h, dw, nw, 5e-5 * testutil_rms(dw, nw), 5e-5);
            free(h);
            h = host_of(be, gdb, K);
            bad += check_close("db", h, db, K, 1e-6 * testutil_rms(db, K), 1e-6);
            free(h);
            float *all[] = {gx, gw, gb, gdout, gout, gdx, gdw, gdb};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                be->free(be, all[i]);
            free(x), free(w), free(b), free(dout), free(out), free(dx), free(dw), free(db);
        }
        backend_destroy(be);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- loss, norm, Adam ---- */

START_TEST(test_loss_vs_ref)
{
    // The three losses (focal with gamma 2, 0.5 and 0), masked frames
    // (label -1), every frame masked, confident logits (+-30, where 1 - p_t
    // must not cancel), and NULL probs or dlogits. Per frame both sides
    // compute in double with the same formulas: float outputs agree to ~1 ulp.
    backend *be = make_backend("cuda", NULL, 0);
    rng r;
    rng_seed(&r, 808);
    static const int sizes[][2] = {{1120, 4}, {333, 8}, {1, 2}, {4480, 4}};
    long bad = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int N = sizes[si][0], K = sizes[si][1];
        float *z = testutil_falloc((size_t)N * K);
        int *lab = malloc((size_t)N * sizeof *lab);
        for (int i = 0; i < N; i++) {
            for (int k = 0; k < K; k++)
                z[(size_t)i * K + k] = 3.0f * rng_normal(&r);
            if (i % 17 == 5)
                z[(size_t)i * K + i % K] = 30.0f; // confident
            lab[i] = rng_uniform(&r) < 0.1f ? -1 : (int)rng_below(&r, (uint32_t)K);
        }
        float *gz = dev_from(be, z, (size_t)N * K * 4);
        float *gp = dev_floats(be, (size_t)N * K), *gd = dev_floats(be, (size_t)N * K);
        for (int variant = 0; variant < 6; variant++) {
            loss_config lc;
            memset(&lc, 0, sizeof lc);
            lc.kind = variant == 0 ? LOSS_CE : variant == 1 ? LOSS_WEIGHTED : LOSS_FOCAL;
            lc.gamma = variant == 2 ? 2.0f : variant == 3 ? 0.5f : 0.0f;
            for (int k = 0; k < K; k++) {
                lc.class_weights[k] = 0.5f + k;
                lc.alpha[k] = 1.0f - 0.1f * k;
            }
            if (variant == 5) // every frame masked
                for (int i = 0; i < N; i++)
                    lab[i] = -1;
            loss_params lp;
            loss_params_from_config(&lp, &lc, K, NULL);
            float *p = testutil_falloc((size_t)N * K), *d = testutil_falloc((size_t)N * K);
            float l_ref = cpu_loss_forward_backward(p, d, z, lab, N, &lp);
            float l = be->loss_forward_backward(be, gp, gd, gz, lab, N, &lp);
            float *hp = host_of(be, gp, (size_t)N * K), *hd = host_of(be, gd, (size_t)N * K);
            printf("loss N%d K%d kind %d gamma %.1f%s: gpu %.9g ref %.9g\n", N, K, (int)lp.kind,
                   (double)lp.gamma, variant == 5 ? " (all masked)" : "", (double)l, (double)l_ref);
            bad += !(fabs((double)l - l_ref) <= 1e-6 * fabs(l_ref) + 1e-9);
            bad += check_close("probs", hp, p, (size_t)N * K, 1e-7, 1e-6);
            bad += check_close("dlogits", hd, d, (size_t)N * K, 1e-6 * testutil_max_abs(d, (size_t)N * K),
                               1e-6);
            // NULL outputs: the loss alone, then the gradient alone
            float l2 = be->loss_forward_backward(be, NULL, NULL, gz, lab, N, &lp);
            bad += !(l2 == l);
            float l3 = be->loss_forward_backward(be, NULL, gd, gz, lab, N, &lp);
            bad += !(l3 == l);
            free(hp), free(hd), free(p), free(d);
        }
        be->free(be, gz), be->free(be, gp), be->free(be, gd);
        free(z), free(lab);
    }
    backend_destroy(be);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_sqnorm_adam_vs_ref)
{
    backend *be = make_backend("cuda", NULL, 0), *ref = make_backend("cpu-ref", NULL, 0);
    rng r;
    rng_seed(&r, 909);
    // the default network's parameter count, and sizes around the slicing
    static const long ns[] = {1, 255, 4097, 4097L * 1025 + 3, 10466148};
    long bad = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        const long n = ns[i];
        float *g = testutil_falloc(n);
        testutil_fill_normal(&r, g, n, 0.0f, 1e-2f);
        float *gg = dev_from(be, g, n * 4);
        double s = be->sqnorm(be, gg, n), s2 = be->sqnorm(be, gg, n);
        double sr = ref->sqnorm(ref, g, n);
        printf("sqnorm n=%ld: gpu %.17g ref %.17g rel %.2e%s\n", n, s, sr, fabs(s - sr) / sr,
               s == s2 ? "" : " NOT REPRODUCIBLE");
        bad += !(fabs(s - sr) <= 1e-12 * sr) + !(s == s2);
        be->free(be, gg);
        free(g);
    }
    // Adam: 5 steps with clipping scale, from nonzero moments
    const long n = 1000003;
    float *p = testutil_falloc(n), *m = testutil_falloc(n), *v = testutil_falloc(n), *g = testutil_falloc(n);
    testutil_fill_normal(&r, p, n, 0.0f, 1.0f);
    testutil_fill_normal(&r, m, n, 0.0f, 1e-3f);
    for (long i = 0; i < n; i++)
        v[i] = 1e-6f * rng_uniform(&r);
    float *gp = dev_from(be, p, n * 4), *gm = dev_from(be, m, n * 4), *gv = dev_from(be, v, n * 4);
    float *ggr = dev_floats(be, n);
    for (int t = 1; t <= 5; t++) {
        testutil_fill_normal(&r, g, n, 0.0f, 1e-2f);
        be->upload(be, ggr, g, n * 4);
        const float scale = t == 3 ? 0.37f : 1.0f;
        ref->adam_step(ref, p, m, v, g, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t, scale);
        be->adam_step(be, gp, gm, gv, ggr, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t, scale);
    }
    printf("adam n=%ld, 5 steps\n", n);
    float *h = host_of(be, gp, n);
    bad += check_close("params", h, p, n, 1e-7, 1e-6);
    free(h);
    h = host_of(be, gm, n);
    bad += check_close("m", h, m, n, 1e-6 * testutil_max_abs(m, n), 1e-5);
    free(h);
    h = host_of(be, gv, n);
    bad += check_close("v", h, v, n, 1e-6 * testutil_max_abs(v, n), 1e-5);
    free(h);
    be->free(be, gp), be->free(be, gm), be->free(be, gv), be->free(be, ggr);
    free(p), free(m), free(v), free(g);
    backend_destroy(be);
    backend_destroy(ref);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- the whole model ---- */

typedef struct step_result {
    long nparams, nbuffers;
    size_t nlogits;
    float loss;
    double norm;
    float *logits, *dlogits, *grads, *buffers, *params0, *params1, *eval_logits;
} step_result;

static void step_result_free(step_result *s)
{
    free(s->logits), free(s->dlogits), free(s->grads), free(s->buffers);
    free(s->params0), free(s->params1), free(s->eval_logits);
    memset(s, 0, sizeof *s);
}

/* One training step of cfg on backend be from seeded weights: forward with
 * dropout, loss (a tenth of the frames masked), backward, an eval-mode
 * forward, Adam with global clipping. */
static void model_step(backend *be, const resecg_config *cfg, int B, int L, step_result *s)
{
    model m;
    adam opt;
    rerr e = {{0}};
    ck_assert_msg(model_init(&m, &cfg->model, be, &e) == 0, "%s", e.msg);
    ck_assert_msg(model_reserve(&m, B, L, &e) == 0, "%s", e.msg);
    ck_assert_msg(adam_init(&opt, be, m.nparams, &e) == 0, "%s", e.msg);
    ck_assert_msg(model_init_weights(&m, 2018, &e) == 0, "%s", e.msg);
    const int T = L / m.frame, K = cfg->model.num_classes;
    float *x = testutil_falloc((size_t)B * L);
    int *lab = malloc((size_t)B * T * sizeof *lab);
    rng r;
    rng_seed(&r, 99);
    for (long i = 0; i < (long)B * L; i++)
        x[i] = rng_normal(&r);
    for (int i = 0; i < B * T; i++)
        lab[i] = i % 10 == 9 ? -1 : (int)rng_below(&r, (uint32_t)K);
    loss_params lp;
    loss_params_from_config(&lp, &cfg->loss, K, NULL);

    memset(s, 0, sizeof *s);
    s->nparams = m.nparams;
    s->nbuffers = m.nbuffers;
    s->nlogits = (size_t)B * T * K;
    s->params0 = host_of(be, m.params, m.nparams);
    model_forward(&m, x, B, L, 1, 777);
    s->loss = be->loss_forward_backward(be, NULL, m.dlogits, m.logits, lab, B * T, &lp);
    model_backward(&m);
    s->logits = host_of(be, m.logits, s->nlogits);
    s->dlogits = host_of(be, m.dlogits, s->nlogits);
    s->grads = host_of(be, m.grads, m.nparams);
    s->buffers = host_of(be, m.buffers, m.nbuffers);
    // eval mode with the running statistics the training forward updated
    // (before Adam, whose sign-like first step would blur the comparison)
    model_forward(&m, x, B, L, 0, 0);
    s->eval_logits = host_of(be, m.logits, s->nlogits);
    s->norm = adam_step_clipped(&opt, be, m.params, m.grads, &cfg->optim, cfg->optim.lr);
    s->params1 = host_of(be, m.params, m.nparams);
    free(x);
    free(lab);
    adam_free(&opt, be);
    model_free(&m);
}

/* Tolerances on the rms error relative to the rms (the relative L2 error)
 * of whole-model tensors (check_rms), calibrated on the CPU with the oneDNN
 * backend ("cpu") against cpu-ref, an fp32 fast path
 * summing in another order, as cuDNN does: logits, dlogits and running
 * statistics agree to ~1e-5, but gradients only to ~1e-2. The gradient is
 * discontinuous at ReLU kinks: an element whose batch-normalised value is
 * within rounding of 0 (a few per layer in 0.5M) passes its gradient on one
 * side and not on the other, which moves its channel's dbeta by ~1/sqrt(n)
 * and everything upstream with it. TF32 rounds ~1000x coarser (~4e-4 per
 * convolution, ~1e-3..1e-2 on the logits), so it flips more of them. Adam's
 * first step moves each parameter by ~lr * sign(grad): the signs of
 * near-zero gradients differ (0.17% of the parameters on the CPU pair).
 * These bounds are loose by nature: each kernel's own precision is pinned
 * down by the tests above; this one catches wiring bugs (a wrong buffer, an
 * alias, a missing term, a stale activation), which score ~1. */
typedef struct step_tol {
    double fwd, grad, upd_frac;
} step_tol;

static long step_compare(const model *layout, const step_result *g, const step_result *c,
                         const step_tol *tol, float lr)
{
    long bad = 0;
    printf("  loss gpu %.7f ref %.7f   grad norm gpu %.7g ref %.7g\n", (double)g->loss,
           (double)c->loss, g->norm, c->norm);
    bad += !(fabs((double)g->loss - c->loss) <= tol->fwd * fabs(c->loss));
    bad += !(fabs(g->norm - c->norm) <= tol->grad * c->norm);
    bad += check_rms("params before the step", g->params0, c->params0, g->nparams, 0.0, 0.0).bad;
    bad += check_rms("logits (train)", g->logits, c->logits, g->nlogits, 0.0, tol->fwd).bad;
    bad += check_rms("dlogits", g->dlogits, c->dlogits, g->nlogits, 0.0, tol->fwd).bad;
    bad += check_rms("logits (eval)", g->eval_logits, c->eval_logits, g->nlogits, 0.0,
                     tol->fwd).bad;
    // a tensor's gradient is compared to at least the rms of the whole
    // gradient (its share of the norm): the conv biases feeding a batch norm
    // get ~0 (rounding)
    const double noise = testutil_rms(c->grads, (size_t)c->nparams);
    for (int i = 0; i < layout->ntensors; i++) {
        const tensor_info *t = &layout->tensors[i];
        char what[160];
        if (t->kind == TENSOR_PARAM) {
            snprintf(what, sizeof what, "grad %s", t->name);
            bad += check_rms(what, g->grads + t->offset, c->grads + t->offset, t->numel, noise,
                             tol->grad).bad;
        } else {
            snprintf(what, sizeof what, "%s", t->name);
            bad += check_rms(what, g->buffers + t->offset, c->buffers + t->offset, t->numel, 0.0,
                             tol->fwd).bad;
        }
    }
    long moved = 0;
    for (long i = 0; i < g->nparams; i++) {
        double dg = (double)g->params1[i] - g->params0[i];
        double dc = (double)c->params1[i] - c->params0[i];
        if (fabs(dg - dc) > 1e-2 * lr)
            moved++;
    }
    double frac = (double)moved / (double)g->nparams;
    printf("  Adam update differs by > lr/100 on %ld of %ld parameters (%.2e, tol %.0e)  %s\n",
           moved, g->nparams, frac, tol->upd_frac, frac <= tol->upd_frac ? "ok" : "FAIL");
    bad += !(frac <= tol->upd_frac);
    return bad;
}

START_TEST(test_model_step_vs_ref)
{
    // The Hannun network (32 filters, 16 blocks, kernel 16) on 4 records of
    // 4096 samples (16 frames): every layer shape of the real network at a
    // shorter length, dropout 0.2 with the same masks on both sides.
    resecg_config cfg;
    config_defaults(&cfg);
    backend *ref = make_backend("cpu-ref", NULL, 0);
    step_result c;
    model layout;
    rerr e = {{0}};
    ck_assert(model_init(&layout, &cfg.model, ref, &e) == 0);
    model_step(ref, &cfg, 4, 4096, &c);
    static const char *modes[] = {"fp32", "tf32"};
    // fp32: ~7x the CPU pair's worst (logits 1.2e-5, gradients 1.5e-2,
    // updates 1.7e-3); tf32: the same scaled for its coarser rounding
    static const step_tol tols[] = {{1e-4, 1e-1, 2e-2}, {2e-2, 3e-1, 1.5e-1}};
    long bad = 0;
    for (int mi = 0; mi < 2; mi++) {
        backend *be = make_backend("cuda", modes[mi], 0);
        step_result g;
        model_step(be, &cfg, 4, 4096, &g);
        printf("model step, default network, B 4 x 4096, %s:\n", modes[mi]);
        bad += step_compare(&layout, &g, &c, &tols[mi], cfg.optim.lr);
        step_result_free(&g);
        backend_destroy(be);
    }
    step_result_free(&c);
    model_free(&layout);
    backend_destroy(ref);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* Counters after the first and after the last step of a curve. */
typedef struct curve_stats {
    cuda_backend_stats after1, after_all;
} curve_stats;

static void curve_after(backend *be, int step, void *ctx)
{
    curve_stats *cs = ctx;
    g_cuda->get_stats(be, step == 0 ? &cs->after1 : &cs->after_all);
}

START_TEST(test_training_curve)
{
    // gpu_checks.h: the small network on learnable data, the same weights,
    // batches and dropout masks on both sides, in deterministic mode; the
    // GPU's loss must track the CPU reference's step by step within bounds
    // calibrated on the CPU pair (test_gpu_tol), and both must fall well
    // below the start.
    resecg_config cfg;
    gpu_checks_curve_config(&cfg);
    float ref_loss[CURVE_STEPS], gpu_loss[2][CURVE_STEPS];
    rerr e = {{0}};
    backend *ref = make_backend("cpu-ref", NULL, 0);
    ck_assert_msg(gpu_checks_curve(ref, &cfg, CURVE_B, CURVE_L, CURVE_STEPS, ref_loss, NULL, NULL,
                                   &e) == 0,
                  "%s", e.msg);
    backend_destroy(ref);
    static const char *modes[] = {"fp32", "tf32"};
    for (int mi = 0; mi < 2; mi++) {
        backend *be = make_backend("cuda", modes[mi], 1);
        curve_stats cs;
        memset(&cs, 0, sizeof cs);
        ck_assert_msg(gpu_checks_curve(be, &cfg, CURVE_B, CURVE_L, CURVE_STEPS, gpu_loss[mi],
                                       curve_after, &cs, &e) == 0,
                      "%s", e.msg);
        // the arena: everything the backend needs was allocated in step 1
        ck_assert_int_eq(cs.after_all.device_allocs, cs.after1.device_allocs);
        ck_assert_int_eq(cs.after_all.workspace_grows, cs.after1.workspace_grows);
        ck_assert_int_eq(cs.after_all.algo_searches, cs.after1.algo_searches);
        backend_destroy(be);
    }
    printf("step   cpu-ref    cuda fp32  cuda tf32\n");
    for (int s = 0; s < CURVE_STEPS; s++)
        printf("%4d  %9.5f  %9.5f  %9.5f\n", s, (double)ref_loss[s], (double)gpu_loss[0][s],
               (double)gpu_loss[1][s]);
    int ok[2];
    for (int mi = 0; mi < 2; mi++) {
        double wa, wr;
        ok[mi] = gpu_checks_curve_within(modes[mi], gpu_loss[mi], ref_loss, CURVE_STEPS,
                                         CURVE_ATOL, CURVE_RTOL, &wa, &wr);
        printf("cuda %s: worst %.2e absolute, %.2e relative (bound %.2f + %.2f x): %s\n",
               modes[mi], wa, wr, CURVE_ATOL, CURVE_RTOL, ok[mi] ? "ok" : "OFF");
    }
    double first = ref_loss[0], last_ref = 0, last_gpu[2] = {0, 0};
    for (int s = CURVE_STEPS - 5; s < CURVE_STEPS; s++) {
        last_ref += ref_loss[s] / 5;
        last_gpu[0] += gpu_loss[0][s] / 5;
        last_gpu[1] += gpu_loss[1][s] / 5;
    }
    printf("mean of the last 5 steps: cpu-ref %.4f, fp32 %.4f, tf32 %.4f (first %.4f)\n", last_ref,
           last_gpu[0], last_gpu[1], first);
    ck_assert(last_ref < 0.6 * first);
    ck_assert(last_gpu[0] < 0.6 * first && last_gpu[1] < 0.6 * first);
    ck_assert(ok[0] && ok[1]);
}
END_TEST

START_TEST(test_arena_full_size)
{
    // The benchmark shape (default network, 32 x 8960): model_reserve
    // prepares every convolution (plans, searches, workspace), so the first
    // step searches nothing and grows no workspace, and after it nothing more
    // is allocated; a smaller last batch prepared with model_prepare searches
    // nothing when it comes.
    resecg_config cfg;
    config_defaults(&cfg);
    setenv("RESECG_CUDA_VERBOSE", "1", 1); // log the algorithms chosen at the real shapes
    backend *be = make_backend("cuda", NULL, 0);
    unsetenv("RESECG_CUDA_VERBOSE");
    model m;
    adam opt;
    rerr e = {{0}};
    ck_assert(model_init(&m, &cfg.model, be, &e) == 0);
    cuda_backend_stats st0, st20;
    g_cuda->get_stats(be, &st0);
    ck_assert(model_reserve(&m, 32, 8960, &e) == 0);
    cuda_backend_stats st_res;
    g_cuda->get_stats(be, &st_res);
    printf("model_reserve: %ld plans, %ld searches, workspace %.1f MiB\n", st_res.conv_plans,
           st_res.algo_searches, st_res.workspace_bytes / 1048576.0);
    ck_assert_int_gt(st_res.conv_plans, st0.conv_plans);
    ck_assert_int_eq(st_res.algo_searches - st0.algo_searches,
                     3 * (st_res.conv_plans - st0.conv_plans));
    ck_assert(adam_init(&opt, be, m.nparams, &e) == 0);
    ck_assert_msg(model_init_weights(&m, 1, &e) == 0, "%s", e.msg);
    const int T = 8960 / m.frame;
    float *x = testutil_falloc((size_t)32 * 8960);
    int *lab = malloc((size_t)32 * T * sizeof *lab);
    rng r;
    rng_seed(&r, 5);
    for (long i = 0; i < 32L * 8960; i++)
        x[i] = rng_normal(&r);
    for (int i = 0; i < 32 * T; i++)
        lab[i] = (int)rng_below(&r, 4);
    loss_params lp;
    loss_params_from_config(&lp, &cfg.loss, 4, NULL);
    cuda_backend_stats st[6];
    const int batches[] = {32, 32, 32, 20, 20, 32};
    for (int s = 0; s < 6; s++) {
        if (s == 3) { // the last batch's shapes, as train_run prepares them
            ck_assert_msg(model_prepare(&m, 20, 8960, &e) == 0, "%s", e.msg);
            g_cuda->get_stats(be, &st20);
        }
        double t0 = util_now();
        model_forward(&m, x, batches[s], 8960, 1, (uint64_t)s);
        float l =
            be->loss_forward_backward(be, NULL, m.dlogits, m.logits, lab, batches[s] * T, &lp);
        model_backward(&m);
        adam_step_clipped(&opt, be, m.params, m.grads, &cfg.optim, cfg.optim.lr);
        g_cuda->get_stats(be, &st[s]);
        printf("step %d: batch %d, loss %.4f, %.1f ms, %ld device allocs, %ld plans, %ld "
               "searches, workspace %.1f MiB\n",
               s, batches[s], (double)l, 1e3 * (util_now() - t0), st[s].device_allocs,
               st[s].conv_plans, st[s].algo_searches, st[s].workspace_bytes / 1048576.0);
        ck_assert(isfinite(l));
    }
    ck_assert_int_eq(st[0].algo_searches, st_res.algo_searches); // all prepared
    ck_assert_int_eq(st[0].workspace_grows, st_res.workspace_grows);
    ck_assert_int_eq(st[0].conv_plans, st_res.conv_plans);
    ck_assert_int_eq(st[2].device_allocs, st[0].device_allocs);
    ck_assert_int_eq(st[2].algo_searches, st[0].algo_searches);
    ck_assert_int_eq(st[3].algo_searches, st20.algo_searches); // batch 20 prepared
    ck_assert_int_eq(st[3].workspace_grows, st20.workspace_grows);
    ck_assert_int_eq(st[4].algo_searches, st[3].algo_searches);
    ck_assert_int_eq(st[4].device_allocs, st[3].device_allocs);
    ck_assert_int_eq(st[5].algo_searches, st[4].algo_searches); // back to 32: cached
    ck_assert_int_eq(st[5].device_allocs, st[4].device_allocs);
    free(x);
    free(lab);
    adam_free(&opt, be);
    model_free(&m);
    backend_destroy(be);
}
END_TEST

/* ---- end to end ---- */

static char g_dir[512];

START_TEST(test_train_evaluate_cuda)
{
    // train_run on "cuda" (strict fp32, deterministic) and on "cpu-ref"
    // with the tiny synthetic setup of gpu_checks.h: the losses agree within
    // bounds calibrated on the CPU pair (test_gpu_tol), and the best
    // checkpoint written from device memory scores the same dev set
    // identically when evaluated on the CPU and on the GPU.
    resecg_config c;
    gpu_checks_e2e_config(&c);
    train_result res[2];
    char dirs[2][600];
    static const char *devices[] = {"cpu-ref", "cuda"};
    setenv("RESECG_CUDA_MATH", "fp32", 1);
    setenv("RESECG_CUDA_DETERMINISTIC", "1", 1);
    for (int i = 0; i < 2; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s", g_dir, devices[i]);
        train_opts o = {.out_dir = dirs[i], .device = devices[i], .quiet = 1};
        rerr e = {{0}};
        int rc = train_run(&c, &o, &res[i], &e);
        ck_assert_msg(rc == 0, "train_run %s: %s", devices[i], e.msg);
        printf("%-8s first train loss %.6f, last %.6f, best dev loss %.6f (epoch %d)\n",
               devices[i], res[i].first_train_loss, res[i].last_train_loss, res[i].best_dev_loss,
               res[i].best_epoch);
    }
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", dirs[1]);
    metrics mc, mg;
    rerr e = {{0}};
    ck_assert_msg(evaluate_checkpoint(&c, ckpt, "cpu-ref", NULL, &mc, &e) == 0, "%s", e.msg);
    int rc = evaluate_checkpoint(&c, ckpt, "cuda", NULL, &mg, &e);
    unsetenv("RESECG_CUDA_MATH");
    unsetenv("RESECG_CUDA_DETERMINISTIC");
    ck_assert_msg(rc == 0, "%s", e.msg);
    double dfirst = fabs(res[1].first_train_loss - res[0].first_train_loss) /
                    res[0].first_train_loss;
    double dlast = fabs(res[1].last_train_loss - res[0].last_train_loss);
    long moved = gpu_checks_moved(&mc, &mg);
    printf("first train loss %.2e relative (bound %.0e), last %.2e absolute (bound %.2f + %.2f "
           "x); evaluate best.safetensors (written by cuda): %ld records, accuracy cpu-ref %.4f, "
           "cuda %.4f, %ld classified differently (bound %d)\n",
           dfirst, E2E_FIRST_RTOL, dlast, E2E_LAST_ATOL, E2E_LAST_RTOL, mc.total, mc.accuracy,
           mg.accuracy, moved, E2E_MAX_MOVED);
    ck_assert(dfirst <= E2E_FIRST_RTOL);
    ck_assert(dlast <= E2E_LAST_ATOL + E2E_LAST_RTOL * res[0].last_train_loss);
    ck_assert_int_eq(mc.total, mg.total);
    ck_assert(moved <= E2E_MAX_MOVED);
}
END_TEST

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "cuda"); }
static void dir_teardown(void) { testutil_rmtree(g_dir); }

static Suite *cuda_suite(void)
{
    Suite *s = suite_create("cuda");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_probe_and_env);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_out_of_memory_is_a_failure);
    tcase_add_test(tc, test_conv_vs_ref);
    tcase_add_test(tc, test_conv_cache);
    tcase_add_test(tc, test_conv_at_model_offsets);
    tcase_add_test(tc, test_tf32_in_use);
    tcase_add_test(tc, test_bnrelu_vs_ref);
    tcase_add_test(tc, test_shortcut_vs_ref);
    tcase_add_test(tc, test_dense_vs_ref);
    tcase_add_test(tc, test_loss_vs_ref);
    tcase_add_test(tc, test_sqnorm_adam_vs_ref);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 1200);
    tcase_add_unchecked_fixture(tm, dir_setup, dir_teardown);
    tcase_add_test(tm, test_model_step_vs_ref);
    tcase_add_test(tm, test_training_curve);
    tcase_add_test(tm, test_arena_full_size);
    tcase_add_test(tm, test_train_evaluate_cuda);
    suite_add_tcase(s, tm);
    return s;
}

/* Whether this machine must run the GPU tests: RESECG_REQUIRE_CUDA=1, or
 * NVML or nvidia-smi sees a GPU. Then every start-up failure is a FAIL;
 * elsewhere it is a skip (77), never a pass. */
static int cuda_required(char *why, size_t n)
{
    const char *req = getenv("RESECG_REQUIRE_CUDA");
    if (req && strcmp(req, "1") == 0) {
        snprintf(why, n, "RESECG_REQUIRE_CUDA=1");
        return 1;
    }
    gpu_info gpus[GPU_MAX];
    const char *source = "none";
    rerr e = {{0}};
    unsetenv("RESECG_FAKE_GPUS"); // the real machine's GPUs, not a test's
    int ngpu = gpu_discover(gpus, &source, &e);
    if (ngpu > 0) {
        snprintf(why, n, "%s sees %d GPU%s", source, ngpu, ngpu == 1 ? "" : "s");
        return 1;
    }
    return 0;
}

int main(void)
{
    char why[128] = "";
    int required = cuda_required(why, sizeof why);
    rerr e = {{0}};
    g_cuda = cuda_module_load(&e);
    if (!g_cuda) {
        printf("%s: %s\n", required ? "FAIL" : "SKIP", e.msg);
        if (required)
            printf("FAIL: the CUDA tests must run here (%s)\n", why);
        return required ? 1 : SKIP;
    }
    char vers[256];
    g_cuda->versions(vers, sizeof vers);
    printf("CUDA module %s: %s\n", cuda_module_path(), vers);
    // Without a device: creating the backend must fail with the documented
    // message, and then the program skips (or fails where a GPU is expected).
    char desc[256];
    if (g_cuda->device_probe(desc, sizeof desc, &e) <= 0) {
        rerr e2 = {{0}};
        backend *be = backend_create("cuda", 0, PRECISION_FP32, &e2);
        if (be || strncmp(e2.msg, "no CUDA device: ", 16) != 0) {
            printf("FAIL: without a device backend_create(\"cuda\") gave %s '%s'\n",
                   be ? "a backend" : "the message", e2.msg);
            backend_destroy(be);
            return 1;
        }
        printf("backend_create(\"cuda\") without a device: %s\n", e2.msg);
        if (required) {
            printf("FAIL: %s, but CUDA finds no device: %s\n", why, e.msg);
            return 1;
        }
        const char *no = strncmp(e.msg, "no CUDA device: ", 16) == 0 ? e.msg + 16 : e.msg;
        printf("SKIP: no CUDA device (%s)\n", no);
        return SKIP;
    }
    printf("CUDA device: %s\n", desc);
    // No fork: a CUDA context does not survive fork(), and the probe above
    // has initialised the driver.
    SRunner *sr = srunner_create(cuda_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}


/* Tests of the 1-D convolution: the reference (core/nn/cpu/conv_ref.c) against
 * finite differences and a hand-written direct formula, and the oneDNN fast
 * path (core/nn/cpu/conv_dnnl.c) against the reference on the shapes of the
 * real network, including its primitive cache (repeat, interleave, evict),
 * and the backward-weights kernel (core/nn/cpu/conv_wgrad.c) on its own, its
 * AVX-512 and AVX2 variants each where the CPU runs them; and the bf16
 * convolutions (train.precision bf16) against the fp32 reference. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/device.h"
#include "nn/layers.h"
#include "nn/rng.h"
#include "testutil.h"

/* A oneDNN call that must succeed here: the test fails with its message. */
static rerr conv_err;
#define ONEDNN_OK(call) ck_assert_msg((call) == 0, "%s", conv_err.msg)
#include "base/util.h"

/* ---- (b) conv_dims_same and the forward against a direct formula ---- */

START_TEST(test_dims_same)
{
    // {L, K, stride, expected Lout, pad_left, pad_right}, TF "same" padding
    static const int cases[][6] = {
        {20, 16, 1, 20, 7, 8},     // the header's example: odd total pad, extra on the right
        {20, 16, 2, 10, 7, 7},     // stride 2 on even L: total 14
        {21, 16, 2, 11, 7, 8},     // stride 2 on odd L: total 15
        {8960, 16, 2, 4480, 7, 7}, // the first subsampling block
        {35, 16, 2, 18, 7, 8},     // the last one (odd length)
        {4, 3, 1, 4, 1, 1},
        {5, 2, 1, 5, 0, 1},
        {10, 1, 2, 5, 0, 0}, // total would be -1: TF pads nothing
        {9, 16, 1, 9, 7, 8}, // L < K
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv_dims d;
        conv_dims_same(&d, 3, 5, 7, cases[i][0], cases[i][1], cases[i][2]);
        int pr = (d.Lout - 1) * d.stride + d.K - d.L - d.pad_left;
        if (pr < 0)
            pr = 0;
        ck_assert_int_eq(d.B, 3);
        ck_assert_int_eq(d.Cin, 5);
        ck_assert_int_eq(d.Cout, 7);
        ck_assert_int_eq(d.L, cases[i][0]);
        ck_assert_int_eq(d.K, cases[i][1]);
        ck_assert_int_eq(d.stride, cases[i][2]);
        ck_assert_int_eq(d.Lout, cases[i][3]);
        ck_assert_int_eq(d.pad_left, cases[i][4]);
        ck_assert_int_eq(pr, cases[i][5]);
    }
}
END_TEST

START_TEST(test_forward_hand)
{
    // x = [1 2 3 4], w = [1 10 100], b = 0.5, K = 3 -> pad 1 each side:
    // out[t] = 0.5 + x[t-1] + 10 x[t] + 100 x[t+1]
    conv_dims d;
    conv_dims_same(&d, 1, 1, 1, 4, 3, 1);
    const float x[4] = {1, 2, 3, 4}, w[3] = {1, 10, 100}, b[1] = {0.5f};
    const float want[4] = {210.5f, 321.5f, 432.5f, 43.5f};
    float out[4];
    cpu_conv1d_forward(out, x, w, b, &d);
    for (int t = 0; t < 4; t++)
        ck_assert_float_eq(out[t], want[t]);
    // stride 2, K = 2 on L = 4: Lout 2, total pad 0: out = [x0 + 10 x1, x2 + 10 x3]
    conv_dims_same(&d, 1, 1, 1, 4, 2, 2);
    ck_assert_int_eq(d.pad_left, 0);
    cpu_conv1d_forward(out, x, w, b, &d);
    ck_assert_float_eq(out[0], 21.5f);
    ck_assert_float_eq(out[1], 43.5f);
}
END_TEST

/* out (B, Cout, Lout) from an explicitly zero-padded copy of inp, in double:
 * an independent spelling of the same formula. */
static void direct_forward(double *out, const float *inp, const float *w, const float *b,
                           const conv_dims *d)
{
    int pr = (d->Lout - 1) * d->stride + d->K - d->L - d->pad_left;
    int Lp = d->pad_left + d->L + (pr > 0 ? pr : 0);
    double *xp = calloc((size_t)Lp, sizeof *xp);
    RESECG_ASSERT(xp != NULL);
    for (int bi = 0; bi < d->B; bi++) {
        for (int co = 0; co < d->Cout; co++) {
            for (int t = 0; t < d->Lout; t++)
                out[((size_t)bi * d->Cout + co) * d->Lout + t] = b[co];
        }
        for (int ci = 0; ci < d->Cin; ci++) {
            for (int j = 0; j < d->L; j++)
                xp[d->pad_left + j] = inp[((size_t)bi * d->Cin + ci) * d->L + j];
            for (int co = 0; co < d->Cout; co++) {
                for (int t = 0; t < d->Lout; t++) {
                    double s = 0.0;
                    for (int k = 0; k < d->K; k++)
                        s += (double)w[((size_t)co * d->Cin + ci) * d->K + k] *
                             xp[t * d->stride + k];
                    out[((size_t)bi * d->Cout + co) * d->Lout + t] += s;
                }
            }
        }
    }
    free(xp);
}

START_TEST(test_forward_direct)
{
    // {B, Cin, Cout, L, K, stride}
    static const int shapes[][6] = {
        {2, 3, 4, 20, 16, 1}, {2, 3, 4, 20, 16, 2}, {2, 2, 3, 21, 16, 2}, {3, 1, 5, 17, 3, 1},
        {1, 4, 2, 10, 1, 2},  {2, 2, 2, 9, 16, 1},  {2, 5, 3, 35, 16, 2},
    };
    rng r;
    rng_seed(&r, 101);
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int *s = shapes[c];
        conv_dims d;
        conv_dims_same(&d, s[0], s[1], s[2], s[3], s[4], s[5]);
        size_t ni = (size_t)d.B * d.Cin * d.L, nw = (size_t)d.Cout * d.Cin * d.K;
        size_t no = (size_t)d.B * d.Cout * d.Lout;
        float *x = testutil_falloc(ni), *w = testutil_falloc(nw), *b = testutil_falloc(d.Cout), *out = testutil_falloc(no);
        float *ref = testutil_falloc(no);
        double *dref = malloc(no * sizeof *dref);
        testutil_fill_normal(&r, x, ni, 0.0f, 1.0f);
        testutil_fill_normal(&r, w, nw, 0.0f, 1.0f);
        testutil_fill_normal(&r, b, d.Cout, 0.0f, 1.0f);
        cpu_conv1d_forward(out, x, w, b, &d);
        direct_forward(dref, x, w, b, &d);
        for (size_t i = 0; i < no; i++)
            ref[i] = (float)dref[i];
        printf("direct B%d %d->%d L%d K%d s%d (pad %d)\n", d.B, d.Cin, d.Cout, d.L, d.K,
               d.stride, d.pad_left);
        // fp32 sum of at most Cin*K = 80 terms against double: ~1e-6 relative
        double sc = testutil_rms(ref, no);
        ck_assert_int_eq(check_close("out", out, ref, no, 1e-5 * sc, 1e-5), 0);
        free(x), free(w), free(b), free(out), free(ref), free(dref);
    }
}
END_TEST

/* ---- (a) finite-difference gradient check of the reference backward ---- */

/* loss = sum(out * R), in double so the probe's rounding stays small. */
static double probe_loss(float *out, const float *x, const float *w, const float *b,
                         const float *R, const conv_dims *d)
{
    cpu_conv1d_forward(out, x, w, b, d);
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    double s = 0.0;
    for (size_t i = 0; i < no; i++)
        s += (double)out[i] * R[i];
    return s;
}

/* Central differences of probe_loss w.r.t. every element of p (n). The loss
 * is linear in each tensor, so the difference has no truncation error; what
 * remains is fp32 rounding of the few outputs a probe moves (~1e-7 each,
 * over 2h = 0.02), far below the 1e-3 tolerance. */
static void numeric_grad(float *g, float *p, size_t n, float *out, const float *x,
                         const float *w, const float *b, const float *R, const conv_dims *d)
{
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double lp = probe_loss(out, x, w, b, R, d);
        p[i] = keep - h;
        double lm = probe_loss(out, x, w, b, R, d);
        p[i] = keep;
        g[i] = (float)((lp - lm) / (2.0 * h));
    }
}

START_TEST(test_gradcheck)
{
    // {B, Cin, Cout, L, K, stride}: stride 1 and 2, K 16 and 3, even and odd
    // L, L < K, Cin = 1
    static const int shapes[][6] = {
        {2, 3, 2, 13, 3, 1}, {2, 2, 3, 20, 16, 2}, {2, 1, 4, 21, 16, 2}, {2, 2, 2, 9, 16, 1},
        {1, 3, 2, 10, 3, 2}, {2, 1, 3, 12, 16, 1}, {2, 2, 2, 11, 3, 2},  {1, 2, 3, 24, 16, 1},
    };
    rng r;
    rng_seed(&r, 202);
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int *s = shapes[c];
        conv_dims d;
        conv_dims_same(&d, s[0], s[1], s[2], s[3], s[4], s[5]);
        size_t ni = (size_t)d.B * d.Cin * d.L, nw = (size_t)d.Cout * d.Cin * d.K;
        size_t no = (size_t)d.B * d.Cout * d.Lout;
        float *x = testutil_falloc(ni), *w = testutil_falloc(nw), *b = testutil_falloc(d.Cout), *R = testutil_falloc(no);
        float *out = testutil_falloc(no), *dx = testutil_falloc(ni), *dw = testutil_falloc(nw), *db = testutil_falloc(d.Cout);
        float *ndx = testutil_falloc(ni), *ndw = testutil_falloc(nw), *ndb = testutil_falloc(d.Cout);
        float *dw2 = testutil_falloc(nw), *db2 = testutil_falloc(d.Cout);
        testutil_fill_normal(&r, x, ni, 0.0f, 1.0f);
        testutil_fill_normal(&r, w, nw, 0.0f, 1.0f);
        testutil_fill_normal(&r, b, d.Cout, 0.0f, 1.0f);
        testutil_fill_normal(&r, R, no, 0.0f, 1.0f);
        // poison the outputs: backward must assign them, not accumulate
        for (size_t i = 0; i < ni; i++)
            dx[i] = 1e6f;
        for (size_t i = 0; i < nw; i++)
            dw[i] = 1e6f;
        for (int i = 0; i < d.Cout; i++)
            db[i] = 1e6f;
        cpu_conv1d_backward(dx, dw, db, R, x, w, &d);
        numeric_grad(ndx, x, ni, out, x, w, b, R, &d);
        numeric_grad(ndw, w, nw, out, x, w, b, R, &d);
        numeric_grad(ndb, b, d.Cout, out, x, w, b, R, &d);
        printf("gradcheck B%d %d->%d L%d K%d s%d (pad %d)\n", d.B, d.Cin, d.Cout, d.L, d.K,
               d.stride, d.pad_left);
        long bad = check_close("dinp", dx, ndx, ni, 1e-3, 1e-3);
        bad += check_close("dw", dw, ndw, nw, 1e-3, 1e-3);
        bad += check_close("db", db, ndb, d.Cout, 1e-3, 1e-3);
        ck_assert_int_eq(bad, 0);
        // dinp = NULL (the stem) must leave dw and db exactly as before
        cpu_conv1d_backward(NULL, dw2, db2, R, x, w, &d);
        ck_assert_int_eq(memcmp(dw, dw2, nw * sizeof *dw), 0);
        ck_assert_int_eq(memcmp(db, db2, d.Cout * sizeof *db), 0);
        free(x), free(w), free(b), free(R), free(out), free(dx), free(dw), free(db);
        free(ndx), free(ndw), free(ndb), free(dw2), free(db2);
    }
}
END_TEST

/* ---- (c), (d) oneDNN against the reference ---- */

/* Tolerance for oneDNN vs reference: |diff| <= atol + rtol*|ref| with
 * atol = 1e-4 * testutil_rms(ref) and rtol = 1e-4. oneDNN sums in fp32 in its own
 * (blocked, FMA) order; the reference sums the forward and dinp in fp32
 * and dw/db in double. An fp32 sum of n random terms has an error of about
 * eps * sqrt(n) / 2 * testutil_rms(sum) at one standard deviation: ~2e-6 * rms for the
 * forward's Cin*K = 4096 terms, ~5e-6 * rms for dw's B*Lout ~ 36k, so even
 * the worst of ~1e6 elements (5 sigma) stays below 1e-4 * rms; measured
 * worst here is ~1.2e-5 * rms. A wrong tap, pad or stride gives errors of
 * the order of rms itself. */
#define DNNL_ATOL_REL 1e-4
#define DNNL_RTOL 1e-4

typedef struct conv_case {
    conv_dims d;
    float *x, *w, *b, *dout;
    float *out_ref, *dx_ref, *dw_ref, *db_ref;
    float *out, *dx, *dw, *db;
} conv_case;

static void case_init(conv_case *c, rng *r, int B, int Cin, int Cout, int L, int K, int stride)
{
    memset(c, 0, sizeof *c);
    conv_dims_same(&c->d, B, Cin, Cout, L, K, stride);
    size_t ni = (size_t)B * Cin * L, nw = (size_t)Cout * Cin * K;
    size_t no = (size_t)B * Cout * c->d.Lout;
    c->x = testutil_falloc(ni), c->w = testutil_falloc(nw), c->b = testutil_falloc(Cout), c->dout = testutil_falloc(no);
    c->out_ref = testutil_falloc(no), c->dx_ref = testutil_falloc(ni), c->dw_ref = testutil_falloc(nw);
    c->db_ref = testutil_falloc(Cout);
    c->out = testutil_falloc(no), c->dx = testutil_falloc(ni), c->dw = testutil_falloc(nw), c->db = testutil_falloc(Cout);
    // He-like weights so activations stay O(1) whatever Cin*K is
    testutil_fill_normal(r, c->x, ni, 0.0f, 1.0f);
    testutil_fill_normal(r, c->w, nw, 0.0f, (float)sqrt(2.0 / (Cin * K)));
    testutil_fill_normal(r, c->b, Cout, 0.0f, 0.1f);
    testutil_fill_normal(r, c->dout, no, 0.0f, 1.0f);
    cpu_conv1d_forward(c->out_ref, c->x, c->w, c->b, &c->d);
    cpu_conv1d_backward(c->dx_ref, c->dw_ref, c->db_ref, c->dout, c->x, c->w, &c->d);
}

static void case_free(conv_case *c)
{
    free(c->x), free(c->w), free(c->b), free(c->dout);
    free(c->out_ref), free(c->dx_ref), free(c->dw_ref), free(c->db_ref);
    free(c->out), free(c->dx), free(c->dw), free(c->db);
}

/* Runs oneDNN forward and backward on c (dinp only if want_dx) and
 * returns the number of mismatches against the reference. */
static long case_check_onednn(conv_case *c, void *ctx, const char *layout, int want_dx)
{
    const conv_dims *d = &c->d;
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    // poison: every output must be written
    memset(c->out, 0xff, no * sizeof(float));
    memset(c->dx, 0xff, ni * sizeof(float));
    memset(c->dw, 0xff, nw * sizeof(float));
    memset(c->db, 0xff, d->Cout * sizeof(float));
    ONEDNN_OK(onednn_conv1d_forward(ctx, c->out, c->x, c->w, c->b, d, &conv_err));
    ONEDNN_OK(onednn_conv1d_backward(ctx, want_dx ? c->dx : NULL, c->dw, c->db, c->dout, c->x, c->w, d, &conv_err));
    printf("onednn %s B%d %d->%d L%d->%d K%d s%d (pad %d)%s\n", layout, d->B, d->Cin, d->Cout,
           d->L, d->Lout, d->K, d->stride, d->pad_left, want_dx ? "" : " no dinp");
    long bad = check_close("out", c->out, c->out_ref, no, DNNL_ATOL_REL * testutil_rms(c->out_ref, no),
                           DNNL_RTOL);
    if (want_dx)
        bad += check_close("dinp", c->dx, c->dx_ref, ni, DNNL_ATOL_REL * testutil_rms(c->dx_ref, ni),
                           DNNL_RTOL);
    bad += check_close("dw", c->dw, c->dw_ref, nw, DNNL_ATOL_REL * testutil_rms(c->dw_ref, nw), DNNL_RTOL);
    bad += check_close("db", c->db, c->db_ref, d->Cout, DNNL_ATOL_REL * testutil_rms(c->db_ref, d->Cout),
                       DNNL_RTOL);
    return bad;
}

/* The layouts conv_dnnl.c can offer its primitives (RESECG_ONEDNN_LAYOUT):
 * the measured per-op default and the three forced ones, so that every
 * reorder and workspace-sharing path is exercised. */
static const char *LAYOUTS[] = {"auto", "any", "ncw", "nwc"};
#define NLAYOUTS ((int)(sizeof LAYOUTS / sizeof LAYOUTS[0]))

static void *ctx_or_fail(const char *layout)
{
    rerr e = {{0}};
    setenv("RESECG_ONEDNN_LAYOUT", layout, 1);
    void *ctx = onednn_ctx_create(PRECISION_FP32, 0, &e);
    unsetenv("RESECG_ONEDNN_LAYOUT");
    if (!ctx)
        ck_abort_msg("onednn_ctx_create(%s): %s", layout, e.msg);
    return ctx;
}

START_TEST(test_onednn_bad_layout)
{
    rerr e = {{0}};
    setenv("RESECG_ONEDNN_LAYOUT", "nchw", 1);
    void *ctx = onednn_ctx_create(PRECISION_FP32, 0, &e);
    unsetenv("RESECG_ONEDNN_LAYOUT");
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(e.msg, "nchw"));
    setenv("RESECG_WGRAD", "yes", 1);
    ctx = onednn_ctx_create(PRECISION_FP32, 0, &e);
    unsetenv("RESECG_WGRAD");
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(e.msg, "RESECG_WGRAD='yes'"));
    setenv("RESECG_WGRAD_ISA", "sse", 1);
    ctx = onednn_ctx_create(PRECISION_FP32, 0, &e);
    unsetenv("RESECG_WGRAD_ISA");
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(e.msg, "RESECG_WGRAD_ISA='sse'"));
}
END_TEST

/* {B, Cin, Cout, L, K, stride, want dinp}: the network's convs (stem,
 * 32..256 channels at their lengths, both strides, odd Lout 35 -> 18)
 * plus the other channel combinations of {1, 8, 16, 32, 64, 256} */
static const int NET_SHAPES[][7] = {
    {2, 1, 32, 8960, 16, 1, 0},  // stem: no gradient to the data
    {2, 1, 32, 8960, 16, 1, 1},  // same shape with dinp
    {2, 32, 32, 8960, 16, 1, 1}, // block 0
    {2, 32, 32, 8960, 16, 2, 1}, // block 1 conv1: 8960 -> 4480
    {3, 32, 64, 2240, 16, 1, 1}, // block 4 conv1: width doubles
    {4, 64, 64, 1120, 16, 2, 1},
    {2, 128, 128, 280, 16, 1, 1},
    {3, 128, 256, 140, 16, 1, 1},
    {2, 256, 256, 70, 16, 2, 1},
    {4, 256, 256, 35, 16, 1, 1}, // last block
    {3, 256, 256, 35, 16, 2, 1}, // odd L at stride 2: pads 7 and 8
    {2, 8, 16, 4480, 16, 2, 1},
    {3, 16, 8, 280, 16, 1, 1},
    {2, 8, 1, 35, 16, 1, 1},
    {4, 16, 64, 35, 16, 2, 1},
    {2, 64, 8, 280, 16, 2, 1},
    {2, 256, 1, 35, 16, 1, 1},
    {2, 1, 256, 280, 16, 2, 1},
};
#define NNET_SHAPES ((int)(sizeof NET_SHAPES / sizeof NET_SHAPES[0]))

START_TEST(test_onednn_vs_ref)
{
    void *ctx[NLAYOUTS];
    for (int l = 0; l < NLAYOUTS; l++)
        ctx[l] = ctx_or_fail(LAYOUTS[l]);
    rng r;
    rng_seed(&r, 303);
    long bad = 0;
    for (int i = 0; i < NNET_SHAPES; i++) {
        const int *s = NET_SHAPES[i];
        conv_case c;
        case_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5]);
        for (int l = 0; l < NLAYOUTS; l++)
            bad += case_check_onednn(&c, ctx[l], LAYOUTS[l], s[6]);
        case_free(&c);
    }
    for (int l = 0; l < NLAYOUTS; l++)
        onednn_ctx_destroy(ctx[l]);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- bf16 (train.precision bf16) ----
 * A bf16 operand keeps 8 significant bits: rounding to nearest moves it by
 * at most 2^-9 relative, uniformly, so each product of two rounded operands
 * is off by about 2^-9 * sqrt(2/3) of its size (rms), and a sum of many
 * such products with independent errors by that share of the rms of the
 * sum, ~0.16%. The tolerance, 3% of the result's rms plus 2% of the value,
 * leaves about 4 sigma of headroom at the worst of millions of elements; a
 * wrong tap, channel or pad (an error of the size of the result) fails it.
 * The lower bound proves bf16 arithmetic is used at all: fp32 through
 * oneDNN is ~1e-7 off, bf16 ~1e-3. */
#define BF16_ATOL_REL 3e-2
#define BF16_RTOL 2e-2
#define BF16_MIN_REL_RMS 1e-4

/* (B, C, L) -> (B, L, C) (dir 0) or back (dir 1), src to dst. */
static void transpose_bcl(float *dst, const float *src, int B, int C, int L, int dir)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t)b * C + c) * L + l, j = ((size_t)b * L + l) * C + c;
                if (dir == 0)
                    dst[j] = src[i];
                else
                    dst[i] = src[j];
            }
}

/* bf16 oneDNN forward and backward on c against the fp32 reference, then
 * the same again (a new ctx) bit for bit; returns the mismatches. nwc: the
 * ctx takes channels-last activations (the "cpu" backend in bf16): x and
 * dout go in transposed, out and dinp come back transposed. */
static long case_check_bf16(conv_case *c, int want_dx, int nwc, double *worst_rel)
{
    const conv_dims *d = &c->d;
    size_t ni = (size_t)d->B * d->Cin * d->L, nw = (size_t)d->Cout * d->Cin * d->K;
    size_t no = (size_t)d->B * d->Cout * d->Lout;
    float *xt = testutil_falloc(ni), *doutt = testutil_falloc(no);
    float *outt = testutil_falloc(no), *dxt = testutil_falloc(ni);
    transpose_bcl(xt, c->x, d->B, d->Cin, d->L, 0);
    transpose_bcl(doutt, c->dout, d->B, d->Cout, d->Lout, 0);
    float *keep[4] = {testutil_falloc(no), testutil_falloc(ni), testutil_falloc(nw),
                      testutil_falloc(d->Cout)};
    float *outs[4] = {c->out, c->dx, c->dw, c->db};
    size_t ns[4] = {no, ni, nw, (size_t)d->Cout};
    long bad = 0;
    for (int rep = 0; rep < 2; rep++) {
        rerr e = {{0}};
        void *ctx = onednn_ctx_create(PRECISION_BF16, nwc, &e);
        ck_assert_msg(ctx != NULL, "onednn_ctx_create(bf16): %s", e.msg);
        for (int k = 0; k < 4; k++)
            memset(outs[k], 0xff, ns[k] * sizeof(float));
        if (nwc) {
            ONEDNN_OK(onednn_conv1d_forward(ctx, outt, xt, c->w, c->b, d, &conv_err));
            ONEDNN_OK(onednn_conv1d_backward(ctx, want_dx ? dxt : NULL, c->dw, c->db, doutt, xt, c->w, d, &conv_err));
            transpose_bcl(c->out, outt, d->B, d->Cout, d->Lout, 1);
            if (want_dx)
                transpose_bcl(c->dx, dxt, d->B, d->Cin, d->L, 1);
        } else {
            ONEDNN_OK(onednn_conv1d_forward(ctx, c->out, c->x, c->w, c->b, d, &conv_err));
            ONEDNN_OK(onednn_conv1d_backward(ctx, want_dx ? c->dx : NULL, c->dw, c->db, c->dout, c->x, c->w,
                                   d, &conv_err));
        }
        onednn_ctx_destroy(ctx);
        if (rep == 1) {
            for (int k = 0; k < 4; k++) {
                if ((k == 1 && !want_dx) || memcmp(outs[k], keep[k], ns[k] * sizeof(float)) == 0)
                    continue;
                printf("    bf16: tensor %d differs between two identical runs\n", k);
                bad++;
            }
            break;
        }
        printf("onednn bf16 %s B%d %d->%d L%d->%d K%d s%d%s\n", nwc ? "nwc" : "ncw", d->B, d->Cin,
               d->Cout, d->L, d->Lout, d->K, d->stride, want_dx ? "" : " no dinp");
        const float *refs[4] = {c->out_ref, c->dx_ref, c->dw_ref, c->db_ref};
        const char *names[4] = {"out", "dinp", "dw", "db"};
        for (int k = 0; k < 4; k++) {
            if (k == 1 && !want_dx)
                continue;
            check_result cr = check_elementwise(names[k], outs[k], refs[k], ns[k],
                                                BF16_ATOL_REL * testutil_rms(refs[k], ns[k]),
                                                BF16_RTOL);
            bad += cr.bad;
            double rr = cr.rel_rms; /* rms error / rms of the result */
            if (rr > *worst_rel)
                *worst_rel = rr;
            if (k == 0 && d->Cin * d->K >= 16 && rr < BF16_MIN_REL_RMS) {
                printf("    bf16 out: rms error %.2e of the rms: fp32 arithmetic, not bf16\n", rr);
                bad++;
            }
        }
        for (int k = 0; k < 4; k++)
            memcpy(keep[k], outs[k], ns[k] * sizeof(float));
    }
    for (int k = 0; k < 4; k++)
        free(keep[k]);
    free(xt), free(doutt), free(outt), free(dxt);
    return bad;
}

START_TEST(test_onednn_bf16_vs_ref)
{
    rerr e = {{0}};
    if (onednn_bf16_check(&e) != 0) {
        printf("bf16 convolutions: SKIPPED, not on this CPU (%s)\n", e.msg);
        return;
    }
    rng r;
    rng_seed(&r, 505);
    long bad = 0;
    double worst = 0.0;
    for (int i = 0; i < NNET_SHAPES; i++) {
        const int *s = NET_SHAPES[i];
        conv_case c;
        case_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5]);
        // both activation layouts: ncw, and nwc as the "cpu" backend runs bf16
        for (int nwc = 0; nwc <= 1; nwc++)
            bad += case_check_bf16(&c, s[6], nwc, &worst);
        case_free(&c);
    }
    printf("bf16 (ncw and nwc) against the fp32 reference on %d shapes: worst rms error %.2e of the result's rms\n",
           NNET_SHAPES, worst);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_onednn_cache)
{
    // (d) the same shape twice gives bit-identical results (cached
    // primitives, shared workspace), and interleaving another shape in
    // between neither disturbs it nor is disturbed. Run for every layout:
    // "nwc" is the one where backward-data reuses backward-weights' copy.
    rng r;
    rng_seed(&r, 404);
    conv_case a, b;
    case_init(&a, &r, 2, 32, 32, 4480, 16, 2);
    case_init(&b, &r, 3, 16, 8, 35, 16, 1);
    size_t no = (size_t)a.d.B * a.d.Cout * a.d.Lout, ni = (size_t)a.d.B * a.d.Cin * a.d.L;
    size_t nw = (size_t)a.d.Cout * a.d.Cin * a.d.K;
    float *out1 = testutil_falloc(no), *dx1 = testutil_falloc(ni), *dw1 = testutil_falloc(nw), *db1 = testutil_falloc(a.d.Cout);
    for (int l = 0; l < NLAYOUTS; l++) {
        void *ctx = ctx_or_fail(LAYOUTS[l]);
        ck_assert_int_eq(case_check_onednn(&a, ctx, LAYOUTS[l], 1), 0);
        memcpy(out1, a.out, no * sizeof(float));
        memcpy(dx1, a.dx, ni * sizeof(float));
        memcpy(dw1, a.dw, nw * sizeof(float));
        memcpy(db1, a.db, a.d.Cout * sizeof(float));
        ck_assert_int_eq(case_check_onednn(&b, ctx, LAYOUTS[l], 1), 0);
        ck_assert_int_eq(case_check_onednn(&a, ctx, LAYOUTS[l], 1), 0);
        ck_assert_int_eq(memcmp(out1, a.out, no * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(dx1, a.dx, ni * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(dw1, a.dw, nw * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(db1, a.db, a.d.Cout * sizeof(float)), 0);
        // a backward without dinp in between must give the same dw, and
        // must not leave anything behind for the next shape
        ONEDNN_OK(onednn_conv1d_backward(ctx, NULL, a.dw, a.db, a.dout, a.x, a.w, &a.d, &conv_err));
        ck_assert_int_eq(memcmp(dw1, a.dw, nw * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(db1, a.db, a.d.Cout * sizeof(float)), 0);
        ck_assert_int_eq(case_check_onednn(&b, ctx, LAYOUTS[l], 1), 0);
        printf("%s: repeat and interleave bit-identical\n", LAYOUTS[l]);
        onednn_ctx_destroy(ctx);
    }
    free(out1), free(dx1), free(dw1), free(db1);
    case_free(&a);
    case_free(&b);
}
END_TEST

START_TEST(test_onednn_evict)
{
    // More distinct shapes than the ctx caches (256): the least recently
    // used are dropped and rebuilt on demand, and results stay right.
    void *ctx = ctx_or_fail("auto");
    rng r;
    rng_seed(&r, 505);
    long bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int L = 1; L <= 300; L += pass ? 37 : 1) {
            conv_dims d;
            conv_dims_same(&d, 1, 2, 3, L, 3, 1 + L % 2);
            size_t ni = (size_t)d.Cin * L, nw = (size_t)d.Cout * d.Cin * d.K;
            size_t no = (size_t)d.Cout * d.Lout;
            float x[600], w[18], b[3], out[900], ref[900];
            RESECG_ASSERT(ni <= 600 && nw <= 18 && no <= 900);
            testutil_fill_normal(&r, x, ni, 0.0f, 1.0f);
            testutil_fill_normal(&r, w, nw, 0.0f, 1.0f);
            testutil_fill_normal(&r, b, 3, 0.0f, 1.0f);
            cpu_conv1d_forward(ref, x, w, b, &d);
            ONEDNN_OK(onednn_conv1d_forward(ctx, out, x, w, b, &d, &conv_err));
            for (size_t i = 0; i < no; i++)
                if (!(fabsf(out[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i]))))
                    bad++;
        }
    }
    printf("eviction: 300 shapes, then 9 again (evicted ones rebuilt), %ld mismatches\n", bad);
    onednn_ctx_destroy(ctx);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* Loop index: the variant, WGRAD_ISA_AVX512 or WGRAD_ISA_AVX2. */
START_TEST(test_wgrad_vs_ref)
{
    // core/nn/cpu/conv_wgrad.c against the reference's dw and db, called
    // directly so that shapes the dispatcher would leave to oneDNN (short
    // rows) also exercise it: rows shorter than a vector, tails, several
    // chunks (1024 outputs each) with a partial last one, both strides, odd
    // L at stride 2 (pads 7 and 8), K 8 and 16, Cin 1 and odd. Each result
    // must also be bit-identical for 1, 2 and 3 threads. Each variant where
    // the CPU runs it (an AVX-512 CPU runs the AVX2 one too).
    // {B, Cin, Cout, L, K, stride}
    static const int shapes[][6] = {
        {2, 1, 32, 2500, 16, 1}, {2, 3, 4, 9, 16, 1},     {3, 5, 8, 2500, 16, 1},
        {2, 32, 32, 1040, 16, 1}, {2, 4, 8, 37, 8, 1},    {2, 32, 32, 4480, 16, 2},
        {2, 3, 4, 2501, 16, 2},  {3, 16, 8, 35, 16, 2},   {2, 6, 4, 2050, 8, 2},
        {1, 7, 12, 1, 16, 1},    {2, 64, 64, 1120, 16, 2}, {2, 8, 4, 2048, 16, 1},
    };
    const int isa = _i;
    const char *isa_name = isa == WGRAD_ISA_AVX2 ? "AVX2" : "AVX-512";
    if (!wgrad_isa_available(isa)) {
        printf("wgrad %s: SKIPPED, not on this CPU (the backend uses another variant or oneDNN)\n",
               isa_name);
        return;
    }
    rng r;
    rng_seed(&r, 606);
    long bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *s = shapes[i];
        conv_case c;
        case_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5]);
        const conv_dims *d = &c.d;
        size_t nw = (size_t)d->Cout * d->Cin * d->K;
        float *dw1 = testutil_falloc(nw), *db1 = testutil_falloc(d->Cout);
        printf("wgrad %s B%d %d->%d L%d->%d K%d s%d (pad %d)%s\n", isa_name, d->B, d->Cin,
               d->Cout, d->L, d->Lout, d->K, d->stride, d->pad_left,
               wgrad_supported(d, isa, 0) ? " (dispatched)" : "");
        for (int threads = 1; threads <= 3; threads++) {
            float *ws = testutil_falloc(wgrad_workspace_floats(d, threads));
            memset(c.dw, 0xff, nw * sizeof(float)); // poison: dw and db are assigned
            memset(c.db, 0xff, d->Cout * sizeof(float));
            wgrad_conv1d_backward_weights(c.dw, c.db, c.dout, c.x, d, isa, threads, ws);
            free(ws);
            if (threads == 1) {
                bad += check_close("dw", c.dw, c.dw_ref, nw,
                                   DNNL_ATOL_REL * testutil_rms(c.dw_ref, nw), DNNL_RTOL);
                bad += check_close("db", c.db, c.db_ref, d->Cout,
                                   DNNL_ATOL_REL * testutil_rms(c.db_ref, d->Cout), DNNL_RTOL);
                memcpy(dw1, c.dw, nw * sizeof(float));
                memcpy(db1, c.db, d->Cout * sizeof(float));
            } else {
                ck_assert_int_eq(memcmp(dw1, c.dw, nw * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(db1, c.db, d->Cout * sizeof(float)), 0);
            }
        }
        free(dw1), free(db1);
        case_free(&c);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* A shape oneDNN cannot build (here: one it rejects; out of memory takes
 * the same path) is an error with the shape in it, from prepare and from
 * the kernels alike, never an abort; a kernel that cannot run leaves its
 * output alone and marks the backend failed, and the kernels after it do
 * nothing. */
START_TEST(test_onednn_build_failure_is_an_error)
{
    rerr e = {{0}};
    backend *be = backend_create("cpu", 1, PRECISION_FP32, &e);
    ck_assert_msg(be != NULL, "%s", e.msg);
    // Lout does not follow from L, K, stride and pad: oneDNN says invalid_arguments
    conv_dims bad = {.B = 2, .Cin = 3, .Cout = 4, .L = 64, .Lout = 10, .K = 3, .stride = 1,
                     .pad_left = 1};
    ck_assert_int_eq(be->conv1d_prepare(be, &bad, &e), -1);
    printf("prepare: %s\n", e.msg);
    ck_assert_msg(strstr(e.msg, "oneDNN could not build the convolution of 2 x 3 x 64 -> 4 "
                                "channels (kernel 3, stride 1): invalid_arguments") != NULL,
                  "%s", e.msg);
    ck_assert_str_eq(be->failure, ""); /* prepare reports, it does not poison */
    ck_assert_int_eq(backend_failed(be, &e), 0);

    float x[2 * 3 * 64], w[4 * 3 * 3], b[4], out[2 * 4 * 64], dw[4 * 3 * 3], db[4];
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        out[i] = 7.0f;
    memset(x, 0, sizeof x);
    memset(w, 0, sizeof w);
    memset(b, 0, sizeof b);
    be->conv1d_forward(be, out, x, w, b, &bad);
    ck_assert_int_eq(backend_failed(be, &e), -1);
    ck_assert_msg(strstr(e.msg, "2 x 3 x 64") != NULL, "%s", e.msg);
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        ck_assert(out[i] == 7.0f);
    // a good shape after the failure does nothing either: the step is lost
    conv_dims good;
    conv_dims_same(&good, 2, 3, 4, 64, 3, 1);
    be->conv1d_forward(be, out, x, w, b, &good);
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        ck_assert(out[i] == 7.0f);
    for (size_t i = 0; i < sizeof dw / sizeof dw[0]; i++)
        dw[i] = 7.0f;
    be->conv1d_backward(be, NULL, dw, db, out, x, w, &good);
    ck_assert(dw[0] == 7.0f);
    backend_destroy(be);

    // on a fresh backend the good shape runs: the first backend's failure was its own
    be = backend_create("cpu", 1, PRECISION_FP32, &e);
    ck_assert_msg(be != NULL, "%s", e.msg);
    ck_assert_int_eq(be->conv1d_prepare(be, &good, &e), 0);
    be->conv1d_forward(be, out, x, w, b, &good);
    ck_assert_int_eq(backend_failed(be, &e), 0);
    ck_assert(out[0] == 0.0f);
    backend_destroy(be);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *ref = tcase_create("reference");
    tcase_set_timeout(ref, 60);
    tcase_add_test(ref, test_dims_same);
    tcase_add_test(ref, test_forward_hand);
    tcase_add_test(ref, test_forward_direct);
    tcase_add_test(ref, test_gradcheck);
    suite_add_tcase(s, ref);
    TCase *dn = tcase_create("onednn");
    // generous: sanitizer builds run the reference several times slower
    tcase_set_timeout(dn, 300);
    tcase_add_test(dn, test_onednn_bad_layout);
    tcase_add_test(dn, test_onednn_build_failure_is_an_error);
    tcase_add_test(dn, test_onednn_vs_ref);
    tcase_add_test(dn, test_onednn_cache);
    tcase_add_test(dn, test_onednn_evict);
    tcase_add_test(dn, test_onednn_bf16_vs_ref);
    tcase_add_loop_test(dn, test_wgrad_vs_ref, WGRAD_ISA_AVX2, WGRAD_ISA_AVX512 + 1);
    suite_add_tcase(s, dn);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

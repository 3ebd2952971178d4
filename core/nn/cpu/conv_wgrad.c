/* Backward-weights of the stride-1 and stride-2 1-D convolution with an
 * AVX-512 kernel of our own and an AVX2 + FMA variant of it, for the "cpu"
 * backend: oneDNN 2.6 has no brgemm kernel for it and its gemm path
 * (im2col + sgemm) ran at about 180 GFLOP/s on the network's shapes, half
 * the machine's SGEMM peak (bench/PERF.md).
 * Same contract as the dw/db part of cpu_conv1d_backward (layers.h), on the
 * caller's (B, C, L) tensors, no reorder; tested against it in
 * tests/test_conv.c.
 *
 *   dw[co, ci, k] = sum_{b, t} dout[b, co, t] * x[b, ci, t * s + k - pad_left]
 *
 * is, for one (co, ci, k), a dot product along t of a dout row with a
 * shifted x row. The kernel keeps a 4 x 4 tile (4 output channels x 4 taps)
 * of such dot products in 16 AVX-512 accumulators, one t-lane each, and per
 * 16 t loads 4 dout vectors and 4 (shifted) x vectors for 16 FMAs. t runs in
 * chunks that keep the 4 dout rows and one x row in L1; each chunk's 16 x 16
 * lane sums are reduced (sum16) and added into dw.
 *
 * Stride 2 splits x into its even and odd samples, which turns the taps of
 * each parity into a stride-1 correlation (see the function).
 *
 * The AVX2 variant (CPUs without AVX-512F; 8-wide vectors, 16 registers)
 * runs the same driver, chunks and workspace; only the per-chunk kernel
 * differs: a 4-channel tile is done as 4 x 2 sub-tiles (4 output channels x
 * 2 taps, 8 accumulators, 2 x and 1 dout vector live: 11 registers), which
 * measured faster than 2 x 4 (bench/PERF.md). Its functions carry
 * target("avx2,fma") inside a "no-avx512f" pragma region, so that a
 * -march=native build on an AVX-512 machine gives them no EVEX encodings
 * (it did without: vshuff32x4, valignd); <immintrin.h> is included under the
 * same pragma, else its intrinsics, declared with AVX-512, would not inline
 * into them. Forcing them there (RESECG_WGRAD_ISA=avx2) thus runs genuine
 * AVX2 code; objdump shows no zmm, ymm16+ or EVEX prefix in them (GCC; a
 * clang build skips the pragmas).
 *
 * Determinism: every dw element is summed by one thread in a fixed order
 * (b, chunk, then a fixed lane reduction), whatever the thread count;
 * threads split (co tile, ci group) pairs, which own disjoint outputs. */
#include "nn/backend.h"
#include "nn/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WGRAD_X86 1
#if !defined(__clang__)
/* The intrinsics declared without AVX-512, so that the AVX2 functions below
 * can be compiled without it and still inline them (see the file comment). */
#pragma GCC push_options
#pragma GCC target("no-avx512f")
#include <immintrin.h>
#pragma GCC pop_options
#else
#include <immintrin.h>
#endif
#include <omp.h>
#endif

#define CO_T 4      /* output channels per tile */
#define K_T 4       /* taps per tile */
#define VEC 16      /* floats per AVX-512 vector */
#define CHUNK 1024  /* t per chunk: 4 dout rows + one x row = 20 KB, in L1 */

/* The AVX2 sub-tile: WG2_CO output channels x WG2_K taps (WG2_CO divides
 * CO_T, WG2_K divides K_T); -D overrides are for re-measuring. */
#ifndef WG2_CO
#define WG2_CO 4
#define WG2_K 2
#endif
#define VEC2 8 /* floats per AVX2 vector */
/* Shortest Lout (stride 1, stride 2) the dispatcher gives the AVX2 kernel
 * (measured, see wgrad_supported). */
#ifndef WG2_MIN_S1
#define WG2_MIN_S1 CHUNK
#define WG2_MIN_S2 (CHUNK / 2)
#endif

int wgrad_isa_available(int isa)
{
#ifdef WGRAD_X86
    // process-wide CPU properties (the cpuid bits, and the OS saving the
    // registers, which libgcc checks too)
    switch (isa) {
    case WGRAD_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
    case WGRAD_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    default:
        return 0;
    }
#else
    (void)isa;
    return 0;
#endif
}

int wgrad_isa_best(void)
{
    if (wgrad_isa_available(WGRAD_ISA_AVX512))
        return WGRAD_ISA_AVX512;
    return wgrad_isa_available(WGRAD_ISA_AVX2) ? WGRAD_ISA_AVX2 : WGRAD_ISA_NONE;
}

int wgrad_supported(const conv_dims *d, int isa, int any_length)
{
    // On short rows the per-chunk lane reductions dominate and oneDNN's gemm
    // path is as fast or faster. 1 thread, GFLOP/s, AVX-512 kernel vs
    // oneDNN's: stride 1, Lout 8960 150 vs 63, 1120 138 vs 95, 560 137 vs
    // 137, 280 114 vs 129, 70 61 vs 147; stride 2, Lout 4480 107 vs 51, 560
    // 128 vs 86, 280 115 vs 114, 140 118 vs 115 (bench/PERF.md, step 2).
    // The AVX2 kernel against oneDNN's gemm path limited to AVX2
    // (ONEDNN_MAX_CPU_ISA=AVX2, as on an AVX2 machine), ms, 1 thread, batch
    // 32, 32 or 64 channels unless noted: stride 1, Lout 8960 108 vs 178,
    // 2240 26 vs 41, 1120 56-59 vs 62-63, 560 30 vs 31 but 60 vs 51 for
    // 64->128 and 110 vs 103 for 128->128, 280 (128) 56 vs 51; stride 2,
    // Lout 1120 54 vs 68, 560 27 vs 33, 280 (128) 51-55 vs 53 (bench/PERF.md,
    // step 6).
    if (!wgrad_isa_available(isa) || d->Cout % CO_T != 0)
        return 0;
    int min_s1 = CHUNK / 2, min_s2 = CHUNK / 4;
    if (isa == WGRAD_ISA_AVX2)
        min_s1 = WG2_MIN_S1, min_s2 = WG2_MIN_S2;
    if (!any_length && d->Lout < (d->stride == 1 ? min_s1 : min_s2))
        return 0;
    if (d->stride == 1)
        return d->K % K_T == 0;
    return d->stride == 2 && d->K % (2 * K_T) == 0;
}

/* The work split: co tiles times ci groups, at least 2 items per thread
 * where the channels allow it. */
static void wgrad_split(const conv_dims *d, int threads, int *ngroups, int *group_ci)
{
    int tiles = d->Cout / CO_T;
    int g = (2 * threads + tiles - 1) / tiles;
    if (g > d->Cin)
        g = d->Cin;
    if (g < 1)
        g = 1;
    *group_ci = (d->Cin + g - 1) / g;
    *ngroups = (d->Cin + *group_ci - 1) / *group_ci;
}

/* Floats of one phase row of one chunk, stride 2 (rounded to whole lines). */
static size_t wgrad_phase_len(const conv_dims *d)
{
    int n = d->Lout < CHUNK ? d->Lout : CHUNK;
    return ((size_t)n + d->K / 2 + VEC - 1) / VEC * VEC;
}

size_t wgrad_workspace_floats(const conv_dims *d, int threads)
{
    int ngroups, group_ci;
    wgrad_split(d, threads, &ngroups, &group_ci);
    // per thread: one zero-padded x chunk (stride 1), or the two phases of
    // one chunk of every input channel (stride 2)
    size_t per = CHUNK + (size_t)d->K + 2 * VEC;
    if (d->stride == 2)
        per = 2 * (size_t)d->Cin * wgrad_phase_len(d);
    return (size_t)threads * per;
}

#ifdef WGRAD_X86
/* The 16 lane sums of a[r][j] as one vector, element j * 4 + r, in a fixed
 * order: a transpose-and-add tree (256-bit halves, 128-bit lanes, then
 * within lanes) of 45 instructions instead of 16 separate reductions of 8
 * shuffles and adds each. With v[4r + j] = a[r][j]: */
__attribute__((target("avx512f"))) static inline __m512 sum16(__m512 a[CO_T][K_T])
{
    __m512 w[8], x[4];
    for (int i = 0; i < 8; i++) {
        // w[i]: 8 partial sums of v[2i] (low half), of v[2i + 1] (high half)
        __m512 p = a[(2 * i) / 4][(2 * i) % 4], q = a[(2 * i + 1) / 4][(2 * i + 1) % 4];
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x44), _mm512_shuffle_f32x4(p, q, 0xEE));
    }
    for (int i = 0; i < 4; i++) {
        // x[i], 128-bit lane l: 4 partial sums of v[4i + l]
        x[i] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0xDD));
    }
    // within each lane l: element e = sum of x[e] lane l = sum of v[4e + l]
    __m512 y0 = _mm512_add_ps(_mm512_unpacklo_ps(x[0], x[1]), _mm512_unpackhi_ps(x[0], x[1]));
    __m512 y1 = _mm512_add_ps(_mm512_unpacklo_ps(x[2], x[3]), _mm512_unpackhi_ps(x[2], x[3]));
    __m512d y0d = _mm512_castps_pd(y0), y1d = _mm512_castps_pd(y1);
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(y0d, y1d)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(y0d, y1d)));
}

/* One chunk of one (co tile, ci): dwp[r * co_stride + k * kstride] += the
 * chunk's sum of g[r][t] * xr[t + k] over its n t's, k < K (stride 1: xr[t +
 * k] is x at t + k - pad_left; stride 2: one phase of x, see below).
 * Each tile of 16 dot products is summed in 16 lanes, then across them in
 * _mm512_reduce_add_ps's fixed order. */
__attribute__((target("avx512f"))) static void wgrad_chunk(float *dwp, long co_stride, int kstride,
                                                          const float *const g[CO_T],
                                                          const float *xr, int n, int K)
{
    const int nv = n / VEC, tail = n % VEC;
    const __mmask16 tm = (__mmask16)((1u << tail) - 1u);
    for (int kt = 0; kt < K; kt += K_T) {
        __m512 a[CO_T][K_T];
#pragma GCC unroll 4
        for (int r = 0; r < CO_T; r++)
#pragma GCC unroll 4
            for (int j = 0; j < K_T; j++)
                a[r][j] = _mm512_setzero_ps();
        const float *xk = xr + kt;
        for (int v = 0; v < nv; v++) {
            const int t = v * VEC;
            __m512 x0 = _mm512_loadu_ps(xk + t), x1 = _mm512_loadu_ps(xk + t + 1);
            __m512 x2 = _mm512_loadu_ps(xk + t + 2), x3 = _mm512_loadu_ps(xk + t + 3);
#pragma GCC unroll 4
            for (int r = 0; r < CO_T; r++) {
                __m512 gv = _mm512_loadu_ps(g[r] + t);
                a[r][0] = _mm512_fmadd_ps(gv, x0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(gv, x1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(gv, x2, a[r][2]);
                a[r][3] = _mm512_fmadd_ps(gv, x3, a[r][3]);
            }
        }
        if (tail) {
            // masked: dout lanes past n are zero and nothing past the rows is read
            const int t = nv * VEC;
            __m512 x0 = _mm512_maskz_loadu_ps(tm, xk + t), x1 = _mm512_maskz_loadu_ps(tm, xk + t + 1);
            __m512 x2 = _mm512_maskz_loadu_ps(tm, xk + t + 2), x3 = _mm512_maskz_loadu_ps(tm, xk + t + 3);
#pragma GCC unroll 4
            for (int r = 0; r < CO_T; r++) {
                __m512 gv = _mm512_maskz_loadu_ps(tm, g[r] + t);
                a[r][0] = _mm512_fmadd_ps(gv, x0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(gv, x1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(gv, x2, a[r][2]);
                a[r][3] = _mm512_fmadd_ps(gv, x3, a[r][3]);
            }
        }
        float sums[VEC];
        _mm512_storeu_ps(sums, sum16(a));
        for (int r = 0; r < CO_T; r++)
            for (int j = 0; j < K_T; j++)
                dwp[r * co_stride + (kt + j) * kstride] += sums[j * CO_T + r];
    }
}

/* Bias sums of one chunk: db[r] += sum of dout row r's n values. */
__attribute__((target("avx512f"))) static void wgrad_bias_chunk(float *db, const float *const g[CO_T],
                                                               int n)
{
    const int nv = n / VEC, tail = n % VEC;
    const __mmask16 tm = (__mmask16)((1u << tail) - 1u);
    for (int r = 0; r < CO_T; r++) {
        __m512 s = _mm512_setzero_ps();
        for (int v = 0; v < nv; v++)
            s = _mm512_add_ps(s, _mm512_loadu_ps(g[r] + v * VEC));
        if (tail)
            s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tm, g[r] + nv * VEC));
        db[r] += _mm512_reduce_add_ps(s);
    }
}

/* ---- the AVX2 + FMA variant: same contracts, 8-wide ---- */

#define WGRAD_AVX2 __attribute__((target("avx2,fma")))
#if !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("no-avx512f")
#endif

/* Lanes of the tail mask: tail_mask + VEC2 - n has n leading -1s. */
static const int tail_mask[2 * VEC2] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The 8 lane sums of v[0..7] as one vector, element i = sum of v[i], in a
 * fixed order: two rounds of horizontal adds, then the 128-bit halves. */
WGRAD_AVX2 static inline __m256 sum8(const __m256 v[VEC2])
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    // u0 = [v0..v3 low-half sums | v0..v3 high-half sums], u1 likewise for v4..v7
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* wgrad_chunk with 8-wide vectors: the CO_T x K tile as WG2_CO x WG2_K
 * sub-tiles of WG2_CO * WG2_K = 8 accumulators, one t-lane each. */
WGRAD_AVX2 static void wgrad_chunk_avx2(float *dwp, long co_stride, int kstride,
                                        const float *const g[CO_T], const float *xr, int n, int K)
{
    const int nv = n / VEC2, tail = n % VEC2;
    const __m256i tm = _mm256_loadu_si256((const __m256i *)(tail_mask + VEC2 - tail));
    for (int r0 = 0; r0 < CO_T; r0 += WG2_CO) {
        for (int kt = 0; kt < K; kt += WG2_K) {
            __m256 a[WG2_CO * WG2_K];
#pragma GCC unroll 8
            for (int i = 0; i < WG2_CO * WG2_K; i++)
                a[i] = _mm256_setzero_ps();
            const float *xk = xr + kt;
            for (int v = 0; v < nv; v++) {
                const int t = v * VEC2;
                __m256 xv[WG2_K];
#pragma GCC unroll 4
                for (int j = 0; j < WG2_K; j++)
                    xv[j] = _mm256_loadu_ps(xk + t + j);
#pragma GCC unroll 4
                for (int r = 0; r < WG2_CO; r++) {
                    __m256 gv = _mm256_loadu_ps(g[r0 + r] + t);
#pragma GCC unroll 4
                    for (int j = 0; j < WG2_K; j++)
                        a[r * WG2_K + j] = _mm256_fmadd_ps(gv, xv[j], a[r * WG2_K + j]);
                }
            }
            if (tail) {
                // masked: dout lanes past n are zero and nothing past the rows is read
                const int t = nv * VEC2;
                __m256 xv[WG2_K];
#pragma GCC unroll 4
                for (int j = 0; j < WG2_K; j++)
                    xv[j] = _mm256_maskload_ps(xk + t + j, tm);
#pragma GCC unroll 4
                for (int r = 0; r < WG2_CO; r++) {
                    __m256 gv = _mm256_maskload_ps(g[r0 + r] + t, tm);
#pragma GCC unroll 4
                    for (int j = 0; j < WG2_K; j++)
                        a[r * WG2_K + j] = _mm256_fmadd_ps(gv, xv[j], a[r * WG2_K + j]);
                }
            }
            float sums[VEC2];
            _mm256_storeu_ps(sums, sum8(a));
            for (int r = 0; r < WG2_CO; r++)
                for (int j = 0; j < WG2_K; j++)
                    dwp[(r0 + r) * co_stride + (kt + j) * kstride] += sums[r * WG2_K + j];
        }
    }
}

/* wgrad_bias_chunk with 8-wide vectors. */
WGRAD_AVX2 static void wgrad_bias_chunk_avx2(float *db, const float *const g[CO_T], int n)
{
    const int nv = n / VEC2, tail = n % VEC2;
    const __m256i tm = _mm256_loadu_si256((const __m256i *)(tail_mask + VEC2 - tail));
    for (int r = 0; r < CO_T; r++) {
        __m256 s = _mm256_setzero_ps();
        for (int v = 0; v < nv; v++)
            s = _mm256_add_ps(s, _mm256_loadu_ps(g[r] + v * VEC2));
        if (tail)
            s = _mm256_add_ps(s, _mm256_maskload_ps(g[r] + nv * VEC2, tm));
        // fixed order: halves, then pairs, then the last two
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        db[r] += _mm_cvtss_f32(h);
    }
}

#if !defined(__clang__)
#pragma GCC pop_options
#endif

typedef void wgrad_chunk_fn(float *dwp, long co_stride, int kstride, const float *const g[CO_T],
                            const float *xr, int n, int K);
typedef void wgrad_bias_fn(float *db, const float *const g[CO_T], int n);
#endif

void wgrad_conv1d_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                   const conv_dims *d, int isa, int threads, float *ws)
{
    // dw (Cout, Cin, K) =, db (Cout) =, dout (B, Cout, L), inp (B, Cin, L)
#ifdef WGRAD_X86
    RESECG_ASSERT(wgrad_isa_available(isa));
    wgrad_chunk_fn *chunk = isa == WGRAD_ISA_AVX2 ? wgrad_chunk_avx2 : wgrad_chunk;
    wgrad_bias_fn *bias_chunk = isa == WGRAD_ISA_AVX2 ? wgrad_bias_chunk_avx2 : wgrad_bias_chunk;
    const int B = d->B, Cin = d->Cin, Cout = d->Cout, L = d->L, Lout = d->Lout, K = d->K;
    const int pl = d->pad_left, stride = d->stride;
    int ngroups, group_ci;
    wgrad_split(d, threads, &ngroups, &group_ci);
    const size_t per = wgrad_workspace_floats(d, threads) / (size_t)threads;
    const int items = Cout / CO_T * ngroups;
    memset(dw, 0, (size_t)Cout * Cin * K * sizeof *dw);
    memset(db, 0, (size_t)Cout * sizeof *db);

    // Stride 2: x at 2t + k - pl is, for the taps k = k0 + 2i with k0 = pl % 2,
    // the even phase E[j] = x[2j] at j = t + c0 + i, c0 = (k0 - pl) / 2, and for
    // k = k1 + 2i, k1 = 1 - k0, the odd phase O[j] = x[2j + 1] at j = t + c1 + i,
    // c1 = (k1 - pl - 1) / 2: two stride-1 correlations of K / 2 taps each.
    const int k0 = pl % 2, k1 = 1 - k0;
    const int c0 = (k0 - pl) / 2, c1 = (k1 - pl - 1) / 2;

    // Each thread owns a fixed range of (co tile, ci group) items and walks
    // (b, chunk) outermost, so one chunk of x and dout serves all its items
    // from cache; a dw element's sum runs over (b, chunk) in order whichever
    // thread owns it.
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), me = omp_get_thread_num();
        const int i0 = (int)((long)items * me / nt), i1 = (int)((long)items * (me + 1) / nt);
        float *xbuf = ws + (size_t)me * per;
        const size_t plen = stride == 2 ? wgrad_phase_len(d) : 0;
        for (int b = 0; b < B; b++) {
            for (int t0 = 0; t0 < Lout; t0 += CHUNK) {
                const int n = Lout - t0 < CHUNK ? Lout - t0 : CHUNK;
                // stride 1: the chunk reads x at [t0 - pl, t0 + n - 1 + K - 1 - pl]
                const int lo = t0 - pl, hi = t0 + n - 1 + K - 1 - pl;
                if (stride == 2) {
                    // both phases of this chunk of every input channel, once for
                    // all of this thread's items (ci, phase rows of plen floats)
                    const int nh = n + K / 2 - 1;
                    for (int ci = 0; ci < Cin; ci++) {
                        const float *x = inp + ((size_t)b * Cin + ci) * L;
                        float *pe = xbuf + (size_t)ci * 2 * plen, *po = pe + plen;
                        for (int j = 0; j < nh; j++) {
                            int se = 2 * (t0 + c0 + j), so = 2 * (t0 + c1 + j) + 1;
                            pe[j] = se >= 0 && se < L ? x[se] : 0.0f;
                            po[j] = so >= 0 && so < L ? x[so] : 0.0f;
                        }
                    }
                }
                for (int it = i0; it < i1; it++) {
                    const int tile = it / ngroups, grp = it % ngroups;
                    const int co0 = tile * CO_T, ci0 = grp * group_ci;
                    const int nci = ci0 + group_ci <= Cin ? group_ci : Cin - ci0;
                    const float *g[CO_T];
                    for (int r = 0; r < CO_T; r++)
                        g[r] = dout + ((size_t)b * Cout + co0 + r) * Lout + t0;
                    if (grp == 0)
                        bias_chunk(db + co0, g, n);
                    for (int ci = 0; ci < nci; ci++) {
                        const float *x = inp + ((size_t)b * Cin + ci0 + ci) * L;
                        float *dwp = dw + ((size_t)co0 * Cin + ci0 + ci) * K;
                        if (stride == 2) {
                            const float *pe = xbuf + (size_t)(ci0 + ci) * 2 * plen;
                            chunk(dwp + k0, (long)Cin * K, 2, g, pe, n, K / 2);
                            chunk(dwp + k1, (long)Cin * K, 2, g, pe + plen, n, K / 2);
                            continue;
                        }
                        const float *xr;
                        if (lo >= 0 && hi < L) {
                            xr = x + lo;
                        } else {
                            // an edge chunk: the zero padding made explicit
                            for (int j = 0; j <= hi - lo; j++) {
                                int s = lo + j;
                                xbuf[j] = s >= 0 && s < L ? x[s] : 0.0f;
                            }
                            xr = xbuf;
                        }
                        chunk(dwp, (long)Cin * K, 1, g, xr, n, K);
                    }
                }
            }
        }
    }
#else
    (void)dw, (void)db, (void)dout, (void)inp, (void)d, (void)isa, (void)threads, (void)ws;
    RESECG_ASSERT(!"wgrad_conv1d_backward_weights: not an x86-64 build");
#endif
}

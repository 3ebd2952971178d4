/* oneDNN (DNNL 2.x C API) 1-D convolutions for the "cpu" backend: forward,
 * backward-data and backward-weights primitives built once per conv_dims and
 * cached in the ctx, with the same contract as cpu_conv1d_* in layers.h
 * (tested against them in tests/test_conv.c).
 *
 * The caller's tensors are PyTorch-layout ncw / oiw. Each primitive is
 * offered the activation layout that measured fastest for it on the
 * network's shapes (bench/bench_conv.c, README): forward and backward-data
 * in channels-last nwc, which gets oneDNN's brgemm kernels (about 1.5x the
 * gemm-based path, reorders included), and backward-weights with format
 * "any", where oneDNN keeps ncw and its gemm path (nwc is ~1.3x slower
 * there). Weights are always "any". Inputs are reordered into the chosen
 * format and outputs back; RESECG_ONEDNN_LAYOUT=any|ncw|nwc forces one
 * format for all three, to re-measure. The reordered copies and oneDNN's
 * scratchpad live in one workspace per ctx: calls run one at a time on one
 * stream, so every cached shape can share it, instead of each holding
 * activation-sized buffers of its own.
 *
 * Two substitutions, because oneDNN 2.6 has brgemm kernels for the forward
 * pass only (bench/PERF.md): backward-data runs as forward convs of dout
 * with the transposed, tap-reversed kernel, one per output parity at
 * stride 2 (bwd_d_phases),
 * and backward-weights on long rows runs in our AVX-512 or AVX2 kernel
 * (conv_wgrad.c) on the caller's ncw tensors, its sums in the same
 * workspace (RESECG_WGRAD=0 | auto | all to re-measure or test;
 * RESECG_WGRAD_ISA=avx2 | avx512 | auto picks its variant, auto the widest
 * the CPU has, avx2 to measure and test the AVX2 one on an AVX-512 CPU).
 *
 * train.precision bf16: every primitive is offered bf16 operands (forward
 * src and weights, backward-weights src and diff_dst, backward-data weights
 * and diff_dst) and fp32 results, so the reorders from the caller's fp32
 * tensors also convert, and oneDNN picks its AMX (or AVX512-BF16) kernels
 * for all three directions: neither substitution is used there
 * (bench/PERF.md has the figures). The "cpu" backend then keeps its
 * activations channels-last (ctx created with nwc): the caller's tensors
 * are nwc, inputs are only converted to bf16 and fp32 results need no
 * reorder at all. The substitutes know ncw only and are not used with nwc.
 *
 * A ctx is not thread-safe: one training loop drives it; oneDNN threads
 * inside each primitive with OpenMP (omp_set_num_threads by the caller). */
#include "nn/backend.h"
#include "nn/cpu/cpu.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Running a built primitive fails only on a programming error (the
 * workspace and scratchpad are ours, nothing is allocated): report and
 * abort. Building one can fail for want of memory or on a shape oneDNN
 * rejects: DNNL_TRY records that in the ctx and fails the builder, and the
 * caller gets an error message instead of an abort. */
#define DNNL_CHECK(call)                                                               \
    do {                                                                               \
        dnnl_status_t st_ = (call);                                                    \
        if (st_ != dnnl_success) {                                                     \
            fprintf(stderr, "%s:%d: %s: dnnl status %s\n", __FILE__, __LINE__, #call,  \
                    dnnl_status2str(st_));                                             \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#define DNNL_TRY(c, call)                                                              \
    do {                                                                               \
        dnnl_status_t st_ = (call);                                                    \
        if (st_ != dnnl_success)                                                       \
            return build_fail((c), __LINE__, #call, st_);                              \
    } while (0)

#define WS_ALIGN 64

/* One argument of a primitive: the caller's buffer and, when the primitive
 * wants another format, its copy in the workspace plus the reorder between
 * them (user -> inner for inputs, inner -> user for outputs). */
typedef struct port {
    int arg;                  /* DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, ... */
    int is_output;
    dnnl_memory_t user;       /* caller's layout; data handle set per call */
    dnnl_memory_t inner;      /* NULL: the primitive reads/writes user directly */
    dnnl_primitive_t reorder; /* NULL when inner is NULL or shared */
    size_t off;               /* byte offset of inner in the workspace */
    int shared;               /* inner already filled by an earlier op of the same call */
} port;

typedef struct conv_op {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nports;
    port ports[4];
    dnnl_memory_t scratch; /* user-mode scratchpad, NULL if none */
    size_t scratch_off;
} conv_op;

/* One forward conv that computes the backward-data outputs j = r + 2m
 * (stride 2) or all of them (stride 1, r = 0): see bwd_d_phases. */
typedef struct dphase {
    int taps, kr, kstep, r, Lr;
    long padl, padr;
} dphase;

typedef struct conv_entry {
    conv_dims d;
    unsigned long long stamp; /* last use, for LRU eviction */
    conv_op fwd, bwd_w, bwd_d;
    conv_op bwd_d1;    /* stride 2: the odd outputs' forward conv (bwd_d: the even ones) */
    int nphases;       /* 0: oneDNN backward-data; 1 or 2: forward convs (bwd_d_phases) */
    dphase ph[2];
    int wgrad_threads; /* > 0: dw, db by conv_wgrad.c on this many threads; bwd_w unbuilt */
    size_t wflip_off[2]; /* byte offsets of each phase's wflip (Cin, Cout, taps) in the workspace */
    size_t ws_fwd, ws_bwd; /* workspace bytes each call needs */
} conv_entry;

/* Activation format offered to a primitive. */
typedef enum act_fmt { FMT_ANY, FMT_NCW, FMT_NWC } act_fmt;

enum { OP_FWD, OP_BWD_W, OP_BWD_D, OP_BWD_D_FWD };

/* When backward-weights goes to conv_wgrad.c (RESECG_WGRAD). */
enum { WGRAD_NEVER, WGRAD_AUTO, WGRAD_ALL };

typedef struct onednn_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    act_fmt fmt[3]; /* per OP_FWD, OP_BWD_W, OP_BWD_D: see the file comment */
    int use_wgrad;  /* WGRAD_*: conv_wgrad.c for backward-weights where it applies */
    int wgrad_isa;  /* WGRAD_ISA_*: its variant */
    int bf16;       /* train.precision bf16: bf16 operands, fp32 results (file comment) */
    int nwc;        /* the caller's activations are (B, L, C) (file comment) */
    conv_entry *entries[ONEDNN_CACHE_CAP];
    int n;
    unsigned long long clock;
    void *ws;
    size_t ws_bytes;
    char err[384]; /* why the last shape could not be built ("" when it could) */
} onednn_ctx;

static int build_fail(onednn_ctx *c, int line, const char *call, dnnl_status_t st)
{
    if (!c->err[0]) {
        size_t n = strcspn(call, "(");
        snprintf(c->err, sizeof c->err, "%s (%.*s, conv_dnnl.c:%d)",
                 st == dnnl_out_of_memory ? "out of memory" : dnnl_status2str(st), (int)n, call,
                 line);
    }
    return -1;
}

static size_t align_up(size_t x) { return (x + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN; }

static int dims_equal(const conv_dims *a, const conv_dims *b)
{
    return a->B == b->B && a->Cin == b->Cin && a->Cout == b->Cout && a->L == b->L &&
           a->Lout == b->Lout && a->K == b->K && a->stride == b->stride &&
           a->pad_left == b->pad_left;
}

static int md_init(onednn_ctx *c, dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                   dnnl_format_tag_t tag)
{
    DNNL_TRY(c, dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return 0;
}

/* The data type a primitive is offered for an operand: bf16 for what the
 * arithmetic reads in bf16 mode, fp32 for every result and for the bias. */
static int md_init_op(onednn_ctx *c, dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                      dnnl_format_tag_t tag, int bf16_operand)
{
    DNNL_TRY(c, dnnl_memory_desc_init_by_tag(md, ndims, dims, bf16_operand ? dnnl_bf16 : dnnl_f32,
                                             tag));
    return 0;
}

/* Fills a port: the user memory with user_md and, if the primitive's md
 * differs, an inner memory at *ws_off (advanced) and the reorder. With
 * share_from an input whose inner md equals share_from's reuses its copy. */
static int port_init(port *p, onednn_ctx *c, int arg, int is_output,
                     const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                     const port *share_from, size_t *ws_off)
{
    memset(p, 0, sizeof *p);
    p->arg = arg;
    p->is_output = is_output;
    DNNL_TRY(c, dnnl_memory_create(&p->user, user_md, c->engine, DNNL_MEMORY_NONE));
    if (!prim_md)
        return build_fail(c, __LINE__, "dnnl_primitive_desc_query_md", dnnl_runtime_error);
    if (dnnl_memory_desc_equal(user_md, prim_md))
        return 0;
    DNNL_TRY(c, dnnl_memory_create(&p->inner, prim_md, c->engine, DNNL_MEMORY_NONE));
    if (share_from && share_from->inner && !is_output) {
        const dnnl_memory_desc_t *other;
        DNNL_TRY(c, dnnl_memory_get_memory_desc(share_from->inner, &other));
        if (dnnl_memory_desc_equal(other, prim_md)) {
            p->off = share_from->off;
            p->shared = 1;
            return 0;
        }
    }
    p->off = align_up(*ws_off);
    *ws_off = p->off + dnnl_memory_desc_get_size(prim_md);
    dnnl_primitive_desc_t rpd;
    if (is_output)
        DNNL_TRY(c, dnnl_reorder_primitive_desc_create(&rpd, prim_md, c->engine, user_md,
                                                       c->engine, NULL));
    else
        DNNL_TRY(c, dnnl_reorder_primitive_desc_create(&rpd, user_md, c->engine, prim_md,
                                                       c->engine, NULL));
    dnnl_status_t st = dnnl_primitive_create(&p->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (st != dnnl_success)
        return build_fail(c, __LINE__, "dnnl_primitive_create(reorder)", st);
    return 0;
}

static void port_destroy(port *p)
{
    if (p->reorder)
        DNNL_CHECK(dnnl_primitive_destroy(p->reorder));
    if (p->inner)
        DNNL_CHECK(dnnl_memory_destroy(p->inner));
    if (p->user)
        DNNL_CHECK(dnnl_memory_destroy(p->user));
}

/* The convolution descriptor of one op kind, with activations offered in
 * format f (weights: oiw with ncw, else "any"; bias always plain x). */
static int op_desc_init(onednn_ctx *c, dnnl_convolution_desc_t *cd, int kind, const conv_dims *d,
                        act_fmt f, int bf16)
{
    dnnl_dims_t src_dims = {d->B, d->Cin, d->L};
    dnnl_dims_t wei_dims = {d->Cout, d->Cin, d->K};
    dnnl_dims_t bias_dims = {d->Cout};
    dnnl_dims_t dst_dims = {d->B, d->Cout, d->Lout};
    dnnl_format_tag_t act = f == FMT_NCW ? dnnl_ncw : f == FMT_NWC ? dnnl_nwc : dnnl_format_tag_any;
    dnnl_format_tag_t wt = f == FMT_NCW ? dnnl_oiw : dnnl_format_tag_any;
    // operands bf16 in bf16 mode: forward src, weights; backward-weights
    // src, diff_dst; backward-data weights, diff_dst. Results (dst,
    // diff_weights, diff_bias, diff_src) and the bias stay fp32.
    dnnl_memory_desc_t src, wei, bias, dst;
    if (md_init_op(c, &src, 3, src_dims, act, bf16 && kind != OP_BWD_D) ||
        md_init_op(c, &wei, 3, wei_dims, wt, bf16 && kind != OP_BWD_W) ||
        md_init(c, &bias, 1, bias_dims, dnnl_x) ||
        md_init_op(c, &dst, 3, dst_dims, act, bf16 && kind != OP_FWD))
        return -1;

    // TensorFlow "same" padding is asymmetric: the right pad is whatever
    // makes the last window fit, pad_left or pad_left + 1 (0 when K < stride
    // leaves input unread, where TF pads nothing).
    dnnl_dims_t strides = {d->stride};
    dnnl_dims_t pad_l = {d->pad_left};
    long pr = (long)(d->Lout - 1) * d->stride + d->K - d->L - d->pad_left;
    dnnl_dims_t pad_r = {pr > 0 ? pr : 0};

    if (kind == OP_FWD)
        DNNL_TRY(c, dnnl_convolution_forward_desc_init(cd, dnnl_forward_training,
                                                       dnnl_convolution_direct, &src, &wei, &bias,
                                                       &dst, strides, pad_l, pad_r));
    else if (kind == OP_BWD_W)
        DNNL_TRY(c, dnnl_convolution_backward_weights_desc_init(
                        cd, dnnl_convolution_direct, &src, &wei, &bias, &dst, strides, pad_l, pad_r));
    else
        DNNL_TRY(c, dnnl_convolution_backward_data_desc_init(cd, dnnl_convolution_direct, &src,
                                                             &wei, &dst, strides, pad_l, pad_r));
    return 0;
}

/* Backward-data as forward convs, so that it gets the brgemm forward
 * kernels (oneDNN 2.6 has none for backward-data: its gemm path ran at about
 * 250 GFLOP/s against 400 for the forward on the network's shapes,
 * bench/PERF.md). With out[t] = sum_k w[k] x[t*s + k - pl]:
 * stride 1: dx[j] = sum_k w[k] dout[j + pl - k] = sum_q wf[q] dout[j + q - pr]
 *   with wf[ci][co][q] = w[co][ci][K - 1 - q] and pr = K - 1 - pl: a "same"
 *   correlation of dout with the channel-transposed, tap-reversed kernel,
 *   the forward's pads swapped.
 * stride 2: the outputs j = 2m + r (r = 0, 1) only meet the taps k = kr + 2i
 *   with kr = (r + pl) % 2, at t = m + cr - i, cr = (r + pl - kr) / 2, so
 *   dx[2m + r] = sum_q wf_r[q] dout[m + q - padl] over K/2 taps, wf_r[q] =
 *   w[kr + 2 (K/2 - 1 - q)], padl = K/2 - 1 - cr: one stride-1 forward conv
 *   per parity, written into every other element of dx.
 * Fills ph and returns the number of phases, or 0 where a pad would be
 * negative (oneDNN's backward-data then runs as before). */
static int bwd_d_phases(dphase ph[2], const conv_dims *d)
{
    const long pl = d->pad_left;
    const long pr = (long)(d->Lout - 1) * d->stride + d->K - d->L - pl;
    if (d->stride == 1) {
        if (d->Lout != d->L || pr < 0 || pl > d->K - 1 || pr > d->K - 1)
            return 0;
        ph[0] = (dphase){.taps = d->K, .kr = 0, .kstep = 1, .r = 0, .Lr = d->L, .padl = pr,
                         .padr = pl};
        return 1;
    }
    // odd L: the even phase's strided view would span L + 1 elements per
    // row, which oneDNN rejects as overlapping (the network's stride-2
    // inputs are all even: L is a multiple of 256 at the input)
    if (d->stride != 2 || d->K % 2 != 0 || d->L < 2 || d->L % 2 != 0)
        return 0;
    for (int r = 0; r < 2; r++) {
        dphase *p = &ph[r];
        p->taps = d->K / 2;
        p->kr = (int)((r + pl) % 2);
        p->kstep = 2;
        p->r = r;
        p->Lr = (d->L - r + 1) / 2;
        long cr = (r + pl - p->kr) / 2;
        p->padl = p->taps - 1 - cr;
        p->padr = (long)(p->Lr - 1) + p->taps - d->Lout - p->padl;
        if (p->padl < 0 || p->padr < 0)
            return 0;
    }
    return 2;
}

static int bwd_d_fwd_desc_init(onednn_ctx *c, dnnl_convolution_desc_t *cd, const conv_dims *d,
                               const dphase *ph, act_fmt f)
{
    dnnl_dims_t src_dims = {d->B, d->Cout, d->Lout};
    dnnl_dims_t wei_dims = {d->Cin, d->Cout, ph->taps};
    dnnl_dims_t dst_dims = {d->B, d->Cin, ph->Lr};
    dnnl_format_tag_t act = f == FMT_NCW ? dnnl_ncw : f == FMT_NWC ? dnnl_nwc : dnnl_format_tag_any;
    dnnl_format_tag_t wt = f == FMT_NCW ? dnnl_oiw : dnnl_format_tag_any;
    dnnl_memory_desc_t src, wei, dst;
    if (md_init(c, &src, 3, src_dims, act) || md_init(c, &wei, 3, wei_dims, wt) ||
        md_init(c, &dst, 3, dst_dims, act))
        return -1;
    dnnl_dims_t strides = {1};
    dnnl_dims_t pad_l = {ph->padl};
    dnnl_dims_t pad_r = {ph->padr};
    DNNL_TRY(c, dnnl_convolution_forward_desc_init(cd, dnnl_forward_inference,
                                                   dnnl_convolution_direct, &src, &wei, NULL, &dst,
                                                   strides, pad_l, pad_r));
    return 0;
}

/* Creates op->pd for one op kind in the ctx's format for it, with the
 * scratchpad in user mode so that it lives in our workspace rather than
 * being allocated by oneDNN at every execution. If the format only gets
 * oneDNN's reference implementation (a CPU without the kernels that the
 * measurements relied on), falls back to "any": oneDNN's own choice. */
static int op_pd_try(conv_op *op, onednn_ctx *c, int kind, const conv_dims *d, const dphase *ph,
                     act_fmt f, const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint)
{
    dnnl_convolution_desc_t cd;
    if (kind == OP_BWD_D_FWD ? bwd_d_fwd_desc_init(c, &cd, d, ph, f)
                             : op_desc_init(c, &cd, kind, d, f, c->bf16))
        return -1;
    DNNL_TRY(c, dnnl_primitive_desc_create(&op->pd, &cd, attr, c->engine, hint));
    return 0;
}

static int op_pd_create(conv_op *op, onednn_ctx *c, int kind, const conv_dims *d,
                        const dphase *ph, const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t attr;
    DNNL_TRY(c, dnnl_primitive_attr_create(&attr));
    // the flipped backward-data takes the backward-data format
    act_fmt f = kind == OP_BWD_D_FWD ? c->fmt[OP_BWD_D] : c->fmt[kind];
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    int rc = st == dnnl_success ? op_pd_try(op, c, kind, d, ph, f, attr, hint)
                                : build_fail(c, __LINE__, "dnnl_primitive_attr_set_scratchpad_mode", st);
    const char *impl = NULL;
    if (rc == 0 && f != FMT_ANY &&
        dnnl_primitive_desc_query(op->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl && strncmp(impl, "ref", 3) == 0) {
        dnnl_primitive_desc_destroy(op->pd);
        op->pd = NULL;
        rc = op_pd_try(op, c, kind, d, ph, FMT_ANY, attr, hint);
    }
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* After the ports: the primitive itself and its scratchpad at *ws_off. */
static int op_finish(conv_op *op, onednn_ctx *c, size_t *ws_off)
{
    DNNL_TRY(c, dnnl_primitive_create(&op->prim, op->pd));
    const dnnl_memory_desc_t *smd =
        dnnl_primitive_desc_query_md(op->pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0) {
        DNNL_TRY(c, dnnl_memory_create(&op->scratch, smd, c->engine, DNNL_MEMORY_NONE));
        op->scratch_off = align_up(*ws_off);
        *ws_off = op->scratch_off + dnnl_memory_desc_get_size(smd);
    }
    return 0;
}

static void op_destroy(conv_op *op)
{
    for (int i = 0; i < op->nports; i++)
        port_destroy(&op->ports[i]);
    if (op->scratch)
        DNNL_CHECK(dnnl_memory_destroy(op->scratch));
    if (op->prim)
        DNNL_CHECK(dnnl_primitive_destroy(op->prim));
    if (op->pd)
        DNNL_CHECK(dnnl_primitive_desc_destroy(op->pd));
}

static void exec(onednn_ctx *c, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    DNNL_CHECK(dnnl_primitive_execute(prim, c->stream, nargs, args));
}

/* Runs one op: handles[i] is the caller's pointer for ports[i]. Inputs are
 * reordered in, the primitive runs, outputs are reordered out. Inputs are
 * only read; the const cast is what dnnl_memory_set_data_handle requires. */
static void op_run(onednn_ctx *c, conv_op *op, void *const *handles)
{
    char *ws = c->ws;
    dnnl_exec_arg_t args[6];
    int nargs = 0;
    for (int i = 0; i < op->nports; i++) {
        port *p = &op->ports[i];
        DNNL_CHECK(dnnl_memory_set_data_handle(p->user, handles[i]));
        if (p->inner)
            DNNL_CHECK(dnnl_memory_set_data_handle(p->inner, ws + p->off));
        if (p->reorder && !p->is_output) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->inner}};
            exec(c, p->reorder, 2, r);
        }
        args[nargs].arg = p->arg;
        args[nargs].memory = p->inner ? p->inner : p->user;
        nargs++;
    }
    if (op->scratch) {
        DNNL_CHECK(dnnl_memory_set_data_handle(op->scratch, ws + op->scratch_off));
        args[nargs].arg = DNNL_ARG_SCRATCHPAD;
        args[nargs].memory = op->scratch;
        nargs++;
    }
    exec(c, op->prim, nargs, args);
    for (int i = 0; i < op->nports; i++) {
        port *p = &op->ports[i];
        if (p->reorder && p->is_output) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, p->inner}, {DNNL_ARG_TO, p->user}};
            exec(c, p->reorder, 2, r);
        }
    }
}

static void entry_destroy(conv_entry *e)
{
    // bwd pds were created with fwd.pd as hint: destroy them first.
    op_destroy(&e->bwd_d1);
    op_destroy(&e->bwd_d);
    op_destroy(&e->bwd_w);
    op_destroy(&e->fwd);
    free(e);
}

/* The caller's layouts of one shape's tensors. */
typedef struct user_mds {
    dnnl_memory_desc_t src, wei, bias, dst;
} user_mds;

static const dnnl_memory_desc_t *pd_md(const conv_op *op, dnnl_query_t what, int index)
{
    return dnnl_primitive_desc_query_md(op->pd, what, index);
}

/* One port of an op: its argument, whether it is an output, the caller's
 * layout, where the primitive's layout is queried, and the port whose
 * workspace copy an input may share. */
typedef struct port_spec {
    int arg, is_output;
    const dnnl_memory_desc_t *user;
    dnnl_query_t query;
    int index;
    const port *share;
} port_spec;

/* The ports of op (its pd created), then the primitive; *off advances over
 * the workspace they take. */
static int op_ports(onednn_ctx *c, conv_op *op, const port_spec *ps, int n, size_t *off)
{
    op->nports = n;
    for (int i = 0; i < n; i++)
        if (port_init(&op->ports[i], c, ps[i].arg, ps[i].is_output, ps[i].user,
                      pd_md(op, ps[i].query, ps[i].index), ps[i].share, off))
            return -1;
    return op_finish(op, c, off);
}

/* forward: (src, weights, bias) -> dst */
static int entry_fwd(onednn_ctx *c, conv_entry *e, const user_mds *u)
{
    conv_op *op = &e->fwd;
    size_t off = 0;
    const port_spec ps[4] = {
        {DNNL_ARG_SRC, 0, &u->src, dnnl_query_src_md, 0, NULL},
        {DNNL_ARG_WEIGHTS, 0, &u->wei, dnnl_query_weights_md, 0, NULL},
        {DNNL_ARG_BIAS, 0, &u->bias, dnnl_query_weights_md, 1, NULL},
        {DNNL_ARG_DST, 1, &u->dst, dnnl_query_dst_md, 0, NULL},
    };
    if (op_pd_create(op, c, OP_FWD, &e->d, NULL, NULL) || op_ports(c, op, ps, 4, &off))
        return -1;
    e->ws_fwd = off;
    return 0;
}

/* backward weights: (src, diff_dst) -> (diff_weights, diff_bias), by our
 * own kernel where it applies (its sums at the start of the workspace),
 * else by oneDNN; *off: the workspace it uses */
static int entry_bwd_w(onednn_ctx *c, conv_entry *e, const user_mds *u, size_t *off)
{
    const conv_dims *d = &e->d;
    if (!c->bf16 && !c->nwc && c->use_wgrad != WGRAD_NEVER &&
        wgrad_supported(d, c->wgrad_isa, c->use_wgrad == WGRAD_ALL)) {
        e->wgrad_threads = omp_get_max_threads();
        *off = wgrad_workspace_floats(d, e->wgrad_threads) * sizeof(float);
        return 0;
    }
    conv_op *op = &e->bwd_w;
    *off = 0;
    const port_spec ps[4] = {
        {DNNL_ARG_SRC, 0, &u->src, dnnl_query_src_md, 0, NULL},
        {DNNL_ARG_DIFF_DST, 0, &u->dst, dnnl_query_diff_dst_md, 0, NULL},
        {DNNL_ARG_DIFF_WEIGHTS, 1, &u->wei, dnnl_query_diff_weights_md, 0, NULL},
        {DNNL_ARG_DIFF_BIAS, 1, &u->bias, dnnl_query_diff_weights_md, 1, NULL},
    };
    return op_pd_create(op, c, OP_BWD_W, d, NULL, e->fwd.pd) || op_ports(c, op, ps, 4, off) ? -1
                                                                                            : 0;
}

/* backward data as forward convs, phase r: (dout, wflip_r) -> the outputs
 * of phase r; wflip_r is computed into the workspace by the call, in plain
 * oiw; at stride 2 each phase writes every other element of dinp, through
 * a strided view (dims (B, Cin, Lr), strides (Cin L, L, 2), from element r) */
static int entry_bwd_d_phase(onednn_ctx *c, conv_entry *e, const user_mds *u, int r, size_t *off)
{
    const conv_dims *d = &e->d;
    const dphase *ph = &e->ph[r];
    conv_op *op = r == 0 ? &e->bwd_d : &e->bwd_d1;
    dnnl_memory_desc_t flip_u, dst_view;
    dnnl_dims_t flip_dims = {d->Cin, d->Cout, ph->taps};
    if (md_init(c, &flip_u, 3, flip_dims, dnnl_oiw))
        return -1;
    dnnl_dims_t view_dims = {d->B, d->Cin, ph->Lr};
    dnnl_dims_t view_strides = {(long)d->Cin * d->L, d->L, d->stride};
    DNNL_TRY(c, dnnl_memory_desc_init_by_strides(&dst_view, 3, view_dims, dnnl_f32, view_strides));
    e->wflip_off[r] = align_up(*off);
    *off = e->wflip_off[r] + dnnl_memory_desc_get_size(&flip_u);
    // dout's copy: phase 1 reuses phase 0's (or bwd_w's, where shared)
    const port_spec ps[3] = {
        {DNNL_ARG_SRC, 0, &u->dst, dnnl_query_src_md, 0,
         r == 0 ? &e->bwd_w.ports[1] : &e->bwd_d.ports[0]},
        {DNNL_ARG_WEIGHTS, 0, &flip_u, dnnl_query_weights_md, 0, NULL},
        {DNNL_ARG_DST, 1, &dst_view, dnnl_query_dst_md, 0, NULL},
    };
    return op_pd_create(op, c, OP_BWD_D_FWD, d, ph, NULL) || op_ports(c, op, ps, 3, off) ? -1 : 0;
}

/* backward data: (diff_dst, weights) -> diff_src, after bwd_w's region;
 * bf16: oneDNN's own backward-data has AMX kernels, no substitute needed
 * (and the substitutes only know ncw) */
static int entry_bwd_d(onednn_ctx *c, conv_entry *e, const user_mds *u, size_t *off)
{
    e->nphases = c->bf16 || c->nwc ? 0 : bwd_d_phases(e->ph, &e->d);
    for (int r = 0; r < e->nphases; r++)
        if (entry_bwd_d_phase(c, e, u, r, off))
            return -1;
    if (e->nphases > 0)
        return 0;
    conv_op *op = &e->bwd_d;
    const port_spec ps[3] = {
        {DNNL_ARG_DIFF_DST, 0, &u->dst, dnnl_query_diff_dst_md, 0, &e->bwd_w.ports[1]},
        {DNNL_ARG_WEIGHTS, 0, &u->wei, dnnl_query_weights_md, 0, NULL},
        {DNNL_ARG_DIFF_SRC, 1, &u->src, dnnl_query_diff_src_md, 0, NULL},
    };
    return op_pd_create(op, c, OP_BWD_D, &e->d, NULL, e->fwd.pd) || op_ports(c, op, ps, 3, off)
               ? -1
               : 0;
}

/* Builds the three primitives of one shape, or NULL with c->err saying why
 * (nothing of it is left). Backward-weights runs before backward-data in a
 * backward call, so its workspace copy of diff_dst is laid out first and
 * backward-data reuses it when the formats agree. */
static conv_entry *entry_create(onednn_ctx *c, const conv_dims *d)
{
    conv_entry *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return NULL;
    }
    e->d = *d;
    user_mds u;
    dnnl_dims_t src_dims = {d->B, d->Cin, d->L};
    dnnl_dims_t wei_dims = {d->Cout, d->Cin, d->K};
    dnnl_dims_t bias_dims = {d->Cout};
    dnnl_dims_t dst_dims = {d->B, d->Cout, d->Lout};
    const dnnl_format_tag_t act_u = c->nwc ? dnnl_nwc : dnnl_ncw;
    size_t off = 0;
    if (md_init(c, &u.src, 3, src_dims, act_u) || md_init(c, &u.wei, 3, wei_dims, dnnl_oiw) ||
        md_init(c, &u.bias, 1, bias_dims, dnnl_x) || md_init(c, &u.dst, 3, dst_dims, act_u) ||
        entry_fwd(c, e, &u) || entry_bwd_w(c, e, &u, &off) || entry_bwd_d(c, e, &u, &off)) {
        entry_destroy(e);
        return NULL;
    }
    e->ws_bwd = off;
    return e;
}

/* The cached entry for d (built on first use), with a workspace big enough
 * for it; NULL with c->err filled when it cannot be built. */
static conv_entry *ctx_lookup(onednn_ctx *c, const conv_dims *d)
{
    for (int i = 0; i < c->n; i++) {
        if (dims_equal(&c->entries[i]->d, d)) {
            c->entries[i]->stamp = ++c->clock;
            return c->entries[i];
        }
    }
    c->err[0] = '\0';
    conv_entry *e = entry_create(c, d);
    if (!e)
        return NULL;
    size_t need = e->ws_fwd > e->ws_bwd ? e->ws_fwd : e->ws_bwd;
    if (need > c->ws_bytes) {
        // grow-only: the largest layer sets the size once, early in training
        void *ws = aligned_alloc(WS_ALIGN, align_up(need));
        if (!ws) {
            snprintf(c->err, sizeof c->err, "out of memory for the oneDNN workspace (%zu bytes)",
                     need);
            entry_destroy(e);
            return NULL;
        }
        free(c->ws);
        c->ws = ws;
        c->ws_bytes = need;
    }
    if (c->n == ONEDNN_CACHE_CAP) {
        int old = 0;
        for (int i = 1; i < c->n; i++)
            if (c->entries[i]->stamp < c->entries[old]->stamp)
                old = i;
        entry_destroy(c->entries[old]);
        c->entries[old] = c->entries[--c->n];
    }
    c->entries[c->n++] = e;
    e->stamp = ++c->clock;
    return e;
}

/* The error of a shape that could not be built, naming it. */
static int shape_error(const onednn_ctx *c, const conv_dims *d, rerr *e)
{
    return rerr_set(e, "oneDNN could not build the convolution of %d x %d x %d -> %d channels "
                       "(kernel %d, stride %d): %s",
                    d->B, d->Cin, d->L, d->Cout, d->K, d->stride, c->err);
}

/* cpuid leaf 7: sub-leaf 0 EDX bit 22 is AMX-BF16, sub-leaf 1 EAX bit 5
 * AVX512-BF16 (Intel SDM vol. 2A, CPUID). What the CPU has, for the message;
 * whether it can be used is oneDNN's word (OS support, ONEDNN_MAX_CPU_ISA). */
static void cpu_bf16_features(int *amx, int *avx512)
{
    *amx = *avx512 = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, cc, dd;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(dd) : "a"(0), "c"(0));
    if (a < 7)
        return;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(dd) : "a"(7), "c"(0));
    *amx = (dd >> 22) & 1;
    unsigned max_sub = a;
    if (max_sub >= 1) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(dd) : "a"(7), "c"(1));
        *avx512 = (a >> 5) & 1;
    }
#endif
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "another ISA";
    }
}

void onednn_describe(char *buf, size_t n)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, n, "oneDNN %d.%d.%d, ISA %s", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa()));
}

int onednn_bf16_check(rerr *e)
{
    // oneDNN's effective ISA has the bf16 bits (avx512_core_bf16 is a subset
    // of avx512_core_amx) only where its bf16 kernels run natively
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
        (unsigned)dnnl_cpu_isa_avx512_core_bf16)
        return 0;
    int amx, avx512;
    cpu_bf16_features(&amx, &avx512);
    if (!amx && !avx512)
        rerr_set(e, "train.precision bf16: this CPU has neither AVX512-BF16 nor AMX-BF16, "
                    "which native bf16 needs (oneDNN runs %s here); use fp32", isa_name(isa));
    else
        rerr_set(e, "train.precision bf16: the CPU has %s, but oneDNN may only use %s here "
                    "(ONEDNN_MAX_CPU_ISA set, or the OS does not enable it); use fp32",
                 amx ? "AMX-BF16" : "AVX512-BF16", isa_name(isa));
    return -1;
}

int onednn_has_amx(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) == (unsigned)dnnl_cpu_isa_avx512_core_amx;
}

void *onednn_ctx_create(precision_kind prec, int nwc, rerr *e)
{
    if (prec == PRECISION_BF16 && onednn_bf16_check(e) != 0)
        return NULL;
    onednn_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        rerr_set(e, "oneDNN context: out of memory");
        return NULL;
    }
    c->bf16 = prec == PRECISION_BF16;
    c->nwc = nwc != 0;
    // measured defaults (file comment); the variable forces one format
    c->fmt[OP_FWD] = FMT_NWC;
    c->fmt[OP_BWD_W] = FMT_ANY;
    c->fmt[OP_BWD_D] = FMT_NWC;
    // RESECG_WGRAD=0 keeps oneDNN's backward-weights everywhere, to
    // re-measure; =all uses conv_wgrad.c on every shape it can do, short
    // rows included, to test it inside the whole network
    const char *wg = getenv("RESECG_WGRAD");
    c->use_wgrad = WGRAD_AUTO;
    if (wg && *wg && strcmp(wg, "auto") != 0) {
        if (strcmp(wg, "0") == 0) {
            c->use_wgrad = WGRAD_NEVER;
        } else if (strcmp(wg, "all") == 0) {
            c->use_wgrad = WGRAD_ALL;
        } else {
            rerr_set(e, "RESECG_WGRAD='%s': expected auto, 0 or all", wg);
            free(c);
            return NULL;
        }
    }
    // RESECG_WGRAD_ISA=avx2 runs the AVX2 variant on an AVX-512 CPU, to
    // measure and test it there; forcing one the CPU lacks is an error
    const char *isa = getenv("RESECG_WGRAD_ISA");
    c->wgrad_isa = wgrad_isa_best();
    if (isa && *isa && strcmp(isa, "auto") != 0) {
        if (strcmp(isa, "avx2") == 0) {
            c->wgrad_isa = WGRAD_ISA_AVX2;
        } else if (strcmp(isa, "avx512") == 0) {
            c->wgrad_isa = WGRAD_ISA_AVX512;
        } else {
            rerr_set(e, "RESECG_WGRAD_ISA='%s': expected auto, avx2 or avx512", isa);
            free(c);
            return NULL;
        }
        if (!wgrad_isa_available(c->wgrad_isa)) {
            rerr_set(e, "RESECG_WGRAD_ISA='%s': this CPU (or build) cannot run it", isa);
            free(c);
            return NULL;
        }
    }
    const char *lay = getenv("RESECG_ONEDNN_LAYOUT");
    if (lay && *lay && strcmp(lay, "auto") != 0) {
        act_fmt f;
        if (strcmp(lay, "any") == 0) {
            f = FMT_ANY;
        } else if (strcmp(lay, "ncw") == 0) {
            f = FMT_NCW;
        } else if (strcmp(lay, "nwc") == 0) {
            f = FMT_NWC;
        } else {
            rerr_set(e, "RESECG_ONEDNN_LAYOUT='%s': expected auto, any, ncw or nwc", lay);
            free(c);
            return NULL;
        }
        c->fmt[OP_FWD] = c->fmt[OP_BWD_W] = c->fmt[OP_BWD_D] = f;
    }
    // oneDNN's own primitive cache (default capacity 1024) stays as it is:
    // we hold our primitives, so it only makes a rebuilt shape cheaper.
    dnnl_status_t st = dnnl_engine_create(&c->engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        rerr_set(e, "oneDNN: cannot create CPU engine: %s", dnnl_status2str(st));
        free(c);
        return NULL;
    }
    st = dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        rerr_set(e, "oneDNN: cannot create stream: %s", dnnl_status2str(st));
        dnnl_engine_destroy(c->engine);
        free(c);
        return NULL;
    }
    return c;
}

void onednn_ctx_destroy(void *ctx)
{
    onednn_ctx *c = ctx;
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        entry_destroy(c->entries[i]);
    DNNL_CHECK(dnnl_stream_destroy(c->stream));
    DNNL_CHECK(dnnl_engine_destroy(c->engine));
    free(c->ws);
    free(c);
}

double onednn_sgemm_gflops(int n)
{
    // one n x n x n fp32 product: 2 n^3 FLOPs; best of 3 after a warm-up,
    // on the caller's OpenMP threads (oneDNN threads its sgemm with them)
    size_t nn = (size_t)n * n;
    float *a = aligned_alloc(WS_ALIGN, align_up(nn * sizeof(float)));
    float *b = aligned_alloc(WS_ALIGN, align_up(nn * sizeof(float)));
    float *c = aligned_alloc(WS_ALIGN, align_up(nn * sizeof(float)));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0.0;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 17) * 0.01f;
        b[i] = (float)(i % 13) * 0.01f;
    }
    double best = 0.0;
    for (int r = 0; r < 4; r++) {
        double t0 = util_now();
        DNNL_CHECK(dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n));
        double dt = util_now() - t0;
        double gf = 2.0 * n * (double)n * n / dt / 1e9;
        if (r > 0 && gf > best)
            best = gf;
    }
    free(a), free(b), free(c);
    return best;
}

int onednn_conv1d_prepare(void *ctx, const conv_dims *d, rerr *e)
{
    // the entry (three primitives or their substitutes) and the workspace
    // for d, now rather than at the first call
    return ctx_lookup(ctx, d) ? 0 : shape_error(ctx, d, e);
}

int onednn_conv1d_forward(void *ctx, float *out, const float *inp, const float *w,
                          const float *b, const conv_dims *d, rerr *er)
{
    // out (B, Cout, Lout) =, inp (B, Cin, L), w (Cout, Cin, K), b (Cout)
    onednn_ctx *c = ctx;
    conv_entry *e = ctx_lookup(c, d);
    if (!e)
        return shape_error(c, d, er);
    void *h[4] = {(void *)inp, (void *)w, (void *)b, out};
    op_run(c, &e->fwd, h);
    DNNL_CHECK(dnnl_stream_wait(c->stream));
    return 0;
}

int onednn_conv1d_backward(void *ctx, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const conv_dims *d, rerr *er)
{
    // dinp (B, Cin, L) = (may be NULL), dw (Cout, Cin, K) =, db (Cout) =
    // dout (B, Cout, Lout), inp (B, Cin, L), w (Cout, Cin, K)
    onednn_ctx *c = ctx;
    conv_entry *e = ctx_lookup(c, d);
    if (!e)
        return shape_error(c, d, er);
    if (e->wgrad_threads > 0) {
        wgrad_conv1d_backward_weights(dw, db, dout, inp, d, c->wgrad_isa, e->wgrad_threads, c->ws);
    } else {
        void *hw[4] = {(void *)inp, (void *)dout, dw, db};
        op_run(c, &e->bwd_w, hw);
    }
    if (dinp && e->nphases > 0) {
        const int Cin = d->Cin, Cout = d->Cout, K = d->K;
        for (int r = 0; r < e->nphases; r++) {
            // wflip_r (Cin, Cout, taps): [ci][co][q] = w[co][ci][kr + kstep (taps - 1 - q)]
            const dphase *ph = &e->ph[r];
            float *wf = (float *)((char *)c->ws + e->wflip_off[r]);
            const int taps = ph->taps, kr = ph->kr, ks = ph->kstep;
#pragma omp parallel for schedule(static) if ((long)Cin * Cout * taps >= 65536)
            for (int ci = 0; ci < Cin; ci++)
                for (int co = 0; co < Cout; co++)
                    for (int q = 0; q < taps; q++)
                        wf[((size_t)ci * Cout + co) * taps + q] =
                            w[((size_t)co * Cin + ci) * K + kr + ks * (taps - 1 - q)];
            void *hd[3] = {(void *)dout, wf, dinp + ph->r};
            op_run(c, r == 0 ? &e->bwd_d : &e->bwd_d1, hd);
        }
    } else if (dinp) {
        void *hd[3] = {(void *)dout, (void *)w, dinp};
        op_run(c, &e->bwd_d, hd);
    }
    DNNL_CHECK(dnnl_stream_wait(c->stream));
    return 0;
}

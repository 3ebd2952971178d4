/* The CPU kernels the compiler vectorises (layers.c, bn_fast.c,
 * layers_nwc.c) are compiled twice (CMakeLists.txt): for the portable
 * x86-64-v3 baseline (AVX2 + FMA) with the suffix _v3, and for x86-64-v4
 * (AVX-512) with _v4. Their public names are GNU ifuncs (isa_dispatch.c):
 * the dynamic loader binds each to the _v4 copy on a CPU with AVX-512 F,
 * BW, DQ and VL, else to _v3, once, before main. AVX-512 doubles the bf16
 * step of these kernels (bench/PERF.md, "portable build"); results differ
 * between the two copies only where a vectorised reduction sums in another
 * order (tests/test_layers.c compares them).
 *
 * Each of the three files includes this header first; when its compile
 * defines RESECG_ISA_SUFFIX (_v3 or _v4), the names below become the
 * suffixed ones in that translation unit. Add a function here when it is
 * added to one of the three files. */
#ifndef RESECG_CPU_ISA_H
#define RESECG_CPU_ISA_H

#define RESECG_CPU_KERNELS(X)                                                                     \
    X(cpu_bnrelu_forward)                                                                          \
    X(cpu_bnrelu_backward)                                                                         \
    X(cpu_shortcut_forward)                                                                        \
    X(cpu_shortcut_backward)                                                                       \
    X(cpu_dense_forward)                                                                           \
    X(cpu_dense_backward)                                                                          \
    X(cpu_add)                                                                                     \
    X(fast_bnrelu_backward)                                                                        \
    X(nwc_bn_scratch)                                                                              \
    X(nwc_bnrelu_forward)                                                                          \
    X(nwc_bnrelu_backward)                                                                         \
    X(nwc_shortcut_forward)                                                                        \
    X(nwc_shortcut_backward)                                                                       \
    X(nwc_dense_forward)                                                                           \
    X(nwc_dense_backward)

/* 4 when the kernels run their x86-64-v4 copies here, 3 for the baseline. */
int cpu_kernels_isa(void);

#endif

#ifdef RESECG_ISA_SUFFIX
#define RESECG_ISA_CAT_(a, b) a##b
#define RESECG_ISA_CAT(a, b) RESECG_ISA_CAT_(a, b)
#define cpu_bnrelu_forward RESECG_ISA_CAT(cpu_bnrelu_forward, RESECG_ISA_SUFFIX)
#define cpu_bnrelu_backward RESECG_ISA_CAT(cpu_bnrelu_backward, RESECG_ISA_SUFFIX)
#define cpu_shortcut_forward RESECG_ISA_CAT(cpu_shortcut_forward, RESECG_ISA_SUFFIX)
#define cpu_shortcut_backward RESECG_ISA_CAT(cpu_shortcut_backward, RESECG_ISA_SUFFIX)
#define cpu_dense_forward RESECG_ISA_CAT(cpu_dense_forward, RESECG_ISA_SUFFIX)
#define cpu_dense_backward RESECG_ISA_CAT(cpu_dense_backward, RESECG_ISA_SUFFIX)
#define cpu_add RESECG_ISA_CAT(cpu_add, RESECG_ISA_SUFFIX)
#define fast_bnrelu_backward RESECG_ISA_CAT(fast_bnrelu_backward, RESECG_ISA_SUFFIX)
#define nwc_bn_scratch RESECG_ISA_CAT(nwc_bn_scratch, RESECG_ISA_SUFFIX)
#define nwc_bnrelu_forward RESECG_ISA_CAT(nwc_bnrelu_forward, RESECG_ISA_SUFFIX)
#define nwc_bnrelu_backward RESECG_ISA_CAT(nwc_bnrelu_backward, RESECG_ISA_SUFFIX)
#define nwc_shortcut_forward RESECG_ISA_CAT(nwc_shortcut_forward, RESECG_ISA_SUFFIX)
#define nwc_shortcut_backward RESECG_ISA_CAT(nwc_shortcut_backward, RESECG_ISA_SUFFIX)
#define nwc_dense_forward RESECG_ISA_CAT(nwc_dense_forward, RESECG_ISA_SUFFIX)
#define nwc_dense_backward RESECG_ISA_CAT(nwc_dense_backward, RESECG_ISA_SUFFIX)
#endif

/* The public names of the twice-compiled CPU kernels (isa.h) as GNU
 * ifuncs: the loader calls each resolver once and binds the name to the
 * x86-64-v4 copy where the CPU runs AVX-512 (F, BW, DQ, VL), else to the
 * x86-64-v3 one. */
#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/layers.h"
#include "nn/cpu/nwc.h"

#include "nn/cpu/isa.h"

/* In an ifunc resolver, which runs while relocating, __builtin_cpu_init
 * must be called before __builtin_cpu_supports. Resolvers run before the
 * sanitizers' runtimes are set up: never instrumented; "used", since only
 * the ifunc attribute names them. */
#define RESOLVER __attribute__((used, no_sanitize("address", "undefined")))

RESOLVER static int isa_v4(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

#define RESECG_ISA_DISPATCH(name)                                                                 \
    extern __typeof__(name) name##_v3, name##_v4;                                                  \
    RESOLVER static __typeof__(name) *name##_resolve(void)                                        \
    {                                                                                              \
        return isa_v4() ? name##_v4 : name##_v3;                                                   \
    }                                                                                              \
    __typeof__(name) name __attribute__((ifunc(#name "_resolve")));

RESECG_CPU_KERNELS(RESECG_ISA_DISPATCH)

int cpu_kernels_isa(void) { return isa_v4() ? 4 : 3; }

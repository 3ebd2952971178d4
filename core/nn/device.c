/* Backend selection by name (--device). The CUDA backend lives in a module
 * loaded on first use (cuda_module.h). */
#include "nn/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cpu/cpu.h"
#include "nn/cpu/isa.h"
#include "nn/cuda_module.h"

extern char **environ;

int backend_check(const char *name, precision_kind prec, rerr *e)
{
    if (strcmp(name, "cpu") != 0 && strcmp(name, "cpu-ref") != 0 && strcmp(name, "cuda") != 0)
        return rerr_set(e, "unknown device '%s' (expected cpu, cpu-ref or cuda)", name);
    if (prec == PRECISION_FP32)
        return 0;
    if (strcmp(name, "cpu-ref") == 0)
        return rerr_set(e, "train.precision %s: device cpu-ref is the plain fp32 reference; "
                           "bf16 runs on device cpu", config_precision_name(prec));
    if (strcmp(name, "cuda") == 0)
        return rerr_set(e, "train.precision %s: not implemented on the CUDA backend yet (fp32 only)",
                        config_precision_name(prec));
    return onednn_bf16_check(e);
}

backend *backend_create(const char *name, int threads, precision_kind prec, rerr *e)
{
    if (backend_check(name, prec, e) != 0)
        return NULL;
    if (strcmp(name, "cpu") == 0)
        return cpu_backend_create(1, threads, prec, e);
    if (strcmp(name, "cpu-ref") == 0)
        return cpu_backend_create(0, threads, prec, e);
    const cuda_module_api *cuda = cuda_module_load(e);
    return cuda ? cuda->backend_create(threads, e) : NULL;
}

void backend_destroy(backend *be)
{
    if (be)
        be->destroy(be);
}

const char *backend_speed_note(const char *device, precision_kind prec)
{
    if (prec != PRECISION_BF16 || strcmp(device, "cpu") != 0 || onednn_has_amx())
        return NULL;
    return "train.precision bf16 without AMX (oneDNN's AVX512-BF16 kernels): measured no faster "
           "than fp32, or slower, on such CPUs; `resecg bench --set train.precision=fp32` "
           "compares the two here";
}

void backend_numerics(const char *device, char *buf, size_t n)
{
    size_t o = 0;
#define PUT(...)                                                                                  \
    do {                                                                                          \
        int k_ = snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__);                               \
        if (k_ > 0)                                                                               \
            o += (size_t)k_;                                                                      \
    } while (0)
    PUT("device %s", device);
    if (strcmp(device, "cuda") != 0) {
        char d[128];
        onednn_describe(d, sizeof d);
        PUT(", CPU kernels x86-64-v%d, %s", cpu_kernels_isa(), d);
    }
    /* the knobs of conv_dnnl.c and backend_cuda.cu that change results, and
     * oneDNN's own (ONEDNN_MAX_CPU_ISA picks other kernels): add a new one
     * here when it is made */
    static const char *const knobs[] = {"RESECG_WGRAD", "RESECG_WGRAD_ISA", "RESECG_ONEDNN_LAYOUT",
                                        "RESECG_CUDA_MATH", "RESECG_CUDA_DETERMINISTIC",
                                        "RESECG_CUDA_WORKSPACE_MB"};
    int any = 0;
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        const char *v = getenv(knobs[i]);
        if (v)
            PUT("%s %s=%.100s", any++ ? "," : "; environment:", knobs[i], v);
    }
    for (char **v = environ; v && *v; v++)
        if (strncmp(*v, "ONEDNN_", 7) == 0 || strncmp(*v, "DNNL_", 5) == 0)
            PUT("%s %.200s", any++ ? "," : "; environment:", *v);
    if (!any)
        PUT("; none of the RESECG_ numerics variables or ONEDNN_ ones set");
#undef PUT
    if (n && o >= n)
        buf[n - 1] = '\0';
}

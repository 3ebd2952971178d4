/* Backend selection by name (--device). The CUDA backend lives in a module
 * loaded on first use (cuda_module.h). */
#include "backend.h"

#include <string.h>

#include "cuda_module.h"

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

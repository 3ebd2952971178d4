/* Backend selection by name (--device). The CUDA backend is compiled in only
 * where CMake found the CUDA toolkit (RESECG_HAVE_CUDA). */
#include "backend.h"

#include <string.h>

#ifdef RESECG_HAVE_CUDA
backend *cuda_backend_create(int threads, rerr *e);
#endif

backend *backend_create(const char *name, int threads, rerr *e)
{
    if (strcmp(name, "cpu") == 0)
        return cpu_backend_create(1, threads, e);
    if (strcmp(name, "cpu-ref") == 0)
        return cpu_backend_create(0, threads, e);
    if (strcmp(name, "cuda") == 0) {
#ifdef RESECG_HAVE_CUDA
        return cuda_backend_create(threads, e);
#else
        rerr_set(e, "device 'cuda': this resecg was built without the CUDA toolkit");
        return NULL;
#endif
    }
    rerr_set(e, "unknown device '%s' (expected cpu, cpu-ref or cuda)", name);
    return NULL;
}

void backend_destroy(backend *be)
{
    if (be)
        be->destroy(be);
}

/* Finding and loading libresecg_cuda.so (see cuda_module.h). */
#include "nn/cuda_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The module's RUNPATH as CMake wrote it, for the error message when one of
 * its libraries is missing; empty in builds without the module. */
#ifndef RESECG_CUDA_MODULE_RUNPATH
#define RESECG_CUDA_MODULE_RUNPATH ""
#endif

static struct {
    int tried;
    const cuda_module_api *api;
    char path[4096];
    rerr err;
} g_mod;

/* Candidate i (0, 1, 2) beside the executable; 0 when out is filled. */
static int candidate(int i, char *out, size_t n)
{
    static const char *const rel[] = {"", "../", "../lib/"};
    char exe[4096];
    if (util_self_exe(exe, sizeof exe, NULL) != 0)
        return -1;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    slash[1] = '\0';
    if ((size_t)snprintf(out, n, "%s%s%s", exe, rel[i], RESECG_CUDA_MODULE_NAME) >= n)
        return -1;
    return 0;
}

/* Fills g_mod.path with the first existing candidate; -1 with g_mod.err
 * listing every place tried when there is none. */
static int find_module(void)
{
    const char *env = getenv("RESECG_CUDA_MODULE");
    if (env && *env) {
        snprintf(g_mod.path, sizeof g_mod.path, "%s", env);
        if (access(g_mod.path, R_OK) != 0)
            return rerr_set(&g_mod.err, "device cuda: RESECG_CUDA_MODULE=%s: no such module",
                            env);
        return 0;
    }
    char cand[sizeof g_mod.path], list[800] = "";
    for (int i = 0; i < 3; i++) {
        if (candidate(i, cand, sizeof cand) != 0)
            continue;
        if (access(cand, R_OK) == 0) {
            if (!realpath(cand, g_mod.path)) // "tests/../x.so" -> "x.so"
                memcpy(g_mod.path, cand, sizeof cand);
            return 0;
        }
        size_t used = strlen(list);
        if (snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", cand) >=
            (int)(sizeof list - used))
            break; // the list is cut; the first places are the ones that matter
    }
    return rerr_set(&g_mod.err,
                    "device cuda: the CUDA module " RESECG_CUDA_MODULE_NAME " is not installed "
                    "(looked for %s; RESECG_CUDA_MODULE names another path); it is built where "
                    "CMake finds nvcc, cuBLAS and cuDNN (cmake -DRESECG_CUDA=ON)",
                    list[0] ? list : "it beside this program");
}

static void load(void)
{
    if (find_module() != 0)
        return;
    void *h = dlopen(g_mod.path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        // dlerror names the first missing library: "libcudnn.so.9: cannot
        // open shared object file: No such file or directory"
        const char *why = dlerror();
        const char *rp = RESECG_CUDA_MODULE_RUNPATH;
        const char *ld = getenv("LD_LIBRARY_PATH");
        char origin[sizeof g_mod.path];
        snprintf(origin, sizeof origin, "%s", g_mod.path);
        char *slash = strrchr(origin, '/');
        if (slash)
            *slash = '\0';
        rerr_set(&g_mod.err,
                 "device cuda: cannot load %s: %s (looked in LD_LIBRARY_PATH=%s, then the "
                 "module's RUNPATH $ORIGIN=%s%s%s, then the system's library directories)",
                 g_mod.path, why ? why : "unknown error", ld && *ld ? ld : "(unset)",
                 slash ? origin : ".", rp[0] ? ":" : "", rp);
        return;
    }
    cuda_module_entry_fn entry;
    *(void **)&entry = dlsym(h, RESECG_CUDA_MODULE_ENTRY);
    const cuda_module_api *api = entry ? entry() : NULL;
    if (!api) {
        rerr_set(&g_mod.err, "device cuda: %s has no " RESECG_CUDA_MODULE_ENTRY " (not a resecg "
                             "CUDA module of this version)",
                 g_mod.path);
        dlclose(h);
        return;
    }
    if (api->abi != RESECG_CUDA_MODULE_ABI || api->backend_size != sizeof(backend)) {
        rerr_set(&g_mod.err,
                 "device cuda: %s was built for another resecg (module ABI %d, backend %zu "
                 "bytes; this program: ABI %d, %zu bytes): rebuild it with this program",
                 g_mod.path, api->abi, api->backend_size, RESECG_CUDA_MODULE_ABI, sizeof(backend));
        dlclose(h);
        return;
    }
    g_mod.api = api; // never unloaded: backends made by it may live until exit
}

const cuda_module_api *cuda_module_load(rerr *e)
{
    if (!g_mod.tried) {
        g_mod.tried = 1;
        load();
    }
    if (!g_mod.api && e)
        *e = g_mod.err;
    return g_mod.api;
}

const char *cuda_module_path(void) { return g_mod.api ? g_mod.path : NULL; }

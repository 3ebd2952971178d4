/* The CUDA backend is a module, libresecg_cuda.so, built from core/nn/cuda/ and
 * loaded with dlopen the first time a program asks for device "cuda". No
 * program links cudart, cuBLAS or cuDNN itself: `resecg --help`, the CPU
 * backends and the scheduler start on machines without them, and a binary
 * built on a GPU host runs on CPU-only Slurm nodes. The module carries its
 * own RUNPATH ($ORIGIN, then the directories CMake found the libraries in).
 *
 * Where the module is looked for, in this order:
 *   $RESECG_CUDA_MODULE               a path to the module (only that one)
 *   <dir of the executable>/libresecg_cuda.so
 *   <dir of the executable>/../libresecg_cuda.so   (build tree: tests/, bench/)
 *   <dir of the executable>/../lib/libresecg_cuda.so
 *
 * The module exports one symbol, RESECG_CUDA_MODULE_ENTRY, returning its
 * table; the loader refuses a table of another ABI (a stale module). The
 * module's code calls rerr_set from the program that loads it (exported
 * with --export-dynamic-symbol, see CMakeLists.txt). */
#ifndef RESECG_CUDA_MODULE_H
#define RESECG_CUDA_MODULE_H

#include <stddef.h>

#include "nn/backend.h"
#include "base/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RESECG_CUDA_MODULE_NAME "libresecg_cuda.so"
#define RESECG_CUDA_MODULE_ENTRY "resecg_cuda_module_v1"
/* bumped whenever cuda_module_api, backend or cuda_backend_stats change */
#define RESECG_CUDA_MODULE_ABI 2

/* What the backend allocated and cached so far. */
typedef struct cuda_backend_stats {
    long device_allocs;     /* cudaMalloc calls: alloc() plus every growth below */
    long workspace_grows;   /* cuDNN workspace, conv scratch or reduction buffer grew */
    long conv_plans;        /* distinct convolution shapes planned */
    long algo_searches;     /* cudnnFind* runs (one per shape and direction) */
    size_t workspace_bytes; /* current cuDNN workspace */
    int tf32;               /* RESECG_CUDA_MATH resolved: 1 tf32, 0 fp32 */
    int deterministic;      /* RESECG_CUDA_DETERMINISTIC resolved */
} cuda_backend_stats;

typedef struct cuda_module_api {
    int abi;             /* RESECG_CUDA_MODULE_ABI the module was built with */
    size_t backend_size; /* sizeof(backend) there */
    /* the "cuda" backend on the current device; NULL with e filled
     * ("no CUDA device: ..." without a driver or a device) */
    backend *(*backend_create)(int threads, rerr *e);
    /* number of devices (> 0) with the current one described in desc
     * ("NVIDIA H200, sm_90, 132 SMs, 139.8 GiB"), or -1 with e filled */
    int (*device_probe)(char *desc, size_t desc_size, rerr *e);
    /* *s for a backend made by backend_create above */
    void (*get_stats)(backend *be, cuda_backend_stats *s);
    /* the library versions at run time, e.g. "driver 13.0, cudart 13.0,
     * cuBLAS 13.1.0, cuDNN 9.10.2"; where the driver is missing it says so */
    void (*versions)(char *buf, size_t size);
} cuda_module_api;

typedef const cuda_module_api *(*cuda_module_entry_fn)(void);

/* Loads the module once per process (later calls return the same table or
 * the same error). NULL with e filled with one line naming the module path
 * tried and, when a library it needs is missing, that library and where it
 * was looked for. */
const cuda_module_api *cuda_module_load(rerr *e);
/* The path the module was loaded from, or NULL before a successful load. */
const char *cuda_module_path(void);

#ifdef __cplusplus
}
#endif

#endif

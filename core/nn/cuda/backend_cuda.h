/* The CUDA backend's C interface: creating the "cuda" backend table (through
 * backend_create, core/nn/device.c), probing for a device, and the counters
 * tests use to prove that no device memory is allocated once training runs.
 * Built into the module libresecg_cuda.so where CMake found nvcc, cuBLAS and
 * cuDNN; programs reach it through cuda_module_load (core/nn/cuda_module.h),
 * whose table the module's one exported symbol returns.
 *
 * Environment (read once, when the backend is created):
 *   RESECG_CUDA_MATH=tf32|fp32   convolutions on TF32 tensor cores (default,
 *                                as PyTorch's cudnn.allow_tf32) or strict FP32
 *                                FMA kernels. The dense layer and every own
 *                                kernel compute in FP32/FP64 either way (as
 *                                PyTorch's default matmul.allow_tf32=False).
 *   RESECG_CUDA_DETERMINISTIC=1  only cuDNN algorithms that cuDNN reports
 *                                deterministic (bit-identical reruns); default 0.
 *   RESECG_CUDA_WORKSPACE_MB=N   largest cuDNN workspace an algorithm may ask
 *                                for (default 1024).
 *   RESECG_CUDA_VERBOSE=1        one stderr line per cuDNN algorithm choice
 *                                (shape, direction, algorithm, math, time). */
#ifndef RESECG_BACKEND_CUDA_H
#define RESECG_BACKEND_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" { /* the core's headers are C: keep their names unmangled in the .cu files */
#endif

#include "nn/backend.h"
#include "nn/cuda_module.h"

/* The "cuda" backend on the current device (cudaGetDevice: the first one
 * CUDA_VISIBLE_DEVICES shows). threads is unused (the host side is one
 * thread). NULL with e filled: "no CUDA device: <CUDA's error string>" where
 * there is no driver or no device, "RESECG_CUDA_MATH: ..." for a bad
 * setting, or the failing call with file:line. */
backend *cuda_backend_create(int threads, rerr *e);

/* Number of CUDA devices (> 0), with the current one described in desc
 * ("NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB"); or -1 with e filled
 * ("no CUDA device: ...") when the runtime finds none or no driver. Never
 * aborts: safe to call on machines without a GPU. */
int cuda_device_probe(char *desc, size_t desc_size, rerr *e);

/* Fills *s for a backend made by cuda_backend_create (asserts otherwise). */
void cuda_backend_get_stats(backend *be, cuda_backend_stats *s);

/* The run-time library versions (cuda_module_api.versions). */
void cuda_versions(char *buf, size_t size);

/* The module's entry point (RESECG_CUDA_MODULE_ENTRY), the one symbol it
 * exports. */
__attribute__((visibility("default"))) const cuda_module_api *resecg_cuda_module_v1(void);

#ifdef __cplusplus
}
#endif

#endif

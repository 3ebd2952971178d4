/* Choosing a backend by name (--device, a job's device): "cpu", "cpu-ref"
 * or "cuda", the last from the module libresecg_cuda.so (cuda_module.h). */
#ifndef RESECG_DEVICE_H
#define RESECG_DEVICE_H

#include <stddef.h>

#include "base/config.h"
#include "base/util.h"
#include "nn/backend.h"

/* Creates a backend by name: "cpu" (oneDNN convolutions), "cpu-ref" (plain C),
 * "cuda" (from the module libresecg_cuda.so, cuda_module.h, where it is
 * installed and a device is present). threads <= 0 means
 * all cores. prec: PRECISION_BF16 only on "cpu", and only on a CPU whose
 * oneDNN runs native bf16 kernels (AVX512-BF16 or AMX-BF16): never an
 * emulated path. Returns NULL with e filled ("unknown device 'x'", "no CUDA
 * device: ...", "device cuda: cannot load ...", "train.precision bf16: this
 * CPU has neither ..."). */
backend *backend_create(const char *name, int threads, precision_kind prec, rerr *e);
/* What backend_create checks before creating anything: a known device, and
 * a precision it runs here. 0, or -1 with e filled. For commands to refuse a
 * configuration before they load data or write a run directory. */
int backend_check(const char *name, precision_kind prec, rerr *e);
void backend_destroy(backend *be);

/* What decides the numbers besides the config, for train.log (issue 19:
 * nothing that changes results may be invisible): the device, the CPU
 * kernels' copy (x86-64-v3 or v4) and oneDNN's version and ISA on the CPU
 * backends, and the environment variables that change results when set
 * (RESECG_WGRAD, RESECG_WGRAD_ISA, RESECG_ONEDNN_LAYOUT, RESECG_CUDA_MATH,
 * RESECG_CUDA_DETERMINISTIC, RESECG_CUDA_WORKSPACE_MB, any ONEDNN_ or DNNL_). */
void backend_numerics(const char *device, char *buf, size_t n);

/* A warning for train.log and bench when the configuration runs but is
 * likely slower than the alternative (bf16 on a CPU without AMX, where it
 * measured 0.57x fp32 on one Intel CPU and 1.12x on an AMD one: README "bf16
 * on the CPU"); NULL when there is none. */
const char *backend_speed_note(const char *device, precision_kind prec);

#endif

/* GPU discovery (see gpu.h). NVML's few entry points are declared here
 * rather than taken from nvml.h, so the build needs no CUDA toolkit and the
 * binary no driver: libnvidia-ml.so.1 ships with the driver itself. */
#include "gpu.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From nvml.h (stable ABI since NVML 5): return codes are an enum whose
 * success value is 0; devices are opaque pointers. */
typedef int nvml_return;
typedef struct nvml_device_st *nvml_device;
typedef struct nvml_memory {
    unsigned long long total, free, used; /* bytes */
} nvml_memory;

static int gpu_discover_nvml(gpu_info *gpus)
{
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return -1;
    nvml_return (*init)(void) = (nvml_return(*)(void))dlsym(lib, "nvmlInit_v2");
    nvml_return (*shutdown)(void) = (nvml_return(*)(void))dlsym(lib, "nvmlShutdown");
    nvml_return (*count)(unsigned *) = (nvml_return(*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    nvml_return (*handle)(unsigned, nvml_device *) =
        (nvml_return(*)(unsigned, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    nvml_return (*meminfo)(nvml_device, nvml_memory *) =
        (nvml_return(*)(nvml_device, nvml_memory *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    int n = -1;
    if (init && shutdown && count && handle && meminfo && init() == 0) {
        unsigned cnt = 0;
        if (count(&cnt) == 0) {
            n = 0;
            for (unsigned i = 0; i < cnt && n < GPU_MAX; i++) {
                nvml_device dev;
                nvml_memory m;
                if (handle(i, &dev) != 0 || meminfo(dev, &m) != 0)
                    continue;
                gpus[n].index = (int)i;
                gpus[n].total_mib = (long)(m.total >> 20);
                gpus[n].used_mib = (long)(m.used >> 20);
                n++;
            }
        }
        shutdown();
    }
    dlclose(lib);
    return n;
}

int gpu_parse_smi(const char *csv, gpu_info *gpus)
{
    int n = 0;
    const char *line = csv;
    while (line && *line && n < GPU_MAX) {
        int idx;
        long used, total;
        if (sscanf(line, "%d , %ld , %ld", &idx, &used, &total) == 3 && idx >= 0 && total > 0 &&
            used >= 0) {
            gpus[n].index = idx;
            gpus[n].used_mib = used;
            gpus[n].total_mib = total;
            n++;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return n;
}

static int gpu_discover_smi(gpu_info *gpus)
{
    /* stderr is dropped: where no driver exists the shell's "not found" is
     * expected, not news */
    FILE *fp = popen("nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,"
                     "nounits 2>/dev/null",
                     "r");
    if (!fp)
        return -1;
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    buf[len] = '\0';
    int status = pclose(fp);
    if (status != 0)
        return -1;
    return gpu_parse_smi(buf, gpus);
}

int gpu_parse_fake(const char *spec, gpu_info *gpus, rerr *e)
{
    int n = 0;
    const char *p = spec;
    while (*p) {
        int idx, used_chars = 0;
        long total, used;
        if (n == GPU_MAX)
            return rerr_set(e, "RESECG_FAKE_GPUS: more than %d GPUs", GPU_MAX);
        if (sscanf(p, "%d:%ld:%ld%n", &idx, &total, &used, &used_chars) != 3 || idx < 0 ||
            total <= 0 || used < 0 || used > total)
            return rerr_set(e, "RESECG_FAKE_GPUS: expected index:total_MiB:used_MiB[,...], got '%s'",
                            spec);
        for (int i = 0; i < n; i++)
            if (gpus[i].index == idx)
                return rerr_set(e, "RESECG_FAKE_GPUS: GPU %d is listed twice", idx);
        gpus[n].index = idx;
        gpus[n].total_mib = total;
        gpus[n].used_mib = used;
        n++;
        p += used_chars;
        if (*p == ',')
            p++;
        else if (*p)
            return rerr_set(e, "RESECG_FAKE_GPUS: expected ',' after GPU %d in '%s'", idx, spec);
    }
    return n;
}

int gpu_discover(gpu_info *gpus, const char **source, rerr *e)
{
    const char *fake = getenv("RESECG_FAKE_GPUS");
    if (fake) {
        *source = "RESECG_FAKE_GPUS";
        return gpu_parse_fake(fake, gpus, e);
    }
    int n = gpu_discover_nvml(gpus);
    if (n >= 0) {
        *source = "nvml";
        return n;
    }
    n = gpu_discover_smi(gpus);
    if (n >= 0) {
        *source = "nvidia-smi";
        return n;
    }
    *source = "none";
    return 0;
}

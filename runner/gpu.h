/* GPU discovery for the scheduler: how many GPUs there are and how much of
 * each one's memory other processes use. NVML is opened at run time with
 * dlopen (never linked), then `nvidia-smi` is tried, then none: the binary
 * runs where no driver exists. RESECG_FAKE_GPUS ("0:81920:500,1:81920:70000",
 * index:total_MiB:used_MiB) replaces discovery, for tests. */
#ifndef RESECG_GPU_H
#define RESECG_GPU_H

#include "base/util.h"

#define GPU_MAX 64

typedef struct gpu_info {
    int index;       /* as nvidia-smi numbers it (PCI bus order) */
    long total_mib;  /* -1 when unknown (--gpus given by hand) */
    long used_mib;
} gpu_info;

/* Fills gpus (up to GPU_MAX) and returns how many were found (0: none, which
 * is not an error); source names where the list came from ("nvml",
 * "nvidia-smi", "RESECG_FAKE_GPUS", "none"). -1 only for a malformed
 * RESECG_FAKE_GPUS. */
int gpu_discover(gpu_info *gpus, const char **source, rerr *e);

/* Parses "index:total:used,..." (RESECG_FAKE_GPUS) or nvidia-smi's CSV
 * ("index, used, total" per line) into gpus; returns the count or -1. */
int gpu_parse_fake(const char *spec, gpu_info *gpus, rerr *e);
int gpu_parse_smi(const char *csv, gpu_info *gpus);

#endif

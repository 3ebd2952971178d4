/* Reading and writing safetensors files (https://github.com/huggingface/safetensors):
 * 8-byte little-endian header length, a JSON header mapping tensor names to
 * {"dtype", "shape", "data_offsets"} plus optional "__metadata__" of string
 * pairs, then the raw little-endian data. PyTorch users load our checkpoints
 * with safetensors.torch.load_file(). Writes are atomic. */
#ifndef RESECG_CHECKPOINT_H
#define RESECG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ST_MAX_DIMS 8

typedef enum st_dtype { ST_F32 = 0, ST_I64 = 1, ST_I32 = 2 } st_dtype;

typedef struct st_tensor {
    char name[128];
    st_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* writer: points at caller memory; reader: into the file buffer */
    size_t nbytes;
} st_tensor;

typedef struct st_meta {
    char key[64];
    char value[1024];
} st_meta;

/* Writes n tensors and nmeta metadata pairs to path (atomically). Tensor
 * names and metadata strings are JSON-escaped. */
int st_write(const char *path, const st_tensor *tensors, int n, const st_meta *meta, int nmeta,
             rerr *e);

/* A whole file read into memory and its parsed header. */
typedef struct st_file {
    char *buf; /* the file */
    size_t size;
    st_tensor *tensors;
    int n;
    st_meta *meta;
    int nmeta;
} st_file;

/* Reads and validates a file: header length within the file, well-formed
 * JSON, known dtypes, offsets in bounds, non-overlapping and matching
 * shape x dtype size. Errors name the file and what is wrong. */
int st_read(st_file *f, const char *path, rerr *e);
void st_free(st_file *f);
/* Finds a tensor by name; NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Finds a metadata value by key; NULL if absent. */
const char *st_meta_get(const st_file *f, const char *key);

#endif

/* Reading and writing safetensors files (https://github.com/huggingface/safetensors):
 * 8-byte little-endian header length, a JSON header mapping tensor names to
 * {"dtype", "shape", "data_offsets"} plus optional "__metadata__" of string
 * pairs, then the raw little-endian data. PyTorch users load our checkpoints
 * with safetensors.torch.load_file(). Writes are atomic. */
#ifndef RESECG_SAFETENSORS_H
#define RESECG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

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
    size_t data_base; /* file offset of the data section (8 + header length) */
} st_file;

/* Reads and validates a file: header length within the file, well-formed
 * JSON, known dtypes, offsets in bounds, non-overlapping and matching
 * shape x dtype size. Errors name the file and what is wrong. */
int st_read(st_file *f, const char *path, rerr *e);
/* st_read on a file already in memory: buf (size bytes, malloc'd) becomes
 * f->buf, so it is freed by st_free, or here on failure. path names it in
 * messages. */
int st_read_buffer(st_file *f, char *buf, size_t size, const char *path, rerr *e);
void st_free(st_file *f);
/* Finds a tensor by name; NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Finds a metadata value by key; NULL if absent. */
const char *st_meta_get(const st_file *f, const char *key);

/* The checksum of a file's data section, kept in its metadata under
 * ST_CHECKSUM_KEY as 16 lowercase hex digits: 64-bit FNV-1a
 * (http://www.isthe.com/chongo/tech/comp/fnv/) over the bytes in file order.
 * It catches corruption (a flipped bit, a truncated copy rewritten with a
 * valid header), not tampering: whoever edits the data can rewrite it. */
#define ST_CHECKSUM_KEY "data_fnv1a64"
/* st_write lays tensors out contiguously in the order given, so
 * util_fnv1a64 over each tensor's data in that order, from
 * UTIL_FNV1A64_INIT, gives the data section's checksum. */
/* Checks the data section against the ST_CHECKSUM_KEY metadata. A file
 * without the key passes (files written before it existed, reference
 * tensors, other writers); a malformed value or a mismatch is an error
 * naming the file. */
int st_check_checksum(const st_file *f, const char *path, rerr *e);

#endif

/* Small shared helpers: error messages that travel up to main, atomic file
 * writes (temp file + fsync + rename, so a crash never leaves half a result),
 * directories and wall-clock time. Library code never exits; it fills a rerr
 * and returns a negative value. */
#ifndef RESECG_UTIL_H
#define RESECG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct rerr {
    char msg[1024];
} rerr;

/* Formats a message into e (if e is not NULL) and returns -1, so callers can
 * write `return rerr_set(e, "%s:%d: ...", file, line);`. */
int rerr_set(rerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts the formatted context and ": " before the message already in e (if
 * e is not NULL) and returns -1: "epoch 3 batch 7: out of memory ...". */
int rerr_prefix(rerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- One read path and one write path for every file ----
 *
 * Inputs are opened without blocking (a FIFO never hangs a reader), must be
 * regular files, and are read whole only up to a cap that fits their kind;
 * the cap is in the error. Outputs are written atomically (temp file + fsync +
 * rename), never through a symbolic link, and never over anything but a
 * regular file: a device node, FIFO, directory or link at the target is
 * refused and left as it is. */
typedef enum util_kind {
    UTIL_CONFIG,     /* YAML configs and sweep files: 1 MiB */
    UTIL_TEXT,       /* labels, manifests, jobs.tsv, journal.log, CSV, logs: 64 MiB */
    UTIL_MODEL,      /* the feature baseline's model.json: 256 MiB */
    UTIL_CHECKPOINT, /* .safetensors checkpoints: 2 GiB */
    UTIL_RECORD,     /* one CinC .mat or .hea: 4 MiB (the longest real .mat is 36 KB) */
    UTIL_KIND_COUNT
} util_kind;

/* Options of util_open: */
#define UTIL_NOFOLLOW 1 /* refuse a symbolic link (files inside results directories) */

/* open(2) for a regular file only: flags as for open (O_CREAT uses mode
 * 0644), with O_CLOEXEC, O_NOCTTY and, while opening, O_NONBLOCK added (the
 * descriptor is blocking again afterwards). A path that exists but is not a
 * regular file is refused before it is opened. Returns the descriptor, or -1
 * with e naming the path and what it is. */
int util_open(const char *path, int flags, int opts, rerr *e);

/* Reads a whole regular file of the given kind into a malloc'd,
 * NUL-terminated buffer (caller frees); refuses special files and files over
 * the kind's cap. opts: 0 or UTIL_NOFOLLOW. */
int util_read_file_kind(const char *path, util_kind kind, int opts, char **data, size_t *n,
                        rerr *e);
/* The same for any kind of input, capped at the largest (checkpoint) size. */
int util_read_file(const char *path, char **data, size_t *n, rerr *e);

/* fopen(path, "rb") for a regular file only (util_open's checks). */
FILE *util_fopen_read(const char *path, int opts, rerr *e);

/* Writes s for a terminal: bytes that could act on it (C0 controls but tab
 * and newline, DEL, C1 controls, malformed UTF-8) come out as \xNN, so text
 * from job logs never moves the cursor, clears the screen or sets a title. */
void util_fputs_safe(const char *s, FILE *fp);

/* 64-bit FNV-1a, continuing the hash h over n more bytes (start from
 * UTIL_FNV1A64_INIT): the checkpoint checksum, complete.txt's file hashes,
 * the data fingerprint and the sweep ids' terms. */
#define UTIL_FNV1A64_INIT 0xcbf29ce484222325ull
uint64_t util_fnv1a64(uint64_t h, const void *data, size_t n);

/* "a FIFO", "a directory", ... for a st_mode; "a regular file" included. */
const char *util_mode_name(unsigned mode);

/* An output file that appears under its final name only when committed. */
typedef struct afile {
    FILE *fp;
    char path[4096];
    char tmp[4200];
} afile;

/* Opens `path.tmp.<pid>` for writing (created anew, never through a link);
 * refuses a target that exists and is not a regular file. Returns 0 or -1
 * with e filled. */
int afile_open(afile *af, const char *path, rerr *e);
/* Flushes, fsyncs, closes and renames onto the final path (checked again to
 * be missing or a regular file); -1 on any failure (the temp file is removed
 * then). */
int afile_commit(afile *af, rerr *e);
/* Closes and removes the temp file without touching the final path. */
void afile_abort(afile *af);
/* Writes a whole buffer atomically. */
int util_write_file_atomic(const char *path, const void *data, size_t n, rerr *e);

/* A growing NUL-terminated string. oom is sticky, so appends need no checks
 * of their own: test it once when done. The caller frees p. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

void sbuf_putn(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes one CSV field, preceded by a comma unless first: plain when it
 * needs no quoting, through libcsv's csv_fwrite (quotes, doubled inner
 * quotes) when it holds a comma, quote, line break or edge space. */
void util_csv_field(FILE *fp, const char *s, int first);

/* mkdir -p; 0 or -1 with e filled. */
int util_mkdir_p(const char *path, rerr *e);
/* Joins dir and name into out (size outsz); -1 if it does not fit. */
int util_path_join(char *out, size_t outsz, const char *dir, const char *name);
int util_file_exists(const char *path);

/* The path of the running program (/proc/self/exe). 0, or -1 with e filled. */
int util_self_exe(char *out, size_t n, rerr *e);

/* Monotonic wall clock in seconds. */
double util_now(void);
/* Peak resident set size of this process in bytes (getrusage). */
size_t util_peak_rss(void);

/* Assertion that names file and line and aborts: for programming errors only,
 * never for bad input. */
#define RESECG_ASSERT(cond)                                                        \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

#endif

/* Small shared helpers: error messages that travel up to main, atomic file
 * writes (temp file + fsync + rename, so a crash never leaves half a result),
 * directories and wall-clock time. Library code never exits; it fills a rerr
 * and returns a negative value. */
#ifndef RESECG_UTIL_H
#define RESECG_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct rerr {
    char msg[1024];
} rerr;

/* Formats a message into e (if e is not NULL) and returns -1, so callers can
 * write `return rerr_set(e, "%s:%d: ...", file, line);`. */
int rerr_set(rerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An output file that appears under its final name only when committed. */
typedef struct afile {
    FILE *fp;
    char path[4096];
    char tmp[4200];
} afile;

/* Opens `path.tmp.<pid>` for writing; returns 0 or -1 with e filled. */
int afile_open(afile *af, const char *path, rerr *e);
/* Flushes, fsyncs, closes and renames onto the final path; -1 on any failure
 * (the temp file is removed then). */
int afile_commit(afile *af, rerr *e);
/* Closes and removes the temp file without touching the final path. */
void afile_abort(afile *af);
/* Writes a whole buffer atomically. */
int util_write_file_atomic(const char *path, const void *data, size_t n, rerr *e);
/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees). */
int util_read_file(const char *path, char **data, size_t *n, rerr *e);

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

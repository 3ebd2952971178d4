/* The sweep journal: <out>/<sweep>/journal.log, one line per job state
 * change, appended and fsync'd so that it survives a crash of the scheduler
 * (or of the machine) up to the last event. It is a record for people and
 * for `sweep status`; whether a job is done is decided by its run directory
 * (f1.csv), never by the journal.
 *
 * Line format:  TIME ID EVENT [key=value ...] [note=free text to the end]
 *   TIME   UTC, 2024-05-01T12:00:00.123Z
 *   ID     a job's 12 hex digits, or "-" for the sweep itself
 *   EVENT  queued started done failed retry killed | sweep-start sweep-stop sweep-end ... */
#ifndef RESECG_JOURNAL_H
#define RESECG_JOURNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "base/util.h"

typedef struct journal {
    int fd;
    int sync;            /* fsync after each append (default 1) */
    int failed;          /* an append has failed (journal_appendf reports only the first) */
    char path[4096];
} journal;

/* Opens (creating) path for appending; a torn last line left by a crash is
 * ended first so the next entry starts on a line of its own. */
int journal_open(journal *j, const char *path, rerr *e);

/* Appends "TIME ID EVENT fields\n" in one write(2), then fsyncs. fields may
 * be NULL. */
int journal_append(journal *j, const char *id, const char *event, const char *fields, rerr *e);

/* journal_append with printf-style fields (fmt may be NULL). A failure
 * fills e the first time only, so a caller that warns when e->msg is set
 * warns once; the jobs themselves do not depend on the journal. */
int journal_appendf(journal *j, rerr *e, const char *id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int journal_vappendf(journal *j, rerr *e, const char *id, const char *event, const char *fmt,
                     va_list ap) __attribute__((format(printf, 5, 0)));

/* Appends several lines (each made with journal_format) with one fsync. */
int journal_append_raw(journal *j, const char *text, size_t len, rerr *e);

/* Formats one line into buf (size n) with the current time; returns its length. */
size_t journal_format(char *buf, size_t n, const char *id, const char *event, const char *fields);

void journal_close(journal *j);

/* One parsed line; pointers are into a buffer owned by journal_read. */
typedef struct journal_entry {
    const char *time, *id, *event;
    const char *fields; /* "key=value ..." or "" */
    long line;
} journal_entry;

/* Calls fn for every well-formed line of path, in order (a torn or garbled
 * line is skipped); fn returning non-zero stops the walk. A missing file is
 * an empty journal. */
int journal_read(const char *path, int (*fn)(const journal_entry *en, void *data), void *data,
                 rerr *e);

/* The value of key in fields into out; 0, or -1 if absent. "note" runs to
 * the end of the line. */
int journal_field(const char *fields, const char *key, char *out, size_t n);

#endif

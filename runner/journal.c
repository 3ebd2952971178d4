/* The append-only, fsync'd sweep journal (see journal.h). */
#include "journal.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int journal_open(journal *j, const char *path, rerr *e)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->sync = 1;
    if (strlen(path) >= sizeof j->path)
        return rerr_set(e, "%s: path too long", path);
    strcpy(j->path, path);
    int fd = util_open(path, O_RDWR | O_APPEND | O_CREAT, UTIL_NOFOLLOW, e);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        char last;
        if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n' && write(fd, "\n", 1) != 1) {
            int err = errno;
            close(fd);
            return rerr_set(e, "%s: cannot write: %s", path, strerror(err));
        }
    }
    j->fd = fd;
    return 0;
}

size_t journal_format(char *buf, size_t n, const char *id, const char *event, const char *fields)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    gmtime_r(&secs, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    int len = snprintf(buf, n, "%s.%03dZ %s %s%s%s\n", when, (int)(tv.tv_usec / 1000), id, event,
                       fields && *fields ? " " : "", fields ? fields : "");
    if (len < 0)
        return 0;
    if ((size_t)len >= n) { /* cut, but still one line */
        buf[n - 2] = '\n';
        buf[n - 1] = '\0';
        return n - 1;
    }
    return (size_t)len;
}

int journal_append_raw(journal *j, const char *text, size_t len, rerr *e)
{
    if (j->fd < 0)
        return rerr_set(e, "journal is not open");
    while (len > 0) {
        ssize_t w = write(j->fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return rerr_set(e, "%s: cannot write: %s", j->path, strerror(errno));
        text += w;
        len -= (size_t)w;
    }
    /* the journal is only worth having if it outlives a crash */
    if (j->sync && fdatasync(j->fd) != 0)
        return rerr_set(e, "%s: fsync: %s", j->path, strerror(errno));
    return 0;
}

int journal_append(journal *j, const char *id, const char *event, const char *fields, rerr *e)
{
    char line[2048];
    size_t len = journal_format(line, sizeof line, id, event, fields);
    return journal_append_raw(j, line, len, e);
}

int journal_vappendf(journal *j, rerr *e, const char *id, const char *event, const char *fmt,
                     va_list ap)
{
    char fields[1400] = "";
    if (fmt)
        vsnprintf(fields, sizeof fields, fmt, ap);
    rerr mine;
    e->msg[0] = '\0';
    if (journal_append(j, id, event, fields, &mine) == 0)
        return 0;
    if (!j->failed)
        snprintf(e->msg, sizeof e->msg, "%s", mine.msg);
    j->failed = 1;
    return -1;
}

int journal_appendf(journal *j, rerr *e, const char *id, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = journal_vappendf(j, e, id, event, fmt, ap);
    va_end(ap);
    return rc;
}

void journal_close(journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

int journal_read(const char *path, int (*fn)(const journal_entry *en, void *data), void *data,
                 rerr *e)
{
    if (access(path, F_OK) != 0)
        return 0;
    char *text;
    size_t len;
    if (util_read_file_kind(path, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, e))
        return -1;
    long lineno = 0;
    char *p = text;
    int rc = 0;
    while (p < text + len && rc == 0) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        lineno++;
        if (!nl)
            break; /* a torn last line: the crash came mid-write */
        *nl = '\0';
        /* TIME ID EVENT [fields] */
        char *t = p, *id = NULL, *ev = NULL, *fields = "";
        char *sp = strchr(t, ' ');
        if (sp) {
            *sp = '\0';
            id = sp + 1;
            sp = strchr(id, ' ');
            if (sp) {
                *sp = '\0';
                ev = sp + 1;
                sp = strchr(ev, ' ');
                if (sp) {
                    *sp = '\0';
                    fields = sp + 1;
                }
            }
        }
        if (id && ev && *id && *ev && strlen(t) >= 20) {
            journal_entry en = {t, id, ev, fields, lineno};
            rc = fn(&en, data);
        }
        p = nl + 1;
    }
    free(text);
    return rc < 0 ? -1 : 0;
}

int journal_field(const char *fields, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    const char *p = fields;
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t vl = strcmp(key, "note") == 0 ? strlen(v) : strcspn(v, " ");
            if (vl >= n)
                vl = n - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        if (strncmp(p, "note=", 5) == 0)
            break; /* the free text runs to the end */
        p = strchr(p, ' ');
    }
    return -1;
}

/* Error messages, atomic writes, directories and clocks (see util.h). */
#include "util.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int rerr_set(rerr *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int afile_open(afile *af, const char *path, rerr *e)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return rerr_set(e, "%s: path too long", path);
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp)
        return rerr_set(e, "%s: cannot create: %s", af->tmp, strerror(errno));
    return 0;
}

int afile_commit(afile *af, rerr *e)
{
    int bad = 0;
    int saved = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp)) {
        bad = 1;
        saved = errno;
    }
    if (!bad && fsync(fileno(af->fp)) != 0) {
        bad = 1;
        saved = errno;
    }
    if (fclose(af->fp) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    af->fp = NULL;
    if (!bad && rename(af->tmp, af->path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        unlink(af->tmp);
        return rerr_set(e, "%s: cannot write: %s", af->path, strerror(saved));
    }
    return 0;
}

void afile_abort(afile *af)
{
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    unlink(af->tmp);
}

int util_write_file_atomic(const char *path, const void *data, size_t n, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    if (n && fwrite(data, 1, n, af.fp) != n) {
        afile_abort(&af);
        return rerr_set(e, "%s: cannot write: %s", path, strerror(errno));
    }
    return afile_commit(&af, e);
}

int util_read_file(const char *path, char **data, size_t *n, rerr *e)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rerr_set(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            fclose(fp);
            return rerr_set(e, "%s: out of memory", path);
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb)
            free(buf);
        buf = nb;
    }
    if (ferror(fp)) {
        fclose(fp);
        free(buf);
        return rerr_set(e, "%s: read error", path);
    }
    fclose(fp);
    buf[len] = '\0';
    *data = buf;
    if (n)
        *n = len;
    return 0;
}

void sbuf_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_putn(b, s, strlen(s)); }

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        sbuf_putn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sbuf_putn(b, big, (size_t)n);
    free(big);
}

void util_csv_field(FILE *fp, const char *s, int first)
{
    if (!first)
        fputc(',', fp);
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' ')))
        csv_fwrite(fp, s, n);
    else
        fputs(s, fp);
}

int util_mkdir_p(const char *path, rerr *e)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp)
        return rerr_set(e, "%s: path too long", path);
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return rerr_set(e, "%s: cannot create directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return rerr_set(e, "%s: cannot create directory: %s", tmp, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
        return rerr_set(e, "%s: not a directory", tmp);
    return 0;
}

int util_path_join(char *out, size_t outsz, const char *dir, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

int util_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

double util_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t util_peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

int util_self_exe(char *out, size_t n, rerr *e)
{
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0)
        return rerr_set(e, "cannot find this program (/proc/self/exe): %s", strerror(errno));
    out[len] = '\0';
    return 0;
}

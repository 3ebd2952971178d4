/* Error messages, atomic writes, directories and clocks (see util.h). */
#include "base/util.h"

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

int rerr_prefix(rerr *e, const char *fmt, ...)
{
    if (e) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        size_t cap = sizeof e->msg - 1, o = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
        for (const char *p = ": "; *p && o < cap; p++)
            e->msg[o++] = *p;
        size_t m = strlen(msg); /* truncated at the end, as rerr_set would */
        if (m > cap - o)
            m = cap - o;
        memcpy(e->msg + o, msg, m);
        e->msg[o + m] = '\0';
    }
    return -1;
}

static const struct {
    size_t cap;
    const char *name;
} kinds[UTIL_KIND_COUNT] = {
    [UTIL_CONFIG] = {(size_t)1 << 20, "YAML file"},
    [UTIL_TEXT] = {(size_t)64 << 20, "text file"},
    [UTIL_MODEL] = {(size_t)256 << 20, "model file"},
    [UTIL_CHECKPOINT] = {(size_t)2 << 30, "checkpoint"},
    /* CinC 2017's longest record, 61 s at 300 Hz, is a 36 KB .mat; 4 MiB
     * holds 2 hours, and keeps a sparse or hostile record from asking for
     * absurd allocations while the loader's threads read several at once */
    [UTIL_RECORD] = {(size_t)4 << 20, "record file"},
};

const char *util_mode_name(unsigned mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

static int not_regular(const char *path, unsigned mode, rerr *e)
{
    return rerr_set(e, "%s: is %s, not a regular file: refused", path, util_mode_name(mode));
}

int util_open(const char *path, int flags, int opts, rerr *e)
{
    struct stat st;
    int nofollow = opts & UTIL_NOFOLLOW;
    /* refuse before opening: opening a device or FIFO can have effects */
    if ((nofollow ? lstat(path, &st) : stat(path, &st)) == 0 && !S_ISREG(st.st_mode))
        return not_regular(path, st.st_mode, e);
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0),
                  0644);
    if (fd < 0) {
        if (errno == ELOOP && nofollow)
            return rerr_set(e, "%s: is a symbolic link: refused (files in a results directory "
                               "are never read or written through links)", path);
        if (errno == ENXIO) /* a FIFO without a reader, created since the stat */
            return rerr_set(e, "%s: is a FIFO, not a regular file: refused", path);
        return rerr_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return rerr_set(e, "%s: cannot open: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_regular(path, st.st_mode, e);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(fd);
        return rerr_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    return fd;
}

int util_read_file_kind(const char *path, util_kind kind, int opts, char **data, size_t *n,
                        rerr *e)
{
    size_t max = kinds[kind].cap;
    int fd = util_open(path, O_RDONLY, opts, e);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rerr_set(e, "%s: cannot read: %s", path, strerror(errno));
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return rerr_set(e, "%s: %.1f MiB: over the %zu MiB a %s may have", path,
                        (double)st.st_size / 1048576.0, max >> 20, kinds[kind].name);
    }
    /* the size may be wrong (a file that grows, /proc): read to EOF, never
     * more than the cap */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            close(fd);
            return rerr_set(e, "%s: out of memory", path);
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            close(fd);
            free(buf);
            return rerr_set(e, "%s: read error: %s", path, strerror(err));
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len > max) {
            close(fd);
            free(buf);
            return rerr_set(e, "%s: more than the %zu MiB a %s may have", path, max >> 20,
                            kinds[kind].name);
        }
        if (len == cap) {
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    close(fd);
    buf[len] = '\0';
    *data = buf;
    if (n)
        *n = len;
    return 0;
}

FILE *util_fopen_read(const char *path, int opts, rerr *e)
{
    int fd = util_open(path, O_RDONLY, opts, e);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        rerr_set(e, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return fp;
}

/* Length of the well-formed UTF-8 sequence at s that is not a C1 control,
 * or 0. */
static size_t utf8_printable(const unsigned char *s)
{
    unsigned c = s[0], cp, len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    for (unsigned i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
        return 0;
    return len;
}

void util_fputs_safe(const char *s, FILE *fp)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if ((*p >= 0x20 && *p < 0x7f) || *p == '\t' || *p == '\n') {
            fputc(*p++, fp);
            continue;
        }
        size_t n = *p >= 0x80 ? utf8_printable(p) : 0;
        if (n) {
            fwrite(p, 1, n, fp);
            p += n;
        } else {
            fprintf(fp, "\\x%02x", *p++);
        }
    }
}

uint64_t util_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull; /* the 64-bit FNV prime */
    }
    return h;
}

int util_read_file(const char *path, char **data, size_t *n, rerr *e)
{
    return util_read_file_kind(path, UTIL_CHECKPOINT, 0, data, n, e);
}

/* The target of an atomic write may be missing or a regular file, nothing
 * else (lstat: a link is refused, not followed). */
static int target_ok(const char *path, rerr *e)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return rerr_set(e, "%s: cannot check: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return rerr_set(e, "%s: exists and is %s, not a regular file: not replaced", path,
                        util_mode_name(st.st_mode));
    return 0;
}

int afile_open(afile *af, const char *path, rerr *e)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return rerr_set(e, "%s: path too long", path);
    if (target_ok(path, e) != 0)
        return -1;
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
    int fd = open(af->tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST) {
        /* left by a killed process with our pid: remove it if it is a plain
         * file (unlink removes a link itself, never its target) */
        struct stat st;
        if (lstat(af->tmp, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
            return rerr_set(e, "%s: exists and is %s: not replaced", af->tmp,
                            util_mode_name(st.st_mode));
        unlink(af->tmp);
        fd = open(af->tmp, flags, 0644);
    }
    if (fd < 0)
        return rerr_set(e, "%s: cannot create: %s", af->tmp, strerror(errno));
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int err = errno;
        close(fd);
        unlink(af->tmp);
        return rerr_set(e, "%s: cannot create: %s", af->tmp, strerror(err));
    }
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
    if (!bad && target_ok(af->path, e) != 0) {
        unlink(af->tmp);
        return -1;
    }
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

/* safetensors reader and writer (see safetensors.h). The writer emits what the
 * reference implementation (huggingface/safetensors) emits: compact JSON with
 * "__metadata__" first, the header padded with spaces to a multiple of 8 so
 * the data section starts 8-aligned, tensors contiguous in the order given.
 * The reader is a small strict JSON parser for exactly that schema; it takes
 * what the reference reader takes except other dtypes, unknown keys in a
 * tensor entry, \u0000 in strings, blanks before the opening brace and over
 * 4096 metadata pairs. Header errors read "FILE: bad safetensors header at
 * byte K: ..." with K an offset into the file. */
#include "run/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The data is copied to and from disk byte for byte, which is only the
 * format's little-endian layout on a little-endian host. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors.c assumes a little-endian host (safetensors data is little-endian)");

/* The reference implementation refuses headers over 100 MB (MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000ull
/* A metadata pair costs sizeof(st_meta) (~1 KiB) of memory for as little as
 * 6 header bytes; the cap keeps a hostile header from asking for gigabytes
 * and the duplicate-key scan cheap. */
#define ST_MAX_META 4096

/* ---------------------------------------------------------------- dtypes */

static size_t dtype_size(st_dtype d)
{
    switch (d) {
    case ST_F32: return 4;
    case ST_I64: return 8;
    case ST_I32: return 4;
    }
    return 0;
}

static const char *dtype_name(st_dtype d)
{
    switch (d) {
    case ST_F32: return "F32";
    case ST_I64: return "I64";
    case ST_I32: return "I32";
    }
    return NULL;
}

/* Element count times element size, or -1 on overflow or a negative dim. */
static int shape_nbytes(const int64_t *shape, int ndim, st_dtype dt, size_t *out)
{
    size_t n = dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX)
            return -1;
        if (__builtin_mul_overflow(n, (size_t)shape[i], &n))
            return -1;
    }
    *out = n;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most avail bytes), 0 if it is
 * not one. Rejects overlong forms, surrogates and code points past U+10FFFF,
 * as Rust's str::from_utf8 does for the reference reader. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        size_t k = utf8_seq(p, n);
        if (!k)
            return 0;
        p += k;
        n -= k;
    }
    return 1;
}

/* ------------------------------------------------------------- the writer */

/* A JSON string literal, escaped as serde_json does: quote, backslash and the
 * control characters; everything else (UTF-8 included) goes through raw. */
static void sb_json_string(sbuf *b, const char *s)
{
    sbuf_putn(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sbuf_putn(b, "\\\"", 2); break;
        case '\\': sbuf_putn(b, "\\\\", 2); break;
        case '\b': sbuf_putn(b, "\\b", 2); break;
        case '\f': sbuf_putn(b, "\\f", 2); break;
        case '\n': sbuf_putn(b, "\\n", 2); break;
        case '\r': sbuf_putn(b, "\\r", 2); break;
        case '\t': sbuf_putn(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sbuf_putn(b, esc, 6);
            } else {
                sbuf_putn(b, (const char *)p, 1);
            }
        }
    }
    sbuf_putn(b, "\"", 1);
}

/* A name with its position, for finding duplicates by sorting (a header may
 * hold millions of entries, so no quadratic scans). */
typedef struct name_ref {
    const char *name;
    size_t pos; /* file offset of the entry (reader) or its index (writer) */
} name_ref;

static int name_ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sorts refs and returns the later of the first duplicate pair, or NULL. */
static const name_ref *find_duplicate(name_ref *refs, size_t n)
{
    if (n < 2)
        return NULL;
    qsort(refs, n, sizeof *refs, name_ref_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0)
            return &refs[i];
    return NULL;
}

/* Checks what the caller handed st_write before a byte is written. */
static int st_write_check(const char *path, const st_tensor *tensors, int n, const st_meta *meta,
                          int nmeta, rerr *e)
{
    if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && !meta))
        return rerr_set(e, "%s: st_write: bad tensor or metadata count", path);
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        if (!memchr(t->name, '\0', sizeof t->name))
            return rerr_set(e, "%s: tensor %d: name not NUL-terminated within %zu bytes", path, i,
                            sizeof t->name);
        if (!utf8_valid(t->name))
            return rerr_set(e, "%s: tensor \"%s\": name is not valid UTF-8", path, t->name);
        if (strcmp(t->name, "__metadata__") == 0)
            return rerr_set(e, "%s: tensor name \"__metadata__\" is reserved", path);
        if (!dtype_name(t->dtype))
            return rerr_set(e, "%s: tensor \"%s\": unknown dtype %d", path, t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return rerr_set(e, "%s: tensor \"%s\": ndim %d outside [0, %d]", path, t->name, t->ndim,
                            ST_MAX_DIMS);
        size_t need;
        if (shape_nbytes(t->shape, t->ndim, t->dtype, &need) != 0)
            return rerr_set(e, "%s: tensor \"%s\": negative or overflowing shape", path, t->name);
        if (need != t->nbytes)
            return rerr_set(e, "%s: tensor \"%s\": shape needs %zu bytes of %s but nbytes is %zu",
                            path, t->name, need, dtype_name(t->dtype), t->nbytes);
        if (t->nbytes && !t->data)
            return rerr_set(e, "%s: tensor \"%s\": NULL data", path, t->name);
    }
    for (int i = 0; i < nmeta; i++) {
        const st_meta *m = &meta[i];
        if (!memchr(m->key, '\0', sizeof m->key) || !memchr(m->value, '\0', sizeof m->value))
            return rerr_set(e, "%s: metadata %d: key or value not NUL-terminated", path, i);
        if (!utf8_valid(m->key) || !utf8_valid(m->value))
            return rerr_set(e, "%s: metadata \"%s\": not valid UTF-8", path, m->key);
    }

    int total = n > nmeta ? n : nmeta;
    name_ref *refs = malloc((size_t)(total ? total : 1) * sizeof *refs);
    if (!refs)
        return rerr_set(e, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        refs[i] = (name_ref){tensors[i].name, (size_t)i};
    const name_ref *d = find_duplicate(refs, (size_t)n);
    if (d) {
        rerr_set(e, "%s: duplicate tensor name \"%s\"", path, d->name);
        free(refs);
        return -1;
    }
    for (int i = 0; i < nmeta; i++)
        refs[i] = (name_ref){meta[i].key, (size_t)i};
    d = find_duplicate(refs, (size_t)nmeta);
    if (d) {
        rerr_set(e, "%s: duplicate metadata key \"%s\"", path, d->name);
        free(refs);
        return -1;
    }
    free(refs);
    return 0;
}

int st_write(const char *path, const st_tensor *tensors, int n, const st_meta *meta, int nmeta,
             rerr *e)
{
    if (st_write_check(path, tensors, n, meta, nmeta, e) != 0)
        return -1;

    sbuf h = {0};
    sbuf_puts(&h, "{");
    if (nmeta > 0) {
        sbuf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                sbuf_puts(&h, ",");
            sb_json_string(&h, meta[i].key);
            sbuf_puts(&h, ":");
            sb_json_string(&h, meta[i].value);
        }
        sbuf_puts(&h, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        if (i || nmeta > 0)
            sbuf_puts(&h, ",");
        sb_json_string(&h, t->name);
        sbuf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (int k = 0; k < t->ndim; k++) {
            if (k)
                sbuf_puts(&h, ",");
            sbuf_printf(&h, "%lld", (long long)t->shape[k]);
        }
        sbuf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    sbuf_puts(&h, "}");
    /* Spaces up to a multiple of 8, as the reference writer does, so the data
     * section (and every tensor whose offset is a multiple of its dtype size)
     * is aligned when the file is read into a malloc'd buffer or mmapped. */
    while (!h.oom && h.len % 8)
        sbuf_puts(&h, " ");
    if (h.oom) {
        free(h.p);
        return rerr_set(e, "%s: out of memory building the header", path);
    }

    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    afile af;
    if (afile_open(&af, path, e) != 0) {
        free(h.p);
        return -1;
    }
    int ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(h.p, 1, h.len, af.fp) == h.len;
    for (int i = 0; ok && i < n; i++)
        if (tensors[i].nbytes)
            ok = fwrite(tensors[i].data, 1, tensors[i].nbytes, af.fp) == tensors[i].nbytes;
    free(h.p);
    if (!ok) {
        int saved = errno;
        afile_abort(&af);
        return rerr_set(e, "%s: cannot write: %s", path, strerror(saved));
    }
    return afile_commit(&af, e);
}

/* ------------------------------------------------------------- the reader */

/* Parser state over the header bytes s[0..n); positions in messages are
 * file offsets (header offset + 8) so they match a hex dump of the file. */
typedef struct jp {
    const char *path;
    const unsigned char *s;
    size_t n, pos;
    rerr *e;
} jp;

static int jp_fail_at(jp *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jp_fail_at(jp *p, size_t pos, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rerr_set(p->e, "%s: bad safetensors header at byte %zu: %s", p->path, pos + 8, what);
}

/* The current byte, quoted for a message; "end of header" past the end. */
static const char *jp_here(jp *p, char *buf, size_t sz)
{
    if (p->pos >= p->n)
        return "end of header";
    unsigned c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7F)
        snprintf(buf, sz, "'%c'", (char)c);
    else
        snprintf(buf, sz, "byte 0x%02x", c);
    return buf;
}

static void jp_ws(jp *p)
{
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Consumes c after optional whitespace, or fails naming what was found. */
static int jp_expect(jp *p, char c, const char *context)
{
    jp_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)c) {
        p->pos++;
        return 0;
    }
    char buf[32];
    return jp_fail_at(p, p->pos, "expected '%c' %s, found %s", c, context,
                      jp_here(p, buf, sizeof buf));
}

static int jp_hex4(jp *p, unsigned *out)
{
    if (p->n - p->pos < 4)
        return jp_fail_at(p, p->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + (size_t)i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return jp_fail_at(p, p->pos + (size_t)i, "bad hex digit in \\u escape");
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Reads a JSON string into out (cap bytes with the NUL), decoding escapes
 * (\uXXXX with surrogate pairs, to UTF-8) and checking raw UTF-8. "what"
 * names the string in messages ("tensor name", "metadata value"). */
static int jp_string(jp *p, char *out, size_t cap, const char *what)
{
    jp_ws(p);
    size_t start = p->pos;
    if (p->pos >= p->n || p->s[p->pos] != '"') {
        char buf[32];
        return jp_fail_at(p, p->pos, "expected a string (%s), found %s", what,
                          jp_here(p, buf, sizeof buf));
    }
    p->pos++;
    size_t len = 0;
    for (;;) {
        if (p->pos >= p->n)
            return jp_fail_at(p, start, "unterminated string");
        unsigned char c = p->s[p->pos];
        unsigned char enc[4];
        size_t k = 0;
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return jp_fail_at(p, p->pos, "raw control character 0x%02x in a string", c);
        if (c == '\\') {
            size_t epos = p->pos;
            if (++p->pos >= p->n)
                return jp_fail_at(p, start, "unterminated string");
            unsigned char x = p->s[p->pos++];
            switch (x) {
            case '"': enc[k++] = '"'; break;
            case '\\': enc[k++] = '\\'; break;
            case '/': enc[k++] = '/'; break;
            case 'b': enc[k++] = '\b'; break;
            case 'f': enc[k++] = '\f'; break;
            case 'n': enc[k++] = '\n'; break;
            case 'r': enc[k++] = '\r'; break;
            case 't': enc[k++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (jp_hex4(p, &cp) != 0)
                    return -1;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return jp_fail_at(p, epos, "lone low surrogate \\u%04x", cp);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return jp_fail_at(p, epos, "high surrogate \\u%04x without a low one", cp);
                    p->pos += 2;
                    if (jp_hex4(p, &lo) != 0)
                        return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return jp_fail_at(p, epos, "high surrogate \\u%04x without a low one", cp);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                /* Names and metadata are C strings here. */
                if (cp == 0)
                    return jp_fail_at(p, epos, "\\u0000 in a %s is not supported", what);
                if (cp < 0x80) {
                    enc[k++] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    enc[k++] = (unsigned char)(0xC0 | (cp >> 6));
                    enc[k++] = (unsigned char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    enc[k++] = (unsigned char)(0xE0 | (cp >> 12));
                    enc[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    enc[k++] = (unsigned char)(0x80 | (cp & 0x3F));
                } else {
                    enc[k++] = (unsigned char)(0xF0 | (cp >> 18));
                    enc[k++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                    enc[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    enc[k++] = (unsigned char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default:
                return jp_fail_at(p, epos, "bad escape '\\%c' in a string",
                                  x >= 0x20 && x < 0x7F ? x : '?');
            }
        } else {
            k = utf8_seq(p->s + p->pos, p->n - p->pos);
            if (!k)
                return jp_fail_at(p, p->pos, "invalid UTF-8 in a string");
            memcpy(enc, p->s + p->pos, k);
            p->pos += k;
        }
        if (len + k >= cap)
            return jp_fail_at(p, start, "%s longer than %zu bytes", what, cap - 1);
        memcpy(out + len, enc, k);
        len += k;
    }
    out[len] = '\0';
    return 0;
}

/* Reads a non-negative JSON integer no larger than INT64_MAX. JSON's other
 * number forms (fractions, exponents, leading zeros) are refused. */
static int jp_uint(jp *p, uint64_t *out, const char *what)
{
    jp_ws(p);
    size_t start = p->pos;
    if (p->pos < p->n && p->s[p->pos] == '-')
        return jp_fail_at(p, start, "negative %s", what);
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
        char buf[32];
        return jp_fail_at(p, start, "expected an integer (%s), found %s", what,
                          jp_here(p, buf, sizeof buf));
    }
    uint64_t v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = p->s[p->pos] - '0';
        if (v > (uint64_t)(INT64_MAX - d) / 10)
            return jp_fail_at(p, start, "%s too large", what);
        v = v * 10 + d;
        p->pos++;
    }
    if (p->pos - start > 1 && p->s[start] == '0')
        return jp_fail_at(p, start, "leading zero in %s", what);
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return jp_fail_at(p, start, "%s must be an integer", what);
    *out = v;
    return 0;
}

/* After an element: ',' (another follows) -> 1, the closing bracket -> 0. */
static int jp_more(jp *p, char close, const char *context)
{
    jp_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        return 1;
    }
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
        return 0;
    }
    char buf[32];
    return jp_fail_at(p, p->pos, "expected ',' or '%c' %s, found %s", close, context,
                      jp_here(p, buf, sizeof buf));
}

/* Is the next non-blank byte c? (Consumes it if so.) Used for empty {} []. */
static int jp_peek_close(jp *p, char c)
{
    jp_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)c) {
        p->pos++;
        return 1;
    }
    return 0;
}

/* Per-tensor facts the reader needs after the parse. */
typedef struct st_entry {
    size_t pos; /* header offset of the tensor's name */
    size_t begin, end;
} st_entry;

/* The object {"dtype": ..., "shape": [...], "data_offsets": [b, e]} of the
 * tensor t->name; keys in any order, each exactly once, no others. */
static int jp_tensor(jp *p, st_tensor *t, st_entry *en, size_t data_size)
{
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (jp_expect(p, '{', "to open the entry of a tensor") != 0)
        return -1;
    if (jp_peek_close(p, '}'))
        return jp_fail_at(p, en->pos, "tensor \"%s\": empty entry", t->name);
    int more = 1;
    while (more) {
        char key[128];
        jp_ws(p);
        size_t kpos = p->pos;
        if (jp_string(p, key, sizeof key, "key of a tensor entry") != 0 ||
            jp_expect(p, ':', "after a key") != 0)
            return -1;
        if (strcmp(key, "dtype") == 0) {
            char d[16];
            if (have_dtype++)
                return jp_fail_at(p, kpos, "tensor \"%s\": duplicate \"dtype\"", t->name);
            jp_ws(p);
            size_t dpos = p->pos;
            if (jp_string(p, d, sizeof d, "dtype") != 0)
                return -1;
            if (strcmp(d, "F32") == 0)
                t->dtype = ST_F32;
            else if (strcmp(d, "I64") == 0)
                t->dtype = ST_I64;
            else if (strcmp(d, "I32") == 0)
                t->dtype = ST_I32;
            else
                return jp_fail_at(p, dpos,
                                  "tensor \"%s\": unsupported dtype \"%s\" (F32, I64 and I32 are)",
                                  t->name, d);
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return jp_fail_at(p, kpos, "tensor \"%s\": duplicate \"shape\"", t->name);
            if (jp_expect(p, '[', "to open a shape") != 0)
                return -1;
            t->ndim = 0;
            int dims = !jp_peek_close(p, ']');
            while (dims) {
                uint64_t v;
                jp_ws(p);
                if (t->ndim == ST_MAX_DIMS)
                    return jp_fail_at(p, p->pos, "tensor \"%s\": more than %d dimensions", t->name,
                                      ST_MAX_DIMS);
                if (jp_uint(p, &v, "dimension") != 0)
                    return -1;
                t->shape[t->ndim++] = (int64_t)v;
                if ((dims = jp_more(p, ']', "in a shape")) < 0)
                    return -1;
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            uint64_t b, e;
            if (have_offsets++)
                return jp_fail_at(p, kpos, "tensor \"%s\": duplicate \"data_offsets\"", t->name);
            if (jp_expect(p, '[', "to open data_offsets") != 0 || jp_uint(p, &b, "offset") != 0 ||
                jp_expect(p, ',', "between the two data_offsets") != 0 ||
                jp_uint(p, &e, "offset") != 0 ||
                jp_expect(p, ']', "after the two data_offsets") != 0)
                return -1;
            if (b > e)
                return jp_fail_at(p, kpos,
                                  "tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                                  t->name, (unsigned long long)b, (unsigned long long)e);
            if (e > data_size)
                return jp_fail_at(
                    p, kpos,
                    "tensor \"%s\": data_offsets [%llu, %llu] beyond the %zu-byte data section",
                    t->name, (unsigned long long)b, (unsigned long long)e, data_size);
            en->begin = (size_t)b;
            en->end = (size_t)e;
        } else {
            return jp_fail_at(p, kpos, "tensor \"%s\": unknown key \"%s\"", t->name, key);
        }
        if ((more = jp_more(p, '}', "in a tensor entry")) < 0)
            return -1;
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return jp_fail_at(p, en->pos, "tensor \"%s\": missing \"%s\"", t->name,
                          !have_dtype   ? "dtype"
                          : !have_shape ? "shape"
                                        : "data_offsets");
    size_t need;
    if (shape_nbytes(t->shape, t->ndim, t->dtype, &need) != 0)
        return jp_fail_at(p, en->pos, "tensor \"%s\": shape overflows", t->name);
    if (need != en->end - en->begin)
        return jp_fail_at(p, en->pos,
                          "tensor \"%s\": shape needs %zu bytes of %s but data_offsets span %zu",
                          t->name, need, dtype_name(t->dtype), en->end - en->begin);
    t->nbytes = need;
    return 0;
}

/* The "__metadata__" object: string keys to string values. Duplicate keys
 * are found on insertion, which ST_MAX_META keeps cheap. */
static int jp_metadata(jp *p, st_file *f)
{
    int cap = 0;
    if (jp_expect(p, '{', "to open __metadata__") != 0)
        return -1;
    if (jp_peek_close(p, '}'))
        return 0;
    int more = 1;
    while (more) {
        jp_ws(p);
        size_t kpos = p->pos;
        if (f->nmeta == ST_MAX_META)
            return jp_fail_at(p, kpos, "more than %d metadata entries", ST_MAX_META);
        if (f->nmeta == cap) {
            cap = cap ? 2 * cap : 8;
            st_meta *nm = realloc(f->meta, (size_t)cap * sizeof *nm);
            if (!nm)
                return rerr_set(p->e, "%s: out of memory", p->path);
            f->meta = nm;
        }
        st_meta *m = &f->meta[f->nmeta];
        if (jp_string(p, m->key, sizeof m->key, "metadata key") != 0 ||
            jp_expect(p, ':', "after a metadata key") != 0 ||
            jp_string(p, m->value, sizeof m->value, "metadata value") != 0)
            return -1;
        for (int i = 0; i < f->nmeta; i++)
            if (strcmp(f->meta[i].key, m->key) == 0)
                return jp_fail_at(p, kpos, "duplicate metadata key \"%s\"", m->key);
        f->nmeta++;
        if ((more = jp_more(p, '}', "in __metadata__")) < 0)
            return -1;
    }
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return (x->begin > y->begin) - (x->begin < y->begin);
    if (x->end != y->end)
        return (x->end > y->end) - (x->end < y->end);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Whole-file checks once every entry is parsed: unique names, and data
 * offsets that tile the data section exactly (no overlap, no gap, nothing
 * left over), which is the reference reader's rule. */
static int st_check_layout(jp *p, st_file *f, st_entry *ent, size_t data_size)
{
    size_t n = (size_t)f->n;
    name_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    st_entry **order = malloc((n ? n : 1) * sizeof *order);
    int rc = -1;
    if (!refs || !order) {
        rc = rerr_set(p->e, "%s: out of memory", p->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (name_ref){f->tensors[i].name, ent[i].pos};
    const name_ref *d = find_duplicate(refs, n);
    if (d) {
        jp_fail_at(p, d->pos, "duplicate tensor name \"%s\"", d->name);
        goto done;
    }

    for (size_t i = 0; i < n; i++)
        order[i] = &ent[i];
    qsort(order, n, sizeof *order, entry_cmp);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const st_entry *x = order[i];
        const char *name = f->tensors[x - ent].name;
        if (x->begin < at) {
            const char *prev = i ? f->tensors[order[i - 1] - ent].name : "";
            jp_fail_at(p, x->pos, "tensor \"%s\" (bytes %zu..%zu) overlaps tensor \"%s\"", name,
                       x->begin, x->end, prev);
            goto done;
        }
        if (x->begin > at) {
            jp_fail_at(p, x->pos, "%zu unused bytes in the data section before tensor \"%s\"",
                       x->begin - at, name);
            goto done;
        }
        at = x->end;
    }
    if (at != data_size) {
        rerr_set(p->e,
                 "%s: bad safetensors header: tensors cover %zu bytes of a %zu-byte data section",
                 p->path, at, data_size);
        goto done;
    }
    rc = 0;
done:
    free(refs);
    free(order);
    return rc;
}

/* Parses the header object into f, tensors in header order. */
static int st_parse(jp *p, st_file *f, size_t data_base, size_t data_size)
{
    st_entry *ent = NULL;
    int cap = 0, seen_meta = 0, rc = -1;
    /* JSON would allow leading blanks, but no writer emits them and the
     * reference reader means to refuse them (its InvalidHeaderStart). */
    if (p->n == 0 || p->s[0] != '{') {
        char buf[32];
        jp_fail_at(p, 0, "expected '{' to open the header, found %s", jp_here(p, buf, sizeof buf));
        goto done;
    }
    p->pos = 1;
    int more = !jp_peek_close(p, '}');
    while (more) {
        char name[sizeof f->tensors[0].name];
        jp_ws(p);
        size_t kpos = p->pos;
        if (jp_string(p, name, sizeof name, "tensor name") != 0 ||
            jp_expect(p, ':', "after a tensor name") != 0)
            goto done;
        if (strcmp(name, "__metadata__") == 0) {
            if (seen_meta++) {
                jp_fail_at(p, kpos, "duplicate \"__metadata__\"");
                goto done;
            }
            if (jp_metadata(p, f) != 0)
                goto done;
        } else {
            if (f->n == cap) {
                int ncap = cap ? 2 * cap : 16;
                st_tensor *nt = realloc(f->tensors, (size_t)ncap * sizeof *nt);
                if (nt)
                    f->tensors = nt;
                st_entry *ne = nt ? realloc(ent, (size_t)ncap * sizeof *ne) : NULL;
                if (!ne) {
                    rerr_set(p->e, "%s: out of memory", p->path);
                    goto done;
                }
                ent = ne;
                cap = ncap;
            }
            st_tensor *t = &f->tensors[f->n];
            memset(t, 0, sizeof *t);
            memcpy(t->name, name, sizeof name);
            ent[f->n] = (st_entry){.pos = kpos};
            if (jp_tensor(p, t, &ent[f->n], data_size) != 0)
                goto done;
            t->data = f->buf + data_base + ent[f->n].begin;
            f->n++;
        }
        if ((more = jp_more(p, '}', "in the header object")) < 0)
            goto done;
    }
    jp_ws(p);
    if (p->pos != p->n) {
        jp_fail_at(p, p->pos, "unexpected bytes after the header object");
        goto done;
    }
    rc = st_check_layout(p, f, ent, data_size);
done:
    free(ent);
    return rc;
}

/* Tensor data points into f->buf (malloc'd, so 16-aligned). A tensor is
 * aligned to its element size when the header length is a multiple of 8 and
 * its offset a multiple of the element size: true of the reference writer,
 * which orders tensors by alignment, but not of ours when an I64 follows an
 * odd count of F32s, so callers read I64 values with memcpy. */
int st_read(st_file *f, const char *path, rerr *e)
{
    char *buf = NULL;
    size_t size = 0;
    memset(f, 0, sizeof *f);
    if (util_read_file_kind(path, UTIL_CHECKPOINT, 0, &buf, &size, e) != 0)
        return -1;
    return st_read_buffer(f, buf, size, path, e);
}

int st_read_buffer(st_file *f, char *buf, size_t size, const char *path, rerr *e)
{
    memset(f, 0, sizeof *f);
    f->buf = buf;
    f->size = size;
    if (f->size < 8) {
        rerr_set(e, "%s: bad safetensors file: %zu bytes, too short for the 8-byte header length",
                 path, f->size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)(unsigned char)f->buf[i] << (8 * i);
    if (hlen > ST_MAX_HEADER) {
        rerr_set(e, "%s: bad safetensors file: header length %llu exceeds the %llu-byte limit",
                 path, (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->size - 8) {
        rerr_set(e, "%s: bad safetensors file: header length %llu but only %zu bytes follow", path,
                 (unsigned long long)hlen, f->size - 8);
        goto fail;
    }
    jp p = {.path = path, .s = (const unsigned char *)f->buf + 8, .n = (size_t)hlen, .e = e};
    size_t data_base = 8 + (size_t)hlen;
    if (st_parse(&p, f, data_base, f->size - data_base) != 0)
        goto fail;
    f->data_base = data_base;
    return 0;
fail:
    st_free(f);
    return -1;
}

void st_free(st_file *f)
{
    free(f->buf);
    free(f->tensors);
    free(f->meta);
    memset(f, 0, sizeof *f);
}

/* Linear: checkpoints hold a few hundred tensors, looked up once each. */
const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

/* ------------------------------------------------------------- checksum */

int st_check_checksum(const st_file *f, const char *path, rerr *e)
{
    const char *v = st_meta_get(f, ST_CHECKSUM_KEY);
    if (!v)
        return 0;
    uint64_t want = 0;
    size_t len = strlen(v);
    int ok = len == 16;
    for (size_t i = 0; ok && i < len; i++) {
        char c = v[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        want = want << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (!ok)
        return rerr_set(e, "%s: metadata %s: expected 16 lowercase hex digits, got '%.64s'", path,
                        ST_CHECKSUM_KEY, v);
    uint64_t got = util_fnv1a64(UTIL_FNV1A64_INIT, f->buf + f->data_base, f->size - f->data_base);
    if (got != want)
        return rerr_set(e,
                        "%s: tensor data checksum mismatch (metadata %s %016llx, data %016llx): "
                        "the file is corrupt",
                        path, ST_CHECKSUM_KEY, (unsigned long long)want, (unsigned long long)got);
    return 0;
}

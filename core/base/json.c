/* The strict bounded JSON reader (see json.h). Recursive descent, no deeper
 * than json_limits.max_depth. Items of an unfinished array (members of an
 * unfinished object) wait on a shared stack; when the container closes they
 * move to the arena in one block, so every container is one allocation and
 * the arena is a list of large chunks freed together. */
#include "base/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_CHUNK (1u << 20) /* arena chunk size; larger blocks get a chunk of their own */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[]; /* the blocks, 16-aligned */
} chunk;

typedef struct jr {
    const char *path;
    const unsigned char *s;
    size_t n, pos;
    int max_depth;
    chunk *arena;
    json_value *items; /* pending array items */
    size_t nitems, capitems;
    json_member *members; /* pending object members */
    size_t nmembers, capmembers;
    rerr *e;
} jr;

static int jr_fail(jr *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jr_fail(jr *p, size_t pos, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rerr_set(p->e, "%s: bad JSON at byte %zu: %s", p->path, pos, msg);
}

static int jr_oom(jr *p) { return rerr_set(p->e, "%s: out of memory reading JSON", p->path); }

/* What is at the cursor, for messages: 'c', byte 0xNN or the end. */
static const char *jr_here(const jr *p, char *buf, size_t n)
{
    if (p->pos >= p->n)
        return "the end of the text";
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static void *arena_alloc(jr *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    chunk *c = p->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > JSON_CHUNK ? n : JSON_CHUNK;
        chunk *nc = malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        /* a chunk of its own goes behind the current one, which keeps its room */
        if (c && n > JSON_CHUNK) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            p->arena = nc;
        }
        c = nc;
    }
    void *r = (unsigned char *)c->data + c->used;
    c->used += n;
    return r;
}

static void arena_free(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

static void jr_ws(jr *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* Length of the valid UTF-8 sequence at s (avail bytes), 0 if none: no
 * overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (avail < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

static int hex4(jr *p, unsigned *out)
{
    unsigned v = 0;
    if (p->n - p->pos < 4)
        return jr_fail(p, p->pos, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + (size_t)i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return jr_fail(p, p->pos + (size_t)i, "bad hex digit in a \\u escape");
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static size_t utf8_put(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The \u escape after the backslash-u at p->pos (a surrogate pair takes two). */
static int unicode_escape(jr *p, size_t epos, unsigned *cp)
{
    if (hex4(p, cp) != 0)
        return -1;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return jr_fail(p, epos, "unpaired low surrogate \\u%04x", *cp);
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        unsigned lo = 0;
        if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return jr_fail(p, epos, "high surrogate \\u%04x without its low half", *cp);
        p->pos += 2;
        if (hex4(p, &lo) != 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jr_fail(p, epos, "high surrogate \\u%04x followed by \\u%04x", *cp, lo);
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (*cp == 0)
        return jr_fail(p, epos, "\\u0000 in a string");
    return 0;
}

/* The string at p->pos (its opening quote) decoded into the arena. Decoding
 * never lengthens the text, so the raw length bounds the output. */
static int jr_string(jr *p, const char **out, uint32_t *outlen)
{
    size_t start = p->pos++, end = p->pos;
    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n)
        return jr_fail(p, start, "unterminated string");
    if (end - start > UINT32_MAX)
        return jr_fail(p, start, "string longer than %u bytes", UINT32_MAX);
    unsigned char *o = arena_alloc(p, end - start);
    if (!o)
        return jr_oom(p);
    size_t len = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = p->s[p->pos];
        if (c < 0x20)
            return jr_fail(p, p->pos, "raw control character 0x%02x in a string", c);
        if (c != '\\') {
            size_t k = utf8_len(p->s + p->pos, p->n - p->pos);
            if (!k)
                return jr_fail(p, p->pos, "invalid UTF-8 in a string");
            memcpy(o + len, p->s + p->pos, k);
            len += k;
            p->pos += k;
            continue;
        }
        size_t epos = p->pos;
        unsigned char x = p->s[++p->pos];
        p->pos++;
        const char *simple = strchr("\"\\/bfnrt", x);
        if (x && simple) {
            o[len++] = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
        } else if (x == 'u') {
            unsigned cp = 0;
            if (unicode_escape(p, epos, &cp) != 0)
                return -1;
            len += utf8_put(o + len, cp);
        } else {
            return jr_fail(p, epos, "bad escape in a string");
        }
    }
    p->pos++;
    o[len] = '\0';
    *out = (const char *)o;
    *outlen = (uint32_t)len;
    return 0;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A number by RFC 8259's grammar, converted with strtod. */
static int jr_number(jr *p, double *out)
{
    size_t start = p->pos, i = p->pos;
    char buf[64];
    if (i < p->n && p->s[i] == '-')
        i++;
    if (i >= p->n || !is_digit(p->s[i]))
        return jr_fail(p, start, "a number needs a digit after '-'");
    if (p->s[i] == '0' && i + 1 < p->n && is_digit(p->s[i + 1]))
        return jr_fail(p, start, "leading zero in a number");
    while (i < p->n && is_digit(p->s[i]))
        i++;
    if (i < p->n && p->s[i] == '.') {
        if (++i >= p->n || !is_digit(p->s[i]))
            return jr_fail(p, start, "a number needs a digit after '.'");
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        if (++i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->n || !is_digit(p->s[i]))
            return jr_fail(p, start, "a number needs a digit in its exponent");
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    if (i - start >= sizeof buf)
        return jr_fail(p, start, "number longer than %zu characters", sizeof buf - 1);
    memcpy(buf, p->s + start, i - start);
    buf[i - start] = '\0';
    *out = strtod(buf, NULL);
    p->pos = i;
    return 0;
}

static int jr_literal(jr *p, const char *word, json_type t, json_value *v)
{
    size_t k = strlen(word);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, word, k) != 0) {
        char buf[32];
        return jr_fail(p, p->pos, "expected a value, found %s", jr_here(p, buf, sizeof buf));
    }
    p->pos += k;
    v->type = t;
    return 0;
}

static int jr_value(jr *p, int depth, json_value *v);

/* After an item: ',' -> 1 (another follows), close -> 0, else an error. */
static int jr_more(jr *p, char close, const char *where)
{
    jr_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        return 1;
    }
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
        return 0;
    }
    char buf[32];
    return jr_fail(p, p->pos, "expected ',' or '%c' %s, found %s", close, where,
                   jr_here(p, buf, sizeof buf));
}

static int jr_array(jr *p, int depth, json_value *v)
{
    size_t open = p->pos++, base = p->nitems;
    jr_ws(p);
    int more = !(p->pos < p->n && p->s[p->pos] == ']');
    if (!more)
        p->pos++;
    while (more) {
        if (p->nitems == p->capitems) {
            size_t cap = p->capitems ? 2 * p->capitems : 256;
            json_value *ni = realloc(p->items, cap * sizeof *ni);
            if (!ni)
                return jr_oom(p);
            p->items = ni;
            p->capitems = cap;
        }
        json_value item;
        if (jr_value(p, depth, &item) != 0)
            return -1;
        p->items[p->nitems++] = item;
        if ((more = jr_more(p, ']', "in an array")) < 0)
            return -1;
    }
    size_t n = p->nitems - base;
    if (n > UINT32_MAX)
        return jr_fail(p, open, "array of more than %u items", UINT32_MAX);
    json_value *items = NULL;
    if (n && !(items = arena_alloc(p, n * sizeof *items)))
        return jr_oom(p);
    if (n)
        memcpy(items, p->items + base, n * sizeof *items);
    p->nitems = base;
    v->type = JSON_ARRAY;
    v->n = (uint32_t)n;
    v->u.items = items;
    return 0;
}

static int member_cmp(const void *a, const void *b)
{
    const json_member *x = *(const json_member *const *)a, *y = *(const json_member *const *)b;
    return strcmp(x->key, y->key);
}

/* Sorting pointers keeps a huge object O(n log n) and the members in order. */
static int check_unique(jr *p, const json_member *m, size_t n, size_t open)
{
    if (n < 2)
        return 0;
    const json_member **order = malloc(n * sizeof *order);
    if (!order)
        return jr_oom(p);
    for (size_t i = 0; i < n; i++)
        order[i] = &m[i];
    qsort(order, n, sizeof *order, member_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(order[i - 1]->key, order[i]->key) == 0)
            rc = jr_fail(p, open, "duplicate key \"%.100s\" in an object", order[i]->key);
    free(order);
    return rc;
}

static int jr_object(jr *p, int depth, json_value *v)
{
    size_t open = p->pos++, base = p->nmembers;
    jr_ws(p);
    int more = !(p->pos < p->n && p->s[p->pos] == '}');
    if (!more)
        p->pos++;
    while (more) {
        char buf[32];
        json_member m;
        uint32_t klen;
        jr_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"')
            return jr_fail(p, p->pos, "expected a key (a string), found %s",
                           jr_here(p, buf, sizeof buf));
        if (jr_string(p, &m.key, &klen) != 0)
            return -1;
        jr_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':')
            return jr_fail(p, p->pos, "expected ':' after a key, found %s",
                           jr_here(p, buf, sizeof buf));
        p->pos++;
        if (jr_value(p, depth, &m.value) != 0)
            return -1;
        if (p->nmembers == p->capmembers) {
            size_t cap = p->capmembers ? 2 * p->capmembers : 64;
            json_member *nm = realloc(p->members, cap * sizeof *nm);
            if (!nm)
                return jr_oom(p);
            p->members = nm;
            p->capmembers = cap;
        }
        p->members[p->nmembers++] = m;
        if ((more = jr_more(p, '}', "in an object")) < 0)
            return -1;
    }
    size_t n = p->nmembers - base;
    if (n > UINT32_MAX)
        return jr_fail(p, open, "object of more than %u members", UINT32_MAX);
    json_member *members = NULL;
    if (n && !(members = arena_alloc(p, n * sizeof *members)))
        return jr_oom(p);
    if (n)
        memcpy(members, p->members + base, n * sizeof *members);
    p->nmembers = base;
    if (check_unique(p, members, n, open) != 0)
        return -1;
    v->type = JSON_OBJECT;
    v->n = (uint32_t)n;
    v->u.members = members;
    return 0;
}

/* depth: the containers already open around this value. */
static int jr_value(jr *p, int depth, json_value *v)
{
    char buf[32];
    memset(v, 0, sizeof *v);
    jr_ws(p);
    if (p->pos >= p->n)
        return jr_fail(p, p->pos, "expected a value, found the end of the text");
    unsigned char c = p->s[p->pos];
    if ((c == '[' || c == '{') && depth >= p->max_depth)
        return jr_fail(p, p->pos, "nested deeper than %d levels", p->max_depth);
    switch (c) {
    case '[': return jr_array(p, depth + 1, v);
    case '{': return jr_object(p, depth + 1, v);
    case '"': v->type = JSON_STRING; return jr_string(p, &v->u.str, &v->n);
    case 't': return jr_literal(p, "true", JSON_TRUE, v);
    case 'f': return jr_literal(p, "false", JSON_FALSE, v);
    case 'n': return jr_literal(p, "null", JSON_NULL, v);
    default:
        if (c == '-' || is_digit(c)) {
            v->type = JSON_NUMBER;
            return jr_number(p, &v->u.num);
        }
        return jr_fail(p, p->pos, "expected a value, found %s", jr_here(p, buf, sizeof buf));
    }
}

int json_parse(json_doc *d, const char *text, size_t n, const json_limits *lim, const char *path,
               rerr *e)
{
    memset(d, 0, sizeof *d);
    if (n > lim->max_bytes)
        return rerr_set(e, "%s: %zu bytes, over the %zu-byte limit for this file", path, n,
                        lim->max_bytes);
    jr p = {.path = path, .s = (const unsigned char *)text, .n = n, .max_depth = lim->max_depth,
            .e = e};
    int rc = jr_value(&p, 0, &d->root);
    if (rc == 0) {
        jr_ws(&p);
        if (p.pos != p.n)
            rc = jr_fail(&p, p.pos, "unexpected bytes after the value");
    }
    free(p.items);
    free(p.members);
    if (rc != 0) {
        arena_free(p.arena);
        memset(d, 0, sizeof *d);
        return -1;
    }
    d->arena = p.arena;
    return 0;
}

void json_free(json_doc *d)
{
    arena_free(d->arena);
    memset(d, 0, sizeof *d);
}

/* Linear: the objects looked up by key are small (a model's parameters). */
const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (uint32_t i = 0; i < obj->n; i++)
        if (strcmp(obj->u.members[i].key, key) == 0)
            return &obj->u.members[i].value;
    return NULL;
}

const char *json_type_name(json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

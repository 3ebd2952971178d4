/* Sweep files, the reading half (see sweep.h and sweeps/README.md): the
 * libyaml walk that turns a file into a `sweep`, checking structure, names,
 * types and shapes, every error with file:line:column. Config keys and
 * values are checked when the sweep is expanded (sweep.c), by config_apply. */
#include "sweep.h"
#include "base/yamlerr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* ---- parse context and errors ---- */

typedef struct pctx {
    const char *name; /* file name for messages */
    const char *text;
    size_t len;
    yaml_document_t *doc;
    rerr *e;
} pctx;

static sweep_mark mark_of(yaml_mark_t m)
{
    sweep_mark s = {(int)m.line + 1, (int)m.column + 1};
    return s;
}

static int px_error(const pctx *x, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int px_error(const pctx *x, yaml_mark_t m, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rerr_set(x->e, "%s:%lu:%lu: %s", x->name, (unsigned long)m.line + 1,
                    (unsigned long)m.column + 1, msg);
}

static int px_oom(const pctx *x)
{
    return rerr_set(x->e, "%s: out of memory", x->name);
}

/* libyaml's own problem text; reader errors (bad UTF-8, control
 * characters) carry only a byte offset, so line and column are counted. */
static int px_yaml_error(const pctx *x, const yaml_parser_t *p)
{
    yaml_mark_t m;
    char problem[512];
    yamlerr_describe(p, x->text, x->len, &m, problem, sizeof problem);
    return px_error(x, m, "invalid YAML: %s", problem);
}

/* ---- nodes ---- */

static yaml_node_t *px_node(const pctx *x, int idx)
{
    return yaml_document_get_node(x->doc, idx);
}

/* YAML's null: an empty plain scalar, `~` or `null`. */
static int node_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *node_kind(const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node_is_null(n))
        return "nothing";
    return "a scalar";
}

/* Tags would change a value's meaning behind config.c's back (it types
 * values by key, not by YAML's implicit typing): only the default ones pass. */
static int px_check_tag(const pctx *x, const yaml_node_t *n)
{
    const char *want = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
                       : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
                                                       : YAML_DEFAULT_MAPPING_TAG;
    if (!n->tag || strcmp((const char *)n->tag, want) == 0)
        return 0;
    return px_error(x, n->start_mark, "YAML tags are not supported (got '%.60s')",
                    (const char *)n->tag);
}

static int mapping_len(const yaml_node_t *n)
{
    return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static int sequence_len(const yaml_node_t *n)
{
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* The text of a mapping key, which must be a plain, non-empty scalar;
 * duplicates of an earlier key of the same mapping are errors (libyaml keeps
 * both, and taking the last would hide a typo'd edit). */
static int px_key(const pctx *x, const yaml_node_t *map, int i, const char **out)
{
    const yaml_node_t *kn = px_node(x, map->data.mapping.pairs.start[i].key);
    if (px_check_tag(x, kn))
        return -1;
    if (kn->type != YAML_SCALAR_NODE || node_is_null(kn))
        return px_error(x, kn->start_mark, "expected a key name, got %s", node_kind(kn));
    for (int j = 0; j < i; j++) {
        const yaml_node_t *prev = px_node(x, map->data.mapping.pairs.start[j].key);
        if (prev->type == YAML_SCALAR_NODE && prev->data.scalar.length == kn->data.scalar.length &&
            memcmp(prev->data.scalar.value, kn->data.scalar.value, kn->data.scalar.length) == 0)
            return px_error(x, kn->start_mark, "duplicate key '%.100s' (first at line %lu)",
                            (const char *)kn->data.scalar.value,
                            (unsigned long)prev->start_mark.line + 1);
    }
    *out = (const char *)kn->data.scalar.value;
    return 0;
}

static int px_strdup(const pctx *x, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? 0 : px_oom(x);
}

/* A non-empty scalar, e.g. a name or a path. */
static int px_string(const pctx *x, const yaml_node_t *n, const char *what, char **out)
{
    if (px_check_tag(x, n))
        return -1;
    if (n->type != YAML_SCALAR_NODE || node_is_null(n) || n->data.scalar.length == 0)
        return px_error(x, n->start_mark, "%s: expected a string, got %s", what, node_kind(n));
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return px_error(x, n->start_mark, "%s: contains a NUL character", what);
    return px_strdup(x, (const char *)n->data.scalar.value, out);
}

/* A decimal integer in [lo, hi] (plain digits: no YAML 1.1 octal or hex). */
static int px_uint(const pctx *x, const yaml_node_t *n, const char *what, uint64_t lo, uint64_t hi,
                   uint64_t *out)
{
    if (px_check_tag(x, n))
        return -1;
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->type == YAML_SCALAR_NODE ? n->data.scalar.length : 0;
    int ok = n->type == YAML_SCALAR_NODE && len > 0 && len <= 20;
    for (size_t i = 0; ok && i < len; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok)
        return px_error(x, n->start_mark, "%s: expected a non-negative integer, got %s%.40s%s", what,
                        n->type == YAML_SCALAR_NODE && len ? "'" : node_kind(n),
                        n->type == YAML_SCALAR_NODE && len ? s : "",
                        n->type == YAML_SCALAR_NODE && len ? "'" : "");
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return px_error(x, n->start_mark, "%s: %s is out of range (%" PRIu64 " to %" PRIu64 ")",
                        what, s, lo, hi);
    *out = v;
    return 0;
}

/* ---- values: the YAML text config_apply reads back ---- */

/* Plain scalars go back as written (they parse to the same text); every
 * other style is double-quoted with escapes, so "" or 'null' stay strings. */
static void sb_scalar(sbuf *b, const yaml_node_t *n)
{
    const unsigned char *s = n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        sbuf_putn(b, (const char *)s, len);
        return;
    }
    sbuf_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        char esc[8];
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            sbuf_putn(b, esc, 2);
        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02X", s[i]);
            sbuf_puts(b, esc);
        } else {
            sbuf_putn(b, (const char *)&s[i], 1);
        }
    }
    sbuf_puts(b, "\"");
}

/* A value: a scalar, or a list of scalars (per-class lists such as
 * loss.alpha), into v. */
static int px_value(const pctx *x, const yaml_node_t *n, const char *key, sweep_value *v)
{
    sbuf b = {0};
    memset(v, 0, sizeof *v);
    v->mark = mark_of(n->start_mark);
    if (px_check_tag(x, n))
        return -1;
    if (n->type == YAML_MAPPING_NODE)
        return px_error(x, n->start_mark, "%s: expected a value or a list of values, got a mapping",
                        key);
    if (n->type == YAML_SCALAR_NODE) {
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
            return px_error(x, n->start_mark, "%s: contains a NUL character", key);
        sb_scalar(&b, n);
        if (b.oom || !b.p) {
            free(b.p);
            return px_oom(x);
        }
        v->text = b.p;
        if (px_strdup(x, (const char *)n->data.scalar.value, &v->shown)) {
            free(v->text);
            v->text = NULL;
            return -1;
        }
        return 0;
    }
    sbuf_puts(&b, "[");
    int count = sequence_len(n);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *item = px_node(x, n->data.sequence.items.start[i]);
        if (px_check_tag(x, item) ||
            (item->type != YAML_SCALAR_NODE &&
             px_error(x, item->start_mark, "%s: expected a list of scalars, got %s inside it", key,
                      node_kind(item)))) {
            free(b.p);
            return -1;
        }
        if (strlen((const char *)item->data.scalar.value) != item->data.scalar.length) {
            free(b.p);
            return px_error(x, item->start_mark, "%s: contains a NUL character", key);
        }
        if (i)
            sbuf_puts(&b, ", ");
        sb_scalar(&b, item);
    }
    sbuf_puts(&b, "]");
    if (b.oom) {
        free(b.p);
        return px_oom(x);
    }
    v->text = b.p;
    if (px_strdup(x, b.p, &v->shown)) {
        free(v->text);
        v->text = NULL;
        return -1;
    }
    return 0;
}

static void value_free(sweep_value *v)
{
    free(v->text);
    free(v->shown);
}

static void assigns_free(sweep_assign *a, int n)
{
    for (int i = 0; i < n; i++) {
        free(a[i].key);
        value_free(&a[i].value);
    }
    free(a);
}

/* ---- mappings of settings ----
 * `set`, variants and include/exclude entries map dotted config keys to
 * values; a section may also be written as a nested mapping
 * (`optim: {lr: 0.01}` is `optim.lr: 0.01`), as in config files. */

typedef struct assign_list {
    sweep_assign *a;
    int n, cap;
} assign_list;

static int al_push(const pctx *x, assign_list *l, const char *key, const yaml_node_t *kn,
                   const yaml_node_t *vn)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->a[i].key, key) == 0)
            return px_error(x, kn->start_mark, "duplicate key '%s' (first at line %d)", key,
                            l->a[i].key_mark.line);
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        sweep_assign *q = realloc(l->a, sizeof *q * (size_t)cap);
        if (!q)
            return px_oom(x);
        l->a = q;
        l->cap = cap;
    }
    sweep_assign *s = &l->a[l->n];
    memset(s, 0, sizeof *s);
    s->key_mark = mark_of(kn->start_mark);
    if (px_strdup(x, key, &s->key))
        return -1;
    if (px_value(x, vn, key, &s->value)) {
        free(s->key);
        return -1;
    }
    l->n++;
    return 0;
}

/* Walks a mapping of settings into l. `special` names keys handled by the
 * caller (variant, seed): they are skipped here. */
static int px_settings(const pctx *x, const yaml_node_t *n, const char *what, assign_list *l,
                       int allow_special)
{
    if (px_check_tag(x, n))
        return -1;
    if (node_is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return px_error(x, n->start_mark, "%s: expected a mapping of config keys to values, got %s",
                        what, node_kind(n));
    for (int i = 0; i < mapping_len(n); i++) {
        const char *key;
        if (px_key(x, n, i, &key))
            return -1;
        const yaml_node_t *kn = px_node(x, n->data.mapping.pairs.start[i].key);
        const yaml_node_t *vn = px_node(x, n->data.mapping.pairs.start[i].value);
        if (allow_special && (strcmp(key, "variant") == 0 || strcmp(key, "seed") == 0))
            continue;
        if (!strchr(key, '.') && vn->type == YAML_MAPPING_NODE) {
            /* a section written as a nested mapping */
            if (px_check_tag(x, vn))
                return -1;
            for (int j = 0; j < mapping_len(vn); j++) {
                const char *sub;
                if (px_key(x, vn, j, &sub))
                    return -1;
                char full[160];
                if ((size_t)snprintf(full, sizeof full, "%s.%s", key, sub) >= sizeof full)
                    return px_error(x, kn->start_mark, "key '%.60s...' is too long", key);
                if (al_push(x, l, full, px_node(x, vn->data.mapping.pairs.start[j].key),
                            px_node(x, vn->data.mapping.pairs.start[j].value)))
                    return -1;
            }
            continue;
        }
        if (strlen(key) >= 128)
            return px_error(x, kn->start_mark, "key '%.60s...' is too long", key);
        if (!strchr(key, '.'))
            return px_error(x, kn->start_mark,
                            "%s: '%s' is not a config key (write section.key, e.g. optim.lr)", what,
                            key);
        if (al_push(x, l, key, kn, vn))
            return -1;
    }
    return 0;
}

/* ---- the grid ---- */

static int px_dim(const pctx *x, const char *key, const yaml_node_t *kn, const yaml_node_t *vn,
                  sweep_dim *d)
{
    memset(d, 0, sizeof *d);
    d->key_mark = mark_of(kn->start_mark);
    if (px_check_tag(x, vn))
        return -1;
    if (vn->type != YAML_SEQUENCE_NODE)
        return px_error(x, vn->start_mark, "grid: %s: expected a list of values, got %s", key,
                        node_kind(vn));
    int n = sequence_len(vn);
    if (n == 0)
        return px_error(x, vn->start_mark, "grid: %s: empty list of values", key);
    if (px_strdup(x, key, &d->key))
        return -1;
    d->values = calloc((size_t)n, sizeof *d->values);
    if (!d->values) {
        free(d->key);
        return px_oom(x);
    }
    for (int i = 0; i < n; i++) {
        if (px_value(x, px_node(x, vn->data.sequence.items.start[i]), key, &d->values[i])) {
            for (int j = 0; j < i; j++)
                value_free(&d->values[j]);
            free(d->values);
            free(d->key);
            return -1;
        }
    }
    d->nvalues = n;
    return 0;
}

static void dims_free(sweep_dim *d, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d[i].nvalues; j++)
            value_free(&d[i].values[j]);
        free(d[i].values);
        free(d[i].key);
    }
    free(d);
}

static int px_grid(const pctx *x, const yaml_node_t *n, sweep *sw)
{
    if (px_check_tag(x, n))
        return -1;
    if (node_is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return px_error(x, n->start_mark, "grid: expected a mapping of config keys to lists, got %s",
                        node_kind(n));
    /* at most one axis per pair, or per nested key; a pair whose key has a
     * dot and whose value is a mapping is one axis (refused in px_dim), so
     * each pair counts one besides its nested keys (fuzz_sweep found the
     * heap overflow of counting such a pair as its empty mapping's 0) */
    int cap = 0;
    for (int i = 0; i < mapping_len(n); i++) {
        const yaml_node_t *vn = px_node(x, n->data.mapping.pairs.start[i].value);
        cap += 1 + (vn->type == YAML_MAPPING_NODE ? mapping_len(vn) : 0);
    }
    if (cap == 0)
        return 0;
    sw->dims = calloc((size_t)cap, sizeof *sw->dims);
    if (!sw->dims)
        return px_oom(x);
    for (int i = 0; i < mapping_len(n); i++) {
        const char *key;
        if (px_key(x, n, i, &key))
            return -1;
        const yaml_node_t *kn = px_node(x, n->data.mapping.pairs.start[i].key);
        const yaml_node_t *vn = px_node(x, n->data.mapping.pairs.start[i].value);
        if (!strchr(key, '.') && vn->type == YAML_MAPPING_NODE) {
            if (px_check_tag(x, vn))
                return -1;
            for (int j = 0; j < mapping_len(vn); j++) {
                const char *sub;
                if (px_key(x, vn, j, &sub))
                    return -1;
                char full[160];
                if ((size_t)snprintf(full, sizeof full, "%s.%s", key, sub) >= sizeof full)
                    return px_error(x, kn->start_mark, "key '%.60s...' is too long", key);
                const yaml_node_t *skn = px_node(x, vn->data.mapping.pairs.start[j].key);
                for (int k = 0; k < sw->ndims; k++)
                    if (strcmp(sw->dims[k].key, full) == 0)
                        return px_error(x, skn->start_mark, "grid: duplicate key '%s' (first at line %d)",
                                        full, sw->dims[k].key_mark.line);
                if (px_dim(x, full, skn, px_node(x, vn->data.mapping.pairs.start[j].value),
                           &sw->dims[sw->ndims]))
                    return -1;
                sw->ndims++;
            }
            continue;
        }
        if (strlen(key) >= 128)
            return px_error(x, kn->start_mark, "key '%.60s...' is too long", key);
        if (!strchr(key, '.'))
            return px_error(x, kn->start_mark,
                            "grid: '%s' is not a config key (write section.key, e.g. optim.lr)", key);
        for (int k = 0; k < sw->ndims; k++)
            if (strcmp(sw->dims[k].key, key) == 0)
                return px_error(x, kn->start_mark, "grid: duplicate key '%s' (first at line %d)", key,
                                sw->dims[k].key_mark.line);
        if (px_dim(x, key, kn, vn, &sw->dims[sw->ndims]))
            return -1;
        sw->ndims++;
    }
    return 0;
}

/* ---- variants, seeds, filters, resources ---- */

int sweep_name_ok(const char *s)
{
    if (!s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static int px_variants(const pctx *x, const yaml_node_t *n, sweep *sw)
{
    if (px_check_tag(x, n))
        return -1;
    if (n->type != YAML_MAPPING_NODE || mapping_len(n) == 0)
        return px_error(x, n->start_mark,
                        "variants: expected a mapping of names to settings (e.g. focal: {loss.kind: "
                        "focal}), got %s",
                        n->type == YAML_MAPPING_NODE ? "an empty mapping" : node_kind(n));
    int count = mapping_len(n);
    sw->variants = calloc((size_t)count, sizeof *sw->variants);
    if (!sw->variants)
        return px_oom(x);
    for (int i = 0; i < count; i++) {
        const char *name;
        if (px_key(x, n, i, &name)) /* duplicate names are caught here */
            return -1;
        const yaml_node_t *kn = px_node(x, n->data.mapping.pairs.start[i].key);
        if (!sweep_name_ok(name))
            return px_error(x, kn->start_mark,
                            "variant name '%.60s' must be letters, digits, '_', '.' or '-'", name);
        sweep_variant *v = &sw->variants[sw->nvariants];
        v->mark = mark_of(kn->start_mark);
        if (px_strdup(x, name, &v->name))
            return -1;
        sw->nvariants++;
        assign_list l = {0};
        char what[160];
        snprintf(what, sizeof what, "variant %s", name);
        int rc = px_settings(x, px_node(x, n->data.mapping.pairs.start[i].value), what, &l, 0);
        v->set = l.a;
        v->nset = l.n;
        if (rc)
            return -1;
    }
    return 0;
}

static int px_seeds(const pctx *x, const yaml_node_t *n, sweep *sw)
{
    if (px_check_tag(x, n))
        return -1;
    if (n->type == YAML_SCALAR_NODE) {
        uint64_t count;
        if (px_uint(x, n, "seeds", 1, SWEEP_MAX_SEEDS, &count))
            return -1;
        sw->seeds = malloc(sizeof *sw->seeds * (size_t)count);
        if (!sw->seeds)
            return px_oom(x);
        for (uint64_t i = 0; i < count; i++)
            sw->seeds[i] = i + 1;
        sw->nseeds = (int)count;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE || sequence_len(n) == 0)
        return px_error(x, n->start_mark,
                        "seeds: expected a count (seeds: 5 means 1..5) or a non-empty list of "
                        "integers, got %s",
                        n->type == YAML_SEQUENCE_NODE ? "an empty list" : node_kind(n));
    int count = sequence_len(n);
    if (count > SWEEP_MAX_SEEDS)
        return px_error(x, n->start_mark, "seeds: more than %d seeds", SWEEP_MAX_SEEDS);
    sw->seeds = malloc(sizeof *sw->seeds * (size_t)count);
    if (!sw->seeds)
        return px_oom(x);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *item = px_node(x, n->data.sequence.items.start[i]);
        uint64_t s;
        if (px_uint(x, item, "seeds", 0, UINT64_MAX, &s))
            return -1;
        /* a repeated seed would be the same job twice; the list is short */
        for (int j = 0; j < i && count <= 10000; j++)
            if (sw->seeds[j] == s)
                return px_error(x, item->start_mark, "seeds: %" PRIu64 " is listed twice", s);
        sw->seeds[sw->nseeds++] = s;
    }
    return 0;
}

static int variant_find(const sweep *sw, const char *name)
{
    for (int i = 0; i < sw->nvariants; i++)
        if (strcmp(sw->variants[i].name, name) == 0)
            return i;
    return -1;
}

static void filters_free(sweep_filter *f, int n)
{
    for (int i = 0; i < n; i++)
        assigns_free(f[i].set, f[i].nset);
    free(f);
}

/* include: / exclude: lists of partial assignments. */
static int px_filters(const pctx *x, const yaml_node_t *n, const char *what, sweep *sw,
                      sweep_filter **out, int *nout)
{
    if (px_check_tag(x, n))
        return -1;
    if (node_is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return px_error(x, n->start_mark,
                        "%s: expected a list of partial assignments (e.g. - {variant: focal, "
                        "optim.lr: 0.001}), got %s",
                        what, node_kind(n));
    int count = sequence_len(n);
    if (count == 0)
        return 0;
    *out = calloc((size_t)count, sizeof **out);
    if (!*out)
        return px_oom(x);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *en = px_node(x, n->data.sequence.items.start[i]);
        sweep_filter *f = &(*out)[i];
        f->variant = -1;
        f->mark = mark_of(en->start_mark);
        (*nout)++;
        if (px_check_tag(x, en))
            return -1;
        if (en->type != YAML_MAPPING_NODE || mapping_len(en) == 0)
            return px_error(x, en->start_mark, "%s: expected a non-empty mapping, got %s", what,
                            en->type == YAML_MAPPING_NODE ? "an empty one" : node_kind(en));
        for (int j = 0; j < mapping_len(en); j++) {
            const char *key;
            if (px_key(x, en, j, &key))
                return -1;
            const yaml_node_t *vn = px_node(x, en->data.mapping.pairs.start[j].value);
            if (strcmp(key, "variant") == 0) {
                char *name;
                if (px_string(x, vn, "variant", &name))
                    return -1;
                f->variant = variant_find(sw, name);
                f->variant_mark = mark_of(vn->start_mark);
                if (f->variant < 0) {
                    int rc = px_error(x, vn->start_mark, "%s: unknown variant '%.60s'", what, name);
                    free(name);
                    return rc;
                }
                free(name);
            } else if (strcmp(key, "seed") == 0) {
                if (px_uint(x, vn, "seed", 0, UINT64_MAX, &f->seed))
                    return -1;
                f->has_seed = 1;
                f->seed_mark = mark_of(vn->start_mark);
            }
        }
        assign_list l = {0};
        int rc = px_settings(x, en, what, &l, 1);
        f->set = l.a;
        f->nset = l.n;
        if (rc)
            return -1;
    }
    return 0;
}

static int px_resources(const pctx *x, const yaml_node_t *n, sweep *sw)
{
    if (px_check_tag(x, n))
        return -1;
    if (node_is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return px_error(x, n->start_mark, "resources: expected a mapping (gpus, gpu_memory), got %s",
                        node_kind(n));
    for (int i = 0; i < mapping_len(n); i++) {
        const char *key;
        if (px_key(x, n, i, &key))
            return -1;
        const yaml_node_t *kn = px_node(x, n->data.mapping.pairs.start[i].key);
        const yaml_node_t *vn = px_node(x, n->data.mapping.pairs.start[i].value);
        uint64_t v;
        if (strcmp(key, "gpus") == 0) {
            if (px_uint(x, vn, "resources.gpus", 1, 64, &v))
                return -1;
            sw->gpus = (int)v;
        } else if (strcmp(key, "gpu_memory") == 0) {
            if (px_uint(x, vn, "resources.gpu_memory", 0, 1u << 30, &v))
                return -1;
            sw->gpu_memory = (long)v;
        } else {
            return px_error(x, kn->start_mark,
                            "resources: unknown key '%.60s' (expected gpus or gpu_memory)", key);
        }
    }
    return 0;
}

/* dir/path unless path is absolute. */
static int px_path(const pctx *x, const yaml_node_t *n, const char *what, const char *dir,
                   char **out)
{
    char *s;
    if (px_string(x, n, what, &s))
        return -1;
    if (s[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0) {
        *out = s;
        return 0;
    }
    size_t len = strlen(dir) + strlen(s) + 2;
    *out = malloc(len);
    if (!*out) {
        free(s);
        return px_oom(x);
    }
    snprintf(*out, len, "%s/%s", dir, s);
    free(s);
    return 0;
}

/* ---- the document ---- */

static const char *const top_keys[] = {"name", "description", "config", "data", "set", "grid",
                                       "variants", "seeds", "include", "exclude", "resources",
                                       NULL};

static int px_document(const pctx *x, sweep *sw)
{
    const yaml_node_t *root = yaml_document_get_root_node(x->doc);
    yaml_mark_t start = {0, 0, 0};
    if (!root || node_is_null(root))
        return px_error(x, start, "empty sweep file ('name' is required)");
    if (px_check_tag(x, root))
        return -1;
    if (root->type != YAML_MAPPING_NODE)
        return px_error(x, root->start_mark, "expected a mapping (name, config, set, grid, ...), got %s",
                        node_kind(root));
    const yaml_node_t *include = NULL, *exclude = NULL;
    for (int i = 0; i < mapping_len(root); i++) {
        const char *key;
        if (px_key(x, root, i, &key))
            return -1;
        const yaml_node_t *kn = px_node(x, root->data.mapping.pairs.start[i].key);
        const yaml_node_t *vn = px_node(x, root->data.mapping.pairs.start[i].value);
        if (strcmp(key, "name") == 0) {
            if (px_string(x, vn, "name", &sw->name))
                return -1;
            sw->name_mark = mark_of(vn->start_mark);
            if (!sweep_name_ok(sw->name))
                return px_error(x, vn->start_mark,
                                "name '%.60s' must be letters, digits, '_', '.' or '-' (it names "
                                "the results directory)",
                                sw->name);
        } else if (strcmp(key, "description") == 0) {
            if (!node_is_null(vn) && px_string(x, vn, "description", &sw->description))
                return -1;
        } else if (strcmp(key, "config") == 0) {
            if (px_path(x, vn, "config", sw->dir, &sw->config))
                return -1;
            sw->config_mark = mark_of(vn->start_mark);
        } else if (strcmp(key, "data") == 0) {
            if (px_path(x, vn, "data", sw->dir, &sw->data))
                return -1;
            sw->data_mark = mark_of(vn->start_mark);
        } else if (strcmp(key, "set") == 0) {
            assign_list l = {0};
            int rc = px_settings(x, vn, "set", &l, 0);
            sw->set = l.a;
            sw->nset = l.n;
            if (rc)
                return -1;
        } else if (strcmp(key, "grid") == 0) {
            sw->grid_mark = mark_of(kn->start_mark);
            if (px_grid(x, vn, sw))
                return -1;
        } else if (strcmp(key, "variants") == 0) {
            sw->variants_mark = mark_of(kn->start_mark);
            if (px_variants(x, vn, sw))
                return -1;
        } else if (strcmp(key, "seeds") == 0) {
            sw->seeds_mark = mark_of(kn->start_mark);
            if (px_seeds(x, vn, sw))
                return -1;
        } else if (strcmp(key, "include") == 0) {
            include = vn; /* after variants, whose names it refers to */
        } else if (strcmp(key, "exclude") == 0) {
            exclude = vn;
        } else if (strcmp(key, "resources") == 0) {
            if (px_resources(x, vn, sw))
                return -1;
        } else {
            char known[200] = "";
            for (int k = 0; top_keys[k]; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         top_keys[k]);
            return px_error(x, kn->start_mark, "unknown key '%.60s' (expected one of: %s)", key, known);
        }
    }
    if (!sw->name)
        return px_error(x, root->start_mark, "'name' is required");
    if (sw->nvariants == 0) {
        /* one unnamed variant keeps the rest of the code uniform */
        sw->variants = calloc(1, sizeof *sw->variants);
        if (!sw->variants || px_strdup(x, "default", &sw->variants[0].name))
            return px_oom(x);
        sw->variants[0].mark = mark_of(root->start_mark);
        sw->nvariants = 1;
    }
    if (include && px_filters(x, include, "include", sw, &sw->include, &sw->ninclude))
        return -1;
    if (exclude && px_filters(x, exclude, "exclude", sw, &sw->exclude, &sw->nexclude))
        return -1;
    return 0;
}

int sweep_load_string(sweep *sw, const char *text, size_t len, const char *name, const char *dir,
                      rerr *e)
{
    memset(sw, 0, sizeof *sw);
    sw->gpus = 1;
    pctx x = {name, text, len, NULL, e};
    if (!(sw->path = strdup(name)) || !(sw->dir = strdup(dir ? dir : ".")))
        goto oom;
    yaml_mark_t deep;
    if (yamlerr_too_deep(text, len, YAMLERR_MAX_DEPTH, &deep)) {
        px_error(&x, deep, "nested more than %d levels deep", YAMLERR_MAX_DEPTH);
        goto fail;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        goto oom;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        px_yaml_error(&x, &parser);
        yaml_parser_delete(&parser);
        goto fail;
    }
    /* a second document would be silently ignored: say so instead */
    yaml_document_t extra;
    int second = 0;
    yaml_mark_t second_mark = {0, 0, 0};
    if (!yaml_parser_load(&parser, &extra)) {
        px_yaml_error(&x, &parser);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        goto fail;
    }
    if (yaml_document_get_root_node(&extra)) {
        second = 1;
        second_mark = extra.start_mark;
    }
    yaml_document_delete(&extra);
    yaml_parser_delete(&parser);
    if (second) {
        yaml_document_delete(&doc);
        px_error(&x, second_mark, "expected one YAML document, found a second one");
        goto fail;
    }
    x.doc = &doc;
    int rc = px_document(&x, sw);
    yaml_document_delete(&doc);
    if (rc)
        goto fail;
    return 0;
oom:
    rerr_set(e, "%s: out of memory", name);
fail:
    sweep_free(sw);
    return -1;
}

int sweep_load(sweep *sw, const char *path, rerr *e)
{
    char *text;
    size_t len;
    memset(sw, 0, sizeof *sw);
    if (util_read_file_kind(path, UTIL_CONFIG, 0, &text, &len, e))
        return -1;
    /* relative paths in the file are relative to the file */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int rc = sweep_load_string(sw, text, len, path, dir, e);
    free(text);
    return rc;
}

void sweep_free(sweep *sw)
{
    free(sw->path);
    free(sw->dir);
    free(sw->name);
    free(sw->description);
    free(sw->config);
    free(sw->data);
    assigns_free(sw->set, sw->nset);
    for (int i = 0; i < sw->nvariants; i++) {
        free(sw->variants[i].name);
        assigns_free(sw->variants[i].set, sw->variants[i].nset);
    }
    free(sw->variants);
    dims_free(sw->dims, sw->ndims);
    free(sw->seeds);
    filters_free(sw->include, sw->ninclude);
    filters_free(sw->exclude, sw->nexclude);
    memset(sw, 0, sizeof *sw);
}


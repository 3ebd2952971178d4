/* Writing a configuration (config.h): every key, section by section, with
 * its help as a comment, in a form config_load reads back to the same
 * values. */
#define _GNU_SOURCE
#include "base/config.h"
#include "base/config_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest %.Ng (N <= 9) that reads back to the same float: 0.001 rather
 * than %.9g's 0.00100000005, still exact. */
void config_format_float(char *buf, size_t n, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
    snprintf(buf, n, "%.9g", (double)v);
}

double config_decimal(float v)
{
    char buf[32];
    config_format_float(buf, sizeof buf, v);
    return strtod(buf, NULL);
}

/* Code points libyaml's reader rejects in raw input (it takes escapes). */
static int yaml_printable(unsigned long cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 ||
           (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) ||
           (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* A double-quoted YAML string; everything that would not survive raw is escaped. */
static void write_quoted(FILE *fp, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', fp);
    while (*p) {
        unsigned long cp = *p;
        int n = 0; /* bytes of this UTF-8 sequence; 0: not UTF-8 (never from libyaml), raw */
        if (*p < 0x80)
            n = 1;
        else if (*p >= 0xC2 && *p < 0xE0)
            n = 2, cp = *p & 0x1F;
        else if (*p >= 0xE0 && *p < 0xF0)
            n = 3, cp = *p & 0x0F;
        else if (*p >= 0xF0 && *p < 0xF5)
            n = 4, cp = *p & 0x07;
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                n = 0;
                break;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (n == 0) {
            fputc(*p++, fp);
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(fp, "\\%c", (int)cp);
        else if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 ||
                 cp == 0x2029 || !yaml_printable(cp)) /* YAML folds raw line breaks */
            fprintf(fp, cp < 0x100 ? "\\x%02lX" : cp < 0x10000 ? "\\u%04lX" : "\\U%08lX", cp);
        else
            fwrite(p, 1, (size_t)n, fp);
        p += n;
    }
    fputc('"', fp);
}

static void write_list(FILE *fp, const float *v, int n)
{
    char num[32];
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        config_format_float(num, sizeof num, v[i]);
        fprintf(fp, "%s%s", i ? ", " : "", num);
    }
    fputc(']', fp);
}

void config_write_value(FILE *fp, const key_desc *k, const resecg_config *c)
{
    const void *f = config_key_cfield(k, c);
    char num[32];
    int classes = c->model.num_classes;
    if (classes < 1)
        classes = 1;
    if (classes > RESECG_MAX_CLASSES)
        classes = RESECG_MAX_CLASSES;
    switch (k->type) {
    case KT_INT:
        fprintf(fp, "%d", *(const int *)f);
        break;
    case KT_FLOAT:
        config_format_float(num, sizeof num, *(const float *)f);
        fputs(num, fp);
        break;
    case KT_U64:
        fprintf(fp, "%" PRIu64, *(const uint64_t *)f);
        break;
    case KT_BOOL:
        fputs(*(const int *)f ? "true" : "false", fp);
        break;
    case KT_ENUM: {
        int v;
        memcpy(&v, f, sizeof v);
        fputs(config_choice_name(k->choices, v), fp);
        break;
    }
    case KT_STRING:
        if (k->choices) /* a fixed name: plain, like an enum */
            fputs((const char *)f, fp);
        else
            write_quoted(fp, (const char *)f);
        break;
    case KT_FLOATS:
        write_list(fp, (const float *)f, classes);
        break;
    case KT_WEIGHTS: {
        int all_one = 1;
        for (int i = 0; i < RESECG_MAX_CLASSES; i++)
            all_one &= c->loss.class_weights[i] == 1.0f;
        if (c->loss.balanced)
            fputs("balanced", fp);
        else if (all_one)
            fputs("none", fp);
        else
            write_list(fp, c->loss.class_weights, classes);
        break;
    }
    }
}

/* Writes every key, section by section, each with its help as a comment. */
static void write_config(FILE *fp, const resecg_config *c)
{
    fputs("# resecg resolved configuration: every setting, after --set overrides", fp);
    if (c->source_path[0])
        fprintf(fp, ", from %s", c->source_path);
    fputs("\n", fp);
    size_t seclen = 0;
    const char *sec = NULL;
    for (int i = 0; i < NKEYS; i++) {
        const key_desc *k = &config_keys[i];
        const char *dot = strchr(k->name, '.');
        size_t len = (size_t)(dot - k->name);
        if (!sec || len != seclen || strncmp(sec, k->name, len) != 0) {
            fprintf(fp, "%.*s:\n", (int)len, k->name);
            sec = k->name;
            seclen = len;
        }
        /* the help comments line up in one column */
        long start = ftell(fp);
        fprintf(fp, "  %s: ", dot + 1);
        config_write_value(fp, k, c);
        long used = ftell(fp) - start;
        fprintf(fp, "%*s # %s\n", used < 34 ? (int)(34 - used) : 0, "", k->help);
    }
}

char *config_to_string(const resecg_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp)
        return NULL;
    write_config(fp, c);
    if (fclose(fp) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int config_write(const resecg_config *c, const char *path, rerr *e)
{
    return config_write_note(c, path, NULL, e);
}

int config_write_note(const resecg_config *c, const char *path, const char *note, rerr *e)
{
    char *text = config_to_string(c);
    if (!text)
        return rerr_set(e, "%s: out of memory", path);
    sbuf b = {0};
    sbuf_puts(&b, text);
    free(text);
    if (note) {
        sbuf_puts(&b, "# ");
        for (const char *q = note; *q; q++) /* one comment line, whatever the note holds */
            sbuf_putn(&b, *q == '\n' || *q == '\r' ? " " : q, 1);
        sbuf_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return rerr_set(e, "%s: out of memory", path);
    }
    int rc = util_write_file_atomic(path, b.p, b.len, e);
    free(b.p);
    return rc;
}

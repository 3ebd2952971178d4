/* The key table of the configuration, private to core/base/config*.c:
 * config.c defines it and reads YAML with it, config_validate.c checks
 * ranges with it, config_write.c writes with it. */
#ifndef RESECG_CONFIG_KEYS_H
#define RESECG_CONFIG_KEYS_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

typedef struct resecg_config resecg_config; /* base/config.h, which includes nothing of this */

typedef enum key_type {
    KT_INT,     /* int, decimal */
    KT_FLOAT,   /* float */
    KT_U64,     /* uint64_t, decimal, no sign */
    KT_BOOL,    /* int 0/1 from true/false/yes/no */
    KT_STRING,  /* char[size]; `choices` restricts it when not NULL */
    KT_ENUM,    /* an int-sized enum, value = index into `choices` */
    KT_FLOATS,  /* float[RESECG_MAX_CLASSES], one entry per class */
    KT_WEIGHTS, /* loss.class_weights: `balanced`, `none` or a list like KT_FLOATS */
} key_type;

#define LO_OPEN 1u /* the lower bound is excluded */
#define HI_OPEN 2u /* the upper bound is excluded */

typedef struct key_desc {
    const char *name; /* dotted path: section.key */
    key_type type;
    size_t off, size; /* the field inside resecg_config */
    double lo, hi;    /* allowed values (numbers, list entries); INT_MAX / HUGE_VAL = no upper bound */
    unsigned open;    /* LO_OPEN | HI_OPEN */
    const char *const *choices; /* NULL-terminated names (KT_ENUM, KT_STRING) */
    const char *help;
} key_desc;

#define NOMAX INT_MAX
#define NKEYS 55 /* rows of config_keys (checked where it is defined) */

extern const key_desc config_keys[];

static inline const void *config_key_cfield(const key_desc *k, const resecg_config *c)
{
    return (const char *)c + k->off;
}

/* The entries of a KT_FLOATS or KT_WEIGHTS field. */
static inline int config_list_len(const key_desc *k)
{
    return (int)(k->size / sizeof(float));
}

/* Whether v is in k's range; the range as text ("must be in [0, 1)"). */
int config_in_range(const key_desc *k, double v);
const char *config_range_text(const key_desc *k, char *buf, size_t n);

/* The index of s in choices (NULL-terminated), or -1. */
int config_choice_index(const char *const *choices, const char *s);

/* names[v], or "?" out of range. */
const char *config_choice_name(const char *const *names, int v);

/* Shortest %.Ng (N <= 9) that reads back to the same float. */
void config_format_float(char *buf, size_t n, float v);

/* k's value in c as the writer writes it (config_foreach's canonical text). */
void config_write_value(FILE *fp, const key_desc *k, const resecg_config *c);

#endif

/* A small strict JSON reader (RFC 8259) for files that are checked before
 * another parser trusts them (XGBoost's model.json, core/baseline/xgbjson.c): a size
 * cap and a nesting limit, so a crafted file costs time and memory linear in
 * its size and a bounded stack, then the whole document as a tree of values
 * in one arena. Errors read "FILE: bad JSON at byte K: ...". */
#ifndef RESECG_JSON_H
#define RESECG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_member json_member;

typedef struct json_value {
    json_type type;
    uint32_t n; /* string bytes, array items or object members */
    union {
        double num;                 /* strtod's value: 1e999 reads as inf */
        const char *str;            /* escapes decoded, UTF-8, NUL-terminated */
        const struct json_value *items;
        const json_member *members; /* in file order, keys unique */
    } u;
} json_value;

struct json_member {
    const char *key; /* decoded, NUL-terminated */
    json_value value;
};

typedef struct json_limits {
    size_t max_bytes; /* the text's length */
    int max_depth;    /* arrays and objects inside one another, the outermost is 1 */
} json_limits;

typedef struct json_doc {
    json_value root;
    void *arena; /* the values' memory, released by json_free */
} json_doc;

/* Parses text (n bytes, no NUL needed) into d. Refuses what RFC 8259
 * refuses (trailing commas, NaN, leading zeros, raw control characters,
 * invalid UTF-8, bytes after the value) and also duplicate keys in an
 * object (readers disagree on which one wins), \u0000 in strings, numbers
 * over 63 characters and more than UINT32_MAX items in one array or object.
 * path names the text in messages. On failure d is empty (json_free is
 * still safe). */
int json_parse(json_doc *d, const char *text, size_t n, const json_limits *lim, const char *path,
               rerr *e);
void json_free(json_doc *d);

/* The value of key in obj; NULL when absent or when obj is not an object. */
const json_value *json_get(const json_value *obj, const char *key);

/* "an object", "a number", ... for messages. */
const char *json_type_name(json_type t);

#endif

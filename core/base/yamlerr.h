/* libyaml parser errors as one line of text with their position, shared by
 * the config loader and the sweep parser. */
#ifndef RESECG_YAMLERR_H
#define RESECG_YAMLERR_H

#include <stddef.h>
#include <yaml.h>

/* Writes "PROBLEM[ (CONTEXT at line L, column C)]" into msg and the
 * 0-based position of the problem into *mark. Reader errors (bad UTF-8,
 * control characters) carry only a byte offset into text, so their line and
 * column are counted here, in characters as libyaml counts them. */
void yamlerr_describe(const yaml_parser_t *p, const char *text, size_t len, yaml_mark_t *mark,
                      char *msg, size_t msgsz);

/* The deepest nesting a config or sweep file may have: theirs is 3 or 4. */
#define YAMLERR_MAX_DEPTH 64

/* Walks text's parse events and stops at the first collection nested deeper
 * than max levels, before any document is built (libyaml's time grows faster
 * than linearly with the nesting: 80,000 '[' took 11 s). Returns 1 with its
 * position in *mark when too deep; 0 otherwise, syntax errors included (the
 * loader reports those as before). */
int yamlerr_too_deep(const char *text, size_t len, int max, yaml_mark_t *mark);

#endif

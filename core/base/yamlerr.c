/* See yamlerr.h. */
#include "base/yamlerr.h"

#include <stdio.h>
#include <string.h>

void yamlerr_describe(const yaml_parser_t *p, const char *text, size_t len, yaml_mark_t *mark,
                      char *msg, size_t msgsz)
{
    yaml_mark_t m = p->problem_mark;
    char extra[160] = "";
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        problem = "out of memory";
    } else if (p->error == YAML_READER_ERROR) {
        memset(&m, 0, sizeof m);
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                m.column++; /* libyaml counts characters, not UTF-8 bytes */
            }
        }
        if (p->problem_value != -1)
            snprintf(extra, sizeof extra, " (#x%X)", (unsigned)p->problem_value);
    } else if (p->context) {
        snprintf(extra, sizeof extra, " (%s at line %lu, column %lu)", p->context,
                 (unsigned long)p->context_mark.line + 1, (unsigned long)p->context_mark.column + 1);
    }
    snprintf(msg, msgsz, "%s%s", problem, extra);
    *mark = m;
}

int yamlerr_too_deep(const char *text, size_t len, int max, yaml_mark_t *mark)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return 0;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, deep = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > max) {
                *mark = ev.start_mark;
                deep = 1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (deep || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return deep;
}

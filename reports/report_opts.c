/* The options of `resecg report` (report_opts.h). */
#include "report_opts.h"

#include <string.h>

void report_opts_default(report_opts *o)
{
    memset(o, 0, sizeof *o);
    o->total = REPORT_TOTAL_CINC;
    o->bootstrap = 2000;
    o->seed = 1;
}

int report_total_parse(const char *s, report_total *out)
{
    if (strcmp(s, "cinc") == 0)
        *out = REPORT_TOTAL_CINC;
    else if (strcmp(s, "weighted") == 0)
        *out = REPORT_TOTAL_WEIGHTED;
    else if (strcmp(s, "macro") == 0)
        *out = REPORT_TOTAL_MACRO;
    else
        return -1;
    return 0;
}

/* The options of `resecg report` (report.h): what Table 1's Total column
 * is, the baseline, the bootstrap. Apart from report.h so that the report's
 * internal data (report_data.h) can hold them without including the
 * command's own interface. */
#ifndef RESECG_REPORT_OPTS_H
#define RESECG_REPORT_OPTS_H

#include <stdint.h>

/* What Table 1's "Total" column is. */
typedef enum report_total {
    REPORT_TOTAL_CINC = 0, /* CinC 2017 score: mean F1 of N, A, O (default) */
    REPORT_TOTAL_WEIGHTED, /* support-weighted F1 over all classes */
    REPORT_TOTAL_MACRO     /* unweighted mean F1 over all classes */
} report_total;

typedef struct report_opts {
    const char *out;      /* output directory; NULL: <results>/report */
    const char *baseline; /* configuration label or variant name; NULL: plain, ce, or the first */
    report_total total;
    int bootstrap;        /* resamples, 2000 */
    uint64_t seed;        /* bootstrap seed, 1 */
    int published;        /* add the reference implementation's published rows */
} report_opts;

void report_opts_default(report_opts *o);

/* Parses "cinc", "weighted" or "macro"; -1 otherwise. */
int report_total_parse(const char *s, report_total *out);

#endif

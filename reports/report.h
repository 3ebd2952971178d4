/* `resecg report`: collates a sweep output directory (results/<sweep>/, the
 * layout of runner/sweep_run.c), or two of them, into Table 1 and per-job
 * tables (CSV, Markdown, LaTeX), verdicts on the differences from a
 * baseline (a bootstrap over seeds and dev records, reports/stats.h), and a
 * self-contained HTML page. The method is in reports/README.md. */
#ifndef RESECG_REPORT_H
#define RESECG_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "base/util.h"
#include "report_opts.h"

/* Reads results_dir (jobs.tsv, journal.log, each job's run directory) and
 * writes jobs.csv/.md, table1.csv/.md/.tex, significance.csv/.md/.tex and
 * report.html into the output directory, every file atomically. With dir_b
 * (not NULL) it reads a second results directory, set B, scored on the same
 * dev records (set A is results_dir): each configuration of B is compared
 * with the same configuration of A, or with A's o->baseline, unpaired over
 * seeds; the default output directory is then dir_b/report-ab. A summary
 * (completion, which differences are real) goes to msg when it is not NULL.
 * Returns 0, or -1 with e filled (not a sweep directory, unreadable or
 * inconsistent run files, predictions over different records). */
int report_run(const char *results_dir, const char *dir_b, const report_opts *o, FILE *msg, rerr *e);

#endif

/* `resecg report RESULTS_DIR [DIR_B] [...]`: the command-line face of reports/
 * (report.h): options in, exit status out (0 written, 1 a report that could
 * not be made, 2 bad usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "report.h"

static const char *usage_report =
    "usage: resecg report RESULTS_DIR [DIR_B] [--out DIR] [--baseline VARIANT]\n"
    "                     [--total cinc|weighted|macro] [--bootstrap N] [--seed S] [--published]\n"
    "\n"
    "  Collates a sweep output directory (results/<sweep>/) into jobs.csv/.md, table1.csv/.md/.tex,\n"
    "  significance.csv/.md/.tex and report.html. With DIR_B, a second results directory scored on\n"
    "  the same dev records (set B; RESULTS_DIR is set A): each configuration of B is compared with\n"
    "  the same one of A (an A/A check when both ran one sweep file with different seeds), or with\n"
    "  A's --baseline, unpaired over seeds.\n"
    "  --out DIR          output directory (default RESULTS_DIR/report; with DIR_B, DIR_B/report-ab)\n"
    "  --baseline NAME    variant the others are compared with (default plain, ce, or the first;\n"
    "                     with DIR_B: a configuration of A that every one of B is compared with)\n"
    "  --total WHAT       Table 1's Total: cinc (mean F1 of N, A, O; default), weighted, macro\n"
    "  --bootstrap N      resamples of the seeds and dev records (default 2000)\n"
    "  --seed S           bootstrap seed (default 1)\n"
    "  --published        add the reference implementation's published Table 1 rows\n";

static int parse_count(const char *flag, const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || v > max) {
        fprintf(stderr, "resecg report: %s: expected a non-negative integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    report_opts o;
    report_opts_default(&o);
    const char *dir = NULL, *dir_b = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_report, stdout);
            return 0;
        }
        if (strcmp(a, "--published") == 0) {
            o.published = 1;
            continue;
        }
        int takes_value = strcmp(a, "--out") == 0 || strcmp(a, "--baseline") == 0 ||
                          strcmp(a, "--total") == 0 || strcmp(a, "--bootstrap") == 0 ||
                          strcmp(a, "--seed") == 0;
        if (takes_value && !next) {
            fprintf(stderr, "resecg report: %s needs a value\n%s", a, usage_report);
            return 2;
        }
        if (strcmp(a, "--out") == 0) {
            o.out = argv[++i];
        } else if (strcmp(a, "--baseline") == 0) {
            o.baseline = argv[++i];
        } else if (strcmp(a, "--total") == 0) {
            if (report_total_parse(argv[++i], &o.total) != 0) {
                fprintf(stderr, "resecg report: --total: expected cinc, weighted or macro, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--bootstrap") == 0) {
            if (parse_count(a, argv[++i], 100000000, &v) != 0 || v < 1)
                return 2;
            o.bootstrap = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_count(a, argv[++i], ~0ull, &v) != 0)
                return 2;
            o.seed = v;
        } else if (a[0] == '-') {
            fprintf(stderr, "resecg report: unknown option '%s'\n%s", a, usage_report);
            return 2;
        } else if (!dir) {
            dir = a;
        } else if (!dir_b) {
            dir_b = a;
        } else {
            fprintf(stderr, "resecg report: at most two results directories (got '%s', '%s' and '%s')\n",
                    dir, dir_b, a);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "resecg report: RESULTS_DIR is required\n%s", usage_report);
        return 2;
    }
    rerr e = {{0}};
    if (report_run(dir, dir_b, &o, stdout, &e) != 0) {
        fprintf(stderr, "resecg report: %s\n", e.msg);
        return 1;
    }
    return 0;
}

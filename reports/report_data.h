/* The collated sweep that report.c builds and html.c draws: jobs with their
 * scores, predictions and curves, grouped into configurations (a variant
 * plus its grid/include overrides), and the bootstrap comparisons. Internal
 * to reports/. */
#ifndef RESECG_REPORT_DATA_H
#define RESECG_REPORT_DATA_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define RP_K 4 /* N, A, O, ~: the CinC 2017 classes every table is laid out for */
#define RP_NSTAT 5 /* compared scores: F1 of N, A, O, ~, then CinC F1 */

enum { RP_DONE, RP_FAILED, RP_MISSING };

typedef struct rp_job {
    char id[13];
    char *variant, *overrides; /* from jobs.tsv */
    char **ov_val;             /* per report key (rp_report.keys), NULL where not overridden */
    uint64_t seed;
    int status;
    int cfg;                   /* index into rp_report.cfgs */
    double f1[RP_K], cinc, macro, weighted; /* from f1.csv; done jobs only */
    int epochs, best_epoch;    /* from epochs.csv; 0 where it does not exist */
    double wall;               /* sum of epoch seconds */
    double *ep_dev_loss, *ep_cinc; /* per epoch (epochs values each) */
    char device[64];           /* from the journal's last start: "cpu", "gpu 0", or "" */
    int *pred;                 /* predicted class per dev record; done jobs only */
    long conf[RP_K][RP_K];     /* [true][predicted] from predictions.csv */
} rp_job;

typedef struct rp_config {
    char *label;   /* "variant" or "variant key=value ..." */
    char *variant;
    int njobs, ndone, nfailed;
    int *jobs;     /* indices into rp_report.jobs, in sweep order */
    double mean[RP_K + 1], sd[RP_K + 1]; /* N, A, O, ~, Total over done jobs; sd NaN for n < 2 */
    long conf[RP_K][RP_K];               /* summed over done jobs */
} rp_config;

typedef struct rp_compare {
    int cfg;         /* compared configuration (baseline is rp_report.baseline) */
    int npairs;      /* seeds where both are done */
    double diff[RP_NSTAT], lo[RP_NSTAT], hi[RP_NSTAT]; /* cfg - baseline, mean over pairs */
} rp_compare;

typedef struct rp_report {
    const char *dir;
    report_opts o;
    rp_job *jobs;
    int njobs, ndone, nfailed, nmissing;
    rp_config *cfgs;
    int ncfgs;
    char **keys; /* override keys in order of first appearance */
    int nkeys;
    char **records; /* dev records of the first done job */
    int *labels;
    int nrec;
    int baseline;   /* configuration index, -1 when there are no configurations */
    rp_compare *cmp; /* one per configuration other than the baseline */
    int ncmp;
    char summary[256]; /* "12 of 15 jobs finished (1 failed, 2 missing)" */
} rp_report;

/* "CinC F1 (mean of N, A, O)" etc. and the short column name "cinc_f1". */
const char *rp_total_title(report_total t);
const char *rp_total_name(report_total t);

/* The job's Total under the chosen definition. */
double rp_job_total(const rp_job *j, report_total t);

/* The reference implementation's published Table 1 rows: row i's name and
 * its N, A, O, ~, Total; 0 past the last row. The note says what their
 * Total probably is. */
int rp_published(int i, const char **name, const double **v);
const char *rp_published_note(void);

/* A plain-words sentence on comparison m: which differences are real. */
void rp_verdict(const rp_report *r, const rp_compare *m, char *buf, size_t n);

/* Writes report.html (html.c). */
int rp_write_html(const rp_report *r, const char *path, rerr *e);

#endif

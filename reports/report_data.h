/* The collated sweep that report.c builds, compare.c compares and html.c
 * and latex.c draw: jobs with their scores, predictions and curves (from one
 * results directory, or two that share their dev records: sets A and B),
 * grouped into configurations (a variant plus its grid/include overrides),
 * and the comparisons with their verdicts. Internal to reports/. */
#ifndef RESECG_REPORT_DATA_H
#define RESECG_REPORT_DATA_H

#include <stdint.h>
#include <stdio.h>

#include "report_opts.h"
#include "stats.h"

#define RP_K 4 /* N, A, O, ~: the CinC 2017 classes every table is laid out for */
#define RP_NSTAT 6 /* compared scores at most: F1 of N, A, O, ~, CinC F1, then Total
                    * when --total is not cinc (rp_report.nstat says how many) */

enum { RP_DONE, RP_FAILED, RP_MISSING };

typedef struct rp_job {
    char id[13];
    int side;                  /* 0: the (first) results directory, 1: the second (B) */
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
    char *label;   /* "variant" or "variant key=value ...", after "A: " or "B: " with two sets */
    const char *name; /* the label without the set prefix */
    char *variant;
    int side;      /* the set its jobs come from */
    int njobs, ndone, nfailed;
    int *jobs;     /* indices into rp_report.jobs, in sweep order */
    double mean[RP_K + 1], sd[RP_K + 1]; /* N, A, O, ~, Total over done jobs; sd NaN for n < 2 */
    long conf[RP_K][RP_K];               /* summed over done jobs */
} rp_config;

/* A verdict per compared score. */
enum { RP_V_NONE, RP_V_FEW, RP_V_NOISE, RP_V_REAL };

typedef struct rp_compare {
    int cfg, base;   /* configuration compared with base (both indices into rp_report.cfgs) */
    int paired;      /* 1: seeds paired by train.seed (one sweep); 0: two sets, unpaired */
    int na, nb;      /* finished seeds used: pairs (na == nb) or per side */
    /* per compared score s (rp_report.stat[s]), from stats_compare (stats.h); NaN where
     * there is nothing to compare */
    double diff[RP_NSTAT], lo[RP_NSTAT], hi[RP_NSTAT], se[RP_NSTAT], df[RP_NSTAT];
    double p[RP_NSTAT], p_gt[RP_NSTAT], rec_lo[RP_NSTAT], rec_hi[RP_NSTAT];
    double p_holm[RP_NSTAT];  /* Holm-adjusted over every tested score of every comparison */
    int verdict[RP_NSTAT];    /* RP_V_* */
} rp_compare;

typedef struct rp_report {
    const char *dir;    /* the (first) results directory */
    const char *dir_b;  /* the second set's, NULL for a one-sweep report */
    char title[8300];   /* dir, or "A: dir vs B: dir_b" */
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
    char records_src[4400]; /* that job's predictions.csv */
    int records_side;       /* and its set */
    int baseline;   /* configuration index, -1 when there is none (two sets, no --baseline) */
    rp_compare *cmp; /* one sweep: every configuration but the baseline against it; two sets:
                      * B's configurations against A's same ones, or against --baseline */
    int ncmp;
    int nstat;       /* compared scores: 5, or 6 with a Total that is not CinC F1 */
    int stat[RP_NSTAT]; /* each one's STATS_* metric */
    int ntests;      /* the Holm family: scores with a verdict real or noise */
    char summary[256]; /* "12 of 15 jobs finished (1 failed, 2 missing)" */
} rp_report;

/* A CSV number (%.6f, empty for NaN or infinity) and Markdown cell text
 * ('|' escaped), for every writer. */
void rp_csv_num(FILE *fp, double v);
void rp_md_text(FILE *fp, const char *s);

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

/* compare.c: fills r->cmp (pairs the seeds, runs stats_compare, applies
 * Holm over the report, sets the verdicts); 0 or -1 with e filled. */
int rp_compare_all(rp_report *r, rerr *e);

/* Short and display names of compared score s ("cinc_f1", "CinC F1"), and
 * a verdict's word ("real", "noise", "too few seeds", "no pairs"). */
const char *rp_stat_key(const rp_report *r, int s);
const char *rp_stat_title(const rp_report *r, int s);
const char *rp_verdict_word(const rp_compare *m, int s);

/* One cell of the significance tables: the difference and its interval
 * ("+0.094 [+0.041, +0.147]"; the difference alone with too few seeds;
 * "no pairs" with none), and its note: the Holm-adjusted p and P(variant >
 * baseline) ("p 0.012, P>0 0.99"), "too few seeds", or empty. */
void rp_cell(const rp_compare *m, int s, char *buf, size_t n);
void rp_cell_note(const rp_compare *m, int s, char *buf, size_t n);

/* The seeds a comparison rests on: "3 paired" or "3 vs 4". */
void rp_seeds(const rp_compare *m, char *buf, size_t n);

/* A plain-words sentence on comparison m: which differences are real. */
void rp_verdict(const rp_report *r, const rp_compare *m, char *buf, size_t n);

/* What the significance tables and page say about the method, one paragraph. */
void rp_method(const rp_report *r, char *buf, size_t n);

/* significance.csv and .md (compare.c); the sentences also go to msg. */
int rp_write_significance(const rp_report *r, const char *out, FILE *msg, rerr *e);

/* Writes report.html (html.c). */
int rp_write_html(const rp_report *r, const char *path, rerr *e);

/* Writes table1.tex and significance.tex into out (latex.c). */
int rp_write_latex(const rp_report *r, const char *out, rerr *e);

/* collect.c: the jobs of r->dir (and r->dir_b) with their scores,
 * predictions and curves, the configurations and the baseline (r->o set). */
int rp_collect(rp_report *r, rerr *e);
void rp_report_free(rp_report *r);

#endif

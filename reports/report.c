/* `resecg report` (report.h): the tables (jobs, Table 1) as CSV and
 * Markdown from what collect.c read (a sweep output directory, or two that
 * share their dev records, grouped into configurations); compare.c does
 * the statistics, html.c and latex.c the other outputs. CSV is written
 * with csv_fwrite's quoting; every output goes through afile (temp +
 * rename). A job that has not finished is "failed" or "missing", never a
 * row of zeros. */
#define _GNU_SOURCE
#include "report.h"
#include "run/rundir.h"

#include <csv.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "run/metrics.h"
#include "report_data.h"
#include "nn/rng.h"

const char *rp_total_title(report_total t)
{
    return t == REPORT_TOTAL_WEIGHTED ? "support-weighted F1 over N, A, O, ~"
           : t == REPORT_TOTAL_MACRO  ? "macro F1 (mean of N, A, O, ~)"
                                      : "CinC F1 (mean of N, A, O)";
}

const char *rp_total_name(report_total t)
{
    return t == REPORT_TOTAL_WEIGHTED ? "weighted_f1" : t == REPORT_TOTAL_MACRO ? "macro_f1" : "cinc_f1";
}

double rp_job_total(const rp_job *j, report_total t)
{
    return t == REPORT_TOTAL_WEIGHTED ? j->weighted : t == REPORT_TOTAL_MACRO ? j->macro : j->cinc;
}

/* ---- writing CSV ---- */


/* A number for CSV: %.6f, or empty where there is no value (NaN). */
void rp_csv_num(FILE *fp, double v)
{
    char b[48] = "";
    if (isfinite(v))
        snprintf(b, sizeof b, "%.6f", v);
    util_csv_field(fp, b, 0);
}

/* Markdown cell text: '|' would end the cell. */
void rp_md_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', fp);
        fputc(*s == '\n' ? ' ' : *s, fp);
    }
}

static const char *status_name(int s)
{
    return s == RP_DONE ? "done" : s == RP_FAILED ? "failed" : "missing";
}

/* ---- the files ---- */

static int write_jobs(const rp_report *r, const char *out, rerr *e)
{
    char p[4200];
    afile af;
    snprintf(p, sizeof p, "%s/jobs.csv", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    util_csv_field(fp, "id", 1);
    if (r->dir_b) /* two sets: which one, A or B */
        util_csv_field(fp, "set", 0);
    util_csv_field(fp, "variant", 0);
    for (int k = 0; k < r->nkeys; k++)
        util_csv_field(fp, r->keys[k], 0);
    static const char *const cols[] = {"seed",    "status",   "f1_N",        "f1_A",
                                       "f1_O",    "f1_~",     "cinc_f1",     "macro_f1",
                                       "weighted_f1", "epochs", "best_epoch", "wall_s", "device"};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        util_csv_field(fp, cols[c], 0);
    fputc('\n', fp);
    for (int i = 0; i < r->njobs; i++) {
        const rp_job *j = &r->jobs[i];
        char b[64];
        int done = j->status == RP_DONE;
        util_csv_field(fp, j->id, 1);
        if (r->dir_b)
            util_csv_field(fp, j->side ? "B" : "A", 0);
        util_csv_field(fp, j->variant, 0);
        for (int k = 0; k < r->nkeys; k++)
            util_csv_field(fp, j->ov_val[k] ? j->ov_val[k] : "", 0);
        snprintf(b, sizeof b, "%" PRIu64, j->seed);
        util_csv_field(fp, b, 0);
        util_csv_field(fp, status_name(j->status), 0);
        for (int k = 0; k < RP_K; k++)
            rp_csv_num(fp, done ? j->f1[k] : NAN);
        rp_csv_num(fp, done ? j->cinc : NAN);
        rp_csv_num(fp, done ? j->macro : NAN);
        rp_csv_num(fp, done ? j->weighted : NAN);
        snprintf(b, sizeof b, "%d", j->epochs);
        util_csv_field(fp, j->epochs ? b : "", 0);
        snprintf(b, sizeof b, "%d", j->best_epoch);
        util_csv_field(fp, j->epochs ? b : "", 0);
        snprintf(b, sizeof b, "%.2f", j->wall);
        util_csv_field(fp, j->epochs ? b : "", 0);
        util_csv_field(fp, j->device, 0);
        fputc('\n', fp);
    }
    if (afile_commit(&af, e))
        return -1;

    snprintf(p, sizeof p, "%s/jobs.md", out);
    if (afile_open(&af, p, e))
        return -1;
    fp = af.fp;
    fprintf(fp, "# Jobs of %s\n\n%s.\n\n| id |%s variant |", r->title, r->summary,
            r->dir_b ? " set |" : "");
    for (int k = 0; k < r->nkeys; k++) {
        fputc(' ', fp);
        rp_md_text(fp, r->keys[k]);
        fputs(" |", fp);
    }
    fputs(" seed | status | N | A | O | ~ | CinC | macro | weighted | epochs | best | wall s | device |\n|",
          fp);
    for (int k = 0; k < r->nkeys + 15 + (r->dir_b != NULL); k++)
        fputs("---|", fp);
    fputc('\n', fp);
    for (int i = 0; i < r->njobs; i++) {
        const rp_job *j = &r->jobs[i];
        fprintf(fp, "| %s | %s", j->id, !r->dir_b ? "" : j->side ? "B | " : "A | ");
        rp_md_text(fp, j->variant);
        fputs(" |", fp);
        for (int k = 0; k < r->nkeys; k++) {
            fputc(' ', fp);
            rp_md_text(fp, j->ov_val[k] ? j->ov_val[k] : "");
            fputs(" |", fp);
        }
        fprintf(fp, " %" PRIu64 " | %s |", j->seed, status_name(j->status));
        if (j->status == RP_DONE)
            fprintf(fp, " %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |", j->f1[0], j->f1[1],
                    j->f1[2], j->f1[3], j->cinc, j->macro, j->weighted);
        else
            for (int k = 0; k < 7; k++)
                fprintf(fp, " %s |", status_name(j->status));
        if (j->epochs)
            fprintf(fp, " %d | %d | %.1f |", j->epochs, j->best_epoch, j->wall);
        else
            fputs(" | | |", fp);
        fprintf(fp, " %s |\n", j->device);
    }
    return afile_commit(&af, e);
}

/* The reference PyTorch implementation's Table 1 (its README): F1 of N, A,
 * O, ~ and a "Total" it does not define. The feature-based row's Total is
 * the mean of its four F1s (0.766); the network rows' are not. */
static const struct {
    const char *name;
    double v[RP_K + 1];
} published[] = {
    {"Feature-based approach (published)", {0.899, 0.768, 0.737, 0.66, 0.766}},
    {"ResECG (published)", {0.889, 0.835, 0.768, 0.661, 0.839}},
    {"+ class weights (published)", {0.899, 0.835, 0.763, 0.742, 0.846}},
    {"+ focal loss (published)", {0.894, 0.825, 0.762, 0.719, 0.841}},
};
#define PUBLISHED_NOTE                                                                             \
    "the published Total is not defined by its source; for the ResECG rows it is probably "      \
    "support-weighted F1 (compare with --total weighted), for the feature-based row it is the "   \
    "mean of the four F1s (--total macro)"

int rp_published(int i, const char **name, const double **v)
{
    if (i < 0 || i >= (int)(sizeof published / sizeof *published))
        return 0;
    *name = published[i].name;
    *v = published[i].v;
    return 1;
}

const char *rp_published_note(void)
{
    return PUBLISHED_NOTE;
}

static int write_table1(const rp_report *r, const char *out, rerr *e)
{
    char p[4200];
    afile af;
    snprintf(p, sizeof p, "%s/table1.csv", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    static const char *const cols[] = {"variant", "source", "total_metric", "n_seeds", "n_failed",
                                       "n_missing", "N", "N_sd", "A", "A_sd", "O", "O_sd", "~",
                                       "~_sd", "Total", "Total_sd"};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        util_csv_field(fp, cols[c], c == 0);
    fputc('\n', fp);
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        char b[32];
        util_csv_field(fp, g->label, 1);
        util_csv_field(fp, "this sweep", 0);
        util_csv_field(fp, rp_total_name(r->o.total), 0);
        snprintf(b, sizeof b, "%d", g->ndone);
        util_csv_field(fp, b, 0);
        snprintf(b, sizeof b, "%d", g->nfailed);
        util_csv_field(fp, b, 0);
        /* n_missing counts every unfinished job, failed ones included */
        snprintf(b, sizeof b, "%d", g->njobs - g->ndone);
        util_csv_field(fp, b, 0);
        for (int s = 0; s <= RP_K; s++) {
            rp_csv_num(fp, g->mean[s]);
            rp_csv_num(fp, g->sd[s]);
        }
        fputc('\n', fp);
    }
    for (size_t i = 0; r->o.published && i < sizeof published / sizeof *published; i++) {
        util_csv_field(fp, published[i].name, 1);
        util_csv_field(fp, "published", 0);
        util_csv_field(fp, "unexplained (probably weighted_f1)", 0);
        fputs(",,,", fp);
        for (int s = 0; s <= RP_K; s++) {
            rp_csv_num(fp, published[i].v[s]);
            util_csv_field(fp, "", 0);
        }
        fputc('\n', fp);
    }
    if (afile_commit(&af, e))
        return -1;

    snprintf(p, sizeof p, "%s/table1.md", out);
    if (afile_open(&af, p, e))
        return -1;
    fp = af.fp;
    fprintf(fp, "# Table 1: %s\n\n%s. F1 per class, mean ± sample standard deviation over "
                "finished seeds; Total is %s.\n\n",
            r->title, r->summary, rp_total_title(r->o.total));
    fputs("| variant | N | A | O | ~ | Total | seeds | missing |\n|---|---|---|---|---|---|---|---|\n",
          fp);
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        fputs("| ", fp);
        rp_md_text(fp, g->label);
        fputs(" |", fp);
        for (int s = 0; s <= RP_K; s++) {
            if (!isfinite(g->mean[s]))
                fputs(" missing |", fp);
            else if (isfinite(g->sd[s]))
                fprintf(fp, " %.3f ± %.3f |", g->mean[s], g->sd[s]);
            else
                fprintf(fp, " %.3f |", g->mean[s]);
        }
        fprintf(fp, " %d | %d%s |\n", g->ndone, g->njobs - g->ndone,
                g->nfailed ? (g->nfailed == g->njobs - g->ndone ? " (failed)" : " (some failed)") : "");
    }
    for (size_t i = 0; r->o.published && i < sizeof published / sizeof *published; i++)
        fprintf(fp, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | | |\n", published[i].name,
                published[i].v[0], published[i].v[1], published[i].v[2], published[i].v[3],
                published[i].v[4]);
    if (r->o.published)
        fprintf(fp, "\nPublished rows: %s.\n", PUBLISHED_NOTE);
    return afile_commit(&af, e);
}

int report_run(const char *results_dir, const char *dir_b, const report_opts *o, FILE *msg, rerr *e)
{
    rp_report r;
    memset(&r, 0, sizeof r);
    r.dir = results_dir;
    r.dir_b = dir_b;
    r.o = *o;
    if (r.o.bootstrap < 1)
        return rerr_set(e, "--bootstrap: need at least 1 resample");
    if (dir_b)
        snprintf(r.title, sizeof r.title, "A: %s vs B: %s", results_dir, dir_b);
    else
        snprintf(r.title, sizeof r.title, "%s", results_dir);
    char out[4000], p[4300];
    /* 4000 leaves room for the longest file name in the writers' 4200-byte
     * paths; two sets default to DIR_B/report-ab, not DIR_B's own report */
    const char *def = dir_b ? dir_b : results_dir, *sub = dir_b ? "/report-ab" : "/report";
    if (snprintf(out, sizeof out, "%s%s", o->out ? o->out : def, o->out ? "" : sub) >= (int)sizeof out)
        return rerr_set(e, "%s: output path too long", o->out ? o->out : def);
    int rc = -1;
    if (rp_collect(&r, e) || rp_compare_all(&r, e) || util_mkdir_p(out, e))
        goto done;
    if (msg) {
        fprintf(msg, "%s: %s; Total is %s; ", r.title, r.summary, rp_total_title(r.o.total));
        if (r.baseline >= 0)
            fprintf(msg, "baseline %s\n", r.cfgs[r.baseline].label);
        else
            fprintf(msg, "each configuration of B against the same one of A\n");
    }
    snprintf(p, sizeof p, "%s/report.html", out);
    if (write_jobs(&r, out, e) || write_table1(&r, out, e) || rp_write_significance(&r, out, msg, e) ||
        rp_write_latex(&r, out, e) || rp_write_html(&r, p, e))
        goto done;
    if (msg)
        fprintf(msg, "wrote %s/{jobs,table1,significance}.{csv,md}, table1.tex, significance.tex "
                     "and report.html\n",
                out);
    rc = 0;
done:
    rp_report_free(&r);
    return rc;
}

/* `resecg report` (report.h): reading a sweep output directory, the tables
 * (jobs, Table 1) as CSV and Markdown, and the paired bootstrap against the
 * baseline configuration. CSV is read with libcsv's parser and written with
 * its csv_fwrite quoting; every output goes through afile (temp + rename).
 * A job that has not finished is "failed" or "missing", never a row of zeros. */
#define _GNU_SOURCE
#include "report.h"

#include <csv.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "metrics.h"
#include "report_data.h"
#include "rng.h"

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

/* ---- reading CSV through libcsv ---- */

typedef struct csv_rows {
    int n, cap;
    struct csv_row_ {
        int n, cap;
        char **f;
    } *rows;
    int oom;
} csv_rows;

static void rows_free(csv_rows *t)
{
    for (int i = 0; i < t->cap; i++) { /* rows past n were zeroed when allocated */
        for (int k = 0; k < t->rows[i].n; k++)
            free(t->rows[i].f[k]);
        free(t->rows[i].f);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* libcsv field callback: appends the field to the open row (rows[n]). */
static void rows_field(void *s, size_t len, void *data)
{
    csv_rows *t = data;
    if (t->oom)
        return;
    if (t->n + 1 >= t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        void *p = realloc(t->rows, sizeof *t->rows * (size_t)cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->rows = p;
        memset(t->rows + t->cap, 0, sizeof *t->rows * (size_t)(cap - t->cap));
        t->cap = cap;
    }
    struct csv_row_ *r = &t->rows[t->n];
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        void *p = realloc(r->f, sizeof *r->f * (size_t)cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        r->f = p;
        r->cap = cap;
    }
    char *v = malloc(len + 1);
    if (!v) {
        t->oom = 1;
        return;
    }
    memcpy(v, s ? s : "", len);
    v[len] = '\0';
    r->f[r->n++] = v;
}

static void rows_end(int c, void *data)
{
    csv_rows *t = data;
    if (!t->oom && t->n < t->cap && t->rows[t->n].n > 0)
        t->n++;
}

/* Reads a whole CSV file into t (caller frees with rows_free). */
static int rows_read(const char *path, csv_rows *t, rerr *e)
{
    char *text;
    size_t len;
    memset(t, 0, sizeof *t);
    if (util_read_file(path, &text, &len, e))
        return -1;
    struct csv_parser p;
    if (csv_init(&p, 0) != 0) {
        free(text);
        return rerr_set(e, "%s: csv_init failed", path);
    }
    int bad = csv_parse(&p, text, len, rows_field, rows_end, t) != len;
    bad |= csv_fini(&p, rows_field, rows_end, t) != 0;
    const char *why = csv_strerror(csv_error(&p));
    csv_free(&p);
    free(text);
    if (t->oom) {
        rows_free(t);
        return rerr_set(e, "%s: out of memory", path);
    }
    if (bad) {
        rows_free(t);
        return rerr_set(e, "%s: malformed CSV: %s", path, why);
    }
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out) ? 0 : -1;
}

static int class_index(const char *s)
{
    for (int k = 0; k < RP_K; k++)
        if (strcmp(s, metrics_class_name(k)) == 0)
            return k;
    return -1;
}

/* ---- writing CSV ---- */


/* A number for CSV: %.6f, or empty where there is no value (NaN). */
static void out_num(FILE *fp, double v)
{
    char b[48] = "";
    if (isfinite(v))
        snprintf(b, sizeof b, "%.6f", v);
    util_csv_field(fp, b, 0);
}

/* Markdown cell text: '|' would end the cell. */
static void md_text(FILE *fp, const char *s)
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

/* ---- collecting the sweep ---- */

static char *xstrdup(const char *s, rerr *e)
{
    char *d = strdup(s);
    if (!d)
        rerr_set(e, "out of memory");
    return d;
}

static void report_free(rp_report *r)
{
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        free(j->variant);
        free(j->overrides);
        for (int k = 0; j->ov_val && k < r->nkeys; k++)
            free(j->ov_val[k]);
        free(j->ov_val);
        free(j->ep_dev_loss);
        free(j->ep_cinc);
        free(j->pred);
    }
    free(r->jobs);
    for (int c = 0; c < r->ncfgs; c++) {
        free(r->cfgs[c].label);
        free(r->cfgs[c].variant);
        free(r->cfgs[c].jobs);
    }
    free(r->cfgs);
    for (int k = 0; k < r->nkeys; k++)
        free(r->keys[k]);
    free(r->keys);
    for (int i = 0; i < r->nrec; i++)
        free(r->records[i]);
    free(r->records);
    free(r->labels);
    free(r->cmp);
}

/* Where the overrides string "k1=v1 k2=v2" has the next key: a space followed
 * by a dotted name and '='. Values may hold spaces ("[1, 2, 1, 1]"), never
 * such a pattern, since config keys are [a-z0-9_.]. */
static const char *next_key(const char *s)
{
    for (const char *p = s; (p = strchr(p, ' ')); p++) {
        const char *q = p + 1;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '_' || *q == '.')
            q++;
        if (q > p + 1 && *q == '=')
            return p;
    }
    return NULL;
}

static int key_index(rp_report *r, const char *key, size_t n, rerr *e)
{
    for (int k = 0; k < r->nkeys; k++)
        if (strlen(r->keys[k]) == n && strncmp(r->keys[k], key, n) == 0)
            return k;
    void *p = realloc(r->keys, sizeof *r->keys * (size_t)(r->nkeys + 1));
    if (!p)
        return rerr_set(e, "out of memory");
    r->keys = p;
    r->keys[r->nkeys] = strndup(key, n);
    if (!r->keys[r->nkeys])
        return rerr_set(e, "out of memory");
    return r->nkeys++;
}

/* Splits every job's overrides into per-key values (after all keys are known). */
static int split_overrides(rp_report *r, rerr *e)
{
    /* first pass: the keys */
    for (int i = 0; i < r->njobs; i++)
        for (const char *s = r->jobs[i].overrides; s && *s;) {
            const char *eq = strchr(s, '=');
            if (!eq)
                break;
            if (key_index(r, s, (size_t)(eq - s), e) < 0)
                return -1;
            const char *nx = next_key(eq);
            s = nx ? nx + 1 : NULL;
        }
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        j->ov_val = calloc((size_t)(r->nkeys ? r->nkeys : 1), sizeof *j->ov_val);
        if (!j->ov_val)
            return rerr_set(e, "out of memory");
        for (const char *s = j->overrides; s && *s;) {
            const char *eq = strchr(s, '=');
            if (!eq)
                break;
            int k = key_index(r, s, (size_t)(eq - s), e);
            if (k < 0)
                return -1;
            const char *nx = next_key(eq);
            size_t n = nx ? (size_t)(nx - eq - 1) : strlen(eq + 1);
            free(j->ov_val[k]);
            if (!(j->ov_val[k] = strndup(eq + 1, n)))
                return rerr_set(e, "out of memory");
            s = nx ? nx + 1 : NULL;
        }
    }
    return 0;
}

/* jobs.tsv: "# comment", then "ID\tVARIANT\tSEED\tOVERRIDES" per job (runner/sweep_run.c). */
static int read_jobs_tsv(rp_report *r, rerr *e)
{
    char p[4200], *text;
    size_t len;
    snprintf(p, sizeof p, "%s/jobs.tsv", r->dir);
    if (!util_file_exists(p))
        return rerr_set(e, "%s: not a sweep output directory (no jobs.tsv)", r->dir);
    if (util_read_file(p, &text, &len, e))
        return -1;
    int lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    r->jobs = calloc((size_t)lines, sizeof *r->jobs);
    if (!r->jobs) {
        free(text);
        return rerr_set(e, "out of memory");
    }
    int lineno = 0, rc = 0;
    for (char *l = text; l && *l && rc == 0;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        if (l[0] != '#' && l[0] != '\0') {
            char *f[4] = {l, NULL, NULL, NULL};
            for (int k = 1; k < 4 && f[k - 1]; k++) {
                char *t = strchr(f[k - 1], '\t');
                if (t) {
                    *t = '\0';
                    f[k] = t + 1;
                }
            }
            char *end = NULL;
            unsigned long long seed = f[2] ? strtoull(f[2], &end, 10) : 0;
            if (!f[3] || strlen(f[0]) != 12 || !end || *end) {
                rc = rerr_set(e, "%s:%d: expected ID<tab>VARIANT<tab>SEED<tab>OVERRIDES", p, lineno);
                break;
            }
            rp_job *j = &r->jobs[r->njobs++];
            memcpy(j->id, f[0], 13);
            j->seed = seed;
            j->status = RP_MISSING;
            if (!(j->variant = xstrdup(f[1], e)) || !(j->overrides = xstrdup(f[3], e)))
                rc = -1;
        }
        l = nl ? nl + 1 : NULL;
    }
    free(text);
    if (rc == 0 && r->njobs == 0)
        rc = rerr_set(e, "%s: no jobs", p);
    return rc;
}

/* The journal walk looks jobs up by id through an index sorted by id, so a
 * 100,000-job sweep's journal is read in n log n, not n^2. */
typedef struct journal_ctx {
    rp_report *r;
    int *by_id;
} journal_ctx;

static int cmp_id(const void *a, const void *b, void *data)
{
    const rp_report *r = data;
    return strcmp(r->jobs[*(const int *)a].id, r->jobs[*(const int *)b].id);
}

/* Journal walk: the last end event (failed) and the GPUs of the last start. */
static int journal_visit(const journal_entry *en, void *data)
{
    journal_ctx *jc = data;
    rp_report *r = jc->r;
    int lo = 0, hi = r->njobs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(r->jobs[jc->by_id[mid]].id, en->id);
        if (c == 0) {
            lo = hi = mid;
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    /* ids are unique in jobs.tsv (a repeated config is dropped by the expansion) */
    for (int q = lo; q == hi && q < r->njobs && strcmp(r->jobs[jc->by_id[q]].id, en->id) == 0; q++) {
        rp_job *j = &r->jobs[jc->by_id[q]];
        if (strcmp(en->event, "started") == 0) {
            char g[48];
            j->status = RP_MISSING; /* a rerun after a failure */
            if (journal_field(en->fields, "gpus", g, sizeof g) == 0)
                snprintf(j->device, sizeof j->device, "%s%s", strcmp(g, "none") ? "gpu " : "",
                         strcmp(g, "none") ? g : "cpu");
        } else if (strcmp(en->event, "failed") == 0) {
            j->status = RP_FAILED;
        }
    }
    return 0;
}

static int read_f1(rp_report *r, rp_job *j, const char *path, rerr *e)
{
    csv_rows t;
    if (rows_read(path, &t, e))
        return -1;
    int seen = 0, rc = 0;
    for (int i = 1; i < t.n && rc == 0; i++) {
        struct csv_row_ *row = &t.rows[i];
        double v;
        if (row->n < 4 || parse_double(row->f[3], &v) != 0)
            continue;
        int k = class_index(row->f[0]);
        if (k >= 0) {
            j->f1[k] = v;
            seen |= 1 << k;
        } else if (strcmp(row->f[0], "cinc_f1") == 0) {
            j->cinc = v;
            seen |= 1 << 4;
        } else if (strcmp(row->f[0], "macro_f1") == 0) {
            j->macro = v;
            seen |= 1 << 5;
        } else if (strcmp(row->f[0], "weighted_f1") == 0) {
            j->weighted = v;
            seen |= 1 << 6;
        }
    }
    rows_free(&t);
    if (seen != 0x7f)
        return rerr_set(e, "%s: expected F1 rows for N, A, O, ~, cinc_f1, macro_f1, weighted_f1",
                        path);
    (void)r;
    return 0;
}

/* epochs.csv: epoch,train_loss,dev_loss,lr,f1_N,f1_A,f1_O,f1_~,cinc_f1,macro_f1,weighted_f1,seconds */
static int read_epochs(rp_job *j, const char *path, rerr *e)
{
    csv_rows t;
    if (rows_read(path, &t, e))
        return -1;
    int n = t.n > 1 ? t.n - 1 : 0;
    j->ep_dev_loss = calloc((size_t)n + 1, sizeof(double));
    j->ep_cinc = calloc((size_t)n + 1, sizeof(double));
    if (!j->ep_dev_loss || !j->ep_cinc) {
        rows_free(&t);
        return rerr_set(e, "out of memory");
    }
    double best = INFINITY;
    for (int i = 0; i < n; i++) {
        struct csv_row_ *row = &t.rows[i + 1];
        double dl, cf, s;
        if (row->n < 12 || parse_double(row->f[2], &dl) || parse_double(row->f[8], &cf) ||
            parse_double(row->f[11], &s)) {
            rows_free(&t);
            return rerr_set(e, "%s:%d: expected 12 numeric fields", path, i + 2);
        }
        j->ep_dev_loss[i] = dl;
        j->ep_cinc[i] = cf;
        j->wall += s;
        if (dl < best) { /* the first minimum, as the trainer's "*best" */
            best = dl;
            j->best_epoch = i + 1;
        }
    }
    j->epochs = n;
    rows_free(&t);
    return 0;
}

/* predictions.csv: record,label,pred,p_N,... The first done job fixes the
 * dev records; every other must list the same ones in the same order, or the
 * paired comparison would pair different records. */
static int read_predictions(rp_report *r, rp_job *j, const char *path, rerr *e)
{
    csv_rows t;
    if (rows_read(path, &t, e))
        return -1;
    int n = t.n > 1 ? t.n - 1 : 0, rc = 0, first = r->records == NULL;
    if (n == 0)
        rc = rerr_set(e, "%s: no records", path);
    else if (!first && n != r->nrec)
        rc = rerr_set(e, "%s: %d records, but %s/%s/predictions.csv has %d: the jobs were not "
                         "scored on the same dev records",
                      path, n, r->dir, r->jobs[0].id, r->nrec);
    if (rc == 0 && first) {
        r->records = calloc((size_t)n, sizeof *r->records);
        r->labels = calloc((size_t)n, sizeof *r->labels);
        if (!r->records || !r->labels)
            rc = rerr_set(e, "out of memory");
        else
            r->nrec = n;
    }
    if (rc == 0 && !(j->pred = calloc((size_t)n, sizeof *j->pred)))
        rc = rerr_set(e, "out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        struct csv_row_ *row = &t.rows[i + 1];
        int lab = row->n >= 3 ? class_index(row->f[1]) : -1;
        int pr = row->n >= 3 ? class_index(row->f[2]) : -1;
        if (lab < 0 || pr < 0) {
            rc = rerr_set(e, "%s:%d: expected record,label,pred with classes N, A, O, ~", path, i + 2);
            break;
        }
        if (first) {
            if (!(r->records[i] = xstrdup(row->f[0], e))) {
                rc = -1;
                break;
            }
            r->labels[i] = lab;
        } else if (strcmp(r->records[i], row->f[0]) != 0 || r->labels[i] != lab) {
            rc = rerr_set(e, "%s:%d: record %s (%s), but another job has %s (%s) there: the jobs "
                             "were not scored on the same dev records",
                          path, i + 2, row->f[0], row->f[1], r->records[i],
                          metrics_class_name(r->labels[i]));
            break;
        }
        j->pred[i] = pr;
        j->conf[lab][pr]++;
    }
    rows_free(&t);
    return rc;
}

static int read_run_dirs(rp_report *r, rerr *e)
{
    char p[4400];
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        snprintf(p, sizeof p, "%s/%s/epochs.csv", r->dir, j->id);
        if (util_file_exists(p) && read_epochs(j, p, e))
            return -1;
        snprintf(p, sizeof p, "%s/%s/f1.csv", r->dir, j->id);
        if (!util_file_exists(p))
            continue; /* failed (journal) or missing */
        j->status = RP_DONE;
        if (read_f1(r, j, p, e))
            return -1;
        snprintf(p, sizeof p, "%s/%s/predictions.csv", r->dir, j->id);
        if (read_predictions(r, j, p, e))
            return -1;
        /* Table 1 comes from f1.csv, the statistics from predictions.csv:
         * they must describe the same evaluation (the trainer writes both
         * from one; a rerun of `evaluate --out` into the directory would not) */
        metrics m;
        metrics_init(&m, RP_K);
        for (int a = 0; a < RP_K; a++) /* metrics' matrix is RESECG_MAX_CLASSES wide */
            for (int b = 0; b < RP_K; b++)
                m.confusion[a][b] = j->conf[a][b];
        metrics_finish(&m);
        for (int k = 0; k < RP_K; k++)
            if (fabs(m.f1[k] - j->f1[k]) > 1e-5)
                return rerr_set(e, "%s/%s: f1.csv has F1 %.6f for %s, predictions.csv gives %.6f: "
                                   "the two files are from different evaluations",
                                r->dir, j->id, j->f1[k], metrics_class_name(k), m.f1[k]);
    }
    return 0;
}

/* Whether override key k takes more than one value (or is unset somewhere). */
static int key_varies(const rp_report *r, int k)
{
    for (int i = 1; i < r->njobs; i++) {
        const char *a = r->jobs[0].ov_val[k], *b = r->jobs[i].ov_val[k];
        if (!a || !b || strcmp(a, b) != 0)
            return 1;
    }
    return 0;
}

/* Configurations: jobs with the same variant and overrides, in order of first
 * appearance (jobs are seed-major, so that is the sweep's order). */
static int group_configs(rp_report *r, rerr *e)
{
    size_t cap = r->njobs > 0 ? (size_t)r->njobs : 1; /* njobs >= 0; also tells gcc so */
    r->cfgs = calloc(cap, sizeof *r->cfgs);
    if (!r->cfgs)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        int c = 0;
        while (c < r->ncfgs && !(strcmp(r->cfgs[c].variant, j->variant) == 0 &&
                                 strcmp(r->jobs[r->cfgs[c].jobs[0]].overrides, j->overrides) == 0))
            c++;
        rp_config *g = &r->cfgs[c];
        if (c == r->ncfgs) {
            r->ncfgs++;
            size_t n = strlen(j->variant) + strlen(j->overrides) + 16 * (size_t)r->nkeys + 2;
            g->label = malloc(n);
            g->variant = strdup(j->variant);
            g->jobs = calloc((size_t)r->njobs, sizeof *g->jobs);
            if (!g->label || !g->variant || !g->jobs)
                return rerr_set(e, "out of memory");
            /* the label names only the overrides that tell configurations
             * apart: a grid axis with one value adds nothing but width */
            size_t o = (size_t)snprintf(g->label, n, "%s", j->variant);
            for (int k = 0; k < r->nkeys && o < n; k++)
                if (key_varies(r, k))
                    o += (size_t)snprintf(g->label + o, n - o, " %s=%s", r->keys[k],
                                          j->ov_val[k] ? j->ov_val[k] : "(unset)");
        }
        j->cfg = c;
        g->jobs[g->njobs++] = i;
        g->ndone += j->status == RP_DONE;
        g->nfailed += j->status == RP_FAILED;
        r->ndone += j->status == RP_DONE;
        r->nfailed += j->status == RP_FAILED;
        r->nmissing += j->status == RP_MISSING;
    }
    for (int c = 0; c < r->ncfgs; c++) {
        rp_config *g = &r->cfgs[c];
        for (int s = 0; s <= RP_K; s++) {
            double sum = 0, sq = 0;
            int n = 0;
            for (int q = 0; q < g->njobs; q++) {
                const rp_job *j = &r->jobs[g->jobs[q]];
                if (j->status == RP_DONE) {
                    sum += s < RP_K ? j->f1[s] : rp_job_total(j, r->o.total);
                    n++;
                }
            }
            g->mean[s] = n ? sum / n : NAN;
            for (int q = 0; q < g->njobs; q++) {
                const rp_job *j = &r->jobs[g->jobs[q]];
                if (j->status == RP_DONE) {
                    double d = (s < RP_K ? j->f1[s] : rp_job_total(j, r->o.total)) - g->mean[s];
                    sq += d * d;
                }
            }
            /* sample standard deviation (n - 1), undefined for one seed */
            g->sd[s] = n > 1 ? sqrt(sq / (n - 1)) : NAN;
        }
        for (int q = 0; q < g->njobs; q++) {
            const rp_job *j = &r->jobs[g->jobs[q]];
            if (j->status == RP_DONE)
                for (int a = 0; a < RP_K; a++)
                    for (int b = 0; b < RP_K; b++)
                        g->conf[a][b] += j->conf[a][b];
        }
    }
    snprintf(r->summary, sizeof r->summary, "%d of %d jobs finished (%d failed, %d missing)",
             r->ndone, r->njobs, r->nfailed, r->nmissing);
    return 0;
}

static int pick_baseline(rp_report *r, rerr *e)
{
    r->baseline = -1;
    if (r->o.baseline) {
        for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
            if (strcmp(r->cfgs[c].label, r->o.baseline) == 0)
                r->baseline = c;
        for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
            if (strcmp(r->cfgs[c].variant, r->o.baseline) == 0)
                r->baseline = c;
        if (r->baseline < 0)
            return rerr_set(e, "--baseline %s: no such variant in %s", r->o.baseline, r->dir);
        return 0;
    }
    for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
        if (strcmp(r->cfgs[c].variant, "plain") == 0 || strcmp(r->cfgs[c].variant, "ce") == 0)
            r->baseline = c;
    if (r->baseline < 0)
        r->baseline = 0;
    return 0;
}

/* ---- the paired bootstrap ---- */

/* F1 of N, A, O, ~ and CinC F1 of one job's predictions with each dev record
 * counted w[i] times (metrics.c's definitions, zero_division = 0). */
static void weighted_scores(const rp_report *r, const int *pred, const int *w, double out[RP_NSTAT])
{
    metrics m;
    metrics_init(&m, RP_K);
    for (int i = 0; i < r->nrec; i++)
        m.confusion[r->labels[i]][pred[i]] += w[i];
    metrics_finish(&m);
    for (int k = 0; k < RP_K; k++)
        out[k] = m.f1[k];
    out[RP_K] = m.cinc_f1;
}

/* numpy.percentile's default (linear between order statistics). */
static double percentile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* For configuration c against the baseline: pairs done jobs by seed; the
 * difference is the mean over pairs of (F1_c - F1_base) on the dev records;
 * each of B resamples draws n records with replacement (one draw shared by
 * every pair and both sides, so record difficulty cancels) and recomputes it.
 * The CI is the 2.5th and 97.5th percentile of the B differences. Every
 * comparison restarts the generator at the same seed, so a report is
 * reproducible and each comparison sees the same resamples. */
static int compare(const rp_report *r, int c, rp_compare *out, rerr *e)
{
    const rp_config *g = &r->cfgs[c], *b = &r->cfgs[r->baseline];
    int *pa = calloc((size_t)g->njobs + 1, sizeof *pa), *pb = calloc((size_t)g->njobs + 1, sizeof *pb);
    int *w = calloc((size_t)r->nrec + 1, sizeof *w);
    int B = r->o.bootstrap;
    double *samples = calloc((size_t)B * RP_NSTAT + 1, sizeof *samples);
    if (!pa || !pb || !w || !samples) {
        free(pa), free(pb), free(w), free(samples);
        return rerr_set(e, "out of memory");
    }
    memset(out, 0, sizeof *out);
    out->cfg = c;
    for (int q = 0; q < g->njobs; q++) {
        const rp_job *j = &r->jobs[g->jobs[q]];
        if (j->status != RP_DONE)
            continue;
        for (int s = 0; s < b->njobs; s++) {
            const rp_job *k = &r->jobs[b->jobs[s]];
            if (k->status == RP_DONE && k->seed == j->seed) {
                pa[out->npairs] = g->jobs[q];
                pb[out->npairs] = b->jobs[s];
                out->npairs++;
                break;
            }
        }
    }
    for (int s = 0; s < RP_NSTAT; s++)
        out->diff[s] = out->lo[s] = out->hi[s] = NAN;
    if (out->npairs > 0) {
        double sa[RP_NSTAT], sb[RP_NSTAT];
        for (int i = 0; i < r->nrec; i++)
            w[i] = 1;
        for (int s = 0; s < RP_NSTAT; s++)
            out->diff[s] = 0;
        for (int p = 0; p < out->npairs; p++) {
            weighted_scores(r, r->jobs[pa[p]].pred, w, sa);
            weighted_scores(r, r->jobs[pb[p]].pred, w, sb);
            for (int s = 0; s < RP_NSTAT; s++)
                out->diff[s] += (sa[s] - sb[s]) / out->npairs;
        }
        rng gen;
        rng_seed(&gen, r->o.seed);
        for (int it = 0; it < B; it++) {
            memset(w, 0, sizeof *w * (size_t)r->nrec);
            for (int i = 0; i < r->nrec; i++)
                w[rng_below(&gen, (uint32_t)r->nrec)]++;
            double d[RP_NSTAT] = {0};
            for (int p = 0; p < out->npairs; p++) {
                weighted_scores(r, r->jobs[pa[p]].pred, w, sa);
                weighted_scores(r, r->jobs[pb[p]].pred, w, sb);
                for (int s = 0; s < RP_NSTAT; s++)
                    d[s] += (sa[s] - sb[s]) / out->npairs;
            }
            for (int s = 0; s < RP_NSTAT; s++)
                samples[(size_t)s * B + it] = d[s];
        }
        for (int s = 0; s < RP_NSTAT; s++) {
            double *x = samples + (size_t)s * B;
            qsort(x, (size_t)B, sizeof *x, cmp_double);
            out->lo[s] = percentile(x, B, 0.025);
            out->hi[s] = percentile(x, B, 0.975);
        }
    }
    free(pa), free(pb), free(w), free(samples);
    return 0;
}

static const char *stat_name(int s)
{
    static const char *const n[RP_NSTAT] = {"N", "A", "O", "~", "CinC"};
    return n[s];
}

static int is_noise(const rp_compare *m, int s)
{
    return m->lo[s] <= 0 && m->hi[s] >= 0;
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
        util_csv_field(fp, j->variant, 0);
        for (int k = 0; k < r->nkeys; k++)
            util_csv_field(fp, j->ov_val[k] ? j->ov_val[k] : "", 0);
        snprintf(b, sizeof b, "%" PRIu64, j->seed);
        util_csv_field(fp, b, 0);
        util_csv_field(fp, status_name(j->status), 0);
        for (int k = 0; k < RP_K; k++)
            out_num(fp, done ? j->f1[k] : NAN);
        out_num(fp, done ? j->cinc : NAN);
        out_num(fp, done ? j->macro : NAN);
        out_num(fp, done ? j->weighted : NAN);
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
    fprintf(fp, "# Jobs of %s\n\n%s.\n\n| id | variant |", r->dir, r->summary);
    for (int k = 0; k < r->nkeys; k++) {
        fputc(' ', fp);
        md_text(fp, r->keys[k]);
        fputs(" |", fp);
    }
    fputs(" seed | status | N | A | O | ~ | CinC | macro | weighted | epochs | best | wall s | device |\n|",
          fp);
    for (int k = 0; k < r->nkeys + 15; k++)
        fputs("---|", fp);
    fputc('\n', fp);
    for (int i = 0; i < r->njobs; i++) {
        const rp_job *j = &r->jobs[i];
        fprintf(fp, "| %s | ", j->id);
        md_text(fp, j->variant);
        fputs(" |", fp);
        for (int k = 0; k < r->nkeys; k++) {
            fputc(' ', fp);
            md_text(fp, j->ov_val[k] ? j->ov_val[k] : "");
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
            out_num(fp, g->mean[s]);
            out_num(fp, g->sd[s]);
        }
        fputc('\n', fp);
    }
    for (size_t i = 0; r->o.published && i < sizeof published / sizeof *published; i++) {
        util_csv_field(fp, published[i].name, 1);
        util_csv_field(fp, "published", 0);
        util_csv_field(fp, "unexplained (probably weighted_f1)", 0);
        fputs(",,,", fp);
        for (int s = 0; s <= RP_K; s++) {
            out_num(fp, published[i].v[s]);
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
            r->dir, r->summary, rp_total_title(r->o.total));
    fputs("| variant | N | A | O | ~ | Total | seeds | missing |\n|---|---|---|---|---|---|---|---|\n",
          fp);
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        fputs("| ", fp);
        md_text(fp, g->label);
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

/* One sentence per comparison: which differences are real. */
void rp_verdict(const rp_report *r, const rp_compare *m, char *buf, size_t n)
{
    const char *a = r->cfgs[m->cfg].label, *b = r->cfgs[r->baseline].label;
    if (m->npairs == 0) {
        snprintf(buf, n, "%s vs %s: no seed finished on both sides; nothing to compare yet.", a, b);
        return;
    }
    size_t o = (size_t)snprintf(buf, n, "%s vs %s (%d paired seed%s): ", a, b, m->npairs,
                                m->npairs == 1 ? "" : "s");
    int real = 0;
    for (int s = 0; s < RP_NSTAT && o < n; s++)
        if (!is_noise(m, s)) {
            o += (size_t)snprintf(buf + o, n - o, "%s%s F1 %s by %.3f", real ? "; " : "",
                                  stat_name(s), m->diff[s] > 0 ? "higher" : "lower", fabs(m->diff[s]));
            real++;
        }
    if (o < n)
        snprintf(buf + o, n - o, "%s", real == RP_NSTAT ? " (every 95% interval excludes 0)."
                                   : real ? " (95% intervals exclude 0); the rest is noise."
                                            : "every difference is within noise (each 95% interval contains 0).");
}

static int write_significance(const rp_report *r, const char *out, FILE *msg, rerr *e)
{
    char p[4200], line[1200];
    afile af;
    snprintf(p, sizeof p, "%s/significance.csv", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    static const char *const cols[] = {"variant", "baseline", "metric", "paired_seeds", "diff",
                                       "ci_low", "ci_high", "verdict"};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        util_csv_field(fp, cols[c], c == 0);
    fputc('\n', fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        for (int s = 0; s < RP_NSTAT; s++) {
            char b[32];
            util_csv_field(fp, r->cfgs[m->cfg].label, 1);
            util_csv_field(fp, r->cfgs[r->baseline].label, 0);
            util_csv_field(fp, s < RP_K ? stat_name(s) : "cinc_f1", 0);
            snprintf(b, sizeof b, "%d", m->npairs);
            util_csv_field(fp, b, 0);
            out_num(fp, m->diff[s]);
            out_num(fp, m->lo[s]);
            out_num(fp, m->hi[s]);
            util_csv_field(fp, m->npairs == 0 ? "no pairs" : is_noise(m, s) ? "noise" : "real", 0);
            fputc('\n', fp);
        }
    }
    if (afile_commit(&af, e))
        return -1;

    snprintf(p, sizeof p, "%s/significance.md", out);
    if (afile_open(&af, p, e))
        return -1;
    fp = af.fp;
    fprintf(fp, "# Differences from %s\n\n%s. Paired bootstrap over dev records, %d resamples, "
                "seed %" PRIu64 "; 95%% percentile intervals of the mean over paired seeds of "
                "(variant - baseline). \"noise\": the interval contains 0.\n\n",
            r->cfgs[r->baseline].label, r->summary, r->o.bootstrap, r->o.seed);
    fputs("| variant | seeds | N | A | O | ~ | CinC F1 |\n|---|---|---|---|---|---|---|\n", fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        fputs("| ", fp);
        md_text(fp, r->cfgs[m->cfg].label);
        fprintf(fp, " | %d |", m->npairs);
        for (int s = 0; s < RP_NSTAT; s++) {
            if (m->npairs == 0)
                fputs(" missing |", fp);
            else
                fprintf(fp, " %+.3f [%+.3f, %+.3f]%s |", m->diff[s], m->lo[s], m->hi[s],
                        is_noise(m, s) ? " noise" : " **real**");
        }
        fputc('\n', fp);
    }
    fputc('\n', fp);
    for (int i = 0; i < r->ncmp; i++) {
        rp_verdict(r, &r->cmp[i], line, sizeof line);
        fprintf(fp, "- %s\n", line);
        if (msg)
            fprintf(msg, "%s\n", line);
    }
    return afile_commit(&af, e);
}

int report_run(const char *results_dir, const report_opts *o, FILE *msg, rerr *e)
{
    rp_report r;
    memset(&r, 0, sizeof r);
    r.dir = results_dir;
    r.o = *o;
    if (r.o.bootstrap < 1)
        return rerr_set(e, "--bootstrap: need at least 1 resample");
    char out[4000], p[4300];
    /* 4000 leaves room for the longest file name in the writers' 4200-byte paths */
    if (snprintf(out, sizeof out, "%s%s", o->out ? o->out : results_dir, o->out ? "" : "/report") >=
        (int)sizeof out)
        return rerr_set(e, "%s: output path too long", o->out ? o->out : results_dir);
    int rc = -1;
    if (read_jobs_tsv(&r, e) || split_overrides(&r, e))
        goto done;
    journal_ctx jc = {&r, calloc((size_t)r.njobs, sizeof(int))};
    if (!jc.by_id) {
        rerr_set(e, "out of memory");
        goto done;
    }
    for (int i = 0; i < r.njobs; i++)
        jc.by_id[i] = i;
    qsort_r(jc.by_id, (size_t)r.njobs, sizeof *jc.by_id, cmp_id, &r);
    snprintf(p, sizeof p, "%s/journal.log", results_dir);
    int jrc = journal_read(p, journal_visit, &jc, e);
    free(jc.by_id);
    if (jrc || read_run_dirs(&r, e) || group_configs(&r, e) || pick_baseline(&r, e))
        goto done;
    r.cmp = calloc((size_t)r.ncfgs, sizeof *r.cmp);
    if (!r.cmp) {
        rerr_set(e, "out of memory");
        goto done;
    }
    for (int c = 0; c < r.ncfgs; c++)
        if (c != r.baseline && compare(&r, c, &r.cmp[r.ncmp++], e))
            goto done;
    if (util_mkdir_p(out, e))
        goto done;
    if (msg)
        fprintf(msg, "%s: %s; Total is %s; baseline %s\n", results_dir, r.summary,
                rp_total_title(r.o.total), r.cfgs[r.baseline].label);
    snprintf(p, sizeof p, "%s/report.html", out);
    if (write_jobs(&r, out, e) || write_table1(&r, out, e) || write_significance(&r, out, msg, e) ||
        rp_write_html(&r, p, e))
        goto done;
    if (msg)
        fprintf(msg, "wrote %s/{jobs,table1,significance}.{csv,md} and report.html\n", out);
    rc = 0;
done:
    report_free(&r);
    return rc;
}

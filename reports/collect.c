/* Collecting a sweep output directory (or two) for the report
 * (report_data.h: rp_collect): jobs.tsv and the journal of each set, every
 * job's run directory (trusted only as a whole, rundir.h), the grouping
 * into configurations and the baseline. CSV is read with libcsv's parser. */
#define _GNU_SOURCE
#include "report_data.h"

#include <csv.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "run/metrics.h"
#include "run/rundir.h"

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
    if (util_read_file_kind(path, UTIL_TEXT, 0, &text, &len, e))
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

/* ---- collecting the sweep ---- */

static char *xstrdup(const char *s, rerr *e)
{
    char *d = strdup(s);
    if (!d)
        rerr_set(e, "out of memory");
    return d;
}

void rp_report_free(rp_report *r)
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

static int id_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* A job listed twice would count twice in every mean and sd: refuse it. */
static int jobs_unique(const rp_job *jobs, int n, const char *path, rerr *e)
{
    char(*ids)[13] = malloc(sizeof *ids * (size_t)(n ? n : 1));
    if (!ids)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < n; i++)
        memcpy(ids[i], jobs[i].id, 13);
    qsort(ids, (size_t)n, sizeof *ids, id_cmp);
    int rc = 0;
    for (int i = 1; i < n && rc == 0; i++)
        if (strcmp(ids[i], ids[i - 1]) == 0)
            rc = rerr_set(e, "%s: job %s is listed twice: the file is damaged (`sweep run` writes it "
                             "anew)", path, ids[i]);
    free(ids);
    return rc;
}

/* jobs.tsv: "# comment", then "ID\tVARIANT\tSEED\tOVERRIDES" per job (runner/sweep_run.c). */
/* Appends the jobs of set `side` (results directory dir) to r->jobs. */
static int read_jobs_tsv(rp_report *r, const char *dir, int side, rerr *e)
{
    char p[4200], *text;
    size_t len;
    snprintf(p, sizeof p, "%s/jobs.tsv", dir);
    if (!util_file_exists(p))
        return rerr_set(e, "%s: not a sweep output directory (no jobs.tsv)", dir);
    if (util_read_file_kind(p, UTIL_TEXT, 0, &text, &len, e))
        return -1;
    int lines = 1, first = r->njobs;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    void *grown = realloc(r->jobs, sizeof *r->jobs * (size_t)(r->njobs + lines));
    if (!grown) {
        free(text);
        return rerr_set(e, "out of memory");
    }
    r->jobs = grown;
    memset(r->jobs + r->njobs, 0, sizeof *r->jobs * (size_t)lines);
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
            j->side = side;
            j->seed = seed;
            j->status = RP_MISSING;
            if (!(j->variant = xstrdup(f[1], e)) || !(j->overrides = xstrdup(f[3], e)))
                rc = -1;
        }
        l = nl ? nl + 1 : NULL;
    }
    free(text);
    if (rc == 0 && r->njobs == first)
        rc = rerr_set(e, "%s: no jobs", p);
    if (rc == 0)
        rc = jobs_unique(r->jobs + first, r->njobs - first, p, e);
    return rc;
}

/* The journal walk looks jobs up by id through an index sorted by id, so a
 * 100,000-job sweep's journal is read in n log n, not n^2. */
typedef struct journal_ctx {
    rp_report *r;
    int *by_id; /* the set's jobs, sorted by id */
    int n;
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
    int lo = 0, hi = jc->n - 1;
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
    for (int q = lo; q == hi && q < jc->n && strcmp(r->jobs[jc->by_id[q]].id, en->id) == 0; q++) {
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

/* Why two jobs' records differ: within a sweep, or between the two sets. */
static const char *records_why(const rp_report *r, const rp_job *j)
{
    return j->side != r->records_side ? "the two result sets do not share their dev records"
                                      : "the jobs were not scored on the same dev records";
}

/* predictions.csv: record,label,pred,p_N,... The first done job fixes the
 * dev records; every other (of either set) must list the same ones in the
 * same order, or the comparisons would pair different records. */
static int read_predictions(rp_report *r, rp_job *j, const char *path, rerr *e)
{
    csv_rows t;
    if (rows_read(path, &t, e))
        return -1;
    int n = t.n > 1 ? t.n - 1 : 0, rc = 0, first = r->records == NULL;
    if (n == 0)
        rc = rerr_set(e, "%s: no records", path);
    else if (!first && n != r->nrec)
        rc = rerr_set(e, "%s: %d records, but %s has %d: %s", path, n, r->records_src, r->nrec,
                      records_why(r, j));
    if (rc == 0 && first) {
        snprintf(r->records_src, sizeof r->records_src, "%s", path);
        r->records_side = j->side;
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
            rc = rerr_set(e, "%s:%d: record %s (%s), but %s has %s (%s) there: %s", path, i + 2,
                          row->f[0], row->f[1], r->records_src, r->records[i],
                          metrics_class_name(r->labels[i]), records_why(r, j));
            break;
        }
        j->pred[i] = pr;
        j->conf[lab][pr]++;
    }
    rows_free(&t);
    return rc;
}

/* A job counts only when its run directory is whole (rundir.h): its
 * complete.txt there and every file as it was when the run ended. Results
 * without one (an older resecg) or changed since are errors, not gaps; and
 * one report's jobs come from one data set. */
static int run_dir_whole(const char *dir, const rp_job *j, char *first_fp, char *first_id,
                         rerr *e)
{
    char p[4400], fp[RUNDIR_FP_SIZE];
    snprintf(p, sizeof p, "%s/%s", dir, j->id);
    rerr why;
    if (!rundir_is_complete(p, NULL, &why)) {
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_COMPLETE, dir, j->id);
        if (util_file_exists(p))
            return rerr_set(e, "%s", why.msg);
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_F1, dir, j->id);
        if (util_file_exists(p))
            return rerr_set(e, "%s/%s: finished by an older resecg without %s: `resecg sweep "
                               "adopt SWEEP_FILE --out ...` records it, if it ran on the sweep's "
                               "data as it is now", dir, j->id, RUNDIR_COMPLETE);
        return 0; /* failed (journal) or missing */
    }
    if (rundir_recorded_fingerprint(p, fp, e) != 0)
        return -1;
    /* sets A and B too: they are scored on the same dev records */
    if (!first_fp[0]) {
        snprintf(first_fp, RUNDIR_FP_SIZE, "%s", fp);
        snprintf(first_id, 13, "%s", j->id);
    } else if (strcmp(first_fp, fp) != 0) {
        return rerr_set(e, "%s: jobs %s and %s were trained on different data (%s, %s): one "
                           "report compares runs on one data set", dir, first_id, j->id,
                        first_fp, fp);
    }
    return 1;
}

static int read_run_dirs(rp_report *r, rerr *e)
{
    char p[4400];
    char first_fp[RUNDIR_FP_SIZE] = "", first_id[13] = "";
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        const char *dir = j->side ? r->dir_b : r->dir;
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_EPOCHS, dir, j->id);
        if (util_file_exists(p) && read_epochs(j, p, e))
            return -1;
        int whole = run_dir_whole(dir, j, first_fp, first_id, e);
        if (whole < 0)
            return -1;
        if (!whole)
            continue;
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_F1, dir, j->id);
        j->status = RP_DONE;
        if (read_f1(r, j, p, e))
            return -1;
        snprintf(p, sizeof p, "%s/%s/" RUNDIR_PREDICTIONS, dir, j->id);
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
                                dir, j->id, j->f1[k], metrics_class_name(k), m.f1[k]);
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

/* The configuration job j belongs to: the same set, variant and overrides;
 * a new one (appended) when none has them yet. -1 on out of memory. */
static int config_of(rp_report *r, const rp_job *j, rerr *e)
{
    int c = 0;
    while (c < r->ncfgs && !(r->cfgs[c].side == j->side && strcmp(r->cfgs[c].variant, j->variant) == 0 &&
                             strcmp(r->jobs[r->cfgs[c].jobs[0]].overrides, j->overrides) == 0))
        c++;
    if (c < r->ncfgs)
        return c;
    rp_config *g = &r->cfgs[r->ncfgs++];
    const char *prefix = !r->dir_b ? "" : j->side ? "B: " : "A: ";
    size_t n = strlen(prefix) + strlen(j->variant) + strlen(j->overrides) + 16 * (size_t)r->nkeys + 2;
    g->label = malloc(n);
    g->variant = strdup(j->variant);
    g->jobs = calloc((size_t)r->njobs, sizeof *g->jobs);
    if (!g->label || !g->variant || !g->jobs)
        return rerr_set(e, "out of memory");
    g->side = j->side;
    /* the label names only the overrides that tell configurations apart: a
     * grid axis with one value adds nothing but width */
    size_t o = (size_t)snprintf(g->label, n, "%s%s", prefix, j->variant);
    g->name = g->label + strlen(prefix);
    for (int k = 0; k < r->nkeys && o < n; k++)
        if (key_varies(r, k))
            o += (size_t)snprintf(g->label + o, n - o, " %s=%s", r->keys[k],
                                  j->ov_val[k] ? j->ov_val[k] : "(unset)");
    return c;
}

/* Table 1's numbers of g: mean and sample sd over finished seeds, the summed
 * confusion matrix. */
static void config_stats(const rp_report *r, rp_config *g)
{
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

/* Configurations: jobs with the same set, variant and overrides, in order of
 * first appearance (jobs are seed-major, so that is the sweep's order; set
 * A's before B's). */
static int group_configs(rp_report *r, rerr *e)
{
    size_t cap = r->njobs > 0 ? (size_t)r->njobs : 1; /* njobs >= 0; also tells gcc so */
    r->cfgs = calloc(cap, sizeof *r->cfgs);
    if (!r->cfgs)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < r->njobs; i++) {
        rp_job *j = &r->jobs[i];
        int c = config_of(r, j, e);
        if (c < 0)
            return -1;
        rp_config *g = &r->cfgs[c];
        j->cfg = c;
        g->jobs[g->njobs++] = i;
        g->ndone += j->status == RP_DONE;
        g->nfailed += j->status == RP_FAILED;
        r->ndone += j->status == RP_DONE;
        r->nfailed += j->status == RP_FAILED;
        r->nmissing += j->status == RP_MISSING;
    }
    for (int c = 0; c < r->ncfgs; c++)
        config_stats(r, &r->cfgs[c]);
    snprintf(r->summary, sizeof r->summary, "%d of %d jobs finished (%d failed, %d missing)",
             r->ndone, r->njobs, r->nfailed, r->nmissing);
    return 0;
}

/* The baseline: --baseline names a configuration (label, else variant) of
 * the (first) set; without it, one sweep uses plain, ce or the first, and
 * two sets compare like with like (no single baseline). */
static int pick_baseline(rp_report *r, rerr *e)
{
    r->baseline = -1;
    if (r->o.baseline) {
        for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
            if (r->cfgs[c].side == 0 && strcmp(r->cfgs[c].name, r->o.baseline) == 0)
                r->baseline = c;
        for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
            if (r->cfgs[c].side == 0 && strcmp(r->cfgs[c].variant, r->o.baseline) == 0)
                r->baseline = c;
        if (r->baseline < 0)
            return rerr_set(e, "--baseline %s: no such variant in %s", r->o.baseline, r->dir);
        return 0;
    }
    if (r->dir_b)
        return 0;
    for (int c = 0; c < r->ncfgs && r->baseline < 0; c++)
        if (strcmp(r->cfgs[c].variant, "plain") == 0 || strcmp(r->cfgs[c].variant, "ce") == 0)
            r->baseline = c;
    if (r->baseline < 0)
        r->baseline = 0;
    return 0;
}

/* Reads one set: jobs.tsv (appended to r->jobs) and the journal. */
static int read_set(rp_report *r, const char *dir, int side, rerr *e)
{
    char p[4300];
    int first = r->njobs;
    if (read_jobs_tsv(r, dir, side, e))
        return -1;
    journal_ctx jc = {r, calloc((size_t)(r->njobs - first), sizeof(int)), r->njobs - first};
    if (!jc.by_id)
        return rerr_set(e, "out of memory");
    for (int i = 0; i < jc.n; i++)
        jc.by_id[i] = first + i;
    qsort_r(jc.by_id, (size_t)jc.n, sizeof *jc.by_id, cmp_id, r);
    snprintf(p, sizeof p, "%s/journal.log", dir);
    int rc = journal_read(p, journal_visit, &jc, e);
    free(jc.by_id);
    return rc;
}

int rp_collect(rp_report *r, rerr *e)
{
    return read_set(r, r->dir, 0, e) || (r->dir_b && read_set(r, r->dir_b, 1, e)) ||
                   split_overrides(r, e) || read_run_dirs(r, e) || group_configs(r, e) ||
                   pick_baseline(r, e)
               ? -1
               : 0;
}

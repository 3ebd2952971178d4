/* Checks `resecg report` (reports/) without training: a tiny sweep file is
 * expanded with runner/sweep.h, and each job's run directory is written the
 * way the runner and trainer write it, with predictions this test chooses.
 * Expected F1, means and standard deviations come from an independent F1
 * (2TP / (2TP + FP + FN)) computed here; the outputs are read back with
 * libcsv's parser. Covers quoting of override values, failed and missing
 * jobs (never zeros), completion of a sweep in progress, bootstrap
 * reproducibility, a clearly better variant (CI excludes 0) and an identical
 * one (CI contains 0), mismatched dev records, and, where chromium exists,
 * that the HTML renders. */
#include <check.h>
#include <csv.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "sweep.h"
#include "testutil.h"

#define NREC 200
#define NV 4 /* plain, weighted, focal, broken */
#define NSEED 3

static const char *sweep_text =
    "name: t\n"
    "config: cfgs/small.yaml\n"
    "variants:\n"
    "  plain: {loss.kind: ce}\n"
    "  weighted: {loss.kind: weighted, loss.class_weights: balanced}\n"
    "  focal: {loss.kind: focal, loss.gamma: 2}\n"
    "  broken: {loss.kind: focal, loss.gamma: 5}\n"
    "grid:\n"
    "  loss.alpha: [[1, 2, 1, 1]]\n"
    "seeds: 3\n";

static const char *cls[4] = {"N", "A", "O", "~"};

/* Record i's true class: 100 N, 40 A, 40 O, 20 ~. */
static int truth(int i)
{
    return i < 100 ? 0 : i < 140 ? 1 : i < 180 ? 2 : 3;
}

/* The test's chosen predictions. plain: the first err[c] records of class c
 * go to class c+1, plus `seed` more N records (so seeds differ); weighted:
 * identical to plain; focal: far fewer errors; broken never finishes. */
static int predict(int v, uint64_t seed, int i)
{
    static const int err_plain[4] = {10, 8, 8, 6}, err_focal[4] = {2, 1, 1, 1};
    static const int first[4] = {0, 100, 140, 180};
    int c = truth(i), k = i - first[c];
    const int *err = v == 2 ? err_focal : err_plain;
    int extra = c == 0 && v != 2 ? (int)seed : 0;
    return k < err[c] + extra ? (c + 1) % 4 : c;
}

/* Job status in the test sweep: broken fails everywhere; focal seed 3
 * failed; weighted seed 3 never started (missing). */
enum { DONE, FAILED, MISSING };
static int job_state(int v, uint64_t seed)
{
    if (v == 3 || (v == 2 && seed == 3))
        return FAILED;
    if (v == 1 && seed == 3)
        return MISSING;
    return DONE;
}

/* Independent F1: 2TP / (2TP + FP + FN), 0 when the class is absent everywhere. */
static void f1_of(const int *pred, const int *w, double f1[5])
{
    long tp[4] = {0}, fp[4] = {0}, fn[4] = {0};
    for (int i = 0; i < NREC; i++) {
        int t = truth(i), p = pred[i], n = w ? w[i] : 1;
        if (t == p)
            tp[t] += n;
        else {
            fp[p] += n;
            fn[t] += n;
        }
    }
    for (int c = 0; c < 4; c++) {
        long d = 2 * tp[c] + fp[c] + fn[c];
        f1[c] = d ? 2.0 * tp[c] / d : 0;
    }
    f1[4] = (f1[0] + f1[1] + f1[2]) / 3; /* CinC: mean of N, A, O */
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

/* Builds results/<t>/ in root the way `sweep run` lays it out; returns the
 * number of jobs. expected[v][seed-1][5] gets the F1s of done jobs. */
static int build_results(const char *root, double expected[NV][NSEED][5])
{
    sweep sw;
    sweep_plan plan;
    rerr e = {{0}};
    ck_assert_msg(sweep_load_string(&sw, sweep_text, strlen(sweep_text), "t.yaml",
                                    testutil_source_dir(), &e) == 0,
                  "%s", e.msg);
    ck_assert_msg(sweep_expand(&sw, &plan, &e) == 0, "%s", e.msg);
    ck_assert_int_eq((int)plan.njobs, NV * NSEED);
    char p[4400], ov[2000], hex[13];
    snprintf(p, sizeof p, "%s/jobs.tsv", root);
    FILE *tsv = fopen(p, "w");
    snprintf(p, sizeof p, "%s/journal.log", root);
    FILE *jr = fopen(p, "w");
    ck_assert(tsv && jr);
    fprintf(tsv, "# sweep t from t.yaml: id, variant, seed, overrides\n");
    for (size_t q = 0; q < plan.njobs; q++) {
        const sweep_job *j = &plan.jobs[q];
        sweep_id_hex(j->id, hex);
        sweep_job_overrides(&plan, j, ov, sizeof ov);
        fprintf(tsv, "%s\t%s\t%" PRIu64 "\t%s\n", hex, sweep_job_variant(&plan, j), j->seed, ov);
        int v = j->variant, st = job_state(v, j->seed);
        fprintf(jr, "2024-05-01T12:00:00.000Z %s queued\n", hex);
        if (st == MISSING)
            continue;
        fprintf(jr, "2024-05-01T12:00:01.000Z %s started attempt=1 pid=100 gpus=%d\n", hex,
                (int)(j->seed % 2));
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", root, hex);
        ck_assert(util_mkdir_p(dir, &e) == 0);
        /* three epochs: dev loss 0.9, 0.6 (best), 0.7; 1.25 + 2.5 + 3 = 6.75 s */
        snprintf(p, sizeof p, "%s/epochs.csv", dir);
        write_text(p, "epoch,train_loss,dev_loss,lr,f1_N,f1_A,f1_O,f1_~,cinc_f1,macro_f1,weighted_f1,seconds\n"
                      "1,1.0,0.9,0.001,0.5,0.5,0.5,0.5,0.5,0.5,0.5,1.25\n"
                      "2,0.8,0.6,0.001,0.6,0.6,0.6,0.6,0.6,0.6,0.6,2.50\n"
                      "3,0.7,0.7,0.001,0.7,0.7,0.7,0.7,0.7,0.7,0.7,3.00\n");
        if (st == FAILED) {
            fprintf(jr, "2024-05-01T12:00:09.000Z %s failed attempt=1 exit=1\n", hex);
            continue;
        }
        int pred[NREC];
        for (int i = 0; i < NREC; i++)
            pred[i] = predict(v, j->seed, i);
        double *f = expected[v][j->seed - 1];
        f1_of(pred, NULL, f);
        snprintf(p, sizeof p, "%s/predictions.csv", dir);
        FILE *fp = fopen(p, "w");
        ck_assert(fp);
        fprintf(fp, "record,label,pred,p_N,p_A,p_O,p_~\n");
        for (int i = 0; i < NREC; i++)
            fprintf(fp, "R%04d,%s,%s,0.25,0.25,0.25,0.25\n", i, cls[truth(i)], cls[pred[i]]);
        fclose(fp);
        /* weighted F1 with supports 100, 40, 40, 20 */
        double wf = (100 * f[0] + 40 * f[1] + 40 * f[2] + 20 * f[3]) / 200;
        double mf = (f[0] + f[1] + f[2] + f[3]) / 4;
        snprintf(p, sizeof p, "%s/f1.csv", dir);
        fp = fopen(p, "w");
        ck_assert(fp);
        fprintf(fp, "class,precision,recall,f1,support\n");
        for (int c = 0; c < 4; c++)
            fprintf(fp, "%s,0.5,0.5,%.6f,%d\n", cls[c], f[c], c == 0 ? 100 : c == 3 ? 20 : 40);
        fprintf(fp, "cinc_f1,,,%.6f,\nmacro_f1,,,%.6f,\nweighted_f1,,,%.6f,200\naccuracy,,,0.5,200\n",
                f[4], mf, wf);
        fclose(fp);
        fprintf(jr, "2024-05-01T12:00:09.000Z %s done attempt=1 seconds=8.0\n", hex);
    }
    fclose(tsv);
    fclose(jr);
    int n = (int)plan.njobs;
    sweep_plan_free(&plan);
    sweep_free(&sw);
    return n;
}

/* ---- reading CSV back with libcsv ---- */

typedef struct table {
    int nrows, ncols[64];
    char *cell[64][32];
    int cur;
} table;

static void tb_field(void *s, size_t len, void *data)
{
    table *t = data;
    ck_assert(t->nrows < 64 && t->cur < 32);
    char *v = malloc(len + 1);
    memcpy(v, s ? s : "", len);
    v[len] = '\0';
    t->cell[t->nrows][t->cur++] = v;
}

static void tb_row(int c, void *data)
{
    table *t = data;
    t->ncols[t->nrows++] = t->cur;
    t->cur = 0;
}

static void table_read(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    char *text;
    size_t len;
    rerr e;
    ck_assert_msg(util_read_file(path, &text, &len, &e) == 0, "%s", e.msg);
    struct csv_parser p;
    ck_assert(csv_init(&p, CSV_STRICT) == 0);
    ck_assert_msg(csv_parse(&p, text, len, tb_field, tb_row, t) == len, "%s: %s", path,
                  csv_strerror(csv_error(&p)));
    ck_assert(csv_fini(&p, tb_field, tb_row, t) == 0);
    csv_free(&p);
    free(text);
}

static void table_free(table *t)
{
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols[r]; c++)
            free(t->cell[r][c]);
}

static int col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols[0]; c++)
        if (strcmp(t->cell[0][c], name) == 0)
            return c;
    ck_abort_msg("no column %s", name);
    return -1;
}

static double num(const table *t, int r, const char *name)
{
    const char *s = t->cell[r][col(t, name)];
    ck_assert_msg(*s, "row %d column %s is empty", r, name);
    return atof(s);
}

static void near(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 2e-6, "%s: got %.9f, want %.9f (diff %.3g)", what, got, want,
                  fabs(got - want));
}

/* ---- the fixture: one results directory shared by the tests ---- */

static char tmp[1024], res[1100];
static double expected[NV][NSEED][5];

static void setup(void)
{
    testutil_mkdtemp(tmp, sizeof tmp, "report");
    snprintf(res, sizeof res, "%s/t", tmp);
    rerr e;
    ck_assert(util_mkdir_p(res, &e) == 0);
    memset(expected, 0, sizeof expected);
    build_results(res, expected);
}

/* RESECG_TEST_KEEP=1 keeps the results and reports for a look (path printed). */
static void teardown(void)
{
    if (getenv("RESECG_TEST_KEEP")) {
        printf("kept %s\n", tmp);
        return;
    }
    testutil_rmtree(tmp);
}

static void run_report(const char *out, uint64_t seed, int published, char **msg)
{
    report_opts o;
    report_opts_default(&o);
    o.out = out;
    o.seed = seed;
    o.bootstrap = 500;
    o.published = published;
    size_t n;
    FILE *m = open_memstream(msg, &n);
    rerr e = {{0}};
    int rc = report_run(res, &o, m, &e);
    fclose(m);
    ck_assert_msg(rc == 0, "report_run: %s", e.msg);
}

START_TEST(jobs_csv)
{
    char out[1200], p[4400], *msg;
    snprintf(out, sizeof out, "%s/rep", tmp);
    run_report(out, 1, 0, &msg);
    free(msg);
    table t;
    snprintf(p, sizeof p, "%s/jobs.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + NV * NSEED);
    int alpha = col(&t, "loss.alpha");
    const char *variants[NV] = {"plain", "weighted", "focal", "broken"};
    for (int r = 1; r < t.nrows; r++) {
        int v = 0;
        while (v < NV && strcmp(variants[v], t.cell[r][col(&t, "variant")]) != 0)
            v++;
        ck_assert_int_lt(v, NV);
        uint64_t seed = strtoull(t.cell[r][col(&t, "seed")], NULL, 10);
        ck_assert(seed >= 1 && seed <= NSEED);
        /* the override value has commas and survived quoting */
        ck_assert_str_eq(t.cell[r][alpha], "[1, 2, 1, 1]");
        int st = job_state(v, seed);
        const char *status = t.cell[r][col(&t, "status")];
        ck_assert_str_eq(status, st == DONE ? "done" : st == FAILED ? "failed" : "missing");
        static const char *const f1cols[5] = {"f1_N", "f1_A", "f1_O", "f1_~", "cinc_f1"};
        for (int s = 0; s < 5; s++) {
            if (st == DONE)
                near(num(&t, r, f1cols[s]), expected[v][seed - 1][s], f1cols[s]);
            else /* unfinished: empty, never 0 */
                ck_assert_str_eq(t.cell[r][col(&t, f1cols[s])], "");
        }
        if (st == MISSING) {
            ck_assert_str_eq(t.cell[r][col(&t, "epochs")], "");
            ck_assert_str_eq(t.cell[r][col(&t, "device")], "");
        } else {
            ck_assert_int_eq((int)num(&t, r, "epochs"), 3);
            ck_assert_int_eq((int)num(&t, r, "best_epoch"), 2);
            near(num(&t, r, "wall_s"), 6.75, "wall_s");
            ck_assert_str_eq(t.cell[r][col(&t, "device")], seed % 2 ? "gpu 1" : "gpu 0");
        }
    }
    table_free(&t);
    /* the raw file quotes the value */
    char *text;
    size_t len;
    rerr e;
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    ck_assert_ptr_nonnull(strstr(text, "\"[1, 2, 1, 1]\""));
    free(text);
}
END_TEST

START_TEST(table1_csv)
{
    char out[1200], p[4400], *msg;
    snprintf(out, sizeof out, "%s/rep", tmp);
    run_report(out, 1, 1, &msg);
    /* 12 jobs: broken 3 failed, focal seed 3 failed, weighted seed 3 missing */
    ck_assert_msg(strstr(msg, "7 of 12 jobs finished (4 failed, 1 missing)"), "summary: %s", msg);
    free(msg);
    table t;
    snprintf(p, sizeof p, "%s/table1.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + NV + 4); /* + 4 published rows */
    /* n done seeds, failed, missing (all unfinished) per variant */
    static const int want[NV][3] = {{3, 0, 0}, {2, 0, 1}, {2, 1, 1}, {0, 3, 3}};
    static const char *const mcol[5] = {"N", "A", "O", "~", "Total"};
    static const char *const sdcol[5] = {"N_sd", "A_sd", "O_sd", "~_sd", "Total_sd"};
    for (int v = 0; v < NV; v++) {
        int r = 1 + v; /* sweep order */
        static const char *const label[NV] = {"plain", "weighted", "focal", "broken"};
        /* loss.alpha has one value in every job: the label leaves it out */
        ck_assert_str_eq(t.cell[r][col(&t, "variant")], label[v]);
        ck_assert_int_eq((int)num(&t, r, "n_seeds"), want[v][0]);
        ck_assert_int_eq((int)num(&t, r, "n_failed"), want[v][1]);
        ck_assert_int_eq((int)num(&t, r, "n_missing"), want[v][2]);
        ck_assert_str_eq(t.cell[r][col(&t, "total_metric")], "cinc_f1");
        ck_assert_str_eq(t.cell[r][col(&t, "source")], "this sweep");
        int n = want[v][0];
        for (int s = 0; s < 5; s++) {
            if (n == 0) {
                ck_assert_str_eq(t.cell[r][col(&t, mcol[s])], "");
                ck_assert_str_eq(t.cell[r][col(&t, sdcol[s])], "");
                continue;
            }
            double m = 0, sq = 0;
            for (int k = 0; k < n; k++)
                m += expected[v][k][s] / n;
            for (int k = 0; k < n; k++)
                sq += (expected[v][k][s] - m) * (expected[v][k][s] - m);
            near(num(&t, r, mcol[s]), m, mcol[s]);
            near(num(&t, r, sdcol[s]), sqrt(sq / (n - 1)), sdcol[s]);
        }
    }
    /* published rows, labelled, with the note on Total */
    ck_assert_str_eq(t.cell[NV + 1][col(&t, "source")], "published");
    near(num(&t, NV + 1, "O"), 0.737, "published feature-based O");
    near(num(&t, NV + 2, "N"), 0.889, "published N");
    near(num(&t, NV + 3, "~"), 0.742, "published ~");
    near(num(&t, NV + 4, "Total"), 0.841, "published Total");
    ck_assert_ptr_nonnull(strstr(t.cell[NV + 1][col(&t, "total_metric")], "weighted"));
    table_free(&t);
    /* Markdown: the unfinished variant reads "missing", the page says how complete it is */
    char *text;
    size_t len;
    rerr e;
    snprintf(p, sizeof p, "%s/table1.md", out);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    ck_assert_ptr_nonnull(strstr(text, "7 of 12 jobs finished"));
    const char *row = strstr(text, "| broken");
    ck_assert_ptr_nonnull(row);
    ck_assert_msg(strncmp(strstr(row, "|") + 1, " broken", 7) == 0 && strstr(row, "missing"),
                  "%s", row);
    free(text);
}
END_TEST

START_TEST(bootstrap)
{
    char out1[1200], out2[1200], p[4400], *msg;
    snprintf(out1, sizeof out1, "%s/b1", tmp);
    snprintf(out2, sizeof out2, "%s/b2", tmp);
    run_report(out1, 7, 0, &msg);
    free(msg);
    run_report(out2, 7, 0, &msg);
    /* the same seed reproduces every interval to the byte */
    char *a, *b;
    size_t la, lb;
    rerr e;
    snprintf(p, sizeof p, "%s/significance.csv", out1);
    ck_assert(util_read_file(p, &a, &la, &e) == 0);
    snprintf(p, sizeof p, "%s/significance.csv", out2);
    ck_assert(util_read_file(p, &b, &lb, &e) == 0);
    ck_assert(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    table t;
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + 3 * 5); /* weighted, focal, broken vs plain; 5 metrics */
    for (int r = 1; r < t.nrows; r++) {
        const char *var = t.cell[r][col(&t, "variant")];
        const char *metric = t.cell[r][col(&t, "metric")];
        const char *verdict = t.cell[r][col(&t, "verdict")];
        ck_assert_ptr_nonnull(strstr(t.cell[r][col(&t, "baseline")], "plain"));
        if (strncmp(var, "broken", 6) == 0) {
            ck_assert_str_eq(verdict, "no pairs");
            ck_assert_str_eq(t.cell[r][col(&t, "diff")], "");
            continue;
        }
        int v = strncmp(var, "weighted", 8) == 0 ? 1 : 2;
        int s = strcmp(metric, "cinc_f1") == 0 ? 4 : (int)(strchr("NAO~", metric[0]) - "NAO~");
        int pairs = 2; /* seeds 1 and 2 finished on both sides */
        ck_assert_int_eq((int)num(&t, r, "paired_seeds"), pairs);
        double d = 0;
        for (int k = 0; k < pairs; k++)
            d += (expected[v][k][s] - expected[0][k][s]) / pairs;
        double lo = num(&t, r, "ci_low"), hi = num(&t, r, "ci_high");
        near(num(&t, r, "diff"), d, "diff");
        if (v == 1) { /* identical predictions: the interval contains 0 */
            ck_assert_msg(lo <= 0 && hi >= 0, "weighted %s: [%g, %g]", metric, lo, hi);
            ck_assert_str_eq(verdict, "noise");
        } else if (s != 3) { /* focal is better on N, A, O and CinC by construction */
            ck_assert_msg(lo > 0 && lo <= d && d <= hi, "focal %s: %g [%g, %g]", metric, d, lo, hi);
            ck_assert_str_eq(verdict, "real");
        }
    }
    table_free(&t);
    ck_assert_msg(strstr(msg, "every difference is within noise"), "%s", msg);
    free(msg);

    /* an independent bootstrap of CinC F1 for focal vs plain, with this test's
     * own resampling: its interval must overlap the report's closely enough
     * to share the sign (both exclude 0 on the same side) */
    int w[NREC], pp[NREC], pf[NREC];
    unsigned s = 12345;
    int above = 0, B = 300;
    for (int it = 0; it < B; it++) {
        memset(w, 0, sizeof w);
        for (int i = 0; i < NREC; i++) {
            s = s * 1103515245u + 12345u;
            w[(s >> 8) % NREC]++;
        }
        double d = 0, fa[5], fb[5];
        for (uint64_t seed = 1; seed <= 2; seed++) {
            for (int i = 0; i < NREC; i++) {
                pp[i] = predict(0, seed, i);
                pf[i] = predict(2, seed, i);
            }
            f1_of(pf, w, fa);
            f1_of(pp, w, fb);
            d += (fa[4] - fb[4]) / 2;
        }
        above += d > 0;
    }
    ck_assert_int_ge(above, B * 975 / 1000);
}
END_TEST

START_TEST(records_mismatch)
{
    /* rename one dev record in one finished job: the report must refuse */
    char p[4400], *text;
    size_t len;
    rerr e = {{0}};
    snprintf(p, sizeof p, "%s/jobs.tsv", res);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char id[13];
    memcpy(id, strchr(text, '\n') + 1, 12); /* the first job: plain seed 1, done */
    id[12] = '\0';
    free(text);
    snprintf(p, sizeof p, "%s/%s/predictions.csv", res, id);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char *r = strstr(text, "R0005");
    ck_assert_ptr_nonnull(r);
    r[1] = 'X';
    FILE *fp = fopen(p, "w");
    fwrite(text, 1, len, fp);
    fclose(fp);
    free(text);
    report_opts o;
    report_opts_default(&o);
    o.bootstrap = 10;
    ck_assert_int_eq(report_run(res, &o, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "same dev records"), "%s", e.msg);
}
END_TEST

START_TEST(f1_mismatch)
{
    /* an f1.csv that disagrees with its predictions.csv: refused */
    char p[4400], *text;
    size_t len;
    rerr e = {{0}};
    snprintf(p, sizeof p, "%s/jobs.tsv", res);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char id[13];
    memcpy(id, strchr(text, '\n') + 1, 12); /* the first job: plain seed 1, done */
    id[12] = '\0';
    free(text);
    snprintf(p, sizeof p, "%s/%s/f1.csv", res, id);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char *a = strstr(text, "\nA,0.5,0.5,");
    ck_assert_ptr_nonnull(a);
    a[11] = a[11] == '9' ? '1' : '9'; /* the first digit of A's F1 */
    FILE *fp = fopen(p, "w");
    fwrite(text, 1, len, fp);
    fclose(fp);
    free(text);
    report_opts o;
    report_opts_default(&o);
    o.bootstrap = 10;
    ck_assert_int_eq(report_run(res, &o, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "different evaluations"), "%s", e.msg);
}
END_TEST

START_TEST(cli_and_baseline)
{
    /* the binary: bad option -> 2; --baseline focal; --total weighted */
    const char *bin = getenv("RESECG_BIN");
    if (!bin) {
        printf("SKIP cli_and_baseline: RESECG_BIN not set\n");
        return;
    }
    char out[1200], cmd[9000], p[4400];
    snprintf(out, sizeof out, "%s/cli", tmp);
    snprintf(cmd, sizeof cmd, "%s report %s --bogus >/dev/null 2>&1", bin, res);
    int st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof cmd, "%s report %s --out %s --baseline focal --total weighted --bootstrap 50 >/dev/null", bin,
             res, out);
    st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    table t;
    snprintf(p, sizeof p, "%s/table1.csv", out);
    table_read(p, &t);
    ck_assert_str_eq(t.cell[1][col(&t, "total_metric")], "weighted_f1");
    /* plain's Total is now the mean support-weighted F1 over its 3 seeds */
    double m = 0;
    for (int k = 0; k < 3; k++) {
        const double *f = expected[0][k];
        m += (100 * f[0] + 40 * f[1] + 40 * f[2] + 20 * f[3]) / 200 / 3;
    }
    near(num(&t, 1, "Total"), m, "weighted Total");
    table_free(&t);
    snprintf(p, sizeof p, "%s/significance.csv", out);
    table_read(p, &t);
    ck_assert_ptr_nonnull(strstr(t.cell[1][col(&t, "baseline")], "focal"));
    table_free(&t);
}
END_TEST

START_TEST(html_renders)
{
    char out[1200], cmd[9000], dom[1300], *msg;
    snprintf(out, sizeof out, "%s/html", tmp);
    run_report(out, 1, 0, &msg);
    free(msg);
    snprintf(dom, sizeof dom, "%s/dom.html", tmp);
    snprintf(cmd, sizeof cmd,
             "timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
             "--disable-component-update --disable-sync --no-first-run --user-data-dir=%s/profile "
             "--dump-dom file://%s/report.html > %s 2>/dev/null",
             tmp, out, dom);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chromium exit %d", st);
    char *text;
    size_t len;
    rerr e;
    ck_assert(util_read_file(dom, &text, &len, &e) == 0);
    ck_assert_ptr_nonnull(strstr(text, "<table"));
    ck_assert_ptr_nonnull(strstr(text, "<svg"));
    ck_assert_ptr_nonnull(strstr(text, "<polyline"));
    ck_assert_ptr_nonnull(strstr(text, "7 of 12 jobs finished"));
    free(text);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, jobs_csv);
    tcase_add_test(tc, table1_csv);
    tcase_add_test(tc, bootstrap);
    tcase_add_test(tc, records_mismatch);
    tcase_add_test(tc, f1_mismatch);
    tcase_add_test(tc, cli_and_baseline);
    if (access("/usr/bin/chromium", X_OK) == 0)
        tcase_add_test(tc, html_renders);
    else
        printf("SKIP html_renders: /usr/bin/chromium not found\n");
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

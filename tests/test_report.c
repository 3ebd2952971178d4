/* Checks `resecg report` (reports/) without training: a tiny sweep file is
 * expanded with runner/sweep.h, and each job's run directory is written the
 * way the runner and trainer write it, with predictions this test chooses.
 * Expected F1, means and standard deviations come from an independent F1
 * (2TP / (2TP + FP + FN)) computed here; the outputs are read back with
 * libcsv's parser. Covers quoting of override values, failed and missing
 * jobs (never zeros), completion of a sweep in progress, reproducible
 * verdicts, a clearly better variant (real), one like the baseline (noise),
 * one with too few seeds, Holm's correction recomputed here, two result
 * sets compared (A/A and against a baseline; mismatched dev records
 * refused), the LaTeX tables' structure, the log axis of the dev-loss
 * curves, and, where chromium exists, that the HTML renders. */
#include <check.h>
#include <csv.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "run/rundir.h"
#include "stats.h"
#include "sweep.h"
#include "testutil.h"

#define NREC 400
#define NV 5 /* plain, weighted, focal, broken, few_seeds */
#define NSEED 6

/* Set A: train.seed 1..6. Set B (the second results directory): the same
 * sweep with seeds 7..12, as a second run of the file would be. */
static const char *sweep_text =
    "name: t\n"
    "config: cfgs/small.yaml\n"
    "variants:\n"
    "  plain: {loss.kind: ce}\n"
    "  weighted: {loss.kind: weighted, loss.class_weights: balanced}\n"
    "  focal: {loss.kind: focal, loss.gamma: 2}\n"
    "  broken: {loss.kind: focal, loss.gamma: 5}\n"
    "  few_seeds: {loss.kind: focal, loss.gamma: 1}\n"
    "grid:\n"
    "  loss.alpha: [[1, 2, 1, 1]]\n"
    "seeds: 6\n";
static const char *sweep_text_b =
    "name: t\n"
    "config: cfgs/small.yaml\n"
    "variants:\n"
    "  plain: {loss.kind: ce}\n"
    "  weighted: {loss.kind: weighted, loss.class_weights: balanced}\n"
    "  focal: {loss.kind: focal, loss.gamma: 2}\n"
    "  broken: {loss.kind: focal, loss.gamma: 5}\n"
    "  few_seeds: {loss.kind: focal, loss.gamma: 1}\n"
    "grid:\n"
    "  loss.alpha: [[1, 2, 1, 1]]\n"
    "seeds: [7, 8, 9, 10, 11, 12]\n";

static const char *cls[4] = {"N", "A", "O", "~"};
static const int support[4] = {200, 80, 80, 40};

/* Record i's true class: 200 N, 80 A, 80 O, 40 ~. */
static int truth(int i)
{
    return i < 200 ? 0 : i < 280 ? 1 : i < 360 ? 2 : 3;
}

/* Extra N errors of a plain-like run with this seed: 0..6, scrambled, so
 * seeds differ and seeds 7..12 are spread like 1..6. */
static int extra_errors(uint64_t seed)
{
    return (int)(seed * 5 % 7);
}

/* The test's chosen predictions. plain: the first err[c] records of class c
 * go to class c+1, plus extra_errors(seed) more N records; weighted: plain's
 * rule with the next seed (alike, not identical); few_seeds: plain's rule;
 * focal: far fewer errors; broken never finishes. */
static int predict(int v, uint64_t seed, int i)
{
    static const int err_plain[4] = {30, 20, 20, 10}, err_focal[4] = {2, 1, 1, 1};
    static const int first[4] = {0, 200, 280, 360};
    int c = truth(i), k = i - first[c];
    const int *err = v == 2 ? err_focal : err_plain;
    int extra = c == 0 && v != 2 ? extra_errors(v == 1 ? seed + 1 : seed) : 0;
    return k < err[c] + extra ? (c + 1) % 4 : c;
}

/* Job status by the seed's rank (1..6) in its set: broken fails everywhere;
 * focal's sixth seed failed; weighted's sixth never started (missing);
 * few_seeds finished only its first two. */
enum { DONE, FAILED, MISSING };
static int job_state(int v, int rank)
{
    if (v == 3 || (v == 2 && rank == 6))
        return FAILED;
    if ((v == 1 && rank == 6) || (v == 4 && rank > 2))
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

/* Builds results/<t>/ in root the way `sweep run` lays it out from the sweep
 * text; returns the number of jobs. expected[v][rank-1][5] gets the F1s of
 * done jobs (rank: the seed's place in the set, 1..6). */
static int build_results(const char *root, const char *text, double expected[NV][NSEED][5])
{
    sweep sw;
    sweep_plan plan;
    rerr e = {{0}};
    ck_assert_msg(sweep_load_string(&sw, text, strlen(text), "t.yaml", testutil_source_dir(), &e) == 0,
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
        int rank = (int)((j->seed - 1) % NSEED) + 1, v = j->variant, st = job_state(v, rank);
        fprintf(jr, "2024-05-01T12:00:00.000Z %s queued\n", hex);
        if (st == MISSING)
            continue;
        fprintf(jr, "2024-05-01T12:00:01.000Z %s started attempt=1 pid=100 gpus=%d\n", hex,
                (int)(j->seed % 2));
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", root, hex);
        ck_assert(util_mkdir_p(dir, &e) == 0);
        /* four epochs: dev loss 156 (Keras BN warming up, as in the demo), 2.5,
         * 0.6 (best), 0.8; 1.25 + 2.5 + 3 + 1 = 7.75 s */
        snprintf(p, sizeof p, "%s/epochs.csv", dir);
        write_text(p, "epoch,train_loss,dev_loss,lr,f1_N,f1_A,f1_O,f1_~,cinc_f1,macro_f1,weighted_f1,seconds\n"
                      "1,1.0,156.0,0.001,0.5,0.5,0.5,0.5,0.5,0.5,0.5,1.25\n"
                      "2,0.8,2.5,0.001,0.6,0.6,0.6,0.6,0.6,0.6,0.6,2.50\n"
                      "3,0.7,0.6,0.001,0.7,0.7,0.7,0.7,0.7,0.7,0.7,3.00\n"
                      "4,0.6,0.8,0.001,0.7,0.7,0.7,0.7,0.7,0.7,0.7,1.00\n");
        if (st == FAILED) {
            fprintf(jr, "2024-05-01T12:00:09.000Z %s failed attempt=1 exit=1\n", hex);
            continue;
        }
        int pred[NREC];
        for (int i = 0; i < NREC; i++)
            pred[i] = predict(v, j->seed, i);
        double *f = expected[v][rank - 1];
        f1_of(pred, NULL, f);
        snprintf(p, sizeof p, "%s/predictions.csv", dir);
        FILE *fp = fopen(p, "w");
        ck_assert(fp);
        fprintf(fp, "record,label,pred,p_N,p_A,p_O,p_~\n");
        for (int i = 0; i < NREC; i++)
            fprintf(fp, "R%04d,%s,%s,0.25,0.25,0.25,0.25\n", i, cls[truth(i)], cls[pred[i]]);
        fclose(fp);
        double wf = 0; /* support-weighted F1 */
        for (int c = 0; c < 4; c++)
            wf += support[c] * f[c] / NREC;
        double mf = (f[0] + f[1] + f[2] + f[3]) / 4;
        snprintf(p, sizeof p, "%s/f1.csv", dir);
        fp = fopen(p, "w");
        ck_assert(fp);
        fprintf(fp, "class,precision,recall,f1,support\n");
        for (int c = 0; c < 4; c++)
            fprintf(fp, "%s,0.5,0.5,%.6f,%d\n", cls[c], f[c], support[c]);
        fprintf(fp, "cinc_f1,,,%.6f,\nmacro_f1,,,%.6f,\nweighted_f1,,,%.6f,%d\naccuracy,,,0.5,%d\n",
                f[4], mf, wf, NREC, NREC);
        fclose(fp);
        static const char *const results[] = {"predictions.csv", "f1.csv"};
        rerr ce;
        ck_assert_msg(rundir_complete_write(dir, "synthetic", results, 2, &ce) == 0, "%s", ce.msg);
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

/* CSV numbers have six decimals; a value computed here from several of
 * them carries their rounding, hence the wider tolerances below. */
static void near_tol(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol, "%s: got %.9f, want %.9f (diff %.3g)", what, got, want,
                  fabs(got - want));
}

static void near(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 2e-6, "%s: got %.9f, want %.9f (diff %.3g)", what, got, want,
                  fabs(got - want));
}

/* ---- the fixture: two results directories (sets A and B) ---- */

static char tmp[1024], res[1100], res_b[1100];
static double expected[NV][NSEED][5], expected_b[NV][NSEED][5];

static void setup(void)
{
    testutil_mkdtemp(tmp, sizeof tmp, "report");
    snprintf(res, sizeof res, "%s/t", tmp);
    snprintf(res_b, sizeof res_b, "%s/b/t", tmp);
    rerr e;
    ck_assert(util_mkdir_p(res, &e) == 0 && util_mkdir_p(res_b, &e) == 0);
    memset(expected, 0, sizeof expected);
    memset(expected_b, 0, sizeof expected_b);
    build_results(res, sweep_text, expected);
    build_results(res_b, sweep_text_b, expected_b);
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

/* Runs the report on set A (and B when dir_b is not NULL) into out. */
static void run_report2(const char *dir_b, const char *baseline, const char *out, uint64_t seed,
                        int published, char **msg)
{
    report_opts o;
    report_opts_default(&o);
    o.out = out;
    o.seed = seed;
    o.bootstrap = 500;
    o.published = published;
    o.baseline = baseline;
    size_t n;
    FILE *m = open_memstream(msg, &n);
    rerr e = {{0}};
    int rc = report_run(res, dir_b, &o, m, &e);
    fclose(m);
    ck_assert_msg(rc == 0, "report_run: %s", e.msg);
}

static void run_report(const char *out, uint64_t seed, int published, char **msg)
{
    run_report2(NULL, NULL, out, seed, published, msg);
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
    const char *variants[NV] = {"plain", "weighted", "focal", "broken", "few_seeds"};
    for (int r = 1; r < t.nrows; r++) {
        int v = 0;
        while (v < NV && strcmp(variants[v], t.cell[r][col(&t, "variant")]) != 0)
            v++;
        ck_assert_int_lt(v, NV);
        uint64_t seed = strtoull(t.cell[r][col(&t, "seed")], NULL, 10);
        ck_assert(seed >= 1 && seed <= NSEED);
        /* the override value has commas and survived quoting */
        ck_assert_str_eq(t.cell[r][alpha], "[1, 2, 1, 1]");
        int st = job_state(v, (int)seed);
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
            ck_assert_int_eq((int)num(&t, r, "epochs"), 4);
            ck_assert_int_eq((int)num(&t, r, "best_epoch"), 3);
            near(num(&t, r, "wall_s"), 7.75, "wall_s");
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
    /* 30 jobs: broken 6 failed, focal seed 6 failed, weighted seed 6 and few_seeds 3..6 missing */
    ck_assert_msg(strstr(msg, "18 of 30 jobs finished (7 failed, 5 missing)"), "summary: %s", msg);
    free(msg);
    table t;
    snprintf(p, sizeof p, "%s/table1.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + NV + 4); /* + 4 published rows */
    /* n done seeds, failed, missing (all unfinished) per variant */
    static const int want[NV][3] = {{6, 0, 0}, {5, 0, 1}, {5, 1, 1}, {0, 6, 6}, {2, 0, 4}};
    static const char *const mcol[5] = {"N", "A", "O", "~", "Total"};
    static const char *const sdcol[5] = {"N_sd", "A_sd", "O_sd", "~_sd", "Total_sd"};
    for (int v = 0; v < NV; v++) {
        int r = 1 + v; /* sweep order */
        static const char *const label[NV] = {"plain", "weighted", "focal", "broken", "few_seeds"};
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
    ck_assert_ptr_nonnull(strstr(text, "18 of 30 jobs finished"));
    const char *row = strstr(text, "| broken");
    ck_assert_ptr_nonnull(row);
    ck_assert_msg(strncmp(strstr(row, "|") + 1, " broken", 7) == 0 && strstr(row, "missing"),
                  "%s", row);
    free(text);
}
END_TEST

/* Which variant (index) a significance row's label names, after "A: "/"B: ". */
static int variant_of(const char *label)
{
    static const char *const names[NV] = {"plain", "weighted", "focal", "broken", "few_seeds"};
    if (label[0] && label[1] == ':')
        label += 3;
    for (int v = 0; v < NV; v++)
        if (strcmp(label, names[v]) == 0)
            return v;
    ck_abort_msg("unknown variant %s", label);
    return -1;
}

static int metric_of(const char *m)
{
    return strcmp(m, "cinc_f1") == 0 ? 4 : (int)(strchr("NAO~", m[0]) - "NAO~");
}

/* Holm over significance.csv's tested rows, recomputed here (sorted
 * ascending, (m - i) p, running maximum): every p_holm must match. */
static void check_holm(const table *t)
{
    double p[64], adj[64];
    int row[64], m = 0;
    for (int r = 1; r < t->nrows; r++) {
        const char *v = t->cell[r][col(t, "verdict")];
        if (strcmp(v, "real") == 0 || strcmp(v, "noise") == 0) {
            p[m] = num(t, r, "p");
            row[m++] = r;
        } else {
            ck_assert_str_eq(t->cell[r][col(t, "p_holm")], "");
        }
    }
    for (int i = 0; i < m; i++) { /* rank of i: ties by order */
        int rank = 0;
        for (int j = 0; j < m; j++)
            rank += p[j] < p[i] || (p[j] == p[i] && j < i);
        double run = 0;
        for (int j = 0; j < m; j++) { /* every test ranked at or before i */
            int rj = 0;
            for (int q = 0; q < m; q++)
                rj += p[q] < p[j] || (p[q] == p[j] && q < j);
            if (rj <= rank)
                run = fmax(run, fmin(1, (m - rj) * p[j]));
        }
        adj[i] = run;
    }
    for (int i = 0; i < m; i++) {
        near_tol(num(t, row[i], "p_holm"), adj[i], 1e-5, "p_holm"); /* (m - i) x a rounded p */
        ck_assert_str_eq(t->cell[row[i]][col(t, "verdict")], adj[i] < 0.05 ? "real" : "noise");
    }
}

START_TEST(significance)
{
    char out1[1200], out2[1200], p[4400], *msg;
    snprintf(out1, sizeof out1, "%s/b1", tmp);
    snprintf(out2, sizeof out2, "%s/b2", tmp);
    run_report(out1, 7, 0, &msg);
    free(msg);
    run_report(out2, 7, 0, &msg);
    /* the same seed reproduces every number to the byte */
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
    ck_assert_int_eq(t.nrows, 1 + 4 * 5); /* weighted, focal, broken, few_seeds vs plain; 5 metrics */
    for (int r = 1; r < t.nrows; r++) {
        int v = variant_of(t.cell[r][col(&t, "variant")]), s = metric_of(t.cell[r][col(&t, "metric")]);
        const char *verdict = t.cell[r][col(&t, "verdict")];
        ck_assert_str_eq(t.cell[r][col(&t, "baseline")], "plain");
        ck_assert_str_eq(t.cell[r][col(&t, "seed_pairing")], "paired");
        int pairs = (int)num(&t, r, "n_variant");
        ck_assert_int_eq((int)num(&t, r, "n_baseline"), pairs);
        if (v == 3) { /* broken: nothing finished */
            ck_assert_int_eq(pairs, 0);
            ck_assert_str_eq(verdict, "no pairs");
            ck_assert_str_eq(t.cell[r][col(&t, "diff")], "");
            continue;
        }
        ck_assert_int_eq(pairs, v == 4 ? 2 : 5);
        double d = 0, dk[NSEED], sq = 0;
        for (int k = 0; k < pairs; k++) {
            dk[k] = expected[v][k][s] - expected[0][k][s];
            d += dk[k] / pairs;
        }
        for (int k = 0; k < pairs; k++)
            sq += (dk[k] - d) * (dk[k] - d);
        near(num(&t, r, "diff"), d, "diff");
        if (v == 4) { /* two seeds: shown, never tested */
            ck_assert_str_eq(verdict, "too few seeds");
            ck_assert_str_eq(t.cell[r][col(&t, "p")], "");
            ck_assert_str_eq(t.cell[r][col(&t, "p_holm")], "");
            continue;
        }
        /* the interval: diff -+ t(pairs - 1) se, se at least the seeds' own spread */
        double se = num(&t, r, "se"), lo = num(&t, r, "ci_low"), hi = num(&t, r, "ci_high");
        ck_assert_int_eq((int)num(&t, r, "df"), pairs - 1);
        ck_assert_msg(se >= sqrt(sq / (pairs - 1) / pairs) - 1e-6, "%s %s: se %g below the seeds' spread %g",
                      t.cell[r][col(&t, "variant")], t.cell[r][col(&t, "metric")], se,
                      sqrt(sq / (pairs - 1) / pairs));
        near_tol(hi - d, stats_t_quantile(0.975, pairs - 1) * se, 1e-5, "interval half-width");
        near_tol(d - lo, hi - d, 1e-5, "symmetric interval");
        if (se > 0)
            near_tol(num(&t, r, "p"), 2 * stats_t_cdf(-fabs(d) / se, pairs - 1), 1e-3, "p");
        double pgt = num(&t, r, "p_improvement");
        if (v == 1) { /* weighted: plain's rule with the next seed: noise */
            ck_assert_msg(lo <= 0 && hi >= 0, "weighted %d: [%g, %g]", s, lo, hi);
            ck_assert_str_eq(verdict, "noise");
        } else if (s != 3) { /* focal is better on N, A, O and CinC by construction */
            ck_assert_msg(lo > 0 && strcmp(verdict, "real") == 0 && pgt > 0.99,
                          "focal %d: %g [%g, %g] %s P>0 %g", s, d, lo, hi, verdict, pgt);
            /* the record-only interval of earlier reports, kept as a labelled column */
            ck_assert(num(&t, r, "records_only_ci_low") > 0);
        }
    }
    check_holm(&t);
    table_free(&t);
    ck_assert_msg(strstr(msg, "weighted vs plain (5 paired seeds): every difference is within noise"),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "focal vs plain (5 paired seeds): N F1 higher by"), "%s", msg);
    ck_assert_msg(strstr(msg, "few_seeds vs plain (2 paired seeds): too few seeds for a verdict"), "%s",
                  msg);
    ck_assert_msg(strstr(msg, "broken vs plain: no seed finished on both sides"), "%s", msg);
    free(msg);
    /* the Markdown says the same, with the method */
    snprintf(p, sizeof p, "%s/significance.md", out1);
    ck_assert(util_read_file(p, &a, &la, &e) == 0);
    ck_assert_ptr_nonnull(strstr(a, "Holm-adjusted p < 0.05 over the 10 tests"));
    ck_assert_ptr_nonnull(strstr(a, "**real** (p "));
    ck_assert_ptr_nonnull(strstr(a, "| few_seeds | plain | 2 paired |"));
    ck_assert_ptr_nonnull(strstr(a, "too few seeds |"));
    free(a);
}
END_TEST

/* After a test changes a finished job's file: a completion record that
 * vouches for the change, so that the report's own checks (not the
 * changed-file check, tested in f1_mismatch) have to find it. */
static void revouch(const char *root, const char *id)
{
    char d[4400];
    snprintf(d, sizeof d, "%s/%s", root, id);
    static const char *const results[] = {"predictions.csv", "f1.csv"};
    rerr e;
    ck_assert_msg(rundir_complete_write(d, "synthetic", results, 2, &e) == 0, "%s", e.msg);
}

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
    revouch(res, id);
    report_opts o;
    report_opts_default(&o);
    o.bootstrap = 10;
    ck_assert_int_eq(report_run(res, NULL, &o, NULL, &e), -1);
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
    /* first as it is: a file changed since the run ended */
    report_opts o0;
    report_opts_default(&o0);
    o0.bootstrap = 50;
    char jd[4400];
    snprintf(jd, sizeof jd, "%s/%s", res, id);
    ck_assert_int_eq(report_run(res, NULL, &o0, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, jd) && strstr(e.msg, "f1.csv changed since the run ended"), "%s",
                  e.msg);
    /* then with a completion record that vouches for it: the report itself
     * must see that f1.csv and predictions.csv disagree */
    static const char *const results[] = {"predictions.csv", "f1.csv"};
    ck_assert_msg(rundir_complete_write(jd, "synthetic", results, 2, &e) == 0, "%s", e.msg);
    report_opts o;
    report_opts_default(&o);
    o.bootstrap = 10;
    ck_assert_int_eq(report_run(res, NULL, &o, NULL, &e), -1);
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
    /* plain's Total is now the mean support-weighted F1 over its 6 seeds */
    double m = 0;
    for (int k = 0; k < NSEED; k++)
        for (int c = 0; c < 4; c++)
            m += support[c] * expected[0][k][c] / NREC / NSEED;
    near(num(&t, 1, "Total"), m, "weighted Total");
    table_free(&t);
    snprintf(p, sizeof p, "%s/significance.csv", out);
    table_read(p, &t);
    ck_assert_ptr_nonnull(strstr(t.cell[1][col(&t, "baseline")], "focal"));
    /* with a Total that is not CinC F1, it is compared too: 6 metrics a comparison */
    ck_assert_int_eq(t.nrows, 1 + 4 * 6);
    ck_assert_str_eq(t.cell[6][col(&t, "metric")], "weighted_f1");
    table_free(&t);
    /* two result sets: exit 0; a third directory is bad usage */
    snprintf(cmd, sizeof cmd, "%s report %s %s --out %s/ab --bootstrap 50 >/dev/null", bin, res, res_b, tmp);
    st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(p, sizeof p, "%s/ab/significance.csv", tmp);
    ck_assert(util_file_exists(p));
    snprintf(cmd, sizeof cmd, "%s report %s %s %s >/dev/null 2>&1", bin, res, res_b, res);
    st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
END_TEST

/* resecg report DIR_A DIR_B: two runs of one sweep file with seeds 1..6 and
 * 7..12. Each configuration of B against the same one of A is an A/A
 * check: unpaired over seeds, no verdict real; with --baseline plain, B's
 * focal against A's plain is real. */
START_TEST(two_sets)
{
    char out[1200], p[4400], *msg;
    snprintf(out, sizeof out, "%s/aa", tmp);
    run_report2(res_b, NULL, out, 3, 0, &msg);
    ck_assert_msg(strstr(msg, "A: ") && strstr(msg, " vs B: "), "%s", msg);
    ck_assert_msg(strstr(msg, "B: plain vs A: plain (6 vs 6 seeds): every difference is within noise"),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "B: few_seeds vs A: few_seeds (2 vs 2 seeds): too few seeds"), "%s", msg);
    free(msg);
    table t;
    snprintf(p, sizeof p, "%s/significance.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + NV * 5); /* every configuration is in both sets */
    for (int r = 1; r < t.nrows; r++) {
        int v = variant_of(t.cell[r][col(&t, "variant")]), s = metric_of(t.cell[r][col(&t, "metric")]);
        ck_assert_int_eq(variant_of(t.cell[r][col(&t, "baseline")]), v);
        ck_assert_str_eq(t.cell[r][col(&t, "seed_pairing")], "unpaired");
        ck_assert(strncmp(t.cell[r][col(&t, "variant")], "B: ", 3) == 0);
        ck_assert(strncmp(t.cell[r][col(&t, "baseline")], "A: ", 3) == 0);
        const char *verdict = t.cell[r][col(&t, "verdict")];
        ck_assert_msg(strcmp(verdict, "real") != 0, "A/A %s %s real", t.cell[r][col(&t, "variant")],
                      t.cell[r][col(&t, "metric")]);
        int n = v == 3 ? 0 : v == 4 ? 2 : v == 0 ? 6 : 5;
        ck_assert_int_eq((int)num(&t, r, "n_variant"), n);
        ck_assert_int_eq((int)num(&t, r, "n_baseline"), n);
        if (n == 0) {
            ck_assert_str_eq(verdict, "no seeds");
            continue;
        }
        double d = 0;
        for (int k = 0; k < n; k++)
            d += (expected_b[v][k][s] - expected[v][k][s]) / n;
        near(num(&t, r, "diff"), d, "B - A");
    }
    check_holm(&t);
    table_free(&t);
    /* Table 1 and jobs name the sets */
    snprintf(p, sizeof p, "%s/table1.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + 2 * NV);
    ck_assert_str_eq(t.cell[1][col(&t, "variant")], "A: plain");
    ck_assert_str_eq(t.cell[1 + NV][col(&t, "variant")], "B: plain");
    table_free(&t);
    snprintf(p, sizeof p, "%s/jobs.csv", out);
    table_read(p, &t);
    ck_assert_int_eq(t.nrows, 1 + 2 * NV * NSEED);
    ck_assert_str_eq(t.cell[1][col(&t, "set")], "A");
    ck_assert_str_eq(t.cell[t.nrows - 1][col(&t, "set")], "B");
    table_free(&t);

    /* this week's variants against last week's baseline */
    snprintf(out, sizeof out, "%s/ab", tmp);
    run_report2(res_b, "plain", out, 3, 0, &msg);
    ck_assert_msg(strstr(msg, "B: focal vs A: plain (5 vs 6 seeds): N F1 higher by"), "%s", msg);
    free(msg);
}
END_TEST

/* Two sets scored on different dev records: refused, naming the file and line. */
START_TEST(two_sets_records_mismatch)
{
    char p[4400], *text;
    size_t len;
    rerr e = {{0}};
    snprintf(p, sizeof p, "%s/jobs.tsv", res_b);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char id[13];
    memcpy(id, strchr(text, '\n') + 1, 12); /* B's first job: plain seed 7, done */
    id[12] = '\0';
    free(text);
    snprintf(p, sizeof p, "%s/%s/predictions.csv", res_b, id);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    char *r = strstr(text, "R0005,N");
    ck_assert_ptr_nonnull(r);
    r[6] = 'A'; /* the label, not the id: a different dev set with the same names */
    FILE *fp = fopen(p, "w");
    fwrite(text, 1, len, fp);
    fclose(fp);
    free(text);
    revouch(res_b, id);
    report_opts o;
    report_opts_default(&o);
    o.bootstrap = 10;
    ck_assert_int_eq(report_run(res, res_b, &o, NULL, &e), -1);
    char want[4500];
    snprintf(want, sizeof want, "%s:7: record R0005 (A)", p); /* header, then R0000 on line 2 */
    ck_assert_msg(strstr(e.msg, want) && strstr(e.msg, "do not share their dev records"), "%s", e.msg);
}
END_TEST

/* The lines of a LaTeX table between \midrule and \bottomrule (the body);
 * checks the booktabs frame, balanced braces and cols cells in every row. */
static int tex_body(const char *text, int cols, char rows[][600], int max)
{
    ck_assert_ptr_nonnull(strstr(text, "\\begin{tabular}{"));
    const char *top = strstr(text, "\\toprule\n"), *mid = strstr(text, "\\midrule\n");
    const char *bot = strstr(text, "\\bottomrule\n\\end{tabular}\n");
    ck_assert_msg(top && mid && bot && top < mid && mid < bot, "booktabs frame:\n%s", text);
    int depth = 0;
    for (const char *c = text; *c; c++) {
        if (*c == '%') { /* comments may say anything */
            while (*c && *c != '\n')
                c++;
            if (!*c)
                break;
            continue;
        }
        if (*c == '\\' && c[1]) {
            c++; /* \{ \} \% \& ... are characters, not syntax */
            continue;
        }
        depth += *c == '{';
        depth -= *c == '}';
        ck_assert_msg(depth >= 0, "unbalanced } in:\n%s", text);
    }
    ck_assert_msg(depth == 0, "unbalanced { in:\n%s", text);
    int n = 0;
    for (const char *l = mid + 9; l < bot && n < max;) {
        const char *nl = strchr(l, '\n');
        int len = (int)(nl - l);
        if (strncmp(l, "\\midrule", 8) != 0) {
            ck_assert(len < 600);
            memcpy(rows[n], l, (size_t)len);
            rows[n][len] = '\0';
            int amp = 0;
            for (int k = 0; k < len; k++)
                amp += l[k] == '&' && (k == 0 || l[k - 1] != '\\');
            ck_assert_msg(amp == cols - 1 && strstr(rows[n], "\\\\"), "row %d: %s", n, rows[n]);
            n++;
        }
        l = nl + 1;
    }
    return n;
}

static int count_str(const char *s, const char *what)
{
    int n = 0;
    for (; (s = strstr(s, what)); s += strlen(what))
        n++;
    return n;
}

START_TEST(latex)
{
    char out[1200], p[4400], *msg, *text, rows[16][600];
    size_t len;
    rerr e;
    snprintf(out, sizeof out, "%s/tex", tmp);
    run_report(out, 1, 1, &msg);
    free(msg);
    snprintf(p, sizeof p, "%s/table1.tex", out);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    ck_assert_ptr_nonnull(strstr(text, "Variant & N & A & O & \\textasciitilde{} & Total & Seeds \\\\"));
    int n = tex_body(text, 7, rows, 16);
    ck_assert_int_eq(n, NV + 4); /* configurations, then the published rows */
    /* focal has the best mean of every column: bold there and nowhere else */
    ck_assert_msg(strncmp(rows[2], "focal & ", 8) == 0 && count_str(rows[2], "\\mathbf{") == 5, "%s", rows[2]);
    for (int r = 0; r < n; r++)
        if (r != 2)
            ck_assert_msg(!strstr(rows[r], "\\mathbf"), "%s", rows[r]);
    ck_assert_msg(strstr(rows[0], "plain & $0.") && strstr(rows[0], " \\pm 0.") && strstr(rows[0], "& 6 \\\\"),
                  "%s", rows[0]);
    ck_assert_msg(strcmp(rows[3], "broken & -- & -- & -- & -- & -- & 0 \\\\") == 0, "%s", rows[3]);
    ck_assert_msg(strncmp(rows[4], "few\\_seeds & ", 13) == 0, "%s", rows[4]); /* _ escaped */
    free(text);

    snprintf(p, sizeof p, "%s/significance.tex", out);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    ck_assert_ptr_nonnull(strstr(text, "\\begin{tabular}{lllrrrrr}"));
    n = tex_body(text, 8, rows, 16);
    ck_assert_int_eq(n, 4);
    ck_assert_msg(strncmp(rows[0], "weighted & plain & 5 paired & ", 30) == 0 && !strstr(rows[0], "\\mathbf"),
                  "%s", rows[0]);
    ck_assert_msg(strncmp(rows[1], "focal & ", 8) == 0 && count_str(rows[1], "\\mathbf{+") >= 4, "%s", rows[1]);
    ck_assert_msg(count_str(rows[2], " & --") == 5, "%s", rows[2]);
    ck_assert_msg(count_str(rows[3], "(too few seeds)") == 5, "%s", rows[3]);
    free(text);
}
END_TEST

/* The dev-loss charts use a log axis: the first epoch's 156 does not
 * flatten the rest (2.5 sits at 74% of the way down, not at 99%). */
START_TEST(log_axis)
{
    char out[1200], p[4400], *msg, *text;
    size_t len;
    rerr e;
    snprintf(out, sizeof out, "%s/loga", tmp);
    run_report(out, 1, 0, &msg);
    free(msg);
    snprintf(p, sizeof p, "%s/report.html", out);
    ck_assert(util_read_file(p, &text, &len, &e) == 0);
    const char *chart = strstr(text, "dev loss, log scale");
    ck_assert_ptr_nonnull(chart);
    ck_assert_ptr_nonnull(strstr(chart, ">10</text>"));
    ck_assert_ptr_nonnull(strstr(chart, ">1</text>"));
    const char *pts = strstr(chart, "points=\"");
    ck_assert_ptr_nonnull(pts);
    double x[4], y[4];
    ck_assert_int_eq(sscanf(pts + 8, "%lf,%lf %lf,%lf %lf,%lf %lf,%lf", &x[0], &y[0], &x[1], &y[1], &x[2],
                            &y[2], &x[3], &y[3]),
                     8);
    /* plot rows 10 (top, 156) to 140 (bottom, 0.6): log puts 2.5 at
     * 10 + 130 * log(156/2.5) / log(156/0.6) = 106.6; linear would put it at 138.4 */
    near(y[0], 10, "156 at the top");
    near(y[2], 140, "0.6 at the bottom");
    ck_assert_msg(fabs(y[1] - 106.6) < 0.2, "2.5 at y %.1f, not on a log axis", y[1]);
    free(text);
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
    ck_assert_ptr_nonnull(strstr(text, "18 of 30 jobs finished"));
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
    tcase_add_test(tc, significance);
    tcase_add_test(tc, records_mismatch);
    tcase_add_test(tc, f1_mismatch);
    tcase_add_test(tc, cli_and_baseline);
    tcase_add_test(tc, two_sets);
    tcase_add_test(tc, two_sets_records_mismatch);
    tcase_add_test(tc, latex);
    tcase_add_test(tc, log_axis);
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

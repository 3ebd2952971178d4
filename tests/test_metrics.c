/* Tests of core/run/metrics.c: precision, recall and F1 on confusion matrices
 * worked out by hand in the comments, the zero-division conventions, the
 * CinC/macro/weighted summaries, the record vote and its ties, and the CSV
 * files read back through libcsv's own parser. */
#include <check.h>
#include <csv.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run/metrics.h"
#include "nn/rng.h"
#include "testutil.h"
#include "base/util.h"

static uint64_t g_seed;
static char g_dir[512]; /* made by the unchecked fixture, in the parent process */

#define TOL 1e-12

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "metrics"); }

static void dir_teardown(void) { testutil_rmtree(g_dir); }

/* Entries of g_dir whose name contains needle (NULL: all). */
static int dir_count(const char *needle)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            (!needle || strstr(de->d_name, needle)))
            n++;
    closedir(d);
    return n;
}

/* Fills m from a K x K matrix given row by row ([true][predicted]), one
 * metrics_add per record, in a shuffled order so nothing depends on it. */
static void fill(metrics *m, int K, const long *conf, rng *r)
{
    int truth[256], pred[256], n = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            for (long c = 0; c < conf[i * K + j]; c++) {
                ck_assert_int_lt(n, 256);
                truth[n] = i;
                pred[n] = j;
                n++;
            }
    int order[256];
    for (int i = 0; i < n; i++)
        order[i] = i;
    rng_shuffle(r, order, n);
    metrics_init(m, K);
    for (int i = 0; i < n; i++)
        metrics_add(m, truth[order[i]], pred[order[i]]);
    metrics_finish(m);
}

static void no_nan(const metrics *m)
{
    for (int c = 0; c < m->K; c++)
        ck_assert(isfinite(m->precision[c]) && isfinite(m->recall[c]) && isfinite(m->f1[c]));
    ck_assert(isfinite(m->cinc_f1) && isfinite(m->macro_f1) && isfinite(m->weighted_f1) &&
              isfinite(m->accuracy));
}

/* Case 1, rows true, columns predicted:
 *          N  A  O  ~     support
 *     N  [ 3, 0, 2, 0 ]   5
 *     A  [ 1, 1, 0, 0 ]   2
 *     O  [ 0, 1, 6, 1 ]   8
 *     ~  [ 0, 0, 0, 0 ]   0
 *   predicted  4  2  8  1   (column sums), total 15, diagonal 10
 * N: TP=3 FP=1 FN=2 -> P=3/4=0.75, R=3/5=0.6, F1=2*0.75*0.6/1.35=0.9/1.35=0.666667
 * A: TP=1 FP=1 FN=1 -> P=1/2, R=1/2, F1=0.5
 * O: TP=6 FP=2 FN=2 -> P=6/8=0.75, R=6/8=0.75, F1=0.75
 * ~: TP=0, predicted once, never present -> P=0/1=0, R=0 (no support), F1=0
 * CinC     = (0.666667 + 0.5 + 0.75) / 3 = 1.916667 / 3 = 0.638889
 * macro    = 1.916667 / 4 = 0.479167
 * weighted = (5*0.666667 + 2*0.5 + 8*0.75 + 0*0) / 15 = 10.333333 / 15 = 0.688889
 * accuracy = 10 / 15 = 0.666667 */
static const long case1[16] = {3, 0, 2, 0, 1, 1, 0, 0, 0, 1, 6, 1, 0, 0, 0, 0};

START_TEST(test_case1)
{
    rng r;
    rng_seed(&r, g_seed);
    metrics m;
    fill(&m, 4, case1, &r);
    no_nan(&m);
    ck_assert_double_eq_tol(m.precision[0], 0.75, TOL);
    ck_assert_double_eq_tol(m.recall[0], 0.6, TOL);
    ck_assert_double_eq_tol(m.f1[0], 2.0 / 3.0, TOL);
    ck_assert_double_eq_tol(m.precision[1], 0.5, TOL);
    ck_assert_double_eq_tol(m.recall[1], 0.5, TOL);
    ck_assert_double_eq_tol(m.f1[1], 0.5, TOL);
    ck_assert_double_eq_tol(m.precision[2], 0.75, TOL);
    ck_assert_double_eq_tol(m.recall[2], 0.75, TOL);
    ck_assert_double_eq_tol(m.f1[2], 0.75, TOL);
    ck_assert(m.precision[3] == 0.0 && m.recall[3] == 0.0 && m.f1[3] == 0.0);
    ck_assert_int_eq(m.support[0], 5);
    ck_assert_int_eq(m.support[1], 2);
    ck_assert_int_eq(m.support[2], 8);
    ck_assert_int_eq(m.support[3], 0);
    ck_assert_int_eq(m.total, 15);
    ck_assert_double_eq_tol(m.cinc_f1, (2.0 / 3 + 0.5 + 0.75) / 3, TOL);
    ck_assert_double_eq_tol(m.cinc_f1, 0.638889, 5e-7);
    ck_assert_double_eq_tol(m.macro_f1, 0.479167, 5e-7);
    ck_assert_double_eq_tol(m.weighted_f1, 0.688889, 5e-7);
    ck_assert_double_eq_tol(m.accuracy, 10.0 / 15, TOL);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_int_eq(m.confusion[i][j], case1[i * 4 + j]);
}
END_TEST

/* Case 2: a class present but never predicted (A) and one neither (~):
 *          N  A  O  ~
 *     N  [ 2, 0, 0, 0 ]   support 2
 *     A  [ 1, 0, 0, 0 ]   support 1
 *     O  [ 0, 0, 1, 0 ]   support 1
 *     ~  [ 0, 0, 0, 0 ]   support 0
 * N: TP=2 FP=1 FN=0 -> P=2/3, R=1, F1=2*(2/3)*1/(5/3)=0.8
 * A: nothing predicted -> P=0 (zero_division=0), R=0/1=0, F1=0
 * O: P=1, R=1, F1=1;  ~: P=0, R=0, F1=0, and no NaN anywhere
 * CinC = (0.8 + 0 + 1) / 3 = 0.6; macro = 1.8 / 4 = 0.45
 * weighted = (2*0.8 + 1*0 + 1*1 + 0) / 4 = 2.6 / 4 = 0.65; accuracy = 3/4 */
START_TEST(test_case2_zero_division)
{
    static const long c2[16] = {2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    rng r;
    rng_seed(&r, g_seed ^ 1);
    metrics m;
    fill(&m, 4, c2, &r);
    no_nan(&m);
    ck_assert_double_eq_tol(m.precision[0], 2.0 / 3, TOL);
    ck_assert_double_eq_tol(m.recall[0], 1.0, TOL);
    ck_assert_double_eq_tol(m.f1[0], 0.8, TOL);
    ck_assert(m.precision[1] == 0.0 && m.recall[1] == 0.0 && m.f1[1] == 0.0);
    ck_assert_double_eq_tol(m.f1[2], 1.0, TOL);
    ck_assert(m.precision[3] == 0.0 && m.recall[3] == 0.0 && m.f1[3] == 0.0);
    ck_assert_double_eq_tol(m.cinc_f1, 0.6, TOL);
    ck_assert_double_eq_tol(m.macro_f1, 0.45, TOL);
    ck_assert_double_eq_tol(m.weighted_f1, 0.65, TOL);
    ck_assert_double_eq_tol(m.accuracy, 0.75, TOL);

    /* No records at all: every score 0, none NaN. */
    metrics_init(&m, 4);
    metrics_finish(&m);
    no_nan(&m);
    ck_assert(m.total == 0 && m.accuracy == 0 && m.macro_f1 == 0 && m.weighted_f1 == 0 &&
              m.cinc_f1 == 0);

    /* Everything right: all ones where there is support.
     *   N [4,0,0,0], A [0,2,0,0], O [0,0,3,0], ~ [0,0,0,1] -> every F1 = 1 */
    static const long c3[16] = {4, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1};
    fill(&m, 4, c3, &r);
    ck_assert_double_eq_tol(m.cinc_f1, 1.0, TOL);
    ck_assert_double_eq_tol(m.macro_f1, 1.0, TOL);
    ck_assert_double_eq_tol(m.weighted_f1, 1.0, TOL);
    ck_assert_double_eq_tol(m.accuracy, 1.0, TOL);
}
END_TEST

/* Two classes (CinC needs three, so it stays 0):
 *     0 [ 5, 1 ]   TP=5 FP=2 FN=1 -> P=5/7, R=5/6, F1=2*5/(2*5+2+1)=10/13=0.769231
 *     1 [ 2, 4 ]   TP=4 FP=1 FN=2 -> P=4/5, R=4/6, F1=8/11=0.727273
 * macro = (10/13 + 8/11)/2 = 0.748252; weighted = (6*10/13 + 6*8/11)/12 = the same
 * (equal supports); accuracy = 9/12 = 0.75 */
START_TEST(test_two_classes)
{
    static const long c[4] = {5, 1, 2, 4};
    rng r;
    rng_seed(&r, g_seed ^ 2);
    metrics m;
    fill(&m, 2, c, &r);
    ck_assert_double_eq_tol(m.precision[0], 5.0 / 7, TOL);
    ck_assert_double_eq_tol(m.recall[0], 5.0 / 6, TOL);
    ck_assert_double_eq_tol(m.f1[0], 10.0 / 13, TOL);
    ck_assert_double_eq_tol(m.f1[1], 8.0 / 11, TOL);
    ck_assert_double_eq_tol(m.macro_f1, 0.748252, 5e-7);
    ck_assert_double_eq_tol(m.weighted_f1, m.macro_f1, TOL);
    ck_assert_double_eq_tol(m.accuracy, 0.75, TOL);
    ck_assert(m.cinc_f1 == 0.0);
}
END_TEST

START_TEST(test_vote)
{
    long counts[8];
    /* Frame argmaxes 2, 0, 2, 1, 0 -> counts [2, 1, 2, 0]: N and O tie, the
     * lower class (N = 0) wins. */
    const float p1[5 * 4] = {
        0.1f, 0.2f, 0.6f, 0.1f, /* 2 */
        0.7f, 0.1f, 0.1f, 0.1f, /* 0 */
        0.0f, 0.3f, 0.5f, 0.2f, /* 2 */
        0.2f, 0.5f, 0.2f, 0.1f, /* 1 */
        0.9f, 0.0f, 0.1f, 0.0f, /* 0 */
    };
    ck_assert_int_eq(metrics_record_vote(p1, 5, 4, counts), 0);
    ck_assert(counts[0] == 2 && counts[1] == 1 && counts[2] == 2 && counts[3] == 0);
    /* Only the first T frames count: the first three give [1, 0, 2, 0] -> O. */
    ck_assert_int_eq(metrics_record_vote(p1, 3, 4, counts), 2);
    ck_assert(counts[0] == 1 && counts[1] == 0 && counts[2] == 2 && counts[3] == 0);
    ck_assert_int_eq(metrics_record_vote(p1, 3, 4, NULL), 2);

    /* A tie inside a frame goes to the lower class too (numpy's argmax):
     * frames (A = ~), (A = ~), (~) -> counts [0, 2, 0, 1] -> A. */
    const float p2[3 * 4] = {0.1f, 0.4f, 0.1f, 0.4f, 0.1f, 0.4f,
                             0.1f, 0.4f, 0.1f, 0.1f, 0.1f, 0.7f};
    ck_assert_int_eq(metrics_record_vote(p2, 3, 4, counts), 1);
    ck_assert(counts[0] == 0 && counts[1] == 2 && counts[2] == 0 && counts[3] == 1);

    /* One frame, and no frames (class 0, all counts 0). */
    ck_assert_int_eq(metrics_record_vote(p2 + 8, 1, 4, counts), 3);
    ck_assert_int_eq(metrics_record_vote(p2, 0, 4, counts), 0);
    ck_assert(counts[0] == 0 && counts[1] == 0 && counts[2] == 0 && counts[3] == 0);

    /* Random records against a direct count. */
    rng r;
    rng_seed(&r, g_seed ^ 3);
    for (int rec = 0; rec < 200; rec++) {
        int K = 2 + (int)rng_below(&r, 7), T = 1 + (int)rng_below(&r, 40);
        float p[40 * 8];
        long want[8] = {0};
        for (int t = 0; t < T; t++) {
            int hot = (int)rng_below(&r, (uint32_t)K);
            for (int k = 0; k < K; k++)
                p[t * K + k] = k == hot ? 0.5f + 0.5f * rng_uniform(&r) : 0.49f * rng_uniform(&r);
            want[hot]++;
        }
        int best = 0;
        for (int k = 1; k < K; k++)
            if (want[k] > want[best])
                best = k;
        ck_assert_int_eq(metrics_record_vote(p, T, K, counts), best);
        for (int k = 0; k < K; k++)
            ck_assert_int_eq(counts[k], want[k]);
    }
}
END_TEST

START_TEST(test_class_names)
{
    ck_assert_str_eq(metrics_class_name(0), "N");
    ck_assert_str_eq(metrics_class_name(1), "A");
    ck_assert_str_eq(metrics_class_name(2), "O");
    ck_assert_str_eq(metrics_class_name(3), "~");
    ck_assert_str_eq(metrics_class_name(4), "C4");
    ck_assert_str_eq(metrics_class_name(7), "C7");
    ck_assert_str_eq(metrics_class_name(8), "?");
    ck_assert_str_eq(metrics_class_name(-1), "?");
}
END_TEST

/* ------------------------------------------------------------- CSV files */

/* A CSV file as parsed by libcsv: up to 16 rows of up to 8 fields. */
typedef struct table {
    char cell[16][8][64];
    int ncols[16];
    int nrows, col;
} table;

static void on_field(void *s, size_t len, void *data)
{
    table *t = data;
    ck_assert(t->nrows < 16 && t->col < 8 && len < 64);
    memcpy(t->cell[t->nrows][t->col], s ? s : "", s ? len : 0);
    t->cell[t->nrows][t->col][s ? len : 0] = '\0';
    t->col++;
}

static void on_row(int c, void *data)
{
    (void)c;
    table *t = data;
    t->ncols[t->nrows++] = t->col;
    t->col = 0;
}

static void parse_csv(const char *path, table *t, char **text)
{
    rerr e = {{0}};
    size_t n;
    ck_assert_msg(util_read_file(path, text, &n, &e) == 0, "%s", e.msg);
    memset(t, 0, sizeof *t);
    struct csv_parser p;
    ck_assert(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) == 0);
    ck_assert_uint_eq(csv_parse(&p, *text, n, on_field, on_row, t), n);
    ck_assert_int_eq(csv_fini(&p, on_field, on_row, t), 0);
    csv_free(&p);
}

static void row_is(const table *t, int r, const char *const *want, int n)
{
    ck_assert_int_eq(t->ncols[r], n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strcmp(t->cell[r][i], want[i]) == 0, "row %d field %d: \"%s\", want \"%s\"",
                      r, i, t->cell[r][i], want[i]);
}

START_TEST(test_f1_csv)
{
    rng r;
    rng_seed(&r, g_seed ^ 4);
    metrics m;
    fill(&m, 4, case1, &r);
    char path[1024];
    ck_assert(util_path_join(path, sizeof path, g_dir, "f1.csv") == 0);
    rerr e = {{0}};
    ck_assert_msg(metrics_write_f1_csv(&m, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dir_count(".tmp."), 0);

    table t;
    char *text;
    parse_csv(path, &t, &text);
    /* The numbers of case 1 above, as %.6f. */
    ck_assert_int_eq(t.nrows, 9);
    row_is(&t, 0, (const char *const[]){"class", "precision", "recall", "f1", "support"}, 5);
    row_is(&t, 1, (const char *const[]){"N", "0.750000", "0.600000", "0.666667", "5"}, 5);
    row_is(&t, 2, (const char *const[]){"A", "0.500000", "0.500000", "0.500000", "2"}, 5);
    row_is(&t, 3, (const char *const[]){"O", "0.750000", "0.750000", "0.750000", "8"}, 5);
    row_is(&t, 4, (const char *const[]){"~", "0.000000", "0.000000", "0.000000", "0"}, 5);
    row_is(&t, 5, (const char *const[]){"cinc_f1", "", "", "0.638889", ""}, 5);
    row_is(&t, 6, (const char *const[]){"macro_f1", "", "", "0.479167", ""}, 5);
    row_is(&t, 7, (const char *const[]){"weighted_f1", "", "", "0.688889", "15"}, 5);
    row_is(&t, 8, (const char *const[]){"accuracy", "", "", "0.666667", "15"}, 5);
    /* And the exact text, so nothing is quoted that need not be. */
    ck_assert_str_eq(text, "class,precision,recall,f1,support\n"
                           "N,0.750000,0.600000,0.666667,5\n"
                           "A,0.500000,0.500000,0.500000,2\n"
                           "O,0.750000,0.750000,0.750000,8\n"
                           "~,0.000000,0.000000,0.000000,0\n"
                           "cinc_f1,,,0.638889,\n"
                           "macro_f1,,,0.479167,\n"
                           "weighted_f1,,,0.688889,15\n"
                           "accuracy,,,0.666667,15\n");
    free(text);

    /* Rewriting replaces the file whole; with two classes the CinC score is
     * undefined and its value is left empty. */
    static const long c[4] = {5, 1, 2, 4};
    fill(&m, 2, c, &r);
    ck_assert_msg(metrics_write_f1_csv(&m, path, &e) == 0, "%s", e.msg);
    parse_csv(path, &t, &text);
    ck_assert_int_eq(t.nrows, 7);
    row_is(&t, 1, (const char *const[]){"N", "0.714286", "0.833333", "0.769231", "6"}, 5);
    row_is(&t, 3, (const char *const[]){"cinc_f1", "", "", "", ""}, 5);
    ck_assert_double_eq_tol(strtod(t.cell[4][3], NULL), m.macro_f1, 5e-7);
    free(text);
    ck_assert_int_eq(dir_count(".tmp."), 0);
    ck_assert_int_eq(dir_count(NULL), 1);
}
END_TEST

START_TEST(test_confusion_csv)
{
    rng r;
    rng_seed(&r, g_seed ^ 5);
    metrics m;
    fill(&m, 4, case1, &r);
    char path[1024];
    ck_assert(util_path_join(path, sizeof path, g_dir, "confusion.csv") == 0);
    rerr e = {{0}};
    ck_assert_msg(metrics_write_confusion_csv(&m, path, &e) == 0, "%s", e.msg);
    table t;
    char *text;
    parse_csv(path, &t, &text);
    ck_assert_int_eq(t.nrows, 5);
    row_is(&t, 0, (const char *const[]){"true\\pred", "N", "A", "O", "~"}, 5);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(t.cell[i + 1][0], metrics_class_name(i));
        for (int j = 0; j < 4; j++)
            ck_assert_int_eq(strtol(t.cell[i + 1][j + 1], NULL, 10), case1[i * 4 + j]);
    }
    ck_assert_str_eq(text, "true\\pred,N,A,O,~\nN,3,0,2,0\nA,1,1,0,0\nO,0,1,6,1\n~,0,0,0,0\n");
    free(text);
    ck_assert_int_eq(dir_count(".tmp."), 0);

    /* A directory that does not exist: an error naming the file, and no file. */
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/no/such/dir/confusion.csv", g_dir);
    ck_assert(metrics_write_confusion_csv(&m, bad, &e) == -1);
    ck_assert_msg(strstr(e.msg, bad) != NULL, "%s", e.msg);
    ck_assert(metrics_write_f1_csv(&m, bad, &e) == -1);
    ck_assert_msg(strstr(e.msg, bad) != NULL, "%s", e.msg);
    ck_assert_int_eq(dir_count(".tmp."), 0);
}
END_TEST

/* rerr_prefix puts context before a message already in e, and truncates at
 * the end like rerr_set when the two do not fit. */
START_TEST(test_rerr_prefix)
{
    rerr e;
    rerr_set(&e, "out of memory");
    ck_assert_int_eq(rerr_prefix(&e, "epoch %d batch %d", 3, 7), -1);
    ck_assert_str_eq(e.msg, "epoch 3 batch 7: out of memory");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rerr_set(&e, "%s", "tail");
    rerr_prefix(&e, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), sizeof e.msg - 1);
    ck_assert(e.msg[0] == 'x' && e.msg[sizeof e.msg - 2] == 'x');
    rerr_set(&e, "%.1020s", big); /* with "ctx: " longer than e holds */
    rerr_prefix(&e, "ctx");
    ck_assert(strncmp(e.msg, "ctx: xxx", 8) == 0);
    ck_assert_uint_eq(strlen(e.msg), sizeof e.msg - 1);
    ck_assert_int_eq(rerr_prefix(NULL, "ignored"), -1);
}
END_TEST

int main(void)
{
    const char *s = getenv("RESECG_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_metrics: seed %llu (set RESECG_SEED to repeat)\n", (unsigned long long)g_seed);

    Suite *suite = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_case1);
    tcase_add_test(tc, test_rerr_prefix);
    tcase_add_test(tc, test_case2_zero_division);
    tcase_add_test(tc, test_two_classes);
    tcase_add_test(tc, test_vote);
    tcase_add_test(tc, test_class_names);
    tcase_add_test(tc, test_f1_csv);
    tcase_add_test(tc, test_confusion_csv);
    suite_add_tcase(suite, tc);

    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

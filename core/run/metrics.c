/* Record-level metrics (see metrics.h) and their CSV files.
 *
 * f1.csv, one row per class then four summary rows; a summary row leaves
 * precision and recall empty and puts its score in the f1 column:
 *   class,precision,recall,f1,support
 *   N,0.750000,0.600000,0.666667,5         (one row per class, CinC order)
 *   cinc_f1,,,0.xxxxxx,                     (empty value when K < 3)
 *   macro_f1,,,0.xxxxxx,
 *   weighted_f1,,,0.xxxxxx,TOTAL
 *   accuracy,,,0.xxxxxx,TOTAL
 * confusion.csv, rows are the true class, columns the predicted one:
 *   true\pred,N,A,O,~
 *   N,5,0,1,0
 * Floats are %.6f; fields that need quoting go through libcsv's csv_fwrite. */
#include "run/metrics.h"

#include <csv.h>
#include <stdio.h>
#include <string.h>

void metrics_init(metrics *m, int K)
{
    RESECG_ASSERT(K >= 1 && K <= RESECG_MAX_CLASSES);
    memset(m, 0, sizeof *m);
    m->K = K;
}

void metrics_add(metrics *m, int truth, int pred)
{
    RESECG_ASSERT(truth >= 0 && truth < m->K && pred >= 0 && pred < m->K);
    m->confusion[truth][pred]++;
}

/* sklearn's definitions with zero_division=0: a class never predicted has
 * precision 0, one never present recall 0, and F1 = 2PR/(P+R) or 0 when
 * both are 0. The CinC 2017 score is the mean F1 of N, A and O (noise is
 * left out of the official score). */
void metrics_finish(metrics *m)
{
    int K = m->K;
    long diag = 0;
    m->total = 0;
    for (int c = 0; c < K; c++) {
        long tp = m->confusion[c][c], predicted = 0, present = 0;
        for (int j = 0; j < K; j++) {
            predicted += m->confusion[j][c];
            present += m->confusion[c][j];
        }
        double p = predicted ? (double)tp / (double)predicted : 0.0;
        double r = present ? (double)tp / (double)present : 0.0;
        m->precision[c] = p;
        m->recall[c] = r;
        m->f1[c] = p + r > 0 ? 2.0 * p * r / (p + r) : 0.0;
        m->support[c] = present;
        m->total += present;
        diag += tp;
    }
    double macro = 0, weighted = 0;
    for (int c = 0; c < K; c++) {
        macro += m->f1[c];
        weighted += (double)m->support[c] * m->f1[c];
    }
    m->macro_f1 = macro / K;
    m->weighted_f1 = m->total ? weighted / (double)m->total : 0.0;
    m->accuracy = m->total ? (double)diag / (double)m->total : 0.0;
    m->cinc_f1 = K >= 3 ? (m->f1[0] + m->f1[1] + m->f1[2]) / 3.0 : 0.0;
}

/* Argmax per frame takes the first maximum, as numpy's argmax; the vote then
 * takes the most frequent class, again the lowest on a tie. With T = 0 every
 * count is 0 and class 0 is returned. */
int metrics_record_vote(const float *probs, int T, int K, long *counts)
{
    long local[RESECG_MAX_CLASSES];
    RESECG_ASSERT(K >= 1 && K <= RESECG_MAX_CLASSES && T >= 0);
    if (!counts)
        counts = local;
    for (int k = 0; k < K; k++)
        counts[k] = 0;
    for (int t = 0; t < T; t++) {
        const float *row = probs + (size_t)t * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best])
                best = k;
        counts[best]++;
    }
    int mode = 0;
    for (int k = 1; k < K; k++)
        if (counts[k] > counts[mode])
            mode = k;
    return mode;
}

const char *metrics_class_name(int k)
{
    static const char *const names[RESECG_MAX_CLASSES] = {"N",  "A",  "O",  "~",
                                                          "C4", "C5", "C6", "C7"};
    return k >= 0 && k < RESECG_MAX_CLASSES ? names[k] : "?";
}


static void csv_row(FILE *fp, const char *const *fields, int n)
{
    for (int i = 0; i < n; i++)
        util_csv_field(fp, fields[i], i == 0);
    fputc('\n', fp);
}

int metrics_write_f1_csv(const metrics *m, const char *path, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    static const char *const header[] = {"class", "precision", "recall", "f1", "support"};
    csv_row(af.fp, header, 5);
    char p[32], r[32], f[32], s[32], total[32];
    for (int c = 0; c < m->K; c++) {
        snprintf(p, sizeof p, "%.6f", m->precision[c]);
        snprintf(r, sizeof r, "%.6f", m->recall[c]);
        snprintf(f, sizeof f, "%.6f", m->f1[c]);
        snprintf(s, sizeof s, "%ld", m->support[c]);
        const char *row[] = {metrics_class_name(c), p, r, f, s};
        csv_row(af.fp, row, 5);
    }
    snprintf(total, sizeof total, "%ld", m->total);
    if (m->K >= 3)
        snprintf(f, sizeof f, "%.6f", m->cinc_f1);
    else
        f[0] = '\0';
    csv_row(af.fp, (const char *const[]){"cinc_f1", "", "", f, ""}, 5);
    snprintf(f, sizeof f, "%.6f", m->macro_f1);
    csv_row(af.fp, (const char *const[]){"macro_f1", "", "", f, ""}, 5);
    snprintf(f, sizeof f, "%.6f", m->weighted_f1);
    csv_row(af.fp, (const char *const[]){"weighted_f1", "", "", f, total}, 5);
    snprintf(f, sizeof f, "%.6f", m->accuracy);
    csv_row(af.fp, (const char *const[]){"accuracy", "", "", f, total}, 5);
    return afile_commit(&af, e); /* catches any write error through ferror */
}

int metrics_write_confusion_csv(const metrics *m, const char *path, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    util_csv_field(af.fp, "true\\pred", 1);
    for (int j = 0; j < m->K; j++)
        util_csv_field(af.fp, metrics_class_name(j), 0);
    fputc('\n', af.fp);
    for (int i = 0; i < m->K; i++) {
        util_csv_field(af.fp, metrics_class_name(i), 1);
        for (int j = 0; j < m->K; j++) {
            char v[32];
            snprintf(v, sizeof v, "%ld", m->confusion[i][j]);
            util_csv_field(af.fp, v, 0);
        }
        fputc('\n', af.fp);
    }
    return afile_commit(&af, e);
}

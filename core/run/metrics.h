/* Classification metrics on records: the confusion matrix, per-class
 * precision, recall and F1, the CinC 2017 challenge score (mean F1 of N, A, O),
 * macro F1 over all classes and support-weighted F1. A record's prediction is
 * the mode of its frames' argmax (ties go to the lower class index). */
#ifndef RESECG_METRICS_H
#define RESECG_METRICS_H

#include "base/config.h"
#include "base/util.h"

typedef struct metrics {
    int K;
    long confusion[RESECG_MAX_CLASSES][RESECG_MAX_CLASSES]; /* [true][predicted] */
    double precision[RESECG_MAX_CLASSES];
    double recall[RESECG_MAX_CLASSES];
    double f1[RESECG_MAX_CLASSES]; /* 0 where precision + recall = 0 (sklearn's zero_division=0) */
    long support[RESECG_MAX_CLASSES];
    double cinc_f1;     /* mean of f1[0..2] (N, A, O); needs K >= 3 */
    double macro_f1;    /* mean over the K classes */
    double weighted_f1; /* sum support_c * f1_c / total */
    double accuracy;
    long total;
} metrics;

void metrics_init(metrics *m, int K);
void metrics_add(metrics *m, int truth, int pred);
/* Computes the derived fields from the confusion matrix. */
void metrics_finish(metrics *m);

/* Record prediction: mode of argmax over the first T valid frames.
 * probs (T, K) for one record; counts fills (K) if not NULL. */
int metrics_record_vote(const float *probs, int T, int K, long *counts);

/* Class names in the CinC order: "N", "A", "O", "~" (then "C4", ...). */
const char *metrics_class_name(int k);

/* Writes the per-class F1 CSV (class,precision,recall,f1,support, then rows
 * cinc_f1, macro_f1, weighted_f1, accuracy) atomically. */
int metrics_write_f1_csv(const metrics *m, const char *path, rerr *e);
/* Writes the confusion matrix CSV (header "true\\pred,N,A,O,~") atomically. */
int metrics_write_confusion_csv(const metrics *m, const char *path, rerr *e);

#endif

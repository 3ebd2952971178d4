/* Datasets of labelled ECG records, the built-in synthetic ECG generator,
 * train/dev splits, normalisation statistics and padded batches.
 * A record carries one label for its whole length; every output frame of the
 * network (one per `frame` input samples) gets that label, and frames past a
 * record's end in a padded batch get -1 (masked from the loss). */
#ifndef RESECG_DATA_H
#define RESECG_DATA_H

#include <stdint.h>

#include "util.h"

typedef struct record {
    char name[32];
    float *x;  /* (len) samples, owned by the dataset */
    int len;
    int label; /* 0..K-1 in the CinC order N, A, O, ~ */
} record;

typedef struct dataset {
    record *recs;
    int n, cap;
    int num_classes;
} dataset;

void dataset_init(dataset *ds, int num_classes);
/* Appends a copy of x; -1 with e filled on allocation failure or a bad label. */
int dataset_add(dataset *ds, const char *name, const float *x, int len, int label, rerr *e);
void dataset_free(dataset *ds);
/* counts (num_classes) = number of records of each class among idx (all if idx NULL). */
void dataset_class_counts(const dataset *ds, const int *idx, int n, long *counts);

/* ---- synthetic ECG (core/synth.c) ----
 * Four rhythm classes a network can tell apart, built from a sum-of-Gaussians
 * beat model (P, Q, R, S, T waves, after McSharry et al. 2003, ECGSYN):
 *   0 N: sinus rhythm, 55-100 bpm, small RR variability, P waves present;
 *   1 A: atrial fibrillation: irregularly irregular RR, no P waves, 4-9 Hz f-waves;
 *   2 O: other rhythm: ventricular bigeminy (alternating normal and wide premature
 *        beats, long-short RR) or sinus bradycardia (35-50 bpm);
 *   3 ~: noise: heavy electrode motion / EMG noise and baseline wander over a weak
 *        or absent ECG.
 * Every record also gets baseline wander, mains hum and white noise scaled by
 * `noise`, and about one in six records is inverted (lead reversal, common in
 * CinC 2017). Values are in mV. */
typedef struct synth_params {
    int n;          /* records */
    int min_len;    /* samples; lengths are uniform in [min_len, max_len] */
    int max_len;
    int fs;         /* sampling rate, Hz (300 as CinC 2017) */
    float noise;    /* noise scale, 1 = the generator's normal level */
    uint64_t seed;
} synth_params;

/* Appends p->n records (named S00001...) with classes drawn in the CinC 2017
 * proportions (N 59%, A 9%, O 28%, ~ 4%) but at least n/10 of each. */
int synth_generate(dataset *ds, const synth_params *p, rerr *e);
/* One record of class cls into x (len); writes the sample index of each R peak
 * into beats (up to max_beats) and returns how many there were. */
int synth_record(float *x, int len, int cls, const synth_params *p, uint64_t record_seed,
                 int *beats, int max_beats);

/* ---- splits and statistics (core/data.c) ----
 * Stratified, seeded split: in each class, round(dev_fraction * count)
 * records go to dev. *train and *dev are malloc'd index arrays (caller frees). */
int dataset_split(const dataset *ds, double dev_fraction, uint64_t seed, int **train, int *ntrain,
                  int **dev, int *ndev, rerr *e);
/* Mean and standard deviation over all samples of the records in idx. */
void dataset_stats(const dataset *ds, const int *idx, int n, double *mean, double *std);

/* ---- batches ---- */
typedef struct batch {
    int cap_B, cap_L;
    int B, L, T;  /* L = padded length (multiple of frame), T = L / frame */
    float *x;     /* (B, 1, L) normalised samples, zero padded */
    int *labels;  /* (B, T) frame labels, -1 past a record's end */
    int *rec;     /* (B) dataset index of each row */
    int *frames;  /* (B) valid frames of each row */
} batch;

/* Allocates a batch for up to cap_B records of up to cap_L samples. */
int batch_init(batch *bt, int cap_B, int cap_L, rerr *e);
void batch_free(batch *bt);
/* Fills bt with records idx[0..B): each record is trimmed to a multiple of
 * frame (as Hannun et al.: floor(len / frame) * frame), normalised as
 * (x - mean) / std, and zero padded to the longest in the batch. */
void batch_fill(batch *bt, const dataset *ds, const int *idx, int B, int frame, float mean,
                float std);

#endif

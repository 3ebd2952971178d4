/* Datasets of labelled ECG records, the built-in synthetic ECG generator,
 * train/dev splits (stratified, or Python-compatible as the reference
 * implementations), split manifests, normalisation statistics, the batches of
 * an epoch and padded batch tensors.
 * A record carries one label for its whole length; every output frame of the
 * network (one per `frame` input samples) gets that label, and frames past a
 * record's end in a padded batch get -1 (masked from the loss). */
#ifndef RESECG_DATA_H
#define RESECG_DATA_H

#include <stdint.h>

#include "base/util.h"

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

/* ---- synthetic ECG (core/data/synth.c) ----
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

/* ---- splits and statistics (core/data/data.c) ----
 * Stratified, seeded split: in each class, round(dev_fraction * count)
 * records go to dev. *train and *dev are malloc'd index arrays (caller frees). */
int dataset_split(const dataset *ds, double dev_fraction, uint64_t seed, int **train, int *ntrain,
                  int **dev, int *ndev, rerr *e);
/* Mean and standard deviation over all samples of the records in idx. */
void dataset_stats(const dataset *ds, const int *idx, int n, double *mean, double *std);

/* Python-compatible plain split, as both reference implementations make it:
 *   random.seed(seed); random.shuffle(records); dev = records[:int(f * n)]
 * over the records in dataset order (the labels file's order for CinC 2017),
 * with CPython's MT19937 and shuffle (pyrandom.h), so the same records and
 * seed give the originals' dev set exactly. dev_fraction should be the double
 * Python would hold (config_decimal(0.1f) = 0.1, not 0.100000001). Index
 * arrays come back sorted and malloc'd (caller frees). */
int dataset_split_shuffle(const dataset *ds, double dev_fraction, uint64_t seed, int **train,
                          int *ntrain, int **dev, int *ndev, rerr *e);

/* k folds: fold[i] in 0..k-1 for every record. The records are ordered as the
 * split orders them (stratified 0: the Python-compatible shuffle of all
 * records; 1: dataset_split's per-class shuffles) and fold j takes positions
 * [floor(j n / k), floor((j+1) n / k)) of that order (per class when
 * stratified). With the shuffle order and dev_fraction = 1/k, fold 0 is
 * exactly dataset_split_shuffle's dev set. */
int dataset_folds(const dataset *ds, int k, int stratified, uint64_t seed, int *fold, rerr *e);

/* Trims every record to whole frames, floor(len / frame) * frame samples, as
 * Hannun et al. (STEP = 256); a record shorter than one frame is kept whole. */
void dataset_trim(dataset *ds, int frame);

/* Sorts idx (n) by record length, ties by index: the order of by-length
 * batches, and of evaluation batches (records of similar length share a
 * batch, so little padding). -1 with e filled when out of memory. */
int dataset_sort_by_length(const dataset *ds, int *idx, int n, rerr *e);

/* ---- the batches of one training epoch ----
 * by_length (awni/ecg's data_generator): the records sorted by length are cut
 * into consecutive batches of batch_size (the short last one dropped with
 * drop_last), and the order of the batches is shuffled each epoch.
 * random: the records are shuffled each epoch and cut into consecutive
 * batches. The shuffles are seeded from (seed, epoch) alone, so a resumed run
 * sees the same batches as an uninterrupted one. */
typedef struct epoch_batches {
    int *idx;    /* (cap) dataset indices, batch after batch */
    int *start;  /* (cap + 2) batch b is idx[start[b] .. start[b + 1]) */
    int nb;      /* batches this epoch */
    int cap;
    int *sorted; /* (cap) scratch: the records in length order */
    int *perm;   /* (cap + 1) scratch: the batch order */
} epoch_batches;

/* Allocates eb for up to cap records. */
int epoch_batches_init(epoch_batches *eb, int cap, rerr *e);
void epoch_batches_free(epoch_batches *eb);
/* Fills eb with epoch `epoch`'s batches of the records train (n <= cap). With
 * drop_last and fewer records than batch_size, all of them form one batch.
 * -1 with e filled when out of memory (sorting). */
int epoch_batches_fill(epoch_batches *eb, const dataset *ds, const int *train, int n,
                       int batch_size, int by_length, int drop_last, uint64_t seed, int epoch,
                       rerr *e);

/* ---- split manifests ----
 * A CSV with the header `record,label,split` and one row per record: label N,
 * A, O, ~ (metrics_class_name), split `train`, `dev` or a fold number 0..K-1
 * (not mixed in one file). It pins a split down so other tools, or a later
 * run, use exactly the same records. */
#define MANIFEST_TRAIN (-1)
#define MANIFEST_DEV (-2)

/* Writes one row per record of ds (in dataset order) with part[i] =
 * MANIFEST_TRAIN, MANIFEST_DEV or a fold index. Atomic. */
int manifest_write(const char *path, const dataset *ds, const int *part, rerr *e);

/* Reads a manifest for the records of ds into part (ds->n entries) and
 * *nfolds (0 for a train/dev manifest). Every row must name a record of ds
 * (data_name, e.g. the records directory, is put in that message) with the
 * same label, once; every record of ds must be listed. Errors name
 * "path:line: what" (or "path: what" for a record the file lacks). */
int manifest_read(const char *path, const dataset *ds, const char *data_name, int *part,
                  int *nfolds, rerr *e);

/* ---- batches ---- */
typedef struct batch {
    int cap_B, cap_L;
    int buckets;  /* data.length_buckets: 0, or pad T up to data_bucket_frames (set by the caller) */
    int B, L, T;  /* L = padded length (multiple of frame), T = L / frame */
    float *x;     /* (B, 1, L) normalised samples, zero padded */
    int *labels;  /* (B, T) frame labels, -1 past a record's end */
    int *rec;     /* (B) dataset index of each row */
    int *frames;  /* (B) valid frames of each row */
} batch;

/* Allocates a batch for up to cap_B records of up to cap_L samples. */
int batch_init(batch *bt, int cap_B, int cap_L, rerr *e);
void batch_free(batch *bt);
/* The padded length, in frames, of a batch whose longest record has T
 * frames, with n lengths per octave (data.length_buckets): the smallest
 * m 2^e >= T with n <= m < 2n (so at most 1/n of padding is added), never
 * above cap (the longest record the run has: a data set of one length keeps
 * exactly that length); T itself for n == 0 or T <= 2n. The batch shapes a
 * run can see are then at most n per octave of record lengths, which bounds
 * the convolution primitives and algorithm searches the backends make. */
int data_bucket_frames(int T, int n, int cap);
/* The padded length batch_fill gives records idx[0..B) (samples). */
int batch_length(const batch *bt, const dataset *ds, const int *idx, int B, int frame);

/* Fills bt with records idx[0..B): each record is trimmed to a multiple of
 * frame (as Hannun et al.: floor(len / frame) * frame), normalised as
 * (x - mean) / std, and zero padded to the longest in the batch, or
 * further with bt->buckets (data_bucket_frames, cap bt->cap_L). Padded
 * frames are labelled -1 (no loss, no vote) either way. */
void batch_fill(batch *bt, const dataset *ds, const int *idx, int B, int frame, float mean,
                float std);

#endif

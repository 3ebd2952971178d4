/* Datasets of labelled records, stratified train/dev splits, normalisation
 * statistics and padded batches with per-frame labels (see data.h). The
 * synthetic generator lives in synth.c. */
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Stream tag so a split seeded with data.seed never reuses the numbers the
 * synthetic generator draws from the same seed. */
#define DATA_STREAM_SPLIT 0x53504C4954ull /* "SPLIT" */

void dataset_init(dataset *ds, int num_classes)
{
    memset(ds, 0, sizeof *ds);
    ds->num_classes = num_classes;
}

/* Copies x; rejects labels outside [0, num_classes) and empty records (a
 * record needs at least one sample to fill a frame). */
int dataset_add(dataset *ds, const char *name, const float *x, int len, int label, rerr *e)
{
    if (label < 0 || label >= ds->num_classes)
        return rerr_set(e, "%s: label %d outside 0..%d", name, label, ds->num_classes - 1);
    if (len < 1 || !x)
        return rerr_set(e, "%s: empty record (%d samples)", name, len);
    if (ds->n == ds->cap) {
        int cap = ds->cap ? 2 * ds->cap : 64;
        record *recs = realloc(ds->recs, sizeof *recs * (size_t)cap);
        if (!recs)
            return rerr_set(e, "%s: out of memory for %d records", name, cap);
        ds->recs = recs;
        ds->cap = cap;
    }
    record *rc = &ds->recs[ds->n];
    rc->x = malloc(sizeof *rc->x * (size_t)len);
    if (!rc->x)
        return rerr_set(e, "%s: out of memory for %d samples", name, len);
    memcpy(rc->x, x, sizeof *rc->x * (size_t)len);
    snprintf(rc->name, sizeof rc->name, "%s", name); /* truncates names over 31 chars */
    rc->len = len;
    rc->label = label;
    ds->n++;
    return 0;
}

void dataset_free(dataset *ds)
{
    for (int i = 0; i < ds->n; i++)
        free(ds->recs[i].x);
    free(ds->recs);
    int k = ds->num_classes;
    memset(ds, 0, sizeof *ds);
    ds->num_classes = k;
}

void dataset_class_counts(const dataset *ds, const int *idx, int n, long *counts)
{
    for (int k = 0; k < ds->num_classes; k++)
        counts[k] = 0;
    if (!idx)
        n = ds->n;
    for (int i = 0; i < n; i++)
        counts[ds->recs[idx ? idx[i] : i].label]++;
}

static int data_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Per class (in class order): shuffle that class's records with one rng
 * seeded from seed, then the first round(dev_fraction * count) go to dev.
 * Rounding can leave a side empty for tiny datasets; with 0 < dev_fraction < 1
 * and at least two records, one record then moves over (from the largest
 * class) so both sides are usable. Both index arrays come back sorted. */
int dataset_split(const dataset *ds, double dev_fraction, uint64_t seed, int **train, int *ntrain, int **dev,
                  int *ndev, rerr *e)
{
    *train = *dev = NULL;
    *ntrain = *ndev = 0;
    if (!(dev_fraction >= 0.0 && dev_fraction <= 1.0))
        return rerr_set(e, "dev fraction %g outside [0, 1]", dev_fraction);
    int K = ds->num_classes, n = ds->n;
    size_t sz = sizeof(int) * (size_t)(n > 0 ? n : 1);
    int *tr = malloc(sz), *dv = malloc(sz), *order = malloc(sz);
    int *start = calloc((size_t)K + 1, sizeof *start), *ndev_k = calloc((size_t)K + 1, sizeof *ndev_k);
    if (!tr || !dv || !order || !start || !ndev_k) {
        free(tr);
        free(dv);
        free(order);
        free(start);
        free(ndev_k);
        return rerr_set(e, "split: out of memory for %d records", n);
    }

    /* order = record indices grouped by class (counting sort, stable). */
    for (int i = 0; i < n; i++)
        start[ds->recs[i].label + 1]++;
    for (int k = 0; k < K; k++)
        start[k + 1] += start[k];
    for (int i = 0; i < n; i++) {
        int k = ds->recs[i].label;
        order[start[k] + ndev_k[k]++] = i; /* ndev_k: write cursor until set below */
    }
    rng r;
    rng_seed(&r, rng_hash3(seed, DATA_STREAM_SPLIT, 0));
    int total_dev = 0, largest = 0;
    for (int k = 0; k < K; k++) {
        int cnt = start[k + 1] - start[k];
        rng_shuffle(&r, order + start[k], cnt);
        ndev_k[k] = (int)lround(dev_fraction * cnt);
        total_dev += ndev_k[k];
        if (cnt > start[largest + 1] - start[largest])
            largest = k;
    }
    if (n >= 2 && dev_fraction > 0.0 && dev_fraction < 1.0) {
        int cnt = start[largest + 1] - start[largest];
        if (total_dev == 0)
            ndev_k[largest] = 1;
        else if (total_dev == n)
            ndev_k[largest] = cnt - 1;
    }

    int nt = 0, nd = 0;
    for (int k = 0; k < K; k++)
        for (int j = start[k]; j < start[k + 1]; j++) {
            if (j - start[k] < ndev_k[k])
                dv[nd++] = order[j];
            else
                tr[nt++] = order[j];
        }
    qsort(tr, (size_t)nt, sizeof *tr, data_cmp_int);
    qsort(dv, (size_t)nd, sizeof *dv, data_cmp_int);
    free(order);
    free(start);
    free(ndev_k);
    *train = tr;
    *ntrain = nt;
    *dev = dv;
    *ndev = nd;
    return 0;
}

/* Two passes in double (mean, then the mean squared deviation) avoid the
 * cancellation of sum(x^2) - n*mean^2 when the mean is large against the
 * spread. Population std (divide by the count), as numpy's np.std in Hannun
 * et al.'s compute_mean_std. No samples: mean 0, std 1. */
void dataset_stats(const dataset *ds, const int *idx, int n, double *mean, double *std)
{
    if (!idx)
        n = ds->n;
    double sum = 0.0, cnt = 0.0;
    for (int i = 0; i < n; i++) {
        const record *rc = &ds->recs[idx ? idx[i] : i];
        for (int j = 0; j < rc->len; j++)
            sum += rc->x[j];
        cnt += rc->len;
    }
    if (cnt == 0.0) {
        *mean = 0.0;
        *std = 1.0;
        return;
    }
    double m = sum / cnt, ss = 0.0;
    for (int i = 0; i < n; i++) {
        const record *rc = &ds->recs[idx ? idx[i] : i];
        for (int j = 0; j < rc->len; j++) {
            double d = rc->x[j] - m;
            ss += d * d;
        }
    }
    *mean = m;
    *std = sqrt(ss / cnt);
}

/* labels gets cap_L entries per row: enough for any frame >= 1. */
int batch_init(batch *bt, int cap_B, int cap_L, rerr *e)
{
    memset(bt, 0, sizeof *bt);
    if (cap_B < 1 || cap_L < 1)
        return rerr_set(e, "batch: bad capacity %d x %d", cap_B, cap_L);
    size_t cells = (size_t)cap_B * (size_t)cap_L;
    bt->x = malloc(sizeof *bt->x * cells);
    bt->labels = malloc(sizeof *bt->labels * cells);
    bt->rec = malloc(sizeof *bt->rec * (size_t)cap_B);
    bt->frames = malloc(sizeof *bt->frames * (size_t)cap_B);
    if (!bt->x || !bt->labels || !bt->rec || !bt->frames) {
        batch_free(bt);
        return rerr_set(e, "batch: out of memory for %d x %d samples", cap_B, cap_L);
    }
    bt->cap_B = cap_B;
    bt->cap_L = cap_L;
    return 0;
}

void batch_free(batch *bt)
{
    free(bt->x);
    free(bt->labels);
    free(bt->rec);
    free(bt->frames);
    memset(bt, 0, sizeof *bt);
}

/* Valid frames of a record: floor(len / frame) as Hannun et al., except that a
 * record shorter than one frame (never the case in CinC 2017, whose records
 * are 9-60 s) keeps all its samples, zero padded to one frame that is
 * labelled, instead of vanishing. */
static int data_frames(int len, int frame) { return len >= frame ? len / frame : 1; }

/* Rows are contiguous with stride L (the batch's padded length, not cap_L),
 * labels with stride T, as the model's (B, 1, L) and (B, T) views expect. */
void batch_fill(batch *bt, const dataset *ds, const int *idx, int B, int frame, float mean, float std)
{
    RESECG_ASSERT(B >= 0 && B <= bt->cap_B && frame >= 1 && std > 0.0f);
    int T = 0;
    for (int b = 0; b < B; b++) {
        int f = data_frames(ds->recs[idx[b]].len, frame);
        if (f > T)
            T = f;
    }
    int L = T * frame;
    RESECG_ASSERT(L <= bt->cap_L);
    bt->B = B;
    bt->T = T;
    bt->L = L;
    for (int b = 0; b < B; b++) {
        const record *rc = &ds->recs[idx[b]];
        int f = data_frames(rc->len, frame);
        int used = rc->len < f * frame ? rc->len : f * frame;
        float *row = bt->x + (size_t)b * (size_t)L;
        for (int j = 0; j < used; j++)
            row[j] = (rc->x[j] - mean) / std;
        for (int j = used; j < L; j++)
            row[j] = 0.0f;
        int *lab = bt->labels + (size_t)b * (size_t)T;
        for (int t = 0; t < T; t++)
            lab[t] = t < f ? rc->label : -1;
        bt->rec[b] = idx[b];
        bt->frames[b] = f;
    }
}

/* Datasets of labelled records, train/dev splits (stratified, and the
 * Python-compatible shuffle of the reference implementations), k folds, split
 * manifests, normalisation statistics, the batches of an epoch and padded
 * batches with per-frame labels (see data.h). The synthetic generator lives
 * in synth.c. */
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/metrics.h"
#include "data/pyrandom.h"
#include "nn/rng.h"

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
int data_bucket_frames(int T, int n, int cap)
{
    if (n <= 0 || T <= 2 * n)
        return T;
    int e = 0;
    while (((T + (1 << e) - 1) >> e) >= 2 * n)
        e++;
    int b = ((T + (1 << e) - 1) >> e) << e;
    return b > cap && cap >= T ? cap : b;
}

int batch_length(const batch *bt, const dataset *ds, const int *idx, int B, int frame)
{
    int T = 0;
    for (int b = 0; b < B; b++) {
        int f = data_frames(ds->recs[idx[b]].len, frame);
        if (f > T)
            T = f;
    }
    return data_bucket_frames(T, bt->buckets, bt->cap_L / frame) * frame;
}

void batch_fill(batch *bt, const dataset *ds, const int *idx, int B, int frame, float mean, float std)
{
    RESECG_ASSERT(B >= 0 && B <= bt->cap_B && frame >= 1 && std > 0.0f);
    int L = batch_length(bt, ds, idx, B, frame), T = L / frame;
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

/* ---- Python-compatible splits ---- */

/* 0..n-1 in the order Python's random.seed(seed); random.shuffle(...) leaves
 * a list of n items: order[p] is the record at position p. */
static int *data_python_order(int n, uint64_t seed)
{
    int *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    if (!order)
        return NULL;
    for (int i = 0; i < n; i++)
        order[i] = i;
    pyrandom r;
    pyrandom_seed(&r, seed);
    pyrandom_shuffle(&r, order, n);
    return order;
}

int dataset_split_shuffle(const dataset *ds, double dev_fraction, uint64_t seed, int **train,
                          int *ntrain, int **dev, int *ndev, rerr *e)
{
    *train = *dev = NULL;
    *ntrain = *ndev = 0;
    if (!(dev_fraction >= 0.0 && dev_fraction <= 1.0))
        return rerr_set(e, "dev fraction %g outside [0, 1]", dev_fraction);
    int n = ds->n;
    size_t sz = sizeof(int) * (size_t)(n > 0 ? n : 1);
    int *order = data_python_order(n, seed), *tr = malloc(sz), *dv = malloc(sz);
    if (!order || !tr || !dv) {
        free(order);
        free(tr);
        free(dv);
        return rerr_set(e, "split: out of memory for %d records", n);
    }
    /* Python: dev_cut = int(dev_frac * len(dataset)), truncation of a double */
    int cut = (int)(dev_fraction * (double)n);
    memcpy(dv, order, sizeof(int) * (size_t)cut);
    memcpy(tr, order + cut, sizeof(int) * (size_t)(n - cut));
    free(order);
    qsort(tr, (size_t)(n - cut), sizeof *tr, data_cmp_int);
    qsort(dv, (size_t)cut, sizeof *dv, data_cmp_int);
    *train = tr;
    *ntrain = n - cut;
    *dev = dv;
    *ndev = cut;
    return 0;
}

/* fold of position p among cnt ordered items: the j with
 * floor(j cnt / k) <= p < floor((j+1) cnt / k) */
static int data_fold_of(long p, long cnt, int k)
{
    int j = (int)(p * k / cnt);
    while (j > 0 && p < (long)j * cnt / k)
        j--;
    while (j + 1 < k && p >= (long)(j + 1) * cnt / k)
        j++;
    return j;
}

int dataset_folds(const dataset *ds, int k, int stratified, uint64_t seed, int *fold, rerr *e)
{
    int n = ds->n, K = ds->num_classes;
    if (k < 2 || k > n)
        return rerr_set(e, "%d folds of %d records: need 2 <= folds <= records", k, n);
    if (!stratified) {
        int *order = data_python_order(n, seed);
        if (!order)
            return rerr_set(e, "folds: out of memory for %d records", n);
        for (int p = 0; p < n; p++)
            fold[order[p]] = data_fold_of(p, n, k);
        free(order);
        return 0;
    }
    /* the per-class orders dataset_split draws: records grouped by class,
     * each class shuffled in turn by one rng seeded from seed */
    int *order = malloc(sizeof *order * (size_t)n);
    int *start = calloc((size_t)K + 1, sizeof *start), *cur = calloc((size_t)K, sizeof *cur);
    if (!order || !start || !cur) {
        free(order);
        free(start);
        free(cur);
        return rerr_set(e, "folds: out of memory for %d records", n);
    }
    for (int i = 0; i < n; i++)
        start[ds->recs[i].label + 1]++;
    for (int c = 0; c < K; c++)
        start[c + 1] += start[c];
    for (int i = 0; i < n; i++) {
        int c = ds->recs[i].label;
        order[start[c] + cur[c]++] = i;
    }
    rng r;
    rng_seed(&r, rng_hash3(seed, DATA_STREAM_SPLIT, 0));
    for (int c = 0; c < K; c++) {
        int cnt = start[c + 1] - start[c];
        rng_shuffle(&r, order + start[c], cnt);
        for (int p = 0; p < cnt; p++)
            fold[order[start[c] + p]] = data_fold_of(p, cnt, k);
    }
    free(order);
    free(start);
    free(cur);
    return 0;
}

void dataset_trim(dataset *ds, int frame)
{
    for (int i = 0; i < ds->n; i++)
        if (ds->recs[i].len >= frame)
            ds->recs[i].len = ds->recs[i].len / frame * frame;
}

typedef struct len_idx {
    int len, idx;
} len_idx;

static int data_cmp_len(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len)
        return (x->len > y->len) - (x->len < y->len);
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int dataset_sort_by_length(const dataset *ds, int *idx, int n, rerr *e)
{
    len_idx *t = malloc(sizeof *t * (size_t)(n > 0 ? n : 1));
    if (!t)
        return rerr_set(e, "sort: out of memory for %d records", n);
    for (int i = 0; i < n; i++) {
        t[i].len = ds->recs[idx[i]].len;
        t[i].idx = idx[i];
    }
    qsort(t, (size_t)n, sizeof *t, data_cmp_len);
    for (int i = 0; i < n; i++)
        idx[i] = t[i].idx;
    free(t);
    return 0;
}

/* ---- the batches of an epoch ---- */

/* Stream tags: the epoch shuffles never reuse another draw of train.seed.
 * RANDOM is the tag the training loop used before by_length existed, so a
 * random-batching run is unchanged. */
#define DATA_STREAM_EPOCH_RANDOM 0x0de5ull
#define DATA_STREAM_EPOCH_BYLEN 0x42594C454Eull /* "BYLEN" */

int epoch_batches_init(epoch_batches *eb, int cap, rerr *e)
{
    memset(eb, 0, sizeof *eb);
    if (cap < 1)
        cap = 1;
    eb->idx = malloc(sizeof *eb->idx * (size_t)cap);
    eb->start = malloc(sizeof *eb->start * ((size_t)cap + 2));
    eb->sorted = malloc(sizeof *eb->sorted * (size_t)cap);
    eb->perm = malloc(sizeof *eb->perm * ((size_t)cap + 1));
    if (!eb->idx || !eb->start || !eb->sorted || !eb->perm) {
        epoch_batches_free(eb);
        return rerr_set(e, "batches: out of memory for %d records", cap);
    }
    eb->cap = cap;
    return 0;
}

void epoch_batches_free(epoch_batches *eb)
{
    free(eb->idx);
    free(eb->start);
    free(eb->sorted);
    free(eb->perm);
    memset(eb, 0, sizeof *eb);
}

int epoch_batches_fill(epoch_batches *eb, const dataset *ds, const int *train, int n,
                       int batch_size, int by_length, int drop_last, uint64_t seed, int epoch,
                       rerr *e)
{
    RESECG_ASSERT(n >= 0 && n <= eb->cap && batch_size >= 1);
    int B = batch_size;
    memcpy(eb->idx, train, sizeof(int) * (size_t)n);
    int nfull = n / B, rem = n % B;
    /* the short batch stays unless drop_last, and always when it is all there is */
    int nb = nfull + (rem > 0 && (!drop_last || nfull == 0));
    rng r;
    if (!by_length) {
        rng_seed(&r, rng_hash3(seed, (uint64_t)epoch, DATA_STREAM_EPOCH_RANDOM));
        rng_shuffle(&r, eb->idx, n);
        for (int b = 0; b < nb; b++)
            eb->start[b] = b * B;
        eb->start[nb] = nb * B < n ? nb * B : n;
        eb->nb = nb;
        return 0;
    }
    int *perm = eb->perm, *sorted = eb->sorted;
    memcpy(sorted, train, sizeof(int) * (size_t)n);
    if (dataset_sort_by_length(ds, sorted, n, e) != 0)
        return -1;
    /* shuffle the batch order; the batches themselves stay as cut */
    for (int b = 0; b < nb; b++)
        perm[b] = b;
    rng_seed(&r, rng_hash3(seed, (uint64_t)epoch, DATA_STREAM_EPOCH_BYLEN));
    rng_shuffle(&r, perm, nb);
    int o = 0;
    for (int b = 0; b < nb; b++) {
        int s0 = perm[b] * B, s1 = s0 + B < n ? s0 + B : n;
        eb->start[b] = o;
        memcpy(eb->idx + o, sorted + s0, sizeof(int) * (size_t)(s1 - s0));
        o += s1 - s0;
    }
    eb->start[nb] = o;
    eb->nb = nb;
    return 0;
}

/* ---- split manifests ---- */

int manifest_write(const char *path, const dataset *ds, const int *part, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    fprintf(af.fp, "record,label,split\n");
    for (int i = 0; i < ds->n; i++) {
        const record *rc = &ds->recs[i];
        if (part[i] == MANIFEST_TRAIN || part[i] == MANIFEST_DEV)
            fprintf(af.fp, "%s,%s,%s\n", rc->name, metrics_class_name(rc->label),
                    part[i] == MANIFEST_DEV ? "dev" : "train");
        else
            fprintf(af.fp, "%s,%s,%d\n", rc->name, metrics_class_name(rc->label), part[i]);
    }
    return afile_commit(&af, e);
}

typedef struct name_idx {
    const char *name;
    int idx;
} name_idx;

static int data_cmp_name(const void *a, const void *b)
{
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

/* "'text'" of a field for messages, cut at 40 characters */
static const char *data_quote(char *buf, size_t n, const char *s, size_t len)
{
    snprintf(buf, n, "'%.*s%s'", (int)(len > 40 ? 40 : len), s, len > 40 ? "..." : "");
    return buf;
}

/* One manifest row "record,label,split" (no CR/LF) into its parts;
 * -1 with e naming path:line. *part is a fold number or MANIFEST_*. */
static int manifest_parse_row(char *row, const char *path, int line, const dataset *ds,
                              char **name, int *label, int *part, rerr *e)
{
    char q[64];
    char *f[3];
    int nf = 0;
    for (char *p = row;; p++) {
        if (nf < 3)
            f[nf] = p;
        nf++;
        p = strchr(p, ',');
        if (!p)
            break;
        *p = '\0';
    }
    if (nf != 3)
        return rerr_set(e, "%s:%d: expected 3 fields (record,label,split), got %d", path, line, nf);
    *name = f[0];
    if (f[0][0] == '\0' || strlen(f[0]) >= sizeof ds->recs[0].name)
        return rerr_set(e, "%s:%d: bad record name %s", path, line,
                        data_quote(q, sizeof q, f[0], strlen(f[0])));
    *label = -1;
    for (int k = 0; k < ds->num_classes; k++)
        if (strcmp(f[1], metrics_class_name(k)) == 0)
            *label = k;
    if (*label < 0)
        return rerr_set(e, "%s:%d: unknown label %s for %s", path, line,
                        data_quote(q, sizeof q, f[1], strlen(f[1])), f[0]);
    if (strcmp(f[2], "train") == 0) {
        *part = MANIFEST_TRAIN;
    } else if (strcmp(f[2], "dev") == 0) {
        *part = MANIFEST_DEV;
    } else {
        char *end;
        long v = strtol(f[2], &end, 10);
        if (f[2][0] < '0' || f[2][0] > '9' || *end != '\0' || v > 100000)
            return rerr_set(e, "%s:%d: unknown split %s for %s (train, dev or a fold number)",
                            path, line, data_quote(q, sizeof q, f[2], strlen(f[2])), f[0]);
        *part = (int)v;
    }
    return 0;
}

int manifest_read(const char *path, const dataset *ds, const char *data_name, int *part,
                  int *nfolds, rerr *e)
{
    char *text = NULL;
    size_t len = 0;
    if (util_read_file_kind(path, UTIL_TEXT, 0, &text, &len, e) != 0)
        return -1;
    int n = ds->n, rc = -1;
    name_idx *names = malloc(sizeof *names * (size_t)(n > 0 ? n : 1));
    int *seen = calloc((size_t)(n > 0 ? n : 1), sizeof *seen); /* line that listed record i */
    if (!names || !seen) {
        rerr_set(e, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        names[i].name = ds->recs[i].name;
        names[i].idx = i;
    }
    qsort(names, (size_t)n, sizeof *names, data_cmp_name);
    /* rows are C strings below: a NUL byte would silently end the file early */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int at = 1;
        for (const char *q = text; q < nul; q++)
            at += *q == '\n';
        rerr_set(e, "%s:%d: contains a NUL byte", path, at);
        goto done;
    }
    *nfolds = 0;
    int kind_line = 0, folds = 0, line = 0; /* kind: the first row's (train/dev or fold) */
    int header = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        char *row = p;
        p = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        line++;
        size_t rl = strlen(row);
        if (rl && row[rl - 1] == '\r')
            row[--rl] = '\0';
        if (!header) {
            if (strcmp(row, "record,label,split") != 0) {
                char q[64];
                rerr_set(e, "%s:%d: expected the header 'record,label,split', got %s", path, line,
                         data_quote(q, sizeof q, row, rl));
                goto done;
            }
            header = 1;
            continue;
        }
        if (rl == 0)
            continue; /* blank lines (a trailing one) carry nothing */
        char *name = NULL;
        int label = -1, pt = MANIFEST_TRAIN;
        if (manifest_parse_row(row, path, line, ds, &name, &label, &pt, e) != 0)
            goto done;
        int is_fold = pt >= 0;
        if (kind_line == 0) {
            kind_line = line;
            folds = is_fold;
        } else if (folds != is_fold) {
            rerr_set(e, "%s:%d: %s mixes fold numbers with train/dev (line %d has %s)", path,
                     line, name, kind_line, folds ? "a fold number" : "train or dev");
            goto done;
        }
        name_idx key = {.name = name};
        name_idx *hit = bsearch(&key, names, (size_t)n, sizeof *names, data_cmp_name);
        if (!hit) {
            rerr_set(e, "%s:%d: record %s is not in %s", path, line, name, data_name);
            goto done;
        }
        int i = hit->idx;
        if (seen[i]) {
            rerr_set(e, "%s:%d: record %s is listed twice (first at line %d)", path, line, name,
                     seen[i]);
            goto done;
        }
        if (ds->recs[i].label != label) {
            rerr_set(e, "%s:%d: record %s has label %s here but %s in %s", path, line, name,
                     metrics_class_name(label), metrics_class_name(ds->recs[i].label), data_name);
            goto done;
        }
        seen[i] = line;
        part[i] = pt;
        if (is_fold && pt + 1 > *nfolds)
            *nfolds = pt + 1;
    }
    if (!header) {
        rerr_set(e, "%s: empty (expected the header 'record,label,split')", path);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i]) {
            rerr_set(e, "%s: record %s of %s is not listed", path, ds->recs[i].name, data_name);
            goto done;
        }
    rc = 0;
done:
    free(text);
    free(names);
    free(seen);
    return rc;
}

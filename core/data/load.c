/* The data pipeline of a run: load the records a config names, trim them to
 * whole frames, resample, split (load.h). */
#include "data/load.h"

#include <stdlib.h>
#include <string.h>

#include "data/cinc17.h"
#include "data/resample.h"

/* The reader's report as a few log lines: counts by problem, then the first
 * problems one per line. */
static void data_report_text(const cinc17_report *rep, const char *dir, char *out, size_t n)
{
    static const char *const what[CINC17_NPROBLEMS] = {"missing", "bad .mat", "bad header",
                                                       "bad label", "duplicate"};
    size_t o = 0;
    o += (size_t)snprintf(out + o, n - o, "%s: loaded %d records, skipped %d (", dir, rep->loaded,
                          rep->skipped);
    int first = 1;
    for (int p = 0; p < CINC17_NPROBLEMS && o < n; p++) {
        if (!rep->by_problem[p])
            continue;
        o += (size_t)snprintf(out + o, n - o, "%s%s %d", first ? "" : ", ", what[p],
                              rep->by_problem[p]);
        first = 0;
    }
    if (o < n)
        o += (size_t)snprintf(out + o, n - o, ")");
    for (int i = 0; i < rep->nexamples && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "\n  %s", rep->examples[i]);
}

/* Replaces every record by its resampling to m samples. */
static int data_resample(dataset *ds, int m, int *changed, rerr *e)
{
    resampler rs;
    if (resampler_init(&rs, m, e) != 0)
        return -1;
    int rc = 0;
    *changed = 0;
    for (int i = 0; i < ds->n && rc == 0; i++) {
        record *r = &ds->recs[i];
        if (r->len == m)
            continue;
        float *y = malloc(sizeof *y * (size_t)m);
        if (!y) {
            rc = rerr_set(e, "%s: out of memory resampling to %d samples", r->name, m);
            break;
        }
        if (resampler_run(&rs, r->x, r->len, y, e) != 0) {
            free(y);
            rc = -1;
            break;
        }
        free(r->x);
        r->x = y;
        r->len = m;
        (*changed)++;
    }
    resampler_free(&rs);
    return rc;
}

int data_load(const resecg_config *cfg, int resample, dataset *ds, data_info *info, rerr *e)
{
    data_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    double t0 = util_now();
    dataset_init(ds, cfg->model.num_classes);
    if (strcmp(cfg->data.source, "synthetic") == 0) {
        if (cfg->model.num_classes != 4)
            return rerr_set(e, "data.source synthetic makes 4 classes, model.classes is %d",
                            cfg->model.num_classes);
        synth_params sp = {
            .n = cfg->data.synth_records,
            .min_len = cfg->data.synth_min_length,
            .max_len = cfg->data.synth_length,
            .fs = cfg->data.sample_rate,
            .noise = cfg->data.synth_noise,
            .seed = cfg->data.seed,
        };
        if (synth_generate(ds, &sp, e) != 0) {
            dataset_free(ds);
            return -1;
        }
    } else if (strcmp(cfg->data.source, "cinc17") == 0) {
        if (cfg->model.num_classes != 4)
            return rerr_set(e, "data.source cinc17 has 4 classes (N, A, O, ~), model.classes is %d",
                            cfg->model.num_classes);
        cinc17_opts co = {
            .labels = cfg->data.labels,
            .skip_bad = cfg->data.skip_bad,
            .threads = cfg->train.threads,
        };
        cinc17_report rep;
        if (cinc17_load(ds, cfg->data.dir, &co, &rep, e) != 0) {
            dataset_free(ds);
            return -1;
        }
        info->skipped = rep.skipped;
        if (rep.skipped)
            data_report_text(&rep, cfg->data.dir, info->report, sizeof info->report);
    } else {
        return rerr_set(e, "data.source '%s': expected synthetic or cinc17", cfg->data.source);
    }
    /* awni/ecg: ecg[:STEP * int(len(ecg) / STEP)], one label per STEP samples.
     * The feature model reads whole records at their own rate: no frames,
     * and no resampling (which would change the rate the features assume). */
    int network = cfg->model.type == MODEL_RESECG;
    info->frame = network ? config_frame(&cfg->model) : 1;
    if (network)
        dataset_trim(ds, info->frame);
    if (network && resample && cfg->data.resample_length > 0 &&
        data_resample(ds, cfg->data.resample_length, &info->resampled, e) != 0) {
        dataset_free(ds);
        return -1;
    }
    info->loaded = ds->n;
    info->seconds = util_now() - t0;
    return 0;
}

/* train = records whose part is not dev_part, dev = the others; sorted. */
static int data_split_parts(const int *part, int n, int dev_part, int **train, int *ntrain,
                            int **dev, int *ndev, rerr *e)
{
    size_t sz = sizeof(int) * (size_t)(n > 0 ? n : 1);
    int *tr = malloc(sz), *dv = malloc(sz), nt = 0, nd = 0;
    if (!tr || !dv) {
        free(tr);
        free(dv);
        return rerr_set(e, "split: out of memory for %d records", n);
    }
    for (int i = 0; i < n; i++) {
        if (part[i] == dev_part)
            dv[nd++] = i;
        else
            tr[nt++] = i;
    }
    *train = tr;
    *ntrain = nt;
    *dev = dv;
    *ndev = nd;
    return 0;
}

int data_split(const resecg_config *cfg, const dataset *ds, int **train, int *ntrain, int **dev,
               int *ndev, rerr *e)
{
    const data_config *d = &cfg->data;
    *train = *dev = NULL;
    *ntrain = *ndev = 0;
    if (d->manifest[0]) {
        int *part = malloc(sizeof *part * (size_t)(ds->n > 0 ? ds->n : 1)), nfolds = 0;
        if (!part)
            return rerr_set(e, "%s: out of memory", d->manifest);
        const char *data_name = strcmp(d->source, "cinc17") == 0 ? d->dir : "the synthetic data";
        int rc = manifest_read(d->manifest, ds, data_name, part, &nfolds, e);
        if (rc == 0 && nfolds > 0 && d->dev_fold >= nfolds)
            rc = rerr_set(e, "%s: data.dev_fold is %d but the manifest has folds 0..%d", d->manifest,
                          d->dev_fold, nfolds - 1);
        if (rc == 0)
            rc = data_split_parts(part, ds->n, nfolds > 0 ? d->dev_fold : MANIFEST_DEV, train,
                                  ntrain, dev, ndev, e);
        free(part);
        return rc;
    }
    if (d->split == SPLIT_SHUFFLE)
        return dataset_split_shuffle(ds, config_decimal(d->dev_fraction), d->seed, train, ntrain,
                                     dev, ndev, e);
    return dataset_split(ds, d->dev_fraction, d->seed, train, ntrain, dev, ndev, e);
}

int data_load_split(const resecg_config *cfg, dataset *ds, int **train, int *ntrain, int **dev,
                    int *ndev, data_info *info, rerr *e)
{
    *train = *dev = NULL;
    *ntrain = *ndev = 0;
    if (data_load(cfg, 1, ds, info, e) != 0)
        return -1;
    return data_split(cfg, ds, train, ntrain, dev, ndev, e);
}

int data_load_train(const resecg_config *cfg, dataset *ds, int **train, int *ntrain, int **dev,
                    int *ndev, data_info *info, rerr *e)
{
    if (data_load_split(cfg, ds, train, ntrain, dev, ndev, info, e) != 0)
        return -1;
    if (*ntrain == 0 || *ndev == 0)
        return rerr_set(e, "the split has %d training and %d dev records: both must be non-empty",
                        *ntrain, *ndev);
    return 0;
}

int data_load_eval(const resecg_config *cfg, int all_records, dataset *ds, int **train,
                   int *ntrain, int **dev, int *ndev, data_info *info, rerr *e)
{
    if (data_load(cfg, 1, ds, info, e) != 0)
        return -1;
    if (all_records) {
        /* every record is scored, none is "training" (the class counts of a
         * balanced weighted loss then come from the scored records) */
        *dev = malloc(sizeof **dev * (size_t)(ds->n > 0 ? ds->n : 1));
        if (!*dev)
            return rerr_set(e, "out of memory");
        for (int i = 0; i < ds->n; i++)
            (*dev)[i] = i;
        *ndev = ds->n;
    } else if (data_split(cfg, ds, train, ntrain, dev, ndev, e) != 0) {
        return -1;
    }
    if (*ndev == 0)
        return rerr_set(e, "no records to evaluate (the dev split is empty)");
    return 0;
}

void data_split_text(const resecg_config *cfg, char *out, size_t n)
{
    const data_config *d = &cfg->data;
    if (d->manifest[0])
        snprintf(out, n, "split from %s", d->manifest);
    else
        snprintf(out, n, "%s split, dev fraction %g, seed %llu", config_split_name(d->split),
                 (double)d->dev_fraction, (unsigned long long)d->seed);
}

/* The data pipeline of a run, whatever the model: the records a config names
 * (data.source), trimmed to the network's frames and resampled, and their
 * train/dev split (data.split, data.manifest). It follows data.protocol: see
 * experiments/cinc17/README.md. */
#ifndef RESECG_LOAD_H
#define RESECG_LOAD_H

#include <stddef.h>

#include "base/config.h"
#include "base/util.h"
#include "data/data.h"

/* What loading the data did, for the log. */
typedef struct data_info {
    int loaded;          /* records in the dataset */
    int skipped;         /* records the CinC 2017 reader skipped (data.skip_bad) */
    char report[2048];   /* the reader's summary and first problems when it skipped any */
    int frame;           /* records were trimmed to multiples of this */
    int resampled;       /* records whose length resampling changed */
    double seconds;      /* load + trim + resample */
} data_info;

/* Loads the records a config names (data.source synthetic: the built-in
 * generator; cinc17: data.dir with data.labels, data.skip_bad), in order
 * (the labels file's for CinC 2017), trims each to whole frames of the
 * network (config_frame; awni/ecg's STEP = 256) and, when resample is set
 * and data.resample_length > 0, resamples each to that length
 * (scipy.signal.resample). With model.type features records stay whole and
 * at data.sample_rate: no trimming, no resampling (info->frame is 1). The
 * records and their order, hence the split, are the same either way.
 * info may be NULL. On failure ds is left empty. */
int data_load(const resecg_config *cfg, int resample, dataset *ds, data_info *info, rerr *e);

/* The train/dev split of ds a config names: data.manifest when set (k-fold
 * manifests: fold data.dev_fold is dev), else data.split with
 * data.dev_fraction and data.seed (shuffle: Python-compatible, as the
 * reference implementations; stratified: dataset_split). Sorted, malloc'd. */
int data_split(const resecg_config *cfg, const dataset *ds, int **train, int *ntrain, int **dev,
               int *ndev, rerr *e);

/* data_load (resampling included) then data_split. */
int data_load_split(const resecg_config *cfg, dataset *ds, int **train, int *ntrain, int **dev,
                    int *ndev, data_info *info, rerr *e);

/* How every training run loads its data, whatever the model:
 * data_load_split, and both parts must be non-empty. The caller frees ds
 * and the index lists as usual, also on failure. */
int data_load_train(const resecg_config *cfg, dataset *ds, int **train, int *ntrain, int **dev,
                    int *ndev, data_info *info, rerr *e);

/* How every evaluation loads its data, whatever the model: data_load, then
 * the dev split (or, with all_records, every record as dev and none as
 * training), which must not be empty. The caller frees as above. */
int data_load_eval(const resecg_config *cfg, int all_records, dataset *ds, int **train,
                   int *ntrain, int **dev, int *ndev, data_info *info, rerr *e);

/* The split a config names, for the log: "split from <manifest>" or
 * "<kind> split, dev fraction <f>, seed <s>". */
void data_split_text(const resecg_config *cfg, char *out, size_t n);

#endif

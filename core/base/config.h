/* The resolved configuration of one run: model shape, loss, optimiser,
 * training schedule and data. Loaded from YAML (libyaml) with `--set
 * key=value` overrides on top; every key is described once in a table in
 * config.c, which drives parsing, overrides, type errors and the writing of
 * the resolved config into the run directory. */
#ifndef RESECG_CONFIG_H
#define RESECG_CONFIG_H

#include <stdint.h>

#include "base/util.h"

#define RESECG_MAX_CLASSES 8
#define RESECG_MAX_BLOCKS 64

typedef enum loss_kind {
    LOSS_CE = 0,       /* plain cross-entropy */
    LOSS_WEIGHTED = 1, /* class-weighted cross-entropy */
    LOSS_FOCAL = 2,    /* focal loss, Lin et al. 2017 */
} loss_kind;

/* The two data pipelines this project reproduces (experiments/cinc17/README.md
 * compares them). A protocol is a preset: choosing one sets data.dev_fraction,
 * data.split, data.resample_length and data.batching, except those a file or
 * --set gives explicitly (in any order). */
typedef enum data_protocol {
    PROTOCOL_HANNUN = 0,      /* awni/ecg examples/cinc17 (Hannun et al. 2019) */
    PROTOCOL_PYTORCH_REF = 1, /* increase24/ecg-arrhythmia-detection-dnn (Table 1) */
} data_protocol;

typedef enum split_kind {
    SPLIT_SHUFFLE = 0,    /* Python's random.seed(data.seed); random.shuffle; first int(f*n) to dev */
    SPLIT_STRATIFIED = 1, /* per class, round(f * count) to dev (dataset_split) */
} split_kind;

typedef enum batching_kind {
    BATCH_BY_LENGTH = 0, /* sort by length, consecutive batches, batch order shuffled per epoch */
    BATCH_RANDOM = 1,    /* records shuffled per epoch, consecutive batches */
} batching_kind;

/* The arithmetic of the network's convolutions and dense layer (train.precision). */
typedef enum precision_kind {
    PRECISION_FP32 = 0, /* fp32 everywhere */
    PRECISION_BF16 = 1, /* bf16 operands, fp32 accumulation; fp32 master weights, gradients,
                           Adam moments, batch-norm statistics, softmax and losses */
} precision_kind;

/* What `resecg train` trains: the network, or gradient-boosted trees on
 * classical ECG features (the feature-based row of Table 1; core/baseline/trees.c). */
typedef enum model_type {
    MODEL_RESECG = 0,   /* the ResECG network */
    MODEL_FEATURES = 1, /* XGBoost on the features of core/baseline/feat.c */
} model_type;

typedef struct model_config {
    model_type type;          /* model.type: resecg | features */
    int in_channels;          /* model.in_channels, 1 */
    int num_classes;          /* model.classes, 4 (N, A, O, ~) */
    int filters_start;        /* model.filters, 32 */
    int num_blocks;           /* model.blocks, 16 */
    int kernel;               /* model.kernel, 16 */
    int increase_channels_at; /* model.increase_channels_at, 4: width doubles every 4 blocks */
    int subsample_every;      /* model.subsample_every, 2: blocks 1, 3, 5, ... have stride 2 */
    float dropout;            /* model.dropout, 0.2 */
    float bn_momentum;        /* model.bn_momentum, 0.99 (Keras: running = m*running + (1-m)*batch) */
    float bn_eps;             /* model.bn_eps, 1e-3 (Keras default) */
} model_config;

typedef struct loss_config {
    loss_kind kind;                        /* loss.kind: ce | weighted | focal */
    int balanced;                          /* loss.class_weights: balanced -> 1 */
    float class_weights[RESECG_MAX_CLASSES]; /* loss.class_weights: [w0, w1, ...] (weighted) */
    float gamma;                           /* loss.gamma, 2 (focal) */
    float alpha[RESECG_MAX_CLASSES];       /* loss.alpha, all 1 (focal) */
} loss_config;

typedef struct optim_config {
    float lr;              /* optim.lr, 1e-3 */
    float beta1, beta2;    /* optim.beta1 0.9, optim.beta2 0.999 */
    float eps;             /* optim.eps, 1e-8 (PyTorch's Adam default) */
    float clip_norm;       /* optim.clip_norm, 1 (global norm; 0 disables) */
    float plateau_factor;  /* optim.plateau_factor, 0.1 */
    int plateau_patience;  /* optim.plateau_patience, 2 epochs */
    float min_lr;          /* optim.min_lr, 1e-6 */
} optim_config;

typedef struct train_config {
    int batch_size;          /* train.batch_size, 32 */
    int max_epochs;          /* train.max_epochs, 100 */
    int early_stop_patience; /* train.early_stop_patience, 8 */
    uint64_t seed;           /* train.seed, 2018 */
    int threads;             /* train.threads, 0 = all cores */
    int drop_last;           /* train.drop_last, false: keep the last partial batch */
    precision_kind precision; /* train.precision: fp32 | bf16 (CPUs with AVX512-BF16 or AMX) */
} train_config;

typedef struct data_config {
    char source[32];      /* data.source: synthetic | cinc17 */
    char dir[1024];       /* data.dir: records directory (cinc17) */
    int synth_records;    /* data.synth_records, 800 */
    int synth_length;     /* data.synth_length, 2560 samples (longest record) */
    int synth_min_length; /* data.synth_min_length, 1280 samples */
    float synth_noise;    /* data.synth_noise, 1.0 (scale of the generator's noise) */
    float dev_fraction;   /* data.dev_fraction, 0.1 */
    int sample_rate;      /* data.sample_rate, 300 Hz */
    uint64_t seed;        /* data.seed, 2018: synthetic records and the train/dev split, kept
                             apart from train.seed so every job of a sweep sees the same dev set */
    data_protocol protocol; /* data.protocol: hannun | pytorch-ref */
    char labels[256];     /* data.labels, "REFERENCE-v3.csv": label file inside data.dir */
    int skip_bad;         /* data.skip_bad, false: skip unreadable records instead of failing */
    split_kind split;     /* data.split: shuffle | stratified (protocol: shuffle) */
    int resample_length;  /* data.resample_length: 0 = none (hannun), 8960 (pytorch-ref) */
    batching_kind batching; /* data.batching: by_length (hannun) | random (pytorch-ref) */
    int length_buckets;   /* data.length_buckets, 0: pad each batch to its longest record (0)
                             or further, to one of N lengths per octave (data.h) */
    char manifest[1024];  /* data.manifest: split manifest CSV to use instead of computing
                             the split; "" = compute it */
    int dev_fold;         /* data.dev_fold, 0: the dev fold of a k-fold manifest */
} data_config;

/* The feature-based model (model.type features): XGBoost's gradient-boosted
 * trees, objective multi:softprob, tree_method hist. Seeded by train.seed,
 * threads from train.threads; loss.kind ce or weighted (instance weights). */
typedef struct features_config {
    int trees;              /* features.trees, 400: boosting rounds (one tree per class each) */
    int depth;              /* features.depth, 5: max_depth */
    float eta;              /* features.eta, 0.05: learning rate */
    float subsample;        /* features.subsample, 0.8: share of training records per tree */
    float colsample;        /* features.colsample, 0.8: share of features per tree */
    float min_child_weight; /* features.min_child_weight, 1: least hessian sum in a leaf */
    float lambda;           /* features.lambda, 1: L2 penalty on leaf weights */
} features_config;

/* Upper bound on the number of keys in config.c's table (for `given`). */
#define RESECG_CONFIG_MAX_KEYS 128

typedef struct resecg_config {
    model_config model;
    loss_config loss;
    optim_config optim;
    train_config train;
    data_config data;
    features_config features;
    char source_path[1024]; /* file the config came from, for messages */
    /* 1 for each key (by its index in config.c's table) that a file or
     * --set assigned: protocol presets leave those alone. Not a setting:
     * the written config lists every key, so it reads back fully given. */
    unsigned char given[RESECG_CONFIG_MAX_KEYS];
} resecg_config;

/* Fills every field with the defaults of cfgs/ResECG.yaml (the Hannun network). */
void config_defaults(resecg_config *c);

/* Loads a YAML file on top of the current contents of c (call config_defaults
 * first). Unknown keys, wrong types, out-of-range values and malformed YAML
 * return -1 with e naming "file:line:column: what". */
int config_load_file(resecg_config *c, const char *path, rerr *e);

/* Parses YAML text (name is used in messages in place of a file path). */
int config_load_string(resecg_config *c, const char *yaml, const char *name, rerr *e);

/* Applies one "dotted.key=value" override, the value parsed as a YAML scalar
 * or flow sequence ("loss.alpha=[1,2,1,1]"). Errors name "--set KEY". */
int config_set(resecg_config *c, const char *assignment, rerr *e);

/* What is wrong with one setting, as a value: which part of it (the key:
 * CONFIG_ERR_UNKNOWN_KEY; the value: every other kind), the part of the
 * value it concerns when that is not the whole value ("loss.alpha[2]"),
 * and the message, which names neither the key nor where it came from. */
typedef enum config_error_kind {
    CONFIG_ERR_UNKNOWN_KEY, /* not a setting (msg suggests a near one) */
    CONFIG_ERR_VALUE,       /* a type, range or choice the key does not take */
    CONFIG_ERR_YAML,        /* the text is not one YAML value */
    CONFIG_ERR_LIST_LENGTH, /* a per-class list that is not model.classes long */
    CONFIG_ERR_OOM
} config_error_kind;

typedef struct config_error {
    config_error_kind kind;
    char field[128];
    char msg[640];
} config_error;

/* Sets key to the YAML value text (what follows '=' in config_set), as a
 * file would: 0, or -1 with *err filled and c unchanged. The caller knows
 * where key and text came from and reports err there. */
int config_apply(resecg_config *c, const char *key, const char *text, config_error *err);

/* Calls fn with every key ("section.key", in the writer's order) and its
 * canonical value: the text config_write writes for it, without comment
 * (0.001, [1, 1, 1, 1], "REFERENCE-v3.csv"). Stops at, and returns, the
 * first nonzero fn returns; -1 when out of memory. */
int config_foreach(const resecg_config *c,
                   int (*fn)(const char *key, const char *value, void *data), void *data);

/* Cross-field checks (e.g. class-weight count equals model.classes, kernel
 * >= 1); returns -1 with e filled. Called by the loaders' callers once all
 * overrides are applied. */
int config_validate(const resecg_config *c, rerr *e);

/* Writes the complete resolved config as YAML that config_load_file reads
 * back to an identical struct (floats printed with %.9g). Atomic. */
int config_write(const resecg_config *c, const char *path, rerr *e);
/* config_write with a last comment line "# NOTE" (newlines become spaces):
 * a run's config.yaml records what decided its numbers besides the config
 * (train.c: the numerics line), and loads back as the same config. */
int config_write_note(const resecg_config *c, const char *path, const char *note, rerr *e);

/* Same text into a malloc'd string (caller frees); NULL on allocation failure. */
char *config_to_string(const resecg_config *c);

/* "resecg", "features" */
const char *config_model_name(model_type t);
/* "ce", "weighted", "focal" */
const char *config_loss_name(loss_kind k);
/* "hannun", "pytorch-ref" */
const char *config_protocol_name(data_protocol p);
/* "shuffle", "stratified" */
const char *config_split_name(split_kind k);
/* "by_length", "random" */
const char *config_batching_name(batching_kind k);
/* "fp32", "bf16" */
const char *config_precision_name(precision_kind k);

/* Sets data.protocol to p and applies its preset to every key it covers
 * that is not marked given (what loading `data.protocol: NAME` does). */
void config_set_protocol(resecg_config *c, data_protocol p);

/* The double that v's shortest decimal form reads as (0.1f -> 0.1): what
 * Python holds for the same literal, for splits computed as int(f * n). */
double config_decimal(float v);

/* Input samples per output frame of the network m describes: 2 to the
 * number of stride-2 blocks (256 for ResECG). Records are trimmed to
 * multiples of it. Call on a validated config. */
int config_frame(const model_config *m);

#endif

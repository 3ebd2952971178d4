/* The configuration (see config.h): the key table, defaults and protocol
 * presets, and reading YAML (files, --set, config_apply). One table,
 * `config_keys`, describes every setting once: its dotted YAML path, type,
 * field, allowed range and a help line. The same table drives the YAML
 * walk, `--set` overrides, the range checks of config_validate.c and the
 * writer, config_write.c, so a new setting is one table row. */
#include "base/config.h"
#include "base/config_keys.h"
#include "base/yamlerr.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

/* ---- the key table ---- */

static const char *const sections[] = {"model", "loss", "optim", "train", "data", "features", NULL};
/* in model_type order */
static const char *const model_types[] = {"resecg", "features", NULL};
/* in loss_kind order */
static const char *const loss_kinds[] = {"ce", "weighted", "focal", NULL};
static const char *const data_sources[] = {"synthetic", "cinc17", NULL};
/* in data_protocol, split_kind and batching_kind order */
static const char *const protocols[] = {"hannun", "pytorch-ref", NULL};
static const char *const split_kinds[] = {"shuffle", "stratified", NULL};
static const char *const batching_kinds[] = {"by_length", "random", NULL};
/* in precision_kind order */
static const char *const precisions[] = {"fp32", "bf16", NULL};

/* KT_ENUM stores the index into an int-sized enum field. */
_Static_assert(sizeof(model_type) == sizeof(int), "model_type must be int-sized");
_Static_assert(sizeof(loss_kind) == sizeof(int), "loss_kind must be int-sized");
_Static_assert(sizeof(data_protocol) == sizeof(int), "data_protocol must be int-sized");
_Static_assert(sizeof(split_kind) == sizeof(int), "split_kind must be int-sized");
_Static_assert(sizeof(batching_kind) == sizeof(int), "batching_kind must be int-sized");
_Static_assert(sizeof(precision_kind) == sizeof(int), "precision_kind must be int-sized");

#define FIELD(f) offsetof(resecg_config, f), sizeof(((resecg_config *)0)->f)

/* Ordered by section as in config.h; the writer emits them in this order. */
const key_desc config_keys[] = {
    {"model.type", KT_ENUM, FIELD(model.type), 0, 0, 0, model_types,
     "resecg (the network) | features (gradient-boosted trees on ECG features)"},
    {"model.in_channels", KT_INT, FIELD(model.in_channels), 1, 64, 0, NULL,
     "input leads (CinC 2017 records are single-lead)"},
    {"model.classes", KT_INT, FIELD(model.num_classes), 2, RESECG_MAX_CLASSES, 0, NULL,
     "rhythm classes: N, A, O, ~"},
    {"model.filters", KT_INT, FIELD(model.filters_start), 1, 4096, 0, NULL,
     "channels of the stem and the first blocks"},
    {"model.blocks", KT_INT, FIELD(model.num_blocks), 1, RESECG_MAX_BLOCKS, 0, NULL,
     "residual blocks"},
    {"model.kernel", KT_INT, FIELD(model.kernel), 1, 1024, 0, NULL,
     "convolution length in samples ('same' padding)"},
    {"model.increase_channels_at", KT_INT, FIELD(model.increase_channels_at), 1, NOMAX, 0, NULL,
     "width doubles every this many blocks"},
    {"model.subsample_every", KT_INT, FIELD(model.subsample_every), 1, NOMAX, 0, NULL,
     "every this-many-th block has stride 2"},
    {"model.dropout", KT_FLOAT, FIELD(model.dropout), 0, 1, HI_OPEN, NULL,
     "dropout rate inside each block"},
    {"model.bn_momentum", KT_FLOAT, FIELD(model.bn_momentum), 0, 1, HI_OPEN, NULL,
     "running = m * running + (1 - m) * batch (Keras)"},
    {"model.bn_eps", KT_FLOAT, FIELD(model.bn_eps), 0, HUGE_VAL, LO_OPEN, NULL,
     "batch-norm epsilon"},

    {"loss.kind", KT_ENUM, FIELD(loss.kind), 0, 0, 0, loss_kinds,
     "ce | weighted | focal"},
    {"loss.class_weights", KT_WEIGHTS, FIELD(loss.class_weights), 0, HUGE_VAL, 0, NULL,
     "weighted: balanced | none | one weight per class"},
    {"loss.gamma", KT_FLOAT, FIELD(loss.gamma), 0, HUGE_VAL, 0, NULL,
     "focal: (1 - p_t)^gamma"},
    {"loss.alpha", KT_FLOATS, FIELD(loss.alpha), 0, HUGE_VAL, 0, NULL,
     "focal: one factor per class"},

    {"optim.lr", KT_FLOAT, FIELD(optim.lr), 0, HUGE_VAL, LO_OPEN, NULL,
     "Adam learning rate"},
    {"optim.beta1", KT_FLOAT, FIELD(optim.beta1), 0, 1, HI_OPEN, NULL,
     "Adam first-moment decay"},
    {"optim.beta2", KT_FLOAT, FIELD(optim.beta2), 0, 1, HI_OPEN, NULL,
     "Adam second-moment decay"},
    {"optim.eps", KT_FLOAT, FIELD(optim.eps), 0, HUGE_VAL, LO_OPEN, NULL,
     "Adam epsilon"},
    {"optim.clip_norm", KT_FLOAT, FIELD(optim.clip_norm), 0, HUGE_VAL, 0, NULL,
     "clip the global gradient norm to this; 0 disables"},
    {"optim.plateau_factor", KT_FLOAT, FIELD(optim.plateau_factor), 0, 1, LO_OPEN, NULL,
     "lr *= factor when dev loss stalls; 1 disables"},
    {"optim.plateau_patience", KT_INT, FIELD(optim.plateau_patience), 0, NOMAX, 0, NULL,
     "epochs without dev improvement before lowering lr"},
    {"optim.min_lr", KT_FLOAT, FIELD(optim.min_lr), 0, HUGE_VAL, 0, NULL,
     "plateau schedule never goes below this"},

    {"train.batch_size", KT_INT, FIELD(train.batch_size), 1, 65536, 0, NULL,
     "records per batch"},
    {"train.max_epochs", KT_INT, FIELD(train.max_epochs), 1, NOMAX, 0, NULL,
     "upper bound on epochs"},
    {"train.early_stop_patience", KT_INT, FIELD(train.early_stop_patience), 0, NOMAX, 0, NULL,
     "epochs without dev improvement before stopping"},
    {"train.seed", KT_U64, FIELD(train.seed), 0, 0, 0, NULL,
     "random seed of the run"},
    {"train.threads", KT_INT, FIELD(train.threads), 0, 4096, 0, NULL,
     "CPU threads; 0 = all cores"},
    {"train.drop_last", KT_BOOL, FIELD(train.drop_last), 0, 0, 0, NULL,
     "drop the last partial batch of an epoch"},
    {"train.precision", KT_ENUM, FIELD(train.precision), 0, 0, 0, precisions,
     "fp32 | bf16 (bf16 convolutions and dense layer, fp32 accumulation; needs AVX512-BF16 or AMX)"},

    {"data.protocol", KT_ENUM, FIELD(data.protocol), 0, 0, 0, protocols,
     "hannun | pytorch-ref: presets the split, resampling and batching keys not given"},
    {"data.source", KT_STRING, FIELD(data.source), 0, 0, 0, data_sources,
     "synthetic | cinc17"},
    {"data.dir", KT_STRING, FIELD(data.dir), 0, 0, 0, NULL,
     "records directory (cinc17)"},
    {"data.labels", KT_STRING, FIELD(data.labels), 0, 0, 0, NULL,
     "label file inside data.dir (cinc17)"},
    {"data.skip_bad", KT_BOOL, FIELD(data.skip_bad), 0, 0, 0, NULL,
     "skip unreadable records (counted in the log) instead of failing"},
    {"data.manifest", KT_STRING, FIELD(data.manifest), 0, 0, 0, NULL,
     "split manifest CSV (resecg data split) to use; empty = compute the split"},
    {"data.split", KT_ENUM, FIELD(data.split), 0, 0, 0, split_kinds,
     "shuffle (Python's random.shuffle, as the originals) | stratified"},
    {"data.synth_records", KT_INT, FIELD(data.synth_records), 1, 10000000, 0, NULL,
     "synthetic records to generate"},
    {"data.synth_length", KT_INT, FIELD(data.synth_length), 1, 1 << 24, 0, NULL,
     "longest synthetic record, samples"},
    {"data.synth_min_length", KT_INT, FIELD(data.synth_min_length), 1, 1 << 24, 0, NULL,
     "shortest synthetic record, samples"},
    {"data.synth_noise", KT_FLOAT, FIELD(data.synth_noise), 0, HUGE_VAL, 0, NULL,
     "noise scale of the generator (1 = normal)"},
    {"data.dev_fraction", KT_FLOAT, FIELD(data.dev_fraction), 0, 1, LO_OPEN | HI_OPEN, NULL,
     "share held out for dev (hannun 0.1, pytorch-ref 0.2)"},
    {"data.dev_fold", KT_INT, FIELD(data.dev_fold), 0, 100000, 0, NULL,
     "with a k-fold manifest: the fold held out for dev"},
    {"data.resample_length", KT_INT, FIELD(data.resample_length), 0, 100000, 0, NULL,
     "resample every record to this many samples; 0 = keep lengths"},
    {"data.batching", KT_ENUM, FIELD(data.batching), 0, 0, 0, batching_kinds,
     "by_length (sorted, batch order shuffled) | random"},
    {"data.length_buckets", KT_INT, FIELD(data.length_buckets), 0, 64, 0, NULL,
     "0: batches padded to their longest record; N: further, to N lengths per octave"},
    {"data.sample_rate", KT_INT, FIELD(data.sample_rate), 1, 100000, 0, NULL,
     "Hz"},
    {"data.seed", KT_U64, FIELD(data.seed), 0, 0, 0, NULL,
     "seed of the synthetic records and the train/dev split (same for every job of a sweep)"},

    {"features.trees", KT_INT, FIELD(features.trees), 1, 100000, 0, NULL,
     "model.type features: boosting rounds"},
    {"features.depth", KT_INT, FIELD(features.depth), 1, 32, 0, NULL,
     "maximum tree depth"},
    {"features.eta", KT_FLOAT, FIELD(features.eta), 0, 1, LO_OPEN, NULL,
     "learning rate (shrinkage)"},
    {"features.subsample", KT_FLOAT, FIELD(features.subsample), 0, 1, LO_OPEN, NULL,
     "share of training records drawn for each tree"},
    {"features.colsample", KT_FLOAT, FIELD(features.colsample), 0, 1, LO_OPEN, NULL,
     "share of features drawn for each tree"},
    {"features.min_child_weight", KT_FLOAT, FIELD(features.min_child_weight), 0, HUGE_VAL, 0, NULL,
     "least hessian sum in a leaf"},
    {"features.lambda", KT_FLOAT, FIELD(features.lambda), 0, HUGE_VAL, 0, NULL,
     "L2 penalty on leaf weights"},
};

_Static_assert(sizeof config_keys / sizeof config_keys[0] == NKEYS,
               "NKEYS (config_keys.h) must count config_keys");
_Static_assert(NKEYS <= RESECG_CONFIG_MAX_KEYS, "raise RESECG_CONFIG_MAX_KEYS");

static void *key_field(const key_desc *k, resecg_config *c)
{
    return (char *)c + k->off;
}

static int key_find(const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return i;
    return -1;
}

static int is_section(const char *name)
{
    for (int i = 0; sections[i]; i++)
        if (strcmp(sections[i], name) == 0)
            return 1;
    return 0;
}

int config_choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

/* ---- protocol presets ----
 * What the reference implementations did (experiments/cinc17/README.md):
 * awni/ecg examples/cinc17 holds out 10%, increase24's PyTorch code 20%, both
 * with a plain random.shuffle; the PyTorch code resamples every record to
 * 8960 samples and batches at random (DataLoader(shuffle=True)), awni/ecg
 * sorts by length. awni/ecg also drops the last partial batch; that stays
 * train.drop_last's own setting (default false, as every other run), not a
 * preset. */

typedef struct protocol_preset {
    float dev_fraction;
    split_kind split;
    int resample_length;
    batching_kind batching;
} protocol_preset;

static const protocol_preset presets[] = {
    [PROTOCOL_HANNUN] = {0.1f, SPLIT_SHUFFLE, 0, BATCH_BY_LENGTH},
    [PROTOCOL_PYTORCH_REF] = {0.2f, SPLIT_SHUFFLE, 8960, BATCH_RANDOM},
};

/* Stores v into the int-sized field of key `name` unless that key was given. */
static void preset_int(resecg_config *c, const char *name, int v)
{
    int ki = key_find(name);
    RESECG_ASSERT(ki >= 0 && config_keys[ki].size == sizeof(int));
    if (!c->given[ki])
        memcpy(key_field(&config_keys[ki], c), &v, sizeof v);
}

void config_set_protocol(resecg_config *c, data_protocol p)
{
    RESECG_ASSERT((int)p >= 0 && (int)p < (int)(sizeof presets / sizeof presets[0]));
    const protocol_preset *ps = &presets[p];
    c->data.protocol = p;
    int ki = key_find("data.dev_fraction");
    if (!c->given[ki])
        c->data.dev_fraction = ps->dev_fraction;
    preset_int(c, "data.split", (int)ps->split);
    preset_int(c, "data.resample_length", ps->resample_length);
    preset_int(c, "data.batching", (int)ps->batching);
}

int config_frame(const model_config *m)
{
    int strided = m->subsample_every > 0 ? m->num_blocks / m->subsample_every : 0;
    return strided >= 0 && strided <= 24 ? 1 << strided : 0;
}

/* ---- defaults ---- */

void config_defaults(resecg_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.type = MODEL_RESECG;
    /* awni/ecg examples/cinc17/config.json and network.py */
    c->model.in_channels = 1;
    c->model.num_classes = 4;
    c->model.filters_start = 32;
    c->model.num_blocks = 16;
    c->model.kernel = 16;
    c->model.increase_channels_at = 4;
    c->model.subsample_every = 2;
    c->model.dropout = 0.2f;
    c->model.bn_momentum = 0.99f; /* Keras BatchNormalization defaults */
    c->model.bn_eps = 1e-3f;

    /* Hannun et al. train with plain categorical cross-entropy; `balanced`
     * is what --set loss.kind=weighted gets unless weights are given. */
    c->loss.kind = LOSS_CE;
    c->loss.balanced = 1;
    c->loss.gamma = 2.0f; /* Lin et al. 2017 */
    for (int i = 0; i < RESECG_MAX_CLASSES; i++) {
        c->loss.class_weights[i] = 1.0f;
        c->loss.alpha[i] = 1.0f;
    }

    c->optim.lr = 1e-3f;
    c->optim.beta1 = 0.9f;
    c->optim.beta2 = 0.999f;
    c->optim.eps = 1e-8f;
    c->optim.clip_norm = 1.0f;
    c->optim.plateau_factor = 0.1f; /* awni/ecg train.py ReduceLROnPlateau */
    c->optim.plateau_patience = 2;
    c->optim.min_lr = 1e-6f; /* learning_rate * 0.001 */

    c->train.batch_size = 32;
    c->train.max_epochs = 100; /* train.py MAX_EPOCHS */
    c->train.early_stop_patience = 8;
    c->train.seed = 2018;
    c->train.threads = 0;
    c->train.drop_last = 0;
    c->train.precision = PRECISION_FP32;

    strcpy(c->data.source, "synthetic");
    c->data.dir[0] = '\0';
    c->data.synth_records = 800;
    c->data.synth_length = 2560;
    c->data.synth_min_length = 1280;
    c->data.synth_noise = 1.0f;
    c->data.sample_rate = 300;
    c->data.seed = 2018; /* random.seed(2018) in both reference implementations */
    strcpy(c->data.labels, "REFERENCE-v3.csv");
    c->data.skip_bad = 0;
    c->data.manifest[0] = '\0';
    c->data.dev_fold = 0;
    /* dev_fraction, split, resample_length, batching */
    config_set_protocol(c, PROTOCOL_HANNUN);

    /* XGBoost's defaults are eta 0.3, depth 6, no subsampling; slower
     * learning with row and column subsampling is the usual choice for a
     * few thousand records (README.md, "Feature-based baseline") */
    c->features.trees = 400;
    c->features.depth = 5;
    c->features.eta = 0.05f;
    c->features.subsample = 0.8f;
    c->features.colsample = 0.8f;
    c->features.min_child_weight = 1.0f;
    c->features.lambda = 1.0f;
}

/* names[v], or "?" outside the NULL-terminated list */
const char *config_choice_name(const char *const *names, int v)
{
    for (int i = 0; names[i]; i++)
        if (i == v)
            return names[i];
    return "?";
}

const char *config_model_name(model_type t) { return config_choice_name(model_types, (int)t); }
const char *config_loss_name(loss_kind k) { return config_choice_name(loss_kinds, (int)k); }
const char *config_protocol_name(data_protocol p) { return config_choice_name(protocols, (int)p); }
const char *config_split_name(split_kind k) { return config_choice_name(split_kinds, (int)k); }
const char *config_batching_name(batching_kind k) { return config_choice_name(batching_kinds, (int)k); }
const char *config_precision_name(precision_kind k) { return config_choice_name(precisions, (int)k); }

/* ---- error reporting ----
 * A load context knows where text came from: a file (messages start with
 * FILE:LINE:COLUMN, 1-based, from libyaml's 0-based marks) or one --set
 * value (config_apply: the error is a value, config_error, and config_set
 * words it as "--set KEY=VALUE: ..."). */

typedef struct load_ctx {
    const char *name;       /* file name or "<string>" */
    const char *set_key;    /* its key, left out of messages that would repeat it */
    const char *text;       /* the YAML text, to turn a reader error's byte offset into a line */
    size_t len;
    rerr *e;
    config_error *err;      /* one value (config_apply): errors go here as values, not to e */
    yaml_mark_t doc_start;  /* line 1, column 1 */
    yaml_document_t *doc;
    /* lists given in this document, checked against the final model.classes */
    int list_n[NKEYS];
    yaml_mark_t list_mark[NKEYS];
} load_ctx;

static int ctx_error(const load_ctx *x, yaml_mark_t m, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ctx_error(const load_ctx *x, yaml_mark_t m, const char *what, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (x->err) {
        snprintf(x->err->field, sizeof x->err->field, "%s",
                 what && strcmp(what, x->set_key) != 0 ? what : "");
        snprintf(x->err->msg, sizeof x->err->msg, "%s", msg);
        return -1;
    }
    unsigned long line = (unsigned long)m.line + 1, col = (unsigned long)m.column + 1;
    if (what)
        return rerr_set(x->e, "%s:%lu:%lu: %s: %s", x->name, line, col, what, msg);
    return rerr_set(x->e, "%s:%lu:%lu: %s", x->name, line, col, msg);
}

/* libyaml's own problem text. Reader errors (bad UTF-8, control characters)
 * carry only a byte offset, so their line and column are counted here. */
static int ctx_yaml_error(const load_ctx *x, const yaml_parser_t *p)
{
    yaml_mark_t m;
    char problem[512];
    yamlerr_describe(p, x->text, x->len, &m, problem, sizeof problem);
    if (x->err)
        x->err->kind = CONFIG_ERR_YAML;
    if (x->err)
        return ctx_error(x, m, NULL, "invalid YAML value: %s", problem);
    return ctx_error(x, m, NULL, "invalid YAML: %s", problem);
}

/* ---- nodes ---- */

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a scalar";
    }
}

/* YAML's null: an empty plain scalar, `~` or `null`. */
static int node_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* "'text'" for a scalar (shortened, control characters shown as '?'), "a
 * sequence" otherwise: the "got ..." part of type errors. */
static const char *node_desc(const yaml_node_t *n, char *buf, size_t bufsz)
{
    if (n->type != YAML_SCALAR_NODE)
        return node_kind(n);
    if (n->data.scalar.length == 0)
        return "an empty value";
    const unsigned char *s = n->data.scalar.value;
    size_t len = n->data.scalar.length, o = 0, max = 60;
    buf[o++] = '\'';
    for (size_t i = 0; i < len && i < max && o + 5 < bufsz; i++)
        buf[o++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
    if (len > max && o + 5 < bufsz) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

static yaml_node_t *doc_node(const load_ctx *x, int idx)
{
    return yaml_document_get_node(x->doc, idx);
}

/* Tags would change a value's type behind the table's back; only the ones
 * libyaml assigns by default (and `!!str` etc. that spell those) pass. */
static int node_check_tag(const load_ctx *x, const yaml_node_t *n, const char *what)
{
    const char *want = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
                       : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
                                                       : YAML_DEFAULT_MAPPING_TAG;
    if (!n->tag || strcmp((const char *)n->tag, want) == 0)
        return 0;
    const char *tag = (const char *)n->tag;
    const char *std = "tag:yaml.org,2002:";
    if (strncmp(tag, std, strlen(std)) == 0)
        return ctx_error(x, n->start_mark, what, "YAML tags are not supported (got '!!%s')",
                         tag + strlen(std));
    return ctx_error(x, n->start_mark, what, "YAML tags are not supported (got '%s')", tag);
}

/* ---- scalar syntax ----
 * The type comes from the table, not from YAML's implicit typing, so `1` is
 * a valid float and a quoted "32" a valid integer. YAML 1.1's octal, hex and
 * sexagesimal forms are not accepted: none of these settings is a bit mask. */

static int text_is_int(const char *s, size_t n, int allow_sign)
{
    size_t i = 0;
    if (allow_sign && i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?: no inf, nan or hex */
static int text_is_float(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp++;
        if (exp == 0)
            return 0;
    }
    return i == n;
}

int config_in_range(const key_desc *k, double v)
{
    if ((k->open & LO_OPEN) ? !(v > k->lo) : !(v >= k->lo))
        return 0;
    if (k->type == KT_INT && k->hi >= NOMAX)
        return v <= NOMAX;
    if (isinf(k->hi))
        return 1;
    return (k->open & HI_OPEN) ? v < k->hi : v <= k->hi;
}

/* "must be >= 1", "must be > 0", "must be in [0, 1)" */
const char *config_range_text(const key_desc *k, char *buf, size_t n)
{
    int unbounded = isinf(k->hi) || (k->type == KT_INT && k->hi >= NOMAX);
    if (unbounded)
        snprintf(buf, n, "must be %s %g", (k->open & LO_OPEN) ? ">" : ">=", k->lo);
    else
        snprintf(buf, n, "must be in %c%g, %g%c", (k->open & LO_OPEN) ? '(' : '[', k->lo, k->hi,
                 (k->open & HI_OPEN) ? ')' : ']');
    return buf;
}

/* ---- applying one value ---- */

/* The scalar text of n for a value of key `what`, or an error naming `expect`. */
static int want_scalar(const load_ctx *x, const yaml_node_t *n, const char *what, const char *expect,
                       const char **s, size_t *len)
{
    char got[80];
    if (n->type != YAML_SCALAR_NODE || node_is_null(n))
        return ctx_error(x, n->start_mark, what, "expected %s, got %s", expect,
                         node_desc(n, got, sizeof got));
    *s = (const char *)n->data.scalar.value;
    *len = n->data.scalar.length;
    return 0;
}

/* Parses a number for key k (KT_INT or KT_FLOAT, also list entries) into *out. */
static int parse_number(const load_ctx *x, const key_desc *k, const yaml_node_t *n,
                        const char *what, double *out)
{
    const char *s = NULL;
    size_t len = 0;
    char got[80], rng[80];
    int is_int = k->type == KT_INT;
    const char *expect = is_int ? "an integer" : "a number";
    if (node_check_tag(x, n, what) || want_scalar(x, n, what, expect, &s, &len))
        return -1;
    if (is_int ? !text_is_int(s, len, 1) : !text_is_float(s, len))
        return ctx_error(x, n->start_mark, what, "expected %s, got %s", expect,
                         node_desc(n, got, sizeof got));
    double v;
    if (is_int) {
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        if (errno == ERANGE || ll < -(1LL << 53) || ll > (1LL << 53))
            return ctx_error(x, n->start_mark, what, "%s is out of range (%s)", s,
                             config_range_text(k, rng, sizeof rng));
        v = (double)ll;
    } else {
        double d = strtod(s, NULL);
        if (!(fabs(d) <= FLT_MAX))
            return ctx_error(x, n->start_mark, what, "%s is out of range (too large for a float)", s);
        v = (double)(float)d; /* check what will be stored: 1e-50 becomes 0 */
    }
    if (!config_in_range(k, v))
        return ctx_error(x, n->start_mark, what, "%s is out of range (%s)", s,
                         config_range_text(k, rng, sizeof rng));
    *out = v;
    return 0;
}

/* A sequence of up to RESECG_MAX_CLASSES numbers into the float array of k;
 * entries past the list are 1, so an unset tail means "no weighting". */
static int apply_list(load_ctx *x, const key_desc *k, const yaml_node_t *n, float *dst)
{
    char got[80];
    int cap = config_list_len(k);
    if (n->type != YAML_SEQUENCE_NODE)
        return ctx_error(x, n->start_mark, k->name, "expected a list of numbers, got %s",
                         node_desc(n, got, sizeof got));
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return ctx_error(x, n->start_mark, k->name, "expected a list of numbers, got an empty list");
    if (count > cap)
        return ctx_error(x, n->start_mark, k->name, "%d values given, at most %d allowed", count, cap);
    float v[RESECG_MAX_CLASSES];
    for (int i = 0; i < cap; i++)
        v[i] = 1.0f;
    for (int i = 0; i < count; i++) {
        char what[96];
        double d;
        snprintf(what, sizeof what, "%s[%d]", k->name, i);
        const yaml_node_t *item = doc_node(x, n->data.sequence.items.start[i]);
        if (parse_number(x, k, item, what, &d))
            return -1;
        v[i] = (float)d;
    }
    memcpy(dst, v, sizeof(float) * (size_t)cap);
    int ki = (int)(k - config_keys);
    x->list_n[ki] = count;
    x->list_mark[ki] = n->start_mark;
    return 0;
}

static int apply_value(load_ctx *x, const key_desc *k, const yaml_node_t *n, resecg_config *c)
{
    void *field = key_field(k, c);
    char got[80];
    const char *s = NULL;
    size_t len = 0;
    double d;
    if (node_check_tag(x, n, k->name))
        return -1;
    switch (k->type) {
    case KT_INT:
        if (parse_number(x, k, n, k->name, &d))
            return -1;
        *(int *)field = (int)d;
        return 0;
    case KT_FLOAT:
        if (parse_number(x, k, n, k->name, &d))
            return -1;
        *(float *)field = (float)d;
        return 0;
    case KT_U64: {
        if (want_scalar(x, n, k->name, "a non-negative integer", &s, &len))
            return -1;
        if (!text_is_int(s, len, 0))
            return ctx_error(x, n->start_mark, k->name, "expected a non-negative integer, got %s",
                             node_desc(n, got, sizeof got));
        errno = 0;
        unsigned long long u = strtoull(s, NULL, 10);
        if (errno == ERANGE)
            return ctx_error(x, n->start_mark, k->name, "%s is out of range (must be < 2^64)", s);
        *(uint64_t *)field = (uint64_t)u;
        return 0;
    }
    case KT_BOOL:
        if (want_scalar(x, n, k->name, "true or false", &s, &len))
            return -1;
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
            *(int *)field = 1;
        else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
            *(int *)field = 0;
        else
            return ctx_error(x, n->start_mark, k->name, "expected true or false, got %s",
                             node_desc(n, got, sizeof got));
        return 0;
    case KT_ENUM:
    case KT_STRING: {
        char expect[160] = "a string";
        if (k->choices) {
            strcpy(expect, "one of ");
            for (int i = 0; k->choices[i]; i++) {
                if (i)
                    strncat(expect, ", ", sizeof expect - strlen(expect) - 1);
                strncat(expect, k->choices[i], sizeof expect - strlen(expect) - 1);
            }
        }
        if (n->type != YAML_SCALAR_NODE)
            return ctx_error(x, n->start_mark, k->name, "expected %s, got %s", expect,
                             node_desc(n, got, sizeof got));
        /* a null string setting is the empty string: `dir:` clears it */
        s = node_is_null(n) ? "" : (const char *)n->data.scalar.value;
        len = node_is_null(n) ? 0 : n->data.scalar.length;
        if (memchr(s, '\0', len))
            return ctx_error(x, n->start_mark, k->name, "contains a NUL character");
        if (k->choices) {
            int idx = config_choice_index(k->choices, s);
            if (idx < 0)
                return ctx_error(x, n->start_mark, k->name, "expected %s, got %s", expect,
                                 node_desc(n, got, sizeof got));
            if (k->type == KT_ENUM) {
                memcpy(field, &idx, sizeof idx);
                return 0;
            }
        }
        if (len >= k->size)
            return ctx_error(x, n->start_mark, k->name, "%s is too long (at most %zu bytes)",
                             node_desc(n, got, sizeof got), k->size - 1);
        memcpy(field, s, len);
        memset((char *)field + len, 0, k->size - len);
        return 0;
    }
    case KT_FLOATS:
        return apply_list(x, k, n, (float *)field);
    case KT_WEIGHTS:
        if (n->type == YAML_SCALAR_NODE) {
            s = (const char *)n->data.scalar.value;
            int balanced = strcmp(s, "balanced") == 0;
            if (!balanced && strcmp(s, "none") != 0 && !node_is_null(n))
                return ctx_error(x, n->start_mark, k->name,
                                 "expected 'balanced', 'none' or a list of numbers, got %s",
                                 node_desc(n, got, sizeof got));
            /* the weights go back to 1 so that the written form (`balanced`
             * or `none`) reads back to the same struct */
            c->loss.balanced = balanced;
            for (int i = 0; i < RESECG_MAX_CLASSES; i++)
                c->loss.class_weights[i] = 1.0f;
            return 0;
        }
        if (apply_list(x, k, n, (float *)field))
            return -1;
        c->loss.balanced = 0;
        return 0;
    }
    return ctx_error(x, n->start_mark, k->name, "internal error: unknown key type");
}

/* ---- suggestions ---- */

/* Optimal string alignment distance: Levenshtein plus adjacent swaps, so
 * 'filtres' is one edit from 'filters'. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXL = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= MAXL || m >= MAXL)
        return INT_MAX;
    int d[MAXL][MAXL];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* The closest of `names` (or of the key table when names is NULL) within a
 * few edits, or NULL. A key whose last part matches exactly in another
 * section ('model.lr' -> 'optim.lr') counts as one edit. */
static const char *suggest(const char *typed, const char *const *names)
{
    size_t len = strlen(typed);
    int limit = (int)(len / 4);
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    const char *tail = strchr(typed, '.');
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; names ? names[i] != NULL : i < NKEYS; i++) {
        const char *cand = names ? names[i] : config_keys[i].name;
        int d = edit_distance(typed, cand);
        const char *ctail = strchr(cand, '.');
        if (tail && ctail && strcmp(tail, ctail) == 0 && d > 1)
            d = 1;
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best;
}

static int ctx_unknown_key(const load_ctx *x, yaml_mark_t m, const char *name)
{
    const char *s = suggest(name, NULL);
    if (x->err)
        x->err->kind = CONFIG_ERR_UNKNOWN_KEY;
    if (s)
        return ctx_error(x, m, NULL, "unknown key '%s' (did you mean '%s'?)", name, s);
    return ctx_error(x, m, NULL, "unknown key '%s'", name);
}

/* ---- walking a document ---- */

/* Marks key ki as given; a protocol applies its preset to the keys not given
 * (so far or later: a key given after the protocol overwrites the preset, one
 * given before it is left alone). */
static void key_given(resecg_config *c, int ki)
{
    c->given[ki] = 1;
    if (strcmp(config_keys[ki].name, "data.protocol") == 0)
        config_set_protocol(c, c->data.protocol);
}

/* The scalar text of a mapping key; keys must be plain names. */
static int key_text(const load_ctx *x, const yaml_node_t *kn, const char **out)
{
    char got[80];
    if (node_check_tag(x, kn, NULL))
        return -1;
    if (kn->type != YAML_SCALAR_NODE || node_is_null(kn))
        return ctx_error(x, kn->start_mark, NULL, "expected a key name, got %s",
                         node_desc(kn, got, sizeof got));
    *out = (const char *)kn->data.scalar.value;
    return 0;
}

/* -1 with an error when key i of mapping n repeats an earlier one: libyaml
 * keeps both, and silently taking the last would hide a typo'd edit. */
static int check_duplicate(const load_ctx *x, const yaml_node_t *n, int i, const char *kind,
                           const char *shown)
{
    const yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
    const yaml_node_t *kn = doc_node(x, pairs[i].key);
    for (int j = 0; j < i; j++) {
        const yaml_node_t *prev = doc_node(x, pairs[j].key);
        if (prev->type == YAML_SCALAR_NODE &&
            prev->data.scalar.length == kn->data.scalar.length &&
            memcmp(prev->data.scalar.value, kn->data.scalar.value, kn->data.scalar.length) == 0)
            return ctx_error(x, kn->start_mark, NULL, "duplicate %s '%s' (first at line %lu)", kind,
                             shown, (unsigned long)prev->start_mark.line + 1);
    }
    return 0;
}

static int apply_section(load_ctx *x, const char *section, const yaml_node_t *n, resecg_config *c)
{
    char got[80];
    if (node_check_tag(x, n, section))
        return -1;
    if (node_is_null(n)) /* `model:` with every key commented out */
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return ctx_error(x, n->start_mark, NULL, "section '%s' must be a mapping of keys, got %s",
                         section, node_desc(n, got, sizeof got));
    int npairs = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    for (int i = 0; i < npairs; i++) {
        const yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
        const yaml_node_t *kn = doc_node(x, pair->key);
        const char *name = NULL;
        if (key_text(x, kn, &name))
            return -1;
        char full[160];
        snprintf(full, sizeof full, "%s.%s", section, name);
        if (check_duplicate(x, n, i, "key", full))
            return -1;
        int ki = key_find(full);
        if (ki < 0)
            return ctx_unknown_key(x, kn->start_mark, full);
        if (apply_value(x, &config_keys[ki], doc_node(x, pair->value), c))
            return -1;
        key_given(c, ki);
    }
    return 0;
}

static int apply_document(load_ctx *x, resecg_config *c)
{
    const yaml_node_t *root = yaml_document_get_root_node(x->doc);
    char got[80];
    if (!root || node_is_null(root)) /* empty file or only comments: nothing to change */
        return 0;
    if (node_check_tag(x, root, NULL))
        return -1;
    if (root->type != YAML_MAPPING_NODE)
        return ctx_error(x, root->start_mark, NULL,
                         "expected a mapping of sections (model, loss, optim, train, data, "
                         "features), got %s",
                         node_desc(root, got, sizeof got));
    int npairs = (int)(root->data.mapping.pairs.top - root->data.mapping.pairs.start);
    for (int i = 0; i < npairs; i++) {
        const yaml_node_pair_t *pair = &root->data.mapping.pairs.start[i];
        const yaml_node_t *kn = doc_node(x, pair->key);
        const char *name = NULL;
        if (key_text(x, kn, &name))
            return -1;
        if (check_duplicate(x, root, i, "section", name))
            return -1;
        if (!is_section(name)) {
            const char *dot = strchr(name, '.');
            if (dot && key_find(name) >= 0)
                return ctx_error(x, kn->start_mark, NULL,
                                 "unknown section '%s' (write '%s' inside the '%.*s:' section)",
                                 name, dot + 1, (int)(dot - name), name);
            const char *s = suggest(name, sections);
            if (s)
                return ctx_error(x, kn->start_mark, NULL,
                                 "unknown section '%s' (did you mean '%s'?)", name, s);
            return ctx_error(x, kn->start_mark, NULL,
                             "unknown section '%s' (sections: model, loss, optim, train, data, "
                             "features)",
                             name);
        }
        if (apply_section(x, name, doc_node(x, pair->value), c))
            return -1;
    }
    /* per-class lists must match the number of classes, which may be set
     * later in the same file than the list itself */
    for (int ki = 0; ki < NKEYS; ki++) {
        if (x->list_n[ki] && x->list_n[ki] != c->model.num_classes)
            return ctx_error(x, x->list_mark[ki], config_keys[ki].name,
                             "%d values given but model.classes is %d", x->list_n[ki],
                             c->model.num_classes);
    }
    return 0;
}

/* Parses text as exactly one YAML document into *doc (caller deletes it on
 * success; nothing to delete on failure). */
static int load_document(load_ctx *x, yaml_document_t *doc)
{
    yaml_mark_t deep;
    if (yamlerr_too_deep(x->text, x->len, YAMLERR_MAX_DEPTH, &deep)) {
        if (x->err)
            x->err->kind = CONFIG_ERR_YAML;
        return ctx_error(x, deep, NULL, "nested more than %d levels deep", YAMLERR_MAX_DEPTH);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        if (x->err) {
            x->err->kind = CONFIG_ERR_OOM;
            return ctx_error(x, x->doc_start, NULL, "out of memory");
        }
        return rerr_set(x->e, "%s: out of memory", x->name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)x->text, x->len);
    if (!yaml_parser_load(&parser, doc)) {
        ctx_yaml_error(x, &parser);
        yaml_parser_delete(&parser);
        return -1;
    }
    /* A second document would be silently ignored; say so instead. */
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
        ctx_yaml_error(x, &parser);
        yaml_document_delete(doc);
        yaml_parser_delete(&parser);
        return -1;
    }
    const yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root) {
        yaml_mark_t m = extra.start_mark;
        yaml_document_delete(&extra);
        yaml_document_delete(doc);
        yaml_parser_delete(&parser);
        if (x->err)
            x->err->kind = CONFIG_ERR_YAML;
        if (x->err)
            return ctx_error(x, m, NULL, "expected one value");
        return ctx_error(x, m, NULL, "expected one YAML document, found a second one");
    }
    yaml_document_delete(&extra);
    yaml_parser_delete(&parser);
    return 0;
}

static int load_text(resecg_config *c, const char *text, size_t len, const char *name, rerr *e)
{
    load_ctx x;
    memset(&x, 0, sizeof x);
    x.name = name;
    x.text = text;
    x.len = len;
    x.e = e;
    yaml_document_t doc;
    if (load_document(&x, &doc))
        return -1;
    x.doc = &doc;
    /* applied to a copy, so a failed load leaves c as it was */
    resecg_config tmp = *c;
    int rc = apply_document(&x, &tmp);
    yaml_document_delete(&doc);
    if (rc)
        return -1;
    snprintf(tmp.source_path, sizeof tmp.source_path, "%s", name);
    *c = tmp;
    return 0;
}

int config_load_string(resecg_config *c, const char *yaml, const char *name, rerr *e)
{
    return load_text(c, yaml, strlen(yaml), name ? name : "<string>", e);
}

int config_load_file(resecg_config *c, const char *path, rerr *e)
{
    char *text;
    size_t len;
    if (util_read_file_kind(path, UTIL_CONFIG, 0, &text, &len, e))
        return -1;
    int rc = load_text(c, text, len, path, e);
    free(text);
    return rc;
}

/* ---- --set ---- */

int config_apply(resecg_config *c, const char *key, const char *text, config_error *err)
{
    memset(err, 0, sizeof *err);
    err->kind = CONFIG_ERR_VALUE;
    load_ctx x;
    memset(&x, 0, sizeof x);
    x.name = "--set";
    x.set_key = key;
    x.text = text;
    x.len = strlen(text);
    x.err = err;
    yaml_mark_t none;
    memset(&none, 0, sizeof none);
    int ki = key_find(key);
    if (ki < 0)
        return ctx_unknown_key(&x, none, key);

    /* The value is YAML, so `--set loss.alpha=[1,2,1,1]` and
     * `--set loss.class_weights=balanced` read as they would in a file. */
    yaml_document_t doc;
    if (load_document(&x, &doc))
        return -1;
    x.doc = &doc;
    const yaml_node_t *v = yaml_document_get_root_node(&doc);
    yaml_node_t empty; /* "key=" or "key=# ..." parse to no node: an empty plain scalar */
    if (!v) {
        memset(&empty, 0, sizeof empty);
        empty.type = YAML_SCALAR_NODE;
        empty.data.scalar.value = (yaml_char_t *)"";
        empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        v = &empty;
    }
    resecg_config tmp = *c;
    int rc = apply_value(&x, &config_keys[ki], v, &tmp);
    if (rc == 0)
        key_given(&tmp, ki);
    if (rc == 0 && x.list_n[ki] && x.list_n[ki] != tmp.model.num_classes) {
        err->kind = CONFIG_ERR_LIST_LENGTH;
        rc = ctx_error(&x, none, NULL,
                       "%d values given but model.classes is %d (set model.classes first)",
                       x.list_n[ki], tmp.model.num_classes);
    }
    yaml_document_delete(&doc);
    if (rc)
        return -1;
    *c = tmp;
    return 0;
}

int config_set(resecg_config *c, const char *assignment, rerr *e)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return rerr_set(e, "--set %s: expected KEY=VALUE (e.g. optim.lr=0.01)", assignment);
    char key[128];
    size_t klen = (size_t)(eq - assignment);
    while (klen > 0 && (assignment[klen - 1] == ' ' || assignment[klen - 1] == '\t'))
        klen--;
    if (klen >= sizeof key)
        return rerr_set(e, "--set %s: key too long", assignment);
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    config_error err;
    if (config_apply(c, key, eq + 1, &err) == 0)
        return 0;
    if (err.kind == CONFIG_ERR_YAML && strncmp(err.msg, "nested ", 7) == 0)
        return rerr_set(e, "--set %s=...: %s", key, err.msg); /* not the whole deep value */
    if (err.field[0])
        return rerr_set(e, "--set %s: %s: %s", assignment, err.field, err.msg);
    return rerr_set(e, "--set %s: %s", assignment, err.msg);
}

int config_foreach(const resecg_config *c,
                   int (*fn)(const char *key, const char *value, void *data), void *data)
{
    /* every value into one buffer, NUL after each, then the calls */
    char *buf = NULL;
    size_t len = 0;
    size_t at[NKEYS];
    FILE *fp = open_memstream(&buf, &len);
    if (!fp)
        return -1;
    for (int i = 0; i < NKEYS; i++) {
        fflush(fp);
        at[i] = len;
        config_write_value(fp, &config_keys[i], c);
        fputc('\0', fp);
    }
    if (fclose(fp) != 0) {
        free(buf);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < NKEYS && rc == 0; i++)
        rc = fn(config_keys[i].name, buf + at[i], data);
    free(buf);
    return rc;
}


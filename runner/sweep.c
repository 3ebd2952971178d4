/* Sweeps, the expanding half (see sweep.h; reading is in sweep_file.c):
 * variants x grid x seeds, include and exclude, each job's resolved and
 * validated config, and job ids.
 *
 * Ids are fast to compute because the identity of a config is a SUM of
 * per-setting hashes (sweep_config_id): a job's id is the variant's sum
 * plus one precomputed term per grid axis and one for the seed, so a
 * 100,000-job grid needs no config text per job. That shortcut is exact
 * only when each grid value changes nothing but its own setting; the
 * expansion checks this for every value and falls back to hashing each
 * job's full config text when it does not hold. */
#include "sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- config identity ---- */

/* The settings as config_foreach gives them: each key ("section.key") and
 * its canonical value text. */
#define CANON_MAX 256

typedef struct canon_keys {
    int n;
    char name[CANON_MAX][64];
    char *defval[CANON_MAX]; /* baseline value (id_baseline), or NULL */
    int seed, threads, datadir; /* indexes of the specially treated keys, or -1 */
} canon_keys;

typedef struct canon {
    char *text; /* the values, NUL-terminated one after the other */
    const char *val[CANON_MAX];
} canon;

/* config_foreach's calls into a canon: learning the key list (ks->n == 0)
 * or placing each value by its key. */
typedef struct canon_fill {
    canon_keys *ks;
    int learn, pos, bad;
    sbuf text;
    size_t at[CANON_MAX];
    int have[CANON_MAX];
} canon_fill;

static int canon_visit(const char *key, const char *value, void *data)
{
    canon_fill *f = data;
    canon_keys *ks = f->ks;
    int idx = -1;
    if (f->learn) {
        if (ks->n == CANON_MAX || strlen(key) >= sizeof ks->name[0])
            return f->bad = 1;
        idx = ks->n++;
        strcpy(ks->name[idx], key);
    } else if (f->pos < ks->n && strcmp(ks->name[f->pos], key) == 0) {
        idx = f->pos; /* the usual case: the same keys in the same order */
    } else {
        for (int j = 0; j < ks->n; j++)
            if (strcmp(ks->name[j], key) == 0)
                idx = j;
        if (idx < 0)
            return f->bad = 1;
    }
    f->at[idx] = f->text.len;
    f->have[idx] = 1;
    sbuf_putn(&f->text, value, strlen(value) + 1);
    f->pos = idx + 1;
    return 0;
}

/* cfg's values by key into c (c->text owns them); with ks->n == 0, learns
 * the key list too. -1 on a key the list lacks, too many keys, or no
 * memory. */
static int canon_fill_from(canon_keys *ks, canon *c, const resecg_config *cfg)
{
    canon_fill *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->ks = ks;
    f->learn = ks->n == 0;
    int rc = config_foreach(cfg, canon_visit, f);
    if (rc != 0 || f->bad || f->text.oom || !f->text.p) {
        free(f->text.p);
        free(f);
        return -1;
    }
    c->text = f->text.p;
    for (int i = 0; i < ks->n; i++)
        c->val[i] = f->have[i] ? c->text + f->at[i] : "";
    free(f);
    return 0;
}

static int canon_find(const canon_keys *ks, const char *name)
{
    for (int i = 0; i < ks->n; i++)
        if (strcmp(ks->name[i], name) == 0)
            return i;
    return -1;
}

static void canon_keys_free(canon_keys *ks)
{
    for (int i = 0; i < ks->n; i++)
        free(ks->defval[i]);
    ks->n = 0;
}

/* Settings at these values leave a job's id alone (id format 1). A frozen
 * table, not config_defaults(): were a default changed in config.c, jobs
 * that follow it would train differently under their old ids and a resumed
 * sweep would take old results for new ones. Here, a changed default moves
 * the ids of the jobs that use it, and a key missing from the table always
 * counts. A new key whose default reproduces the old behaviour may be added
 * with that value to keep existing ids (and results) valid. */
static const char *const id_baseline[][2] = {
    {"model.in_channels", "1"},       {"model.classes", "4"},
    {"model.filters", "32"},          {"model.blocks", "16"},
    {"model.kernel", "16"},           {"model.increase_channels_at", "4"},
    {"model.subsample_every", "2"},   {"model.dropout", "0.2"},
    {"model.bn_momentum", "0.99"},    {"model.bn_eps", "0.001"},
    {"loss.kind", "ce"},              {"loss.class_weights", "balanced"},
    {"loss.gamma", "2"},              {"loss.alpha", "[1, 1, 1, 1]"},
    {"optim.lr", "0.001"},            {"optim.beta1", "0.9"},
    {"optim.beta2", "0.999"},         {"optim.eps", "1e-08"},
    {"optim.clip_norm", "1"},         {"optim.plateau_factor", "0.1"},
    {"optim.plateau_patience", "2"},  {"optim.min_lr", "1e-06"},
    {"train.batch_size", "32"},       {"train.max_epochs", "100"},
    {"train.early_stop_patience", "8"}, {"train.drop_last", "false"},
    {"data.protocol", "hannun"},      {"data.source", "synthetic"},
    {"data.labels", "\"REFERENCE-v3.csv\""}, {"data.skip_bad", "false"},
    {"data.manifest", "\"\""},        {"data.split", "shuffle"},
    {"data.synth_records", "800"},    {"data.synth_length", "2560"},
    {"data.synth_min_length", "1280"}, {"data.synth_noise", "1"},
    {"data.dev_fraction", "0.1"},     {"data.dev_fold", "0"},
    {"data.resample_length", "0"},    {"data.batching", "by_length"},
    {"data.sample_rate", "300"},      {"data.seed", "2018"},
    /* added with model.type features: the network, as before */
    {"model.type", "resecg"},         {"features.trees", "400"},
    {"features.depth", "5"},          {"features.eta", "0.05"},
    {"features.subsample", "0.8"},    {"features.colsample", "0.8"},
    {"features.min_child_weight", "1"}, {"features.lambda", "1"},
    /* added with train.precision: fp32, as before */
    {"train.precision", "fp32"},
    /* added with data.length_buckets: exact batch lengths, as before */
    {"data.length_buckets", "0"},
};

/* The key list (config_foreach's order, on the defaults) and
 * each key's baseline value, or NULL: always part of the id. */
static int canon_keys_init(canon_keys *ks)
{
    memset(ks, 0, sizeof *ks);
    resecg_config d;
    config_defaults(&d);
    canon c;
    if (canon_fill_from(ks, &c, &d))
        return -1;
    free(c.text);
    for (int i = 0; i < ks->n; i++) {
        ks->defval[i] = NULL;
        for (size_t b = 0; b < sizeof id_baseline / sizeof id_baseline[0]; b++)
            if (strcmp(ks->name[i], id_baseline[b][0]) == 0 && !(ks->defval[i] = strdup(id_baseline[b][1]))) {
                canon_keys_free(ks);
                return -1;
            }
    }
    ks->seed = canon_find(ks, "train.seed");
    ks->threads = canon_find(ks, "train.threads");
    ks->datadir = canon_find(ks, "data.dir");
    return 0;
}

static int canon_init(canon *c, canon_keys *ks, const resecg_config *cfg)
{
    c->text = NULL;
    return canon_fill_from(ks, c, cfg);
}

static void canon_free(canon *c)
{
    free(c->text);
    c->text = NULL;
}

/* splitmix64's finaliser: FNV-1a alone mixes its last bytes poorly. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const char *s) { return util_fnv1a64(h, s, strlen(s)); }

/* The term one setting adds to a config's identity sum: 0 for settings at
 * their default and for data.dir and train.threads; train.seed always counts. */
static uint64_t canon_term(const canon_keys *ks, int i, const char *val)
{
    if (i == ks->threads || i == ks->datadir)
        return 0;
    if (i != ks->seed && ks->defval[i] && strcmp(val, ks->defval[i]) == 0)
        return 0;
    uint64_t h = fnv1a(UTIL_FNV1A64_INIT, ks->name[i]);
    h = fnv1a(h, ": ");
    return mix64(fnv1a(h, val));
}

static uint64_t canon_sum(const canon_keys *ks, const canon *c)
{
    uint64_t s = 0;
    for (int i = 0; i < ks->n; i++)
        s += canon_term(ks, i, c->val[i]);
    return s;
}

static uint64_t id_finish(uint64_t sum)
{
    return mix64(sum ^ 0x5245534543470001ULL); /* "RESECG" + format version 1 */
}

static uint64_t config_id_ks(canon_keys *ks, const resecg_config *c)
{
    canon cn;
    if (canon_init(&cn, ks, c))
        return 0;
    uint64_t id = id_finish(canon_sum(ks, &cn));
    canon_free(&cn);
    return id;
}

uint64_t sweep_config_id(const resecg_config *c)
{
    canon_keys *ks = malloc(sizeof *ks);
    canon cn;
    uint64_t id = 0;
    if (ks && canon_keys_init(ks) == 0) {
        if (canon_init(&cn, ks, c) == 0) {
            id = id_finish(canon_sum(ks, &cn));
            canon_free(&cn);
        }
        canon_keys_free(ks);
    }
    free(ks);
    return id;
}

void sweep_id_hex(uint64_t id, char out[13])
{
    snprintf(out, 13, "%012" PRIx64, id >> 16);
}

/* ---- expansion ---- */

/* The grid (block 0) or one include entry: axes, the variants and seeds it
 * covers, and (fast ids) the precomputed identity terms. */
struct sweep_block {
    int ndims;
    sweep_dim *dims;       /* shallow copies: keys and values belong to the sweep */
    int variant;           /* -1: every variant */
    int nseeds;            /* 0: the config's train.seed */
    const uint64_t *seeds;
    uint64_t one_seed;     /* storage for an include entry's seed */
    sweep_mark mark;
    uint64_t npoints;
    int *value_off;        /* [ndims]: where axis d's values start in a row of term */
    int nterms;            /* values over all axes */
    uint64_t *term;        /* [nvariants][nterms]: identity term of each value */
    uint64_t *base_sum;    /* [nvariants]: terms of every setting that is not an axis */
};

static int msg_at(rerr *e, const sweep *sw, sweep_mark m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int msg_at(rerr *e, const sweep *sw, sweep_mark m, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rerr_set(e, "%s:%d:%d: %s", sw->path, m.line, m.col, msg);
}

/* config_apply(key, value), its error reported at its place in the sweep
 * file: the key's for an unknown key, the value's otherwise. */
static int apply_value(const sweep *sw, resecg_config *c, const char *key, sweep_mark key_mark,
                       const sweep_value *v, rerr *e)
{
    config_error err;
    if (config_apply(c, key, v->text, &err) == 0)
        return 0;
    if (err.kind == CONFIG_ERR_UNKNOWN_KEY)
        return msg_at(e, sw, key_mark, "%s", err.msg);
    return msg_at(e, sw, v->mark, "%s: %s", err.field[0] ? err.field : key, err.msg);
}

static int apply_assigns(const sweep *sw, resecg_config *c, const sweep_assign *a, int n, rerr *e)
{
    for (int i = 0; i < n; i++)
        if (apply_value(sw, c, a[i].key, a[i].key_mark, &a[i].value, e))
            return -1;
    return 0;
}

/* train.seed comes from `seeds` when it is given; a second source would
 * make jobs that differ in name only. */
static int check_no_seed_key(const sweep *sw, const sweep_assign *a, int n, rerr *e)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].key, "train.seed") == 0)
            return msg_at(e, sw, a[i].key_mark,
                          "train.seed is set by 'seeds' (line %d); remove one of them",
                          sw->seeds_mark.line);
    return 0;
}

/* Base config, data directory, set, then the variant's overrides. */
static int variant_base(const sweep *sw, int v, resecg_config *c, rerr *e)
{
    config_defaults(c);
    if (sw->config && config_load_file(c, sw->config, e))
        return -1;
    if (sw->data) {
        /* set directly, as `resecg train --data` does: a path is not YAML */
        char abs[4096];
        if (!realpath(sw->data, abs)) {
            if (sw->data[0] == '/') {
                snprintf(abs, sizeof abs, "%s", sw->data);
            } else {
                char cwd[2048];
                if (!getcwd(cwd, sizeof cwd))
                    cwd[0] = '\0';
                snprintf(abs, sizeof abs, "%s/%s", cwd, sw->data);
            }
        }
        if (strlen(abs) >= sizeof c->data.dir)
            return msg_at(e, sw, sw->data_mark, "data: path too long");
        snprintf(c->data.source, sizeof c->data.source, "cinc17");
        memcpy(c->data.dir, abs, strlen(abs) + 1); /* fits: checked above */
    }
    if (apply_assigns(sw, c, sw->set, sw->nset, e))
        return -1;
    if (apply_assigns(sw, c, sw->variants[v].set, sw->variants[v].nset, e))
        return -1;
    /* messages from job.yaml's header name the sweep */
    snprintf(c->source_path, sizeof c->source_path, "%s (variant %s)", sw->path,
             sw->variants[v].name);
    return 0;
}

static int dim_find(const sweep *sw, const char *key)
{
    for (int d = 0; d < sw->ndims; d++)
        if (strcmp(sw->dims[d].key, key) == 0)
            return d;
    return -1;
}

static void blocks_free(sweep_block *b, int n)
{
    for (int i = 0; i < n; i++) {
        free(b[i].dims);
        free(b[i].value_off);
        free(b[i].term);
        free(b[i].base_sum);
    }
    free(b);
}

/* Block 0 is the grid; block k the include entry k-1: the grid with the
 * axes it names fixed to its values, its other settings as extra one-value
 * axes, and its variant and seed if given. */
static int blocks_build(const sweep *sw, sweep_plan *p, rerr *e)
{
    p->nblocks = 1 + sw->ninclude;
    p->blocks = calloc((size_t)p->nblocks, sizeof *p->blocks);
    if (!p->blocks)
        return rerr_set(e, "%s: out of memory", sw->path);
    for (int b = 0; b < p->nblocks; b++) {
        sweep_block *bl = &p->blocks[b];
        const sweep_filter *f = b ? &sw->include[b - 1] : NULL;
        int extra = f ? f->nset : 0;
        bl->dims = calloc((size_t)(sw->ndims + extra + 1), sizeof *bl->dims);
        if (!bl->dims)
            return rerr_set(e, "%s: out of memory", sw->path);
        if (sw->ndims) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(bl->dims, sw->dims, sizeof *bl->dims * (size_t)sw->ndims);
        bl->ndims = sw->ndims;
        bl->variant = f ? f->variant : -1;
        bl->nseeds = sw->nseeds;
        bl->seeds = sw->seeds;
        bl->mark = f ? f->mark : sw->grid_mark.line ? sw->grid_mark : sw->name_mark;
        if (f && f->has_seed) {
            bl->one_seed = f->seed;
            bl->seeds = &bl->one_seed;
            bl->nseeds = 1;
        }
        for (int i = 0; f && i < f->nset; i++) {
            const sweep_assign *a = &f->set[i];
            if (sw->nseeds && strcmp(a->key, "train.seed") == 0)
                return msg_at(e, sw, a->key_mark,
                              "include: use 'seed', not train.seed, when 'seeds' is given");
            int d = dim_find(sw, a->key);
            sweep_dim *dd = d >= 0 ? &bl->dims[d] : &bl->dims[bl->ndims++];
            dd->key = a->key;
            dd->key_mark = a->key_mark;
            dd->nvalues = 1;
            dd->values = (sweep_value *)&a->value;
        }
        bl->npoints = 1;
        for (int d = 0; d < bl->ndims; d++) {
            bl->npoints *= (uint64_t)bl->dims[d].nvalues;
            if (bl->npoints > SWEEP_MAX_JOBS)
                return msg_at(e, sw, bl->mark, "the grid has more than %d points", SWEEP_MAX_JOBS);
        }
    }
    return 0;
}

/* Identity terms of every axis value of a block for every variant it
 * covers, and whether ids may be summed: each value, applied alone to the
 * variant's config, must change its own setting only. */
static int block_terms(const sweep *sw, sweep_plan *p, sweep_block *bl, canon_keys *ks, rerr *e)
{
    int nv = sw->nvariants;
    bl->value_off = calloc((size_t)bl->ndims + 1, sizeof *bl->value_off);
    if (!bl->value_off)
        return rerr_set(e, "%s: out of memory", sw->path);
    for (int d = 0; d < bl->ndims; d++)
        bl->value_off[d + 1] = bl->value_off[d] + bl->dims[d].nvalues;
    bl->nterms = bl->value_off[bl->ndims];
    bl->term = calloc((size_t)nv * (size_t)(bl->nterms + 1), sizeof *bl->term);
    bl->base_sum = calloc((size_t)nv, sizeof *bl->base_sum);
    if (!bl->term || !bl->base_sum)
        return rerr_set(e, "%s: out of memory", sw->path);
    int *axis_key = calloc((size_t)bl->ndims + 1, sizeof *axis_key);
    if (!axis_key)
        return rerr_set(e, "%s: out of memory", sw->path);
    for (int d = 0; d < bl->ndims; d++) {
        axis_key[d] = canon_find(ks, bl->dims[d].key);
        if (axis_key[d] < 0)
            p->fast_ids = 0; /* config_apply takes it, config_foreach does not list it */
    }
    int rc = 0;
    for (int v = 0; v < nv && rc == 0; v++) {
        if (bl->variant >= 0 && bl->variant != v)
            continue;
        canon base;
        if (canon_init(&base, ks, &p->bases[v])) {
            rc = rerr_set(e, "%s: cannot read back the resolved config", sw->path);
            break;
        }
        uint64_t sum = 0;
        for (int i = 0; i < ks->n; i++) {
            int is_axis = 0;
            for (int d = 0; d < bl->ndims; d++)
                is_axis |= axis_key[d] == i;
            if (i == ks->seed && bl->nseeds)
                is_axis = 1; /* added per job */
            if (!is_axis)
                sum += canon_term(ks, i, base.val[i]);
        }
        bl->base_sum[v] = sum;
        for (int d = 0; d < bl->ndims && rc == 0; d++) {
            for (int k = 0; k < bl->dims[d].nvalues && rc == 0; k++) {
                resecg_config c = p->bases[v];
                canon one;
                if (apply_value(sw, &c, bl->dims[d].key, bl->dims[d].key_mark, &bl->dims[d].values[k],
                                e)) {
                    rc = -1;
                    break;
                }
                if (canon_init(&one, ks, &c)) {
                    rc = rerr_set(e, "%s: cannot read back the resolved config", sw->path);
                    break;
                }
                for (int i = 0; i < ks->n; i++)
                    if (i != axis_key[d] && strcmp(one.val[i], base.val[i]) != 0)
                        p->fast_ids = 0;
                if (axis_key[d] >= 0)
                    bl->term[(size_t)v * (size_t)bl->nterms + (size_t)(bl->value_off[d] + k)] =
                        canon_term(ks, axis_key[d], one.val[axis_key[d]]);
                canon_free(&one);
            }
        }
        canon_free(&base);
    }
    free(axis_key);
    return rc;
}

/* The values of axis d as the variant-0 config writes them: equal texts
 * mean equal settings (0.001 and 1e-3 are the same learning rate). */
static int axis_texts(const sweep *sw, const sweep_plan *p, const sweep_dim *dim, int v,
                      canon_keys *ks, char ***out, rerr *e)
{
    int idx = canon_find(ks, dim->key);
    *out = calloc((size_t)dim->nvalues, sizeof **out);
    if (!*out)
        return rerr_set(e, "%s: out of memory", sw->path);
    for (int k = 0; k < dim->nvalues; k++) {
        resecg_config c = p->bases[v];
        canon cn;
        if (apply_value(sw, &c, dim->key, dim->key_mark, &dim->values[k], e))
            return -1;
        if (canon_init(&cn, ks, &c))
            return rerr_set(e, "%s: cannot read back the resolved config", sw->path);
        (*out)[k] = strdup(idx >= 0 ? cn.val[idx] : dim->values[k].text);
        canon_free(&cn);
        if (!(*out)[k])
            return rerr_set(e, "%s: out of memory", sw->path);
    }
    return 0;
}

static void texts_free(char **t, int n)
{
    for (int i = 0; t && i < n; i++)
        free(t[i]);
    free(t);
}

/* An exclude entry as indexes: -1 where it does not constrain. */
typedef struct xfilter {
    int variant;
    int has_seed;
    uint64_t seed;
    int *value; /* [ndims]: value index, or -1 */
} xfilter;

static int excludes_build(const sweep *sw, const sweep_plan *p, canon_keys *ks, xfilter **out,
                          rerr *e)
{
    if (sw->nexclude == 0)
        return 0;
    xfilter *xf = calloc((size_t)sw->nexclude, sizeof *xf);
    char ***texts = calloc((size_t)sw->ndims + 1, sizeof *texts);
    int rc = 0;
    if (!xf || !texts) {
        free(xf);
        free(texts);
        return rerr_set(e, "%s: out of memory", sw->path);
    }
    *out = xf;
    for (int i = 0; i < sw->nexclude && rc == 0; i++) {
        const sweep_filter *f = &sw->exclude[i];
        xf[i].variant = f->variant;
        xf[i].has_seed = f->has_seed;
        xf[i].seed = f->seed;
        xf[i].value = malloc(sizeof(int) * ((size_t)sw->ndims + 1));
        if (!xf[i].value) {
            rc = rerr_set(e, "%s: out of memory", sw->path);
            break;
        }
        for (int d = 0; d < sw->ndims; d++)
            xf[i].value[d] = -1;
        if (f->has_seed) {
            int found = 0;
            for (int s = 0; s < sw->nseeds; s++)
                found |= sw->seeds[s] == f->seed;
            if (!found) {
                rc = msg_at(e, sw, f->seed_mark, "exclude: seed %" PRIu64 " is not one of the seeds",
                            f->seed);
                break;
            }
        }
        for (int k = 0; k < f->nset && rc == 0; k++) {
            const sweep_assign *a = &f->set[k];
            int d = dim_find(sw, a->key);
            if (d < 0) {
                rc = msg_at(e, sw, a->key_mark,
                            "exclude: '%s' is not a grid key (exclude matches variant, seed and "
                            "grid values)",
                            a->key);
                break;
            }
            int v = f->variant >= 0 ? f->variant : 0;
            if (!texts[d] && axis_texts(sw, p, &sw->dims[d], v, ks, &texts[d], e)) {
                rc = -1;
                break;
            }
            resecg_config c = p->bases[v];
            canon cn;
            if (apply_value(sw, &c, a->key, a->key_mark, &a->value, e) || canon_init(&cn, ks, &c)) {
                rc = -1;
                break;
            }
            int idx = canon_find(ks, a->key);
            const char *want = idx >= 0 ? cn.val[idx] : a->value.text;
            for (int j = 0; j < sw->dims[d].nvalues; j++)
                if (strcmp(texts[d][j], want) == 0)
                    xf[i].value[d] = j;
            canon_free(&cn);
            if (xf[i].value[d] < 0)
                rc = msg_at(e, sw, a->value.mark, "exclude: %s %s is not one of the grid's values",
                            a->key, a->value.shown);
        }
    }
    for (int d = 0; d < sw->ndims; d++)
        texts_free(texts[d], sw->dims[d].nvalues);
    free(texts);
    return rc;
}

static void excludes_free(xfilter *xf, int n)
{
    for (int i = 0; xf && i < n; i++)
        free(xf[i].value);
    free(xf);
}

/* A grid axis listing the same setting twice would make every job twice. */
static int axes_check_unique(const sweep *sw, const sweep_plan *p, canon_keys *ks, rerr *e)
{
    for (int d = 0; d < sw->ndims; d++) {
        char **t = NULL;
        if (axis_texts(sw, p, &sw->dims[d], 0, ks, &t, e)) {
            texts_free(t, sw->dims[d].nvalues);
            return -1;
        }
        for (int i = 0; i < sw->dims[d].nvalues; i++)
            for (int j = 0; j < i && sw->dims[d].nvalues <= 4096; j++)
                if (strcmp(t[i], t[j]) == 0) {
                    int rc = msg_at(e, sw, sw->dims[d].values[i].mark,
                                    "grid: %s: value %s repeats %s (line %d)", sw->dims[d].key,
                                    sw->dims[d].values[i].shown, sw->dims[d].values[j].shown,
                                    sw->dims[d].values[j].mark.line);
                    texts_free(t, sw->dims[d].nvalues);
                    return rc;
                }
        texts_free(t, sw->dims[d].nvalues);
    }
    return 0;
}

/* The set of ids seen, by their 48-bit prefix (the run directory name):
 * equal prefixes of different ids are reported, not silently merged. */
typedef struct idset {
    uint64_t *slot; /* 0 = empty (an id of 0 is stored as 1: one in 2^64) */
    size_t mask;
} idset;

/* 1 if new, 0 if already present, -1 on a prefix collision */
static int idset_add(idset *s, uint64_t id)
{
    if (id == 0)
        id = 1;
    size_t i = (size_t)mix64(id >> 16) & s->mask;
    for (;; i = (i + 1) & s->mask) {
        if (s->slot[i] == 0) {
            s->slot[i] = id;
            return 1;
        }
        if ((s->slot[i] >> 16) == (id >> 16))
            return s->slot[i] == id ? 0 : -1;
    }
}

/* The digits of a point, last axis fastest. */
static void point_digits(const sweep_block *bl, uint64_t point, int *digit)
{
    for (int d = bl->ndims - 1; d >= 0; d--) {
        digit[d] = (int)(point % (uint64_t)bl->dims[d].nvalues);
        point /= (uint64_t)bl->dims[d].nvalues;
    }
}

static int job_describe_at(const sweep *sw, const sweep_block *bl, int v, const int *digit,
                           char *buf, size_t n)
{
    int o = snprintf(buf, n, "variant %s", sw->variants[v].name);
    for (int d = 0; d < bl->ndims && o > 0 && (size_t)o < n; d++)
        o += snprintf(buf + o, n - (size_t)o, " %s=%s", bl->dims[d].key,
                      bl->dims[d].values[digit[d]].shown);
    return 0;
}

/* Every (variant, point) of a block: configs applied incrementally (a
 * stack of partial configs, so only the axes that changed are re-applied),
 * validated once, and the identity sum (fast) or each seed's id (slow). */
static int block_expand(const sweep *sw, sweep_plan *p, int b, canon_keys *ks, uint64_t *sums,
                        uint64_t *inherit_seed, uint64_t *slow_ids, rerr *e)
{
    sweep_block *bl = &p->blocks[b];
    int D = bl->ndims, nv = sw->nvariants, ns = bl->nseeds ? bl->nseeds : 1;
    resecg_config *st = malloc(sizeof *st * (size_t)(D + 1));
    int *digit = calloc((size_t)D + 1, sizeof *digit);
    int rc = 0;
    if (!st || !digit) {
        free(st);
        free(digit);
        return rerr_set(e, "%s: out of memory", sw->path);
    }
    for (int v = 0; v < nv && rc == 0; v++) {
        if (bl->variant >= 0 && bl->variant != v)
            continue;
        st[0] = p->bases[v];
        memset(digit, 0, sizeof *digit * (size_t)(D + 1));
        int from = 0; /* first axis whose value changed */
        for (uint64_t pt = 0; pt < bl->npoints && rc == 0; pt++) {
            for (int d = from; d < D; d++) {
                st[d + 1] = st[d];
                if (apply_value(sw, &st[d + 1], bl->dims[d].key, bl->dims[d].key_mark,
                                &bl->dims[d].values[digit[d]], e)) {
                    rc = -1;
                    break;
                }
            }
            if (rc)
                break;
            rerr ve;
            if (config_validate(&st[D], &ve)) {
                char desc[600];
                job_describe_at(sw, bl, v, digit, desc, sizeof desc);
                rc = msg_at(e, sw, bl->mark, "job (%s): %s", desc, ve.msg);
                break;
            }
            size_t row = (size_t)v * bl->npoints + pt;
            inherit_seed[row] = st[D].train.seed;
            if (p->fast_ids) {
                uint64_t sum = bl->base_sum[v];
                const uint64_t *term = &bl->term[(size_t)v * (size_t)bl->nterms];
                for (int d = 0; d < D; d++)
                    sum += term[bl->value_off[d] + digit[d]];
                sums[row] = sum;
            } else {
                resecg_config c = st[D];
                for (int s = 0; s < ns; s++) {
                    if (bl->nseeds)
                        c.train.seed = bl->seeds[s];
                    slow_ids[row * (size_t)ns + (size_t)s] = config_id_ks(ks, &c);
                }
            }
            /* odometer */
            int d = D - 1;
            while (d >= 0 && ++digit[d] == bl->dims[d].nvalues) {
                digit[d] = 0;
                d--;
            }
            from = d < 0 ? 0 : d;
        }
    }
    free(st);
    free(digit);
    return rc;
}

/* With sweep-level seeds, no assignment may set train.seed itself. */
static int seeds_check(const sweep *sw, rerr *e)
{
    if (!sw->nseeds)
        return 0;
    if (check_no_seed_key(sw, sw->set, sw->nset, e))
        return -1;
    for (int v = 0; v < sw->nvariants; v++)
        if (check_no_seed_key(sw, sw->variants[v].set, sw->variants[v].nset, e))
            return -1;
    for (int d = 0; d < sw->ndims; d++) {
        sweep_assign a = {.key = sw->dims[d].key, .key_mark = sw->dims[d].key_mark};
        if (check_no_seed_key(sw, &a, 1, e))
            return -1;
    }
    return 0;
}

/* p->bases: each variant's config; two variants with one config would run
 * every job twice. */
static int variants_build(const sweep *sw, sweep_plan *p, canon_keys *ks, rerr *e)
{
    if (!(p->bases = calloc((size_t)sw->nvariants, sizeof *p->bases)))
        return rerr_set(e, "%s: out of memory", sw->path);
    if (sw->config && access(sw->config, R_OK) != 0)
        return msg_at(e, sw, sw->config_mark, "config: cannot read %s: %s", sw->config,
                      strerror(errno));
    uint64_t *vids = calloc((size_t)sw->nvariants, sizeof *vids);
    if (!vids)
        return rerr_set(e, "%s: out of memory", sw->path);
    int rc = 0;
    for (int v = 0; v < sw->nvariants && rc == 0; v++) {
        if (variant_base(sw, v, &p->bases[v], e)) {
            rc = -1;
            break;
        }
        vids[v] = config_id_ks(ks, &p->bases[v]);
        for (int u = 0; u < v && rc == 0; u++)
            if (vids[u] == vids[v])
                rc = msg_at(e, sw, sw->variants[v].mark,
                            "variant %s gives the same config as variant %s",
                            sw->variants[v].name, sw->variants[u].name);
    }
    free(vids);
    return rc;
}

/* An upper bound of the jobs, before allocating anything per job. */
static int jobs_bound(const sweep *sw, const sweep_plan *p, uint64_t *total, rerr *e)
{
    *total = 0;
    for (int b = 0; b < p->nblocks; b++) {
        const sweep_block *bl = &p->blocks[b];
        uint64_t jobs = bl->npoints * (uint64_t)(bl->variant >= 0 ? 1 : sw->nvariants);
        if (jobs > SWEEP_MAX_JOBS || (jobs *= (uint64_t)(bl->nseeds ? bl->nseeds : 1)) > SWEEP_MAX_JOBS ||
            (*total += jobs) > SWEEP_MAX_JOBS)
            return msg_at(e, sw, bl->mark, "the sweep expands to more than %d jobs", SWEEP_MAX_JOBS);
    }
    return 0;
}

/* Whether an exclude drops point pt of variant v with that seed (block 0;
 * digit is scratch for the point's digits). */
static int point_excluded(const sweep *sw, const xfilter *xf, const sweep_block *bl, int v,
                          uint64_t pt, uint64_t seed, int *digit)
{
    point_digits(bl, pt, digit);
    for (int i = 0; i < sw->nexclude; i++) {
        int m = (xf[i].variant < 0 || xf[i].variant == v) && (!xf[i].has_seed || xf[i].seed == seed);
        for (int d = 0; d < sw->ndims && m; d++)
            m = xf[i].value[d] < 0 || xf[i].value[d] == digit[d];
        if (m)
            return 1;
    }
    return 0;
}

/* Block b's jobs into p->jobs, seed-major (the first seed of every
 * configuration comes first), without excluded points and duplicates. */
static int block_jobs(const sweep *sw, sweep_plan *p, int b, canon_keys *ks, const xfilter *xf,
                      idset *seen, int *digit, rerr *e)
{
    sweep_block *bl = &p->blocks[b];
    size_t rows = (size_t)sw->nvariants * bl->npoints;
    int ns = bl->nseeds ? bl->nseeds : 1, rc = -1;
    uint64_t *sums = malloc(sizeof *sums * (rows ? rows : 1));
    uint64_t *inherit = malloc(sizeof *inherit * (rows ? rows : 1));
    uint64_t *slow = p->fast_ids ? NULL : malloc(sizeof *slow * (rows ? rows : 1) * (size_t)ns);
    uint64_t *seed_term = bl->nseeds && p->fast_ids ? malloc(sizeof *seed_term * (size_t)ns) : NULL;
    if (!sums || !inherit || (!p->fast_ids && !slow) || (bl->nseeds && p->fast_ids && !seed_term)) {
        rerr_set(e, "%s: out of memory", sw->path);
        goto done;
    }
    if (block_expand(sw, p, b, ks, sums, inherit, slow, e))
        goto done;
    for (int s = 0; seed_term && s < ns; s++) {
        char num[32];
        snprintf(num, sizeof num, "%" PRIu64, bl->seeds[s]);
        seed_term[s] = canon_term(ks, ks->seed, num);
    }
    for (int s = 0; s < ns; s++) {
        for (int v = 0; v < sw->nvariants; v++) {
            if (bl->variant >= 0 && bl->variant != v)
                continue;
            for (uint64_t pt = 0; pt < bl->npoints; pt++) {
                size_t row = (size_t)v * bl->npoints + pt;
                uint64_t seed = bl->nseeds ? bl->seeds[s] : inherit[row];
                if (b == 0 && xf && point_excluded(sw, xf, bl, v, pt, seed, digit)) {
                    p->nexcluded++;
                    continue;
                }
                uint64_t id = p->fast_ids ? id_finish(sums[row] + (seed_term ? seed_term[s] : 0))
                                          : slow[row * (size_t)ns + (size_t)s];
                int added = idset_add(seen, id);
                if (added < 0) {
                    char hex[13];
                    sweep_id_hex(id, hex);
                    msg_at(e, sw, bl->mark,
                           "two different jobs share the id prefix %s; change a value slightly", hex);
                    goto done;
                }
                if (added == 0) {
                    p->nduplicates++;
                    continue;
                }
                sweep_job *j = &p->jobs[p->njobs++];
                j->id = id;
                j->seed = seed;
                j->point = (uint32_t)pt;
                j->block = (uint16_t)b;
                j->variant = (uint16_t)v;
            }
        }
    }
    rc = 0;
done:
    free(sums);
    free(inherit);
    free(slow);
    free(seed_term);
    return rc;
}

int sweep_expand(const sweep *sw, sweep_plan *p, rerr *e)
{
    memset(p, 0, sizeof *p);
    p->sw = sw;
    p->fast_ids = 1;
    canon_keys *ks = calloc(1, sizeof *ks);
    xfilter *xf = NULL;
    idset seen = {0};
    int *digit = NULL, rc = -1;
    if (!ks || canon_keys_init(ks)) {
        rerr_set(e, "%s: out of memory", sw->path);
        goto done;
    }
    if (seeds_check(sw, e) || variants_build(sw, p, ks, e) || blocks_build(sw, p, e) ||
        axes_check_unique(sw, p, ks, e))
        goto done;
    for (int b = 0; b < p->nblocks; b++)
        if (block_terms(sw, p, &p->blocks[b], ks, e))
            goto done;
    uint64_t total;
    if (excludes_build(sw, p, ks, &xf, e) || jobs_bound(sw, p, &total, e))
        goto done;
    size_t cap = 16;
    while (cap < 2 * total)
        cap *= 2;
    seen.slot = calloc(cap, sizeof *seen.slot);
    seen.mask = cap - 1;
    p->jobs = malloc(sizeof *p->jobs * (size_t)(total ? total : 1));
    digit = calloc((size_t)sw->ndims + 64, sizeof *digit);
    if (!seen.slot || !p->jobs || !digit) {
        rerr_set(e, "%s: out of memory", sw->path);
        goto done;
    }
    for (int b = 0; b < p->nblocks; b++)
        if (block_jobs(sw, p, b, ks, xf, &seen, digit, e))
            goto done;
    rc = 0;
done:
    free(digit);
    free(seen.slot);
    excludes_free(xf, sw->nexclude);
    if (ks)
        canon_keys_free(ks);
    free(ks);
    if (rc != 0)
        sweep_plan_free(p);
    return rc;
}

void sweep_plan_free(sweep_plan *p)
{
    free(p->bases);
    blocks_free(p->blocks, p->nblocks);
    free(p->jobs);
    memset(p, 0, sizeof *p);
}

int sweep_job_config(const sweep_plan *p, const sweep_job *j, resecg_config *c, rerr *e)
{
    const sweep *sw = p->sw;
    const sweep_block *bl = &p->blocks[j->block];
    int digit[256];
    if (bl->ndims > 256)
        return rerr_set(e, "%s: too many grid axes", sw->path);
    point_digits(bl, j->point, digit);
    *c = p->bases[j->variant];
    for (int d = 0; d < bl->ndims; d++)
        if (apply_value(sw, c, bl->dims[d].key, bl->dims[d].key_mark, &bl->dims[d].values[digit[d]], e))
            return -1;
    if (bl->nseeds)
        c->train.seed = j->seed;
    return config_validate(c, e);
}

char *sweep_job_overrides(const sweep_plan *p, const sweep_job *j, char *buf, size_t n)
{
    const sweep_block *bl = &p->blocks[j->block];
    int digit[256];
    size_t o = 0;
    buf[0] = '\0';
    if (bl->ndims > 256)
        return buf;
    point_digits(bl, j->point, digit);
    for (int d = 0; d < bl->ndims && o < n; d++) {
        int w = snprintf(buf + o, n - o, "%s%s=%s", d ? " " : "", bl->dims[d].key,
                         bl->dims[d].values[digit[d]].shown);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return buf;
}

const char *sweep_job_variant(const sweep_plan *p, const sweep_job *j)
{
    return p->sw->variants[j->variant].name;
}

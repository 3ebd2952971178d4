/* A model's checkpoints: its tensors (weights, BatchNorm statistics and,
 * in last.safetensors, Adam's moments) and the run's metadata in a
 * safetensors file (safetensors.h), checked before any of it is used. */
#include "run/checkpoint.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"

/* Index of the first non-finite float of x (n), or -1. */
static long first_nonfinite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return -1;
}

/* A model whose parameters, statistics or moments hold NaN or inf has
 * diverged: saving it would only hand the damage on to --resume and
 * evaluate, so checkpoint_save refuses. */
static int check_host_finite(const model *m, const float *hp, const float *hb, const float *hm,
                             const float *hv, const char *path, rerr *e)
{
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_info *t = &m->tensors[i];
        const float *src[3] = {t->kind == TENSOR_PARAM ? hp : hb, NULL, NULL};
        static const char *const prefix[3] = {"", "adam.m.", "adam.v."};
        if (t->kind == TENSOR_PARAM && hm) {
            src[1] = hm;
            src[2] = hv;
        }
        for (int k = 0; k < 3; k++) {
            long bad = src[k] ? first_nonfinite(src[k] + t->offset, t->numel) : -1;
            if (bad >= 0)
                return rerr_set(e, "%s: not written: tensor %s%s: value %ld of %ld is %g "
                                   "(training diverged; lower optim.lr)",
                                path, prefix[k], t->name, bad, t->numel,
                                (double)src[k][t->offset + bad]);
        }
    }
    return 0;
}

int checkpoint_save(model *m, const struct adam *a, const char *path, const char *const *meta_kv,
                    int nmeta, rerr *e)
{
    backend *be = m->be;
    size_t pbytes = (size_t)m->nparams * sizeof(float), bbytes = (size_t)m->nbuffers * sizeof(float);
    int cap = 3 * m->ntensors + 8;
    float *hp = malloc(pbytes), *hb = malloc(bbytes);
    float *hm = a ? malloc(pbytes) : NULL, *hv = a ? malloc(pbytes) : NULL;
    st_tensor *ts = calloc((size_t)cap, sizeof *ts);
    st_meta *meta = calloc((size_t)nmeta + 1, sizeof *meta);
    /* PyTorch's BatchNorm1d has a num_batches_tracked buffer: write it so the
     * file loads with load_state_dict(strict=True). */
    int64_t *tracked = calloc((size_t)m->ntensors, sizeof *tracked);
    int rc = -1, n = 0;
    if (!hp || !hb || !ts || !meta || !tracked || (a && (!hm || !hv))) {
        rerr_set(e, "%s: out of memory", path);
        goto done;
    }
    be->download(be, hp, m->params, pbytes);
    be->download(be, hb, m->buffers, bbytes);
    if (a) {
        be->download(be, hm, a->m, pbytes);
        be->download(be, hv, a->v, pbytes);
    }
    if (check_host_finite(m, hp, hb, hm, hv, path, e) != 0)
        goto done;
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_info *t = &m->tensors[i];
        st_tensor *s = &ts[n++];
        snprintf(s->name, sizeof s->name, "%s", t->name);
        s->dtype = ST_F32;
        s->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            s->shape[d] = t->shape[d];
        s->data = (t->kind == TENSOR_PARAM ? hp : hb) + t->offset;
        s->nbytes = (size_t)t->numel * sizeof(float);
        size_t len = strlen(t->name);
        if (len > 12 && strcmp(t->name + len - 12, ".running_var") == 0) {
            st_tensor *nb = &ts[n++];
            snprintf(nb->name, sizeof nb->name, "%.*s.num_batches_tracked", (int)(len - 12), t->name);
            nb->dtype = ST_I64;
            nb->ndim = 0;
            tracked[i] = a ? a->t : 0;
            nb->data = &tracked[i];
            nb->nbytes = sizeof(int64_t);
        }
    }
    if (a) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < m->ntensors; i++) {
                const tensor_info *t = &m->tensors[i];
                if (t->kind != TENSOR_PARAM)
                    continue;
                st_tensor *s = &ts[n++];
                snprintf(s->name, sizeof s->name, "%s%s", pass ? "adam.v." : "adam.m.", t->name);
                s->dtype = ST_F32;
                s->ndim = t->ndim;
                for (int d = 0; d < t->ndim; d++)
                    s->shape[d] = t->shape[d];
                s->data = (pass ? hv : hm) + t->offset;
                s->nbytes = (size_t)t->numel * sizeof(float);
            }
    }
    for (int i = 0; i < nmeta; i++) {
        snprintf(meta[i].key, sizeof meta[i].key, "%s", meta_kv[2 * i]);
        snprintf(meta[i].value, sizeof meta[i].value, "%s", meta_kv[2 * i + 1]);
    }
    /* st_write lays the tensors out in this order: their hash is the data
     * section's, which checkpoint_validate checks */
    uint64_t h = UTIL_FNV1A64_INIT;
    for (int i = 0; i < n; i++)
        h = util_fnv1a64(h, ts[i].data, ts[i].nbytes);
    snprintf(meta[nmeta].key, sizeof meta[nmeta].key, "%s", ST_CHECKSUM_KEY);
    snprintf(meta[nmeta].value, sizeof meta[nmeta].value, "%016llx", (unsigned long long)h);
    rc = st_write(path, ts, n, meta, nmeta + 1, e);
done:
    free(hp);
    free(hb);
    free(hm);
    free(hv);
    free(ts);
    free(meta);
    free(tracked);
    return rc;
}

/* The metadata a resecg checkpoint may hold and how each value must read:
 * one table for every reader. A key that is absent is the reader's business
 * (evaluate needs norm_mean and norm_std, --resume the loop state); one that
 * is present must parse whole and lie in its range, whoever reads the file. */
typedef enum meta_kind {
    META_TEXT,      /* any string */
    META_COUNT,     /* decimal digits, no sign or leading zeros, at most INT_MAX */
    META_FLOAT,     /* a number finite in float precision (the model computes in floats) */
    META_POSITIVE,  /* a float-finite number >= FLT_MIN: a divisor or a step size */
    META_LOSS,      /* a number >= 0 or inf (inf: no epoch has improved yet) */
    META_WAITS,     /* two counts, one space between */
} meta_kind;

static const struct ckpt_meta_key {
    const char *key;
    meta_kind kind;
} ckpt_meta_keys[] = {
    {"format", META_TEXT},          {"epoch", META_COUNT},         {"adam_step", META_COUNT},
    {"lr", META_POSITIVE},          {"best_dev_loss", META_LOSS},  {"best_epoch", META_COUNT},
    {"plateau_best", META_LOSS},    {"waits", META_WAITS},         {"norm_mean", META_FLOAT},
    {"norm_std", META_POSITIVE},
};

/* A count at s; *end is set past its digits. -1 if s does not start with one. */
static int meta_count(const char *s, const char **end, int *out)
{
    long long v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return -1;
    }
    *end = p;
    *out = (int)v;
    return 0;
}

/* The whole of s as a number (strtod's syntax, no leading blanks). */
static int meta_real(const char *s, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
}

/* Checks one value against its kind; what it expected goes in *want. */
static int meta_value_ok(const char *v, meta_kind kind, const char **want)
{
    const char *end;
    double x;
    int a, b;
    switch (kind) {
    case META_TEXT:
        return 1;
    case META_COUNT:
        *want = "a non-negative integer";
        return meta_count(v, &end, &a) == 0 && *end == '\0';
    case META_WAITS:
        *want = "two non-negative integers separated by a space";
        return meta_count(v, &end, &a) == 0 && *end == ' ' && meta_count(end + 1, &end, &b) == 0 &&
               *end == '\0';
    case META_FLOAT:
        *want = "a finite number";
        return meta_real(v, &x) == 0 && fabs(x) <= FLT_MAX;
    case META_POSITIVE:
        *want = "a finite number > 0";
        return meta_real(v, &x) == 0 && x >= FLT_MIN && x <= FLT_MAX;
    case META_LOSS:
        *want = "a number >= 0 (or inf)";
        return meta_real(v, &x) == 0 && x >= 0;
    }
    return 0;
}

/* Every known metadata key present in f, by the table. */
static int checkpoint_meta_check(const st_file *f, const char *path, rerr *e)
{
    for (size_t i = 0; i < sizeof ckpt_meta_keys / sizeof ckpt_meta_keys[0]; i++) {
        const struct ckpt_meta_key *k = &ckpt_meta_keys[i];
        const char *v = st_meta_get(f, k->key), *want = "";
        if (v && !meta_value_ok(v, k->kind, &want))
            return rerr_set(e, "%s: metadata %s: expected %s, got '%.64s'", path, k->key, want, v);
    }
    const char *ep = st_meta_get(f, "epoch"), *best = st_meta_get(f, "best_epoch");
    if (ep && best && atoi(best) > atoi(ep))
        return rerr_set(e, "%s: metadata best_epoch: %s is after epoch %s", path, best, ep);
    return 0;
}

/* The model tensor a checkpoint tensor name stores, and how: *role 0 the
 * tensor itself, 1 its Adam first moment, 2 its second moment, 3 the
 * num_batches_tracked counter of the BatchNorm whose running_var it returns.
 * NULL for a name that is no part of a checkpoint of m. */
static const tensor_info *checkpoint_tensor_of(const model *m, const char *name, int *role)
{
    static const char *const moment[2] = {"adam.m.", "adam.v."};
    static const char nbt[] = ".num_batches_tracked";
    for (int k = 0; k < 2; k++)
        if (strncmp(name, moment[k], 7) == 0) {
            const tensor_info *t = model_tensor(m, name + 7);
            *role = 1 + k;
            return t && t->kind == TENSOR_PARAM ? t : NULL;
        }
    size_t len = strlen(name), nl = sizeof nbt - 1;
    if (len > nl && strcmp(name + len - nl, nbt) == 0) {
        char rv[sizeof m->tensors[0].name];
        if (len - nl + sizeof ".running_var" > sizeof rv)
            return NULL;
        snprintf(rv, sizeof rv, "%.*s.running_var", (int)(len - nl), name);
        *role = 3;
        return model_tensor(m, rv);
    }
    *role = 0;
    return model_tensor(m, name);
}

/* One tensor of the file: the dtype and shape its role implies, and values
 * that are finite (running variances and second moments also >= 0; counters
 * >= 0). Floats are read with memcpy: a file's data need not be aligned. */
static int checkpoint_tensor_check(const st_tensor *s, const tensor_info *t, int role,
                                   const char *path, rerr *e)
{
    if (role == 3) {
        int64_t v;
        if (s->dtype != ST_I64 || s->ndim != 0)
            return rerr_set(e, "%s: tensor %s: expected an I64 scalar", path, s->name);
        memcpy(&v, s->data, sizeof v);
        if (v < 0)
            return rerr_set(e, "%s: tensor %s: negative count %lld", path, s->name, (long long)v);
        return 0;
    }
    int ok = s->dtype == ST_F32 && s->ndim == t->ndim;
    for (int d = 0; ok && d < t->ndim; d++)
        ok = s->shape[d] == t->shape[d];
    if (!ok) {
        char want[64] = "", got[160] = "";
        int o = 0;
        for (int d = 0; d < t->ndim; d++)
            o += snprintf(want + o, sizeof want - (size_t)o, "%s%d", d ? ", " : "", t->shape[d]);
        o = 0;
        for (int d = 0; d < s->ndim && o < (int)sizeof got; d++)
            o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", d ? ", " : "",
                          (long long)s->shape[d]);
        return rerr_set(e, "%s: tensor %s: %s (%s) where this model has F32 (%s) (a checkpoint of "
                           "another model.* config?)",
                        path, s->name, s->dtype == ST_F32 ? "F32" : s->dtype == ST_I64 ? "I64" : "I32",
                        got, want);
    }
    size_t len = strlen(t->name);
    int nonneg = role == 2 || (len > 12 && strcmp(t->name + len - 12, ".running_var") == 0);
    const unsigned char *p = s->data;
    for (long i = 0; i < t->numel; i++) {
        float x;
        memcpy(&x, p + (size_t)i * sizeof x, sizeof x);
        if (!isfinite(x) || (nonneg && x < 0))
            return rerr_set(e, "%s: tensor %s: value %ld of %ld is %g (%s)", path, s->name, i,
                            t->numel, (double)x,
                            isfinite(x) ? "a variance cannot be negative"
                                        : "a checkpoint must hold finite numbers");
    }
    return 0;
}

int checkpoint_validate(const st_file *f, const model *m, int with_adam, const char *path, rerr *e)
{
    if (checkpoint_meta_check(f, path, e) != 0)
        return -1;
    if (!m)
        return 0;
    if (st_check_checksum(f, path, e) != 0)
        return -1;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *s = &f->tensors[i];
        int role;
        const tensor_info *t = checkpoint_tensor_of(m, s->name, &role);
        if (!t)
            return rerr_set(e, "%s: tensor %s: not a tensor of this model (a checkpoint of another "
                               "model.* config?)",
                            path, s->name);
        if (checkpoint_tensor_check(s, t, role, path, e) != 0)
            return -1;
    }
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_info *t = &m->tensors[i];
        if (!st_find(f, t->name))
            return rerr_set(e, "%s: tensor %s: missing", path, t->name);
        for (int k = 0; with_adam && t->kind == TENSOR_PARAM && k < 2; k++) {
            char name[sizeof t->name + 8];
            snprintf(name, sizeof name, "%s%s", k ? "adam.v." : "adam.m.", t->name);
            if (!st_find(f, name))
                return rerr_set(e, "%s: tensor %s: missing (--resume needs the Adam moments)",
                                path, name);
        }
    }
    return 0;
}

int checkpoint_load(model *m, struct adam *a, const char *path, rerr *e)
{
    st_file f;
    if (st_read(&f, path, e) != 0)
        return -1;
    int rc = checkpoint_validate(&f, m, a != NULL, path, e);
    for (int i = 0; i < m->ntensors && rc == 0; i++) {
        const tensor_info *t = &m->tensors[i];
        size_t bytes = (size_t)t->numel * sizeof(float);
        float *base = t->kind == TENSOR_PARAM ? m->params : m->buffers;
        m->be->upload(m->be, base + t->offset, st_find(&f, t->name)->data, bytes);
        if (a && t->kind == TENSOR_PARAM) {
            char name[sizeof t->name + 8];
            snprintf(name, sizeof name, "adam.m.%s", t->name);
            m->be->upload(m->be, a->m + t->offset, st_find(&f, name)->data, bytes);
            snprintf(name, sizeof name, "adam.v.%s", t->name);
            m->be->upload(m->be, a->v + t->offset, st_find(&f, name)->data, bytes);
        }
    }
    st_free(&f);
    return rc;
}

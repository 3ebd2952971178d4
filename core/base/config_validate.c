/* config_validate (config.h): every key's range on a config that may not
 * have come through the loader, then the rules between keys. */
#include "base/config.h"
#include "base/config_keys.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Range check of one table entry on a struct that may not have come through
 * the loader (built in code, or a list left longer than model.classes). */
static int validate_key(const key_desc *k, const resecg_config *c, rerr *e)
{
    const void *f = config_key_cfield(k, c);
    char rng[80], num[32];
    switch (k->type) {
    case KT_INT: {
        int v = *(const int *)f;
        if (!config_in_range(k, v))
            return rerr_set(e, "%s: %d is out of range (%s)", k->name, v, config_range_text(k, rng, sizeof rng));
        return 0;
    }
    case KT_FLOAT: {
        float v = *(const float *)f;
        if (!isfinite(v) || !config_in_range(k, v)) {
            config_format_float(num, sizeof num, v);
            return rerr_set(e, "%s: %s is out of range (%s)", k->name, num, config_range_text(k, rng, sizeof rng));
        }
        return 0;
    }
    case KT_BOOL:
        if (*(const int *)f != 0 && *(const int *)f != 1)
            return rerr_set(e, "%s: %d is not a boolean", k->name, *(const int *)f);
        return 0;
    case KT_ENUM: {
        int v;
        memcpy(&v, f, sizeof v);
        int n = 0;
        while (k->choices[n])
            n++;
        if (v < 0 || v >= n)
            return rerr_set(e, "%s: invalid value %d", k->name, v);
        return 0;
    }
    case KT_STRING: {
        const char *s = f;
        if (!memchr(s, '\0', k->size))
            return rerr_set(e, "%s: not NUL-terminated", k->name);
        if (k->choices && config_choice_index(k->choices, s) < 0)
            return rerr_set(e, "%s: unknown value '%s'", k->name, s);
        return 0;
    }
    case KT_WEIGHTS:
    case KT_FLOATS: {
        const float *v = f;
        int classes = c->model.num_classes;
        for (int i = 0; i < config_list_len(k); i++) {
            config_format_float(num, sizeof num, v[i]);
            if (!isfinite(v[i]) || !config_in_range(k, v[i]))
                return rerr_set(e, "%s[%d]: %s is out of range (%s)", k->name, i, num,
                                config_range_text(k, rng, sizeof rng));
            /* Entries past the given list are 1; anything else there is a
             * list longer than model.classes (classes lowered after it). */
            if (i >= classes && v[i] != 1.0f && !(k->type == KT_WEIGHTS && c->loss.balanced))
                return rerr_set(e, "%s: has a value (%s) for class %d but model.classes is %d",
                                k->name, num, i, classes);
        }
        return 0;
    }
    case KT_U64:
        return 0;
    }
    return 0;
}

int config_validate(const resecg_config *c, rerr *e)
{
    for (int i = 0; i < NKEYS; i++)
        if (validate_key(&config_keys[i], c, e))
            return -1;
    const model_config *m = &c->model;
    const loss_config *l = &c->loss;
    const data_config *d = &c->data;

    /* The trees see whole records (no frames, no resampling: core/baseline/trees.c)
     * and minimise log loss, with or without class weights. */
    int network = m->type == MODEL_RESECG;
    if (!network && l->kind == LOSS_FOCAL)
        return rerr_set(e, "loss.kind focal: not available with model.type features (the trees "
                           "train on ce or weighted; focal loss is for the network)");

    /* Blocks subsample_every-1, 2*subsample_every-1, ... have stride 2, so the
     * output has one frame per 2^(blocks / subsample_every) input samples. */
    int strided = m->num_blocks / m->subsample_every;
    if (network && strided > 24)
        return rerr_set(e, "model.blocks %d with model.subsample_every %d halves the length %d times "
                           "(at most 24)", m->num_blocks, m->subsample_every, strided);
    long frame = network ? 1L << strided : 1;
    /* Width doubles every increase_channels_at blocks: F * 2^((blocks-1) / at). */
    int doublings = (m->num_blocks - 1) / m->increase_channels_at;
    if (network && (doublings > 20 || ((long)m->filters_start << doublings) > 65536))
        return rerr_set(e, "model.filters %d doubled %d times (model.blocks %d, "
                           "model.increase_channels_at %d) exceeds 65536 channels",
                        m->filters_start, doublings, m->num_blocks, m->increase_channels_at);

    if (l->kind == LOSS_WEIGHTED && !l->balanced) {
        int any = 0;
        for (int i = 0; i < m->num_classes; i++)
            any |= l->class_weights[i] > 0;
        if (!any)
            return rerr_set(e, "loss.class_weights: every weight is 0");
    }
    if (l->kind == LOSS_FOCAL) {
        int any = 0;
        for (int i = 0; i < m->num_classes; i++)
            any |= l->alpha[i] > 0;
        if (!any)
            return rerr_set(e, "loss.alpha: every value is 0");
    }

    if (c->optim.min_lr > c->optim.lr) {
        char a[32], b[32];
        config_format_float(a, sizeof a, c->optim.min_lr);
        config_format_float(b, sizeof b, c->optim.lr);
        return rerr_set(e, "optim.min_lr %s is above optim.lr %s", a, b);
    }

    if (strcmp(d->source, "synthetic") == 0) {
        if (d->synth_min_length > d->synth_length)
            return rerr_set(e, "data.synth_min_length %d is longer than data.synth_length %d",
                            d->synth_min_length, d->synth_length);
        if (network && frame > d->synth_min_length)
            return rerr_set(e, "data.synth_min_length %d is shorter than one output frame (%ld "
                               "samples: model.blocks %d / model.subsample_every %d stride-2 blocks)",
                            d->synth_min_length, frame, m->num_blocks, m->subsample_every);
        /* the generator draws the four CinC 2017 classes (data.h) */
        if (m->num_classes != 4)
            return rerr_set(e, "model.classes is %d but data.source synthetic has 4 classes",
                            m->num_classes);
    }
    if (strcmp(d->source, "cinc17") == 0 && d->dir[0] == '\0')
        return rerr_set(e, "data.dir must name the records directory when data.source is cinc17");
    if (strcmp(d->source, "cinc17") == 0 && d->labels[0] == '\0')
        return rerr_set(e, "data.labels must name the label file (e.g. REFERENCE-v3.csv)");
    /* records are trimmed to whole frames first, then resampled: a length
     * that is not whole frames would leave a partial frame unlabelled */
    if (network && d->resample_length > 0 && d->resample_length % frame != 0)
        return rerr_set(e, "data.resample_length %d is not a multiple of the network's frame (%ld "
                           "samples: model.blocks %d / model.subsample_every %d stride-2 blocks)",
                        d->resample_length, frame, m->num_blocks, m->subsample_every);
    return 0;
}

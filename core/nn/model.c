/* The ResECG network: parameter layout, weight initialisation, and the
 * forward and backward passes as sequences of backend kernels (see model.h
 * for the architecture). Backward buffers: param grads are assigned (=) by
 * each layer's backward; the gradient flowing into a block's input is the
 * main path's (=) plus the shortcut's (+=). */
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- layout ---- */

typedef struct layout {
    model *m;
    int cap;
    long np, nb;
} layout;

static long layout_add(layout *lo, const char *name, tensor_kind kind, int ndim, int d0, int d1,
                       int d2)
{
    model *m = lo->m;
    RESECG_ASSERT(m->ntensors < lo->cap); /* model_init counts them first */
    tensor_info *t = &m->tensors[m->ntensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->numel = d0;
    if (ndim > 1)
        t->numel *= d1;
    if (ndim > 2)
        t->numel *= d2;
    long *next = kind == TENSOR_PARAM ? &lo->np : &lo->nb;
    t->offset = *next;
    *next += t->numel;
    return t->offset;
}

/* Adds the four tensors of a batch norm named prefix.{weight,bias,running_mean,running_var}. */
static void layout_bn(layout *lo, const char *prefix, int C, long *g, long *b, long *rm, long *rv)
{
    char name[96];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *g = layout_add(lo, name, TENSOR_PARAM, 1, C, 0, 0);
    snprintf(name, sizeof name, "%s.bias", prefix);
    *b = layout_add(lo, name, TENSOR_PARAM, 1, C, 0, 0);
    snprintf(name, sizeof name, "%s.running_mean", prefix);
    *rm = layout_add(lo, name, TENSOR_BUFFER, 1, C, 0, 0);
    snprintf(name, sizeof name, "%s.running_var", prefix);
    *rv = layout_add(lo, name, TENSOR_BUFFER, 1, C, 0, 0);
}

static void layout_conv(layout *lo, const char *prefix, int cout, int cin, int K, long *w, long *b)
{
    char name[96];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = layout_add(lo, name, TENSOR_PARAM, 3, cout, cin, K);
    snprintf(name, sizeof name, "%s.bias", prefix);
    *b = layout_add(lo, name, TENSOR_PARAM, 1, cout, 0, 0);
}

int model_init(model *m, const model_config *cfg, backend *be, rerr *e)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    if (cfg->num_blocks < 1 || cfg->num_blocks > RESECG_MAX_BLOCKS)
        return rerr_set(e, "model.blocks must be in [1, %d], got %d", RESECG_MAX_BLOCKS,
                        cfg->num_blocks);
    if (cfg->filters_start < 1 || cfg->kernel < 1 || cfg->in_channels < 1 ||
        cfg->increase_channels_at < 1 || cfg->subsample_every < 1 || cfg->num_classes < 2)
        return rerr_set(e, "model config has a non-positive size");

    // stem conv and bn, per block two of each, the head's bn and dense layer
    layout lo = {.m = m, .cap = 2 + 4 + cfg->num_blocks * 12 + 4 + 2};
    m->tensors = malloc(sizeof *m->tensors * (size_t)lo.cap);
    if (!m->tensors)
        return rerr_set(e, "out of memory for the model's tensor list");
    int F = cfg->filters_start, K = cfg->kernel;
    layout_conv(&lo, "conv", F, cfg->in_channels, K, &m->stem_w, &m->stem_b);
    layout_bn(&lo, "bn", F, &m->stem_g, &m->stem_beta, &m->stem_rm, &m->stem_rv);

    int cin = F;
    m->frame = 1;
    for (int i = 0; i < cfg->num_blocks; i++) {
        block_desc *bd = &m->blocks[i];
        int shift = i / cfg->increase_channels_at;
        if (shift > 20)
            return rerr_set(e, "model.blocks %d with increase_channels_at %d: width overflows",
                            cfg->num_blocks, cfg->increase_channels_at);
        bd->cin = cin;
        bd->cout = F << shift;
        bd->stride = (i % cfg->subsample_every) == cfg->subsample_every - 1 ? 2 : 1;
        bd->first = i == 0;
        m->frame *= bd->stride;
        char prefix[48];
        bd->bn1_g = bd->bn1_b = bd->bn1_rm = bd->bn1_rv = -1;
        if (!bd->first) {
            snprintf(prefix, sizeof prefix, "blocks.%d.bn1", i);
            layout_bn(&lo, prefix, cin, &bd->bn1_g, &bd->bn1_b, &bd->bn1_rm, &bd->bn1_rv);
        }
        snprintf(prefix, sizeof prefix, "blocks.%d.conv1", i);
        layout_conv(&lo, prefix, bd->cout, cin, K, &bd->conv1_w, &bd->conv1_b);
        snprintf(prefix, sizeof prefix, "blocks.%d.bn2", i);
        layout_bn(&lo, prefix, bd->cout, &bd->bn2_g, &bd->bn2_b, &bd->bn2_rm, &bd->bn2_rv);
        snprintf(prefix, sizeof prefix, "blocks.%d.conv2", i);
        layout_conv(&lo, prefix, bd->cout, bd->cout, K, &bd->conv2_w, &bd->conv2_b);
        cin = bd->cout;
    }
    m->nblocks = cfg->num_blocks;
    m->out_channels = cin;
    layout_bn(&lo, "bn_out", cin, &m->out_g, &m->out_b, &m->out_rm, &m->out_rv);
    m->dense_w = layout_add(&lo, "dense.weight", TENSOR_PARAM, 2, cfg->num_classes, cin, 0);
    m->dense_b = layout_add(&lo, "dense.bias", TENSOR_PARAM, 1, cfg->num_classes, 0, 0);
    m->nparams = lo.np;
    m->nbuffers = lo.nb;

    size_t pbytes = (size_t)m->nparams * sizeof(float);
    size_t bbytes = (size_t)m->nbuffers * sizeof(float);
    m->params = be->alloc(be, pbytes);
    m->grads = be->alloc(be, pbytes);
    m->buffers = be->alloc(be, bbytes);
    if (!m->params || !m->grads || !m->buffers) {
        model_free(m);
        return rerr_set(e, "out of memory for %ld parameters", m->nparams);
    }
    be->zero(be, m->params, pbytes);
    be->zero(be, m->grads, pbytes);
    be->zero(be, m->buffers, bbytes);
    return 0;
}

/* ---- activations ---- */

static float *act_alloc(model *m, size_t nfloats, int *failed)
{
    float *p = m->be->alloc(m->be, nfloats * sizeof(float));
    if (!p)
        *failed = 1;
    return p;
}

static void acts_release(model *m)
{
    backend *be = m->be;
    float **all[] = {&m->x, &m->h0, &m->a0, &m->mean0, &m->rstd0, &m->a_out, &m->mean_out,
                     &m->rstd_out, &m->logits, &m->dlogits, &m->scratch[0], &m->scratch[1],
                     &m->scratch[2]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i])
            be->free(be, *all[i]);
        *all[i] = NULL;
    }
    for (int i = 0; i < m->nblocks; i++) {
        block_acts *a = &m->acts[i];
        float **ba[] = {&a->a1, &a->mean1, &a->rstd1, &a->h1, &a->a2, &a->mean2, &a->rstd2, &a->out};
        for (size_t j = 0; j < sizeof ba / sizeof ba[0]; j++) {
            if (*ba[j])
                be->free(be, *ba[j]);
            *ba[j] = NULL;
        }
    }
    m->cap_B = m->cap_L = 0;
}

int model_reserve(model *m, int cap_B, int cap_L, rerr *e)
{
    if (cap_B < 1 || cap_L < m->frame || cap_L % m->frame != 0)
        return rerr_set(e, "batch of %d x %d samples: the length must be a positive multiple of %d",
                        cap_B, cap_L, m->frame);
    acts_release(m);
    int failed = 0;
    size_t B = (size_t)cap_B, F = (size_t)m->cfg.filters_start;
    size_t L = (size_t)cap_L, biggest = B * F * L;
    m->x = act_alloc(m, B * (size_t)m->cfg.in_channels * L, &failed);
    m->h0 = act_alloc(m, B * F * L, &failed);
    m->a0 = act_alloc(m, B * F * L, &failed);
    m->mean0 = act_alloc(m, F, &failed);
    m->rstd0 = act_alloc(m, F, &failed);
    for (int i = 0; i < m->nblocks; i++) {
        const block_desc *bd = &m->blocks[i];
        block_acts *a = &m->acts[i];
        size_t Lo = L / (size_t)bd->stride;
        if (!bd->first) {
            a->a1 = act_alloc(m, B * (size_t)bd->cin * L, &failed);
            a->mean1 = act_alloc(m, (size_t)bd->cin, &failed);
            a->rstd1 = act_alloc(m, (size_t)bd->cin, &failed);
        }
        a->h1 = act_alloc(m, B * (size_t)bd->cout * Lo, &failed);
        a->a2 = act_alloc(m, B * (size_t)bd->cout * Lo, &failed);
        a->mean2 = act_alloc(m, (size_t)bd->cout, &failed);
        a->rstd2 = act_alloc(m, (size_t)bd->cout, &failed);
        a->out = act_alloc(m, B * (size_t)bd->cout * Lo, &failed);
        if (B * (size_t)bd->cin * L > biggest)
            biggest = B * (size_t)bd->cin * L;
        if (B * (size_t)bd->cout * Lo > biggest)
            biggest = B * (size_t)bd->cout * Lo;
        L = Lo;
    }
    size_t C = (size_t)m->out_channels, Kc = (size_t)m->cfg.num_classes;
    m->a_out = act_alloc(m, B * C * L, &failed);
    m->mean_out = act_alloc(m, C, &failed);
    m->rstd_out = act_alloc(m, C, &failed);
    m->logits = act_alloc(m, B * L * Kc, &failed);
    m->dlogits = act_alloc(m, B * L * Kc, &failed);
    for (int i = 0; i < 3; i++)
        m->scratch[i] = act_alloc(m, biggest, &failed);
    if (failed) {
        acts_release(m);
        return rerr_set(e, "out of memory for activations of a %d x %d batch", cap_B, cap_L);
    }
    m->cap_B = cap_B;
    m->cap_L = cap_L;
    return model_prepare(m, cap_B, cap_L, e);
}

int model_prepare(model *m, int B, int L, rerr *e)
{
    if (!m->be->conv1d_prepare)
        return 0;
    // every conv of a B x L batch, in forward order
    const model_config *c = &m->cfg;
    conv_dims d[1 + 2 * RESECG_MAX_BLOCKS];
    int n = 0, Lin = L;
    conv_dims_same(&d[n++], B, c->in_channels, c->filters_start, L, c->kernel, 1);
    for (int i = 0; i < m->nblocks; i++) {
        const block_desc *bd = &m->blocks[i];
        conv_dims_same(&d[n++], B, bd->cin, bd->cout, Lin, c->kernel, bd->stride);
        Lin /= bd->stride;
        conv_dims_same(&d[n++], B, bd->cout, bd->cout, Lin, c->kernel, 1);
    }
    for (int i = 0; i < n; i++)
        if (m->be->conv1d_prepare(m->be, &d[i], e) != 0)
            return -1;
    return 0;
}

void model_free(model *m)
{
    if (m->be) {
        acts_release(m);
        if (m->params)
            m->be->free(m->be, m->params);
        if (m->grads)
            m->be->free(m->be, m->grads);
        if (m->buffers)
            m->be->free(m->be, m->buffers);
    }
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

/* ---- initialisation ---- */

int model_init_weights(model *m, uint64_t seed, rerr *e)
{
    float *p = malloc((size_t)m->nparams * sizeof(float));
    float *buf = malloc((size_t)m->nbuffers * sizeof(float) + 1);
    if (!p || !buf) {
        free(p);
        free(buf);
        return rerr_set(e, "out of memory initialising %ld parameters", m->nparams);
    }
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_info *t = &m->tensors[i];
        const char *leaf = strrchr(t->name, '.') + 1;
        int is_bn = strstr(t->name, "bn") != NULL;
        float *dst = t->kind == TENSOR_PARAM ? p + t->offset : buf + t->offset;
        if (t->kind == TENSOR_BUFFER) {
            float v = strcmp(leaf, "running_var") == 0 ? 1.0f : 0.0f;
            for (long j = 0; j < t->numel; j++)
                dst[j] = v;
        } else if (is_bn) {
            float v = strcmp(leaf, "weight") == 0 ? 1.0f : 0.0f;
            for (long j = 0; j < t->numel; j++)
                dst[j] = v;
        } else if (strcmp(leaf, "bias") == 0) {
            memset(dst, 0, (size_t)t->numel * sizeof(float));
        } else if (t->ndim == 3) {
            /* Keras he_normal: truncated normal (2 std) whose std after
             * truncation is sqrt(2 / fan_in); 0.87962566 is the std of a unit
             * normal truncated to [-2, 2]. */
            double fan_in = (double)t->shape[1] * t->shape[2];
            float sd = (float)(sqrt(2.0 / fan_in) / 0.87962566103423978);
            for (long j = 0; j < t->numel; j++)
                dst[j] = sd * rng_truncated_normal(&r);
        } else {
            /* Keras Dense default: glorot_uniform, limit sqrt(6 / (fan_in + fan_out)). */
            float limit = (float)sqrt(6.0 / (t->shape[0] + t->shape[1]));
            for (long j = 0; j < t->numel; j++)
                dst[j] = limit * (2.0f * rng_uniform(&r) - 1.0f);
        }
    }
    m->be->upload(m->be, m->params, p, (size_t)m->nparams * sizeof(float));
    m->be->upload(m->be, m->buffers, buf, (size_t)m->nbuffers * sizeof(float));
    free(p);
    free(buf);
    return 0;
}

/* ---- forward ---- */

void model_forward(model *m, const float *x, int B, int L, int training, uint64_t drop_seed)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    RESECG_ASSERT(B >= 1 && B <= m->cap_B && L >= m->frame && L <= m->cap_L && L % m->frame == 0);
    m->B = B;
    m->L = L;
    m->T = L / m->frame;
    float *P = m->params, *S = m->buffers;
    float mom = c->bn_momentum, eps = c->bn_eps;
    int F = c->filters_start;
    const int Ci = c->in_channels;
    if (be->act_nwc && Ci > 1) {
        // a channels-last backend (host memory, backend.h): x (B, Ci, L) -> (B, L, Ci)
        for (int b = 0; b < B; b++)
            for (int ci = 0; ci < Ci; ci++)
                for (int l = 0; l < L; l++)
                    m->x[((size_t)b * L + l) * Ci + ci] = x[((size_t)b * Ci + ci) * L + l];
    } else {
        be->upload(be, m->x, x, (size_t)B * Ci * L * sizeof(float));
    }

    conv_dims d;
    conv_dims_same(&d, B, c->in_channels, F, L, c->kernel, 1);
    be->conv1d_forward(be, m->h0, m->x, P + m->stem_w, P + m->stem_b, &d);
    be->bnrelu_forward(be, m->a0, m->mean0, m->rstd0, m->h0, P + m->stem_g, P + m->stem_beta,
                       S + m->stem_rm, S + m->stem_rv, B, F, L, mom, eps, training, 0.0f, 0);

    const float *in = m->a0;
    int Lin = L;
    for (int i = 0; i < m->nblocks; i++) {
        const block_desc *bd = &m->blocks[i];
        block_acts *a = &m->acts[i];
        int Lo = Lin / bd->stride;
        const float *conv_in = in;
        if (!bd->first) {
            be->bnrelu_forward(be, a->a1, a->mean1, a->rstd1, in, P + bd->bn1_g, P + bd->bn1_b,
                               S + bd->bn1_rm, S + bd->bn1_rv, B, bd->cin, Lin, mom, eps, training,
                               0.0f, 0);
            conv_in = a->a1;
        }
        conv_dims_same(&d, B, bd->cin, bd->cout, Lin, c->kernel, bd->stride);
        be->conv1d_forward(be, a->h1, conv_in, P + bd->conv1_w, P + bd->conv1_b, &d);
        float p = training ? c->dropout : 0.0f;
        be->bnrelu_forward(be, a->a2, a->mean2, a->rstd2, a->h1, P + bd->bn2_g, P + bd->bn2_b,
                           S + bd->bn2_rm, S + bd->bn2_rv, B, bd->cout, Lo, mom, eps, training, p,
                           rng_hash3(drop_seed, (uint64_t)i, 0x5eed));
        /* shortcut first into out, then the conv adds on top of it through
         * the residual add */
        be->shortcut_forward(be, m->scratch[0], in, B, bd->cin, bd->cout, Lin, bd->stride);
        conv_dims_same(&d, B, bd->cout, bd->cout, Lo, c->kernel, 1);
        be->conv1d_forward(be, a->out, a->a2, P + bd->conv2_w, P + bd->conv2_b, &d);
        be->add(be, a->out, a->out, m->scratch[0], (long)B * bd->cout * Lo);
        in = a->out;
        Lin = Lo;
    }
    int C = m->out_channels;
    be->bnrelu_forward(be, m->a_out, m->mean_out, m->rstd_out, in, P + m->out_g, P + m->out_b,
                       S + m->out_rm, S + m->out_rv, B, C, Lin, mom, eps, training, 0.0f, 0);
    be->dense_forward(be, m->logits, m->a_out, P + m->dense_w, P + m->dense_b, B, C, Lin,
                      c->num_classes);
}

/* ---- backward ---- */

void model_backward(model *m)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int B = m->B, C = m->out_channels, T = m->T;
    float *P = m->params, *G = m->grads;
    float *g = m->scratch[0], *q = m->scratch[1], *r = m->scratch[2];
    conv_dims d;

    /* head: dense, then bn_out (its input is the last block's output) */
    be->dense_backward(be, q, G + m->dense_w, G + m->dense_b, m->dlogits, m->a_out,
                       P + m->dense_w, B, C, T, c->num_classes);
    const float *last_in = m->nblocks ? m->acts[m->nblocks - 1].out : m->a0;
    be->bnrelu_backward(be, g, G + m->out_g, G + m->out_b, q, m->a_out, last_in, m->mean_out,
                        m->rstd_out, P + m->out_g, P + m->out_b, B, C, T, 0.0f);

    /* blocks in reverse; g holds d(block output) */
    int Lo = T;
    for (int i = m->nblocks - 1; i >= 0; i--) {
        const block_desc *bd = &m->blocks[i];
        block_acts *a = &m->acts[i];
        int Lin = Lo * bd->stride;
        const float *in = i > 0 ? m->acts[i - 1].out : m->a0;
        const float *conv_in = bd->first ? in : a->a1;

        conv_dims_same(&d, B, bd->cout, bd->cout, Lo, c->kernel, 1);
        be->conv1d_backward(be, q, G + bd->conv2_w, G + bd->conv2_b, g, a->a2, P + bd->conv2_w, &d);
        be->bnrelu_backward(be, r, G + bd->bn2_g, G + bd->bn2_b, q, a->a2, a->h1, a->mean2,
                            a->rstd2, P + bd->bn2_g, P + bd->bn2_b, B, bd->cout, Lo, c->dropout);
        conv_dims_same(&d, B, bd->cin, bd->cout, Lin, c->kernel, bd->stride);
        be->conv1d_backward(be, q, G + bd->conv1_w, G + bd->conv1_b, r, conv_in, P + bd->conv1_w,
                            &d);
        float *dx = q;
        if (!bd->first) {
            be->bnrelu_backward(be, r, G + bd->bn1_g, G + bd->bn1_b, q, a->a1, in, a->mean1,
                                a->rstd1, P + bd->bn1_g, P + bd->bn1_b, B, bd->cin, Lin, 0.0f);
            dx = r;
        }
        be->shortcut_backward(be, dx, g, in, B, bd->cin, bd->cout, Lin, bd->stride);
        /* rotate: dx becomes the gradient of the previous block's output */
        float *old_g = g;
        g = dx;
        if (dx == q) {
            q = old_g;
        } else {
            r = old_g;
        }
        Lo = Lin;
    }

    int F = c->filters_start;
    be->bnrelu_backward(be, q, G + m->stem_g, G + m->stem_beta, g, m->a0, m->h0, m->mean0,
                        m->rstd0, P + m->stem_g, P + m->stem_beta, B, F, m->L, 0.0f);
    conv_dims_same(&d, B, c->in_channels, F, m->L, c->kernel, 1);
    be->conv1d_backward(be, NULL, G + m->stem_w, G + m->stem_b, q, m->x, P + m->stem_w, &d);
}

/* ---- queries ---- */

const tensor_info *model_tensor(const model *m, const char *name)
{
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

float *model_tensor_data(model *m, const tensor_info *t)
{
    if (strncmp(m->be->name, "cpu", 3) != 0)
        return NULL;
    return (t->kind == TENSOR_PARAM ? m->params : m->buffers) + t->offset;
}

double model_flops_forward(const model *m, int L)
{
    const model_config *c = &m->cfg;
    double K = c->kernel, fl = 2.0 * K * c->in_channels * c->filters_start * L;
    int Lin = L;
    for (int i = 0; i < m->nblocks; i++) {
        const block_desc *bd = &m->blocks[i];
        int Lo = Lin / bd->stride;
        fl += 2.0 * K * bd->cin * bd->cout * Lo + 2.0 * K * bd->cout * bd->cout * Lo;
        Lin = Lo;
    }
    fl += 2.0 * m->out_channels * c->num_classes * Lin;
    return fl;
}

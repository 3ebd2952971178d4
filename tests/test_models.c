/* Every reader of a model file checks it before using it (issue 18,
 * classes 4 and 5): network checkpoints through evaluate_run and
 * train_run --resume (metadata out of range, non-finite weights,
 * statistics and Adam moments, wrong shapes, missing and foreign tensors,
 * data checksum mismatches), checkpoint_save refusing a diverged model, and
 * the feature baseline's model.json through evaluate_run (split indices out
 * of range, self children, cycles, children out of range, mismatched
 * arrays, non-finite leaves, deep nesting, truncation). Each crafted file is
 * a real one from a fresh training run with one thing changed; before
 * these checks several of them crashed (SIGABRT, SIGSEGV) or hung the
 * reader, so each case runs in its own forked test. The training seed is
 * printed (RESECG_TEST_SEED repeats it). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/backend.h"
#include "nn/device.h"
#include "run/safetensors.h"
#include "base/config.h"
#include "baseline/feat.h"
#include "nn/model.h"
#include "testutil.h"
#include "run/checkpoint.h"
#include "run/train.h"
#include "base/util.h"

static char g_dir[512], g_net[700], g_feat[700];
static resecg_config g_netcfg, g_featcfg;
static char *g_model_text; /* g_feat's model.json */
static uint64_t g_seed;

/* ------------------------------------------------------------- fixture */

static void net_config(resecg_config *c)
{
    config_defaults(c);
    c->model.filters_start = 8;
    c->model.num_blocks = 4;
    c->data.synth_records = 96;
    c->data.synth_length = 1024;
    c->data.synth_min_length = 512;
    c->train.batch_size = 16;
    c->train.max_epochs = 2;
    c->train.threads = 1;
    c->train.seed = g_seed;
}

static void feat_config(resecg_config *c)
{
    config_defaults(c);
    c->model.type = MODEL_FEATURES;
    c->data.synth_records = 96;
    c->data.synth_length = 1500;
    c->data.synth_min_length = 900;
    c->features.trees = 5;
    c->train.threads = 1;
    c->train.seed = g_seed;
}

/* Runs in the parent (unchecked fixture): one network run, one tree run. */
static void dir_setup(void)
{
    testutil_mkdtemp(g_dir, sizeof g_dir, "models");
    snprintf(g_net, sizeof g_net, "%s/net", g_dir);
    snprintf(g_feat, sizeof g_feat, "%s/feat", g_dir);
    net_config(&g_netcfg);
    feat_config(&g_featcfg);
    train_opts o = {.out_dir = g_net, .device = "cpu", .quiet = 1};
    train_result res;
    rerr e = {{0}};
    char path[800];
    if (train_run(&g_netcfg, &o, &res, &e) != 0 ||
        (o.out_dir = g_feat, train_run(&g_featcfg, &o, &res, &e) != 0) ||
        (snprintf(path, sizeof path, "%s/model.json", g_feat),
         util_read_file(path, &g_model_text, NULL, &e) != 0)) {
        fprintf(stderr, "test_models: fixture: %s\n", e.msg);
        abort();
    }
}

static void dir_teardown(void)
{
    free(g_model_text);
    testutil_rmtree(g_dir);
}

/* ------------------------------------------------------------- helpers */

/* 64-bit FNV-1a, written here from its definition: the oracle for the
 * checksum the writer stores. */
static uint64_t fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void copy_file(const char *src, const char *dst)
{
    char *buf;
    size_t n;
    rerr e;
    ck_assert_msg(util_read_file(src, &buf, &n, &e) == 0, "%s", e.msg);
    ck_assert_msg(util_write_file_atomic(dst, buf, n, &e) == 0, "%s", e.msg);
    free(buf);
}

/* One change to a checkpoint. Unless flip is set the data checksum is made
 * anew, so only the change itself is wrong. */
typedef struct ckpt_edit {
    const char *key, *value; /* metadata key set to value (added if absent) */
    const char *tensor;      /* its first element becomes number */
    float number;
    const char *drop;    /* tensor left out */
    const char *reshape; /* tensor whose first two dimensions are swapped (same bytes) */
    const char *extra;   /* a tensor of that name added (a copy of the first one) */
    const char *retype;  /* an I64 scalar written as F32 (same count, other dtype) */
    int no_checksum;     /* the checksum key left out (a file from before it existed) */
    int flip;            /* one data bit flipped after the checksum is made */
} ckpt_edit;

static void craft_ckpt(const char *src, const char *dst, const ckpt_edit *ed)
{
    st_file f;
    rerr e;
    ck_assert_msg(st_read(&f, src, &e) == 0, "%s", e.msg);
    st_tensor *ts = calloc((size_t)f.n + 1, sizeof *ts);
    st_meta *meta = calloc((size_t)f.nmeta + 2, sizeof *meta);
    float *copy = NULL, fzero = 0;
    ck_assert(ts && meta);
    int n = 0, nm = 0;
    for (int i = 0; i < f.n; i++) {
        st_tensor t = f.tensors[i];
        if (ed->drop && strcmp(t.name, ed->drop) == 0)
            continue;
        if (ed->reshape && strcmp(t.name, ed->reshape) == 0) {
            int64_t d = t.shape[0];
            t.shape[0] = t.shape[1];
            t.shape[1] = d;
        }
        if (ed->tensor && strcmp(t.name, ed->tensor) == 0) {
            copy = malloc(t.nbytes);
            ck_assert(copy);
            memcpy(copy, t.data, t.nbytes);
            memcpy(copy, &ed->number, sizeof(float));
            t.data = copy;
        }
        if (ed->retype && strcmp(t.name, ed->retype) == 0) {
            t.dtype = ST_F32;
            t.data = &fzero;
            t.nbytes = sizeof fzero;
        }
        ts[n++] = t;
    }
    if (ed->extra) {
        ts[n] = ts[0];
        snprintf(ts[n].name, sizeof ts[n].name, "%s", ed->extra);
        n++;
    }
    for (int i = 0; i < f.nmeta; i++)
        if (strcmp(f.meta[i].key, "data_fnv1a64") != 0 && (!ed->key || strcmp(f.meta[i].key, ed->key) != 0))
            meta[nm++] = f.meta[i];
    if (ed->key) {
        snprintf(meta[nm].key, sizeof meta[nm].key, "%s", ed->key);
        snprintf(meta[nm].value, sizeof meta[nm].value, "%s", ed->value);
        nm++;
    }
    if (!ed->no_checksum) {
        uint64_t h = FNV_INIT;
        for (int i = 0; i < n; i++)
            h = fnv1a64(h, ts[i].data, ts[i].nbytes);
        snprintf(meta[nm].key, sizeof meta[nm].key, "data_fnv1a64");
        snprintf(meta[nm].value, sizeof meta[nm].value, "%016llx", (unsigned long long)h);
        nm++;
    }
    ck_assert_msg(st_write(dst, ts, n, meta, nm, &e) == 0, "%s", e.msg);
    free(copy);
    free(ts);
    free(meta);
    st_free(&f);
    if (ed->flip) {
        /* the low mantissa bit of the last float: still finite, now wrong */
        char *buf;
        size_t len;
        ck_assert(util_read_file(dst, &buf, &len, &e) == 0);
        buf[len - 4] ^= 1;
        ck_assert(util_write_file_atomic(dst, buf, len, &e) == 0);
        free(buf);
    }
}

/* msg must name path and hold each non-NULL needle; prints it. */
static void assert_error(int rc, const rerr *e, const char *path, const char *n1, const char *n2)
{
    ck_assert_msg(rc == -1, "%s: accepted; expected an error mentioning '%s'", path, n1);
    ck_assert_msg(strstr(e->msg, path) != NULL, "the error does not name %s: %s", path, e->msg);
    ck_assert_msg(!n1 || strstr(e->msg, n1), "expected '%s' in: %s", n1, e->msg);
    ck_assert_msg(!n2 || strstr(e->msg, n2), "expected '%s' in: %s", n2, e->msg);
    ck_assert_msg(strchr(e->msg, '\n') == NULL, "not one line: %s", e->msg);
    printf("  refused as expected: %s\n", e->msg + strlen(g_dir) + 1);
}

/* evaluate_run (what `resecg evaluate` calls) on best.safetensors with ed. */
static void expect_evaluate_error(const char *tag, const ckpt_edit *ed, const char *n1,
                                  const char *n2)
{
    char src[800], dst[800];
    snprintf(src, sizeof src, "%s/best.safetensors", g_net);
    snprintf(dst, sizeof dst, "%s/%s.safetensors", g_dir, tag);
    craft_ckpt(src, dst, ed);
    eval_opts o = {.ckpt = dst, .device = "cpu"};
    eval_result r;
    rerr e = {{0}};
    assert_error(evaluate_run(&g_netcfg, &o, &r, &e), &e, dst, n1, n2);
}

/* train_run --resume (what `resecg train --resume` calls) from a copy of the
 * run whose last.safetensors has ed; nothing is trained, f1.csv not written. */
static void expect_resume_error(const char *tag, const ckpt_edit *ed, const char *n1,
                                const char *n2)
{
    char dir[800], src[800], dst[900], p[900];
    snprintf(dir, sizeof dir, "%s/resume-%s", g_dir, tag);
    rerr e = {{0}};
    ck_assert_msg(util_mkdir_p(dir, &e) == 0, "%s", e.msg);
    snprintf(src, sizeof src, "%s/epochs.csv", g_net);
    snprintf(p, sizeof p, "%s/epochs.csv", dir);
    copy_file(src, p);
    snprintf(src, sizeof src, "%s/last.safetensors", g_net);
    snprintf(dst, sizeof dst, "%s/last.safetensors", dir);
    craft_ckpt(src, dst, ed);
    resecg_config c = g_netcfg;
    c.train.max_epochs = 3;
    train_opts o = {.out_dir = dir, .device = "cpu", .resume = 1, .quiet = 1};
    train_result res;
    assert_error(train_run(&c, &o, &res, &e), &e, dst, n1, n2);
    snprintf(p, sizeof p, "%s/f1.csv", dir);
    ck_assert_msg(!util_file_exists(p), "%s written after a refused resume", p);
}

/* ------------------------------------------- checkpoints: metadata ranges */

/* norm_std of "0" aborted evaluate (batch_fill's assertion), as did every
 * value strtod reads as <= 0 or NaN; each now names the key. */
static const char *const bad_std[] = {"0", "-1", "nan", "abc", "inf", "", " 1", "1x", "1e-50"};

START_TEST(test_evaluate_norm_std)
{
    ckpt_edit ed = {.key = "norm_std", .value = bad_std[_i]};
    char tag[32];
    snprintf(tag, sizeof tag, "norm_std%d", _i);
    expect_evaluate_error(tag, &ed, "metadata norm_std", NULL);
}
END_TEST

START_TEST(test_evaluate_norm_mean)
{
    static const char *const bad[] = {"nan", "1e999", "-inf", "0.5.5"};
    for (int i = 0; i < 4; i++) {
        ckpt_edit ed = {.key = "norm_mean", .value = bad[i]};
        expect_evaluate_error("norm_mean", &ed, "metadata norm_mean", NULL);
    }
}
END_TEST

/* The loop state --resume reads: atoi and strtod took any text as 0. */
START_TEST(test_resume_metadata)
{
    static const struct {
        const char *key, *value;
    } bad[] = {
        {"epoch", "abc"},       {"epoch", "-1"},       {"epoch", "1.5"},
        {"adam_step", "x"},     {"adam_step", "-4"},   {"lr", "0"},
        {"lr", "nan"},          {"lr", "-0.001"},      {"best_dev_loss", "nan"},
        {"best_dev_loss", "-1"}, {"plateau_best", "abc"}, {"waits", "1"},
        {"waits", "1 -2"},      {"best_epoch", "9"},   {"epoch", "99999999999"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ckpt_edit ed = {.key = bad[i].key, .value = bad[i].value};
        char tag[32];
        snprintf(tag, sizeof tag, "meta%zu", i);
        expect_resume_error(tag, &ed, "metadata", bad[i].key);
    }
}
END_TEST

/* ------------------------------------------- checkpoints: non-finite values */

/* One NaN in conv.weight: evaluate scored with it silently. */
START_TEST(test_evaluate_nan_weight)
{
    ckpt_edit ed = {.tensor = "conv.weight", .number = NAN};
    expect_evaluate_error("nan_weight", &ed, "tensor conv.weight", "nan");
    ed = (ckpt_edit){.tensor = "dense.bias", .number = INFINITY};
    expect_evaluate_error("inf_bias", &ed, "tensor dense.bias", "inf");
}
END_TEST

START_TEST(test_evaluate_bad_bn_statistics)
{
    ckpt_edit ed = {.tensor = "bn.running_mean", .number = NAN};
    expect_evaluate_error("nan_mean", &ed, "tensor bn.running_mean", "nan");
    ed = (ckpt_edit){.tensor = "bn.running_var", .number = -0.5f};
    expect_evaluate_error("neg_var", &ed, "tensor bn.running_var", "negative");
}
END_TEST

/* One NaN in conv.weight or an Adam moment: --resume trained on, spread it
 * through the parameters and wrote f1.csv. */
START_TEST(test_resume_nan)
{
    ckpt_edit ed = {.tensor = "conv.weight", .number = NAN};
    expect_resume_error("nan_weight", &ed, "tensor conv.weight", "nan");
    ed = (ckpt_edit){.tensor = "adam.m.conv.weight", .number = NAN};
    expect_resume_error("nan_m", &ed, "tensor adam.m.conv.weight", "nan");
    ed = (ckpt_edit){.tensor = "adam.v.dense.weight", .number = -1.0f};
    expect_resume_error("neg_v", &ed, "tensor adam.v.dense.weight", "negative");
}
END_TEST

/* checkpoint_save never writes a non-finite model: training that diverges
 * after its last loss check cannot leave NaN for --resume or evaluate. */
START_TEST(test_save_refuses_nonfinite)
{
    rerr e = {{0}};
    backend *be = backend_create("cpu", 1, g_netcfg.train.precision, &e);
    ck_assert_msg(be != NULL, "%s", e.msg);
    model m = {0};
    ck_assert_msg(model_init(&m, &g_netcfg.model, be, &e) == 0, "%s", e.msg);
    ck_assert_msg(model_init_weights(&m, g_seed, &e) == 0, "%s", e.msg);
    const tensor_info *t = model_tensor(&m, "blocks.1.conv2.weight");
    ck_assert_ptr_nonnull(t);
    float nan = NAN;
    be->upload(be, m.params + t->offset + 5, &nan, sizeof nan);
    char path[800];
    snprintf(path, sizeof path, "%s/diverged.safetensors", g_dir);
    assert_error(checkpoint_save(&m, NULL, path, NULL, 0, &e), &e, path,
                 "tensor blocks.1.conv2.weight", "value 5 of");
    ck_assert_msg(!util_file_exists(path), "%s written", path);
    model_free(&m);
    backend_destroy(be);
}
END_TEST

/* ---------------------------------------------- checkpoints: shapes, names */

START_TEST(test_evaluate_wrong_shape)
{
    /* same bytes, another shape: a checkpoint of another model config */
    ckpt_edit ed = {.reshape = "conv.weight"};
    expect_evaluate_error("reshape", &ed, "tensor conv.weight: F32 (1, 8, 16)", "(8, 1, 16)");
    /* a tensor this model does not have (a deeper model's): was ignored */
    ed = (ckpt_edit){.extra = "blocks.9.conv1.weight"};
    expect_evaluate_error("extra", &ed, "tensor blocks.9.conv1.weight", "not a tensor of this model");
    /* a BN counter of the wrong dtype: was ignored */
    ed = (ckpt_edit){.retype = "bn.num_batches_tracked"};
    expect_evaluate_error("retype", &ed, "tensor bn.num_batches_tracked", "I64");
}
END_TEST

START_TEST(test_missing_tensor)
{
    ckpt_edit ed = {.drop = "bn_out.running_mean"};
    expect_evaluate_error("drop", &ed, "tensor bn_out.running_mean", "missing");
    ed = (ckpt_edit){.drop = "adam.v.conv.bias"};
    expect_resume_error("drop_v", &ed, "tensor adam.v.conv.bias", "missing");
}
END_TEST

/* ----------------------------------------------------- checkpoints: checksum */

/* The writer stores FNV-1a of the data section; one flipped bit of a weight
 * (still finite, so nothing else notices) is then refused by every reader. */
START_TEST(test_checksum)
{
    const char *names[] = {"best.safetensors", "last.safetensors"};
    for (int i = 0; i < 2; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", g_net, names[i]);
        st_file f;
        rerr e;
        ck_assert_msg(st_read(&f, path, &e) == 0, "%s", e.msg);
        uint64_t hlen;
        memcpy(&hlen, f.buf, 8);
        char want[32];
        snprintf(want, sizeof want, "%016llx",
                 (unsigned long long)fnv1a64(FNV_INIT, f.buf + 8 + hlen, f.size - 8 - hlen));
        const char *got = st_meta_get(&f, "data_fnv1a64");
        ck_assert_msg(got && strcmp(got, want) == 0, "%s: data_fnv1a64 %s, the data hashes to %s",
                      path, got ? got : "(absent)", want);
        st_free(&f);
    }
    ckpt_edit ed = {.flip = 1};
    expect_evaluate_error("flip", &ed, "checksum mismatch", NULL);
    expect_resume_error("flip", &ed, "checksum mismatch", NULL);
    ed = (ckpt_edit){.key = "data_fnv1a64", .value = "12345", .no_checksum = 1};
    expect_evaluate_error("badsum", &ed, "metadata data_fnv1a64", "hex");
}
END_TEST

/* A file without the checksum key (written before it existed) still loads,
 * evaluates and resumes. */
START_TEST(test_no_checksum_loads)
{
    char src[800], dst[800];
    snprintf(src, sizeof src, "%s/best.safetensors", g_net);
    snprintf(dst, sizeof dst, "%s/old.safetensors", g_dir);
    ckpt_edit ed = {.no_checksum = 1};
    craft_ckpt(src, dst, &ed);
    eval_opts o = {.ckpt = dst, .device = "cpu"};
    eval_result r;
    rerr e = {{0}};
    ck_assert_msg(evaluate_run(&g_netcfg, &o, &r, &e) == 0, "%s", e.msg);
    ck_assert_int_gt(r.records, 0);
}
END_TEST

/* ------------------------------------------------------------ model.json */

/* A tree of up to 8 nodes; cond is the split condition (a leaf's value). */
typedef struct node_spec {
    int left, right;
    long parent, split;
    const char *cond;
} node_spec;

#define P0 2147483647L /* the root's parent as XGBoost writes it */
#define BIG "1e30"     /* every sample goes left at such a split */

typedef struct tree_case {
    const char *name;
    int n;
    node_spec nodes[8];
    int short_base_weights; /* base_weights one entry short */
    const char *needle[2];
} tree_case;

/* A valid 5-node tree every sample walks down the left: node 0 -> 1 -> 3. */
#define GOOD_TREE                                                                             \
    {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"}, {-1, -1, 1, 0, "0.2"},      \
     {-1, -1, 1, 0, "0.3"}}

static const tree_case tree_cases[] = {
    {"valid", 5, GOOD_TREE, 0, {NULL, NULL}},
    /* reproductions: a segfault inside libxgboost, then endless loops */
    {"split index out of range", 5,
     {{1, 2, P0, 2000000000L, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"},
      {-1, -1, 1, 0, "0.2"}, {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 0: split_indices is 2000000000", "num_feature"}},
    {"self child", 5,
     {{1, 2, P0, 0, BIG}, {1, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"}, {-1, -1, 1, 0, "0.2"},
      {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 1: left_children is 1 (the node itself)", NULL}},
    {"cycle", 5,
     {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"}, {1, 4, 1, 0, BIG},
      {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 3: left_children is 1, a node already reached", NULL}},
    {"child out of range", 5,
     {{1, 99999, P0, 0, "-1e30"}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"},
      {-1, -1, 1, 0, "0.2"}, {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 0: right_children is 99999", NULL}},
    {"mismatched lengths", 5, GOOD_TREE, 1, {"tree 0: base_weights has 4 entries", "num_nodes is 5"}},
    {"non-finite leaf", 5,
     {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "1e999"}, {-1, -1, 1, 0, "0.2"},
      {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 2: split_conditions is inf", NULL}},
    {"half a leaf", 5,
     {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, 3, 0, 0, "0.1"}, {-1, -1, 1, 0, "0.2"},
      {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 2: left_children -1 and right_children 3", NULL}},
    {"orphan node", 6,
     {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 0, 0, "0.1"}, {-1, -1, 1, 0, "0.2"},
      {-1, -1, 1, 0, "0.3"}, {-1, -1, 0, 0, "0.4"}},
     0, {"tree 0 node 5: not reached from the root", NULL}},
    {"wrong parent", 5,
     {{1, 2, P0, 0, BIG}, {3, 4, 0, 0, BIG}, {-1, -1, 1, 0, "0.1"}, {-1, -1, 1, 0, "0.2"},
      {-1, -1, 1, 0, "0.3"}},
     0, {"tree 0 node 2: parents is 1", NULL}},
};

static void put_array(sbuf *b, const char *key, const tree_case *tc, int field)
{
    sbuf_printf(b, "\"%s\":[", key);
    int n = tc->n - (field == 9 && tc->short_base_weights);
    for (int i = 0; i < n; i++) {
        const node_spec *s = &tc->nodes[i];
        if (i)
            sbuf_puts(b, ",");
        switch (field) {
        case 0: sbuf_printf(b, "%d", s->left); break;
        case 1: sbuf_printf(b, "%d", s->right); break;
        case 2: sbuf_printf(b, "%ld", s->parent); break;
        case 3: sbuf_printf(b, "%ld", s->split); break;
        case 4: sbuf_puts(b, s->cond); break;
        case 5: sbuf_puts(b, s->left == -1 ? "0E0" : "1E0"); break;          /* loss_changes */
        case 6: sbuf_puts(b, "1"); break;                                    /* default_left */
        case 7: sbuf_puts(b, "0"); break;                                    /* split_type */
        case 8: sbuf_puts(b, "2.5E1"); break;                                /* sum_hessian */
        case 9: sbuf_puts(b, s->left == -1 ? s->cond : "1E-1"); break; /* base_weights */
        }
    }
    sbuf_puts(b, "],");
}

/* The tree as XGBoost 1.7 writes one (keys in its order), id 0. */
static char *tree_json(const tree_case *tc)
{
    sbuf b = {0};
    sbuf_puts(&b, "{");
    put_array(&b, "base_weights", tc, 9);
    sbuf_puts(&b, "\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
                  "\"categories_sizes\":[],");
    put_array(&b, "default_left", tc, 6);
    sbuf_puts(&b, "\"id\":0,");
    put_array(&b, "left_children", tc, 0);
    put_array(&b, "loss_changes", tc, 5);
    put_array(&b, "parents", tc, 2);
    put_array(&b, "right_children", tc, 1);
    put_array(&b, "split_conditions", tc, 4);
    put_array(&b, "split_indices", tc, 3);
    put_array(&b, "split_type", tc, 7);
    put_array(&b, "sum_hessian", tc, 8);
    sbuf_printf(&b, "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"%d\",\"num_nodes\":"
                    "\"%d\",\"size_leaf_vector\":\"0\"}}",
                FEAT_N, tc->n);
    ck_assert(!b.oom && b.p);
    return b.p;
}

/* g_model_text with its first tree replaced by tree (a string splice: the
 * trees hold no strings with braces, so brace counting finds the end). */
static char *with_tree0(const char *tree)
{
    const char *at = strstr(g_model_text, "\"trees\":[{");
    ck_assert_ptr_nonnull(at);
    const char *start = at + 9, *end = start;
    int depth = 0;
    do {
        depth += *end == '{';
        depth -= *end == '}';
        end++;
    } while (depth > 0 && *end);
    sbuf b = {0};
    sbuf_putn(&b, g_model_text, (size_t)(start - g_model_text));
    sbuf_puts(&b, tree);
    sbuf_puts(&b, end);
    ck_assert(!b.oom && b.p);
    return b.p;
}

/* evaluate_run (what `resecg evaluate` calls) on a model.json with text. */
static int evaluate_model_text(const char *tag, const char *text, size_t len, char *path,
                               size_t pathsz, rerr *e)
{
    snprintf(path, pathsz, "%s/%s.json", g_dir, tag);
    ck_assert_msg(util_write_file_atomic(path, text, len, e) == 0, "%s", e->msg);
    eval_opts o = {.ckpt = path, .device = "cpu"};
    eval_result r;
    return evaluate_run(&g_featcfg, &o, &r, e);
}

START_TEST(test_model_json_trees)
{
    const tree_case *tc = &tree_cases[_i];
    char *tree = tree_json(tc), *text = with_tree0(tree), path[800], tag[32];
    rerr e = {{0}};
    snprintf(tag, sizeof tag, "tree%d", _i);
    printf("model.json, tree 0: %s\n", tc->name);
    int rc = evaluate_model_text(tag, text, strlen(text), path, sizeof path, &e);
    if (!tc->needle[0])
        ck_assert_msg(rc == 0, "the valid hand-made tree was refused: %s", e.msg);
    else
        assert_error(rc, &e, path, tc->needle[0], tc->needle[1]);
    free(tree);
    free(text);
}
END_TEST

/* Whole-file damage: deep nesting (XGBoost's recursive reader ran out of
 * stack), truncation, duplicate keys, the wrong class count. */
START_TEST(test_model_json_text)
{
    char path[800];
    rerr e = {{0}};
    sbuf b = {0};
    for (int i = 0; i < 100000; i++)
        sbuf_puts(&b, "{\"a\":");
    ck_assert(!b.oom);
    assert_error(evaluate_model_text("deep", b.p, b.len, path, sizeof path, &e), &e, path,
                 "bad JSON at byte", "nested deeper than");
    free(b.p);

    size_t half = strlen(g_model_text) / 2;
    assert_error(evaluate_model_text("truncated", g_model_text, half, path, sizeof path, &e), &e,
                 path, "bad JSON at byte", NULL);

    const char *nc = strstr(g_model_text, "\"num_class\":\"4\"");
    ck_assert_ptr_nonnull(nc);
    size_t at = (size_t)(nc - g_model_text), k = strlen("\"num_class\":\"4\"");
    sbuf d = {0};
    sbuf_putn(&d, g_model_text, at + k);
    sbuf_puts(&d, ",\"num_class\":\"3\"");
    sbuf_puts(&d, nc + k);
    assert_error(evaluate_model_text("dupkey", d.p, d.len, path, sizeof path, &e), &e, path,
                 "duplicate key \"num_class\"", NULL);
    free(d.p);

    sbuf w = {0};
    sbuf_putn(&w, g_model_text, at);
    sbuf_puts(&w, "\"num_class\":\"3\"");
    sbuf_puts(&w, nc + k);
    assert_error(evaluate_model_text("classes", w.p, w.len, path, sizeof path, &e), &e, path,
                 "learner.learner_model_param.num_class", "expected 4");
    free(w.p);
}
END_TEST

int main(void)
{
    const char *s = getenv("RESECG_TEST_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) % 100000 + 1;
    printf("test_models: seed %llu (set RESECG_TEST_SEED to repeat)\n", (unsigned long long)g_seed);

    Suite *suite = suite_create("models");
    TCase *tc = tcase_create("readers");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 120); /* a hang (the old model.json cycles) fails, not stalls */
    tcase_add_loop_test(tc, test_evaluate_norm_std, 0, (int)(sizeof bad_std / sizeof bad_std[0]));
    tcase_add_test(tc, test_evaluate_norm_mean);
    tcase_add_test(tc, test_resume_metadata);
    tcase_add_test(tc, test_evaluate_nan_weight);
    tcase_add_test(tc, test_evaluate_bad_bn_statistics);
    tcase_add_test(tc, test_resume_nan);
    tcase_add_test(tc, test_save_refuses_nonfinite);
    tcase_add_test(tc, test_evaluate_wrong_shape);
    tcase_add_test(tc, test_missing_tensor);
    tcase_add_test(tc, test_checksum);
    tcase_add_test(tc, test_no_checksum_loads);
    tcase_add_loop_test(tc, test_model_json_trees, 0,
                        (int)(sizeof tree_cases / sizeof tree_cases[0]));
    tcase_add_test(tc, test_model_json_text);
    suite_add_tcase(suite, tc);

    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

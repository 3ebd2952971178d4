/* Checks the YAML configuration loader (core/base/config.c): documented defaults,
 * the shipped cfgs/ResECG.yaml and small.yaml, exact write -> load round trips (fixed and random configs),
 * every error message with its FILE:LINE:COLUMN, --set overrides, the
 * cross-field checks of config_validate, and thousands of mutated inputs
 * that must each load or fail with a message, never crash. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"

/* ---- helpers ---- */

/* Name of the first field where a and b differ (bitwise for numbers, so -0
 * and 0 differ), or NULL. source_path is left out: it names where the text
 * came from, not a setting. */
static const char *cfg_diff(const resecg_config *a, const resecg_config *b)
{
#define SAME(f)                                              \
    do {                                                     \
        if (memcmp(&a->f, &b->f, sizeof a->f) != 0)          \
            return #f;                                       \
    } while (0)
#define SAME_STR(f)                                          \
    do {                                                     \
        if (strcmp(a->f, b->f) != 0)                         \
            return #f;                                       \
    } while (0)
    SAME(model.in_channels);
    SAME(model.num_classes);
    SAME(model.filters_start);
    SAME(model.num_blocks);
    SAME(model.kernel);
    SAME(model.increase_channels_at);
    SAME(model.subsample_every);
    SAME(model.dropout);
    SAME(model.bn_momentum);
    SAME(model.bn_eps);
    SAME(loss.kind);
    SAME(loss.balanced);
    SAME(loss.class_weights);
    SAME(loss.gamma);
    SAME(loss.alpha);
    SAME(optim.lr);
    SAME(optim.beta1);
    SAME(optim.beta2);
    SAME(optim.eps);
    SAME(optim.clip_norm);
    SAME(optim.plateau_factor);
    SAME(optim.plateau_patience);
    SAME(optim.min_lr);
    SAME(train.batch_size);
    SAME(train.max_epochs);
    SAME(train.early_stop_patience);
    SAME(train.seed);
    SAME(train.threads);
    SAME(train.drop_last);
    SAME_STR(data.source);
    SAME_STR(data.dir);
    SAME(data.synth_records);
    SAME(data.synth_length);
    SAME(data.synth_min_length);
    SAME(data.synth_noise);
    SAME(data.dev_fraction);
    SAME(data.sample_rate);
    SAME(data.seed);
    SAME(data.protocol);
    SAME_STR(data.labels);
    SAME(data.skip_bad);
    SAME(data.split);
    SAME(data.resample_length);
    SAME(data.batching);
    SAME_STR(data.manifest);
    SAME(data.dev_fold);
    return NULL;
#undef SAME
#undef SAME_STR
}

#define ck_assert_cfg_eq(a, b)                                                   \
    do {                                                                         \
        const char *d_ = cfg_diff((a), (b));                                     \
        ck_assert_msg(d_ == NULL, "configs differ in %s", d_ ? d_ : "");         \
    } while (0)

/* Path of a file under the source tree: $RESECG_SOURCE_DIR (set by CTest),
 * else the first of a few guesses relative to the working directory. */
static void source_path(char *out, size_t n, const char *rel)
{
    const char *dir = getenv("RESECG_SOURCE_DIR");
    if (dir && *dir) {
        snprintf(out, n, "%s/%s", dir, rel);
        return;
    }
    const char *guesses[] = {".", "..", "../.."};
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
        snprintf(out, n, "%s/%s", guesses[i], rel);
        if (access(out, R_OK) == 0)
            return;
    }
    snprintf(out, n, "%s", rel);
}

/* A temp file holding text; the caller unlinks it. */
static void write_temp(char *path, size_t n, const char *text)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/test_config_XXXXXX.yaml", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemps(path, 5);
    ck_assert_msg(fd >= 0, "mkstemps %s failed", path);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Loads text named "t.yaml" onto defaults, expecting failure with a message
 * that contains want; the struct must stay at its defaults. */
static void expect_load_error(const char *text, const char *want)
{
    resecg_config c, d;
    config_defaults(&c);
    config_defaults(&d);
    rerr e = {{0}};
    int rc = config_load_string(&c, text, "t.yaml", &e);
    ck_assert_msg(rc == -1, "expected an error containing \"%s\" for:\n%s", want, text);
    ck_assert_msg(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\" (input:\n%s)", e.msg,
                  want, text);
    ck_assert_cfg_eq(&c, &d);
}

static void load_ok(resecg_config *c, const char *text)
{
    rerr e = {{0}};
    int rc = config_load_string(c, text, "t.yaml", &e);
    ck_assert_msg(rc == 0, "load failed: %s (input:\n%s)", e.msg, text);
}

static void set_ok(resecg_config *c, const char *assignment)
{
    rerr e = {{0}};
    int rc = config_set(c, assignment, &e);
    ck_assert_msg(rc == 0, "--set %s failed: %s", assignment, e.msg);
}

static void expect_set_error(const char *assignment, const char *want)
{
    resecg_config c, d;
    config_defaults(&c);
    config_defaults(&d);
    rerr e = {{0}};
    int rc = config_set(&c, assignment, &e);
    ck_assert_msg(rc == -1, "expected --set %s to fail", assignment);
    ck_assert_msg(strcmp(e.msg, want) == 0, "got \"%s\"\nwant \"%s\"", e.msg, want);
    ck_assert_cfg_eq(&c, &d);
}

/* to_string -> load onto defaults must give c back exactly. */
static void check_round_trip(const resecg_config *c)
{
    char *text = config_to_string(c);
    ck_assert_ptr_nonnull(text);
    resecg_config back;
    config_defaults(&back);
    rerr e = {{0}};
    int rc = config_load_string(&back, text, "written", &e);
    ck_assert_msg(rc == 0, "written config does not load: %s\n%s", e.msg, text);
    const char *d = cfg_diff(c, &back);
    ck_assert_msg(d == NULL, "round trip changed %s:\n%s", d ? d : "", text);
    free(text);
}

/* xorshift64*: fresh random inputs each run, reproducible from the printed seed */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double rng_unif(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int rng_int(uint64_t *s, int lo, int hi)
{
    return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static uint64_t test_seed(void)
{
    const char *env = getenv("RESECG_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (seed == 0)
        seed = 1;
    printf("test_config: random seed %llu (RESECG_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

/* ---- defaults and shipped configs ---- */

START_TEST(test_defaults)
{
    resecg_config c;
    config_defaults(&c);
    ck_assert_int_eq(c.model.in_channels, 1);
    ck_assert_int_eq(c.model.num_classes, 4);
    ck_assert_int_eq(c.model.filters_start, 32);
    ck_assert_int_eq(c.model.num_blocks, 16);
    ck_assert_int_eq(c.model.kernel, 16);
    ck_assert_int_eq(c.model.increase_channels_at, 4);
    ck_assert_int_eq(c.model.subsample_every, 2);
    ck_assert(c.model.dropout == 0.2f);
    ck_assert(c.model.bn_momentum == 0.99f);
    ck_assert(c.model.bn_eps == 1e-3f);
    ck_assert_int_eq(c.loss.kind, LOSS_CE);
    ck_assert_int_eq(c.loss.balanced, 1);
    ck_assert(c.loss.gamma == 2.0f);
    for (int i = 0; i < RESECG_MAX_CLASSES; i++) {
        ck_assert(c.loss.alpha[i] == 1.0f);
        ck_assert(c.loss.class_weights[i] == 1.0f);
    }
    ck_assert(c.optim.lr == 1e-3f);
    ck_assert(c.optim.beta1 == 0.9f);
    ck_assert(c.optim.beta2 == 0.999f);
    ck_assert(c.optim.eps == 1e-8f);
    ck_assert(c.optim.clip_norm == 1.0f);
    ck_assert(c.optim.plateau_factor == 0.1f);
    ck_assert_int_eq(c.optim.plateau_patience, 2);
    ck_assert(c.optim.min_lr == 1e-6f);
    ck_assert_int_eq(c.train.batch_size, 32);
    ck_assert_int_eq(c.train.max_epochs, 100);
    ck_assert_int_eq(c.train.early_stop_patience, 8);
    ck_assert(c.train.seed == 2018);
    ck_assert_int_eq(c.train.threads, 0);
    ck_assert_int_eq(c.train.drop_last, 0);
    ck_assert_str_eq(c.data.source, "synthetic");
    ck_assert_str_eq(c.data.dir, "");
    ck_assert_int_eq(c.data.synth_records, 800);
    ck_assert_int_eq(c.data.synth_length, 2560);
    ck_assert_int_eq(c.data.synth_min_length, 1280);
    ck_assert(c.data.synth_noise == 1.0f);
    ck_assert(c.data.dev_fraction == 0.1f);
    ck_assert_int_eq(c.data.sample_rate, 300);
    ck_assert_int_eq(c.data.protocol, PROTOCOL_HANNUN);
    ck_assert_str_eq(c.data.labels, "REFERENCE-v3.csv");
    ck_assert_int_eq(c.data.skip_bad, 0);
    ck_assert_int_eq(c.data.split, SPLIT_SHUFFLE);
    ck_assert_int_eq(c.data.resample_length, 0);
    ck_assert_int_eq(c.data.batching, BATCH_BY_LENGTH);
    ck_assert_str_eq(c.data.manifest, "");
    ck_assert_int_eq(c.data.dev_fold, 0);
    ck_assert(c.data.seed == 2018);
    rerr e = {{0}};
    ck_assert_msg(config_validate(&c, &e) == 0, "defaults invalid: %s", e.msg);
    ck_assert_str_eq(config_loss_name(LOSS_CE), "ce");
    ck_assert_str_eq(config_loss_name(LOSS_WEIGHTED), "weighted");
    ck_assert_str_eq(config_loss_name(LOSS_FOCAL), "focal");
}
END_TEST

START_TEST(test_resecg_yaml_is_defaults)
{
    char path[4096];
    source_path(path, sizeof path, "cfgs/ResECG.yaml");
    resecg_config c, d;
    config_defaults(&d);
    /* loaded on top of something else, so every key must be in the file
     * (the protocol's keys through `protocol: hannun`, see below) */
    config_defaults(&c);
    set_ok(&c, "model.filters=7");
    set_ok(&c, "model.classes=2");
    set_ok(&c, "loss.kind=focal");
    set_ok(&c, "loss.alpha=[3, 4]");
    set_ok(&c, "optim.lr=0.5");
    set_ok(&c, "train.seed=5");
    set_ok(&c, "data.dir=/elsewhere");
    set_ok(&c, "data.labels=REFERENCE.csv");
    set_ok(&c, "data.skip_bad=true");
    set_ok(&c, "data.manifest=m.csv");
    set_ok(&c, "data.dev_fold=3");
    /* the keys the protocol presets are comments in the file: its
     * `protocol: hannun` must bring them back from pytorch-ref's values */
    set_ok(&c, "data.protocol=pytorch-ref");
    ck_assert_int_eq(c.data.resample_length, 8960);
    rerr e = {{0}};
    ck_assert_msg(config_load_file(&c, path, &e) == 0, "%s", e.msg);
    ck_assert_cfg_eq(&c, &d);
    ck_assert_str_eq(c.source_path, path);
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
}
END_TEST

START_TEST(test_small_yaml)
{
    char path[4096];
    source_path(path, sizeof path, "cfgs/small.yaml");
    resecg_config c;
    config_defaults(&c);
    rerr e = {{0}};
    ck_assert_msg(config_load_file(&c, path, &e) == 0, "%s", e.msg);
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.model.filters_start, 16);
    ck_assert_int_eq(c.model.num_blocks, 8);
    /* 8 blocks, every second one stride 2: one frame per 2^4 samples */
    ck_assert_int_eq(1 << (c.model.num_blocks / c.model.subsample_every), 16);
    /* the demo's records must hold whole frames of the small network */
    ck_assert_int_ge(c.data.synth_min_length, 16);
    check_round_trip(&c);
}
END_TEST

/* ---- round trips ---- */

START_TEST(test_round_trip_fixed)
{
    resecg_config c;
    config_defaults(&c);
    check_round_trip(&c);

    set_ok(&c, "model.classes=3");
    set_ok(&c, "loss.kind=weighted");
    set_ok(&c, "loss.class_weights=[0.5, 2, 1e-3]");
    set_ok(&c, "loss.alpha=[0.25, 1, -0]");
    set_ok(&c, "optim.lr=3.3e-4");
    set_ok(&c, "train.seed=18446744073709551615");
    set_ok(&c, "train.drop_last=yes");
    set_ok(&c, "data.source=cinc17");
    /* a path that needs every kind of quoting: YAML indicators, quotes,
     * backslashes, control characters, a YAML line break (NEL) and UTF-8 */
    snprintf(c.data.dir, sizeof c.data.dir,
             "/d/a: b #c/'q' \"dq\" \\back\t\n\r\x01\x7f/\xc2\x85/\xe2\x80\xa8/\xc3\xa9/\xf0\x9f\x98\x80/ end ");
    rerr e = {{0}};
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
    check_round_trip(&c);

    /* and through a file: config_write is atomic and leaves no temp file */
    char path[4096];
    write_temp(path, sizeof path, "");
    ck_assert_msg(config_write(&c, path, &e) == 0, "%s", e.msg);
    resecg_config back;
    config_defaults(&back);
    ck_assert_msg(config_load_file(&back, path, &e) == 0, "%s", e.msg);
    ck_assert_cfg_eq(&c, &back);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ck_assert(access(tmp, F_OK) != 0);
    unlink(path);

    /* balanced and none: the two scalar forms of class_weights */
    set_ok(&c, "loss.class_weights=none");
    ck_assert_int_eq(c.loss.balanced, 0);
    check_round_trip(&c);
    set_ok(&c, "loss.class_weights=balanced");
    ck_assert_int_eq(c.loss.balanced, 1);
    check_round_trip(&c);
}
END_TEST

/* A random float in [lo, hi) with arbitrary mantissa bits. */
static float rand_float(uint64_t *s, double lo, double hi)
{
    float v = (float)(lo + (hi - lo) * rng_unif(s));
    return v < hi ? v : (float)lo;
}

START_TEST(test_round_trip_random)
{
    uint64_t s = test_seed();
    static const char *const pieces[] = {"a", "Z", "/", " ", ":", "#", "'", "\"", "\\", "-", "[", "{",
                                         "&", "*", "!", "%", "@", "`", "\t", "\n", "\x01", "\x1b",
                                         "\x7f", "\xc3\xa9", "\xc2\x85", "\xe2\x80\xa8",
                                         "\xef\xbb\xbf", "\xf0\x9f\x98\x80", "~", "null"};
    const int npieces = (int)(sizeof pieces / sizeof pieces[0]);
    for (int iter = 0; iter < 500; iter++) {
        resecg_config c;
        config_defaults(&c);
        c.model.in_channels = rng_int(&s, 1, 64);
        c.model.num_classes = rng_int(&s, 2, RESECG_MAX_CLASSES);
        c.model.filters_start = rng_int(&s, 1, 4096);
        c.model.num_blocks = rng_int(&s, 1, RESECG_MAX_BLOCKS);
        c.model.kernel = rng_int(&s, 1, 1024);
        c.model.increase_channels_at = rng_int(&s, 1, 1 << 30);
        c.model.subsample_every = rng_int(&s, 1, 100);
        c.model.dropout = rand_float(&s, 0, 1);
        c.model.bn_momentum = rand_float(&s, 0, 1);
        c.model.bn_eps = (float)exp(-20 * rng_unif(&s)) + 1e-30f;
        c.loss.kind = (loss_kind)rng_int(&s, 0, 2);
        c.loss.balanced = rng_int(&s, 0, 1);
        for (int i = 0; i < c.model.num_classes; i++) {
            if (!c.loss.balanced)
                c.loss.class_weights[i] = rand_float(&s, 0, 100);
            c.loss.alpha[i] = rand_float(&s, 0, 3);
        }
        c.loss.gamma = rand_float(&s, 0, 5);
        c.optim.lr = (float)exp(-15 * rng_unif(&s));
        c.optim.beta1 = rand_float(&s, 0, 1);
        c.optim.beta2 = rand_float(&s, 0, 1);
        c.optim.eps = (float)exp(-30 * rng_unif(&s));
        c.optim.clip_norm = rand_float(&s, 0, 10);
        c.optim.plateau_factor = rand_float(&s, 1e-6, 1);
        c.optim.plateau_patience = rng_int(&s, 0, 1000);
        c.optim.min_lr = rand_float(&s, 0, 1e-3);
        c.train.batch_size = rng_int(&s, 1, 65536);
        c.train.max_epochs = rng_int(&s, 1, 1 << 30);
        c.train.early_stop_patience = rng_int(&s, 0, 1000);
        c.train.seed = rng_next(&s);
        c.train.threads = rng_int(&s, 0, 4096);
        c.train.drop_last = rng_int(&s, 0, 1);
        strcpy(c.data.source, rng_int(&s, 0, 1) ? "synthetic" : "cinc17");
        c.data.dir[0] = '\0';
        int np = rng_int(&s, 0, 40);
        for (int i = 0; i < np; i++)
            strcat(c.data.dir, pieces[rng_int(&s, 0, npieces - 1)]);
        c.data.synth_records = rng_int(&s, 1, 10000000);
        c.data.synth_length = rng_int(&s, 1, 1 << 24);
        c.data.synth_min_length = rng_int(&s, 1, 1 << 24);
        c.data.synth_noise = rand_float(&s, 0, 10);
        c.data.dev_fraction = rand_float(&s, 1e-3, 1);
        c.data.sample_rate = rng_int(&s, 1, 100000);
        c.data.seed = rng_next(&s);
        c.data.protocol = (data_protocol)rng_int(&s, 0, 1);
        c.data.skip_bad = rng_int(&s, 0, 1);
        c.data.split = (split_kind)rng_int(&s, 0, 1);
        c.data.resample_length = rng_int(&s, 0, 100000);
        c.data.batching = (batching_kind)rng_int(&s, 0, 1);
        c.data.dev_fold = rng_int(&s, 0, 100000);
        c.data.labels[0] = c.data.manifest[0] = '\0';
        for (int i = 0, np2 = rng_int(&s, 0, 10); i < np2; i++)
            strcat(c.data.labels, pieces[rng_int(&s, 0, npieces - 1)]);
        for (int i = 0, np2 = rng_int(&s, 0, 40); i < np2; i++)
            strcat(c.data.manifest, pieces[rng_int(&s, 0, npieces - 1)]);
        check_round_trip(&c);
    }
}
END_TEST

/* ---- accepted forms ---- */

START_TEST(test_accepted_forms)
{
    resecg_config c;
    config_defaults(&c);
    /* empty files, comment-only files and empty sections change nothing */
    const char *empties[] = {"", "# only a comment\n", "---\n", "~\n", "model:\n", "model:\nloss: ~\n",
                             "{}\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        resecg_config d;
        config_defaults(&d);
        load_ok(&c, empties[i]);
        ck_assert_cfg_eq(&c, &d);
    }
    /* numbers: 1e-3, .5, 1 and a quoted "32" are all fine; bools in four spellings */
    load_ok(&c, "optim:\n  lr: .5\n  eps: 1e-3\n  clip_norm: 1\n  beta1: +0.5\n"
                "model:\n  filters: \"32\"\n  kernel: +9\n"
                "train:\n  drop_last: yes\n  seed: 0\n");
    ck_assert(c.optim.lr == 0.5f);
    ck_assert(c.optim.eps == 1e-3f);
    ck_assert(c.optim.clip_norm == 1.0f);
    ck_assert(c.optim.beta1 == 0.5f);
    ck_assert_int_eq(c.model.filters_start, 32);
    ck_assert_int_eq(c.model.kernel, 9);
    ck_assert_int_eq(c.train.drop_last, 1);
    ck_assert(c.train.seed == 0);
    load_ok(&c, "train: {drop_last: False}\n");
    ck_assert_int_eq(c.train.drop_last, 0);
    load_ok(&c, "train: {drop_last: TRUE}\n");
    ck_assert_int_eq(c.train.drop_last, 1);
    load_ok(&c, "train: {drop_last: no}\n");
    ck_assert_int_eq(c.train.drop_last, 0);
    /* block and flow lists; the list may come before model.classes */
    load_ok(&c, "loss:\n  kind: focal\n  alpha:\n    - 0.5\n    - 2\n    - 1\nmodel:\n  classes: 3\n");
    ck_assert_int_eq(c.loss.kind, LOSS_FOCAL);
    ck_assert_int_eq(c.model.num_classes, 3);
    ck_assert(c.loss.alpha[0] == 0.5f && c.loss.alpha[1] == 2.0f && c.loss.alpha[2] == 1.0f);
    ck_assert(c.loss.alpha[3] == 1.0f);
    load_ok(&c, "loss: {kind: weighted, class_weights: [1, 2, 3]}\n");
    ck_assert_int_eq(c.loss.balanced, 0);
    ck_assert(c.loss.class_weights[2] == 3.0f);
    /* anchors and aliases resolve to the anchored value */
    load_ok(&c, "model:\n  filters: &f 8\n  kernel: *f\n");
    ck_assert_int_eq(c.model.filters_start, 8);
    ck_assert_int_eq(c.model.kernel, 8);
    /* !!str spells the default tag of a scalar */
    load_ok(&c, "data:\n  dir: !!str 123\n  source: 'cinc17'\n");
    ck_assert_str_eq(c.data.dir, "123");
    ck_assert_str_eq(c.data.source, "cinc17");
    /* an empty string setting clears it */
    load_ok(&c, "data:\n  dir:\n");
    ck_assert_str_eq(c.data.dir, "");
    ck_assert_str_eq(c.source_path, "t.yaml");
}
END_TEST

/* ---- errors, with their positions ---- */

START_TEST(test_errors_types_and_ranges)
{
    expect_load_error("model:\n  filters: abc\n", "t.yaml:2:12: model.filters: expected an integer, got 'abc'");
    expect_load_error("model:\n  filters: 3.5\n", "t.yaml:2:12: model.filters: expected an integer, got '3.5'");
    expect_load_error("model:\n  filters: 1e2\n", "t.yaml:2:12: model.filters: expected an integer, got '1e2'");
    expect_load_error("model:\n  filters: 99999999999999999999\n",
                      "t.yaml:2:12: model.filters: 99999999999999999999 is out of range (must be in [1, 4096])");
    expect_load_error("model:\n  filters: 2147483648\n", "t.yaml:2:12: model.filters: 2147483648 is out of range");
    expect_load_error("model:\n  filters: 0\n", "t.yaml:2:12: model.filters: 0 is out of range (must be in [1, 4096])");
    expect_load_error("model:\n  filters:\n", "t.yaml:2:11: model.filters: expected an integer, got an empty value");
    expect_load_error("model:\n  filters: [1]\n", "t.yaml:2:12: model.filters: expected an integer, got a sequence");
    expect_load_error("model:\n  classes: 9\n", "t.yaml:2:12: model.classes: 9 is out of range (must be in [2, 8])");
    expect_load_error("model:\n  classes: 1\n", "model.classes: 1 is out of range (must be in [2, 8])");
    expect_load_error("model:\n  dropout: 1\n", "t.yaml:2:12: model.dropout: 1 is out of range (must be in [0, 1))");
    expect_load_error("model:\n  dropout: -0.1\n", "model.dropout: -0.1 is out of range (must be in [0, 1))");
    expect_load_error("optim:\n  lr: 0\n", "t.yaml:2:7: optim.lr: 0 is out of range (must be > 0)");
    expect_load_error("optim:\n  lr: -1e-3\n", "t.yaml:2:7: optim.lr: -1e-3 is out of range (must be > 0)");
    expect_load_error("optim:\n  eps: 1e-50\n", "optim.eps: 1e-50 is out of range (must be > 0)");
    expect_load_error("optim:\n  lr: 1e39\n", "t.yaml:2:7: optim.lr: 1e39 is out of range (too large for a float)");
    expect_load_error("optim:\n  lr: abc\n", "t.yaml:2:7: optim.lr: expected a number, got 'abc'");
    expect_load_error("optim:\n  lr: .inf\n", "optim.lr: expected a number, got '.inf'");
    expect_load_error("optim:\n  lr: nan\n", "optim.lr: expected a number, got 'nan'");
    expect_load_error("optim:\n  lr: 0x10\n", "optim.lr: expected a number, got '0x10'");
    expect_load_error("optim:\n  plateau_patience: -1\n", "optim.plateau_patience: -1 is out of range (must be >= 0)");
    expect_load_error("train:\n  drop_last: maybe\n", "t.yaml:2:14: train.drop_last: expected true or false, got 'maybe'");
    expect_load_error("train:\n  seed: -1\n", "t.yaml:2:9: train.seed: expected a non-negative integer, got '-1'");
    expect_load_error("train:\n  seed: 18446744073709551616\n",
                      "train.seed: 18446744073709551616 is out of range (must be < 2^64)");
    expect_load_error("loss:\n  kind: dice\n", "t.yaml:2:9: loss.kind: expected one of ce, weighted, focal, got 'dice'");
    expect_load_error("data:\n  source: mitdb\n", "t.yaml:2:11: data.source: expected one of synthetic, cinc17, got 'mitdb'");
    expect_load_error("data:\n  dir: {a: 1}\n", "t.yaml:2:8: data.dir: expected a string, got a mapping");
    expect_load_error("data:\n  dir: \"a\\0b\"\n", "t.yaml:2:8: data.dir: contains a NUL character");
    char longdir[1200 + 32];
    strcpy(longdir, "data:\n  dir: ");
    memset(longdir + strlen(longdir), 'x', 1100);
    longdir[13 + 1100] = '\0';
    expect_load_error(longdir, "t.yaml:2:8: data.dir: 'xxxxxxxx");
    expect_load_error(longdir, "is too long (at most 1023 bytes)");
}
END_TEST

START_TEST(test_errors_lists)
{
    expect_load_error("loss:\n  alpha: [1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
                      "t.yaml:2:10: loss.alpha: 9 values given, at most 8 allowed");
    expect_load_error("loss:\n  class_weights: [1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
                      "t.yaml:2:18: loss.class_weights: 9 values given, at most 8 allowed");
    expect_load_error("loss:\n  alpha: [1, 2, 3]\n", "t.yaml:2:10: loss.alpha: 3 values given but model.classes is 4");
    expect_load_error("model:\n  classes: 3\nloss:\n  class_weights:\n    - 1\n    - 2\n    - 3\n    - 4\n",
                      "t.yaml:5:5: loss.class_weights: 4 values given but model.classes is 3");
    expect_load_error("loss:\n  alpha: [1, x, 1, 1]\n", "t.yaml:2:14: loss.alpha[1]: expected a number, got 'x'");
    expect_load_error("loss:\n  alpha: [1, -2, 1, 1]\n", "t.yaml:2:14: loss.alpha[1]: -2 is out of range (must be >= 0)");
    expect_load_error("loss:\n  alpha: [1, [2], 1, 1]\n", "t.yaml:2:14: loss.alpha[1]: expected a number, got a sequence");
    expect_load_error("loss:\n  alpha: []\n", "t.yaml:2:10: loss.alpha: expected a list of numbers, got an empty list");
    expect_load_error("loss:\n  alpha: 1\n", "t.yaml:2:10: loss.alpha: expected a list of numbers, got '1'");
    expect_load_error("loss:\n  class_weights: equal\n",
                      "t.yaml:2:18: loss.class_weights: expected 'balanced', 'none' or a list of numbers, got 'equal'");
    expect_load_error("loss:\n  class_weights: {a: 1}\n", "loss.class_weights: expected a list of numbers, got a mapping");
}
END_TEST

START_TEST(test_errors_structure)
{
    expect_load_error("optim:\n  lrr: 0.1\n", "t.yaml:2:3: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
    expect_load_error("model:\n  filtres: 8\n", "t.yaml:2:3: unknown key 'model.filtres' (did you mean 'model.filters'?)");
    expect_load_error("model:\n  lr: 0.1\n", "t.yaml:2:3: unknown key 'model.lr' (did you mean 'optim.lr'?)");
    expect_load_error("model:\n  colour: blue\n", "t.yaml:2:3: unknown key 'model.colour'");
    expect_load_error("modle:\n  filters: 8\n", "t.yaml:1:1: unknown section 'modle' (did you mean 'model'?)");
    expect_load_error("model:\n  filters: 8\nextra: 1\n",
                      "t.yaml:3:1: unknown section 'extra' (sections: model, loss, optim, train, data, "
                      "features)");
    expect_load_error("model.filters: 8\n",
                      "t.yaml:1:1: unknown section 'model.filters' (write 'filters' inside the 'model:' section)");
    expect_load_error("model:\n  filters: 8\n  kernel: 3\n  filters: 9\n",
                      "t.yaml:4:3: duplicate key 'model.filters' (first at line 2)");
    expect_load_error("model:\n  filters: 8\nloss: {}\nmodel:\n  kernel: 3\n",
                      "t.yaml:4:1: duplicate section 'model' (first at line 1)");
    expect_load_error("model: 3\n", "t.yaml:1:8: section 'model' must be a mapping of keys, got '3'");
    expect_load_error("model:\n  - filters\n", "t.yaml:2:3: section 'model' must be a mapping of keys, got a sequence");
    expect_load_error("- 1\n- 2\n",
                      "t.yaml:1:1: expected a mapping of sections (model, loss, optim, train, data, "
                      "features), got a sequence");
    expect_load_error("hello\n", "t.yaml:1:1: expected a mapping of sections (model, loss, optim, train, "
                                 "data, features), got 'hello'");
    expect_load_error("model:\n  ? [a]\n  : 1\n", "t.yaml:2:5: expected a key name, got a sequence");
    expect_load_error("model:\n  filters: !!int 3\n", "t.yaml:2:12: model.filters: YAML tags are not supported (got '!!int')");
    expect_load_error("model: !custom\n  filters: 3\n", "t.yaml:1:8: model: YAML tags are not supported (got '!custom')");
    expect_load_error("model:\n  filters: 8\n---\nmodel:\n  filters: 9\n",
                      "t.yaml:3:1: expected one YAML document, found a second one");
}
END_TEST

START_TEST(test_errors_malformed)
{
    expect_load_error("model:\n  filters: [1, 2\n",
                      "t.yaml:3:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 12)");
    expect_load_error("model:\n  filters: 8\n kernel: 3\n",
                      "t.yaml:3:2: invalid YAML: did not find expected key (while parsing a block mapping at line 1, column 1)");
    expect_load_error("model:\n  filters: 8\n  kernel: 3: 4\n", "t.yaml:3:12: invalid YAML: mapping values are not allowed in this context");
    expect_load_error("model:\n  filters: *nope\n", "t.yaml:2:12: invalid YAML: found undefined alias");
    expect_load_error("model:\n  filters: \"8\n", "t.yaml:");
    expect_load_error("model:\n  filters: \x01\n", "t.yaml:2:12: invalid YAML: control characters are not allowed (#x1)");
    expect_load_error("model:\n  filters: \xff\n", "t.yaml:2:12: invalid YAML: invalid leading UTF-8 octet (#xFF)");
    expect_load_error("model:\n\tfilters: 8\n", "t.yaml:2:1: invalid YAML: found character that cannot start any token");
}
END_TEST

START_TEST(test_errors_files)
{
    char path[4096];
    write_temp(path, sizeof path, "# comment\nmodel:\n  filters: 8\n  kernel: abc\n");
    resecg_config c;
    config_defaults(&c);
    rerr e = {{0}};
    ck_assert_int_eq(config_load_file(&c, path, &e), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s:4:11: model.kernel: expected an integer, got 'abc'", path);
    ck_assert_str_eq(e.msg, want);
    ck_assert_int_eq(c.model.filters_start, 32); /* a failed load changes nothing */
    unlink(path);

    write_temp(path, sizeof path, "optim:\n  lr: [1, 2\n");
    ck_assert_int_eq(config_load_file(&c, path, &e), -1);
    snprintf(want, sizeof want, "%s:3:1: invalid YAML:", path);
    ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "got \"%s\"", e.msg);
    unlink(path);

    /* a NUL byte inside a file is seen, not taken as the end of the text */
    write_temp(path, sizeof path, "model:\n  filters: 8\n");
    FILE *fp = fopen(path, "ab");
    ck_assert_ptr_nonnull(fp);
    fwrite("x\0y: 1\n", 1, 7, fp);
    fclose(fp);
    ck_assert_int_eq(config_load_file(&c, path, &e), -1);
    snprintf(want, sizeof want, "%s:3:2: invalid YAML: control characters are not allowed (#x0)", path);
    ck_assert_str_eq(e.msg, want);
    unlink(path);

    ck_assert_int_eq(config_load_file(&c, "/nonexistent/dir/x.yaml", &e), -1);
    ck_assert_msg(strstr(e.msg, "/nonexistent/dir/x.yaml: cannot open") != NULL, "got \"%s\"", e.msg);
}
END_TEST

/* ---- --set ---- */

START_TEST(test_set)
{
    resecg_config c;
    config_defaults(&c);
    set_ok(&c, "optim.lr=0.01");
    ck_assert(c.optim.lr == 0.01f);
    set_ok(&c, "model.filters = 64");
    ck_assert_int_eq(c.model.filters_start, 64);
    set_ok(&c, "loss.kind=focal");
    ck_assert_int_eq(c.loss.kind, LOSS_FOCAL);
    set_ok(&c, "loss.alpha=[1,2,1,1]");
    ck_assert(c.loss.alpha[1] == 2.0f && c.loss.alpha[3] == 1.0f);
    set_ok(&c, "loss.class_weights=[0.5, 1, 2, 4]");
    ck_assert_int_eq(c.loss.balanced, 0);
    ck_assert(c.loss.class_weights[3] == 4.0f);
    set_ok(&c, "loss.class_weights=balanced");
    ck_assert_int_eq(c.loss.balanced, 1);
    ck_assert(c.loss.class_weights[3] == 1.0f);
    set_ok(&c, "loss.class_weights=none");
    ck_assert_int_eq(c.loss.balanced, 0);
    set_ok(&c, "train.drop_last=true");
    ck_assert_int_eq(c.train.drop_last, 1);
    set_ok(&c, "train.seed=123456789012");
    ck_assert(c.train.seed == 123456789012ULL);
    set_ok(&c, "data.dir=/data/cinc 2017/training2017");
    ck_assert_str_eq(c.data.dir, "/data/cinc 2017/training2017");
    set_ok(&c, "data.dir='/a: b'");
    ck_assert_str_eq(c.data.dir, "/a: b");
    set_ok(&c, "data.dir=");
    ck_assert_str_eq(c.data.dir, "");
    set_ok(&c, "data.source=cinc17");
    ck_assert_str_eq(c.data.source, "cinc17");
    /* classes first, then a list of that length */
    set_ok(&c, "model.classes=3");
    set_ok(&c, "loss.alpha=[1, 2, 3]");
    ck_assert(c.loss.alpha[2] == 3.0f && c.loss.alpha[3] == 1.0f);

    expect_set_error("optim.lr=abc", "--set optim.lr=abc: expected a number, got 'abc'");
    expect_set_error("optim.lr=", "--set optim.lr=: expected a number, got an empty value");
    expect_set_error("optim.lr", "--set optim.lr: expected KEY=VALUE (e.g. optim.lr=0.01)");
    expect_set_error("=3", "--set =3: expected KEY=VALUE (e.g. optim.lr=0.01)");
    expect_set_error("optim.lrr=1", "--set optim.lrr=1: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
    expect_set_error("model=3", "--set model=3: unknown key 'model'");
    expect_set_error("model.filters=0", "--set model.filters=0: 0 is out of range (must be in [1, 4096])");
    expect_set_error("model.filters=2.5", "--set model.filters=2.5: expected an integer, got '2.5'");
    expect_set_error("loss.kind=dice", "--set loss.kind=dice: expected one of ce, weighted, focal, got 'dice'");
    expect_set_error("loss.alpha=[1,2", "--set loss.alpha=[1,2: invalid YAML value: did not find expected ',' or ']' "
                                        "(while parsing a flow sequence at line 1, column 1)");
    expect_set_error("loss.alpha=[1,x,1,1]", "--set loss.alpha=[1,x,1,1]: loss.alpha[1]: expected a number, got 'x'");
    expect_set_error("loss.alpha=[1,2]",
                     "--set loss.alpha=[1,2]: 2 values given but model.classes is 4 (set model.classes first)");
    expect_set_error("loss.alpha=[1,1,1,1,1,1,1,1,1]",
                     "--set loss.alpha=[1,1,1,1,1,1,1,1,1]: 9 values given, at most 8 allowed");
    expect_set_error("train.drop_last=maybe", "--set train.drop_last=maybe: expected true or false, got 'maybe'");
    expect_set_error("model.filters=!!int 3", "--set model.filters=!!int 3: YAML tags are not supported (got '!!int')");
    expect_set_error("model.filters=3\n---\n4", "--set model.filters=3\n---\n4: expected one value");
}
END_TEST

/* ---- config_apply and config_foreach: the API the sweep code uses ---- */

static void expect_apply_error(const char *key, const char *text, config_error_kind kind,
                               const char *field, const char *msg)
{
    resecg_config c, before;
    config_defaults(&c);
    before = c;
    config_error err;
    ck_assert_int_eq(config_apply(&c, key, text, &err), -1);
    ck_assert_msg(err.kind == kind, "%s=%s: kind %d, want %d (%s)", key, text, err.kind, kind,
                  err.msg);
    ck_assert_str_eq(err.field, field);
    ck_assert_str_eq(err.msg, msg);
    ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "%s=%s: a failed apply changed the config",
                  key, text);
}

START_TEST(test_apply_errors_are_values)
{
    resecg_config c;
    config_defaults(&c);
    config_error err;
    ck_assert_int_eq(config_apply(&c, "optim.lr", "0.01", &err), 0);
    ck_assert(c.optim.lr == 0.01f);
    ck_assert_int_eq(config_apply(&c, "loss.alpha", "[1, 2, 1, 1]", &err), 0);
    ck_assert(c.loss.alpha[1] == 2.0f);
    /* the message names neither the key nor "--set": the caller places it */
    expect_apply_error("optim.lrr", "1", CONFIG_ERR_UNKNOWN_KEY, "",
                       "unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
    expect_apply_error("optim.lr", "abc", CONFIG_ERR_VALUE, "", "expected a number, got 'abc'");
    expect_apply_error("model.filters", "0", CONFIG_ERR_VALUE, "",
                       "0 is out of range (must be in [1, 4096])");
    expect_apply_error("loss.alpha", "[1,x,1,1]", CONFIG_ERR_VALUE, "loss.alpha[1]",
                       "expected a number, got 'x'");
    expect_apply_error("loss.alpha", "[1,2]", CONFIG_ERR_LIST_LENGTH, "",
                       "2 values given but model.classes is 4 (set model.classes first)");
    expect_apply_error("loss.alpha", "[1,2", CONFIG_ERR_YAML, "",
                       "invalid YAML value: did not find expected ',' or ']' (while parsing a flow "
                       "sequence at line 1, column 1)");
    expect_apply_error("model.filters", "3\n---\n4", CONFIG_ERR_YAML, "", "expected one value");
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    expect_apply_error("data.dir", deep, CONFIG_ERR_YAML, "", "nested more than 64 levels deep");
}
END_TEST

typedef struct visit_log {
    int n;
    char key[RESECG_CONFIG_MAX_KEYS][64];
    char val[RESECG_CONFIG_MAX_KEYS][1200];
    int stop_at; /* return 7 at this call (0-based), -1: never */
} visit_log;

static int visit(const char *key, const char *value, void *data)
{
    visit_log *v = data;
    ck_assert_int_lt(v->n, RESECG_CONFIG_MAX_KEYS);
    snprintf(v->key[v->n], sizeof v->key[0], "%s", key);
    snprintf(v->val[v->n], sizeof v->val[0], "%s", value);
    return v->n++ == v->stop_at ? 7 : 0;
}

/* The writer's line for a key, "  name: value   # help", as value text: the
 * value between ": " and the help comment's " # " (the last one). */
static int written_value(const char *text, const char *key, char *out, size_t n)
{
    const char *dot = strchr(key, '.');
    char section[64], want[80];
    snprintf(section, sizeof section, "\n%.*s:\n", (int)(dot - key), key);
    const char *at = strstr(text, section);
    if (!at)
        return -1;
    snprintf(want, sizeof want, "\n  %s: ", dot + 1);
    at = strstr(at, want);
    if (!at)
        return -1;
    at += strlen(want);
    const char *end = strchr(at, '\n'), *hash = NULL;
    for (const char *h = strstr(at, " # "); h && h < end; h = strstr(h + 1, " # "))
        hash = h;
    if (!hash)
        return -1;
    while (hash > at && hash[-1] == ' ')
        hash--;
    snprintf(out, n, "%.*s", (int)(hash - at), at);
    return 0;
}

START_TEST(test_foreach_is_the_written_values)
{
    resecg_config c;
    config_defaults(&c);
    set_ok(&c, "optim.lr=0.003");
    set_ok(&c, "loss.alpha=[1, 0.25, 1, 2]");
    set_ok(&c, "data.dir='/d # not a comment/x'"); /* quoted: ' #' would start a comment */
    set_ok(&c, "train.seed=18446744073709551615");
    visit_log *v = calloc(1, sizeof *v);
    v->stop_at = -1;
    ck_assert_int_eq(config_foreach(&c, visit, v), 0);
    ck_assert_int_gt(v->n, 50);
    char *text = config_to_string(&c);
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < v->n; i++) {
        char w[1200];
        ck_assert_msg(written_value(text, v->key[i], w, sizeof w) == 0, "%s: not written",
                      v->key[i]);
        ck_assert_msg(strcmp(w, v->val[i]) == 0, "%s: foreach '%s', written '%s'", v->key[i],
                      v->val[i], w);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(v->key[i], v->key[j]);
    }
    free(text);
    /* spot values, independent of the writer */
    int seen = 0;
    for (int i = 0; i < v->n; i++) {
        if (strcmp(v->key[i], "optim.lr") == 0)
            seen += strcmp(v->val[i], "0.003") == 0;
        if (strcmp(v->key[i], "loss.alpha") == 0)
            seen += strcmp(v->val[i], "[1, 0.25, 1, 2]") == 0;
        if (strcmp(v->key[i], "data.dir") == 0)
            seen += strcmp(v->val[i], "\"/d # not a comment/x\"") == 0;
        if (strcmp(v->key[i], "train.seed") == 0)
            seen += strcmp(v->val[i], "18446744073709551615") == 0;
    }
    ck_assert_int_eq(seen, 4);
    /* fn's nonzero return stops the walk and is returned */
    int all = v->n;
    memset(v, 0, sizeof *v);
    v->stop_at = 2;
    ck_assert_int_eq(config_foreach(&c, visit, v), 7);
    ck_assert_int_eq(v->n, 3);
    ck_assert_int_lt(v->n, all);
    free(v);
}
END_TEST

/* ---- protocol presets ---- */

START_TEST(test_protocol_presets)
{
    resecg_config c, d;
    config_defaults(&c);
    ck_assert_str_eq(config_protocol_name(PROTOCOL_HANNUN), "hannun");
    ck_assert_str_eq(config_protocol_name(PROTOCOL_PYTORCH_REF), "pytorch-ref");
    ck_assert_str_eq(config_protocol_name((data_protocol)9), "?");
    ck_assert_str_eq(config_split_name(SPLIT_STRATIFIED), "stratified");
    ck_assert_str_eq(config_batching_name(BATCH_RANDOM), "random");

    /* the preset of each protocol */
    set_ok(&c, "data.protocol=pytorch-ref");
    ck_assert_int_eq(c.data.protocol, PROTOCOL_PYTORCH_REF);
    ck_assert(c.data.dev_fraction == 0.2f);
    ck_assert_int_eq(c.data.split, SPLIT_SHUFFLE);
    ck_assert_int_eq(c.data.resample_length, 8960);
    ck_assert_int_eq(c.data.batching, BATCH_RANDOM);
    ck_assert_int_eq(c.train.drop_last, 0); /* not a preset */
    rerr e = {{0}};
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
    set_ok(&c, "data.protocol=hannun");
    config_defaults(&d);
    ck_assert_cfg_eq(&c, &d);

    /* an explicit key wins whether it comes before or after the protocol,
     * in a file or through --set */
    const char *orders[] = {"data:\n  dev_fraction: 0.3\n  protocol: pytorch-ref\n",
                            "data:\n  protocol: pytorch-ref\n  dev_fraction: 0.3\n"};
    for (int i = 0; i < 2; i++) {
        config_defaults(&c);
        load_ok(&c, orders[i]);
        ck_assert(c.data.dev_fraction == 0.3f);
        ck_assert_int_eq(c.data.resample_length, 8960);
        ck_assert_int_eq(c.data.batching, BATCH_RANDOM);
    }
    config_defaults(&c);
    load_ok(&c, "data:\n  batching: by_length\ntrain:\n  drop_last: true\n");
    set_ok(&c, "data.protocol=pytorch-ref");
    ck_assert_int_eq(c.data.batching, BATCH_BY_LENGTH);
    ck_assert_int_eq(c.train.drop_last, 1);
    ck_assert(c.data.dev_fraction == 0.2f);
    set_ok(&c, "data.protocol=hannun");
    ck_assert_int_eq(c.train.drop_last, 1); /* not a preset: stays as given */
    ck_assert(c.data.dev_fraction == 0.1f);
    set_ok(&c, "data.resample_length=0");
    set_ok(&c, "data.protocol=pytorch-ref");
    ck_assert_int_eq(c.data.resample_length, 0);
    /* the written config lists every key and reads back the same */
    check_round_trip(&c);
    /* a failed load marks nothing */
    config_defaults(&c);
    rerr fe = {{0}};
    ck_assert_int_eq(config_load_string(&c, "data:\n  dev_fraction: 0.3\n  protocol: nope\n", "t.yaml",
                                        &fe), -1);
    set_ok(&c, "data.protocol=pytorch-ref");
    ck_assert(c.data.dev_fraction == 0.2f);
    /* config_set_protocol from code */
    config_defaults(&c);
    config_set_protocol(&c, PROTOCOL_PYTORCH_REF);
    ck_assert_int_eq(c.data.resample_length, 8960);
    /* config_frame: 2^(blocks / subsample_every) */
    ck_assert_int_eq(config_frame(&c.model), 256);
    c.model.num_blocks = 8;
    ck_assert_int_eq(config_frame(&c.model), 16);
    /* config_decimal: the double Python would hold */
    ck_assert(config_decimal(0.1f) == 0.1);
    ck_assert(config_decimal(0.2f) == 0.2);
    ck_assert(config_decimal(0.35f) == 0.35);

    expect_load_error("data:\n  protocol: awni\n",
                      "t.yaml:2:13: data.protocol: expected one of hannun, pytorch-ref, got 'awni'");
    expect_load_error("data:\n  split: random\n",
                      "t.yaml:2:10: data.split: expected one of shuffle, stratified, got 'random'");
    expect_load_error("data:\n  batching: sorted\n",
                      "t.yaml:2:13: data.batching: expected one of by_length, random, got 'sorted'");
    expect_load_error("data:\n  resample_length: -1\n",
                      "t.yaml:2:20: data.resample_length: -1 is out of range (must be in [0, 100000])");
    expect_load_error("data:\n  skip_bad: sometimes\n",
                      "t.yaml:2:13: data.skip_bad: expected true or false, got 'sometimes'");
    expect_load_error("data:\n  dev_fold: -2\n",
                      "t.yaml:2:13: data.dev_fold: -2 is out of range (must be in [0, 100000])");
    expect_load_error("data:\n  manifest: [a]\n",
                      "t.yaml:2:13: data.manifest: expected a string, got a sequence");
    expect_load_error("data:\n  protokol: hannun\n",
                      "t.yaml:2:3: unknown key 'data.protokol' (did you mean 'data.protocol'?)");
    expect_set_error("data.protocol=keras",
                     "--set data.protocol=keras: expected one of hannun, pytorch-ref, got 'keras'");
}
END_TEST

/* ---- config_validate ---- */

static void expect_invalid(const char *const *sets, int nsets, const char *want)
{
    resecg_config c;
    config_defaults(&c);
    for (int i = 0; i < nsets; i++)
        set_ok(&c, sets[i]);
    rerr e = {{0}};
    ck_assert_msg(config_validate(&c, &e) == -1, "expected invalid: %s", want);
    ck_assert_msg(strstr(e.msg, want) != NULL, "got \"%s\"\nwant \"%s\"", e.msg, want);
}

START_TEST(test_validate)
{
    const char *a[] = {"data.synth_min_length=3000"};
    expect_invalid(a, 1, "data.synth_min_length 3000 is longer than data.synth_length 2560");
    const char *b[] = {"loss.alpha=[1, 2, 3, 4]", "model.classes=3"};
    expect_invalid(b, 2, "loss.alpha: has a value (4) for class 3 but model.classes is 3");
    const char *cw[] = {"loss.class_weights=[1, 2, 3, 4]", "model.classes=3"};
    expect_invalid(cw, 2, "loss.class_weights: has a value (4) for class 3 but model.classes is 3");
    const char *d[] = {"data.source=cinc17"};
    expect_invalid(d, 1, "data.dir must name the records directory when data.source is cinc17");
    const char *e1[] = {"optim.min_lr=0.01"};
    expect_invalid(e1, 1, "optim.min_lr 0.01 is above optim.lr 0.001");
    const char *f[] = {"data.synth_min_length=200"};
    expect_invalid(f, 1, "data.synth_min_length 200 is shorter than one output frame (256 samples");
    const char *g[] = {"loss.kind=weighted", "loss.class_weights=[0, 0, 0, 0]"};
    expect_invalid(g, 2, "loss.class_weights: every weight is 0");
    const char *h[] = {"model.blocks=64", "model.subsample_every=1"};
    expect_invalid(h, 2, "halves the length 64 times");
    const char *i[] = {"model.filters=4096", "model.increase_channels_at=1", "model.blocks=20",
                       "model.subsample_every=4"};
    expect_invalid(i, 4, "exceeds 65536 channels");
    const char *j[] = {"model.classes=3"};
    expect_invalid(j, 1, "model.classes is 3 but data.source synthetic has 4 classes");
    const char *rl[] = {"data.resample_length=9000"};
    expect_invalid(rl, 1, "data.resample_length 9000 is not a multiple of the network's frame (256 samples");
    const char *lb[] = {"data.source=cinc17", "data.dir=/d", "data.labels="};
    expect_invalid(lb, 3, "data.labels must name the label file");

    /* a struct built in code is range-checked from the same table */
    resecg_config c;
    config_defaults(&c);
    rerr e = {{0}};
    c.model.dropout = 1.5f;
    ck_assert_int_eq(config_validate(&c, &e), -1);
    ck_assert_str_eq(e.msg, "model.dropout: 1.5 is out of range (must be in [0, 1))");
    config_defaults(&c);
    c.optim.lr = NAN;
    ck_assert_int_eq(config_validate(&c, &e), -1);
    ck_assert_msg(strstr(e.msg, "optim.lr: nan is out of range") != NULL, "got \"%s\"", e.msg);
    config_defaults(&c);
    c.loss.kind = (loss_kind)7;
    ck_assert_int_eq(config_validate(&c, &e), -1);
    ck_assert_str_eq(e.msg, "loss.kind: invalid value 7");
    ck_assert_str_eq(config_loss_name((loss_kind)7), "?");

    /* the things that are fine */
    const char *ok[] = {"model.classes=4", "loss.kind=weighted", "loss.class_weights=[1, 2, 0, 4]",
                        "data.source=cinc17", "data.dir=/data", "model.blocks=34"};
    config_defaults(&c);
    for (int k = 0; k < 6; k++)
        set_ok(&c, ok[k]);
    ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
}
END_TEST

/* ---- mutated inputs ---- */

START_TEST(test_fuzz)
{
    uint64_t s = test_seed();
    resecg_config d;
    config_defaults(&d);
    char path[4096];
    source_path(path, sizeof path, "cfgs/ResECG.yaml");
    char *file_text = NULL;
    size_t file_len = 0;
    rerr e = {{0}};
    ck_assert_msg(util_read_file(path, &file_text, &file_len, &e) == 0, "%s", e.msg);
    resecg_config busy = d;
    set_ok(&busy, "loss.class_weights=[1, 2.5, 0.125, 4]");
    set_ok(&busy, "data.dir=/x y/\"q\"");
    char *written = config_to_string(&busy);
    ck_assert_ptr_nonnull(written);
    const char *bases[2] = {file_text, written};
    static const char special[] = "[]{}:,-#&*!|>'\"%@`?~\n\t \\.0123456789e";

    int loaded = 0, failed = 0;
    enum { ITERS = 4000 };
    for (int iter = 0; iter < ITERS; iter++) {
        const char *base = bases[iter & 1];
        size_t len = strlen(base);
        char *buf = malloc(len * 2 + 64);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, base, len + 1);
        int nmut = rng_int(&s, 1, 4);
        for (int m = 0; m < nmut; m++) {
            size_t cur = strlen(buf);
            size_t pos = cur ? (size_t)(rng_next(&s) % cur) : 0;
            switch (rng_int(&s, 0, 5)) {
            case 0: /* flip a byte to anything but NUL */
                if (cur)
                    buf[pos] = (char)rng_int(&s, 1, 255);
                break;
            case 1: /* flip one bit */
                if (cur) {
                    buf[pos] = (char)(buf[pos] ^ (1 << rng_int(&s, 0, 7)));
                    if (buf[pos] == '\0')
                        buf[pos] = ' ';
                }
                break;
            case 2: /* truncate */
                buf[pos] = '\0';
                break;
            case 3: /* insert a YAML-significant character */
                if (cur + 1 < len * 2 + 63) {
                    memmove(buf + pos + 1, buf + pos, cur - pos + 1);
                    buf[pos] = special[rng_int(&s, 0, (int)sizeof special - 2)];
                }
                break;
            case 4: /* delete a run */
                if (cur) {
                    size_t n = (size_t)rng_int(&s, 1, 8);
                    if (pos + n > cur)
                        n = cur - pos;
                    memmove(buf + pos, buf + pos + n, cur - pos - n + 1);
                }
                break;
            default: /* swap two bytes */
                if (cur) {
                    size_t q = (size_t)(rng_next(&s) % cur);
                    char t = buf[pos];
                    buf[pos] = buf[q];
                    buf[q] = t;
                }
                break;
            }
        }
        resecg_config c = d;
        rerr fe;
        fe.msg[0] = '\0';
        if (config_load_string(&c, buf, "fuzz.yaml", &fe) == 0) {
            loaded++;
            (void)config_validate(&c, &fe);
            check_round_trip(&c);
        } else {
            failed++;
            ck_assert_msg(fe.msg[0] != '\0', "load failed without a message on:\n%s", buf);
            ck_assert_msg(strncmp(fe.msg, "fuzz.yaml:", 10) == 0, "message without position: %s", fe.msg);
            ck_assert_cfg_eq(&c, &d);
        }
        /* the same text as a --set value must not crash either */
        char assign[256];
        snprintf(assign, sizeof assign, "loss.alpha=%.200s", buf + (len ? rng_next(&s) % (strlen(buf) + 1) : 0));
        resecg_config c2 = d;
        fe.msg[0] = '\0';
        if (config_set(&c2, assign, &fe) != 0)
            ck_assert_msg(fe.msg[0] != '\0', "--set failed without a message");
        free(buf);
    }
    printf("test_config: fuzz: %d mutated configs loaded, %d rejected with a message\n", loaded, failed);
    ck_assert_int_gt(failed, ITERS / 10);
    free(written);
    free(file_text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("defaults");
    tcase_add_test(t, test_defaults);
    tcase_add_test(t, test_resecg_yaml_is_defaults);
    tcase_add_test(t, test_small_yaml);
    suite_add_tcase(s, t);
    t = tcase_create("round_trip");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_round_trip_fixed);
    tcase_add_test(t, test_round_trip_random);
    suite_add_tcase(s, t);
    t = tcase_create("parse");
    tcase_add_test(t, test_accepted_forms);
    tcase_add_test(t, test_errors_types_and_ranges);
    tcase_add_test(t, test_errors_lists);
    tcase_add_test(t, test_errors_structure);
    tcase_add_test(t, test_errors_malformed);
    tcase_add_test(t, test_errors_files);
    suite_add_tcase(s, t);
    t = tcase_create("set_validate");
    tcase_add_test(t, test_set);
    tcase_add_test(t, test_apply_errors_are_values);
    tcase_add_test(t, test_foreach_is_the_written_values);
    tcase_add_test(t, test_validate);
    tcase_add_test(t, test_protocol_presets);
    suite_add_tcase(s, t);
    t = tcase_create("fuzz");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_fuzz);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

/* Checks sweep files (runner/sweep.c): expansion counts and contents of the
 * shipped sweeps and of grids with variants, seeds, include and exclude;
 * that a job's id is a function of its resolved config alone (same config
 * -> same id across files and spellings, any change -> another id, fast
 * summed ids equal ids hashed from the full text); every malformed-file
 * error with its exact file:line:column; thousands of random mutations of a
 * valid file, which must each load or fail with a message, never crash;
 * and the speed of a 100,000-job expansion. */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "sweep.h"
#include "testutil.h"

/* ---- helpers ---- */

/* Loads text as "s.yaml" in the source tree (so config: cfgs/small.yaml
 * resolves) and expands it; 0 or -1 with e filled. */
static int load_expand(const char *text, sweep *sw, sweep_plan *p, rerr *e)
{
    if (sweep_load_string(sw, text, strlen(text), "s.yaml", testutil_source_dir(), e))
        return -1;
    if (sweep_expand(sw, p, e)) {
        sweep_free(sw);
        return -1;
    }
    return 0;
}

static void expand_ok(const char *text, sweep *sw, sweep_plan *p)
{
    rerr e = {{0}};
    int rc = load_expand(text, sw, p, &e);
    ck_assert_msg(rc == 0, "expansion failed: %s\n--- input:\n%s", e.msg, text);
}

static void done(sweep *sw, sweep_plan *p)
{
    sweep_plan_free(p);
    sweep_free(sw);
}

/* The message must contain want (which starts with s.yaml:LINE:COL). */
static void expect_error(const char *text, const char *want)
{
    sweep sw;
    sweep_plan p;
    rerr e = {{0}};
    int rc = load_expand(text, &sw, &p, &e);
    if (rc == 0)
        done(&sw, &p);
    ck_assert_msg(rc == -1, "expected an error containing \"%s\" for:\n%s", want, text);
    ck_assert_msg(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\"\n--- input:\n%s", e.msg,
                  want, text);
}

/* Every job's config rebuilt from scratch hashes to its id, and ids are unique. */
static void check_ids(const sweep_plan *p)
{
    for (size_t i = 0; i < p->njobs; i++) {
        resecg_config c;
        rerr e = {{0}};
        ck_assert_msg(sweep_job_config(p, &p->jobs[i], &c, &e) == 0, "job %zu: %s", i, e.msg);
        uint64_t id = sweep_config_id(&c);
        ck_assert_msg(id == p->jobs[i].id, "job %zu: id %016" PRIx64 " but its config hashes to %016" PRIx64
                      " (fast ids %d)", i, p->jobs[i].id, id, p->fast_ids);
        ck_assert_uint_eq(c.train.seed, p->jobs[i].seed);
        for (size_t k = 0; k < i; k++)
            ck_assert_msg((p->jobs[k].id >> 16) != (p->jobs[i].id >> 16), "jobs %zu and %zu share an id",
                          k, i);
    }
}

static void job_cfg(const sweep_plan *p, size_t i, resecg_config *c)
{
    rerr e = {{0}};
    ck_assert_msg(sweep_job_config(p, &p->jobs[i], c, &e) == 0, "%s", e.msg);
}

/* ---- the shipped sweeps ---- */

START_TEST(test_demo)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sweeps/demo.yaml", testutil_source_dir());
    sweep sw;
    sweep_plan p;
    rerr e = {{0}};
    ck_assert_msg(sweep_load(&sw, path, &e) == 0, "%s", e.msg);
    ck_assert_msg(sweep_expand(&sw, &p, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(sw.name, "demo");
    ck_assert_int_eq((int)p.njobs, 12);
    ck_assert_int_eq(p.fast_ids, 1);
    /* seed-major: features, plain, weighted, focal of seed 1, then of seeds 2 and 3 */
    const char *names[4] = {"features", "plain", "weighted", "focal"};
    const loss_kind kinds[4] = {LOSS_CE, LOSS_CE, LOSS_WEIGHTED, LOSS_FOCAL};
    const model_type types[4] = {MODEL_FEATURES, MODEL_RESECG, MODEL_RESECG, MODEL_RESECG};
    /* the sweep's `set` must override the base config's learning rate and BN momentum */
    resecg_config base;
    config_defaults(&base);
    snprintf(path, sizeof path, "%s/cfgs/small.yaml", testutil_source_dir());
    ck_assert_msg(config_load_file(&base, path, &e) == 0, "%s", e.msg);
    for (size_t i = 0; i < 12; i++) {
        resecg_config c;
        job_cfg(&p, i, &c);
        ck_assert_str_eq(sweep_job_variant(&p, &p.jobs[i]), names[i % 4]);
        ck_assert_int_eq(c.loss.kind, kinds[i % 4]);
        ck_assert_int_eq(c.model.type, types[i % 4]);
        ck_assert_uint_eq(c.train.seed, i / 4 + 1);
        /* from the sweep's set, over cfgs/small.yaml's values */
        ck_assert_float_eq(c.optim.lr, 0.003f);
        ck_assert_float_ne(base.optim.lr, 0.003f);
        ck_assert_float_eq(c.model.bn_momentum, 0.9f);
        ck_assert_float_ne(base.model.bn_momentum, 0.9f);
        ck_assert_int_eq(c.model.filters_start, 16); /* from cfgs/small.yaml */
        ck_assert_str_eq(c.data.source, "synthetic");
    }
    check_ids(&p);
    done(&sw, &p);
}
END_TEST

START_TEST(test_shipped_sweeps)
{
    const char *files[] = {"table1.yaml", "lr_gamma.yaml"};
    const int want[] = {20, 36};
    for (int f = 0; f < 2; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/sweeps/%s", testutil_source_dir(), files[f]);
        sweep sw;
        sweep_plan p;
        rerr e = {{0}};
        ck_assert_msg(sweep_load(&sw, path, &e) == 0, "%s", e.msg);
        ck_assert_msg(sweep_expand(&sw, &p, &e) == 0, "%s: %s", files[f], e.msg);
        ck_assert_msg((int)p.njobs == want[f], "%s: %zu jobs, want %d", files[f], p.njobs, want[f]);
        check_ids(&p);
        if (f == 0) {
            resecg_config c;
            job_cfg(&p, 0, &c);
            ck_assert_str_eq(c.data.source, "cinc17");
            ck_assert_msg(strstr(c.data.dir, "experiments/cinc17/data/training2017") != NULL, "%s",
                          c.data.dir);
            ck_assert_int_eq(c.model.filters_start, 32);
            ck_assert_int_eq(sw.gpu_memory, 6000);
            /* Table 1's first row is the feature-based model, then the network */
            ck_assert_int_eq(c.model.type, MODEL_FEATURES);
            job_cfg(&p, 1, &c);
            ck_assert_int_eq(c.model.type, MODEL_RESECG);
        }
        done(&sw, &p);
    }
}
END_TEST

/* Found by fuzz_sweep: a dotted key whose value is a mapping, after another
 * axis, wrote past the grid's axes (px_grid counted it as 0 axes); the ASan
 * build of this test caught it. */
START_TEST(test_grid_dotted_mapping)
{
    expect_error("name: s\ngrid:\n  oWm.pr: [10, 0]\n  lm.pr:ol:    {}\n", "expected a list");
    expect_error("name: s\ngrid:\n  optim.lr: {}\n", "expected a list");
    expect_error("name: s\ngrid:\n  a.b: {}\n  c.d: {}\n  e.f: {x: 1}\n", "expected a list");
}
END_TEST

/* ---- expansion ---- */

START_TEST(test_grid_contents)
{
    const char *text = "name: g\n"
                       "config: cfgs/small.yaml\n"
                       "set: {train.max_epochs: 3, optim: {min_lr: 1e-7}}\n"
                       "variants:\n"
                       "  ce: {loss.kind: ce}\n"
                       "  focal: {loss: {kind: focal}}\n"
                       "grid:\n"
                       "  optim.lr: [0.0003, 0.001, 0.003]\n"
                       "  loss.gamma: [0, 1, 2, 5]\n"
                       "seeds: [7, 11, 13]\n";
    sweep sw;
    sweep_plan p;
    expand_ok(text, &sw, &p);
    ck_assert_int_eq((int)p.njobs, 2 * 12 * 3);
    ck_assert_int_eq(p.fast_ids, 1);
    const float lrs[3] = {0.0003f, 0.001f, 0.003f};
    const float gammas[4] = {0, 1, 2, 5};
    const uint64_t seeds[3] = {7, 11, 13};
    int seen[2][3][4][3] = {{{{0}}}};
    for (size_t i = 0; i < p.njobs; i++) {
        resecg_config c;
        job_cfg(&p, i, &c);
        ck_assert_int_eq(c.train.max_epochs, 3);
        ck_assert(c.optim.min_lr == 1e-7f);
        int v = c.loss.kind == LOSS_FOCAL, a = -1, b = -1, s = -1;
        ck_assert_str_eq(sweep_job_variant(&p, &p.jobs[i]), v ? "focal" : "ce");
        for (int k = 0; k < 3; k++)
            if (c.optim.lr == lrs[k])
                a = k;
        for (int k = 0; k < 4; k++)
            if (c.loss.gamma == gammas[k])
                b = k;
        for (int k = 0; k < 3; k++)
            if (c.train.seed == seeds[k])
                s = k;
        ck_assert_msg(a >= 0 && b >= 0 && s >= 0, "job %zu: lr %g gamma %g seed %" PRIu64, i,
                      (double)c.optim.lr, (double)c.loss.gamma, c.train.seed);
        seen[v][a][b][s]++;
        /* seed-major order: the first 24 jobs are seed 7 */
        ck_assert_uint_eq(c.train.seed, seeds[i / 24]);
        char ov[256];
        sweep_job_overrides(&p, &p.jobs[i], ov, sizeof ov);
        ck_assert_msg(strstr(ov, "optim.lr=") && strstr(ov, "loss.gamma="), "%s", ov);
    }
    for (int v = 0; v < 2; v++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++)
                for (int s = 0; s < 3; s++)
                    ck_assert_int_eq(seen[v][a][b][s], 1);
    check_ids(&p);
    done(&sw, &p);
}
END_TEST

START_TEST(test_seeds)
{
    sweep sw;
    sweep_plan p;
    /* a count n means 1..n */
    expand_ok("name: s\nseeds: 4\n", &sw, &p);
    ck_assert_int_eq((int)p.njobs, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(p.jobs[i].seed, (uint64_t)i + 1);
    done(&sw, &p);
    /* a list, any integers */
    expand_ok("name: s\nseeds: [0, 18446744073709551615, 5]\n", &sw, &p);
    ck_assert_int_eq((int)p.njobs, 3);
    ck_assert_uint_eq(p.jobs[1].seed, UINT64_MAX);
    done(&sw, &p);
    /* no seeds: one job per point with the config's own seed */
    expand_ok("name: s\nconfig: cfgs/small.yaml\n", &sw, &p);
    ck_assert_int_eq((int)p.njobs, 1);
    ck_assert_uint_eq(p.jobs[0].seed, 2018);
    check_ids(&p);
    done(&sw, &p);
    /* ... which a grid may then vary */
    expand_ok("name: s\ngrid: {train.seed: [3, 4]}\n", &sw, &p);
    ck_assert_int_eq((int)p.njobs, 2);
    ck_assert_uint_eq(p.jobs[1].seed, 4);
    check_ids(&p);
    done(&sw, &p);
}
END_TEST

START_TEST(test_include_exclude)
{
    const char *text = "name: ie\n"
                       "config: cfgs/small.yaml\n"
                       "variants: {plain: {loss.kind: ce}, focal: {loss.kind: focal}}\n"
                       "grid:\n"
                       "  optim.lr: [0.001, 0.003]\n"
                       "  loss.gamma: [1, 2]\n"
                       "seeds: 2\n"
                       "exclude:\n"
                       "  - {variant: plain, loss.gamma: 2}\n"         /* 2 lr x 2 seeds */
                       "  - {optim.lr: 3e-3, loss.gamma: 1, seed: 2}\n" /* 2 variants */
                       "include:\n"
                       "  - {variant: focal, loss.gamma: 5}\n"          /* 2 lr x 2 seeds */
                       "  - {optim.lr: 0.01, loss.gamma: 2, seed: 9, model.dropout: 0.5}\n" /* 2 variants */
                       "  - {variant: focal, optim.lr: 0.001, loss.gamma: 1, seed: 1}\n";   /* a duplicate */
    sweep sw;
    sweep_plan p;
    expand_ok(text, &sw, &p);
    ck_assert_int_eq((int)p.nexcluded, 4 + 2);
    ck_assert_int_eq((int)p.nduplicates, 1);
    ck_assert_int_eq((int)p.njobs, 16 - 6 + 4 + 2);
    int extra_seed9 = 0, gamma5 = 0;
    for (size_t i = 0; i < p.njobs; i++) {
        resecg_config c;
        job_cfg(&p, i, &c);
        ck_assert_msg(!(c.loss.kind == LOSS_CE && c.loss.gamma == 2.0f && p.jobs[i].block == 0),
                      "excluded plain gamma 2 present");
        ck_assert_msg(!(c.optim.lr == 0.003f && c.loss.gamma == 1.0f && c.train.seed == 2),
                      "excluded lr 0.003 gamma 1 seed 2 present");
        if (c.train.seed == 9) {
            extra_seed9++;
            ck_assert(c.optim.lr == 0.01f && c.model.dropout == 0.5f && c.loss.gamma == 2.0f);
        }
        if (c.loss.gamma == 5.0f) {
            gamma5++;
            ck_assert_int_eq(c.loss.kind, LOSS_FOCAL);
        }
    }
    ck_assert_int_eq(extra_seed9, 2);
    ck_assert_int_eq(gamma5, 4);
    check_ids(&p);
    done(&sw, &p);
}
END_TEST

/* ---- identity ---- */

START_TEST(test_ids_stable)
{
    /* the same jobs written differently: other names, order, spellings */
    const char *a = "name: a\nconfig: cfgs/small.yaml\n"
                    "variants: {focal: {loss.kind: focal, loss.gamma: 2}}\n"
                    "grid: {optim.lr: [0.001, 0.0003]}\nseeds: [1, 2]\n";
    const char *b = "name: other\nconfig: ./cfgs/../cfgs/small.yaml\n"
                    "set: {loss: {gamma: 2.0}}\n"
                    "variants: {fl: {loss.kind: \"focal\"}}\n"
                    "grid: {optim.lr: [3e-4, 1e-3]}\nseeds: [2, 1]\n";
    sweep sa, sb;
    sweep_plan pa, pb;
    expand_ok(a, &sa, &pa);
    expand_ok(b, &sb, &pb);
    ck_assert_int_eq((int)pa.njobs, 4);
    ck_assert_int_eq((int)pb.njobs, 4);
    for (size_t i = 0; i < pa.njobs; i++) {
        int found = 0;
        for (size_t k = 0; k < pb.njobs; k++)
            found += pa.jobs[i].id == pb.jobs[k].id;
        ck_assert_msg(found == 1, "job %zu of a has no twin in b", i);
    }
    done(&sa, &pa);
    done(&sb, &pb);

    /* every setting counts, except where the data lives and the thread count */
    resecg_config base, c;
    config_defaults(&base);
    uint64_t id0 = sweep_config_id(&base);
    ck_assert_uint_eq(id0, sweep_config_id(&base));
    const char *changes[] = {"model.filters=33",     "model.blocks=15",       "model.dropout=0.25",
                             "model.bn_eps=0.002",   "loss.kind=focal",       "loss.gamma=3",
                             "loss.alpha=[1,2,1,1]", "loss.class_weights=[1,2,3,4]",
                             "optim.lr=0.0011",      "optim.beta2=0.998",     "train.batch_size=31",
                             "train.max_epochs=99",  "train.seed=2019",       "train.drop_last=true",
                             "data.seed=7",          "data.synth_records=801", "data.dev_fraction=0.2",
                             "data.source=cinc17",   "train.precision=bf16"};
    char *base_text = config_to_string(&base);
    int changed = 0;
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        c = base;
        rerr e = {{0}};
        ck_assert_msg(config_set(&c, changes[i], &e) == 0, "%s", e.msg);
        if (i == 13) /* a boolean: flip whichever way the default is */
            c.train.drop_last = !base.train.drop_last;
        char *t = config_to_string(&c);
        int same = strcmp(t, base_text) == 0; /* a value that happens to be the default */
        free(t);
        if (same)
            continue;
        changed++;
        ck_assert_msg(sweep_config_id(&c) != id0, "%s does not change the id", changes[i]);
    }
    free(base_text);
    ck_assert_int_ge(changed, 15);
    c = base;
    snprintf(c.data.dir, sizeof c.data.dir, "/somewhere/else");
    c.train.threads = 7;
    snprintf(c.source_path, sizeof c.source_path, "another/file.yaml");
    ck_assert_uint_eq(sweep_config_id(&c), id0);

    /* random single changes of a numeric setting always move the id */
    srand((unsigned)time(NULL));
    for (int t = 0; t < 200; t++) {
        c = base;
        char set[64];
        snprintf(set, sizeof set, "optim.lr=%.6g", 1e-5 + (double)(rand() % 100000) * 1e-7);
        rerr e = {{0}};
        ck_assert(config_set(&c, set, &e) == 0);
        if (c.optim.lr != base.optim.lr)
            ck_assert_msg(sweep_config_id(&c) != id0, "%s", set);
    }
}
END_TEST

/* model.classes changes the per-class lists' text too, so ids cannot be
 * summed per setting: the expansion must notice and hash whole configs. */
START_TEST(test_ids_slow_path)
{
    const char *text = "name: sp\n"
                       "set: {data.source: cinc17, data.dir: /nonexistent}\n"
                       "grid:\n  model.classes: [3, 4]\n  optim.lr: [0.001, 0.002]\n"
                       "seeds: 2\n";
    sweep sw;
    sweep_plan p;
    expand_ok(text, &sw, &p);
    ck_assert_int_eq(p.fast_ids, 0);
    ck_assert_int_eq((int)p.njobs, 8);
    check_ids(&p);
    done(&sw, &p);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors_structure)
{
    expect_error("", "s.yaml:1:1: empty sweep file ('name' is required)");
    expect_error("config: cfgs/small.yaml\n", "s.yaml:1:1: 'name' is required");
    expect_error("- a\n- b\n", "s.yaml:1:1: expected a mapping");
    expect_error("name: a/b\n", "s.yaml:1:7: name 'a/b' must be letters");
    expect_error("name: ..\n", "s.yaml:1:7: name '..' must be");
    expect_error("name: [x]\n", "s.yaml:1:7: name: expected a string, got a list");
    expect_error("name: x\nfoo: 1\n", "s.yaml:2:1: unknown key 'foo' (expected one of: name,");
    expect_error("name: x\nname: y\n", "s.yaml:2:1: duplicate key 'name' (first at line 1)");
    expect_error("name: [x\n", "s.yaml:2:1: invalid YAML");
    expect_error("name: x\n---\nname: y\n", "s.yaml:2:1: expected one YAML document, found a second one");
    expect_error("name: !foo x\n", "s.yaml:1:7: YAML tags are not supported");
    expect_error("name: x\nconfig: nope.yaml\n", "s.yaml:2:9: config: cannot read");
    expect_error("name: x\nset: [1]\n", "s.yaml:2:6: set: expected a mapping of config keys to values, got a list");
    expect_error("name: x\nset: {lr: 1}\n", "s.yaml:2:7: set: 'lr' is not a config key");
    expect_error("name: x\nset: {optim.lr: {a: 1}}\n", "s.yaml:2:17: optim.lr: expected a value or a list of values, got a mapping");
    expect_error("name: x\nset: {loss.alpha: [[1]]}\n", "s.yaml:2:20: loss.alpha: expected a list of scalars, got a list inside it");
    expect_error("name: x\nset:\n  optim.lr: 1\n  optim.lr: 2\n", "s.yaml:4:3: duplicate key 'optim.lr' (first at line 3)");
    expect_error("name: x\nset:\n  optim: {lr: 1}\n  optim.lr: 2\n", "s.yaml:4:3: duplicate key 'optim.lr' (first at line 3)");
}
END_TEST

START_TEST(test_errors_values)
{
    /* config keys and values go through config_set: its checks, our marks */
    expect_error("name: x\nset:\n  optim.lrr: 0.1\n",
                 "s.yaml:3:3: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
    expect_error("name: x\nset:\n  optim.lr: abc\n", "s.yaml:3:13: optim.lr: expected a number, got 'abc'");
    expect_error("name: x\nset:\n  model.blocks: 0\n", "s.yaml:3:17: model.blocks: 0 is out of range");
    expect_error("name: x\nvariants:\n  v: {loss.kind: hinge}\n", "s.yaml:3:18: loss.kind");
    expect_error("name: x\ngrid:\n  optim.lr: [0.1, abc]\n", "s.yaml:3:19: optim.lr: expected a number, got 'abc'");
    expect_error("name: x\ngrid:\n  model.filterz: [1]\n", "s.yaml:3:3: unknown key 'model.filterz'");
    expect_error("name: x\ninclude:\n  - {optim.lr: x}\n", "s.yaml:3:16: optim.lr: expected a number");
    /* a combination that config_validate rejects names the job */
    expect_error("name: x\nset: {optim.min_lr: 0.01}\ngrid:\n  optim.lr: [0.1, 0.001]\n",
                 "s.yaml:3:1: job (variant default optim.lr=0.001): optim.min_lr 0.01 is above optim.lr 0.001");
}
END_TEST

START_TEST(test_errors_grid_variants_seeds)
{
    expect_error("name: x\ngrid:\n  optim.lr: []\n", "s.yaml:3:13: grid: optim.lr: empty list of values");
    expect_error("name: x\ngrid:\n  optim.lr: 0.1\n", "s.yaml:3:13: grid: optim.lr: expected a list of values, got a scalar");
    expect_error("name: x\ngrid: [1]\n", "s.yaml:2:7: grid: expected a mapping");
    expect_error("name: x\ngrid:\n  optim.lr: [1]\n  optim.lr: [2]\n", "s.yaml:4:3: duplicate key 'optim.lr'");
    expect_error("name: x\ngrid:\n  optim: {lr: [1]}\n  optim.lr: [2]\n", "s.yaml:4:3: grid: duplicate key 'optim.lr' (first at line 3)");
    expect_error("name: x\ngrid:\n  optim.lr: [0.001, 1e-3]\n", "s.yaml:3:21: grid: optim.lr: value 1e-3 repeats 0.001");
    expect_error("name: x\nvariants:\n  a: {}\n  a: {}\n", "s.yaml:4:3: duplicate key 'a' (first at line 3)");
    expect_error("name: x\nvariants:\n  a b: {}\n", "s.yaml:3:3: variant name 'a b' must be");
    expect_error("name: x\nvariants: {}\n", "s.yaml:2:11: variants: expected a mapping of names");
    expect_error("name: x\nvariants:\n  a: {loss.kind: ce}\n  b: {}\n",
                 "s.yaml:4:3: variant b gives the same config as variant a");
    expect_error("name: x\nvariants:\n  a: [1]\n", "s.yaml:3:6: variant a: expected a mapping");
    expect_error("name: x\nseeds: 0\n", "s.yaml:2:8: seeds: 0 is out of range");
    expect_error("name: x\nseeds: []\n", "s.yaml:2:8: seeds: expected a count");
    expect_error("name: x\nseeds: [1, 2, 1]\n", "s.yaml:2:15: seeds: 1 is listed twice");
    expect_error("name: x\nseeds: [1, -2]\n", "s.yaml:2:12: seeds: expected a non-negative integer, got '-2'");
    expect_error("name: x\nseeds: 0x10\n", "s.yaml:2:8: seeds: expected a non-negative integer");
    expect_error("name: x\nseeds: 2\nset: {train.seed: 5}\n", "s.yaml:3:7: train.seed is set by 'seeds' (line 2)");
    expect_error("name: x\nseeds: 2\ngrid: {train.seed: [5]}\n", "s.yaml:3:8: train.seed is set by 'seeds'");
    expect_error("name: x\nresources: {gpus: 0}\n", "s.yaml:2:19: resources.gpus: 0 is out of range");
    expect_error("name: x\nresources: {cpus: 1}\n", "s.yaml:2:13: resources: unknown key 'cpus'");
    expect_error("name: x\nresources: 1\n", "s.yaml:2:12: resources: expected a mapping");
}
END_TEST

START_TEST(test_errors_filters)
{
    const char *head = "name: x\nvariants: {a: {loss.kind: ce}, b: {loss.kind: focal}}\n"
                       "grid: {optim.lr: [0.001, 0.002]}\nseeds: 2\n";
    char text[1024];
#define WITH(tail) (snprintf(text, sizeof text, "%s%s", head, tail), text)
    expect_error(WITH("include:\n  - {variant: c}\n"), "s.yaml:6:15: include: unknown variant 'c'");
    expect_error(WITH("exclude: {variant: a}\n"), "s.yaml:5:10: exclude: expected a list");
    expect_error(WITH("exclude:\n  - {}\n"), "s.yaml:6:5: exclude: expected a non-empty mapping");
    expect_error(WITH("exclude:\n  - {loss.gamma: 2}\n"), "s.yaml:6:6: exclude: 'loss.gamma' is not a grid key");
    expect_error(WITH("exclude:\n  - {optim.lr: 0.005}\n"),
                 "s.yaml:6:16: exclude: optim.lr 0.005 is not one of the grid's values");
    expect_error(WITH("exclude:\n  - {seed: 3}\n"), "s.yaml:6:12: exclude: seed 3 is not one of the seeds");
    expect_error(WITH("exclude:\n  - {seed: x}\n"), "s.yaml:6:12: seed: expected a non-negative integer");
    expect_error(WITH("include:\n  - {train.seed: 3}\n"), "s.yaml:6:6: include: use 'seed', not train.seed");
    expect_error(WITH("include:\n  - 5\n"), "s.yaml:6:5: include: expected a non-empty mapping, got a scalar");
#undef WITH
}
END_TEST

/* ---- robustness ---- */

START_TEST(test_fuzz)
{
    const char *valid = "name: fz\n"
                        "config: cfgs/small.yaml\n"
                        "set: {train.max_epochs: 3}\n"
                        "variants:\n"
                        "  plain: {loss.kind: ce}\n"
                        "  focal: {loss: {kind: focal, gamma: 2}}\n"
                        "grid:\n"
                        "  optim.lr: [0.001, 0.003]\n"
                        "  loss.alpha: [[1, 1, 1, 1], [1, 2, 1, 1]]\n"
                        "seeds: [1, 2]\n"
                        "exclude:\n  - {variant: plain, optim.lr: 0.003}\n"
                        "include:\n  - {variant: focal, loss.gamma: 5, seed: 9}\n"
                        "resources: {gpus: 1, gpu_memory: 100}\n";
    const char alphabet[] = " :-,[]{}\n#&*!'\"|>0123456789.abcxyz_\t\\%@?";
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    size_t len = strlen(valid);
    char *buf = malloc(len + 64);
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, valid, len + 1);
        size_t n = len;
        int muts = 1 + rand() % 4;
        for (int m = 0; m < muts; m++) {
            size_t at = (size_t)rand() % (n ? n : 1);
            int kind = rand() % 4;
            char ch = rand() % 8 == 0 ? (char)(rand() % 256) : alphabet[rand() % (int)(sizeof alphabet - 1)];
            if (kind == 0 && n > 0) { /* replace */
                buf[at] = ch;
            } else if (kind == 1 && n + 1 < len + 60) { /* insert */
                memmove(buf + at + 1, buf + at, n - at + 1);
                buf[at] = ch;
                n++;
            } else if (kind == 2 && n > 0) { /* delete */
                memmove(buf + at, buf + at + 1, n - at);
                n--;
            } else if (n > 0) { /* truncate */
                n = at;
                buf[n] = '\0';
            }
        }
        sweep sw;
        sweep_plan p;
        rerr e = {{0}};
        /* the length is passed: a mutated NUL byte must not end the text early */
        int rc = sweep_load_string(&sw, buf, n, "fz.yaml", testutil_source_dir(), &e);
        if (rc == 0) {
            rc = sweep_expand(&sw, &p, &e);
            if (rc == 0) {
                ck_assert_msg(p.njobs <= 200, "seed %u iter %d: %zu jobs", seed, iter, p.njobs);
                sweep_plan_free(&p);
            }
            sweep_free(&sw);
        }
        if (rc == 0) {
            ok++;
        } else {
            bad++;
            ck_assert_msg(e.msg[0] != '\0', "seed %u iter %d: error without a message:\n%s", seed, iter, buf);
        }
    }
    free(buf);
    printf("fuzz (seed %u): %d mutated sweep files loaded, %d rejected with a message\n", seed, ok, bad);
    ck_assert_int_gt(bad, 100);
    ck_assert_int_gt(ok, 10);
}
END_TEST

/* 100,000 jobs: the plan must not cost a config text per job. */
START_TEST(test_expand_100k)
{
    char *text = malloc(1 << 16);
    int o = snprintf(text, 1 << 16, "name: big\nconfig: cfgs/small.yaml\nvariants: {a: {loss.kind: ce}, b: {loss.kind: focal}}\ngrid:\n  optim.lr: [");
    for (int i = 0; i < 50; i++)
        o += snprintf(text + o, (size_t)((1 << 16) - o), "%s%g", i ? ", " : "", 1e-4 * (i + 1));
    o += snprintf(text + o, (size_t)((1 << 16) - o), "]\n  train.batch_size: [");
    for (int i = 0; i < 100; i++)
        o += snprintf(text + o, (size_t)((1 << 16) - o), "%s%d", i ? ", " : "", i + 1);
    snprintf(text + o, (size_t)((1 << 16) - o), "]\nseeds: 10\n");
    sweep sw;
    sweep_plan p;
    double t0 = util_now();
    expand_ok(text, &sw, &p);
    double secs = util_now() - t0;
    printf("expanded %zu jobs in %.3f s (fast ids %d)\n", p.njobs, secs, p.fast_ids);
    ck_assert_int_eq((int)p.njobs, 100000);
    ck_assert_int_eq(p.fast_ids, 1);
    /* spot checks of the summed ids against whole-config hashes */
    for (size_t i = 0; i < p.njobs; i += 997) {
        resecg_config c;
        job_cfg(&p, i, &c);
        ck_assert_uint_eq(sweep_config_id(&c), p.jobs[i].id);
    }
    ck_assert_msg(secs < 5.0, "100,000 jobs took %.2f s", secs); /* ~0.1 s in Release; sanitizers are slower */
    done(&sw, &p);
    free(text);
}
END_TEST

static Suite *sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *t = tcase_create("sweep");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_demo);
    tcase_add_test(t, test_shipped_sweeps);
    tcase_add_test(t, test_grid_dotted_mapping);
    tcase_add_test(t, test_grid_contents);
    tcase_add_test(t, test_seeds);
    tcase_add_test(t, test_include_exclude);
    tcase_add_test(t, test_ids_stable);
    tcase_add_test(t, test_ids_slow_path);
    tcase_add_test(t, test_errors_structure);
    tcase_add_test(t, test_errors_values);
    tcase_add_test(t, test_errors_grid_variants_seeds);
    tcase_add_test(t, test_errors_filters);
    tcase_add_test(t, test_fuzz);
    tcase_add_test(t, test_expand_100k);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sweep_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

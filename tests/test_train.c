/* End-to-end training on the built-in synthetic ECG: the loss falls and F1
 * beats chance clearly; the same seed and thread count give bit-identical
 * losses; a resumed run equals an uninterrupted one; evaluate reproduces the
 * training run's dev F1 from best.safetensors; the run directory holds every
 * documented output; the CLI rejects bad input with file and line. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"
#include "nn/backend.h"
#include "nn/device.h"
#include "testutil.h"
#include "run/train.h"
#include "base/util.h"

static char g_dir[512]; /* made by the unchecked fixture, in the parent process */

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "train"); }
static void dir_teardown(void) { testutil_rmtree(g_dir); }

/* out = g_dir/name */
static void run_dir(char *out, size_t size, const char *name)
{
    ck_assert(util_path_join(out, size, g_dir, name) == 0);
}

/* A network small enough to train in seconds: 8 filters, 4 blocks (frame 4). */
/* A network small enough to train in seconds that still sees whole beats:
 * 8 filters, 8 blocks of kernel 16 (frame 16, receptive field > 1 s). Keras'
 * BN momentum 0.99 would leave the running statistics far from the data
 * after ~70 steps, so the test uses 0.9. */
static void tiny_config(resecg_config *c)
{
    config_defaults(c);
    c->model.filters_start = 8;
    c->model.num_blocks = 8;
    c->model.bn_momentum = 0.9f;
    c->data.synth_records = 240;
    c->data.synth_length = 1536;
    c->data.synth_min_length = 1024;
    c->data.dev_fraction = 0.25;
    c->train.batch_size = 16;
    c->train.max_epochs = 4;
    c->train.threads = 2;
    c->optim.lr = 3e-3f;
}

static void run_ok(const resecg_config *c, const char *dir, int resume, train_result *res)
{
    train_opts o = {.out_dir = dir, .device = "cpu", .resume = resume, .quiet = 1};
    rerr e = {{0}};
    int rc = train_run(c, &o, res, &e);
    ck_assert_msg(rc == 0, "train_run failed: %s", e.msg);
}

static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = NULL;
    rerr e;
    ck_assert_msg(util_read_file(path, &s, NULL, &e) == 0, "%s", e.msg);
    return s;
}

/* Drops the last (wall-time) column of every row so runs can be compared. */
static void strip_seconds(char *csv)
{
    char *w = csv;
    for (char *line = csv; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *comma = NULL;
        for (size_t i = 0; i < len; i++)
            if (line[i] == ',')
                comma = line + i;
        size_t keep = comma ? (size_t)(comma - line) : len;
        memmove(w, line, keep);
        w += keep;
        *w++ = '\n';
        if (!nl)
            break;
        line = nl + 1;
    }
    *w = '\0';
}

/* The two runs' epochs.csv agree on everything but wall time. */
static void assert_same_epochs(const char *d1, const char *d2)
{
    char *a = slurp(d1, "epochs.csv"), *b = slurp(d2, "epochs.csv");
    strip_seconds(a);
    strip_seconds(b);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}

/* The two runs' last.safetensors are identical byte for byte. */
static void assert_same_checkpoint(const char *d1, const char *d2)
{
    char pa[700], pb[700], *ba, *bb;
    size_t na, nb;
    rerr e;
    snprintf(pa, sizeof pa, "%s/last.safetensors", d1);
    snprintf(pb, sizeof pb, "%s/last.safetensors", d2);
    ck_assert(util_read_file(pa, &ba, &na, &e) == 0 && util_read_file(pb, &bb, &nb, &e) == 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(ba, bb, na) == 0, "same seed, different checkpoints: %s, %s", pa, pb);
    free(ba);
    free(bb);
}

/* evaluate_checkpoint on dir's best.safetensors scores the dev records
 * exactly as the training run did. */
static void assert_evaluate_reproduces(const resecg_config *c, const char *dir,
                                       const train_result *res)
{
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", dir);
    metrics mt;
    rerr e = {{0}};
    ck_assert_msg(evaluate_checkpoint(c, ckpt, "cpu", NULL, &mt, &e) == 0, "%s", e.msg);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++)
            ck_assert_int_eq(mt.confusion[k][j], res->dev.confusion[k][j]);
}

START_TEST(test_learns_and_writes_outputs)
{
    char tmpdir[600];
    run_dir(tmpdir, sizeof tmpdir, "learns");
    resecg_config c;
    tiny_config(&c);
    c.train.max_epochs = 6;
    train_result res;
    run_ok(&c, tmpdir, 0, &res);
    printf("learns: train loss %.4f -> %.4f, dev cinc_f1 %.3f macro_f1 %.3f (F1 N %.3f A %.3f "
           "O %.3f ~ %.3f)\n",
           res.first_train_loss, res.last_train_loss, res.dev.cinc_f1, res.dev.macro_f1,
           res.dev.f1[0], res.dev.f1[1], res.dev.f1[2], res.dev.f1[3]);
    ck_assert_double_lt(res.last_train_loss, 0.8 * res.first_train_loss);
    /* chance: always predicting N gives macro F1 <= 0.19 (F1_N <= 0.75, others 0) */
    ck_assert_double_gt(res.dev.macro_f1, 0.5);
    const char *outputs[] = {"config.yaml", "epochs.csv", "last.safetensors", "best.safetensors",
                             "predictions.csv", "confusion.csv", "f1.csv", "train.log"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", tmpdir, outputs[i]);
        ck_assert_msg(util_file_exists(path), "missing %s", path);
    }
    /* one epochs.csv row per epoch plus the header */
    char *ep = slurp(tmpdir, "epochs.csv");
    int lines = 0;
    for (char *p = ep; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, res.epochs_run + 1);
    free(ep);
    /* predictions.csv: one row per dev record (header + records) */
    char *pred = slurp(tmpdir, "predictions.csv");
    lines = 0;
    for (char *p = pred; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, (int)res.dev.total + 1);
    free(pred);

    /* evaluate on best.safetensors gives the same dev metrics as training */
    assert_evaluate_reproduces(&c, tmpdir, &res);
}
END_TEST

/* What decides the numbers besides the config is in train.log: the kernels'
 * ISA copy, oneDNN's version and ISA, and every RESECG_ / ONEDNN_ variable
 * set (issue 19: RESECG_WGRAD and its like used to be invisible). */
START_TEST(test_numerics_logged)
{
    resecg_config c;
    tiny_config(&c);
    c.train.max_epochs = 1;
    char dir[600];
    run_dir(dir, sizeof dir, "numerics");
    setenv("RESECG_WGRAD", "auto", 1);
    train_result res;
    run_ok(&c, dir, 0, &res);
    unsetenv("RESECG_WGRAD");
    char path[700], *log = NULL;
    snprintf(path, sizeof path, "%s/train.log", dir);
    rerr e;
    ck_assert_msg(util_read_file(path, &log, NULL, &e) == 0, "%s", e.msg);
    const char *at = strstr(log, "numerics: precision fp32, device cpu, CPU kernels x86-64-v");
    ck_assert_msg(at != NULL, "no numerics line:\n%s", log);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(at, "\n"), at);
    free(log);
    ck_assert_msg(strstr(line, "oneDNN ") && strstr(line, ", ISA "), "%s", line);
    ck_assert_msg(strstr(line, "environment: RESECG_WGRAD=auto"), "%s", line);
    /* the same line closes config.yaml, which still loads as the run's config */
    char *cy = slurp(dir, "config.yaml");
    char want[1100];
    snprintf(want, sizeof want, "\n# %s\n", line);
    int has = strstr(cy, want) != NULL;
    free(cy);
    ck_assert_msg(has, "config.yaml lacks '# %s'", line);
    resecg_config back;
    config_defaults(&back);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    ck_assert_msg(config_load_file(&back, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(back.model.num_blocks, c.model.num_blocks);

    /* the loss's per-class factors are in the log: explicit weights as given */
    c.loss.kind = LOSS_WEIGHTED;
    c.loss.balanced = 0;
    const float w[4] = {0.265f, 0.257f, 0.298f, 0.38f};
    memcpy(c.loss.class_weights, w, sizeof w);
    run_dir(dir, sizeof dir, "numerics-weights");
    run_ok(&c, dir, 0, &res);
    log = slurp(dir, "train.log");
    at = strstr(log, "loss weighted (class weights N 0.265 A 0.257 O 0.298 ~ 0.38), batch 16");
    ck_assert_msg(at != NULL, "no class weights in the log:\n%s", log);
    free(log);
}
END_TEST

/* The schedule on its own (train_schedule_step), against a sequence worked
 * out by hand from Keras' rules: early stopping on a strictly lower dev
 * loss, ReduceLROnPlateau with min_delta 1e-4 (so 0.99995 after 1.0 is a new
 * best but no plateau progress), the factor, the floor, and patience
 * counting again after a cut. */
START_TEST(test_schedule_rules)
{
    train_config tc = {.early_stop_patience = 3};
    optim_config oc = {.plateau_patience = 2, .plateau_factor = 0.1f, .min_lr = 0.005f};
    run_state st = {.lr = 1.0f, .best_loss = INFINITY, .plateau_best = INFINITY};
    static const double loss[] = {1.0, 0.99995, 0.99993, 1.2, 0.5, 0.6, 0.6, 0.6, 0.6};
    static const int improved[] = {1, 1, 1, 0, 1, 0, 0, 0, 0};
    static const float lr[] = {1.0f, 1.0f, 0.1f, 0.1f, 0.1f, 0.1f, 0.01f, 0.01f, 0.005f};
    static const int stop[] = {0, 0, 0, 0, 0, 0, 0, 1, 1};
    for (int i = 0; i < 9; i++) {
        int s = 0;
        int got = train_schedule_step(&st, loss[i], i + 1, &tc, &oc, &s);
        ck_assert_msg(got == improved[i], "epoch %d: improved %d, expected %d", i + 1, got,
                      improved[i]);
        ck_assert_msg(fabsf(st.lr - lr[i]) <= 1e-6f * lr[i], "epoch %d: lr %g, expected %g", i + 1,
                      (double)st.lr, (double)lr[i]);
        ck_assert_msg(s == stop[i], "epoch %d: stop %d, expected %d", i + 1, s, stop[i]);
    }
    ck_assert_int_eq(st.best_epoch, 5);
    ck_assert(st.best_loss == 0.5);
}
END_TEST

START_TEST(test_deterministic)
{
    resecg_config c;
    tiny_config(&c);
    c.train.max_epochs = 2;
    c.loss.kind = LOSS_FOCAL;
    train_result r1, r2, r3;
    char d1[600], d2[600], d3[600];
    run_dir(d1, sizeof d1, "det1");
    run_dir(d2, sizeof d2, "det2");
    run_dir(d3, sizeof d3, "det3");
    run_ok(&c, d1, 0, &r1);
    run_ok(&c, d2, 0, &r2);
    assert_same_epochs(d1, d2);
    /* the weights themselves, bit for bit */
    assert_same_checkpoint(d1, d2);

    /* another seed gives another run */
    c.train.seed = 7;
    run_ok(&c, d3, 0, &r3);
    ck_assert_msg(r3.first_train_loss != r1.first_train_loss, "seed has no effect");
}
END_TEST

START_TEST(test_resume_equals_uninterrupted)
{
    resecg_config c;
    tiny_config(&c);
    train_result full, part, rest;
    char d1[600], d2[600];
    run_dir(d1, sizeof d1, "full");
    run_dir(d2, sizeof d2, "resumed");
    c.train.max_epochs = 4;
    run_ok(&c, d1, 0, &full);
    c.train.max_epochs = 2;
    run_ok(&c, d2, 0, &part);
    c.train.max_epochs = 4;
    run_ok(&c, d2, 1, &rest);
    assert_same_epochs(d1, d2);
    ck_assert_int_eq(rest.epochs_run, 4);
}
END_TEST

/* epochs.csv's train_loss column (the second), up to max rows; returns the
 * number read. */
static int train_losses(const char *dir, double *out, int max)
{
    char *csv = slurp(dir, "epochs.csv");
    int n = 0;
    size_t len = strlen(csv);
    size_t at = strcspn(csv, "\n") + 1; /* past the header */
    while (at < len && n < max) {
        size_t comma = at + strcspn(csv + at, ",\n");
        ck_assert_msg(csv[comma] == ',', "epochs.csv row %d has no comma", n + 1);
        out[n++] = strtod(csv + comma + 1, NULL);
        at += strcspn(csv + at, "\n") + 1;
    }
    free(csv);
    return n;
}

/* train.precision bf16 (skipped with a SKIP line on a CPU without
 * AVX512-BF16 or AMX): the same seeds in fp32 and in bf16. bf16 rounding
 * changes every step a little, so the runs drift apart like two seeds
 * would, but the curves must track: each epoch's mean training loss within
 * 15% of fp32's, and the dev CinC F1 over 3 seeds within the fp32 seeds'
 * own spread (3 sd, at least 0.05) of fp32's mean. A bf16 run is
 * deterministic like an fp32 one (same seed, threads: the same weights). */
START_TEST(test_bf16_tracks_fp32)
{
    rerr be = {{0}};
    if (backend_check("cpu", PRECISION_BF16, &be) != 0) {
        printf("bf16 training: SKIPPED, not on this CPU (%s)\n", be.msg);
        return;
    }
    enum { NSEEDS = 3, EPOCHS = 6 };
    double f1[2][NSEEDS], worst_ratio = 0.0;
    for (int s = 0; s < NSEEDS; s++) {
        double loss[2][EPOCHS];
        for (int p = 0; p < 2; p++) {
            resecg_config c;
            tiny_config(&c);
            c.train.max_epochs = EPOCHS;
            c.train.seed = 11 + (uint64_t)s;
            c.train.precision = p ? PRECISION_BF16 : PRECISION_FP32;
            char d[600], name[64];
            snprintf(name, sizeof name, "prec%d-seed%d", p, s);
            run_dir(d, sizeof d, name);
            train_result res;
            run_ok(&c, d, 0, &res);
            f1[p][s] = res.dev.cinc_f1;
            ck_assert_int_eq(train_losses(d, loss[p], EPOCHS), EPOCHS);
        }
        printf("seed %d: train loss fp32 / bf16 per epoch:", 11 + s);
        for (int ep = 0; ep < EPOCHS; ep++) {
            double ratio = fabs(loss[1][ep] - loss[0][ep]) / loss[0][ep];
            if (ratio > worst_ratio)
                worst_ratio = ratio;
            printf(" %.4f/%.4f", loss[0][ep], loss[1][ep]);
        }
        printf("; dev CinC F1 %.3f / %.3f\n", f1[0][s], f1[1][s]);
    }
    double m[2] = {0, 0}, sd = 0;
    for (int p = 0; p < 2; p++)
        for (int s = 0; s < NSEEDS; s++)
            m[p] += f1[p][s] / NSEEDS;
    for (int s = 0; s < NSEEDS; s++)
        sd += (f1[0][s] - m[0]) * (f1[0][s] - m[0]) / (NSEEDS - 1);
    sd = sqrt(sd);
    double allowed = fmax(3 * sd, 0.05);
    printf("bf16 vs fp32: worst epoch train-loss difference %.1f%%; dev CinC F1 %.3f vs %.3f "
           "(fp32 sd %.3f, allowed %.3f)\n",
           100 * worst_ratio, m[1], m[0], sd, allowed);
    ck_assert_double_le(worst_ratio, 0.15);
    ck_assert_double_le(fabs(m[1] - m[0]), allowed);

    /* the speed note: in a bf16 run's log exactly when oneDNN runs no AMX
     * kernels (the ISA its numerics line names), never in an fp32 one */
    for (int p = 0; p < 2; p++) {
        char d[600], name[64];
        snprintf(name, sizeof name, "prec%d-seed0", p);
        run_dir(d, sizeof d, name);
        char *log = slurp(d, "train.log");
        int amx = strstr(log, ", ISA avx512_core_amx") != NULL;
        int note = strstr(log, "note: train.precision bf16 without AMX") != NULL;
        printf("%s: ISA %s AMX, speed note %s\n", p ? "bf16" : "fp32", amx ? "with" : "without",
               note ? "present" : "absent");
        ck_assert_int_eq(note, p == 1 && !amx);
        free(log);
    }

    /* determinism: seed 11 in bf16 again, the same checkpoint bit for bit */
    resecg_config c;
    tiny_config(&c);
    c.train.max_epochs = 2;
    c.train.seed = 11;
    c.train.precision = PRECISION_BF16;
    char d1[600], d2[600];
    run_dir(d1, sizeof d1, "bf16-det1");
    run_dir(d2, sizeof d2, "bf16-det2");
    train_result r1, r2;
    run_ok(&c, d1, 0, &r1);
    run_ok(&c, d2, 0, &r2);
    assert_same_epochs(d1, d2);
    char *a = slurp(d1, "f1.csv"), *b = slurp(d2, "f1.csv");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    assert_same_checkpoint(d1, d2);
}
END_TEST

/* Runs the resecg binary with args; returns its exit status and its stderr. */
static int run_cli(const char *tmpdir, const char *args, char *err, size_t errsz)
{
    const char *bin = getenv("RESECG_BIN");
    ck_assert_msg(bin != NULL, "RESECG_BIN is not set (run through ctest)");
    char cmd[4096], errpath[300];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s", bin, args, errpath);
    int st = system(cmd);
    FILE *fp = fopen(errpath, "r");
    size_t n = fp ? fread(err, 1, errsz - 1, fp) : 0;
    err[n] = '\0';
    if (fp)
        fclose(fp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_length_buckets)
{
    // data.length_buckets: by-length batches of records 1024-1536 samples
    // long (frame 16: 64-96 frames) take fewer distinct shapes with 4
    // lengths an octave (64, 80, 96 at most, plus the capacity) than
    // exact; the run still learns, evaluate reproduces its dev scores
    // (same capacity, same padding), and on records of one length buckets
    // change nothing, bit for bit (pytorch-ref's fixed 8960 samples).
    resecg_config c;
    tiny_config(&c);
    c.train.max_epochs = 2;
    char d0[600], d4[600];
    run_dir(d0, sizeof d0, "buckets0");
    run_dir(d4, sizeof d4, "buckets4");
    train_result r0, r4;
    run_ok(&c, d0, 0, &r0);
    c.data.length_buckets = 4;
    run_ok(&c, d4, 0, &r4);
    printf("length_buckets 0: %d training shapes, %d evaluation; 4: %d, %d; dev cinc_f1 %.3f, %.3f\n",
           r0.train_shapes, r0.dev_shapes, r4.train_shapes, r4.dev_shapes, r0.dev.cinc_f1,
           r4.dev.cinc_f1);
    ck_assert_int_gt(r0.train_shapes, r4.train_shapes);
    ck_assert_int_le(r4.train_shapes, 2 * 4); // two batch sizes (full, last) x <= 4 lengths
    ck_assert_int_le(r4.dev_shapes, 2 * 4);
    char *log = slurp(d4, "train.log");
    ck_assert_ptr_nonnull(strstr(log, "(data.length_buckets 4)"));
    free(log);
    assert_evaluate_reproduces(&c, d4, &r4);

    // one length: no change at all
    c.data.synth_min_length = c.data.synth_length;
    char s0[600], s8[600];
    run_dir(s0, sizeof s0, "onelen0");
    run_dir(s8, sizeof s8, "onelen8");
    c.data.length_buckets = 0;
    run_ok(&c, s0, 0, &r0);
    c.data.length_buckets = 8;
    run_ok(&c, s8, 0, &r4);
    ck_assert_int_eq(r4.train_shapes, r0.train_shapes);
    assert_same_checkpoint(s0, s8);
}
END_TEST

START_TEST(test_cli_errors)
{
    char tmpdir[600];
    run_dir(tmpdir, sizeof tmpdir, "cli");
    rerr me;
    ck_assert(util_mkdir_p(tmpdir, &me) == 0);
    char cfg[700], err[4096], args[2048];
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", tmpdir);
    FILE *fp = fopen(cfg, "w");
    fputs("model:\n  filters: 8\n  filtrs: 9\n", fp);
    fclose(fp);
    snprintf(args, sizeof args, "train --config %s --out %s/run", cfg, tmpdir);
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 2);
    char where[800];
    snprintf(where, sizeof where, "%s:3:", cfg);
    ck_assert_msg(strstr(err, where) != NULL, "error does not name %s: %s", where, err);
    ck_assert_msg(strstr(err, "filtrs") != NULL, "error does not name the key: %s", err);

    ck_assert_int_eq(run_cli(tmpdir, "train --config /nonexistent.yaml", err, sizeof err), 2);
    ck_assert_msg(strstr(err, "/nonexistent.yaml") != NULL, "%s", err);

    snprintf(args, sizeof args, "train --config %s/cfgs/small.yaml --set optim.lr=abc",
             testutil_source_dir());
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "optim.lr") != NULL, "%s", err);

    /* bf16 where oneDNN may not run it (ONEDNN_MAX_CPU_ISA=avx2 stands for a
     * CPU without AVX512-BF16 or AMX): a config error naming the feature,
     * before any run directory exists */
    snprintf(args, sizeof args,
             "train --config %s/cfgs/small.yaml --set train.precision=bf16 --out %s/bf16run",
             testutil_source_dir(), tmpdir);
    setenv("ONEDNN_MAX_CPU_ISA", "avx2", 1);
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 2);
    unsetenv("ONEDNN_MAX_CPU_ISA");
    ck_assert_msg(strstr(err, "train.precision bf16") && strstr(err, "BF16"), "%s", err);
    char bdir[700];
    snprintf(bdir, sizeof bdir, "%s/bf16run", tmpdir);
    ck_assert_msg(!util_file_exists(bdir), "%s was made for a refused config", bdir);
    snprintf(args, sizeof args, "train --config %s/cfgs/small.yaml --set train.precision=fp16",
             testutil_source_dir());
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "fp32, bf16"), "%s", err);
    snprintf(args, sizeof args,
             "train --config %s/cfgs/small.yaml --device cpu-ref --set train.precision=bf16",
             testutil_source_dir());
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "cpu-ref"), "%s", err);

    ck_assert_int_eq(run_cli(tmpdir, "train --bogus", err, sizeof err), 2);
    ck_assert_int_eq(run_cli(tmpdir, "frobnicate", err, sizeof err), 2);
    ck_assert_int_eq(run_cli(tmpdir, "train --help", err, sizeof err), 0);

    /* a corrupt checkpoint is reported by name with a non-zero exit */
    char ck[700];
    snprintf(ck, sizeof ck, "%s/broken.safetensors", tmpdir);
    fp = fopen(ck, "w");
    fputs("not a checkpoint", fp);
    fclose(fp);
    snprintf(args, sizeof args, "evaluate --config %s/cfgs/small.yaml --ckpt %s",
             testutil_source_dir(), ck);
    ck_assert_int_eq(run_cli(tmpdir, args, err, sizeof err), 1);
    ck_assert_msg(strstr(err, ck) != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 900);
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_learns_and_writes_outputs);
    tcase_add_test(tc, test_schedule_rules);
    tcase_add_test(tc, test_numerics_logged);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_resume_equals_uninterrupted);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_bf16_tracks_fp32);
    tcase_add_test(tc, test_length_buckets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

/* resecg: the command-line entry point. Parses arguments, loads the config
 * (YAML plus --set overrides), and hands over to the library: `train`,
 * `evaluate`, `data split`, `bench`. Only this file decides exit codes: 0
 * success, 1 a failed run, 2 bad usage or bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/device.h"
#include "commands.h"
#include "base/config.h"
#include "data/data.h"
#include "nn/loss.h"
#include "run/metrics.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "run/train.h"
#include "base/util.h"

#define RESECG_VERSION "0.1.0"
#define MAX_SETS 64

static const char *usage_main =
    "usage: resecg <command> [options]\n"
    "\n"
    "commands:\n"
    "  train      train ResECG (or the feature-based trees) from a config into a run directory\n"
    "  evaluate   score a checkpoint: per-class F1 on the dev split or a labelled directory\n"
    "  data split write the train/dev split (or k folds) of a config's data as a manifest\n"
    "  bench      measure training throughput (samples/s, GFLOP/s, peak memory)\n"
    "  sweep      plan, run and inspect sweeps of training jobs over GPUs (sweeps/*.yaml)\n"
    "  report     Table 1, verdicts on differences (seeds and records resampled), HTML and LaTeX\n"
    "\n"
    "`resecg <command> --help` describes each command's options.\n";

static const char *usage_train =
    "usage: resecg train --config FILE [--set key=value ...] [--data DIR] [--out DIR]\n"
    "                    [--device cpu|cpu-ref|cuda] [--resume | --fresh] [--quiet]\n"
    "\n"
    "  --config FILE    YAML model and training config (e.g. cfgs/ResECG.yaml, cfgs/small.yaml;\n"
    "                   cfgs/features.yaml: model.type features, XGBoost on ECG features)\n"
    "  --set key=value  override one config key, e.g. --set loss.kind=focal --set optim.lr=3e-4\n"
    "  --data DIR       directory of CinC 2017 records (sets data.source=cinc17, data.dir=DIR);\n"
    "                   data.protocol (hannun | pytorch-ref) picks the split and preprocessing\n"
    "  --out DIR        run directory (default runs/<config name>)\n"
    "  --device NAME    cpu (oneDNN convolutions, default), cpu-ref (plain C reference), cuda\n"
    "  --resume         continue the run in --out from its last.safetensors\n"
    "  --fresh          start the run in --out over: an earlier run's files there are removed\n"
    "                   (without either, a directory holding another run is an error)\n"
    "  --quiet          no progress lines on stderr (train.log still gets them)\n";

static const char *usage_evaluate =
    "usage: resecg evaluate --config FILE --ckpt FILE [--set key=value ...] [--data DIR]\n"
    "                       [--split dev|all] [--out DIR] [--device NAME]\n"
    "\n"
    "  Scores the checkpoint and prints per-class precision, recall and F1. Records are\n"
    "  normalised with the checkpoint's statistics (the training split's). With model.type\n"
    "  features, --ckpt is the run's model.json (XGBoost trees on the record's features).\n"
    "  --config FILE    the run's config (its config.yaml): model, protocol, split\n"
    "  --data DIR       CinC 2017 records directory (sets data.source=cinc17, data.dir=DIR)\n"
    "  --split dev      the dev split training used, recomputed from config and data or read\n"
    "                   from data.manifest (default)\n"
    "  --split all      every record of the data, e.g. another labelled directory\n"
    "  --out DIR        write f1.csv, confusion.csv, predictions.csv, normalization.csv there\n";

static const char *usage_data =
    "usage: resecg data split --config FILE [--data DIR] [--set key=value ...] [--folds K]\n"
    "                         --out FILE\n"
    "\n"
    "  Writes the split the config describes (data.protocol, data.split, data.dev_fraction,\n"
    "  data.seed; data.manifest is ignored) as a manifest CSV: record,label,split with split\n"
    "  train or dev, or with --folds K a fold number 0..K-1 (fold 0 is the dev split when\n"
    "  data.split is shuffle and data.dev_fraction is 1/K). Train and evaluate use it with\n"
    "  --set data.manifest=FILE (and data.dev_fold=J for a fold manifest).\n"
    "  --data DIR       CinC 2017 records directory (sets data.source=cinc17, data.dir=DIR)\n"
    "  --folds K        k folds instead of train/dev\n"
    "  --out FILE       the manifest to write (atomically)\n";

static const char *usage_bench =
    "usage: resecg bench --config FILE [--batch B] [--length L] [--steps S] [--set key=value ...]\n"
    "                    [--device NAME] [--threads N]\n"
    "\n"
    "  Times S training steps (forward, loss, backward, Adam) on random ECG-like input of\n"
    "  B records x L samples after one warm-up step, and prints samples/s, GFLOP/s of\n"
    "  training arithmetic (3 x forward convolution FLOPs) and peak resident memory.\n"
    "  Defaults: batch 32, length 8960, steps 5.\n";

typedef struct cli {
    const char *config, *data, *out, *device, *ckpt, *split;
    const char *sets[MAX_SETS];
    int nsets;
    int resume, fresh, quiet, help;
    int batch, length, steps, threads, folds;
} cli;

static int parse_int(const char *flag, const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1 << 30) {
        fprintf(stderr, "resecg: %s: expected a positive integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses the options shared by all commands; -1 on a usage error. */
static int cli_parse(cli *c, int argc, char **argv, const char *usage)
{
    memset(c, 0, sizeof *c);
    c->device = "cpu";
    c->batch = 32;
    c->length = 8960;
    c->steps = 5;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                                      \
    do {                                                                                \
        if (!next) {                                                                    \
            fprintf(stderr, "resecg: %s needs a value\n%s", a, usage);                  \
            return -1;                                                                  \
        }                                                                               \
        i++;                                                                            \
    } while (0)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            c->help = 1;
        } else if (strcmp(a, "--config") == 0) {
            NEED_VALUE;
            c->config = next;
        } else if (strcmp(a, "--set") == 0) {
            NEED_VALUE;
            if (c->nsets == MAX_SETS) {
                fprintf(stderr, "resecg: more than %d --set options\n", MAX_SETS);
                return -1;
            }
            c->sets[c->nsets++] = next;
        } else if (strcmp(a, "--data") == 0) {
            NEED_VALUE;
            c->data = next;
        } else if (strcmp(a, "--out") == 0) {
            NEED_VALUE;
            c->out = next;
        } else if (strcmp(a, "--device") == 0) {
            NEED_VALUE;
            c->device = next;
        } else if (strcmp(a, "--ckpt") == 0) {
            NEED_VALUE;
            c->ckpt = next;
        } else if (strcmp(a, "--split") == 0) {
            NEED_VALUE;
            if (strcmp(next, "dev") != 0 && strcmp(next, "all") != 0) {
                fprintf(stderr, "resecg: --split: expected dev or all, got '%s'\n", next);
                return -1;
            }
            c->split = next;
        } else if (strcmp(a, "--folds") == 0) {
            NEED_VALUE;
            if (parse_int(a, next, &c->folds) != 0)
                return -1;
        } else if (strcmp(a, "--resume") == 0) {
            c->resume = 1;
        } else if (strcmp(a, "--fresh") == 0) {
            c->fresh = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(a, "--batch") == 0) {
            NEED_VALUE;
            if (parse_int(a, next, &c->batch) != 0)
                return -1;
        } else if (strcmp(a, "--length") == 0) {
            NEED_VALUE;
            if (parse_int(a, next, &c->length) != 0)
                return -1;
        } else if (strcmp(a, "--steps") == 0) {
            NEED_VALUE;
            if (parse_int(a, next, &c->steps) != 0)
                return -1;
        } else if (strcmp(a, "--threads") == 0) {
            NEED_VALUE;
            if (parse_int(a, next, &c->threads) != 0)
                return -1;
        } else {
            fprintf(stderr, "resecg: unknown option '%s'\n%s", a, usage);
            return -1;
        }
#undef NEED_VALUE
    }
    return 0;
}

/* Defaults, then the YAML file, then --data, then every --set, then the
 * cross-field checks. */
static int load_config(resecg_config *cfg, const cli *c, rerr *e)
{
    config_defaults(cfg);
    if (config_load_file(cfg, c->config, e) != 0)
        return -1;
    if (c->data) {
        /* set directly, not through config_set: a path is not YAML */
        if (strlen(c->data) >= sizeof cfg->data.dir)
            return rerr_set(e, "--data %s: path too long", c->data);
        snprintf(cfg->data.source, sizeof cfg->data.source, "cinc17");
        snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s", c->data);
    }
    for (int i = 0; i < c->nsets; i++)
        if (config_set(cfg, c->sets[i], e) != 0)
            return -1;
    return config_validate(cfg, e);
}

static void print_metrics(const metrics *mt)
{
    printf("class  precision  recall     f1  support\n");
    for (int k = 0; k < mt->K; k++)
        printf("%-5s  %9.3f  %6.3f  %5.3f  %7ld\n", metrics_class_name(k), mt->precision[k],
               mt->recall[k], mt->f1[k], mt->support[k]);
    printf("CinC F1 (mean of N, A, O): %.3f   macro F1: %.3f   weighted F1: %.3f   "
           "accuracy: %.3f   records: %ld\n",
           mt->cinc_f1, mt->macro_f1, mt->weighted_f1, mt->accuracy, mt->total);
}

/* A configuration error found before any work: the device is unknown, or it
 * cannot run the network in train.precision here (bf16 on a CPU without
 * AVX512-BF16 or AMX). The feature-based model runs on the CPU in its own
 * arithmetic whatever train.precision says. */
static int config_device_check(const resecg_config *cfg, const char *device, rerr *e)
{
    if (cfg->model.type != MODEL_RESECG)
        return 0;
    return backend_check(device, cfg->train.precision, e);
}

static int cmd_train(int argc, char **argv)
{
    cli c;
    if (cli_parse(&c, argc, argv, usage_train) != 0)
        return 2;
    if (c.help) {
        fputs(usage_train, stdout);
        return 0;
    }
    if (!c.config) {
        fprintf(stderr, "resecg train: --config FILE is required\n%s", usage_train);
        return 2;
    }
    rerr e = {{0}};
    resecg_config cfg;
    if (load_config(&cfg, &c, &e) != 0 || config_device_check(&cfg, c.device, &e) != 0) {
        fprintf(stderr, "resecg train: %s\n", e.msg);
        return 2;
    }
    char out[1100];
    if (c.out) {
        snprintf(out, sizeof out, "%s", c.out);
    } else {
        const char *base = strrchr(c.config, '/');
        base = base ? base + 1 : c.config;
        int n = (int)strcspn(base, ".");
        snprintf(out, sizeof out, "runs/%.*s", n, base);
    }
    train_opts o = {
        .out_dir = out,
        .device = c.device,
        .resume = c.resume,
        .fresh = c.fresh,
        .progress = !c.quiet && isatty(2),
        .quiet = c.quiet,
    };
    train_result res;
    if (train_run(&cfg, &o, &res, &e) != 0) {
        fprintf(stderr, "resecg train: %s\n", e.msg);
        return 1;
    }
    if (cfg.model.type == MODEL_FEATURES)
        printf("run directory: %s (features + %d boosting rounds, %.1f s)\n", out,
               cfg.features.trees, res.seconds);
    else
        printf("run directory: %s (best epoch %d of %d, %.1f s)\n", out, res.best_epoch,
               res.epochs_run, res.seconds);
    print_metrics(&res.dev);
    return 0;
}

static int cmd_evaluate(int argc, char **argv)
{
    cli c;
    if (cli_parse(&c, argc, argv, usage_evaluate) != 0)
        return 2;
    if (c.help) {
        fputs(usage_evaluate, stdout);
        return 0;
    }
    if (!c.config || !c.ckpt) {
        fprintf(stderr, "resecg evaluate: --config FILE and --ckpt FILE are required\n%s",
                usage_evaluate);
        return 2;
    }
    rerr e = {{0}};
    resecg_config cfg;
    if (load_config(&cfg, &c, &e) != 0 || config_device_check(&cfg, c.device, &e) != 0) {
        fprintf(stderr, "resecg evaluate: %s\n", e.msg);
        return 2;
    }
    eval_opts o = {
        .ckpt = c.ckpt,
        .device = c.device,
        .out_dir = c.out,
        .all_records = c.split && strcmp(c.split, "all") == 0,
    };
    eval_result r;
    if (evaluate_run(&cfg, &o, &r, &e) != 0) {
        fprintf(stderr, "resecg evaluate: %s\n", e.msg);
        return 1;
    }
    if (r.info.skipped)
        fprintf(stderr, "%s\n", r.info.report);
    const char *what = strcmp(cfg.data.source, "cinc17") == 0 ? cfg.data.dir : "synthetic data";
    if (cfg.model.type == MODEL_FEATURES)
        printf("%s on %s: %d records (%s), gradient-boosted trees on ECG features, loss %.4f\n",
               c.ckpt, what, r.records, o.all_records ? "all records" : "dev split", r.loss);
    else
        printf("%s on %s: %d records (%s), normalised with the checkpoint's mean %.6g std %.6g, "
               "loss %.4f\n",
               c.ckpt, what, r.records, o.all_records ? "all records" : "dev split", r.mean,
               r.std, r.loss);
    print_metrics(&r.mt);
    return 0;
}

/* `resecg data split`: the config's split (or k folds) as a manifest. */
static int cmd_data(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs(usage_data, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "split") != 0) {
        fprintf(stderr, "resecg data: unknown subcommand '%s'\n%s", argv[0], usage_data);
        return 2;
    }
    cli c;
    if (cli_parse(&c, argc - 1, argv + 1, usage_data) != 0)
        return 2;
    if (c.help) {
        fputs(usage_data, stdout);
        return 0;
    }
    if (!c.config || !c.out) {
        fprintf(stderr, "resecg data split: --config FILE and --out FILE are required\n%s",
                usage_data);
        return 2;
    }
    rerr e = {{0}};
    resecg_config cfg;
    if (load_config(&cfg, &c, &e) != 0) {
        fprintf(stderr, "resecg data split: %s\n", e.msg);
        return 2;
    }
    cfg.data.manifest[0] = '\0'; /* compute the split, do not copy one */
    dataset ds;
    data_info info;
    /* the split depends on the record list and labels only: no resampling */
    if (data_load(&cfg, 0, &ds, &info, &e) != 0) {
        fprintf(stderr, "resecg data split: %s\n", e.msg);
        return 1;
    }
    if (info.skipped)
        fprintf(stderr, "%s\n", info.report);
    int rc = 1, K = ds.num_classes;
    int *part = malloc(sizeof *part * (size_t)(ds.n > 0 ? ds.n : 1));
    int *tr = NULL, *dv = NULL, ntr = 0, ndv = 0;
    if (!part) {
        fprintf(stderr, "resecg data split: out of memory\n");
        goto done;
    }
    int nparts = c.folds ? c.folds : 2;
    if (c.folds) {
        if (dataset_folds(&ds, c.folds, cfg.data.split == SPLIT_STRATIFIED, cfg.data.seed, part,
                          &e) != 0) {
            fprintf(stderr, "resecg data split: %s\n", e.msg);
            rc = 2;
            goto done;
        }
    } else {
        if (data_split(&cfg, &ds, &tr, &ntr, &dv, &ndv, &e) != 0) {
            fprintf(stderr, "resecg data split: %s\n", e.msg);
            goto done;
        }
        for (int i = 0; i < ntr; i++)
            part[tr[i]] = MANIFEST_TRAIN;
        for (int i = 0; i < ndv; i++)
            part[dv[i]] = MANIFEST_DEV;
    }
    if (manifest_write(c.out, &ds, part, &e) != 0) {
        fprintf(stderr, "resecg data split: %s\n", e.msg);
        goto done;
    }
    printf("%s: %d records, protocol %s, %s split, seed %llu\n", c.out, ds.n,
           config_protocol_name(cfg.data.protocol), config_split_name(cfg.data.split),
           (unsigned long long)cfg.data.seed);
    printf("%-6s %7s", "part", "records");
    for (int k = 0; k < K; k++)
        printf(" %6s", metrics_class_name(k));
    printf("\n");
    for (int p = 0; p < nparts; p++) {
        /* parts in file order: train, dev / folds 0..K-1 */
        int want = c.folds ? p : (p == 0 ? MANIFEST_TRAIN : MANIFEST_DEV);
        long counts[RESECG_MAX_CLASSES] = {0}, total = 0;
        for (int i = 0; i < ds.n; i++)
            if (part[i] == want) {
                counts[ds.recs[i].label]++;
                total++;
            }
        char name[24];
        if (c.folds)
            snprintf(name, sizeof name, "fold %d", p);
        else
            snprintf(name, sizeof name, "%s", p == 0 ? "train" : "dev");
        printf("%-6s %7ld", name, total);
        for (int k = 0; k < K; k++)
            printf(" %6ld", counts[k]);
        printf("\n");
    }
    rc = 0;
done:
    free(part);
    free(tr);
    free(dv);
    dataset_free(&ds);
    return rc;
}

/* CPU seconds used by the whole process (all threads) so far. */
static double bench_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmd_bench(int argc, char **argv)
{
    cli c;
    if (cli_parse(&c, argc, argv, usage_bench) != 0)
        return 2;
    if (c.help) {
        fputs(usage_bench, stdout);
        return 0;
    }
    if (!c.config) {
        fprintf(stderr, "resecg bench: --config FILE is required\n%s", usage_bench);
        return 2;
    }
    rerr e = {{0}};
    resecg_config cfg;
    if (load_config(&cfg, &c, &e) != 0 || config_device_check(&cfg, c.device, &e) != 0) {
        fprintf(stderr, "resecg bench: %s\n", e.msg);
        return 2;
    }
    if (c.threads)
        cfg.train.threads = c.threads;
    backend *be = backend_create(c.device, cfg.train.threads, cfg.train.precision, &e);
    if (!be) {
        fprintf(stderr, "resecg bench: %s\n", e.msg);
        return 1;
    }
    model m;
    adam opt;
    if (model_init(&m, &cfg.model, be, &e) != 0 ||
        model_reserve(&m, c.batch, c.length, &e) != 0 || adam_init(&opt, be, m.nparams, &e) != 0 ||
        model_init_weights(&m, cfg.train.seed, &e) != 0) {
        fprintf(stderr, "resecg bench: %s\n", e.msg);
        backend_destroy(be);
        return 1;
    }
    int T = c.length / m.frame, K = cfg.model.num_classes;
    float *x = malloc((size_t)c.batch * c.length * sizeof(float));
    int *labels = malloc((size_t)c.batch * T * sizeof(int));
    RESECG_ASSERT(x && labels);
    rng r;
    rng_seed(&r, 1);
    for (long i = 0; i < (long)c.batch * c.length; i++)
        x[i] = rng_normal(&r);
    for (int b = 0; b < c.batch; b++) {
        int lab = (int)rng_below(&r, (uint32_t)K);
        for (int t = 0; t < T; t++)
            labels[b * T + t] = lab;
    }
    loss_params lp;
    long counts[RESECG_MAX_CLASSES] = {1, 1, 1, 1, 1, 1, 1, 1};
    loss_params_from_config(&lp, &cfg.loss, K, counts);
    double t0 = 0, c0 = 0;
    float loss = 0;
    for (int s = 0; s <= c.steps; s++) {
        if (s == 1) {
            t0 = util_now(); /* step 0 warms up: primitive creation, page faults */
            c0 = bench_cpu_seconds();
        }
        model_forward(&m, x, c.batch, c.length, 1, (uint64_t)s);
        loss = be->loss_forward_backward(be, NULL, m.dlogits, m.logits, labels, c.batch * T, &lp);
        model_backward(&m);
        adam_step_clipped(&opt, be, m.params, m.grads, &cfg.optim, cfg.optim.lr);
    }
    double secs = util_now() - t0;
    double cpu_secs = bench_cpu_seconds() - c0;
    double sps = c.batch * c.steps / secs;
    double gflops = 3.0 * model_flops_forward(&m, c.length) * sps / 1e9;
    printf("bench: device %s, threads %d, %ld parameters, batch %d x %d samples, %d steps\n",
           be->name, cfg.train.threads, m.nparams, c.batch, c.length, c.steps);
    printf("  %.2f samples/s   %.1f ms/step   %.1f GFLOP/s   peak RSS %.2f GB   final loss %.4f\n",
           sps, 1e3 * secs / c.steps, gflops, (double)util_peak_rss() / 1e9, (double)loss);
    // process CPU time: with one thread, a figure that other processes
    // sharing the cores do not inflate (threads > 1 add their spin-waits)
    printf("  process CPU time %.1f ms/step\n", 1e3 * cpu_secs / c.steps);
    const char *note = backend_speed_note(be->name, cfg.train.precision);
    if (note)
        printf("  note: %s\n", note);
    if (strncmp(be->name, "cpu", 3) == 0) {
        // against the machine: a large matrix product in the same library
        double peak = onednn_sgemm_gflops(4096);
        printf("  machine peak %.1f GFLOP/s (dnnl_sgemm 4096^3, same threads): this run %.0f%% of it\n",
               peak, peak > 0 ? 100.0 * gflops / peak : 0.0);
    }
    free(x);
    free(labels);
    adam_free(&opt, be);
    model_free(&m);
    backend_destroy(be);
    return 0;
}

/* A Release build's baseline is x86-64-v3 (CMakeLists.txt): where the CPU
 * lacks AVX2 or FMA, stop with a message before any code built for them
 * runs, instead of dying of SIGILL somewhere in a job. This function itself
 * is compiled for the plain x86-64 baseline. */
#if defined(__x86_64__) && defined(__AVX2__)
__attribute__((constructor(101), target("arch=x86-64"))) static void cpu_baseline_check(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return;
    static const char msg[] =
        "resecg: this build needs an x86-64-v3 CPU (AVX2 and FMA: Intel Haswell, AMD Excavator "
        "or later), which this one is not; build resecg on this machine with "
        "cmake -DRESECG_NATIVE=ON\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        // nothing else to say it with
    }
    _exit(1);
}
#endif

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("resecg %s\n", RESECG_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (strcmp(argv[1], "evaluate") == 0)
        return cmd_evaluate(argc - 2, argv + 2);
    if (strcmp(argv[1], "data") == 0)
        return cmd_data(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0)
        return cmd_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "sweep") == 0)
        return cmd_sweep(argc - 2, argv + 2);
    if (strcmp(argv[1], "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    fprintf(stderr, "resecg: unknown command '%s'\n%s", argv[1], usage_main);
    return 2;
}

/* Gradient-boosted trees on ECG features (see trees.h): the data pipeline of
 * train.c, the features of feat.c, XGBoost 1.7's C API for training and
 * prediction, and the run directory.
 *
 * XGBoost settings and why: objective multi:softprob (class probabilities,
 * log loss, as the network's softmax cross-entropy); tree_method hist
 * (histograms of 256 bins: 400 rounds on the 7,674 CinC records' features
 * take 0.43 s against exact's 1.84 s on one thread; the method XGBoost 2
 * makes its default, and, like exact, deterministic on the CPU for a given
 * seed and thread count); seed = train.seed mod 2^31 (XGBoost
 * seeds a 32-bit Mersenne Twister with it); nthread = train.threads (0: all
 * cores). A missing feature (NAN) takes the branch XGBoost learnt for
 * missing values. Class weights (loss.kind weighted) are instance weights:
 * each training record weighs its class's weight, exactly the factor the
 * network's weighted loss puts on its frames. */
#include "baseline/trees.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "baseline/feat.h"
#include "baseline/xgbjson.h"
#include "data/load.h"
#include "nn/loss.h"
#include "run/rundir.h"

#define TREES_FORMAT "resecg-features-1"
#define TREES_LOG_EVERY 50 /* rounds between train/dev log-loss lines */

/* XGBoost's last error as one line: its messages start with a time stamp
 * and the C++ source position and end with a stack trace. */
static const char *xgb_error(char *buf, size_t n)
{
    const char *m = XGBGetLastError();
    if (m[0] == '[') { /* "[03:51:30] ./include/xgboost/json.h:81: what" */
        const char *p = strstr(m, "] ");
        if (p) {
            const char *q = strstr(p + 2, ": ");
            m = q ? q + 2 : p + 2;
        }
    }
    size_t len = strcspn(m, "\n");
    while (len > 0 && (m[len - 1] == ' ' || m[len - 1] == '\r'))
        len--;
    snprintf(buf, n, "%.*s", (int)len, m);
    return buf;
}

/* Fails the enclosing function (goto done, which returns -1 unless rc was
 * set) with XGBoost's message and where the call was. */
#define XGB_CHECK(call)                                                                       \
    do {                                                                                      \
        if ((call) != 0) {                                                                    \
            char xmsg_[512];                                                                  \
            rerr_set(e, "XGBoost (%s:%d): %s", __FILE__, __LINE__,                            \
                     xgb_error(xmsg_, sizeof xmsg_));                                         \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

/* The shortest %g text that reads back as v (0.05, not 0.0500000007): for
 * XGBoost's parameters, which it parses as floats, and for the log. */
static void float_text(char *buf, size_t n, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

/* "hr_mean,rr_sd,...": the model's record of the features it was trained on. */
static void feature_list(char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < FEAT_N && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? "," : "", feat_name(i));
}

/* A DMatrix of the rows (n, FEAT_N), NAN = missing, with the feature names
 * and, when labels is not NULL, labels and (weights not NULL) weights. */
static int make_dmatrix(const float *x, int n, const int *labels, const float *weights,
                        int threads, DMatrixHandle *out, rerr *e)
{
    DMatrixHandle d = NULL;
    const char *names[FEAT_N];
    float *lab = NULL;
    int rc = -1;
    *out = NULL;
    for (int i = 0; i < FEAT_N; i++)
        names[i] = feat_name(i);
    XGB_CHECK(XGDMatrixCreateFromMat_omp(x, (bst_ulong)n, FEAT_N, NAN, &d, threads));
    XGB_CHECK(XGDMatrixSetStrFeatureInfo(d, "feature_name", names, FEAT_N));
    if (labels) {
        lab = malloc(sizeof *lab * (size_t)(n > 0 ? n : 1));
        if (!lab) {
            rerr_set(e, "out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++)
            lab[i] = (float)labels[i];
        XGB_CHECK(XGDMatrixSetFloatInfo(d, "label", lab, (bst_ulong)n));
        if (weights)
            XGB_CHECK(XGDMatrixSetFloatInfo(d, "weight", weights, (bst_ulong)n));
    }
    *out = d;
    d = NULL;
    rc = 0;
done:
    if (d)
        XGDMatrixFree(d);
    free(lab);
    return rc;
}

/* Class probabilities (n, K) of the rows of d into probs. */
static int predict(BoosterHandle b, DMatrixHandle d, int n, int K, float *probs, rerr *e)
{
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    int rc = -1;
    XGB_CHECK(XGBoosterPredictFromDMatrix(
        b, d, "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
              "\"strict_shape\": true}",
        &shape, &dim, &res));
    if (dim != 2 || shape[0] != (bst_ulong)n || shape[1] != (bst_ulong)K) {
        rerr_set(e, "XGBoost returned predictions of shape (%llu, %llu), expected (%d, %d): a "
                    "model for another number of classes?",
                 dim > 0 ? (unsigned long long)shape[0] : 0ULL,
                 dim > 1 ? (unsigned long long)shape[1] : 0ULL, n, K);
        goto done;
    }
    memcpy(probs, res, sizeof *probs * (size_t)n * (size_t)K);
    rc = 0;
done:
    return rc;
}

/* Record predictions (argmax, ties to the lower class as metrics_record_vote),
 * metrics, and the mean of w_label * -log p_label over the records: the
 * loss the trees minimise, on the network's scale (loss.h: Keras sample
 * weights, divided by the count). */
static double score(const float *probs, const int *truth, int n, int K, const loss_params *lp,
                    int *pred, metrics *mt)
{
    metrics_init(mt, K);
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * K;
        pred[i] = metrics_record_vote(p, 1, K, NULL);
        metrics_add(mt, truth[i], pred[i]);
        double pt = p[truth[i]] > 1e-15f ? p[truth[i]] : 1e-15;
        loss -= lp->weight[truth[i]] * log(pt);
    }
    metrics_finish(mt);
    return n ? loss / n : 0.0;
}

/* Loads a booster of K classes from a model file's bytes. */
static int booster_load(const char *path, const char *bytes, size_t len, int K, int threads,
                        BoosterHandle *out, rerr *e)
{
    BoosterHandle b = NULL;
    char nt[32];
    int rc = -1;
    *out = NULL;
    /* models are written as JSON; anything else would reach XGBoost's
     * binary reader, which takes arbitrary bytes for a length */
    size_t sp = 0;
    while (sp < len && isspace((unsigned char)bytes[sp]))
        sp++;
    if (sp == len || bytes[sp] != '{') {
        rerr_set(e, "%s: not a resecg feature model (expected XGBoost's JSON model format)", path);
        goto done;
    }
    /* XGBoost trusts the trees it reads (xgbjson.h): check them first */
    if (xgbjson_check(bytes, len, FEAT_N, K, path, e) != 0)
        goto done;
    XGB_CHECK(XGBoosterCreate(NULL, 0, &b));
    if (XGBoosterLoadModelFromBuffer(b, bytes, (bst_ulong)len) != 0) {
        char xm[512];
        rerr_set(e, "%s: not an XGBoost model: %s", path, xgb_error(xm, sizeof xm));
        goto done;
    }
    snprintf(nt, sizeof nt, "%d", threads);
    XGB_CHECK(XGBoosterSetParam(b, "nthread", nt));
    *out = b;
    b = NULL;
    rc = 0;
done:
    if (b)
        XGBoosterFree(b);
    return rc;
}

/* The model must be ours and know exactly this extractor's features. */
static int booster_check(BoosterHandle b, const char *path, rerr *e)
{
    const char *v = NULL;
    int ok = 0, rc = -1;
    char want[4096];
    XGB_CHECK(XGBoosterGetAttr(b, "resecg_format", &v, &ok));
    if (!ok || strcmp(v, TREES_FORMAT) != 0) {
        rerr_set(e, "%s: not a resecg feature model (attribute resecg_format is %s%s%s, expected %s)",
                 path, ok ? "'" : "missing", ok ? v : "", ok ? "'" : "", TREES_FORMAT);
        goto done;
    }
    feature_list(want, sizeof want);
    XGB_CHECK(XGBoosterGetAttr(b, "resecg_features", &v, &ok));
    if (!ok || strcmp(v, want) != 0) {
        rerr_set(e, "%s: the model was trained on other features than this build computes "
                    "(retrain it): model '%.200s', build '%.200s'",
                 path, ok ? v : "", want);
        goto done;
    }
    rc = 0;
done:
    return rc;
}

/* features.csv: record,label,split,<features>; %.9g (exact for a float),
 * an empty field for a missing value. */
static int features_csv_write(const char *path, const dataset *ds, const float *f,
                              const unsigned char *is_dev, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    fputs("record,label,split", af.fp);
    for (int k = 0; k < FEAT_N; k++)
        fprintf(af.fp, ",%s", feat_name(k));
    fputc('\n', af.fp);
    for (int i = 0; i < ds->n; i++) {
        const record *r = &ds->recs[i];
        util_csv_field(af.fp, r->name, 1);
        fprintf(af.fp, ",%s,%s", metrics_class_name(r->label), is_dev[i] ? "dev" : "train");
        for (int k = 0; k < FEAT_N; k++) {
            float v = f[(size_t)i * FEAT_N + k];
            if (isnan(v))
                fputc(',', af.fp);
            else
                fprintf(af.fp, ",%.9g", (double)v);
        }
        fputc('\n', af.fp);
    }
    return afile_commit(&af, e);
}

/* rows (n, FEAT_N) = the features of records idx[0..n) taken from all (ds->n, FEAT_N). */
static void gather(const float *all, const int *idx, int n, float *rows)
{
    for (int i = 0; i < n; i++)
        memcpy(rows + (size_t)i * FEAT_N, all + (size_t)idx[i] * FEAT_N, sizeof(float) * FEAT_N);
}

static int threads_of(const resecg_config *cfg)
{
    return cfg->train.threads > 0 ? cfg->train.threads : omp_get_max_threads();
}

/* The features with the most total gain, for the log. */
static void log_importance(BoosterHandle b, FILE *log, int quiet)
{
    bst_ulong nf = 0, dim = 0;
    const char **names = NULL;
    const bst_ulong *shape = NULL;
    const float *sc = NULL;
    if (XGBoosterFeatureScore(b, "{\"importance_type\": \"total_gain\"}", &nf, &names, &dim, &shape,
                              &sc) != 0 ||
        nf == 0)
        return;
    double total = 0.0;
    for (bst_ulong i = 0; i < nf; i++)
        total += sc[i];
    int shown[FEAT_N] = {0};
    char line[1024];
    size_t o = (size_t)snprintf(line, sizeof line, "most useful features (share of total gain):");
    for (int r = 0; r < 10 && r < (int)nf; r++) {
        int best = -1;
        for (int i = 0; i < (int)nf && i < FEAT_N; i++)
            if (!shown[i] && (best < 0 || sc[i] > sc[best]))
                best = i;
        if (best < 0)
            break;
        shown[best] = 1;
        if (o < sizeof line)
            o += (size_t)snprintf(line + o, sizeof line - o, " %s %.1f%%", names[best],
                                  total > 0 ? 100.0 * sc[best] / total : 0.0);
    }
    rundir_log(log, quiet, "%s\n", line);
}

/* One training run of the trees: what its steps share. */
typedef struct trees_run {
    const resecg_config *cfg;
    const train_opts *o;
    int K, nt; /* classes, XGBoost threads */
    dataset ds;
    int *tr, *dv, ntr, ndv;
    data_info info;
    FILE *log;
    char data_fp[RUNDIR_FP_SIZE];
    /* features (all: ds.n rows; tr, dv: the splits'), labels, instance
     * weights, predictions and class probabilities of each split */
    float *fall, *ftr, *fdv, *wtr, *ptr, *pdv;
    int *ltr, *ldv, *pred_tr, *pred_dv;
    unsigned char *is_dev;
    loss_params lp;
    DMatrixHandle dtr, ddv;
    BoosterHandle bst, saved; /* trained; read back from model.json's bytes */
    char *model_bytes;
} trees_run;

static void trees_run_free(trees_run *r)
{
    if (r->bst)
        XGBoosterFree(r->bst);
    if (r->saved)
        XGBoosterFree(r->saved);
    if (r->dtr)
        XGDMatrixFree(r->dtr);
    if (r->ddv)
        XGDMatrixFree(r->ddv);
    free(r->model_bytes);
    free(r->fall);
    free(r->ftr);
    free(r->fdv);
    free(r->wtr);
    free(r->ltr);
    free(r->ldv);
    free(r->pred_tr);
    free(r->pred_dv);
    free(r->ptr);
    free(r->pdv);
    free(r->is_dev);
    free(r->tr);
    free(r->dv);
    dataset_free(&r->ds);
    if (r->log)
        fclose(r->log);
}

/* The data, the run directory and the run's first lines in train.log. */
static int trees_run_open(trees_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const train_opts *o = r->o;
    /* the data as it is now, before it is read */
    if (rundir_data_fingerprint(cfg, r->data_fp, e) != 0)
        return -1;
    if (data_load_train(cfg, &r->ds, &r->tr, &r->ntr, &r->dv, &r->ndv, &r->info, e) != 0 ||
        rundir_open(o->out_dir, cfg, NULL, &r->log, e) != 0)
        return -1;
    if (r->info.skipped)
        rundir_log(r->log, o->quiet, "%s\n", r->info.report);
    const data_config *dc = &cfg->data;
    char split_desc[1200];
    data_split_text(cfg, split_desc, sizeof split_desc);
    int cinc = strcmp(dc->source, "cinc17") == 0;
    rundir_log(r->log, o->quiet,
               "data: %s%s%s, protocol %s: %d records at %d Hz, whole (the features need no "
               "frames%s), %s (%.1fs)\n",
               dc->source, cinc ? " " : "", cinc ? dc->dir : "", config_protocol_name(dc->protocol),
               r->info.loaded, dc->sample_rate,
               dc->resample_length > 0 ? "; data.resample_length is for the network" : "",
               split_desc, r->info.seconds);
    if (o->device && strcmp(o->device, "cpu") != 0 && strcmp(o->device, "cpu-ref") != 0)
        rundir_log(r->log, o->quiet, "device %s: the trees train on the CPU\n", o->device);
    if (o->resume)
        rundir_log(r->log, o->quiet,
                   "--resume: the trees keep no partial state; training from the start\n");
    return 0;
}

/* The features of every record, once (logged, features.csv), split into
 * the training and dev matrices with their labels and, for loss.kind
 * weighted, the training records' class weights. */
static int trees_run_features(trees_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const dataset *ds = &r->ds;
    int ntr = r->ntr, ndv = r->ndv, K = r->K;
    size_t nall = (size_t)(ds->n > 0 ? ds->n : 1);
    r->fall = malloc(sizeof *r->fall * nall * FEAT_N);
    r->ftr = malloc(sizeof *r->ftr * (size_t)ntr * FEAT_N);
    r->fdv = malloc(sizeof *r->fdv * (size_t)ndv * FEAT_N);
    r->wtr = malloc(sizeof *r->wtr * (size_t)ntr);
    r->ltr = malloc(sizeof *r->ltr * (size_t)ntr);
    r->ldv = malloc(sizeof *r->ldv * (size_t)ndv);
    r->pred_tr = malloc(sizeof *r->pred_tr * (size_t)ntr);
    r->pred_dv = malloc(sizeof *r->pred_dv * (size_t)ndv);
    r->ptr = malloc(sizeof *r->ptr * (size_t)ntr * K);
    r->pdv = malloc(sizeof *r->pdv * (size_t)ndv * K);
    r->is_dev = calloc(nall, 1);
    int *all = malloc(sizeof *all * nall);
    if (!r->fall || !r->ftr || !r->fdv || !r->wtr || !r->ltr || !r->ldv || !r->pred_tr ||
        !r->pred_dv || !r->ptr || !r->pdv || !r->is_dev || !all) {
        free(all);
        return rerr_set(e, "out of memory for the features of %d records", ds->n);
    }
    for (int i = 0; i < ds->n; i++)
        all[i] = i;
    double fsec = 0.0;
    int frc = feat_dataset(ds, all, ds->n, cfg->data.sample_rate, cfg->train.threads, r->fall,
                           &fsec, e);
    free(all);
    if (frc != 0)
        return -1;
    for (int i = 0; i < ndv; i++)
        r->is_dev[r->dv[i]] = 1;
    char missing[1024] = "";
    size_t mo = 0;
    for (int k = 0; k < FEAT_N; k++) {
        int m = 0;
        for (int i = 0; i < ds->n; i++)
            m += isnan(r->fall[(size_t)i * FEAT_N + k]);
        if (m > 0 && mo < sizeof missing)
            mo += (size_t)snprintf(missing + mo, sizeof missing - mo, "%s%s %d", mo ? ", " : "",
                                   feat_name(k), m);
    }
    rundir_log(r->log, r->o->quiet, "features: %d per record, %d records in %.2fs on %d threads%s%s\n",
               FEAT_N, ds->n, fsec, r->nt, mo ? "; undefined (missing) values: " : "", missing);
    char path[4096];
    util_path_join(path, sizeof path, r->o->out_dir, RUNDIR_FEATURES);
    if (features_csv_write(path, ds, r->fall, r->is_dev, e) != 0)
        return -1;
    gather(r->fall, r->tr, ntr, r->ftr);
    gather(r->fall, r->dv, ndv, r->fdv);
    for (int i = 0; i < ntr; i++)
        r->ltr[i] = ds->recs[r->tr[i]].label;
    for (int i = 0; i < ndv; i++)
        r->ldv[i] = ds->recs[r->dv[i]].label;

    /* class weights from the training records, as the network's loss */
    long counts[RESECG_MAX_CLASSES] = {0};
    dataset_class_counts(ds, r->tr, ntr, counts);
    loss_params_from_config(&r->lp, &cfg->loss, K, counts);
    for (int i = 0; i < ntr; i++)
        r->wtr[i] = r->lp.weight[r->ltr[i]];
    int weighted = cfg->loss.kind == LOSS_WEIGHTED;
    if (make_dmatrix(r->ftr, ntr, r->ltr, weighted ? r->wtr : NULL, r->nt, &r->dtr, e) != 0 ||
        make_dmatrix(r->fdv, ndv, r->ldv, NULL, r->nt, &r->ddv, e) != 0)
        return -1;
    return 0;
}

/* The booster with features.* as XGBoost's parameters (logged), boosted
 * features.trees rounds, the train and dev log loss every
 * TREES_LOG_EVERY. */
static int trees_run_boost(trees_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const features_config *fc = &cfg->features;
    int rc = -1, K = r->K;
    char v[9][32];
    snprintf(v[0], 32, "%d", K);
    snprintf(v[1], 32, "%d", fc->depth);
    float_text(v[2], 32, fc->eta);
    float_text(v[3], 32, fc->subsample);
    float_text(v[4], 32, fc->colsample);
    float_text(v[5], 32, fc->min_child_weight);
    float_text(v[6], 32, fc->lambda);
    snprintf(v[7], 32, "%llu", (unsigned long long)(cfg->train.seed % 2147483648ULL));
    snprintf(v[8], 32, "%d", r->nt);
    const char *params[][2] = {
        {"objective", "multi:softprob"}, {"num_class", v[0]},      {"eval_metric", "mlogloss"},
        {"tree_method", "hist"},         {"max_depth", v[1]},      {"eta", v[2]},
        {"subsample", v[3]},             {"colsample_bytree", v[4]}, {"min_child_weight", v[5]},
        {"lambda", v[6]},                {"seed", v[7]},           {"nthread", v[8]},
        {"verbosity", "1"},
    };
    XGB_CHECK(XGBoosterCreate(&r->dtr, 1, &r->bst));
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        XGB_CHECK(XGBoosterSetParam(r->bst, params[i][0], params[i][1]));
    const char *names[FEAT_N];
    for (int i = 0; i < FEAT_N; i++)
        names[i] = feat_name(i);
    XGB_CHECK(XGBoosterSetStrFeatureInfo(r->bst, "feature_name", names, FEAT_N));
    rundir_log(r->log, r->o->quiet,
               "resecg train: %d train / %d dev records, gradient-boosted trees (XGBoost, hist): "
               "%d rounds x %d classes, depth %d, eta %s, subsample %s, colsample %s, "
               "min_child_weight %s, lambda %s, seed %s, %d threads, loss %s\n",
               r->ntr, r->ndv, fc->trees, K, fc->depth, v[2], v[3], v[4], v[5], v[6], v[7], r->nt,
               config_loss_name(cfg->loss.kind));
    if (cfg->loss.kind == LOSS_WEIGHTED) {
        char wl[256];
        size_t wo = 0;
        for (int k = 0; k < K && wo < sizeof wl; k++)
            wo += (size_t)snprintf(wl + wo, sizeof wl - wo, " %s %.4g", metrics_class_name(k),
                                   (double)r->lp.weight[k]);
        rundir_log(r->log, r->o->quiet, "class weights (instance weights):%s\n", wl);
    }
    double tb = util_now();
    DMatrixHandle evm[2] = {r->dtr, r->ddv};
    const char *evn[2] = {"train", "dev"};
    for (int it = 0; it < fc->trees; it++) {
        XGB_CHECK(XGBoosterUpdateOneIter(r->bst, it, r->dtr));
        if ((it + 1) % TREES_LOG_EVERY == 0 || it + 1 == fc->trees) {
            const char *ev = NULL;
            XGB_CHECK(XGBoosterEvalOneIter(r->bst, it, evm, evn, 2, &ev));
            /* ev: "[it]\ttrain-mlogloss:x\tdev-mlogloss:y" (unweighted) */
            const char *a = strstr(ev, "train-mlogloss:"), *b = strstr(ev, "dev-mlogloss:");
            rundir_log(r->log, r->o->quiet,
                       "round %4d/%d  train mlogloss %.4f  dev mlogloss %.4f  %.1fs\n", it + 1,
                       fc->trees, a ? strtod(a + 15, NULL) : NAN, b ? strtod(b + 13, NULL) : NAN,
                       util_now() - tb);
        }
    }
    rc = 0;
done:
    return rc;
}

/* model.json, and the booster read back from its bytes (r->saved), whose
 * predictions the run reports. */
static int trees_run_save(trees_run *r, rerr *e)
{
    int rc = -1;
    const char *buf = NULL;
    bst_ulong buflen = 0;
    char flist[4096], path[4096];
    feature_list(flist, sizeof flist);
    XGB_CHECK(XGBoosterSetAttr(r->bst, "resecg_format", TREES_FORMAT));
    XGB_CHECK(XGBoosterSetAttr(r->bst, "resecg_features", flist));
    XGB_CHECK(XGBoosterSaveModelToBuffer(r->bst, "{\"format\": \"json\"}", &buflen, &buf));
    r->model_bytes = malloc((size_t)buflen + 1);
    if (!r->model_bytes) {
        rerr_set(e, "out of memory");
        goto done;
    }
    memcpy(r->model_bytes, buf, (size_t)buflen);
    util_path_join(path, sizeof path, r->o->out_dir, RUNDIR_MODEL_JSON);
    if (util_write_file_atomic(path, r->model_bytes, (size_t)buflen, e) != 0)
        goto done;
    if (booster_load(path, r->model_bytes, (size_t)buflen, r->K, r->nt, &r->saved, e) != 0 ||
        booster_check(r->saved, path, e) != 0)
        goto done;
    rc = 0;
done:
    return rc;
}

int trees_train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e)
{
    double t0 = util_now();
    memset(res, 0, sizeof *res);
    int rc = -1;
    trees_run *r = calloc(1, sizeof *r);
    if (!r)
        return rerr_set(e, "out of memory");
    r->cfg = cfg;
    r->o = o;
    r->K = cfg->model.num_classes;
    r->nt = threads_of(cfg);
    const int K = r->K;
    if (trees_run_open(r, e) != 0 || trees_run_features(r, e) != 0 || trees_run_boost(r, e) != 0 ||
        trees_run_save(r, e) != 0)
        goto done;
    if (predict(r->saved, r->dtr, r->ntr, K, r->ptr, e) != 0 ||
        predict(r->saved, r->ddv, r->ndv, K, r->pdv, e) != 0)
        goto done;
    metrics mtr, mdv;
    double train_loss = score(r->ptr, r->ltr, r->ntr, K, &r->lp, r->pred_tr, &mtr);
    double dev_loss = score(r->pdv, r->ldv, r->ndv, K, &r->lp, r->pred_dv, &mdv);
    log_importance(r->saved, r->log, o->quiet);

    /* one epochs.csv row, so the report's epochs, best epoch and wall time
     * columns (and the scheduler's live table) read as for the network */
    sbuf row = {0};
    sbuf_puts(&row, RUNDIR_EPOCHS_HEADER);
    rundir_epoch_row(&row, 1, train_loss, dev_loss, (double)cfg->features.eta, &mdv, K,
                     util_now() - t0);
    int wrc = rundir_epochs_write(o->out_dir, &row, e);
    free(row.p);
    if (wrc != 0 ||
        rundir_results_write(o->out_dir, &r->ds, r->dv, r->ndv, r->pred_dv, r->pdv, K, &mdv, e) != 0)
        goto done;
    int nres;
    const char *const *results = rundir_results(cfg->model.type, &nres);
    if (rundir_complete_write(o->out_dir, r->data_fp, results, nres, e) != 0)
        goto done;

    res->epochs_run = 1;
    res->best_epoch = 1;
    res->best_dev_loss = dev_loss;
    res->first_train_loss = res->last_train_loss = train_loss;
    res->dev = mdv;
    res->seconds = util_now() - t0;
    rundir_log(r->log, o->quiet,
               "trees: train loss %.4f (cinc_f1 %.3f), dev loss %.4f  cinc_f1 %.3f  F1 N %.3f "
               "A %.3f O %.3f ~ %.3f  macro_f1 %.3f  (%.1fs)\n",
               train_loss, mtr.cinc_f1, dev_loss, mdv.cinc_f1, mdv.f1[0], K > 1 ? mdv.f1[1] : 0,
               K > 2 ? mdv.f1[2] : 0, K > 3 ? mdv.f1[3] : 0, mdv.macro_f1, res->seconds);
    rc = 0;
done:
    if (rc != 0 && r->log)
        fprintf(r->log, "error: %s\n", e ? e->msg : "");
    trees_run_free(r);
    free(r);
    return rc;
}

int trees_evaluate_run(const resecg_config *cfg, const eval_opts *o, eval_result *r, rerr *e)
{
    dataset ds = {0};
    int *tr = NULL, *dv = NULL, ntr = 0, ndv = 0, rc = -1;
    int *lab = NULL, *pred = NULL;
    float *f = NULL, *probs = NULL;
    char *bytes = NULL;
    size_t len = 0;
    BoosterHandle b = NULL;
    DMatrixHandle d = NULL;
    const int K = cfg->model.num_classes;
    int nt = threads_of(cfg);
    memset(r, 0, sizeof *r);
    r->mean = 0.0;
    r->std = 1.0;

    if (util_read_file_kind(o->ckpt, UTIL_MODEL, 0, &bytes, &len, e) != 0)
        goto done;
    if (booster_load(o->ckpt, bytes, len, K, nt, &b, e) != 0 || booster_check(b, o->ckpt, e) != 0)
        goto done;
    if (data_load_eval(cfg, o->all_records, &ds, &tr, &ntr, &dv, &ndv, &r->info, e) != 0)
        goto done;
    f = malloc(sizeof *f * (size_t)ndv * FEAT_N);
    probs = malloc(sizeof *probs * (size_t)ndv * K);
    lab = malloc(sizeof *lab * (size_t)ndv);
    pred = malloc(sizeof *pred * (size_t)ndv);
    if (!f || !probs || !lab || !pred) {
        rerr_set(e, "out of memory");
        goto done;
    }
    if (feat_dataset(&ds, dv, ndv, cfg->data.sample_rate, cfg->train.threads, f, NULL, e) != 0)
        goto done;
    for (int i = 0; i < ndv; i++)
        lab[i] = ds.recs[dv[i]].label;
    if (make_dmatrix(f, ndv, NULL, NULL, nt, &d, e) != 0)
        goto done;
    if (predict(b, d, ndv, K, probs, e) != 0) {
        rerr_prefix(e, "%s", o->ckpt);
        goto done;
    }
    /* the loss with the training split's class weights, as evaluate_run */
    long counts[RESECG_MAX_CLASSES] = {0};
    if (ntr > 0)
        dataset_class_counts(&ds, tr, ntr, counts);
    else
        dataset_class_counts(&ds, dv, ndv, counts);
    loss_params lp;
    loss_params_from_config(&lp, &cfg->loss, K, counts);
    r->loss = score(probs, lab, ndv, K, &lp, pred, &r->mt);
    r->records = ndv;
    if (o->out_dir && (util_mkdir_p(o->out_dir, e) != 0 ||
                       rundir_results_write(o->out_dir, &ds, dv, ndv, pred, probs, K, &r->mt, e) != 0))
        goto done;
    rc = 0;
done:
    if (b)
        XGBoosterFree(b);
    if (d)
        XGDMatrixFree(d);
    free(bytes);
    free(f);
    free(probs);
    free(lab);
    free(pred);
    free(tr);
    free(dv);
    dataset_free(&ds);
    return rc;
}

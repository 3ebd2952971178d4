/* The run directory (rundir.h): opening it, its writers, the completion
 * record and the data fingerprint, and what an earlier run's files mean. */
#include "run/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cinc17.h"

#define RUNDIR_MAX_FILES 16

int rundir_open(const char *dir, const resecg_config *cfg, const char *note, FILE **log, rerr *e)
{
    char path[4096];
    if (util_mkdir_p(dir, e) != 0)
        return -1;
    util_path_join(path, sizeof path, dir, RUNDIR_LOG);
    int fd = util_open(path, O_WRONLY | O_CREAT | O_APPEND, UTIL_NOFOLLOW, e);
    if (fd < 0)
        return -1;
    *log = fdopen(fd, "a");
    if (!*log) {
        close(fd);
        return rerr_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    util_path_join(path, sizeof path, dir, RUNDIR_CONFIG);
    return config_write_note(cfg, path, note, e);
}

void rundir_log(FILE *log, int quiet, const char *fmt, ...)
{
    va_list ap;
    if (!quiet) {
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    if (log) {
        va_start(ap, fmt);
        vfprintf(log, fmt, ap);
        va_end(ap);
        fflush(log);
    }
}

void rundir_epoch_row(sbuf *rows, int epoch, double train_loss, double dev_loss, double lr,
                      const metrics *mt, int K, double seconds)
{
    sbuf_printf(rows, "%d,%.6f,%.6f,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f\n", epoch,
                train_loss, dev_loss, lr, mt->f1[0], K > 1 ? mt->f1[1] : 0, K > 2 ? mt->f1[2] : 0,
                K > 3 ? mt->f1[3] : 0, mt->cinc_f1, mt->macro_f1, mt->weighted_f1, seconds);
}

int rundir_epochs_write(const char *dir, const sbuf *rows, rerr *e)
{
    char path[4096];
    util_path_join(path, sizeof path, dir, RUNDIR_EPOCHS);
    if (rows->oom || !rows->p)
        return rerr_set(e, "%s: out of memory", path);
    return util_write_file_atomic(path, rows->p, rows->len, e);
}

int rundir_normalization_write(const char *dir, double mean, double std, rerr *e)
{
    char path[4096], text[128];
    util_path_join(path, sizeof path, dir, RUNDIR_NORMALIZATION);
    int n = snprintf(text, sizeof text, "mean,std\n%.17g,%.17g\n", mean, std);
    return util_write_file_atomic(path, text, (size_t)n, e);
}

/* predictions.csv: record,label,pred,p_N,... (rundir_results_write) */
static int predictions_write(const char *path, const dataset *ds, const int *idx, int n,
                             const int *pred, const float *probs, int K, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    fprintf(af.fp, "record,label,pred");
    for (int k = 0; k < K; k++)
        fprintf(af.fp, ",p_%s", metrics_class_name(k));
    fprintf(af.fp, "\n");
    for (int i = 0; i < n; i++) {
        const record *r = &ds->recs[idx[i]];
        util_csv_field(af.fp, r->name, 1); /* a name with a comma or quote stays one field */
        fprintf(af.fp, ",%s,%s", metrics_class_name(r->label), metrics_class_name(pred[i]));
        for (int k = 0; k < K; k++)
            fprintf(af.fp, ",%.6f", probs[(size_t)i * K + k]);
        fprintf(af.fp, "\n");
    }
    return afile_commit(&af, e);
}

int rundir_results_write(const char *dir, const dataset *ds, const int *idx, int n,
                         const int *pred, const float *probs, int K, const metrics *mt, rerr *e)
{
    char path[4096];
    util_path_join(path, sizeof path, dir, RUNDIR_PREDICTIONS);
    if (predictions_write(path, ds, idx, n, pred, probs, K, e) != 0)
        return -1;
    util_path_join(path, sizeof path, dir, RUNDIR_CONFUSION);
    if (metrics_write_confusion_csv(mt, path, e) != 0)
        return -1;
    util_path_join(path, sizeof path, dir, RUNDIR_F1);
    return metrics_write_f1_csv(mt, path, e);
}

static uint64_t fnv_str(uint64_t h, const char *s) { return util_fnv1a64(h, s, strlen(s) + 1); }

static long long file_size(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

int rundir_data_fingerprint(const resecg_config *cfg, char *fp, rerr *e)
{
    const data_config *d = &cfg->data;
    if (strcmp(d->source, "cinc17") != 0) {
        snprintf(fp, RUNDIR_FP_SIZE, "synthetic");
        return 0;
    }
    char path[1400];
    const char *labels = d->labels[0] ? d->labels : "REFERENCE-v3.csv";
    snprintf(path, sizeof path, "%s/%s", d->dir, labels);
    char *text = NULL;
    size_t len = 0;
    if (util_read_file_kind(path, UTIL_TEXT, 0, &text, &len, e) != 0)
        return -1;
    uint64_t h = fnv_str(UTIL_FNV1A64_INIT, labels);
    h = util_fnv1a64(h, text, len);
    cinc17_label *lab = NULL;
    int n = 0;
    cinc17_report rep;
    memset(&rep, 0, sizeof rep);
    /* with skip_bad the loader skips bad lines; so does the fingerprint */
    int rc = cinc17_parse_labels(text, len, path, &lab, &n, d->skip_bad ? &rep : NULL, e);
    free(text);
    if (rc != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        long long sz[2];
        static const char *ext[2] = {".mat", ".hea"};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/%s%s", d->dir, lab[i].record, ext[k]);
            sz[k] = file_size(path);
        }
        h = fnv_str(h, lab[i].record);
        h = util_fnv1a64(h, sz, sizeof sz);
    }
    free(lab);
    if (d->manifest[0]) {
        if (util_read_file_kind(d->manifest, UTIL_TEXT, 0, &text, &len, e) != 0)
            return -1;
        h = util_fnv1a64(h, "manifest", 8);
        h = util_fnv1a64(h, text, len);
        free(text);
    }
    snprintf(fp, RUNDIR_FP_SIZE, "cinc17-%016" PRIx64, h);
    return 0;
}

/* Size and hash of dir/name; -1 if it is not a readable regular file. */
static int file_sum(const char *dir, const char *name, long long *size, uint64_t *hash, rerr *e)
{
    char path[4200];
    if (util_path_join(path, sizeof path, dir, name) != 0)
        return rerr_set(e, "%s: path too long", dir);
    char *text = NULL;
    size_t len = 0;
    if (util_read_file_kind(path, UTIL_MODEL, UTIL_NOFOLLOW, &text, &len, e) != 0)
        return -1;
    *size = (long long)len;
    *hash = util_fnv1a64(UTIL_FNV1A64_INIT, text, len);
    free(text);
    return 0;
}

int rundir_complete_write(const char *dir, const char *data_fp, const char *const *files, int n,
                          rerr *e)
{
    char path[4200];
    if (util_path_join(path, sizeof path, dir, RUNDIR_COMPLETE) != 0)
        return rerr_set(e, "%s: path too long", dir);
    afile af;
    if (afile_open(&af, path, e) != 0)
        return -1;
    fprintf(af.fp, "# resecg: this run finished; its results are the files below, as they were\n"
                   "data\t%s\n", data_fp);
    for (int i = 0; i < n; i++) {
        long long size = 0;
        uint64_t hash = 0;
        if (file_sum(dir, files[i], &size, &hash, e) != 0) {
            afile_abort(&af);
            return -1;
        }
        fprintf(af.fp, "file\t%s\t%lld\t%016" PRIx64 "\n", files[i], size, hash);
    }
    return afile_commit(&af, e);
}

const char *const *rundir_results(model_type t, int *n)
{
    static const char *const net[] = {RUNDIR_CONFIG,      RUNDIR_EPOCHS,   RUNDIR_NORMALIZATION,
                                      RUNDIR_PREDICTIONS, RUNDIR_CONFUSION, RUNDIR_F1};
    static const char *const trees[] = {RUNDIR_CONFIG, RUNDIR_EPOCHS, RUNDIR_PREDICTIONS,
                                        RUNDIR_CONFUSION, RUNDIR_F1};
    if (t == MODEL_FEATURES) {
        *n = (int)(sizeof trees / sizeof trees[0]);
        return trees;
    }
    *n = (int)(sizeof net / sizeof net[0]);
    return net;
}

/* Reads complete.txt: the data fingerprint, then each "file" line checked
 * against the directory unless check is 0. */
static int complete_read(const char *dir, int check, char *fp, rerr *why)
{
    char path[4200];
    if (util_path_join(path, sizeof path, dir, RUNDIR_COMPLETE) != 0)
        return rerr_set(why, "%s: path too long", dir);
    struct stat st;
    if (lstat(path, &st) != 0)
        return rerr_set(why, "%s: no %s (not finished)", dir, RUNDIR_COMPLETE);
    char *text = NULL;
    size_t len = 0;
    if (util_read_file_kind(path, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, why) != 0)
        return -1;
    int rc = 0, nfiles = 0, lineno = 0;
    fp[0] = '\0';
    for (char *l = text; l && *l && rc == 0;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char name[256], hex[17];
        long long size;
        unsigned long long want;
        if (l[0] == '#' || l[0] == '\0') {
        } else if (strncmp(l, "data\t", 5) == 0 && strlen(l + 5) < RUNDIR_FP_SIZE) {
            snprintf(fp, RUNDIR_FP_SIZE, "%s", l + 5);
        } else if (sscanf(l, "file\t%255[^\t]\t%lld\t%16[0-9a-f-]", name, &size, hex) == 3 &&
                   !strchr(name, '/') && nfiles < RUNDIR_MAX_FILES) {
            nfiles++;
            int any_hash = strcmp(hex, "-") == 0; /* hand-made records (test stand-ins): size only */
            want = any_hash ? 0 : strtoull(hex, NULL, 16);
            long long got_size = 0;
            uint64_t got_hash = 0;
            rerr fe;
            if (!check) {
            } else if (file_sum(dir, name, &got_size, &got_hash, &fe) != 0) {
                rc = rerr_set(why, "%s: %s is gone or unreadable since the run ended (%s)", dir,
                              name, fe.msg);
            } else if (got_size != size || (!any_hash && got_hash != want)) {
                rc = rerr_set(why, "%s: %s changed since the run ended (%lld bytes, %lld recorded)",
                              dir, name, got_size, size);
            }
        } else {
            rc = rerr_set(why, "%s:%d: damaged", path, lineno);
        }
        l = nl ? nl + 1 : NULL;
    }
    free(text);
    if (rc == 0 && (!fp[0] || nfiles == 0))
        rc = rerr_set(why, "%s: damaged (no data or file lines)", path);
    return rc;
}

int rundir_is_complete(const char *dir, const char *want_fp, rerr *why)
{
    char fp[RUNDIR_FP_SIZE];
    if (complete_read(dir, 1, fp, why) != 0)
        return 0;
    if (want_fp && strcmp(fp, want_fp) != 0) {
        rerr_set(why, "%s: trained on other data (fingerprint %s; the data now: %s)", dir, fp,
                 want_fp);
        return 0;
    }
    return 1;
}

int rundir_recorded_fingerprint(const char *dir, char *fp, rerr *e)
{
    return complete_read(dir, 0, fp, e);
}

/* Every file a run writes into its directory; complete.txt and the end
 * results first. */
static const char *const run_files[] = {
    RUNDIR_COMPLETE, RUNDIR_F1,   RUNDIR_CONFUSION,     RUNDIR_PREDICTIONS, RUNDIR_CONFIG,
    RUNDIR_LOG,      RUNDIR_EPOCHS, RUNDIR_NORMALIZATION, RUNDIR_LAST,      RUNDIR_BEST,
    RUNDIR_MODEL_JSON, RUNDIR_FEATURES,
};
#define RUN_RESULTS 4 /* complete.txt, f1.csv, confusion.csv, predictions.csv */

int rundir_prepare(const char *dir, int resume, int fresh, rerr *e)
{
    if (resume && fresh)
        return rerr_set(e, "--resume and --fresh exclude each other");
    int n = (int)(sizeof run_files / sizeof run_files[0]);
    char path[4200];
    for (int i = 0; i < n; i++) {
        if (util_path_join(path, sizeof path, dir, run_files[i]) != 0)
            return rerr_set(e, "%s: path too long", dir);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (resume && i >= RUN_RESULTS)
            continue;
        if (resume || fresh) {
            if (unlink(path) != 0 && errno != ENOENT)
                return rerr_set(e, "%s: cannot remove: %s", path, strerror(errno));
            continue;
        }
        return rerr_set(e, "%s: holds a run already (%s): --resume continues it, --fresh starts "
                           "it over, or choose another --out", dir, run_files[i]);
    }
    return 0;
}

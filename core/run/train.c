/* The training loop and evaluation (see train.h for the run directory; the
 * data pipeline is data/load.c's, checkpoints are checkpoint.c's). */
#include "run/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "baseline/trees.h"
#include "data/load.h"
#include "nn/device.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "run/checkpoint.h"
#include "run/rundir.h"

/* Longest record among idx, trimmed to whole frames (at least one frame). */
static int max_trimmed_len(const dataset *ds, const int *idx, int n, int frame)
{
    int best = frame;
    for (int i = 0; i < n; i++) {
        int len = ds->recs[idx[i]].len / frame * frame;
        if (len > best)
            best = len;
    }
    return best;
}

/* ---- evaluation over a set of records ---- */

typedef struct eval_out {
    double loss;   /* mean over valid frames */
    metrics mt;
    float *probs;  /* (n, K) mean frame probabilities per record, or NULL */
    int *pred;     /* (n) record predictions, or NULL */
} eval_out;

/* pos (n) = positions into idx in by-length order (length, then index). */
static int eval_order(const dataset *ds, const int *idx, int n, int *pos, rerr *e)
{
    int *sorted = malloc(sizeof *sorted * (size_t)(n > 0 ? n : 1));
    int *where = malloc(sizeof *where * (size_t)(ds->n > 0 ? ds->n : 1));
    int rc = -1;
    if (!sorted || !where) {
        rerr_set(e, "out of memory for evaluation");
        goto done;
    }
    memcpy(sorted, idx, sizeof(int) * (size_t)n);
    if (dataset_sort_by_length(ds, sorted, n, e) != 0)
        goto done;
    for (int i = 0; i < n; i++)
        where[idx[i]] = i;
    for (int i = 0; i < n; i++)
        pos[i] = where[sorted[i]];
    rc = 0;
done:
    free(sorted);
    free(where);
    return rc;
}

/* The evaluation batch starting at position s of pos (eval_order of the n
 * records idx), at most cap records, into bidx; returns its size. */
static int eval_batch(const int *idx, const int *pos, int n, int s, int cap, int *bidx)
{
    int B = n - s < cap ? n - s : cap;
    for (int i = 0; i < B; i++)
        bidx[i] = idx[pos[s + i]];
    return B;
}

/* The distinct batch shapes (B x L) a run has fed the model, for train.log:
 * each is a set of convolution primitives (oneDNN) or algorithm searches
 * (cuDNN) the backend made. */
#define SHAPES_MAX 4096
typedef struct shape_set {
    int n, overflow;
    int BL[SHAPES_MAX][2];
} shape_set;

static void shapes_add(shape_set *ss, int B, int L)
{
    if (!ss)
        return;
    for (int i = 0; i < ss->n; i++)
        if (ss->BL[i][0] == B && ss->BL[i][1] == L)
            return;
    if (ss->n == SHAPES_MAX) {
        ss->overflow = 1;
        return;
    }
    ss->BL[ss->n][0] = B;
    ss->BL[ss->n][1] = L;
    ss->n++;
}

/* Evaluates the records idx in by-length batches (train.h: evaluate_run);
 * out->pred and out->probs stay in idx's order. */
static int eval_records(model *m, const dataset *ds, const int *idx, int n, float mean, float sd,
                        const loss_params *lp, batch *bt, eval_out *out, shape_set *shapes, rerr *e)
{
    backend *be = m->be;
    int K = m->cfg.num_classes, cap = bt->cap_B;
    size_t pbytes = (size_t)cap * (bt->cap_L / m->frame) * K * sizeof(float);
    float *pd = be->alloc(be, pbytes), *ph = malloc(pbytes);
    int *pos = malloc(sizeof *pos * (size_t)(n > 0 ? n : 1));
    int *bidx = malloc(sizeof *bidx * (size_t)cap);
    if (!pd || !ph || !pos || !bidx) {
        if (pd)
            be->free(be, pd);
        free(ph);
        free(pos);
        free(bidx);
        return rerr_set(e, "out of memory for evaluation");
    }
    if (eval_order(ds, idx, n, pos, e) != 0) {
        be->free(be, pd);
        free(ph);
        free(pos);
        free(bidx);
        return -1;
    }
    metrics_init(&out->mt, K);
    double loss_sum = 0;
    long frames = 0;
    for (int s = 0; s < n; s += cap) {
        int B = eval_batch(idx, pos, n, s, cap, bidx);
        batch_fill(bt, ds, bidx, B, m->frame, mean, sd);
        shapes_add(shapes, B, bt->L);
        model_forward(m, bt->x, B, bt->L, 0, 0);
        if (backend_failed(be, e)) {
            rerr_prefix(e, "evaluating a %d x %d batch", B, bt->L);
            break;
        }
        long valid = 0;
        for (int i = 0; i < B; i++)
            valid += bt->frames[i];
        float l = be->loss_forward_backward(be, pd, NULL, m->logits, bt->labels, B * bt->T, lp);
        loss_sum += (double)l * valid;
        frames += valid;
        be->download(be, ph, pd, (size_t)B * bt->T * K * sizeof(float));
        for (int i = 0; i < B; i++) {
            const float *p = ph + (size_t)i * bt->T * K;
            int pred = metrics_record_vote(p, bt->frames[i], K, NULL);
            metrics_add(&out->mt, ds->recs[bt->rec[i]].label, pred);
            int at = pos[s + i];
            if (out->pred)
                out->pred[at] = pred;
            if (out->probs) {
                for (int k = 0; k < K; k++) {
                    double acc = 0;
                    for (int t = 0; t < bt->frames[i]; t++)
                        acc += p[t * K + k];
                    out->probs[(size_t)at * K + k] = (float)(acc / bt->frames[i]);
                }
            }
        }
    }
    metrics_finish(&out->mt);
    out->loss = frames ? loss_sum / frames : 0;
    be->free(be, pd);
    free(ph);
    free(pos);
    free(bidx);
    return be->failure[0] ? -1 : 0;
}

/* ---- the run ---- */

int train_schedule_step(run_state *st, double dev_loss, int epoch, const train_config *tc,
                        const optim_config *oc, int *stop)
{
    int improved = dev_loss < st->best_loss;
    if (improved) {
        st->best_loss = dev_loss;
        st->best_epoch = epoch;
        st->es_wait = 0;
    } else if (++st->es_wait >= tc->early_stop_patience) {
        *stop = 1;
    }
    /* Keras ReduceLROnPlateau: an improvement is a drop of more than
     * min_delta = 1e-4; after `patience` epochs without one, lr *= factor. */
    if (dev_loss < st->plateau_best - 1e-4) {
        st->plateau_best = dev_loss;
        st->plateau_wait = 0;
    } else if (++st->plateau_wait >= oc->plateau_patience) {
        float nlr = st->lr * oc->plateau_factor;
        st->lr = nlr > oc->min_lr ? nlr : oc->min_lr;
        st->plateau_wait = 0;
    }
    return improved;
}

static void progress_bar(int epoch, int done, int total, double loss)
{
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\r  epoch %d [", epoch);
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d  loss %.4f ", done, total, loss);
    fflush(stderr);
}

static int save_last(model *m, const adam *a, const run_state *st, const char *path, double mean,
                     double sd, rerr *e)
{
    char v[8][64];
    snprintf(v[0], 64, "%d", st->epoch);
    snprintf(v[1], 64, "%d", a->t);
    snprintf(v[2], 64, "%.9g", st->lr);
    snprintf(v[3], 64, "%.17g", st->best_loss);
    snprintf(v[4], 64, "%d", st->best_epoch);
    snprintf(v[5], 64, "%.17g", st->plateau_best);
    snprintf(v[6], 64, "%d %d", st->plateau_wait, st->es_wait);
    char ms[2][64];
    snprintf(ms[0], 64, "%.17g", mean);
    snprintf(ms[1], 64, "%.17g", sd);
    const char *kv[] = {"format", CHECKPOINT_FORMAT, "epoch", v[0], "adam_step", v[1], "lr", v[2],
                        "best_dev_loss", v[3], "best_epoch", v[4], "plateau_best", v[5],
                        "waits", v[6], "norm_mean", ms[0], "norm_std", ms[1]};
    return checkpoint_save(m, a, path, kv, (int)(sizeof kv / sizeof kv[0] / 2), e);
}

static int save_best(model *m, const char *path, double mean, double sd, int epoch, rerr *e)
{
    char ms[3][64];
    snprintf(ms[0], 64, "%.17g", mean);
    snprintf(ms[1], 64, "%.17g", sd);
    snprintf(ms[2], 64, "%d", epoch);
    const char *kv[] = {"format", CHECKPOINT_FORMAT, "epoch", ms[2], "norm_mean", ms[0],
                        "norm_std", ms[1]};
    return checkpoint_save(m, NULL, path, kv, (int)(sizeof kv / sizeof kv[0] / 2), e);
}

static const char *meta_or(const st_file *f, const char *key, const char *dflt)
{
    const char *v = st_meta_get(f, key);
    return v ? v : dflt;
}

/* Restores the loop state and the epochs.csv rows of an interrupted run. */
static int resume_state(model *m, adam *a, run_state *st, const char *dir, sbuf *rows, rerr *e)
{
    char path[4096];
    util_path_join(path, sizeof path, dir, RUNDIR_LAST);
    st_file f;
    if (st_read(&f, path, e) != 0)
        return -1;
    /* the metadata is checked here, the tensors by checkpoint_load */
    if (checkpoint_validate(&f, NULL, 0, path, e) != 0) {
        st_free(&f);
        return -1;
    }
    if (strcmp(meta_or(&f, "format", ""), CHECKPOINT_FORMAT) != 0) {
        st_free(&f);
        return rerr_set(e, "%s: not a resecg training checkpoint", path);
    }
    /* absent keys keep their old defaults; present ones passed the table */
    st->epoch = atoi(meta_or(&f, "epoch", "0"));
    a->t = atoi(meta_or(&f, "adam_step", "0"));
    st->lr = strtof(meta_or(&f, "lr", "0"), NULL);
    st->best_loss = strtod(meta_or(&f, "best_dev_loss", "inf"), NULL);
    st->best_epoch = atoi(meta_or(&f, "best_epoch", "0"));
    st->plateau_best = strtod(meta_or(&f, "plateau_best", "inf"), NULL);
    sscanf(meta_or(&f, "waits", "0 0"), "%d %d", &st->plateau_wait, &st->es_wait);
    st_free(&f);
    if (!(st->lr > 0)) /* lr absent: a file no resecg version wrote */
        return rerr_set(e, "%s: metadata lr: missing", path);
    if (checkpoint_load(m, a, path, e) != 0)
        return -1;
    /* keep the header and the first `epoch` rows of epochs.csv */
    util_path_join(path, sizeof path, dir, RUNDIR_EPOCHS);
    FILE *fp = util_fopen_read(path, UTIL_NOFOLLOW, e);
    if (!fp)
        return -1;
    char line[4096];
    int kept = 0;
    if (!fgets(line, sizeof line, fp)) {
        fclose(fp);
        return rerr_set(e, "%s: empty", path);
    }
    sbuf_puts(rows, line);
    while (kept < st->epoch && fgets(line, sizeof line, fp)) {
        sbuf_puts(rows, line);
        kept++;
    }
    fclose(fp);
    if (kept != st->epoch)
        return rerr_set(e, "%s: has %d epoch rows, the checkpoint says %d", path, kept, st->epoch);
    return 0;
}

/* One training run of the network: what its steps share. */
typedef struct net_run {
    const resecg_config *cfg;
    const train_opts *o;
    dataset ds;
    int *tr, *dv, ntr, ndv;
    data_info info;
    backend *be;
    model m;
    adam opt;
    batch bt;
    FILE *log;
    sbuf rows; /* epochs.csv, rewritten whole after every epoch */
    epoch_batches eb;
    double mean, sd; /* normalisation, from the training split */
    loss_params lp;
    run_state st;
    shape_set *train_shapes, *dev_shapes;
    float *rec_probs; /* (ndv, K) and (ndv): the final evaluation's per record */
    int *rec_pred;
    char data_fp[RUNDIR_FP_SIZE];
    char numerics[1200]; /* "numerics: ...": train.log and config.yaml */
    int shapes_prepared, shapes_known; /* net_run_prepare's, for the log */
} net_run;

static void net_run_free(net_run *r)
{
    free(r->train_shapes);
    free(r->dev_shapes);
    free(r->rec_probs);
    free(r->rec_pred);
    free(r->rows.p);
    batch_free(&r->bt);
    if (r->be) {
        adam_free(&r->opt, r->be);
        model_free(&r->m);
        backend_destroy(r->be);
    }
    epoch_batches_free(&r->eb);
    free(r->tr);
    free(r->dv);
    dataset_free(&r->ds);
    if (r->log)
        fclose(r->log);
}

/* The batch shapes of epoch 1's training batches (by-length batches are
 * the same groups every epoch, random ones differ and are built on first
 * use) and of the dev evaluation, prepared before the first step as far
 * as the backend keeps them (be->prepare_cap): what they need is made,
 * and any lack of memory found, now rather than mid-run. */
static int net_run_prepare(net_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    int Bcap = cfg->train.batch_size, rc = -1;
    shape_set *ss = calloc(1, sizeof *ss);
    int *pos = malloc(sizeof *pos * (size_t)(r->ndv > 0 ? r->ndv : 1));
    int *bidx = malloc(sizeof *bidx * (size_t)Bcap);
    if (!ss || !pos || !bidx) {
        rerr_set(e, "out of memory");
        goto done;
    }
    if (epoch_batches_fill(&r->eb, &r->ds, r->tr, r->ntr, Bcap,
                           cfg->data.batching == BATCH_BY_LENGTH, cfg->train.drop_last,
                           cfg->train.seed, 1, e) != 0 ||
        eval_order(&r->ds, r->dv, r->ndv, pos, e) != 0)
        goto done;
    for (int b = 0; b < r->eb.nb; b++) {
        int B = r->eb.start[b + 1] - r->eb.start[b];
        shapes_add(ss, B, batch_length(&r->bt, &r->ds, r->eb.idx + r->eb.start[b], B, r->m.frame));
    }
    for (int s = 0; s < r->ndv; s += Bcap) {
        int B = eval_batch(r->dv, pos, r->ndv, s, Bcap, bidx);
        shapes_add(ss, B, batch_length(&r->bt, &r->ds, bidx, B, r->m.frame));
    }
    int per = 1 + 2 * r->m.nblocks; /* convolutions of one batch shape */
    int fit = r->be->prepare_cap > 0 ? r->be->prepare_cap / per : ss->n;
    r->shapes_known = ss->n;
    for (int i = 0; i < ss->n && i < fit; i++) {
        if (model_prepare(&r->m, ss->BL[i][0], ss->BL[i][1], e) != 0)
            goto done;
        r->shapes_prepared++;
    }
    rc = 0;
done:
    free(ss);
    free(pos);
    free(bidx);
    return rc;
}

/* The data, the run directory, the backend and model (every shape reserved),
 * the normalisation and the loss: everything before the first epoch. */
static int net_run_open(net_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const train_opts *o = r->o;
    r->train_shapes = calloc(1, sizeof *r->train_shapes);
    r->dev_shapes = calloc(1, sizeof *r->dev_shapes);
    if (!r->train_shapes || !r->dev_shapes)
        return rerr_set(e, "out of memory");
    /* the data as it is now, before it is read: what complete.txt vouches for */
    if (rundir_data_fingerprint(cfg, r->data_fp, e) != 0)
        return -1;
    /* what decides the numbers besides the config: in train.log and, as a
     * comment, in config.yaml */
    char numerics[1024];
    backend_numerics(o->device, numerics, sizeof numerics);
    snprintf(r->numerics, sizeof r->numerics, "numerics: precision %s, %s",
             config_precision_name(cfg->train.precision), numerics);
    if (data_load_train(cfg, &r->ds, &r->tr, &r->ntr, &r->dv, &r->ndv, &r->info, e) != 0 ||
        rundir_open(o->out_dir, cfg, r->numerics, &r->log, e) != 0)
        return -1;

    r->be = backend_create(o->device, cfg->train.threads, cfg->train.precision, e);
    if (!r->be || model_init(&r->m, &cfg->model, r->be, e) != 0)
        return -1;
    int cap_L = max_trimmed_len(&r->ds, r->tr, r->ntr, r->m.frame);
    int dev_L = max_trimmed_len(&r->ds, r->dv, r->ndv, r->m.frame);
    if (dev_L > cap_L)
        cap_L = dev_L;
    int Bcap = cfg->train.batch_size;
    if (model_reserve(&r->m, Bcap, cap_L, e) != 0 || adam_init(&r->opt, r->be, r->m.nparams, e) != 0 ||
        batch_init(&r->bt, Bcap, cap_L, e) != 0)
        return -1;
    r->bt.buckets = cfg->data.length_buckets;
    if (model_init_weights(&r->m, cfg->train.seed, e) != 0)
        return -1;

    /* normalisation from the training split only (awni/ecg's Preproc fits
     * on the training records; increase24's code normalised its dev set with
     * the dev set's own statistics, which we do not copy) */
    dataset_stats(&r->ds, r->tr, r->ntr, &r->mean, &r->sd);
    if (!(r->sd > 0))
        r->sd = 1;
    if (rundir_normalization_write(o->out_dir, r->mean, r->sd, e) != 0)
        return -1;
    long counts[RESECG_MAX_CLASSES] = {0};
    dataset_class_counts(&r->ds, r->tr, r->ntr, counts);
    loss_params_from_config(&r->lp, &cfg->loss, cfg->model.num_classes, counts);

    int K = cfg->model.num_classes;
    r->rec_probs = malloc((size_t)r->ndv * K * sizeof(float));
    r->rec_pred = malloc((size_t)r->ndv * sizeof(int));
    if (!r->rec_probs || !r->rec_pred)
        return rerr_set(e, "out of memory");
    if (epoch_batches_init(&r->eb, r->ntr, e) != 0)
        return -1;
    return r->be->conv1d_prepare ? net_run_prepare(r, e) : 0;
}

/* The loop state: fresh, or an interrupted run's (--resume); then the
 * run's first lines in train.log. */
static int net_run_start(net_run *r, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const train_opts *o = r->o;
    r->st = (run_state){.lr = cfg->optim.lr, .best_loss = INFINITY, .plateau_best = INFINITY};
    if (o->resume) {
        if (resume_state(&r->m, &r->opt, &r->st, o->out_dir, &r->rows, e) != 0)
            return -1;
        rundir_log(r->log, o->quiet, "resumed %s after epoch %d (lr %.3g)\n", o->out_dir,
                   r->st.epoch, r->st.lr);
    } else {
        sbuf_puts(&r->rows, RUNDIR_EPOCHS_HEADER);
    }
    if (r->info.skipped)
        rundir_log(r->log, o->quiet, "%s\n", r->info.report);
    const data_config *dc = &cfg->data;
    char split_desc[1200], resampled[64] = "";
    if (dc->resample_length > 0)
        snprintf(resampled, sizeof resampled, ", resampled to %d", dc->resample_length);
    data_split_text(cfg, split_desc, sizeof split_desc);
    int cinc = strcmp(dc->source, "cinc17") == 0;
    rundir_log(r->log, o->quiet,
               "data: %s%s%s, protocol %s: %d records trimmed to multiples of %d samples%s, %s, "
               "%s batches%s; normalisation mean %.6g std %.6g (%.1fs)\n",
               dc->source, cinc ? " " : "", cinc ? dc->dir : "", config_protocol_name(dc->protocol),
               r->info.loaded, r->info.frame, resampled, split_desc,
               config_batching_name(dc->batching),
               cfg->train.drop_last ? " (last partial dropped)" : "", r->mean, r->sd,
               r->info.seconds);
    /* the per-class factors the loss applies (balanced weights are computed
     * from this split, so the config alone does not say them) */
    char factors[40 * RESECG_MAX_CLASSES] = "";
    if (cfg->loss.kind != LOSS_CE) {
        size_t fo = (size_t)snprintf(factors, sizeof factors, " (%s",
                                     cfg->loss.kind == LOSS_FOCAL ? "alpha" : "class weights");
        for (int k = 0; k < r->lp.K && fo < sizeof factors; k++)
            fo += (size_t)snprintf(factors + fo, sizeof factors - fo, " %s %.4g",
                                   metrics_class_name(k), (double)r->lp.weight[k]);
        if (cfg->loss.kind == LOSS_FOCAL && fo < sizeof factors)
            fo += (size_t)snprintf(factors + fo, sizeof factors - fo, ", gamma %g",
                                   (double)r->lp.gamma);
        if (fo < sizeof factors)
            snprintf(factors + fo, sizeof factors - fo, ")");
    }
    rundir_log(r->log, o->quiet,
               "resecg train: %d train / %d dev records, %ld parameters, device %s, loss %s%s, "
               "batch %d, up to %d epochs\n",
               r->ntr, r->ndv, r->m.nparams, r->be->name, config_loss_name(cfg->loss.kind),
               factors, cfg->train.batch_size, cfg->train.max_epochs);
    rundir_log(r->log, o->quiet, "%s\n", r->numerics);
    const char *note = backend_speed_note(o->device, cfg->train.precision);
    if (note)
        rundir_log(r->log, o->quiet, "note: %s\n", note);
    if (r->shapes_known)
        rundir_log(r->log, o->quiet,
                   "prepared %d of %d batch shapes (epoch 1 and dev) before the first step%s\n",
                   r->shapes_prepared, r->shapes_known,
                   r->shapes_prepared < r->shapes_known ? "; the rest are built on first use" : "");
    return 0;
}

/* Epoch ep's training batches; *train_loss = their mean loss. */
static int net_run_train_epoch(net_run *r, int ep, double *train_loss, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    backend *be = r->be;
    int Bcap = cfg->train.batch_size;
    /* the epoch's batches depend only on (seed, epoch): a resumed run
     * continues exactly as an uninterrupted one */
    if (epoch_batches_fill(&r->eb, &r->ds, r->tr, r->ntr, Bcap,
                           cfg->data.batching == BATCH_BY_LENGTH, cfg->train.drop_last,
                           cfg->train.seed, ep, e) != 0)
        return -1;
    int nb = r->eb.nb;
    double loss_sum = 0;
    for (int b = 0; b < nb; b++) {
        int B = r->eb.start[b + 1] - r->eb.start[b];
        batch_fill(&r->bt, &r->ds, r->eb.idx + r->eb.start[b], B, r->m.frame, (float)r->mean,
                   (float)r->sd);
        shapes_add(r->train_shapes, B, r->bt.L);
        model_forward(&r->m, r->bt.x, B, r->bt.L, 1,
                      rng_hash3(cfg->train.seed, (uint64_t)ep, (uint64_t)b));
        if (backend_failed(be, e))
            return rerr_prefix(e, "epoch %d batch %d (%d x %d samples)", ep, b + 1, B, r->bt.L);
        float l = be->loss_forward_backward(be, NULL, r->m.dlogits, r->m.logits, r->bt.labels,
                                            B * r->bt.T, &r->lp);
        if (!isfinite(l))
            return rerr_set(e, "epoch %d batch %d: the loss is %g (diverged); lower optim.lr", ep,
                            b + 1, (double)l);
        model_backward(&r->m);
        if (backend_failed(be, e))
            return rerr_prefix(e, "epoch %d batch %d (%d x %d samples)", ep, b + 1, B, r->bt.L);
        adam_step_clipped(&r->opt, be, r->m.params, r->m.grads, &cfg->optim, r->st.lr);
        loss_sum += l;
        if (r->o->progress)
            progress_bar(ep, b + 1, nb, loss_sum / (b + 1));
    }
    if (r->o->progress)
        fprintf(stderr, "\r%*s\r", 70, "");
    *train_loss = loss_sum / nb;
    return 0;
}

/* Epoch ep's end: the schedule on its dev loss, best.safetensors when it is
 * the best so far, its epochs.csv row, last.safetensors, its log line. */
static int net_run_end_epoch(net_run *r, int ep, double train_loss, const eval_out *ev,
                             double secs, int *stop, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const char *dir = r->o->out_dir;
    int K = cfg->model.num_classes;
    char path[4096];
    r->st.epoch = ep;
    float lr_used = r->st.lr;
    /* a training loss can stay finite while the model's outputs are
     * not: a dev loss that is not a number is divergence too (it used to
     * end, epochs later, in "best.safetensors: cannot open") */
    if (!isfinite(ev->loss))
        return rerr_set(e, "epoch %d: the dev loss is %g (training diverged); lower optim.lr", ep,
                        ev->loss);
    int improved = train_schedule_step(&r->st, ev->loss, ep, &cfg->train, &cfg->optim, stop);
    util_path_join(path, sizeof path, dir, RUNDIR_BEST);
    if (improved && save_best(&r->m, path, r->mean, r->sd, ep, e) != 0)
        return -1;
    const metrics *mt = &ev->mt;
    rundir_epoch_row(&r->rows, ep, train_loss, ev->loss, (double)lr_used, mt, K, secs);
    if (rundir_epochs_write(dir, &r->rows, e) != 0)
        return -1;
    util_path_join(path, sizeof path, dir, RUNDIR_LAST);
    if (save_last(&r->m, &r->opt, &r->st, path, r->mean, r->sd, e) != 0)
        return -1;
    rundir_log(r->log, r->o->quiet,
               "epoch %3d/%d  train_loss %.4f  dev_loss %.4f  cinc_f1 %.3f  F1 N %.3f A %.3f "
               "O %.3f ~ %.3f  lr %.2g  %.1fs%s\n",
               ep, cfg->train.max_epochs, train_loss, ev->loss, mt->cinc_f1, mt->f1[0],
               K > 1 ? mt->f1[1] : 0, K > 2 ? mt->f1[2] : 0, K > 3 ? mt->f1[3] : 0,
               (double)lr_used, secs, improved ? "  *best" : "");
    if (*stop)
        rundir_log(r->log, r->o->quiet, "early stop: no dev-loss improvement for %d epochs\n",
                   cfg->train.early_stop_patience);
    return 0;
}

/* The run's end results from the best checkpoint, then complete.txt. */
static int net_run_finish(net_run *r, train_result *res, double t0, rerr *e)
{
    const resecg_config *cfg = r->cfg;
    const char *dir = r->o->out_dir;
    char path[4096];
    util_path_join(path, sizeof path, dir, RUNDIR_BEST);
    if (checkpoint_load(&r->m, NULL, path, e) != 0)
        return -1;
    eval_out ev = {.probs = r->rec_probs, .pred = r->rec_pred};
    if (eval_records(&r->m, &r->ds, r->dv, r->ndv, (float)r->mean, (float)r->sd, &r->lp, &r->bt,
                     &ev, r->dev_shapes, e) != 0 ||
        rundir_results_write(dir, &r->ds, r->dv, r->ndv, ev.pred, ev.probs, cfg->model.num_classes,
                             &ev.mt, e) != 0)
        return -1;
    int nres;
    const char *const *results = rundir_results(cfg->model.type, &nres);
    if (rundir_complete_write(dir, r->data_fp, results, nres, e) != 0)
        return -1;
    res->epochs_run = r->st.epoch;
    res->best_epoch = r->st.best_epoch;
    res->best_dev_loss = r->st.best_loss;
    res->dev = ev.mt;
    res->seconds = util_now() - t0;
    rundir_log(r->log, r->o->quiet,
               "best epoch %d: dev_loss %.4f  cinc_f1 %.3f  macro_f1 %.3f  (%.1fs)\n",
               r->st.best_epoch, r->st.best_loss, ev.mt.cinc_f1, ev.mt.macro_f1, res->seconds);
    res->train_shapes = r->train_shapes->n;
    res->dev_shapes = r->dev_shapes->n;
    rundir_log(r->log, r->o->quiet,
               "shapes: %d%s distinct batch shapes (B x L) in training, %d%s in evaluation "
               "(data.length_buckets %d): each one a set of convolution primitives or algorithm "
               "searches\n",
               r->train_shapes->n, r->train_shapes->overflow ? "+" : "", r->dev_shapes->n,
               r->dev_shapes->overflow ? "+" : "", cfg->data.length_buckets);
    return 0;
}

int train_run(const resecg_config *cfg, const train_opts *o, train_result *res, rerr *e)
{
    /* the trees keep no partial state: resuming them is starting over */
    int trees = cfg->model.type == MODEL_FEATURES;
    if (rundir_prepare(o->out_dir, o->resume && !trees, o->fresh || (o->resume && trees), e) != 0)
        return -1;
    if (trees)
        return trees_train_run(cfg, o, res, e);
    double t0 = util_now();
    memset(res, 0, sizeof *res);
    net_run *r = calloc(1, sizeof *r);
    if (!r)
        return rerr_set(e, "out of memory");
    r->cfg = cfg;
    r->o = o;
    int rc = -1, stop = 0;
    if (net_run_open(r, e) != 0 || net_run_start(r, e) != 0)
        goto done;
    while (!stop && r->st.epoch < cfg->train.max_epochs) {
        int ep = r->st.epoch + 1;
        double te = util_now(), train_loss = 0;
        if (net_run_train_epoch(r, ep, &train_loss, e) != 0)
            goto done;
        if (ep == 1 || res->first_train_loss == 0)
            res->first_train_loss = train_loss;
        res->last_train_loss = train_loss;
        eval_out ev = {0};
        if (eval_records(&r->m, &r->ds, r->dv, r->ndv, (float)r->mean, (float)r->sd, &r->lp,
                         &r->bt, &ev, r->dev_shapes, e) != 0 ||
            net_run_end_epoch(r, ep, train_loss, &ev, util_now() - te, &stop, e) != 0)
            goto done;
    }
    if (net_run_finish(r, res, t0, e) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && r->log)
        fprintf(r->log, "error: %s\n", e ? e->msg : "");
    net_run_free(r);
    free(r);
    return rc;
}

int evaluate_run(const resecg_config *cfg, const eval_opts *o, eval_result *r, rerr *e)
{
    if (cfg->model.type == MODEL_FEATURES)
        return trees_evaluate_run(cfg, o, r, e);
    dataset ds = {0};
    int *tr = NULL, *dv = NULL, ntr = 0, ndv = 0, rc = -1;
    backend *be = NULL;
    model m = {0};
    batch bt = {0};
    float *probs = NULL;
    int *pred = NULL;
    st_file f = {0};
    int have_f = 0;
    memset(r, 0, sizeof *r);

    if (st_read(&f, o->ckpt, e) != 0)
        goto done;
    have_f = 1;
    /* the metadata now; the tensors once the model exists (checkpoint_load) */
    if (checkpoint_validate(&f, NULL, 0, o->ckpt, e) != 0)
        goto done;
    const char *ms = st_meta_get(&f, "norm_mean"), *ss = st_meta_get(&f, "norm_std");
    if (!ms || !ss) {
        rerr_set(e, "%s: metadata %s: missing (not a resecg checkpoint?)", o->ckpt,
                 ms ? "norm_std" : "norm_mean");
        goto done;
    }
    r->mean = strtod(ms, NULL);
    r->std = strtod(ss, NULL);
    if (data_load_eval(cfg, o->all_records, &ds, &tr, &ntr, &dv, &ndv, &r->info, e) != 0)
        goto done;
    be = backend_create(o->device, cfg->train.threads, cfg->train.precision, e);
    if (!be || model_init(&m, &cfg->model, be, e) != 0)
        goto done;
    // the capacity train_run had (training and dev records): with
    // data.length_buckets it caps the padded lengths, which must be the same
    // here for evaluate to reproduce the run's dev scores
    int cap_L = max_trimmed_len(&ds, dv, ndv, m.frame);
    int tr_L = max_trimmed_len(&ds, tr, ntr, m.frame);
    if (ntr > 0 && tr_L > cap_L)
        cap_L = tr_L;
    int Bcap = cfg->train.batch_size;
    if (model_reserve(&m, Bcap, cap_L, e) != 0 || batch_init(&bt, Bcap, cap_L, e) != 0)
        goto done;
    bt.buckets = cfg->data.length_buckets;
    if (checkpoint_load(&m, NULL, o->ckpt, e) != 0)
        goto done;
    long counts[RESECG_MAX_CLASSES] = {0};
    if (ntr > 0)
        dataset_class_counts(&ds, tr, ntr, counts);
    else
        dataset_class_counts(&ds, dv, ndv, counts);
    loss_params lp;
    loss_params_from_config(&lp, &cfg->loss, cfg->model.num_classes, counts);
    int K = cfg->model.num_classes;
    probs = malloc((size_t)ndv * K * sizeof(float));
    pred = malloc((size_t)ndv * sizeof(int));
    if (!probs || !pred) {
        rerr_set(e, "out of memory");
        goto done;
    }
    eval_out ev = {.probs = probs, .pred = pred};
    if (eval_records(&m, &ds, dv, ndv, (float)r->mean, (float)r->std, &lp, &bt, &ev, NULL, e) != 0)
        goto done;
    if (o->out_dir &&
        (util_mkdir_p(o->out_dir, e) != 0 ||
         rundir_normalization_write(o->out_dir, r->mean, r->std, e) != 0 ||
         rundir_results_write(o->out_dir, &ds, dv, ndv, pred, probs, K, &ev.mt, e) != 0))
        goto done;
    r->mt = ev.mt;
    r->loss = ev.loss;
    r->records = ndv;
    rc = 0;
done:
    if (have_f)
        st_free(&f);
    free(probs);
    free(pred);
    batch_free(&bt);
    if (be) {
        model_free(&m);
        backend_destroy(be);
    }
    free(tr);
    free(dv);
    dataset_free(&ds);
    return rc;
}

int evaluate_checkpoint(const resecg_config *cfg, const char *ckpt, const char *device,
                        const char *out_dir, metrics *mt, rerr *e)
{
    eval_opts o = {.ckpt = ckpt, .device = device, .out_dir = out_dir};
    eval_result r;
    if (evaluate_run(cfg, &o, &r, e) != 0)
        return -1;
    *mt = r.mt;
    return 0;
}

/* The output directory of a sweep (see sweep_dir.h). */
#define _GNU_SOURCE
#include "sweep_dir.h"

#include "run/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sweep_dir_lock(const char *root, int *fd_out, rerr *e)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/.lock", root);
    int fd = util_open(p, O_RDWR | O_CREAT, UTIL_NOFOLLOW, e);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return rerr_set(e, "%s is in use by another scheduler (pid %s)", root, pid);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* the lock holds without the pid; only messages lose it */
    }
    *fd_out = fd;
    return 0;
}

int sweep_dir_manifest(const char *root, const sweep *sw, const sweep_plan *plan, rerr *e)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/jobs.tsv", root);
    afile af;
    if (afile_open(&af, p, e))
        return -1;
    fprintf(af.fp, "# sweep %s from %s: id, variant, seed, overrides\n", sw->name, sw->path);
    char ov[2000], hex[13];
    for (size_t i = 0; i < plan->njobs; i++) {
        const sweep_job *j = &plan->jobs[i];
        sweep_id_hex(j->id, hex);
        sweep_job_overrides(plan, j, ov, sizeof ov);
        fprintf(af.fp, "%s\t%s\t%" PRIu64 "\t%s\n", hex, sweep_job_variant(plan, j), j->seed, ov);
    }
    return afile_commit(&af, e);
}

int sweep_dir_job_config(const sweep_plan *plan, const sweep_job *sj, const char *dir, rerr *e)
{
    char yaml[4300];
    if (util_mkdir_p(dir, e))
        return -1;
    /* a link planted where a job's directory belongs would send its files
     * (and their replacements) elsewhere */
    struct stat st;
    if (lstat(dir, &st) != 0)
        return rerr_set(e, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rerr_set(e, "%s: is %s, not a directory: a job's run directory is never used "
                           "through a link", dir, util_mode_name(st.st_mode));
    if (util_path_join(yaml, sizeof yaml, dir, RUNDIR_JOB_YAML))
        return rerr_set(e, "%s: path too long", dir);
    resecg_config cfg;
    if (sweep_job_config(plan, sj, &cfg, e))
        return -1;
    if (sweep_config_id(&cfg) != sj->id) {
        char hex[13];
        sweep_id_hex(sj->id, hex);
        return rerr_set(e, "internal error: job %s's config does not hash to its id", hex);
    }
    return config_write(&cfg, yaml, e);
}

int sweep_dir_check_data(const sweep *sw, rerr *e)
{
    struct stat st;
    if (sw->data && (stat(sw->data, &st) != 0 || !S_ISDIR(st.st_mode)))
        return rerr_set(e, "%s:%d:%d: data: %s is not a directory", sw->path, sw->data_mark.line,
                        sw->data_mark.col, sw->data);
    return 0;
}

int sweep_epoch_parse(const char *line, sweep_epoch *ep)
{
    return strncmp(line, "epoch", 5) == 0 &&
           sscanf(line, "epoch %d/%d train_loss %lf dev_loss %lf cinc_f1 %lf", &ep->epoch,
                  &ep->max_epochs, &ep->train_loss, &ep->dev_loss, &ep->cinc_f1) == 5;
}

void sweep_clock_text(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%H:%M:%S", &tm);
}

void sweep_vsay(const char *fmt, va_list ap)
{
    char when[16];
    sweep_clock_text(when, sizeof when);
    fprintf(stderr, "[%s] ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}


/* The fingerprint of the data job sj trains on, through the cache. */
static int job_fp(const sweep_plan *plan, const sweep_job *sj, sweep_done_cache *c, char *fp,
                  rerr *e)
{
    resecg_config cfg;
    if (sweep_job_config(plan, sj, &cfg, e))
        return -1;
    const data_config *d = &cfg.data;
    uint64_t key = UTIL_FNV1A64_INIT;
    const char *part[4] = {d->source, d->dir, d->labels, d->manifest};
    for (int i = 0; i < 4; i++)
        key = util_fnv1a64(key, part[i], strlen(part[i]) + 1);
    key = util_fnv1a64(key, &d->skip_bad, sizeof d->skip_bad);
    for (int i = 0; i < c->n; i++)
        if (c->key[i] == key) {
            snprintf(fp, RUNDIR_FP_SIZE, "%s", c->fp[i]);
            return 0;
        }
    if (rundir_data_fingerprint(&cfg, fp, e))
        return -1;
    if (c->n < 8) {
        c->key[c->n] = key;
        snprintf(c->fp[c->n], sizeof c->fp[c->n], "%s", fp);
        c->n++;
    }
    return 0;
}

static int dir_has(const char *dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

int sweep_job_done(const sweep_plan *plan, const sweep_job *sj, const char *dir,
                   sweep_done_cache *cache, rerr *why, rerr *e)
{
    if (!dir_has(dir, RUNDIR_COMPLETE))
        return dir_has(dir, RUNDIR_F1) ? SWEEP_LEGACY : SWEEP_NOT_DONE;
    char fp[RUNDIR_FP_SIZE];
    if (job_fp(plan, sj, cache, fp, e))
        return -1;
    return rundir_is_complete(dir, fp, why) ? SWEEP_DONE : SWEEP_STALE;
}

int sweep_dir_legacy_error(const char *root, int n, const char *first, const char *sweep_path,
                           const char *out, rerr *e)
{
    return rerr_set(e, "%s: %d finished job%s from an older resecg without %s (the first: %s): "
                       "`resecg sweep adopt %s --out %s` records them as finished on the data as "
                       "it is now, if that is the data they ran on; or remove their directories "
                       "to run them again",
                    root, n, n == 1 ? "" : "s", RUNDIR_COMPLETE, first, sweep_path, out);
}

int sweep_job_adopt(const sweep_plan *plan, const sweep_job *sj, const char *dir,
                    sweep_done_cache *cache, rerr *e)
{
    char p[4400], hex[13];
    sweep_id_hex(sj->id, hex);
    snprintf(p, sizeof p, "%s/" RUNDIR_CONFIG, dir);
    resecg_config cfg;
    config_defaults(&cfg);
    if (config_load_file(&cfg, p, e))
        return -1;
    if (sweep_config_id(&cfg) != sj->id)
        return rerr_set(e, "%s: not job %s's config (another job ran in this directory)", p, hex);
    char fp[RUNDIR_FP_SIZE];
    if (job_fp(plan, sj, cache, fp, e))
        return -1;
    int n;
    const char *const *results = rundir_results(cfg.model.type, &n);
    return rundir_complete_write(dir, fp, results, n, e);
}

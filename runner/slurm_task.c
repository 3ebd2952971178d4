/* `resecg sweep task`: what each task of a Slurm array of `resecg sweep run
 * --backend slurm` runs on its compute node (see slurm.h). It finds its
 * job on line SLURM_ARRAY_TASK_ID+1 of the submission's ids file, runs
 * `resecg train` for it with the output appended to the job's job.log,
 * passes on the signals scancel sends, and writes the job's slurm.exit
 * when it ends: the record the monitor judges a task by. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm.h"
#include "sweep_dir.h"
#include "run/rundir.h"

static volatile sig_atomic_t task_child;

static void task_forward(int sig)
{
    if (task_child > 0)
        kill((pid_t)task_child, sig);
}

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One array task: what it was given and where its job lives. */
typedef struct task_ctx {
    const char *ids, *device, *prog; /* IDS_FILE, --device, --job-program */
    const char *array;               /* SLURM_ARRAY_JOB_ID */
    long task;                       /* SLURM_ARRAY_TASK_ID */
    char id[13];                     /* the job id on line task + 1 of ids */
    char dir[4200];                  /* <sweep dir>/<id> */
    char node[256];
    const char *cvd;                 /* CUDA_VISIBLE_DEVICES */
    int threads;                     /* SLURM_CPUS_PER_TASK, else 1 */
    int logfd;                       /* dir/job.log, appended */
} task_ctx;

/* The command line and the Slurm environment into t; 0, or 2 after the
 * message. */
static int task_args(task_ctx *t, int argc, char **argv)
{
    t->device = "cpu";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            t->device = argv[++i];
        else if (strcmp(argv[i], "--job-program") == 0 && i + 1 < argc)
            t->prog = argv[++i];
        else if (argv[i][0] != '-' && !t->ids)
            t->ids = argv[i];
        else {
            fprintf(stderr, "resecg sweep task: unexpected argument '%s'\n"
                            "usage: resecg sweep task IDS_FILE [--device D] [--job-program P]\n",
                    argv[i]);
            return 2;
        }
    }
    const char *ti = getenv("SLURM_ARRAY_TASK_ID");
    t->array = getenv("SLURM_ARRAY_JOB_ID");
    if (!t->ids || !ti || !t->array) {
        fprintf(stderr, "resecg sweep task: %s (this command is what a Slurm array task of "
                        "`resecg sweep run --backend slurm` runs)\n",
                !t->ids ? "IDS_FILE is required" : "SLURM_ARRAY_TASK_ID is not set");
        return 2;
    }
    t->task = strtol(ti, NULL, 10);
    t->cvd = getenv("CUDA_VISIBLE_DEVICES");
    const char *cpt = getenv("SLURM_CPUS_PER_TASK");
    t->threads = cpt && atoi(cpt) > 0 ? atoi(cpt) : 1;
    snprintf(t->node, sizeof t->node, "?");
    gethostname(t->node, sizeof t->node - 1);
    return 0;
}

/* The job id on line task + 1 of the ids file, and its run directory
 * (<root>/slurm/sub-K.ids -> <root>/<id>); 0, or 2 after the message. */
static int task_job(task_ctx *t)
{
    char *text = NULL;
    size_t len;
    rerr e = {{0}};
    if (util_read_file_kind(t->ids, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, &e) != 0) {
        fprintf(stderr, "resecg sweep task: %s\n", e.msg);
        return 2;
    }
    long line = 0;
    for (char *l = text; l && *l; line++) {
        char *nl = strchr(l, '\n');
        if (line == t->task) {
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            if (n == 12)
                memcpy(t->id, l, 12);
            break;
        }
        l = nl ? nl + 1 : NULL;
    }
    free(text);
    if (!t->id[0]) {
        fprintf(stderr, "resecg sweep task: %s has no job id on line %ld (task %ld)\n", t->ids,
                t->task + 1, t->task);
        return 2;
    }
    char root[4096];
    snprintf(root, sizeof root, "%s", t->ids);
    for (int k = 0; k < 2; k++) {
        char *s = strrchr(root, '/');
        if (!s) {
            fprintf(stderr, "resecg sweep task: %s: expected <sweep dir>/slurm/<file>\n", t->ids);
            return 2;
        }
        *s = '\0';
    }
    snprintf(t->dir, sizeof t->dir, "%s/%s", root[0] ? root : "/", t->id);
    return 0;
}

/* Runs the job (`resecg train`, or --job-program) with its output in
 * job.log and passes on the signals scancel sends; its exit status, or
 * 128 + the signal that killed it; -1 when it could not be started. */
static int task_run(task_ctx *t, int *sig, double *t0, double *t1)
{
    /* an unfinished run resumes; one with a completion record (finished,
     * or stale: other data) starts over, as in the local backend */
    char done[4300], last[4300];
    snprintf(done, sizeof done, "%s/" RUNDIR_COMPLETE, t->dir);
    snprintf(last, sizeof last, "%s/" RUNDIR_LAST, t->dir);
    int resume = util_file_exists(last) && !util_file_exists(done);
    char when[16];
    sweep_clock_text(when, sizeof when);
    dprintf(t->logfd, "==== resecg sweep: job %s, Slurm task %s_%ld on %s at %s, "
                      "CUDA_VISIBLE_DEVICES=%s, %d CPU thread%s%s\n",
            t->id, t->array, t->task, t->node, when, t->cvd ? t->cvd : "(unset)", t->threads,
            t->threads == 1 ? "" : "s", resume ? ", resuming" : "");

    char exe[4096], yaml[4300], thr[64], envjob[4300], envomp[64];
    rerr e = {{0}};
    if (t->prog)
        snprintf(exe, sizeof exe, "%s", t->prog);
    else if (util_self_exe(exe, sizeof exe, &e) != 0) {
        dprintf(t->logfd, "%s\n", e.msg);
        return -1;
    }
    snprintf(yaml, sizeof yaml, "%s/" RUNDIR_JOB_YAML, t->dir);
    snprintf(thr, sizeof thr, "train.threads=%d", t->threads);
    snprintf(envjob, sizeof envjob, "RESECG_SWEEP_JOB=%s", t->dir);
    snprintf(envomp, sizeof envomp, "OMP_NUM_THREADS=%d", t->threads);
    char *cargv[16];
    int a = 0;
    cargv[a++] = exe;
    if (!t->prog)
        cargv[a++] = "train";
    cargv[a++] = "--config";
    cargv[a++] = yaml;
    cargv[a++] = "--out";
    cargv[a++] = t->dir;
    cargv[a++] = resume ? "--resume" : "--fresh"; /* as the local backend */
    cargv[a++] = "--device";
    cargv[a++] = (char *)t->device;
    cargv[a++] = "--set";
    cargv[a++] = thr;
    cargv[a] = NULL;

    /* scancel signals every process of the task; this one stays to write
     * the exit record, and passes on what it gets */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = task_forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    *t0 = wall_clock();
    pid_t pid = fork();
    if (pid < 0) {
        dprintf(t->logfd, "resecg sweep task: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        signal(SIGUSR2, SIG_DFL);
        dup2(t->logfd, 1);
        dup2(t->logfd, 2);
        putenv(envjob);
        putenv(envomp);
        execv(exe, cargv);
        dprintf(2, "resecg sweep task: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    task_child = pid;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    task_child = 0;
    *t1 = wall_clock();
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int slurm_task_main(int argc, char **argv)
{
    task_ctx t;
    memset(&t, 0, sizeof t);
    if (task_args(&t, argc, argv) != 0 || task_job(&t) != 0)
        return 2;
    char p[4300];
    snprintf(p, sizeof p, "%s/" RUNDIR_JOB_LOG, t.dir);
    rerr e = {{0}};
    t.logfd = util_open(p, O_WRONLY | O_CREAT | O_APPEND, UTIL_NOFOLLOW, &e);
    if (t.logfd < 0) {
        fprintf(stderr, "resecg sweep task: %s\n", e.msg);
        return 2;
    }
    int sig = 0;
    double t0 = 0, t1 = 0;
    int code = task_run(&t, &sig, &t0, &t1);
    if (code < 0) {
        close(t.logfd);
        return 2;
    }
    char rec[1024], ex[4300];
    snprintf(rec, sizeof rec, "exit=%d signal=%d slurm=%s_%ld node=%s gpus=%s start=%.3f end=%.3f\n",
             code, sig, t.array, t.task, t.node, t.cvd && *t.cvd ? t.cvd : "-", t0, t1);
    snprintf(ex, sizeof ex, "%s/slurm.exit", t.dir);
    if (util_write_file_atomic(ex, rec, strlen(rec), &e) != 0)
        dprintf(t.logfd, "resecg sweep task: %s\n", e.msg);
    dprintf(t.logfd, "==== job %s ended after %.1f s: %s %d\n", t.id, t1 - t0,
            sig ? "killed by signal" : "exit status", sig ? sig : code);
    close(t.logfd);
    return code;
}

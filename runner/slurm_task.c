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

int slurm_task_main(int argc, char **argv)
{
    const char *ids = NULL, *device = "cpu", *prog = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--job-program") == 0 && i + 1 < argc)
            prog = argv[++i];
        else if (argv[i][0] != '-' && !ids)
            ids = argv[i];
        else {
            fprintf(stderr, "resecg sweep task: unexpected argument '%s'\n"
                            "usage: resecg sweep task IDS_FILE [--device D] [--job-program P]\n",
                    argv[i]);
            return 2;
        }
    }
    const char *ti = getenv("SLURM_ARRAY_TASK_ID"), *aj = getenv("SLURM_ARRAY_JOB_ID");
    if (!ids || !ti || !aj) {
        fprintf(stderr, "resecg sweep task: %s (this command is what a Slurm array task of "
                        "`resecg sweep run --backend slurm` runs)\n",
                !ids ? "IDS_FILE is required" : "SLURM_ARRAY_TASK_ID is not set");
        return 2;
    }
    long task = strtol(ti, NULL, 10);
    char *text = NULL, id[13] = "";
    size_t len;
    rerr e = {{0}};
    if (util_read_file_kind(ids, UTIL_TEXT, UTIL_NOFOLLOW, &text, &len, &e) != 0) {
        fprintf(stderr, "resecg sweep task: %s\n", e.msg);
        return 2;
    }
    long line = 0;
    for (char *l = text; l && *l; line++) {
        char *nl = strchr(l, '\n');
        if (line == task) {
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            if (n == 12)
                memcpy(id, l, 12);
            break;
        }
        l = nl ? nl + 1 : NULL;
    }
    free(text);
    if (!id[0]) {
        fprintf(stderr, "resecg sweep task: %s has no job id on line %ld (task %ld)\n", ids, task + 1,
                task);
        return 2;
    }
    /* <root>/slurm/sub-K.ids -> <root>/<id> */
    char root[4096], dir[4200], p[4300];
    snprintf(root, sizeof root, "%s", ids);
    for (int k = 0; k < 2; k++) {
        char *s = strrchr(root, '/');
        if (!s) {
            fprintf(stderr, "resecg sweep task: %s: expected <sweep dir>/slurm/<file>\n", ids);
            return 2;
        }
        *s = '\0';
    }
    snprintf(dir, sizeof dir, "%s/%s", root[0] ? root : "/", id);
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES"), *cpt = getenv("SLURM_CPUS_PER_TASK");
    char node[256] = "?";
    gethostname(node, sizeof node - 1);
    int threads = cpt && atoi(cpt) > 0 ? atoi(cpt) : 1;
    snprintf(p, sizeof p, "%s/" RUNDIR_JOB_LOG, dir);
    rerr oe;
    int logfd = util_open(p, O_WRONLY | O_CREAT | O_APPEND, UTIL_NOFOLLOW, &oe);
    if (logfd < 0) {
        fprintf(stderr, "resecg sweep task: %s\n", oe.msg);
        return 2;
    }
    /* an unfinished run resumes; one with a completion record (finished,
     * or stale: other data) starts over, as in the local backend */
    char done[4300], last[4300];
    snprintf(done, sizeof done, "%s/" RUNDIR_COMPLETE, dir);
    snprintf(last, sizeof last, "%s/" RUNDIR_LAST, dir);
    int resume = util_file_exists(last) && !util_file_exists(done);
    char when[16];
    sweep_clock_text(when, sizeof when);
    dprintf(logfd, "==== resecg sweep: job %s, Slurm task %s_%ld on %s at %s, CUDA_VISIBLE_DEVICES=%s, "
                   "%d CPU thread%s%s\n",
            id, aj, task, node, when, cvd ? cvd : "(unset)", threads, threads == 1 ? "" : "s",
            resume ? ", resuming" : "");

    char exe[4096], yaml[4300], thr[64], envjob[4300], envomp[64];
    if (prog)
        snprintf(exe, sizeof exe, "%s", prog);
    else if (util_self_exe(exe, sizeof exe, &e) != 0) {
        dprintf(logfd, "%s\n", e.msg);
        return 2;
    }
    snprintf(yaml, sizeof yaml, "%s/" RUNDIR_JOB_YAML, dir);
    snprintf(thr, sizeof thr, "train.threads=%d", threads);
    snprintf(envjob, sizeof envjob, "RESECG_SWEEP_JOB=%s", dir);
    snprintf(envomp, sizeof envomp, "OMP_NUM_THREADS=%d", threads);
    char *cargv[16];
    int a = 0;
    cargv[a++] = exe;
    if (!prog)
        cargv[a++] = "train";
    cargv[a++] = "--config";
    cargv[a++] = yaml;
    cargv[a++] = "--out";
    cargv[a++] = dir;
    cargv[a++] = resume ? "--resume" : "--fresh"; /* as the local backend */
    cargv[a++] = "--device";
    cargv[a++] = (char *)device;
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
    double t0 = wall_clock();
    pid_t pid = fork();
    if (pid < 0) {
        dprintf(logfd, "resecg sweep task: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        signal(SIGUSR2, SIG_DFL);
        dup2(logfd, 1);
        dup2(logfd, 2);
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
    double t1 = wall_clock();
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    char rec[1024], ex[4300];
    snprintf(rec, sizeof rec, "exit=%d signal=%d slurm=%s_%ld node=%s gpus=%s start=%.3f end=%.3f\n", code,
             sig, aj, task, node, cvd && *cvd ? cvd : "-", t0, t1);
    snprintf(ex, sizeof ex, "%s/slurm.exit", dir);
    if (util_write_file_atomic(ex, rec, strlen(rec), &e) != 0)
        dprintf(logfd, "resecg sweep task: %s\n", e.msg);
    dprintf(logfd, "==== job %s ended after %.1f s: %s %d\n", id, t1 - t0,
            sig ? "killed by signal" : "exit status", sig ? sig : code);
    close(logfd);
    return code;
}

/* `resecg sweep`: argument parsing for plan, run and status; the work is in
 * runner/sweep_run.c. Exit status: 0 success (every job finished), 1 jobs
 * failed or the run was stopped by --fail-fast, 128 + signal when a signal
 * stopped it, 2 bad usage or a bad sweep file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "slurm.h"
#include "sweep_run.h"
#include "base/util.h"

static const char *usage_sweep =
    "usage: resecg sweep plan FILE [--out DIR]\n"
    "       resecg sweep run FILE [options]\n"
    "       resecg sweep status DIR\n"
    "       resecg sweep adopt FILE [--out DIR]\n"
    "       resecg sweep run FILE --backend slurm [--partition P] [--gres gpu:1] [--time T]\n"
    "                        [--array-limit K] [--sbatch-arg ARG ...] [--detach]\n"
    "\n"
    "  plan     list the jobs of a sweep file (id, variant, seed, overrides); runs nothing\n"
    "  run      run every job not yet finished under <out>/<sweep name>/ (resumes interrupted ones)\n"
    "  status   counts and per-job state of a sweep output directory (e.g. results/demo),\n"
    "           with each failure's exit status and the end of its log\n"
    "  adopt    record the jobs an older resecg finished (f1.csv, no complete.txt) as finished\n"
    "           on the sweep's data as it is now; their config.yaml must be the job's\n"
    "\n"
    "run options:\n"
    "  --gpus auto|none|0,1,...  GPUs to use (auto: NVML, then nvidia-smi; none: CPU only)\n"
    "  --jobs-per-gpu N          jobs sharing one GPU at a time (default 1)\n"
    "  --max-parallel N          jobs at a time in all (CPU default: one per core)\n"
    "  --busy-threshold F        skip GPUs with more than this share of memory in use (0.5)\n"
    "  --retries N               extra attempts after a failure, 1 s, 2 s, 4 s ... apart (1)\n"
    "  --fail-fast               stop everything at the first job that fails for good\n"
    "  --out DIR                 results root (default results)\n"
    "  --device NAME             passed to train (default cuda on GPUs, cpu otherwise)\n"
    "  --grace SECONDS           SIGTERM to SIGKILL delay when stopping (default 10)\n"
    "  --live / --no-live        live table / plain log lines (default: table on a terminal)\n"
    "  --job-program PATH        run PATH instead of `resecg train` (tests)\n"
    "  --backoff SECONDS         first retry delay (default 1)\n"
    "\n"
    "  --backend local|slurm     local: a process pool on this machine (default);\n"
    "                            slurm: submit the jobs as Slurm job arrays and follow them\n"
    "slurm options (each job is one array task; GPUs come from Slurm's GRES):\n"
    "  --partition P             sbatch --partition (default: the cluster's default partition)\n"
    "  --gres SPEC               sbatch --gres, e.g. gpu:1 (jobs then train with --device cuda)\n"
    "  --time T                  sbatch --time, e.g. 4:00:00\n"
    "  --array-limit K           at most K tasks of an array running at once (--array=0-N%K)\n"
    "  --sbatch-arg ARG          one more sbatch argument, as given (repeat as needed),\n"
    "                            e.g. --sbatch-arg=--cpus-per-task=8 --sbatch-arg=--account=lab\n"
    "  --poll SECONDS            first squeue interval; backs off to 30 s while nothing changes (2)\n"
    "  --detach                  submit, then exit; `sweep status` shows progress, and the same\n"
    "                            command without --detach follows the jobs to the end\n"
    "With --backend slurm, Ctrl-C (or SIGTERM) cancels the sweep's arrays with scancel; SIGHUP\n"
    "(a closed terminal) leaves them running. --retries, --fail-fast, --out and re-running to\n"
    "resume work as for local runs; `resecg sweep task` is what each array task runs.\n"
    "\n"
    "Ctrl-C (or SIGTERM) stops launching and stops the running jobs (SIGTERM, then SIGKILL\n"
    "after --grace); a second Ctrl-C kills them at once. Run the same command again to resume.\n"
    "The sweep file format is described in sweeps/README.md.\n";

static int arg_int(const char *flag, const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1 << 20) {
        fprintf(stderr, "resecg sweep: %s: expected an integer >= %d, got '%s'\n", flag, lo, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int arg_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "resecg sweep: %s: expected a number in [%g, %g], got '%s'\n", flag, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int takes_value(const char *a)
{
    static const char *const with_value[] = {
        "--gpus", "--jobs-per-gpu", "--max-parallel", "--retries", "--out", "--device", "--grace",
        "--job-program", "--busy-threshold", "--backoff", "--backend", "--partition", "--gres",
        "--time", "--array-limit", "--sbatch-arg", "--poll", NULL};
    for (int k = 0; with_value[k]; k++)
        if (strcmp(a, with_value[k]) == 0)
            return 1;
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs(usage_sweep, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "task") == 0)
        return slurm_task_main(argc - 1, argv + 1);
    if (strcmp(sub, "plan") != 0 && strcmp(sub, "run") != 0 && strcmp(sub, "status") != 0 &&
        strcmp(sub, "adopt") != 0) {
        fprintf(stderr, "resecg sweep: unknown subcommand '%s'\n%s", sub, usage_sweep);
        return 2;
    }
    sweep_run_opts o;
    sweep_run_opts_default(&o);
    const char *file = NULL, *slurm_only = NULL, *local_only = NULL, *sbatch_args[64];
    int nsb = 0;
    for (int i = 1; i < argc; i++) {
        /* --opt value, or --opt=value as sbatch users write them */
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        char opt[64];
        const char *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;
        int inline_value = eq && (size_t)(eq - a) < sizeof opt;
        if (inline_value) {
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
            a = opt;
            next = eq + 1;
        }
        int takes = takes_value(a);
        if (inline_value && !takes) {
            fprintf(stderr, "resecg sweep: %s takes no value\n", a);
            return 2;
        }
        if (takes && !next) {
            fprintf(stderr, "resecg sweep: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_sweep, stdout);
            return 0;
        } else if (takes && strcmp(sub, "run") != 0 &&
                   !(strcmp(a, "--out") == 0 &&
                     (strcmp(sub, "plan") == 0 || strcmp(sub, "adopt") == 0))) {
            fprintf(stderr, "resecg sweep %s: %s is not an option of `sweep %s`\n", sub, a, sub);
            return 2;
        } else if (strcmp(a, "--gpus") == 0) {
            o.gpus = next;
        } else if (strcmp(a, "--jobs-per-gpu") == 0) {
            if (arg_int(a, next, 1, &o.jobs_per_gpu))
                return 2;
        } else if (strcmp(a, "--max-parallel") == 0) {
            if (arg_int(a, next, 1, &o.max_parallel))
                return 2;
        } else if (strcmp(a, "--retries") == 0) {
            if (arg_int(a, next, 0, &o.retries))
                return 2;
        } else if (strcmp(a, "--out") == 0) {
            o.out = next;
        } else if (strcmp(a, "--device") == 0) {
            o.device = next;
        } else if (strcmp(a, "--grace") == 0) {
            if (arg_double(a, next, 0, 86400, &o.grace_s))
                return 2;
        } else if (strcmp(a, "--busy-threshold") == 0) {
            if (arg_double(a, next, 0, 1, &o.busy_threshold))
                return 2;
        } else if (strcmp(a, "--backoff") == 0) {
            if (arg_double(a, next, 0, 3600, &o.backoff_s))
                return 2;
        } else if (strcmp(a, "--job-program") == 0) {
            o.job_program = next;
        } else if (strcmp(a, "--backend") == 0) {
            if (strcmp(next, "local") != 0 && strcmp(next, "slurm") != 0) {
                fprintf(stderr, "resecg sweep: --backend: expected local or slurm, got '%s'\n", next);
                return 2;
            }
            o.backend = next;
        } else if (strcmp(a, "--partition") == 0) {
            o.partition = next;
            slurm_only = argv[i];
        } else if (strcmp(a, "--gres") == 0) {
            o.gres = next;
            slurm_only = argv[i];
        } else if (strcmp(a, "--time") == 0) {
            o.time_limit = next;
            slurm_only = argv[i];
        } else if (strcmp(a, "--array-limit") == 0) {
            if (arg_int(a, next, 1, &o.array_limit))
                return 2;
            slurm_only = argv[i];
        } else if (strcmp(a, "--sbatch-arg") == 0) {
            if (nsb == (int)(sizeof sbatch_args / sizeof *sbatch_args)) {
                fprintf(stderr, "resecg sweep: more than %d --sbatch-arg\n", nsb);
                return 2;
            }
            sbatch_args[nsb++] = next;
            slurm_only = argv[i];
        } else if (strcmp(a, "--poll") == 0) {
            if (arg_double(a, next, 0.05, 3600, &o.poll_s))
                return 2;
            slurm_only = argv[i];
        } else if (strcmp(a, "--detach") == 0 && strcmp(sub, "run") == 0) {
            o.detach = 1;
            slurm_only = argv[i];
            continue;
        } else if (strcmp(a, "--fail-fast") == 0 && strcmp(sub, "run") == 0) {
            o.fail_fast = 1;
            continue;
        } else if (strcmp(a, "--live") == 0 && strcmp(sub, "run") == 0) {
            o.live = 1;
            local_only = argv[i];
            continue;
        } else if (strcmp(a, "--no-live") == 0 && strcmp(sub, "run") == 0) {
            o.live = 0;
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "resecg sweep %s: unknown option '%s'\n%s", sub, a, usage_sweep);
            return 2;
        } else if (file) {
            fprintf(stderr, "resecg sweep %s: one %s only ('%s' and '%s')\n", sub,
                    strcmp(sub, "status") == 0 ? "DIR" : "FILE", file, a);
            return 2;
        } else {
            file = a;
            continue;
        }
        if (strcmp(a, "--gpus") == 0 || strcmp(a, "--jobs-per-gpu") == 0 ||
            strcmp(a, "--max-parallel") == 0 || strcmp(a, "--busy-threshold") == 0)
            local_only = argv[i];
        if (!inline_value)
            i++; /* the option's value */
    }
    o.sbatch_args = sbatch_args;
    o.nsbatch_args = nsb;
    int slurm = strcmp(o.backend, "slurm") == 0;
    if (slurm_only && !slurm) {
        fprintf(stderr, "resecg sweep run: %s needs --backend slurm\n", slurm_only);
        return 2;
    }
    if (local_only && slurm) {
        fprintf(stderr, "resecg sweep run: %s is an option of the local backend; with --backend slurm "
                        "GPUs come from --gres and parallelism from Slurm (--array-limit)\n",
                local_only);
        return 2;
    }
    if (!file) {
        fprintf(stderr, "resecg sweep %s: %s is required\n%s", sub,
                strcmp(sub, "status") == 0 ? "DIR" : "FILE", usage_sweep);
        return 2;
    }
    rerr e = {{0}};
    if (strcmp(sub, "plan") == 0) {
        if (sweep_plan_print(file, o.out, stdout, &e) != 0) {
            fprintf(stderr, "resecg sweep plan: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    if (strcmp(sub, "adopt") == 0) {
        int rc = sweep_adopt(file, o.out, stdout, &e);
        if (rc < 0) {
            fprintf(stderr, "resecg sweep adopt: %s\n", e.msg);
            return rc == SWEEP_RUN_ERROR ? 1 : 2;
        }
        return rc;
    }
    if (strcmp(sub, "status") == 0) {
        if (sweep_status(file, stdout, &e) != 0) {
            fprintf(stderr, "resecg sweep status: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    int rc = slurm ? slurm_sweep_run(file, &o, &e) : sweep_run(file, &o, &e);
    if (rc < 0) {
        fprintf(stderr, "resecg sweep run: %s\n", e.msg);
        return rc == SWEEP_RUN_ERROR ? 1 : 2;
    }
    return rc;
}

/* `resecg sweep`: argument parsing for plan, run and status; the work is in
 * runner/sweep_run.c. Exit status: 0 success (every job finished), 1 jobs
 * failed or the run was stopped by --fail-fast, 128 + signal when a signal
 * stopped it, 2 bad usage or a bad sweep file. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "slurm.h"
#include "sweep_run.h"
#include "sweep_status.h"
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
    "  --variants A,B            run only the jobs of these variants (the others keep their\n"
    "                            ids and wait; a later run without it does them)\n"
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

/* The options of `sweep run` (plan and adopt take --out only), each a field
 * of sweep_run_opts; backend: an option of that backend only. */
enum { OPT_STR, OPT_INT, OPT_DBL, OPT_FLAG };
enum { FOR_ANY, FOR_LOCAL, FOR_SLURM };
typedef struct sweep_opt {
    const char *name;
    int kind;
    size_t off;    /* of the field in sweep_run_opts; --sbatch-arg appends instead */
    double lo, hi; /* OPT_INT: the least value; OPT_DBL: the range; OPT_FLAG: lo is set */
    int backend;
} sweep_opt;

#define FIELD(f) offsetof(sweep_run_opts, f)
static const sweep_opt sweep_opts[] = {
    {"--gpus", OPT_STR, FIELD(gpus), 0, 0, FOR_LOCAL},
    {"--jobs-per-gpu", OPT_INT, FIELD(jobs_per_gpu), 1, 0, FOR_LOCAL},
    {"--max-parallel", OPT_INT, FIELD(max_parallel), 1, 0, FOR_LOCAL},
    {"--busy-threshold", OPT_DBL, FIELD(busy_threshold), 0, 1, FOR_LOCAL},
    {"--live", OPT_FLAG, FIELD(live), 1, 0, FOR_LOCAL},
    {"--no-live", OPT_FLAG, FIELD(live), 0, 0, FOR_ANY},
    {"--retries", OPT_INT, FIELD(retries), 0, 0, FOR_ANY},
    {"--fail-fast", OPT_FLAG, FIELD(fail_fast), 1, 0, FOR_ANY},
    {"--out", OPT_STR, FIELD(out), 0, 0, FOR_ANY},
    {"--device", OPT_STR, FIELD(device), 0, 0, FOR_ANY},
    {"--grace", OPT_DBL, FIELD(grace_s), 0, 86400, FOR_ANY},
    {"--backoff", OPT_DBL, FIELD(backoff_s), 0, 3600, FOR_ANY},
    {"--job-program", OPT_STR, FIELD(job_program), 0, 0, FOR_ANY},
    {"--variants", OPT_STR, FIELD(variants), 0, 0, FOR_ANY},
    {"--backend", OPT_STR, FIELD(backend), 0, 0, FOR_ANY},
    {"--partition", OPT_STR, FIELD(partition), 0, 0, FOR_SLURM},
    {"--gres", OPT_STR, FIELD(gres), 0, 0, FOR_SLURM},
    {"--time", OPT_STR, FIELD(time_limit), 0, 0, FOR_SLURM},
    {"--array-limit", OPT_INT, FIELD(array_limit), 1, 0, FOR_SLURM},
    {"--sbatch-arg", OPT_STR, 0, 0, 0, FOR_SLURM},
    {"--poll", OPT_DBL, FIELD(poll_s), 0.05, 3600, FOR_SLURM},
    {"--detach", OPT_FLAG, FIELD(detach), 1, 0, FOR_SLURM},
};
#undef FIELD

static const sweep_opt *opt_find(const char *name)
{
    for (size_t k = 0; k < sizeof sweep_opts / sizeof sweep_opts[0]; k++)
        if (strcmp(name, sweep_opts[k].name) == 0)
            return &sweep_opts[k];
    return NULL;
}

/* What the command line says besides the options' values. */
typedef struct sweep_args {
    const char *file;       /* FILE (DIR for status) */
    const char *slurm_only; /* the last option given that needs --backend slurm */
    const char *local_only; /* the last option given of the local backend only */
    const char *sbatch[64];
    int nsbatch;
} sweep_args;

/* Sets one option's value (next, NULL for a flag) in o. 0, or -1 with the
 * message printed. */
static int opt_set(const sweep_opt *op, const char *next, sweep_run_opts *o, sweep_args *a)
{
    char *field = (char *)o + op->off;
    switch (op->kind) {
    case OPT_FLAG:
        *(int *)field = (int)op->lo;
        return 0;
    case OPT_INT:
        return arg_int(op->name, next, (int)op->lo, (int *)field);
    case OPT_DBL:
        return arg_double(op->name, next, op->lo, op->hi, (double *)field);
    }
    if (strcmp(op->name, "--sbatch-arg") == 0) {
        if (a->nsbatch == (int)(sizeof a->sbatch / sizeof *a->sbatch)) {
            fprintf(stderr, "resecg sweep: more than %d --sbatch-arg\n", a->nsbatch);
            return -1;
        }
        a->sbatch[a->nsbatch++] = next;
        return 0;
    }
    if (strcmp(op->name, "--backend") == 0 && strcmp(next, "local") != 0 &&
        strcmp(next, "slurm") != 0) {
        fprintf(stderr, "resecg sweep: --backend: expected local or slurm, got '%s'\n", next);
        return -1;
    }
    *(const char **)field = next;
    return 0;
}

/* argv[1..argc) of `sweep sub` into o and a: --opt value or --opt=value (as
 * sbatch users write them). Returns 0; 1 when --help was printed; -1 on a
 * usage error, printed. */
static int sweep_args_parse(const char *sub, int argc, char **argv, sweep_run_opts *o,
                            sweep_args *a)
{
    int run = strcmp(sub, "run") == 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        char name[64];
        const char *eq = arg[0] == '-' && arg[1] == '-' ? strchr(arg, '=') : NULL;
        int inline_value = eq && (size_t)(eq - arg) < sizeof name;
        if (inline_value) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
            arg = name;
            next = eq + 1;
        }
        const sweep_opt *op = opt_find(arg);
        int takes = op && op->kind != OPT_FLAG;
        if (inline_value && !takes) {
            fprintf(stderr, "resecg sweep: %s takes no value\n", arg);
            return -1;
        }
        if (takes && !next) {
            fprintf(stderr, "resecg sweep: %s needs a value\n", arg);
            return -1;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_sweep, stdout);
            return 1;
        }
        if (takes && !run &&
            !(strcmp(arg, "--out") == 0 && (strcmp(sub, "plan") == 0 || strcmp(sub, "adopt") == 0))) {
            fprintf(stderr, "resecg sweep %s: %s is not an option of `sweep %s`\n", sub, arg, sub);
            return -1;
        }
        if (op && (takes || run)) {
            if (opt_set(op, takes ? next : NULL, o, a) != 0)
                return -1;
            if (op->backend == FOR_SLURM)
                a->slurm_only = argv[i];
            else if (op->backend == FOR_LOCAL)
                a->local_only = argv[i];
            if (takes && !inline_value)
                i++; /* the option's value */
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "resecg sweep %s: unknown option '%s'\n%s", sub, arg, usage_sweep);
            return -1;
        } else if (a->file) {
            fprintf(stderr, "resecg sweep %s: one %s only ('%s' and '%s')\n", sub,
                    strcmp(sub, "status") == 0 ? "DIR" : "FILE", a->file, arg);
            return -1;
        } else {
            a->file = arg;
        }
    }
    o->sbatch_args = a->sbatch;
    o->nsbatch_args = a->nsbatch;
    return 0;
}

/* The exit status of a run or adopt (the header's): 0 when every job has
 * finished (or --detach left them to Slurm), 1 when jobs failed or the
 * results directory is unusable, 128 + signal, 2 for bad input; the error
 * goes to stderr. */
static int exit_status(sweep_outcome r, const char *sub, const rerr *e)
{
    if (r.end == SWEEP_END_BAD_INPUT || r.end == SWEEP_END_RESULTS)
        fprintf(stderr, "resecg sweep %s: %s\n", sub, e->msg);
    switch (r.end) {
    case SWEEP_END_DONE:
    case SWEEP_END_DETACHED:
        return 0;
    case SWEEP_END_INCOMPLETE:
    case SWEEP_END_RESULTS:
        return 1;
    case SWEEP_END_SIGNAL:
        return 128 + r.signal;
    case SWEEP_END_BAD_INPUT:
        break;
    }
    return 2;
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
    sweep_args a = {0};
    int prc = sweep_args_parse(sub, argc, argv, &o, &a);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    int slurm = strcmp(o.backend, "slurm") == 0;
    if (a.slurm_only && !slurm) {
        fprintf(stderr, "resecg sweep run: %s needs --backend slurm\n", a.slurm_only);
        return 2;
    }
    if (a.local_only && slurm) {
        fprintf(stderr, "resecg sweep run: %s is an option of the local backend; with --backend slurm "
                        "GPUs come from --gres and parallelism from Slurm (--array-limit)\n",
                a.local_only);
        return 2;
    }
    if (!a.file) {
        fprintf(stderr, "resecg sweep %s: %s is required\n%s", sub,
                strcmp(sub, "status") == 0 ? "DIR" : "FILE", usage_sweep);
        return 2;
    }
    rerr e = {{0}};
    if (strcmp(sub, "plan") == 0) {
        if (sweep_plan_print(a.file, o.out, stdout, &e) != 0) {
            fprintf(stderr, "resecg sweep plan: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    if (strcmp(sub, "adopt") == 0)
        return exit_status(sweep_adopt(a.file, o.out, stdout, &e), "adopt", &e);
    if (strcmp(sub, "status") == 0) {
        if (sweep_status(a.file, stdout, &e) != 0) {
            fprintf(stderr, "resecg sweep status: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    return exit_status(slurm ? slurm_sweep_run(a.file, &o, &e) : sweep_run(a.file, &o, &e), "run",
                       &e);
}

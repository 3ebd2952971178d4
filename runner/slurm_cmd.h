/* Running Slurm's commands (sbatch, squeue, sacct, scontrol, scancel)
 * through a libuv loop, each with its output collected and a time limit, and
 * reading the queue: what the Slurm backend (slurm.h) and `sweep status`
 * (sweep_run.h) both need. */
#ifndef RESECG_SLURM_CMD_H
#define RESECG_SLURM_CMD_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/util.h"

#define SL_CMD_TIMEOUT_S 120.0 /* a command that has not ended by then is killed */

/* One command: its handles, its collected stdout (o) and stderr (e), and how
 * it ended. */
typedef struct sl_cmd sl_cmd;
struct sl_cmd {
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    sbuf o, e;
    int64_t exit_status;
    int term_signal;
    int spawn_error; /* libuv's code when it could not start */
    int timed_out;
    int open;        /* handles not closed yet */
    int done;        /* every handle closed: the fields above are final */
    void (*on_done)(sl_cmd *c);
    void *data;
    char buf[65536];
};

/* Starts argv with its stdout and stderr collected; on_done runs once the
 * command has ended (or failed to start) and its handles are closed. */
void slcmd_start(uv_loop_t *loop, sl_cmd *c, char *const *argv, void (*on_done)(sl_cmd *),
                 void *data);

/* Runs argv to its end, turning the loop meanwhile (signals and timers
 * keep working); loop NULL: on a loop of its own. */
void slcmd_run(uv_loop_t *loop, sl_cmd *c, char *const *argv);

/* Frees the collected output (the command's handles are closed already). */
void slcmd_free(sl_cmd *c);

/* Whether it ran, in time, and exited 0 with all its output kept. */
int slcmd_ok(const sl_cmd *c);

/* Why a command failed, in one line: its stderr (lines joined), its exit
 * status, or that it could not run. */
void slcmd_why(const sl_cmd *c, const char *name, char *buf, size_t n);

/* Whether a program is on PATH. */
int slcmd_on_path(const char *prog);

/* This user's name, for squeue --user. */
const char *slcmd_user(void);

/* One array task in the queue. */
typedef struct slurm_task {
    long array;        /* the array's job id (squeue %F) */
    int task;          /* its index (squeue %K) */
    char state[24];    /* PENDING, RUNNING, COMPLETING, ... */
    char node[64];     /* where it runs, "" while pending */
    char reason[64];   /* why it waits (squeue %r) */
} slurm_task;

/* The squeue call that lists user's array tasks (argv: 8 entries). */
void slcmd_queue_argv(char *argv[], char *user);

/* That squeue's "ARRAY|TASK|STATE|NODE|REASON" lines as tasks sorted by
 * (array, task), *out malloc'd; jobs that are not array tasks ("N/A") are
 * someone else's business. -1 with e filled when squeue failed. */
int slcmd_queue_parse(const sl_cmd *c, slurm_task **out, int *n, rerr *e);

/* This user's array tasks in the queue, sorted by (array, task), through
 * one `squeue` call; *out is malloc'd. -1 with e filled when squeue fails. */
int slurm_queue(slurm_task **out, int *n, rerr *e);

/* The task with that array id and index in a sorted list, or NULL. */
const slurm_task *slurm_queue_find(const slurm_task *t, int n, long array, int task);

#endif

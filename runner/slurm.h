/* The Slurm backend of `resecg sweep run --backend slurm`: the sweep's
 * unfinished jobs go to Slurm as job arrays, one array task per job, and
 * this process follows them with squeue until each has a result; plus the
 * task runner the arrays' batch script calls (`resecg sweep task`), and the
 * queue lookup `sweep status` uses. Layout under <out>/<sweep>/ as for the
 * local backend (sweep_run.h), and:
 *   slurm/sub-K.ids      job id of each array task of submission K (line i+1: task i)
 *   slurm/sub-K.sh       its batch script: `resecg sweep task .../sub-K.ids`
 *   slurm/A_T.out        what Slurm itself says about task T of array A (time limits, ...)
 *   <id>/slurm.exit      written by the task when its job ends: exit=, signal=, slurm=A_T,
 *                        node=, gpus= (CUDA_VISIBLE_DEVICES as Slurm set it), start=, end= */
#ifndef RESECG_SLURM_H
#define RESECG_SLURM_H

#include <stdio.h>

#include "sweep_opts.h"
#include "base/util.h"

/* sweep_run for o->backend "slurm", with the same outcomes (sweep_run.h):
 * SIGINT and SIGTERM cancel the arrays with scancel; SIGHUP leaves them to
 * Slurm (SWEEP_END_SIGNAL, signal 1, no summary line); --detach is
 * SWEEP_END_DETACHED once submitted; a request Slurm refuses is
 * SWEEP_END_BAD_INPUT. A re-run
 * follows tasks still queued from an earlier run instead of submitting
 * their jobs again. */
sweep_outcome slurm_sweep_run(const char *path, const sweep_run_opts *o, rerr *e);

/* `resecg sweep task IDS [--device D] [--job-program P]`: runs the job on
 * line SLURM_ARRAY_TASK_ID+1 of IDS, in the run directory beside IDS's
 * folder, and writes its slurm.exit. Returns the job's exit status. */
int slurm_task_main(int argc, char **argv);

#endif

/* The defaults of sweep run's options (sweep_opts.h). */
#include "sweep_opts.h"

#include <string.h>

void sweep_run_opts_default(sweep_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->gpus = "auto";
    o->jobs_per_gpu = 1;
    o->retries = 1;
    o->out = "results";
    o->grace_s = 10;
    o->busy_threshold = 0.5;
    o->live = -1;
    o->backoff_s = 1;
    o->backend = "local";
    o->poll_s = 2;
}

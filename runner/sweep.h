/* Sweep files: a YAML description of many training runs (a base config,
 * overrides for every job, named variants, a grid, seeds, include/exclude)
 * and its expansion into jobs. A job is (variant, grid point, seed) with a
 * fully resolved, validated config; its id is a hash of that config, so the
 * same job gets the same id (and run directory) in a re-run or in another
 * sweep file. The format is documented in sweeps/README.md. */
#ifndef RESECG_SWEEP_H
#define RESECG_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/util.h"

/* More jobs than this is almost certainly a mistake in the grid (and the
 * plan alone would take hundreds of MB). */
#define SWEEP_MAX_JOBS 2000000
#define SWEEP_MAX_SEEDS 1000000

/* A place in the sweep file, 1-based (libyaml's marks are 0-based). */
typedef struct sweep_mark {
    int line, col;
} sweep_mark;

/* One value as written: `text` is what config_set reads (plain scalars as
 * written, other scalars double-quoted, lists in flow style); `shown` is the
 * text for tables. */
typedef struct sweep_value {
    char *text;
    char *shown;
    sweep_mark mark;
} sweep_value;

/* "dotted.key: value" */
typedef struct sweep_assign {
    char *key;
    sweep_mark key_mark;
    sweep_value value;
} sweep_assign;

/* A grid axis: one key and the values it takes. */
typedef struct sweep_dim {
    char *key;
    sweep_mark key_mark;
    int nvalues;
    sweep_value *values;
} sweep_dim;

/* A named set of overrides (e.g. the loss of Table 1's rows). */
typedef struct sweep_variant {
    char *name;
    sweep_mark mark;
    int nset;
    sweep_assign *set;
} sweep_variant;

/* An include or exclude entry: a partial assignment. variant is an index or
 * -1 (any); has_seed says whether seed was given. */
typedef struct sweep_filter {
    sweep_mark mark;
    int variant;
    sweep_mark variant_mark;
    int has_seed;
    uint64_t seed;
    sweep_mark seed_mark;
    int nset;
    sweep_assign *set; /* dotted config keys */
} sweep_filter;

typedef struct sweep {
    char *path;        /* the file, as given (messages) */
    char *dir;         /* its directory: relative paths inside resolve against it */
    char *name;        /* results/<name>/ */
    sweep_mark name_mark;
    char *description; /* free text, or NULL */
    char *config;      /* base config path resolved against dir, or NULL (defaults) */
    sweep_mark config_mark;
    char *data;        /* records directory resolved against dir, or NULL */
    sweep_mark data_mark;
    int nset;
    sweep_assign *set;
    int nvariants;     /* at least 1: a variant "default" without overrides when none are given */
    sweep_variant *variants;
    sweep_mark variants_mark;
    int ndims;
    sweep_dim *dims;
    sweep_mark grid_mark;
    int nseeds;        /* 0: every job keeps the config's train.seed */
    uint64_t *seeds;
    sweep_mark seeds_mark;
    int ninclude, nexclude;
    sweep_filter *include, *exclude;
    int gpus;          /* resources.gpus: GPUs per job, default 1 */
    long gpu_memory;   /* resources.gpu_memory: expected MiB per job, 0 = unknown */
} sweep;

/* Reads and checks a sweep file (structure, names, types; config keys are
 * checked by sweep_expand). Unknown keys, wrong types, empty lists and
 * duplicate names return -1 with e naming "file:line:column: what". On
 * failure nothing is left to free. */
int sweep_load(sweep *sw, const char *path, rerr *e);

/* Same from text; name is used in messages, dir for relative paths. */
int sweep_load_string(sweep *sw, const char *text, size_t len, const char *name, const char *dir,
                      rerr *e);

void sweep_free(sweep *sw);

/* One job of an expanded sweep: 24 bytes, so a 100,000-job plan is 2.4 MB;
 * its config is rebuilt on demand by sweep_job_config. */
typedef struct sweep_job {
    uint64_t id;       /* hash of the resolved config (sweep_config_id) */
    uint64_t seed;     /* train.seed of the job */
    uint32_t point;    /* mixed-radix index over the block's grid axes, last axis fastest */
    uint16_t block;    /* 0: the grid; k: include entry k-1 */
    uint16_t variant;
} sweep_job;

typedef struct sweep_block sweep_block; /* internal: the grid, or one include entry */

/* An expanded sweep. Jobs come seed-major (every variant and grid point of
 * the first seed, then the second seed...), so the first results already
 * cover every configuration. */
typedef struct sweep_plan {
    const sweep *sw;
    resecg_config *bases; /* per variant: base file, data, set, variant overrides */
    int nblocks;
    sweep_block *blocks;
    sweep_job *jobs;
    size_t njobs;
    size_t nexcluded;   /* removed by exclude */
    size_t nduplicates; /* jobs whose config repeats an earlier job's (dropped) */
    int fast_ids;       /* 1: ids summed from per-value line hashes; 0: from each config's text */
} sweep_plan;

/* Loads the base config, applies data, set and variants, expands grid,
 * seeds, include and exclude, validates every job's config and computes ids.
 * Errors name the sweep file, line and column of the offending entry. sw
 * must outlive the plan. */
int sweep_expand(const sweep *sw, sweep_plan *p, rerr *e);
void sweep_plan_free(sweep_plan *p);

/* The resolved config of a job (base + data + set + variant + grid + include
 * + seed), applied from scratch: the source of job.yaml. */
int sweep_job_config(const sweep_plan *p, const sweep_job *j, resecg_config *c, rerr *e);

/* The grid and include values of a job as "key=value key=value" (variant
 * and seed left out), into buf; returns buf. */
char *sweep_job_overrides(const sweep_plan *p, const sweep_job *j, char *buf, size_t n);

const char *sweep_job_variant(const sweep_plan *p, const sweep_job *j);

/* The 12 hex digits that name a job's run directory (the top 48 bits of its id). */
void sweep_id_hex(uint64_t id, char out[13]);

/* The identity of a resolved config: a hash of its settings as config
 * writes them, leaving out those at a frozen baseline value (id_baseline in
 * sweep.c, so that a default changed in config.c changes the ids of the jobs
 * that follow it), always counting train.seed, and never data.dir or
 * train.threads (where the records are and how many cores run the job say
 * nothing about the experiment). */
uint64_t sweep_config_id(const resecg_config *c);

/* Checks a name for results/<name> and variants: [A-Za-z0-9_.-]+, not "." or "..". */
int sweep_name_ok(const char *s);

#endif

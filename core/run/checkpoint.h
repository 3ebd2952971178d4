/* A model's checkpoints (best.safetensors, last.safetensors): its tensors
 * under their model names (model.h), Adam's moments as adam.m.NAME and
 * adam.v.NAME, and the run's metadata (CHECKPOINT_FORMAT, epoch, lr, the
 * loop state, the normalisation) as safetensors metadata (safetensors.h). */
#ifndef RESECG_CHECKPOINT_H
#define RESECG_CHECKPOINT_H

#include "base/util.h"
#include "nn/model.h"
#include "run/safetensors.h"

/* The metadata "format" of resecg's checkpoints. */
#define CHECKPOINT_FORMAT "resecg-checkpoint-1"

struct adam;
/* Saves a model (and optimiser state when a is not NULL) as safetensors with
 * the given metadata pairs and the data checksum (ST_CHECKSUM_KEY). Host
 * copies are made for device backends. A non-finite parameter, statistic or
 * moment is an error naming the tensor, and nothing is written. */
int checkpoint_save(model *m, const struct adam *a, const char *path, const char *const *meta_kv,
                    int nmeta, rerr *e);
/* Loads weights and BN statistics (and Adam moments into a when not NULL)
 * from a checkpoint after checkpoint_validate has passed it; on failure
 * nothing of the model or a has changed. */
int checkpoint_load(model *m, struct adam *a, const char *path, rerr *e);

/* Checks a checkpoint read with st_read before anything of it is used:
 * - every resecg metadata key present parses whole and lies in its range
 *   (norm_std and lr finite and > 0, norm_mean finite, epoch, adam_step,
 *   best_epoch and waits non-negative integers, best_epoch <= epoch, the
 *   losses >= 0 or inf); with m NULL, that is all (evaluate and --resume
 *   read the metadata before the model exists, then checkpoint_load checks
 *   the rest: the data is hashed once);
 * - when m is not NULL: the data checksum (ST_CHECKSUM_KEY) when the
 *   metadata has one (older files and reference tensors have none and
 *   pass), and every tensor is one of m's (a tensor, its Adam
 *   moments, a BatchNorm's num_batches_tracked) with the dtype and shape m
 *   implies, every model tensor is present (and, with_adam, both moments of
 *   every parameter), every value is finite, running variances and second
 *   moments >= 0, counters >= 0.
 * Errors name the file and the tensor or metadata key. */
int checkpoint_validate(const st_file *f, const model *m, int with_adam, const char *path,
                        rerr *e);

#endif

/* Adam (Kingma & Ba 2015, with PyTorch's bias-corrected update) over the
 * model's one flat parameter buffer, preceded by clipping at a global
 * gradient norm (PyTorch's clip_grad_norm_: scale by max / (norm + 1e-6)
 * when the norm exceeds max). First and second moments live in two more flat
 * buffers with the params' layout, so a checkpoint stores them as two
 * tensors per parameter and the update is one loop. */
#ifndef RESECG_OPTIM_H
#define RESECG_OPTIM_H

#include "nn/backend.h"
#include "base/config.h"

typedef struct adam {
    float *m, *v; /* (n) backend memory, zero-initialised */
    long n;
    int t;        /* steps taken */
} adam;

int adam_init(adam *a, backend *be, long n, rerr *e);
void adam_free(adam *a, backend *be);
/* One step: params -= Adam(clip(grads)). Returns the global gradient norm
 * before clipping. */
double adam_step_clipped(adam *a, backend *be, float *params, const float *grads,
                         const optim_config *oc, float lr);

#endif

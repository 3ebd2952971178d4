/* Global-norm clipping and Adam over flat buffers (see optim.h). */
#include "nn/optim.h"

#include <math.h>
#include <string.h>

int adam_init(adam *a, backend *be, long n, rerr *e)
{
    memset(a, 0, sizeof *a);
    a->m = be->alloc(be, (size_t)n * sizeof(float));
    a->v = be->alloc(be, (size_t)n * sizeof(float));
    if (!a->m || !a->v) {
        adam_free(a, be);
        return rerr_set(e, "out of memory for the optimiser state (%ld floats)", n);
    }
    be->zero(be, a->m, (size_t)n * sizeof(float));
    be->zero(be, a->v, (size_t)n * sizeof(float));
    a->n = n;
    return 0;
}

void adam_free(adam *a, backend *be)
{
    if (a->m)
        be->free(be, a->m);
    if (a->v)
        be->free(be, a->v);
    memset(a, 0, sizeof *a);
}

double adam_step_clipped(adam *a, backend *be, float *params, const float *grads,
                         const optim_config *oc, float lr)
{
    double norm = sqrt(be->sqnorm(be, grads, a->n));
    float scale = 1.0f;
    if (oc->clip_norm > 0 && norm > oc->clip_norm)
        scale = (float)(oc->clip_norm / (norm + 1e-6));
    a->t++;
    be->adam_step(be, params, a->m, a->v, grads, a->n, lr, oc->beta1, oc->beta2, oc->eps, a->t,
                  scale);
    return norm;
}

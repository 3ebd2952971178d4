/* Softmax, the three frame losses (cross-entropy, class-weighted
 * cross-entropy, focal) and their gradient with respect to the logits: the
 * reference every backend's loss is tested against (see loss.h for the
 * formulas and the Keras sample-weight mean). Per frame the work is done in
 * double; frames are few (batch x output frames), so it runs on one thread. */
#include "nn/loss.h"

#include <math.h>
#include <string.h>

void loss_params_from_config(loss_params *p, const loss_config *lc, int K, const long *class_counts)
{
    RESECG_ASSERT(K >= 1 && K <= RESECG_MAX_CLASSES);
    memset(p, 0, sizeof *p);
    p->kind = lc->kind;
    p->K = K;
    switch (lc->kind) {
    case LOSS_WEIGHTED:
        if (lc->balanced) {
            // sklearn's "balanced": n / (K * count_c), so a class seen at the
            // average rate gets 1; an absent class can contribute nothing.
            RESECG_ASSERT(class_counts != NULL);
            long n = 0;
            for (int c = 0; c < K; c++)
                n += class_counts[c];
            for (int c = 0; c < K; c++)
                p->weight[c] = class_counts[c] > 0
                                   ? (float)((double)n / ((double)K * (double)class_counts[c]))
                                   : 0.0f;
        } else {
            for (int c = 0; c < K; c++)
                p->weight[c] = lc->class_weights[c];
        }
        break;
    case LOSS_FOCAL:
        for (int c = 0; c < K; c++)
            p->weight[c] = lc->alpha[c];
        p->gamma = lc->gamma;
        break;
    case LOSS_CE:
    default:
        for (int c = 0; c < K; c++)
            p->weight[c] = 1.0f;
        break;
    }
}

/* d l / d z_j = coef * (p_j - [j == t]); returns coef and the frame's loss
 * through *l, given p_t, q = 1 - p_t (computed without cancellation by the
 * caller) and log p_t. */
static double loss_frame_coef(double *l, const loss_params *p, int t, double pt, double q,
                              double logpt)
{
    switch (p->kind) {
    case LOSS_WEIGHTED:
        *l = -(double)p->weight[t] * logpt;
        return p->weight[t];
    case LOSS_FOCAL: {
        // l = -alpha (1 - pt)^gamma log pt (Lin et al. 2017). With
        // dpt/dz_j = pt ([j == t] - p_j):
        //   dl/dz_j = alpha [(1-pt)^g - g pt (1-pt)^(g-1) log pt] (p_j - [j == t]).
        // The second term vanishes with gamma == 0 (no modulation) and as
        // q -> 0 (log pt ~ -q, so it goes as q^g); pow(0, g - 1) is not
        // evaluated there.
        const double g = p->gamma, alpha = p->weight[t];
        const double qg = g == 0.0 ? 1.0 : pow(q, g);
        double mod = qg;
        if (g != 0.0 && q > 0.0)
            mod -= g * pt * pow(q, g - 1.0) * logpt;
        *l = -alpha * qg * logpt;
        return alpha * mod;
    }
    case LOSS_CE:
    default:
        *l = -logpt;
        return 1.0;
    }
}

float cpu_loss_forward_backward(float *probs, float *dlogits, const float *logits,
                                const int *labels, int N, const loss_params *p)
{
    // probs (N, K), dlogits (N, K), logits (N, K), labels (N)
    const int K = p->K;
    RESECG_ASSERT(K >= 1 && K <= RESECG_MAX_CLASSES);

    int nvalid = 0;
    for (int i = 0; i < N; i++)
        nvalid += labels[i] >= 0;
    // Keras sample-weight semantics: divide by the number of valid frames,
    // not by the sum of their weights.
    const double inv_n = nvalid > 0 ? 1.0 / nvalid : 0.0;

    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *z = logits + (long)i * K; // (K)
        const int t = labels[i];

        // Max-shifted log-sum-exp. The max's own term is exactly 1 and kept
        // out of `rest`, so log1p(rest) keeps log p of a confident class (and
        // 1 - p of it, below) accurate instead of rounding them to 0.
        int jmax = 0;
        for (int j = 1; j < K; j++)
            if (z[j] > z[jmax])
                jmax = j;
        const double zmax = z[jmax];
        double e[RESECG_MAX_CLASSES];
        double rest = 0.0;
        for (int j = 0; j < K; j++) {
            e[j] = j == jmax ? 1.0 : exp((double)z[j] - zmax);
            if (j != jmax)
                rest += e[j];
        }
        const double lse = log1p(rest); // log sum_j exp(z_j - zmax)
        const double denom = 1.0 + rest;

        if (probs)
            for (int j = 0; j < K; j++)
                probs[(long)i * K + j] = (float)(e[j] / denom);

        if (t < 0) { // masked frame: no loss, no gradient
            if (dlogits)
                memset(dlogits + (long)i * K, 0, (size_t)K * sizeof *dlogits);
            continue;
        }
        RESECG_ASSERT(t < K);

        const double logpt = ((double)z[t] - zmax) - lse;
        const double pt = e[t] / denom;
        const double q = t == jmax ? rest / denom : 1.0 - pt; // 1 - pt (pt <= 1/2 in the else)
        double l;
        const double coef = loss_frame_coef(&l, p, t, pt, q, logpt);
        total += l;

        if (dlogits) {
            float *dz = dlogits + (long)i * K; // (K)
            for (int j = 0; j < K; j++)
                dz[j] = (float)(coef * inv_n * (j == t ? -q : e[j] / denom));
        }
    }
    return (float)(total * inv_n);
}

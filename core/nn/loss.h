/* Softmax and the three training losses over frames: plain cross-entropy,
 * class-weighted cross-entropy and focal loss. One call computes the mean
 * loss, the probabilities and the gradient with respect to the logits.
 *
 * Frames whose label is -1 (zero padding past a record's end) are masked out
 * of the loss and receive zero gradient; the loss is the SUM over valid
 * frames of w_c * l(frame) divided by the NUMBER of valid frames (Keras
 * sample-weight semantics; PyTorch's weighted CrossEntropyLoss divides by the
 * sum of weights instead).
 *   ce:       l = -log p_t                            (w_c = 1)
 *   weighted: l = -w_c log p_t
 *   focal:    l = -alpha_c (1 - p_t)^gamma log p_t    (Lin et al. 2017)
 * with t the frame's label and p = softmax(logits). */
#ifndef RESECG_LOSS_H
#define RESECG_LOSS_H

#include "base/config.h"

typedef struct loss_params {
    loss_kind kind;
    int K;                            /* number of classes */
    float weight[RESECG_MAX_CLASSES]; /* per-class factor: class weight (weighted), alpha (focal), 1 (ce) */
    float gamma;                      /* focal only */
} loss_params;

/* Builds loss_params from the config; `balanced` weights are
 * n / (K * count_c) from class_counts (frame or record counts of the training
 * set, length K). A class with count 0 gets weight 0. */
void loss_params_from_config(loss_params *p, const loss_config *lc, int K, const long *class_counts);

/* logits (N, K), labels (N) in [0, K) or -1 for masked frames.
 * probs (N, K) = softmax(logits) (may be NULL);
 * dlogits (N, K) = d(mean loss)/d(logits), zero rows for masked frames (may be NULL).
 * Returns the mean loss over valid frames (0 when no frame is valid).
 * Numerically stable: log-softmax through the max-shifted log-sum-exp. */
float cpu_loss_forward_backward(float *probs, float *dlogits, const float *logits,
                                const int *labels, int N, const loss_params *p);

#endif

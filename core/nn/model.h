/* The ResECG network of Hannun et al. (Nature Medicine 2019), as the official
 * awni/ecg Keras code builds it:
 *   stem: conv(1 -> F, K) -> BN -> ReLU
 *   16 residual blocks, block i with F * 2^(i / 4) channels; the first conv of
 *   every odd block has stride 2. Pre-activation: [BN -> ReLU ->] conv ->
 *   BN -> ReLU -> dropout -> conv, block 0 skipping the first BN -> ReLU.
 *   Shortcut: max-pool of size = stride, zero channels appended where the
 *   width doubles.
 *   head: BN -> ReLU -> per-frame dense (K classes); softmax lives in the loss.
 *
 * Storage (llm.c style): every trainable parameter in one allocation `params`,
 * their gradients in `grads` with the same layout, BN running statistics in
 * `buffers`. Tensor names and shapes follow the PyTorch module in
 * tests/torch_ref.py, so checkpoints load into it:
 *   conv.weight (F, 1, K), conv.bias, bn.{weight,bias,running_mean,running_var}
 *   blocks.i.bn1.* (absent for i = 0), blocks.i.conv1.{weight,bias},
 *   blocks.i.bn2.*, blocks.i.conv2.{weight,bias}, bn_out.*, dense.{weight (K, C), bias}
 * The params buffer holds the tensors in exactly that order. */
#ifndef RESECG_MODEL_H
#define RESECG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nn/backend.h"
#include "base/config.h"
#include "nn/rng.h"

typedef enum tensor_kind { TENSOR_PARAM = 0, TENSOR_BUFFER = 1 } tensor_kind;

typedef struct tensor_info {
    char name[96];
    tensor_kind kind;
    int ndim;
    int shape[3];
    long offset; /* in floats, into params (PARAM) or buffers (BUFFER) */
    long numel;
} tensor_info;

typedef struct block_desc {
    int cin, cout, stride;
    int first; /* block 0: no bn1 */
    /* parameter offsets into params (and grads); -1 where absent */
    long bn1_g, bn1_b, conv1_w, conv1_b, bn2_g, bn2_b, conv2_w, conv2_b;
    long bn1_rm, bn1_rv, bn2_rm, bn2_rv; /* offsets into buffers */
} block_desc;

/* Per-block activations saved for backward (backend memory). */
typedef struct block_acts {
    float *a1;         /* (B, cin, L) relu(bn1(x)); NULL for block 0 (uses x) */
    float *mean1, *rstd1;
    float *h1;         /* (B, cout, Lo) conv1 output */
    float *a2;         /* (B, cout, Lo) dropout(relu(bn2(h1))) */
    float *mean2, *rstd2;
    float *out;        /* (B, cout, Lo) conv2(a2) + shortcut(x): the next block's input */
} block_acts;

typedef struct model {
    model_config cfg;
    backend *be; /* not owned */
    int nblocks;
    block_desc blocks[RESECG_MAX_BLOCKS];
    int frame;   /* input samples per output frame: 2^(number of stride-2 blocks) */
    int out_channels;

    tensor_info *tensors; /* every tensor, params and buffers, in state-dict order */
    int ntensors;
    long nparams;  /* trainable floats */
    long nbuffers; /* running statistics floats */
    float *params, *grads, *buffers; /* backend memory */
    long stem_w, stem_b, stem_g, stem_beta, stem_rm, stem_rv;
    long out_g, out_b, out_rm, out_rv, dense_w, dense_b;

    /* activations for a batch of up to cap_B x cap_L samples (model_reserve) */
    int cap_B, cap_L;
    int B, L, T; /* shape of the last forward */
    float *x;    /* (B, 1, L) input */
    float *h0, *a0, *mean0, *rstd0; /* stem conv output, relu(bn(h0)) */
    block_acts acts[RESECG_MAX_BLOCKS];
    float *a_out, *mean_out, *rstd_out; /* (B, C, T) head relu(bn(x)) */
    float *logits;  /* (B, T, K) */
    float *dlogits; /* (B, T, K) */
    float *scratch[3]; /* gradient ping-pong buffers sized for the largest activation */
} model;

/* Lays out the network for cfg on backend be and allocates params, grads and
 * buffers (zeroed). Does not initialise weights. -1 with e filled on a bad
 * config or allocation failure. */
int model_init(model *m, const model_config *cfg, backend *be, rerr *e);
/* Allocates the activation memory for batches up to cap_B records of cap_L
 * samples (cap_L a multiple of m->frame), and prepares the full batch's
 * convolutions (model_prepare). -1 with e filled when out of memory. */
int model_reserve(model *m, int cap_B, int cap_L, rerr *e);

/* Builds, before their first use, what the backend needs for the
 * convolutions of a B x L batch (oneDNN's primitives and workspace; nothing
 * on the backends without conv1d_prepare). -1 with e filled when it cannot:
 * out of memory. A shape not prepared is built on first use, and a failure
 * there is be->failure (backend.h), not an abort. */
int model_prepare(model *m, int B, int L, rerr *e);
void model_free(model *m);

/* He-normal convs (truncated normal, std sqrt(2 / fan_in) / 0.8796, as Keras),
 * zero conv biases, Glorot-uniform dense weight, BN gamma 1, beta 0, running
 * mean 0, running variance 1. -1 with e filled when out of memory. */
int model_init_weights(model *m, uint64_t seed, rerr *e);

/* Forward pass over x (B, 1, L) in host memory, L a multiple of m->frame and
 * B, L within the reservation. training: batch statistics, running-stat
 * updates and dropout drawn from drop_seed. Leaves m->logits (B, T, K). */
void model_forward(model *m, const float *x, int B, int L, int training, uint64_t drop_seed);
/* Backward from m->dlogits (B, T, K), which the loss filled; grads =. */
void model_backward(model *m);

/* Looks up a tensor by state-dict name; NULL if absent. */
const tensor_info *model_tensor(const model *m, const char *name);
/* Host pointer to a tensor of a CPU model (params or buffers); NULL otherwise. */
float *model_tensor_data(model *m, const tensor_info *t);
/* Number of forward FLOPs for one sample of length L (multiply-adds count 2). */
double model_flops_forward(const model *m, int L);

#endif

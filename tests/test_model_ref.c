/* The whole network against PyTorch: tests/torch_ref.py builds ResECG with
 * the module names of model.h, runs one training step in float64 and dumps
 * parameters, inputs, logits, updated running statistics, the three losses,
 * dlogits, parameter gradients and eval-mode logits; and five Adam steps
 * with gradient clipping on a smaller network. This program loads them
 * into the C model and checks every tensor on the "cpu-ref" and "cpu"
 * backends, and that the default network has the paper's parameter count. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/cpu/cpu.h"
#include "nn/device.h"
#include "run/safetensors.h"
#include "base/config.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "testutil.h"

/* Tolerance |c - ref| <= atol + rtol * |ref|, atol = atol_frac * max|ref| of
 * the tensor, per reference file (ref_files below). The reference is
 * float64, so the whole difference is the float32 rounding of C: ~6e-8 per
 * operation, summed over convolutions of fan-in up to 16 x 16 = 256 and
 * batch-norm reductions over up to B*L = 768 elements, through 2 x (blocks)
 * + 2 layers forward and back. Elements of a gradient that nearly cancel
 * (sums of terms of both signs) carry the error of the large terms, hence
 * the absolute part scaled by the tensor's largest value.
 * Observed worst error as a fraction of the tolerance (err/tol, printed per
 * tensor), over six seeds of torch_ref.py, both backends:
 *   small: <= 0.028 at rtol 1e-3, atol 1e-4 * max|ref|; used at half that,
 *          which keeps >= 15x headroom.
 *   deep:  <= 0.42 at rtol 1e-3 (PyTorch's own float32 run scores 0.17-0.31
 *          on the same data: the 16 blocks amplify rounding, and its last
 *          batch norms normalise 4 values per channel); used at 5x that,
 *          >= 10x headroom.
 * Bugs planted in a copy of core/ fail every file on both backends (worst
 * err/tol): TF padding with the odd pad on the left 2.4e4, BN eps 1e-5 in
 * training 1.3e3, loss divided by all frames instead of the valid ones 190,
 * eval-mode eps 1e-5 2.3 (small) / 15 (deep), running variance updated with
 * the biased variance 5. */
typedef struct ref_spec {
    const char *file;
    double rtol, atol_frac;
} ref_spec;

static const ref_spec ref_files[] = {
    {"resecg_small.safetensors", 5e-4, 5e-5},
    {"resecg_deep.safetensors", 5e-3, 5e-4},
};

/* The trainable floats of the Hannun network (filters 32, 16 blocks, kernel
 * 16, 4 classes), as PyTorch counts them. */
#define DEFAULT_NPARAMS 10466148L

/* "cpu" three times: the second with RESECG_WGRAD=all, so that the
 * backward-weights kernel (core/nn/cpu/conv_wgrad.c), which the backend keeps
 * for long rows, also runs on the reference's short ones; the third the
 * same with its AVX2 variant forced (RESECG_WGRAD_ISA=avx2; skipped on a
 * CPU without AVX2 + FMA). */
static const char *backends[] = {"cpu-ref", "cpu", "cpu", "cpu"};
static const char *wgrad_env[] = {NULL, NULL, "all", "all"};
static const char *wgrad_isa_env[] = {NULL, NULL, NULL, "avx2"};
static const char *loss_names[] = {"ce", "weighted", "focal"};
#define NFILES 2
#define NBACKENDS 4

/* ---- reference file access ---- */

static void ref_open(st_file *f, const char *file)
{
    char path[4096];
    const char *src = getenv("RESECG_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/ref/%s", src ? src : ".", file);
    rerr e = {{0}};
    int rc = st_read(f, path, &e);
    ck_assert_msg(rc == 0, "cannot read reference %s (set RESECG_SOURCE_DIR to the repository): %s",
                  path, e.msg);
}

static const char *meta_str(const st_file *f, const char *key)
{
    const char *v = st_meta_get(f, key);
    ck_assert_msg(v != NULL, "reference metadata lacks \"%s\"", key);
    return v;
}

static int meta_int(const st_file *f, const char *key)
{
    return atoi(meta_str(f, key));
}

/* Parses a comma-separated list of n floats ("0.5,2.0,1.0,3.0"). */
static void meta_floats(const st_file *f, const char *key, float *out, int n)
{
    const char *s = meta_str(f, key);
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(s, &end);
        ck_assert_msg(end != s, "metadata \"%s\" = \"%s\": expected %d numbers", key,
                      meta_str(f, key), n);
        s = *end == ',' ? end + 1 : end;
    }
}

/* A float32 tensor of the reference with exactly numel elements. */
static const st_tensor *ref_f32(const st_file *f, const char *name, long numel)
{
    const st_tensor *t = st_find(f, name);
    ck_assert_msg(t != NULL, "reference lacks tensor \"%s\"", name);
    ck_assert_msg(t->dtype == ST_F32, "reference tensor \"%s\" is not F32", name);
    ck_assert_msg((long)(t->nbytes / sizeof(float)) == numel,
                  "reference tensor \"%s\" has %zu floats, expected %ld", name,
                  t->nbytes / sizeof(float), numel);
    return t;
}

/* Copies a reference tensor to host floats (malloc'd); data in the file
 * buffer need not be aligned. */
static float *ref_copy(const st_file *f, const char *name, long numel)
{
    const st_tensor *t = ref_f32(f, name, numel);
    float *p = malloc((size_t)numel * sizeof(float) + 1);
    ck_assert(p != NULL);
    memcpy(p, t->data, (size_t)numel * sizeof(float));
    return p;
}

/* Names in the file that are not state-dict entries. */
static int is_result_name(const char *name)
{
    static const char *prefixes[] = {"train.", "eval.", "loss.", "dlogits.", "grad.", "adam."};
    if (strcmp(name, "x") == 0 || strcmp(name, "labels") == 0)
        return 1;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- comparison ---- */

/* One file on one backend: the tolerance, and the running tally. */
typedef struct checker {
    const st_file *f;
    backend *be;
    double rtol, atol_frac;
    double worst; /* largest err/tol seen */
    long bad;     /* mismatching elements */
} checker;

/* |c - ref| <= atol + rtol * |ref| over n, through the shared checker
 * (testutil.h), counted in ck. */
static void compare_tol(checker *ck, const char *what, const float *c, const float *ref, long n,
                        double atol, double rtol)
{
    check_result r = check_elementwise(what, c, ref, (size_t)n, atol, rtol);
    ck->worst = fmax(ck->worst, r.worst_ratio);
    ck->bad += r.bad;
}

/* Compares c (n) with ref (n) through the shared checker (testutil.h),
 * which prints the worst element, its error as a fraction of the tolerance
 * and the first mismatches. scale: what atol is a fraction of, at least
 * max|ref|. */
static void compare(checker *ck, const char *what, const float *c, const float *ref, long n,
                    double scale)
{
    double maxref = testutil_max_abs(ref, (size_t)n);
    if (scale < maxref)
        scale = maxref;
    double abs_tol = ck->atol_frac * scale;
    if (abs_tol == 0)
        abs_tol = 1e-30; /* an all-zero reference: match it (nearly) exactly */
    compare_tol(ck, what, c, ref, n, abs_tol, ck->rtol);
}

/* Compares n floats of backend memory with the reference tensor ref_name. */
static void compare_dev(checker *ck, const float *dev, const char *ref_name, long n, double scale)
{
    float *host = malloc((size_t)n * sizeof(float) + 1);
    ck_assert(host != NULL);
    ck->be->download(ck->be, host, dev, (size_t)n * sizeof(float));
    float *ref = ref_copy(ck->f, ref_name, n);
    compare(ck, ref_name, host, ref, n, scale);
    free(ref);
    free(host);
}

static double max_abs_of(const st_file *f, const char *name)
{
    const st_tensor *t = st_find(f, name);
    ck_assert_msg(t != NULL, "reference lacks tensor \"%s\"", name);
    double mx = 0;
    for (size_t i = 0; i < t->nbytes / sizeof(float); i++) {
        float v;
        memcpy(&v, (const char *)t->data + i * sizeof(float), sizeof v);
        if (fabs(v) > mx)
            mx = fabs(v);
    }
    return mx;
}

/* ---- the check ---- */

/* Builds the model of the file's configuration on backend be_name, loads the
 * reference parameters and running statistics into it, and checks that the
 * two agree tensor for tensor in name, shape and number. */
static void setup_model(model *m, backend **be_out, const st_file *f, const char *be_name)
{
    resecg_config rc;
    config_defaults(&rc);
    model_config mc = rc.model;
    mc.in_channels = 1;
    mc.filters_start = meta_int(f, "filters");
    mc.num_blocks = meta_int(f, "blocks");
    mc.kernel = meta_int(f, "kernel");
    mc.increase_channels_at = meta_int(f, "increase_channels_at");
    mc.subsample_every = meta_int(f, "subsample_every");
    mc.num_classes = meta_int(f, "classes");
    mc.dropout = 0.0f; /* dropout's randomness is tested on its own */
    mc.bn_eps = strtof(meta_str(f, "bn_eps"), NULL);
    /* PyTorch's momentum m weighs the batch; Keras' (ours) the running value */
    mc.bn_momentum = 1.0f - strtof(meta_str(f, "bn_momentum_torch"), NULL);

    rerr e = {{0}};
    backend *be = backend_create(be_name, 0, PRECISION_FP32, &e);
    ck_assert_msg(be != NULL, "backend_create(%s): %s", be_name, e.msg);
    *be_out = be;
    ck_assert_msg(model_init(m, &mc, be, &e) == 0, "model_init: %s", e.msg);
    int B = meta_int(f, "B"), L = meta_int(f, "L");
    ck_assert_msg(model_reserve(m, B, L, &e) == 0, "model_reserve: %s", e.msg);
    ck_assert_int_eq(m->frame, meta_int(f, "frame"));

    /* every C tensor in the file, same shape; copy it in */
    for (int i = 0; i < m->ntensors; i++) {
        const tensor_info *t = &m->tensors[i];
        const st_tensor *r = st_find(f, t->name);
        ck_assert_msg(r != NULL, "C tensor \"%s\" is not in the PyTorch state dict", t->name);
        ck_assert_msg(r->ndim == t->ndim, "\"%s\": C has %d dims, PyTorch %d", t->name, t->ndim,
                      r->ndim);
        for (int k = 0; k < t->ndim; k++)
            ck_assert_msg(r->shape[k] == t->shape[k], "\"%s\": dim %d is %d in C, %lld in PyTorch",
                          t->name, k, t->shape[k], (long long)r->shape[k]);
        float *dst = model_tensor_data(m, t);
        ck_assert_msg(dst != NULL, "model_tensor_data(%s) on %s", t->name, be_name);
        memcpy(dst, ref_f32(f, t->name, t->numel)->data, (size_t)t->numel * sizeof(float));
    }
    /* and every state-dict tensor of the file in C */
    int nstate = 0;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->tensors[i].name;
        if (is_result_name(name) || ends_with(name, ".num_batches_tracked"))
            continue;
        nstate++;
        ck_assert_msg(model_tensor(m, name) != NULL,
                      "PyTorch state-dict tensor \"%s\" is missing from the C model", name);
    }
    ck_assert_int_eq(nstate, m->ntensors);
    ck_assert_int_eq(nstate, meta_int(f, "n_state_tensors"));
    ck_assert_int_eq(m->nparams, atol(meta_str(f, "n_params")));
}

static void loss_params_for(loss_params *lp, const st_file *f, int kind, int K)
{
    memset(lp, 0, sizeof *lp);
    lp->K = K;
    for (int k = 0; k < K; k++)
        lp->weight[k] = 1.0f;
    if (kind == 0) {
        lp->kind = LOSS_CE;
    } else if (kind == 1) {
        lp->kind = LOSS_WEIGHTED;
        meta_floats(f, "weighted.weights", lp->weight, K);
    } else {
        lp->kind = LOSS_FOCAL;
        meta_floats(f, "focal.alpha", lp->weight, K);
        lp->gamma = strtof(meta_str(f, "focal.gamma"), NULL);
    }
}

/* Is kind listed in the comma-separated metadata value? */
static int listed(const char *list, const char *kind)
{
    size_t k = strlen(kind);
    for (const char *s = list; *s;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == k && strncmp(s, kind, k) == 0)
            return 1;
        if (!end)
            break;
        s = end + 1;
    }
    return 0;
}

/* What atol of a per-parameter reference tensor <prefix><param> (a
 * gradient, an Adam moment or step) is a fraction of (0: its own max|ref|).
 * Every conv bias of this network has an exactly zero gradient in training
 * mode: the per-channel constant it adds reaches the loss only through
 * training-mode batch norms, which subtract it again (conv1 -> bn2; the stem
 * conv and each conv2 -> the next bn1 and, along the shortcuts, which carry a
 * constant shift unchanged through max-pool and zero-pad, bn_out). Its
 * float32 value is the rounding residue of a sum over B*L terms, so atol
 * scales with the same tensor of the conv's weight, a sum of the same terms
 * times the conv's inputs. */
static double bias_scale(const st_file *f, const char *prefix, const char *param)
{
    if (strcmp(param, "conv.bias") != 0 && !ends_with(param, ".conv1.bias") &&
        !ends_with(param, ".conv2.bias"))
        return 0;
    char wname[200];
    snprintf(wname, sizeof wname, "%s%.*s.weight", prefix,
             (int)(strlen(param) - strlen(".bias")), param);
    return max_abs_of(f, wname);
}

/* Labels (B, T) of the reference tensor name, I64 there, as ints. */
static int *ref_labels(const st_file *f, const char *name, int B, int T)
{
    const st_tensor *lt = st_find(f, name);
    ck_assert_msg(lt && lt->dtype == ST_I64 && lt->ndim == 2 && lt->shape[0] == B &&
                      lt->shape[1] == T,
                  "reference \"%s\" must be I64 (%d, %d)", name, B, T);
    int *labels = malloc((size_t)B * T * sizeof(int));
    ck_assert(labels != NULL);
    for (long i = 0; i < (long)B * T; i++) {
        int64_t v;
        memcpy(&v, (const char *)lt->data + (size_t)i * sizeof v, sizeof v);
        labels[i] = (int)v;
    }
    return labels;
}

/* Opens file and builds its model on backend variant v (backends[v] with
 * its RESECG_WGRAD settings); 0, with nothing opened, when the variant
 * cannot run on this CPU. */
static int setup_variant(model *m, backend **be, st_file *f, const char *file, int v)
{
    const char *be_name = backends[v], *wg = wgrad_env[v], *wg_isa = wgrad_isa_env[v];
    if (wg_isa && strcmp(wg_isa, "avx2") == 0 && !wgrad_isa_available(WGRAD_ISA_AVX2)) {
        printf("%s on %s (RESECG_WGRAD_ISA=avx2): SKIPPED, no AVX2 + FMA on this CPU\n", file,
               be_name);
        return 0;
    }
    ref_open(f, file);
    if (wg)
        setenv("RESECG_WGRAD", wg, 1);
    if (wg_isa)
        setenv("RESECG_WGRAD_ISA", wg_isa, 1);
    setup_model(m, be, f, be_name);
    unsetenv("RESECG_WGRAD");
    unsetenv("RESECG_WGRAD_ISA");
    if (wg)
        printf("  (RESECG_WGRAD=%s%s%s)\n", wg, wg_isa ? ", RESECG_WGRAD_ISA=" : "",
               wg_isa ? wg_isa : "");
    return 1;
}

/* Loop index: file * NBACKENDS + backend. */
START_TEST(test_against_pytorch)
{
    const ref_spec *spec = &ref_files[_i / NBACKENDS];
    const char *be_name = backends[_i % NBACKENDS];
    st_file f;
    model m;
    backend *be;
    if (!setup_variant(&m, &be, &f, spec->file, _i % NBACKENDS))
        return;
    checker ck = {.f = &f, .be = be, .rtol = spec->rtol, .atol_frac = spec->atol_frac};
    int B = meta_int(&f, "B"), L = meta_int(&f, "L"), K = meta_int(&f, "classes");
    int T = meta_int(&f, "T"), N = B * T;
    long nlog = (long)N * K;
    printf("%s on %s: filters %d, %d blocks, kernel %d, B %d, L %d, T %d, %ld params (seed %s); "
           "tolerance %g*max|ref| + %g*|ref|\n",
           spec->file, be_name, m.cfg.filters_start, m.nblocks, m.cfg.kernel, B, L, T, m.nparams,
           meta_str(&f, "seed"), spec->atol_frac, spec->rtol);
    ck_assert_int_eq(T, L / m.frame);
    float *x = ref_copy(&f, "x", (long)B * L);
    int *labels = ref_labels(&f, "labels", B, T);

    /* the running statistics before the step, restored before each forward */
    size_t bbytes = (size_t)m.nbuffers * sizeof(float);
    float *buffers0 = malloc(bbytes + 1);
    ck_assert(buffers0 != NULL);
    be->download(be, buffers0, m.buffers, bbytes);
    char name[200];

    /* training-mode forward: logits and the updated running statistics */
    model_forward(&m, x, B, L, 1, 0);
    ck_assert_int_eq(m.T, T);
    compare_dev(&ck, m.logits, "train.logits", nlog, 0);
    for (int i = 0; i < m.ntensors; i++) {
        const tensor_info *t = &m.tensors[i];
        if (t->kind != TENSOR_BUFFER)
            continue;
        snprintf(name, sizeof name, "train.%s", t->name);
        compare_dev(&ck, m.buffers + t->offset, name, t->numel, 0);
    }

    const char *grad_losses = meta_str(&f, "grad_losses");
    for (int kind = 0; kind < 3; kind++) {
        const char *kn = loss_names[kind];
        /* the loss reads the logits of the last forward; redo it from the
         * initial statistics so every check sees exactly one update */
        be->upload(be, m.buffers, buffers0, bbytes);
        model_forward(&m, x, B, L, 1, 0);
        loss_params lp;
        loss_params_for(&lp, &f, kind, K);
        float loss = be->loss_forward_backward(be, NULL, m.dlogits, m.logits, labels, N, &lp);
        snprintf(name, sizeof name, "loss.%s", kn);
        float *ref_loss = ref_copy(&f, name, 1);
        compare(&ck, name, &loss, ref_loss, 1, 0);
        free(ref_loss);
        snprintf(name, sizeof name, "dlogits.%s", kn);
        compare_dev(&ck, m.dlogits, name, nlog, 0);

        if (!listed(grad_losses, kn))
            continue; /* the file has dlogits only: backward is linear in them */
        model_backward(&m);
        int nparam_tensors = 0, ngrads = 0;
        for (int i = 0; i < m.ntensors; i++) {
            const tensor_info *t = &m.tensors[i];
            if (t->kind != TENSOR_PARAM)
                continue;
            nparam_tensors++;
            snprintf(name, sizeof name, "grad.%s.%s", kn, t->name);
            char prefix[64];
            snprintf(prefix, sizeof prefix, "grad.%s.", kn);
            compare_dev(&ck, m.grads + t->offset, name, t->numel, bias_scale(&f, prefix, t->name));
        }
        snprintf(name, sizeof name, "grad.%s.", kn);
        for (int i = 0; i < f.n; i++)
            ngrads += strncmp(f.tensors[i].name, name, strlen(name)) == 0;
        ck_assert_msg(ngrads == nparam_tensors,
                      "%s: the reference has %d gradients for loss %s, the C model %d params",
                      spec->file, ngrads, kn, nparam_tensors);
    }

    /* eval mode with the statistics after one update (the last forward) */
    model_forward(&m, x, B, L, 0, 0);
    compare_dev(&ck, m.logits, "eval.logits", nlog, 0);

    printf("%s on %s: worst err/tol %.4f, %ld mismatching elements\n\n", spec->file, be_name,
           ck.worst, ck.bad);
    fflush(stdout);
    ck_assert_msg(ck.bad == 0, "%s on %s: %ld elements outside |c - ref| <= %g*max|ref| + %g*|ref|",
                  spec->file, be_name, ck.bad, spec->atol_frac, spec->rtol);

    free(buffers0);
    free(labels);
    free(x);
    model_free(&m);
    backend_destroy(be);
    st_free(&f);
}
END_TEST

/* ---- Adam with gradient clipping ----
 * resecg_adam.safetensors: torch_ref.py's Adam steps (adam_run there) on a
 * small network of their own, each on a fresh batch with the loss named in
 * "adam.losses", clipped at a global norm between the steps' norms (which
 * steps clip is in "adam.clipped"). After each step k the file holds the
 * loss and the gradient norm before clipping, every parameter's change since
 * the start (adam.<k>.delta.<param>), both moments (adam.<k>.m.<param>,
 * adam.<k>.v.<param>) and the running statistics. */
#define ADAM_FILE "resecg_adam.safetensors"
/* Tolerances, |c - ref| <= atol + rtol * |ref|:
 *   losses, gradient norms, moments, running statistics: "small"'s, rtol
 *     5e-4 and atol 5e-5 * max(max|ref|, bias_scale): the same float32
 *     rounding of the same layers, through at most 5 forwards.
 *   parameters after step k: atol ADAM_STEP_ATOL * lr, rtol ADAM_PARAM_RTOL.
 *     Adam normalises each gradient element by its own size, so an element
 *     with |g| ~ eps carries a gradient error d into the step as ~lr * d /
 *     eps, whatever the tensor's scale: the error is a fraction of lr, not
 *     of the parameter. rtol 1e-6 (8 to 16 ulps) covers the float32
 *     rounding of p -= step, once a step in C and once in storing the
 *     reference.
 * Observed worst err/tol (printed per tensor), cpu-ref / cpu (three
 * variants): parameters 0.052 / 0.13-0.15, all conv biases (whose zero
 * gradient is a float32 residue of ~5e-8 in C that Adam turns into steps of
 * ~lr * 5e-8 / eps, growing over the steps: 1.5e-6 at step 5), other
 * parameters 0.021 (2 ulps); moments 0.034 / 0.019; running statistics
 * 0.005; losses and norms < 1e-3 (2e-7 relative). That is >= 6x headroom.
 * A reference made with other semantics (tests/torch_ref.py changed one
 * thing at a time, same seed) fails on both backends at worst err/tol:
 * Keras' eps placement 3.6e3 (70 at step 1), eps inside the square root
 * 3.4e3, no bias correction 8.8e3, sqrt(1 - b2^t) left out (C then also
 * disagrees on which steps clip), no clipping or per-tensor clipping 9.1e3
 * (from step 2, the first clipped one), the unclipped gradient in v 2.5e3,
 * clipping by value 1.8e5. */
#define ADAM_RTOL 5e-4
#define ADAM_ATOL_FRAC 5e-5
#define ADAM_STEP_ATOL 1e-2
#define ADAM_PARAM_RTOL 1e-6

static float meta_float(const st_file *f, const char *key)
{
    return strtof(meta_str(f, key), NULL);
}

/* The n-th (from 0) comma-separated field of metadata key, into out. */
static void meta_field(const st_file *f, const char *key, int n, char *out, size_t size)
{
    const char *s = meta_str(f, key);
    for (int i = 0; i < n && s; i++) {
        s = strchr(s, ',');
        s = s ? s + 1 : NULL;
    }
    ck_assert_msg(s != NULL, "metadata \"%s\" = \"%s\" has no field %d", key, meta_str(f, key), n);
    size_t len = strcspn(s, ",");
    ck_assert(len < size);
    memcpy(out, s, len);
    out[len] = '\0';
}

static int loss_kind_of(const char *name)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(loss_names[k], name) == 0)
            return k;
    ck_abort_msg("unknown loss \"%s\" in the reference", name);
    return -1;
}

/* Loop index: backend. */
START_TEST(test_adam_steps)
{
    st_file f;
    model m;
    backend *be;
    if (!setup_variant(&m, &be, &f, ADAM_FILE, _i))
        return;
    checker ck = {.f = &f, .be = be, .rtol = ADAM_RTOL, .atol_frac = ADAM_ATOL_FRAC};
    int B = meta_int(&f, "B"), L = meta_int(&f, "L"), K = meta_int(&f, "classes");
    int T = meta_int(&f, "T"), N = B * T, steps = meta_int(&f, "adam.steps");
    optim_config oc;
    memset(&oc, 0, sizeof oc);
    oc.lr = meta_float(&f, "adam.lr");
    oc.beta1 = meta_float(&f, "adam.beta1");
    oc.beta2 = meta_float(&f, "adam.beta2");
    oc.eps = meta_float(&f, "adam.eps");
    oc.clip_norm = meta_float(&f, "adam.clip_norm");
    printf("%s on %s: %ld params (seed %s), %d Adam steps, lr %g, betas %g %g, eps %g, "
           "clip_norm %g; tolerance %g*max(max|ref|, scale) + %g*|ref|\n",
           ADAM_FILE, backends[_i], m.nparams, meta_str(&f, "seed"), steps, (double)oc.lr,
           (double)oc.beta1, (double)oc.beta2, (double)oc.eps, (double)oc.clip_norm,
           ADAM_ATOL_FRAC, ADAM_RTOL);
    rerr e = {{0}};
    adam opt;
    ck_assert_msg(adam_init(&opt, be, m.nparams, &e) == 0, "adam_init: %s", e.msg);
    size_t pbytes = (size_t)m.nparams * sizeof(float);
    float *p0 = malloc(pbytes + 1), *params = malloc(pbytes + 1);
    ck_assert(p0 != NULL && params != NULL);
    be->download(be, p0, m.params, pbytes);
    int nclipped = 0;
    char name[200], prefix[64], field[32];
    for (int k = 1; k <= steps; k++) {
        snprintf(name, sizeof name, "adam.%d.x", k);
        float *x = ref_copy(&f, name, (long)B * L);
        snprintf(name, sizeof name, "adam.%d.labels", k);
        int *labels = ref_labels(&f, name, B, T);
        meta_field(&f, "adam.losses", k - 1, field, sizeof field);
        loss_params lp;
        loss_params_for(&lp, &f, loss_kind_of(field), K);

        model_forward(&m, x, B, L, 1, 0);
        float loss = be->loss_forward_backward(be, NULL, m.dlogits, m.logits, labels, N, &lp);
        model_backward(&m);
        double norm = adam_step_clipped(&opt, be, m.params, m.grads, &oc, oc.lr);
        ck_assert_int_eq(opt.t, k);

        int clipped = norm > oc.clip_norm;
        char ref_clipped[8];
        meta_field(&f, "adam.clipped", k - 1, ref_clipped, sizeof ref_clipped);
        printf(" step %d (%s): gradient norm %.6g, %s\n", k, field, norm,
               clipped ? "clipped" : "not clipped");
        ck_assert_msg(clipped == atoi(ref_clipped), "step %d: C %s, PyTorch %s", k,
                      clipped ? "clipped" : "did not clip", atoi(ref_clipped) ? "did" : "did not");
        nclipped += clipped;
        snprintf(name, sizeof name, "adam.%d.loss", k);
        float *ref1 = ref_copy(&f, name, 1);
        compare(&ck, name, &loss, ref1, 1, 0);
        free(ref1);
        snprintf(name, sizeof name, "adam.%d.norm", k);
        ref1 = ref_copy(&f, name, 1);
        float normf = (float)norm;
        compare(&ck, name, &normf, ref1, 1, 0);
        free(ref1);

        be->download(be, params, m.params, pbytes);
        for (int i = 0; i < m.ntensors; i++) {
            const tensor_info *t = &m.tensors[i];
            if (t->kind == TENSOR_BUFFER) {
                snprintf(name, sizeof name, "adam.%d.%s", k, t->name);
                compare_dev(&ck, m.buffers + t->offset, name, t->numel, 0);
                continue;
            }
            /* the parameters after step k: p0 + the change in the file */
            snprintf(name, sizeof name, "adam.%d.delta.%s", k, t->name);
            float *ref = ref_copy(&f, name, t->numel);
            for (long j = 0; j < t->numel; j++)
                ref[j] = (float)((double)p0[t->offset + j] + ref[j]);
            snprintf(name, sizeof name, "adam.%d.%s", k, t->name);
            compare_tol(&ck, name, params + t->offset, ref, t->numel, ADAM_STEP_ATOL * oc.lr,
                        ADAM_PARAM_RTOL);
            free(ref);
            snprintf(prefix, sizeof prefix, "adam.%d.m.", k);
            snprintf(name, sizeof name, "%s%s", prefix, t->name);
            compare_dev(&ck, opt.m + t->offset, name, t->numel, bias_scale(&f, prefix, t->name));
            snprintf(prefix, sizeof prefix, "adam.%d.v.", k);
            snprintf(name, sizeof name, "%s%s", prefix, t->name);
            compare_dev(&ck, opt.v + t->offset, name, t->numel, bias_scale(&f, prefix, t->name));
        }
        free(labels);
        free(x);
    }
    /* the file is only a test of clipping if it has both kinds of step */
    ck_assert_msg(nclipped > 0 && nclipped < steps, "%d of %d steps clipped", nclipped, steps);
    printf("%s on %s: worst err/tol %.4f, %ld mismatching elements\n\n", ADAM_FILE, backends[_i],
           ck.worst, ck.bad);
    fflush(stdout);
    ck_assert_msg(ck.bad == 0, "%s on %s: %ld elements outside |c - ref| <= %g*scale + %g*|ref|",
                  ADAM_FILE, backends[_i], ck.bad, ADAM_ATOL_FRAC, ADAM_RTOL);
    free(params);
    free(p0);
    adam_free(&opt, be);
    model_free(&m);
    backend_destroy(be);
    st_free(&f);
}
END_TEST

START_TEST(test_default_param_count)
{
    resecg_config rc;
    config_defaults(&rc);
    rerr e = {{0}};
    backend *be = backend_create("cpu-ref", 1, PRECISION_FP32, &e);
    ck_assert_msg(be != NULL, "backend_create(cpu-ref): %s", e.msg);
    model m;
    ck_assert_msg(model_init(&m, &rc.model, be, &e) == 0, "model_init: %s", e.msg);
    printf("default network: %ld trainable floats (expected %ld)\n", m.nparams, DEFAULT_NPARAMS);
    ck_assert_int_eq(m.nparams, DEFAULT_NPARAMS);
    /* and PyTorch counts the same, in both reference files */
    for (int i = 0; i < NFILES; i++) {
        st_file f;
        ref_open(&f, ref_files[i].file);
        ck_assert_int_eq(atol(meta_str(&f, "default_nparams")), DEFAULT_NPARAMS);
        st_free(&f);
    }
    model_free(&m);
    backend_destroy(be);
}
END_TEST

static Suite *model_ref_suite(void)
{
    Suite *s = suite_create("model_ref");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_against_pytorch, 0, NFILES * NBACKENDS);
    tcase_add_loop_test(tc, test_adam_steps, 0, NBACKENDS);
    tcase_add_test(tc, test_default_param_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_ref_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

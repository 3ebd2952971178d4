"""Reference tensors for tests/test_model_ref.c: the ResECG network of
awni/ecg (Hannun et al. 2019) built in PyTorch with the module names of
core/nn/model.h, run once in float64 (training-mode forward, three losses,
backward, eval-mode forward) and dumped as float32 safetensors; and a few
Adam steps with global-norm gradient clipping (core/nn/optim.c) on a
smaller network of the same kind.

Regenerate (deterministic; needs torch and numpy, e.g. Debian's python3):
    /usr/bin/python3 tests/torch_ref.py            # writes tests/ref/*.safetensors
    /usr/bin/python3 tests/torch_ref.py OUTDIR     # somewhere else

Inputs (parameters, initial running statistics, x) are drawn in float32 from
seeded torch.Generators and written as those float32 values; the computation
casts them to float64, so the only error the C test sees is its own float32
rounding. The seed of each configuration is the first one, counting up from
its base seed, whose forward pass keeps every ReLU input and every max-pool
window a margin away from a tie: a float32 rounding flip at a kink would move
a whole element of gradient and make the test flaky for no fault of the C code.

Contents of tests/ref/resecg_{small,deep}.safetensors:
  <state-dict key>           parameters and running stats before the step
                             (num_batches_tracked as I64; the C model has none)
  x (B, 1, L), labels (B, T) I64, -1 = masked frame
  train.logits (B, T, K)     training-mode forward (batch statistics)
  train.<bn>.running_{mean,var}  running statistics after that forward
  loss.<kind> (), dlogits.<kind> (B, T, K)   kind in ce, weighted, focal
  grad.<kind>.<param>        d loss / d param, for the kinds in grad_losses
  eval.logits (B, T, K)      eval-mode forward with the updated statistics
  __metadata__               the configuration, as strings

Contents of tests/ref/resecg_adam.safetensors (ADAM_CONFIG, ADAM; adam_run):
  <state-dict key>           parameters and running stats before step 1
  adam.<k>.x, adam.<k>.labels    step k's batch (k = 1..adam.steps), a fresh one
                             per step; its loss kind is field k of adam.losses
  adam.<k>.loss (), adam.<k>.norm ()   the loss, and the global gradient norm
                             before clipping (adam.clipped: 1 where it clipped)
  adam.<k>.delta.<param>     parameter after step k minus before step 1 (kept
                             as the difference: float32 keeps its digits)
  adam.<k>.{m,v}.<param>     Adam's first and second moments after step k
  adam.<k>.<bn>.running_{mean,var}  running statistics after step k's forward
  __metadata__               the configuration and adam.{lr,beta1,beta2,eps,
                             clip_norm}, as strings
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3        # Keras BatchNormalization default
BN_MOMENTUM = 0.01   # PyTorch convention; Keras momentum 0.99
TIE_MARGIN = 1e-4    # smallest |ReLU input| and max-pool gap, relative to the tensor's std


def same_pad(L, K, s):
    """TensorFlow 'same' padding: the odd pad goes on the right."""
    Lout = (L + s - 1) // s
    total = max((Lout - 1) * s + K - L, 0)
    return total // 2, total - total // 2


class SameConv1d(nn.Conv1d):
    def forward(self, x):
        left, right = same_pad(x.shape[-1], self.kernel_size[0], self.stride[0])
        return F.conv1d(F.pad(x, (left, right)), self.weight, self.bias, self.stride)


class Block(nn.Module):
    """[BN -> ReLU ->] conv(stride s) -> BN -> ReLU -> dropout -> conv, plus
    the shortcut max-pool(s) with zero channels appended when the width grows."""

    def __init__(self, i, cin, cout, stride, K, dropout):
        super().__init__()
        self.first = i == 0
        self.cin, self.cout, self.stride = cin, cout, stride
        if not self.first:
            self.bn1 = nn.BatchNorm1d(cin, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv1 = SameConv1d(cin, cout, K, stride=stride)
        self.bn2 = nn.BatchNorm1d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.drop = nn.Dropout(dropout)
        self.conv2 = SameConv1d(cout, cout, K, stride=1)

    def shortcut(self, x):
        y = F.max_pool1d(x, self.stride, self.stride) if self.stride > 1 else x
        if self.cout > self.cin:
            y = torch.cat([y, torch.zeros_like(y)[:, : self.cout - self.cin]], dim=1)
        return y

    def forward(self, x, probe):
        h = x if self.first else probe(F.relu, self.bn1(x))
        h = self.conv1(h)
        h = self.drop(probe(F.relu, self.bn2(h)))
        h = self.conv2(h)
        if self.stride > 1:
            probe("pool", x)
        return h + self.shortcut(x)


class ResECG(nn.Module):
    def __init__(self, filters, blocks, kernel, classes, increase_channels_at=4,
                 subsample_every=2, dropout=0.0):
        super().__init__()
        self.conv = SameConv1d(1, filters, kernel)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS, momentum=BN_MOMENTUM)
        mods, cin = [], filters
        self.frame = 1
        for i in range(blocks):
            cout = filters * 2 ** (i // increase_channels_at)
            stride = 2 if i % subsample_every == 1 else 1
            self.frame *= stride
            mods.append(Block(i, cin, cout, stride, kernel, dropout))
            cin = cout
        self.blocks = nn.ModuleList(mods)
        self.bn_out = nn.BatchNorm1d(cin, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.dense = nn.Linear(cin, classes)

    def forward(self, x, probe=None):
        """x (B, 1, L) -> logits (B, T, classes). probe(f, t) sees every ReLU
        input and ("pool", t) every max-pooled tensor."""
        if probe is None:
            probe = lambda f, t: f(t) if callable(f) else None  # noqa: E731
        h = probe(F.relu, self.bn(self.conv(x)))
        for b in self.blocks:
            h = b(h, probe)
        h = probe(F.relu, self.bn_out(h))
        return self.dense(h.transpose(1, 2))


def loss_fn(logits, labels, kind, weight=None, gamma=0.0):
    """Mean over frames with label != -1 of -w_t (1 - p_t)^gamma log p_t (core/nn/loss.h)."""
    K = logits.shape[-1]
    lg = logits.reshape(-1, K)
    lab = labels.reshape(-1)
    valid = lab >= 0
    t = lab.clamp(min=0)
    logp = F.log_softmax(lg, dim=-1).gather(1, t[:, None])[:, 0]
    w = torch.ones_like(logp) if kind == "ce" else weight.to(lg.dtype)[t]
    mod = (1 - logp.exp()) ** gamma if kind == "focal" else torch.ones_like(logp)
    per = -w * mod * logp
    return (per * valid.to(lg.dtype)).sum() / valid.sum()


LOSSES = [
    ("ce", None, 0.0),
    ("weighted", [0.5, 2.0, 1.0, 3.0], 0.0),
    ("focal", [0.25, 1.0, 0.5, 2.0], 2.0),
]


def randomise(model, g):
    """Every parameter and running statistic random (float32), so each matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() >= 2:  # conv / dense: He-like scale
                fan_in = p.shape[1] * (p.shape[2] if p.dim() == 3 else 1)
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif ".bn" in "." + name and name.endswith("weight"):  # BN gamma
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:  # BN beta, conv and dense biases
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def tie_margin(model, x):
    """Smallest distance to a kink of the forward pass, relative to each tensor's std."""
    worst = [float("inf")]

    def probe(f, t):
        s = t.std().item()
        if f == "pool":
            d = (t[..., 0::2] - t[..., 1::2]).abs().min().item()
            worst[0] = min(worst[0], d / s)
            return None
        worst[0] = min(worst[0], t.abs().min().item() / s)
        return f(t)

    with torch.no_grad():
        model(x, probe)
    return worst[0]


def build(cfg):
    """Finds the first seed with no near-ties and returns the float32 inputs."""
    seed = cfg["seed"]
    while True:
        g = torch.Generator().manual_seed(seed)
        model = ResECG(cfg["filters"], cfg["blocks"], cfg["kernel"], cfg["classes"],
                       cfg["increase_channels_at"], cfg["subsample_every"])
        randomise(model, g)
        B, L = cfg["B"], cfg["L"]
        x = torch.randn((B, 1, L), generator=g)
        T = L // model.frame
        labels = torch.randint(0, cfg["classes"], (B, T), generator=g)
        labels[-1, T - cfg["masked"]:] = -1
        m64 = ResECG(cfg["filters"], cfg["blocks"], cfg["kernel"], cfg["classes"],
                     cfg["increase_channels_at"], cfg["subsample_every"]).double()
        m64.load_state_dict(model.state_dict())
        m64.train()
        margin = tie_margin(m64, x.double())
        if margin >= TIE_MARGIN:
            return seed, margin, model, x, labels
        seed += 1


def run(cfg):
    seed, margin, model32, x32, labels = build(cfg)
    out = {}
    state0 = {k: v.clone() for k, v in model32.state_dict().items()}
    for k, v in state0.items():
        out[k] = v  # num_batches_tracked stays int64
    out["x"] = x32
    out["labels"] = labels

    model = ResECG(cfg["filters"], cfg["blocks"], cfg["kernel"], cfg["classes"],
                   cfg["increase_channels_at"], cfg["subsample_every"]).double()
    model.load_state_dict(state0)
    model.train()
    logits = model(x32.double())
    logits.retain_grad()
    out["train.logits"] = logits.detach()
    for k, v in model.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            out["train." + k] = v.clone()
    params = dict(model.named_parameters())
    for kind, w, gamma in LOSSES:
        wt = torch.tensor(w, dtype=torch.float64) if w is not None else None
        loss = loss_fn(logits, labels, kind, wt, gamma)
        model.zero_grad()
        logits.grad = None
        loss.backward(retain_graph=True)
        out["loss." + kind] = loss.detach().reshape(())
        out["dlogits." + kind] = logits.grad.clone()
        if kind not in cfg["grad_losses"].split(","):
            continue  # backward is linear in dlogits: one kind checks it
        for name, p in params.items():
            out["grad.%s.%s" % (kind, name)] = p.grad.clone()
    model.eval()
    with torch.no_grad():
        out["eval.logits"] = model(x32.double())

    meta = {k: str(v) for k, v in cfg.items()}
    meta.update({
        "seed": str(seed), "tie_margin": "%.3g" % margin, "T": str(labels.shape[1]), "frame": str(model.frame),
        "bn_eps": repr(BN_EPS), "bn_momentum_torch": repr(BN_MOMENTUM), "dropout": "0",
        "n_state_tensors": str(sum(1 for k in state0 if not k.endswith("num_batches_tracked"))),
        "n_params": str(sum(p.numel() for p in model.parameters())),
        "losses": ",".join(k for k, _, _ in LOSSES),
        "weighted.weights": ",".join(repr(v) for v in LOSSES[1][1]),
        "focal.alpha": ",".join(repr(v) for v in LOSSES[2][1]),
        "focal.gamma": repr(LOSSES[2][2]),
        "default_nparams": str(default_nparams()),
    })
    return out, meta


def default_nparams():
    """Trainable floats of the default network (cfgs/ResECG.yaml)."""
    m = ResECG(filters=32, blocks=16, kernel=16, classes=4)
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# ---- the optimiser: a few Adam steps with global-norm clipping ----
#
# core/nn/optim.c (adam_step_clipped) and core/nn/cpu/backend_cpu.c
# (cpu_sqnorm, cpu_adam), restated here in float64, step by step:
#   clipping  one norm over the whole flat gradient (sqrt of cpu_sqnorm of
#             all parameters together), not per tensor, and by norm, not by
#             value (no clipvalue); only when norm > clip_norm, and then every
#             gradient times clip_norm / (norm + 1e-6), PyTorch's
#             clip_grad_norm_ (optim.c: "scale = clip_norm / (norm + 1e-6)").
#             The scaled gradient is what enters both moments (cpu_adam:
#             g = grads[i] * grad_scale).
#   moments   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2, from zero
#             (adam_init zeroes them), t counted from 1 (a->t++ first).
#   update    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps):
#             both bias corrections, eps added to the bias-corrected
#             sqrt(v-hat) outside the square root (PyTorch's placement;
#             Keras and the paper's "efficient" form add eps to sqrt(v)
#             before the correction, i.e. eps * sqrt(1 - b2^t)). No weight
#             decay, no amsgrad.
# adam_run checks this against torch.nn.utils.clip_grad_norm_ followed by
# torch.optim.Adam on a copy of the parameters, step for step.
#
# Hyperparameters are the float32 values C is handed (optim_config holds
# floats). eps is 1e-4, not the default 1e-8, for two reasons: its placement
# shows only for gradients of the order of eps / sqrt(1 - b2^t), and at 1e-8
# the conv biases, whose gradient is exactly zero (test_model_ref.c,
# grad_scale) but a float32 rounding residue of ~1e-8 in C, would take steps
# of +-lr in C and none here: Adam divides that residue by its own size.
# clip_norm is chosen between the steps' gradient norms, so that some steps
# are clipped and some are not (asserted, with a margin against rounding).
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-4, clip_norm=2.5)
ADAM_CLIP_MARGIN = 0.02  # every norm at least 2% away from clip_norm
ADAM_LOSSES = ["ce", "weighted", "focal", "ce", "weighted"]  # step k's loss


def f32(v):
    return float(np.float32(v))


def adam_run(cfg):
    """The steps from the first seed, counting up from cfg's, whose forward
    passes all stay a margin away from a tie; returns tensors and metadata."""
    seed = cfg["seed"]
    while True:
        res = adam_try(cfg, seed)
        if res is not None:
            return res
        seed += 1


def adam_try(cfg, seed):
    hp = {k: f32(v) for k, v in ADAM.items()}
    g = torch.Generator().manual_seed(seed)
    args = (cfg["filters"], cfg["blocks"], cfg["kernel"], cfg["classes"],
            cfg["increase_channels_at"], cfg["subsample_every"])
    model32 = ResECG(*args)
    randomise(model32, g)
    B, L, S = cfg["B"], cfg["L"], len(ADAM_LOSSES)
    T = L // model32.frame
    batches = []
    for _ in range(S):
        x = torch.randn((B, 1, L), generator=g)
        labels = torch.randint(0, cfg["classes"], (B, T), generator=g)
        labels[-1, T - cfg["masked"]:] = -1
        batches.append((x, labels))
    out = {k: v.clone() for k, v in model32.state_dict().items()}

    model = ResECG(*args).double()
    model.load_state_dict(model32.state_dict())
    model.train()
    params = dict(model.named_parameters())
    p0 = {k: p.detach().clone() for k, p in params.items()}
    m = {k: torch.zeros_like(p) for k, p in params.items()}
    v = {k: torch.zeros_like(p) for k, p in params.items()}
    twin = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    topt = torch.optim.Adam(twin.values(), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                            eps=hp["eps"], foreach=False)
    kinds = {k: (w, gamma) for k, w, gamma in LOSSES}
    worst = float("inf")
    norms, clipped = [], []

    def probe(f, t):
        nonlocal worst
        d = t.detach()
        s = d.std().item()
        if f == "pool":
            worst = min(worst, (d[..., 0::2] - d[..., 1::2]).abs().min().item() / s)
            return None
        worst = min(worst, d.abs().min().item() / s)
        return f(t)

    for k, ((x, labels), kind) in enumerate(zip(batches, ADAM_LOSSES), start=1):
        w, gamma = kinds[kind]
        wt = torch.tensor(w, dtype=torch.float64) if w is not None else None
        model.zero_grad()
        loss = loss_fn(model(x.double(), probe), labels, kind, wt, gamma)
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in params.items()}
        norm = math.sqrt(sum((gr * gr).sum().item() for gr in grads.values()))
        norms.append(norm)
        scale = hp["clip_norm"] / (norm + 1e-6) if norm > hp["clip_norm"] else 1.0
        clipped.append(norm > hp["clip_norm"])
        bc1 = 1 - hp["beta1"] ** k
        bc2_sqrt = math.sqrt(1 - hp["beta2"] ** k)
        with torch.no_grad():
            for n, p in params.items():
                gr = grads[n] * scale
                m[n].mul_(hp["beta1"]).add_((1 - hp["beta1"]) * gr)
                v[n].mul_(hp["beta2"]).add_((1 - hp["beta2"]) * gr * gr)
                p.sub_(hp["lr"] / bc1 * m[n] / (v[n].sqrt() / bc2_sqrt + hp["eps"]))
        # the same step by PyTorch's own clipping and Adam, on the twin
        for n, q in twin.items():
            q.grad = grads[n].clone()
        tnorm = torch.nn.utils.clip_grad_norm_(list(twin.values()), hp["clip_norm"]).item()
        topt.step()
        assert abs(tnorm - norm) <= 1e-12 * norm
        for n, q in twin.items():
            d = (q.detach() - params[n].detach()).abs().max().item()
            assert d <= 1e-14, "step %d: %s differs from torch.optim.Adam by %g" % (k, n, d)
        out["adam.%d.x" % k] = x
        out["adam.%d.labels" % k] = labels
        out["adam.%d.loss" % k] = loss.detach().reshape(())
        out["adam.%d.norm" % k] = torch.tensor(norm, dtype=torch.float64)
        for n, p in params.items():
            out["adam.%d.delta.%s" % (k, n)] = p.detach() - p0[n]
            out["adam.%d.m.%s" % (k, n)] = m[n].clone()
            out["adam.%d.v.%s" % (k, n)] = v[n].clone()
        for n, b in model.named_buffers():
            if n.endswith("running_mean") or n.endswith("running_var"):
                out["adam.%d.%s" % (k, n)] = b.clone()
    if worst < TIE_MARGIN:
        return None
    for k, norm in enumerate(norms, start=1):
        assert abs(norm - hp["clip_norm"]) > ADAM_CLIP_MARGIN * hp["clip_norm"], \
            "step %d: gradient norm %g too close to clip_norm %g" % (k, norm, hp["clip_norm"])
    assert any(clipped) and not all(clipped), "clip_norm must clip some steps, not all"
    meta = {k: str(v) for k, v in cfg.items()}
    meta.update({
        "seed": str(seed), "tie_margin": "%.3g" % worst, "T": str(T), "frame": str(model.frame),
        "bn_eps": repr(BN_EPS), "bn_momentum_torch": repr(BN_MOMENTUM), "dropout": "0",
        "n_state_tensors": str(sum(1 for k in model.state_dict() if not k.endswith("num_batches_tracked"))),
        "n_params": str(sum(p.numel() for p in model.parameters())),
        "weighted.weights": ",".join(repr(v) for v in LOSSES[1][1]),
        "focal.alpha": ",".join(repr(v) for v in LOSSES[2][1]),
        "focal.gamma": repr(LOSSES[2][2]),
        "adam.steps": str(S), "adam.losses": ",".join(ADAM_LOSSES),
        "adam.clipped": ",".join(str(int(c)) for c in clipped),
    })
    meta.update({"adam." + k: repr(v) for k, v in ADAM.items()})
    return out, meta


def st_write(path, tensors, meta):
    """Minimal safetensors writer: u64 header size, JSON header, raw data.
    Floating tensors are written as F32, integer ones as I64."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        if t.dtype.is_floating_point:
            a, dt = t.detach().to(torch.float32).numpy().astype("<f4"), "F32"
        else:
            a, dt = t.detach().numpy().astype("<i8"), "I64"
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# Each configuration stores the loss and dlogits of all three losses, and
# parameter gradients for the kinds in grad_losses: model_backward is linear
# in dlogits, so once dlogits is right, more gradient sets would only add
# copies of the parameter count to the files (kept under 1 MB together).
CONFIGS = {
    # 8 blocks: 4 stride-2 blocks (frame 16), one width doubling.
    "small": dict(filters=8, blocks=8, kernel=16, increase_channels_at=4, subsample_every=2,
                  classes=4, B=3, L=256, masked=5, seed=1000,
                  grad_losses="ce,focal"),
    # The real network's depth and stride topology (16 blocks, frame 256,
    # widths 2-4-8-16) at 1/16 of its width; filters 4 would quadruple the
    # file without testing anything that filters 2 and "small" do not.
    "deep": dict(filters=2, blocks=16, kernel=16, increase_channels_at=4, subsample_every=2,
                 classes=4, B=2, L=512, masked=1, seed=2000, grad_losses="ce"),
}


# The optimiser steps run on a network of its own, narrower and shorter than
# "small" (whose forward and backward the other files check): the file holds
# the parameter changes and both moments after every step, and at 2.6k
# parameters that is 30 KB a step.
ADAM_CONFIG = dict(filters=4, blocks=4, kernel=8, increase_channels_at=2, subsample_every=2,
                   classes=4, B=2, L=128, masked=3, seed=3000)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
    os.makedirs(outdir, exist_ok=True)
    for name, cfg in CONFIGS.items():
        tensors, meta = run(cfg)
        path = os.path.join(outdir, "resecg_%s.safetensors" % name)
        st_write(path, tensors, meta)
        print("%s: seed %s, %d tensors, %d params, %d bytes"
              % (path, meta["seed"], len(tensors), int(meta["n_params"]), os.path.getsize(path)))
    tensors, meta = adam_run(ADAM_CONFIG)
    path = os.path.join(outdir, "resecg_adam.safetensors")
    st_write(path, tensors, meta)
    print("%s: seed %s, %d tensors, %d params, %s Adam steps (clipped: %s), %d bytes"
          % (path, meta["seed"], len(tensors), int(meta["n_params"]), meta["adam.steps"],
             meta["adam.clipped"], os.path.getsize(path)))
    print("default network: %s trainable floats" % default_nparams())


if __name__ == "__main__":
    main()

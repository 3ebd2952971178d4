"""PyTorch side of the CPU training benchmark: the same ResECG (the module of
tests/torch_ref.py, which tests/test_model_ref.c proves equal to ours), the
same batch, threads, loss and optimiser (Adam + global-norm clipping), timed
over S steps after one warm-up step. Prints one line that bench/cpu_vs_torch.sh
parses.

    /usr/bin/python3 bench/torch_bench.py --filters 32 --blocks 16 --batch 32 --length 8960 \
        --steps 5 --threads 2
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from torch_ref import ResECG  # noqa: E402


def forward_flops(model, L, kernel):
    """Multiply-adds x 2 of the convolutions and the dense layer for one sample
    (the same count as model_flops_forward in core/model.c)."""
    fl, Lin = 0.0, L
    fl += 2.0 * kernel * 1 * model.conv.out_channels * L
    for b in model.blocks:
        Lo = Lin // b.stride
        fl += 2.0 * kernel * b.cin * b.cout * Lo + 2.0 * kernel * b.cout * b.cout * Lo
        Lin = Lo
    fl += 2.0 * model.dense.in_features * model.dense.out_features * Lin
    return fl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--kernel", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=8960)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResECG(a.filters, a.blocks, a.kernel, 4, dropout=0.2)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, 1, a.length)
    T = a.length // model.frame
    y = torch.randint(0, 4, (a.batch, 1)).expand(a.batch, T).reshape(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, 4), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up: oneDNN primitive creation, allocator
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    secs = time.perf_counter() - t0
    sps = a.batch * a.steps / secs
    gflops = 3 * forward_flops(model, a.length, a.kernel) * sps / 1e9
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"torch: {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {a.batch} x {a.length}, {a.steps} steps")
    print(f"  {sps:.2f} samples/s   {1e3 * secs / a.steps:.1f} ms/step   {gflops:.1f} GFLOP/s   "
          f"peak RSS {rss / 1e9:.2f} GB   final loss {loss:.4f}")


if __name__ == "__main__":
    main()

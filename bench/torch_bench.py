"""PyTorch side of the CPU training benchmark: the same ResECG (the module of
tests/torch_ref.py, which tests/test_model_ref.c proves equal to ours), the
same batch, threads, loss and optimiser (Adam + global-norm clipping), timed
over S steps after one warm-up step. Prints one line that bench/cpu_vs_torch.sh
parses.

    /usr/bin/python3 bench/torch_bench.py --filters 32 --blocks 16 --batch 32 --length 8960 \
        --steps 5 --threads 2

On a GPU (bench/bench_gpu.sh): --device cuda runs the same step on the
current CUDA device with torch.backends.cudnn.benchmark = True (cuDNN times
its algorithms once per shape, as resecg's cudnnFind), --tf32 1 lets the
convolutions use TF32 tensor cores (cudnn.allow_tf32, PyTorch's default; as
RESECG_CUDA_MATH=tf32) and --tf32 0 keeps them strict FP32. Matmuls (the
dense layer) stay FP32 either way, as in resecg.
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
    (the same count as model_flops_forward in core/nn/model.c)."""
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
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--tf32", type=int, choices=[0, 1], default=1,
                    help="cuda: TF32 tensor cores for the convolutions (1) or strict FP32 (0)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: the forward and loss under torch.autocast(dtype=torch.bfloat16), "
                         "PyTorch's own mixed precision (fp32 weights and optimiser)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = bool(a.tf32)
        torch.backends.cuda.matmul.allow_tf32 = False
    model = ResECG(a.filters, a.blocks, a.kernel, 4, dropout=0.2).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, 1, a.length, device=dev)
    T = a.length // model.frame
    y = torch.randint(0, 4, (a.batch, 1), device=dev).expand(a.batch, T).reshape(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, 4).float(), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(max(a.warmup, 1)):  # oneDNN primitives / cuDNN autotuning, allocator
        step()
    if a.device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()  # .item() waits for the step
    secs = time.perf_counter() - t0
    sps = a.batch * a.steps / secs
    gflops = 3 * forward_flops(model, a.length, a.kernel) * sps / 1e9
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if a.device == "cuda":
        where = (f"{torch.cuda.get_device_name()}, cudnn {torch.backends.cudnn.version()}, "
                 f"{'tf32' if a.tf32 else 'fp32'} convolutions")
        mem = f"peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.2f} GB"
    else:
        where = f"threads {torch.get_num_threads()}"
        mem = f"peak RSS {rss / 1e9:.2f} GB"
    print(f"torch: {torch.__version__}, {where}, {a.precision}, batch {a.batch} x {a.length}, "
          f"{a.steps} steps")
    print(f"  {sps:.2f} samples/s   {1e3 * secs / a.steps:.1f} ms/step   {gflops:.1f} GFLOP/s   "
          f"{mem}   final loss {loss:.4f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch CPU reference for `gonbgpu bench conv`: 3x3 conv, stride 1, same padding, c_in = c_out,
forward + backward (gradients w.r.t. input and weight), median of several runs after a warm-up.

Run with Debian's torch: /usr/bin/python3 bench/torch_conv.py [--threads 2] [--runs 10]
Prints one line per shape and memory format, in the same format as gonbgpu's Go benchmark.
"""
import argparse
import statistics
import time

import torch

SHAPES = [(64, 28, 16), (64, 14, 64), (64, 7, 128)]


def bench(b, h, c, memory_format, runs):
    x = torch.randn(b, c, h, h).to(memory_format=memory_format).requires_grad_(True)
    w = torch.randn(c, c, 3, 3).to(memory_format=memory_format).requires_grad_(True)
    dy = torch.randn(b, c, h, h).to(memory_format=memory_format)

    def step():
        y = torch.nn.functional.conv2d(x, w, padding=1)
        gx, gw = torch.autograd.grad(y, (x, w), dy)
        return gx, gw

    for _ in range(3):
        step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn={torch.backends.mkldnn.is_available()}")
    for fmt_name, fmt in [("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)]:
        for b, h, c in SHAPES:
            ms = bench(b, h, c, fmt, a.runs)
            print(f"conv3x3 b={b} h={h} c={c}: {ms:.1f} ms fwd+bwd  [torch {fmt_name}]")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch CPU reference for gonbgpu's `train resnet20 batch=64 size=28` line: the CIFAR-style ResNet-20
(3 stages of 3 basic blocks, 16/32/64 channels, batch norm, ReLU, option-B 1x1 projection shortcuts like
gonbgpu's) on 28x28x1 images, one Adam training step with cross-entropy (as gonbgpu's bench.TrainBench),
median of several steps after a warm-up.

Run with Debian's torch: /usr/bin/python3 bench/torch_resnet20.py [--threads 2] [--steps 10]
It prints a line in the format of the Go benchmark, and the time one Fashion-MNIST epoch (60000 images)
would take at that rate.
"""
import argparse
import statistics
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.short is None else self.short(x)))


def resnet20(channels=1, classes=10):
    layers = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = resnet20()
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, 1, 28, 28).to(memory_format=fmt)
    y = torch.randint(0, 10, (a.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step()  # the first step: PyTorch runs eagerly, so there is nothing to compile
    first = time.perf_counter() - t0
    for _ in range(2):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    ips = a.batch / ms * 1000
    layout = "channels_last" if a.channels_last else "NCHW"
    print(f"train resnet20 batch={a.batch} size=28: {ips:.1f} img/s, {ms:.1f} ms/step, first step {first:.2f} s  "
          f"[torch {torch.__version__} CPU, {a.threads} threads, {layout}; 60000 images: {60000 / ips:.0f} s]")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes the PyTorch fixtures of package vision/pretrained: torchvision ResNets with random weights,
exported to ONNX the way users export theirs, with an input batch and PyTorch's logits for it.

    /usr/bin/python3 vision/pretrained/testdata/make_fixtures.py [OUT_DIR]   # default: this folder

Debian: apt-get install python3-torchvision (pulls python3-torch). The models are torchvision's own
classes (resnet18, resnet50: their forward(), their module tree), with every layer 16 times narrower than
ImageNet's (4…32 channels, 10 classes) so that the files stay small (~0.2-0.5 MB); the layout, operators
and export path are those of the full-size models. Batch-norm running statistics are random too, so that
using them (or not) shows in the logits.

Files (and SHA256SUMS):
  resnet18_folded.onnx  eval-mode export (torch folds each batch norm into its convolution)
  resnet18_bn.onnx      export with training=PRESERVE on an eval-mode model: batch norms kept
  resnet50_folded.onnx  bottleneck blocks
  input.f32             the input batch [2, 3, 64, 64] NCHW, float32 little-endian
  <name>.logits.f32     PyTorch's logits [2, 10] for it, float32 little-endian
"""
import hashlib
import os
import sys

import torch
import torchvision

DIV, CLASSES, SIZE, BATCH = 16, 10, 64, 2


def narrow(model, trained=True):
    """Replaces every Conv2d, BatchNorm2d and the fc Linear by one DIV times narrower, random. With
    trained=False the batch norms keep PyTorch's initial values (scale 1, offset 0, mean 0, variance 1),
    as in a model that was never trained: then every folded bias is zero, and the exporter stores equal
    tensors once (see make_variants.py)."""
    g = torch.Generator().manual_seed(1)

    def slim(c, first=False):
        return c if first else max(1, c // DIV)

    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, torch.nn.Conv2d):
                new = torch.nn.Conv2d(slim(child.in_channels, full == "conv1"), slim(child.out_channels),
                                      child.kernel_size, child.stride, child.padding, bias=False)
                fan_in = new.in_channels * new.kernel_size[0] * new.kernel_size[1]
                with torch.no_grad():
                    new.weight.copy_(torch.randn(new.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(child, torch.nn.BatchNorm2d):
                c = slim(child.num_features)
                new = torch.nn.BatchNorm2d(c)
                if not trained:
                    setattr(mod, child_name, new)
                    continue
                with torch.no_grad():
                    new.weight.copy_(0.5 + 0.1 * torch.randn(c, generator=g))
                    new.bias.copy_(0.2 * torch.randn(c, generator=g))
                    new.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                    new.running_var.copy_(0.5 + torch.rand(c, generator=g))
            elif isinstance(child, torch.nn.Linear):
                new = torch.nn.Linear(slim(child.in_features), CLASSES)
                with torch.no_grad():
                    new.weight.copy_(torch.randn(new.weight.shape, generator=g) / new.in_features ** 0.5)
                    new.bias.copy_(0.1 * torch.randn(CLASSES, generator=g))
            else:
                continue
            setattr(mod, child_name, new)
    return model.eval()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    files = {"input.f32": x.numpy().astype("<f4").tobytes()}
    models = {"resnet18": narrow(torchvision.models.resnet18()), "resnet50": narrow(torchvision.models.resnet50())}
    for name, training, model in [("resnet18_folded", None, models["resnet18"]),
                                  ("resnet18_bn", torch.onnx.TrainingMode.PRESERVE, models["resnet18"]),
                                  ("resnet50_folded", None, models["resnet50"])]:
        path = os.path.join(out, name + ".onnx")
        kwargs = {} if training is None else {"training": training, "do_constant_folding": False}
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
        with torch.no_grad():
            files[name + ".logits.f32"] = model(x).numpy().astype("<f4").tobytes()
        with open(path, "rb") as f:
            files[name + ".onnx"] = f.read()
    sums = []
    for fname, data in sorted(files.items()):
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {fname}\n")
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        f.writelines(sums)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()

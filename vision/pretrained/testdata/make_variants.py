#!/usr/bin/python3
"""Writes ResNet ONNX files the way exporters really write them, for TestExportVariants (variants_test.go):
torch.onnx.export with other opsets, modes and options, and, for what PyTorch 1.13's exporter does not
write, the onnx package rewriting one of its files. Nothing is committed: the test runs this each time.

    /usr/bin/python3 vision/pretrained/testdata/make_variants.py OUT_DIR

Debian: apt-get install python3-torchvision python3-onnx. The models are torchvision's resnet18 and
resnet50 classes made 16 times narrower (make_fixtures.narrow), 64x64 inputs, 10 classes: ~200 KB a file.
Three sets of weights:
  untrained  random convolutions, batch norms at PyTorch's initial values: every folded bias is zero, and
             the exporter keeps one tensor per size, fed to the other convolutions through Identity nodes
             (the case of the bug report: torchvision.models.resnet18(weights=None))
  partial    random batch norms except layer4's, at their initial values: some tensors are shared
  trained    every batch norm random (no tensor shared)

OUT_DIR/manifest.json lists the files: for each, its name, what it shows, the model and whether its batch
norms are folded, and what it must give: "logits" (PyTorch's logits for input.f32, a file of float32),
"ref" (an ONNX file with the same function in float32, which the test evaluates with onnx-gomlx), or
"error" (strings the one-line error must contain).
"""
import copy
import io
import json
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torchvision
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import BATCH, SIZE, narrow  # noqa: E402

warnings.filterwarnings("ignore")  # the exporter's warnings about training mode and old opsets


def models():
    """The three sets of weights (see the module's doc), each a fresh eval-mode model."""
    untrained = narrow(torchvision.models.resnet18(), trained=False)
    partial = narrow(torchvision.models.resnet18())
    for mod in partial.layer4.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_parameters()
            mod.reset_running_stats()
    return {"untrained": untrained, "partial": partial, "trained": narrow(torchvision.models.resnet18()),
            "r50_untrained": narrow(torchvision.models.resnet50(), trained=False)}


def export(model, x, dummy=None, **kwargs):
    """torch.onnx.export as the documentation shows it, into memory (by default with named inputs and a
    dynamic batch, from x; else dummy and kwargs only); returns the model and its logits for x afterwards
    (an export in training mode updates the running statistics it writes)."""
    model = copy.deepcopy(model)
    f = io.BytesIO()
    if dummy is None:
        kwargs = dict(input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
    torch.onnx.export(model, x if dummy is None else dummy, f, **kwargs)
    model.eval()
    with torch.no_grad():
        logits = model(x).numpy().astype("<f4").tobytes()
    return onnx.load_from_string(f.getvalue()), logits


def producer_map(g):
    return {o: n for n in g.node for o in n.output}


def rename_input(g, old, new, skip=None):
    for n in g.node:
        if n is skip:
            continue
        for i, v in enumerate(n.input):
            if v == old:
                n.input[i] = new


def insert_after(g, value, nodes):
    """Puts nodes (which read value and end in value + "_new") between value and its readers."""
    last = nodes[-1].output[0]
    for n in g.node:
        for i, v in enumerate(n.input):
            if v == value and n not in nodes:
                n.input[i] = last
    for o in g.output:
        if o.name == value:
            o.name = last
    pos = max((i for i, n in enumerate(g.node) if value in n.output), default=-1) + 1
    for k, n in enumerate(nodes):
        g.node.insert(pos + k, n)


def identity_chains(m):
    """Every Identity becomes a chain of three; every second reader of a shared tensor reads the
    initializer itself (deduplicated without Identity); Identity nodes on the data path too."""
    g = m.graph
    idents = [n for n in g.node if n.op_type == "Identity"]
    assert idents, "the source export has no Identity nodes"
    for k, n in enumerate(idents):
        src, dst = n.input[0], n.output[0]
        if k % 2:
            g.node.remove(n)
            rename_input(g, dst, src)
            continue
        a, b = dst + "_chain_a", dst + "_chain_b"
        n.output[0] = b
        pos = list(g.node).index(n)
        g.node.insert(pos + 1, helper.make_node("Identity", [b], [a], name=n.name + "_b"))
        g.node.insert(pos + 2, helper.make_node("Identity", [a], [dst], name=n.name + "_c"))
    # The data path: after the stem's MaxPool and before the classifier.
    for op in ("MaxPool", "Flatten"):
        out = next(n for n in g.node if n.op_type == op).output[0]
        insert_after(g, out, [helper.make_node("Identity", [out], [out + "_id"], name="/data_identity_" + op)])
    return m


def initializers_as_inputs(m):
    """Every initializer also listed as a graph input, whose default it is (keep_initializers_as_inputs
    on a deduplicated file; IR versions before 4 required it)."""
    g = m.graph
    for t in g.initializer:
        g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return m


def reshape_matmul(m):
    """Flatten → Reshape to [0, -1] (a Constant node), Gemm → MatMul with the transposed weights + Add."""
    g = m.graph
    fl = next(n for n in g.node if n.op_type == "Flatten")
    shape = helper.make_node("Constant", [], ["/head_shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64)))
    pos = list(g.node).index(fl)
    g.node.remove(fl)
    g.node.insert(pos, shape)
    g.node.insert(pos + 1, helper.make_node("Reshape", [fl.input[0], "/head_shape"], [fl.output[0]], name="/Reshape"))
    gemm = next(n for n in g.node if n.op_type == "Gemm")
    inits = {t.name: t for t in g.initializer}
    w = numpy_helper.to_array(inits[gemm.input[1]])
    g.initializer.remove(inits[gemm.input[1]])
    g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.T), "fc.weight_t"))
    pos = list(g.node).index(gemm)
    g.node.remove(gemm)
    g.node.insert(pos, helper.make_node("MatMul", [gemm.input[0], "fc.weight_t"], ["/fc/MatMul_output_0"], name="/fc/MatMul"))
    g.node.insert(pos + 1, helper.make_node("Add", ["/fc/MatMul_output_0", gemm.input[2]], [gemm.output[0]], name="/fc/Add"))
    return m


def shape_reshape(m):
    """Flatten → Reshape to [batch, -1], the batch read by Shape → Gather → Unsqueeze → Concat (opset 13),
    as older exporters write a flatten with a dynamic batch."""
    g = m.graph
    fl = next(n for n in g.node if n.op_type == "Flatten")
    x, out = fl.input[0], fl.output[0]
    g.initializer.extend([numpy_helper.from_array(np.array(0, np.int64), "/zero"),
                          numpy_helper.from_array(np.array([0], np.int64), "/axes0"),
                          numpy_helper.from_array(np.array([-1], np.int64), "/minus1")])
    nodes = [helper.make_node("Shape", [x], ["/Shape_output_0"], name="/Shape"),
             helper.make_node("Gather", ["/Shape_output_0", "/zero"], ["/Gather_output_0"], name="/Gather", axis=0),
             helper.make_node("Unsqueeze", ["/Gather_output_0", "/axes0"], ["/Unsqueeze_output_0"], name="/Unsqueeze"),
             helper.make_node("Concat", ["/Unsqueeze_output_0", "/minus1"], ["/Concat_output_0"], name="/Concat", axis=0),
             helper.make_node("Reshape", [x, "/Concat_output_0"], [out], name="/Reshape")]
    pos = list(g.node).index(fl)
    g.node.remove(fl)
    for k, n in enumerate(nodes):
        g.node.insert(pos + k, n)
    return m


def opset18(m):
    """Opset 18: GlobalAveragePool → ReduceMean with its axes as an input (new in 18), Flatten → Squeeze."""
    g = m.graph
    gap = next(n for n in g.node if n.op_type == "GlobalAveragePool")
    fl = next(n for n in g.node if n.op_type == "Flatten")
    g.initializer.append(numpy_helper.from_array(np.array([2, 3], np.int64), "/axes23"))
    pos = list(g.node).index(gap)
    g.node.remove(gap)
    g.node.insert(pos, helper.make_node("ReduceMean", [gap.input[0], "/axes23"], gap.output, name="/ReduceMean", keepdims=1))
    pos = list(g.node).index(fl)
    g.node.remove(fl)
    g.node.insert(pos, helper.make_node("Squeeze", [fl.input[0], "/axes23"], fl.output, name="/Squeeze"))
    m.opset_import[0].version = 18
    return m


def pad_nodes(m, as_attributes):
    """Every convolution's and the MaxPool's padding moved into a Pad node before it: pads and value as
    attributes (opset ≤ 10) or as inputs (opset ≥ 11); the MaxPool's Pad pads with -inf (or, after the
    ReLU, 0)."""
    g = m.graph
    for k, n in enumerate([n for n in g.node if n.op_type in ("Conv", "MaxPool")]):
        pads = next((list(a.ints) for a in n.attribute if a.name == "pads"), [])
        if not any(pads):
            continue
        p = pads[0]
        full = [0, 0, p, p, 0, 0, p, p]
        value = 0.0
        if n.op_type == "MaxPool" and not as_attributes:
            value = float("-inf")
        x, y = n.input[0], f"/pad_{k}_output_0"
        if as_attributes:
            pad = helper.make_node("Pad", [x], [y], name=f"/pad_{k}", mode="constant", pads=full, value=value)
        else:
            g.initializer.extend([numpy_helper.from_array(np.array(full, np.int64), f"/pad_{k}_pads"),
                                  numpy_helper.from_array(np.array(value, np.float32), f"/pad_{k}_value")])
            pad = helper.make_node("Pad", [x, f"/pad_{k}_pads", f"/pad_{k}_value"], [y], name=f"/pad_{k}", mode="constant")
        n.input[0] = y
        for a in list(n.attribute):
            if a.name == "pads":
                n.attribute.remove(a)
        g.node.insert(list(g.node).index(n), pad)
    return m


def auto_pad(m):
    """Stride-1 3×3 convolutions padded by auto_pad SAME_UPPER or SAME_LOWER (alternately) instead of
    pads, 1×1 convolutions by VALID."""
    g = m.graph
    for k, n in enumerate([n for n in g.node if n.op_type == "Conv"]):
        attrs = {a.name: a for a in n.attribute}
        kernel, strides = list(attrs["kernel_shape"].ints), list(attrs["strides"].ints)
        if kernel == [3, 3] and strides == [1, 1]:
            mode = "SAME_UPPER" if k % 2 else "SAME_LOWER"
        elif kernel == [1, 1]:
            mode = "VALID"
        else:
            continue
        n.attribute.remove(attrs["pads"])
        n.attribute.append(helper.make_attribute("auto_pad", mode))
    return m


def fp16(m, how):
    """Float16 weights. how: "cast" (each weight stored in float16 and Cast to float32 before use),
    "model" (the whole model in float16, input and output too) or "io" (float16 inside, the input and the
    output Cast from and to float32). Returns the model and its reference: the same graph in float32 with
    the weights rounded to float16."""
    ref = copy.deepcopy(m)
    g = m.graph
    for t, r in zip(list(g.initializer), ref.graph.initializer):
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t).astype(np.float16)
        r.CopyFrom(numpy_helper.from_array(a.astype(np.float32), r.name))
        name = t.name + "_fp16" if how == "cast" else t.name
        t.CopyFrom(numpy_helper.from_array(a, name))
        if how == "cast":
            g.node.insert(0, helper.make_node("Cast", [name], [r.name], name="/cast_" + r.name, to=TensorProto.FLOAT))
    if how == "model":
        g.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
        g.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    if how == "io":
        x = g.input[0].name
        insert_after(g, x, [helper.make_node("Cast", [x], [x + "_fp16"], name="/cast_input", to=TensorProto.FLOAT16)])
        out = g.output[0].name
        insert_after(g, out, [helper.make_node("Cast", [out], [out + "_f32"], name="/cast_logits", to=TensorProto.FLOAT)])
    return m, ref


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with open(os.path.join(out, "input.f32"), "wb") as f:
        f.write(x.numpy().astype("<f4").tobytes())
    ms = models()
    manifest = []

    def write(name, what, m, model="resnet18", folded=True, logits=None, ref=None, error=None, check=True):
        if check:
            onnx.checker.check_model(m)
        onnx.save(m, os.path.join(out, name + ".onnx"))
        e = {"name": name, "what": what, "model": model, "folded": folded}
        if logits is not None:
            e["logits"] = name + ".logits.f32"
            with open(os.path.join(out, e["logits"]), "wb") as f:
                f.write(logits)
        if ref is not None:
            e["ref"] = name + ".ref.onnx"
            onnx.save(ref, os.path.join(out, e["ref"]))
        if error is not None:
            e["error"] = error
        manifest.append(e)

    # torch.onnx.export as users call it: the bug report's call, every opset PyTorch 1.13 writes.
    for opset in [7, 9, 10, 11, 12, 13, 14, 15, 16, 17]:
        kind = ["untrained", "partial"][opset % 2]
        m, logits = export(ms[kind], x, opset_version=opset)
        write(f"r18_{kind}_o{opset}", f"eval-mode export, opset {opset}, {kind} weights", m, logits=logits)
    m, logits = export(ms["trained"], x)
    write("r18_trained_default", "eval-mode export, the exporter's default opset, trained weights", m, logits=logits)
    m, logits = export(ms["untrained"], x, dummy=torch.randn(1, 3, SIZE, SIZE))
    write("r18_readme_call", "vision/README.md's call: torch.onnx.export(m, torch.randn(1, 3, H, W), file)", m, logits=logits)
    train_mode = copy.deepcopy(ms["partial"]).train()
    m, logits = export(train_mode, x, dummy=torch.randn(10, 3, SIZE, SIZE), output_names=["output1"],
                       input_names=["actual_input_1"] + ["learned_%d" % i for i in range(16)])
    write("r18_torch_doc_call", "torch.onnx's documented example (input names for the parameters too), on a model "
          "left in training mode", m, logits=logits)
    m, logits = export(ms["r50_untrained"], x, opset_version=17)
    write("r50_untrained_o17", "ResNet-50, opset 17, untrained", m, model="resnet50", logits=logits)
    m, logits = export(ms["partial"], x, opset_version=13, keep_initializers_as_inputs=True)
    write("r18_partial_inputs", "keep_initializers_as_inputs=True", m, logits=logits)
    m, logits = export(ms["untrained"], x, opset_version=13, do_constant_folding=False)
    write("r18_untrained_nofold", "do_constant_folding=False in eval mode", m, logits=logits)
    for opset in [9, 12, 15]:
        m, logits = export(ms["partial"], x, opset_version=opset, training=torch.onnx.TrainingMode.TRAINING)
        write(f"r18_training_o{opset}", f"training=TRAINING, opset {opset}: batch norms kept, in training mode",
              m, folded=False, logits=logits)
    m, logits = export(ms["untrained"], x, opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                       do_constant_folding=False)
    write("r18_untrained_preserve", "training=PRESERVE, do_constant_folding=False: batch norms kept, their equal "
          "parameters shared through Identity", m, folded=False, logits=logits)
    m, logits = export(ms["untrained"], x, opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                       do_constant_folding=False, keep_initializers_as_inputs=True)
    write("r18_untrained_preserve_inputs", "batch norms kept, initializers as inputs", m, folded=False, logits=logits)

    # What other tools write, made from PyTorch's files.
    m, logits = export(ms["untrained"], x, opset_version=13)
    write("r18_identity_chains", "shared tensors behind chains of Identity, or read directly; Identity on the data path",
          identity_chains(m), logits=logits)
    m, logits = export(ms["untrained"], x, opset_version=13)
    write("r18_untrained_inputs", "deduplicated initializers, each also a graph input", initializers_as_inputs(m), logits=logits)
    m, logits = export(ms["partial"], x, opset_version=13)
    write("r18_reshape_matmul", "Reshape and MatMul + Add instead of Flatten and Gemm", reshape_matmul(m), logits=logits)
    m, logits = export(ms["trained"], x, opset_version=13)
    write("r18_shape_reshape", "a Reshape whose shape is computed from the input's (Shape → Gather → Concat)",
          shape_reshape(m), logits=logits)
    m, logits = export(ms["partial"], x, opset_version=17)
    write("r18_opset18", "opset 18: ReduceMean with axes as an input, Squeeze", opset18(m), logits=logits, check=False)
    m, logits = export(ms["partial"], x, opset_version=11)
    write("r18_pad_inputs_o11", "padding in Pad nodes, pads as inputs", pad_nodes(m, False), logits=logits)
    m, logits = export(ms["untrained"], x, opset_version=10)
    write("r18_pad_attrs_o10", "padding in Pad nodes, pads as attributes", pad_nodes(m, True), logits=logits)
    m, logits = export(ms["trained"], x, opset_version=13)
    write("r18_auto_pad", "auto_pad SAME_UPPER, SAME_LOWER and VALID instead of pads", auto_pad(m), logits=logits)
    for how in ["cast", "model", "io"]:
        m, _ = export(ms["partial"], x, opset_version=13)
        m, ref = fp16(m, how)
        write(f"r18_fp16_{how}", f"float16 weights ({how})", m, ref=ref)
    m, _ = export(ms["partial"], x, opset_version=13, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m, ref = fp16(m, "model")
    write("r18_fp16_bn", "float16 weights, batch norms kept", m, folded=False, ref=ref)

    # Files that are not what the importer reads: the error must say what and be true for the file.
    m, _ = export(ms["untrained"], x, opset_version=13, export_params=False)
    write("r18_no_params", "export_params=False: the weights are inputs without values", m,
          error=["/conv1/Conv", "export_params=False"])

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}: "
          f"wrote {len(manifest)} models to {out}")


if __name__ == "__main__":
    main()

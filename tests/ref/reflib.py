"""Helpers shared by the reference scripts of tests/ref (saliency_ref.py,
saliency_cam_ref.py, occlude_ref.py, evaluate_ref.py): writing model files
with h5py as docs/model-format.md describes, reading any model file and
running it op by op in PyTorch (torch imported there only), the Gaussian
blur of
base/numeric.h, reducing attributions over channels, and the two loops that
run many checks in one interpreter. torch is imported by the functions
that use it: importing it takes seconds on a busy machine, and the setup
commands do not need it.
"""
import math
import traceback

import h5py
import numpy as np


def s_(v):
    """An HDF5 string attribute or element as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def write_model(path, inshape, nodes, mean=None, std=None, classes=None, bgr=None):
    """A model file: nodes are (name, op, inputs or None for the previous
    node, {attribute: values}, {weight name: array}) in order."""
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array(inshape, np.int64)
        if mean is not None:
            f.attrs["mean"] = np.array(mean, np.float64)
            f.attrs["std"] = np.array(std, np.float64)
        if bgr is not None:
            f.attrs["bgr"] = np.int64(bgr)
        if classes is not None:
            f.create_dataset("classes", data=classes, dtype=h5py.string_dtype())
        for i, (name, op, inputs, attrs, w) in enumerate(nodes):
            g = f.create_group("nodes/%04d" % i)
            g.attrs["name"] = name
            g.attrs["op"] = op
            if inputs:
                g.attrs["inputs"] = inputs
            for k, v in attrs.items():
                g.attrs[k] = np.atleast_1d(np.array(v, np.float64))
            for k, v in w.items():
                g[k] = np.asarray(v).astype(np.float32)


# ---- a model file's forward pass, op by op (occlude_ref.py's, evaluate_ref.py's)

def load(path):
    """A model file as (meta, nodes) for forward: nodes are (name, op,
    input names, {attribute: [values]}, {weight: float64 tensor})."""
    import torch
    with h5py.File(path, "r") as f:
        meta = {"shape": [int(v) for v in f.attrs["input_shape"]],
                "mean": np.atleast_1d(f.attrs["mean"]), "std": np.atleast_1d(f.attrs["std"]),
                "bgr": int(f.attrs.get("bgr", 0)),
                "classes": [s_(c) for c in f["classes"][()]] if "classes" in f else []}
        nodes, prev = [], "input"
        for key in sorted(f["nodes"].keys(), key=int):
            g = f["nodes"][key]
            ins = s_(g.attrs["inputs"]).split(",") if "inputs" in g.attrs else [prev]
            a = {k: [float(x) for x in np.atleast_1d(g.attrs[k])] for k in g.attrs
                 if k not in ("name", "op", "inputs")}
            w = {k: torch.tensor(np.array(g[k]), dtype=torch.float64) for k in g.keys()}
            nodes.append((s_(g.attrs["name"]), s_(g.attrs["op"]), ins, a, w))
            prev = s_(g.attrs["name"])
    return meta, nodes


def two(a, k, d):
    v = a.get(k, [d])
    return (int(v[0]), int(v[-1]))


def pad4(a):
    p = [int(x) for x in a.get("pad", [0])]
    return p * 4 if len(p) == 1 else [p[0], p[1], p[0], p[1]] if len(p) == 2 else p


def forward(meta, nodes, x, edit=None):
    """x: B x C x H x W pixels (float64) -> every node's output, each op
    written again with torch.nn.functional; edit(name, y) (optional) may
    replace a node's output (Ablation-CAM's zeroed maps)."""
    import torch
    import torch.nn.functional as F
    c = meta["shape"][0]
    if meta["bgr"]:
        x = x.flip(1)
    mean = torch.tensor(np.resize(meta["mean"], c)).reshape(1, c, 1, 1)
    std = torch.tensor(np.resize(meta["std"], c)).reshape(1, c, 1, 1)
    acts = {"input": (x - mean) / std}
    for name, op, ins, a, w in nodes:
        xs = [acts[i] for i in ins]
        v = xs[0]
        t, l, b, r = pad4(a)
        if op == "Conv":
            y = F.conv2d(F.pad(v, (l, r, t, b)), w["weight"], w.get("bias"),
                         stride=two(a, "stride", 1), dilation=two(a, "dilation", 1))
        elif op == "MaxPool":
            k = two(a, "kernel", 1)
            y = F.max_pool2d(F.pad(v, (l, r, t, b), value=-math.inf), k, two(a, "stride", k[0]),
                             ceil_mode=bool(a.get("ceil_mode", [0])[0]))
        elif op == "AvgPool":
            k = two(a, "kernel", 1)
            assert t == l == b == r == 0
            y = F.avg_pool2d(v, k, two(a, "stride", k[0]))
        elif op == "BatchNorm":
            sh = (1, -1, 1, 1)
            y = (v - w["mean"].reshape(sh)) / torch.sqrt(w["var"].reshape(sh) + a["eps"][0]) \
                * w["gamma"].reshape(sh) + w["beta"].reshape(sh)
        elif op == "ReLU":
            y = F.relu(v)
        elif op == "LeakyReLU":
            y = F.leaky_relu(v, a.get("alpha", [0.01])[0])
        elif op == "Tanh":
            y = torch.tanh(v)
        elif op == "Add":
            y = sum(xs)
        elif op == "Concat":
            y = torch.cat(xs, 1)
        elif op == "GlobalAvgPool":
            y = v.mean((2, 3), keepdim=True)
        elif op == "Flatten":
            y = v.reshape(v.shape[0], -1, 1, 1)
        elif op == "Dense":
            y = (v.reshape(v.shape[0], -1) @ w["weight"].t() + w["bias"]).reshape(v.shape[0], -1, 1, 1)
        elif op == "Softmax":
            y = F.softmax(v, 1)
        else:
            raise ValueError(op)
        acts[name] = edit(name, y) if edit else y
    return acts


# ---- numerics

def blur(img, sigma):
    """base/numeric.h's Gaussian blur of the last two axes: radius
    ceil(3 sigma), separable, edges clamped."""
    r = int(math.ceil(3 * sigma))
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma))
    k /= k.sum()
    h, wd = img.shape[-2:]
    out = np.zeros_like(img)
    tmp = np.zeros_like(img)
    for i in range(-r, r + 1):
        tmp += k[i + r] * img[..., np.clip(np.arange(wd) + i, 0, wd - 1)]
    for i in range(-r, r + 1):
        out += k[i + r] * tmp[..., np.clip(np.arange(h) + i, 0, h - 1), :]
    return out


def reduce(attr, how, axis=1):
    """cnn-saliency --reduce: attributions to maps over the channel axis."""
    return {"absmax": lambda: np.abs(attr).max(axis), "max": lambda: attr.max(axis),
            "sum": lambda: attr.sum(axis),
            "l2": lambda: np.sqrt((attr ** 2).sum(axis))}[how]()


def batch(lst, out, check):
    """check(words) for each line of the file lst; out gets "ok" or "FAIL
    why" per line (a failure goes on with the next line)."""
    with open(lst) as f, open(out, "w") as o:
        for line in f:
            try:
                check(line.split())
                o.write("ok\n")
            except Exception as e:  # report and go on with the next case
                o.write("FAIL %s\n" % repr(e)[:300].replace("\n", " "))


def run_checks(path, checks, d):
    """Each line of path, NAME<TAB>CHECK ARGS...: checks[CHECK](d, *ARGS),
    printed as "PASS NAME" or "FAIL NAME: why"."""
    with open(path) as f:
        for line in f:
            name, args = line.rstrip("\n").split("\t", 1)
            args = args.split()
            try:
                checks[args[0]](d, *args[1:])
                print("PASS " + name, flush=True)
            except SystemExit as e:
                print("FAIL %s: %s" % (name, e), flush=True)
            except Exception:
                why = traceback.format_exc().strip().splitlines()
                print("FAIL %s: %s" % (name, " | ".join(why[-3:])), flush=True)

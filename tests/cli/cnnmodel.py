"""Read a cnntools model file (kind=model) with h5py and run it with
PyTorch: the independent reference for the cnn-forward and cnn-info tests.

run(meta, nodes, x, linear=False) returns every node's output. linear=True
turns the net into a receptive-field probe: all weights 1, biases 0, every
activation the identity and max-pooling an average over the same window, so
the input gradient of one output position is nonzero exactly on the input
pixels that position sees.
"""
import h5py
import numpy as np
import torch
import torch.nn.functional as F


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def load(path):
    with h5py.File(path, "r") as f:
        assert _s(f.attrs["kind"]) == "model", path
        meta = {
            "input_shape": [int(v) for v in f.attrs["input_shape"]],
            "mean": np.atleast_1d(f.attrs.get("mean", [0.0])).astype(np.float64),
            "std": np.atleast_1d(f.attrs.get("std", [1.0])).astype(np.float64),
            "classes": [_s(c) for c in f["classes"][()]] if "classes" in f else None,
        }
        nodes = []
        for key in sorted(f["nodes"].keys(), key=int):
            g = f["nodes"][key]
            attrs = {k: np.atleast_1d(g.attrs[k]) for k in g.attrs
                     if k not in ("name", "op", "inputs")}
            w = {k: torch.from_numpy(np.array(g[k][()], dtype=np.float32)) for k in g.keys()}
            nodes.append({"name": _s(g.attrs["name"]), "op": _s(g.attrs["op"]),
                          "inputs": _s(g.attrs["inputs"]).split(","), "attrs": attrs, "w": w})
    return meta, nodes


def pair(a, key, default):
    v = a.get(key)
    if v is None:
        return (default, default)
    return (int(v[0]), int(v[-1]))


def pads(a):
    """t, l, b, r"""
    p = a.get("pad")
    if p is None:
        return (0, 0, 0, 0)
    p = [int(v) for v in p]
    if len(p) == 1:
        return (p[0],) * 4
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    return tuple(p)


def apply(nd, ins, linear):
    op, a, w = nd["op"], nd["attrs"], nd["w"]
    x = ins[0]
    if op == "Conv":
        W = w["weight"]
        b = w.get("bias")
        if linear:
            W = torch.ones_like(W, dtype=torch.float64)
            b = None
        t, l, bo, r = pads(a)
        x = F.pad(x, (l, r, t, bo))
        return F.conv2d(x, W.to(x.dtype), None if b is None else b.to(x.dtype),
                        stride=pair(a, "stride", 1), dilation=pair(a, "dilation", 1),
                        groups=int(a.get("groups", [1])[0]))
    if op in ("MaxPool", "AvgPool"):
        k = pair(a, "kernel", 1)
        s = pair(a, "stride", 0)
        s = k if s == (0, 0) else s
        t, l, bo, r = pads(a)
        if op == "MaxPool" and not linear:
            return F.max_pool2d(F.pad(x, (l, r, t, bo), value=float("-inf")), k, s)
        return F.avg_pool2d(F.pad(x, (l, r, t, bo)), k, s)
    if op == "GlobalAvgPool":
        return x.mean(dim=(2, 3), keepdim=True)
    if op == "Flatten":
        return x.reshape(x.shape[0], -1, 1, 1)
    if op in ("Dense", "Gemm"):
        W, b = w["weight"], w.get("bias")
        if linear:
            W, b = torch.ones_like(W, dtype=torch.float64), None
        y = x.reshape(x.shape[0], -1) @ W.to(x.dtype).t()
        if b is not None:
            y = y + b.to(x.dtype)
        return y.reshape(y.shape[0], -1, 1, 1)
    if linear or op == "Dropout":
        return x
    if op == "ReLU":
        return F.relu(x)
    if op == "LeakyReLU":
        return F.leaky_relu(x, float(a.get("alpha", [0.01])[0]))
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Tanh":
        return torch.tanh(x)
    if op == "Clip":
        return x.clamp(float(a["min"][0]), float(a["max"][0]))
    if op == "Softmax":
        return F.softmax(x, dim=1)
    if op == "Add":
        return sum(ins)
    if op == "Concat":
        return torch.cat(ins, dim=1)
    raise ValueError("op %s not in the reference" % op)


def run(meta, nodes, x, linear=False, upto=None):
    c = meta["input_shape"][0]
    mean = torch.tensor(np.resize(meta["mean"], c), dtype=x.dtype).reshape(1, c, 1, 1)
    std = torch.tensor(np.resize(meta["std"], c), dtype=x.dtype).reshape(1, c, 1, 1)
    acts = {"input": x if linear else (x - mean) / std}
    for nd in nodes:
        acts[nd["name"]] = apply(nd, [acts[i] for i in nd["inputs"]], linear)
        if nd["name"] == upto:
            break
    return acts

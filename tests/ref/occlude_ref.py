"""Reference for cnn-occlude: an independent PyTorch implementation of
occlusion maps by brute force (Captum's Occlusion loop: every occluded copy
through the whole network), on model files written here with h5py.

  occlude_ref.py models DIR             write DIR/lenet.h5, DIR/resnet.h5
  occlude_ref.py images MODEL OUT N     N random images the model takes
  occlude_ref.py check MODEL IMAGES MAPS [tol]
                                        recompute MAPS from its attributes
  occlude_ref.py same A B [tol]         two maps files agree (relative tol)
  occlude_ref.py batch LIST OUT          each line of LIST is a check or same
                                        command; OUT gets "ok" or "FAIL why"
                                        per line (one interpreter for all)
"""
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)


def s_(v):
    return v.decode() if isinstance(v, bytes) else str(v)


# ---- models -------------------------------------------------------------

def write_model(path, inshape, mean, std, nodes, classes, bgr=0):
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array(inshape, np.int64)
        f.attrs["mean"] = np.array(mean, np.float64)
        f.attrs["std"] = np.array(std, np.float64)
        f.attrs["bgr"] = np.int64(bgr)
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
                g[k] = v.astype(np.float32)


def models(d):
    r = np.random.default_rng(7)
    n = lambda *s: r.standard_normal(s) * 0.4
    lenet = [
        ("conv1", "Conv", "input", {"pad": [1]}, {"weight": n(4, 1, 3, 3), "bias": n(4)}),
        ("relu1", "ReLU", None, {}, {}),
        ("pool1", "MaxPool", None, {"kernel": [2]}, {}),
        ("conv2", "Conv", None, {"pad": [1]}, {"weight": n(6, 4, 3, 3), "bias": n(6)}),
        ("relu2", "ReLU", None, {}, {}),
        ("pool2", "MaxPool", None, {"kernel": [3], "stride": [2], "ceil_mode": [1]}, {}),
        ("flat", "Flatten", None, {}, {}),
        ("fc", "Dense", None, {}, {"weight": n(10, 6 * 4 * 4) * 0.5, "bias": n(10)}),
    ]
    write_model(d + "/lenet.h5", [1, 16, 16], [0.2], [0.5], lenet, [str(k) for k in range(10)])
    resnet = [
        ("c1", "Conv", "input", {"stride": [2], "pad": [1, 1, 0, 0]},
         {"weight": n(6, 3, 3, 3), "bias": n(6)}),
        ("bn1", "BatchNorm", None, {"eps": [1e-5]},
         {"gamma": 1 + n(6) * 0.2, "beta": n(6), "mean": n(6), "var": 1 + np.abs(n(6))}),
        ("lr", "LeakyReLU", None, {"alpha": [0.1]}, {}),
        ("c2", "Conv", None, {"pad": [1]}, {"weight": n(6, 6, 3, 3), "bias": n(6)}),
        ("r2", "ReLU", None, {}, {}),
        ("add", "Add", "lr,r2", {}, {}),
        ("c3a", "Conv", "add", {}, {"weight": n(4, 6, 1, 1), "bias": n(4)}),
        ("c3b", "Conv", "add", {"pad": [2], "dilation": [2]}, {"weight": n(4, 6, 3, 3), "bias": n(4)}),
        ("cat", "Concat", "c3a,c3b", {}, {}),
        ("th", "Tanh", None, {}, {}),
        ("mp", "MaxPool", None, {"kernel": [2], "stride": [1]}, {}),
        ("ap", "AvgPool", None, {"kernel": [2], "stride": [2]}, {}),
        ("gap", "GlobalAvgPool", None, {}, {}),
        ("fc", "Dense", None, {}, {"weight": n(5, 8) * 2, "bias": n(5)}),
        ("sm", "Softmax", None, {}, {}),
    ]
    write_model(d + "/resnet.h5", [3, 17, 18], [0.4, 0.5, 0.6], [0.2, 0.25, 0.3], resnet,
                ["a", "b", "c", "d", "e"], bgr=1)


def load(path):
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


def forward(meta, nodes, x):
    """x: B x C x H x W pixels (float64) -> every node's output."""
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
        acts[name] = y
    return acts


def images(model, out, n):
    meta, _ = load(model)
    r = np.random.default_rng(11)
    c, h, w = meta["shape"]
    x = r.random((n, c, h, w)).astype(np.float32)
    # Some structure, so maps are not noise: a bright blob per image.
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        cy, cx = r.integers(0, h), r.integers(0, w)
        x[i] = np.clip(x[i] * 0.5 + np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0), 0, 1)
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = x
        f["ids"] = np.arange(100, 100 + n, dtype=np.int64)
        f["labels"] = (np.arange(n) % 5).astype(np.int32)


# ---- occlusion by brute force --------------------------------------------

def blur(img, sigma):
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * np.arange(-r, r + 1) ** 2 / sigma ** 2)
    k /= k.sum()
    c, h, w = img.shape
    t = np.zeros((c, h, w))
    for j in range(-r, r + 1):
        t += k[j + r] * img[:, :, np.clip(np.arange(w) + j, 0, w - 1)]
    o = np.zeros((c, h, w))
    for j in range(-r, r + 1):
        o += k[j + r] * t[:, np.clip(np.arange(h) + j, 0, h - 1), :]
    return o


def positions(n, k, s, padding):
    m = (n - k + s - 1) // s + 1 if padding == "clip" else (n - k) // s + 1
    return [i * s for i in range(m)]


def summary(plane, how, pos):
    if how == "at":
        return plane[:, pos[0], pos[1]]
    if how == "max":
        return plane.amax((1, 2))
    if how == "mean":
        return plane.mean((1, 2))
    return plane.sum((1, 2))


def brute(meta, nodes, img, A, label):
    """One image -> (map, baseline, target) as cnn-occlude defines them."""
    c, H, W = meta["shape"]
    wh, ww = [int(v) for v in A["window"]]
    sh, sw = [int(v) for v in A["stride"]]
    fill = s_(A["fill"])
    x = img.astype(np.float64)
    if fill == "gray":
        f = np.full_like(x, 0.5)
    elif fill == "zero":
        f = np.zeros_like(x)
    elif fill == "mean":
        f = np.broadcast_to(x.mean((1, 2), keepdims=True), x.shape)
    elif fill == "value":
        f = np.full_like(x, float(np.float32(A["fill_value"][0])))
    else:
        f = blur(x, float(A["blur_sigma"][0]))
    ys, xs = positions(H, wh, sh, s_(A["padding"])), positions(W, ww, sw, s_(A["padding"]))
    batch = [x]
    for y0 in ys:
        for x0 in xs:
            o = x.copy()
            o[:, y0:y0 + wh, x0:x0 + ww] = f[:, y0:y0 + wh, x0:x0 + ww]
            batch.append(o)
    t = torch.tensor(np.stack(batch))
    acts = forward(meta, nodes, t)
    target = s_(A["target"])
    layer = s_(A["layer"])
    measure = s_(A["measure"])
    if measure == "unit":
        act = acts[layer]
        how = s_(A["summary"])
        pos = [int(v) for v in A["position"]] if how == "at" else None
        if target.startswith("unit="):
            ch = int(target.split(":")[1].split("@")[0])
        else:
            ch = int(torch.argmax(summary(act[0], how, pos)))
        vals = summary(act[:, ch], how, pos)
        tgt = ch
    else:
        z = acts[layer].reshape(len(batch), -1)
        if target == "label":
            tgt = int(label)
        elif target == "pred":
            tgt = int(torch.argmax(z[0]))
        elif target[6:].isdigit():
            tgt = int(target[6:])
        else:
            tgt = meta["classes"].index(target[6:])
        vals = F.softmax(z, 1)[:, tgt] if measure == "prob" else z[:, tgt]
    vals = vals.numpy()
    base, v = vals[0], vals[1:].reshape(len(ys), len(xs))
    out = s_(A["output"])
    if out == "diff":
        v = base - v
    elif out == "percent":
        v = 100 * (base - v) / abs(base)
    if int(A["per_pixel"][0]):
        s = np.zeros((H, W))
        cnt = np.zeros((H, W))
        for i, y0 in enumerate(ys):
            for j, x0 in enumerate(xs):
                s[y0:y0 + wh, x0:x0 + ww] += v[i, j]
                cnt[y0:y0 + wh, x0:x0 + ww] += 1
        v = np.where(cnt > 0, s / np.maximum(cnt, 1), 0)
    return v, base, tgt


def check(model, imgs, maps, tol=1e-4):
    meta, nodes = load(model)
    with h5py.File(imgs) as fi, h5py.File(maps) as fm:
        A = dict(fm.attrs)
        assert s_(A["kind"]) == "maps", A["kind"]
        ids = fm["ids"][()]
        rows = ids - fi["ids"][0]
        got, gbase, gt = fm["maps"][()], fm["baseline"][()], fm["target"][()]
        assert len(got) == len(rows) > 0
        worst = 0.0
        for k, i in enumerate(rows):
            v, base, tgt = brute(meta, nodes, fi["images"][i], A, fi["labels"][i])
            assert v.shape == got[k].shape, (v.shape, got[k].shape)
            assert tgt == gt[k], ("target", k, tgt, gt[k])
            scale = max(1.0, float(np.abs(v).max()))
            err = max(float(np.abs(v - got[k]).max()), abs(base - gbase[k])) / scale
            worst = max(worst, err)
            assert err <= tol, ("row", k, err, v, got[k])
        if "labels" in fi:
            assert (fm["labels"][()] == fi["labels"][()][rows]).all()
        print("max relative error %.3g over %d maps" % (worst, len(rows)))


def same(a, b, tol=1e-5):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for d in ("maps", "baseline", "target"):
            x, y = fa[d][()].astype(np.float64), fb[d][()].astype(np.float64)
            assert x.shape == y.shape, (d, x.shape, y.shape)
            err = np.abs(x - y) / np.maximum(1.0, np.abs(y))
            assert err.max() <= tol, (d, float(err.max()))
            print(d, "max relative difference %.3g" % err.max())


def batch(lst, out):
    with open(lst) as f, open(out, "w") as o:
        for line in f:
            a = line.split()
            try:
                if a[0] == "check":
                    check(a[1], a[2], a[3], float(a[4]))
                else:
                    same(a[1], a[2], float(a[3]))
                o.write("ok\n")
            except Exception as e:  # report and go on with the next case
                o.write("FAIL %s\n" % repr(e)[:300].replace("\n", " "))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "models":
        models(*args)
    elif cmd == "images":
        images(args[0], args[1], int(args[2]))
    elif cmd == "check":
        check(args[0], args[1], args[2], *(float(a) for a in args[3:]))
    elif cmd == "same":
        same(args[0], args[1], *(float(a) for a in args[2:]))
    elif cmd == "batch":
        batch(*args)
    else:
        sys.exit("unknown command " + cmd)

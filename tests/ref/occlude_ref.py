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
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reflib  # noqa: E402
from reflib import blur, forward, load, s_, write_model  # noqa: E402

torch.set_grad_enabled(False)


# ---- models -------------------------------------------------------------

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
    write_model(d + "/lenet.h5", [1, 16, 16], lenet, [0.2], [0.5], [str(k) for k in range(10)], bgr=0)
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
    write_model(d + "/resnet.h5", [3, 17, 18], resnet, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3],
                ["a", "b", "c", "d", "e"], bgr=1)


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
    def one(a):
        if a[0] == "check":
            check(a[1], a[2], a[3], float(a[4]))
        else:
            same(a[1], a[2], float(a[3]))
    reflib.batch(lst, out, one)


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

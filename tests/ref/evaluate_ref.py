"""Reference for cnn-evaluate: the metrics' definitions written again in
NumPy + PyTorch float64, on the model files and images of occlude_ref.py
(whose independent torch forward this reuses).

  evaluate_ref.py noise OUT S C H W normal|uniform SEED
                                    a /noise file of S x C x H x W draws
  evaluate_ref.py batch LIST OUT    each line of LIST: MODEL IMAGES MAPS EVAL
                                    [NOISE] [TOL]; OUT gets "ok" or "FAIL why"
                                    per line (one interpreter for all)

Definitions (cnn-evaluate(1)):
  deletion / insertion (Petsiuk et al. 2018): pixels ranked by decreasing
    map value, ties by lower row-major index; after step k the first
    floor(k H W / steps) ranked pixels (all channels) come from the end
    image (deletion: the fill; insertion: the image, starting from its
    Gaussian blur); the target's softmax probability per step; AUC by the
    trapezoid rule over x = k / steps.
  infidelity (Captum, normalize=False): I = noise * Z; mean over samples of
    (sum(I * attr) - (f(x) - f(x - I)))^2.
  sensitivity (Captum's sensitivity_max): max over samples of
    ||g(x + radius U) - g(x)|| / ||g(x)||, g the gradient attribution
    recomputed by autograd.
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import occlude_ref as R  # noqa: E402

torch.set_grad_enabled(True)


def s_(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def logits_node(nodes):
    return nodes[-2][0] if nodes[-1][1] == "Softmax" else nodes[-1][0]


def logits(meta, nodes, x):
    acts = R.forward(meta, nodes, x)
    return acts[logits_node(nodes)].reshape(x.shape[0], -1)


def measure(meta, nodes, x, cls, how):
    z = logits(meta, nodes, x)
    v = torch.softmax(z, 1) if how == "prob" else z
    return v[:, cls]


def curve(meta, nodes, img, mp, cls, A):
    c, h, w = img.shape
    hw, steps = h * w, int(A["steps"][0])
    order = np.lexsort((np.arange(hw), -mp.reshape(-1).astype(np.float64)))
    metric = s_(A["metric"])
    if metric == "insertion":
        start, end = R.blur(img, float(A["blur_sigma"][0])), img
    else:
        fill = s_(A["fill"])
        start = img
        end = (R.blur(img, float(A["blur_sigma"][0])) if fill == "blur" else
               np.full_like(img, {"zero": 0.0, "gray": 0.5}.get(fill, float(A.get("fill_value", [0])[0]))))
    copies = []
    for k in range(steps + 1):
        cur = start.copy().reshape(c, -1)
        idx = order[:k * hw // steps]
        cur[:, idx] = end.reshape(c, -1)[:, idx]
        copies.append(cur.reshape(c, h, w))
    with torch.no_grad():
        p = measure(meta, nodes, torch.tensor(np.array(copies)), cls, "prob").numpy()
    auc = float(np.sum((p[1:] + p[:-1]) / 2) / steps)
    return p, auc


def infidelity(meta, nodes, img, attr, cls, A, Z):
    S, noise = int(A["samples"][0]), float(A["noise"][0])
    how = s_(A["measure"])
    I = noise * Z[:S].astype(np.float64)
    x = torch.tensor(img[None])
    with torch.no_grad():
        fx = measure(meta, nodes, x, cls, how)[0].item()
        fp = measure(meta, nodes, torch.tensor(img[None] - I), cls, how).numpy()
    a = attr if attr.ndim == 3 else attr[None]   # one channel: every channel
    dots = (I * a[None]).reshape(S, -1).sum(1)
    return float(np.mean((dots - (fx - fp)) ** 2))


def gradient(meta, nodes, x, cls, how, times_input=False):
    x = x.clone().requires_grad_(True)
    v = measure(meta, nodes, x, cls, how).sum()
    g, = torch.autograd.grad(v, x)
    return (g * x if times_input else g).detach().numpy()


def sensitivity(meta, nodes, img, cls, A, U, method):
    S, r = int(A["samples"][0]), float(A["radius"][0])
    how = s_(A["measure"])
    xi = method == "input-x-gradient"
    g0 = gradient(meta, nodes, torch.tensor(img[None]), cls, how, xi)[0]
    n0 = np.linalg.norm(g0) or 1.0
    xp = torch.tensor(img[None] + r * U[:S].astype(np.float64))
    g = gradient(meta, nodes, xp, cls, how, xi)
    return float(max(np.linalg.norm(g[k] - g0) / n0 for k in range(S)))


def check(model, imgs, maps, ev, noise=None, tol=1e-4):
    meta, nodes = R.load(model)
    with h5py.File(imgs) as fi, h5py.File(maps) as fm, h5py.File(ev) as fe:
        A = dict(fe.attrs)
        assert s_(A["kind"]) == "evaluation", A["kind"]
        metric = s_(A["metric"])
        rows = fe["ids"][()] - fi["ids"][0]
        mrows = fm["ids"][()] - fi["ids"][0]
        assert (rows == mrows).all(), ("rows", rows, mrows)
        cls = fe["target"][()]
        if "the maps" in s_(A["target"]):
            assert (cls == fm["target"][()]).all(), ("target", cls, fm["target"][()])
        Z = np.array(h5py.File(noise)["noise"]) if noise and noise != "-" else None
        worst = 0.0
        for k, i in enumerate(rows):
            img = fi["images"][i].astype(np.float64)
            if metric in ("deletion", "insertion"):
                p, auc = curve(meta, nodes, img, fm["maps"][k], int(cls[k]), A)
                got = fe["curve"][k]
                assert got.shape == p.shape, (got.shape, p.shape)
                err = max(float(np.abs(got - p).max()), abs(float(fe["auc"][k]) - auc))
            else:
                if metric == "infidelity":
                    attr = fm["attr"][k] if "attr" in fm else fm["maps"][k]
                    want = infidelity(meta, nodes, img, attr.astype(np.float64), int(cls[k]), A, Z)
                else:
                    want = sensitivity(meta, nodes, img, int(cls[k]), A, Z,
                                       s_(fm.attrs["base_method"]))
                got = float(fe[metric][k])
                err = abs(got - want) / max(abs(want), 1e-6)
            worst = max(worst, err)
            assert err <= tol, ("row", k, err)
        print("%s: max error %.3g over %d images" % (metric, worst, len(rows)))


def write_noise(out, S, C, H, W, kind, seed):
    r = np.random.default_rng(int(seed))
    shape = (int(S), int(C), int(H), int(W))
    z = r.standard_normal(shape) if kind == "normal" else r.uniform(-1, 1, shape)
    with h5py.File(out, "w") as f:
        f["noise"] = z.astype(np.float32)


def batch(lst, out):
    with open(lst) as f, open(out, "w") as o:
        for line in f:
            a = line.split()
            try:
                check(a[0], a[1], a[2], a[3], a[4] if len(a) > 4 else None,
                      float(a[5]) if len(a) > 5 else 1e-4)
                o.write("ok\n")
            except Exception as e:  # report and go on with the next case
                o.write("FAIL %s\n" % repr(e)[:300].replace("\n", " "))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "noise":
        write_noise(*args)
    elif cmd == "batch":
        batch(*args)
    else:
        sys.exit("unknown command " + cmd)

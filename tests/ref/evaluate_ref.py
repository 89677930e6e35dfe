"""Reference for cnn-evaluate: the metrics' definitions written again in
NumPy + PyTorch float64, on the model files and images of occlude_ref.py
(whose independent torch forward this reuses).

  evaluate_ref.py noise OUT S C H W normal|uniform SEED
                                    a /noise file of S x C x H x W draws
  evaluate_ref.py shuffle IN OUT SEED
                                    IN's /labels permuted as cnn-train
                                    --shuffle-labels documents (xoshiro256**
                                    written again here)
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
  sanity (Adebayo et al. 2018): from the cascade of maps cnn-evaluate
    writes, Spearman's rank correlation (scipy.stats.spearmanr), SSIM
    (scikit-image's formula on scipy.ndimage.uniform_filter: 7 x 7 windows,
    sample covariances, each map scaled to [0,1]) and HOG similarity
    (Pearson correlation of HOG features, scikit-image's definition with 9
    bins, cells of 8 pixels or min(H, W) // 3, 3 x 3 blocks, L2-Hys) of
    each step's map to the trained model's; and the trained model's map
    against the maps file's. The data-randomisation variant (one step, the
    model trained on shuffled labels): that step's map recomputed here by
    autograd on the shuffled model, then the same similarities.
"""
import os
import sys

import h5py
import numpy as np
import scipy.ndimage
import scipy.stats
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import occlude_ref as R  # noqa: E402
import reflib  # noqa: E402
from reflib import blur, s_  # noqa: E402

torch.set_grad_enabled(True)


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
        start, end = blur(img, float(A["blur_sigma"][0])), img
    else:
        fill = s_(A["fill"])
        start = img
        end = (blur(img, float(A["blur_sigma"][0])) if fill == "blur" else
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


def unit(a):
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def ssim(a, b):
    f = lambda v: scipy.ndimage.uniform_filter(v, size=7)
    cn = 49 / 48
    ux, uy = f(a), f(b)
    vx, vy, vxy = cn * (f(a * a) - ux * ux), cn * (f(b * b) - uy * uy), cn * (f(a * b) - ux * uy)
    C1, C2 = 0.01 ** 2, 0.03 ** 2
    S = (2 * ux * uy + C1) * (2 * vxy + C2) / ((ux ** 2 + uy ** 2 + C1) * (vx + vy + C2))
    return float(S[3:-3, 3:-3].mean())


def hog(im):
    h, w = im.shape
    cell = 8 if min(h, w) // 8 >= 3 else min(h, w) // 3
    gr, gc = np.zeros_like(im), np.zeros_like(im)
    gr[1:-1, :] = im[2:, :] - im[:-2, :]
    gc[:, 1:-1] = im[:, 2:] - im[:, :-2]
    mag = np.hypot(gr, gc)
    ori = np.rad2deg(np.arctan2(gr, gc)) % 180
    nr, nc = h // cell, w // cell
    hist = np.zeros((nr, nc, 9))
    b = np.minimum((ori // 20).astype(int), 8)
    for y in range(nr * cell):
        for x in range(nc * cell):
            hist[y // cell, x // cell, b[y, x]] += mag[y, x]
    hist /= cell * cell
    feats = []
    for r in range(nr - 2):
        for c in range(nc - 2):
            blk = hist[r:r + 3, c:c + 3, :].ravel()
            blk = np.minimum(blk / np.sqrt(np.sum(blk ** 2) + 1e-10), 0.2)
            feats.append(blk / np.sqrt(np.sum(blk ** 2) + 1e-10))
    return np.concatenate(feats)


def sanity(fe, fm, k, tol):
    cas = fe["cascade"][k].astype(np.float64)
    m0 = fm["maps"][k].astype(np.float64)
    err = float(np.abs(cas[0] - m0).max() / max(np.abs(m0).max(), 1e-30))
    assert err <= 1e-5, ("the trained model's map differs from the maps file's", err)
    worst = 0.0
    for j in range(1, cas.shape[0]):
        rho = scipy.stats.spearmanr(cas[0].ravel(), cas[j].ravel()).correlation
        want = [rho, ssim(unit(cas[0]), unit(cas[j])),
                np.corrcoef(hog(unit(cas[0])), hog(unit(cas[j])))[0, 1]]
        got = [fe[d][k][j - 1] for d in ("spearman", "ssim", "hog")]
        e = max(abs(float(g) - w) for g, w in zip(got, want))
        assert e <= tol, ("layer", j, got, want)
        worst = max(worst, e)
    return worst


def shuffled_map(fe, fm, img, cls):
    """The data-randomisation step: gradient (or input x gradient) of the
    shuffled model, reduced over channels as the maps were."""
    meta, nodes = R.load(s_(fe.attrs["shuffled_model"]))
    meth = s_(fm.attrs["base_method"])
    assert meth in ("gradient", "input-x-gradient"), meth
    g = gradient(meta, nodes, torch.tensor(img[None]), cls, s_(fe.attrs["measure"]),
                 meth == "input-x-gradient")[0]
    return reflib.reduce(g, s_(fe.attrs["reduce"]), axis=0)


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
            elif metric == "sanity":
                if "shuffled_model" in fe.attrs:
                    want = shuffled_map(fe, fm, img, int(cls[k]))
                    got = fe["cascade"][k][1]
                    e = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
                    assert e <= 1e-5, ("the shuffled model's map", k, e)
                err = sanity(fe, fm, k, tol)
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


M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Xoshiro:
    """xoshiro256** seeded by splitmix64 (Blackman and Vigna)."""
    def __init__(self, seed):
        self.s, x = [], seed & M64
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        res = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return res

    def below(self, n):
        lim = M64 - M64 % n
        while True:
            v = self.next()
            if v < lim:
                return v % n


def shuffle_labels(src, out, seed):
    """cnn-train --shuffle-labels: Fisher-Yates from seed + "LABELS"."""
    import shutil
    shutil.copy(src, out)
    with h5py.File(out, "r+") as f:
        y = f["labels"][()]
        r = Xoshiro(int(seed) + 0x4C4142454C53)
        for i in range(len(y) - 1, 0, -1):
            j = r.below(i + 1)
            y[i], y[j] = y[j], y[i]
        f["labels"][...] = y


def batch(lst, out):
    reflib.batch(lst, out, lambda a: check(a[0], a[1], a[2], a[3], a[4] if len(a) > 4 else None,
                                           float(a[5]) if len(a) > 5 else 1e-4))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "noise":
        write_noise(*args)
    elif cmd == "shuffle":
        shuffle_labels(*args)
    elif cmd == "batch":
        batch(*args)
    else:
        sys.exit("unknown command " + cmd)

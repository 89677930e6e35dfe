"""Independent PyTorch reference for tests/ref/ascend.sh: cnn-ascend's plain
gradient ascent (with L2 decay and clamping), cnn-perturb's edits and
cnn-style's Gatys loss and gradient, on a small random model written with
h5py (docs/model-format.md). Each subcommand exits non-zero with a reason
on failure."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
MEAN = np.array([0.4, 0.5, 0.6])
STD = np.array([0.5, 0.4, 0.3])


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def write_model(path):
    """3x12x12 RGB -> conv1 (4) relu1 pool1 -> conv2 (6) relu2 -> fc (5)."""
    rs = np.random.RandomState(7)
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array([3, 12, 12], np.int64)
        f.attrs["mean"] = MEAN
        f.attrs["std"] = STD
        f.create_dataset("classes", data=["c%d" % i for i in range(5)],
                         dtype=h5py.string_dtype())

        def node(i, name, op, **attrs):
            g = f.create_group("nodes/%04d" % i)
            g.attrs["name"] = name
            g.attrs["op"] = op
            for k, v in attrs.items():
                g.attrs[k] = np.atleast_1d(np.array(v, np.float64))
            return g
        g = node(0, "conv1", "Conv", pad=[1])
        g["weight"] = (rs.randn(4, 3, 3, 3) * 0.5).astype(np.float32)
        g["bias"] = (rs.randn(4) * 0.1).astype(np.float32)
        node(1, "relu1", "ReLU")
        node(2, "pool1", "MaxPool", kernel=[2, 2], stride=[2, 2])
        g = node(3, "conv2", "Conv", pad=[1])
        g["weight"] = (rs.randn(6, 4, 3, 3) * 0.4).astype(np.float32)
        g["bias"] = (rs.randn(6) * 0.1).astype(np.float32)
        node(4, "relu2", "ReLU")
        node(5, "flat", "Flatten")
        g = node(6, "fc", "Dense")
        g["weight"] = (rs.randn(5, 6 * 6 * 6) * 0.2).astype(np.float32)
        g["bias"] = np.zeros(5, np.float32)


def load(path):
    with h5py.File(path, "r") as f:
        w = {}
        for k in f["nodes"]:
            g = f["nodes"][k]
            for d in g:
                w[g.attrs["name"] + "." + d] = torch.tensor(g[d][()].astype(np.float64))
    return w


def layers(w, x):
    """Every named activation of the model on [0,1] pixels x (N x 3 x H x W)."""
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    a = {}
    h = (x - m) / s
    a["conv1"] = h = F.conv2d(h, w["conv1.weight"], w["conv1.bias"], padding=1)
    a["relu1"] = h = F.relu(h)
    a["pool1"] = h = F.max_pool2d(h, 2)
    a["conv2"] = h = F.conv2d(h, w["conv2.weight"], w["conv2.bias"], padding=1)
    a["relu2"] = h = F.relu(h)
    a["fc"] = F.linear(h.flatten(1), w["fc.weight"], w["fc.bias"])
    return a


def write_images(path, n, seed, lo=0.0, hi=1.0):
    rs = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = rs.uniform(lo, hi, (n, 3, 12, 12)).astype(np.float32)
        f["ids"] = np.arange(100, 100 + n, dtype=np.int64)
        f["labels"] = (np.arange(n) % 5).astype(np.int32)


def objective(w, x, target):
    a = layers(w, x)
    if target.startswith("class="):
        return a["fc"][0, int(target[6:])]
    layer, rest = target[5:].split(":")
    if "@" in rest:
        c, pos = rest.split("@")
        xx, y = pos.split(",")   # @X,Y
        return a[layer][0, int(c), int(y), int(xx)]
    return a[layer][0, int(rest)].max()


def ascend(model, start, row, out, target, steps, lr, l2):
    w = load(model)
    with h5py.File(start, "r") as f:
        x = torch.tensor(f["images"][int(row):int(row) + 1].astype(np.float64))
    steps, lr, l2 = int(steps), float(lr), float(l2)
    c = torch.tensor(np.clip(MEAN, 0, 1)).view(1, 3, 1, 1)
    vals = []
    for _ in range(steps):
        x = x.clone().requires_grad_(True)
        v = objective(w, x, target)
        vals.append(v.item())
        g, = torch.autograd.grad(v, x)
        with torch.no_grad():
            x = x + lr * g
            x = c + (1 - l2) * (x - c)
            x = x.clamp(0, 1)
    vals.append(objective(w, x, target).item())
    with h5py.File(out, "r") as f:
        got = f["images"][-1]
        gv = f["values"][()]
        if f.attrs["kind"] != "images" or f["ids"][-1] != 100 + int(row):
            fail("kind or ids wrong")
    e = np.abs(got - x.detach().numpy()[0]).max()
    ev = np.abs(gv - np.array(vals)).max() / max(1.0, np.abs(vals).max())
    print("image max diff %.3g, values %.3g" % (e, ev))
    if e > 1e-4 or ev > 1e-4 or len(gv) != steps + 1:
        fail("ascent differs from PyTorch: image %.3g values %.3g" % (e, ev))


def monotonic(out):
    with h5py.File(out, "r") as f:
        v = f["values"][()]
    d = np.diff(v)
    if len(v) < 10 or (d < -1e-6 * max(1, abs(v).max())).any() or v[-1] <= v[0]:
        fail("objective not rising monotonically: %s" % v)


def flipped(out, cls):
    with h5py.File(out, "r") as f:
        pred = f.attrs["pred"]
        ch = f.attrs["change_l2_linf"]
        x = f["images"][-1:].astype(np.float64)
        x0 = f["images"][0]
    w = load(sys.argv[4])
    got = int(layers(w, torch.tensor(x))["fc"].argmax())
    if pred[1] != int(cls) or got != int(cls) or pred[0] == int(cls):
        fail("prediction did not flip to %s: attrs %s, PyTorch %d" % (cls, pred, got))
    if not ch[0] > 0 or not ch[1] > 0:
        fail("change sizes %s" % ch)


def shuffle(inp, out, r, c):
    r, c = int(r), int(c)
    with h5py.File(inp, "r") as f:
        x = f["images"][()]
        ids = f["ids"][()]
    with h5py.File(out, "r") as f:
        y = f["images"][()]
        perm = f["perm"][()]
        if not (f["ids"][()] == ids).all():
            fail("ids not carried")
    n, C, H, W = x.shape
    th, tw = H // r, W // c
    for i in range(n):
        if sorted(perm[i]) != list(range(r * c)):
            fail("perm %s is not a permutation" % perm[i])
        if not np.array_equal(np.sort(x[i].ravel()), np.sort(y[i].ravel())):
            fail("row %d: pixel multiset changed" % i)
        for k in range(r * c):
            dy, dx = (k // c) * th, (k % c) * tw
            sy, sx = (perm[i][k] // c) * th, (perm[i][k] % c) * tw
            if not np.array_equal(y[i, :, dy:dy + th, dx:dx + tw], x[i, :, sy:sy + th, sx:sx + tw]):
                fail("row %d tile %d not intact" % (i, k))
    if (perm == np.arange(r * c)).all():
        fail("nothing moved")


def silhouette(inp, out, thr):
    with h5py.File(inp, "r") as f:
        x = f["images"][()]
    with h5py.File(out, "r") as f:
        y = f["images"][()]
    if not np.isin(y, [0.0, 1.0]).all():
        fail("not binary")
    want = np.where(x.mean(1, keepdims=True) < float(thr), 0.0, 1.0)
    if not np.array_equal(y, np.broadcast_to(want, y.shape)):
        fail("silhouette differs from the threshold rule")


def occlude(inp, out, box, fill):
    bx, by, bw, bh = map(int, box.split(","))
    with h5py.File(inp, "r") as f:
        x = f["images"][()]
    with h5py.File(out, "r") as f:
        y = f["images"][()]
    want = x.copy()
    for i in range(len(x)):
        for c in range(x.shape[1]):
            v = {"gray": 0.5, "zero": 0.0}.get(fill)
            if fill == "mean":
                v = x[i, c].astype(np.float64).mean()
            elif v is None:
                v = float(fill)
            want[i, c, by:by + bh, bx:bx + bw] = v
    if np.abs(y - want).max() > 1e-6:
        fail("occluded box differs")


def grid(inp, out, s):
    s = int(s)
    with h5py.File(inp, "r") as f:
        x = f["images"][()]
        ids = f["ids"][()]
    with h5py.File(out, "r") as f:
        y = f["images"][()]
        box = f["box"][()]
        oid = f["ids"][()]
    n, C, H, W = x.shape
    per = (H // s) * (W // s)
    if len(y) != n * per or not (oid == np.repeat(ids, per)).all():
        fail("grid rows or ids wrong")
    for q in range(len(y)):
        want = x[q // per].copy()
        bx, by, bw, bh = box[q]
        want[:, by:by + bh, bx:bx + bw] = 0.5
        if not np.array_equal(want, y[q]):
            fail("grid row %d wrong" % q)


def gram(fm):
    n, c, h, wd = fm.shape
    f = fm.view(c, h * wd)
    return f @ f.t()


def style(model, content, sty, start, out, clayer, slayers, cw, sw):
    """Gatys et al. 2016: L = alpha 1/2 sum (F - P)^2 + beta sum_l w_l E_l,
    E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2, w_l = 1/|layers|."""
    w = load(model)
    rd = lambda p: torch.tensor(h5py.File(p, "r")["images"][0:1].astype(np.float64))
    xc, xs, x = rd(content), rd(sty), rd(start).requires_grad_(True)
    ac, as_, a = layers(w, xc), layers(w, xs), layers(w, x)
    cw, sw = float(cw), float(sw)
    lc = 0.5 * ((a[clayer] - ac[clayer]) ** 2).sum()
    ls = 0
    sl = slayers.split(",")
    for l in sl:
        n, c, h, wd = a[l].shape
        ls = ls + ((gram(a[l]) - gram(as_[l])) ** 2).sum() / (4.0 * c * c * (h * wd) ** 2) / len(sl)
    loss = cw * lc + sw * ls
    g, = torch.autograd.grad(loss, x)
    with h5py.File(out, "r") as f:
        gl = f.attrs["loss0"]
        gg = f["grad"][()]
    # Texture synthesis (content weight 0) has no content loss at all.
    want = np.array([loss.item(), lc.item() if cw else 0.0, float(ls)])
    el = np.abs(gl - want).max() / max(1e-12, np.abs(want).max())
    eg = np.abs(gg - g.numpy()).max() / max(1e-12, np.abs(g.numpy()).max())
    print("loss rel %.3g grad rel %.3g" % (el, eg))
    if el > 1e-4 or eg > 1e-4:
        fail("style loss/gradient differ: loss %s vs %s (rel %.3g), grad rel %.3g" % (gl, want, el, eg))


def style_adam(model, content, sty, start, out, clayer, slayers, cw, sw, steps, lr):
    """cnn-style's optimiser: torch.optim.Adam descending on the pixels,
    each step projected back into [0,1]; the final image = PyTorch's."""
    w = load(model)
    rd = lambda p: torch.tensor(h5py.File(p, "r")["images"][0:1].astype(np.float64))
    xc, xs = rd(content), rd(sty)
    x = rd(start).requires_grad_(True)
    ac, as_ = layers(w, xc), layers(w, xs)
    cw, sw, sl = float(cw), float(sw), slayers.split(",")
    opt = torch.optim.Adam([x], lr=float(lr))
    for _ in range(int(steps)):
        a = layers(w, x)
        loss = cw * 0.5 * ((a[clayer] - ac[clayer]) ** 2).sum()
        for l in sl:
            n, c, h, wd = a[l].shape
            loss = loss + sw * ((gram(a[l]) - gram(as_[l])) ** 2).sum() / (
                4.0 * c * c * (h * wd) ** 2) / len(sl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    got = h5py.File(out, "r")["images"][0]
    want = x.detach().numpy()[0]
    err = np.abs(got - want).max()
    clamped = ((want == 0) | (want == 1)).mean()
    print("max err %.3g, %.0f%% of pixels at a bound" % (err, 100 * clamped))
    if err > 1e-3 * float(lr) * int(steps) or not 0 < clamped < 1:
        fail("image after %s Adam steps differs by %.3g (clamped %.3g)" % (steps, err, clamped))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "model":
        write_model(*args)
    elif cmd == "images":
        write_images(args[0], int(args[1]), int(args[2]), *map(float, args[3:]))
    elif cmd == "flipped":
        flipped(args[0], args[1])
    else:
        globals()[cmd](*args)

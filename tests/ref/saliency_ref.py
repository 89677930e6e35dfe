"""Reference checks of cnn-saliency and cnn-patches against PyTorch (float64).

The nets are written with h5py as docs/model-format.md describes and run
here with torch.nn.functional; the ReLU backward rules are custom autograd
Functions (standard / guided / deconvnet), max-pooling is PyTorch's own (its
backward routes through the switches under every rule, as Zeiler & Fergus's
deconvnet does).

    saliency_ref.py setup DIR           model, images, noise files
    saliency_ref.py batch DIR CASES     run the checks listed in CASES, one
                                        per line: NAME<TAB>CHECK ARGS...;
                                        prints "PASS NAME" or "FAIL NAME: why"

Importing torch takes seconds on a busy machine, so all comparisons run in
one process (and setup does not import it).
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reflib import blur, reduce, run_checks, write_model  # noqa: E402

torch = F = None
TOL = 1e-4
MEAN = np.array([0.4, 0.5, 0.6])
STD = np.array([0.2, 0.25, 0.3])


def setup(d):
    rng = np.random.default_rng(7)
    w = {
        "conv1": (rng.standard_normal((4, 3, 3, 3)) * 0.5, rng.standard_normal(4) * 0.1),
        "conv2": (rng.standard_normal((5, 4, 3, 3)) * 0.4, rng.standard_normal(5) * 0.1),
        "fc1": (rng.standard_normal((16, 180)) * 0.15, rng.standard_normal(16) * 0.1),
        "fc2": (rng.standard_normal((4, 16)) * 0.4, rng.standard_normal(4) * 0.1),
    }
    nodes = [("conv1", "Conv", {"pad": [1]}), ("relu1", "ReLU", {}),
             ("pool1", "MaxPool", {"kernel": [2]}), ("conv2", "Conv", {"pad": [1]}),
             ("relu2", "ReLU", {}), ("flat", "Flatten", {}), ("fc1", "Dense", {}),
             ("relu3", "ReLU", {}), ("fc2", "Dense", {})]
    write_model(d + "/net.h5", [3, 12, 12],
                [(nm, op, None, a, dict(zip(("weight", "bias"), w[nm])) if nm in w else {})
                 for nm, op, a in nodes], MEAN, STD, ["ant", "bee", "cat", "dog"])
    write_net2(d + "/net2.h5", rng)
    x = rng.uniform(0, 1, (6, 3, 12, 12)).astype(np.float32)
    with h5py.File(d + "/images.h5", "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = x
        f["ids"] = np.arange(100, 106, dtype=np.int64)
        f["labels"] = np.array([0, 1, 2, 3, 2, 1], np.int32)
    with h5py.File(d + "/small.h5", "w") as f:   # wrong size
        f.attrs["kind"] = "images"
        f["images"] = x[:, :, :10, :10]
    with h5py.File(d + "/nolabels.h5", "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = x
    with h5py.File(d + "/noise.h5", "w") as f:
        f["noise"] = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)


# net2: the other ops on a DAG ending in class maps (no Dense): BatchNorm,
# LeakyReLU, grouped conv, Clip (ReLU6), Add, AvgPool, Concat, MaxPool with
# padding, GlobalAvgPool; no preprocessing.
NET2 = [("c1", "Conv", "input", {"pad": [1]}), ("bn1", "BatchNorm", "c1", {"eps": [1e-3]}),
        ("lr1", "LeakyReLU", "bn1", {"alpha": [0.1]}),
        ("c2", "Conv", "lr1", {"pad": [1], "groups": [2]}),
        ("r6", "Clip", "c2", {"min": [0.0], "max": [6.0]}), ("add", "Add", "lr1,r6", {}),
        ("ap", "AvgPool", "add", {"kernel": [2]}), ("c3", "Conv", "ap", {}),
        ("cat", "Concat", "ap,c3", {}), ("mp", "MaxPool", "cat", {"kernel": [2], "pad": [1]}),
        ("c4", "Conv", "mp", {}), ("gap", "GlobalAvgPool", "c4", {})]


def write_net2(path, rng):
    shapes = {"c1": (6, 3, 3, 3), "c2": (6, 3, 3, 3), "c3": (4, 6, 1, 1), "c4": (4, 10, 1, 1)}
    nodes = []
    for name, op, inputs, attrs in NET2:
        w = {}
        if name in shapes:
            w["weight"] = rng.standard_normal(shapes[name]) * 0.6
            w["bias"] = rng.standard_normal(shapes[name][0]) * 0.2
        if op == "BatchNorm":
            w["gamma"] = rng.uniform(0.5, 1.5, 6)
            w["beta"] = rng.normal(0, 0.3, 6)
            w["mean"] = rng.normal(0, 0.3, 6)
            w["var"] = rng.uniform(0.5, 2, 6)
        nodes.append((name, op, inputs, attrs, w))
    write_model(path, [3, 12, 12], nodes)


def load_model(d, net="net"):
    w = {"_net": net}
    with h5py.File(d + "/" + net + ".h5") as f:
        for g in f["nodes"].values():
            w[g.attrs["name"]] = {k: torch.tensor(g[k][...].astype(np.float64)) for k in g}
    return w


def relu_rule(rule, f=lambda x: x.clamp(min=0), deriv=lambda x: (x > 0).double()):
    """A ReLU-family op whose backward follows the rule: standard g f'(x),
    guided g f'(x) where g > 0, deconvnet g where g > 0."""
    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return f(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            if rule == "standard":
                return g * deriv(x)
            if rule == "guided":
                return g * deriv(x) * (g > 0)
            return g * (g > 0)
    return Fn.apply


def forward2(w, x, rule):
    leaky = relu_rule(rule, lambda v: F.leaky_relu(v, 0.1),
                      lambda v: torch.where(v > 0, torch.ones_like(v), torch.full_like(v, 0.1)))
    relu6 = relu_rule(rule, lambda v: v.clamp(0, 6), lambda v: ((v > 0) & (v < 6)).double())
    a = {}
    c = lambda n, h, **k: F.conv2d(h, w[n]["weight"], w[n]["bias"], **k)
    a["c1"] = c("c1", x, padding=1)
    b = w["bn1"]
    a["bn1"] = (a["c1"] - b["mean"].view(1, -1, 1, 1)) / torch.sqrt(b["var"].view(1, -1, 1, 1) + 1e-3) \
        * b["gamma"].view(1, -1, 1, 1) + b["beta"].view(1, -1, 1, 1)
    a["lr1"] = leaky(a["bn1"])
    a["c2"] = c("c2", a["lr1"], padding=1, groups=2)
    a["r6"] = relu6(a["c2"])
    a["add"] = a["lr1"] + a["r6"]
    a["ap"] = F.avg_pool2d(a["add"], 2)
    a["c3"] = c("c3", a["ap"])
    a["cat"] = torch.cat([a["ap"], a["c3"]], 1)
    a["mp"] = F.max_pool2d(a["cat"], 2, padding=1)
    a["c4"] = c("c4", a["mp"])
    a["gap"] = a["logits"] = a["c4"].mean((2, 3))
    return a


def forward(w, x, rule="standard"):
    """Returns dict of node outputs (x a leaf tensor of [0,1] pixels)."""
    if w["_net"] == "net2":
        return forward2(w, x, rule)
    relu = relu_rule(rule)
    a = {}
    p = lambda n: (w[n]["weight"], w[n]["bias"])
    h = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    a["conv1"] = h = F.conv2d(h, *p("conv1"), padding=1)
    a["relu1"] = h = relu(h)
    a["pool1"] = h = F.max_pool2d(h, 2)
    a["conv2"] = h = F.conv2d(h, *p("conv2"), padding=1)
    a["relu2"] = h = relu(h)
    h = h.reshape(h.shape[0], -1)
    a["fc1"] = h = F.linear(h, *p("fc1"))
    a["relu3"] = h = relu(h)
    a["fc2"] = a["logits"] = F.linear(h, *p("fc2"))
    return a


def images(d):
    with h5py.File(d + "/images.h5") as f:
        return f["images"][...].astype(np.float64), f["labels"][...]


def target_value(a, spec, measure, fixed):
    """The scalar per image (summed over the batch for autograd); fixed
    holds the per-image class or map chosen on the clean images."""
    fixed = None if fixed is None else np.asarray(fixed, np.int64)
    if spec.startswith("unit=") or spec.startswith("strongest="):
        unit = spec[0] == "u"
        body = spec.split("=", 1)[1]
        pos = None
        if "@" in body:
            body, p = body.split("@")
            pos = [int(v) for v in p.split(",")][::-1]   # @X,Y -> (y, x)
        parts = body.split(":")
        summ = "max" if unit else "sum"
        if parts[-1] in ("max", "mean", "sum"):
            summ = parts.pop()
        layer = parts[0]
        if unit:
            m = a[layer][:, int(parts[1])]
        else:
            m = a[layer][torch.arange(len(fixed)), torch.tensor(fixed)]
        if pos:
            return m[:, pos[0], pos[1]]
        m = m.reshape(m.shape[0], -1)
        return {"max": lambda: m.max(1).values, "mean": lambda: m.mean(1),
                "sum": lambda: m.sum(1)}[summ]()
    z = a["logits"]
    if measure == "prob":
        z = torch.softmax(z, 1)
    return z[torch.arange(z.shape[0]), torch.tensor(fixed)]


def choose(w, x, spec, labels):
    z = forward(w, torch.tensor(x))["logits"].detach().numpy()
    if spec == "pred":
        return z.argmax(1)
    if spec == "label":
        return labels
    if spec.startswith("class="):
        return np.full(len(x), int(spec[6:]))
    if spec.startswith("strongest="):
        a = forward(w, torch.tensor(x))
        n, C = a[spec[10:].split(":")[0]].shape[:2]
        v = [target_value(a, spec, None, np.full(n, c)).detach().numpy() for c in range(C)]
        return np.argmax(np.stack(v, 1), 1)
    return None


def grad(w, x, spec, measure, fixed, rule="standard"):
    xt = torch.tensor(x, requires_grad=True)
    v = target_value(forward(w, xt, rule), spec, measure, fixed)
    v.sum().backward()
    return xt.grad.numpy(), v.detach().numpy()


def close(name, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        sys.exit("%s: shape %s, want %s" % (name, got.shape, want.shape))
    scale = max(np.abs(want).max(), 1e-12)
    err = np.abs(got - want).max() / scale
    if not err <= TOL:
        sys.exit("%s: relative error %.3g > %g (max |ref| %.3g)" % (name, err, TOL, scale))


def opts(args):
    o = {"target": "pred", "measure": "logit", "reduce": "absmax"}
    for a in args:
        k, v = a.split("=", 1)
        o[k] = v
    return o


def check_saliency(d, out, method, o):
    w = load_model(d, o.get("net", "net"))
    x, labels = images(d)
    spec, measure = o["target"], o["measure"]
    fixed = choose(w, x, spec, labels)
    rule = {"guided": "guided", "deconvnet": "deconvnet"}.get(method, "standard")

    def once(xin):
        if method in ("gradient", "smoothgrad", "guided", "deconvnet"):
            return grad(w, xin, spec, measure, fixed, rule)[0]
        if method == "input-x-gradient":
            return grad(w, xin, spec, measure, fixed)[0] * xin
        if method == "integrated-gradients":
            m = int(o["steps"])
            b = baseline(xin, o.get("baseline", "zeros"))
            acc = np.zeros_like(xin)
            for k in range(1, m + 1):   # right Riemann sum, k = 1..m
                acc += grad(w, b + k / m * (xin - b), spec, measure, fixed)[0]
            return (xin - b) * acc / m
        raise SystemExit("no reference for " + method)

    if "noise" in o:   # SmoothGrad with the noise file's draws
        with h5py.File(d + "/noise.h5") as f:
            eps = f["noise"][...].astype(np.float64)
        rng_ = x.reshape(len(x), -1)
        sigma = float(o["noise"]) * (rng_.max(1) - rng_.min(1))
        want = np.mean([once(x + sigma[:, None, None, None] * e[None]) for e in eps], 0)
    else:
        want = once(x)
    with h5py.File(out) as f:
        got = f["attr"][...]
        close(method + " /attr", got, want)
        close(method + " /maps", f["maps"][...], reduce(want, o["reduce"]))
        score = target_value(forward(w, torch.tensor(x)), spec, measure, fixed).detach().numpy()
        close("/scores", f["scores"][...], score)
        assert f.attrs["kind"] == "maps" and f.attrs["method"] == method, dict(f.attrs)
        assert list(f["ids"][...]) == list(range(100, 106)), "ids not carried"
        assert list(f["labels"][...]) == list(labels), "labels not carried"
        if fixed is not None:
            assert list(f["target"][...]) == list(fixed), (f["target"][...], fixed)
        if method == "integrated-gradients" and "noise" not in o:
            b = baseline(x, o.get("baseline", "zeros"))
            fb = target_value(forward(w, torch.tensor(b)), spec, measure, fixed).detach().numpy()
            close("/baseline_scores", f["baseline_scores"][...], fb)
            comp = want.reshape(len(x), -1).sum(1) - (score - fb)
            d_ = np.abs(f["completeness"][...] - comp).max()
            if d_ > 1e-4 * max(1, np.abs(score - fb).max()):
                sys.exit("/completeness differs by %g" % d_)


def baseline(x, spec):
    if spec == "zeros":
        return np.zeros_like(x)
    if spec.startswith("blur"):
        return blur(x, float(spec[5:]) if ":" in spec else 5.0)
    return np.full_like(x, float(spec))


def check_gradcam(d, out, layer, o):
    w = load_model(d, o.get("net", "net"))
    x, labels = images(d)
    fixed = choose(w, x, o["target"], labels)
    xt = torch.tensor(x, requires_grad=True)
    a = forward(w, xt)
    A = a[layer]
    A.retain_grad()
    target_value(a, o["target"], o["measure"], fixed).sum().backward()
    alpha = A.grad.mean((2, 3), keepdim=True)
    cam = torch.relu((alpha * A).sum(1))
    up = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    with h5py.File(out) as f:
        close("gradcam /cam", f["cam"][...], cam.detach().numpy())
        close("gradcam /attr", f["attr"][...], up.detach().numpy())
        close("gradcam /maps", f["maps"][...], up.detach().numpy()[:, 0])


def check_completeness(few, many):
    with h5py.File(few) as a, h5py.File(many) as b:
        ea, eb = np.abs(a["completeness"][...]).mean(), np.abs(b["completeness"][...]).mean()
    if not eb < ea / 4:
        sys.exit("completeness error %g (few steps) -> %g (many): does not shrink" % (ea, eb))


def check_same(a, b, rows):
    """Same noise: equal up to float32 summation order (other batch sizes
    change the BLAS blocking)."""
    lo, hi = [int(v) for v in rows.split(":")]
    with h5py.File(a) as fa, h5py.File(b) as fb:
        close("rows " + rows, fb["attr"][...], fa["attr"][lo:hi])


def check_differ(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        if np.array_equal(fa["attr"][...], fb["attr"][...]):
            sys.exit("different seeds gave the same noise")


def probe_box(layer, y, xx):
    """Brute-force receptive field: a linear copy of the net (weights 1, no
    bias, ReLU the identity, max-pool an average over the same window); the
    input pixels with a nonzero gradient of position (y, x) are those it
    sees. Returns their bounding box y0, x0, y1, x1 (ends exclusive)."""
    x = torch.ones(1, 3, 12, 12, requires_grad=True)
    h = F.conv2d(x, torch.ones(4, 3, 3, 3), padding=1)
    h = F.avg_pool2d(h, 2)
    h = F.conv2d(h, torch.ones(5, 4, 3, 3), padding=1)
    h[0, 0, y, xx].backward()
    nz = np.argwhere(x.grad[0].abs().sum(0).numpy() > 0)
    return [nz[:, 0].min(), nz[:, 1].min(), nz[:, 0].max() + 1, nz[:, 1].max() + 1]


def check_patches(d, out, proj, layer, k, chans):
    k = int(k)
    chans = [int(c) for c in chans.split(",")]
    w = load_model(d)
    x, labels = images(d)
    act = forward(w, torch.tensor(x))[layer].detach().numpy()
    n, C, h, wd = act.shape
    rf = 8   # conv3 p1 -> pool2 -> conv3 p1: 3 + 1 + 2*2
    with h5py.File(out) as f, h5py.File(proj) as p:
        assert f.attrs["kind"] == "images" and p.attrs["kind"] == "images"
        assert f["images"].shape == (len(chans) * k, 3, rf, rf), f["images"].shape
        t = 0
        for c in chans:
            flat = act[:, c].reshape(n, -1)
            best = flat.argmax(1)
            score = flat[np.arange(n), best]
            order = sorted(range(n), key=lambda i: (-score[i], i))[:k]
            for r, i in enumerate(order):
                y, xx = divmod(int(best[i]), wd)
                assert f["ids"][t] == 100 + i, ("ids", t, f["ids"][t], 100 + i)
                assert f["channel"][t] == c and f["rank"][t] == r
                assert list(f["pos"][t]) == [y, xx], ("pos", t, list(f["pos"][t]), [y, xx])
                close("score", f["scores"][t], score[i])
                assert list(f["box"][t]) == probe_box(layer, y, xx), \
                    ("box", t, list(f["box"][t]), probe_box(layer, y, xx))
                # The crop: window y*2-3 .. +8 (rfield), gray outside.
                y0, x0 = 2 * y - 3, 2 * xx - 3
                want = np.full((3, rf, rf), 0.5)
                for yy in range(rf):
                    for xk in range(rf):
                        if 0 <= y0 + yy < 12 and 0 <= x0 + xk < 12:
                            want[:, yy, xk] = x[i, :, y0 + yy, x0 + xk]
                close("patch", f["images"][t], want)
                # Deconvnet projection of that one activation.
                xt = torch.tensor(x[i:i + 1], requires_grad=True)
                a = forward(w, xt, "deconvnet")[layer]
                seed = torch.zeros_like(a)
                seed[0, c, y, xx] = a[0, c, y, xx].detach()
                a.backward(seed)
                g = np.zeros((3, rf, rf))
                gi = xt.grad[0].numpy()
                for yy in range(rf):
                    for xk in range(rf):
                        if 0 <= y0 + yy < 12 and 0 <= x0 + xk < 12:
                            g[:, yy, xk] = gi[:, y0 + yy, x0 + xk]
                close("projection", p["raw"][t], g)
                close("normalised projection", p["images"][t], 0.5 + 0.5 * g / np.abs(g).max())
                close("projection in patches file", f["projections"][t], p["images"][t])
                t += 1


CHECKS = {
    "saliency": lambda d, out, method, *o: check_saliency(d, out, method, opts(o)),
    "gradcam": lambda d, out, layer, *o: check_gradcam(d, out, layer, opts(o)),
    "completeness": lambda d, a, b: check_completeness(a, b),
    "same": lambda d, a, b, rows: check_same(a, b, rows),
    "differ": lambda d, a, b: check_differ(a, b),
    "patches": check_patches,
}


def main():
    global torch, F
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "setup":
        setup(d)
        return
    import torch
    import torch.nn.functional as F
    torch.set_default_dtype(torch.float64)
    run_checks(sys.argv[3], CHECKS, d)


if __name__ == "__main__":
    main()

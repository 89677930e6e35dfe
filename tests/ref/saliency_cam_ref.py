"""Reference checks of cnn-saliency's CAM family, SmoothGrad variants and
reference-based methods (DeepLift, LRP, GradientShap), in float64 PyTorch,
each written from its published formula (pytorch-grad-cam's definitions
for the CAMs, Captum's for the rest; neither library is used).

    saliency_cam_ref.py setup DIR        net3 (conv/ReLU/avg-pool/dense),
                                         net3z (the same without biases),
                                         baselines, noise with /alpha
    saliency_cam_ref.py batch DIR CASES  the checks in CASES (NAME<TAB>CHECK
                                         ARGS...), "PASS NAME" / "FAIL NAME: why"

saliency_ref.py's fixtures (net.h5, images.h5, noise.h5) are used too: the
CAMs run on its max-pool net.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reflib  # noqa: E402
import saliency_ref as R  # noqa: E402

torch = F = None
MEAN, STD = R.MEAN, R.STD
NET3 = [("conv1", "Conv", {"pad": [1]}), ("relu1", "ReLU", {}), ("pool1", "AvgPool", {"kernel": [2]}),
        ("conv2", "Conv", {"pad": [1]}), ("relu2", "ReLU", {}), ("flat", "Flatten", {}),
        ("fc1", "Dense", {}), ("relu3", "ReLU", {}), ("fc2", "Dense", {})]


def setup(d):
    rng = np.random.default_rng(11)
    w = {"conv1": (rng.standard_normal((4, 3, 3, 3)) * 0.5, rng.standard_normal(4) * 0.1),
         "conv2": (rng.standard_normal((5, 4, 3, 3)) * 0.4, rng.standard_normal(5) * 0.1),
         "fc1": (rng.standard_normal((16, 180)) * 0.15, rng.standard_normal(16) * 0.1),
         "fc2": (rng.standard_normal((4, 16)) * 0.4, rng.standard_normal(4) * 0.1)}
    for name, zero in (("net3", False), ("net3z", True)):
        R.write_model("%s/%s.h5" % (d, name), [3, 12, 12],
                      [(nm, op, None, a, {"weight": w[nm][0], "bias": w[nm][1] * (0 if zero else 1)}
                        if nm in w else {}) for nm, op, a in NET3],
                      MEAN, STD, ["ant", "bee", "cat", "dog"])
    lrn = []   # an op DeepLift and LRP have no rule for
    for nm, op, a in [("conv1", "Conv", {}), ("norm", "LRN", {"size": [3]}),
                      ("flat", "Flatten", {}), ("fc", "Dense", {})]:
        shp = {"conv1": (2, 3, 3, 3), "fc": (4, 200)}.get(nm)
        lrn.append((nm, op, None, a, {"weight": rng.standard_normal(shp),
                                      "bias": np.zeros(shp[0])} if shp else {}))
    R.write_model(d + "/netlrn.h5", [3, 12, 12], lrn)
    # Wide enough for cnn-saliency's column-batched Ablation-CAM tail
    # (nn/colrun.h) to take each of its paths from l1: 1x1 and strided 3x3
    # convolutions reading the layer (its rank-1 updates), Winograd at
    # 12x12 and 6x6 (whole and partial tiles), a strided im2col, residual
    # Adds, the pooled dense layer.
    he = lambda *s: rng.standard_normal(s) * np.sqrt(2.0 / np.prod(s[1:]))
    cb = lambda co, ci, k: {"weight": he(co, ci, k, k), "bias": rng.standard_normal(co) * 0.1}
    wide = [("l0", "Conv", "input", {"pad": [1]}, cb(16, 3, 3)), ("l1", "ReLU", None, {}, {}),
            ("a1", "Conv", "l1", {}, cb(24, 16, 1)), ("ra1", "ReLU", None, {}, {}),
            ("a2", "Conv", None, {"pad": [1]}, cb(24, 24, 3)), ("ra2", "ReLU", None, {}, {}),
            ("a3", "Conv", None, {"pad": [1], "stride": [2]}, cb(32, 24, 3)),
            ("ds", "Conv", "l1", {"pad": [1], "stride": [2]}, cb(32, 16, 3)),
            ("add", "Add", "a3,ds", {}, {}), ("r3", "ReLU", None, {}, {}),
            ("b1", "Conv", None, {"pad": [1]}, cb(32, 32, 3)),
            ("add2", "Add", "r3,b1", {}, {}), ("r4", "ReLU", None, {}, {}),
            ("gap", "GlobalAvgPool", None, {}, {}),
            ("fc", "Dense", None, {}, {"weight": he(4, 32), "bias": rng.standard_normal(4) * 0.1})]
    R.write_model(d + "/wide.h5", [3, 12, 12], wide, MEAN, STD, ["ant", "bee", "cat", "dog"])
    with h5py.File(d + "/baselines.h5", "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = rng.uniform(0, 1, (3, 3, 12, 12)).astype(np.float32)
    with h5py.File(d + "/shapnoise.h5", "w") as f:
        f["noise"] = rng.standard_normal((5, 3, 12, 12)).astype(np.float32)
        f["alpha"] = rng.uniform(0, 1, 5).astype(np.float32)


def load(d, net):
    return R.load_model(d, net)


def forward3(w, x, relu=None, edit=None):
    """net3's forward; relu(name, v) replaces each ReLU (DeepLift), edit(name,
    v) may change an activation (Ablation-CAM)."""
    relu = relu or (lambda n, v: torch.relu(v))
    edit = edit or (lambda n, v: v)
    p = lambda n: (w[n]["weight"], w[n]["bias"])
    a = {}
    h = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    a["input"] = h
    a["conv1"] = h = edit("conv1", F.conv2d(h, *p("conv1"), padding=1))
    a["relu1"] = h = edit("relu1", relu("relu1", h))
    a["pool1"] = h = edit("pool1", F.avg_pool2d(h, 2))
    a["conv2"] = h = edit("conv2", F.conv2d(h, *p("conv2"), padding=1))
    a["relu2"] = h = edit("relu2", relu("relu2", h))
    h = h.reshape(h.shape[0], -1)
    a["fc1"] = h = F.linear(h, *p("fc1"))
    a["relu3"] = h = relu("relu3", h)
    a["fc2"] = a["logits"] = F.linear(h, *p("fc2"))
    return a


def fwd(w, x, **k):
    """The max-pool net of saliency_ref.py (with edit) or net3."""
    if w["_net"].startswith("net3"):
        return forward3(w, x, **k)
    edit = k.get("edit") or (lambda n, v: v)
    relu = torch.relu
    p = lambda n: (w[n]["weight"], w[n]["bias"])
    a = {}
    h = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    a["conv1"] = h = edit("conv1", F.conv2d(h, *p("conv1"), padding=1))
    a["relu1"] = h = edit("relu1", relu(h))
    a["pool1"] = h = edit("pool1", F.max_pool2d(h, 2))
    a["conv2"] = h = edit("conv2", F.conv2d(h, *p("conv2"), padding=1))
    a["relu2"] = h = edit("relu2", relu(h))
    h = h.reshape(h.shape[0], -1)
    a["fc1"] = h = F.linear(h, *p("fc1"))
    a["relu3"] = h = relu(h)
    a["fc2"] = a["logits"] = F.linear(h, *p("fc2"))
    return a


def score(w, x, spec, fixed, **k):
    return R.target_value(fwd(w, x, **k), spec, "logit", fixed)


def cam_weights(kind, A, G):
    if kind == "gradcam":
        return G.mean((2, 3))
    sa = A.sum((2, 3), keepdim=True)
    if kind == "xgradcam":
        return (G * A / (sa + 1e-7)).sum((2, 3))
    g2, g3 = G ** 2, G ** 3                      # Grad-CAM++, eq. 19
    aij = g2 / (2 * g2 + sa * g3 + 1e-6)
    aij = torch.where(G != 0, aij, torch.zeros_like(aij))
    return (torch.relu(G) * aij).sum((2, 3))


def eigen(A):
    out = []
    for a in A:
        m = a.reshape(a.shape[0], -1).T
        m = m - m.mean(0)
        v = torch.linalg.svd(m, full_matrices=True)[2][0]
        p = m @ v
        if p[p.abs().argmax()] < 0:          # the sign rule of methods/cam.h
            p = -p
        out.append(p.reshape(a.shape[1:]))
    return torch.stack(out)


def zero_map(layer, k):
    """Ablation-CAM's edit of the forward: map k of layer zeroed."""
    def ed(name, v):
        if name != layer:
            return v
        v = v.clone()
        v[:, k] = 0
        return v
    return ed


def passes(kind, w, x, A, layer, spec, fixed):
    """Score-CAM's and Ablation-CAM's channel weights."""
    n, K = A.shape[:2]
    W = torch.zeros(n, K)
    y0 = score(w, x, spec, fixed)
    for k in range(K):
        if kind == "scorecam":
            up = F.interpolate(A[:, k:k + 1], size=x.shape[2:], mode="bilinear", align_corners=True)
            lo = up.reshape(n, -1).min(1).values.view(n, 1, 1, 1)
            hi = up.reshape(n, -1).max(1).values.view(n, 1, 1, 1)
            m = (up - lo) / (hi - lo + 1e-8)
            mu = torch.tensor(MEAN).view(1, 3, 1, 1)
            W[:, k] = score(w, mu + m * (x - mu), spec, fixed)   # masks the normalised input
        else:
            W[:, k] = (y0 - score(w, x, spec, fixed, edit=zero_map(layer, k))) / y0
    return torch.softmax(W, 1) if kind == "scorecam" else W


def check_ablation_graph(d, out, model, imgs, layer):
    """Ablation-CAM on any model file (occlude_ref.py's graph with a skip
    connection), each map of the layer zeroed in turn in reflib's op-by-op
    forward of the whole net; the class is the output's /target."""
    meta, nodes = reflib.load(model)
    with h5py.File(imgs) as fi, h5py.File(out) as fo:
        x = torch.tensor(fi["images"][()].astype(np.float64))
        cls = torch.tensor(fo["target"][()].astype(np.int64))
        got_w, got_cam = fo["cam_weights"][()], fo["cam"][()]
    logits = nodes[-2][0] if nodes[-1][1] == "Softmax" else nodes[-1][0]
    n = x.shape[0]
    z = lambda acts: acts[logits].reshape(n, -1)[torch.arange(n), cls]
    a = reflib.forward(meta, nodes, x)
    A, y0 = a[layer], z(a)
    W = torch.zeros(n, A.shape[1])
    for k in range(A.shape[1]):
        W[:, k] = (y0 - z(reflib.forward(meta, nodes, x, zero_map(layer, k)))) / y0
    R.close("ablationcam /cam_weights", got_w, W.numpy())
    R.close("ablationcam /cam", got_cam, torch.relu((W[:, :, None, None] * A).sum(1)).numpy())


def check_cam(d, out, kind, layer, net, spec):
    w = load(d, net)
    x, labels = R.images(d)
    fixed = R.choose(w, x, spec, labels)
    xt = torch.tensor(x, requires_grad=True)
    a = fwd(w, xt)
    A = a[layer]
    A.retain_grad()
    R.target_value(a, spec, "logit", fixed).sum().backward()
    A, G = A.detach(), A.grad
    base = "gradcam" if kind == "guided-gradcam" else kind
    wts = None
    if base in ("gradcam", "gradcam++", "xgradcam"):
        wts = cam_weights(base, A, G)
    elif base in ("scorecam", "ablationcam"):
        wts = passes(base, w, torch.tensor(x), A, layer, spec, fixed)
    if base == "layercam":
        cam = torch.relu((torch.relu(G) * A).sum(1))
    elif base == "eigencam":
        cam = torch.relu(eigen(A))
    else:
        cam = torch.relu((wts[:, :, None, None] * A).sum(1))
    up = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    if kind == "guided-gradcam":
        gb = R.grad(w, x, spec, "logit", fixed, "guided")[0]
        up = torch.tensor(gb) * up
    with h5py.File(out) as f:
        R.close(kind + " /cam", f["cam"][...], cam.numpy())
        R.close(kind + " /attr", f["attr"][...], up.numpy())
        if wts is not None:
            R.close(kind + " /cam_weights", f["cam_weights"][...], wts.numpy())
        elif "cam_weights" in f:
            sys.exit("%s has no channel weights but wrote /cam_weights" % kind)
        assert f.attrs["method"] == kind and f.attrs["layer"] == layer, dict(f.attrs)


def check_smooth(d, out, stat, noise):
    w = load(d, "net")
    x, labels = R.images(d)
    fixed = R.choose(w, x, "label", labels)
    with h5py.File(d + "/noise.h5") as f:
        eps = f["noise"][...].astype(np.float64)
    r = x.reshape(len(x), -1)
    sigma = float(noise) * (r.max(1) - r.min(1))
    g = np.stack([R.grad(w, x + sigma[:, None, None, None] * e[None], "label", "logit", fixed)[0]
                  for e in eps])
    want = {"mean": g.mean(0), "sq": (g ** 2).mean(0), "var": (g ** 2).mean(0) - g.mean(0) ** 2}[stat]
    with h5py.File(out) as f:
        R.close("smooth-stat " + stat, f["attr"][...], want)
        assert f.attrs["smooth_stat"] == stat, dict(f.attrs)


def dl_relu(refs):
    """A ReLU whose backward is DeepLift's rescale multiplier against the
    baseline's input to the same ReLU (refs[name])."""
    def make(name):
        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, v):
                ctx.save_for_backward(v)
                return torch.relu(v)

            @staticmethod
            def backward(ctx, g):
                (v,) = ctx.saved_tensors
                vr = refs[name]
                dx = v - vr
                m = (torch.relu(v) - torch.relu(vr)) / torch.where(dx.abs() < 1e-10, torch.ones_like(dx), dx)
                return g * torch.where(dx.abs() < 1e-10, (v > 0).double(), m)
        return Fn.apply
    fns = {}
    return lambda n, v: fns.setdefault(n, make(n))(v)


def dl_maxpool(xr):
    """Max-pooling (kernel 2) whose backward is Captum's DeepLift rule
    against the baseline's input xr: d/dy (max(y, y') - y') through the
    input's switches plus d/dy (y - max(y, y')) through the baseline's,
    over x - x' (the plain gradient where |x - x'| < 1e-10)."""
    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            y, iv = F.max_pool2d(v, 2, return_indices=True)
            ctx.save_for_backward(v, y, iv)
            return y

        @staticmethod
        def backward(ctx, g):
            v, y, iv = ctx.saved_tensors
            yr, ir = F.max_pool2d(xr, 2, return_indices=True)
            m = torch.max(y, yr)
            un = lambda t, i: F.max_unpool2d(t, i, 2, output_size=v.shape[2:])
            u = un(g * (m - yr), iv) + un(g * (y - m), ir)
            dx = v - xr
            small = dx.abs() < 1e-10
            return torch.where(small, un(g, iv), u / torch.where(small, torch.ones_like(dx), dx))
    return Fn.apply


def forward_dl_net(w, x, relu, pool):
    """saliency_ref.py's max-pool net with DeepLift's ReLU and pool."""
    p = lambda n: (w[n]["weight"], w[n]["bias"])
    a = {}
    h = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    h = relu("relu1", F.conv2d(h, *p("conv1"), padding=1))
    a["relu1"] = h
    h = pool(h)
    h = relu("relu2", F.conv2d(h, *p("conv2"), padding=1))
    h = relu("relu3", F.linear(h.reshape(h.shape[0], -1), *p("fc1")))
    a["fc2"] = a["logits"] = F.linear(h, *p("fc2"))
    return a


def check_deeplift(d, out, spec, baseline, net="net3"):
    w = load(d, net)
    x, labels = R.images(d)
    fixed = R.choose(w, x, spec, labels)
    b = R.baseline(x, baseline)
    refs = {}
    rec = lambda n, v: refs.setdefault(n, v) is None or torch.relu(v)
    xt = torch.tensor(x, requires_grad=True)
    if net == "net":
        ra = forward_dl_net(w, torch.tensor(b), rec, lambda v: F.max_pool2d(v, 2))
        fwd_x = forward_dl_net(w, xt, dl_relu(refs), dl_maxpool(ra["relu1"]))
    else:
        forward3(w, torch.tensor(b), relu=rec)
        fwd_x = forward3(w, xt, relu=dl_relu(refs))
    v = R.target_value(fwd_x, spec, "logit", fixed)
    v.sum().backward()
    want = (x - b) * xt.grad.numpy()
    fx = v.detach().numpy()
    fb = score(w, torch.tensor(b), spec, fixed).numpy()
    with h5py.File(out) as f:
        R.close("deeplift /attr", f["attr"][...], want)
        R.close("deeplift /baseline_scores", f["baseline_scores"][...], fb)
        comp = f["completeness"][...]
    # Summation-to-delta: the reference's own sums, and the tool's.
    gap = np.abs(fx - fb).max()
    if np.abs(want.reshape(len(x), -1).sum(1) - (fx - fb)).max() > 1e-8 * max(1, gap):
        sys.exit("reference DeepLift does not sum to f(x) - f(b)")
    if np.abs(comp).max() > 1e-4 * max(1, gap):
        sys.exit("/completeness %s, want about 0 (|f(x) - f(b)| up to %g)" % (comp, gap))


def lrp_ref(w, x, spec, fixed, eps, rule="epsilon", gamma=0.25):
    """LRP on net3, layer by layer: R_j = a_j sum_k rho(w_jk) R_k / (z_k + eps
    sign z_k), z_k = sum_j a_j rho(w_jk) + rho(b_k); rho the identity
    (epsilon), w + gamma w+ (gamma) or w+ (alpha1beta0) on Conv/Dense,
    the identity on the average pool."""
    rho = {"epsilon": lambda t: t, "gamma": lambda t: t + gamma * t.clamp(min=0),
           "alpha1beta0": lambda t: t.clamp(min=0)}[rule]
    P = lambda n: (rho(w[n]["weight"]), rho(w[n]["bias"]))
    a = forward3(w, torch.tensor(x))
    stab = lambda z: z + eps * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
    z = a["fc2"]
    Rl = torch.zeros_like(z)
    idx = torch.arange(len(x))
    Rl[idx, torch.tensor(fixed)] = z[idx, torch.tensor(fixed)]

    def back(inp, fn, Rout):
        inp = inp.detach().clone().requires_grad_(True)
        zz = fn(inp)
        s = (Rout / stab(zz.detach())).detach()
        (c,) = torch.autograd.grad(zz, inp, s)
        return inp.detach() * c
    # fc2 <- relu3 (pass) <- fc1 <- flatten <- relu2 (pass) <- conv2 <- pool1 <- relu1 <- conv1 <- input
    Rl = back(a["relu3"], lambda v: F.linear(v, *P("fc2")), Rl)
    h2 = a["relu2"].reshape(len(x), -1)
    Rl = back(h2, lambda v: F.linear(v, *P("fc1")), Rl).reshape(a["relu2"].shape)
    Rl = back(a["pool1"], lambda v: F.conv2d(v, *P("conv2"), padding=1), Rl)
    Rl = back(a["relu1"], lambda v: F.avg_pool2d(v, 2), Rl)
    Rl = back(a["input"], lambda v: F.conv2d(v, *P("conv1"), padding=1), Rl)
    return Rl.numpy(), a["fc2"][idx, torch.tensor(fixed)].numpy()


def check_lrp(d, out, net, spec, eps, rule="epsilon", gamma="0.25"):
    w = load(d, net)
    x, labels = R.images(d)
    fixed = np.asarray(R.choose(w, x, spec, labels), np.int64)
    want, fx = lrp_ref(w, x, spec, fixed, float(eps), rule, float(gamma))
    with h5py.File(out) as f:
        R.close("lrp %s /attr" % rule, f["attr"][...], want)
        comp = f["completeness"][...]
        assert f.attrs["rule"] == rule
    c_ref = want.reshape(len(x), -1).sum(1) - fx
    if np.abs(comp - c_ref).max() > 1e-4 * max(1, np.abs(fx).max()):
        sys.exit("/completeness %s, reference %s" % (comp, c_ref))
    if net == "net3z" and np.abs(comp).max() > 1e-4 * max(1, np.abs(fx).max()):
        sys.exit("relevance not conserved without biases: %s" % comp)


def check_gshap(d, out, spec, noise):
    w = load(d, "net3")
    x, labels = R.images(d)
    fixed = R.choose(w, x, spec, labels)
    with h5py.File(d + "/shapnoise.h5") as f:
        eps, alpha = f["noise"][...].astype(np.float64), f["alpha"][...].astype(np.float64)
    with h5py.File(d + "/baselines.h5") as f:
        bl = f["images"][...].astype(np.float64)
    r = x.reshape(len(x), -1)
    sigma = (float(noise) * (r.max(1) - r.min(1)))[:, None, None, None]
    acc = np.zeros_like(x)
    for j in range(len(eps)):
        b = bl[j % len(bl)][None]
        xn = x + sigma * eps[j][None]
        acc += (xn - b) * R.grad(w, b + alpha[j] * (xn - b), spec, "logit", fixed)[0]
    want = acc / len(eps)
    fb = np.mean([score(w, torch.tensor(np.repeat(b[None], len(x), 0)), spec, fixed).numpy()
                  for b in bl], 0)
    with h5py.File(out) as f:
        R.close("gradientshap /attr", f["attr"][...], want)
        R.close("gradientshap /baseline_scores", f["baseline_scores"][...], fb)


def check_dl_sum(d, out, net, spec):
    """Summation-to-delta on any net: the attributions add up to f(x) - f(0)
    of the reference forward."""
    w = load(d, net)
    x, labels = R.images(d)
    fixed = R.choose(w, x, spec, labels)
    fx = R.target_value(R.forward(w, torch.tensor(x)), spec, "logit", fixed).detach().numpy()
    fb = R.target_value(R.forward(w, torch.zeros(x.shape)), spec, "logit", fixed).detach().numpy()
    with h5py.File(out) as f:
        got = f["attr"][...].reshape(len(x), -1).sum(1)
    R.close("sum of deeplift attributions", got, fx - fb)


CHECKS = {
    "dlsum": check_dl_sum,
    "cam": lambda d, out, kind, layer, net, spec: check_cam(d, out, kind, layer, net, spec),
    "ablgraph": check_ablation_graph,
    "smooth": check_smooth,
    "deeplift": check_deeplift,
    "lrp": check_lrp,
    "gshap": check_gshap,
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
    R.torch, R.F = torch, F
    orig = R.forward

    def forward(w, x, rule="standard"):   # saliency_ref's helpers on net3 too
        if w["_net"].startswith("net3"):
            rr = R.relu_rule(rule)
            return forward3(w, x, relu=lambda n, v: rr(v))
        return orig(w, x, rule)
    R.forward = forward
    R.run_checks(sys.argv[3], CHECKS, d)


if __name__ == "__main__":
    main()

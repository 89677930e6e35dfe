"""Independent PyTorch (float64) reference for tests/ref/ascend_lucid.sh:
cnn-ascend's feature-visualisation path. The Fourier parameterisation is
torch.fft.irfftn (norm="ortho") of the 1/f-scaled spectrum / 4, colours
decorrelated by Lucid's matrix and squashed by a sigmoid (Lucent's
param/spatial.py and param/color.py); the transformations are F.pad,
slicing and F.grid_sample(F.affine_grid(theta), align_corners=False); the
gradient is autograd's. Each subcommand exits non-zero with a reason on
failure."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import ascend_ref as R  # noqa: E402  (the small model and its layers)

torch.set_default_dtype(torch.float64)
SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
LUCID_M = SVD_SQRT / np.max(np.linalg.norm(SVD_SQRT, axis=0))


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def write_model(path, H, W, C=3):
    """The model of ascend_ref.py on a C x H x W input (fc sized to fit;
    C = 1 only for runs without a PyTorch check)."""
    R.write_model(path)
    h2, w2 = H // 2, W // 2
    rs = np.random.RandomState(8)
    with h5py.File(path, "a") as f:
        f.attrs["input_shape"] = np.array([3, H, W], np.int64)
        del f["nodes/0006/weight"]
        f["nodes/0006/weight"] = (rs.randn(5, 6 * h2 * w2) * 0.2).astype(np.float32)
        if C == 1:
            f.attrs["input_shape"] = np.array([1, H, W], np.int64)
            f.attrs["mean"], f.attrs["std"] = np.array([0.5]), np.array([0.3])
            del f["nodes/0000/weight"]
            f["nodes/0000/weight"] = (rs.randn(4, 1, 3, 3) * 0.5).astype(np.float32)


def image_fn(H, W, fft, decor, M):
    """params -> image, Lucent's way."""
    if fft:
        fy = np.fft.fftfreq(H)[:, None]
        fx = np.fft.fftfreq(W)[: W // 2 + 1]
        fr = np.sqrt(fx * fx + fy * fy)
        scale = torch.tensor(1.0 / np.maximum(fr, 1.0 / max(W, H)))[None, :, :, None]

    def f(p):
        if fft:
            b = torch.fft.irfftn(torch.view_as_complex(scale * p), s=(H, W), norm="ortho") / 4
        else:
            b = p
        if decor:
            b = torch.einsum("ij,jhw->ihw", torch.tensor(M), b)
        return torch.sigmoid(b)[None]
    return f


def term(w, x, t):
    a = R.layers(w, x)
    if t.startswith("direction="):
        layer, fn = t[10:].rsplit(":", 1)
        v = torch.tensor(np.loadtxt(fn, delimiter=",").ravel())
        return (a[layer][0] * v[:, None, None]).sum(0).mean()
    # class=K: the Lucid recipe's default measure, z_k - 0.5 logsumexp of
    # the others (--measure logodds:0.5); logodds=K (A = 1), logit=K.
    for name, A in (("class=", 0.5), ("logodds=", 1.0), ("logit=", 0.0)):
        if t.startswith(name):
            z, k = a["fc"][0], int(t[len(name):])
            return z[k] - A * torch.logsumexp(torch.cat([z[:k], z[k + 1:]]), 0)
    if t.startswith("prob="):   # ... --measure prob
        return torch.softmax(a["fc"][0], 0)[int(t[5:])]
    if t.startswith("unit=") and t.endswith(":mean"):
        layer, c, _ = t[5:].split(":")
        return a[layer][0, int(c)].mean()
    return R.objective(w, x, t)


def objective(w, x, target):
    """A sum of weighted terms "T1 + T2 - 0.5*T3", each computed alone."""
    toks = target.replace(" - ", " + -").split(" + ")
    total = 0
    for t in toks:
        sign = -1 if t.startswith("-") else 1
        t = t.lstrip("- ")
        wt = 1.0
        if "*" in t:
            wt, t = t.split("*", 1)
        total = total + sign * float(wt) * term(w, x, t)
    return total


def param_run(model, out, target, fft, decor, optim, lr):
    """From zero parameters, `steps` plain or Adam steps: every snapshot
    = PyTorch's image at that step."""
    fft, decor, lr = int(fft), int(decor), float(lr)
    w = R.load(model)
    f = h5py.File(out, "r")
    got, steps = f["images"][()], f["step"][()]
    H, W = got.shape[2:]
    M = f.attrs["colour"].reshape(3, 3) if decor else None
    if decor and not np.allclose(M, LUCID_M, atol=1e-12):
        fail("colour matrix %s != Lucid's normalised %s" % (M, LUCID_M))
    img = image_fn(H, W, fft, decor, M)
    p = torch.zeros((3, H, W // 2 + 1, 2) if fft else (3, H, W), requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr) if optim == "adam" else torch.optim.SGD([p], lr=lr)
    worst = 0
    for s in range(int(steps[-1]) + 1):
        x = img(p)
        err = np.abs(x.detach().numpy()[0] - got[s]).max()
        worst = max(worst, err)
        tol = 1e-4 * (1 + s) if optim == "adam" else 1e-5
        if err > tol:
            fail("step %d: image differs from PyTorch's by %.3g (> %.1g)" % (s, err, tol))
        if s == steps[-1]:
            break
        opt.zero_grad()
        (-objective(w, x, target)).backward()
        opt.step()
    print("worst %.3g" % worst)


def chain(x, d, P, J1, J2):
    """The transformation chain with draws d = (oy1, ox1, s, deg, oy2, ox2)."""
    H, W = x.shape[2:]
    oy1, ox1, s, deg, oy2, ox2 = (float(v) for v in d)
    oy1, ox1, oy2, ox2 = int(oy1), int(ox1), int(oy2), int(ox2)
    y = F.pad(x, (P, P, P, P), value=0.5)
    y = y[:, :, oy1:oy1 + H + 2 * P - J1, ox1:ox1 + W + 2 * P - J1]
    a = np.deg2rad(deg)
    th = torch.tensor([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0]])[None] / s
    g = F.affine_grid(th, (1, 3, H + J2, W + J2), align_corners=False)
    y = F.grid_sample(y, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    return y[:, :, oy2:oy2 + H, ox2:ox2 + W]


def transform_run(model, out, target, lr):
    """Pixels, plain steps, the chain each step: the objective at each
    step = PyTorch's on the transformed image (forward) and the next image
    = clamp(x + lr d/dx objective(chain(x))) (backward)."""
    lr = float(lr)
    w = R.load(model)
    f = h5py.File(out, "r")
    got, vals, draws = f["images"][()], f["values"][()], f["draws"][()]
    P, J1, J2, _ = (int(v) for v in f.attrs["tf_pad_jitter_rotate"])
    for s in range(len(draws)):
        x = torch.tensor(got[s][None].astype(np.float64), requires_grad=True)
        v = objective(w, chain(x, draws[s], P, J1, J2), target)
        if abs(v.item() - vals[s]) > 1e-4 * (1 + abs(v.item())):
            fail("step %d: objective %.6g != PyTorch's %.6g (draws %s)" % (s, vals[s], v.item(),
                                                                        draws[s]))
        g, = torch.autograd.grad(v, x)
        nxt = (x + lr * g).clamp(0, 1).detach().numpy()[0]
        err = np.abs(nxt - got[s + 1]).max()
        if err > 1e-4:
            fail("step %d: next image differs from PyTorch's by %.3g (draws %s)" % (s, err, draws[s]))
    if (J1 or J2 or f.attrs["tf_pad_jitter_rotate"][3]) and len({tuple(d) for d in draws}) < 2:
        fail("the draws never changed: %s" % draws)


def invert_run(model, out, photo, lr):
    """Representation inversion, plain pixels and plain steps: for every
    row (layer L, step s) the value -|phi_L(T x) - phi_L(T p)|^2 /
    |phi_L(T p)|^2 = /values[run, s] and the next row = clamp(x + lr
    grad), T the step's draw (when the file has /draws, one layer)."""
    lr = float(lr)
    w = R.load(model)
    f = h5py.File(out, "r")
    got, steps, vals = f["images"][()], f["step"][()], f["values"][()]
    lay = [v.decode() if isinstance(v, bytes) else v for v in f["layers"][()]]
    order = list(dict.fromkeys(lay))
    draws = f["draws"][()] if "draws" in f else None
    if draws is not None:
        P, J1, J2, _ = (int(v) for v in f.attrs["tf_pad_jitter_rotate"])
    p = torch.tensor(h5py.File(photo, "r")["images"][0:1].astype(np.float64))
    if vals.shape != (len(order), steps.max() + 1):
        fail("/values is %s, want %d layers x %d" % (vals.shape, len(order), steps.max() + 1))
    n = 0
    for i in range(len(got) - 1):
        if lay[i + 1] != lay[i]:
            continue
        L, s = lay[i], steps[i]
        x = torch.tensor(got[i][None].astype(np.float64), requires_grad=True)
        tx, tp = x, p
        if draws is not None:
            tx, tp = chain(x, draws[s], P, J1, J2), chain(p, draws[s], P, J1, J2)
        a, r = R.layers(w, tx)[L], R.layers(w, tp)[L]
        v = -((a - r) ** 2).sum() / (r ** 2).sum()
        want = vals[order.index(L), s]
        if abs(v.item() - want) > 1e-4 * (1 + abs(v.item())):
            fail("%s step %d: value %.6g != PyTorch's %.6g" % (L, s, want, v.item()))
        g, = torch.autograd.grad(v, x)
        nxt = (x + lr * g).clamp(0, 1).detach().numpy()[0]
        err = np.abs(nxt - got[i + 1]).max()
        if err > 1e-4:
            fail("%s step %d: next image differs from PyTorch's by %.3g" % (L, s, err))
        n += 1
    if n < len(order):
        fail("only %d steps checked" % n)
    print("%d steps checked over layers %s" % (n, order))


def colour(images, out):
    x = h5py.File(images, "r")["images"][()].astype(np.float64)
    px = x.transpose(1, 0, 2, 3).reshape(3, -1)
    lam, U = np.linalg.eigh(np.cov(px, bias=True))
    o = np.argsort(lam)[::-1]
    M = U[:, o] * np.sqrt(np.maximum(lam[o], 0))
    M *= np.where(M.sum(0) < 0, -1, 1)
    M /= np.max(np.linalg.norm(M, axis=0))
    got = h5py.File(out, "r").attrs["colour"].reshape(3, 3)
    if not np.allclose(got, M, atol=1e-5):
        fail("colour matrix\n%s\n!= numpy's\n%s" % (got, M))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "model":
        write_model(*args[:1], *(int(a) for a in args[1:]))
    elif cmd == "param":
        param_run(*args)
    elif cmd == "transform":
        transform_run(*args)
    elif cmd == "invert":
        invert_run(*args)
    elif cmd == "colour":
        colour(*args)
    else:
        fail("unknown command " + cmd)

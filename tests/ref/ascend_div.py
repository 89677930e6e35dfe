"""Independent PyTorch (float64) reference for tests/ref/ascend_div.sh:
cnn-ascend --count K --diversity W. The penalty is Lucent's
objectives.diversity written out again (Gram matrices of the layer's maps
flattened over positions, F.normalize over each whole matrix, summed
products over pairs i != j, / K; Lucent returns its negative as a loss),
and the run's objective is sum_k objective(x_k) - W * penalty. Each
subcommand exits non-zero with a reason on failure."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import ascend_ref as R  # noqa: E402
import ascend_lucid as L  # noqa: E402

torch.set_default_dtype(torch.float64)


def penalty(a):
    """sum_{i != j} <g_i, g_j> / K, g the normalised Gram matrices."""
    K, C = a.shape[:2]
    fl = a.reshape(K, C, -1)
    g = F.normalize(torch.matmul(fl, fl.transpose(1, 2)), p=2, dim=(1, 2))
    return sum(sum((g[i] * g[j]).sum() for j in range(K) if j != i) for i in range(K)) / K


def total(w, x, target, W, layer):
    v = sum(L.objective(w, x[k:k + 1], target) for k in range(x.shape[0]))
    return v - W * penalty(R.layers(w, x)[layer])


def run(model, out, target, W, layer, lr):
    """Plain pixel steps: each step's value = PyTorch's total objective
    and the next K images = clamp(x + lr d total / dx)."""
    W, lr = float(W), float(lr)
    w = R.load(model)
    f = h5py.File(out, "r")
    got, step, vals = f["images"][()], f["step"][()], f["values"][()]
    K = int(f.attrs["count"])
    if f.attrs["diversity_layer"] != layer or float(f.attrs["diversity"]) != W:
        fail("attributes: %s" % dict(f.attrs))
    if len(got) != K * (step[-1] + 1) or any(step[i] != i // K for i in range(len(step))):
        fail("rows: %d images, steps %s (K=%d)" % (len(got), step, K))
    for s in range(int(step[-1]) + 1):
        x = torch.tensor(got[s * K:(s + 1) * K].astype(np.float64), requires_grad=True)
        v = total(w, x, target, W, layer)
        if abs(v.item() - vals[s]) > 1e-4 * (1 + abs(v.item())):
            fail("step %d: objective %.8g != PyTorch's %.8g" % (s, vals[s], v.item()))
        if s == step[-1]:
            break
        g, = torch.autograd.grad(v, x)
        nxt = (x + lr * g).clamp(0, 1).detach().numpy()
        err = np.abs(nxt - got[(s + 1) * K:(s + 2) * K]).max()
        if err > 1e-5:
            fail("step %d: next images differ from PyTorch's by %.3g" % (s, err))
        # the diversity part alone must move the images (a real gradient)
        gd, = torch.autograd.grad(penalty(R.layers(w, x)[layer]), x)
        if gd.abs().max() * lr * W < 1e-4:
            fail("step %d: the diversity gradient is too small to be tested" % s)
    print("ok: %d steps, K=%d" % (step[-1], K))


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(*sys.argv[2:])
    else:
        fail("unknown command " + sys.argv[1])

#!/usr/bin/python3
"""Feature-visualisation quality benchmark, the PyTorch side
(tests/bench/fv.sh).

  fv_torch.py classes TD_DIR MB_DIR NAMES OUT.txt   each name's index in Tiny Darknet and MobileNet
  fv_torch.py synth TD_DIR IDX OUT.h5 STEPS SEED    Lucent-style synthesis of classes IDX (a,b,..)
  fv_torch.py check TD_DIR IMAGES.h5 FORWARD.h5     the torch port's logits = cnn-forward's
  fv_torch.py transform IN.h5 OUT.h5 N SEED         N random transforms of each row
  fv_torch.py score TD.h5 MB.h5 CLASSES.txt N LABEL robust probability and MobileNet top 5
  fv_torch.py speed RESNET_STEPS                    one Lucent step on resnet50 at 224 (the
                                                    transforms as cnn-ascend's, at_size): mean
                                                    wall and CPU seconds (all threads) of the
                                                    steps after the first

The synthesis is Lucent's render_vis with its defaults, written here from
its description (Olah et al. 2017; Lucent's param/spatial.py, color.py,
transform.py): a 1/f-scaled Fourier image (sd 0.01, irfft2 "ortho", / 4),
Lucid's ImageNet colour decorrelation, sigmoid; each step pad 12 (0.5),
jitter 8, scale 1 + (i - 5)/50, rotate -10..10 degrees (and 0 five times
more), jitter 4; Adam lr 0.05 on the class logit. Tiny Darknet is
rebuilt in PyTorch from the TF.js files' weights (tests/ref/tfjs_ref.py's
reader): conv (same padding) + batch norm (eps 1e-3) + leaky ReLU 0.1,
2x2 max-pools, 1x1 conv with bias, global average pooling.
"""
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/tests/ref")
import tfjs_ref  # noqa: E402

torch.set_num_threads(int(os.environ.get("FV_TORCH_THREADS", "2")))
SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
LUCID_M = torch.tensor(SVD_SQRT / np.max(np.linalg.norm(SVD_SQRT, axis=0)), dtype=torch.float32)


def tiny_darknet(d):
    cfg, W = tfjs_ref.load_tfjs(d)
    ops = []
    for layer in cfg["config"]["layers"]:
        k, c, n = layer["class_name"], layer["config"], layer["config"]["name"]
        t = lambda a: torch.tensor(a, dtype=torch.float32)
        if k == "Conv2D":
            w = t(W[n + "/kernel"]).permute(3, 2, 0, 1).contiguous()
            b = t(W[n + "/bias"]) if c.get("use_bias") else None
            ops.append(("conv", w, b, w.shape[-1] // 2))
        elif k == "BatchNormalization":
            g, be = W[n + "/gamma"], W[n + "/beta"]
            mu, var = W[n + "/moving_mean"], W[n + "/moving_variance"]
            s = g / np.sqrt(var + c["epsilon"])
            ops.append(("affine", t(s)[None, :, None, None], t(be - mu * s)[None, :, None, None]))
        elif k == "LeakyReLU":
            ops.append(("leaky", c["alpha"]))
        elif k == "MaxPooling2D":
            ops.append(("pool",))
        elif k == "GlobalAveragePooling2D":
            ops.append(("gap",))

    def f(x):
        for o in ops:
            if o[0] == "conv":
                x = F.conv2d(x, o[1], o[2], padding=o[3])
            elif o[0] == "affine":
                x = x * o[1] + o[2]
            elif o[0] == "leaky":
                x = F.leaky_relu(x, o[1])
            elif o[0] == "pool":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = x.mean((2, 3))
        return x
    return f


def fft_image(h, w, batch, sd, gen):
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 1]
    scale = torch.tensor(1.0 / np.maximum(np.sqrt(fx * fx + fy * fy), 1.0 / max(w, h)),
                         dtype=torch.float32)[None, None, :, :, None]
    p = (torch.randn((batch, 3, h, w // 2 + 1, 2), generator=gen) * sd).requires_grad_(True)

    def image():
        b = torch.fft.irfftn(torch.view_as_complex(scale * p), s=(h, w), norm="ortho") / 4
        b = torch.einsum("ij,njhw->nihw", LUCID_M, b)
        return torch.sigmoid(b)
    return p, image


def rotate(x, deg):
    a = np.deg2rad(deg)
    th = torch.tensor([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0]],
                      dtype=x.dtype)[None].repeat(x.shape[0], 1, 1)
    g = F.affine_grid(th, x.shape, align_corners=False)
    return F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False)


def standard(x, rs):
    x = F.pad(x, (12, 12, 12, 12), value=0.5)
    for d, step in ((8, "jitter"), (None, "scale"), (None, "rotate"), (4, "jitter")):
        h, w = x.shape[2:]
        if step == "jitter":
            dy, dx = rs.randint(d), rs.randint(d)
            x = x[:, :, dy:dy + h - d, dx:dx + w - d]
        elif step == "scale":
            s = rs.choice([1 + (i - 5) / 50.0 for i in range(11)])
            x = F.interpolate(x, size=(int(s * h), int(s * w)), mode="bilinear", align_corners=True)
        else:
            x = rotate(x, rs.choice(list(range(-10, 11)) + 5 * [0]))
    return x


def cmd_synth(td, idx, out, steps, seed):
    model = tiny_darknet(td)
    idx = [int(i) for i in idx.split(",")]
    gen = torch.Generator().manual_seed(int(seed))
    rs = np.random.RandomState(int(seed))
    imgs, secs = [], 0.0
    for k in idx:
        p, image = fft_image(224, 224, 1, 0.01, gen)
        opt = torch.optim.Adam([p], lr=0.05)
        t0 = time.time()
        for _ in range(int(steps)):
            opt.zero_grad()
            loss = -model(standard(image(), rs))[:, k].mean()
            loss.backward()
            opt.step()
        secs += time.time() - t0
        imgs.append(image().detach().numpy()[0])
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = np.array(imgs, np.float32)
        f["ids"] = np.arange(len(imgs), dtype=np.int64)
        f["labels"] = np.array(idx, np.int32)
    print("%.3f" % (secs / len(idx) / int(steps)))


def cmd_check(td, images, fwd):
    x = torch.tensor(h5py.File(images, "r")["images"][()])
    want = tiny_darknet(td)(x).detach().numpy()
    got = h5py.File(fwd, "r")["logits"][()]
    err = np.abs(got - want).max() / np.abs(want).max()
    if err > 1e-3:
        sys.exit("fv: the PyTorch Tiny Darknet differs from cnn-forward's by %.3g" % err)


def cmd_transform(inp, out, n, seed):
    """Each row n times: scale U(0.8, 1.2), rotation U(-15, 15) degrees,
    shift U(-16, 16) px on each axis; bilinear, borders repeated."""
    x = torch.tensor(h5py.File(inp, "r")["images"][()].astype(np.float64))
    rs = np.random.RandomState(int(seed))
    N, _, H, W = x.shape
    rows = []
    for i in range(N):
        for _ in range(int(n)):
            s, a = rs.uniform(0.8, 1.2), np.deg2rad(rs.uniform(-15, 15))
            ty, tx = rs.uniform(-16, 16, 2)
            th = torch.tensor([[np.cos(a) / s, -np.sin(a) / s, -2 * tx / W],
                               [np.sin(a) / s, np.cos(a) / s, -2 * ty / H]])[None]
            g = F.affine_grid(th, (1, 3, H, W), align_corners=False)
            rows.append(F.grid_sample(x[i:i + 1], g, mode="bilinear", padding_mode="border",
                                      align_corners=False)[0].numpy())
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = np.array(rows, np.float32)
        f["ids"] = np.arange(len(rows), dtype=np.int64)


def cmd_classes(td, mb, names, out):
    def first(path):
        return [ln.strip().split(",")[0].strip() for ln in open(path)]
    a, b = first(td + "/labels.txt"), first(mb + "/labels.txt")
    with open(out, "w") as f:
        for nm in names.split(","):
            f.write("%s %d %d\n" % (nm, a.index(nm), b.index(nm)))


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def cmd_score(td, mb, classes, n, label):
    cl = [ln.split() for ln in open(classes)]
    n = int(n)
    p = softmax(h5py.File(td, "r")["logits"][()].astype(np.float64))
    top5 = h5py.File(mb, "r")["topk_idx"][()][:, :5] if mb != "-" else None
    rob, hits = [], 0
    for i, (nm, a, b) in enumerate(cl):
        r = p[i * n:(i + 1) * n, int(a)].mean()
        rob.append(r)
        hit = top5 is not None and int(b) in top5[i]
        hits += hit
        print("  %-10s %-9s robust p %.3f   MobileNet top 5: %s" % (label, nm, r, "yes" if hit else "no"))
    print("%-10s robust probability %.3f (mean of %d classes), transfer %d/%d" %
          (label, np.mean(rob), len(cl), hits, len(cl)))


def at_size(x, rs, size):
    """cnn-ascend's form of the standard transforms (methods/fvtransform.h):
    pad 12, jitter 8, then scale and rotation in one bilinear resampling
    whose output is size + 4 each way, then jitter 4: the model sees size x
    size every step. Lucent's chain (standard) hands it 212 to 260 pixels a
    side as the scale draw goes, 11% more pixels than 224^2 on average."""
    x = F.pad(x, (12, 12, 12, 12), value=0.5)
    h, w = x.shape[2:]
    dy, dx = rs.randint(9), rs.randint(9)
    x = x[:, :, dy:dy + h - 8, dx:dx + w - 8]
    s = rs.choice([1 + (i - 5) / 50.0 for i in range(11)])
    a = np.deg2rad(rs.randint(-10, 11))
    th = torch.tensor([[np.cos(a) / s, -np.sin(a) / s, 0], [np.sin(a) / s, np.cos(a) / s, 0]],
                      dtype=x.dtype)[None]
    g = F.affine_grid(th, (1, x.shape[1], size + 4, size + 4), align_corners=False)
    x = F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    dy, dx = rs.randint(5), rs.randint(5)
    return x[:, :, dy:dy + size, dx:dx + size]


def cmd_speed(steps):
    import torchvision
    model = torchvision.models.resnet50().eval()
    for q in model.parameters():
        q.requires_grad_(False)
    gen = torch.Generator().manual_seed(0)
    rs = np.random.RandomState(0)
    p, image = fft_image(224, 224, 1, 0.01, gen)
    opt = torch.optim.Adam([p], lr=0.05)
    times, cpu = [], []
    for _ in range(int(steps) + 1):
        t0, c0 = time.time(), time.process_time()
        opt.zero_grad()
        (-model(at_size(image(), rs, 224))[:, 1].mean()).backward()
        opt.step()
        times.append(time.time() - t0)
        cpu.append(time.process_time() - c0)
    print("%.4f %.4f" % (np.mean(times[1:]), np.mean(cpu[1:])))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    globals()["cmd_" + cmd](*args)

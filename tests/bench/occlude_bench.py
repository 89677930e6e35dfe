"""Occlusion benchmark fixtures and the PyTorch brute-force loop (what
Captum's Occlusion does: every occluded copy through the whole network, in
batches).

  occlude_bench.py mnist MODEL IMAGES N     Keras MNIST CNN, random weights
  occlude_bench.py vgg MODEL IMAGES N [SIZE] VGG-16 shape at 224x224 (or SIZE), random weights
  occlude_bench.py torch MODEL IMAGES WINDOW STRIDE THREADS [BATCH]
                                            time the PyTorch loop (gray fill)
"""
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn

torch.set_grad_enabled(False)


def write(path, inshape, layers, nclasses, seed):
    r = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array(inshape, np.int64)
        f.create_dataset("classes", data=[str(k) for k in range(nclasses)],
                         dtype=h5py.string_dtype())
        c, h, w = inshape
        for i, (name, op, attrs) in enumerate(layers):
            g = f.create_group("nodes/%04d" % i)
            g.attrs["name"] = name
            g.attrs["op"] = op
            for k, v in attrs.items():
                if k != "out":
                    g.attrs[k] = np.atleast_1d(np.array(v, np.float64))
            if op == "Conv":
                k, p = attrs["kernel"], attrs.get("pad", 0)
                o = attrs["out"]
                g["weight"] = (r.standard_normal((o, c, k, k)) * np.sqrt(2 / (c * k * k))).astype(np.float32)
                g["bias"] = np.zeros(o, np.float32)
                c, h, w = o, h + 2 * p - k + 1, w + 2 * p - k + 1
            elif op == "MaxPool":
                h, w = h // 2, w // 2
            elif op == "Flatten":
                c, h, w = c * h * w, 1, 1
            elif op == "Dense":
                o = attrs["out"]
                g["weight"] = (r.standard_normal((o, c)) * np.sqrt(2 / c)).astype(np.float32)
                g["bias"] = np.zeros(o, np.float32)
                c = o


def mnist_layers():
    return [("conv1", "Conv", {"kernel": 3, "out": 32}), ("relu1", "ReLU", {}),
            ("conv2", "Conv", {"kernel": 3, "out": 64}), ("relu2", "ReLU", {}),
            ("pool1", "MaxPool", {"kernel": 2}), ("flatten", "Flatten", {}),
            ("fc1", "Dense", {"out": 128}), ("relu3", "ReLU", {}), ("fc2", "Dense", {"out": 10})]


def vgg_layers():
    L, i = [], 0
    for block, (n, ch) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]):
        for j in range(n):
            L += [("conv%d_%d" % (block + 1, j + 1), "Conv", {"kernel": 3, "pad": 1, "out": ch}),
                  ("relu%d_%d" % (block + 1, j + 1), "ReLU", {})]
        L.append(("pool%d" % (block + 1), "MaxPool", {"kernel": 2}))
    L += [("flatten", "Flatten", {}), ("fc6", "Dense", {"out": 4096}), ("relu6", "ReLU", {}),
          ("fc7", "Dense", {"out": 4096}), ("relu7", "ReLU", {}), ("fc8", "Dense", {"out": 1000})]
    return L


def images(path, shape, n, seed=5):
    x = np.random.default_rng(seed).random((n,) + tuple(shape)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = x
        f["labels"] = np.zeros(n, np.int32)


def torch_net(path):
    mods = []
    with h5py.File(path) as f:
        for key in sorted(f["nodes"].keys(), key=int):
            g = f["nodes"][key]
            op = g.attrs["op"]
            op = op.decode() if isinstance(op, bytes) else op
            if op == "Conv":
                W = torch.tensor(g["weight"][()])
                m = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2], padding=int(g.attrs.get("pad", [0])[0]))
                m.weight.data, m.bias.data = W, torch.tensor(g["bias"][()])
            elif op == "Dense":
                W = torch.tensor(g["weight"][()])
                m = nn.Linear(W.shape[1], W.shape[0])
                m.weight.data, m.bias.data = W, torch.tensor(g["bias"][()])
            elif op == "ReLU":
                m = nn.ReLU()
            elif op == "MaxPool":
                m = nn.MaxPool2d(2)
            elif op == "Flatten":
                m = nn.Flatten()
            mods.append(m)
    return nn.Sequential(*mods).eval()


def bench_torch(model, imgs, window, stride, threads, batch=256):
    torch.set_num_threads(int(threads))
    net = torch_net(model)
    with h5py.File(imgs) as f:
        x = torch.tensor(f["images"][()])
    w, s, batch = int(window), int(stride), int(batch)
    H, W = x.shape[2], x.shape[3]
    ys = range(0, (H - w + s - 1) // s * s + 1, s)
    xs = range(0, (W - w + s - 1) // s * s + 1, s)
    t0 = time.time()
    for img in x:
        copies = []
        for y0 in ys:
            for x0 in xs:
                o = img.clone()
                o[:, y0:y0 + w, x0:x0 + w] = 0.5
                copies.append(o)
        copies = torch.stack(copies)
        with torch.no_grad():   # as Captum's Occlusion runs its forwards
            for b in range(0, len(copies), batch):
                net(copies[b:b + batch])
    dt = time.time() - t0
    print("pytorch brute force, %d threads: %d maps of %dx%d in %.2f s (%.1f ms per map)"
          % (int(threads), len(x), len(ys), len(xs), dt, 1000 * dt / len(x)))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "mnist":
        write(a[0], [1, 28, 28], mnist_layers(), 10, 1)
        images(a[1], [1, 28, 28], int(a[2]))
    elif cmd == "vgg":
        size = int(a[3]) if len(a) > 3 else 224
        write(a[0], [3, size, size], vgg_layers(), 1000, 2)
        images(a[1], [3, size, size], int(a[2]))
    elif cmd == "torch":
        bench_torch(*a)
    else:
        sys.exit("unknown command " + cmd)

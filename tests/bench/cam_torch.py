"""make bench (cam): the computations tests/bench/cam.sh times with
cnn-saliency and cnn-evaluate, written in PyTorch on the same torchvision
network (torch.manual_seed(1) before building it, as zoo_export.py does for
the ONNX file cnntools imports), the same image and the same batch:

  cam_torch.py scorecam  IMAGES LAYER THREADS BATCH  Score-CAM at LAYER
  cam_torch.py ablationcam IMAGES LAYER THREADS BATCH
                                   Ablation-CAM: the net once up to LAYER,
                                   then the rest of it on the ablated copies
                                   (cnntools' algorithm; pytorch-grad-cam's
                                   AblationCAM runs every copy from the input)
  cam_torch.py deletion|insertion IMAGES MAPS THREADS BATCH STEPS
                                   Petsiuk et al.'s curves, blur sigma 5

Prints "seconds<TAB>S" and "cpu<TAB>S" (wall and CPU seconds of the
computation alone, after the network is built and the image read) and "check<TAB>V" (the sum of the CAM or the AUC, to
see that both sides computed the same thing). The class is the predicted
one; LAYER is a torchvision module name (layer4, layer3, ...).
"""
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

torch.set_grad_enabled(False)


def net(threads):
    torch.set_num_threads(int(threads))
    torch.manual_seed(1)
    return torchvision.models.resnet50(weights=None).eval()


def image(path):
    with h5py.File(path) as f:
        return torch.tensor(np.array(f["images"][0:1]), dtype=torch.float32)


def split(m, layer):
    """(the net up to and with LAYER, the rest of it) for a torchvision ResNet."""
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    k = names.index(layer) + 1
    head = torch.nn.Sequential(*[getattr(m, n) for n in names[:k]])
    rest = [getattr(m, n) for n in names[k:]]
    tail = lambda a: m.fc(torch.flatten(m.avgpool(torch.nn.Sequential(*rest)(a)), 1))
    return head, tail


def scorecam(m, x, layer, batch):
    head, tail = split(m, layer)
    A = head(x)
    cls = int(tail(A).argmax(1))
    K = A.shape[1]
    up = F.interpolate(A, size=x.shape[2:], mode="bilinear", align_corners=True)[0]
    lo = up.reshape(K, -1).min(1).values.view(K, 1, 1)
    hi = up.reshape(K, -1).max(1).values.view(K, 1, 1)
    masks = (up - lo) / (hi - lo + 1e-8)
    y = torch.empty(K)
    for c0 in range(0, K, batch):
        mk = masks[c0:c0 + batch, None]
        y[c0:c0 + batch] = m(x * mk)[:, cls]
    w = torch.softmax(y, 0)
    return torch.relu((w[:, None, None] * A[0]).sum(0))


def ablationcam(m, x, layer, batch):
    head, tail = split(m, layer)
    A = head(x)
    z = tail(A)
    cls = int(z.argmax(1))
    y0 = float(z[0, cls])
    K = A.shape[1]
    y = torch.empty(K)
    for c0 in range(0, K, batch):
        r = min(batch, K - c0)
        ab = A.repeat(r, 1, 1, 1)
        ab[torch.arange(r), c0 + torch.arange(r)] = 0
        y[c0:c0 + r] = tail(ab)[:, cls]
    w = (y0 - y) / y0
    return torch.relu((w[:, None, None] * A[0]).sum(0))


def blur(img, sigma):
    r = int(math.ceil(3 * sigma))
    k = torch.exp(-0.5 * torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / sigma ** 2)
    k = k / k.sum()
    c = img.shape[1]
    p = F.pad(img, (r, r, 0, 0), mode="replicate")
    p = F.conv2d(p, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    p = F.pad(p, (0, 0, r, r), mode="replicate")
    return F.conv2d(p, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def curve(m, x, mp, metric, batch, steps):
    _, c, h, w = x.shape
    hw = h * w
    cls = int(m(x).argmax(1))
    order = torch.tensor(np.lexsort((np.arange(hw), -mp.reshape(-1).astype(np.float64))))
    if metric == "insertion":
        start, end = blur(x, 5.0)[0].reshape(c, hw), x[0].reshape(c, hw)
    else:
        start, end = x[0].reshape(c, hw), torch.zeros(c, hw)
    p = torch.empty(steps + 1)
    for k0 in range(0, steps + 1, batch):
        ks = range(k0, min(k0 + batch, steps + 1))
        xb = start.repeat(len(ks), 1, 1)
        for j, k in enumerate(ks):
            idx = order[:k * hw // steps]
            xb[j][:, idx] = end[:, idx]
        p[k0:k0 + len(ks)] = torch.softmax(m(xb.reshape(-1, c, h, w)), 1)[:, cls]
    return float(((p[1:] + p[:-1]) / 2).sum() / steps)


def main():
    what, imgs = sys.argv[1], sys.argv[2]
    if what in ("scorecam", "ablationcam"):
        layer, threads, batch = sys.argv[3], sys.argv[4], int(sys.argv[5])
        m, x = net(threads), image(imgs)
        t0, c0 = time.perf_counter(), time.process_time()
        cam = (scorecam if what == "scorecam" else ablationcam)(m, x, layer, batch)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        check = float(cam.sum())
    else:
        maps, threads, batch, steps = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
        m, x = net(threads), image(imgs)
        with h5py.File(maps) as f:
            mp = np.array(f["maps"][0])
        t0, c0 = time.perf_counter(), time.process_time()
        check = curve(m, x, mp, what, batch, steps)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print("seconds\t%.3f" % dt)
    print("cpu\t%.3f" % dc)
    print("check\t%.6g" % check)


if __name__ == "__main__":
    main()

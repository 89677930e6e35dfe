"""PyTorch side of `make bench`: the same models, batch sizes and keys as
bench_engine.c, on the same number of threads (argv[2])."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(1)


def rate(net, n, shape):
    x = torch.rand(n, *shape)
    with torch.no_grad():
        net(x)
        reps, t0 = 0, time.perf_counter()
        while True:
            net(x)
            reps += 1
            t = time.perf_counter() - t0
            if t >= secs:
                return reps * n / t


def grad_time(net, shape, n=1, guided=False):
    """Seconds for one forward + input gradient of the first logit of n
    images; guided: ReLUs pass back only positive gradients (hooks)."""
    hooks = []
    for q in net.parameters():   # the input's gradient alone (zoo_torch.py)
        q.requires_grad_(False)
    if guided:
        for mod in net.modules():
            if isinstance(mod, nn.ReLU):
                hooks.append(mod.register_full_backward_hook(
                    lambda m, gi, go: (gi[0].clamp(min=0),)))
    x = torch.rand(n, *shape, requires_grad=True)
    net(x)[:, 0].sum().backward()
    reps, t0 = 0, time.perf_counter()
    while True:
        x.grad = None
        net(x)[:, 0].sum().backward()
        reps += 1
        t = time.perf_counter() - t0
        if t >= secs:
            break
    for h in hooks:
        h.remove()
    return t / reps


def mnist_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Linear(128, 10)).eval()


def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000)).eval()


VGG = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]


def vgg16():
    layers, c = [], 3
    for v in VGG:
        if v:
            layers += [nn.Conv2d(c, v, 3, 1, 1), nn.ReLU()]
            c = v
        else:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Linear(4096, 4096),
               nn.ReLU(), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers).eval()


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def resnet18():
    layers, c = [nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(),
                 nn.MaxPool2d(3, 2, 1)], 64
    for i, w in enumerate([64, 128, 256, 512]):
        for k in range(2):
            layers.append(Block(c, w, 2 if i > 0 and k == 0 else 1))
            c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers).eval()


# Optional third argument: only the groups named in it, as bench_engine's
# second ("mnist,alexnet,resnet,vgg,layers").
only = sys.argv[3] if len(sys.argv) > 3 else None


def want(g):
    return only is None or g in only


if want("mnist"):
    m = mnist_cnn()
    print("mnist_cnn_b1_img_per_s\t%.0f" % rate(m, 1, (1, 28, 28)))
    print("mnist_cnn_b64_img_per_s\t%.0f" % rate(m, 64, (1, 28, 28)))
    gm = grad_time(m, (1, 28, 28))
    print("mnist_cnn_input_grad_ms\t%.3f" % (1e3 * gm))
    print("mnist_cnn_ascent_steps_per_s\t%.1f" % (1 / gm))
    print("mnist_cnn_guided_ms\t%.3f" % (1e3 * grad_time(m, (1, 28, 28), guided=True)))
    print("mnist_cnn_smoothgrad50_ms\t%.2f" % (1e3 * grad_time(m, (1, 28, 28), n=50)))
if want("alexnet"):
    print("alexnet_b8_img_per_s\t%.2f" % rate(alexnet(), 8, (3, 224, 224)))
if want("resnet"):
    print("resnet18_b8_img_per_s\t%.2f" % rate(resnet18(), 8, (3, 224, 224)))
if want("vgg"):
    v = vgg16()
    print("vgg16_b4_img_per_s\t%.2f" % rate(v, 4, (3, 224, 224)))
    gv = grad_time(v, (3, 224, 224))
    print("vgg16_input_grad_ms\t%.1f" % (1e3 * gv))
    print("vgg16_ascent_steps_per_s\t%.2f" % (1 / gv))
    print("vgg16_guided_ms\t%.1f" % (1e3 * grad_time(v, (3, 224, 224), guided=True)))
    print("vgg16_smoothgrad50_s\t%.2f" % (5 * grad_time(v, (3, 224, 224), n=10)))
cin, hw, idx = 3, 224, 0
for c in VGG if want("layers") else []:
    if not c:
        hw //= 2
        continue
    idx += 1
    conv = nn.Conv2d(cin, c, 3, 1, 1).eval()
    x = torch.rand(1, cin, hw, hw)
    with torch.no_grad():
        conv(x)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs / 2:
            conv(x)
            reps += 1
        t = time.perf_counter() - t0
    flops = 2.0 * c * hw * hw * cin * 9
    print("vgg16_conv%d_%dx%dx%d_gflops\t%.1f" % (idx, cin, hw, c, flops * reps / t / 1e9))
    cin = c

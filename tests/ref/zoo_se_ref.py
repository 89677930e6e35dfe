"""Reference side of tests/ref/zoo_se.sh (Debian's python3 with torch,
torchvision 0.14, onnx, h5py, numpy): torchvision's squeeze-and-excitation
and mobile families (EfficientNet, MobileNetV3, MnasNet, RegNetX/Y) with
random weights, exported to ONNX, against float64 PyTorch.

  export BASE ARCH:OPSET:SIZE...  for each, into BASE/ARCH-OPSET: the model
                          with random weights made a real test (below),
                          model.onnx at OPSET for SIZE x SIZE images,
                          images.h5 (3 images) and ref.npz: the float64
                          module's logits and, per image, the input gradient
                          of logit K (K = 7)
  logits DIR ACTS         /logits of ACTS (cnn-forward) against the
                          reference, to 1e-4 of the largest |logit|; the
                          logits must depend on the image
  grad DIR MAPS           /attr of MAPS (cnn-saliency -M gradient -t
                          class=7) against the reference input gradient, to
                          1e-4 of its largest |value| (per image)

Random weights need care to make a real test (a random net's signal dies or
explodes with depth under torchvision's default BatchNorm statistics, and
constant-initialised parameters hide whole ops): every BatchNorm weight and
bias and every bias that starts at zero is drawn at random, and the
BatchNorm statistics are those of a pass over sample images (train mode,
cumulative averages), so every BatchNorm normalises what it actually sees
and the logits are O(1) and differ between images.
"""
import copy
import os
import sys

import h5py
import numpy as np

RTOL = 1e-4
CLASS = 7


def smooth_images(torch, n, size, gen):
    """Images with structure at several scales (not white noise): sums of
    upsampled random grids, in [0, 1]."""
    F = torch.nn.functional
    x = torch.zeros(n, 3, size, size)
    for g in (4, 8, 16):
        x += F.interpolate(torch.rand(n, 3, g, g, generator=gen), size=(size, size),
                           mode='bilinear', align_corners=False)
    x += 0.3 * torch.rand(n, 3, size, size, generator=gen)
    x -= x.amin(dim=(1, 2, 3), keepdim=True)
    return x / x.amax(dim=(1, 2, 3), keepdim=True)


def make_real(torch, m, size, gen):
    nn = torch.nn
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.6, 1.4, generator=gen)
                mod.bias.uniform_(-0.3, 0.3, generator=gen)
                mod.reset_running_stats()
                mod.momentum = None           # cumulative average over the pass
            elif isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
                mod.bias.uniform_(-0.1, 0.1, generator=gen)
            if isinstance(mod, nn.PReLU):
                mod.weight.uniform_(0.05, 0.5, generator=gen)
            if isinstance(mod, nn.Linear):
                # classifiers start at N(0, 0.01): logits O(1) instead
                bound = 1.5 / np.sqrt(mod.in_features)
                mod.weight.uniform_(-bound, bound, generator=gen)
        m.train()
        m(smooth_images(torch, 16, size, gen))
    return m.eval()


def mix_module(torch):
    """Every op and pattern the importer reads for these families, in one
    small net: the GELU, HardSwish and SiLU patterns (folded), Elu, PRelu,
    Softplus, HardSigmoid, Mul/Div/Sub/Add of computed tensors (same shape
    and an SE gate), ReduceMean with and without keepdims, ReduceMax,
    Concat of vectors, LogSoftmax."""
    nn, F = torch.nn, torch.nn.functional

    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.se = nn.Conv2d(8, 8, 1)
            self.prelu = nn.PReLU(8)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            h = self.conv1(x)
            a = F.gelu(h) + F.hardswish(h) + F.silu(h)
            b = F.elu(h, 0.7) * F.hardsigmoid(h)
            c = self.prelu(h) / (F.softplus(h) + 1)
            s = torch.sigmoid(self.se(a.mean((2, 3), keepdim=True)))
            y = a * s - b + c
            z = torch.cat([y.amax((2, 3)), y.mean((2, 3))], 1)
            return F.log_softmax(self.fc(z), 1)

    return Mix()


def cmd_export(base, cases):
    import torch
    import torchvision
    import onnx
    torch.set_num_threads(int(os.environ.get('ZOO_THREADS', '2')))
    for case in cases:
        arch, opset, size = case.split(':')
        opset, size = int(opset), int(size)
        d = os.path.join(base, '%s-%d' % (arch, opset))
        os.makedirs(d, exist_ok=True)
        gen = torch.Generator().manual_seed(sum(map(ord, arch)))
        torch.manual_seed(sum(map(ord, arch)))
        m = mix_module(torch) if arch == 'mix' else getattr(torchvision.models, arch)(weights=None)
        m = make_real(torch, m, size, gen)
        x = smooth_images(torch, 3, size, gen)
        torch.onnx.export(m, x[:1], os.path.join(d, 'model.onnx'), opset_version=opset,
                          input_names=['image'], output_names=['logits'])
        ops = sorted({n.op_type for n in onnx.load(os.path.join(d, 'model.onnx')).graph.node})
        m64 = copy.deepcopy(m).double()
        xg = x.double().requires_grad_(True)
        y = m64(xg)
        y[:, CLASS].sum().backward()
        logits = y.detach().numpy()
        spread = np.abs(logits[0] - logits[1]).max() / np.abs(logits).max()
        print('%s opset %d: ONNX ops %s; max |logit| %.3g, image-to-image spread %.2g'
              % (arch, opset, ' '.join(ops), np.abs(logits).max(), spread))
        np.savez(os.path.join(d, 'ref.npz'), logits=logits, grad=xg.grad.numpy())
        with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
            f['images'] = x.numpy().astype(np.float32)
            f['ids'] = np.arange(x.shape[0], dtype=np.int64)
            f.attrs['kind'] = 'images'


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def cmd_logits(d, acts):
    ref = np.load(os.path.join(d, 'ref.npz'))['logits']
    with h5py.File(acts, 'r') as f:
        got = f['logits'][()].astype(np.float64).reshape(ref.shape)
    err = rel_err(got, ref)
    spread = np.abs(ref[0] - ref[1]).max() / np.abs(ref).max()
    print('logits: max |logit| %.3g, error %.2g of it, image-to-image spread %.2g'
          % (np.abs(ref).max(), err, spread))
    if spread < 1e-2:
        print('DEGENERATE: the logits hardly depend on the image', file=sys.stderr)
        return False
    if not err <= RTOL:
        print('MISMATCH logits: %.3g of max |logit| (tolerance %g)' % (err, RTOL), file=sys.stderr)
        return False
    return True


def cmd_grad(d, maps):
    ref = np.load(os.path.join(d, 'ref.npz'))['grad']
    with h5py.File(maps, 'r') as f:
        got = f['attr'][()].astype(np.float64).reshape(ref.shape)
    ok = True
    for i in range(ref.shape[0]):
        err = rel_err(got[i], ref[i])
        print('input gradient, image %d: error %.2g of max |gradient| %.3g'
              % (i, err, np.abs(ref[i]).max()))
        if not err <= RTOL:
            print('MISMATCH input gradient of image %d: %.3g (tolerance %g)' % (i, err, RTOL),
                  file=sys.stderr)
            ok = False
    return ok


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'export':
        cmd_export(a[1], a[2:])
    elif a[0] == 'logits':
        sys.exit(0 if cmd_logits(a[1], a[2]) else 1)
    elif a[0] == 'grad':
        sys.exit(0 if cmd_grad(a[1], a[2]) else 1)
    else:
        raise SystemExit(__doc__)

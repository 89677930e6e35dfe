"""torchvision classification CNNs through cnn-import, against float64 PyTorch.

    zoo_ref.py export ARCH DIR     random weights (BatchNorm statistics from a
                                   pass over random images, constant-initialised
                                   parameters redrawn), ONNX opset 13 at 64x64,
                                   images.h5, float64 reference logits
    zoo_ref.py compare DIR ACTS    /logits of cnn-forward within 1e-4 of
                                   max|logit| of float64 PyTorch
    zoo_ref.py grad DIR OUT        /grad/standard of tests/engine_driver (the
                                   input gradient of sum(seed * logits)) within
                                   1e-4 of max|grad| of float64 PyTorch
    zoo_ref.py bad KIND PATH       an ONNX graph cnn-import must refuse

ARCH: shufflenet_v2_x0_5, convnext_tiny, convnext_tiny_relu (nn.GELU
replaced by ReLU: the ConvNeXt block without GELU, for a tree without it),
opsnet (Resize, InstanceNorm, dilated ceil-mode MaxPool), lrnnet
(nn.LocalResponseNorm's exported pattern, ConvTranspose2d); not torchvision.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torchvision

SIZE = 64
N = 3
RTOL = 1e-4


class OpsNet(torch.nn.Module):
    """The ops torchvision's classifiers do not exercise: Resize (nearest
    x2, bilinear to a size with and without align_corners), InstanceNorm2d,
    dilated and ceil-mode MaxPool."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.InstanceNorm2d(8, affine=True)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True)
        self.pool2 = torch.nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        F = torch.nn.functional
        x = torch.relu(self.conv1(x))
        x = F.interpolate(x, scale_factor=2, mode='nearest')
        x = self.norm(x)
        x = F.interpolate(x, size=(45, 37), mode='bilinear', align_corners=False)
        x = self.conv2(x)
        x = F.interpolate(x, size=(30, 33), mode='bilinear', align_corners=True)
        x = self.pool2(self.pool(torch.relu(x)))
        return self.fc(x.mean([2, 3]))


class LrnNet(torch.nn.Module):
    """nn.LocalResponseNorm, which the exporter writes as a dozen ops (odd
    and even windows), and ConvTranspose2d (strided, output_padding,
    grouped)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.lrn1 = torch.nn.LocalResponseNorm(5, alpha=0.05, beta=0.75, k=2.0)
        self.up = torch.nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.lrn2 = torch.nn.LocalResponseNorm(4, alpha=0.1, beta=0.6, k=1.5)
        self.up2 = torch.nn.ConvTranspose2d(6, 6, (2, 3), stride=(1, 2), groups=3, dilation=(2, 1))
        self.pool = torch.nn.MaxPool2d(16)
        self.fc = torch.nn.Linear(6 * 8 * 16, 10)

    def forward(self, x):
        x = self.lrn1(torch.relu(self.conv1(x)))
        x = self.lrn2(torch.relu(self.up(x)))
        return self.fc(torch.flatten(self.pool(self.up2(x)), 1))


def build(arch):
    torch.manual_seed(sum(map(ord, arch)))
    if arch == 'lrnnet':
        return LrnNet().eval()
    if arch == 'opsnet':
        m = OpsNet()
        with torch.no_grad():
            m.norm.weight.copy_(1 + 0.3 * torch.randn(8))
            m.norm.bias.copy_(0.3 * torch.randn(8))
        return m.eval()
    relu = arch.endswith('_relu')
    base = arch[:-5] if relu else arch
    m = getattr(torchvision.models, base)()
    if relu:
        for mod in m.modules():
            for k, ch in mod.named_children():
                if isinstance(ch, torch.nn.GELU):
                    setattr(mod, k, torch.nn.ReLU())
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith('layer_scale'):
                # 1e-6 makes every block an identity
                p.copy_(torch.empty_like(p).uniform_(0.1, 1.0))
        for mod in m.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(1 + 0.2 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.2 * torch.randn_like(mod.bias))
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.copy_(1 + 0.2 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.2 * torch.randn_like(mod.bias))
                mod.reset_running_stats()
                mod.momentum = None   # cumulative average over the pass
    # BatchNorm statistics from random images, so the signal neither dies
    # nor explodes with depth
    m.train()
    with torch.no_grad():
        for _ in range(4):
            m(torch.rand(8, 3, SIZE, SIZE))
    return m.eval()


def cmd_export(arch, d):
    os.makedirs(d, exist_ok=True)
    m = build(arch)
    torch.onnx.export(m, torch.zeros(1, 3, SIZE, SIZE), os.path.join(d, 'model.onnx'),
                      opset_version=13)
    rng = np.random.default_rng(1)
    x = rng.random((N, 3, SIZE, SIZE)).astype(np.float32)
    with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
        f.attrs['kind'] = 'images'
        f['images'] = x
        f['ids'] = np.arange(N, dtype=np.int64)
    xt = torch.from_numpy(x).double().requires_grad_(True)
    yt = m.double()(xt)
    y = yt.detach().numpy()
    np.save(os.path.join(d, 'logits.npy'), y)
    # the input gradient of sum(seed * logits), for tests/engine_driver
    seed = rng.standard_normal(y.shape)
    (yt * torch.from_numpy(seed)).sum().backward()
    np.save(os.path.join(d, 'grad.npy'), xt.grad.numpy())
    with h5py.File(os.path.join(d, 'seed.h5'), 'w') as f:
        f['seed'] = seed.astype(np.float32).reshape(y.shape + (1, 1))
    s = np.abs(y).max()
    # the test means something only when the logits are O(1) and differ
    # between images
    if not (1e-2 < s < 1e3) or np.abs(y[0] - y[1]).max() < 1e-3 * s:
        raise SystemExit('%s: degenerate logits (max %.3g)' % (arch, s))


def cmd_compare(d, acts):
    want = np.load(os.path.join(d, 'logits.npy'))
    with h5py.File(acts, 'r') as f:
        got = f['logits'][()].reshape(want.shape).astype(np.float64)
    s = np.abs(want).max()
    err = np.abs(got - want).max() / s
    print('logits max|err| / max|logit| = %.3g (max|logit| %.3g)' % (err, s))
    if err > RTOL:
        raise SystemExit('logits differ: %.3g of max|logit| (tolerance %g)' % (err, RTOL))


def cmd_grad(d, out):
    want = np.load(os.path.join(d, 'grad.npy'))
    with h5py.File(out, 'r') as f:
        got = f['grad/standard'][()].reshape(want.shape).astype(np.float64)
    s = np.abs(want).max()
    err = np.abs(got - want).max() / s
    print('input gradient max|err| / max|grad| = %.3g' % err)
    if err > RTOL:
        raise SystemExit('input gradients differ: %.3g of max|grad| (tolerance %g)' % (err, RTOL))


def cmd_bad(kind, path):
    """Small ONNX graphs whose views of a computed tensor we cannot follow;
    cnn-import must refuse them in one line naming node, op and opset."""
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), 'w')
    nodes = [helper.make_node('Conv', ['x', 'w'], ['c'], name='conv')]
    inits = [w]
    if kind == 'transpose':      # swaps H and W: no view of our layout
        nodes.append(helper.make_node('Transpose', ['c'], ['y'], name='tr', perm=[0, 1, 3, 2]))
    elif kind == 'shuffle5':     # a 5-D Reshape, then not the shuffle's Transpose
        inits.append(numpy_helper.from_array(np.array([1, 2, 2, 5, 5], np.int64), 's'))
        nodes += [helper.make_node('Reshape', ['c', 's'], ['r'], name='rs'),
                  helper.make_node('Transpose', ['r'], ['y'], name='tr', perm=[0, 1, 2, 4, 3])]
    elif kind == 'reshape5':     # a 5-D Reshape read by a ReLU
        inits.append(numpy_helper.from_array(np.array([1, 2, 2, 5, 5], np.int64), 's'))
        nodes += [helper.make_node('Reshape', ['c', 's'], ['r'], name='rs'),
                  helper.make_node('Relu', ['r'], ['y'], name='relu')]
    elif kind == 'nhwc':         # channels-last read by a Softmax over its last axis
        nodes += [helper.make_node('Transpose', ['c'], ['t'], name='tr', perm=[0, 2, 3, 1]),
                  helper.make_node('Softmax', ['t'], ['y'], name='sm', axis=-1)]
    elif kind == 'dynamic':      # open height and width
        pass
    else:
        raise SystemExit('unknown bad kind %s' % kind)
    out = nodes[-1].output[0]
    dims = [1, 3, 'h', 'w'] if kind == 'dynamic' else [1, 3, 5, 5]
    g = helper.make_graph(nodes, 'bad', [helper.make_tensor_value_info('x', TensorProto.FLOAT, dims)],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), path)


if __name__ == '__main__':
    if sys.argv[1] == 'bad':
        cmd_bad(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'export':
        cmd_export(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'compare':
        cmd_compare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'grad':
        cmd_grad(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)

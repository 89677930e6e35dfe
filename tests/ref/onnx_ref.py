"""Reference side of tests/ref/onnx.sh (Debian's python3: torch, onnx, h5py,
numpy).

  export BASE ARCH:OPSET...  for each, into BASE/ARCH-OPSET: build ARCH with
                          random weights in PyTorch, export it to model.onnx
                          at OPSET, write images.h5, seed.h5 and ref.npz: every ONNX value computed by an
                          independent evaluation of the exported graph in
                          float64 PyTorch (checked here against the PyTorch
                          module's own output), and the module's input
                          gradient of sum(output * seed)
  compare DIR ACTS [GRAD] every activation in ACTS (cnn-forward --all) must
                          equal the reference value of the ONNX node of the
                          same name to 1e-4 relative; GRAD (optional, an HDF5
                          file with /grad) likewise for the input gradient
  conformance BIN OUTMD   run libonnx-testdata's node and pytorch-* tests of
                          the ops we import through cnn-import and
                          cnn-forward; print passed/failed/out of scope and
                          write the out-of-scope list to OUTMD
  tamper KIND SRC DST     write a broken ONNX file for the bad-input tests
  fuzz IMPORTER SRC N TMP N byte-level mutants of SRC through IMPORTER: exit
                          0 or 1 with one line, never a crash
"""
import copy
import glob
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import onnx
from onnx import helper, numpy_helper

RTOL = 1e-4
np.random.seed(0)
torch = nn = F = None


def _load_torch():
    """torch takes seconds to import: only the export needs it."""
    global torch, nn, F
    import torch as _t
    import torch.nn as _nn
    import torch.nn.functional as _f
    torch, nn, F = _t, _nn, _f
    torch.manual_seed(0)

# ------------------------------------------------------------ architectures


def _define_archs():
    """The architectures (classes need torch, imported on demand)."""
    # torchvision is not packaged in Debian, so the classic architectures are
    # written out here, narrow and at small inputs to keep the test fast; the
    # layer structure (and so every op and attribute the exporter emits) is
    # torchvision's.


    def alexnet(lrn=False):
        feats = [nn.Conv2d(3, 16, 11, 4, 2), nn.ReLU(inplace=True)]
        if lrn:   # the original AlexNet / ZFNet have LRN after the first convs
            feats.append(nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0))
        feats += [nn.MaxPool2d(3, 2), nn.Conv2d(16, 24, 5, padding=2), nn.ReLU(inplace=True)]
        if lrn:
            feats.append(nn.LocalResponseNorm(3))
        feats += [nn.MaxPool2d(3, 2), nn.Conv2d(24, 32, 3, padding=1), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 24, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2)]

        class AlexNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(*feats)
                self.classifier = nn.Sequential(
                    nn.Dropout(), nn.Linear(24 * 2 * 2, 64), nn.ReLU(inplace=True),
                    nn.Dropout(), nn.Linear(64, 64), nn.ReLU(inplace=True), nn.Linear(64, 10))

            def forward(self, x):
                x = self.features(x)
                x = torch.flatten(x, 1)
                return self.classifier(x)
        return AlexNet(), (3, 95, 95)


    def vgg(cfg, bn):
        layers, c = [], 3
        for v in cfg:
            if v == 'M':
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.Conv2d(c, v, 3, padding=1))
                if bn:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                c = v

        class VGG(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(*layers)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.classifier = nn.Sequential(
                    nn.Linear(c, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32),
                    nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))

            def forward(self, x):
                x = self.avgpool(self.features(x))
                x = torch.flatten(x, 1)
                return self.classifier(x)
        return VGG(), (3, 32, 32)


    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + idt)


    def resnet18():
        class ResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm2d(8)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
                w = [8, 16, 32, 48]
                c = 8
                for i, wi in enumerate(w):
                    s = 1 if i == 0 else 2
                    setattr(self, 'layer%d' % (i + 1), nn.Sequential(BasicBlock(c, wi, s),
                                                                   BasicBlock(wi, wi, 1)))
                    c = wi
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(c, 10)

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                return self.fc(torch.flatten(self.avgpool(x), 1))
        return ResNet(), (3, 64, 64)


    class Fire(nn.Module):
        def __init__(self, cin, sq, e1, e3):
            super().__init__()
            self.squeeze = nn.Conv2d(cin, sq, 1)
            self.squeeze_activation = nn.ReLU(inplace=True)
            self.expand1x1 = nn.Conv2d(sq, e1, 1)
            self.expand1x1_activation = nn.ReLU(inplace=True)
            self.expand3x3 = nn.Conv2d(sq, e3, 3, padding=1)
            self.expand3x3_activation = nn.ReLU(inplace=True)

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                              self.expand3x3_activation(self.expand3x3(x))], 1)


    def squeezenet1_1():
        class SqueezeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(3, 16, 3, 2), nn.ReLU(inplace=True),
                    nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8, 8), Fire(16, 4, 8, 8),
                    nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 8, 16, 16), Fire(32, 8, 16, 16),
                    nn.MaxPool2d(3, 2, ceil_mode=True), Fire(32, 8, 24, 24), Fire(48, 12, 24, 24))
                self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(48, 10, 1),
                                                nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

            def forward(self, x):
                return torch.flatten(self.classifier(self.features(x)), 1)
        return SqueezeNet(), (3, 67, 67)


    class ConvBNReLU(nn.Sequential):
        def __init__(self, cin, cout, k=3, s=1, g=1):
            super().__init__(nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=g, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, s, t):
            super().__init__()
            hid = cin * t
            self.use_res = s == 1 and cin == cout
            layers = [] if t == 1 else [ConvBNReLU(cin, hid, 1)]
            layers += [ConvBNReLU(hid, hid, s=s, g=hid), nn.Conv2d(hid, cout, 1, bias=False),
                       nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)


    def mobilenet_v2():
        class MobileNetV2(nn.Module):
            def __init__(self):
                super().__init__()
                cfg = [(1, 8, 1, 1), (6, 12, 2, 2), (6, 16, 2, 2), (6, 24, 1, 2), (6, 32, 1, 1)]
                feats, c = [ConvBNReLU(3, 8, s=2)], 8
                for t, co, n, s in cfg:
                    for i in range(n):
                        feats.append(InvertedResidual(c, co, s if i == 0 else 1, t))
                        c = co
                feats.append(ConvBNReLU(c, 64, 1))
                self.features = nn.Sequential(*feats)
                self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

            def forward(self, x):
                x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
                return self.classifier(torch.flatten(x, 1))
        return MobileNetV2(), (3, 48, 48)


    def misc():
        """What the classic nets leave out: explicit zero Pad before a conv and
        a max-pool, asymmetric padding, dilation, average pooling with and
        without count_include_pad, x.view(x.size(0), -1), MatMul plus a bias
        add, LeakyReLU, Sigmoid, Tanh, a per-channel affine, softmax."""
        class Misc(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1 = nn.Conv2d(3, 8, 3, 1, 0, dilation=2)
                self.act1 = nn.LeakyReLU(0.1)
                self.c2 = nn.Conv2d(8, 8, 3, 2, 0)
                self.pool1 = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
                self.pool2 = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
                self.c3 = nn.Conv2d(8, 6, 1)
                self.w = nn.Parameter(torch.randn(6 * 5 * 5, 12) * 0.1)
                self.b = nn.Parameter(torch.randn(12))
                self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
                self.fc = nn.Linear(12, 5)

            def forward(self, x):
                x = self.act1(self.c1(x))
                x = F.pad(x, (0, 1, 1, 0))            # asymmetric: left, right, top, bottom
                x = torch.tanh(self.c2(x))
                x = x * self.scale + 0.25
                x = self.pool2(self.pool1(x))
                x = torch.relu(x)
                x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 2, 1)
                x = torch.sigmoid(self.c3(x))
                x = x.view(x.size(0), -1)
                x = x @ self.w + self.b
                return torch.softmax(self.fc(x), dim=1)
        return Misc(), (3, 21, 21)


    ARCHS = {
        'alexnet': lambda: alexnet(False),
        # PyTorch exports LocalResponseNorm as a chain of Pad/AvgPool/Pow, so
        # the LRN model is exported without it and the LRN nodes are put
        # back in the ONNX graph (see lrn_graph)
        'zfnet_lrn': lambda: alexnet(True),
        'vgg11_bn': lambda: vgg([8, 'M', 16, 'M', 32, 32, 'M', 32, 32, 'M', 32, 32, 'M'], True),
        'vgg16': lambda: vgg([8, 8, 'M', 16, 16, 'M', 16, 16, 16, 'M', 32, 32, 32, 'M',
                              32, 32, 32, 'M'], False),
        'resnet18': resnet18, 'squeezenet1_1': squeezenet1_1, 'mobilenet_v2': mobilenet_v2,
        'misc': misc,
    }


    return ARCHS


def randomise(m):
    """Random weights, and BatchNorm statistics far from the identity."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
    return m.eval()


# ------------------------------------------------------- graph evaluation
# An independent evaluation of the exported ONNX graph with float64 PyTorch
# functional ops: every intermediate value, at every node's name.


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads4(a, nd=2):
    p = list(a.get('pads', [0] * (2 * nd)))
    return p   # h_begin, w_begin, h_end, w_end


def evaluate(model, x):
    opset = next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    for k, v in list(env.items()):
        if v.dtype in (torch.float32, torch.float16):
            env[k] = v.double()
    inp = [i.name for i in model.graph.input if i.name not in env][0]
    env[inp] = x.double()
    for n in model.graph.node:
        a = _attrs(n)
        I = [env[i] if i else None for i in n.input]
        op = n.op_type
        X = I[0] if I else None
        if op == 'Conv':
            p = _pads4(a)
            X = F.pad(X, (p[1], p[3], p[0], p[2]))
            y = F.conv2d(X, I[1], I[2] if len(I) > 2 else None, a.get('strides', [1, 1]),
                         0, a.get('dilations', [1, 1]), a.get('group', 1))
        elif op in ('MaxPool', 'AveragePool'):
            p = _pads4(a)
            k, s = a['kernel_shape'], a.get('strides', [1, 1])
            ceil = bool(a.get('ceil_mode', 0))
            if p[0] == p[2] and p[1] == p[3]:
                if op == 'MaxPool':
                    y = F.max_pool2d(X, k, s, (p[0], p[1]), ceil_mode=ceil)
                else:
                    y = F.avg_pool2d(X, k, s, (p[0], p[1]), ceil_mode=ceil,
                                     count_include_pad=bool(a.get('count_include_pad', 0)))
            else:
                assert op == 'MaxPool'
                y = F.max_pool2d(F.pad(X, (p[1], p[3], p[0], p[2]), value=-np.inf), k, s,
                                 ceil_mode=ceil)
        elif op == 'GlobalAveragePool':
            y = X.mean((2, 3), keepdim=True)
        elif op == 'Gemm':
            A = X.t() if a.get('transA', 0) else X
            B = I[1].t() if a.get('transB', 0) else I[1]
            y = a.get('alpha', 1.0) * A @ B
            if len(I) > 2 and I[2] is not None:
                y = y + a.get('beta', 1.0) * I[2]
        elif op == 'MatMul':
            y = X @ I[1]
        elif op == 'Relu':
            y = F.relu(X)
        elif op == 'LeakyRelu':
            y = F.leaky_relu(X, a.get('alpha', 0.01))
        elif op == 'Clip':
            lo = a.get('min', -np.inf) if opset < 11 else (float(I[1]) if len(I) > 1 and I[1] is not None else -np.inf)
            hi = a.get('max', np.inf) if opset < 11 else (float(I[2]) if len(I) > 2 and I[2] is not None else np.inf)
            y = X.clamp(lo, hi)
        elif op == 'Sigmoid':
            y = torch.sigmoid(X)
        elif op == 'Tanh':
            y = torch.tanh(X)
        elif op == 'LRN':
            y = F.local_response_norm(X, a['size'], a.get('alpha', 1e-4), a.get('beta', 0.75),
                                      a.get('bias', 1.0))
        elif op == 'BatchNormalization':
            y = F.batch_norm(X, I[3], I[4], I[1], I[2], False, 0.0, a.get('epsilon', 1e-5))
        elif op in ('Dropout', 'Identity'):
            y = X
        elif op == 'Flatten':
            y = X.reshape(X.shape[0], -1)
        elif op == 'Reshape':
            shp = [int(v) for v in I[1]]
            shp = [X.shape[i] if v == 0 else v for i, v in enumerate(shp)]
            y = X.reshape(shp)
        elif op == 'Softmax':
            ax = a.get('axis', 1 if opset < 13 else -1)
            if opset < 13:
                y = torch.softmax(X.reshape(*X.shape[:ax], -1), -1).reshape(X.shape)
            else:
                y = torch.softmax(X, ax)
        elif op in ('Add', 'Sub', 'Mul', 'Div'):
            B = I[1]
            if B.dtype != X.dtype and X.is_floating_point():
                B = B.to(X.dtype)
            y = {'Add': torch.add, 'Sub': torch.sub, 'Mul': torch.mul,
                 'Div': torch.div}[op](X, B)
            if not X.is_floating_point() and op == 'Div':
                y = torch.div(X, B, rounding_mode='trunc')
        elif op == 'Concat':
            y = torch.cat(I, a['axis'])
        elif op == 'Pad':
            p = a['pads'] if opset < 11 else [int(v) for v in I[1]]
            nd = len(p) // 2
            tp = []
            for d in reversed(range(nd)):
                tp += [p[d], p[d + nd]]
            y = F.pad(X, tp)
        elif op == 'Constant':
            y = torch.from_numpy(numpy_helper.to_array(a['value']).copy())
            if y.is_floating_point():
                y = y.double()
        elif op == 'Shape':
            y = torch.tensor(list(X.shape), dtype=torch.int64)
        elif op == 'Gather':
            y = torch.index_select(X, a.get('axis', 0), I[1].reshape(-1)).reshape(
                list(X.shape[:a.get('axis', 0)]) + list(I[1].shape) + list(X.shape[a.get('axis', 0) + 1:]))
        elif op == 'Unsqueeze':
            axes = a['axes'] if opset < 13 else [int(v) for v in I[1]]
            y = X
            for ax in sorted(axes):
                y = y.unsqueeze(ax)
        elif op == 'Cast':
            y = X
        elif op == 'ConstantOfShape':
            v = numpy_helper.to_array(a['value']) if 'value' in a else np.zeros(1, np.float32)
            y = torch.from_numpy(np.full([int(d) for d in X], v.reshape(-1)[0], v.dtype))
        elif op == 'Slice':
            st, en = [int(v) for v in I[1]], [int(v) for v in I[2]]
            axes = [int(v) for v in I[3]] if len(I) > 3 and I[3] is not None else list(range(len(st)))
            steps = [int(v) for v in I[4]] if len(I) > 4 and I[4] is not None else [1] * len(st)
            sl = [slice(None)] * X.dim()
            for s0, e0, ax, sp in zip(st, en, axes, steps):
                sl[ax] = slice(s0, e0 if abs(e0) < 2 ** 62 else None, sp)
            xn = X.numpy()[tuple(sl)]
            y = torch.from_numpy(np.ascontiguousarray(xn))
        elif op == 'Transpose':
            y = X.permute(*a['perm']) if 'perm' in a else X.permute(*reversed(range(X.dim())))
        else:
            raise SystemExit('reference evaluator: op %s not handled' % op)
        env[n.output[0]] = y
    return env


def node_key(n):
    """The name cnn-import gives the node: its ONNX name (else its output's)
    without the leading '/', other '/' as '.', ',' as '_'."""
    k = (n.name or n.output[0]).lstrip('/') or n.op_type
    return k.replace('/', '.').replace(',', '_')

# ------------------------------------------------------------ commands


def lrn_graph(path, mods):
    """Insert an ONNX LRN node after the i-th Relu for each LocalResponseNorm
    of the module (mods: (relu index, module))."""
    model = onnx.load(path)
    g = model.graph
    relus = [n for n in g.node if n.op_type == 'Relu']
    for k, (ri, lrn) in enumerate(mods):
        r = relus[ri]
        out = r.output[0]
        new = helper.make_node('LRN', [out], [out + '_lrn'], name='/lrn%d/LRN' % (k + 1),
                               size=lrn.size, alpha=lrn.alpha, beta=lrn.beta, bias=lrn.k)
        for n in g.node:
            for i, v in enumerate(n.input):
                if v == out:
                    n.input[i] = out + '_lrn'
        g.node.insert(list(g.node).index(r) + 1, new)
    onnx.save(model, path)


def cmd_export(arch, opset, d):
    torch.manual_seed(sum(map(ord, arch)) + opset)
    # ARCH_dyn: exported with a symbolic batch, so that the Shape/Gather/
    # Unsqueeze/Concat chains stay in the graph instead of being folded
    # ARCH_keepbn: exported in PRESERVE mode, which keeps BatchNormalization
    # nodes (in eval mode the exporter folds them into the convolutions)
    base = arch
    dyn = keepbn = False
    if base.endswith('_dyn'):
        base, dyn = base[:-4], True
    if base.endswith('_keepbn'):
        base, keepbn = base[:-7], True
    m, shape = ARCHS[base]()
    m = randomise(m)
    x = torch.rand(3, *shape)
    # the reference runs in float64 so that its own rounding is negligible
    m64 = copy.deepcopy(m).double()
    with torch.no_grad():
        yt = m64(x.double())
    path = os.path.join(d, 'model.onnx')
    lrns = [mod for mod in m.modules() if isinstance(mod, nn.LocalResponseNorm)]
    mexp = m
    if lrns:
        mexp, _ = ARCHS['alexnet']()   # the same weights without the LRN modules
        with torch.no_grad():
            for a, b in zip(mexp.parameters(), m.parameters()):
                a.copy_(b)
        mexp.eval()
    torch.onnx.export(mexp, x[:1], path, opset_version=opset,
                      input_names=['image'], output_names=['logits'],
                      dynamic_axes={'image': {0: 'batch'}} if dyn else None,
                      training=torch.onnx.TrainingMode.PRESERVE if keepbn else
                      torch.onnx.TrainingMode.EVAL)
    if lrns:
        lrn_graph(path, list(enumerate(lrns)))
    model = onnx.load(path)
    # ONNX semantics at the exported batch size (1): exporters may fold the
    # batch into Reshape targets, so images are evaluated one at a time
    envs = [evaluate(model, x[i:i + 1]) for i in range(x.shape[0])]
    env = {k: torch.cat([e[k] for e in envs]) for k, v in envs[0].items()
           if v.is_floating_point() and v.dim() >= 1 and v.shape[0] == 1 and k not in
           {i.name for i in model.graph.initializer}}
    out = env[model.graph.output[0].name]
    err = float((out - yt).abs().max() / max(yt.abs().max(), 1e-12))
    if err > 1e-5:
        raise SystemExit('%s: graph evaluation differs from the module by %g' % (arch, err))
    # input gradient of sum(output * seed) through the PyTorch module
    seed = torch.randn(yt.shape, dtype=torch.float64)
    xg = x.double().requires_grad_(True)
    (m64(xg) * seed).sum().backward()
    ref = {}
    for n in model.graph.node:
        v = env.get(n.output[0])
        if v is not None and v.is_floating_point():
            ref['act:' + node_key(n)] = v.numpy()
    ref['grad'] = xg.grad.double().numpy()
    np.savez(os.path.join(d, 'ref.npz'), **ref)
    with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
        f['images'] = x.numpy().astype(np.float32)
        f['ids'] = np.arange(x.shape[0], dtype=np.int64)
        f.attrs['kind'] = 'images'
    with h5py.File(os.path.join(d, 'seed.h5'), 'w') as f:
        # shaped as the engine's activations: N x C x H x W (N x D x 1 x 1)
        sd = seed.numpy().astype(np.float32)
        f['seed'] = sd.reshape(sd.shape + (1,) * (4 - sd.ndim))


def acts_of(path):
    """name -> array for every dataset under /act (names may hold '/', which
    HDF5 turns into groups; a 'name' attribute wins when present)."""
    out = {}
    with h5py.File(path, 'r') as f:
        if 'act' not in f:
            return out

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                key = obj.attrs.get('name', name)
                if isinstance(key, bytes):
                    key = key.decode()
                out[str(key).lstrip('/')] = obj[()]
        f['act'].visititems(visit)
    return out


def close(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.size != b.size:
        return False, 'size %d vs %d' % (a.size, b.size)
    scale = max(np.abs(b).max() if b.size else 0.0, 1e-6)
    err = np.abs(a - b).max() / scale if a.size else 0.0
    return bool(err <= RTOL), 'max rel err %.3g' % err


def cmd_compare(d, acts_path, grad_path=None):
    ref = np.load(os.path.join(d, 'ref.npz'))
    refs = {k[4:].lstrip('/'): ref[k] for k in ref.files if k.startswith('act:')}
    acts = acts_of(acts_path)
    if not acts:
        raise SystemExit('%s: no activations under /act' % acts_path)
    # PyTorch-scoped nodes are named by module path; the ONNX node name is
    # the node's alias
    alias = {}
    mp = os.path.join(d, 'model.h5')
    if os.path.exists(mp):
        with h5py.File(mp, 'r') as f:
            for g in f['nodes'].values():
                if 'alias' in g.attrs:
                    a = g.attrs['alias']
                    a = a.decode() if isinstance(a, bytes) else str(a)
                    nm = g.attrs['name']
                    nm = nm.decode() if isinstance(nm, bytes) else str(nm)
                    alias[nm] = a.lstrip('/').replace('/', '.').replace(',', '_')
    bad, n = [], 0
    for name, a in acts.items():
        if name not in refs and alias.get(name) in refs:
            name = alias[name]
        if name not in refs:
            bad.append('%s: no ONNX node of that name' % name)
            continue
        ok, msg = close(a, refs[name])
        n += 1
        if not ok:
            bad.append('%s: %s' % (name, msg))
    if grad_path:
        with h5py.File(grad_path, 'r') as f:
            g = f['grad/standard'][()] if 'standard' in f.get('grad', {}) else f['grad'][()]
        ok, msg = close(g, ref['grad'])
        n += 1
        if not ok:
            bad.append('input gradient: %s' % msg)
    if bad:
        raise SystemExit('%d of %d differ: %s' % (len(bad), n, '; '.join(bad[:8])))
    print('%d activations%s equal PyTorch' % (n - bool(grad_path), ' and the input gradient' if grad_path else ''))

# ------------------------------------------------------------ conformance


OUR_OPS = {'Conv', 'Gemm', 'MatMul', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'MaxPool',
           'AveragePool', 'GlobalAveragePool', 'LRN', 'BatchNormalization', 'Dropout', 'Flatten',
           'Reshape', 'Softmax', 'Add', 'Concat', 'Pad', 'Identity', 'ConvTranspose', 'Resize',
           'Upsample', 'InstanceNormalization', 'LayerNormalization', 'Split',
           'Sub', 'Mul', 'Div', 'HardSigmoid', 'HardSwish', 'Elu', 'PRelu', 'Softplus',
           'LogSoftmax', 'ReduceMean', 'ReduceMax', 'GlobalMaxPool'}
# folded when their inputs are constants; never tested alone
HELPERS = {'Constant', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Cast', 'Transpose', 'Sum'}


def testdata_root():
    for r in ('/usr/share/libonnx-testdata/data',):
        if os.path.isdir(r):
            return r
    return None


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, 'rb') as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def prepare_case(case, tmp):
    """(model path, images path, expected output) or a reason it is out of
    scope. Inputs after the first are bound as constants (initializers): our
    models take one image input and keep weights inside."""
    model = onnx.load(os.path.join(case, 'model.onnx'))
    ds = os.path.join(case, 'test_data_set_0')
    ins = sorted(glob.glob(os.path.join(ds, 'input_*.pb')), key=lambda p: int(p.rsplit('_', 1)[1][:-3]))
    outs = sorted(glob.glob(os.path.join(ds, 'output_*.pb')))
    if not ins or not outs:
        return 'no test data'
    inits = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits]
    if len(real) != len(ins):
        return 'input count mismatch in the test data'
    try:
        vals = [load_pb(p) for p in ins]
        want = load_pb(outs[0])
    except Exception:
        return 'test data that are not plain tensors (sequences or optionals)'

    x = vals[0]
    if x.dtype != np.float32:
        return 'input of type %s' % x.dtype
    for inp, v in zip(real[1:], vals[1:]):
        t = numpy_helper.from_array(v, inp.name)
        model.graph.initializer.append(t)
    if len(model.graph.output) > 1:
        return '%d outputs' % len(model.graph.output)
    # images as cnntools stores them: N x C x H x W (signals N x C x 1 x L,
    # vectors N x D x 1 x 1)
    if x.ndim == 4:
        img = x
    elif x.ndim == 3:
        img = x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])
    elif x.ndim == 2:
        img = x.reshape(x.shape[0], x.shape[1], 1, 1)
    else:
        return 'rank-%d input (only N x C x H x W, N x C x L and N x D)' % x.ndim
    mp = os.path.join(tmp, 'model.onnx')
    onnx.save(model, mp)
    ip = os.path.join(tmp, 'images.h5')
    with h5py.File(ip, 'w') as f:
        f['images'] = img.astype(np.float32)
        f['ids'] = np.arange(img.shape[0], dtype=np.int64)
        f.attrs['kind'] = 'images'
    return mp, ip, want


def run_case(case, bindir, fwd_cmd):
    with tempfile.TemporaryDirectory() as tmp:
        prep = prepare_case(case, tmp)
        if isinstance(prep, str):
            return 'scope', prep
        mp, ip, want = prep
        mh = os.path.join(tmp, 'model.h5')
        r = subprocess.run([os.path.join(bindir, 'cnn-import'), '-q', mp, '-o', mh],
                           capture_output=True, text=True, errors='replace')
        if r.returncode != 0:
            msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'exit %d' % r.returncode
            if r.returncode == 1 and 'not supported' in msg:
                return 'scope', msg.split(': ', 2)[-1]
            return 'fail', 'cnn-import: ' + msg
        ah = os.path.join(tmp, 'acts.h5')
        r = subprocess.run(fwd_cmd(mh, ip, ah), capture_output=True, text=True, errors='replace')
        if r.returncode != 0:
            return 'fail', 'forward: ' + (r.stderr.strip() or 'exit %d' % r.returncode)[-300:]
        got = last_act(ah, last_node(mh))
        if got is None:
            return 'fail', 'no activation in the output'
        ok, msg = close(got, want)
        return ('pass', msg) if ok else ('fail', msg)


def last_node(model_h5):
    """The name of a model file's last node (the output)."""
    with h5py.File(model_h5, 'r') as f:
        last = max(f['nodes'].keys(), key=int)
        nm = f['nodes'][last].attrs['name']
        return nm.decode() if isinstance(nm, bytes) else str(nm)


def last_act(path, name):
    acts = acts_of(path)
    return acts.get(name)


def cmd_conformance(bindir, outmd, driver=None):
    root = testdata_root()
    if not root:
        raise SystemExit('libonnx-testdata is not installed')
    if driver:
        def fwd(mh, ip, ah):
            return [driver, mh, ip, ah]
    else:
        def fwd(mh, ip, ah):
            # Conformance inputs are any tensors, not [0,1] images.
            return [os.path.join(bindir, 'cnn-forward'), '-q', '--all', '--allow-range', '-m', mh, ip,
                    '-o', ah]
    cases = []
    for sub in ('node', 'pytorch-converted', 'pytorch-operator'):
        for case in sorted(glob.glob(os.path.join(root, sub, 'test_*'))):
            try:
                ops = {n.op_type for n in onnx.load(os.path.join(case, 'model.onnx')).graph.node}
            except Exception:
                continue
            if ops & OUR_OPS and ops <= OUR_OPS | HELPERS:
                cases.append((sub, case))
    res = {'pass': [], 'fail': [], 'scope': []}
    for sub, case in cases:
        st, msg = run_case(case, bindir, fwd)
        res[st].append((sub + '/' + os.path.basename(case), msg))
    for name, msg in res['fail']:
        print('FAIL %s: %s' % (name, msg))
    with open(outmd, 'w') as f:
        f.write('# ONNX conformance: what is out of scope\n\n'
                'Generated by `tests/ref/onnx.sh` (`tests/ref/onnx_ref.py conformance`) from\n'
                "Debian's libonnx-testdata: every node test, and every pytorch-converted and\n"
                'pytorch-operator model, whose ops are all among those cnn-import reads.\n'
                'Inputs after the first are bound as constants (our models take one image\n'
                'input and keep their weights). Result: %d passed, %d failed, %d out of scope.\n\n'
                'Out of scope, and why (the reason is cnn-import\'s own error message):\n\n'
                % (len(res['pass']), len(res['fail']), len(res['scope'])))
        for name, msg in res['scope']:
            f.write('- `%s`: %s\n' % (name, msg.replace('\n', ' ')))
    print('conformance: %d passed, %d failed, %d out of scope' %
          (len(res['pass']), len(res['fail']), len(res['scope'])))
    if res['fail']:
        raise SystemExit(1)

# ------------------------------------------------------------ bad input


def cmd_tamper(kind, src, dst):
    m = onnx.load(src)
    g = m.graph
    if kind == 'external':
        t = g.initializer[0]
        t.ClearField('raw_data')
        del t.float_data[:]
        t.data_location = onnx.TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = 'location', 'weights.bin'
    elif kind == 'huge':
        # a tensor claiming 2 GB of floats while holding a few bytes
        t = g.initializer[0]
        t.ClearField('raw_data')
        del t.float_data[:]
        del t.dims[:]
        t.dims.extend([512, 1024, 1024])
        t.raw_data = b'\0' * 16
    elif kind == 'dynamic':
        d = g.input[0].type.tensor_type.shape.dim
        d[2].dim_param = 'height'
        d[3].dim_param = 'width'
    elif kind == 'unsupported':
        n = g.node[0]
        new = helper.make_node('Celu', [n.output[0]], ['elu_out'], name='my_celu')
        for other in g.node:
            for i, v in enumerate(other.input):
                if v == n.output[0]:
                    other.input[i] = 'elu_out'
        g.node.insert(1, new)
    elif kind == 'opset':
        m.opset_import[0].version = 99
    else:
        raise SystemExit('unknown tamper kind ' + kind)
    with open(dst, 'wb') as f:
        f.write(m.SerializeToString())


def cmd_fuzz(importer, src, n, tmp):
    """n mutants of src (bytes flipped, runs cut out or repeated, varints
    overwritten): cnn-import must exit 0 or 1 with one line on stderr, never
    crash. Deterministic (seeded) so that a failure reproduces."""
    rng = np.random.RandomState(1)
    data = open(src, 'rb').read()
    bad = []
    for k in range(n):
        b = bytearray(data)
        kind = k % 4
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                b[rng.randint(len(b))] = rng.randint(256)
        elif kind == 1:
            i = rng.randint(len(b))
            del b[i:i + rng.randint(1, 64)]
        elif kind == 2:
            i = rng.randint(len(b))
            b[i:i] = b[i:i + rng.randint(1, 64)]
        else:
            i = rng.randint(len(b) - 10)
            b[i:i + 10] = bytes([0xff] * 9 + [0x01])   # a huge varint
        path = os.path.join(tmp, 'fuzz.onnx')
        with open(path, 'wb') as f:
            f.write(bytes(b))
        out = os.path.join(tmp, 'fuzz.h5')
        r = subprocess.run([importer, '-q', path, '-o', out], capture_output=True, text=True,
                           errors='replace')
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode not in (0, 1) or (r.returncode == 1 and len(lines) != 1):
            keep = os.path.join(tmp, 'crash%d.onnx' % k)
            os.replace(path, keep)
            bad.append('mutant %d: exit %d: %s' % (k, r.returncode, r.stderr.strip()[-200:]))
        if os.path.exists(out):
            os.remove(out)
    if bad:
        raise SystemExit('%d of %d mutants: %s' % (len(bad), n, '; '.join(bad[:5])))
    print('%d mutants: clean exits' % n)


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'export':
        # export BASEDIR ARCH:OPSET...: one process for all (torch loads once)
        _load_torch()
        ARCHS = _define_archs()
        for spec in a[2:]:
            arch, op = spec.split(':')
            d = os.path.join(a[1], '%s-%s' % (arch, op))
            os.makedirs(d, exist_ok=True)
            try:
                cmd_export(arch, int(op), d)
            except BaseException as e:   # one bad case must not hide the others
                print('%s opset %s: %s' % (arch, op, e), file=sys.stderr)
    elif a[0] == 'same-logits':
        with h5py.File(a[1], 'r') as f1, h5py.File(a[2], 'r') as f2:
            ok, msg = close(f1['logits'][()], f2['logits'][()])
        if not ok:
            raise SystemExit('logits differ: ' + msg)
        print('same logits (%s)' % msg)
    elif a[0] == 'last-node':
        print(last_node(a[1]))
    elif a[0] == 'compare':
        cmd_compare(a[1], a[2], a[3] if len(a) > 3 else None)
    elif a[0] == 'conformance':
        cmd_conformance(a[1], a[2], a[3] if len(a) > 3 else None)
    elif a[0] == 'fuzz':
        cmd_fuzz(a[1], a[2], int(a[3]), a[4])
    elif a[0] == 'tamper':
        cmd_tamper(a[1], a[2], a[3])
    else:
        raise SystemExit(__doc__)

"""Reference side of tests/ref/zoo_grad.sh (Debian's python3 with torch,
torchvision 0.14, h5py, numpy): torchvision classification CNNs, random
weights made a real test by zoo_se_ref.make_real, their logits, input
gradient, guided-backprop gradient and Grad-CAM on a named module against
float64 PyTorch.

  export BASE ARCH:OPSET:SIZE:LAYER...   for each, into BASE/ARCH-OPSET: the
                          module (model.pt, float32), model.onnx at OPSET for
                          SIZE x SIZE images, images.h5 (3 images)
  check BASE ARCH-OPSET:LAYER...         each DIR's logits.h5 (cnn-forward),
                          masks.h5 (cnn-forward -l of every ReLU, Clip and
                          HardSigmoid output, MaxPool and HardSwish input,
                          as zoo_grad.sh lists them from cnn-info), camact.h5 (cnn-forward -l LAYER),
                          gradient.h5, guided.h5 and gradcam.h5
                          (cnn-saliency -t class=7) against float64
                          PyTorch; one line per check on stdout:
                          'ok<TAB>WHAT<TAB>DETAIL' or 'not ok<TAB>...'

A float32 forward puts some ReLU inputs on the other side of zero than the
float64 one; each flip changes the backward by a whole gradient entry, and
at 64 px and more these flips, not rounding, set the gradient's error. So
the float64 reference takes the decisions from OUR forward: every ReLU (and
ReLU6's Clip) passes where our output is positive (below 6), every MaxPool
takes the element our input's window has as maximum; the values stay
float64. HardSwish's derivative jumps at -3 and 3 and HardSigmoid's at the
ends of its ramp: these take the side of the kink from our forward too
(HardSwish's input, HardSigmoid's output inside (0, 1) or not). The k-th
F.relu / F.hardtanh / F.max_pool2d / F.hardswish / F.hardsigmoid call of
the module is the k-th such node of the imported model (the ONNX export
traces calls in order); a count that differs is an error, not a silent
mismatch. Under guided backprop the rectifiers (ReLU, Clip, SiLU, GELU,
HardSwish) pass g f'(x) where g > 0 and 0 elsewhere, the gates (Sigmoid,
HardSigmoid) their true derivative: the rule cnn-saliency(1) states.
Logits are compared without forcing (the flips move them by rounding only).
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_se_ref import make_real, smooth_images, rel_err  # noqa: E402

RTOL = 1e-4
CLASS = 7
# nn.Linear widths of the classifiers of alexnet and vgg (4096) cut to this:
# the convolutional part is torchvision's, the test stays fast
NARROW = 256


def narrow_classifier(torch, m):
    nn = torch.nn
    cls = m.classifier
    for i, mod in enumerate(cls):
        if isinstance(mod, nn.Linear):
            fin = mod.in_features if mod.in_features != 4096 else NARROW
            fout = mod.out_features if mod.out_features != 4096 else NARROW
            cls[i] = nn.Linear(fin, fout)
    return m


def convnext_narrow(torchvision):
    """torchvision's ConvNeXt class (the blocks, LayerNorm2d, GELU, layer
    scale and module names of convnext_tiny) with stages 32, 64, 128 and
    256 wide and two blocks each instead of 96 to 768 and 3, 3, 9, 3: the
    ConvNeXt test at a tenth of convnext_tiny's time (that one under
    ZOO_FULL=1)."""
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig
    cfg = [CNBlockConfig(32, 64, 2), CNBlockConfig(64, 128, 2), CNBlockConfig(128, 256, 2),
           CNBlockConfig(256, None, 2)]
    return ConvNeXt(cfg, stochastic_depth_prob=0.1)


def draw_constants(torch, m, gen):
    """The constant-initialised parameters make_real does not draw: ConvNeXt's
    layer scale (1e-6 makes every block an identity) and every LayerNorm's
    weight and bias (ones and zeros)."""
    nn = torch.nn
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith('layer_scale'):
                p.uniform_(0.1, 1.0, generator=gen)
        for mod in m.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.uniform_(0.6, 1.4, generator=gen)
                mod.bias.uniform_(-0.3, 0.3, generator=gen)
    return m


def unit_scale(torch, m, x):
    """For nets without BatchNorm or LayerNorm (alexnet, vgg without _bn):
    each Conv2d and Linear in turn rescaled so that its output over sample
    images has unit standard deviation (torchvision's default init shrinks
    the signal layer by layer, and the logits hardly depend on the image)."""
    nn = torch.nn
    if any(isinstance(mod, (nn.BatchNorm2d, nn.LayerNorm)) for mod in m.modules()):
        return m
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                out = {}
                h = mod.register_forward_hook(lambda md, i, o: out.setdefault('y', o))
                m(x)
                h.remove()
                s = float(out['y'].std())
                mod.weight /= s
                if mod.bias is not None:
                    mod.bias /= s
    return m


def cmd_export(base, cases):
    import torch
    import torchvision
    torch.set_num_threads(int(os.environ.get('ZOO_THREADS', '2')))
    for case in cases:
        arch, opset, size, _ = case.split(':')
        opset, size = int(opset), int(size)
        d = os.path.join(base, '%s-%d' % (arch, opset))
        os.makedirs(d, exist_ok=True)
        gen = torch.Generator().manual_seed(sum(map(ord, arch)))
        torch.manual_seed(sum(map(ord, arch)))
        kw = {'aux_logits': False, 'init_weights': True} if arch in ('googlenet', 'inception_v3') else {}
        if arch == 'convnext_narrow':
            m = convnext_narrow(torchvision)
        else:
            m = getattr(torchvision.models, arch)(weights=None, **kw)
        if arch.startswith(('alexnet', 'vgg')):
            m = narrow_classifier(torch, m)
        m = make_real(torch, draw_constants(torch, m, gen), size, gen)
        m = unit_scale(torch, m, smooth_images(torch, 4, size, gen))
        x = smooth_images(torch, 3, size, gen)
        torch.onnx.export(m, x[:1], os.path.join(d, 'model.onnx'), opset_version=opset,
                          input_names=['image'], output_names=['logits'])
        torch.save(m, os.path.join(d, 'model.pt'))
        with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
            f['images'] = x.numpy().astype(np.float32)
            f['ids'] = np.arange(x.shape[0], dtype=np.int64)
            f.attrs['kind'] = 'images'
        print('%s opset %d: exported' % (arch, opset))


def model_nodes(path):
    """(name, op, inputs) of every node of an imported model, in order."""
    out = []
    with h5py.File(path, 'r') as f:
        g = f['nodes']
        for k in sorted(g.keys(), key=int):
            a = g[k].attrs
            s = lambda v: v.decode() if isinstance(v, bytes) else str(v)
            ins = s(a['inputs']).split(',') if 'inputs' in a else [out[-1][0] if out else 'input']
            out.append((s(a['name']), s(a['op']), ins))
    return out


def our_decisions(d):
    """Our forward's decisions, in node order: ReLU and Clip outputs, MaxPool
    inputs, HardSwish inputs (its kinks at -3 and 3) and HardSigmoid outputs
    (inside (0, 1) or not)."""
    nodes = model_nodes(os.path.join(d, 'model.h5'))
    dec = {'relu': [], 'pool': [], 'hswish': [], 'hsig': []}
    with h5py.File(os.path.join(d, 'masks.h5'), 'r') as f:
        act = f['act'] if 'act' in f else None     # None: no such node
        for name, op, ins in nodes:
            if op in ('ReLU', 'Clip'):
                dec['relu'].append((name, act[name][()]))
            elif op == 'MaxPool':
                dec['pool'].append((name, act[ins[0]][()]))
            elif op == 'HardSwish':
                dec['hswish'].append((name, act[ins[0]][()]))
            elif op == 'HardSigmoid':
                dec['hsig'].append((name, act[name][()]))
    return dec


class Forced:
    """F.relu, F.hardtanh, F.max_pool2d, F.hardswish and F.hardsigmoid
    replaced while active: the k-th call takes the k-th decision of our
    forward (for HardSwish which side of -3 and 3 the input is, for
    HardSigmoid whether the output is inside (0, 1)); F.silu and F.gelu are
    replaced to follow the rule. Under rule 'guided' the rectifiers (ReLU,
    Clip, SiLU, GELU, HardSwish) pass g f'(x) where the gradient g is
    positive and 0 elsewhere (cnn-saliency(1)); the gate HardSigmoid passes
    its true derivative under every rule."""

    def __init__(self, torch, dec, rule='gradient'):
        self.torch, self.dec, self.rule = torch, dec, rule
        self.n = {k: 0 for k in dec}
        F = torch.nn.functional
        self.saved = (F.relu, F.hardtanh, F.max_pool2d, F.hardswish, F.hardsigmoid, F.silu, F.gelu)

    def _next(self, kind, shape):
        name, ours = self.dec[kind][self.n[kind]]
        self.n[kind] += 1
        return self.torch.from_numpy(ours.astype(np.float64)).reshape(shape)

    def _pointwise(self, x, f, d, gate=False):
        """f(x) whose backward multiplies the gradient by d (float64, the
        regions ours); under 'guided', unless a gate, only where g > 0."""
        torch, guided = self.torch, self.rule == 'guided' and not gate

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return f(x)

            @staticmethod
            def backward(ctx, g):
                return torch.where(g > 0, g * d, torch.zeros_like(g)) if guided else g * d
        return Fn.apply(x)

    def hardswish(self, x, inplace=False):
        torch, v = self.torch, x.detach()
        ours = self._next('hswish', x.shape)
        d = torch.where(ours < -3, torch.zeros_like(v), torch.where(ours <= 3, v / 3 + 0.5, torch.ones_like(v)))
        return self._pointwise(x, self.saved[3], d)

    def hardsigmoid(self, x, inplace=False):
        torch = self.torch
        ours = self._next('hsig', x.shape)
        d = torch.where((ours > 0) & (ours < 1), torch.full_like(x, 1 / 6), torch.zeros_like(x))
        return self._pointwise(x, self.saved[4], d.detach(), gate=True)

    def silu(self, x, inplace=False):
        s = self.torch.sigmoid(x.detach())
        return self._pointwise(x, self.saved[5], s * (1 + x.detach() * (1 - s)))

    def gelu(self, x, approximate='none'):
        torch, v = self.torch, x.detach()
        if approximate != 'none':
            raise RuntimeError('GELU with approximate=%r: no reference rule' % approximate)
        cdf = 0.5 * (1 + torch.erf(v / np.sqrt(2)))
        return self._pointwise(x, self.saved[6], cdf + v * torch.exp(-0.5 * v * v) / np.sqrt(2 * np.pi))

    def _mask_fn(self):
        torch, rule = self.torch, self.rule

        class Mask(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, m, v):
                ctx.save_for_backward(m)
                return torch.where(m, x, v)

            @staticmethod
            def backward(ctx, g):
                (m,) = ctx.saved_tensors
                keep = m & (g > 0) if rule == 'guided' else m
                return torch.where(keep, g, torch.zeros_like(g)), None, None
        return Mask.apply

    def _rect(self, x, lo, hi):
        torch = self.torch
        ours = self._next('relu', x.shape)
        m = ours > lo
        if hi is not None:
            m = m & (ours < hi)
        v = torch.where(ours > lo, torch.full_like(x, hi if hi is not None else 0), torch.zeros_like(x))
        return self._mask_fn()(x, m, v)

    def relu(self, x, inplace=False):
        return self._rect(x, 0.0, None)

    def hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        if min_val != 0.0:
            return self.saved[1](x, min_val, max_val)
        return self._rect(x, 0.0, max_val)

    def max_pool2d(self, x, *args, **kw):
        torch = self.torch
        kw = dict(kw)
        kw.pop('return_indices', None)
        # the window's maximum of our input: its shape is x's
        ours = self._next('pool', x.shape)
        _, idx = self.saved[2](ours, *args, return_indices=True, **kw)
        n, c = idx.shape[:2]
        y = x.reshape(n, c, -1).gather(2, idx.reshape(n, c, -1))
        return y.reshape(idx.shape)

    def __enter__(self):
        F = self.torch.nn.functional
        (F.relu, F.hardtanh, F.max_pool2d, F.hardswish, F.hardsigmoid, F.silu,
         F.gelu) = (self.relu, self.hardtanh, self.max_pool2d, self.hardswish, self.hardsigmoid,
                    self.silu, self.gelu)
        return self

    def __exit__(self, *a):
        F = self.torch.nn.functional
        F.relu, F.hardtanh, F.max_pool2d, F.hardswish, F.hardsigmoid, F.silu, F.gelu = self.saved
        for k, calls in self.n.items():
            if a[0] is None and calls != len(self.dec[k]):
                raise RuntimeError('the module made %d %s calls; the model has %d such nodes'
                                   % (calls, k, len(self.dec[k])))


def read(path, key):
    with h5py.File(path, 'r') as f:
        return f[key][()].astype(np.float64)


def per_image(got, want):
    got = got.reshape(want.shape)
    return max(rel_err(got[i], want[i]) for i in range(want.shape[0]))


def check_one(torch, d, layer, say):
    F = torch.nn.functional
    m = torch.load(os.path.join(d, 'model.pt')).double().eval()
    x = torch.from_numpy(read(os.path.join(d, 'images.h5'), 'images'))
    with torch.no_grad():
        want = m(x).numpy()
    spread = np.abs(want[0] - want[1]).max() / np.abs(want).max()
    err = rel_err(read(os.path.join(d, 'logits.h5'), 'logits').reshape(want.shape), want)
    say(err <= RTOL and spread > 1e-2, 'logits',
        'max |logit| %.3g, error %.2g of it, image-to-image spread %.2g' % (np.abs(want).max(), err, spread))
    dec = our_decisions(d)
    for rule in ('gradient', 'guided'):
        xg = x.clone().requires_grad_(True)
        with Forced(torch, dec, rule):
            m(xg)[:, CLASS].sum().backward()
        ref = xg.grad.numpy()
        err = per_image(read(os.path.join(d, rule + '.h5'), 'attr'), ref)
        say(err <= RTOL, 'input gradient' if rule == 'gradient' else 'guided backprop',
            'error %.2g of max |value| %.3g (decisions ours: %s)'
            % (err, np.abs(ref).max(), ', '.join('%d %s' % (len(v), k) for k, v in dec.items() if v) or 'none'))
    # Grad-CAM on the named module: weights the mean of dS/dA over H, W
    # (decisions ours). The map sums K weighted channels of A and cancels
    # (2048 of them in resnet50's layer4): A's float32 rounding, which the
    # logits test already bounds, comes out magnified; so the reference map
    # weighs OUR A (camact.h5) with the float64 weights, and the map of the
    # float64 A is reported beside it.
    store = {}
    h = m.get_submodule(layer).register_forward_hook(lambda mod, i, o: store.setdefault('A', o))
    with Forced(torch, dec):
        y = m(x)
        A = store['A']
        G, = torch.autograd.grad(y[:, CLASS].sum(), A)
    h.remove()
    w = G.mean((2, 3))
    with h5py.File(os.path.join(d, 'camact.h5'), 'r') as f:
        (key,) = f['act'].keys()
        ours = torch.from_numpy(f['act'][key][()].astype(np.float64)).reshape(A.shape)
    cam = torch.relu((w[:, :, None, None] * ours).sum(1))
    cam64 = torch.relu((w[:, :, None, None] * A.detach()).sum(1))
    up = F.interpolate(cam[:, None], size=x.shape[2:], mode='bilinear', align_corners=False)
    p = os.path.join(d, 'gradcam.h5')
    ew = per_image(read(p, 'cam_weights'), w.numpy())
    ec = per_image(read(p, 'cam'), cam.numpy())
    ea = per_image(read(p, 'attr'), up.numpy())
    e64 = per_image(read(p, 'cam'), cam64.numpy())
    say(max(ew, ec, ea) <= RTOL, 'Grad-CAM at -l %s (%s, %dx%dx%d)' % ((layer, key) + tuple(A.shape[1:])),
        'weights %.2g, cam %.2g, upsampled %.2g of max |value| (cam of the float64 A: %.2g)'
        % (ew, ec, ea, e64))


def cmd_check(base, cases):
    import torch
    torch.set_num_threads(int(os.environ.get('ZOO_THREADS', '2')))
    for case in cases:
        name, layer = case.split(':')
        d = os.path.join(base, name)

        def say(ok, what, detail):
            print('%s\t%s: %s\t%s' % ('ok' if ok else 'not ok', name, what, detail), flush=True)
        try:
            check_one(torch, d, layer, say)
        except Exception as e:           # a missing file or a count mismatch: one failed line
            say(False, 'reference', '%s: %s' % (type(e).__name__, str(e)[:300]))


if __name__ == '__main__':
    a = sys.argv[1:]
    if a and a[0] == 'export':
        cmd_export(a[1], a[2:])
    elif a and a[0] == 'check':
        cmd_check(a[1], a[2:])
    else:
        raise SystemExit(__doc__)

"""Reference side of tests/ref/onnx_ops.sh: single ONNX ops written by hand
(onnx.helper), the forms torch.onnx.export does not write, against float64
PyTorch, forward and backward.

  export BASE        for each case, into BASE/CASE: model.onnx (input x,
                     1 x C x H x W; the op; output y), images.h5 (2 images),
                     seed.h5 (/seed, shaped as y) and ref.npz (y and the
                     input gradient of sum(seed * y), float64 PyTorch)
  compare DIR OUT    OUT (tests/engine_driver: /act/<last node>,
                     /grad/standard) against ref.npz, to 1e-4 of the
                     largest |value|
  bad BASE           the graphs cnn-import must refuse (bad_*.onnx)

ConvTranspose's output_shape and auto_pad SAME_UPPER / SAME_LOWER: the
reference is PyTorch's conv_transpose2d without padding, then cropped (or
padded with zeros) to the ONNX spec's pads: total = s (in - 1) +
output_padding + (k - 1) d + 1 - out, total // 2 at the start under
SAME_UPPER and NOTSET, at the end under SAME_LOWER; the bias is added last.
Sum of three computed tensors: the sum of three convolutions. Mean, Max and
Min of two to four computed tensors broadcast along C, H and W (against
PyTorch's mean, amax and amin over the broadcast stack), and Max and Min
where inputs tie (the gradient shared evenly, as PyTorch). Selu (given
attributes and the defaults, against F.selu). Resize cubic
as PyTorch exports F.interpolate(mode='bicubic') (up, down, align_corners
both ways): PyTorch's own bicubic.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import onnx
from onnx import helper, numpy_helper, TensorProto

RTOL = 1e-4
N = 2


def ct_case(cin, cout, k, s, d, g, hw, auto_pad=None, output_shape=None, output_padding=(0, 0)):
    rng = np.random.default_rng(cin * 100 + cout * 10 + k)
    w = rng.standard_normal((cin, cout // g, k, k)).astype(np.float32) / np.sqrt(cin * k)
    b = rng.standard_normal(cout).astype(np.float32) * 0.1
    attrs = dict(kernel_shape=[k, k], strides=[s, s], dilations=[d, d], group=g)
    if auto_pad:
        attrs['auto_pad'] = auto_pad
    if output_shape:
        attrs['output_shape'] = list(output_shape)
    if any(output_padding):
        attrs['output_padding'] = list(output_padding)
    node = helper.make_node('ConvTranspose', ['x', 'w', 'b'], ['y'], name='up', **attrs)

    def ref(x):
        full = F.conv_transpose2d(x, torch.from_numpy(w).double(), None, stride=s, dilation=d,
                                  groups=g, output_padding=output_padding)
        out = []
        for ax in range(2):
            i = hw[ax]
            o = output_shape[ax] if output_shape else i * s
            tot = s * (i - 1) + output_padding[ax] + (k - 1) * d + 1 - o
            half = int(tot / 2)          # the spec's C division
            pb = tot - half if auto_pad == 'SAME_LOWER' else half
            out.append((pb, o))
        (pt, oh), (pl, ow) = out
        y = F.pad(full, (0, max(0, pl + ow - full.shape[3]), 0, max(0, pt + oh - full.shape[2])))
        y = y[:, :, pt:pt + oh, pl:pl + ow]
        return y + torch.from_numpy(b).double().view(1, -1, 1, 1)
    return [node], [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')], cin, hw, ref


def sum_case(n):
    rng = np.random.default_rng(n)
    ws = [rng.standard_normal((4, 3, 3, 3)).astype(np.float32) / 5 for _ in range(n)]
    nodes = [helper.make_node('Conv', ['x', 'w%d' % i], ['c%d' % i], name='conv%d' % i, pads=[1, 1, 1, 1])
             for i in range(n)]
    nodes.append(helper.make_node('Sum', ['c%d' % i for i in range(n)], ['y'], name='sum'))
    inits = [numpy_helper.from_array(w, 'w%d' % i) for i, w in enumerate(ws)]

    def ref(x):
        return sum(F.conv2d(x, torch.from_numpy(w).double(), padding=1) for w in ws)
    return nodes, inits, 3, (7, 6), ref


def variadic_ref(op, ts):
    """Mean, Max, Min of broadcast tensors as PyTorch computes them: amax and
    amin over a stack split the gradient evenly among tied inputs, as
    torch.maximum does for two."""
    st = torch.stack(torch.broadcast_tensors(*ts))
    return st.mean(0) if op == 'Mean' else st.amax(0) if op == 'Max' else st.amin(0)


def variadic_case(op, n):
    """op of n computed tensors shaped 4x7x6 (a convolution), 4x1x1 (its
    global average), 1x7x6 (a one-channel convolution) and 4x7x1 (a
    1 x 6 average pool): broadcasting along C, along H and W, along W."""
    rng = np.random.default_rng(10 + n)
    w0 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) / 5
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) / 5
    w2 = rng.standard_normal((1, 3, 3, 3)).astype(np.float32) / 5
    nodes = [helper.make_node('Conv', ['x', 'w0'], ['c0'], name='conv0', pads=[1, 1, 1, 1]),
             helper.make_node('Conv', ['x', 'w1'], ['c1'], name='conv1', pads=[1, 1, 1, 1]),
             helper.make_node('GlobalAveragePool', ['c1'], ['g1'], name='gap'),
             helper.make_node('Conv', ['x', 'w2'], ['c2'], name='conv2', pads=[1, 1, 1, 1]),
             helper.make_node('AveragePool', ['c1'], ['p1'], name='rows', kernel_shape=[1, 6])]
    names = ['c0', 'g1', 'c2', 'p1'][:n]
    need = set(names) | ({'c1'} if {'g1', 'p1'} & set(names) else set())
    nodes = [nd for nd in nodes if nd.output[0] in need]   # the graph's last node is the op
    nodes.append(helper.make_node(op, names, ['y'], name=op.lower()))
    inits = [numpy_helper.from_array(w, 'w%d' % i) for i, w in enumerate((w0, w1, w2))]

    def ref(x):
        t = lambda w: torch.from_numpy(w).double()
        c0, c1 = F.conv2d(x, t(w0), padding=1), F.conv2d(x, t(w1), padding=1)
        ts = [c0, c1.mean((2, 3), keepdim=True), F.conv2d(x, t(w2), padding=1), c1.mean(3, keepdim=True)]
        return variadic_ref(op, ts[:n])
    return nodes, inits, 3, (7, 6), ref


def ties_case(op, n):
    """op of the image and n - 1 copies of it with its channels rotated (a
    1 x 1 convolution by a permutation: exact), on images of values 0, 1/2
    and 1: inputs tie often, and the gradient of a tie is shared evenly
    (first-input-wins would differ)."""
    perm = np.roll(np.eye(3, dtype=np.float32), 1, axis=1)
    ws = [np.linalg.matrix_power(perm, i + 1)[:, :, None, None].copy() for i in range(n - 1)]
    nodes = [helper.make_node('Conv', ['x', 'p%d' % i], ['r%d' % i], name='rot%d' % i) for i in range(n - 1)]
    nodes.append(helper.make_node(op, ['x'] + ['r%d' % i for i in range(n - 1)], ['y'], name=op.lower()))
    inits = [numpy_helper.from_array(w, 'p%d' % i) for i, w in enumerate(ws)]

    def ref(x):
        return variadic_ref(op, [x] + [F.conv2d(x, torch.from_numpy(w).double()) for w in ws])
    return nodes, inits, 3, (5, 4), ref


def unary_case(op, f, **attrs):
    """op after a convolution (inputs of both signs)."""
    rng = np.random.default_rng(len(op))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) / 2
    nodes = [helper.make_node('Conv', ['x', 'w'], ['c'], name='conv', pads=[1, 1, 1, 1]),
             helper.make_node(op, ['c'], ['y'], name=op.lower(), **attrs)]

    def ref(x):
        return f(F.conv2d(x, torch.from_numpy(w).double(), padding=1))
    return nodes, [numpy_helper.from_array(w, 'w')], 3, (5, 6), ref


def bicubic_case(size=None, scale=None, align=False, hw=(6, 7), opset=13):
    """F.interpolate(mode='bicubic') as torch.onnx.export writes it (Resize
    cubic, cubic_coeff_a -0.75); the reference is PyTorch's own bicubic."""
    def ref(x):
        return F.interpolate(x, size=size, scale_factor=scale, mode='bicubic', align_corners=align)

    class M(torch.nn.Module):
        def forward(self, x):
            return ref(x)

    def export(path):
        torch.onnx.export(M(), torch.zeros((1, 3) + tuple(hw)), path, opset_version=opset,
                          input_names=['x'], output_names=['y'])
    return export, None, 3, hw, ref


CASES = {
    # output_shape above the natural size on H (an extra bias-only row at
    # the end), below it on W (a column cropped)
    'ct_output_shape': lambda: ct_case(4, 3, 3, 2, 1, 1, (5, 5), output_shape=(12, 10)),
    'ct_same_upper': lambda: ct_case(4, 3, 3, 2, 1, 1, (5, 6), auto_pad='SAME_UPPER'),
    'ct_same_lower': lambda: ct_case(4, 3, 3, 2, 1, 1, (5, 6), auto_pad='SAME_LOWER'),
    'ct_same_upper_grouped': lambda: ct_case(4, 6, 4, 2, 1, 2, (6, 5), auto_pad='SAME_UPPER'),
    'ct_output_shape_dilated': lambda: ct_case(3, 4, 3, 3, 2, 1, (4, 5), output_shape=(14, 17),
                                               output_padding=(1, 0)),
    'bicubic_x2': lambda: bicubic_case(scale=2),
    'bicubic_size_align_corners': lambda: bicubic_case(size=(11, 9), align=True, opset=11),
    'bicubic_down': lambda: bicubic_case(size=(4, 5), hw=(9, 10), opset=17),
    'bicubic_down_align_corners': lambda: bicubic_case(size=(5, 3), hw=(9, 10), align=True),
    'sum3': lambda: sum_case(3),
    'sum4': lambda: sum_case(4),
    'mean2_se': lambda: variadic_case('Mean', 2),
    'mean4_broadcast': lambda: variadic_case('Mean', 4),
    'max3_broadcast': lambda: variadic_case('Max', 3),
    'max4_broadcast': lambda: variadic_case('Max', 4),
    'min4_broadcast': lambda: variadic_case('Min', 4),
    'min2_se': lambda: variadic_case('Min', 2),
    'selu': lambda: unary_case('Selu', lambda c: 1.2 * torch.where(c > 0, c, 1.5 * torch.expm1(c)),
                               alpha=1.5, gamma=1.2),
    'selu_defaults': lambda: unary_case('Selu', F.selu),
    'max3_ties': lambda: ties_case('Max', 3),
    'min2_ties': lambda: ties_case('Min', 2),
}
# cases whose images take the values 0, 1/2 and 1 only (ties)
COARSE = ('max3_ties', 'min2_ties')


def save(path, nodes, inits, cin, hw, opset=13):
    g = helper.make_graph(nodes, 'op', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, cin, hw[0], hw[1]])],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)]), path)


def cmd_export(base):
    for name, make in CASES.items():
        d = os.path.join(base, name)
        os.makedirs(d, exist_ok=True)
        nodes, inits, cin, hw, ref = make()
        if callable(nodes):          # exported by torch.onnx.export
            nodes(os.path.join(d, 'model.onnx'))
        else:
            save(os.path.join(d, 'model.onnx'), nodes, inits, cin, hw)
        rng = np.random.default_rng(7)
        x = rng.random((N, cin) + tuple(hw)).astype(np.float32)
        if name in COARSE:
            x = np.round(2 * x) / 2
        xt = torch.from_numpy(x).double().requires_grad_(True)
        y = ref(xt)
        seed = torch.from_numpy(rng.standard_normal(tuple(y.shape)))
        (y * seed).sum().backward()
        np.savez(os.path.join(d, 'ref.npz'), y=y.detach().numpy(), grad=xt.grad.numpy())
        with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
            f.attrs['kind'] = 'images'
            f['images'] = x
            f['ids'] = np.arange(N, dtype=np.int64)
        with h5py.File(os.path.join(d, 'seed.h5'), 'w') as f:
            f['seed'] = seed.numpy().astype(np.float32)


def rel(got, want):
    got = np.asarray(got, np.float64).reshape(want.shape)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def cmd_compare(d, out, last):
    ref = np.load(os.path.join(d, 'ref.npz'))
    with h5py.File(out, 'r') as f:
        y = f['act'][last][()]
        g = f['grad/standard'][()]
    if y.size != ref['y'].size:
        raise SystemExit('output has %d values, PyTorch %s' % (y.size, ref['y'].shape))
    ey, eg = rel(y, ref['y']), rel(g, ref['grad'])
    print('output %s: error %.2g, input gradient %.2g of the largest |value|'
          % ('x'.join(map(str, ref['y'].shape[1:])), ey, eg))
    if ey > RTOL or eg > RTOL:
        raise SystemExit('differs from PyTorch: output %.3g, gradient %.3g (tolerance %g)' % (ey, eg, RTOL))


def cmd_bad(base):
    # output_shape that would need the output to grow at its start
    nodes, inits, cin, hw, _ = ct_case(4, 3, 3, 2, 1, 1, (5, 5), auto_pad='SAME_LOWER', output_shape=(13, 10))
    save(os.path.join(base, 'bad_grow.onnx'), nodes, inits, cin, hw)
    # Sum of three inputs, one a constant
    nodes, inits, cin, hw, _ = sum_case(3)
    inits.append(numpy_helper.from_array(np.ones((1, 4, 7, 6), np.float32), 'k'))
    nodes[-1].input[1] = 'k'
    save(os.path.join(base, 'bad_const.onnx'), nodes, inits, cin, hw)
    # Sum of three tensors of two shapes
    nodes, inits, cin, hw, _ = sum_case(3)
    nodes.insert(-1, helper.make_node('MaxPool', ['c2'], ['p2'], name='pool', kernel_shape=[2, 2], strides=[2, 2]))
    nodes[-1].input[2] = 'p2'
    save(os.path.join(base, 'bad_sum.onnx'), nodes, inits, cin, hw)
    # Max of a 4x7x6 and a 1x7x6 and a 4x7x6 map pooled to 4x3x3
    nodes, inits, cin, hw, _ = variadic_case('Max', 3)
    nodes.insert(-1, helper.make_node('MaxPool', ['c0'], ['q0'], name='pool', kernel_shape=[2, 2], strides=[2, 2]))
    nodes[-1].input[1] = 'q0'
    save(os.path.join(base, 'bad_max.onnx'), nodes, inits, cin, hw)
    # Min with a constant input
    nodes, inits, cin, hw, _ = variadic_case('Min', 2)
    inits.append(numpy_helper.from_array(np.zeros((1, 4, 7, 6), np.float32), 'k'))
    nodes[-1].input[1] = 'k'
    save(os.path.join(base, 'bad_min.onnx'), nodes, inits, cin, hw)


if __name__ == '__main__':
    a = sys.argv[1:]
    if a and a[0] == 'export':
        cmd_export(a[1])
    elif a and a[0] == 'compare':
        cmd_compare(a[1], a[2], a[3])
    elif a and a[0] == 'bad':
        cmd_bad(a[1])
    else:
        raise SystemExit(__doc__)

"""Reference side of tests/ref/deeplift_ops.sh: a small ONNX net built by
hand whose every nonlinearity is one of the newer pointwise ops (Elu
and Selu; Softplus on the third branch; ONNX has Mish only from opset 18) and whose branches join through elementwise Max, Min and Mean
of computed tensors:

  x 3x12x12 -> Conv a (4) -> Elu ---------+-- Max --+
            -> Conv b (4) -> Selu --------+         +-- Mean(max, min, elu) -> Conv 3x3
            -> Conv c (4) -> Softplus-------- Min --+   -> GlobalAveragePool -> Flatten -> Gemm (3)

  export DIR         DIR/model.onnx and DIR/images.h5 (3 images in [0, 1])
  sum DIR ATTR.h5    DeepLift's completeness: /attr summed per image equals
                     f(x) - f(0) of the predicted class (float64 PyTorch),
                     to 1e-4 of max |f(x) - f(0)|
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import onnx
from onnx import helper, numpy_helper, TensorProto


def weights():
    rng = np.random.default_rng(18)
    w = {}
    for k in 'abc':
        w[k] = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) / 3
        w[k + 'b'] = rng.standard_normal(4).astype(np.float32) * 0.3
    w['d'] = rng.standard_normal((5, 4, 3, 3)).astype(np.float32) / 6
    w['db'] = rng.standard_normal(5).astype(np.float32) * 0.1
    w['g'] = rng.standard_normal((3, 5)).astype(np.float32)
    w['gb'] = rng.standard_normal(3).astype(np.float32) * 0.1
    return w


def forward(w, x):
    t = {k: torch.from_numpy(v).double() for k, v in w.items()}
    a = F.elu(F.conv2d(x, t['a'], t['ab'], padding=1), 0.7)
    b = F.selu(F.conv2d(x, t['b'], t['bb'], padding=1))
    c = F.softplus(F.conv2d(x, t['c'], t['cb'], padding=1))
    m = (torch.maximum(a, b) + torch.minimum(b, c) + a) / 3
    d = F.conv2d(m, t['d'], t['db'], stride=2)
    return F.linear(d.mean((2, 3)), t['g'], t['gb'])


def cmd_export(d):
    w = weights()
    N = helper.make_node
    nodes = [N('Conv', ['x', 'a', 'ab'], ['ya'], name='conv_a', pads=[1, 1, 1, 1]),
             N('Conv', ['x', 'b', 'bb'], ['yb'], name='conv_b', pads=[1, 1, 1, 1]),
             N('Conv', ['x', 'c', 'cb'], ['yc'], name='conv_c', pads=[1, 1, 1, 1]),
             N('Elu', ['ya'], ['ea'], name='elu', alpha=0.7),
             N('Selu', ['yb'], ['sb'], name='selu'),
             N('Softplus', ['yc'], ['mc'], name='softplus'),
             N('Max', ['ea', 'sb'], ['mx'], name='max'),
             N('Min', ['sb', 'mc'], ['mn'], name='min'),
             N('Mean', ['mx', 'mn', 'ea'], ['me'], name='mean'),
             N('Conv', ['me', 'd', 'db'], ['cd'], name='conv_d', strides=[2, 2]),
             N('GlobalAveragePool', ['cd'], ['gp'], name='gap'),
             N('Flatten', ['gp'], ['fl'], name='flat'),
             N('Gemm', ['fl', 'g', 'gb'], ['y'], name='fc', transB=1)]
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    g = helper.make_graph(nodes, 'dlops', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 12, 12])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]), d + '/model.onnx')
    x = np.random.default_rng(5).random((3, 3, 12, 12)).astype(np.float32)
    with h5py.File(d + '/images.h5', 'w') as f:
        f.attrs['kind'] = 'images'
        f['images'] = x
        f['ids'] = np.arange(3, dtype=np.int64)


def cmd_sum(d, out):
    torch.set_default_dtype(torch.float64)
    w = weights()
    with h5py.File(d + '/images.h5') as f:
        x = torch.from_numpy(f['images'][...]).double()
    fx, f0 = forward(w, x), forward(w, torch.zeros_like(x))
    pred = fx.argmax(1)
    want = (fx - f0).gather(1, pred[:, None])[:, 0].numpy()
    with h5py.File(out) as f:
        got = f['attr'][...].reshape(len(x), -1).sum(1)
    err = np.abs(got - want).max() / np.abs(want).max()
    print('sum of attributions', got, 'f(x) - f(0)', want, 'relative error', err)
    # a rule missing for an op turns its gradient into the multiplier, and
    # the sum then misses f(x) - f(0) by percents on this net
    if not err < 1e-4:
        sys.exit('completeness fails: relative error %g' % err)


if __name__ == '__main__':
    {'export': lambda: cmd_export(sys.argv[2]),
     'sum': lambda: cmd_sum(sys.argv[2], sys.argv[3])}[sys.argv[1]]()

#!/usr/bin/python3
"""Independent NumPy forward pass of a TF.js layers model (model.json +
weight shards), read directly from the files: the reference cnn-import and
cnn-forward are checked against (tests/ref/import.sh).

  tfjs_ref.py images MODEL_DIR IMAGES.h5 PHOTOS...      PIL -> /images (N x 3 x H x W in [0,1])
  tfjs_ref.py random H W N IMAGES.h5                     N random images H x W
  tfjs_ref.py run MODEL IMAGES.h5 OUT.npy PREPROC        reference probabilities (N x classes);
                                                         MODEL: a TF.js folder or a Keras .h5
  tfjs_ref.py layers MODEL IMAGES.h5 FORWARD.h5 PREPROC NAMES TOL
                                                         /act/<name> equal the Keras layers' outputs
  tfjs_ref.py compare REF.npy FORWARD.h5 LABELS TOL      top-5 and probabilities to TOL
                                                         (LABELS "-": class numbers)
  tfjs_ref.py top1 PROBS LABELS ROW EXPECT MINP          row ROW's top class contains EXPECT, p >= MINP
                                                         (PROBS: REF.npy or FORWARD.h5's /probs)

Everything is NHWC and float64 here, as Keras computes it; nothing is
shared with the C code (no layout conversion, padding rule or weight
permutation is borrowed from it). PREPROC: "unit" (pixel/255, i.e. [0,1]
as is) or "pm1" ((pixel - 127.5) / 127.5).
"""
import json
import os
import sys

import numpy as np


def load_h5(path):
    import h5py
    with h5py.File(path, 'r') as f:
        cfg = json.loads(f.attrs['model_config'])
        weights = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                parts = name.split('/')   # layer/layer/role:0
                weights[parts[0] + '/' + parts[-1].split(':')[0]] = obj[()].astype(np.float64)
        f['model_weights'].visititems(visit)
    return cfg, weights


KERAS3 = False   # the model was written by Keras 3 (hard_sigmoid's slope 1/6)


def load_model(src):
    global KERAS3
    if src.endswith('.h5'):
        import h5py
        with h5py.File(src, 'r') as f:
            v = f.attrs.get('keras_version', b'2')
        v = v.decode() if isinstance(v, bytes) else str(v)
    else:
        with open(os.path.join(src, 'model.json')) as f:
            v = json.load(f)['modelTopology'].get('keras_version', '2')
    KERAS3 = v[:1] >= '3'
    return load_h5(src) if src.endswith('.h5') else load_tfjs(src)


def load_tfjs(d):
    with open(os.path.join(d, 'model.json')) as f:
        j = json.load(f)
    weights = {}
    for g in j['weightsManifest']:
        buf = b''.join(open(os.path.join(d, p), 'rb').read() for p in g['paths'])
        off = 0
        for w in g['weights']:
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            assert w.get('dtype', 'float32') == 'float32' and 'quantization' not in w
            a = np.frombuffer(buf, '<f4', n, off).reshape(w['shape'])
            off += 4 * n
            weights[w['name']] = a.astype(np.float64)
        assert off == len(buf), 'manifest and shards disagree'
    top = j['modelTopology']
    return top.get('model_config', top), weights


def same_pad(n, k, s, d=1):
    out = -(-n // s)
    tot = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return tot // 2, tot - tot // 2


def pad_hw(x, ph, pw, value=0.0):
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def windows(x, kh, kw, sh, sw):
    """N,H,W,C -> N,OH,OW,kh,kw,C views."""
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    st = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (st[0], st[1] * sh, st[2] * sw, st[1], st[2], st[3]))


def conv(x, k, stride, padding, depthwise=False):
    kh, kw = k.shape[:2]
    if padding == 'same':
        x = pad_hw(x, same_pad(x.shape[1], kh, stride[0]), same_pad(x.shape[2], kw, stride[1]))
    win = windows(x, kh, kw, stride[0], stride[1])
    if depthwise:   # k: kh, kw, C, M
        out = np.einsum('nyxijc,ijcm->nyxcm', win, k)
        return out.reshape(out.shape[:3] + (-1,))
    return np.tensordot(win, k, axes=([3, 4, 5], [0, 1, 2]))


def pool(x, size, stride, padding, kind):
    kh, kw = size
    if padding == 'same':
        ph, pw = same_pad(x.shape[1], kh, stride[0]), same_pad(x.shape[2], kw, stride[1])
        if kind == 'max':
            x = pad_hw(x, ph, pw, -np.inf)
        else:   # TF averages over the real pixels only
            ones = pad_hw(np.ones(x.shape[:3] + (1,)), ph, pw)
            x = pad_hw(x, ph, pw)
            s = windows(x, kh, kw, *stride).sum(axis=(3, 4))
            cnt = windows(ones, kh, kw, *stride).sum(axis=(3, 4))
            return s / cnt
    win = windows(x, kh, kw, *stride)
    return win.max(axis=(3, 4)) if kind == 'max' else win.mean(axis=(3, 4))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gelu(v):
    from math import erf, sqrt
    return 0.5 * v * (1 + np.vectorize(erf)(v / sqrt(2)))


def activation(x, a):
    sig = lambda v: 1 / (1 + np.exp(-v))
    hsig = (lambda v: np.clip(v + 3, 0, 6) / 6) if KERAS3 else (lambda v: np.clip(0.2 * v + 0.5, 0, 1))
    return {'linear': lambda v: v, 'relu': lambda v: np.maximum(v, 0),
            'relu6': lambda v: np.clip(v, 0, 6), 'softmax': softmax,
            'sigmoid': sig, 'tanh': np.tanh,
            'swish': lambda v: v * sig(v), 'silu': lambda v: v * sig(v), 'gelu': gelu,
            'hard_sigmoid': hsig, 'hard_silu': lambda v: v * np.clip(v + 3, 0, 6) / 6,
            'elu': lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
            'softplus': lambda v: np.logaddexp(0, v),
            'log_softmax': lambda v: np.log(softmax(v))}[a](x)


def forward(cfg, W, x, keep=None):
    seq = isinstance(cfg['config'], list)
    layers = cfg['config'] if seq else cfg['config']['layers']
    out = {}
    prev = None
    for L in layers:
        c, cls = L['config'], L['class_name']
        name = c['name']
        if seq:
            ins = [x if prev is None else out[prev]]
        else:
            ins = [out[i[0]] for i in L['inbound_nodes'][0]] if L['inbound_nodes'] else [x]
        prev = name
        t = ins[0]
        if cls == 'InputLayer':
            y = x
        elif cls in ('Conv2D', 'DepthwiseConv2D'):
            dw = cls == 'DepthwiseConv2D'
            y = conv(t, W[name + ('/depthwise_kernel' if dw else '/kernel')], c['strides'],
                     c['padding'], dw)
            if c['use_bias']:
                y = y + W[name + '/bias']
            y = activation(y, c['activation'])
        elif cls == 'BatchNormalization':
            g, b = W[name + '/gamma'], W[name + '/beta']
            m, v = W[name + '/moving_mean'], W[name + '/moving_variance']
            y = (t - m) / np.sqrt(v + c['epsilon']) * g + b
        elif cls == 'LeakyReLU':
            y = np.where(t > 0, t, c['alpha'] * t)
        elif cls == 'ReLU':
            y = np.maximum(t, 0) if c.get('max_value') is None else np.clip(t, 0, c['max_value'])
        elif cls == 'Activation':
            y = activation(t, c['activation'])
        elif cls == 'ZeroPadding2D':
            (a, b), (l, r) = c['padding']
            y = pad_hw(t, (a, b), (l, r))
        elif cls in ('MaxPooling2D', 'AveragePooling2D'):
            y = pool(t, c['pool_size'], c['strides'] or c['pool_size'], c['padding'],
                     'max' if cls.startswith('Max') else 'avg')
        elif cls == 'GlobalAveragePooling2D':
            y = t.mean(axis=(1, 2))
        elif cls == 'Reshape':
            y = t.reshape((t.shape[0],) + tuple(c['target_shape']))
        elif cls == 'Flatten':
            y = t.reshape(t.shape[0], -1)
        elif cls == 'Dropout':
            y = t
        elif cls == 'Add':
            y = sum(ins)
        elif cls == 'Multiply':
            y = ins[0] * ins[1]
        elif cls == 'Concatenate':
            y = np.concatenate(ins, axis=-1)
        elif cls == 'Softmax':
            y = softmax(t)
        elif cls == 'Dense':
            y = activation(t @ W[name + '/kernel'] + (W[name + '/bias'] if c['use_bias'] else 0),
                           c['activation'])
        else:
            raise SystemExit('tfjs_ref: layer class %s not implemented' % cls)
        out[name] = y
    if keep is not None:
        return out
    o = out[prev if seq else cfg['config']['output_layers'][0][0]]
    return o.reshape(o.shape[0], -1)


def cmd_images(mdir, path, photos):
    import h5py
    from PIL import Image
    del mdir
    imgs = []
    for p in photos:
        im = Image.open(p).convert('RGB').resize((224, 224), Image.BILINEAR)
        imgs.append(np.asarray(im, np.float32).transpose(2, 0, 1) / 255.0)
    with h5py.File(path, 'w') as f:
        f['images'] = np.stack(imgs).astype(np.float32)
        f['ids'] = np.arange(len(imgs), dtype=np.int64)
        f.attrs['kind'] = 'images'


def cmd_run(mdir, images, out, pre):
    import h5py
    cfg, W = load_model(mdir)
    with h5py.File(images, 'r') as f:
        x = f['images'][()].astype(np.float64).transpose(0, 2, 3, 1)   # N,H,W,C
    if pre == 'pm1':
        x = (x * 255.0 - 127.5) / 127.5
    o = forward(cfg, W, x)
    if not np.allclose(o.sum(axis=1), 1.0, atol=1e-6):   # darknet has no softmax: add it
        o = softmax(o)
    np.save(out, o)


def cmd_random(h, w, n, path):
    import h5py
    x = np.random.default_rng(3).random((int(n), 3, int(h), int(w))).astype(np.float32)
    with h5py.File(path, 'w') as f:
        f['images'] = x
        f['ids'] = np.arange(int(n), dtype=np.int64)
        f.attrs['kind'] = 'images'


def cmd_layers(mdir, images, fwd, pre, names, tol):
    """Activations at Keras layer names equal the file's /act/<name>."""
    import h5py
    cfg, W = load_model(mdir)
    with h5py.File(images, 'r') as f:
        x = f['images'][()].astype(np.float64).transpose(0, 2, 3, 1)
    if pre == 'pm1':
        x = (x * 255.0 - 127.5) / 127.5
    out = forward(cfg, W, x, keep=True)
    bad = []
    with h5py.File(fwd, 'r') as f:
        for n in names.split(','):
            a = f['act/' + n][()].astype(np.float64)
            r = out[n]
            r = r.transpose(0, 3, 1, 2) if r.ndim == 4 else r
            r = r.reshape(a.shape)
            d = np.abs(a - r).max() / max(1.0, np.abs(r).max())
            print('# %s %s max rel diff %.2g' % (n, 'x'.join(map(str, a.shape)), d))
            if d > float(tol):
                bad.append(n)
    if bad:
        raise SystemExit('activations differ at ' + ', '.join(bad))


def labels(path, n=None):
    if path == '-':
        return [str(i) for i in range(n)]
    return [s.rstrip('\r\n') for s in open(path, encoding='utf-8')]


def cmd_compare(ref, fwd, lab, tol):
    import h5py
    r = np.load(ref)
    with h5py.File(fwd, 'r') as f:
        p = f['probs'][()].astype(np.float64)
    names = labels(lab, r.shape[1])
    assert p.shape == r.shape, 'shapes %s vs %s' % (p.shape, r.shape)
    bad = 0
    for i in range(len(r)):
        tr, tp = np.argsort(-r[i])[:5], np.argsort(-p[i])[:5]
        d = np.abs(r[i] - p[i]).max()
        print('# %d: ours %s | numpy %s | max |dp| %.2g' % (
            i, ', '.join('%s %.4f' % (names[k].split(',')[0], p[i, k]) for k in tp),
            ', '.join('%s %.4f' % (names[k].split(',')[0], r[i, k]) for k in tr), d))
        if list(tr) != list(tp) or d > tol:
            bad += 1
    if bad:
        raise SystemExit('%d of %d images differ (top-5 or probabilities beyond %g)'
                         % (bad, len(r), tol))


def cmd_top1(ref, lab, row, expect, minp):
    if ref.endswith('.h5'):
        import h5py
        with h5py.File(ref, 'r') as f:
            r = f['probs'][int(row)].astype(np.float64)
    else:
        r = np.load(ref)[int(row)]
    k = int(np.argmax(r))
    name = labels(lab)[k]
    print('# %s %.3f' % (name, r[k]))
    if expect.lower() not in name.lower() or r[k] < float(minp):
        raise SystemExit('top-1 is %s %.3f, expected %s >= %s' % (name, r[k], expect, minp))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'images':
        cmd_images(args[0], args[1], args[2:])
    elif cmd == 'random':
        cmd_random(*args)
    elif cmd == 'run':
        cmd_run(*args)
    elif cmd == 'layers':
        cmd_layers(*args)
    elif cmd == 'compare':
        cmd_compare(args[0], args[1], args[2], float(args[3]))
    elif cmd == 'top1':
        cmd_top1(*args)
    else:
        raise SystemExit(__doc__)

#!/usr/bin/python3
"""Keras 3 .keras archives (and Keras 2 .h5 files) written without Keras,
and a float64 PyTorch reading of the same nets, for cnn-import's tests.

  keras3_ref.py make OUTDIR            every case below: OUTDIR/CASE/model.keras
                                       (+ model.h5 and the TF.js folder tfjs/
                                       for the Keras 2 cases),
                                       images.h5 and ref.npz (logits, the input
                                       gradient of logit CLASS, the tested
                                       layer's activation), layers.txt (their
                                       names, a line per format)
  keras3_ref.py logits DIR ACTS        /logits of ACTS against ref.npz (1e-4 of
                                       the largest |logit|)
  keras3_ref.py grad DIR MAPS          /attr of MAPS (cnn-saliency -M gradient
                                       -t class=7) against ref.npz
  keras3_ref.py layer DIR ACTS NAME    /act/NAME against the layer's output
  keras3_ref.py verify DIR ACTS MAPS [_k2]   all three, one result line each
  keras3_ref.py bad OUTDIR             broken archives for tests/cli/keras_bad.sh

The archives follow Keras 3's saving_lib: a zip of metadata.json
(keras_version), config.json (serialize_keras_object of the model: module,
class_name, config, registered_name, build_config; functional layers with
inbound_nodes [{"args": [...], "kwargs": {}}] whose tensors are
__keras_tensor__ objects with keras_history) and model.weights.h5 (each
layer's variables at layers/<snake_case class name>[_n]/vars/<i>, the
trainable ones in creation order, then the others, the layers in the
config's order and counted per class). The names of those groups are
written out below as Keras spells them, not computed.

The reference evaluates each layer as Keras defines it, in NHWC float64:
TF "same" padding (the odd row at the bottom/right), conv2d_transpose as
Keras 3's JAX backend pads it, UpSampling2D by repetition or half-pixel bilinear, merge layers that expand
lower-rank inputs at axis 1 and then broadcast, LayerNormalization over the
last axis, Flatten in HWC order.
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np

CLASS = 7
RTOL = 1e-4
H, W, C = 6, 7, 3

# Keras' group names for the classes used here (naming.to_snake_case).
SNAKE = {
    'InputLayer': 'input_layer', 'Conv2D': 'conv2d', 'Dense': 'dense',
    'DepthwiseConv2D': 'depthwise_conv2d', 'SeparableConv2D': 'separable_conv2d',
    'BatchNormalization': 'batch_normalization', 'LayerNormalization': 'layer_normalization',
    'Conv2DTranspose': 'conv2d_transpose', 'UpSampling2D': 'up_sampling2d',
    'Activation': 'activation', 'Add': 'add', 'Subtract': 'subtract', 'Multiply': 'multiply',
    'Average': 'average', 'GlobalAveragePooling2D': 'global_average_pooling2d',
    'GlobalMaxPooling2D': 'global_max_pooling2d', 'Flatten': 'flatten', 'PReLU': 'p_re_lu',
    'ELU': 'elu', 'Reshape': 'reshape', 'Rescaling': 'rescaling',
    'Normalization': 'normalization', 'Maximum': 'maximum', 'Permute': 'permute',
    'Minimum': 'minimum', 'Dot': 'dot',
}
# Keras 2's weight names per class, in the order Keras 3 saves them.
ROLES = {
    'Conv2D': ['kernel', 'bias'], 'Dense': ['kernel', 'bias'],
    'Conv2DTranspose': ['kernel', 'bias'],
    'DepthwiseConv2D': ['depthwise_kernel', 'bias'],
    'SeparableConv2D': ['depthwise_kernel', 'pointwise_kernel', 'bias'],
    'BatchNormalization': ['gamma', 'beta', 'moving_mean', 'moving_variance'],
    'LayerNormalization': ['gamma', 'beta'], 'PReLU': ['alpha'],
    'Normalization': ['mean', 'variance', 'count'],
}


def L(cls, name, inputs, **cfg):
    return {'cls': cls, 'name': name, 'in': inputs, 'cfg': cfg}


# ----------------------------------------------------------------- cases

def conv(name, src, f, k=1, **kw):
    cfg = dict(filters=f, kernel_size=[k, k], strides=[1, 1], padding='same',
               data_format='channels_last', dilation_rate=[1, 1], groups=1,
               activation='linear', use_bias=True)
    cfg.update(kw)
    return L('Conv2D', name, [src], **cfg)


def head(src, flat=True):
    out = [L('Flatten', 'flat', [src], data_format='channels_last')] if flat else []
    out.append(L('Dense', 'logits', ['flat' if flat else src], units=10, activation='linear',
                 use_bias=True))
    return out


def inp():
    return L('InputLayer', 'image', None, batch_shape=[None, H, W, C], dtype='float32',
             sparse=False)


def iso(layer, pre=6):
    """input -> 1x1 conv (pre channels) -> the layer -> Flatten -> Dense."""
    return [inp(), conv('pre', 'image', pre)] + [layer] + head(layer['name'])


def deconv(name, src, f, k, s, padding, **kw):
    cfg = dict(filters=f, kernel_size=list(k), strides=list(s), padding=padding,
               data_format='channels_last', dilation_rate=[1, 1], activation='linear',
               use_bias=True, output_padding=None)
    cfg.update(kw)
    return L('Conv2DTranspose', name, [src], **cfg)


def cases():
    c = {}
    for act in ['swish', 'silu', 'gelu', 'hard_sigmoid', 'hard_silu', 'elu', 'softplus',
                'sigmoid', 'selu', 'mish']:
        c['act_' + act] = iso(L('Activation', 'act', ['pre'], activation=act))
    # merges of a map (6x7x4), a one-channel map (6x7x1), a 1x1x4 map and
    # a 4-vector: NumPy broadcasting, rank-2 inputs expanded at axis 1
    stem = [inp(), conv('a', 'image', 4), conv('b', 'image', 1),
            L('GlobalAveragePooling2D', 'g', ['a'], data_format='channels_last', keepdims=True),
            L('GlobalAveragePooling2D', 'gv', ['b'], data_format='channels_last',
              keepdims=False),
            L('Dense', 'v', ['gv'], units=4, activation='tanh', use_bias=True)]
    c['add_bcast'] = stem + [L('Add', 'merge', ['a', 'b', 'g'])] + head('merge')
    c['sub_bcast'] = stem + [L('Subtract', 'merge', ['b', 'g'])] + head('merge')
    c['mul_bcast'] = stem + [L('Multiply', 'merge', ['a', 'g', 'b'])] + head('merge')
    c['avg_bcast'] = stem + [L('Average', 'merge', ['a', 'v', 'b'])] + head('merge')
    c['max_bcast'] = stem + [L('Maximum', 'merge', ['a', 'b', 'g'])] + head('merge')
    c['min_bcast'] = stem + [L('Minimum', 'merge', ['a', 'v', 'b'])] + head('merge')
    # Permute where no data moves: the identity, and a 1 x 1 x C map to C x 1 x 1
    c['permute_identity'] = iso(L('Permute', 'perm', ['pre'], dims=[1, 2, 3]))
    c['permute_vector'] = [inp(), conv('pre', 'image', 4),
                           L('GlobalAveragePooling2D', 'g', ['pre'], data_format='channels_last',
                             keepdims=True),
                           L('Permute', 'perm', ['g'], dims=[3, 1, 2])] + head('perm')
    c['layernorm'] = iso(L('LayerNormalization', 'ln', ['pre'], axis=[-1], epsilon=1e-3,
                           center=True, scale=True, rms_scaling=False))
    c['layernorm_flat'] = [inp(), conv('pre', 'image', 4),
                           L('Flatten', 'flat', ['pre'], data_format='channels_last'),
                           L('LayerNormalization', 'ln', ['flat'], axis=-1, epsilon=1e-5,
                             center=True, scale=True),
                           L('Dense', 'logits', ['ln'], units=10, activation='linear',
                             use_bias=True)]
    c['up_nearest'] = iso(L('UpSampling2D', 'up', ['pre'], size=[2, 3],
                            data_format='channels_last', interpolation='nearest'))
    c['up_bilinear'] = iso(L('UpSampling2D', 'up', ['pre'], size=[2, 2],
                             data_format='channels_last', interpolation='bilinear'))
    c['deconv_same'] = iso(deconv('dc', 'pre', 5, (3, 2), (2, 1), 'same'))
    c['deconv_valid'] = iso(deconv('dc', 'pre', 5, (3, 3), (2, 2), 'valid', activation='relu'))
    c['deconv_k1s2'] = iso(deconv('dc', 'pre', 3, (1, 1), (2, 2), 'valid'))
    c['deconv_outpad'] = iso(deconv('dc', 'pre', 4, (4, 3), (2, 2), 'same',
                                    output_padding=[1, 0]))
    c['deconv_dilated'] = iso(deconv('dc', 'pre', 4, (3, 3), (1, 1), 'same',
                                     dilation_rate=[2, 2], use_bias=False))
    c['gmp'] = [inp(), conv('pre', 'image', 6, 3),
                L('GlobalMaxPooling2D', 'gmp', ['pre'], data_format='channels_last',
                  keepdims=False),
                L('Dense', 'logits', ['gmp'], units=10, activation='linear', use_bias=True)]
    c['prelu'] = iso(L('PReLU', 'pr', ['pre'], shared_axes=[1, 2]))
    c['elu_layer'] = iso(L('ELU', 'el', ['pre'], alpha=0.7))
    # Keras applications' preprocessing: raw 0..255 pixels, Rescaling, then
    # Normalization by adapted statistics (weights), then another Rescaling
    c['norm_pre'] = [inp(), L('Rescaling', 'rescale', ['image'], scale=1 / 255.0, offset=0.0),
                     L('Normalization', 'norm', ['rescale'], axis=-1, mean=None,
                       variance=None, invert=False),
                     L('Rescaling', 'rescale2', ['norm'], scale=0.5, offset=0.25),
                     conv('pre', 'rescale2', 4, 3)] + head('pre')
    c['mix'] = [
        inp(), conv('stem', 'image', 8, 3, strides=[2, 2], activation='relu'),
        L('BatchNormalization', 'bn', ['stem'], axis=-1, momentum=0.99, epsilon=1e-3,
          center=True, scale=True),
        L('DepthwiseConv2D', 'dw', ['bn'], kernel_size=[3, 3], strides=[1, 1], padding='same',
          depth_multiplier=1, data_format='channels_last', dilation_rate=[1, 1],
          activation='swish', use_bias=True),
        L('SeparableConv2D', 'sep', ['dw'], filters=8, kernel_size=[3, 3], strides=[1, 1],
          padding='same', depth_multiplier=1, data_format='channels_last',
          dilation_rate=[1, 1], activation='linear', use_bias=True),
        L('LayerNormalization', 'ln', ['sep'], axis=-1, epsilon=1e-6, center=True,
          scale=True),
        L('Activation', 'gelu', ['ln'], activation='gelu'),
        L('GlobalAveragePooling2D', 'se_pool', ['gelu'], data_format='channels_last',
          keepdims=True),
        conv('se_reduce', 'se_pool', 4, activation='relu'),
        conv('se_expand', 'se_reduce', 8, activation='hard_sigmoid'),
        L('Multiply', 'se', ['gelu', 'se_expand']),
        deconv('up', 'se', 6, (3, 3), (2, 2), 'same'),
        L('UpSampling2D', 'up2', ['up'], size=[2, 2], data_format='channels_last',
          interpolation='bilinear'),
        conv('side', 'up2', 1, 1, activation='tanh'),
        L('Subtract', 'diff', ['up2', 'side']),
        L('Activation', 'hsw', ['diff'], activation='hard_silu'),
        L('GlobalMaxPooling2D', 'gmp', ['hsw'], data_format='channels_last', keepdims=False),
        L('Dense', 'logits', ['gmp'], units=10, activation='linear', use_bias=True)]
    return c


TESTED = {'merge', 'ln', 'up', 'dc', 'gmp', 'pr', 'el', 'act', 'se', 'diff', 'hsw'}
RAW255 = {'norm_pre'}   # the model wants 0..255 pixels: ours are [0, 1]
KERAS2 = {'norm_pre', 'mix', 'add_bcast', 'deconv_same', 'up_bilinear', 'act_hard_sigmoid'}
SEQUENTIAL = {'up_nearest', 'deconv_outpad'}


# ------------------------------------------------------ the PyTorch reading

def same_pads(n, k, s, d=1):
    eff = (k - 1) * d + 1
    out = -(-n // s)
    tot = max((out - 1) * s + eff - n, 0)
    return tot // 2, tot - tot // 2


def keras_conv(torch, x, K, b, cfg, groups=1):
    F = torch.nn.functional
    kh, kw = K.shape[2], K.shape[3]
    s, d = cfg.get('strides', [1, 1]), cfg.get('dilation_rate', [1, 1])
    if cfg.get('padding', 'valid') == 'same':
        t, bo = same_pads(x.shape[2], kh, s[0], d[0])
        le, r = same_pads(x.shape[3], kw, s[1], d[1])
        x = F.pad(x, (le, r, t, bo))
    return F.conv2d(x, K, b, stride=tuple(s), dilation=tuple(d), groups=groups)


def deconv_len(n, k, s, d, padding, op):
    k = k + (k - 1) * (d - 1)
    if op is None:
        return n * s if padding == 'same' else n * s + max(k - s, 0)
    pad = k // 2 if padding == 'same' else 0
    return (n - 1) * s + k - 2 * pad + op


def keras_deconv(torch, x, K, b, cfg):
    """Conv2DTranspose as Keras 3's JAX backend computes it (its padding of
    the stride-dilated input, backend_utils' conversion from Keras'
    arguments, which its tests hold equal to TensorFlow's): left pad
    min(ceil(p / 2), k - 1) of p = s + k - 2 (same), k + k % 2 - 2 +
    output_padding (same with output_padding), or k - 1 (valid); the
    full transposed conv pads k - 1, so the crop at the top is the
    difference; the output size is Keras' and missing rows are zeros."""
    F = torch.nn.functional
    s, d = cfg['strides'], cfg['dilation_rate']
    op = cfg.get('output_padding') or [None, None]
    Wt = K.permute(3, 2, 0, 1)            # kh kw out in -> in out kh kw
    full = F.conv_transpose2d(x, Wt, None, stride=tuple(s), dilation=tuple(d))
    out = []
    for a in range(2):
        n, k = x.shape[2 + a], (K.shape[a] - 1) * d[a] + 1
        if cfg['padding'] == 'valid':
            left = k - 1
        else:
            p = s[a] + k - 2 if op[a] is None else k + k % 2 - 2 + op[a]
            left = min(p // 2 + p % 2, k - 1)
        out.append((k - 1 - left, deconv_len(n, K.shape[a], s[a], d[a], cfg['padding'], op[a])))
    y = torch.zeros(full.shape[0], full.shape[1], out[0][1], out[1][1], dtype=full.dtype)
    (t, oh), (le, ow) = out
    hh = min(oh, full.shape[2] - t)
    ww = min(ow, full.shape[3] - le)
    y[:, :, :hh, :ww] = full[:, :, t:t + hh, le:le + ww]
    if b is not None:
        y = y + b.view(1, -1, 1, 1)
    return y


def activation(torch, x, act, keras3):
    F = torch.nn.functional
    if act == 'linear':
        return x
    if act == 'relu':
        return F.relu(x)
    if act in ('swish', 'silu'):
        return x * torch.sigmoid(x)
    if act == 'gelu':
        return 0.5 * x * (1 + torch.erf(x / np.sqrt(2.0)))
    if act == 'hard_sigmoid':
        return torch.clamp(x / 6 + 0.5, 0, 1) if keras3 else torch.clamp(0.2 * x + 0.5, 0, 1)
    if act == 'hard_silu':
        return x * torch.clamp(x / 6 + 0.5, 0, 1)
    if act == 'elu':
        return torch.where(x > 0, x, torch.exp(x) - 1)
    if act == 'softplus':
        return torch.log1p(torch.exp(x))
    if act == 'sigmoid':
        return torch.sigmoid(x)
    if act == 'tanh':
        return torch.tanh(x)
    if act == 'selu':
        return 1.05070098 * torch.where(x > 0, x, 1.67326324 * (torch.exp(x) - 1))
    if act == 'mish':
        return x * torch.tanh(torch.log1p(torch.exp(x)))
    raise ValueError(act)


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def new_weights(rng, lay, shapes):
    """Random weights of a layer in Keras layout, given its input shapes
    (without the batch)."""
    cls, cfg = lay['cls'], lay['cfg']
    s = shapes[0]
    g = lambda *d, sd=1.0: rng.normal(0, sd, d)
    if cls == 'Conv2D':
        k = cfg['kernel_size']
        fan = k[0] * k[1] * s[-1]
        return [g(k[0], k[1], s[-1], cfg['filters'], sd=1.3 / np.sqrt(fan)),
                g(cfg['filters'], sd=0.2)]
    if cls == 'Dense':
        return [g(s[-1], cfg['units'], sd=1.5 / np.sqrt(s[-1])), g(cfg['units'], sd=0.2)]
    if cls == 'DepthwiseConv2D':
        k = cfg['kernel_size']
        return [g(k[0], k[1], s[-1], cfg['depth_multiplier'], sd=1.0 / k[0]),
                g(s[-1] * cfg['depth_multiplier'], sd=0.1)]
    if cls == 'SeparableConv2D':
        k, m = cfg['kernel_size'], cfg['depth_multiplier']
        return [g(k[0], k[1], s[-1], m, sd=1.0 / k[0]),
                g(1, 1, s[-1] * m, cfg['filters'], sd=1.2 / np.sqrt(s[-1] * m)),
                g(cfg['filters'], sd=0.1)]
    if cls == 'BatchNormalization':
        c = s[-1]
        return [rng.uniform(0.5, 1.5, c), g(c, sd=0.1), g(c, sd=0.2), rng.uniform(0.5, 1.5, c)]
    if cls == 'LayerNormalization':
        c = s[-1]
        return [rng.uniform(0.5, 1.5, c), g(c, sd=0.2)]
    if cls == 'Conv2DTranspose':
        k = cfg['kernel_size']
        w = [g(k[0], k[1], cfg['filters'], s[-1], sd=1.5 / np.sqrt(k[0] * k[1] * s[-1]))]
        return w + ([g(cfg['filters'], sd=0.2)] if cfg.get('use_bias', True) else [])
    if cls == 'PReLU':
        return [rng.uniform(0.05, 0.5, (1, 1, s[-1]))]
    if cls == 'Normalization':
        c = s[-1]
        return [rng.uniform(0.3, 0.6, c), rng.uniform(0.02, 0.08, c), np.array(1000.0)]
    return []


def run(torch, layers, x, keras3, weights=None, rng=None, raw255=False):
    """Evaluate the net on NCHW float64 x; returns (outputs by name in
    NHWC or N x D, weights by name as NumPy arrays in Keras layout)."""
    F = torch.nn.functional
    out = {}
    weights = {} if weights is None else weights
    T = lambda a: torch.tensor(a, dtype=torch.float64)
    for lay in layers:
        cls, cfg, nm = lay['cls'], lay['cfg'], lay['name']
        if cls == 'InputLayer':
            out[nm] = nhwc(x) * (255.0 if raw255 else 1.0)
            continue
        ins = [out[i] for i in lay['in']]
        if nm not in weights:
            weights[nm] = new_weights(rng, lay, [tuple(t.shape[1:]) for t in ins])
        w = [T(a) for a in weights[nm]]
        a = ins[0]
        if cls == 'Conv2D':
            y = nhwc(keras_conv(torch, nchw(a), w[0].permute(3, 2, 0, 1), w[1], cfg))
        elif cls == 'DepthwiseConv2D':
            k = w[0]
            K = k.permute(2, 3, 0, 1).reshape(k.shape[2] * k.shape[3], 1, k.shape[0], k.shape[1])
            y = nhwc(keras_conv(torch, nchw(a), K, w[1], cfg, groups=k.shape[2]))
        elif cls == 'SeparableConv2D':
            k = w[0]
            K = k.permute(2, 3, 0, 1).reshape(k.shape[2] * k.shape[3], 1, k.shape[0], k.shape[1])
            y = keras_conv(torch, nchw(a), K, None, cfg, groups=k.shape[2])
            y = nhwc(F.conv2d(y, w[1].permute(3, 2, 0, 1), w[2]))
        elif cls == 'Dense':
            y = a @ w[0] + w[1]
        elif cls == 'BatchNormalization':
            y = (a - w[2]) / torch.sqrt(w[3] + cfg['epsilon']) * w[0] + w[1]
        elif cls == 'LayerNormalization':
            mu = a.mean(-1, keepdim=True)
            var = ((a - mu) ** 2).mean(-1, keepdim=True)
            y = (a - mu) / torch.sqrt(var + cfg['epsilon']) * w[0] + w[1]
        elif cls == 'Conv2DTranspose':
            y = nhwc(keras_deconv(torch, nchw(a), w[0], w[1] if len(w) > 1 else None, cfg))
        elif cls == 'UpSampling2D':
            sz = cfg['size']
            if cfg['interpolation'] == 'nearest':
                y = a.repeat_interleave(sz[0], 1).repeat_interleave(sz[1], 2)
            else:
                y = nhwc(F.interpolate(nchw(a), scale_factor=tuple(sz), mode='bilinear',
                                       align_corners=False))
        elif cls in ('Maximum', 'Minimum'):
            r = max(t.dim() for t in ins)
            ins = list(ins)
            for i, t in enumerate(ins):
                while t.dim() < r:
                    t = t.unsqueeze(1)
                ins[i] = t
            st = torch.stack(torch.broadcast_tensors(*ins))
            y = st.amax(0) if cls == 'Maximum' else st.amin(0)
        elif cls == 'Permute':
            y = a.permute(0, *cfg['dims'])
        elif cls in ('Add', 'Subtract', 'Multiply', 'Average'):
            r = max(t.dim() for t in ins)
            ins = list(ins)
            for i, t in enumerate(ins):
                while t.dim() < r:
                    t = t.unsqueeze(1)
                ins[i] = t
            y = ins[0]
            for t in ins[1:]:
                y = y - t if cls == 'Subtract' else y * t if cls == 'Multiply' else y + t
            if cls == 'Average':
                y = y / len(ins)
        elif cls == 'GlobalAveragePooling2D':
            y = a.mean((1, 2), keepdim=cfg.get('keepdims', False))
        elif cls == 'GlobalMaxPooling2D':
            y = a.amax((1, 2), keepdim=cfg.get('keepdims', False))
        elif cls == 'Flatten':
            y = a.reshape(a.shape[0], -1)
        elif cls == 'Activation':
            y = activation(torch, a, cfg['activation'], keras3)
        elif cls == 'PReLU':
            y = torch.clamp(a, min=0) + w[0] * torch.clamp(a, max=0)
        elif cls == 'Rescaling':
            y = a * cfg['scale'] + cfg['offset']
        elif cls == 'Normalization':
            y = (a - w[0]) / torch.clamp(torch.sqrt(w[1]), min=1e-7)
        elif cls == 'ELU':
            y = torch.where(a > 0, a, cfg['alpha'] * (torch.exp(a) - 1))
        else:
            raise ValueError(cls)
        if cls in ('Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense', 'Conv2DTranspose'):
            y = activation(torch, y, cfg.get('activation', 'linear'), keras3)
        out[nm] = y
    return out, weights


# --------------------------------------------------------------- writers

def dtype_policy():
    return {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {'name': 'float32'},
            'registered_name': None}


def ktensor(name, shape):
    return {'class_name': '__keras_tensor__',
            'config': {'shape': [None] + list(shape), 'dtype': 'float32',
                       'keras_history': [name, 0, 0]}}


def k3_config(layers, shapes, sequential=False):
    ls = []
    for lay in layers:
        cfg = dict(lay['cfg'])
        cfg['name'] = lay['name']
        if lay['cls'] != 'InputLayer':
            cfg['trainable'] = True
            cfg['dtype'] = dtype_policy()
        module = 'keras.layers'
        d = {'module': module, 'class_name': lay['cls'], 'config': cfg, 'registered_name': None}
        if lay['cls'] != 'InputLayer':
            bs = [[None] + list(shapes[i]) for i in lay['in']]
            d['build_config'] = {'input_shape': bs[0] if len(bs) == 1 else bs}
        if not sequential:
            d['name'] = lay['name']
            if lay['in'] is None:
                d['inbound_nodes'] = []
            else:
                ts = [ktensor(i, shapes[i]) for i in lay['in']]
                d['inbound_nodes'] = [{'args': ts if len(ts) == 1 else [ts], 'kwargs': {}}]
        ls.append(d)
    if sequential:
        return {'module': 'keras', 'class_name': 'Sequential',
                'config': {'name': 'sequential', 'trainable': True, 'dtype': dtype_policy(),
                           'layers': ls},
                'registered_name': None,
                'build_config': {'input_shape': [None] + list(shapes[layers[0]['name']])},
                'compile_config': None}
    return {'module': 'keras.src.models.functional', 'class_name': 'Functional',
            'config': {'name': 'functional', 'trainable': True, 'layers': ls,
                       'input_layers': [[layers[0]['name'], 0, 0]],
                       'output_layers': [[layers[-1]['name'], 0, 0]]},
            'registered_name': 'Functional', 'build_config': {'input_shape': None},
            'compile_config': None}


def k3_weights_h5(layers, weights):
    bio = io.BytesIO()
    with h5py.File(bio, 'w') as f:
        top = f.create_group('layers')
        used = {}
        for lay in layers:
            sn = SNAKE[lay['cls']]
            if sn in used:
                used[sn] += 1
                sn = '%s_%d' % (sn, used[sn])
            else:
                used[sn] = 0
            v = top.create_group(sn).create_group('vars')
            for i, a in enumerate(weights.get(lay['name'], [])):
                v[str(i)] = np.asarray(a, np.float32)
        f.create_group('vars')
    return bio.getvalue()


def write_keras(path, layers, weights, shapes, sequential=False, stored=True, members=None):
    cfg = json.dumps(k3_config(layers, shapes, sequential))
    meta = json.dumps({'keras_version': '3.3.3', 'date_saved': '2026-12-03@22:00:00'})
    wh5 = k3_weights_h5(layers, weights)
    mem = {'metadata.json': meta, 'config.json': cfg, 'model.weights.h5': wh5}
    if members is not None:
        mem = members(mem)
    comp = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, 'w', comp) as z:
        for k, v in mem.items():
            z.writestr(k, v)


def keras2_config(layers):
    ls = []
    for lay in layers:
        cfg = dict(lay['cfg'])
        cfg['name'] = lay['name']
        if lay['cls'] == 'InputLayer':
            cfg['batch_input_shape'] = cfg.pop('batch_shape')
            cfg.pop('sparse', None)
        ls.append({'class_name': lay['cls'], 'name': lay['name'], 'config': cfg,
                   'inbound_nodes': [] if lay['in'] is None else
                   [[[i, 0, 0, {}] for i in lay['in']]]})
    return {'class_name': 'Functional',
            'config': {'name': 'model', 'layers': ls,
                       'input_layers': [[layers[0]['name'], 0, 0]],
                       'output_layers': [[layers[-1]['name'], 0, 0]]}}


def write_tfjs(d, layers, weights):
    """A TF.js layers folder as tensorflowjs_converter writes one from a
    Keras 2 model: model.json (modelTopology + weightsManifest) and one
    little-endian float32 shard."""
    os.makedirs(d, exist_ok=True)
    man, blob = [], b''
    for lay in layers:
        for r, a in zip(ROLES.get(lay['cls'], []), weights.get(lay['name'], [])):
            a = np.asarray(a, '<f4')
            man.append({'name': '%s/%s' % (lay['name'], r), 'shape': list(a.shape),
                        'dtype': 'float32'})
            blob += a.tobytes()
    with open(os.path.join(d, 'group1-shard1of1.bin'), 'wb') as f:
        f.write(blob)
    with open(os.path.join(d, 'model.json'), 'w') as f:
        json.dump({'format': 'layers-model', 'generatedBy': 'keras v2.15.0',
                   'convertedBy': 'TensorFlow.js Converter v4.17.0',
                   'modelTopology': {'keras_version': '2.15.0', 'backend': 'tensorflow',
                                     'model_config': keras2_config(layers)},
                   'weightsManifest': [{'paths': ['group1-shard1of1.bin'], 'weights': man}]}, f)


def write_keras2_h5(path, layers, weights):
    mc = keras2_config(layers)
    with h5py.File(path, 'w') as f:
        f.attrs['model_config'] = json.dumps(mc)
        f.attrs['keras_version'] = '2.15.0'
        f.attrs['backend'] = 'tensorflow'
        mw = f.create_group('model_weights')
        for lay in layers:
            g = mw.create_group(lay['name'])
            ws = weights.get(lay['name'], [])
            roles = ROLES.get(lay['cls'], [])
            names = []
            for r, a in zip(roles, ws):
                n = '%s/%s:0' % (lay['name'], r)
                g[n] = np.asarray(a, np.float32)
                names.append(n.encode())
            g.attrs['weight_names'] = names


def smooth_images(rng, n):
    yy, xx = np.meshgrid(np.linspace(0, 1, H), np.linspace(0, 1, W), indexing='ij')
    ims = []
    for i in range(n):
        ch = []
        for c in range(C):
            a, b, p = rng.uniform(1, 4, 3)
            ch.append(0.5 + 0.4 * np.sin(a * xx * 3 + b * yy * 2 + p) +
                      0.1 * rng.normal(size=(H, W)))
        ims.append(ch)
    return np.clip(np.asarray(ims, np.float32), 0, 1)


def cmd_make(base):
    import torch
    torch.set_num_threads(1)
    for name, layers in cases().items():
        d = os.path.join(base, name)
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(sum(map(ord, name)))
        x32 = smooth_images(rng, 2)
        keras2 = name in KERAS2
        results = {}
        for k3 in ([True, False] if keras2 else [True]):
            wts = results.get('w')
            x = torch.tensor(x32, dtype=torch.float64, requires_grad=True)
            outs, wts = run(torch, layers, x, k3, wts, rng, name in RAW255)
            outs[layers[-1]['name']][:, CLASS].sum().backward()
            tag = '' if k3 else '_k2'
            results['w'] = wts
            res = {'logits' + tag: outs[layers[-1]['name']].detach().numpy(),
                   'grad' + tag: x.grad.numpy()}
            for t in TESTED:
                if t in outs and outs[t].dim() == 4:
                    res['act_' + t + tag] = nchw(outs[t]).detach().numpy()
            results.update(res)
            if k3:
                shapes = {k: tuple(v.shape[1:]) for k, v in outs.items()}
        wts = results.pop('w')
        write_keras(os.path.join(d, 'model.keras'), layers, wts, shapes,
                    sequential=name in SEQUENTIAL, stored=len(name) % 2 == 0)
        if keras2:
            write_keras2_h5(os.path.join(d, 'model.h5'), layers, wts)
            write_tfjs(os.path.join(d, 'tfjs'), layers, wts)
        np.savez(os.path.join(d, 'ref.npz'), **results)
        with open(os.path.join(d, 'layers.txt'), 'w') as f:
            for tag in ['', '_k2'] if keras2 else ['']:
                names = [k[4:len(k) - len(tag)] for k in results if k.startswith('act_') and
                         (k.endswith(tag) if tag else not k.endswith('_k2'))]
                f.write('%s %s\n' % (tag or 'k3', ','.join(names)))
        with h5py.File(os.path.join(d, 'images.h5'), 'w') as f:
            f['images'] = x32
            f['ids'] = np.arange(2, dtype=np.int64)
            f.attrs['kind'] = 'images'
        lg = results['logits']
        print('%s: max |logit| %.3g, image-to-image spread %.2g' %
              (name, np.abs(lg).max(), np.abs(lg[0] - lg[1]).max() / np.abs(lg).max()))


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def check(what, got, want, spread=True):
    err = rel_err(got, want)
    print('%s: error %.2g of max %.3g' % (what, err, np.abs(want).max()))
    if spread and np.abs(want[0] - want[1]).max() < 1e-2 * np.abs(want).max():
        print('DEGENERATE: %s hardly depends on the image' % what, file=sys.stderr)
        return False
    if not err <= RTOL:
        print('MISMATCH %s: %.3g (tolerance %g)' % (what, err, RTOL), file=sys.stderr)
        return False
    return True


def cmd_logits(d, acts, tag=''):
    ref = np.load(os.path.join(d, 'ref.npz'))['logits' + tag]
    with h5py.File(acts, 'r') as f:
        got = f['logits'][()].astype(np.float64).reshape(ref.shape)
    return check('logits', got, ref)


def cmd_grad(d, maps, tag=''):
    ref = np.load(os.path.join(d, 'ref.npz'))['grad' + tag]
    with h5py.File(maps, 'r') as f:
        got = f['attr'][()].astype(np.float64).reshape(ref.shape)
    return all(check('input gradient, image %d' % i, got[i], ref[i], False)
               for i in range(ref.shape[0]))


def cmd_layer(d, acts, name, tag=''):
    ref = np.load(os.path.join(d, 'ref.npz'))['act_' + name + tag]
    with h5py.File(acts, 'r') as f:
        got = f['act/' + name][()].astype(np.float64)
    if got.shape != ref.shape:
        print('SHAPE %s: ours %s, Keras %s' % (name, got.shape, ref.shape), file=sys.stderr)
        return False
    return check('layer ' + name, got, ref)


def cmd_verify(d, acts, maps, tag=''):
    """Every check of one case, one line each: 'ok<TAB>what' or
    'not ok<TAB>what<TAB>why' (the shell turns them into TAP lines)."""
    import contextlib
    z = np.load(os.path.join(d, 'ref.npz'))
    items = [('logits equal float64 PyTorch\'s to 1e-4', lambda: cmd_logits(d, acts, tag))]
    for k in z.files:
        if k.startswith('act_') and (k.endswith(tag) if tag else not k.endswith('_k2')):
            nm = k[4:len(k) - len(tag)]
            items.append(("activation at layer '%s' equals PyTorch's" % nm,
                          lambda nm=nm: cmd_layer(d, acts, nm, tag)))
    items.append(('input gradient of logit 7 equals float64 PyTorch\'s to 1e-4',
                  lambda: cmd_grad(d, maps, tag)))
    for what, f in items:
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                ok = f()
        except Exception as e:   # a missing file or dataset is a failure
            ok = False
            err.write('%s: %s' % (type(e).__name__, e))
        why = (err.getvalue() + ' ' + out.getvalue()).replace('\n', ' ').replace('\t', ' ')
        print('ok\t%s\t%s' % (what, why) if ok else 'not ok\t%s\t%s' % (what, why))


# ---------------------------------------------------------- bad archives

def cmd_bad(base):
    os.makedirs(base, exist_ok=True)
    import torch
    layers = cases()['layernorm']
    x = torch.tensor(smooth_images(np.random.default_rng(1), 1), dtype=torch.float64)
    outs, wts = run(torch, layers, x, True, None, np.random.default_rng(2))
    shapes = {k: tuple(v.shape[1:]) for k, v in outs.items()}
    P = lambda n: os.path.join(base, n)
    write_keras(P('good.keras'), layers, wts, shapes)

    def drop(key):
        return lambda m: {k: v for k, v in m.items() if k != key}
    write_keras(P('noconfig.keras'), layers, wts, shapes, members=drop('config.json'))
    write_keras(P('noweights.keras'), layers, wts, shapes, members=drop('model.weights.h5'))

    def garbage(m):
        m = dict(m)
        m['model.weights.h5'] = b'this is not HDF5' * 8
        return m
    write_keras(P('badweights.keras'), layers, wts, shapes, members=garbage)

    def short(m):
        m = dict(m)
        m['model.weights.h5'] = m['model.weights.h5'][:len(m['model.weights.h5']) // 2]
        return m
    write_keras(P('shortweights.keras'), layers, wts, shapes, members=short)

    def badjson(m):
        m = dict(m)
        m['config.json'] = m['config.json'][:-20]
        return m
    write_keras(P('badjson.keras'), layers, wts, shapes, members=badjson)
    raw = open(P('good.keras'), 'rb').read()
    open(P('truncated.keras'), 'wb').write(raw[:len(raw) // 2])
    # one byte of the stored weights changed: the CRC no longer matches
    i = raw.index(b'\x89HDF\r\n\x1a\n') + 200
    open(P('crc.keras'), 'wb').write(raw[:i] + bytes([raw[i] ^ 0x55]) + raw[i + 1:])
    # an unknown layer class; a merge whose inputs do not broadcast; an
    # interpolation and an output_padding Keras has but we do not read
    unk = [inp(), conv('pre', 'image', 4), conv('pre2', 'image', 4),
           L('Dot', 'dot_a', ['pre', 'pre2'], axes=-1)] + head('dot_a')
    bc = [inp(), conv('pre', 'image', 4), conv('pre2', 'image', 3),
          L('Add', 'add_a', ['pre', 'pre2'])] + head('add_a')
    cub = iso(L('UpSampling2D', 'up', ['pre'], size=[2, 2], data_format='channels_last',
                interpolation='bicubic'))
    perm = iso(L('Permute', 'perm', ['pre'], dims=[3, 1, 2]))
    for fname, net in [('unknown', unk), ('bcast', bc), ('bicubic', cub), ('permute', perm)]:
        ws = {}
        for lay in net:
            if lay['cls'] in ('Conv2D', 'Dense'):
                cin = 4 if lay['name'] == 'logits' else C
                n = lay['cfg'].get('filters', lay['cfg'].get('units'))
                fan = cin * (H * W if lay['name'] == 'logits' else 1)
                ws[lay['name']] = [np.zeros((1, 1, cin, n)) if 'filters' in lay['cfg']
                                   else np.zeros((fan, n)), np.zeros(n)]
        shp = {lay['name']: (H, W, 4) for lay in net}
        write_keras(P(fname + '.keras'), net, ws, shp)


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'make':
        cmd_make(a[1])
    elif a[0] == 'bad':
        cmd_bad(a[1])
    elif a[0] == 'logits':
        sys.exit(0 if cmd_logits(*a[1:]) else 1)
    elif a[0] == 'grad':
        sys.exit(0 if cmd_grad(*a[1:]) else 1)
    elif a[0] == 'verify':
        cmd_verify(*a[1:])
    elif a[0] == 'layer':
        sys.exit(0 if cmd_layer(*a[1:]) else 1)
    else:
        sys.exit(__doc__)

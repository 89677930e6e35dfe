#!/usr/bin/python3
"""Write small Keras models with random weights for the importer's tests,
without Keras: the topology JSON as Keras 2 writes it, weights as TF.js
shards (model.json + group*-shard*) and as a Keras HDF5 file
(model_config attribute + /model_weights/<layer>/<layer>/<w>:0).

  keras_tiny.py OUTDIR      -> OUTDIR/func/ (TF.js), OUTDIR/func.h5, OUTDIR/seq.h5,
                               OUTDIR/pads.h5

func: 8x10x3 input (non-square, even sizes: TF "same" pads asymmetrically
at stride 2), Conv2D same/2 + relu, BatchNormalization, ZeroPadding2D into
a valid DepthwiseConv2D (multiplier 2), ReLU(max_value 6), a 1x1 Conv2D,
Add, LeakyReLU, MaxPooling2D same, AveragePooling2D same, Concatenate,
Flatten + Dense (the HWC -> CHW row permutation), Dropout, Dense softmax.
seq: Sequential (Keras 2.1 list form, no InputLayer): Conv2D valid,
MaxPooling2D, Flatten, Dense softmax.
pads: Sequential, ZeroPadding2D before a max-pool (after ReLU) and before a
valid average pool, both folded into the pools' padding.
se (and se3/, the same as a TF.js folder that says Keras 3): an
EfficientNet/MobileNetV3 block: Conv2D swish, DepthwiseConv2D gelu,
squeeze-and-excitation (GlobalAveragePooling2D, Reshape to 1 x 1 x C,
Conv2D relu, Conv2D hard_sigmoid -- 0.2 x + 0.5 in Keras 2, relu6(x + 3) / 6
in Keras 3 -- and Multiply), Activation elu, softplus, hard_silu, log_softmax
(over channels), Flatten, Dense softmax.
"""
import json
import os
import sys

import numpy as np

rng = np.random.default_rng(7)


def L(cls, name, inputs, **cfg):
    cfg['name'] = name
    return {'class_name': cls, 'name': name, 'config': cfg,
            'inbound_nodes': [[[i, 0, 0, {}] for i in inputs]] if inputs is not None else []}


def func_model():
    layers = [
        L('InputLayer', 'input_1', None, batch_input_shape=[None, 8, 10, 3], dtype='float32'),
        L('Conv2D', 'conv_a', ['input_1'], filters=4, kernel_size=[3, 3], strides=[2, 2],
          padding='same', data_format='channels_last', dilation_rate=[1, 1],
          activation='relu', use_bias=True),
        L('BatchNormalization', 'bn_a', ['conv_a'], axis=-1, epsilon=0.001, center=True,
          scale=True),
        L('ZeroPadding2D', 'pad_b', ['bn_a'], padding=[[1, 0], [0, 1]],
          data_format='channels_last'),
        L('DepthwiseConv2D', 'dw_b', ['pad_b'], kernel_size=[3, 3], strides=[1, 1],
          padding='valid', depth_multiplier=2, data_format='channels_last',
          dilation_rate=[1, 1], activation='linear', use_bias=True),
        L('ReLU', 'relu_b', ['dw_b'], max_value=6.0, negative_slope=0.0, threshold=0.0),
        L('Conv2D', 'conv_c', ['relu_b'], filters=8, kernel_size=[1, 1], strides=[1, 1],
          padding='same', data_format='channels_last', dilation_rate=[1, 1],
          activation='linear', use_bias=False),
        L('Add', 'add_d', ['relu_b', 'conv_c']),
        L('LeakyReLU', 'leaky_e', ['add_d'], alpha=0.1),
        L('MaxPooling2D', 'pool_f', ['leaky_e'], pool_size=[2, 2], strides=[2, 2],
          padding='same', data_format='channels_last'),
        L('AveragePooling2D', 'avg_g', ['pool_f'], pool_size=[2, 2], strides=[1, 1],
          padding='same', data_format='channels_last'),
        L('Concatenate', 'cat_h', ['pool_f', 'avg_g'], axis=-1),
        L('Flatten', 'flat_i', ['cat_h'], data_format='channels_last'),
        L('Dense', 'dense_j', ['flat_i'], units=6, activation='sigmoid', use_bias=True),
        L('Dropout', 'drop_k', ['dense_j'], rate=0.5),
        L('Dense', 'dense_l', ['drop_k'], units=5, activation='softmax', use_bias=True),
    ]
    w = {
        'conv_a': [('kernel', (3, 3, 3, 4)), ('bias', (4,))],
        'bn_a': [('gamma', (4,)), ('beta', (4,)), ('moving_mean', (4,)),
                 ('moving_variance', (4,))],
        'dw_b': [('depthwise_kernel', (3, 3, 4, 2)), ('bias', (8,))],
        'conv_c': [('kernel', (1, 1, 8, 8))],
        'dense_j': [('kernel', (2 * 2 * 16, 6)), ('bias', (6,))],
        'dense_l': [('kernel', (6, 5)), ('bias', (5,))],
    }
    cfg = {'class_name': 'Model', 'config': {
        'name': 'tiny', 'layers': layers, 'input_layers': [['input_1', 0, 0]],
        'output_layers': [['dense_l', 0, 0]]}}
    return cfg, w


def seq_model():
    layers = [
        {'class_name': 'Conv2D', 'config': {
            'name': 'conv2d_1', 'batch_input_shape': [None, 6, 6, 3], 'filters': 3,
            'kernel_size': [3, 3], 'strides': [1, 1], 'padding': 'valid',
            'data_format': 'channels_last', 'activation': 'relu', 'use_bias': True}},
        {'class_name': 'MaxPooling2D', 'config': {
            'name': 'max_pooling2d_1', 'pool_size': [2, 2], 'strides': [2, 2],
            'padding': 'valid'}},
        {'class_name': 'Flatten', 'config': {'name': 'flatten_1'}},
        {'class_name': 'Dense', 'config': {'name': 'dense_1', 'units': 3,
                                           'activation': 'softmax', 'use_bias': True}},
    ]
    w = {'conv2d_1': [('kernel', (3, 3, 3, 3)), ('bias', (3,))],
         'dense_1': [('kernel', (12, 3)), ('bias', (3,))]}
    return {'class_name': 'Sequential', 'config': layers}, w


def pads_model():
    """ZeroPadding2D before pools (Keras ResNet50's stem: ReLU, pad, max-pool)."""
    layers = [
        {'class_name': 'Conv2D', 'config': {
            'name': 'conv', 'batch_input_shape': [None, 7, 7, 3], 'filters': 2,
            'kernel_size': [3, 3], 'strides': [1, 1], 'padding': 'same',
            'data_format': 'channels_last', 'activation': 'relu', 'use_bias': True}},
        {'class_name': 'ZeroPadding2D', 'config': {'name': 'pad1', 'padding': [[1, 1], [1, 1]]}},
        {'class_name': 'MaxPooling2D', 'config': {
            'name': 'maxpool', 'pool_size': [3, 3], 'strides': [2, 2], 'padding': 'valid'}},
        {'class_name': 'ZeroPadding2D', 'config': {'name': 'pad2', 'padding': [[1, 0], [0, 1]]}},
        {'class_name': 'AveragePooling2D', 'config': {
            'name': 'avgpool', 'pool_size': [2, 2], 'strides': [1, 1], 'padding': 'valid'}},
        {'class_name': 'Flatten', 'config': {'name': 'flatten'}},
        {'class_name': 'Dense', 'config': {'name': 'dense', 'units': 3,
                                           'activation': 'softmax', 'use_bias': True}},
    ]
    w = {'conv': [('kernel', (3, 3, 3, 2)), ('bias', (2,))],
         'dense': [('kernel', (32, 3)), ('bias', (3,))]}
    return {'class_name': 'Sequential', 'config': layers}, w


def se_model():
    conv = dict(strides=[1, 1], data_format='channels_last', dilation_rate=[1, 1], use_bias=True)
    layers = [
        L('InputLayer', 'input_1', None, batch_input_shape=[None, 6, 7, 3], dtype='float32'),
        L('Conv2D', 'expand', ['input_1'], filters=6, kernel_size=[3, 3], padding='same',
          activation='swish', **conv),
        L('DepthwiseConv2D', 'dw', ['expand'], kernel_size=[3, 3], padding='same',
          depth_multiplier=1, activation='gelu', **conv),
        L('GlobalAveragePooling2D', 'se_squeeze', ['dw'], data_format='channels_last'),
        L('Reshape', 'se_reshape', ['se_squeeze'], target_shape=[1, 1, 6]),
        L('Conv2D', 'se_reduce', ['se_reshape'], filters=3, kernel_size=[1, 1], padding='same',
          activation='relu', **conv),
        L('Conv2D', 'se_expand', ['se_reduce'], filters=6, kernel_size=[1, 1], padding='same',
          activation='hard_sigmoid', **conv),
        L('Multiply', 'se_excite', ['dw', 'se_expand']),
        L('Activation', 'act_elu', ['se_excite'], activation='elu'),
        L('Activation', 'act_softplus', ['act_elu'], activation='softplus'),
        L('Activation', 'act_hswish', ['act_softplus'], activation='hard_silu'),
        L('Activation', 'act_lsm', ['act_hswish'], activation='log_softmax'),
        L('Flatten', 'flat', ['act_lsm'], data_format='channels_last'),
        L('Dense', 'probs', ['flat'], units=5, activation='softmax', use_bias=True),
    ]
    w = {
        'expand': [('kernel', (3, 3, 3, 6)), ('bias', (6,))],
        'dw': [('depthwise_kernel', (3, 3, 6, 1)), ('bias', (6,))],
        'se_reduce': [('kernel', (1, 1, 6, 3)), ('bias', (3,))],
        'se_expand': [('kernel', (1, 1, 3, 6)), ('bias', (6,))],
        'probs': [('kernel', (6 * 7 * 6, 5)), ('bias', (5,))],
    }
    cfg = {'class_name': 'Model', 'config': {
        'name': 'se', 'layers': layers, 'input_layers': [['input_1', 0, 0]],
        'output_layers': [['probs', 0, 0]]}}
    return cfg, w


def values(w):
    out = {}
    for layer, ws in w.items():
        for role, shape in ws:
            a = rng.standard_normal(shape).astype(np.float32) * 0.5
            if role == 'moving_variance':
                a = np.abs(a) + 0.5
            out[layer + '/' + role] = a
    return out


def write_tfjs(d, cfg, vals, version='2.1.6'):
    os.makedirs(d, exist_ok=True)
    man = []
    names = sorted(vals)
    # Two groups, the second split over two shards, as the converter does.
    groups = [names[:len(names) // 2], names[len(names) // 2:]]
    for g, ns in enumerate(groups, 1):
        buf = b''.join(vals[n].astype('<f4').tobytes() for n in ns)
        half = len(buf) // 2 if g == 2 else len(buf)
        parts = [buf[:half], buf[half:]] if g == 2 else [buf]
        paths = []
        for s, p in enumerate(parts, 1):
            name = 'group%d-shard%dof%d' % (g, s, len(parts))
            open(os.path.join(d, name), 'wb').write(p)
            paths.append(name)
        man.append({'paths': paths, 'weights': [
            {'name': n, 'shape': list(vals[n].shape), 'dtype': 'float32'} for n in ns]})
    j = {'modelTopology': {'keras_version': version, 'backend': 'tensorflow',
                           'model_config': cfg}, 'weightsManifest': man}
    json.dump(j, open(os.path.join(d, 'model.json'), 'w'))


def write_h5(path, cfg, vals):
    import h5py
    with h5py.File(path, 'w') as f:
        f.attrs['model_config'] = json.dumps(cfg).encode('utf8')
        f.attrs['keras_version'] = b'2.1.6'
        f.attrs['backend'] = b'tensorflow'
        g = f.create_group('model_weights')
        layers = sorted({n.split('/')[0] for n in vals})
        g.attrs['layer_names'] = [n.encode() for n in layers]
        for lay in layers:
            lg = g.create_group(lay)
            ws = [n for n in sorted(vals) if n.startswith(lay + '/')]
            lg.attrs['weight_names'] = [(n + ':0').encode() for n in ws]
            for n in ws:
                lg.create_dataset(n + ':0', data=vals[n])


if __name__ == '__main__':
    out = sys.argv[1]
    cfg, w = func_model()
    v = values(w)
    write_tfjs(os.path.join(out, 'func'), cfg, v)
    write_h5(os.path.join(out, 'func.h5'), cfg, v)
    cfg, w = seq_model()
    write_h5(os.path.join(out, 'seq.h5'), cfg, values(w))
    cfg, w = pads_model()
    write_h5(os.path.join(out, 'pads.h5'), cfg, values(w))
    cfg, w = se_model()
    v = values(w)
    write_h5(os.path.join(out, 'se.h5'), cfg, v)
    write_tfjs(os.path.join(out, 'se3'), cfg, v, '3.1.0')

"""Reference check of the model engine against PyTorch (float64).

Builds small random nets covering every op (groups, depthwise, dilation,
asymmetric padding, ceil_mode, LRN, BatchNorm, Add, Concat, a DAG), writes
them as cnntools model files with h5py (docs/model-format.md), runs
build/tests/engine_driver, and compares every node's activation, the input
gradient under the standard, guided and deconvnet ReLU rules, and the
weight gradients, to 1e-4 relative.

    engine_ref.py DRIVER WORKDIR NET      one net; exit 1 on a mismatch
    engine_ref.py --bad WORKDIR           write malformed model files
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
RULES = ("standard", "guided", "deconvnet")


def relu_like(rule, deriv):
    """An autograd function whose backward follows the ReLU rule, given the
    true local derivative as a function of the forward input."""

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x)
            return y.detach().clone()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            d = deriv(x)
            if rule == "standard":
                return g * d, None
            if rule == "guided":
                return torch.where(g > 0, g * d, torch.zeros_like(g)), None
            return torch.where(g > 0, g, torch.zeros_like(g)), None

    return lambda x, y: Fn.apply(x, y)


def attr(a, k, i=0, default=None):
    if k not in a:
        return default
    v = list(a[k])
    return v[i] if i < len(v) else v[-1]


def pads(a):
    p = [int(v) for v in a.get("pad", [0])]
    if len(p) == 1:
        p = p * 4
    elif len(p) == 2:
        p = [p[0], p[1], p[0], p[1]]
    return p  # t, l, b, r


def run_torch(net, x, rule, seed_node, seed, want_w):
    """Forward the net in float64; returns activations, input grad, weight
    grads (for the standard rule)."""
    pre = net["pre"]
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    xi = x[:, [2, 1, 0]] if pre["bgr"] else x
    mean = torch.tensor(pre["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(pre["std"]).view(1, -1, 1, 1)
    vals = {"input": (xi - mean) / std}
    params = {}
    for nd in net["nodes"]:
        name, op, a = nd["name"], nd["op"], nd["attrs"]
        ins = [vals[i] for i in nd["inputs"]]
        w = {}
        for k, v in nd["weights"].items():
            t = torch.tensor(v.astype(np.float64), requires_grad=(k not in ("mean", "var")))
            w[k] = t
            params[(name, k)] = t
        h = ins[0]
        if op == "Conv":
            t, l, b, r = pads(a)
            hp = F.pad(h, (l, r, t, b))
            y = F.conv2d(hp, w["weight"], w.get("bias"),
                         stride=(int(attr(a, "stride", 0, 1)), int(attr(a, "stride", 1, 1))),
                         dilation=(int(attr(a, "dilation", 0, 1)), int(attr(a, "dilation", 1, 1))),
                         groups=int(attr(a, "groups", 0, 1)))
        elif op == "Dense":
            y = F.linear(h.reshape(h.shape[0], -1), w["weight"], w.get("bias"))
        elif op == "ReLU":
            y = relu_like(rule, lambda v: (v > 0).double())(h, F.relu(h))
        elif op == "LeakyReLU":
            al = attr(a, "alpha", 0, 0.01)
            y = relu_like(rule, lambda v: torch.where(v > 0, torch.ones_like(v), torch.full_like(v, al)))(
                h, F.leaky_relu(h, al))
        elif op == "Clip":
            lo, hi = attr(a, "min", 0, -np.inf), attr(a, "max", 0, np.inf)
            y = relu_like(rule, lambda v: ((v > lo) & (v < hi)).double())(h, torch.clamp(h, lo, hi))
        elif op == "Sigmoid":
            y = torch.sigmoid(h)
        elif op == "Tanh":
            y = torch.tanh(h)
        elif op in ("MaxPool", "AvgPool"):
            kh, kw = int(attr(a, "kernel", 0)), int(attr(a, "kernel", 1))
            sh, sw = int(attr(a, "stride", 0, kh)), int(attr(a, "stride", 1, kw))
            t, l, b, r = pads(a)
            ceil = bool(attr(a, "ceil_mode", 0, 0))
            # PyTorch pools take symmetric pads: pad explicitly for the
            # asymmetric case, with -inf for max, and emulate
            # count_include_pad=0 by dividing by a pooled mask.
            if op == "MaxPool":
                dh, dw = int(attr(a, "dilation", 0, 1)), int(attr(a, "dilation", 1, 1))
                eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
                hp = F.pad(h, (l, r, t, b), value=-np.inf)
                y = F.max_pool2d(hp, (kh, kw), (sh, sw), dilation=(dh, dw), ceil_mode=ceil)
                if ceil:  # PyTorch's rule: a window must start inside input + leading pad
                    y = y[:, :, :pool_len(h.shape[2], eh, sh, t, b, ceil), :pool_len(h.shape[3], ew, sw, l, r, ceil)]
            else:
                hp = F.pad(h, (l, r, t, b))
                oh = pool_len(h.shape[2], kh, sh, t, b, ceil)
                ow = pool_len(h.shape[3], kw, sw, l, r, ceil)
                s = F.avg_pool2d(hp, (kh, kw), (sh, sw), ceil_mode=ceil, count_include_pad=True,
                                 divisor_override=1)[:, :, :oh, :ow]
                one = torch.ones_like(h[:1, :1])
                if attr(a, "count_include_pad", 0, 0):
                    # Padded extent up to the trailing pad, not beyond.
                    m = F.pad(torch.ones(1, 1, h.shape[2] + t + b, h.shape[3] + l + r), (0, 0, 0, 0))
                else:
                    m = F.pad(one, (l, r, t, b))
                cnt = F.avg_pool2d(m, (kh, kw), (sh, sw), ceil_mode=ceil, divisor_override=1)[:, :, :oh, :ow]
                y = s / cnt
        elif op == "GlobalAvgPool":
            y = h.mean(dim=(2, 3), keepdim=True)
        elif op == "LRN":
            y = F.local_response_norm(h, int(attr(a, "size")), attr(a, "alpha", 0, 1e-4),
                                      attr(a, "beta", 0, 0.75), attr(a, "k", 0, 1.0))
        elif op == "BatchNorm":
            y = F.batch_norm(h, w["mean"], w["var"], w["gamma"], w["beta"], False, 0.0,
                             attr(a, "eps", 0, 1e-5))
        elif op == "Dropout":
            y = h
        elif op == "Flatten":
            y = h.reshape(h.shape[0], -1, 1, 1)
        elif op == "Softmax":
            y = torch.softmax(h, dim=1)
        elif op == "HardSigmoid":
            y = torch.clamp(attr(a, "alpha", 0, 0.2) * h + attr(a, "beta", 0, 0.5), 0, 1)
        elif op == "HardSwish":
            y = relu_like(rule, lambda v: torch.where(v < -3, torch.zeros_like(v),
                                                      torch.where(v <= 3, v / 3 + 0.5, torch.ones_like(v))))(
                h, F.hardswish(h))
        elif op == "SiLU":
            y = relu_like(rule, lambda v: torch.sigmoid(v) * (1 + v * (1 - torch.sigmoid(v))))(h, F.silu(h))
        elif op == "GELU":
            y = relu_like(rule, lambda v: 0.5 * (1 + torch.erf(v / np.sqrt(2)))
                          + v * torch.exp(-v * v / 2) / np.sqrt(2 * np.pi))(h, F.gelu(h))
        elif op == "Elu":
            al = attr(a, "alpha", 0, 1.0)
            y = relu_like(rule, lambda v: torch.where(v > 0, torch.ones_like(v), al * torch.exp(v)))(
                h, F.elu(h, al))
        elif op == "PRelu":
            sl = w["slope"]
            y = F.prelu(h, sl)
            if rule != "standard":  # weight gradients are compared for the standard rule only
                s4 = sl.detach().reshape(1, -1, 1, 1)
                y = relu_like(rule, lambda v: torch.where(v > 0, torch.ones_like(v), s4.expand_as(v)))(h, y)
        elif op == "Softplus":
            y = relu_like(rule, torch.sigmoid)(h, F.softplus(h))
        elif op == "LogSoftmax":
            y = torch.log_softmax(h, dim=1)
        elif op == "GlobalMaxPool":
            y = h.amax(dim=(2, 3), keepdim=True)
        elif op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Add":
            y = sum(ins[1:], ins[0])
        elif op == "Concat":
            y = torch.cat(ins, dim=1)
        elif op == "LayerNorm":
            y = F.layer_norm(h.permute(0, 2, 3, 1), (h.shape[1],), w["gamma"], w["beta"],
                             attr(a, "eps", 0, 1e-5)).permute(0, 3, 1, 2)
        elif op == "InstanceNorm":
            y = F.instance_norm(h, weight=w["gamma"], bias=w["beta"], eps=attr(a, "eps", 0, 1e-5))
        elif op == "ChannelShuffle":
            g = int(attr(a, "groups"))
            n_, c_, hh, ww = h.shape
            y = h.reshape(n_, g, c_ // g, hh, ww).transpose(1, 2).reshape(n_, c_, hh, ww)
        elif op == "Resize":
            size = (int(attr(a, "size", 0)), int(attr(a, "size", 1)))
            coord, near = int(attr(a, "coord", 0, 0)), int(attr(a, "nearest", 0, 0))
            if attr(a, "mode", 0, 0):
                y = F.interpolate(h, size=size, mode="bilinear", align_corners=coord == 2)
            elif coord == 1 and near == 0:
                y = F.interpolate(h, size=size, mode="nearest")
            elif coord == 0 and near == 2:
                y = F.interpolate(h, size=size, mode="nearest-exact")
            else:
                raise ValueError("Resize coord %d nearest %d" % (coord, near))
        elif op == "ConvTranspose":
            t, l, b, r = pads(a)
            sh_, sw_ = int(attr(a, "stride", 0, 1)), int(attr(a, "stride", 1, 1))
            dh_, dw_ = int(attr(a, "dilation", 0, 1)), int(attr(a, "dilation", 1, 1))
            oph, opw = int(attr(a, "output_padding", 0, 0)), int(attr(a, "output_padding", 1, 0))
            # no padding, then crop the asymmetric pads (output_padding adds
            # rows at the end)
            y = F.conv_transpose2d(h, w["weight"], w.get("bias"), stride=(sh_, sw_),
                                   dilation=(dh_, dw_), groups=int(attr(a, "groups", 0, 1)),
                                   output_padding=(oph, opw))
            y = y[:, :, t:y.shape[2] - b, l:y.shape[3] - r]
        elif op == "ChannelSlice":
            y = h[:, int(attr(a, "start")):int(attr(a, "end"))]
        else:
            raise ValueError(op)
        if y.dim() == 2:
            y = y.reshape(y.shape[0], -1, 1, 1)
        vals[name] = y
    out = vals[seed_node]
    (out * torch.tensor(seed)).sum().backward()
    wg = {k: (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) for k, t in params.items()}
    return ({k: v.detach().numpy() for k, v in vals.items() if k != "input"},
            x.grad.numpy(), wg)


def pool_len(n, k, s, p0, p1, ceil):
    span = n + p0 + p1 - k
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p0:
        o -= 1
    return o


def node(name, op, inputs, attrs=None, **weights):
    return {"name": name, "op": op, "inputs": inputs, "attrs": attrs or {},
            "weights": {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}}


def nets(rng):
    def r(*s, scale=0.5):
        return (rng.standard_normal(s) * scale).astype(np.float32)

    out = {}
    # A chain: strided asymmetric conv, BatchNorm, ReLU, LRN, ceil-mode
    # max-pool, grouped dilated conv, LeakyReLU, AvgPool counting pads,
    # Flatten, Dense, Dropout, Sigmoid. BGR input with mean/std.
    out["chain"] = {
        "shape": (3, 15, 13), "pre": {"bgr": 1, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]},
        "seed": "sig",
        "nodes": [
            node("conv1", "Conv", ["input"], {"stride": [2, 1], "pad": [1, 0, 2, 1]},
                 weight=r(8, 3, 3, 3), bias=r(8)),
            node("bn1", "BatchNorm", ["conv1"], {"eps": [1e-3]}, gamma=1 + r(8, scale=0.1),
                 beta=r(8), mean=r(8, scale=0.1), var=1 + np.abs(r(8))),
            node("relu1", "ReLU", ["bn1"]),
            node("lrn1", "LRN", ["relu1"], {"size": [3], "alpha": [0.05], "beta": [0.75], "k": [2.0]}),
            node("pool1", "MaxPool", ["lrn1"], {"kernel": [3, 3], "stride": [2, 2], "pad": [1],
                                                "ceil_mode": [1]}),
            node("conv2", "Conv", ["pool1"], {"groups": [2], "dilation": [2, 1], "pad": [2, 1]},
                 weight=r(6, 4, 3, 3), bias=r(6)),
            node("leaky", "LeakyReLU", ["conv2"], {"alpha": [0.1]}),
            node("pool2", "AvgPool", ["leaky"], {"kernel": [2, 2], "stride": [1, 2], "pad": [1, 1, 0, 1],
                                                 "count_include_pad": [1]}),
            node("flat", "Flatten", ["pool2"]),
            node("fc", "Dense", ["flat"], weight=r(5, 6 * 5 * 4, scale=0.2), bias=r(5)),
            node("drop", "Dropout", ["fc"], {"ratio": [0.3]}),
            node("sig", "Sigmoid", ["drop"]),
        ]}
    # A DAG: 1x1 conv (no im2col), depthwise conv + ReLU6, a second branch
    # with Tanh, a three-way Add, Concat, AvgPool without pads counted,
    # GlobalAvgPool, Dense, Softmax; a 4-channel input.
    out["dag"] = {
        "shape": (4, 9, 10), "pre": {"bgr": 0, "mean": [0.5] * 4, "std": [0.5] * 4}, "seed": "prob",
        "nodes": [
            node("c1", "Conv", ["input"], {"kernel": [1, 1]}, weight=r(6, 4, 1, 1), bias=r(6)),
            node("r1", "ReLU", ["c1"]),
            node("dw", "Conv", ["r1"], {"groups": [6], "pad": [1]}, weight=r(6, 1, 3, 3), bias=r(6)),
            node("relu6", "Clip", ["dw"], {"min": [0], "max": [0.6]}),
            node("c3", "Conv", ["r1"], {"pad": [1, 1]}, weight=r(6, 6, 3, 3, scale=0.3)),
            node("t3", "Tanh", ["c3"]),
            node("sum", "Add", ["relu6", "t3", "r1"]),
            node("cat", "Concat", ["sum", "r1", "t3"]),
            node("ap", "AvgPool", ["cat"], {"kernel": [3, 2], "stride": [2, 2], "pad": [1, 0, 1, 1],
                                            "ceil_mode": [1]}),
            node("mp", "MaxPool", ["ap"], {"kernel": [2, 2], "stride": [1, 1], "pad": [0, 0, 1, 1]}),
            node("gap", "GlobalAvgPool", ["mp"]),
            node("fc", "Dense", ["gap"], weight=r(7, 18), bias=r(7)),
            node("prob", "Softmax", ["fc"]),
        ]}
    # Even LRN window, bias-free conv and dense, stride > kernel, a strided
    # dilated asymmetrically padded depthwise conv, backward from a middle
    # node (the rest of the net must not matter).
    out["middle"] = {
        "shape": (1, 12, 12), "pre": {"bgr": 0, "mean": [0.1], "std": [0.3]}, "seed": "lrn",
        "nodes": [
            node("c1", "Conv", ["input"], {"stride": [3], "pad": [2, 1, 0, 2], "dilation": [2]},
                 weight=r(5, 1, 2, 3)),
            node("l1", "LeakyReLU", ["c1"], {"alpha": [0.2]}),
            node("dw", "Conv", ["l1"], {"groups": [5], "stride": [1, 2], "dilation": [1, 2],
                                        "pad": [1, 0, 1, 2]}, weight=r(5, 1, 3, 2), bias=r(5)),
            node("lrn", "LRN", ["dw"], {"size": [4], "alpha": [0.1], "beta": [0.6], "k": [1.5]}),
            node("mp", "MaxPool", ["lrn"], {"kernel": [2], "stride": [2]}),
            node("fc", "Dense", ["mp"], weight=r(3, 5 * 2 * 1)),
        ], "n": 1}
    # Images large enough that the convolutions run in several chunks of
    # output rows: the input gradient as a transposed convolution (3x3;
    # grouped, dilated, asymmetrically padded 5x3), by col2im (stride 2; a
    # padded 1x1, its pads beyond the kernel's reach; a direct 1x1 that
    # widens, whose gradient lowers less by col2im).
    out["big"] = {
        "shape": (3, 40, 36), "pre": {"bgr": 0, "mean": [0.5] * 3, "std": [0.25] * 3},
        "seed": "fc", "n": 1,
        "nodes": [
            node("c1", "Conv", ["input"], {"pad": [1]}, weight=r(8, 3, 3, 3), bias=r(8)),
            node("r1", "ReLU", ["c1"]),
            node("c2", "Conv", ["r1"], {"groups": [2], "dilation": [1, 2], "pad": [2, 1, 3, 3]},
                 weight=r(8, 4, 5, 3, scale=0.3), bias=r(8)),
            node("r2", "ReLU", ["c2"]),
            node("c3", "Conv", ["r2"], {"stride": [2], "pad": [1]}, weight=r(6, 8, 3, 3, scale=0.3),
                 bias=r(6)),
            node("c4", "Conv", ["c3"], {"pad": [1]}, weight=r(5, 6, 1, 1), bias=r(5)),
            node("c5", "Conv", ["c4"], {}, weight=r(7, 5, 1, 1), bias=r(7)),
            node("mp", "MaxPool", ["c5"], {"kernel": [2], "stride": [2]}),
            node("fc", "Dense", ["mp"], weight=r(3, 7 * 11 * 10, scale=0.1), bias=r(3)),
        ]}
    # 3x3 stride-1 convolutions with 16 channels or more run by Winograd
    # (ops/winograd.c), forward and input gradient: odd and even output
    # sizes, symmetric, asymmetric and no padding, bias or none; three
    # images on two threads split into two chunks each.
    out["wino"] = {
        "shape": (16, 37, 45), "pre": {"bgr": 0, "mean": [0.5], "std": [0.25]},
        "seed": "fc", "n": 3,
        "nodes": [
            node("w1", "Conv", ["input"], {"pad": [1]}, weight=r(24, 16, 3, 3, scale=0.2),
                 bias=r(24)),
            node("r1", "ReLU", ["w1"]),
            node("w2", "Conv", ["r1"], {"pad": [2, 0, 1, 2]}, weight=r(20, 24, 3, 3, scale=0.2)),
            node("r2", "ReLU", ["w2"]),
            node("w3", "Conv", ["r2"], {}, weight=r(32, 20, 3, 3, scale=0.2), bias=r(32)),
            node("mp", "MaxPool", ["w3"], {"kernel": [2], "stride": [2]}),
            node("w4", "Conv", ["mp"], {"pad": [1]}, weight=r(16, 32, 3, 3, scale=0.2), bias=r(16)),
            node("fc", "Dense", ["w4"], weight=r(3, 16 * 18 * 21, scale=0.05), bias=r(3)),
        ]}
    # Winograd's uncached call makes its transformed weights a block of
    # output channels at a time (2 MiB of them, winograd.c's u_block): 256
    # channels in, 60 out is blocks of 48 and 12 (AVX2: 54 and 6), and the
    # input gradient's 60 in, 256 out 240 and 16 (AVX2 240 and 16); 24x24
    # maps, 36 tiles an image, so both run by Winograd.
    out["wino_blocks"] = {
        "shape": (8, 24, 24), "pre": {"bgr": 0, "mean": [0.5], "std": [0.25]},
        "seed": "fc", "n": 2,
        "nodes": [
            node("c1", "Conv", ["input"], {"pad": [1]}, weight=r(256, 8, 3, 3, scale=0.3),
                 bias=r(256)),
            node("r1", "ReLU", ["c1"]),
            node("w1", "Conv", ["r1"], {"pad": [1]}, weight=r(60, 256, 3, 3, scale=0.05),
                 bias=r(60)),
            node("r2", "ReLU", ["w1"]),
            node("fc", "Dense", ["r2"], weight=r(3, 60 * 24 * 24, scale=0.01), bias=r(3)),
        ]}
    # NaN and infinite inputs through every op that decides by comparing
    # (ReLU, LeakyReLU, Clip, MaxPool's vector 2x2 path and scalar path):
    # NaN must stay NaN as in PyTorch (torch.relu(nan) = nan; a window
    # holding a NaN pools to NaN). 1x1 convolutions only, so that a NaN
    # spreads to the same places under every convolution algorithm.
    out["nan"] = {
        "shape": (2, 10, 12), "pre": {"bgr": 0, "mean": [0.5], "std": [0.5]}, "seed": "fc",
        "n": 3, "nonfinite": True,
        "nodes": [
            node("r0", "ReLU", ["input"]),
            node("mp3", "MaxPool", ["r0"], {"kernel": [3, 3], "stride": [1, 1], "pad": [1]}),
            node("c1", "Conv", ["mp3"], {}, weight=r(4, 2, 1, 1), bias=r(4)),
            node("l1", "LeakyReLU", ["c1"], {"alpha": [0.1]}),
            node("cl", "Clip", ["l1"], {"min": [-0.2], "max": [0.6]}),
            node("mp2", "MaxPool", ["cl"], {"kernel": [2, 2], "stride": [2, 2]}),
            node("r2", "ReLU", ["mp2"]),
            node("c2", "Conv", ["r0"], {}, weight=r(3, 2, 1, 1)),
            node("r3", "ReLU", ["c2"]),
            node("mp4", "MaxPool", ["r3"], {"kernel": [2, 2], "stride": [2, 2]}),
            node("cat", "Concat", ["r2", "mp4"]),
            node("fc", "Dense", ["cat"], weight=r(3, 7 * 5 * 6, scale=0.1), bias=r(3)),
            node("prob", "Softmax", ["fc"]),
        ]}
    # The ops ShuffleNet and ConvNeXt bring (ops/shuffle.c, ops/layernorm.c)
    # and dilated max-pools: LayerNorm over the channels, ChannelShuffle,
    # ChannelSlice, InstanceNorm, a dilated padded max-pool, a dilated
    # ceil-mode one.
    out["norms"] = {
        "shape": (6, 11, 10), "pre": {"bgr": 0, "mean": [0.5] * 6, "std": [0.25] * 6},
        "seed": "fc", "n": 3,
        "nodes": [
            node("c1", "Conv", ["input"], {"pad": [1]}, weight=r(8, 6, 3, 3, scale=0.3), bias=r(8)),
            node("ln", "LayerNorm", ["c1"], {"eps": [1e-6]}, gamma=1 + r(8, scale=0.3), beta=r(8)),
            node("r1", "ReLU", ["ln"]),
            node("sh", "ChannelShuffle", ["r1"], {"groups": [2]}),
            node("s1", "ChannelSlice", ["sh"], {"start": [0], "end": [3]}),
            node("s2", "ChannelSlice", ["sh"], {"start": [3], "end": [8]}),
            node("in", "InstanceNorm", ["s2"], {"eps": [1e-5]}, gamma=1 + r(5, scale=0.3), beta=r(5)),
            node("cat", "Concat", ["s1", "in", "c1"]),
            node("sh4", "ChannelShuffle", ["cat"], {"groups": [4]}),
            node("mp", "MaxPool", ["sh4"], {"kernel": [3], "stride": [1], "dilation": [2], "pad": [1, 2]}),
            node("mp2", "MaxPool", ["mp"], {"kernel": [2], "stride": [2], "dilation": [1, 2],
                                             "ceil_mode": [1]}),
            node("fc", "Dense", ["mp2"], weight=r(4, 16 * 5 * 5, scale=0.2), bias=r(4)),
        ]}
    # Resize: nearest (asymmetric floor, PyTorch's "nearest"; half-pixel
    # rounding ties up, "nearest-exact") and bilinear (half-pixel and
    # align_corners), up and down, integer and fractional factors.
    out["resize"] = {
        "shape": (3, 7, 9), "pre": {"bgr": 0, "mean": [0.5] * 3, "std": [0.25] * 3},
        "seed": "fc", "n": 2,
        "nodes": [
            node("c1", "Conv", ["input"], {"pad": [1]}, weight=r(4, 3, 3, 3), bias=r(4)),
            node("up", "Resize", ["c1"], {"size": [14, 18], "mode": [0], "coord": [1], "nearest": [0],
                                          "scale": [2, 2]}),
            node("r1", "ReLU", ["up"]),
            node("bl", "Resize", ["r1"], {"size": [19, 23], "mode": [1], "coord": [3]}),
            node("ac", "Resize", ["bl"], {"size": [8, 10], "mode": [1], "coord": [2]}),
            node("ne", "Resize", ["ac"], {"size": [11, 7], "mode": [0], "coord": [0], "nearest": [2]}),
            node("fc", "Dense", ["ne"], weight=r(3, 4 * 11 * 7, scale=0.2), bias=r(3)),
        ]}
    # The ops of today's CNNs (ops/nonlin.c, ops/binary.c, ops/reduce.c):
    # every new nonlinearity on one conv's output, squeeze-and-excitation
    # (C x H x W times a C x 1 x 1 gate), broadcasting along channels
    # (1 x H x W), along a row (C x H x 1: H and W not merged), a scalar
    # map (1 x 1 x 1), a broadcast first operand, Div by a computed tensor,
    # a three-way broadcast Add, GlobalMaxPool, LogSoftmax at the end.
    # modern_big: maps large enough that the loops run on the threads.
    for key, (H, W) in (("modern", (9, 8)), ("modern_big", (40, 48))):
        out[key] = modern(r, H, W)
    # ConvTranspose: strided, grouped, dilated, asymmetric pads,
    # output_padding; bias and none.
    out["deconv"] = {
        "shape": (4, 6, 5), "pre": {"bgr": 0, "mean": [0.5] * 4, "std": [0.25] * 4},
        "seed": "fc", "n": 2,
        "nodes": [
            node("d1", "ConvTranspose", ["input"], {"stride": [2], "pad": [1, 0, 0, 1],
                                                    "output_padding": [1, 0]},
                 weight=r(4, 3, 3, 3), bias=r(3)),
            node("r1", "ReLU", ["d1"]),
            node("d2", "ConvTranspose", ["r1"], {"stride": [1, 2], "dilation": [2, 1], "groups": [3]},
                 weight=r(3, 2, 2, 3)),
            node("fc", "Dense", ["d2"], weight=r(3, 6 * 15 * 21, scale=0.1), bias=r(3)),
        ]}
    # MobileNet-like: depthwise 3x3 stride 1 and 2 (ops/depthwise.c) between
    # 1x1 convolutions, ReLU6; widths that leave tails of a vector (45, 23,
    # 12), a 5x5 stride-2 depthwise with asymmetric pads, a dilated stride-3
    # 3x3 one; 1x1 convolutions (plain and grouped) whose input gradient
    # is one GEMM on the activations; three images (forward, input and
    # weight gradients).
    out["mobile"] = {
        "shape": (3, 37, 45), "pre": {"bgr": 0, "mean": [0.5] * 3, "std": [0.25] * 3},
        "seed": "fc", "n": 3,
        "nodes": [
            node("c1", "Conv", ["input"], {"kernel": [1, 1]}, weight=r(16, 3, 1, 1), bias=r(16)),
            node("r1", "Clip", ["c1"], {"min": [0], "max": [0.6]}),
            node("dw1", "Conv", ["r1"], {"groups": [16], "pad": [1]}, weight=r(16, 1, 3, 3),
                 bias=r(16)),
            node("r2", "Clip", ["dw1"], {"min": [0], "max": [0.6]}),
            node("dw2", "Conv", ["r2"], {"groups": [16], "stride": [2], "pad": [1]},
                 weight=r(16, 1, 3, 3), bias=r(16)),
            node("r3", "ReLU", ["dw2"]),
            node("c2", "Conv", ["r3"], {}, weight=r(24, 16, 1, 1, scale=0.3)),
            node("dw3", "Conv", ["c2"], {"groups": [24], "stride": [2], "pad": [2, 1, 1, 2]},
                 weight=r(24, 1, 5, 5, scale=0.3), bias=r(24)),
            node("r4", "ReLU", ["dw3"]),
            node("g1", "Conv", ["r4"], {"groups": [4]}, weight=r(24, 6, 1, 1), bias=r(24)),
            node("dw4", "Conv", ["g1"], {"groups": [24], "stride": [3, 2], "dilation": [2],
                                         "pad": [2, 0, 1, 3]}, weight=r(24, 1, 3, 3)),
            node("gap", "GlobalAvgPool", ["dw4"]),
            node("fc", "Dense", ["gap"], weight=r(3, 24), bias=r(3)),
        ]}
    # NaN and infinities through the ops of today's CNNs (issue 17: NaN
    # propagates through every op as in PyTorch): each net above again,
    # its first convolution 1x1 (a 3x3 one would spread a NaN over a whole
    # Winograd tile, which PyTorch's direct convolution does not), its
    # output ending in a Softmax named prob so the check can see NaN reach
    # the end for image 0 and image 2 stay finite.
    import copy
    for key in ("modern", "norms", "resize", "deconv", "mobile"):
        net = copy.deepcopy(out[key])
        c = net["shape"][0]
        for nd in net["nodes"]:
            if nd["name"] == "c1" and nd["op"] == "Conv":
                cout = nd["weights"]["weight"].shape[0]
                nd["weights"]["weight"] = r(cout, c, 1, 1)
                nd["attrs"] = {}
        last = net["nodes"][-1]["name"]
        net["nodes"].append(node("prob", "Softmax", [last]))
        net["seed"] = "prob"
        net["nonfinite"] = True
        net["n"] = 3   # image 0 NaN, image 1 infinities, image 2 finite
        out["nan_" + key] = net
    return out


def compare_nonfinite(what, got, want, tol=1e-4):
    """NaN where PyTorch has NaN, the same infinities, the rest to tol."""
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        print("MISMATCH %s: NaN at %d places, PyTorch at %d" % (
            what, np.isnan(got).sum(), np.isnan(want).sum()), file=sys.stderr)
        return False
    inf = np.isinf(want)
    if not np.array_equal(np.isinf(got), inf) or not np.array_equal(got[inf], want[inf]):
        print("MISMATCH %s: infinities differ" % what, file=sys.stderr)
        return False
    fin = np.isfinite(want)
    return compare(what, got[fin], want[fin], tol) if fin.any() else True


def check_nonfinite(driver, work, name, net, rng):
    """Forward only: image 0 has NaN pixels, image 1 infinite ones, image 2
    none; every node's activation against PyTorch's, NaN for NaN."""
    mp, ip, sp, op = (os.path.join(work, "%s.%s.h5" % (name, s)) for s in ("model", "images", "seed", "out"))
    write_model(mp, net)
    x = rng.random((net["n"],) + tuple(net["shape"])).astype(np.float32)
    C, H, W = net["shape"]
    x[0, 0, 3 % H, 4 % W] = np.nan
    x[0, 1 % C, 7 % H, 7 % W] = np.nan
    x[1, 0, 2 % H, 2 % W] = np.inf
    x[1, 1 % C, 5 % H, 9 % W] = -np.inf
    x[1, 0, 8 % H, 1 % W] = np.inf
    with h5py.File(ip, "w") as f:
        f.attrs["kind"] = "images"
        f.create_dataset("images", data=x)
    a0, _, _ = run_torch(net, x, "standard", net["seed"], np.zeros(1), False)
    with h5py.File(sp, "w") as f:
        f.create_dataset("seed", data=np.ones(a0[net["seed"]].shape, dtype=np.float32))
    subprocess.run([driver, mp, ip, sp, net["seed"], op], check=True)
    ok = True
    with h5py.File(op, "r") as f:
        for k, v in a0.items():
            ok &= compare_nonfinite("act " + k, f["act/" + k][()], v)
        p = f["act/prob"][()]
    # The test proves something only if NaN reached the end for image 0
    # and image 2 stayed finite.
    if not (np.isnan(p[0]).all() and np.isfinite(p[2]).all()):
        print("DEGENERATE: NaN did not reach the output of image 0", file=sys.stderr)
        ok = False
    return ok


def modern(r, H, W):
    return {
        "shape": (3, H, W), "pre": {"bgr": 0, "mean": [0.5] * 3, "std": [0.3] * 3},
        "seed": "lsm", "n": 3,
        "nodes": [
            node("c1", "Conv", ["input"], {"pad": [1]}, weight=r(8, 3, 3, 3, scale=0.8), bias=r(8)),
            node("hsw", "HardSwish", ["c1"]),
            node("silu", "SiLU", ["c1"]),
            node("gelu", "GELU", ["c1"]),
            node("elu", "Elu", ["c1"], {"alpha": [0.7]}),
            node("prelu", "PRelu", ["c1"], slope=r(8)),
            node("sp", "Softplus", ["c1"]),
            node("gap", "GlobalAvgPool", ["silu"]),
            node("hsig", "HardSigmoid", ["gap"], {"alpha": [0.3], "beta": [0.4]}),
            node("se", "Mul", ["gelu", "hsig"]),
            node("gmp", "GlobalMaxPool", ["elu"]),
            node("q", "Div", ["prelu", "sp"]),
            node("c2", "Conv", ["hsw"], {}, weight=r(1, 8, 1, 1), bias=r(1)),
            node("sub", "Sub", ["se", "c2"]),
            node("rowp", "AvgPool", ["silu"], {"kernel": [1, W], "stride": [1, W]}),
            node("rowm", "Mul", ["rowp", "q"]),
            node("s1", "GlobalAvgPool", ["c2"]),
            node("sc", "Mul", ["s1", "sub"]),
            node("bsub", "Sub", ["hsig", "hsw"]),
            node("sum3", "Add", ["sc", "gmp", "rowm"]),
            node("same", "Add", ["sum3", "bsub"]),
            node("fc", "Dense", ["same"], weight=r(6, 8 * H * W, scale=0.8 / np.sqrt(H * W)), bias=r(6)),
            node("lsm", "LogSoftmax", ["fc"]),
        ]}


def write_model(path, net):
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array(net["shape"], dtype=np.int64)
        f.attrs["mean"] = np.array(net["pre"]["mean"][:3] if net["shape"][0] == 3 else net["pre"]["mean"][:1])
        f.attrs["std"] = np.array(net["pre"]["std"][:3] if net["shape"][0] == 3 else net["pre"]["std"][:1])
        f.attrs["bgr"] = np.int64(net["pre"]["bgr"])
        f.attrs["source"] = "tests/ref/engine_ref.py"
        for i, nd in enumerate(net["nodes"]):
            g = f.create_group("nodes/%04d" % i)
            g.attrs["name"] = nd["name"]
            g.attrs["op"] = nd["op"]
            g.attrs["inputs"] = ",".join(nd["inputs"])
            for k, v in nd["attrs"].items():
                g.attrs[k] = np.array(v, dtype=np.float64)
            for k, v in nd["weights"].items():
                g.create_dataset(k, data=v)


def compare(what, got, want, tol=1e-4):
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    scale = max(np.abs(want).max(), 1e-6)
    err = np.abs(got - want).max() / scale
    ok = err <= tol
    if os.environ.get("ENGINE_REF_VERBOSE"):
        print("%-28s rel err %.2g" % (what, err), file=sys.stderr)
    if not ok:
        print("MISMATCH %s: max rel err %.3g (scale %.3g)" % (what, err, scale), file=sys.stderr)
    return ok


def check(driver, work, name):
    rng = np.random.default_rng(sum(map(ord, name)))
    net = nets(rng)[name]
    # Normalise the pre-processing lists to the channel count.
    c = net["shape"][0]
    net["pre"]["mean"] = list(net["pre"]["mean"])[:c] if c == 3 else [net["pre"]["mean"][0]] * c
    net["pre"]["std"] = list(net["pre"]["std"])[:c] if c == 3 else [net["pre"]["std"][0]] * c
    if net.get("nonfinite"):
        return check_nonfinite(driver, work, name, net, rng)
    mp, ip, sp, op = (os.path.join(work, "%s.%s.h5" % (name, s)) for s in ("model", "images", "seed", "out"))
    write_model(mp, net)
    n = net.get("n", 5)
    # Inputs from a generator of their own: a net added to nets() must not
    # change another net's images (float32 ReLU decisions near zero differ
    # between kernels; a test's data should stay what it was checked on).
    rng = np.random.default_rng(1000 + sum(map(ord, name)))
    x = rng.random((n,) + tuple(net["shape"])).astype(np.float32)
    with h5py.File(ip, "w") as f:
        f.attrs["kind"] = "images"
        f.create_dataset("images", data=x)
        f.create_dataset("ids", data=np.arange(n, dtype=np.int64))
    # The seed gradient needs the seed node's shape: forward once.
    a0, _, _ = run_torch(net, x, "standard", net["seed"], np.zeros(1), False)
    seed = rng.standard_normal(a0[net["seed"]].shape).astype(np.float32)
    with h5py.File(sp, "w") as f:
        f.create_dataset("seed", data=seed)
    subprocess.run([driver, mp, ip, sp, net["seed"], op], check=True)
    ok = True
    with h5py.File(op, "r") as f:
        for rule in RULES:
            acts, gx, wg = run_torch(net, x, rule, net["seed"], seed.astype(np.float64), rule == "standard")
            if rule == "standard":
                for k, v in acts.items():
                    ok &= compare("act " + k, f["act/" + k][()], v)
                for (nd, w), v in wg.items():
                    if w in ("mean", "var") or "wgrad/%s/%s" % (nd, w) not in f:
                        continue
                    ok &= compare("wgrad %s/%s" % (nd, w), f["wgrad/%s/%s" % (nd, w)][()], v)
                # Weights of nodes after the seed node get no gradient.
                seen = {nd for (nd, w) in wg if "wgrad/%s/%s" % (nd, w) in f}
                names = [d["name"] for d in net["nodes"]]
                upto = names.index(net["seed"])
                for d in net["nodes"][:upto + 1]:
                    if d["weights"] and d["name"] not in seen:
                        print("MISSING wgrad for %s" % d["name"], file=sys.stderr)
                        ok = False
            if not np.abs(gx).max() > 0:
                print("DEGENERATE: zero input gradient under %s" % rule, file=sys.stderr)
                ok = False
            ok &= compare("input grad " + rule, f["grad/" + rule][()], gx)
    # The rules must differ on a net with ReLUs (else the test proves little).
    with h5py.File(op, "r") as f:
        if np.allclose(f["grad/standard"][()], f["grad/guided"][()]):
            print("DEGENERATE: guided equals standard", file=sys.stderr)
            ok = False
    return ok


def write_bad(work):
    """Malformed models; each must make the driver exit 1 with one line."""
    rng = np.random.default_rng(7)
    base = nets(rng)["middle"]

    def variant(fname, edit):
        net = {**base, "nodes": [dict(nd, attrs=dict(nd["attrs"]), weights=dict(nd["weights"]))
                                 for nd in base["nodes"]]}
        edit(net)
        write_model(os.path.join(work, fname), net)

    def by(n, name):
        return next(d for d in n["nodes"] if d["name"] == name)

    variant("bad_op.h5", lambda n: by(n, "l1").update(op="Swish"))
    variant("bad_later.h5", lambda n: by(n, "l1").update(inputs=["mp"]))
    variant("bad_self.h5", lambda n: by(n, "lrn").update(inputs=["lrn"]))
    variant("bad_missing.h5", lambda n: by(n, "lrn").update(inputs=["nosuch"]))
    variant("bad_wshape.h5", lambda n: by(n, "fc")["weights"].update(weight=np.zeros((3, 7), np.float32)))
    variant("bad_attr.h5", lambda n: by(n, "mp")["attrs"].update(strides=[2.0]))
    variant("bad_nattr.h5", lambda n: by(n, "c1")["attrs"].update(stride=[1.0, 1.0, 1.0]))
    variant("bad_bcast.h5", lambda n: n["nodes"].append(node("m", "Mul", ["dw", "fc"])))
    variant("bad_noweight.h5", lambda n: by(n, "c1").update(weights={}))

    def nan(n):
        w = by(n, "c1")["weights"]["weight"].copy()
        w[0, 0, 0, 0] = np.nan
        by(n, "c1")["weights"]["weight"] = w
    variant("nan_weight.h5", nan)
    # Not the node layout at all.
    with h5py.File(os.path.join(work, "bad_nonodes.h5"), "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array([1, 4, 4], np.int64)
    with h5py.File(os.path.join(work, "bad_kind.h5"), "w") as f:
        f.attrs["kind"] = "images"
    # Inputs for the driver.
    x = rng.random((2, 1, 12, 12)).astype(np.float32)
    with h5py.File(os.path.join(work, "bad_images.h5"), "w") as f:
        f.attrs["kind"] = "images"
        f.create_dataset("images", data=x)
    with h5py.File(os.path.join(work, "bad_seed.h5"), "w") as f:
        f.create_dataset("seed", data=np.ones((2, 3, 1, 1), np.float32))


if __name__ == "__main__":
    if sys.argv[1] == "--bad":
        write_bad(sys.argv[2])
        sys.exit(0)
    sys.exit(0 if check(sys.argv[1], sys.argv[2], sys.argv[3]) else 1)

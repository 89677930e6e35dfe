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
                hp = F.pad(h, (l, r, t, b), value=-np.inf)
                y = F.max_pool2d(hp, (kh, kw), (sh, sw), ceil_mode=ceil)
                if ceil:  # PyTorch's rule: a window must start inside input + leading pad
                    y = y[:, :, :pool_len(h.shape[2], kh, sh, t, b, ceil), :pool_len(h.shape[3], kw, sw, l, r, ceil)]
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
        elif op == "Add":
            y = sum(ins[1:], ins[0])
        elif op == "Concat":
            y = torch.cat(ins, dim=1)
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
    return out


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
    mp, ip, sp, op = (os.path.join(work, "%s.%s.h5" % (name, s)) for s in ("model", "images", "seed", "out"))
    write_model(mp, net)
    n = net.get("n", 5)
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

"""Check cnn-info --json against PyTorch and independent arithmetic:
output shapes (from running the net), parameter counts (tensor sizes),
multiply-accumulates (from the shapes), and receptive fields measured as the
nonzero input gradient of single output positions of the linearised net.

usage: info_check.py MODEL.h5 INFO.json
"""
import json
import sys

import torch

import cnnmodel


def bbox(g):
    """rows, cols of nonzero gradient: (r0, c0, r1, c1) half-open"""
    nz = (g.abs().sum(dim=0) > 0).nonzero()
    return (int(nz[:, 0].min()), int(nz[:, 1].min()), int(nz[:, 0].max()) + 1,
            int(nz[:, 1].max()) + 1)


def probe(meta, nodes, name, shape, pos):
    """Input-gradient boxes of output positions pos of node name."""
    x = torch.zeros((1,) + tuple(shape), dtype=torch.float64, requires_grad=True)
    acts = cnnmodel.run(meta, nodes, x, linear=True, upto=name)
    out = []
    for (y, xx) in pos:
        g, = torch.autograd.grad(acts[name][0, :, y, xx].sum(), x, retain_graph=True)
        out.append(bbox(g[0]))
    return out


def main():
    meta, nodes = cnnmodel.load(sys.argv[1])
    info = json.load(open(sys.argv[2]))
    errors = []
    c, h, w = meta["input_shape"]
    assert info["input_shape"] == [c, h, w], info["input_shape"]
    acts = cnnmodel.run(meta, nodes, torch.zeros(1, c, h, w))
    byname = {n["name"]: n for n in info["nodes"]}
    assert [n["name"] for n in info["nodes"]] == [n["name"] for n in nodes]
    tp = tm = 0
    # Spatial nodes: before the first node that sees its whole input.
    spatial, strides = [], 1
    for nd in nodes:
        if nd["op"] in ("Dense", "Gemm", "Flatten", "GlobalAvgPool"):
            break
        spatial.append(nd["name"])
        if nd["op"] in ("Conv", "MaxPool", "AvgPool"):
            s = cnnmodel.pair(nd["attrs"], "stride", 0)
            if nd["op"] != "Conv" and s == (0, 0):
                s = cnnmodel.pair(nd["attrs"], "kernel", 1)
            strides *= max(s) if s != (0, 0) else 1
    for nd in nodes:
        got = byname[nd["name"]]
        y = acts[nd["name"]]
        shape = [int(y.shape[1]), int(y.shape[2]), int(y.shape[3])]
        if got["output_shape"] != shape:
            errors.append("%s: shape %s, torch %s" % (nd["name"], got["output_shape"], shape))
        p = sum(int(t.numel()) for t in nd["w"].values())
        if got["params"] != p:
            errors.append("%s: params %d, want %d" % (nd["name"], got["params"], p))
        mac = 0
        if nd["op"] == "Conv":
            W = nd["w"]["weight"]
            mac = shape[0] * shape[1] * shape[2] * W.shape[1] * W.shape[2] * W.shape[3]
        elif nd["op"] in ("Dense", "Gemm"):
            mac = nd["w"]["weight"].numel()
        if got["macs"] != mac:
            errors.append("%s: MACs %d, want %d" % (nd["name"], got["macs"], mac))
        tp += p
        tm += mac
    if info["total_params"] != tp or info["total_macs"] != tm:
        errors.append("totals %d/%d, want %d/%d" % (info["total_params"], info["total_macs"], tp, tm))

    # Receptive fields of spatial nodes, unclipped: the same net on an input
    # with a margin M (a multiple of every jump) on each side, so that output
    # position P + M/jump there is position P here, its field shifted by M.
    M = strides
    while M < 2 * max(h, w) + 16:
        M *= 2
    big = (c, h + 2 * M, w + 2 * M)
    for name in spatial:
        rf = byname[name]["receptive_field"]
        oh, ow = byname[name]["output_shape"][1:]
        # Empirical jump from two neighbouring positions far from the border.
        x = torch.zeros((1,) + big, dtype=torch.float64)
        bh, bw = cnnmodel.run(meta, nodes, x, linear=True, upto=name)[name].shape[2:]
        mid = (bh // 2, bw // 2)
        b0, b1 = probe(meta, nodes, name, big, [mid, (mid[0] + 1, mid[1] + 1)])
        jump = [b1[0] - b0[0], b1[1] - b0[1]]
        if jump != rf["jump"]:
            errors.append("%s: jump %s, measured %s" % (name, rf["jump"], jump))
            continue
        pos = [(0, 0), (oh - 1, ow - 1), (oh // 2, 0)]
        bigpos = [(py + M // jump[0], px + M // jump[1]) for py, px in pos]
        for (py, px), b in zip(pos, probe(meta, nodes, name, big, bigpos)):
            want = [b[0] - M, b[1] - M, b[2] - b[0], b[3] - b[1]]
            start = [rf["start"][0] + py * jump[0], rf["start"][1] + px * jump[1]]
            have = start + rf["size"]
            if have != want:
                errors.append("%s (%d,%d): rf start+size %s, measured %s" % (name, py, px, have, want))
    # Nodes after the first whole-input one see the whole image.
    for nd in nodes:
        if nd["name"] in spatial:
            continue
        rf = byname[nd["name"]]["receptive_field"]
        b = probe(meta, nodes, nd["name"], (c, h, w), [(0, 0)])[0]
        r0, c0 = rf["start"]
        r1, c1 = r0 + rf["size"][0], c0 + rf["size"][1]
        clip = (max(r0, 0), max(c0, 0), min(r1, h), min(c1, w))
        if clip != (0, 0, h, w) or b != (0, 0, h, w):
            errors.append("%s: field %s (clipped %s), measured %s, want the whole %dx%d"
                          % (nd["name"], (r0, c0, r1, c1), clip, b, h, w))
    if errors:
        sys.exit("\n".join(errors))


if __name__ == "__main__":
    main()

"""Check a cnn-forward activations file against PyTorch running the same
model file (tests/cli/cnnmodel.py) on the same images: every stored layer,
/logits and /probs to 1e-4 (relative to the tensor's largest magnitude),
/pred and /topk_* against the probabilities, /ids, /labels, /classes.

usage: forward_check.py MODEL.h5 IMAGES.h5 ACTS.h5 A B
(rows A..B-1 of IMAGES.h5 are the activations file's rows)
"""
import sys

import h5py
import numpy as np
import torch

import cnnmodel


def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def close(name, got, ref, tol=1e-4):
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return ["%s: shape %s, torch %s" % (name, got.shape, ref.shape)]
    err = np.abs(got - ref).max() / max(1.0, np.abs(ref).max())
    return [] if err <= tol else ["%s: relative error %.3g > %g" % (name, err, tol)]


def main():
    mpath, ipath, apath, a, b = sys.argv[1:6]
    a, b = int(a), int(b)
    meta, nodes = cnnmodel.load(mpath)
    with h5py.File(ipath, "r") as f:
        x = torch.from_numpy(f["images"][a:b].astype(np.float64))
        ids = f["ids"][a:b] if "ids" in f else np.arange(a, b)
        labels = f["labels"][a:b] if "labels" in f else None
        dcls = [s(c) for c in f["classes"][()]] if "classes" in f else None
    with torch.no_grad():
        acts = {k: v.numpy() for k, v in cnnmodel.run(meta, nodes, x).items()}
    last = nodes[-1]
    lname = last["inputs"][0] if last["op"] == "Softmax" else last["name"]
    logits = acts[lname].reshape(len(x), -1)
    errors = []
    with h5py.File(apath, "r") as f:
        if s(f.attrs["kind"]) != "activations":
            errors.append("kind is %s" % s(f.attrs["kind"]))
        for name in f.get("act", {}):
            errors += close("/act/" + name, f["act"][name][()], acts[name])
        errors += close("/logits", f["logits"][()], logits)
        p = f["probs"][()].astype(np.float64)
        z = logits - logits.max(axis=1, keepdims=True)
        ref = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        errors += close("/probs", p, ref)
        pred = f["pred"][()]
        if pred.dtype != np.int32 or f["topk_idx"].dtype != np.int32:
            errors.append("pred/topk_idx are not int32")
        if not (pred == p.argmax(axis=1)).all():
            errors.append("/pred is not the argmax of /probs")
        srt = np.sort(ref, axis=1)
        clear = srt[:, -1] - srt[:, -2] > 1e-4
        if not (pred[clear] == ref.argmax(axis=1)[clear]).all():
            errors.append("/pred disagrees with torch")
        ti, tp = f["topk_idx"][()], f["topk_prob"][()]
        if not (ti[:, 0] == pred).all():
            errors.append("/topk_idx[:,0] != /pred")
        if not np.allclose(np.take_along_axis(p, ti.astype(np.int64), 1), tp):
            errors.append("/topk_prob != /probs at /topk_idx")
        if (np.diff(tp, axis=1) > 0).any():
            errors.append("/topk_prob not descending")
        if not (f["ids"][()] == ids).all():
            errors.append("/ids not carried")
        if labels is not None and not (f["labels"][()] == labels).all():
            errors.append("/labels not carried")
        cls = [s(c) for c in f["classes"][()]] if "classes" in f else None
        want = meta["classes"] or dcls
        if cls != want:
            errors.append("/classes %s, want %s" % (cls, want))
        lc = [s(c) for c in f["label_classes"][()]] if "label_classes" in f else None
        if dcls and meta["classes"] and dcls != meta["classes"] and lc != dcls:
            errors.append("/label_classes %s, want the images file's %s" % (lc, dcls))
    if errors:
        sys.exit("\n".join(errors))


if __name__ == "__main__":
    main()

"""Fixtures and numpy references for the analysis tools' tests
(tests/cli/extract.sh, tests/cli/topk.sh).

  acts OUT N [SEED]       an activations file: /act/conv (N x 4 x 5 x 6),
                          /act/fc (N x 7), /logits, /probs (N x 3), /pred,
                          /ids (1000+, shuffled), /labels, /classes; ties on
                          purpose in /act/fc column 0
  images OUT ACTS         an images file with the same ids (reversed order)
  extract ACTS LAYER SUMMARY CHANNELS FEATURES
                          cnn-extract-layer's output vs numpy
  topk FILE DSET SUMMARY K LOWEST UNITS WHERE RANKING
                          cnn-topk's output vs a stable numpy argsort
                          (ties by id)
  gather RANKING IMAGES GATHERED
  model OUT               a tiny model file per docs/model-format.md
"""
import sys

import h5py
import numpy as np


def acts(out, n, seed=0):
    rng = np.random.default_rng(seed)
    conv = rng.standard_normal((n, 4, 5, 6)).astype(np.float32)
    fc = rng.standard_normal((n, 7)).astype(np.float32)
    fc[:, 0] = np.round(fc[:, 0])          # many ties
    logits = rng.standard_normal((n, 3)).astype(np.float32)
    e = np.exp(logits - logits.max(1, keepdims=True))
    probs = (e / e.sum(1, keepdims=True)).astype(np.float32)
    ids = (1000 + rng.permutation(n)).astype(np.int64)
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "activations"
        f["act/conv"] = conv
        f["act/fc"] = fc
        f["logits"] = logits
        f["probs"] = probs
        f["pred"] = probs.argmax(1).astype(np.int32)
        f["ids"] = ids
        f["labels"] = rng.integers(0, 3, n).astype(np.int32)
        f["classes"] = np.array([b"cat", b"dog", b"eight"], dtype=h5py.string_dtype())


def images(out, actsf):
    with h5py.File(actsf) as a:
        ids = a["ids"][...][::-1]
        labels = a["labels"][...][::-1]
    n = len(ids)
    img = np.zeros((n, 1, 4, 4), np.float32)
    img[:, 0, 0, 0] = ids  # each image says which id it is
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = img
        f["ids"] = ids
        f["labels"] = labels


def summarise(x, summary):
    if x.ndim == 2 or summary == "none":
        return x.reshape(len(x), -1)
    m = x.reshape(x.shape[0], x.shape[1], -1)
    # mean as cnn-extract-layer computes it: summed in double, then rounded
    mean = m.astype(np.float64).mean(2).astype(np.float32)
    return {"max": m.max(2), "mean": mean, "absmax": np.abs(m).max(2)}[summary]


def extract(actsf, layer, summary, channels, featf):
    with h5py.File(actsf) as a:
        x = a["act/" + layer][...] if "act/" + layer in a else a[layer][...]
        ids, labels = a["ids"][...], a["labels"][...]
    if channels != "-":
        x = x[:, [int(c) for c in channels.split(",")]]
    want = summarise(x, summary)
    with h5py.File(featf) as f:
        assert f.attrs["kind"] == "features"
        got = f["features"][...]
        assert got.shape == want.shape, (got.shape, want.shape)
        assert np.allclose(got, want, rtol=1e-6, atol=1e-6), np.abs(got - want).max()
        assert np.array_equal(f["ids"][...], ids)
        assert np.array_equal(f["labels"][...], labels)
        assert len(f["classes"]) == 3


def topk(path, dset, summary, k, lowest, units, where, rankf):
    k, lowest = int(k), lowest == "1"
    with h5py.File(path) as a:
        x = a[dset][...]
        ids = a["ids"][...]
        cols = {"label": a["labels"][...] if "labels" in a else None,
                "pred": a["pred"][...] if "pred" in a else None}
    s = summarise(x, summary)
    keep = np.ones(len(s), bool)
    if where != "-":
        for w in where.split(";"):
            key, vals = w.split("=")
            keep &= np.isin(cols[key], [int(v) for v in vals.split(",")])
    rows = np.nonzero(keep)[0]
    units = np.arange(s.shape[1]) if units == "-" else np.array([int(u) for u in units.split(",")])
    with h5py.File(rankf) as r:
        assert r.attrs["kind"] == "ranking"
        assert np.array_equal(r["unit"][...], units)
        gid, grow, gsc = r["ids"][...], r["rows"][...], r["scores"][...]
    kk = min(k, len(rows))
    assert gid.shape == (len(units), kk), gid.shape
    for i, u in enumerate(units):
        v = s[rows, u].astype(np.float64)
        # primary key score (descending unless lowest), secondary id ascending
        order = np.lexsort((ids[rows], v if lowest else -v))[:kk]
        assert np.array_equal(grow[i], rows[order]), (u, grow[i], rows[order])
        assert np.array_equal(gid[i], ids[rows[order]])
        assert np.array_equal(gsc[i], s[rows[order], u])


def gather(rankf, imagesf, gatheredf):
    with h5py.File(rankf) as r:
        ids, sc = r["ids"][...].ravel(), r["scores"][...].ravel()
    with h5py.File(gatheredf) as g, h5py.File(imagesf) as im:
        assert g.attrs["kind"] == "images"
        assert np.array_equal(g["ids"][...], ids)
        assert np.array_equal(g["scores"][...], sc)
        assert np.array_equal(g["images"][:, 0, 0, 0], ids.astype(np.float32))
        lab = dict(zip(im["ids"][...], im["labels"][...]))
        assert np.array_equal(g["labels"][...], [lab[i] for i in ids])


if __name__ == "__main__":
    a = sys.argv[1:]
    {"acts": lambda: acts(a[1], int(a[2]), int(a[3]) if len(a) > 3 else 0),
     "images": lambda: images(a[1], a[2]),
     "extract": lambda: extract(*a[1:6]),
     "topk": lambda: topk(*a[1:9]),
     "gather": lambda: gather(*a[1:4])}[a[0]]()

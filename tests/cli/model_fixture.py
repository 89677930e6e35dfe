"""A tiny model file written with h5py as docs/model-format.md shows, and the
check of cnn-extract-layer --weights against h5py's reading of it.

  model_fixture.py OUT                      write the model
  model_fixture.py check MODEL LAYER OUT    OUT's /images equal the weights
"""
import sys

import h5py
import numpy as np


def write(out):
    rng = np.random.default_rng(3)
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "model"
        f.attrs["input_shape"] = np.array([3, 12, 12], np.int64)
        f.create_dataset("classes", data=["a", "b", "c", "d"], dtype=h5py.string_dtype())

        def node(i, name, op, inputs=None, **attrs):
            g = f.create_group("nodes/%04d" % i)
            g.attrs["name"] = name
            g.attrs["op"] = op
            if inputs:
                g.attrs["inputs"] = inputs
            for k, v in attrs.items():
                g.attrs[k] = np.atleast_1d(np.array(v, np.float64))
            return g
        g = node(0, "conv1", "Conv", "input", pad=[1])
        g["weight"] = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
        g["bias"] = rng.standard_normal(5).astype(np.float32)
        node(1, "relu1", "ReLU")
        node(2, "pool1", "MaxPool", kernel=[2, 2])
        node(3, "flat", "Flatten")
        g = node(4, "fc", "Dense")
        g["weight"] = rng.standard_normal((4, 5 * 6 * 6)).astype(np.float32)


def check(model, layer, out):
    with h5py.File(model) as m, h5py.File(out) as o:
        grp = [g for g in m["nodes"].values() if g.attrs["name"] == layer][0]
        w = grp["weight"][...]
        if w.ndim == 2:
            w = w[:, None, None, :]
        assert o.attrs["kind"] == "images"
        assert np.array_equal(o["images"][...], w), "weights differ"
        assert np.array_equal(o["ids"][...], np.arange(len(w)))
        if "bias" in grp:
            assert np.array_equal(o["bias"][...], grp["bias"][...])


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(*sys.argv[2:5])
    else:
        write(sys.argv[1])

"""Write an images file of random pixels: random_images.py OUT.h5 N C H W [K]
(K classes of random labels, named c0..; default 10)."""
import sys

import h5py
import numpy as np

out, n, c, h, w = sys.argv[1], *map(int, sys.argv[2:6])
k = int(sys.argv[6]) if len(sys.argv) > 6 else 10
r = np.random.default_rng(5)
with h5py.File(out, "w") as f:
    f.attrs["kind"] = "images"
    f["images"] = r.random((n, c, h, w), dtype=np.float32)
    f["ids"] = np.arange(n, dtype=np.int64) + 100
    f["labels"] = r.integers(0, k, n).astype(np.int32)
    f.create_dataset("classes", data=["c%d" % i for i in range(k)], dtype=h5py.string_dtype("utf-8"))

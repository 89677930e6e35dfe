"""A conv1-like features matrix for the PCA benchmark: Fashion-MNIST images
(Debian's dataset-fashion-mnist) through 32 random 3x3 filters and a ReLU,
flattened: N x 21,632, as conv1 of the MNIST CNN. Also the sklearn timing.

  pca_fixture.py make OUT N
  pca_fixture.py sklearn FEATURES K      fit + transform with 2 threads
"""
import gzip
import sys
import time

import h5py
import numpy as np

IDX = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def make(out, n):
    with gzip.open(IDX) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    x = x.astype(np.float32) / 255
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 3, 3)).astype(np.float32) / 3
    b = rng.standard_normal(32).astype(np.float32) * 0.1
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "features"
        d = f.create_dataset("features", (n, 32 * 26 * 26), np.float32, chunks=(12, 32 * 26 * 26))
        for a in range(0, n, 1000):
            xb = x[a:a + 1000]
            o = np.zeros((len(xb), 32, 26, 26), np.float32)
            for i in range(3):
                for j in range(3):
                    o += w[None, :, i, j, None, None] * xb[:, None, i:i + 26, j:j + 26]
            d[a:a + len(xb)] = np.maximum(o + b[None, :, None, None], 0).reshape(len(xb), -1)
        f["ids"] = np.arange(n, dtype=np.int64)


def sklearn(path, k):
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2):
        x = h5py.File(path)["features"][...]
        t = time.time()
        PCA(n_components=k).fit(x).transform(x)
        print(f"sklearn fit+transform k={k}: {time.time() - t:.2f} s")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        sklearn(sys.argv[2], int(sys.argv[3]))

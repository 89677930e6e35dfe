"""Features matrices for the PCA benchmark, from Fashion-MNIST images
(Debian's dataset-fashion-mnist) through random filters of the MNIST CNN's
shapes, and the references cnn-pca is measured against.

  pca_fixture.py make OUT N              conv1: 32 random 3x3 filters + ReLU,
                                         flattened: N x 21,632
  pca_fixture.py make-pool OUT N         conv1 + ReLU, conv2 (64 random
                                         3x3x32 filters) + ReLU, 2x2 max
                                         pool, flattened: N x 9,216 (N up to
                                         60,000)
  pca_fixture.py sklearn FEATURES K [OUT.npy]
                                         scikit-learn's default PCA, fit +
                                         transform, 2 threads; components
                                         into OUT.npy
  pca_fixture.py exact FEATURES K OUT    the top K components of an exact
                                         PCA (covariance or Gram matrix in
                                         double, LAPACK dsyevr) into OUT.npy
  pca_fixture.py diff PCA EXACT.npy      largest |component difference| of a
                                         pca file (or .npy of components)
                                         from the exact ones, sign-aligned:
                                         leading ten and all
"""
import gzip
import sys
import time

import h5py
import numpy as np

IDX = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def images(n):
    with gzip.open(IDX) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    return x.astype(np.float32) / 255


def conv(x, w, b):
    """Valid 3x3 convolution: x (B, C, H, W), w (O, C, 3, 3) -> (B, O, H-2, W-2)."""
    h, wd = x.shape[2] - 2, x.shape[3] - 2
    o = np.zeros((x.shape[0], w.shape[0], h, wd), np.float32)
    for i in range(3):
        for j in range(3):
            o += np.einsum("bchw,oc->bohw", x[:, :, i:i + h, j:j + wd], w[:, :, i, j],
                           optimize=True)
    return o + b[None, :, None, None]


def make(out, n, pool=False):
    x = images(n)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 3, 3)).astype(np.float32) / 3
    b = rng.standard_normal(32).astype(np.float32) * 0.1
    w2 = rng.standard_normal((64, 32, 3, 3)).astype(np.float32) / np.sqrt(288)
    b2 = rng.standard_normal(64).astype(np.float32) * 0.1
    d = 64 * 12 * 12 if pool else 32 * 26 * 26
    with h5py.File(out + ".part", "w") as f:
        f.attrs["kind"] = "features"
        f.attrs["layer"] = "flatten" if pool else "conv1"
        ds = f.create_dataset("features", (n, d), np.float32, chunks=(max(1, 262144 // d), d))
        for a in range(0, n, 1000):
            xb = x[a:a + 1000]
            o = np.maximum(conv(xb[:, None], w[:, None], b), 0)
            if pool:
                o = np.maximum(conv(o, w2, b2), 0)
                o = o.reshape(len(xb), 64, 12, 2, 12, 2).max(axis=(3, 5))
            ds[a:a + len(xb)] = o.reshape(len(xb), -1)
        f["ids"] = np.arange(n, dtype=np.int64)
    import os
    os.replace(out + ".part", out)


def sklearn(path, k, out=None):
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2):
        x = h5py.File(path)["features"][...]
        t = time.time()
        p = PCA(n_components=k).fit(x)
        p.transform(x)
        print(f"sklearn fit+transform k={k}: {time.time() - t:.2f} s")
    if out:
        np.save(out, p.components_)


def exact(path, k, out):
    import scipy.linalg as sl
    from scipy.linalg.blas import dsyrk
    ds = h5py.File(path)["features"]
    n, d = ds.shape
    step = max(1, (256 << 20) // (8 * d))
    mu = np.zeros(d)
    for a in range(0, n, step):
        mu += ds[a:a + step].astype(np.float64).sum(axis=0)
    mu /= n
    if d <= n:
        c = np.zeros((d, d), order="F")
        for a in range(0, n, step):
            xc = ds[a:a + step].astype(np.float64) - mu
            # xc is C-ordered r x d, i.e. Fortran d x r: dsyrk gives xc^T xc.
            c = dsyrk(1.0, xc.T, beta=1.0, c=c, lower=0, overwrite_c=1)
        w, v = sl.eigh(c, lower=False, subset_by_index=[d - k, d - 1], driver="evr")
        comp = v[:, ::-1].T
    else:
        xc = ds[...].astype(np.float64)
        xc -= mu
        g = dsyrk(1.0, xc, lower=0)
        w, u = sl.eigh(g, lower=False, subset_by_index=[n - k, n - 1], driver="evr")
        comp = (xc.T @ u[:, ::-1]).T
        comp /= np.linalg.norm(comp, axis=1, keepdims=True)
    np.save(out, comp.astype(np.float32))


def diff(pcaf, exactf):
    if pcaf.endswith(".npy"):
        comp = np.load(pcaf).astype(np.float64)
    else:
        comp = h5py.File(pcaf)["components"][...].astype(np.float64)
    ref = np.load(exactf).astype(np.float64)[:comp.shape[0]]
    sg = np.sign(np.sum(comp * ref, axis=1, keepdims=True))
    e = np.abs(comp - sg * ref).max(axis=1)
    print(f"{e[:10].max():.1e} {e.max():.1e}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "make":
        make(a[1], int(a[2]))
    elif a[0] == "make-pool":
        make(a[1], int(a[2]), pool=True)
    elif a[0] == "sklearn":
        sklearn(a[1], int(a[2]), a[3] if len(a) > 3 else None)
    elif a[0] == "exact":
        exact(a[1], int(a[2]), a[3])
    elif a[0] == "diff":
        diff(a[1], a[2])
    else:
        sys.exit(__doc__)

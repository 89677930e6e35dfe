"""Reference checks of cnn-pca against scikit-learn's PCA (full SVD).

  make OUT N D [SEED] [--nan R,C] [--const C]   a features file with a
        decaying spectrum (so the leading components are well separated)
  compare FEATURES PCA [TOL_PROJ] [TOL_RATIO]   our pca file vs sklearn on
        the same matrix: components and projections equal up to sign to
        TOL_PROJ (relative to the largest projection), explained variance
        ratio to TOL_RATIO, mean, carried ids/labels
  apply FIT_FEATURES APPLY_FEATURES PCA         projections of APPLY's rows
        onto components fitted on FIT (sklearn fit + transform)
"""
import sys

import h5py
import numpy as np
from sklearn.decomposition import PCA


def make(out, n, d, seed=0, nan=None, const=None):
    rng = np.random.default_rng(seed)
    r = min(n, d, 20)
    u = np.linalg.qr(rng.standard_normal((n, r)))[0]
    v = np.linalg.qr(rng.standard_normal((d, r)))[0]
    s = 30.0 * 0.7 ** np.arange(r) * np.sqrt(n)
    x = (u * s) @ v.T + 0.05 * rng.standard_normal((n, d)) + 3.0
    x = x.astype(np.float32)
    if const is not None:
        x[:, const] = 2.5
    if nan is not None:
        x[nan[0], nan[1]] = np.nan
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "features"
        f.attrs["layer"] = "synthetic"
        f["features"] = x
        f["ids"] = np.arange(100, 100 + n, dtype=np.int64)
        f["labels"] = (np.arange(n) % 10).astype(np.int32)
        f["classes"] = np.array([str(i).encode() for i in range(10)], dtype=h5py.string_dtype())


def ref(x, k):
    p = PCA(n_components=k, svd_solver="full").fit(x.astype(np.float64))
    return p, p.transform(x.astype(np.float64))


def aligned(ours, theirs):
    """Flip theirs' rows to ours' signs; return the max abs difference."""
    sg = np.sign(np.sum(ours * theirs, axis=1, keepdims=True))
    sg[sg == 0] = 1
    return sg


def compare(feat, pcaf, tol_proj=1e-3, tol_ratio=1e-4):
    with h5py.File(feat) as f:
        x = f["features"][...]
        ids = f["ids"][...]
        labels = f["labels"][...]
    with h5py.File(pcaf) as g:
        assert g.attrs["kind"] == "pca", g.attrs["kind"]
        proj = g["features"][...]
        comp = g["components"][...]
        ratio = g["explained_variance_ratio"][...]
        ev = g["explained_variance"][...]
        mean = g["mean"][...]
        method = g.attrs["method"]
        assert np.array_equal(g["ids"][...], ids)
        assert np.array_equal(g["labels"][...], labels)
    k = comp.shape[0]
    p, t = ref(x, k)
    sg = aligned(comp, p.components_)
    dc = np.abs(comp - sg * p.components_).max()
    scale = np.abs(t).max()
    dp = np.abs(proj - t * sg.T).max() / scale
    dr = np.abs(ratio - p.explained_variance_ratio_).max()
    dv = np.abs(ev - p.explained_variance_).max() / p.explained_variance_[0]
    dm = np.abs(mean - p.mean_).max() / max(1.0, np.abs(p.mean_).max())
    # Our sign convention: the largest-magnitude loading is positive.
    big = comp[np.arange(k), np.abs(comp).argmax(axis=1)]
    print(f"method={method} k={k} comp={dc:.2e} proj={dp:.2e} ratio={dr:.2e} "
          f"var={dv:.2e} mean={dm:.2e}")
    assert (big > 0).all(), "sign convention"
    assert dc < tol_proj, f"components differ by {dc}"
    assert dp < tol_proj, f"projections differ by {dp}"
    assert dr < tol_ratio, f"ratios differ by {dr}"
    assert dv < tol_ratio * 10, f"variances differ by {dv}"
    assert dm < 1e-5, f"means differ by {dm}"


def apply(fitf, appf, pcaf):
    with h5py.File(fitf) as f:
        xf = f["features"][...]
    with h5py.File(appf) as f:
        xa = f["features"][...]
        ids = f["ids"][...]
    with h5py.File(pcaf) as g:
        proj = g["features"][...]
        comp = g["components"][...]
        assert np.array_equal(g["ids"][...], ids)
    p = PCA(n_components=comp.shape[0], svd_solver="full").fit(xf.astype(np.float64))
    sg = aligned(comp, p.components_)
    t = p.transform(xa.astype(np.float64)) * sg.T
    dp = np.abs(proj - t).max() / np.abs(t).max()
    print(f"apply proj={dp:.2e}")
    assert dp < 1e-3, dp


def main(a):
    if a[0] == "make":
        opts = {}
        rest = []
        i = 1
        while i < len(a):
            if a[i] == "--nan":
                opts["nan"] = tuple(int(v) for v in a[i + 1].split(","))
                i += 2
            elif a[i] == "--const":
                opts["const"] = [int(v) for v in a[i + 1].split(",")]
                i += 2
            else:
                rest.append(a[i])
                i += 1
        make(rest[0], int(rest[1]), int(rest[2]), int(rest[3]) if len(rest) > 3 else 0, **opts)
    elif a[0] == "compare":
        compare(a[1], a[2], *(float(v) for v in a[3:]))
    elif a[0] == "apply":
        apply(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

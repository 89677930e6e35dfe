#!/bin/sh
# Results do not depend on how the work is cut: shards of 7 rows (--range),
# run with other --batch and --threads, joined by cnn-join, equal one run
# byte for byte in every dataset, for cnn-forward, cnn-saliency,
# cnn-occlude and cnn-pca (projections of shards). The model has 3x3
# convolutions on maps wide enough for Winograd (32x32: 64 tiles; one with
# fewer output channels than tiles, whose tile rows one image splits over
# the threads, one with as many, whose image the threads share) and dense
# layers wide enough for the thin kernel, so every kernel choice the
# engine makes by batch is crossed.
. "$(dirname "$0")/../lib.sh"
$PY - "$T/m.h5" <<'PY' || exit 1
import sys, h5py, numpy as np
r = np.random.default_rng(11)
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["kind"] = "model"
    f.attrs["input_shape"] = np.array([3, 32, 32], np.int64)
    f.create_dataset("classes", data=["c%d" % i for i in range(10)], dtype=h5py.string_dtype())
    nodes = [("conv1", "Conv", (16, 3, 3, 3), dict(pad=[1])), ("relu1", "ReLU", None, {}),
             ("conv2", "Conv", (16, 16, 3, 3), dict(pad=[1])), ("relu2", "ReLU", None, {}),
             ("conv3", "Conv", (64, 16, 3, 3), dict(pad=[1])), ("relu4", "ReLU", None, {}),
             ("pool1", "MaxPool", None, dict(kernel=[2, 2])), ("flat", "Flatten", None, {}),
             ("fc1", "Dense", (40, 16384), {}), ("relu3", "ReLU", None, {}),
             ("fc2", "Dense", (10, 40), {})]
    for i, (name, op, w, attrs) in enumerate(nodes):
        g = f.create_group("nodes/%04d" % i)
        g.attrs["name"], g.attrs["op"] = name, op
        for k, v in attrs.items():
            g.attrs[k] = np.array(v, np.float64)
        if w:
            fan = np.prod(w[1:])
            g["weight"] = (r.standard_normal(w) / np.sqrt(fan)).astype(np.float32)
            g["bias"] = (0.1 * r.standard_normal(w[0])).astype(np.float32)
PY
$PY "$TOP/tests/cli/random_images.py" "$T/im.h5" 40 3 32 32 || exit 1
N=40
ranges=$(seq 0 7 $((N - 1)) | awk -v n=$N '{ e = $1 + 7; if (e > n) e = n; print $1 ":" e }')

# same WHAT ONE JOINED: every dataset of JOINED equal to ONE's, byte for byte.
same() {
    check_py "$1" -c "
import h5py, numpy as np
a, j = h5py.File('$2'), h5py.File('$3')
def sets(f):
    d = {}
    f.visititems(lambda n, o: d.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return d
A, J = sets(a), sets(j)
assert sorted(A) == sorted(J), (sorted(A), sorted(J))
for k in A:
    x, y = A[k][()], J[k][()]
    assert A[k].dtype == J[k].dtype and x.shape == y.shape, k
    if x.dtype.kind == 'f' and x.tobytes() != y.tobytes():
        raise SystemExit('%s: %d of %d values differ, by up to %g' % (k, (x != y).sum(), x.size, np.abs(x - y).max()))
    assert np.array_equal(x, y), k"
}

# shard TOOL TAG ARGS...: one run (default batch and threads), then 7-row
# shards with --batch 3 --threads 1, joined into $T/TAG-j.h5.
shard() {
    local tool=$1 tag=$2; shift 2
    $tool -q "$@" "${IN:-$T/im.h5}" -o "$T/$tag-1.h5" || { fail "$tag: one run"; return; }
    local files="" r
    for r in $ranges; do
        $tool -q --batch 3 --threads 1 --range $r "$@" "${IN:-$T/im.h5}" -o "$T/$tag-${r%%:*}.h5" ||
            { fail "$tag: shard $r"; return; }
        files="$files $T/$tag-${r%%:*}.h5"
    done
    # shellcheck disable=SC2086
    cnn-join -o "$T/$tag-j.h5" $files || { fail "$tag: join"; return; }
    same "$tag: 7-row shards (--batch 3 --threads 1) joined = one run" "$T/$tag-1.h5" "$T/$tag-j.h5"
}

shard cnn-forward forward -m "$T/m.h5" -l conv1,conv2,fc1
shard cnn-forward logits -m "$T/m.h5" --batch 40
shard cnn-saliency saliency -m "$T/m.h5" -M gradient -t pred
shard cnn-saliency ig -m "$T/m.h5" -M integrated-gradients --steps 8 -t class=3
# Occlusion's cone executor (common/nn/cone.c): its region convolutions on
# the packed GEMM, and (CNN_CONV_PACK=0) on OpenBLAS one item at a time.
shard cnn-occlude occlude -m "$T/m.h5" -t pred -w 4 --stride 4
export CNN_CONV_PACK=0
shard cnn-occlude occlude-blas -m "$T/m.h5" -t pred -w 4 --stride 4 --fill mean
unset CNN_CONV_PACK
# PCA: fit once on every row, then project shards of the features.
cnn-forward -q -m "$T/m.h5" -l fc1 "$T/im.h5" | cnn-extract-layer -q -l fc1 -o "$T/f.h5"
cnn-pca -q -k 3 "$T/f.h5" -o "$T/fit.h5"
IN=$T/f.h5 shard cnn-pca pca --fit "$T/fit.h5" -k 3

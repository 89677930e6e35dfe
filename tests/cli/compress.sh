#!/bin/sh
# --compress[=L] (HDF5 shuffle + deflate on every dataset a tool writes)
# and standard input spooled to a temporary file: compressed outputs read
# back equal, by every reader (cnn-pca's mapped path falls back to
# reading), and a pipe stage gives what a file gives.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli
$PY "$H/model_fixture.py" "$T/m.h5" || exit 1
$PY "$H/random_images.py" "$T/im.h5" 60 3 12 12 || exit 1
cnn-forward -q -m "$T/m.h5" -l relu1,pool1 "$T/im.h5" -o "$T/a.h5"
check "cnn-forward --compress" cnn-forward -q --compress -m "$T/m.h5" -l relu1,pool1 "$T/im.h5" -o "$T/z.h5"
check "cnn-forward --compress=9" cnn-forward -q --compress=9 -m "$T/m.h5" -l relu1 "$T/im.h5" -o "$T/z9.h5"
check_py "compressed: same values, shuffle + deflate (level 4, 9), smaller" -c "
import h5py, numpy as np, os
a, z, z9 = h5py.File('$T/a.h5'), h5py.File('$T/z.h5'), h5py.File('$T/z9.h5')
def sets(f):
    d = {}
    f.visititems(lambda n, o: d.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return d
A, Z = sets(a), sets(z)
assert sorted(A) == sorted(Z)
for k in A:
    assert A[k].dtype == Z[k].dtype and np.array_equal(A[k][()], Z[k][()]), k
for k in ('act/relu1', 'act/pool1'):
    assert Z[k].compression == 'gzip' and Z[k].compression_opts == 4 and Z[k].shuffle, k
    assert A[k].compression is None, k
assert z9['act/relu1'].compression_opts == 9
assert os.path.getsize('$T/z.h5') < 0.8 * os.path.getsize('$T/a.h5')"
check_error "--compress=0 is refused" 2 "cnn-forward: --compress: 0 is out of range" "$T/x.h5" \
    cnn-forward -q --compress=0 -m "$T/m.h5" "$T/im.h5" -o "$T/x.h5"
check_error "--compress=x is refused" 2 "cnn-forward: --compress: 'x' is not an integer" "$T/x.h5" \
    cnn-forward -q --compress=x -m "$T/m.h5" "$T/im.h5" -o "$T/x.h5"

# Readers: features from the compressed file, PCA of both (mapped / read).
cnn-extract-layer -q -l relu1 "$T/a.h5" -o "$T/f.h5"
check "cnn-extract-layer reads a compressed file, writes one" \
    cnn-extract-layer -q --compress -l relu1 "$T/z.h5" -o "$T/fz.h5"
cnn-pca -q -k 3 "$T/f.h5" -o "$T/p.h5"
check "cnn-pca on compressed features (no mapping: read)" cnn-pca -q -k 3 "$T/fz.h5" -o "$T/pz.h5"
check "cnn-pca from a pipe (spooled)" sh -c "cat '$T/f.h5' | cnn-pca -q -k 3 -o '$T/pp.h5'"
check "cnn-join of compressed shards, compressed" sh -c "
    cnn-forward -q --compress -m '$T/m.h5' -l relu1 --range 0:25 '$T/im.h5' -o '$T/s0.h5' &&
    cnn-forward -q --compress -m '$T/m.h5' -l relu1 --range 25:60 '$T/im.h5' -o '$T/s1.h5' &&
    cnn-join -q --compress -o '$T/j.h5' '$T/s0.h5' '$T/s1.h5'"
check_py "PCA of compressed, piped and plain features equal; joined = one run" -c "
import h5py, numpy as np
p = h5py.File('$T/p.h5')
for n in ('pz', 'pp'):
    q = h5py.File('$T/%s.h5' % n)
    for d in ('features', 'components', 'mean', 'explained_variance'):
        assert p[d][()].tobytes() == q[d][()].tobytes(), (n, d)
a, j = h5py.File('$T/a.h5'), h5py.File('$T/j.h5')
assert np.array_equal(a['act/relu1'][()], j['act/relu1'][()]) and j['act/relu1'].compression == 'gzip'"
if ls "${TMPDIR:-/tmp}"/cnn-stdin-* >/dev/null 2>&1 && [ -n "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'cnn-stdin-*' -newer "$T/p.h5" 2>/dev/null)" ]; then
    fail "no spool file left behind" "$(ls "${TMPDIR:-/tmp}"/cnn-stdin-*)"
else
    pass "no spool file left behind"
fi
check_error "a pipe of garbage: one line, no spool left" 1 "cnn-pca: <stdin>: not an HDF5 file" "" \
    sh -c "echo garbage | cnn-pca -q -k 2 -o '$T/x.h5'"

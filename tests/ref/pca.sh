#!/bin/sh
# cnn-pca against scikit-learn's PCA (full SVD) on the same matrix: each
# route (covariance for N >= D, gram for D > N, randomized block Krylov for
# large both), projections and components equal up to sign to 1e-3 of the
# largest, explained variance ratio to 1e-4; the randomized route is held to
# the same tolerances on matrices with separated leading eigenvalues (its
# accuracy is set by --tol, 3e-4 by default), for N >> D and D >> N, with
# blocks narrower than K and a basis small enough to restart.
# --fit/--apply against fit + transform.
. "$(dirname "$0")/../lib.sh"
C=$TOP/tests/ref/pca_check.py

$PY "$C" make "$T/tall.h5" 600 40 1 || exit 1       # N > D: covariance
$PY "$C" make "$T/wide.h5" 90 3000 2 || exit 1      # D > N: gram
$PY "$C" make "$T/big.h5" 1500 1300 3 || exit 1     # both > 1024: randomized
$PY "$C" make "$T/square.h5" 6 4 4 || exit 1        # k = min(N, D)
$PY "$C" make "$T/const.h5" 300 30 5 --const 0,7 || exit 1

for f in tall wide big; do
    check "cnn-pca -k 3 $f (auto)" cnn-pca -q -k 3 -o "$T/$f.pca.h5" "$T/$f.h5"
    check_py "$f: auto route matches sklearn" "$C" compare "$T/$f.h5" "$T/$f.pca.h5"
done
for m in covariance gram randomized; do
    check "cnn-pca --method $m" cnn-pca -q -k 4 --method $m -o "$T/m_$m.pca.h5" "$T/tall.h5"
    check_py "--method $m matches sklearn" "$C" compare "$T/tall.h5" "$T/m_$m.pca.h5"
done
# The randomized route on N >> D and D >> N: default block (12 columns, thin:
# one thread, cache-sized sub-blocks), then blocks of 3 columns (narrower
# than K) with a basis of 14 columns, so that it restarts, and a wide block
# (20 columns: BLAS threads, whole batches).
$PY "$C" make "$T/tall2.h5" 4000 300 6 || exit 1
$PY "$C" make "$T/wide2.h5" 250 5000 7 || exit 1
for f in tall2 wide2; do
    check "randomized $f" cnn-pca -q -k 8 --method randomized -o "$T/r_$f.pca.h5" "$T/$f.h5"
    check_py "randomized $f matches sklearn" "$C" compare "$T/$f.h5" "$T/r_$f.pca.h5"
    check "randomized $f, restarts" cnn-pca -q -k 8 --method randomized --block 3 --basis 14 \
        --batch 100 -o "$T/rr_$f.pca.h5" "$T/$f.h5"
    check_py "randomized $f with restarts matches sklearn" "$C" compare "$T/$f.h5" "$T/rr_$f.pca.h5"
    check "randomized $f, wide block" cnn-pca -q -k 6 --method randomized --block 20 \
        -o "$T/rw_$f.pca.h5" "$T/$f.h5"
    check_py "randomized $f with a wide block matches sklearn" "$C" compare "$T/$f.h5" "$T/rw_$f.pca.h5"
done
check "gram in several blocks (small batches)" cnn-pca -q -k 3 --method gram --batch 7 -o "$T/wide7.pca.h5" "$T/wide.h5"
check_py "blocked gram matches sklearn" "$C" compare "$T/wide.h5" "$T/wide7.pca.h5"
check "k = min(N, D)" cnn-pca -q -k 4 -o "$T/square.pca.h5" "$T/square.h5"
check_py "all components of a 6 x 4 matrix" "$C" compare "$T/square.h5" "$T/square.pca.h5"
check "constant columns" cnn-pca -q -k 5 -o "$T/const.pca.h5" "$T/const.h5"
check_py "constant columns: zero loadings, same components" "$C" compare "$T/const.h5" "$T/const.pca.h5"

# --fit A --apply B equals sklearn's fit(A).transform(B); a pca file as
# --fit reuses its components.
$PY "$C" make "$T/other.h5" 200 40 9 || exit 1
check "--fit tall --apply other" cnn-pca -q -k 3 --fit "$T/tall.h5" --apply "$T/other.h5" -o "$T/ap.h5"
check_py "--fit/--apply matches sklearn transform" "$C" apply "$T/tall.h5" "$T/other.h5" "$T/ap.h5"
check "--fit PCA-file operand" cnn-pca -q --fit "$T/m_covariance.pca.h5" -k 3 -o "$T/ap2.h5" "$T/other.h5"
check_py "reused components give the same projections" "$C" apply "$T/tall.h5" "$T/other.h5" "$T/ap2.h5"
check "--fit X X equals fitting X" cnn-pca -q -k 3 --method covariance --fit "$T/tall.h5" -o "$T/self.h5" "$T/tall.h5"
check_py "projections from the transform pass equal the fitted ones" -c "
import h5py, numpy as np
a = h5py.File('$T/self.h5')['features'][...]; b = h5py.File('$T/tall.pca.h5')['features'][...]
assert np.abs(a - b).max() < 1e-4 * np.abs(b).max(), np.abs(a - b).max()"
cnn-pca -q -k 3 --seed 7 -o "$T/s1.h5" "$T/big.h5"
cnn-pca -q -k 3 --seed 7 -o "$T/s2.h5" "$T/big.h5"
check_py "same seed, same numbers" -c "
import h5py, numpy as np
a, b = h5py.File('$T/s1.h5'), h5py.File('$T/s2.h5')
for d in ('features', 'components', 'explained_variance'):
    assert np.array_equal(a[d][...], b[d][...]), d"

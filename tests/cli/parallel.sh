#!/bin/sh
# cnn-join and pipelines/parallel.mk: shards of one run, made by GNU
# Parallel with --range on local job slots, join into the file one run
# writes; shards of different runs are refused.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli
$PY "$H/model_fixture.py" "$T/m.h5" || exit 1
$PY "$H/random_images.py" "$T/im.h5" 70 3 12 12 || exit 1

# --- cnn-join on shards of cnn-forward (float, int32, int64 datasets, groups).
cnn-forward -q -m "$T/m.h5" -l conv1 "$T/im.h5" -o "$T/all.h5"
for r in 0:25 25:50 50:70; do
    cnn-forward -q -m "$T/m.h5" -l conv1 --range $r "$T/im.h5" -o "$T/s${r%%:*}.h5"
done
check "join three forward shards" cnn-join -o "$T/j.h5" "$T/s0.h5" "$T/s25.h5" "$T/s50.h5"
check_py "joined = one run (every dataset, type and root attribute)" -c "
import h5py, numpy as np
a = h5py.File('$T/all.h5'); j = h5py.File('$T/j.h5')
def sets(f):
    d = {}
    f.visititems(lambda n, o: d.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return d
A, J = sets(a), sets(j)
assert sorted(A) == sorted(J), (sorted(A), sorted(J))
for k in A:
    assert A[k].dtype == J[k].dtype, k
    x, y = A[k][()], J[k][()]
    if A[k].dtype.kind == 'f':
        assert np.allclose(x, y, rtol=0, atol=1e-4), (k, np.abs(x - y).max())
    else:
        assert np.array_equal(x, y), k
assert {k: v for k, v in a.attrs.items() if k != 'history'} == {k: v for k, v in j.attrs.items() if k != 'history'}
h = j.attrs['history']
assert 'cnn-forward' in h and h.strip().splitlines()[-1].split(' ', 1)[1].startswith('cnn-join'), h"
check "join through a pipe" sh -c "cnn-join '$T/s0.h5' '$T/s25.h5' | cnn-info --rows - >'$T/n.txt'"
if [ "$(cat "$T/n.txt")" = 50 ]; then pass "piped join has 50 rows"; else fail "piped join has 50 rows" "$(cat "$T/n.txt")"; fi

# --- refusals: one line, exit 1, no output.
cnn-forward -q -m "$T/m.h5" -l pool1 --range 25:50 "$T/im.h5" -o "$T/p25.h5"
check_error "shards of another layer" 1 "cnn-join: .*p25.h5.*not in|cnn-join: .*p25.h5.*has no" "$T/x.h5" \
    cnn-join -o "$T/x.h5" "$T/s0.h5" "$T/p25.h5"
cnn-forward -q -m "$T/m.h5" -l conv1 -k 2 --range 25:50 "$T/im.h5" -o "$T/k25.h5"
check_error "shards with another top-k" 1 "cnn-join: .*k25.h5.*differs" "$T/x.h5" \
    cnn-join -o "$T/x.h5" "$T/s0.h5" "$T/k25.h5"
cnn-extract-layer -q -l conv1 "$T/s25.h5" -o "$T/f25.h5"
check_error "shards of different kinds" 1 "cnn-join: .*f25.h5.*features.*activations" "$T/x.h5" \
    cnn-join -o "$T/x.h5" "$T/s0.h5" "$T/f25.h5"
# --- --stack: rows of different runs (one picture of several methods).
cnn-saliency -q -m "$T/m.h5" -M gradient -t class=1 --range 0:4 "$T/im.h5" -o "$T/sg.h5"
cnn-saliency -q -m "$T/m.h5" -M guided -t class=1 --range 0:4 "$T/im.h5" -o "$T/sd.h5"
check_error "maps of two methods without --stack" 1 "cnn-join: .*sd.h5.*method.*differs" "$T/x.h5" \
    cnn-join -o "$T/x.h5" "$T/sg.h5" "$T/sd.h5"
check "maps of two methods with --stack" cnn-join --stack -o "$T/st.h5" "$T/sg.h5" "$T/sd.h5"
check_py "stacked: rows of both in order, differing attributes dropped, both histories" -c "
import h5py, numpy as np
g, d, s = (h5py.File('$T/%s.h5' % n) for n in ('sg', 'sd', 'st'))
assert np.array_equal(s['attr'][()], np.concatenate([g['attr'][()], d['attr'][()]]))
assert np.array_equal(s['ids'][()], np.concatenate([g['ids'][()], d['ids'][()]]))
assert 'method' not in s.attrs and s.attrs['kind'] == g.attrs['kind'] and s.attrs['target'] == g.attrs['target']
h = s.attrs['history']
assert '-M gradient' in h and '-M guided' in h and h.strip().splitlines()[-1].split(' ', 1)[1].startswith('cnn-join --stack'), h"
check_error "a missing shard" 1 "cnn-join: .*nope.h5" "$T/x.h5" cnn-join -o "$T/x.h5" "$T/s0.h5" "$T/nope.h5"
printf 'garbage' >"$T/bad.h5"
check_error "a corrupt shard" 1 "cnn-join: .*bad.h5" "$T/x.h5" cnn-join -o "$T/x.h5" "$T/s0.h5" "$T/bad.h5"
$PY -c "
import h5py; f = h5py.File('$T/noids.h5', 'w'); f.attrs['kind'] = 'features'; f['features'] = [[1.0]]"
check_error "a file without /ids" 1 "cnn-join: .*noids.h5.*/ids" "$T/x.h5" cnn-join -o "$T/x.h5" "$T/noids.h5"
check_error "no shards" 2 "cnn-join: " "" cnn-join -o "$T/x.h5"

# --- the pipeline: shards on local job slots through GNU Parallel's
# --sshlogin (":" is this machine), joined, equal to one run; then PCA.
if ! command -v parallel >/dev/null 2>&1; then
    skip "pipelines/parallel.mk" "GNU parallel is not installed (make deps)"
else
    check "pipelines/parallel.mk, 16-row shards on 2 local slots" \
        make -s -C "$TOP" -f pipelines/parallel.mk BIN="$BIN" PAR_MODEL="$T/m.h5" \
        PAR_IMAGES="$T/im.h5" PAR_LAYER=conv1 PAR_ROWS=16 PAR_HOSTS=2/: PAR_DIR="$T/par" \
        "$T/par/pca.h5"
    cnn-extract-layer -q -l conv1 "$T/all.h5" -o "$T/f.h5"
    cnn-pca -q -k 2 "$T/f.h5" -o "$T/pca.h5"
    check_py "sharded features and PCA = one run's" -c "
import h5py, numpy as np
a = h5py.File('$T/f.h5'); j = h5py.File('$T/par/features.h5')
assert j['features'].shape == (70, a['features'].shape[1])
assert np.allclose(a['features'][()], j['features'][()], rtol=0, atol=1e-5)
assert np.array_equal(a['ids'][()], j['ids'][()]) and np.array_equal(a['labels'][()], j['labels'][()])
p, q = h5py.File('$T/pca.h5'), h5py.File('$T/par/pca.h5')
for k in p:
    if p[k].dtype.kind == 'f':
        assert np.allclose(p[k][()], q[k][()], rtol=1e-4, atol=1e-4), k
import os; assert not os.path.exists('$T/par/shards'), 'shards left behind'"
    check "a second make does nothing" sh -c "make -q -C '$TOP' -f pipelines/parallel.mk BIN='$BIN' \
        PAR_MODEL='$T/m.h5' PAR_IMAGES='$T/im.h5' PAR_LAYER=conv1 PAR_ROWS=16 PAR_DIR='$T/par' '$T/par/pca.h5'"
    # Alone, with no inputs named: one line saying which variables to set.
    absbin=$(cd "$TOP" && cd "$BIN" && pwd)
    err=$(cd "$T" && make -s -f "$TOP/pipelines/parallel.mk" BIN="$absbin" 2>&1 >/dev/null)
    case $err in
        *"set PAR_MODEL="*) pass "parallel.mk alone names PAR_MODEL/PAR_IMAGES" ;;
        *) fail "parallel.mk alone names PAR_MODEL/PAR_IMAGES" "$err" ;;
    esac
fi
echo "1..$_n"

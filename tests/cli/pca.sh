#!/bin/sh
# cnn-pca: the file it writes, pipes, and bad input (one line, exit 1 or 2,
# no output left behind). Accuracy is tests/ref/pca.sh.
. "$(dirname "$0")/../lib.sh"

mk() {  # mk FILE N D [python statement on x]
    $PY -c "
import h5py, numpy as np
x = np.random.default_rng(0).standard_normal(($2, $3)).astype(np.float32)
${4:-pass}
f = h5py.File('$1', 'w'); f.attrs['kind'] = 'features'; f['features'] = x
f['ids'] = np.arange(50, 50 + $2); f['labels'] = (np.arange($2) % 3).astype(np.int32)"
}
mk "$T/x.h5" 30 8
check "pca of a pipe" sh -c "cat '$T/x.h5' | cnn-pca -k 2 > '$T/p.h5'"
check_py "pca file schema" -c "
import h5py, numpy as np
f = h5py.File('$T/p.h5')
assert f.attrs['kind'] == 'pca' and f.attrs['method'] == 'covariance'
assert f['features'].shape == (30, 2) and f['components'].shape == (2, 8)
assert f['mean'].shape == (8,) and f['explained_variance_ratio'].shape == (2,)
assert f['explained_variance'].shape == (2,) and f['singular_values'].shape == (2,)
assert np.array_equal(f['ids'][...], np.arange(50, 80))
assert 0 < f['explained_variance_ratio'][1] <= f['explained_variance_ratio'][0] < 1
assert 'cnn-pca' in f.attrs['history']"
check "--range" cnn-pca -q -k 2 --range 10:20 -o "$T/r.h5" "$T/x.h5"
check_py "--range rows" -c "
import h5py, numpy as np
f = h5py.File('$T/r.h5'); assert np.array_equal(f['ids'][...], np.arange(60, 70))"

mk "$T/nan.h5" 30 8 "x[17, 5] = np.nan"
check_error "NaN names row and column" 1 "nan.h5: row 17 has a NaN feature \(column 5\)$" "$T/o1.h5" cnn-pca -o "$T/o1.h5" "$T/nan.h5"
mk "$T/inf.h5" 30 8 "x[29, 0] = np.inf"
check_error "Inf names row and column" 1 "inf.h5: row 29 has an infinite feature \(column 0\)$" "$T/o2.h5" cnn-pca -o "$T/o2.h5" "$T/inf.h5"
check_error "NaN in the applied file" 1 "row 17 has a NaN feature \(column 5\)$" "$T/o3.h5" cnn-pca --fit "$T/x.h5" -o "$T/o3.h5" "$T/nan.h5"
check_error "k > min(N, D)" 1 "k=9 .* min\(N, D\) = 8" "$T/o4.h5" cnn-pca -k 9 -o "$T/o4.h5" "$T/x.h5"
# Finite features too large for float products: an error on every route,
# never "explain 100.0% of the variance".
mk "$T/huge.h5" 40 6 "x = np.sign(x) * np.float32(3e38)"
mk "$T/x6.h5" 40 6
for meth in covariance gram randomized; do
    check_error "3e38 features refused ($meth)" 1 \
        "huge.h5: (the $meth PCA came out NaN or infinite|row [0-9]+ has an infinite projection).*too large" \
        "$T/o9.h5" cnn-pca -k 2 --method $meth -o "$T/o9.h5" "$T/huge.h5"
done
check_error "3e38 features in the applied file refused" 1 \
    "huge.h5: row [0-9]+ has an infinite projection \(component [01]\): .*too large" "$T/o9.h5" \
    cnn-pca -k 2 --fit "$T/x6.h5" -o "$T/o9.h5" "$T/huge.h5"

# An error while a batch is read ahead (a corrupt compressed chunk), or found
# by the main thread while the next batch is being read (a NaN), is said
# once, by one thread: one line every time (it raced in 20-35% of runs).
$PY -c "
import h5py, numpy as np
x = np.random.default_rng(1).standard_normal((4000, 16)).astype(np.float32)
with h5py.File('$T/gz.h5', 'w') as f:
    f.attrs['kind'] = 'features'
    f.create_dataset('features', data=x, chunks=(50, 16), compression='gzip')
    off, size = [(c.byte_offset, c.size) for c in (f['features'].id.get_chunk_info(i) for i in range(3))][2]
x[3011, 3] = np.nan
with h5py.File('$T/late_nan.h5', 'w') as f:
    f.attrs['kind'] = 'features'; f['features'] = x
with open('$T/gz.h5', 'r+b') as g:
    g.seek(off + 8); g.write(b'\\xff' * (size - 16))
"
bad_read=0 bad_nan=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    cnn-pca -k 2 --batch 50 -o "$T/o8.h5" "$T/gz.h5" >/dev/null 2>"$T/race.err"
    rc=$?
    { [ $rc -eq 1 ] && [ "$(wc -l <"$T/race.err")" -eq 1 ] && grep -q '^cnn-pca: .*gz.h5' "$T/race.err" &&
      [ ! -e "$T/o8.h5" ]; } || bad_read=$((bad_read + 1))
    cnn-pca -k 2 --batch 100 --method randomized -o "$T/o8.h5" "$T/late_nan.h5" >/dev/null 2>"$T/race2.err"
    rc=$?
    { [ $rc -eq 1 ] && [ "$(wc -l <"$T/race2.err")" -eq 1 ] &&
      grep -q '^cnn-pca: .*late_nan.h5: row 3011 has a NaN feature (column 3)$' "$T/race2.err" &&
      [ ! -e "$T/o8.h5" ]; } || bad_nan=$((bad_nan + 1))
done
if [ $bad_read -eq 0 ]; then pass "a read error in the read-ahead thread: one line, 12 runs of 12"
else fail "a read error in the read-ahead thread: one line, 12 runs of 12" "$bad_read bad: $(head -c 400 "$T/race.err")"; fi
if [ $bad_nan -eq 0 ]; then pass "a NaN found while reading ahead: one line, 12 runs of 12"
else fail "a NaN found while reading ahead: one line, 12 runs of 12" "$bad_nan bad: $(head -c 400 "$T/race2.err")"; fi

mk "$T/const.h5" 30 8 "x[:] = 3"
check_error "all columns constant" 1 "constant" "$T/o5.h5" cnn-pca -o "$T/o5.h5" "$T/const.h5"
mk "$T/empty.h5" 0 8
check_error "no rows" 1 "no rows" "$T/o6.h5" cnn-pca -o "$T/o6.h5" "$T/empty.h5"
mk "$T/one.h5" 1 8
check_error "one row" 1 "at least 2 rows" "$T/o7.h5" cnn-pca -o "$T/o7.h5" "$T/one.h5"
$PY -c "
import h5py; f = h5py.File('$T/acts.h5', 'w'); f.attrs['kind'] = 'activations'; f['probs'] = [[1.0]]"
check_error "wrong kind" 1 "is a activations file \(expected features\)" "$T/o8.h5" cnn-pca -o "$T/o8.h5" "$T/acts.h5"
mk "$T/d5.h5" 30 5
check_error "--fit with other D" 1 "5 features per row, but the components were fitted on 8" "$T/o9.h5" \
    cnn-pca --fit "$T/x.h5" -o "$T/o9.h5" "$T/d5.h5"
check_error "--apply without --fit" 2 "needs --fit" "" cnn-pca --apply "$T/x.h5"
check_error "unknown method" 2 "method" "" cnn-pca --method svd "$T/x.h5"
check_error "k from a pca file too large" 1 "holds 2 components, 3 asked" "$T/o10.h5" \
    cnn-pca --fit "$T/p.h5" -k 3 -o "$T/o10.h5" "$T/x.h5"
check_error "--block out of range" 2 "block: 0 is out of range" "" cnn-pca --block 0 "$T/x.h5"
mk "$T/w.h5" 40 1500
check "randomized, narrow block, small basis" cnn-pca -q -k 4 --method randomized --block 2 --basis 8 \
    -o "$T/rb.h5" "$T/w.h5"
check_py "randomized with restarts: the pca file" -c "
import h5py, numpy as np
f = h5py.File('$T/rb.h5')
assert f.attrs['method'] == 'randomized' and f['components'].shape == (4, 1500)
c = f['components'][...]; assert np.allclose(c @ c.T, np.eye(4), atol=1e-5)
r = f['explained_variance_ratio'][...]; assert (np.diff(r) <= 0).all() and r[0] < 1"

# Storage layouts: batches are mapped from the file where the rows lie as
# raw float32 (contiguous, or chunks of whole rows, which HDF5 interleaves
# with index nodes), else read (compressed, float64, chunks of part rows).
# Every layout gives the same PCA, and the file is left as it was.
$PY -c "
import h5py, numpy as np
g = np.random.default_rng(1)
x = (g.standard_normal((300, 8)) @ g.standard_normal((8, 500)) + 0.1 * g.standard_normal((300, 500))).astype(np.float32)
for name, kw in [('contig', {}), ('rows', dict(chunks=(3, 500))), ('gzip', dict(chunks=(16, 500), compression='gzip')),
                 ('f64', dict(dtype=np.float64)), ('part', dict(chunks=(5, 70)))]:
    with h5py.File('$T/lay_%s.h5' % name, 'w') as f:
        f.attrs['kind'] = 'features'; f.create_dataset('features', data=x, **kw)
        f['ids'] = np.arange(300); f['labels'] = np.zeros(300, np.int32)"
md5=$(md5sum <"$T/lay_rows.h5")
for l in contig rows gzip f64 part; do
    check "layout $l: randomized in batches of 7 rows" cnn-pca -q -k 3 --method randomized --batch 7 \
        -o "$T/lay_$l.pca.h5" "$T/lay_$l.h5"
done
check_py "every layout gives the same components" -c "
import h5py, numpy as np
ref = h5py.File('$T/lay_contig.pca.h5')['components'][...]
for l in ('rows', 'gzip', 'f64', 'part'):
    c = h5py.File('$T/lay_%s.pca.h5' % l)['components'][...]
    assert np.abs(c - ref).max() < 1e-5, (l, np.abs(c - ref).max())"
check "the input is unchanged" test "$(md5sum <"$T/lay_rows.h5")" = "$md5"

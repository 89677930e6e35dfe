#!/bin/sh
# Provenance (cnn-info --history): every file keeps the commands of all its
# inputs, through cnn-images, cnn-join, pipes and redirections, and the
# printed script, run in an empty folder holding only data/, makes the same
# file again (every dataset equal, checked with h5py; a PNG's pixels, with
# Pillow). A script with one command taken out fails.
. "$(dirname "$0")/../lib.sh"

W=$T/work
mkdir -p "$W/data" "$W/out"
# Inputs no command made: photos (one named with a space and a quote) and
# a small model, all under data/.
$PY "$TOP/tests/cli/history_fixture.py" "$W/data" || { fail "fixture data"; exit 1; }

# The commands, run in the work folder with relative paths: photos read by
# cnn-images, two shards of cnn-forward (one written through a
# redirection), joined; photos read by cnn-forward directly; a pipe into
# cnn-render.
run() { (cd "$W" && "$@") >"$T/.out" 2>"$T/.err" || fail "run: $*" "$(head -c 300 "$T/.err")"; }
run cnn-images -q --size 16 data/p0.png data/p1.png data/p2.png "data/it's a photo.png" -o out/imgs.h5
run cnn-forward -q -m data/m.h5 --range 0:2 -o out/s1.h5 out/imgs.h5
run sh -c 'cnn-forward -q -m data/m.h5 --range 2:4 out/imgs.h5 >out/s2.h5'
run cnn-join -q -o out/acts.h5 out/s1.h5 out/s2.h5
run cnn-forward -q -m data/m.h5 -o out/direct.h5 data/p0.png
run sh -c 'cnn-images -q --size 16 data/p1.png data/p2.png | cnn-render grid -q -o out/grid.png'
# A file made inside data/ (as data/Makefile does), read as data/set.h5:
# given; its command is kept, to read, not to run.
run sh -c 'cd data && cnn-images -q --size 16 p0.png p1.png -o set.h5'
run cnn-forward -q -m data/m.h5 -o out/given.h5 data/set.h5
# A PNG of cnn-render read back as a photo by cnn-images.
run cnn-images -q --size 16 out/grid.png data/p0.png -o out/back.h5

cat >"$T/lines.py" <<'PY'
import sys, h5py
from PIL import Image
p = sys.argv[1]
h = Image.open(p).text['history'] if p.endswith('.png') else h5py.File(p).attrs['history']
h = h.decode() if isinstance(h, bytes) else h
lines = h.split('\n')
want, last = sys.argv[2:-1], sys.argv[-1]
for w in want:
    n = sum(w in l for l in lines)
    assert n == 1, (w, n, lines)
assert last in lines[-1], (last, lines)
# each stored command is "STAMP TOOL ARGS"
assert all(l[:4].isdigit() and l.split(' ')[1].startswith('cnn-') for l in lines), lines
PY
check_py "joined file: both shards' commands, cnn-images' line once, the join last" \
    "$T/lines.py" "$W/out/acts.h5" "cnn-images -q --size 16" "--range 0:2 -o out/s1.h5" \
    "--range 2:4 out/imgs.h5 > out/s2.h5" "cnn-join -q -o out/acts.h5"
check_py "argument with a space and a quote stored as one shell word" \
    "$T/lines.py" "$W/out/imgs.h5" "'data/it'\\''s a photo.png'" "cnn-images"
check_py "photos read by a tool directly: the history starts with that tool" \
    "$T/lines.py" "$W/out/direct.h5" "cnn-forward -q -m data/m.h5 -o out/direct.h5 data/p0.png"
check_py "PNG through a pipe: one line, producer | reader" "$T/lines.py" "$W/out/grid.png" \
    "data/p2.png | cnn-render grid -q -o out/grid.png"

check_py "a PNG read back by cnn-images: the PNG's commands, then cnn-images'" "$T/lines.py" \
    "$W/out/back.h5" "data/p2.png | cnn-render grid -q -o out/grid.png" \
    "cnn-images -q --size 16 out/grid.png data/p0.png -o out/back.h5"

# ---- the script ---------------------------------------------------------------
check "cnn-info --history FILE.h5" sh -c "cnn-info --history '$W/out/acts.h5' >'$T/acts.sh'"
check "cnn-info --history FIGURE.png" sh -c "cnn-info --history '$W/out/grid.png' >'$T/grid.sh'"
cat >"$T/shape.py" <<'PY'
import sys
s = open(sys.argv[1]).read().split('\n')
assert s[0] == '#!/bin/sh' and 'set -e' in s, s[:6]
cmds = [l for l in s if l and not l.startswith('#') and l != 'set -e' and not l.startswith('mkdir')]
assert [l for l in s if l.startswith('mkdir')] == ['mkdir -p data out'], s
order = ['cnn-images', '--range 0:2', '--range 2:4', 'cnn-join']
assert len(cmds) == 4 and all(o in c for o, c in zip(order, cmds)), cmds
PY
check_py "script: #!/bin/sh, set -e, mkdir -p, inputs' commands in order, the join last" \
    "$T/shape.py" "$T/acts.sh"

# replay DIR SCRIPT: run SCRIPT in DIR, empty but for data/.
replay() {
    rm -rf "$1" && mkdir -p "$1" && cp -R "$W/data" "$1/data" &&
        (cd "$1" && sh "$2") >"$T/.out" 2>"$T/.err"
}
cat >"$T/same.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
def sets(f):
    d = {}
    f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return d
A, B = sets(a), sets(b)
assert sorted(A) == sorted(B) and A, (sorted(A), sorted(B))
for k in A:
    assert A[k].dtype == B[k].dtype and np.array_equal(A[k], B[k]), k
for k in a.attrs:
    if k != 'history':
        assert np.array_equal(a.attrs[k], b.attrs[k]), k
PY
if replay "$T/re1" "$T/acts.sh"; then
    check_py "replayed in an empty folder: the joined file again, every dataset equal" \
        "$T/same.py" "$W/out/acts.h5" "$T/re1/out/acts.h5"
else
    fail "replay of the joined file's script" "$(head -c 300 "$T/.err")"
fi
cat >"$T/pix.py" <<'PY'
import sys, numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)) for p in sys.argv[1:3])
assert a.shape == b.shape and np.array_equal(a, b)
PY
if replay "$T/re2" "$T/grid.sh"; then
    check_py "replayed PNG script (a pipe): the same pixels" "$T/pix.py" "$W/out/grid.png" \
        "$T/re2/out/grid.png"
else
    fail "replay of the PNG's script" "$(head -c 300 "$T/.err")"
fi
check "cnn-info --history of the file read back" sh -c "cnn-info --history '$W/out/back.h5' >'$T/back.sh'"
if replay "$T/re4" "$T/back.sh"; then
    check_py "replayed: the PNG made again and read back, every dataset equal" \
        "$T/same.py" "$W/out/back.h5" "$T/re4/out/back.h5"
else
    fail "replay of the read-back file's script" "$(head -c 300 "$T/.err")"
fi
check "cnn-info --history of a file made from data/set.h5" sh -c "cnn-info --history '$W/out/given.h5' >'$T/given.sh'"
check "its script: data/'s command a comment ('given'), the tool's a command" sh -c "
    grep -q '^# given, not run: [0-9T:Z-]* cnn-images -q --size 16 p0.png p1.png -o set.h5\$' '$T/given.sh' &&
    ! grep -q '^cnn-images' '$T/given.sh' &&
    [ \$(grep -c '^cnn-' '$T/given.sh') -eq 1 ]"
if replay "$T/re5" "$T/given.sh"; then
    check_py "replayed from data/ alone: the same file" "$T/same.py" "$W/out/given.h5" "$T/re5/out/given.h5"
else
    fail "replay of the script of a file made from data/" "$(head -c 300 "$T/.err")"
fi
# One command taken out (the second shard): the script fails.
grep -v -e '--range 2:4' "$T/acts.sh" >"$T/cut.sh"
if replay "$T/re3" "$T/cut.sh"; then fail "a script missing a command fails"
else pass "a script missing a command fails"; fi

check_error "--history of a file without one" 1 "cnn-info: .*no history" "" \
    cnn-info --history "$W/data/m.h5"
check_error "--history with --rows" 2 "cnn-info: .*--history" "" \
    cnn-info --history --rows "$W/out/acts.h5"
echo "1..$_n"

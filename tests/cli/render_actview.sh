#!/bin/sh
# cnn-render activations: the unit's map over the image is drawn in viridis
# (the report's sequential map), half transparent: over a black image a
# ramp map shows half of viridis's published ends (#440154, #fde725) and
# none of jet's.
. "$(dirname "$0")/../lib.sh"

if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi
cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
act = np.zeros((1, 2, 8, 8), np.float32)
act[0, 0] = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))   # unit 0: a ramp
with h5py.File(d + '/act.h5', 'w') as f:
    f.attrs['kind'] = 'activations'; f.attrs['history'] = 'fixture'
    f['act/conv'] = act
    f['ids'] = np.array([0], np.int64)
with h5py.File(d + '/img.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f.attrs['history'] = 'fixture'
    f['images'] = np.zeros((1, 3, 32, 32), np.float32)                 # black
    f['ids'] = np.array([0], np.int64)
PY
$PY "$T/fx.py" "$T" || { fail "fixtures" "fx.py failed"; exit 1; }
check "activations --unit 0 over a black image" cnn-render activations -q -l conv --unit 0 \
    --images "$T/img.h5" -o "$T/v.png" "$T/act.h5"
check_py "the unit's map: half viridis's ends over black, no jet" -c "
import numpy as np
from PIL import Image
a = np.asarray(Image.open('$T/v.png').convert('RGB')).astype(int)
near = lambda c: (np.abs(a - np.array(c)).max(2) <= 3).sum()
lo, hi = np.array([0x44, 0x01, 0x54]) / 2, np.array([0xfd, 0xe7, 0x25]) / 2
assert near(lo) > 100, near(lo)          # the ramp's low end, blended half over black
assert near(hi) > 100, near(hi)          # its high end
assert near([0, 0, 143 / 2]) == 0 and near([128 / 2, 0, 0]) == 0   # jet's ends"
exit 0

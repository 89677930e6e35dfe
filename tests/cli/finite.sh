#!/bin/sh
# Non-finite and out-of-range pixels (base/finite.h, io/pixels.h): every
# tool that reads images refuses a NaN or infinite pixel with one line
# naming the file, the image and the place, and leaves no output; a pixel
# outside [0,1] is refused unless --allow-range; finite pixels that a model
# turns into NaN or Inf are said, and nothing is written.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli

$PY "$H/random_images.py" "$T/im.h5" 12 1 28 28 10
$PY - "$T" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(t + "/im.h5", "r") as f:
    x, y, ids = f["images"][()], f["labels"][()], f["ids"][()]
def put(name, v, img=3):
    z = x.copy()
    z[img, 0, 4, 5] = v
    if name == "huge":
        z[img, 0] = v
    with h5py.File("%s/%s.h5" % (t, name), "w") as g:
        g.attrs["kind"] = "images"
        g["images"], g["labels"], g["ids"] = z, y, ids
put("nan", np.nan); put("inf", -np.inf); put("big", 1.5); put("edge", 1.0005); put("huge", 3e38)
PY
check "a model" cnn-train -q --epochs 0 "$T/im.h5" -o "$T/m.h5"
M=$T/m.h5
NANMSG='nan.h5: image 3 has a NaN pixel \(channel 0, y 4, x 5\)$'

check_error "forward: NaN pixel refused" 1 "^cnn-forward: .*$NANMSG" "$T/bad.h5" \
    cnn-forward -m "$M" "$T/nan.h5" -o "$T/bad.h5"
check_error "forward: infinite pixel refused" 1 \
    "^cnn-forward: .*inf.h5: image 3 has an infinite pixel \(channel 0, y 4, x 5\)$" "$T/bad.h5" \
    cnn-forward -m "$M" "$T/inf.h5" -o "$T/bad.h5"
check_error "forward: NaN refused even with --allow-range" 1 "^cnn-forward: .*$NANMSG" "$T/bad.h5" \
    cnn-forward --allow-range -m "$M" "$T/nan.h5" -o "$T/bad.h5"
check_error "forward --print: NaN refused, nothing printed" 1 "^cnn-forward: .*$NANMSG" "" \
    cnn-forward --print -m "$M" "$T/nan.h5"
if [ -s "$T/.out" ]; then fail "forward --print prints nothing for a NaN file" "$(head -2 "$T/.out")"
else pass "forward --print prints nothing for a NaN file"; fi
check_error "forward: 1.5 refused without --allow-range" 1 \
    "^cnn-forward: .*big.h5: image 3 has a pixel of 1.5 outside \[0,1\] \(channel 0, y 4, x 5\); give --allow-range to accept it$" \
    "$T/bad.h5" cnn-forward -m "$M" "$T/big.h5" -o "$T/bad.h5"
check "forward --allow-range accepts 1.5" cnn-forward -q --allow-range -m "$M" "$T/big.h5" -o "$T/ok.h5"
check_py "the 1.5 file gives finite logits" -c "
import h5py, numpy as np; f = h5py.File('$T/ok.h5', 'r'); assert np.isfinite(f['logits'][()]).all()"
check "forward accepts 1.0005 (within the tolerance)" cnn-forward -q -m "$M" "$T/edge.h5" -o "$T/ok2.h5"
check "forward --range before the NaN image" cnn-forward -q -m "$M" --range 0:3 "$T/nan.h5" -o "$T/ok3.h5"

# The same check in every tool that reads images.
check_error "saliency: NaN pixel refused" 1 "^cnn-saliency: .*$NANMSG" "$T/bad.h5" \
    cnn-saliency -m "$M" "$T/nan.h5" -o "$T/bad.h5"
check_error "occlude: NaN pixel refused" 1 "^cnn-occlude: .*$NANMSG" "$T/bad.h5" \
    cnn-occlude -m "$M" "$T/nan.h5" -o "$T/bad.h5"
check_error "perturb: NaN pixel refused" 1 "^cnn-perturb: .*$NANMSG" "$T/bad.h5" \
    cnn-perturb shuffle --tiles 2x2 "$T/nan.h5" -o "$T/bad.h5"
check_error "train: NaN pixel refused" 1 "^cnn-train: .*$NANMSG" "$T/bad.h5" \
    cnn-train --epochs 1 "$T/nan.h5" -o "$T/bad.h5"
check_error "render grid: NaN pixel refused" 1 "^cnn-render: .*$NANMSG" "$T/bad.h5" \
    cnn-render grid "$T/nan.h5" -o "$T/bad.h5"
check_error "patches: NaN pixel refused" 1 "^cnn-patches: .*$NANMSG" "$T/bad.h5" \
    cnn-patches -m "$M" -l conv1 "$T/nan.h5" -o "$T/bad.h5"
check_error "ascend --start: NaN pixel refused" 1 "^cnn-ascend: .*$NANMSG" "$T/bad.h5" \
    cnn-ascend -m "$M" -t class=1 --steps 2 --start "$T/nan.h5" --start-row 3 -o "$T/bad.h5"
check_error "style: NaN pixel refused" 1 "^cnn-style: .*$NANMSG" "$T/bad.h5" \
    cnn-style -m "$M" --content-layer conv1 --style-layers conv1 --steps 2 --content "$T/im.h5" \
    --style "$T/nan.h5" --style-row 3 -o "$T/bad.h5"
check_error "perturb: 1.5 refused" 1 "^cnn-perturb: .*big.h5: image 3 has a pixel of 1.5" "$T/bad.h5" \
    cnn-perturb shuffle --tiles 2x2 "$T/big.h5" -o "$T/bad.h5"
check "perturb --allow-range accepts 1.5" cnn-perturb shuffle -q --allow-range --tiles 2x2 "$T/big.h5" -o "$T/ok4.h5"
check "render grid --allow-range accepts 1.5" cnn-render grid -q --allow-range "$T/big.h5" -o "$T/ok.png"
check "render grid --normalize tile needs no --allow-range" cnn-render grid -q --normalize tile "$T/big.h5" -o "$T/ok2.png"
check_error "render scatter has no --allow-range" 2 "^cnn-render: .*allow-range" "" \
    cnn-render scatter --allow-range "$T/ok.h5"
for t in forward saliency occlude perturb train render ascend patches style; do
    if grep -Eq 'allow\\?-range' "$TOP/tools/$t.1"; then pass "cnn-$t.1 documents --allow-range"
    else fail "cnn-$t.1 documents --allow-range"; fi
done

# Finite pixels the model turns into NaN (3e38 overflows the first conv):
# said, exit 1, no output.
FROM='huge.h5: image 3 has a NaN [a-z ]+ \([a-z]+ [0-9]+\): the model computed it from finite pixels$'
check_error "forward: NaN logits from finite pixels" 1 "^cnn-forward: .*$FROM" "$T/bad.h5" \
    cnn-forward --allow-range -m "$M" "$T/huge.h5" -o "$T/bad.h5"
check_error "saliency: NaN score from finite pixels" 1 "^cnn-saliency: .*$FROM" "$T/bad.h5" \
    cnn-saliency --allow-range -m "$M" "$T/huge.h5" -o "$T/bad.h5"
check_error "occlude: NaN score from finite pixels" 1 "^cnn-occlude: .*$FROM" "$T/bad.h5" \
    cnn-occlude --allow-range -m "$M" "$T/huge.h5" -o "$T/bad.h5"

# Every tool's results pass one check before they are written (h5io): a
# NaN or an infinity in what a tool would write (here copied from an
# activations or features file made by another program) is refused with
# one line naming the output and the dataset; nothing is left.
$PY - "$T" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
a = np.random.default_rng(1).random((5, 2, 3, 3)).astype("f4")
a[2, 1, 0, 2] = np.nan
with h5py.File(t + "/nanact.h5", "w") as g:
    g.attrs["kind"] = "activations"
    g["act/conv1"], g["ids"] = a, np.arange(5)
f = np.ones((4, 3), "f4")
f[3, 1] = np.inf
with h5py.File(t + "/inffeat.h5", "w") as g:
    g.attrs["kind"] = "features"
    g["features"], g["ids"] = f, np.arange(4)
PY
REFUSE="refusing to write (a NaN|an infinity) to '[^']+' \\(row [0-9]+, element [0-9]+\\): the result is not finite$"
check_error "extract-layer: a NaN it would write is refused" 1 \
    "^cnn-extract-layer: .*bad.h5: refusing to write a NaN to '/features' \\(row 2, element 11\\)" "$T/bad.h5" \
    cnn-extract-layer -l conv1 "$T/nanact.h5" -o "$T/bad.h5"
check_error "join: an infinity it would write is refused" 1 "^cnn-join: .*bad.h5: $REFUSE" "$T/bad.h5" \
    cnn-join -o "$T/bad.h5" "$T/inffeat.h5" "$T/inffeat.h5"
check_error "join to standard output: refused, nothing written" 1 "^cnn-join: <stdout>: $REFUSE" "" \
    cnn-join -o - "$T/inffeat.h5" "$T/inffeat.h5"
if [ -s "$T/.out" ]; then fail "join -o - writes nothing when refused"; else pass "join -o - writes nothing when refused"; fi

echo "1..$_n"

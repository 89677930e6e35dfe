#!/bin/sh
# cnn-ascend, cnn-perturb and cnn-style against an independent PyTorch
# reimplementation (tests/ref/ascend_ref.py) on a small random RGB model
# written with h5py: plain ascent steps with L2 decay for class and unit
# targets, a monotonically rising objective at a small step, --until-pred
# flipping the prediction; tile shuffles that permute whole tiles,
# binary silhouettes, exact occluder boxes; the Gatys style loss (Gram
# normalisation 1/(4 N^2 M^2)) and its input gradient; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/ascend_ref.py
M=$T/m.h5

$PY "$R" model "$M" || exit 1
$PY "$R" images "$T/im.h5" 4 1 0.2 0.8 || exit 1
$PY "$R" images "$T/st.h5" 1 11 || exit 1
$PY "$R" images "$T/x0.h5" 1 12 || exit 1

# Plain ascent (no jitter or blur; with --l2) = PyTorch to 1e-4.
asc() {   # name target row steps lr l2
    check "ascend $1 runs" cnn-ascend -q -m "$M" -t "$2" --start "$T/im.h5" --start-row "$3" \
        --steps "$4" --lr "$5" --l2 "$6" -o "$T/$1.h5"
    check_py "ascend $1 ($2, lr $5, l2 $6) = PyTorch" "$R" ascend "$M" "$T/im.h5" "$3" \
        "$T/$1.h5" "$2" "$4" "$5" "$6"
}
asc class class=2 1 5 0.01 0.05
asc unitpos unit=conv2:3@4,2 0 5 0.02 0.1
asc unitmax unit=relu1:1 2 4 0.02 0
asc pool unit=pool1:2@1,1 3 6 0.05 0.2

check "ascend from noise, small lr" cnn-ascend -q -m "$M" -t class=1 --preset yosinski --start noise --steps 60 \
    --lr 0.0005 -o "$T/mono.h5"
check_py "objective rises monotonically" "$R" monotonic "$T/mono.h5"
check "ascend with snapshots" cnn-ascend -q -m "$M" --until-pred 0 --start "$T/im.h5" \
    --steps 2000 --lr 0.002 --snapshots 3 -o "$T/flip.h5"
check_py "--until-pred flips the prediction (checked in PyTorch)" "$R" flipped "$T/flip.h5" 0 "$M"
check_py "snapshots carry /scores (the objective at each row's step) and /labels (the class)" -c "
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1], 'r'); st = f['step'][()]
assert np.array_equal(f['scores'][()], f['values'][()][st]), (f['scores'][()], st)
assert (f['labels'][()] == 0).all() and len(f['labels']) == len(f['images'])" "$T/flip.h5"
cnn-ascend -m "$M" --until-pred c0 --start "$T/im.h5" --steps 2000 --lr 0.002 -o "$T/flip2.h5" \
    2>"$T/flip.err"
if grep -q "reached after .* L2 .*L-inf" "$T/flip.err"; then pass "--until-pred reports L2 and L-inf"
else fail "--until-pred reports L2 and L-inf" "$(cat "$T/flip.err")"; fi
for p in 1 2 3 4; do
    check "preset $p with jitter" cnn-ascend -q -m "$M" -t class=3 --preset "$p" --jitter 2 \
        --start noise --steps 20 --seed 4 -o "$T/p$p.h5"
done
cnn-ascend -q -m "$M" -t class=3 --preset 4 --jitter 2 --start noise --steps 20 --seed 4 -o "$T/p4b.h5"
check_py "same --seed, same images" -c "import h5py,numpy as np,sys
a,b=(h5py.File(f,'r')['images'][()] for f in sys.argv[1:3]); sys.exit(not np.array_equal(a,b))" \
    "$T/p4.h5" "$T/p4b.h5"

# cnn-perturb.
check "shuffle 4x3 (4 columns, 3 rows)" cnn-perturb shuffle --tiles 4x3 --seed 5 -o "$T/sh.h5" "$T/im.h5"
check_py "shuffle permutes whole tiles (same pixel multiset)" "$R" shuffle "$T/im.h5" "$T/sh.h5" 3 4
check_py "--tiles 4x3 is 4 columns x 3 rows (WxH; the tiles attribute stays rows, columns)" -c "
import h5py; f = h5py.File('$T/sh.h5'); assert list(f.attrs['tiles']) == [3, 4], f.attrs['tiles']"
check "silhouette by threshold" cnn-perturb silhouette --threshold 0.45 -o "$T/si.h5" "$T/im.h5"
check_py "silhouette is binary, object black" "$R" silhouette "$T/im.h5" "$T/si.h5" 0.45
for f in gray zero mean 0.25; do
    check "occlude --fill $f" cnn-perturb occlude --box 2,3,5,4 --fill $f -o "$T/oc$f.h5" "$T/im.h5"
    check_py "occlude --fill $f box exact" "$R" occlude "$T/im.h5" "$T/oc$f.h5" 2,3,5,4 $f
done
check "grid-occlude" cnn-perturb grid-occlude --size 4 -o "$T/gr.h5" "$T/im.h5"
check_py "grid-occlude: one row per position, ids repeated" "$R" grid "$T/im.h5" "$T/gr.h5" 4
check "perturb in a pipe to cnn-forward" sh -c \
    "cnn-perturb shuffle --tiles 2x2 '$T/im.h5' | cnn-forward -m '$M' --print >'$T/fw.txt'"

# cnn-style: loss and gradient at a start image = PyTorch.
check "style --save-grad" cnn-style -q -m "$M" --content "$T/im.h5" --style "$T/st.h5" \
    --start "$T/x0.h5" --content-layer conv2 --style-layers relu1,conv2 --style-weight 300 \
    --steps 2 --save-grad -o "$T/s.h5"
check_py "style loss and gradient = PyTorch (Gram / 4N^2M^2)" "$R" style "$M" "$T/im.h5" \
    "$T/st.h5" "$T/x0.h5" "$T/s.h5" conv2 relu1,conv2 1 300
check "texture --save-grad" cnn-style -q -m "$M" --texture --style "$T/st.h5" --start "$T/x0.h5" \
    --style-layers conv1,pool1,relu2 --style-weight 50 --steps 1 --save-grad -o "$T/tx.h5"
check_py "texture loss and gradient = PyTorch" "$R" style "$M" "$T/im.h5" "$T/st.h5" "$T/x0.h5" \
    "$T/tx.h5" conv2 conv1,pool1,relu2 0 50
check "style: 4 Adam steps, lr 0.05" cnn-style -q -m "$M" --content "$T/im.h5" --style "$T/st.h5" \
    --start "$T/x0.h5" --content-layer conv2 --style-layers relu1,conv2 --style-weight 300 \
    --steps 4 --lr 0.05 -o "$T/sa.h5"
check_py "style: Adam steps projected into [0,1] = torch.optim.Adam + clamp" "$R" style_adam "$M" \
    "$T/im.h5" "$T/st.h5" "$T/x0.h5" "$T/sa.h5" conv2 relu1,conv2 1 300 4 0.05
check "style with default layers lowers the loss" cnn-style -q -m "$M" --content "$T/im.h5" \
    --style "$T/st.h5" --steps 30 -o "$T/s2.h5"
check_py "style loss fell" -c "import h5py,sys; l=h5py.File(sys.argv[1],'r')['loss'][()]
sys.exit(not l[-1,0] < 0.5*l[0,0])" "$T/s2.h5"

# Bad input: one line, non-zero exit, no output.
O=$T/bad.h5
check_error "unknown layer" 1 "no layer 'conv9'" "$O" cnn-ascend -m "$M" -t unit=conv9:1 -o "$O"
check_error "unit channel out of range" 1 "has 6 channels" "$O" cnn-ascend -m "$M" -t unit=conv2:9 -o "$O"
check_error "unknown class" 1 "no class named" "$O" cnn-ascend -m "$M" -t class=zebra -o "$O"
check_error "bad preset" 2 "preset" "$O" cnn-ascend -m "$M" -t class=1 --preset 5 -o "$O"
check_error "steps 0" 2 "steps" "$O" cnn-ascend -m "$M" -t class=1 --steps 0 -o "$O"
check_error "start row past the end" 1 "start row 9 but the file has 4 rows" "$O" cnn-ascend -m "$M" -t class=1 \
    --start "$T/im.h5" --start-row 9 -o "$O"
check_error "tiles not dividing: refused" 1 "do not split into 3x5 \(CxR\)" "$O" cnn-perturb shuffle \
    --tiles 3x5 -o "$O" "$T/im.h5"
check_error "box outside the image" 1 "outside" "$O" cnn-perturb occlude --box 10,3,5,4 -o "$O" "$T/im.h5"
check_error "unknown command" 2 "unknown command" "$O" cnn-perturb twirl -o "$O" "$T/im.h5"
check_error "bad fill" 2 "fill" "$O" cnn-perturb occlude --box 1,1,2,2 --fill pink -o "$O" "$T/im.h5"
$PY -c "import h5py,numpy as np,sys
with h5py.File(sys.argv[1],'w') as f:
    f.attrs['kind']='images'; f['images']=np.zeros((1,1,12,12),np.float32)" "$T/gray.h5"
check_error "style image of another channel count" 1 "images are 1x12x12 \(C x H x W\) but .* wants 3x12x12; make RGB images with cnn-images --rgb" "$O" cnn-style -m "$M" \
    --content "$T/im.h5" --style "$T/gray.h5" -o "$O"
check_error "style: unknown layer" 1 "no layer 'conv7'" "$O" cnn-style -m "$M" \
    --content "$T/im.h5" --style "$T/st.h5" --style-layers relu1,conv7 -o "$O"
check_error "style: steps 0" 2 "steps" "$O" cnn-style -m "$M" --content "$T/im.h5" \
    --style "$T/st.h5" --steps 0 -o "$O"
echo "1..$_n"

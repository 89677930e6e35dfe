#!/bin/sh
# Photos as inputs (issue 20): every format decodes as PIL decodes it (JPEG
# with its EXIF orientation, GIF's first frame, PNG, TIFF, WebP, TGA, PNM);
# image files given directly to forward, saliency and occlude equal the
# cnn-images route byte for byte in data; --resize + --crop equal
# torchvision's Resize + CenterCrop exactly; /paths travel into every
# output kind and name the rows of --print, perturbed ones included.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli
C="$H/photos.py"
P=$T/ph
mkdir -p "$P"
check_py "test photos written with PIL" "$C" gen "$P"

args=
for f in photo.jpg pic.png anim.gif rot6.jpg rot8.jpg rot3.jpg pic.tif pic.webp pic.tga pic.ppm gray.pgm; do
    check "cnn-images $f" cnn-images -q "$P/$f" -o "$T/d.$f.h5"
    args="$args $T/d.$f.h5 $P/$f"
done
# shellcheck disable=SC2086
check_py "JPEG, EXIF-rotated JPEGs (6, 8, 3), PNG, GIF, TIFF, WebP, TGA, PPM, PGM decode as PIL's, exactly" "$C" decode $args
check "--no-orient" cnn-images -q --no-orient "$P/rot6.jpg" -o "$T/d.h5"
check_py "--no-orient keeps the stored orientation" "$C" decode "$T/d.h5" "$P/rot6.jpg" --no-orient

# torchvision's Resize(R) + CenterCrop(C): down, odd margins, up.
args=
for rc in "40 32" "33 21" "64 51" "100 99"; do
    set -- $rc
    check "--resize $1 --crop $2" cnn-images -q --resize "$1" --crop "$2" "$P/odd.png" -o "$T/tv.$1.h5"
    args="$args $T/tv.$1.h5 $1 $2"
done
# shellcheck disable=SC2086
check_py "--resize R --crop C equals torchvision's Resize(R) + CenterCrop(C), exactly" "$C" tv "$P/odd.png" $args

# A small RGB model for 32x32 images.
$PY "$H/random_images.py" "$T/rgb.h5" 8 3 32 32 4
check "a small RGB model" cnn-train -q --epochs 0 --init he -a "conv4k3p1,relu,maxpool2,conv6k3p1,relu,gap,dense" "$T/rgb.h5" -o "$T/m.h5"

PH="$P/photo.jpg $P/anim.gif $P/pic.png $P/rot6.jpg"
# shellcheck disable=SC2086
check "cnn-images route" cnn-images -q --rgb --size 32x32 $PH -o "$T/via.h5"
run_both() {   # NAME TOOL ARGS...: direct photos vs the images file
    local name=$1; shift
    # shellcheck disable=SC2086
    if "$@" $PH -o "$T/$name.direct.h5" 2>"$T/.err" && "$@" "$T/via.h5" -o "$T/$name.via.h5" 2>>"$T/.err"; then
        check_py "$name: photos given directly equal the cnn-images route" "$C" same "$T/$name.direct.h5" "$T/$name.via.h5"
        check_py "$name: /paths in the output" "$C" paths "$T/$name.direct.h5" 4 "$P/"
    else fail "$name on photos" "$(head -c 300 "$T/.err")"; fi
}
run_both forward cnn-forward -q -m "$T/m.h5" -l conv1
run_both saliency cnn-saliency -q -m "$T/m.h5" --method gradient --target pred
run_both gradcam cnn-saliency -q -m "$T/m.h5" --method gradcam -l conv2 --target pred
run_both occlude cnn-occlude -q -m "$T/m.h5" --target pred --window 8 --stride 8

# cnn-render --images takes the photos themselves (at the maps' size, or
# --size): the same picture as with the cnn-images route's file.
# shellcheck disable=SC2086
if cnn-render heatmap --images "$T/via.h5" "$T/saliency.direct.h5" -o "$T/hv.png" 2>"$T/.err" &&
   cnn-render heatmap $(for f in $PH; do printf -- '--images %s ' "$f"; done) "$T/saliency.direct.h5" -o "$T/hp.png" 2>>"$T/.err" &&
   cnn-render heatmap --images "$P/photo.jpg" --size 32 --range 0:1 "$T/occlude.direct.h5" -o "$T/ho.png" 2>>"$T/.err" &&
   cnn-render heatmap --range 0:1 "$T/occlude.direct.h5" -o "$T/ho1.png" 2>>"$T/.err"; then
    check_py "render heatmap --images PHOTOS: the pixels of the cnn-images route" "$C" samepng "$T/hv.png" "$T/hp.png"
    check_py "render heatmap --images photo.jpg --size 32 over occlusion: its own /images' picture" "$C" samepng "$T/ho1.png" "$T/ho.png"
else fail "render heatmap --images photos" "$(head -c 300 "$T/.err")"; fi
check_error "occlusion's window grid needs --size for photos" 2 "window grid.*--size" "$T/hx.png" \
    cnn-render heatmap --images "$P/photo.jpg" --range 0:1 "$T/occlude.direct.h5" -o "$T/hx.png"

# Shards of photos joined: /paths in the one run's order.
# shellcheck disable=SC2086
check "forward shards of photos" sh -c 'cnn-forward -q -m "$1" --range 0:3 $3 -o "$2/s1.h5" && cnn-forward -q -m "$1" --range 3:4 $3 -o "$2/s2.h5"' sh "$T/m.h5" "$T" "$PH"
check "cnn-join of the shards" cnn-join -q "$T/s1.h5" "$T/s2.h5" -o "$T/joined.h5"
check_py "joined /paths equal the one run's" "$C" samepaths "$T/joined.h5" "$T/forward.direct.h5"

# The other output kinds carry /paths too.
check "extract-layer" cnn-extract-layer -q -l conv1 --summary max "$T/forward.direct.h5" -o "$T/feat.h5"
check_py "features: /paths" "$C" paths "$T/feat.h5" 4 "$P/"
check "pca" cnn-pca -q -k 2 "$T/feat.h5" -o "$T/pca.h5"
check_py "pca: /paths" "$C" paths "$T/pca.h5" 4 "$P/"
mkdir -p "$T/ph4"; for f in $PH; do cp "$f" "$T/ph4/"; done
# shellcheck disable=SC2086
check "patches from photos" cnn-patches -q -m "$T/m.h5" -l conv1 -k 2 $PH -o "$T/patches.h5"
check_py "patches: /paths of each patch's photo" "$C" paths "$T/patches.h5" 8 "$P/"
check "forward on a folder of photos" cnn-forward -q -m "$T/m.h5" "$T/ph4" -o "$T/fwd4.h5"
check "topk --gather from the folder" cnn-topk -q -k 2 --probs --unit 0 --size 32x32 --gather "$T/ph4" "$T/fwd4.h5" -o "$T/top.h5"
check_py "topk --gather: /paths" "$C" paths "$T/top.h5" 2 "ph4/"
check "topk ranking of the folder" cnn-topk -q -k 2 --probs --units 0,1 "$T/fwd4.h5" -o "$T/rank.h5"
check_py "topk ranking: /paths of the ranked rows" "$C" paths "$T/rank.h5" 4 "ph4/"
if cnn-topk -q -k 2 --probs --unit 0 --print "$T/fwd4.h5" >"$T/tp.txt" 2>"$T/.err" &&
   grep -Eq "^0( \([^)]*\))?: $T/ph4/[a-z0-9]+\.[a-z]+ [-0-9.e]+ \| $T/ph4/" "$T/tp.txt"; then
    pass "topk --print names the ranked photos"
else fail "topk --print names" "$(head -2 "$T/tp.txt") $(head -c 200 "$T/.err")"; fi
check "perturb grid-occlude on a photo" cnn-perturb grid-occlude -q --size 16 --stride 16 --crop 32 "$P/odd.png" -o "$T/pert.h5"
check_py "perturb: /paths name source and box" "$C" paths "$T/pert.h5" 4 "odd.png#occlude@"

# --print names rows by file; perturbed rows by source and perturbation.
if cnn-forward -m "$T/m.h5" --print -k 1 $PH >"$T/p.txt" 2>"$T/.err" &&
   [ "$(grep -c "^$P/[a-z0-9]*\.[a-z]*: " "$T/p.txt")" -eq 4 ]; then
    pass "--print names each photo by its file"
else fail "--print names photos" "$(head -2 "$T/p.txt") $(head -c 200 "$T/.err")"; fi
if cnn-perturb grid-occlude -q --size 16 --stride 16 --crop 32 "$P/odd.png" |
   cnn-forward -m "$T/m.h5" --print -k 1 >"$T/p2.txt" 2>"$T/.err" &&
   grep -q "^$P/odd.png#occlude@16,16: " "$T/p2.txt"; then
    pass "cnn-perturb | cnn-forward --print: 'odd.png#occlude@16,16: ...'"
else fail "perturb names in --print" "$(head -2 "$T/p2.txt") $(head -c 200 "$T/.err")"; fi

# Bad photos: one line naming the file, no output.
printf 'GIF89a\020\000\020\000\200\000\000garbage' >"$P/bad.gif"
check_error "a corrupt GIF given to cnn-forward" 1 "bad.gif: corrupt GIF" "$T/bad.h5" cnn-forward -q -m "$T/m.h5" "$P/bad.gif" -o "$T/bad.h5"
printf 'II*\0garbage' >"$P/bad.tif"
check_error "a corrupt TIFF" 1 "bad.tif: corrupt TIFF" "$T/bad.h5" cnn-images -q "$P/bad.tif" -o "$T/bad.h5"
check_error "photos of the wrong size for the model" 1 "photo.jpg: images are 3x16x16 .* wants 3x32x32" "$T/bad.h5" cnn-forward -q -m "$T/m.h5" --size 16 "$P/photo.jpg" -o "$T/bad.h5"
ls "${TMPDIR:-/tmp}"/cnn-photos-* >/dev/null 2>&1 && fail "no temporary images files left" "$(ls "${TMPDIR:-/tmp}"/cnn-photos-*)" || pass "no temporary images files left"
echo "1..$_n"

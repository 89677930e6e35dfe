#!/bin/sh
# Remakes the seeds of the image and HDF5-kind harnesses (tests/fuzz/seeds/
# image, h5images, h5act, h5maps, h5pca, h5model): small valid files made by
# Debian's python3 (PIL, h5py) and by the tools themselves. Run from the top
# folder after `make all`: sh tests/fuzz/seeds.sh [BIN]. The seeds are kept
# in git (the fuzzers start from them); this says how they were made.
set -e
BIN=${1:-bin}
S=tests/fuzz/seeds
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p $S/image $S/h5images $S/h5act $S/h5maps $S/h5pca $S/h5model
/usr/bin/python3 - "$S/image" "$T" <<'PY'
import sys, numpy as np
from PIL import Image
d, t = sys.argv[1], sys.argv[2]
r = np.random.default_rng(17)
rgb = Image.fromarray(r.integers(0, 256, (6, 7, 3), dtype=np.uint8))
gray = Image.fromarray(r.integers(0, 256, (5, 4), dtype=np.uint8))
rgb.save(d + "/rgb.png")
gray.save(d + "/gray.png")
rgb.convert("RGBA").save(d + "/rgba.png")
rgb.convert("P").save(d + "/palette.png")
gray.save(d + "/interlaced.png", interlace=1)
Image.fromarray(r.integers(0, 65536, (4, 3), dtype=np.uint16)).save(d + "/gray16.png")
rgb.save(d + "/rgb.jpg", quality=80)
gray.save(d + "/gray.jpg", quality=80)
rgb.save(d + "/progressive.jpg", quality=60, progressive=True)
rgb.save(d + "/rgb.bmp")
gray.save(d + "/gray.bmp")
import os
for i in range(4):   # inputs for cnn-images: two classes of two
    os.makedirs("%s/cls/%s" % (t, "ab"[i % 2]), exist_ok=True)
    Image.fromarray(r.integers(0, 256, (8, 8), dtype=np.uint8)).save(
        "%s/cls/%s/p%d.png" % (t, "ab"[i % 2], i))
PY
"$BIN/cnn-images" -q --size 8x8 --gray "$T/cls" -o $S/h5images/images.h5
/usr/bin/python3 - "$S/h5images" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + "/uint8.h5", "w") as f:   # uint8 pixels, labels, classes
    f.attrs["kind"] = "images"
    f["images"] = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    f["labels"] = np.array([0, 1], np.int32)
    f["ids"] = np.array([5, 9], np.int64)
    f["classes"] = np.array([b"cat", b"dog"])
PY
"$BIN/cnn-train" -q --epochs 0 -a c1=conv2k3,r1=relu,fl=flatten,fc=dense $S/h5images/images.h5 -o $S/h5model/model.h5
"$BIN/cnn-forward" -q -m $S/h5model/model.h5 -l c1,r1 $S/h5images/images.h5 -o $S/h5act/act.h5
"$BIN/cnn-extract-layer" -q -l c1 --summary mean $S/h5act/act.h5 -o "$T/feat.h5"
"$BIN/cnn-pca" -q -k 2 "$T/feat.h5" -o $S/h5pca/pca.h5
"$BIN/cnn-occlude" -q -m $S/h5model/model.h5 -w 4x4 --stride 4 $S/h5images/images.h5 -o $S/h5maps/occlude.h5
"$BIN/cnn-saliency" -q -m $S/h5model/model.h5 -t class=1 $S/h5images/images.h5 -o $S/h5maps/saliency.h5
ls -l $S/image $S/h5images $S/h5act $S/h5maps $S/h5pca $S/h5model

#!/bin/sh
# Remakes the seeds of the image and HDF5-kind harnesses (tests/fuzz/seeds/
# image, imagefmt, exif, idx, json, h5images, h5act, h5maps, h5pca, h5model): small valid files made by
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
mkdir -p $S/imagefmt $S/exif $S/idx $S/json
/usr/bin/python3 - "$S" <<'PY'
import sys, gzip, io, json, struct, numpy as np
from PIL import Image
S = sys.argv[1]
r = np.random.default_rng(18)
rgb = Image.fromarray(r.integers(0, 256, (5, 6, 3), dtype=np.uint8))
gray = Image.fromarray(r.integers(0, 256, (4, 3), dtype=np.uint8))
f = S + "/imagefmt/"
rgb.save(f + "rgb.gif")
rgb.save(f + "rgb.tga")
rgb.save(f + "rgb-rle.tga", compression="tga_rle")
rgb.save(f + "rgb.ppm")
gray.save(f + "gray.pgm")
rgb.save(f + "rgb.tif")
rgb.save(f + "deflate.tif", compression="tiff_adobe_deflate")
gray.save(f + "gray.tif")
rgb.save(f + "lossy.webp", quality=50)
rgb.convert("RGBA").save(f + "lossless.webp", lossless=True)
rgb.save(f + "rgb.bmp")
# Radiance HDR (PIL cannot write it): header, then flat RGBE pixels
hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 3\n"
open(f + "flat.hdr", "wb").write(hdr + bytes(r.integers(0, 256, 24, dtype=np.uint8)))
# PSD (PIL cannot write it): 3-channel 8-bit raw, 2x2
psd = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 2, 2, 8, 3) + struct.pack(">III", 0, 0, 0)
open(f + "raw.psd", "wb").write(psd + struct.pack(">H", 0) + bytes(range(12)))
e = S + "/exif/"
for o in (1, 3, 6, 8):
    x = Image.Exif()
    x[0x0112] = o
    rgb.save(e + "orient%d.jpg" % o, quality=50, exif=x.tobytes())
# the orientation after another tag, the file cut after the headers
x = Image.Exif(); x[0x010f] = "cam"; x[0x0112] = 5
b = io.BytesIO(); rgb.save(b, "JPEG", quality=50, exif=x.tobytes())
open(e + "orient5-cut.jpg", "wb").write(b.getvalue()[:300])   # markers, no scan
i = S + "/idx/"
def idx(shape, data):
    return struct.pack(">BBBB", 0, 0, 8, len(shape)) + b"".join(struct.pack(">I", d) for d in shape) + data
im = r.integers(0, 256, (3, 4, 5), dtype=np.uint8)
open(i + "images.idx", "wb").write(idx(im.shape, im.tobytes()))
c3 = r.integers(0, 256, (2, 3, 2, 3), dtype=np.uint8)
open(i + "rgb.idx", "wb").write(idx(c3.shape, c3.tobytes()))
def gz(name, data):   # a gzip member that names its file
    b = io.BytesIO()
    with gzip.GzipFile(name, "wb", fileobj=b, mtime=0) as g:
        g.write(data)
    return b.getvalue()
z = next(z for z in (gz(n, idx(im.shape, im.tobytes())) for n in ("i", "im"))
         if len(z) % 2 == 0)   # even: read as images
open(i + "images.idx.gz", "wb").write(z)
# odd length: the harness reads it as the labels of its 2-image file
open(i + "labels.idx", "wb").write(idx((2,), bytes([3, 1])) + b"\0")
j = S + "/json/"
v = [round(float(x), 3) for x in r.random(784)]
open(j + "data.json", "w").write(json.dumps({"data": v}, separators=(",", ":")))
open(j + "array.json", "w").write(json.dumps(v, separators=(",", ":")) + " ")
PY
ls -l $S/imagefmt $S/exif $S/idx $S/json $S/image $S/h5images $S/h5act $S/h5maps $S/h5pca $S/h5model

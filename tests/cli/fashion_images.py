"""Write an images file (kind=images) of Fashion-MNIST rows straight from
Debian's dataset-fashion-mnist IDX files, independently of cnn-images, so
the training and forward tests need nothing else.

usage: fashion_images.py OUT.h5 train|test START COUNT
"""
import gzip
import sys

import h5py
import numpy as np

ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    out, split, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    pre = "train" if split == "train" else "t10k"
    x = idx(f"{ROOT}/{pre}-images-idx3-ubyte.gz")[start:start + count]
    y = idx(f"{ROOT}/{pre}-labels-idx1-ubyte.gz")[start:start + count]
    with h5py.File(out, "w") as f:
        f.attrs["kind"] = "images"
        f["images"] = (x.astype(np.float32) / 255.0)[:, None, :, :]
        f["ids"] = np.arange(start, start + len(x), dtype=np.int64)
        f["labels"] = y.astype(np.int32)
        f.create_dataset("classes", data=CLASSES, dtype=h5py.string_dtype("utf-8"))


if __name__ == "__main__":
    main()

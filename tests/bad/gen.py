"""The bad-input corpus (tests/cli/bad.sh runs it): gen.py DIR writes, into
DIR, small valid files and, beside them, broken ones made from them.

Valid: im.h5 (images 6x3x12x12, labels, classes), big.h5 (400 rows), m.h5 (a model for them,
tests/cli/model_fixture.py), tiny.onnx (an ONNX model for cnn-import),
red.png. The runner makes the others (activations, features, ...) with the
tools themselves.

Broken, for any input slot: empty.h5, random.h5 (random bytes), trunc.h5
(im.h5 cut in half), text.h5, nokind.h5 (HDF5 without 'kind'),
wrongkind.h5 (kind=ranking), badlab.h5 (the object header of /labels
overwritten), badimg.h5 (same for /images), badkind.h5 (the 'kind'
attribute's header damaged), shape2d.h5 (/images N x D), chan1.h5 (one
channel for a model of three), strimg.h5 (/images of strings), fake.png
(random bytes), trunc.png; for models: m_nonodes.h5, m_badop.h5 (an
unknown op), m_classes.h5 (3 class names for 4 outputs), m_badw.h5 (a
weight's header broken), m_wshape.h5 (a weight of the wrong shape),
m_cycle.h5 (a node reading a later one).
"""
import os
import shutil
import sys

import h5py
import numpy as np

out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli"))
import model_fixture  # noqa: E402

os.makedirs(out, exist_ok=True)
P = lambda n: os.path.join(out, n)  # noqa: E731
rng = np.random.default_rng(17)

with h5py.File(P("im.h5"), "w") as f:
    f.attrs["kind"] = "images"
    f["images"] = rng.random((6, 3, 12, 12), dtype=np.float32)
    f["ids"] = np.arange(6, dtype=np.int64)
    f["labels"] = np.array([0, 1, 2, 3, 0, 1], np.int32)
    f.create_dataset("classes", data=["a", "b", "c", "d"], dtype=h5py.string_dtype())
model_fixture.write(P("m.h5"))
# Larger, for the full disk and the interrupted writes.
with h5py.File(P("big.h5"), "w") as f:
    f.attrs["kind"] = "images"
    f["images"] = rng.random((400, 3, 12, 12), dtype=np.float32)
    f["ids"] = np.arange(400, dtype=np.int64)
    f["labels"] = (np.arange(400) % 4).astype(np.int32)
    f.create_dataset("classes", data=["a", "b", "c", "d"], dtype=h5py.string_dtype())

from PIL import Image  # noqa: E402
Image.new("RGB", (12, 12), (200, 30, 30)).save(P("red.png"))
png = open(P("red.png"), "rb").read()
open(P("trunc.png"), "wb").write(png[: len(png) // 2])
open(P("fake.png"), "wb").write(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())

open(P("empty.h5"), "wb").close()
open(P("random.h5"), "wb").write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
data = open(P("im.h5"), "rb").read()
open(P("trunc.h5"), "wb").write(data[: len(data) // 2])
open(P("text.h5"), "w").write("this is not HDF5\n")

with h5py.File(P("nokind.h5"), "w") as f:
    f["images"] = rng.random((2, 3, 12, 12), dtype=np.float32)
with h5py.File(P("wrongkind.h5"), "w") as f:
    f.attrs["kind"] = "ranking"
    f["scores"] = rng.random((2, 3), dtype=np.float32)
with h5py.File(P("shape2d.h5"), "w") as f:
    f.attrs["kind"] = "images"
    f["images"] = rng.random((4, 432), dtype=np.float32)
    f["features"] = rng.random((4, 432), dtype=np.float32)
with h5py.File(P("chan1.h5"), "w") as f:
    f.attrs["kind"] = "images"
    f["images"] = rng.random((2, 1, 12, 12), dtype=np.float32)
with h5py.File(P("strimg.h5"), "w") as f:
    f.attrs["kind"] = "images"
    f.create_dataset("images", data=["x", "y"], dtype=h5py.string_dtype())


def break_header(src, dst, obj, attr=None):
    """Copy src to dst with the object header of obj overwritten."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r") as f:
        addr = h5py.h5o.get_info(f[obj].id).addr
    b = bytearray(open(dst, "rb").read())
    if attr is None:
        b[addr:addr + 16] = b"\xff" * 16
    else:
        # the attribute message's name inside the header: scramble what follows it
        i = b.find(attr.encode(), addr)
        b[i + len(attr) + 1:i + len(attr) + 24] = b"\xff" * 23
    open(dst, "wb").write(b)


break_header(P("im.h5"), P("badlab.h5"), "labels")
break_header(P("im.h5"), P("badimg.h5"), "images")
break_header(P("im.h5"), P("badkind.h5"), "/", attr="kind")


def model_copy(name, edit):
    shutil.copy(P("m.h5"), P(name))
    with h5py.File(P(name), "a") as f:
        edit(f)


model_copy("m_nonodes.h5", lambda f: f.__delitem__("nodes"))


def badop(f):
    f["nodes/0001"].attrs["op"] = "Frobnicate"


model_copy("m_badop.h5", badop)


def classes3(f):
    del f["classes"]
    f.create_dataset("classes", data=["x", "y", "z"], dtype=h5py.string_dtype())


model_copy("m_classes.h5", classes3)


def wshape(f):
    del f["nodes/0000/weight"]
    f["nodes/0000/weight"] = np.zeros((5, 2, 3, 3), np.float32)


model_copy("m_wshape.h5", wshape)


def cycle(f):
    f["nodes/0001"].attrs["inputs"] = "pool1"


model_copy("m_cycle.h5", cycle)
break_header(P("m.h5"), P("m_badw.h5"), "nodes/0000/weight")

# A tiny ONNX model (Flatten + Gemm) for cnn-import's valid runs.
try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    W = numpy_helper.from_array(rng.standard_normal((4, 432)).astype(np.float32), "W")
    B = numpy_helper.from_array(np.zeros(4, np.float32), "B")
    g = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]),
         helper.make_node("Gemm", ["f", "W", "B"], ["y"], transB=1)],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [W, B])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(m, P("tiny.onnx"))
    b = m.SerializeToString()
    open(P("trunc.onnx"), "wb").write(b[: len(b) // 2])
except ImportError:
    pass

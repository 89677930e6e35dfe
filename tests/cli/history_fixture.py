# The inputs no command made, for tests/cli/history.sh and rerun.sh: in
# the folder argv[1], four random photos (one named with a space and a
# quote) and a small model (3x16x16 in, 4 classes).
import sys, h5py, numpy as np
from PIL import Image
d = sys.argv[1]
r = np.random.default_rng(5)
for name in ["p0.png", "p1.png", "p2.png", "it's a photo.png"]:
    Image.fromarray(r.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d + "/" + name)
with h5py.File(d + "/m.h5", "w") as f:
    f.attrs["kind"] = "model"
    f.attrs["input_shape"] = np.array([3, 16, 16], np.int64)
    f.create_dataset("classes", data=["c%d" % i for i in range(4)], dtype=h5py.string_dtype())
    nodes = [("conv1", "Conv", (4, 3, 3, 3), dict(pad=[1])), ("relu1", "ReLU", None, {}),
             ("flat", "Flatten", None, {}), ("fc1", "Dense", (4, 1024), {})]
    for i, (name, op, w, attrs) in enumerate(nodes):
        g = f.create_group("nodes/%04d" % i)
        g.attrs["name"], g.attrs["op"] = name, op
        for k, v in attrs.items():
            g.attrs[k] = np.array(v, np.float64)
        if w:
            g["weight"] = (r.standard_normal(w) / np.sqrt(np.prod(w[1:]))).astype(np.float32)
            g["bias"] = (0.1 * r.standard_normal(w[0])).astype(np.float32)

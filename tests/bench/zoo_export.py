"""make bench (zoo): export torchvision networks with random weights to ONNX
(opset 13, batch axis dynamic) for cnn-import, ONNX Runtime and PyTorch.
Usage: zoo_export.py DIR NAME... (writes DIR/NAME.onnx where missing)."""
import os
import sys

import torch
import torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name in sys.argv[2:]:
    path = os.path.join(out, name + ".onnx")
    if os.path.exists(path):
        continue
    torch.manual_seed(1)
    m = getattr(torchvision.models, name)(weights=None).eval()
    tmp = path + ".tmp.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 224, 224), tmp, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    os.replace(tmp, path)
    print("exported", path, file=sys.stderr)

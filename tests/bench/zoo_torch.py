"""make bench (zoo): PyTorch (Debian's 1.13, oneDNN) on the torchvision
network the ONNX file was exported from (random weights: speed only).
Usage: zoo_torch.py SECS THREADS NAME BATCHES; prints the keys
bench_engine prints ("NAME_bN_img_per_s")."""
import sys
import time

import torch
import torchvision

secs, threads, name, batches = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(1)
m = getattr(torchvision.models, name)(weights=None).eval()
for b in map(int, batches.split(",")):
    x = torch.rand(b, 3, 224, 224)
    with torch.no_grad():
        m(x)
        reps, t0 = 0, time.perf_counter()
        while True:
            m(x)
            reps += 1
            t = time.perf_counter() - t0
            if t >= secs:
                break
    print("%s_b%d_img_per_s\t%.2f" % (name, b, reps * b / t))

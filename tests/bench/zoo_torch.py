"""make bench (zoo): PyTorch (Debian's 1.13, oneDNN) on the torchvision
network the ONNX file was exported from (random weights: speed only).
Usage: zoo_torch.py SECS THREADS NAME BATCHES [grad]; prints the keys
bench_engine prints ("NAME_bN_img_per_s"; with grad also NAME_input_grad_ms
and NAME_guided_ms: forward and the input gradient of the first logit of
one image, plain and with guided backprop's ReLU rule)."""
import sys
import time

import torch
import torchvision

secs, threads, name, batches = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(1)
m = getattr(torchvision.models, name)(weights=None).eval()
# Weights frozen: a saliency map needs the input's gradient alone (Captum
# asks autograd for the inputs' only); with them trainable .backward()
# also makes every weight's gradient, about as much work again.
for q in m.parameters():
    q.requires_grad_(False)
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


def grad_ms(guided):
    """Milliseconds of one forward + input gradient of logit 0, batch 1."""
    x = torch.rand(1, 3, 224, 224)

    def one():
        xi = x.clone().requires_grad_(True)
        m(xi)[0, 0].backward()
        return xi.grad

    one()
    reps, t0 = 0, time.perf_counter()
    while True:
        one()
        reps += 1
        t = time.perf_counter() - t0
        if t >= secs:
            return 1e3 * t / reps


if len(sys.argv) > 5 and sys.argv[5] == "grad":
    print("%s_input_grad_ms\t%.2f" % (name, grad_ms(False)))
    # Guided backprop: every rectifier (ReLU, ReLU6) passes only positive
    # gradients, on top of its own derivative.
    for mod in m.modules():
        if isinstance(mod, (torch.nn.ReLU, torch.nn.ReLU6)):
            mod.inplace = False
            mod.register_full_backward_hook(lambda mod, gi, go: (gi[0].clamp(min=0),))
    print("%s_guided_ms\t%.2f" % (name, grad_ms(True)))

import sys, time; sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import cv2
import numpy as np
import torch

torch.set_num_threads(1); cv2.setNumThreads(1)
from pathlib import Path

from comfyui_animeinterp.core.weightfree import fusion_train as ft
from comfyui_animeinterp.core.weightfree.fusion import fuse

steps = int(sys.argv[1]); crop = int(sys.argv[2]); tag = sys.argv[3]
paths = sorted(Path("/tmp/animeinterp_fusion_examples2").glob("*.npz"))
train_p = [p for p in paths if int(p.stem[-5:]) < 250]; held = [p for p in paths if int(p.stem[-5:]) >= 250]
t0 = time.perf_counter()
net = ft.train(train_p, steps, crop=crop, log_every=max(steps // 10, 1))
print("train s", time.perf_counter() - t0)
torch.save(net.state_dict(), f"/tmp/fusion/net_{tag}.pt")
def heldout(net):
    import torch
    r = []
    for p in held:
        x, prior, cand, truth = ft.training_tensors(p)
        with torch.no_grad():
            out = ft.fused(net, x, prior, cand)
        r.append(float(-10 * torch.log10(((out.clamp(0, 1) - truth) ** 2).mean())))
    return np.mean(r)
print("held-out synthetic", heldout(net), "untrained", heldout(ft.FusionNet().eval()))
from evalmix import evaluate

evaluate(lambda R, D, a, b, t: fuse(net, list(R), list(D), a, b, t), f"fusion {tag}")

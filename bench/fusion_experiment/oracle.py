import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import cv2
import numpy as np
from comfyui_animeinterp.core.weightfree.fusion import with_crossfade
from evalmix import evaluate

GT = {}
def oracle(win):
    def mix(R, D, a, b, t):
        # find gt by matching file: hack via global
        gt = CUR["gt"]
        C, _ = with_crossfade(list(R), list(D), a, b, t)
        err = np.stack([cv2.blur(np.abs(c - gt).sum(2), (win, win)) if win > 1 else np.abs(c - gt).sum(2) for c in C])
        k = err.argmin(0)
        return np.take_along_axis(C, k[None, ..., None].repeat(3, -1), 0)[0]
    return mix
import evalmix

orig = evalmix.load
CUR = {}
def load2(f):
    d = orig(f); CUR["gt"] = d["frame2"].astype(np.float32) / 255; return d
evalmix.load = load2
for w in (1, 15, 31):
    evaluate(oracle(w), f"oracle win {w}")

"""Evaluate a mixing function on the cached dev set. mix(results (K,H,W,3), dis (K,H,W), f1, f3, t) -> (H,W,3) float."""
import glob
import json
import os

import cv2
import numpy as np
import torch

torch.set_num_threads(1); cv2.setNumThreads(1)
os.environ.setdefault("ANIMEINTERP_CACHE", "/tmp/lpips_cache"); os.environ.setdefault("HF_HUB_OFFLINE", "1")
from comfyui_animeinterp.core.evaluate.methods import blend, dis_warp
from comfyui_animeinterp.core.metrics import psnr, ssim
from comfyui_animeinterp.core.metrics.lpips import resolve_lpips

LP, _ = resolve_lpips(offline=True)
FILES = sorted(glob.glob("/tmp/fusion/dev/*.npz"))
_data = {}
def load(f):
    if f not in _data:
        z = np.load(f); _data[f] = {k: z[k] for k in z.files}
    return _data[f]
def t_(img):  # uint8 HWC -> 1,3,H,W
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255
def metrics(out_u8, gt_u8):
    p, g = t_(out_u8), t_(gt_u8)
    with torch.no_grad():
        return float(psnr(p, g)[0]), float(ssim(p, g)[0]), float(LP(p, g)[0])
BASE = "/tmp/fusion/base.json"
def baselines():
    if os.path.exists(BASE):
        return json.load(open(BASE))
    out = {}
    for f in FILES:
        d = load(f)
        out[f] = {"blend": metrics(blend(d["frame1"], d["frame3"], float(d["t"])), d["frame2"]),
                  "dis": metrics(dis_warp(d["frame1"], d["frame3"], float(d["t"])), d["frame2"])}
    json.dump(out, open(BASE, "w")); return out
def to_u8(x):
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
def evaluate(mix, label="", verbose=False):
    base = baselines(); rows = {}
    per = {"colour": [], "lineart": []}
    for f in FILES:
        d = load(f)
        a = d["frame1"].astype(np.float32) / 255; b = d["frame3"].astype(np.float32) / 255
        out = mix(d["results"].astype(np.float32), d["dis"].astype(np.float32), a, b, float(d["t"]))
        m = metrics(to_u8(out), d["frame2"])
        per["colour" if "colour_" in f else "lineart"].append((f, m, base[f]["blend"], base[f]["dis"]))
    for s, L in per.items():
        P = np.array([m for _, m, _, _ in L]); B = np.array([b for _, _, b, _ in L]); D = np.array([x for _, _, _, x in L])
        rows[s] = dict(psnr=P[:, 0].mean(), ssim=P[:, 1].mean(), lpips=P[:, 2].mean(), win=(P[:, 0] > D[:, 0]).mean(),
                       worst=(P[:, 0] - B[:, 0]).min(), below=int((P[:, 0] < B[:, 0] - .5).sum()), lp_above=int((P[:, 2] > B[:, 2]).sum()),
                       dis_psnr=D[:, 0].mean(), dis_lpips=D[:, 2].mean())
        r = rows[s]
        print(f"{label:28s} {s:8s} {r['psnr']:.2f} {r['ssim']:.4f} {r['lpips']:.4f} win {r['win']:.2f} worst {r['worst']:+.2f} below {r['below']} lpA {r['lp_above']}   (DIS {r['dis_psnr']:.2f} {r['dis_lpips']:.4f})", flush=True)
    return rows

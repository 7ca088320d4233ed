"""Cache dev-set flows and per-hypothesis syntheses (evaluation only)."""
import time
from pathlib import Path

import cv2
import numpy as np
import torch

torch.set_num_threads(1); cv2.setNumThreads(1)
from comfyui_animeinterp.core.data.triplets import open_dataset
from comfyui_animeinterp.core.pipeline import Interpolator
from comfyui_animeinterp.core.weightfree.blend import synthesize

DATA = Path("/work/shared/data/real_anime_dev")
OUT = Path("/tmp/fusion/dev"); OUT.mkdir(parents=True, exist_ok=True)
interp = Interpolator()
for name, size in (("colour", (960, 540)), ("lineart", None)):
    for k, entry in enumerate(open_dataset(DATA / name).entries()):
        path = OUT / f"{name}_{k:02d}.npz"
        if path.exists():
            continue
        tri = entry.load().resized(size)
        t0 = time.perf_counter()
        pair = interp.prepare(tri.frame1, tri.frame3)
        tp = time.perf_counter() - t0
        a = tri.frame1.astype(np.float32) / 255; b = tri.frame3.astype(np.float32) / 255
        hyps = [(pair.flows.flow_13, pair.flows.flow_31), *pair.flows.alternatives]
        res, dis = [], []
        for f13, f31 in hyps:
            r, d = synthesize(a, b, torch.from_numpy(f13)[None], torch.from_numpy(f31)[None], tri.t)
            res.append(r); dis.append(d)
        np.savez(path, frame1=tri.frame1, frame2=tri.frame2, frame3=tri.frame3, t=tri.t,
                 flows=np.stack([np.stack(h) for h in hyps]), results=np.stack(res).astype(np.float16),
                 dis=np.stack(dis).astype(np.float16), name=str(getattr(entry, 'name', k)), prep_s=tp)
        print(name, k, tri.frame1.shape, f"prep {tp:.2f}s total {time.perf_counter()-t0:.2f}s", flush=True)

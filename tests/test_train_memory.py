"""Activation checkpointing: the same loss and gradients as without, patched only while active."""
from __future__ import annotations

import torch
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.train.memory import CHECKPOINTED, activation_checkpointing


def _grads(model, enabled: bool):
    torch.manual_seed(1)
    f1, f2, f3 = (torch.rand(1, 3, 64, 64) for _ in range(3))
    model.zero_grad(set_to_none=True)
    with activation_checkpointing(model, enabled):
        out = model(f1, f3, None, None, 0.5)[0]
        loss = (out - f2).abs().mean()
        loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    model = build_model("animeinterp").train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain_loss, plain = _grads(model, False)
        ckpt_loss, ckpt = _grads(model, True)
    finally:
        torch.set_num_threads(threads)
    assert plain_loss == ckpt_loss and set(plain) == set(ckpt) and plain
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], rtol=1e-5, atol=1e-7)
    for part, method in CHECKPOINTED:  # restored: the class's own methods again
        assert method not in vars(getattr(model, part))

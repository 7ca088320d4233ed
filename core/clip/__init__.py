"""Clips: from a stream of frames to the retimed output, pair by pair.

* :mod:`.drawings` — held drawings (repeated frames) and scene cuts;
* :mod:`.schedule` — which in-betweens each pair gets (multiplier, target frame rate, per pair);
* :mod:`.retime` — a whole clip through an :class:`~..pipeline.Interpolator`, in bounded memory;
* :mod:`.render` — the node path: refine and synthesise a clip whose SGM ran stage by stage;
* :mod:`.frame_memo` — per-frame SGM work remembered between neighbouring pairs.

Modules are imported where used (this package imports nothing eagerly: ``sgm`` uses the memo).
"""

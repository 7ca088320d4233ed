"""Triplet data for training and evaluation.

* :mod:`.triplets` — triplet folders, ATD-12K, clips cut into triplets, the synthetic set;
* :mod:`.synthetic` — procedurally drawn cartoons with exact motion (tests, demo, benchmarks).
"""

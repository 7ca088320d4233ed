import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import cv2
from comfyui_animeinterp.core.weightfree.blend import mix_hypotheses
from evalmix import evaluate


def heur(R, D, a, b, t):
    return mix_hypotheses(list(R), list(D))
def with_cf(R, D, a, b, t, bias=0.0):
    cf = (1 - t) * a + t * b
    return mix_hypotheses(list(R) + [cf], list(D) + [cv2.absdiff(a, b).sum(axis=2) + bias])
evaluate(heur, "heuristic")
evaluate(with_cf, "+crossfade")
evaluate(lambda *x: with_cf(*x, bias=0.05), "+crossfade bias .05")

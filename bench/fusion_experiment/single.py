import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from evalmix import evaluate

for k in range(3):
    evaluate(lambda R, D, a, b, t, k=k: R[k], f"hyp {k} alone")

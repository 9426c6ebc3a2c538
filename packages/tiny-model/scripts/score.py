#!/usr/bin/env python3
"""Scores a folder written by engine_eval.mjs (results.json + PNGs) with groundtruth.py."""
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from groundtruth import analyze, score  # noqa: E402


def main(d):
    res = json.load(open(os.path.join(d, "results.json")))
    tot = {"color": 0, "background": 0, "shape": 0, "count": 0}
    per_aspect = {}
    for r in res:
        a = analyze(np.asarray(Image.open(os.path.join(d, r["file"])).convert("RGB")))
        s = score(a, r)
        r["analysis"], r["score"] = {k: a[k] for k in ("color", "background", "shape", "count", "shapes")}, s
        for k in tot:
            tot[k] += s[k]
        pa = per_aspect.setdefault(r["aspectRatio"], {k: 0 for k in tot} | {"n": 0})
        pa["n"] += 1
        for k in tot:
            pa[k] += s[k]
    n = len(res)
    print("overall", {k: round(v / n, 3) for k, v in tot.items()}, "n", n)
    for a, v in per_aspect.items():
        print(a, {k: round(v[k] / v["n"], 2) for k in tot}, "n", v["n"])
    if "timings" in res[0]:
        print("mean total ms", np.mean([r["timings"]["total"] for r in res]))
    json.dump(res, open(os.path.join(d, "scored.json"), "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Per-shape / per-count / per-aspect accuracy table from one or more scored.json files (score.py output).
Usage: python3 scripts/breakdown.py label=dir [label=dir ...]"""
import json
import os
import sys

KEYS = ("color", "background", "shape", "count")


def groups(res):
    out = {"overall": res}
    for r in res:
        out.setdefault(f"shape {r['shape']}", []).append(r)
    for r in res:
        out.setdefault(f"count {r['count']}", []).append(r)
    for r in res:
        out.setdefault(f"aspect {r['aspectRatio']}", []).append(r)
    return out


def main(args):
    runs = [(a.split("=", 1)[0], json.load(open(os.path.join(a.split("=", 1)[1], "scored.json")))) for a in args]
    g = [groups(res) for _, res in runs]
    print("| group | n | " + " | ".join(f"{lab} colour/bg/shape/count" for lab, _ in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for name in g[0]:
        cells = []
        for gi in g:
            rs = gi[name]
            cells.append(" / ".join(f"{100 * sum(r['score'][k] for r in rs) / len(rs):.1f}" for k in KEYS))
        print(f"| {name} | {len(g[0][name])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

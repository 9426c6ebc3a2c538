#!/usr/bin/env python3
"""Estimates what a shapes-world image shows, for scoring generated images against their prompts.

Method (pure numpy geometry, no learned weights, so it can be re-implemented anywhere):
1. Resize so that sqrt(width*height) = 128 px (area averaging).
2. Background colour: the palette colour nearest to most pixels of the 2-px border frame.
3. Foreground colour: among pixels whose nearest palette colour is not the background and that lie
   > 48 (0..255 RGB distance) from the background colour, the most frequent nearest palette colour.
4. Shape mask: pixels past the midpoint between background and foreground colour (projection on the
   bg->fg line, alpha > 0.5); 4-connected components; components smaller than 0.3% of the image or
   15% of the largest are dropped. count = number of components left.
5. Shape kind per component from geometric features: hole ratio (enclosed background / area) -> ring;
   solidity (area / convex-hull area) -> star; fill ratio (area / bounding box area) ->
   circle vs {triangle, diamond}; vertical centroid offset in the bbox -> triangle vs diamond. A component
   is a square when fill > 0.89 or its four bounding-box corners are filled (min coverage of the four
   18% corner patches > 0.5, which also catches pinched squares).
   The image's shape is the most common kind among its components (ties: the largest component's).

CLI: `python3 groundtruth.py a.png b.png ...` prints one JSON object per line:
{"file", "background", "color", "count", "shape", "shapes": [...], "features": [...]}
"""
import json
import sys

import numpy as np

from world import PALETTE

NAMES = list(PALETTE)
PAL = np.array([PALETTE[n] for n in NAMES], dtype=np.float32)
ANALYSIS_SIDE = 128.0


def _resize(img):
    from PIL import Image
    h, w = img.shape[:2]
    s = ANALYSIS_SIDE / np.sqrt(w * h)
    nw, nh = max(8, int(round(w * s))), max(8, int(round(h * s)))
    if (nw, nh) == (w, h):
        return img.astype(np.float32)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(pil.resize((nw, nh), Image.BOX), dtype=np.float32)


def _nearest(pixels):
    d = ((pixels[:, None, :] - PAL[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


def _label(mask):
    """4-connected component labels (0 = none) by union-find over runs."""
    h, w = mask.shape
    parent = [0]
    labels = np.zeros((h, w), dtype=np.int32)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for y in range(h):
        row = mask[y]
        x = 0
        while x < w:
            if not row[x]:
                x += 1
                continue
            x0 = x
            while x < w and row[x]:
                x += 1
            lab = len(parent)
            parent.append(lab)
            labels[y, x0:x] = lab
            if y > 0:
                above = np.unique(labels[y - 1, x0:x])
                for a in above[above > 0]:
                    ra, rb = find(int(a)), find(lab)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(len(parent))], dtype=np.int32)
    return roots[labels]


def _hull_area(points):
    pts = sorted(set(map(tuple, points)))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    a = 0.0
    for i in range(len(hull)):
        x1, y1 = hull[i]
        x2, y2 = hull[(i + 1) % len(hull)]
        a += x1 * y2 - x2 * y1
    return abs(a) / 2


def shape_features(comp):
    """Features of one component mask (bool array cropped to its bbox)."""
    h, w = comp.shape
    area = float(comp.sum())
    ys, xs = np.nonzero(comp)
    # Convex hull over pixel corners.
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    hull = _hull_area(corners)
    # Holes: background inside the bbox not connected to its border.
    inv = np.pad(~comp, 1, constant_values=True)
    lab = _label(inv)
    outside = lab[0, 0]
    hole = float(((lab != outside) & (lab > 0)).sum())
    ch, cw = max(1, int(round(0.18 * h))), max(1, int(round(0.18 * w)))
    corners = min(comp[:ch, :cw].mean(), comp[:ch, -cw:].mean(), comp[-ch:, :cw].mean(), comp[-ch:, -cw:].mean())
    return {"fill": area / (h * w), "solidity": area / max(hull, 1.0), "hole": hole / area, "corners": corners,
            "offset": (ys.mean() + 0.5 - h / 2) / h, "aspect": w / h, "area": area}


def classify_shape(f):
    if f["hole"] > 0.08:
        return "ring"
    if f["fill"] > 0.89 or f["corners"] > 0.5:
        return "square"
    if f["solidity"] < 0.78:
        return "star"
    if f["fill"] > 0.66:
        return "circle"
    return "triangle" if f["offset"] > 0.07 else "diamond"


def analyze(img):
    """img: HxWx3 RGB, uint8 or float in 0..255 (float in 0..1 is rescaled)."""
    img = np.asarray(img)
    if img.dtype != np.uint8 and img.max() <= 1.0 + 1e-6:
        img = img * 255.0
    img = _resize(img)
    h, w = img.shape[:2]
    border = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3), img[:, :2].reshape(-1, 3),
                             img[:, -2:].reshape(-1, 3)])
    bl = _nearest(border)
    bg_i = int(np.bincount(bl, minlength=len(NAMES)).argmax())
    bg_rgb = np.median(border[bl == bg_i], axis=0)
    flat = img.reshape(-1, 3)
    lab = _nearest(flat)
    dist_bg = np.sqrt(((flat - bg_rgb) ** 2).sum(-1))
    cand = (lab != bg_i) & (dist_bg > 48)
    result = {"background": NAMES[bg_i], "color": None, "count": 0, "shape": None, "shapes": [], "features": []}
    if cand.sum() < 0.002 * h * w:
        return result
    fg_i = int(np.bincount(lab[cand], minlength=len(NAMES)).argmax())
    fg_rgb = np.median(flat[cand & (lab == fg_i)], axis=0)
    result["color"] = NAMES[fg_i]
    d = fg_rgb - bg_rgb
    alpha = ((flat - bg_rgb) @ d) / max(float(d @ d), 1e-6)
    mask = (alpha > 0.5).reshape(h, w)
    labels = _label(mask)
    ids, sizes = np.unique(labels[labels > 0], return_counts=True)
    if len(ids) == 0:
        return result
    keep = [(int(i), int(s)) for i, s in zip(ids, sizes) if s >= 0.003 * h * w and s >= 0.15 * sizes.max()]
    keep.sort(key=lambda t: -t[1])
    kinds = []
    for i, _ in keep:
        ys, xs = np.nonzero(labels == i)
        comp = labels[ys.min():ys.max() + 1, xs.min():xs.max() + 1] == i
        f = shape_features(comp)
        kinds.append(classify_shape(f))
        result["features"].append({k: round(float(v), 3) for k, v in f.items()})
    result["count"] = len(keep)
    result["shapes"] = kinds
    counts = {k: kinds.count(k) for k in kinds}
    best = max(counts.values())
    result["shape"] = next(k for k in kinds if counts[k] == best)
    return result


def score(result, truth):
    """Per-criterion booleans for one image against {shape, color, background, count}."""
    return {"color": result["color"] == truth["color"], "background": result["background"] == truth["background"],
            "shape": result["shape"] == truth["shape"], "count": result["count"] == truth["count"]}


def main(paths):
    from PIL import Image
    for p in paths:
        img = np.asarray(Image.open(p).convert("RGB"))
        r = analyze(img)
        r["file"] = p
        print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1:])

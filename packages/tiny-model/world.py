"""Shapes world: a procedural scene sampler, anti-aliased numpy renderer and caption generator.

A scene is 1-3 copies of one shape kind (circle, square, triangle, star, ring, diamond) in one named
colour on a plain background of another named colour. Scenes are described in normalised coordinates,
so the same scene renders at any size or aspect ratio (the upscaler is trained on pairs rendered at two
resolutions). Rendering uses signed distance functions with analytic one-pixel anti-aliasing.
"""
import math
import random

import numpy as np

PALETTE = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (245, 220, 50),
    "green": (50, 170, 60),
    "blue": (40, 80, 220),
    "purple": (140, 60, 190),
    "pink": (245, 130, 190),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "cyan": (40, 200, 220),
}
COLORS = list(PALETTE)
SHAPES = ["circle", "square", "triangle", "star", "ring", "diamond"]
PLURAL = {s: s + "s" for s in SHAPES}
COUNT_WORDS = {1: ["a", "one"], 2: ["two"], 3: ["three"]}
DIGITS = {1: "1", 2: "2", 3: "3"}
# Named positions: normalised centre (x, y).
POSITIONS = {
    "center": (0.5, 0.5),
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.27),
    "bottom": (0.5, 0.73),
    "top left": (0.27, 0.27),
    "top right": (0.73, 0.27),
    "bottom left": (0.27, 0.73),
    "bottom right": (0.73, 0.73),
}
POS_PHRASES = {
    "center": ["in the center", "in the middle", "at the center"],
    "left": ["on the left", "at the left"],
    "right": ["on the right", "at the right"],
    "top": ["at the top", "on the top"],
    "bottom": ["at the bottom", "on the bottom"],
    "top left": ["in the top left", "at the top left"],
    "top right": ["in the top right", "at the top right"],
    "bottom left": ["in the bottom left", "at the bottom left"],
    "bottom right": ["in the bottom right", "at the bottom right"],
}


def held_out_triples(n_per_shape=8, seed=20240601):
    """(shape, colour, background) combinations never rendered for training; the eval prompts use them."""
    rng = random.Random(seed)
    out = []
    for s in SHAPES:
        pairs = [(c, b) for c in COLORS for b in COLORS if c != b]
        rng.shuffle(pairs)
        used_c, used_b, picked = set(), set(), []
        for c, b in pairs:  # spread colours and backgrounds
            if c in used_c or b in used_b:
                continue
            picked.append((s, c, b))
            used_c.add(c)
            used_b.add(b)
            if len(picked) == n_per_shape:
                break
        out.extend(picked)
    return out


HELD_OUT = set(held_out_triples())


# ---------------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------------
def shape_extent(kind):
    """Half-extents (x, y) of a shape of radius 1 (for placement)."""
    return {"circle": (1, 1), "ring": (1, 1), "square": (0.86, 0.86), "diamond": (1, 1),
            "triangle": (1, 0.9), "star": (1, 1)}[kind]


def sample_scene(rng, aspect, allow_held_out=False):
    """A random scene for a canvas of aspect w/h. Returns a dict (normalised units, y down)."""
    while True:
        kind = rng.choice(SHAPES)
        color = rng.choice(COLORS)
        bg = rng.choice([c for c in COLORS if c != color])
        if allow_held_out or (kind, color, bg) not in HELD_OUT:
            break
    count = rng.choices([1, 2, 3], weights=[0.5, 0.25, 0.25])[0]
    size = rng.choice(["small", "large"]) if count < 3 else rng.choices(["small", "large"], [0.8, 0.2])[0]
    return place_scene(rng, kind, color, bg, count, size, aspect)


def place_scene(rng, kind, color, bg, count, size, aspect, position=None, named_position_prob=0.6):
    # Work in a canvas of width aspect*1 ... normalised so that sqrt(w*h) = 1.
    W = math.sqrt(aspect)
    H = 1 / math.sqrt(aspect)
    mind = min(W, H)
    if size == "small":
        diam = rng.uniform(0.32, 0.37)
    else:
        diam = {1: rng.uniform(0.54, 0.64), 2: rng.uniform(0.44, 0.50), 3: rng.uniform(0.40, 0.44)}[count]
    diam = min(diam, 0.88 * mind)
    r = diam / 2
    ex, ey = shape_extent(kind)
    reach = 1.22 if kind == "square" else 1.0  # corner distance / r
    shapes = []
    if count == 1:
        if position is None and rng.random() < named_position_prob:
            position = rng.choice(list(POSITIONS))
        if position is not None:
            px, py = POSITIONS[position]
            cx = px * W + rng.uniform(-0.03, 0.03)
            cy = py * H + rng.uniform(-0.03, 0.03)
        else:
            cx = rng.uniform(r * ex, W - r * ex)
            cy = rng.uniform(r * ey, H - r * ey)
        cx = min(max(cx, r * ex + 0.02), W - r * ex - 0.02)
        cy = min(max(cy, r * ey + 0.02), H - r * ey - 0.02)
        shapes.append((cx, cy, r))
    else:
        position = None
        for _attempt in range(400):
            shapes = []
            ok = True
            for _ in range(count):
                placed = False
                for _try in range(60):
                    cx = rng.uniform(r * ex + 0.02, W - r * ex - 0.02)
                    cy = rng.uniform(r * ey + 0.02, H - r * ey - 0.02)
                    if all(math.hypot(cx - x, cy - y) > 2 * r * reach + 0.05 for x, y, _ in shapes):
                        shapes.append((cx, cy, r))
                        placed = True
                        break
                if not placed:
                    ok = False
                    break
            if ok:
                break
            r *= 0.97
    jitter = [tuple(int(np.clip(v + rng.randint(-6, 6), 0, 255)) for v in PALETTE[color]) for _ in shapes]
    bgc = tuple(int(np.clip(v + rng.randint(-6, 6), 0, 255)) for v in PALETTE[bg])
    return {"kind": kind, "color": color, "background": bg, "count": count, "size": size,
            "position": position, "aspect": aspect, "shapes": shapes, "rgb": jitter, "bg_rgb": bgc}


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------
def _polygon_sdf(px, py, verts):
    """Signed distance (negative inside) from points to a closed polygon."""
    d = np.full(px.shape, np.inf, dtype=np.float32)
    inside = np.zeros(px.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        ax, ay = verts[i]
        bx, by = verts[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
        dx, dy = wx - ex * t, wy - ey * t
        d = np.minimum(d, dx * dx + dy * dy)
        c1 = py >= ay
        c2 = py < by
        c3 = ex * wy > ey * wx
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        inside ^= flip
    d = np.sqrt(d)
    return np.where(inside, -d, d)


def shape_sdf(kind, px, py, cx, cy, r):
    x = px - cx
    y = py - cy
    if kind == "circle":
        return np.sqrt(x * x + y * y) - r
    if kind == "ring":
        return np.abs(np.sqrt(x * x + y * y) - 0.72 * r) - 0.28 * r
    if kind == "square":
        a = 0.86 * r
        qx, qy = np.abs(x) - a, np.abs(y) - a
        return np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2) + np.minimum(np.maximum(qx, qy), 0)
    if kind == "diamond":
        verts = [(0, -r), (0.8 * r, 0), (0, r), (-0.8 * r, 0)]
    elif kind == "triangle":
        verts = [(0, -r), (0.95 * r, 0.8 * r), (-0.95 * r, 0.8 * r)]
    elif kind == "star":
        verts = []
        for i in range(10):
            ang = -math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else 0.5 * r
            verts.append((rr * math.cos(ang), rr * math.sin(ang) + 0.1 * r))
    else:
        raise ValueError(kind)
    return _polygon_sdf(x, y, verts)


def render(scene, width, height):
    """Renders a scene to float32 RGB [height, width, 3] in [0, 1]."""
    aspect = scene["aspect"]
    W = math.sqrt(aspect)
    scale = width / W  # pixels per normalised unit (height / H equals it up to rounding)
    scale_y = height * math.sqrt(aspect)
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = np.array(scene["bg_rgb"], dtype=np.float32) / 255.0
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    px = (xs + 0.5) / scale
    py = (ys + 0.5) / scale_y
    for (cx, cy, r), rgb in zip(scene["shapes"], scene["rgb"]):
        # Bounding window for speed.
        x0 = max(int((cx - r * 1.1) * scale) - 2, 0)
        x1 = min(int((cx + r * 1.1) * scale) + 3, width)
        y0 = max(int((cy - r * 1.1) * scale_y) - 2, 0)
        y1 = min(int((cy + r * 1.1) * scale_y) + 3, height)
        if x1 <= x0 or y1 <= y0:
            continue
        d = shape_sdf(scene["kind"], px[y0:y1, x0:x1], py[y0:y1, x0:x1], cx, cy, r)
        alpha = np.clip(0.5 - d * scale, 0, 1)[..., None]
        col = np.array(rgb, dtype=np.float32) / 255.0
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + col * alpha
    return img


# ---------------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------------
def caption(scene, rng):
    kind, color, bg, count = scene["kind"], scene["color"], scene["background"], scene["count"]
    det = rng.choice(COUNT_WORDS[count]) if rng.random() > 0.1 else DIGITS[count]
    noun = kind if count == 1 else PLURAL[kind]
    size = scene["size"] + " " if rng.random() < 0.5 else ""
    pos = ""
    if scene["position"] is not None and rng.random() < 0.85:
        pos = " " + rng.choice(POS_PHRASES[scene["position"]])
    obj = f"{det} {size}{color} {noun}"
    with_bg = rng.random() < 0.8
    if not with_bg:
        t = rng.choice(["{obj}{pos}", "a picture of {obj}{pos}", "{obj}{pos}."])
        return t.format(obj=obj, pos=pos)
    t = rng.choice([
        "{obj}{pos} on a {bg} background",
        "{obj}{pos} on a {bg} background",
        "{obj} on a {bg} background{pos}",
        "{obj}{pos}, {bg} background",
        "{bg} background with {obj}{pos}",
        "a picture of {obj}{pos} on {bg}",
        "{obj}{pos} against a {bg} background",
        "a {bg} background, {obj}{pos}",
    ])
    return t.format(obj=obj, pos=pos, bg=bg)


def vocabulary_words():
    words = set()
    for c in COLORS:
        words.add(c)
    for s in SHAPES:
        words.add(s)
        words.add(PLURAL[s])
    for ws in COUNT_WORDS.values():
        words.update(ws)
    for ps in POS_PHRASES.values():
        for p in ps:
            words.update(p.split())
    words.update("small large on background with picture of against in the at".split())
    return sorted(words)


def ground_truth(scene):
    return {"shape": scene["kind"], "color": scene["color"], "background": scene["background"],
            "count": scene["count"], "size": scene["size"], "position": scene["position"]}


if __name__ == "__main__":
    import time
    rng = random.Random(0)
    t = time.time()
    for i in range(2000):
        s = sample_scene(rng, 1.0)
        render(s, 64, 64)
    print("2000 renders", time.time() - t)
    for i in range(10):
        s = sample_scene(rng, rng.choice([1.0, 16 / 9, 0.5]))
        print(caption(s, rng), ground_truth(s))

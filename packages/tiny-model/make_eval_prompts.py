#!/usr/bin/env python3
"""Writes eval_prompts.json: prompts over the held-out (shape, colour, background) combinations, which
the training data never renders, each with its ground truth."""
import json
import os
import random

import world

TEMPLATES = [
    "{det} {size}{color} {noun} on a {bg} background",
    "{det} {size}{color} {noun}, {bg} background",
    "{bg} background with {det} {size}{color} {noun}",
    "a picture of {det} {size}{color} {noun} on {bg}",
]


def main():
    rng = random.Random(77)
    triples = world.held_out_triples()
    prompts = []
    for i, (shape, color, bg) in enumerate(triples):
        count = [1, 1, 2, 3][i % 4]
        size = None
        if rng.random() < 0.5:
            size = "small" if count == 3 else rng.choice(["small", "large"])
        det = {1: "a", 2: "two", 3: "three"}[count]
        noun = shape if count == 1 else world.PLURAL[shape]
        text = TEMPLATES[i % len(TEMPLATES)].format(det=det, size=(size + " ") if size else "", color=color,
                                                    noun=noun, bg=bg)
        prompts.append({"prompt": text, "shape": shape, "color": color, "background": bg, "count": count,
                        "size": size})
    out = {
        "description": "Held-out shapes-world prompts: no (shape, color, background) combination here is ever "
                       "rendered in training. Score each generated image with groundtruth.py (or its TS port): "
                       "color = foreground colour, background = border colour, shape = majority component "
                       "kind, count = number of components.",
        "palette": world.PALETTE,
        "shapes": world.SHAPES,
        "prompts": prompts,
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval_prompts.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(len(prompts), "prompts")


if __name__ == "__main__":
    main()

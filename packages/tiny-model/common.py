"""Shared constants: resolution plan, diffusion schedule, paths."""
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.environ.get("TINY_WORK", os.path.join(HERE, ".work"))
MODEL_DIR = os.path.join(HERE, "model")
SEED = 1234
NATIVE = 64  # native generation size in pixels (8x8 latents)
LEVELS = 2  # UNet resolution levels -> generation sizes are multiples of 8 * 2**(LEVELS-1) = 16 px
PIXEL_MULTIPLE = 8 * 2 ** (LEVELS - 1)
TRAIN_LEN = 24  # token positions the training run feeds (captions are far shorter); the rest are zero
ASPECTS = {"1:1": (1024, 1024), "16:9": (1920, 1080), "9:16": (1080, 1920), "4:3": (1024, 768),
           "3:4": (768, 1024), "21:9": (2560, 1080), "9:21": (1080, 2560)}


def plan_resolution(aspect_name, native_pixels=NATIVE * NATIVE, m=PIXEL_MULTIPLE):
    """Port of the engine's planResolution (packages/engine/src/plan.ts)."""
    tw, th = ASPECTS[aspect_name]
    a = tw / th
    best, best_score = (m, m), math.inf
    max_side = math.ceil(math.sqrt(native_pixels * 4) / m) * m
    for h in range(m, max_side + 1, m):
        for w in (math.floor(h * a / m) * m, math.ceil(h * a / m) * m):
            if w < m:
                continue
            s = 4 * abs(math.log(w / h / a)) + abs(math.log(w * h / native_pixels))
            if s < best_score - 1e-12:
                best_score, best = s, (w, h)
    return best


SIZES = {k: plan_resolution(k) for k in ASPECTS}  # aspect -> (width, height) in pixels
SIZE_WEIGHTS = {k: (0.3 if k == "1:1" else 0.7 / 6) for k in ASPECTS}


def alphas_cumprod():
    """scaled_linear betas (0.00085..0.012, 1000 steps) as diffusers builds them (float32)."""
    import torch
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def ddim_timesteps(n, train=1000):
    """DDIM 'trailing' spacing: round(train - i*train/n) - 1."""
    return [int(np.round(train - i * train / n)) - 1 for i in range(n)]

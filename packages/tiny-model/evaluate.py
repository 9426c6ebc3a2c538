#!/usr/bin/env python3
"""Quick quality check in PyTorch: samples the eval prompts with the engine's DDIM ('trailing', eta 0)
sampler and classifier-free guidance, decodes, and scores with groundtruth.py.

    /usr/bin/python3 evaluate.py [--ckpt] [--steps 20] [--guidance 4] [--seeds 1] [--aspects 1:1,16:9] [--save DIR]

--ckpt evaluates the EMA weights of the running UNet checkpoint (.work/unet.ckpt) instead of unet.pt.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import time

import numpy as np
import torch

from common import HERE, SIZES, WORK, alphas_cumprod, ddim_timesteps
from groundtruth import analyze, score
from models import Decoder, TextEncoder, UNet, Upscaler
from tokenizer import Tokenizer


def load(ckpt, raw=False):
    tok = Tokenizer.load(os.path.join(WORK, "tokenizer"))
    te, unet = TextEncoder(len(tok.vocab), tok.eos), UNet()
    if ckpt:
        st = torch.load(os.path.join(WORK, "unet.ckpt"))
        sh = st["modules"] if raw else st["extra"]["ema"]["shadow"]
        te.load_state_dict(sh["te"])
        unet.load_state_dict(sh["unet"])
    else:
        st = torch.load(os.path.join(WORK, "unet.pt"))
        te.load_state_dict(st["te_raw" if raw else "te"])
        unet.load_state_dict(st["unet_raw" if raw else "unet"])
    dec = Decoder()
    dec.load_state_dict(torch.load(os.path.join(WORK, "ae.pt"))["decoder"])
    if os.path.exists(os.path.join(WORK, "decoder_ft.pt")):
        dec.load_state_dict(torch.load(os.path.join(WORK, "decoder_ft.pt")))
    scale = torch.load(os.path.join(WORK, "latents.pt"))["scaling_factor"]
    up = None
    if os.path.exists(os.path.join(WORK, "upscaler.pt")):
        up = Upscaler()
        up.load_state_dict(torch.load(os.path.join(WORK, "upscaler.pt")))
        up.eval()
    return tok, te.eval(), unet.eval(), dec.eval(), scale, up


@torch.no_grad()
def sample(tok, te, unet, dec, scale, prompt, w, h, seed, steps, guidance):
    ac = alphas_cumprod()
    ids = torch.tensor([tok.encode(""), tok.encode(prompt)])
    ctx = te(ids)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 4, h // 8, w // 8, generator=g)
    ts = ddim_timesteps(steps)
    stride = 1000 // steps
    for t in ts:
        out = unet(torch.cat([x, x]), torch.tensor([float(t)] * 2), ctx)
        eps = out[0:1] + guidance * (out[1:2] - out[0:1])
        a = ac[t]
        ap = ac[t - stride] if t - stride >= 0 else torch.tensor(1.0)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = ap.sqrt() * x0 + (1 - ap).sqrt() * eps
    img = dec(x / scale).clamp(-1, 1)
    return ((img[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", action="store_true")
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--aspects", default=",".join(SIZES))
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--save", default=None)
    ap.add_argument("--upscale", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TINY_THREADS", "2")))
    tok, te, unet, dec, scale, up = load(a.ckpt, a.raw)
    prompts = json.load(open(os.path.join(HERE, "eval_prompts.json")))["prompts"][: a.limit]
    aspects = a.aspects.split(",")
    tot = {"color": 0, "background": 0, "shape": 0, "count": 0}
    n, k, t0 = 0, 0, time.time()
    tiles = []
    for i, p in enumerate(prompts):
        for s in range(a.seeds):
            asp = aspects[k % len(aspects)]
            k += 1
            w, h = SIZES[asp]
            img = sample(tok, te, unet, dec, scale, p["prompt"], w, h, 1000 + 17 * i + s, a.steps, a.guidance)
            if a.upscale and up is not None:
                with torch.no_grad():
                    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
                    img = (up(x)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            r = analyze(img)
            sc = score(r, p)
            for key in tot:
                tot[key] += sc[key]
            n += 1
            if a.save:
                from PIL import Image
                os.makedirs(a.save, exist_ok=True)
                Image.fromarray(img).save(os.path.join(a.save, f"p{i:02d}_s{s}_{asp.replace(':', 'x')}.png"))
                if asp == "1:1":
                    tiles.append(img)
            if not all(sc.values()):
                print(f"  miss {p['prompt']!r} [{asp}] -> {r['color']} {r['shape']} x{r['count']} on {r['background']} "
                      f"{r['shapes']}")
    res = {key: round(v / n, 3) for key, v in tot.items()}
    print(json.dumps({"n": n, "steps": a.steps, "guidance": a.guidance, **res,
                      "sec_per_image": round((time.time() - t0) / n, 2)}))
    if a.save and tiles:
        from PIL import Image
        rows = [np.concatenate(tiles[j:j + 8] + [np.zeros_like(tiles[0])] * (8 - len(tiles[j:j + 8])), 1)
                for j in range(0, len(tiles), 8)]
        Image.fromarray(np.concatenate(rows, 0)).save(os.path.join(a.save, "grid_1x1.png"))


if __name__ == "__main__":
    main()

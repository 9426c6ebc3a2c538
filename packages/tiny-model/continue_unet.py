#!/usr/bin/env python3
"""Continues the text encoder + UNet stage of train.py from .work/unet.ckpt (weights, optimizer, EMA)
with a fresh, gentle LR schedule: linear warm-up to the peak, then cosine decay to the floor. The decay
is driven by wall-clock progress (or step progress, whichever is further), so the run always ends with
a decayed learning rate at its deadline even when the machine is busier than expected.

    /usr/bin/python3 continue_unet.py --steps 2500 --until 11:42 [--peak 2e-4] [--floor 1e-5]

Same data, batch, caption dropout, min-SNR weighting and EMA as train.py; the data stream continues
from the step the first run stopped at (batches are seeded by step). Checkpoints to .work/unet_cont.ckpt
every 3 minutes and resumes from it; at the end writes .work/unet.pt (move the old one away first) and
records the continuation in meta.json["unet_continue"].
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime
import math
import random
import time

import torch

import train
import world
from common import SEED, SIZE_WEIGHTS, SIZES, TRAIN_LEN
from models import TextEncoder, UNet
from tokenizer import Tokenizer

CFG = train.CFG
log, path = train.log, train.path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--until", default=None, help="UTC HH:MM deadline for the last step")
    ap.add_argument("--peak", type=float, default=2e-4)
    ap.add_argument("--floor", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=150)
    a = ap.parse_args()
    torch.set_num_threads(2)

    tok = Tokenizer.load(path("tokenizer"))
    data = torch.load(path("latents.pt"))
    te = TextEncoder(len(tok.vocab), tok.eos)
    unet = UNet()
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=a.peak, weight_decay=0.01, betas=(0.9, 0.99))
    ema = train.EMA({"te": te, "unet": unet}, CFG["ema"])

    cont = path("unet_cont.ckpt")
    src = cont if os.path.exists(cont) else path("unet.ckpt")
    st = torch.load(src)
    te.load_state_dict(st["modules"]["te"])
    unet.load_state_dict(st["modules"]["unet"])
    ema.load_state_dict(st["extra"]["ema"])
    opt.load_state_dict(st["opt"])
    torch.set_rng_state(st["rng"])
    step = st["step"]
    cinfo = st.get("cont") or {"start_step": step, "elapsed": 0.0, "hist": []}
    start_step, end_step = cinfo["start_step"], cinfo["start_step"] + a.steps
    now = time.time()
    if a.until:
        hh, mm = map(int, a.until.split(":"))
        d = datetime.datetime.now(datetime.timezone.utc).replace(hour=hh, minute=mm, second=0, microsecond=0)
        deadline = d.timestamp()
    else:
        deadline = math.inf
    cinfo.setdefault("deadline", deadline)
    deadline = cinfo["deadline"]
    t_begin = now - cinfo["elapsed"]  # wall-clock start of the continuation (across resumes)
    log(f"unet continue: from {src} at step {step}; target {end_step}; peak {a.peak} floor {a.floor}; "
        f"deadline {time.strftime('%H:%M:%S', time.gmtime(deadline)) if deadline < math.inf else 'none'}")

    ac = train.alphas_cumprod()
    snr = ac / (1 - ac)
    weight = torch.clamp(snr, max=CFG["min_snr"]) / snr
    scale = data["scaling_factor"]
    groups = data["groups"]
    names = list(SIZES)
    tok_cache = {}

    def ids_for(text):
        if text not in tok_cache:
            tok_cache[text] = tok.encode(text, TRAIN_LEN)
        return tok_cache[text]

    def lr_now(s):
        k = s - start_step
        if k < a.warmup:  # gentle restart from where the first run's LR ended (3e-5)
            return 3e-5 + (a.peak - 3e-5) * (k + 1) / a.warmup
        p_step = (k - a.warmup) / max(1, a.steps - a.warmup)
        total_t = deadline - t_begin
        p_time = (time.time() - t_begin) / total_t if total_t < math.inf else 0.0
        p = min(1.0, max(p_step, p_time))
        return a.floor + (a.peak - a.floor) * 0.5 * (1 + math.cos(math.pi * p))

    def checkpoint():
        cinfo["elapsed"] = time.time() - t_begin
        train.save_atomic({"modules": {"te": te.state_dict(), "unet": unet.state_dict()},
                           "extra": {"ema": ema.state_dict()}, "opt": opt.state_dict(), "step": step,
                           "elapsed": st["elapsed"] + cinfo["elapsed"], "hist": st["hist"] + cinfo["hist"],
                           "rng": torch.get_rng_state(), "cont": cinfo}, "unet_cont.ckpt")

    last_ck = time.time()
    acc, n, t_log = 0.0, 0, time.time()
    avg_step = 0.65
    while step < end_step:
        if time.time() + avg_step > deadline:
            log(f"unet continue: deadline reached at step {step}/{end_step}")
            break
        t0 = time.time()
        lr = lr_now(step)
        for g in opt.param_groups:
            g["lr"] = lr
        rng = random.Random(SEED * 104729 + step)
        name = names[rng.choices(range(len(names)), weights=[SIZE_WEIGHTS[nm] for nm in names])[0]]
        g = groups[name]
        idx = [rng.randrange(len(g["scenes"])) for _ in range(CFG["unet_batch"])]
        caps = ["" if rng.random() < CFG["caption_dropout"] else world.caption(g["scenes"][j], rng) for j in idx]
        ids = torch.tensor([ids_for(c) for c in caps], dtype=torch.int64)
        it = torch.tensor(idx)
        z = (g["mean"][it] + g["std"][it] * torch.randn_like(g["mean"][it])) * scale
        t = torch.randint(0, 1000, (z.shape[0],))
        noise = torch.randn_like(z)
        al = ac[t].view(-1, 1, 1, 1)
        xt = al.sqrt() * z + (1 - al).sqrt() * noise
        pred = unet(xt, t.float(), te(ids), extra_null=77 - TRAIN_LEN)
        per = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (per * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update()
        acc += per.mean().item()
        n += 1
        step += 1
        avg_step = 0.9 * avg_step + 0.1 * (time.time() - t0)
        if step % 50 == 0:
            cinfo["hist"].append((step, acc / n))
            log(f"unet+ step {step}/{end_step} loss {acc / n:.5f} lr {lr:.2e} {(time.time() - t_log) / n:.3f}s/step")
            acc, n, t_log = 0.0, 0, time.time()
        if time.time() - last_ck > CFG["ckpt_every_s"]:
            checkpoint()
            last_ck = time.time()
    checkpoint()
    torch.save({"te": ema.shadow["te"], "unet": ema.shadow["unet"], "te_raw": te.state_dict(),
                "unet_raw": unet.state_dict(), "vocab_size": len(tok.vocab), "eos": tok.eos}, path("unet.pt"))
    meta = train.load_meta()
    final = cinfo["hist"][-1][1] if cinfo["hist"] else float("nan")
    meta["unet_continue"] = {"from_step": start_step, "steps": step - start_step, "total_steps": step,
                             "minutes": cinfo["elapsed"] / 60, "peak_lr": a.peak, "floor_lr": a.floor,
                             "warmup": a.warmup, "final_mse": final}
    train.save_meta(meta)
    log(f"unet continue done: {step - start_step} steps (total {step}), {cinfo['elapsed'] / 60:.1f} min, "
        f"eps-MSE {final:.4f}")


if __name__ == "__main__":
    main()

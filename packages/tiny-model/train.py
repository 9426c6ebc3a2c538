#!/usr/bin/env python3
"""Trains the tiny shapes-world text-to-image model on CPU: autoencoder -> text encoder + UNet -> x4
upscaler. Seeded; checkpoints to .work/ every few minutes and resumes when re-run.

    /usr/bin/python3 train.py        # then: /usr/bin/python3 export.py

Environment: TINY_CALIBRATE=1 runs a few steps of each stage (in .work-calibrate/) to time them.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads collapse under contention

import json
import math
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

CALIBRATE = os.environ.get("TINY_CALIBRATE") == "1"
if CALIBRATE:
    os.environ.setdefault("TINY_WORK", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".work-calibrate"))

import world  # noqa: E402
from common import SEED, SIZE_WEIGHTS, SIZES, TRAIN_LEN, WORK, alphas_cumprod  # noqa: E402
from models import Decoder, Encoder, TextEncoder, UNet, Upscaler, count_params  # noqa: E402
from tokenizer import Tokenizer, learn_bpe, write_files  # noqa: E402

CFG = {
    "ae_steps": 2000, "ae_batch": 32, "ae_crop": 48, "ae_lr": 1e-3, "ae_max_s": 19 * 60,
    "kl_weight": 2e-5, "edge_weight": 1.0,
    "data_per_size": {"1:1": 12000, "other": 4000},
    "unet_steps": 3600, "unet_batch": 64, "unet_lr": 6e-4, "unet_max_s": 40 * 60, "ema": 0.998,
    "caption_dropout": 0.12, "min_snr": 5.0,
    "dft_steps": 1000, "dft_batch": 24, "dft_lr": 2e-4, "dft_max_s": 8 * 60, "dft_latent_noise": 0.1,
    "up_pool": 2000, "up_steps": 2200, "up_batch": 16, "up_lr": 1e-3, "up_max_s": 7 * 60,
    "ckpt_every_s": 180,
}
if CALIBRATE:
    CFG.update(ae_steps=12, unet_steps=12, up_steps=12, dft_steps=12, up_pool=64, data_per_size={"1:1": 256, "other": 64},
               ckpt_every_s=5)

T0 = time.time()


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')} +{(time.time() - T0) / 60:5.1f}m]", *a, flush=True)


def path(name):
    return os.path.join(WORK, name)


def save_atomic(obj, name):
    tmp = path(name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path(name))


def load_meta():
    p = path("meta.json")
    return json.load(open(p)) if os.path.exists(p) else {}


def save_meta(meta):
    with open(path("meta.json.tmp"), "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(path("meta.json.tmp"), path("meta.json"))


def lr_at(step, total, base, warmup=100, floor=0.05):
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def pick_size(rng):
    names = list(SIZES)
    return names[rng.choices(range(len(names)), weights=[SIZE_WEIGHTS[n] for n in names])[0]]


def to_tensor(imgs):
    """list of HWC float [0,1] -> NCHW in [-1,1]."""
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous() * 2 - 1


def grad_l1(a, b):
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    return (dxa - dxb).abs().mean() + (dya - dyb).abs().mean()


class Stage:
    """Step loop with time-based checkpoints and resume."""

    def __init__(self, name, modules, opt, total, max_s, extra=None):
        self.name, self.modules, self.opt, self.total, self.max_s = name, modules, opt, total, max_s
        self.extra = extra or {}
        self.step, self.elapsed, self.hist = 0, 0.0, []
        ck = path(f"{name}.ckpt")
        if os.path.exists(ck):
            st = torch.load(ck)
            for k, m in modules.items():
                m.load_state_dict(st["modules"][k])
            for k, m in self.extra.items():
                m.load_state_dict(st["extra"][k])
            opt.load_state_dict(st["opt"])
            self.step, self.elapsed, self.hist = st["step"], st["elapsed"], st["hist"]
            torch.set_rng_state(st["rng"])
            log(f"{name}: resumed at step {self.step} ({self.elapsed / 60:.1f} min done)")
        self.last_ck = time.time()
        self.t_start = time.time() - self.elapsed

    def checkpoint(self):
        self.elapsed = time.time() - self.t_start
        save_atomic({"modules": {k: m.state_dict() for k, m in self.modules.items()},
                     "extra": {k: m.state_dict() for k, m in self.extra.items()},
                     "opt": self.opt.state_dict(), "step": self.step, "elapsed": self.elapsed,
                     "hist": self.hist, "rng": torch.get_rng_state()}, f"{self.name}.ckpt")
        self.last_ck = time.time()

    def run(self, step_fn, base_lr, log_every=50):
        acc, n = 0.0, 0
        while self.step < self.total:
            if time.time() - self.t_start > self.max_s:
                log(f"{self.name}: time cap reached at step {self.step}/{self.total}")
                break
            lr = lr_at(self.step, self.total, base_lr)
            for g in self.opt.param_groups:
                g["lr"] = lr
            loss = step_fn(self.step)
            acc += loss
            n += 1
            self.step += 1
            if self.step % log_every == 0 or self.step == self.total:
                el = time.time() - self.t_start
                self.hist.append((self.step, acc / n))
                log(f"{self.name} step {self.step}/{self.total} loss {acc / n:.5f} lr {lr:.2e} "
                    f"{el / self.step:.3f}s/step")
                acc, n = 0.0, 0
            if time.time() - self.last_ck > CFG["ckpt_every_s"]:
                self.checkpoint()
        self.checkpoint()
        return self.hist[-1][1] if self.hist else float("nan")


# ---------------------------------------------------------------------------------------------------
def stage_tokenizer():
    words = world.vocabulary_words() + list("0123456789") + [",", "."]
    vocab, merges = learn_bpe(words)
    write_files(path("tokenizer"), vocab, merges)
    return Tokenizer(vocab, merges)


def ae_batch(step):
    rng = random.Random(SEED * 7919 + step)
    imgs = []
    c = CFG["ae_crop"]
    for _ in range(CFG["ae_batch"]):
        w, h = SIZES[pick_size(rng)]
        sc = world.sample_scene(rng, w / h)
        img = world.render(sc, w, h)
        x0 = rng.randrange(0, (w - c) // 8 + 1) * 8
        y0 = rng.randrange(0, (h - c) // 8 + 1) * 8
        img = img[y0:y0 + c, x0:x0 + c]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        imgs.append(np.ascontiguousarray(img))
    return to_tensor(imgs)


def stage_autoencoder(meta):
    if os.path.exists(path("ae.pt")):
        st = torch.load(path("ae.pt"))
        enc, dec = Encoder(), Decoder()
        enc.load_state_dict(st["encoder"])
        dec.load_state_dict(st["decoder"])
        return enc.eval(), dec.eval()
    torch.manual_seed(SEED)
    enc, dec = Encoder(), Decoder()
    log(f"autoencoder: encoder {count_params(enc)} params, decoder {count_params(dec)} params")
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=CFG["ae_lr"], weight_decay=0.0,
                            betas=(0.9, 0.99))
    stage = Stage("ae", {"encoder": enc, "decoder": dec}, opt, CFG["ae_steps"], CFG["ae_max_s"])

    def step(i):
        x = ae_batch(i)
        mean, logvar = enc(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        r = dec(z)
        rec = (r - x).abs().mean()
        edge = grad_l1(r, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = rec + CFG["edge_weight"] * edge + CFG["kl_weight"] * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return rec.item()

    final = stage.run(step, CFG["ae_lr"])
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict()}, path("ae.pt"))
    meta["ae"] = {"steps": stage.step, "minutes": stage.elapsed / 60, "final_l1": final,
                  "encoder_params": count_params(enc), "decoder_params": count_params(dec)}
    save_meta(meta)
    log(f"autoencoder done: {stage.step} steps, {stage.elapsed / 60:.1f} min, L1 {final:.4f}")
    return enc.eval(), dec.eval()


# ---------------------------------------------------------------------------------------------------
def stage_latents(enc, meta):
    """Renders the diffusion training set at the seven generation sizes and encodes it once."""
    if os.path.exists(path("latents.pt")):
        return torch.load(path("latents.pt"))
    t = time.time()
    rng = random.Random(SEED + 17)
    groups = {}
    stds = []
    for name, (w, h) in SIZES.items():
        n = CFG["data_per_size"]["1:1" if name == "1:1" else "other"]
        scenes = [world.sample_scene(rng, w / h) for _ in range(n)]
        means, sds = [], []
        for i in range(0, n, 256):
            x = to_tensor([world.render(s, w, h) for s in scenes[i:i + 256]])
            with torch.no_grad():
                m, lv = enc(x)
            means.append(m)
            sds.append(torch.exp(0.5 * lv))
        groups[name] = {"mean": torch.cat(means), "std": torch.cat(sds),
                        "scenes": [{k: s[k] for k in ("kind", "color", "background", "count", "size", "position")}
                                   for s in scenes]}
        stds.append(groups[name]["mean"].flatten())
        log(f"latents {name} {w}x{h}: {n} images")
    allm = torch.cat(stds)
    std = float(allm.std())
    data = {"groups": groups, "scaling_factor": 1.0 / std, "latent_mean": float(allm.mean())}
    torch.save(data, path("latents.pt"))
    meta["latents"] = {"minutes": (time.time() - t) / 60, "latent_std": std, "scaling_factor": 1.0 / std}
    save_meta(meta)
    log(f"latents done: std {std:.4f} -> scaling_factor {1 / std:.5f}")
    return data


class EMA:
    def __init__(self, modules, decay):
        self.decay = decay
        self.shadow = {k: {n: p.detach().clone() for n, p in m.state_dict().items()} for k, m in modules.items()}
        self.modules = modules
        self.n = 0

    def update(self):
        self.n += 1
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        with torch.no_grad():
            for k, m in self.modules.items():
                for n, p in m.state_dict().items():
                    if p.dtype.is_floating_point:
                        self.shadow[k][n].mul_(d).add_(p, alpha=1 - d)
                    else:
                        self.shadow[k][n].copy_(p)

    def state_dict(self):
        return {"shadow": self.shadow, "n": self.n}

    def load_state_dict(self, st):
        self.shadow, self.n = st["shadow"], st["n"]


def stage_unet(tok, data, meta):
    if os.path.exists(path("unet.pt")):
        return
    torch.manual_seed(SEED + 1)
    te = TextEncoder(len(tok.vocab), tok.eos)
    unet = UNet()
    log(f"text encoder {count_params(te)} params, unet {count_params(unet)} params")
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=CFG["unet_lr"], weight_decay=0.01, betas=(0.9, 0.99))
    ema = EMA({"te": te, "unet": unet}, CFG["ema"])
    stage = Stage("unet", {"te": te, "unet": unet}, opt, CFG["unet_steps"], CFG["unet_max_s"], {"ema": ema})
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    weight = torch.clamp(snr, max=CFG["min_snr"]) / snr  # min-SNR-gamma for epsilon prediction
    scale = data["scaling_factor"]
    groups = data["groups"]
    names = list(SIZES)
    tok_cache = {}

    def ids_for(text):
        if text not in tok_cache:
            tok_cache[text] = tok.encode(text, TRAIN_LEN)
        return tok_cache[text]

    def step(i):
        rng = random.Random(SEED * 104729 + i)
        name = names[rng.choices(range(len(names)), weights=[SIZE_WEIGHTS[n] for n in names])[0]]
        g = groups[name]
        idx = [rng.randrange(len(g["scenes"])) for _ in range(CFG["unet_batch"])]
        caps = []
        for j in idx:
            caps.append("" if rng.random() < CFG["caption_dropout"] else world.caption(g["scenes"][j], rng))
        ids = torch.tensor([ids_for(c) for c in caps], dtype=torch.int64)
        it = torch.tensor(idx)
        z = (g["mean"][it] + g["std"][it] * torch.randn_like(g["mean"][it])) * scale
        t = torch.randint(0, 1000, (z.shape[0],))
        noise = torch.randn_like(z)
        a = ac[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * z + (1 - a).sqrt() * noise
        pred = unet(xt, t.float(), te(ids), extra_null=77 - TRAIN_LEN)
        per = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (per * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update()
        return per.mean().item()

    final = stage.run(step, CFG["unet_lr"])
    torch.save({"te": ema.shadow["te"], "unet": ema.shadow["unet"], "te_raw": te.state_dict(),
                "unet_raw": unet.state_dict(), "vocab_size": len(tok.vocab), "eos": tok.eos}, path("unet.pt"))
    meta["unet"] = {"steps": stage.step, "minutes": stage.elapsed / 60, "final_mse": final,
                    "text_encoder_params": count_params(te), "unet_params": count_params(unet),
                    "batch": CFG["unet_batch"]}
    save_meta(meta)
    log(f"unet done: {stage.step} steps, {stage.elapsed / 60:.1f} min, eps-MSE {final:.4f}")


# ---------------------------------------------------------------------------------------------------
def edge_weight_map(x):
    """1 + 4 near colour edges of the target (3x3 dilation of its gradient magnitude)."""
    g = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(1, keepdim=True)
    g = F.pad(g, (0, 1, 0, 0))
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(1, keepdim=True)
    g = g + F.pad(gy, (0, 0, 0, 1))
    g = F.max_pool2d((g > 0.05).float(), 3, stride=1, padding=1)
    return 1 + 4 * g


def stage_decoder_finetune(enc, dec, data, meta):
    """Fine-tunes the decoder alone (encoder frozen, so the UNet's latents stay valid) on whole images at
    the seven generation sizes, from slightly perturbed latents (the UNet never lands exactly on the
    data), with an edge-weighted loss for crisper shapes."""
    if os.path.exists(path("decoder_ft.pt")):
        dec.load_state_dict(torch.load(path("decoder_ft.pt")))
        return dec.eval()
    dec.train()
    opt = torch.optim.AdamW(dec.parameters(), lr=CFG["dft_lr"], weight_decay=0.0, betas=(0.9, 0.99))
    stage = Stage("dft", {"decoder": dec}, opt, CFG["dft_steps"], CFG["dft_max_s"])
    lat_std = 1.0 / data["scaling_factor"]

    def step(i):
        rng = random.Random(SEED * 4241 + i)
        w, h = SIZES[pick_size(rng)]
        x = to_tensor([world.render(world.sample_scene(rng, w / h), w, h) for _ in range(CFG["dft_batch"])])
        with torch.no_grad():
            m, lv = enc(x)
            z = m + torch.exp(0.5 * lv) * torch.randn_like(m) + CFG["dft_latent_noise"] * lat_std * torch.randn_like(m)
        r = dec(z)
        wmap = edge_weight_map(x)
        rec = ((r - x).abs() * wmap).mean() / wmap.mean()
        loss = rec + CFG["edge_weight"] * grad_l1(r, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return (r - x).abs().mean().item()

    final = stage.run(step, CFG["dft_lr"])
    torch.save(dec.state_dict(), path("decoder_ft.pt"))
    meta["decoder_finetune"] = {"steps": stage.step, "minutes": stage.elapsed / 60, "final_l1": final}
    save_meta(meta)
    log(f"decoder fine-tune done: {stage.step} steps, L1 {final:.4f}")
    return dec.eval()


def stage_upscaler(enc, dec, meta):
    if os.path.exists(path("upscaler.pt")):
        return
    t = time.time()
    rng = random.Random(SEED + 99)
    los, his = [], []
    names = list(SIZES)
    pool = CFG["up_pool"]
    for k in range(pool):
        name = names[k % len(names)]
        w, h = SIZES[name]
        sc = world.sample_scene(rng, w / h, allow_held_out=True)
        los.append(world.render(sc, w, h))
        his.append(world.render(sc, 4 * w, 4 * h))
    # Inputs as the pipeline produces them: decoded from (slightly perturbed) latents, 8-bit.
    degraded = []
    with torch.no_grad():
        for k in range(pool):
            x = to_tensor([los[k]])
            m, _ = enc(x)
            m = m + 0.05 * m.std() * torch.randn_like(m)
            r = ((dec(m).clamp(-1, 1) + 1) / 2 * 255).round() / 255
            degraded.append(r[0])
    log(f"upscaler pool: {pool} pairs in {time.time() - t:.0f}s")
    torch.manual_seed(SEED + 2)
    up = Upscaler()
    log(f"upscaler {count_params(up)} params")
    opt = torch.optim.AdamW(up.parameters(), lr=CFG["up_lr"], weight_decay=0.0, betas=(0.9, 0.99))
    stage = Stage("upscaler", {"up": up}, opt, CFG["up_steps"], CFG["up_max_s"])
    c = 32

    def step(i):
        r = random.Random(SEED * 31337 + i)
        xs, ys = [], []
        for _ in range(CFG["up_batch"]):
            k = r.randrange(pool)
            lo = degraded[k] if r.random() < 0.75 else torch.from_numpy(los[k]).permute(2, 0, 1)
            H, W = lo.shape[1], lo.shape[2]
            y0, x0 = r.randrange(0, H - c + 1), r.randrange(0, W - c + 1)
            xs.append(lo[:, y0:y0 + c, x0:x0 + c])
            hi = torch.from_numpy(his[k][4 * y0:4 * (y0 + c), 4 * x0:4 * (x0 + c)]).permute(2, 0, 1)
            ys.append(hi)
        x = torch.stack(xs).contiguous()
        y = torch.stack(ys).contiguous()
        out = up(x)
        loss = (out - y).abs().mean() + grad_l1(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    final = stage.run(step, CFG["up_lr"])
    torch.save(up.state_dict(), path("upscaler.pt"))
    meta["upscaler"] = {"steps": stage.step, "minutes": (time.time() - t) / 60, "final_loss": final,
                        "params": count_params(up)}
    save_meta(meta)
    log(f"upscaler done: {stage.step} steps, loss {final:.4f}")


def main():
    torch.set_num_threads(2)
    os.makedirs(WORK, exist_ok=True)
    log(f"work dir {WORK}; sizes {SIZES}; calibrate={CALIBRATE}")
    meta = load_meta()
    meta["config"] = CFG
    meta["sizes"] = SIZES
    tok = stage_tokenizer()
    enc, dec = stage_autoencoder(meta)
    data = stage_latents(enc, meta)
    stage_unet(tok, data, meta)
    dec = stage_decoder_finetune(enc, dec, data, meta)
    stage_upscaler(enc, dec, meta)
    meta["total_minutes_this_run"] = (time.time() - T0) / 60
    save_meta(meta)
    log("training complete")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch side of `npm run bench:engine`: times the same UNet and VAE decoder weights in PyTorch (eager, CPU)
at the generation sizes the engine plans, and writes reference outputs for a parity check.

    torch_bench.py --model DIR --nets NETS.py --sizes 128x128,176x96 [--repeat 10] [--threads 2] [--parity-dir D]

NETS.py must define load_unet(model_dir) and load_vae_decoder(model_dir) returning torch modules holding the
weights of DIR's ONNX files. Prints one JSON object per size on stdout.
"""
import argparse
import importlib.util
import json
import os
import time

import torch


def load_nets(path):
    spec = importlib.util.spec_from_file_location("bench_nets", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timed(fn, repeat):
    fn()  # warm-up
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append((time.perf_counter() - t0) * 1000)
    best.sort()
    return best[len(best) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--nets", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parity-dir")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    nets = load_nets(a.nets)
    unet = nets.load_unet(a.model)
    vae = nets.load_vae_decoder(a.model)
    with open(os.path.join(a.model, "unet", "config.json")) as f:
        cfg = json.load(f)
    dim = cfg["cross_attention_dim"]
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for size in a.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            sample = torch.randn(2, 4, h // 8, w // 8, generator=g)
            hidden = torch.randn(2, 77, dim, generator=g)
            t = torch.tensor([500.0, 500.0])
            latent = torch.randn(1, 4, h // 8, w // 8, generator=g)
            unet_ms = timed(lambda: unet(sample, t, hidden), a.repeat)
            vae_ms = timed(lambda: vae(latent), a.repeat)
            if a.parity_dir:
                d = os.path.join(a.parity_dir, size)
                os.makedirs(d, exist_ok=True)
                for name, tensor in [("sample", sample), ("hidden", hidden), ("unet_out", unet(sample, t, hidden)),
                                     ("latent", latent), ("vae_out", vae(latent))]:
                    tensor.contiguous().numpy().astype("float32").tofile(os.path.join(d, name + ".f32"))
            print(json.dumps({"size": size, "unet_batch2_ms": unet_ms, "vae_ms": vae_ms}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Exports the trained tiny model (from .work/) to model/ in the diffusers/Optimum ONNX layout.

    /usr/bin/python3 export.py [out_dir=model/] [--unet .work/unet.pt]

Graphs are exported without constant folding (onnxruntime folds constants itself when it creates a
session), so every ONNX initializer keeps its PyTorch parameter name; nets.py relies on that."""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import shutil
import sys

import onnx
import torch

from common import MODEL_DIR, NATIVE, SIZES, WORK
from models import Decoder, TextEncoder, UNet, Upscaler

OPSET = 17
DEFAULT_STEPS = int(os.environ.get("TINY_STEPS", "30"))
DEFAULT_GUIDANCE = float(os.environ.get("TINY_GUIDANCE", "5.0"))
# What the model draws (imagegen.json "description"): prompt checks name it when a prompt is outside it.
DESCRIPTION = (
    "one to three simple shapes (circle, square, triangle, star, diamond, ring) in 12 colours, sizes and positions on a plain background"
)


def export(model, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(path))
    print(f"{os.path.relpath(path, OUT)}: {os.path.getsize(path) / 1e6:.2f} MB")


def dump(obj, *parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def load_models(work=WORK, ema=True, unet_file=None):
    st = torch.load(unet_file or os.path.join(work, "unet.pt"))
    te = TextEncoder(st["vocab_size"], st["eos"])
    unet = UNet()
    te.load_state_dict(st["te"] if ema else st["te_raw"])
    unet.load_state_dict(st["unet"] if ema else st["unet_raw"])
    ae = torch.load(os.path.join(work, "ae.pt"))
    dec = Decoder()
    dec.load_state_dict(ae["decoder"])
    if os.path.exists(os.path.join(work, "decoder_ft.pt")):
        dec.load_state_dict(torch.load(os.path.join(work, "decoder_ft.pt")))
    up = Upscaler()
    if os.path.exists(os.path.join(work, "upscaler.pt")):
        up.load_state_dict(torch.load(os.path.join(work, "upscaler.pt")))
    scaling = torch.load(os.path.join(work, "latents.pt"))["scaling_factor"]
    return te.eval(), unet.eval(), dec.eval(), up.eval(), scaling


OUT = MODEL_DIR


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", nargs="?", default=MODEL_DIR)
    ap.add_argument("--unet", default=None, help="text encoder + UNet weights (default .work/unet.pt)")
    a = ap.parse_args()
    OUT = os.path.abspath(a.out_dir)
    torch.set_num_threads(2)
    te, unet, dec, up, scaling = load_models(unet_file=a.unet)
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    shutil.copytree(os.path.join(WORK, "tokenizer"), os.path.join(OUT, "tokenizer"))

    dump({"_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.30.0",
          "text_encoder": ["diffusers", "OnnxRuntimeModel"], "unet": ["diffusers", "OnnxRuntimeModel"],
          "vae_decoder": ["diffusers", "OnnxRuntimeModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
          "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"], "safety_checker": [None, None],
          "feature_extractor": [None, None], "requires_safety_checker": False}, "model_index.json")
    dump({"_class_name": "EulerAncestralDiscreteScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
          "beta_end": 0.012, "num_train_timesteps": 1000, "prediction_type": "epsilon",
          "timestep_spacing": "trailing", "steps_offset": 0},
         "scheduler", "scheduler_config.json")
    dump({"sample_size": NATIVE // 8, "in_channels": 4, "out_channels": 4, "block_out_channels": [96, 160],
          "cross_attention_dim": 128, "layers_per_block": 1, "attention_head_dim": 4},
         "unet", "config.json")
    dump({"latent_channels": 4, "in_channels": 3, "out_channels": 3, "block_out_channels": [32, 64, 96, 128],
          "scaling_factor": round(float(scaling), 6), "sample_size": NATIVE}, "vae_decoder", "config.json")
    dump({"scale": 4, "tile": 128, "tile_pad": 8}, "upscaler", "config.json")
    dump({"default_steps": DEFAULT_STEPS, "default_guidance": DEFAULT_GUIDANCE, "description": DESCRIPTION}, "imagegen.json")

    ids = torch.full((2, 77), te.eos_id, dtype=torch.int64)
    ids[:, 0] = te.eos_id - 1  # BOS
    export(te, (ids,), os.path.join(OUT, "text_encoder", "model.onnx"), ["input_ids"], ["last_hidden_state"],
           {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}})
    n = NATIVE // 8
    export(unet, (torch.randn(2, 4, n, n), torch.tensor([999.0, 999.0]), torch.randn(2, 77, 128)),
           os.path.join(OUT, "unet", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
                            "encoder_hidden_states": {0: "batch"},
                            "out_sample": {0: "batch", 2: "height", 3: "width"}})
    export(dec, (torch.randn(1, 4, n, n),), os.path.join(OUT, "vae_decoder", "model.onnx"), ["latent_sample"],
           ["sample"], {"latent_sample": {0: "batch", 2: "height", 3: "width"},
                        "sample": {0: "batch", 2: "out_height", 3: "out_width"}})
    export(up, (torch.rand(1, 3, 32, 32),), os.path.join(OUT, "upscaler", "model.onnx"), ["image"],
           ["upscaled_image"], {"image": {2: "height", 3: "width"}, "upscaled_image": {2: "out_height", 3: "out_width"}})
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"total {total / 1e6:.2f} MB; generation sizes {SIZES}")
    if total > 25e6:
        sys.exit(f"{OUT} exceeds 25 MB")


if __name__ == "__main__":
    main()

"""Network definitions of the bundled model for the PyTorch side of `npm run bench:engine`: rebuilds the
UNet and VAE decoder of models.py and loads the weights back from the exported ONNX files (their
initializers carry the parameter names), so PyTorch and onnxruntime run the same weights."""
import os
import sys

import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import Decoder, UNet  # noqa: E402


def _load(module, path):
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(path).graph.initializer}
    state = module.state_dict()
    missing = [k for k in state if k not in weights or weights[k].shape != state[k].shape]
    if missing:
        raise SystemExit(f"{path}: no initializer for {len(missing)} parameters, e.g. {missing[:3]}")
    module.load_state_dict({k: weights[k] for k in state})
    return module.eval()


def load_unet(model_dir):
    return _load(UNet(), os.path.join(model_dir, "unet", "model.onnx"))


def load_vae_decoder(model_dir):
    return _load(Decoder(), os.path.join(model_dir, "vae_decoder", "model.onnx"))

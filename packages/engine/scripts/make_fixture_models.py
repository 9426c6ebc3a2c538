#!/usr/bin/env python3
"""Builds the engine's test fixtures: a tiny random-weight text-to-image model in the diffusers/Optimum
ONNX layout, I/O variants of its parts, a x4 super-resolution model and two image safety classifiers.

Run with Debian's torch (`/usr/bin/python3`, python3-torch + python3-onnx):

    /usr/bin/python3 packages/engine/scripts/make_fixture_models.py packages/engine/fixtures

Everything is seeded, so re-running rewrites the same models. Weights are random: the images mean
nothing, but every tensor contract a real export has is exercised.
"""
import json
import os
import sys
from collections import Counter

import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_nets import (LATENT_CH, TEXT_DIM, RedClassifier, SdSafetyChecker, TextEncoder,  # noqa: E402
                          TextEncoderXL, UNet, UNetXL, Upscaler, VaeDecoder)

OPSET = 17


# ---------------------------------------------------------------------------------------------------
# CLIP-format BPE vocabulary learned from a small corpus
# ---------------------------------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


CORPUS = (
    "a photo of a cat dog red blue green circle square triangle star on the left right top bottom "
    "an astronaut riding a horse in space painting of mountain landscape at sunset with lights "
    "two three small large yellow purple orange background"
).split()


def learn_bpe(words, merges_wanted):
    b2u = bytes_to_unicode()
    vocab_words = Counter()
    for w in words:
        symbols = [b2u[b] for b in w.encode("utf-8")]
        symbols[-1] = symbols[-1] + "</w>"
        vocab_words[tuple(symbols)] += 1
    merges = []
    for _ in range(merges_wanted):
        pairs = Counter()
        for word, freq in vocab_words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = Counter()
        for word, freq in vocab_words.items():
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        vocab_words = merged
    base = list(bytes_to_unicode().values())
    tokens = base + [t + "</w>" for t in base] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write_tokenizer(root, pad_token):
    vocab, merges = learn_bpe(CORPUS, 120)
    d = os.path.join(root, "tokenizer")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    special = {
        "bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "eos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "unk_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "pad_token": pad_token,
    }
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer",
                   "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token,
                   "unk_token": "<|endoftext|>"}, f, indent=2)
    return len(vocab)


# ---------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------
def export(model, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=OPSET,
                      # No folding: initializers keep the parameter names, so the PyTorch benchmark can load
                      # them back; onnxruntime folds constants itself when it opens the session.
                      do_constant_folding=False)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def to_fp16_io(src, dst, names):
    """Rewrites float32 graph inputs/outputs named in `names` to float16, with Cast nodes inside."""
    m = onnx.load(src)
    g = m.graph
    new_nodes = []
    for inp in g.input:
        if inp.name in names and inp.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = inp.name + "__f32"
            for node in g.node:
                for i, x in enumerate(node.input):
                    if x == inp.name:
                        node.input[i] = inner
            new_nodes.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT))
            inp.type.tensor_type.elem_type = TensorProto.FLOAT16
    for out in g.output:
        if out.name in names and out.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = out.name + "__f32"
            for node in g.node:
                for i, x in enumerate(node.output):
                    if x == out.name:
                        node.output[i] = inner
            g.node.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT16))
            out.type.tensor_type.elem_type = TensorProto.FLOAT16
    for i, n in enumerate(new_nodes):
        g.node.insert(i, n)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def main(out):
    torch.manual_seed(1234)
    root = os.path.join(out, "tiny-random")
    vocab_size = write_tokenizer(root, "<|endoftext|>")
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump({"_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.30.0",
                   "text_encoder": ["diffusers", "OnnxRuntimeModel"], "unet": ["diffusers", "OnnxRuntimeModel"],
                   "vae_decoder": ["diffusers", "OnnxRuntimeModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                   "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"], "safety_checker": [None, None],
                   "feature_extractor": [None, None], "requires_safety_checker": False}, f, indent=2)
    os.makedirs(os.path.join(root, "scheduler"), exist_ok=True)
    with open(os.path.join(root, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "EulerAncestralDiscreteScheduler", "beta_schedule": "scaled_linear",
                   "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "timestep_spacing": "trailing", "steps_offset": 1}, f, indent=2)
    os.makedirs(os.path.join(root, "unet"), exist_ok=True)
    with open(os.path.join(root, "unet", "config.json"), "w") as f:
        json.dump({"sample_size": 16, "in_channels": 4, "out_channels": 4, "block_out_channels": [16, 32],
                   "cross_attention_dim": TEXT_DIM}, f, indent=2)
    os.makedirs(os.path.join(root, "vae_decoder"), exist_ok=True)
    with open(os.path.join(root, "vae_decoder", "config.json"), "w") as f:
        json.dump({"latent_channels": 4, "block_out_channels": [16, 16, 16, 16], "scaling_factor": 0.18215}, f, indent=2)
    with open(os.path.join(root, "imagegen.json"), "w") as f:
        json.dump({"default_steps": 4, "default_guidance": 3.0}, f, indent=2)

    ids = torch.zeros(2, 77, dtype=torch.int64)
    enc = TextEncoder(vocab_size).eval()
    export(enc, (ids,), os.path.join(root, "text_encoder", "model.onnx"), ["input_ids"],
           ["last_hidden_state", "pooler_output"], {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"},
                                                     "pooler_output": {0: "batch"}})
    sample = torch.randn(2, LATENT_CH, 16, 16)
    ehs = torch.randn(2, 77, TEXT_DIM)
    unet_axes = {"sample": {0: "batch", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch"},
                 "out_sample": {0: "batch", 2: "height", 3: "width"}}
    unet = UNet("float_batch").eval()
    export(unet, (sample, torch.tensor([999.0, 999.0]), ehs), os.path.join(root, "unet", "model.onnx"),
           ["sample", "timestep", "encoder_hidden_states"], ["out_sample"], {**unet_axes, "timestep": {0: "batch"}})
    export(VaeDecoder().eval(), (torch.randn(1, LATENT_CH, 16, 16),), os.path.join(root, "vae_decoder", "model.onnx"),
           ["latent_sample"], ["sample"], {"latent_sample": {0: "batch", 2: "h", 3: "w"}, "sample": {0: "batch", 2: "H", 3: "W"}})
    export(Upscaler().eval(), (torch.rand(1, 3, 32, 32),), os.path.join(root, "upscaler", "model.onnx"),
           ["image"], ["upscaled_image"], {"image": {2: "h", 3: "w"}, "upscaled_image": {2: "H", 3: "W"}})
    with open(os.path.join(root, "upscaler", "config.json"), "w") as f:
        json.dump({"scale": 4, "tile": 64, "tile_pad": 8}, f, indent=2)

    # I/O variants exporters produce, each a drop-in replacement for a file of tiny-random.
    var = os.path.join(out, "variants")
    torch.manual_seed(99)
    export(UNet("int").eval(), (sample, torch.tensor([999, 999], dtype=torch.int64), ehs),
           os.path.join(var, "unet-int64-timestep", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], {**unet_axes, "timestep": {0: "batch"}})
    export(UNet("scalar").eval(), (sample, torch.tensor(999.0), ehs),
           os.path.join(var, "unet-scalar-timestep", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], unet_axes)
    export(UNet("float_batch", cond_dim=8).eval(), (sample, torch.tensor([999.0, 999.0]), ehs, torch.randn(2, 8)),
           os.path.join(var, "unet-lcm-timestep-cond", "model.onnx"),
           ["sample", "timestep", "encoder_hidden_states", "timestep_cond"], ["out_sample"],
           {**unet_axes, "timestep": {0: "batch"}, "timestep_cond": {0: "batch"}})
    os.makedirs(os.path.join(var, "unet-fp16-io"), exist_ok=True)
    to_fp16_io(os.path.join(root, "unet", "model.onnx"), os.path.join(var, "unet-fp16-io", "model.onnx"),
               {"sample", "timestep", "encoder_hidden_states", "out_sample"})
    export(enc, (ids.int(),), os.path.join(var, "text-encoder-int32", "model.onnx"), ["input_ids"],
           ["last_hidden_state", "pooler_output"], {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"},
                                                     "pooler_output": {0: "batch"}})
    export(UNet("float_batch").eval(), (sample[:1], torch.tensor([999.0]), ehs[:1]),
           os.path.join(var, "unet-static-batch1", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], {"sample": {2: "height", 3: "width"}, "out_sample": {2: "height", 3: "width"}})

    write_xl(out, os.path.join(root, "vae_decoder"))

    # Image safety classifiers.
    export(RedClassifier().eval(), (torch.rand(1, 3, 32, 32),), os.path.join(out, "safety-generic", "model.onnx"),
           ["pixel_values"], ["logits"], {"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    with open(os.path.join(out, "safety-generic", "config.json"), "w") as f:
        json.dump({"kind": "classifier", "input_size": [32, 32], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                   "labels": ["normal", "nsfw"], "activation": "softmax",
                   "thresholds": {"nsfw": [0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97]}}, f, indent=2)
    export(SdSafetyChecker().eval(), (torch.rand(1, 3, 224, 224), torch.rand(1, 64, 64, 3)),
           os.path.join(out, "safety-sd", "model.onnx"), ["clip_input", "images"], ["out_images", "has_nsfw_concepts"],
           {"clip_input": {0: "batch"}, "images": {0: "batch", 1: "height", 2: "width"},
            "out_images": {0: "batch", 1: "height", 2: "width"}, "has_nsfw_concepts": {0: "batch"}})
    for d, _, files in os.walk(out):
        for name in files:
            if name.endswith(".onnx"):
                p = os.path.join(d, name)
                print(f"{os.path.relpath(p, out)}: {os.path.getsize(p)} bytes")


def write_xl(out, vae_dir):
    """A two-encoder (SDXL / SDXL-Turbo style) model: tokenizer_2 pads with "!", text_encoder_2 has a
    projection, the UNet takes text_embeds and time_ids."""
    import shutil

    torch.manual_seed(4321)
    root = os.path.join(out, "tiny-random-xl")
    vocab_size = write_tokenizer(root, "<|endoftext|>")
    write_tokenizer(os.path.join(root, "_t2"), "!")
    shutil.rmtree(os.path.join(root, "tokenizer_2"), ignore_errors=True)
    os.replace(os.path.join(root, "_t2", "tokenizer"), os.path.join(root, "tokenizer_2"))
    os.rmdir(os.path.join(root, "_t2"))
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump({"_class_name": "ORTStableDiffusionXLPipeline", "force_zeros_for_empty_prompt": True,
                   "text_encoder": ["transformers", "CLIPTextModel"],
                   "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]}, f, indent=2)
    os.makedirs(os.path.join(root, "scheduler"), exist_ok=True)
    with open(os.path.join(root, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "EulerAncestralDiscreteScheduler", "beta_schedule": "scaled_linear",
                   "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "timestep_spacing": "trailing", "steps_offset": 1}, f, indent=2)
    d1, d2, pooled = 32, 48, 24
    os.makedirs(os.path.join(root, "unet"), exist_ok=True)
    with open(os.path.join(root, "unet", "config.json"), "w") as f:
        json.dump({"sample_size": 16, "block_out_channels": [16, 32], "cross_attention_dim": d1 + d2,
                   "addition_embed_type": "text_time", "projection_class_embeddings_input_dim": pooled + 6}, f, indent=2)
    os.makedirs(os.path.join(root, "vae_decoder"), exist_ok=True)
    shutil.copy(os.path.join(vae_dir, "model.onnx"), os.path.join(root, "vae_decoder", "model.onnx"))
    with open(os.path.join(root, "vae_decoder", "config.json"), "w") as f:
        json.dump({"latent_channels": 4, "block_out_channels": [16, 16, 16, 16], "scaling_factor": 0.13025}, f, indent=2)
    ids = torch.zeros(2, 77, dtype=torch.int64)
    states = ["hidden_states.0", "hidden_states.1", "hidden_states.2"]
    axes = {n: {0: "batch"} for n in ["input_ids", "last_hidden_state", "pooler_output", "text_embeds", *states]}
    export(TextEncoderXL(vocab_size, d1).eval(), (ids,), os.path.join(root, "text_encoder", "model.onnx"),
           ["input_ids"], ["pooler_output", "last_hidden_state", *states], axes)
    export(TextEncoderXL(vocab_size, d2, pooled).eval(), (ids,), os.path.join(root, "text_encoder_2", "model.onnx"),
           ["input_ids"], ["text_embeds", "last_hidden_state", *states], axes)
    export(UNetXL(d1 + d2, pooled).eval(),
           (torch.randn(2, LATENT_CH, 16, 16), torch.tensor([999.0, 999.0]), torch.randn(2, 77, d1 + d2),
            torch.randn(2, pooled), torch.randn(2, 6)),
           os.path.join(root, "unet", "model.onnx"),
           ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], ["out_sample"],
           {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
            "encoder_hidden_states": {0: "batch"}, "text_embeds": {0: "batch"}, "time_ids": {0: "batch"},
            "out_sample": {0: "batch", 2: "height", 3: "width"}})


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")

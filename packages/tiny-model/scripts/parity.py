#!/usr/bin/env python3
"""Checks that the exported ONNX files compute what the PyTorch models compute (via onnxruntime-node).
Usage: python3 scripts/parity.py [modelDir]   (weights from $TINY_WORK or .work/)"""
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, HERE)
from common import MODEL_DIR, WORK  # noqa: E402
from export import load_models  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

JS = r"""
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
const [dir, inp, outp] = process.argv.slice(2);
const c = JSON.parse(readFileSync(inp, 'utf8'));
const s = async (p) => ort.InferenceSession.create(dir + '/' + p);
const te = await s('text_encoder/model.onnx'), un = await s('unet/model.onnx'), va = await s('vae_decoder/model.onnx'), up = await s('upscaler/model.onnx');
const f = (a, d) => new ort.Tensor('float32', Float32Array.from(a), d);
const r = {};
r.te = Array.from((await te.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(c.ids.map(BigInt)), [2, 77]) })).last_hidden_state.data);
r.unet = Array.from((await un.run({ sample: f(c.x, c.xd), timestep: f(c.t, [2]), encoder_hidden_states: f(r.te, [2, 77, c.D]) })).out_sample.data);
r.vae = Array.from((await va.run({ latent_sample: f(c.z, c.zd) })).sample.data);
r.up = Array.from((await up.run({ image: f(c.img, c.imgd) })).upscaled_image.data);
writeFileSync(outp, JSON.stringify(r));
"""


def main(model_dir):
    te, unet, dec, up, _ = load_models(WORK)
    tok = Tokenizer.load(os.path.join(model_dir, "tokenizer"))
    ids = torch.tensor([tok.encode(""), tok.encode("two small blue stars on a yellow background")])
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 14)
    t = torch.tensor([999.0, 410.5])
    z = torch.randn(1, 4, 6, 10)
    img = torch.rand(1, 3, 40, 24)
    with torch.no_grad():
        ctx = te(ids)
        ref = {"te": ctx, "unet": unet(x, t, ctx), "vae": dec(z), "up": up(img)}
    d = tempfile.mkdtemp()
    json.dump({"ids": ids.flatten().tolist(), "x": x.flatten().tolist(), "xd": list(x.shape), "t": t.tolist(),
               "D": ctx.shape[2], "z": z.flatten().tolist(), "zd": list(z.shape), "img": img.flatten().tolist(),
               "imgd": list(img.shape)}, open(os.path.join(d, "in.json"), "w"))
    js = os.path.join(HERE, "scripts", ".parity.mjs")
    open(js, "w").write(JS)
    try:
        subprocess.run(["node", js, model_dir, os.path.join(d, "in.json"), os.path.join(d, "out.json")], check=True,
                       cwd=HERE)
    finally:
        os.remove(js)
    got = json.load(open(os.path.join(d, "out.json")))
    ok = True
    for k, v in ref.items():
        err = (torch.tensor(got[k]) - v.flatten()).abs().max().item()
        print(f"{k}: max abs diff {err:.2e} (ref mean |x| {v.abs().mean().item():.3f})")
        ok &= err < 1e-3
    print("parity OK" if ok else "PARITY FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else MODEL_DIR)

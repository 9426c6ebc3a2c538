"""Network definitions of the engine's random-weight fixture model, shared by the fixture builder and the
PyTorch side of `npm run bench:engine` (which loads the ONNX initializers back into these modules)."""
import torch
from torch import nn

TEXT_DIM = 32
LATENT_CH = 4


class TextEncoder(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, TEXT_DIM)
        self.pos = nn.Parameter(torch.randn(77, TEXT_DIM) * 0.02)
        self.attn = nn.MultiheadAttention(TEXT_DIM, 2, batch_first=True)
        self.norm1 = nn.LayerNorm(TEXT_DIM)
        self.mlp = nn.Sequential(nn.Linear(TEXT_DIM, 64), nn.GELU(), nn.Linear(64, TEXT_DIM))
        self.norm2 = nn.LayerNorm(TEXT_DIM)
        self.final = nn.LayerNorm(TEXT_DIM)

    def forward(self, input_ids):
        x = self.tok(input_ids.long()) + self.pos
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.norm2(x))
        x = self.final(x)
        return x, x[:, 0]


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-torch.arange(half, dtype=torch.float32) * (9.210340371976184 / half))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class UNet(nn.Module):
    """Two-level UNet with cross-attention at the low resolution; input H, W must be even."""

    def __init__(self, timestep_mode="float_batch", cond_dim=0):
        super().__init__()
        self.timestep_mode = timestep_mode
        self.cond_dim = cond_dim
        self.conv_in = nn.Conv2d(LATENT_CH, 16, 3, padding=1)
        self.temb = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 32))
        if cond_dim:
            self.cond_proj = nn.Linear(cond_dim, 32)
        self.t1 = nn.Linear(32, 16)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.t2 = nn.Linear(32, 32)
        self.q = nn.Conv2d(32, 32, 1)
        self.k = nn.Linear(TEXT_DIM, 32)
        self.v = nn.Linear(TEXT_DIM, 32)
        self.o = nn.Conv2d(32, 32, 1)
        self.up = nn.Conv2d(32, 16, 3, padding=1)
        self.conv_out = nn.Conv2d(32, LATENT_CH, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None):
        b = sample.shape[0]
        t = timestep.reshape(-1).expand(b) if self.timestep_mode == "scalar" else timestep
        e = self.temb(timestep_embedding(t, 16))
        if self.cond_dim:
            e = e + self.cond_proj(timestep_cond)
        h1 = torch.nn.functional.silu(self.conv_in(sample) + self.t1(e)[:, :, None, None])
        h2 = torch.nn.functional.silu(self.down(h1) + self.t2(e)[:, :, None, None])
        q = self.q(h2).flatten(2).transpose(1, 2)  # B, HW, C
        k = self.k(encoder_hidden_states)
        v = self.v(encoder_hidden_states)
        a = torch.softmax(q @ k.transpose(1, 2) / 32**0.5, dim=-1) @ v
        h2 = h2 + self.o(a.transpose(1, 2).reshape(h2.shape))
        u = torch.nn.functional.interpolate(h2, scale_factor=2.0, mode="nearest")
        u = torch.cat([self.up(u), h1], dim=1)
        return self.conv_out(u)


class VaeDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT_CH, 16, 3, padding=1)
        self.ups = nn.ModuleList([nn.Conv2d(16, 16, 3, padding=1) for _ in range(3)])
        self.conv_out = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, latent_sample):
        h = torch.nn.functional.silu(self.conv_in(latent_sample))
        for conv in self.ups:
            h = torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
            h = torch.nn.functional.silu(conv(h))
        return torch.tanh(self.conv_out(h) * 2.0)


class Upscaler(nn.Module):
    """x4 super-resolution in the Real-ESRGAN convention: RGB in [0,1] NCHW → RGB in [0,1] at 4×."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 3 * 16, 3, padding=1)
        self.shuffle = nn.PixelShuffle(4)

    def forward(self, image):
        base = torch.nn.functional.interpolate(image, scale_factor=4.0, mode="nearest")
        return torch.clamp(base + 0.05 * torch.tanh(self.shuffle(self.body(image))), 0.0, 1.0)


class RedClassifier(nn.Module):
    """Generic image classifier fixture: logits [normal, nsfw]; 'nsfw' grows with (red − green)."""

    def forward(self, pixel_values):
        m = pixel_values.mean(dim=(2, 3))
        score = (m[:, 0] - m[:, 1]) * 8.0
        return torch.stack([torch.zeros_like(score), score], dim=1)


class SdSafetyChecker(nn.Module):
    """Stable Diffusion safety_checker I/O: flags images whose CLIP input is mostly red; zeroes them."""

    def forward(self, clip_input, images):
        m = clip_input.mean(dim=(2, 3))
        flagged = (m[:, 0] - m[:, 1]) > 1.0
        keep = (~flagged).float()[:, None, None, None]
        return images * keep, flagged


def _load_from_onnx(module, path):
    """Copies the ONNX initializers (exported without constant folding, so named like the parameters)."""
    import onnx
    from onnx import numpy_helper

    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(path).graph.initializer}
    state = module.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise SystemExit(f"{path}: no initializer for {missing[:3]}")
    module.load_state_dict({k: weights[k] for k in state})
    return module.eval()


def load_unet(model_dir):
    import os
    return _load_from_onnx(UNet("float_batch"), os.path.join(model_dir, "unet", "model.onnx"))


def load_vae_decoder(model_dir):
    import os
    return _load_from_onnx(VaeDecoder(), os.path.join(model_dir, "vae_decoder", "model.onnx"))


class TextEncoderXL(nn.Module):
    """Two-layer CLIP-like encoder exporting every hidden state, as Optimum does for SDXL's encoders.
    With `proj`, it is CLIPTextModelWithProjection (text_embeds = projection of the EOS token)."""

    def __init__(self, vocab_size, dim, proj=0):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(77, dim) * 0.02)
        self.layers = nn.ModuleList([nn.TransformerEncoderLayer(dim, 2, dim * 2, batch_first=True, norm_first=True)
                                     for _ in range(2)])
        self.final = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, proj, bias=False) if proj else None

    def forward(self, input_ids):
        x = self.tok(input_ids.long()) + self.pos
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        last = self.final(x)
        eos = last[torch.arange(last.shape[0]), input_ids.long().argmax(dim=-1)]
        head = self.proj(eos) if self.proj is not None else eos
        return (head, last, *states)


class UNetXL(UNet):
    """The fixture UNet plus SDXL's added conditioning: pooled text embeddings and the six time ids."""

    def __init__(self, hidden_dim, pooled_dim):
        super().__init__("float_batch")
        self.k = nn.Linear(hidden_dim, 32)
        self.v = nn.Linear(hidden_dim, 32)
        self.add_text = nn.Linear(pooled_dim, 32)
        self.add_time = nn.Linear(6, 32)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        b = sample.shape[0]
        e = self.temb(timestep_embedding(timestep, 16)) + self.add_text(text_embeds) + self.add_time(time_ids / 1000.0)
        h1 = torch.nn.functional.silu(self.conv_in(sample) + self.t1(e)[:, :, None, None])
        h2 = torch.nn.functional.silu(self.down(h1) + self.t2(e)[:, :, None, None])
        q = self.q(h2).flatten(2).transpose(1, 2)
        k = self.k(encoder_hidden_states)
        v = self.v(encoder_hidden_states)
        a = torch.softmax(q @ k.transpose(1, 2) / 32**0.5, dim=-1) @ v
        h2 = h2 + self.o(a.transpose(1, 2).reshape(h2.shape))
        u = torch.nn.functional.interpolate(h2, scale_factor=2.0, mode="nearest")
        return self.conv_out(torch.cat([self.up(u), h1], dim=1)) + 0 * b

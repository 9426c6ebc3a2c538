"""Networks of the tiny model. Per-token linear layers are 1x1 convolutions (Debian's torch runs
nn.Linear/matmul through slow reference BLAS; oneDNN convolutions are ~50x faster)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

MAX_LEN = 77


def gn(c):
    return nn.GroupNorm(8 if c % 8 == 0 else 4, c, eps=1e-5)


class ChannelLN(nn.Module):
    """LayerNorm over the channel dim of a [B, C, L, 1] tensor."""

    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, c, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x):
        m = x.mean(dim=1, keepdim=True)
        v = ((x - m) ** 2).mean(dim=1, keepdim=True)
        return (x - m) / torch.sqrt(v + 1e-5) * self.w + self.b


def attention(q, k, v, heads, extra_null=0):
    """q [B,C,N], k,v [B,C,M] -> [B,C,N]. extra_null>0 adds that many all-zero key/value slots (logit 0):
    the training-time shortcut for the zeroed padding positions of a 77-token context."""
    B, C, N = q.shape
    M = k.shape[2]
    dh = C // heads
    q = q.reshape(B * heads, dh, N).transpose(1, 2)  # BH, N, dh
    k = k.reshape(B * heads, dh, M)  # BH, dh, M
    v = v.reshape(B * heads, dh, M).transpose(1, 2)  # BH, M, dh
    logits = torch.bmm(q, k) * (1.0 / math.sqrt(dh))  # BH, N, M
    if extra_null:
        nul = torch.full_like(logits[:, :, :1], math.log(extra_null))
        logits = torch.cat([logits, nul], dim=2)
        w = torch.softmax(logits, dim=2)[:, :, :M]
    else:
        w = torch.softmax(logits, dim=2)
    out = torch.bmm(w, v)  # BH, N, dh
    return out.transpose(1, 2).reshape(B, C, N)


# ---------------------------------------------------------------------------------------------------
# Text encoder
# ---------------------------------------------------------------------------------------------------
class TextBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = ChannelLN(d)
        self.qkv = nn.Conv2d(d, 3 * d, 1)
        self.o = nn.Conv2d(d, d, 1)
        self.ln2 = ChannelLN(d)
        self.fc1 = nn.Conv2d(d, 4 * d, 1)
        self.fc2 = nn.Conv2d(4 * d, d, 1)

    def forward(self, x, mask):
        B, D, L, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(B, 3, D, L).unbind(1)
        dh = D // self.heads
        qh = q.reshape(B * self.heads, dh, L).transpose(1, 2)
        logits = torch.bmm(qh, k.reshape(B * self.heads, dh, L)) * (1.0 / math.sqrt(dh)) + mask
        a = torch.bmm(torch.softmax(logits, dim=2), v.reshape(B * self.heads, dh, L).transpose(1, 2))
        x = x + self.o(a.transpose(1, 2).reshape(B, D, L, 1))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TextEncoder(nn.Module):
    """Causal transformer (like CLIP's). Positions after the first EOS are zeroed in the output, so a
    caption's states never depend on the sequence length (training runs on shortened sequences)."""

    def __init__(self, vocab_size, eos_id, d=128, layers=2, heads=4):
        super().__init__()
        self.eos_id = eos_id
        self.tok = nn.Embedding(vocab_size, d)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, d) * 0.02)
        self.blocks = nn.ModuleList([TextBlock(d, heads) for _ in range(layers)])
        self.ln = ChannelLN(d)
        nn.init.normal_(self.tok.weight, std=0.02)

    def forward(self, input_ids):
        ids = input_ids.long()
        L = ids.shape[1]
        x = (self.tok(ids) + self.pos[:L]).transpose(1, 2).unsqueeze(3)  # B, D, L, 1
        mask = torch.triu(torch.full((L, L), -1e4), diagonal=1)
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln(x).squeeze(3).transpose(1, 2)  # B, L, D
        is_eos = (ids == self.eos_id).float()
        keep = ((torch.cumsum(is_eos, dim=1) - is_eos) < 0.5).float()
        return x * keep.unsqueeze(2)


# ---------------------------------------------------------------------------------------------------
# UNet
# ---------------------------------------------------------------------------------------------------
def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=0):
        super().__init__()
        self.n1 = gn(cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, 2 * cout) if temb else None
        self.n2 = gn(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x, e=None):
        h = self.c1(F.silu(self.n1(x)))
        h = self.n2(h)
        if self.t is not None:
            s, b = self.t(e).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
            h = h * (1 + s) + b
        h = self.c2(F.silu(h))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    """Optional self-attention, cross-attention over the text states, then a 1x1-conv MLP."""

    def __init__(self, c, ctx_dim, heads, self_attn=False):
        super().__init__()
        self.heads = heads
        self.self_attn = self_attn
        if self_attn:
            self.ns = gn(c)
            self.qkv = nn.Conv2d(c, 3 * c, 1)
            self.os = nn.Conv2d(c, c, 1)
            nn.init.zeros_(self.os.weight)
        self.nx = gn(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(ctx_dim, c, 1, bias=False)
        self.v = nn.Conv2d(ctx_dim, c, 1, bias=False)
        self.ox = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.ox.weight)
        self.nm = gn(c)
        self.m1 = nn.Conv2d(c, 2 * c, 1)
        self.m2 = nn.Conv2d(2 * c, c, 1)
        nn.init.zeros_(self.m2.weight)

    def forward(self, x, ctx, extra_null):
        B, C, H, W = x.shape
        if self.self_attn:
            q, k, v = self.qkv(self.ns(x)).reshape(B, 3, C, H * W).unbind(1)
            x = x + self.os(attention(q, k, v, self.heads).reshape(B, C, H, W))
        q = self.q(self.nx(x)).reshape(B, C, H * W)
        k = self.k(ctx).flatten(2)
        v = self.v(ctx).flatten(2)
        x = x + self.ox(attention(q, k, v, self.heads, extra_null).reshape(B, C, H, W))
        return x + self.m2(F.gelu(self.m1(self.nm(x))))


class UNet(nn.Module):
    """Two resolution levels (latent h,w must be even): c0 at full latent size, c1 at half size."""

    def __init__(self, ctx_dim=128, c0=96, c1=160, heads=4, tdim=256):
        super().__init__()
        self.tdim = tdim
        self.temb = nn.Sequential(nn.Linear(128, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(4, c0, 3, padding=1)
        self.d0 = ResBlock(c0, c0, tdim)
        self.a0 = AttnBlock(c0, ctx_dim, heads)
        self.down = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.d1 = ResBlock(c0, c1, tdim)
        self.a1 = AttnBlock(c1, ctx_dim, heads)
        self.m1 = ResBlock(c1, c1, tdim)
        self.am = AttnBlock(c1, ctx_dim, heads, self_attn=True)
        self.u1 = ResBlock(2 * c1, c1, tdim)
        self.ua1 = AttnBlock(c1, ctx_dim, heads)
        self.up = nn.Conv2d(c1, c0, 3, padding=1)
        self.u0 = ResBlock(2 * c0, c0, tdim)
        self.ua0 = AttnBlock(c0, ctx_dim, heads)
        self.u0b = ResBlock(c0, c0, tdim)
        self.n_out = gn(c0)
        self.conv_out = nn.Conv2d(c0, 4, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, encoder_hidden_states, extra_null=0):
        e = F.silu(self.temb(timestep_embedding(timestep, 128)))
        ctx = encoder_hidden_states.transpose(1, 2).unsqueeze(3)  # B, D, L, 1
        h0 = self.conv_in(sample)
        h0 = self.a0(self.d0(h0, e), ctx, extra_null)
        h1 = self.a1(self.d1(self.down(h0), e), ctx, extra_null)
        m = self.am(self.m1(h1, e), ctx, extra_null)
        u = self.ua1(self.u1(torch.cat([m, h1], dim=1), e), ctx, extra_null)
        u = self.up(F.interpolate(u, scale_factor=2.0, mode="nearest"))
        u = self.u0b(self.ua0(self.u0(torch.cat([u, h0], dim=1), e), ctx, extra_null), e)
        return self.conv_out(F.silu(self.n_out(u)))


# ---------------------------------------------------------------------------------------------------
# Autoencoder (KL, factor 8, 4 latent channels)
# ---------------------------------------------------------------------------------------------------
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, 48, 3, padding=1), ResBlock(48, 48),
            nn.Conv2d(48, 96, 3, stride=2, padding=1), ResBlock(96, 96),
            nn.Conv2d(96, 128, 3, stride=2, padding=1), ResBlock(128, 128),
            gn(128), nn.SiLU(), nn.Conv2d(128, 8, 3, padding=1))

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, torch.clamp(logvar, -20.0, 4.0)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(4, 128, 3, padding=1)
        self.r8 = ResBlock(128, 128)
        self.up16 = nn.Conv2d(128, 96, 3, padding=1)
        self.r16 = ResBlock(96, 96)
        self.up32 = nn.Conv2d(96, 4 * 64, 3, padding=1)
        self.r32a = ResBlock(64, 64)
        self.r32b = ResBlock(64, 64)
        self.up64 = nn.Conv2d(64, 4 * 32, 3, padding=1)
        self.c64 = nn.Conv2d(32, 32, 3, padding=1)
        self.out = nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, latent_sample):
        h = self.r8(self.conv_in(latent_sample))
        h = self.r16(self.up16(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        h = self.r32b(self.r32a(F.pixel_shuffle(self.up32(h), 2)))
        h = F.pixel_shuffle(self.up64(F.silu(h)), 2)
        h = self.c64(F.silu(h))
        return self.out(F.silu(h))


# ---------------------------------------------------------------------------------------------------
# x4 super-resolution (Real-ESRGAN convention: RGB [0,1] in and out)
# ---------------------------------------------------------------------------------------------------
class Upscaler(nn.Module):
    def __init__(self, c=32, blocks=4):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.ModuleList([nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.1),
                                                 nn.Conv2d(c, c, 3, padding=1)) for _ in range(blocks)])
        self.up1 = nn.Conv2d(c, 4 * 16, 3, padding=1)
        self.up2 = nn.Conv2d(16, 4 * 16, 3, padding=1)
        self.out = nn.Conv2d(16, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, image):
        h = self.head(image)
        for b in self.body:
            h = h + b(h)
        h = F.leaky_relu(F.pixel_shuffle(self.up1(h), 2), 0.1)
        h = F.leaky_relu(F.pixel_shuffle(self.up2(h), 2), 0.1)
        base = F.interpolate(image, scale_factor=4.0, mode="bilinear", align_corners=False)
        return torch.clamp(base + self.out(h), 0.0, 1.0)


def count_params(m):
    return sum(p.numel() for p in m.parameters())

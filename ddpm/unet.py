"""A class-conditional U-Net for ε / x_0 / v prediction (Ho et al. 2020 appendix B, with the label
embedding of classifier-free guidance added to the time embedding).

x: (B, C, H, W); t: (B,) long in [0, T); y: (B,) long in [0, num_classes] where the value
num_classes is the "null" label used for unconditional passes, or None for an unconditional model.
The output is (B, C, H, W), or (B, 2C, H, W) = [model output, v] with learn_sigma (Nichol & Dhariwal 2021: v sets
the reverse variance, `ddpm.coefficients.learned_range_log_variance`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .messages import MessageError


@dataclass(frozen=True)
class UNetConfig:
    image_size: int = 16                  # H = W of the images the model sees
    in_channels: int = 1                  # 1 for grey, 3 for RGB
    base_channels: int = 32               # channels at the highest resolution
    channel_mult: tuple = (1, 2, 2)       # channels per level = base · mult; one downsample between levels
    num_res_blocks: int = 1               # residual blocks per level
    attention_resolutions: tuple = (8,)   # feature-map sizes that get self-attention
    num_heads: int = 4                    # attention heads
    dropout: float = 0.0                  # dropout inside residual blocks
    num_classes: int = 0                  # 0 = unconditional; else labels 0..n-1 plus null label n
    groups: int = 8                       # GroupNorm groups
    learn_sigma: bool = False             # also output v (2C channels): the learned reverse variance (Improved DDPM)

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        object.__setattr__(self, "attention_resolutions", tuple(int(r) for r in self.attention_resolutions))
        for name in ("in_channels", "base_channels", "num_res_blocks", "num_heads", "groups"):
            if getattr(self, name) < 1:
                raise MessageError("unet.at_least_one", name=name, value=getattr(self, name))
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise MessageError("unet.channel_mult", value=self.channel_mult)
        if self.image_size < 4:
            raise MessageError("unet.image_size", size=self.image_size)
        down = 2 ** (len(self.channel_mult) - 1)
        if self.image_size % down:
            raise MessageError("unet.divisible", size=self.image_size, down=down, mult=self.channel_mult)
        for m in self.channel_mult:
            c = self.base_channels * m
            if c % self.groups:
                raise MessageError("unet.groups", c=c, groups=self.groups)
            heads = attention_heads(c, self.num_heads)
            if c % heads:  # otherwise the attention reshape fails at the first forward pass
                raise MessageError("unet.heads", c=c, heads=heads, num_heads=self.num_heads)
        if not 0.0 <= self.dropout < 1.0:
            raise MessageError("unet.dropout", value=self.dropout)
        if self.num_classes < 0:
            raise MessageError("unet.num_classes", value=self.num_classes)
        if not isinstance(self.learn_sigma, bool):
            raise MessageError("unet.learn_sigma", value=self.learn_sigma)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def out_channels(self) -> int:
        """C, or 2C when the network also outputs the variance interpolation v."""
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def has_null_class(self) -> bool:
        """Our conditional U-Net always has the extra null label (index num_classes) for guidance."""
        return self.conditional

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        if not self.learn_sigma:   # a fixed-variance model's config reads exactly as before the option existed
            del d["learn_sigma"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        return cls(**d)


# Presets after seed 001's Tiny / Small / Base / Large table; "tiny" trains usefully on 2 CPU cores.
PRESETS: dict[str, dict] = {
    "tiny": dict(base_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attention_resolutions=(4,)),
    "small": dict(base_channels=64, channel_mult=(1, 2, 2), num_res_blocks=2, attention_resolutions=(8,)),
    "base": dict(base_channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=2, attention_resolutions=(16,)),
    "large": dict(base_channels=192, channel_mult=(1, 2, 3, 4), num_res_blocks=3, attention_resolutions=(16, 8)),
}


def preset_config(name: str, **overrides) -> UNetConfig:
    if name not in PRESETS:
        raise MessageError("choice.unknown", kind="preset", value=name, choices=sorted(PRESETS))
    kw = dict(PRESETS[name])
    kw.update(overrides)
    return UNetConfig(**kw)


def preset_name(unet_config) -> str:
    """The size preset this architecture matches ("tiny", ...) or "custom"."""
    keys = ("base_channels", "channel_mult", "num_res_blocks", "attention_resolutions")
    for name, p in PRESETS.items():
        if all(tuple(p[k]) == tuple(getattr(unet_config, k)) if isinstance(p[k], (tuple, list))
               else p[k] == getattr(unet_config, k) for k in keys):
            return name
    return "custom"


def attention_heads(channels: int, num_heads: int) -> int:
    """Heads actually used at `channels`: at most num_heads, and at least 8 channels per head."""
    return max(1, min(num_heads, channels // 8))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:  # (B, dim)
    """Sinusoidal embedding (Vaswani et al.): [cos(t·ω_i), sin(t·ω_i)], ω_i = max_period^(−i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, + time(+label) embedding, GroupNorm → SiLU → dropout → conv, + skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)   # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions, residual."""

    def __init__(self, channels: int, num_heads: int, groups: int):
        super().__init__()
        self.num_heads = attention_heads(channels, num_heads)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.num_heads, C // self.num_heads, H * W)
        q, k, v = qkv.permute(1, 0, 2, 4, 3).contiguous().unbind(0)     # each (B, nh, HW, hs); contiguous = fast CPU kernel
        h = F.scaled_dot_product_attention(q, k, v)                      # (B, nh, HW, hs)
        h = h.permute(0, 1, 3, 2).reshape(B, C, H, W)
        return x + self.proj(h)


class Level(nn.Module):
    def __init__(self, blocks: list, attns: list):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList(attns)


class UNet(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = cfg = config
        ch = cfg.base_channels
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # one extra row: index num_classes is the null label for classifier-free guidance
        self.label_emb = nn.Embedding(cfg.num_classes + 1, emb_dim) if cfg.conditional else None
        self.stem = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)

        def attn_or_id(c, res):
            return Attention(c, cfg.num_heads, cfg.groups) if res in cfg.attention_resolutions else nn.Identity()

        chans = [ch]
        res = cfg.image_size
        c = ch
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, mult in enumerate(cfg.channel_mult):
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(c, ch * mult, emb_dim, cfg.dropout, cfg.groups))
                c = ch * mult
                attns.append(attn_or_id(c, res))
                chans.append(c)
            self.down.append(Level(blocks, attns))
            if i < len(cfg.channel_mult) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                chans.append(c)
                res //= 2
        self.mid1 = ResBlock(c, c, emb_dim, cfg.dropout, cfg.groups)
        self.mid_attn = Attention(c, cfg.num_heads, cfg.groups)
        self.mid2 = ResBlock(c, c, emb_dim, cfg.dropout, cfg.groups)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.channel_mult))):
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(c + chans.pop(), ch * mult, emb_dim, cfg.dropout, cfg.groups))
                c = ch * mult
                attns.append(attn_or_id(c, res))
            self.up.append(Level(blocks, attns))
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
                res *= 2
        self.out_norm = nn.GroupNorm(cfg.groups, c)
        self.out_conv = nn.Conv2d(c, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def embed(self, t: Tensor, y: Optional[Tensor]) -> Tensor:  # (B, 4·base)
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
        if self.label_emb is not None:
            if y is None:  # no label given: the unconditional (null) embedding
                y = torch.full_like(t, self.config.num_classes)
            emb = emb + self.label_emb(y)
        return emb

    def forward(self, x: Tensor, t: Tensor, y: Optional[Tensor] = None) -> Tensor:
        emb = self.embed(t, y)
        h = self.stem(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(h, emb))
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out_conv(F.silu(self.out_norm(h)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""A noise-aware classifier p(y | x_t, t) for classifier guidance (Dhariwal & Nichol 2021, §4):
the U-Net's encoder half (residual blocks with the time embedding), global average pooling, a linear head.

x_t: (B, C, H, W); t: (B,) long in [0, T) -> logits (B, num_classes).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from .checkpoint import CheckpointError, atomic_write, read_metadata
from .diffusion import DiffusionConfig
from .messages import MessageError
from .unet import ResBlock, timestep_embedding

FORMAT = "ddpm-workbench-classifier"


@dataclass(frozen=True)
class ClassifierConfig:
    image_size: int = 16              # H = W
    in_channels: int = 1
    num_classes: int = 10
    base_channels: int = 32
    channel_mult: tuple = (1, 2, 2)   # one downsample between levels
    groups: int = 8

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        if self.num_classes < 2:
            raise MessageError("classifier.too_few_classes", k=self.num_classes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        return d


class NoisyClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig, diffusion_config: Optional[DiffusionConfig] = None):
        super().__init__()
        self.config = cfg = config
        self.diffusion_config = diffusion_config   # the noise it was trained on; checked before guidance
        ch = cfg.base_channels
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.stem = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        blocks, downs, c = [], [], ch
        for i, mult in enumerate(cfg.channel_mult):
            blocks.append(ResBlock(c, ch * mult, emb_dim, 0.0, cfg.groups))
            c = ch * mult
            downs.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(cfg.channel_mult) - 1 else nn.Identity())
        self.blocks, self.downs = nn.ModuleList(blocks), nn.ModuleList(downs)
        self.norm = nn.GroupNorm(cfg.groups, c)
        self.head = nn.Linear(c, cfg.num_classes)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:  # (B, K) logits
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
        h = self.stem(x)
        for block, down in zip(self.blocks, self.downs):
            h = down(block(h, emb))
        h = F.silu(self.norm(h)).mean(dim=(2, 3))   # (B, C)
        return self.head(h)


def save_classifier(path, model: NoisyClassifier, class_names: list[str], extra: Optional[dict] = None) -> None:
    meta = {"format": FORMAT, "version": 1, "classifier": model.config.to_dict(),
            "diffusion": model.diffusion_config.to_dict() if model.diffusion_config else None,
            "class_names": list(class_names), **(extra or {})}
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": json.dumps(meta)}))


def load_classifier(path, device="cpu") -> NoisyClassifier:
    """Load a classifier written by `python -m ddpm.train_classifier`; never unpickles."""
    path = Path(path)
    meta = read_metadata(path, expected_format=FORMAT)
    try:
        model = NoisyClassifier(ClassifierConfig(**meta["classifier"]),
                                DiffusionConfig.from_dict(meta["diffusion"]) if meta.get("diffusion") else None)
        with safe_open(str(path), framework="pt") as f:
            model.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError("classifier.does_not_rebuild", name=path.name,
                              error=(str(e).splitlines() or [""])[0]) from None
    model.class_names = meta.get("class_names", [])
    model.meta = meta
    return model.to(device).eval()
